//! Running a connection's streams: one run (the CLI's `keyway streams run`, the API, the
//! scheduler), the streams' state and history, and pause, resume and reset.
//!
//! A run takes the stream's run lock (one run of a stream at a time, across processes),
//! records itself, calls the stream's route with a context whose `ingest` door holds
//! records until the guest checkpoints and whose `state` door serves the cursor, and ends
//! by committing what is left (success) or dropping it (failure), so the next run resumes
//! from the last checkpoint.
//!
//! Owns: [`StartedRun`] and the use cases above.
//! Must not: decide when a stream is due (`schedule.rs`), or commit records outside a
//! checkpoint.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::views::{RunView, StreamView};
use super::{ServiceError, ServiceResult, Services};
use crate::catalog::Lookup;
use crate::ingest::{Progress, StreamRun};
use crate::manifest::Stream;
use crate::registry::{LoadedConnector, stream_request};
use crate::runtime::MAX_ERROR_TEXT;
use crate::store::{ConnectionRecord, Page, RunQuery, RunStatus, StreamLock, new_id};
use crate::streams::Mode;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Retry,
    /// A run whose process stopped is run again from its last checkpoint.
    Resume,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Retry => "retry",
            Trigger::Resume => "resume",
            Trigger::Manual => "manual",
        }
    }
}

/// Sees every stream run this process finishes, whoever started it (the server's
/// metrics).
pub trait RunObserver: Send + Sync {
    fn run_finished(&self, connector: &str, stream: &str, run: &RunView, seconds: f64);
}

/// A run under way: its id, its counters as it goes, and its end.
pub struct StartedRun {
    pub run_id: String,
    pub progress: watch::Receiver<Progress>,
    pub done: JoinHandle<ServiceResult<RunView>>,
}

impl Services {
    /// The stream `key` of `connection`'s connector, or a not-found naming the streams it has.
    async fn stream_of(&self, connection: &str, key: &str) -> ServiceResult<(String, Stream)> {
        let (record, connector) = self.resolve_connection(connection).await?;
        let manifest = connector.connector();
        match manifest.stream(key) {
            Some(stream) => Ok((record.connector, stream.clone())),
            None => Err(ServiceError::UnknownStream {
                connector: record.connector,
                stream: key.to_string(),
                known: manifest.streams().iter().map(|s| s.key.clone()).collect(),
            }),
        }
    }

    /// Starts a run of `connection`'s stream `key` on the current runtime. Refused with a
    /// conflict while another run of it holds its lock (here or in another process).
    pub async fn start_stream_run(
        self: &Arc<Self>,
        connection: &str,
        key: &str,
        trigger: Trigger,
    ) -> ServiceResult<StartedRun> {
        self.start_stream_run_if(connection, key, || Ok(Some(trigger)))
            .await?
            .ok_or_else(|| ServiceError::StreamRunning {
                connection: connection.to_string(),
                stream: key.to_string(),
            })
    }

    /// Starts a run as [`Services::start_stream_run`] does, if `decide`, asked once the
    /// stream's lock is held, names a trigger; `None` (no run) when it names none. What
    /// `decide` reads then is what no other process can change before this run begins:
    /// the scheduler decides there whether a tick is still due, so a tick another replica
    /// ran meanwhile is not run again.
    pub async fn start_stream_run_if(
        self: &Arc<Self>,
        connection: &str,
        key: &str,
        decide: impl FnOnce() -> ServiceResult<Option<Trigger>>,
    ) -> ServiceResult<Option<StartedRun>> {
        let live = self.live_connection(connection).await?;
        let stream = live
            .connector
            .connector()
            .stream(key)
            .cloned()
            .ok_or_else(|| ServiceError::UnknownStream {
                connector: live.connector_key.clone(),
                stream: key.to_string(),
                known: live
                    .connector
                    .connector()
                    .streams()
                    .iter()
                    .map(|s| s.key.clone())
                    .collect(),
            })?;
        let lock = self.store.lock_stream(connection, key)?.ok_or_else(|| {
            ServiceError::StreamRunning {
                connection: connection.to_string(),
                stream: key.to_string(),
            }
        })?;
        let Some(trigger) = decide()? else {
            return Ok(None);
        };
        let run_id = new_id("run");
        let state = self
            .store
            .begin_stream_run(connection, key, &run_id, trigger.as_str())?;
        let backfill = state.cursor.is_none();
        let run = Arc::new(StreamRun::new(
            self.pages.clone(),
            Arc::from(connection),
            key,
            &run_id,
            state.cursor,
        ));
        let progress = run.progress();
        let services = self.clone();
        let id = run_id.clone();
        let done = tokio::spawn(async move {
            let req = stream_request(&stream, trigger.as_str(), &id, backfill);
            let clock = std::time::Instant::now();
            let ctx = live.context.for_stream_run(run.clone());
            let outcome = services.invoke_in(&live, &ctx, req).await;
            let failure = match &outcome {
                Ok(res) if (200..300).contains(&res.status) => None,
                Ok(res) => Some(format!(
                    "the route answered {}: {}",
                    res.status,
                    res.redactor
                        .redact_clipped(&String::from_utf8_lossy(&res.body), MAX_ERROR_TEXT)
                )),
                Err(e) => Some(e.to_string()),
            };
            let view = services.end_run(&run, &stream, failure, lock).await;
            if let (Ok(view), Some(observer)) = (&view, services.run_observer.get()) {
                observer.run_finished(
                    &live.connector_key,
                    &stream.key,
                    view,
                    clock.elapsed().as_secs_f64(),
                );
            }
            view
        });
        Ok(Some(StartedRun {
            run_id,
            progress,
            done,
        }))
    }

    /// Commits what the run holds (success) or drops it (failure), records the outcome
    /// and lets the next run start.
    async fn end_run(
        &self,
        run: &StreamRun,
        stream: &Stream,
        failure: Option<String>,
        lock: StreamLock,
    ) -> ServiceResult<RunView> {
        let mut failure = failure;
        if let Err(e) = run
            .finish(failure.is_none(), stream.mode == Mode::Full)
            .await
        {
            failure = Some(format!("committing the run's last page failed: {e}"));
            // Nothing of that page was written; drop it.
            let _ = run.finish(false, false).await;
        }
        let status = if failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        self.store
            .finish_stream_run(run.run_id(), status, failure.as_deref())?;
        drop(lock);
        Ok(RunView::from(&self.store.stream_run(run.run_id())?))
    }

    /// `connection` (or every connection) with its loaded connector; a connection whose
    /// connector cannot be loaded now is left out.
    pub(crate) async fn connections_with_connectors(
        &self,
        connection: Option<&str>,
    ) -> ServiceResult<Vec<(ConnectionRecord, Arc<LoadedConnector>)>> {
        let records = match connection {
            Some(name) => vec![self.store.connection_by_name(name)?],
            None => self.store.list_connections()?,
        };
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            if let Ok(connector) = self.connector(&record.connector, Lookup::KeyOrPath).await {
                out.push((record, connector));
            }
        }
        Ok(out)
    }

    /// Lets `observer` see every stream run this process finishes (set once).
    pub(crate) fn observe_runs(&self, observer: Arc<dyn RunObserver>) {
        if self.run_observer.set(observer).is_err() {
            tracing::warn!("a stream run observer was already set; the new one is ignored");
        }
    }

    /// Runs `connection`'s stream `key` to its end.
    pub async fn run_stream(
        self: &Arc<Self>,
        connection: &str,
        key: &str,
        trigger: Trigger,
    ) -> ServiceResult<RunView> {
        let started = self.start_stream_run(connection, key, trigger).await?;
        started
            .done
            .await
            .map_err(|e| ServiceError::Task(format!("the stream run's task stopped: {e}")))?
    }

    /// Every stream of every connection (or of `connection`), with its state and last run.
    pub async fn list_streams(&self, connection: Option<&str>) -> ServiceResult<Vec<StreamView>> {
        let mut out = Vec::new();
        for (record, connector) in self.connections_with_connectors(connection).await? {
            for stream in connector.connector().streams() {
                let state = self.store.stream_state(&record.name, &stream.key)?;
                let last = self.store.stream_runs(&RunQuery {
                    connection: Some(record.name.clone()),
                    stream: Some(stream.key.clone()),
                    limit: 1,
                    before: None,
                })?;
                out.push(StreamView::new(
                    &record.connector,
                    stream,
                    &state,
                    last.items.first(),
                ));
            }
        }
        Ok(out)
    }

    /// Pauses `connection`'s stream `key`: the scheduler skips it until it is resumed.
    pub async fn pause_stream(&self, connection: &str, key: &str) -> ServiceResult<()> {
        self.stream_of(connection, key).await?;
        Ok(self
            .store
            .set_stream_paused(connection, key, Some("paused by an operator"))?)
    }

    /// Resumes a paused stream and forgets its failed attempts.
    pub async fn resume_stream(&self, connection: &str, key: &str) -> ServiceResult<()> {
        self.stream_of(connection, key).await?;
        Ok(self.store.set_stream_paused(connection, key, None)?)
    }

    /// Forgets the stream's cursor: its next run is a backfill. Refused while it runs.
    pub async fn reset_stream(&self, connection: &str, key: &str) -> ServiceResult<()> {
        self.stream_of(connection, key).await?;
        let _lock = self.store.lock_stream(connection, key)?.ok_or_else(|| {
            ServiceError::StreamRunning {
                connection: connection.to_string(),
                stream: key.to_string(),
            }
        })?;
        Ok(self.store.reset_stream(connection, key)?)
    }

    /// The run `id`.
    pub fn stream_run(&self, id: &str) -> ServiceResult<RunView> {
        Ok(RunView::from(&self.store.stream_run(id)?))
    }

    /// Runs, newest first.
    pub fn stream_runs(&self, query: &RunQuery) -> ServiceResult<Page<RunView>> {
        if let Some(name) = &query.connection {
            self.store.connection_by_name(name)?;
        }
        Ok(self.store.stream_runs(query)?.map(|r| RunView::from(r)))
    }
}
