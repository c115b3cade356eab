//! A follower that plays in perfect time: it answers every click it hears with a click of its
//! own at the very instant it heard it, as a pupil playing along with the teacher would at best.
//! What a leader–follower duet makes of such a follower measures the alignment alone
//! (`tutti-peer --answer-clicks`, the together test and benchmark); the product never uses it.
//!
//! [`AnswerEar`] wraps the speaker: it finds the clicks in what is written and when each will be
//! heard (the time of the write and the sink's delay). [`AnswerSource`] is the microphone: it
//! places each answer at the sample captured at that instant, on the clock that paces it.

use crate::clock::monotonic_ns;
use crate::format::{CHANNELS, SAMPLE_RATE};
use crate::link::lock;
use crate::signal::{AudioSink, AudioSource, CLICK_SAMPLES};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const NS_PER_SAMPLE: f64 = 1e9 / SAMPLE_RATE as f64;
/// A click is heard where the sound crosses this after 50 ms of quiet.
const THRESHOLD: f32 = 0.05;
const QUIET: u64 = SAMPLE_RATE as u64 / 20;

#[derive(Default)]
struct Shared {
    /// When answers are due (our clock, ns), oldest first.
    due: VecDeque<f64>,
    heard: u64,
    answered: u64,
}

/// A follower's ear and microphone, tied together.
pub fn answerer<S: AudioSink>(speaker: S) -> (AnswerEar<S>, AnswerSource) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    (
        AnswerEar {
            inner: speaker,
            shared: shared.clone(),
            quiet: QUIET,
            delay_ns: 0.0,
        },
        AnswerSource {
            shared,
            filled: 0,
            start_ns: f64::INFINITY,
            tail: 0,
        },
    )
}

/// The speaker, listening for clicks.
pub struct AnswerEar<S> {
    inner: S,
    shared: Arc<Mutex<Shared>>,
    /// Samples of quiet before the next.
    quiet: u64,
    /// The speaker's delay as it last said.
    delay_ns: f64,
}

impl<S: AudioSink> AudioSink for AnswerEar<S> {
    fn write(&mut self, frames: &[f32]) {
        // The first sample of this write is heard after what the sink still holds.
        // (What it last said, while it cannot say.)
        if let Some(d) = self.inner.delay() {
            self.delay_ns = d.as_nanos() as f64;
        }
        let first = monotonic_ns(Instant::now()) as f64 + self.delay_ns;
        for (i, pair) in frames.chunks_exact(CHANNELS).enumerate() {
            if pair[0].abs() > THRESHOLD {
                if self.quiet >= QUIET {
                    let mut s = lock(&self.shared);
                    s.due.push_back(first + i as f64 * NS_PER_SAMPLE);
                    s.heard += 1;
                }
                self.quiet = 0;
            } else {
                self.quiet += 1;
            }
        }
        self.inner.write(frames);
    }

    fn paced(&self) -> bool {
        self.inner.paced()
    }

    fn suspend(&mut self) -> bool {
        self.inner.suspend()
    }

    fn resume(&mut self) {
        self.inner.resume();
    }

    fn delay(&self) -> Option<std::time::Duration> {
        self.inner.delay()
    }

    fn slip(&self) -> i64 {
        self.inner.slip()
    }
}

/// The microphone, answering. Paced by the send loop's clock (sample `n` is captured at the
/// loop's start + n / 48 kHz), whose start it finds as the earliest of (the time of a read −
/// the samples read up to it), to within a wake-up.
pub struct AnswerSource {
    shared: Arc<Mutex<Shared>>,
    filled: u64,
    start_ns: f64,
    /// Samples of the click being played still to come.
    tail: u64,
}

impl AnswerSource {
    /// Clicks heard, and answered.
    pub fn counts(&self) -> (u64, u64) {
        let s = lock(&self.shared);
        (s.heard, s.answered)
    }
}

fn click(i: u64) -> f32 {
    0.8 * (std::f32::consts::PI * i as f32 / CLICK_SAMPLES as f32).sin()
}

impl AudioSource for AnswerSource {
    fn fill(&mut self, out: &mut [f32]) {
        let n = (out.len() / CHANNELS) as u64;
        self.filled += n;
        let now = monotonic_ns(Instant::now()) as f64;
        // This read completes the frame, so its last sample was captured just now at the
        // latest.
        self.start_ns = self.start_ns.min(now - self.filled as f64 * NS_PER_SAMPLE);
        let first = self.start_ns + (self.filled - n) as f64 * NS_PER_SAMPLE;
        out.fill(0.0);
        let mut s = lock(&self.shared);
        for (i, pair) in out.chunks_exact_mut(CHANNELS).enumerate() {
            let at = first + i as f64 * NS_PER_SAMPLE;
            // An answer due by this sample starts here (one already past, at once).
            while s.due.front().is_some_and(|d| *d <= at) {
                s.due.pop_front();
                s.answered += 1;
                self.tail = CLICK_SAMPLES;
            }
            if self.tail > 0 {
                let v = click(CLICK_SAMPLES - self.tail);
                pair.fill(v);
                self.tail -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::MemorySink;

    #[test]
    fn a_click_heard_is_answered_at_the_sample_captured_when_it_was_heard() {
        let (mut ear, mut mic) = answerer(MemorySink::default());
        let mut buf = vec![0.0f32; 240];
        // Read as the send loop reads: each 2.5-ms frame once it is complete.
        let t0 = Instant::now();
        let mut k = 0u32;
        let mut read = |mic: &mut AnswerSource, buf: &mut [f32]| {
            k += 1;
            crate::pipeline::sleep_until(t0 + std::time::Duration::from_micros(2_500) * k);
            mic.fill(buf);
        };
        for _ in 0..10 {
            read(&mut mic, &mut buf);
        }
        // A click in the middle of what the speaker plays now.
        let mut frame = vec![0.0f32; 240];
        frame[100] = 0.5;
        frame[101] = 0.5;
        ear.write(&frame);
        let heard = lock(&ear.shared).due[0];
        let mut got = Vec::new();
        for _ in 0..20 {
            read(&mut mic, &mut buf);
            got.extend_from_slice(&buf);
        }
        assert_eq!(mic.counts(), (1, 1));
        let at = got.iter().step_by(2).position(|s| s.abs() > 0.01).unwrap();
        // Sample `at` of `got` was captured at start + (10 × 120 + at) samples: when it was
        // heard, to within the wake-up that found the start.
        let answered = mic.start_ns + (1_200 + at) as f64 * NS_PER_SAMPLE;
        assert!(
            (answered - heard).abs() <= 1e6,
            "{} ns apart",
            answered - heard
        );
        // Nothing else was heard, nothing else answered.
        assert_eq!(
            got.iter().step_by(2).filter(|s| s.abs() > 0.01).count() as u64,
            CLICK_SAMPLES - 1
        );
    }
}
