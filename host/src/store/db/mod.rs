//! One connection to the store's database, SQLite or PostgreSQL, behind the handful of
//! calls the store makes: run a statement, read rows, begin a transaction. The store's SQL
//! is written once, with `?N` placeholders, in the subset both databases speak (SQLite
//! 3.44 and later has `string_agg`, both have `ON CONFLICT` and `RETURNING`); where they
//! differ the store asks [`Db::dialect`].
//!
//! Owns: [`Db`], [`Tx`] (a transaction that rolls back unless committed), [`Statement`],
//! [`Row`], the [`DbError`] both backends report through, and the database URL
//! ([`DatabaseUrl`]) that picks the backend.
//! Must not: build SQL beyond rewriting placeholders, or put a bound value in an error
//! (values may be sealed secrets or payloads).

mod listen;
mod postgres;
mod sqlite;
mod tls;
mod url;
mod value;

use std::ops::Deref;

pub(crate) use self::listen::{Listener, OnNotification, listen};
pub(crate) use self::postgres::PgConn;
pub(crate) use self::sqlite::open as open_sqlite;
pub use self::tls::TlsMode;
pub use self::url::{DatabaseUrl, PgTarget};
pub(crate) use self::value::{FromValue, Param, Params, Value};

/// Builds the parameters of a statement from values of different types.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::store::db::Param]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::db::Param),+] as &[&dyn $crate::store::db::Param]
    };
}
pub(crate) use params;

/// What went wrong talking to the database. Never holds a bound value.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(String),
    #[error("the query returned no rows")]
    NoRows,
    #[error("column {index} holds {found}, not {wanted}")]
    Column {
        index: usize,
        wanted: &'static str,
        found: &'static str,
    },
    #[error("column {index} could not be read: {reason}")]
    Conversion { index: usize, reason: String },
    #[error("the database connection is closed")]
    Closed,
}

impl DbError {
    /// A value that was read but did not parse (stored JSON, a status name).
    pub(crate) fn conversion(index: usize, reason: impl std::fmt::Display) -> DbError {
        DbError::Conversion {
            index,
            reason: reason.to_string(),
        }
    }
}

/// `Ok(None)` for a query that found no row, as a lookup wants it.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Which SQL the connection speaks, for the few fragments that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to the store's database.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "Db::Sqlite",
            Db::Postgres(_) => "Db::Postgres",
        })
    }
}

/// One row of a result, read column by column.
pub(crate) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

/// What names a column: its index.
pub(crate) trait ColumnIndex {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl Row<'_> {
    /// Column `idx` as `T`; an error names the column when it holds something else.
    pub(crate) fn get<I: ColumnIndex, T: FromValue>(&self, idx: I) -> Result<T, DbError> {
        let index = idx.index();
        match self {
            Row::Sqlite(row) => sqlite::column(row, index),
            Row::Postgres(row) => postgres::column(row, index),
        }
    }
}

impl Db {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (its update hook, pragmas).
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Sqlite(conn) => Some(conn),
            Db::Postgres(_) => None,
        }
    }

    /// Runs one statement; returns how many rows it changed.
    pub(crate) fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, DbError> {
        match self {
            Db::Sqlite(conn) => sqlite::execute(conn, sql, &params.values()),
            Db::Postgres(conn) => conn.execute(sql, &params.values()),
        }
    }

    /// Runs statements separated by `;`, binding nothing (schema steps).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Sqlite(conn) => conn.execute_batch(sql).map_err(DbError::from),
            Db::Postgres(conn) => conn.execute_batch(sql),
        }
    }

    /// The first row `sql` returns, read by `f`; [`DbError::NoRows`] when there is none.
    pub(crate) fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, DbError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, DbError>,
    {
        match self {
            Db::Sqlite(conn) => sqlite::query_row(conn, sql, &params.values(), f),
            Db::Postgres(conn) => {
                let rows = conn.query(sql, &params.values())?;
                let row = rows.first().ok_or(DbError::NoRows)?;
                f(&Row::Postgres(row))
            }
        }
    }

    /// Every row `sql` returns, each read by `f`.
    pub(crate) fn query_map<T, P, F>(
        &self,
        sql: &str,
        params: P,
        mut f: F,
    ) -> Result<Vec<T>, DbError>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T, DbError>,
    {
        match self {
            Db::Sqlite(conn) => sqlite::query_map(conn, sql, &params.values(), f),
            Db::Postgres(conn) => conn
                .query(sql, &params.values())?
                .iter()
                .map(|row| f(&Row::Postgres(row)))
                .collect(),
        }
    }

    /// A statement to run more than once (SQLite keeps it compiled; PostgreSQL keeps
    /// every statement prepared per connection anyway).
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        Ok(Statement {
            db: self,
            sql: sql.to_string(),
        })
    }

    /// A statement run once or a few times.
    pub(crate) fn prepare(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        self.prepare_cached(sql)
    }

    /// Begins a transaction that reads before it writes nothing, or whose writes may wait
    /// for the write lock at their first statement.
    pub(crate) fn transaction(&mut self) -> Result<Tx<'_>, DbError> {
        self.begin(false)
    }

    /// Begins a transaction that writes: the database's write lock is taken first, so a
    /// read inside it cannot be overtaken by another writer before the transaction's
    /// writes (SQLite `BEGIN IMMEDIATE`; on PostgreSQL one advisory lock that every
    /// writing transaction takes, the same exclusion across replicas).
    pub(crate) fn write_transaction(&mut self) -> Result<Tx<'_>, DbError> {
        self.begin(true)
    }

    fn begin(&mut self, write: bool) -> Result<Tx<'_>, DbError> {
        match self {
            Db::Sqlite(conn) => {
                conn.execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })?
            }
            Db::Postgres(conn) => conn.begin(write)?,
        }
        Ok(Tx {
            db: self,
            open: true,
        })
    }
}

/// A statement bound to its connection.
pub(crate) struct Statement<'a> {
    db: &'a Db,
    sql: String,
}

impl Statement<'_> {
    pub(crate) fn execute<P: Params>(&mut self, params: P) -> Result<usize, DbError> {
        self.db.execute(&self.sql, params)
    }

    pub(crate) fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T, DbError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, DbError>,
    {
        self.db.query_row(&self.sql, params, f)
    }

    /// Every row, each read by `f`, as an iterator of results (as rusqlite gives them).
    pub(crate) fn query_map<T, P, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T, DbError>>, DbError>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T, DbError>,
    {
        let mut out = Vec::new();
        self.db.query_map(&self.sql, params, |row| {
            out.push(f(row));
            Ok(())
        })?;
        Ok(out.into_iter())
    }
}

/// An open transaction: [`Tx::commit`] ends it; dropping it rolls it back.
pub(crate) struct Tx<'a> {
    db: &'a mut Db,
    open: bool,
}

impl Tx<'_> {
    /// Runs `f`; if it fails, what it did is undone and the transaction goes on (SQLite
    /// leaves the transaction open after a failed statement; PostgreSQL needs a
    /// savepoint for that).
    pub(crate) fn undo_alone_on_error<T>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        match &*self.db {
            Db::Sqlite(_) => f(self.db),
            Db::Postgres(conn) => conn.savepoint(|| f(self.db)),
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        match &*self.db {
            Db::Sqlite(conn) => conn.execute_batch("COMMIT").map_err(DbError::from),
            Db::Postgres(conn) => conn.finish(true),
        }
    }
}

impl Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let rolled_back = match &*self.db {
            Db::Sqlite(conn) => conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok(),
            Db::Postgres(conn) => conn.finish(false).is_ok(),
        };
        if !rolled_back {
            tracing::warn!("a store transaction could not be rolled back");
        }
    }
}

#[cfg(test)]
mod tls_tests;
