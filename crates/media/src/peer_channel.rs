//! The link's data channel: the clock exchange with the other side, the host's metronome, and
//! once a second where our audio stream stands against our clock ([`PeerMessage::AudioAnchor`])
//! and how long the other side's sound took to reach our ear ([`PeerMessage::Heard`]).
//!
//! Clock pings once a second each way, ten while a metronome runs. One negotiated channel (id 0, the same on both sides, so neither waits for the other to
//! announce it), unordered and never retransmitted: a clock ping that arrives late is worse
//! than none, and the metronome's plan is sent again every second anyway, so a lost one costs
//! a second at most. Times are taken as a message is handed to us and just before one is
//! handed on, on the machine-wide monotonic clock ([`crate::clock`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::mpsc;
use tutti_protocol::{MetronomePlan, PeerMessage};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::PeerConnection;

use crate::clock::{instant_at, monotonic_ns};
use crate::link::{LinkError, LinkEvent, lock};
use crate::shared_clock::{ClockEstimate, ClockSync};

const CHANNEL_ID: u16 = 0;
const LABEL: &str = "tutti";
/// The host's metronome goes again this often, for a lost message or a late channel.
const METRONOME_EVERY: Duration = Duration::from_secs(1);
/// Nothing is sent this soon after the channel opens: the other side's end of a negotiated
/// channel may not be bound to its stream yet (webrtc 0.21 then takes our first message for an
/// unknown channel, logs two warnings, and drops it).
const QUIET_AFTER_OPEN: Duration = Duration::from_millis(300);
/// Larger than any message of ours: what is bigger is not read.
const MAX_MESSAGE: usize = 4096;

fn now_ns() -> u64 {
    monotonic_ns(Instant::now())
}

/// The metronome as last decided: a revision (growing) and the plan (none: stopped).
pub type MetronomeState = (u64, Option<MetronomePlan>);

/// What the link's channel task shares with the rest: the clock estimate, the metronome both
/// ways, and counters.
#[derive(Default)]
pub struct PeerChannelState {
    estimate: Mutex<Option<ClockEstimate>>,
    /// What we send as host (none: we do not send one).
    metronome_out: Mutex<Option<MetronomeState>>,
    metronome_in: Mutex<Option<MetronomeState>>,
    /// Our stream's latest RTP timestamp and when it reached our microphone (our clock, ns);
    /// theirs, as last sent.
    anchor_out: Mutex<Option<(u32, u64)>>,
    anchor_in: Mutex<Option<(u32, u64)>>,
    /// Their microphone to our ear, as our playout measures it (ns, 0: not known); ours to
    /// theirs, as they said.
    ear_out: AtomicU64,
    ear_in: AtomicU64,
    /// A change of `ear_out` to tell now: their timestamp heard, and when (our clock).
    ear_change: Mutex<Option<(u32, u64)>>,
    /// What they said, from each of our samples on (when it reached our microphone, our
    /// clock, ns): when they heard it, on their clock, less that (the last minute).
    heard_history: Mutex<std::collections::VecDeque<(f64, f64)>>,
    wake: tokio::sync::Notify,
    open: AtomicBool,
    reset: AtomicBool,
    malformed: AtomicU64,
    exchanges: AtomicU64,
}

impl PeerChannelState {
    /// Their clock against ours, once exchanges have been answered.
    pub fn estimate(&self) -> Option<ClockEstimate> {
        *lock(&self.estimate)
    }

    /// The same for an audio thread, which waits for nobody: none while the channel's task
    /// is writing it (the caller keeps what it had and asks again later).
    pub fn try_estimate(&self) -> Option<Option<ClockEstimate>> {
        match self.estimate.try_lock() {
            Ok(e) => Some(*e),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(*p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The metronome the other side (as host) last sent.
    pub fn metronome_in(&self) -> Option<MetronomeState> {
        lock(&self.metronome_in).clone()
    }

    /// Our stream's sample stamped `rtp_ts` reached the microphone at `at_ns` (our clock).
    pub fn set_anchor(&self, rtp_ts: u32, at_ns: u64) {
        *lock(&self.anchor_out) = Some((rtp_ts, at_ns));
    }

    /// Their stream's anchor (their clock), for an audio thread: `None` while it is being
    /// written (keep the last one).
    pub fn try_anchor_in(&self) -> Option<Option<(u32, u64)>> {
        match self.anchor_in.try_lock() {
            Ok(a) => Some(*a),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(*p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Their sound reaches our ear `ns` after their microphone (the playout measured it).
    pub fn set_heard_after(&self, ns: Option<f64>) {
        let v = ns
            .filter(|n| n.is_finite() && *n > 0.0)
            .map_or(0, |n| n as u64);
        self.ear_out.store(v, Relaxed);
    }

    /// We heard what decodes as their sample stamped `rtp_ts` at `at_ns` (our clock), and the
    /// delay has changed: they are told at once. Called by the playout thread, rarely (never
    /// waits: if the channel's task holds it, the next change carries it).
    pub fn heard_changed(&self, rtp_ts: u32, at_ns: f64) {
        if let Ok(mut c) = self.ear_change.try_lock() {
            *c = Some((rtp_ts, at_ns.max(0.0) as u64));
            self.wake.notify_one();
        }
    }

    /// What they said of how late they heard us, oldest first, the last minute: from our
    /// sample captured at each instant on (our clock, ns), the instant they heard it on their
    /// clock, less that one. Their clock's offset is in it, so it places their part as their
    /// clock stamped it, with no estimate of that clock in between.
    pub fn heard_history(&self) -> Vec<(f64, f64)> {
        lock(&self.heard_history).iter().copied().collect()
    }

    /// How long their sound takes to our ear, as measured here.
    pub fn heard_after(&self) -> Option<Duration> {
        match self.ear_out.load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// How long our sound takes to their ear, as they said.
    pub fn they_heard_after(&self) -> Option<Duration> {
        match self.ear_in.load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Relaxed)
    }

    /// Messages that were not ours to read.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Relaxed)
    }
}

/// The sending half, kept by the link.
pub struct PeerChannel {
    pub state: Arc<PeerChannelState>,
    wake: mpsc::UnboundedSender<()>,
}

impl PeerChannel {
    /// Creates the channel on `pc` (before the offer or answer, so that it is negotiated) and
    /// starts its task. Link events go to `events`.
    pub async fn open(
        pc: &Arc<dyn PeerConnection>,
        events: mpsc::UnboundedSender<LinkEvent>,
    ) -> Result<Self, LinkError> {
        let dc = pc
            .create_data_channel(
                LABEL,
                Some(RTCDataChannelInit {
                    ordered: false,
                    max_retransmits: Some(0),
                    negotiated: Some(CHANNEL_ID),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| LinkError::Webrtc(e.to_string()))?;
        let state = Arc::new(PeerChannelState::default());
        let (wake, wake_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(dc, state.clone(), events, wake_rx));
        Ok(Self { state, wake })
    }

    /// As host: the metronome to send (now, and every second, and to a late channel).
    pub fn set_metronome(&self, m: MetronomeState) {
        *lock(&self.state.metronome_out) = Some(m);
        let _ = self.wake.send(());
    }

    /// The path changed (an ICE restart): what was measured on the old one no longer holds.
    pub fn reset_clock(&self) {
        self.state.reset.store(true, Relaxed);
        let _ = self.wake.send(());
    }
}

async fn send(dc: &Arc<dyn DataChannel>, msg: &PeerMessage) {
    let Ok(text) = serde_json::to_string(msg) else {
        return;
    };
    // Never waits: a full buffer drops this message, as the path would.
    if let Err(e) = dc.try_send_text(&text).await {
        tracing::trace!(error = %e, "data channel send");
    }
}

/// Reads the channel's events as they come, stamped with the time they were handed to us,
/// until the channel ends or the reader is dropped (it holds the connection's core: it must
/// not outlive the link).
pub(crate) fn read_events(
    dc: Arc<dyn DataChannel>,
) -> mpsc::UnboundedReceiver<(u64, DataChannelEvent)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = dc.poll() => {
                    let Some(event) = event else { break };
                    if tx.send((now_ns(), event)).is_err() {
                        break;
                    }
                }
                () = tx.closed() => break,
            }
        }
    });
    rx
}

async fn run(
    dc: Arc<dyn DataChannel>,
    state: Arc<PeerChannelState>,
    events: mpsc::UnboundedSender<LinkEvent>,
    mut wake: mpsc::UnboundedReceiver<()>,
) {
    let mut incoming = read_events(dc.clone());
    let mut sync = ClockSync::new(now_ns());
    let mut open = false;
    let mut sent_metronome: Option<u64> = None;
    let mut metronome_at = Instant::now();
    let mut last_heard = None;
    loop {
        let ping_at = if open {
            instant_at(sync.next_ping_at()).min(metronome_at.max(quiet_until(&sync)))
        } else {
            Instant::now() + Duration::from_secs(3600)
        };
        tokio::select! {
            event = incoming.recv() => {
                let Some((at, event)) = event else { break };
                match event {
                    DataChannelEvent::OnOpen => {
                        open = true;
                        state.open.store(true, Relaxed);
                        // The first ping (and so everything else) after a quiet moment.
                        sync.reset(now_ns() + QUIET_AFTER_OPEN.as_nanos() as u64);
                        sent_metronome = None;
                        metronome_at = Instant::now() + QUIET_AFTER_OPEN;
                        let _ = events.send(LinkEvent::ChannelOpen);
                    }
                    DataChannelEvent::OnClose => {
                        state.open.store(false, Relaxed);
                        break;
                    }
                    DataChannelEvent::OnMessage(m) => {
                        on_message(&dc, &state, &events, &mut sync, at, &m.data).await;
                    }
                    _ => {}
                }
            }
            w = wake.recv() => {
                if w.is_none() {
                    break; // the link is gone
                }
            }
            () = state.wake.notified() => {}
            () = tokio::time::sleep_until(ping_at.into()) => {}
        }
        if !open {
            continue;
        }
        if state.reset.swap(false, Relaxed) {
            sync.reset(now_ns());
            *lock(&state.estimate) = None;
        }
        // Precise while a metronome runs on this link, either way.
        let precise = lock(&state.metronome_out)
            .as_ref()
            .is_some_and(|m| m.1.is_some())
            || lock(&state.metronome_in)
                .as_ref()
                .is_some_and(|m| m.1.is_some());
        sync.set_precise(precise, now_ns());
        if let Some(ping) = sync.poll_ping(now_ns()) {
            send(
                &dc,
                &PeerMessage::ClockPing {
                    id: ping.id,
                    t1: ping.t1,
                },
            )
            .await;
        }
        let out = lock(&state.metronome_out).clone();
        if Instant::now() < quiet_until(&sync) {
            continue;
        }
        // Once a second: the metronome again, where our stream stands, what we hear of theirs.
        let due = Instant::now() >= metronome_at;
        if let Some((revision, plan)) = out
            && (sent_metronome != Some(revision) || due)
        {
            send(&dc, &PeerMessage::Metronome { revision, plan }).await;
            sent_metronome = Some(revision);
        }
        if due {
            let anchor = *lock(&state.anchor_out);
            if let Some((rtp_ts, at_ns)) = anchor {
                send(&dc, &PeerMessage::AudioAnchor { rtp_ts, at_ns }).await;
            }
            // The last change again, for one that was lost (unordered, unreliable).
            if let Some((rtp_ts, at_ns)) = last_heard {
                send(&dc, &PeerMessage::Heard { rtp_ts, at_ns }).await;
            }
            metronome_at = Instant::now() + METRONOME_EVERY;
        }
        let change = lock(&state.ear_change).take();
        if let Some((rtp_ts, at_ns)) = change {
            send(&dc, &PeerMessage::Heard { rtp_ts, at_ns }).await;
            last_heard = Some((rtp_ts, at_ns));
        }
    }
    state.open.store(false, Relaxed);
}

/// They heard our sample stamped `rtp_ts` at `at_ns`, their clock: how late (for the screen,
/// through the clock estimate) and, for the alignment, the two instants apart as they are.
fn on_heard(state: &PeerChannelState, estimate: Option<ClockEstimate>, rtp_ts: u32, at_ns: u64) {
    // When that sample reached our microphone (from where our stream stood last, our
    // clock), and when they heard it (theirs).
    let (Some((anchor_ts, anchor_ns)), Some(estimate)) = (*lock(&state.anchor_out), estimate)
    else {
        return;
    };
    let since = f64::from(rtp_ts.wrapping_sub(anchor_ts) as i32);
    let played = anchor_ns as f64 + since * 1e9 / f64::from(crate::format::SAMPLE_RATE);
    let after = estimate.local_at(at_ns as f64) - played;
    // Negative, or ten seconds and more, is not a delay anyone plays through.
    if !(0.0..10e9).contains(&after) {
        state.malformed.fetch_add(1, Relaxed);
        return;
    }
    state.ear_in.store(after as u64, Relaxed);
    // The history keeps the two instants apart, each on its own clock: the follower's
    // part is placed on their clock too, so the clock estimate (a few milliseconds off
    // at times across a jittery path) drops out of the alignment.
    let heard = at_ns as f64 - played;
    let mut h = lock(&state.heard_history);
    // In order: a change that overtook the second's report goes in its place.
    let place = h
        .iter()
        .rposition(|(t, _)| *t <= played)
        .map_or(0, |i| i + 1);
    if place > 0 && (h[place - 1].0 - played).abs() < 0.1e6 {
        h[place - 1].1 = heard; // the same change, again
    } else {
        h.insert(place, (played, heard));
    }
    while h.front().is_some_and(|(t, _)| *t < played - 60e9) {
        h.pop_front();
    }
}

/// Until the first ping is due after opening, the channel stays quiet.
fn quiet_until(sync: &ClockSync) -> Instant {
    instant_at(sync.first_ping_at())
}

async fn on_message(
    dc: &Arc<dyn DataChannel>,
    state: &PeerChannelState,
    events: &mpsc::UnboundedSender<LinkEvent>,
    sync: &mut ClockSync,
    at: u64,
    data: &BytesMut,
) {
    let parsed = (data.len() <= MAX_MESSAGE)
        .then(|| serde_json::from_slice::<PeerMessage>(data).ok())
        .flatten();
    let Some(msg) = parsed else {
        state.malformed.fetch_add(1, Relaxed);
        tracing::debug!(
            bytes = data.len(),
            "a data channel message that is not ours"
        );
        return;
    };
    match msg {
        PeerMessage::ClockPing { id, .. } => {
            let t3 = now_ns();
            send(dc, &PeerMessage::ClockPong { id, t2: at, t3 }).await;
        }
        PeerMessage::ClockPong { id, t2, t3 } => match sync.on_answer(id, t2, t3, at) {
            Ok(()) => {
                state.exchanges.fetch_add(1, Relaxed);
                *lock(&state.estimate) = sync.estimate();
            }
            Err(e) => tracing::debug!(error = %e, "clock answer not used"),
        },
        PeerMessage::AudioAnchor { rtp_ts, at_ns } => {
            *lock(&state.anchor_in) = Some((rtp_ts, at_ns));
        }
        PeerMessage::Heard { rtp_ts, at_ns } => on_heard(state, sync.estimate(), rtp_ts, at_ns),
        PeerMessage::Metronome { revision, plan } => {
            if plan.as_ref().is_some_and(|p| p.validate().is_err()) {
                state.malformed.fetch_add(1, Relaxed);
                return;
            }
            let mut m = lock(&state.metronome_in);
            if m.as_ref().is_none_or(|(r, _)| revision > *r) {
                *m = Some((revision, plan));
                drop(m);
                let _ = events.send(LinkEvent::Metronome);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS_PER_SAMPLE: f64 = 1e9 / crate::format::SAMPLE_RATE as f64;

    fn their_clock(offset_ms: f64) -> ClockEstimate {
        ClockEstimate {
            offset_ns: offset_ms * 1e6,
            drift_ppm: 0.0,
            at_ns: 0,
            uncertainty_ns: 0.0,
            rtt_ns: 0,
            exchanges: 10,
        }
    }

    /// Their clock reads 2 s ahead of ours; they heard our sample captured at 10.01 s 100 ms
    /// later. An estimate of their clock 4 ms off changes the delay shown, never where their
    /// part is placed (the history keeps both instants on their own clocks).
    #[test]
    fn what_they_heard_places_their_part_whatever_the_clock_estimate() {
        let state = PeerChannelState::default();
        // Our sample 1 000 reached the microphone at 10 s.
        state.set_anchor(1_000, 10_000_000_000);
        let played = 10e9 + 480.0 * NS_PER_SAMPLE;
        let heard_at = (played + 2e9 + 100e6) as u64;
        on_heard(&state, Some(their_clock(2_000.0)), 1_480, heard_at);
        let shown = state.they_heard_after().unwrap().as_secs_f64() * 1e3;
        assert!((shown - 100.0).abs() < 1e-3, "{shown} ms");
        let placed = state.heard_history();
        assert_eq!(placed.len(), 1);
        assert!((placed[0].0 - played).abs() < 1.0);
        assert!((placed[0].1 - 2_100e6).abs() < 1.0);
        // The same report again, a second later: our anchor has moved on, the estimate is
        // 4 ms off. One change still, placed as before; the delay shown moves.
        state.set_anchor(49_000, 11_000_000_000);
        on_heard(&state, Some(their_clock(2_004.0)), 1_480, heard_at);
        let shown = state.they_heard_after().unwrap().as_secs_f64() * 1e3;
        assert!((shown - 96.0).abs() < 1e-3, "{shown} ms");
        let again = state.heard_history();
        assert_eq!(again.len(), 1);
        assert!((again[0].0 - placed[0].0).abs() < 1.0);
        assert!((again[0].1 - placed[0].1).abs() < 1.0, "{again:?}");
        assert_eq!(state.malformed(), 0);
        // Heard before it was played: not ours to place.
        on_heard(
            &state,
            Some(their_clock(2_000.0)),
            1_480,
            heard_at - 200_000_000,
        );
        assert_eq!(state.malformed(), 1);
        assert_eq!(state.heard_history().len(), 1);
    }
}
