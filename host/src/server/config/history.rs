//! What the invocation history keeps, for `keyway serve`: the file's `[history]` table
//! over [`HistoryRetention`]'s defaults (thirty days, a million rows).
//!
//! Owns: [`FileHistory`] and the bounds on its values.
//! Must not: delete anything itself (the store's history writer sweeps).

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use crate::store::HistoryRetention;

/// Longest retention that may be asked for: ten years.
const MAX_DAYS: u64 = 3650;
/// Fewest rows that may be kept: a cap below this would hide the latest calls.
const MIN_ROWS: u64 = 1_000;

/// The file's `[history]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileHistory {
    /// Days an invocation row is kept (default 30).
    pub retention_days: Option<u64>,
    /// Rows kept at most; the oldest go first (default 1,000,000).
    pub max_rows: Option<u64>,
}

pub(super) fn merge(file: &FileHistory) -> anyhow::Result<HistoryRetention> {
    let defaults = HistoryRetention::default();
    let max_age = match file.retention_days {
        None => defaults.max_age,
        Some(days) if (1..=MAX_DAYS).contains(&days) => Duration::from_secs(days * 24 * 3600),
        Some(days) => bail!("history.retention_days must be 1 to {MAX_DAYS} (got {days})"),
    };
    let max_rows = match file.max_rows {
        None => defaults.max_rows,
        Some(rows) if rows >= MIN_ROWS => rows,
        Some(rows) => bail!("history.max_rows must be at least {MIN_ROWS} (got {rows})"),
    };
    Ok(HistoryRetention { max_age, max_rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_over_defaults_and_bounds_named() {
        assert_eq!(
            merge(&FileHistory::default()).unwrap(),
            HistoryRetention::default()
        );
        let set = merge(&FileHistory {
            retention_days: Some(7),
            max_rows: Some(5_000),
        })
        .unwrap();
        assert_eq!(set.max_age, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(set.max_rows, 5_000);
        for (days, rows, named) in [
            (Some(0), None, "history.retention_days"),
            (Some(MAX_DAYS + 1), None, "history.retention_days"),
            (None, Some(10), "history.max_rows"),
        ] {
            let err = merge(&FileHistory {
                retention_days: days,
                max_rows: rows,
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(named), "{err}");
        }
    }
}
