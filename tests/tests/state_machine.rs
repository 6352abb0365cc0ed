//! The properties the ASL promises, checked on the file itself: every Task retries transient
//! errors with capped, jittered backoff; every failure path sends a failure alert and then
//! fails; every state explains itself to an auditor; no state holds the raw event beside the
//! enrichment; the intake names each response after its incident. (The definitions are run,
//! with stand-in functions, by the unit tests of `cordon-stack`: `local/stack/src/asl_tests.rs`.)

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
        let target = all["Next"].as_str().unwrap();
        assert!(
            reaches_failure_alert(&asl, target, &mut BTreeSet::new()),
            "{name}: States.ALL -> {target} does not lead to NotifyFailure"
        );
        let t = &asl["States"][target];
        if name == "Enrich" {
            // Enrich's input is the raw event: its error replaces it, and the failure state
            // opens the case file with the failure (state, Error, Cause) and no event copy.
            assert_eq!(
                all["ResultPath"], "$",
                "{name}: the raw event is not carried on"
            );
            let p = &t["Parameters"];
            assert_eq!(t["Type"], "Pass", "{target}");
            assert_eq!(p["failure"]["state"], "Enrich", "{target}");
            assert_eq!(p["failure"]["Error.$"], "$.Error", "{target}");
            assert_eq!(p["failure"]["Cause.$"], "$.Cause", "{target}");
            assert_eq!(p["executionArn.$"], "$$.Execution.Id", "{target}");
            assert!(
                p["event"].is_object() && p.get("event.$").is_none(),
                "{target}: the case file's event is a note, never the raw event"
            );
            assert!(
                !t.to_string().contains("\"$.event"),
                "{target} reads no event"
            );
            continue;
        }
        assert_eq!(
            all["ResultPath"], "$.failure",
            "{name}: the failure goes to $.failure for notify"
        );
        // The failed step is named in failure.state for the alert.
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
    // Enrich opens the case file: from the event as delivered (the execution input, nothing
    // added), its result alone becomes the state, with the execution's ARN beside it.
    assert_eq!(asl["StartAt"], "Enrich");
    let enrich = s("Enrich");
    assert_eq!(enrich["Parameters"]["Payload.$"], "$");
    assert_eq!(enrich["ResultPath"], "$");
    assert_eq!(
        enrich["ResultSelector"],
        serde_json::json!({
            "event.$": "$.Payload.event",
            "executionArn.$": "$$.Execution.Id",
            "incident.$": "$.Payload.incident",
            "enrichment.$": "$.Payload.enrichment"
        })
    );
    assert_eq!(enrich["Next"], "Classify");
    for (task, key) in [
        ("Classify", "classification"),
        ("Quarantine", "containment"),
        ("Notify", "notification"),
    ] {
        let t = s(task);
        assert_eq!(t["ResultPath"], format!("$.{key}"), "{task}");
        assert_eq!(
            t["ResultSelector"][format!("{key}.$")],
            "$.Payload",
            "{task}"
        );
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
fn no_state_holds_the_raw_event_beside_the_enrichment() {
    // Step Functions fails an execution whose state exceeds 256 KB (States.DataLimitExceeded),
    // and EventBridge delivers events of up to 256 KB: only Enrich sees the event as delivered
    // (its input), and it returns a bounded copy; nothing reads the execution input later.
    let asl = asl();
    let text = asl.to_string();
    assert!(
        !text.contains("$$.Execution.Input"),
        "a state reads the raw event again"
    );
    let enrich = &asl["States"]["Enrich"];
    assert_eq!(enrich["Type"], "Task");
    assert!(enrich.get("InputPath").is_none() && enrich.get("OutputPath").is_none());
    for c in enrich["Catch"].as_array().unwrap() {
        assert_eq!(
            c["ResultPath"], "$",
            "Enrich's Catch keeps the raw event: {c}"
        );
    }
    assert!(asl["States"].get("FileEvent").is_none());
    assert!(asl["States"].get("RecordEnrichment").is_none());
}

/// Every state of a definition, nested ones (Map processors, Parallel branches) included.
fn all_states(def: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, s) in def["States"].as_object().into_iter().flatten() {
        out.push((name.clone(), s.clone()));
        for inner in [&s["ItemProcessor"], &s["Iterator"]] {
            if inner.is_object() {
                out.extend(all_states(inner));
            }
        }
        for b in s["Branches"].as_array().into_iter().flatten() {
            out.extend(all_states(b));
        }
    }
    out
}

fn intake() -> Value {
    serde_json::from_str(&cordon_tests::read("statemachine/intake.asl.json")).unwrap()
}

#[test]
fn the_intake_starts_one_response_per_incident_and_never_drops_an_event() {
    let intake = intake();
    let mut names = BTreeSet::new();
    for (name, s) in all_states(&intake) {
        assert!(
            s["Comment"].as_str().is_some_and(|c| c.len() > 20),
            "intake state {name} has no Comment"
        );
        assert!(names.insert(name.clone()), "state name {name} used twice");
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

/// The Security Hub path of the intake: (Map state, name expression of its responses, the
/// `detail` keys the per-finding event gets besides `findings`).
const SECURITY_HUB_MAPS: &[(&str, &str, &[&str])] = &[
    (
        "ImportedFindings",
        "States.ArrayGetItem(States.StringSplit($.detail.findings[0].Id, '/'), 3)",
        &[],
    ),
    (
        "AnalystRequests",
        "States.Format('{}-request-{}', States.ArrayGetItem(States.StringSplit($.detail.findings[0].Id, '/'), 3), $.id)",
        &["actionName", "actionDescription"],
    ),
];

#[test]
fn the_intake_starts_one_response_per_guardduty_finding_of_a_security_hub_event() {
    let intake = intake();
    let st = &intake["States"];
    // A Security Hub event is recognised by its findings, before the CloudTrail and GuardDuty
    // ids are looked for.
    let first = &st["NameAfterIncident"]["Choices"][0];
    assert_eq!(first["Variable"], "$.detail.findings");
    assert_eq!(first["IsPresent"], true);
    let hub = &st[first["Next"].as_str().unwrap()];
    assert_eq!(hub["Type"], "Choice");
    // A request is told apart by its detail-type, and only with the fields its Map copies.
    let request = &hub["Choices"][0];
    let and = request["And"].as_array().unwrap();
    assert!(and.iter().any(|c| c["Variable"] == "$.detail-type"
        && c["StringEquals"] == "Security Hub Findings - Custom Action"));
    for field in ["actionName", "actionDescription"] {
        assert!(
            and.iter()
                .any(|c| c["Variable"] == format!("$.detail.{field}") && c["IsPresent"] == true),
            "the request's Map reads $.detail.{field}: the Choice must check it"
        );
    }
    assert_eq!(request["Next"], "AnalystRequests");
    assert_eq!(hub["Default"], "ImportedFindings");

    for (map, name_expr, extra) in SECURITY_HUB_MAPS {
        let m = &st[*map];
        assert_eq!(m["Type"], "Map", "{map}");
        assert_eq!(m["ItemsPath"], "$.detail.findings", "{map}");
        assert!(
            m["MaxConcurrency"]
                .as_u64()
                .is_some_and(|c| (1..=10).contains(&c)),
            "{map}: modest MaxConcurrency"
        );
        assert_eq!(m["End"], true, "{map}");
        assert_eq!(
            m["ResultSelector"],
            serde_json::json!({"responses.$": "$"}),
            "{map}"
        );
        // The response gets the event's envelope with one finding.
        let sel = &m["ItemSelector"];
        for k in [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
        ] {
            assert_eq!(
                sel[format!("{k}.$")],
                format!("$.{k}"),
                "{map}.ItemSelector.{k}"
            );
        }
        let mut detail = serde_json::Map::new();
        detail.insert(
            "findings.$".into(),
            "States.Array($$.Map.Item.Value)".into(),
        );
        for k in *extra {
            detail.insert(format!("{k}.$"), format!("$.detail.{k}").into());
        }
        assert_eq!(
            sel["detail"],
            Value::Object(detail),
            "{map}.ItemSelector.detail"
        );
        assert_eq!(
            sel.as_object().unwrap().len(),
            9,
            "{map}: nothing else in the event"
        );

        let proc = &m["ItemProcessor"];
        let ps = &proc["States"];
        let check = &ps[proc["StartAt"].as_str().unwrap()];
        assert_eq!(check["Type"], "Choice", "{map}");
        // GuardDuty's product only; anything else is answered `ignored`, nothing started.
        let ignored = &ps[check["Default"].as_str().unwrap()];
        assert_eq!(ignored["Type"], "Pass", "{map}");
        assert_eq!(ignored["End"], true, "{map}");
        assert_eq!(ignored["Parameters"]["outcome"], "ignored", "{map}");
        assert_eq!(
            ignored["Parameters"]["findingId.$"], "$.detail.findings[0].Id",
            "{map}"
        );
        assert_eq!(
            ignored["Parameters"]["reason.$"],
            "States.Format('not a GuardDuty finding: {}', $.detail.findings[0].ProductArn)",
            "{map}"
        );
        let rules = check["Choices"].as_array().unwrap();
        let product = |r: &Value| {
            r["Variable"] == "$.detail.findings[0].ProductArn"
                && r["StringMatches"] == "arn:*:securityhub:*::product/aws/guardduty"
        };
        assert!(
            rules
                .iter()
                .all(|r| product(r) || r["And"].as_array().is_some_and(|a| a.iter().any(product)))
        );
        let name = &ps[rules[0]["Next"].as_str().unwrap()];
        assert_eq!(name["Assign"]["responseName.$"], *name_expr, "{map}");
        let start = &ps[name["Next"].as_str().unwrap()];
        assert_eq!(
            start["Resource"], "arn:aws:states:::states:startExecution",
            "{map}"
        );
        assert_eq!(start["Parameters"]["Name.$"], "$responseName", "{map}");
        assert_eq!(start["Parameters"]["Input.$"], "$", "{map}");
        assert_eq!(
            start["Parameters"]["StateMachineArn"],
            st["StartResponse"]["Parameters"]["StateMachineArn"]
        );
        assert_eq!(start["Retry"], st["StartResponse"]["Retry"], "{map}");
        // Duplicate, and unusable name → generated name, as on the top-level path.
        let catches = start["Catch"].as_array().unwrap();
        assert_eq!(
            catches[0]["ErrorEquals"],
            serde_json::json!(["StepFunctions.ExecutionAlreadyExistsException"])
        );
        assert_eq!(
            ps[catches[0]["Next"].as_str().unwrap()]["Parameters"]["outcome"],
            "duplicate"
        );
        assert_eq!(catches[1]["ErrorEquals"], serde_json::json!(["States.ALL"]));
        let unusable = &ps[catches[1]["Next"].as_str().unwrap()];
        let generated = &ps[unusable["Next"].as_str().unwrap()];
        assert_eq!(
            generated["Resource"], "arn:aws:states:::states:startExecution",
            "{map}"
        );
        assert_eq!(generated["Parameters"]["Input.$"], "$", "{map}");
        assert_eq!(
            generated["Retry"], st["StartResponseUnderGeneratedName"]["Retry"],
            "{map}"
        );
        // A GuardDuty finding whose Id is no finding ARN gets a generated name too.
        assert_eq!(rules[1]["Next"], catches[1]["Next"], "{map}");
    }
}
