//! Time as the API and ASL show it: epoch seconds (`creationDate`, event `timestamp`) and
//! ISO 8601 (`$$.Execution.StartTime`, Wait `Timestamp`).

use serde_json::Value;

/// Epoch milliseconds as the API's epoch seconds: a whole number when it is one.
pub fn epoch_seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

/// Epoch milliseconds as ISO 8601 with milliseconds, in UTC (`2024-01-01T00:00:00.000Z`).
pub(crate) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// An ISO 8601 date-time in the extended format AWS wants (with a `T`; chrono would also take a
/// space), as epoch milliseconds.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    if !s.contains('T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips_and_needs_the_t() {
        let ms = 1_700_000_000_123;
        assert_eq!(iso(ms), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_iso(&iso(ms)), Some(ms));
        assert_eq!(parse_iso("2023-11-14 22:13:20Z"), None);
        assert_eq!(epoch_seconds(2000), Value::from(2));
        assert_eq!(epoch_seconds(2500), Value::from(2.5));
    }
}
