//! The properties the ASL promises, checked on the file itself: every Task retries transient
//! errors with capped, jittered backoff; every failure path sends a failure alert and then
//! fails; every state explains itself to an auditor.

use std::collections::BTreeSet;

use cordon_tests::asl;
use serde_json::Value;

const RETRIED: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Transient",
];

fn states(asl: &Value) -> Vec<(String, Value)> {
    asl["States"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn next_states(s: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["Next", "Default"] {
        if let Some(n) = s[key].as_str() {
            out.push(n.to_string());
        }
    }
    for list in ["Choices", "Catch"] {
        for c in s[list].as_array().cloned().unwrap_or_default() {
            if let Some(n) = c["Next"].as_str() {
                out.push(n.to_string());
            }
        }
    }
    out
}

#[test]
fn every_state_has_a_comment_for_auditors() {
    let asl = asl();
    assert!(asl["Comment"].as_str().is_some_and(|c| c.len() > 40));
    for (name, s) in states(&asl) {
        let c = s["Comment"].as_str().unwrap_or_default();
        assert!(
            c.split_whitespace().count() >= 6,
            "state {name} needs a Comment an auditor can read"
        );
    }
}

#[test]
fn every_task_retries_transient_errors_with_capped_jittered_backoff() {
    let asl = asl();
    let tasks: Vec<_> = states(&asl)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .collect();
    assert!(
        tasks.len() >= 6,
        "expected the six lambda tasks, found {}",
        tasks.len()
    );
    for (name, s) in tasks {
        let retriers = s["Retry"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no Retry"));
        for err in RETRIED {
            let r = retriers
                .iter()
                .find(|r| {
                    r["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e == err)
                })
                .unwrap_or_else(|| panic!("{name} does not retry {err}"));
            assert!(
                r["BackoffRate"].as_f64().unwrap_or(1.0) > 1.0,
                "{name}/{err}: no backoff"
            );
            assert!(
                r["MaxDelaySeconds"].as_u64().is_some(),
                "{name}/{err}: no MaxDelaySeconds"
            );
            assert_eq!(r["JitterStrategy"], "FULL", "{name}/{err}");
            assert!(r["MaxAttempts"].as_u64().unwrap_or(3) >= 2, "{name}/{err}");
        }
        assert!(
            !retriers.iter().any(|r| r["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "States.ALL" || e == "States.Timeout")),
            "{name} must not retry States.ALL/States.Timeout (a timed-out approval is a decision)"
        );
        let resource = s["Resource"].as_str().unwrap();
        assert!(
            resource.starts_with("arn:aws:states:::lambda:invoke"),
            "{name}: {resource}"
        );
        assert!(
            s["Parameters"]["FunctionName"]
                .as_str()
                .is_some_and(|f| f.starts_with("${") && f.ends_with('}')),
            "{name}: FunctionName must be a definition substitution"
        );
    }
}

/// From a state, every path must reach `NotifyFailure`, then a `Fail` state.
fn reaches_failure_alert(asl: &Value, from: &str, seen: &mut BTreeSet<String>) -> bool {
    if !seen.insert(from.to_string()) {
        return true;
    }
    if from == "NotifyFailure" {
        return true;
    }
    let s = &asl["States"][from];
    match s["Type"].as_str() {
        Some("Fail") | Some("Succeed") => false,
        _ if s["End"] == true => false,
        _ => {
            let nexts = next_states(s);
            !nexts.is_empty() && nexts.iter().all(|n| reaches_failure_alert(asl, n, seen))
        }
    }
}

#[test]
fn every_failure_path_sends_a_failure_alert_then_fails() {
    let asl = asl();
    for (name, s) in states(&asl) {
        if s["Type"] != "Task" || name == "NotifyFailure" {
            continue;
        }
        let catchers = s["Catch"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} catches nothing"));
        let all = catchers
            .iter()
            .find(|c| {
                c["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "States.ALL")
            })
            .unwrap_or_else(|| panic!("{name} does not catch States.ALL"));
        assert_eq!(
            all["ResultPath"], "$.failure",
            "{name}: the failure goes to $.failure for notify"
        );
        let target = all["Next"].as_str().unwrap();
        assert!(
            reaches_failure_alert(&asl, target, &mut BTreeSet::new()),
            "{name}: States.ALL -> {target} does not lead to NotifyFailure"
        );
        // The failed step is named in failure.state for the alert.
        let t = &asl["States"][target];
        assert!(
            t["ResultPath"] == "$.failure.state" && t["Result"] == *name,
            "{target} must record state = {name}"
        );
    }
    let nf = &asl["States"]["NotifyFailure"];
    assert_eq!(asl["States"][nf["Next"].as_str().unwrap()]["Type"], "Fail");
    let fallback = nf["Catch"][0]["Next"].as_str().unwrap();
    assert_eq!(
        asl["States"][fallback]["Type"], "Fail",
        "a failed failure alert still fails the execution"
    );
    for (name, s) in states(&asl) {
        if s["Type"] == "Fail" {
            assert!(
                s["Error"].is_string() || s["ErrorPath"].is_string(),
                "{name}: Fail needs an error"
            );
            assert!(
                s["Cause"].is_string() || s["CausePath"].is_string(),
                "{name}: Fail needs a cause"
            );
        }
    }
    // Unknown verdicts and decisions are failures too, not silent defaults.
    for choice in ["RouteOnVerdict", "RouteOnDecision"] {
        let d = asl["States"][choice]["Default"].as_str().unwrap();
        assert!(
            reaches_failure_alert(&asl, d, &mut BTreeSet::new()),
            "{choice} Default {d}"
        );
    }
}

#[test]
fn verdicts_and_decisions_route_as_designed() {
    let asl = asl();
    let route = |choice: &str, var: &str, value: &str| -> String {
        let c = asl["States"][choice]["Choices"].as_array().unwrap();
        c.iter()
            .find(|c| c["Variable"] == var && c["StringEquals"] == value)
            .or_else(|| {
                c.iter().find(|c| {
                    c["And"].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|x| x["Variable"] == var && x["StringEquals"] == value)
                    })
                })
            })
            .and_then(|c| c["Next"].as_str())
            .unwrap_or_else(|| panic!("{choice}: no route for {value}"))
            .to_string()
    };
    assert_eq!(
        route("RouteOnVerdict", "$.classification.verdict", "quarantine"),
        "Quarantine"
    );
    assert_eq!(
        route("RouteOnVerdict", "$.classification.verdict", "approve"),
        "RequestApproval"
    );
    assert_eq!(
        route("RouteOnVerdict", "$.classification.verdict", "notify"),
        "Notify"
    );
    assert_eq!(
        asl["States"][route("RouteOnVerdict", "$.classification.verdict", "ignore")]["Type"],
        "Succeed"
    );
    assert_eq!(
        route("RouteOnDecision", "$.approval.decision", "approved"),
        "Quarantine"
    );
    assert_eq!(
        route("RouteOnDecision", "$.approval.decision", "rejected"),
        "Notify"
    );
    assert_eq!(
        route(
            "ApplyApprovalDefault",
            "$.classification.approvalDefault",
            "quarantine"
        ),
        "Quarantine"
    );
    assert_eq!(
        route(
            "ApplyApprovalDefault",
            "$.classification.approvalDefault",
            "notify"
        ),
        "Notify"
    );

    let ra = &asl["States"]["RequestApproval"];
    assert_eq!(
        ra["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    assert_eq!(
        ra["TimeoutSecondsPath"],
        "$.classification.approvalTimeoutSeconds"
    );
    assert_eq!(ra["Parameters"]["Payload"]["taskToken.$"], "$$.Task.Token");
    assert_eq!(
        ra["Parameters"]["Payload"]["executionArn.$"],
        "$$.Execution.Id"
    );
    assert_eq!(ra["Parameters"]["Payload"]["state.$"], "$");
    assert_eq!(ra["ResultPath"], "$.approval");
    let timeout = ra["Catch"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ErrorEquals"][0] == "States.Timeout")
        .unwrap();
    let timed_out = &asl["States"][timeout["Next"].as_str().unwrap()];
    assert_eq!(timed_out["Parameters"]["decision"], "timed-out");
    assert_eq!(timed_out["ResultPath"], "$.approval");
    assert_eq!(timed_out["Next"], "ApplyApprovalDefault");
}

#[test]
fn each_function_result_lands_under_its_own_key() {
    let asl = asl();
    let s = |n: &str| asl["States"][n].clone();
    assert_eq!(s("FileEvent")["Parameters"]["event.$"], "$");
    assert_eq!(
        s("FileEvent")["Parameters"]["executionArn.$"],
        "$$.Execution.Id"
    );
    assert_eq!(
        s("Enrich")["ResultSelector"]["incident.$"],
        "$.Payload.incident"
    );
    assert_eq!(
        s("Enrich")["ResultSelector"]["enrichment.$"],
        "$.Payload.enrichment"
    );
    for (task, key) in [
        ("Enrich", "incident"),
        ("Classify", "classification"),
        ("Quarantine", "containment"),
        ("Notify", "notification"),
    ] {
        let t = s(task);
        assert_eq!(t["ResultPath"], format!("$.{key}"), "{task}");
        if task != "Enrich" {
            assert_eq!(
                t["ResultSelector"][format!("{key}.$")],
                "$.Payload",
                "{task}"
            );
        }
        // The Record state spreads the parked result over the document.
        let record = s(t["Next"].as_str().unwrap());
        assert_eq!(record["Type"], "Pass");
        assert_eq!(
            record["Parameters"]["document.$"],
            format!("States.JsonMerge($, $.{key}, false)"),
            "{task}"
        );
        assert_eq!(record["OutputPath"], "$.document");
    }
}

#[test]
fn the_intake_starts_one_response_per_incident_and_never_drops_an_event() {
    let intake: Value =
        serde_json::from_str(&cordon_tests::read("statemachine/intake.asl.json")).unwrap();
    for (name, s) in states(&intake) {
        assert!(
            s["Comment"].as_str().is_some_and(|c| c.len() > 20),
            "intake state {name} has no Comment"
        );
    }
    let st = &intake["States"];
    // The response is named after the incident id: CloudTrail eventID, GuardDuty finding id.
    assert_eq!(
        st["CloudTrailIncident"]["Assign"]["incidentName.$"],
        "$.detail.eventID"
    );
    assert_eq!(
        st["GuardDutyIncident"]["Assign"]["incidentName.$"],
        "$.detail.id"
    );
    let start = &st["StartResponse"];
    assert_eq!(start["Resource"], "arn:aws:states:::states:startExecution");
    assert_eq!(start["Parameters"]["Name.$"], "$incidentName");
    // The event goes on untouched.
    assert_eq!(start["Parameters"]["Input.$"], "$");
    // A second start under the same name is a duplicate, answered and not an error...
    let catches = start["Catch"].as_array().unwrap();
    assert_eq!(
        catches[0]["ErrorEquals"],
        serde_json::json!(["StepFunctions.ExecutionAlreadyExistsException"])
    );
    assert_eq!(catches[0]["Next"], "Duplicate");
    assert_eq!(st["Duplicate"]["Parameters"]["outcome"], "duplicate");
    // ...and any other failure to start still starts a response, under a generated name.
    assert_eq!(catches[1]["ErrorEquals"], serde_json::json!(["States.ALL"]));
    let fallback = next_states(&st[catches[1]["Next"].as_str().unwrap()]);
    assert_eq!(
        fallback,
        vec!["StartResponseUnderGeneratedName".to_string()]
    );
    assert_eq!(
        st["StartResponseUnderGeneratedName"]["Resource"],
        "arn:aws:states:::states:startExecution"
    );
    assert_eq!(
        st["StartResponseUnderGeneratedName"]["Parameters"]["Input.$"],
        "$"
    );
    // An event without an id is not dropped either.
    assert_eq!(st["NameAfterIncident"]["Default"], "UnidentifiedIncident");
}

#[test]
fn throttling_is_retried_patiently_so_a_burst_is_queued_not_lost() {
    // A burst of incidents meets Lambda concurrency limits and IAM rate limits. With full
    // jitter the expected wait is half the capped backoff: keep retrying for at least ~10
    // minutes of expected waiting before an incident gives up.
    let asl = asl();
    for (name, s) in states(&asl)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
    {
        for err in ["Lambda.TooManyRequestsException", "Transient"] {
            let r = s["Retry"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e == err)
                })
                .unwrap_or_else(|| panic!("{name} does not retry {err}"));
            let (interval, rate, cap) = (
                r["IntervalSeconds"].as_f64().unwrap_or(1.0),
                r["BackoffRate"].as_f64().unwrap_or(2.0),
                r["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX),
            );
            let attempts = r["MaxAttempts"].as_u64().unwrap_or(3);
            let expected: f64 = (0..attempts)
                .map(|i| (interval * rate.powi(i as i32)).min(cap) / 2.0)
                .sum();
            assert!(
                expected >= 600.0,
                "{name}: {err} gives up after ~{expected:.0} s of expected waiting"
            );
        }
    }
}
