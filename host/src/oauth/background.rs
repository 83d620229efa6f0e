//! The background refresher: periodically refreshes tokens that are about to expire and,
//! at a longer interval, exercises refresh tokens that have been idle (providers revoke
//! unused ones), all through the `TokenManager` so single flight and classification apply.
//! Outcomes land in the connection rows (`connections list` shows them).
//!
//! `keyway serve` runs it (`server/mod.rs`), with the interval and window from its
//! configuration, and reports each pass to its metrics through a [`PassObserver`].
//!
//! Owns: `BackgroundOptions`, `run_once`, `spawn` and its `Refresher` handle, `PassObserver`.
//! Must not: refresh connections in a cooldown or that need re-authorization.

use std::sync::Arc;
use std::time::Duration;

use super::refresh::{TokenError, TokenManager};
use crate::store::DueReason;
use crate::store::now_unix;

/// When to act.
#[derive(Debug, Clone)]
pub struct BackgroundOptions {
    /// Time between passes.
    pub interval: Duration,
    /// Refresh tokens that expire within this window.
    pub refresh_ahead: Duration,
    /// Exercise refresh tokens not used for this long (`None` turns it off).
    pub idle_exercise_after: Option<Duration>,
}

impl Default for BackgroundOptions {
    fn default() -> Self {
        BackgroundOptions {
            interval: Duration::from_secs(60),
            refresh_ahead: Duration::from_secs(300),
            idle_exercise_after: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub refreshed: Vec<String>,
    pub exercised: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Told about every pass the spawned refresher makes (for metrics).
pub trait PassObserver: Send + Sync {
    fn pass(&self, report: &PassReport);
}

/// One pass over the connections due for a refresh.
pub async fn run_once(manager: &TokenManager, opts: &BackgroundOptions) -> PassReport {
    let now = now_unix();
    let mut report = PassReport::default();
    let due = match manager.store().connections_due_for_refresh(
        now + opts.refresh_ahead.as_secs() as i64,
        opts.idle_exercise_after.map(|d| now - d.as_secs() as i64),
    ) {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "background refresh: cannot list connections");
            return report;
        }
    };
    for (id, reason) in due {
        let result = match reason {
            // Asking for more lifetime than the token has makes the manager refresh.
            DueReason::Expiring => {
                manager
                    .access_token(&id, opts.refresh_ahead + Duration::from_secs(1))
                    .await
            }
            DueReason::Idle => match manager.store().tokens(&id) {
                Ok(Some(t)) => manager.force_refresh(&id, t.generation).await,
                Ok(None) => continue,
                Err(e) => Err(TokenError::Store(e)),
            },
        };
        match (result, reason) {
            (Ok(_), DueReason::Expiring) => report.refreshed.push(id),
            (Ok(_), DueReason::Idle) => report.exercised.push(id),
            (Err(e), _) => {
                tracing::info!(connection = %id, code = e.code(), error = %e, "background refresh failed");
                report.failed.push((id, e.code().to_string()));
            }
        }
    }
    report
}

/// The running refresher; dropping it stops it. A pass under way is cut short as if the
/// process stopped (the lease expires; a token request already sent may go unanswered),
/// so drop it only when the process is about to exit.
#[must_use = "the refresher stops when its handle is dropped"]
pub struct Refresher(tokio::task::JoinHandle<()>);

impl Drop for Refresher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `run_once` every `opts.interval` (the first at once) on the current runtime until
/// the returned handle is dropped, telling `observer` about each pass.
pub fn spawn(
    manager: Arc<TokenManager>,
    opts: BackgroundOptions,
    observer: Arc<dyn PassObserver>,
) -> Refresher {
    Refresher(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(opts.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let report = run_once(&manager, &opts).await;
            observer.pass(&report);
            if report != PassReport::default() {
                tracing::info!(
                    refreshed = report.refreshed.len(),
                    exercised = report.exercised.len(),
                    failed = report.failed.len(),
                    "background refresh pass"
                );
            }
        }
    }))
}
