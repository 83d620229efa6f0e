//! A connector's streams and webhooks, run as the host runs them. [`StreamCall`] runs a
//! manifest stream from a seeded cursor through the host's own stream run (records held
//! until each checkpoint, then committed with it); [`WebhookCall`] verifies a delivery
//! with the manifest's scheme and the connection's secret, as the host does, then hands it
//! to the webhook's route with the headers a route may see.
//!
//! This module owns the two handles and their outcomes. It must not re-implement a host
//! rule: requests come from `keyway_host::registry`, verification and the kept headers
//! from `keyway_host::webhooks`, checkpoints from `keyway_host::ingest::StreamRun`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyway_host::ingest::{PageStore, StreamRun};
use keyway_host::manifest::{Stream, Webhook};
use keyway_host::registry::{stream_request, webhook_request};
use keyway_host::streams::Mode;
use keyway_host::webhooks;
use secrecy::ExposeSecret;

use crate::Error;
use crate::runtime::{RouteResult, TestRuntime};

static RUNS: AtomicU64 = AtomicU64::new(1);

/// A stream of a [`TestRuntime`]'s connector; see [`TestRuntime::stream`].
pub struct StreamCall<'a> {
    pub(crate) rt: &'a TestRuntime,
    pub(crate) stream: Stream,
}

/// What one stream run did.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    /// The route's answer.
    pub result: RouteResult,
    /// True when the route answered 2xx (what is held is then committed).
    pub succeeded: bool,
    /// The cursors the route checkpointed, in order.
    pub checkpoints: Vec<String>,
    /// The stream's cursor after the run (a `full` stream's is cleared by a whole pass).
    pub cursor: Option<String>,
    /// Records committed as new by this run.
    pub imported: u64,
}

impl StreamCall<'_> {
    /// Seeds the stream's cursor (as a run that stopped half-way, or an earlier run, left
    /// it); `None` makes the next run a backfill.
    pub fn with_cursor(self, cursor: Option<&str>) -> Self {
        self.rt
            .sink()
            .set_cursor(self.rt.connection(), &self.stream.key, cursor);
        self
    }

    /// The stream's cursor now.
    pub fn cursor(&self) -> Option<String> {
        self.rt
            .sink()
            .cursor(self.rt.connection(), &self.stream.key)
    }

    /// Runs the stream once, as the scheduler would.
    pub fn run(&self) -> Result<StreamOutcome, Error> {
        let sink = self.rt.sink();
        let connection = self.rt.connection();
        let before = sink.checkpoints().len();
        let cursor = self.cursor();
        let run_id = format!("run-test-{}", RUNS.fetch_add(1, Ordering::Relaxed));
        let run = Arc::new(StreamRun::new(
            sink.clone() as Arc<dyn PageStore>,
            Arc::from(connection),
            &self.stream.key,
            &run_id,
            cursor.clone(),
        ));
        let ctx = self.rt.context().for_stream_run(run.clone());
        let req = stream_request(&self.stream, "manual", &run_id, cursor.is_none());
        let result = self.rt.invoke_in(&ctx, req)?;
        let succeeded = (200..300).contains(&result.status);
        let progress =
            crate::shared::block_on(run.finish(succeeded, self.stream.mode == Mode::Full))?
                .map_err(|e| {
                    Error::Request(format!("committing the run's last page failed: {e}"))
                })?;
        let checkpoints = sink
            .checkpoints()
            .into_iter()
            .skip(before)
            .filter(|c| c.stream == self.stream.key)
            .map(|c| c.value)
            .collect();
        Ok(StreamOutcome {
            result,
            succeeded,
            checkpoints,
            cursor: self.cursor(),
            imported: progress.imported,
        })
    }
}

/// A webhook of a [`TestRuntime`]'s connector; see [`TestRuntime::webhook`].
pub struct WebhookCall<'a> {
    pub(crate) rt: &'a TestRuntime,
    pub(crate) hook: Webhook,
}

impl WebhookCall<'_> {
    /// The headers the provider would send with `body` now, signed with the connection's
    /// secret (the builder's `.secret(..)` of the webhook's secret setting).
    pub fn sign(&self, body: &[u8], delivery_id: &str) -> Result<Vec<(String, String)>, Error> {
        let secret = self.secret()?;
        Ok(webhooks::sign(
            &self.hook.rule,
            secret.as_bytes(),
            body,
            now(),
            delivery_id,
        ))
    }

    fn secret(&self) -> Result<String, Error> {
        self.rt
            .context()
            .secrets
            .get(&self.hook.secret)
            .map(|s| s.expose_secret().to_string())
            .ok_or_else(|| {
                Error::Setup(format!(
                    "webhook `{}` is signed with the secret setting `{}`; give it with .secret(..)",
                    self.hook.key, self.hook.secret
                ))
            })
    }

    /// Delivers `body` with `headers` as the provider sent them: verified first (a bad
    /// signature or a stale timestamp is an `Error::Refused` naming why, and the route does
    /// not run), then handed to the route.
    pub fn deliver(&self, body: &[u8], headers: &[(&str, &str)]) -> Result<RouteResult, Error> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let secret = self.secret()?;
        let verified = webhooks::verify(&self.hook.rule, secret.as_bytes(), &headers, body, now())
            .map_err(|e| Error::Refused(format!("webhook `{}`: {e}", self.hook.key)))?;
        let req = webhook_request(
            &self.hook,
            webhooks::route_headers(&headers, &self.hook.rule),
            &verified.delivery_id,
            1,
            body.to_vec(),
        );
        self.rt.invoke_in(self.rt.context(), req)
    }

    /// Signs `body` with the connection's secret and delivers it.
    pub fn deliver_signed(&self, body: &[u8], delivery_id: &str) -> Result<RouteResult, Error> {
        let headers = self.sign(body, delivery_id)?;
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.deliver(body, &borrowed)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
