//! Ingest: canonical records a source connector hands to the host through the `ingest`
//! door, checked, keyed and stored idempotently.
//!
//! Owns: the caps on a batch, what a batch and its result are, the [`IngestSink`] seam
//! (SQLite in production, memory in tests and the connector test runtime), [`run`],
//! which validates a guest's batch, hands the good records to a sink and reports each item,
//! and a stream run's sink ([`StreamRun`], `checkpoint.rs`), which holds records until the
//! guest checkpoints and commits them with the cursor in one transaction.
//! Must not: check manifest grants (the door does, before calling [`run`]), echo payload
//! text in an error (messages name the item's index and what is wrong), or block the async
//! runtime on the database (the SQLite sink moves the write to a blocking thread).

mod checkpoint;
mod memory;
mod sqlite;
mod validate;

use std::sync::Arc;

pub use checkpoint::{
    Checkpointed, CursorChange, MAX_CHECKPOINTS, MAX_CURSOR_BYTES, MAX_PENDING_BYTES,
    MAX_PENDING_RECORDS, Page, PageStore, Progress, StreamRun, StreamState,
};
pub use memory::{MemoryCheckpoint, MemorySink};
pub use sqlite::SqliteSink;
pub(crate) use validate::Record;

use crate::types::BoxFuture;

/// Largest payload, in bytes of JSON text: 1 MiB. A record bigger than this is a
/// document, not a record; the connector should split it or store a reference.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Most payloads in one batch: 1000. Batches are one transaction each; this keeps one
/// batch's lock on the store short.
pub(crate) const MAX_BATCH_ITEMS: usize = 1000;
/// Most bytes in one batch (payloads plus keys): 64 MiB, so one batch cannot make the host
/// hold an unbounded copy of guest memory.
pub(crate) const MAX_BATCH_BYTES: usize = 64 << 20;
/// Longest idempotency key, in bytes: 512. Keys are identifiers, not data.
pub(crate) const MAX_KEY_BYTES: usize = 512;
/// Longest stream name, in bytes: 256.
pub(crate) const MAX_STREAM_BYTES: usize = 256;

/// A batch as the guest handed it over, nothing checked yet.
#[derive(Debug, Clone, Default)]
pub struct RawBatch {
    pub entity: String,
    pub stream: Option<String>,
    /// Each should be a JSON object, as text.
    pub payloads: Vec<String>,
    /// One per payload when given; otherwise each key is a hash of the payload.
    pub keys: Option<Vec<String>>,
    /// Keep going past bad items and report them; otherwise all or nothing.
    pub continue_on_error: bool,
}

/// Validated records of one entity for one connection, ready for a sink.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    /// The stored connection's name.
    pub connection: Arc<str>,
    pub entity: String,
    pub stream: Option<String>,
    pub records: Vec<Record>,
}

/// What a sink did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Imported,
    /// A record with the same connection, entity and key was already stored.
    Duplicate,
}

/// Where validated records go. A sink stores the whole batch or nothing, and answers one
/// [`Stored`] per record, in order.
pub trait IngestSink: Send + Sync {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>>;
}

/// What happened to one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Imported,
    Duplicate,
    Failed,
}

/// The outcome of one payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemResult {
    pub index: u32,
    pub status: ItemStatus,
    /// The key given, or the payload's hash; empty when a failed payload had neither.
    pub key: String,
    /// Why the item failed (names the index and the problem, never the payload).
    pub error: Option<String>,
}

/// The outcome of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchResult {
    pub imported: u32,
    pub duplicates: u32,
    pub failed: u32,
    pub items: Vec<ItemResult>,
}

/// Why a batch was refused or not stored. Messages name the item's index and the cap or
/// problem; they never quote a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// A malformed argument: bad JSON, not an object, an empty key, mismatched counts.
    #[error("{0}")]
    InvalidInput(String),
    /// A size or count cap was exceeded; the message names the cap.
    #[error("{0}")]
    TooLarge(String),
    /// The sink could not store the batch; nothing was stored.
    #[error("storing the batch failed: {0}")]
    Sink(String),
}

impl From<crate::store::StoreError> for IngestError {
    fn from(e: crate::store::StoreError) -> Self {
        IngestError::Sink(e.to_string())
    }
}

/// Validates `raw`, stores its good records for `connection` through `sink`, and reports
/// every item. With `continue_on_error` off, the first bad item fails the batch and
/// nothing is stored; with it on, bad items are reported as failed and the rest stored.
pub async fn run(
    sink: &dyn IngestSink,
    connection: Arc<str>,
    raw: RawBatch,
) -> Result<BatchResult, IngestError> {
    let checked = validate::check(raw)?;
    let mut items: Vec<ItemResult> = Vec::with_capacity(checked.total);
    let mut result = BatchResult::default();
    let indices: Vec<u32> = checked.records.iter().map(|(i, _)| *i).collect();
    let keys: Vec<String> = checked
        .records
        .iter()
        .map(|(_, r)| r.key().to_string())
        .collect();
    if !checked.records.is_empty() {
        let records: Vec<Record> = checked.records.into_iter().map(|(_, r)| r).collect();
        let expected = records.len();
        let stored = sink
            .batch(IngestBatch {
                connection,
                entity: checked.entity,
                stream: checked.stream,
                records,
            })
            .await?;
        if stored.len() != expected {
            return Err(IngestError::Sink(format!(
                "the sink answered {} outcomes for {expected} records",
                stored.len()
            )));
        }
        for ((index, key), outcome) in indices.into_iter().zip(keys).zip(stored) {
            let status = match outcome {
                Stored::Imported => {
                    result.imported += 1;
                    ItemStatus::Imported
                }
                Stored::Duplicate => {
                    result.duplicates += 1;
                    ItemStatus::Duplicate
                }
            };
            items.push(ItemResult {
                index,
                status,
                key,
                error: None,
            });
        }
    }
    for failure in checked.failures {
        result.failed += 1;
        items.push(ItemResult {
            index: failure.index,
            status: ItemStatus::Failed,
            key: failure.key,
            error: Some(failure.error.to_string()),
        });
    }
    items.sort_by_key(|i| i.index);
    result.items = items;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(payloads: &[&str], keys: Option<&[&str]>, continue_on_error: bool) -> RawBatch {
        RawBatch {
            entity: "Order".into(),
            stream: Some("orders".into()),
            payloads: payloads.iter().map(|s| s.to_string()).collect(),
            keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
            continue_on_error,
        }
    }

    #[tokio::test]
    async fn imports_then_reports_duplicates() {
        let sink = MemorySink::default();
        let conn: Arc<str> = Arc::from("shop");
        let batch = raw(
            &[r#"{"id":1}"#, r#"{"id":2}"#],
            Some(&["o-1", "o-2"]),
            false,
        );
        let first = run(&sink, conn.clone(), batch.clone()).await.unwrap();
        assert_eq!((first.imported, first.duplicates, first.failed), (2, 0, 0));
        assert_eq!(first.items[1].key, "o-2");
        let second = run(&sink, conn, batch).await.unwrap();
        assert_eq!(
            (second.imported, second.duplicates, second.failed),
            (0, 2, 0)
        );
        assert!(
            second
                .items
                .iter()
                .all(|i| i.status == ItemStatus::Duplicate)
        );
        assert_eq!(sink.records().len(), 2);
        assert_eq!(sink.records()[0].stream.as_deref(), Some("orders"));
    }

    #[tokio::test]
    async fn keyless_payloads_dedup_by_canonical_content() {
        let sink = MemorySink::default();
        let conn: Arc<str> = Arc::from("shop");
        // Same object, different key order and spacing: one record.
        let res = run(
            &sink,
            conn,
            raw(&[r#"{"b":2,"a":1}"#, r#"{ "a": 1, "b": 2 }"#], None, false),
        )
        .await
        .unwrap();
        assert_eq!((res.imported, res.duplicates), (1, 1));
        assert_eq!(res.items[0].key, res.items[1].key);
        assert_eq!(res.items[0].key.len(), 64);
        assert_eq!(sink.records()[0].payload, r#"{"a":1,"b":2}"#);
    }

    #[tokio::test]
    async fn all_or_nothing_names_the_bad_index() {
        let sink = MemorySink::default();
        let err = run(
            &sink,
            Arc::from("shop"),
            raw(&[r#"{"id":1}"#, "[1,2]", r#"{"id":3}"#], None, false),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("payload 1"), "{err}");
        assert!(err.to_string().contains("array"), "{err}");
        assert!(sink.records().is_empty());
    }

    #[tokio::test]
    async fn continue_on_error_stores_the_good_items() {
        let sink = MemorySink::default();
        let res = run(
            &sink,
            Arc::from("shop"),
            raw(
                &[r#"{"id":1}"#, "not json", r#"{"id":3}"#, r#"{"id":4}"#],
                Some(&["k1", "k2", "", "k4"]),
                true,
            ),
        )
        .await
        .unwrap();
        assert_eq!((res.imported, res.duplicates, res.failed), (2, 0, 2));
        let statuses: Vec<_> = res.items.iter().map(|i| i.status).collect();
        assert_eq!(
            statuses,
            [
                ItemStatus::Imported,
                ItemStatus::Failed,
                ItemStatus::Failed,
                ItemStatus::Imported
            ]
        );
        assert!(
            res.items[1]
                .error
                .as_deref()
                .unwrap()
                .contains("not valid JSON")
        );
        assert!(res.items[2].error.as_deref().unwrap().contains("empty"));
        assert_eq!(res.items[1].key, "k2");
        assert_eq!(sink.records().len(), 2);
    }

    #[tokio::test]
    async fn batch_level_problems_fail_even_with_continue_on_error() {
        let sink = MemorySink::default();
        let err = run(
            &sink,
            Arc::from("shop"),
            raw(&["{}", "{}"], Some(&["a"]), true),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::InvalidInput(_)));
        assert!(
            err.to_string()
                .contains("2 payloads but 1 idempotency keys"),
            "{err}"
        );
        let many: Vec<&str> = vec!["{}"; MAX_BATCH_ITEMS + 1];
        let err = run(&sink, Arc::from("shop"), raw(&many, None, true))
            .await
            .unwrap_err();
        assert!(matches!(err, IngestError::TooLarge(_)));
        assert!(sink.records().is_empty());
    }

    #[tokio::test]
    async fn empty_batch_is_empty_result() {
        let sink = MemorySink::default();
        let res = run(&sink, Arc::from("shop"), raw(&[], None, false))
            .await
            .unwrap();
        assert_eq!(res, BatchResult::default());
    }
}
