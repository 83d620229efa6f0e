//! What a use case can fail with, typed, so each edge maps it once: the server to a status
//! and a code (`server/error.rs`), the CLI to an exit code (`cli/mod.rs`).
//!
//! Owns: [`ServiceError`], its stable [`code`](ServiceError::code) and its
//! [`Kind`], the one classification both edges read.
//! Must not: carry a secret, a token or a request body in a message.

use crate::catalog::CatalogError;
use crate::manifest::{AuthChoiceError, SettingsErrors};
use crate::oauth::client_credentials::ClientCredentialsError;
use crate::oauth::{AuthorizeError, ProviderError, ResolveError};
use crate::runtime::{InvokeError, LoadError};
use crate::store::StoreError;

/// How an edge should present a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input is wrong: fix it and retry (400).
    Invalid,
    /// The caller could not prove who it is (401): a webhook delivery whose signature
    /// does not verify, or that is stale.
    Refused,
    /// Nothing by that name (404).
    NotFound,
    /// The name is taken, or the state of the thing forbids it (409).
    Conflict,
    /// The provider or the route failed (502, or the route failure's own status).
    Upstream,
    /// A host fault (500).
    Internal,
    /// Full for now: try again later (503, with a retry hint).
    Busy,
}

/// Why a use case failed. Every variant names what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Settings given for a new connection, or an update, did not validate.
    #[error("settings for connector `{connector}` are invalid: {errors}")]
    Settings {
        connector: String,
        errors: SettingsErrors,
    },
    /// A stored connection's settings no longer validate against its connector's manifest
    /// (the manifest changed since): update the settings.
    #[error(
        "connection `{connection}`: its stored settings no longer match connector `{connector}`: {errors}; update them with new settings"
    )]
    StoredSettings {
        connection: String,
        connector: String,
        errors: SettingsErrors,
    },
    /// A secret setting was given among the plain ones (which are stored and shown in the
    /// clear). The edge says where secrets go instead.
    #[error("`{name}` is a secret setting and cannot be given as a plain one")]
    SecretAsPlain { name: String },
    /// A plain setting value or a secret value of the wrong type.
    #[error("{field}: {message}")]
    Input { field: String, message: String },
    /// A new connection's auth option that its connector does not offer (or none chosen
    /// where it offers several).
    #[error(transparent)]
    AuthChoice(AuthChoiceError),
    /// A stored connection whose chosen auth option its connector no longer offers.
    #[error("connection `{connection}`: {error}")]
    StoredAuthChoice {
        connection: String,
        error: AuthChoiceError,
    },
    #[error("connection `{connection}` does not use OAuth")]
    NotOAuth { connection: String },
    #[error("connection `{connection}` has no OAuth credential key")]
    NoCredentialKey { connection: String },
    #[error("the OAuth app credentials `{key}` are not set; set them first")]
    MissingCredentials { key: String },
    #[error("connector `{connector}` declares no {what}")]
    NotDeclared {
        connector: String,
        what: &'static str,
    },
    #[error(transparent)]
    Authorize(#[from] AuthorizeError),
    #[error(transparent)]
    ClientCredentials(#[from] ClientCredentialsError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A route ran and ended without an answer (trap, deadline, memory, unknown route).
    #[error(transparent)]
    Invocation(#[from] InvocationFailed),
    /// A route failed before it could run (no such route on the component).
    #[error(transparent)]
    Route(#[from] InvokeError),
    /// The connector's `postConnect` route answered something the host cannot use.
    #[error("{0}")]
    PostConnect(String),
    #[error(transparent)]
    Runtime(#[from] LoadError),
    #[error("setting up outbound HTTP: {0}")]
    Egress(String),
    #[error(
        "connector `{connector}` has no stream `{stream}`{}",
        known_list(known)
    )]
    UnknownStream {
        connector: String,
        stream: String,
        known: Vec<String>,
    },
    #[error("stream `{stream}` of connection `{connection}` is running; wait for its run to end")]
    StreamRunning { connection: String, stream: String },
    #[error(
        "connector `{connector}` has no webhook `{webhook}`{}",
        known_webhooks(known)
    )]
    UnknownWebhook {
        connector: String,
        webhook: String,
        known: Vec<String>,
    },
    #[error(
        "connection `{connection}` has no value for the secret setting `{setting}`, which signs webhook `{webhook}`; set it first"
    )]
    MissingWebhookSecret {
        connection: String,
        webhook: String,
        setting: String,
    },
    /// The webhook's queue is at its limit: the provider should deliver again later.
    #[error(
        "webhook `{webhook}`: {waiting} deliveries ({waiting_bytes} bytes) are already waiting for its route; deliver again later"
    )]
    QueueFull {
        webhook: String,
        waiting: u64,
        waiting_bytes: u64,
    },
    #[error("webhook `{webhook}`: delivery refused: {reason}")]
    WebhookRefused {
        webhook: String,
        reason: crate::webhooks::VerifyError,
    },
    /// A host task ended without an answer (it panicked or was cancelled).
    #[error("{0}")]
    Task(String),
}

fn known_webhooks(known: &[String]) -> String {
    if known.is_empty() {
        "; it declares no webhooks".to_string()
    } else {
        format!("; it has {}", known.join(", "))
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "; it declares no streams".to_string()
    } else {
        format!("; it has {}", known.join(", "))
    }
}

/// A route invocation that ended without an answer from the guest. The message is
/// redacted; the id is the one recorded in the invocation history, the same scheme as a
/// successful invocation's.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvocationFailed {
    pub invocation_id: String,
    /// The runtime's stable code, for example `deadline_exceeded`.
    pub code: &'static str,
    /// The HTTP status a caller should see (404, 405, 500, 504).
    pub http_status: u16,
    pub message: String,
}

impl ServiceError {
    /// How the edges present this failure.
    pub fn kind(&self) -> Kind {
        match self {
            ServiceError::Store(e) => store_kind(e),
            ServiceError::Catalog(CatalogError::NotFound { .. }) => Kind::NotFound,
            ServiceError::Catalog(
                CatalogError::Ambiguous(_) | CatalogError::Manifest(_) | CatalogError::Load(_),
            ) => Kind::Conflict,
            ServiceError::Catalog(CatalogError::Runtime(_)) => Kind::Internal,
            ServiceError::Settings { .. }
            | ServiceError::SecretAsPlain { .. }
            | ServiceError::Input { .. }
            | ServiceError::AuthChoice(_) => Kind::Invalid,
            ServiceError::StoredSettings { .. }
            | ServiceError::StoredAuthChoice { .. }
            | ServiceError::NotOAuth { .. }
            | ServiceError::NoCredentialKey { .. }
            | ServiceError::MissingCredentials { .. }
            | ServiceError::NotDeclared { .. } => Kind::Conflict,
            ServiceError::Authorize(e) => match e {
                AuthorizeError::Exchange(_) => Kind::Upstream,
                AuthorizeError::Store(s) => store_kind(s),
                _ => Kind::Invalid,
            },
            ServiceError::ClientCredentials(e) => match e {
                ClientCredentialsError::Token(_) => Kind::Upstream,
                ClientCredentialsError::WrongGrant => Kind::Conflict,
                ClientCredentialsError::Store(s) => store_kind(s),
            },
            ServiceError::Resolve(ResolveError::Discovery { .. }) => Kind::Upstream,
            ServiceError::Resolve(_) => Kind::Conflict,
            ServiceError::Provider(ProviderError::Store(s)) => store_kind(s),
            ServiceError::Provider(_) => Kind::Conflict,
            ServiceError::Invocation(_) | ServiceError::Route(_) | ServiceError::PostConnect(_) => {
                Kind::Upstream
            }
            ServiceError::Runtime(_) | ServiceError::Egress(_) | ServiceError::Task(_) => {
                Kind::Internal
            }
            ServiceError::UnknownStream { .. } | ServiceError::UnknownWebhook { .. } => {
                Kind::NotFound
            }
            ServiceError::MissingWebhookSecret { .. } => Kind::Conflict,
            ServiceError::WebhookRefused { .. } => Kind::Refused,
            ServiceError::QueueFull { .. } => Kind::Busy,
            ServiceError::StreamRunning { .. } => Kind::Conflict,
        }
    }

    /// The stable code an API answer carries (`not_found`, `invalid_input`, ...; a route
    /// failure's own code, for example `deadline_exceeded`).
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Invocation(f) => f.code,
            ServiceError::Route(e) => e.code(),
            ServiceError::Authorize(AuthorizeError::Exchange(_))
            | ServiceError::ClientCredentials(ClientCredentialsError::Token(_)) => "provider_error",
            ServiceError::Authorize(AuthorizeError::Store(_)) => self.kind_code(),
            ServiceError::Authorize(_) => "authorization_failed",
            ServiceError::StoredSettings { .. } => "stored_settings_invalid",
            ServiceError::SecretAsPlain { .. } => "secret_as_plain",
            ServiceError::AuthChoice(_) => "auth_option_invalid",
            ServiceError::StoredAuthChoice { .. } => "stored_auth_option_invalid",
            ServiceError::PostConnect(_) => "post_connect_failed",
            ServiceError::Resolve(ResolveError::Discovery { .. }) => "discovery_failed",
            ServiceError::StreamRunning { .. } => "stream_running",
            ServiceError::QueueFull { .. } => "queue_full",
            ServiceError::WebhookRefused { reason, .. } => match reason {
                crate::webhooks::VerifyError::Stale { .. } => "stale_delivery",
                _ => "bad_signature",
            },
            _ => self.kind_code(),
        }
    }

    fn kind_code(&self) -> &'static str {
        match self.kind() {
            Kind::Invalid => "invalid_input",
            Kind::Refused => "refused",
            Kind::NotFound => "not_found",
            Kind::Conflict => match self {
                ServiceError::Store(StoreError::AlreadyExists { .. }) => "already_exists",
                _ => "conflict",
            },
            Kind::Upstream => "upstream_failed",
            Kind::Internal => "internal",
            Kind::Busy => "busy",
        }
    }

    /// The HTTP status a route failure asks for, when this is one.
    pub(crate) fn route_status(&self) -> Option<u16> {
        match self {
            ServiceError::Invocation(f) => Some(f.http_status),
            ServiceError::Route(e) => Some(e.http_status()),
            _ => None,
        }
    }

    /// The invocation id recorded in the history, when a route ran.
    pub fn invocation_id(&self) -> Option<&str> {
        match self {
            ServiceError::Invocation(f) => Some(&f.invocation_id),
            _ => None,
        }
    }
}

fn store_kind(e: &StoreError) -> Kind {
    match e {
        StoreError::NotFound { .. } => Kind::NotFound,
        StoreError::AlreadyExists { .. } => Kind::Conflict,
        StoreError::Invalid { .. } => Kind::Invalid,
        _ => Kind::Internal,
    }
}

/// The result of a use case.
pub(crate) type ServiceResult<T> = Result<T, ServiceError>;
