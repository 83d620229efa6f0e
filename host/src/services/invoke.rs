//! Running a stored connection's routes: any route for the server and `keyway call
//! --connection`, the manifest's `testConnection` and `postConnect` routes, and the
//! history of what ran (every invocation recorded under its one id, answered or failed).
//!
//! Text taken from an invocation (a failure's message, a postConnect answer, outbound
//! URLs) is redacted with that invocation's redactor and only then clipped, before it is
//! returned, logged or stored.
//!
//! Owns: joining a connection's settings, tokens and grants into the invocation's doors.
//! Must not: duplicate what the registry or the runtime decide.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::views::{AccountView, InvocationView, TestView};
use super::{InvocationFailed, LiveConnection, ServiceError, ServiceResult, Services};
use crate::catalog::Lookup;
use crate::context::ConnectionContext;
use crate::egress::CallRecord;
use crate::manifest::RouteRef;
use crate::redact::Redactor;
use crate::registry::LoadedConnector;
use crate::runtime::{MAX_ERROR_TEXT, RouteRequest, RouteResponse, next_invocation_id};
use crate::store::{
    ConnectionRecord, InvocationRecord, Page, PageCursor, ProviderAccount, now_unix_ms,
};

impl Services {
    /// Runs a route for the stored connection `name`.
    pub async fn invoke(&self, name: &str, req: RouteRequest) -> ServiceResult<RouteResponse> {
        let connection = self.live_connection(name).await?;
        self.invoke_live(&connection, req).await
    }

    /// The stored connection `name` and its loaded connector, for a use case that needs
    /// the whole record (read from the store, not from memory).
    pub(crate) async fn resolve_connection(
        &self,
        name: &str,
    ) -> ServiceResult<(ConnectionRecord, Arc<LoadedConnector>)> {
        let record = self.store.connection_by_name(name)?;
        let connector = self.connector(&record.connector, Lookup::KeyOrPath).await?;
        Ok((record, connector))
    }

    /// Runs a route for a connection the caller already has ([`Services::live_connection`]),
    /// so nothing is read twice. The invocation is recorded in the history whatever its
    /// outcome, under the id the answer or the failure carries.
    pub(crate) async fn invoke_live(
        &self,
        connection: &LiveConnection,
        req: RouteRequest,
    ) -> ServiceResult<RouteResponse> {
        self.invoke_in(connection, &connection.context, req).await
    }

    /// [`Services::invoke_live`] with a context derived from the connection's (a stream
    /// run's), recorded the same way.
    pub(crate) async fn invoke_in(
        &self,
        connection: &LiveConnection,
        ctx: &ConnectionContext,
        req: RouteRequest,
    ) -> ServiceResult<RouteResponse> {
        let route = format!("{} {}", req.method, req.path);
        let started_at_ms = now_unix_ms();
        let started = Instant::now();
        let id = next_invocation_id();
        let outcome = connection
            .connector
            .component
            .invoke_as(ctx, req, id.clone())
            .await;
        let base = InvocationRecord {
            id,
            connection: connection.name.clone(),
            connector: connection.connector_key.clone(),
            route,
            status: None,
            error_code: None,
            error: None,
            duration_us: 0,
            outbound: serde_json::Value::Array(Vec::new()),
            started_at_ms,
        };
        let (row, result) = match outcome {
            Ok(res) => (
                InvocationRecord {
                    status: Some(res.status),
                    duration_us: micros(res.duration),
                    outbound: calls_json(&res.calls, &res.redactor),
                    ..base
                },
                Ok(res),
            ),
            Err(e) => {
                let failed = InvocationFailed {
                    invocation_id: base.id.clone(),
                    code: e.code(),
                    http_status: e.http_status(),
                    message: ctx.redactor.redact_clipped(&e.to_string(), MAX_ERROR_TEXT),
                };
                (
                    InvocationRecord {
                        error_code: Some(failed.code.to_string()),
                        error: Some(failed.message.clone()),
                        duration_us: micros(started.elapsed()),
                        ..base
                    },
                    Err(ServiceError::Invocation(failed)),
                )
            }
        };
        if let Err(e) = self.store.record_invocation(row) {
            tracing::warn!(connection = %connection.name, error = %e, "could not record the invocation");
        }
        result
    }

    /// The newest `limit` invocations of the connection `name`.
    pub fn recent_invocations(
        &self,
        name: &str,
        limit: u32,
        before: Option<PageCursor>,
    ) -> ServiceResult<Page<InvocationView>> {
        self.store.connection_by_name(name)?;
        Ok(self
            .store
            .recent_invocations(name, limit, before)?
            .map(|r| InvocationView::from(r)))
    }

    /// Every connection's invocations in the hour before `now_ms`, in twelve five-minute
    /// buckets, oldest first: (the bucket's start, all, failed).
    pub fn last_hour_activity(&self, now_ms: i64) -> ServiceResult<Vec<(i64, u64, u64)>> {
        const BUCKET_MS: i64 = 5 * 60 * 1000;
        const BUCKETS: i64 = 12;
        let since = now_ms - BUCKET_MS * BUCKETS;
        let counts = self.store.invocation_counts(since, BUCKET_MS)?;
        Ok((0..BUCKETS)
            .map(|i| {
                let start = since + i * BUCKET_MS;
                counts
                    .iter()
                    .find(|(s, _, _)| *s == start)
                    .copied()
                    .unwrap_or((start, 0, 0))
            })
            .collect())
    }

    async fn run_route_ref(&self, name: &str, route: &RouteRef) -> ServiceResult<RouteResponse> {
        self.invoke(name, RouteRequest::new(route.method, route.path.clone()))
            .await
    }

    /// Runs the manifest's `testConnection` route for `name`.
    pub async fn test_connection(&self, name: &str) -> ServiceResult<TestView> {
        let (record, connector) = self.resolve_connection(name).await?;
        let route = connector
            .connector()
            .connection()
            .test_connection
            .clone()
            .ok_or_else(|| ServiceError::NotDeclared {
                connector: record.connector.clone(),
                what: "connection.testConnection",
            })?;
        let res = self.run_route_ref(name, &route).await?;
        let body = serde_json::from_slice::<serde_json::Value>(&res.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&res.body).into_owned())
        });
        Ok(TestView {
            status: res.status,
            ok: (200..300).contains(&res.status),
            invocation_id: res.invocation_id,
            body,
        })
    }

    /// Runs the manifest's `postConnect` route for `name` (if it has one) and records the
    /// provider account it returns (`providerAccountId`, `providerAccountName`,
    /// `providerAccountDomain`).
    pub async fn post_connect(&self, name: &str) -> ServiceResult<Option<AccountView>> {
        let (record, connector) = self.resolve_connection(name).await?;
        let Some(route) = super::connections::stored_auth(connector.connector(), &record)?
            .oauth
            .as_ref()
            .and_then(|o| o.post_connect.clone())
        else {
            return Ok(None);
        };
        let res = self.run_route_ref(name, &route).await?;
        // The answer is the guest's: redacted with what its invocation knew, then clipped,
        // before it reaches a log, the callback page or the connection's row.
        let clean = |text: &str, max: usize| res.redactor.redact_clipped(text, max);
        if !(200..300).contains(&res.status) {
            return Err(ServiceError::PostConnect(format!(
                "postConnect route {} {} answered {}: {}",
                route.method,
                route.path,
                res.status,
                clean(&String::from_utf8_lossy(&res.body), MAX_ERROR_TEXT)
            )));
        }
        let body: serde_json::Value = serde_json::from_slice(&res.body).map_err(|e| {
            ServiceError::PostConnect(format!(
                "postConnect route {} {} did not answer JSON: {e}",
                route.method, route.path
            ))
        })?;
        let field = |k: &str| {
            body.get(k).and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| (!v.is_null()).then(|| v.to_string()))
                    .map(|text| clean(&text, MAX_ACCOUNT_FIELD))
            })
        };
        let account = ProviderAccount {
            id: field("providerAccountId"),
            name: field("providerAccountName"),
            domain: field("providerAccountDomain"),
        };
        self.store.set_provider_account(&record.id, &account)?;
        Ok(Some(AccountView::from(&account)))
    }
}

/// Longest provider account id, name or domain kept from a postConnect answer.
const MAX_ACCOUNT_FIELD: usize = 512;

/// Longest outbound URL kept in an invocation row.
const MAX_STORED_URL: usize = 2048;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The outbound calls as stored: method, URL (redacted with everything the invocation
/// learned, then clipped), status or error code, time, retry.
fn calls_json(calls: &[CallRecord], redactor: &Redactor) -> serde_json::Value {
    serde_json::Value::Array(
        calls
            .iter()
            .map(|c| {
                serde_json::json!({
                    "method": c.method.as_str(),
                    "url": redactor.redact_clipped(&c.url, MAX_STORED_URL),
                    "status": c.status,
                    "error": c.error.map(|e| e.as_str()),
                    "durationUs": micros(c.duration),
                    "retry": c.retry,
                })
            })
            .collect(),
    )
}
