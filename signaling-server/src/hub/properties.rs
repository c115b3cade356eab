//! The hub against arbitrary sequences of connects, requests, ticks and disconnects (proptest):
//! it never panics, every request gets exactly one reply, and what only the host may do is
//! refused to a connection that never held a host's place. Ids the hub hands out (lessons,
//! codes, tokens, peers, questions) are remembered and picked from, so that the sequences reach
//! deep into lessons rather than stopping at `no_such_lesson`.

//!
//! One model, two drivers: the bounded `proptest` below (in `make test`) and the `hub` fuzz
//! target (`make fuzz`), which builds the same operations from the fuzzer's bytes.

use super::*;
use std::collections::HashSet;
use tutti_protocol::*;

#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// A new connection, saying hello at once (most do) or not.
    Connect(bool),
    Disconnect(u8),
    /// Time passes (grace periods, hello timeouts, rate limits).
    Tick(u16),
    /// A request from connection `conn` (an index into those made so far).
    Req(u8, Req),
}

/// Requests, with indexes into what the hub has handed out so far.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Req {
    Hello,
    BadHello,
    Create,
    Start(u8),
    Cancel(u8),
    Preview(u8),
    PreQuestion(u8),
    Knock(u8, bool),
    WrongKnock,
    Admit(u8),
    Deny(u8),
    Rejoin(u8),
    Leave,
    Remove(u8),
    End,
    Signal(u8),
    Ask(bool),
    Vote(u8, bool),
    SetState(u8, u8),
    Pin(u8, bool),
    SetMic(u8, bool),
    Chat(u8),
    Recording(bool),
}

/// What the hub has handed out, for the next requests to use.
#[derive(Default)]
struct Seen {
    lessons: Vec<(LessonId, String, HostToken)>,
    peers: Vec<PeerId>,
    places: Vec<(LessonId, PeerId, ResumeToken)>,
    questions: Vec<QuestionId>,
    /// Connections that were ever given a host's place.
    hosts: HashSet<ConnId>,
}

fn pick<T: Clone>(v: &[T], i: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()].clone())
}

fn learn(seen: &mut Seen, effects: &[Effect]) {
    for e in effects {
        let Effect::Send(to, m) = e else { continue };
        match &**m {
            ServerMessage::LessonCreated {
                lesson, host_token, ..
            } => seen.lessons.push((
                lesson.id.clone(),
                lesson.code.to_string(),
                host_token.clone(),
            )),
            ServerMessage::Waiting { you, .. } => seen.peers.push(you.clone()),
            ServerMessage::Joined(j) => {
                seen.peers.push(j.you.peer.clone());
                seen.places.push((
                    j.lesson.id.clone(),
                    j.you.peer.clone(),
                    j.resume_token.clone(),
                ));
                if j.you.role == Role::Host {
                    seen.hosts.insert(*to);
                }
            }
            ServerMessage::QuestionAsked { question, .. } => seen.questions.push(*question),
            _ => {}
        }
    }
}

fn message(seen: &Seen, r: &Req) -> Option<ClientMessage> {
    let lesson = |i| pick(&seen.lessons, i);
    let peer = |i| pick(&seen.peers, i);
    let question = |i| pick(&seen.questions, i);
    Some(match r {
        Req::Hello => ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            client: "prop".into(),
        },
        Req::BadHello => ClientMessage::Hello {
            protocol: PROTOCOL_VERSION + 7,
            client: "prop".into(),
        },
        Req::Create => ClientMessage::CreateLesson {
            title: "Scales".into(),
            host_name: "김선생".into(),
            scheduled_for: None,
            time_zone: None,
            teacher_key: None,
            teacher: None,
        },
        Req::Start(i) => {
            let (lesson, _, host_token) = lesson(*i)?;
            ClientMessage::StartLesson { lesson, host_token }
        }
        Req::Cancel(i) => {
            let (lesson, _, host_token) = lesson(*i)?;
            ClientMessage::CancelLesson { lesson, host_token }
        }
        Req::Preview(i) => ClientMessage::Preview {
            code: lesson(*i)?.1,
        },
        Req::PreQuestion(i) => ClientMessage::SubmitPreQuestion {
            code: lesson(*i)?.1,
            name: "Omar".into(),
            text: "비브라토?".into(),
            kind: QuestionKind::Text,
            anonymous: false,
        },
        Req::Knock(i, observer) => ClientMessage::Knock {
            code: lesson(*i)?.1,
            name: "Omar".into(),
            role: if *observer {
                JoinRole::Observer
            } else {
                JoinRole::Student
            },
        },
        Req::WrongKnock => ClientMessage::Knock {
            code: "ZZZ-ZZZ-ZZZ".into(),
            name: "Mallory".into(),
            role: JoinRole::Student,
        },
        Req::Admit(i) => ClientMessage::Admit { peer: peer(*i)? },
        Req::Deny(i) => ClientMessage::Deny { peer: peer(*i)? },
        Req::Rejoin(i) => {
            let (lesson, peer, token) = pick(&seen.places, *i)?;
            ClientMessage::Rejoin {
                lesson,
                peer,
                token,
            }
        }
        Req::Leave => ClientMessage::Leave,
        Req::Remove(i) => ClientMessage::Remove { peer: peer(*i)? },
        Req::End => ClientMessage::EndLesson,
        Req::Signal(i) => ClientMessage::Signal {
            to: peer(*i)?,
            signal: Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
        },
        Req::Ask(voice) => ClientMessage::AskQuestion {
            text: if *voice { String::new() } else { "왜?".into() },
            kind: if *voice {
                QuestionKind::Voice
            } else {
                QuestionKind::Text
            },
            anonymous: false,
        },
        Req::Vote(i, up) => ClientMessage::Vote {
            question: question(*i)?,
            up: *up,
        },
        Req::SetState(i, s) => ClientMessage::SetQuestionState {
            question: question(*i)?,
            state: [
                QuestionState::Open,
                QuestionState::Answered,
                QuestionState::Dismissed,
            ][usize::from(*s) % 3],
        },
        Req::Pin(i, pinned) => ClientMessage::PinQuestion {
            question: question(*i)?,
            pinned: *pinned,
        },
        Req::SetMic(i, allowed) => ClientMessage::SetMic {
            peer: peer(*i)?,
            allowed: *allowed,
        },
        Req::Chat(n) => ClientMessage::Chat {
            text: "가".repeat(usize::from(*n) % 5 + 1),
        },
        Req::Recording(on) => ClientMessage::SetRecording { on: *on },
    })
}

/// As the socket layer does: a connection the hub closes is gone, and the hub is told.
fn closed(hub: &mut Hub, conns: &mut Vec<ConnId>, seen: &mut Seen, effects: &[Effect], now: Now) {
    let closes = |effects: &[Effect]| {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Close(c, _) => Some(*c),
                Effect::Send(..) => None,
            })
            .collect::<Vec<_>>()
    };
    let mut closing = closes(effects);
    while let Some(c) = closing.pop() {
        if !conns.contains(&c) {
            continue;
        }
        conns.retain(|x| *x != c);
        let more = hub.disconnect(c, now);
        learn(seen, &more);
        closing.extend(closes(&more));
    }
}

/// Only a lesson's host may do these (a live lesson's state changes through the host alone).
fn host_only(m: &ClientMessage) -> bool {
    matches!(
        m,
        ClientMessage::Admit { .. }
            | ClientMessage::Deny { .. }
            | ClientMessage::Remove { .. }
            | ClientMessage::EndLesson
            | ClientMessage::SetQuestionState { .. }
            | ClientMessage::PinQuestion { .. }
            | ClientMessage::SetMic { .. }
    )
}

use tutti_protocol::property_check as check;

/// Drives a fresh hub through `ops`; the first property broken, described, if any.
pub fn run(ops: impl IntoIterator<Item = Op>) -> Result<(), String> {
    let db = ServerDb::open_in_memory().map_err(|e| e.to_string())?;
    let mut hub = Hub::new(
        HubConfig::default(),
        db,
        Secrets::seeded(7),
        Arc::new(Metrics::default()),
    );
    let mut now = Now {
        mono: Instant::now(),
        wall: UnixMs(1_795_000_000_000),
    };
    let mut conns: Vec<ConnId> = Vec::new();
    let mut next_conn: ConnId = 1;
    let mut next_req = 0u64;
    let mut seen = Seen::default();
    for op in ops {
        match op {
            Op::Connect(hello) => {
                // A few addresses, so that per-address limits come into play.
                let addr: IpAddr = format!("192.0.2.{}", next_conn % 3 + 1)
                    .parse()
                    .map_err(|e: std::net::AddrParseError| e.to_string())?;
                let c = next_conn;
                hub.connect(c, addr, now);
                conns.push(c);
                next_conn += 1;
                if hello {
                    next_req += 1;
                    let msg = ClientMessage::Hello {
                        protocol: PROTOCOL_VERSION,
                        client: "prop".into(),
                    };
                    let effects = hub.handle(
                        c,
                        ClientFrame {
                            req: RequestId(next_req),
                            msg,
                        },
                        now,
                    );
                    closed(&mut hub, &mut conns, &mut seen, &effects, now);
                }
            }
            Op::Disconnect(i) => {
                if let Some(c) = pick(&conns, i) {
                    let effects = hub.disconnect(c, now);
                    conns.retain(|x| *x != c);
                    learn(&mut seen, &effects);
                    closed(&mut hub, &mut conns, &mut seen, &effects, now);
                }
            }
            Op::Tick(secs) => {
                now.mono += Duration::from_secs(u64::from(secs));
                now.wall.0 += i64::from(secs) * 1000;
                let effects = hub.tick(now);
                learn(&mut seen, &effects);
                closed(&mut hub, &mut conns, &mut seen, &effects, now);
            }
            Op::Req(i, r) => {
                let (Some(conn), Some(msg)) = (pick(&conns, i), message(&seen, &r)) else {
                    continue;
                };
                next_req += 1;
                let req = RequestId(next_req);
                let was_host = seen.hosts.contains(&conn);
                let host_only = host_only(&msg);
                let effects = hub.handle(
                    conn,
                    ClientFrame {
                        req,
                        msg: msg.clone(),
                    },
                    now,
                );
                let replies: Vec<&ServerMessage> = effects
                    .iter()
                    .filter_map(|e| match e {
                        Effect::Send(c, m) if *c == conn && m.re() == Some(req) => Some(&**m),
                        _ => None,
                    })
                    .collect();
                check!(replies.len() == 1, "{:?} got {:?}", msg, effects);
                if host_only && !was_host {
                    check!(
                        matches!(replies[0], ServerMessage::Error { .. }),
                        "{:?} from a connection never a host was answered {:?}",
                        msg,
                        replies[0]
                    );
                }
                // Nobody else hears of a refused request.
                if matches!(replies[0], ServerMessage::Error { .. }) {
                    check!(
                        effects
                            .iter()
                            .all(|e| !matches!(e, Effect::Send(c, _) if *c != conn)),
                        "{:?} was refused yet reached others: {:?}",
                        msg,
                        effects
                    );
                }
                learn(&mut seen, &effects);
                closed(&mut hub, &mut conns, &mut seen, &effects, now);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req() -> impl Strategy<Value = Req> {
        let i = any::<u8>;
        prop_oneof![
            4 => Just(Req::Hello),
            1 => Just(Req::BadHello),
            2 => Just(Req::Create),
            3 => i().prop_map(Req::Start),
            1 => i().prop_map(Req::Cancel),
            1 => i().prop_map(Req::Preview),
            1 => i().prop_map(Req::PreQuestion),
            6 => (i(), any::<bool>()).prop_map(|(l, o)| Req::Knock(l, o)),
            1 => Just(Req::WrongKnock),
            8 => i().prop_map(Req::Admit),
            1 => i().prop_map(Req::Deny),
            1 => i().prop_map(Req::Rejoin),
            1 => Just(Req::Leave),
            1 => i().prop_map(Req::Remove),
            1 => Just(Req::End),
            2 => i().prop_map(Req::Signal),
            2 => any::<bool>().prop_map(Req::Ask),
            2 => (i(), any::<bool>()).prop_map(|(q, u)| Req::Vote(q, u)),
            2 => (i(), i()).prop_map(|(q, s)| Req::SetState(q, s)),
            2 => (i(), any::<bool>()).prop_map(|(q, p)| Req::Pin(q, p)),
            3 => (i(), any::<bool>()).prop_map(|(p, a)| Req::SetMic(p, a)),
            2 => i().prop_map(Req::Chat),
            1 => any::<bool>().prop_map(Req::Recording),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => prop::bool::weighted(0.9).prop_map(Op::Connect),
            1 => any::<u8>().prop_map(Op::Disconnect),
            // Mostly moments; now and then long enough for timeouts and grace periods to end.
            2 => (0u16..5).prop_map(Op::Tick),
            1 => (0u16..200).prop_map(Op::Tick),
            12 => (any::<u8>(), req()).prop_map(|(c, r)| Op::Req(c, r)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_sequence_gets_one_reply_per_request_and_host_powers_stay_with_hosts(
            ops in prop::collection::vec(op(), 1..300),
        ) {
            if let Err(broken) = run(ops) {
                prop_assert!(false, "{}", broken);
            }
        }
    }
}
