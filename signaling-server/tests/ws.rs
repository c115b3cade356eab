//! The room server over real sockets: a server bound to port 0, real WebSocket clients.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{Client, admitted, live_lesson};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tutti_protocol::*;
use tutti_server::{HubConfig, RunningServer, ServerConfig};

async fn server(data: Option<&Path>) -> RunningServer {
    tutti_server::start(ServerConfig {
        data_dir: data.map(Path::to_owned),
        hub: HubConfig {
            ice_servers: vec![IceServer {
                urls: vec!["stun:127.0.0.1:3478".into()],
                username: None,
                credential: None,
            }],
            ..HubConfig::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server starts")
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn host_creates_student_joins_and_they_negotiate() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let (mut host, lesson, code, _) = live_lesson(addr, "Scales").await;
    let (mut student, joined) = admitted(addr, &mut host, &code.to_lowercase(), "Omar").await;
    assert_eq!(joined.lesson.id, lesson);
    assert_eq!(joined.participants.len(), 2);
    assert_eq!(
        joined.ice_servers[0].urls,
        vec!["stun:127.0.0.1:3478".to_string()]
    );
    let host_peer = joined
        .participants
        .iter()
        .find(|p| p.role == Role::Host)
        .unwrap()
        .peer
        .clone();
    let me = joined.you.peer.clone();
    host.event_where(|e| matches!(e, ServerMessage::ParticipantUpdated { participant } if participant.peer == me)).await;

    // Offer, answer and trickled candidates go to the named peer only.
    let offer = Signal::Offer {
        sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".into(),
    };
    host.ok(ClientMessage::Signal {
        to: me.clone(),
        signal: offer.clone(),
    })
    .await;
    assert_eq!(
        student.event().await,
        ServerMessage::Signal {
            from: host_peer.clone(),
            signal: offer
        }
    );
    let answer = Signal::Answer {
        sdp: "v=0\r\n".into(),
    };
    student
        .ok(ClientMessage::Signal {
            to: host_peer.clone(),
            signal: answer.clone(),
        })
        .await;
    assert_eq!(
        host.event().await,
        ServerMessage::Signal {
            from: me.clone(),
            signal: answer
        }
    );
    let cand = Signal::Candidate {
        candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    };
    student
        .ok(ClientMessage::Signal {
            to: host_peer.clone(),
            signal: cand.clone(),
        })
        .await;
    assert_eq!(
        host.event().await,
        ServerMessage::Signal {
            from: me,
            signal: cand
        }
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn questions_votes_answers_and_chat_reach_everyone() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let (mut host, _, code, _) = live_lesson(addr, "Vibrato").await;
    let (mut a, _) = admitted(addr, &mut host, &code, "Omar").await;
    let (mut b, _) = admitted(addr, &mut host, &code, "Layla").await;

    let ServerMessage::QuestionAsked { question: q, .. } = a
        .ok(ClientMessage::AskQuestion {
            text: "비브라토 속도는?".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        })
        .await
    else {
        panic!()
    };
    let is_q = |votes: u32, state: QuestionState| move |e: &ServerMessage| matches!(e, ServerMessage::QuestionUpdated { question } if question.id == q && question.votes == votes && question.state == state);
    for c in [&mut host, &mut a, &mut b] {
        c.event_where(is_q(0, QuestionState::Open)).await;
    }
    b.ok(ClientMessage::Vote {
        question: q,
        up: true,
    })
    .await;
    for c in [&mut host, &mut a, &mut b] {
        c.event_where(is_q(1, QuestionState::Open)).await;
    }
    assert_eq!(
        a.error_code(ClientMessage::SetQuestionState {
            question: q,
            state: QuestionState::Answered
        })
        .await,
        ErrorCode::NotHost
    );
    host.ok(ClientMessage::SetQuestionState {
        question: q,
        state: QuestionState::Answered,
    })
    .await;
    for c in [&mut host, &mut a, &mut b] {
        c.event_where(is_q(1, QuestionState::Answered)).await;
    }
    b.ok(ClientMessage::Chat {
        text: "감사합니다!".into(),
    })
    .await;
    for c in [&mut host, &mut a, &mut b] {
        c.event_where(|e| matches!(e, ServerMessage::ChatPosted { message } if message.text == "감사합니다!" && message.from_name == "Layla")).await;
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn host_only_actions_are_refused_with_a_typed_error() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let (mut host, _, code, _) = live_lesson(addr, "Etudes").await;
    let (mut s, joined) = admitted(addr, &mut host, &code, "Omar").await;
    let reply = s.request(ClientMessage::EndLesson).await;
    let ServerMessage::Error {
        code: err,
        message,
        re,
    } = reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!((err, re.is_some()), (ErrorCode::NotHost, true));
    assert!(message.contains("host"), "{message}");
    assert_eq!(
        s.error_code(ClientMessage::SetMic {
            peer: joined.you.peer.clone(),
            allowed: true
        })
        .await,
        ErrorCode::NotHost
    );
    assert_eq!(
        s.error_code(ClientMessage::Remove {
            peer: joined.you.peer
        })
        .await,
        ErrorCode::NotHost
    );
    // The lesson goes on.
    host.ok(ClientMessage::Chat {
        text: "still here".into(),
    })
    .await;
    srv.shutdown().await;
}

#[tokio::test]
async fn a_dropped_student_rejoins_as_itself() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let (mut host, lesson, code, _) = live_lesson(addr, "Scales").await;
    let (s, joined) = admitted(addr, &mut host, &code, "Omar").await;
    let me = joined.you.peer.clone();
    drop(s); // the TCP connection goes away without a leave
    host.event_where(|e| matches!(e, ServerMessage::ParticipantUpdated { participant } if participant.peer == me && !participant.connected)).await;

    let mut back = Client::connect(addr).await;
    let ServerMessage::Joined(j) = back
        .ok(ClientMessage::Rejoin {
            lesson,
            peer: me.clone(),
            token: joined.resume_token,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(j.you.peer, me);
    host.event_where(|e| matches!(e, ServerMessage::ParticipantUpdated { participant } if participant.peer == me && participant.connected)).await;
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_typed_errors_and_the_connection_goes_on() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let mut c = Client::connect_raw(addr).await;
    // Before hello.
    assert_eq!(
        c.error_code(ClientMessage::Leave).await,
        ErrorCode::HelloRequired
    );
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: "t".into(),
    };
    assert!(matches!(
        c.request(hello).await,
        ServerMessage::Welcome { .. }
    ));

    let cases: Vec<(Message, ErrorCode)> = vec![
        (Message::text("{not json"), ErrorCode::BadJson),
        (Message::text("[]"), ErrorCode::BadJson),
        (
            Message::text(r#"{"req":1,"type":"fly"}"#),
            ErrorCode::UnknownType,
        ),
        (
            Message::text(r#"{"req":2,"type":"knock"}"#),
            ErrorCode::InvalidMessage,
        ),
        (Message::binary(vec![1u8, 2, 3]), ErrorCode::BinaryFrame),
        (
            Message::text(format!(
                r#"{{"req":3,"type":"chat","text":"{}"}}"#,
                "x".repeat(70_000)
            )),
            ErrorCode::FrameTooLarge,
        ),
    ];
    for (msg, want) in cases {
        c.send_message(msg).await;
        match c.read().await {
            Some(ServerMessage::Error { code, .. }) => assert_eq!(code, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
    let errs = |code: &str, body: &str| {
        body.lines().any(|l| {
            l.starts_with(&format!("tutti_errors_total{{code=\"{code}\"}} ")) && !l.ends_with(" 0")
        })
    };
    let (_, metrics) = http_get(addr, "/metrics").await;
    assert!(
        errs("bad_json", &metrics) && errs("frame_too_large", &metrics),
        "{metrics}"
    );

    // Wrong and malformed codes.
    let knock = |code: &str| ClientMessage::Knock {
        code: code.into(),
        name: "x".into(),
        role: JoinRole::Student,
    };
    assert_eq!(c.error_code(knock("ABC")).await, ErrorCode::InvalidCode);
    assert_eq!(
        c.error_code(knock("ZZZ-ZZZ-ZZZ")).await,
        ErrorCode::UnknownCode
    );
    // Still a working connection.
    assert!(matches!(
        c.request(ClientMessage::CreateLesson {
            title: "ok".into(),
            host_name: "h".into(),
            scheduled_for: None,
            time_zone: None,
            teacher_key: None,
            teacher: None,
        })
        .await,
        ServerMessage::LessonCreated { .. }
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn a_burst_is_rate_limited_and_the_connection_goes_on() {
    let srv = server(None).await;
    let mut c = Client::connect(srv.local_addr()).await;
    let n = 300;
    for _ in 0..n {
        c.send(ClientMessage::Leave).await;
    }
    let (mut limited, mut answered) = (0, 0);
    for _ in 0..n {
        match c.read().await {
            Some(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            Some(ServerMessage::Error {
                code: ErrorCode::NotInLesson,
                ..
            }) => answered += 1,
            other => panic!("{other:?}"),
        }
    }
    // 200 in the burst, and a few more as tokens come back while the rest arrive.
    // (hello took one token of the burst)
    assert!(
        limited > 0 && answered >= 199,
        "limited {limited}, answered {answered}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        c.error_code(ClientMessage::Leave).await,
        ErrorCode::NotInLesson
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_only_sends_garbage_is_closed() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let mut c = Client::connect(addr).await;
    for _ in 0..1000 {
        c.send_text("{garbage".into()).await;
    }
    // Errors first (bad_json, then rate_limited), then the server closes: policy violation.
    let mut errors = 0;
    loop {
        match c.read().await {
            Some(ServerMessage::Error { code, .. }) => {
                assert!(
                    matches!(code, ErrorCode::BadJson | ErrorCode::RateLimited),
                    "{code:?}"
                );
                errors += 1;
            }
            None => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        (400..600).contains(&errors),
        "{errors} errors before closing"
    );
    // Everyone else is fine.
    let mut other = Client::connect(addr).await;
    assert_eq!(
        other.error_code(ClientMessage::Leave).await,
        ErrorCode::NotInLesson
    );
    srv.shutdown().await;
}

/// A flood: 150 requests, then garbage. Every request gets its reply (none lost at the close),
/// every refused frame before the 500th its error, and then the 1008 close.
#[tokio::test]
async fn a_flood_is_answered_to_the_last_frame_before_its_close() {
    let srv = server(None).await;
    let mut c = Client::connect(srv.local_addr()).await;
    let mut asked = std::collections::BTreeSet::new();
    for _ in 0..150 {
        asked.insert(c.send(ClientMessage::Leave).await);
    }
    for _ in 0..700 {
        c.send_text("{garbage".into()).await;
    }
    let (mut refused, mut replies) = (0, 0);
    while let Some(msg) = c.read().await {
        match msg.re() {
            Some(re) => {
                assert!(asked.remove(&re), "a reply to {re:?}, asked once");
                replies += 1;
            }
            None => refused += 1,
        }
    }
    assert_eq!(replies, 150, "replies to the requests; missing: {asked:?}");
    assert_eq!(
        refused, 499,
        "refused frames answered before the 500th closed it"
    );

    // A request the server closes on right after (an oversized message follows it): its reply
    // still goes out before the close.
    let mut lost = 0;
    for _ in 0..5 {
        let mut c = Client::connect(srv.local_addr()).await;
        let req = c.send(ClientMessage::Leave).await;
        c.send_text("x".repeat(2 * 1024 * 1024)).await;
        match c.read().await {
            Some(reply) => assert_eq!(reply.re(), Some(req), "{reply:?}"),
            None => lost += 1,
        }
        if lost == 0 {
            assert_eq!(c.close_code().await, Some(1009));
        }
    }
    assert_eq!(lost, 0, "replies lost at the close, of 5");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_closed_connection_says_why() {
    let srv = server(None).await;
    let mut c = Client::connect(srv.local_addr()).await;
    for _ in 0..600 {
        c.send_message(Message::binary(vec![0u8; 10])).await;
    }
    assert_eq!(c.close_code().await, Some(1008));
    srv.shutdown().await;
}

/// RFC 6455: a text frame that is not UTF-8 is answered with a close frame, 1007 (it used to
/// drop the TCP connection without one).
#[tokio::test]
async fn a_text_frame_that_is_not_utf8_is_closed_as_invalid() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let srv = server(None).await;
    let mut c = Client::connect(srv.local_addr()).await;
    c.send_message(Message::Frame(Frame::message(
        vec![b'{', 0xff, 0xfe, b'}'],
        OpCode::Data(Data::Text),
        true,
    )))
    .await;
    assert_eq!(c.close_code().await, Some(1007));
    srv.shutdown().await;
}

#[tokio::test]
async fn an_oversized_message_closes_only_that_connection() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let mut other = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    c.send_text("x".repeat(2 * 1024 * 1024)).await;
    assert_eq!(c.close_code().await, Some(1009), "closed as too big");
    assert!(matches!(
        other
            .request(ClientMessage::Preview { code: "ABC".into() })
            .await,
        ServerMessage::Error {
            code: ErrorCode::InvalidCode,
            ..
        }
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn a_wrong_protocol_version_is_told_and_closed() {
    let srv = server(None).await;
    let mut c = Client::connect_raw(srv.local_addr()).await;
    let reply = c
        .request(ClientMessage::Hello {
            protocol: 99,
            client: "future".into(),
        })
        .await;
    let ServerMessage::Error { code, message, .. } = reply else {
        panic!()
    };
    assert_eq!(code, ErrorCode::VersionMismatch);
    assert!(message.contains("99"), "{message}");
    assert!(c.read().await.is_none());
    srv.shutdown().await;
}

#[tokio::test]
async fn a_restart_keeps_lessons_and_pre_questions() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(Some(dir.path())).await;
    let mut host = Client::connect(srv.local_addr()).await;
    let ServerMessage::LessonCreated {
        lesson, host_token, ..
    } = host
        .ok(ClientMessage::CreateLesson {
            title: "Tomorrow".into(),
            host_name: "김선생".into(),
            scheduled_for: Some(UnixMs(1_900_000_000_000)),
            time_zone: None,
            teacher_key: None,
            teacher: None,
        })
        .await
    else {
        panic!()
    };
    let code = lesson.code.to_string();
    let mut guest = Client::connect(srv.local_addr()).await;
    guest
        .ok(ClientMessage::SubmitPreQuestion {
            code: code.clone(),
            name: "Omar".into(),
            text: "How long should I practise scales?".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        })
        .await;
    srv.shutdown().await;
    // The clients hear about it.
    host.event_where(|e| matches!(e, ServerMessage::ServerClosing { .. }))
        .await;

    let srv = server(Some(dir.path())).await;
    let mut guest = Client::connect(srv.local_addr()).await;
    let ServerMessage::LessonPreview { questions, .. } =
        guest.ok(ClientMessage::Preview { code }).await
    else {
        panic!()
    };
    assert_eq!(questions.len(), 1);
    let mut host = Client::connect(srv.local_addr()).await;
    let ServerMessage::Joined(j) = host
        .ok(ClientMessage::StartLesson {
            lesson: lesson.id,
            host_token,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(j.questions[0].text, "How long should I practise scales?");
    assert!(j.questions[0].pre_lesson);
    srv.shutdown().await;
}

#[tokio::test]
async fn health_and_metrics_over_http() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    let _c = Client::connect(addr).await;
    assert_eq!(http_get(addr, "/healthz").await, (200, "ok\n".into()));
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tutti_connections 1\n"), "{body}");
    assert!(body.contains("tutti_messages_received_total 1\n"), "{body}");
    assert_eq!(http_get(addr, "/nowhere").await.0, 404);
    assert_eq!(http_get(addr, "/ws").await.0, 426);
    srv.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_clients_before_closing() {
    let srv = server(None).await;
    let mut c = Client::connect(srv.local_addr()).await;
    srv.shutdown().await;
    assert!(matches!(
        c.read().await,
        Some(ServerMessage::ServerClosing { .. })
    ));
    assert!(c.read().await.is_none());
}

#[tokio::test]
async fn an_invite_is_previewed_over_http_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(Some(dir.path())).await;
    let mut host = Client::connect(srv.local_addr()).await;
    let ServerMessage::LessonCreated { lesson, .. } = host
        .ok(ClientMessage::CreateLesson {
            title: "바흐 파르티타".into(),
            host_name: "김선생".into(),
            scheduled_for: Some(UnixMs(1_900_000_000_000)),
            time_zone: Some("Asia/Seoul".into()),
            teacher_key: None,
            teacher: None,
        })
        .await
    else {
        panic!()
    };
    srv.shutdown().await;
    let srv = server(Some(dir.path())).await;
    let addr = srv.local_addr();
    // As typed: lower case, spaces for dashes.
    let typed = lesson.code.to_string().to_lowercase().replace('-', " ");
    let (status, body) = http_get(addr, &tutti_protocol::api::lesson_path(&typed)).await;
    assert_eq!(status, 200, "{body}");
    let seen: tutti_protocol::LessonInfo = serde_json::from_str(&body).unwrap();
    assert_eq!(seen, lesson);

    let error = |body: &str| -> ErrorCode {
        serde_json::from_str::<tutti_protocol::api::ApiError>(body)
            .unwrap_or_else(|e| panic!("{body}: {e}"))
            .code
    };
    let wrong = if lesson.code.to_string() == "ZZZ-ZZZ-ZZZ" {
        "YYY-YYY-YYY"
    } else {
        "ZZZ-ZZZ-ZZZ"
    };
    let (status, body) = http_get(addr, &format!("/api/lessons/{wrong}")).await;
    assert_eq!((status, error(&body)), (404, ErrorCode::UnknownCode));
    let (status, body) = http_get(addr, "/api/lessons/abc").await;
    assert_eq!((status, error(&body)), (400, ErrorCode::InvalidCode));
    let (status, body) = http_get(addr, "/api/lessons/%ff%fe").await;
    assert_eq!((status, error(&body)), (400, ErrorCode::InvalidCode));
    // A flood from one address is turned away before it reaches the hub: the burst of 60 (4
    // used above) goes through, then 429s come (a slow machine refills a few between).
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(http_get(addr, "/api/lessons/abc").await.0);
    }
    let first_refused = statuses.iter().position(|s| *s == 429);
    assert!(first_refused.is_some_and(|i| i >= 56), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 400 || *s == 429),
        "{statuses:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn the_check_and_teachers_pages_are_answered_over_http() {
    let srv = server(None).await;
    let addr = srv.local_addr();
    // The check: the client's address and the ICE servers a lesson would use (no relay here).
    let (status, body) = http_get(addr, "/api/check").await;
    assert_eq!(status, 200, "{body}");
    let info: tutti_protocol::api::CheckInfo = serde_json::from_str(&body).unwrap();
    assert_eq!(info.your_address, "127.0.0.1");
    assert_eq!(info.ice_servers[0].urls, vec!["stun:127.0.0.1:3478"]);
    assert_eq!(info.stun_alt, None);
    // Each check hands out relay credentials: ten in a burst, then one a minute.
    for n in 2..=10 {
        assert_eq!(http_get(addr, "/api/check").await.0, 200, "check {n}");
    }
    let (status, body) = http_get(addr, "/api/check").await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("\"rate_limited\""), "{body}");

    // A teacher's page: the id's shape is checked, an unknown one is 404, each with its code.
    let (status, body) = http_get(addr, "/api/teachers/not-an-id").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"invalid_input\""), "{body}");
    let (status, body) = http_get(addr, "/api/teachers/0123456789abcdef0123456789abcdef").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"no_such_teacher\""), "{body}");

    // The lesson page for any browser, with its script; a path beside it is not found.
    let (status, body) = http_get(addr, "/join/K7M-4QX-9TD").await;
    assert_eq!(status, 200);
    assert!(body.contains("/web/lesson.js"), "{body}");
    let (status, body) = http_get(addr, "/web/lesson.js").await;
    assert_eq!(status, 200);
    assert!(body.contains("new RTCPeerConnection"), "{body}");
    assert_eq!(http_get(addr, "/join/").await.0, 404);
    srv.shutdown().await;
}
