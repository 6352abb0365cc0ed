//! The EventBridge patterns, read from the SAM template, route the right events: checked
//! through moto_server's own event matching (PutRule + PutTargets to SQS + PutEvents, then the
//! queue is read). moto's TestEventPattern is a stub, so it is never used.
//!
//! Events: `tests/events/*.json` (real-shaped fixtures: `cloudtrail-create-user-*` must start
//! the CreateUser rule, `guardduty-*` the GuardDuty rule, `securityhub-*` a Security Hub rule,
//! each as `expected_rule` says), plus a few boundary cases built here.
//!
//! Two things the deployment resolves are resolved here the same way: a pattern's reference to
//! the template's Security Hub custom action (`!GetAtt ContainActionTarget.ActionTargetArn`) is
//! that action's ARN in the test account, and, because moto's matcher does not look into arrays
//! of objects (EventBridge matches each object of `detail.findings` on its own), a Security Hub
//! event of one finding reaches moto with that finding as an object rather than a one-element
//! array, which EventBridge matches the same way. Events of several findings are routed with
//! the offline matcher (`cordon-events`) in `cordon-stack`'s tests.

use std::collections::{BTreeMap, BTreeSet};

use cordon_tests::{event_patterns, root, template};
use serde_json::{Value, json};

fn fixtures() -> Vec<(String, Value, usize)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root().join("tests/events")) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).unwrap();
                let v = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
                out.push((name, v, text.len()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn cloudtrail(event_name: &str, source: &str) -> Value {
    json!({
        "source": source,
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "eventID": "3f1e0a4e-0000-4000-8000-000000000001",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
            "requestParameters": {"userName": "backup7"}
        }
    })
}

fn guardduty(kind: &str, resource_type: &str, severity: f64) -> Value {
    json!({
        "source": "aws.guardduty",
        "detail-type": "GuardDuty Finding",
        "detail": {
            "id": "a1b2c3",
            "type": kind,
            "severity": severity,
            "resource": {"resourceType": resource_type, "accessKeyDetails": {"userName": "alice", "userType": "IAMUser"}}
        }
    })
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A Security Hub event of one ASFF finding.
fn security_hub(detail_type: &str, product_arn: &str, types: &[&str], resources: &[&str]) -> Value {
    let mut detail = json!({
        "findings": [{
            "SchemaVersion": "2018-10-08",
            "Id": format!("arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/a1b2c3d4e5f60718293a4b5c6d7e8f90"),
            "ProductArn": product_arn,
            "GeneratorId": "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0",
            "AwsAccountId": ACCOUNT,
            "Types": types,
            "Severity": {"Label": "HIGH", "Normalized": 70, "Product": 8},
            "Title": "test finding",
            "Resources": [{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA0000000000000000"}]
        }]
    });
    if detail_type == "Security Hub Findings - Custom Action" {
        detail["actionName"] = json!("Contain with cordon");
        detail["actionDescription"] = json!("request");
    }
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "source": "aws.securityhub",
        "detail-type": detail_type,
        "account": ACCOUNT,
        "region": REGION,
        "time": "2026-03-14T02:13:07Z",
        "resources": resources,
        "detail": detail
    })
}

const IMPORTED: &str = "Security Hub Findings - Imported";
const CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";
const GUARDDUTY_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";

/// The ARN Security Hub gives a custom action of this account and region.
fn action_target_arn(id: &str) -> String {
    format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/{id}")
}

/// The `Id` of the template's `ContainActionTarget`.
fn contain_action_id() -> String {
    template()["Resources"]["ContainActionTarget"]["Properties"]["Id"]
        .as_str()
        .expect("ContainActionTarget.Properties.Id")
        .to_string()
}

/// A pattern with its references to the template's Security Hub custom actions (`Ref`, or
/// `Fn::GetAtt ... ActionTargetArn`) replaced by the ARNs Security Hub gives them.
fn with_action_target_arns(template: &Value, pattern: &Value) -> Value {
    let target = |id: &Value| -> Option<String> {
        let r = &template["Resources"][id.as_str()?];
        (r["Type"] == "AWS::SecurityHub::ActionTarget")
            .then(|| action_target_arn(r["Properties"]["Id"].as_str().expect("ActionTarget Id")))
    };
    match pattern {
        Value::Object(m) => {
            if let Some(arn) = m.get("Ref").and_then(target) {
                return Value::String(arn);
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt")
                && a.get(1).is_some_and(|x| x == "ActionTargetArn")
                && let Some(arn) = a.first().and_then(target)
            {
                return Value::String(arn);
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), with_action_target_arns(template, v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| with_action_target_arns(template, v))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The event's `detail` as moto gets it: a one-finding `findings` array as that finding.
fn detail_for_moto(event: &Value) -> Value {
    let mut detail = event["detail"].clone();
    if let Some(Value::Array(findings)) = detail.get("findings")
        && let [one] = findings.as_slice()
        && one.is_object()
    {
        detail["findings"] = one.clone();
    }
    detail
}

/// Boundary cases: (name, event, the rule it must start or None).
fn built_in() -> Vec<(String, Value, Option<&'static str>)> {
    let contain = action_target_arn(&contain_action_id());
    let other_action = action_target_arn("SendToTicketing");
    vec![
        // GuardDuty Extended Threat Detection: an attack sequence about an IAM identity.
        (
            "builtin-guardduty-attack-sequence-iam".into(),
            guardduty(
                "AttackSequence:IAM/CompromisedCredentials",
                "AttackSequence",
                9.0,
            ),
            Some("GuardDutyFinding"),
        ),
        (
            "builtin-guardduty-attack-sequence-iam-below-threshold".into(),
            guardduty(
                "AttackSequence:IAM/CompromisedCredentials",
                "AttackSequence",
                3.0,
            ),
            None,
        ),
        (
            "builtin-guardduty-attack-sequence-s3".into(),
            guardduty("AttackSequence:S3/CompromisedData", "AttackSequence", 9.0),
            None,
        ),
        (
            "builtin-guardduty-attack-sequence-type-on-an-access-key".into(),
            guardduty(
                "AttackSequence:IAM/CompromisedCredentials",
                "AccessKey",
                9.0,
            ),
            None,
        ),
        // Security Hub's copy of a GuardDuty finding.
        (
            "builtin-securityhub-guardduty-iam-finding".into(),
            security_hub(
                IMPORTED,
                GUARDDUTY_PRODUCT,
                &[
                    "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS",
                ],
                &[],
            ),
            Some("SecurityHubFinding"),
        ),
        (
            "builtin-securityhub-guardduty-root-credential-usage".into(),
            security_hub(
                IMPORTED,
                GUARDDUTY_PRODUCT,
                &[
                    "Software and Configuration Checks/AWS Security Best Practices/Policy:IAMUser-RootCredentialUsage",
                ],
                &[],
            ),
            Some("SecurityHubFinding"),
        ),
        (
            "builtin-securityhub-guardduty-attack-sequence".into(),
            security_hub(
                IMPORTED,
                GUARDDUTY_PRODUCT,
                &["AttackSequence:IAM-CompromisedCredentials"],
                &[],
            ),
            Some("SecurityHubFinding"),
        ),
        (
            "builtin-securityhub-guardduty-iam-finding-from-another-region".into(),
            security_hub(
                IMPORTED,
                "arn:aws:securityhub:eu-west-1::product/aws/guardduty",
                &["TTPs/Discovery/Discovery:IAMUser-AnomalousBehavior"],
                &[],
            ),
            Some("SecurityHubFinding"),
        ),
        (
            "builtin-securityhub-guardduty-ec2-finding".into(),
            security_hub(
                IMPORTED,
                GUARDDUTY_PRODUCT,
                &["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
                &[],
            ),
            None,
        ),
        (
            "builtin-securityhub-inspector-finding".into(),
            security_hub(
                IMPORTED,
                "arn:aws:securityhub:us-east-1::product/aws/inspector",
                &["Software and Configuration Checks/Vulnerabilities/CVE"],
                &[],
            ),
            None,
        ),
        (
            // Not GuardDuty's, whatever its type says.
            "builtin-securityhub-inspector-finding-with-an-iam-type".into(),
            security_hub(
                IMPORTED,
                "arn:aws:securityhub:us-east-1::product/aws/inspector",
                &["TTPs/Initial Access/UnauthorizedAccess:IAMUser-ConsoleLoginSuccess.B"],
                &[],
            ),
            None,
        ),
        (
            // cordon's own findings (notify imports them as this account's default product).
            "builtin-securityhub-cordon-finding".into(),
            security_hub(
                IMPORTED,
                &format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"),
                &["Unusual Behaviors/User/UnauthorizedAccess:IAMUser-Quarantined"],
                &[],
            ),
            None,
        ),
        // An analyst's request through a custom action.
        (
            "builtin-securityhub-contain-with-cordon".into(),
            security_hub(
                CUSTOM_ACTION,
                GUARDDUTY_PRODUCT,
                &[
                    "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS",
                ],
                &[contain.as_str()],
            ),
            Some("SecurityHubContainRequest"),
        ),
        (
            "builtin-securityhub-another-custom-action".into(),
            security_hub(
                CUSTOM_ACTION,
                GUARDDUTY_PRODUCT,
                &[
                    "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS",
                ],
                &[other_action.as_str()],
            ),
            None,
        ),
        (
            "builtin-create-user".into(),
            cloudtrail("CreateUser", "aws.iam"),
            Some("CreateUser"),
        ),
        (
            "builtin-create-access-key".into(),
            cloudtrail("CreateAccessKey", "aws.iam"),
            None,
        ),
        (
            "builtin-create-user-wrong-source".into(),
            cloudtrail("CreateUser", "aws.s3"),
            None,
        ),
        (
            "builtin-guardduty-exfiltration-high".into(),
            guardduty(
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                "AccessKey",
                8.0,
            ),
            Some("GuardDutyFinding"),
        ),
        (
            "builtin-guardduty-at-threshold".into(),
            guardduty(
                "CredentialAccess:IAMUser/AnomalousBehavior",
                "AccessKey",
                4.0,
            ),
            Some("GuardDutyFinding"),
        ),
        (
            "builtin-guardduty-below-threshold".into(),
            guardduty(
                "CredentialAccess:IAMUser/AnomalousBehavior",
                "AccessKey",
                3.9,
            ),
            None,
        ),
        (
            "builtin-guardduty-ec2-finding".into(),
            guardduty("Recon:EC2/PortProbeUnprotectedPort", "Instance", 8.0),
            None,
        ),
    ]
}

/// What each fixture must do, stated per file: the rule it starts, or None. A malformed event
/// that still has the CreateUser/GuardDuty envelope must start the response (the functions
/// then fail it with InvalidEvent, and a failure alert goes out: nothing is dropped silently).
/// A new fixture needs a line here.
fn expected_rule(name: &str) -> Option<Option<&'static str>> {
    const C: Option<&str> = Some("CreateUser");
    const G: Option<&str> = Some("GuardDutyFinding");
    Some(match name {
        n if n.starts_with("cloudtrail-create-user-") => C,
        "guardduty-anomalous-behavior"
        | "guardduty-archived"
        | "guardduty-console-login-success-b"
        | "guardduty-instance-credential-exfiltration-inside-aws"
        | "guardduty-instance-credential-exfiltration-outside-aws"
        | "guardduty-instance-credential-exfiltration-outside-aws-updated"
        | "guardduty-tor-ip-caller" => G,
        // Low severity, but root credential use is always reported.
        "guardduty-root-credential-usage" => G,
        // Below the GuardDutyMinimumSeverity default (4).
        "guardduty-low-severity" => None,
        // Not an identity finding.
        "guardduty-ec2-port-probe" => None,
        "malformed-control-character-in-user-name"
        | "malformed-create-user-bad-event-time"
        | "malformed-create-user-missing-event-id"
        | "malformed-create-user-without-user-name"
        | "malformed-unicode-user-name"
        | "malformed-user-identity-not-an-object" => C,
        "malformed-guardduty-count-negative"
        | "malformed-guardduty-missing-user-type"
        | "malformed-guardduty-severity-out-of-range"
        | "malformed-guardduty-without-id" => G,
        // Security Hub's copy of a GuardDuty IAM finding, and an analyst's request through
        // cordon's custom action.
        "securityhub-imported-guardduty-tor-ip-caller" => Some("SecurityHubFinding"),
        "securityhub-custom-action-guardduty-tor-ip-caller" => Some("SecurityHubContainRequest"),
        // A severity that is not a number cannot satisfy a numeric match.
        "malformed-guardduty-severity-not-a-number" => None,
        "malformed-unknown-detail-type" | "malformed-unsupported-event-name" => None,
        _ => return None,
    })
}

/// Events EventBridge itself refuses at PutEvents (so no rule can ever see them): not an
/// object, no detail-type, a detail that is not an object, or over 256 KiB.
fn undeliverable(event: &Value, text_len: usize) -> bool {
    !event.is_object()
        || !event["detail-type"].is_string()
        || !event["source"].is_string()
        || !(event["detail"].is_object() || event["detail"].is_null())
        || text_len > 256 * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_patterns_start_the_response_for_exactly_the_right_events() {
    let template = template();
    let patterns: BTreeMap<String, Value> = event_patterns(&template)
        .into_iter()
        .map(|(k, p)| (k, with_action_target_arns(&template, &p)))
        .collect();
    assert_eq!(
        patterns.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "CreateUser",
            "GuardDutyFinding",
            "SecurityHubContainRequest",
            "SecurityHubFinding"
        ])
    );
    assert_eq!(
        patterns["SecurityHubContainRequest"]["resources"],
        json!([action_target_arn(&contain_action_id())])
    );
    let mut cases: Vec<(String, Value, Option<&str>)> = built_in();
    let mut refused = Vec::new();
    for (name, event, len) in fixtures() {
        if undeliverable(&event, len) {
            refused.push(name);
            continue;
        }
        let expected = expected_rule(&name).unwrap_or_else(|| {
            panic!("tests/events/{name}.json: add its expected rule to expected_rule()")
        });
        cases.push((name, event, expected));
    }
    // The fixtures EventBridge refuses are exactly these (and nothing else disappears).
    if !refused.is_empty() {
        assert_eq!(
            refused,
            [
                "malformed-detail-not-an-object",
                "malformed-missing-detail-type",
                "malformed-not-an-object",
                "malformed-oversized"
            ],
        );
    }

    let moto = cordon_moto::Moto::start().expect("moto_server");
    let config = moto.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);

    // One rule and one queue per template pattern, on the default bus.
    let mut queues = BTreeMap::new();
    for (rule, pattern) in &patterns {
        let url = sqs
            .create_queue()
            .queue_name(format!("cordon-test-{rule}"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        events
            .put_rule()
            .name(rule)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(rule)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        queues.insert(rule.clone(), url);
    }

    // Each event is marked with its case name in `resources`, which no pattern looks at.
    for chunk in cases.chunks(10) {
        let mut req = events.put_events();
        for (name, event, _) in chunk {
            let mut resources: Vec<String> = event["resources"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            resources.push(format!("urn:cordon-test:{name}"));
            let detail = if event["detail"].is_null() {
                "{}".to_string()
            } else {
                detail_for_moto(event).to_string()
            };
            req = req.entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(
                        event["source"]
                            .as_str()
                            .unwrap_or("cordon.test.missing-source"),
                    )
                    .detail_type(
                        event["detail-type"]
                            .as_str()
                            .unwrap_or("missing detail-type"),
                    )
                    .detail(detail)
                    .set_resources(Some(resources))
                    .build(),
            );
        }
        let out = req.send().await.unwrap();
        assert_eq!(out.failed_entry_count, 0, "{out:?}");
    }

    let mut matched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rule, url) in &queues {
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                for r in body["resources"].as_array().cloned().unwrap_or_default() {
                    if let Some(name) = r.as_str().and_then(|r| r.strip_prefix("urn:cordon-test:"))
                    {
                        matched
                            .entry(name.to_string())
                            .or_default()
                            .insert(rule.clone());
                    }
                }
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    let mut wrong = Vec::new();
    for (name, _, expected) in &cases {
        let got = matched.remove(name).unwrap_or_default();
        let want: BTreeSet<String> = expected.iter().map(|r| r.to_string()).collect();
        if got != want {
            wrong.push(format!("{name}: expected {want:?}, matched {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "event routing:\n{}", wrong.join("\n"));
    for rule in patterns.keys() {
        assert!(
            cases.iter().any(|c| c.2 == Some(rule.as_str())),
            "no case starts {rule}"
        );
    }
}
