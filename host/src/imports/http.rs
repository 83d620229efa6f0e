//! `keyway:connector/http`: outbound requests through the egress layer, which checks the
//! manifest's `permissions.http` allowlist and the resolved addresses, injects
//! credentials host-side only where the connection's injection rules admit the URL,
//! scrubs the answer of every injected credential, caps sizes and time, and redacts
//! every error. Every injected value is learned by the invocation's redactor. `send-api`
//! resolves a route's relative path under the manifest's `connection.api` base URL and
//! then takes the same path.

use super::{ErrorCode, WitError, wit_error};
use crate::context::ContextSecrets;
use crate::egress::{self, ApiBase, EgressContext, EgressErrorCode, OutboundRequest};
use crate::runtime::HostState;
use crate::runtime::wit::http as wit;
use crate::types::Method;

fn to_request(req: wit::Request) -> OutboundRequest {
    let auth = match req.auth {
        wit::Auth::None => egress::Auth::None,
        wit::Auth::Oauth(o) => egress::Auth::OAuth(egress::OAuthAuth {
            min_ttl_seconds: o.min_ttl_seconds,
        }),
        wit::Auth::Secret(name) => egress::Auth::Secret(name),
        wit::Auth::OauthConnection(a) => egress::Auth::AppConnection(egress::AppConnectionAuth {
            name: a.name,
            min_ttl_seconds: a.min_ttl_seconds,
        }),
    };
    OutboundRequest {
        method: Method::from(req.method),
        url: req.url,
        headers: req.headers,
        body: req.body,
        timeout_ms: req.timeout_ms,
        auth,
    }
}

fn to_wit_code(code: EgressErrorCode) -> ErrorCode {
    match code {
        EgressErrorCode::Denied => ErrorCode::Denied,
        EgressErrorCode::Timeout => ErrorCode::Timeout,
        EgressErrorCode::TooLarge => ErrorCode::TooLarge,
        EgressErrorCode::InvalidInput => ErrorCode::InvalidInput,
        EgressErrorCode::ProviderUnavailable => ErrorCode::ProviderUnavailable,
        EgressErrorCode::ReauthRequired => ErrorCode::ReauthRequired,
        EgressErrorCode::MissingScopes => ErrorCode::MissingScopes,
        EgressErrorCode::NotPermitted => ErrorCode::NotPermitted,
        EgressErrorCode::NotFound => ErrorCode::NotFound,
        EgressErrorCode::Internal => ErrorCode::Internal,
    }
}

impl HostState {
    /// Sends `request` through the egress layer with this invocation's context: the one
    /// path both `send` and `send-api` take.
    async fn send_outbound(
        &mut self,
        request: OutboundRequest,
    ) -> wasmtime::Result<Result<wit::Response, WitError>> {
        let Some(egress) = self.conn.egress.clone() else {
            return Ok(Err(wit_error(
                ErrorCode::Denied,
                "outbound HTTP is not available to this invocation",
            )));
        };
        if matches!(request.auth, egress::Auth::OAuth(_)) && !self.conn.grants.has_oauth {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "connector `{}` declares no connection.oauth, so there is no token to inject",
                    self.conn.connector
                ),
            )));
        }
        let secrets = ContextSecrets(&self.conn);
        let injected = egress::InjectedValues::new();
        let ctx = EgressContext {
            policy: &*self.conn.http_policy,
            tokens: self.conn.tokens.as_deref(),
            app_tokens: &self.conn.app_tokens,
            secrets: &secrets,
            counter: &self.requests,
            calls: &self.calls,
            limits: &self.conn.egress_limits,
            redactor: &self.redactor,
            bindings: &self.conn.bindings,
            injected: &injected,
            scrubber: &self.conn.injected_scrubber,
        };
        let result = egress.send(request, &ctx).await;
        // Whatever went on the wire is a secret of this invocation from now on.
        self.learn_secrets(injected.take());
        match result {
            Ok(res) => Ok(Ok(wit::Response {
                status: res.status,
                headers: res.headers,
                body: res.body.to_vec(),
            })),
            Err(e) => Ok(Err(wit_error(to_wit_code(e.code), e.message))),
        }
    }
}

/// The request `send-api` makes of `req`: its path under the API's base URL, the API's
/// default headers where the route set none of that name, the API's credential.
fn api_request(api: &ApiBase, req: wit::ApiRequest) -> Result<OutboundRequest, WitError> {
    let base = api.base.as_ref().map_err(|reason| {
        wit_error(
            ErrorCode::InvalidInput,
            format!("connection.api.baseUrl cannot be filled for this connection: {reason}"),
        )
    })?;
    let url = egress::resolve_api_path(base, &req.path)
        .map_err(|reason| wit_error(ErrorCode::InvalidInput, format!("the API path {reason}")))?;
    let mut headers = req.headers;
    for (name, value) in &api.headers {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), value.clone()));
        }
    }
    Ok(OutboundRequest {
        method: Method::from(req.method),
        url: url.to_string(),
        headers,
        body: req.body,
        timeout_ms: req.timeout_ms,
        auth: api.auth.clone(),
    })
}

impl wit::Host for HostState {
    async fn send(
        &mut self,
        req: wit::Request,
    ) -> wasmtime::Result<Result<wit::Response, WitError>> {
        self.send_outbound(to_request(req)).await
    }

    async fn send_api(
        &mut self,
        req: wit::ApiRequest,
    ) -> wasmtime::Result<Result<wit::Response, WitError>> {
        let Some(api) = self.conn.api.clone() else {
            return Ok(Err(wit_error(
                ErrorCode::NotPermitted,
                format!(
                    "connector `{}` declares no connection.api, so a relative request has no \
                     base URL; send the whole URL with http.send",
                    self.conn.connector
                ),
            )));
        };
        match api_request(&api, req) {
            Ok(request) => self.send_outbound(request).await,
            Err(e) => Ok(Err(e)),
        }
    }
}
