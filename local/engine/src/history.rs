//! Execution history events, kept compact: the event type, ids, a millisecond timestamp and
//! the `*EventDetails` object (payloads inside it are JSON *text*, as AWS serialises them).

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One `GetExecutionHistory` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    /// Epoch milliseconds.
    pub timestamp_ms: i64,
    /// `ExecutionStarted`, `PassStateEntered`, ...
    pub event_type: String,
    /// The details key (`executionStartedEventDetails`) or empty when the event has none.
    pub details_key: String,
    /// The details object, `Null` when none.
    pub details: Value,
    /// Private replay key: which thread of the execution emitted it, and its sequence number
    /// there. Not part of the API shape.
    pub key: String,
}

/// `{"truncated": false}`.
pub fn not_truncated() -> Value {
    let mut m = Map::new();
    m.insert("truncated".into(), Value::Bool(false));
    Value::Object(m)
}

/// Serialise a payload as AWS does in history events (compact JSON text).
pub fn text(v: &Value) -> Value {
    Value::String(serde_json::to_string(v).unwrap_or_default())
}

/// The engine's own form of a history event: the same content as [`HistoryEvent`] without
/// per-event maps and strings. Detail keys are static, `*Details` values that are `Null`
/// stand for `{"truncated": false}`, the replay key is the emitting thread (shared) and a
/// sequence number. Converted to a [`HistoryEvent`] only for the store and the API.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: u64,
    pub prev: u64,
    pub ts: i64,
    pub ty: Cow<'static, str>,
    pub details_key: Cow<'static, str>,
    pub details: Details,
    pub thread: Arc<str>,
    pub seq: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum Details {
    None,
    Pairs(Box<[(&'static str, DetailValue)]>),
    Value(Box<Value>),
}

/// One detail value, compact: most are JSON text or names (a `Value` is 72 bytes, this is
/// 24), and finished executions keep their history in memory.
#[derive(Debug, Clone)]
pub(crate) enum DetailValue {
    /// `Null`; under a `*Details` key, `{"truncated": false}`.
    Null,
    Str(Box<str>),
    Other(Box<Value>),
}

impl DetailValue {
    fn to_value(&self, key: &str) -> Value {
        match self {
            DetailValue::Null if key.ends_with("Details") => not_truncated(),
            DetailValue::Null => Value::Null,
            DetailValue::Str(s) => Value::String(s.to_string()),
            DetailValue::Other(v) => (**v).clone(),
        }
    }
}

/// A `*Details` entry (`{"truncated": false}`) in [`details`] pairs.
pub(crate) const NOT_TRUNCATED: Value = Value::Null;

/// Build details from pairs (kept as compact pairs until the event is shown or stored).
pub(crate) fn details(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Details {
    Details::Pairs(
        pairs
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Null => DetailValue::Null,
                    Value::String(s) => DetailValue::Str(s.into_boxed_str()),
                    v => DetailValue::Other(Box::new(v)),
                };
                (k, v)
            })
            .collect(),
    )
}

impl Details {
    pub fn to_value(&self) -> Value {
        match self {
            Details::None => Value::Null,
            Details::Value(v) => (**v).clone(),
            Details::Pairs(p) => {
                let mut m = Map::with_capacity(p.len());
                for (k, v) in p.iter() {
                    m.insert((*k).to_string(), v.to_value(k));
                }
                Value::Object(m)
            }
        }
    }

    /// One detail that identifies the event (a state name, an iteration index), as text:
    /// strings as they are, other values as JSON.
    pub fn ident(&self, k: &str) -> Option<String> {
        let v = match self {
            Details::None => return None,
            Details::Value(v) => match v.get(k)? {
                Value::Null => return None,
                Value::String(s) => return Some(s.clone()),
                v => v,
            },
            Details::Pairs(p) => match &p.iter().find(|(n, _)| *n == k)?.1 {
                DetailValue::Null => return None,
                DetailValue::Str(s) => return Some(s.to_string()),
                DetailValue::Other(v) => &**v,
            },
        };
        Some(v.to_string())
    }

    /// One detail, as text.
    pub fn get_str(&self, k: &str) -> Option<&str> {
        match self {
            Details::None => None,
            Details::Value(v) => v.get(k).and_then(Value::as_str),
            Details::Pairs(p) => p.iter().find(|(n, _)| *n == k).and_then(|(_, v)| match v {
                DetailValue::Str(s) => Some(&**s),
                DetailValue::Other(v) => v.as_str(),
                DetailValue::Null => None,
            }),
        }
    }
}

impl Event {
    #[cfg(test)]
    pub fn key(&self) -> String {
        format!("{}:{}", self.thread, self.seq)
    }

    pub fn from_event(e: HistoryEvent) -> Event {
        let (thread, seq) = match e.key.rsplit_once(':') {
            Some((t, s)) if s.parse::<u32>().is_ok() => (Arc::from(t), s.parse().unwrap_or(0)),
            _ => (Arc::from(e.key.as_str()), u32::MAX),
        };
        Event {
            id: e.id,
            prev: e.previous_event_id,
            ts: e.timestamp_ms,
            ty: Cow::Owned(e.event_type),
            details_key: Cow::Owned(e.details_key),
            details: if e.details.is_null() {
                Details::None
            } else {
                Details::Value(Box::new(e.details))
            },
            thread,
            seq,
        }
    }

    /// The event as the store and `GetExecutionHistory` see it.
    #[cfg(test)]
    pub fn to_event(&self) -> HistoryEvent {
        HistoryEvent {
            id: self.id,
            previous_event_id: self.prev,
            timestamp_ms: self.ts,
            event_type: self.ty.to_string(),
            details_key: self.details_key.to_string(),
            details: self.details.to_value(),
            key: if self.seq == u32::MAX {
                self.thread.to_string()
            } else {
                self.key()
            },
        }
    }

    /// The event as the API returns it (`includeExecutionData` false strips payloads).
    pub fn to_api(&self, include_data: bool) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), crate::time::epoch_seconds(self.ts));
        m.insert("type".into(), Value::String(self.ty.to_string()));
        m.insert("id".into(), Value::from(self.id));
        m.insert("previousEventId".into(), Value::from(self.prev));
        if !self.details_key.is_empty() {
            let mut d = self.details.to_value();
            if !include_data && let Value::Object(o) = &mut d {
                for k in ["input", "output", "parameters", "assignedVariables"] {
                    o.remove(k);
                }
            }
            m.insert(self.details_key.to_string(), d);
        }
        Value::Object(m)
    }
}

/// `<Type>StateEntered`/`<Type>StateExited`/`<Type>StateAborted` without formatting.
pub(crate) fn state_event(type_name: &str, what: &str) -> Cow<'static, str> {
    macro_rules! table {
        ($($t:literal),*) => {
            match (type_name, what) {
                $(
                    ($t, "Entered") => Cow::Borrowed(concat!($t, "StateEntered")),
                    ($t, "Exited") => Cow::Borrowed(concat!($t, "StateExited")),
                    ($t, "Aborted") => Cow::Borrowed(concat!($t, "StateAborted")),
                )*
                _ => Cow::Owned(format!("{type_name}State{what}")),
            }
        };
    }
    table!(
        "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"
    )
}
