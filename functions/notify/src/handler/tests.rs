use super::*;
use cordon_core::ports::SecurityHubUpdate;
use std::sync::Mutex;

use async_trait::async_trait;
use cordon_core::ports::{OutgoingMessage, PortResult};
use cordon_core::{
    ActionOutcome, ActionStatus, Containment, Enrichment, Failure, Policy, Tags, UserFacts,
    classify, parse_event,
};
use serde_json::{Value, json};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:cordon-alerts";
const USER: &str = "service-x7k2qa";
const CREATE_USER: &str = "cloudtrail-create-user-suspicious-name-no-mfa-cli.json";
const CREATE_USER_ID: &str = "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406";
const GUARDDUTY: &str = "guardduty-instance-credential-exfiltration-outside-aws.json";
const FINDING_ARN: &str = "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/a4c5d6e7f8091a2b3c4d5e6f708192a3";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/events/{name}",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn policy() -> Policy {
    let path = format!(
        "{}/../../infra/policy.example.json",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    );
    Policy::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The state document as Notify receives it after enrich and classify.
fn case(fixture_name: &str) -> CaseFile {
    let event = fixture(fixture_name);
    let incident = parse_event(&event).unwrap();
    let enrichment = match &incident.subject {
        cordon_core::Subject::IamUser { name, .. } => Enrichment {
            exists: true,
            user: Some(UserFacts {
                name: name.clone(),
                arn: format!("arn:aws:iam::123456789012:user/{name}"),
                path: "/".into(),
                // What makes the new user dangerous: the classification says quarantine.
                attached_policies: vec![cordon_core::PolicyRef {
                    name: "AdministratorAccess".into(),
                    arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        },
        _ => Enrichment {
            exists: true,
            ..Default::default()
        },
    };
    let classification = classify(&incident, &enrichment, &policy());
    CaseFile {
        event,
        incident: Some(incident),
        enrichment: Some(enrichment),
        classification: Some(classification),
        ..Default::default()
    }
}

fn done(action: &str, target: &str) -> ActionOutcome {
    ActionOutcome {
        action: action.into(),
        target: target.into(),
        status: ActionStatus::Done,
        detail: String::new(),
    }
}

fn quarantined(mut c: CaseFile) -> CaseFile {
    c.containment = Some(Containment {
        dry_run: false,
        actions: vec![
            done("attach-quarantine-policy", USER),
            done("tag-quarantined", USER),
            done("revoke-sessions", USER),
        ],
        record: None,
    });
    c
}

fn input(case: CaseFile) -> Input {
    Input {
        case,
        execution_arn: None,
    }
}

fn settings() -> Settings {
    Settings {
        home_account: None,
        alerts_topic_arn: TOPIC.into(),
        region: "us-east-1".into(),
        console_base: "https://console.aws.amazon.com".into(),
    }
}

#[derive(Default)]
struct FakeSns {
    sent: Mutex<Vec<OutgoingMessage>>,
    fail: Option<PortError>,
}

#[async_trait]
impl Notifier for FakeSns {
    async fn publish(&self, message: &OutgoingMessage) -> PortResult<String> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok("msg-1".into())
    }
}

#[derive(Default)]
struct FakeHub {
    submitted: Mutex<Vec<SecurityHubUpdate>>,
    fail: Option<PortError>,
}

#[async_trait]
impl SecurityHub for FakeHub {
    async fn submit(&self, update: &SecurityHubUpdate) -> PortResult<()> {
        self.submitted.lock().unwrap().push(update.clone());
        match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn a_quarantined_user_is_announced_and_imported_into_security_hub() {
    let (sns, hub) = (FakeSns::default(), FakeHub::default());
    let out = handle(
        &sns,
        &hub,
        &settings(),
        &input(quarantined(case(CREATE_USER))),
    )
    .await
    .unwrap();
    let subject =
        format!("[cordon] MEDIUM quarantined: IAM user {USER} in 123456789012 - CreateUser");
    assert_eq!(out.message_id, "msg-1");
    assert_eq!(out.subject, subject);
    let sent = sns.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.topic_arn, TOPIC);
    assert_eq!(m.subject, subject);
    assert_eq!(
        m.attributes,
        tags(&[
            ("incidentId", CREATE_USER_ID),
            ("messageType", "alert"),
            ("severity", "medium"),
            ("source", "cloudtrail"),
            ("verdict", "approve"),
        ])
    );
    for line in [
        format!("cordon: quarantined: IAM user {USER} in 123456789012\n"),
        "Severity: MEDIUM\n".to_string(),
        "  CreateUser in account 123456789012 (us-east-1) at 2026-03-14T02:47:13Z\n".to_string(),
        format!("  - attach-quarantine-policy {USER}: done\n"),
        format!("  - tag-quarantined {USER}: done\n"),
        format!("\nIncident id: {CREATE_USER_ID}\n"),
    ] {
        assert!(m.text.contains(&line), "missing {line:?} in\n{}", m.text);
    }
    assert_eq!(m.json["messageType"], "alert");
    assert_eq!(m.json["incident"]["id"], CREATE_USER_ID);
    assert_eq!(m.json["containment"]["actions"][0]["status"], "done");

    let submitted = hub.submitted.lock().unwrap();
    assert_eq!(submitted.len(), 1);
    let SecurityHubUpdate::ImportFinding { finding } = &submitted[0] else {
        panic!("expected an import, got {:?}", submitted[0]);
    };
    let id = format!("cordon/123456789012/us-east-1/{CREATE_USER_ID}");
    assert_eq!(finding["Id"], id.as_str());
    assert_eq!(finding["Workflow"]["Status"], "RESOLVED");
    assert_eq!(
        out.security_hub,
        SecurityHubOutcome {
            status: "imported".into(),
            detail: format!("cordon finding {id}"),
        }
    );
    // The output is what the state machine stores under `notification`.
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["messageId"], "msg-1");
    assert_eq!(v["securityHub"]["status"], "imported");
}

#[tokio::test]
async fn a_security_hub_failure_is_reported_not_fatal() {
    let sns = FakeSns::default();
    let hub = FakeHub {
        fail: Some(PortError::new(
            PortErrorKind::Other,
            "securityhub:BatchUpdateFindings",
            "InvalidAccessException: Account is not subscribed to AWS Security Hub",
        )),
        ..Default::default()
    };
    let out = handle(&sns, &hub, &settings(), &input(case(GUARDDUTY)))
        .await
        .unwrap();
    assert_eq!(out.message_id, "msg-1");
    let submitted = hub.submitted.lock().unwrap();
    let SecurityHubUpdate::AnnotateFinding {
        finding_id,
        product_arn,
        workflow_status,
        ..
    } = &submitted[0]
    else {
        panic!("expected an annotation, got {:?}", submitted[0]);
    };
    assert_eq!(finding_id, FINDING_ARN);
    assert_eq!(
        product_arn,
        "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    );
    assert_eq!(workflow_status, "NOTIFIED");
    assert_eq!(
        out.security_hub,
        SecurityHubOutcome {
            status: "failed".into(),
            detail: format!(
                "GuardDuty finding {FINDING_ARN}: securityhub:BatchUpdateFindings failed (Other): InvalidAccessException: Account is not subscribed to AWS Security Hub"
            ),
        }
    );
    let sent = sns.sent.lock().unwrap();
    assert_eq!(sent[0].attributes["source"], "guardduty");
    assert!(
        sent[0].subject.chars().count() <= 100,
        "{}",
        sent[0].subject
    );
}

#[tokio::test]
async fn the_failure_path_sends_the_failure_alert_and_leaves_security_hub_alone() {
    let (sns, hub) = (FakeSns::default(), FakeHub::default());
    let mut c = case(CREATE_USER);
    c.failure = Some(Failure {
        state: Some("Quarantine".into()),
        error: "ContainmentFailed".into(),
        cause: "1 of 4 containment actions failed".into(),
    });
    let out = handle(&sns, &hub, &settings(), &input(c)).await.unwrap();
    let subject =
        format!("[cordon] FAILED to respond: IAM user {USER} in 123456789012 (Quarantine)");
    assert_eq!(out.subject, subject);
    let sent = sns.sent.lock().unwrap();
    let m = &sent[0];
    assert_eq!(m.subject, subject);
    assert_eq!(m.attributes["messageType"], "failure");
    assert_eq!(m.attributes["severity"], "high");
    assert_eq!(m.attributes["verdict"], "approve");
    for line in [
        "cordon FAILED to respond to an incident. A human must take over.\n",
        "FAILED STATE: Quarantine\n",
        "ERROR: ContainmentFailed\n",
        "CAUSE: 1 of 4 containment actions failed\n",
    ] {
        assert!(m.text.contains(line), "missing {line:?} in\n{}", m.text);
    }
    assert_eq!(m.json["messageType"], "failure");
    assert_eq!(m.json["failure"]["Error"], "ContainmentFailed");
    assert!(hub.submitted.lock().unwrap().is_empty());
    assert_eq!(out.security_hub.status, "skipped");
}

#[tokio::test]
async fn the_failure_input_as_the_state_machine_sends_it_is_accepted() {
    // No incident (enrich failed), `failure` with the state added by the ASL.
    let raw = json!({
        "event": {"detail-type": "nonsense"},
        "failure": {"state": "Enrich", "Error": "InvalidEvent", "Cause": "{\"errorMessage\":\"invalid event\"}"},
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:cordon:x1"
    });
    let input: Input = serde_json::from_value(raw).unwrap();
    let (sns, hub) = (FakeSns::default(), FakeHub::default());
    let out = handle(&sns, &hub, &settings(), &input).await.unwrap();
    assert_eq!(
        out.subject,
        "[cordon] FAILED to respond: unparsed event (Enrich)"
    );
    let sent = sns.sent.lock().unwrap();
    assert_eq!(sent[0].attributes["incidentId"], "unknown");
    assert!(sent[0].text.contains("  Step Functions execution: https://console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:cordon:x1\n"), "{}", sent[0].text);
}

#[tokio::test]
async fn sns_failures_fail_the_step_with_a_type_the_state_machine_matches() {
    for (kind, error_type) in [
        (PortErrorKind::Transient, "Transient"),
        (PortErrorKind::NotFound, "TopicNotFound"),
        (PortErrorKind::AccessDenied, "AccessDenied"),
        (PortErrorKind::Invalid, "PublishFailed"),
        (PortErrorKind::Other, "PublishFailed"),
    ] {
        let sns = FakeSns {
            fail: Some(PortError::new(kind, "sns:Publish", "boom")),
            ..Default::default()
        };
        let hub = FakeHub::default();
        let err = handle(&sns, &hub, &settings(), &input(case(CREATE_USER)))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), error_type);
        // Nothing half-sent: Security Hub is only told once the alert is out.
        assert!(hub.submitted.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_ignored_incident_is_announced_and_security_hub_is_skipped() {
    let (sns, hub) = (FakeSns::default(), FakeHub::default());
    let mut c = case(CREATE_USER);
    c.classification.as_mut().unwrap().verdict = cordon_core::Verdict::Ignore;
    let out = handle(&sns, &hub, &settings(), &input(c)).await.unwrap();
    assert_eq!(out.security_hub.status, "skipped");
    assert!(hub.submitted.lock().unwrap().is_empty());
    assert_eq!(sns.sent.lock().unwrap()[0].attributes["verdict"], "ignore");
}

mod moto {
    use super::*;
    use cordon_aws::{AwsNotifier, AwsSecurityHub};

    #[tokio::test]
    async fn end_to_end_the_alert_reaches_an_sqs_subscriber_and_security_hub() {
        // SAFETY-free: only this process' SDK config is used; nothing reads real AWS.
        let moto = cordon_moto::Moto::start().unwrap();
        let sdk = moto.sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic = sns
            .create_topic()
            .name("cordon-alerts")
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name("alerts-inbox")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = "arn:aws:sqs:us-east-1:123456789012:alerts-inbox";
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        let securityhub = aws_sdk_securityhub::Client::new(&sdk);
        securityhub.enable_security_hub().send().await.unwrap();

        let settings = Settings {
            alerts_topic_arn: topic.clone(),
            ..settings()
        };
        let (notifier, hub) = (
            AwsNotifier::from_conf(&sdk),
            AwsSecurityHub::from_conf(&sdk),
        );

        // CreateUser: the alert and a cordon finding imported.
        let out = handle(
            &notifier,
            &hub,
            &settings,
            &input(quarantined(case(CREATE_USER))),
        )
        .await
        .unwrap();
        let subject =
            format!("[cordon] MEDIUM quarantined: IAM user {USER} in 123456789012 - CreateUser");
        assert_eq!(out.subject, subject);
        let id = format!("cordon/123456789012/us-east-1/{CREATE_USER_ID}");
        assert_eq!(
            out.security_hub,
            SecurityHubOutcome {
                status: "imported".into(),
                detail: format!("cordon finding {id}")
            }
        );
        let findings = securityhub.get_findings().send().await.unwrap();
        let ids: Vec<&str> = findings.findings().iter().filter_map(|f| f.id()).collect();
        assert_eq!(ids, vec![id.as_str()]);

        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        assert_eq!(messages.len(), 1);
        let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["MessageId"], out.message_id.as_str());
        assert_eq!(envelope["TopicArn"], topic.as_str());
        assert_eq!(envelope["Subject"], subject.as_str());
        let attrs: Tags = envelope["MessageAttributes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                assert_eq!(v["Type"], "String", "{k}");
                (k.clone(), v["Value"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(
            attrs,
            tags(&[
                ("incidentId", CREATE_USER_ID),
                ("messageType", "alert"),
                ("severity", "medium"),
                ("source", "cloudtrail"),
                ("verdict", "approve"),
            ])
        );
        // The SQS subscriber gets the machine form (the `sqs` key), not the text.
        let machine: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        let expected = render::alert(
            &quarantined(case(CREATE_USER)),
            &RenderContext {
                home_account: None,
                execution_arn: None,
                region: "us-east-1".into(),
                console_base: "https://console.aws.amazon.com".into(),
            },
        );
        assert_eq!(machine, expected.json);
        assert_eq!(machine["messageType"], "alert");
        assert_eq!(
            machine["headline"],
            format!("quarantined: IAM user {USER} in 123456789012").as_str()
        );

        // GuardDuty: a finding Security Hub does not hold (never imported here) cannot be
        // updated; the alert still goes out and the one-line error is recorded.
        let out = handle(&notifier, &hub, &settings, &input(case(GUARDDUTY)))
            .await
            .unwrap();
        assert!(!out.message_id.is_empty());
        assert_eq!(out.security_hub.status, "failed");
        assert!(
            out.security_hub.detail.starts_with(&format!(
                "GuardDuty finding {FINDING_ARN}: securityhub:BatchUpdateFindings failed"
            )) && out.security_hub.detail.contains("FindingNotFound")
                && !out.security_hub.detail.contains('\n'),
            "{}",
            out.security_hub.detail
        );
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        let envelope: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
        assert_eq!(
            envelope["MessageAttributes"]["source"]["Value"],
            "guardduty"
        );
        assert_eq!(envelope["Subject"], out.subject.as_str());
    }
}
