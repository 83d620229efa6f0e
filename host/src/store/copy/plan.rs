//! What a copy does with each table: the tables and their columns read from each
//! database's schema, parents ordered before children, and the statements that read a
//! table from the source and write it to the target.
//!
//! Owns: [`Shape`], [`Plan`] and the schema queries of both dialects.
//! Must not: read or write a row.

use super::*;

/// A table as one database has it.
pub(super) struct Shape {
    /// Its columns that can be written, in order, and whether each is an identity.
    pub(super) columns: Vec<(String, bool)>,
    /// SQLite: a `rowid` no column stands for (not `INTEGER PRIMARY KEY`, not `WITHOUT
    /// ROWID`), which the store may read by name.
    pub(super) hidden_rowid: bool,
    /// SQLite: it has a rowid at all, to read in order of.
    pub(super) has_rowid: bool,
}

impl Shape {
    fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|(c, _)| c == column)
    }
}

/// How one table is copied.
pub(super) struct Plan {
    pub(super) table: String,
    /// Reads every row: the source's expressions, in the order of `columns`.
    pub(super) select: String,
    /// `INSERT INTO t (columns) [OVERRIDING SYSTEM VALUE] VALUES`, rows to follow.
    pub(super) insert: String,
    pub(super) width: usize,
    /// Rows per insert statement.
    pub(super) batch: usize,
    /// The target's identity columns written, whose sequences must move past them.
    pub(super) identities: Vec<String>,
}

/// The plan of every table the source has, parents first, the counter last.
pub(super) fn plan(source: &Db, target: &Db) -> Result<Vec<Plan>, CopyError> {
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

pub(super) fn plan_table(
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
pub(super) fn parents_first(
    names: &[String],
    parents: &[Vec<String>],
) -> Result<Vec<String>, CopyError> {
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

/// The tables of the store's schema, by name, without the schema's bookkeeping.
pub(super) fn tables(db: &Db) -> Result<Vec<String>, DbError> {
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
pub(super) fn foreign_parents(db: &Db, table: &str) -> Result<Vec<String>, DbError> {
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

pub(super) fn shape(db: &Db, table: &str) -> Result<Shape, DbError> {
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
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
