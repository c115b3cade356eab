//! Leader–follower playing (Carôt and Werner's master–slave approach): the teacher leads, the
//! student plays along with what they hear, and the teacher hears the duet as the student
//! played it. Between Seoul and Abu Dhabi no two people can play in lockstep; but the student
//! plays in time with the teacher's sound as it reaches them, so shifting the student's part
//! back by how late that sound was puts the two parts together again.
//!
//! Each part is placed by when it reached its microphone, on its own machine's clock: ours as
//! captured, the follower's as its sender says it was captured (its RTP timestamps, anchored
//! to its clock once a second). The follower played along with our sound as it reached them:
//! they tell us which of our samples they heard at which instant of their clock. So the
//! aligned duet is our part at τ beside theirs at τ + shift, where the shift is that instant
//! less τ, from one clock to the other. No estimate of their clock comes in between, and so
//! none of its error (milliseconds at times across a jittery path). With the metronome, which
//! both played at the shared time, the shift is the clocks' offset alone.
//!
//! The follower's delay is not one number: its jitter buffer deepens and shallows with the
//! network, by a few milliseconds at a time. It says so whenever it changes, and each stretch
//! of its part is placed by the delay it had then.
//!
//! Sans-IO: [`TimedRing`] keeps the last seconds of a part by time; [`Clip::aligned`] cuts the
//! duet out of two rings.

use crate::format::SAMPLE_RATE;

/// Seconds of each part kept.
pub const KEEP_SECONDS: f64 = 30.0;
/// The longest frame handed over at once, mono (20 ms).
pub const MAX_CHUNK: usize = 960;

const NS_PER_SAMPLE: f64 = 1e9 / SAMPLE_RATE as f64;
/// The follower's part is placed this many samples at a time.
const BLOCK: usize = 120;

/// Interleaved stereo into `out` as mono (the channels' mean); returns the samples written.
pub fn downmix(stereo: &[f32], out: &mut [f32]) -> usize {
    let mut n = 0;
    for (m, pair) in out.iter_mut().zip(stereo.chunks_exact(2)) {
        *m = (pair[0] + pair[1]) * 0.5;
        n += 1;
    }
    n
}

/// Our clock's ns as a sample number (48 kHz, from the clock's zero).
fn sample_at(ns: f64) -> i64 {
    (ns / NS_PER_SAMPLE).round() as i64
}

/// One part's last seconds, mono, each sample at the instant it reached its microphone. What
/// never came (a dropout, a link rebuilt) is silence of exactly its length; what comes twice for
/// the same instant (a stretched frame) is written over.
#[derive(Debug, Clone)]
pub struct TimedRing {
    buf: Vec<f32>,
    /// The sample number one past the newest written.
    head: Option<i64>,
}

impl TimedRing {
    pub fn new(seconds: f64) -> Self {
        let len = (seconds * f64::from(SAMPLE_RATE)).ceil().max(1.0) as usize;
        Self {
            buf: vec![0.0; len],
            head: None,
        }
    }

    fn len(&self) -> i64 {
        self.buf.len() as i64
    }

    fn slot(&self, n: i64) -> usize {
        n.rem_euclid(self.len()) as usize
    }

    /// Writes `stereo` (interleaved pairs, averaged to mono) whose first sample reached the
    /// microphone at `at_ns`.
    pub fn write_stereo(&mut self, at_ns: f64, stereo: &[f32]) {
        let first = sample_at(at_ns);
        let n = (stereo.len() / 2) as i64;
        self.clear_up_to(first);
        for (i, pair) in stereo.chunks_exact(2).enumerate() {
            let k = self.slot(first + i as i64);
            self.buf[k] = (pair[0] + pair[1]) * 0.5;
        }
        self.advance(first + n);
    }

    /// Writes mono `samples`, the first at `at_ns`.
    pub fn write_mono(&mut self, at_ns: f64, samples: &[f32]) {
        let first = sample_at(at_ns);
        self.clear_up_to(first);
        for (i, s) in samples.iter().enumerate() {
            let k = self.slot(first + i as i64);
            self.buf[k] = *s;
        }
        self.advance(first + samples.len() as i64);
    }

    /// Silence from the head to `n` (a gap), all of it if the gap is longer than the ring.
    fn clear_up_to(&mut self, n: i64) {
        let Some(head) = self.head else {
            return;
        };
        if n <= head {
            return;
        }
        if n - head >= self.len() {
            self.buf.fill(0.0);
        } else {
            for m in head..n {
                let k = self.slot(m);
                self.buf[k] = 0.0;
            }
        }
        self.head = Some(n);
    }

    fn advance(&mut self, end: i64) {
        if self.head.is_none_or(|h| end > h) {
            self.head = Some(end);
        }
    }

    /// The instant one past the newest sample (none before the first write).
    pub fn end_ns(&self) -> Option<f64> {
        self.head.map(|h| h as f64 * NS_PER_SAMPLE)
    }

    /// Reads `out.len()` samples from `from_ns` on; silence where nothing is kept.
    pub fn read(&self, from_ns: f64, out: &mut [f32]) {
        let first = sample_at(from_ns);
        let Some(head) = self.head else {
            out.fill(0.0);
            return;
        };
        let oldest = head - self.len();
        for (i, o) in out.iter_mut().enumerate() {
            let n = first + i as i64;
            *o = if n >= oldest && n < head {
                self.buf[self.slot(n)]
            } else {
                0.0
            };
        }
    }
}

/// What the follower played along with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Our sound, as it reached them.
    Leader,
    /// The metronome, which every machine plays at the shared time.
    Metronome,
}

/// How the follower's part is placed against ours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    pub follow: Follow,
    /// Our microphone to their ear (they measured it), ns.
    pub heard_after_ns: f64,
}

impl Alignment {
    /// How much later than our part the follower's belongs (ns): what they heard was that late.
    pub fn shift_ns(&self) -> f64 {
        match self.follow {
            Follow::Leader => self.heard_after_ns,
            Follow::Metronome => 0.0,
        }
    }
}

/// A stretch of the duet, aligned: our part and the follower's, sample for sample, from the
/// instant `start_ns` (our part's time, our clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clip {
    pub start_ns: f64,
    pub own: Vec<f32>,
    pub theirs: Vec<f32>,
}

impl Clip {
    /// The last `seconds` of the duet both rings hold: ours at τ beside theirs at τ +
    /// `shift_at(τ)`, on their ring's clock (the follower's delay changes when its jitter
    /// buffer changes depth). None until both have something.
    pub fn aligned(
        own: &TimedRing,
        theirs: &TimedRing,
        seconds: f64,
        shift_at: impl Fn(f64) -> f64,
    ) -> Option<Self> {
        let own_end = own.end_ns()?;
        let end = own_end.min(theirs.end_ns()? - shift_at(own_end));
        let n = (seconds.clamp(0.0, KEEP_SECONDS) * f64::from(SAMPLE_RATE)) as usize;
        let start_ns = end - n as f64 * NS_PER_SAMPLE;
        let mut clip = Self {
            start_ns,
            own: vec![0.0; n],
            theirs: vec![0.0; n],
        };
        own.read(start_ns, &mut clip.own);
        // A block at a time (2.5 ms), each at its own shift.
        for (b, block) in clip.theirs.chunks_mut(BLOCK).enumerate() {
            let at = start_ns + (b * BLOCK) as f64 * NS_PER_SAMPLE;
            theirs.read(at + shift_at(at), block);
        }
        Some(clip)
    }

    pub fn len(&self) -> usize {
        self.own.len()
    }

    pub fn is_empty(&self) -> bool {
        self.own.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1e6;

    fn click_at(ring: &mut TimedRing, at_ns: f64) {
        let mut s = vec![0.0f32; 96];
        s[0] = 1.0;
        ring.write_mono(at_ns, &s);
    }

    fn first_click(x: &[f32]) -> Option<usize> {
        x.iter().position(|s| *s > 0.5)
    }

    #[test]
    fn a_ring_places_samples_by_time_and_a_gap_is_silence_of_its_length() {
        let mut r = TimedRing::new(1.0);
        let t0 = 1_000.0 * MS;
        r.write_mono(t0, &[0.5; 480]);
        // 100 ms of nothing, then more.
        r.write_mono(t0 + 110.0 * MS, &[0.25; 480]);
        let mut out = vec![9.0; 480 * 13];
        r.read(t0, &mut out);
        assert!(out[..480].iter().all(|s| *s == 0.5));
        assert!(out[480..480 * 11].iter().all(|s| *s == 0.0));
        assert!(out[480 * 11..480 * 12].iter().all(|s| *s == 0.25));
        // Past the head, and older than the ring keeps: silence.
        assert!(out[480 * 12..].iter().all(|s| *s == 0.0));
        r.write_mono(t0 + 2_000.0 * MS, &[0.1; 48]);
        let mut old = vec![9.0; 48];
        r.read(t0 + 110.0 * MS, &mut old);
        assert!(old.iter().all(|s| *s == 0.0), "a second and more ago");
    }

    #[test]
    fn the_same_instant_written_again_is_written_over() {
        let mut r = TimedRing::new(1.0);
        r.write_stereo(0.0, &[0.5; 960]);
        r.write_stereo(5.0 * MS, &[0.25; 960]);
        let mut out = vec![0.0; 720];
        r.read(0.0, &mut out);
        assert!(out[..240].iter().all(|s| *s == 0.5));
        assert!(out[240..].iter().all(|s| *s == 0.25));
    }

    /// The follower answers each of our clicks when it hears it, 83 ms after our microphone:
    /// in the aligned clip the answers fall on our clicks.
    #[test]
    fn the_follower_s_answers_fall_on_the_leader_s_clicks() {
        let heard_after = 83.4 * MS;
        let (mut own, mut theirs) = (TimedRing::new(5.0), TimedRing::new(5.0));
        for k in 0..8 {
            let t = 1_000.0 * MS + f64::from(k) * 500.0 * MS;
            click_at(&mut own, t);
            click_at(&mut theirs, t + heard_after);
        }
        // Both rings written up to their newest instant.
        own.write_mono(5_000.0 * MS, &[0.0; 48]);
        theirs.write_mono(5_000.0 * MS, &[0.0; 48]);
        let clip = Clip::aligned(&own, &theirs, 1.0, |_| heard_after).unwrap();
        let (a, b) = (first_click(&clip.own), first_click(&clip.theirs));
        assert!(a.is_some());
        let apart = (b.unwrap() as f64 - a.unwrap() as f64).abs();
        assert!(apart <= 1.0, "{apart} samples apart");
        // The wrong way round they are two delays apart.
        let wrong = Clip::aligned(&own, &theirs, 1.0, |_| -heard_after).unwrap();
        let (a, b) = (first_click(&wrong.own), first_click(&wrong.theirs));
        assert!(a.zip(b).is_none_or(|(a, b)| a.abs_diff(b) > 4_000));
        // With the metronome there is nothing to shift: both played at the shared instant.
        let metronome = Alignment {
            follow: Follow::Metronome,
            heard_after_ns: heard_after,
        };
        assert_eq!(metronome.shift_ns(), 0.0);
    }

    #[test]
    fn nothing_is_cut_before_both_parts_have_come() {
        let own = TimedRing::new(1.0);
        let mut theirs = TimedRing::new(1.0);
        theirs.write_mono(0.0, &[0.1; 10]);
        assert!(Clip::aligned(&own, &theirs, 1.0, |_| 0.0).is_none());
    }
}
