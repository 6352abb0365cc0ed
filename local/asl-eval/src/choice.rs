//! JSONPath-mode Choice rules.

use std::cmp::Ordering;

use serde_json::Value;

use crate::json::num_cmp;
use crate::path::{self, Found};
use crate::{EvalError, Scope};

const COMPARATORS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

/// Finds the comparison operator of a rule: `(name without Path, is_path, operand)`.
fn operator(rule: &serde_json::Map<String, Value>) -> Option<(&'static str, bool, &Value)> {
    for (k, v) in rule {
        if let Some(op) = COMPARATORS.iter().find(|c| **c == k) {
            return Some((op, false, v));
        }
        if let Some(base) = k.strip_suffix("Path")
            && let Some(op) = COMPARATORS.iter().find(|c| **c == base)
        {
            return Some((op, true, v));
        }
    }
    None
}

pub fn eval(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    let Some(obj) = rule.as_object() else {
        return Err(EvalError::runtime("A Choice rule must be an object"));
    };
    if let Some(v) = obj.get("And") {
        for r in v.as_array().into_iter().flatten() {
            if !eval(r, scope)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(v) = obj.get("Or") {
        for r in v.as_array().into_iter().flatten() {
            if eval(r, scope)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(v) = obj.get("Not") {
        return Ok(!eval(v, scope)?);
    }
    let Some(var) = obj.get("Variable").and_then(Value::as_str) else {
        return Err(EvalError::runtime(
            "A Choice rule must have a Variable field",
        ));
    };
    let Some((op, is_path, operand)) = operator(obj) else {
        return Err(EvalError::runtime(
            "A Choice rule has no supported comparison operator",
        ));
    };
    let parsed = crate::cache::path(var).map_err(EvalError::runtime)?;
    let found = path::eval(&parsed, scope.input, scope.context, scope.variables);
    let value = match found {
        Found::Value(v) => Some(v),
        Found::Missing => None,
        Found::NoVariable(_) => None,
    };
    if op == "IsPresent" {
        let want = operand.as_bool().unwrap_or(true);
        return Ok(value.is_some() == want);
    }
    let Some(value) = value else {
        return Err(EvalError::runtime(format!(
            "Invalid path '{var}' : No results for path: {}",
            parsed.normalized()
        )));
    };
    let operand = if is_path {
        let p = operand.as_str().unwrap_or_default();
        crate::query(p, scope, &format!("{op}Path"))?
    } else {
        operand.clone()
    };
    Ok(compare(op, &value, &operand))
}

/// Evaluates one comparison; type mismatches are false (as AWS).
pub fn compare(op: &str, v: &Value, o: &Value) -> bool {
    let want = || o.as_bool().unwrap_or(true);
    match op {
        "IsNull" => v.is_null() == want(),
        "IsNumeric" => v.is_number() == want(),
        "IsString" => v.is_string() == want(),
        "IsBoolean" => v.is_boolean() == want(),
        "IsTimestamp" => v.as_str().and_then(parse_timestamp).is_some() == want(),
        "BooleanEquals" => matches!((v, o), (Value::Bool(a), Value::Bool(b)) if a == b),
        "StringMatches" => match (v, o) {
            (Value::String(s), Value::String(p)) => string_matches(s, p),
            _ => false,
        },
        _ => {
            let ord = if op.starts_with("String") {
                match (v, o) {
                    (Value::String(a), Value::String(b)) => Some(utf16_cmp(a, b)),
                    _ => None,
                }
            } else if op.starts_with("Numeric") {
                num_cmp(v, o)
            } else if op.starts_with("Timestamp") {
                match (
                    v.as_str().and_then(parse_timestamp),
                    o.as_str().and_then(parse_timestamp),
                ) {
                    (Some(a), Some(b)) => Some(a.cmp(&b)),
                    _ => None,
                }
            } else {
                None
            };
            let Some(ord) = ord else { return false };
            if op.ends_with("GreaterThanEquals") {
                ord != Ordering::Less
            } else if op.ends_with("LessThanEquals") {
                ord != Ordering::Greater
            } else if op.ends_with("GreaterThan") {
                ord == Ordering::Greater
            } else if op.ends_with("LessThan") {
                ord == Ordering::Less
            } else {
                ord == Ordering::Equal
            }
        }
    }
}

/// Java `String.compareTo` order (UTF-16 code units).
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// RFC 3339 / ISO-8601 extended offset date-time, as AWS accepts for Timestamp comparisons.
pub fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

/// `StringMatches`: `*` matches any run of characters, `\*` a literal star, `\\` a backslash.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum T {
        Lit(char),
        Star,
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(n) => toks.push(T::Lit(n)),
                None => toks.push(T::Lit('\\')),
            },
            '*' => toks.push(T::Star),
            o => toks.push(T::Lit(o)),
        }
    }
    let chars: Vec<char> = s.chars().collect();
    // classic wildcard DP with backtracking
    let (mut si, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while si < chars.len() {
        if pi < toks.len() && toks[pi] == T::Lit(chars[si]) {
            si += 1;
            pi += 1;
        } else if pi < toks.len() && toks[pi] == T::Star {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < toks.len() && toks[pi] == T::Star {
        pi += 1;
    }
    pi == toks.len()
}
