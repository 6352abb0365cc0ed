//! The state document: what each step adds to the case file, as JSON (camelCase).
//!
//! ```text
//! { "event": <EventBridge event, untouched>, "incident": Incident, "enrichment": Enrichment,
//!   "classification": Classification, "approval": Approval, "containment": Containment,
//!   "notification": Notification, "failure"?: Failure }
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole state document as the state machine passes it to every function.
/// Later parts are optional because earlier steps have not produced them yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseFile {
    /// The EventBridge event as delivered, bounded: an event over
    /// [`crate::parse::KEEP_EVENT_BYTES`] keeps its shape with its long strings cut
    /// ([`crate::parse::bounded_event`]). The event exactly as delivered is the execution's
    /// input (`ExecutionStarted` in its history).
    #[serde(default)]
    pub event: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<Incident>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Enrichment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containment: Option<Containment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// Set by the state machine's Catch (`ResultPath: $.failure`) before the failure alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// A step that failed, as Step Functions' Catch hands it over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The state that failed (added by the ASL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

// ---------------------------------------------------------------------------------------------
// Incident
// ---------------------------------------------------------------------------------------------

/// What happened, parsed from the EventBridge event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Stable for the same underlying event: CloudTrail `eventID`, or the GuardDuty finding id.
    /// Duplicates and finding updates share it.
    pub id: String,
    pub source: IncidentSource,
    /// What kind of event: `CreateUser`, or the GuardDuty finding type.
    pub kind: String,
    pub account: String,
    pub region: String,
    /// When the underlying activity happened (CloudTrail `eventTime`; GuardDuty `updatedAt`).
    pub observed_at: DateTime<Utc>,
    /// Who or what the response would act on.
    pub subject: Subject,
    /// Who did it, when the event says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// GuardDuty details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// Set when the API call failed (CloudTrail `errorCode`): nothing was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_call: Option<FailedCall>,
    /// How the incident reached cordon when not straight from its source: a Security Hub
    /// import of the finding, or an analyst's Security Hub custom action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Delivery>,
}

impl Incident {
    /// A GuardDuty sample finding: nothing real happened.
    pub fn is_sample(&self) -> bool {
        self.finding.as_ref().is_some_and(|f| f.sample)
    }

    /// An analyst asked for containment (Security Hub custom action).
    pub fn is_containment_request(&self) -> bool {
        self.via
            .as_ref()
            .is_some_and(|v| v.channel == Channel::SecurityHubCustomAction)
    }
}

/// A finding that reached cordon through Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub channel: Channel,
    /// For a custom action: its name as Security Hub sends it (`detail.actionName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// `Security Hub Findings - Imported`: the same finding as GuardDuty's own event.
    SecurityHubImport,
    /// `Security Hub Findings - Custom Action`: an analyst asked cordon to contain. A request
    /// is a reason to ask for approval, never an approval.
    SecurityHubCustomAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentSource {
    Cloudtrail,
    Guardduty,
    /// A Security Hub finding from another product (cordon ignores it, saying so).
    #[serde(rename = "securityhub")]
    SecurityHub,
}

/// The principal (or resource) an incident is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Subject {
    /// An IAM user, e.g. the user `CreateUser` created.
    #[serde(rename_all = "camelCase")]
    IamUser {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arn: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// The access key GuardDuty saw used, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
    },
    /// A role whose temporary credentials were used (e.g. instance credentials).
    #[serde(rename_all = "camelCase")]
    AssumedRole {
        role_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_arn: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_name: Option<String>,
        /// For EC2 instance credentials: the instance the session belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
    },
    /// The account root user: never touched, critical notification only.
    #[serde(rename_all = "camelCase")]
    Root { account: String },
    /// Not an identity (e.g. an EC2 instance in a port-probe finding): nothing to contain.
    #[serde(rename_all = "camelCase")]
    Resource { resource_type: String, id: String },
    /// A principal cordon cannot contain: an AWS service acting for the account, a federated
    /// session, a type it does not know, or an attack sequence that names no single principal.
    /// An incident (a human is told what to look at), never an error.
    #[serde(rename_all = "camelCase")]
    Principal {
        /// As the finding says: `AWSService`, `Federated`, `AttackSequence`, ...
        principal_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        principal_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<String>,
    },
}

/// Who performed the action, from CloudTrail `userIdentity` (or GuardDuty's key details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// CloudTrail `userIdentity.type`: `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`,
    /// `AWSService`, `IdentityCenterUser`, `AWSAccount`, or what the event says.
    pub identity_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// A readable name: the user name, the role's session issuer name, the service, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For assumed roles: the role behind the session (`sessionContext.sessionIssuer.arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_issuer_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated: Option<bool>,
    /// For `AWSService` callers: the service that made the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// A GuardDuty finding's facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: f64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `service.count`: grows when GuardDuty updates the same finding.
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// `resource.resourceType`: `AccessKey`, `Instance`, ...
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<RemoteIp>,
    /// The API the finding is about (`action.awsApiCallAction.api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_called: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Set when GuardDuty marked the finding archived.
    #[serde(default)]
    pub archived: bool,
    /// A sample finding (`aws guardduty create-sample-findings`: `service.additionalInfo.sample`
    /// or `GeneratedFinding*` placeholders): nothing real happened.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sample: bool,
    /// The finding as Security Hub identifies it (for the write-back): the GuardDuty finding
    /// ARN and GuardDuty's product ARN in the finding's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<SecurityHubRef>,
    /// GuardDuty Extended Threat Detection: what the attack sequence names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<AttackSequence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubRef {
    pub id: String,
    pub product_arn: String,
}

/// The principals and signals an attack sequence finding carries (bounded lists of bounded
/// names: the finding's own text, which an attacker's activity shapes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttackSequence {
    /// IAM principals (users and roles) the sequence names, as ARNs or names.
    #[serde(default)]
    pub principals: Vec<String>,
    /// The signals (findings, API activity) the sequence correlates, by title or id.
    #[serde(default)]
    pub signals: Vec<String>,
    /// The sequence's own description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Where the activity came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteIp {
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// An API call that returned an error (so created nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCall {
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
}

// ---------------------------------------------------------------------------------------------
// Enrichment
// ---------------------------------------------------------------------------------------------

/// What AWS says about the subject right now. A subject that no longer exists is a fact
/// (`exists: false`), not an error; a lookup that failed is recorded in `lookupErrors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrichment {
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceFacts>,
    /// For an instance role: who else runs on the role's credentials (what revoking its
    /// sessions would interrupt). Absent when not looked up or when the lookup failed (then
    /// `lookupErrors` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// A cordon quarantine already in place on the subject (read back from its tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineRecord>,
    /// Lookups that failed for reasons other than absence (e.g. access denied), by lookup name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookup_errors: Vec<LookupError>,
    /// Whether this deployment covers the incident's account (and how it reaches it). When
    /// not covered, nothing else was looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::scope::Scope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupError {
    pub lookup: String,
    pub error: String,
}

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserFacts {
    pub name: String,
    pub arn: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub attached_policies: Vec<PolicyRef>,
    #[serde(default)]
    pub inline_policies: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_profile: Option<LoginProfile>,
    /// MFA device serial numbers.
    #[serde(default)]
    pub mfa_devices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub id: String,
    pub status: KeyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub password_reset_required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleFacts {
    pub name: String,
    pub arn: String,
    #[serde(default)]
    pub role_id: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub attached_policies: Vec<PolicyRef>,
    #[serde(default)]
    pub inline_policies: Vec<String>,
    /// Sessions issued before this time are already denied by cordon's inline policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_revoked_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceFacts {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    /// IMDS `HttpTokens`: `required` means IMDSv2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_http_tokens: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_http_endpoint: Option<String>,
    /// IMDS `HttpPutResponseHopLimit` (1 keeps the credentials off containers and proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_hop_limit: Option<i32>,
    /// The network ACL of the instance's subnet (for the optional NACL deny).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acl_id: Option<String>,
    /// That ACL's entries, to choose a rule number that collides with none and comes before
    /// every allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_acl_entries: Vec<AclEntry>,
}

/// One network ACL entry, as far as choosing a rule number needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclEntry {
    pub rule_number: i32,
    pub egress: bool,
    /// `allow` or `deny`.
    pub action: String,
    /// The IPv4 range (`None` for an IPv6 entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// Who runs on an instance role's credentials: revoking the role's sessions interrupts every
/// one of them until its credentials rotate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlastRadius {
    pub role: String,
    /// The region the instances were counted in (the incident's; instance profiles are global,
    /// instances are not).
    pub region: String,
    /// The instance profiles that carry the role (ARNs).
    pub instance_profiles: Vec<String>,
    /// How many pending or running instances use those profiles, the compromised one included.
    pub running_instances: usize,
    /// How many of them are not the compromised instance: what a revocation interrupts
    /// besides it.
    pub other_instances: usize,
    /// Those instances, at most [`BlastRadius::LISTED`] of them.
    #[serde(default)]
    pub instances: Vec<InstanceUse>,
}

impl BlastRadius {
    /// How many instances the case file lists (the count is always exact).
    pub const LISTED: usize = 20;
}

/// An instance running on a role's credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceUse {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Its `Name` tag (bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its Auto Scaling group (`aws:autoscaling:groupName`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_arn: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ignore,
    Notify,
    Approve,
    Quarantine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One rule's contribution to the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// Stable rule identifier (e.g. `suspicious-user-name`).
    pub rule: String,
    pub points: i32,
    pub detail: String,
}

/// What the policy's approval settings mean for the state machine when the verdict is
/// `approve`: the ASL reads these with `TimeoutSecondsPath` and the timeout branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDefault {
    Quarantine,
    Notify,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    pub verdict: Verdict,
    pub severity: Severity,
    pub score: i32,
    pub reasons: Vec<Reason>,
    /// The subject is protected: never quarantined automatically.
    pub protected: bool,
    /// The incident this one duplicates (same subject already quarantined for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// How long to wait for a human decision (from the policy).
    pub approval_timeout_seconds: u64,
    /// What happens when nobody decides in time (from the policy).
    pub approval_default: ApprovalDefault,
    /// The policy asks for a plan only, with no change.
    #[serde(default)]
    pub dry_run: bool,
    /// Which version of the response policy decided: `ssm:<name>:<version>` (Parameter
    /// Store) or `inline:sha256:<12 hex>` (the template parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Approved,
    Rejected,
    TimedOut,
}

/// A human decision (or its absence), as written into the execution history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub decision: Decision,
    /// The approver's ARN as AWS verified it (request context), or as asserted offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// True when AWS authenticated the approver (function URL with `AWS_IAM`); false when
    /// the identity was only asserted (offline `--as`).
    pub verified: bool,
    #[serde(default)]
    pub reason: String,
    pub decided_at: DateTime<Utc>,
    /// For instance credentials: the approver's choice to revoke the role's sessions too
    /// (`true`), or not (`false`), whatever the blast-radius threshold says. `None`: the
    /// policy's threshold decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_role_sessions: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Containment
// ---------------------------------------------------------------------------------------------

/// One containment step, planned from the enrichment and the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum PlannedAction {
    /// Attach the deny-all quarantine managed policy to the user.
    #[serde(rename_all = "camelCase")]
    AttachQuarantinePolicy { user: String, policy_arn: String },
    /// Tag the principal with the quarantine record.
    #[serde(rename_all = "camelCase")]
    TagQuarantined { principal: PrincipalRef, tags: Tags },
    /// Deactivate one access key that was active.
    #[serde(rename_all = "camelCase")]
    DeactivateAccessKey { user: String, access_key_id: String },
    /// Delete the console password (cannot be restored, only reset).
    #[serde(rename_all = "camelCase")]
    DeleteLoginProfile { user: String },
    /// Inline deny of every session issued before `before` (`aws:TokenIssueTime`).
    #[serde(rename_all = "camelCase")]
    RevokeSessions {
        principal: PrincipalRef,
        policy_name: String,
        before: DateTime<Utc>,
    },
    /// Require IMDSv2 on the instance whose credentials leaked, with hop limit `hop_limit`.
    #[serde(rename_all = "camelCase")]
    EnforceImdsV2 {
        instance_id: String,
        #[serde(default = "crate::instance::quarantine_hop_limit")]
        hop_limit: i32,
    },
    /// Replace the instance's instance profile (`from`, carrying the compromised role) with
    /// the quarantine profile (`to`): the instance can no longer fetch the role's credentials.
    #[serde(rename_all = "camelCase")]
    SwapInstanceProfile {
        instance_id: String,
        from_profile_arn: String,
        to_profile_arn: String,
    },
    /// Deny the remote IP in the instance subnet's network ACL.
    #[serde(rename_all = "camelCase")]
    NaclDenyIp {
        network_acl_id: String,
        cidr: String,
        rule_number: i32,
    },
}

/// A user or a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum PrincipalRef {
    User(String),
    Role(String),
}

impl PrincipalRef {
    /// The user's or the role's name.
    pub fn name(&self) -> &str {
        match self {
            PrincipalRef::User(n) | PrincipalRef::Role(n) => n,
        }
    }
}

/// The plan the quarantine function executes, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinePlan {
    pub incident_id: String,
    pub actions: Vec<PlannedAction>,
    /// Actions the policy disabled or that do not apply, with why (reported as `skipped`).
    #[serde(default)]
    pub skipped: Vec<SkippedAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedAction {
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    /// Changed now.
    Done,
    /// Already in the wanted state; nothing changed.
    Already,
    /// Not done, on purpose (policy, dry run, not applicable).
    Skipped,
    /// Attempted and failed.
    Failed,
}

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    /// The action's kebab-case name (`attach-quarantine-policy`, ...).
    pub action: String,
    /// What it acted on (user name, key id, instance id, ...).
    pub target: String,
    pub status: ActionStatus,
    #[serde(default)]
    pub detail: String,
}

/// The quarantine as recorded on the principal (tags) and in the case file: enough for
/// `release` to undo exactly what was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRecord {
    pub incident_id: String,
    pub principal: PrincipalRef,
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
    /// The managed policy cordon attached (to detach on release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_policy_arn: Option<String>,
    /// Exactly the keys that were active and cordon deactivated (to reactivate on release).
    #[serde(default)]
    pub deactivated_keys: Vec<String>,
    /// The console password was deleted: it cannot be restored, only reset.
    #[serde(default)]
    pub login_profile_deleted: bool,
    /// Name of the inline session-revocation policy cordon put, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imdsv2_enforced_on: Option<String>,
    /// The IMDS options of `imdsv2_enforced_on` before cordon changed them
    /// (`httpTokens=optional hopLimit=2`), so release restores them exactly. Absent in records
    /// written before cordon kept them: release then leaves IMDSv2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imds_before: Option<String>,
    /// The instance profile swap: `INSTANCE_ID ORIGINAL_PROFILE_ARN QUARANTINE_PROFILE_ARN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_swap: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacl_entry: Option<String>,
    /// The region of the instance the instance actions (profile swap, IMDS, NACL) changed:
    /// IAM is global, EC2 is not, so release must act there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Containment {
    pub dry_run: bool,
    pub actions: Vec<ActionOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<QuarantineRecord>,
}

// ---------------------------------------------------------------------------------------------
// Notification
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The SNS message id of the alert.
    pub message_id: String,
    pub subject: String,
    pub security_hub: SecurityHubOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubOutcome {
    /// `updated` (GuardDuty finding annotated), `imported` (cordon finding created),
    /// `skipped`, or `failed` (reported, not fatal).
    pub status: String,
    #[serde(default)]
    pub detail: String,
}
