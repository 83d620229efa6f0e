//! Moving one table's rows: read from the source in bounded batches, written to the
//! target in multi-row inserts, identity sequences moved past what was copied.
//!
//! Owns: [`copy_table`] and the value that crosses as it is ([`Cell`]).
//! Must not: look at or change a value.

use super::plan::{Plan, quote};
use super::*;

/// One row's values, in the plan's column order.
type Values = Vec<Cell>;

/// Copies every row of one table; returns how many.
pub(super) fn copy_table(
    source: &Db,
    target: &Db,
    plan: &Plan,
    index: usize,
) -> Result<u64, CopyError> {
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
pub(super) fn insert_sql(plan: &Plan, rows: usize) -> String {
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
pub(super) fn read_batches(
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
pub(super) fn move_identity(target: &Db, table: &str, column: &str) -> Result<(), CopyError> {
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

/// One value on its way, owned: exactly what the source held (sealed bytes included).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
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
