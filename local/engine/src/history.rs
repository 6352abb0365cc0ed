//! Execution history events, kept compact: the event type, ids, a millisecond timestamp and
//! the `*EventDetails` object (payloads inside it are JSON *text*, as AWS serialises them).

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

impl HistoryEvent {
    /// The event as the API returns it (`includeExecutionData` false strips payloads).
    pub fn to_api(&self, include_data: bool) -> Value {
        let mut m = Map::new();
        m.insert(
            "timestamp".into(),
            crate::api::epoch_seconds(self.timestamp_ms),
        );
        m.insert("type".into(), Value::String(self.event_type.clone()));
        m.insert("id".into(), Value::from(self.id));
        m.insert(
            "previousEventId".into(),
            Value::from(self.previous_event_id),
        );
        if !self.details_key.is_empty() {
            let mut d = self.details.clone();
            if !include_data {
                if let Value::Object(o) = &mut d {
                    for k in ["input", "output", "parameters", "assignedVariables"] {
                        o.remove(k);
                    }
                }
            }
            m.insert(self.details_key.clone(), d);
        }
        Value::Object(m)
    }
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

/// Build a details object from pairs.
pub fn details(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}
