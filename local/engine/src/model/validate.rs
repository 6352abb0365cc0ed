//! The checks `CreateStateMachine` makes on a definition beyond the structure the interpreter
//! needs: the fields each state type allows (per query language), mutually exclusive fields,
//! value ranges, expressions that must parse (`"key.$"` paths and intrinsic functions,
//! JSONata), reference paths, reachability, terminal states and state names unique across
//! the whole definition.
//!
//! Each finding is one `CODE: message at /json/path` entry, worded as AWS words it where its
//! wording is known (e.g. `MISSING_TRANSITION_TARGET: State "X" is not reachable. at /States/X`,
//! `MISSING_END_STATE: Workflow has no terminal state at null`,
//! `DUPLICATE_STATE_NAME: Duplicate State name: X at /States/X`,
//! `SCHEMA_VALIDATION_FAILED: Field 'X' is not supported at /States/S`,
//! `SCHEMA_VALIDATION_FAILED: The value for the field 'k.$' must be a valid JSONPath or a valid
//! intrinsic function call at /States/S/Parameters`,
//! `INVALID_JSONATA_EXPRESSION: Unexpected end of expression at /States/S/Output`).

use std::collections::{HashSet, VecDeque};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::QueryLanguage;

const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";

/// Runs every check over the parsed definition `def` (whose source is `text`, needed for
/// duplicate names, which a JSON object cannot hold) and appends the findings to `errors`.
pub(super) fn check(
    text: &str,
    def: &Map<String, Value>,
    ql: QueryLanguage,
    errors: &mut Vec<String>,
) {
    for k in def.keys() {
        if !matches!(
            k.as_str(),
            "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds" | "QueryLanguage"
        ) {
            errors.push(format!("{SCHEMA}: Field '{k}' is not supported at /"));
        }
    }
    machine(def, ql, "", Container::Root, errors);
    duplicate_names(text, errors);
}

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Root,
    Branch,
    Processor,
}

/// One set of states with its `StartAt`: the top level, a Parallel branch or a Map processor.
fn machine(
    obj: &Map<String, Value>,
    ql: QueryLanguage,
    at: &str,
    container: Container,
    errors: &mut Vec<String>,
) {
    if container != Container::Root {
        for k in obj.keys() {
            let ok = match k.as_str() {
                "StartAt" | "States" | "Comment" => true,
                // AWS refuses it on ItemProcessor/Iterator; a processor's states take the
                // machine's language.
                "QueryLanguage" => container == Container::Branch,
                "ProcessorConfig" => container == Container::Processor,
                _ => false,
            };
            if !ok {
                errors.push(format!("{SCHEMA}: Field '{k}' is not supported at {at}"));
            }
        }
    }
    let Some(states) = obj.get("States").and_then(Value::as_object) else {
        return; // reported by the parser
    };
    for (name, sv) in states {
        state(sv, ql, &format!("{at}/States/{name}"), errors);
    }
    graph(obj, states, at, container, errors);
}

/// The presence of a terminal state and, when there is one, reachability from `StartAt`: AWS
/// reports a machine without terminal state alone, without the states it cannot reach.
fn graph(
    obj: &Map<String, Value>,
    states: &Map<String, Value>,
    at: &str,
    container: Container,
    errors: &mut Vec<String>,
) {
    if !states.values().any(is_terminal) {
        let loc = if container == Container::Root {
            "null"
        } else {
            at
        };
        errors.push(format!(
            "MISSING_END_STATE: Workflow has no terminal state at {loc}"
        ));
        // AWS then reports no unreachable state of this machine.
        return;
    }
    let Some(start) = obj.get("StartAt").and_then(Value::as_str) else {
        return;
    };
    if !states.contains_key(start) {
        return; // a missing target, reported by the parser
    }
    let mut seen: HashSet<&str> = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(name) = queue.pop_front() {
        let Some(sv) = states.get(name) else { continue };
        for t in targets(sv) {
            if states.contains_key(t) && seen.insert(t) {
                queue.push_back(t);
            }
        }
    }
    for name in states.keys() {
        if !seen.contains(name.as_str()) {
            errors.push(format!(
                "MISSING_TRANSITION_TARGET: State \"{name}\" is not reachable. at {at}/States/{name}"
            ));
        }
    }
}

fn is_terminal(sv: &Value) -> bool {
    matches!(
        sv.get("Type").and_then(Value::as_str),
        Some("Succeed" | "Fail")
    ) || sv.get("End").and_then(Value::as_bool) == Some(true)
}

/// The states a state can transition to: `Next`, `Default`, each Choice rule's and each
/// catcher's `Next`.
fn targets(sv: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for k in ["Next", "Default"] {
        if let Some(t) = sv.get(k).and_then(Value::as_str) {
            out.push(t);
        }
    }
    for list in ["Choices", "Catch"] {
        for c in sv.get(list).and_then(Value::as_array).into_iter().flatten() {
            if let Some(t) = c.get("Next").and_then(Value::as_str) {
                out.push(t);
            }
        }
    }
    out
}

/// Fields only a JSONPath state may have.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
    "Result",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
];

/// Fields only a JSONata state may have.
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

/// Whether a state of type `ty` may have field `k`, ignoring the query language.
fn allowed(ty: &str, k: &str) -> bool {
    if matches!(k, "Type" | "Comment" | "QueryLanguage") {
        return true;
    }
    let flow = !matches!(ty, "Choice" | "Succeed" | "Fail");
    let common = match k {
        "Next" | "End" => flow,
        "InputPath" | "OutputPath" | "Output" => ty != "Fail",
        "Assign" => !matches!(ty, "Succeed" | "Fail"),
        "Retry" | "Catch" | "ResultSelector" => matches!(ty, "Task" | "Parallel" | "Map"),
        "ResultPath" | "Parameters" => matches!(ty, "Pass" | "Task" | "Parallel" | "Map"),
        "Arguments" => matches!(ty, "Task" | "Parallel"),
        _ => false,
    };
    common
        || match ty {
            "Pass" => k == "Result",
            "Task" => matches!(
                k,
                "Resource"
                    | "TimeoutSeconds"
                    | "TimeoutSecondsPath"
                    | "HeartbeatSeconds"
                    | "HeartbeatSecondsPath"
                    | "Credentials"
            ),
            "Choice" => matches!(k, "Choices" | "Default"),
            "Wait" => matches!(k, "Seconds" | "SecondsPath" | "Timestamp" | "TimestampPath"),
            "Fail" => matches!(k, "Error" | "ErrorPath" | "Cause" | "CausePath"),
            "Parallel" => k == "Branches",
            "Map" => matches!(
                k,
                "ItemProcessor"
                    | "Iterator"
                    | "ItemsPath"
                    | "Items"
                    | "ItemSelector"
                    | "ItemReader"
                    | "ItemBatcher"
                    | "ResultWriter"
                    | "MaxConcurrency"
                    | "MaxConcurrencyPath"
                    | "ToleratedFailureCount"
                    | "ToleratedFailureCountPath"
                    | "ToleratedFailurePercentage"
                    | "ToleratedFailurePercentagePath"
                    | "Label"
            ),
            _ => false,
        }
}

fn ql_name(ql: QueryLanguage) -> &'static str {
    match ql {
        QueryLanguage::JsonPath => "JSONPath",
        QueryLanguage::Jsonata => "JSONata",
    }
}

/// The checks on one state (and, through [`machine`], on the states nested in it).
fn state(sv: &Value, parent_ql: QueryLanguage, sat: &str, errors: &mut Vec<String>) {
    let Some(o) = sv.as_object() else { return };
    let Some(ty) = o.get("Type").and_then(Value::as_str) else {
        return;
    };
    if !matches!(
        ty,
        "Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map"
    ) {
        return;
    }
    let ql = match o.get("QueryLanguage").and_then(Value::as_str) {
        Some("JSONata") => QueryLanguage::Jsonata,
        Some("JSONPath") if parent_ql == QueryLanguage::JsonPath => QueryLanguage::JsonPath,
        _ => parent_ql,
    };
    // fields
    for k in o.keys() {
        let wrong_ql = match ql {
            QueryLanguage::Jsonata => JSONPATH_ONLY.contains(&k.as_str()),
            QueryLanguage::JsonPath => JSONATA_ONLY.contains(&k.as_str()),
        };
        if !allowed(ty, k) {
            errors.push(format!("{SCHEMA}: Field '{k}' is not supported at {sat}"));
        } else if wrong_ql {
            let other = match ql {
                QueryLanguage::Jsonata => QueryLanguage::JsonPath,
                QueryLanguage::JsonPath => QueryLanguage::Jsonata,
            };
            errors.push(format!(
                "{SCHEMA}: The QueryLanguage is set to '{}', but field '{k}' is only supported for the '{}' QueryLanguage at {sat}",
                ql_name(ql),
                ql_name(other)
            ));
        }
    }
    for (i, r) in list(o, "Retry") {
        if let Some(r) = r.as_object() {
            let rat = format!("{sat}/Retry[{i}]");
            for k in r.keys() {
                if !matches!(
                    k.as_str(),
                    "ErrorEquals"
                        | "IntervalSeconds"
                        | "MaxAttempts"
                        | "BackoffRate"
                        | "MaxDelaySeconds"
                        | "JitterStrategy"
                        | "Comment"
                ) {
                    errors.push(format!("{SCHEMA}: Field '{k}' is not supported at {rat}"));
                }
            }
        }
    }
    for (i, c) in list(o, "Catch") {
        if let Some(c) = c.as_object() {
            let cat = format!("{sat}/Catch[{i}]");
            for k in c.keys() {
                let ok = match k.as_str() {
                    "ErrorEquals" | "Next" | "Comment" | "Assign" => true,
                    "ResultPath" => ql == QueryLanguage::JsonPath,
                    "Output" => ql == QueryLanguage::Jsonata,
                    _ => false,
                };
                if !ok {
                    errors.push(format!("{SCHEMA}: Field '{k}' is not supported at {cat}"));
                }
            }
        }
    }
    // mutually exclusive fields
    let pairs: &[(&str, &str)] = match ty {
        "Fail" => &[("Error", "ErrorPath"), ("Cause", "CausePath")],
        "Task" => &[
            ("TimeoutSeconds", "TimeoutSecondsPath"),
            ("HeartbeatSeconds", "HeartbeatSecondsPath"),
        ],
        "Map" => &[
            ("ItemProcessor", "Iterator"),
            ("ItemSelector", "Parameters"),
            ("MaxConcurrency", "MaxConcurrencyPath"),
            ("ToleratedFailureCount", "ToleratedFailureCountPath"),
            (
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
            ),
        ],
        _ => &[],
    };
    exclusive(o, pairs, sat, errors);
    if ty == "Wait" {
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| o.contains_key(*k))
            .collect();
        if given.len() > 1 {
            errors.push(format!(
                "{SCHEMA}: Only one of 'Seconds', 'SecondsPath', 'Timestamp' and 'TimestampPath' may be set, but '{}' and '{}' are at {sat}/{}",
                given[0], given[1], given[1]
            ));
        }
    }
    if ty == "Map" {
        map_fields(o, sat, errors);
    }
    // expressions
    match ql {
        QueryLanguage::JsonPath => jsonpath_expressions(o, ty, sat, errors),
        QueryLanguage::Jsonata => {
            for (k, v) in o {
                if !matches!(
                    k.as_str(),
                    "Type"
                        | "Comment"
                        | "QueryLanguage"
                        | "Next"
                        | "End"
                        | "Default"
                        | "Branches"
                        | "ItemProcessor"
                        | "Iterator"
                ) {
                    jsonata_strings(v, &format!("{sat}/{k}"), errors);
                }
            }
        }
    }
    // nested machines
    if ty == "Parallel"
        && let Some(bs) = o.get("Branches").and_then(Value::as_array)
    {
        for (i, b) in bs.iter().enumerate() {
            if let Some(bo) = b.as_object() {
                let bql = inner_ql(bo, parent_ql);
                machine(
                    bo,
                    bql,
                    &format!("{sat}/Branches[{i}]"),
                    Container::Branch,
                    errors,
                );
            }
        }
    }
    if ty == "Map" {
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(po) = o.get(key).and_then(Value::as_object) {
                let pql = inner_ql(po, parent_ql);
                machine(
                    po,
                    pql,
                    &format!("{sat}/{key}"),
                    Container::Processor,
                    errors,
                );
            }
        }
    }
}

fn inner_ql(o: &Map<String, Value>, ql: QueryLanguage) -> QueryLanguage {
    match o.get("QueryLanguage").and_then(Value::as_str) {
        Some("JSONata") => QueryLanguage::Jsonata,
        _ => ql,
    }
}

fn list<'v>(o: &'v Map<String, Value>, k: &str) -> impl Iterator<Item = (usize, &'v Value)> {
    o.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn exclusive(o: &Map<String, Value>, pairs: &[(&str, &str)], at: &str, errors: &mut Vec<String>) {
    for (a, b) in pairs {
        if o.contains_key(*a) && o.contains_key(*b) {
            errors.push(format!(
                "{SCHEMA}: Only one of '{a}' and '{b}' may be set at {at}/{b}"
            ));
        }
    }
}

/// Map state value ranges and the `ItemBatcher`/`ItemReader` exclusive pairs.
fn map_fields(o: &Map<String, Value>, sat: &str, errors: &mut Vec<String>) {
    for (k, max) in [
        ("ToleratedFailurePercentage", Some(100.0)),
        ("ToleratedFailureCount", None),
        ("MaxConcurrency", None),
    ] {
        let Some(n) = o.get(k).and_then(Value::as_f64) else {
            continue;
        };
        if n < 0.0 {
            errors.push(format!("{SCHEMA}: Minimum value is 0 at {sat}/{k}"));
        } else if let Some(m) = max.filter(|m| n > *m) {
            errors.push(format!("{SCHEMA}: Maximum value is {m} at {sat}/{k}"));
        }
    }
    if let Some(b) = o.get("ItemBatcher").and_then(Value::as_object) {
        exclusive(
            b,
            &[
                ("MaxItemsPerBatch", "MaxItemsPerBatchPath"),
                ("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"),
            ],
            &format!("{sat}/ItemBatcher"),
            errors,
        );
    }
    if let Some(rc) = o
        .get("ItemReader")
        .and_then(|r| r.get("ReaderConfig"))
        .and_then(Value::as_object)
    {
        exclusive(
            rc,
            &[("MaxItems", "MaxItemsPath")],
            &format!("{sat}/ItemReader/ReaderConfig"),
            errors,
        );
    }
}

/// The JSONPath-mode expressions: payload templates (`"key.$"`), `ResultPath` and the Choice
/// rules' `Variable`.
fn jsonpath_expressions(o: &Map<String, Value>, ty: &str, sat: &str, errors: &mut Vec<String>) {
    // A Pass state's `Result` is literal: a `"key.$"` in it is a plain key.
    for k in [
        "Parameters",
        "ResultSelector",
        "ItemSelector",
        "Assign",
        "Credentials",
    ] {
        if let Some(v) = o.get(k) {
            template(v, &format!("{sat}/{k}"), errors);
        }
    }
    for (k, sub) in [
        ("ItemReader", "Parameters"),
        ("ItemBatcher", "BatchInput"),
        ("ResultWriter", "Parameters"),
    ] {
        if let Some(v) = o.get(k).and_then(|x| x.get(sub)) {
            template(v, &format!("{sat}/{k}/{sub}"), errors);
        }
    }
    if let Some(Value::String(p)) = o.get("ResultPath") {
        result_path(p, &format!("{sat}/ResultPath"), errors);
    }
    for (i, c) in list(o, "Catch") {
        let cat = format!("{sat}/Catch[{i}]");
        if let Some(Value::String(p)) = c.get("ResultPath") {
            result_path(p, &format!("{cat}/ResultPath"), errors);
        }
        if let Some(a) = c.get("Assign") {
            template(a, &format!("{cat}/Assign"), errors);
        }
    }
    if ty == "Choice" {
        for (i, rule) in list(o, "Choices") {
            let rat = format!("{sat}/Choices[{i}]");
            choice_rule(rule, &rat, errors);
            if let Some(a) = rule.get("Assign") {
                template(a, &format!("{rat}/Assign"), errors);
            }
        }
    }
}

/// `"key.$"` values must be a path (`$`, `$$`, `$name`) or an intrinsic function call.
fn template(v: &Value, at: &str, errors: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k.ends_with(".$") {
                    let ok = match x {
                        Value::String(s) if s.trim_start().starts_with("States.") => {
                            cordon_asl_eval::validate_intrinsic(s).is_ok()
                        }
                        Value::String(s) => cordon_asl_eval::validate_path(s).is_ok(),
                        _ => false,
                    };
                    if !ok {
                        errors.push(format!(
                            "{SCHEMA}: The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call at {at}"
                        ));
                    }
                } else {
                    template(x, &format!("{at}/{k}"), errors);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                template(x, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn result_path(p: &str, at: &str, errors: &mut Vec<String>) {
    // syntax errors are reported by the parser; here: where a result may be written
    if cordon_asl_eval::validate_path(p).is_err() {
        return;
    }
    if let Err(e) = cordon_asl_eval::validate_result_path(p) {
        errors.push(format!(
            "{SCHEMA}: Value is not a Reference Path: {e} at {at}"
        ));
    }
}

/// A Choice rule's `Variable` and `...Path` operands are reference paths; an intrinsic
/// function is not one.
fn choice_rule(rule: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(o) = rule.as_object() else { return };
    for (k, v) in o {
        let is_path = k == "Variable" || (k.ends_with("Path") && k != "Path");
        if is_path && let Value::String(s) = v {
            let err = if s.trim_start().starts_with("States.") {
                Some(format!(
                    "an intrinsic function ('{s}') cannot be used as '{k}'"
                ))
            } else {
                cordon_asl_eval::validate_path(s).err()
            };
            if let Some(e) = err {
                errors.push(format!(
                    "{SCHEMA}: Value is not a Reference Path: {e} at {at}/{k}"
                ));
            }
        }
    }
    for k in ["And", "Or"] {
        for (i, r) in list(o, k) {
            choice_rule(r, &format!("{at}/{k}[{i}]"), errors);
        }
    }
    if let Some(r) = o.get("Not") {
        choice_rule(r, &format!("{at}/Not"), errors);
    }
}

/// Every `{% ... %}` string in `v` must parse.
fn jsonata_strings(v: &Value, at: &str, errors: &mut Vec<String>) {
    match v {
        Value::String(s) if cordon_asl_eval::is_jsonata_expression(s) => {
            if let Err(e) = cordon_asl_eval::validate_jsonata(s) {
                errors.push(format!("INVALID_JSONATA_EXPRESSION: {e} at {at}"));
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                jsonata_strings(x, &format!("{at}/{k}"), errors);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                jsonata_strings(x, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// A JSON value that keeps every member of an object, duplicates included (a `serde_json`
/// map keeps only the last).
enum Raw {
    Object(Vec<(String, Raw)>),
    Array(Vec<Raw>),
    String(String),
    Other,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_str<E>(self, s: &str) -> Result<Raw, E> {
                Ok(Raw::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Raw, E> {
                Ok(Raw::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element()? {
                    out.push(x);
                }
                Ok(Raw::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Raw>()? {
                    out.push((k, v));
                }
                Ok(Raw::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Raw {
    fn get(&self, key: &str) -> Option<&Raw> {
        match self {
            Raw::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// State names must be unique across the whole definition, nested machines included.
fn duplicate_names(text: &str, errors: &mut Vec<String>) {
    let Ok(raw) = serde_json::from_str::<Raw>(text) else {
        return;
    };
    let mut seen: HashSet<String> = HashSet::new();
    raw_machine(&raw, "", &mut seen, errors);
}

fn raw_machine(m: &Raw, at: &str, seen: &mut HashSet<String>, errors: &mut Vec<String>) {
    let Some(Raw::Object(states)) = m.get("States") else {
        return;
    };
    for (name, sv) in states {
        let sat = format!("{at}/States/{name}");
        if !seen.insert(name.clone()) {
            errors.push(format!(
                "DUPLICATE_STATE_NAME: Duplicate State name: {name} at {sat}"
            ));
        }
        match sv.get("Type") {
            Some(Raw::String(t)) if t == "Parallel" => {
                if let Some(Raw::Array(bs)) = sv.get("Branches") {
                    for (i, b) in bs.iter().enumerate() {
                        raw_machine(b, &format!("{sat}/Branches[{i}]"), seen, errors);
                    }
                }
            }
            Some(Raw::String(t)) if t == "Map" => {
                for key in ["ItemProcessor", "Iterator"] {
                    if let Some(p) = sv.get(key) {
                        raw_machine(p, &format!("{sat}/{key}"), seen, errors);
                    }
                }
            }
            _ => {}
        }
    }
}
