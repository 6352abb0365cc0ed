//! Pre-compiled forms of paths and payload templates, for engines that evaluate the same
//! definition many times: build them once per state machine definition (they are `Send + Sync`
//! and cheap to clone, so they can live in a shared, `Arc`ed definition) and evaluate them per
//! state. Results and errors are identical to the string-taking functions ([`crate::query`],
//! [`crate::payload_template`]); errors that those report when evaluating (a bad path, a bad
//! intrinsic, a non-string `.$` value) are reported at evaluation too, so a definition compiles
//! even if one of its templates can never succeed.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{EvalError, Scope, compact, intrinsic, path};

/// A JSONPath / reference path parsed once. See [`crate::query`].
#[derive(Debug, Clone)]
pub struct CompiledPath {
    src: Arc<str>,
    path: Arc<path::Path>,
}

impl CompiledPath {
    /// Parses `src`; the error is the one [`crate::query`] would report for it.
    pub fn new(src: &str) -> Result<Self, EvalError> {
        let path = path::parse(src)
            .map_err(|m| EvalError::runtime(format!("Invalid path '{src}': {m}")))?;
        Ok(Self {
            src: src.into(),
            path: Arc::new(path),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// Whether this is a reference path (selects at most one node: no wildcards, filters,
    /// slices, unions or `..`).
    pub fn is_definite(&self) -> bool {
        self.path.is_definite()
    }

    /// Same as [`crate::query`] with this path.
    pub fn query(&self, scope: &Scope, field: &str) -> Result<Value, EvalError> {
        crate::query_parsed(&self.src, &self.path, scope, field)
    }
}

#[derive(Debug, Clone)]
enum Node {
    /// No `.$` key anywhere below: the value is copied as is.
    Static(Value),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// `"key.$": "$.path"`; `field` is the key with its `.$`.
    Path {
        field: String,
        path: CompiledPath,
    },
    /// `"key.$": "States.Fn(...)"`.
    Intrinsic {
        field: String,
        expr: String,
        call: Arc<intrinsic::Call>,
    },
    /// A `.$` value that fails whenever the template is evaluated.
    Invalid(EvalError),
}

/// A JSONPath-mode payload template (Parameters, ResultSelector, ItemSelector, Assign)
/// compiled once. See [`crate::payload_template`].
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    node: Node,
}

impl CompiledTemplate {
    /// Compiles `template`. Never fails: problems are reported by [`Self::evaluate`], as
    /// [`crate::payload_template`] reports them.
    pub fn new(template: &Value) -> Self {
        Self {
            node: compile(template),
        }
    }

    /// Whether the template has no `.$` key (evaluating it just copies it).
    pub fn is_static(&self) -> bool {
        matches!(self.node, Node::Static(_))
    }

    /// Same as [`crate::payload_template`] with this template.
    pub fn evaluate(&self, scope: &Scope, field: &str) -> Result<Value, EvalError> {
        let _ = field; // kept for signature parity with `payload_template`
        eval(&self.node, scope)
    }
}

fn has_dynamic(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| k.ends_with(".$") || has_dynamic(v)),
        Value::Array(a) => a.iter().any(has_dynamic),
        _ => false,
    }
}

fn compile(v: &Value) -> Node {
    if !has_dynamic(v) {
        return Node::Static(v.clone());
    }
    match v {
        Value::Object(o) => Node::Object(
            o.iter()
                .map(|(k, v)| match k.strip_suffix(".$") {
                    Some(name) => (name.to_string(), compile_dynamic(k, v)),
                    None => (k.clone(), compile(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Node::Array(a.iter().map(compile).collect()),
        other => Node::Static(other.clone()),
    }
}

fn compile_dynamic(k: &str, v: &Value) -> Node {
    let Value::String(expr) = v else {
        return Node::Invalid(EvalError::runtime(format!(
            "The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function, but was {}",
            compact(v)
        )));
    };
    if expr.trim_start().starts_with("States.") {
        match intrinsic::parse(expr.trim()) {
            Ok(call) => Node::Intrinsic {
                field: k.to_string(),
                expr: expr.clone(),
                call: Arc::new(call),
            },
            Err(m) => Node::Invalid(EvalError::new("States.IntrinsicFailure", m)),
        }
    } else {
        match CompiledPath::new(expr) {
            Ok(path) => Node::Path {
                field: k.to_string(),
                path,
            },
            Err(e) => Node::Invalid(e),
        }
    }
}

fn eval(n: &Node, scope: &Scope) -> Result<Value, EvalError> {
    Ok(match n {
        Node::Static(v) => v.clone(),
        Node::Object(entries) => {
            let mut out = Map::with_capacity(entries.len());
            for (k, n) in entries {
                out.insert(k.clone(), eval(n, scope)?);
            }
            Value::Object(out)
        }
        Node::Array(a) => Value::Array(a.iter().map(|n| eval(n, scope)).collect::<Result<_, _>>()?),
        Node::Path { field, path } => path.query(scope, field)?,
        Node::Intrinsic { field, expr, call } => {
            crate::intrinsic_call_for_field(call, expr, scope, field)?
        }
        Node::Invalid(e) => return Err(e.clone()),
    })
}
