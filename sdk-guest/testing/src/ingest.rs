//! Records in memory: every batch the host's ingest door accepted (after its validation,
//! with each record's idempotency key), in front of the host's `MemorySink`, which keeps
//! each record once per connection, entity and key just as the SQLite store does.
//!
//! This module owns the batch log. It must not validate batches or decide duplicates:
//! the host's ingest path and `MemorySink` do.

use keyway_host::ingest::{
    IngestBatch, IngestError, IngestSink, MemoryCheckpoint, MemorySink, Page, PageStore, Stored,
};
use keyway_host::types::BoxFuture;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// One batch that reached the sink.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestCall {
    pub entity: String,
    pub stream: Option<String>,
    /// Each record's idempotency key (given by the connector, or the payload's hash).
    pub keys: Vec<String>,
    pub payloads: Vec<Value>,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub entity: String,
    pub stream: Option<String>,
    pub key: String,
    pub payload: Value,
}

/// The sink of one test runtime.
#[derive(Default)]
pub(crate) struct RecordingSink {
    records: MemorySink,
    calls: Mutex<Vec<IngestCall>>,
}

impl RecordingSink {
    fn log(&self, batch: &IngestBatch) {
        let call = IngestCall {
            entity: batch.entity.clone(),
            stream: batch.stream.clone(),
            keys: batch.records.iter().map(|r| r.key().to_string()).collect(),
            payloads: batch
                .records
                .iter()
                .map(|r| serde_json::from_str(r.payload()).unwrap_or(Value::Null))
                .collect(),
        };
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }

    /// The cursor of `connection`'s `stream`.
    pub(crate) fn cursor(&self, connection: &str, stream: &str) -> Option<String> {
        self.records.cursor(connection, stream)
    }

    pub(crate) fn set_cursor(&self, connection: &str, stream: &str, value: Option<&str>) {
        self.records.set_cursor(connection, stream, value);
    }

    pub(crate) fn checkpoints(&self) -> Vec<MemoryCheckpoint> {
        self.records.checkpoints()
    }
}

impl IngestSink for RecordingSink {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
        self.log(&batch);
        self.records.batch(batch)
    }
}

/// A stream run's pages: logged as batches when they are committed (records held
/// between checkpoints are not stored, so not logged, until then).
impl PageStore for RecordingSink {
    fn stored_keys(
        &self,
        connection: Arc<str>,
        entity: String,
        keys: Vec<String>,
    ) -> BoxFuture<'_, Result<HashSet<String>, IngestError>> {
        self.records.stored_keys(connection, entity, keys)
    }

    fn commit(&self, page: Arc<Page>) -> BoxFuture<'_, Result<Vec<Vec<Stored>>, IngestError>> {
        for batch in &page.batches {
            self.log(batch);
        }
        self.records.commit(page)
    }
}

/// What a test runtime's routes ingested.
pub struct IngestView<'a>(pub(crate) &'a RecordingSink);

impl IngestView<'_> {
    /// Every batch, in order.
    pub fn calls(&self) -> Vec<IngestCall> {
        self.0
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every stored record, once per entity and key, in the order first stored.
    pub fn records(&self) -> Vec<StoredRecord> {
        self.0
            .records
            .records()
            .into_iter()
            .map(|r| StoredRecord {
                payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
                entity: r.entity,
                stream: r.stream,
                key: r.key,
            })
            .collect()
    }

    /// The stored records of `entity`.
    pub fn records_of(&self, entity: &str) -> Vec<StoredRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.entity == entity)
            .collect()
    }
}
