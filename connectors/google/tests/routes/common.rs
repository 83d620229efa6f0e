//! Shared fixtures: a runtime for a seeded grant, Google's URLs and canned answers.

use keyway_testing::{MockResponse, OAuthState, TestRuntime};
use serde_json::{Value, json};

pub const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
pub const PRIMARY_EVENTS_URL: &str =
    "https://www.googleapis.com/calendar/v3/calendars/primary/events?maxResults=250";

pub const CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

pub fn builder() -> keyway_testing::TestRuntimeBuilder {
    TestRuntime::builder(env!("CARGO_MANIFEST_DIR")).connection("acme-google")
}

pub fn runtime(oauth: OAuthState) -> TestRuntime {
    builder().oauth(oauth).build().unwrap()
}

pub fn connected() -> TestRuntime {
    runtime(OAuthState::connected("ya29.access-token-1"))
}

pub fn userinfo() -> Value {
    json!({
        "sub": "110248495921238986420",
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "email": "ada@acme.example",
        "email_verified": true,
        "picture": "https://lh3.googleusercontent.com/a/photo",
        "hd": "acme.example"
    })
}

/// A Google API error body, as the Calendar API sends it.
pub fn google_error(status: u16, reason: &str) -> Value {
    json!({
        "error": {
            "code": status,
            "message": "request detail",
            "errors": [{ "domain": "global", "reason": reason, "message": "request detail" }]
        }
    })
}

pub fn unauthorized() -> MockResponse {
    MockResponse::json(401, google_error(401, "authError"))
}

pub fn event(id: &str, updated: &str) -> Value {
    json!({
        "kind": "calendar#event",
        "etag": "\"3181161784712000\"",
        "id": id,
        "status": "confirmed",
        "htmlLink": format!("https://www.google.com/calendar/event?eid={id}"),
        "created": "2026-02-01T08:00:00.000Z",
        "updated": updated,
        "summary": format!("Meeting {id}"),
        "organizer": { "email": "ada@acme.example" },
        "start": { "dateTime": "2026-03-02T09:00:00Z", "timeZone": "UTC" },
        "end": { "dateTime": "2026-03-02T09:30:00Z", "timeZone": "UTC" },
        "attendees": [{ "email": "bob@acme.example" }, { "email": "ada@acme.example" }],
        "iCalUID": format!("{id}@google.com")
    })
}

/// Queues two pages of events for `events_url`: two events and a page token, then one
/// all-day event and no token.
pub fn queue_two_event_pages(rt: &TestRuntime, events_url: &str) {
    rt.http().get_json_once(
        events_url,
        json!({
            "kind": "calendar#events",
            "items": [event("ev1", "2026-02-10T10:00:00.000Z"), event("ev2", "2026-02-11T10:00:00.000Z")],
            "nextPageToken": "tok/2=="
        }),
    );
    rt.http().get_json_once(
        &format!("{events_url}&pageToken=tok%2F2%3D%3D"),
        json!({
            "kind": "calendar#events",
            "items": [{
                "id": "ev3", "status": "confirmed", "summary": "Holiday",
                "updated": "2026-02-12T10:00:00.000Z",
                "start": { "date": "2026-03-10" }, "end": { "date": "2026-03-11" }
            }],
            "nextSyncToken": "sync-1"
        }),
    );
}
