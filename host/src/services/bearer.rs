//! Secrets the services hand out once and keep only as a digest: a connect link's token,
//! a console session's id.
//!
//! Owns: making one (256 random bits, base64url without padding, behind an optional
//! readable prefix) and its digest (hex SHA-256), the only form the store sees.
//! Must not: log or keep a secret it made.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret: `prefix` and 256 random bits in base64url.
pub(super) fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of `secret`.
pub(super) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
