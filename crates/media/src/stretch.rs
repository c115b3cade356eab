//! Lengthening and shortening a stream by whole pitch periods, so that the jitter buffer can
//! change its depth without a seam anyone hears (NetEQ's "expand" and "accelerate", in their
//! simplest form).
//!
//! Inserting or dropping a packet's worth of audio shifts everything after it by that many
//! samples: a held note jumps in phase, which is a click, and which a tone's analysis sees as
//! a broken window. Shifting by a whole number of the signal's periods instead leaves a
//! periodic sound where it was. The period is found by normalized correlation over lags near
//! the packet's length (so the buffer's accounting in packets stays about right), on the sum of
//! the channels. Pure and allocation-free after construction: it runs in the audio thread.

use crate::format::CHANNELS;

/// The longest lag searched, in samples per channel (1.5 × a 20-ms packet). Longer packets
/// (Opus allows 120 ms) are not stretched: the caller conceals or drops them whole.
pub const MAX_LAG: usize = 1440;
/// The longest correlation window.
const MAX_WINDOW: usize = 240;
/// The longest crossfade when shortening.
const MAX_FADE: usize = 120;
/// What is kept of the stream's past: enough for the longest lag and its window.
const HISTORY: usize = MAX_LAG + MAX_WINDOW;
/// How alike (normalized correlation) the stretch cut out and the one after it must be.
const MIN_LIKENESS: f32 = 0.6;
/// Shortenings declined in a row before one is made whatever the sound.
pub const MAX_DECLINED: u32 = 3;

/// The lags searched for packets of `nominal` samples: a half to one and a half packets.
fn lag_range(nominal: usize) -> (usize, usize) {
    ((nominal / 2).max(1), (nominal * 3 / 2).min(MAX_LAG))
}

/// The window the correlation is measured over for packets of `nominal` samples.
fn window(nominal: usize) -> usize {
    (nominal / 2).clamp(1, MAX_WINDOW)
}

/// The channel sum of frame `i` of interleaved `pcm`.
fn mono(pcm: &[f32], i: usize) -> f32 {
    pcm[i * CHANNELS..(i + 1) * CHANNELS].iter().sum()
}

/// The lag in `lags` (inclusive) for which `pcm`'s `w` frames from `at` best match those from
/// `at - lag`, by normalized correlation; `nominal` when nothing correlates (silence). Ties go
/// to the shorter lag.
fn best_lag(pcm: &[f32], at: usize, w: usize, lags: (usize, usize), nominal: usize) -> usize {
    let a_energy: f32 = (at..at + w).map(|i| mono(pcm, i).powi(2)).sum();
    let (mut best, mut best_score) = (nominal.clamp(lags.0, lags.1), 0.0f32);
    for lag in lags.0..=lags.1 {
        let from = at - lag;
        let (mut ab, mut bb) = (0.0f32, 0.0f32);
        for i in 0..w {
            let (a, b) = (mono(pcm, at + i), mono(pcm, from + i));
            ab += a * b;
            bb += b * b;
        }
        let denom = (a_energy * bb).sqrt();
        if denom > 1e-9 {
            let score = ab / denom;
            if score > best_score + 1e-6 {
                (best, best_score) = (lag, score);
            }
        }
    }
    best
}

/// The lag in `lags` (inclusive) for which the `lag` frames at the start of `pcm` best match
/// the `lag` after them, and how well (1 for silence: nothing to lose by cutting it).
fn best_period(pcm: &[f32], lags: (usize, usize)) -> (usize, f32) {
    let energy: f32 = (0..2 * lags.1).map(|i| mono(pcm, i).powi(2)).sum();
    if energy < 1e-6 {
        return (lags.1, 1.0);
    }
    let (mut best, mut best_score) = (lags.1, f32::MIN);
    for lag in lags.0..=lags.1 {
        let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..lag {
            let (a, b) = (mono(pcm, i), mono(pcm, i + lag));
            ab += a * b;
            aa += a * a;
            bb += b * b;
        }
        let denom = (aa * bb).sqrt();
        let score = if denom > 1e-9 { ab / denom } else { 0.0 };
        if score > best_score + 1e-6 {
            (best, best_score) = (lag, score);
        }
    }
    (best, best_score)
}

/// The last moments of a stream as played, and the two operations on it.
pub struct Stretcher {
    /// The newest `len` frames played, interleaved, oldest first, at the end of the buffer.
    history: Vec<f32>,
    len: usize,
    /// Shortenings declined in a row (the sound would have lost something).
    declined: u32,
}

impl Default for Stretcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Stretcher {
    pub fn new() -> Self {
        Self {
            history: vec![0.0; HISTORY * CHANNELS],
            len: 0,
            declined: 0,
        }
    }

    /// Forgets the past (the stream restarted: its start must not be matched to another's end).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Notes audio as played (interleaved).
    pub fn record(&mut self, pcm: &[f32]) {
        let total = self.history.len();
        if pcm.len() >= total {
            self.history.copy_from_slice(&pcm[pcm.len() - total..]);
            self.len = HISTORY;
            return;
        }
        self.history.copy_within(pcm.len().., 0);
        self.history[total - pcm.len()..].copy_from_slice(pcm);
        self.len = (self.len + pcm.len() / CHANNELS).min(HISTORY);
    }

    /// Writes into `out` about `nominal` frames that continue what was played: its last whole
    /// periods, played again (nothing is modified, so the next packet decoded follows it
    /// exactly as it would have followed the original). Returns the frames written, 0 when too
    /// little has been played to find a period (the caller conceals instead).
    pub fn lengthen(&mut self, nominal: usize, out: &mut [f32]) -> usize {
        let (lo, hi) = lag_range(nominal);
        let w = window(nominal);
        if nominal == 0 || nominal > MAX_LAG || self.len < hi + w || out.len() < hi * CHANNELS {
            return 0;
        }
        // The last `w` frames against the `w` before each candidate repeat: the repeat starts
        // where the signal looks as it does now, so its start joins what was played.
        let at = HISTORY - w;
        let lag = best_lag(&self.history, at, w, (lo, hi), nominal);
        let start = (HISTORY - lag) * CHANNELS;
        out[..lag * CHANNELS].copy_from_slice(&self.history[start..]);
        self.record(&out[..lag * CHANNELS]);
        lag
    }

    /// Shortens `frames` frames of freshly decoded audio (interleaved, in place; two packets
    /// of `nominal`, not played yet) by up to `nominal`: one stretch of whole periods is cut
    /// out at the start with a short crossfade. Returns the frames left. Unchanged when the
    /// packets are too long to search, or when what would be cut is not like what follows it
    /// (a click, a bow's attack: cutting it would lose it) — up to [`MAX_DECLINED`] times in
    /// a row, so that a buffer with only such sound to cut still comes down.
    pub fn shorten(&mut self, pcm: &mut [f32], frames: usize, nominal: usize) -> usize {
        let (lo, hi) = ((nominal / 2).max(1), nominal.min(MAX_LAG).min(frames / 2));
        if nominal == 0 || nominal > MAX_LAG || lo > hi || pcm.len() < frames * CHANNELS {
            return frames;
        }
        let (lag, score) = best_period(pcm, (lo, hi));
        if score < MIN_LIKENESS && self.declined < MAX_DECLINED {
            self.declined += 1;
            return frames;
        }
        self.declined = 0;
        let fade = (nominal / 4).clamp(1, MAX_FADE).min(frames - lag);
        // Out: the first `fade` frames fading into those `lag` later, then the rest from
        // there on.
        for i in 0..fade {
            let g = (i as f32 + 0.5) / fade as f32;
            for c in 0..CHANNELS {
                let (a, b) = (pcm[i * CHANNELS + c], pcm[(i + lag) * CHANNELS + c]);
                pcm[i * CHANNELS + c] = a * (1.0 - g) + b * g;
            }
        }
        pcm.copy_within((fade + lag) * CHANNELS..frames * CHANNELS, fade * CHANNELS);
        frames - lag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tone;
    use crate::signal::{AudioSource, Sine};

    fn sine(hz: f64, frames: usize) -> Vec<f32> {
        let mut s = Sine::new(hz, 0.3);
        let mut pcm = vec![0.0; frames * CHANNELS];
        s.fill(&mut pcm);
        pcm
    }

    /// A tone lengthened `times` times by about `nominal` every `every` frames, as the stream
    /// decoder would: the whole still fits one sinusoid.
    fn lengthened(hz: f64, nominal: usize, every: usize, times: usize) -> (Vec<f32>, usize) {
        let src = sine(hz, 48_000);
        let mut st = Stretcher::new();
        let mut out = Vec::new();
        let mut buf = vec![0.0; MAX_LAG * CHANNELS];
        let mut added = 0;
        for (k, chunk) in src.chunks(every * CHANNELS).enumerate() {
            out.extend_from_slice(chunk);
            st.record(chunk);
            if k > 0 && k <= times {
                let n = st.lengthen(nominal, &mut buf);
                assert!(n > 0, "history enough after the first chunk");
                out.extend_from_slice(&buf[..n * CHANNELS]);
                added += n;
            }
        }
        (out, added)
    }

    #[test]
    fn a_tone_lengthened_by_whole_periods_stays_one_tone() {
        for (hz, nominal) in [(660.0, 120), (440.0, 120), (440.0, 960), (1234.5, 240)] {
            let (out, added) = lengthened(hz, nominal, 2400, 10);
            // Ten in a second, far more than a buffer makes: each is off by the period's
            // fraction of a sample (lags are whole), and still the tone holds.
            let t = tone(&out, hz);
            assert!(
                t.snr_db > 25.0 && (t.frequency - hz).abs() < 0.5,
                "{hz} Hz by {nominal}: {t:?}"
            );
            // About a packet each time.
            assert!(
                (added as f64 / 10.0 - nominal as f64).abs() <= nominal as f64 / 2.0,
                "{added}"
            );
        }
    }

    #[test]
    fn a_packet_s_worth_inserted_whole_breaks_the_tone() {
        // What the stretch replaces: the same number of frames, not a whole number of periods.
        let src = sine(660.0, 48_000);
        let mut out = Vec::new();
        for (k, chunk) in src.chunks(2400 * CHANNELS).enumerate() {
            out.extend_from_slice(chunk);
            if k > 0 && k <= 10 {
                let tail = &chunk[chunk.len() - 120 * CHANNELS..];
                out.extend_from_slice(tail);
            }
        }
        assert!(tone(&out, 660.0).snr_db < 15.0);
    }

    #[test]
    fn a_tone_shortened_by_whole_periods_stays_one_tone() {
        for (hz, nominal) in [(660.0, 120), (440.0, 240), (440.0, 960)] {
            let src = sine(hz, 48_000);
            let mut out = Vec::new();
            let mut st = Stretcher::new();
            let mut removed = 0;
            let mut pcm = vec![0.0; 2 * nominal * CHANNELS];
            let mut pos = 0;
            let mut k = 0;
            while pos + 2 * nominal <= 48_000 {
                let n = 2 * nominal;
                pcm.copy_from_slice(&src[pos * CHANNELS..(pos + n) * CHANNELS]);
                let left = if k % 10 == 5 {
                    st.shorten(&mut pcm, n, nominal)
                } else {
                    n
                };
                removed += n - left;
                out.extend_from_slice(&pcm[..left * CHANNELS]);
                pos += n;
                k += 1;
            }
            let t = tone(&out, hz);
            assert!(
                t.snr_db > 30.0 && (t.frequency - hz).abs() < 0.5,
                "{hz} Hz by {nominal}: {t:?}"
            );
            assert!(removed > 0);
        }
    }

    #[test]
    fn silence_and_noise_are_stretched_by_about_a_packet_without_blowing_up() {
        let mut st = Stretcher::new();
        st.record(&vec![0.0; HISTORY * CHANNELS]);
        let mut out = vec![1.0; MAX_LAG * CHANNELS];
        assert_eq!(st.lengthen(120, &mut out), 120);
        assert!(out[..240].iter().all(|&s| s == 0.0));
        // Noise: whatever lag, the samples are the stream's own, never louder.
        let mut x = 12345u32;
        let noise: Vec<f32> = (0..HISTORY * CHANNELS)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect();
        st.record(&noise);
        let n = st.lengthen(240, &mut out);
        assert!((120..=360).contains(&n));
        assert!(out[..n * CHANNELS].iter().all(|s| s.abs() <= 0.5));
        // Noise is not like itself a period later: declined, then cut all the same.
        for _ in 0..MAX_DECLINED {
            let mut two = noise[..480 * CHANNELS].to_vec();
            assert_eq!(st.shorten(&mut two, 480, 240), 480);
            assert_eq!(two, noise[..480 * CHANNELS]);
        }
        let mut two = noise[..480 * CHANNELS].to_vec();
        let left = st.shorten(&mut two, 480, 240);
        assert!((240..=360).contains(&left), "{left}");
        assert!(two.iter().all(|s| s.abs() <= 0.5));
    }

    #[test]
    fn a_click_is_never_cut_out() {
        // Two 5-ms packets of silence with a 0.2-ms click somewhere: shortened or not, the
        // click is still there.
        for at in (0..470).step_by(3) {
            let mut pcm = vec![0.0; 480 * CHANNELS];
            pcm[at * CHANNELS..(at + 10) * CHANNELS].fill(0.8);
            let mut st = Stretcher::new();
            let left = st.shorten(&mut pcm, 480, 240);
            let peak = pcm[..left * CHANNELS]
                .iter()
                .fold(0.0f32, |m, s| m.max(s.abs()));
            assert!(peak > 0.79, "click at {at}: {left} left, peak {peak}");
        }
        // And silence alone is shortened (nothing to lose).
        let mut quiet = vec![0.0; 480 * CHANNELS];
        assert!(Stretcher::new().shorten(&mut quiet, 480, 240) < 480);
    }

    #[test]
    fn too_little_history_or_too_long_packets_are_left_to_the_caller() {
        let mut st = Stretcher::new();
        let mut out = vec![0.0; MAX_LAG * CHANNELS];
        st.record(&sine(440.0, 100));
        assert_eq!(
            st.lengthen(120, &mut out),
            0,
            "100 frames cannot hold a 180 lag"
        );
        st.record(&sine(440.0, HISTORY));
        assert_eq!(st.lengthen(1920, &mut out), 0, "a 40-ms packet");
        st.clear();
        assert_eq!(st.lengthen(120, &mut out), 0, "after a restart");
        let mut pcm = sine(440.0, 3840);
        assert_eq!(st.shorten(&mut pcm, 3840, 1920), 3840);
        let mut st = Stretcher::new();
        // A buffer smaller than it says: untouched, not a panic.
        assert_eq!(st.shorten(&mut pcm[..10], 240, 120), 240);
    }
}
