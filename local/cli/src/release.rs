//! `cordon release USER --reason "..."`: undo exactly what a quarantine did to a user, as the
//! record on the user's tags says (`QuarantineRecord::from_tags` → `release_plan`), through the
//! same IAM adapter the quarantine function uses, then tell the alerts topic.

use std::process::ExitCode;

use cordon_aws::{AwsAccounts, AwsCompute, AwsIam, AwsNotifier};
use cordon_core::Deployment;
use cordon_core::ports::Accounts;
use cordon_core::ports::{Change, Compute, IamRead, IamWrite, Notifier, OutgoingMessage};
use cordon_core::{KeyStatus, PrincipalRef, QuarantineRecord, ReleaseAction, release_plan};
use serde_json::json;

use crate::audit::style::Style;
use crate::audit::{TargetArgs, block_on};

#[derive(clap::Args)]
pub struct Args {
    /// The quarantined IAM user's name (or, with --role, the role's).
    #[arg(value_name = "USER")]
    pub user: String,
    /// The name is a role's (an instance role whose sessions cordon revoked).
    #[arg(long)]
    pub role: bool,
    /// Why the user is released (sent to the alerts topic).
    #[arg(long)]
    pub reason: String,
    /// The account the user is in (default: the account the stack runs in). For a member
    /// account of an organization deployment, release acts through its responder role.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: Option<String>,
    /// The member accounts' responder role (organization mode).
    #[arg(long, default_value = "cordon-responder", value_name = "ROLE_NAME")]
    pub member_role: String,
    /// List the calls release would make, and make none.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn principal_words(p: &PrincipalRef) -> (&'static str, &str) {
    match p {
        PrincipalRef::User(n) => ("user", n),
        PrincipalRef::Role(n) => ("role", n),
    }
}

/// The API call a release step makes, as `service:Action key=value ...` (or what a human must
/// do, for the steps cordon does not take).
pub fn release_call(a: &ReleaseAction) -> String {
    match a {
        ReleaseAction::DetachQuarantinePolicy { user, policy_arn } => {
            format!("iam:DetachUserPolicy user={user} policyArn={policy_arn}")
        }
        ReleaseAction::ReactivateAccessKey {
            user,
            access_key_id,
        } => format!("iam:UpdateAccessKey user={user} accessKeyId={access_key_id} status=Active"),
        ReleaseAction::DeleteRevocationPolicy {
            principal,
            policy_name,
        } => match principal {
            PrincipalRef::User(u) => {
                format!("iam:DeleteUserPolicy user={u} policyName={policy_name}")
            }
            PrincipalRef::Role(r) => {
                format!("iam:DeleteRolePolicy role={r} policyName={policy_name}")
            }
        },
        ReleaseAction::RemoveNaclEntry {
            network_acl_id,
            rule_number,
        } => format!(
            "ec2:DeleteNetworkAclEntry networkAclId={network_acl_id} ruleNumber={rule_number} (ingress and egress)"
        ),
        ReleaseAction::KeepImdsV2 { instance_id } => format!(
            "(no call) IMDSv2 stays required on {instance_id}: the record does not say what it was before (an older cordon), so going back is a choice for a human"
        ),
        ReleaseAction::RestoreImdsOptions {
            instance_id,
            http_tokens,
            hop_limit,
        } => format!(
            "ec2:ModifyInstanceMetadataOptions instanceId={instance_id} httpTokens={http_tokens} httpPutResponseHopLimit={hop_limit} (as before the quarantine{})",
            if http_tokens == "optional" {
                "; IMDSv1 is enabled again"
            } else {
                ""
            }
        ),
        ReleaseAction::RestoreInstanceProfile {
            instance_id,
            quarantine_profile_arn,
            original_profile_arn,
        } => format!(
            "ec2:ReplaceIamInstanceProfileAssociation instanceId={instance_id} iamInstanceProfile={original_profile_arn} (only if {quarantine_profile_arn} is still associated)"
        ),
        ReleaseAction::ResetLoginProfileManually { user } => format!(
            "(no call) the console password of {user} was deleted and cannot be restored: an administrator must set a new one (iam:CreateLoginProfile) if the user needs console access"
        ),
        ReleaseAction::UntagQuarantined { principal, keys } => {
            let (kind, name) = principal_words(principal);
            let verb = if kind == "user" {
                "UntagUser"
            } else {
                "UntagRole"
            };
            format!("iam:{verb} {kind}={name} tagKeys={}", keys.join(","))
        }
    }
}

/// What `--dry-run` prints: the record, then the calls in order.
pub fn render_plan(record: &QuarantineRecord, plan: &[ReleaseAction]) -> String {
    let (kind, name) = principal_words(&record.principal);
    let mut o = format!(
        "{kind} {name} was quarantined at {} for incident {} ({})\n",
        record
            .quarantined_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        record.incident_id,
        record.reason
    );
    o += "release would make these calls, in order:\n";
    for (i, a) in plan.iter().enumerate() {
        o += &format!("  {}. {}\n", i + 1, release_call(a));
    }
    o
}

/// The message to the alerts topic.
pub fn release_message(
    topic_arn: &str,
    record: &QuarantineRecord,
    reason: &str,
    released_by: Option<&str>,
    outcomes: &[(String, String)],
) -> OutgoingMessage {
    let (kind, name) = principal_words(&record.principal);
    let mut text = format!(
        "cordon released {kind} {name} from the quarantine of incident {}.\n\nReason: {reason}\n",
        record.incident_id
    );
    if let Some(by) = released_by {
        text += &format!("Released by: {by}\n");
    }
    text += "\nWhat was undone:\n";
    for (call, status) in outcomes {
        text += &format!("  - {call}: {status}\n");
    }
    if record.login_profile_deleted {
        text += &format!(
            "\nThe console password of {name} was deleted during the quarantine and cannot be restored: reset it if the user needs console access.\n"
        );
    }
    OutgoingMessage {
        topic_arn: topic_arn.to_string(),
        subject: format!("cordon: released {kind} {name}"),
        text,
        json: json!({
            "type": "cordon.release",
            "incidentId": record.incident_id,
            "principal": record.principal,
            "reason": reason,
            "releasedBy": released_by,
            "actions": outcomes.iter().map(|(c, s)| json!({"call": c, "status": s})).collect::<Vec<_>>(),
            "loginProfileMustBeReset": record.login_profile_deleted,
        }),
        attributes: [("event".to_string(), "release".to_string())]
            .into_iter()
            .collect(),
    }
}

fn change_word(c: Change) -> &'static str {
    match c {
        Change::Done => "done",
        Change::Already => "already",
    }
}

async fn execute(
    iam: &AwsIam,
    compute: &AwsCompute,
    a: &ReleaseAction,
) -> Result<&'static str, String> {
    let r = match a {
        ReleaseAction::DetachQuarantinePolicy { user, policy_arn } => {
            iam.detach_user_policy(user, policy_arn).await
        }
        ReleaseAction::ReactivateAccessKey {
            user,
            access_key_id,
        } => {
            iam.set_access_key_status(user, access_key_id, KeyStatus::Active)
                .await
        }
        ReleaseAction::DeleteRevocationPolicy {
            principal,
            policy_name,
        } => match principal {
            PrincipalRef::User(u) => iam.delete_user_policy(u, policy_name).await,
            PrincipalRef::Role(r) => iam.delete_role_policy(r, policy_name).await,
        },
        ReleaseAction::RemoveNaclEntry {
            network_acl_id,
            rule_number,
        } => compute.nacl_remove(network_acl_id, *rule_number).await,
        ReleaseAction::RestoreImdsOptions {
            instance_id,
            http_tokens,
            hop_limit,
        } => {
            compute
                .set_metadata_options(instance_id, http_tokens, *hop_limit)
                .await
        }
        ReleaseAction::RestoreInstanceProfile {
            instance_id,
            quarantine_profile_arn,
            original_profile_arn,
        } => {
            compute
                .replace_instance_profile(instance_id, quarantine_profile_arn, original_profile_arn)
                .await
        }
        ReleaseAction::KeepImdsV2 { .. } | ReleaseAction::ResetLoginProfileManually { .. } => {
            return Ok("left to a human");
        }
        ReleaseAction::UntagQuarantined { principal, keys } => match principal {
            PrincipalRef::User(u) => iam.untag_user(u, keys).await,
            PrincipalRef::Role(r) => iam.untag_role(r, keys).await,
        },
    };
    r.map(change_word).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> ExitCode {
    block_on("release", async move {
        let target = args.target.resolve().await?;
        let (home, region) = stack_account_and_region(&target.state_machine_arn)?;
        let account = args.account.clone().unwrap_or_else(|| home.clone());
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "--account {account:?} is not a 12-digit AWS account id"
            ));
        }
        let user = &args.user;
        let kind = if args.role { "role" } else { "user" };
        // The same account-aware clients the functions use: the stack's own credentials in
        // its account, the member's responder role elsewhere; never the wrong account.
        let accounts = AwsAccounts::new(
            Deployment::Organization {
                home,
                member_role: args.member_role.clone(),
            },
            &target.aws,
        );
        let clients = accounts
            .open(&account, &region, &format!("release-{user}"))
            .await
            .map_err(|e| e.to_string())?;
        let (iam, compute) = (&clients.iam, &clients.compute);
        let exists = if args.role {
            iam.role(user).await.map_err(|e| e.to_string())?.is_some()
        } else {
            iam.user(user).await.map_err(|e| e.to_string())?.is_some()
        };
        if !exists {
            return Err(format!(
                "there is no IAM {kind} named {user} in account {account}{}",
                if args.account.is_none() {
                    " (for a member account of an organization deployment, add --account)"
                } else {
                    ""
                }
            ));
        }
        let (principal, tags) = if args.role {
            (PrincipalRef::Role(user.clone()), iam.role_tags(user).await)
        } else {
            (PrincipalRef::User(user.clone()), iam.user_tags(user).await)
        };
        let tags = tags.map_err(|e| e.to_string())?;
        let Some(record) = QuarantineRecord::from_tags(principal, &tags) else {
            return Err(format!(
                "{kind} {user} in account {account} has no cordon quarantine record (tags SecurityStatus=Quarantined, QuarantineIncident, QuarantineTime): nothing to release"
            ));
        };
        // EC2 is regional: the instance actions are undone where they were done.
        let reopened;
        let compute = match record.instance_region.as_deref().filter(|r| *r != region) {
            Some(instance_region) => {
                reopened = accounts
                    .open(&account, instance_region, &format!("release-{user}"))
                    .await
                    .map_err(|e| e.to_string())?;
                &reopened.compute
            }
            None => compute,
        };
        let plan = release_plan(&record);
        let st = Style::for_stdout();
        if args.dry_run {
            print!("{}", render_plan(&record, &plan));
            println!("{}", st.dim("dry run: nothing was changed"));
            return Ok(ExitCode::SUCCESS);
        }
        println!("account {account}: releasing {kind} {user}");
        let mut outcomes = Vec::new();
        let mut failed = None;
        for a in &plan {
            let call = release_call(a);
            match execute(iam, compute, a).await {
                Ok(status) => {
                    println!("{}  {call}", st.status(&format!("{status:<7}")));
                    outcomes.push((call, status.to_string()));
                }
                Err(e) => {
                    println!("{}  {call}: {e}", st.red("failed "));
                    outcomes.push((call, format!("failed: {e}")));
                    failed = Some(e);
                    // Stop: the record tags stay, so the release can be run again.
                    break;
                }
            }
        }
        if record.login_profile_deleted {
            println!(
                "{}",
                st.yellow(&format!(
                    "note: the console password of {user} was deleted by the quarantine and cannot be restored; reset it if {user} needs console access"
                ))
            );
        }
        let released_by = target.local_approver_arn.as_deref();
        match &target.alerts_topic_arn {
            Some(topic) => {
                let message = release_message(topic, &record, &args.reason, released_by, &outcomes);
                match AwsNotifier::from_conf(&target.aws).publish(&message).await {
                    Ok(id) => println!("alerts topic notified (message {id})"),
                    Err(e) => eprintln!("cordon release: could not notify the alerts topic: {e}"),
                }
            }
            None => {
                eprintln!("cordon release: the stack names no alerts topic; nobody was notified")
            }
        }
        if let Some(e) = failed {
            return Err(format!(
                "release of {kind} {user} stopped at a failed call ({e}); the quarantine record is still on the {kind}, run the release again once fixed"
            ));
        }
        println!(
            "{user} released in account {account} (incident {})",
            record.incident_id
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The account and region of the stack, from its state machine's ARN
/// (`arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`).
pub(crate) fn stack_account_and_region(
    state_machine_arn: &str,
) -> Result<(String, String), String> {
    let parts: Vec<&str> = state_machine_arn.split(':').collect();
    match parts.as_slice() {
        [_, _, _, region, account, ..] if !region.is_empty() && account.len() == 12 => {
            Ok((account.to_string(), region.to_string()))
        }
        _ => Err(format!(
            "cannot tell the stack's account from its state machine ARN {state_machine_arn:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn record() -> QuarantineRecord {
        QuarantineRecord {
            incident_id: "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406".into(),
            principal: PrincipalRef::User("service-x7k2qa".into()),
            reason: "suspicious-user-name".into(),
            quarantined_at: DateTime::parse_from_rfc3339("2026-03-14T02:50:00Z")
                .unwrap()
                .with_timezone(&Utc),
            attached_policy_arn: Some("arn:aws:iam::123456789012:policy/cordon-quarantine".into()),
            deactivated_keys: vec!["AKIAC1D2E3F4A5B6C7D8".into()],
            login_profile_deleted: true,
            revocation_policy: Some("cordon-revoke-sessions".into()),
            imdsv2_enforced_on: None,
            imds_before: None,
            profile_swap: None,
            instance_region: None,
            nacl_entry: None,
        }
    }

    #[test]
    fn the_dry_run_lists_the_calls_in_the_plan_order() {
        let r = record();
        let plan = release_plan(&r);
        let out = render_plan(&r, &plan);
        // Only the tags this record wrote (sorted, as on the user).
        let keys = "CordonAttachedPolicy,CordonDeactivatedKeys,CordonLoginProfileDeleted,CordonRevocationPolicy,QuarantineIncident,QuarantineReason,QuarantineTime,SecurityStatus";
        assert_eq!(
            out,
            format!(
                "user service-x7k2qa was quarantined at 2026-03-14T02:50:00Z for incident c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 (suspicious-user-name)\n\
                 release would make these calls, in order:\n\
                 \x20 1. iam:DeleteUserPolicy user=service-x7k2qa policyName=cordon-revoke-sessions\n\
                 \x20 2. (no call) the console password of service-x7k2qa was deleted and cannot be restored: an administrator must set a new one (iam:CreateLoginProfile) if the user needs console access\n\
                 \x20 3. iam:UpdateAccessKey user=service-x7k2qa accessKeyId=AKIAC1D2E3F4A5B6C7D8 status=Active\n\
                 \x20 4. iam:DetachUserPolicy user=service-x7k2qa policyArn=arn:aws:iam::123456789012:policy/cordon-quarantine\n\
                 \x20 5. iam:UntagUser user=service-x7k2qa tagKeys={keys}\n"
            )
        );
    }

    #[test]
    fn the_release_message_names_the_reason_and_the_password_reset() {
        let r = record();
        let m = release_message(
            "arn:aws:sns:us-east-1:123456789012:cordon-alerts",
            &r,
            "false positive: CI user",
            Some("arn:aws:iam::123456789012:user/alice"),
            &[(
                "iam:DetachUserPolicy user=service-x7k2qa policyArn=p".into(),
                "done".into(),
            )],
        );
        assert_eq!(m.subject, "cordon: released user service-x7k2qa");
        assert_eq!(
            m.text,
            "cordon released user service-x7k2qa from the quarantine of incident c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406.\n\n\
             Reason: false positive: CI user\n\
             Released by: arn:aws:iam::123456789012:user/alice\n\n\
             What was undone:\n\
             \x20 - iam:DetachUserPolicy user=service-x7k2qa policyArn=p: done\n\n\
             The console password of service-x7k2qa was deleted during the quarantine and cannot be restored: reset it if the user needs console access.\n"
        );
        assert_eq!(m.json["loginProfileMustBeReset"], true);
        assert_eq!(
            m.json["principal"],
            json!({"kind": "user", "name": "service-x7k2qa"})
        );
    }
}
