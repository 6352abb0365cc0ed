//! Reading what a containment may change, as it is now.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{AccountView, CallError, filter};

/// What a quarantine may change on an IAM user, for checks and before/after comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    /// Tag key → value.
    pub tags: BTreeMap<String, String>,
    /// ARNs of the attached managed policies, sorted.
    pub policies: Vec<String>,
    /// Names of the inline policies.
    pub inline_policies: Vec<String>,
    /// Access key id → `Active`/`Inactive`.
    pub keys: BTreeMap<String, String>,
    /// Whether the user has a console password.
    pub login_profile: bool,
}

/// What a containment may change on an IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    /// Tag key → value.
    pub tags: BTreeMap<String, String>,
    /// Inline policy name → its document, parsed.
    pub inline_policies: BTreeMap<String, Value>,
}

/// What cordon may change on an EC2 instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// The associated instance profile's ARN.
    pub profile: Option<String>,
    /// IMDS `HttpTokens`: `optional` (IMDSv1 allowed) or `required`.
    pub http_tokens: String,
    /// IMDS `HttpPutResponseHopLimit`.
    pub hop_limit: i32,
}

/// The network ACL of an instance's subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub id: String,
    /// Sorted by rule number, ingress first.
    pub entries: Vec<AclEntry>,
}

/// One entry of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// `allow` or `deny`.
    pub action: String,
    pub cidr: String,
}

fn tag_map<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    tags.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl AccountView {
    // ------------------------------------------------------------------ IAM users

    pub async fn user_tags(&self, user: &str) -> Result<BTreeMap<String, String>, CallError> {
        let out = self
            .iam
            .list_user_tags()
            .user_name(user)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListUserTags", user, e))?;
        Ok(tag_map(out.tags().iter().map(|t| (t.key(), t.value()))))
    }

    /// ARNs of the managed policies attached to the user, sorted.
    pub async fn user_policies(&self, user: &str) -> Result<Vec<String>, CallError> {
        let out = self
            .iam
            .list_attached_user_policies()
            .user_name(user)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListAttachedUserPolicies", user, e))?;
        let mut arns: Vec<String> = out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        arns.sort();
        Ok(arns)
    }

    pub async fn user_inline_policies(&self, user: &str) -> Result<Vec<String>, CallError> {
        let out = self
            .iam
            .list_user_policies()
            .user_name(user)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListUserPolicies", user, e))?;
        Ok(out.policy_names().to_vec())
    }

    /// Access key id → `Active`/`Inactive`.
    pub async fn key_statuses(&self, user: &str) -> Result<BTreeMap<String, String>, CallError> {
        let out = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListAccessKeys", user, e))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap_or_default().to_string(),
                    k.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Whether the user has a console password (IAM's `NoSuchEntity` means none; any other
    /// error is an error).
    pub async fn has_login_profile(&self, user: &str) -> Result<bool, CallError> {
        match self.iam.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(CallError::sdk("GetLoginProfile", user, e)),
        }
    }

    /// Everything a quarantine may change on a user.
    pub async fn user_state(&self, user: &str) -> Result<UserState, CallError> {
        Ok(UserState {
            tags: self.user_tags(user).await?,
            policies: self.user_policies(user).await?,
            inline_policies: self.user_inline_policies(user).await?,
            keys: self.key_statuses(user).await?,
            login_profile: self.has_login_profile(user).await?,
        })
    }

    // ------------------------------------------------------------------ IAM roles

    pub async fn role_tags(&self, role: &str) -> Result<BTreeMap<String, String>, CallError> {
        let out = self
            .iam
            .list_role_tags()
            .role_name(role)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListRoleTags", role, e))?;
        Ok(tag_map(out.tags().iter().map(|t| (t.key(), t.value()))))
    }

    pub async fn role_inline_policies(&self, role: &str) -> Result<Vec<String>, CallError> {
        let out = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| CallError::sdk("ListRolePolicies", role, e))?;
        Ok(out.policy_names().to_vec())
    }

    /// An inline role policy's document, parsed (IAM returns it URL-encoded).
    pub async fn role_policy_document(&self, role: &str, policy: &str) -> Result<Value, CallError> {
        let target = format!("{role} {policy}");
        let out = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| CallError::sdk("GetRolePolicy", &target, e))?;
        let doc = out.policy_document();
        serde_json::from_str(doc)
            .or_else(|_| serde_json::from_str(&cordon_core::text::percent_decode(doc)))
            .map_err(|_| {
                CallError::missing(
                    "GetRolePolicy",
                    &target,
                    &format!("the policy document is not (URL-encoded) JSON: {doc}"),
                )
            })
    }

    /// What a containment may change on a role: its tags and inline policies.
    pub async fn role_state(&self, role: &str) -> Result<RoleState, CallError> {
        let mut inline_policies = BTreeMap::new();
        for name in self.role_inline_policies(role).await? {
            let doc = self.role_policy_document(role, &name).await?;
            inline_policies.insert(name, doc);
        }
        Ok(RoleState {
            tags: self.role_tags(role).await?,
            inline_policies,
        })
    }

    // ------------------------------------------------------------------ EC2 instances

    /// The ARN of the instance profile associated with `instance` now.
    pub async fn instance_profile(&self, instance: &str) -> Result<Option<String>, CallError> {
        let out = self
            .ec2
            .describe_iam_instance_profile_associations()
            .filters(filter("instance-id", instance))
            .send()
            .await
            .map_err(|e| CallError::sdk("DescribeIamInstanceProfileAssociations", instance, e))?;
        Ok(out
            .iam_instance_profile_associations()
            .iter()
            .filter(|a| a.instance_id() == Some(instance))
            .find_map(|a| a.iam_instance_profile()?.arn().map(str::to_string)))
    }

    async fn describe_instance(
        &self,
        instance: &str,
    ) -> Result<aws_sdk_ec2::types::Instance, CallError> {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| CallError::sdk("DescribeInstances", instance, e))?;
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance))
            .cloned()
            .ok_or_else(|| CallError::missing("DescribeInstances", instance, "no such instance"))
    }

    /// What cordon may change on an instance: its profile (by association), IMDS tokens and
    /// hop limit.
    pub async fn instance_state(&self, instance: &str) -> Result<InstanceState, CallError> {
        let profile = self.instance_profile(instance).await?;
        let described = self.describe_instance(instance).await?;
        let meta = described.metadata_options();
        Ok(InstanceState {
            profile,
            http_tokens: meta
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            hop_limit: meta
                .and_then(|m| m.http_put_response_hop_limit())
                .unwrap_or_default(),
        })
    }

    /// The network ACL of the instance's subnet, its entries sorted.
    pub async fn instance_acl(&self, instance: &str) -> Result<NetworkAcl, CallError> {
        let described = self.describe_instance(instance).await?;
        let subnet = described.subnet_id().ok_or_else(|| {
            CallError::missing("DescribeInstances", instance, "the instance has no subnet")
        })?;
        let out = self
            .ec2
            .describe_network_acls()
            .filters(filter("association.subnet-id", subnet))
            .send()
            .await
            .map_err(|e| CallError::sdk("DescribeNetworkAcls", subnet, e))?;
        let acl = out
            .network_acls()
            .first()
            .ok_or_else(|| CallError::missing("DescribeNetworkAcls", subnet, "no network ACL"))?;
        let mut entries: Vec<AclEntry> = acl
            .entries()
            .iter()
            .map(|e| AclEntry {
                rule_number: e.rule_number().unwrap_or_default(),
                egress: e.egress().unwrap_or_default(),
                action: e
                    .rule_action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                cidr: e.cidr_block().unwrap_or_default().to_string(),
            })
            .collect();
        entries.sort();
        Ok(NetworkAcl {
            id: acl.network_acl_id().unwrap_or_default().to_string(),
            entries,
        })
    }
}
