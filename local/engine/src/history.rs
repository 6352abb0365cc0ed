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

/// The engine's own form of a history event: the same content as [`HistoryEvent`] without
/// per-event maps and strings. Detail keys are static, `*Details` values that are `Null`
/// stand for `{"truncated": false}`, the replay key is the emitting thread (shared) and a
/// sequence number. Converted to a [`HistoryEvent`] only for the store and the API.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub id: u64,
    pub prev: u64,
    pub ts: i64,
    pub ty: Cow<'static, str>,
    pub dkey: Cow<'static, str>,
    pub details: Det,
    pub thread: Arc<str>,
    pub seq: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum Det {
    None,
    Pairs(Box<[(&'static str, Dv)]>),
    Value(Box<Value>),
}

/// One detail value, compact: most are JSON text or names (a `Value` is 72 bytes, this is
/// 24), and finished executions keep their history in memory.
#[derive(Debug, Clone)]
pub(crate) enum Dv {
    /// `Null`; under a `*Details` key, `{"truncated": false}`.
    Null,
    Str(Box<str>),
    Other(Box<Value>),
}

impl Dv {
    fn to_value(&self, key: &str) -> Value {
        match self {
            Dv::Null if key.ends_with("Details") => not_truncated(),
            Dv::Null => Value::Null,
            Dv::Str(s) => Value::String(s.to_string()),
            Dv::Other(v) => (**v).clone(),
        }
    }
}

/// A `*Details` entry (`{"truncated": false}`) in [`details`] pairs.
pub(crate) const NT: Value = Value::Null;

/// Build details from pairs (kept as compact pairs until the event is shown or stored).
pub(crate) fn details(pairs: Vec<(&'static str, Value)>) -> Det {
    Det::Pairs(
        pairs
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Null => Dv::Null,
                    Value::String(s) => Dv::Str(s.into_boxed_str()),
                    v => Dv::Other(Box::new(v)),
                };
                (k, v)
            })
            .collect(),
    )
}

impl Det {
    pub fn to_value(&self) -> Value {
        match self {
            Det::None => Value::Null,
            Det::Value(v) => (**v).clone(),
            Det::Pairs(p) => {
                let mut m = Map::with_capacity(p.len());
                for (k, v) in p.iter() {
                    m.insert((*k).to_string(), v.to_value(k));
                }
                Value::Object(m)
            }
        }
    }

    /// One detail, as text.
    pub fn get_str(&self, k: &str) -> Option<&str> {
        match self {
            Det::None => None,
            Det::Value(v) => v.get(k).and_then(Value::as_str),
            Det::Pairs(p) => p.iter().find(|(n, _)| *n == k).and_then(|(_, v)| match v {
                Dv::Str(s) => Some(&**s),
                Dv::Other(v) => v.as_str(),
                Dv::Null => None,
            }),
        }
    }
}

impl Ev {
    pub fn key(&self) -> String {
        format!("{}:{}", self.thread, self.seq)
    }

    pub fn from_event(e: HistoryEvent) -> Ev {
        let (thread, seq) = match e.key.rsplit_once(':') {
            Some((t, s)) if s.parse::<u32>().is_ok() => (Arc::from(t), s.parse().unwrap_or(0)),
            _ => (Arc::from(e.key.as_str()), u32::MAX),
        };
        Ev {
            id: e.id,
            prev: e.previous_event_id,
            ts: e.timestamp_ms,
            ty: Cow::Owned(e.event_type),
            dkey: Cow::Owned(e.details_key),
            details: if e.details.is_null() {
                Det::None
            } else {
                Det::Value(Box::new(e.details))
            },
            thread,
            seq,
        }
    }

    /// The journal entry for this event (`JournalEntry::Event` of [`Ev::to_event`]),
    /// serialised straight from the compact form.
    pub fn to_journal(&self) -> crate::store::JournalEntry {
        // Sized up front (the details' text plus the fixed fields) so it is not regrown.
        let text_len: usize = match &self.details {
            Det::Pairs(p) => p
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + match v {
                            Dv::Str(s) => s.len() + s.len() / 8,
                            _ => 32,
                        }
                })
                .sum(),
            _ => 256,
        };
        let mut buf = Vec::with_capacity(text_len + 192);
        serde_json::to_writer(&mut buf, &JournalView(self)).expect("history events serialise");
        let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
        crate::store::JournalEntry::Encoded(text.into_boxed_str())
    }

    #[cfg(test)]
    pub fn to_event(&self) -> HistoryEvent {
        HistoryEvent {
            id: self.id,
            previous_event_id: self.prev,
            timestamp_ms: self.ts,
            event_type: self.ty.to_string(),
            details_key: self.dkey.to_string(),
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
        m.insert("timestamp".into(), crate::api::epoch_seconds(self.ts));
        m.insert("type".into(), Value::String(self.ty.to_string()));
        m.insert("id".into(), Value::from(self.id));
        m.insert("previousEventId".into(), Value::from(self.prev));
        if !self.dkey.is_empty() {
            let mut d = self.details.to_value();
            if !include_data {
                if let Value::Object(o) = &mut d {
                    for k in ["input", "output", "parameters", "assignedVariables"] {
                        o.remove(k);
                    }
                }
            }
            m.insert(self.dkey.to_string(), d);
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

/// `{"Event": HistoryEvent}` as `JournalEntry` serialises it, written from an [`Ev`].
struct JournalView<'a>(&'a Ev);

impl Serialize for JournalView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_variant("JournalEntry", 0, "Event", &EventView(self.0))
    }
}

/// The fields of [`HistoryEvent`], in its order.
struct EventView<'a>(&'a Ev);

impl Serialize for EventView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let e = self.0;
        let mut o = s.serialize_struct("HistoryEvent", 7)?;
        o.serialize_field("id", &e.id)?;
        o.serialize_field("previous_event_id", &e.prev)?;
        o.serialize_field("timestamp_ms", &e.ts)?;
        o.serialize_field("event_type", &*e.ty)?;
        o.serialize_field("details_key", &*e.dkey)?;
        o.serialize_field("details", &DetView(&e.details))?;
        if e.seq == u32::MAX {
            o.serialize_field("key", &*e.thread)?;
        } else {
            o.serialize_field("key", &e.key())?;
        }
        o.end()
    }
}

/// [`Det::to_value`] without building the map.
struct DetView<'a>(&'a Det);

impl Serialize for DetView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Det::None => s.serialize_unit(),
            Det::Value(v) => v.serialize(s),
            Det::Pairs(p) => {
                let mut m = s.serialize_map(Some(p.len()))?;
                for (k, v) in p.iter() {
                    match v {
                        Dv::Null if k.ends_with("Details") => {
                            m.serialize_entry(k, &NotTruncated)?
                        }
                        Dv::Null => m.serialize_entry(k, &())?,
                        Dv::Str(t) => m.serialize_entry(k, &**t)?,
                        Dv::Other(v) => m.serialize_entry(k, &**v)?,
                    }
                }
                m.end()
            }
        }
    }
}

struct NotTruncated;

impl Serialize for NotTruncated {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("truncated", &false)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal form written from the compact event is exactly the `HistoryEvent` one.
    #[test]
    fn journal_view_matches_history_event() {
        for (seq, d) in [
            (
                3,
                details(vec![
                    ("name", Value::String("P".into())),
                    ("output", text(&serde_json::json!({"a": "x\"y"}))),
                    ("outputDetails", NT),
                    ("n", Value::from(2)),
                ]),
            ),
            (u32::MAX, Det::None),
            (0, Det::Value(Box::new(serde_json::json!({"error": "E"})))),
        ] {
            let ev = Ev {
                id: 4,
                prev: 2,
                ts: 1_700_000_000_123,
                ty: Cow::Borrowed("PassStateExited"),
                dkey: Cow::Borrowed("stateExitedEventDetails"),
                details: d,
                thread: Arc::from("m/0"),
                seq,
            };
            let direct =
                serde_json::to_value(crate::store::JournalEntry::Event(ev.to_event())).unwrap();
            let viewed = serde_json::to_value(ev.to_journal()).unwrap();
            assert_eq!(direct, viewed);
            let back = ev.to_journal().decode().unwrap();
            assert_eq!(back, crate::store::JournalEntry::Event(ev.to_event()));
        }
    }
}
