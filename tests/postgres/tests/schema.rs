//! The PostgreSQL schema (`host/src/store/migrations_pg.rs`) is the SQLite schema's twin
//! (`host/src/store/migrations.rs`), step for step. Both files are included by path; the
//! SQLite steps are also read out of the source text, so that after every step N both
//! backends can be compared: the same tables and columns in the same order, with
//! matching types (INTEGER as BIGINT, BLOB as BYTEA), nullability and defaults, the same
//! primary keys, unique constraints, foreign keys (with their ON DELETE action), named
//! indexes and triggers. The only differences allowed are the ones the PostgreSQL file's
//! header declares: an explicit unique identity `rowid` where the store reads SQLite's
//! hidden one, and `records.id` an identity column.
//!
//! Then the same SQL is run on both: the writes that bump `change_counter` (and only
//! those) bump it on both and notify `keyway_changes` on PostgreSQL; rowids and record
//! ids are handed out, deleted by and ordered on as SQLite does. (The store checks at
//! compile time that both lists have as many steps.)

#[path = "../../../host/src/store/migrations_pg.rs"]
mod migrations_pg;

use std::collections::{BTreeMap, BTreeSet};

use keyway_test_postgres::cluster;
use migrations_pg::MIGRATIONS_PG;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

/// The SQLite steps, read out of `migrations.rs`'s `MIGRATIONS`.
fn sqlite_steps() -> Vec<&'static str> {
    let source = include_str!("../../../host/src/store/migrations.rs");
    let start = source
        .find("const MIGRATIONS: &[&str] = &[")
        .expect("MIGRATIONS in migrations.rs");
    let list = &source[start..];
    let mut rest = &list[..list.find("\n];").expect("the end of MIGRATIONS")];
    let mut steps = Vec::new();
    while let Some(open) = rest.find("r#\"") {
        let step = &rest[open + 3..];
        let close = step.find("\"#").expect("a step's end");
        steps.push(&step[..close]);
        rest = &step[close + 2..];
    }
    steps
}

/// Where the store reads SQLite's hidden rowid: PostgreSQL has a column for it.
const ROWID_TABLES: [&str; 3] = ["invocations", "stream_runs", "webhook_deliveries"];

/// One schema, in PostgreSQL's words.
#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// Explicitly created indexes: name → (table, columns, unique).
    indexes: BTreeMap<String, (String, Vec<String>, bool)>,
    /// (trigger, table)
    triggers: BTreeSet<(String, String)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    unique: BTreeSet<Vec<String>>,
    /// (columns, referenced table, referenced columns, ON DELETE action)
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>, String)>,
}

#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

fn sqlite_schema(conn: &Connection) -> Schema {
    let strings = |sql: &str, arg: &str| -> Vec<Vec<String>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([arg], |row| {
            (0..n)
                .map(|i| row.get_ref(i).map(text))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut schema = Schema::default();
    for row in strings(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE ?1",
        "sqlite\\_%",
    ) {
        let name = &row[0];
        let mut table = Table::default();
        let mut key = Vec::new();
        for c in strings(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
            name,
        ) {
            let ty = match c[1].as_str() {
                "INTEGER" => "bigint",
                "TEXT" => "text",
                "BLOB" => "bytea",
                "REAL" => "double precision",
                other => panic!("{name}.{}: no PostgreSQL type for {other}", c[0]),
            };
            let pk: usize = c[4].parse().unwrap();
            if pk > 0 {
                key.push((pk, c[0].clone()));
            }
            table.columns.push(Column {
                name: c[0].clone(),
                ty: ty.into(),
                // A PostgreSQL key is never NULL; a SQLite TEXT key may be, which nothing uses.
                not_null: c[2] == "1" || pk > 0,
                default: (!c[3].is_empty()).then(|| c[3].clone()),
            });
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        for index in strings(
            "SELECT name, origin, \"unique\" FROM pragma_index_list(?1)",
            name,
        ) {
            let columns: Vec<String> = strings(
                "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                &index[0],
            )
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
            match index[1].as_str() {
                "u" => {
                    table.unique.insert(columns);
                }
                "c" => {
                    schema
                        .indexes
                        .insert(index[0].clone(), (name.clone(), columns, index[2] == "1"));
                }
                _ => {} // the primary key's, compared above
            }
        }
        let mut keys: BTreeMap<String, (Vec<String>, String, Vec<String>, String)> =
            BTreeMap::new();
        for fk in strings(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1) \
             ORDER BY id, seq",
            name,
        ) {
            let entry = keys
                .entry(fk[0].clone())
                .or_insert_with(|| (Vec::new(), fk[1].clone(), Vec::new(), fk[4].clone()));
            entry.0.push(fk[2].clone());
            entry.2.push(fk[3].clone());
        }
        table.foreign_keys = keys.into_values().collect();
        schema.tables.insert(name.clone(), table);
    }
    for t in strings(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = ?1",
        "trigger",
    ) {
        schema.triggers.insert((t[0].clone(), t[1].clone()));
    }
    schema
}

/// A SQLite value as psql prints it (NULL as nothing).
fn text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

/// Rows of a psql answer, split into fields.
fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    cluster()
        .psql(url, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The PostgreSQL schema, less the declared differences, which are checked here.
fn postgres_schema(url: &str) -> Schema {
    let mut schema = Schema::default();
    for t in rows(
        url,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    ) {
        schema.tables.insert(t[0].clone(), Table::default());
    }
    let mut identities = BTreeSet::new();
    for c in rows(
        url,
        "SELECT table_name, column_name, data_type, is_nullable, \
         coalesce(column_default, '-'), is_identity \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    ) {
        let Some(table) = schema.tables.get_mut(&c[0]) else {
            continue; // a view's
        };
        if c[5] == "YES" {
            identities.insert((c[0].clone(), c[1].clone()));
            assert_eq!((c[2].as_str(), c[3].as_str()), ("bigint", "NO"), "{c:?}");
        }
        if c[1] == "rowid" {
            continue;
        }
        let default = (c[4] != "-").then(|| {
            let d = c[4].as_str();
            ["::text", "::bigint", "::bytea"]
                .iter()
                .fold(d, |d, cast| d.strip_suffix(cast).unwrap_or(d))
                .to_owned()
        });
        table.columns.push(Column {
            name: c[1].clone(),
            ty: c[2].clone(),
            not_null: c[3] == "NO",
            default,
        });
    }
    let expected: BTreeSet<(String, String)> = ROWID_TABLES
        .iter()
        .map(|t| (t.to_string(), "rowid".to_string()))
        .chain([("records".to_string(), "id".to_string())])
        .filter(|(t, _)| schema.tables.contains_key(t))
        .collect();
    assert_eq!(identities, expected, "identity columns");

    const KEY: &str = "(SELECT string_agg(a.attname, ',' ORDER BY k.n) \
        FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n) \
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum)";
    const REFERENCED: &str = "(SELECT string_agg(a.attname, ',' ORDER BY k.n) \
        FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n) \
        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)";
    for c in rows(
        url,
        &format!(
            "SELECT c.conrelid::regclass::text, c.contype, {KEY}, \
             CASE c.contype WHEN 'f' THEN c.confrelid::regclass::text ELSE '-' END, \
             CASE c.contype WHEN 'f' THEN {REFERENCED} ELSE '-' END, \
             CASE c.contype WHEN 'f' THEN c.confdeltype::text ELSE '-' END \
             FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace \
             WHERE s.nspname = 'public' AND c.contype IN ('p', 'u', 'f')"
        ),
    ) {
        let table = schema.tables.get_mut(&c[0]).unwrap();
        match c[1].as_str() {
            "p" => table.primary_key = list(&c[2]),
            "u" if c[2] == "rowid" => assert!(ROWID_TABLES.contains(&c[0].as_str()), "{c:?}"),
            "u" => {
                table.unique.insert(list(&c[2]));
            }
            _ => {
                let action = match c[5].as_str() {
                    "c" => "CASCADE",
                    "a" => "NO ACTION",
                    other => panic!("ON DELETE {other} in {c:?}"),
                };
                table
                    .foreign_keys
                    .insert((list(&c[2]), c[3].clone(), list(&c[4]), action.into()));
            }
        }
    }
    for rowid_table in ROWID_TABLES {
        if schema.tables.contains_key(rowid_table) {
            let unique = rows(
                url,
                &format!(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'u' \
                     AND conrelid = '{rowid_table}'::regclass \
                     AND conkey = ARRAY[(SELECT attnum FROM pg_attribute \
                         WHERE attrelid = '{rowid_table}'::regclass AND attname = 'rowid')]"
                ),
            );
            assert_eq!(unique, [["1"]], "{rowid_table}.rowid is unique");
        }
    }
    for i in rows(
        url,
        "SELECT i.relname, t.relname, x.indisunique, \
         (SELECT string_agg(a.attname, ',' ORDER BY k.n) \
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
         WHERE s.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
           WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))",
    ) {
        schema
            .indexes
            .insert(i[0].clone(), (i[1].clone(), list(&i[3]), i[2] == "t"));
    }
    for t in rows(
        url,
        "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal",
    ) {
        schema.triggers.insert((t[0].clone(), t[1].clone()));
    }
    schema
}

fn sqlite() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    // As the store opens its database.
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

/// Applies every step to both, each PostgreSQL step in a transaction of its own.
fn migrated() -> (Connection, String) {
    let conn = sqlite();
    let url = cluster().fresh_database();
    for (sqlite_step, pg_step) in sqlite_steps().into_iter().zip(MIGRATIONS_PG) {
        conn.execute_batch(sqlite_step).unwrap();
        cluster()
            .psql(&url, &format!("BEGIN;\n{pg_step}\nCOMMIT;"))
            .unwrap();
    }
    (conn, url)
}

#[test]
fn every_step_has_the_same_schema_on_both_backends() {
    let steps = sqlite_steps();
    assert!(steps.len() >= 12, "steps read: {}", steps.len());
    assert_eq!(
        MIGRATIONS_PG.len(),
        steps.len(),
        "one PostgreSQL step per SQLite step"
    );

    let conn = sqlite();
    let url = cluster().fresh_database();
    for (index, (sqlite_step, pg_step)) in steps.iter().zip(MIGRATIONS_PG).enumerate() {
        let version = index + 1;
        conn.execute_batch(sqlite_step)
            .unwrap_or_else(|e| panic!("SQLite step {version}: {e}"));
        cluster()
            .psql(&url, &format!("BEGIN;\n{pg_step}\nCOMMIT;"))
            .unwrap_or_else(|e| panic!("PostgreSQL step {version}: {e}"));
        let (sqlite, postgres) = (sqlite_schema(&conn), postgres_schema(&url));
        for (name, table) in &sqlite.tables {
            assert_eq!(
                postgres.tables.get(name),
                Some(table),
                "table {name} after step {version}"
            );
        }
        assert_eq!(postgres, sqlite, "after step {version}");
    }
}

/// The generation after `sql` on each backend.
fn bump(conn: &Connection, url: &str, sql: &str) -> (i64, i64) {
    conn.execute_batch(sql)
        .unwrap_or_else(|e| panic!("SQLite: {sql}: {e}"));
    let sqlite = conn
        .query_row("SELECT generation FROM change_counter", [], |r| r.get(0))
        .unwrap();
    let pg = rows(
        url,
        &format!("{sql};\nSELECT generation FROM change_counter;"),
    );
    (sqlite, pg.last().unwrap()[0].parse().unwrap())
}

#[test]
fn the_same_writes_bump_the_change_counter_on_both_backends() {
    let (conn, url) = migrated();
    // (statement, whether it changes what route calls are served from)
    let writes = [
        (
            "INSERT INTO api_keys (id, name, digest, created_at) VALUES ('k1', 'ci', 'd', 1)",
            true,
        ),
        ("UPDATE api_keys SET revoked_at = 2 WHERE id = 'k1'", true),
        (
            "INSERT INTO connections (id, name, connector, status, created_at, updated_at) \
             VALUES ('c1', 'one', 'hello', 'active', 1, 1)",
            true,
        ),
        (
            "UPDATE connections SET status = 'expired' WHERE id = 'c1'",
            false,
        ),
        (
            "UPDATE connections SET token_generation = token_generation + 1, \
             last_refresh_at = 5, refresh_failures = 1 WHERE id = 'c1'",
            false,
        ),
        (
            "UPDATE connections SET settings = '{\"a\":1}' WHERE id = 'c1'",
            true,
        ),
        (
            "UPDATE connections SET settings = '{\"a\":1}' WHERE id = 'c1'",
            false,
        ),
        (
            "UPDATE connections SET credential_key = 'app' WHERE id = 'c1'",
            true,
        ),
        (
            "UPDATE connections SET credential_key = NULL WHERE id = 'c1'",
            true,
        ),
        (
            "UPDATE connections SET credential_key = NULL WHERE id = 'c1'",
            false,
        ),
        (
            "UPDATE connections SET callback_params = '{\"x\":2}' WHERE id = 'c1'",
            true,
        ),
        ("UPDATE connections SET name = 'uno' WHERE id = 'c1'", true),
        (
            "INSERT INTO connection_secrets (connection_id, key, value) VALUES ('c1', 's', 'v')",
            true,
        ),
        (
            "UPDATE connection_secrets SET value = 'w' WHERE connection_id = 'c1'",
            true,
        ),
        (
            "INSERT INTO tokens (connection_id, access_token, obtained_at, generation) \
             VALUES ('c1', 't', 1, 1)",
            false,
        ),
        (
            "INSERT INTO invocations (id, connection, connector, route, duration_us, \
             started_at_ms) VALUES ('i1', 'uno', 'hello', 'ping', 1, 1)",
            false,
        ),
        ("DELETE FROM connections WHERE id = 'c1'", true),
        ("DELETE FROM api_keys", true),
    ];
    let mut before = bump(&conn, &url, "SELECT 1");
    assert_eq!(before, (0, 0));
    for (sql, bumps) in writes {
        let after = bump(&conn, &url, sql);
        assert_eq!(
            (after.0 > before.0, after.1 > before.1),
            (bumps, bumps),
            "{sql}: generations {before:?} → {after:?} (SQLite, PostgreSQL)"
        );
        before = after;
    }

    // The connection's secrets and token went with it, on both.
    let left = "SELECT (SELECT count(*) FROM connection_secrets) + (SELECT count(*) FROM tokens)";
    assert_eq!(conn.query_row(left, [], |r| r.get::<_, i64>(0)).unwrap(), 0);
    assert_eq!(rows(&url, left), [["0"]]);
    // The counter keeps its one row.
    let second = "INSERT INTO change_counter (id, generation) VALUES (2, 0)";
    assert!(conn.execute_batch(second).is_err());
    let err = cluster().psql(&url, second).unwrap_err();
    assert!(err.contains("change_counter_id_check"), "{err}");
}

#[test]
fn watched_writes_notify_keyway_changes() {
    let url = cluster().fresh_database();
    let all: String = MIGRATIONS_PG.concat();
    cluster().psql(&url, &all).unwrap();
    let notified = |sql: &str| {
        cluster()
            .psql(&url, &format!("LISTEN keyway_changes;\n{sql};\nSELECT 1;"))
            .unwrap()
            .contains("Asynchronous notification \"keyway_changes\"")
    };
    assert!(!notified("SELECT 1"));
    assert!(notified(
        "INSERT INTO connections (id, name, connector, status, created_at, updated_at) \
         VALUES ('c1', 'one', 'hello', 'active', 1, 1)"
    ));
    assert!(!notified("UPDATE connections SET status = 'expired'"));
    assert!(notified("UPDATE connections SET settings = '{\"a\":1}'"));
}

/// `sql`'s rows as psql prints them, from SQLite.
fn sqlite_rows(conn: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| {
        (0..n)
            .map(|i| row.get_ref(i).map(text))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn rowids_and_record_ids_behave_as_in_sqlite() {
    let (conn, url) = migrated();
    let writes = [
        "INSERT INTO invocations (id, connection, connector, route, duration_us, started_at_ms) \
         VALUES ('a', 'c', 'x', 'r', 1, 10), ('b', 'c', 'x', 'r', 1, 10), \
         ('c', 'c', 'x', 'r', 1, 5), ('d', 'c', 'x', 'r', 1, 20)",
        // The retention sweep's two deletes, as retention.rs writes them.
        "DELETE FROM invocations WHERE rowid IN ( \
         SELECT rowid FROM invocations WHERE rowid <= 3 ORDER BY rowid LIMIT 1)",
        "DELETE FROM invocations WHERE rowid IN ( \
         SELECT rowid FROM invocations WHERE started_at_ms < 10 ORDER BY started_at_ms LIMIT 5)",
        "INSERT INTO invocations (id, connection, connector, route, duration_us, started_at_ms) \
         VALUES ('e', 'c', 'x', 'r', 1, 10)",
        "INSERT INTO records (connection, entity, idempotency_key, payload, received_at_ms) \
         VALUES ('c', 'E', 'k1', '{}', 1), ('c', 'E', 'k2', '{}', 1)",
        "INSERT INTO records (connection, entity, idempotency_key, payload, received_at_ms) \
         VALUES ('c', 'E', 'k1', '{}', 2), ('c', 'E', 'k3', '{}', 2) \
         ON CONFLICT (connection, entity, idempotency_key) DO NOTHING",
        "INSERT INTO webhook_deliveries (id, connection, webhook, delivery_id, status, \
         received_at_ms, next_attempt_at_ms, body) \
         VALUES ('w1', 'c', 'h', 'd1', 'pending', 7, 7, 'b'), \
         ('w2', 'c', 'h', 'd2', 'pending', 7, 7, 'b')",
        "INSERT INTO stream_runs (id, connection, stream, trigger, status, started_at_ms) \
         VALUES ('s1', 'c', 's', 'schedule', 'ok', 3), ('s2', 'c', 's', 'manual', 'ok', 3)",
    ];
    for sql in writes {
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("SQLite: {sql}: {e}"));
        cluster()
            .psql(&url, sql)
            .unwrap_or_else(|e| panic!("PostgreSQL: {sql}: {e}"));
    }
    let reads = [
        "SELECT max(rowid) FROM invocations",
        // A page after the cursor (10, rowid 4), as the store's pages read.
        "SELECT id, rowid FROM invocations WHERE connection = 'c' \
         AND (started_at_ms < 10 OR (started_at_ms = 10 AND rowid < 5)) \
         ORDER BY started_at_ms DESC, rowid DESC LIMIT 10",
        "SELECT id, rowid FROM invocations ORDER BY rowid",
        // Ids increase as records are written; PostgreSQL's may skip one (the conflicting
        // insert took a value), so only their order is compared.
        "SELECT idempotency_key, received_at_ms FROM records ORDER BY id",
        "SELECT id, rowid FROM webhook_deliveries ORDER BY received_at_ms DESC, rowid DESC",
        "SELECT id, rowid FROM stream_runs ORDER BY started_at_ms DESC, rowid DESC",
    ];
    for sql in reads {
        assert_eq!(rows(&url, sql), sqlite_rows(&conn, sql), "{sql}");
    }
    // Nobody picks a rowid: PostgreSQL refuses one given.
    let err = cluster()
        .psql(
            &url,
            "INSERT INTO invocations (id, connection, connector, route, duration_us, \
             started_at_ms, rowid) VALUES ('z', 'c', 'x', 'r', 1, 1, 99)",
        )
        .unwrap_err();
    assert!(err.contains("GENERATED ALWAYS"), "{err}");
}
