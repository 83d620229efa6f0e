//! `keyway:connector/http`: outbound requests, checked against `permissions.http`.

use super::{ErrorCode, WitError, wit_error};
use crate::runtime::HostState;
use crate::runtime::wit::http as wit;

impl wit::Host for HostState {
    async fn send(
        &mut self,
        req: wit::Request,
    ) -> wasmtime::Result<Result<wit::Response, WitError>> {
        let origin = url::Url::parse(&req.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "an unparsable URL".to_string());
        Ok(Err(wit_error(
            ErrorCode::Denied,
            format!("outbound HTTP to {origin} is not enabled in this host build"),
        )))
    }
}
