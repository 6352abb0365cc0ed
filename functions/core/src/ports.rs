//! What the functions need from AWS, said in the domain's words. `cordon-aws` implements these
//! with the AWS SDK; tests implement them in memory. Handlers are generic over these traits.
//!
//! Reads that find nothing return `Ok(None)` / empty, never an error: absence is a fact.
//! Writes are idempotent where AWS allows; the adapter reports whether anything changed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{
    AccessKey, InstanceFacts, InstanceUse, KeyStatus, LoginProfile, PolicyRef, RoleFacts, Tags,
    UserFacts,
};

/// How an AWS call failed, in the terms the state machine retries and branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortErrorKind {
    /// Throttling, 5xx, timeouts, connection failures: worth retrying.
    Transient,
    /// The target does not exist.
    NotFound,
    /// The caller is not allowed (a missing permission is a deployment bug, not transient).
    AccessDenied,
    /// The request was refused as invalid or conflicting.
    Invalid,
    /// Anything else.
    Other,
}

/// A failed AWS call: which operation, what kind of failure, and AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct PortError {
    pub kind: PortErrorKind,
    /// The API action, e.g. `iam:AttachUserPolicy`.
    pub operation: String,
    pub message: String,
}

impl PortError {
    pub fn new(
        kind: PortErrorKind,
        operation: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            message: message.into(),
        }
    }
    pub fn is_transient(&self) -> bool {
        self.kind == PortErrorKind::Transient
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// Whether a write changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    Already,
}

/// IAM reads used by enrichment (and by quarantine to re-check before acting).
#[async_trait]
pub trait IamRead: Send + Sync {
    /// The user's core facts (no tags/policies/keys: those are separate lookups so they can
    /// run concurrently). `None` if the user does not exist.
    async fn user(&self, name: &str) -> PortResult<Option<UserFacts>>;
    async fn user_tags(&self, name: &str) -> PortResult<Tags>;
    async fn user_attached_policies(&self, name: &str) -> PortResult<Vec<PolicyRef>>;
    async fn user_inline_policies(&self, name: &str) -> PortResult<Vec<String>>;
    async fn user_groups(&self, name: &str) -> PortResult<Vec<String>>;
    /// Access keys with their last use.
    async fn access_keys(&self, name: &str) -> PortResult<Vec<AccessKey>>;
    async fn login_profile(&self, name: &str) -> PortResult<Option<LoginProfile>>;
    async fn mfa_devices(&self, name: &str) -> PortResult<Vec<String>>;

    /// `None` if the role does not exist.
    async fn role(&self, name: &str) -> PortResult<Option<RoleFacts>>;
    async fn role_tags(&self, name: &str) -> PortResult<Tags>;
    async fn role_attached_policies(&self, name: &str) -> PortResult<Vec<PolicyRef>>;
    async fn role_inline_policies(&self, name: &str) -> PortResult<Vec<String>>;
    /// An inline policy document of a role (JSON), `None` if absent.
    async fn role_inline_policy(&self, role: &str, policy_name: &str) -> PortResult<Option<Value>>;
    /// The ARNs of the instance profiles that carry the role.
    async fn instance_profiles_for_role(&self, role: &str) -> PortResult<Vec<String>>;
}

/// IAM changes made by quarantine (and undone by release).
#[async_trait]
pub trait IamWrite: Send + Sync {
    async fn attach_user_policy(&self, user: &str, policy_arn: &str) -> PortResult<Change>;
    async fn detach_user_policy(&self, user: &str, policy_arn: &str) -> PortResult<Change>;
    async fn tag_user(&self, user: &str, tags: &Tags) -> PortResult<Change>;
    async fn untag_user(&self, user: &str, keys: &[String]) -> PortResult<Change>;
    async fn tag_role(&self, role: &str, tags: &Tags) -> PortResult<Change>;
    async fn untag_role(&self, role: &str, keys: &[String]) -> PortResult<Change>;
    async fn set_access_key_status(
        &self,
        user: &str,
        key_id: &str,
        status: KeyStatus,
    ) -> PortResult<Change>;
    async fn delete_login_profile(&self, user: &str) -> PortResult<Change>;
    async fn put_user_policy(&self, user: &str, name: &str, document: &Value)
    -> PortResult<Change>;
    async fn delete_user_policy(&self, user: &str, name: &str) -> PortResult<Change>;
    async fn put_role_policy(&self, role: &str, name: &str, document: &Value)
    -> PortResult<Change>;
    async fn delete_role_policy(&self, role: &str, name: &str) -> PortResult<Change>;
}

/// EC2 facts and changes for instance-credential incidents.
#[async_trait]
pub trait Compute: Send + Sync {
    /// `None` if the instance does not exist. Includes its IMDS options and its subnet's
    /// network ACL with the ACL's entries.
    async fn instance(&self, instance_id: &str) -> PortResult<Option<InstanceFacts>>;
    /// The pending and running instances whose instance profile is one of `profile_arns`
    /// (every one of them: the caller bounds what it keeps).
    async fn instances_using_profiles(
        &self,
        profile_arns: &[String],
    ) -> PortResult<Vec<InstanceUse>>;
    /// Set the instance's IMDS `HttpTokens` and hop limit (the endpoint is left as it is).
    async fn set_metadata_options(
        &self,
        instance_id: &str,
        http_tokens: &str,
        hop_limit: i32,
    ) -> PortResult<Change>;
    /// Replace the instance's profile association `from` with `to`: `Already` when `to` is
    /// associated; an `Invalid` error, changing nothing, when the instance has another profile
    /// than `from` (someone changed it since: never overwrite what is not ours).
    async fn replace_instance_profile(
        &self,
        instance_id: &str,
        from_profile_arn: &str,
        to_profile_arn: &str,
    ) -> PortResult<Change>;
    /// Add an inbound+outbound deny entry for `cidr` at `rule_number`.
    async fn nacl_deny(
        &self,
        network_acl_id: &str,
        cidr: &str,
        rule_number: i32,
    ) -> PortResult<Change>;
    async fn nacl_remove(&self, network_acl_id: &str, rule_number: i32) -> PortResult<Change>;
}

/// A message to a topic (SNS).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub topic_arn: String,
    /// At most 100 characters (SNS email subject limit).
    pub subject: String,
    /// The text a human reads.
    pub text: String,
    /// The machine-readable form, for JSON subscribers (SNS `MessageStructure: json` key `sqs`/`lambda`/`https`).
    pub json: Value,
    /// For subscription filter policies (`severity`, `verdict`, ...).
    pub attributes: Tags,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publish and return the message id.
    async fn publish(&self, message: &OutgoingMessage) -> PortResult<String>;
}

/// A cordon finding for Security Hub's ASFF, or a note on an existing (GuardDuty) finding.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityHubUpdate {
    /// Annotate the GuardDuty finding already in Security Hub (`BatchUpdateFindings`).
    AnnotateFinding {
        finding_id: String,
        product_arn: String,
        note: String,
        workflow_status: String,
        user_defined_fields: Tags,
    },
    /// Import a new ASFF finding (`BatchImportFindings`), e.g. for a suspicious CreateUser.
    ImportFinding { finding: Value },
}

#[async_trait]
pub trait SecurityHub: Send + Sync {
    async fn submit(&self, update: &SecurityHubUpdate) -> PortResult<()>;
}

/// Tell Security Hub, never fatally: the outcome (`updated`, `imported`, `skipped`, `failed`
/// with the one-line error) is what the case file records. Shared by request-approval (the
/// finding shows that a human is asked) and notify (the end of the response).
pub async fn report_to_security_hub<H: SecurityHub>(
    hub: &H,
    update: Option<SecurityHubUpdate>,
) -> crate::model::SecurityHubOutcome {
    use crate::model::SecurityHubOutcome;
    let Some(update) = update else {
        return SecurityHubOutcome {
            status: "skipped".into(),
            detail: "nothing to report to Security Hub for this incident".into(),
        };
    };
    let (done, what) = match &update {
        SecurityHubUpdate::AnnotateFinding { finding_id, .. } => {
            ("updated", format!("GuardDuty finding {finding_id}"))
        }
        SecurityHubUpdate::ImportFinding { finding } => (
            "imported",
            format!(
                "cordon finding {}",
                finding.get("Id").and_then(|v| v.as_str()).unwrap_or("?")
            ),
        ),
    };
    match hub.submit(&update).await {
        Ok(()) => SecurityHubOutcome {
            status: done.into(),
            detail: what,
        },
        Err(e) => SecurityHubOutcome {
            status: "failed".into(),
            detail: format!("{what}: {e}"),
        },
    }
}

/// A Step Functions execution waiting for a human decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub execution_arn: String,
    pub task_token: String,
    /// The state document the approval task received.
    pub input: Value,
    pub requested_at: DateTime<Utc>,
}

/// Step Functions, as the approve function needs it.
#[async_trait]
pub trait Executions: Send + Sync {
    /// The task token of the approval task the execution is waiting on, read from its history;
    /// `None` if the execution is not (or no longer) waiting for approval.
    async fn pending_approval(&self, execution_arn: &str) -> PortResult<Option<PendingApproval>>;
    async fn send_task_success(&self, task_token: &str, output: &Value) -> PortResult<()>;
}

/// AWS Organizations, as coverage needs it.
#[async_trait]
pub trait Organization: Send + Sync {
    /// The account's parents from the nearest OU up to the root (`ou-…`, …, `r-…`); `None`
    /// if the account is not a member of the organization.
    async fn ancestry(&self, account: &str) -> PortResult<Option<Vec<String>>>;
}

/// Why no clients could be had for an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The member account's responder role could not be assumed (missing, not trusting
    /// cordon, or STS refused). Never a reason to fall back to another account.
    #[error(
        "cannot act in account {account}: assuming {role_arn} failed: {message}. \
         Deploy infra/member.yaml in account {account} (as a StackSet instance) so that the role exists and trusts cordon's central functions"
    )]
    MemberRoleUnavailable {
        account: String,
        role_arn: String,
        message: String,
    },
    /// The deployment does not cover the account: no client is ever made for it.
    #[error("refusing to act in account {account}: {why}")]
    OutOfScope { account: String, why: String },
    /// STS was throttled or unavailable: worth retrying.
    #[error("transient failure reaching account {account}: {source}")]
    Transient { account: String, source: PortError },
}

/// IAM and EC2 clients that act in one account (and, for EC2, one region).
pub struct AccountClients<I, C> {
    pub account: String,
    pub region: String,
    pub iam: I,
    pub compute: C,
}

/// The only way the functions get IAM and EC2 clients: *for an account*. An implementation
/// gives the functions' own credentials for the account the stack runs in, the account's
/// responder role for a covered member account, and refuses anything else.
#[async_trait]
pub trait Accounts: Send + Sync {
    type Iam: IamRead + IamWrite;
    type Compute: Compute;
    /// Clients acting in `account` and `region`, for `incident_id` (a member account's
    /// CloudTrail names the incident in the role session).
    async fn open(
        &self,
        account: &str,
        region: &str,
        incident_id: &str,
    ) -> Result<AccountClients<Self::Iam, Self::Compute>, AccountError>;
}
