//! Who may call what: the admin key guards the management API, API keys guard route
//! invocation. Both arrive as `Authorization: Bearer <key>`.
//!
//! Owns: the admin key (from `KEYWAY_ADMIN_KEY` or the data directory's `admin.key`,
//! created 0600 on first start and refused when group or others can read it, the same
//! check as `master.key`) and the two middlewares; the API key middleware hands the key's
//! id to the handler as [`ApiKeyId`].
//! Must not: log, echo or compare a presented key in variable time.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use super::metrics::Denial;

/// The environment variable that holds the admin key.
pub(crate) const ADMIN_KEY_ENV: &str = "KEYWAY_ADMIN_KEY";
const ADMIN_KEY_FILE: &str = "admin.key";
const MIN_ADMIN_KEY_LEN: usize = 24;

/// The admin key's digest; the key itself is not kept.
pub(crate) struct AdminKey {
    digest: [u8; 32],
    /// Where it came from, for the start-up line (never the value).
    pub origin: String,
}

impl AdminKey {
    fn from_secret(key: &str, origin: String) -> anyhow::Result<AdminKey> {
        if key.len() < MIN_ADMIN_KEY_LEN {
            bail!("the admin key from {origin} is shorter than {MIN_ADMIN_KEY_LEN} characters");
        }
        Ok(AdminKey {
            digest: Sha256::digest(key.as_bytes()).into(),
            origin,
        })
    }

    /// The key from the environment, else from `<data_dir>/admin.key`, created on first
    /// start with 256 random bits.
    pub(crate) fn load_or_create(data_dir: &Path) -> anyhow::Result<AdminKey> {
        if let Ok(value) = std::env::var(ADMIN_KEY_ENV) {
            return AdminKey::from_secret(value.trim(), format!("${ADMIN_KEY_ENV}"));
        }
        AdminKey::from_data_dir(data_dir)
    }

    /// The key in `<data_dir>/admin.key`, created on first start.
    fn from_data_dir(data_dir: &Path) -> anyhow::Result<AdminKey> {
        let path = data_dir.join(ADMIN_KEY_FILE);
        let origin = path.display().to_string();
        if path.exists() {
            let text = crate::store::crypto::read_private_file(&path)
                .with_context(|| format!("reading the admin key file {origin}"))?;
            return AdminKey::from_secret(text.trim(), origin);
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = format!("kwadmin_{}", URL_SAFE_NO_PAD.encode(bytes));
        crate::store::crypto::write_private_file(&path, &format!("{key}\n"))
            .with_context(|| format!("creating the admin key file {origin}"))?;
        AdminKey::from_secret(&key, origin)
    }

    pub(crate) fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// The bearer token of a request, if it has one.
fn bearer(req: &Request) -> Option<SecretString> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::from(token.trim().to_string()))
}

/// Lets a request through only with the admin key.
pub(crate) async fn require_admin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    match bearer(&req) {
        Some(key) if state.admin.matches(key.expose_secret()) => next.run(req).await,
        Some(_) => {
            state.metrics.deny(Denial::AdminKey);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the admin key is wrong",
            )
            .into_response()
        }
        None => {
            state.metrics.deny(Denial::AdminKey);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this endpoint needs the admin key as `Authorization: Bearer <key>`",
            )
            .into_response()
        }
    }
}

/// The id of the API key a route call came with (not the key), set by
/// [`require_api_key`]; the per-key concurrency share counts by it.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyId(pub Arc<str>);

/// Lets a request through only with a live API key.
pub(crate) async fn require_api_key(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(key) = bearer(&req) else {
        state.metrics.deny(Denial::MissingApiKey);
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "route invocation needs an API key as `Authorization: Bearer <key>` (create one with `keyway api-keys create`)",
        )
        .into_response();
    };
    match state.services.check_api_key(&key) {
        Ok(Some(id)) => {
            req.extensions_mut().insert(ApiKeyId(id));
            next.run(req).await
        }
        Ok(None) => {
            state.metrics.deny(Denial::InvalidApiKey);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is unknown, wrong or revoked",
            )
            .into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_admin_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let created = AdminKey::from_data_dir(dir.path()).unwrap();
        let path = dir.path().join(ADMIN_KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = AdminKey::from_data_dir(dir.path()).unwrap();
        assert_eq!(again.digest, created.digest);

        for loose in [0o640, 0o604, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
            let err = format!("{:#}", AdminKey::from_data_dir(dir.path()).err().unwrap());
            assert!(err.contains("readable by group or others"), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
            assert!(err.contains("admin.key"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(AdminKey::from_data_dir(dir.path()).is_ok());
    }
}
