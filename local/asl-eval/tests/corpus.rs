//! Table-driven tests over the AWS-recorded conformance corpus (read-only, outside the repo).

use cordon_asl_eval::*;
use serde_json::{Map, Value, json};

fn corpus() -> String {
    format!(
        "{}/../../../shared/asl-conformance",
        std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")
    )
}

fn cases(file: &str) -> Vec<Value> {
    let dir = corpus();
    assert!(
        std::path::Path::new(&dir).is_dir(),
        "the ASL conformance corpus is missing: looked for {dir}; it is `../shared/asl-conformance` \
         beside the clone (CI has it)"
    );
    let p = format!("{dir}/{file}");
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read the corpus file {p}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("corpus json");
    v["cases"].as_array().expect("cases").clone()
}

struct Fixed;
impl Entropy for Fixed {
    fn uuid(&self) -> String {
        "0f8fad5b-d9cb-469f-a165-70867728950e".into()
    }
    fn next_u64(&self) -> u64 {
        123_456_789
    }
}

fn context_for(case: &Value, state: &str) -> Value {
    let c = &case["context"];
    json!({
        "Execution": {
            "Id": c["executionArn"], "Input": case["input"], "Name": c["executionName"],
            "RoleArn": c["roleArn"], "StartTime": "2024-01-01T00:00:00.000Z",
            "RedriveCount": 0
        },
        "StateMachine": {"Id": c["stateMachineArn"], "Name": c["stateMachineName"]},
        "State": {"Name": state, "EnteredTime": "2024-01-01T00:00:00.000Z"}
    })
}

/// The expected values were normalised (ARNs, UUIDs, random numbers replaced by placeholders):
/// such outputs cannot be compared literally.
fn is_normalised(v: &Value) -> bool {
    let s = v.to_string();
    s.contains('<') || s.contains("RandomNumberGenerated") || s.contains("generated-uuid")
}

fn strip_state_prefix(cause: &str) -> &str {
    match cause.find("). ") {
        Some(i) if cause.starts_with("An error occurred while executing the state") => {
            &cause[i + 3..]
        }
        _ => cause,
    }
}

#[test]
fn choice_operators_corpus() {
    let all = cases("choice_operators.json");
    let vars = Map::new();
    let ctx = json!({});
    let mut pass = 0;
    let mut failures = Vec::new();
    for c in &all {
        let scope = Scope {
            input: &c["input"],
            context: &ctx,
            variables: &vars,
            entropy: &OsEntropy,
        };
        let got = choice_rule(&c["choice_rule"], &scope);
        let want = c["expected"]["branch"] == "ConditionTrue";
        match got {
            Ok(b) if b == want => pass += 1,
            other => failures.push(format!("{}: {:?} want {want}", c["id"], other)),
        }
    }
    println!("choice_operators.json: {pass}/{} passed", all.len());
    assert_eq!(all.len(), 491);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Runs a one-state Pass machine the way a Pass state evaluates its fields
/// (InputPath → Parameters → ResultPath → OutputPath, or JSONata Output).
fn run_single_pass(case: &Value) -> Option<Result<Value, EvalError>> {
    let def = &case["definition"];
    let states = def["States"].as_object()?;
    if states.len() != 1 {
        return None;
    }
    let (name, st) = states.iter().next()?;
    if st["Type"] != "Pass" {
        return None;
    }
    let ql = st
        .get("QueryLanguage")
        .or_else(|| def.get("QueryLanguage"))
        .and_then(Value::as_str)
        .unwrap_or("JSONPath");
    let input = &case["input"];
    let ctx = context_for(case, name);
    let vars = Map::new();
    if ql == "JSONata" {
        let states_v = json!({"input": input, "context": ctx});
        let scope = JsonataScope {
            states: &states_v,
            variables: &vars,
            entropy: &Fixed,
        };
        if let Some(a) = st.get("Assign")
            && let Err(e) = jsonata_template(a, &scope, "Assign")
        {
            return Some(Err(e));
        }
        let out = match st.get("Output") {
            Some(o) => jsonata_template(o, &scope, "Output"),
            None => Ok(input.clone()),
        };
        return Some(out);
    }
    let run = || -> Result<Value, EvalError> {
        let scope0 = Scope {
            input,
            context: &ctx,
            variables: &vars,
            entropy: &Fixed,
        };
        let effective = match st.get("InputPath") {
            Some(Value::String(p)) => query(p, &scope0, "InputPath")?,
            Some(Value::Null) => json!({}),
            _ => input.clone(),
        };
        let scope = Scope {
            input: &effective,
            context: &ctx,
            variables: &vars,
            entropy: &Fixed,
        };
        let result = match (st.get("Parameters"), st.get("Result")) {
            (Some(p), _) => payload_template(p, &scope, "Parameters")?,
            (None, Some(r)) => r.clone(),
            _ => effective.clone(),
        };
        let rp = match st.get("ResultPath") {
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            _ => Some("$"),
        };
        let out = apply_result_path(input.clone(), rp, result)?;
        let scope = Scope {
            input: &out,
            context: &ctx,
            variables: &vars,
            entropy: &Fixed,
        };
        match st.get("OutputPath") {
            Some(Value::String(p)) => query(p, &scope, "OutputPath"),
            Some(Value::Null) => Ok(json!({})),
            _ => Ok(out.clone()),
        }
    };
    Some(run())
}

#[derive(Default)]
struct Tally {
    exact: usize,
    shape_only: usize,
    failed: Vec<String>,
}

fn check(c: &Value, got: Result<Value, EvalError>, t: &mut Tally) {
    let e = &c["expected"];
    let id = c["id"].as_str().unwrap_or_default().to_string();
    match (e["status"].as_str(), got) {
        (Some("SUCCEEDED"), Ok(v)) => {
            if is_normalised(&e["output"]) {
                t.shape_only += 1;
            } else if json_eq(&v, &e["output"]) {
                t.exact += 1;
            } else {
                t.failed.push(format!("{id}: got {v} want {}", e["output"]));
            }
        }
        (Some("FAILED"), Err(err)) => {
            let want_cause = e["cause"]
                .as_str()
                .map(strip_state_prefix)
                .unwrap_or_default();
            if err.error == e["error"].as_str().unwrap_or_default() && err.cause == want_cause {
                t.exact += 1;
            } else {
                t.failed.push(format!(
                    "{id}: got {err:?} want {} / {want_cause}",
                    e["error"]
                ));
            }
        }
        (status, got) => t
            .failed
            .push(format!("{id}: status {status:?} but got {got:?}")),
    }
}

#[test]
fn intrinsic_functions_corpus() {
    let all = cases("intrinsic_functions.json");
    let mut t = Tally::default();
    let mut skipped = 0;
    for c in &all {
        match run_single_pass(c) {
            Some(got) => check(c, got, &mut t),
            None => skipped += 1,
        }
    }
    println!(
        "intrinsic_functions.json: {} exact + {} normalised-output (ran, value not comparable) of {} one-state cases pass; {} failed; {} multi-state skipped",
        t.exact,
        t.shape_only,
        all.len() - skipped,
        t.failed.len(),
        skipped
    );
    assert!(t.failed.is_empty(), "{:#?}", t.failed);
    assert!(t.exact >= 150, "too few exact matches: {}", t.exact);
}

#[test]
fn jsonata_corpus_single_pass_states() {
    let mut t = Tally::default();
    let mut total = 0;
    for f in [
        "evaluate_jsonata.json",
        "outputdecl.json",
        "query_language.json",
        "assign.json",
        "intrinsic_functions.json",
        "scenarios.json",
        "base.json",
    ] {
        for c in cases(f) {
            let def = &c["definition"];
            let Some(states) = def["States"].as_object() else {
                continue;
            };
            if states.len() != 1 {
                continue;
            }
            let st = states.values().next().expect("one");
            let ql = st.get("QueryLanguage").or_else(|| def.get("QueryLanguage"));
            if ql.and_then(Value::as_str) != Some("JSONata") {
                continue;
            }
            if let Some(got) = run_single_pass(&c) {
                total += 1;
                check(&c, got, &mut t);
            }
        }
    }
    println!(
        "JSONata one-state Pass cases: {}/{total} exact, {} normalised, failed: {:#?}",
        t.exact, t.shape_only, t.failed
    );
    assert!(t.failed.is_empty());
    assert!(total >= 50);
}

/// Multi-state cases made only of Pass states (linear `Next` chains): a minimal driver that
/// threads the output and the variables through, enough to measure JSONata/Assign evaluation.
fn run_pass_chain(case: &Value) -> Option<Result<Value, EvalError>> {
    let def = &case["definition"];
    let states = def["States"].as_object()?;
    if states.len() < 2 || !states.values().all(|s| s["Type"] == "Pass") {
        return None;
    }
    let top_ql = def
        .get("QueryLanguage")
        .and_then(Value::as_str)
        .unwrap_or("JSONPath");
    let mut name = def["StartAt"].as_str()?.to_string();
    let mut input = case["input"].clone();
    let mut vars = Map::new();
    loop {
        let st = &states[&name];
        let ql = st
            .get("QueryLanguage")
            .and_then(Value::as_str)
            .unwrap_or(top_ql);
        let ctx = context_for(case, &name);
        let (output, assigned) = if ql == "JSONata" {
            let sv = json!({"input": input, "context": ctx});
            let scope = JsonataScope {
                states: &sv,
                variables: &vars,
                entropy: &Fixed,
            };
            let assigned = match st.get("Assign") {
                Some(a) => Some(match jsonata_template(a, &scope, "Assign") {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                }),
                None => None,
            };
            let out = match st.get("Output") {
                Some(o) => match jsonata_template(o, &scope, "Output") {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                },
                None => input.clone(),
            };
            (out, assigned)
        } else {
            let single = json!({"definition": {"States": {name.clone(): st}, "StartAt": name},
                                "input": input, "context": case["context"]});
            let mut st_only = single.clone();
            // evaluate InputPath/Parameters/ResultPath/OutputPath with the current variables
            st_only["definition"]["States"][&name]
                .as_object_mut()?
                .remove("Assign");
            // JSONPath Assign sees the state result (Parameters/Result) as `$`
            let (out, result) = match run_single_pass_vars(&st_only, &vars) {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Some(Err(e)),
                None => return None,
            };
            let assigned = match st.get("Assign") {
                Some(a) => {
                    let scope = Scope {
                        input: &result,
                        context: &ctx,
                        variables: &vars,
                        entropy: &Fixed,
                    };
                    Some(match payload_template(a, &scope, "Assign") {
                        Ok(v) => v,
                        Err(e) => return Some(Err(e)),
                    })
                }
                None => None,
            };
            (out, assigned)
        };
        if let Some(Value::Object(a)) = assigned {
            vars.extend(a);
        }
        input = output;
        match st.get("Next").and_then(Value::as_str) {
            Some(n) => name = n.to_string(),
            None => return Some(Ok(input)),
        }
    }
}

fn run_single_pass_vars(
    case: &Value,
    vars: &Map<String, Value>,
) -> Option<Result<(Value, Value), EvalError>> {
    let def = &case["definition"];
    let (name, st) = def["States"].as_object()?.iter().next()?;
    let input = &case["input"];
    let ctx = context_for(case, name);
    let run = || -> Result<(Value, Value), EvalError> {
        let scope0 = Scope {
            input,
            context: &ctx,
            variables: vars,
            entropy: &Fixed,
        };
        let effective = match st.get("InputPath") {
            Some(Value::String(p)) => query(p, &scope0, "InputPath")?,
            Some(Value::Null) => json!({}),
            _ => input.clone(),
        };
        let scope = Scope {
            input: &effective,
            context: &ctx,
            variables: vars,
            entropy: &Fixed,
        };
        let result = match (st.get("Parameters"), st.get("Result")) {
            (Some(p), _) => payload_template(p, &scope, "Parameters")?,
            (None, Some(r)) => r.clone(),
            _ => effective.clone(),
        };
        let rp = match st.get("ResultPath") {
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            _ => Some("$"),
        };
        let out = apply_result_path(input.clone(), rp, result.clone())?;
        let scope = Scope {
            input: &out,
            context: &ctx,
            variables: vars,
            entropy: &Fixed,
        };
        let out = match st.get("OutputPath") {
            Some(Value::String(p)) => query(p, &scope, "OutputPath")?,
            Some(Value::Null) => json!({}),
            _ => out.clone(),
        };
        Ok((out, result))
    };
    Some(run())
}

#[test]
fn pass_chain_cases() {
    let mut t = Tally::default();
    let mut total = 0;
    for f in [
        "evaluate_jsonata.json",
        "outputdecl.json",
        "query_language.json",
        "assign.json",
        "base.json",
        "scenarios.json",
    ] {
        for c in cases(f) {
            if let Some(got) = run_pass_chain(&c) {
                total += 1;
                check(&c, got, &mut t);
            }
        }
    }
    println!(
        "Pass-only multi-state cases: {}/{total} exact, {} normalised, failed: {:#?}",
        t.exact, t.shape_only, t.failed
    );
    assert!(t.failed.is_empty());
    assert!(total >= 19 && t.exact >= 16);
}
