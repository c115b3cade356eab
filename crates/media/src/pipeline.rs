//! The two loops of a call, each on a thread of its own: one encodes a source's frames and
//! sends them over a link; the other pops the jitter buffer once a frame period, decodes (or
//! recovers, or conceals) and hands the audio to a sink. With devices, the sound card's own
//! callbacks pace them; with synthetic sources and sinks (tests, benchmarks, the headless peer
//! without a sound card) the clock does, frame by frame against absolute deadlines so that
//! lateness does not accumulate.

use crate::clock::monotonic_ns;
use crate::codec::{CodecError, MAX_PACKET, MusicConfig, MusicEncoder};
use crate::duet::{Alignment, Clip, Follow, KEEP_SECONDS, MAX_CHUNK, TimedRing};
use crate::fader::{Fader, SharedFader};
use crate::format::{FrameDuration, SAMPLE_RATE};
use crate::jitter_feed::RemoteAudio;
use crate::link::{LinkError, PeerLink, SendFormat, lock};
use crate::metronome::{
    Beat, Metronome, NOMINAL_NS_PER_SAMPLE, OBSERVE_EVERY_SAMPLES, SampleClock, SharedTime, beat_at,
};
use crate::peer_channel::PeerChannelState;
use crate::recent::{RECENT_SECONDS, RecentRing};
use crate::recorder::{OWN_TRACK, Placed, RecorderSlot, Recording};
use crate::recording::RecordingError;
use crate::red::RedEncoder;
use crate::shared_clock::ClockEstimate;
use crate::signal::{AudioSink, AudioSource};
use crate::stream_decoder::StreamDecoder;
use crate::worker::LoopThread;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tutti_protocol::MetronomePlan;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("cannot start the audio thread: {0}")]
    Thread(std::io::Error),
}

/// With nobody to send to or hear from, the audio loops wake once per tick instead of once per
/// frame (400 times a second at 2.5 ms frames): an open lesson with nobody there yet costs
/// next to nothing. The source is still read and the sink still fed, a tick at a time, so the
/// meters move and the sound card never runs dry.
pub const IDLE_TICK: Duration = Duration::from_millis(20);

/// Frames of `frame` in an idle tick.
fn frames_per_tick(frame: FrameDuration) -> u32 {
    (IDLE_TICK.as_micros() / frame.duration().as_micros()).max(1) as u32
}

/// Sleeps until `deadline` (no-op if it has passed).
pub(crate) fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// A level meter: the peak of the recent audio (0–1), falling by half every 150 ms whatever
/// the frame length, for the UI's meters; and the last samples of it, for the tuner. Written
/// by an audio loop, read by anyone, neither waiting.
#[derive(Clone, Default)]
pub struct Meter(Arc<AtomicU32>, Arc<Tap>);

/// How fast a meter falls: its half-life, in stereo samples.
const METER_HALF_LIFE: f32 = 0.150 * SAMPLE_RATE as f32;
/// Samples a meter keeps (mono): twice the tuner's window.
const TAP_LEN: usize = 2 * crate::tuner::WINDOW;

/// The last `TAP_LEN` samples, mono, as bits in atomics: the audio thread writes without a
/// lock, a reader copies what it finds (a sample being written as it reads is the worst).
struct Tap {
    ring: Box<[AtomicU32]>,
    written: AtomicU64,
}

impl Default for Tap {
    fn default() -> Self {
        Self {
            ring: (0..TAP_LEN).map(|_| AtomicU32::new(0)).collect(),
            written: AtomicU64::new(0),
        }
    }
}

impl Meter {
    pub fn record(&self, frame: &[f32]) {
        let peak = frame.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let frames = (frame.len() / 2) as f32;
        let held = f32::from_bits(self.0.load(Relaxed)) * 0.5f32.powf(frames / METER_HALF_LIFE);
        self.0.store(peak.max(held).min(1.0).to_bits(), Relaxed);
        let tap = &self.1;
        let mut w = tap.written.load(Relaxed);
        for pair in frame.chunks_exact(2) {
            tap.ring[(w % TAP_LEN as u64) as usize]
                .store(((pair[0] + pair[1]) * 0.5).to_bits(), Relaxed);
            w += 1;
        }
        tap.written.store(w, std::sync::atomic::Ordering::Release);
    }

    pub fn level(&self) -> f32 {
        f32::from_bits(self.0.load(Relaxed))
    }

    pub fn clear(&self) {
        self.0.store(0, Relaxed);
    }

    /// The last `n` samples recorded (mono, oldest first), fewer if not yet recorded.
    pub fn last(&self, n: usize) -> Vec<f32> {
        let tap = &self.1;
        let w = tap.written.load(std::sync::atomic::Ordering::Acquire);
        let n = n.min(TAP_LEN).min(w as usize);
        (w - n as u64..w)
            .map(|i| f32::from_bits(tap.ring[(i % TAP_LEN as u64) as usize].load(Relaxed)))
            .collect()
    }
}

/// How long a device takes, as its audio loop last saw it (0: not known). Written by the loop,
/// read for the statistics.
#[derive(Clone, Default)]
pub struct DeviceDelay(Arc<AtomicU64>);

impl DeviceDelay {
    fn set(&self, d: Option<Duration>) {
        self.0
            .store(d.map_or(0, |d| d.as_micros().max(1) as u64), Relaxed);
    }

    pub fn get(&self) -> Option<Duration> {
        match self.0.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// Frames between looks at a device's delay (it changes slowly).
const DELAY_EVERY: u32 = 64;

/// A list shared between the engine, which changes it when participants come and go, and an
/// audio loop, which reads it every frame. The loop keeps its own copy and refreshes it only
/// when the list has changed, so a frame costs no allocation and no work on the list.
pub(crate) struct Roster<T> {
    items: Arc<Mutex<Vec<T>>>,
    generation: Arc<AtomicU64>,
}

impl<T> Clone for Roster<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            generation: self.generation.clone(),
        }
    }
}

impl<T> Default for Roster<T> {
    fn default() -> Self {
        Self {
            items: Arc::default(),
            generation: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl<T: Clone> Roster<T> {
    pub(crate) fn change(&self, f: impl FnOnce(&mut Vec<T>)) {
        f(&mut lock(&self.items));
        self.generation.fetch_add(1, Relaxed);
    }

    /// True if the list changed since `seen`.
    pub(crate) fn changed_since(&self, seen: u64) -> bool {
        self.generation.load(Relaxed) != seen
    }

    /// Brings `local` up to date if the list changed since `seen`; true if it did. An audio
    /// thread never waits here: if the engine holds the list right now, it is tried again at
    /// the next frame.
    pub(crate) fn refresh(&self, local: &mut Vec<T>, seen: &mut u64) -> bool {
        let now = self.generation.load(Relaxed);
        if now == *seen {
            return false;
        }
        let items = match self.items.try_lock() {
            Ok(items) => items,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        *local = items.clone();
        *seen = now;
        true
    }
}

impl<T> Roster<T> {
    pub(crate) fn len(&self) -> usize {
        lock(&self.items).len()
    }
}

/// A roster of links, each with what it negotiated (for audio, its payload types; for video,
/// VP8's): the send loops' fan-outs.
impl<F: Clone> Roster<(Arc<PeerLink>, F)> {
    pub(crate) fn add_link(&self, link: Arc<PeerLink>, format: F) {
        self.change(|links| {
            if !links.iter().any(|(l, _)| Arc::ptr_eq(l, &link)) {
                links.push((link, format));
            }
        });
    }

    pub(crate) fn remove_link(&self, link: &Arc<PeerLink>) {
        self.change(|links| links.retain(|(l, _)| !Arc::ptr_eq(l, link)));
    }
}

/// The links a send loop writes to, each with its negotiated payload types. Links join when
/// they connect and leave when their participant does; every frame is encoded once.
#[derive(Clone, Default)]
pub struct Fanout {
    links: Roster<Target>,
    meter: Meter,
    delay: DeviceDelay,
    /// The room server has not given us the mic (an observer): nothing is sent.
    held: Arc<AtomicBool>,
    /// Where our part is kept for replays and leader–follower playing (the mix's), once tied
    /// to it.
    recent: Arc<OnceLock<Recent>>,
}

/// A connected link and how it negotiated to receive.
type Target = (Arc<PeerLink>, SendFormat);

impl Fanout {
    pub fn add(&self, link: Arc<PeerLink>, format: SendFormat) {
        self.links.add_link(link, format);
    }

    pub fn remove(&self, link: &Arc<PeerLink>) {
        self.links.remove_link(link);
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The level of what is being sent.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The microphone's delay, air to us.
    pub fn delay(&self) -> Option<Duration> {
        self.delay.get()
    }

    /// Sends (true) or holds everything back, as the room server's mic grant says.
    pub fn set_allowed(&self, allowed: bool) {
        self.held.store(!allowed, Relaxed);
    }

    pub fn allowed(&self) -> bool {
        !self.held.load(Relaxed)
    }

    /// Hands what we capture to `recent` too (the mix's: replays, leader–follower, and the
    /// recording, which wants our part even with nobody to send it to). Once.
    pub fn record_into(&self, recent: Recent) {
        let _ = self.recent.set(recent);
    }

    /// A recording is running: our part is captured and kept even with nobody to send to.
    fn recording(&self) -> bool {
        self.recent
            .get()
            .is_some_and(|r| r.0.recorder.get().is_some_and(|s| s.is_on()))
    }
}

/// Leader–follower playing ([`crate::duet`]): who follows us, the last seconds of both parts
/// by time (written by the playout loop; our own come from the send loop, see [`Recent`]), a
/// live monitor of our part delayed to meet theirs, and the aligned replay.
#[derive(Clone, Default)]
pub struct Duet(Arc<DuetSlot>);

#[derive(Default)]
struct DuetSlot {
    on: AtomicBool,
    /// Who follows (the participant whose part is kept).
    partner: Mutex<Option<String>>,
    version: AtomicU64,
    rings: Mutex<Option<Rings>>,
    /// The live monitor's gain (bits of an f32; 0: off).
    live_gain: AtomicU32,
}

struct Rings {
    own: TimedRing,
    /// On the follower's clock, as its anchors stamp it.
    theirs: TimedRing,
}

/// A frame of our part, mono, with when its first sample reached the microphone (our clock).
struct OwnChunk {
    at_ns: f64,
    len: usize,
    mono: [f32; MAX_CHUNK],
}

/// Frames of our part between the send loop and the playout loop (a second of 2.5-ms frames).
const OWN_RING: usize = 400;

/// Where leader–follower playing stands, for the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct DuetStatus {
    pub partner: String,
    pub follow: Follow,
    /// Our microphone to their ear (they measured it).
    pub they_hear_after: Option<Duration>,
    /// Their microphone to our ear (we measure it).
    pub we_hear_after: Option<Duration>,
    /// How much later than ours their part is placed.
    pub shift: Option<Duration>,
    /// The live monitor's delay of our part: both ways round.
    pub live_delay: Option<Duration>,
    pub live: bool,
    pub replaying: bool,
}

/// Why an aligned replay cannot be made yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DuetError {
    #[error("leader–follower playing is not on")]
    Off,
    #[error("the follower has not said yet how late they hear us")]
    NotMeasured,
    #[error("nothing has been played yet")]
    Nothing,
}

impl Duet {
    fn on(&self) -> bool {
        self.0.on.load(Relaxed)
    }
}

/// Instant replay ([`crate::recent`]): the last seconds of our part (from the send loop,
/// through a wait-free ring) and of each other participant's as played, and the replay
/// sounding, if any.
#[derive(Clone, Default)]
pub struct Recent(Arc<RecentSlot>);

struct RecentSlot {
    own_in: Mutex<rtrb::Producer<OwnChunk>>,
    own_out: Mutex<rtrb::Consumer<OwnChunk>>,
    own: Mutex<RecentRing>,
    /// The mix's recorder, which takes our part from here.
    recorder: OnceLock<Arc<RecorderSlot>>,
    /// Made when a participant's stream is added (never on the audio thread).
    parts: Mutex<HashMap<String, RecentRing>>,
    playing: Mutex<Option<Replaying>>,
    /// What is playing and how much is left, for the screen: read without the playout
    /// thread's lock, so that asking never costs the replay a frame.
    of: Mutex<Option<ReplayOf>>,
    left: AtomicU64,
}

impl Default for RecentSlot {
    fn default() -> Self {
        let (tx, rx) = rtrb::RingBuffer::new(OWN_RING);
        Self {
            own_in: Mutex::new(tx),
            own_out: Mutex::new(rx),
            recorder: OnceLock::new(),
            own: Mutex::new(RecentRing::new(RECENT_SECONDS)),
            parts: Mutex::default(),
            playing: Mutex::default(),
            of: Mutex::default(),
            left: AtomicU64::new(0),
        }
    }
}

/// Whose part a replay is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOf {
    /// Ours, as captured.
    Own,
    /// A participant's, as we heard it.
    Part(String),
    /// The leader–follower duet, aligned.
    Duet,
}

/// A replay sounding in our ears while the lesson goes on.
struct Replaying {
    of: ReplayOf,
    mono: Vec<f32>,
    at: usize,
    /// The duet with the metronome: when its first sample was played (our clock), so that
    /// the clicks sound where they were.
    clicks_from: Option<f64>,
}

/// Why a replay cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("nothing of that part has been heard yet")]
    Nothing,
    #[error("{0} is not in the lesson")]
    NotHere(String),
}

impl Recent {
    /// From the send loop: our frame (interleaved stereo) whose first sample reached the
    /// microphone at `at`. Never waits; dropped if the playout side is far behind.
    fn push_own(&self, at: Instant, stereo: &[f32]) {
        let Ok(mut tx) = self.0.own_in.try_lock() else {
            return;
        };
        let mut chunk = OwnChunk {
            at_ns: monotonic_ns(at) as f64,
            len: 0,
            mono: [0.0; MAX_CHUNK],
        };
        chunk.len = crate::duet::downmix(stereo, &mut chunk.mono);
        let _ = tx.push(chunk);
    }

    /// Keeps `who`'s part from now on (in the ring it had, if it was here before).
    fn keep(&self, who: &str) {
        lock(&self.0.parts)
            .entry(who.to_owned())
            .or_insert_with(|| RecentRing::new(RECENT_SECONDS));
    }

    /// The last `seconds` of a part (fewer if less was heard).
    pub fn last(&self, of: &ReplayOf, seconds: f64) -> Result<Vec<f32>, ReplayError> {
        let part = match of {
            ReplayOf::Own => lock(&self.0.own).last(seconds),
            ReplayOf::Part(who) => lock(&self.0.parts)
                .get(who)
                .ok_or_else(|| ReplayError::NotHere(who.clone()))?
                .last(seconds),
            ReplayOf::Duet => return Err(ReplayError::Nothing),
        };
        if part.iter().all(|s| *s == 0.0) {
            return Err(ReplayError::Nothing);
        }
        Ok(part)
    }

    fn play(&self, replay: Replaying) {
        let mut playing = lock(&self.0.playing);
        *lock(&self.0.of) = Some(replay.of.clone());
        self.0.left.store(replay.mono.len() as u64, Relaxed);
        *playing = Some(replay);
    }

    /// What is being replayed, and for how much longer.
    pub fn playing(&self) -> Option<(ReplayOf, Duration)> {
        let left = self.0.left.load(Relaxed);
        if left == 0 {
            return None;
        }
        let of = lock(&self.0.of).clone()?;
        Some((
            of,
            Duration::from_secs_f64(left as f64 / f64::from(SAMPLE_RATE)),
        ))
    }

    pub fn stop(&self) {
        let mut playing = lock(&self.0.playing);
        self.0.left.store(0, Relaxed);
        *playing = None;
    }

    /// For the playout thread: a replay is sounding.
    fn sounding(&self) -> bool {
        self.0.left.load(Relaxed) > 0
    }
}

/// The remote streams a playout loop mixes, by participant, the metronome it plays, and
/// leader–follower playing.
#[derive(Clone, Default)]
pub struct Mix(
    Roster<Arc<Stream>>,
    DeviceDelay,
    Arc<MetronomeSlot>,
    Duet,
    Recent,
    Arc<RecorderSlot>,
    Faders,
);

/// Each participant's fader, kept by participant so that a rebuilt link keeps its setting.
#[derive(Clone, Default)]
struct Faders(Arc<Mutex<HashMap<String, Arc<SharedFader>>>>);

impl Faders {
    fn of(&self, who: &str) -> Arc<SharedFader> {
        lock(&self.0).entry(who.to_owned()).or_default().clone()
    }
}

/// Where the metronome's shared time comes from.
#[derive(Clone, Default)]
pub enum ClockSource {
    /// We are the host.
    #[default]
    Own,
    /// The clock exchange with the host on its link.
    Link(Arc<PeerChannelState>),
}

impl ClockSource {
    /// How the shared time reads here now; none until the clock exchange has an answer.
    pub fn shared_time(&self) -> Option<SharedTime> {
        match self {
            Self::Own => Some(SharedTime::Own),
            Self::Link(c) => c.estimate().map(SharedTime::Host),
        }
    }

    /// The same for the playout thread: `None` if the estimate is being written this instant
    /// (keep the last one), else as `shared_time`.
    fn try_shared_time(&self) -> Option<Option<SharedTime>> {
        match self {
            Self::Own => Some(Some(SharedTime::Own)),
            Self::Link(c) => c.try_estimate().map(|e| e.map(SharedTime::Host)),
        }
    }
}

/// The metronome as the engine sets it; the playout loop copies it when `version` moves (and
/// the clock estimate every 100 ms).
#[derive(Default)]
struct MetronomeSlot {
    version: AtomicU64,
    running: AtomicBool,
    inner: Mutex<MetronomeSettings>,
}

#[derive(Clone)]
struct MetronomeSettings {
    plan: Option<MetronomePlan>,
    clock: ClockSource,
    gain: f32,
}

impl Default for MetronomeSettings {
    fn default() -> Self {
        Self {
            plan: None,
            clock: ClockSource::Own,
            gain: 1.0,
        }
    }
}

/// One remote participant in the mix: its audio, until the playout thread takes it (which
/// then owns its jitter buffer outright), its level, and whether it is muted (still taken
/// from its buffer, so that nothing piles up, but not played).
struct Stream {
    /// Told apart from an earlier stream of the same participant (a rebuilt link).
    id: u64,
    who: String,
    audio: Mutex<Option<RemoteAudio>>,
    meter: Meter,
    muted: AtomicBool,
    /// How we hear them (`muted` above is the room server's: nobody hears them).
    fader: Arc<SharedFader>,
    /// Its link's channel: where its stream stands against its sender's clock, and where our
    /// measure of its delay to our ear goes. None: not measured.
    channel: Option<Arc<PeerChannelState>>,
    /// Its participant's track in a recording.
    track: u32,
}

static STREAM_IDS: AtomicU64 = AtomicU64::new(1);

impl Mix {
    /// Mixes `who` in, not muted (in place of any stream it had).
    pub fn add(&self, who: &str, audio: RemoteAudio) {
        self.add_stream(who, audio, None);
    }

    /// Mixes `who` in, as `add`, measuring how long its sound takes from its sender's
    /// microphone to our ear (through its link's `channel`), which the channel tells them.
    pub fn add_timed(&self, who: &str, audio: RemoteAudio, channel: Arc<PeerChannelState>) {
        self.add_stream(who, audio, Some(channel));
    }

    fn add_stream(&self, who: &str, audio: RemoteAudio, channel: Option<Arc<PeerChannelState>>) {
        let stream = Arc::new(Stream {
            id: STREAM_IDS.fetch_add(1, Relaxed),
            who: who.to_owned(),
            audio: Mutex::new(Some(audio)),
            meter: Meter::default(),
            muted: AtomicBool::new(false),
            fader: self.6.of(who),
            channel,
            track: self.5.track_of(who),
        });
        self.4.keep(who);
        self.0.change(|streams| {
            streams.retain(|s| s.who != who);
            streams.push(stream);
        });
    }

    pub fn remove(&self, who: &str) {
        self.0.change(|streams| streams.retain(|s| s.who != who));
    }

    /// Plays `who` or not (one the room server has not given the mic is not heard).
    pub fn set_muted(&self, who: &str, muted: bool) {
        if let Some(s) = lock(&self.0.items).iter().find(|s| s.who == who) {
            s.muted.store(muted, Relaxed);
        }
    }

    /// How we hear `who` from now on (and after a rebuilt link), whether or not they are
    /// in the mix yet.
    pub fn set_fader(&self, who: &str, fader: Fader) {
        self.6.of(who).set(fader);
    }

    pub fn fader(&self, who: &str) -> Fader {
        lock(&self.6.0)
            .get(who)
            .map(|f| f.get())
            .unwrap_or_default()
    }

    /// The speaker's delay, us to the air.
    pub fn delay(&self) -> Option<Duration> {
        self.1.get()
    }

    /// Plays `plan` (none: stops), its beats at the shared time `clock` gives.
    pub fn set_metronome(&self, plan: Option<MetronomePlan>, clock: ClockSource) {
        let mut m = lock(&self.2.inner);
        self.2.running.store(plan.is_some(), Relaxed);
        (m.plan, m.clock) = (plan, clock);
        self.2.version.fetch_add(1, Relaxed);
    }

    /// The metronome's volume here (0 mutes it for us only).
    pub fn set_metronome_gain(&self, gain: f32) {
        lock(&self.2.inner).gain = gain.clamp(0.0, 2.0);
        self.2.version.fetch_add(1, Relaxed);
    }

    pub fn metronome_gain(&self) -> f32 {
        lock(&self.2.inner).gain
    }

    /// The plan playing, and the beat sounding now with how far into it we are, ns (none
    /// before the first, or before the clock exchange has an answer).
    pub fn metronome(&self) -> (Option<MetronomePlan>, Option<(Beat, f64)>) {
        let m = lock(&self.2.inner).clone();
        let Some(plan) = m.plan else {
            return (None, None);
        };
        let beat = m.clock.shared_time().and_then(|shared| {
            let now = shared.to_shared(monotonic_ns(Instant::now()) as f64);
            let beat = beat_at(&plan, now)?;
            Some((
                beat,
                now - (plan.start_ns as f64 + beat.index as f64 * plan.beat_ns()),
            ))
        });
        (Some(plan), beat)
    }

    /// Leader–follower playing: what it records into (our own part comes from the send loop,
    /// see [`Fanout::record_into`]).
    pub fn duet(&self) -> Duet {
        self.3.clone()
    }

    /// Leader–follower playing with `partner` following us (none: off). Keeps the last
    /// [`KEEP_SECONDS`] of both parts from now on.
    pub fn set_duet(&self, partner: Option<&str>) {
        let d = &self.3.0;
        match partner {
            Some(p) => {
                if lock(&d.partner).as_deref() != Some(p) {
                    *lock(&d.rings) = Some(Rings {
                        own: TimedRing::new(KEEP_SECONDS),
                        theirs: TimedRing::new(KEEP_SECONDS),
                    });
                    *lock(&d.partner) = Some(p.to_owned());
                }
                d.on.store(true, Relaxed);
            }
            None => {
                d.on.store(false, Relaxed);
                *lock(&d.partner) = None;
                *lock(&d.rings) = None;
                d.live_gain.store(0, Relaxed);
                let mut playing = lock(&self.4.0.playing);
                if playing.as_ref().is_some_and(|r| r.of == ReplayOf::Duet) {
                    *playing = None;
                }
            }
        }
        d.version.fetch_add(1, Relaxed);
    }

    /// The live monitor: our own part in our ears, delayed to meet the follower's as it
    /// arrives (`gain` 0: off).
    pub fn set_duet_live(&self, gain: f32) {
        self.3
            .0
            .live_gain
            .store(gain.clamp(0.0, 2.0).to_bits(), Relaxed);
    }

    fn partner_channel(&self) -> Option<(String, Option<Arc<PeerChannelState>>)> {
        let partner = lock(&self.3.0.partner).clone()?;
        let channel = lock(&self.0.items)
            .iter()
            .find(|s| s.who == partner)
            .and_then(|s| s.channel.clone());
        Some((partner, channel))
    }

    /// How the follower's part is placed now: after our sound's delay to them, or (with the
    /// metronome running) at the shared time.
    fn alignment(&self, channel: Option<&Arc<PeerChannelState>>) -> Option<Alignment> {
        let follow = if self.2.running.load(Relaxed) {
            Follow::Metronome
        } else {
            Follow::Leader
        };
        let heard_after = channel.and_then(|c| c.they_heard_after());
        match (follow, heard_after) {
            (Follow::Metronome, h) => Some(Alignment {
                follow,
                heard_after_ns: h.map_or(0.0, |d| d.as_nanos() as f64),
            }),
            (Follow::Leader, Some(h)) => Some(Alignment {
                follow,
                heard_after_ns: h.as_nanos() as f64,
            }),
            (Follow::Leader, None) => None,
        }
    }

    /// Where leader–follower playing stands (none: off).
    pub fn duet_status(&self) -> Option<DuetStatus> {
        if !self.3.on() {
            return None;
        }
        let (partner, channel) = self.partner_channel()?;
        let alignment = self.alignment(channel.as_ref());
        let we_hear_after = channel.as_ref().and_then(|c| c.heard_after());
        let shift = alignment.map(|a| Duration::from_nanos(a.shift_ns().max(0.0) as u64));
        let d = &self.3.0;
        Some(DuetStatus {
            partner,
            follow: alignment.map_or(Follow::Leader, |a| a.follow),
            they_hear_after: channel.as_ref().and_then(|c| c.they_heard_after()),
            we_hear_after,
            shift,
            live_delay: shift.zip(we_hear_after).map(|(s, w)| s + w),
            live: f32::from_bits(d.live_gain.load(Relaxed)) > 0.0,
            replaying: self.4.playing().is_some_and(|(of, _)| of == ReplayOf::Duet),
        })
    }

    /// The last `seconds` of the duet, aligned (our part, and the follower's shifted back by
    /// how late they heard us), with how it was aligned.
    pub fn duet_clip(&self, seconds: f64) -> Result<(Clip, Alignment), DuetError> {
        if !self.3.on() {
            return Err(DuetError::Off);
        }
        let (_, channel) = self.partner_channel().ok_or(DuetError::Off)?;
        let alignment = self
            .alignment(channel.as_ref())
            .ok_or(DuetError::NotMeasured)?;
        // What the follower said, read once for the whole clip.
        let history = match (alignment.follow, channel.as_ref()) {
            (Follow::Leader, Some(c)) => c.heard_history(),
            _ => Vec::new(),
        };
        // Their part is on their clock: with the metronome, it was played at the shared
        // instant; as a follower, when our sound played at `at` reached them (the delay then in
        // force).
        let estimate = channel.as_ref().map(|c| c.estimate());
        let shift_at = |at: f64| match alignment.follow {
            // (No channel: nothing of theirs but what was placed on ours.)
            Follow::Metronome => estimate
                .flatten()
                .map_or(0.0, |e| e.remote_at(at as u64) - at),
            Follow::Leader => delay_at(&history, at).unwrap_or(0.0),
        };
        let unplaced = match alignment.follow {
            Follow::Leader => history.is_empty(),
            Follow::Metronome => estimate.is_some_and(|e| e.is_none()),
        };
        if unplaced {
            return Err(DuetError::NotMeasured);
        }
        let rings = lock(&self.3.0.rings);
        let rings = rings.as_ref().ok_or(DuetError::Off)?;
        let clip = Clip::aligned(&rings.own, &rings.theirs, seconds, shift_at)
            .ok_or(DuetError::Nothing)?;
        Ok((clip, alignment))
    }

    /// Plays the last `seconds` of the duet, aligned, in our ears (the lesson goes on); with
    /// the metronome's clicks where they were, if it was running.
    pub fn replay_duet(&self, seconds: f64) -> Result<Alignment, DuetError> {
        let (clip, alignment) = self.duet_clip(seconds)?;
        self.4.play(Replaying {
            of: ReplayOf::Duet,
            mono: clip
                .own
                .iter()
                .zip(&clip.theirs)
                .map(|(a, b)| a + b)
                .collect(),
            at: 0,
            clicks_from: (alignment.follow == Follow::Metronome).then_some(clip.start_ns),
        });
        Ok(alignment)
    }

    /// Instant replay: what is kept of our part and everyone's.
    pub fn kept(&self) -> Recent {
        let _ = self.4.0.recorder.set(self.5.clone());
        self.4.clone()
    }

    /// Plays the last `seconds` of a part (ours, or a participant's as we heard it) in our
    /// ears, in place of any replay sounding; the lesson goes on. Returns how long it plays.
    pub fn replay(&self, of: ReplayOf, seconds: f64) -> Result<Duration, ReplayError> {
        let mono = self.4.last(&of, seconds)?;
        let length = Duration::from_secs_f64(mono.len() as f64 / f64::from(SAMPLE_RATE));
        self.4.play(Replaying {
            of,
            mono,
            at: 0,
            clicks_from: None,
        });
        Ok(length)
    }

    /// Stops a replay.
    pub fn stop_replay(&self) {
        self.4.stop();
    }

    /// Records every part from now on, each to its own file in `dir` (ours as `own_name`),
    /// until the recording is stopped (or dropped).
    pub fn record(
        &self,
        dir: &std::path::Path,
        own_name: &str,
    ) -> Result<Recording, RecordingError> {
        Recording::start(self.5.clone(), dir, own_name)
    }

    /// `who` is called `name`: their track in a recording is.
    pub fn name_part(&self, who: &str, name: &str) {
        self.5.name(who, name);
    }

    /// The last `n` samples heard from `who` (mono), for the tuner.
    pub fn recent(&self, who: &str, n: usize) -> Option<Vec<f32>> {
        let meter = lock(&self.0.items)
            .iter()
            .find(|s| s.who == who)
            .map(|s| s.meter.clone())?;
        Some(meter.last(n))
    }

    /// How long `who`'s sound takes from its microphone to our ear, as measured (none: not
    /// yet, or not a timed stream).
    pub fn heard_after(&self, who: &str) -> Option<Duration> {
        lock(&self.0.items)
            .iter()
            .find(|s| s.who == who)
            .and_then(|s| s.channel.as_ref()?.heard_after())
    }

    /// The level of what we hear from `who`.
    pub fn level(&self, who: &str) -> Option<f32> {
        lock(&self.0.items)
            .iter()
            .find(|s| s.who == who)
            .map(|s| s.meter.level())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SendReport {
    pub frames: u64,
    pub send_errors: u64,
}

/// A running send loop; `stop` ends it and returns what it did.
pub struct SendLoop {
    worker: LoopThread<SendReport>,
    /// When stream sample 0 was captured: with a clock-paced source, sample `n` was captured
    /// at `started + n / 48 kHz` (a sound card's own pace may differ slightly).
    pub started: Instant,
}

impl SendLoop {
    /// Starts sending `source` to every link in `fanout` (links may come and go).
    pub fn spawn(
        fanout: Fanout,
        mut source: Box<dyn AudioSource>,
        music: MusicConfig,
    ) -> Result<Self, PipelineError> {
        let mut encoder = MusicEncoder::new(music)?;
        // What decodes as a frame's first sample went into the encoder this much earlier.
        let lookahead = Duration::from_secs_f64(
            encoder.lookahead().unwrap_or(0) as f64 / f64::from(SAMPLE_RATE),
        );
        let frame = music.frame;
        // The first frame is complete (its last sample captured) one frame from now.
        let started = Instant::now() + Duration::from_millis(20);
        let worker = LoopThread::spawn("tutti-send", move |stop| {
            crate::realtime::promote_current_thread();
            let mut report = SendReport::default();
            let mut pcm = vec![0.0f32; frame.interleaved()];
            let mut packet = [0u8; MAX_PACKET];
            let mut red = RedEncoder::new(music.red_depth(), frame.samples() as u32, MAX_PACKET);
            let mut red_packet = [0u8; MAX_PACKET];
            let (mut links, mut links_seen) = (Vec::new(), 0u64);
            let period = frame.duration();
            let per_tick = frames_per_tick(frame);
            let mut i: u32 = 0;
            let mut suspended = false;
            let mut mic_delay = Duration::ZERO;
            while !stop.load(Relaxed) {
                fanout.links.refresh(&mut links, &mut links_seen);
                let nobody = links.is_empty() || !fanout.allowed();
                if nobody && !fanout.recording() {
                    // Nobody to send to. A sound card is paused, and only looked at a tick at
                    // a time; otherwise a tick's frames are read at once, none encoded.
                    if !suspended && source.paced() && source.suspend() {
                        suspended = true;
                        fanout.meter.clear();
                    }
                    if suspended {
                        std::thread::sleep(IDLE_TICK);
                        continue;
                    }
                    if source.paced() {
                        std::thread::sleep(IDLE_TICK);
                    } else {
                        sleep_until(started + period * (i + per_tick));
                    }
                    for _ in 0..per_tick {
                        i += 1;
                        source.fill(&mut pcm);
                        fanout.meter.record(&pcm);
                    }
                    // The next packet's copies would not be the frames just before it.
                    red.reset();
                    continue;
                }
                if suspended {
                    source.resume();
                    suspended = false;
                }
                i += 1;
                let deadline = started + period * i;
                let captured = if source.paced() {
                    // The sound card paces us: the frame is complete when `fill` returns.
                    source.fill(&mut pcm);
                    Instant::now()
                } else {
                    sleep_until(deadline);
                    source.fill(&mut pcm);
                    deadline
                };
                fanout.meter.record(&pcm);
                if i == 1 || i.is_multiple_of(DELAY_EVERY) {
                    let d = source.delay();
                    fanout.delay.set(d);
                    mic_delay = d.unwrap_or_default();
                }
                // When the frame's first sample reached the microphone.
                let first_at = captured.checked_sub(period + mic_delay).unwrap_or(captured);
                if let Some(recent) = fanout.recent.get() {
                    recent.push_own(first_at, &pcm);
                }
                if nobody {
                    // Recorded, not sent.
                    red.reset();
                    continue;
                }
                // And so what the other side decodes as that sample.
                let decoded_at = first_at.checked_sub(lookahead).unwrap_or(first_at);
                let n = match encoder.encode(&pcm, &mut packet) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "encode failed");
                        report.send_errors += 1;
                        // The next packet's copies would no longer be the frames before it.
                        red.reset();
                        continue;
                    }
                };
                // One RED envelope per frame, made for the first link that takes RED. Its
                // blocks name that link's Opus payload type; a link that negotiated another
                // (never between two Tutti peers) gets plain Opus instead.
                let red_for = links
                    .iter()
                    .find(|(_, f)| f.red_pt.is_some())
                    .map(|(_, f)| f.opus_pt);
                let red_len = match red_for {
                    Some(opus_pt) => red.encode(&packet[..n], opus_pt, &mut red_packet),
                    None => {
                        red.reset();
                        0
                    }
                };
                // Each form copied out once per frame, then shared by every link that takes it.
                let (mut red_bytes, mut plain_bytes) = (None, None);
                for (link, format) in &links {
                    let (bytes, pt) = match format.red_pt {
                        Some(red_pt) if red_for == Some(format.opus_pt) && red_len > 0 => (
                            red_bytes
                                .get_or_insert_with(|| {
                                    Bytes::copy_from_slice(&red_packet[..red_len])
                                })
                                .clone(),
                            red_pt,
                        ),
                        _ => (
                            plain_bytes
                                .get_or_insert_with(|| Bytes::copy_from_slice(&packet[..n]))
                                .clone(),
                            format.opus_pt,
                        ),
                    };
                    match link.queue_frame(bytes, pt, decoded_at) {
                        Ok(()) => report.frames += 1,
                        Err(e) => {
                            report.send_errors += 1;
                            tracing::debug!(error = %e, "send failed");
                        }
                    }
                }
            }
            report
        })
        .map_err(PipelineError::Thread)?;
        Ok(Self { worker, started })
    }

    pub fn stop(self) -> SendReport {
        self.worker.stop().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PlayoutReport {
    pub frames: u64,
    pub decoded: u64,
    pub recovered: u64,
    pub concealed: u64,
    pub silent: u64,
    pub decode_errors: u64,
    /// Frames lengthened, and pairs shortened, by whole pitch periods (the jitter buffer's
    /// changes of depth).
    pub stretched: u64,
    pub shortened: u64,
}

/// A running playout loop; `stop` ends it and hands back the sink.
pub struct PlayoutLoop<S> {
    worker: LoopThread<(S, PlayoutReport)>,
}

impl<S: AudioSink + 'static> PlayoutLoop<S> {
    /// Plays what arrives from every stream in `mix`, summed, into `sink`, one frame each
    /// frame period.
    pub fn spawn(mix: Mix, frame: FrameDuration, mut sink: S) -> Result<Self, PipelineError> {
        // Fail here, not in the thread, if a decoder cannot be made.
        StreamDecoder::new(frame)?;
        let worker = LoopThread::spawn("tutti-playout", move |stop| {
            crate::realtime::promote_current_thread();
            let mut report = PlayoutReport::default();
            // What the thread owns of each stream, by stream id.
            // Each stream's decoder, audio, timing, and the gains its fader had last frame.
            #[allow(clippy::type_complexity)]
            let mut playing: HashMap<
                u64,
                (StreamDecoder, RemoteAudio, Timing, (f32, f32)),
            > = HashMap::new();
            let (mut streams, mut streams_seen) = (Vec::new(), 0u64);
            let mut one = vec![0.0f32; frame.interleaved()];
            let mut pcm = vec![0.0f32; frame.interleaved()];
            let period = frame.duration();
            let per_tick = frames_per_tick(frame);
            let silence = vec![0.0f32; frame.interleaved() * per_tick as usize];
            let start = Instant::now();
            let mut k: u32 = 0;
            let mut suspended = false;
            // The metronome: its copy here, where its shared time comes from, and when each
            // sample we write will be heard.
            let mut metronome = Metronome::default();
            let (mut clock, mut shared) = (ClockSource::Own, None::<SharedTime>);
            let (mut metronome_seen, mut clock_read_at) = (0u64, start);
            let mut sample_clock = SampleClock::default();
            let (mut written, mut observe_at) = (0u64, 0u64);
            let ns_per_sample = period.as_secs_f64() * 1e9 / frame.samples() as f64;
            // Leader–follower: who follows (as last read), and room for our delayed part.
            let duet = &mix.3.0;
            let (mut partner, mut duet_seen) = (None::<String>, 0u64);
            let mut mono = vec![0.0f32; frame.samples()];
            let mut clicks = vec![0.0f32; frame.interleaved()];
            while !stop.load(Relaxed) {
                if streams.is_empty()
                    && !mix.0.changed_since(streams_seen)
                    && !mix.2.running.load(Relaxed)
                    && !mix.4.sounding()
                    && !mix.5.is_on()
                {
                    // Nobody to hear. A sound card is paused; otherwise a tick of silence at
                    // once.
                    if !suspended && sink.paced() && sink.suspend() {
                        suspended = true;
                    }
                    if suspended {
                        std::thread::sleep(IDLE_TICK);
                        continue;
                    }
                    if !sink.paced() {
                        sleep_until(start + period * k);
                    }
                    k += per_tick;
                    sink.write(&silence);
                    written += u64::from(per_tick) * frame.samples() as u64;
                    report.frames += u64::from(per_tick);
                    continue;
                }
                if suspended {
                    sink.resume();
                    suspended = false;
                    // The card's timeline starts again.
                    sample_clock = SampleClock::default();
                    observe_at = written;
                }
                // A sound card paces us through `write`; otherwise (or once it has failed)
                // the clock does.
                if !sink.paced() {
                    sleep_until(start + period * k);
                }
                k += 1;
                // One look at the clock a frame, for everything in it.
                let now = Instant::now();
                pcm.fill(0.0);
                if mix.0.refresh(&mut streams, &mut streams_seen) {
                    // Someone came or went: keep what we have of those still here.
                    playing.retain(|id, _| streams.iter().any(|s| s.id == *id));
                }
                // The sample of the card's own timeline that this frame's first becomes: what we
                // wrote, moved by the silence it played in our place and by what never reached
                // it. Placing by it, a glitch moves the metronome's next click with the sound.
                let card = written.saturating_add_signed(sink.slip());
                if metronome.running() || !streams.is_empty() {
                    if sample_clock.time_of(card).is_none() {
                        observe_at = written;
                    }
                    if written >= observe_at {
                        // When the next sample we write will be heard: for a sound card, after
                        // what it and its queue hold; otherwise on the loop's own schedule. A
                        // card that cannot say just now (its sound server stalled) is asked
                        // again next frame, the line meanwhile kept.
                        let heard = if sink.paced() {
                            let delay = sink.delay().map(|d| d.as_secs_f64() * 1e9);
                            let fitted = sample_clock.time_of(card).is_some();
                            (delay.is_some() || !fitted)
                                .then(|| monotonic_ns(now) as f64 + delay.unwrap_or(0.0))
                        } else {
                            Some(monotonic_ns(start) as f64 + written as f64 * ns_per_sample)
                        };
                        if let Some(heard) = heard {
                            if let Some(t) = sample_clock.time_of(card)
                                && (heard - t).abs() > 3e6
                            {
                                tracing::debug!(
                                    off_ms = (heard - t) / 1e6,
                                    confirming = sample_clock.confirming(),
                                    "the speaker's timeline is off the line fitted to it"
                                );
                            }
                            sample_clock.observe(card, heard);
                        }
                        // Every 100 ms; every frame while a move of the card's timeline is
                        // being confirmed, or the card could not say.
                        observe_at = if heard.is_none() || sample_clock.confirming() {
                            written + 1
                        } else {
                            written + OBSERVE_EVERY_SAMPLES as u64
                        };
                    }
                }
                let version = duet.version.load(Relaxed);
                if version != duet_seen
                    && let Ok(p) = duet.partner.try_lock()
                {
                    partner = p.clone();
                    duet_seen = version;
                }
                // The rings, while leader–follower is on (skipped for a frame if the engine is
                // cutting a clip this instant; our part waits in its ring meanwhile).
                let duet_on = duet.on.load(Relaxed);
                let mut rings = if duet_on {
                    duet.rings.try_lock().ok()
                } else {
                    None
                };
                // Our part, into what replays keep and (while on) the duet's ring.
                if rings.is_some() || !duet_on {
                    let Recent(kept) = &mix.4;
                    if let Ok(mut own) = kept.own.try_lock()
                        && let Ok(mut rx) = kept.own_out.try_lock()
                    {
                        while let Ok(c) = rx.pop() {
                            own.write_mono(&c.mono[..c.len]);
                            mix.5.push(
                                OWN_TRACK,
                                Placed::Contiguous(c.at_ns),
                                &c.mono[..c.len],
                                false,
                            );
                            if let Some(Some(r)) = rings.as_deref_mut() {
                                r.own.write_mono(c.at_ns, &c.mono[..c.len]);
                            }
                        }
                    }
                }
                // Everyone's part as played (a frame of someone's is missed, never waited
                // for, if a replay is being cut this instant).
                let mut parts = mix.4.0.parts.try_lock().ok();
                let heard_end = sample_clock.time_of(card + frame.samples() as u64);
                let frame_ns = frame.samples() as f64 * ns_per_sample;
                for stream in &streams {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        playing.entry(stream.id)
                        && let Ok(decoder) = StreamDecoder::new(frame)
                        // Taken once; `try_lock` because this thread waits for nobody (the
                        // engine holds it only while handing the stream over).
                        && let Some(audio) = stream.audio.try_lock().ok().and_then(|mut a| a.take())
                    {
                        slot.insert((
                            decoder,
                            audio,
                            Timing::default(),
                            stream.fader.get().gains(),
                        ));
                    }
                    let Some((decoder, audio, timing, gains)) = playing.get_mut(&stream.id) else {
                        continue;
                    };
                    // Where a recording places this frame: when it was played at its
                    // microphone, on our clock; else (no timing yet) when we hear it.
                    let mut played_at = None;
                    decoder.fill(audio.take_arrivals(), &mut one, &mut report, now);
                    audio.publish();
                    if let Some(channel) = &stream.channel
                        && let Some(until) = decoder.played_until(audio.buffer())
                        && let Some(captured_end) = timing.captured(channel, until, now)
                    {
                        if let Some(heard_end) = heard_end {
                            if let Some((ts, at)) =
                                timing.heard(until, heard_end, captured_end, now)
                            {
                                channel.heard_changed(ts, at);
                            }
                            channel.set_heard_after(timing.ear);
                        }
                        played_at = timing.estimate.map(|e| {
                            let at_ns = captured_end - frame_ns;
                            Placed::Sender {
                                at_ns,
                                offset_ns: e.local_at(at_ns) - at_ns,
                            }
                        });
                        if partner.as_deref() == Some(stream.who.as_str())
                            && let Some(Some(r)) = rings.as_deref_mut()
                        {
                            let first = captured_end - frame.samples() as f64 * ns_per_sample;
                            r.theirs.write_stereo(first, &one);
                        }
                    }
                    if stream.muted.load(Relaxed) {
                        one.fill(0.0);
                    }
                    stream.meter.record(&one);
                    if let Some(ring) = parts.as_mut().and_then(|p| p.get_mut(&stream.who)) {
                        ring.write_stereo(&one);
                    }
                    // A timed stream waits for its timing (after a rebuilt link too): what
                    // comes before is a gap, never a stretch placed by another clock.
                    let at = match &stream.channel {
                        Some(_) => played_at,
                        None => heard_end.map(|h| Placed::Contiguous(h - frame_ns)),
                    };
                    if let Some(at) = at {
                        mix.5.push(stream.track, at, &one, true);
                    }
                    // A moved fader glides there over the frame: no click.
                    *gains = stream.fader.get().mix_into_from(*gains, &one, &mut pcm);
                }
                let version = mix.2.version.load(Relaxed);
                if version != metronome_seen
                    && let Ok(m) = mix.2.inner.try_lock()
                {
                    metronome.set_plan(m.plan.clone());
                    metronome.set_gain(m.gain);
                    clock = m.clock.clone();
                    metronome_seen = version;
                    clock_read_at = start;
                }
                if metronome.running() {
                    if now >= clock_read_at
                        && let Some(s) = clock.try_shared_time()
                    {
                        shared = s;
                        clock_read_at = now + Duration::from_millis(100);
                    }
                    if let (Some(shared), Some(first)) = (shared, sample_clock.time_of(card)) {
                        metronome.render(&mut pcm, first, sample_clock.ns_per_sample(), &shared);
                    }
                }
                let live = f32::from_bits(duet.live_gain.load(Relaxed));
                if live > 0.0
                    && let Some(Some(r)) = rings.as_deref()
                    && let Some(first) = sample_clock.time_of(card)
                    && let Some(delay) = live_delay(&mix, partner.as_deref(), &streams)
                {
                    // Our part as it was when the follower's, arriving now, was played to it.
                    r.own.read(first - delay, &mut mono);
                    for (pair, m) in pcm.chunks_exact_mut(2).zip(&mono) {
                        pair[0] += m * live;
                        pair[1] += m * live;
                    }
                }
                drop(rings);
                drop(parts);
                if let Ok(mut replay) = mix.4.0.playing.try_lock()
                    && let Some(r) = replay.as_mut()
                {
                    let n = frame.samples().min(r.mono.len().saturating_sub(r.at));
                    for (pair, v) in pcm.chunks_exact_mut(2).zip(&r.mono[r.at..r.at + n]) {
                        pair[0] += v;
                        pair[1] += v;
                    }
                    if let (Some(from), Some(shared)) = (r.clicks_from, shared) {
                        clicks.fill(0.0);
                        let first = from + r.at as f64 * NOMINAL_NS_PER_SAMPLE;
                        metronome.render(&mut clicks, first, NOMINAL_NS_PER_SAMPLE, &shared);
                        for (o, c) in pcm.iter_mut().zip(&clicks).take(n * 2) {
                            *o += c;
                        }
                    }
                    r.at += n;
                    mix.4.0.left.store((r.mono.len() - r.at) as u64, Relaxed);
                    if r.at >= r.mono.len() {
                        *replay = None;
                    }
                }
                sink.write(&pcm);
                written += frame.samples() as u64;
                report.frames += 1;
                if k.is_multiple_of(DELAY_EVERY) {
                    mix.1.set(sink.delay());
                }
            }
            (sink, report)
        })
        .map_err(PipelineError::Thread)?;
        Ok(Self { worker })
    }

    /// Stops, and returns the sink with what it got.
    pub fn stop(self) -> Option<(S, PlayoutReport)> {
        self.worker.stop()
    }
}

/// Where a timed stream stands against its sender's clock, as the playout thread last read
/// it from the link's channel (every 100 ms: it changes slowly), and its measured delay.
#[derive(Default)]
struct Timing {
    estimate: Option<ClockEstimate>,
    anchor: Option<(u32, u64)>,
    read_at: Option<Instant>,
    /// Their microphone to our ear, ns, smoothed over a few frames; and as last told (each
    /// instant on its own clock).
    ear: Option<f64>,
    told: Option<(f64, Instant)>,
    /// The first frame of the latest change not told yet: its timestamp, when heard, and
    /// that less when it was captured (each on its own clock).
    change: Option<(u32, f64, f64)>,
}

/// A change of the delay the sender is told of at once (the jitter buffer changed its depth,
/// the sound card's timeline moved).
const TELL_CHANGE_NS: f64 = 0.5e6;
/// Changes are told no more often than this (the channel also carries the clock exchange);
/// of several in that time, the latest, so that their part is placed right from it on.
const TELL_AT_MOST_EVERY: Duration = Duration::from_millis(50);

/// How much of a new measure of the delay goes into the smoothed one, per frame.
const EAR_ALPHA: f64 = 0.05;

impl Timing {
    /// When the sample stamped `until` (the stream's last one played, see
    /// [`StreamDecoder::played_until`]) reached its sender's microphone, on the sender's clock.
    fn captured(&mut self, channel: &PeerChannelState, until: u32, now: Instant) -> Option<f64> {
        if self.read_at.is_none_or(|r| now >= r) {
            if let Some(e) = channel.try_estimate() {
                self.estimate = e;
            }
            if let Some(a) = channel.try_anchor_in() {
                self.anchor = a;
            }
            self.read_at = Some(now + Duration::from_millis(100));
        }
        let (anchor_ts, anchor_ns) = self.anchor?;
        let since = f64::from(until.wrapping_sub(anchor_ts) as i32);
        Some(anchor_ns as f64 + since * NOMINAL_NS_PER_SAMPLE)
    }

    /// The frame whose last sample, stamped `until`, is heard at `heard_end` (our clock) and
    /// was played at `captured_end` (the sender's): its delay. Returns what to tell the sender
    /// now (the first frame of a change of the delay, which holds from that frame on), if
    /// anything.
    fn heard(
        &mut self,
        until: u32,
        heard_end: f64,
        captured_end: f64,
        now: Instant,
    ) -> Option<(u32, f64)> {
        let ear = heard_end - self.estimate?.local_at(captured_end);
        // A stream's delay is never negative, nor anything like ten seconds: a stale anchor
        // or a clock not settled yet.
        if !(0.0..10e9).contains(&ear) {
            return None;
        }
        self.ear = Some(self.ear.map_or(ear, |e| e + EAR_ALPHA * (ear - e)));
        // A change is judged with each instant on its own clock: a new estimate of the
        // sender's clock (it moves by milliseconds at times) is not a change of the delay.
        let apart = heard_end - captured_end;
        let told = self.told.map(|(t, _)| t);
        if told.is_none_or(|t| (apart - t).abs() > TELL_CHANGE_NS) {
            // Where it changed, kept until it may be told; a change of the change since
            // replaces it (telling the first would misplace everything after the second).
            if self
                .change
                .is_none_or(|(_, _, c)| (apart - c).abs() > TELL_CHANGE_NS)
            {
                self.change = Some((until, heard_end, apart));
            }
        } else {
            self.change = None;
        }
        if self
            .told
            .is_some_and(|(_, at)| now < at + TELL_AT_MOST_EVERY)
        {
            return None;
        }
        let (ts, at, apart) = self.change.take()?;
        self.told = Some((apart, now));
        Some((ts, at))
    }
}

/// In `history` (from each instant on, the follower's delay), the delay in force at `at`: the
/// last said before it (the first, before any).
fn delay_at(history: &[(f64, f64)], at: f64) -> Option<f64> {
    let i = history.partition_point(|(t, _)| *t <= at);
    history.get(i.saturating_sub(1)).map(|(_, d)| *d)
}

/// The live monitor's delay of our part: how late the follower heard us (0 with the metronome,
/// which they heard when we did), and how late we hear them.
fn live_delay(mix: &Mix, partner: Option<&str>, streams: &[Arc<Stream>]) -> Option<f64> {
    let stream = streams.iter().find(|s| Some(s.who.as_str()) == partner)?;
    let channel = stream.channel.as_ref()?;
    let shift = mix.alignment(Some(channel))?.shift_ns();
    Some(shift + channel.heard_after()?.as_nanos() as f64)
}

/// Samples per channel in `d`.
pub fn samples_in(d: Duration) -> u64 {
    (d.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::MemorySink;

    #[test]
    fn a_meter_keeps_the_last_samples_for_the_tuner() {
        let m = Meter::default();
        assert!(m.last(10).is_empty());
        let frame: Vec<f32> = (0..480).flat_map(|i| [i as f32, i as f32 + 1.0]).collect();
        for _ in 0..20 {
            m.record(&frame);
        }
        let last = m.last(5);
        assert_eq!(last, vec![475.5, 476.5, 477.5, 478.5, 479.5]);
        assert_eq!(m.last(100_000).len(), TAP_LEN);
    }

    #[test]
    fn a_meter_falls_by_half_in_150_ms_whatever_the_frame() {
        for frame in [120usize, 480, 1440] {
            let m = Meter::default();
            m.record(&vec![0.5; frame]);
            assert_eq!(m.level(), 0.5);
            // 150 ms of silence, a frame at a time.
            for _ in 0..(7_200 / (frame / 2)) {
                m.record(&vec![0.0; frame]);
            }
            assert!((m.level() - 0.25).abs() < 0.01, "{} at {frame}", m.level());
            // A louder frame shows at once.
            m.record(&vec![0.9; frame]);
            assert_eq!(m.level(), 0.9);
        }
    }

    /// A source that notes when it was read.
    struct Noting(Arc<Mutex<Vec<Instant>>>);

    impl AudioSource for Noting {
        fn fill(&mut self, out: &mut [f32]) {
            out.fill(0.25);
            lock(&self.0).push(Instant::now());
        }
    }

    /// Times the loop woke: reads more than 1 ms apart (a burst of reads is one wake-up).
    fn wakeups(reads: &[Instant]) -> usize {
        1 + reads
            .windows(2)
            .filter(|w| w[1] - w[0] > Duration::from_millis(1))
            .count()
    }

    #[test]
    fn with_nobody_to_send_to_the_send_loop_wakes_once_a_tick() {
        let reads = Arc::new(Mutex::new(Vec::new()));
        let fanout = Fanout::default();
        let music = MusicConfig {
            frame: FrameDuration::Ms2_5,
            ..MusicConfig::default()
        };
        let send = SendLoop::spawn(fanout.clone(), Box::new(Noting(reads.clone())), music).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let report = send.stop();
        let reads = lock(&reads).clone();
        // The source is still read at its pace (the meter moves)...
        assert!(reads.len() >= 80, "{} reads in 300 ms", reads.len());
        assert!(fanout.meter().level() > 0.2);
        // ...but nothing is encoded or sent, and the loop wakes ~15 times, not 120.
        assert_eq!(report.frames + report.send_errors, 0);
        let woke = wakeups(&reads);
        assert!(woke <= 25, "woke {woke} times in 300 ms");
    }

    #[test]
    fn with_nobody_to_hear_the_playout_loop_writes_a_tick_of_silence_at_once() {
        let sink = MemorySink::default();
        let playout =
            PlayoutLoop::spawn(Mix::default(), FrameDuration::Ms2_5, sink.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (_, report) = playout.stop().unwrap();
        let got = sink.take();
        let blocks: Vec<Instant> = got.blocks.iter().map(|(_, t)| *t).collect();
        // The sink is kept fed at its pace, with silence...
        assert!(report.frames >= 80, "{} frames in 300 ms", report.frames);
        assert!(got.samples.iter().all(|s| *s == 0.0));
        // ...in a few large writes rather than one per frame.
        assert!(blocks.len() <= 25, "{} writes in 300 ms", blocks.len());
        assert_eq!(report.decoded + report.concealed + report.silent, 0);
    }

    /// A sound card's output as the loop sees it: paced (writes block for a frame's time), and
    /// able to pause.
    #[derive(Clone, Default)]
    struct Card(Arc<Mutex<CardLog>>);

    #[derive(Default)]
    struct CardLog {
        paused: bool,
        writes_while_paused: usize,
        writes: usize,
        pauses: usize,
        resumes: usize,
    }

    impl AudioSink for Card {
        fn write(&mut self, frames: &[f32]) {
            std::thread::sleep(Duration::from_secs_f64(
                frames.len() as f64 / 2.0 / f64::from(SAMPLE_RATE),
            ));
            let mut log = lock(&self.0);
            log.writes += 1;
            if log.paused {
                log.writes_while_paused += 1;
            }
        }

        fn paced(&self) -> bool {
            true
        }

        fn suspend(&mut self) -> bool {
            let mut log = lock(&self.0);
            log.paused = true;
            log.pauses += 1;
            true
        }

        fn resume(&mut self) {
            let mut log = lock(&self.0);
            log.paused = false;
            log.resumes += 1;
        }
    }

    #[test]
    fn a_sound_card_with_nothing_to_play_is_paused_until_someone_is_heard() {
        let card = Card::default();
        let mix = Mix::default();
        let playout = PlayoutLoop::spawn(mix.clone(), FrameDuration::Ms2_5, card.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        {
            let log = lock(&card.0);
            assert!(log.paused, "paused while nobody is there");
            assert_eq!((log.pauses, log.writes_while_paused), (1, 0));
        }
        // Someone arrives: the card plays again, and is written to.
        let (_feed, audio, _) = crate::jitter_feed::audio_feed(
            crate::jitter::JitterConfig::for_frame(FrameDuration::Ms2_5),
        );
        mix.add("p1", audio);
        std::thread::sleep(Duration::from_millis(100));
        let _ = playout.stop();
        let log = lock(&card.0);
        assert_eq!((log.resumes, log.writes_while_paused), (1, 0));
        assert!(!log.paused);
        assert!(log.writes > 10, "{} writes after someone came", log.writes);
    }

    /// A sound card that keeps what it plays on its own timeline: what is written first is
    /// heard 20 ms after the first write, the rest a sample period apart. Once `underrun_at`
    /// frames are written it plays `underrun` frames of silence in our place, right after the
    /// loop last asked its delay (the loop's next look at it is 100 ms away), as when the
    /// loop comes late; it says so through `slip`, and its delay counts the silence.
    #[derive(Clone, Default)]
    struct Timeline(Arc<Mutex<TimelineLog>>);

    #[derive(Default)]
    struct TimelineLog {
        t0: Option<f64>,
        played: Vec<f32>,
        written: usize,
        asked_at: usize,
        underrun_at: usize,
        underrun: usize,
        slipped: bool,
    }

    impl AudioSink for Timeline {
        fn write(&mut self, frames: &[f32]) {
            let due = {
                let mut l = lock(&self.0);
                let now = monotonic_ns(Instant::now()) as f64;
                let t0 = *l.t0.get_or_insert(now + 20e6);
                l.played
                    .extend(frames.chunks_exact(crate::format::CHANNELS).map(|f| f[0]));
                l.written += frames.len() / crate::format::CHANNELS;
                if !l.slipped && l.underrun_at > 0 && l.asked_at >= l.underrun_at {
                    l.slipped = true;
                    let n = l.underrun;
                    l.played.extend(std::iter::repeat_n(0.0, n));
                }
                // Back when 20 ms of what was written wait to be heard.
                t0 + l.played.len() as f64 * NOMINAL_NS_PER_SAMPLE - 20e6
            };
            let now = monotonic_ns(Instant::now()) as f64;
            std::thread::sleep(Duration::from_nanos((due - now).max(0.0) as u64));
        }

        fn paced(&self) -> bool {
            true
        }

        fn delay(&self) -> Option<Duration> {
            let mut l = lock(&self.0);
            l.asked_at = l.written;
            let at = l.t0? + l.played.len() as f64 * NOMINAL_NS_PER_SAMPLE;
            let now = monotonic_ns(Instant::now()) as f64;
            Some(Duration::from_nanos((at - now).max(0.0) as u64))
        }

        fn slip(&self) -> i64 {
            let l = lock(&self.0);
            if l.slipped { l.underrun as i64 } else { 0 }
        }
    }

    /// The playout loop comes late once and the card plays 13 ms of silence in its place,
    /// right after the loop looked at it: the metronome's next click, 40 ms later, is heard on
    /// its beat all the same, moved with the sound at once rather than when the loop next
    /// looks at the card (100 ms on).
    #[test]
    fn an_underrun_moves_the_next_click_with_the_sound() {
        let mix = Mix::default();
        let card = Timeline::default();
        let playout = PlayoutLoop::spawn(mix.clone(), FrameDuration::Ms5, card.clone()).unwrap();
        let plan = |start_ns: f64| MetronomePlan {
            bpm: 100.0,
            accents: MetronomePlan::accents_for(4),
            count_in_bars: 0,
            start_ns: start_ns as u64,
        };
        // A metronome far off, so that the loop looks at the card every 100 ms from now.
        mix.set_metronome(Some(plan(f64::from(u32::MAX) * 1e3)), ClockSource::Own);
        let deadline = Instant::now() + Duration::from_secs(10);
        let (t0, first) = loop {
            let l = lock(&card.0);
            if let (Some(t0), true) = (l.t0, l.asked_at > 0) {
                break (t0, l.asked_at);
            }
            drop(l);
            assert!(
                Instant::now() < deadline,
                "the loop never looked at the card"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // The silence comes right after a look half a second on; the clicks start 40 ms later
        // (the frame before the silence is already written by then).
        let look = first + 5 * OBSERVE_EVERY_SAMPLES;
        let start = t0 + look as f64 * NOMINAL_NS_PER_SAMPLE + 40e6;
        {
            let mut l = lock(&card.0);
            l.underrun_at = look;
            l.underrun = 624; // 13 ms
        }
        mix.set_metronome(Some(plan(start)), ClockSource::Own);
        let beat_ns = 600e6;
        let end = look + ((40e6 + 2.5 * beat_ns) / NOMINAL_NS_PER_SAMPLE) as usize;
        while lock(&card.0).played.len() < end && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = playout.stop();
        let l = lock(&card.0);
        assert!(l.slipped, "no underrun");
        let onsets = crate::analysis::onsets(&l.played, 0.02, 50);
        let errors: Vec<f64> = onsets
            .iter()
            .map(|&i| {
                let heard = t0 + i as f64 * NOMINAL_NS_PER_SAMPLE;
                let k = ((heard - start) / beat_ns).round();
                (heard - (start + k * beat_ns)) / 1e6
            })
            .collect();
        assert!(errors.len() >= 3, "{errors:?}");
        assert!(
            errors.iter().all(|e| e.abs() < 0.2),
            "ms off the beat: {errors:?}"
        );
    }

    /// Leader–follower with "p1", who follows the metronome: placed at the shared time, no
    /// delay to wait for. The metronome is muted, so that only what is tested sounds.
    fn following_a_silent_metronome(mix: &Mix) {
        mix.set_duet(Some("p1"));
        let plan = MetronomePlan {
            bpm: 60.0,
            accents: MetronomePlan::accents_for(4),
            count_in_bars: 0,
            start_ns: 0,
        };
        mix.set_metronome(Some(plan), ClockSource::Own);
        mix.set_metronome_gain(0.0);
    }

    /// Their stream heard 100 ms after it was captured, frame after frame, with the estimate
    /// of their clock moving by 4 ms halfway: nothing to tell (it would misplace their part
    /// by 4 ms until the next change). Then the jitter buffer deepens by a frame: told, from
    /// the first frame that showed it.
    #[test]
    fn a_new_estimate_of_their_clock_is_not_a_change_of_the_delay() {
        let clock = |offset_ns: f64| ClockEstimate {
            offset_ns,
            drift_ppm: 0.0,
            at_ns: 0,
            uncertainty_ns: 0.0,
            rtt_ns: 0,
            exchanges: 10,
        };
        let mut t = Timing {
            estimate: Some(clock(0.0)),
            ..Timing::default()
        };
        let t0 = Instant::now();
        let frame_ns = 120.0 * NOMINAL_NS_PER_SAMPLE;
        let mut told = Vec::new();
        for k in 0..400u32 {
            if k == 200 {
                t.estimate = Some(clock(4e6));
            }
            let extra = if k >= 300 { 2.5e6 } else { 0.0 };
            let captured = 1e9 + f64::from(k) * frame_ns;
            let now = t0 + Duration::from_micros(2_500) * k;
            if let Some(c) = t.heard(k * 120, captured + 100e6 + extra, captured, now) {
                told.push(c);
            }
        }
        assert_eq!(told.len(), 2, "{told:?}");
        assert_eq!(told[0].0, 0);
        assert_eq!(told[1].0, 300 * 120);
        // What is shown follows the estimate (smoothed).
        assert!((t.ear.unwrap() - 106.5e6).abs() < 0.1e6, "{:?}", t.ear);
    }

    /// Three steps of the delay 25 ms apart (a sound server's stall, then the jitter buffer
    /// settling): what the sender is told last is the last step, from its first frame, so
    /// that their part is placed right from there on.
    #[test]
    fn of_steps_in_quick_succession_the_last_is_told_from_where_it_began() {
        let mut t = Timing {
            estimate: Some(ClockEstimate {
                offset_ns: 0.0,
                drift_ppm: 0.0,
                at_ns: 0,
                uncertainty_ns: 0.0,
                rtt_ns: 0,
                exchanges: 10,
            }),
            ..Timing::default()
        };
        let t0 = Instant::now();
        let frame_ns = 120.0 * NOMINAL_NS_PER_SAMPLE;
        let mut told = Vec::new();
        for k in 0..200u32 {
            let extra = match k {
                ..100 => 0.0,
                100..110 => 3e6,
                110..120 => 6e6,
                _ => 9e6,
            };
            let captured = 1e9 + f64::from(k) * frame_ns;
            let now = t0 + Duration::from_micros(2_500) * k;
            if let Some((ts, at)) = t.heard(k * 120, captured + 100e6 + extra, captured, now) {
                told.push((
                    ts / 120,
                    (at - 1e9 - f64::from(ts / 120) * frame_ns - 100e6) / 1e6,
                ));
            }
        }
        assert_eq!(told.first(), Some(&(0, 0.0)), "{told:?}");
        let last = told.last().unwrap();
        assert_eq!(last.0, 120, "{told:?}");
        assert!((last.1 - 9.0).abs() < 1e-6, "{told:?}");
    }

    #[test]
    fn the_delay_in_force_is_the_last_said_before() {
        let h = [(10.0, 100.0), (20.0, 105.0), (30.0, 98.0)];
        assert_eq!(delay_at(&h, 5.0), Some(100.0));
        assert_eq!(delay_at(&h, 20.0), Some(105.0));
        assert_eq!(delay_at(&h, 29.9), Some(105.0));
        assert_eq!(delay_at(&h, 31.0), Some(98.0));
        assert_eq!(delay_at(&[], 1.0), None);
    }

    /// The aligned replay plays in our ears while the lesson goes on: our part and the
    /// follower's, as cut from the rings, summed into what the playout loop writes.
    #[test]
    fn an_aligned_replay_is_played_into_the_output() {
        let mix = Mix::default();
        following_a_silent_metronome(&mix);
        // Two seconds of each part: ours a click at 0.5 s, theirs at 0.7 s.
        let t0 = monotonic_ns(Instant::now()) as f64 - 3e9;
        {
            let mut rings = lock(&mix.3.0.rings);
            let r = rings.as_mut().unwrap();
            let mut own = vec![0.0f32; 96_000];
            let mut theirs = vec![0.0f32; 96_000];
            own[24_000] = 0.5;
            theirs[33_600] = 0.25;
            r.own.write_mono(t0, &own);
            r.theirs.write_mono(t0, &theirs);
        }
        let alignment = mix.replay_duet(2.0).unwrap();
        assert_eq!(alignment.follow, Follow::Metronome);
        assert!(mix.duet_status().unwrap().replaying);
        let sink = MemorySink::default();
        let playout = PlayoutLoop::spawn(mix.clone(), FrameDuration::Ms5, sink.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while mix.duet_status().unwrap().replaying && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = playout.stop();
        assert!(!mix.duet_status().unwrap().replaying, "the replay ends");
        let left: Vec<f32> = sink.take().samples.iter().step_by(2).copied().collect();
        let ours = left
            .iter()
            .position(|s| *s == 0.5)
            .expect("our click replayed");
        let theirs = left
            .iter()
            .position(|s| *s == 0.25)
            .expect("their click replayed");
        // 200 ms apart, as played.
        assert_eq!(theirs - ours, 9_600);
    }

    /// Plays a 440 Hz tone from `who` into `mix` (Opus, 5-ms frames, in real time) for
    /// `seconds`, through a playout loop; returns what the loop played.
    fn play_tone_from(mix: &Mix, who: &str, seconds: f64) -> Vec<f32> {
        let frame = FrameDuration::Ms5;
        let (mut feed, audio, _) =
            crate::jitter_feed::audio_feed(crate::jitter::JitterConfig::for_frame(frame));
        mix.add(who, audio);
        let sink = MemorySink::default();
        let playout = PlayoutLoop::spawn(mix.clone(), frame, sink.clone()).unwrap();
        let mut enc = MusicEncoder::new(MusicConfig {
            frame,
            ..MusicConfig::default()
        })
        .unwrap();
        let mut tone = crate::signal::Sine::new(440.0, 0.3);
        let mut pcm = vec![0.0f32; frame.interleaved()];
        let mut out = [0u8; MAX_PACKET];
        let start = Instant::now();
        let frames = (seconds / 0.005) as u32;
        for i in 0..frames {
            tone.fill(&mut pcm);
            let n = enc.encode(&pcm, &mut out).unwrap();
            let at = start + Duration::from_millis(5 * u64::from(i));
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            feed.packet(
                i as u16,
                i * frame.samples() as u32,
                frame.samples() as u32,
                Bytes::copy_from_slice(&out[..n]),
                Instant::now(),
            );
        }
        let _ = playout.stop();
        sink.take().samples
    }

    fn energy(samples: impl Iterator<Item = f32>) -> f32 {
        samples.map(|s| s * s).sum()
    }

    /// The mixer: each participant's fader, set before they are even in the mix, shapes what
    /// we hear of them, and only that: the meter still shows them, and their part as kept for
    /// replays is as it arrived.
    #[test]
    fn a_fader_pans_turns_down_and_mutes_one_participant_for_us_alone() {
        let mix = Mix::default();
        mix.set_fader(
            "left",
            Fader {
                pan: -1.0,
                ..Fader::default()
            },
        );
        let played = play_tone_from(&mix, "left", 1.0);
        let (l, r) = (
            energy(played.iter().step_by(2).copied()),
            energy(played.iter().skip(1).step_by(2).copied()),
        );
        assert!(l > 100.0, "the tone is heard on the left ({l})");
        assert_eq!(r, 0.0, "and not at all on the right");

        let mix = Mix::default();
        mix.set_fader(
            "quiet",
            Fader {
                muted: true,
                ..Fader::default()
            },
        );
        let played = play_tone_from(&mix, "quiet", 1.0);
        assert_eq!(energy(played.into_iter()), 0.0, "muted for us");
        assert!(mix.level("quiet").unwrap() > 0.05, "yet metered");
        let kept = energy(lock(&mix.4.0.parts)["quiet"].last(0.5).into_iter());
        assert!(kept > 100.0, "and kept for a replay as it came ({kept})");

        // Unmuted at half volume: a quarter of the energy of the same tone at unity.
        let mix = Mix::default();
        let full = energy(play_tone_from(&mix, "p", 1.0).into_iter());
        let mix = Mix::default();
        mix.set_fader(
            "p",
            Fader {
                volume: 0.5,
                ..Fader::default()
            },
        );
        assert_eq!(mix.fader("p").volume, 0.5);
        let half = energy(play_tone_from(&mix, "p", 1.0).into_iter());
        let ratio = half / full;
        assert!(
            (0.2..0.3).contains(&ratio),
            "half volume, {ratio} of the energy"
        );
    }

    /// Instant replay: a participant's last seconds, as the playout loop kept them, played
    /// again into the output while the lesson goes on (their stream still mixed); a part not
    /// here, or nothing heard, is said.
    #[test]
    fn a_part_s_last_seconds_are_played_again_while_the_lesson_goes_on() {
        let mix = Mix::default();
        let (_feed, audio, _) = crate::jitter_feed::audio_feed(
            crate::jitter::JitterConfig::for_frame(FrameDuration::Ms5),
        );
        mix.add("p1", audio);
        {
            let mut parts = lock(&mix.4.0.parts);
            let mut phrase = vec![0.0f32; 48_000];
            phrase[100] = 0.5;
            phrase[47_000] = 0.25;
            parts.get_mut("p1").unwrap().write_mono(&phrase);
        }
        assert_eq!(
            mix.replay(ReplayOf::Part("p2".into()), 1.0),
            Err(ReplayError::NotHere("p2".into()))
        );
        assert_eq!(mix.replay(ReplayOf::Own, 1.0), Err(ReplayError::Nothing));
        assert_eq!(
            mix.replay(ReplayOf::Part("p1".into()), 5.0),
            Ok(Duration::from_secs(1))
        );
        let sink = MemorySink::default();
        let playout = PlayoutLoop::spawn(mix.clone(), FrameDuration::Ms5, sink.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while mix.kept().playing().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = playout.stop();
        assert!(mix.kept().playing().is_none(), "the replay ends");
        let left: Vec<f32> = sink.take().samples.iter().step_by(2).copied().collect();
        let first = left.iter().position(|s| *s == 0.5).expect("replayed");
        let last = left
            .iter()
            .position(|s| *s == 0.25)
            .expect("replayed to its end");
        assert_eq!(last - first, 46_900);
        assert_eq!(left.iter().filter(|s| **s != 0.0).count(), 2, "once");
    }

    /// The live monitor: our own part in our ears late by the follower's delays, so that it
    /// meets their part as it arrives. With the metronome the follower played at the shared
    /// instant, so the delay is ours of their sound alone (here 100 ms).
    #[test]
    fn the_live_monitor_plays_our_part_late_by_the_delay_to_meet_theirs() {
        let mix = Mix::default();
        let channel = Arc::new(PeerChannelState::default());
        channel.set_heard_after(Some(100e6));
        let (_feed, audio, _) = crate::jitter_feed::audio_feed(
            crate::jitter::JitterConfig::for_frame(FrameDuration::Ms5),
        );
        mix.add_timed("p1", audio, channel);
        following_a_silent_metronome(&mix);
        mix.set_duet_live(1.0);
        // Our part: a click 300 ms from now.
        let click_at = monotonic_ns(Instant::now()) as f64 + 300e6;
        {
            let mut rings = lock(&mix.3.0.rings);
            let mut own = vec![0.0f32; 4_800];
            own[0] = 0.5;
            rings.as_mut().unwrap().own.write_mono(click_at, &own);
        }
        let sink = MemorySink::default();
        let playout = PlayoutLoop::spawn(mix.clone(), FrameDuration::Ms5, sink.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        let _ = playout.stop();
        let got = sink.take();
        // When the sink's sample n is heard: the loop's start (the earliest write less its
        // position, to within a wake-up) + n / 48 kHz.
        let start = got
            .blocks
            .iter()
            .map(|(pos, at)| monotonic_ns(*at) as f64 - *pos as f64 * NOMINAL_NS_PER_SAMPLE)
            .fold(f64::INFINITY, f64::min);
        let left: Vec<f32> = got.samples.iter().step_by(2).copied().collect();
        let n = left
            .iter()
            .position(|s| *s == 0.5)
            .expect("our click, late");
        let heard = start + n as f64 * NOMINAL_NS_PER_SAMPLE;
        let late_ms = (heard - click_at) / 1e6;
        assert!(
            (late_ms - 100.0).abs() < 2.0,
            "heard {late_ms} ms after it was played"
        );
        assert_eq!(left.iter().filter(|s| **s != 0.0).count(), 1, "once");
    }
}
