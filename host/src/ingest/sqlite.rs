//! The production [`IngestSink`]: records go to the `records` table of the store, one
//! transaction per batch, deduplicated by connection, entity and key.
//!
//! Owns: moving a batch write off the async runtime onto a blocking thread.
//! Must not: validate records (they arrive validated) or hold the store's lock across an
//! await.

use std::sync::Arc;

use std::collections::HashSet;

use super::checkpoint::{CursorChange, Page, PageStore};
use super::{IngestBatch, IngestError, IngestSink, Stored};
use crate::store::{CursorWrite, PageWrite, RecordTarget, RecordWrite, Store};
use crate::types::BoxFuture;

/// Stores records in the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteSink {
    store: Arc<Store>,
}

impl SqliteSink {
    pub fn new(store: Arc<Store>) -> Self {
        SqliteSink { store }
    }

    /// Writes `batch` on the calling thread (for callers outside an async runtime).
    pub(crate) fn store_blocking(&self, batch: &IngestBatch) -> Result<Vec<Stored>, IngestError> {
        let writes: Vec<RecordWrite<'_>> = batch
            .records
            .iter()
            .map(|r| RecordWrite {
                key: r.key(),
                payload: r.payload(),
            })
            .collect();
        let target = RecordTarget {
            connection: &batch.connection,
            entity: &batch.entity,
            stream: batch.stream.as_deref(),
        };
        let outcomes = self.store.insert_records(target, &writes)?;
        Ok(outcomes.into_iter().map(stored).collect())
    }
}

impl IngestSink for SqliteSink {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
        let sink = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || sink.store_blocking(&batch))
                .await
                .map_err(|e| IngestError::Sink(format!("the record writer stopped: {e}")))?
        })
    }
}

fn stored(new: bool) -> Stored {
    if new {
        Stored::Imported
    } else {
        Stored::Duplicate
    }
}

impl PageStore for SqliteSink {
    fn stored_keys(
        &self,
        connection: Arc<str>,
        entity: String,
        keys: Vec<String>,
    ) -> BoxFuture<'_, Result<HashSet<String>, IngestError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                Ok(store.stored_record_keys(&connection, &entity, &keys)?)
            })
            .await
            .map_err(|e| IngestError::Sink(format!("the record reader stopped: {e}")))?
        })
    }

    fn commit(&self, page: Arc<Page>) -> BoxFuture<'_, Result<Vec<Vec<Stored>>, IngestError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let batches = page
                    .batches
                    .iter()
                    .map(|b| {
                        (
                            RecordTarget {
                                connection: &b.connection,
                                entity: &b.entity,
                                stream: b.stream.as_deref(),
                            },
                            b.records
                                .iter()
                                .map(|r| RecordWrite {
                                    key: r.key(),
                                    payload: r.payload(),
                                })
                                .collect(),
                        )
                    })
                    .collect();
                let write = PageWrite {
                    connection: &page.connection,
                    stream: &page.stream,
                    run_id: &page.run_id,
                    batches,
                    cursor: match &page.cursor {
                        CursorChange::Keep => CursorWrite::Keep,
                        CursorChange::Set(v) => CursorWrite::Set(v),
                        CursorChange::Clear => CursorWrite::Clear,
                    },
                    pages: page.pages,
                    duplicates_seen: page.duplicates_seen,
                    failed: page.failed,
                };
                let outcomes = store.commit_stream_page(&write)?;
                Ok(outcomes
                    .into_iter()
                    .map(|b| b.into_iter().map(stored).collect())
                    .collect())
            })
            .await
            .map_err(|e| IngestError::Sink(format!("the record writer stopped: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ItemStatus, RawBatch, run};
    use crate::store::{MasterKey, RecordQuery};

    #[tokio::test]
    async fn batches_land_in_the_store_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap());
        let sink = SqliteSink::new(store.clone());
        let raw = RawBatch {
            entity: "Order".into(),
            stream: Some("orders".into()),
            payloads: (0..10).map(|i| format!(r#"{{"id":{i}}}"#)).collect(),
            keys: Some((0..10).map(|i| format!("order-{i}")).collect()),
            continue_on_error: false,
        };
        let first = run(&sink, Arc::from("shop"), raw.clone()).await.unwrap();
        assert_eq!((first.imported, first.duplicates), (10, 0));
        let second = run(&sink, Arc::from("shop"), raw).await.unwrap();
        assert_eq!((second.imported, second.duplicates), (0, 10));
        let stored = store
            .list_records(&RecordQuery {
                connection: "shop".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(stored.len(), 10);
        assert_eq!(stored[3].idempotency_key, "order-3");
        assert_eq!(stored[3].payload, r#"{"id":3}"#);

        // All or nothing: a bad item stores none of the batch.
        let bad = RawBatch {
            entity: "Order".into(),
            payloads: vec![r#"{"id":100}"#.into(), "[]".into()],
            ..Default::default()
        };
        assert!(run(&sink, Arc::from("shop"), bad.clone()).await.is_err());
        assert_eq!(store.count_records("shop").unwrap(), 10);
        // Going on past bad items stores the good one.
        let res = run(
            &sink,
            Arc::from("shop"),
            RawBatch {
                continue_on_error: true,
                ..bad
            },
        )
        .await
        .unwrap();
        assert_eq!(res.items[0].status, ItemStatus::Imported);
        assert_eq!(res.items[1].status, ItemStatus::Failed);
        assert_eq!(store.count_records("shop").unwrap(), 11);
    }
}
