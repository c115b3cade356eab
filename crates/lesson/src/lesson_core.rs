//! The lesson's one owner of who is linked to whom, sans IO: room-server messages, link events,
//! the results of link operations and the time go in; effects (open, offer, answer, close a
//! link, send to the room server, tell the UI) come out. The engine runs it in one task and
//! carries out its effects; the tests here drive two of them at exact times.
//!
//! Who offers: of two participants, the one whose peer id sorts first. The offerer alone builds
//! links again (after a failure, a stall, or when told the other side has none); the answerer
//! makes a link only for an offer, replaces its link for every new offer, and after a failure
//! of its own drops its link and says `Ready`. So two sides never build at once, and whatever
//! fails, the offerer's next offer is what both end up with. Candidates wait until the
//! descriptions they belong to are in place (ours sent, theirs applied).

use crate::engine::{AdmitPolicy, LessonEvent, OverReason};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};
use tutti_media::{LinkEvent, LinkState};
use tutti_protocol::{
    ChatId, ClientMessage, Joined, Knock, LessonId, Participant, PeerId, ResumeToken,
    ServerMessage, Signal,
};

/// A link is rebuilt no sooner than this after it was opened, whatever asks for it: a side that
/// cannot open links (no network) must not make the two spin.
pub const MIN_LINK_LIFE: Duration = Duration::from_secs(1);
/// A link that was up and is still `Disconnected` this long after ICE said so (itself five
/// seconds without a packet) gets an ICE restart from the offerer: a path found again on the same
/// link, instead of waiting fifteen more seconds for ICE to fail and building a new one. Not
/// sooner: a network that comes back by itself brings the old path back within milliseconds, and
/// a restart started during the cut replaces the sockets that path needs (a 5-s cut then took
/// 2.7 s to sound, not 8–94 ms) and sends its offer down a room-server connection that may be
/// stalled too.
pub const RESTART_AFTER: Duration = Duration::from_secs(5);

/// The first retry of a lost room server comes this soon; each next one waits twice as long,
/// up to `MAX_REJOIN_WAIT`, until the server's grace period is over.
pub const FIRST_REJOIN_WAIT: Duration = Duration::from_millis(250);
pub const MAX_REJOIN_WAIT: Duration = Duration::from_secs(4);

/// One media link, as the core and the engine both name it. Never reused within a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link {}", self.0)
    }
}

/// A trickled ICE candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

impl Candidate {
    fn signal(self) -> Signal {
        Signal::Candidate {
            candidate: self.candidate,
            sdp_mid: self.sdp_mid,
            sdp_mline_index: self.sdp_mline_index,
        }
    }
}

/// What the engine is to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open a media link to `peer`, named `link` from now on. Then `opened` or `broken`.
    OpenLink {
        peer: PeerId,
        link: LinkId,
    },
    /// Write an offer on `link`. Then `offer_made` or `broken`.
    MakeOffer {
        link: LinkId,
    },
    /// Write an offer with fresh ICE credentials on `link`, which keeps its DTLS and tracks.
    /// Then `restart_made` or `broken`.
    RestartIce {
        link: LinkId,
    },
    /// Apply `offer` to `link` and write the answer. Then `answer_made` or `broken`.
    MakeAnswer {
        link: LinkId,
        offer: String,
    },
    /// Apply their ICE restart's `offer` to `link` (new sockets and candidates here too) and
    /// write the answer. Then `answer_made` or `broken`.
    AnswerRestart {
        link: LinkId,
        offer: String,
    },
    /// Apply their answer. Then `answer_applied` or `broken`.
    ApplyAnswer {
        link: LinkId,
        answer: String,
    },
    AddCandidate {
        link: LinkId,
        candidate: Candidate,
    },
    /// The link is up: send on it and hear from it.
    StartMedia {
        peer: PeerId,
        link: LinkId,
    },
    /// Stop its media and close it; nothing more is asked of it.
    CloseLink {
        link: LinkId,
    },
    /// To the room server, without waiting for its reply.
    Send(ClientMessage),
    /// Connect to the room server anew and rejoin. Then `rejoined` or `rejoin_failed`.
    Rejoin {
        lesson: LessonId,
        peer: PeerId,
        token: ResumeToken,
    },
    /// Send our sound or hold it back: the room server's mic grant for us.
    SendAllowed(bool),
    /// Play `peer`'s sound or not: the room server's mic grant for them.
    Hear {
        peer: PeerId,
        allowed: bool,
    },
    /// For the UI.
    Emit(LessonEvent),
}

/// What `handle_timeout` found due for a peer.
enum Due {
    /// The held-back rebuild.
    Rebuild,
    /// A link that never connected.
    GiveUp,
    /// An ICE restart, or giving one up.
    Restart,
}

/// Where one peer's link is in its negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Negotiation {
    /// Offerer: no link; one is opened at `until` (a rebuild held back by `MIN_LINK_LIFE`).
    Waiting { until: Instant },
    /// Offerer: the link is being opened and our offer written.
    Offering,
    /// Offerer: an ICE restart's offer is being written on the link we have.
    Restarting,
    /// Offerer: our offer went out.
    AwaitingAnswer,
    /// Offerer: their answer is being applied.
    ApplyingAnswer,
    /// Answerer: their offer is being applied and our answer written.
    Answering,
    /// Both descriptions are in place.
    Stable,
}

impl Negotiation {
    /// Our description has gone to them: our candidates may follow it.
    fn local_sent(self) -> bool {
        matches!(
            self,
            Self::AwaitingAnswer | Self::ApplyingAnswer | Self::Stable
        )
    }
}

#[derive(Debug)]
struct PeerState {
    link: LinkId,
    negotiation: Negotiation,
    opened_at: Instant,
    connected: bool,
    /// Since when ICE has said `Disconnected` on this link (it was up before).
    lost_at: Option<Instant>,
    /// Since when an ICE restart has been under way; cleared when the link is up again.
    restart_at: Option<Instant>,
    pending_local: Vec<Candidate>,
    pending_remote: Vec<Candidate>,
}

/// Our connection to the room server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Up,
    /// Lost at `since`; the next try at `next` (none while one is under way).
    Down {
        since: Instant,
        tries: u32,
        next: Option<Instant>,
    },
}

impl PeerState {
    fn new(link: LinkId, negotiation: Negotiation, now: Instant) -> Self {
        Self {
            link,
            negotiation,
            opened_at: now,
            connected: false,
            lost_at: None,
            restart_at: None,
            pending_local: Vec::new(),
            pending_remote: Vec::new(),
        }
    }
}

pub struct LessonCore {
    me: PeerId,
    lesson: Option<LessonId>,
    token: Option<ResumeToken>,
    /// How long the room server keeps our place after losing us.
    grace: Duration,
    server: Server,
    /// The others in the lesson as last told, with their mic grant: to tell the UI who went
    /// while we were away, and who may be heard.
    roster: BTreeMap<PeerId, bool>,
    my_mic: bool,
    waiting: BTreeSet<PeerId>,
    /// Others the room server last said were away from it.
    away: BTreeSet<PeerId>,
    chat_seen: HashSet<ChatId>,
    admit: AdmitPolicy,
    /// A link neither connected nor failed after this long is given up (see `EngineConfig`).
    connect_within: Duration,
    peers: BTreeMap<PeerId, PeerState>,
    next_link: u64,
    effects: VecDeque<Effect>,
    /// The room server said why it goes; told if the connection then closes.
    closing: Option<OverReason>,
    over: Option<OverReason>,
}

impl LessonCore {
    pub fn new(me: PeerId, admit: AdmitPolicy, connect_within: Duration) -> Self {
        Self {
            me,
            lesson: None,
            token: None,
            grace: Duration::ZERO,
            server: Server::Up,
            roster: BTreeMap::new(),
            my_mic: true,
            waiting: BTreeSet::new(),
            away: BTreeSet::new(),
            chat_seen: HashSet::new(),
            admit,
            connect_within,
            peers: BTreeMap::new(),
            next_link: 1,
            effects: VecDeque::new(),
            closing: None,
            over: None,
        }
    }

    /// We are in, as the room server's `joined` says.
    pub fn enter(&mut self, now: Instant, joined: &Joined) {
        self.lesson = Some(joined.lesson.id.clone());
        self.token = Some(joined.resume_token.clone());
        self.grace = Duration::from_secs(joined.grace_secs);
        self.chat_seen = joined.chat.iter().map(|m| m.id).collect();
        self.waiting = joined.waiting.iter().map(|k| k.peer.clone()).collect();
        self.my_mic = joined.you.mic;
        self.effects.push_back(Effect::SendAllowed(self.my_mic));
        for p in &joined.participants {
            if p.peer == self.me {
                continue;
            }
            self.roster.insert(p.peer.clone(), p.mic);
            if !p.mic {
                self.effects.push_back(Effect::Hear {
                    peer: p.peer.clone(),
                    allowed: false,
                });
            }
            if !p.connected {
                continue;
            }
            if self.we_offer(&p.peer) {
                self.open(now, &p.peer);
            } else {
                // They may hold a link to an earlier session of ours: tell them we have none.
                self.signal(&p.peer, Signal::Ready);
            }
        }
        for knock in joined.waiting.clone() {
            self.knock(knock);
        }
    }

    /// Back in after a lost connection: the UI is brought up to date (who came and went, the
    /// queue, the chat missed), and links that did not live through it are built again. Links
    /// that did are left alone: the sound never stopped.
    pub fn rejoined(&mut self, now: Instant, joined: Joined) {
        if self.over.is_some() {
            return;
        }
        self.server = Server::Up;
        self.token = Some(joined.resume_token.clone());
        self.emit(LessonEvent::RoomServer { reachable: true });
        let present: BTreeSet<PeerId> =
            joined.participants.iter().map(|p| p.peer.clone()).collect();
        let gone: Vec<PeerId> = self
            .roster
            .keys()
            .filter(|p| !present.contains(*p))
            .cloned()
            .collect();
        for peer in gone {
            self.roster.remove(&peer);
            self.away.remove(&peer);
            self.forget(&peer, LinkState::Closed);
            self.emit(LessonEvent::Left(peer));
        }
        for p in joined.participants {
            let peer = p.peer.clone();
            let connected = p.connected;
            if connected {
                self.away.remove(&peer);
            } else {
                self.away.insert(peer.clone());
            }
            self.mic_of(&p);
            self.emit(LessonEvent::Participant(p));
            if peer == self.me || !connected {
                continue;
            }
            let up = self
                .peers
                .get(&peer)
                .map(|s| (s.connected, s.restart_at.is_some()));
            match (self.we_offer(&peer), up) {
                // An ICE restart's offer may have gone down with the connection, and the link
                // has been without media since: a new link now, not when the restart times out.
                (true, Some((true, true))) => self.fail(now, &peer),
                (_, Some((true, _))) => {}
                // Whatever was under way may have been lost with the connection.
                (true, Some((false, _))) => self.fail(now, &peer),
                (true, None) => self.open(now, &peer),
                (false, _) => {
                    self.forget(&peer, LinkState::Failed);
                    self.signal(&peer, Signal::Ready);
                }
            }
        }
        let knocking: BTreeSet<PeerId> = joined.waiting.iter().map(|k| k.peer.clone()).collect();
        for withdrawn in self
            .waiting
            .difference(&knocking)
            .cloned()
            .collect::<Vec<_>>()
        {
            self.emit(LessonEvent::KnockWithdrawn(withdrawn));
        }
        self.waiting.clear();
        for knock in joined.waiting {
            self.knock(knock);
        }
        for q in joined.questions {
            self.emit(LessonEvent::Question(q));
        }
        for m in joined.chat {
            if self.chat_seen.insert(m.id) {
                self.emit(LessonEvent::Chat(m));
            }
        }
    }

    /// A try to rejoin did not work: `fatal` says the lesson is over for us (it ended, our
    /// place is gone), else it is tried again until the grace period is over.
    pub fn rejoin_failed(&mut self, now: Instant, fatal: Option<OverReason>) {
        let Server::Down { since, tries, .. } = self.server else {
            return;
        };
        if let Some(why) = fatal {
            return self.finish(why);
        }
        if now >= since + self.grace {
            let why = self.closing.take().unwrap_or(OverReason::Disconnected);
            return self.finish(why);
        }
        let wait = FIRST_REJOIN_WAIT
            .saturating_mul(1 << tries.saturating_sub(1).min(16))
            .min(MAX_REJOIN_WAIT);
        self.server = Server::Down {
            since,
            tries,
            next: Some((now + wait).min(since + self.grace)),
        };
    }

    pub fn server_message(&mut self, now: Instant, msg: ServerMessage) {
        if self.over.is_some() {
            return;
        }
        match msg {
            ServerMessage::Knocking { knock } => self.knock(knock),
            ServerMessage::KnockWithdrawn { peer } => {
                self.waiting.remove(&peer);
                self.emit(LessonEvent::KnockWithdrawn(peer));
            }
            ServerMessage::ParticipantUpdated { participant } => {
                let peer = participant.peer.clone();
                self.mic_of(&participant);
                if peer != self.me {
                    let back = if participant.connected {
                        self.away.remove(&peer)
                    } else {
                        self.away.insert(peer.clone());
                        false
                    };
                    // One that lost the room server keeps its link: peer to peer, the sound
                    // may well still flow. If it does not, the link fails and is rebuilt.
                    if participant.connected && self.we_offer(&peer) {
                        match self.peers.get(&peer) {
                            None => self.open(now, &peer),
                            // Back on the room server while our ICE restart was under way: it
                            // may never have reached them. A new link now.
                            Some(p) if back && p.restart_at.is_some() => self.fail(now, &peer),
                            Some(_) => {}
                        }
                    }
                }
                self.emit(LessonEvent::Participant(participant));
            }
            ServerMessage::ParticipantLeft { peer, .. } => {
                self.roster.remove(&peer);
                self.away.remove(&peer);
                self.forget(&peer, LinkState::Closed);
                self.emit(LessonEvent::Left(peer));
            }
            ServerMessage::Signal { from, signal } => self.on_signal(now, from, signal),
            ServerMessage::QuestionUpdated { question } => {
                self.emit(LessonEvent::Question(question))
            }
            ServerMessage::ChatPosted { message } => {
                if self.chat_seen.insert(message.id) {
                    self.emit(LessonEvent::Chat(message));
                }
            }
            ServerMessage::LessonEnded { .. } => self.finish(OverReason::Ended),
            ServerMessage::Removed { .. } => self.finish(OverReason::Removed),
            ServerMessage::SessionReplaced { .. } => self.finish(OverReason::Replaced),
            ServerMessage::ServerClosing { reason } => {
                self.closing = Some(OverReason::ServerClosed(reason));
            }
            other => tracing::debug!(?other, "lesson event"),
        }
    }

    /// The connection to the room server is gone. The links carry on; we try to get back in
    /// (a server that restarts said so; a lost one did not) for as long as it keeps our place.
    pub fn server_lost(&mut self, now: Instant) {
        if self.over.is_some() || self.server != Server::Up {
            return;
        }
        if self.lesson.is_none() || self.grace.is_zero() {
            let why = self.closing.take().unwrap_or(OverReason::Disconnected);
            return self.finish(why);
        }
        self.server = Server::Down {
            since: now,
            tries: 0,
            next: Some(now),
        };
        self.emit(LessonEvent::RoomServer { reachable: false });
    }

    /// An event of `link`'s (candidates already rewritten, or left out, by the engine).
    pub fn link_event(&mut self, now: Instant, link: LinkId, event: LinkEvent) {
        let Some(peer) = self.peer_of(link) else {
            return; // a link we let go; its last words do not matter
        };
        match event {
            LinkEvent::LocalCandidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let c = Candidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                };
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if p.negotiation.local_sent() {
                    self.signal(&peer, c.signal());
                } else {
                    p.pending_local.push(c);
                }
            }
            // The engine acts on these itself (the metronome is not the core's).
            LinkEvent::GatheringComplete | LinkEvent::ChannelOpen | LinkEvent::Metronome => {}
            LinkEvent::RemoteAudio => self.emit(LessonEvent::Hearing(peer)),
            // The engine's, with the files they are about.
            LinkEvent::TakeReceived(_)
            | LinkEvent::TakeDelivered(_)
            | LinkEvent::TakeRefused { .. } => {}
            LinkEvent::State(state) => match state {
                LinkState::Connected => {
                    if let Some(p) = self.peers.get_mut(&peer) {
                        (p.lost_at, p.restart_at) = (None, None);
                        if !p.connected {
                            p.connected = true;
                            self.effects.push_back(Effect::StartMedia {
                                peer: peer.clone(),
                                link,
                            });
                        }
                    }
                    self.emit(LessonEvent::Link { peer, state });
                }
                LinkState::Disconnected => {
                    if let Some(p) = self.peers.get_mut(&peer)
                        && p.connected
                    {
                        p.lost_at.get_or_insert(now);
                    }
                    self.emit(LessonEvent::Link { peer, state });
                }
                LinkState::Connecting => {
                    self.emit(LessonEvent::Link { peer, state });
                }
                // ICE gave up, or the link closed under us: build it again.
                LinkState::Failed | LinkState::Closed => {
                    tracing::warn!(%peer, %link, ?state, "the media link is lost");
                    self.fail(now, &peer);
                }
            },
        }
    }

    /// `OpenLink`, `MakeOffer`, `RestartIce`, `MakeAnswer`, `AnswerRestart` or `ApplyAnswer` on
    /// `link` did not work.
    pub fn broken(&mut self, now: Instant, link: LinkId, why: &str) {
        if let Some(peer) = self.peer_of(link) {
            tracing::warn!(%peer, %link, why, "the media link cannot be set up");
            self.fail(now, &peer);
        }
    }

    pub fn offer_made(&mut self, link: LinkId, sdp: String) {
        self.offer_out(link, Negotiation::Offering, Signal::Offer { sdp });
    }

    /// The ICE restart's offer is written.
    pub fn restart_made(&mut self, link: LinkId, sdp: String) {
        self.offer_out(link, Negotiation::Restarting, Signal::Restart { sdp });
    }

    /// An offer written from `from` goes to them, with the candidates held for it.
    fn offer_out(&mut self, link: LinkId, from: Negotiation, offer: Signal) {
        let Some((peer, p)) = self.advance(link, from, Negotiation::AwaitingAnswer) else {
            return;
        };
        let held = std::mem::take(&mut p.pending_local);
        self.signal(&peer, offer);
        for c in held {
            self.signal(&peer, c.signal());
        }
    }

    pub fn answer_made(&mut self, link: LinkId, sdp: String) {
        let Some((peer, p)) = self.advance(link, Negotiation::Answering, Negotiation::Stable)
        else {
            return;
        };
        let held = std::mem::take(&mut p.pending_local);
        let early = std::mem::take(&mut p.pending_remote);
        self.signal(&peer, Signal::Answer { sdp });
        for c in held {
            self.signal(&peer, c.signal());
        }
        for candidate in early {
            self.effects
                .push_back(Effect::AddCandidate { link, candidate });
        }
    }

    pub fn answer_applied(&mut self, link: LinkId) {
        let Some((_, p)) = self.advance(link, Negotiation::ApplyingAnswer, Negotiation::Stable)
        else {
            return;
        };
        for candidate in std::mem::take(&mut p.pending_remote) {
            self.effects
                .push_back(Effect::AddCandidate { link, candidate });
        }
    }

    /// Moves `link`'s negotiation from `from` to `to`, if it is the current link and there:
    /// the result of an operation on a link let go, or come twice, changes nothing.
    fn advance(
        &mut self,
        link: LinkId,
        from: Negotiation,
        to: Negotiation,
    ) -> Option<(PeerId, &mut PeerState)> {
        let peer = self.peer_of(link)?;
        let p = self.peers.get_mut(&peer)?;
        if p.negotiation != from {
            return None;
        }
        p.negotiation = to;
        Some((peer, p))
    }

    /// When `handle_timeout` wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.over.is_some() {
            return None;
        }
        let rejoin = match self.server {
            Server::Down { next, .. } => next,
            Server::Up => None,
        };
        self.peers
            .iter()
            .filter_map(|(peer, p)| match p.negotiation {
                Negotiation::Waiting { until } => Some(until),
                _ if !p.connected => Some(p.opened_at + self.connect_within),
                _ => self.restart_due(peer, p),
            })
            .chain(rejoin)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.over.is_some() {
            return;
        }
        if let Server::Down {
            since,
            tries,
            next: Some(at),
        } = self.server
            && at <= now
            && let (Some(lesson), Some(token)) = (self.lesson.clone(), self.token.clone())
        {
            self.server = Server::Down {
                since,
                tries: tries + 1,
                next: None,
            };
            self.effects.push_back(Effect::Rejoin {
                lesson,
                peer: self.me.clone(),
                token,
            });
        }
        let due: Vec<(PeerId, Due)> = self
            .peers
            .iter()
            .filter_map(|(peer, p)| match p.negotiation {
                Negotiation::Waiting { until } => {
                    (until <= now).then(|| (peer.clone(), Due::Rebuild))
                }
                _ if !p.connected && p.opened_at + self.connect_within <= now => {
                    Some((peer.clone(), Due::GiveUp))
                }
                _ if self.restart_due(peer, p).is_some_and(|t| t <= now) => {
                    Some((peer.clone(), Due::Restart))
                }
                _ => None,
            })
            .collect();
        for (peer, due) in due {
            match due {
                Due::Rebuild => self.open(now, &peer),
                Due::GiveUp => {
                    tracing::warn!(%peer, after = ?self.connect_within, "no connection: building the link again");
                    self.fail(now, &peer);
                }
                Due::Restart => self.restart(now, &peer),
            }
        }
    }

    /// When the link to `peer` wants an ICE restart, or (one under way) to be given up for a
    /// new one. Only the offerer restarts, only from a settled negotiation, and only while the
    /// room server can carry the offer.
    fn restart_due(&self, peer: &PeerId, p: &PeerState) -> Option<Instant> {
        if !p.connected || !self.we_offer(peer) {
            return None;
        }
        match (p.restart_at, p.lost_at) {
            (Some(at), _) => Some(at + self.connect_within),
            (None, Some(lost))
                if p.negotiation == Negotiation::Stable && self.server == Server::Up =>
            {
                Some(lost + RESTART_AFTER)
            }
            _ => None,
        }
    }

    /// The ICE restart for `peer` is due: the first time, a restart; if one did not bring the
    /// link back in `connect_within`, a new link.
    fn restart(&mut self, now: Instant, peer: &PeerId) {
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        if p.restart_at.is_some() {
            tracing::warn!(%peer, "the ICE restart did not bring the link back: building it again");
            self.fail(now, peer);
            return;
        }
        tracing::info!(%peer, "no media on the link: restarting ICE");
        p.restart_at = Some(now);
        p.negotiation = Negotiation::Restarting;
        let link = p.link;
        self.effects.push_back(Effect::RestartIce { link });
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Why the lesson is over for us, once it is; nothing more comes out after that.
    pub fn over(&self) -> Option<&OverReason> {
        self.over.as_ref()
    }

    /// The link to `peer` now, if any.
    pub fn link_of(&self, peer: &PeerId) -> Option<LinkId> {
        self.peers
            .get(peer)
            .filter(|p| !matches!(p.negotiation, Negotiation::Waiting { .. }))
            .map(|p| p.link)
    }

    /// Whether `peer` may be heard (the room server has given it the mic).
    pub fn may_speak(&self, peer: &PeerId) -> bool {
        self.roster.get(peer).copied().unwrap_or(true)
    }

    /// Takes note of a participant's mic grant, and acts on a change.
    fn mic_of(&mut self, p: &Participant) {
        if p.peer == self.me {
            if self.my_mic != p.mic {
                self.my_mic = p.mic;
                self.effects.push_back(Effect::SendAllowed(p.mic));
            }
            return;
        }
        let before = self.roster.insert(p.peer.clone(), p.mic);
        if before.unwrap_or(true) != p.mic {
            self.effects.push_back(Effect::Hear {
                peer: p.peer.clone(),
                allowed: p.mic,
            });
        }
    }

    fn we_offer(&self, peer: &PeerId) -> bool {
        self.me.as_str() < peer.as_str()
    }

    fn peer_of(&self, link: LinkId) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.link == link && !matches!(p.negotiation, Negotiation::Waiting { .. }))
            .map(|(peer, _)| peer.clone())
    }

    fn knock(&mut self, knock: Knock) {
        if self.admit == AdmitPolicy::Everyone {
            self.effects.push_back(Effect::Send(ClientMessage::Admit {
                peer: knock.peer.clone(),
            }));
        }
        self.emit(LessonEvent::Knocking(knock));
    }

    fn on_signal(&mut self, now: Instant, from: PeerId, signal: Signal) {
        match signal {
            Signal::Offer { sdp } => {
                if self.we_offer(&from) {
                    tracing::warn!(%from, "an offer from a participant we offer to: ignored");
                    return;
                }
                // Every offer is a fresh start of theirs (a rebuild, an app restart): the link
                // we had goes, whatever state it was in.
                let had = self.peers.get(&from).map(|p| p.connected);
                if let Some(connected) = had {
                    let state = if connected {
                        LinkState::Closed
                    } else {
                        LinkState::Failed
                    };
                    self.forget(&from, state);
                }
                let link = self.new_link();
                self.peers.insert(
                    from.clone(),
                    PeerState::new(link, Negotiation::Answering, now),
                );
                self.effects.push_back(Effect::OpenLink {
                    peer: from.clone(),
                    link,
                });
                self.effects
                    .push_back(Effect::MakeAnswer { link, offer: sdp });
            }
            Signal::Answer { sdp } => {
                let Some(p) = self.peers.get_mut(&from) else {
                    return;
                };
                if p.negotiation != Negotiation::AwaitingAnswer {
                    tracing::debug!(%from, "an answer we are not waiting for: ignored");
                    return;
                }
                p.negotiation = Negotiation::ApplyingAnswer;
                let link = p.link;
                self.effects
                    .push_back(Effect::ApplyAnswer { link, answer: sdp });
            }
            Signal::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let c = Candidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                };
                let Some(p) = self.peers.get_mut(&from) else {
                    return;
                };
                match p.negotiation {
                    Negotiation::Stable => {
                        let link = p.link;
                        self.effects
                            .push_back(Effect::AddCandidate { link, candidate: c });
                    }
                    Negotiation::Waiting { .. } => {}
                    _ => p.pending_remote.push(c),
                }
            }
            Signal::EndOfCandidates => {}
            Signal::Restart { sdp } => {
                if self.we_offer(&from) {
                    tracing::warn!(%from, "an ICE restart from a participant we offer to: ignored");
                    return;
                }
                match self.peers.get_mut(&from) {
                    // The same link, looking for a path again: answered on it.
                    Some(p) if p.negotiation == Negotiation::Stable => {
                        p.negotiation = Negotiation::Answering;
                        let link = p.link;
                        self.effects
                            .push_back(Effect::AnswerRestart { link, offer: sdp });
                    }
                    // A link we no longer hold (or one being set up anew): start over.
                    _ => {
                        self.forget(&from, LinkState::Failed);
                        self.signal(&from, Signal::Ready);
                    }
                }
            }
            Signal::Ready => {
                if !self.we_offer(&from) {
                    return;
                }
                match self.peers.get(&from).map(|p| (p.negotiation, p.restart_at)) {
                    // Our offer for a new link is on its way to them, or a rebuild is due.
                    Some((
                        Negotiation::Offering
                        | Negotiation::AwaitingAnswer
                        | Negotiation::Waiting { .. },
                        None,
                    )) => {}
                    // They have no link: whatever ours is talking to is gone.
                    Some(_) => self.fail(now, &from),
                    None => self.open(now, &from),
                }
            }
        }
    }

    /// The link to `peer` is lost: the offerer builds another (held back by `MIN_LINK_LIFE`),
    /// the answerer lets it go and says it is ready for an offer.
    fn fail(&mut self, now: Instant, peer: &PeerId) {
        let Some(p) = self.peers.get(peer) else {
            return;
        };
        if matches!(p.negotiation, Negotiation::Waiting { .. }) {
            return;
        }
        let until = p.opened_at + MIN_LINK_LIFE;
        self.forget(peer, LinkState::Failed);
        if self.we_offer(peer) {
            if until <= now {
                self.open(now, peer);
            } else {
                self.peers.insert(
                    peer.clone(),
                    PeerState::new(LinkId(0), Negotiation::Waiting { until }, now),
                );
            }
        } else {
            self.signal(peer, Signal::Ready);
        }
    }

    /// Offerer: a new link and our offer on it.
    fn open(&mut self, now: Instant, peer: &PeerId) {
        if self
            .peers
            .get(peer)
            .is_some_and(|p| !matches!(p.negotiation, Negotiation::Waiting { .. }))
        {
            self.forget(peer, LinkState::Failed);
        }
        let link = self.new_link();
        self.peers.insert(
            peer.clone(),
            PeerState::new(link, Negotiation::Offering, now),
        );
        self.effects.push_back(Effect::OpenLink {
            peer: peer.clone(),
            link,
        });
        self.effects.push_back(Effect::MakeOffer { link });
    }

    /// Lets go of `peer`'s link (telling the UI it is `state`), and of the peer.
    fn forget(&mut self, peer: &PeerId, state: LinkState) {
        let Some(p) = self.peers.remove(peer) else {
            return;
        };
        if matches!(p.negotiation, Negotiation::Waiting { .. }) {
            return;
        }
        self.effects.push_back(Effect::CloseLink { link: p.link });
        self.emit(LessonEvent::Link {
            peer: peer.clone(),
            state,
        });
    }

    fn finish(&mut self, why: OverReason) {
        if self.over.is_none() {
            self.emit(LessonEvent::Over(why.clone()));
            self.over = Some(why);
        }
    }

    fn new_link(&mut self) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        id
    }

    fn signal(&mut self, to: &PeerId, signal: Signal) {
        self.effects.push_back(Effect::Send(ClientMessage::Signal {
            to: to.clone(),
            signal,
        }));
    }

    fn emit(&mut self, event: LessonEvent) {
        self.effects.push_back(Effect::Emit(event));
    }
}

#[cfg(test)]
mod tests;
