//! The deployed definitions run on the project's engine with stand-in functions: the intake
//! (`statemachine/intake.asl.json`) behind the template's EventBridge rules, starting the
//! incident response (`statemachine/incident-response.asl.json`) through the Step Functions
//! API as in AWS, and the response's payload budget. No moto and no function binaries: the
//! functions are closures that answer in the shape of the real ones and record what they got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_engine::{Engine, EngineConfig, InProcessLambdas, LambdaInvoker, ServiceIntegration};
use cordon_moto::{ACCOUNT_ID, REGION};
use serde_json::{Value, json};

use crate::stack::{EventRouter, Outcome};
use crate::template::Template;

const FINDING_A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const FINDING_B: &str = "0f9e8d7c6b5a49382716f5e4d3c2b1a0";
const DETECTOR: &str = "12abc34d567e8fa901bc2d34e56789f0";
const GUARDDUTY_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
const INSPECTOR_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/inspector";

/// What the stand-in functions were given, by function.
type Calls = Arc<Mutex<HashMap<String, Vec<Value>>>>;

struct Harness {
    engine: Engine,
    _server: cordon_sfn_server::Server,
    router: EventRouter,
    response_arn: String,
    calls: Calls,
    contain_action_arn: String,
}

/// How the stand-in enrich answers the event it gets.
type EnrichFn = Arc<dyn Fn(&Value) -> Result<Value, (String, String)> + Send + Sync>;

/// The real enrich's answer: `{event, incident, enrichment}`, the event as it came (the stand-in
/// does not need to bound small events).
fn enrich_as_usual() -> EnrichFn {
    Arc::new(|event: &Value| {
        Ok(json!({
            "event": event,
            "incident": {"id": event["detail"]["eventID"].as_str().or(event["id"].as_str())},
            "enrichment": {"subject": {"exists": true}}
        }))
    })
}

async fn harness(enrich: EnrichFn) -> Harness {
    let calls: Calls = Arc::default();
    let record = |name: &'static str, calls: &Calls| {
        let calls = calls.clone();
        move |v: &Value| {
            calls
                .lock()
                .unwrap()
                .entry(name.to_string())
                .or_default()
                .push(v.clone());
        }
    };
    let (rec_enrich, rec_classify, rec_notify) = (
        record("enrich", &calls),
        record("classify", &calls),
        record("notify", &calls),
    );
    let lambdas = InProcessLambdas::new()
        .with("cordon-enrich", move |v: Value| {
            rec_enrich(&v);
            let answer = enrich(&v);
            async move { answer }
        })
        .with("cordon-classify", move |v: Value| {
            rec_classify(&v);
            async move { Ok(json!({"verdict": "notify", "severity": "low", "reasons": []})) }
        })
        .with("cordon-notify", move |v: Value| {
            rec_notify(&v);
            async move { Ok(json!({"messageId": "m-1"})) }
        });

    let states = cordon_integrations::StepFunctions::unconnected();
    let mut services: HashMap<String, Arc<dyn ServiceIntegration>> = HashMap::new();
    services.insert("states".into(), Arc::new(states.clone()));
    let engine = Engine::start(EngineConfig {
        lambda: Some(Arc::new(lambdas) as Arc<dyn LambdaInvoker>),
        services,
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let server =
        cordon_sfn_server::Server::start(engine.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
    states.connect(&cordon_moto::sdk_config_for(&server.endpoint()).await);

    // The state machines as the stack creates them, substitutions resolved from the template.
    let root = crate::find_root().unwrap();
    let mut template = Template::read(&root.join("infra/template.yaml")).unwrap();
    for f in template.functions().unwrap() {
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", f.name);
        template.values.insert(f.logical_id.clone(), f.name.clone());
        template.values.insert(format!("{}.Arn", f.logical_id), arn);
    }
    let machines_defs = template.state_machines().unwrap();
    let mut machines = HashMap::new();
    for sm in &machines_defs {
        let arn = format!(
            "arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{}",
            sm.name
        );
        template.values.insert(sm.logical_id.clone(), arn.clone());
        template
            .values
            .insert(format!("{}.Arn", sm.logical_id), arn.clone());
        template
            .values
            .insert(format!("{}.Name", sm.logical_id), sm.name.clone());
        machines.insert(sm.logical_id.clone(), arn);
    }
    for sm in &machines_defs {
        let definition = template.definition(sm).unwrap();
        engine
            .call(
                "CreateStateMachine",
                json!({"name": sm.name, "definition": definition, "type": sm.kind,
                       "roleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/test")}),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", sm.logical_id));
    }
    let router = EventRouter::from_template(&root, machines.clone()).unwrap();
    let contain = template
        .action_targets()
        .unwrap()
        .into_iter()
        .find(|t| t.logical_id == "ContainActionTarget")
        .expect("the template's ContainActionTarget");
    Harness {
        engine,
        _server: server,
        router,
        response_arn: machines["IncidentResponseStateMachine"].clone(),
        calls,
        contain_action_arn: contain.arn(REGION, ACCOUNT_ID),
    }
}

impl Harness {
    async fn describe(&self, arn: &str) -> Value {
        self.engine
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .unwrap()
    }

    async fn wait_closed(&self, arn: &str) -> Value {
        let start = Instant::now();
        loop {
            let d = self.describe(arn).await;
            if d["status"] != "RUNNING" {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still running: {d}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn output(d: &Value) -> Value {
        serde_json::from_str(d["output"].as_str().unwrap_or("null")).unwrap()
    }

    fn input(d: &Value) -> Value {
        serde_json::from_str(d["input"].as_str().unwrap()).unwrap()
    }

    /// Run the incident response on `event` under `name`, to its end.
    async fn respond(&self, name: &str, event: &Value) -> Value {
        let arn = self
            .engine
            .call(
                "StartExecution",
                json!({"stateMachineArn": self.response_arn, "name": name, "input": event.to_string()}),
            )
            .await
            .unwrap()["executionArn"]
            .as_str()
            .unwrap()
            .to_string();
        self.wait_closed(&arn).await
    }

    fn calls(&self, function: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .get(function)
            .cloned()
            .unwrap_or_default()
    }
}

fn cloudtrail_create_user(event_id: &str) -> Value {
    json!({
        "version": "0", "id": "b1c2d3e4-0000-4000-8000-000000000001",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "account": ACCOUNT_ID, "time": "2026-03-14T02:13:07Z", "region": REGION, "resources": [],
        "detail": {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventID": event_id,
                   "requestParameters": {"userName": "backup7"}}
    })
}

fn guardduty_event(finding_id: &str) -> Value {
    json!({
        "version": "0", "id": "c1d2e3f4-0000-4000-8000-000000000002",
        "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": ACCOUNT_ID, "time": "2026-03-14T02:13:07Z", "region": REGION, "resources": [],
        "detail": {"id": finding_id, "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                   "severity": 8, "resource": {"resourceType": "AccessKey"}}
    })
}

/// An ASFF finding of `product` with `id`.
fn finding(product: &str, id: &str, types: &[&str]) -> Value {
    json!({
        "SchemaVersion": "2018-10-08", "Id": id, "ProductArn": product,
        "GeneratorId": format!("arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{DETECTOR}"),
        "AwsAccountId": ACCOUNT_ID, "Types": types, "Title": "t", "Description": "d",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Resources": [{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA0000000000000000"}]
    })
}

fn guardduty_finding(finding_id: &str) -> Value {
    finding(
        GUARDDUTY_PRODUCT,
        &format!(
            "arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{DETECTOR}/finding/{finding_id}"
        ),
        &[
            "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS",
        ],
    )
}

fn inspector_finding() -> Value {
    finding(
        INSPECTOR_PRODUCT,
        &format!("arn:aws:inspector2:{REGION}:{ACCOUNT_ID}:finding/9f8e7d6c5b4a"),
        &["Software and Configuration Checks/Vulnerabilities/CVE"],
    )
}

fn security_hub_event(
    event_id: &str,
    detail_type: &str,
    resources: &[&str],
    detail: Value,
) -> Value {
    json!({
        "version": "0", "id": event_id, "detail-type": detail_type, "source": "aws.securityhub",
        "account": ACCOUNT_ID, "time": "2026-03-14T02:13:07Z", "region": REGION,
        "resources": resources, "detail": detail
    })
}

fn imported(event_id: &str, findings: Vec<Value>) -> Value {
    security_hub_event(
        event_id,
        "Security Hub Findings - Imported",
        &[],
        json!({"findings": findings}),
    )
}

fn request(h: &Harness, event_id: &str, findings: Vec<Value>) -> Value {
    security_hub_event(
        event_id,
        "Security Hub Findings - Custom Action",
        &[&h.contain_action_arn],
        json!({"actionName": "Contain with cordon", "actionDescription": "Asks cordon to respond",
               "findings": findings}),
    )
}

/// The event the response gets for `finding` of the Security Hub `event`.
fn one_finding_event(event: &Value, finding: &Value) -> Value {
    let mut e = event.clone();
    e["detail"]["findings"] = json!([finding]);
    e
}

fn response_arn(h: &Harness, name: &str) -> String {
    format!(
        "{}:{name}",
        h.response_arn.replace(":stateMachine:", ":execution:")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudtrail_event_gets_one_response_named_after_its_event_id() {
    let h = harness(enrich_as_usual()).await;
    let event = cloudtrail_create_user("3f1e0a4e-0000-4000-8000-00000000c701");
    let routed = h.router.send(&h.engine, &event).await.unwrap();
    assert_eq!(routed.matches.len(), 1, "{routed:?}");
    let m = &routed.matches[0];
    assert_eq!(m.incident_id, "3f1e0a4e-0000-4000-8000-00000000c701");
    assert_eq!(routed.incident_id.as_deref(), Some(m.incident_id.as_str()));
    assert_eq!(m.outcome, Outcome::Started);
    assert_eq!(m.execution_arn, response_arn(&h, &m.incident_id));
    // The intake's answer keeps its shape for CloudTrail and GuardDuty events.
    let intake = h.wait_closed(&m.target_execution_arn).await;
    assert_eq!(
        Harness::output(&intake),
        json!({"executionArn": m.execution_arn, "name": m.incident_id, "outcome": "started"})
    );
    let again = h.router.send(&h.engine, &event).await.unwrap();
    assert_eq!(again.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(again.matches[0].execution_arn, m.execution_arn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_hub_import_starts_one_response_per_guardduty_finding() {
    let h = harness(enrich_as_usual()).await;
    let weird = finding(
        GUARDDUTY_PRODUCT,
        "not-a-finding-arn",
        &["TTPs/Discovery/Discovery:IAMUser-AnomalousBehavior"],
    );
    let findings = vec![
        guardduty_finding(FINDING_A),
        inspector_finding(),
        guardduty_finding(FINDING_B),
        weird.clone(),
    ];
    let event = imported("5e6f7a8b-0000-4000-8000-0000000000a1", findings.clone());
    let routed = h.router.send(&h.engine, &event).await.unwrap();
    assert_eq!(routed.matches.len(), 3, "{routed:?}");
    assert!(
        routed
            .matches
            .iter()
            .all(|m| m.rule == "cordon-securityhub-finding")
    );
    assert!(routed.matches.iter().all(|m| m.outcome == Outcome::Started));
    let names: Vec<&str> = routed
        .matches
        .iter()
        .map(|m| m.incident_id.as_str())
        .collect();
    // Named after the GuardDuty finding id; an unusable Id gets a generated name.
    assert_eq!(names[..2], [FINDING_A, FINDING_B]);
    assert!(names[2].starts_with("unusable-id-"), "{names:?}");
    assert_eq!(routed.incident_id.as_deref(), Some(FINDING_A));
    assert_eq!(routed.ignored.len(), 1, "{routed:?}");
    assert_eq!(routed.ignored[0].finding_id, inspector_finding()["Id"]);
    assert_eq!(
        routed.ignored[0].reason,
        format!("not a GuardDuty finding: {INSPECTOR_PRODUCT}")
    );

    // The intake's answer, in the order of the findings.
    let intake = h.wait_closed(&routed.matches[0].target_execution_arn).await;
    assert_eq!(intake["status"], "SUCCEEDED");
    let out = Harness::output(&intake);
    let responses = out["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 4, "{out}");
    assert_eq!(
        responses[0],
        json!({"executionArn": response_arn(&h, FINDING_A), "name": FINDING_A, "outcome": "started"})
    );
    assert_eq!(
        responses[1],
        json!({"outcome": "ignored", "findingId": inspector_finding()["Id"],
               "reason": format!("not a GuardDuty finding: {INSPECTOR_PRODUCT}")})
    );
    assert_eq!(responses[2]["name"], FINDING_B);
    assert_eq!(responses[3]["name"], names[2]);

    // Each response got the event's envelope with its one finding.
    for (m, f) in routed
        .matches
        .iter()
        .zip([&findings[0], &findings[2], &weird])
    {
        let d = h.wait_closed(&m.execution_arn).await;
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(Harness::input(&d), one_finding_event(&event, f));
    }

    // A redelivery, and the GuardDuty event of finding A, are the same responses.
    let again = h.router.send(&h.engine, &event).await.unwrap();
    assert_eq!(again.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(again.matches[1].outcome, Outcome::Duplicate);
    assert_eq!(again.matches[0].execution_arn, response_arn(&h, FINDING_A));
    let gd = h
        .router
        .send(&h.engine, &guardduty_event(FINDING_A))
        .await
        .unwrap();
    assert_eq!(gd.matches.len(), 1, "{gd:?}");
    assert_eq!(gd.matches[0].rule, "cordon-guardduty-finding");
    assert_eq!(gd.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(gd.matches[0].incident_id, FINDING_A);
    assert_eq!(gd.matches[0].execution_arn, response_arn(&h, FINDING_A));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guardduty_event_first_then_its_security_hub_copy_is_one_response() {
    let h = harness(enrich_as_usual()).await;
    let gd = h
        .router
        .send(&h.engine, &guardduty_event(FINDING_B))
        .await
        .unwrap();
    assert_eq!(gd.matches[0].outcome, Outcome::Started);
    let hub = h
        .router
        .send(
            &h.engine,
            &imported(
                "6f7a8b9c-0000-4000-8000-0000000000b2",
                vec![guardduty_finding(FINDING_B)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(hub.matches.len(), 1, "{hub:?}");
    assert_eq!(hub.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(hub.matches[0].execution_arn, gd.matches[0].execution_arn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysts_request_starts_a_response_even_after_the_automatic_one() {
    let h = harness(enrich_as_usual()).await;
    let automatic = h
        .router
        .send(&h.engine, &guardduty_event(FINDING_A))
        .await
        .unwrap();
    assert_eq!(automatic.matches[0].outcome, Outcome::Started);

    let event_id = "7a8b9c0d-0000-4000-8000-0000000000c3";
    let ask = request(
        &h,
        event_id,
        vec![guardduty_finding(FINDING_A), inspector_finding()],
    );
    let routed = h.router.send(&h.engine, &ask).await.unwrap();
    assert_eq!(routed.matches.len(), 1, "{routed:?}");
    let m = &routed.matches[0];
    assert_eq!(m.rule, "cordon-securityhub-contain-request");
    assert_eq!(m.outcome, Outcome::Started);
    assert_eq!(m.incident_id, format!("{FINDING_A}-request-{event_id}"));
    assert!(m.incident_id.len() <= 80);
    assert_eq!(routed.ignored.len(), 1);
    // The response gets the request: the envelope, the one finding, the action's name and
    // description.
    let d = h.wait_closed(&m.execution_arn).await;
    let input = Harness::input(&d);
    assert_eq!(
        input,
        one_finding_event(&ask, &guardduty_finding(FINDING_A))
    );
    assert_eq!(input["detail"]["actionName"], "Contain with cordon");

    // A redelivery of the same request is a duplicate; another request is another response.
    let again = h.router.send(&h.engine, &ask).await.unwrap();
    assert_eq!(again.matches[0].outcome, Outcome::Duplicate);
    assert_eq!(again.matches[0].execution_arn, m.execution_arn);
    let other = request(
        &h,
        "8b9c0d1e-0000-4000-8000-0000000000d4",
        vec![guardduty_finding(FINDING_A)],
    );
    let second = h.router.send(&h.engine, &other).await.unwrap();
    assert_eq!(second.matches[0].outcome, Outcome::Started);
    assert_ne!(second.matches[0].execution_arn, m.execution_arn);

    // A request to another custom action is not cordon's.
    let mut foreign = ask.clone();
    foreign["resources"] = json!([format!(
        "arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:action/custom/SendToTicketing"
    )]);
    let none = h.router.send(&h.engine, &foreign).await.unwrap();
    assert!(
        none.matches.is_empty() && none.ignored.is_empty(),
        "{none:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_files_the_case_from_enrichs_answer_alone() {
    let h = harness(enrich_as_usual()).await;
    let event = cloudtrail_create_user("3f1e0a4e-0000-4000-8000-00000000c702");
    let d = h.respond("case-file", &event).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    // Enrich gets the event as delivered, nothing added.
    assert_eq!(h.calls("enrich"), vec![event.clone()]);
    let out = Harness::output(&d);
    assert_eq!(
        keys(&out),
        [
            "classification",
            "enrichment",
            "event",
            "executionArn",
            "incident",
            "notification"
        ]
    );
    assert_eq!(out["event"], event);
    assert_eq!(out["executionArn"], d["executionArn"]);
    assert_eq!(
        out["incident"]["id"],
        "3f1e0a4e-0000-4000-8000-00000000c702"
    );
    assert_eq!(out["classification"]["verdict"], "notify");
    // Classify saw the same case file.
    let classified = &h.calls("classify")[0];
    assert_eq!(classified["event"], event);
    assert_eq!(classified["executionArn"], d["executionArn"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enrich_alerts_without_carrying_the_raw_event() {
    let h = harness(Arc::new(|_: &Value| {
        Err((
            "InvalidEvent".to_string(),
            "detail.userIdentity is not an object".to_string(),
        ))
    }))
    .await;
    let event = cloudtrail_create_user("3f1e0a4e-0000-4000-8000-00000000c703");
    let d = h.respond("enrich-fails", &event).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "InvalidEvent");
    assert!(
        d["cause"].as_str().unwrap().starts_with("Enrich failed: "),
        "{d}"
    );
    let alert = &h.calls("notify")[0];
    assert_eq!(
        alert["event"],
        json!({"cordon": "the event as delivered is this execution's input (ExecutionStarted)"})
    );
    assert_eq!(alert["executionArn"], d["executionArn"]);
    assert_eq!(alert["failure"]["state"], "Enrich");
    assert_eq!(alert["failure"]["Error"], "InvalidEvent");
    assert!(
        alert["failure"]["Cause"]
            .as_str()
            .unwrap()
            .contains("detail.userIdentity is not an object"),
        "{alert}"
    );
    assert_eq!(keys(alert), ["event", "executionArn", "failure"]);
}

/// An object's keys, sorted.
fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// A CloudTrail event of about `kb` KB (EventBridge delivers up to 256 KB).
fn large_event(kb: usize) -> Value {
    let mut e = cloudtrail_create_user("3f1e0a4e-0000-4000-8000-00000000c704");
    e["detail"]["requestParameters"]["tags"] =
        json!([{"key": "padding", "value": "x".repeat(kb * 1024)}]);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_event_and_its_enrichment_stay_within_the_state_limit() {
    // Enrich bounds its copy of the event; with ~100 KB of enrichment, the case file of a
    // ~200 KB event fits in 256 KB.
    let enrichment = json!({"policies": "p".repeat(100 * 1024)});
    let bounded = {
        let enrichment = enrichment.clone();
        Arc::new(move |event: &Value| {
            let mut copy = event.clone();
            copy["detail"]["requestParameters"]["tags"] = json!("[omitted: 200 KB]");
            Ok(json!({"event": copy, "incident": {"id": "big"}, "enrichment": enrichment}))
        }) as EnrichFn
    };
    let h = harness(bounded).await;
    let d = h.respond("large", &large_event(200)).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");

    // The same answer carrying the event whole would not fit: the bound is what keeps it.
    let unbounded = Arc::new(move |event: &Value| {
        Ok(json!({"event": event, "incident": {"id": "big"}, "enrichment": enrichment}))
    }) as EnrichFn;
    let h = harness(unbounded).await;
    let d = h.respond("large-unbounded", &large_event(200)).await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "States.DataLimitExceeded", "{d}");
}
