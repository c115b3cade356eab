//! Instant replay: the last seconds of each part as it sounded (ours as captured, each other
//! participant's as played), kept so that "play that again" needs nothing but memory. The
//! teacher hears the student's last phrase again, the student their own, while the lesson goes
//! on.
//!
//! Sans-IO: [`RecentRing`] is written a frame at a time by the audio threads (no allocation
//! after it is made) and read by whoever cuts a replay.

use crate::format::SAMPLE_RATE;

/// Seconds of each part kept (the longest replay offered).
pub const RECENT_SECONDS: f64 = 30.0;

/// The last seconds of one part, mono, in the order written.
#[derive(Debug, Clone)]
pub struct RecentRing {
    buf: Vec<f32>,
    /// Where the next sample goes.
    next: usize,
    /// Samples written, up to the ring's length.
    filled: usize,
}

impl RecentRing {
    pub fn new(seconds: f64) -> Self {
        let len = (seconds * f64::from(SAMPLE_RATE)).ceil().max(1.0) as usize;
        Self {
            buf: vec![0.0; len],
            next: 0,
            filled: 0,
        }
    }

    pub fn write_mono(&mut self, samples: &[f32]) {
        for &s in samples {
            self.push(s);
        }
    }

    /// Interleaved stereo, kept as the mean of the two channels.
    pub fn write_stereo(&mut self, stereo: &[f32]) {
        for pair in stereo.chunks_exact(2) {
            self.push((pair[0] + pair[1]) * 0.5);
        }
    }

    fn push(&mut self, s: f32) {
        self.buf[self.next] = s;
        self.next = (self.next + 1) % self.buf.len();
        self.filled = (self.filled + 1).min(self.buf.len());
    }

    /// Samples kept.
    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// The last `seconds` kept (fewer if less has been written), oldest first.
    pub fn last(&self, seconds: f64) -> Vec<f32> {
        let want = (seconds.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize;
        let n = want.min(self.filled);
        let len = self.buf.len();
        let start = (self.next + len - n) % len;
        let mut out = Vec::with_capacity(n);
        if start + n <= len {
            out.extend_from_slice(&self.buf[start..start + n]);
        } else {
            out.extend_from_slice(&self.buf[start..]);
            out.extend_from_slice(&self.buf[..n - (len - start)]);
        }
        out
    }

    /// Forgets what was kept (a participant who left and came back starts a new part).
    pub fn clear(&mut self) {
        self.next = 0;
        self.filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_seconds_come_back_oldest_first_across_the_wrap() {
        // A 1-s ring, 1.5 s written: a ramp, so that order and place show.
        let mut r = RecentRing::new(1.0);
        assert!(r.is_empty());
        let ramp: Vec<f32> = (0..72_000).map(|i| i as f32).collect();
        for chunk in ramp.chunks(240) {
            r.write_mono(chunk);
        }
        assert_eq!(r.len(), 48_000);
        let last = r.last(0.5);
        assert_eq!(last.len(), 24_000);
        assert_eq!(last[0], 48_000.0);
        assert_eq!(*last.last().unwrap(), 71_999.0);
        // More than is kept: what is kept, across the wrap.
        let all = r.last(10.0);
        assert_eq!(all.len(), 48_000);
        assert!(all.windows(2).all(|w| w[1] == w[0] + 1.0));
        assert_eq!(all[0], 24_000.0);
    }

    #[test]
    fn less_written_than_asked_gives_what_was_written() {
        let mut r = RecentRing::new(1.0);
        r.write_stereo(&[0.2, 0.4, 1.0, 0.0]);
        assert_eq!(r.last(1.0), vec![0.3, 0.5]);
        r.clear();
        assert!(r.last(1.0).is_empty());
    }
}
