//! End-to-end: findings as AWS really sends them. GuardDuty sample findings, principals cordon
//! cannot contain, attacker-sized events, and Security Hub as a source (imports and an analyst's
//! custom action) and as the place people look (the write-back, read back from the offline
//! Security Hub, which runs the project's moto extension for BatchUpdateFindings).

use aws_sdk_securityhub::types::{AwsSecurityFindingFilters, StringFilter, StringFilterComparison};
use cordon_e2e::*;
use cordon_stack::{LOCAL_APPROVER_ARN, Outcome};
use serde_json::{Value, json};

const ADMIN_POLICY: &str = "arn:aws:iam::123456789012:policy/AdministratorAccess";
const SUSPICIOUS_FIXTURE: &str = "cloudtrail-create-user-suspicious-name-no-mfa-cli.json";
const SUSPICIOUS_USER: &str = "service-x7k2qa";
const GD_USER: &str = "dev-bob";
const GD_FINDING_ID: &str = "c6e7f8091a2b3c4d5e6f708192a3b4c5";
const GD_FINDING_ARN: &str = "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/c6e7f8091a2b3c4d5e6f708192a3b4c5";

fn real(name: &str) -> Value {
    fixture(&format!("real/{name}"))
}

async fn admin_user(s: &Scenario, name: &str) {
    s.create_user_with_key_and_password(name).await;
    let iam = &s.iam;
    let _ = iam
        .create_policy()
        .policy_name("AdministratorAccess")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await;
    iam.attach_user_policy()
        .user_name(name)
        .policy_arn(ADMIN_POLICY)
        .send()
        .await
        .expect("AttachUserPolicy");
}

async fn user_count(s: &Scenario) -> usize {
    s.iam.list_users().send().await.unwrap().users().len()
}

async fn security_hub(s: &Scenario) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&s.config_in(ACCOUNT).await)
}

/// What GuardDuty's Security Hub integration does: the finding exists in Security Hub.
async fn import_guardduty_finding(s: &Scenario) {
    let imported = fixture("securityhub-imported-guardduty-tor-ip-caller.json");
    let asff = cordon_aws::securityhub::asff_from_json(&imported["detail"]["findings"][0]).unwrap();
    let hub = security_hub(s).await;
    Box::pin(hub.batch_import_findings().findings(asff).send())
        .await
        .expect("BatchImportFindings");
}

/// The finding as Security Hub shows it: workflow status, note text, UserDefinedFields.
async fn finding_in_security_hub(
    s: &Scenario,
    id: &str,
) -> (String, String, std::collections::HashMap<String, String>) {
    let hub = security_hub(s).await;
    let filters = AwsSecurityFindingFilters::builder()
        .id(StringFilter::builder()
            .value(id)
            .comparison(StringFilterComparison::Equals)
            .build())
        .build();
    let out = Box::pin(hub.get_findings().filters(filters).send())
        .await
        .expect("GetFindings");
    let [f] = out.findings() else {
        panic!("one finding expected, got {}", out.findings().len())
    };
    (
        f.workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        f.note()
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_string(),
        f.user_defined_fields().cloned().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guardduty_sample_finding_gets_a_sample_alert_and_touches_nothing() {
    let s = Scenario::start().await;
    let users = user_count(&s).await;
    // Exactly as `aws guardduty create-sample-findings` produced it (another account,
    // placeholder principal, `additionalInfo.sample: true`).
    let arn = s
        .send_new(&real("guardduty-sample-recon-iamuser-toripcaller.json"))
        .await;
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["classification"]["verdict"], "notify");
    assert_eq!(
        out["classification"]["reasons"][0]["rule"],
        "sample-finding"
    );
    assert!(out.get("containment").is_none(), "{out}");
    assert_eq!(
        user_count(&s).await,
        users,
        "nothing was created or touched"
    );
    let alerts = s.receive(s.alerts_queue(), 1).await;
    assert!(
        alerts[0]
            .subject
            .contains("GuardDuty sample finding: cordon received it; nothing was contained"),
        "{}",
        alerts[0].subject
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aws_service_principal_is_a_notify_that_says_why() {
    let s = Scenario::start().await;
    let mut event = fixture("guardduty-tor-ip-caller.json");
    event["detail"]["resource"]["accessKeyDetails"]["userType"] = json!("AWSService");
    event["detail"]["resource"]["accessKeyDetails"]["userName"] =
        json!("cloudformation.amazonaws.com");
    let arn = s.send_new(&event).await;
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(out["classification"]["verdict"], "notify");
    let reason = &out["classification"]["reasons"][0];
    assert_eq!(reason["rule"], "principal-not-containable");
    assert!(
        reason["detail"].as_str().unwrap().contains("AWS service"),
        "{reason}"
    );
    assert!(
        out.get("failure").is_none(),
        "an incident, not an error: {out}"
    );
    let alerts = s.receive(s.alerts_queue(), 1).await;
    assert!(
        alerts[0].subject.contains(
            "cannot be contained, needs attention: AWSService cloudformation.amazonaws.com"
        ),
        "{}",
        alerts[0].subject
    );
    s.stop().await;
}

/// An attacker chooses the user agent, so its length: a 200 KB one, and an event as large as
/// EventBridge delivers, must both end contained, with a case file far below Step Functions'
/// 256 KB state quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacker_sized_events_still_end_contained() {
    let s = Scenario::start().await;
    let mut long_agent = fixture(SUSPICIOUS_FIXTURE);
    long_agent["detail"]["userAgent"] =
        json!(format!("aws-cli/2.15.30 {}", "A".repeat(200 * 1024)));
    // As large as an event EventBridge delivers to a Step Functions target can be (its input
    // quota, 262,144 bytes), with room for nothing else.
    let mut largest = fixture(SUSPICIOUS_FIXTURE);
    let second_user = "service-x7k2qb";
    largest["detail"]["eventID"] = json!("c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4ff");
    largest["detail"]["requestParameters"]["userName"] = json!(second_user);
    largest["detail"]["responseElements"]["user"]["userName"] = json!(second_user);
    largest["detail"]["responseElements"]["user"]["arn"] =
        json!(format!("arn:aws:iam::123456789012:user/{second_user}"));
    largest["detail"]["additionalEventData"] = json!({"padding": ""});
    let size = serde_json::to_vec(&largest).unwrap().len();
    largest["detail"]["additionalEventData"]["padding"] = json!("p".repeat(262_000 - size));
    let size = serde_json::to_vec(&largest).unwrap().len();
    assert!((261_000..=262_144).contains(&size), "{size}");

    for (event, user) in [(long_agent, SUSPICIOUS_USER), (largest, second_user)] {
        admin_user(&s, user).await;
        let arn = s.send_new(&event).await;
        let described = s.wait_terminal(&arn).await;
        assert_eq!(
            described["status"],
            "SUCCEEDED",
            "{user}: {}",
            failures(&s.history(&arn).await)
        );
        let out = output(&described);
        assert_eq!(out["classification"]["verdict"], "quarantine", "{user}");
        let tags = s.user_tags(user).await;
        assert_eq!(
            tags.get("SecurityStatus").map(String::as_str),
            Some("Quarantined"),
            "{user}"
        );
        let kept = serde_json::to_vec(&out).unwrap().len();
        assert!(kept < 64 * 1024, "{user}: the case file is {kept} bytes");
        assert!(
            out["event"]["cordon:bounded"].is_string(),
            "the case file says the event was cut"
        );
    }
    s.stop().await;
}

/// The Security Hub import of a GuardDuty finding is the same incident as GuardDuty's own
/// event: one response, whichever arrives first; the finding in Security Hub shows what cordon
/// did (NOTIFIED while a human is asked, RESOLVED once contained).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_security_hub_import_and_the_guardduty_event_are_one_response_written_back() {
    let s = Scenario::start().await;
    s.create_user_with_key_and_password(GD_USER).await;
    import_guardduty_finding(&s).await;

    let arn = s
        .send_new(&fixture(
            "securityhub-imported-guardduty-tor-ip-caller.json",
        ))
        .await;
    assert!(arn.ends_with(&format!(":{GD_FINDING_ID}")), "{arn}");
    s.wait_entered(&arn, "RequestApproval").await;
    let requests = s.receive(s.approvals_queue(), 1).await;
    assert_eq!(requests.len(), 1);

    // GuardDuty's own event for the same finding: a duplicate of the running response.
    let routed = s.send(&fixture("guardduty-tor-ip-caller.json")).await;
    assert_eq!(routed.matches.len(), 1, "{routed:?}");
    assert_eq!(routed.matches[0].outcome, Outcome::Duplicate, "{routed:?}");
    assert_eq!(routed.matches[0].execution_arn, arn);

    // While a human is asked, Security Hub says so.
    let (status, note, fields) = finding_in_security_hub(&s, GD_FINDING_ARN).await;
    assert_eq!(status, "NOTIFIED");
    assert!(
        note.starts_with("cordon asked a human to approve"),
        "{note}"
    );
    assert_eq!(fields["cordonContainment"], "awaiting-approval");
    assert_eq!(fields["cordonIncident"], GD_FINDING_ID);

    // cordon's own BatchUpdateFindings makes Security Hub send a new Imported event: it
    // dedupes against the response too.
    let routed = s
        .send(&fixture(
            "securityhub-imported-guardduty-tor-ip-caller.json",
        ))
        .await;
    assert_eq!(routed.matches[0].outcome, Outcome::Duplicate, "{routed:?}");

    let (code, body) = s
        .decide(
            &arn,
            GD_FINDING_ID,
            "approved",
            "Tor, not us",
            LOCAL_APPROVER_ARN,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let out = s.wait_succeeded(&arn).await;
    assert_eq!(
        out["notification"]["securityHub"]["status"], "updated",
        "{out}"
    );
    let (status, note, fields) = finding_in_security_hub(&s, GD_FINDING_ARN).await;
    assert_eq!(status, "RESOLVED");
    assert!(note.starts_with("cordon quarantined the subject"), "{note}");
    assert!(note.contains(&arn), "the note links the execution: {note}");
    assert_eq!(fields["cordonContainment"], "contained");
    assert_eq!(fields["cordonVerdict"], "approve");
    assert_eq!(
        s.drain(s.approvals_queue()).await.len(),
        0,
        "one approval request"
    );
    s.stop().await;
}

/// An analyst's "Contain with cordon" custom action asks for approval, even after the
/// automatic response only notified; the request is a reason, never an approval.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analysts_custom_action_starts_the_approval_flow() {
    let s = Scenario::start().await;
    // The automatic response ran first and only notified (the user it names did not exist
    // yet); later an analyst looks again and asks cordon to contain.
    let auto = s.send_new(&fixture("guardduty-tor-ip-caller.json")).await;
    assert_eq!(
        s.wait_succeeded(&auto).await["classification"]["verdict"],
        "notify"
    );
    s.create_user_with_key_and_password(GD_USER).await;

    let request = fixture("securityhub-custom-action-guardduty-tor-ip-caller.json");
    let arn = s.send_new(&request).await;
    assert_ne!(arn, auto);
    assert!(
        arn.ends_with(&format!(
            ":{GD_FINDING_ID}-request-{}",
            request["id"].as_str().unwrap()
        )),
        "{arn}"
    );
    s.wait_entered(&arn, "RequestApproval").await;
    let requests = s.receive(s.approvals_queue(), 1).await;
    assert!(
        requests[0].subject.contains("APPROVAL NEEDED"),
        "{}",
        requests[0].subject
    );
    // Nothing is done before a human decides.
    assert!(s.user_policies(GD_USER).await.is_empty());
    let history = s.history(&arn).await;
    let classified = history
        .iter()
        .filter_map(|e| e["taskScheduledEventDetails"]["parameters"].as_str())
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .find_map(|p| p["Payload"]["state"]["classification"].as_object().cloned())
        .expect("the approval task received the classification");
    assert_eq!(classified["verdict"], "approve");
    assert!(
        classified["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "containment-requested")
    );
    // A redelivery of the same request dedupes.
    let routed = s.send(&request).await;
    assert_eq!(routed.matches[0].outcome, Outcome::Duplicate, "{routed:?}");
    s.stop().await;
}
