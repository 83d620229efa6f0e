//! Copying a whole store from one database to another (`keyway migrate-store`): SQLite or
//! PostgreSQL on either side, so an installation can move to PostgreSQL replicas, or back.
//!
//! The source is opened as any start opens it (its key check must open with the master
//! key, then it is migrated to the current schema) and read in one snapshot; the target is
//! created or migrated by opening it, must hold no data, and is written in one transaction,
//! so it ends up either a full copy or as empty as it was. Tables, columns and foreign keys
//! are read from the schema at runtime (`sqlite_master` and `pragma_table_info`, or
//! `information_schema` and `pg_constraint`), parents are copied before children, and every
//! value crosses as the bytes it is: a sealed column's AAD names its table, row and field,
//! never the backend, so ciphertext stays valid as it is. SQLite's hidden `rowid` (read and
//! written by name) and PostgreSQL's identity columns (`rowid`, `records.id`, written with
//! `OVERRIDING SYSTEM VALUE`, their sequences then moved past the largest value copied)
//! keep their values, so pages, their cursors and retention keep their order.
//!
//! Owns: [`copy_store`], its refusals and its per-table report; `plan.rs` what each table
//! is and how it is copied, `rows.rs` moving its rows, `tests.rs` the round trips.
//! Must not: unseal or re-seal a value, put a value in an error or the report, write to a
//! target that holds data or to the source beyond the migrations a start applies, or list
//! tables or columns in code: a new migration step is copied without touching this file.

use std::path::{Path, PathBuf};

use super::crypto::{KeyOrigin, MasterKey, Sealer};
use super::db::{DatabaseUrl, Db, DbError, Dialect, FromValue, Param, Row, Value};
use super::{StoreError, describe, key_check_aad, migrations, open_db, read_key_check};

/// Rows per read from the source and per insert statement, at most.
const BATCH_ROWS: usize = 500;
/// Bound values per insert statement, at most (SQLite allows 32766, PostgreSQL 65535).
const MAX_PARAMS: usize = 30_000;
/// A batch read from SQLite is written early once it holds this many bytes.
const BATCH_BYTES: usize = 8 << 20;
/// The table whose one row the migrations make: the target's row is replaced by the
/// source's, after every other table (whose triggers bump it).
const COUNTER: &str = "change_counter";
/// PostgreSQL's schema version bookkeeping (SQLite's is `user_version`, set by the
/// migrations): never copied.
const SCHEMA_TABLE: &str = "keyway_schema";

/// Why a copy was refused or failed. Names databases (without password), tables and
/// columns, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the source and the target are the same database ({db}); copy into another, empty one")]
    SameDatabase { db: String },
    #[error("the source {db} does not exist; nothing was created or changed")]
    NoSource { db: String },
    #[error(
        "the source {db} holds no keyway store (no master key check in `meta`); nothing to copy"
    )]
    NoStore { db: String },
    #[error(
        "the target {db} is not empty (table `{table}` has rows); refusing to copy over it. \
         Copy into a new, empty database; nothing was changed"
    )]
    TargetNotEmpty { db: String, table: String },
    #[error("table `{table}`: {problem}")]
    Schema { table: String, problem: String },
    #[error("{what} `{table}`: {source}")]
    Table {
        table: String,
        what: &'static str,
        #[source]
        source: DbError,
    },
    #[error("{what}: {source}")]
    Database {
        what: &'static str,
        #[source]
        source: DbError,
    },
}

impl CopyError {
    fn db(what: &'static str) -> impl FnOnce(DbError) -> CopyError {
        move |source| CopyError::Database { what, source }
    }

    fn table<'a>(what: &'static str, table: &'a str) -> impl FnOnce(DbError) -> CopyError + 'a {
        move |source| CopyError::Table {
            table: table.to_string(),
            what,
            source,
        }
    }
}

/// What a copy did: each table copied, in the order copied, with its row count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the store at `from` into the empty database at `to`, with `key` (from
/// `origin`) as the key the source must open with. See the module's documentation.
pub fn copy_store(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    key: &MasterKey,
    origin: &KeyOrigin,
) -> Result<CopyReport, CopyError> {
    if same_database(from, to) {
        return Err(CopyError::SameDatabase { db: to.to_string() });
    }
    if let DatabaseUrl::Sqlite(path) = from
        && !path.is_file()
    {
        return Err(CopyError::NoSource {
            db: from.to_string(),
        });
    }
    let sealer = Sealer::new(key);
    let mut source = open_db(from)?;
    match read_key_check(&source)? {
        None => {
            return Err(CopyError::NoStore {
                db: from.to_string(),
            });
        }
        Some(blob) if sealer.open(key_check_aad(), &blob).is_err() => {
            return Err(StoreError::WrongMasterKey {
                origin: origin.clone(),
                db: describe(from),
            }
            .into());
        }
        Some(_) => {}
    }
    migrations::apply(&mut source).map_err(StoreError::from)?;

    let mut target = open_db(to)?;
    // Refused before the target is migrated, so a store there is left as it was.
    refuse_data(&target, to)?;
    migrations::apply(&mut target).map_err(StoreError::from)?;

    let reader = source
        .transaction()
        .map_err(CopyError::db("starting to read the source"))?;
    if reader.dialect() == Dialect::Postgres {
        // One snapshot for every table, as SQLite's read transaction has.
        reader
            .execute_batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .map_err(CopyError::db("starting to read the source"))?;
    }
    let writer = target
        .write_transaction()
        .map_err(CopyError::db("starting the target's transaction"))?;
    // Again under the target's write lock: nothing wrote there since the first look.
    refuse_data(&writer, to)?;

    let plans = plan(&reader, &writer)?;
    let mut report = CopyReport::default();
    for (index, plan) in plans.iter().enumerate() {
        if plan.table == COUNTER {
            writer
                .execute(&format!("DELETE FROM {}", quote(COUNTER)), ())
                .map_err(CopyError::table("clearing", COUNTER))?;
        }
        let rows = copy_table(&reader, &writer, plan, index)?;
        report.tables.push((plan.table.clone(), rows));
    }
    for plan in &plans {
        for column in &plan.identities {
            move_identity(&writer, &plan.table, column)?;
        }
    }
    // The copied key check opens with the key, as the target's next start will ask.
    match read_key_check(&writer)? {
        Some(blob) if sealer.open(key_check_aad(), &blob).is_ok() => {}
        _ => {
            return Err(CopyError::Schema {
                table: "meta".into(),
                problem: "the copied master key check does not open with the key".into(),
            });
        }
    }
    writer
        .commit()
        .map_err(CopyError::db("committing the target's transaction"))?;
    drop(reader);
    Ok(report)
}

/// Whether `a` and `b` name one database: the same file (through any path that exists),
/// or the same PostgreSQL hosts, ports and database, whatever the user. (A database
/// reached under another name is still refused: it is not empty.)
fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    match (a, b) {
        (DatabaseUrl::Sqlite(a), DatabaseUrl::Sqlite(b)) => resolved(a) == resolved(b),
        (DatabaseUrl::Postgres(a), DatabaseUrl::Postgres(b)) => {
            let (a, b) = (&a.config, &b.config);
            a.get_hosts() == b.get_hosts()
                && a.get_ports() == b.get_ports()
                && a.get_dbname() == b.get_dbname()
        }
        _ => false,
    }
}

/// `path` with its symbolic links and `..` resolved, as far as it exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map(|p| p.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// Refuses a target where any table but the migrations' own holds a row.
fn refuse_data(db: &Db, url: &DatabaseUrl) -> Result<(), CopyError> {
    for table in tables(db).map_err(CopyError::db("listing the target's tables"))? {
        if table == COUNTER {
            continue;
        }
        let has_rows: bool = db
            .query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&table)),
                (),
                |r| r.get(0),
            )
            .map_err(CopyError::table(
                "looking for rows in the target's table",
                &table,
            ))?;
        if has_rows {
            return Err(CopyError::TargetNotEmpty {
                db: url.to_string(),
                table,
            });
        }
    }
    Ok(())
}

mod plan;
mod rows;
#[cfg(test)]
mod tests;

use plan::{plan, quote, tables};
use rows::{copy_table, move_identity};
