//! Owns: parsing a stream's schedule (a 5-field cron expression or
//! `every <n><unit>`), the next due time after a given instant, and the retry
//! delay after failures (exponential backoff with jitter, capped).
//! Must not: read the clock (every function takes `now`), touch the store.
//!
//! Times are unix seconds (`i64`), UTC. Cron expressions are evaluated in UTC
//! by `croner`, through a small UTC instant type defined here, so no date
//! library beyond `croner` is needed.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The shortest allowed `every` interval, in seconds.
const MIN_EVERY_SECONDS: u64 = 1;
/// The longest allowed `every` interval, in seconds (366 days).
const MAX_EVERY_SECONDS: u64 = 366 * 86_400;

/// The rule quoted when a cron expression is refused.
const CRON_RULE: &str =
    "not a cron expression (5 fields: minute hour day-of-month month day-of-week)";
/// The rule quoted when an `every` form is refused.
const EVERY_RULE: &str = "expected `every <n><unit>` with a whole number n and a unit s, m, h or d \
     (e.g. `every 15m`)";

/// 0001-01-01T00:00:00Z: the earliest instant a cron schedule is evaluated at.
const CRON_MIN_INSTANT: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z: the latest instant a cron schedule is evaluated at.
const CRON_MAX_INSTANT: i64 = 253_402_300_799;

/// A parsed schedule. Times are unix seconds (i64), UTC.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed interval: due `seconds` after the previous instant.
    Every {
        /// The interval, between 1 s and 366 d.
        seconds: u64,
        /// The original text, trimmed.
        text: String,
    },
    /// A 5-field cron expression, evaluated in UTC.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// The original text, trimmed.
        text: String,
    },
}

/// Why a schedule's text was refused. The message quotes the text and states
/// the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

impl Schedule {
    /// "every 15m", "every 30s", "every 2h", "every 1d" (units s, m, h, d;
    /// optional spaces: "every 15 m" ok; case-insensitive "Every"); at least
    /// 1 s, at most 366 d.
    ///
    /// Anything else is a 5-field cron expression (minute hour dom month dow),
    /// parsed by croner (which also takes names such as `MON` and `JAN`, and
    /// the nicknames `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`);
    /// 6/7-field (seconds, year) forms are refused.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError(
                "``: the schedule is empty; expected a 5-field cron expression \
                 (minute hour day-of-month month day-of-week) or `every <n><unit>`"
                    .to_string(),
            ));
        }
        match strip_every(text) {
            Some(rest) => parse_every(text, rest),
            None => parse_cron(text),
        }
    }

    /// The first due instant strictly after `after` (unix seconds). For
    /// `Every`: `after + seconds`. For cron: croner's next occurrence strictly
    /// after, in UTC. `None` if the cron never fires again (e.g. Feb 30), or if
    /// there is no answer in range: for cron, `after` outside years 1..=9999 or
    /// no occurrence before croner's search limit (year 5000); for `Every`,
    /// past `i64::MAX`.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        match self {
            Schedule::Every { seconds, .. } => after.checked_add(i64::try_from(*seconds).ok()?),
            Schedule::Cron { cron, .. } => {
                if !(CRON_MIN_INSTANT..CRON_MAX_INSTANT).contains(&after) {
                    return None;
                }
                let start = DateTime::<Utc>::from_timestamp(after, 0)?;
                let next = cron.find_next_occurrence(&start, false).ok()?.timestamp();
                // croner promises this; keep the contract even if it did not.
                (next > after).then_some(next)
            }
        }
    }

    /// The text form for display (the original, trimmed).
    pub fn as_str(&self) -> &str {
        match self {
            Schedule::Every { text, .. } | Schedule::Cron { text, .. } => text,
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part after a leading, case-insensitive `every`, if there is one.
fn strip_every(text: &str) -> Option<&str> {
    let head = text.get(..5)?;
    if head.eq_ignore_ascii_case("every") {
        text.get(5..)
    } else {
        None
    }
}

/// Parses the `<n><unit>` after `every`; `text` is the whole trimmed text,
/// quoted in errors.
fn parse_every(text: &str, rest: &str) -> Result<Schedule, ScheduleError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(ScheduleError(format!(
            "`{text}`: the interval is missing; {EVERY_RULE}"
        )));
    }
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, unit) = rest.split_at(digits_end);
    let unit = unit.trim();
    let unit_seconds: u64 = match unit.to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(ScheduleError(format!("`{text}`: {EVERY_RULE}"))),
    };
    if digits.is_empty() {
        return Err(ScheduleError(format!("`{text}`: {EVERY_RULE}")));
    }
    // Only ASCII digits remain, so a parse failure means the number is too big.
    let seconds = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_seconds))
        .unwrap_or(u64::MAX);
    if seconds < MIN_EVERY_SECONDS {
        return Err(ScheduleError(format!(
            "`{text}`: the interval must be at least 1 second"
        )));
    }
    if seconds > MAX_EVERY_SECONDS {
        return Err(ScheduleError(format!(
            "`{text}`: the interval must be at most 366 days"
        )));
    }
    Ok(Schedule::Every {
        seconds,
        text: text.to_string(),
    })
}

/// Parses a 5-field cron expression (or a croner nickname such as `@daily`).
fn parse_cron(text: &str) -> Result<Schedule, ScheduleError> {
    let fields = text.split_whitespace().count();
    if !text.starts_with('@') && fields != 5 {
        let extra = if fields == 6 || fields == 7 {
            "; seconds and year fields are not supported"
        } else {
            ""
        };
        return Err(ScheduleError(format!(
            "`{text}`: {CRON_RULE}: it has {fields} field{}{extra}",
            if fields == 1 { "" } else { "s" }
        )));
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    match parser.parse(text) {
        Ok(cron) => Ok(Schedule::Cron {
            cron: Box::new(cron),
            text: text.to_string(),
        }),
        Err(e) => Err(ScheduleError(format!("`{text}`: {CRON_RULE}: {e}"))),
    }
}

/// Backoff for retries of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The full delay before the first retry, in seconds.
    pub base_seconds: u64,
    /// The most the full delay grows to, in seconds.
    pub cap_seconds: u64,
    /// How many retries are made before giving up until the next scheduled time.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 30 s, doubling, capped at 30 min; 5 retries.
    fn default() -> Self {
        Backoff {
            base_seconds: 30,
            cap_seconds: 1_800,
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt` (1 = first retry; 0 is taken as 1):
    /// `full = min(cap, base * 2^(attempt-1))` (saturating), scaled by a jitter
    /// factor in [0.5, 1.0] from `jitter` in [0, 1) (the caller passes rand's
    /// value so tests are deterministic; values outside are clamped, NaN is
    /// taken as 0): `ceil(full * (0.5 + 0.5 * jitter))`, at least 1 s.
    pub fn delay(&self, attempt: u32, jitter: f64) -> u64 {
        let exponent = attempt.saturating_sub(1);
        let growth = 2u64.checked_pow(exponent).unwrap_or(u64::MAX);
        let full = self
            .base_seconds
            .saturating_mul(growth)
            .min(self.cap_seconds);
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let scaled = (full as f64 * (0.5 + 0.5 * jitter)).ceil();
        // `as` saturates for floats; the float form of a huge `full` may round
        // above it, so clamp back.
        (scaled as u64).min(full).max(1)
    }

    /// When retry number `attempt` is due, counting from `now`; `None` when
    /// `attempt` > `max_attempts` (give up until the next scheduled time).
    pub fn retry_at(&self, now: i64, attempt: u32, jitter: f64) -> Option<i64> {
        if attempt > self.max_attempts {
            return None;
        }
        let delay = i64::try_from(self.delay(attempt, jitter)).unwrap_or(i64::MAX);
        Some(now.saturating_add(delay))
    }
}

/// When a run missed while the host was down is due: at most once. Given the
/// stored next due instant and now, returns `(run_now, next_due)`:
/// if `stored_next <= now` → `(true, schedule.next_after(now))` — a host down
/// for ten ticks runs once, not ten times; else `(false, Some(stored_next))`.
/// With no stored instant (never ran): `(true, next_after(now))`.
pub fn catch_up(schedule: &Schedule, stored_next: Option<i64>, now: i64) -> (bool, Option<i64>) {
    match stored_next {
        Some(next) if next > now => (false, Some(next)),
        _ => (true, schedule.next_after(now)),
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
