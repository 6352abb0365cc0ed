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
    {
        if let Some(actor) = &incident.actor {
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
    }
    Ok(())
}
