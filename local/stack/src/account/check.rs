//! Deciding, from what was read, whether a containment really happened: each check answers
//! the [`Gap`]s between the state and a finished containment (none: it happened).

use std::fmt;

use cordon_core::record::{SECURITY_STATUS_QUARANTINED, TAG_SECURITY_STATUS};
use serde_json::Value;

use super::{InstanceState, RoleState, UserState};

/// The IAM condition key a session revocation denies by.
const TOKEN_ISSUE_TIME: &str = "aws:TokenIssueTime";

/// Something a containment should have done and did not, said for a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// The quarantine policy is not attached to the user.
    PolicyNotAttached { user: String, policy: String },
    /// The principal has no `SecurityStatus=Quarantined` tag.
    NotTaggedQuarantined { principal: String },
    /// The user has no access key at all, so none was deactivated.
    NoAccessKey { user: String },
    /// An access key of the user is still active.
    KeyActive { user: String, key: String },
    /// The role has no inline policy at all.
    NoInlinePolicy { role: String },
    /// No inline policy of the role denies sessions by their issue time.
    NoSessionRevocation { role: String },
    /// The instance's profile is not the one expected.
    InstanceProfile {
        instance: String,
        profile: Option<String>,
        expected: ExpectedProfile,
    },
}

/// Which instance profile an instance should have after a containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedProfile {
    /// The quarantine instance profile: its credentials were contained.
    Quarantine,
    /// Anything but the quarantine profile: it was not involved.
    Untouched,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::PolicyNotAttached { user, policy } => {
                write!(f, "{policy} is not attached to {user}")
            }
            Gap::NotTaggedQuarantined { principal } => write!(
                f,
                "{principal} has no {TAG_SECURITY_STATUS}={SECURITY_STATUS_QUARANTINED} tag"
            ),
            Gap::NoAccessKey { user } => write!(f, "{user} has no access key to deactivate"),
            Gap::KeyActive { user, key } => write!(f, "access key {key} of {user} is still active"),
            Gap::NoInlinePolicy { role } => write!(f, "{role} has no inline deny policy"),
            Gap::NoSessionRevocation { role } => {
                write!(f, "no inline policy of {role} denies by {TOKEN_ISSUE_TIME}")
            }
            Gap::InstanceProfile {
                instance,
                profile,
                expected,
            } => write!(
                f,
                "{instance} has instance profile {}, expected {}",
                profile.as_deref().unwrap_or("none"),
                match expected {
                    ExpectedProfile::Quarantine => "the quarantine profile",
                    ExpectedProfile::Untouched => "its own (untouched)",
                }
            ),
        }
    }
}

fn tagged_quarantined(tags: &std::collections::BTreeMap<String, String>) -> bool {
    tags.get(TAG_SECURITY_STATUS).map(String::as_str) == Some(SECURITY_STATUS_QUARANTINED)
}

impl UserState {
    /// What is missing from `user`'s quarantine: `policy` attached, the quarantine tag, and
    /// every access key inactive (a user without any key is a gap: there was nothing to
    /// deactivate, so the check proves nothing).
    pub fn quarantine_gaps(&self, user: &str, policy: &str) -> Vec<Gap> {
        let mut gaps = Vec::new();
        if !self.policies.iter().any(|p| p == policy) {
            gaps.push(Gap::PolicyNotAttached {
                user: user.to_string(),
                policy: policy.to_string(),
            });
        }
        if !self.is_tagged_quarantined() {
            gaps.push(Gap::NotTaggedQuarantined {
                principal: user.to_string(),
            });
        }
        if self.keys.is_empty() {
            gaps.push(Gap::NoAccessKey {
                user: user.to_string(),
            });
        }
        for (key, status) in &self.keys {
            if status != "Inactive" {
                gaps.push(Gap::KeyActive {
                    user: user.to_string(),
                    key: key.clone(),
                });
            }
        }
        gaps
    }

    /// Tagged `SecurityStatus=Quarantined`.
    pub fn is_tagged_quarantined(&self) -> bool {
        tagged_quarantined(&self.tags)
    }
}

impl RoleState {
    /// What is missing from revoking `role`'s sessions: an inline policy denying sessions
    /// issued before a time ([`revokes_sessions_by_issue_time`]).
    pub fn session_revocation_gaps(&self, role: &str) -> Vec<Gap> {
        if self.inline_policies.is_empty() {
            return vec![Gap::NoInlinePolicy {
                role: role.to_string(),
            }];
        }
        if self.revocation_policy().is_none() {
            return vec![Gap::NoSessionRevocation {
                role: role.to_string(),
            }];
        }
        Vec::new()
    }

    /// The name of the inline policy that revokes the role's sessions, if one does.
    pub fn revocation_policy(&self) -> Option<&str> {
        self.inline_policies
            .iter()
            .find(|(_, doc)| revokes_sessions_by_issue_time(doc))
            .map(|(name, _)| name.as_str())
    }

    /// Tagged `SecurityStatus=Quarantined`.
    pub fn is_tagged_quarantined(&self) -> bool {
        tagged_quarantined(&self.tags)
    }
}

/// Whether a policy document has a `Deny` statement conditioned on `aws:TokenIssueTime` (under
/// any operator): what revoking a role's sessions writes.
pub fn revokes_sessions_by_issue_time(doc: &Value) -> bool {
    let statements = match &doc["Statement"] {
        Value::Array(s) => s.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    };
    statements.into_iter().any(|s| {
        s["Effect"] == "Deny"
            && s["Condition"].as_object().is_some_and(|ops| {
                ops.values()
                    .filter_map(Value::as_object)
                    .any(|keys| keys.contains_key(TOKEN_ISSUE_TIME))
            })
    })
}

impl InstanceState {
    /// The gap, if `instance`'s profile is not what it should be: `quarantine_profile` when
    /// `expected` is [`ExpectedProfile::Quarantine`], anything else when untouched.
    pub fn profile_gap(
        &self,
        instance: &str,
        quarantine_profile: &str,
        expected: ExpectedProfile,
    ) -> Option<Gap> {
        let quarantined = self.profile.as_deref() == Some(quarantine_profile);
        let want = expected == ExpectedProfile::Quarantine;
        (quarantined != want).then(|| Gap::InstanceProfile {
            instance: instance.to_string(),
            profile: self.profile.clone(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    const POLICY: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine-deny-all";
    const QUARANTINE: &str =
        "arn:aws:iam::123456789012:instance-profile/cordon-quarantine-instance";
    const OWN: &str = "arn:aws:iam::123456789012:instance-profile/web-app";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn quarantined_user() -> UserState {
        UserState {
            tags: map(&[(TAG_SECURITY_STATUS, SECURITY_STATUS_QUARANTINED)]),
            policies: vec![POLICY.to_string()],
            inline_policies: Vec::new(),
            keys: map(&[("AKIA1", "Inactive"), ("AKIA2", "Inactive")]),
            login_profile: false,
        }
    }

    #[test]
    fn a_quarantined_user_has_no_gap() {
        assert_eq!(quarantined_user().quarantine_gaps("u", POLICY), vec![]);
    }

    #[test]
    fn each_missing_part_of_a_user_quarantine_is_a_gap_said_as_before() {
        let mut s = quarantined_user();
        s.policies.clear();
        s.tags = map(&[(TAG_SECURITY_STATUS, "Released")]);
        s.keys = map(&[("AKIA1", "Inactive"), ("AKIA2", "Active")]);
        let said: Vec<String> = s
            .quarantine_gaps("u", POLICY)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            said,
            [
                format!("{POLICY} is not attached to u"),
                "u has no SecurityStatus=Quarantined tag".to_string(),
                "access key AKIA2 of u is still active".to_string(),
            ]
        );
        s.keys.clear();
        assert!(
            s.quarantine_gaps("u", POLICY)
                .contains(&Gap::NoAccessKey { user: "u".into() })
        );
    }

    #[test]
    fn another_policy_attached_is_not_the_quarantine_policy() {
        let mut s = quarantined_user();
        s.policies = vec!["arn:aws:iam::210987654321:policy/cordon-quarantine-deny-all".into()];
        assert_eq!(
            s.quarantine_gaps("u", POLICY),
            vec![Gap::PolicyNotAttached {
                user: "u".into(),
                policy: POLICY.into()
            }]
        );
    }

    fn role(policies: &[(&str, Value)]) -> RoleState {
        RoleState {
            tags: BTreeMap::new(),
            inline_policies: policies
                .iter()
                .map(|(n, d)| (n.to_string(), d.clone()))
                .collect(),
        }
    }

    #[test]
    fn a_deny_by_token_issue_time_revokes_sessions_and_nothing_else_does() {
        let revoke = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}}
        }]});
        assert!(revokes_sessions_by_issue_time(&revoke));
        // A single statement object is a statement too.
        let single = json!({"Statement": revoke["Statement"][0].clone()});
        assert!(revokes_sessions_by_issue_time(&single));
        let allow = json!({"Statement": [{
            "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}}
        }]});
        assert!(!revokes_sessions_by_issue_time(&allow));
        let deny_other = json!({"Statement": [{
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}
        }]});
        assert!(!revokes_sessions_by_issue_time(&deny_other));

        assert_eq!(
            role(&[("cordon-revoke-sessions", revoke)]).session_revocation_gaps("r"),
            vec![]
        );
        assert_eq!(
            role(&[("x", deny_other)]).session_revocation_gaps("r")[0].to_string(),
            "no inline policy of r denies by aws:TokenIssueTime"
        );
        assert_eq!(
            role(&[]).session_revocation_gaps("r")[0].to_string(),
            "r has no inline deny policy"
        );
    }

    #[test]
    fn an_instance_profile_is_checked_both_ways() {
        let state = |profile: Option<&str>| InstanceState {
            profile: profile.map(str::to_string),
            http_tokens: "optional".into(),
            hop_limit: 1,
        };
        use ExpectedProfile::*;
        assert_eq!(
            state(Some(QUARANTINE)).profile_gap("i-1", QUARANTINE, Quarantine),
            None
        );
        assert_eq!(
            state(Some(OWN)).profile_gap("i-2", QUARANTINE, Untouched),
            None
        );
        assert_eq!(
            state(Some(OWN))
                .profile_gap("i-1", QUARANTINE, Quarantine)
                .unwrap()
                .to_string(),
            format!("i-1 has instance profile {OWN}, expected the quarantine profile")
        );
        assert_eq!(
            state(Some(QUARANTINE))
                .profile_gap("i-2", QUARANTINE, Untouched)
                .unwrap()
                .to_string(),
            format!("i-2 has instance profile {QUARANTINE}, expected its own (untouched)")
        );
        assert_eq!(
            state(None)
                .profile_gap("i-1", QUARANTINE, Quarantine)
                .unwrap()
                .to_string(),
            "i-1 has instance profile none, expected the quarantine profile"
        );
    }
}
