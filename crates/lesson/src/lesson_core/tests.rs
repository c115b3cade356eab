//! Two cores stepped together at exact times over a simulated room server and simulated links.
//! A link "connects" when both sides hold each other's descriptions and candidates and the
//! network lets candidates through; "a" sorts first, so "a" offers.

use super::*;
use tutti_protocol::{
    ChatMessage, InviteCode, LessonInfo, LessonStatus, Participant, Role, UnixMs,
};

const STEP: Duration = Duration::from_millis(10);
/// The room server's relay, one way.
const RELAY: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
struct SimLink {
    peer: String,
    remote: Option<String>,
    candidates: Vec<String>,
    closed: bool,
    up: bool,
    /// An ICE restart's descriptions are in place on this link.
    restarted: bool,
    /// Offerer: a restart's offer went out on it.
    restarting: bool,
}

struct Side {
    id: &'static str,
    core: LessonCore,
    links: BTreeMap<LinkId, SimLink>,
    events: Vec<LessonEvent>,
    sent: Vec<ClientMessage>,
    started: Vec<LinkId>,
    /// Every `OpenLink` is refused (no network to open sockets on).
    cannot_open: bool,
    /// Cut off from the room server: nothing it sends or is sent arrives.
    down: bool,
    /// When it asked to rejoin.
    rejoins: Vec<Instant>,
    /// `SendAllowed` and `Hear`, in order.
    grants: Vec<Effect>,
}

impl Side {
    fn new(id: &'static str) -> Self {
        Self {
            id,
            core: LessonCore::new(
                PeerId::from(id),
                AdmitPolicy::Manual,
                Duration::from_secs(4),
            ),
            links: BTreeMap::new(),
            events: Vec::new(),
            sent: Vec::new(),
            started: Vec::new(),
            cannot_open: false,
            down: false,
            rejoins: Vec::new(),
            grants: Vec::new(),
        }
    }

    fn name(&self, link: LinkId) -> String {
        format!("{}:{}", self.id, link.0)
    }

    /// Carries out every effect; returns the signals for the room server.
    fn run(&mut self, now: Instant) -> Vec<(PeerId, Signal)> {
        let mut out = Vec::new();
        let mut budget = 10_000;
        while let Some(e) = self.core.poll_effect() {
            budget -= 1;
            assert!(budget > 0, "{} spins: effects without end", self.id);
            match e {
                Effect::OpenLink { peer, link } => {
                    if self.cannot_open {
                        self.core.broken(now, link, "no sockets");
                        continue;
                    }
                    self.links.insert(
                        link,
                        SimLink {
                            peer: peer.to_string(),
                            ..SimLink::default()
                        },
                    );
                    // Gathering starts at once: this candidate may come before any description.
                    let candidate = self.name(link);
                    self.core.link_event(
                        now,
                        link,
                        LinkEvent::LocalCandidate {
                            candidate,
                            sdp_mid: Some("0".into()),
                            sdp_mline_index: Some(0),
                        },
                    );
                }
                Effect::MakeOffer { link } => {
                    if self.links.contains_key(&link) {
                        let sdp = self.name(link);
                        self.core.offer_made(link, sdp);
                    }
                }
                Effect::RestartIce { link } => {
                    if let Some(l) = self.links.get_mut(&link) {
                        l.restarting = true;
                        let sdp = self.name(link);
                        self.core.restart_made(link, sdp);
                    }
                }
                Effect::MakeAnswer { link, offer } | Effect::AnswerRestart { link, offer } => {
                    if let Some(l) = self.links.get_mut(&link) {
                        // An offer on a link that has one already: a restart.
                        l.restarted |= l.remote.is_some();
                        l.remote = Some(offer);
                        let sdp = self.name(link);
                        self.core.answer_made(link, sdp);
                    }
                }
                Effect::ApplyAnswer { link, answer } => {
                    if let Some(l) = self.links.get_mut(&link) {
                        l.restarted |= l.restarting;
                        l.remote = Some(answer);
                        self.core.answer_applied(link);
                    }
                }
                Effect::AddCandidate { link, candidate } => {
                    let l = self
                        .links
                        .get_mut(&link)
                        .expect("candidates only for open links");
                    assert!(l.remote.is_some(), "a candidate before its description");
                    l.candidates.push(candidate.candidate);
                }
                Effect::StartMedia { link, .. } => {
                    assert!(self.links[&link].up, "media on a link that is not up");
                    self.started.push(link);
                }
                Effect::CloseLink { link } => {
                    if let Some(l) = self.links.get_mut(&link) {
                        l.closed = true;
                    }
                }
                Effect::Rejoin { .. } => self.rejoins.push(now),
                e @ (Effect::SendAllowed(_) | Effect::Hear { .. }) => self.grants.push(e),
                Effect::Send(ClientMessage::Signal { to, signal }) => out.push((to, signal)),
                Effect::Send(other) => self.sent.push(other),
                Effect::Emit(ev) => self.events.push(ev),
            }
        }
        out
    }

    /// The link that is open now to `peer`, if any.
    fn live(&self, peer: &str) -> Option<LinkId> {
        self.links
            .iter()
            .rev()
            .find(|(_, l)| l.peer == peer && !l.closed)
            .map(|(id, _)| *id)
    }

    fn failed(&self) -> usize {
        self.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    LessonEvent::Link {
                        state: LinkState::Failed,
                        ..
                    }
                )
            })
            .count()
    }

    fn opened(&self) -> usize {
        self.links.len()
    }
}

struct World {
    t0: Instant,
    now: Instant,
    a: Side,
    b: Side,
    /// Signals in flight: when they arrive, from, to, what.
    relay: VecDeque<(Instant, PeerId, PeerId, Signal)>,
    /// Candidates are lost until then (every path blocked).
    blackout_until: Instant,
    offers: usize,
    restarts: usize,
    /// The pair of links whose path died (a network changed): they connect again only once
    /// both hold an ICE restart's descriptions, and not at all if `restart_fails`.
    moved: Option<(LinkId, LinkId)>,
    restart_fails: bool,
}

/// What the room server says to `me` on entering a lesson with `everyone` in it.
fn joined(me: &str, everyone: &[&str]) -> Joined {
    Joined {
        re: None,
        lesson: LessonInfo {
            id: LessonId::from("l1"),
            code: InviteCode::parse("K7M-4QX-9TD").unwrap(),
            title: "Scales".into(),
            host_name: "김선생".into(),
            status: LessonStatus::Live,
            scheduled_for: None,
            time_zone: None,
            created_at: UnixMs(0),
            started_at: None,
            ended_at: None,
            teacher: None,
        },
        you: participant(me),
        resume_token: ResumeToken::from(format!("token-{me}").as_str()),
        participants: everyone.iter().map(|p| participant(p)).collect::<Vec<_>>(),
        waiting: Vec::new(),
        questions: Vec::new(),
        your_votes: Vec::new(),
        chat: Vec::new(),
        ice_servers: Vec::new(),
        grace_secs: 60,
    }
}

fn chat(id: u64) -> ChatMessage {
    ChatMessage {
        id: ChatId(id),
        from: PeerId::from("a"),
        from_name: "a".into(),
        text: format!("message {id}"),
        at: UnixMs(0),
    }
}

fn participant(id: &str) -> Participant {
    Participant {
        peer: PeerId::from(id),
        name: id.to_owned(),
        role: Role::Student,
        mic: true,
        connected: true,
        recording: false,
    }
}

impl World {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            now: t0,
            a: Side::new("a"),
            b: Side::new("b"),
            relay: VecDeque::new(),
            blackout_until: t0,
            offers: 0,
            restarts: 0,
            moved: None,
            restart_fails: false,
        }
    }

    /// "a" is in the lesson; "b" comes in: the room server tells "a", and gives "b" the roster.
    fn both_enter(&mut self) {
        let now = self.now;
        self.a.core.enter(now, &joined("a", &["a"]));
        self.a.core.server_message(
            now,
            ServerMessage::ParticipantUpdated {
                participant: participant("b"),
            },
        );
        self.b.core.enter(now, &joined("b", &["a", "b"]));
    }

    fn side(&mut self, id: &str) -> &mut Side {
        if id == "a" { &mut self.a } else { &mut self.b }
    }

    /// Runs both sides until `until` (from the start), a step at a time.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.settle();
            self.now += STEP;
            let now = self.now;
            for side in [&mut self.a, &mut self.b] {
                if side.core.poll_timeout().is_some_and(|t| t <= now) {
                    side.core.handle_timeout(now);
                }
            }
        }
        self.settle();
    }

    /// Effects, deliveries and connections, until nothing more happens at this instant.
    fn settle(&mut self) {
        for _ in 0..1000 {
            let now = self.now;
            let mut moved = false;
            for (from, side) in [("a", &mut self.a), ("b", &mut self.b)] {
                let down = side.down;
                for (to, signal) in side.run(now) {
                    if down {
                        continue;
                    }
                    if matches!(signal, Signal::Offer { .. }) {
                        self.offers += 1;
                    }
                    if matches!(signal, Signal::Restart { .. }) {
                        self.restarts += 1;
                    }
                    self.relay
                        .push_back((now + RELAY, PeerId::from(from), to, signal));
                    moved = true;
                }
            }
            while self.relay.front().is_some_and(|(at, ..)| *at <= now) {
                let (_, from, to, signal) = self.relay.pop_front().unwrap();
                if matches!(signal, Signal::Candidate { .. }) && now < self.blackout_until {
                    continue;
                }
                let side = self.side(to.as_str());
                if side.down {
                    continue;
                }
                side.core
                    .server_message(now, ServerMessage::Signal { from, signal });
                moved = true;
            }
            moved |= self.connect();
            if !moved {
                return;
            }
        }
        panic!("the two spin at {:?}", self.elapsed());
    }

    /// Brings up a pair of links that hold each other's descriptions and candidates.
    fn connect(&mut self) -> bool {
        let (Some(la), Some(lb)) = (self.a.live("b"), self.b.live("a")) else {
            return false;
        };
        let (na, nb) = (self.a.name(la), self.b.name(lb));
        let (x, y) = (&self.a.links[&la], &self.b.links[&lb]);
        let matched = x.remote.as_deref() == Some(&nb)
            && y.remote.as_deref() == Some(&na)
            && x.candidates.contains(&nb)
            && y.candidates.contains(&na);
        if !matched || (x.up && y.up) {
            return false;
        }
        if self.moved == Some((la, lb)) {
            if self.restart_fails || !(x.restarted && y.restarted) {
                return false;
            }
            self.moved = None;
        }
        let now = self.now;
        for (side, link) in [(&mut self.a, la), (&mut self.b, lb)] {
            side.links.get_mut(&link).unwrap().up = true;
            side.core
                .link_event(now, link, LinkEvent::State(LinkState::Connected));
            side.core.link_event(now, link, LinkEvent::RemoteAudio);
        }
        true
    }

    fn linked(&self) -> bool {
        match (self.a.live("b"), self.b.live("a")) {
            (Some(la), Some(lb)) => {
                self.a.links[&la].up
                    && self.b.links[&lb].up
                    && self.a.started.last() == Some(&la)
                    && self.b.started.last() == Some(&lb)
            }
            _ => false,
        }
    }

    /// The path between the two links dies (the student's Wi-Fi gave way to mobile data): no
    /// packet for five seconds, and ICE says `Disconnected` on both sides.
    fn path_dies(&mut self) {
        let (la, lb) = (self.a.live("b").unwrap(), self.b.live("a").unwrap());
        self.moved = Some((la, lb));
        self.run_for(Duration::from_secs(5));
        let now = self.now;
        for (side, link) in [(&mut self.a, la), (&mut self.b, lb)] {
            side.links.get_mut(&link).unwrap().up = false;
            side.core
                .link_event(now, link, LinkEvent::State(LinkState::Disconnected));
        }
    }

    /// Both in the lesson, their link up.
    fn in_lesson() -> Self {
        let mut w = Self::new();
        w.both_enter();
        w.run_for(Duration::from_secs(2));
        assert!(w.linked());
        w
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }
}

#[test]
fn two_participants_link_with_one_offer() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_millis(200));
    assert!(w.linked());
    // b's Ready (it came in) crossed a's offer and changed nothing.
    assert_eq!(w.offers, 1);
    assert_eq!((w.a.opened(), w.b.opened()), (1, 1));
    assert_eq!((w.a.failed(), w.b.failed()), (0, 0));
    for side in [&w.a, &w.b] {
        assert!(
            side.events
                .iter()
                .any(|e| matches!(e, LessonEvent::Hearing(_)))
        );
    }
    assert_eq!(w.a.core.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn a_lost_handshake_is_built_again_once_and_by_the_offerer_alone() {
    let mut w = World::new();
    w.blackout_until = w.t0 + Duration::from_secs(2);
    w.both_enter();
    w.run_for(Duration::from_millis(3990));
    assert!(!w.linked());
    w.run_for(Duration::from_millis(200));
    assert!(w.linked(), "linked again at {:?}", w.elapsed());
    assert_eq!(w.offers, 2, "one offer, one rebuild");
    // Each side let one link go (b on its own time or for the new offer, whichever came first).
    assert_eq!((w.a.opened(), w.b.opened()), (2, 2));
    assert_eq!((w.a.failed(), w.b.failed()), (1, 1));
    w.run_for(Duration::from_secs(20));
    assert_eq!(w.offers, 2, "and it stays up");
}

#[test]
fn an_answerer_whose_link_fails_gets_a_new_offer_at_once() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(2));
    assert!(w.linked());
    let old = w.b.live("a").unwrap();
    let now = w.now;
    w.b.core
        .link_event(now, old, LinkEvent::State(LinkState::Failed));
    w.run_for(Duration::from_millis(100));
    assert!(w.linked(), "b said Ready, a offered again");
    assert_eq!(w.offers, 2);
    assert!(w.b.links[&old].closed);
}

#[test]
fn a_side_that_cannot_open_links_does_not_spin() {
    let mut w = World::new();
    w.a.cannot_open = true;
    w.both_enter();
    w.run_for(Duration::from_secs(10));
    let tries =
        w.a.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    LessonEvent::Link {
                        state: LinkState::Failed,
                        ..
                    }
                )
            })
            .count();
    assert!((9..=11).contains(&tries), "one try a second: {tries}");
    w.a.cannot_open = false;
    w.run_for(Duration::from_millis(1100));
    assert!(w.linked(), "and it links once it can");
}

#[test]
fn a_participant_who_lost_the_room_server_keeps_its_link_and_is_linked_afresh_on_return() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(1));
    assert!(w.linked());
    let now = w.now;
    let away = Participant {
        connected: false,
        ..participant("b")
    };
    w.a.core
        .server_message(now, ServerMessage::ParticipantUpdated { participant: away });
    w.run_for(Duration::from_millis(100));
    assert!(w.linked(), "its link lives on: the sound is peer to peer");
    // b comes back as a new session (an app restart): a new core under the same peer id.
    w.b = Side::new("b");
    w.both_enter_again();
    w.run_for(Duration::from_millis(200));
    assert!(w.linked());
    assert_eq!(w.offers, 2);
}

impl World {
    fn both_enter_again(&mut self) {
        let now = self.now;
        self.a.core.server_message(
            now,
            ServerMessage::ParticipantUpdated {
                participant: participant("b"),
            },
        );
        self.b.core.enter(now, &joined("b", &["a", "b"]));
    }
}

#[test]
fn an_answerer_back_before_the_server_noticed_is_offered_to_at_once() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(2));
    assert!(w.linked());
    // b's app restarted so fast that a never heard it was gone: only b's Ready tells.
    w.b = Side::new("b");
    let now = w.now;
    w.b.core.enter(now, &joined("b", &["a", "b"]));
    w.run_for(Duration::from_millis(100));
    assert!(w.linked());
    assert_eq!(w.offers, 2);
}

#[test]
fn an_offerer_restarted_replaces_the_answerer_s_link() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(2));
    assert!(w.linked());
    let old = w.b.live("a").unwrap();
    w.a = Side::new("a");
    let now = w.now;
    w.a.core.enter(now, &joined("b", &["a", "b"]));
    w.run_for(Duration::from_millis(100));
    assert!(w.linked());
    assert!(w.b.links[&old].closed);
    assert!(
        w.b.events.iter().any(|e| matches!(
            e,
            LessonEvent::Link {
                state: LinkState::Closed,
                ..
            }
        )),
        "a connected link replaced is closed, not failed"
    );
}

#[test]
fn an_offer_from_the_side_that_should_answer_is_ignored() {
    let mut w = World::new();
    let now = w.now;
    w.a.core.server_message(
        now,
        ServerMessage::Signal {
            from: PeerId::from("b"),
            signal: Signal::Offer { sdp: "b:1".into() },
        },
    );
    assert_eq!(w.a.run(now), Vec::new());
    assert_eq!(w.a.opened(), 0);
}

#[test]
fn events_of_a_link_let_go_change_nothing() {
    let mut w = World::new();
    w.blackout_until = w.t0 + Duration::from_secs(2);
    w.both_enter();
    w.run_for(Duration::from_secs(5));
    assert!(w.linked());
    let first = LinkId(1);
    assert!(w.a.links[&first].closed);
    let started = w.a.started.len();
    let now = w.now;
    w.a.core
        .link_event(now, first, LinkEvent::State(LinkState::Connected));
    w.a.core
        .link_event(now, first, LinkEvent::State(LinkState::Failed));
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.a.started.len(), started);
    assert_eq!(w.offers, 2);
}

#[test]
fn a_stale_answer_is_not_applied_twice() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    w.a.core.server_message(
        now,
        ServerMessage::Signal {
            from: PeerId::from("b"),
            signal: Signal::Answer { sdp: "b:9".into() },
        },
    );
    w.run_for(Duration::from_millis(100));
    assert!(w.linked());
    assert_eq!(
        w.a.links[&w.a.live("b").unwrap()].remote.as_deref(),
        Some("b:1")
    );
}

#[test]
fn knocks_are_admitted_for_everyone_policy_and_reported() {
    let t0 = Instant::now();
    let mut core = LessonCore::new(
        PeerId::from("a"),
        AdmitPolicy::Everyone,
        Duration::from_secs(4),
    );
    let knock = Knock {
        peer: PeerId::from("k"),
        name: "Omar".into(),
        role: tutti_protocol::JoinRole::Student,
        at: tutti_protocol::UnixMs(0),
    };
    core.server_message(
        t0,
        ServerMessage::Knocking {
            knock: knock.clone(),
        },
    );
    assert_eq!(
        core.poll_effect(),
        Some(Effect::Send(ClientMessage::Admit {
            peer: PeerId::from("k")
        }))
    );
    assert_eq!(
        core.poll_effect(),
        Some(Effect::Emit(LessonEvent::Knocking(knock)))
    );
}

#[test]
fn a_lost_room_server_is_tried_again_ever_later_while_the_links_live_on() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(1));
    assert!(w.linked());
    let lost = w.now;
    w.a.down = true;
    w.a.core.server_lost(lost);
    // Every try fails until the server is back, 12 s later.
    while w.now < lost + Duration::from_secs(12) {
        let tried = w.a.rejoins.len();
        w.run_for(STEP);
        if w.a.rejoins.len() > tried {
            let now = w.now;
            w.a.core.rejoin_failed(now, None);
        }
    }
    let waits: Vec<u128> =
        w.a.rejoins
            .iter()
            .map(|t| (*t - lost).as_millis())
            .collect();
    // The first at once (the harness looks a step later), then each wait twice the one before.
    assert_eq!(waits, [10, 260, 760, 1760, 3760, 7760, 11760]);
    assert!(w.linked(), "the sound went on");
    assert_eq!(
        w.a.events
            .iter()
            .filter(|e| matches!(e, LessonEvent::RoomServer { reachable: false }))
            .count(),
        1
    );
    w.a.down = false;
    let now = w.now;
    w.a.core.rejoined(now, joined("a", &["a", "b"]));
    w.run_for(Duration::from_millis(200));
    assert!(w.linked());
    assert_eq!(w.offers, 1, "a link that lived through it is left alone");
    assert!(matches!(
        w.a.events.last(),
        Some(LessonEvent::Participant(_))
    ));
    assert!(
        w.a.events
            .contains(&LessonEvent::RoomServer { reachable: true })
    );
}

#[test]
fn links_lost_while_the_room_server_was_away_are_built_again_on_return() {
    let mut w = World::new();
    w.both_enter();
    w.run_for(Duration::from_secs(2));
    let now = w.now;
    w.a.down = true;
    w.a.core.server_lost(now);
    // The network changes under both: the link fails; a's new offer and b's Ready are lost.
    for (side, peer) in [(&mut w.a, "b"), (&mut w.b, "a")] {
        let link = side.live(peer).unwrap();
        side.core
            .link_event(now, link, LinkEvent::State(LinkState::Failed));
    }
    w.run_for(Duration::from_secs(3));
    assert!(!w.linked());
    w.a.down = false;
    let now = w.now;
    w.a.core.rejoined(now, joined("a", &["a", "b"]));
    w.run_for(Duration::from_millis(200));
    assert!(w.linked(), "linked again at once");
}

#[test]
fn rejoining_tells_the_ui_only_what_it_missed() {
    let t0 = Instant::now();
    let mut core = LessonCore::new(
        PeerId::from("b"),
        AdmitPolicy::Manual,
        Duration::from_secs(4),
    );
    let mut entered = joined("b", &["a", "b", "c"]);
    entered.chat = vec![chat(1)];
    core.enter(t0, &entered);
    core.server_message(t0, ServerMessage::ChatPosted { message: chat(2) });
    core.server_lost(t0);
    while core.poll_effect().is_some() {}
    let mut back = joined("b", &["a", "b"]);
    back.chat = vec![chat(1), chat(2), chat(3)];
    core.rejoined(t0 + Duration::from_secs(2), back);
    let mut effects = Vec::new();
    while let Some(e) = core.poll_effect() {
        effects.push(e);
    }
    let chats: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(LessonEvent::Chat(m)) => Some(m.id.0),
            _ => None,
        })
        .collect();
    assert_eq!(chats, [3]);
    assert!(effects.contains(&Effect::Emit(LessonEvent::Left(PeerId::from("c")))));
    assert!(effects.contains(&Effect::Emit(LessonEvent::RoomServer { reachable: true })));
}

#[test]
fn the_lesson_is_over_once_the_grace_period_is_over_with_the_server_s_reason() {
    let t0 = Instant::now();
    let mut core = LessonCore::new(
        PeerId::from("a"),
        AdmitPolicy::Manual,
        Duration::from_secs(4),
    );
    core.enter(t0, &joined("a", &["a", "b"]));
    core.server_message(
        t0,
        ServerMessage::ServerClosing {
            reason: "restarting".into(),
        },
    );
    core.server_lost(t0);
    let mut now = t0;
    let mut tries = 0;
    while core.over().is_none() {
        if let Some(t) = core.poll_timeout() {
            now = now.max(t);
        }
        core.handle_timeout(now);
        while let Some(e) = core.poll_effect() {
            if matches!(e, Effect::Rejoin { .. }) {
                tries += 1;
                core.rejoin_failed(now, None);
            }
        }
        assert!(tries < 100);
    }
    assert_eq!(
        now,
        t0 + Duration::from_secs(60),
        "tried to the end of the grace period"
    );
    assert_eq!(
        core.over(),
        Some(&OverReason::ServerClosed("restarting".into()))
    );
    core.server_lost(now);
    core.server_message(
        now,
        ServerMessage::ParticipantUpdated {
            participant: participant("c"),
        },
    );
    core.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(core.poll_effect(), None, "nothing after the end");
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn a_lesson_that_ended_meanwhile_is_over_at_the_first_refusal() {
    let t0 = Instant::now();
    let mut core = LessonCore::new(
        PeerId::from("a"),
        AdmitPolicy::Manual,
        Duration::from_secs(4),
    );
    core.enter(t0, &joined("a", &["a"]));
    core.server_lost(t0);
    core.handle_timeout(t0);
    core.rejoin_failed(t0, Some(OverReason::Ended));
    assert_eq!(core.over(), Some(&OverReason::Ended));
}

#[test]
fn the_mic_grant_decides_who_sends_and_who_is_heard() {
    let mut w = World::new();
    // b comes in as an observer: no mic.
    let observer = Participant {
        mic: false,
        ..participant("b")
    };
    let now = w.now;
    w.a.core.enter(now, &joined("a", &["a"]));
    w.a.core.server_message(
        now,
        ServerMessage::ParticipantUpdated {
            participant: observer.clone(),
        },
    );
    let mut as_b = joined("b", &["a"]);
    as_b.you = observer.clone();
    as_b.participants.push(observer.clone());
    w.b.core.enter(now, &as_b);
    w.run_for(Duration::from_millis(200));
    assert!(w.linked(), "an observer is linked: it hears the lesson");
    let b = PeerId::from("b");
    assert_eq!(w.b.grants, [Effect::SendAllowed(false)]);
    assert_eq!(
        w.a.grants,
        [
            Effect::SendAllowed(true),
            Effect::Hear {
                peer: b.clone(),
                allowed: false
            }
        ]
    );
    assert!(!w.a.core.may_speak(&b));
    // The host hands b the mic (a voice question): both sides hear of it from the room server.
    let granted = Participant {
        mic: true,
        ..observer
    };
    let now = w.now;
    for side in [&mut w.a, &mut w.b] {
        side.core.server_message(
            now,
            ServerMessage::ParticipantUpdated {
                participant: granted.clone(),
            },
        );
    }
    w.run_for(STEP);
    assert_eq!(w.b.grants.last(), Some(&Effect::SendAllowed(true)));
    assert_eq!(
        w.a.grants.last(),
        Some(&Effect::Hear {
            peer: b.clone(),
            allowed: true
        })
    );
    assert!(w.a.core.may_speak(&b));
    // The same news again changes nothing.
    let (na, nb) = (w.a.grants.len(), w.b.grants.len());
    w.a.core.server_message(
        now,
        ServerMessage::ParticipantUpdated {
            participant: granted,
        },
    );
    w.run_for(STEP);
    assert_eq!((w.a.grants.len(), w.b.grants.len()), (na, nb));
}

#[test]
fn a_link_whose_path_dies_is_restarted_not_rebuilt() {
    let mut w = World::in_lesson();
    let (la, lb) = (w.a.live("b").unwrap(), w.b.live("a").unwrap());
    w.path_dies();
    w.run_for(RESTART_AFTER - STEP);
    assert_eq!(w.restarts, 0, "not before RESTART_AFTER");
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.restarts, 1);
    assert!(w.linked(), "up again at {:?}", w.elapsed());
    // The same links, their media never stopped and started again.
    assert_eq!((w.a.live("b"), w.b.live("a")), (Some(la), Some(lb)));
    assert_eq!((w.offers, w.a.failed(), w.b.failed()), (1, 0, 0));
    assert_eq!((w.a.started.len(), w.b.started.len()), (1, 1));
    w.run_for(Duration::from_secs(30));
    assert_eq!((w.restarts, w.offers), (1, 1), "and it stays up");
    assert_eq!(w.a.core.poll_timeout(), None);
}

#[test]
fn a_restart_that_finds_no_path_gives_way_to_a_new_link() {
    let mut w = World::in_lesson();
    w.restart_fails = true;
    w.path_dies();
    w.run_for(RESTART_AFTER + Duration::from_millis(100));
    assert_eq!(w.restarts, 1);
    assert!(!w.linked());
    // connect_within (4 s here) after the restart: a new link, which connects.
    w.run_for(Duration::from_secs(4));
    assert!(w.linked(), "rebuilt at {:?}", w.elapsed());
    assert_eq!((w.restarts, w.offers), (1, 2));
    assert_eq!(w.a.opened(), 2);
}

#[test]
fn a_path_back_before_restart_after_costs_nothing() {
    let mut w = World::in_lesson();
    let now = w.now;
    let la = w.a.live("b").unwrap();
    w.a.core
        .link_event(now, la, LinkEvent::State(LinkState::Disconnected));
    w.run_for(RESTART_AFTER / 2);
    let now = w.now;
    w.a.core
        .link_event(now, la, LinkEvent::State(LinkState::Connected));
    w.run_for(Duration::from_secs(10));
    assert_eq!((w.restarts, w.offers), (0, 1));
}

#[test]
fn no_restart_while_the_room_server_cannot_carry_it() {
    let mut w = World::in_lesson();
    let now = w.now;
    w.a.down = true;
    w.a.core.server_lost(now);
    w.path_dies();
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.restarts, 0, "an offer the room server cannot carry");
    // Back on the room server: the restart goes out, and the link is up again.
    w.a.down = false;
    let rejoin_at = *w.a.rejoins.last().expect("a asked to rejoin");
    assert!(rejoin_at <= w.now);
    let now = w.now;
    w.a.core.rejoined(now, joined("a", &["a", "b"]));
    w.run_for(RESTART_AFTER + Duration::from_millis(100));
    assert_eq!(w.restarts, 1);
    assert!(w.linked(), "up again at {:?}", w.elapsed());
}

#[test]
fn an_answerer_without_the_link_answers_a_restart_with_ready() {
    let mut w = World::in_lesson();
    let now = w.now;
    w.b.core.server_message(
        now,
        ServerMessage::Signal {
            // Sorts before "b", so offers to it; b has no link to it.
            from: PeerId::from("a0"),
            signal: Signal::Restart { sdp: "a0:9".into() },
        },
    );
    let out = w.b.run(now);
    assert_eq!(out, [(PeerId::from("a0"), Signal::Ready)]);
}

#[test]
fn a_restart_lost_with_the_room_server_s_connection_is_a_new_link_on_return() {
    let mut w = World::in_lesson();
    // The address changed: the room server's connection is dead too, though not yet known.
    w.a.down = true;
    w.path_dies();
    w.run_for(RESTART_AFTER + Duration::from_millis(100));
    assert_eq!(w.restarts, 0, "the restart's offer went nowhere");
    let now = w.now;
    w.a.core.server_lost(now);
    w.run_for(Duration::from_secs(1));
    w.a.down = false;
    let now = w.now;
    w.a.core.rejoined(now, joined("a", &["a", "b"]));
    w.run_for(Duration::from_millis(200));
    assert!(w.linked(), "a new link at {:?}", w.elapsed());
    assert_eq!(w.offers, 2);
}

#[test]
fn a_restart_the_answerer_missed_while_away_is_a_new_link_on_its_return() {
    let mut w = World::in_lesson();
    // b's address changed: its room-server connection died with the path.
    w.b.down = true;
    w.path_dies();
    let now = w.now;
    let mut away = participant("b");
    away.connected = false;
    w.a.core
        .server_message(now, ServerMessage::ParticipantUpdated { participant: away });
    w.run_for(RESTART_AFTER + Duration::from_millis(100));
    assert_eq!(w.restarts, 1, "a restarts; b, away, never gets it");
    w.run_for(Duration::from_secs(1));
    w.b.down = false;
    let now = w.now;
    w.a.core.server_message(
        now,
        ServerMessage::ParticipantUpdated {
            participant: participant("b"),
        },
    );
    w.run_for(Duration::from_millis(200));
    assert!(w.linked(), "a new link at {:?}", w.elapsed());
    assert_eq!(w.offers, 2);
}
