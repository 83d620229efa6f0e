//! Where guest code runs. A route call that finds no other invocation running starts on
//! the request's own task, so a lone short call costs no hand-off between threads (two
//! wake-ups, each one a thread that may have to be scheduled first: at one connection,
//! 97 µs per request against 154 µs). Under concurrent load the hand-off wins instead
//! (the front keeps to I/O while the guests' runtime runs guests: 30.7k against 26.5k
//! requests/s at 8 connections), so a call that finds others running is handed off at
//! once. A call whose guest keeps a thread busy for a whole [`SLICE`] in one go (it
//! yields at every epoch tick) is moved to the guests' runtime, so the front that
//! accepts and answers requests (health checks, 503s) is held up by a busy guest for one
//! slice at most.
//!
//! Owns: that decision, finishing a call whose caller went away (what it holds, such as
//! its invocation slot, is released only when the guest is done), and turning a panic
//! of the work into an error for the caller wherever the work ran.
//! Must not: run a call twice or lose one: the work is either polled here or owned by
//! the task it was moved to, never both.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Guest work starts on the caller's task only while at most this many invocations run
/// (the one starting included).
pub(crate) const ALONE: usize = 1;

/// A poll of guest work at least this long sends the rest of it to the guests' runtime.
/// The guest yields at each epoch tick (`runtime::EPOCH_TICK`), so this is about how long
/// a busy guest can hold a front thread.
pub(crate) const SLICE: Duration = Duration::from_millis(1);

/// The work did not finish: it panicked (a host bug), here or on the guests' runtime, or
/// that runtime was shut down under it.
#[derive(Debug)]
pub(crate) struct TaskFailed(String);

impl fmt::Display for TaskFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message of a caught panic, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned());
    match text {
        Some(text) => format!("the invocation panicked: {text}"),
        None => "the invocation panicked".to_string(),
    }
}

/// Guest work polled on the caller's task until it proves busy (see the module doc).
pub(crate) struct Placed<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// The work while it runs here; `None` once it finished or was moved.
    here: Option<Pin<Box<F>>>,
    /// The task it was moved to.
    moved: Option<JoinHandle<F::Output>>,
    guests: Handle,
}

impl<F> Placed<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Work that starts here when `running` (invocations in flight, this one included) is
    /// at most [`ALONE`], and on the guests' runtime otherwise.
    pub(crate) fn new(work: F, guests: Handle, running: usize) -> Self {
        if running <= ALONE {
            Placed {
                here: Some(Box::pin(work)),
                moved: None,
                guests,
            }
        } else {
            Placed {
                here: None,
                moved: Some(guests.spawn(work)),
                guests,
            }
        }
    }
}

impl<F> Future for Placed<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Result<F::Output, TaskFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(work) = this.here.as_mut() {
            let started = Instant::now();
            // A panic of the work is the caller's error, as it would be from a spawned
            // task, not the end of the connection's task. The panicked work is dropped,
            // never polled again.
            match catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
                Err(panic) => {
                    this.here = None;
                    return Poll::Ready(Err(TaskFailed(panic_message(&*panic))));
                }
                Ok(Poll::Ready(output)) => {
                    this.here = None;
                    return Poll::Ready(Ok(output));
                }
                Ok(Poll::Pending) if started.elapsed() < SLICE => return Poll::Pending,
                Ok(Poll::Pending) => {
                    if let Some(work) = this.here.take() {
                        this.moved = Some(this.guests.spawn(work));
                    }
                }
            }
        }
        match this.moved.as_mut() {
            Some(task) => Pin::new(task).poll(cx).map(|joined| {
                joined.map_err(|e| match e.try_into_panic() {
                    Ok(panic) => TaskFailed(panic_message(&*panic)),
                    Err(e) => TaskFailed(format!("the invocation task ended: {e}")),
                })
            }),
            // Only a poll after completion gets here; the work is not run again.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Placed<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// The caller went away before the work finished here: it finishes on the guests'
    /// runtime, so what it holds is released only when the guest is done. (A moved task
    /// runs on by itself: dropping its handle does not cancel it.)
    fn drop(&mut self) {
        if let Some(work) = self.here.take() {
            drop(self.guests.spawn(work));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn guests() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-guest")
            .enable_all()
            .build()
            .unwrap()
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_string()
    }

    #[tokio::test]
    async fn short_work_runs_on_the_callers_task() {
        let rt = guests();
        let ran_on = Placed::new(async { thread_name() }, rt.handle().clone(), 1)
            .await
            .unwrap();
        assert_ne!(ran_on, "test-guest");
        // With others running, even short work is handed off.
        let ran_on = Placed::new(async { thread_name() }, rt.handle().clone(), ALONE + 1)
            .await
            .unwrap();
        assert_eq!(ran_on, "test-guest");
        rt.shutdown_background();
    }

    #[tokio::test]
    async fn busy_work_moves_to_the_guests_runtime_and_finishes_there() {
        let rt = guests();
        let work = async {
            // One poll that holds the thread for longer than a slice, as a busy guest
            // does between two epoch ticks.
            std::thread::sleep(SLICE * 3);
            tokio::task::yield_now().await;
            thread_name()
        };
        let ran_on = Placed::new(work, rt.handle().clone(), 1).await.unwrap();
        assert_eq!(ran_on, "test-guest");
        rt.shutdown_background();
    }

    #[tokio::test]
    async fn a_panic_is_the_callers_error_wherever_the_work_ran() {
        let rt = guests();
        for running in [1, ALONE + 1] {
            let work = async {
                if thread_name() != "never" {
                    panic!("a host bug");
                }
            };
            let failed = Placed::new(work, rt.handle().clone(), running)
                .await
                .expect_err("the work panicked");
            assert_eq!(failed.to_string(), "the invocation panicked: a host bug");
        }
        rt.shutdown_background();
    }

    #[tokio::test]
    async fn work_whose_caller_went_away_still_finishes() {
        let rt = guests();
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let work = async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(20)).await;
            counter.fetch_add(1, Ordering::SeqCst);
        };
        let mut placed = Box::pin(Placed::new(work, rt.handle().clone(), 1));
        // Started here, then the caller hangs up.
        tokio::select! {
            _ = &mut placed => panic!("the work cannot be done yet"),
            _ = started_rx => {}
        }
        drop(placed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while done.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(done.load(Ordering::SeqCst), 1, "run once, to the end");
        rt.shutdown_background();
    }
}
