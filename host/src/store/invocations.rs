//! The invocation history of stored connections: one row per route call with its
//! outcome, duration and outbound calls.
//!
//! Owns the `invocations` table. Must not receive unredacted text: callers pass messages
//! and URLs that already went through the invocation's redactor.

use super::db::{Db, DbError, params};
use super::history::HistoryWriter;
use super::{HistoryRetention, Store, StoreError};

/// One finished invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRecord {
    pub id: String,
    pub connection: String,
    pub connector: String,
    /// `METHOD /path`.
    pub route: String,
    /// The route's status, when it answered.
    pub status: Option<u16>,
    /// The host's error code, when it did not (`route_trapped`, `deadline_exceeded`, ...).
    pub error_code: Option<String>,
    /// The host's error message, redacted.
    pub error: Option<String>,
    pub duration_us: u64,
    /// The outbound calls as a JSON array (method, redacted URL, status or error, time).
    pub outbound: serde_json::Value,
    pub started_at_ms: i64,
}

/// Inserts one history row.
pub(crate) fn insert_invocation(conn: &Db, rec: &InvocationRecord) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO invocations (id, connection, connector, route, status, error_code, error,
             duration_us, outbound, started_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        rec.id,
        rec.connection,
        rec.connector,
        rec.route,
        rec.status,
        rec.error_code,
        rec.error
            .as_deref()
            .map(|e| super::connection_state::storable_text(e).into_owned()),
        i64::try_from(rec.duration_us).unwrap_or(i64::MAX),
        rec.outbound.to_string(),
        rec.started_at_ms,
    ])?;
    Ok(())
}

impl Store {
    /// Records a finished invocation. The row is committed by the history writer, behind
    /// the caller: this never waits on the disk. Reads through the store see it (they
    /// wait for the writer first); a crash can lose rows not yet committed.
    pub(crate) fn record_invocation(&self, rec: InvocationRecord) -> Result<(), StoreError> {
        let rec = match self.history() {
            Some(writer) => match writer.send(rec) {
                Ok(()) => return Ok(()),
                Err(rec) => *rec,
            },
            None => rec,
        };
        insert_invocation(&self.conn(), &rec).map_err(StoreError::sql("recording an invocation"))
    }

    /// Sets what the invocation history keeps; the writer's next sweep follows it.
    pub fn set_history_retention(&self, retention: HistoryRetention) {
        *self
            .history_retention
            .write()
            .unwrap_or_else(|e| e.into_inner()) = retention;
    }

    /// Waits until every invocation recorded so far is committed.
    pub(crate) fn flush_history(&self) {
        if let Some(writer) = self.history.get().and_then(Option::as_ref) {
            writer.flush();
        }
    }

    /// The history writer, started on first use; `None` if it could not start (rows are
    /// then written directly).
    fn history(&self) -> Option<&HistoryWriter> {
        self.history
            .get_or_init(
                || match HistoryWriter::start(&self.url, self.history_retention.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "invocation history is written synchronously");
                        None
                    }
                },
            )
            .as_ref()
    }

    /// Invocations of every connection since `since_ms`, counted per `bucket_ms`: (the
    /// bucket's start, all, failed). Failed: no status, or a status of 400 or more. Empty
    /// buckets are left out.
    pub fn invocation_counts(
        &self,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u64, u64)>, StoreError> {
        self.flush_history();
        let bucket_ms = bucket_ms.max(1);
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT (started_at_ms - ?1) / ?2, COUNT(*),
                        SUM(CASE WHEN status IS NULL OR status >= 400 THEN 1 ELSE 0 END)
                 FROM invocations WHERE started_at_ms >= ?1 GROUP BY 1 ORDER BY 1",
            )
            .map_err(StoreError::sql("counting invocations"))?;
        let rows = stmt
            .query_map(params![since_ms, bucket_ms], |r| {
                let (index, all, failed): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                Ok((
                    since_ms + index * bucket_ms,
                    u64::try_from(all).unwrap_or_default(),
                    u64::try_from(failed).unwrap_or_default(),
                ))
            })
            .map_err(StoreError::sql("counting invocations"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("counting invocations"))
    }

    /// The newest `limit` invocations of `connection` (after `before`, the `next` of the
    /// page before), newest first.
    pub fn recent_invocations(
        &self,
        connection: &str,
        limit: u32,
        before: Option<super::PageCursor>,
    ) -> Result<super::Page<InvocationRecord>, StoreError> {
        self.flush_history();
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT id, connection, connector, route, status, error_code, error, duration_us,
                        outbound, started_at_ms, rowid
                 FROM invocations WHERE connection = ?1 AND {}
                 ORDER BY started_at_ms DESC, rowid DESC LIMIT ?2",
                super::page::after_cursor("started_at_ms", 3, 4)
            ))
            .map_err(StoreError::sql("reading invocations"))?;
        let (at, rowid) = super::page::cursor_params(before);
        let rows = stmt
            .query_map(params![connection, limit, at, rowid], |r| {
                let outbound: String = r.get(8)?;
                let duration: i64 = r.get(7)?;
                let record = InvocationRecord {
                    id: r.get(0)?,
                    connection: r.get(1)?,
                    connector: r.get(2)?,
                    route: r.get(3)?,
                    status: r.get(4)?,
                    error_code: r.get(5)?,
                    error: r.get(6)?,
                    duration_us: u64::try_from(duration).unwrap_or_default(),
                    outbound: serde_json::from_str(&outbound).unwrap_or(serde_json::Value::Null),
                    started_at_ms: r.get(9)?,
                };
                Ok((record, r.get(9)?, r.get(10)?))
            })
            .map_err(StoreError::sql("reading invocations"))?;
        let rows = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("reading invocations"))?;
        Ok(super::page::page_of(rows, limit))
    }
}

/// A finished call of `c1`'s `GET /ping` with one outbound call, for tests.
#[cfg(test)]
pub(crate) fn sample_record(id: &str, started_at_ms: i64) -> InvocationRecord {
    InvocationRecord {
        id: id.into(),
        connection: "c1".into(),
        connector: "hello".into(),
        route: "GET /ping".into(),
        status: Some(200),
        error_code: None,
        error: None,
        duration_us: 42,
        outbound: serde_json::json!([{ "method": "GET", "url": "https://x.test/", "status": 200 }]),
        started_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MasterKey, NewConnection, RecordTarget, RecordWrite};
    use std::collections::BTreeMap;

    /// A time no retention sweep reaches (it is in the future), so the writer keeps the
    /// test's rows; `at` orders them.
    const BASE_MS: i64 = 4_000_000_000_000;

    fn record(id: &str, at: i64) -> InvocationRecord {
        sample_record(id, BASE_MS + at)
    }

    #[test]
    fn invocations_read_back_newest_first_and_go_with_their_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("store");
        store
            .create_connection(&NewConnection {
                auth_option: None,
                name: "c1".into(),
                connector: "hello".into(),
                credential_key: None,
                settings: serde_json::Map::new(),
                secret_settings: BTreeMap::new(),
            })
            .expect("connection");
        store.record_invocation(record("a", 1)).expect("a");
        store.record_invocation(record("b", 2)).expect("b");
        let got = store
            .recent_invocations("c1", 10, None)
            .expect("read")
            .items;
        assert_eq!(
            got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(got[0].outbound[0]["status"], 200);
        assert_eq!(
            store
                .recent_invocations("c1", 1, None)
                .expect("read")
                .items
                .len(),
            1
        );

        store
            .insert_records(
                RecordTarget {
                    connection: "c1",
                    entity: "Customer",
                    stream: None,
                },
                &[RecordWrite {
                    key: "k1",
                    payload: "{}",
                }],
            )
            .expect("records");
        store.delete_connection("c1").expect("delete");
        assert!(
            store
                .recent_invocations("c1", 10, None)
                .expect("read")
                .items
                .is_empty()
        );
        assert_eq!(store.count_records("c1").expect("count"), 0);
    }

    #[test]
    fn pages_follow_each_other_without_a_gap_or_a_repeat() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("store");
        // Seven rows, five of them in the same millisecond: the cursor's rowid tells
        // them apart.
        for (id, at) in [
            ("a", 1),
            ("b", 2),
            ("c", 3),
            ("d", 3),
            ("e", 3),
            ("f", 3),
            ("g", 3),
        ] {
            store.record_invocation(record(id, at)).expect("row");
        }
        let mut seen = Vec::new();
        let mut before = None;
        let mut pages = 0;
        loop {
            let page = store.recent_invocations("c1", 2, before).expect("page");
            assert!(page.items.len() <= 2, "a page holds at most its limit");
            pages += 1;
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            // A row written meanwhile, newer than every page, shifts nothing.
            store
                .record_invocation(record(&format!("new-{}", seen.len()), 9))
                .expect("row");
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["g", "f", "e", "d", "c", "b", "a"]);
        assert_eq!(pages, 4, "seven rows, two a page");
    }

    #[test]
    fn an_error_holding_nul_is_recorded_with_the_character_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("store");
        let mut rec = record("n", 1);
        rec.error = Some("the guest said a\u{0}b".into());
        store.record_invocation(rec).expect("queued");
        let got = store
            .recent_invocations("c1", 10, None)
            .expect("read")
            .items;
        assert_eq!(got.len(), 1, "the row was written");
        assert_eq!(got[0].error.as_deref(), Some("the guest said a\u{fffd}b"));
    }

    #[test]
    fn a_rejected_row_does_not_sink_the_rows_committed_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).expect("store");
        // The same id twice breaks the primary key; the writer commits around it.
        for (id, at) in [("a", 1), ("a", 2), ("b", 3)] {
            store.record_invocation(record(id, at)).expect("queued");
        }
        let got = store
            .recent_invocations("c1", 10, None)
            .expect("read")
            .items;
        assert_eq!(
            got.iter()
                .map(|r| (r.id.as_str(), r.started_at_ms - BASE_MS))
                .collect::<Vec<_>>(),
            [("b", 3), ("a", 1)]
        );
    }

    #[test]
    fn queued_rows_are_on_disk_once_the_store_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = MasterKey::generate();
        {
            let store = Store::open_with_key(dir.path(), &key).expect("store");
            for i in 0..500 {
                store
                    .record_invocation(record(&format!("r{i}"), i))
                    .expect("queued");
            }
        }
        let reopened = Store::open_with_key(dir.path(), &key).expect("reopen");
        assert_eq!(
            reopened
                .recent_invocations("c1", 1000, None)
                .expect("read")
                .items
                .len(),
            500
        );
    }
}
