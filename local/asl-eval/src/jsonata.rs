//! JSONata evaluation through `jsonata-rs`, with the Step Functions functions
//! (`$partition`, `$range`, `$hash`, `$parse`) added and AWS's error wording.

use std::collections::HashMap;

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, FunctionContext, JsonAta, Value as JValue};
use serde_json::{Map, Value};

use crate::json::number_from_f64;
use crate::{EvalError, JsonataScope};

type JResult<'a> = Result<&'a JValue<'a>, jsonata_rs::Error>;

fn to_j<'a>(arena: &'a Bump, v: &Value) -> &'a JValue<'a> {
    match v {
        Value::Null => JValue::null(arena),
        Value::Bool(b) => JValue::bool(*b),
        Value::Number(n) => JValue::number(arena, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JValue::string(arena, s),
        Value::Array(a) => {
            let arr = JValue::array_with_capacity(arena, a.len(), ArrayFlags::empty());
            for x in a {
                arr.push(to_j(arena, x));
            }
            arr
        }
        Value::Object(o) => {
            let obj = JValue::object_with_capacity(arena, o.len());
            for (k, x) in o {
                obj.insert(k, to_j(arena, x));
            }
            obj
        }
    }
}

/// Result of converting back: `None` for undefined, `Err(())` for functions.
fn from_j<'a>(v: &'a JValue<'a>, order: &HashMap<String, usize>) -> Result<Option<Value>, ()> {
    Ok(Some(match v {
        JValue::Undefined => return Ok(None),
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => number_from_f64(*n),
        JValue::String(s) => Value::String(s.to_string()),
        JValue::Array(..) | JValue::Range(..) => {
            let mut out = Vec::new();
            for m in v.members() {
                if let Some(x) = from_j(m, order)? {
                    out.push(x);
                }
            }
            if v.has_flags(ArrayFlags::SEQUENCE)
                && out.len() == 1
                && !v.has_flags(ArrayFlags::SINGLETON)
            {
                return Ok(out.pop());
            }
            Value::Array(out)
        }
        JValue::Object(_) => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for (k, x) in v.entries() {
                if let Some(x) = from_j(x, order)? {
                    entries.push((k.to_string(), x));
                }
            }
            // jsonata-rs objects are hash maps: restore the order the keys had in the
            // expression text and in the bound data.
            entries.sort_by(|(a, _), (b, _)| {
                let ra = order.get(a).copied().unwrap_or(usize::MAX);
                let rb = order.get(b).copied().unwrap_or(usize::MAX);
                ra.cmp(&rb).then_with(|| a.cmp(b))
            });
            Value::Object(entries.into_iter().collect::<Map<_, _>>())
        }
        JValue::Regex(_)
        | JValue::Lambda { .. }
        | JValue::NativeFn { .. }
        | JValue::Transformer { .. } => {
            return Err(());
        }
    }))
}

/// Whether `$name` occurs in `expr` (followed by a non-name character).
fn mentions(expr: &str, name: &str) -> bool {
    expr.match_indices('$').any(|(i, _)| {
        let rest = &expr[i + 1..];
        rest.starts_with(name)
            && !rest[name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn key_order(expr: &str, scope: &JsonataScope, uses_states: bool) -> HashMap<String, usize> {
    let mut order = HashMap::new();
    // object-constructor keys in the expression text: "key": / 'key':
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' || b[i] == b'\'' {
            let q = b[i];
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != q {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            let mut k = j + 1;
            while k < b.len() && b[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < b.len() && b[k] == b':' && j <= b.len() {
                let key = &expr[start..j.min(b.len())];
                let n = order.len();
                order.entry(key.to_string()).or_insert(n);
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    fn walk(v: &Value, order: &mut HashMap<String, usize>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    let n = order.len();
                    order.entry(k.clone()).or_insert(n);
                    walk(x, order);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, order)),
            _ => {}
        }
    }
    if uses_states {
        walk(scope.states, &mut order);
    }
    for (k, v) in scope.variables {
        if mentions(expr, k) {
            walk(v, &mut order);
        }
    }
    order
}

fn custom_err(msg: impl Into<String>) -> jsonata_rs::Error {
    jsonata_rs::Error::D3137Error(msg.into())
}

fn fn_partition<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (Some(arr), Some(size)) = (args.first(), args.get(1)) else {
        return Err(custom_err("$partition requires 2 arguments"));
    };
    if !arr.is_array() || !size.is_number() {
        return Err(custom_err(
            "$partition expects an array and a positive integer",
        ));
    }
    let n = size.as_f64();
    if n <= 0.0 || n.fract() != 0.0 {
        return Err(custom_err("The chunk size must be a positive integer"));
    }
    let n = n as usize;
    let members: Vec<&'a JValue<'a>> = arr.members().collect();
    let out =
        JValue::array_with_capacity(ctx.arena, members.len().div_ceil(n), ArrayFlags::empty());
    for chunk in members.chunks(n) {
        let c = JValue::array_with_capacity(ctx.arena, chunk.len(), ArrayFlags::empty());
        for m in chunk {
            c.push(m);
        }
        out.push(c);
    }
    Ok(out)
}

fn fn_range<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    if args.len() != 3 || !args.iter().all(|a| a.is_number()) {
        return Err(custom_err("$range expects three integer arguments"));
    }
    let f: Vec<f64> = args.iter().map(|a| a.as_f64()).collect();
    if f.iter().any(|x| x.fract() != 0.0) {
        return Err(custom_err("$range expects three integer arguments"));
    }
    let v = crate::intrinsic::range(f[0] as i64, f[1] as i64, f[2] as i64).map_err(custom_err)?;
    let items = v.as_array().cloned().unwrap_or_default();
    let out = JValue::array_with_capacity(ctx.arena, items.len(), ArrayFlags::SEQUENCE);
    for x in &items {
        out.push(to_j(ctx.arena, x));
    }
    Ok(out)
}

fn fn_hash<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (Some(data), Some(alg)) = (args.first(), args.get(1)) else {
        return Err(custom_err("$hash requires 2 arguments"));
    };
    if !data.is_string() || !alg.is_string() {
        return Err(custom_err("$hash expects a string and an algorithm name"));
    }
    let h = crate::intrinsic::hash(&data.as_str(), &alg.as_str()).map_err(custom_err)?;
    Ok(JValue::string(ctx.arena, &h))
}

fn fn_parse<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let Some(s) = args.first() else {
        return Err(custom_err("$parse requires 1 argument"));
    };
    if !s.is_string() {
        return Err(custom_err("$parse expects a string"));
    }
    let v: Value = serde_json::from_str(&s.as_str())
        .map_err(|e| custom_err(format!("Unable to parse the JSON string: {e}")))?;
    Ok(to_j(ctx.arena, &crate::intrinsic::normalize_number(v)))
}

// ---------------------------------------------------------------------------------------------
// Non-determinism through `Entropy`.
//
// jsonata-rs binds its own `$uuid`, `$random`, `$now` and `$millis` after the caller's
// functions on every evaluation, so they cannot be replaced by registering ours. Instead the
// expression text is rewritten (outside string literals, quoted names and comments) to call
// `$__cordonUuid`/`$__cordonRandom`/`$__cordonMillis`, whose values come from a per-evaluation
// supply drawn from `Entropy` beforehand. Native functions are plain `fn` pointers, so the
// supply lives in a thread-local for the (synchronous) duration of one evaluation. If an
// evaluation calls a function more often than the supply holds (e.g. inside `$map`), it is
// evaluated again with a larger supply; evaluation is otherwise pure, so the rerun is
// identical up to the point where the first run ran short.

const UUID_FN: &str = "__cordonUuid";
const RANDOM_FN: &str = "__cordonRandom";
const MILLIS_FN: &str = "__cordonMillis";

#[derive(Default)]
struct Supply {
    uuids: Vec<String>,
    uuid_pos: usize,
    randoms: Vec<f64>,
    random_pos: usize,
    millis: i64,
    short_uuid: usize,
    short_random: usize,
}

thread_local! {
    static SUPPLY: std::cell::RefCell<Option<Supply>> = const { std::cell::RefCell::new(None) };
}

/// Clears the thread-local supply when an evaluation ends, even by panic.
struct SupplyGuard;
impl Drop for SupplyGuard {
    fn drop(&mut self) {
        SUPPLY.with(|s| s.borrow_mut().take());
    }
}

fn fn_cordon_uuid<'a>(ctx: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    let u = SUPPLY.with(|s| {
        let mut s = s.borrow_mut();
        let s = s.as_mut()?;
        match s.uuids.get(s.uuid_pos).cloned() {
            Some(u) => {
                s.uuid_pos += 1;
                Some(u)
            }
            None => {
                s.short_uuid += 1;
                None
            }
        }
    });
    let u = u.unwrap_or_else(|| "00000000-0000-4000-8000-000000000000".to_string());
    Ok(JValue::string(ctx.arena, &u))
}

fn fn_cordon_random<'a>(ctx: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    let r = SUPPLY.with(|s| {
        let mut s = s.borrow_mut();
        let s = s.as_mut()?;
        match s.randoms.get(s.random_pos).copied() {
            Some(r) => {
                s.random_pos += 1;
                Some(r)
            }
            None => {
                s.short_random += 1;
                None
            }
        }
    });
    Ok(JValue::number(ctx.arena, r.unwrap_or(0.0)))
}

fn fn_cordon_millis<'a>(ctx: FunctionContext<'a, '_>, _args: &[&'a JValue<'a>]) -> JResult<'a> {
    let m = SUPPLY.with(|s| s.borrow().as_ref().map(|s| s.millis).unwrap_or(0));
    Ok(JValue::number(ctx.arena, m as f64))
}

/// A uniformly random double in `[0, 1)` from 64 random bits.
pub(crate) fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// What a rewritten expression draws from `Entropy`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Needs {
    pub uuid: usize,
    pub random: usize,
    pub clock: bool,
}

/// Rewrites `$uuid`, `$random` (and, when `clock`, `$now(...)`/`$millis`) to the journaled
/// functions. Returns `None` when the expression uses none of them.
pub(crate) fn rewrite(expr: &str, clock: bool) -> Option<(String, Needs)> {
    if !expr.contains("$uuid")
        && !expr.contains("$random")
        && !(clock && (expr.contains("$now") || expr.contains("$millis")))
    {
        return None;
    }
    let b = expr.as_bytes();
    let mut out = String::with_capacity(expr.len() + 32);
    let mut needs = Needs::default();
    let mut i = 0;
    let mut copied = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'$' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && ident(b[end]) {
                    end += 1;
                }
                let name = &expr[start..end];
                let replacement: Option<(String, usize)> = match name {
                    "uuid" => {
                        needs.uuid += 1;
                        Some((format!("${UUID_FN}"), end))
                    }
                    "random" => {
                        needs.random += 1;
                        Some((format!("${RANDOM_FN}"), end))
                    }
                    "millis" if clock => {
                        needs.clock = true;
                        Some((format!("${MILLIS_FN}"), end))
                    }
                    "now" if clock => {
                        // `$now()` -> `$fromMillis($__cordonMillis())`,
                        // `$now(p, tz)` -> `$fromMillis($__cordonMillis(), p, tz)`
                        let mut k = end;
                        while k < b.len() && b[k].is_ascii_whitespace() {
                            k += 1;
                        }
                        if b.get(k) == Some(&b'(') {
                            needs.clock = true;
                            let mut m = k + 1;
                            while m < b.len() && b[m].is_ascii_whitespace() {
                                m += 1;
                            }
                            if b.get(m) == Some(&b')') {
                                Some((format!("$fromMillis(${MILLIS_FN}()"), m))
                            } else {
                                Some((format!("$fromMillis(${MILLIS_FN}(), "), k + 1))
                            }
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if let Some((r, resume)) = replacement {
                    out.push_str(&expr[copied..i]);
                    out.push_str(&r);
                    copied = resume;
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&expr[copied.min(expr.len())..]);
    Some((out, needs))
}

fn describe(expr: &str, field: &str) -> String {
    if field.is_empty() {
        format!("The JSONata expression '{expr}'")
    } else {
        format!("The JSONata expression '{expr}' specified for the field '{field}'")
    }
}

/// The message of a jsonata-rs error without its position prefix: jsonata-rs words messages
/// "T1006 @ 12: message" or "12: message".
fn bare_message(e: &jsonata_rs::Error) -> String {
    let code = e.code().to_string();
    let text = e.to_string();
    match text.split_once(": ") {
        Some((head, m))
            if head.chars().all(|c| c.is_ascii_digit())
                || (head.starts_with(code.as_str()) && head.contains(" @ ")) =>
        {
            m.to_string()
        }
        _ => text.clone(),
    }
}

fn eval_error(expr: &str, field: &str, e: &jsonata_rs::Error) -> EvalError {
    let code = e.code().to_string();
    let msg = bare_message(e);
    EvalError::new(
        "States.QueryEvaluationError",
        format!(
            "{} threw an error during evaluation. {code}: {msg}",
            describe(expr, field)
        ),
    )
}

/// Parses one expression (without evaluating it). The error is the parser's message without
/// its code and position, as AWS reports it at `CreateStateMachine`
/// (`Unexpected end of expression`).
pub fn check_syntax(expr: &str) -> Result<(), String> {
    let expr = strip(expr).unwrap_or(expr);
    // jsonata-rs panics on syntax it does not implement yet (the parent operator `%`): that is
    // valid JSONata, so it is not refused here.
    let parsed = std::panic::catch_unwind(|| {
        let arena = Bump::new();
        JsonAta::new(expr, &arena)
            .map(|_| ())
            .map_err(|e| bare_message(&e))
    });
    let Ok(parsed) = parsed else { return Ok(()) };
    parsed.map_err(|m| {
        // jsonata-rs quotes tokens with backticks and names the end of input `(end)`; JSONata
        // (and AWS) write `Expected "]", got ","` and `Unexpected end of expression`.
        if m.contains("`(end)`") {
            "Unexpected end of expression".to_string()
        } else {
            m.replace('`', "\"")
        }
    })
}

/// Evaluates one expression; `field` names the ASL field for AWS's error wording (may be empty).
///
/// jsonata-rs panics on syntax it does not implement (the parent operator `%`): that becomes a
/// `States.QueryEvaluationError` naming the expression, so the execution fails where it would
/// otherwise have lost the task running it and stayed `RUNNING` for ever.
pub fn evaluate(expr: &str, scope: &JsonataScope, field: &str) -> Result<Value, EvalError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        evaluate_unguarded(expr, scope, field)
    }))
    .unwrap_or_else(|_| {
        let expr = strip(expr).unwrap_or(expr);
        Err(EvalError::new(
            "States.QueryEvaluationError",
            format!(
                "The JSONata expression '{}' specified for the field '{field}' uses syntax this engine cannot evaluate (such as the parent operator '%'); AWS may evaluate it.",
                bounded(expr)
            ),
        ))
    })
}

/// An expression as an error message quotes it: at most 200 characters.
fn bounded(expr: &str) -> String {
    match expr.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &expr[..i]),
        None => expr.to_string(),
    }
}

fn evaluate_unguarded(expr: &str, scope: &JsonataScope, field: &str) -> Result<Value, EvalError> {
    // Callers may hand over the field's raw string `{% expr %}`; AWS names the bare expression.
    let expr = strip(expr).unwrap_or(expr);
    let clock = scope.entropy.now_millis();
    let rewritten = rewrite(expr, clock.is_some());
    let arena = Bump::new();
    let src = rewritten.as_ref().map_or(expr, |(s, _)| s.as_str());
    let ja = JsonAta::new(src, &arena).map_err(|e| eval_error(expr, field, &e))?;
    ja.register_function("partition", 2, fn_partition);
    ja.register_function("range", 3, fn_range);
    ja.register_function("hash", 2, fn_hash);
    ja.register_function("parse", 1, fn_parse);
    // Only what the expression can name is converted (the input may be large): `$states`
    // and the variables whose `$name` appears in the text.
    let uses_states = mentions(expr, "states");
    if uses_states {
        ja.assign_var("states", to_j(&arena, scope.states));
    }
    for (k, v) in scope.variables {
        if mentions(expr, k) {
            ja.assign_var(k, to_j(&arena, v));
        }
    }
    let r = match rewritten {
        None => ja.evaluate_timeboxed(None, Some(1000), Some(10_000)),
        Some((_, needs)) => {
            ja.register_function(UUID_FN, 0, fn_cordon_uuid);
            ja.register_function(RANDOM_FN, 0, fn_cordon_random);
            ja.register_function(MILLIS_FN, 0, fn_cordon_millis);
            let mut uuids: Vec<String> = (0..needs.uuid).map(|_| scope.entropy.uuid()).collect();
            let mut randoms: Vec<f64> = (0..needs.random)
                .map(|_| unit_f64(scope.entropy.next_u64()))
                .collect();
            let millis = if needs.clock { clock.unwrap_or(0) } else { 0 };
            let _guard = SupplyGuard;
            let mut attempt = 0;
            loop {
                SUPPLY.with(|s| {
                    *s.borrow_mut() = Some(Supply {
                        uuids: std::mem::take(&mut uuids),
                        randoms: std::mem::take(&mut randoms),
                        millis,
                        ..Supply::default()
                    })
                });
                let r = ja.evaluate_timeboxed(None, Some(1000), Some(10_000));
                let sup = SUPPLY.with(|s| s.borrow_mut().take()).unwrap_or_default();
                uuids = sup.uuids;
                randoms = sup.randoms;
                attempt += 1;
                if (sup.short_uuid == 0 && sup.short_random == 0) || attempt >= 16 {
                    break r;
                }
                // ran short (a call inside a loop): draw what was missing, evaluate again
                uuids.extend((0..sup.short_uuid).map(|_| scope.entropy.uuid()));
                randoms.extend((0..sup.short_random).map(|_| unit_f64(scope.entropy.next_u64())));
            }
        }
    }
    .map_err(|e| eval_error(expr, field, &e))?;
    let order = key_order(expr, scope, uses_states);
    match from_j(r, &order) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(EvalError::new(
            "States.QueryEvaluationError",
            format!("{} returned nothing (undefined).", describe(expr, field)),
        )),
        Err(()) => Err(EvalError::new(
            "States.QueryEvaluationError",
            format!(
                "{} returned an unsupported result type.",
                describe(expr, field)
            ),
        )),
    }
}

/// The expression inside `{% ... %}`.
pub fn strip(s: &str) -> Option<&str> {
    s.strip_prefix("{%")
        .and_then(|r| r.strip_suffix("%}"))
        .map(str::trim)
}

pub fn template(value: &Value, scope: &JsonataScope, field: &str) -> Result<Value, EvalError> {
    match value {
        Value::String(s) => match strip(s) {
            Some(expr) => evaluate(expr, scope, field),
            None => Ok(value.clone()),
        },
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                let f = if field.is_empty() {
                    k.clone()
                } else {
                    format!("{field}/{k}")
                };
                out.insert(k.clone(), template(v, scope, &f)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, v) in a.iter().enumerate() {
                out.push(template(v, scope, &format!("{field}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}
