//! Which database the crate's own tests open a data directory's store on: SQLite beside
//! it, or, when `KEYWAY_TEST_BACKEND=postgres`, a fresh database of the throw-away
//! PostgreSQL cluster (`tests/postgres`), one per data directory, so that two handles on
//! one directory (a server and a CLI in a test) share it as they would share the file.
//!
//! Owns: the choice and the directory-to-database map. Test builds only.
//! Must not: be compiled into the binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::DatabaseUrl;

/// The variable that selects the backend of the crate's tests.
pub(crate) const BACKEND_ENV: &str = "KEYWAY_TEST_BACKEND";

/// Whether this test run stores in PostgreSQL.
pub(crate) fn postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|v| v == "postgres")
}

/// The PostgreSQL database of `data_dir`'s store in this run, or `None` on SQLite.
pub(crate) fn database_for(data_dir: &Path) -> Option<DatabaseUrl> {
    if !postgres() {
        return None;
    }
    static DATABASES: Mutex<Option<HashMap<PathBuf, DatabaseUrl>>> = Mutex::new(None);
    let mut map = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let map = map.get_or_insert_with(HashMap::new);
    let url = map.entry(data_dir.to_path_buf()).or_insert_with(|| {
        let text = keyway_test_postgres::cluster().fresh_database();
        DatabaseUrl::parse(&text).expect("the test cluster's URL parses")
    });
    Some(url.clone())
}

/// The store of `data_dir` on this run's backend.
pub(crate) fn store_in(data_dir: &Path) -> super::Store {
    super::Store::open_in(data_dir, database_for(data_dir).as_ref()).expect("the test store")
}

/// Makes inserts of records whose key is `bad` fail, as a broken write would.
pub(crate) fn refuse_records_keyed_bad(store: &super::Store) {
    let conn = store.conn();
    let sql = match conn.dialect() {
        super::db::Dialect::Sqlite => {
            "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.idempotency_key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        }
        super::db::Dialect::Postgres => {
            "CREATE FUNCTION keyway_test_refuse() RETURNS trigger LANGUAGE plpgsql
                AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW
                WHEN (NEW.idempotency_key = 'bad') EXECUTE FUNCTION keyway_test_refuse();"
        }
    };
    conn.execute_batch(sql).expect("the refusing trigger");
}

/// Everything the store's database holds, as bytes to search for a planted secret: the
/// SQLite file and its WAL, or every column of every table (bytes in PostgreSQL's
/// `escape` form, which keeps printable text as it is).
pub(crate) fn everything_stored(store: &super::Store) -> Vec<u8> {
    if let Some(path) = store.db_path() {
        let mut bytes = std::fs::read(path).expect("the database file");
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        return bytes;
    }
    let conn = store.conn();
    let columns: Vec<(String, String, String)> = conn
        .query_map(
            "SELECT table_name, column_name, data_type FROM information_schema.columns
             WHERE table_schema = current_schema()",
            (),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the columns");
    let mut out = Vec::new();
    for (table, column, ty) in columns {
        let expr = if ty == "bytea" {
            format!("encode(\"{column}\", 'escape')")
        } else {
            format!("CAST(\"{column}\" AS TEXT)")
        };
        let values: Vec<Option<String>> = conn
            .query_map(&format!("SELECT {expr} FROM \"{table}\""), (), |r| r.get(0))
            .expect("a column");
        for v in values.into_iter().flatten() {
            out.extend(v.into_bytes());
            out.push(b'\n');
        }
    }
    out
}
