//! The development provider behind `keyway serve --sandbox` (named apart from the wasm
//! sandbox in `runtime`): a small OAuth 2.0 authorization server and a paged "orders" API
//! on loopback, so a newcomer can connect, authorize in the browser and sync without any
//! external account, and connector authors have a local provider to try things against.
//!
//! It speaks the authorization-code grant with PKCE (S256 required), issues short-lived
//! access tokens (5 minutes) and refresh tokens that rotate on every use (a reused one is
//! refused with `invalid_grant`), and revokes tokens (RFC 7009). Its state lives in memory:
//! a restart forgets every grant, and connections must be authorized again.
//!
//! Owns: the sandbox's router, its client credentials and its in-memory grants.
//! Must not: listen on anything but loopback, or be used for real data.

mod api;
mod oauth;
mod page;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

/// The credential key the `sandbox` connector's manifest names.
pub const CREDENTIAL_KEY: &str = "sandbox";
/// The sandbox's OAuth client id.
pub const CLIENT_ID: &str = "keyway-sandbox";
/// How long an access token lives.
pub(crate) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);
/// How long an authorization code or a pending approval lives.
const CODE_TTL: Duration = Duration::from_secs(120);

/// A running sandbox provider.
pub struct Sandbox {
    addr: SocketAddr,
    client_secret: SecretString,
}

impl Sandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The provider's client credentials; stored under [`CREDENTIAL_KEY`], connections of
    /// the `sandbox` connector authorize with no set-up.
    pub fn credentials(&self) -> DevCredentials<'_> {
        DevCredentials {
            key: CREDENTIAL_KEY,
            client_id: CLIENT_ID,
            client_secret: &self.client_secret,
        }
    }
}

/// The provider's OAuth app credentials, to store under `key` before connecting.
pub struct DevCredentials<'a> {
    pub key: &'static str,
    pub client_id: &'static str,
    pub client_secret: &'a SecretString,
}

/// A grant waiting for the user's decision, or a code waiting for its exchange.
#[derive(Clone)]
struct Pending {
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
    scope: String,
    expires_at: std::time::Instant,
}

struct Issued {
    scope: String,
    expires_at: std::time::Instant,
}

#[derive(Default)]
struct Grants {
    /// Approval pages shown, by request id.
    requests: HashMap<String, Pending>,
    /// Codes issued, by code.
    codes: HashMap<String, Pending>,
    access: HashMap<String, Issued>,
    /// Live refresh tokens and their scope; a rotated one is removed.
    refresh: HashMap<String, String>,
}

struct SandboxState {
    client_secret: SecretString,
    grants: Mutex<Grants>,
    /// Orders placed with `POST /dev/orders`, after the first ones.
    added: Mutex<Vec<serde_json::Value>>,
}

impl SandboxState {
    fn added(&self) -> MutexGuard<'_, Vec<serde_json::Value>> {
        self.added.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn grants(&self) -> MutexGuard<'_, Grants> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn client_ok(&self, id: &str, secret: &str) -> bool {
        use subtle::ConstantTimeEq;
        let secret_ok: bool = secret
            .as_bytes()
            .ct_eq(self.client_secret.expose_secret().as_bytes())
            .into();
        id == CLIENT_ID && secret_ok
    }
}

/// Starts the sandbox on `addr` (loopback only) and returns once it is listening.
pub async fn start(addr: SocketAddr) -> anyhow::Result<Sandbox> {
    if !addr.ip().is_loopback() {
        bail!("the sandbox provider listens on loopback only, not {addr}");
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot start the sandbox provider on {addr}"))?;
    let bound = listener.local_addr()?;
    let client_secret = SecretString::from(crate::oauth::authorize::random_state());
    let state = Arc::new(SandboxState {
        client_secret: client_secret.clone(),
        grants: Mutex::new(Grants::default()),
        added: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/", get(page::home))
        .route("/oauth/authorize", get(oauth::authorize_page))
        .route("/oauth/authorize/decision", post(oauth::decision))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/api/me", get(api::me))
        .route("/api/orders", get(api::orders))
        .route("/dev/orders", post(api::place_order))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the sandbox provider stopped");
        }
    });
    Ok(Sandbox {
        addr: bound,
        client_secret,
    })
}
