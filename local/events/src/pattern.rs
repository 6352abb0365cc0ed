//! EventBridge event patterns: validation, compilation and matching.
//!
//! Semantics follow the EventBridge documentation ("Amazon EventBridge event patterns",
//! "Content filtering in Amazon EventBridge event patterns") and the behaviour of Event
//! Ruler, the library EventBridge uses:
//!
//! * every leaf of a pattern is a non-empty array of alternatives (OR); fields are ANDed;
//! * an event array matches when any of its (recursively flattened) elements matches;
//! * value matchers only see leaves (strings, numbers, booleans, null): an object value
//!   never matches them and a missing field never matches them;
//! * `exists` asks whether the path reaches a leaf: `null` is a leaf, while an object,
//!   an empty array and an empty object count as absent;
//! * a nested pattern object is matched against each object element of an event array
//!   (two fields must come from the same element); against a non-object value it is
//!   matched against an empty object, so `exists: false` inside it still holds;
//! * `$or` is expanded at compile time into flat alternatives, as EventBridge does; a
//!   `$or` that is not a valid operator is read as an ordinary field name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde_json::{Map, Value};

/// EventBridge's cap on the sub-patterns a `$or` may expand to.
const MAX_OR_COMBINATIONS: usize = 1000;
/// Guard on pattern nesting (not an AWS rule): bounds recursion.
const MAX_DEPTH: usize = 100;
/// Guard on event array nesting followed when flattening.
const MAX_EVENT_ARRAY_DEPTH: usize = 50;

/// Keys that may not be used as field names inside a `$or` branch.
const OR_RESERVED: &[&str] = &[
    "anything-but",
    "prefix",
    "suffix",
    "equals-ignore-case",
    "numeric",
    "exists",
    "cidr",
    "wildcard",
    "exactly",
    "=",
    "<",
    "<=",
    ">",
    ">=",
];

/// A pattern EventBridge would refuse: where (`path`, dotted field names from the
/// pattern root; empty for the root) and why (`message`, EventBridge's wording where known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub path: String,
    pub message: String,
    too_complex: bool,
}

impl PatternError {
    fn new(path: &[String], message: impl Into<String>) -> Self {
        PatternError {
            path: path.join("."),
            message: message.into(),
            too_complex: false,
        }
    }
    fn too_complex(path: &[String], message: impl Into<String>) -> Self {
        PatternError {
            too_complex: true,
            ..PatternError::new(path, message)
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid event pattern: {}", self.message)
        } else {
            write!(
                f,
                "invalid event pattern at `{}`: {}",
                self.path, self.message
            )
        }
    }
}

impl std::error::Error for PatternError {}

/// A compiled EventBridge event pattern. Cheap to clone (leaves are shared).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The `$or`-free alternatives; the pattern matches if any does.
    alternatives: Vec<Obj>,
}

#[derive(Debug, Clone, Default)]
struct Obj {
    fields: Vec<(String, Child)>,
    /// A path constrained both as a leaf and as an object: nothing matches.
    unsatisfiable: bool,
}

#[derive(Debug, Clone)]
enum Child {
    Leaf(Arc<Leaf>),
    Obj(Obj),
}

#[derive(Debug)]
struct Leaf {
    exists_true: bool,
    exists_false: bool,
    /// Whether the list held anything besides `exists`.
    has_value_matchers: bool,
    matchers: Vec<Matcher>,
}

#[derive(Debug)]
enum Matcher {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Prefix(String),
    Suffix(String),
    PrefixIc(IgnoreCase),
    SuffixIc(IgnoreCase),
    EqualsIc(IgnoreCase),
    Wildcard(Glob),
    Numeric(NumericRange),
    Cidr(Cidr),
    AnythingBut(AnythingBut),
}

#[derive(Debug)]
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    EqualsIc(Vec<IgnoreCase>),
    Wildcard(Vec<Glob>),
}

impl Pattern {
    /// Validates and compiles an event pattern. `{}` matches every event.
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        let obj = match pattern {
            Value::Object(o) => o,
            _ => return Err(PatternError::new(&[], "Filter is not an object")),
        };
        if obj.is_empty() {
            return Ok(Pattern {
                alternatives: vec![Obj::default()],
            });
        }
        let product = or_product(obj, 0);
        if product > MAX_OR_COMBINATIONS {
            return Err(PatternError::too_complex(
                &[],
                format!("Event pattern contains more than {MAX_OR_COMBINATIONS} rule combinations"),
            ));
        }
        match compile_alternatives(obj, true) {
            Ok(alts) => Ok(Pattern { alternatives: alts }),
            Err(e) if e.too_complex => Err(e),
            // EventBridge retries without `$or` support: `$or` as a plain field name.
            Err(e) => compile_alternatives(obj, false)
                .map(|alts| Pattern { alternatives: alts })
                .map_err(|_| e),
        }
    }

    /// Parses a pattern given as JSON text (as in `EventPattern` strings).
    pub fn parse_str(text: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError::new(&[], format!("not valid JSON: {e}")))?;
        Pattern::parse(&value)
    }

    /// Whether `event` matches this pattern.
    pub fn matches(&self, event: &Value) -> bool {
        let root = event.as_object();
        self.alternatives.iter().any(|alt| match_obj(alt, root))
    }
}

// ------------------------------------------------------------------ compilation

fn or_product(obj: &Map<String, Value>, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 1;
    }
    let mut product: usize = 1;
    for (key, value) in obj {
        if key == "$or" {
            if let Value::Array(members) = value {
                product = product.saturating_mul(members.len().max(1));
                for m in members {
                    if let Value::Object(o) = m {
                        product = product.saturating_mul(or_product(o, depth + 1));
                    }
                }
            }
        } else if let Value::Object(o) = value {
            product = product.saturating_mul(or_product(o, depth + 1));
        }
        if product > MAX_OR_COMBINATIONS {
            return product;
        }
    }
    product
}

fn compile_alternatives(
    obj: &Map<String, Value>,
    expand_or: bool,
) -> Result<Vec<Obj>, PatternError> {
    let mut alts = Vec::new();
    let mut at = Paths::default();
    compile_object(&mut alts, &mut at, obj, expand_or, false, 0)?;
    if alts.is_empty() {
        alts.push(Obj::default());
    }
    Ok(alts)
}

/// Where compilation is: `write` is the field path leaves are recorded at (a `$or`
/// branch writes into the object holding the `$or`); `shown` is the path errors name
/// (`detail.$or.1.field`).
#[derive(Default)]
struct Paths {
    write: Vec<String>,
    shown: Vec<String>,
}

fn compile_object(
    alts: &mut Vec<Obj>,
    at: &mut Paths,
    obj: &Map<String, Value>,
    expand_or: bool,
    inside_or: bool,
    depth: usize,
) -> Result<(), PatternError> {
    if depth > MAX_DEPTH {
        return Err(PatternError::too_complex(
            &at.shown,
            "Event pattern is nested too deeply",
        ));
    }
    if obj.is_empty() {
        return Err(PatternError::new(
            &at.shown,
            "Empty objects are not allowed",
        ));
    }
    for (key, value) in obj {
        if key == "$or" && expand_or {
            compile_or(alts, at, value, depth)?;
            continue;
        }
        at.write.push(key.clone());
        at.shown.push(key.clone());
        let result = if inside_or && OR_RESERVED.contains(&key.as_str()) {
            Err(PatternError::new(
                &at.shown,
                format!("{key} is Ruler reserved fieldName which cannot be used inside $or."),
            ))
        } else {
            match value {
                Value::Object(o) => compile_object(alts, at, o, expand_or, inside_or, depth + 1),
                Value::Array(items) => compile_leaf(&at.shown, items).map(|leaf| {
                    write_leaf(alts, &at.write, Arc::new(leaf));
                }),
                _ => Err(PatternError::new(
                    &at.shown,
                    format!("\"{key}\" must be an object or an array"),
                )),
            }
        };
        at.write.pop();
        at.shown.pop();
        result?;
    }
    Ok(())
}

fn compile_or(
    alts: &mut Vec<Obj>,
    at: &mut Paths,
    members: &Value,
    depth: usize,
) -> Result<(), PatternError> {
    let shown_len = at.shown.len();
    at.shown.push("$or".to_string());
    let result = compile_or_members(alts, at, members, depth);
    at.shown.truncate(shown_len);
    result
}

fn compile_or_members(
    alts: &mut Vec<Obj>,
    at: &mut Paths,
    members: &Value,
    depth: usize,
) -> Result<(), PatternError> {
    let Value::Array(members) = members else {
        return Err(PatternError::new(
            &at.shown,
            "It must be an Array followed with $or.",
        ));
    };
    let prefix = std::mem::take(alts);
    for (i, member) in members.iter().enumerate() {
        at.shown.push(i.to_string());
        let Value::Object(o) = member else {
            return Err(PatternError::new(
                &at.shown,
                "Only JSON object is allowed in array of $or relationship.",
            ));
        };
        let mut forked = if prefix.is_empty() {
            vec![Obj::default()]
        } else {
            prefix.clone()
        };
        compile_object(&mut forked, at, o, true, true, depth + 1)?;
        alts.extend(forked);
        if alts.len() > MAX_OR_COMBINATIONS {
            return Err(PatternError::too_complex(
                &at.shown,
                format!("Event pattern contains more than {MAX_OR_COMBINATIONS} rule combinations"),
            ));
        }
        at.shown.pop();
    }
    if members.len() < 2 {
        return Err(PatternError::new(
            &at.shown,
            "There must have at least 2 Objects in $or relationship.",
        ));
    }
    Ok(())
}

/// Records a leaf at `path` in every alternative. A second leaf at the same path
/// replaces the first (EventBridge's last-write-wins); a leaf/object collision makes the
/// alternative unsatisfiable.
fn write_leaf(alts: &mut Vec<Obj>, path: &[String], leaf: Arc<Leaf>) {
    if alts.is_empty() {
        alts.push(Obj::default());
    }
    for alt in alts.iter_mut() {
        if !write_leaf_in(alt, path, &leaf) {
            alt.unsatisfiable = true;
        }
    }
}

/// False on a leaf/object collision.
fn write_leaf_in(node: &mut Obj, path: &[String], leaf: &Arc<Leaf>) -> bool {
    let (first, rest) = path.split_first().expect("a leaf path is never empty");
    let idx = match node.fields.iter().position(|(k, _)| k == first) {
        Some(i) => i,
        None => {
            let child = if rest.is_empty() {
                Child::Leaf(leaf.clone())
            } else {
                Child::Obj(Obj::default())
            };
            node.fields.push((first.clone(), child));
            node.fields.len() - 1
        }
    };
    let slot = &mut node.fields[idx].1;
    match (slot, rest.is_empty()) {
        (Child::Leaf(l), true) => {
            *l = leaf.clone();
            true
        }
        (Child::Obj(o), false) => write_leaf_in(o, rest, leaf),
        _ => false,
    }
}

fn compile_leaf(path: &[String], items: &[Value]) -> Result<Leaf, PatternError> {
    if items.is_empty() {
        return Err(PatternError::new(path, "Empty arrays are not allowed"));
    }
    let mut leaf = Leaf {
        exists_true: false,
        exists_false: false,
        has_value_matchers: false,
        matchers: Vec::new(),
    };
    for item in items {
        match item {
            Value::String(s) => leaf.matchers.push(Matcher::Str(s.clone())),
            Value::Number(n) => {
                let x = number_operand(path, n, "exact match")?;
                leaf.matchers.push(Matcher::Num(x));
            }
            Value::Bool(b) => leaf.matchers.push(Matcher::Bool(*b)),
            Value::Null => leaf.matchers.push(Matcher::Null),
            Value::Array(_) => {
                return Err(PatternError::new(
                    path,
                    "Match value must be String, number, true, false, or null",
                ));
            }
            Value::Object(expr) => match compile_expression(path, expr)? {
                Expr::Exists(true) => leaf.exists_true = true,
                Expr::Exists(false) => leaf.exists_false = true,
                Expr::Matcher(m) => leaf.matchers.push(m),
            },
        }
    }
    leaf.has_value_matchers = !leaf.matchers.is_empty();
    Ok(leaf)
}

enum Expr {
    Exists(bool),
    Matcher(Matcher),
}

fn compile_expression(path: &[String], expr: &Map<String, Value>) -> Result<Expr, PatternError> {
    let err = |m: String| PatternError::new(path, m);
    let Some((name, operand)) = expr.iter().next() else {
        return Err(err("Match expression name not found".into()));
    };
    // The operand is read before the arity, as EventBridge's streaming parser does.
    let compiled = match name.as_str() {
        "exactly" => match operand {
            Value::String(s) => Expr::Matcher(Matcher::Str(s.clone())),
            _ => return Err(err("exact match pattern must be a string".into())),
        },
        "prefix" | "suffix" => Expr::Matcher(compile_affix(path, name, operand)?),
        "equals-ignore-case" => match operand {
            Value::String(s) => Expr::Matcher(Matcher::EqualsIc(IgnoreCase::new(s))),
            _ => {
                return Err(err(
                    "equals-ignore-case match pattern must be a string".into()
                ));
            }
        },
        "wildcard" => match operand {
            Value::String(s) => Expr::Matcher(Matcher::Wildcard(Glob::compile(path, s)?)),
            _ => return Err(err("wildcard match pattern must be a string".into())),
        },
        "cidr" => Expr::Matcher(Matcher::Cidr(Cidr::compile(path, operand)?)),
        "numeric" => Expr::Matcher(Matcher::Numeric(NumericRange::compile(path, operand)?)),
        "exists" => match operand {
            Value::Bool(b) => Expr::Exists(*b),
            _ => {
                return Err(err(
                    "exists match pattern must be either true or false.".into()
                ));
            }
        },
        "anything-but" => Expr::Matcher(Matcher::AnythingBut(compile_anything_but(path, operand)?)),
        other => return Err(err(format!("Unrecognized match type {other}"))),
    };
    if expr.len() > 1 {
        if name == "numeric" || name == "anything-but" {
            return Err(err("Too many elements in numeric expression".into()));
        }
        return Err(err("Only one key allowed in match expression".into()));
    }
    Ok(compiled)
}

fn compile_affix(path: &[String], name: &str, operand: &Value) -> Result<Matcher, PatternError> {
    let err = |m: String| PatternError::new(path, m);
    let prefix = name == "prefix";
    match operand {
        Value::String(s) => Ok(if prefix {
            Matcher::Prefix(s.clone())
        } else {
            Matcher::Suffix(s.clone())
        }),
        Value::Object(o) => {
            let Some((inner, v)) = o.iter().next() else {
                let mut cap = name.to_string();
                cap[..1].make_ascii_uppercase();
                return Err(err(format!("{cap} expression name not found")));
            };
            if o.len() > 1 {
                return Err(err("Only one key allowed in match expression".into()));
            }
            if inner != "equals-ignore-case" {
                return Err(err(format!("Unsupported {name} pattern: {inner}")));
            }
            let Value::String(s) = v else {
                return Err(err(
                    "equals-ignore-case match pattern must be a string".into()
                ));
            };
            let ic = IgnoreCase::new(s);
            Ok(if prefix {
                Matcher::PrefixIc(ic)
            } else {
                Matcher::SuffixIc(ic)
            })
        }
        _ => Err(err(format!("{name} match pattern must be a string"))),
    }
}

fn compile_anything_but(path: &[String], operand: &Value) -> Result<AnythingBut, PatternError> {
    let err = |m: &str| PatternError::new(path, m);
    match operand {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![number_operand(
            path,
            n,
            "anything-but",
        )?])),
        Value::Array(items) => {
            for v in items {
                if matches!(
                    v,
                    Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_)
                ) {
                    return Err(err(
                        "Inside anything but list, start|null|boolean is not supported.",
                    ));
                }
            }
            let strings: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if items.is_empty() || (!strings.is_empty() && strings.len() != items.len()) {
                return Err(err(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                ));
            }
            if !strings.is_empty() {
                return Ok(AnythingBut::Strings(strings));
            }
            let mut nums = Vec::with_capacity(items.len());
            for v in items {
                if let Value::Number(n) = v {
                    nums.push(number_operand(path, n, "anything-but")?);
                }
            }
            Ok(AnythingBut::Numbers(nums))
        }
        Value::Object(o) => {
            let Some((inner, v)) = o.iter().next() else {
                return Err(err("Anything-But expression name not found"));
            };
            if o.len() > 1 {
                return Err(err("Only one key allowed in match expression"));
            }
            let candidates: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            if candidates.is_empty() {
                return Err(err("Empty arrays are not allowed"));
            }
            if candidates
                .iter()
                .any(|c| matches!(c, Value::Bool(_) | Value::Null))
            {
                return Err(err(
                    "Value of anything-but must be an array or single string/number value.",
                ));
            }
            match inner.as_str() {
                "prefix" | "suffix" => {
                    let mut out = Vec::new();
                    for c in candidates {
                        let Value::String(s) = c else {
                            return Err(err("prefix/suffix match pattern must be a string"));
                        };
                        if s.is_empty() {
                            return Err(err("Null prefix/suffix not allowed"));
                        }
                        out.push(s.clone());
                    }
                    Ok(if inner == "prefix" {
                        AnythingBut::Prefix(out)
                    } else {
                        AnythingBut::Suffix(out)
                    })
                }
                "equals-ignore-case" => {
                    let mut out = Vec::new();
                    for c in candidates {
                        let Value::String(s) = c else {
                            return Err(err(
                                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                            ));
                        };
                        out.push(IgnoreCase::new(s));
                    }
                    Ok(AnythingBut::EqualsIc(out))
                }
                "wildcard" => {
                    let mut out = Vec::new();
                    for c in candidates {
                        let Value::String(s) = c else {
                            return Err(err("wildcard match pattern must be a string"));
                        };
                        out.push(Glob::compile(path, s)?);
                    }
                    Ok(AnythingBut::Wildcard(out))
                }
                other => Err(PatternError::new(
                    path,
                    format!("Unsupported anything-but pattern: {other}"),
                )),
            }
        }
        Value::Bool(_) | Value::Null => Err(err(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

fn number_operand(
    path: &[String],
    n: &serde_json::Number,
    what: &str,
) -> Result<f64, PatternError> {
    let refuse = || PatternError::new(path, format!("Cannot compare number : {n} ({what})"));
    let x = n.as_f64().filter(|x| x.is_finite()).ok_or_else(refuse)?;
    // An integer the double conversion would move is refused.
    let exact = if let Some(i) = n.as_i64() {
        x as i128 == i128::from(i)
    } else if let Some(u) = n.as_u64() {
        x as i128 == i128::from(u)
    } else {
        true
    };
    if exact { Ok(x) } else { Err(refuse()) }
}

// ------------------------------------------------------------------ numeric

#[derive(Debug)]
struct NumericRange {
    lower: Option<(f64, bool)>,
    upper: Option<(f64, bool)>,
    equals: Option<f64>,
}

impl NumericRange {
    fn compile(path: &[String], operand: &Value) -> Result<Self, PatternError> {
        let err = |m: String| PatternError::new(path, m);
        let Value::Array(items) = operand else {
            return Err(err("Value of numeric must be an array.".into()));
        };
        let op_name = |op: &str| if op == "=" { "equals" } else { op }.to_string();
        let threshold = |op: &str, v: &Value| -> Result<f64, PatternError> {
            match v {
                Value::Number(n) => number_operand(path, n, "numeric"),
                _ => Err(PatternError::new(
                    path,
                    format!("Value of {} must be numeric", op_name(op)),
                )),
            }
        };
        let Some(first) = items.first() else {
            return Err(err("Invalid member in numeric match: ]".into()));
        };
        let Value::String(op1) = first else {
            return Err(err(format!("Invalid member in numeric match: {first}")));
        };
        if !matches!(op1.as_str(), "=" | "<" | "<=" | ">" | ">=") {
            return Err(err(format!("Unrecognized numeric range operator: {op1}")));
        }
        let Some(v1) = items.get(1) else {
            return Err(err(format!("Value of {} must be numeric", op_name(op1))));
        };
        let x1 = threshold(op1, v1)?;
        let mut range = NumericRange {
            lower: None,
            upper: None,
            equals: None,
        };
        match op1.as_str() {
            "=" => range.equals = Some(x1),
            ">" => range.lower = Some((x1, false)),
            ">=" => range.lower = Some((x1, true)),
            "<" => range.upper = Some((x1, false)),
            _ => range.upper = Some((x1, true)),
        }
        if items.len() == 2 {
            return Ok(range);
        }
        if !matches!(op1.as_str(), ">" | ">=") {
            return Err(err("Too many elements in numeric expression".into()));
        }
        if items.len() > 4 {
            return Err(err("Too many terms in numeric range expression".into()));
        }
        let Value::String(op2) = &items[2] else {
            return Err(err(format!("Bad value in numeric range: {}", items[2])));
        };
        if !matches!(op2.as_str(), "<" | "<=") {
            return Err(err(format!("Bad numeric range operator: {op2}")));
        }
        let Some(v2) = items.get(3) else {
            return Err(err(format!("Value of {op2} must be numeric")));
        };
        let x2 = threshold(op2, v2)?;
        if x1 >= x2 {
            return Err(err("Bottom must be less than top".into()));
        }
        range.upper = Some((x2, op2 == "<="));
        Ok(range)
    }

    fn matches(&self, x: f64) -> bool {
        if let Some(e) = self.equals {
            return x == e;
        }
        if let Some((lo, inclusive)) = self.lower
            && (x < lo || (!inclusive && x == lo))
        {
            return false;
        }
        if let Some((hi, inclusive)) = self.upper
            && (x > hi || (!inclusive && x == hi))
        {
            return false;
        }
        true
    }
}

// ------------------------------------------------------------------ cidr

#[derive(Debug)]
enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

fn parse_ipv4_decimal(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets[i] = p.parse::<u16>().ok().filter(|v| *v <= 255)? as u8;
    }
    Some(Ipv4Addr::from(octets))
}

/// An address as EventBridge reads one: a plain dotted quad (decimal octets, leading
/// zeros allowed) or a plain IPv6 address (hex digits and colons; no zone, no dotted tail).
fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.contains('.') {
        return parse_ipv4_decimal(s).map(IpAddr::V4);
    }
    if s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

impl Cidr {
    fn compile(path: &[String], operand: &Value) -> Result<Self, PatternError> {
        let err = |m: String| PatternError::new(path, m);
        let Value::String(s) = operand else {
            // EventBridge's own (copy-pasted) wording.
            return Err(err("prefix match pattern must be a string".into()));
        };
        let Some((addr, mask)) = s.split_once('/') else {
            return Err(err("Malformed CIDR, one '/' required".into()));
        };
        if mask.is_empty() || mask.contains('/') {
            return Err(err("Malformed CIDR, one '/' required".into()));
        }
        let digits = mask.strip_prefix(['+', '-']).unwrap_or(mask);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("Malformed CIDR, mask bits must be an integer".into()));
        }
        let bits: i64 = match mask.parse::<i32>() {
            Ok(b) => b.into(),
            Err(_) => return Err(err("Malformed CIDR, mask bits must be an integer".into())),
        };
        if bits < 0 {
            return Err(err("Malformed CIDR, mask bits must not be negative".into()));
        }
        let looks_v4 = addr.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && addr.split('.').count() == 4
            && addr.split('.').all(|p| !p.is_empty());
        let looks_v6 =
            addr.contains(':') && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        if !looks_v4 && !looks_v6 {
            return Err(err(format!("Nonstandard IP address: {addr}")));
        }
        match parse_ip(addr) {
            Some(IpAddr::V4(a)) => {
                if bits > 31 {
                    return Err(err("IPv4 mask bits must be < 32".into()));
                }
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                Ok(Cidr::V4 {
                    net: u32::from(a) & mask,
                    mask,
                })
            }
            Some(IpAddr::V6(a)) => {
                if bits > 127 {
                    return Err(err("IPv6 mask bits must be < 128".into()));
                }
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                Ok(Cidr::V6 {
                    net: u128::from(a) & mask,
                    mask,
                })
            }
            None => Err(err(format!("Invalid IP address: {addr}"))),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match (self, parse_ip(s)) {
            (Cidr::V4 { net, mask }, Some(IpAddr::V4(a))) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, Some(IpAddr::V6(a))) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

// ------------------------------------------------------------------ wildcard

/// A compiled wildcard: literal segments separated by `*`. Matching is a linear scan
/// (leftmost placement of each interior segment), with no backtracking.
#[derive(Debug)]
struct Glob {
    segments: Vec<String>,
}

impl Glob {
    fn compile(path: &[String], pattern: &str) -> Result<Glob, PatternError> {
        let mut segments = vec![String::new()];
        let mut chars = pattern.char_indices().peekable();
        // Positions are 1-based byte offsets into the quoted operand, as EventBridge reports them.
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('*' | '\\'))) => segments.last_mut().unwrap().push(e),
                    _ => {
                        return Err(PatternError::new(
                            path,
                            format!("Invalid escape character at pos {}", i + 1),
                        ));
                    }
                },
                '*' => {
                    if matches!(chars.peek(), Some((_, '*'))) {
                        return Err(PatternError::new(
                            path,
                            format!("Consecutive wildcard characters at pos {}", i + 1),
                        ));
                    }
                    segments.push(String::new());
                }
                _ => segments.last_mut().unwrap().push(c),
            }
        }
        Ok(Glob { segments })
    }

    fn matches(&self, value: &str) -> bool {
        let segs = &self.segments;
        if segs.len() == 1 {
            return value == segs[0];
        }
        let first = &segs[0];
        let last = &segs[segs.len() - 1];
        if value.len() < first.len() + last.len()
            || !value.starts_with(first.as_str())
            || !value.ends_with(last.as_str())
        {
            return false;
        }
        let mut rest = &value[first.len()..value.len() - last.len()];
        for seg in &segs[1..segs.len() - 1] {
            if seg.is_empty() {
                continue;
            }
            match rest.find(seg.as_str()) {
                Some(i) => rest = &rest[i + seg.len()..],
                None => return false,
            }
        }
        true
    }
}

// ------------------------------------------------------------------ ignore case

/// A case-insensitive operand: at each operand character, its lower or upper case form
/// (either may be several characters long, e.g. `ß` → `SS`).
#[derive(Debug)]
struct IgnoreCase {
    alternatives: Vec<(String, Option<String>)>,
}

impl IgnoreCase {
    fn new(operand: &str) -> Self {
        IgnoreCase {
            alternatives: operand
                .chars()
                .map(|c| {
                    let lower: String = c.to_lowercase().collect();
                    let upper: String = c.to_uppercase().collect();
                    if lower == upper {
                        (lower, None)
                    } else {
                        (lower, Some(upper))
                    }
                })
                .collect(),
        }
    }

    /// Byte offsets of `value` reachable by consuming the whole operand from the start
    /// (forwards) or from the end (backwards).
    fn reach(&self, value: &str, backwards: bool) -> Vec<usize> {
        let mut reachable = vec![if backwards { value.len() } else { 0 }];
        let steps: Box<dyn Iterator<Item = &(String, Option<String>)>> = if backwards {
            Box::new(self.alternatives.iter().rev())
        } else {
            Box::new(self.alternatives.iter())
        };
        for (lower, upper) in steps {
            let mut moved: Vec<usize> = Vec::with_capacity(2);
            for alt in std::iter::once(lower).chain(upper.iter()) {
                let w = alt.len();
                for &off in &reachable {
                    let next = if backwards {
                        off.checked_sub(w)
                            .filter(|s| value.get(*s..off) == Some(alt.as_str()))
                    } else {
                        value
                            .get(off..off + w)
                            .filter(|s| *s == alt.as_str())
                            .map(|_| off + w)
                    };
                    if let Some(n) = next
                        && !moved.contains(&n)
                    {
                        moved.push(n);
                    }
                }
            }
            if moved.is_empty() {
                return moved;
            }
            reachable = moved;
        }
        reachable
    }

    fn equals(&self, value: &str) -> bool {
        self.reach(value, false).contains(&value.len())
    }
    fn prefix_of(&self, value: &str) -> bool {
        !self.reach(value, false).is_empty()
    }
    fn suffix_of(&self, value: &str) -> bool {
        !self.reach(value, true).is_empty()
    }
}

// ------------------------------------------------------------------ matching

fn match_obj(node: &Obj, event: Option<&Map<String, Value>>) -> bool {
    if node.unsatisfiable {
        return false;
    }
    node.fields.iter().all(|(key, child)| {
        let actual = event.and_then(|m| m.get(key));
        match child {
            Child::Leaf(leaf) => leaf.matches(actual),
            Child::Obj(sub) => {
                let mut any_object = false;
                let matched = any_object_in(actual, 0, &mut |o| {
                    any_object = true;
                    match_obj(sub, Some(o))
                });
                if any_object {
                    matched
                } else {
                    match_obj(sub, None)
                }
            }
        }
    })
}

/// Calls `f` on each object reachable through arrays from `value`; true if any call is.
fn any_object_in(
    value: Option<&Value>,
    depth: usize,
    f: &mut dyn FnMut(&Map<String, Value>) -> bool,
) -> bool {
    match value {
        Some(Value::Object(o)) => f(o),
        Some(Value::Array(items)) if depth < MAX_EVENT_ARRAY_DEPTH => {
            let mut hit = false;
            for item in items {
                // Keep visiting so the caller learns whether any object exists.
                if any_object_in(Some(item), depth + 1, f) {
                    hit = true;
                    break;
                }
            }
            hit
        }
        _ => false,
    }
}

/// Calls `f` on each leaf (non-object, non-array) reachable through arrays.
fn any_scalar(value: &Value, depth: usize, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => {
            depth < MAX_EVENT_ARRAY_DEPTH && items.iter().any(|v| any_scalar(v, depth + 1, f))
        }
        Value::Object(_) => false,
        scalar => f(scalar),
    }
}

impl Leaf {
    fn matches(&self, actual: Option<&Value>) -> bool {
        if self.exists_true || self.exists_false {
            let has_leaf = actual.is_some_and(|v| any_scalar(v, 0, &mut |_| true));
            if (self.exists_true && has_leaf) || (self.exists_false && !has_leaf) {
                return true;
            }
            if !self.has_value_matchers {
                return false;
            }
        }
        let Some(actual) = actual else {
            return false;
        };
        any_scalar(actual, 0, &mut |v| {
            self.matchers.iter().any(|m| m.matches(v))
        })
    }
}

fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

impl Matcher {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Matcher::Str(s) => v.as_str() == Some(s.as_str()),
            Matcher::Num(x) => json_number(v) == Some(*x),
            Matcher::Bool(b) => v.as_bool() == Some(*b),
            Matcher::Null => v.is_null(),
            Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Suffix(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::PrefixIc(ic) => v.as_str().is_some_and(|s| ic.prefix_of(s)),
            Matcher::SuffixIc(ic) => v.as_str().is_some_and(|s| ic.suffix_of(s)),
            Matcher::EqualsIc(ic) => v.as_str().is_some_and(|s| ic.equals(s)),
            Matcher::Wildcard(g) => v.as_str().is_some_and(|s| g.matches(s)),
            Matcher::Numeric(r) => json_number(v).is_some_and(|x| r.matches(x)),
            Matcher::Cidr(c) => v.as_str().is_some_and(|s| c.matches(s)),
            Matcher::AnythingBut(ab) => ab.matches(v),
        }
    }
}

impl AnythingBut {
    /// True when `v` is not excluded. Values of another type than the excluded ones
    /// (a number against excluded strings, `null`, booleans) are not excluded.
    fn matches(&self, v: &Value) -> bool {
        match self {
            AnythingBut::Strings(list) => !v.as_str().is_some_and(|s| list.iter().any(|x| x == s)),
            AnythingBut::Numbers(list) => !json_number(v).is_some_and(|x| list.contains(&x)),
            AnythingBut::Prefix(list) => !v
                .as_str()
                .is_some_and(|s| list.iter().any(|p| s.starts_with(p.as_str()))),
            AnythingBut::Suffix(list) => !v
                .as_str()
                .is_some_and(|s| list.iter().any(|p| s.ends_with(p.as_str()))),
            AnythingBut::EqualsIc(list) => !v
                .as_str()
                .is_some_and(|s| list.iter().any(|ic| ic.equals(s))),
            AnythingBut::Wildcard(list) => !v
                .as_str()
                .is_some_and(|s| list.iter().any(|g| g.matches(s))),
        }
    }
}
