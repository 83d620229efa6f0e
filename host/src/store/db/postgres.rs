//! The PostgreSQL side of [`super::Db`]: a `tokio-postgres` client whose I/O runs on a
//! small runtime of its own, called from the store's synchronous methods.
//!
//! The store's methods are synchronous and are called from inside the server's tokio
//! runtime, where no runtime may be blocked on; each call is handed to the database
//! runtime's thread and waited for on a plain channel, as a SQLite call waits on its file.
//!
//! Owns: the database runtime, connecting, the statement cache per connection, turning `?N` placeholders into
//! `$N`, binding [`Value`]s to whatever type the server inferred, reading columns back,
//! and transactions (`BEGIN`, the writers' advisory lock, `COMMIT`/`ROLLBACK`).
//! Must not: put a bound value or a server error's detail (which may quote a row) in an
//! error, or let a transaction whose statement failed report a commit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::value::convert;
use super::{DbError, FromValue, PgTarget, Value};

/// The advisory lock every writing transaction takes first: PostgreSQL's counterpart of
/// SQLite's single write lock, so the store's read-then-write transactions stay
/// serialised across replicas. (The number is "keyway" in ASCII.)
pub(crate) const WRITE_LOCK: i64 = 0x6b65_7977_6179;

/// Prepared statements kept per connection at most; the store's statements are a fixed
/// set, so this bounds only a bug.
const STATEMENT_CACHE: usize = 512;

/// The tables whose writes move the change counter (the triggers of migration 5).
const WATCHED: [&str; 3] = ["api_keys", "connections", "connection_secrets"];

pub(super) fn runtime() -> Result<&'static tokio::runtime::Runtime, DbError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("keyway-postgres")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| DbError::Postgres(format!("the database runtime could not start: {e}")))
}

/// Runs `fut` on the database runtime and waits for it on this thread. Called from a
/// worker of a multi-threaded tokio runtime (a request handler, the refresher), the wait
/// hands that worker's other tasks to another thread first: a round trip, or a write
/// waiting for another replica's transaction, holds up only its own caller.
pub(crate) fn block<T: Send + 'static>(
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, DbError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let wait = move || rx.recv().map_err(|_| DbError::Closed);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        // No runtime (a CLI command, a thread of the store's own), or a single-threaded
        // one, where there is no other worker to hand anything to.
        _ => wait(),
    }
}

/// A server error's message and code; its detail and hint may quote a row's values.
pub(crate) fn error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::Postgres(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        None => {
            // The driver's own text names the step ("error performing TLS handshake");
            // the cause (which certificate check failed, which socket error) is below it.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                cause = c.source();
            }
            DbError::Postgres(text)
        }
    }
}

/// One connection.
pub(crate) struct PgConn {
    client: Arc<tokio_postgres::Client>,
    statements: Mutex<HashMap<String, tokio_postgres::Statement>>,
    in_tx: AtomicBool,
    /// A statement of the open transaction failed: PostgreSQL has aborted it, and a
    /// `COMMIT` would quietly roll back.
    tx_failed: AtomicBool,
    /// A write to a watched table was run since [`PgConn::take_touched`].
    touched: AtomicBool,
}

impl PgConn {
    /// Connects to `target`; the connection's reader runs on the database runtime.
    pub(crate) fn connect(target: &PgTarget) -> Result<PgConn, DbError> {
        let target = target.clone();
        let client = block(async move {
            let (client, connection) = target.config.connect(target.tls.clone()).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %error(e), "a database connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        })?
        .map_err(error)?;
        Ok(PgConn {
            client: Arc::new(client),
            statements: Mutex::new(HashMap::new()),
            in_tx: AtomicBool::new(false),
            tx_failed: AtomicBool::new(false),
            touched: AtomicBool::new(false),
        })
    }

    /// Whether this connection wrote a watched table since the last call.
    pub(crate) fn take_touched(&self) -> bool {
        self.touched.swap(false, Ordering::AcqRel)
    }

    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        if let Some(stmt) = self.cache().get(sql) {
            return Ok(stmt.clone());
        }
        let text = placeholders(sql);
        let client = self.client.clone();
        let stmt = self.check(block(async move { client.prepare(&text).await })?)?;
        let mut cache = self.cache();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, tokio_postgres::Statement>> {
        self.statements.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a failure inside a transaction, and turns the driver's error into ours.
    fn check<T>(&self, result: Result<T, tokio_postgres::Error>) -> Result<T, DbError> {
        result.map_err(|e| {
            if self.in_tx.load(Ordering::Acquire) {
                self.tx_failed.store(true, Ordering::Release);
            }
            error(e)
        })
    }

    fn note_write(&self, sql: &str) {
        let head = sql.trim_start();
        let reads = head.len() >= 6 && head[..6].eq_ignore_ascii_case("select");
        if !reads && WATCHED.iter().any(|t| sql.contains(t)) {
            self.touched.store(true, Ordering::Release);
        }
    }

    pub(super) fn execute(&self, sql: &str, values: &[Value<'_>]) -> Result<usize, DbError> {
        let stmt = self.statement(sql)?;
        let owned = owned(values);
        let client = self.client.clone();
        let changed = self.check(block(
            async move { client.execute(&stmt, &refs(&owned)).await },
        )?)?;
        self.note_write(sql);
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    pub(super) fn query(
        &self,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, DbError> {
        let stmt = self.statement(sql)?;
        let owned = owned(values);
        let client = self.client.clone();
        let rows = self.check(block(
            async move { client.query(&stmt, &refs(&owned)).await },
        )?)?;
        self.note_write(sql);
        Ok(rows)
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        let client = self.client.clone();
        let text = sql.to_string();
        self.check(block(async move { client.batch_execute(&text).await })?)?;
        self.note_write(sql);
        Ok(())
    }

    pub(super) fn begin(&self, write: bool) -> Result<(), DbError> {
        let sql = if write {
            format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        } else {
            "BEGIN".to_string()
        };
        self.tx_failed.store(false, Ordering::Release);
        self.execute_batch(&sql)?;
        self.in_tx.store(true, Ordering::Release);
        Ok(())
    }

    /// Runs `f` inside a savepoint of the open transaction; on failure rolls back to it,
    /// so the transaction may go on.
    pub(super) fn savepoint<T>(
        &self,
        f: impl FnOnce() -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.execute_batch("SAVEPOINT keyway_step")?;
        match f() {
            Ok(v) => {
                self.execute_batch("RELEASE SAVEPOINT keyway_step")?;
                Ok(v)
            }
            Err(e) => {
                self.tx_failed.store(false, Ordering::Release);
                self.execute_batch("ROLLBACK TO SAVEPOINT keyway_step")?;
                Err(e)
            }
        }
    }

    /// Commits (or rolls back) the open transaction. A commit of a transaction that had a
    /// failed statement rolls back and says so.
    pub(super) fn finish(&self, commit: bool) -> Result<(), DbError> {
        let failed = self.tx_failed.swap(false, Ordering::AcqRel);
        self.in_tx.store(false, Ordering::Release);
        let client = self.client.clone();
        let end = if commit && !failed {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        block(async move { client.batch_execute(end).await })?.map_err(error)?;
        if commit && failed {
            return Err(DbError::Postgres(
                "the transaction was rolled back: one of its statements failed".into(),
            ));
        }
        Ok(())
    }
}

/// `?N` becomes `$N` and a bare `?` the next number, outside quoted text.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 0u32;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&next.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A bound value owned, to travel to the database runtime.
#[derive(Debug)]
enum PgValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn owned(values: &[Value<'_>]) -> Vec<PgValue> {
    values
        .iter()
        .map(|v| match *v {
            Value::Null => PgValue::Null,
            Value::Int(i) => PgValue::Int(i),
            Value::Real(r) => PgValue::Real(r),
            Value::Text(t) => PgValue::Text(t.to_string()),
            Value::Blob(b) => PgValue::Blob(b.to_vec()),
        })
        .collect()
}

fn refs(values: &[PgValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Binds to the type the server inferred for the placeholder: an integer to any integer
/// or boolean column (range-checked), text to text, bytes to `bytea`.
impl ToSql for PgValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            PgValue::Null => Ok(IsNull::Yes),
            PgValue::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to {ty}").into()),
            },
            PgValue::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => Err(format!("a real number cannot be bound to {ty}").into()),
            },
            PgValue::Text(t) => match *ty {
                Type::BYTEA => t.as_bytes().to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
            PgValue::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound to {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(super) fn column<T: FromValue>(row: &tokio_postgres::Row, index: usize) -> Result<T, DbError> {
    let Some(col) = row.columns().get(index) else {
        return Err(DbError::conversion(index, "no such column"));
    };
    let read = |e: tokio_postgres::Error| DbError::conversion(index, e);
    let value = match *col.type_() {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map_err(read)?
            .map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map_err(read)?
            .map(|i| Value::Int(i64::from(i))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map_err(read)?
            .map(|i| Value::Int(i64::from(i))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)
            .map_err(read)?
            .map(|b| Value::Int(i64::from(b))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map_err(read)?
            .map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)
            .map_err(read)?
            .map(|r| Value::Real(f64::from(r))),
        Type::BYTEA => row
            .try_get::<_, Option<&[u8]>>(index)
            .map_err(read)?
            .map(Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<&str>>(index)
            .map_err(read)?
            .map(Value::Text),
        ref other => {
            return Err(DbError::conversion(
                index,
                format!("the server sent type {other}; the query should cast it"),
            ));
        }
    };
    convert(index, value.unwrap_or(Value::Null))
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
