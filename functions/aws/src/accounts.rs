//! [`Accounts`] and [`Organization`]: IAM and EC2 clients *for an account*, and the
//! organization's OU tree.
//!
//! For the account the stack runs in, the functions' own credentials. For a covered member
//! account (organization mode), the account's `cordon-responder` role, assumed through the
//! regional STS endpoint (the SDK for Rust uses regional endpoints; the global one fails for
//! opt-in regions) with the incident id in the session name, so the member's CloudTrail shows
//! which incident acted. A single-account deployment refuses every other account. A role that
//! cannot be assumed is [`AccountError::MemberRoleUnavailable`]: never a fall-back to the
//! central account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cordon_core::ports::{AccountClients, AccountError, Accounts, Organization, PortResult};
use cordon_core::{Deployment, PortError, PortErrorKind};

use crate::error::port_error;
use crate::{AwsCompute, AwsIam};

/// Credentials this close to expiry are not reused.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long an assumed session lasts (STS's minimum is 15 minutes; a quarantine takes seconds).
const SESSION_SECONDS: i32 = 900;
/// STS `RoleSessionName`: at most 64 characters of `[\w+=,.@-]`.
const SESSION_NAME_MAX: usize = 64;

/// The account-aware client factory the enrich and quarantine functions (and `cordon
/// release`) use.
pub struct AwsAccounts {
    deployment: Deployment,
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    /// Assumed credentials by (account, session name), reused while valid: one incident's
    /// lookups and retries assume the role once.
    cache: Mutex<HashMap<(String, String), Credentials>>,
}

impl AwsAccounts {
    pub fn new(deployment: Deployment, base: &SdkConfig) -> Self {
        Self {
            deployment,
            sts: aws_sdk_sts::Client::new(base),
            base: base.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    fn clients(
        &self,
        account: &str,
        region: &str,
        credentials: Option<Credentials>,
    ) -> AccountClients<AwsIam, AwsCompute> {
        let mut config = self
            .base
            .to_builder()
            .region(aws_config::Region::new(region.to_string()));
        if let Some(c) = credentials {
            config = config.credentials_provider(SharedCredentialsProvider::new(c));
        }
        let config = config.build();
        AccountClients {
            account: account.to_string(),
            region: region.to_string(),
            iam: AwsIam::from_conf(&config),
            compute: AwsCompute::from_conf(&config),
        }
    }

    async fn assume(
        &self,
        account: &str,
        role_arn: &str,
        session: &str,
    ) -> Result<Credentials, AccountError> {
        let key = (account.to_string(), session.to_string());
        if let Some(c) = self.cache.lock().unwrap().get(&key)
            && c.expiry()
                .is_some_and(|t| t > SystemTime::now() + REFRESH_MARGIN)
        {
            return Ok(c.clone());
        }
        let out = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| {
                let e = port_error("sts:AssumeRole", e);
                if e.is_transient() {
                    AccountError::Transient {
                        account: account.to_string(),
                        source: e,
                    }
                } else {
                    AccountError::MemberRoleUnavailable {
                        account: account.to_string(),
                        role_arn: role_arn.to_string(),
                        message: e.message,
                    }
                }
            })?;
        let unavailable = |message: &str| AccountError::MemberRoleUnavailable {
            account: account.to_string(),
            role_arn: role_arn.to_string(),
            message: message.to_string(),
        };
        let c = out
            .credentials()
            .ok_or_else(|| unavailable("STS returned no credentials"))?;
        let expiry = SystemTime::try_from(*c.expiration())
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(SESSION_SECONDS as u64));
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expiry),
            "cordon-member-role",
        );
        tracing::info!(
            account,
            role_arn,
            session,
            "assumed the member account's responder role"
        );
        self.cache.lock().unwrap().insert(key, credentials.clone());
        Ok(credentials)
    }
}

#[async_trait]
impl Accounts for AwsAccounts {
    type Iam = AwsIam;
    type Compute = AwsCompute;

    async fn open(
        &self,
        account: &str,
        region: &str,
        incident_id: &str,
    ) -> Result<AccountClients<AwsIam, AwsCompute>, AccountError> {
        match &self.deployment {
            Deployment::SingleAccount { home } | Deployment::Organization { home, .. }
                if account == home =>
            {
                Ok(self.clients(account, region, None))
            }
            Deployment::SingleAccount { home } => Err(AccountError::OutOfScope {
                account: account.to_string(),
                why: format!("this single-account deployment acts only in {home}"),
            }),
            Deployment::Organization { member_role, .. } => {
                let role_arn = member_role_arn(region, account, member_role);
                let session = session_name(incident_id);
                let credentials = self.assume(account, &role_arn, &session).await?;
                Ok(self.clients(account, region, Some(credentials)))
            }
        }
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`, in the partition of `region`.
pub fn member_role_arn(region: &str, account: &str, role_name: &str) -> String {
    format!("arn:{}:iam::{account}:role/{role_name}", partition(region))
}

/// The ARN of a managed policy `name` in `account`.
pub fn policy_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:{}:iam::{account}:policy/{name}", partition(region))
}

/// The ARN of the instance profile `name` in `account`. `name` is a plain name: a profile
/// with a path (`/p/name`) is not supported (its ARN would need the path).
pub fn instance_profile_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:iam::{account}:instance-profile/{name}",
        partition(region)
    )
}

/// The AWS partition a region belongs to.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `cordon-<incident id>`, reduced to what STS accepts in a role session name.
pub fn session_name(incident_id: &str) -> String {
    let cleaned: String = incident_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("cordon-{cleaned}");
    name.truncate(SESSION_NAME_MAX);
    name
}

/// [`Organization`] with `aws-sdk-organizations` (from the central account: it needs the
/// management account or an Organizations delegated administrator).
///
/// An account's ancestry is remembered for [`ANCESTRY_TTL`] by a warm function: accounts
/// rarely move between OUs, and walking the tree costs one call per level on every incident.
/// A failed lookup is never remembered.
#[derive(Debug)]
pub struct AwsOrganization {
    organizations: aws_sdk_organizations::Client,
    remembered: Mutex<HashMap<String, Remembered>>,
}

/// When an account's ancestry was looked up, and what it was (`None`: the account is not in
/// the organization).
type Remembered = (std::time::Instant, Option<Vec<String>>);

/// How long a looked-up ancestry is reused: an account moved into an excluded OU is
/// treated as excluded at most this long after the move.
pub const ANCESTRY_TTL: Duration = Duration::from_secs(300);

/// Deeper than Organizations allows (five levels of OUs below the root): a loop guard.
const MAX_DEPTH: usize = 8;

impl AwsOrganization {
    pub fn from_conf(config: &SdkConfig) -> Self {
        Self {
            organizations: aws_sdk_organizations::Client::new(config),
            remembered: Mutex::new(HashMap::new()),
        }
    }

    async fn walk(&self, account: &str) -> PortResult<Option<Vec<String>>> {
        let mut chain = Vec::new();
        let mut child = account.to_string();
        for _ in 0..MAX_DEPTH {
            let op = self.organizations.list_parents();
            let out = match op.child_id(&child).send().await {
                Ok(out) => out,
                Err(e)
                    if chain.is_empty()
                        && e.as_service_error().and_then(|s| s.code())
                            == Some("ChildNotFoundException") =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(port_error("organizations:ListParents", e)),
            };
            let Some(parent) = out.parents().first() else {
                return Err(PortError::new(
                    PortErrorKind::Other,
                    "organizations:ListParents",
                    format!("{child} has no parent"),
                ));
            };
            let id = parent.id().unwrap_or_default().to_string();
            let is_root = matches!(
                parent.r#type(),
                Some(aws_sdk_organizations::types::ParentType::Root)
            ) || id.starts_with("r-");
            chain.push(id.clone());
            if is_root {
                return Ok(Some(chain));
            }
            child = id;
        }
        Err(PortError::new(
            PortErrorKind::Other,
            "organizations:ListParents",
            format!("no root within {MAX_DEPTH} levels above {account}"),
        ))
    }
}

#[async_trait]
impl Organization for AwsOrganization {
    async fn ancestry(&self, account: &str) -> PortResult<Option<Vec<String>>> {
        if let Some((at, ancestry)) = self.remembered.lock().unwrap().get(account)
            && at.elapsed() < ANCESTRY_TTL
        {
            return Ok(ancestry.clone());
        }
        let ancestry = self.walk(account).await?;
        self.remembered.lock().unwrap().insert(
            account.to_string(),
            (std::time::Instant::now(), ancestry.clone()),
        );
        Ok(ancestry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_carry_the_incident_and_stay_within_sts_limits() {
        assert_eq!(
            session_name("3b9f4a4e-0c1d-4a7e-9a61-5a0f2b7c8d11"),
            "cordon-3b9f4a4e-0c1d-4a7e-9a61-5a0f2b7c8d11"
        );
        let long = session_name(&"x".repeat(200));
        assert_eq!(long.len(), 64);
        assert_eq!(session_name("a b/c:d"), "cordon-a-b-c-d");
    }

    #[test]
    fn arns_are_in_the_region_partition() {
        assert_eq!(
            member_role_arn("eu-west-1", "999988887777", "cordon-responder"),
            "arn:aws:iam::999988887777:role/cordon-responder"
        );
        assert_eq!(
            policy_arn("cn-north-1", "999988887777", "cordon-quarantine-deny-all"),
            "arn:aws-cn:iam::999988887777:policy/cordon-quarantine-deny-all"
        );
        assert_eq!(
            instance_profile_arn(
                "us-gov-west-1",
                "999988887777",
                "cordon-quarantine-instance"
            ),
            "arn:aws-us-gov:iam::999988887777:instance-profile/cordon-quarantine-instance"
        );
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
