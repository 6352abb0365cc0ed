//! Recorded-shaped execution histories (the `GetExecutionHistory` JSON the local engine and
//! AWS return) for the rendering tests, built event by event.

use serde_json::{Value, json};

pub const EVENT: &str =
    include_str!("../../../../tests/events/cloudtrail-create-user-suspicious-name-no-mfa-cli.json");
pub const EXECUTION_ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:cordon-incident-response:c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406";
/// 2026-03-14T02:47:20Z
pub const T0_MS: i64 = 1_773_456_440_000;

pub struct History {
    pub events: Vec<Value>,
}

impl History {
    pub fn new() -> History {
        History { events: Vec::new() }
    }

    /// Append an event `ms` after T0 (`details_key` empty for none).
    pub fn ev(&mut self, ms: i64, kind: &str, details_key: &str, details: Value) -> &mut Self {
        let id = self.events.len() as u64 + 1;
        let t = T0_MS + ms;
        let mut e = json!({
            "timestamp": if t % 1000 == 0 { json!(t / 1000) } else { json!(t as f64 / 1000.0) },
            "type": kind,
            "id": id,
            "previousEventId": id - 1,
        });
        if !details_key.is_empty() {
            e[details_key] = details;
        }
        self.events.push(e);
        self
    }

    pub fn enter(&mut self, ms: i64, ty: &str, name: &str, input: &Value) -> &mut Self {
        self.ev(
            ms,
            &format!("{ty}StateEntered"),
            "stateEnteredEventDetails",
            json!({"name": name, "input": input.to_string(), "inputDetails": {"truncated": false}}),
        )
    }

    pub fn exit(&mut self, ms: i64, ty: &str, name: &str, output: &Value) -> &mut Self {
        self.ev(
            ms,
            &format!("{ty}StateExited"),
            "stateExitedEventDetails",
            json!({"name": name, "output": output.to_string(), "outputDetails": {"truncated": false}}),
        )
    }

    pub fn scheduled(&mut self, ms: i64, resource: &str, timeout: Option<u64>) -> &mut Self {
        let mut d = json!({
            "resourceType": "lambda",
            "resource": resource,
            "region": "us-east-1",
            "parameters": "{\"FunctionName\":\"arn:aws:lambda:us-east-1:123456789012:function:cordon-x\",\"Payload\":{}}",
        });
        if let Some(t) = timeout {
            d["timeoutInSeconds"] = json!(t);
        }
        self.ev(ms, "TaskScheduled", "taskScheduledEventDetails", d)
    }

    pub fn task_ok(&mut self, ms: i64, resource: &str, output: &Value) -> &mut Self {
        self.ev(
            ms - 1,
            "TaskStarted",
            "taskStartedEventDetails",
            json!({"resourceType": "lambda", "resource": resource}),
        );
        self.ev(
            ms,
            "TaskSucceeded",
            "taskSucceededEventDetails",
            json!({"resourceType": "lambda", "resource": resource, "output": output.to_string()}),
        )
    }

    pub fn task_failed(&mut self, ms: i64, resource: &str, error: &str, cause: &str) -> &mut Self {
        self.ev(
            ms - 1,
            "TaskStarted",
            "taskStartedEventDetails",
            json!({"resourceType": "lambda", "resource": resource}),
        );
        self.ev(
            ms,
            "TaskFailed",
            "taskFailedEventDetails",
            json!({"resourceType": "lambda", "resource": resource, "error": error, "cause": cause}),
        )
    }
}

pub fn event() -> Value {
    serde_json::from_str(EVENT).unwrap()
}

pub fn incident() -> Value {
    serde_json::to_value(cordon_core::parse_event(&event()).unwrap()).unwrap()
}

pub fn enrichment() -> Value {
    json!({
        "exists": true,
        "user": {
            "name": "service-x7k2qa", "arn": "arn:aws:iam::123456789012:user/service-x7k2qa",
            "userId": "AIDAC1D2E3F4A5B64C7D8", "path": "/", "tags": {},
            "attachedPolicies": [], "inlinePolicies": [], "groups": [],
            "accessKeys": [{"id": "AKIAC1D2E3F4A5B6C7D8", "status": "Active"}],
            "loginProfile": {"passwordResetRequired": false}, "mfaDevices": []
        }
    })
}

pub fn classification() -> Value {
    json!({
        "verdict": "approve", "severity": "medium", "score": 65,
        "reasons": [
            {"rule": "new-iam-user", "points": 10, "detail": "IAM user service-x7k2qa created by arn:aws:iam::123456789012:user/devops-tools"},
            {"rule": "suspicious-user-name", "points": 40, "detail": "service-x7k2qa matches ^service-[a-z0-9]{6}$"},
            {"rule": "creator-without-mfa", "points": 15, "detail": "created with long-term access keys (no MFA)"}
        ],
        "protected": false, "approvalTimeoutSeconds": 3600, "approvalDefault": "quarantine", "dryRun": false
    })
}

pub fn approval() -> Value {
    json!({
        "decision": "approved",
        "approver": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_0123/alice",
        "verified": false,
        "reason": "unknown user created from a Tor exit node",
        "decidedAt": "2026-03-14T02:49:20Z"
    })
}

pub fn containment() -> Value {
    json!({
        "dryRun": false,
        "actions": [
            {"action": "attach-quarantine-policy", "target": "service-x7k2qa", "status": "done", "detail": "arn:aws:iam::123456789012:policy/cordon-quarantine"},
            {"action": "tag-quarantined", "target": "service-x7k2qa", "status": "done", "detail": ""},
            {"action": "deactivate-access-key", "target": "AKIAC1D2E3F4A5B6C7D8", "status": "done", "detail": ""},
            {"action": "delete-login-profile", "target": "service-x7k2qa", "status": "done", "detail": "cannot be restored, only reset"},
            {"action": "enforce-imds-v2", "target": "service-x7k2qa", "status": "skipped", "detail": "not applicable"}
        ]
    })
}

pub fn notification() -> Value {
    json!({
        "messageId": "5f1e2d3c-0000-4000-8000-000000000001",
        "subject": "cordon: quarantined IAM user service-x7k2qa",
        "securityHub": {"status": "imported", "detail": ""}
    })
}

const INVOKE: &str = "invoke";
const WAIT: &str = "invoke.waitForTaskToken";

/// The case file up to the classification.
fn classified() -> Value {
    json!({"event": event(), "incident": incident(), "enrichment": enrichment(), "classification": classification()})
}

/// Up to RequestApproval entered, waiting for a decision.
pub fn waiting() -> History {
    let mut h = History::new();
    let ev = event();
    // Enrich opens the case file from its own answer (the event's bounded copy, the
    // incident, the enrichment); the event as delivered is only its input.
    let enriched = json!({"event": ev, "incident": incident(), "enrichment": enrichment()});
    h.ev(
        0,
        "ExecutionStarted",
        "executionStartedEventDetails",
        json!({"input": ev.to_string(), "roleArn": "arn:aws:iam::123456789012:role/cordon-sm"}),
    );
    h.enter(12, "Task", "Enrich", &ev)
        .scheduled(13, INVOKE, None)
        .task_failed(
            320,
            INVOKE,
            "Transient",
            "iam:GetUser failed (Transient): Throttling: Rate exceeded",
        )
        .scheduled(1320, INVOKE, None)
        .task_ok(
            1500,
            INVOKE,
            &json!({"Payload": {"event": ev, "incident": incident(), "enrichment": enrichment()}}),
        )
        .exit(1501, "Task", "Enrich", &enriched);
    h.enter(1504, "Task", "Classify", &enriched)
        .scheduled(1505, INVOKE, None)
        .task_ok(1600, INVOKE, &json!({"Payload": classification()}))
        .exit(1601, "Task", "Classify", &classified());
    h.enter(1602, "Pass", "RecordClassification", &classified())
        .exit(1603, "Pass", "RecordClassification", &classified());
    h.enter(1604, "Choice", "RouteOnVerdict", &classified())
        .exit(1605, "Choice", "RouteOnVerdict", &classified());
    h.enter(1606, "Task", "RequestApproval", &classified())
        .scheduled(1607, WAIT, Some(3600));
    h.ev(
        1650,
        "TaskStarted",
        "taskStartedEventDetails",
        json!({"resourceType": "lambda", "resource": WAIT}),
    );
    h.ev(
        1700,
        "TaskSubmitted",
        "taskSubmittedEventDetails",
        json!({"resourceType": "lambda", "resource": WAIT, "output": "{}"}),
    );
    h
}

/// Approved (asserted), quarantined and notified.
pub fn quarantined() -> History {
    let mut h = waiting();
    let mut doc = classified();
    doc["approval"] = approval();
    h.ev(
        120_000,
        "TaskSucceeded",
        "taskSucceededEventDetails",
        json!({"resourceType": "lambda", "resource": WAIT, "output": approval().to_string()}),
    );
    h.exit(120_001, "Task", "RequestApproval", &doc);
    h.enter(120_002, "Choice", "RouteOnDecision", &doc).exit(
        120_003,
        "Choice",
        "RouteOnDecision",
        &doc,
    );
    h.enter(120_004, "Task", "Quarantine", &doc)
        .scheduled(120_005, INVOKE, None);
    let mut parked = doc.clone();
    parked["containment"] = json!({"containment": containment()});
    h.task_ok(121_000, INVOKE, &json!({"Payload": containment()}))
        .exit(121_001, "Task", "Quarantine", &parked);
    doc["containment"] = containment();
    h.enter(121_002, "Pass", "RecordContainment", &parked).exit(
        121_003,
        "Pass",
        "RecordContainment",
        &doc,
    );
    h.enter(121_004, "Task", "Notify", &doc)
        .scheduled(121_005, INVOKE, None);
    let mut done = doc.clone();
    done["notification"] = notification();
    h.task_ok(121_400, INVOKE, &json!({"Payload": notification()}))
        .exit(121_401, "Task", "Notify", &done);
    h.enter(121_402, "Pass", "RecordNotification", &done).exit(
        121_403,
        "Pass",
        "RecordNotification",
        &done,
    );
    h.ev(
        121_404,
        "ExecutionSucceeded",
        "executionSucceededEventDetails",
        json!({"output": done.to_string(), "outputDetails": {"truncated": false}}),
    );
    h
}

/// Approved, then the quarantine failed for good: failure alert, execution failed.
pub fn quarantine_failed() -> History {
    let mut h = waiting();
    let mut doc = classified();
    doc["approval"] = approval();
    h.ev(
        120_000,
        "TaskSucceeded",
        "taskSucceededEventDetails",
        json!({"resourceType": "lambda", "resource": WAIT, "output": approval().to_string()}),
    );
    h.exit(120_001, "Task", "RequestApproval", &doc);
    h.enter(120_002, "Choice", "RouteOnDecision", &doc).exit(
        120_003,
        "Choice",
        "RouteOnDecision",
        &doc,
    );
    let cause = "iam:AttachUserPolicy failed (AccessDenied): AccessDenied: not authorized";
    h.enter(120_004, "Task", "Quarantine", &doc)
        .scheduled(120_005, INVOKE, None)
        .task_failed(120_300, INVOKE, "AccessDenied", cause);
    let mut failed = doc.clone();
    failed["failure"] = json!({"Error": "AccessDenied", "Cause": cause});
    h.exit(120_301, "Task", "Quarantine", &failed);
    failed["failure"]["state"] = json!("Quarantine");
    h.enter(120_302, "Pass", "QuarantineFailed", &failed).exit(
        120_303,
        "Pass",
        "QuarantineFailed",
        &failed,
    );
    h.enter(120_304, "Task", "NotifyFailure", &failed)
        .scheduled(120_305, INVOKE, None);
    let mut notified = failed.clone();
    notified["notification"] = notification();
    h.task_ok(120_600, INVOKE, &json!({"Payload": notification()}))
        .exit(120_601, "Task", "NotifyFailure", &notified);
    h.enter(120_602, "Fail", "ResponseFailed", &notified);
    h.ev(
        120_603,
        "ExecutionFailed",
        "executionFailedEventDetails",
        json!({"error": "AccessDenied", "cause": format!("Quarantine failed: {cause}")}),
    );
    h
}
