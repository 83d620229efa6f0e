//! `/sync/events`: paging with `pageToken`/`nextPageToken`, the calendar setting
//! (default `primary`, percent-encoded in the path), canonical records with idempotency
//! keys, an idempotent re-run, and rate limits surfaced with their hint.

use crate::common::*;
use keyway_testing::{MockResponse, OAuthState};
use serde_json::json;

#[test]
fn pages_through_the_primary_calendar_and_a_rerun_imports_nothing_new() {
    let rt = connected();
    queue_two_event_pages(&rt, PRIMARY_EVENTS_URL);

    let first = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(first.status, 200, "{}", first.text());
    let body = first.json();
    assert_eq!(body["stream"], "events");
    assert_eq!(body["pages"], 2);
    assert_eq!(body["imported"], 3);
    assert_eq!(body["duplicates"], 0);
    assert_eq!(body["complete"], true);
    rt.http().assert_all_used();

    let calls = rt.ingest().calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.entity == "CalendarEvent"));
    assert!(calls.iter().all(|c| c.stream.as_deref() == Some("events")));
    assert_eq!(
        calls[0].keys,
        vec![
            "google:event:primary:ev1:2026-02-10T10:00:00.000Z",
            "google:event:primary:ev2:2026-02-11T10:00:00.000Z"
        ]
    );
    let records = rt.ingest().records();
    assert_eq!(records.len(), 3);
    let ev1 = records.iter().find(|r| r.payload["id"] == "ev1").unwrap();
    assert_eq!(ev1.payload["calendarId"], "primary");
    assert_eq!(ev1.payload["start"]["dateTime"], "2026-03-02T09:00:00Z");
    assert_eq!(ev1.payload["attendeeCount"], 2);
    assert_eq!(ev1.payload["allDay"], false);
    assert!(!ev1.payload.to_string().contains("bob@acme.example"));
    let ev3 = records.iter().find(|r| r.payload["id"] == "ev3").unwrap();
    assert_eq!(ev3.payload["allDay"], true);

    queue_two_event_pages(&rt, PRIMARY_EVENTS_URL);
    let second = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["pages"], 2);
    assert_eq!(second.json()["imported"], 0);
    assert_eq!(second.json()["duplicates"], 3);
    assert_eq!(rt.ingest().records().len(), 3);
    rt.http().assert_all_used();
}

#[test]
fn the_calendar_setting_is_percent_encoded_in_the_path() {
    let rt = builder()
        .setting("calendar_id", "en.usa#holiday@group.v.calendar.google.com")
        .oauth(OAuthState::connected("ya29.access-token-1"))
        .build()
        .unwrap();
    let url = "https://www.googleapis.com/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com/events?maxResults=250";
    queue_two_event_pages(&rt, url);

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["imported"], 3);
    assert!(rt.http().unexpected().is_empty());
    rt.http().assert_all_used();
    assert_eq!(
        rt.ingest().calls()[0].keys[0],
        "google:event:en.usa#holiday@group.v.calendar.google.com:ev1:2026-02-10T10:00:00.000Z"
    );
}

#[test]
fn an_unknown_calendar_is_not_found() {
    let rt = builder()
        .setting("calendar_id", "nobody@acme.example")
        .oauth(OAuthState::connected("ya29.access-token-1"))
        .build()
        .unwrap();
    rt.http().respond_once(
        "GET",
        "https://www.googleapis.com/calendar/v3/calendars/nobody%40acme.example/events?*",
        MockResponse::json(404, google_error(404, "notFound")),
    );

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 404, "{}", res.text());
    assert_eq!(res.json()["error"]["code"], "not_found");
}

#[test]
fn a_429_is_a_provider_error_with_the_retry_hint_and_progress() {
    let rt = connected();
    rt.http().get_json_once(
        PRIMARY_EVENTS_URL,
        json!({ "items": [event("ev1", "2026-02-10T10:00:00.000Z")], "nextPageToken": "p2" }),
    );
    rt.http().respond_once(
        "GET",
        &format!("{PRIMARY_EVENTS_URL}&pageToken=p2"),
        MockResponse::json(429, google_error(429, "rateLimitExceeded")).header("Retry-After", "30"),
    );

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("30"));
    let error = &res.json()["error"];
    assert_eq!(error["code"], "provider_error");
    assert_eq!(error["details"]["providerStatus"], 429);
    assert_eq!(error["details"]["retryAfterSeconds"], 30);
    assert_eq!(error["details"]["progress"]["imported"], 1);
    assert_eq!(rt.ingest().records().len(), 1);
    assert_eq!(rt.token_requests(), 0);
    assert!(!res.text().contains("request detail"));
}

#[test]
fn a_403_usage_limit_is_treated_as_a_rate_limit() {
    let rt = connected();
    rt.http().respond_once(
        "GET",
        PRIMARY_EVENTS_URL,
        MockResponse::json(403, google_error(403, "userRateLimitExceeded")),
    );

    let res = rt.call("POST", "/sync/events", json!({})).unwrap();

    assert_eq!(res.status, 502, "{}", res.text());
    let error = &res.json()["error"];
    assert_eq!(error["code"], "provider_error");
    assert_eq!(error["details"]["providerStatus"], 403);
    assert_eq!(
        error["details"]["providerCodes"],
        json!(["userRateLimitExceeded"])
    );
    assert!(error["message"].as_str().unwrap().contains("rate limiting"));
}
