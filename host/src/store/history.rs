//! The invocation-history writer: a thread with its own database connection that takes
//! finished invocations from a queue and commits whatever has queued up in one
//! transaction, so a route call never waits on a history commit and many calls share one
//! durable write under load. After each commit the writer lets rows gather for a moment,
//! so under load a call queues its row without waking anything.
//!
//! The same thread sweeps the history down to its retention (`retention.rs`): at its
//! first commit, then at most every second, or at each commit while sweeps find a full
//! chunk.
//!
//! Owns: the queue, the thread and its connection, and read-your-writes for the store
//! (`flush` returns once everything queued before it is committed).
//! Must not: lose a queued row on an orderly close (closing drains the queue), or let one
//! bad row sink the rows committed with it.

use super::db::{DatabaseUrl, Db};
use super::invocations::{InvocationRecord, insert_invocation};
use super::retention::{self, HistoryRetention, SWEEP_AGAIN, SWEEP_CHUNK, SWEEP_EVERY};
use super::{StoreError, now_unix_ms, open_db};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Rows committed in one transaction at most.
const MAX_BATCH: usize = 1024;

/// How long the writer lets rows gather after a commit before it looks at the queue
/// again. While it waits it is not parked on the queue, so queueing a row is a plain
/// push with no wake-up (no system call per row); a flush waits this much longer at most.
const GATHER: Duration = Duration::from_millis(2);

enum Msg {
    Row(Box<InvocationRecord>),
    /// Answered once every row queued before it is committed.
    Flush(SyncSender<()>),
}

pub(crate) struct HistoryWriter {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl HistoryWriter {
    /// Opens a second connection to the database at `url` and starts the writer, which
    /// keeps the history within what `retention` says when it sweeps.
    pub(crate) fn start(
        url: &DatabaseUrl,
        retention: Arc<RwLock<HistoryRetention>>,
    ) -> Result<HistoryWriter, StoreError> {
        let conn = open_db(url)?;
        // History rows may be lost in a crash anyway (they are queued behind the caller),
        // so this connection does not wait for its commits to reach the disk: SQLite does
        // not sync the WAL on each (the checkpoint does), PostgreSQL does not wait for
        // its WAL flush.
        let relaxed = match &conn {
            Db::Sqlite(c) => c
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(Into::into),
            Db::Postgres(c) => c.execute_batch("SET synchronous_commit = off"),
        };
        relaxed.map_err(StoreError::sql("setting the history writer's sync mode"))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("keyway-history".into())
            .spawn(move || run(conn, rx, &retention))
            .map_err(|e| StoreError::Invalid {
                what: "history writer",
                value: e.to_string(),
                reason: "the writer thread could not start",
            })?;
        Ok(HistoryWriter {
            tx,
            thread: Some(thread),
        })
    }

    /// Queues `rec`; gives it back if the writer is gone.
    pub(crate) fn send(&self, rec: InvocationRecord) -> Result<(), Box<InvocationRecord>> {
        match self.tx.send(Msg::Row(Box::new(rec))) {
            Err(mpsc::SendError(Msg::Row(rec))) => Err(rec),
            _ => Ok(()),
        }
    }

    /// Waits until every row queued so far is committed (or failed and was logged).
    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written what is left.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut conn: Db, rx: Receiver<Msg>, retention: &RwLock<HistoryRetention>) {
    let mut next_sweep = Instant::now();
    while let Ok(first) = rx.recv() {
        let mut rows = Vec::new();
        let mut waiters = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Row(rec) => rows.push(rec),
                Msg::Flush(done) => waiters.push(done),
            }
            next = if rows.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let wrote = !rows.is_empty();
        if wrote {
            write(&mut conn, &rows);
            if Instant::now() >= next_sweep {
                next_sweep = Instant::now() + sweep(&conn, retention);
            }
        }
        for done in waiters {
            let _ = done.send(());
        }
        if wrote {
            std::thread::sleep(GATHER);
        }
    }
}

/// One sweep of the history; returns how long until the next.
fn sweep(conn: &Db, retention: &RwLock<HistoryRetention>) -> Duration {
    let policy = *retention.read().unwrap_or_else(|e| e.into_inner());
    match retention::sweep(conn, policy, now_unix_ms()) {
        Ok(deleted) if deleted >= SWEEP_CHUNK => SWEEP_AGAIN,
        Ok(_) => SWEEP_EVERY,
        Err(e) => {
            tracing::warn!(error = %e, "could not delete invocation history past its retention");
            SWEEP_EVERY
        }
    }
}

fn write(conn: &mut Db, rows: &[Box<InvocationRecord>]) {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(rows = rows.len(), error = %e, "could not record invocations");
            return;
        }
    };
    for rec in rows {
        // A failed row is undone alone: the other rows still commit.
        if let Err(e) = tx.undo_alone_on_error(|db| insert_invocation(db, rec)) {
            tracing::warn!(invocation = %rec.id, error = %e, "could not record an invocation");
        }
    }
    if let Err(e) = tx.commit() {
        tracing::warn!(rows = rows.len(), error = %e, "could not record invocations");
    }
}
