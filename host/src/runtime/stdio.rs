//! Guest stdout and stderr: kept in memory up to a cap (the rest is dropped and counted,
//! never a reason to trap the guest), then written to the host's logs line by line,
//! redacted, when the invocation ends. A guest never reaches the host's own stdio.
//!
//! Redaction comes before the cut: a margin past the cap is kept, at least as long as
//! the longest secret the redactor knows, and the kept bytes are redacted as a whole
//! ([`Redactor::redact_stream_head`]) before the text is cut at the cap, so a secret
//! written across the cap is replaced whole instead of logging its first characters.

use crate::redact::Redactor;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes kept past the cap at least, whatever the redactor knew when the stream was made;
/// a longer secret learned later only shortens what is logged, never unmasks it.
pub(crate) const MIN_MARGIN: usize = 16 << 10;

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    /// Every byte the guest wrote, kept or not.
    received: usize,
}

/// One captured stream (stdout or stderr) of one invocation.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    /// Bytes of guest output logged at most.
    cap: usize,
    /// Bytes kept past the cap, so that redaction sees any secret that starts before it.
    margin: usize,
    buf: Arc<Mutex<Buffer>>,
}

impl GuestOutput {
    /// A stream that logs up to `cap` bytes and keeps `margin` more for redaction.
    pub(crate) fn new(cap: usize, margin: usize) -> Self {
        GuestOutput {
            cap,
            margin,
            buf: Arc::new(Mutex::new(Buffer::default())),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = match self.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let room = self
            .cap
            .saturating_add(self.margin)
            .saturating_sub(buf.kept.len());
        let take = room.min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..take]);
        buf.received = buf.received.saturating_add(bytes.len());
    }

    /// The captured text, redacted by `redactor` and then cut at the cap, split into
    /// lines; and how many bytes the guest wrote that are not in them.
    pub(crate) fn take_lines(&self, redactor: &Redactor) -> (Vec<String>, usize) {
        let mut buf = match self.buf.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let complete = buf.received == buf.kept.len();
        let (clean, covered) = redactor.redact_stream_head(&buf.kept, complete, self.cap);
        let dropped = buf.received.saturating_sub(covered);
        buf.kept.clear();
        buf.received = 0;
        drop(buf);
        let text = String::from_utf8_lossy(&clean);
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
        let out = GuestOutput::new(8, 0);
        out.push(b"abc\n");
        out.push(b"defghij\n");
        let (lines, dropped) = out.take_lines(&Redactor::empty());
        assert_eq!(lines, vec!["abc".to_string(), "defg".to_string()]);
        assert_eq!(dropped, 4);
    }

    #[test]
    fn a_secret_written_across_the_cap_is_redacted_whole() {
        const SECRET: &str = "Zq7Wx9-stream-canary";
        let redactor = Redactor::new([SECRET]);
        let out = GuestOutput::new(64, redactor.longest_secret());
        // The secret starts 4 bytes before the cap, in two writes.
        out.push(&[b'a'; 60]);
        out.push(&SECRET.as_bytes()[..6]);
        out.push(&SECRET.as_bytes()[6..]);
        out.push(&[b'b'; 100]);
        let (lines, dropped) = out.take_lines(&redactor);
        let text = lines.join("\n");
        assert!(!text.contains("Zq7W"), "{text}");
        assert_eq!(text, format!("{}[REDACTED]", "a".repeat(60)));
        assert_eq!(dropped, 100);
    }

    #[test]
    fn lines_are_redacted_after_joining_writes() {
        const SECRET: &str = "multi\nline-secret";
        let redactor = Redactor::new([SECRET]);
        let out = GuestOutput::new(1024, 64);
        out.push(b"x multi\nline");
        out.push(b"-secret y\n");
        let (lines, dropped) = out.take_lines(&redactor);
        assert_eq!(lines, vec!["x [REDACTED] y".to_string()]);
        assert_eq!(dropped, 0);
    }
}
