//! Sealing of secrets at rest: AES-256-GCM with a fresh random nonce per write and the row's
//! identity (table, id, field) as associated data, plus loading or creating the master key.
//!
//! Owns: the master key (from `KEYWAY_MASTER_KEY` or a 0600 `master.key` file), the sealed
//! blob format, the `Aad` that binds a ciphertext to its row, and the derivation of
//! purpose-bound sub-keys (HMAC-SHA256 of a fixed label under the master key), so that
//! other modules (the compiled-component cache) never hold the master key itself.
//! Must not: log, print or return key material or plaintext in errors or `Debug` output, or
//! ever overwrite an existing key file.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;

/// Environment variable that carries the base64 master key.
pub(crate) const MASTER_KEY_ENV: &str = "KEYWAY_MASTER_KEY";
/// Name of the key file inside the data directory, used when the environment has no key.
pub(crate) const KEY_FILE: &str = "master.key";
/// Name of the key file written by `keys rotate` before the re-sealing transaction commits.
pub(crate) const NEXT_KEY_FILE: &str = "master.key.next";

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// Errors from key handling and sealing. None of them carry secret material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{origin}: the master key must be base64 of exactly 32 bytes (decoded {len} bytes)")]
    KeyLength { origin: String, len: usize },
    #[error("{origin}: the master key is not valid base64")]
    KeyEncoding { origin: String },
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the key file {path} is readable by group or others (mode {mode:o}); run `chmod 600` on it"
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    #[error("sealed value for {table}/{id}/{field} cannot be opened with this master key")]
    Open {
        table: String,
        id: String,
        field: String,
    },
    #[error("sealed value for {table}/{id}/{field} is not valid UTF-8 after opening")]
    NotUtf8 {
        table: String,
        id: String,
        field: String,
    },
}

/// Where the master key came from; shown to operators, never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Env,
    File(PathBuf),
    /// A new key file was created on this start.
    Created(PathBuf),
    /// Supplied directly by the caller (tests, rotation).
    Explicit,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Env => write!(f, "environment variable {MASTER_KEY_ENV}"),
            KeyOrigin::File(p) => write!(f, "key file {}", p.display()),
            KeyOrigin::Created(p) => write!(f, "new key file {}", p.display()),
            KeyOrigin::Explicit => write!(f, "explicitly supplied key"),
        }
    }
}

/// The label of the compiled-component cache's sub-key (see [`MasterKey::derive_subkey`]).
pub(crate) const COMPONENT_CACHE_LABEL: &str = "component-cache";
/// The label of the sub-key that keys configuration digests (app connections,
/// credentials, connections). The text predates the other two kinds and stays, so stored
/// digests keep matching.
pub(crate) const CONFIG_DIGEST_LABEL: &str = "app-connection-config";

/// A 256-bit key derived from the master key for one purpose. Its bytes are zeroed when
/// it is dropped; `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct SubKey(Zeroizing<[u8; 32]>);

impl SubKey {
    /// The key bytes, for the one place that keys a MAC with them.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl SubKey {
    /// A keyed digest (HMAC-SHA256) of a sequence of optional fields, each written with a
    /// presence byte and its length, so no two sequences encode alike. Keyed, because
    /// the digest is stored in plain text and a field may be a weak secret.
    pub(crate) fn digest(&self, fields: &[Option<&str>]) -> String {
        use hmac::Mac;
        let mut mac = match <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_ref()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        for field in fields {
            match field {
                None => mac.update(&[0u8]),
                Some(s) => {
                    mac.update(&[1u8]);
                    mac.update(&(s.len() as u64).to_be_bytes());
                    mac.update(s.as_bytes());
                }
            }
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKey(<redacted>)")
    }
}

/// A 256-bit master key. `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// Decodes a base64 key; `origin` names where it came from for the error message.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| CryptoError::KeyEncoding {
                origin: origin.to_string(),
            })?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::KeyLength {
                origin: origin.to_string(),
                len: bytes.len(),
            })?;
        Ok(MasterKey(arr))
    }

    /// The key as base64, for writing a key file or handing to an operator on request.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// A 256-bit key for one purpose: HMAC-SHA256 under the master key of a fixed label
    /// naming the purpose. Distinct labels give independent keys, and a sub-key reveals
    /// nothing about the master key.
    pub(crate) fn derive_subkey(&self, label: &str) -> SubKey {
        use hmac::Mac;
        // HMAC accepts keys of any length; a 32-byte key cannot be refused.
        let mut mac = match <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(b"keyway/v1/subkey/");
        mac.update(label.as_bytes());
        SubKey(Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    /// The key from `KEYWAY_MASTER_KEY` or an existing `<data_dir>/master.key`, without
    /// creating one (for commands that use the key only if there is one).
    pub(crate) fn load_existing(data_dir: &Path) -> Result<Option<Self>, CryptoError> {
        if let Ok(value) = std::env::var(MASTER_KEY_ENV) {
            return Self::from_base64(&value, MASTER_KEY_ENV).map(Some);
        }
        let path = data_dir.join(KEY_FILE);
        if path.exists() {
            return read_key_file(&path).map(Some);
        }
        Ok(None)
    }

    /// Loads the key from `KEYWAY_MASTER_KEY`, else from `<data_dir>/master.key`, creating
    /// that file (mode 0600) on first use. Never overwrites an existing file.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<(Self, KeyOrigin), CryptoError> {
        if let Ok(value) = std::env::var(MASTER_KEY_ENV) {
            return Ok((Self::from_base64(&value, MASTER_KEY_ENV)?, KeyOrigin::Env));
        }
        let path = data_dir.join(KEY_FILE);
        if path.exists() {
            return Ok((read_key_file(&path)?, KeyOrigin::File(path)));
        }
        let key = Self::generate();
        write_new_key_file(&path, &key)?;
        Ok((key, KeyOrigin::Created(path)))
    }
}

/// Reads a key file, refusing one that group or others can read.
pub(crate) fn read_key_file(path: &Path) -> Result<MasterKey, CryptoError> {
    let text = read_private_file(path)?;
    MasterKey::from_base64(&text, &path.display().to_string())
}

/// Reads a file that holds a key (`master.key`, `admin.key`), refusing one that group or
/// others can read. The mode is checked on the opened file, so it is the file read.
pub(crate) fn read_private_file(path: &Path) -> Result<String, CryptoError> {
    use std::io::Read;
    let io_err = |source| CryptoError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io_err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_err)?;
    Ok(text)
}

/// Creates a key file with mode 0600; fails if the file already exists.
pub(crate) fn write_new_key_file(path: &Path, key: &MasterKey) -> Result<(), CryptoError> {
    write_private_file(path, &format!("{}\n", key.to_base64()))
}

/// Creates a file only its owner can read (mode 0600) holding `contents`, and syncs it;
/// fails if the file already exists.
pub(crate) fn write_private_file(path: &Path, contents: &str) -> Result<(), CryptoError> {
    let io_err = |source| CryptoError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io_err)?;
    file.write_all(contents.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// The identity of the row and field a sealed value belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aad<'a> {
    pub table: &'a str,
    pub id: &'a str,
    pub field: &'a str,
}

impl<'a> Aad<'a> {
    pub fn new(table: &'a str, id: &'a str, field: &'a str) -> Self {
        Aad { table, id, field }
    }

    fn bytes(&self) -> Vec<u8> {
        // Length-prefixed so that no two distinct identities share an encoding.
        let mut out = b"keyway/v1".to_vec();
        for part in [self.table, self.id, self.field] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    fn open_error(&self) -> CryptoError {
        CryptoError::Open {
            table: self.table.to_string(),
            id: self.id.to_string(),
            field: self.field.to_string(),
        }
    }
}

/// Seals and opens values under one master key.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &MasterKey) -> Self {
        Sealer {
            cipher: Aes256Gcm::new((&key.0).into()),
        }
    }

    /// Seals `plaintext` for the row `aad`: `version || nonce || ciphertext+tag`.
    pub(crate) fn seal(&self, aad: Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad_bytes = aad.bytes();
        // Encryption with a valid key and in-memory buffers cannot fail for inputs below the
        // AES-GCM size limit (64 GiB); fall back to an empty body rather than panic.
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub(crate) fn seal_str(&self, aad: Aad<'_>, plaintext: &str) -> Vec<u8> {
        self.seal(aad, plaintext.as_bytes())
    }

    /// Opens a sealed value; fails if the key is wrong or the blob belongs to another row.
    pub fn open(&self, aad: Aad<'_>, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if blob.len() < 1 + NONCE_LEN + 16 || blob[0] != FORMAT_V1 {
            return Err(aad.open_error());
        }
        let aad_bytes = aad.bytes();
        self.cipher
            .decrypt(
                Nonce::from_slice(&blob[1..1 + NONCE_LEN]),
                Payload {
                    msg: &blob[1 + NONCE_LEN..],
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| aad.open_error())
    }

    pub(crate) fn open_str(&self, aad: Aad<'_>, blob: &[u8]) -> Result<SecretString, CryptoError> {
        let bytes = self.open(aad, blob)?;
        String::from_utf8(bytes)
            .map(SecretString::from)
            .map_err(|_| CryptoError::NotUtf8 {
                table: aad.table.to_string(),
                id: aad.id.to_string(),
                field: aad.field.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn round_trip_and_fresh_nonce() {
        let s = Sealer::new(&MasterKey::generate());
        let aad = Aad::new("tokens", "c1", "access_token");
        let a = s.seal_str(aad, "canary-value");
        let b = s.seal_str(aad, "canary-value");
        assert_ne!(a, b, "each write uses a fresh nonce");
        assert_eq!(s.open_str(aad, &a).unwrap().expose_secret(), "canary-value");
    }

    #[test]
    fn ciphertext_moved_to_another_row_or_field_fails() {
        let s = Sealer::new(&MasterKey::generate());
        let blob = s.seal_str(Aad::new("tokens", "c1", "refresh_token"), "rt");
        let err = s
            .open(Aad::new("tokens", "c2", "refresh_token"), &blob)
            .unwrap_err();
        assert!(err.to_string().contains("tokens/c2/refresh_token"));
        assert!(
            s.open(Aad::new("tokens", "c1", "access_token"), &blob)
                .is_err()
        );
        assert!(
            s.open(Aad::new("credentials", "c1", "refresh_token"), &blob)
                .is_err()
        );
    }

    #[test]
    fn wrong_key_fails() {
        let blob = Sealer::new(&MasterKey::generate()).seal_str(Aad::new("t", "i", "f"), "x");
        assert!(
            Sealer::new(&MasterKey::generate())
                .open(Aad::new("t", "i", "f"), &blob)
                .is_err()
        );
    }

    #[test]
    fn key_decoding_errors_name_the_origin() {
        let err = MasterKey::from_base64("AAAA", "KEYWAY_MASTER_KEY").unwrap_err();
        assert!(err.to_string().contains("KEYWAY_MASTER_KEY"));
        assert!(err.to_string().contains("32 bytes"));
        assert!(MasterKey::from_base64("!!", "x").is_err());
    }

    #[test]
    fn key_file_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let key = MasterKey::generate();
        write_new_key_file(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(write_new_key_file(&path, &MasterKey::generate()).is_err());
        assert_eq!(read_key_file(&path).unwrap().to_base64(), key.to_base64());
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&key.to_base64()));
    }
}
