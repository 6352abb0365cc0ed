//! The stack file: what `cordon up` writes (`.cordon/stack.json`) so that every other command
//! finds the running offline stack, and the naming rules both sides share.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Directory (in the current directory or a parent) holding the running stack's files.
pub const STACK_DIR: &str = ".cordon";
/// The stack file inside [`STACK_DIR`].
pub const STACK_FILE: &str = "stack.json";

/// Everything a client needs to reach a running offline stack. Written by `cordon up`, read
/// by [`StackFile::find`]. Field names are camelCase JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StackFile {
    /// The process running the stack (`cordon up`'s background child).
    pub pid: u32,
    pub region: String,
    pub account_id: String,
    /// Endpoints: `stepfunctions` (the local engine), `aws` (moto), `approve` (the local
    /// function URL of the approve function).
    pub endpoints: Endpoints,
    /// The incident response state machine.
    pub state_machine_arn: String,
    /// Every state machine of the template, by logical id (what EventBridge rules target).
    #[serde(default)]
    pub state_machines: std::collections::BTreeMap<String, String>,
    pub alerts_topic_arn: String,
    pub approvals_topic_arn: String,
    /// SQS queues subscribed to the topics (raw delivery off: each message body is the SNS
    /// envelope with `Subject`, `Message` and `MessageAttributes`).
    pub alerts_queue_url: String,
    pub approvals_queue_url: String,
    pub quarantine_policy_arn: String,
    /// The caller identity the local approver asserts by default (offline nobody verifies it).
    pub local_approver_arn: String,
    /// An IAM user in the simulated account whose keys `cordon simulate` uses to do
    /// suspicious things.
    pub attacker: Principal,
    /// The static credentials moto accepts for everything else.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The state directory (durable engine store, logs).
    pub state_dir: PathBuf,
    /// Organization mode: the offline organization the central stack covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationInfo>,
}

/// The offline organization (organization mode): its accounts and where they sit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationInfo {
    pub id: String,
    pub root_id: String,
    pub management_account: String,
    /// The account the central stack runs in (delegated administrator).
    pub security_account: String,
    pub members: Vec<MemberAccount>,
    /// The central organization event bus the member accounts forward to.
    pub event_bus_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberAccount {
    pub id: String,
    pub name: String,
    /// Parents from the nearest OU up to the root.
    pub ancestry: Vec<String>,
    /// The member stack (`infra/member.yaml`) deployed in it, with its responder role.
    pub stack_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoints {
    pub stepfunctions: String,
    pub aws: String,
    pub approve: String,
}

/// An IAM user with an access key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub user_name: String,
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl StackFile {
    /// `dir/.cordon/stack.json` for the first of `start` and its parents that has one.
    pub fn locate(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|d| d.join(STACK_DIR).join(STACK_FILE))
            .find(|p| p.is_file())
    }

    /// Read and parse a stack file.
    pub fn read(path: &Path) -> std::io::Result<StackFile> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Write atomically (temporary file + rename), so a reader never sees half a file.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path)
    }

    /// The execution the offline stack starts for an incident (see [`execution_name`]).
    pub fn execution_arn_for_incident(&self, incident_id: &str) -> String {
        execution_arn(&self.state_machine_arn, incident_id)
    }
}

/// The execution ARN for `incident_id` under the state machine `state_machine_arn`
/// (`arn:aws:states:R:A:stateMachine:NAME` → `arn:aws:states:R:A:execution:NAME:ID`).
pub fn execution_arn(state_machine_arn: &str, incident_id: &str) -> String {
    let base = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
    format!("{base}:{}", execution_name(incident_id))
}

/// The execution name for an incident id (CloudTrail `eventID`, GuardDuty finding `id`).
///
/// The offline stack names every execution after its incident so that a redelivered event or
/// a GuardDuty finding update maps to the same execution: `StartExecution` with a name in use
/// either returns the running execution (same input) or fails with `ExecutionAlreadyExists`,
/// and never starts a second approval or quarantine.
///
/// Step Functions names are 1–80 characters without whitespace, control characters or any of
/// `<>{}[]?*"#%\^|~` `` ` `` `$&,;:/`; such characters become `-`. A longer id keeps its first
/// 63 characters and a hash of the whole id, so distinct long ids stay distinct.
pub fn execution_name(incident_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let clean: String = incident_id
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c) {
                '-'
            } else {
                c
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "incident".to_string()
    } else {
        clean
    };
    if clean.chars().count() <= 80 && clean == incident_id {
        return clean;
    }
    if clean.chars().count() <= 80 && clean.chars().count() < 64 {
        // Sanitised: keep it readable, but make it distinct from an id that really had `-`.
        let digest = Sha256::digest(incident_id.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return format!("{clean}-{hex}");
    }
    let digest = Sha256::digest(incident_id.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let head: String = clean.chars().take(63).collect();
    format!("{head}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_are_the_name() {
        assert_eq!(
            execution_name("3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01"),
            "3b7a1f0e-2c4d-4e5f-9a8b-1c2d3e4f5a01"
        );
        assert_eq!(
            execution_name("96bf7a5c0e3f8a1b2c4d6e8f0a2b4c6d"),
            "96bf7a5c0e3f8a1b2c4d6e8f0a2b4c6d"
        );
    }

    #[test]
    fn invalid_characters_and_long_ids_are_made_valid_and_stay_distinct() {
        let a = execution_name("a:b");
        let b = execution_name("a-b");
        assert!(a.starts_with("a-b-") && a.len() == 4 + 16, "{a}");
        assert_eq!(b, "a-b");
        let long = "x".repeat(200);
        let n = execution_name(&long);
        assert_eq!(n.chars().count(), 80);
        assert_ne!(n, execution_name(&"x".repeat(201)));
        assert_eq!(execution_name(""), "incident-e3b0c44298fc1c14");
    }

    #[test]
    fn execution_arn_replaces_the_resource_type() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:cordon-incident-response",
                "abc"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:abc"
        );
    }
}
