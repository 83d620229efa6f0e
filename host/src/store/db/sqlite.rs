//! The SQLite side of [`super::Db`]: statements run through rusqlite's statement cache,
//! values bound and read without copies.
//!
//! Owns: opening a store connection (WAL, full sync, foreign keys, the busy timeout) and
//! turning [`Value`]s into SQLite's and back.
//! Must not: hold a statement across calls other than in rusqlite's cache.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::value::convert;
use super::{DbError, FromValue, Row, Value};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the database file at `path` as the store uses it.
pub(crate) fn open(path: &Path) -> Result<rusqlite::Connection, DbError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The database holds only sealed secrets, but its metadata is still private.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(conn)
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(r) => ValueRef::Real(r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn bound<'a>(values: &'a [Value<'a>]) -> Vec<&'a dyn rusqlite::ToSql> {
    values.iter().map(|v| v as &dyn rusqlite::ToSql).collect()
}

pub(super) fn execute(
    conn: &rusqlite::Connection,
    sql: &str,
    values: &[Value<'_>],
) -> Result<usize, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(bound(values).as_slice())?)
}

pub(super) fn query_row<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    values: &[Value<'_>],
    f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(bound(values).as_slice())?;
    match rows.next()? {
        Some(row) => f(&Row::Sqlite(row)),
        None => Err(DbError::NoRows),
    }
}

pub(super) fn query_map<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    values: &[Value<'_>],
    mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
) -> Result<Vec<T>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(bound(values).as_slice())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(&Row::Sqlite(row))?);
    }
    Ok(out)
}

pub(super) fn column<T: FromValue>(row: &rusqlite::Row<'_>, index: usize) -> Result<T, DbError> {
    let value = match row.get_ref(index)? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => {
            Value::Text(std::str::from_utf8(t).map_err(|e| DbError::conversion(index, e))?)
        }
        ValueRef::Blob(b) => Value::Blob(b),
    };
    convert(index, value)
}
