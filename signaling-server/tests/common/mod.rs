//! A small protocol client over a real WebSocket, for the integration tests and the load
//! benchmark. Waits are bounded so that a broken server fails a test instead of hanging it.
#![allow(dead_code)] // each test binary uses a different part

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tutti_protocol::*;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_req: u64,
    /// Events read while waiting for a reply, in arrival order.
    pending: VecDeque<ServerMessage>,
}

impl Client {
    /// Connects without saying hello.
    pub async fn connect_raw(addr: SocketAddr) -> Client {
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        Client {
            ws,
            next_req: 0,
            pending: VecDeque::new(),
        }
    }

    pub async fn connect(addr: SocketAddr) -> Client {
        let mut c = Self::connect_raw(addr).await;
        let reply = c
            .request(ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                client: "tutti-tests".into(),
            })
            .await;
        assert!(matches!(reply, ServerMessage::Welcome { .. }), "{reply:?}");
        c
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_message(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send");
    }

    /// Sends without waiting for the reply; returns its request id.
    pub async fn send(&mut self, msg: ClientMessage) -> RequestId {
        self.next_req += 1;
        let frame = ClientFrame::new(self.next_req, msg);
        self.send_text(frame.to_json()).await;
        frame.req
    }

    /// The next frame from the socket, or `None` when the connection closed.
    pub async fn read(&mut self) -> Option<ServerMessage> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("no message within the wait");
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) => {
                    return Some(
                        serde_json::from_str(t.as_str())
                            .unwrap_or_else(|e| panic!("server sent {t}: {e}")),
                    );
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the connection closes; returns the close code, if the server sent one.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("not closed within the wait");
            match msg {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends and waits for the reply, keeping events that arrive meanwhile.
    pub async fn request(&mut self, msg: ClientMessage) -> ServerMessage {
        let req = self.send(msg).await;
        self.reply_to(req).await
    }

    pub async fn reply_to(&mut self, req: RequestId) -> ServerMessage {
        loop {
            let msg = self
                .read()
                .await
                .expect("connection closed before the reply");
            if msg.re() == Some(req) {
                return msg;
            }
            assert!(msg.re().is_none(), "reply to another request: {msg:?}");
            self.pending.push_back(msg);
        }
    }

    /// Like `request`, but the reply must not be an error.
    pub async fn ok(&mut self, msg: ClientMessage) -> ServerMessage {
        let reply = self.request(msg).await;
        assert!(!matches!(reply, ServerMessage::Error { .. }), "{reply:?}");
        reply
    }

    pub async fn error_code(&mut self, msg: ClientMessage) -> ErrorCode {
        match self.request(msg).await {
            ServerMessage::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The next event (a frame without `re`).
    pub async fn event(&mut self) -> ServerMessage {
        if let Some(e) = self.pending.pop_front() {
            return e;
        }
        let msg = self
            .read()
            .await
            .expect("connection closed while waiting for an event");
        assert!(msg.re().is_none(), "unexpected reply {msg:?}");
        msg
    }

    /// The first event matching `want`; the others are kept for later.
    pub async fn event_where(&mut self, want: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).expect("index");
        }
        loop {
            let msg = self
                .read()
                .await
                .expect("connection closed while waiting for an event");
            if want(&msg) {
                return msg;
            }
            self.pending.push_back(msg);
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Host creates and starts a lesson: (host client, lesson id, code, host token).
pub async fn live_lesson(addr: SocketAddr, title: &str) -> (Client, LessonId, String, HostToken) {
    let mut host = Client::connect(addr).await;
    let ServerMessage::LessonCreated {
        lesson, host_token, ..
    } = host
        .ok(ClientMessage::CreateLesson {
            title: title.into(),
            host_name: "김선생".into(),
            scheduled_for: None,
            time_zone: None,
            teacher_key: None,
            teacher: None,
        })
        .await
    else {
        panic!("no lesson_created");
    };
    let joined = host
        .ok(ClientMessage::StartLesson {
            lesson: lesson.id.clone(),
            host_token: host_token.clone(),
        })
        .await;
    assert!(matches!(joined, ServerMessage::Joined(_)));
    (host, lesson.id, lesson.code.to_string(), host_token)
}

/// A student knocks and the host admits it: (student, its joined snapshot).
pub async fn admitted(
    addr: SocketAddr,
    host: &mut Client,
    code: &str,
    name: &str,
) -> (Client, Joined) {
    let mut s = Client::connect(addr).await;
    let ServerMessage::Waiting { you, .. } = s
        .ok(ClientMessage::Knock {
            code: code.into(),
            name: name.into(),
            role: JoinRole::Student,
        })
        .await
    else {
        panic!("not waiting");
    };
    host.event_where(|e| matches!(e, ServerMessage::Knocking { knock } if knock.peer == you))
        .await;
    host.ok(ClientMessage::Admit { peer: you }).await;
    let ServerMessage::Joined(joined) = s
        .event_where(|e| matches!(e, ServerMessage::Joined(_)))
        .await
    else {
        unreachable!()
    };
    (s, *joined)
}
