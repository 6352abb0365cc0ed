//! Port of the history normalisation the corpus prescribes (LocalStack's snapshot transformers,
//! `localstack-snapshot` semantics). Input: the raw `GetExecutionHistory` events as the API returns
//! them (payloads are JSON texts). Output: the events as the corpus stores them.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::jsonpath::JsonPath;
use crate::pyjson;

pub const PATTERN_UUID: &str =
    r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}";
pub const PATTERN_ISO8601: &str = r"(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-][01]\d:?([0-5]\d)?)";

static RE_UUID_START: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(&format!("^(?:{PATTERN_UUID})")).unwrap());
static RE_ISO_START: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(&format!("^(?:{PATTERN_ISO8601})")).unwrap());
static RE_ARN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^arn:(aws[a-zA-Z-]*)?:([a-zA-Z0-9-_.]+)?:([^:]+)?:(\d{12})?:(.*)").unwrap()
});
static RE_CAUSE_JSON: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^.*'(\{.*\})'").unwrap());
static RE_SNS_PEM: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^.*SimpleNotificationService-(.*\.pem)").unwrap());
static RE_SNS_UNSUB: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^.*\?Action=Unsubscribe&SubscriptionArn=.*:(.*)").unwrap()
});

/// A registered text replacement, applied to the serialised document in registration order.
enum Replacement {
    Regex(fancy_regex::Regex, String),
    Text(String, String),
}

#[derive(Default)]
struct Ctx {
    replacements: Vec<Replacement>,
    counters: HashMap<String, u64>,
    cache: HashSet<String>,
}

impl Ctx {
    fn new_scope(&mut self, name: &str) -> u64 {
        let c = self.counters.entry(name.to_string()).or_insert(1);
        let n = *c;
        *c += 1;
        n
    }
    /// `_register_serialized_reference_replacement`.
    fn register_reference(&mut self, value: &str, name: &str) {
        let value = value.replace('"', "\\\"");
        if self.cache.contains(&value) {
            return;
        }
        let n = self.new_scope(name);
        self.cache.insert(value.clone());
        self.replacements
            .push(Replacement::Text(value, format!("<{name}:{n}>")));
    }
    fn register_regex(&mut self, pattern: &str, replacement: &str) -> Result<(), String> {
        let re =
            fancy_regex::Regex::new(pattern).map_err(|e| format!("bad regex {pattern:?}: {e}"))?;
        self.replacements
            .push(Replacement::Regex(re, python_repl_to_rust(replacement)));
        Ok(())
    }
}

/// Converts a Python `re.sub` replacement template into fancy-regex's expander syntax.
fn python_repl_to_rust(repl: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
        } else if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            i += 1;
            match n {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                'g' if i + 1 < chars.len() && chars[i + 1] == '<' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&c| c == '>')
                        .map(|p| p + i)
                        .unwrap_or(chars.len() - 1);
                    let name: String = chars[i + 2..end].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i = end;
                }
                d if d.is_ascii_digit() => {
                    let mut num = String::from(d);
                    if i + 1 < chars.len() && chars[i + 1].is_ascii_digit() {
                        num.push(chars[i + 1]);
                        i += 1;
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// `_order_dict`: keys sorted recursively (dicts, and dicts directly inside lists).
fn order_dict(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                let val = &m[k];
                let nv = match val {
                    Value::Object(_) => order_dict(val),
                    Value::Array(a) => Value::Array(a.iter().map(order_dict_entry).collect()),
                    other => other.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn order_dict_entry(v: &Value) -> Value {
    match v {
        Value::Object(_) => order_dict(v),
        other => other.clone(),
    }
}

/// Python `json.loads` for the texts the steps try to parse.
fn py_loads(s: &str) -> Option<Value> {
    serde_json::from_str(s.trim_matches(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r')).ok()
}

/// `_transform_dict_to_parseable_values`.
fn parse_json_strings(m: &mut Map<String, Value>) {
    for (_, v) in m.iter_mut() {
        if let Value::Array(items) = v {
            for item in items.iter_mut() {
                if let Value::Object(im) = item {
                    parse_json_strings(im);
                }
            }
        }
        if let Value::Object(vm) = v {
            parse_json_strings(vm);
        }
        if let Value::String(s) = v
            && s.starts_with('{')
            && let Some(parsed) = py_loads(s)
        {
            *v = parsed;
        }
    }
}

/// What a key/value walk does with a match.
enum KvAction {
    /// Register the match result as a reference.
    Reference(String),
    /// Replace the value (`replace_reference=False`).
    Set(String),
}

/// `KeyValueBasedTransformer.transform`: `f(key, value)` returns the match result.
fn kv_walk(
    m: &mut Map<String, Value>,
    f: &dyn Fn(&str, &Value) -> Option<String>,
    action: &dyn Fn(&str) -> KvAction,
    ctx: &mut Ctx,
) {
    for (k, v) in m.iter_mut() {
        if let Some(result) = f(k, v) {
            match action(k) {
                KvAction::Reference(name) => ctx.register_reference(&result, &name),
                KvAction::Set(replacement) => {
                    *v = match v {
                        Value::String(s) => Value::String(s.replace(&result, &replacement)),
                        _ => Value::String(replacement),
                    };
                }
            }
        } else if let Value::Array(items) = v {
            for item in items.iter_mut() {
                if let Value::Object(im) = item {
                    kv_walk(im, f, action, ctx);
                }
            }
        } else if let Value::Object(vm) = v {
            kv_walk(vm, f, action, ctx);
        }
    }
}

fn resource_name(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let caps = RE_ARN.captures(s)?;
    let mut res = caps
        .get(5)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    if res.starts_with('<') && res.ends_with('>') {
        return None;
    }
    if s.contains(":changeSet/") {
        return s.rsplit(":changeSet/").next().map(str::to_string);
    }
    if res.contains('/') {
        return res.rsplit('/').next().map(str::to_string);
    }
    if let Some(r) = res.strip_prefix("function:") {
        res = r.to_string();
        if res.contains('$') {
            res = res
                .split('$')
                .next()
                .unwrap_or("")
                .trim_end_matches(':')
                .to_string();
        }
        return Some(res);
    }
    if res.starts_with("layer:") {
        let parts: Vec<&str> = res.split(':').collect();
        if parts.len() == 2 || parts.len() == 3 {
            return Some(parts[1].to_string());
        }
    }
    if res.contains(':') {
        return res.rsplit(':').next().map(str::to_string);
    }
    Some(res)
}

/// Python `str(v)` starts like an ISO-8601 date-time.
fn py_str_is_iso(v: &Value) -> bool {
    match v {
        Value::String(s) => RE_ISO_START.is_match(s),
        _ => false,
    }
}

/// `SfnNoneRecursiveParallelTransformer._normalise_events`, quirks included: the list is
/// modified while it is walked by index.
pub fn parallel_sort(events: &mut Vec<Value>) {
    let mut start_idx: Option<usize> = None;
    let mut sublist: Vec<Value> = Vec::new();
    let mut in_sublist = false;
    let mut i = 0;
    while i < events.len() {
        let ty = events[i]
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        match ty.as_deref() {
            None => in_sublist = false,
            Some(
                "ParallelStateSucceeded"
                | "ParallelStateAborted"
                | "ParallelStateExited"
                | "ParallelStateFailed",
            ) => {
                let mut sorted = sublist.clone();
                sorted.sort_by_cached_key(|e| pyjson::dumps(e, true));
                let len = events.len();
                let s = start_idx.unwrap_or(0).min(len);
                let e = i.min(len).max(s);
                events.splice(s..e, sorted);
                in_sublist = false;
            }
            Some("ParallelStateStarted") => {
                in_sublist = true;
                sublist = Vec::new();
                start_idx = Some(i + 1);
            }
            Some(_) if in_sublist => {
                if let Value::Object(m) = &mut events[i] {
                    m.insert("id".into(), Value::Array(vec![Value::from(0)]));
                    m.insert("previousEventId".into(), Value::from(0));
                }
                sublist.push(events[i].clone());
            }
            Some(_) => {}
        }
        i += 1;
    }
}

/// The test-specific `_convert_output_to_json` (returns early after the first conversion in a dict).
fn convert_output_to_json(m: &mut Map<String, Value>) -> bool {
    for (_, v) in m.iter_mut() {
        if let Value::Object(vm) = v {
            if let Some(Value::String(s)) = vm.get("output")
                && let Ok(parsed) = serde_json::from_str::<Value>(s.trim())
            {
                vm.insert("output".into(), parsed);
                return true;
            }
            convert_output_to_json(vm);
        } else if let Value::Array(items) = v {
            for item in items.iter_mut() {
                if let Value::Object(im) = item {
                    convert_output_to_json(im);
                }
            }
        }
    }
    false
}

fn str_field<'a>(step: &'a Value, key: &str) -> Result<&'a str, String> {
    step.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("step lacks '{key}': {step}"))
}

/// Top-level `timestamp` of each raw event becomes a number (as boto's `datetime` it is not
/// ISO-8601 text after `str()`), whatever form the engine gave it.
fn prepare_raw(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Value::Object(m) = &mut e
                && let Some(ts) = m.get("timestamp")
                && !ts.is_number()
            {
                m.insert("timestamp".into(), Value::from(0.0));
            }
            e
        })
        .collect()
}

/// The successful execution's output (for `output_value_regex`).
fn succeeded_output(events: &[Value]) -> Option<Value> {
    events.iter().find_map(|e| {
        let t = e.get("executionSucceededEventDetails")?.get("output")?;
        match t {
            Value::String(s) => serde_json::from_str(s).ok(),
            other => Some(other.clone()),
        }
    })
}

/// Normalises raw `GetExecutionHistory` events with the case's `normalization_steps`.
pub fn normalise_history(steps: &[Value], raw_events: &[Value]) -> Result<Vec<Value>, String> {
    normalise(steps, raw_events, false).map(|(events, _)| events)
}

/// Like [`normalise_history`], but when the replaced text is no longer JSON (LocalStack's
/// snapshot would fail) the breaking replacements are skipped and the problem is returned.
pub fn normalise_history_lenient(
    steps: &[Value],
    raw_events: &[Value],
) -> Result<(Vec<Value>, Option<String>), String> {
    normalise(steps, raw_events, true)
}

fn normalise(
    steps: &[Value],
    raw_events: &[Value],
    lenient: bool,
) -> Result<(Vec<Value>, Option<String>), String> {
    let raw = prepare_raw(raw_events);
    let output = succeeded_output(&raw);
    let mut doc = Value::Object(Map::from_iter([("events".to_string(), Value::Array(raw))]));
    doc = order_dict(&doc);
    let mut ctx = Ctx::default();
    for step in steps {
        let op = str_field(step, "op")?;
        let Value::Object(m) = &mut doc else {
            unreachable!()
        };
        match op {
            "parse_json_strings" => parse_json_strings(m),
            "reference_counters" => {
                if let Some(Value::Object(start)) = step.get("start") {
                    for (k, v) in start {
                        ctx.counters.insert(k.clone(), v.as_u64().unwrap_or(1));
                    }
                }
            }
            "regex" => {
                ctx.register_regex(str_field(step, "pattern")?, str_field(step, "replacement")?)?
            }
            "text" => ctx.replacements.push(Replacement::Text(
                str_field(step, "text")?.to_string(),
                str_field(step, "replacement")?.to_string(),
            )),
            "output_value_regex" => {
                let key = str_field(step, "output_key")?;
                if let Some(Value::String(pattern)) = output.as_ref().and_then(|o| o.get(key)) {
                    ctx.register_regex(pattern, str_field(step, "replacement")?)?;
                }
            }
            "jsonpath_set" => {
                let value = step.get("value").cloned().unwrap_or(Value::Null);
                JsonPath::parse(str_field(step, "path")?)?.set(&mut doc, &value);
            }
            "jsonpath_reference" => {
                let name = str_field(step, "name")?;
                let path = JsonPath::parse(str_field(step, "path")?)?;
                for loc in path.find(&doc) {
                    if let Some(Value::String(s)) = crate::jsonpath::get(&doc, &loc) {
                        ctx.register_reference(s, name);
                    }
                }
            }
            "remove_key" => {
                let key = str_field(step, "key")?.to_string();
                fn rm(v: &mut Value, key: &str) {
                    match v {
                        Value::Object(m) => {
                            m.shift_remove(key);
                            m.values_mut().for_each(|v| rm(v, key));
                        }
                        Value::Array(a) => a.iter_mut().for_each(|v| rm(v, key)),
                        _ => {}
                    }
                }
                rm(&mut doc, &key);
            }
            "key_reference" | "key_set" => {
                let key = str_field(step, "key")?.to_string();
                let f = move |k: &str, v: &Value| -> Option<String> {
                    if k == key && !v.is_null() && v.as_str() != Some("") {
                        Some(match v {
                            Value::String(s) => s.clone(),
                            other => pyjson::py_str(other),
                        })
                    } else {
                        None
                    }
                };
                if op == "key_reference" {
                    let name = str_field(step, "name")?.to_string();
                    // non-string values would make LocalStack raise; they are skipped here
                    let f2 = move |k: &str, v: &Value| if v.is_string() { f(k, v) } else { None };
                    kv_walk(m, &f2, &|_| KvAction::Reference(name.clone()), &mut ctx);
                } else {
                    let value = step.get("value").map(pyjson::py_str).unwrap_or_default();
                    kv_walk(m, &f, &|_| KvAction::Set(value.clone()), &mut ctx);
                }
            }
            "uuid_reference" => {
                let name = str_field(step, "name")?.to_string();
                let f = |k: &str, v: &Value| -> Option<String> {
                    let s = v.as_str()?;
                    (k.to_lowercase().ends_with("id") && RE_UUID_START.is_match(s))
                        .then(|| s.to_string())
                };
                kv_walk(m, &f, &|_| KvAction::Reference(name.clone()), &mut ctx);
            }
            "resource_name_reference" => {
                let name = str_field(step, "name")?.to_string();
                kv_walk(
                    m,
                    &|_, v| resource_name(v),
                    &|_| KvAction::Reference(name.clone()),
                    &mut ctx,
                );
            }
            "cause_json_input_reference" => {
                let name = str_field(step, "name")?.to_string();
                let f = |k: &str, v: &Value| -> Option<String> {
                    if k != "cause" {
                        return None;
                    }
                    let s = v.as_str()?;
                    let json_input = RE_CAUSE_JSON.captures(s)?.get(1)?.as_str().to_string();
                    py_loads(&json_input).map(|_| json_input)
                };
                kv_walk(m, &f, &|_| KvAction::Reference(name.clone()), &mut ctx);
            }
            "sns_signing_cert_reference" | "sns_unsubscribe_url_reference" => {
                let name = str_field(step, "name")?.to_string();
                let (key, re): (&str, &regex::Regex) = if op == "sns_signing_cert_reference" {
                    ("signingcerturl", &RE_SNS_PEM)
                } else {
                    ("unsubscribeurl", &RE_SNS_UNSUB)
                };
                let f = |k: &str, v: &Value| -> Option<String> {
                    let s = v.as_str()?;
                    if k.to_lowercase() != key {
                        return None;
                    }
                    Some(re.captures(s)?.get(1)?.as_str().to_string())
                };
                kv_walk(m, &f, &|_| KvAction::Reference(name.clone()), &mut ctx);
            }
            "timestamp_key_set" => {
                let value = step
                    .get("value")
                    .map(pyjson::py_str)
                    .unwrap_or_else(|| "timestamp".into());
                let f = |k: &str, v: &Value| -> Option<String> {
                    let key_matches = (k.to_lowercase().contains("timestamp") && !k.contains('\n'))
                        || k == "creationTime"
                        || k == "ingestionTime";
                    if key_matches && !py_str_is_iso(v) {
                        Some(match v {
                            Value::String(s) => s.clone(),
                            other => pyjson::py_str(other),
                        })
                    } else {
                        None
                    }
                };
                kv_walk(m, &f, &|_| KvAction::Set(value.clone()), &mut ctx);
            }
            "parallel_sort" => {
                if let Some(Value::Array(events)) = m.get_mut("events") {
                    parallel_sort(events);
                }
            }
            "convert_output_to_json" => {
                convert_output_to_json(m);
            }
            other => return Err(format!("unknown normalisation op {other:?}")),
        }
    }
    let text = pyjson::dumps(&doc, true);
    let apply = |text: String, r: &Replacement| -> Result<String, String> {
        Ok(match r {
            Replacement::Text(from, to) => {
                if from.is_empty() {
                    text
                } else {
                    text.replace(from.as_str(), to)
                }
            }
            Replacement::Regex(re, to) => re
                .try_replacen(&text, 0, to.as_str())
                .map_err(|e| format!("regex replacement failed: {e}"))?
                .into_owned(),
        })
    };
    let mut replaced = text.clone();
    for r in &ctx.replacements {
        replaced = apply(replaced, r)?;
    }
    let parsed: Result<Value, String> = serde_json::from_str(&replaced).map_err(|e| {
        let at: usize = replaced
            .lines()
            .take(e.line().saturating_sub(1))
            .map(|l| l.len() + 1)
            .sum::<usize>()
            + e.column();
        let from = floor_char_boundary(&replaced, at.saturating_sub(60));
        let to = ceil_char_boundary(&replaced, (at + 40).min(replaced.len()));
        format!(
            "normalised text is not JSON ({e}) near {:?}",
            &replaced[from..to]
        )
    });
    let (doc, warning) = match parsed {
        Ok(doc) => (doc, None),
        Err(msg) if lenient => {
            // LocalStack would fail here; keep going without the replacements that break the
            // text, so that the comparison can name the real difference.
            let mut t = text;
            for r in &ctx.replacements {
                let next = apply(t.clone(), r)?;
                if serde_json::from_str::<Value>(&next).is_ok() {
                    t = next;
                }
            }
            (
                serde_json::from_str(&t)
                    .map_err(|e| format!("normalised text is not JSON: {e}"))?,
                Some(msg),
            )
        }
        Err(msg) => return Err(msg),
    };
    match doc.get("events") {
        Some(Value::Array(events)) => Ok((events.clone(), warning)),
        _ => Ok((Vec::new(), warning)),
    }
}

/// `str::floor_char_boundary`, stable only since Rust 1.91 (the workspace supports 1.90): the
/// largest char boundary at or below `i`, `s.len()` when `i` is past the end.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    (0..=i).rev().find(|&b| s.is_char_boundary(b)).unwrap_or(0)
}

/// `str::ceil_char_boundary` (stable since Rust 1.91): the smallest char boundary at or above
/// `i`, `s.len()` when `i` is past the end.
fn ceil_char_boundary(s: &str, i: usize) -> usize {
    if i > s.len() {
        return s.len();
    }
    (i..=s.len())
        .find(|&b| s.is_char_boundary(b))
        .unwrap_or(s.len())
}

/// The inverse of the simple parts of normalisation, for round-trip tests: payload objects back
/// to JSON text, `timestamp` to a number and the identity placeholders back to the case's names.
pub fn denormalise_history(case: &crate::case::Case, events: &[Value]) -> Vec<Value> {
    const PAYLOAD_KEYS: [&str; 4] = ["input", "output", "parameters", "cause"];
    fn payloads(v: &mut Value, in_assigned: bool) {
        if let Value::Object(m) = v {
            for (k, val) in m.iter_mut() {
                if (in_assigned || PAYLOAD_KEYS.contains(&k.as_str())) && val.is_object() {
                    *val = Value::String(serde_json::to_string(val).unwrap());
                    continue;
                }
                payloads(val, k == "assignedVariables");
            }
        }
    }
    let mut text = serde_json::to_string(events).unwrap();
    let mut swaps: Vec<(String, String)> = Vec::new();
    if let Some(r) = case.ctx("roleArn") {
        swaps.push(("snf_role_arn".into(), r.into()));
    }
    for step in &case.normalization_steps {
        if step.get("op").and_then(Value::as_str) == Some("regex") {
            let (Some(p), Some(r)) = (step["pattern"].as_str(), step["replacement"].as_str())
            else {
                continue;
            };
            let literal = p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if literal && (r.starts_with("<ArnPart_") || r.starts_with("<ExecArnPart_")) {
                swaps.push((r.into(), p.into()));
            }
        }
    }
    for (from, to) in swaps {
        text = text.replace(&from, &to);
    }
    let mut out: Vec<Value> = serde_json::from_str(&text).unwrap();
    for e in out.iter_mut() {
        payloads(e, false);
        if let Value::Object(m) = e {
            m.insert("timestamp".into(), Value::from(1_700_000_000.5));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: i64, ty: &str, name: Option<&str>) -> Value {
        let mut v = json!({"id": id, "previousEventId": id - 1, "timestamp": 1.0, "type": ty});
        if let Some(n) = name {
            v["stateEnteredEventDetails"] = json!({"name": n});
        }
        v
    }

    #[test]
    fn parallel_sort_quirks() {
        // Started, two branch events (out of order), Succeeded, Exited, next state entered
        let mut events = vec![
            ev(1, "ParallelStateEntered", None),
            ev(2, "ParallelStateStarted", None),
            ev(3, "PassStateEntered", Some("B")),
            ev(4, "PassStateEntered", Some("A")),
            ev(5, "ParallelStateSucceeded", None),
            ev(6, "ParallelStateExited", None),
            ev(7, "PassStateEntered", Some("After")),
            ev(8, "ExecutionSucceeded", None),
        ];
        parallel_sort(&mut events);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        // the Succeeded event is dropped, the walk skips "After" (no harm here), the branch
        // events are sorted by their JSON text with id [0] and previousEventId 0
        assert_eq!(
            types,
            [
                "ParallelStateEntered",
                "ParallelStateStarted",
                "PassStateEntered",
                "PassStateEntered",
                "ParallelStateExited",
                "PassStateEntered",
                "ExecutionSucceeded"
            ]
        );
        assert_eq!(events[2]["id"], json!([0]));
        assert_eq!(events[2]["previousEventId"], json!(0));
        assert_eq!(events[2]["stateEnteredEventDetails"]["name"], json!("A"));
        assert_eq!(events[3]["stateEnteredEventDetails"]["name"], json!("B"));
        assert_eq!(events[5]["id"], json!(7));
    }

    #[test]
    fn references_and_dumps() {
        let steps = vec![
            json!({"op": "parse_json_strings"}),
            json!({"op": "regex", "pattern": "us-east-1", "replacement": "<region>"}),
            json!({"op": "uuid_reference", "name": "uuid"}),
            json!({"op": "regex", "pattern": PATTERN_ISO8601, "replacement": "date"}),
            json!({"op": "timestamp_key_set", "value": "timestamp"}),
        ];
        let raw = vec![json!({
            "timestamp": 1.5, "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
            "executionStartedEventDetails": {"input": "{\"requestId\": \"0b3a8d4e-1111-2222-3333-444455556666\", \"b\": \"é us-east-1\", \"when\": \"2024-01-02T03:04:05.123Z\", \"TimestampValue\": 5, \"x\": {\"OtherId\": \"0b3a8d4e-1111-2222-3333-444455556666\"}}", "inputDetails": {"truncated": false}}
        })];
        let out = normalise_history(&steps, &raw).unwrap();
        assert_eq!(
            out[0],
            json!({"executionStartedEventDetails": {"input": {"requestId": "<uuid:1>", "b": "é <region>", "when": "date", "TimestampValue": "timestamp", "x": {"OtherId": "<uuid:1>"}}, "inputDetails": {"truncated": false}}, "id": 1, "previousEventId": 0, "timestamp": "timestamp", "type": "ExecutionStarted"})
        );
    }

    #[test]
    fn python_replacement_templates() {
        assert_eq!(python_repl_to_rust(r"a\1b$c\g<x>"), "a${1}b$$c${x}");
    }

    #[test]
    fn cause_json_input() {
        let steps = vec![json!({"op": "cause_json_input_reference", "name": "json-input"})];
        let raw = vec![
            json!({"id": 1, "type": "ExecutionFailed", "executionFailedEventDetails": {"cause": "An error occurred while executing the state 'X'. The JSONPath '$.y' could not be found in the input '{\"a\": 1}'", "error": "States.Runtime"}}),
        ];
        let out = normalise_history(&steps, &raw).unwrap();
        assert_eq!(
            out[0]["executionFailedEventDetails"]["cause"],
            json!(
                "An error occurred while executing the state 'X'. The JSONPath '$.y' could not be found in the input '<json-input:1>'"
            )
        );
    }
}
