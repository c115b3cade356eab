//! A client of the room server: one WebSocket, requests matched to their replies by `req`,
//! everything else delivered as events in order.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tutti_protocol::{
    ClientFrame, ClientMessage, ErrorCode, PROTOCOL_VERSION, RequestId, ServerMessage,
};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// We ping this often; the server answers (and pings every 15 s itself)...
const PING_EVERY: Duration = Duration::from_secs(4);
/// ...so a connection silent this long is dead, though no one closed it (a network that drops
/// everything says nothing).
const SILENCE_LIMIT: Duration = Duration::from_secs(12);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the room server at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the room server refused: {message} ({code})")]
    Refused { code: ErrorCode, message: String },
    #[error("the connection to the room server is closed")]
    Closed,
    #[error("the room server did not answer in time")]
    Timeout,
    #[error("the room server sent something unexpected: {0}")]
    Unexpected(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<ServerMessage>>>>;

/// A poisoned lock only means a task panicked mid-update of plain maps: the data is usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct RoomClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next: AtomicU64,
}

impl RoomClient {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8787/ws`) and says hello. Events (frames that
    /// answer no request) come out of the returned receiver until the connection closes.
    pub async fn connect(
        url: &str,
        client_name: &str,
    ) -> Result<(Arc<RoomClient>, mpsc::UnboundedReceiver<ServerMessage>), ClientError> {
        Self::connect_trusting(url, client_name, None).await
    }

    /// As `connect`, trusting `extra_ca_pem` (PEM) for `wss://` besides the system's roots.
    pub async fn connect_trusting(
        url: &str,
        client_name: &str,
        extra_ca_pem: Option<&[u8]>,
    ) -> Result<(Arc<RoomClient>, mpsc::UnboundedReceiver<ServerMessage>), ClientError> {
        let connect_err = |reason: String| ClientError::Connect {
            url: url.to_owned(),
            reason,
        };
        let ws = tokio::time::timeout(REQUEST_TIMEOUT, crate::socket::open(url, extra_ca_pem))
            .await
            .map_err(|_| connect_err("timed out".into()))?
            .map_err(connect_err)?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();

        tokio::spawn(async move {
            let mut ping = tokio::time::interval(PING_EVERY);
            ping.tick().await;
            loop {
                let msg = tokio::select! {
                    msg = out_rx.recv() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    _ = ping.tick() => Message::Ping(Default::default()),
                };
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let pending2 = pending.clone();
        tokio::spawn(async move {
            let mut heard = tokio::time::Instant::now();
            let mut check = tokio::time::interval(Duration::from_secs(1));
            loop {
                let msg = tokio::select! {
                    msg = stream.next() => match msg {
                        Some(Ok(msg)) => msg,
                        _ => break,
                    },
                    _ = check.tick() => {
                        if heard.elapsed() > SILENCE_LIMIT {
                            tracing::warn!(after = ?SILENCE_LIMIT, "the room server went silent");
                            break;
                        }
                        continue;
                    }
                };
                heard = tokio::time::Instant::now();
                let Message::Text(text) = msg else { continue };
                let msg: ServerMessage = match serde_json::from_str(text.as_str()) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable frame from the room server");
                        continue;
                    }
                };
                if let Some(waiter) = msg.re().and_then(|re| lock(&pending2).remove(&re.0)) {
                    let _ = waiter.send(msg);
                } else if msg.re().is_none() && events_tx.send(msg).is_err() {
                    // Nobody listens for events any more. (Replies nobody waits for are dropped.)
                    break;
                }
            }
            // Closed: waiting requests fail rather than hang.
            lock(&pending2).clear();
        });

        let client = Arc::new(RoomClient {
            out,
            pending,
            next: AtomicU64::new(1),
        });
        match client
            .request(ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                client: client_name.to_owned(),
            })
            .await?
        {
            ServerMessage::Welcome { .. } => Ok((client, events)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends a request without waiting: its reply, or refusal, is dropped. In the order of calls,
    /// as `request`'s are.
    pub fn send(&self, msg: ClientMessage) -> Result<(), ClientError> {
        let frame = ClientFrame {
            req: RequestId(self.next.fetch_add(1, Relaxed)),
            msg,
        };
        self.out
            .send(Message::text(frame.to_json()))
            .map_err(|_| ClientError::Closed)
    }

    /// Sends a request and waits for its reply; an `error` reply is `ClientError::Refused`.
    pub async fn request(&self, msg: ClientMessage) -> Result<ServerMessage, ClientError> {
        let req = self.next.fetch_add(1, Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(req, tx);
        let frame = ClientFrame {
            req: RequestId(req),
            msg,
        };
        if self.out.send(Message::text(frame.to_json())).is_err() {
            lock(&self.pending).remove(&req);
            return Err(ClientError::Closed);
        }
        let reply = tokio::time::timeout(REQUEST_TIMEOUT, rx).await;
        lock(&self.pending).remove(&req);
        match reply {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(_)) => Err(ClientError::Closed),
            Ok(Ok(ServerMessage::Error { code, message, .. })) => {
                Err(ClientError::Refused { code, message })
            }
            Ok(Ok(msg)) => Ok(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code
    use super::*;
    use std::time::Instant;

    /// A room server that says welcome and then reads nothing more, so that not even a ping is
    /// answered: what a network that drops everything looks like from the client's side.
    async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let Some(Ok(Message::Text(hello))) = ws.next().await else {
                return;
            };
            let frame: ClientFrame = serde_json::from_str(hello.as_str()).unwrap();
            let welcome = ServerMessage::Welcome {
                re: frame.req,
                protocol: PROTOCOL_VERSION,
                server: "silent".into(),
                max_frame_bytes: 1 << 16,
            };
            let text = serde_json::to_string(&welcome).unwrap();
            ws.send(Message::Text(text.into())).await.unwrap();
            // Open, and deaf.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(ws);
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_room_server_gone_silent_is_given_up_after_the_silence_limit() {
        let (url, _server) = silent_server().await;
        let (_client, mut events) = RoomClient::connect(&url, "test").await.unwrap();
        let t0 = Instant::now();
        // The events end when the connection is given up (the engine then rejoins).
        let ended = tokio::time::timeout(SILENCE_LIMIT + Duration::from_secs(5), async {
            while events.recv().await.is_some() {}
        })
        .await;
        let after = t0.elapsed();
        assert!(ended.is_ok(), "still taken for connected after {after:?}");
        // Not before: four unanswered pings' worth of silence.
        assert!(
            after >= SILENCE_LIMIT - Duration::from_secs(1),
            "given up after {after:?}"
        );
    }
}
