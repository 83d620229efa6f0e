//! Webhook deliveries: each verified delivery stored before it is acknowledged, then
//! handed to its route by a worker, retried, and dead-lettered after too many failures.
//!
//! Owns: the `webhook_deliveries` table: the durable queue (one row per provider delivery,
//! unique by connection, webhook and the provider's delivery id, so a replay is known),
//! claiming due rows, recording each attempt's outcome, and dropping the bodies of old
//! delivered rows (their ids stay, so a replay is still known).
//! Must not: verify signatures or store a signature or a secret (the caller keeps only
//! the headers a route may see).

use super::db::{DbError, Dialect, OptionalExtension, Row, params};

use super::connection_state::clip_error;
use super::{Store, StoreError, now_unix_ms};

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Queued,
    /// Being handed to its route now.
    Running,
    /// The route answered 2xx.
    Delivered,
    /// Every attempt failed; kept for an operator to look at or retry.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Running => "running",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// The status named `text`, for filters.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Some(match text {
            "queued" => DeliveryStatus::Queued,
            "running" => DeliveryStatus::Running,
            "delivered" => DeliveryStatus::Delivered,
            "dead" => DeliveryStatus::Dead,
            _ => return None,
        })
    }
}

/// A delivery to store.
#[derive(Debug)]
pub(crate) struct NewDelivery<'a> {
    pub id: &'a str,
    pub connection: &'a str,
    pub webhook: &'a str,
    pub delivery_id: &'a str,
    /// The headers the route may see, as a JSON array of `[name, value]`.
    pub headers: &'a str,
    pub body: &'a [u8],
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub connection: String,
    pub webhook: String,
    /// The provider's id for the delivery (or one derived from its signature).
    pub delivery_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub received_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub last_error: Option<String>,
    /// The invocation of the last attempt.
    pub invocation_id: Option<String>,
    /// `[name, value]` pairs, JSON.
    pub headers: String,
    pub body: Vec<u8>,
}

/// What one webhook's deliveries came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub waiting: u64,
    pub delivered: u64,
    pub dead: u64,
    pub last_received_at_ms: Option<i64>,
}

/// Filters for reading deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub connection: Option<String>,
    pub webhook: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub limit: u32,
    /// The `next` of the page before.
    pub before: Option<super::PageCursor>,
}

const COLUMNS: &str = "id, connection, webhook, delivery_id, status, attempts, received_at_ms, \
     next_attempt_at_ms, finished_at_ms, last_error, invocation_id, headers, body";

fn row(r: &Row<'_>) -> Result<DeliveryRow, DbError> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        connection: r.get(1)?,
        webhook: r.get(2)?,
        delivery_id: r.get(3)?,
        status: DeliveryStatus::parse(&r.get::<_, String>(4)?).unwrap_or(DeliveryStatus::Queued),
        attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        received_at_ms: r.get(6)?,
        next_attempt_at_ms: r.get(7)?,
        finished_at_ms: r.get(8)?,
        last_error: r.get(9)?,
        invocation_id: r.get(10)?,
        headers: r.get(11)?,
        body: r.get(12)?,
    })
}

/// How much one webhook of one connection may have waiting for its route (queued or
/// running): a flood of signed deliveries, or a route that keeps failing, fills the
/// queue up to here and no further.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_waiting: u64,
    pub max_waiting_bytes: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_waiting: 1_000,
            max_waiting_bytes: 64 << 20,
        }
    }
}

/// What queueing a delivery did.
#[derive(Debug)]
pub enum Queued {
    Stored,
    /// The provider's delivery id was received before: nothing was written.
    Replay(Box<DeliveryRow>),
    /// The webhook's queue is at its limit: nothing was written.
    Full {
        waiting: u64,
        waiting_bytes: u64,
    },
}

impl Store {
    /// Queues a delivery unless one with the same provider delivery id was already
    /// received for this connection and webhook (a replay: the earlier one is returned),
    /// or the webhook already has `limits` waiting.
    pub(crate) fn queue_delivery(
        &self,
        new: &NewDelivery<'_>,
        limits: &QueueLimits,
    ) -> Result<Queued, StoreError> {
        let now = now_unix_ms();
        let conn = self.conn();
        let earlier = |conn: &super::db::Db| {
            conn.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_deliveries
                     WHERE connection = ?1 AND webhook = ?2 AND delivery_id = ?3"
                ),
                params![new.connection, new.webhook, new.delivery_id],
                row,
            )
            .optional()
            .map_err(StoreError::sql("reading a replayed delivery"))
        };
        // At most `max_waiting` rows are read, through the (connection, webhook, status)
        // index, whatever the history holds.
        let (waiting, waiting_bytes): (i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (
                     SELECT length(body) AS size FROM webhook_deliveries
                     WHERE connection = ?1 AND webhook = ?2 AND status IN ('queued', 'running')
                     LIMIT ?3) AS waiting",
                params![new.connection, new.webhook, limits.max_waiting as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::sql("counting waiting deliveries"))?;
        let (waiting, waiting_bytes) = (waiting as u64, waiting_bytes as u64);
        if waiting >= limits.max_waiting
            || waiting_bytes + new.body.len() as u64 > limits.max_waiting_bytes
        {
            // A replay is answered as one, full or not; only then is the row read.
            return Ok(match earlier(&conn)? {
                Some(earlier) => Queued::Replay(Box::new(earlier)),
                None => Queued::Full {
                    waiting,
                    waiting_bytes,
                },
            });
        }
        let inserted = conn
            .execute(
                "INSERT INTO webhook_deliveries (id, connection, webhook, delivery_id, status,
                     attempts, received_at_ms, next_attempt_at_ms, headers, body)
                 VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?6, ?7)
                 ON CONFLICT (connection, webhook, delivery_id) DO NOTHING",
                params![
                    new.id,
                    new.connection,
                    new.webhook,
                    new.delivery_id,
                    now,
                    new.headers,
                    new.body
                ],
            )
            .map_err(StoreError::sql("queueing a webhook delivery"))?;
        if inserted == 1 {
            return Ok(Queued::Stored);
        }
        // The provider's delivery id is known: a replay (the common path reads no row).
        match earlier(&conn)? {
            Some(earlier) => Ok(Queued::Replay(Box::new(earlier))),
            None => Err(StoreError::NotFound {
                what: "replayed delivery",
                name: new.delivery_id.to_string(),
            }),
        }
    }

    /// Claims up to `limit` deliveries due at `now_ms`, oldest first, marking them running
    /// and leased until `lease_until_ms`. One statement: on PostgreSQL the rows another
    /// replica is claiming at the same moment are skipped (`FOR UPDATE SKIP LOCKED`), so
    /// each delivery goes to one process and replicas claim side by side.
    pub(crate) fn claim_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        lease_until_ms: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let conn = self.conn();
        let skip_locked = match conn.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut rows = conn
            .query_map(
                &format!(
                    "UPDATE webhook_deliveries SET status = 'running', lease_until_ms = ?3
                     WHERE status = 'queued' AND id IN (
                         SELECT id FROM webhook_deliveries
                         WHERE status = 'queued' AND next_attempt_at_ms <= ?1
                         ORDER BY next_attempt_at_ms, received_at_ms LIMIT ?2{skip_locked})
                     RETURNING {COLUMNS}"
                ),
                params![now_ms, limit, lease_until_ms],
                row,
            )
            .map_err(StoreError::sql("claiming webhook deliveries"))?;
        rows.sort_by_key(|r| (r.next_attempt_at_ms, r.received_at_ms));
        Ok(rows)
    }

    /// Extends the leases of the deliveries this process is attempting to `until_ms`.
    pub(crate) fn renew_delivery_leases(
        &self,
        ids: &[String],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        for id in ids {
            conn.execute(
                "UPDATE webhook_deliveries SET lease_until_ms = ?2
                 WHERE id = ?1 AND status = 'running'",
                params![id, until_ms],
            )
            .map_err(StoreError::sql("renewing delivery leases"))?;
        }
        Ok(())
    }

    /// Queues again the running deliveries whose lease ran out before `now_ms` (their
    /// process died mid-attempt, or stalled past the lease), and those running since
    /// before leases existed.
    pub(crate) fn requeue_expired_deliveries(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE webhook_deliveries SET status = 'queued', lease_until_ms = NULL
                 WHERE status = 'running' AND (lease_until_ms IS NULL OR lease_until_ms < ?1)",
                [now_ms],
            )
            .map_err(StoreError::sql("requeueing webhook deliveries"))
    }

    /// What a starting worker queues again: on SQLite, whose file one server uses, every
    /// running delivery (whoever ran it has stopped); on PostgreSQL, shared by replicas,
    /// only those whose lease ran out (the others are another replica's work).
    pub(crate) fn requeue_deliveries_at_start(&self, now_ms: i64) -> Result<usize, StoreError> {
        match self.dialect() {
            Dialect::Sqlite => self.requeue_expired_deliveries(i64::MAX),
            Dialect::Postgres => self.requeue_expired_deliveries(now_ms),
        }
    }

    /// Records one attempt: delivered, queued again at `retry_at_ms`, or dead.
    pub(crate) fn finish_delivery_attempt(
        &self,
        id: &str,
        status: DeliveryStatus,
        retry_at_ms: Option<i64>,
        error: Option<&str>,
        invocation_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_unix_ms();
        let finished =
            matches!(status, DeliveryStatus::Delivered | DeliveryStatus::Dead).then_some(now);
        self.conn()
            .execute(
                "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1,
                     lease_until_ms = NULL,
                     next_attempt_at_ms = coalesce(?3, next_attempt_at_ms), finished_at_ms = ?4,
                     last_error = ?5, invocation_id = coalesce(?6, invocation_id)
                 WHERE id = ?1",
                params![
                    id,
                    status.as_str(),
                    retry_at_ms,
                    finished,
                    error.map(clip_error),
                    invocation_id
                ],
            )
            .map_err(StoreError::sql("recording a delivery attempt"))?;
        Ok(())
    }

    /// Queues a dead delivery again, with its attempts forgotten.
    pub(crate) fn retry_delivery(&self, id: &str) -> Result<DeliveryRow, StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE webhook_deliveries SET status = 'queued', attempts = 0,
                     next_attempt_at_ms = ?2, finished_at_ms = NULL
                 WHERE id = ?1 AND status = 'dead'",
                params![id, now_unix_ms()],
            )
            .map_err(StoreError::sql("retrying a delivery"))?;
        let found = self.delivery(id)?;
        if changed == 0 {
            return Err(StoreError::Invalid {
                what: "delivery",
                value: id.to_string(),
                reason: "only a dead delivery can be retried",
            });
        }
        Ok(found)
    }

    /// The delivery `id`.
    pub fn delivery(&self, id: &str) -> Result<DeliveryRow, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .map_err(StoreError::sql("reading a delivery"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "delivery",
                name: id.to_string(),
            })
    }

    /// Deliveries, newest first.
    pub fn deliveries(&self, q: &DeliveryQuery) -> Result<super::Page<DeliveryRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, rowid FROM webhook_deliveries
                 WHERE (CAST(?1 AS TEXT) IS NULL OR connection = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR webhook = ?2)
                   AND (CAST(?3 AS TEXT) IS NULL OR status = ?3) AND {}
                 ORDER BY received_at_ms DESC, rowid DESC LIMIT ?4",
                super::page::after_cursor("received_at_ms", 5, 6)
            ))
            .map_err(StoreError::sql("reading deliveries"))?;
        let (at, rowid) = super::page::cursor_params(q.before);
        let rows = stmt
            .query_map(
                params![
                    q.connection,
                    q.webhook,
                    q.status.map(DeliveryStatus::as_str),
                    q.limit,
                    at,
                    rowid
                ],
                |r| Ok((row(r)?, r.get(6)?, r.get(13)?)),
            )
            .map_err(StoreError::sql("reading deliveries"))?;
        let rows = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sql("reading deliveries"))?;
        Ok(super::page::page_of(rows, q.limit))
    }

    /// How many deliveries of (`connection`, `webhook`) are waiting, delivered and dead,
    /// and when the last one arrived.
    pub fn delivery_counts(
        &self,
        connection: &str,
        webhook: &str,
    ) -> Result<DeliveryCounts, StoreError> {
        self.conn()
            .query_row(
                "SELECT
                     coalesce(sum(status IN ('queued', 'running')), 0),
                     coalesce(sum(status = 'delivered'), 0),
                     coalesce(sum(status = 'dead'), 0),
                     max(received_at_ms)
                 FROM webhook_deliveries WHERE connection = ?1 AND webhook = ?2",
                params![connection, webhook],
                |r| {
                    let n = |i: usize| -> Result<u64, DbError> {
                        Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
                    };
                    Ok(DeliveryCounts {
                        waiting: n(0)?,
                        delivered: n(1)?,
                        dead: n(2)?,
                        last_received_at_ms: r.get(3)?,
                    })
                },
            )
            .map_err(StoreError::sql("counting deliveries"))
    }

    /// Drops the body and headers of deliveries delivered before `before_ms`; the row (and
    /// so the delivery id a replay is recognised by) stays. Returns how many were cleared.
    pub(crate) fn clear_delivered_bodies(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE webhook_deliveries SET body = ?2, headers = '[]'
                 WHERE status = 'delivered' AND finished_at_ms < ?1 AND length(body) > 0",
                params![before_ms, Vec::<u8>::new()],
            )
            .map_err(StoreError::sql("clearing delivered bodies"))
    }

    /// Deliveries waiting for an attempt (the queue's depth).
    pub fn queued_deliveries(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM webhook_deliveries WHERE status IN ('queued', 'running')",
                (),
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::sql("counting queued deliveries"))
    }
}

#[cfg(test)]
#[path = "deliveries_tests.rs"]
mod tests;
