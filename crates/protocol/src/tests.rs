//! Round trips of every message, the decoder's typed errors, and docs/protocol.md's examples.

use crate::*;

fn lesson() -> LessonInfo {
    LessonInfo {
        id: "l7x2k9m4q8w3e5r6".into(),
        code: InviteCode::parse("K7M-4QX-9TD").unwrap(),
        title: "Bach partita no. 2 — bowing".into(),
        host_name: "김선생".into(),
        status: LessonStatus::Live,
        scheduled_for: Some(UnixMs(1_795_000_000_000)),
        time_zone: Some("Asia/Seoul".into()),
        created_at: UnixMs(1_794_000_000_000),
        started_at: Some(UnixMs(1_795_000_060_000)),
        ended_at: None,
        teacher: None,
    }
}

fn participant() -> Participant {
    Participant {
        peer: "pq4x8m2a".into(),
        name: "Omar".into(),
        role: Role::Student,
        mic: true,
        connected: true,
        recording: false,
    }
}

fn question() -> Question {
    Question {
        id: QuestionId(12),
        lesson: "l7x2k9m4q8w3e5r6".into(),
        kind: QuestionKind::Text,
        text: "How do I keep the bow straight at the tip?".into(),
        author: Some("pq4x8m2a".into()),
        author_name: Some("Omar".into()),
        anonymous: false,
        votes: 2,
        state: QuestionState::Answered,
        pinned: true,
        pre_lesson: true,
        asked_at: UnixMs(1_794_500_000_000),
        answered_at: Some(UnixMs(1_795_000_900_000)),
    }
}

fn knock() -> Knock {
    Knock {
        peer: "pq4x8m2a".into(),
        name: "Omar".into(),
        role: JoinRole::Student,
        at: UnixMs(1_795_000_050_000),
    }
}

pub(crate) fn client_samples() -> Vec<ClientMessage> {
    use ClientMessage::*;
    vec![
        Hello {
            protocol: PROTOCOL_VERSION,
            client: "tutti-desktop/0.1.0".into(),
        },
        CreateLesson {
            title: "Scales".into(),
            host_name: "김선생".into(),
            scheduled_for: Some(UnixMs(1_795_000_000_000)),
            time_zone: Some("Asia/Seoul".into()),
            teacher_key: None,
            teacher: None,
        },
        StartLesson {
            lesson: "l7x2k9m4q8w3e5r6".into(),
            host_token: "h3k8...".into(),
        },
        CancelLesson {
            lesson: "l7x2k9m4q8w3e5r6".into(),
            host_token: "h3k8...".into(),
        },
        Preview {
            code: "k7m-4qx-9td".into(),
        },
        SubmitPreQuestion {
            code: "K7M4QX9TD".into(),
            name: "Omar".into(),
            text: "비브라토 연습 방법?".into(),
            kind: QuestionKind::Voice,
            anonymous: true,
        },
        Knock {
            code: "K7M-4QX-9TD".into(),
            name: "Omar".into(),
            role: JoinRole::Observer,
        },
        Admit {
            peer: "pq4x8m2a".into(),
        },
        Deny {
            peer: "pq4x8m2a".into(),
        },
        Rejoin {
            lesson: "l7x2k9m4q8w3e5r6".into(),
            peer: "pq4x8m2a".into(),
            token: "r9...".into(),
        },
        Leave,
        Remove {
            peer: "pq4x8m2a".into(),
        },
        EndLesson,
        Signal {
            to: "pq4x8m2a".into(),
            signal: crate::Signal::Offer {
                sdp: "v=0\r\n...".into(),
            },
        },
        Signal {
            to: "pq4x8m2a".into(),
            signal: crate::Signal::Candidate {
                candidate: "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            },
        },
        Signal {
            to: "pq4x8m2a".into(),
            signal: crate::Signal::EndOfCandidates,
        },
        Signal {
            to: "pq4x8m2a".into(),
            signal: crate::Signal::Restart {
                sdp: "v=0\r\n...".into(),
            },
        },
        AskQuestion {
            text: "Again from bar 12?".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
        Vote {
            question: QuestionId(12),
            up: true,
        },
        SetQuestionState {
            question: QuestionId(12),
            state: QuestionState::Dismissed,
        },
        PinQuestion {
            question: QuestionId(12),
            pinned: true,
        },
        SetMic {
            peer: "pq4x8m2a".into(),
            allowed: false,
        },
        Chat {
            text: "안녕하세요!".into(),
        },
        SetRecording { on: true },
    ]
}

pub(crate) fn server_samples() -> Vec<ServerMessage> {
    use ServerMessage::*;
    let re = RequestId(7);
    vec![
        Welcome {
            re,
            protocol: PROTOCOL_VERSION,
            server: "tutti-server/0.1.0".into(),
            max_frame_bytes: MAX_FRAME_BYTES,
        },
        LessonCreated {
            re,
            lesson: lesson(),
            host_token: "h3k8...".into(),
        },
        LessonPreview {
            re,
            lesson: lesson(),
            questions: vec![question()],
        },
        Waiting {
            re,
            lesson: lesson(),
            you: "pq4x8m2a".into(),
            host_present: false,
        },
        Joined(Box::new(crate::Joined {
            re: Some(re),
            lesson: lesson(),
            you: participant(),
            resume_token: "r9...".into(),
            participants: vec![participant()],
            waiting: vec![knock()],
            questions: vec![question()],
            your_votes: vec![QuestionId(12)],
            chat: vec![ChatMessage {
                id: ChatId(3),
                from: "pq4x8m2a".into(),
                from_name: "Omar".into(),
                text: "hi".into(),
                at: UnixMs(1_795_000_100_000),
            }],
            ice_servers: vec![IceServer {
                urls: vec!["stun:stun.example.org:3478".into()],
                username: None,
                credential: None,
            }],
            grace_secs: 60,
        })),
        QuestionAsked {
            re,
            question: QuestionId(12),
        },
        Ok { re },
        Error {
            re: Some(re),
            code: ErrorCode::NotHost,
            message: "only the host may do this".into(),
        },
        Knocking { knock: knock() },
        KnockWithdrawn {
            peer: "pq4x8m2a".into(),
        },
        LessonStarted { lesson: lesson() },
        HostPresence { present: true },
        Denied {
            lesson: "l7x2k9m4q8w3e5r6".into(),
        },
        ParticipantUpdated {
            participant: participant(),
        },
        ParticipantLeft {
            peer: "pq4x8m2a".into(),
            reason: LeaveReason::TimedOut,
        },
        QuestionUpdated {
            question: question(),
        },
        ChatPosted {
            message: ChatMessage {
                id: ChatId(4),
                from: "pq4x8m2a".into(),
                from_name: "Omar".into(),
                text: "감사합니다".into(),
                at: UnixMs(1_795_000_200_000),
            },
        },
        Signal {
            from: "pq4x8m2a".into(),
            signal: crate::Signal::Answer {
                sdp: "v=0\r\n...".into(),
            },
        },
        Removed {
            lesson: "l7x2k9m4q8w3e5r6".into(),
        },
        LessonEnded {
            lesson: "l7x2k9m4q8w3e5r6".into(),
        },
        SessionReplaced {
            lesson: "l7x2k9m4q8w3e5r6".into(),
        },
        ServerClosing {
            reason: "restarting".into(),
        },
    ]
}

fn server_type_name(msg: &ServerMessage) -> String {
    let value = serde_json::to_value(msg).unwrap();
    value["type"].as_str().unwrap().to_owned()
}

#[test]
fn every_client_message_round_trips() {
    for (i, msg) in client_samples().into_iter().enumerate() {
        let frame = ClientFrame::new(i as u64, msg);
        let json = frame.to_json();
        let back = ClientFrame::decode(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, frame, "{json}");
    }
}

#[test]
fn every_server_message_round_trips() {
    for msg in server_samples() {
        let json = msg.to_json();
        let back: ServerMessage =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, msg, "{json}");
    }
}

#[test]
fn samples_cover_every_type_and_types_list_is_exact() {
    let mut seen: Vec<&str> = client_samples().iter().map(|m| m.type_name()).collect();
    seen.sort();
    seen.dedup();
    let mut listed = ClientMessage::TYPES.to_vec();
    listed.sort();
    assert_eq!(seen, listed);
    for msg in client_samples() {
        let v = serde_json::to_value(ClientFrame::new(1, msg.clone())).unwrap();
        assert_eq!(v["type"], msg.type_name());
    }
    let server: std::collections::BTreeSet<_> =
        server_samples().iter().map(server_type_name).collect();
    assert_eq!(
        server.len(),
        22,
        "a server message has no sample: {server:?}"
    );
}

#[test]
fn replies_echo_the_request_and_events_do_not() {
    for msg in server_samples() {
        let json: serde_json::Value = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            msg.re().map(|r| r.0),
            json.get("re").and_then(|v| v.as_u64()),
            "{json}"
        );
    }
}

#[test]
fn the_wire_is_flat_and_snake_case() {
    let json = ClientFrame::new(
        3,
        ClientMessage::Knock {
            code: "K7M-4QX-9TD".into(),
            name: "Omar".into(),
            role: JoinRole::Student,
        },
    )
    .to_json();
    assert_eq!(
        json,
        r#"{"req":3,"type":"knock","code":"K7M-4QX-9TD","name":"Omar","role":"student"}"#
    );
    // Optional fields may be left out.
    let f = ClientFrame::decode(r#"{"req":1,"type":"knock","code":"x","name":"y"}"#).unwrap();
    assert!(matches!(
        f.msg,
        ClientMessage::Knock {
            role: JoinRole::Student,
            ..
        }
    ));
}

fn decode_err(text: &str) -> DecodeError {
    ClientFrame::decode(text).expect_err(text)
}

#[test]
fn malformed_frames_get_typed_errors() {
    let e = decode_err("{not json");
    assert_eq!((e.code, e.re), (ErrorCode::BadJson, None));
    assert_eq!(decode_err("[1,2]").code, ErrorCode::BadJson);
    assert_eq!(decode_err("\"hello\"").code, ErrorCode::BadJson);
    assert_eq!(decode_err("").code, ErrorCode::BadJson);

    let e = decode_err(r#"{"req":4,"type":"launch_rockets"}"#);
    assert_eq!((e.code, e.re), (ErrorCode::UnknownType, Some(RequestId(4))));
    assert!(e.message.contains("launch_rockets"), "{}", e.message);

    let e = decode_err(r#"{"req":5,"type":"knock","name":"x"}"#);
    assert_eq!(
        (e.code, e.re),
        (ErrorCode::InvalidMessage, Some(RequestId(5)))
    );
    assert!(e.message.contains("code"), "{}", e.message);

    let e = decode_err(r#"{"req":6,"type":"vote","question":"twelve","up":true}"#);
    assert_eq!(
        (e.code, e.re),
        (ErrorCode::InvalidMessage, Some(RequestId(6)))
    );

    let e = decode_err(r#"{"req":8}"#);
    assert_eq!(
        (e.code, e.re),
        (ErrorCode::InvalidMessage, Some(RequestId(8)))
    );

    // No request id: still a typed error, with nothing to echo.
    let e = decode_err(r#"{"type":"leave"}"#);
    assert_eq!((e.code, e.re), (ErrorCode::InvalidMessage, None));
    let e = decode_err(r#"{"req":"seven","type":"leave"}"#);
    assert_eq!((e.code, e.re), (ErrorCode::InvalidMessage, None));
    let e = decode_err(r#"{"req":-1,"type":"leave"}"#);
    assert_eq!(e.code, ErrorCode::InvalidMessage);
}

#[test]
fn unknown_type_names_are_cut_short() {
    let long = "x".repeat(10_000);
    let e = decode_err(&format!(r#"{{"req":1,"type":"{long}"}}"#));
    assert_eq!(e.code, ErrorCode::UnknownType);
    assert!(e.message.len() < 200);
}

#[test]
fn error_codes_serialise_as_their_names() {
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

/// docs/protocol.md is what other clients are written from: every example in it must parse,
/// and every message must have one.
#[test]
fn protocol_doc_examples_parse_and_cover_every_message() {
    let doc = include_str!("../../../docs/protocol.md");
    let (client_part, rest) = doc
        .split_once("## Server → client")
        .expect("docs/protocol.md has a '## Server → client' section");
    let (server_part, rest) = rest
        .split_once("## Peer ↔ peer")
        .expect("docs/protocol.md has a '## Peer ↔ peer' section");
    let (peer_part, api_part) = rest
        .split_once("## HTTP API")
        .expect("docs/protocol.md has a '## HTTP API' section, last");
    let blocks = |part: &str| -> Vec<String> {
        part.split("```json")
            .skip(1)
            .map(|b| b.split("```").next().unwrap().trim().to_owned())
            .collect()
    };
    let mut client_types = std::collections::BTreeSet::new();
    for block in blocks(client_part) {
        let frame = ClientFrame::decode(&block).unwrap_or_else(|e| panic!("{block}\n{e}"));
        client_types.insert(frame.msg.type_name());
    }
    let listed: std::collections::BTreeSet<_> = ClientMessage::TYPES.iter().copied().collect();
    assert_eq!(client_types, listed, "client messages without an example");

    let mut server_types = std::collections::BTreeSet::new();
    for block in blocks(server_part) {
        let msg: ServerMessage =
            serde_json::from_str(&block).unwrap_or_else(|e| panic!("{block}\n{e}"));
        server_types.insert(server_type_name(&msg));
    }
    let all: std::collections::BTreeSet<_> =
        server_samples().iter().map(server_type_name).collect();
    assert_eq!(server_types, all, "server messages without an example");

    let (peer_part, take_part) = peer_part
        .split_once("## Takes")
        .expect("docs/protocol.md has a '## Takes' section");
    let mut take_types = std::collections::BTreeSet::new();
    for block in blocks(take_part) {
        let v: serde_json::Value =
            serde_json::from_str(&block).unwrap_or_else(|e| panic!("{block}\n{e}"));
        let parsed = serde_json::from_value::<crate::take::FromSender>(v.clone())
            .map(|_| ())
            .or_else(|_| {
                serde_json::from_value::<crate::take::FromReceiver>(v.clone()).map(|_| ())
            });
        parsed.unwrap_or_else(|e| panic!("{block}\n{e}"));
        take_types.insert(v["type"].as_str().unwrap().to_owned());
    }
    let take_all: std::collections::BTreeSet<String> = ["offer", "want", "kept", "refused"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(take_types, take_all, "take messages without an example");

    let mut peer_types = std::collections::BTreeSet::new();
    for block in blocks(peer_part) {
        let msg: crate::PeerMessage =
            serde_json::from_str(&block).unwrap_or_else(|e| panic!("{block}\n{e}"));
        peer_types.insert(
            serde_json::to_value(&msg).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let peer_all: std::collections::BTreeSet<String> = [
        "clock_ping",
        "clock_pong",
        "metronome",
        "audio_anchor",
        "heard",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(peer_types, peer_all, "peer messages without an example");

    let (mut previews, mut checks, mut pages, mut errors) = (0, 0, 0, 0);
    for block in blocks(api_part) {
        if serde_json::from_str::<LessonInfo>(&block).is_ok() {
            previews += 1;
        } else if serde_json::from_str::<crate::api::CheckInfo>(&block).is_ok() {
            checks += 1;
        } else if let Ok(page) = serde_json::from_str::<crate::TeacherPage>(&block) {
            assert_eq!(page.problem(), None, "{block}");
            pages += 1;
        } else {
            serde_json::from_str::<crate::api::ApiError>(&block)
                .unwrap_or_else(|e| panic!("{block}\n{e}"));
            errors += 1;
        }
    }
    assert!(
        previews >= 1 && checks >= 1 && pages >= 1 && errors >= 1,
        "the API's answers need examples"
    );
}
