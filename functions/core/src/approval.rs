//! Who may decide on a pending incident.
//!
//! Checks, in order: the approver ARN is an IAM/STS ARN; it matches `approval.approvers`; the
//! approver is not the subject itself (a stolen session must not cancel its own quarantine);
//! and, under the two-person rule, the approver is not the actor who created the subject.
//! Same principal means: the same ARN; for assumed-role sessions the same role and session
//! name; for IAM Identity Center (`AWSReservedSSO_*`) sessions the same session name in any
//! permission set (the session name is the person, whichever permission set they use); for a
//! federated user, the IAM user that issued the federation token.

use crate::model::{Incident, Subject};
use crate::policy::Policy;

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` is not an approver in the response policy (approval.approvers)")]
    NotAnApprover(String),
    #[error(
        "two-person rule: `{approver}` is the actor who created the subject ({actor}) and cannot decide on it; ask another approver"
    )]
    SelfApproval { approver: String, actor: String },
    #[error("`{approver}` is the subject of this incident and cannot decide on its own quarantine")]
    SubjectItself { approver: String },
    #[error("`{0}` is not an IAM user or STS assumed-role ARN")]
    InvalidArn(String),
}

/// A caller, from its ARN.
#[derive(Debug, PartialEq)]
enum Principal<'a> {
    User {
        account: &'a str,
        name: &'a str,
    },
    Session {
        account: &'a str,
        role: &'a str,
        session: &'a str,
    },
    Other,
}

fn principal(arn: &str) -> Principal<'_> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Principal::Other;
    }
    let (service, account, resource) = (parts[2], parts[4], parts[5]);
    match service {
        "iam" => match resource.strip_prefix("user/") {
            Some(path_and_name) => Principal::User {
                account,
                name: path_and_name.rsplit('/').next().unwrap_or(""),
            },
            None => Principal::Other,
        },
        "sts" => match resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split_once('/'))
        {
            Some((role, session)) => Principal::Session {
                account,
                role,
                session,
            },
            None => Principal::Other,
        },
        _ => Principal::Other,
    }
}

fn is_sso_role(role: &str) -> bool {
    role.starts_with("AWSReservedSSO_")
}

/// Check that `approver_arn` may decide on `incident`.
pub fn check_decision(
    policy: &Policy,
    approver_arn: &str,
    incident: &Incident,
) -> Result<(), Refusal> {
    let approver = principal(approver_arn);
    if approver == Principal::Other {
        return Err(Refusal::InvalidArn(approver_arn.to_string()));
    }
    if !policy.is_approver(approver_arn) {
        return Err(Refusal::NotAnApprover(approver_arn.to_string()));
    }
    let same_account = |a: &str| a == incident.account;
    let is_subject = match (&incident.subject, &approver) {
        (Subject::IamUser { name, .. }, Principal::User { account, name: n }) => {
            same_account(account) && n == name
        }
        (Subject::AssumedRole { role_name, .. }, Principal::Session { account, role, .. }) => {
            same_account(account) && role == role_name
        }
        _ => false,
    };
    if is_subject {
        return Err(Refusal::SubjectItself {
            approver: approver_arn.to_string(),
        });
    }
    if policy.approval.two_person_rule
        && incident.source == crate::model::IncidentSource::Cloudtrail
        && let Some(actor) = &incident.actor
    {
        let label = actor
            .arn
            .clone()
            .or_else(|| actor.name.clone())
            .unwrap_or_else(|| actor.identity_type.clone());
        let refuse = || Refusal::SelfApproval {
            approver: approver_arn.to_string(),
            actor: label.clone(),
        };
        if actor.arn.as_deref() == Some(approver_arn) {
            return Err(refuse());
        }
        // The actor's session: from its ARN, else from its issuer + principal id.
        let actor_session = actor.arn.as_deref().map(principal).and_then(|p| match p {
            Principal::Session {
                account,
                role,
                session,
            } => Some((account.to_string(), role.to_string(), session.to_string())),
            _ => None,
        });
        if let (
            Some((a_acc, a_role, a_sess)),
            Principal::Session {
                account,
                role,
                session,
            },
        ) = (&actor_session, &approver)
        {
            let same_session = a_sess == session && a_acc == account;
            if same_session && (a_role == role || (is_sso_role(a_role) && is_sso_role(role))) {
                return Err(refuse());
            }
        }
        if actor.identity_type == "FederatedUser"
            && actor.session_issuer_arn.as_deref() == Some(approver_arn)
        {
            return Err(refuse());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tests::incident;
    use crate::testkit::*;

    const RESPONDER_ANN: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_ab12/ann@example.com";

    #[test]
    fn approver_list() {
        let p = policy();
        let i = incident("cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
        assert_eq!(check_decision(&p, RESPONDER_ANN, &i), Ok(()));
        let e = check_decision(&p, "arn:aws:iam::123456789012:user/mallory", &i).unwrap_err();
        assert_eq!(
            e,
            Refusal::NotAnApprover("arn:aws:iam::123456789012:user/mallory".into())
        );
        assert_eq!(
            e.to_string(),
            "`arn:aws:iam::123456789012:user/mallory` is not an approver in the response policy (approval.approvers)"
        );
        assert_eq!(
            check_decision(&p, "alice", &i),
            Err(Refusal::InvalidArn("alice".into()))
        );
    }

    #[test]
    fn two_person_rule_iam_user() {
        let mut p = policy();
        let i = incident("cloudtrail-create-user-by-iam-user.json");
        let alice = "arn:aws:iam::123456789012:user/alice";
        let e = check_decision(&p, alice, &i).unwrap_err();
        assert_eq!(
            e,
            Refusal::SelfApproval {
                approver: alice.into(),
                actor: alice.into()
            }
        );
        assert_eq!(
            e.to_string(),
            "two-person rule: `arn:aws:iam::123456789012:user/alice` is the actor who created the subject (arn:aws:iam::123456789012:user/alice) and cannot decide on it; ask another approver"
        );
        p.approval.two_person_rule = false;
        assert_eq!(check_decision(&p, alice, &i), Ok(()));
    }

    #[test]
    fn two_person_rule_sso_session_is_the_person() {
        let p = policy();
        // jane created the user with AdministratorAccess; she may not approve as SecurityResponder.
        let i = incident("cloudtrail-create-user-by-sso-admin.json");
        let jane = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_ab12/jane@example.com";
        assert!(matches!(
            check_decision(&p, jane, &i),
            Err(Refusal::SelfApproval { .. })
        ));
        assert_eq!(check_decision(&p, RESPONDER_ANN, &i), Ok(()));
    }

    #[test]
    fn two_person_rule_assumed_role_compares_role_and_session() {
        let p = policy();
        let mut i = incident("cloudtrail-create-user-by-ci-pipeline.json");
        let actor = i.actor.as_mut().unwrap();
        actor.arn = Some("arn:aws:sts::123456789012:assumed-role/responder/ops-1".into());
        actor.session_issuer_arn = Some("arn:aws:iam::123456789012:role/responder".into());
        assert!(matches!(
            check_decision(
                &p,
                "arn:aws:sts::123456789012:assumed-role/responder/ops-1",
                &i
            ),
            Err(Refusal::SelfApproval { .. })
        ));
        assert_eq!(
            check_decision(
                &p,
                "arn:aws:sts::123456789012:assumed-role/responder/ops-2",
                &i
            ),
            Ok(())
        );
    }

    #[test]
    fn federated_user_issuer_counts_as_the_actor() {
        let p = policy();
        let i = incident("cloudtrail-create-user-by-federated-user.json");
        assert!(matches!(
            check_decision(&p, "arn:aws:iam::123456789012:user/identity-broker", &i),
            Err(Refusal::SelfApproval { .. })
        ));
    }

    #[test]
    fn the_subject_cannot_decide_on_itself() {
        let p = policy();
        let i = incident("guardduty-tor-ip-caller.json");
        let bob = "arn:aws:iam::123456789012:user/dev-bob";
        assert_eq!(
            check_decision(&p, bob, &i),
            Err(Refusal::SubjectItself {
                approver: bob.into()
            })
        );
        assert_eq!(
            check_decision(&p, "arn:aws:iam::123456789012:user/alice", &i),
            Ok(())
        );
    }
}
