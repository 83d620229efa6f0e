//! The views of the host's own jobs: stream runs and their streams, webhooks and their
//! deliveries (never a delivery's body, a cursor only clipped).

use serde::Serialize;

use crate::manifest::{Stream, Webhook};
use crate::store::{DeliveryCounts, DeliveryRow, DeliveryStatus, StreamRunRow, StreamStateRow};

/// Longest cursor or checkpoint shown in a view; the stored value is kept whole.
const MAX_SHOWN_CURSOR: usize = 256;

fn shown_cursor(cursor: &Option<String>) -> Option<String> {
    cursor.as_deref().map(|c| {
        if c.len() <= MAX_SHOWN_CURSOR {
            return c.to_string();
        }
        let mut end = MAX_SHOWN_CURSOR;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &c[..end])
    })
}

/// One run of a stream: what started it, how it ended, and what it stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub connection: String,
    pub stream: String,
    /// `schedule`, `retry`, `resume` or `manual`.
    pub trigger: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: &'static str,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub pages: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub error: Option<String>,
    pub start_cursor: Option<String>,
    /// The cursor of its last checkpoint.
    pub checkpoint: Option<String>,
}

impl From<&StreamRunRow> for RunView {
    fn from(r: &StreamRunRow) -> Self {
        RunView {
            id: r.id.clone(),
            connection: r.connection.clone(),
            stream: r.stream.clone(),
            trigger: r.trigger.clone(),
            status: r.status.as_str(),
            started_at_ms: r.started_at_ms,
            finished_at_ms: r.finished_at_ms,
            pages: r.pages,
            imported: r.imported,
            duplicates: r.duplicates,
            failed: r.failed,
            error: r.error.clone(),
            start_cursor: shown_cursor(&r.start_cursor),
            checkpoint: shown_cursor(&r.checkpoint),
        }
    }
}

/// One stream of one connection: its declaration, its state and its last run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamView {
    pub connection: String,
    pub connector: String,
    pub stream: String,
    /// `METHOD /path`.
    pub route: String,
    pub schedule: Option<String>,
    pub mode: &'static str,
    pub entity: String,
    pub cursor: Option<String>,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Unix seconds.
    pub next_run_at: Option<i64>,
    pub retry_at: Option<i64>,
    /// Failed runs in a row.
    pub attempts: u32,
    pub last_run: Option<RunView>,
}

impl StreamView {
    pub(crate) fn new(
        connector: &str,
        stream: &Stream,
        state: &StreamStateRow,
        last_run: Option<&StreamRunRow>,
    ) -> StreamView {
        StreamView {
            connection: state.connection.clone(),
            connector: connector.to_string(),
            stream: stream.key.clone(),
            route: format!("{} {}", stream.route.method, stream.route.path),
            schedule: stream.schedule.as_ref().map(|s| s.as_str().to_string()),
            mode: stream.mode.as_str(),
            entity: stream.entity.clone(),
            cursor: shown_cursor(&state.cursor),
            paused: state.paused,
            pause_reason: state.pause_reason.clone(),
            next_run_at: state.next_run_at,
            retry_at: state.retry_at,
            attempts: state.attempts,
            last_run: last_run.map(RunView::from),
        }
    }
}

/// One webhook of one connection: where the provider sends it and what its deliveries
/// came to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub connection: String,
    pub connector: String,
    pub webhook: String,
    /// The path to give the provider, below the server's public URL.
    pub path: String,
    /// `METHOD /path` of the route deliveries go to.
    pub route: String,
    pub scheme: &'static str,
    /// The secret setting that signs deliveries (its name only).
    pub secret_setting: String,
    pub waiting: u64,
    pub delivered: u64,
    pub dead: u64,
    pub last_received_at_ms: Option<i64>,
}

impl WebhookView {
    pub(crate) fn new(
        connection: &str,
        connector: &str,
        hook: &Webhook,
        counts: DeliveryCounts,
    ) -> WebhookView {
        WebhookView {
            connection: connection.to_string(),
            connector: connector.to_string(),
            webhook: hook.key.clone(),
            path: format!("/v1/webhooks/{connection}/{}", hook.key),
            route: format!("{} {}", hook.route.method, hook.route.path),
            scheme: hook.rule.scheme.as_str(),
            secret_setting: hook.secret.clone(),
            waiting: counts.waiting,
            delivered: counts.delivered,
            dead: counts.dead,
            last_received_at_ms: counts.last_received_at_ms,
        }
    }
}

/// One webhook delivery (its body is not shown: it is provider data of any size).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub connection: String,
    pub webhook: String,
    pub delivery_id: String,
    /// `queued`, `running`, `delivered` or `dead`.
    pub status: &'static str,
    pub attempts: u32,
    pub received_at_ms: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub invocation_id: Option<String>,
    pub body_bytes: usize,
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(r: &DeliveryRow) -> Self {
        DeliveryView {
            id: r.id.clone(),
            connection: r.connection.clone(),
            webhook: r.webhook.clone(),
            delivery_id: r.delivery_id.clone(),
            status: r.status.as_str(),
            attempts: r.attempts,
            received_at_ms: r.received_at_ms,
            next_attempt_at_ms: (r.status == DeliveryStatus::Queued)
                .then_some(r.next_attempt_at_ms),
            finished_at_ms: r.finished_at_ms,
            last_error: r.last_error.clone(),
            invocation_id: r.invocation_id.clone(),
            body_bytes: r.body.len(),
        }
    }
}
