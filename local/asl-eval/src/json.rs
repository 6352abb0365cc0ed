//! JSON helpers: comparisons and the textual conventions Step Functions uses.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Compact JSON text (`{"a":1}`), as AWS serialises values inside error causes and
/// `States.JsonToString`.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Numeric comparison of two JSON numbers (exact for integers).
pub fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                return Some(i.cmp(&j));
            }
            if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                return Some(i.cmp(&j));
            }
            as_f64(a)?.partial_cmp(&as_f64(b)?)
        }
        _ => None,
    }
}

/// Deep equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => num_cmp(a, b) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON number from an `f64`, kept an integer when it is integral (as AWS prints them).
pub fn number_from_f64(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Java `toString` of a value as produced by `States.Format` for non-string arguments:
/// maps as `{k=v, k2=v2}`, lists as `[a, b]`, strings unquoted.
pub fn java_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(java_string).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", java_string(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// JSON type name as AWS words it in messages (`array`, `boolean`, `number`...).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
