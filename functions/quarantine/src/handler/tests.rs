use super::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cordon_core::ports::PortResult;
use cordon_core::{
    AccessKey, Approval, Classification, InstanceFacts, InstanceUse, PolicyRef, PortErrorKind,
    RoleFacts, Severity, Tags, UserFacts, parse_event,
};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const DENY_ARN: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine-deny-all";
const CREATE_USER: &str = "cloudtrail-create-user-suspicious-name-no-mfa-cli.json";
const CREATE_USER_ID: &str = "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406";
const USER: &str = "service-x7k2qa";
const GUARDDUTY: &str = "guardduty-instance-credential-exfiltration-outside-aws.json";
const ROLE: &str = "web-app-role";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/events/{name}",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The example policy, with `edit` applied to its JSON.
fn policy_with(edit: impl FnOnce(&mut Value)) -> Policy {
    let path = format!(
        "{}/../../infra/policy.example.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    Policy::from_json(&v.to_string()).unwrap()
}

fn settings(policy: Policy) -> Settings {
    Settings {
        quarantine_policy_arn: DENY_ARN.into(),
        quarantine_instance_profile_arn: None,
        policy: Ok(policy),
    }
}

const INSTANCE: &str = "i-0a1b2c3d4e5f60718";
const WEB_PROFILE: &str = "arn:aws:iam::123456789012:instance-profile/web-app";
const QUARANTINE_PROFILE: &str =
    "arn:aws:iam::123456789012:instance-profile/cordon-quarantine-instance";

/// `web-app-role` on the compromised instance and `others` more running instances.
fn blast_radius(others: usize) -> cordon_core::BlastRadius {
    let used = (0..=others)
        .map(|n| cordon_core::InstanceUse {
            instance_id: if n == 0 {
                INSTANCE.to_string()
            } else {
                format!("i-{n:017}")
            },
            state: Some("running".into()),
            instance_profile_arn: Some(WEB_PROFILE.into()),
            ..Default::default()
        })
        .collect();
    cordon_core::enrich::blast_radius(ROLE, "us-east-1", vec![WEB_PROFILE.into()], used, INSTANCE)
}

fn classification(verdict: Verdict) -> Classification {
    Classification {
        policy_version: None,
        verdict,
        severity: Severity::High,
        score: 90,
        reasons: vec![],
        protected: false,
        duplicate_of: None,
        approval_timeout_seconds: 3600,
        approval_default: ApprovalDefault::Quarantine,
        dry_run: false,
    }
}

/// The case as Quarantine receives it (verdict quarantine, no approval step).
fn case(fixture_name: &str) -> CaseFile {
    let event = fixture(fixture_name);
    let incident = parse_event(&event).unwrap();
    // An instance role used by the compromised instance alone (what enrich finds).
    let blast_radius = (fixture_name == GUARDDUTY).then(|| blast_radius(0));
    CaseFile {
        event,
        incident: Some(incident),
        enrichment: Some(Enrichment {
            exists: true,
            blast_radius,
            ..Default::default()
        }),
        classification: Some(classification(Verdict::Quarantine)),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory IAM and EC2
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq)]
struct FakeUser {
    attached: Vec<String>,
    tags: Tags,
    keys: Vec<(String, KeyStatus)>,
    login_profile: bool,
    inline: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct FakeRole {
    tags: Tags,
    inline: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
struct FakeInstance {
    tokens: String,
    hops: i32,
    profile: Option<String>,
}

impl FakeInstance {
    fn with_tokens(tokens: &str) -> FakeInstance {
        FakeInstance {
            tokens: tokens.into(),
            hops: 2,
            profile: Some(WEB_PROFILE.into()),
        }
    }
}

#[derive(Default)]
struct FakeAws {
    users: Mutex<BTreeMap<String, FakeUser>>,
    roles: Mutex<BTreeMap<String, FakeRole>>,
    instances: Mutex<BTreeMap<String, FakeInstance>>,
    /// operation → the error it returns
    fail: Mutex<BTreeMap<&'static str, PortError>>,
    /// operation → how many calls succeed before it starts failing
    fail_after: Mutex<BTreeMap<&'static str, usize>>,
    writes: Mutex<Vec<String>>,
}

impl FakeAws {
    fn with_user(name: &str, user: FakeUser) -> FakeAws {
        let f = FakeAws::default();
        f.users.lock().unwrap().insert(name.into(), user);
        f
    }
    fn fail(&self, op: &'static str, kind: PortErrorKind) {
        self.fail
            .lock()
            .unwrap()
            .insert(op, PortError::new(kind, op, "injected"));
    }
    /// `op` succeeds `ok` times, then fails with `kind`.
    fn fail_after(&self, op: &'static str, ok: usize, kind: PortErrorKind) {
        self.fail_after.lock().unwrap().insert(op, ok);
        self.fail(op, kind);
    }
    fn check(&self, op: &'static str) -> PortResult<()> {
        if let Some(ok) = self.fail_after.lock().unwrap().get_mut(op)
            && *ok > 0
        {
            *ok -= 1;
            return Ok(());
        }
        match self.fail.lock().unwrap().get(op) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
    fn user(&self, name: &str) -> FakeUser {
        self.users.lock().unwrap()[name].clone()
    }
    fn write(&self, op: &'static str, target: &str) -> PortResult<()> {
        self.check(op)?;
        self.writes.lock().unwrap().push(format!("{op} {target}"));
        Ok(())
    }
    fn change(changed: bool) -> Change {
        if changed {
            Change::Done
        } else {
            Change::Already
        }
    }
}

fn not_found(op: &str, what: &str) -> PortError {
    PortError::new(
        PortErrorKind::NotFound,
        op,
        format!("{what} does not exist"),
    )
}

#[async_trait]
impl IamRead for FakeAws {
    async fn user(&self, name: &str) -> PortResult<Option<UserFacts>> {
        self.check("iam:GetUser")?;
        Ok(self.users.lock().unwrap().get(name).map(|_| UserFacts {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            user_id: "AIDAEXAMPLE".into(),
            path: "/".into(),
            ..Default::default()
        }))
    }
    async fn user_tags(&self, name: &str) -> PortResult<Tags> {
        self.check("iam:ListUserTags")?;
        Ok(self
            .users
            .lock()
            .unwrap()
            .get(name)
            .map(|u| u.tags.clone())
            .unwrap_or_default())
    }
    async fn user_attached_policies(&self, name: &str) -> PortResult<Vec<PolicyRef>> {
        self.check("iam:ListAttachedUserPolicies")?;
        let users = self.users.lock().unwrap();
        Ok(users
            .get(name)
            .map(|u| {
                u.attached
                    .iter()
                    .map(|a| PolicyRef {
                        name: a.rsplit('/').next().unwrap().into(),
                        arn: a.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
    async fn user_inline_policies(&self, _: &str) -> PortResult<Vec<String>> {
        unreachable!(
            "quarantine does not list inline policies (iam:ListUserPolicies is not granted)"
        )
    }
    async fn user_groups(&self, _: &str) -> PortResult<Vec<String>> {
        unreachable!("iam:ListGroupsForUser is not granted to quarantine")
    }
    async fn access_keys(&self, name: &str) -> PortResult<Vec<AccessKey>> {
        self.check("iam:ListAccessKeys")?;
        let users = self.users.lock().unwrap();
        Ok(users
            .get(name)
            .map(|u| {
                u.keys
                    .iter()
                    .map(|(id, status)| AccessKey {
                        id: id.clone(),
                        status: *status,
                        created_at: None,
                        last_used_at: None,
                        last_used_service: None,
                        last_used_region: None,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
    async fn login_profile(&self, name: &str) -> PortResult<Option<LoginProfile>> {
        self.check("iam:GetLoginProfile")?;
        let users = self.users.lock().unwrap();
        Ok(users
            .get(name)
            .filter(|u| u.login_profile)
            .map(|_| LoginProfile {
                created_at: None,
                password_reset_required: false,
            }))
    }
    async fn mfa_devices(&self, _: &str) -> PortResult<Vec<String>> {
        unreachable!("iam:ListMFADevices is not granted to quarantine")
    }
    async fn role(&self, name: &str) -> PortResult<Option<RoleFacts>> {
        self.check("iam:GetRole")?;
        Ok(self.roles.lock().unwrap().get(name).map(|_| RoleFacts {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
            role_id: "AROAEXAMPLE".into(),
            path: "/".into(),
            ..Default::default()
        }))
    }
    async fn role_tags(&self, name: &str) -> PortResult<Tags> {
        self.check("iam:ListRoleTags")?;
        Ok(self
            .roles
            .lock()
            .unwrap()
            .get(name)
            .map(|r| r.tags.clone())
            .unwrap_or_default())
    }
    async fn role_attached_policies(&self, _: &str) -> PortResult<Vec<PolicyRef>> {
        unreachable!("iam:ListAttachedRolePolicies is not granted to quarantine")
    }
    async fn role_inline_policies(&self, _: &str) -> PortResult<Vec<String>> {
        unreachable!("iam:ListRolePolicies is not granted to quarantine")
    }
    async fn role_inline_policy(&self, role: &str, name: &str) -> PortResult<Option<Value>> {
        self.check("iam:GetRolePolicy")?;
        Ok(self
            .roles
            .lock()
            .unwrap()
            .get(role)
            .and_then(|r| r.inline.get(name).cloned()))
    }
    async fn instance_profiles_for_role(&self, _: &str) -> PortResult<Vec<String>> {
        unreachable!("iam:ListInstanceProfilesForRole is enrich's, not quarantine's")
    }
}

#[async_trait]
impl IamWrite for FakeAws {
    async fn attach_user_policy(&self, user: &str, arn: &str) -> PortResult<Change> {
        self.write("iam:AttachUserPolicy", user)?;
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or_else(|| not_found("iam:AttachUserPolicy", user))?;
        let changed = !u.attached.iter().any(|a| a == arn);
        if changed {
            u.attached.push(arn.into());
        }
        Ok(Self::change(changed))
    }
    async fn detach_user_policy(&self, _: &str, _: &str) -> PortResult<Change> {
        unreachable!()
    }
    async fn tag_user(&self, user: &str, tags: &Tags) -> PortResult<Change> {
        self.write("iam:TagUser", user)?;
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or_else(|| not_found("iam:TagUser", user))?;
        let changed = tags.iter().any(|(k, v)| u.tags.get(k) != Some(v));
        u.tags.extend(tags.clone());
        Ok(Self::change(changed))
    }
    async fn untag_user(&self, _: &str, _: &[String]) -> PortResult<Change> {
        unreachable!()
    }
    async fn tag_role(&self, role: &str, tags: &Tags) -> PortResult<Change> {
        self.write("iam:TagRole", role)?;
        let mut roles = self.roles.lock().unwrap();
        let r = roles
            .get_mut(role)
            .ok_or_else(|| not_found("iam:TagRole", role))?;
        let changed = tags.iter().any(|(k, v)| r.tags.get(k) != Some(v));
        r.tags.extend(tags.clone());
        Ok(Self::change(changed))
    }
    async fn untag_role(&self, _: &str, _: &[String]) -> PortResult<Change> {
        unreachable!()
    }
    async fn set_access_key_status(
        &self,
        user: &str,
        key: &str,
        status: KeyStatus,
    ) -> PortResult<Change> {
        self.write("iam:UpdateAccessKey", key)?;
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or_else(|| not_found("iam:UpdateAccessKey", user))?;
        let k = u
            .keys
            .iter_mut()
            .find(|(id, _)| id == key)
            .ok_or_else(|| not_found("iam:UpdateAccessKey", key))?;
        let changed = k.1 != status;
        k.1 = status;
        Ok(Self::change(changed))
    }
    async fn delete_login_profile(&self, user: &str) -> PortResult<Change> {
        self.write("iam:DeleteLoginProfile", user)?;
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or_else(|| not_found("iam:DeleteLoginProfile", user))?;
        let changed = u.login_profile;
        u.login_profile = false;
        Ok(Self::change(changed))
    }
    async fn put_user_policy(&self, user: &str, name: &str, doc: &Value) -> PortResult<Change> {
        self.write("iam:PutUserPolicy", user)?;
        let mut users = self.users.lock().unwrap();
        let u = users
            .get_mut(user)
            .ok_or_else(|| not_found("iam:PutUserPolicy", user))?;
        let changed = u.inline.get(name) != Some(doc);
        u.inline.insert(name.into(), doc.clone());
        Ok(Self::change(changed))
    }
    async fn delete_user_policy(&self, _: &str, _: &str) -> PortResult<Change> {
        unreachable!()
    }
    async fn put_role_policy(&self, role: &str, name: &str, doc: &Value) -> PortResult<Change> {
        self.write("iam:PutRolePolicy", role)?;
        let mut roles = self.roles.lock().unwrap();
        let r = roles
            .get_mut(role)
            .ok_or_else(|| not_found("iam:PutRolePolicy", role))?;
        let changed = r.inline.get(name) != Some(doc);
        r.inline.insert(name.into(), doc.clone());
        Ok(Self::change(changed))
    }
    async fn delete_role_policy(&self, _: &str, _: &str) -> PortResult<Change> {
        unreachable!()
    }
}

#[async_trait]
impl Compute for FakeAws {
    async fn instance(&self, id: &str) -> PortResult<Option<InstanceFacts>> {
        self.check("ec2:DescribeInstances")?;
        Ok(self
            .instances
            .lock()
            .unwrap()
            .get(id)
            .map(|i| InstanceFacts {
                instance_id: id.into(),
                metadata_http_tokens: Some(i.tokens.clone()),
                metadata_hop_limit: Some(i.hops),
                instance_profile_arn: i.profile.clone(),
                ..Default::default()
            }))
    }
    async fn instances_using_profiles(&self, _: &[String]) -> PortResult<Vec<InstanceUse>> {
        unreachable!("quarantine does not count instances: the case's blast radius decides")
    }
    async fn set_metadata_options(&self, id: &str, tokens: &str, hops: i32) -> PortResult<Change> {
        self.write("ec2:ModifyInstanceMetadataOptions", id)?;
        let mut instances = self.instances.lock().unwrap();
        let i = instances
            .get_mut(id)
            .ok_or_else(|| not_found("ec2:ModifyInstanceMetadataOptions", id))?;
        let changed = i.tokens != tokens || i.hops != hops;
        i.tokens = tokens.into();
        i.hops = hops;
        Ok(Self::change(changed))
    }
    async fn replace_instance_profile(&self, id: &str, from: &str, to: &str) -> PortResult<Change> {
        self.write("ec2:ReplaceIamInstanceProfileAssociation", id)?;
        let mut instances = self.instances.lock().unwrap();
        let i = instances
            .get_mut(id)
            .ok_or_else(|| not_found("ec2:ReplaceIamInstanceProfileAssociation", id))?;
        match i.profile.as_deref() {
            Some(p) if p == to => Ok(Change::Already),
            Some(p) if p == from => {
                i.profile = Some(to.into());
                Ok(Change::Done)
            }
            other => Err(PortError::new(
                PortErrorKind::Invalid,
                "ec2:ReplaceIamInstanceProfileAssociation",
                format!("{id} has instance profile {other:?}, not {from}: not replaced"),
            )),
        }
    }
    async fn nacl_deny(&self, _: &str, _: &str, _: i32) -> PortResult<Change> {
        unreachable!("NACL deny is off in these tests")
    }
    async fn nacl_remove(&self, _: &str, _: i32) -> PortResult<Change> {
        unreachable!()
    }
}

fn fresh_user() -> FakeUser {
    FakeUser {
        keys: vec![
            ("AKIAACTIVE0000000001".into(), KeyStatus::Active),
            ("AKIAINACTIVE00000002".into(), KeyStatus::Inactive),
        ],
        login_profile: true,
        ..Default::default()
    }
}

fn statuses(c: &Containment) -> Vec<(String, String, ActionStatus)> {
    c.actions
        .iter()
        .map(|a| (a.action.clone(), a.target.clone(), a.status))
        .collect()
}

fn row(action: &str, target: &str, status: ActionStatus) -> (String, String, ActionStatus) {
    (action.into(), target.into(), status)
}

const NOW: &str = "2026-03-14T03:00:00.123456Z";

fn user_rows(main: ActionStatus) -> Vec<(String, String, ActionStatus)> {
    use ActionStatus::*;
    vec![
        row("attach-quarantine-policy", USER, main),
        row("tag-quarantined", USER, main),
        row("deactivate-access-key", "AKIAACTIVE0000000001", main),
        row("delete-login-profile", USER, main),
        row("revoke-sessions", USER, main),
        row("deactivate-access-key", "AKIAINACTIVE00000002", Skipped),
        row("enforce-imds-v2", USER, Skipped),
        row("nacl-deny-ip", USER, Skipped),
    ]
}

#[tokio::test]
async fn a_user_is_quarantined_exactly_then_a_rerun_changes_nothing() {
    let aws = FakeAws::with_user(USER, fresh_user());
    let s = settings(policy_with(|_| {}));
    let c = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap();
    assert!(!c.dry_run);
    assert_eq!(statuses(&c), user_rows(ActionStatus::Done));
    let record = c.record.clone().unwrap();
    assert_eq!(record.incident_id, CREATE_USER_ID);
    assert_eq!(record.principal, PrincipalRef::User(USER.into()));
    assert_eq!(record.quarantined_at, t("2026-03-14T03:00:00Z"));
    assert_eq!(record.attached_policy_arn.as_deref(), Some(DENY_ARN));
    assert_eq!(
        record.deactivated_keys,
        vec!["AKIAACTIVE0000000001".to_string()]
    );
    assert!(record.login_profile_deleted);
    assert_eq!(
        record.revocation_policy.as_deref(),
        Some("cordon-revoke-sessions")
    );

    let u = aws.user(USER);
    assert_eq!(u.attached, vec![DENY_ARN.to_string()]);
    assert_eq!(u.tags, record.to_tags());
    assert_eq!(u.tags["SecurityStatus"], "Quarantined");
    assert_eq!(u.tags["QuarantineTime"], "2026-03-14T03:00:00Z");
    assert_eq!(u.tags["CordonDeactivatedKeys"], "AKIAACTIVE0000000001");
    assert_eq!(
        u.keys,
        vec![
            ("AKIAACTIVE0000000001".to_string(), KeyStatus::Inactive),
            ("AKIAINACTIVE00000002".to_string(), KeyStatus::Inactive),
        ]
    );
    assert!(!u.login_profile);
    assert_eq!(
        u.inline["cordon-revoke-sessions"],
        revocation_policy_document(t("2026-03-14T03:00:00Z"))
    );

    // The state machine retries / an operator re-runs: later, same incident.
    let again = handle(
        &aws,
        &aws,
        &s,
        &case(CREATE_USER),
        t("2026-03-14T03:05:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(statuses(&again), user_rows(ActionStatus::Already));
    assert_eq!(again.record, c.record);
    assert_eq!(aws.user(USER), u);
}

#[tokio::test]
async fn dry_run_reports_every_action_skipped_and_changes_nothing() {
    for (policy_dry, class_dry) in [(true, false), (false, true)] {
        let aws = FakeAws::with_user(USER, fresh_user());
        let s = settings(policy_with(|p| p["dryRun"] = policy_dry.into()));
        let mut input = case(CREATE_USER);
        input.classification.as_mut().unwrap().dry_run = class_dry;
        let c = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap();
        assert!(c.dry_run);
        assert_eq!(statuses(&c), user_rows(ActionStatus::Skipped));
        assert!(c.actions[..5].iter().all(|a| a.detail == "dry run"));
        assert_eq!(c.record, None);
        assert_eq!(aws.user(USER), fresh_user());
        assert!(aws.writes.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_failure_midway_keeps_going_and_reports_every_outcome() {
    let aws = FakeAws::with_user(USER, fresh_user());
    aws.fail("iam:UpdateAccessKey", PortErrorKind::AccessDenied);
    let s = settings(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ContainmentFailed");
    let msg = err.to_string();
    let (sentence, json) = msg.split_once(" Outcomes: ").unwrap();
    assert_eq!(
        sentence,
        "1 of 5 containment actions failed; the others were carried out, so the principal is partly quarantined."
    );
    let reported: Containment = serde_json::from_str(json).unwrap();
    use ActionStatus::*;
    let mut expected = user_rows(Done);
    expected[2].2 = Failed;
    expected.insert(5, row("correct-quarantine-record", USER, Done));
    assert_eq!(statuses(&reported), expected);
    assert_eq!(
        reported.actions[2].detail,
        "iam:UpdateAccessKey failed (AccessDenied): injected"
    );
    // What could be done was done.
    let u = aws.user(USER);
    assert_eq!(u.attached, vec![DENY_ARN.to_string()]);
    assert!(!u.login_profile);
    assert!(u.inline.contains_key("cordon-revoke-sessions"));
    assert_eq!(u.keys[0].1, KeyStatus::Active);
    // The record (reported and in the tags) claims what was done, not the failed key, so
    // release will not "reactivate" a key cordon never deactivated.
    let record = reported.record.unwrap();
    assert!(record.deactivated_keys.is_empty());
    assert_eq!(record.attached_policy_arn.as_deref(), Some(DENY_ARN));
    assert!(record.login_profile_deleted);
    assert_eq!(
        record.revocation_policy.as_deref(),
        Some("cordon-revoke-sessions")
    );
    assert_eq!(u.tags["CordonDeactivatedKeys"], "");
    assert_eq!(
        QuarantineRecord::from_tags(PrincipalRef::User(USER.into()), &u.tags),
        Some(record)
    );
}

#[tokio::test]
async fn a_record_that_cannot_be_corrected_is_reported() {
    let aws = FakeAws::with_user(USER, fresh_user());
    aws.fail("iam:DeleteLoginProfile", PortErrorKind::AccessDenied);
    // The first TagUser (the record) succeeds, the correction fails.
    aws.fail_after("iam:TagUser", 1, PortErrorKind::AccessDenied);
    let s = settings(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    let msg = err.to_string();
    let (sentence, json) = msg.split_once(" Outcomes: ").unwrap();
    assert_eq!(
        sentence,
        "1 of 5 containment actions failed; the others were carried out, so the principal is partly quarantined. The record tags could not be corrected and still claim the failed actions."
    );
    let reported: Containment = serde_json::from_str(json).unwrap();
    let correction = &reported.actions[5];
    assert_eq!(
        (correction.action.as_str(), correction.status),
        ("correct-quarantine-record", ActionStatus::Failed)
    );
    // The reported record is the truth even though the tags could not say it.
    assert!(!reported.record.unwrap().login_profile_deleted);
    assert_eq!(aws.user(USER).tags["CordonLoginProfileDeleted"], "true");
}

#[tokio::test]
async fn a_transient_failure_before_any_change_is_retried_by_the_state_machine() {
    let aws = FakeAws::with_user(USER, fresh_user());
    aws.fail("iam:AttachUserPolicy", PortErrorKind::Transient);
    let s = settings(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Transient");
    assert_eq!(aws.user(USER), fresh_user());

    // A transient re-read is also retried, before anything changed.
    let aws = FakeAws::with_user(USER, fresh_user());
    aws.fail("iam:ListAccessKeys", PortErrorKind::Transient);
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Transient");
    assert!(aws.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_transient_failure_after_a_change_is_containment_failed() {
    let aws = FakeAws::with_user(USER, fresh_user());
    aws.fail("iam:DeleteLoginProfile", PortErrorKind::Transient);
    let s = settings(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ContainmentFailed");
    assert!(aws.user(USER).inline.contains_key("cordon-revoke-sessions"));
}

#[tokio::test]
async fn a_protected_principal_is_never_touched_whatever_the_classification_says() {
    let aws = FakeAws::with_user("break-glass-1", fresh_user());
    let s = settings(policy_with(|_| {}));
    let mut input = case(CREATE_USER);
    if let Some(Subject::IamUser { name, arn, .. }) =
        input.incident.as_mut().map(|i| &mut i.subject)
    {
        *name = "break-glass-1".into();
        *arn = None;
    }
    let err = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap_err();
    assert_eq!(err.error_type(), "ProtectedPrincipal");
    assert!(err.to_string().contains("break-glass-*"), "{err}");
    assert!(aws.writes.lock().unwrap().is_empty());

    // Protected by what is true now (the fresh ARN), not only by name.
    let aws = FakeAws::with_user(USER, fresh_user());
    let s = settings(policy_with(|p| {
        p["protected"]["arns"] = serde_json::json!([format!("arn:aws:iam::*:user/{USER}")])
    }));
    let err = handle(&aws, &aws, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ProtectedPrincipal");
    assert!(aws.writes.lock().unwrap().is_empty());

    // The classification said protected: refused too.
    let mut input = case(CREATE_USER);
    input.classification.as_mut().unwrap().protected = true;
    let s = settings(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap_err();
    assert_eq!(err.error_type(), "ProtectedPrincipal");
    assert!(aws.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refusals_root_rejection_timeout_to_notify_missing_policy_and_vanished_user() {
    let s = settings(policy_with(|_| {}));
    let aws = FakeAws::with_user(USER, fresh_user());

    let root = case("guardduty-root-credential-usage.json");
    let err = handle(&aws, &aws, &s, &root, t(NOW)).await.unwrap_err();
    assert_eq!(err.error_type(), "RootSubject");

    let mut rejected = case(CREATE_USER);
    rejected.classification.as_mut().unwrap().verdict = Verdict::Approve;
    rejected.approval = Some(Approval {
        decision: Decision::Rejected,
        approver: Some("arn:aws:sts::123456789012:assumed-role/responder/alice".into()),
        verified: true,
        reason: "expected user".into(),
        decided_at: t(NOW),
        revoke_role_sessions: None,
    });
    let err = handle(&aws, &aws, &s, &rejected, t(NOW)).await.unwrap_err();
    assert_eq!(err.error_type(), "NotApproved");

    let mut timed_out = rejected.clone();
    timed_out.approval.as_mut().unwrap().decision = Decision::TimedOut;
    timed_out.classification.as_mut().unwrap().approval_default = ApprovalDefault::Notify;
    let err = handle(&aws, &aws, &s, &timed_out, t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotApproved");

    let mut undecided = case(CREATE_USER);
    undecided.classification.as_mut().unwrap().verdict = Verdict::Approve;
    let err = handle(&aws, &aws, &s, &undecided, t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotApproved");
    assert!(aws.writes.lock().unwrap().is_empty());

    let no_policy = Settings {
        quarantine_instance_profile_arn: None,
        quarantine_policy_arn: DENY_ARN.into(),
        policy: Err("CORDON_POLICY is not set".into()),
    };
    let err = handle(&aws, &aws, &no_policy, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "PolicyUnavailable");
    assert!(err.to_string().contains("CORDON_POLICY"));

    let gone = FakeAws::default();
    let err = handle(&gone, &gone, &s, &case(CREATE_USER), t(NOW))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "SubjectNotFound");
    assert!(aws.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_approved_role_gets_the_revocation_policy_and_imds_v2_only_when_enabled() {
    for imds in [false, true] {
        let aws = FakeAws::default();
        aws.roles
            .lock()
            .unwrap()
            .insert(ROLE.into(), FakeRole::default());
        aws.instances
            .lock()
            .unwrap()
            .insert(INSTANCE.into(), FakeInstance::with_tokens("optional"));
        let s = settings(policy_with(|p| {
            p["containment"]["enforceImdsV2"] = imds.into()
        }));
        let mut input = case(GUARDDUTY);
        input.classification.as_mut().unwrap().verdict = Verdict::Approve;
        input.approval = Some(Approval {
            decision: Decision::Approved,
            approver: Some("arn:aws:sts::123456789012:assumed-role/responder/alice".into()),
            verified: true,
            reason: String::new(),
            decided_at: t(NOW),
            revoke_role_sessions: None,
        });
        let c = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap();
        let done: Vec<_> = c
            .actions
            .iter()
            .filter(|a| a.status == ActionStatus::Done)
            .map(|a| (a.action.as_str(), a.target.as_str()))
            .collect();
        let mut expected = vec![("tag-quarantined", ROLE), ("revoke-sessions", ROLE)];
        if imds {
            expected.push(("enforce-imds-v2", "i-0a1b2c3d4e5f60718"));
        }
        assert_eq!(done, expected);
        let role = aws.roles.lock().unwrap()[ROLE].clone();
        assert_eq!(
            role.inline["cordon-revoke-sessions"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-03-14T03:00:00Z"
        );
        assert_eq!(role.tags["SecurityStatus"], "Quarantined");
        let tokens = aws.instances.lock().unwrap()[INSTANCE].tokens.clone();
        assert_eq!(tokens, if imds { "required" } else { "optional" });
        assert_eq!(
            c.record.unwrap().imdsv2_enforced_on.as_deref(),
            imds.then_some("i-0a1b2c3d4e5f60718")
        );
    }
}

/// The actions that did something (or found it done): (action, target, status).
fn acted(c: &Containment) -> Vec<(&str, &str, ActionStatus)> {
    c.actions
        .iter()
        .filter(|a| a.status != ActionStatus::Skipped)
        .map(|a| (a.action.as_str(), a.target.as_str(), a.status))
        .collect()
}

/// The exfiltration case with `others` more instances on the role, and the fake's instance.
fn shared_role_case(others: usize) -> (FakeAws, CaseFile) {
    let aws = FakeAws::default();
    aws.roles
        .lock()
        .unwrap()
        .insert(ROLE.into(), FakeRole::default());
    aws.instances
        .lock()
        .unwrap()
        .insert(INSTANCE.into(), FakeInstance::with_tokens("optional"));
    let mut input = case(GUARDDUTY);
    input.enrichment.as_mut().unwrap().blast_radius = Some(blast_radius(others));
    (aws, input)
}

fn with_profile(policy: Policy) -> Settings {
    Settings {
        quarantine_instance_profile_arn: Some(QUARANTINE_PROFILE.into()),
        ..settings(policy)
    }
}

#[tokio::test]
async fn a_shared_role_loses_one_instance_profile_and_keeps_its_sessions() {
    let (aws, input) = shared_role_case(2);
    let s = with_profile(policy_with(|p| {
        p["containment"]["enforceImdsV2"] = true.into();
        p["containment"]["revokeRoleSessionsMaxOtherInstances"] = 1.into();
    }));
    let c = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap();
    use ActionStatus::*;
    assert_eq!(
        acted(&c),
        vec![
            ("tag-quarantined", ROLE, Done),
            ("swap-instance-profile", INSTANCE, Done),
            ("enforce-imds-v2", INSTANCE, Done),
        ]
    );
    assert_eq!(
        aws.instances.lock().unwrap()[INSTANCE],
        FakeInstance {
            tokens: "required".into(),
            hops: 1,
            profile: Some(QUARANTINE_PROFILE.into())
        }
    );
    assert!(
        aws.roles.lock().unwrap()[ROLE].inline.is_empty(),
        "no revocation"
    );
    let record = c.record.unwrap();
    assert_eq!(
        record.imds_before.as_deref(),
        Some("httpTokens=optional hopLimit=2")
    );
    assert_eq!(
        record.profile_swap,
        Some(format!("{INSTANCE} {WEB_PROFILE} {QUARANTINE_PROFILE}"))
    );

    // The approver chose the revocation: now the role's sessions go too; the rest is already.
    let mut approved = input.clone();
    approved.approval = Some(Approval {
        decision: Decision::Approved,
        approver: Some("arn:aws:sts::123456789012:assumed-role/responder/alice".into()),
        verified: true,
        reason: "stolen keys in use".into(),
        decided_at: t(NOW),
        revoke_role_sessions: Some(true),
    });
    let c = handle(&aws, &aws, &s, &approved, t(NOW)).await.unwrap();
    let acted: Vec<_> = c
        .actions
        .iter()
        .filter(|a| a.status != Skipped)
        .map(|a| (a.action.as_str(), a.status))
        .collect();
    assert_eq!(
        acted,
        vec![
            ("tag-quarantined", Done),
            ("revoke-sessions", Done),
            ("swap-instance-profile", Already),
            ("enforce-imds-v2", Already),
        ]
    );
    assert_eq!(
        c.record.unwrap().imds_before.as_deref(),
        Some("httpTokens=optional hopLimit=2"),
        "what IMDS was before cordon, not what cordon made it"
    );
}

#[tokio::test]
async fn a_refused_swap_is_failed_and_the_record_does_not_claim_it() {
    // The profile changed between the re-read and the swap (the adapter refuses to replace
    // an association that is not the one planned): the action fails, the rest is done, and
    // the record tags are corrected so that release does not "restore" a swap never made.
    let (aws, input) = shared_role_case(0);
    aws.fail(
        "ec2:ReplaceIamInstanceProfileAssociation",
        PortErrorKind::Invalid,
    );
    let s = with_profile(policy_with(|_| {}));
    let err = handle(&aws, &aws, &s, &input, t(NOW)).await.unwrap_err();
    assert_eq!(err.error_type(), "ContainmentFailed");
    let tags = aws.roles.lock().unwrap()[ROLE].tags.clone();
    assert_eq!(tags.get("CordonProfileSwap").map(String::as_str), Some(""));
    assert_eq!(
        tags.get("CordonRevocationPolicy").map(String::as_str),
        Some("cordon-revoke-sessions")
    );
    assert_eq!(
        aws.instances.lock().unwrap()[INSTANCE].profile.as_deref(),
        Some(WEB_PROFILE)
    );
}

mod moto {
    use super::*;
    use aws_sdk_iam::types::StatusType;
    use cordon_aws::{AwsCompute, AwsIam};

    const DENY_ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

    fn tags_of(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
        tags.iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    #[tokio::test]
    async fn end_to_end_a_user_is_quarantined_once_and_a_rerun_is_a_no_op() {
        let moto = cordon_moto::Moto::start().unwrap();
        let sdk = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&sdk);
        let deny = iam
            .create_policy()
            .policy_name("cordon-quarantine-deny-all")
            .policy_document(DENY_ALL)
            .send()
            .await
            .unwrap();
        assert_eq!(deny.policy().unwrap().arn().unwrap(), DENY_ARN);
        iam.create_user().user_name(USER).send().await.unwrap();
        let key = |out: aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput| {
            out.access_key.unwrap().access_key_id
        };
        let active = key(iam
            .create_access_key()
            .user_name(USER)
            .send()
            .await
            .unwrap());
        let inactive = key(iam
            .create_access_key()
            .user_name(USER)
            .send()
            .await
            .unwrap());
        iam.update_access_key()
            .user_name(USER)
            .access_key_id(&inactive)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        iam.create_login_profile()
            .user_name(USER)
            .password("Sup3r-secret!pass")
            .send()
            .await
            .unwrap();

        let port = AwsIam::from_conf(&sdk);
        let compute = AwsCompute::from_conf(&sdk);
        let s = settings(policy_with(|_| {}));
        let c = handle(&port, &compute, &s, &case(CREATE_USER), t(NOW))
            .await
            .unwrap();
        use ActionStatus::*;
        let expected = |main| {
            vec![
                row("attach-quarantine-policy", USER, main),
                row("tag-quarantined", USER, main),
                row("deactivate-access-key", &active, main),
                row("delete-login-profile", USER, main),
                row("revoke-sessions", USER, main),
                row("deactivate-access-key", &inactive, Skipped),
                row("enforce-imds-v2", USER, Skipped),
                row("nacl-deny-ip", USER, Skipped),
            ]
        };
        assert_eq!(statuses(&c), expected(Done));
        let record = c.record.clone().unwrap();
        assert_eq!(record.deactivated_keys, vec![active.clone()]);

        let attached = iam
            .list_attached_user_policies()
            .user_name(USER)
            .send()
            .await
            .unwrap();
        let arns: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect();
        assert_eq!(arns, vec![DENY_ARN]);
        let tags = tags_of(
            iam.list_user_tags()
                .user_name(USER)
                .send()
                .await
                .unwrap()
                .tags(),
        );
        let expected_tags: Tags = [
            ("SecurityStatus", "Quarantined".to_string()),
            (
                "QuarantineReason",
                "CreateUser by arn:aws:iam::123456789012:user/devops-tools".to_string(),
            ),
            ("QuarantineTime", "2026-03-14T03:00:00Z".to_string()),
            ("QuarantineIncident", CREATE_USER_ID.to_string()),
            ("CordonAttachedPolicy", DENY_ARN.to_string()),
            ("CordonDeactivatedKeys", active.clone()),
            ("CordonLoginProfileDeleted", "true".to_string()),
            (
                "CordonRevocationPolicy",
                "cordon-revoke-sessions".to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(tags, expected_tags);
        assert_eq!(record.to_tags(), expected_tags);
        let keys = iam.list_access_keys().user_name(USER).send().await.unwrap();
        let mut statuses_now: Vec<(String, StatusType)> = keys
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap().to_string(),
                    k.status().unwrap().clone(),
                )
            })
            .collect();
        statuses_now.sort();
        let mut want = vec![
            (active.clone(), StatusType::Inactive),
            (inactive.clone(), StatusType::Inactive),
        ];
        want.sort();
        assert_eq!(statuses_now, want);
        let profile = iam.get_login_profile().user_name(USER).send().await;
        assert!(profile.is_err(), "login profile still there: {profile:?}");
        let inline = iam
            .get_user_policy()
            .user_name(USER)
            .policy_name("cordon-revoke-sessions")
            .send()
            .await
            .unwrap();
        let doc = cordon_aws_decode(inline.policy_document());
        assert_eq!(doc, revocation_policy_document(t("2026-03-14T03:00:00Z")));

        // Again, later: nothing changes, every action says so.
        let again = handle(
            &port,
            &compute,
            &s,
            &case(CREATE_USER),
            t("2026-03-14T04:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(statuses(&again), expected(Already));
        assert_eq!(again.record, c.record);
        let tags_after = tags_of(
            iam.list_user_tags()
                .user_name(USER)
                .send()
                .await
                .unwrap()
                .tags(),
        );
        assert_eq!(tags_after, expected_tags);
    }

    /// IAM returns policy documents URL-encoded.
    fn cordon_aws_decode(text: &str) -> Value {
        cordon_aws::iam::decode_policy_document(text).expect("a (URL-encoded) JSON document")
    }

    #[tokio::test]
    async fn end_to_end_a_role_gets_the_revocation_policy_and_imds_v2_only_when_enabled() {
        let moto = cordon_moto::Moto::start().unwrap();
        let sdk = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&sdk);
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        iam.create_role()
            .role_name(ROLE)
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .unwrap();
        let image = ec2.describe_images().send().await.unwrap();
        let ami = image.images()[0].image_id().unwrap().to_string();
        let run = ec2
            .run_instances()
            .image_id(ami)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .unwrap();
        let instance_id = run.instances()[0].instance_id().unwrap().to_string();
        let tokens = |ec2: aws_sdk_ec2::Client, id: String| async move {
            let out = ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .unwrap();
            out.reservations()[0].instances()[0]
                .metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str().to_string())
        };
        let before = tokens(ec2.clone(), instance_id.clone()).await;
        assert_ne!(before.as_deref(), Some("required"));

        let mut input = case(GUARDDUTY);
        if let Some(Subject::AssumedRole {
            instance_id: id, ..
        }) = input.incident.as_mut().map(|i| &mut i.subject)
        {
            *id = Some(instance_id.clone());
        }
        let port = AwsIam::from_conf(&sdk);
        let compute = AwsCompute::from_conf(&sdk);

        // IMDSv2 enforcement off (the example policy): the instance is left alone.
        let s = settings(policy_with(|_| {}));
        let c = handle(&port, &compute, &s, &input, t(NOW)).await.unwrap();
        use ActionStatus::*;
        assert_eq!(
            statuses(&c)[..2].to_vec(),
            vec![
                row("tag-quarantined", ROLE, Done),
                row("revoke-sessions", ROLE, Done)
            ]
        );
        assert!(c.actions.iter().any(|a| a.action == "enforce-imds-v2"
            && a.status == Skipped
            && a.detail == "disabled by policy (containment.enforceImdsV2 = false)"));
        assert_eq!(tokens(ec2.clone(), instance_id.clone()).await, before);

        let doc = iam
            .get_role_policy()
            .role_name(ROLE)
            .policy_name("cordon-revoke-sessions")
            .send()
            .await
            .unwrap();
        let doc = cordon_aws_decode(doc.policy_document());
        assert_eq!(doc, revocation_policy_document(t("2026-03-14T03:00:00Z")));
        assert_eq!(
            doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-03-14T03:00:00Z"
        );
        let tags = tags_of(
            iam.list_role_tags()
                .role_name(ROLE)
                .send()
                .await
                .unwrap()
                .tags(),
        );
        assert_eq!(tags, c.record.clone().unwrap().to_tags());
        assert_eq!(tags["SecurityStatus"], "Quarantined");
        assert_eq!(
            tags["QuarantineIncident"],
            "a4c5d6e7f8091a2b3c4d5e6f708192a3"
        );
        assert_eq!(tags["CordonRevocationPolicy"], "cordon-revoke-sessions");

        // The policy enables IMDSv2 enforcement: now (and only now) the instance changes.
        let s = settings(policy_with(|p| {
            p["containment"]["enforceImdsV2"] = true.into()
        }));
        let c = handle(&port, &compute, &s, &input, t("2026-03-14T03:10:00Z"))
            .await
            .unwrap();
        assert_eq!(
            acted(&c),
            vec![
                ("tag-quarantined", ROLE, Done),
                ("revoke-sessions", ROLE, Already),
                ("enforce-imds-v2", instance_id.as_str(), Done),
            ]
        );
        assert_eq!(
            tokens(ec2.clone(), instance_id.clone()).await.as_deref(),
            Some("required")
        );
        let tags = tags_of(
            iam.list_role_tags()
                .role_name(ROLE)
                .send()
                .await
                .unwrap()
                .tags(),
        );
        assert_eq!(tags["CordonImdsV2EnforcedOn"], instance_id);
    }
}
