//! The run lock of a stream, held by whichever process runs it, so two runs of one stream
//! never overlap and a run killed with SIGKILL never blocks the next one for long.
//!
//! On SQLite (one machine) it is an advisory lock on a file of the data directory, which
//! the kernel releases when the holder dies. On PostgreSQL (replicas on several machines)
//! it is a lease row (`leases.rs`) renewed by a heartbeat thread on a connection of its
//! own while the run lasts: a replica that dies stops renewing, and its lease runs out
//! after [`STREAM_LEASE`], when another replica may take the stream (and resume its run
//! from the last checkpoint).
//!
//! Owns: [`StreamLock`], where the lock files are (`<data dir>/locks/`), the stream
//! lease's name and its heartbeat.
//! Must not: hold the store's main connection while a run lasts.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::db::Dialect;
use super::{Store, StoreError, leases, new_id, open_db};

/// How long a stream's lease lasts without a heartbeat: how long a dead replica's run
/// blocks its stream at most. The heartbeat renews it every third of that (three chances
/// before it runs out).
pub const STREAM_LEASE: Duration = Duration::from_secs(30);

/// Held while a stream runs; dropping it (or the process dying) lets the next run start.
#[derive(Debug)]
pub struct StreamLock {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    File { _file: File },
    Lease { _heartbeat: Heartbeat },
}

/// The thread that renews a stream's lease, and releases it when told to stop.
#[derive(Debug)]
struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A name for (`connection`, `stream`) that neither can forge by containing a separator.
pub(crate) fn lock_name(connection: &str, stream: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(connection.as_bytes());
    digest.update([0]);
    digest.update(stream.as_bytes());
    format!("stream-{}", &hex::encode(digest.finalize())[..32])
}

impl Store {
    /// Takes the run lock of (`connection`, `stream`); `None` when a run holds it (in
    /// this process or another).
    pub fn lock_stream(
        &self,
        connection: &str,
        stream: &str,
    ) -> Result<Option<StreamLock>, StoreError> {
        let name = lock_name(connection, stream);
        let held = match self.dialect() {
            Dialect::Sqlite => self.lock_file(&name)?.map(|f| Held::File { _file: f }),
            Dialect::Postgres => self
                .lease_stream(name)?
                .map(|h| Held::Lease { _heartbeat: h }),
        };
        Ok(held.map(|held| StreamLock { _held: held }))
    }

    fn lock_file(&self, name: &str) -> Result<Option<File>, StoreError> {
        let dir = self.data_dir().join("locks");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let path: PathBuf = dir.join(format!("{name}.lock"));
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
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(StoreError::DataDir { path, source }),
        }
    }

    /// Takes the stream's lease for a holder of its own (two runs in one process exclude
    /// each other as two processes do) and starts its heartbeat.
    fn lease_stream(&self, name: String) -> Result<Option<Heartbeat>, StoreError> {
        let holder = new_id("run");
        let lease = self.stream_lease();
        let ttl_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let heartbeat = lease / 3;
        if !self.try_acquire_lease(&name, &holder, ttl_ms)? {
            return Ok(None);
        }
        // Its own connection: the heartbeat never waits on whatever holds the main one.
        let conn = match open_db(&self.url) {
            Ok(conn) => conn,
            Err(e) => {
                let _ = self.release_lease(&name, &holder);
                return Err(e);
            }
        };
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keyway-stream-lease".into())
            .spawn(move || {
                let (stopped, wake) = &*signal;
                let mut done = stopped.lock().unwrap_or_else(|p| p.into_inner());
                while !*done {
                    done = wake
                        .wait_timeout(done, heartbeat)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    if *done {
                        break;
                    }
                    match leases::acquire(&conn, &name, &holder, ttl_ms) {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(
                            target: "keyway::streams",
                            "a running stream's lease was taken by another process (this one stalled past it)"
                        ),
                        Err(e) => tracing::warn!(
                            target: "keyway::streams", error = %e,
                            "a running stream's lease could not be renewed"
                        ),
                    }
                }
                if let Err(e) = leases::release(&conn, &name, &holder) {
                    tracing::warn!(target: "keyway::streams", error = %e, "a stream's lease could not be released; it runs out by itself");
                }
            })
            .map_err(|e| StoreError::Invalid {
                what: "stream lease heartbeat",
                value: e.to_string(),
                reason: "the thread could not start",
            })?;
        Ok(Some(Heartbeat {
            stop,
            thread: Some(thread),
        }))
    }
}
