//! [`IamRead`] and [`IamWrite`] with `aws-sdk-iam`.
//!
//! Writes check the current state first so that they can say whether they changed anything
//! (`Change::Already`): IAM itself accepts most repeated writes silently, which would make a
//! re-run of quarantine indistinguishable from a first run in the case file.

use async_trait::async_trait;
use cordon_core::ports::{Change, IamRead, IamWrite, PortResult};
use cordon_core::{
    AccessKey, KeyStatus, LoginProfile, PolicyRef, PortError, PortErrorKind, RoleFacts, Tags,
    UserFacts,
};
use futures::future::try_join_all;
use serde_json::Value;

use crate::error::{port_error, to_chrono};

/// IAM adapter. Cheap to clone (the SDK client is reference-counted).
#[derive(Debug, Clone)]
pub struct AwsIam {
    iam: aws_sdk_iam::Client,
}

impl AwsIam {
    pub fn new(iam: aws_sdk_iam::Client) -> Self {
        Self { iam }
    }

    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_iam::Client::new(config))
    }
}

/// `Ok(None)` for "not found", the error otherwise.
fn absent_as_none<T>(result: Result<T, PortError>) -> PortResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == PortErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(default)` for "not found".
fn absent_as_empty<T: Default>(result: Result<T, PortError>) -> PortResult<T> {
    absent_as_none(result).map(Option::unwrap_or_default)
}

/// IAM returns policy documents URL-encoded (RFC 3986); a document that is JSON already
/// (some emulators) is read as it is.
pub fn decode_policy_document(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&cordon_core::text::percent_decode(text)).ok())
}

fn key_status(status: Option<&aws_sdk_iam::types::StatusType>) -> KeyStatus {
    match status {
        Some(aws_sdk_iam::types::StatusType::Active) => KeyStatus::Active,
        _ => KeyStatus::Inactive,
    }
}

fn iam_tags(tags: &Tags, operation: &str) -> PortResult<Vec<aws_sdk_iam::types::Tag>> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| PortError::new(PortErrorKind::Invalid, operation, e.to_string()))
        })
        .collect()
}

fn tags_from(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Every wanted tag is already there with the wanted value.
fn has_tags(current: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| current.get(k) == Some(v))
}

impl AwsIam {
    async fn attached_user_policy_arns(&self, user: &str) -> PortResult<Vec<PolicyRef>> {
        let op = self.iam.list_attached_user_policies();
        let items = op
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| port_error("iam:ListAttachedUserPolicies", e))?;
        Ok(items
            .iter()
            .map(|p| PolicyRef {
                name: p.policy_name().unwrap_or_default().to_string(),
                arn: p.policy_arn().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn key_metadata(
        &self,
        user: &str,
    ) -> PortResult<Vec<aws_sdk_iam::types::AccessKeyMetadata>> {
        let op = self.iam.list_access_keys();
        op.user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| port_error("iam:ListAccessKeys", e))
    }

    async fn key_last_used(
        &self,
        meta: &aws_sdk_iam::types::AccessKeyMetadata,
    ) -> PortResult<AccessKey> {
        let id = meta.access_key_id().unwrap_or_default().to_string();
        let op = self.iam.get_access_key_last_used();
        let out = op.access_key_id(&id).send().await;
        let last = match out {
            Ok(out) => out.access_key_last_used().cloned(),
            // A key deleted between the list and this call: report it without last use.
            Err(e) => match port_error("iam:GetAccessKeyLastUsed", e) {
                e if e.kind == PortErrorKind::NotFound => None,
                e => return Err(e),
            },
        };
        // IAM says "N/A" for service/region of a key never used.
        let known = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_string());
        Ok(AccessKey {
            id,
            status: key_status(meta.status()),
            created_at: meta.create_date().and_then(to_chrono),
            last_used_at: last
                .as_ref()
                .and_then(|l| l.last_used_date())
                .and_then(to_chrono),
            last_used_service: last.as_ref().and_then(|l| known(l.service_name())),
            last_used_region: last.as_ref().and_then(|l| known(l.region())),
        })
    }

    async fn user_tags_raw(&self, name: &str) -> PortResult<Tags> {
        let op = self.iam.list_user_tags();
        let items = op
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| port_error("iam:ListUserTags", e))?;
        Ok(tags_from(&items))
    }

    async fn role_tags_raw(&self, name: &str) -> PortResult<Tags> {
        let op = self.iam.list_role_tags();
        let items = op
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| port_error("iam:ListRoleTags", e))?;
        Ok(tags_from(&items))
    }

    async fn user_policy_document(&self, user: &str, name: &str) -> PortResult<Option<Value>> {
        let op = self.iam.get_user_policy();
        let out = op.user_name(user).policy_name(name).send().await;
        let out = absent_as_none(out.map_err(|e| port_error("iam:GetUserPolicy", e)))?;
        Ok(out.and_then(|o| decode_policy_document(o.policy_document())))
    }
}

#[async_trait]
impl IamRead for AwsIam {
    async fn user(&self, name: &str) -> PortResult<Option<UserFacts>> {
        let op = self.iam.get_user();
        let out = absent_as_none(
            op.user_name(name)
                .send()
                .await
                .map_err(|e| port_error("iam:GetUser", e)),
        )?;
        Ok(out.and_then(|o| o.user().cloned()).map(|u| UserFacts {
            name: u.user_name().to_string(),
            arn: u.arn().to_string(),
            user_id: u.user_id().to_string(),
            path: u.path().to_string(),
            created_at: to_chrono(u.create_date()),
            ..UserFacts::default()
        }))
    }

    async fn user_tags(&self, name: &str) -> PortResult<Tags> {
        absent_as_empty(self.user_tags_raw(name).await)
    }

    async fn user_attached_policies(&self, name: &str) -> PortResult<Vec<PolicyRef>> {
        absent_as_empty(self.attached_user_policy_arns(name).await)
    }

    async fn user_inline_policies(&self, name: &str) -> PortResult<Vec<String>> {
        let op = self.iam.list_user_policies();
        let items = op
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        absent_as_empty(items.map_err(|e| port_error("iam:ListUserPolicies", e)))
    }

    async fn user_groups(&self, name: &str) -> PortResult<Vec<String>> {
        let op = self.iam.list_groups_for_user();
        let items = op
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let groups = absent_as_empty(items.map_err(|e| port_error("iam:ListGroupsForUser", e)))?;
        Ok(groups.iter().map(|g| g.group_name().to_string()).collect())
    }

    async fn access_keys(&self, name: &str) -> PortResult<Vec<AccessKey>> {
        let metas = absent_as_empty(self.key_metadata(name).await)?;
        // One GetAccessKeyLastUsed per key, concurrently (a user has at most two keys).
        try_join_all(metas.iter().map(|m| self.key_last_used(m))).await
    }

    async fn login_profile(&self, name: &str) -> PortResult<Option<LoginProfile>> {
        let op = self.iam.get_login_profile();
        let out = op
            .user_name(name)
            .send()
            .await
            .map_err(|e| port_error("iam:GetLoginProfile", e));
        Ok(absent_as_none(out)?
            .and_then(|o| o.login_profile().cloned())
            .map(|p| LoginProfile {
                created_at: to_chrono(p.create_date()),
                password_reset_required: p.password_reset_required(),
            }))
    }

    async fn mfa_devices(&self, name: &str) -> PortResult<Vec<String>> {
        let op = self.iam.list_mfa_devices();
        let items = op
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let devices = absent_as_empty(items.map_err(|e| port_error("iam:ListMFADevices", e)))?;
        Ok(devices
            .iter()
            .map(|d| d.serial_number().to_string())
            .collect())
    }

    async fn role(&self, name: &str) -> PortResult<Option<RoleFacts>> {
        let op = self.iam.get_role();
        let out = absent_as_none(
            op.role_name(name)
                .send()
                .await
                .map_err(|e| port_error("iam:GetRole", e)),
        )?;
        Ok(out.and_then(|o| o.role().cloned()).map(|r| RoleFacts {
            name: r.role_name().to_string(),
            arn: r.arn().to_string(),
            role_id: r.role_id().to_string(),
            path: r.path().to_string(),
            created_at: to_chrono(r.create_date()),
            ..RoleFacts::default()
        }))
    }

    async fn role_tags(&self, name: &str) -> PortResult<Tags> {
        absent_as_empty(self.role_tags_raw(name).await)
    }

    async fn role_attached_policies(&self, name: &str) -> PortResult<Vec<PolicyRef>> {
        let op = self.iam.list_attached_role_policies();
        let items = op
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let items =
            absent_as_empty(items.map_err(|e| port_error("iam:ListAttachedRolePolicies", e)))?;
        Ok(items
            .iter()
            .map(|p| PolicyRef {
                name: p.policy_name().unwrap_or_default().to_string(),
                arn: p.policy_arn().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn role_inline_policies(&self, name: &str) -> PortResult<Vec<String>> {
        let op = self.iam.list_role_policies();
        let items = op
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        absent_as_empty(items.map_err(|e| port_error("iam:ListRolePolicies", e)))
    }

    async fn role_inline_policy(&self, role: &str, policy_name: &str) -> PortResult<Option<Value>> {
        let op = self.iam.get_role_policy();
        let out = op.role_name(role).policy_name(policy_name).send().await;
        let out = absent_as_none(out.map_err(|e| port_error("iam:GetRolePolicy", e)))?;
        Ok(out.and_then(|o| decode_policy_document(o.policy_document())))
    }

    async fn instance_profiles_for_role(&self, role: &str) -> PortResult<Vec<String>> {
        let op = self.iam.list_instance_profiles_for_role();
        let items = op
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let profiles =
            absent_as_empty(items.map_err(|e| port_error("iam:ListInstanceProfilesForRole", e)))?;
        Ok(profiles.iter().map(|p| p.arn().to_string()).collect())
    }
}

#[async_trait]
impl IamWrite for AwsIam {
    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> PortResult<Change> {
        let attached = self.attached_user_policy_arns(user).await?;
        if attached.iter().any(|p| p.arn == policy_arn) {
            return Ok(Change::Already);
        }
        let op = self.iam.attach_user_policy();
        op.user_name(user)
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(|e| port_error("iam:AttachUserPolicy", e))?;
        tracing::info!(user, policy_arn, "attached user policy");
        Ok(Change::Done)
    }

    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> PortResult<Change> {
        let attached = self.attached_user_policy_arns(user).await?;
        if !attached.iter().any(|p| p.arn == policy_arn) {
            return Ok(Change::Already);
        }
        let op = self.iam.detach_user_policy();
        let out = op.user_name(user).policy_arn(policy_arn).send().await;
        match out.map_err(|e| port_error("iam:DetachUserPolicy", e)) {
            Ok(_) => {
                tracing::info!(user, policy_arn, "detached user policy");
                Ok(Change::Done)
            }
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Change::Already),
            Err(e) => Err(e),
        }
    }

    async fn tag_user(&self, user: &str, tags: &Tags) -> PortResult<Change> {
        let current = self.user_tags_raw(user).await?;
        if has_tags(&current, tags) {
            return Ok(Change::Already);
        }
        let op = self.iam.tag_user();
        op.user_name(user)
            .set_tags(Some(iam_tags(tags, "iam:TagUser")?))
            .send()
            .await
            .map_err(|e| port_error("iam:TagUser", e))?;
        tracing::info!(user, tags = ?tags.keys().collect::<Vec<_>>(), "tagged user");
        Ok(Change::Done)
    }

    async fn untag_user(&self, user: &str, keys: &[String]) -> PortResult<Change> {
        let current = self.user_tags_raw(user).await?;
        if !keys.iter().any(|k| current.contains_key(k)) {
            return Ok(Change::Already);
        }
        let op = self.iam.untag_user();
        op.user_name(user)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("iam:UntagUser", e))?;
        tracing::info!(user, ?keys, "untagged user");
        Ok(Change::Done)
    }

    async fn tag_role(&self, role: &str, tags: &Tags) -> PortResult<Change> {
        let current = self.role_tags_raw(role).await?;
        if has_tags(&current, tags) {
            return Ok(Change::Already);
        }
        let op = self.iam.tag_role();
        op.role_name(role)
            .set_tags(Some(iam_tags(tags, "iam:TagRole")?))
            .send()
            .await
            .map_err(|e| port_error("iam:TagRole", e))?;
        tracing::info!(role, tags = ?tags.keys().collect::<Vec<_>>(), "tagged role");
        Ok(Change::Done)
    }

    async fn untag_role(&self, role: &str, keys: &[String]) -> PortResult<Change> {
        let current = self.role_tags_raw(role).await?;
        if !keys.iter().any(|k| current.contains_key(k)) {
            return Ok(Change::Already);
        }
        let op = self.iam.untag_role();
        op.role_name(role)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("iam:UntagRole", e))?;
        tracing::info!(role, ?keys, "untagged role");
        Ok(Change::Done)
    }

    async fn set_access_key_status(
        &self,
        user: &str,
        key_id: &str,
        status: KeyStatus,
    ) -> PortResult<Change> {
        let keys = self.key_metadata(user).await?;
        let Some(key) = keys.iter().find(|k| k.access_key_id() == Some(key_id)) else {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "iam:UpdateAccessKey",
                format!("access key {key_id} of user {user} does not exist"),
            ));
        };
        if key_status(key.status()) == status {
            return Ok(Change::Already);
        }
        let wanted = match status {
            KeyStatus::Active => aws_sdk_iam::types::StatusType::Active,
            KeyStatus::Inactive => aws_sdk_iam::types::StatusType::Inactive,
        };
        let op = self.iam.update_access_key();
        op.user_name(user)
            .access_key_id(key_id)
            .status(wanted)
            .send()
            .await
            .map_err(|e| port_error("iam:UpdateAccessKey", e))?;
        tracing::info!(
            user,
            access_key_id = key_id,
            ?status,
            "updated access key status"
        );
        Ok(Change::Done)
    }

    async fn delete_login_profile(&self, user: &str) -> PortResult<Change> {
        let op = self.iam.delete_login_profile();
        match op
            .user_name(user)
            .send()
            .await
            .map_err(|e| port_error("iam:DeleteLoginProfile", e))
        {
            Ok(_) => {
                tracing::info!(user, "deleted login profile");
                Ok(Change::Done)
            }
            // No profile (never had one, or already deleted); a missing *user* is NotFound
            // too, and quarantine has already established the user exists.
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Change::Already),
            Err(e) => Err(e),
        }
    }

    async fn put_user_policy(
        &self,
        user: &str,
        name: &str,
        document: &Value,
    ) -> PortResult<Change> {
        if self.user_policy_document(user, name).await?.as_ref() == Some(document) {
            return Ok(Change::Already);
        }
        let op = self.iam.put_user_policy();
        op.user_name(user)
            .policy_name(name)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| port_error("iam:PutUserPolicy", e))?;
        tracing::info!(user, policy_name = name, "put user inline policy");
        Ok(Change::Done)
    }

    async fn delete_user_policy(&self, user: &str, name: &str) -> PortResult<Change> {
        let op = self.iam.delete_user_policy();
        match op
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| port_error("iam:DeleteUserPolicy", e))
        {
            Ok(_) => {
                tracing::info!(user, policy_name = name, "deleted user inline policy");
                Ok(Change::Done)
            }
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Change::Already),
            Err(e) => Err(e),
        }
    }

    async fn put_role_policy(
        &self,
        role: &str,
        name: &str,
        document: &Value,
    ) -> PortResult<Change> {
        if self.role_inline_policy(role, name).await?.as_ref() == Some(document) {
            return Ok(Change::Already);
        }
        let op = self.iam.put_role_policy();
        op.role_name(role)
            .policy_name(name)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| port_error("iam:PutRolePolicy", e))?;
        tracing::info!(role, policy_name = name, "put role inline policy");
        Ok(Change::Done)
    }

    async fn delete_role_policy(&self, role: &str, name: &str) -> PortResult<Change> {
        let op = self.iam.delete_role_policy();
        match op
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| port_error("iam:DeleteRolePolicy", e))
        {
            Ok(_) => {
                tracing::info!(role, policy_name = name, "deleted role inline policy");
                Ok(Change::Done)
            }
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Change::Already),
            Err(e) => Err(e),
        }
    }
}
