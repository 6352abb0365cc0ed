//! Rendering tests on recorded-shaped histories (see `fixtures`). The expected outputs are
//! whole files in `testdata/`, compared exactly.

use serde_json::{Value, json};

use super::fixtures::*;
use super::render;
use super::style::Style;
use super::timeline::{StepStatus, Timeline};

fn definition() -> Value {
    serde_json::from_str(include_str!(
        "../../../../statemachine/incident-response.asl.json"
    ))
    .unwrap()
}

fn timeline(h: History) -> Timeline {
    Timeline::from_history(EXECUTION_ARN, &h.events)
}

#[track_caller]
fn same(actual: &str, expected: &str) {
    if actual != expected {
        for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
            assert_eq!(a, e, "first difference at line {}", i + 1);
        }
        assert_eq!(actual, expected);
    }
}

#[test]
fn the_timeline_reads_states_attempts_and_the_case_file() {
    let t = timeline(quarantined());
    assert_eq!(t.status, "SUCCEEDED");
    let names: Vec<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
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
        ]
    );
    let enrich = &t.steps[0];
    assert_eq!(enrich.attempts.len(), 2);
    assert_eq!(enrich.retries(), 1);
    assert_eq!(
        enrich.attempts[0].error.as_ref().unwrap().error,
        "Transient"
    );
    assert_eq!(enrich.duration_ms(), Some(1489));
    assert_eq!(
        t.approval().unwrap().approver.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_0123/alice")
    );
    assert_eq!(t.containment().unwrap().actions.len(), 5);
    assert_eq!(t.notification().unwrap().security_hub.status, "imported");
    assert_eq!(
        t.incident().unwrap().id,
        "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406"
    );
}

#[test]
fn a_caught_failure_and_the_failing_end_are_marked() {
    let t = timeline(quarantine_failed());
    assert_eq!(t.status, "FAILED");
    let status = |n: &str| t.steps.iter().find(|s| s.name == n).unwrap().status;
    assert_eq!(status("Quarantine"), StepStatus::Caught);
    assert_eq!(status("QuarantineFailed"), StepStatus::Succeeded);
    assert_eq!(status("ResponseFailed"), StepStatus::Failed);
    assert_eq!(t.end_error.as_ref().unwrap().error, "AccessDenied");
    assert_eq!(t.failure().unwrap().state.as_deref(), Some("Quarantine"));
}

#[test]
fn text_rendering() {
    same(
        &render::text(&timeline(waiting()), &Style::PLAIN),
        include_str!("testdata/waiting.txt"),
    );
    same(
        &render::text(&timeline(quarantined()), &Style::PLAIN),
        include_str!("testdata/quarantined.txt"),
    );
    same(
        &render::text(&timeline(quarantine_failed()), &Style::PLAIN),
        include_str!("testdata/quarantine_failed.txt"),
    );
}

#[test]
fn text_rendering_in_colour_only_adds_escape_codes() {
    let t = timeline(quarantined());
    let coloured = render::text(&t, &Style { color: true });
    assert!(coloured.contains("\x1b[32mSUCCEEDED\x1b[0m"));
    let stripped = strip_ansi(&coloured);
    same(&stripped, include_str!("testdata/quarantined.txt"));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn markdown_rendering() {
    same(
        &render::markdown(&timeline(waiting())),
        include_str!("testdata/waiting.md"),
    );
    same(
        &render::markdown(&timeline(quarantined())),
        include_str!("testdata/quarantined.md"),
    );
    same(
        &render::markdown(&timeline(quarantine_failed())),
        include_str!("testdata/quarantine_failed.md"),
    );
}

#[test]
fn mermaid_rendering() {
    same(
        &render::mermaid(&timeline(waiting()), &definition()),
        include_str!("testdata/waiting.mmd"),
    );
    same(
        &render::mermaid(&timeline(quarantined()), &definition()),
        include_str!("testdata/quarantined.mmd"),
    );
    same(
        &render::mermaid(&timeline(quarantine_failed()), &definition()),
        include_str!("testdata/quarantine_failed.mmd"),
    );
}

#[test]
fn mermaid_of_a_small_machine_exactly() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "B",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Done"}], "Default": "Oops"},
        "Done": {"Type": "Succeed"},
        "Oops": {"Type": "Fail", "Error": "X"}
    }});
    let mut h = History::new();
    h.ev(
        0,
        "ExecutionStarted",
        "executionStartedEventDetails",
        json!({"input": "{}"}),
    );
    h.enter(1, "Task", "A", &json!({}))
        .scheduled(2, "invoke", None)
        .task_failed(5, "invoke", "Boom", "it broke");
    h.exit(6, "Task", "A", &json!({}));
    h.enter(7, "Fail", "Oops", &json!({}));
    h.ev(
        8,
        "ExecutionFailed",
        "executionFailedEventDetails",
        json!({"error": "X", "cause": ""}),
    );
    let t = timeline(h);
    same(
        &render::mermaid(&t, &def),
        "flowchart TD\n\
         \x20 start((start))\n\
         \x20 finish((end))\n\
         \x20 A[\"A\"]\n\
         \x20 B{\"B\"}\n\
         \x20 Done([\"Done\"])\n\
         \x20 Oops([\"Oops\"])\n\
         \x20 start --> A\n\
         \x20 A --> B\n\
         \x20 A -. \"States.ALL\" .-> Oops\n\
         \x20 B -- \"ok\" --> Done\n\
         \x20 B -- \"default\" --> Oops\n\
         \x20 classDef visited fill:#d8f5d8,stroke:#2e7d32,stroke-width:2px\n\
         \x20 classDef failed fill:#fbd5d5,stroke:#c62828,stroke-width:2px\n\
         \x20 classDef current fill:#fff4c2,stroke:#b08800,stroke-width:2px\n\
         \x20 class start visited\n\
         \x20 class A,Oops failed\n\
         \x20 linkStyle 0,2 stroke:#2e7d32,stroke-width:3px\n",
    );
}

#[test]
fn json_is_the_case_file_plus_the_timeline() {
    let t = timeline(quarantined());
    let j = render::json(&t);
    assert_eq!(j["status"], "SUCCEEDED");
    assert_eq!(j["caseFile"]["approval"], approval());
    assert_eq!(j["caseFile"]["containment"], containment());
    assert_eq!(j["caseFile"]["notification"], notification());
    assert_eq!(j["caseFile"]["event"], event());
    assert_eq!(j["timeline"][0]["name"], "Enrich");
    assert_eq!(j["timeline"][0]["retries"], 1);
    assert_eq!(j["timeline"][0]["durationMs"], 1489);
    assert_eq!(
        j["timeline"][0]["attempts"][0]["error"],
        json!({"error": "Transient", "cause": "iam:GetUser failed (Transient): Throttling: Rate exceeded"})
    );
    assert_eq!(j["timeline"][4]["name"], "RequestApproval");
    assert_eq!(j["timeline"][4]["attempts"][0]["timeoutSeconds"], 3600);
    assert_eq!(j["timeline"].as_array().unwrap().len(), 10);
}

#[test]
fn durations_read_well() {
    assert_eq!(render::duration(0), "0ms");
    assert_eq!(render::duration(999), "999ms");
    assert_eq!(render::duration(1500), "1.5s");
    assert_eq!(render::duration(125_000), "2m05s");
    assert_eq!(render::duration(3_720_000), "1h02m");
}

#[test]
fn incidents_rows_and_table() {
    let rows = vec![
        super::incident_row(&timeline(quarantined())),
        super::incident_row(&timeline(waiting())),
    ];
    assert_eq!(rows[0]["verdict"], "approve");
    assert_eq!(rows[0]["decision"], "approved");
    assert_eq!(rows[0]["approvalVerified"], false);
    assert_eq!(rows[1]["status"], "WAITING_FOR_APPROVAL");
    assert_eq!(rows[0]["account"], "123456789012");
    assert_eq!(rows[0]["region"], "us-east-1");
    same(
        &super::incidents_table(&rows, &Style::PLAIN),
        "INCIDENT                              VERDICT  ACCOUNT       SUBJECT                  STATUS                APPROVER                                                                            STARTED                   STOPPED\n\
         c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406  approve  123456789012  IAM user service-x7k2qa  SUCCEEDED             arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_SecurityResponder_0123/alice  2026-03-14T02:47:20.000Z  2026-03-14T02:49:21.404Z\n\
         c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e406  approve  123456789012  IAM user service-x7k2qa  WAITING_FOR_APPROVAL  -                                                                                   2026-03-14T02:47:20.000Z  -\n",
    );
}
