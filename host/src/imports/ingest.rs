//! `keyway:connector/ingest`: canonical records into the record store, only for entities
//! the manifest grants `write` on and only for a stored connection.
//!
//! Validation, keys and deduplication are the `ingest` module's; this door checks the
//! grant, the connection and the sink, converts between WIT and host types, and redacts
//! every message it hands back.

use super::{ErrorCode, WitError, wit_error};
use crate::ingest::{self, IngestError, ItemStatus, RawBatch};
use crate::runtime::HostState;
use crate::runtime::wit::ingest as wit;

/// The WIT code of an ingest failure (the `state` door's checkpoints share it).
pub(super) fn to_wit_code(e: &IngestError) -> ErrorCode {
    match e {
        IngestError::InvalidInput(_) => ErrorCode::InvalidInput,
        IngestError::TooLarge(_) => ErrorCode::TooLarge,
        IngestError::Sink(_) => ErrorCode::Internal,
    }
}

impl wit::Host for HostState {
    async fn batch(
        &mut self,
        entity: String,
        payloads: Vec<String>,
        options: wit::BatchOptions,
    ) -> wasmtime::Result<Result<wit::BatchResult, WitError>> {
        if !self.conn.grants.writable_entities.contains(&entity) {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "the manifest does not grant write on entity `{}` (permissions.entities)",
                    self.redact(&entity)
                ),
            )));
        }
        let Some(connection) = self.conn.connection.clone() else {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                "ingest needs a stored connection; this invocation runs without one",
            )));
        };
        let Some(sink) = self.conn.ingest.clone() else {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                "this invocation has no record store behind it",
            )));
        };
        let raw = RawBatch {
            entity,
            stream: options.stream,
            payloads,
            keys: options.idempotency_keys,
            continue_on_error: options.continue_on_error,
        };
        let entity = raw.entity.clone();
        let conn_name = connection.clone();
        let result = match ingest::run(&*sink, connection, raw).await {
            Ok(result) => result,
            Err(e) => {
                tracing::debug!(
                    target: "keyway::ingest",
                    connector = %self.conn.connector,
                    connection = %conn_name,
                    route = %self.meta.route,
                    invocation = %self.meta.id,
                    entity = %entity,
                    "batch refused: {}",
                    self.redact(&e.to_string())
                );
                return Ok(Err(wit_error(to_wit_code(&e), self.redact(&e.to_string()))));
            }
        };
        if let Some(run) = &self.conn.stream {
            run.note_failed(result.failed);
        }
        tracing::debug!(
            target: "keyway::ingest",
            connector = %self.conn.connector,
            connection = %conn_name,
            route = %self.meta.route,
            invocation = %self.meta.id,
            entity = %entity,
            imported = result.imported,
            duplicates = result.duplicates,
            failed = result.failed,
            "batch stored"
        );
        let items = result
            .items
            .into_iter()
            .map(|item| wit::ItemResult {
                index: item.index,
                status: match item.status {
                    ItemStatus::Imported => wit::ItemStatus::Imported,
                    ItemStatus::Duplicate => wit::ItemStatus::Duplicate,
                    ItemStatus::Failed => wit::ItemStatus::Failed,
                },
                idempotency_key: item.key,
                error: item.error.map(|m| self.redact(&m)),
            })
            .collect();
        Ok(Ok(wit::BatchResult {
            imported: result.imported,
            duplicates: result.duplicates,
            failed: result.failed,
            items,
        }))
    }
}
