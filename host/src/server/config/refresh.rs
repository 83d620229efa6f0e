//! The background refresher's settings for `keyway serve`: how often it passes over the
//! connections and how far ahead of expiry it refreshes a token. From the file's
//! `[refresh]` table, then `--refresh-interval-seconds` and `--refresh-ahead-seconds`
//! (or their environment variables), then [`BackgroundOptions`]'s defaults.
//!
//! Owns: [`FileRefresh`] and the checks on these two values.
//! Must not: start the refresher (`server/mod.rs` does) or change what a pass does
//! (`oauth/background.rs`).

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use crate::oauth::background::BackgroundOptions;

/// The longest time between two passes: a day.
const MAX_INTERVAL_SECONDS: u64 = 24 * 3600;
/// The widest refresh-ahead window: thirty days.
const MAX_AHEAD_SECONDS: u64 = 30 * 24 * 3600;

const INTERVAL: &str = "refresh interval (refresh.interval_seconds, --refresh-interval-seconds)";
const AHEAD: &str = "refresh-ahead window (refresh.ahead_seconds, --refresh-ahead-seconds)";

/// The file's `[refresh]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileRefresh {
    /// Seconds between two passes of the background refresher.
    pub interval_seconds: Option<u64>,
    /// A token expiring within this many seconds is refreshed by a pass.
    pub ahead_seconds: Option<u64>,
    /// How long a replica holds a connection's refresh lease at most: how long one that
    /// died mid-refresh keeps the others waiting. It must outlast the provider's slowest
    /// token answer (with retries), or two replicas could refresh at once.
    pub lease_seconds: Option<u64>,
}

/// The refresher's options: `interval` and `ahead` (flags or environment) over the file,
/// over the defaults. Both must be positive and bounded, and the window at least the
/// interval, or a token could expire between two passes.
pub(super) fn merge(
    file: &FileRefresh,
    interval: Option<u64>,
    ahead: Option<u64>,
) -> anyhow::Result<BackgroundOptions> {
    let defaults = BackgroundOptions::default();
    let interval = interval
        .or(file.interval_seconds)
        .unwrap_or(defaults.interval.as_secs());
    let ahead = ahead
        .or(file.ahead_seconds)
        .unwrap_or(defaults.refresh_ahead.as_secs());
    bounded(interval, MAX_INTERVAL_SECONDS, INTERVAL)?;
    bounded(ahead, MAX_AHEAD_SECONDS, AHEAD)?;
    if ahead < interval {
        bail!(
            "{AHEAD} ({ahead} s) must be at least the {INTERVAL} ({interval} s), or a token \
             could expire between two passes"
        );
    }
    Ok(BackgroundOptions {
        interval: Duration::from_secs(interval),
        refresh_ahead: Duration::from_secs(ahead),
        ..defaults
    })
}

/// The shortest lease that may be asked for, and the longest.
const LEASE_BOUNDS: std::ops::RangeInclusive<u64> = 2..=3600;

/// A lease's length from the file, within [`LEASE_BOUNDS`], or `default`.
pub(super) fn lease_seconds(
    given: Option<u64>,
    default: std::time::Duration,
    what: &str,
) -> anyhow::Result<std::time::Duration> {
    let Some(seconds) = given else {
        return Ok(default);
    };
    if !LEASE_BOUNDS.contains(&seconds) {
        anyhow::bail!(
            "{what} must be {} to {} seconds (got {seconds})",
            LEASE_BOUNDS.start(),
            LEASE_BOUNDS.end()
        );
    }
    Ok(std::time::Duration::from_secs(seconds))
}

fn bounded(seconds: u64, max: u64, what: &str) -> anyhow::Result<()> {
    if seconds == 0 {
        bail!("{what} must be greater than 0 seconds (got 0)");
    }
    if seconds > max {
        bail!("{what} must be at most {max} seconds (got {seconds})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_refreshers_own() {
        let o = merge(&FileRefresh::default(), None, None).unwrap();
        let d = BackgroundOptions::default();
        assert_eq!(o.interval, d.interval);
        assert_eq!(o.refresh_ahead, d.refresh_ahead);
        assert_eq!(o.idle_exercise_after, d.idle_exercise_after);
    }

    #[test]
    fn a_lease_is_bounded_and_named() {
        let default = Duration::from_secs(120);
        assert_eq!(lease_seconds(None, default, "x").unwrap(), default);
        assert_eq!(
            lease_seconds(Some(5), default, "x").unwrap(),
            Duration::from_secs(5)
        );
        for bad in [0, 1, 3601] {
            let err = lease_seconds(Some(bad), default, "refresh lease (refresh.lease_seconds)")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("refresh.lease_seconds") && err.contains("2 to 3600"),
                "{err}"
            );
        }
    }

    #[test]
    fn flags_override_the_file() {
        let file = FileRefresh {
            interval_seconds: Some(30),
            ahead_seconds: Some(600),
            lease_seconds: None,
        };
        let o = merge(&file, Some(5), None).unwrap();
        assert_eq!(o.interval, Duration::from_secs(5));
        assert_eq!(o.refresh_ahead, Duration::from_secs(600));
    }

    #[test]
    fn the_file_table_is_read_and_refuses_unknown_keys() {
        let file: super::super::FileConfig =
            toml::from_str("[refresh]\ninterval_seconds = 2\nahead_seconds = 10\n").unwrap();
        let o = merge(&file.refresh, None, None).unwrap();
        assert_eq!(o.interval, Duration::from_secs(2));
        assert_eq!(o.refresh_ahead, Duration::from_secs(10));
        let err = toml::from_str::<super::super::FileConfig>("[refresh]\ninterval = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("interval"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = |interval, ahead| {
            merge(&FileRefresh::default(), interval, ahead)
                .unwrap_err()
                .to_string()
        };
        let e = err(Some(0), None);
        assert!(
            e.contains("refresh.interval_seconds") && e.contains("got 0"),
            "{e}"
        );
        let e = err(None, Some(0));
        assert!(
            e.contains("refresh.ahead_seconds") && e.contains("got 0"),
            "{e}"
        );
        let e = err(Some(MAX_INTERVAL_SECONDS + 1), Some(MAX_AHEAD_SECONDS));
        assert!(
            e.contains("--refresh-interval-seconds") && e.contains("at most"),
            "{e}"
        );
        let e = err(None, Some(u64::MAX));
        assert!(
            e.contains("--refresh-ahead-seconds") && e.contains("at most"),
            "{e}"
        );
        let e = err(Some(600), Some(300));
        assert!(
            e.contains("(300 s) must be at least") && e.contains("(600 s)"),
            "{e}"
        );
    }
}
