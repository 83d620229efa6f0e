//! The stream scheduler's settings for `keyway serve`: whether it runs and how many runs
//! of one connector's streams may go at once. From the file's `[streams]` table, then
//! `--no-streams` and `--streams-per-connector` (or their environment variables), then
//! [`SchedulerOptions`]'s defaults.
//!
//! Owns: [`FileStreams`] and the checks on these values.
//! Must not: start the scheduler (`server/mod.rs` does) or decide what is due
//! (`services/schedule.rs`).

use anyhow::bail;
use serde::Deserialize;

use crate::services::SchedulerOptions;

/// Most runs of one connector's streams at once that may be asked for.
const MAX_PER_CONNECTOR: usize = 64;

/// The file's `[streams]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileStreams {
    /// Run the scheduler (default true).
    pub enabled: Option<bool>,
    /// Most runs of one connector's streams at once (default 2).
    pub per_connector: Option<usize>,
    /// How long a stream's run lease lasts without a heartbeat, on PostgreSQL: how long a
    /// replica that died mid-run blocks its stream (default 30).
    pub lease_seconds: Option<u64>,
}

/// The scheduler's options, or `None` when it is switched off.
pub(super) fn merge(
    file: &FileStreams,
    disabled: bool,
    per_connector: Option<usize>,
) -> anyhow::Result<Option<SchedulerOptions>> {
    if disabled || file.enabled == Some(false) {
        return Ok(None);
    }
    let defaults = SchedulerOptions::default();
    let per_connector = per_connector
        .or(file.per_connector)
        .unwrap_or(defaults.per_connector);
    if per_connector == 0 || per_connector > MAX_PER_CONNECTOR {
        bail!(
            "runs per connector (streams.per_connector, --streams-per-connector) must be 1 to \
             {MAX_PER_CONNECTOR} (got {per_connector})"
        );
    }
    Ok(Some(SchedulerOptions {
        per_connector,
        ..defaults
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file_over_defaults_and_bounds() {
        let file = FileStreams {
            enabled: None,
            per_connector: Some(4),
            lease_seconds: None,
        };
        assert_eq!(merge(&file, false, None).unwrap().unwrap().per_connector, 4);
        assert_eq!(
            merge(&file, false, Some(1)).unwrap().unwrap().per_connector,
            1
        );
        assert!(merge(&file, true, None).unwrap().is_none());
        let off = FileStreams {
            enabled: Some(false),
            per_connector: None,
            lease_seconds: None,
        };
        assert!(merge(&off, false, None).unwrap().is_none());
        let err = merge(&FileStreams::default(), false, Some(0)).unwrap_err();
        assert!(err.to_string().contains("--streams-per-connector"), "{err}");
    }
}
