use super::*;
use cordon_aws::AwsNotifier;
use cordon_core::Policy;
use serde_json::{Value, json};

fn root() -> String {
    format!(
        "{}/../..",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    )
}

fn case() -> CaseFile {
    classified(fixture(
        "cloudtrail-create-user-suspicious-name-no-mfa-cli.json",
    ))
}

/// The event parsed and classified with the example policy, as the state machine hands it on.
fn classified(event: Value) -> CaseFile {
    let policy = Policy::from_json(
        &std::fs::read_to_string(format!("{}/infra/policy.example.json", root())).unwrap(),
    )
    .unwrap();
    let incident = cordon_core::parse_event(&event).unwrap();
    let enrichment = cordon_core::Enrichment {
        exists: true,
        ..Default::default()
    };
    let classification = cordon_core::classify(&incident, &enrichment, &policy);
    CaseFile {
        event,
        incident: Some(incident),
        enrichment: Some(enrichment),
        classification: Some(classification),
        ..CaseFile::default()
    }
}

const EXEC: &str =
    "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4";
const TOKEN: &str = "AAAAKgAAAAIAAAAAAAAAAVeryS3cretTaskToken0123456789";

/// A topic with an SQS queue subscribed, as a machine subscriber sees messages.
async fn topic_with_queue(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> (String, aws_sdk_sqs::Client, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-q"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (topic, sqs, queue_url)
}

/// Security Hub that must not be reached (or does not matter to the test).
struct NoHub;

#[async_trait::async_trait]
impl SecurityHub for NoHub {
    async fn submit(
        &self,
        _: &cordon_core::ports::SecurityHubUpdate,
    ) -> cordon_core::ports::PortResult<()> {
        Ok(())
    }
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{}/tests/events/{name}", root())).unwrap(),
    )
    .unwrap()
}

/// A GuardDuty finding awaiting approval is marked in Security Hub: Workflow NOTIFIED, cordon's
/// note and fields, read back from the (offline) Security Hub.
#[tokio::test]
async fn asking_for_approval_marks_the_guardduty_finding_notified_in_security_hub() {
    let moto = cordon_moto::Moto::start().unwrap();
    let sdk = moto.sdk_config().await;
    let (topic, _sqs, _queue_url) = topic_with_queue(&sdk, "cordon-approvals").await;
    let hub = aws_sdk_securityhub::Client::new(&sdk);
    hub.enable_security_hub().send().await.unwrap();
    // What GuardDuty's Security Hub integration does: import the finding.
    let imported = fixture("securityhub-imported-guardduty-tor-ip-caller.json");
    let asff = cordon_aws::securityhub::asff_from_json(&imported["detail"]["findings"][0]).unwrap();
    Box::pin(hub.batch_import_findings().findings(asff).send())
        .await
        .unwrap();

    let state = classified(fixture("guardduty-tor-ip-caller.json"));
    let incident = state.incident.clone().unwrap();
    assert_eq!(
        state.classification.as_ref().unwrap().verdict,
        cordon_core::Verdict::Approve
    );
    let input = Input {
        task_token: TOKEN.into(),
        execution_arn: EXEC.into(),
        state,
    };
    let ctx = RenderContext {
        home_account: None,
        execution_arn: None,
        region: "us-east-1".into(),
        console_base: "https://console.aws.amazon.com".into(),
    };
    let out = handle(
        &AwsNotifier::from_conf(&sdk),
        &cordon_aws::AwsSecurityHub::from_conf(&sdk),
        &topic,
        &ctx,
        &input,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(out.security_hub.status, "updated", "{:?}", out.security_hub);

    let target = incident.finding.unwrap().security_hub.unwrap();
    let filters = aws_sdk_securityhub::types::AwsSecurityFindingFilters::builder()
        .id(aws_sdk_securityhub::types::StringFilter::builder()
            .value(&target.id)
            .comparison(aws_sdk_securityhub::types::StringFilterComparison::Equals)
            .build())
        .build();
    let found = Box::pin(hub.get_findings().filters(filters).send())
        .await
        .unwrap();
    let [finding] = found.findings() else {
        panic!("one finding expected: {:?}", found.findings().len())
    };
    assert_eq!(
        finding
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("NOTIFIED")
    );
    let note = finding.note().expect("cordon's note");
    assert_eq!(note.updated_by(), Some("cordon"));
    assert!(
        note.text()
            .unwrap_or_default()
            .starts_with("cordon asked a human to approve a quarantine"),
        "{:?}",
        note.text()
    );
    assert!(note.text().unwrap_or_default().contains(EXEC));
    let fields = finding.user_defined_fields().unwrap();
    assert_eq!(fields["cordonContainment"], "awaiting-approval");
    assert_eq!(fields["cordonVerdict"], "approve");
    assert_eq!(fields["cordonIncident"], "c6e7f8091a2b3c4d5e6f708192a3b4c5");
}

#[tokio::test]
async fn the_approval_request_names_the_commands_and_never_the_token() {
    let moto = cordon_moto::Moto::start().unwrap();
    let sdk = moto.sdk_config().await;
    let (topic, sqs, queue_url) = topic_with_queue(&sdk, "cordon-approvals").await;
    let ctx = RenderContext {
        home_account: None,
        execution_arn: None,
        region: "us-east-1".into(),
        console_base: "https://console.aws.amazon.com".into(),
    };
    let input = Input {
        task_token: TOKEN.into(),
        execution_arn: EXEC.into(),
        state: case(),
    };
    let now = DateTime::parse_from_rfc3339("2026-03-14T03:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let out = handle(
        &AwsNotifier::from_conf(&sdk),
        &NoHub,
        &topic,
        &ctx,
        &input,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        out.deadline,
        DateTime::parse_from_rfc3339("2026-03-14T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    );
    assert!(!out.message_id.is_empty());

    let msgs = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let msgs = msgs.messages();
    assert_eq!(msgs.len(), 1);
    let body = msgs[0].body().unwrap();
    assert!(!body.contains(TOKEN), "the token leaked: {body}");
    let envelope: Value = serde_json::from_str(body).unwrap();
    assert_eq!(envelope["MessageId"], json!(out.message_id));
    assert_eq!(
        envelope["Subject"],
        json!(cordon_core::approval_request(&input.state, EXEC, out.deadline, &ctx).subject)
    );
    assert!(
        envelope["Subject"]
            .as_str()
            .unwrap()
            .starts_with("[cordon] APPROVAL NEEDED: quarantine")
    );
    let machine: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(machine["messageType"], json!("approval-request"));
    assert_eq!(machine["executionArn"], json!(EXEC));
    assert_eq!(
        machine["commands"]["approve"],
        json!("cordon approve c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 --reason \"...\"")
    );
    assert_eq!(
        machine["commands"]["reject"],
        json!("cordon reject c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406 --reason \"...\"")
    );
    assert_eq!(
        envelope["MessageAttributes"]["messageType"]["Value"],
        json!("approval-request")
    );
}

#[tokio::test]
async fn a_state_without_classification_is_invalid_and_nothing_is_published() {
    struct NoPublish;
    #[async_trait::async_trait]
    impl Notifier for NoPublish {
        async fn publish(
            &self,
            _: &cordon_core::ports::OutgoingMessage,
        ) -> cordon_core::ports::PortResult<String> {
            panic!("must not publish")
        }
    }
    let mut state = case();
    state.classification = None;
    let ctx = RenderContext {
        home_account: None,
        execution_arn: None,
        region: "us-east-1".into(),
        console_base: "https://console.aws.amazon.com".into(),
    };
    let input = Input {
        task_token: TOKEN.into(),
        execution_arn: EXEC.into(),
        state,
    };
    let err = handle(
        &NoPublish,
        &NoHub,
        "arn:aws:sns:us-east-1:123456789012:t",
        &ctx,
        &input,
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent");
}

#[test]
fn the_asl_payload_shape_deserializes() {
    let input: Input = serde_json::from_value(json!({
        "taskToken": TOKEN, "executionArn": EXEC, "state": {"event": {"id": "x"}}
    }))
    .unwrap();
    assert_eq!(input.task_token, TOKEN);
    assert_eq!(input.state.event, json!({"id": "x"}));
}
