//! Streams: each (connection, stream)'s state and the history of its runs.
//!
//! Owns: the `stream_state` and `stream_runs` tables and the one transaction that
//! commits a page of records with the cursor that covers them
//! ([`Store::commit_stream_page`]). The run lock is `stream_lock.rs`'s.
//! Must not: decide when a stream is due (the scheduler does) or validate records.

use std::collections::HashSet;

use super::db::{DbError, Dialect, OptionalExtension, Row, params};

use super::connection_state::clip_error;
use super::records::{RecordTarget, RecordWrite, insert_in};
use super::{Store, StoreError, now_unix, now_unix_ms};

/// What an interrupted run's row says.
const INTERRUPTED: &str = "the process running it stopped before it finished";

/// One (connection, stream)'s state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStateRow {
    pub connection: String,
    pub stream: String,
    /// The cursor last checkpointed; `None` before the first checkpoint, after a reset or
    /// after a `full` stream finished.
    pub cursor: Option<String>,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Unix seconds of the next scheduled run.
    pub next_run_at: Option<i64>,
    /// Unix seconds of the next retry of a failed run.
    pub retry_at: Option<i64>,
    /// Failed runs in a row.
    pub attempts: u32,
}

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// Its process stopped (killed, crashed) before it finished.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// One run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRunRow {
    pub id: String,
    pub connection: String,
    pub stream: String,
    /// `schedule`, `retry`, `resume` or `manual`.
    pub trigger: String,
    pub status: RunStatus,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// Batches ingested and committed.
    pub pages: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub error: Option<String>,
    /// The cursor the run started from.
    pub start_cursor: Option<String>,
    /// The cursor of its last checkpoint.
    pub checkpoint: Option<String>,
}

/// What a commit does to the stream's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CursorWrite<'a> {
    Keep,
    Set(&'a str),
    Clear,
}

/// One page of a stream run: the records ingested since the last checkpoint, the cursor
/// that covers them, and the counters they add to the run.
#[derive(Debug)]
pub(crate) struct PageWrite<'a> {
    pub connection: &'a str,
    pub stream: &'a str,
    pub run_id: &'a str,
    pub batches: Vec<(RecordTarget<'a>, Vec<RecordWrite<'a>>)>,
    pub cursor: CursorWrite<'a>,
    /// Batches the page holds (including ones whose records were all duplicates).
    pub pages: u32,
    /// Records found duplicate before the commit (never buffered).
    pub duplicates_seen: u32,
    /// Items the guest handed over that failed validation.
    pub failed: u32,
}

/// Filters for reading runs.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub connection: Option<String>,
    pub stream: Option<String>,
    pub limit: u32,
    /// The `next` of the page before.
    pub before: Option<super::PageCursor>,
}

const STATE_COLUMNS: &str =
    "connection, stream, cursor, paused, pause_reason, next_run_at, retry_at, attempts";
const RUN_COLUMNS: &str = "id, connection, stream, trigger, status, started_at_ms, \
     finished_at_ms, pages, imported, duplicates, failed, error, start_cursor, checkpoint";

fn state_row(r: &Row<'_>) -> Result<StreamStateRow, DbError> {
    Ok(StreamStateRow {
        connection: r.get(0)?,
        stream: r.get(1)?,
        cursor: r.get(2)?,
        paused: r.get::<_, i64>(3)? != 0,
        pause_reason: r.get(4)?,
        next_run_at: r.get(5)?,
        retry_at: r.get(6)?,
        attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
    })
}

fn run_row(r: &Row<'_>) -> Result<StreamRunRow, DbError> {
    let count =
        |i: usize| -> Result<u64, DbError> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
    Ok(StreamRunRow {
        id: r.get(0)?,
        connection: r.get(1)?,
        stream: r.get(2)?,
        trigger: r.get(3)?,
        status: RunStatus::parse(&r.get::<_, String>(4)?),
        started_at_ms: r.get(5)?,
        finished_at_ms: r.get(6)?,
        pages: count(7)?,
        imported: count(8)?,
        duplicates: count(9)?,
        failed: count(10)?,
        error: r.get(11)?,
        start_cursor: r.get(12)?,
        checkpoint: r.get(13)?,
    })
}

const ENSURE_STATE: &str = "INSERT INTO stream_state (connection, stream, updated_at)
     VALUES (?1, ?2, ?3) ON CONFLICT (connection, stream) DO NOTHING";

impl Store {
    /// Starts run `run_id` of a stream whose lock the caller holds: a run of it still
    /// marked running was its process's, which is gone, and is marked interrupted. Returns
    /// the stream's state as the run starts.
    pub(crate) fn begin_stream_run(
        &self,
        connection: &str,
        stream: &str,
        run_id: &str,
        trigger: &str,
    ) -> Result<StreamStateRow, StoreError> {
        let now_ms = now_unix_ms();
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("starting a stream run"))?;
        tx.execute(ENSURE_STATE, params![connection, stream, now_unix()])
            .map_err(StoreError::sql("starting a stream run"))?;
        tx.execute(
            "UPDATE stream_runs SET status = 'interrupted', finished_at_ms = ?3, error = ?4
             WHERE connection = ?1 AND stream = ?2 AND status = 'running'",
            params![connection, stream, now_ms, INTERRUPTED],
        )
        .map_err(StoreError::sql("marking interrupted runs"))?;
        let state = tx
            .query_row(
                &format!(
                    "SELECT {STATE_COLUMNS} FROM stream_state WHERE connection = ?1 AND stream = ?2"
                ),
                params![connection, stream],
                state_row,
            )
            .map_err(StoreError::sql("reading a stream's state"))?;
        tx.execute(
            "INSERT INTO stream_runs (id, connection, stream, trigger, status, started_at_ms,
                 start_cursor, checkpoint)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6)",
            params![run_id, connection, stream, trigger, now_ms, state.cursor],
        )
        .map_err(StoreError::sql("recording a stream run"))?;
        tx.commit()
            .map_err(StoreError::sql("starting a stream run"))?;
        Ok(state)
    }

    /// Commits one page in one transaction: its records, the cursor, and the run's
    /// counters. Returns per batch, per record, whether it was new. On an error nothing of
    /// the page is written.
    pub(crate) fn commit_stream_page(
        &self,
        page: &PageWrite<'_>,
    ) -> Result<Vec<Vec<bool>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("starting a checkpoint"))?;
        let mut outcomes = Vec::with_capacity(page.batches.len());
        let (mut imported, mut duplicates) = (0u64, u64::from(page.duplicates_seen));
        for (target, records) in &page.batches {
            let stored = insert_in(&tx, *target, records)?;
            for new in &stored {
                if *new {
                    imported += 1;
                } else {
                    duplicates += 1;
                }
            }
            outcomes.push(stored);
        }
        let now = now_unix();
        match page.cursor {
            CursorWrite::Keep => {}
            CursorWrite::Set(value) => {
                tx.execute(
                    "UPDATE stream_state SET cursor = ?3, updated_at = ?4
                     WHERE connection = ?1 AND stream = ?2",
                    params![page.connection, page.stream, value, now],
                )
                .map_err(StoreError::sql("writing a checkpoint"))?;
            }
            CursorWrite::Clear => {
                tx.execute(
                    "UPDATE stream_state SET cursor = NULL, updated_at = ?3
                     WHERE connection = ?1 AND stream = ?2",
                    params![page.connection, page.stream, now],
                )
                .map_err(StoreError::sql("clearing a stream's cursor"))?;
            }
        }
        let checkpoint = match page.cursor {
            CursorWrite::Set(value) => Some(value),
            _ => None,
        };
        tx.execute(
            "UPDATE stream_runs SET pages = pages + ?2, imported = imported + ?3,
                 duplicates = duplicates + ?4, failed = failed + ?5,
                 checkpoint = coalesce(?6, checkpoint)
             WHERE id = ?1",
            params![
                page.run_id,
                page.pages,
                imported as i64,
                duplicates as i64,
                page.failed,
                checkpoint
            ],
        )
        .map_err(StoreError::sql("counting a stream run's page"))?;
        tx.commit()
            .map_err(StoreError::sql("committing a checkpoint"))?;
        Ok(outcomes)
    }

    /// Ends run `run_id` with `status` and, for a failure, its (already redacted) error.
    pub(crate) fn finish_stream_run(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let error = error.map(clip_error);
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("finishing a stream run"))?;
        tx.execute(
            "UPDATE stream_runs SET status = ?2, finished_at_ms = ?3, error = ?4 WHERE id = ?1",
            params![run_id, status.as_str(), now_unix_ms(), error],
        )
        .map_err(StoreError::sql("finishing a stream run"))?;
        // A success, whoever asked for it, ends the failures in a row and their retry.
        if status == RunStatus::Succeeded {
            tx.execute(
                "UPDATE stream_state SET retry_at = NULL, attempts = 0, updated_at = ?2
                 WHERE (connection, stream) = (SELECT connection, stream FROM stream_runs WHERE id = ?1)",
                params![run_id, now_unix()],
            )
            .map_err(StoreError::sql("finishing a stream run"))?;
        }
        tx.commit()
            .map_err(StoreError::sql("finishing a stream run"))?;
        Ok(())
    }

    /// The state of (`connection`, `stream`), or the default for one that never ran.
    pub fn stream_state(
        &self,
        connection: &str,
        stream: &str,
    ) -> Result<StreamStateRow, StoreError> {
        let row = self
            .conn()
            .query_row(
                &format!(
                    "SELECT {STATE_COLUMNS} FROM stream_state WHERE connection = ?1 AND stream = ?2"
                ),
                params![connection, stream],
                state_row,
            )
            .optional()
            .map_err(StoreError::sql("reading a stream's state"))?;
        Ok(row.unwrap_or_else(|| StreamStateRow {
            connection: connection.to_string(),
            stream: stream.to_string(),
            ..Default::default()
        }))
    }

    /// Writes the scheduler's fields of (`connection`, `stream`).
    pub(crate) fn set_stream_schedule(
        &self,
        connection: &str,
        stream: &str,
        next_run_at: Option<i64>,
        retry_at: Option<i64>,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(ENSURE_STATE, params![connection, stream, now_unix()])
            .map_err(StoreError::sql("writing a stream's schedule"))?;
        conn.execute(
            "UPDATE stream_state SET next_run_at = ?3, retry_at = ?4, attempts = ?5, updated_at = ?6
             WHERE connection = ?1 AND stream = ?2",
            params![connection, stream, next_run_at, retry_at, attempts, now_unix()],
        )
        .map_err(StoreError::sql("writing a stream's schedule"))?;
        Ok(())
    }

    /// Pauses (with a reason) or resumes (clearing retries) a stream.
    pub(crate) fn set_stream_paused(
        &self,
        connection: &str,
        stream: &str,
        pause: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(ENSURE_STATE, params![connection, stream, now_unix()])
            .map_err(StoreError::sql("pausing a stream"))?;
        let sql = if pause.is_some() {
            "UPDATE stream_state SET paused = 1, pause_reason = ?3, updated_at = ?4
             WHERE connection = ?1 AND stream = ?2"
        } else {
            "UPDATE stream_state SET paused = 0, pause_reason = ?3, retry_at = NULL, attempts = 0,
                 updated_at = ?4
             WHERE connection = ?1 AND stream = ?2"
        };
        conn.execute(sql, params![connection, stream, pause, now_unix()])
            .map_err(StoreError::sql("pausing a stream"))?;
        Ok(())
    }

    /// Resumes every stream of `connection` paused because it needed a new authorization.
    pub(crate) fn resume_reauth_paused(&self, connection: &str) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE stream_state SET paused = 0, pause_reason = NULL, retry_at = NULL,
                     attempts = 0, updated_at = ?2
                 WHERE connection = ?1 AND paused = 1 AND pause_reason = 'reauth_required'",
                params![connection, now_unix()],
            )
            .map_err(StoreError::sql("resuming streams"))
    }

    /// Forgets the stream's cursor: its next run is a backfill.
    pub(crate) fn reset_stream(&self, connection: &str, stream: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(ENSURE_STATE, params![connection, stream, now_unix()])
            .map_err(StoreError::sql("resetting a stream"))?;
        conn.execute(
            "UPDATE stream_state SET cursor = NULL, retry_at = NULL, attempts = 0, updated_at = ?3
             WHERE connection = ?1 AND stream = ?2",
            params![connection, stream, now_unix()],
        )
        .map_err(StoreError::sql("resetting a stream"))?;
        Ok(())
    }

    /// Runs, newest first.
    pub fn stream_runs(&self, query: &RunQuery) -> Result<super::Page<StreamRunRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS}, rowid FROM stream_runs
                 WHERE (CAST(?1 AS TEXT) IS NULL OR connection = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR stream = ?2)
                   AND {}
                 ORDER BY started_at_ms DESC, rowid DESC LIMIT ?3",
                super::page::after_cursor("started_at_ms", 4, 5)
            ))
            .map_err(StoreError::sql("reading stream runs"))?;
        let (at, rowid) = super::page::cursor_params(query.before);
        let rows = stmt
            .query_map(
                params![query.connection, query.stream, query.limit, at, rowid],
                |r| Ok((run_row(r)?, r.get(5)?, r.get(14)?)),
            )
            .map_err(StoreError::sql("reading stream runs"))?;
        let rows = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("reading stream runs"))?;
        Ok(super::page::page_of(rows, query.limit))
    }

    /// The run `id`.
    pub fn stream_run(&self, id: &str) -> Result<StreamRunRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM stream_runs WHERE id = ?1"),
                [id],
                run_row,
            )
            .optional()
            .map_err(StoreError::sql("reading a stream run"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "stream run",
                name: id.to_string(),
            })
    }

    /// Which of `keys` are already stored for (`connection`, `entity`): one statement for
    /// the whole list (handed over as a JSON array).
    pub(crate) fn stored_record_keys(
        &self,
        connection: &str,
        entity: &str,
        keys: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let list = serde_json::to_string(keys).map_err(|_| StoreError::Invalid {
            what: "record keys",
            value: String::new(),
            reason: "they cannot be written as JSON",
        })?;
        let conn = self.conn();
        // The keys go as one JSON list, whatever their number: one statement, one plan.
        let mut stmt = conn
            .prepare_cached(match conn.dialect() {
                Dialect::Sqlite => {
                    "SELECT idempotency_key FROM records WHERE connection = ?1 AND entity = ?2
                     AND idempotency_key IN (SELECT value FROM json_each(?3))"
                }
                Dialect::Postgres => {
                    "SELECT idempotency_key FROM records WHERE connection = ?1 AND entity = ?2
                     AND idempotency_key IN (SELECT json_array_elements_text(CAST(?3 AS json)))"
                }
            })
            .map_err(StoreError::sql("looking up record keys"))?;
        let found = stmt
            .query_map(params![connection, entity, list], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql("looking up record keys"))?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(StoreError::sql("looking up record keys"))?;
        Ok(found)
    }
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
