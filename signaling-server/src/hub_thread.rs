//! Runs the hub on a thread of its own (it writes SQLite, which blocks) and routes its effects
//! to the connection tasks. A connection that does not read what it is sent fills its outbox
//! (bounded in frames and in bytes) and is dropped, rather than letting the server buffer
//! without bound.

use crate::hub::{CloseReason, ConnId, Effect, Hub, Lookup, Now};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tutti_protocol::{ClientFrame, LessonInfo, ServerMessage, TeacherPage};

/// Frames queued for one connection before it counts as a slow consumer.
pub const OUTBOX_FRAMES: usize = 512;

pub enum HubInput {
    Connect {
        conn: ConnId,
        addr: IpAddr,
        outbox: Outbox,
    },
    Frame {
        conn: ConnId,
        frame: ClientFrame,
    },
    Disconnect {
        conn: ConnId,
    },
    /// `GET /api/lessons/{code}` from `addr`.
    Lookup {
        addr: IpAddr,
        code: String,
        reply: oneshot::Sender<Result<LessonInfo, Lookup>>,
    },
    /// `GET /api/teachers/{id}`.
    Teacher {
        id: String,
        reply: oneshot::Sender<Result<TeacherPage, Lookup>>,
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

/// The hub's end of a connection's queue, with the bytes still waiting in it.
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The connection's end: frames, and the counter to lower as they go out.
pub struct OutboxReceiver {
    pub rx: mpsc::Receiver<Outbound>,
    pub queued: Arc<AtomicUsize>,
}

pub fn outbox(max_bytes: usize) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            queued: queued.clone(),
            max_bytes,
        },
        OutboxReceiver { rx, queued },
    )
}

impl OutboxReceiver {
    /// Called once a text frame has been written to the socket.
    pub fn sent(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Relaxed);
    }
}

/// Clears the liveness flag when the hub thread ends, even by a panic.
struct Alive(Arc<AtomicBool>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// Starts the hub thread; it runs until it is sent `Shutdown` or every sender is gone.
/// `alive` is true while it runs.
pub fn spawn(
    hub: Hub,
    metrics: Arc<Metrics>,
    inbox: mpsc::Receiver<HubInput>,
    alive: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    alive.store(true, Relaxed);
    std::thread::Builder::new()
        .name("tutti-hub".into())
        .spawn(move || {
            let _alive = Alive(alive);
            run(hub, metrics, inbox);
        })
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
                hub.connect(conn, addr, now);
                continue;
            }
            HubInput::Frame { conn, frame } => hub.handle(conn, frame, now),
            HubInput::Disconnect { conn } => {
                router.outboxes.remove(&conn);
                hub.disconnect(conn, now)
            }
            HubInput::Lookup { addr, code, reply } => {
                let _ = reply.send(hub.lookup(addr, &code, now));
                continue;
            }
            HubInput::Teacher { id, reply } => {
                let _ = reply.send(hub.teacher(&id));
                continue;
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
    outboxes: HashMap<ConnId, Outbox>,
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
                    let len = text.len();
                    let over_budget = outbox.queued.load(Relaxed) + len > outbox.max_bytes;
                    let sent = !over_budget && outbox.tx.try_send(Outbound::Text(text)).is_ok();
                    if sent {
                        outbox.queued.fetch_add(len, Relaxed);
                    } else {
                        // Full (or gone): dropping the sender ends the connection task once it
                        // has drained what it has.
                        let closed = outbox.tx.is_closed();
                        self.outboxes.remove(&conn);
                        if !closed {
                            slow.push(conn);
                        }
                    }
                }
                Effect::Close(conn, reason) => {
                    if let Some(outbox) = self.outboxes.remove(&conn) {
                        let _ = outbox.tx.try_send(Outbound::Close(reason));
                    }
                }
            }
        }
        slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router {
            outboxes: HashMap::new(),
            metrics: Arc::new(Metrics::default()),
        }
    }

    fn chat(n: usize) -> Arc<ServerMessage> {
        Arc::new(ServerMessage::ServerClosing {
            reason: "x".repeat(n),
        })
    }

    #[test]
    fn a_connection_over_its_byte_budget_is_dropped() {
        let mut r = router();
        let (ob, mut rx) = outbox(10_000);
        r.outboxes.insert(1, ob);
        let (ob2, _rx2) = outbox(10_000);
        r.outboxes.insert(2, ob2);
        // Three 4 KB frames for conn 1: the third goes over 10 KB.
        let slow = r.route((0..3).map(|_| Effect::Send(1, chat(4_000))).collect());
        assert_eq!(slow, vec![1]);
        assert!(!r.outboxes.contains_key(&1));
        // What was queued still arrives, then the channel ends.
        let mut got = 0;
        while let Ok(Outbound::Text(_)) = rx.rx.try_recv() {
            got += 1;
        }
        assert_eq!(got, 2);
        // Reading frees the budget for others (conn 2 unaffected).
        assert!(r.route(vec![Effect::Send(2, chat(4_000))]).is_empty());
    }

    #[test]
    fn sent_frames_return_their_bytes_to_the_budget() {
        let mut r = router();
        let (ob, rx) = outbox(10_000);
        r.outboxes.insert(1, ob);
        let mut rx = rx;
        for _ in 0..10 {
            assert!(r.route(vec![Effect::Send(1, chat(4_000))]).is_empty());
            let Ok(Outbound::Text(t)) = rx.rx.try_recv() else {
                panic!()
            };
            rx.sent(t.len());
        }
        assert_eq!(rx.queued.load(Relaxed), 0);
    }

    #[test]
    fn a_connection_over_its_frame_budget_is_dropped() {
        let mut r = router();
        let (ob, _rx) = outbox(usize::MAX / 2);
        r.outboxes.insert(1, ob);
        let slow = r.route(
            (0..OUTBOX_FRAMES + 1)
                .map(|_| Effect::Send(1, chat(1)))
                .collect(),
        );
        assert_eq!(slow, vec![1]);
    }

    #[test]
    fn a_closed_connection_is_forgotten_not_called_slow() {
        let mut r = router();
        let (ob, rx) = outbox(1000);
        r.outboxes.insert(1, ob);
        drop(rx);
        assert!(r.route(vec![Effect::Send(1, chat(1))]).is_empty());
        assert!(r.outboxes.is_empty());
    }
}
