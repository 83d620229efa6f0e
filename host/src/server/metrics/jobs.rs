//! The metrics of the host's own jobs: stream runs (every run this process finishes,
//! whoever started it) and webhook deliveries (received, attempted, waiting).

use super::{Metrics, OutcomeLabels, StreamLabels, StreamRunLabels};

impl Metrics {
    /// One delivery arrived at a webhook endpoint, with what became of it.
    pub(crate) fn webhook_received(&self, outcome: &str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }
}

impl crate::services::DeliveryObserver for Metrics {
    fn attempted(&self, outcome: &'static str) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    fn queue_depth(&self, waiting: u64) {
        self.webhook_queue
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }
}

impl crate::services::RunObserver for Metrics {
    fn run_finished(
        &self,
        connector: &str,
        stream: &str,
        run: &crate::services::views::RunView,
        seconds: f64,
    ) {
        let labels = StreamLabels {
            connector: connector.to_string(),
            stream: stream.to_string(),
        };
        self.stream_runs
            .get_or_create(&StreamRunLabels {
                connector: connector.to_string(),
                stream: stream.to_string(),
                status: run.status.to_string(),
            })
            .inc();
        self.stream_run_durations
            .get_or_create(&labels)
            .observe(seconds);
        self.stream_records
            .get_or_create(&labels)
            .inc_by(run.imported);
    }
}
