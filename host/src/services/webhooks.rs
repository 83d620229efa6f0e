//! Provider webhooks: a delivery is verified with the connection's signing secret over its
//! raw body, refused when stale or replayed, stored durably and acknowledged at once; a
//! worker hands it to the webhook's route later, retries it with backoff, and
//! dead-letters it after the last attempt.
//!
//! The route sees the body and a few of the delivery's headers (never the signature
//! header, `Authorization` or cookies), plus `x-keyway-webhook`, `x-keyway-delivery` and
//! `x-keyway-attempt`. It never sees the secret.
//!
//! Owns: [`Receipt`], [`DeliveryWorker`] and the webhook use cases.
//! Must not: put the secret, the signature or body text in an error or a log line.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::views::{DeliveryView, WebhookView};
use super::{ServiceError, ServiceResult, Services};
use crate::manifest::Webhook;
use crate::registry::webhook_request;
use crate::runtime::MAX_ERROR_TEXT;
use crate::store::{
    DeliveryQuery, DeliveryRow, DeliveryStatus, NewDelivery, Page, Queued, new_id, now_unix,
    now_unix_ms,
};
use crate::streams::Backoff;
use crate::webhooks::{self, Verified};

/// Largest delivery body: 1 MiB, the size of one record.
pub const MAX_DELIVERY_BYTES: usize = 1 << 20;

/// What a verified delivery became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Stored and queued for its route.
    Queued { id: String, delivery_id: String },
    /// The provider's delivery id was already received: nothing was stored again.
    Duplicate {
        id: String,
        delivery_id: String,
        received_at_ms: i64,
    },
}

impl Services {
    /// `connection`'s webhook `key` and the secret that signs it.
    async fn webhook_of(
        &self,
        connection: &str,
        key: &str,
    ) -> ServiceResult<(Webhook, SecretString)> {
        let live = self.live_connection(connection).await?;
        let manifest = live.connector.connector();
        let hook = manifest
            .webhook(key)
            .ok_or_else(|| ServiceError::UnknownWebhook {
                connector: live.connector_key.clone(),
                webhook: key.to_string(),
                known: manifest.webhooks().iter().map(|w| w.key.clone()).collect(),
            })?;
        let secret = live
            .context
            .secrets
            .get(&hook.secret)
            .cloned()
            .ok_or_else(|| ServiceError::MissingWebhookSecret {
                connection: connection.to_string(),
                webhook: key.to_string(),
                setting: hook.secret.clone(),
            })?;
        Ok((hook.clone(), secret))
    }

    /// Verifies and queues a delivery for `connection`'s webhook `key`, as received at
    /// `now` (unix seconds).
    pub async fn receive_webhook(
        &self,
        connection: &str,
        key: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: i64,
    ) -> ServiceResult<Receipt> {
        if body.len() > MAX_DELIVERY_BYTES {
            return Err(ServiceError::Input {
                field: "body".into(),
                message: format!("a delivery is at most {MAX_DELIVERY_BYTES} bytes"),
            });
        }
        let (hook, secret) = self.webhook_of(connection, key).await?;
        let Verified { delivery_id, .. } = webhooks::verify(
            &hook.rule,
            secret.expose_secret().as_bytes(),
            headers,
            body,
            now,
        )
        .map_err(|e| ServiceError::WebhookRefused {
            webhook: key.to_string(),
            reason: e,
        })?;
        let kept = webhooks::route_headers(headers, &hook.rule);
        let kept = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into());
        let id = new_id("dlv");
        let queued = self.store.queue_delivery(
            &NewDelivery {
                id: &id,
                connection,
                webhook: key,
                delivery_id: &delivery_id,
                headers: &kept,
                body,
            },
            &self.webhook_queue,
        )?;
        match queued {
            Queued::Stored => {
                self.deliveries_waiting.notify_one();
                Ok(Receipt::Queued { id, delivery_id })
            }
            Queued::Replay(earlier) => Ok(Receipt::Duplicate {
                id: earlier.id,
                delivery_id,
                received_at_ms: earlier.received_at_ms,
            }),
            Queued::Full {
                waiting,
                waiting_bytes,
            } => Err(ServiceError::QueueFull {
                webhook: key.to_string(),
                waiting,
                waiting_bytes,
            }),
        }
    }

    /// Signs a sample delivery with the connection's secret and receives it, as the
    /// provider would send it: the "send a test webhook" of the operator.
    pub async fn test_webhook(&self, connection: &str, key: &str) -> ServiceResult<Receipt> {
        let (hook, secret) = self.webhook_of(connection, key).await?;
        let delivery = new_id("test");
        let body = serde_json::json!({
            "id": delivery,
            "type": "keyway.test",
            "test": true,
            "createdAt": now_unix(),
        })
        .to_string();
        let now = now_unix();
        let mut headers = webhooks::sign(
            &hook.rule,
            secret.expose_secret().as_bytes(),
            body.as_bytes(),
            now,
            &delivery,
        );
        headers.push(("content-type".into(), "application/json".into()));
        self.receive_webhook(connection, key, &headers, body.as_bytes(), now)
            .await
    }

    /// Hands one claimed delivery to its route and records the outcome.
    async fn attempt_delivery(
        &self,
        row: &DeliveryRow,
        backoff: &Backoff,
        now_ms: i64,
    ) -> ServiceResult<DeliveryStatus> {
        let attempt = row.attempts + 1;
        let prepared = async {
            let live = self.live_connection(&row.connection).await?;
            let hook = live
                .connector
                .connector()
                .webhook(&row.webhook)
                .cloned()
                .ok_or_else(|| ServiceError::UnknownWebhook {
                    connector: live.connector_key.clone(),
                    webhook: row.webhook.clone(),
                    known: Vec::new(),
                })?;
            Ok::<_, ServiceError>((live, hook))
        }
        .await;
        let outcome = match prepared {
            Ok((live, hook)) => {
                let req = webhook_request(
                    &hook,
                    serde_json::from_str(&row.headers).unwrap_or_default(),
                    &row.delivery_id,
                    attempt,
                    row.body.clone(),
                );
                match self.invoke_live(&live, req).await {
                    Ok(res) if (200..300).contains(&res.status) => Ok(res.invocation_id),
                    Ok(res) => Err((
                        format!(
                            "the route answered {}: {}",
                            res.status,
                            res.redactor.redact_clipped(
                                &String::from_utf8_lossy(&res.body),
                                MAX_ERROR_TEXT
                            )
                        ),
                        Some(res.invocation_id),
                    )),
                    Err(e) => Err((e.to_string(), e.invocation_id().map(str::to_string))),
                }
            }
            Err(e) => Err((e.to_string(), None)),
        };
        let status = match outcome {
            Ok(invocation) => {
                self.store.finish_delivery_attempt(
                    &row.id,
                    DeliveryStatus::Delivered,
                    None,
                    None,
                    Some(&invocation),
                )?;
                DeliveryStatus::Delivered
            }
            Err((error, invocation)) => {
                let jitter: f64 = rand::random();
                let retry = backoff.retry_at(now_ms / 1000, attempt, jitter);
                let status = if retry.is_some() {
                    DeliveryStatus::Queued
                } else {
                    DeliveryStatus::Dead
                };
                self.store.finish_delivery_attempt(
                    &row.id,
                    status,
                    retry.map(|s| s.saturating_mul(1000)),
                    Some(&error),
                    invocation.as_deref(),
                )?;
                if status == DeliveryStatus::Dead {
                    tracing::warn!(
                        target: "keyway::webhooks",
                        connection = %row.connection, webhook = %row.webhook, delivery = %row.id,
                        attempts = attempt,
                        "a webhook delivery failed its last attempt and is dead-lettered"
                    );
                }
                status
            }
        };
        Ok(status)
    }

    /// The webhooks of every connection (or of `connection`), with their URL paths and
    /// what their deliveries came to.
    pub async fn list_webhooks(&self, connection: Option<&str>) -> ServiceResult<Vec<WebhookView>> {
        let mut out = Vec::new();
        for (record, connector) in self.connections_with_connectors(connection).await? {
            for hook in connector.connector().webhooks() {
                let counts = self.store.delivery_counts(&record.name, &hook.key)?;
                out.push(WebhookView::new(
                    &record.name,
                    &record.connector,
                    hook,
                    counts,
                ));
            }
        }
        Ok(out)
    }

    /// Deliveries, newest first.
    pub fn deliveries(&self, query: &DeliveryQuery) -> ServiceResult<Page<DeliveryView>> {
        Ok(self.store.deliveries(query)?.map(|r| DeliveryView::from(r)))
    }

    /// Queues a dead delivery again.
    pub fn retry_delivery(&self, id: &str) -> ServiceResult<DeliveryView> {
        let row = self.store.retry_delivery(id)?;
        self.deliveries_waiting.notify_one();
        Ok(DeliveryView::from(&row))
    }
}

/// How long a delivered delivery's body is kept: 7 days. Its row, and so its delivery id,
/// stays for good: a replay is known however late it comes.
pub const DELIVERED_BODY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the worker drops old delivered bodies.
const PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

/// How long a claimed delivery stays this process's without a renewal (at least three
/// passes). The worker renews the leases of its attempts at every pass (each `interval`,
/// a second by default), so only a process that died, or stalled this long, loses one.
const DELIVERY_LEASE_MS: i64 = 60_000;

/// How the delivery worker behaves.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryOptions {
    /// Deliveries handed to routes at once.
    pub concurrency: usize,
    /// Retries after a failed attempt; past `max_attempts` retries the delivery is dead.
    pub backoff: Backoff,
    /// Longest wait between two looks at the queue (a new delivery wakes it at once).
    pub interval: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            concurrency: 4,
            backoff: Backoff {
                base_seconds: 10,
                cap_seconds: 600,
                max_attempts: 4,
            },
            interval: Duration::from_secs(1),
        }
    }
}

/// Sees what the delivery worker does (the server's metrics).
pub trait DeliveryObserver: Send + Sync {
    /// One attempt ended: `delivered`, `retry` or `dead`.
    fn attempted(&self, outcome: &'static str);
    /// Deliveries waiting, after a pass.
    fn queue_depth(&self, waiting: u64);
}

/// Hands queued deliveries to their routes.
pub struct DeliveryWorker {
    services: Arc<Services>,
    options: DeliveryOptions,
    observer: Option<Arc<dyn DeliveryObserver>>,
    slots: Arc<Semaphore>,
    /// Deliveries this process is attempting now.
    running: Mutex<HashSet<String>>,
    /// When old delivered bodies were last dropped (unix ms).
    pruned_at_ms: std::sync::atomic::AtomicI64,
}

impl DeliveryWorker {
    /// A worker; deliveries a stopped process left half-attempted are queued again.
    pub fn new(
        services: Arc<Services>,
        options: DeliveryOptions,
        observer: Option<Arc<dyn DeliveryObserver>>,
    ) -> ServiceResult<Arc<Self>> {
        let requeued = services
            .store
            .requeue_deliveries_at_start(crate::store::now_unix_ms())?;
        if requeued > 0 {
            tracing::info!(target: "keyway::webhooks", deliveries = requeued, "deliveries interrupted by a stop are queued again");
        }
        Ok(Arc::new(DeliveryWorker {
            slots: Arc::new(Semaphore::new(options.concurrency.max(1))),
            services,
            options,
            observer,
            running: Mutex::new(HashSet::new()),
            pruned_at_ms: std::sync::atomic::AtomicI64::new(0),
        }))
    }

    /// Attempts every delivery due at `now_ms` that a free slot can take; returns the
    /// attempts' tasks.
    pub async fn tick(self: &Arc<Self>, now_ms: i64) -> ServiceResult<Vec<JoinHandle<()>>> {
        if let Some(observer) = &self.observer {
            observer.queue_depth(self.services.store.queued_deliveries()?);
        }
        let last = self.pruned_at_ms.load(std::sync::atomic::Ordering::Relaxed);
        if now_ms - last >= PRUNE_EVERY_MS {
            self.pruned_at_ms
                .store(now_ms, std::sync::atomic::Ordering::Relaxed);
            let before = now_ms - DELIVERED_BODY_RETENTION.as_millis() as i64;
            let cleared = self.services.store.clear_delivered_bodies(before)?;
            if cleared > 0 {
                tracing::info!(target: "keyway::webhooks", deliveries = cleared, "bodies of deliveries delivered over 7 days ago dropped");
            }
        }
        // The attempts under way keep their leases; those of a process that died are
        // queued again once theirs ran out.
        let interval_ms = i64::try_from(self.options.interval.as_millis()).unwrap_or(i64::MAX);
        let lease_until =
            now_ms.saturating_add(DELIVERY_LEASE_MS.max(interval_ms.saturating_mul(3)));
        let mine: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        self.services
            .store
            .renew_delivery_leases(&mine, lease_until)?;
        let requeued = self.services.store.requeue_expired_deliveries(now_ms)?;
        if requeued > 0 {
            tracing::info!(target: "keyway::webhooks", deliveries = requeued, "deliveries whose process stopped mid-attempt are queued again");
        }
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(Vec::new());
        }
        let claimed = self.services.store.claim_deliveries(
            now_ms,
            u32::try_from(free).unwrap_or(u32::MAX),
            lease_until,
        )?;
        let mut tasks = Vec::with_capacity(claimed.len());
        for row in claimed {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                // Should not happen (we claimed no more than the free slots); put it back.
                self.services.store.finish_delivery_attempt(
                    &row.id,
                    DeliveryStatus::Queued,
                    Some(now_ms),
                    Some("no free slot"),
                    None,
                )?;
                continue;
            };
            self.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(row.id.clone());
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                match me
                    .services
                    .attempt_delivery(&row, &me.options.backoff, now_ms)
                    .await
                {
                    Ok(status) => {
                        if let Some(observer) = &me.observer {
                            observer.attempted(match status {
                                DeliveryStatus::Delivered => "delivered",
                                DeliveryStatus::Dead => "dead",
                                _ => "retry",
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "keyway::webhooks", delivery = %row.id, error = %e, "recording a delivery attempt failed");
                    }
                }
                me.running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&row.id);
                drop(permit);
            }));
        }
        Ok(tasks)
    }

    /// Looks at the queue when a delivery arrives or every `interval`, until aborted.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let me = self.clone();
        let waiting: Arc<Notify> = me.services.deliveries_waiting.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.tick(now_unix_ms()).await {
                    tracing::warn!(target: "keyway::webhooks", error = %e, "a delivery pass failed");
                }
                tokio::select! {
                    _ = waiting.notified() => {}
                    _ = tokio::time::sleep(me.options.interval) => {}
                }
            }
        })
    }
}
