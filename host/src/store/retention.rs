//! How long the invocation history is kept: rows older than the retention age, and the
//! oldest rows past the row cap, are deleted by the history writer in bounded sweeps, so
//! a busy server's database does not grow for ever.
//!
//! Owns: [`HistoryRetention`] and the sweep's SQL.
//! Must not: delete anything but invocation rows, or hold the write lock for an unbounded
//! time (a sweep deletes at most [`SWEEP_CHUNK`] rows; the writer comes back sooner when
//! a sweep was full).

use std::time::Duration;

use super::db::{Db, DbError, OptionalExtension, params};

/// What the invocation history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRetention {
    /// Rows older than this are deleted.
    pub max_age: Duration,
    /// Past this many rows, the oldest are deleted.
    pub max_rows: u64,
}

impl Default for HistoryRetention {
    /// Thirty days, and a million rows (a few hundred MiB at most).
    fn default() -> Self {
        HistoryRetention {
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_rows: 1_000_000,
        }
    }
}

/// Most rows one sweep deletes.
pub(crate) const SWEEP_CHUNK: usize = 20_000;
/// How often the writer sweeps when the last sweep found little to do. A sweep with
/// nothing to delete is two index look-ups, so this can be short.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How soon the writer sweeps again after a full sweep (a backlog, or a flood of calls):
/// at its next commit, so deleting keeps ahead of any rate of calls.
pub(crate) const SWEEP_AGAIN: Duration = Duration::ZERO;

/// Deletes up to [`SWEEP_CHUNK`] rows that are past `retention` at `now_ms`: first those
/// past the row cap, oldest written first, then those past the age. Returns how many
/// rows went.
///
/// Rows get increasing rowids as they are written, so the newest `max_rows` rows are
/// those above the highest rowid less `max_rows` (fewer, when rows were deleted with
/// their connection): finding the cut is one index look-up, not a count.
pub(crate) fn sweep(conn: &Db, retention: HistoryRetention, now_ms: i64) -> Result<usize, DbError> {
    let newest: Option<i64> = conn
        .query_row("SELECT max(rowid) FROM invocations", (), |r| r.get(0))
        .optional()?
        .flatten();
    let keep = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
    let mut deleted = 0;
    if let Some(newest) = newest
        && newest > keep
    {
        deleted += conn.execute(
            "DELETE FROM invocations WHERE rowid IN (
                SELECT rowid FROM invocations WHERE rowid <= ?1 ORDER BY rowid LIMIT ?2)",
            params![newest - keep, SWEEP_CHUNK as i64],
        )?;
    }
    let left = SWEEP_CHUNK - deleted.min(SWEEP_CHUNK);
    if left > 0 {
        let age_ms = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
        deleted += conn.execute(
            "DELETE FROM invocations WHERE rowid IN (
                SELECT rowid FROM invocations WHERE started_at_ms < ?1
                ORDER BY started_at_ms LIMIT ?2)",
            params![now_ms.saturating_sub(age_ms), left as i64],
        )?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::invocations::{insert_invocation, sample_record as row};
    use crate::store::{Store, now_unix_ms};

    fn ids(store: &Store) -> Vec<String> {
        let conn = store.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM invocations ORDER BY started_at_ms")
            .unwrap();
        stmt.query_map((), |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn old_rows_and_rows_past_the_cap_go_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let day = 24 * 3600 * 1000;
        let now = 100 * day;
        for (id, t) in [
            ("a", now - 40 * day),
            ("b", now - 31 * day),
            ("c", now - 2 * day),
        ] {
            insert_invocation(&store.conn(), &row(id, t)).unwrap();
        }
        for i in 0..5 {
            insert_invocation(&store.conn(), &row(&format!("n{i}"), now - 1000 + i)).unwrap();
        }
        let keep_all_rows = HistoryRetention {
            max_rows: 1_000,
            ..HistoryRetention::default()
        };
        assert_eq!(sweep(&store.conn(), keep_all_rows, now).unwrap(), 2);
        assert_eq!(ids(&store), ["c", "n0", "n1", "n2", "n3", "n4"]);
        let four_rows = HistoryRetention {
            max_rows: 4,
            ..HistoryRetention::default()
        };
        assert_eq!(sweep(&store.conn(), four_rows, now).unwrap(), 2);
        assert_eq!(ids(&store), ["n1", "n2", "n3", "n4"]);
        assert_eq!(
            sweep(&store.conn(), four_rows, now).unwrap(),
            0,
            "nothing left to do"
        );
    }

    #[test]
    fn the_writer_sweeps_when_it_first_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.set_history_retention(HistoryRetention {
            max_age: Duration::from_secs(3600),
            max_rows: 1_000,
        });
        let now = now_unix_ms();
        insert_invocation(&store.conn(), &row("stale", now - 2 * 3600 * 1000)).unwrap();
        store.record_invocation(row("fresh", now)).unwrap();
        store.flush_history();
        assert_eq!(ids(&store), ["fresh"]);
    }
}
