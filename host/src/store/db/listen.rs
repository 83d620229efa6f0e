//! `LISTEN` on PostgreSQL: the connection of its own on which a store hears other
//! replicas' announcements (changes to cached tables, token writes, lease releases).
//!
//! Owns: making that connection on the database runtime, listening on the store's
//! channels, handing each notification on, and connecting again after losing it (and
//! saying so, since whatever was announced meanwhile was missed).
//! Must not: hold up opening a store for longer than [`LISTEN_READY`].

use super::postgres::{error, runtime};
use super::{DbError, PgTarget};

/// Called with each notification's channel and payload; with `None` after the listening
/// connection was lost and made again (whatever was sent meanwhile was missed).
pub(crate) type OnNotification = Box<dyn Fn(Option<(&str, &str)>) + Send + Sync>;

/// A connection that `LISTEN`s on `channels` for as long as this lives.
pub(crate) struct Listener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long the listener waits before connecting again after losing its connection.
const LISTEN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long opening a store waits for its first `LISTEN` to be in place before it goes on
/// (then announcements may be missed until it is, and waiters fall back to looking).
const LISTEN_READY: std::time::Duration = std::time::Duration::from_secs(10);

/// Listens on `channels` with a connection of its own on the database runtime, handing
/// each notification to `on`. Returns once the first `LISTEN` is in place (or after
/// [`LISTEN_READY`]), so nothing announced after the store opened is missed. A lost
/// connection is made again (and `on(None)` told).
pub(crate) fn listen(
    target: &PgTarget,
    channels: &'static [&'static str],
    on: OnNotification,
) -> Result<Listener, DbError> {
    let target = target.clone();
    let (ready, listening_now) = std::sync::mpsc::sync_channel::<()>(1);
    let task = runtime()?.spawn(async move {
        let mut first = true;
        loop {
            match target.config.connect(target.tls.clone()).await {
                Ok((client, mut connection)) => {
                    let sql: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
                    // The LISTEN is answered only while the connection is polled.
                    let ok = {
                        let listening = client.batch_execute(&sql);
                        tokio::pin!(listening);
                        loop {
                            tokio::select! {
                                done = &mut listening => break done.is_ok(),
                                msg = std::future::poll_fn(|cx| connection.poll_message(cx)) => {
                                    if !matches!(msg, Some(Ok(_))) {
                                        break false;
                                    }
                                }
                            }
                        }
                    };
                    if ok {
                        if !first {
                            on(None);
                        }
                        first = false;
                        let _ = ready.try_send(());
                        while let Some(msg) =
                            std::future::poll_fn(|cx| connection.poll_message(cx)).await
                        {
                            match msg {
                                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                    on(Some((n.channel(), n.payload())))
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::warn!(error = %error(e), "the database listener's connection failed");
                                    break;
                                }
                            }
                        }
                    }
                    // The client lived until here: dropping it ends the connection.
                    drop(client);
                }
                Err(e) => {
                    tracing::warn!(error = %error(e), "the database listener could not connect");
                }
            }
            tokio::time::sleep(LISTEN_RETRY).await;
        }
    });
    if listening_now.recv_timeout(LISTEN_READY).is_err() {
        tracing::warn!("the database listener is not listening yet; announcements may be late");
    }
    Ok(Listener { task })
}
