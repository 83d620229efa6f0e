//! The run lock of a stream: an advisory lock on a file of the data directory, held by
//! whichever process runs the stream and released by the kernel when that process dies,
//! so a run killed with SIGKILL never blocks the next one and two never overlap.
//!
//! Owns: [`StreamLock`] and where its files are (`<data dir>/locks/`).
//! Must not: touch the database.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// Held while a stream runs; dropping it (or the process dying) lets the next run start.
#[derive(Debug)]
pub struct StreamLock {
    _file: File,
}

impl Store {
    /// Takes the run lock of (`connection`, `stream`); `None` when a run holds it (in
    /// this process or another).
    pub fn lock_stream(
        &self,
        connection: &str,
        stream: &str,
    ) -> Result<Option<StreamLock>, StoreError> {
        let dir = self.data_dir().join("locks");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let mut digest = Sha256::new();
        digest.update(connection.as_bytes());
        digest.update([0]);
        digest.update(stream.as_bytes());
        let name = format!("stream-{}.lock", &hex::encode(digest.finalize())[..32]);
        let path: PathBuf = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::DataDir {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StreamLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(StoreError::DataDir { path, source }),
        }
    }
}
