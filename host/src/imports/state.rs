//! `keyway:connector/state`: a stream run's cursor and checkpoints. Only an invocation the
//! host runs as a manifest stream has state; every other gets `not-permitted`.
//!
//! What a checkpoint commits, and how, is the `ingest` module's (`StreamRun`); this door
//! converts between WIT and host types and redacts what it hands back.

use super::ingest::to_wit_code;
use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::state as wit;

const NOT_A_STREAM: &str =
    "state exists only in a stream run (a manifest `streams` entry the host runs)";

impl wit::Host for HostState {
    async fn get(&mut self) -> wasmtime::Result<Result<Option<String>, WitError>> {
        Ok(match &self.conn.stream {
            Some(run) => Ok(run.cursor()),
            None => Err(wit_error(ErrorCode::NotPermitted, NOT_A_STREAM)),
        })
    }

    async fn checkpoint(
        &mut self,
        value: String,
    ) -> wasmtime::Result<Result<wit::CheckpointResult, WitError>> {
        let Some(run) = self.conn.stream.clone() else {
            return Ok(Err(wit_error(ErrorCode::NotPermitted, NOT_A_STREAM)));
        };
        // A cursor is stored and shown in the clear: it may not carry a secret.
        if self.redact(&value) != value {
            return Ok(Err(wit_error(
                ErrorCode::InvalidInput,
                "a checkpoint may not contain a secret of this connection (cursors are stored and shown in the clear)",
            )));
        }
        match run.checkpoint(value).await {
            Ok(done) => {
                tracing::debug!(
                    target: "keyway::ingest",
                    connector = %self.conn.connector,
                    route = %self.meta.route,
                    invocation = %self.meta.id,
                    imported = done.imported,
                    duplicates = done.duplicates,
                    "checkpoint committed"
                );
                Ok(Ok(wit::CheckpointResult {
                    imported: done.imported,
                    duplicates: done.duplicates,
                }))
            }
            Err(e) => Ok(Err(wit_error(to_wit_code(&e), self.redact(&e.to_string())))),
        }
    }
}
