//! The parsed and validated definition. Parsing happens once, at `CreateStateMachine`; the
//! interpreter never re-reads raw JSON for structure, only for templates and expressions.

use std::sync::Arc;

use serde_json::{Map, Value};

mod validate;

/// `QueryLanguage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

/// `InputPath`/`OutputPath`/`ResultPath`: absent (default `$`), `null`, or a path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathField {
    Default,
    Null,
    Path(String),
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter_full: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: PathField,
    pub output: Option<Value>,
    pub assign: Option<Value>,
}

/// A number given literally, by path (`...Path`) or by JSONata (`"{% %}"`).
#[derive(Debug, Clone, PartialEq)]
pub enum NumberField {
    Literal(f64),
    Path(String),
    Jsonata(String),
}

#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub resource: String,
    pub timeout: Option<NumberField>,
    pub heartbeat: Option<NumberField>,
    pub credentials: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum WaitSpec {
    Seconds(NumberField),
    Timestamp(String),
    TimestampPath(String),
    TimestampJsonata(String),
}

#[derive(Debug, Clone)]
pub struct MapSpec {
    pub processor: Arc<States>,
    pub items_path: PathField,
    pub items: Option<Value>,
    pub item_selector: Option<Value>,
    pub max_concurrency: Option<NumberField>,
    pub tolerated_count: Option<NumberField>,
    pub tolerated_percentage: Option<NumberField>,
    pub item_batcher: Option<Value>,
    pub item_reader: Option<Value>,
    pub result_writer: Option<Value>,
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Pass,
    Task(TaskSpec),
    Choice {
        choices: Vec<Value>,
        default: Option<String>,
    },
    Wait(WaitSpec),
    Succeed,
    Fail {
        error: Option<String>,
        cause: Option<String>,
        error_path: Option<String>,
        cause_path: Option<String>,
    },
    Parallel {
        branches: Vec<Arc<States>>,
    },
    Map(Box<MapSpec>),
}

/// One state.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub type_name: &'static str,
    pub kind: Kind,
    pub ql: QueryLanguage,
    pub next: Option<String>,
    pub end: bool,
    pub input_path: PathField,
    pub output_path: PathField,
    pub result_path: PathField,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub result: Option<Value>,
    pub arguments: Option<Value>,
    pub output: Option<Value>,
    pub assign: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// Whether anything in the state reads the context object (so it is built only then).
    pub uses_context: bool,
}

/// A set of states with a start (the top level, a Parallel branch, a Map processor).
#[derive(Debug, Clone)]
pub struct States {
    pub start_at: String,
    pub states: foldhash::HashMap<String, Arc<State>>,
}

/// A whole definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub root: Arc<States>,
    pub query_language: QueryLanguage,
    pub timeout_seconds: Option<u64>,
    /// How many events the last finished execution of this definition had: new executions
    /// reserve that much history up front (no regrowth, no slack kept for the run's life).
    pub history_hint: Arc<std::sync::atomic::AtomicUsize>,
}

/// Parse and validate `text`. `can_dispatch(resource)` says whether a Task resource has a
/// dispatcher. Errors are worded for `InvalidDefinition`.
pub fn parse(text: &str, can_dispatch: &dyn Fn(&str) -> bool) -> Result<Definition, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        format!("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {e}'")
    })?;
    let obj = v.as_object().ok_or("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: definition must be an object'")?;
    let ql = match obj.get("QueryLanguage") {
        None => QueryLanguage::JsonPath,
        Some(q) => parse_ql(q, "/QueryLanguage")?,
    };
    let timeout_seconds = match obj.get("TimeoutSeconds") {
        None => None,
        Some(t) => Some(t.as_u64().ok_or_else(|| {
            invalid(
                "SCHEMA_VALIDATION_FAILED",
                "Field 'TimeoutSeconds' must be a positive integer",
                "/TimeoutSeconds",
            )
        })?),
    };
    let mut errors = Vec::new();
    let root = parse_states(obj, ql, "", can_dispatch, &mut errors);
    validate::check(text, obj, ql, &mut errors);
    if !errors.is_empty() {
        return Err(format!(
            "Invalid State Machine Definition: '{}'",
            errors.join(", ")
        ));
    }
    Ok(Definition {
        root: Arc::new(root.expect("no errors")),
        query_language: ql,
        timeout_seconds,
        history_hint: Arc::default(),
    })
}

fn invalid(code: &str, msg: &str, at: &str) -> String {
    format!("Invalid State Machine Definition: '{code}: {msg} at {at}'")
}

fn parse_ql(q: &Value, at: &str) -> Result<QueryLanguage, String> {
    match q.as_str() {
        Some("JSONPath") => Ok(QueryLanguage::JsonPath),
        Some("JSONata") => Ok(QueryLanguage::Jsonata),
        _ => Err(invalid(
            "SCHEMA_VALIDATION_FAILED",
            "Value is not a valid QueryLanguage",
            at,
        )),
    }
}

fn parse_states(
    obj: &Map<String, Value>,
    ql: QueryLanguage,
    at: &str,
    can_dispatch: &dyn Fn(&str) -> bool,
    errors: &mut Vec<String>,
) -> Option<States> {
    let start_at = match obj.get("StartAt").and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: These fields are required: [StartAt] at {}",
                if at.is_empty() { "/" } else { at }
            ));
            String::new()
        }
    };
    let Some(states_obj) = obj.get("States").and_then(Value::as_object) else {
        errors.push(format!(
            "SCHEMA_VALIDATION_FAILED: These fields are required: [States] at {}",
            if at.is_empty() { "/" } else { at }
        ));
        return None;
    };
    if !start_at.is_empty() && !states_obj.contains_key(&start_at) {
        errors.push(format!(
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: {start_at} at {at}/StartAt"
        ));
    }
    let mut states = foldhash::HashMap::default();
    for (name, sv) in states_obj {
        let sat = format!("{at}/States/{name}");
        if name.len() > 80 {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: State name is too long at {sat}"
            ));
        }
        match parse_state(name, sv, ql, &sat, can_dispatch, errors) {
            Some(s) => {
                states.insert(name.clone(), Arc::new(s));
            }
            None => continue,
        }
    }
    // transitions
    for (name, s) in &states {
        let sat = format!("{at}/States/{name}");
        let mut targets: Vec<(&str, String)> = Vec::new();
        if let Some(n) = &s.next {
            targets.push((n, format!("{sat}/Next")));
        }
        for (i, c) in s.catch.iter().enumerate() {
            targets.push((&c.next, format!("{sat}/Catch[{i}]/Next")));
        }
        if let Kind::Choice { choices, default } = &s.kind {
            if let Some(d) = default {
                targets.push((d, format!("{sat}/Default")));
            }
            for (i, c) in choices.iter().enumerate() {
                if let Some(n) = c.get("Next").and_then(Value::as_str) {
                    targets.push((n, format!("{sat}/Choices[{i}]/Next")));
                }
            }
        }
        for (t, tat) in targets {
            if !states.contains_key(t) {
                errors.push(format!(
                    "MISSING_TRANSITION_TARGET: Missing 'Next' target: {t} at {tat}"
                ));
            }
        }
    }
    if !errors.is_empty() {
        return None;
    }
    Some(States { start_at, states })
}

fn str_field(
    o: &Map<String, Value>,
    k: &str,
    sat: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match o.get(k) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: Field '{k}' must be a string at {sat}/{k}"
            ));
            None
        }
    }
}

fn path_field(o: &Map<String, Value>, k: &str, sat: &str, errors: &mut Vec<String>) -> PathField {
    match o.get(k) {
        None => PathField::Default,
        Some(Value::Null) => PathField::Null,
        Some(Value::String(s)) => {
            if let Err(e) = cordon_asl_eval::validate_path(s) {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: The value for the field '{k}' must be a valid JSONPath: {e} at {sat}/{k}"));
            }
            PathField::Path(s.clone())
        }
        Some(_) => {
            errors.push(format!("SCHEMA_VALIDATION_FAILED: The value for the field '{k}' must be a valid JSONPath at {sat}/{k}"));
            PathField::Default
        }
    }
}

fn number_field(
    o: &Map<String, Value>,
    k: &str,
    sat: &str,
    ql: QueryLanguage,
    errors: &mut Vec<String>,
) -> Option<NumberField> {
    let pk = format!("{k}Path");
    // `k` and `kPath` together are refused in `validate`.
    if let Some(v) = o.get(k) {
        return match v {
            Value::Number(n) => Some(NumberField::Literal(n.as_f64().unwrap_or(0.0))),
            Value::String(s)
                if ql == QueryLanguage::Jsonata && cordon_asl_eval::is_jsonata_expression(s) =>
            {
                Some(NumberField::Jsonata(s.clone()))
            }
            _ => {
                errors.push(format!(
                    "SCHEMA_VALIDATION_FAILED: Field '{k}' must be a number at {sat}/{k}"
                ));
                None
            }
        };
    }
    match o.get(&pk) {
        None => None,
        Some(Value::String(s)) => Some(NumberField::Path(s.clone())),
        Some(_) => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: Field '{pk}' must be a string at {sat}/{pk}"
            ));
            None
        }
    }
}

fn error_equals(o: &Value, at: &str, errors: &mut Vec<String>) -> Vec<String> {
    match o.get("ErrorEquals").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect(),
        _ => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: These fields are required: [ErrorEquals] at {at}"
            ));
            Vec::new()
        }
    }
}

fn parse_state(
    name: &str,
    sv: &Value,
    parent_ql: QueryLanguage,
    sat: &str,
    can_dispatch: &dyn Fn(&str) -> bool,
    errors: &mut Vec<String>,
) -> Option<State> {
    let Some(o) = sv.as_object() else {
        errors.push(format!(
            "SCHEMA_VALIDATION_FAILED: State must be an object at {sat}"
        ));
        return None;
    };
    let ql = match o.get("QueryLanguage") {
        None => parent_ql,
        Some(q) => match parse_ql(q, &format!("{sat}/QueryLanguage")) {
            Ok(QueryLanguage::JsonPath) if parent_ql == QueryLanguage::Jsonata => {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: 'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine at {sat}"));
                parent_ql
            }
            Ok(q) => q,
            Err(e) => {
                errors.push(e);
                parent_ql
            }
        },
    };
    let type_name: &'static str = match o.get("Type").and_then(Value::as_str) {
        Some("Pass") => "Pass",
        Some("Task") => "Task",
        Some("Choice") => "Choice",
        Some("Wait") => "Wait",
        Some("Succeed") => "Succeed",
        Some("Fail") => "Fail",
        Some("Parallel") => "Parallel",
        Some("Map") => "Map",
        Some(t) => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: Value is not a valid state type: {t} at {sat}/Type"
            ));
            return None;
        }
        None => {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: These fields are required: [Type] at {sat}"
            ));
            return None;
        }
    };
    // The fields a state may have (per type and query language) are checked in `validate`.
    let next = str_field(o, "Next", sat, errors);
    let end = o.get("End").and_then(Value::as_bool).unwrap_or(false);
    let terminal = matches!(type_name, "Succeed" | "Fail");
    if type_name != "Choice" && !terminal {
        if next.is_some() && end {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: Only one of 'Next' or 'End' can be set at {sat}"
            ));
        } else if next.is_none() && !end {
            errors.push(format!(
                "SCHEMA_VALIDATION_FAILED: No Next or End field at {sat}"
            ));
        }
    }
    let mut retry = Vec::new();
    if let Some(r) = o.get("Retry") {
        for (i, rv) in r.as_array().cloned().unwrap_or_default().iter().enumerate() {
            let rat = format!("{sat}/Retry[{i}]");
            let max_attempts = rv.get("MaxAttempts").map(|v| v.as_u64()).unwrap_or(Some(3));
            let Some(max_attempts) = max_attempts else {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: Field 'MaxAttempts' must be a non-negative integer at {rat}/MaxAttempts"));
                continue;
            };
            let backoff = rv.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0);
            if backoff < 1.0 {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: Field 'BackoffRate' must be >= 1.0 at {rat}/BackoffRate"));
            }
            let interval = rv
                .get("IntervalSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            retry.push(Retrier {
                error_equals: error_equals(rv, &rat, errors),
                interval_seconds: interval,
                max_attempts,
                backoff_rate: backoff,
                max_delay_seconds: rv.get("MaxDelaySeconds").and_then(Value::as_f64),
                jitter_full: rv.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
            });
        }
    }
    let mut catch = Vec::new();
    if let Some(c) = o.get("Catch") {
        for (i, cv) in c.as_array().cloned().unwrap_or_default().iter().enumerate() {
            let cat = format!("{sat}/Catch[{i}]");
            let co = cv.as_object().cloned().unwrap_or_default();
            let Some(next) = cv.get("Next").and_then(Value::as_str) else {
                errors.push(format!(
                    "SCHEMA_VALIDATION_FAILED: These fields are required: [Next] at {cat}"
                ));
                continue;
            };
            catch.push(Catcher {
                error_equals: error_equals(cv, &cat, errors),
                next: next.to_string(),
                result_path: path_field(&co, "ResultPath", &cat, errors),
                output: co.get("Output").cloned(),
                assign: co.get("Assign").cloned(),
            });
        }
    }
    for (list, what) in [
        (
            &retry
                .iter()
                .map(|r| r.error_equals.clone())
                .collect::<Vec<_>>(),
            "Retry",
        ),
        (
            &catch.iter().map(|c| c.error_equals.clone()).collect(),
            "Catch",
        ),
    ] {
        for (i, ee) in list.iter().enumerate() {
            if ee.iter().any(|e| e == "States.ALL") && (ee.len() > 1 || i + 1 != list.len()) {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: States.ALL must appear alone and last at {sat}/{what}[{i}]"));
            }
        }
    }
    let kind = match type_name {
        "Pass" => Kind::Pass,
        "Succeed" => Kind::Succeed,
        "Task" => {
            let resource = match o.get("Resource").and_then(Value::as_str) {
                Some(r) => r.to_string(),
                None => {
                    errors.push(format!(
                        "SCHEMA_VALIDATION_FAILED: These fields are required: [Resource] at {sat}"
                    ));
                    String::new()
                }
            };
            let supported = resource.is_empty()
                || (ql == QueryLanguage::Jsonata
                    && cordon_asl_eval::is_jsonata_expression(&resource))
                || can_dispatch(&resource);
            if !supported {
                errors.push(format!("SCHEMA_VALIDATION_FAILED: Value is not a supported Task resource: '{resource}' at {sat}/Resource"));
            }
            Kind::Task(TaskSpec {
                resource,
                timeout: number_field(o, "TimeoutSeconds", sat, ql, errors),
                heartbeat: number_field(o, "HeartbeatSeconds", sat, ql, errors),
                credentials: o.get("Credentials").cloned(),
            })
        }
        "Choice" => {
            let choices = o
                .get("Choices")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if choices.is_empty() {
                errors.push(format!(
                    "SCHEMA_VALIDATION_FAILED: These fields are required: [Choices] at {sat}"
                ));
            }
            for (i, c) in choices.iter().enumerate() {
                if c.get("Next").and_then(Value::as_str).is_none() {
                    errors.push(format!("SCHEMA_VALIDATION_FAILED: These fields are required: [Next] at {sat}/Choices[{i}]"));
                }
            }
            Kind::Choice {
                choices,
                default: str_field(o, "Default", sat, errors),
            }
        }
        "Wait" => {
            let spec = if o.contains_key("Seconds") || o.contains_key("SecondsPath") {
                number_field(o, "Seconds", sat, ql, errors).map(WaitSpec::Seconds)
            } else if let Some(t) = o.get("Timestamp").and_then(Value::as_str) {
                if ql == QueryLanguage::Jsonata && cordon_asl_eval::is_jsonata_expression(t) {
                    Some(WaitSpec::TimestampJsonata(t.to_string()))
                } else {
                    Some(WaitSpec::Timestamp(t.to_string()))
                }
            } else {
                o.get("TimestampPath")
                    .and_then(Value::as_str)
                    .map(|t| WaitSpec::TimestampPath(t.to_string()))
            };
            match spec {
                Some(s) => Kind::Wait(s),
                None => {
                    errors.push(format!("SCHEMA_VALIDATION_FAILED: A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath at {sat}"));
                    return None;
                }
            }
        }
        "Fail" => Kind::Fail {
            error: str_field(o, "Error", sat, errors),
            cause: str_field(o, "Cause", sat, errors),
            error_path: str_field(o, "ErrorPath", sat, errors),
            cause_path: str_field(o, "CausePath", sat, errors),
        },
        "Parallel" => {
            let mut branches = Vec::new();
            let bs: &[Value] = match o.get("Branches") {
                None => {
                    errors.push(format!(
                        "SCHEMA_VALIDATION_FAILED: These fields are required: [Branches] at {sat}"
                    ));
                    &[]
                }
                Some(Value::Array(a)) if a.is_empty() => {
                    errors.push(format!(
                        "SCHEMA_VALIDATION_FAILED: Value cannot be empty at {sat}/Branches"
                    ));
                    &[]
                }
                Some(Value::Array(a)) => a,
                Some(_) => {
                    errors.push(format!(
                        "SCHEMA_VALIDATION_FAILED: Field 'Branches' must be an array of state machines (objects with StartAt and States) at {sat}/Branches"
                    ));
                    &[]
                }
            };
            for (i, b) in bs.iter().enumerate() {
                let bat = format!("{sat}/Branches[{i}]");
                let Some(bo) = b.as_object() else {
                    errors.push(format!(
                        "SCHEMA_VALIDATION_FAILED: A branch must be an object with StartAt and States at {bat}"
                    ));
                    continue;
                };
                // A branch's states take the machine's language, not the Parallel's (as AWS
                // does), unless the branch declares one.
                let bql = match bo.get("QueryLanguage") {
                    Some(q) => parse_ql(q, &format!("{bat}/QueryLanguage")).unwrap_or(parent_ql),
                    None => parent_ql,
                };
                if let Some(st) = parse_states(bo, bql, &bat, can_dispatch, errors) {
                    branches.push(Arc::new(st));
                }
            }
            if branches.len() != bs.len() && errors.is_empty() {
                // every branch that did not parse has reported why; never run fewer branches
                errors.push(format!(
                    "SCHEMA_VALIDATION_FAILED: Invalid branch at {sat}/Branches"
                ));
            }
            Kind::Parallel { branches }
        }
        "Map" => {
            let proc_key = if o.contains_key("ItemProcessor") {
                "ItemProcessor"
            } else {
                "Iterator"
            };
            let Some(po) = o.get(proc_key).and_then(Value::as_object) else {
                errors.push(format!(
                    "SCHEMA_VALIDATION_FAILED: These fields are required: [ItemProcessor] at {sat}"
                ));
                return None;
            };
            // The processor's states take the machine's language, not the Map's (as AWS does;
            // a processor may not declare one).
            let processor = parse_states(
                po,
                parent_ql,
                &format!("{sat}/{proc_key}"),
                can_dispatch,
                errors,
            )?;
            let item_selector = o
                .get("ItemSelector")
                .or_else(|| o.get("Parameters"))
                .cloned();
            Kind::Map(Box::new(MapSpec {
                processor: Arc::new(processor),
                items_path: path_field(o, "ItemsPath", sat, errors),
                items: o.get("Items").cloned(),
                item_selector,
                max_concurrency: number_field(o, "MaxConcurrency", sat, ql, errors),
                tolerated_count: number_field(o, "ToleratedFailureCount", sat, ql, errors),
                tolerated_percentage: number_field(
                    o,
                    "ToleratedFailurePercentage",
                    sat,
                    ql,
                    errors,
                ),
                item_batcher: o.get("ItemBatcher").cloned(),
                item_reader: o.get("ItemReader").cloned(),
                result_writer: o.get("ResultWriter").cloned(),
                label: o.get("Label").and_then(Value::as_str).map(str::to_string),
            }))
        }
        _ => unreachable!(),
    };
    let parameters = if type_name == "Map" {
        None
    } else {
        o.get("Parameters").cloned()
    };
    Some(State {
        name: name.to_string(),
        type_name,
        kind,
        ql,
        next,
        end,
        input_path: path_field(o, "InputPath", sat, errors),
        output_path: path_field(o, "OutputPath", sat, errors),
        result_path: path_field(o, "ResultPath", sat, errors),
        parameters,
        result_selector: o.get("ResultSelector").cloned(),
        result: o.get("Result").cloned(),
        arguments: o.get("Arguments").cloned(),
        output: o.get("Output").cloned(),
        assign: o.get("Assign").cloned(),
        retry,
        catch,
        uses_context: {
            let t = sv.to_string();
            t.contains("$$") || t.contains("$states.context")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &str) -> bool {
        true
    }

    #[test]
    fn missing_next_target_is_named() {
        let e = parse(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#,
            &ok,
        )
        .unwrap_err();
        assert!(
            e.contains("Missing 'Next' target: B at /States/A/Next"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_resource_is_named() {
        let e = parse(r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::foo:bar","End":true}}}"#, &|_| false).unwrap_err();
        assert!(e.contains("arn:aws:states:::foo:bar"), "{e}");
    }

    #[test]
    fn parses_all_types() {
        let d = parse(r#"{"StartAt":"P","States":{
            "P":{"Type":"Pass","Next":"C"},
            "C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"W"}],"Default":"F"},
            "W":{"Type":"Wait","Seconds":1,"Next":"Par"},
            "Par":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Succeed"}}}],"Next":"M"},
            "M":{"Type":"Map","ItemProcessor":{"StartAt":"Y","States":{"Y":{"Type":"Pass","End":true}}},"Next":"S"},
            "S":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E"}}}"#, &ok).unwrap();
        assert_eq!(d.root.states.len(), 7);
    }
}
