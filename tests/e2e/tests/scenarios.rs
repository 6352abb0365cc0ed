//! End-to-end scenarios: each starts the whole offline stack (moto, the engine with its durable
//! store, the real function binaries behind the Lambda Runtime API host, the approve function
//! URL, the template's EventBridge rules), delivers real-shaped events, and checks what a
//! security engineer would check: IAM and EC2 in moto, the alerts and approvals topics (read
//! through their SQS queues), the execution history and the case file.
//!
//! Needs the function binaries built (`cargo build -p enrich -p classify -p request-approval
//! -p approve -p quarantine -p notify`) and, for the release scenario, the CLI (`-p cordon`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cordon_e2e::*;
use cordon_stack::{LOCAL_APPROVER_ARN, Outcome};
use serde_json::{Value, json};

const QUARANTINE_POLICY: &str = "arn:aws:iam::123456789012:policy/cordon-quarantine-deny-all";
const ADMIN_POLICY: &str = "arn:aws:iam::123456789012:policy/AdministratorAccess";
/// The suspicious-name fixture: `devops-tools` (long-term key, no MFA, AWS CLI) creates
/// `service-x7k2qa`.
const SUSPICIOUS_FIXTURE: &str = "cloudtrail-create-user-suspicious-name-no-mfa-cli.json";
const SUSPICIOUS_EVENT_ID: &str = "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406";
const SUSPICIOUS_USER: &str = "service-x7k2qa";
const DEVOPS_TOOLS: &str = "arn:aws:iam::123456789012:user/devops-tools";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("not an RFC 3339 time: {s:?}: {e}"))
        .with_timezone(&Utc)
}

/// An admin-looking customer managed policy (moto may not load AWS's managed policies).
async fn admin_policy(s: &Scenario) -> String {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let out = s
        .iam
        .create_policy()
        .policy_name("AdministratorAccess")
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("CreatePolicy AdministratorAccess");
    let arn = out.policy().unwrap().arn().unwrap().to_string();
    assert_eq!(arn, ADMIN_POLICY);
    arn
}

/// What an attacker's new user looks like by the time enrichment reads it: admin access, an
/// access key and a console password. Returns the key id.
async fn attacker_made_user(s: &Scenario, name: &str) -> String {
    let key = s.create_user_with_key_and_password(name).await;
    s.iam
        .attach_user_policy()
        .user_name(name)
        .policy_arn(ADMIN_POLICY)
        .send()
        .await
        .expect("AttachUserPolicy admin");
    key
}

/// A GuardDuty finding of HIGH severity (7.5) about the IAM user `dev-bob` (the Tor caller
/// fixture at severity 7.5): between the policy's approval (4) and quarantine (8) thresholds.
fn guardduty_high_on_user() -> Value {
    let mut e = fixture("guardduty-tor-ip-caller.json");
    e["detail"]["severity"] = json!(7.5);
    e
}
const GD_USER: &str = "dev-bob";
const GD_FINDING_ID: &str = "c6e7f8091a2b3c4d5e6f708192a3b4c5";

fn the_one<'a>(msgs: &'a [SnsMessage], what: &str) -> &'a SnsMessage {
    assert_eq!(
        msgs.len(),
        1,
        "exactly one {what} message expected, got {}: {:?}",
        msgs.len(),
        msgs.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    &msgs[0]
}

// ------------------------------------------------------------------------------------------
// CreateUser
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspicious_create_user_is_quarantined_and_alerted() {
    let s = Scenario::start().await;
    assert_eq!(s.quarantine_policy_arn(), QUARANTINE_POLICY);
    admin_policy(&s).await;
    let key = attacker_made_user(&s, SUSPICIOUS_USER).await;
    let before = Utc::now();

    let arn = s.send_new(&fixture(SUSPICIOUS_FIXTURE)).await;
    let out = s.wait_succeeded(&arn).await;
    let after = Utc::now();

    assert_eq!(
        out["classification"]["verdict"], "quarantine",
        "{}",
        out["classification"]
    );
    assert_eq!(out["classification"]["severity"], "high");

    // IAM, as moto has it now.
    assert_eq!(
        s.user_policies(SUSPICIOUS_USER).await,
        strings(&[ADMIN_POLICY, QUARANTINE_POLICY])
    );
    let tags = s.user_tags(SUSPICIOUS_USER).await;
    let time = tags.get("QuarantineTime").cloned().unwrap_or_default();
    let t = parse_time(&time);
    assert!(
        t >= before - chrono::Duration::seconds(1) && t <= after + chrono::Duration::seconds(1),
        "QuarantineTime {time} outside the run"
    );
    assert_eq!(
        tags,
        map(&[
            ("SecurityStatus", "Quarantined"),
            (
                "QuarantineReason",
                "CreateUser by arn:aws:iam::123456789012:user/devops-tools"
            ),
            ("QuarantineTime", &time),
            ("QuarantineIncident", SUSPICIOUS_EVENT_ID),
            ("CordonAttachedPolicy", QUARANTINE_POLICY),
            ("CordonDeactivatedKeys", &key),
            ("CordonLoginProfileDeleted", "true"),
            ("CordonRevocationPolicy", "cordon-revoke-sessions"),
        ])
    );
    assert_eq!(
        s.user_inline_policies(SUSPICIOUS_USER).await,
        strings(&["cordon-revoke-sessions"])
    );
    assert_eq!(
        s.key_statuses(SUSPICIOUS_USER).await,
        map(&[(&key, "Inactive")])
    );
    assert!(
        !s.has_login_profile(SUSPICIOUS_USER).await,
        "console password still there"
    );

    // The case file says what was done, action by action.
    let actions: Vec<(String, String)> = out["containment"]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or_default().to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for action in [
        "attach-quarantine-policy",
        "tag-quarantined",
        "deactivate-access-key",
        "delete-login-profile",
        "revoke-sessions",
    ] {
        assert!(
            actions.contains(&(action.to_string(), "done".to_string())),
            "{action} not done: {actions:?}"
        );
    }
    assert_eq!(
        out["containment"]["record"]["attachedPolicyArn"],
        QUARANTINE_POLICY
    );
    assert_eq!(
        out["containment"]["record"]["deactivatedKeys"],
        json!([key])
    );

    // The history, event by event.
    let h = s.history(&arn).await;
    let task = |v: &mut Vec<&str>| {
        v.extend([
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
        ])
    };
    let pass = |v: &mut Vec<&str>| v.extend(["PassStateEntered", "PassStateExited"]);
    let mut want = vec!["ExecutionStarted"];
    task(&mut want); // Enrich
    task(&mut want); // Classify
    pass(&mut want); // RecordClassification
    want.extend(["ChoiceStateEntered", "ChoiceStateExited"]); // RouteOnVerdict
    task(&mut want); // Quarantine
    pass(&mut want); // RecordContainment
    task(&mut want); // Notify
    pass(&mut want); // RecordNotification
    want.push("ExecutionSucceeded");
    assert_eq!(event_types(&h), strings(&want));
    assert_eq!(
        entered_states(&h),
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "Quarantine",
            "RecordContainment",
            "Notify",
            "RecordNotification"
        ])
    );

    // The alert, as the alerts topic's subscriber receives it.
    let alerts = s.drain(s.alerts_queue()).await;
    let alert = the_one(&alerts, "alert");
    assert_eq!(
        alert.subject,
        "[cordon] HIGH quarantined: IAM user service-x7k2qa in 123456789012 - CreateUser"
    );
    assert_eq!(
        alert.attributes,
        map(&[
            ("severity", "high"),
            ("verdict", "quarantine"),
            ("incidentId", SUSPICIOUS_EVENT_ID),
            ("source", "cloudtrail"),
            ("messageType", "alert"),
        ])
    );
    assert_eq!(out["notification"]["subject"], alert.subject.as_str());
    // The alert links back to this execution's history.
    let alert_json = alert.json.as_ref().expect("the alert is JSON");
    assert_eq!(alert_json["executionArn"], arn.as_str(), "{alert_json}");
    assert!(
        s.drain(s.approvals_queue()).await.is_empty(),
        "no approval was needed"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_user_by_the_trusted_pipeline_role_is_not_quarantined() {
    let s = Scenario::start().await;
    s.iam
        .create_user()
        .user_name("app-reporting-svc")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("ManagedBy")
                .value("terraform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let before = s.user_state("app-reporting-svc").await;

    let arn = s
        .send_new(&fixture("cloudtrail-create-user-by-ci-pipeline.json"))
        .await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["classification"]["verdict"], "ignore");
    let rules: Vec<&str> = out["classification"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(rules.contains(&"trusted-creator"), "{rules:?}");
    assert_eq!(
        entered_states(&s.history(&arn).await),
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "Ignored"
        ])
    );
    assert_eq!(s.user_state("app-reporting-svc").await, before);
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 0);
    assert!(s.drain(s.alerts_queue()).await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_create_user_call_is_ignored() {
    let s = Scenario::start().await;
    let arn = s
        .send_new(&fixture("cloudtrail-create-user-access-denied.json"))
        .await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["incident"]["failedCall"]["errorCode"], "AccessDenied");
    assert_eq!(out["classification"]["verdict"], "ignore");
    assert_eq!(
        entered_states(&s.history(&arn).await),
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "Ignored"
        ])
    );
    // Nothing was created, nothing touched, nobody paged.
    assert!(s.iam.get_user().user_name("backdoor").send().await.is_err());
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 0);
    assert!(s.drain(s.alerts_queue()).await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protected_break_glass_user_is_never_quarantined() {
    let s = Scenario::start().await;
    admin_policy(&s).await;
    attacker_made_user(&s, "break-glass-7").await;
    let before = s.user_state("break-glass-7").await;

    let arn = s
        .send_new(&create_user_event(
            "break-glass-7",
            "0b0b0b0b-0000-4000-8000-00000000b001",
        ))
        .await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(
        out["classification"]["protected"], true,
        "{}",
        out["classification"]
    );
    assert_ne!(out["classification"]["verdict"], "quarantine");
    assert!(!entered_states(&s.history(&arn).await).contains(&"Quarantine".to_string()));
    assert_eq!(s.user_state("break-glass-7").await, before);
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 0);
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Approvals
// ------------------------------------------------------------------------------------------

/// The GuardDuty finding on `dev-bob` waiting for a decision: the execution ARN, the task
/// token the engine handed out, and the approval request read from the approvals queue.
async fn pending_guardduty_approval(s: &Scenario) -> (String, String, SnsMessage) {
    let event = guardduty_high_on_user();
    let arn = s.send_new(&event).await;
    let h = s.wait_entered(&arn, "RequestApproval").await;
    let requests = s.receive(s.approvals_queue(), 1).await;
    let request = the_one(&requests, "approval request").clone();
    let h = if task_events(&h, "RequestApproval", "TaskScheduled") == 0 {
        s.history(&arn).await
    } else {
        h
    };
    let token = h
        .iter()
        .filter(|e| e["type"] == "TaskScheduled")
        .filter_map(|e| e["taskScheduledEventDetails"]["parameters"].as_str())
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .find_map(|p| p["Payload"]["taskToken"].as_str().map(str::to_string))
        .expect("the RequestApproval task was scheduled with a task token");
    (arn, token, request)
}

fn assert_approval_request(request: &SnsMessage, token: &str, arn: &str) {
    assert!(
        request
            .subject
            .starts_with("[cordon] APPROVAL NEEDED: quarantine IAM user dev-bob in 123456789012?"),
        "{}",
        request.subject
    );
    assert_eq!(request.attributes["messageType"], "approval-request");
    assert_eq!(request.attributes["verdict"], "approve");
    assert_eq!(request.attributes["incidentId"], GD_FINDING_ID);
    assert_eq!(request.attributes["source"], "guardduty");
    assert!(
        !request.raw.contains(token),
        "the approval message carries the task token"
    );
    assert!(
        !request.raw.to_ascii_lowercase().contains("tasktoken"),
        "{}",
        request.raw
    );
    let body = request
        .json
        .as_ref()
        .expect("the approval request is JSON for SQS subscribers");
    assert_eq!(body["incidentId"], GD_FINDING_ID);
    assert_eq!(body["executionArn"], arn);
    assert_eq!(
        body["commands"]["approve"],
        format!("cordon approve {GD_FINDING_ID} --reason \"...\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guardduty_high_on_a_user_is_quarantined_once_a_listed_approver_approves() {
    let s = Scenario::start().await;
    let key = s.create_user_with_key_and_password(GD_USER).await;
    let (arn, token, request) = pending_guardduty_approval(&s).await;
    assert_approval_request(&request, &token, &arn);

    // Nothing is done before the decision.
    assert_eq!(s.describe(&arn).await["status"], "RUNNING");
    assert!(s.user_policies(GD_USER).await.is_empty());

    let (status, body) = s
        .decide(
            &arn,
            GD_FINDING_ID,
            "approved",
            "Tor exit node, not our office",
            LOCAL_APPROVER_ARN,
        )
        .await;
    assert_eq!(status, 200, "approve answered {status}: {body}");
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["approval"]["decision"], "approved");
    assert_eq!(out["approval"]["approver"], LOCAL_APPROVER_ARN);
    assert_eq!(out["approval"]["reason"], "Tor exit node, not our office");
    let entered = entered_states(&s.history(&arn).await);
    assert_eq!(
        entered,
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "RequestApproval",
            "RouteOnDecision",
            "Quarantine",
            "RecordContainment",
            "Notify",
            "RecordNotification"
        ]),
        "(an approval reaching DecisionNotUnderstood means the approve function's result did not satisfy RouteOnDecision: decision=approved and verified=true)"
    );
    assert_eq!(
        s.user_policies(GD_USER).await,
        strings(&[QUARANTINE_POLICY])
    );
    let tags = s.user_tags(GD_USER).await;
    assert_eq!(
        tags.get("SecurityStatus").map(String::as_str),
        Some("Quarantined")
    );
    assert_eq!(
        tags.get("QuarantineIncident").map(String::as_str),
        Some(GD_FINDING_ID)
    );
    assert_eq!(
        tags.get("QuarantineReason").map(String::as_str),
        Some("GuardDuty Recon:IAMUser/TorIPCaller severity 7.5")
    );
    assert_eq!(s.key_statuses(GD_USER).await, map(&[(&key, "Inactive")]));

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = the_one(&alerts, "alert");
    assert!(
        alert
            .subject
            .contains("quarantined: IAM user dev-bob in 123456789012 - TorIPCaller"),
        "{}",
        alert.subject
    );
    assert_eq!(
        alert.json.as_ref().unwrap()["approval"]["approver"],
        LOCAL_APPROVER_ARN
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_approval_quarantines_nothing_and_the_alert_names_who_rejected() {
    let s = Scenario::start().await;
    s.create_user_with_key_and_password(GD_USER).await;
    let before = s.user_state(GD_USER).await;
    let (arn, _, _) = pending_guardduty_approval(&s).await;

    let (status, body) = s
        .decide(
            &arn,
            GD_FINDING_ID,
            "rejected",
            "pen test by the red team",
            LOCAL_APPROVER_ARN,
        )
        .await;
    assert_eq!(status, 200, "reject answered {status}: {body}");
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["approval"]["decision"], "rejected");
    assert_eq!(out["approval"]["approver"], LOCAL_APPROVER_ARN);
    assert!(out.get("containment").is_none(), "{}", out["containment"]);
    assert_eq!(
        entered_states(&s.history(&arn).await),
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "RequestApproval",
            "RouteOnDecision",
            "Notify",
            "RecordNotification"
        ])
    );
    assert_eq!(s.user_state(GD_USER).await, before);

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = the_one(&alerts, "alert");
    assert!(
        alert
            .subject
            .contains("quarantine rejected: IAM user dev-bob"),
        "{}",
        alert.subject
    );
    let json = alert.json.as_ref().expect("alert JSON");
    assert_eq!(json["approval"]["decision"], "rejected");
    assert_eq!(json["approval"]["approver"], LOCAL_APPROVER_ARN);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unanswered_approval_applies_the_policy_default_after_the_timeout() {
    // 60 s is the shortest timeout the policy validation allows: this scenario takes over a
    // minute by design.
    let mut policy = example_policy();
    policy["approval"]["timeoutSeconds"] = json!(60);
    policy["approval"]["default"] = json!("quarantine");
    let s = Scenario::start_with_policy(policy).await;
    s.create_user_with_key_and_password(GD_USER).await;
    let (arn, _, _) = pending_guardduty_approval(&s).await;

    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["classification"]["approvalTimeoutSeconds"], 60);
    assert_eq!(out["approval"]["decision"], "timed-out");
    assert_eq!(out["approval"]["approver"], Value::Null);
    assert_eq!(out["approval"]["verified"], false);
    assert_eq!(
        out["approval"]["reason"],
        "No decision within 60 seconds; the policy default (quarantine) applies."
    );
    let h = s.history(&arn).await;
    assert_eq!(
        entered_states(&h),
        strings(&[
            "Enrich",
            "Classify",
            "RecordClassification",
            "RouteOnVerdict",
            "RequestApproval",
            "ApprovalTimedOut",
            "ApplyApprovalDefault",
            "Quarantine",
            "RecordContainment",
            "Notify",
            "RecordNotification"
        ])
    );
    assert_eq!(task_events(&h, "RequestApproval", "TaskTimedOut"), 1);
    assert_eq!(
        s.user_policies(GD_USER).await,
        strings(&[QUARANTINE_POLICY])
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_approval_and_non_approvers_are_refused_and_the_execution_keeps_waiting() {
    // devops-tools (the creator) is listed as an approver, so only the two-person rule can
    // refuse it.
    let mut policy = example_policy();
    policy["approval"]["approvers"]
        .as_array_mut()
        .unwrap()
        .push(json!(DEVOPS_TOOLS));
    let s = Scenario::start_with_policy(policy).await;
    // A suspicious name (`tmp-admin` pattern) without admin access: approve, not quarantine.
    let incident = "0c0c0c0c-0000-4000-8000-00000000c001";
    s.create_user("tmp-admin1").await;
    let arn = s.send_new(&create_user_event("tmp-admin1", incident)).await;
    s.wait_entered(&arn, "RequestApproval").await;
    s.receive(s.approvals_queue(), 1).await;

    let (status, body) = s
        .decide(&arn, incident, "approved", "mine", DEVOPS_TOOLS)
        .await;
    assert_eq!(status, 403, "self-approval answered {status}: {body}");
    assert!(
        body.contains("two-person rule"),
        "403 without a clear message: {body}"
    );

    let outsider = "arn:aws:sts::123456789012:assumed-role/ReadOnly/mallory";
    let (status, body) = s.decide(&arn, incident, "rejected", "nah", outsider).await;
    assert_eq!(status, 403, "non-approver answered {status}: {body}");
    assert!(
        body.contains("is not an approver"),
        "403 without a clear message: {body}"
    );

    // Still waiting for a real decision; nothing changed.
    let d = s.describe(&arn).await;
    assert_eq!(d["status"], "RUNNING");
    let h = s.history(&arn).await;
    assert_eq!(task_events(&h, "RequestApproval", "TaskSucceeded"), 0);
    assert_eq!(task_events(&h, "RequestApproval", "TaskFailed"), 0);
    assert!(s.user_policies("tmp-admin1").await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_event_and_finding_update_give_one_approval_and_one_quarantine() {
    let s = Scenario::start().await;
    s.create_user_with_key_and_password(GD_USER).await;
    let event = guardduty_high_on_user();
    let first = s.send(&event).await;
    assert_eq!(first.matches.len(), 1);
    assert_eq!(first.matches[0].outcome, Outcome::Started);
    let arn = first.matches[0].execution_arn.clone();
    for _ in 0..2 {
        let again = s.send(&event).await;
        assert_eq!(again.matches[0].outcome, Outcome::Duplicate, "{again:?}");
        assert_eq!(again.matches[0].execution_arn, arn);
    }
    let mut update = event.clone();
    update["id"] = json!("gd-c6e7f809-0000-4000-8000-000000000002");
    update["detail"]["service"]["count"] = json!(2);
    update["detail"]["updatedAt"] = json!("2026-03-14T03:05:00.000Z");
    let updated = s.send(&update).await;
    assert_eq!(
        updated.matches[0].outcome,
        Outcome::Duplicate,
        "{updated:?}"
    );
    assert_eq!(updated.matches[0].execution_arn, arn);

    s.wait_entered(&arn, "RequestApproval").await;
    s.receive(s.approvals_queue(), 1).await;
    let (status, body) = s
        .decide(
            &arn,
            GD_FINDING_ID,
            "approved",
            "confirmed",
            LOCAL_APPROVER_ARN,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.wait_succeeded(&arn).await;

    let list = s
        .stack
        .engine()
        .call(
            "ListExecutions",
            json!({"stateMachineArn": s.stack.state_machine_arn()}),
        )
        .await
        .unwrap();
    assert_eq!(
        list["executions"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    assert!(
        s.drain(s.approvals_queue()).await.is_empty(),
        "a second approval request was sent"
    );
    assert_eq!(
        s.stack.lambda_host().invocations("cordon-request-approval"),
        1
    );
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 1);
    assert_eq!(
        s.user_policies(GD_USER).await,
        strings(&[QUARANTINE_POLICY])
    );
    assert_eq!(s.drain(s.alerts_queue()).await.len(), 1);
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Roles, root
// ------------------------------------------------------------------------------------------

async fn exfiltration(enforce_imds_v2: bool) {
    let mut policy = example_policy();
    policy["containment"]["enforceImdsV2"] = json!(enforce_imds_v2);
    let s = Scenario::start_with_policy(policy).await;
    let instance = s
        .create_instance_with_role("web-app-role", "web-app-profile")
        .await;
    assert_eq!(s.http_tokens(&instance).await, "optional");

    let mut event = fixture("guardduty-instance-credential-exfiltration-outside-aws.json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(instance);
    event["detail"]["resource"]["accessKeyDetails"]["principalId"] =
        json!(format!("AROAWEBAPPROLEEXMPL1:{instance}"));
    let before = Utc::now();
    let arn = s.send_new(&event).await;
    let out = s.wait_succeeded(&arn).await;
    let after = Utc::now();

    assert_eq!(out["classification"]["verdict"], "quarantine");
    assert_eq!(
        s.role_inline_policies("web-app-role").await,
        strings(&["cordon-revoke-sessions"])
    );
    let doc = s
        .role_policy_document("web-app-role", "cordon-revoke-sessions")
        .await;
    let statement = &doc["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], "*");
    assert_eq!(statement["Resource"], "*");
    let cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap_or_else(|| panic!("no aws:TokenIssueTime condition: {doc}"));
    let cutoff = parse_time(cutoff);
    assert!(
        cutoff >= before - chrono::Duration::seconds(1)
            && cutoff <= after + chrono::Duration::seconds(1),
        "sessions revoked before {cutoff}, not the time of the response"
    );
    let tags = s.role_tags("web-app-role").await;
    assert_eq!(
        tags.get("SecurityStatus").map(String::as_str),
        Some("Quarantined")
    );
    assert_eq!(
        tags.get("QuarantineIncident").map(String::as_str),
        Some("a4c5d6e7f8091a2b3c4d5e6f708192a3")
    );
    assert_eq!(
        tags.get("CordonRevocationPolicy").map(String::as_str),
        Some("cordon-revoke-sessions")
    );

    let imds = out["containment"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "enforce-imds-v2")
        .cloned()
        .unwrap_or(Value::Null);
    if enforce_imds_v2 {
        assert_eq!(s.http_tokens(&instance).await, "required");
        assert_eq!(imds["status"], "done", "{imds}");
        assert_eq!(tags.get("CordonImdsV2EnforcedOn"), Some(&instance));
    } else {
        assert_eq!(s.http_tokens(&instance).await, "optional");
        assert_eq!(imds["status"], "skipped", "{imds}");
        assert_eq!(tags.get("CordonImdsV2EnforcedOn"), None);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instance_credential_exfiltration_revokes_role_sessions_and_leaves_imds_when_the_policy_says_so()
 {
    exfiltration(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instance_credential_exfiltration_revokes_role_sessions_and_enforces_imdsv2_when_enabled() {
    exfiltration(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn root_finding_sends_a_critical_alert_and_touches_nothing() {
    let s = Scenario::start().await;
    let attacker = s.stack.info().attacker.user_name.clone();
    let before = s.user_state(&attacker).await;
    let arn = s
        .send_new(&fixture("guardduty-root-credential-usage.json"))
        .await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(out["incident"]["subject"]["type"], "root");
    assert_eq!(out["classification"]["severity"], "critical");
    assert!(out.get("containment").is_none());
    assert_eq!(s.stack.lambda_host().invocations("cordon-quarantine"), 0);
    assert_eq!(s.user_state(&attacker).await, before);
    let alerts = s.drain(s.alerts_queue()).await;
    let alert = the_one(&alerts, "alert");
    assert!(
        alert.subject.starts_with("[cordon] CRITICAL "),
        "{}",
        alert.subject
    );
    assert!(
        alert.subject.contains("ROOT user of 123456789012"),
        "{}",
        alert.subject
    );
    assert_eq!(alert.attributes["severity"], "critical");
    assert_eq!(alert.attributes["source"], "guardduty");
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Failures of AWS itself
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iam_throttling_is_retried_until_the_quarantine_succeeds() {
    let s = Scenario::start().await;
    // Five throttled AttachUserPolicy calls: more than the SDK's own three attempts, so the
    // state machine's Retry has to take over too.
    let proxy = FaultProxy::start(
        &s.stack.endpoints().aws,
        vec![Fault::throttling("AttachUserPolicy", 5)],
    )
    .await;
    s.repoint_function("quarantine", &proxy.endpoint(), None);
    admin_policy(&s).await;
    attacker_made_user(&s, SUSPICIOUS_USER).await;

    let arn = s.send_new(&fixture(SUSPICIOUS_FIXTURE)).await;
    let out = s.wait_succeeded(&arn).await;

    assert_eq!(proxy.faulted("AttachUserPolicy"), 5);
    assert_eq!(
        proxy.seen("AttachUserPolicy"),
        6,
        "one successful call after the throttled ones"
    );
    assert_eq!(
        s.user_policies(SUSPICIOUS_USER).await,
        strings(&[ADMIN_POLICY, QUARANTINE_POLICY])
    );
    let h = s.history(&arn).await;
    for e in h.iter().filter(|e| e["type"] == "TaskFailed") {
        assert_eq!(e["taskFailedEventDetails"]["error"], "Transient", "{e}");
    }
    assert!(task_events(&h, "Quarantine", "TaskSucceeded") == 1);
    let attach: Vec<&Value> = out["containment"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "attach-quarantine-policy")
        .collect();
    assert_eq!(attach.len(), 1, "{}", out["containment"]);
    assert_eq!(attach[0]["status"], "done", "{}", out["containment"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permanent_iam_failure_sends_a_failure_alert_and_fails_the_execution_with_the_cause() {
    let s = Scenario::start().await;
    let proxy = FaultProxy::start(
        &s.stack.endpoints().aws,
        vec![Fault::access_denied("AttachUserPolicy")],
    )
    .await;
    s.repoint_function("quarantine", &proxy.endpoint(), None);
    admin_policy(&s).await;
    attacker_made_user(&s, SUSPICIOUS_USER).await;

    let arn = s.send_new(&fixture(SUSPICIOUS_FIXTURE)).await;
    let d = s.wait_terminal(&arn).await;

    assert_eq!(d["status"], "FAILED", "{d}");
    let error = d["error"].as_str().unwrap_or_default();
    assert!(
        error == "AccessDenied" || error == "ContainmentFailed",
        "the execution's error should be the quarantine function's error type, got {error:?}"
    );
    let cause = d["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("Quarantine failed: "), "{cause}");
    assert!(
        cause.contains("AccessDenied") || cause.contains("not authorized"),
        "{cause}"
    );
    let entered = entered_states(&s.history(&arn).await);
    assert_eq!(
        entered[entered.len() - 4..].to_vec(),
        strings(&[
            "Quarantine",
            "QuarantineFailed",
            "NotifyFailure",
            "ResponseFailed"
        ])
    );
    assert!(proxy.faulted("AttachUserPolicy") >= 1);
    assert!(
        !s.user_policies(SUSPICIOUS_USER)
            .await
            .contains(&QUARANTINE_POLICY.to_string())
    );
    // The other actions were carried out and recorded; the record does not claim the policy.
    let tags = s.user_tags(SUSPICIOUS_USER).await;
    assert_eq!(tags["SecurityStatus"], "Quarantined", "{tags:?}");
    assert_eq!(tags["CordonAttachedPolicy"], "", "{tags:?}");
    assert_eq!(
        tags["CordonRevocationPolicy"], "cordon-revoke-sessions",
        "{tags:?}"
    );

    let alerts = s.drain(s.alerts_queue()).await;
    let alert = the_one(&alerts, "failure alert");
    assert_eq!(
        alert.subject,
        "[cordon] FAILED to respond: IAM user service-x7k2qa in 123456789012 (Quarantine)"
    );
    assert_eq!(alert.attributes["messageType"], "failure");
    assert_eq!(alert.attributes["incidentId"], SUSPICIOUS_EVENT_ID);
    assert_eq!(
        alert.json.as_ref().expect("the alert is JSON")["executionArn"],
        arn.as_str()
    );
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Release
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_after_quarantine_restores_keys_policies_and_tags_exactly() {
    let s = Scenario::start().await;
    admin_policy(&s).await;
    let active = attacker_made_user(&s, SUSPICIOUS_USER).await;
    // A second key, already inactive: release must leave it inactive.
    let idle = s
        .iam
        .create_access_key()
        .user_name(SUSPICIOUS_USER)
        .send()
        .await
        .unwrap();
    let idle = idle.access_key().unwrap().access_key_id().to_string();
    s.iam
        .update_access_key()
        .user_name(SUSPICIOUS_USER)
        .access_key_id(&idle)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    s.iam
        .tag_user()
        .user_name(SUSPICIOUS_USER)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("Team")
                .value("data")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let before = s.user_state(SUSPICIOUS_USER).await;
    assert_eq!(
        before.keys,
        map(&[(&active, "Active"), (&idle, "Inactive")])
    );

    let arn = s.send_new(&fixture(SUSPICIOUS_FIXTURE)).await;
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(
        out["containment"]["record"]["deactivatedKeys"],
        json!([active])
    );
    assert_eq!(
        s.user_tags(SUSPICIOUS_USER).await["SecurityStatus"],
        "Quarantined"
    );

    // `cordon release`, as an engineer runs it, against this stack's file.
    let run = s
        .cordon(&[
            "release",
            SUSPICIOUS_USER,
            "--reason",
            "confirmed with the data team",
        ])
        .await;
    assert!(
        run.status.success(),
        "cordon release failed: {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    let after = s.user_state(SUSPICIOUS_USER).await;
    assert_eq!(
        after,
        UserState {
            login_profile: false,
            ..before
        },
        "release must restore exactly what the quarantine changed (except the deleted console password)"
    );
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Volume
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_50_create_user_events_is_all_contained() {
    const N: usize = 50;
    let s = Scenario::start().await;
    admin_policy(&s).await;
    let mut arns = Vec::new();
    let mut users = Vec::new();
    for i in 0..N {
        let user = format!("tmp-admin{i}");
        s.create_user(&user).await;
        s.iam
            .attach_user_policy()
            .user_name(&user)
            .policy_arn(ADMIN_POLICY)
            .send()
            .await
            .unwrap();
        users.push(user);
    }
    for (i, user) in users.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        arns.push(s.send_new(&create_user_event(user, &id)).await);
    }
    let mut statuses = BTreeMap::new();
    for arn in &arns {
        let d = s.wait_terminal(arn).await;
        *statuses
            .entry(d["status"].as_str().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(statuses, BTreeMap::from([("SUCCEEDED".to_string(), N)]));
    for user in &users {
        assert!(
            s.user_policies(user)
                .await
                .contains(&QUARANTINE_POLICY.to_string()),
            "{user} not contained"
        );
    }
    assert_eq!(s.drain(s.alerts_queue()).await.len(), N);
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// The approver's CLI
// ------------------------------------------------------------------------------------------

/// `cordon approve` as an approver runs it, against a pending GuardDuty incident.
///
/// KNOWN BUG (local/cli/src/approvals.rs, the `approve`/`reject` body): the CLI posts
/// `{executionArn, incidentId, decision, reason}`, but the approve function
/// (functions/approve/src/handler.rs, `Body` with `deny_unknown_fields`) accepts only
/// `{executionArn, decision, reason}` and answers 400 "unknown field `incidentId`": no
/// decision can be made from the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cordon_approve_from_the_cli_decides_a_pending_incident() {
    let cli = cordon_stack::default_bin_dir().join("cordon");
    assert!(
        cli.is_file(),
        "the cordon CLI is not built: cargo build -p cordon"
    );
    let s = Scenario::start().await;
    s.create_user_with_key_and_password(GD_USER).await;
    let (arn, _, _) = pending_guardduty_approval(&s).await;

    let dir = tempfile::tempdir().unwrap();
    s.stack
        .info()
        .write(&dir.path().join(".cordon/stack.json"))
        .unwrap();
    let run = tokio::process::Command::new(&cli)
        .args([
            "approve",
            GD_FINDING_ID,
            "--reason",
            "Tor exit node",
            "--as",
            LOCAL_APPROVER_ARN,
        ])
        .current_dir(dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output();
    let run = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("cordon approve did not finish")
        .unwrap();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !said.contains("unknown field `incidentId`"),
        "KNOWN BUG: the CLI sends `incidentId`, which the approve function refuses (local/cli/src/approvals.rs vs functions/approve/src/handler.rs Body): {said}"
    );
    assert!(run.status.success(), "cordon approve failed: {said}");
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["approval"]["decision"], "approved");
    assert_eq!(out["approval"]["approver"], LOCAL_APPROVER_ARN);
    assert_eq!(
        s.user_policies(GD_USER).await,
        strings(&[QUARANTINE_POLICY])
    );
    s.stop().await;
}
