//! `keyway:connector/ingest`: canonical records into the store, only for entities the
//! manifest grants `write` on.

use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::ingest as wit;

impl wit::Host for HostState {
    async fn batch(
        &mut self,
        entity: String,
        _payloads: Vec<String>,
        _options: wit::BatchOptions,
    ) -> wasmtime::Result<Result<wit::BatchResult, WitError>> {
        if !self.conn.grants.writable_entities.contains(&entity) {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "the manifest does not grant write on entity `{entity}` (permissions.entities)"
                ),
            )));
        }
        Ok(Err(wit_error(
            ErrorCode::NotPermitted,
            "this invocation has no record store behind it",
        )))
    }
}
