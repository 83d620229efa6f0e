//! Captures every log line the host writes during a test binary, so tests can assert
//! that canary secrets never reach the logs (and keeps them for the suite's final canary
//! sweep, see [`crate::artifacts`]). One global subscriber per test process:
//! thread-local subscribers miss events from callsites other tests already cached.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::artifacts::append("logs", buf);
        match self.0.lock() {
            Ok(mut v) => v.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the capturing subscriber (once per process), capturing every level.
pub fn capture() {
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let filter = tracing_subscriber::EnvFilter::new("trace");
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(sink.clone())
            .with_ansi(false)
            .finish();
        // Another subscriber may already be installed by a test harness; then nothing is
        // captured and the assertions on captured text fail loudly rather than pass.
        let _ = tracing::subscriber::set_global_default(subscriber);
        sink
    });
}

/// Everything captured so far in this process.
pub fn captured() -> String {
    match SINK.get() {
        Some(sink) => match sink.0.lock() {
            Ok(v) => String::from_utf8_lossy(&v).into_owned(),
            Err(poisoned) => String::from_utf8_lossy(&poisoned.into_inner()).into_owned(),
        },
        None => String::new(),
    }
}
