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
pub(crate) fn details(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Det {
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

    /// One detail that identifies the event (a state name, an iteration index), as text:
    /// strings as they are, other values as JSON.
    pub fn ident(&self, k: &str) -> Option<String> {
        let v = match self {
            Det::None => return None,
            Det::Value(v) => match v.get(k)? {
                Value::Null => return None,
                Value::String(s) => return Some(s.clone()),
                v => v,
            },
            Det::Pairs(p) => match &p.iter().find(|(n, _)| *n == k)?.1 {
                Dv::Null => return None,
                Dv::Str(s) => return Some(s.to_string()),
                Dv::Other(v) => &**v,
            },
        };
        Some(v.to_string())
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
    #[cfg(test)]
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
        crate::store::JournalEntry::Encoded(encode(self).into_boxed_slice())
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
            if !include_data && let Value::Object(o) = &mut d {
                for k in ["input", "output", "parameters", "assignedVariables"] {
                    o.remove(k);
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

// The journal's binary form of an event: what the engine writes for every event, so that a
// durable store neither escapes JSON text inside JSON nor stores field names per event.
//
//   0xE1 (never `{`, which starts a JSON entry), then id, previousEventId, timestamp (zigzag),
//   type, details key, thread, sequence number + 1 (0: the whole key is the thread), and the
//   details: 0 none | 1 JSON text | 2 pairs: count, then per pair its key and
//   0 null | 1 string | 2 JSON text.
// Integers are LEB128 varints; strings a varint length and their UTF-8 bytes.

/// First byte of an encoded event. 0xE0–0xEF are kept for encoded events: another encoding
/// takes another byte there (and [`crate::store::JOURNAL_FORMAT`] changes with it), so an
/// engine recognises, and refuses, entries it cannot read.
pub(crate) const ENCODED_EVENT: u8 = 0xE1;

fn put_uint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn encode(e: &Ev) -> Vec<u8> {
    let text_len: usize = match &e.details {
        Det::Pairs(p) => p
            .iter()
            .map(|(k, v)| {
                k.len()
                    + 4
                    + match v {
                        Dv::Str(s) => s.len(),
                        _ => 32,
                    }
            })
            .sum(),
        _ => 128,
    };
    let mut b = Vec::with_capacity(text_len + e.ty.len() + e.dkey.len() + e.thread.len() + 40);
    b.push(ENCODED_EVENT);
    put_uint(&mut b, e.id);
    put_uint(&mut b, e.prev);
    put_uint(&mut b, ((e.ts << 1) ^ (e.ts >> 63)) as u64);
    put_str(&mut b, &e.ty);
    put_str(&mut b, &e.dkey);
    put_str(&mut b, &e.thread);
    put_uint(
        &mut b,
        if e.seq == u32::MAX {
            0
        } else {
            e.seq as u64 + 1
        },
    );
    match &e.details {
        Det::None => b.push(0),
        Det::Value(v) => {
            b.push(1);
            put_str(&mut b, &v.to_string());
        }
        Det::Pairs(p) => {
            b.push(2);
            put_uint(&mut b, p.len() as u64);
            for (k, v) in p.iter() {
                put_str(&mut b, k);
                match v {
                    Dv::Null => b.push(0),
                    Dv::Str(s) => {
                        b.push(1);
                        put_str(&mut b, s);
                    }
                    Dv::Other(v) => {
                        b.push(2);
                        put_str(&mut b, &v.to_string());
                    }
                }
            }
        }
    }
    b
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or("truncated")?;
        self.0 = rest;
        Ok(b)
    }
    fn uint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("integer too long".into())
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = usize::try_from(self.uint()?).map_err(|_| "length too large")?;
        let (s, rest) = self.0.split_at_checked(n).ok_or("truncated")?;
        self.0 = rest;
        std::str::from_utf8(s).map_err(|e| e.to_string())
    }
    fn json(&mut self) -> Result<Value, String> {
        serde_json::from_str(self.str()?).map_err(|e| e.to_string())
    }
}

/// The event an encoded journal entry holds (as [`Ev::to_event`] gives it).
pub(crate) fn decode(bytes: &[u8]) -> Result<HistoryEvent, String> {
    let mut r = Reader(bytes);
    if r.byte()? != ENCODED_EVENT {
        return Err("not an encoded event".into());
    }
    let id = r.uint()?;
    let previous_event_id = r.uint()?;
    let z = r.uint()?;
    let timestamp_ms = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let event_type = r.str()?.to_string();
    let details_key = r.str()?.to_string();
    let thread = r.str()?;
    let key = match r.uint()? {
        0 => thread.to_string(),
        n => format!("{thread}:{}", n - 1),
    };
    let details = match r.byte()? {
        0 => Value::Null,
        1 => r.json()?,
        2 => {
            let n = r.uint()?;
            let mut m = Map::new();
            for _ in 0..n {
                let k = r.str()?;
                let v = match r.byte()? {
                    0 if k.ends_with("Details") => not_truncated(),
                    0 => Value::Null,
                    1 => Value::String(r.str()?.to_string()),
                    2 => r.json()?,
                    t => return Err(format!("unknown value tag {t}")),
                };
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        }
        t => return Err(format!("unknown details tag {t}")),
    };
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(HistoryEvent {
        id,
        previous_event_id,
        timestamp_ms,
        event_type,
        details_key,
        details,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded journal entry decodes to exactly the `HistoryEvent`, and a cut one is refused.
    #[test]
    fn encoded_events_decode_to_the_history_event() {
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
