//! Strict and shape comparison of a normalised run with a case's expected result.

use serde_json::Value;

use crate::case::Case;
use crate::jsonpath::JsonPath;
use crate::pyjson;

/// What a run produced, normalised.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub status: String,
    pub history: Vec<Value>,
}

/// Python-style equality of decoded JSON (1 == 1.0), with JSON texts compared as parsed JSON
/// (AWS's formatting of non-object payloads varies).
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::String(x), Value::String(y)) => {
            x == y
                || match (parse_text(x), parse_text(y)) {
                    (Some(p), Some(q)) => loose_eq(&p, &q),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        (Value::String(s), other) | (other, Value::String(s)) if other.is_object() => {
            parse_text(s).is_some_and(|p| loose_eq(&p, other))
        }
        _ => a == b,
    }
}

/// A string that is a JSON text of a container, string or number.
fn parse_text(s: &str) -> Option<Value> {
    let t = s.trim_start();
    let first = t.chars().next()?;
    if !(first == '{' || first == '[' || first == '"' || first == '-' || first.is_ascii_digit()) {
        return None;
    }
    serde_json::from_str(s).ok()
}

/// The first difference between two values, as `path: expected X, got Y`.
pub fn first_diff(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    if loose_eq(expected, actual) {
        return None;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    None => return Some(format!("{path}.{k}: missing (expected {})", short(v))),
                    Some(w) => {
                        if let Some(d) = first_diff(&format!("{path}.{k}"), v, w) {
                            return Some(d);
                        }
                    }
                }
            }
            for (k, w) in a {
                if !e.contains_key(k) {
                    return Some(format!("{path}.{k}: unexpected {}", short(w)));
                }
            }
            None
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (v, w))| first_diff(&format!("{path}[{i}]"), v, w)),
        (Value::String(e), Value::String(a))
            if e.chars().count() > 60 || a.chars().count() > 60 =>
        {
            // long texts: show where they part
            let at = e.chars().zip(a.chars()).take_while(|(x, y)| x == y).count();
            let from = at.saturating_sub(40);
            let piece = |s: &str| -> String { s.chars().skip(from).take(100).collect() };
            Some(format!(
                "{path}: texts differ at char {at}: expected \"{}{}\", got \"{}{}\"",
                if from > 0 { "…" } else { "" },
                piece(e),
                if from > 0 { "…" } else { "" },
                piece(a)
            ))
        }
        _ => Some(format!(
            "{path}: expected {}, got {}",
            short(expected),
            short(actual)
        )),
    }
}

pub fn short(v: &Value) -> String {
    let s = pyjson::dumps(v, false);
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

const TERMINAL: [(&str, &str, &str); 4] = [
    (
        "ExecutionSucceeded",
        "SUCCEEDED",
        "executionSucceededEventDetails",
    ),
    ("ExecutionFailed", "FAILED", "executionFailedEventDetails"),
    (
        "ExecutionTimedOut",
        "TIMED_OUT",
        "executionTimedOutEventDetails",
    ),
    (
        "ExecutionAborted",
        "ABORTED",
        "executionAbortedEventDetails",
    ),
];

/// (output, error, cause) of the terminal event of a normalised history.
pub fn terminal_result(history: &[Value]) -> (Value, Value, Value) {
    for e in history.iter().rev() {
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some((_, _, details)) = TERMINAL.iter().find(|(t, _, _)| *t == ty) {
            let d = e.get(*details).cloned().unwrap_or(Value::Null);
            let output = match d.get("output") {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            };
            let error = d.get("error").cloned().unwrap_or(Value::Null);
            let cause = d.get("cause").cloned().unwrap_or(Value::Null);
            return (output, error, cause);
        }
    }
    (Value::Null, Value::Null, Value::Null)
}

/// Result-level comparison shared by strict and shape.
fn result_diff(case: &Case, obs: &Observed) -> Option<String> {
    let exp = &case.expected;
    let (output, error, cause) = terminal_result(&obs.history);
    if exp.status != obs.status {
        let detail = if obs.status == "FAILED" || obs.status == "TIMED_OUT" {
            let c = match &cause {
                Value::String(s) => s.chars().take(200).collect::<String>(),
                other => short(other),
            };
            format!(" ({}: {})", error.as_str().unwrap_or("?"), c)
        } else {
            String::new()
        };
        return Some(format!(
            "status: expected {}, got {}{}",
            exp.status, obs.status, detail
        ));
    }
    // descendant `unverified_paths` (`$..SdkHttpMetadata`) apply to the result values as well
    let descendant: Vec<String> = exp
        .unverified_paths
        .iter()
        .filter(|p| p.starts_with("$..") && !p.starts_with("$..events"))
        .cloned()
        .collect();
    let strip = |v: &Value| -> Value {
        let mut doc = serde_json::json!({ "v": v });
        for p in &descendant {
            if let Ok(jp) = JsonPath::parse(p) {
                jp.remove(&mut doc);
            }
        }
        doc.get("v").cloned().unwrap_or(Value::Null)
    };
    if exp.status == "SUCCEEDED"
        && let Some(d) = first_diff("output", &strip(&exp.output), &strip(&output))
    {
        return Some(d);
    }
    if let Some(d) = first_diff("error", &exp.error, &error) {
        return Some(d);
    }
    if let Some(d) = first_diff("cause", &strip(&exp.cause), &strip(&cause)) {
        return Some(d);
    }
    None
}

fn strip_unverified(events: &[Value], paths: &[String]) -> Value {
    let mut doc = serde_json::json!({ "events": events });
    for p in paths {
        if let Ok(jp) = JsonPath::parse(p) {
            jp.remove(&mut doc);
        }
    }
    doc
}

fn event_label(e: &Value) -> String {
    let ty = e.get("type").and_then(Value::as_str).unwrap_or("?");
    match state_name(e) {
        Some(n) => format!("{ty}({n})"),
        None => ty.to_string(),
    }
}

fn state_name(e: &Value) -> Option<String> {
    e.as_object()?.iter().find_map(|(k, v)| {
        if k == "stateEnteredEventDetails" || k == "stateExitedEventDetails" {
            v.get("name").and_then(Value::as_str).map(str::to_string)
        } else {
            None
        }
    })
}

/// Strict: result plus the normalised history (outside `unverified_paths`). `None` = equal.
pub fn strict(case: &Case, obs: &Observed) -> Option<String> {
    if let Some(d) = result_diff(case, obs) {
        return Some(d);
    }
    let Some(expected) = &case.expected.history else {
        return choice_branch(case, obs);
    };
    let e = strip_unverified(expected, &case.expected.unverified_paths);
    let a = strip_unverified(&obs.history, &case.expected.unverified_paths);
    let (Some(ee), Some(ae)) = (
        e.get("events").and_then(Value::as_array),
        a.get("events").and_then(Value::as_array),
    ) else {
        return None; // `$..events` itself is unverified
    };
    for (i, (x, y)) in ee.iter().zip(ae).enumerate() {
        if x.get("type") != y.get("type") {
            return Some(format!(
                "event {}: expected {}, got {}",
                i + 1,
                event_label(x),
                event_label(y)
            ));
        }
        if let Some(d) = first_diff("", x, y) {
            return Some(format!(
                "event {} {}: {}",
                i + 1,
                event_label(x),
                d.trim_start_matches('.')
            ));
        }
    }
    if ee.len() != ae.len() {
        let i = ee.len().min(ae.len());
        return Some(if ee.len() > ae.len() {
            format!(
                "history: {} events expected, got {}; first missing: {}",
                ee.len(),
                ae.len(),
                event_label(&ee[i])
            )
        } else {
            format!(
                "history: {} events expected, got {}; first extra: {}",
                ee.len(),
                ae.len(),
                event_label(&ae[i])
            )
        });
    }
    None
}

fn choice_branch(case: &Case, obs: &Observed) -> Option<String> {
    let want = case.expected.branch.as_deref()?;
    let entered: Vec<String> = obs.history.iter().filter_map(state_name).collect();
    if entered.iter().any(|n| n == want) {
        None
    } else {
        Some(format!(
            "branch: expected {want}, states entered {entered:?}"
        ))
    }
}

/// Shape: result plus the sequence of (event type, state name).
pub fn shape(case: &Case, obs: &Observed) -> Option<String> {
    if let Some(d) = result_diff(case, obs) {
        return Some(d);
    }
    let Some(expected) = &case.expected.history else {
        return choice_branch(case, obs);
    };
    if case
        .expected
        .unverified_paths
        .iter()
        .any(|p| p == "$..events")
    {
        return None;
    }
    let seq = |h: &[Value]| -> Vec<String> { h.iter().map(event_label).collect() };
    let (e, a) = (seq(expected), seq(&obs.history));
    for (i, (x, y)) in e.iter().zip(&a).enumerate() {
        if x != y {
            return Some(format!("event {}: expected {x}, got {y}", i + 1));
        }
    }
    if e.len() != a.len() {
        return Some(format!(
            "history: {} events expected, got {}",
            e.len(),
            a.len()
        ));
    }
    None
}

/// A line-per-event diff for `--verbose`.
pub fn verbose_diff(case: &Case, obs: &Observed) -> String {
    let mut out = String::new();
    let Some(expected) = &case.expected.history else {
        return format!(
            "  expected output {}\n  got history {}\n",
            short(&case.expected.output),
            short(&Value::from(obs.history.clone()))
        );
    };
    let e = strip_unverified(expected, &case.expected.unverified_paths);
    let a = strip_unverified(&obs.history, &case.expected.unverified_paths);
    let empty = vec![];
    let ee = e.get("events").and_then(Value::as_array).unwrap_or(&empty);
    let ae = a.get("events").and_then(Value::as_array).unwrap_or(&empty);
    for i in 0..ee.len().max(ae.len()) {
        match (ee.get(i), ae.get(i)) {
            (Some(x), Some(y)) if loose_eq(x, y) => {
                out.push_str(&format!("    = {:>3} {}\n", i + 1, event_label(x)))
            }
            (Some(x), Some(y)) => {
                out.push_str(&format!("    - {:>3} {}\n", i + 1, pyjson::dumps(x, false)));
                out.push_str(&format!("    + {:>3} {}\n", i + 1, pyjson::dumps(y, false)));
            }
            (Some(x), None) => {
                out.push_str(&format!("    - {:>3} {}\n", i + 1, pyjson::dumps(x, false)))
            }
            (None, Some(y)) => {
                out.push_str(&format!("    + {:>3} {}\n", i + 1, pyjson::dumps(y, false)))
            }
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_equality() {
        assert!(loose_eq(&json!(1), &json!(1.0)));
        assert!(loose_eq(&json!("[[1, 2], [3]]"), &json!("[[1,2],[3]]")));
        assert!(loose_eq(&json!("\"HelloWorld\""), &json!("\"HelloWorld\"")));
        assert!(!loose_eq(&json!("[1]"), &json!("[2]")));
        assert!(loose_eq(
            &json!({"a": "{\"x\": 1}"}),
            &json!({"a": "{\"x\":1}"})
        ));
        assert!(!loose_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}
