//! The accept loop: HTTP/1.1 connections served by hyper with the router as the service,
//! each with a clock that closes it when the caller is too slow, and a graceful shutdown.
//!
//! A connection is in one of three phases. *Idle* (new, or kept alive after an answer):
//! when no byte of a request arrives within the idle timeout it is closed. *Head* (the
//! first byte arrived): the whole request head must arrive within the header read
//! timeout, else the connection is closed. *Busy* (the router has the request, until its
//! answer's body is written): no clock here; the handler reads the body within the body
//! read timeout (`body.rs`) and the guest runs under its own deadline.
//!
//! Owns: accepting, the per-connection clocks, and draining connections on shutdown.
//! Must not: read or answer requests itself (the router does), or keep a connection open
//! for a caller that sends nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The per-connection clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// How many requests of one connection the router holds (their answers not yet written),
/// and the connection task to wake when that falls to none, so its idle clock starts.
#[derive(Default)]
struct Activity {
    busy: AtomicUsize,
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    fn remember(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }
}

/// Marks a connection busy until dropped (with the answer's body).
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Busy {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Hyper reads again only when woken; the read starts the idle clock.
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(waker) = reader {
                waker.wake();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Busy,
}

/// A connection's stream with the idle and header clocks.
struct Clocked<T> {
    inner: T,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    phase: Phase,
    clock: Pin<Box<Sleep>>,
}

impl<T> Clocked<T> {
    fn new(inner: T, activity: Arc<Activity>, timeouts: Timeouts) -> Self {
        Clocked {
            inner,
            activity,
            timeouts,
            phase: Phase::Idle,
            clock: Box::pin(tokio::time::sleep(timeouts.idle)),
        }
    }

    /// Follows the router: busy while it holds a request, idle again once it answered.
    fn follow(&mut self) {
        if self.activity.is_busy() {
            self.phase = Phase::Busy;
        } else if self.phase == Phase::Busy {
            self.phase = Phase::Idle;
            self.clock
                .as_mut()
                .reset(Instant::now() + self.timeouts.idle);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Clocked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.phase = Phase::Head;
                    this.clock
                        .as_mut()
                        .reset(Instant::now() + this.timeouts.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.phase {
                Phase::Busy => {
                    this.activity.remember(cx.waker());
                    Poll::Pending
                }
                Phase::Idle | Phase::Head => {
                    if this.clock.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if this.phase == Phase::Idle {
                        // Nothing arrived: end the stream, which closes an idle connection.
                        tracing::debug!("idle connection closed");
                        Poll::Ready(Ok(()))
                    } else {
                        tracing::debug!("request head too slow; connection closed");
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the request head did not arrive within the header read timeout",
                        )))
                    }
                }
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Clocked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An answer's body that keeps its connection busy until it is written (or dropped).
struct Tracked {
    inner: axum::body::Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Accept errors that concern one connection only; anything else (such as running out
/// of file descriptors) gets a pause before the next accept.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for the open connections to finish their requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The request head has its own clock (`Clocked`), which also covers idle connections.
    builder.header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Clocked::new(stream, activity.clone(), timeouts));
        let router = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::new(&activity);
            let router = router.clone();
            async move {
                let res = router.oneshot(req.map(axum::body::Body::new)).await?;
                Ok::<_, std::convert::Infallible>(
                    res.map(|inner| axum::body::Body::new(Tracked { inner, _busy: busy })),
                )
            }
        });
        let conn = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
