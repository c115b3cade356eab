//! Runs the hub on a thread of its own (it writes SQLite, which blocks) and routes its effects
//! to the connection tasks. A connection that does not read what it is sent fills its outbox
//! and is dropped, rather than letting the server buffer without bound.

use crate::hub::{CloseReason, ConnId, Effect, Hub, Now};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tutti_protocol::{ClientFrame, ServerMessage};

/// Messages queued for one connection before it counts as a slow consumer.
pub const OUTBOX: usize = 512;

pub enum HubInput {
    Connect {
        conn: ConnId,
        addr: IpAddr,
        outbox: mpsc::Sender<Outbound>,
    },
    Frame {
        conn: ConnId,
        frame: ClientFrame,
    },
    Disconnect {
        conn: ConnId,
    },
    Tick,
    Shutdown {
        reason: String,
        done: oneshot::Sender<()>,
    },
}

#[derive(Debug)]
pub enum Outbound {
    Text(Utf8Bytes),
    Close(CloseReason),
}

/// Starts the hub thread; it runs until it is sent `Shutdown` or every sender is gone.
pub fn spawn(
    hub: Hub,
    metrics: Arc<Metrics>,
    inbox: mpsc::Receiver<HubInput>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tutti-hub".into())
        .spawn(move || run(hub, metrics, inbox))
}

fn run(mut hub: Hub, metrics: Arc<Metrics>, mut inbox: mpsc::Receiver<HubInput>) {
    let mut router = Router {
        outboxes: HashMap::new(),
        metrics,
    };
    while let Some(input) = inbox.blocking_recv() {
        let now = Now::real();
        let effects = match input {
            HubInput::Connect { conn, addr, outbox } => {
                router.outboxes.insert(conn, outbox);
                hub.connect(conn, addr);
                continue;
            }
            HubInput::Frame { conn, frame } => hub.handle(conn, frame, now),
            HubInput::Disconnect { conn } => {
                router.outboxes.remove(&conn);
                hub.disconnect(conn, now)
            }
            HubInput::Tick => hub.tick(now),
            HubInput::Shutdown { reason, done } => {
                let effects = hub.shutdown(&reason);
                router.route(effects);
                let _ = done.send(());
                return;
            }
        };
        let mut slow = router.route(effects);
        // Dropping a slow consumer is a disconnect, which may tell others; repeat until calm.
        while let Some(conn) = slow.pop() {
            tracing::warn!(
                conn,
                "dropping a connection that does not read its messages"
            );
            router.metrics.slow_consumers.fetch_add(1, Relaxed);
            slow.extend(router.route(hub.disconnect(conn, now)));
        }
    }
}

struct Router {
    outboxes: HashMap<ConnId, mpsc::Sender<Outbound>>,
    metrics: Arc<Metrics>,
}

impl Router {
    /// Delivers effects; returns the connections whose outbox was full.
    fn route(&mut self, effects: Vec<Effect>) -> Vec<ConnId> {
        let mut slow = Vec::new();
        // Fan-out repeats one Arc: serialise it once.
        let mut last: Option<(Arc<ServerMessage>, Utf8Bytes)> = None;
        for effect in effects {
            match effect {
                Effect::Send(conn, msg) => {
                    let text = match &last {
                        Some((m, text)) if Arc::ptr_eq(m, &msg) => text.clone(),
                        _ => {
                            let text = Utf8Bytes::from(msg.to_json());
                            last = Some((msg, text.clone()));
                            text
                        }
                    };
                    let Some(outbox) = self.outboxes.get(&conn) else {
                        continue;
                    };
                    match outbox.try_send(Outbound::Text(text)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            // Dropping the sender ends the connection task once it drains.
                            self.outboxes.remove(&conn);
                            slow.push(conn);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            self.outboxes.remove(&conn);
                        }
                    }
                }
                Effect::Close(conn, reason) => {
                    if let Some(outbox) = self.outboxes.remove(&conn) {
                        let _ = outbox.try_send(Outbound::Close(reason));
                    }
                }
            }
        }
        slow
    }
}
