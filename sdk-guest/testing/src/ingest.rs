//! Records in memory: every batch the host's ingest door accepted (after its validation,
//! with each record's idempotency key), in front of the host's `MemorySink`, which keeps
//! each record once per connection, entity and key just as the SQLite store does.
//!
//! This module owns the batch log. It must not validate batches or decide duplicates:
//! the host's ingest path and `MemorySink` do.

use keyway_host::ingest::{IngestBatch, IngestError, IngestSink, MemorySink, Stored};
use keyway_host::types::BoxFuture;
use serde_json::Value;
use std::sync::Mutex;

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

impl IngestSink for RecordingSink {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
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
        self.records.batch(batch)
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
