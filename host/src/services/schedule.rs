//! The stream scheduler `keyway serve` runs: each pass looks at every stream of every
//! connection that can run, starts the ones due, and books their next run.
//!
//! The rules: a stream is due when its schedule's next instant has passed (a host that was
//! down for ten ticks runs it once, not ten times), when a retry of a failed run is due, or
//! when its last run was interrupted (its process died) — it resumes from its last
//! checkpoint. Never two runs of one stream at once (the run lock, across processes, plus
//! this process's own set), at most `per_connector` runs of one connector's streams at
//! once (a due stream over the limit waits for the next pass). A failed run is retried
//! with exponential backoff and jitter, up to the backoff's attempts; a run that failed
//! because the connection must be authorized again pauses the stream instead, until the
//! connection is authorized or an operator resumes it.
//!
//! Owns: [`Scheduler`]. Every decision takes `now` from the caller, so tests drive it in
//! virtual time.
//! Must not: run a route other than through [`Services::start_stream_run`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::views::RunView;
use super::{ServiceError, ServiceResult, Services, Trigger};
use crate::store::{ConnectionRecord, ConnectionStatus, RunQuery, RunStatus, now_unix};
use crate::streams::{Backoff, catch_up};

/// How the scheduler behaves.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// Most runs of one connector's streams at once.
    pub per_connector: usize,
    pub backoff: Backoff,
    /// Time between passes.
    pub interval: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            per_connector: 2,
            backoff: Backoff::default(),
            interval: Duration::from_secs(1),
        }
    }
}

/// Starts due stream runs.
pub struct Scheduler {
    services: Arc<Services>,
    options: SchedulerOptions,
    /// (connection, stream) runs this process started and that have not ended.
    running: Mutex<HashSet<(String, String)>>,
    per_connector: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// What a due stream's run is and what its start books.
struct Due {
    trigger: Trigger,
    /// The schedule's next instant once this run is booked.
    booked_next: Option<i64>,
    /// The retry left booked (none once a due retry starts).
    retry_at: Option<i64>,
    attempts: u32,
}

/// Whether `connection`'s `stream` is due at `now`, from what the store says now.
fn due(
    store: &crate::store::Store,
    connection: &str,
    stream: &crate::manifest::Stream,
    now: i64,
) -> ServiceResult<Option<Due>> {
    let state = store.stream_state(connection, &stream.key)?;
    if state.paused {
        return Ok(None);
    }
    let last = store.stream_runs(&RunQuery {
        connection: Some(connection.to_string()),
        stream: Some(stream.key.clone()),
        limit: 1,
        before: None,
    })?;
    let interrupted = last
        .items
        .first()
        .is_some_and(|r| r.status == RunStatus::Running);
    let retry_due = state.retry_at.is_some_and(|at| at <= now);
    let (schedule_due, next) = match &stream.schedule {
        Some(schedule) => catch_up(schedule, state.next_run_at, now),
        None => (false, None),
    };
    Ok(
        due_trigger(schedule_due, retry_due, interrupted).map(|trigger| Due {
            trigger,
            booked_next: if schedule_due {
                next
            } else {
                state.next_run_at
            },
            retry_at: if retry_due { None } else { state.retry_at },
            attempts: state.attempts,
        }),
    )
}

/// Why a stream is due.
fn due_trigger(schedule_due: bool, retry_due: bool, interrupted: bool) -> Option<Trigger> {
    if interrupted {
        Some(Trigger::Resume)
    } else if retry_due {
        Some(Trigger::Retry)
    } else if schedule_due {
        Some(Trigger::Schedule)
    } else {
        None
    }
}

impl Scheduler {
    pub fn new(services: Arc<Services>, options: SchedulerOptions) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            services,
            options,
            running: Mutex::new(HashSet::new()),
            per_connector: Mutex::new(HashMap::new()),
        })
    }

    /// Runs passes every `interval` until the returned task is aborted.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(me.options.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = me.tick(now_unix()).await {
                    tracing::warn!(target: "keyway::streams", error = %e, "a scheduler pass failed");
                }
            }
        })
    }

    /// Streams whose run this process has started and not finished.
    pub fn running(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn can_run(record: &ConnectionRecord, has_oauth: bool) -> bool {
        if has_oauth {
            matches!(
                record.status,
                ConnectionStatus::Connected | ConnectionStatus::RefreshFailing
            )
        } else {
            record.status != ConnectionStatus::Revoked
        }
    }

    fn semaphore(&self, connector: &str) -> Arc<Semaphore> {
        self.per_connector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(connector.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.per_connector)))
            .clone()
    }

    /// One pass at `now` (unix seconds): starts every due run and returns their tasks.
    pub async fn tick(self: &Arc<Self>, now: i64) -> ServiceResult<Vec<JoinHandle<()>>> {
        let store = &self.services.store;
        let mut started = Vec::new();
        for (record, connector) in self.services.connections_with_connectors(None).await? {
            let manifest = connector.connector();
            // A connection whose chosen auth option is gone cannot run; using it says why.
            let Ok(auth) = manifest.auth(record.auth_option.as_deref()) else {
                continue;
            };
            if manifest.streams().is_empty() || !Self::can_run(&record, auth.oauth.is_some()) {
                continue;
            }
            for stream in manifest.streams() {
                let id = (record.name.clone(), stream.key.clone());
                if self
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(&id)
                {
                    continue;
                }
                // A first look without the lock; the decision is made again under it.
                if due(store, &record.name, stream, now)?.is_none() {
                    continue;
                }
                let Ok(permit) = self.semaphore(&record.connector).try_acquire_owned() else {
                    continue;
                };
                let mut attempts = 0;
                let decide = || -> ServiceResult<Option<Trigger>> {
                    // Under the stream's lock: whether the tick is still due is what
                    // another process (a replica) left after its own run of it.
                    let Some(d) = due(store, &record.name, stream, now)? else {
                        return Ok(None);
                    };
                    // Book the next scheduled run before this one starts: a pass while it
                    // runs, here, in another replica or after a restart, must not start
                    // the same tick again.
                    store.set_stream_schedule(
                        &record.name,
                        &stream.key,
                        d.booked_next,
                        d.retry_at,
                        d.attempts,
                    )?;
                    attempts = d.attempts;
                    Ok(Some(d.trigger))
                };
                let started_run = match self
                    .services
                    .start_stream_run_if(&record.name, &stream.key, decide)
                    .await
                {
                    Ok(Some(run)) => run,
                    // Run meanwhile (by another process): nothing is due any more.
                    Ok(None) => continue,
                    // Another process runs it: its lock says so; look again next pass.
                    Err(ServiceError::StreamRunning { .. }) => continue,
                    Err(e) => {
                        tracing::warn!(
                            target: "keyway::streams",
                            connection = %record.name, stream = %stream.key, error = %e,
                            "a due stream could not start"
                        );
                        continue;
                    }
                };
                self.running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id.clone());
                let me = self.clone();
                started.push(tokio::spawn(async move {
                    let outcome = match started_run.done.await {
                        Ok(outcome) => outcome,
                        Err(e) => Err(ServiceError::Task(format!("the run's task stopped: {e}"))),
                    };
                    me.after_run(&id.0, &id.1, outcome, attempts, now);
                    me.running
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    drop(permit);
                }));
            }
        }
        Ok(started)
    }

    /// Books what follows a run: nothing after a success, a retry (or, past the last
    /// attempt, the next scheduled run) after a failure, a pause when the connection must
    /// be authorized again.
    fn after_run(
        &self,
        connection: &str,
        stream: &str,
        outcome: ServiceResult<RunView>,
        attempts: u32,
        now: i64,
    ) {
        let store = &self.services.store;
        let succeeded = match &outcome {
            Ok(run) => run.status == RunStatus::Succeeded.as_str(),
            Err(e) => {
                tracing::warn!(target: "keyway::streams", connection, stream, error = %e, "a stream run failed to end");
                false
            }
        };
        let result = (|| -> ServiceResult<()> {
            let state = store.stream_state(connection, stream)?;
            if succeeded {
                store.set_stream_schedule(connection, stream, state.next_run_at, None, 0)?;
                return Ok(());
            }
            let reauth = store
                .connection_by_name(connection)
                .map(|c| c.status == ConnectionStatus::ReauthRequired)
                .unwrap_or(false);
            if reauth {
                store.set_stream_paused(connection, stream, Some("reauth_required"))?;
                tracing::warn!(target: "keyway::streams", connection, stream, "stream paused: the connection must be authorized again");
                return Ok(());
            }
            let attempt = attempts.saturating_add(1);
            let jitter: f64 = rand::random();
            match self.options.backoff.retry_at(now, attempt, jitter) {
                Some(at) => store.set_stream_schedule(
                    connection,
                    stream,
                    state.next_run_at,
                    Some(at),
                    attempt,
                )?,
                // Out of attempts: wait for the next scheduled run.
                None => {
                    store.set_stream_schedule(connection, stream, state.next_run_at, None, 0)?
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(target: "keyway::streams", connection, stream, error = %e, "could not book the stream's next run");
        }
    }
}
