//! An in-memory [`IngestSink`] that records what it stores, with the same deduplication as
//! the store: for tests and for running a connector without a database.
//!
//! Owns: its own list of records.
//! Must not: be used where records must survive the process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{IngestBatch, IngestError, IngestSink, Stored};
use crate::types::BoxFuture;

/// One record a [`MemorySink`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRecord {
    pub connection: Arc<str>,
    pub entity: String,
    pub stream: Option<String>,
    pub key: String,
    /// Canonical JSON text of the payload.
    pub payload: String,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<(Arc<str>, String, String)>,
    records: Vec<MemoryRecord>,
}

/// Keeps records in memory, deduplicated per connection, entity and key.
#[derive(Default)]
pub struct MemorySink {
    inner: Mutex<Inner>,
}

impl MemorySink {
    /// Every record stored so far, in order.
    pub fn records(&self) -> Vec<MemoryRecord> {
        self.lock().records.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl IngestSink for MemorySink {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
        let mut inner = self.lock();
        let mut outcomes = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            let id = (
                batch.connection.clone(),
                batch.entity.clone(),
                record.key().to_string(),
            );
            if inner.seen.insert(id) {
                inner.records.push(MemoryRecord {
                    connection: batch.connection.clone(),
                    entity: batch.entity.clone(),
                    stream: batch.stream.clone(),
                    key: record.key().to_string(),
                    payload: record.payload().to_string(),
                });
                outcomes.push(Stored::Imported);
            } else {
                outcomes.push(Stored::Duplicate);
            }
        }
        Box::pin(std::future::ready(Ok(outcomes)))
    }
}
