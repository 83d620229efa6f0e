//! Tests of `schedule`.
use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 2026-01-01T00:00:00Z (a Thursday).
const JAN_1_2026: i64 = 1_767_225_600;
/// 2026-01-01T00:07:00Z.
const JAN_1_2026_0007: i64 = 1_767_226_020;
/// 2026-01-01T00:15:00Z.
const JAN_1_2026_0015: i64 = 1_767_226_500;
/// 2026-01-01T00:30:00Z.
const JAN_1_2026_0030: i64 = 1_767_227_400;
/// 2026-01-04T12:00:00Z (a Sunday).
const JAN_4_2026_1200: i64 = 1_767_528_000;
/// 2026-01-05T03:00:00Z (a Monday).
const JAN_5_2026_0300: i64 = 1_767_582_000;
/// 2026-01-12T03:00:00Z (the Monday after).
const JAN_12_2026_0300: i64 = 1_768_186_800;

fn parse(text: &str) -> Schedule {
    match Schedule::parse(text) {
        Ok(s) => s,
        Err(e) => panic!("`{text}` should parse: {e}"),
    }
}

fn refuse(text: &str) -> String {
    match Schedule::parse(text) {
        Ok(s) => panic!("`{text}` should be refused, got {s:?}"),
        Err(ScheduleError(msg)) => msg,
    }
}

fn every_seconds(s: &Schedule) -> u64 {
    match s {
        Schedule::Every { seconds, .. } => *seconds,
        Schedule::Cron { .. } => panic!("expected Every, got {s:?}"),
    }
}

#[test]
fn every_forms_parse_with_their_seconds() {
    let cases = [
        ("every 15m", 900),
        ("every 30s", 30),
        ("every 2h", 7_200),
        ("every 1d", 86_400),
        ("every 15 m", 900),
        ("Every 15m", 900),
        ("EVERY 2H", 7_200),
        ("every15m", 900),
        ("  every   1 s  ", 1),
        ("every 366d", 366 * 86_400),
        ("every 1440m", 86_400),
    ];
    for (text, seconds) in cases {
        let s = parse(text);
        assert_eq!(every_seconds(&s), seconds, "{text}");
        assert_eq!(s.as_str(), text.trim());
        assert_eq!(s.to_string(), text.trim());
    }
}

#[test]
fn bad_every_forms_are_refused_quoting_the_text() {
    let msg = refuse("every");
    assert!(msg.starts_with("`every`: "), "{msg}");
    assert!(msg.contains("missing"), "{msg}");

    let msg = refuse("every 0s");
    assert_eq!(msg, "`every 0s`: the interval must be at least 1 second");
    let msg = refuse("every 0m");
    assert_eq!(msg, "`every 0m`: the interval must be at least 1 second");

    let msg = refuse("every 5x");
    assert!(
        msg.starts_with("`every 5x`: expected `every <n><unit>`"),
        "{msg}"
    );
    assert!(msg.contains("s, m, h or d"), "{msg}");

    let msg = refuse("every -1m");
    assert!(msg.starts_with("`every -1m`: "), "{msg}");
    assert!(msg.contains("whole number"), "{msg}");

    let msg = refuse("every 400d");
    assert_eq!(msg, "`every 400d`: the interval must be at most 366 days");
    let msg = refuse("every 367d");
    assert!(msg.contains("at most 366 days"), "{msg}");
    let msg = refuse("every 99999999999999999999999s");
    assert!(msg.contains("at most 366 days"), "{msg}");
    let msg = refuse("every 18446744073709551615d");
    assert!(msg.contains("at most 366 days"), "{msg}");

    for text in ["every m", "every 1.5h", "every 15 minutes", "every 15"] {
        let msg = refuse(text);
        assert!(msg.starts_with(&format!("`{text}`: ")), "{msg}");
    }
    // Non-ASCII text must not trip up the prefix check.
    let msg = refuse("évery 5m");
    assert!(msg.starts_with("`évery 5m`: "), "{msg}");
}

#[test]
fn empty_text_is_refused() {
    for text in ["", "   "] {
        let msg = refuse(text);
        assert!(msg.starts_with("``: the schedule is empty"), "{msg}");
    }
}

#[test]
fn cron_with_seconds_or_wrong_field_count_is_refused() {
    let msg = refuse("0 */15 * * * *");
    assert!(msg.starts_with("`0 */15 * * * *`: not a cron expression (5 fields: minute hour day-of-month month day-of-week)"), "{msg}");
    assert!(msg.contains("it has 6 fields"), "{msg}");
    assert!(
        msg.contains("seconds and year fields are not supported"),
        "{msg}"
    );

    let msg = refuse("0 0 12 * * * 2026");
    assert!(msg.contains("it has 7 fields"), "{msg}");
    assert!(msg.contains("seconds"), "{msg}");

    let msg = refuse("*/15 * * *");
    assert_eq!(
        msg,
        "`*/15 * * *`: not a cron expression (5 fields: minute hour day-of-month month \
         day-of-week): it has 4 fields"
    );
    let msg = refuse("hourly");
    assert!(msg.contains("it has 1 field"), "{msg}");
}

#[test]
fn bad_cron_fields_carry_croners_reason() {
    for text in [
        "61 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "a b c d e",
    ] {
        let msg = refuse(text);
        let prefix = format!("`{text}`: {CRON_RULE}: ");
        assert!(msg.starts_with(&prefix), "{msg}");
        assert!(msg.len() > prefix.len(), "croner's reason missing: {msg}");
    }
}

#[test]
fn cron_forms_parse_and_keep_their_text() {
    for text in [
        "*/15 * * * *",
        "0 3 * * 1",
        "0 3 * * MON",
        "0 0 1 JAN *",
        "@daily",
    ] {
        let s = parse(text);
        assert!(matches!(s, Schedule::Cron { .. }), "{text}");
        assert_eq!(s.as_str(), text);
    }
    assert_eq!(parse("  0 3 * * 1 ").as_str(), "0 3 * * 1");
}

#[test]
fn every_fifteen_minutes_cron_next_after() {
    let s = parse("*/15 * * * *");
    assert_eq!(s.next_after(JAN_1_2026_0007), Some(JAN_1_2026_0015));
    assert_eq!(s.next_after(JAN_1_2026_0015 - 1), Some(JAN_1_2026_0015));
    // Strictly after: exactly on a tick gives the next tick.
    assert_eq!(s.next_after(JAN_1_2026_0015), Some(JAN_1_2026_0030));
    assert_eq!(s.next_after(JAN_1_2026), Some(JAN_1_2026 + 900));
    // Across the year boundary: 2025-12-31T23:50:00Z → 2026-01-01T00:00:00Z.
    assert_eq!(s.next_after(JAN_1_2026 - 600), Some(JAN_1_2026));
}

#[test]
fn monday_three_am_across_a_week_boundary() {
    let s = parse("0 3 * * 1");
    // From Sunday noon, the next is Monday 03:00.
    assert_eq!(s.next_after(JAN_4_2026_1200), Some(JAN_5_2026_0300));
    // From Monday 03:00 exactly, the next is a week later.
    assert_eq!(s.next_after(JAN_5_2026_0300), Some(JAN_12_2026_0300));
    assert_eq!(s.next_after(JAN_5_2026_0300 + 1), Some(JAN_12_2026_0300));
    // Names mean the same.
    let named = parse("0 3 * * mon");
    assert_eq!(named.next_after(JAN_4_2026_1200), Some(JAN_5_2026_0300));
}

#[test]
fn cron_that_never_fires_gives_none() {
    // croner accepts days that no month of theirs has; they never fire.
    assert_eq!(parse("0 0 30 2 *").next_after(JAN_1_2026), None);
    assert_eq!(parse("0 0 31 4 *").next_after(JAN_1_2026), None);
}

#[test]
fn cron_leap_day_and_out_of_range_instants() {
    let s = parse("0 0 29 2 *");
    // 2028-02-29T00:00:00Z is the next Feb 29 after 2026-01-01.
    assert_eq!(s.next_after(JAN_1_2026), Some(1_835_395_200));
    // Instants outside years 1..=9999 give None rather than a panic.
    assert_eq!(parse("* * * * *").next_after(i64::MAX), None);
    assert_eq!(parse("* * * * *").next_after(i64::MIN), None);
    assert_eq!(parse("* * * * *").next_after(0), Some(60));
}

#[test]
fn every_next_after_is_after_plus_interval() {
    let s = parse("every 15m");
    assert_eq!(s.next_after(JAN_1_2026_0007), Some(JAN_1_2026_0007 + 900));
    assert_eq!(s.next_after(i64::MAX), None);
    assert_eq!(s.next_after(-900), Some(0));
}

#[test]
fn catch_up_runs_once_after_downtime() {
    let s = parse("*/15 * * * *");
    // Stored next due at 00:15; host back ten ticks later, at 02:52.
    let now = JAN_1_2026_0015 + 10 * 900 + 7 * 60;
    let (run_now, next) = catch_up(&s, Some(JAN_1_2026_0015), now);
    assert!(run_now);
    let next = next.unwrap_or(i64::MIN);
    assert!(next > now);
    // 03:00 on the same day.
    assert_eq!(next, JAN_1_2026 + 3 * 3_600);
    // Having run, the next check with the new stored instant does not run again.
    assert_eq!(catch_up(&s, Some(next), now), (false, Some(next)));
}

#[test]
fn catch_up_due_exactly_now_runs() {
    let s = parse("every 1h");
    assert_eq!(catch_up(&s, Some(1_000), 1_000), (true, Some(4_600)));
}

#[test]
fn catch_up_not_yet_due_returns_the_stored_instant() {
    let s = parse("0 3 * * 1");
    assert_eq!(
        catch_up(&s, Some(JAN_5_2026_0300), JAN_4_2026_1200),
        (false, Some(JAN_5_2026_0300))
    );
}

#[test]
fn catch_up_never_ran_runs_now() {
    let s = parse("0 3 * * 1");
    assert_eq!(
        catch_up(&s, None, JAN_4_2026_1200),
        (true, Some(JAN_5_2026_0300))
    );
}

#[test]
fn backoff_defaults() {
    assert_eq!(
        Backoff::default(),
        Backoff {
            base_seconds: 30,
            cap_seconds: 1_800,
            max_attempts: 5
        }
    );
}

#[test]
fn backoff_delays_for_attempts_one_to_six() {
    let b = Backoff::default();
    // Full delays: 30, 60, 120, 240, 480, 960.
    let low: Vec<u64> = (1..=6).map(|a| b.delay(a, 0.0)).collect();
    assert_eq!(low, [15, 30, 60, 120, 240, 480]);
    // ceil(full * 0.9995).
    let high: Vec<u64> = (1..=6).map(|a| b.delay(a, 0.999)).collect();
    assert_eq!(high, [30, 60, 120, 240, 480, 960]);
    assert_eq!(b.delay(3, 0.5), 90);
    assert_eq!(b.delay(0, 0.0), b.delay(1, 0.0));
}

#[test]
fn backoff_cap_is_respected() {
    let b = Backoff::default();
    // 30 * 2^6 = 1920 > 1800.
    assert_eq!(b.delay(7, 0.0), 900);
    assert_eq!(b.delay(7, 0.999), 1_800);
    assert_eq!(b.delay(20, 0.999), 1_800);
    let tight = Backoff {
        base_seconds: 100,
        cap_seconds: 50,
        max_attempts: 3,
    };
    assert_eq!(tight.delay(1, 0.999), 50);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..1_000 {
        let attempt = rng.random_range(1..=40);
        let jitter: f64 = rng.random();
        let d = b.delay(attempt, jitter);
        let full = (30u64 << (attempt - 1).min(20)).min(1_800);
        assert!(d >= full.div_ceil(2) && d <= full, "{attempt} {jitter} {d}");
    }
}

#[test]
fn backoff_huge_attempt_saturates() {
    let b = Backoff::default();
    assert_eq!(b.delay(u32::MAX, 0.999), 1_800);
    assert_eq!(b.delay(65, 0.0), 900);
    let uncapped = Backoff {
        base_seconds: u64::MAX,
        cap_seconds: u64::MAX,
        max_attempts: u32::MAX,
    };
    assert_eq!(uncapped.delay(u32::MAX, 7.0), u64::MAX);
    assert_eq!(uncapped.retry_at(10, u32::MAX, 0.5), Some(i64::MAX));
    // Odd jitter values are clamped, never panicking or exceeding the cap.
    assert_eq!(b.delay(1, f64::NAN), 15);
    assert_eq!(b.delay(1, -3.0), 15);
    assert_eq!(b.delay(1, 7.0), 30);
    let zero = Backoff {
        base_seconds: 0,
        cap_seconds: 0,
        max_attempts: 1,
    };
    assert_eq!(zero.delay(1, 0.0), 1);
}

#[test]
fn retry_at_gives_up_after_max_attempts() {
    let b = Backoff::default();
    assert_eq!(b.retry_at(JAN_1_2026, 1, 0.0), Some(JAN_1_2026 + 15));
    assert_eq!(b.retry_at(JAN_1_2026, 5, 0.999), Some(JAN_1_2026 + 480));
    assert_eq!(b.retry_at(JAN_1_2026, 6, 0.0), None);
    assert_eq!(b.retry_at(JAN_1_2026, u32::MAX, 0.0), None);
}
