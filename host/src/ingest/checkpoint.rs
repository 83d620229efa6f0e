//! A stream run's ingest: records are held until the guest checkpoints, then committed
//! with the cursor in one transaction, so records and progress never diverge. A run that
//! stops (a trap, a failure, a killed process) loses only what it ingested after its last
//! checkpoint, and its next run resumes from that checkpoint.
//!
//! Owns: [`StreamRun`] (the `ingest` and `state` doors' backend for one run), the caps on
//! what a run may hold uncommitted, and the [`PageStore`] seam (SQLite in production,
//! [`super::MemorySink`] in the connector test runtime).
//! Must not: validate records (they arrive validated), decide when a stream runs, or keep
//! anything after the run.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::{IngestBatch, IngestError, IngestSink, Stored};
use crate::types::BoxFuture;

/// Most records a run may hold between two checkpoints: 50,000.
pub const MAX_PENDING_RECORDS: usize = 50_000;
/// Most payload bytes a run may hold between two checkpoints: 64 MiB.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
/// Longest cursor, in bytes: 64 KiB.
pub const MAX_CURSOR_BYTES: usize = 64 << 10;
/// Most checkpoints one run may commit: 10,000. Each is a durable transaction; a guest
/// checkpointing in a loop would otherwise keep the disk syncing for its whole deadline.
pub const MAX_CHECKPOINTS: u64 = 10_000;

/// What a commit does to the stream's cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorChange {
    Keep,
    Set(String),
    Clear,
}

/// One page of a run: records since the last checkpoint, the cursor that covers them and
/// the counters they add.
#[derive(Debug)]
pub struct Page {
    pub connection: Arc<str>,
    pub stream: String,
    pub run_id: String,
    pub batches: Vec<IngestBatch>,
    pub cursor: CursorChange,
    pub pages: u32,
    pub duplicates_seen: u32,
    pub failed: u32,
}

/// Where a run's pages are committed, each in one transaction with its cursor.
pub trait PageStore: Send + Sync {
    /// Which of `keys` are already stored for (`connection`, `entity`).
    fn stored_keys(
        &self,
        connection: Arc<str>,
        entity: String,
        keys: Vec<String>,
    ) -> BoxFuture<'_, Result<HashSet<String>, IngestError>>;

    /// Stores the page's records and cursor together; per batch, per record, the outcome.
    /// The page is shared so that a failed commit hands its records back to the run
    /// without a copy of them having been made.
    fn commit(&self, page: Arc<Page>) -> BoxFuture<'_, Result<Vec<Vec<Stored>>, IngestError>>;
}

/// What the `state` door asks of the run it serves.
pub trait StreamState: Send + Sync {
    /// The cursor last checkpointed (as the run started, or by this run).
    fn cursor(&self) -> Option<String>;
    /// Commits the records held since the last checkpoint with `value`.
    fn checkpoint(&self, value: String) -> BoxFuture<'_, Result<Checkpointed, IngestError>>;
    /// Items of a batch that failed validation (counted in the run's history).
    fn note_failed(&self, items: u32);
}

/// What one checkpoint committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpointed {
    pub imported: u32,
    pub duplicates: u32,
}

/// A run's counters so far, for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Batches received.
    pub pages: u64,
    /// Records committed as new.
    pub imported: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub checkpoints: u64,
    /// Records received and not yet committed.
    pub pending: u64,
}

#[derive(Default)]
struct Pending {
    batches: Vec<IngestBatch>,
    /// (entity, key) of every held record, so a key repeated before the commit is a
    /// duplicate as it would be once stored.
    keys: HashSet<(String, String)>,
    records: usize,
    bytes: usize,
    pages: u32,
    duplicates_seen: u32,
    failed: u32,
}

/// One run of one stream of one connection.
pub struct StreamRun {
    pages: Arc<dyn PageStore>,
    connection: Arc<str>,
    stream: String,
    run_id: String,
    /// Held across a commit's await; a guest calls its doors one at a time.
    pending: tokio::sync::Mutex<Pending>,
    cursor: Mutex<Option<String>>,
    progress: watch::Sender<Progress>,
}

impl StreamRun {
    /// A run of `stream` for `connection`, starting from `cursor`.
    pub fn new(
        pages: Arc<dyn PageStore>,
        connection: Arc<str>,
        stream: &str,
        run_id: &str,
        cursor: Option<String>,
    ) -> StreamRun {
        StreamRun {
            pages,
            connection,
            stream: stream.to_string(),
            run_id: run_id.to_string(),
            pending: tokio::sync::Mutex::new(Pending::default()),
            cursor: Mutex::new(cursor),
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// The run's counters, updated as it goes.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Ends the run. On success the records held since the last checkpoint are committed
    /// (with the cursor cleared when `clear_cursor`, as a `full` stream does after a whole
    /// pass); otherwise they are dropped, and the stream resumes from its last checkpoint.
    pub async fn finish(&self, success: bool, clear_cursor: bool) -> Result<Progress, IngestError> {
        let mut pending = self.pending.lock().await;
        if success {
            let cursor = if clear_cursor {
                CursorChange::Clear
            } else {
                CursorChange::Keep
            };
            self.commit_locked(&mut pending, cursor).await?;
        } else {
            *pending = Pending::default();
            self.progress.send_modify(|p| p.pending = 0);
        }
        Ok(*self.progress.borrow())
    }

    async fn commit_locked(
        &self,
        pending: &mut Pending,
        cursor: CursorChange,
    ) -> Result<Checkpointed, IngestError> {
        let taken = std::mem::take(pending);
        let page = Arc::new(Page {
            connection: self.connection.clone(),
            stream: self.stream.clone(),
            run_id: self.run_id.clone(),
            batches: taken.batches,
            cursor: cursor.clone(),
            pages: taken.pages,
            duplicates_seen: taken.duplicates_seen,
            failed: taken.failed,
        });
        // Put back if the commit fails: nothing of the page was written.
        let keys_back = taken.keys;
        let (records, bytes) = (taken.records, taken.bytes);
        let (pages, dups, failed) = (taken.pages, taken.duplicates_seen, taken.failed);
        match self.pages.commit(page.clone()).await {
            Ok(outcomes) => {
                let mut done = Checkpointed::default();
                for outcome in outcomes.iter().flatten() {
                    match outcome {
                        Stored::Imported => done.imported += 1,
                        Stored::Duplicate => done.duplicates += 1,
                    }
                }
                if let CursorChange::Set(value) = &cursor {
                    *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(value.clone());
                } else if cursor == CursorChange::Clear {
                    *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                self.progress.send_modify(|p| {
                    p.imported += u64::from(done.imported);
                    p.duplicates += u64::from(done.duplicates);
                    p.checkpoints += u64::from(matches!(cursor, CursorChange::Set(_)));
                    p.pending = 0;
                });
                Ok(done)
            }
            Err(e) => {
                // The store's task is done with the page: it is ours alone again.
                let batches_back = Arc::try_unwrap(page)
                    .map_or_else(|shared| shared.batches.clone(), |p| p.batches);
                *pending = Pending {
                    batches: batches_back,
                    keys: keys_back,
                    records,
                    bytes,
                    pages,
                    duplicates_seen: dups,
                    failed,
                };
                Err(e)
            }
        }
    }
}

impl IngestSink for StreamRun {
    fn batch(&self, mut batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
        Box::pin(async move {
            let mut pending = self.pending.lock().await;
            let bytes: usize = batch.records.iter().map(|r| r.payload().len()).sum();
            if pending.records + batch.records.len() > MAX_PENDING_RECORDS
                || pending.bytes + bytes > MAX_PENDING_BYTES
            {
                return Err(IngestError::TooLarge(format!(
                    "a stream run holds at most {MAX_PENDING_RECORDS} records ({} MiB) between \
                     two checkpoints; {} are held: call state.checkpoint more often",
                    MAX_PENDING_BYTES >> 20,
                    pending.records
                )));
            }
            if batch.stream.is_none() {
                batch.stream = Some(self.stream.clone());
            }
            let keys: Vec<String> = batch.records.iter().map(|r| r.key().to_string()).collect();
            let stored = self
                .pages
                .stored_keys(self.connection.clone(), batch.entity.clone(), keys)
                .await?;
            let mut outcomes = Vec::with_capacity(batch.records.len());
            let mut fresh = Vec::with_capacity(batch.records.len());
            for record in batch.records {
                let id = (batch.entity.clone(), record.key().to_string());
                if stored.contains(record.key()) || pending.keys.contains(&id) {
                    outcomes.push(Stored::Duplicate);
                    pending.duplicates_seen += 1;
                } else {
                    pending.keys.insert(id);
                    pending.records += 1;
                    pending.bytes += record.payload().len();
                    outcomes.push(Stored::Imported);
                    fresh.push(record);
                }
            }
            pending.pages += 1;
            let held = pending.records as u64;
            if !fresh.is_empty() {
                batch.records = fresh;
                pending.batches.push(batch);
            }
            self.progress.send_modify(|p| {
                p.pages += 1;
                p.pending = held;
            });
            Ok(outcomes)
        })
    }
}

impl StreamState for StreamRun {
    fn cursor(&self) -> Option<String> {
        self.cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn checkpoint(&self, value: String) -> BoxFuture<'_, Result<Checkpointed, IngestError>> {
        Box::pin(async move {
            if value.len() > MAX_CURSOR_BYTES {
                return Err(IngestError::TooLarge(format!(
                    "a checkpoint is at most {} KiB; this one is {} bytes",
                    MAX_CURSOR_BYTES >> 10,
                    value.len()
                )));
            }
            if value.contains('\0') {
                return Err(IngestError::InvalidInput(
                    "a checkpoint holds a NUL character, which a store cannot keep as text; \
                     write it as text (base64, JSON)"
                        .into(),
                ));
            }
            if self.progress.borrow().checkpoints >= MAX_CHECKPOINTS {
                return Err(IngestError::TooLarge(format!(
                    "a stream run commits at most {MAX_CHECKPOINTS} checkpoints; checkpoint once \
                     per page, not per record"
                )));
            }
            let mut pending = self.pending.lock().await;
            self.commit_locked(&mut pending, CursorChange::Set(value))
                .await
        })
    }

    fn note_failed(&self, items: u32) {
        if items == 0 {
            return;
        }
        if let Ok(mut pending) = self.pending.try_lock() {
            pending.failed = pending.failed.saturating_add(items);
        }
        self.progress.send_modify(|p| p.failed += u64::from(items));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{MemorySink, RawBatch, run};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A page store whose commits fail while `failing` is set.
    struct Flaky {
        inner: MemorySink,
        failing: AtomicBool,
    }

    impl PageStore for Flaky {
        fn stored_keys(
            &self,
            connection: Arc<str>,
            entity: String,
            keys: Vec<String>,
        ) -> BoxFuture<'_, Result<HashSet<String>, IngestError>> {
            self.inner.stored_keys(connection, entity, keys)
        }

        fn commit(&self, page: Arc<Page>) -> BoxFuture<'_, Result<Vec<Vec<Stored>>, IngestError>> {
            if self.failing.load(Ordering::SeqCst) {
                return Box::pin(std::future::ready(Err(IngestError::Sink("down".into()))));
            }
            self.inner.commit(page)
        }
    }

    fn batch(ids: &[u32]) -> RawBatch {
        RawBatch {
            entity: "Item".into(),
            payloads: ids.iter().map(|i| format!(r#"{{"id":{i}}}"#)).collect(),
            keys: Some(ids.iter().map(|i| format!("k{i}")).collect()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_failed_commit_keeps_the_page_for_the_next_checkpoint() {
        let store = Arc::new(Flaky {
            inner: MemorySink::default(),
            failing: AtomicBool::new(true),
        });
        let run_ = StreamRun::new(store.clone(), Arc::from("c"), "s", "r", None);
        let res = run(&run_, Arc::from("c"), batch(&[1, 2])).await.unwrap();
        assert_eq!(res.imported, 2);
        assert!(run_.checkpoint("p1".into()).await.is_err());
        assert!(store.inner.records().is_empty());
        assert_eq!(run_.cursor(), None);
        store.failing.store(false, Ordering::SeqCst);
        let done = run_.checkpoint("p1".into()).await.unwrap();
        assert_eq!(done.imported, 2);
        assert_eq!(store.inner.records().len(), 2);
        assert_eq!(run_.cursor().as_deref(), Some("p1"));
    }

    #[tokio::test]
    async fn a_run_checkpoints_a_bounded_number_of_times() {
        let store = Arc::new(MemorySink::default());
        let run_ = StreamRun::new(store, Arc::from("c"), "s", "r", None);
        run_.progress
            .send_modify(|p| p.checkpoints = MAX_CHECKPOINTS);
        let err = run_.checkpoint("again".into()).await.unwrap_err();
        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("10000 checkpoints"), "{err}");
    }

    #[tokio::test]
    async fn a_checkpoint_holding_nul_is_refused() {
        let store = Arc::new(MemorySink::default());
        let run_ = StreamRun::new(store.clone(), Arc::from("c"), "s", "r", None);
        let err = run_.checkpoint("page\u{0}2".into()).await.unwrap_err();
        assert!(matches!(err, IngestError::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(store.checkpoints().is_empty());
        // Any other text, line breaks included, is a cursor.
        run_.checkpoint("{\n  \"page\": 2\n}".into()).await.unwrap();
        assert_eq!(store.checkpoints().len(), 1);
    }
}
