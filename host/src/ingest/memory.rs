//! An in-memory [`IngestSink`] that records what it stores, with the same deduplication as
//! the store: for tests and for running a connector without a database.
//!
//! Owns: its own list of records.
//! Must not: be used where records must survive the process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::checkpoint::{CursorChange, Page, PageStore};
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

/// One checkpoint a stream run committed to a [`MemorySink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryCheckpoint {
    pub stream: String,
    /// The cursor written.
    pub value: String,
    /// Records the checkpoint committed as new.
    pub imported: u32,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<(Arc<str>, String, String)>,
    records: Vec<MemoryRecord>,
    cursors: HashMap<(Arc<str>, String), String>,
    checkpoints: Vec<MemoryCheckpoint>,
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

    /// The cursor of `connection`'s `stream`.
    pub fn cursor(&self, connection: &str, stream: &str) -> Option<String> {
        self.lock()
            .cursors
            .get(&(Arc::from(connection), stream.to_string()))
            .cloned()
    }

    /// Seeds (or clears) the cursor of `connection`'s `stream`.
    pub fn set_cursor(&self, connection: &str, stream: &str, value: Option<&str>) {
        let id = (Arc::from(connection), stream.to_string());
        let mut inner = self.lock();
        match value {
            Some(v) => inner.cursors.insert(id, v.to_string()),
            None => inner.cursors.remove(&id),
        };
    }

    /// Every checkpoint committed so far, in order.
    pub fn checkpoints(&self) -> Vec<MemoryCheckpoint> {
        self.lock().checkpoints.clone()
    }

    fn store(inner: &mut Inner, batch: &IngestBatch) -> Vec<Stored> {
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
        outcomes
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl IngestSink for MemorySink {
    fn batch(&self, batch: IngestBatch) -> BoxFuture<'_, Result<Vec<Stored>, IngestError>> {
        let outcomes = MemorySink::store(&mut self.lock(), &batch);
        Box::pin(std::future::ready(Ok(outcomes)))
    }
}

impl PageStore for MemorySink {
    fn stored_keys(
        &self,
        connection: Arc<str>,
        entity: String,
        keys: Vec<String>,
    ) -> BoxFuture<'_, Result<HashSet<String>, IngestError>> {
        let inner = self.lock();
        let found = keys
            .into_iter()
            .filter(|k| {
                inner
                    .seen
                    .contains(&(connection.clone(), entity.clone(), k.clone()))
            })
            .collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn commit(&self, page: Arc<Page>) -> BoxFuture<'_, Result<Vec<Vec<Stored>>, IngestError>> {
        let mut inner = self.lock();
        let outcomes: Vec<Vec<Stored>> = page
            .batches
            .iter()
            .map(|b| MemorySink::store(&mut inner, b))
            .collect();
        let id = (page.connection.clone(), page.stream.clone());
        match &page.cursor {
            CursorChange::Keep => {}
            CursorChange::Set(value) => {
                inner.cursors.insert(id, value.clone());
                let imported = outcomes
                    .iter()
                    .flatten()
                    .filter(|o| **o == Stored::Imported)
                    .count();
                inner.checkpoints.push(MemoryCheckpoint {
                    stream: page.stream.clone(),
                    value: value.clone(),
                    imported: u32::try_from(imported).unwrap_or(u32::MAX),
                });
            }
            CursorChange::Clear => {
                inner.cursors.remove(&id);
            }
        }
        Box::pin(std::future::ready(Ok(outcomes)))
    }
}
