//! What the UI sees: the lesson, its people, queue and chat, and past lessons. These types are
//! the app's API (TypeScript is generated from them); the wire protocol and the store keep
//! their own, and convert here.

use serde::{Deserialize, Serialize};
use tutti_protocol as wire;
use tutti_store as store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    Student,
    Observer,
}

impl From<wire::Role> for Role {
    fn from(r: wire::Role) -> Self {
        match r {
            wire::Role::Host => Self::Host,
            wire::Role::Student => Self::Student,
            wire::Role::Observer => Self::Observer,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ParticipantView {
    pub peer: String,
    pub name: String,
    pub role: Role,
    pub mic: bool,
    /// False while the connection is lost and the participant may still come back.
    pub connected: bool,
    /// The media link to them; none before one is made.
    pub link: Option<LinkStatus>,
    /// Their sound has started to arrive.
    pub hearing: bool,
    /// They record the lesson (the room server tells everyone).
    pub recording: bool,
}

impl ParticipantView {
    pub fn from_wire(p: &wire::Participant) -> Self {
        Self {
            peer: p.peer.0.clone(),
            name: p.name.clone(),
            role: p.role.into(),
            mic: p.mic,
            connected: p.connected,
            link: None,
            hearing: false,
            recording: p.recording,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct KnockView {
    pub peer: String,
    pub name: String,
    pub observer: bool,
    pub at_ms: i64,
}

impl From<&wire::Knock> for KnockView {
    fn from(k: &wire::Knock) -> Self {
        Self {
            peer: k.peer.0.clone(),
            name: k.name.clone(),
            observer: k.role == wire::JoinRole::Observer,
            at_ms: k.at.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum QuestionState {
    Open,
    Answered,
    Dismissed,
}

impl From<wire::QuestionState> for QuestionState {
    fn from(s: wire::QuestionState) -> Self {
        match s {
            wire::QuestionState::Open => Self::Open,
            wire::QuestionState::Answered => Self::Answered,
            wire::QuestionState::Dismissed => Self::Dismissed,
        }
    }
}

impl From<QuestionState> for wire::QuestionState {
    fn from(s: QuestionState) -> Self {
        match s {
            QuestionState::Open => Self::Open,
            QuestionState::Answered => Self::Answered,
            QuestionState::Dismissed => Self::Dismissed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct QuestionView {
    /// The room server's id (0 for a question only in the local store).
    pub id: i64,
    /// A raised hand: the asker wants to speak.
    pub voice: bool,
    pub text: String,
    /// Absent when anonymous.
    pub author: Option<String>,
    /// The asking participant, when known (for granting the mic).
    pub author_peer: Option<String>,
    pub votes: u32,
    pub voted: bool,
    pub state: QuestionState,
    pub pinned: bool,
    /// Sent before the lesson started.
    pub pre_lesson: bool,
    pub asked_ms: i64,
}

impl QuestionView {
    pub fn from_wire(q: &wire::Question, voted: bool) -> Self {
        Self {
            id: q.id.0 as i64,
            voice: q.kind == wire::QuestionKind::Voice,
            text: q.text.clone(),
            author: q.author_name.clone(),
            author_peer: q.author.as_ref().map(|p| p.0.clone()),
            votes: q.votes,
            voted,
            state: q.state.into(),
            pinned: q.pinned,
            pre_lesson: q.pre_lesson,
            asked_ms: q.asked_at.0,
        }
    }
}

impl From<&store::QuestionRecord> for QuestionView {
    fn from(q: &store::QuestionRecord) -> Self {
        Self {
            id: q.remote_id.unwrap_or(0) as i64,
            voice: q.kind == wire::QuestionKind::Voice,
            text: q.text.clone(),
            author: q.author_name.clone(),
            author_peer: None,
            votes: q.votes,
            voted: false,
            state: q.state.into(),
            pinned: q.pinned,
            pre_lesson: q.pre_lesson,
            asked_ms: q.asked_at.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ChatView {
    pub from: String,
    pub text: String,
    pub at_ms: i64,
    pub mine: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum LessonStatus {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl From<store::LessonStatus> for LessonStatus {
    fn from(s: store::LessonStatus) -> Self {
        match s {
            store::LessonStatus::Scheduled => Self::Scheduled,
            store::LessonStatus::Live => Self::Live,
            store::LessonStatus::Ended => Self::Ended,
            store::LessonStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// A lesson in the lists of upcoming and past lessons.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LessonSummary {
    /// The local store's id.
    pub id: i64,
    pub title: String,
    pub host: bool,
    pub status: LessonStatus,
    /// When it starts or started (actual, else scheduled, else created).
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub scheduled_minutes: Option<u32>,
    pub host_tz: String,
    pub student_tz: Option<String>,
    pub invite_code: Option<String>,
}

impl From<&store::Lesson> for LessonSummary {
    fn from(l: &store::Lesson) -> Self {
        Self {
            id: l.id.0,
            title: l.title.clone(),
            host: l.my_role == wire::Role::Host,
            status: l.status.into(),
            start_ms: l.start().0,
            end_ms: l.actual_end.map(|t| t.0),
            scheduled_minutes: l.scheduled_minutes,
            host_tz: l.host_tz.clone(),
            student_tz: l.student_tz.clone(),
            invite_code: l.invite_code.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct NoteView {
    pub body: String,
    pub updated_ms: i64,
}

/// A past (or upcoming) lesson with everything the store keeps of it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LessonDetail {
    pub lesson: LessonSummary,
    pub notes: Vec<NoteView>,
    pub questions: Vec<QuestionView>,
    pub chat: Vec<ChatView>,
    /// Its recordings, each with its files and the marks made during it.
    pub takes: Vec<TakeView>,
    /// Files of no take of ours: the takes students sent (their own part, lossless).
    pub recordings: Vec<RecordingView>,
}

/// One recording of the lesson: its files on one timeline, and what happened when.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct TakeView {
    pub id: i64,
    /// When it began (the lesson's clock).
    pub started_ms: i64,
    pub duration_ms: i64,
    /// Every part's track, then the mix.
    pub files: Vec<RecordingView>,
    pub marks: Vec<MarkView>,
    /// The file to play: the mix (a track if it has none).
    pub play: Option<i64>,
}

/// A moment on a take's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct MarkView {
    /// Into the take.
    pub at_ms: i64,
    pub kind: MarkKindView,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MarkKindView {
    Mark,
    Note,
    Question,
}

impl From<&tutti_store::TakeMark> for MarkView {
    fn from(m: &tutti_store::TakeMark) -> Self {
        use tutti_store::MarkKind as K;
        Self {
            at_ms: m.at_ms,
            kind: match m.kind {
                K::Mark => MarkKindView::Mark,
                K::Note => MarkKindView::Note,
                K::Question(_) => MarkKindView::Question,
            },
            text: m.text.clone(),
        }
    }
}

/// One file of a lesson's recording.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct RecordingView {
    pub id: i64,
    /// Whose part (none: the mix of every part).
    pub who: Option<String>,
    pub path: String,
    /// Where it starts on its take's timeline.
    pub start_ms: i64,
    pub duration_ms: i64,
    pub created_ms: i64,
}

impl From<tutti_store::Recording> for RecordingView {
    fn from(r: tutti_store::Recording) -> Self {
        Self {
            id: r.id.0,
            who: (r.who != crate::session::MIX_WHO).then_some(r.who),
            path: r.path,
            start_ms: r.start_ms,
            duration_ms: r.duration_ms,
            created_ms: r.created_at.0,
        }
    }
}

impl From<tutti_store::Take> for TakeView {
    fn from(t: tutti_store::Take) -> Self {
        let files: Vec<RecordingView> = t.files.into_iter().map(RecordingView::from).collect();
        let play = files
            .iter()
            .find(|f| f.who.is_none())
            .or_else(|| files.first())
            .map(|f| f.id);
        Self {
            id: t.id.0,
            started_ms: t.started_at.0,
            duration_ms: t.duration_ms,
            marks: t.marks.iter().map(MarkView::from).collect(),
            files,
            play,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct SearchHitView {
    pub lesson: i64,
    pub lesson_title: String,
    /// `note` or `question`.
    pub kind: String,
    pub snippet: String,
    pub at_ms: i64,
}

impl From<&store::SearchHit> for SearchHitView {
    fn from(h: &store::SearchHit) -> Self {
        Self {
            lesson: h.lesson.0,
            lesson_title: h.lesson_title.clone(),
            kind: match h.kind {
                store::HitKind::Note => "note",
                store::HitKind::Question => "question",
            }
            .into(),
            snippet: h.snippet.clone(),
            at_ms: h.at.0,
        }
    }
}

/// The camera's state, for the lesson's camera button and the device check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    On,
    /// Turned off by the user.
    Off,
    /// None found, or it could not be opened; the lesson goes on with sound.
    NoCamera,
    /// It stopped delivering (unplugged, or taken by another program).
    Lost,
}

/// The media link to one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Connecting,
    Connected,
    /// Lost for now; it may come back by itself.
    Disconnected,
    /// Given up; a new one is being made.
    Failed,
    Closed,
}

impl From<tutti_media::LinkState> for LinkStatus {
    fn from(s: tutti_media::LinkState) -> Self {
        use tutti_media::LinkState as L;
        match s {
            L::Connecting => Self::Connecting,
            L::Connected => Self::Connected,
            L::Disconnected => Self::Disconnected,
            L::Failed => Self::Failed,
            L::Closed => Self::Closed,
        }
    }
}

/// How the media goes: straight to the other side (on its network, or through its router's
/// public address), or through the TURN relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MediaPath {
    Direct,
    Reflexive,
    Relayed,
}

/// How a relayed path reaches the relay: UDP, or what a firewall that blocks it let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RelayOver {
    Udp,
    Tcp,
    Tls,
}

impl From<tutti_media::RelayTransport> for RelayOver {
    fn from(t: tutti_media::RelayTransport) -> Self {
        match t {
            tutti_media::RelayTransport::Udp => Self::Udp,
            tutti_media::RelayTransport::Tcp => Self::Tcp,
            tutti_media::RelayTransport::Tls => Self::Tls,
        }
    }
}

impl From<tutti_media::PathKind> for MediaPath {
    fn from(p: tutti_media::PathKind) -> Self {
        match p {
            tutti_media::PathKind::Direct => Self::Direct,
            tutti_media::PathKind::Reflexive => Self::Reflexive,
            tutti_media::PathKind::Relayed => Self::Relayed,
        }
    }
}

/// Everything the lesson screen shows, sent whole on every change.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LessonView {
    /// The local store's id of this lesson.
    pub local_id: i64,
    pub title: String,
    pub code: String,
    pub host_name: String,
    pub host: bool,
    pub you: ParticipantView,
    /// Everyone else in the lesson.
    pub others: Vec<ParticipantView>,
    /// The waiting room (the host's view).
    pub waiting: Vec<KnockView>,
    pub questions: Vec<QuestionView>,
    pub chat: Vec<ChatView>,
    pub note: String,
    pub muted: bool,
    pub camera: CameraStatus,
    /// What is wrong but lets the lesson go on: no microphone (the others cannot hear us), no
    /// speaker, notes or questions that could not be saved.
    pub problems: Vec<crate::error::AppError>,
    /// Addresses others can join through when the room server runs in this app.
    pub share_urls: Vec<String>,
    pub server_url: String,
    /// The host's page on `server_url`, when the host's app published one (`teacher_page`).
    pub teacher: Option<String>,
    /// The host's metronome, while it runs.
    pub metronome: Option<MetronomeView>,
    /// Its volume for us alone (0 mutes it here), 0–1.
    pub metronome_volume: f32,
    /// Our mixer: how we hear those whose fader was moved (the rest at unity, centred).
    pub mix: Vec<PeerFader>,
    /// The folder our recording goes into, while we record.
    pub recording: Option<String>,
    /// Marks made in this lesson (the mark button).
    pub marks: u32,
}

/// One participant's fader in our mixer: for us alone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct FaderView {
    /// 0–2 (1: as they arrive; 2 is +6 dB).
    pub volume: f32,
    /// −1 left, 0 centre, 1 right.
    pub pan: f32,
    /// Not heard here (the others still hear them).
    pub muted: bool,
}

impl Default for FaderView {
    fn default() -> Self {
        Self {
            volume: 1.0,
            pan: 0.0,
            muted: false,
        }
    }
}

/// A participant's fader, by their peer id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PeerFader {
    pub peer: String,
    pub fader: FaderView,
}

/// The metronome as the host set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct MetronomeView {
    pub bpm: f64,
    pub beats: u32,
    pub count_in_bars: u32,
}

impl From<&tutti_protocol::MetronomePlan> for MetronomeView {
    fn from(p: &tutti_protocol::MetronomePlan) -> Self {
        Self {
            bpm: p.bpm,
            beats: u32::try_from(p.beats_per_bar()).unwrap_or(0),
            count_in_bars: u32::from(p.count_in_bars),
        }
    }
}

/// The tuner's reading of one participant's sound (`peer` empty: our own).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct PitchView {
    pub peer: String,
    /// The note's name (C, C♯, D, E♭, … B) and octave (A4 is the reference A).
    pub note: String,
    pub octave: i32,
    /// −50 to +50.
    pub cents: f64,
    pub hz: f64,
}

/// Where the metronome is now, for the beat on screen: the screen runs its own animation from
/// it and asks again now and then.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct BeatView {
    /// The beat in the bar, from 0.
    pub beat: u32,
    pub beats: u32,
    /// Still counting in.
    pub count_in: bool,
    /// Bars of the count-in left after this one.
    pub count_in_left: u32,
    /// How far into this beat we are, and how long a beat is, ms.
    pub ms_into_beat: f64,
    pub beat_ms: f64,
}

/// Leader–follower playing, as the teacher leads: who follows, how late each hears the other,
/// and how the follower's part is placed.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct DuetView {
    /// Who follows (their peer id).
    pub partner: String,
    /// The follower plays with the metronome (placed at the shared time), else with us
    /// (placed back by how late they heard us).
    pub follow_metronome: bool,
    /// Our microphone to their ear, as they measured it.
    pub they_hear_after_ms: Option<f64>,
    /// Their microphone to our ear, as we measure it.
    pub we_hear_after_ms: Option<f64>,
    /// How far back their part is shifted.
    pub shift_ms: Option<f64>,
    /// How long the live monitor delays our own part: both ways round.
    pub live_delay_ms: Option<f64>,
    pub live: bool,
    pub replaying: bool,
}

/// How loud what we hear from one participant is, 0–1 (peak, falling off).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct PeerLevel {
    pub peer: String,
    pub level: f32,
}

/// How the connection to one participant is doing, for the connection indicator.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct PeerStatsView {
    pub peer: String,
    /// Their sound to our ears, both sound cards included where the sound server says.
    pub one_way_ms: Option<f64>,
    /// The sound cards' part of `one_way_ms`.
    pub devices_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub path: Option<MediaPath>,
    /// When relayed: how the relay is reached.
    pub relay_over: Option<RelayOver>,
    pub jitter_ms: f64,
    pub buffer_ms: f64,
    pub loss_pct: f64,
    /// Frames not played from their own packet: the sound had a repair there.
    pub concealed_pct: f64,
    pub level: f32,
    /// Their clock against ours (the shared clock), ms, and its statistical error.
    pub clock_offset_ms: Option<f64>,
    pub clock_uncertainty_ms: Option<f64>,
    /// Their microphone to our ear, measured sample for sample (once their stream and clock
    /// are known): what `one_way_ms` estimates.
    pub heard_after_ms: Option<f64>,
}

impl From<&tutti_lesson::PeerStats> for PeerStatsView {
    fn from(s: &tutti_lesson::PeerStats) -> Self {
        Self {
            peer: s.peer.0.clone(),
            one_way_ms: s.one_way_ms,
            devices_ms: s.devices_ms,
            rtt_ms: s.rtt_ms,
            path: s.path.map(MediaPath::from),
            relay_over: s.relay_over.map(RelayOver::from),
            jitter_ms: s.jitter_ms,
            buffer_ms: s.buffer_ms,
            loss_pct: s.loss_pct,
            concealed_pct: s.concealed_pct,
            level: s.level,
            clock_offset_ms: s.clock_offset_ms,
            clock_uncertainty_ms: s.clock_uncertainty_ms,
            heard_after_ms: s.heard_after_ms,
        }
    }
}

/// How long the UI's text boxes may be, from the room server's and the store's own limits (in
/// characters; a text box counts UTF-16 units, which is the same for Korean and stricter for
/// emoji, so nothing typed is refused later).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Limits {
    pub name_chars: u32,
    pub title_chars: u32,
    pub question_chars: u32,
    pub chat_chars: u32,
    pub note_chars: u32,
    pub bio_chars: u32,
    pub instruments: u32,
}

impl Limits {
    pub fn get() -> Self {
        use tutti_protocol::limits as wire;
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            name_chars: n(wire::NAME_CHARS),
            title_chars: n(wire::TITLE_CHARS),
            question_chars: n(wire::QUESTION_CHARS),
            chat_chars: n(wire::CHAT_CHARS),
            note_chars: n(store::MAX_NOTE_CHARS),
            bio_chars: n(wire::BIO_CHARS),
            instruments: n(wire::INSTRUMENTS),
        }
    }
}
