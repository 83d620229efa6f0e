//! Google Calendar events mapped to the canonical `CalendarEvent` records this connector
//! ingests, and their idempotency keys. A key names the calendar, the event and its last
//! update, so an unchanged event is a duplicate on the next run and a changed one is
//! stored as a new version. Must not call the host; events without an id map to `None`.

use serde_json::{Value, json};

fn text(v: &Value, path: &[&str]) -> Value {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    match cur {
        Value::String(s) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// A start or end: `dateTime` for timed events, `date` for all-day ones.
fn when(v: &Value, field: &str) -> Value {
    let t = &v[field];
    json!({
        "dateTime": text(t, &["dateTime"]),
        "date": text(t, &["date"]),
        "timeZone": text(t, &["timeZone"]),
    })
}

/// A Calendar API `Event` of `calendar_id` as a canonical `CalendarEvent` record.
/// Attendees are counted, not copied.
pub fn event(calendar_id: &str, e: &Value) -> Option<Value> {
    let id = e["id"].as_str().filter(|s| !s.is_empty())?;
    let attendees = e["attendees"].as_array().map_or(0, Vec::len);
    Some(json!({
        "provider": "google",
        "calendarId": calendar_id,
        "id": id,
        "iCalUid": text(e, &["iCalUID"]),
        "status": text(e, &["status"]),
        "summary": text(e, &["summary"]),
        "location": text(e, &["location"]),
        "start": when(e, "start"),
        "end": when(e, "end"),
        "allDay": e["start"].get("date").is_some() && e["start"].get("dateTime").is_none(),
        "recurringEventId": text(e, &["recurringEventId"]),
        "organizerEmail": text(e, &["organizer", "email"]),
        "attendeeCount": attendees,
        "htmlLink": text(e, &["htmlLink"]),
        "createdAt": text(e, &["created"]),
        "updatedAt": text(e, &["updated"]),
    }))
}

/// The idempotency key of a canonical event: calendar, id and last update.
pub fn event_key(record: &Value, _index: usize) -> String {
    format!(
        "google:event:{}:{}:{}",
        record["calendarId"].as_str().unwrap_or_default(),
        record["id"].as_str().unwrap_or_default(),
        record["updatedAt"].as_str().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_and_all_day_events() {
        let timed = event(
            "primary",
            &json!({
                "id": "e1", "summary": "Standup", "updated": "2026-01-02T00:00:00.000Z",
                "start": { "dateTime": "2026-01-05T09:00:00Z" },
                "end": { "dateTime": "2026-01-05T09:15:00Z" },
                "attendees": [{ "email": "a@example.com" }, { "email": "b@example.com" }]
            }),
        )
        .unwrap();
        assert_eq!(timed["allDay"], false);
        assert_eq!(timed["attendeeCount"], 2);
        assert!(!timed.to_string().contains("a@example.com"));
        assert_eq!(
            event_key(&timed, 0),
            "google:event:primary:e1:2026-01-02T00:00:00.000Z"
        );
        let all_day = event(
            "c",
            &json!({ "id": "e2", "start": { "date": "2026-01-05" } }),
        )
        .unwrap();
        assert_eq!(all_day["allDay"], true);
        assert_eq!(all_day["start"]["date"], "2026-01-05");
    }

    #[test]
    fn events_without_id_are_not_mapped() {
        assert!(event("primary", &json!({ "summary": "x" })).is_none());
    }
}
