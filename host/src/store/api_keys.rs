//! API keys that callers present to invoke `api_key` routes over HTTP.
//!
//! A key is `kw_<id>_<secret>`: the id finds the row, and only the SHA-256 digest of the
//! whole key is stored, compared in constant time. The plain key exists once, in the
//! answer to `create`.
//!
//! Owns: the `api_keys` table.
//! Must not: store, return or log a plain key after `create`, or compare digests with `==`.

use super::db::params;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::{Store, StoreError, now_unix};

const PREFIX: &str = "kw_";

/// A key just created: the only time the plain key is available.
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub key: SecretString,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a listing shows of a key.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeySummary {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Splits `kw_<id>_<secret>` into its id; `None` for anything else.
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_id = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_id && !secret.is_empty()).then_some(id)
}

/// `id` when `presented` is the key whose digest is `stored` (compared in constant time).
fn matching<'a>(presented: &SecretString, id: &'a str, stored: &[u8]) -> Option<&'a str> {
    let matches: bool = digest(presented.expose_secret())
        .as_slice()
        .ct_eq(stored)
        .into();
    matches.then_some(id)
}

/// The live keys' digests by id, as read at one moment ([`Store::live_api_keys`]).
#[derive(Default)]
pub(crate) struct LiveApiKeys {
    by_id: HashMap<Arc<str>, Vec<u8>>,
}

/// What [`LiveApiKeys::check`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck<'a> {
    /// One of the live keys: its id.
    Live(&'a Arc<str>),
    /// Shaped like a key, with an id none of the live keys has: a key created after these
    /// were read, or a revoked or made-up one.
    UnknownId,
    /// Not a key's shape, or a live key's id with the wrong secret. Reading the keys
    /// again cannot change this answer (a key's digest never changes).
    Refused,
}

impl LiveApiKeys {
    /// Whether `presented` is one of these keys.
    pub(crate) fn check(&self, presented: &SecretString) -> KeyCheck<'_> {
        let Some(id) = key_id(presented.expose_secret()) else {
            return KeyCheck::Refused;
        };
        let Some((id, stored)) = self.by_id.get_key_value(id) else {
            return KeyCheck::UnknownId;
        };
        match matching(presented, id, stored) {
            Some(_) => KeyCheck::Live(id),
            None => KeyCheck::Refused,
        }
    }
}

fn validate_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.trim().is_empty() && name.len() <= 100 && name.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "API key name",
            value: name.chars().take(80).filter(|c| !c.is_control()).collect(),
            reason: "use 1-100 printable characters",
        })
    }
}

impl Store {
    /// Creates a key named `name` (a label for people) and returns it in plain text once.
    pub fn create_api_key(&self, name: &str) -> Result<NewApiKey, StoreError> {
        validate_name(name)?;
        let mut id_bytes = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut id_bytes);
        rand::rng().fill_bytes(&mut secret);
        let id = hex::encode(id_bytes);
        let key = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        self.conn()
            .execute(
                "INSERT INTO api_keys (id, name, digest, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, digest(&key).as_slice(), now_unix()],
            )
            .map_err(StoreError::sql("storing an API key"))?;
        Ok(NewApiKey {
            id,
            name: name.to_string(),
            key: SecretString::from(key),
        })
    }

    /// Every live (unrevoked) key's digest, in one read, for a caller that checks keys
    /// from memory.
    pub(crate) fn live_api_keys(&self) -> Result<LiveApiKeys, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, digest FROM api_keys WHERE revoked_at IS NULL")
            .map_err(StoreError::sql("reading the API keys"))?;
        let by_id = stmt
            .query_map((), |r| {
                Ok((Arc::from(r.get::<_, String>(0)?), r.get::<_, Vec<u8>>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<HashMap<_, _>, _>>())
            .map_err(StoreError::sql("reading the API keys"))?;
        Ok(LiveApiKeys { by_id })
    }

    /// Every key, newest first, without digests.
    pub(crate) fn list_api_keys(&self) -> Result<Vec<ApiKeySummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, created_at, revoked_at FROM api_keys
                 ORDER BY created_at DESC, id",
            )
            .map_err(StoreError::sql("listing API keys"))?;
        let rows = stmt
            .query_map((), |r| {
                Ok(ApiKeySummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            })
            .map_err(StoreError::sql("listing API keys"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("listing API keys"))
    }

    /// Revokes the key `id`; later checks of it fail. Revoking twice is not an error.
    pub(crate) fn revoke_api_key(&self, id: &str) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                params![id, now_unix()],
            )
            .map_err(StoreError::sql("revoking an API key"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "API key",
                name: id.chars().take(40).collect(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::store::MasterKey::generate();
        let store = Store::open_with_key(dir.path(), &key).unwrap();
        (dir, store)
    }

    #[test]
    fn created_key_checks_until_revoked() {
        let (_dir, store) = store();
        let new = store.create_api_key("ci").unwrap();
        assert!(new.key.expose_secret().starts_with("kw_"));
        let live = store.live_api_keys().unwrap();
        assert!(matches!(live.check(&new.key), KeyCheck::Live(id) if **id == *new.id));
        store.revoke_api_key(&new.id).unwrap();
        assert_eq!(
            store.live_api_keys().unwrap().check(&new.key),
            KeyCheck::UnknownId
        );
        let listed = store.list_api_keys().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
    }

    #[test]
    fn wrong_malformed_and_unknown_keys_fail() {
        let (_dir, store) = store();
        let new = store.create_api_key("ci").unwrap();
        let mut wrong = new.key.expose_secret().to_string();
        wrong.pop();
        wrong.push('x');
        for bad in [
            wrong.as_str(),
            "",
            "kw_",
            "kw_zz_x",
            "Bearer x",
            "kw_0123456789abcdef_x",
        ] {
            let shown = bad.to_string();
            let bad = SecretString::from(bad.to_string());
            let keys = store.live_api_keys().unwrap();
            let found = keys.check(&bad);
            assert!(!matches!(found, KeyCheck::Live(_)));
            // Only a well-shaped id no key has is worth reading the keys again for.
            let expected = if shown == "kw_0123456789abcdef_x" {
                KeyCheck::UnknownId
            } else {
                KeyCheck::Refused
            };
            assert_eq!(found, expected, "{shown:?}");
        }
    }

    #[test]
    fn the_plain_key_is_not_stored() {
        let (dir, store) = store();
        let new = store.create_api_key("ci").unwrap();
        drop(store);
        // kw_<id>_<secret>: the secret itself may contain `_` (URL-safe base64), so take
        // everything after the id, not the last `_`-separated piece (which can be one
        // character long and then turns up in random bytes by chance).
        let secret_part = new
            .key
            .expose_secret()
            .splitn(3, '_')
            .nth(2)
            .unwrap()
            .to_string();
        assert!(secret_part.len() >= 32, "{} characters", secret_part.len());
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&secret_part));
        }
    }

    #[test]
    fn revoking_an_unknown_key_names_it() {
        let (_dir, store) = store();
        let err = store.revoke_api_key("nope").unwrap_err().to_string();
        assert!(err.contains("API key `nope` not found"), "{err}");
    }
}
