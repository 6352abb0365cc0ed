//! The journal's format: the binary form in which the engine journals every history event,
//! and the version a durable store records with what it persists.
//!
//! A store keeps these bytes as they are ([`crate::store::JournalEntry::Encoded`]) and gives
//! them back on restart, where [`decode`] turns them into the [`HistoryEvent`] replay reads.

use serde_json::{Map, Value};

use crate::history::{DetailValue, Details, Event, HistoryEvent, not_truncated};

/// The format of journal entries: the encoded event (this module's binary form), the JSON of
/// [`crate::store::JournalEntry`] and the replay keys. A durable store records it with what it
/// persists and refuses a store written with another; bump it whenever any of these change.
/// (What an engine emits at a replay key is checked event by event on replay.)
pub const JOURNAL_FORMAT: u64 = 1;

// The journal's binary form of an event: what the engine writes for every event, so that a
// durable store neither escapes JSON text inside JSON nor stores field names per event.
//
//   0xE1 (never `{`, which starts a JSON entry), then id, previousEventId, timestamp (zigzag),
//   type, details key, thread, sequence number + 1 (0: the whole key is the thread), and the
//   details: 0 none | 1 JSON text | 2 pairs: count, then per pair its key and
//   0 null | 1 string | 2 JSON text.
// Integers are LEB128 varints; strings a varint length and their UTF-8 bytes.

/// First byte of an encoded event. 0xE0–0xEF are kept for encoded events: another encoding
/// takes another byte there (and [`JOURNAL_FORMAT`] changes with it), so an
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

/// The journal bytes of an event.
pub(crate) fn encode(e: &Event) -> Vec<u8> {
    let text_len: usize = match &e.details {
        Details::Pairs(p) => p
            .iter()
            .map(|(k, v)| {
                k.len()
                    + 4
                    + match v {
                        DetailValue::Str(s) => s.len(),
                        _ => 32,
                    }
            })
            .sum(),
        _ => 128,
    };
    let mut b =
        Vec::with_capacity(text_len + e.ty.len() + e.details_key.len() + e.thread.len() + 40);
    b.push(ENCODED_EVENT);
    put_uint(&mut b, e.id);
    put_uint(&mut b, e.prev);
    put_uint(&mut b, ((e.ts << 1) ^ (e.ts >> 63)) as u64);
    put_str(&mut b, &e.ty);
    put_str(&mut b, &e.details_key);
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
        Details::None => b.push(0),
        Details::Value(v) => {
            b.push(1);
            put_str(&mut b, &v.to_string());
        }
        Details::Pairs(p) => {
            b.push(2);
            put_uint(&mut b, p.len() as u64);
            for (k, v) in p.iter() {
                put_str(&mut b, k);
                match v {
                    DetailValue::Null => b.push(0),
                    DetailValue::Str(s) => {
                        b.push(1);
                        put_str(&mut b, s);
                    }
                    DetailValue::Other(v) => {
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

/// The event an encoded journal entry holds (as `Event::to_event` gives it).
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
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;
    use crate::history::{NOT_TRUNCATED, details, text};
    use crate::store::JournalEntry;

    /// The encoded journal entry decodes to exactly the `HistoryEvent`, and a cut one is refused.
    #[test]
    fn encoded_events_decode_to_the_history_event() {
        for (seq, d) in [
            (
                3,
                details(vec![
                    ("name", Value::String("P".into())),
                    ("output", text(&serde_json::json!({"a": "x\"y"}))),
                    ("outputDetails", NOT_TRUNCATED),
                    ("n", Value::from(2)),
                ]),
            ),
            (u32::MAX, Details::None),
            (
                0,
                Details::Value(Box::new(serde_json::json!({"error": "E"}))),
            ),
        ] {
            let ev = Event {
                id: 4,
                prev: 2,
                ts: 1_700_000_000_123,
                ty: Cow::Borrowed("PassStateExited"),
                details_key: Cow::Borrowed("stateExitedEventDetails"),
                details: d,
                thread: Arc::from("m/0"),
                seq,
            };
            let direct = serde_json::to_value(JournalEntry::Event(ev.to_event())).unwrap();
            let viewed = serde_json::to_value(JournalEntry::of_event(&ev)).unwrap();
            assert_eq!(direct, viewed);
            let back = JournalEntry::of_event(&ev).decode().unwrap();
            assert_eq!(back, JournalEntry::Event(ev.to_event()));
        }
    }
}
