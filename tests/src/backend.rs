//! Which database the suite's hosts store in: SQLite beside each data directory (the
//! default), or, when `KEYWAY_TEST_BACKEND=postgres`, a fresh database of the test
//! process's throw-away PostgreSQL cluster (`tests/postgres`), one per data directory, so
//! that a server, the CLI run against its data directory and an in-process store opened on
//! it share one database as they would share the file. Mirrors the host crate's own
//! `store/test_backend.rs`.
//!
//! Owns: the choice, the directory-to-database map, and the two ways tests look into a
//! store past the host: [`stored_bytes`] (everything it holds, for canary checks) and
//! [`query`] (SQL, the same text on both backends: the schemas are twins, see
//! `host/src/store/migrations_pg.rs`).
//! Must not: be used to change what a test asserts on one backend only, except for what
//! exists on one only (a file's permissions, the WAL), which the test says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keyway_host::store::{DB_FILE, DatabaseUrl, MasterKey, Store};

/// The variable that selects the backend of the suite.
pub const BACKEND_ENV: &str = "KEYWAY_TEST_BACKEND";

/// How [`query`] shows SQL NULL (as `COPY` does); see [`nullable`].
pub const NULL: &str = "\\N";

/// Whether this test run stores in PostgreSQL.
pub fn postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|v| v == "postgres")
}

static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// The PostgreSQL database (its URL) of `data_dir`'s store in this run, made on first use;
/// `None` on SQLite.
pub fn database_for(data_dir: &Path) -> Option<String> {
    if !postgres() {
        return None;
    }
    let mut map = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let url = map
        .get_or_insert_with(HashMap::new)
        .entry(data_dir.to_path_buf())
        .or_insert_with(|| keyway_test_postgres::cluster().fresh_database());
    Some(url.clone())
}

/// [`database_for`], parsed as the host takes it (`ServicesConfig::database`).
pub fn database_url_for(data_dir: &Path) -> Option<DatabaseUrl> {
    database_for(data_dir)
        .map(|url| DatabaseUrl::parse(&url).expect("the test cluster's URL parses"))
}

/// Makes `url` the database of `data_dir` in this process: for a child process handed
/// its parent's database, so that it opens the same store.
pub fn adopt(data_dir: &Path, url: &str) {
    let mut map = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    map.get_or_insert_with(HashMap::new)
        .insert(data_dir.to_path_buf(), url.to_string());
}

/// The store of `data_dir` opened with `key`, on this run's backend.
pub fn open_store(data_dir: &Path, key: &MasterKey) -> Store {
    match database_url_for(data_dir) {
        Some(url) => Store::open_with_key_at(data_dir, &url, key),
        None => Store::open_with_key(data_dir, key),
    }
    .expect("the store opens")
}

/// The store of `data_dir` opened as the CLI opens it (the master key from the
/// environment or the data directory's key file), on this run's backend.
pub fn reopen_store(data_dir: &Path) -> Store {
    Store::open_in(data_dir, database_url_for(data_dir).as_ref()).expect("the store opens")
}

/// Everything the store of `data_dir` holds, as bytes to search for a planted secret: on
/// SQLite the database file, its WAL and shared-memory file; on PostgreSQL every column of
/// every table of the directory's database (bytes in PostgreSQL's `escape` form, which
/// keeps printable text as it is), and the SQLite files too should any be there.
pub fn stored_bytes(data_dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = data_dir.join(format!("{DB_FILE}{suffix}"));
        bytes.extend(std::fs::read(path).unwrap_or_default());
    }
    if let Some(url) = database_for(data_dir) {
        bytes.extend(database_bytes(&url));
    }
    bytes
}

/// Every column of every table of the PostgreSQL database at `url`, as in [`stored_bytes`].
pub fn database_bytes(url: &str) -> Vec<u8> {
    try_database_bytes(url).unwrap_or_else(|e| panic!("reading the database: {e}"))
}

/// [`database_bytes`], or why it could not be read (for callers that must not panic).
pub fn try_database_bytes(url: &str) -> Result<Vec<u8>, String> {
    let columns = try_psql(
        url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )?;
    let script: String = columns
        .iter()
        .map(|row| {
            let (table, column, ty) = (&row[0], &row[1], &row[2]);
            let expr = if ty == "bytea" {
                format!("encode(\"{column}\", 'escape')")
            } else {
                format!("CAST(\"{column}\" AS TEXT)")
            };
            format!("SELECT {expr} FROM \"{table}\";\n")
        })
        .collect();
    if script.is_empty() {
        return Ok(Vec::new());
    }
    Ok(try_psql(url, &script)?
        .into_iter()
        .flat_map(|row| row.into_iter().flat_map(|v| (v + "\n").into_bytes()))
        .collect())
}

/// Runs `sql` on the store of `data_dir` (rusqlite on SQLite, psql on PostgreSQL) and
/// returns its rows, every value as text: integers in decimal, bytes as `\x` and hex (as
/// PostgreSQL shows them), NULL as [`NULL`]. One statement; values are written into the
/// SQL (no parameters), the same text for both backends.
pub fn query(data_dir: &Path, sql: &str) -> Vec<Vec<String>> {
    match database_for(data_dir) {
        Some(url) => psql(&url, sql),
        None => sqlite_query(&data_dir.join(DB_FILE), sql),
    }
}

/// The single value `sql` selects (first column of the only row).
pub fn query_one(data_dir: &Path, sql: &str) -> String {
    let rows = query(data_dir, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

/// `value` as read by [`query`], or `None` when it is SQL NULL.
pub fn nullable(value: &str) -> Option<&str> {
    (value != NULL).then_some(value)
}

/// `text` as an SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn sqlite_query(path: &Path, sql: &str) -> Vec<Vec<String>> {
    use rusqlite::types::ValueRef;
    let db = rusqlite::Connection::open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    db.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{sql}: {e}")) {
        let values = (0..n)
            .map(|i| match row.get_ref(i).expect("a column") {
                ValueRef::Null => NULL.to_string(),
                ValueRef::Integer(v) => v.to_string(),
                ValueRef::Real(v) => v.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(b) => {
                    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    format!("\\x{hex}")
                }
            })
            .collect();
        out.push(values);
    }
    out
}

/// Runs `sql` with psql on `url`: rows ended by a NUL byte (which no text value holds),
/// fields separated by the unit separator (U+001F), NULL shown as [`NULL`].
fn psql(url: &str, sql: &str) -> Vec<Vec<String>> {
    try_psql(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn try_psql(url: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let script =
        format!("\\pset null '\\\\N'\n\\pset fieldsep '\\x1f'\n\\pset recordsep_zero\n{sql}\n");
    let out = keyway_test_postgres::cluster().psql(url, &script)?;
    // Every row ends with its separator: `a\0b\0`, or nothing for no row.
    let mut rows: Vec<&str> = out.split('\0').collect();
    rows.pop();
    Ok(rows
        .into_iter()
        .map(|row| row.split('\u{1f}').map(str::to_string).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same SQL reads the same rows on both backends: NULL, an empty string, a value
    /// with a tab and a newline, a number.
    #[test]
    fn query_reads_values_alike_on_either_backend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        query(data, "CREATE TABLE t (n BIGINT, a TEXT, b TEXT)");
        query(
            data,
            &format!(
                "INSERT INTO t (n, a, b) VALUES (1, NULL, ''), (2, {}, 'canary-backend-x')",
                literal("it's\ta\nline")
            ),
        );
        let rows = query(data, "SELECT n, a, b FROM t ORDER BY n");
        assert_eq!(
            rows,
            [
                vec!["1".to_string(), NULL.to_string(), String::new()],
                vec![
                    "2".to_string(),
                    "it's\ta\nline".to_string(),
                    "canary-backend-x".to_string()
                ],
            ]
        );
        assert_eq!(nullable(&rows[0][1]), None);
        assert_eq!(query_one(data, "SELECT count(*) FROM t"), "2");
        assert!(query(data, "SELECT n FROM t WHERE n > 2").is_empty());
        let stored = stored_bytes(data);
        assert!(
            stored
                .windows(b"canary-backend-x".len())
                .any(|w| w == b"canary-backend-x"),
            "stored_bytes holds what the table holds"
        );
        // A data directory keeps its database.
        assert_eq!(database_for(data), database_for(data));
    }
}
