//! Guest stdout and stderr: kept in memory up to a cap (the rest is dropped and counted,
//! never a reason to trap the guest), then written to the host's logs line by line,
//! redacted, when the invocation ends. A guest never reaches the host's own stdio.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: usize,
}

/// One captured stream (stdout or stderr) of one invocation.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    cap: usize,
    buf: Arc<Mutex<Buffer>>,
}

impl GuestOutput {
    pub(crate) fn new(cap: usize) -> Self {
        GuestOutput {
            cap,
            buf: Arc::new(Mutex::new(Buffer::default())),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = match self.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let room = self.cap.saturating_sub(buf.kept.len());
        let take = room.min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..take]);
        buf.dropped += bytes.len() - take;
    }

    /// The captured text split into lines, and how many bytes were dropped.
    pub(crate) fn take_lines(&self) -> (Vec<String>, usize) {
        let mut buf = match self.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let text = String::from_utf8_lossy(&buf.kept).into_owned();
        let dropped = buf.dropped;
        buf.kept.clear();
        buf.dropped = 0;
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        (lines, dropped)
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let out = GuestOutput::new(8);
        out.push(b"abc\n");
        out.push(b"defghij\n");
        let (lines, dropped) = out.take_lines();
        assert_eq!(lines, vec!["abc".to_string(), "defg".to_string()]);
        assert_eq!(dropped, 4);
    }
}
