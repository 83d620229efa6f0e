//! Ingested records: provider data a source connector handed over, deduplicated per
//! connection, entity and idempotency key.
//!
//! Owns: the `records` table, writing one batch in one transaction, and reading records
//! back with filters.
//! Must not: validate payloads or keys (the `ingest` module hands over validated records),
//! or store anything secret here (records are provider data, kept as plain JSON text).

use super::db::{Dialect, Param, Tx, params};

use super::{Store, StoreError, now_unix_ms};

/// One record to write: its idempotency key and its payload (a JSON object, as text).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordWrite<'a> {
    pub key: &'a str,
    pub payload: &'a str,
}

/// Where a batch of records belongs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordTarget<'a> {
    /// The stored connection's name.
    pub connection: &'a str,
    pub entity: &'a str,
    pub stream: Option<&'a str>,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub id: i64,
    pub connection: String,
    pub entity: String,
    pub stream: Option<String>,
    pub idempotency_key: String,
    /// The payload, a JSON object as text.
    pub payload: String,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: i64,
}

/// Which end of the insertion order a read starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecordOrder {
    /// Oldest first (insertion order).
    #[default]
    Oldest,
    /// Newest first.
    Newest,
}

/// Filters for reading records of one connection.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub connection: String,
    pub entity: Option<String>,
    pub stream: Option<String>,
    pub order: RecordOrder,
    /// At most this many records; `None` for all.
    pub limit: Option<u32>,
    /// Only records after this one in the order asked for (a page's `next`).
    pub after: Option<i64>,
}

const INSERT: &str = "INSERT INTO records (connection, entity, stream, idempotency_key, payload,
        received_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (connection, entity, idempotency_key) DO NOTHING";

/// PostgreSQL's batch insert: the records travel as one JSON list and go in, in order, in
/// one statement (one round trip for a batch instead of one per record); the keys that
/// went in come back.
const INSERT_BATCH_PG: &str = "INSERT INTO records (connection, entity, stream, idempotency_key,
        payload, received_at_ms)
    SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), e->>'k', e->>'p',
        CAST(?5 AS BIGINT)
    FROM json_array_elements(CAST(?4 AS json)) WITH ORDINALITY AS t(e, n)
    ORDER BY n
    ON CONFLICT (connection, entity, idempotency_key) DO NOTHING
    RETURNING idempotency_key";

/// Writes `records` of `target` inside the caller's transaction; per record, whether it
/// was new.
pub(super) fn insert_in(
    tx: &Tx<'_>,
    target: RecordTarget<'_>,
    records: &[RecordWrite<'_>],
) -> Result<Vec<bool>, StoreError> {
    let received = now_unix_ms();
    if tx.dialect() == Dialect::Postgres {
        return insert_batch_pg(tx, target, records, received);
    }
    let mut outcomes = Vec::with_capacity(records.len());
    let mut stmt = tx
        .prepare_cached(INSERT)
        .map_err(StoreError::sql("preparing the record insert"))?;
    for record in records {
        let changed = stmt
            .execute(params![
                target.connection,
                target.entity,
                target.stream,
                record.key,
                record.payload,
                received
            ])
            .map_err(StoreError::sql("inserting a record"))?;
        outcomes.push(changed == 1);
    }
    Ok(outcomes)
}

fn insert_batch_pg(
    tx: &Tx<'_>,
    target: RecordTarget<'_>,
    records: &[RecordWrite<'_>],
    received: i64,
) -> Result<Vec<bool>, StoreError> {
    let list: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::json!({ "k": r.key, "p": r.payload }))
        .collect();
    let list = serde_json::Value::from(list).to_string();
    let inserted: Vec<String> = tx
        .query_map(
            INSERT_BATCH_PG,
            params![
                target.connection,
                target.entity,
                target.stream,
                list,
                received
            ],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("inserting records"))?;
    // A record is new where its key went in, the first time the batch has the key.
    let mut went_in: std::collections::HashSet<String> = inserted.into_iter().collect();
    Ok(records.iter().map(|r| went_in.remove(r.key)).collect())
}

impl Store {
    /// Writes `records` of `target` in one transaction. Returns, per record in order,
    /// whether it was new (`true`) or a duplicate of a stored key (`false`); a key repeated
    /// within the batch is new the first time and a duplicate after. On an error nothing is
    /// written.
    pub(crate) fn insert_records(
        &self,
        target: RecordTarget<'_>,
        records: &[RecordWrite<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .write_transaction()
            .map_err(StoreError::sql("starting a record batch"))?;
        let outcomes = insert_in(&tx, target, records)?;
        tx.commit()
            .map_err(StoreError::sql("committing a record batch"))?;
        Ok(outcomes)
    }

    /// Records of `query.connection`, filtered and ordered as asked.
    pub(crate) fn list_records(
        &self,
        query: &RecordQuery,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, connection, entity, stream, idempotency_key, payload, received_at_ms
             FROM records WHERE connection = ?",
        );
        let mut args: Vec<&dyn Param> = vec![&query.connection];
        if let Some(entity) = &query.entity {
            sql.push_str(" AND entity = ?");
            args.push(entity);
        }
        if let Some(stream) = &query.stream {
            sql.push_str(" AND stream = ?");
            args.push(stream);
        }
        if let Some(after) = &query.after {
            sql.push_str(match query.order {
                RecordOrder::Oldest => " AND id > ?",
                RecordOrder::Newest => " AND id < ?",
            });
            args.push(after);
        }
        sql.push_str(match query.order {
            RecordOrder::Oldest => " ORDER BY id ASC",
            RecordOrder::Newest => " ORDER BY id DESC",
        });
        let limit = query.limit.map_or(i64::MAX, i64::from);
        sql.push_str(" LIMIT ?");
        args.push(&limit);
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&sql)
            .map_err(StoreError::sql("reading records"))?;
        let rows = stmt
            .query_map(args.as_slice(), |r| {
                Ok(StoredRecord {
                    id: r.get(0)?,
                    connection: r.get(1)?,
                    entity: r.get(2)?,
                    stream: r.get(3)?,
                    idempotency_key: r.get(4)?,
                    payload: r.get(5)?,
                    received_at_ms: r.get(6)?,
                })
            })
            .map_err(StoreError::sql("reading records"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("reading records"))
    }

    /// How many records `connection` has, in all entities.
    pub fn count_records(&self, connection: &str) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM records WHERE connection = ?1",
                [connection],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::sql("counting records"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
        (dir, store)
    }

    fn target<'a>(
        connection: &'a str,
        entity: &'a str,
        stream: Option<&'a str>,
    ) -> RecordTarget<'a> {
        RecordTarget {
            connection,
            entity,
            stream,
        }
    }

    fn writes<'a>(items: &'a [(&'a str, &'a str)]) -> Vec<RecordWrite<'a>> {
        items
            .iter()
            .map(|(key, payload)| RecordWrite { key, payload })
            .collect()
    }

    #[test]
    fn dedups_per_connection_and_entity() {
        let (_dir, s) = store();
        let items = [
            ("a", r#"{"n":1}"#),
            ("b", r#"{"n":2}"#),
            ("a", r#"{"n":3}"#),
        ];
        let first = s
            .insert_records(target("shop", "Order", Some("orders")), &writes(&items))
            .unwrap();
        assert_eq!(first, vec![true, true, false]);
        let again = s
            .insert_records(
                target("shop", "Order", Some("orders")),
                &writes(&items[..2]),
            )
            .unwrap();
        assert_eq!(again, vec![false, false]);
        // The same keys are new for another entity and for another connection.
        let other_entity = s
            .insert_records(target("shop", "Customer", None), &writes(&items[..1]))
            .unwrap();
        assert_eq!(other_entity, vec![true]);
        let other_conn = s
            .insert_records(target("shop-2", "Order", None), &writes(&items[..1]))
            .unwrap();
        assert_eq!(other_conn, vec![true]);
        assert_eq!(s.count_records("shop").unwrap(), 3);
        // The first payload of a key wins.
        let stored = s
            .list_records(&RecordQuery {
                connection: "shop".into(),
                entity: Some("Order".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].idempotency_key, "a");
        assert_eq!(stored[0].payload, r#"{"n":1}"#);
        assert_eq!(stored[0].stream.as_deref(), Some("orders"));
        assert!(stored[0].received_at_ms > 0);
    }

    #[test]
    fn filters_order_and_limit() {
        let (_dir, s) = store();
        s.insert_records(
            target("shop", "Order", Some("orders")),
            &writes(&[("1", "{}"), ("2", "{}"), ("3", "{}")]),
        )
        .unwrap();
        s.insert_records(
            target("shop", "Order", Some("refunds")),
            &writes(&[("4", "{}")]),
        )
        .unwrap();
        s.insert_records(target("shop", "Customer", None), &writes(&[("5", "{}")]))
            .unwrap();
        s.insert_records(target("other", "Order", None), &writes(&[("6", "{}")]))
            .unwrap();
        let keys = |q: RecordQuery| -> Vec<String> {
            s.list_records(&q)
                .unwrap()
                .into_iter()
                .map(|r| r.idempotency_key)
                .collect()
        };
        let all = RecordQuery {
            connection: "shop".into(),
            ..Default::default()
        };
        assert_eq!(keys(all.clone()), ["1", "2", "3", "4", "5"]);
        assert_eq!(
            keys(RecordQuery {
                entity: Some("Order".into()),
                ..all.clone()
            }),
            ["1", "2", "3", "4"]
        );
        assert_eq!(
            keys(RecordQuery {
                stream: Some("refunds".into()),
                ..all.clone()
            }),
            ["4"]
        );
        assert_eq!(
            keys(RecordQuery {
                entity: Some("Order".into()),
                stream: Some("orders".into()),
                order: RecordOrder::Newest,
                limit: Some(2),
                ..all.clone()
            }),
            ["3", "2"]
        );
        assert_eq!(
            keys(RecordQuery {
                limit: Some(0),
                ..all.clone()
            }),
            Vec::<String>::new()
        );
        // Pages: after the last id of one page come the next ones, in either order.
        let first = s
            .list_records(&RecordQuery {
                limit: Some(2),
                ..all.clone()
            })
            .unwrap();
        let last = first.last().map(|r| r.id);
        assert_eq!(
            keys(RecordQuery {
                limit: Some(2),
                after: last,
                ..all.clone()
            }),
            ["3", "4"]
        );
        assert_eq!(
            keys(RecordQuery {
                order: RecordOrder::Newest,
                after: last,
                ..all
            }),
            ["1"]
        );
    }

    #[test]
    fn failed_batch_writes_nothing() {
        let (_dir, s) = store();
        // Break the insert half-way: a trigger refuses the third record.
        crate::store::test_backend::refuse_records_keyed_bad(&s);
        let err = s
            .insert_records(
                target("shop", "Order", None),
                &writes(&[("a", "{}"), ("b", "{}"), ("bad", "{}")]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("inserting"), "{err}");
        assert_eq!(s.count_records("shop").unwrap(), 0);
    }
}
