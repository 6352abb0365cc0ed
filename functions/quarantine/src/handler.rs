//! quarantine: contain the incident's subject, idempotently, and say exactly what was done.
//!
//! Nothing here trusts the earlier steps blindly: the approval is checked again, protection
//! is re-checked against the policy (with the case's enrichment *and* a fresh read of the
//! subject, since an approval may have waited an hour and the attacker may have made a new
//! key meanwhile), and the plan is made from the fresh read.

use chrono::{DateTime, SubsecRound, Utc};
use cordon_core::Deployment;
use cordon_core::plan::{ACT_CORRECT_RECORD, ACT_IMDS, ACT_NACL, ACT_SWAP, action_name_and_target};
use cordon_core::ports::{AccountError, Accounts, Change, Compute, IamRead, IamWrite, PortResult};
use cordon_core::record::tag_value;
use cordon_core::{
    ActionOutcome, ActionStatus, ApprovalDefault, CaseFile, Containment, Decision, Enrichment,
    Incident, KeyStatus, LoginProfile, PlanError, PlanTargets, PlannedAction, Policy, PortError,
    PrincipalRef, QuarantineRecord, Subject, Verdict, plan_quarantine_for,
    revocation_policy_document,
};

/// Read once at init. The policy is kept as an error when it cannot be read: every
/// invocation then fails closed (no automatic quarantine) instead of the function exiting.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quarantine_policy_arn: String,
    /// The quarantine instance profile in the account (`None`: none deployed, no swap).
    pub quarantine_instance_profile_arn: Option<String>,
    pub policy: Result<Policy, String>,
}

/// The deployment, read once at init: which accounts the function may act in, and the
/// deny-all policy in each.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub deployment: Deployment,
    /// The name `infra/member.yaml` gives the deny-all policy in member accounts.
    pub member_quarantine_policy_name: String,
    /// The quarantine instance profile's name, the same in every account (`None`: none).
    pub quarantine_instance_profile_name: Option<String>,
    /// The settings for the account the stack runs in.
    pub home: Settings,
}

impl Deployed {
    /// The settings for acting in `account` (`region` gives the partition).
    pub fn settings_for(&self, account: &str, region: &str) -> Settings {
        let quarantine_instance_profile_arn = self
            .quarantine_instance_profile_name
            .as_deref()
            .map(|name| cordon_aws::accounts::instance_profile_arn(region, account, name));
        if account == self.deployment.home() {
            return Settings {
                quarantine_instance_profile_arn,
                ..self.home.clone()
            };
        }
        Settings {
            quarantine_policy_arn: cordon_aws::accounts::policy_arn(
                region,
                account,
                &self.member_quarantine_policy_name,
            ),
            quarantine_instance_profile_arn,
            policy: self.home.policy.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("refusing to act: {0}")]
    OutOfScope(String),
    #[error("{0}")]
    MemberRoleUnavailable(AccountError),
    #[error("invalid state document: {0}")]
    InvalidInput(String),
    #[error("the response policy cannot be read, so nothing is quarantined automatically: {0}")]
    PolicyUnavailable(String),
    #[error("quarantine not approved: {0}")]
    NotApproved(String),
    #[error("refusing to quarantine a protected principal: {0}")]
    ProtectedPrincipal(String),
    #[error("refusing to act: the subject is the account root user; cordon never touches root")]
    RootSubject,
    #[error("nothing to quarantine: {0}")]
    NotAnIdentity(String),
    #[error("the subject no longer exists: nothing was changed")]
    SubjectNotFound,
    #[error("cannot plan the quarantine: {0}")]
    MissingFacts(String),
    #[error("re-reading the subject failed, nothing was changed: {0}")]
    LookupFailed(PortError),
    #[error("transient AWS failure before anything changed: {0}")]
    Transient(PortError),
    /// Some actions failed; the message carries every outcome (as JSON) so the failure alert
    /// shows what is half-done.
    #[error("{summary} Outcomes: {outcomes}")]
    ContainmentFailed { summary: String, outcomes: String },
}

impl QuarantineError {
    /// The `errorType` the state machine matches.
    pub fn error_type(&self) -> &'static str {
        match self {
            QuarantineError::OutOfScope(_) => "OutOfScope",
            QuarantineError::MemberRoleUnavailable(_) => "MemberRoleUnavailable",
            QuarantineError::InvalidInput(_) => "InvalidInput",
            QuarantineError::PolicyUnavailable(_) => "PolicyUnavailable",
            QuarantineError::NotApproved(_) => "NotApproved",
            QuarantineError::ProtectedPrincipal(_) => "ProtectedPrincipal",
            QuarantineError::RootSubject => "RootSubject",
            QuarantineError::NotAnIdentity(_) => "NotAnIdentity",
            QuarantineError::SubjectNotFound => "SubjectNotFound",
            QuarantineError::MissingFacts(_) => "MissingFacts",
            QuarantineError::LookupFailed(_) => "LookupFailed",
            QuarantineError::Transient(_) => "Transient",
            QuarantineError::ContainmentFailed { .. } => "ContainmentFailed",
        }
    }
}

impl From<PlanError> for QuarantineError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Protected(why) => QuarantineError::ProtectedPrincipal(why),
            PlanError::Root => QuarantineError::RootSubject,
            PlanError::NotAnIdentity(what) => QuarantineError::NotAnIdentity(what),
            PlanError::SubjectMissing => QuarantineError::SubjectNotFound,
            PlanError::OutOfScope(why) => QuarantineError::OutOfScope(why),
            PlanError::MissingFacts(what) => QuarantineError::MissingFacts(what),
        }
    }
}

fn read_error(e: PortError) -> QuarantineError {
    if e.is_transient() {
        QuarantineError::Transient(e)
    } else {
        QuarantineError::LookupFailed(e)
    }
}

impl From<AccountError> for QuarantineError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Transient { source, .. } => QuarantineError::Transient(source),
            AccountError::OutOfScope { .. } => QuarantineError::OutOfScope(e.to_string()),
            AccountError::MemberRoleUnavailable { .. } => QuarantineError::MemberRoleUnavailable(e),
        }
    }
}

/// Contain the incident's subject in the incident's account, with clients for that account.
/// The case file must say (from enrich) that this very account is covered; otherwise nothing
/// is touched anywhere.
pub async fn respond<A: Accounts>(
    accounts: &A,
    deployed: &Deployed,
    case: &CaseFile,
    now: DateTime<Utc>,
) -> Result<Containment, QuarantineError> {
    let incident = case
        .incident
        .as_ref()
        .ok_or_else(|| QuarantineError::InvalidInput("`incident` is missing".into()))?;
    let account = &incident.account;
    match case.enrichment.as_ref().and_then(|e| e.scope.as_ref()) {
        Some(scope) if scope.covered && &scope.account == account => {}
        Some(scope) if scope.covered => {
            return Err(QuarantineError::OutOfScope(format!(
                "enrichment.scope is about account {}, the incident about {account}",
                scope.account
            )));
        }
        Some(scope) => return Err(QuarantineError::OutOfScope(scope.detail.clone())),
        None => {
            return Err(QuarantineError::OutOfScope(format!(
                "the case file does not say whether account {account} is covered (enrichment.scope is missing)"
            )));
        }
    }
    let clients = accounts
        .open(account, &incident.region, &incident.id)
        .await?;
    let settings = deployed.settings_for(account, &incident.region);
    tracing::info!(incident_id = %incident.id, account = %clients.account, region = %clients.region, "containing in the incident's account");
    handle(&clients.iam, &clients.compute, &settings, case, now).await
}

pub async fn handle<I, C>(
    iam: &I,
    compute: &C,
    settings: &Settings,
    case: &CaseFile,
    now: DateTime<Utc>,
) -> Result<Containment, QuarantineError>
where
    I: IamRead + IamWrite,
    C: Compute,
{
    let policy = settings
        .policy
        .as_ref()
        .map_err(|e| QuarantineError::PolicyUnavailable(e.clone()))?;
    let incident = case
        .incident
        .as_ref()
        .ok_or_else(|| QuarantineError::InvalidInput("`incident` is missing".into()))?;
    authorized(case)?;
    match &incident.subject {
        Subject::Root { .. } => return Err(QuarantineError::RootSubject),
        Subject::Resource { resource_type, id } => {
            return Err(QuarantineError::NotAnIdentity(format!(
                "{resource_type} {id} is not an identity"
            )));
        }
        Subject::Principal { principal_type, .. } => {
            return Err(QuarantineError::NotAnIdentity(format!(
                "a principal of type {principal_type} cannot be contained"
            )));
        }
        _ => {}
    }
    if incident.is_sample() {
        return Err(QuarantineError::NotAnIdentity(
            "a GuardDuty sample finding names a placeholder, not a principal".into(),
        ));
    }
    // Protection, from what the earlier steps saw...
    if let Some(why) = policy.protection_in(
        &incident.account,
        &incident.subject,
        case.enrichment.as_ref(),
    ) {
        return Err(QuarantineError::ProtectedPrincipal(why));
    }
    if case.classification.as_ref().is_some_and(|c| c.protected) {
        return Err(QuarantineError::ProtectedPrincipal(
            "the classification marked the subject protected".into(),
        ));
    }
    // ...and from what is true now (plan_quarantine checks again on the fresh facts).
    let fresh = reread(iam, compute, policy, case, incident).await?;
    if let Some(why) = policy.protection_in(
        &incident.account,
        &incident.subject,
        Some(&fresh.enrichment),
    ) {
        return Err(QuarantineError::ProtectedPrincipal(why));
    }

    // A retry (or re-run) of the same incident reuses the first run's time, so the record
    // tags and the revocation policy come out identical and every action reports `already`.
    let now = fresh
        .enrichment
        .quarantine
        .as_ref()
        .filter(|r| r.incident_id == tag_value(&incident.id))
        .map(|r| r.quarantined_at)
        .unwrap_or_else(|| now.trunc_subsecs(0));
    let view = planning_view(fresh.enrichment.clone(), &settings.quarantine_policy_arn);
    let targets = PlanTargets {
        quarantine_policy_arn: &settings.quarantine_policy_arn,
        quarantine_instance_profile_arn: settings.quarantine_instance_profile_arn.as_deref(),
        approval: case.approval.as_ref(),
    };
    let plan = plan_quarantine_for(incident, &view, policy, &targets, now)?;
    let dry_run = policy.dry_run || case.classification.as_ref().is_some_and(|c| c.dry_run);
    tracing::info!(
        incident_id = %incident.id,
        dry_run,
        actions = plan.actions.len(),
        skipped = plan.skipped.len(),
        "planned quarantine"
    );

    let mut actions = Vec::new();
    let mut changed = false;
    let mut failed = 0usize;
    let mut failures: Vec<&PlannedAction> = Vec::new();
    let mut tagged = false;
    for action in &plan.actions {
        let (name, target) = action_name_and_target(action);
        if dry_run {
            actions.push(outcome(
                name,
                target,
                ActionStatus::Skipped,
                "dry run".into(),
            ));
            continue;
        }
        // Every action is independent of the ones before it in AWS, so one failure does not
        // stop the rest: an attacker is better half-contained than not at all.
        match execute(iam, compute, action).await {
            Ok((change, detail)) => {
                let status = match change {
                    Change::Done => {
                        changed = true;
                        ActionStatus::Done
                    }
                    Change::Already => ActionStatus::Already,
                };
                tracing::info!(incident_id = %incident.id, action = name, %target, ?status, "containment action");
                tagged |= matches!(action, PlannedAction::TagQuarantined { .. });
                actions.push(outcome(name, target, status, detail));
            }
            Err(e) if e.is_transient() && !changed && failed == 0 => {
                tracing::warn!(incident_id = %incident.id, action = name, %target, error = %e, "transient failure before any change");
                return Err(QuarantineError::Transient(e));
            }
            Err(e) => {
                tracing::error!(incident_id = %incident.id, action = name, %target, error = %e, "containment action failed");
                failed += 1;
                failures.push(action);
                actions.push(outcome(name, target, ActionStatus::Failed, e.to_string()));
            }
        }
    }
    // What was really done. The record tags went on before the actions that then failed:
    // they must not claim them.
    let record = if dry_run {
        None
    } else {
        plan.record_after(&failures, &view)
    };
    let mut uncorrected = false;
    if let Some(corrected) = record.as_ref().filter(|_| tagged && !failures.is_empty()) {
        let target = corrected.principal.name().to_string();
        let tags = corrected.correction_tags();
        let written = match &corrected.principal {
            PrincipalRef::User(n) => iam.tag_user(n, &tags).await,
            PrincipalRef::Role(n) => iam.tag_role(n, &tags).await,
        };
        match written {
            Ok(_) => actions.push(outcome(
                ACT_CORRECT_RECORD,
                target,
                ActionStatus::Done,
                "the record tags no longer claim the failed actions".into(),
            )),
            Err(e) => {
                tracing::error!(incident_id = %incident.id, error = %e, "correcting the quarantine record failed");
                actions.push(outcome(
                    ACT_CORRECT_RECORD,
                    target,
                    ActionStatus::Failed,
                    format!("the record tags still claim the failed actions: {e}"),
                ));
                uncorrected = true;
            }
        }
    }
    for s in &plan.skipped {
        let (status, detail) = match &fresh.instance_error {
            // Enabled by the policy but the instance could not be described: not done, and a
            // human must know.
            Some(e)
                if !dry_run
                    && is_instance_action(&s.action)
                    && s.detail.starts_with("no facts") =>
            {
                failed += 1;
                (
                    ActionStatus::Failed,
                    format!("could not describe the instance: {e}"),
                )
            }
            _ => (ActionStatus::Skipped, s.detail.clone()),
        };
        actions.push(ActionOutcome {
            action: s.action.clone(),
            target: s.target.clone(),
            status,
            detail,
        });
    }
    let containment = Containment {
        dry_run,
        actions,
        record,
    };
    if failed > 0 {
        let total = containment
            .actions
            .iter()
            .filter(|a| a.status != ActionStatus::Skipped && a.action != ACT_CORRECT_RECORD)
            .count();
        let record_note = if uncorrected {
            " The record tags could not be corrected and still claim the failed actions."
        } else {
            ""
        };
        return Err(QuarantineError::ContainmentFailed {
            summary: format!(
                "{failed} of {total} containment actions failed; the others were carried out, so the principal is partly quarantined.{record_note}"
            ),
            outcomes: serde_json::to_string(&containment).unwrap_or_default(),
        });
    }
    Ok(containment)
}

fn is_instance_action(action: &str) -> bool {
    action == ACT_IMDS || action == ACT_NACL || action == ACT_SWAP
}

fn outcome(action: &str, target: String, status: ActionStatus, detail: String) -> ActionOutcome {
    ActionOutcome {
        action: action.to_string(),
        target,
        status,
        detail,
    }
}

/// The state machine routes here only on a quarantine verdict, an approval, or a timeout
/// whose default is quarantine. Anything else is refused, a rejection above all.
fn authorized(case: &CaseFile) -> Result<(), QuarantineError> {
    let class = case
        .classification
        .as_ref()
        .ok_or_else(|| QuarantineError::InvalidInput("`classification` is missing".into()))?;
    match (&case.approval, class.verdict) {
        (Some(a), _) if a.decision == Decision::Rejected => {
            Err(QuarantineError::NotApproved(format!(
                "rejected by {}",
                a.approver.as_deref().unwrap_or("an approver")
            )))
        }
        (Some(a), _) if a.decision == Decision::Approved => Ok(()),
        (Some(a), _) if a.decision == Decision::TimedOut => match class.approval_default {
            ApprovalDefault::Quarantine => Ok(()),
            ApprovalDefault::Notify => Err(QuarantineError::NotApproved(
                "the approval timed out and the policy default is notify".into(),
            )),
        },
        (None, Verdict::Quarantine) => Ok(()),
        (_, v) => Err(QuarantineError::NotApproved(format!(
            "verdict {v:?} without an approval"
        ))),
    }
}

struct Fresh {
    enrichment: Enrichment,
    /// Describing the instance failed (not transiently); its actions are then reported failed.
    instance_error: Option<String>,
}

/// What is true about the subject now. Only the facts the plan needs are read (and only
/// with the IAM actions `permissions::actions_for("quarantine")` grants).
async fn reread<I: IamRead, C: Compute>(
    iam: &I,
    compute: &C,
    policy: &Policy,
    case: &CaseFile,
    incident: &Incident,
) -> Result<Fresh, QuarantineError> {
    let mut e = Enrichment::default();
    let mut instance_error = None;
    match &incident.subject {
        Subject::IamUser { name, .. } => {
            let (user, tags, attached, keys, profile) = tokio::join!(
                iam.user(name),
                iam.user_tags(name),
                iam.user_attached_policies(name),
                iam.access_keys(name),
                iam.login_profile(name),
            );
            if let Some(mut u) = user.map_err(read_error)? {
                let tags = tags.map_err(read_error)?;
                e.exists = true;
                e.quarantine = QuarantineRecord::from_tags(PrincipalRef::User(name.clone()), &tags);
                u.tags = tags;
                u.attached_policies = attached.map_err(read_error)?;
                u.access_keys = keys.map_err(read_error)?;
                u.login_profile = profile.map_err(read_error)?;
                e.user = Some(u);
            }
        }
        Subject::AssumedRole {
            role_name,
            instance_id,
            ..
        } => {
            let (role, tags) = tokio::join!(iam.role(role_name), iam.role_tags(role_name));
            if let Some(mut r) = role.map_err(read_error)? {
                let tags = tags.map_err(read_error)?;
                e.exists = true;
                e.quarantine =
                    QuarantineRecord::from_tags(PrincipalRef::Role(role_name.clone()), &tags);
                r.tags = tags;
                e.role = Some(r);
            }
            let c = &policy.containment;
            let instance_id = instance_id.clone().or_else(|| {
                case.enrichment
                    .as_ref()
                    .and_then(|e| e.instance.as_ref())
                    .map(|i| i.instance_id.clone())
            });
            // The blast radius the classification (and any approver) saw decides the
            // revocation; it is not re-counted here.
            e.blast_radius = case
                .enrichment
                .as_ref()
                .and_then(|e| e.blast_radius.clone());
            let wanted = c.enforce_imds_v2 || c.nacl_deny_remote_ip || c.swap_instance_profile;
            if let Some(id) = instance_id.filter(|_| wanted) {
                match compute.instance(&id).await {
                    Ok(i) => e.instance = i,
                    Err(err) if err.is_transient() => return Err(QuarantineError::Transient(err)),
                    Err(err) => {
                        tracing::warn!(instance_id = %id, error = %err, "cannot describe the instance");
                        instance_error = Some(err.to_string());
                    }
                }
            }
        }
        Subject::Root { .. } | Subject::Resource { .. } | Subject::Principal { .. } => {}
    }
    Ok(Fresh {
        enrichment: e,
        instance_error,
    })
}

/// The facts as the planner should see them: what cordon's own earlier record says it did
/// (same principal) is planned again, so the idempotent adapter reports `already` instead of
/// the planner skipping it as pre-existing (and dropping it from the record).
fn planning_view(mut e: Enrichment, quarantine_policy_arn: &str) -> Enrichment {
    let Some(prior) = e.quarantine.clone() else {
        return e;
    };
    if let (Some(user), PrincipalRef::User(who)) = (e.user.as_mut(), &prior.principal)
        && &user.name == who
    {
        if prior.attached_policy_arn.as_deref() == Some(quarantine_policy_arn) {
            user.attached_policies
                .retain(|p| p.arn != quarantine_policy_arn);
        }
        for key in &mut user.access_keys {
            if prior.deactivated_keys.contains(&key.id) {
                key.status = KeyStatus::Active;
            }
        }
        if prior.login_profile_deleted && user.login_profile.is_none() {
            user.login_profile = Some(LoginProfile {
                created_at: None,
                password_reset_required: false,
            });
        }
    }
    e
}

async fn execute<I: IamWrite, C: Compute>(
    iam: &I,
    compute: &C,
    action: &PlannedAction,
) -> PortResult<(Change, String)> {
    match action {
        PlannedAction::AttachQuarantinePolicy { user, policy_arn } => {
            let c = iam.attach_user_policy(user, policy_arn).await?;
            Ok((c, format!("{policy_arn} attached")))
        }
        PlannedAction::TagQuarantined { principal, tags } => {
            let c = match principal {
                PrincipalRef::User(name) => iam.tag_user(name, tags).await?,
                PrincipalRef::Role(name) => iam.tag_role(name, tags).await?,
            };
            let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
            Ok((c, format!("quarantine record in tags {}", keys.join(", "))))
        }
        PlannedAction::DeactivateAccessKey {
            user,
            access_key_id,
        } => {
            let c = iam
                .set_access_key_status(user, access_key_id, KeyStatus::Inactive)
                .await?;
            Ok((c, format!("access key of {user} inactive")))
        }
        PlannedAction::DeleteLoginProfile { user } => {
            let c = iam.delete_login_profile(user).await?;
            Ok((
                c,
                "console password deleted (it cannot be restored, only reset)".into(),
            ))
        }
        PlannedAction::RevokeSessions {
            principal,
            policy_name,
            before,
        } => {
            let document = revocation_policy_document(*before);
            let c = match principal {
                PrincipalRef::User(name) => {
                    iam.put_user_policy(name, policy_name, &document).await?
                }
                PrincipalRef::Role(name) => {
                    iam.put_role_policy(name, policy_name, &document).await?
                }
            };
            Ok((
                c,
                format!(
                    "inline policy {policy_name} denies sessions issued before {}",
                    before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ))
        }
        PlannedAction::EnforceImdsV2 {
            instance_id,
            hop_limit,
        } => {
            let c = compute
                .set_metadata_options(instance_id, "required", *hop_limit)
                .await?;
            Ok((
                c,
                format!("IMDSv2 required (HttpTokens=required, hop limit {hop_limit})"),
            ))
        }
        PlannedAction::SwapInstanceProfile {
            instance_id,
            from_profile_arn,
            to_profile_arn,
        } => {
            let c = compute
                .replace_instance_profile(instance_id, from_profile_arn, to_profile_arn)
                .await?;
            Ok((
                c,
                format!(
                    "instance profile {to_profile_arn} in place of {from_profile_arn}: the instance can no longer fetch the role's credentials (those already issued stay valid until revoked or expired)"
                ),
            ))
        }
        PlannedAction::NaclDenyIp {
            network_acl_id,
            cidr,
            rule_number,
        } => {
            let c = compute
                .nacl_deny(network_acl_id, cidr, *rule_number)
                .await?;
            Ok((
                c,
                format!("rule {rule_number} denies {cidr} inbound and outbound"),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
