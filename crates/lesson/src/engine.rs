//! A lesson from one participant's side: the room-server client, one peer link per remote
//! participant, the audio loops, and the queue and chat as events. The desktop app and the
//! headless peer are both thin shells over this.
//!
//! Who links to whom, and when a link is built again, is `LessonCore`'s to decide; this runs it
//! and does what it says.

use crate::client::{ClientError, RoomClient, lock};
use crate::lesson_core::{Effect, LessonCore, LinkId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
pub use tutti_media::ReceivedVideo;
use tutti_media::clock::monotonic_ns;
use tutti_media::duet::{Alignment, Clip};
use tutti_media::fader::{Fader, FaderError};
use tutti_media::impair::CandidateRewrite;
use tutti_media::metronome::Beat;
use tutti_media::pipeline::{
    ClockSource, DuetError, DuetStatus, Fanout, Mix, PipelineError, PlayoutLoop, ReplayError,
    ReplayOf, SendLoop,
};
use tutti_media::recorder::{Recording, Stopped};
use tutti_media::recording::RecordingError;
use tutti_media::signal::{AudioSink, AudioSource};
use tutti_media::take_transfer::TakeToSend;
use tutti_media::tcp_turn::{TcpTurnBridge, bridge_tcp_turn, client_tls};
use tutti_media::tuner::{self, Pitch, Tuner};
use tutti_media::video::{
    I420Frame, VideoFanout, VideoSendLoop, VideoSource, Vp8Config, Vp8Decoder, Vp8Error,
};
use tutti_media::{
    IceServerConfig, LinkConfig, LinkEvent, LinkState, MusicConfig, PathKind, PeerLink,
    RelayTransport,
};
use tutti_protocol::{
    Accent, ChatMessage, ClientMessage, ErrorCode, HostToken, InviteCode, JoinRole, Joined, Knock,
    LessonId, LessonInfo, MetronomeError, MetronomePlan, Participant, PeerId, Question,
    ResumeToken, Role, ServerMessage, UnixMs,
};

#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the host did not let you in")]
    Denied,
    #[error("the lesson has ended")]
    Ended,
    #[error(transparent)]
    Media(#[from] PipelineError),
    #[error("video: {0}")]
    Video(#[from] Vp8Error),
    #[error("only the host runs the metronome")]
    NotHost,
    #[error(transparent)]
    Metronome(#[from] MetronomeError),
}

/// The metronome as the host sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetronomeSettings {
    pub bpm: f64,
    /// One per beat of the bar; empty: four beats, the first strong.
    pub accents: Vec<Accent>,
    pub count_in_bars: u8,
}

/// The first beat of a new plan is this far ahead, plus the slowest link's round trip, so
/// that every machine has the plan before it sounds.
const METRONOME_LEAD: Duration = Duration::from_millis(400);

/// A decoded picture from a participant, for whoever shows it.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub picture: I420Frame,
    /// When its last packet arrived.
    pub arrived: std::time::Instant,
}

/// Where decoded pictures go (called on a decoder thread per participant; keep it quick).
pub type VideoSink = Arc<dyn Fn(&PeerId, VideoFrame) + Send + Sync>;

/// Where still-coded pictures go, for a consumer that decodes them itself (a web view's
/// WebCodecs): every frame, in order, as it arrived (VP8 needs each one to decode the next).
pub type EncodedVideoSink = Arc<dyn Fn(&PeerId, &ReceivedVideo) + Send + Sync>;

/// What is done with the others' pictures.
#[derive(Clone)]
pub enum VideoOutput {
    /// Decoded here, one thread per participant.
    Decoded(VideoSink),
    /// Handed on as they arrived.
    Encoded(EncodedVideoSink),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitPolicy {
    /// Everyone who knocks is let in (a practice partner, a recorder, tests).
    Everyone,
    /// Knocks are reported as events; the caller admits or denies.
    Manual,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The room server's WebSocket, e.g. `ws://127.0.0.1:8787/ws`.
    pub server: String,
    pub name: String,
    pub music: MusicConfig,
    /// Local UDP sockets for media; all interfaces by default.
    pub udp_addrs: Vec<String>,
    pub admit: AdmitPolicy,
    /// Rewrites every ICE candidate exchanged (benchmarks route media through an impairment
    /// stage this way); `None` leaves them as they are.
    pub candidate_rewrite: Option<CandidateRewrite>,
    /// Media only through the relay (hides the two sides' addresses from each other).
    pub relay_only: bool,
    /// A private CA (PEM) to trust, besides the system's, for a self-hosted room server
    /// (`wss://`) and relay (`turns:`).
    pub trust_ca_pem: Option<Vec<u8>>,
    /// Video (VP8) beside the audio on every link.
    pub video: bool,
    /// As host: the teacher's key and page, published with the lesson it creates.
    pub teacher: Option<(String, tutti_protocol::TeacherPage)>,
    /// As host: where the takes participants send us are kept (none: they are refused).
    pub take_inbox: Option<std::path::PathBuf>,
    /// The pace our takes travel to the host at, bytes a second.
    pub take_bytes_per_s: u64,
    /// A link neither connected nor failed after this long is stuck (a handshake lost for good,
    /// a path that died half-way) and is built again, as a failed one is.
    pub connect_within: Duration,
}

impl EngineConfig {
    pub fn new(server: &str, name: &str) -> Self {
        Self {
            server: server.to_owned(),
            name: name.to_owned(),
            music: MusicConfig::default(),
            udp_addrs: vec!["0.0.0.0:0".into()],
            admit: AdmitPolicy::Manual,
            candidate_rewrite: None,
            relay_only: false,
            trust_ca_pem: None,
            teacher: None,
            video: false,
            take_inbox: None,
            take_bytes_per_s: tutti_media::link::TAKE_BYTES_PER_S,
            connect_within: Duration::from_secs(15),
        }
    }
}

/// How the audio from and to one participant is doing, for the connection indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStats {
    pub peer: PeerId,
    /// ICE's round-trip measurement on the path in use.
    pub rtt_ms: Option<f64>,
    /// Their sound to our ears, estimated: half the round trip, one frame of packetisation,
    /// the codec's 2.5 ms look-ahead, and what waits in our jitter buffer.
    pub one_way_ms: Option<f64>,
    /// The sound cards' part of it: our speaker's delay, and our microphone's standing in
    /// for theirs (which is not sent), when the sound server says.
    pub devices_ms: Option<f64>,
    /// Their microphone to our ear, measured sample for sample (their stream's timestamps,
    /// anchored to their clock, against where our sound card is): what `one_way_ms` estimates.
    pub heard_after_ms: Option<f64>,
    /// Our microphone to their ear, as they measured it.
    pub they_hear_after_ms: Option<f64>,
    pub path: Option<PathKind>,
    /// When relayed, how the relay is reached (UDP, TCP, or TLS).
    pub relay_over: Option<RelayTransport>,
    /// The spread of packet delays the jitter buffer measures.
    pub jitter_ms: f64,
    pub buffer_ms: f64,
    pub target_ms: f64,
    /// Frames whose packet did not arrive in time.
    pub loss_pct: f64,
    /// Frames not played from their own packet (lost, late, or inserted for drift).
    pub concealed_pct: f64,
    /// Frames played in all since the link began (so a window's concealment can be had from
    /// two readings).
    pub frames: u64,
    /// Level of what we hear from them, 0–1.
    pub level: f32,
    /// Their clock minus ours (the clock exchange on the link's data channel), ms, and the
    /// estimate's statistical error.
    pub clock_offset_ms: Option<f64>,
    pub clock_uncertainty_ms: Option<f64>,
    /// How much faster their clock runs than ours, ppm.
    pub clock_drift_ppm: Option<f64>,
    /// How much faster than nominal their sound is played, ppm: their sound card's clock
    /// against ours, followed by resampling.
    pub playout_rate_ppm: f64,
}

/// What happens in the lesson, for the UI or the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum LessonEvent {
    Knocking(Knock),
    /// A knocking participant gave up waiting.
    KnockWithdrawn(PeerId),
    Participant(Participant),
    Left(PeerId),
    /// The media connection to a participant changed state.
    Link {
        peer: PeerId,
        state: LinkState,
    },
    /// A participant's audio has started to arrive.
    Hearing(PeerId),
    /// The room server was lost (the links carry on; we are getting back in), or is back.
    RoomServer {
        reachable: bool,
    },
    Question(Question),
    Chat(ChatMessage),
    /// The host started, changed or stopped (`None`) the metronome.
    Metronome(Option<MetronomePlan>),
    /// The lesson is over for us, and why.
    Over(OverReason),
    /// As host: a participant's take arrived, whole and verified, and is kept here.
    TakeReceived {
        from: PeerId,
        take: tutti_media::take_transfer::ReceivedTake,
    },
    /// The host has our take (its track's file), whole and verified.
    TakeDelivered(std::path::PathBuf),
    /// Our take (its track's file) cannot reach the host, and why.
    TakeNotDelivered {
        path: std::path::PathBuf,
        reason: String,
    },
}

struct Shared {
    /// Replaced when the lesson rejoins after a lost connection.
    client: Mutex<Arc<RoomClient>>,
    /// The room server, to connect to again.
    server: String,
    /// A CA to trust for `wss://` besides the system's (`EngineConfig::trust_ca_pem`).
    trust_ca_pem: Option<Arc<[u8]>>,
    me: PeerId,
    link_cfg: LinkConfig,
    admit: AdmitPolicy,
    rewrite: Option<CandidateRewrite>,
    connect_within: Duration,
    /// Each remote participant's link now; written by the lesson's task alone, read by stats.
    peers: Mutex<HashMap<PeerId, Arc<PeerLink>>>,
    fanout: Fanout,
    mix: Mix,
    /// Our name (our own track's).
    name: String,
    recording: Mutex<Option<Recording>>,
    events: mpsc::UnboundedSender<LessonEvent>,
    /// Bridges to TURN servers reachable over TCP only; they live as long as the lesson.
    tcp_turn: Vec<TcpTurnBridge>,
    video_fanout: VideoFanout,
    video_sink: Mutex<Option<VideoOutput>>,
    /// We are the host: the metronome's shared time is ours, and we send it.
    is_host: bool,
    /// As host, the metronome as last set (revision 0: never).
    metronome: Mutex<(u64, Option<MetronomePlan>)>,
    /// The host, whose metronome (and clock) we follow.
    host: Mutex<Option<PeerId>>,
    /// Our takes still to reach the host, oldest first: sent on each link to the host, which
    /// says from where (a rebuilt link goes on where the last one stopped).
    takes_out: Mutex<Vec<TakeToSend>>,
}

impl Shared {
    /// How relayed media reaches the relay now: through a TLS bridge that carried media
    /// lately, else a TCP one, else (no bridge carries any) over UDP.
    fn relay_transport(&self) -> RelayTransport {
        let lately = |b: &&TcpTurnBridge| b.carried_media_within(Duration::from_secs(3));
        let active: Vec<&TcpTurnBridge> = self.tcp_turn.iter().filter(lately).collect();
        if active.iter().any(|b| b.is_tls()) {
            RelayTransport::Tls
        } else if active.is_empty() {
            RelayTransport::Udp
        } else {
            RelayTransport::Tcp
        }
    }

    fn client(&self) -> Arc<RoomClient> {
        lock(&self.client).clone()
    }
}

/// A lesson we are in.
pub struct Lesson {
    shared: Arc<Shared>,
    pub info: LessonInfo,
    pub you: Participant,
    /// The lesson as it was when we came in: participants, waiting room, queue, chat, votes.
    /// Events tell of every change after it.
    pub entered: Joined,
    /// Only for a lesson we created.
    pub host_token: Option<HostToken>,
    events: mpsc::UnboundedReceiver<LessonEvent>,
    task: tokio::task::JoinHandle<()>,
    send: Option<SendLoop>,
    play: Option<PlayoutLoop<Box<dyn AudioSink>>>,
    video_send: Option<VideoSendLoop>,
}

impl Lesson {
    /// Creates a lesson now and opens it as its host.
    pub async fn host(cfg: EngineConfig, title: &str) -> Result<Lesson, LessonError> {
        let (client, server_events) =
            RoomClient::connect_trusting(&cfg.server, "tutti-lesson", cfg.trust_ca_pem.as_deref())
                .await?;
        let created = client
            .request(ClientMessage::CreateLesson {
                title: title.to_owned(),
                host_name: cfg.name.clone(),
                scheduled_for: None,
                time_zone: None,
                teacher_key: cfg.teacher.as_ref().map(|(key, _)| key.clone()),
                teacher: cfg.teacher.as_ref().map(|(_, page)| page.clone()),
            })
            .await?;
        let ServerMessage::LessonCreated {
            lesson, host_token, ..
        } = created
        else {
            return Err(ClientError::Unexpected(format!("{created:?}")).into());
        };
        let joined = client
            .request(ClientMessage::StartLesson {
                lesson: lesson.id,
                host_token: host_token.clone(),
            })
            .await?;
        let ServerMessage::Joined(joined) = joined else {
            return Err(ClientError::Unexpected(format!("{joined:?}")).into());
        };
        let mut lesson = Self::enter(cfg, client, server_events, *joined);
        lesson.host_token = Some(host_token);
        Ok(lesson)
    }

    /// Opens (again) a lesson we host, with its host token: after an app restart, or from
    /// another machine. A connection still holding it is replaced.
    pub async fn reopen(
        cfg: EngineConfig,
        lesson: &LessonId,
        host_token: &HostToken,
    ) -> Result<Lesson, LessonError> {
        let (client, server_events) =
            RoomClient::connect_trusting(&cfg.server, "tutti-lesson", cfg.trust_ca_pem.as_deref())
                .await?;
        let joined = client
            .request(ClientMessage::StartLesson {
                lesson: lesson.clone(),
                host_token: host_token.clone(),
            })
            .await?;
        let ServerMessage::Joined(joined) = joined else {
            return Err(ClientError::Unexpected(format!("{joined:?}")).into());
        };
        let mut lesson = Self::enter(cfg, client, server_events, *joined);
        lesson.host_token = Some(host_token.clone());
        Ok(lesson)
    }

    /// Knocks with `code` and waits until the host lets us in.
    pub async fn join(
        cfg: EngineConfig,
        code: &str,
        role: JoinRole,
    ) -> Result<Lesson, LessonError> {
        let (client, mut server_events) =
            RoomClient::connect_trusting(&cfg.server, "tutti-lesson", cfg.trust_ca_pem.as_deref())
                .await?;
        client
            .request(ClientMessage::Knock {
                code: code.to_owned(),
                name: cfg.name.clone(),
                role,
            })
            .await?;
        loop {
            match server_events.recv().await {
                Some(ServerMessage::Joined(joined)) => {
                    return Ok(Self::enter(cfg, client, server_events, *joined));
                }
                Some(ServerMessage::Denied { .. }) => return Err(LessonError::Denied),
                Some(ServerMessage::LessonEnded { .. }) => return Err(LessonError::Ended),
                Some(other) => tracing::debug!(?other, "while waiting to be admitted"),
                None => return Err(ClientError::Closed.into()),
            }
        }
    }

    fn enter(
        cfg: EngineConfig,
        client: Arc<RoomClient>,
        server_events: mpsc::UnboundedReceiver<ServerMessage>,
        joined: Joined,
    ) -> Lesson {
        let (events_tx, events) = mpsc::unbounded_channel();
        let given: Vec<IceServerConfig> = joined
            .ice_servers
            .iter()
            .map(|s| IceServerConfig {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        let tls = cfg.trust_ca_pem.as_deref().and_then(|pem| {
            client_tls(Some(pem))
                .map_err(|e| tracing::warn!(error = %e, "the CA to trust is not usable"))
                .ok()
        });
        let (ice_servers, tcp_turn) = bridge_tcp_turn(&given, tls);
        let link_cfg = LinkConfig {
            ice_servers,
            udp_addrs: cfg.udp_addrs.clone(),
            relay_only: cfg.relay_only,
            video: cfg.video,
            take_inbox: (joined.you.role == Role::Host)
                .then(|| cfg.take_inbox.clone())
                .flatten(),
            take_bytes_per_s: cfg.take_bytes_per_s,
            ..LinkConfig::new(cfg.music)
        };
        // What we send is also our part of a leader–follower duet, kept by the mix.
        let (fanout, mix) = (Fanout::default(), Mix::default());
        fanout.record_into(mix.kept());
        for p in &joined.participants {
            mix.name_part(p.peer.as_str(), &p.name);
        }
        let shared = Arc::new(Shared {
            client: Mutex::new(client),
            server: cfg.server.clone(),
            trust_ca_pem: cfg.trust_ca_pem.as_deref().map(Arc::from),
            me: joined.you.peer.clone(),
            link_cfg,
            admit: cfg.admit,
            rewrite: cfg.candidate_rewrite.clone(),
            connect_within: cfg.connect_within,
            peers: Mutex::new(HashMap::new()),
            fanout,
            mix,
            name: cfg.name.clone(),
            recording: Mutex::new(None),
            events: events_tx,
            tcp_turn,
            video_fanout: VideoFanout::default(),
            video_sink: Mutex::new(None),
            is_host: joined.you.role == Role::Host,
            takes_out: Mutex::new(Vec::new()),
            metronome: Mutex::new((0, None)),
            host: Mutex::new(
                joined
                    .participants
                    .iter()
                    .find(|p| p.role == Role::Host)
                    .map(|p| p.peer.clone()),
            ),
        });
        let task = tokio::spawn(run(shared.clone(), server_events, joined.clone()));
        Lesson {
            shared,
            info: joined.lesson.clone(),
            you: joined.you.clone(),
            entered: joined,
            host_token: None,
            events,
            task,
            send: None,
            play: None,
            video_send: None,
        }
    }

    pub fn invite_code(&self) -> &InviteCode {
        &self.info.code
    }

    /// Starts our audio: `source` goes to everyone, everyone is mixed into `sink`.
    pub fn start_audio(
        &mut self,
        source: Box<dyn AudioSource>,
        sink: Box<dyn AudioSink>,
        music: MusicConfig,
    ) -> Result<(), LessonError> {
        self.play = Some(PlayoutLoop::spawn(
            self.shared.mix.clone(),
            music.frame,
            sink,
        )?);
        self.send = Some(SendLoop::spawn(self.shared.fanout.clone(), source, music)?);
        Ok(())
    }

    /// Starts video (the lesson's links must have been made with `EngineConfig::video`):
    /// pictures from `source` (none: receive only) go to everyone, everyone's go to `sink`.
    pub fn start_video(
        &mut self,
        source: Option<Box<dyn VideoSource>>,
        sink: VideoSink,
        cfg: Vp8Config,
    ) -> Result<(), LessonError> {
        self.start_video_to(source, VideoOutput::Decoded(sink), cfg)
    }

    /// As `start_video`, with the others' pictures going to `output`.
    pub fn start_video_to(
        &mut self,
        source: Option<Box<dyn VideoSource>>,
        output: VideoOutput,
        cfg: Vp8Config,
    ) -> Result<(), LessonError> {
        *lock(&self.shared.video_sink) = Some(output);
        // Links already up: their video starts flowing to the sink now.
        let links: Vec<(PeerId, Arc<PeerLink>)> = lock(&self.shared.peers)
            .iter()
            .map(|(id, link)| (id.clone(), link.clone()))
            .collect();
        for (peer, link) in links {
            decode_video_of(&self.shared, &peer, &link);
        }
        if let Some(source) = source {
            self.video_send = Some(VideoSendLoop::spawn(
                self.shared.video_fanout.clone(),
                source,
                cfg,
                tokio::runtime::Handle::current(),
            )?);
        }
        Ok(())
    }

    /// When our stream's sample 0 was captured (sample `n` at `+ n / 48 kHz`), once sending.
    pub fn audio_started(&self) -> Option<std::time::Instant> {
        self.send.as_ref().map(|s| s.started)
    }

    /// The next thing that happened. `Over` comes once, last; nothing follows it.
    pub async fn next_event(&mut self) -> Option<LessonEvent> {
        self.events.recv().await
    }

    pub async fn request(&self, msg: ClientMessage) -> Result<ServerMessage, LessonError> {
        self.handle().request(msg).await
    }

    /// A handle for requests and statistics that can live apart from the lesson (a UI's
    /// command handlers, while one task waits on `next_event`).
    pub fn handle(&self) -> LessonHandle {
        LessonHandle {
            shared: self.shared.clone(),
        }
    }

    /// How many participants we have a connected media link with.
    pub fn connected_peers(&self) -> usize {
        self.shared.fanout.len()
    }

    /// Each remote participant's jitter-buffer statistics.
    pub fn receive_stats(&self) -> Vec<(PeerId, tutti_media::JitterStats)> {
        lock(&self.shared.peers)
            .iter()
            .map(|(p, link)| (p.clone(), link.jitter_stats()))
            .collect()
    }

    /// The level of what we send, 0–1.
    pub fn send_level(&self) -> f32 {
        self.shared.fanout.meter().level()
    }

    /// Per participant: round trip, estimated one-way delay, path, jitter, buffer, loss, level.
    pub async fn peer_stats(&self) -> Vec<PeerStats> {
        self.handle().peer_stats().await
    }

    /// Stops the audio (returning the sink with what it played) and leaves the lesson.
    pub async fn leave(mut self) -> Option<Box<dyn AudioSink>> {
        self.leave_inner().await
    }
}

/// Requests and statistics of a lesson, without its events; cheap to clone. Requests fail with
/// `Closed` once the lesson has been left.
#[derive(Clone)]
pub struct LessonHandle {
    shared: Arc<Shared>,
}

impl LessonHandle {
    /// Sends our take's track to the host, in the background and resumable (after a cut, a
    /// rebuilt link, the host's return), verified there by its hash; the lesson tells when it
    /// is there ([`LessonEvent::TakeDelivered`]) or why it cannot be.
    pub fn send_take(&self, take: TakeToSend) {
        {
            let mut out = lock(&self.shared.takes_out);
            if out.iter().any(|t| t.id == take.id) {
                return;
            }
            out.push(take.clone());
        }
        let host = lock(&self.shared.host).clone();
        if let Some(link) = host.and_then(|h| lock(&self.shared.peers).get(&h).cloned()) {
            link.send_take(take);
        }
    }

    /// We host this lesson.
    pub fn is_host(&self) -> bool {
        self.shared.is_host
    }

    /// Asks `peer` for a keyframe: our consumer of its pictures cannot decode what follows.
    pub fn request_keyframe(&self, peer: &PeerId) {
        if let Some(link) = lock(&self.shared.peers).get(peer) {
            link.request_keyframe();
        }
    }

    pub async fn request(&self, msg: ClientMessage) -> Result<ServerMessage, LessonError> {
        Ok(self.shared.client().request(msg).await?)
    }

    /// The level of what we send, 0–1.
    pub fn send_level(&self) -> f32 {
        self.shared.fanout.meter().level()
    }

    /// As host: starts the metronome (or changes it: a new plan starts its count-in anew),
    /// `None` stops it. Every machine plays it from the shared clock.
    pub fn set_metronome(
        &self,
        settings: Option<MetronomeSettings>,
    ) -> Result<Option<MetronomePlan>, LessonError> {
        if !self.shared.is_host {
            return Err(LessonError::NotHost);
        }
        let plan = match settings {
            Some(s) => {
                let slowest = lock(&self.shared.peers)
                    .values()
                    .filter_map(|l| l.channel().estimate())
                    .map(|e| e.rtt_ns)
                    .max()
                    .unwrap_or(0);
                let start =
                    monotonic_ns(Instant::now()) + METRONOME_LEAD.as_nanos() as u64 + slowest;
                let plan = MetronomePlan {
                    bpm: s.bpm,
                    accents: if s.accents.is_empty() {
                        MetronomePlan::accents_for(4)
                    } else {
                        s.accents
                    },
                    count_in_bars: s.count_in_bars,
                    start_ns: start,
                };
                plan.validate()?;
                Some(plan)
            }
            None => None,
        };
        let state = {
            let mut m = lock(&self.shared.metronome);
            *m = (m.0 + 1, plan.clone());
            m.clone()
        };
        for link in lock(&self.shared.peers).values() {
            link.set_metronome(state.clone());
        }
        self.shared
            .mix
            .set_metronome(plan.clone(), ClockSource::Own);
        let _ = self
            .shared
            .events
            .send(LessonEvent::Metronome(plan.clone()));
        Ok(plan)
    }

    /// The metronome playing, and the beat sounding now with how far into it we are, ns (for
    /// the screen).
    pub fn metronome(&self) -> (Option<MetronomePlan>, Option<(Beat, f64)>) {
        self.shared.mix.metronome()
    }

    /// The metronome's volume for us alone: 0 mutes it, 1 as it comes.
    pub fn set_metronome_gain(&self, gain: f32) {
        self.shared.mix.set_metronome_gain(gain);
    }

    /// Leader–follower playing: `follower` plays along with us (none: off). We keep the last
    /// half-minute of both parts, the follower's placed by when it was played.
    pub fn set_leader_follower(&self, follower: Option<&PeerId>) {
        self.shared.mix.set_duet(follower.map(PeerId::as_str));
    }

    /// Our own part in our ears, delayed to meet the follower's as it arrives (0: off).
    pub fn set_duet_live(&self, gain: f32) {
        self.shared.mix.set_duet_live(gain);
    }

    /// Plays the last `seconds` of the duet, aligned, in our ears; the lesson goes on.
    pub fn replay_duet(&self, seconds: f64) -> Result<Alignment, DuetError> {
        self.shared.mix.replay_duet(seconds)
    }

    /// Instant replay: plays the last `seconds` of `peer`'s part as we heard it (none: our
    /// own, as captured) in our ears, in place of any replay sounding; the lesson goes on.
    /// Returns how long it plays.
    pub fn replay(&self, peer: Option<&PeerId>, seconds: f64) -> Result<Duration, ReplayError> {
        self.shared.mix.replay(replay_of(peer), seconds)
    }

    /// The last `seconds` of a part, as a replay would play it (to save, or to measure).
    pub fn recent(&self, peer: Option<&PeerId>, seconds: f64) -> Result<Vec<f32>, ReplayError> {
        self.shared.mix.kept().last(&replay_of(peer), seconds)
    }

    /// Records the lesson from now on: every part to its own file in `dir` (ours, as captured,
    /// and each participant's as received, placed by when it was played at their microphone),
    /// on one timeline. One recording at a time: a second is refused. Returns the instant
    /// the timeline starts from.
    pub fn start_recording(&self, dir: &std::path::Path) -> Result<Instant, RecordingError> {
        let mut recording = lock(&self.shared.recording);
        if recording.as_ref().is_some_and(|r| !r.has_stopped()) {
            return Err(RecordingError::AlreadyRecording);
        }
        let r = self.shared.mix.record(dir, &self.shared.name)?;
        let started = r.started;
        *recording = Some(r);
        tell_recording(&self.shared, true);
        Ok(started)
    }

    /// Stops recording; the tracks written (none: nothing was being recorded). A recording
    /// that stopped by itself (a full disk) says why, beside the tracks it kept.
    pub fn stop_recording(&self) -> Stopped {
        let recording = lock(&self.shared.recording).take();
        match recording {
            Some(r) => {
                tell_recording(&self.shared, false);
                r.stop()
            }
            None => Ok(Vec::new()),
        }
    }

    /// Whether a recording is running (one that stopped by itself is not).
    pub fn is_recording(&self) -> bool {
        Self::is_recording_in(&self.shared)
    }

    fn is_recording_in(shared: &Shared) -> bool {
        lock(&shared.recording)
            .as_ref()
            .is_some_and(|r| !r.has_stopped())
    }

    /// Stops any replay, the duet's or a part's.
    pub fn stop_replay(&self) {
        self.shared.mix.stop_replay();
    }

    /// What is being replayed, and for how much longer.
    pub fn replaying(&self) -> Option<(ReplayOf, Duration)> {
        self.shared.mix.kept().playing()
    }

    /// The last `seconds` of the duet, aligned (to save, or to measure).
    pub fn duet_clip(&self, seconds: f64) -> Result<(Clip, Alignment), DuetError> {
        self.shared.mix.duet_clip(seconds)
    }

    /// Where leader–follower playing stands (none: off).
    pub fn duet(&self) -> Option<DuetStatus> {
        self.shared.mix.duet_status()
    }

    /// How long `peer`'s sound takes from its microphone to our ear, measured sample for
    /// sample (none until its stream and clock are known).
    pub fn heard_after(&self, peer: &PeerId) -> Option<Duration> {
        self.shared.mix.heard_after(peer.as_str())
    }

    /// The tuner: the pitch of our own sound (`None` as the peer) and of each participant's,
    /// against `reference_a` (415–466 Hz); none where nothing with a pitch is sounding.
    pub fn pitches(&self, reference_a: f64) -> Vec<(Option<PeerId>, Option<Pitch>)> {
        let mut tuner = Tuner::default();
        let mine = self.shared.fanout.meter().last(tuner::WINDOW);
        let mut out = vec![(None, tuner.pitch(&mine, reference_a))];
        let peers: Vec<PeerId> = lock(&self.shared.peers).keys().cloned().collect();
        for p in peers {
            let heard = self.shared.mix.recent(p.as_str(), tuner::WINDOW);
            let pitch = heard.and_then(|h| tuner.pitch(&h, reference_a));
            out.push((Some(p), pitch));
        }
        out
    }

    /// Our peer id in the lesson.
    pub fn me(&self) -> &PeerId {
        &self.shared.me
    }

    /// How we hear `peer` (volume, pan, muted for us): for us alone, kept across rebuilt
    /// links. Refused outside its ranges.
    pub fn set_fader(&self, peer: &PeerId, fader: Fader) -> Result<(), FaderError> {
        self.shared.mix.set_fader(peer.as_str(), fader.checked()?);
        Ok(())
    }

    pub fn fader(&self, peer: &PeerId) -> Fader {
        self.shared.mix.fader(peer.as_str())
    }

    /// The level of what we hear from each participant, 0–1 (cheap: for meters).
    pub fn levels(&self) -> Vec<(PeerId, f32)> {
        let peers: Vec<PeerId> = lock(&self.shared.peers).keys().cloned().collect();
        peers
            .into_iter()
            .map(|p| {
                let level = self.shared.mix.level(p.as_str()).unwrap_or(0.0);
                (p, level)
            })
            .collect()
    }

    /// Per participant: round trip, estimated one-way delay, path, jitter, buffer, loss, level.
    pub async fn peer_stats(&self) -> Vec<PeerStats> {
        let frame_ms = self.shared.link_cfg.music.frame.millis();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let devices_ms = match (self.shared.fanout.delay(), self.shared.mix.delay()) {
            (None, None) => None,
            (mic, speaker) => {
                // A side whose device does not say is taken to be like the other.
                let (m, s) = (
                    mic.or(speaker).map_or(0.0, ms),
                    speaker.or(mic).map_or(0.0, ms),
                );
                Some(m + s)
            }
        };
        let links: Vec<(PeerId, Arc<PeerLink>)> = lock(&self.shared.peers)
            .iter()
            .map(|(p, link)| (p.clone(), link.clone()))
            .collect();
        let mut out = Vec::with_capacity(links.len());
        for (peer, link) in links {
            let transport = link.transport_stats().await;
            let j = link.jitter_stats();
            let frames = (j.played + j.recovered + j.concealed + j.inserted).max(1) as f64;
            let buffer_ms = f64::from(j.depth) * frame_ms;
            let rtt_ms = transport.rtt.map(|d| d.as_secs_f64() * 1000.0);
            let clock = link.channel().estimate();
            out.push(PeerStats {
                clock_offset_ms: clock.map(|c| c.offset_ns / 1e6),
                clock_uncertainty_ms: clock.map(|c| c.uncertainty_ns / 1e6),
                clock_drift_ppm: clock.map(|c| c.drift_ppm),
                playout_rate_ppm: j.rate_ppm,
                one_way_ms: rtt_ms
                    .map(|rtt| rtt / 2.0 + frame_ms + 2.5 + buffer_ms + devices_ms.unwrap_or(0.0)),
                devices_ms,
                heard_after_ms: link.channel().heard_after().map(|d| d.as_secs_f64() * 1e3),
                they_hear_after_ms: link
                    .channel()
                    .they_heard_after()
                    .map(|d| d.as_secs_f64() * 1e3),
                rtt_ms,
                path: transport.path,
                relay_over: (transport.path == Some(PathKind::Relayed))
                    .then(|| self.shared.relay_transport()),
                jitter_ms: j.jitter_ms,
                buffer_ms,
                target_ms: f64::from(j.target) * frame_ms,
                loss_pct: 100.0 * (j.recovered + j.concealed) as f64 / frames,
                concealed_pct: 100.0 * j.concealed_ratio(),
                frames: j.played + j.recovered + j.concealed + j.inserted,
                level: self.shared.mix.level(peer.as_str()).unwrap_or(0.0),
                peer,
            });
        }
        out
    }
}

impl Lesson {
    async fn leave_inner(&mut self) -> Option<Box<dyn AudioSink>> {
        if let Some(send) = self.send.take() {
            tokio::task::spawn_blocking(move || send.stop()).await.ok();
        }
        let sink = match self.play.take() {
            Some(play) => tokio::task::spawn_blocking(move || play.stop())
                .await
                .ok()
                .flatten()
                .map(|(s, _)| s),
            None => None,
        };
        // Stop reacting to the lesson first, so that no link is made while the others close.
        self.task.abort();
        let _ = (&mut self.task).await;
        let _ = self.shared.client().request(ClientMessage::Leave).await;
        let links: Vec<Arc<PeerLink>> = lock(&self.shared.peers).drain().map(|(_, l)| l).collect();
        for link in links {
            self.shared.fanout.remove(&link);
            self.shared.video_fanout.remove(&link);
            link.close().await;
        }
        if let Some(v) = self.video_send.take() {
            v.stop();
        }
        sink
    }
}

/// Why a lesson is over for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverReason {
    /// The host ended it.
    Ended,
    /// The host removed us.
    Removed,
    /// We joined from somewhere else (another window or computer took our place).
    Replaced,
    /// The room server shut down (its own words).
    ServerClosed(String),
    /// The connection to the room server was lost.
    Disconnected,
    /// Back on the room server, we were told our place is gone (away longer than it keeps
    /// one, or the lesson no longer knows us): joining again means knocking again.
    Expired,
}

impl std::fmt::Display for OverReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ended => f.write_str("the lesson has ended"),
            Self::Removed => f.write_str("the host removed you"),
            Self::Replaced => f.write_str("you joined from somewhere else"),
            Self::ServerClosed(why) => write!(f, "the room server closed: {why}"),
            Self::Disconnected => f.write_str("disconnected from the room server"),
            Self::Expired => f.write_str("your place in the lesson was given up; join again"),
        }
    }
}

/// The lesson's one task: it owns the core and every link, and carries out the core's effects
/// in order, feeding the results of link operations straight back.
async fn run(
    shared: Arc<Shared>,
    server_events: mpsc::UnboundedReceiver<ServerMessage>,
    joined: Joined,
) {
    let (link_events, mut from_links) = mpsc::unbounded_channel();
    let (rejoin_tx, mut rejoins) = mpsc::unbounded_channel();
    // None while the room server is lost.
    let mut server_events = Some(server_events);
    let mut d = Driver {
        core: LessonCore::new(shared.me.clone(), shared.admit, shared.connect_within),
        shared,
        links: HashMap::new(),
        link_events,
        rejoin_tx,
    };
    d.core.enter(Instant::now(), &joined);
    loop {
        d.execute().await;
        if d.core.over().is_some() {
            return;
        }
        let deadline = d.core.poll_timeout();
        let due = async move {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = async {
                match server_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match msg {
                Some(msg) => d.core.server_message(Instant::now(), msg),
                None => {
                    tracing::warn!("lost the room server; the links carry on");
                    server_events = None;
                    d.core.server_lost(Instant::now());
                }
            },
            Some(result) = rejoins.recv() => match result {
                Ok((client, events, joined)) => {
                    tracing::info!("back in the lesson on the room server");
                    *lock(&d.shared.client) = client;
                    server_events = Some(events);
                    d.core.rejoined(Instant::now(), joined);
                    // The server keeps no one's recording across its own restart: say it again.
                    if LessonHandle::is_recording_in(&d.shared) {
                        tell_recording(&d.shared, true);
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "could not rejoin yet");
                    let fatal = match &e {
                        LessonError::Ended => Some(OverReason::Ended),
                        LessonError::Client(ClientError::Refused { code, .. }) => {
                            Some(match code {
                                ErrorCode::SessionExpired
                                | ErrorCode::NotInLesson
                                | ErrorCode::NoSuchLesson => OverReason::Expired,
                                _ => OverReason::Disconnected,
                            })
                        }
                        _ => None,
                    };
                    d.core.rejoin_failed(Instant::now(), fatal);
                }
            },
            Some((link, event)) = from_links.recv() => {
                let event = match event {
                    LinkEvent::LocalCandidate { candidate, sdp_mid, sdp_mline_index } => {
                        match rewrite_candidate(&d.shared, candidate) {
                            Some(candidate) => LinkEvent::LocalCandidate { candidate, sdp_mid, sdp_mline_index },
                            None => continue,
                        }
                    }
                    LinkEvent::Metronome => {
                        d.follow_metronome(link);
                        continue;
                    }
                    LinkEvent::TakeReceived(take) => {
                        if let Some(from) = d.links.get(&link).map(|l| l.peer.clone()) {
                            let _ = d.shared.events.send(LessonEvent::TakeReceived { from, take });
                        }
                        continue;
                    }
                    LinkEvent::TakeDelivered(take) => {
                        lock(&d.shared.takes_out).retain(|t| t.id != take.id);
                        let _ = d.shared.events.send(LessonEvent::TakeDelivered(take.path));
                        continue;
                    }
                    LinkEvent::TakeRefused { take, reason } => {
                        tracing::warn!(%reason, take = %take.id, "a take cannot reach the host");
                        lock(&d.shared.takes_out).retain(|t| t.id != take.id);
                        let _ = d.shared.events.send(LessonEvent::TakeNotDelivered { path: take.path, reason });
                        continue;
                    }
                    other => other,
                };
                d.core.link_event(Instant::now(), link, event);
            }
            () = due => d.core.handle_timeout(Instant::now()),
        }
    }
}

struct OpenLink {
    peer: PeerId,
    link: Arc<PeerLink>,
    /// Relays the link's events, named, to the lesson's task.
    forward: tokio::task::JoinHandle<()>,
}

type Rejoined = (
    Arc<RoomClient>,
    mpsc::UnboundedReceiver<ServerMessage>,
    Joined,
);

struct Driver {
    shared: Arc<Shared>,
    core: LessonCore,
    links: HashMap<LinkId, OpenLink>,
    link_events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    rejoin_tx: mpsc::UnboundedSender<Result<Rejoined, LessonError>>,
}

/// One try to get back into the lesson on a new connection.
async fn rejoin(
    server: &str,
    trust_ca_pem: Option<&[u8]>,
    lesson: LessonId,
    peer: PeerId,
    token: ResumeToken,
) -> Result<Rejoined, LessonError> {
    let (client, events) =
        RoomClient::connect_trusting(server, "tutti-lesson", trust_ca_pem).await?;
    match client
        .request(ClientMessage::Rejoin {
            lesson,
            peer,
            token,
        })
        .await
    {
        Ok(ServerMessage::Joined(joined)) => Ok((client, events, *joined)),
        Ok(other) => Err(ClientError::Unexpected(format!("{other:?}")).into()),
        Err(ClientError::Refused {
            code: ErrorCode::LessonEnded,
            ..
        }) => Err(LessonError::Ended),
        Err(e) => Err(e.into()),
    }
}

impl Driver {
    fn link(&self, id: LinkId) -> Option<Arc<PeerLink>> {
        self.links.get(&id).map(|l| l.link.clone())
    }

    /// A metronome came on `id`: played if it is the host's, at the host's time as the
    /// link's clock exchange reads it.
    fn follow_metronome(&self, id: LinkId) {
        let Some(open) = self.links.get(&id) else {
            return;
        };
        if self.shared.is_host || lock(&self.shared.host).as_ref() != Some(&open.peer) {
            tracing::debug!(peer = %open.peer, "a metronome from someone not the host; ignored");
            return;
        }
        let Some((_, plan)) = open.link.metronome_in() else {
            return;
        };
        self.shared
            .mix
            .set_metronome(plan.clone(), ClockSource::Link(open.link.channel().clone()));
        let _ = self.shared.events.send(LessonEvent::Metronome(plan));
    }

    async fn execute(&mut self) {
        let shared = self.shared.clone();
        while let Some(effect) = self.core.poll_effect() {
            match effect {
                Effect::OpenLink { peer, link: id } => {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    match PeerLink::new(&shared.link_cfg, tx).await {
                        Ok(link) => {
                            let link = Arc::new(link);
                            if let Some(audio) = link.take_audio() {
                                shared
                                    .mix
                                    .add_timed(peer.as_str(), audio, link.channel().clone());
                            }
                            shared
                                .mix
                                .set_muted(peer.as_str(), !self.core.may_speak(&peer));
                            lock(&shared.peers).insert(peer.clone(), link.clone());
                            if lock(&shared.host).as_ref() == Some(&peer) {
                                for take in lock(&shared.takes_out).iter() {
                                    link.send_take(take.clone());
                                }
                            }
                            let metronome = lock(&shared.metronome).clone();
                            if shared.is_host && metronome.0 > 0 {
                                link.set_metronome(metronome);
                            }
                            let out = self.link_events.clone();
                            let forward = tokio::spawn(async move {
                                while let Some(e) = rx.recv().await {
                                    if out.send((id, e)).is_err() {
                                        break;
                                    }
                                }
                            });
                            self.links.insert(
                                id,
                                OpenLink {
                                    peer,
                                    link,
                                    forward,
                                },
                            );
                        }
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::MakeOffer { link: id } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.offer().await {
                        Ok(sdp) => self.core.offer_made(id, rewrite_sdp(&shared, sdp)),
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::RestartIce { link: id } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.restart_offer().await {
                        Ok(sdp) => self.core.restart_made(id, rewrite_sdp(&shared, sdp)),
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::AnswerRestart { link: id, offer } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.restart_answer(&rewrite_sdp(&shared, offer)).await {
                        Ok(sdp) => self.core.answer_made(id, rewrite_sdp(&shared, sdp)),
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::MakeAnswer { link: id, offer } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.answer(&rewrite_sdp(&shared, offer)).await {
                        Ok(sdp) => self.core.answer_made(id, rewrite_sdp(&shared, sdp)),
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::ApplyAnswer { link: id, answer } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.accept_answer(&rewrite_sdp(&shared, answer)).await {
                        Ok(()) => self.core.answer_applied(id),
                        Err(e) => self.core.broken(Instant::now(), id, &e.to_string()),
                    }
                }
                Effect::AddCandidate {
                    link: id,
                    candidate: c,
                } => {
                    let Some(link) = self.link(id) else { continue };
                    let Some(candidate) = rewrite_candidate(&shared, c.candidate) else {
                        continue;
                    };
                    if let Err(e) = link
                        .add_candidate(&candidate, c.sdp_mid, c.sdp_mline_index)
                        .await
                    {
                        tracing::debug!(error = %e, %id, "remote candidate refused");
                    }
                }
                Effect::StartMedia { peer, link: id } => {
                    let Some(link) = self.link(id) else { continue };
                    match link.send_format().await {
                        Ok(format) => {
                            shared.fanout.add(link.clone(), format);
                            if let Some(pt) = link.video_payload_type().await {
                                shared.video_fanout.add(link.clone(), pt);
                            }
                            decode_video_of(&shared, &peer, &link);
                        }
                        Err(e) => tracing::warn!(error = %e, %peer, "connected but not negotiated"),
                    }
                }
                Effect::CloseLink { link: id } => {
                    let Some(open) = self.links.remove(&id) else {
                        continue;
                    };
                    open.forward.abort();
                    shared.fanout.remove(&open.link);
                    shared.video_fanout.remove(&open.link);
                    {
                        let mut peers = lock(&shared.peers);
                        if peers
                            .get(&open.peer)
                            .is_some_and(|l| Arc::ptr_eq(l, &open.link))
                        {
                            peers.remove(&open.peer);
                            shared.mix.remove(open.peer.as_str());
                        }
                    }
                    // Closing waits on the network; nothing here needs to.
                    tokio::spawn(async move { open.link.close().await });
                }
                Effect::Rejoin {
                    lesson,
                    peer,
                    token,
                } => {
                    let server = shared.server.clone();
                    let trust = shared.trust_ca_pem.clone();
                    let done = self.rejoin_tx.clone();
                    tokio::spawn(async move {
                        let rejoined = rejoin(&server, trust.as_deref(), lesson, peer, token);
                        let _ = done.send(rejoined.await);
                    });
                }
                Effect::Send(msg @ ClientMessage::Signal { .. }) => {
                    if let Err(e) = shared.client().send(msg) {
                        tracing::debug!(error = %e, "signal not sent");
                    }
                }
                Effect::Send(msg) => {
                    let client = shared.client();
                    tokio::spawn(async move {
                        if let Err(e) = client.request(msg.clone()).await {
                            tracing::warn!(error = %e, ?msg, "the room server refused");
                        }
                    });
                }
                Effect::SendAllowed(allowed) => shared.fanout.set_allowed(allowed),
                Effect::Hear { peer, allowed } => shared.mix.set_muted(peer.as_str(), !allowed),
                Effect::Emit(event) => {
                    if let LessonEvent::Participant(p) = &event {
                        shared.mix.name_part(p.peer.as_str(), &p.name);
                        if p.role == Role::Host {
                            *lock(&shared.host) = Some(p.peer.clone());
                        }
                    }
                    let _ = shared.events.send(event);
                }
            }
        }
    }
}

/// Decodes `link`'s incoming video on a thread of its own and hands the pictures to the
/// lesson's video sink (if video has been started; the link's frames are taken only once).
fn decode_video_of(shared: &Arc<Shared>, peer: &PeerId, link: &Arc<PeerLink>) {
    let Some(output) = lock(&shared.video_sink).clone() else {
        return;
    };
    let Some(frames) = link.take_video() else {
        return;
    };
    let peer = peer.clone();
    let started = std::thread::Builder::new()
        .name("tutti-video-decode".into())
        .spawn(move || match output {
            // Ends when the link is gone (its sender dropped).
            VideoOutput::Encoded(sink) => {
                while let Ok(f) = frames.recv() {
                    sink(&peer, &f);
                }
            }
            VideoOutput::Decoded(sink) => {
                let mut decoder = match Vp8Decoder::new() {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(error = %e, "no video decoder");
                        return;
                    }
                };
                while let Ok(f) = frames.recv() {
                    match decoder.decode(&f.data) {
                        Ok(Some(picture)) => sink(
                            &peer,
                            VideoFrame {
                                picture,
                                arrived: f.arrived,
                            },
                        ),
                        Ok(None) => {}
                        // A frame after a loss may not decode; the next keyframe heals it.
                        Err(e) => tracing::debug!(error = %e, %peer, "undecodable video frame"),
                    }
                }
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start a video decoder thread");
    }
}

fn rewrite_candidate(shared: &Shared, candidate: String) -> Option<String> {
    match &shared.rewrite {
        Some(rw) => rw.apply(&candidate),
        None => Some(candidate),
    }
}

fn rewrite_sdp(shared: &Shared, sdp: String) -> String {
    match &shared.rewrite {
        Some(rw) => rw.apply_sdp(&sdp),
        None => sdp,
    }
}

/// For callers that schedule: now, as the wire wants it.
pub fn now() -> UnixMs {
    UnixMs::now()
}

/// Tells everyone (through the room server) that we record the lesson, or stopped: nobody is
/// recorded unawares. Unsent while the server is away; said again on rejoining.
fn tell_recording(shared: &Shared, on: bool) {
    if let Err(e) = shared.client().send(ClientMessage::SetRecording { on }) {
        tracing::info!(error = %e, "the room server will be told of the recording on rejoining");
    }
}

/// Whose part: a participant's, or (none) ours.
fn replay_of(peer: Option<&PeerId>) -> ReplayOf {
    peer.map_or(ReplayOf::Own, |p| ReplayOf::Part(p.as_str().to_owned()))
}
