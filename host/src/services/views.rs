//! What the host shows of its objects, in one casing (camelCase, as request bodies use):
//! the admin API answers with these views and the CLI's `--json` prints the same ones.
//!
//! Owns: the answer shapes, and what of a stored row is shown (no bookkeeping such as
//! token generations or cooldowns, never a secret value: secret settings by name only).
//! Must not: serialize a store type directly.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::oauth::{AuthorizationOutcome, AuthorizationRequest, ProviderRevocation};
use crate::store::{
    ApiKeySummary, AppConnectionRow, ConnectionRecord, CredentialSummary, InvocationRecord,
    ProviderAccount, StoredRecord,
};

mod connectors;
mod jobs;
pub(crate) use connectors::ConnectorView;
pub use jobs::{DeliveryView, RunView, StreamView, WebhookView};

/// A connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub name: String,
    pub id: String,
    pub connector: String,
    pub credential_key: Option<String>,
    /// The auth option chosen at creation, for a connector with `authOptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_option: Option<String>,
    pub status: &'static str,
    pub settings: Map<String, Value>,
    /// The names of the secret settings that are set.
    pub secret_settings: Vec<String>,
    pub granted_scopes: Option<Vec<String>>,
    pub callback_params: BTreeMap<String, String>,
    pub account: Option<AccountView>,
    pub has_tokens: bool,
    pub token_expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&ConnectionRecord> for ConnectionView {
    fn from(c: &ConnectionRecord) -> Self {
        let account = (c.account_id.is_some() || c.account_name.is_some()).then(|| AccountView {
            id: c.account_id.clone(),
            name: c.account_name.clone(),
            domain: c.account_domain.clone(),
        });
        ConnectionView {
            name: c.name.clone(),
            id: c.id.clone(),
            connector: c.connector.clone(),
            credential_key: c.credential_key.clone(),
            auth_option: c.auth_option.clone(),
            status: c.status.as_str(),
            settings: c.settings.clone(),
            secret_settings: c.secret_setting_keys.clone(),
            granted_scopes: c.granted_scopes.clone(),
            callback_params: c.callback_params.clone(),
            account,
            has_tokens: c.has_tokens,
            token_expires_at: c.token_expires_at,
            last_refresh_at: c.last_refresh_at,
            last_error: c.last_error.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// An app connection: its endpoints, client id and token state (never the secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionView {
    pub name: String,
    pub status: &'static str,
    pub provider_url: String,
    pub issuer_url: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub granted_scopes: Option<Vec<String>>,
    /// The subject (`id`) and email (`name`) of the id_token validated at authorization.
    pub account: Option<AccountView>,
    pub has_tokens: bool,
    pub token_expires_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&AppConnectionRow> for AppConnectionView {
    fn from(a: &AppConnectionRow) -> Self {
        let c = ConnectionView::from(&a.connection);
        AppConnectionView {
            name: c.name,
            status: c.status,
            provider_url: a.provider_url.clone(),
            issuer_url: a.issuer_url.clone(),
            auth_url: a.auth_url.clone(),
            token_url: a.token_url.clone(),
            scopes: a.scopes.clone(),
            client_id: a.client_id.clone(),
            granted_scopes: c.granted_scopes,
            account: c.account,
            has_tokens: c.has_tokens,
            token_expires_at: c.token_expires_at,
            last_refresh_at: c.last_refresh_at,
            last_error: c.last_error,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The provider account a connection is bound to.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
}

impl From<&ProviderAccount> for AccountView {
    fn from(a: &ProviderAccount) -> Self {
        AccountView {
            id: a.id.clone(),
            name: a.name.clone(),
            domain: a.domain.clone(),
        }
    }
}

/// A finished authorization.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizedView {
    pub connection: String,
    pub status: &'static str,
    pub granted_scopes: Vec<String>,
    pub missing_scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub has_refresh_token: bool,
    pub callback_params: BTreeMap<String, String>,
    /// What the connector's `postConnect` route reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountView>,
    /// Why `postConnect` failed (the connection stays authorized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_connect_error: Option<String>,
}

impl AuthorizedView {
    pub fn new(connection: &str, o: &AuthorizationOutcome) -> Self {
        AuthorizedView {
            connection: connection.to_string(),
            status: "connected",
            granted_scopes: o.granted_scopes.clone(),
            missing_scopes: o.missing_scopes.clone(),
            expires_at: o.expires_at,
            has_refresh_token: o.has_refresh_token,
            callback_params: o.callback_params.clone(),
            account: None,
            post_connect_error: None,
        }
    }
}

/// A started authorization: where to send the user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationUrlView {
    pub authorization_url: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

impl From<&AuthorizationRequest> for AuthorizationUrlView {
    fn from(r: &AuthorizationRequest) -> Self {
        AuthorizationUrlView {
            authorization_url: r.url.to_string(),
            redirect_uri: r.redirect_uri.to_string(),
            scopes: r.scopes.clone(),
            expires_at: r.expires_at,
        }
    }
}

/// What a revocation did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RevocationView {
    pub connection: String,
    /// `revoked_at_provider`, `no_revocation_endpoint`, `no_tokens` or
    /// `provider_revocation_failed`.
    pub outcome: &'static str,
    pub local_tokens_deleted: bool,
    pub warning: Option<String>,
}

impl RevocationView {
    pub fn new(connection: &str, r: &ProviderRevocation) -> Self {
        let (outcome, warning) = match r {
            ProviderRevocation::Revoked => ("revoked_at_provider", None),
            ProviderRevocation::NoEndpoint => ("no_revocation_endpoint", None),
            ProviderRevocation::NoTokens => ("no_tokens", None),
            ProviderRevocation::Failed(e) => ("provider_revocation_failed", Some(e.clone())),
        };
        RevocationView {
            connection: connection.to_string(),
            outcome,
            local_tokens_deleted: true,
            warning,
        }
    }
}

/// One finished invocation: its id, connection, connector, route (`METHOD /path`),
/// status or error code and message, duration, redacted outbound calls and start time.
#[derive(Debug, Clone)]
pub struct InvocationView(pub InvocationRecord);

impl From<&InvocationRecord> for InvocationView {
    fn from(r: &InvocationRecord) -> Self {
        InvocationView(r.clone())
    }
}

impl std::ops::Deref for InvocationView {
    type Target = InvocationRecord;
    fn deref(&self) -> &InvocationRecord {
        &self.0
    }
}

impl Serialize for InvocationView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let r = &self.0;
        let mut out = serializer.serialize_struct("Invocation", 10)?;
        out.serialize_field("id", &r.id)?;
        out.serialize_field("connection", &r.connection)?;
        out.serialize_field("connector", &r.connector)?;
        out.serialize_field("route", &r.route)?;
        out.serialize_field("status", &r.status)?;
        out.serialize_field("errorCode", &r.error_code)?;
        out.serialize_field("error", &r.error)?;
        out.serialize_field("durationUs", &r.duration_us)?;
        out.serialize_field("outbound", &r.outbound)?;
        out.serialize_field("startedAtMs", &r.started_at_ms)?;
        out.end()
    }
}

/// The answer of a connection's `testConnection` route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestView {
    pub status: u16,
    pub ok: bool,
    pub invocation_id: String,
    /// The route's body: JSON when it is JSON, else text.
    pub body: Value,
}

/// A stored record, its payload parsed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    pub id: i64,
    pub connection: String,
    pub entity: String,
    pub stream: Option<String>,
    pub idempotency_key: String,
    /// RFC 3339 with milliseconds, UTC.
    pub received_at: String,
    pub received_at_ms: i64,
    pub payload: Value,
}

impl From<&StoredRecord> for RecordView {
    fn from(r: &StoredRecord) -> Self {
        RecordView {
            id: r.id,
            connection: r.connection.clone(),
            entity: r.entity.clone(),
            stream: r.stream.clone(),
            idempotency_key: r.idempotency_key.clone(),
            received_at: timestamp(r.received_at_ms),
            received_at_ms: r.received_at_ms,
            payload: serde_json::from_str(&r.payload)
                .unwrap_or_else(|_| Value::String(r.payload.clone())),
        }
    }
}

/// `2025-01-02T03:04:05.678Z` for milliseconds since the epoch.
pub(crate) fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// OAuth app credentials (never the secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialView {
    pub key: String,
    pub client_id: String,
    pub has_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

impl From<&CredentialSummary> for CredentialView {
    fn from(c: &CredentialSummary) -> Self {
        CredentialView {
            key: c.key.clone(),
            client_id: c.client_id.clone(),
            has_secret: c.has_secret,
            updated_at: Some(c.updated_at),
        }
    }
}

/// An API key (never the key itself).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<&ApiKeySummary> for ApiKeyView {
    fn from(k: &ApiKeySummary) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A record as the tests of this module and of `records --json` use it.
#[cfg(test)]
pub(crate) fn sample_record() -> StoredRecord {
    StoredRecord {
        id: 3,
        connection: "shop".into(),
        entity: "Order".into(),
        stream: None,
        idempotency_key: "o-1".into(),
        payload: r#"{"id":1}"#.into(),
        received_at_ms: 1_700_000_000_123,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_shows_its_payload_parsed_and_its_time_in_utc() {
        let v = serde_json::to_value(RecordView::from(&sample_record())).expect("json");
        assert_eq!(v["payload"]["id"], 1);
        assert_eq!(v["receivedAt"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["idempotencyKey"], "o-1");
        assert_eq!(v["stream"], Value::Null);
    }
}
