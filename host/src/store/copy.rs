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
//! Owns: [`copy_store`], its refusals and its per-table report.
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

/// A table as one database has it.
struct Shape {
    /// Its columns that can be written, in order, and whether each is an identity.
    columns: Vec<(String, bool)>,
    /// SQLite: a `rowid` no column stands for (not `INTEGER PRIMARY KEY`, not `WITHOUT
    /// ROWID`), which the store may read by name.
    hidden_rowid: bool,
    /// SQLite: it has a rowid at all, to read in order of.
    has_rowid: bool,
}

impl Shape {
    fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|(c, _)| c == column)
    }
}

/// How one table is copied.
struct Plan {
    table: String,
    /// Reads every row: the source's expressions, in the order of `columns`.
    select: String,
    /// `INSERT INTO t (columns) [OVERRIDING SYSTEM VALUE] VALUES`, rows to follow.
    insert: String,
    width: usize,
    /// Rows per insert statement.
    batch: usize,
    /// The target's identity columns written, whose sequences must move past them.
    identities: Vec<String>,
}

/// The plan of every table the source has, parents first, the counter last.
fn plan(source: &Db, target: &Db) -> Result<Vec<Plan>, CopyError> {
    let names = tables(source).map_err(CopyError::db("listing the source's tables"))?;
    let target_names = tables(target).map_err(CopyError::db("listing the target's tables"))?;
    let mut parents = Vec::new();
    for name in &names {
        let mut of = foreign_parents(source, name)
            .map_err(CopyError::table("reading the foreign keys of", name))?;
        if target_names.contains(name) {
            of.extend(
                foreign_parents(target, name)
                    .map_err(CopyError::table("reading the foreign keys of", name))?,
            );
        }
        parents.push(of);
    }
    let order = parents_first(&names, &parents)?;
    let mut plans = Vec::with_capacity(names.len());
    for name in order {
        if !target_names.contains(&name) {
            return Err(CopyError::Schema {
                table: name,
                problem: "the target has no such table (is it at another schema version?)".into(),
            });
        }
        let from =
            shape(source, &name).map_err(CopyError::table("reading the columns of", &name))?;
        let to = shape(target, &name).map_err(CopyError::table("reading the columns of", &name))?;
        plans.push(plan_table(
            name,
            &from,
            &to,
            source.dialect(),
            target.dialect(),
        )?);
    }
    // The counter last: the triggers of the tables before it bump the target's row.
    plans.sort_by_key(|p| p.table == COUNTER);
    Ok(plans)
}

fn plan_table(
    table: String,
    from: &Shape,
    to: &Shape,
    from_dialect: Dialect,
    to_dialect: Dialect,
) -> Result<Plan, CopyError> {
    // (what the source reads, what the target writes)
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (column, _) in &from.columns {
        if to.has(column) {
            pairs.push((quote(column), quote(column)));
        } else if column == "rowid" && to.hidden_rowid {
            pairs.push((quote(column), "rowid".into()));
        } else {
            return Err(CopyError::Schema {
                table,
                problem: format!("the target has no column `{column}`"),
            });
        }
    }
    if from.hidden_rowid {
        if to.has("rowid") {
            pairs.push(("rowid".into(), quote("rowid")));
        } else if to.hidden_rowid {
            pairs.push(("rowid".into(), "rowid".into()));
        }
    }
    if pairs.is_empty() {
        return Err(CopyError::Schema {
            table,
            problem: "the source has no column to copy".into(),
        });
    }
    let written = |c: &str| pairs.iter().any(|(_, w)| *w == quote(c));
    let identities: Vec<String> = to
        .columns
        .iter()
        .filter(|(c, identity)| *identity && written(c))
        .map(|(c, _)| c.clone())
        .collect();
    let order = match from_dialect {
        Dialect::Sqlite if from.has_rowid => " ORDER BY rowid",
        Dialect::Postgres if from.has("rowid") => " ORDER BY \"rowid\"",
        _ => "",
    };
    let select = format!(
        "SELECT {} FROM {}{order}",
        pairs
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        quote(&table)
    );
    let overriding = if to_dialect == Dialect::Postgres && !identities.is_empty() {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let insert = format!(
        "INSERT INTO {} ({}){overriding} VALUES ",
        quote(&table),
        pairs
            .iter()
            .map(|(_, w)| w.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let width = pairs.len();
    Ok(Plan {
        table,
        select,
        insert,
        width,
        batch: (MAX_PARAMS / width).clamp(1, BATCH_ROWS),
        identities,
    })
}

/// Tables in an order where every table comes after the tables its foreign keys name
/// (ties by name); a cycle is refused.
fn parents_first(names: &[String], parents: &[Vec<String>]) -> Result<Vec<String>, CopyError> {
    let mut done: Vec<String> = Vec::with_capacity(names.len());
    while done.len() < names.len() {
        let ready = names.iter().zip(parents).find(|(name, of)| {
            !done.contains(name)
                && of
                    .iter()
                    .all(|p| p == *name || done.contains(p) || !names.contains(p))
        });
        match ready {
            Some((name, _)) => done.push(name.clone()),
            None => {
                let stuck = names.iter().find(|n| !done.contains(n)).cloned();
                return Err(CopyError::Schema {
                    table: stuck.unwrap_or_default(),
                    problem: "its foreign keys form a cycle; no order copies parents first".into(),
                });
            }
        }
    }
    Ok(done)
}

/// Copies every row of one table; returns how many.
fn copy_table(source: &Db, target: &Db, plan: &Plan, index: usize) -> Result<u64, CopyError> {
    let full = insert_sql(plan, plan.batch);
    let mut copied = 0u64;
    read_batches(source, plan, index, &mut |rows| {
        for chunk in rows.chunks(plan.batch) {
            let sql = if chunk.len() == plan.batch {
                full.clone()
            } else {
                insert_sql(plan, chunk.len())
            };
            let values: Vec<&dyn Param> = chunk.iter().flatten().map(|c| c as &dyn Param).collect();
            let n = target
                .execute(&sql, values)
                .map_err(CopyError::table("writing rows of", &plan.table))?;
            copied += n as u64;
        }
        Ok(())
    })?;
    let count: i64 = target
        .query_row(
            &format!("SELECT count(*) FROM {}", quote(&plan.table)),
            (),
            |r| r.get(0),
        )
        .map_err(CopyError::table(
            "counting the rows written to",
            &plan.table,
        ))?;
    if count != copied as i64 {
        return Err(CopyError::Schema {
            table: plan.table.clone(),
            problem: format!("{copied} rows were written but the target counts {count}"),
        });
    }
    Ok(copied)
}

/// `plan.insert` with `rows` rows of placeholders.
fn insert_sql(plan: &Plan, rows: usize) -> String {
    let row = format!("({})", vec!["?"; plan.width].join(", "));
    let mut sql = String::with_capacity(plan.insert.len() + rows * (row.len() + 2));
    sql.push_str(&plan.insert);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

/// Reads the table's rows in batches of at most `plan.batch` rows (and, from SQLite,
/// about [`BATCH_BYTES`]), handing each to `each`; never the whole table at once.
fn read_batches(
    source: &Db,
    plan: &Plan,
    index: usize,
    each: &mut dyn FnMut(&[Values]) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    let read = || CopyError::table("reading rows of", &plan.table);
    let row = |r: &Row<'_>| -> Result<Vec<Cell>, DbError> {
        (0..plan.width).map(|i| r.get::<_, Cell>(i)).collect()
    };
    match source {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare(&plan.select).map_err(|e| read()(e.into()))?;
            let mut rows = stmt.query([]).map_err(|e| read()(e.into()))?;
            let mut batch = Vec::with_capacity(plan.batch);
            let mut bytes = 0;
            while let Some(r) = rows.next().map_err(|e| read()(e.into()))? {
                let cells = row(&Row::Sqlite(r)).map_err(read())?;
                bytes += cells.iter().map(Cell::size).sum::<usize>();
                batch.push(cells);
                if batch.len() >= plan.batch || bytes >= BATCH_BYTES {
                    each(&batch)?;
                    batch.clear();
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                each(&batch)?;
            }
        }
        Db::Postgres(_) => {
            // A cursor per table: each FETCH's statement is prepared for its columns.
            let cursor = format!("keyway_copy_{index}");
            source
                .execute_batch(&format!(
                    "DECLARE {cursor} NO SCROLL CURSOR FOR {}",
                    plan.select
                ))
                .map_err(read())?;
            let fetch = format!("FETCH {} FROM {cursor}", plan.batch);
            loop {
                let batch = source.query_map(&fetch, (), row).map_err(read())?;
                if !batch.is_empty() {
                    each(&batch)?;
                }
                if batch.len() < plan.batch {
                    break;
                }
            }
            source
                .execute_batch(&format!("CLOSE {cursor}"))
                .map_err(read())?;
        }
    }
    Ok(())
}

/// Moves the sequence of the target's identity `column` past the largest value copied.
fn move_identity(target: &Db, table: &str, column: &str) -> Result<(), CopyError> {
    target
        .query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence(?1, ?2), max({})) FROM {}",
                quote(column),
                quote(table)
            ),
            [quote(table), column.to_string()],
            |r| r.get::<_, Option<i64>>(0),
        )
        .map_err(CopyError::table("moving the identity sequence of", table))?;
    Ok(())
}

/// The tables of the store's schema, by name, without the schema's bookkeeping.
fn tables(db: &Db) -> Result<Vec<String>, DbError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        }
        Dialect::Postgres => {
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let mut names: Vec<String> = db.query_map(sql, (), |r| r.get(0))?;
    names.retain(|n| n != SCHEMA_TABLE);
    // In bytes' order on both (a database's collation may order `_` otherwise).
    names.sort();
    Ok(names)
}

/// The tables `table`'s foreign keys name.
fn foreign_parents(db: &Db, table: &str) -> Result<Vec<String>, DbError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)",
        Dialect::Postgres => {
            "SELECT DISTINCT p.relname::text FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_class p ON p.oid = k.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE k.contype = 'f' AND n.nspname = current_schema() AND c.relname::text = ?1"
        }
    };
    db.query_map(sql, [table], |r| r.get(0))
}

fn shape(db: &Db, table: &str) -> Result<Shape, DbError> {
    match db.dialect() {
        Dialect::Sqlite => {
            let create: String = db.query_row(
                "SELECT COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )?;
            let columns: Vec<(String, String, i64)> = db.query_map(
                "SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid",
                [table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let keys: Vec<&(String, String, i64)> =
                columns.iter().filter(|(_, _, pk)| *pk > 0).collect();
            let aliased = keys.len() == 1 && keys[0].1.eq_ignore_ascii_case("INTEGER");
            let has_rowid = !create.to_ascii_uppercase().contains("WITHOUT ROWID");
            let named = columns.iter().any(|(c, _, _)| {
                ["rowid", "_rowid_", "oid"]
                    .iter()
                    .any(|r| c.eq_ignore_ascii_case(r))
            });
            Ok(Shape {
                hidden_rowid: has_rowid && !aliased && !named,
                has_rowid: has_rowid && !named,
                columns: columns.into_iter().map(|(c, _, _)| (c, false)).collect(),
            })
        }
        Dialect::Postgres => {
            let columns: Vec<(String, String, String)> = db.query_map(
                "SELECT column_name::text, is_identity::text, is_generated::text
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name::text = ?1
                 ORDER BY ordinal_position",
                [table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok(Shape {
                columns: columns
                    .into_iter()
                    // A generated column is computed by the target itself.
                    .filter(|(_, _, generated)| generated == "NEVER")
                    .map(|(c, identity, _)| (c, identity == "YES"))
                    .collect(),
                hidden_rowid: false,
                has_rowid: false,
            })
        }
    }
}

/// An identifier in double quotes, as both databases read it.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One row's values, in the plan's column order.
type Values = Vec<Cell>;

/// One value on its way, owned: exactly what the source held (sealed bytes included).
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn size(&self) -> usize {
        match self {
            Cell::Text(t) => t.len(),
            Cell::Blob(b) => b.len(),
            _ => 8,
        }
    }
}

impl FromValue for Cell {
    const WANTED: &'static str = "a value";
    fn from_value(value: Value<'_>) -> Option<Self> {
        Some(match value {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(i),
            Value::Real(r) => Cell::Real(r),
            Value::Text(t) => Cell::Text(t.to_string()),
            Value::Blob(b) => Cell::Blob(b.to_vec()),
        })
    }
}

impl Param for Cell {
    fn value(&self) -> Value<'_> {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(*i),
            Cell::Real(r) => Value::Real(*r),
            Cell::Text(t) => Value::Text(t),
            Cell::Blob(b) => Value::Blob(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secrecy::{ExposeSecret, SecretString};

    use super::*;
    use crate::store::connections::tests::new_conn;
    use crate::store::invocations::sample_record;
    use crate::store::states::NewState;
    use crate::store::test_backend::everything_stored;
    use crate::store::{
        AppConnectionConfig, AppliedKind, DeliveryQuery, KeyCheck, NewDelivery, PageCursor,
        QueueLimits, RecordOrder, RecordQuery, RecordTarget, RecordWrite, RunQuery, RunStatus,
        Store, TokenWrite, now_unix,
    };

    /// Secrets planted in the source: each must read back from every copy, and appear in
    /// no copy's database in plain text.
    const CANARIES: [&str; 6] = [
        "canary-client-secret",
        "canary-access-token",
        "canary-refresh-token",
        "canary-setting-value",
        "canary-pkce-verifier",
        "canary-app-secret",
    ];
    /// Beyond any retention sweep (in the future), so the history writer keeps the rows.
    const BASE_MS: i64 = 4_000_000_000_000;
    const RECORDS: usize = 1_234;
    const INVOCATIONS: usize = 600;

    fn postgres() -> DatabaseUrl {
        DatabaseUrl::parse(&keyway_test_postgres::cluster().fresh_database()).unwrap()
    }

    fn sqlite(dir: &Path, name: &str) -> DatabaseUrl {
        DatabaseUrl::Sqlite(dir.join(name))
    }

    fn open(dir: &Path, url: &DatabaseUrl, key: &MasterKey) -> Store {
        Store::open_with_key_at(dir, url, key).unwrap()
    }

    fn copy(from: &DatabaseUrl, to: &DatabaseUrl, key: &MasterKey) -> CopyReport {
        copy_store(from, to, key, &KeyOrigin::Explicit).unwrap()
    }

    fn app_config() -> AppConnectionConfig {
        AppConnectionConfig {
            provider_url: "https://idp.test".into(),
            issuer_url: Some("https://idp.test".into()),
            auth_url: None,
            token_url: None,
            scopes: vec!["openid".into()],
            client_id: "app-cid".into(),
            client_secret: SecretString::from("canary-app-secret"),
        }
    }

    /// Fills a store through its API with a bit of everything it keeps; returns the
    /// connection's id and the API key.
    fn fill(store: &Store) -> (String, SecretString) {
        store
            .set_credentials(
                "hello-app",
                "cid",
                Some(&SecretString::from("canary-client-secret")),
            )
            .unwrap();
        let conn = store.create_connection(&new_conn("acme")).unwrap();
        store
            .save_authorized_tokens(
                &conn.id,
                &TokenWrite {
                    access_token: SecretString::from("canary-access-token"),
                    refresh_token: Some(SecretString::from("canary-refresh-token")),
                    token_type: Some("Bearer".into()),
                    expires_at: Some(now_unix() + 3600),
                    scopes: Some(vec!["read".into()]),
                },
                &[],
                &BTreeMap::new(),
            )
            .unwrap();
        store
            .insert_state(&NewState {
                state: "st-1",
                connection_id: &conn.id,
                pkce_verifier: Some(&SecretString::from("canary-pkce-verifier")),
                redirect_uri: "http://127.0.0.1/callback",
                scopes: &["read".into()],
                nonce: Some("n-1"),
                expires_at: now_unix() + 600,
            })
            .unwrap();
        store.create_app_connection("crm", &app_config()).unwrap();
        let api_key = store.create_api_key("ci").unwrap().key;
        store
            .create_connect_session("digest-1", "acme", &["https://app.test".into()], 100, 200)
            .unwrap();
        store.mark_applied(AppliedKind::Connection, "acme").unwrap();
        assert!(
            store
                .try_acquire_lease("refresh:acme", "me", 60_000)
                .unwrap()
        );

        let keys: Vec<String> = (0..RECORDS).map(|i| format!("k{i}")).collect();
        let writes: Vec<RecordWrite<'_>> = keys
            .iter()
            .map(|k| RecordWrite {
                key: k,
                payload: r#"{"n":1}"#,
            })
            .collect();
        let (a, b) = writes.split_at(RECORDS / 2);
        for (entity, part) in [("Customer", a), ("Order", b)] {
            let target = RecordTarget {
                connection: "acme",
                entity,
                stream: None,
            };
            store.insert_records(target, part).unwrap();
        }
        for i in 0..INVOCATIONS {
            // Pairs share a start time: their order is the rowid's.
            let mut rec = sample_record(&format!("inv-{i}"), BASE_MS + (i / 2) as i64);
            rec.connection = "acme".into();
            store.record_invocation(rec).unwrap();
        }
        store.flush_history();

        let delivery = NewDelivery {
            id: "d-1",
            connection: "acme",
            webhook: "orders",
            delivery_id: "evt-1",
            headers: "[]",
            body: br#"{"order":1}"#,
        };
        store
            .queue_delivery(&delivery, &QueueLimits::default())
            .unwrap();
        store
            .begin_stream_run("acme", "orders", "run-1", "manual")
            .unwrap();
        store
            .commit_stream_page(&crate::store::PageWrite {
                connection: "acme",
                stream: "orders",
                run_id: "run-1",
                batches: vec![(
                    RecordTarget {
                        connection: "acme",
                        entity: "Order",
                        stream: Some("orders"),
                    },
                    vec![RecordWrite {
                        key: "streamed",
                        payload: "{}",
                    }],
                )],
                cursor: crate::store::CursorWrite::Set("page-2"),
                pages: 1,
                duplicates_seen: 0,
                failed: 0,
            })
            .unwrap();
        store
            .finish_stream_run("run-1", RunStatus::Succeeded, None)
            .unwrap();
        store
            .set_stream_schedule("acme", "orders", Some(now_unix() + 60), None, 0)
            .unwrap();
        // Gaps in the ids, as retention and deletions leave them: a copy that numbered
        // rows anew would show in the pages' cursors and the records' ids.
        store
            .queue_delivery(
                &NewDelivery {
                    id: "d-2",
                    delivery_id: "evt-2",
                    ..delivery
                },
                &QueueLimits::default(),
            )
            .unwrap();
        store
            .begin_stream_run("acme", "orders", "run-2", "manual")
            .unwrap();
        store
            .conn()
            .execute_batch(
                "DELETE FROM invocations WHERE id IN ('inv-0', 'inv-1', 'inv-5');
                 DELETE FROM records WHERE idempotency_key IN ('k0', 'k3');
                 DELETE FROM webhook_deliveries WHERE id = 'd-1';
                 DELETE FROM stream_runs WHERE id = 'run-1';",
            )
            .unwrap();
        // A delivery being attempted, leased to this process (a column of step 13).
        let now = crate::store::now_unix_ms();
        assert_eq!(
            store
                .claim_deliveries(now + 1, 1, now + 60_000)
                .unwrap()
                .len(),
            1
        );
        (conn.id, api_key)
    }

    /// Every page of `read`, with the cursors that led to them.
    fn pages<T>(
        mut read: impl FnMut(Option<PageCursor>) -> crate::store::Page<T>,
    ) -> Vec<(Vec<T>, Option<PageCursor>)> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = read(cursor);
            cursor = page.next;
            out.push((page.items, page.next));
            if cursor.is_none() {
                return out;
            }
        }
    }

    fn records(store: &Store, order: RecordOrder) -> Vec<crate::store::StoredRecord> {
        store
            .list_records(&RecordQuery {
                connection: "acme".into(),
                order,
                ..Default::default()
            })
            .unwrap()
    }

    /// What `store` holds that the tests compare, read through the store's API (secrets
    /// opened), and every table's rows as the database has them.
    fn contents(store: &Store, id: &str, api_key: &SecretString) -> String {
        let tokens = store.tokens(id).unwrap().unwrap();
        let creds = store.credentials("hello-app").unwrap();
        let app = store.app_connection("crm").unwrap();
        let app_creds = store
            .credentials(&crate::store::app_connections::credential_key("crm"))
            .unwrap();
        let settings = store.secret_settings(id).unwrap();
        let live = store.live_api_keys().unwrap();
        let invocations = pages(|c| store.recent_invocations("acme", 64, c).unwrap());
        let deliveries = pages(|c| {
            store
                .deliveries(&DeliveryQuery {
                    limit: 1,
                    before: c,
                    ..Default::default()
                })
                .unwrap()
        });
        let runs = pages(|c| {
            store
                .stream_runs(&RunQuery {
                    limit: 1,
                    before: c,
                    ..Default::default()
                })
                .unwrap()
        });
        format!(
            "{}\n{:?}\n{:?} {:?} {} {:?}\n{} {}\n{:?} {} {}\n{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            tokens.access_token.expose_secret(),
            tokens
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            tokens.token_type,
            tokens.expires_at,
            tokens.generation,
            tokens.scopes,
            creds.client_id,
            creds.client_secret.unwrap().expose_secret(),
            (
                app.provider_url,
                app.issuer_url,
                app.scopes,
                app.client_id,
                app.config_hash
            ),
            app_creds.client_secret.unwrap().expose_secret(),
            settings["apiKey"].expose_secret(),
            matches!(live.check(api_key), KeyCheck::Live(_)),
            store.state_connection("st-1").unwrap().unwrap(),
            store.connect_session("digest-1").unwrap().map(|s| (
                s.connection,
                s.allowed_origins,
                s.expires_at
            )),
            store.applied_names(AppliedKind::Connection).unwrap(),
            store.connection_by_id(id).unwrap(),
            records(store, RecordOrder::Oldest),
            records(store, RecordOrder::Newest),
            invocations,
            deliveries,
            runs,
            store.stream_state("acme", "orders").unwrap(),
            store.change_generation_now().unwrap(),
        ) + &dump(&store.conn())
    }

    /// Every row of every table but the schema's bookkeeping, sorted, with SQLite's
    /// hidden rowid left out (the pages above show it).
    fn dump(db: &Db) -> String {
        let mut out = String::new();
        for table in tables(db).unwrap() {
            let shape = shape(db, &table).unwrap();
            let names: Vec<String> = shape
                .columns
                .iter()
                .map(|(c, _)| c.clone())
                .filter(|c| c != "rowid")
                .collect();
            let select = format!(
                "SELECT {} FROM {}",
                names
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                quote(&table)
            );
            let mut rows: Vec<String> = db
                .query_map(&select, (), |r| {
                    let cells: Vec<Cell> = (0..names.len())
                        .map(|i| r.get(i))
                        .collect::<Result<_, _>>()?;
                    Ok(format!("{cells:?}"))
                })
                .unwrap();
            rows.sort();
            out.push_str(&format!("{table} {names:?}\n{}\n", rows.join("\n")));
        }
        out
    }

    fn assert_no_canary(store: &Store) {
        let stored = everything_stored(store);
        for canary in CANARIES {
            assert!(
                !stored.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} in plain text in {}",
                store.database_url()
            );
        }
    }

    /// A record and an invocation written after the copy sort after the copied ones.
    fn new_rows_come_after(store: &Store) {
        let last = records(store, RecordOrder::Oldest).last().unwrap().id;
        store
            .insert_records(
                RecordTarget {
                    connection: "acme",
                    entity: "Customer",
                    stream: None,
                },
                &[RecordWrite {
                    key: "after-the-copy",
                    payload: "{}",
                }],
            )
            .unwrap();
        let newest = records(store, RecordOrder::Newest);
        assert_eq!(newest[0].idempotency_key, "after-the-copy");
        assert!(newest[0].id > last);
        // Same start time as the newest copied pair: only the rowid orders it first.
        let mut rec = sample_record("inv-after", BASE_MS + (INVOCATIONS as i64 - 1) / 2);
        rec.connection = "acme".into();
        store.record_invocation(rec).unwrap();
        let page = store.recent_invocations("acme", 3, None).unwrap();
        let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "inv-after",
                &*format!("inv-{}", INVOCATIONS - 1),
                &*format!("inv-{}", INVOCATIONS - 2)
            ]
        );
    }

    #[test]
    fn a_store_goes_to_postgres_and_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let lite = sqlite(dir.path(), "source.db");
        let source = open(dir.path(), &lite, &key);
        let (id, api_key) = fill(&source);
        let expected = contents(&source, &id, &api_key);
        drop(source);

        let pg = postgres();
        let report = copy(&lite, &pg, &key);
        let count = |t: &str| report.tables.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(count("records"), RECORDS as u64 + 1 - 2);
        assert_eq!(count("invocations"), INVOCATIONS as u64 - 3);
        assert_eq!(count("change_counter"), 1);
        let names: Vec<&str> = report.tables.iter().map(|(n, _)| n.as_str()).collect();
        let at = |t: &str| names.iter().position(|n| *n == t).unwrap();
        assert!(at("connections") < at("tokens") && at("connections") < at("app_connections"));
        assert!(!names.contains(&SCHEMA_TABLE));
        assert_eq!(names.last(), Some(&COUNTER));

        let copied = open(dir.path(), &pg, &key);
        assert_eq!(contents(&copied, &id, &api_key), expected);
        assert_no_canary(&copied);
        drop(copied);

        let back = sqlite(dir.path(), "back.db");
        let again = copy(&pg, &back, &key);
        assert_eq!(again, report);
        let returned = open(dir.path(), &back, &key);
        assert_eq!(contents(&returned, &id, &api_key), expected);
        assert_no_canary(&returned);

        // The copies go on as stores: new rows after the copied ones, the secrets open.
        let copied = open(dir.path(), &pg, &key);
        for store in [&copied, &returned] {
            new_rows_come_after(store);
            let state = store.take_state("st-1").unwrap().unwrap();
            assert_eq!(
                state.pkce_verifier.unwrap().expose_secret(),
                "canary-pkce-verifier"
            );
        }
    }

    #[test]
    fn sqlite_to_sqlite_and_postgres_to_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let pg = postgres();
        let source = open(dir.path(), &pg, &key);
        let (id, api_key) = fill(&source);
        let expected = contents(&source, &id, &api_key);
        drop(source);
        let pg2 = postgres();
        copy(&pg, &pg2, &key);
        let lite = sqlite(dir.path(), "a.db");
        copy(&pg2, &lite, &key);
        let lite2 = sqlite(dir.path(), "b.db");
        copy(&lite, &lite2, &key);
        for url in [pg2, lite, lite2] {
            let store = open(dir.path(), &url, &key);
            assert_eq!(contents(&store, &id, &api_key), expected, "{url}");
            new_rows_come_after(&store);
        }
    }

    #[test]
    fn a_target_that_holds_data_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let lite = sqlite(dir.path(), "source.db");
        fill(&open(dir.path(), &lite, &key));
        let other = MasterKey::generate();
        let pg = postgres();
        let lite2 = sqlite(dir.path(), "other.db");
        for target in [&pg, &lite2] {
            let store = open(dir.path(), target, &other);
            store.create_api_key("theirs").unwrap();
            let before = dump(&store.conn());
            let err = copy_store(&lite, target, &key, &KeyOrigin::Explicit).unwrap_err();
            assert!(matches!(err, CopyError::TargetNotEmpty { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains(&target.to_string()), "{text}");
            assert!(text.contains("not empty"), "{text}");
            assert_eq!(dump(&store.conn()), before);
        }
        // Only a table's row counts: an empty store at this schema is a fine target, and
        // a database whose only row is the key check (a store opened once) is not.
        let opened = sqlite(dir.path(), "opened.db");
        drop(open(dir.path(), &opened, &key));
        let err = copy_store(&lite, &opened, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(err.to_string().contains("table `meta`"), "{err}");
        let migrated = postgres();
        migrations::apply(&mut open_db(&migrated).unwrap()).unwrap();
        copy(&lite, &migrated, &key);
    }

    #[test]
    fn the_same_database_a_wrong_key_and_a_missing_source_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let lite = sqlite(dir.path(), "source.db");
        fill(&open(dir.path(), &lite, &key));
        let alias = DatabaseUrl::Sqlite(dir.path().join(".").join("source.db"));
        let err = copy_store(&lite, &alias, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(matches!(err, CopyError::SameDatabase { .. }), "{err}");
        let pg = postgres();
        let err = copy_store(&pg, &pg, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(matches!(err, CopyError::SameDatabase { .. }), "{err}");

        let target = sqlite(dir.path(), "target.db");
        let origin = KeyOrigin::File(dir.path().join("master.key"));
        let err = copy_store(&lite, &target, &MasterKey::generate(), &origin).unwrap_err();
        assert!(
            matches!(err, CopyError::Store(StoreError::WrongMasterKey { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("master.key"), "{err}");
        assert!(!dir.path().join("target.db").exists());

        let missing = sqlite(dir.path(), "missing.db");
        let err = copy_store(&missing, &target, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(matches!(err, CopyError::NoSource { .. }), "{err}");
        assert!(!dir.path().join("missing.db").exists());
        let err = copy_store(&postgres(), &target, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(matches!(err, CopyError::NoStore { .. }), "{err}");
        assert!(!dir.path().join("target.db").exists());
    }

    #[test]
    fn a_column_or_table_added_by_a_later_step_is_copied() {
        // What a step 13 might add: a column, and a table with a foreign key and a
        // sealed-looking value. Made on both sides, as the migrations would.
        const STEP: &str = "ALTER TABLE connections ADD COLUMN note TEXT;
            CREATE TABLE widgets (
                id            TEXT PRIMARY KEY,
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                sealed        BYTEA NOT NULL
            );";
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let lite = sqlite(dir.path(), "source.db");
        let store = open(dir.path(), &lite, &key);
        let (id, _) = fill(&store);
        store
            .conn()
            .execute_batch(&STEP.replace("BYTEA", "BLOB"))
            .unwrap();
        store
            .conn()
            .execute(
                "UPDATE connections SET note = 'n' WHERE id = ?1",
                [id.as_str()],
            )
            .unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO widgets (id, connection_id, sealed) VALUES ('w', ?1, ?2)",
                crate::store::db::params![id, vec![0u8, 1, 2]],
            )
            .unwrap();
        drop(store);
        let pg = postgres();
        let mut target = open_db(&pg).unwrap();
        migrations::apply(&mut target).unwrap();
        target.execute_batch(STEP).unwrap();
        drop(target);
        let report = copy(&lite, &pg, &key);
        let names: Vec<&str> = report.tables.iter().map(|(n, _)| n.as_str()).collect();
        let at = |t: &str| names.iter().position(|n| *n == t).unwrap();
        assert!(at("connections") < at("widgets"));
        let copied = open_db(&pg).unwrap();
        let (note, sealed): (String, Vec<u8>) = copied
            .query_row(
                "SELECT c.note, w.sealed FROM connections c JOIN widgets w ON w.connection_id = c.id",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((note.as_str(), sealed), ("n", vec![0u8, 1, 2]));

        // A target without the step is refused, naming what it lacks.
        let old = postgres();
        let err = copy_store(&lite, &old, &key, &KeyOrigin::Explicit).unwrap_err();
        assert!(err.to_string().contains("`note`"), "{err}");
        assert!(
            open_db(&old)
                .unwrap()
                .query_row("SELECT count(*) FROM meta", (), |r| r.get::<_, i64>(0))
                .is_ok_and(|n| n == 0)
        );
    }

    #[test]
    fn parents_come_first_and_a_cycle_is_refused() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let parents = vec![
            vec!["c".to_string()],
            vec![],
            vec!["b".to_string(), "c".to_string()],
        ];
        assert_eq!(parents_first(&names, &parents).unwrap(), ["b", "c", "a"]);
        let cycle = vec![vec!["b".to_string()], vec!["a".to_string()], vec![]];
        assert!(parents_first(&names, &cycle).is_err());
    }

    /// The copy's speed: `cargo test -p keyway-host copy_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn copy_speed_of_100k_records_sqlite_to_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let lite = sqlite(dir.path(), "source.db");
        let store = open(dir.path(), &lite, &key);
        let payload = r#"{"id":"cus_0123456789","email":"someone@example.test","total":12345,"tags":["a","b"]}"#;
        let keys: Vec<String> = (0..100_000).map(|i| format!("key-{i:06}")).collect();
        for chunk in keys.chunks(10_000) {
            let writes: Vec<RecordWrite<'_>> = chunk
                .iter()
                .map(|k| RecordWrite { key: k, payload })
                .collect();
            store
                .insert_records(
                    RecordTarget {
                        connection: "acme",
                        entity: "Customer",
                        stream: Some("customers"),
                    },
                    &writes,
                )
                .unwrap();
        }
        drop(store);
        let pg = postgres();
        let started = std::time::Instant::now();
        let report = copy(&lite, &pg, &key);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{} rows SQLite -> PostgreSQL in {secs:.2} s: {:.0} rows/s",
            report.rows(),
            report.rows() as f64 / secs
        );
        let back = sqlite(dir.path(), "back.db");
        let started = std::time::Instant::now();
        let report = copy(&pg, &back, &key);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{} rows PostgreSQL -> SQLite in {secs:.2} s: {:.0} rows/s",
            report.rows(),
            report.rows() as f64 / secs
        );
    }
}
