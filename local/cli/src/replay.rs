//! `cordon replay EVENT.json --dry-run`: what the response would do with an event, changing
//! nothing. The event is parsed, the subject looked up through the same read adapters the
//! enrich function uses (against the offline stack, or read-only against AWS with `--aws`),
//! classified against the policy and planned; the plan is printed as the exact API calls the
//! quarantine function would make, and never executed.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use cordon_core::{
    CaseFile, Classification, Enrichment, Incident, PlanTargets, PlannedAction, Policy,
    PrincipalRef, QuarantinePlan, Verdict, classify, parse_event, plan_quarantine_for,
};

/// The quarantine instance profile's name: the template's default (parameter
/// `QuarantineInstanceProfileName`), the same in every account.
const QUARANTINE_INSTANCE_PROFILE: &str = "cordon-quarantine-instance";
use serde_json::{Value, json};

use crate::audit::render::subject_label;
use crate::audit::style::Style;
use crate::audit::{TargetArgs, block_on};

#[derive(clap::Args)]
pub struct Args {
    /// The EventBridge event (JSON file), as EventBridge delivers it.
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    /// Required: replay only plans, it never changes anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The response policy [default: infra/policy.example.json].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Print the case file (incident, enrichment, classification, planned containment).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The API call a planned action makes, as `service:Action key=value ...`.
pub fn planned_calls(a: &PlannedAction) -> Vec<String> {
    match a {
        PlannedAction::AttachQuarantinePolicy { user, policy_arn } => {
            vec![format!("iam:AttachUserPolicy user={user} policyArn={policy_arn}")]
        }
        PlannedAction::TagQuarantined { principal, tags } => {
            let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let tags = tags.join(",");
            vec![match principal {
                PrincipalRef::User(u) => format!("iam:TagUser user={u} tags={tags}"),
                PrincipalRef::Role(r) => format!("iam:TagRole role={r} tags={tags}"),
            }]
        }
        PlannedAction::DeactivateAccessKey {
            user,
            access_key_id,
        } => vec![format!(
            "iam:UpdateAccessKey user={user} accessKeyId={access_key_id} status=Inactive"
        )],
        PlannedAction::DeleteLoginProfile { user } => {
            vec![format!("iam:DeleteLoginProfile user={user}")]
        }
        PlannedAction::RevokeSessions {
            principal,
            policy_name,
            before,
        } => {
            let before = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            vec![match principal {
                PrincipalRef::User(u) => format!(
                    "iam:PutUserPolicy user={u} policyName={policy_name} (deny all when aws:TokenIssueTime < {before})"
                ),
                PrincipalRef::Role(r) => format!(
                    "iam:PutRolePolicy role={r} policyName={policy_name} (deny all when aws:TokenIssueTime < {before})"
                ),
            }]
        }
        PlannedAction::EnforceImdsV2 {
            instance_id,
            hop_limit,
        } => vec![format!(
            "ec2:ModifyInstanceMetadataOptions instanceId={instance_id} httpTokens=required httpPutResponseHopLimit={hop_limit}"
        )],
        PlannedAction::SwapInstanceProfile {
            instance_id,
            from_profile_arn,
            to_profile_arn,
        } => vec![format!(
            "ec2:ReplaceIamInstanceProfileAssociation instanceId={instance_id} iamInstanceProfile={to_profile_arn} (was {from_profile_arn})"
        )],
        PlannedAction::NaclDenyIp {
            network_acl_id,
            cidr,
            rule_number,
        } => ["false", "true"]
            .iter()
            .map(|egress| {
                format!(
                    "ec2:CreateNetworkAclEntry networkAclId={network_acl_id} ruleNumber={rule_number} cidrBlock={cidr} ruleAction=deny egress={egress}"
                )
            })
            .collect(),
    }
}

/// What replay found, ready to print.
pub struct Replay {
    pub incident: Incident,
    pub enrichment: Enrichment,
    pub classification: Classification,
    /// The plan, or why no quarantine can be planned.
    pub plan: Result<QuarantinePlan, String>,
}

/// The case file of DESIGN.md, with the planned containment (never executed).
pub fn case_file(event: &Value, r: &Replay) -> Value {
    let mut case = serde_json::to_value(CaseFile {
        event: event.clone(),
        incident: Some(r.incident.clone()),
        enrichment: Some(r.enrichment.clone()),
        classification: Some(r.classification.clone()),
        ..CaseFile::default()
    })
    .unwrap_or(Value::Null);
    case["containment"] = match &r.plan {
        Ok(plan) => json!({
            "dryRun": true,
            "planned": plan.actions,
            "calls": plan.actions.iter().flat_map(planned_calls).collect::<Vec<_>>(),
            "skipped": plan.skipped,
        }),
        Err(why) => json!({"dryRun": true, "planned": [], "calls": [], "notPlanned": why}),
    };
    case
}

/// The text replay prints.
pub fn render(r: &Replay, st: &Style) -> String {
    let c = &r.classification;
    let mut o = format!(
        "{} {} ({}) — {}\n",
        st.bold("Incident"),
        r.incident.id,
        r.incident.kind,
        subject_label(&r.incident.subject)
    );
    match r.enrichment.scope.as_ref().filter(|s| !s.covered) {
        Some(scope) => {
            o += &format!(
                "  account {} is out of scope: nothing was looked up\n",
                scope.account
            )
        }
        None if !r.enrichment.exists => o += "  the subject does not exist (now)\n",
        None => {}
    }
    for e in &r.enrichment.lookup_errors {
        o += &format!("  lookup {} failed: {}\n", e.lookup, e.error);
    }
    if let (Some(b), Some(instance)) = (
        r.enrichment.blast_radius.as_ref(),
        cordon_core::instance::compromised_instance(&r.incident, &r.enrichment),
    ) {
        o += &format!(
            "{} {}\n",
            st.bold("Blast radius"),
            cordon_core::instance::blast_radius_sentence(b, &instance)
        );
    }
    o += &format!(
        "{} {}, severity {}, score {}{}\n",
        st.bold("Verdict"),
        st.bold(&format!("{:?}", c.verdict).to_lowercase()),
        format!("{:?}", c.severity).to_lowercase(),
        c.score,
        if c.protected {
            " (protected subject)"
        } else {
            ""
        }
    );
    let w = c.reasons.iter().map(|r| r.rule.len()).max().unwrap_or(0);
    for reason in &c.reasons {
        o += &format!(
            "  {:>+4}  {}  {}\n",
            reason.points,
            crate::audit::style::pad(&reason.rule, w),
            reason.detail
        );
    }
    let what = match c.verdict {
        Verdict::Quarantine => "the response would quarantine without asking",
        Verdict::Approve => "the response would ask an approver, then (if approved) quarantine",
        Verdict::Notify => "the response would only notify",
        Verdict::Ignore => "the response would do nothing",
    };
    o += &format!("  → {what}\n");
    match &r.plan {
        Ok(plan) => {
            o += &format!("{}\n", st.bold("Containment calls (planned, not made)"));
            for (i, call) in plan.actions.iter().flat_map(planned_calls).enumerate() {
                o += &format!("  {}. {call}\n", i + 1);
            }
            if !plan.skipped.is_empty() {
                o += &format!("{}\n", st.bold("Skipped"));
                for s in &plan.skipped {
                    o += &format!("  {} {}: {}\n", s.action, s.target, s.detail);
                }
            }
        }
        Err(why) => o += &format!("{} {why}\n", st.bold("No containment:")),
    }
    o += &st.dim("dry run: nothing was changed");
    o += "\n";
    o
}

/// Classify and plan (pure). The plan is the one an approval without a choice (or no approval
/// step) gives: the policy's blast-radius threshold decides the revocation.
pub fn decide(
    incident: Incident,
    enrichment: Enrichment,
    policy: &Policy,
    targets: &PlanTargets<'_>,
    now: DateTime<Utc>,
) -> Replay {
    let classification = classify(&incident, &enrichment, policy);
    let plan = plan_quarantine_for(&incident, &enrichment, policy, targets, now)
        .map_err(|e| e.to_string());
    Replay {
        incident,
        enrichment,
        classification,
        plan,
    }
}

pub fn run(args: Args) -> ExitCode {
    if !args.dry_run {
        eprintln!(
            "cordon replay: refusing to run without --dry-run: replay only ever plans (to respond for real, send the event: `cordon send EVENT.json`)"
        );
        return ExitCode::from(2);
    }
    block_on("replay", async move {
        let text = std::fs::read_to_string(&args.event)
            .map_err(|e| format!("cannot read {}: {e}", args.event.display()))?;
        let event: Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not JSON (line {}, column {}): {e}",
                args.event.display(),
                e.line(),
                e.column()
            )
        })?;
        let policy_path = crate::validate::locate(args.policy, crate::validate::DEFAULT_POLICY);
        let policy_text = std::fs::read_to_string(&policy_path)
            .map_err(|e| format!("cannot read the policy {}: {e}", policy_path.display()))?;
        let policy = Policy::from_json(&policy_text)
            .map_err(|e| format!("{}: {e}", policy_path.display()))?;
        let target = args.target.resolve().await?;
        let (home, region) = crate::release::stack_account_and_region(&target.state_machine_arn)?;
        // A Security Hub event may carry several findings: one incident each, as the intake
        // starts one response each.
        let events = cordon_core::parse::split_findings(&event);
        let mut cases = Vec::new();
        for (n, one) in events.iter().enumerate() {
            let which = if events.len() > 1 {
                format!(
                    "{} (finding {} of {})",
                    args.event.display(),
                    n + 1,
                    events.len()
                )
            } else {
                args.event.display().to_string()
            };
            let incident = parse_event(one).map_err(|e| format!("{which}: {e}"))?;
            let enrichment = enrich(&target, &home, &policy, &incident).await?;
            let qp = match &target.quarantine_policy_arn {
                Some(arn) if incident.account == home => arn.clone(),
                _ => cordon_aws::accounts::policy_arn(
                    &region,
                    &incident.account,
                    cordon_aws::config::DEFAULT_MEMBER_QUARANTINE_POLICY_NAME,
                ),
            };
            // The template's default name for the quarantine instance profile, in the
            // incident's account.
            let qip = cordon_aws::accounts::instance_profile_arn(
                &region,
                &incident.account,
                QUARANTINE_INSTANCE_PROFILE,
            );
            let targets = PlanTargets {
                quarantine_policy_arn: &qp,
                quarantine_instance_profile_arn: Some(&qip),
                approval: None,
            };
            let r = decide(incident, enrichment, &policy, &targets, Utc::now());
            if args.json {
                cases.push(case_file(one, &r));
            } else {
                if events.len() > 1 {
                    println!("# {which}");
                }
                print!("{}", render(&r, &Style::for_stdout()));
            }
        }
        if args.json {
            let out = match <[Value; 1]>::try_from(cases) {
                Ok([one]) => one,
                Err(many) => Value::Array(many),
            };
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The enrichment the enrich function would make: the incident's account in scope or not
/// (an offline stack with an organization is an organization deployment; any other target
/// is treated as single-account), and lookups only in that account.
#[cfg(not(test))]
async fn enrich(
    target: &crate::target::Target,
    home: &str,
    policy: &Policy,
    incident: &Incident,
) -> Result<Enrichment, String> {
    use cordon_core::Deployment;
    let deployment = match target.stack.as_ref().and_then(|f| f.organization.as_ref()) {
        Some(_) => Deployment::Organization {
            home: home.to_string(),
            member_role: cordon_aws::config::DEFAULT_MEMBER_ROLE_NAME.to_string(),
        },
        None => Deployment::SingleAccount {
            home: home.to_string(),
        },
    };
    let accounts = cordon_aws::AwsAccounts::new(deployment.clone(), &target.aws);
    let organization = cordon_aws::AwsOrganization::from_conf(&target.aws);
    cordon_core::enrich::gather_in_scope(
        &accounts,
        &organization,
        &deployment,
        Some(policy),
        incident,
    )
    .await
    .map_err(|e| format!("enrichment failed: {e}"))
}

#[cfg(test)]
async fn enrich(
    _: &crate::target::Target,
    _: &str,
    _: &Policy,
    _: &Incident,
) -> Result<Enrichment, String> {
    unreachable!("tests do not run replay against a stack")
}

#[cfg(test)]
mod tests;
