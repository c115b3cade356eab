//! The receive-side jitter buffer, tuned for playing together: it holds as little audio as the
//! network's measured jitter allows, and no more.
//!
//! Packets come in with their RTP sequence number; the playout side asks for one frame each
//! frame period ([`JitterBuffer::pop`]) and gets the packet to decode, the packet after a lost
//! one (to recover it from, with FEC where the codec carries any), or "conceal" when there is
//! nothing to go on. Pure: the caller passes the time, so tests replay any network exactly.
//!
//! - **Target depth** follows the spread of packet delays over the last couple of seconds (a high
//!   quantile minus the minimum), in whole frames, between `min_depth` and `max_depth`.
//! - **Drift** between the two sound cards' clocks slowly fills or drains the buffer. A smoothed
//!   level is compared with the target: above it by more than a frame, two frames are played in
//!   the time of one; below it, what was played is lengthened by about a frame (both by whole
//!   pitch periods, [`crate::stretch`], so a held note does not jump). Over an hour at 100 ppm
//!   that is one frame every 25 s at 2.5 ms frames, instead of a buffer that grows or starves;
//!   the stream decoder takes most of it away by following the sender's clock
//!   ([`JitterBuffer::sender_position`], [`crate::drift`]), so these are for jitter that rose
//!   or calmed.
//! - Sequence numbers are 16-bit and wrap; they are unwrapped to 64 bits. Late packets (their turn
//!   has passed) and duplicates are dropped and counted; a jump far ahead (the sender restarted)
//!   resets the buffer.

use crate::format::FrameDuration;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// An encoded frame as it arrived; cheap to clone.
pub type Payload = bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    pub frame: FrameDuration,
    /// Never fewer frames buffered than this when playing.
    pub min_depth: u32,
    /// Never more latency than this many frames: beyond, frames are dropped.
    pub max_depth: u32,
    /// How far back the delay statistics look.
    pub window: Duration,
    /// Which quantile of the delay spread the target covers (the rest is concealed).
    pub quantile: f64,
    /// Added to the measured spread before rounding up to frames.
    pub margin: Duration,
    /// An excess over the target this large (frames), for as many frames, is a pile-up — a
    /// sound card that stalled, packets held up and then delivered together — and is given
    /// back at once: one jump instead of seconds of small skips. Smaller excesses go a frame
    /// at a time, so a hiccup costs no audio.
    pub pile_up: u32,
}

impl JitterConfig {
    pub fn for_frame(frame: FrameDuration) -> Self {
        let frames_in = |d: Duration| (d.as_micros() / frame.duration().as_micros().max(1)) as u32;
        Self {
            frame,
            min_depth: 1,
            max_depth: frames_in(Duration::from_millis(200)).max(2),
            window: Duration::from_secs(2),
            quantile: 0.98,
            margin: Duration::from_micros(500),
            // Off until the lesson tests have been seen to pass with it on a busy machine
            // (with it at 30–200 ms they lost clicks in some full runs; whether they also do
            // without it is not known yet).
            pile_up: u32::MAX,
        }
    }
}

/// What to play for one frame period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet(Payload),
    /// The frame was lost; this is the packet after it, to recover it from.
    Recover(Payload),
    /// Lost, nothing to recover from: let the decoder conceal it.
    Conceal,
    /// Nothing to play yet, nothing lost: the buffer ran dry (its packet is most likely just
    /// behind) or is being brought up to its target. Lengthen what was played by about a frame
    /// of whole pitch periods ([`crate::stretch`]), so that the packet, when it plays, joins
    /// without a seam; the decoder's concealment when that cannot be done.
    Stretch,
    /// Two frames in a row, to be played shortened by about one (the buffer holds more than
    /// its target): whole periods cut out, where dropping a frame would jump.
    Shorten(Payload, Payload),
    /// Not playing yet (buffering up to the target): play silence.
    Waiting,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    pub recovered: u64,
    /// Frames played from a redundant copy (RED) because their own packet never came.
    pub repaired: u64,
    /// Frames concealed because their packet was missing (lost, or late).
    pub concealed: u64,
    /// Packets that came after their turn.
    pub late: u64,
    pub duplicates: u64,
    /// Frames dropped to bring the latency back to the target (drift, or jitter that calmed).
    pub dropped: u64,
    /// Frames filled in while waiting for a packet that had not arrived yet (an underrun).
    pub inserted: u64,
    /// Frames' worth of lengthening to bring the buffer back up to its target (drift, or
    /// jitter that rose): the sender's audio played slower for a moment, nothing lost or made
    /// up, so not concealment (WebRTC's "inserted samples for deceleration").
    pub slowed: u64,
    /// Times the stream restarted (a jump in sequence numbers, or a long silence).
    pub resets: u64,
    /// Frames buffered now.
    pub depth: u32,
    /// Frames the buffer aims to hold.
    pub target: u32,
    /// The measured delay spread (quantile minus minimum), in ms.
    pub jitter_ms: f64,
    /// How much faster than its nominal rate the sender's audio plays (negative: slower), in
    /// ppm: the two sound cards' clock difference, followed by resampling (as the playout
    /// reports it, [`JitterBuffer::note_rate`]).
    pub rate_ppm: f64,
}

impl JitterStats {
    /// Frames played that were not the real packet (recovered from the next, concealed or
    /// inserted), per frame played. In music mode a recovered frame is a concealed one (CELT
    /// carries no FEC), so it counts.
    pub fn concealed_ratio(&self) -> f64 {
        let total = self.played + self.recovered + self.concealed + self.inserted;
        if total == 0 {
            0.0
        } else {
            (self.recovered + self.concealed + self.inserted) as f64 / total as f64
        }
    }
}

/// Unwraps 16-bit RTP sequence numbers into a monotonic 64-bit count.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeqUnwrap {
    highest: Option<u64>,
}

impl SeqUnwrap {
    pub(crate) fn unwrap(&mut self, seq: u16) -> u64 {
        let Some(high) = self.highest else {
            // Start in the middle of the 64-bit space so that earlier packets stay positive.
            let ext = (1u64 << 32) + u64::from(seq);
            self.highest = Some(ext);
            return ext;
        };
        let base = high & !0xFFFF;
        let mut ext = base | u64::from(seq);
        // The candidate closest to the highest seen.
        if ext + 0x8000 < high {
            ext += 0x1_0000;
        } else if ext > high + 0x8000 && ext >= 0x1_0000 {
            ext -= 0x1_0000;
        }
        if ext > high {
            self.highest = Some(ext);
        }
        ext
    }
}

/// Numbers a stream's frames from their RTP timestamps, for the jitter buffer's `seq`. Sequence
/// numbers are not frame numbers: a browser sends padding-only packets (bandwidth probes) on the
/// audio stream, each taking a sequence number and carrying no audio, which would read as lost
/// frames. Timestamps advance by the frame's samples whatever else is sent (and are what RED's
/// copies are placed by).
#[derive(Debug, Default, Clone)]
pub struct FrameIndex {
    /// The newest timestamp seen, and its frame number.
    newest: Option<(u32, u16)>,
}

impl FrameIndex {
    /// The frame number of a packet stamped `timestamp` whose frames carry `samples` each.
    pub fn index(&mut self, timestamp: u32, samples: u32) -> u16 {
        let Some((ts, n)) = self.newest else {
            self.newest = Some((timestamp, 0));
            return 0;
        };
        // Signed distance, so that a late packet numbers before the newest (and across the
        // 32-bit wrap, once a day at 48 kHz).
        let d = i64::from(timestamp.wrapping_sub(ts) as i32);
        let frames = d.div_euclid(i64::from(samples.max(1)));
        // Mod 2^16, as sequence numbers are (the buffer unwraps them).
        let index = n.wrapping_add(frames as u16);
        if d > 0 {
            self.newest = Some((timestamp, index));
        }
        index
    }
}

/// A frame waiting to play, and whether it came as a redundant copy (RED) rather than in its
/// own packet.
struct Slot {
    payload: Payload,
    copy: bool,
}

pub struct JitterBuffer {
    /// The configuration as given, in playout frames.
    base: JitterConfig,
    /// The same, in the sender's packets.
    cfg: JitterConfig,
    /// The sender's packets: samples per channel, and µs.
    packet_samples: u32,
    frame_us: f64,
    /// Packets popped per playout period (more than one when the sender's frames are shorter
    /// than ours), and where in that group the next pop is: the level is measured, and drift
    /// corrected, once a period.
    burst: u32,
    burst_pos: u32,
    seq: SeqUnwrap,
    slots: BTreeMap<u64, Slot>,
    /// The next sequence number to play; `None` while buffering.
    next: Option<u64>,
    /// (arrival, relative delay in µs) over the window.
    delays: VecDeque<(Instant, f64)>,
    /// Arrival time of the first packet minus its media time: the delay reference.
    epoch: Option<(Instant, u64)>,
    since_target_update: u32,
    /// Smoothed depth at playout, in frames.
    level: f64,
    /// Frames concealed in a row: a long run means the stream stopped.
    missing_run: u32,
    /// Pops in a row with the buffer deeper than a pile-up.
    piled: u32,
    /// Concealed frames played while waiting for `next`: if it turns out lost, they were its
    /// concealment (and that of the ones after it), not extra audio.
    waited: u32,
    /// The newest packet (unwrapped sequence number) and when it arrived; and how many times
    /// the stream's timeline has started over (restarts, pauses, a new packet length).
    newest: Option<(u64, Instant)>,
    epoch_count: u32,
    /// A packet's place and its RTP timestamp: where the sender's timeline is.
    stamp: Option<(u64, u32)>,
    stats: JitterStats,
}

/// Recompute the target every this many packets: the quantile needs a sort.
const TARGET_EVERY: u32 = 16;
/// Smoothing of the depth for drift decisions (per frame played).
const LEVEL_ALPHA: f64 = 0.01;

impl JitterBuffer {
    pub fn new(cfg: JitterConfig) -> Self {
        Self {
            base: cfg,
            packet_samples: cfg.frame.samples() as u32,
            frame_us: cfg.frame.duration().as_micros() as f64,
            burst: 1,
            burst_pos: 0,
            seq: SeqUnwrap::default(),
            slots: BTreeMap::new(),
            next: None,
            delays: VecDeque::new(),
            epoch: None,
            since_target_update: 0,
            level: f64::from(cfg.min_depth),
            missing_run: 0,
            piled: 0,
            waited: 0,
            newest: None,
            stamp: None,
            epoch_count: 0,
            stats: JitterStats {
                target: cfg.min_depth,
                ..JitterStats::default()
            },
            cfg,
        }
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats {
            depth: self.depth(),
            ..self.stats
        }
    }

    /// Where the sender's stream stands at `now`, in samples of its own timeline: the newest
    /// packet's end, plus the time since it arrived (so the position moves smoothly between
    /// packets); with the stream's epoch, which changes whenever that timeline starts over.
    /// `None` when nothing has arrived for a while (the stream paused: no telling).
    pub fn sender_position(&self, now: Instant) -> Option<(u32, f64)> {
        let (ext, at) = self.newest?;
        let since = now.saturating_duration_since(at);
        if since > Duration::from_millis(60) {
            return None;
        }
        let samples = f64::from(self.packet_samples);
        let place = (ext + 1) as f64 * samples
            + since.as_secs_f64() * f64::from(crate::format::SAMPLE_RATE);
        Some((self.epoch_count, place))
    }

    /// The rate the playout follows the sender's clock at, for the statistics.
    pub fn note_rate(&mut self, ppm: f64) {
        self.stats.rate_ppm = ppm;
    }

    /// Frames buffered from the next one to play on.
    pub fn depth(&self) -> u32 {
        match self.next {
            Some(n) => self.slots.range(n..).count() as u32,
            None => self.slots.len() as u32,
        }
    }

    /// The audio waiting in the buffer, for latency reports.
    pub fn buffered(&self) -> Duration {
        Duration::from_micros((self.frame_us * f64::from(self.depth())) as u64)
    }

    /// The sender's packets carry `samples` per channel each (the caller reads it from their
    /// TOC): from now on the buffer counts in them, its limits keep their durations, and when
    /// they are shorter than a playout frame it holds at least a playout frame's worth (they
    /// are popped several at a time). A change of length starts the stream over.
    pub fn set_packet_samples(&mut self, samples: u32) {
        if samples == 0 || samples == self.packet_samples {
            return;
        }
        let playout = self.base.frame.samples() as u32;
        // The same duration, in packets of the new length.
        let scale = |frames: u32| {
            u32::try_from((u64::from(frames) * u64::from(playout)).div_ceil(u64::from(samples)))
                .unwrap_or(u32::MAX)
        };
        self.burst = playout.div_ceil(samples).max(1);
        self.cfg.min_depth = scale(self.base.min_depth).max(self.burst);
        self.cfg.max_depth = scale(self.base.max_depth).max(self.cfg.min_depth * 2);
        if self.base.pile_up != u32::MAX {
            self.cfg.pile_up = scale(self.base.pile_up);
        }
        self.packet_samples = samples;
        self.frame_us = f64::from(samples) * 1e6 / f64::from(crate::format::SAMPLE_RATE);
        self.new_timeline();
        if self.slots.is_empty() && self.next.is_none() {
            // Nothing was playing (the usual case: the stream's first packet).
            self.delays.clear();
            self.epoch = None;
            self.burst_pos = 0;
        } else {
            self.reset();
        }
        self.stats.target = self.cfg.min_depth;
        self.level = f64::from(self.cfg.min_depth);
    }

    /// A packet arrived.
    pub fn push(&mut self, seq: u16, payload: Payload, now: Instant) {
        self.push_at(seq, payload, now);
    }

    /// A packet stamped `ts` (its RTP timestamp) arrived: as [`push`](Self::push), and the
    /// buffer can then say how far into the sender's stream it has played
    /// ([`played_until`](Self::played_until)).
    pub fn push_stamped(&mut self, seq: u16, ts: u32, payload: Payload, now: Instant) {
        let ext = self.push_at(seq, payload, now);
        self.stamp = Some((ext, ts));
    }

    /// The sender's RTP timestamp at the end of the last frame played (lost and concealed
    /// frames count as played, an underrun's wait does not), once a stamped packet has come.
    pub fn played_until(&self) -> Option<u32> {
        let (ext, ts) = self.stamp?;
        let frames = self.next? as i64 - ext as i64;
        Some(ts.wrapping_add((frames * i64::from(self.packet_samples)) as u32))
    }

    /// Pushes; returns the packet's place (unwrapped), played or not.
    fn push_at(&mut self, seq: u16, payload: Payload, now: Instant) -> u64 {
        let mut ext = self.seq.unwrap(seq);
        self.stats.received += 1;
        if let Some(next) = self.next {
            // Far from anything playable, ahead or behind: the sender restarted (with a new
            // random sequence number) or we were away. Start over from this packet.
            let far = u64::from(self.cfg.max_depth) * 4 + 64;
            if ext.abs_diff(next) > far {
                self.reset();
                ext = self.seq.unwrap(seq);
            } else if ext < next {
                self.stats.late += 1;
                return ext;
            }
        }
        match self.slots.get(&ext) {
            // Its own packet, after the copy that stood in for it: nothing lost, nothing doubled.
            Some(slot) if slot.copy => {}
            Some(_) => {
                self.stats.duplicates += 1;
                return ext;
            }
            None => {}
        }
        self.slots.insert(
            ext,
            Slot {
                payload,
                copy: false,
            },
        );
        // Bound the memory whatever arrives (while playing, a packet this far ahead has already
        // reset the buffer above; this bounds the buffering phase).
        while self.slots.len() > self.cfg.max_depth as usize * 4 + 64 {
            self.slots.pop_first();
        }
        if self.newest.is_none_or(|(n, _)| ext > n) {
            self.newest = Some((ext, now));
        }
        self.record_delay(ext, now);
        ext
    }

    /// A frame that arrived again inside a later packet (RED): it fills its slot if its own
    /// packet has not come and its turn has not passed. It says nothing about network delay
    /// (it rode a later packet on purpose), so it does not feed the target depth.
    pub fn push_redundant(&mut self, seq: u16, payload: Payload) {
        let ext = self.seq.unwrap(seq);
        if self.next.is_some_and(|next| ext < next) || self.slots.contains_key(&ext) {
            return;
        }
        if self.next.is_none() && self.slots.is_empty() {
            // Nothing to repair before the stream has started.
            return;
        }
        self.slots.insert(
            ext,
            Slot {
                payload,
                copy: true,
            },
        );
    }

    fn reset(&mut self) {
        self.burst_pos = 0;
        self.seq = SeqUnwrap::default();
        self.slots.clear();
        self.next = None;
        self.delays.clear();
        self.epoch = None;
        self.missing_run = 0;
        self.new_timeline();
        self.stats.resets += 1;
    }

    /// What follows is not on the timeline of what came before.
    fn new_timeline(&mut self) {
        self.newest = None;
        self.stamp = None;
        self.epoch_count = self.epoch_count.wrapping_add(1);
    }

    fn record_delay(&mut self, ext: u64, now: Instant) {
        let (t0, s0) = *self.epoch.get_or_insert((now, ext));
        let media_us = (ext as f64 - s0 as f64) * self.frame_us;
        let arrival_us = now.saturating_duration_since(t0).as_micros() as f64;
        self.delays.push_back((now, arrival_us - media_us));
        while let Some(&(t, _)) = self.delays.front() {
            if now.saturating_duration_since(t) > self.cfg.window {
                self.delays.pop_front();
            } else {
                break;
            }
        }
        self.since_target_update += 1;
        if self.since_target_update >= TARGET_EVERY || self.delays.len() < TARGET_EVERY as usize {
            self.since_target_update = 0;
            self.update_target();
        }
    }

    fn update_target(&mut self) {
        if self.delays.is_empty() {
            return;
        }
        let mut d: Vec<f64> = self.delays.iter().map(|&(_, d)| d).collect();
        d.sort_by(f64::total_cmp);
        let min = d[0];
        let q = d[((d.len() - 1) as f64 * self.cfg.quantile).round() as usize];
        let spread_us = (q - min).max(0.0);
        self.stats.jitter_ms = spread_us / 1000.0;
        let need = ((spread_us + self.cfg.margin.as_micros() as f64) / self.frame_us).ceil() as u32;
        // A group of pops takes `burst` packets at once: those, plus the jitter's cover for the
        // last of them.
        self.stats.target = (need + self.burst - 1).clamp(self.cfg.min_depth, self.cfg.max_depth);
    }

    /// What to play for the next frame period.
    pub fn pop(&mut self) -> Playout {
        let target = self.stats.target;
        let Some(next) = self.next else {
            // Buffering: start once the target is reached, with the newest `target` packets: if
            // more piled up meanwhile (playout started late), the older ones are only latency.
            if self.slots.len() as u32 >= target.max(1)
                && let Some(&first) = self.slots.keys().rev().nth(target.max(1) as usize - 1)
            {
                self.next = Some(first);
                self.level = f64::from(target);
                self.burst_pos = 0;
                return self.pop();
            }
            return Playout::Waiting;
        };

        let period_start = self.burst_pos == 0;
        self.burst_pos = (self.burst_pos + 1) % self.burst;
        if period_start && let Some(playout) = self.correct_level(next, target) {
            return playout;
        }
        // (A correction may have dropped frames.)
        self.play(self.next.unwrap_or(next))
    }

    /// Once a playout period: follows the depth, and corrects drift and pile-ups (dropping
    /// frames, or returning a concealed one to insert).
    fn correct_level(&mut self, mut next: u64, target: u32) -> Option<Playout> {
        let depth = f64::from(self.depth());
        self.level += LEVEL_ALPHA * (depth - self.level);
        let target_f = f64::from(target);
        let pile_up = f64::from(self.cfg.pile_up);
        // Deep for a while (not a momentary clump of packets): a pile-up.
        self.piled = if depth > target_f + pile_up {
            self.piled + 1
        } else {
            0
        };
        if self.piled > self.cfg.pile_up {
            self.piled = 0;
            // A pile-up: back to the target in one jump, the oldest frames going.
            let excess = (depth - target_f) as usize;
            let gone: Vec<u64> = self
                .slots
                .range(next..)
                .take(excess)
                .map(|(&k, _)| k)
                .collect();
            if let Some(&last) = gone.last() {
                for k in &gone {
                    self.slots.remove(k);
                }
                next = last + 1;
                self.next = Some(next);
                self.stats.dropped += gone.len() as u64;
                self.level = target_f;
            }
        } else if self.piled == 0 && self.level > target_f + 1.0 && depth > target_f {
            // (Not while a pile-up is being confirmed: that goes in one jump.)
            // Too much audio waiting: play two frames in the time of one, so latency comes
            // back down; or, when they are not both here, skip one.
            if self.slots.contains_key(&next)
                && self.slots.contains_key(&(next + 1))
                && let (Some(a), Some(b)) =
                    (self.slots.remove(&next), self.slots.remove(&(next + 1)))
            {
                self.next = Some(next + 2);
                self.missing_run = 0;
                self.waited = 0;
                self.stats.dropped += 1;
                self.stats.played += 1;
                self.stats.repaired += u64::from(a.copy) + u64::from(b.copy);
                self.level -= 1.0;
                return Some(Playout::Shorten(a.payload, b.payload));
            }
            if let Some(first) = self.slots.range(next..).next().map(|(&k, _)| k) {
                self.slots.remove(&first);
                next = first + 1;
                self.next = Some(next);
                self.stats.dropped += 1;
                self.level -= 1.0;
            }
        } else if self.level < target_f - 1.0 && depth >= 1.0 {
            // Too little: lengthen what was played and keep the packets, so the buffer refills.
            self.stats.slowed += 1;
            self.level += 1.0;
            return Some(Playout::Stretch);
        }
        None
    }

    /// Plays the frame `next` (or what stands for it).
    fn play(&mut self, mut next: u64) -> Playout {
        // Forget anything older than what plays now.
        while let Some((&k, _)) = self.slots.first_key_value() {
            if k < next {
                self.slots.pop_first();
            } else {
                break;
            }
        }

        // We had been waiting for `next` and later packets have come instead: it is lost, and so
        // are those up to the first that arrived. The frames concealed while waiting stood for
        // them, so skip as many as were concealed (not more: the rest still need concealing).
        if self.waited > 0
            && !self.slots.contains_key(&next)
            && let Some(first) = self.slots.range(next..).next().map(|(&k, _)| k)
        {
            let skip = u64::from(self.waited).min(first - next);
            next += skip;
            self.next = Some(next);
            self.waited = 0;
        }
        if let Some(slot) = self.slots.remove(&next) {
            self.next = Some(next + 1);
            self.missing_run = 0;
            self.waited = 0;
            self.stats.played += 1;
            if slot.copy {
                self.stats.repaired += 1;
            }
            return Playout::Packet(slot.payload);
        }
        if let Some(slot) = self.slots.get(&(next + 1)) {
            self.next = Some(next + 1);
            self.missing_run = 0;
            self.waited = 0;
            self.stats.recovered += 1;
            return Playout::Recover(slot.payload.clone());
        }
        self.missing_run += 1;
        if self.slots.range(next..).next().is_none() {
            // Nothing at all is waiting: an underrun, not a loss. Conceal this frame but keep
            // waiting for the same packet — it is most likely just behind (a slower sender's
            // clock, a jitter spike), and playing it next keeps the stream whole.
            self.stats.inserted += 1;
            self.waited += 1;
            if self.missing_run > self.cfg.max_depth {
                // The stream has paused: start over when it comes back.
                self.next = None;
                self.epoch = None;
                self.delays.clear();
                self.missing_run = 0;
                self.waited = 0;
                self.new_timeline();
                self.stats.resets += 1;
            }
            return Playout::Stretch;
        }
        // Later packets are here but not this one (nor the next): lost.
        self.next = Some(next + 1);
        self.stats.concealed += 1;
        Playout::Conceal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FrameDuration = FrameDuration::Ms5;

    fn payload(seq: u16) -> Payload {
        Payload::from(seq.to_be_bytes().to_vec())
    }

    /// The frames a playout plays, by sequence number.
    fn seq_of(p: &Playout) -> Vec<u16> {
        let seq = |b: &Payload| u16::from_be_bytes([b[0], b[1]]);
        match p {
            Playout::Packet(b) | Playout::Recover(b) => vec![seq(b)],
            Playout::Shorten(a, b) => vec![seq(a), seq(b)],
            _ => vec![],
        }
    }

    /// Plays a scripted network: packet `i` (sequence `start + i`) arrives at `arrive(i)` (µs,
    /// `None` = lost); the receiver pops every frame period from `play_from` µs.
    fn run(
        cfg: JitterConfig,
        start: u16,
        n: u32,
        arrive: impl Fn(u32) -> Option<u64>,
        pops: u32,
        play_period_us: f64,
    ) -> (Vec<Playout>, JitterStats) {
        let t0 = Instant::now();
        let mut events: Vec<(u64, Option<u32>)> = (0..n)
            .filter_map(|i| arrive(i).map(|t| (t, Some(i))))
            .collect();
        events.extend((0..pops).map(|k| ((f64::from(k) * play_period_us) as u64 + 1, None)));
        // Arrivals before pops at the same instant.
        events.sort_by_key(|&(t, e)| (t, e.is_none()));
        let mut jb = JitterBuffer::new(cfg);
        let mut out = Vec::new();
        for (t, e) in events {
            let now = t0 + Duration::from_micros(t);
            match e {
                Some(i) => {
                    let seq = start.wrapping_add(i as u16);
                    jb.push(seq, payload(seq), now);
                }
                None => out.push(jb.pop()),
            }
        }
        (out, jb.stats())
    }

    fn frame_us() -> f64 {
        F.duration().as_micros() as f64
    }

    #[test]
    fn a_clean_network_plays_every_packet_in_order_at_minimum_depth() {
        let (out, stats) = run(
            JitterConfig::for_frame(F),
            100,
            400,
            |i| Some(u64::from(i) * 5000),
            400,
            frame_us(),
        );
        let played: Vec<u16> = out.iter().flat_map(seq_of).collect();
        assert_eq!(played.len(), 400);
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(
            (stats.concealed, stats.late, stats.target),
            (0, 0, 1),
            "{stats:?}"
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let (out, stats) = run(
            JitterConfig::for_frame(F),
            65_500,
            100,
            |i| Some(u64::from(i) * 5000),
            100,
            frame_us(),
        );
        let played: Vec<u16> = out.iter().flat_map(seq_of).collect();
        assert!(played.contains(&65_535) && played.contains(&0) && played.contains(&50));
        assert!(
            played.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "{played:?}"
        );
        assert_eq!(stats.concealed, 0);
    }

    #[test]
    fn reordered_packets_play_in_order() {
        // Every pair swapped, the second arriving 1 ms before the first.
        let arrive =
            |i: u32| Some(u64::from(i) * 5000 + if i.is_multiple_of(2) { 1000 } else { 0 });
        let cfg = JitterConfig {
            min_depth: 2,
            ..JitterConfig::for_frame(F)
        };
        let (out, stats) = run(cfg, 7, 200, arrive, 200, frame_us());
        let played: Vec<u16> = out.iter().flat_map(seq_of).collect();
        assert!(played.windows(2).all(|w| w[1] == w[0] + 1), "{played:?}");
        assert_eq!(stats.concealed + stats.recovered, 0, "{stats:?}");
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped_and_counted() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        let at = |seq: u64| t0 + Duration::from_millis(5 * seq);
        jb.push(1, payload(1), at(1));
        jb.push(1, payload(1), at(1));
        assert_eq!(jb.pop(), Playout::Packet(payload(1)));
        jb.push(3, payload(3), at(3));
        let t = at(3);
        // 2 is missing: recovered from 3.
        assert_eq!(jb.pop(), Playout::Recover(payload(3)));
        jb.push(2, payload(2), t); // its turn has passed
        assert_eq!(jb.pop(), Playout::Packet(payload(3)));
        let s = jb.stats();
        assert_eq!((s.duplicates, s.late, s.recovered, s.played), (1, 1, 1, 2));
    }

    #[test]
    fn redundant_copies_repair_losses_without_moving_the_target() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        let mut played = Vec::new();
        // Every 7th packet is lost, and every packet carries the two frames before it; the
        // copies ride a packet 5 ms after their own and must not read as jitter.
        for i in 0..400u16 {
            let now = t0 + Duration::from_millis(5 * u64::from(i));
            if i % 7 != 3 {
                jb.push(i, payload(i), now);
                for back in 1..=2u16.min(i) {
                    jb.push_redundant(i - back, payload(i - back));
                }
            }
            played.push(seq_of(&jb.pop()));
        }
        let s = jb.stats();
        let heard: Vec<u16> = played.iter().flatten().copied().collect();
        assert!(heard.windows(2).all(|w| w[1] == w[0] + 1), "{heard:?}");
        assert!(s.repaired >= 56, "{s:?}");
        assert_eq!((s.concealed, s.recovered), (0, 0), "{s:?}");
        assert_eq!(s.target, 1, "{s:?}");
        assert_eq!(
            s.duplicates + s.late,
            0,
            "copies are not counted as either: {s:?}"
        );
    }

    #[test]
    fn a_copy_then_its_own_packet_is_neither_a_duplicate_nor_a_repair() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        let at = |seq: u64| t0 + Duration::from_millis(5 * seq);
        jb.push(1, payload(1), at(1));
        assert_eq!(jb.pop(), Playout::Packet(payload(1)));
        jb.push(3, payload(3), at(3));
        jb.push_redundant(2, payload(2));
        jb.push(2, payload(2), at(3)); // reordered: the original after its copy
        assert_eq!(jb.pop(), Playout::Packet(payload(2)));
        let s = jb.stats();
        assert_eq!((s.duplicates, s.repaired), (0, 0), "{s:?}");
    }

    #[test]
    fn a_copy_whose_turn_has_passed_is_ignored() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        jb.push_redundant(4, payload(4)); // before the stream starts: nothing to repair
        jb.push(5, payload(5), t0);
        assert_eq!(jb.pop(), Playout::Packet(payload(5)));
        jb.push_redundant(4, payload(4));
        jb.push_redundant(5, payload(5));
        assert_eq!(jb.depth(), 0);
        assert_eq!(jb.stats().repaired, 0);
    }

    #[test]
    fn losses_are_recovered_from_the_next_packet_or_concealed() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        jb.push(10, payload(10), t0);
        assert_eq!(jb.pop(), Playout::Packet(payload(10)));
        jb.push(13, payload(13), t0 + Duration::from_millis(15));
        assert_eq!(jb.pop(), Playout::Conceal); // 11: nothing to go on
        assert_eq!(jb.pop(), Playout::Recover(payload(13))); // 12: recovered from 13
        assert_eq!(jb.pop(), Playout::Packet(payload(13)));
    }

    #[test]
    fn the_target_follows_the_jitter_up_and_down() {
        // ±10 ms of jitter (deterministic pseudo-random) for 4 s, then a clean network for 6 s.
        let jitter = |i: u32| {
            let r = (i.wrapping_mul(2_654_435_761) >> 16) % 20_000;
            u64::from(r)
        };
        let arrive = |i: u32| {
            let base = u64::from(i) * 5000 + 20_000;
            Some(if i < 800 { base + jitter(i) } else { base })
        };
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let mut targets = Vec::new();
        let mut events: Vec<(u64, Option<u32>)> =
            (0..2000).map(|i| (arrive(i).unwrap(), Some(i))).collect();
        events.extend((0..2000u32).map(|k| (u64::from(k) * 5000 + 1, None)));
        events.sort_by_key(|&(t, e)| (t, e.is_none()));
        let (mut concealed_in_jitter, mut shortened) = (0, 0);
        for (t, e) in events {
            let now = t0 + Duration::from_micros(t);
            match e {
                Some(i) => jb.push(i as u16, payload(i as u16), now),
                None => {
                    let p = jb.pop();
                    shortened += u64::from(matches!(p, Playout::Shorten(..)));
                    if matches!(p, Playout::Conceal | Playout::Stretch)
                        && t > 1_000_000
                        && t < 4_000_000
                    {
                        concealed_in_jitter += 1;
                    }
                    targets.push(jb.stats().target);
                }
            }
        }
        let during = targets[700];
        let after = *targets.last().unwrap();
        // 20 ms of spread at 5 ms frames: about 4 frames, plus the margin.
        assert!((4..=6).contains(&during), "target {during} during jitter");
        assert_eq!(after, 1, "target back to minimum after the network calmed");
        // Once adapted, the 98th percentile is covered: few concealments.
        assert!(
            concealed_in_jitter < 30,
            "{concealed_in_jitter} concealed of 600"
        );
        let s = jb.stats();
        assert!(
            s.dropped > 0,
            "latency was given back by dropping frames: {s:?}"
        );
        // Every one of them by playing two frames as one (nothing lost, all here): none skipped.
        assert_eq!(shortened, s.dropped, "{s:?}");
    }

    /// Two sound cards whose clocks differ: the sender's runs `ppm` fast (or slow); one hour.
    fn drift(ppm: f64) -> (JitterStats, u32) {
        let cfg = JitterConfig::for_frame(FrameDuration::Ms10);
        let frame = 10_000.0;
        let hour = 360_000u32;
        let send_period = frame / (1.0 + ppm * 1e-6);
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(cfg);
        let (mut i, mut k) = (0u32, 0u32);
        let mut max_depth = 0;
        while k < hour {
            let t_send = f64::from(i) * send_period + 2000.0;
            let t_play = f64::from(k) * frame + 1.0;
            if t_send <= t_play && i < hour + 1000 {
                let s = i as u16;
                jb.push(s, payload(s), t0 + Duration::from_micros(t_send as u64));
                i += 1;
            } else {
                jb.pop();
                max_depth = max_depth.max(jb.depth());
                k += 1;
            }
        }
        (jb.stats(), max_depth)
    }

    #[test]
    fn clock_drift_neither_grows_nor_starves_the_buffer_over_an_hour() {
        for ppm in [200.0, -200.0] {
            let (s, max_depth) = drift(ppm);
            // 200 ppm of an hour is 720 ms: 72 frames to absorb, one at a time.
            assert!(
                max_depth <= s.target + 3,
                "{ppm} ppm: depth reached {max_depth}, {s:?}"
            );
            let adjusted = s.dropped + s.inserted + s.slowed + s.concealed;
            assert!(
                (60..=90).contains(&adjusted),
                "{ppm} ppm: {adjusted} frames adjusted, {s:?}"
            );
            assert!(s.concealed_ratio() < 0.001, "{ppm} ppm: {s:?}");
            eprintln!("{ppm} ppm over an hour: {s:?}, deepest {max_depth}");
        }
    }

    #[test]
    fn a_restarted_sender_is_followed() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t = Instant::now();
        jb.push(100, payload(100), t);
        assert_eq!(jb.pop(), Playout::Packet(payload(100)));
        // The other side restarted: new random sequence numbers.
        jb.push(40_000, payload(40_000), t);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(jb.pop(), Playout::Packet(payload(40_000)));
    }

    #[test]
    fn a_flood_of_packets_is_bounded() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t = Instant::now();
        for s in 0..5000u16 {
            jb.push(s, payload(s), t);
        }
        assert!(jb.slots.len() <= jb.cfg.max_depth as usize * 4 + 64);
    }

    #[test]
    fn a_burst_of_losses_is_concealed_once_not_paid_for_twice() {
        // Packets 0-9 on time, 10-14 lost in a burst, 15 on.
        let lost = |i: u32| (10..15).contains(&i);
        let (out, stats) = run(
            JitterConfig::for_frame(F),
            0,
            100,
            |i| (!lost(i)).then_some(u64::from(i) * 5000),
            100,
            frame_us(),
        );
        // While nothing arrives the buffer waits (conceals); once 15 arrives, 10-14 are known
        // lost and the frames already concealed stand for them: no good packet is dropped.
        assert_eq!(stats.dropped, 0, "{stats:?}");
        let played: Vec<u16> = out.iter().flat_map(seq_of).collect();
        assert!(
            (15..99).all(|s| played.contains(&s)),
            "every packet after the burst is played"
        );
        let concealed = stats.concealed + stats.inserted;
        assert!((5..=6).contains(&concealed), "{stats:?}");
    }

    #[test]
    fn a_late_start_plays_the_newest_audio_not_a_second_of_old() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        // Playout starts only after 100 packets have piled up (the app was busy).
        for s in 0..100u16 {
            jb.push(s, payload(s), t0 + Duration::from_millis(5 * u64::from(s)));
        }
        assert_eq!(
            jb.pop(),
            Playout::Packet(payload(99)),
            "start at the newest, target 1"
        );
        assert_eq!(jb.depth(), 0);
    }

    #[test]
    fn seq_unwrap_handles_wrap_and_stragglers() {
        let mut u = SeqUnwrap::default();
        let a = u.unwrap(65_534);
        assert_eq!(u.unwrap(65_535), a + 1);
        assert_eq!(u.unwrap(0), a + 2);
        assert_eq!(u.unwrap(65_533), a - 1, "a straggler from before the wrap");
        assert_eq!(u.unwrap(5), a + 7);
    }

    #[test]
    fn a_pile_up_is_given_back_in_one_jump() {
        // Playout stalls for 400 ms (a sound card that stopped asking) while packets keep
        // arriving, then goes on: 80 frames piled up, given back at once, not one by one.
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig {
            pile_up: 40,
            ..JitterConfig::for_frame(F)
        });
        let mut played = Vec::new();
        for k in 0..600u64 {
            let now = t0 + Duration::from_micros(k * 5000);
            jb.push(k as u16, payload(k as u16), now);
            if !(100..180).contains(&k) {
                played.extend(seq_of(&jb.pop()));
            }
        }
        let jumps: Vec<(u16, u16)> = played
            .windows(2)
            .filter(|w| w[1] != w[0] + 1)
            .map(|w| (w[0], w[1]))
            .collect();
        assert_eq!(jumps.len(), 1, "{jumps:?}");
        assert!(jumps[0].1 - jumps[0].0 > 30, "{jumps:?}");
        // And the latency is back at the target right after.
        assert!(jb.depth() <= jb.stats().target + 1, "{:?}", jb.stats());
    }

    #[test]
    fn shorter_packets_than_the_playout_frame_are_held_a_playout_frame_deep() {
        // A 2.5-ms sender heard at 20 ms: eight packets go at every playout frame, so eight
        // must be there when it starts, and the drift control looks once a playout frame.
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(FrameDuration::Ms20));
        jb.set_packet_samples(120);
        let t0 = Instant::now();
        let mut played = 0;
        let mut seq = 0u16;
        for tick in 0..200u64 {
            // Eight packets, 2.5 ms apart, during the 20 ms before each playout frame.
            for k in 0..8 {
                jb.push(
                    seq,
                    payload(seq),
                    t0 + Duration::from_micros(tick * 20_000 + k * 2_500),
                );
                seq += 1;
            }
            for _ in 0..8 {
                if matches!(jb.pop(), Playout::Packet(_)) {
                    played += 1;
                }
            }
        }
        let s = jb.stats();
        assert!(s.target >= 8, "{s:?}");
        assert_eq!(s.concealed + s.dropped, 0, "{s:?}");
        // Start-up aside, every packet played.
        assert!(played >= 200 * 8 - 16, "{played} played: {s:?}");
        assert!(
            jb.buffered() <= Duration::from_millis(40),
            "{:?}",
            jb.buffered()
        );
    }

    #[test]
    fn a_change_of_packet_length_starts_the_stream_over() {
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(F));
        let t0 = Instant::now();
        // The first packet tells the length: nothing to start over.
        jb.set_packet_samples(960);
        assert_eq!(jb.stats().resets, 0);
        for i in 0..5u16 {
            jb.push(i, payload(i), t0 + Duration::from_millis(u64::from(i) * 20));
        }
        assert_eq!(jb.buffered(), Duration::from_millis(100));
        jb.set_packet_samples(480);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(jb.depth(), 0);
        // The limits keep their durations: 200 ms is 20 packets of 10 ms.
        assert_eq!(jb.cfg.max_depth, 20);
    }

    #[test]
    fn frames_are_numbered_by_timestamp_whatever_the_sequence_numbers() {
        let mut f = FrameIndex::default();
        let base = u32::MAX - 960 * 2; // wraps after the third frame
        assert_eq!(f.index(base, 960), 0);
        assert_eq!(f.index(base.wrapping_add(960), 960), 1);
        // A padding packet's timestamp is its media packet's: the same frame, not a new one.
        assert_eq!(f.index(base.wrapping_add(960), 960), 1);
        assert_eq!(f.index(base.wrapping_add(3 * 960), 960), 3);
        // Late, across the wrap: before the newest.
        assert_eq!(f.index(base.wrapping_add(2 * 960), 960), 2);
        assert_eq!(f.index(base.wrapping_add(4 * 960), 960), 4);
        // An earlier frame than the first numbers below zero, as sequence numbers would.
        let mut g = FrameIndex::default();
        g.index(10_000, 120);
        assert_eq!(g.index(10_000 - 120, 120), u16::MAX);
    }
}
