//! The hub driven without sockets: every flow of the protocol, with exact time.

use super::*;
use tutti_protocol::*;

const HOME: &str = "192.0.2.10";

struct T {
    hub: Hub,
    now: Now,
    next_conn: ConnId,
    next_req: u64,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `i`-th of many well-formed codes, none of them `right`.
fn wrong_code(i: usize, right: &str) -> String {
    let a = InviteCode::ALPHABET;
    let pick = |n: usize| char::from(a[n % a.len()]);
    let code = format!("ZZZ-ZZZ-Z{}{}", pick(i / a.len()), pick(i));
    if code == right {
        format!("YYY-YYY-Y{}{}", pick(i / a.len()), pick(i))
    } else {
        code
    }
}

impl T {
    fn new() -> Self {
        Self::with(ServerDb::open_in_memory().unwrap(), HubConfig::default())
    }

    fn with(db: ServerDb, cfg: HubConfig) -> Self {
        Self {
            hub: Hub::new(cfg, db, Secrets::seeded(42), Arc::new(Metrics::default())),
            now: Now {
                mono: Instant::now(),
                wall: UnixMs(1_795_000_000_000),
            },
            next_conn: 1,
            next_req: 100,
        }
    }

    fn advance(&mut self, secs: u64) -> Vec<Effect> {
        self.now.mono += Duration::from_secs(secs);
        self.now.wall.0 += i64::try_from(secs * 1000).unwrap();
        self.hub.tick(self.now)
    }

    /// A connection that has said hello.
    fn conn_from(&mut self, addr: &str) -> ConnId {
        let c = self.next_conn;
        self.next_conn += 1;
        self.hub.connect(c, ip(addr), self.now);
        let r = self.req(
            c,
            ClientMessage::Hello {
                protocol: PROTOCOL_VERSION,
                client: "test".into(),
            },
        );
        assert!(
            matches!(r.reply, ServerMessage::Welcome { .. }),
            "{:?}",
            r.reply
        );
        c
    }

    fn conn(&mut self) -> ConnId {
        self.conn_from(HOME)
    }

    fn req(&mut self, conn: ConnId, msg: ClientMessage) -> Out {
        self.next_req += 1;
        let req = RequestId(self.next_req);
        let effects = self.hub.handle(conn, ClientFrame { req, msg }, self.now);
        Out::new(conn, req, effects)
    }

    fn ok(&mut self, conn: ConnId, msg: ClientMessage) -> Out {
        let out = self.req(conn, msg);
        assert!(
            !matches!(out.reply, ServerMessage::Error { .. }),
            "expected success, got {:?}",
            out.reply
        );
        out
    }

    fn err(&mut self, conn: ConnId, msg: ClientMessage) -> ErrorCode {
        let out = self.req(conn, msg);
        match out.reply {
            ServerMessage::Error { code, re, .. } => {
                assert_eq!(re, Some(out.req));
                assert!(
                    out.effects.len() == 1 || code == ErrorCode::VersionMismatch,
                    "an error changed something: {:?}",
                    out.effects
                );
                code
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Host creates a lesson (scheduled or not) and starts it: (host conn, lesson, code).
    fn live_lesson(&mut self) -> (ConnId, LessonId, String, Joined) {
        let h = self.conn();
        let (lesson, code, token) = self.create(h, None);
        let out = self.ok(
            h,
            ClientMessage::StartLesson {
                lesson: lesson.clone(),
                host_token: token,
            },
        );
        let joined = out.joined();
        (h, lesson, code, joined)
    }

    fn create(&mut self, conn: ConnId, at: Option<UnixMs>) -> (LessonId, String, HostToken) {
        let out = self.ok(
            conn,
            ClientMessage::CreateLesson {
                title: "Bach partita".into(),
                host_name: "김선생".into(),
                scheduled_for: at,
                time_zone: None,
                teacher_key: None,
                teacher: None,
            },
        );
        match out.reply {
            ServerMessage::LessonCreated {
                lesson, host_token, ..
            } => (lesson.id, lesson.code.to_string(), host_token),
            other => panic!("{other:?}"),
        }
    }

    fn knock(&mut self, conn: ConnId, code: &str, role: JoinRole) -> (PeerId, Out) {
        let out = self.ok(
            conn,
            ClientMessage::Knock {
                code: code.into(),
                name: "Omar".into(),
                role,
            },
        );
        match &out.reply {
            ServerMessage::Waiting { you, .. } => (you.clone(), out),
            other => panic!("{other:?}"),
        }
    }

    /// A student knocks and the host admits it: (student conn, peer, its `joined`).
    fn student(&mut self, host: ConnId, code: &str) -> (ConnId, PeerId, Joined) {
        self.member(host, code, JoinRole::Student)
    }

    fn member(&mut self, host: ConnId, code: &str, role: JoinRole) -> (ConnId, PeerId, Joined) {
        let s = self.conn();
        let (peer, _) = self.knock(s, code, role);
        let out = self.ok(host, ClientMessage::Admit { peer: peer.clone() });
        let joined = match out.to(s).as_slice() {
            [ServerMessage::Joined(j)] => (**j).clone(),
            other => panic!("{other:?}"),
        };
        (s, peer, joined)
    }
}

struct Out {
    req: RequestId,
    reply: ServerMessage,
    effects: Vec<Effect>,
}

impl Out {
    fn new(conn: ConnId, req: RequestId, effects: Vec<Effect>) -> Self {
        let reply = effects
            .iter()
            .find_map(|e| match e {
                Effect::Send(c, m) if *c == conn && m.re() == Some(req) => Some((**m).clone()),
                _ => None,
            })
            .expect("every request gets a reply");
        Self {
            req,
            reply,
            effects,
        }
    }

    /// What `conn` was sent, but the reply.
    fn to(&self, conn: ConnId) -> Vec<ServerMessage> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(c, m) if *c == conn && m.re() != Some(self.req) => Some((**m).clone()),
                _ => None,
            })
            .collect()
    }

    fn joined(&self) -> Joined {
        match &self.reply {
            ServerMessage::Joined(j) => (**j).clone(),
            other => panic!("{other:?}"),
        }
    }
}

fn sent_to(effects: &[Effect], conn: ConnId) -> Vec<ServerMessage> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(c, m) if *c == conn => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

fn question_in(msgs: &[ServerMessage]) -> Question {
    msgs.iter()
        .find_map(|m| match m {
            ServerMessage::QuestionUpdated { question } => Some(question.clone()),
            _ => None,
        })
        .expect("a question_updated")
}

#[test]
fn hello_comes_first_and_a_wrong_version_closes() {
    let mut t = T::new();
    t.hub.connect(1, ip(HOME), t.now);
    assert_eq!(t.err(1, ClientMessage::Leave), ErrorCode::HelloRequired);
    let out = t.req(
        1,
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION + 1,
            client: "future".into(),
        },
    );
    assert!(matches!(
        out.reply,
        ServerMessage::Error {
            code: ErrorCode::VersionMismatch,
            ..
        }
    ));
    assert_eq!(
        out.effects.last(),
        Some(&Effect::Close(1, CloseReason::VersionMismatch))
    );
    // Unknown connections are ignored, not panicked on.
    assert!(
        t.hub
            .handle(99, ClientFrame::new(1, ClientMessage::Leave), t.now)
            .is_empty()
    );
}

#[test]
fn a_student_knocks_and_the_host_admits() {
    let mut t = T::new();
    let (h, lesson, code, joined) = t.live_lesson();
    assert_eq!(joined.you.role, Role::Host);
    assert_eq!(joined.lesson.status, LessonStatus::Live);
    assert_eq!(joined.participants.len(), 1);

    let s = t.conn();
    let (peer, out) = t.knock(s, &code.to_lowercase().replace('-', " "), JoinRole::Student);
    assert!(matches!(
        out.reply,
        ServerMessage::Waiting {
            host_present: true,
            ..
        }
    ));
    match out.to(h).as_slice() {
        [ServerMessage::Knocking { knock }] => {
            assert_eq!((&knock.peer, knock.name.as_str()), (&peer, "Omar"))
        }
        other => panic!("{other:?}"),
    }
    // Not in yet: lesson actions are refused.
    assert_eq!(
        t.err(s, ClientMessage::Chat { text: "hi".into() }),
        ErrorCode::NotInLesson
    );

    let out = t.ok(h, ClientMessage::Admit { peer: peer.clone() });
    let sj = match out.to(s).as_slice() {
        [ServerMessage::Joined(j)] => (**j).clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(sj.re, None);
    assert_eq!(sj.lesson.id, lesson);
    assert_eq!(sj.you.peer, peer);
    assert!(sj.you.mic, "students may play from the start");
    assert_eq!(sj.participants.len(), 2);
    assert!(sj.waiting.is_empty(), "only the host sees the waiting room");
    assert!(
        matches!(&out.to(h)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.peer == peer)
    );
    // Admitting twice finds no one waiting.
    assert_eq!(
        t.err(h, ClientMessage::Admit { peer }),
        ErrorCode::NoSuchPeer
    );
}

#[test]
fn the_host_denies_and_the_student_may_knock_again() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let s = t.conn();
    let (peer, _) = t.knock(s, &code, JoinRole::Student);
    assert_eq!(
        t.err(
            s,
            ClientMessage::Knock {
                code: code.clone(),
                name: "x".into(),
                role: JoinRole::Student
            }
        ),
        ErrorCode::AlreadyInLesson
    );
    let out = t.ok(h, ClientMessage::Deny { peer: peer.clone() });
    assert!(matches!(&out.to(s)[..], [ServerMessage::Denied { .. }]));
    let (again, _) = t.knock(s, &code, JoinRole::Student);
    assert_ne!(again, peer);
}

#[test]
fn wrong_codes_get_typed_errors_and_are_rate_limited_per_address() {
    let mut t = T::new();
    let (_, _, code, _) = t.live_lesson();
    let s = t.conn_from("198.51.100.7");
    let knock = |code: &str| ClientMessage::Knock {
        code: code.into(),
        name: "x".into(),
        role: JoinRole::Student,
    };
    assert_eq!(t.err(s, knock("ABC-DEF")), ErrorCode::InvalidCode);
    assert_eq!(t.err(s, knock("ABC-DEF-GH0")), ErrorCode::InvalidCode);
    for i in 0..10 {
        assert_eq!(
            t.err(s, knock(&wrong_code(i, &code))),
            ErrorCode::UnknownCode
        );
        // The same wrong code again (a retry) does not count twice (until the tenth has used
        // the address's tries up).
        if i < 9 {
            assert_eq!(
                t.err(s, knock(&wrong_code(i, &code))),
                ErrorCode::UnknownCode
            );
        }
    }
    assert_eq!(
        t.err(s, knock(&wrong_code(10, &code))),
        ErrorCode::RateLimited
    );
    // While limited, even the right code is refused: guessing must not go on.
    assert_eq!(t.err(s, knock(&code)), ErrorCode::RateLimited);
    assert_eq!(
        t.err(s, ClientMessage::Preview { code: code.clone() }),
        ErrorCode::RateLimited
    );
    // Another address is not affected.
    let other = t.conn_from("198.51.100.8");
    t.knock(other, &code, JoinRole::Student);
    // A minute later, one more try.
    t.advance(61);
    t.knock(s, &code, JoinRole::Student);
    assert_eq!(t.hub.metrics.errors(ErrorCode::UnknownCode), 19);
}

#[test]
fn host_only_actions_are_refused_to_everyone_else() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let (s, sp, _) = t.student(h, &code);
    let q = match t
        .ok(
            s,
            ClientMessage::AskQuestion {
                text: "?".into(),
                kind: QuestionKind::Text,
                anonymous: false,
            },
        )
        .reply
    {
        ServerMessage::QuestionAsked { question, .. } => question,
        other => panic!("{other:?}"),
    };
    let w = t.conn();
    let (wp, _) = t.knock(w, &code, JoinRole::Student);
    for msg in [
        ClientMessage::Admit { peer: wp.clone() },
        ClientMessage::Deny { peer: wp.clone() },
        ClientMessage::Remove { peer: sp.clone() },
        ClientMessage::EndLesson,
        ClientMessage::SetQuestionState {
            question: q,
            state: QuestionState::Answered,
        },
        ClientMessage::PinQuestion {
            question: q,
            pinned: true,
        },
        ClientMessage::SetMic {
            peer: sp.clone(),
            allowed: false,
        },
    ] {
        assert_eq!(t.err(s, msg.clone()), ErrorCode::NotHost, "{msg:?}");
        let stranger = t.conn();
        assert_eq!(
            t.err(stranger, msg.clone()),
            ErrorCode::NotInLesson,
            "{msg:?}"
        );
    }
}

#[test]
fn the_question_queue_flows_to_everyone() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let (s, sp, _) = t.student(h, &code);
    let (o, _, _) = t.member(h, &code, JoinRole::Observer);

    let out = t.ok(
        s,
        ClientMessage::AskQuestion {
            text: "  Bar 12 again?  ".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    let ServerMessage::QuestionAsked { question: q1, .. } = out.reply else {
        panic!()
    };
    for c in [h, s, o] {
        let q = question_in(&out.to(c));
        assert_eq!(
            (q.id, q.text.as_str(), q.author.as_ref()),
            (q1, "Bar 12 again?", Some(&sp))
        );
        assert_eq!(q.author_name.as_deref(), Some("Omar"));
    }
    // Anonymous: nobody learns who asked.
    let out = t.ok(
        o,
        ClientMessage::AskQuestion {
            text: String::new(),
            kind: QuestionKind::Voice,
            anonymous: true,
        },
    );
    let anon = question_in(&out.to(h));
    assert_eq!(
        (anon.author.clone(), anon.author_name.clone(), anon.kind),
        (None, None, QuestionKind::Voice)
    );
    assert_eq!(
        t.err(
            s,
            ClientMessage::AskQuestion {
                text: " ".into(),
                kind: QuestionKind::Text,
                anonymous: false
            }
        ),
        ErrorCode::InvalidInput
    );

    // One vote per participant; voting again changes nothing; taking it back does.
    let out = t.ok(
        o,
        ClientMessage::Vote {
            question: q1,
            up: true,
        },
    );
    assert_eq!(question_in(&out.to(s)).votes, 1);
    let out = t.ok(
        o,
        ClientMessage::Vote {
            question: q1,
            up: true,
        },
    );
    assert_eq!(out.effects.len(), 1, "a repeated vote is not news");
    assert_eq!(
        question_in(
            &t.ok(
                h,
                ClientMessage::Vote {
                    question: q1,
                    up: true
                }
            )
            .to(s)
        )
        .votes,
        2
    );
    assert_eq!(
        question_in(
            &t.ok(
                o,
                ClientMessage::Vote {
                    question: q1,
                    up: false
                }
            )
            .to(s)
        )
        .votes,
        1
    );
    assert_eq!(
        t.err(
            o,
            ClientMessage::Vote {
                question: QuestionId(999),
                up: true
            }
        ),
        ErrorCode::NoSuchQuestion
    );

    // The host answers, pins, dismisses, reopens.
    let q = question_in(
        &t.ok(
            h,
            ClientMessage::SetQuestionState {
                question: q1,
                state: QuestionState::Answered,
            },
        )
        .to(o),
    );
    assert_eq!(
        (q.state, q.answered_at),
        (QuestionState::Answered, Some(t.now.wall))
    );
    assert!(
        question_in(
            &t.ok(
                h,
                ClientMessage::PinQuestion {
                    question: q1,
                    pinned: true
                }
            )
            .to(s)
        )
        .pinned
    );
    let q = question_in(
        &t.ok(
            h,
            ClientMessage::SetQuestionState {
                question: anon.id,
                state: QuestionState::Dismissed,
            },
        )
        .to(s),
    );
    assert_eq!(q.state, QuestionState::Dismissed);
    let q = question_in(
        &t.ok(
            h,
            ClientMessage::SetQuestionState {
                question: q1,
                state: QuestionState::Open,
            },
        )
        .to(s),
    );
    assert_eq!(
        (q.state, q.answered_at, q.pinned),
        (QuestionState::Open, None, true)
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::PinQuestion {
                question: QuestionId(999),
                pinned: true
            }
        ),
        ErrorCode::NoSuchQuestion
    );

    // A newcomer sees the queue as it is, and its own votes.
    let (_, _, late) = t.student(h, &code);
    assert_eq!(late.questions.len(), 2);
    assert_eq!(late.questions[0].votes, 1);
    assert!(late.your_votes.is_empty());
}

#[test]
fn pre_questions_wait_for_the_host_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (lesson, code, token);
    {
        let mut t = T::with(
            ServerDb::open_dir(dir.path()).unwrap(),
            HubConfig::default(),
        );
        let h = t.conn();
        (lesson, code, token) = t.create(h, Some(UnixMs(1_795_100_000_000)));
        let g = t.conn();
        let out = t.ok(
            g,
            ClientMessage::SubmitPreQuestion {
                code: code.clone(),
                name: "Omar".into(),
                text: "How to practise vibrato?".into(),
                kind: QuestionKind::Text,
                anonymous: false,
            },
        );
        assert!(matches!(out.reply, ServerMessage::QuestionAsked { .. }));
        t.ok(
            g,
            ClientMessage::SubmitPreQuestion {
                code: code.clone(),
                name: "Layla".into(),
                text: "비브라토는 어떻게 연습하나요?".into(),
                kind: QuestionKind::Text,
                anonymous: true,
            },
        );
        let out = t.ok(g, ClientMessage::Preview { code: code.clone() });
        let ServerMessage::LessonPreview {
            lesson: info,
            questions,
            ..
        } = out.reply
        else {
            panic!()
        };
        assert_eq!(info.status, LessonStatus::Scheduled);
        assert_eq!(questions.len(), 2);
        assert!(questions[1].author_name.is_none());
    }
    // A new server process on the same data directory.
    let mut t = T::with(
        ServerDb::open_dir(dir.path()).unwrap(),
        HubConfig::default(),
    );
    let h = t.conn();
    let joined = t
        .ok(
            h,
            ClientMessage::StartLesson {
                lesson,
                host_token: token,
            },
        )
        .joined();
    assert_eq!(joined.questions.len(), 2);
    assert!(
        joined
            .questions
            .iter()
            .all(|q| q.pre_lesson && q.state == QuestionState::Open)
    );
    assert_eq!(joined.questions[0].author_name.as_deref(), Some("Omar"));
    // Questions asked in the lesson are not pre-questions.
    let (s, _, _) = t.student(h, &code);
    let out = t.ok(
        s,
        ClientMessage::AskQuestion {
            text: "live".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    assert!(!question_in(&out.to(h)).pre_lesson);
}

#[test]
fn knocking_before_the_host_arrives() {
    let mut t = T::new();
    let h = t.conn();
    let (lesson, code, token) = t.create(h, Some(UnixMs(1_795_100_000_000)));
    let (lesson_id, token2) = (lesson.clone(), token.clone());
    let s = t.conn();
    let (peer, out) = t.knock(s, &code, JoinRole::Student);
    assert!(matches!(
        out.reply,
        ServerMessage::Waiting {
            host_present: false,
            ..
        }
    ));
    assert!(out.to(h).is_empty());
    let out = t.ok(
        h,
        ClientMessage::StartLesson {
            lesson,
            host_token: token,
        },
    );
    assert_eq!(
        out.joined()
            .waiting
            .iter()
            .map(|k| &k.peer)
            .collect::<Vec<_>>(),
        vec![&peer]
    );
    match &out.to(s)[..] {
        [
            ServerMessage::LessonStarted { lesson },
            ServerMessage::HostPresence { present: true },
        ] => assert_eq!(lesson.status, LessonStatus::Live),
        other => panic!("{other:?}"),
    }
    // The host drops: the waiting room is told, and told again when it is back.
    let effects = t.hub.disconnect(h, t.now);
    assert_eq!(
        sent_to(&effects, s),
        vec![ServerMessage::HostPresence { present: false }]
    );
    let h2 = t.conn();
    let out = t.ok(
        h2,
        ClientMessage::StartLesson {
            lesson: lesson_id,
            host_token: token2,
        },
    );
    assert_eq!(
        out.to(s),
        vec![ServerMessage::HostPresence { present: true }]
    );
}

#[test]
fn the_host_token_is_checked() {
    let mut t = T::new();
    let h = t.conn();
    let (lesson, _, _) = t.create(h, None);
    assert_eq!(
        t.err(
            h,
            ClientMessage::StartLesson {
                lesson: lesson.clone(),
                host_token: "hwrong".into()
            }
        ),
        ErrorCode::BadHostToken
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::StartLesson {
                lesson: "lnope".into(),
                host_token: "hwrong".into()
            }
        ),
        ErrorCode::NoSuchLesson
    );
}

#[test]
fn a_lost_connection_keeps_its_place_for_the_grace_period() {
    let mut t = T::new();
    let (h, lesson, code, _) = t.live_lesson();
    let (s, peer, joined) = t.student(h, &code);
    let out = t.ok(
        s,
        ClientMessage::AskQuestion {
            text: "q".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    let ServerMessage::QuestionAsked { question, .. } = out.reply else {
        panic!()
    };
    t.ok(s, ClientMessage::Vote { question, up: true });

    let effects = t.hub.disconnect(s, t.now);
    assert!(
        matches!(&sent_to(&effects, h)[..], [ServerMessage::ParticipantUpdated { participant }] if !participant.connected)
    );
    // The host cannot signal it meanwhile.
    assert_eq!(
        t.err(
            h,
            ClientMessage::Signal {
                to: peer.clone(),
                signal: Signal::EndOfCandidates
            }
        ),
        ErrorCode::NoSuchPeer
    );

    t.advance(30);
    let s2 = t.conn();
    assert_eq!(
        t.err(
            s2,
            ClientMessage::Rejoin {
                lesson: lesson.clone(),
                peer: peer.clone(),
                token: "rwrong".into()
            }
        ),
        ErrorCode::SessionExpired
    );
    let out = t.ok(
        s2,
        ClientMessage::Rejoin {
            lesson: lesson.clone(),
            peer: peer.clone(),
            token: joined.resume_token.clone(),
        },
    );
    let back = out.joined();
    assert_eq!(back.you.peer, peer);
    assert_eq!(back.your_votes, vec![question]);
    assert!(
        matches!(&out.to(h)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.connected)
    );

    // Lost again, and this time for good.
    t.hub.disconnect(s2, t.now);
    assert!(sent_to(&t.advance(59), h).is_empty());
    let effects = t.advance(2);
    assert!(matches!(
        &sent_to(&effects, h)[..],
        [ServerMessage::ParticipantLeft {
            reason: LeaveReason::TimedOut,
            ..
        }]
    ));
    let s3 = t.conn();
    assert_eq!(
        t.err(
            s3,
            ClientMessage::Rejoin {
                lesson,
                peer,
                token: joined.resume_token
            }
        ),
        ErrorCode::SessionExpired
    );
}

#[test]
fn a_rejoin_on_a_new_connection_replaces_a_half_open_one() {
    let mut t = T::new();
    let (h, lesson, code, _) = t.live_lesson();
    let (s, peer, joined) = t.student(h, &code);
    let s2 = t.conn();
    let out = t.ok(
        s2,
        ClientMessage::Rejoin {
            lesson,
            peer,
            token: joined.resume_token,
        },
    );
    assert!(matches!(
        &out.to(s)[..],
        [ServerMessage::SessionReplaced { .. }]
    ));
    // The others hear it went and came back, so they connect their media to the new session.
    match &out.to(h)[..] {
        [
            ServerMessage::ParticipantUpdated { participant: gone },
            ServerMessage::ParticipantUpdated { participant: back },
        ] => assert!(!gone.connected && back.connected),
        other => panic!("{other:?}"),
    }
    // The old connection no longer speaks for it.
    assert_eq!(
        t.err(
            s,
            ClientMessage::Chat {
                text: "ghost".into()
            }
        ),
        ErrorCode::NotInLesson
    );
    assert!(t.hub.disconnect(s, t.now).is_empty());
}

#[test]
fn signals_go_to_one_participant_of_the_same_lesson() {
    let mut t = T::new();
    let (h, _, code, hj) = t.live_lesson();
    let (s, sp, _) = t.student(h, &code);
    let offer = Signal::Offer { sdp: "v=0".into() };
    let out = t.ok(
        h,
        ClientMessage::Signal {
            to: sp.clone(),
            signal: offer.clone(),
        },
    );
    assert_eq!(
        out.to(s),
        vec![ServerMessage::Signal {
            from: hj.you.peer.clone(),
            signal: offer
        }]
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::Signal {
                to: hj.you.peer.clone(),
                signal: Signal::EndOfCandidates
            }
        ),
        ErrorCode::NoSuchPeer
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::Signal {
                to: sp.clone(),
                signal: Signal::Offer {
                    sdp: "x".repeat(limits::SDP_BYTES + 1)
                }
            }
        ),
        ErrorCode::InvalidInput
    );
    // An offer, answer or restart without a session description is not passed on.
    for signal in [
        Signal::Offer { sdp: String::new() },
        Signal::Answer {
            sdp: " \r\n".into(),
        },
        Signal::Restart { sdp: String::new() },
    ] {
        assert_eq!(
            t.err(
                h,
                ClientMessage::Signal {
                    to: sp.clone(),
                    signal
                }
            ),
            ErrorCode::InvalidInput
        );
    }
    // A participant of another lesson is out of reach.
    let (h2, _, _, _) = t.live_lesson();
    assert_eq!(
        t.err(
            h2,
            ClientMessage::Signal {
                to: sp,
                signal: Signal::EndOfCandidates
            }
        ),
        ErrorCode::NoSuchPeer
    );
}

#[test]
fn the_host_grants_and_revokes_the_mic() {
    let mut t = T::new();
    let (h, _, code, hj) = t.live_lesson();
    let (s, _, _) = t.student(h, &code);
    let (_, op, oj) = t.member(h, &code, JoinRole::Observer);
    assert!(!oj.you.mic, "observers listen until granted the mic");
    let out = t.ok(
        h,
        ClientMessage::SetMic {
            peer: op.clone(),
            allowed: true,
        },
    );
    assert!(
        matches!(&out.to(s)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.peer == op && participant.mic)
    );
    let out = t.ok(
        h,
        ClientMessage::SetMic {
            peer: op.clone(),
            allowed: true,
        },
    );
    assert_eq!(out.effects.len(), 1);
    assert_eq!(
        t.err(
            h,
            ClientMessage::SetMic {
                peer: hj.you.peer,
                allowed: false
            }
        ),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::SetMic {
                peer: "pnobody".into(),
                allowed: false
            }
        ),
        ErrorCode::NoSuchPeer
    );
}

/// Nobody is recorded unawares: a student who records is shown to everyone, and to whoever
/// joins later; saying it again changes nothing; stopping is shown too.
#[test]
fn everyone_sees_who_records_the_lesson_latecomers_too() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let (s, sp, _) = t.student(h, &code);
    let out = t.ok(s, ClientMessage::SetRecording { on: true });
    assert!(
        matches!(&out.to(h)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.peer == sp && participant.recording)
    );
    assert_eq!(
        t.ok(s, ClientMessage::SetRecording { on: true })
            .effects
            .len(),
        1
    );
    let (_, _, oj) = t.member(h, &code, JoinRole::Observer);
    let seen = oj.participants.iter().find(|p| p.peer == sp).unwrap();
    assert!(seen.recording, "a latecomer sees it");
    let out = t.ok(s, ClientMessage::SetRecording { on: false });
    assert!(
        matches!(&out.to(h)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.peer == sp && !participant.recording)
    );
    let stranger = t.conn();
    assert_eq!(
        t.err(stranger, ClientMessage::SetRecording { on: true }),
        ErrorCode::NotInLesson
    );
}

#[test]
fn chat_reaches_everyone_and_newcomers_get_recent_history() {
    let cfg = HubConfig {
        chat_history: 3,
        ..HubConfig::default()
    };
    let mut t = T::with(ServerDb::open_in_memory().unwrap(), cfg);
    let (h, _, code, _) = t.live_lesson();
    let (s, sp, _) = t.student(h, &code);
    for i in 0..5 {
        let out = t.ok(
            s,
            ClientMessage::Chat {
                text: format!("안녕 {i}"),
            },
        );
        for c in [h, s] {
            assert!(
                matches!(&out.to(c)[..], [ServerMessage::ChatPosted { message }] if message.from == sp && message.text == format!("안녕 {i}"))
            );
        }
    }
    let (_, _, late) = t.student(h, &code);
    assert_eq!(
        late.chat.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(
        t.err(
            s,
            ClientMessage::Chat {
                text: "x".repeat(limits::CHAT_CHARS + 1)
            }
        ),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        t.err(
            s,
            ClientMessage::Chat {
                text: "bell\u{7}".into()
            }
        ),
        ErrorCode::InvalidInput
    );
    t.ok(
        s,
        ClientMessage::Chat {
            text: "two\nlines".into(),
        },
    );
}

#[test]
fn remove_leave_and_end() {
    let mut t = T::new();
    let (h, lesson, code, _) = t.live_lesson();
    let (s, sp, sj) = t.student(h, &code);
    let (o, op, _) = t.member(h, &code, JoinRole::Observer);

    let out = t.ok(h, ClientMessage::Remove { peer: sp.clone() });
    assert!(matches!(&out.to(s)[..], [ServerMessage::Removed { .. }]));
    assert!(matches!(
        &out.to(o)[..],
        [ServerMessage::ParticipantLeft {
            reason: LeaveReason::Removed,
            ..
        }]
    ));
    assert_eq!(
        t.err(
            s,
            ClientMessage::Rejoin {
                lesson: lesson.clone(),
                peer: sp,
                token: sj.resume_token
            }
        ),
        ErrorCode::SessionExpired
    );

    let out = t.ok(o, ClientMessage::Leave);
    assert!(
        matches!(&out.to(h)[..], [ServerMessage::ParticipantLeft { peer, reason: LeaveReason::Left }] if *peer == op)
    );
    assert_eq!(t.err(o, ClientMessage::Leave), ErrorCode::NotInLesson);

    let w = t.conn();
    t.knock(w, &code, JoinRole::Student);
    let (s2, _, _) = t.student(h, &code);
    let out = t.ok(h, ClientMessage::EndLesson);
    for c in [h, s2, w] {
        assert!(
            matches!(&out.to(c)[..], [ServerMessage::LessonEnded { .. }]),
            "{c}"
        );
    }
    // The code stops working, and the host cannot reopen it.
    let k = t.conn();
    assert_eq!(
        t.err(
            k,
            ClientMessage::Knock {
                code: code.clone(),
                name: "x".into(),
                role: JoinRole::Student
            }
        ),
        ErrorCode::LessonEnded
    );
    assert_eq!(
        t.err(k, ClientMessage::Preview { code }),
        ErrorCode::LessonEnded
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::Chat {
                text: "hello?".into()
            }
        ),
        ErrorCode::NotInLesson
    );
}

#[test]
fn a_knock_withdrawn_by_leaving_or_losing_the_connection() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let s = t.conn();
    let (peer, _) = t.knock(s, &code, JoinRole::Student);
    let effects = t.hub.disconnect(s, t.now);
    assert_eq!(
        sent_to(&effects, h),
        vec![ServerMessage::KnockWithdrawn { peer: peer.clone() }]
    );
    assert_eq!(
        t.err(h, ClientMessage::Admit { peer }),
        ErrorCode::NoSuchPeer
    );
}

#[test]
fn a_full_lesson_says_so() {
    let cfg = HubConfig {
        max_participants: 2,
        max_waiting: 1,
        ..HubConfig::default()
    };
    let mut t = T::with(ServerDb::open_in_memory().unwrap(), cfg);
    let (h, _, code, _) = t.live_lesson();
    let a = t.conn();
    let (pa, _) = t.knock(a, &code, JoinRole::Student);
    let b = t.conn();
    assert_eq!(
        t.err(
            b,
            ClientMessage::Knock {
                code: code.clone(),
                name: "b".into(),
                role: JoinRole::Student
            }
        ),
        ErrorCode::LessonFull
    );
    t.ok(h, ClientMessage::Admit { peer: pa });
    assert_eq!(
        t.err(
            b,
            ClientMessage::Knock {
                code,
                name: "b".into(),
                role: JoinRole::Student
            }
        ),
        ErrorCode::LessonFull
    );
}

#[test]
fn user_text_is_checked() {
    let mut t = T::new();
    let h = t.conn();
    let create = |title: &str, name: &str| ClientMessage::CreateLesson {
        title: title.into(),
        host_name: name.into(),
        scheduled_for: None,
        time_zone: None,
        teacher_key: None,
        teacher: None,
    };
    assert_eq!(t.err(h, create("", "x")), ErrorCode::InvalidInput);
    assert_eq!(t.err(h, create("x", "  ")), ErrorCode::InvalidInput);
    assert_eq!(
        t.err(h, create(&"가".repeat(limits::TITLE_CHARS + 1), "x")),
        ErrorCode::InvalidInput
    );
    assert_eq!(t.err(h, create("two\nlines", "x")), ErrorCode::InvalidInput);
    t.ok(h, create(&"가".repeat(limits::TITLE_CHARS), "김선생"));
}

#[test]
fn a_storage_failure_changes_nothing() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let (s, _, _) = t.student(h, &code);
    let out = t.ok(
        s,
        ClientMessage::AskQuestion {
            text: "kept".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    let ServerMessage::QuestionAsked { question, .. } = out.reply else {
        panic!()
    };

    t.hub.db.refuse_writes(true);
    assert_eq!(
        t.err(
            s,
            ClientMessage::AskQuestion {
                text: "lost?".into(),
                kind: QuestionKind::Text,
                anonymous: false
            }
        ),
        ErrorCode::Storage
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::SetQuestionState {
                question,
                state: QuestionState::Answered
            }
        ),
        ErrorCode::Storage
    );
    assert_eq!(
        t.err(s, ClientMessage::Vote { question, up: true }),
        ErrorCode::Storage
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::CreateLesson {
                title: "t".into(),
                host_name: "n".into(),
                scheduled_for: None,
                time_zone: None,
                teacher_key: None,
                teacher: None,
            }
        ),
        ErrorCode::Storage
    );
    assert_eq!(t.err(h, ClientMessage::EndLesson), ErrorCode::Storage);

    t.hub.db.refuse_writes(false);
    let (_, _, late) = t.student(h, &code);
    assert_eq!(late.questions.len(), 1);
    assert_eq!(
        (late.questions[0].state, late.questions[0].votes),
        (QuestionState::Open, 0)
    );
    assert_eq!(late.lesson.status, LessonStatus::Live);
}

#[test]
fn idle_lessons_leave_memory_and_come_back_from_disk() {
    let mut t = T::new();
    let (h, lesson, code, _) = t.live_lesson();
    t.ok(
        h,
        ClientMessage::AskQuestion {
            text: "kept".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    t.ok(h, ClientMessage::Leave);
    t.advance(1);
    assert_eq!(
        t.hub.lessons.len(),
        1,
        "kept a while: the host may be back in a minute"
    );
    t.advance(599);
    assert_eq!(t.hub.lessons.len(), 1);
    t.advance(2);
    assert!(t.hub.lessons.is_empty());
    assert_eq!(t.hub.metrics.lessons_loaded.load(Relaxed), 0);
    let s = t.conn();
    let (_, out) = t.knock(s, &code, JoinRole::Student);
    let ServerMessage::Waiting {
        lesson: info,
        host_present,
        ..
    } = out.reply
    else {
        panic!()
    };
    assert_eq!(
        (info.id, info.status, host_present),
        (lesson.clone(), LessonStatus::Live, false)
    );
    // Reloaded from disk with its question.
    assert_eq!(t.hub.lessons[&lesson].questions.len(), 1);
    let _ = code;
}

#[test]
fn the_host_can_come_back_on_a_new_connection() {
    let mut t = T::new();
    let h = t.conn();
    let (lesson, code, token) = t.create(h, None);
    let hj = t
        .ok(
            h,
            ClientMessage::StartLesson {
                lesson: lesson.clone(),
                host_token: token.clone(),
            },
        )
        .joined();
    let (s, _, _) = t.student(h, &code);
    t.hub.disconnect(h, t.now);
    let h2 = t.conn();
    let out = t.ok(
        h2,
        ClientMessage::StartLesson {
            lesson,
            host_token: token,
        },
    );
    assert_eq!(
        out.joined().you.peer,
        hj.you.peer,
        "the host keeps its peer id"
    );
    assert!(
        matches!(&out.to(s)[..], [ServerMessage::ParticipantUpdated { participant }] if participant.connected && participant.role == Role::Host)
    );
}

#[test]
fn shutdown_tells_and_closes_everyone() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let (s, _, _) = t.student(h, &code);
    let effects = t.hub.shutdown("restarting");
    for c in [h, s] {
        assert!(matches!(
            &sent_to(&effects, c)[..],
            [ServerMessage::ServerClosing { .. }]
        ));
        assert!(effects.contains(&Effect::Close(c, CloseReason::ShuttingDown)));
    }
    assert_eq!(t.hub.connections(), 0);
}

#[test]
fn a_connection_that_never_says_hello_is_closed() {
    let mut t = T::new();
    t.hub.connect(7, ip(HOME), t.now);
    let greeted = t.conn();
    assert!(t.advance(9).is_empty());
    let effects = t.advance(2);
    assert_eq!(effects, vec![Effect::Close(7, CloseReason::HelloTimeout)]);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Close(c, _) if *c == greeted))
    );
}

#[test]
fn pre_questions_are_for_lessons_that_have_not_started() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let g = t.conn();
    let pre = ClientMessage::SubmitPreQuestion {
        code: code.clone(),
        name: "Omar".into(),
        text: "late?".into(),
        kind: QuestionKind::Text,
        anonymous: false,
    };
    assert_eq!(t.err(g, pre), ErrorCode::LessonLive);
    // Inside, the queue is public to members; from outside, a live lesson shows no questions.
    t.ok(
        h,
        ClientMessage::AskQuestion {
            text: "inside".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
    );
    let ServerMessage::LessonPreview {
        questions, lesson, ..
    } = t.ok(g, ClientMessage::Preview { code }).reply
    else {
        panic!()
    };
    assert_eq!((lesson.status, questions.len()), (LessonStatus::Live, 0));
}

#[test]
fn an_address_may_create_only_so_many_lessons_and_pre_questions() {
    let mut t = T::new();
    let c = t.conn();
    let (_, code, _) = t.create(c, Some(UnixMs(1_900_000_000_000)));
    for i in 1..30 {
        t.ok(
            c,
            ClientMessage::SubmitPreQuestion {
                code: code.clone(),
                name: "n".into(),
                text: format!("q{i}"),
                kind: QuestionKind::Text,
                anonymous: false,
            },
        );
    }
    let create = ClientMessage::CreateLesson {
        title: "t".into(),
        host_name: "h".into(),
        scheduled_for: None,
        time_zone: None,
        teacher_key: None,
        teacher: None,
    };
    assert_eq!(t.err(c, create.clone()), ErrorCode::RateLimited);
    // Another address is not affected; this one gets one back a minute later.
    let other = t.conn_from("198.51.100.9");
    t.ok(other, create.clone());
    t.advance(61);
    t.ok(c, create);
}

#[test]
fn knocking_again_after_denials_is_limited_like_guessing() {
    let mut t = T::new();
    let (h, _, code, _) = t.live_lesson();
    let s = t.conn_from("203.0.113.5");
    for _ in 0..10 {
        let (peer, _) = t.knock(s, &code, JoinRole::Student);
        t.ok(h, ClientMessage::Deny { peer });
    }
    let knock = ClientMessage::Knock {
        code,
        name: "again".into(),
        role: JoinRole::Student,
    };
    assert_eq!(t.err(s, knock), ErrorCode::RateLimited);
}

#[test]
fn names_cannot_carry_direction_overrides() {
    let mut t = T::new();
    let (_, _, code, _) = t.live_lesson();
    let s = t.conn();
    let knock = ClientMessage::Knock {
        code,
        name: "Omar\u{202E}rehcaeT".into(),
        role: JoinRole::Student,
    };
    assert_eq!(t.err(s, knock), ErrorCode::InvalidInput);
}

#[test]
fn a_connection_in_one_lesson_cannot_start_another() {
    let mut t = T::new();
    let (h, _, _, _) = t.live_lesson();
    let (lesson2, _, token2) = t.create(h, None);
    assert_eq!(
        t.err(
            h,
            ClientMessage::StartLesson {
                lesson: lesson2,
                host_token: token2
            }
        ),
        ErrorCode::AlreadyInLesson
    );
}

#[test]
fn chat_history_survives_a_short_absence() {
    let mut t = T::new();
    let h = t.conn();
    let (lesson, _, token) = t.create(h, None);
    let start = ClientMessage::StartLesson {
        lesson: lesson.clone(),
        host_token: token,
    };
    t.ok(h, start.clone());
    t.ok(
        h,
        ClientMessage::Chat {
            text: "first".into(),
        },
    );
    // The host's connection drops and its grace period runs out: nobody is left.
    t.hub.disconnect(h, t.now);
    t.advance(61);
    assert!(t.hub.lessons[&lesson].is_idle());
    // Back within the eviction time: the chat is still there, and ids go on increasing.
    t.advance(300);
    let h2 = t.conn();
    let joined = t.ok(h2, start).joined();
    assert_eq!(
        joined
            .chat
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["first"]
    );
    let out = t.ok(
        h2,
        ClientMessage::Chat {
            text: "second".into(),
        },
    );
    assert!(
        matches!(&out.to(h2)[..], [ServerMessage::ChatPosted { message }] if message.id.0 == 2)
    );
}

#[test]
fn admitted_participants_get_their_own_short_lived_relay_credentials() {
    let issuer = crate::turn::TurnIssuer::new(
        "203.0.113.5:3478".parse().unwrap(),
        b"relay-secret",
        Duration::from_secs(6 * 3600),
    );
    let cfg = HubConfig {
        turn: Some(issuer.clone()),
        ..HubConfig::default()
    };
    let mut t = T::with(ServerDb::open_in_memory().unwrap(), cfg);
    let (h, _, code, host_joined) = t.live_lesson();
    let s = t.conn();
    let (peer, knock_reply) = t.knock(s, &code, JoinRole::Student);
    assert!(
        !format!("{:?}", knock_reply.reply).contains("turn:"),
        "no credentials while waiting"
    );
    let out = t.ok(h, ClientMessage::Admit { peer: peer.clone() });
    let joined = match out.to(s).as_slice() {
        [ServerMessage::Joined(j)] => (**j).clone(),
        other => panic!("{other:?}"),
    };
    let now = 1_795_000_000u64;
    for (who, j) in [(&host_joined.you.peer, &host_joined), (&peer, &joined)] {
        let relay = j
            .ice_servers
            .iter()
            .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
            .expect("the relay is offered");
        let user = relay.username.clone().unwrap();
        assert_eq!(user, format!("{}:{}", now + 6 * 3600, who.as_str()));
        assert_eq!(
            crate::turn::check(b"relay-secret", &user, now).as_deref(),
            relay.credential.as_deref(),
            "the relay accepts what the hub issued"
        );
        assert_eq!(
            crate::turn::check(b"relay-secret", &user, now + 6 * 3600 + 1),
            None,
            "and not after it expires"
        );
    }
    assert_ne!(
        host_joined.ice_servers, joined.ice_servers,
        "each participant has their own"
    );

    // Removed by the host: the relay stops serving the student, not the host.
    let user_of = |j: &Joined| j.ice_servers.last().unwrap().username.clone().unwrap();
    assert!(!issuer.is_revoked(&user_of(&joined)));
    t.ok(h, ClientMessage::Remove { peer: peer.clone() });
    assert!(issuer.is_revoked(&user_of(&joined)), "removed");
    assert!(!issuer.is_revoked(&user_of(&host_joined)));
    // And everyone when the lesson ends.
    t.ok(h, ClientMessage::EndLesson);
    assert!(issuer.is_revoked(&user_of(&host_joined)), "lesson over");
}

#[test]
fn everyone_rejoins_a_restarted_server_within_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (lesson, host, host_token, student, student_token, observer, observer_token);
    {
        let mut t = T::with(
            ServerDb::open_dir(dir.path()).unwrap(),
            HubConfig::default(),
        );
        let (h, l, code, hj) = t.live_lesson();
        let (_, sp, sj) = t.student(h, &code);
        let (_, op, oj) = t.member(h, &code, JoinRole::Observer);
        t.ok(
            h,
            ClientMessage::SetMic {
                peer: op.clone(),
                allowed: true,
            },
        );
        (lesson, host, host_token) = (l, hj.you.peer, hj.resume_token);
        (student, student_token) = (sp, sj.resume_token);
        (observer, observer_token) = (op, oj.resume_token);
        // The process dies here: no goodbyes.
    }
    let mut t = T::with(
        ServerDb::open_dir(dir.path()).unwrap(),
        HubConfig::default(),
    );
    let s = t.conn();
    let wrong = t.req(
        s,
        ClientMessage::Rejoin {
            lesson: lesson.clone(),
            peer: student.clone(),
            token: observer_token.clone(),
        },
    );
    assert!(
        matches!(
            wrong.reply,
            ServerMessage::Error {
                code: ErrorCode::SessionExpired,
                ..
            }
        ),
        "another's token opens nothing: {:?}",
        wrong.reply
    );
    let joined = t
        .ok(
            s,
            ClientMessage::Rejoin {
                lesson: lesson.clone(),
                peer: student.clone(),
                token: student_token,
            },
        )
        .joined();
    assert_eq!(joined.you.peer, student);
    let roster: Vec<(&str, bool, bool)> = joined
        .participants
        .iter()
        .map(|p| (p.peer.as_str(), p.connected, p.mic))
        .collect();
    assert_eq!(
        roster,
        [
            (host.as_str(), false, true),
            (student.as_str(), true, true),
            (observer.as_str(), false, true),
        ],
        "everyone as it was, the others away until they are back; the mic grant kept"
    );
    let h = t.conn();
    let out = t.ok(
        h,
        ClientMessage::Rejoin {
            lesson: lesson.clone(),
            peer: host.clone(),
            token: host_token,
        },
    );
    assert!(
        out.to(s)
            .iter()
            .any(|m| matches!(m, ServerMessage::ParticipantUpdated { participant } if participant.peer == host && participant.connected)),
        "the student sees the host back"
    );
    // The observer never comes back: its place goes when the grace period is over.
    let out = t.advance(61);
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Send(c, m) if *c == s && matches!(&**m, ServerMessage::ParticipantLeft { peer, .. } if *peer == observer)
    )));
    drop(t);
    let mut t = T::with(
        ServerDb::open_dir(dir.path()).unwrap(),
        HubConfig::default(),
    );
    let o = t.conn();
    let late = t.req(
        o,
        ClientMessage::Rejoin {
            lesson,
            peer: observer,
            token: observer_token,
        },
    );
    assert!(
        matches!(
            late.reply,
            ServerMessage::Error {
                code: ErrorCode::SessionExpired,
                ..
            }
        ),
        "an expired place is not stored: {:?}",
        late.reply
    );
}

#[test]
fn the_http_lookup_shows_a_lesson_in_any_state_and_counts_wrong_codes_with_knocks() {
    let mut t = T::new();
    let h = t.conn();
    let out = t.ok(
        h,
        ClientMessage::CreateLesson {
            title: "Bach partita".into(),
            host_name: "김선생".into(),
            scheduled_for: Some(UnixMs(1_795_100_000_000)),
            time_zone: Some("Asia/Seoul".into()),
            teacher_key: None,
            teacher: None,
        },
    );
    let ServerMessage::LessonCreated {
        lesson, host_token, ..
    } = out.reply
    else {
        panic!()
    };
    let student = ip("198.51.100.7");
    // Typed loosely, as a student would.
    let typed = lesson.code.to_string().to_lowercase().replace('-', " ");
    let info = t.hub.lookup(student, &typed, t.now).unwrap();
    assert_eq!(info, lesson);
    assert_eq!(info.time_zone.as_deref(), Some("Asia/Seoul"));

    let bad = t.hub.lookup(student, "ABC-DEF", t.now).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidCode);
    let right = lesson.code.to_string();
    // Nine wrong looks and one wrong knock use up the address's ten; a wrong code looked up
    // and then knocked with (the app's preview, then Join) counts once.
    for i in 0..9 {
        let e = t
            .hub
            .lookup(student, &wrong_code(i, &right), t.now)
            .unwrap_err();
        assert_eq!((e.code, e.retry_after_s), (ErrorCode::UnknownCode, None));
    }
    let s = t.conn_from("198.51.100.7");
    let knock = |code: &str| ClientMessage::Knock {
        code: code.into(),
        name: "x".into(),
        role: JoinRole::Student,
    };
    assert_eq!(
        t.err(s, knock(&wrong_code(8, &right))),
        ErrorCode::UnknownCode
    );
    assert!(t.hub.lookup(student, &typed, t.now).is_ok());
    assert_eq!(
        t.err(s, knock(&wrong_code(9, &right))),
        ErrorCode::UnknownCode
    );
    let limited = t.hub.lookup(student, &typed, t.now).unwrap_err();
    assert_eq!(limited.code, ErrorCode::RateLimited);
    assert_eq!(limited.retry_after_s, Some(60));
    assert_eq!(t.err(s, knock(&typed)), ErrorCode::RateLimited);
    // Another address looks it up still.
    assert!(t.hub.lookup(ip("198.51.100.8"), &typed, t.now).is_ok());

    // Called off: the preview says it ended without starting.
    t.ok(
        h,
        ClientMessage::CancelLesson {
            lesson: lesson.id.clone(),
            host_token,
        },
    );
    let info = t.hub.lookup(ip("198.51.100.8"), &typed, t.now).unwrap();
    assert_eq!(info.status, LessonStatus::Ended);
    assert_eq!(info.started_at, None);
    assert_eq!(info.ended_at, Some(t.now.wall));
}

#[test]
fn a_time_zone_that_is_not_a_zone_name_is_refused() {
    let mut t = T::new();
    let h = t.conn();
    let create = |zone: &str| ClientMessage::CreateLesson {
        title: "t".into(),
        host_name: "h".into(),
        scheduled_for: None,
        time_zone: Some(zone.into()),
        teacher_key: None,
        teacher: None,
    };
    assert_eq!(t.err(h, create("<b>Seoul</b>")), ErrorCode::InvalidInput);
    assert_eq!(t.err(h, create("")), ErrorCode::InvalidInput);
    t.ok(h, create("Asia/Dubai"));
}

#[test]
fn cancelling_a_scheduled_lesson_tells_whoever_waits_and_stops_its_code() {
    let mut t = T::new();
    let h = t.conn();
    let (lesson, code, token) = t.create(h, Some(UnixMs(1_795_100_000_000)));
    let s = t.conn();
    let (_, _) = t.knock(s, &code, JoinRole::Student);
    let cancel = |token: &HostToken| ClientMessage::CancelLesson {
        lesson: lesson.clone(),
        host_token: token.clone(),
    };
    // From a fresh connection (the app's cancel is not in the lesson), with a wrong token.
    let c = t.conn();
    assert_eq!(
        t.err(c, cancel(&HostToken("not-the-token".into()))),
        ErrorCode::BadHostToken
    );
    let out = t.ok(c, cancel(&token));
    assert!(matches!(out.reply, ServerMessage::Ok { .. }));
    assert!(matches!(
        &out.to(s)[..],
        [ServerMessage::LessonEnded { lesson: l }] if *l == lesson
    ));
    // The code admits nobody, the host cannot open it, and a retry is still ok.
    let other = t.conn();
    assert_eq!(
        t.err(
            other,
            ClientMessage::Knock {
                code: code.clone(),
                name: "Omar".into(),
                role: JoinRole::Student,
            }
        ),
        ErrorCode::LessonEnded
    );
    assert_eq!(
        t.err(
            h,
            ClientMessage::StartLesson {
                lesson: lesson.clone(),
                host_token: token.clone(),
            }
        ),
        ErrorCode::LessonEnded
    );
    // Forgotten from memory (idle for the eviction time, seen by two ticks): the retry reads
    // the database.
    t.advance(1);
    t.advance(700);
    assert_eq!(t.hub.metrics.lessons_loaded.load(Relaxed), 0);
    assert!(matches!(
        t.ok(c, cancel(&token)).reply,
        ServerMessage::Ok { .. }
    ));
    assert_eq!(
        t.err(
            c,
            ClientMessage::CancelLesson {
                lesson: LessonId("l-nobody-made".into()),
                host_token: token,
            }
        ),
        ErrorCode::NoSuchLesson
    );
}

#[test]
fn a_teacher_s_page_is_published_under_its_key_and_refused_out_of_bounds() {
    let mut t = T::new();
    let h = t.conn();
    let page = TeacherPage {
        name: "김선생".into(),
        instruments: vec!["violin".into()],
        bio: "Bowing and intonation.".into(),
        ..TeacherPage::default()
    };
    let create = |key: Option<&str>, page: Option<TeacherPage>| ClientMessage::CreateLesson {
        title: "t".into(),
        host_name: "h".into(),
        scheduled_for: None,
        time_zone: None,
        teacher_key: key.map(str::to_owned),
        teacher: page,
    };
    let named = |out: &Out| match &out.reply {
        ServerMessage::LessonCreated { lesson, .. } => lesson.teacher.clone(),
        other => panic!("{other:?}"),
    };
    let key = "a-key-of-at-least-16-characters";
    // A key alone names nothing until a page was published under it.
    assert_eq!(named(&t.ok(h, create(Some(key), None))), None);
    let id = named(&t.ok(h, create(Some(key), Some(page.clone())))).unwrap();
    assert!(TeacherId::is_valid(&id.0), "{id:?}");
    assert_eq!(t.hub.teacher(&id.0).unwrap(), page);
    assert_eq!(named(&t.ok(h, create(Some(key), None))), Some(id.clone()));
    // The key is not kept: the id is its hash, and another key's page is another id.
    let other = named(&t.ok(
        h,
        create(Some("another-key-0123456789"), Some(page.clone())),
    ));
    assert_ne!(other, Some(id.clone()));

    for bad in [
        create(None, Some(page.clone())),
        create(Some("short"), Some(page.clone())),
        create(Some("a key with spaces in it"), Some(page.clone())),
        create(
            Some(key),
            Some(TeacherPage {
                photo: Some("javascript:alert(1)".into()),
                ..page.clone()
            }),
        ),
        create(
            Some(key),
            Some(TeacherPage {
                bio: "x".repeat(tutti_protocol::limits::BIO_CHARS + 1),
                ..page.clone()
            }),
        ),
        create(
            Some(key),
            Some(TeacherPage {
                instruments: vec![String::new()],
                ..page.clone()
            }),
        ),
    ] {
        assert_eq!(t.err(h, bad), ErrorCode::InvalidInput);
    }
    // Nothing refused touched the page.
    assert_eq!(t.hub.teacher(&id.0).unwrap(), page);
    assert_eq!(
        t.hub
            .teacher("00000000000000000000000000000000")
            .unwrap_err()
            .code,
        ErrorCode::NoSuchTeacher
    );
    assert_eq!(
        t.hub.teacher("../../etc/passwd").unwrap_err().code,
        ErrorCode::InvalidInput
    );
}
