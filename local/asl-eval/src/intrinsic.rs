//! `States.*` intrinsic functions (JSONPath mode).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::json::{compact, java_string, json_eq};
use crate::{EvalError, Scope};

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string literal; `\{` / `\}` escapes are kept so `States.Format` can tell them apart.
    Str(String),
    Lit(Value),
    Path(String),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

const FUNCTIONS: &[(&str, usize, Option<usize>)] = &[
    ("States.Format", 1, None),
    ("States.StringToJson", 1, Some(1)),
    ("States.JsonToString", 1, Some(1)),
    ("States.Array", 0, None),
    ("States.ArrayPartition", 2, Some(2)),
    ("States.ArrayContains", 2, Some(2)),
    ("States.ArrayRange", 3, Some(3)),
    ("States.ArrayGetItem", 2, Some(2)),
    ("States.ArrayLength", 1, Some(1)),
    ("States.ArrayUnique", 1, Some(1)),
    ("States.Base64Encode", 1, Some(1)),
    ("States.Base64Decode", 1, Some(1)),
    ("States.Hash", 2, Some(2)),
    ("States.JsonMerge", 3, Some(3)),
    ("States.MathRandom", 2, Some(3)),
    ("States.MathAdd", 2, Some(2)),
    ("States.StringSplit", 2, Some(2)),
    ("States.UUID", 0, Some(0)),
];

struct Parser<'a> {
    src: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.i..]
    }
    fn ws(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n', '\r']) {
            self.i += 1;
        }
    }
    fn err(&self, msg: &str) -> String {
        format!("{msg} at position {} in '{}'", self.i, self.src)
    }
    fn call(&mut self) -> Result<Call, String> {
        self.ws();
        let start = self.i;
        while self
            .rest()
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.')
        {
            self.i += 1;
        }
        let name = self.src[start..self.i].to_string();
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!(
                "Unsupported intrinsic function '{name}' in '{}'",
                self.src
            ));
        };
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(self.err("expected '('"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.ws();
                if self.rest().starts_with(',') {
                    self.i += 1;
                } else if self.rest().starts_with(')') {
                    self.i += 1;
                    break;
                } else {
                    return Err(self.err("expected ',' or ')'"));
                }
            }
        }
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            return Err(format!(
                "The function {name} takes {} argument(s) but {} were given in '{}'",
                match max {
                    Some(m) if m == min => m.to_string(),
                    Some(m) => format!("{min} to {m}"),
                    None => format!("at least {min}"),
                },
                args.len(),
                self.src
            ));
        }
        Ok(Call { name, args })
    }
    fn arg(&mut self) -> Result<Arg, String> {
        self.ws();
        let r = self.rest();
        if r.starts_with('\'') {
            self.i += 1;
            let mut out = String::new();
            loop {
                let c = self
                    .rest()
                    .chars()
                    .next()
                    .ok_or_else(|| self.err("unterminated string"))?;
                self.i += c.len_utf8();
                match c {
                    '\'' => return Ok(Arg::Str(out)),
                    '\\' => {
                        let n = self
                            .rest()
                            .chars()
                            .next()
                            .ok_or_else(|| self.err("bad escape"))?;
                        self.i += n.len_utf8();
                        // Only `\'`, `\{`, `\}` and `\\` are escapes in an intrinsic's
                        // string literal; AWS refuses anything else (e.g. `\"`) at creation.
                        match n {
                            '{' | '}' => {
                                out.push('\\');
                                out.push(n);
                            }
                            '\\' => out.push_str("\\\\"),
                            '\'' => out.push('\''),
                            o => {
                                return Err(format!(
                                    "Invalid escape sequence '\\{o}' in a string literal in '{}'",
                                    self.src
                                ));
                            }
                        }
                    }
                    o => out.push(o),
                }
            }
        }
        if r.starts_with("States.") {
            return Ok(Arg::Call(self.call()?));
        }
        if r.starts_with('$') {
            // a path ends at ',' or ')' outside brackets/quotes
            let start = self.i;
            let mut depth = 0i32;
            let mut quote: Option<char> = None;
            while let Some(c) = self.rest().chars().next() {
                if let Some(q) = quote {
                    if c == q {
                        quote = None;
                    }
                } else {
                    match c {
                        '\'' | '"' => quote = Some(c),
                        '[' | '(' => depth += 1,
                        ']' => depth -= 1,
                        ')' if depth == 0 => break,
                        ')' => depth -= 1,
                        ',' if depth == 0 => break,
                        _ => {}
                    }
                }
                self.i += c.len_utf8();
            }
            return Ok(Arg::Path(self.src[start..self.i].trim().to_string()));
        }
        let start = self.i;
        while self
            .rest()
            .starts_with(|c: char| !matches!(c, ',' | ')' | ' '))
        {
            self.i += 1;
        }
        let tok = &self.src[start..self.i];
        match serde_json::from_str::<Value>(tok) {
            Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => Ok(Arg::Lit(v)),
            _ => Err(format!("Invalid argument '{tok}' in '{}'", self.src)),
        }
    }
}

pub fn parse(expr: &str) -> Result<Call, String> {
    let mut p = Parser { src: expr, i: 0 };
    let c = p.call()?;
    p.ws();
    if p.i != expr.len() {
        return Err(p.err("unexpected trailing characters"));
    }
    Ok(c)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn fail(expr: &str, msg: impl std::fmt::Display) -> EvalError {
    EvalError::new(
        "States.IntrinsicFailure",
        format!("The function '{expr}' had the following error: {msg}"),
    )
}

fn eval_arg(a: &Arg, scope: &Scope, expr: &str) -> Result<Value, EvalError> {
    match a {
        Arg::Str(s) => Ok(Value::String(unescape(s))),
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Path(p) => crate::query(p, scope, expr),
        Arg::Call(c) => eval_call(c, scope, expr),
    }
}

fn int_arg(v: &Value, what: &str, expr: &str) -> Result<i64, EvalError> {
    match v.as_f64() {
        Some(f) if v.is_i64() || v.is_u64() => Ok(f as i64),
        Some(f) if f.fract() == 0.0 => Ok(f as i64),
        _ => Err(fail(
            expr,
            format!(
                "The value of {what} must be an integer, but was {}",
                compact(v)
            ),
        )),
    }
}

/// Java `Math.round`: half up towards positive infinity.
fn java_round(f: f64) -> i64 {
    (f + 0.5).floor() as i64
}

fn str_arg<'v>(v: &'v Value, pos: &str, expr: &str) -> Result<&'v str, EvalError> {
    v.as_str().ok_or_else(|| {
        fail(
            expr,
            format!(
                "The {pos} argument must be a string, but was {}",
                compact(v)
            ),
        )
    })
}

fn arr_arg<'v>(v: &'v Value, pos: &str, expr: &str) -> Result<&'v Vec<Value>, EvalError> {
    v.as_array().ok_or_else(|| {
        fail(
            expr,
            format!(
                "The {pos} argument must be an array, but was {}",
                compact(v)
            ),
        )
    })
}

pub fn eval_call(c: &Call, scope: &Scope, expr: &str) -> Result<Value, EvalError> {
    if c.name == "States.Format" {
        let Arg::Str(template) = &c.args[0] else {
            let t = eval_arg(&c.args[0], scope, expr)?;
            let t = str_arg(&t, "first", expr)?.to_string();
            return format(&t, &c.args[1..], scope, expr);
        };
        return format(template, &c.args[1..], scope, expr);
    }
    let args: Vec<Value> = c
        .args
        .iter()
        .map(|a| eval_arg(a, scope, expr))
        .collect::<Result<_, _>>()?;
    call_fn(&c.name, &args, scope, expr)
}

fn format(template: &str, rest: &[Arg], scope: &Scope, expr: &str) -> Result<Value, EvalError> {
    let args: Vec<Value> = rest
        .iter()
        .map(|a| eval_arg(a, scope, expr))
        .collect::<Result<_, _>>()?;
    let mut out = String::new();
    let mut it = template.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(x) = it.next() {
                    out.push(x);
                }
            }
            '{' if it.peek() == Some(&'}') => {
                it.next();
                let v = args.get(n).ok_or_else(|| {
                    fail(
                        expr,
                        "The number of arguments does not match the number of placeholders",
                    )
                })?;
                out.push_str(&java_string(v));
                n += 1;
            }
            o => out.push(o),
        }
    }
    if n != args.len() {
        return Err(fail(
            expr,
            "The number of arguments does not match the number of placeholders",
        ));
    }
    Ok(Value::String(out))
}

fn call_fn(name: &str, a: &[Value], scope: &Scope, expr: &str) -> Result<Value, EvalError> {
    Ok(match name {
        "States.StringToJson" => {
            let s = str_arg(&a[0], "first", expr)?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            let v: Value = serde_json::from_str(s)
                .map_err(|_| fail(expr, format!("The input '{s}' is not a valid JSON string")))?;
            normalize_number(v)
        }
        "States.JsonToString" => Value::String(compact(&a[0])),
        "States.Array" => Value::Array(a.to_vec()),
        "States.ArrayPartition" => {
            let arr = arr_arg(&a[0], "first", expr)?;
            let size = int_arg(&a[1], "the chunk size", expr)?;
            if size <= 0 {
                return Err(fail(
                    expr,
                    format!("Chunk size must be greater than 0, but was {size}"),
                ));
            }
            Value::Array(
                arr.chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        "States.ArrayContains" => {
            let arr = arr_arg(&a[0], "first", expr)?;
            Value::Bool(arr.iter().any(|x| json_eq(x, &a[1])))
        }
        "States.ArrayRange" => {
            let start = int_arg(&a[0], "the first argument", expr)?;
            let end = int_arg(&a[1], "the second argument", expr)?;
            let step = int_arg(&a[2], "the step", expr)?;
            range(start, end, step).map_err(|m| fail(expr, m))?
        }
        "States.ArrayGetItem" => {
            let arr = arr_arg(&a[0], "first", expr)?;
            let idx = int_arg(&a[1], "the index", expr)?;
            if idx < 0 || idx as usize >= arr.len() {
                return Err(fail(
                    expr,
                    format!(
                        "The index {idx} is out of bounds for an array of length {}",
                        arr.len()
                    ),
                ));
            }
            arr[idx as usize].clone()
        }
        "States.ArrayLength" => Value::from(arr_arg(&a[0], "first", expr)?.len()),
        "States.ArrayUnique" => {
            let arr = arr_arg(&a[0], "first", expr)?;
            let mut out: Vec<Value> = Vec::new();
            for v in arr {
                if !out.iter().any(|x| json_eq(x, v)) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        "States.Base64Encode" => {
            let s = str_arg(&a[0], "first", expr)?;
            if s.chars().count() > 10000 {
                return Err(fail(
                    expr,
                    "The input string exceeds the maximum length of 10000 characters",
                ));
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
        }
        "States.Base64Decode" => {
            let s = str_arg(&a[0], "first", expr)?;
            if s.chars().count() > 10000 {
                return Err(fail(
                    expr,
                    "The input string exceeds the maximum length of 10000 characters",
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| {
                    fail(
                        expr,
                        format!("The input '{s}' is not a valid base64 string"),
                    )
                })?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        "States.Hash" => {
            let data = match &a[0] {
                Value::String(s) => s.clone(),
                other => compact(other),
            };
            // Documented: "The data you provide must be an object string containing 10,000
            // characters or less."
            let n = data.chars().count();
            if n > HASH_MAX_CHARS {
                return Err(EvalError::runtime(format!(
                    "The function '{expr}' had the following error: The input data must contain {HASH_MAX_CHARS} characters or less, but has {n} characters"
                )));
            }
            let alg = str_arg(&a[1], "second", expr)?;
            Value::String(hash(&data, alg).map_err(|m| fail(expr, m))?)
        }
        "States.JsonMerge" => {
            let (Value::Object(l), Value::Object(r)) = (&a[0], &a[1]) else {
                return Err(fail(
                    expr,
                    "The first and second arguments must be JSON objects",
                ));
            };
            if a[2] != Value::Bool(false) {
                return Err(fail(
                    expr,
                    "Deep merge is not supported: the third argument must be false",
                ));
            }
            let mut out: Map<String, Value> = l.clone();
            for (k, v) in r {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        "States.MathRandom" => {
            let (Some(s), Some(e)) = (a[0].as_f64(), a[1].as_f64()) else {
                return Err(fail(expr, "The start and end arguments must be numbers"));
            };
            let (s, e) = (s as i64, e as i64);
            if e <= s {
                return Err(fail(
                    expr,
                    "The end argument must be greater than the start argument",
                ));
            }
            let span = (e - s) as u64;
            let r = match a.get(2) {
                // "If you use this function with the same seed value, it returns an identical
                // number": a seeded call draws nothing from the entropy source.
                Some(seed) => {
                    let Some(seed) = seed.as_f64().filter(|f| f.is_finite()) else {
                        return Err(fail(
                            expr,
                            format!(
                                "The seed argument must be a number, but was {}",
                                compact(seed)
                            ),
                        ));
                    };
                    seeded_below(seed as i64, span)
                }
                None => scope.entropy.next_u64() % span,
            };
            Value::from(s + r as i64)
        }
        "States.MathAdd" => {
            let (Some(x), Some(y)) = (a[0].as_f64(), a[1].as_f64()) else {
                return Err(fail(expr, "The arguments must be numbers"));
            };
            Value::from(java_round(x) + java_round(y))
        }
        "States.StringSplit" => {
            let s = str_arg(&a[0], "first", expr)?;
            let d = str_arg(&a[1], "second", expr)?;
            let parts: Vec<Value> = s
                .split(|c: char| d.contains(c))
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_string()))
                .collect();
            Value::Array(parts)
        }
        "States.UUID" => Value::String(scope.entropy.uuid()),
        other => return Err(fail(expr, format!("Unsupported function {other}"))),
    })
}

/// `States.Hash` refuses longer input.
const HASH_MAX_CHARS: usize = 10_000;

/// A number in `[0, bound)` determined by `seed` alone: `java.util.Random(seed).nextInt(bound)`
/// (the generator a JVM service seeds), with a 64-bit draw when `bound` exceeds `i32`.
pub fn seeded_below(seed: i64, bound: u64) -> u64 {
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut state = (seed ^ MULT) & MASK;
    let mut next = |bits: u32| -> i32 {
        state = state.wrapping_mul(MULT).wrapping_add(0xB) & MASK;
        (state >> (48 - bits)) as i32
    };
    if bound == 0 {
        return 0;
    }
    if bound > i32::MAX as u64 {
        let hi = next(32) as u32 as u64;
        let lo = next(32) as u32 as u64;
        return ((hi << 32) | lo) % bound;
    }
    let bound = bound as i32;
    if bound & bound.wrapping_neg() == bound {
        return ((bound as i64 * next(31) as i64) >> 31) as u64;
    }
    loop {
        let bits = next(31);
        let val = bits % bound;
        if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
            return val as u64;
        }
    }
}

/// Integers stay integers; `-0` becomes `0`.
pub fn normalize_number(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f == 0.0 {
                Value::from(0)
            } else {
                Value::Number(n)
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalize_number).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, normalize_number(v)))
                .collect(),
        ),
        o => o,
    }
}

pub fn range(start: i64, end: i64, step: i64) -> Result<Value, String> {
    if step == 0 {
        return Err("The step argument must not be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(Value::from(i));
        if out.len() > 1000 {
            return Err("The array range cannot contain more than 1000 items".into());
        }
        i += step;
    }
    Ok(Value::Array(out))
}

pub fn hash(data: &str, alg: &str) -> Result<String, String> {
    use md5::Digest as _;
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    let d = data.as_bytes();
    Ok(match alg {
        "MD5" => hex(&md5::Md5::digest(d)),
        "SHA-1" => hex(&sha1::Sha1::digest(d)),
        "SHA-256" => hex(&sha2::Sha256::digest(d)),
        "SHA-384" => hex(&sha2::Sha384::digest(d)),
        "SHA-512" => hex(&sha2::Sha512::digest(d)),
        other => {
            return Err(format!(
                "The hash algorithm '{other}' is not supported. Supported algorithms are: MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ));
        }
    })
}
