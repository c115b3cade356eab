//! One remote participant's audio, turned into frames of our length whatever length its sender
//! chose (Settings offer 2.5, 5, 10 and 20 ms, and a browser sends 20): each packet is decoded at
//! the length its TOC says, and what is left over waits for the next playout frame. A 20-ms
//! sender heard at 2.5 ms is popped once every eight frames; a 2.5-ms sender heard at 20 ms,
//! eight times a frame (the jitter buffer knows, see [`JitterBuffer::set_packet_samples`]).
//!
//! The sender's sound card and ours never run at quite the same rate (tens to a few hundred ppm
//! apart), and the jitter buffer's target moves with the network. Either fills or drains the
//! buffer; dropping or inserting a whole frame to follow it is a hole a listener hears (and a
//! 10-ms window that is not clean). So the decoded audio goes through an asynchronous resampler
//! (rubato's windowed sinc) whose rate follows the buffer's smoothed level: a frame too much,
//! about 1000 ppm faster (1.7 cents, under what the ear tells), never more than
//! [`MAX_RATE_PPM`]. The buffer itself drops or inserts frames only beyond a slack of 7.5 ms
//! (a stall, a pile-up).

use crate::codec::{MAX_PACKET_SAMPLES, MusicDecoder};
use crate::format::{CHANNELS, FrameDuration};
use crate::jitter::{JitterBuffer, Playout};
use crate::pipeline::PlayoutReport;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// How far from the sender's rate the playout may go, either way.
pub const MAX_RATE_PPM: f64 = 2_000.0;
/// Rate change per millisecond of level error beyond the dead band: a time constant of 2.5 s.
const PPM_PER_MS: f64 = 400.0;
/// Level errors within this many of the sender's packets leave the rate alone: the depth is
/// counted in whole packets, and a playout that pops several at once sees it move by a fraction
/// of one from frame to frame; following that would wobble the pitch for nothing.
const DEAD_BAND: f64 = 0.5;
/// How far the buffer's level may stray (ms) before it drops or inserts a frame itself.
const SLACK_MS: f64 = 7.5;
/// The resampler's filter: 64 taps, a delay of 32 samples (0.67 ms).
const SINC_LEN: usize = 64;

pub struct StreamDecoder {
    decoder: MusicDecoder,
    /// Decoded audio not played yet: `pending[played..decoded]`, interleaved. Sized once for
    /// the longest packet, so the audio thread never resizes or clears it.
    pending: Vec<f32>,
    decoded: usize,
    played: usize,
    /// Decoded audio on its way into the resampler (one call's input), interleaved.
    input: Vec<f32>,
    resampler: Async<f32>,
    /// Whether the resampler holds audio of the stream (it is reset when the stream waits).
    running: bool,
    /// The rate asked for, relative to the sender's, as ppm (positive: played slower).
    rate_ppm: f64,
}

impl StreamDecoder {
    /// For a stream played in frames of `frame` (the sender's length is learned from its
    /// packets).
    pub fn new(frame: FrameDuration) -> Result<Self, crate::CodecError> {
        let params = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2)
            .oversampling_factor(128)
            .interpolation(SincInterpolationType::Linear);
        let max = 1.0 + MAX_RATE_PPM * 1e-6;
        let resampler = Async::new_sinc(
            1.0,
            max,
            &params,
            frame.samples(),
            CHANNELS,
            FixedAsync::Output,
        )
        .map_err(|e| crate::CodecError::Resampler(e.to_string()))?;
        Ok(Self {
            decoder: MusicDecoder::new(frame)?,
            pending: vec![0.0; MAX_PACKET_SAMPLES * CHANNELS],
            decoded: 0,
            played: 0,
            input: vec![0.0; resampler.input_frames_max() * CHANNELS],
            resampler,
            running: false,
            rate_ppm: 0.0,
        })
    }

    /// Audio decoded and waiting to be played, in samples per channel (part of the latency),
    /// the resampler's delay included.
    pub fn pending_samples(&self) -> usize {
        (self.decoded - self.played) / CHANNELS
            + if self.running {
                self.resampler.output_delay()
            } else {
                0
            }
    }

    /// The playout rate relative to the sender's, in ppm (positive: slower, the buffer filling
    /// back up).
    pub fn rate_ppm(&self) -> f64 {
        self.rate_ppm
    }

    /// Fills `out` (one playout frame, interleaved) from the stream: the rest of the last
    /// packet and as many packets from `jitter` as it takes, resampled to follow the buffer's
    /// level. While the buffer is still filling up, silence.
    pub fn fill(&mut self, jitter: &mut JitterBuffer, out: &mut [f32], report: &mut PlayoutReport) {
        let packet_ms = jitter.packet_duration().as_secs_f64() * 1e3;
        jitter.set_slack(SLACK_MS / packet_ms.max(0.1));
        let frames = out.len() / CHANNELS;
        if frames != self.resampler.output_frames_next() {
            // Not the length this decoder was made for: no resampling.
            self.copy_out(jitter, out, report);
            return;
        }
        let need = self.resampler.input_frames_next();
        let got = if self.running {
            self.copy_into_input(jitter, need, report)
        } else {
            // Not playing: start once there is a packet to play, with what it holds (the
            // filter's first call asks for a frame more than a packet, and popping for it would
            // conceal a frame at the start of every stream; its history starts silent anyway).
            if self.decoded == self.played && !self.decode_next(jitter, report) {
                out.fill(0.0);
                return;
            }
            self.running = true;
            let have = ((self.decoded - self.played) / CHANNELS).min(need);
            let got = self.copy_into_input(jitter, have, report);
            // Those it lacks go before them: silence, then the stream.
            let (n, g) = (need * CHANNELS, got * CHANNELS);
            self.input.copy_within(0..g, n - g);
            self.input[..n - g].fill(0.0);
            need
        };
        if got == 0 {
            // The stream stopped (the buffer is waiting again): silence, and start afresh.
            self.stop();
            out.fill(0.0);
            return;
        }
        // Silence for what the stream did not have (it stopped within this frame).
        self.input[got * CHANNELS..need * CHANNELS].fill(0.0);
        let resampled = InterleavedSlice::new(&self.input[..need * CHANNELS], CHANNELS, need)
            .and_then(|input| {
                InterleavedSlice::new_mut(out, CHANNELS, frames).map(|output| (input, output))
            });
        let ok = match resampled {
            Ok((input, mut output)) => self
                .resampler
                .process_into_buffer(&input, &mut output, None)
                .is_ok(),
            Err(_) => false,
        };
        if !ok {
            out.fill(0.0);
            self.stop();
            return;
        }
        if got < need {
            self.stop();
            return;
        }
        if let Some(error) = jitter.level_error() {
            // Too much waiting: faster (a ratio below one, output to input), and back.
            let beyond = error.signum() * (error.abs() - DEAD_BAND).max(0.0);
            let ppm = (-PPM_PER_MS * beyond * packet_ms).clamp(-MAX_RATE_PPM, MAX_RATE_PPM);
            if self
                .resampler
                .set_resample_ratio_relative(1.0 + ppm * 1e-6, true)
                .is_ok()
            {
                self.rate_ppm = ppm;
            }
        }
    }

    fn stop(&mut self) {
        self.running = false;
        self.resampler.reset();
        self.rate_ppm = 0.0;
    }

    /// Decodes the next packet into `pending`; false if the buffer has nothing to play.
    fn decode_next(&mut self, jitter: &mut JitterBuffer, report: &mut PlayoutReport) -> bool {
        self.played = 0;
        let n = render(&mut self.decoder, jitter.pop(), &mut self.pending, report);
        self.decoded = n * CHANNELS;
        n > 0
    }

    /// Moves `frames` of the stream into the resampler's input; returns how many there were.
    fn copy_into_input(
        &mut self,
        jitter: &mut JitterBuffer,
        frames: usize,
        report: &mut PlayoutReport,
    ) -> usize {
        let want = frames * CHANNELS;
        let mut filled = 0;
        while filled < want {
            if self.played == self.decoded && !self.decode_next(jitter, report) {
                break;
            }
            let take = (want - filled).min(self.decoded - self.played);
            self.input[filled..filled + take]
                .copy_from_slice(&self.pending[self.played..self.played + take]);
            filled += take;
            self.played += take;
        }
        filled / CHANNELS
    }

    /// Without resampling: the stream as it comes, silence where it stops.
    fn copy_out(&mut self, jitter: &mut JitterBuffer, out: &mut [f32], report: &mut PlayoutReport) {
        let mut filled = 0;
        while filled < out.len() {
            if self.played == self.decoded && !self.decode_next(jitter, report) {
                out[filled..].fill(0.0);
                return;
            }
            let take = (out.len() - filled).min(self.decoded - self.played);
            out[filled..filled + take]
                .copy_from_slice(&self.pending[self.played..self.played + take]);
            filled += take;
            self.played += take;
        }
    }
}

/// Turns one playout decision into audio at the start of `pcm` (which must hold one of the
/// stream's frames; [`MAX_PACKET_SAMPLES`] takes any); returns its samples per channel, 0 while
/// the buffer is filling up.
pub fn render(
    decoder: &mut MusicDecoder,
    playout: Playout,
    pcm: &mut [f32],
    report: &mut PlayoutReport,
) -> usize {
    let result = match playout {
        Playout::Packet(p) => {
            report.decoded += 1;
            decoder.decode(&p, pcm)
        }
        Playout::Recover(next) => {
            report.recovered += 1;
            decoder.recover(&next, pcm)
        }
        Playout::Conceal => {
            report.concealed += 1;
            decoder.conceal(pcm)
        }
        Playout::Waiting => {
            report.silent += 1;
            return 0;
        }
    };
    match result {
        Ok(n) => n,
        Err(_) => {
            // A packet the decoder rejects (corrupt, not Opus, or longer than anything Opus
            // makes): conceal instead of crackling.
            report.decode_errors += 1;
            decoder.conceal(pcm).unwrap_or_else(|_| {
                let n = decoder.frame_samples().min(pcm.len() / CHANNELS);
                pcm[..n * CHANNELS].fill(0.0);
                n
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tone;
    use crate::codec::{MAX_PACKET, MusicConfig, MusicEncoder};
    use crate::jitter::JitterConfig;
    use crate::signal::{AudioSource, Sine};
    use std::time::{Duration, Instant};

    /// A sender at `sent` frames heard by a listener at `heard` frames, over a perfect network
    /// with 2 ms of delay, both paced by exact clocks for `secs`: what the listener played, and
    /// the report.
    fn listen(sent: FrameDuration, heard: FrameDuration, secs: f64) -> (Vec<f32>, PlayoutReport) {
        let (played, report, _) = listen_drifting(sent, heard, secs, 0.0);
        (played, report)
    }

    /// The same with the sender's sound card `ppm` fast (negative: slow) against ours.
    fn listen_drifting(
        sent: FrameDuration,
        heard: FrameDuration,
        secs: f64,
        ppm: f64,
    ) -> (Vec<f32>, PlayoutReport, crate::jitter::JitterStats) {
        let mut enc = MusicEncoder::new(MusicConfig {
            frame: sent,
            ..MusicConfig::default()
        })
        .unwrap();
        let mut src = Sine::new(440.0, 0.3);
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(heard));
        let mut stream = StreamDecoder::new(heard).unwrap();
        let mut report = PlayoutReport::default();
        let t0 = Instant::now();
        // The sender's frames take this long on our clock.
        let (sent_us, heard_us) = (
            (sent.duration().as_micros() as f64 / (1.0 + ppm * 1e-6)) as u64,
            heard.duration().as_micros() as u64,
        );
        let mut pcm = vec![0.0; sent.interleaved()];
        let mut packet = [0u8; MAX_PACKET];
        let mut out = vec![0.0; heard.interleaved()];
        let mut played = Vec::new();
        let (mut next_send, mut next_play, mut seq) = (0u64, 10_000u64, 0u16);
        let end = (secs * 1e6) as u64;
        while next_play < end {
            // Everything sent so far has arrived 2 ms later; then the listener plays a frame.
            while next_send + sent_us + 2_000 <= next_play {
                src.fill(&mut pcm);
                let n = enc.encode(&pcm, &mut packet).unwrap();
                let samples = crate::codec::packet_samples(&packet[..n]).unwrap();
                jb.set_packet_samples(samples);
                let at = t0 + Duration::from_micros(next_send + sent_us + 2_000);
                jb.push(seq, bytes::Bytes::copy_from_slice(&packet[..n]), at);
                seq = seq.wrapping_add(1);
                next_send += sent_us;
            }
            stream.fill(&mut jb, &mut out, &mut report);
            played.extend_from_slice(&out);
            next_play += heard_us;
        }
        let stats = jb.stats();
        (played, report, stats)
    }

    /// 10-ms windows of `played` (interleaved, left channel taken) that do not carry the tone
    /// cleanly: its level within 3 dB of `level`, 20 dB above everything else.
    fn unclean_windows(played: &[f32], hz: f64, level: f64) -> Vec<usize> {
        let left: Vec<f32> = played.iter().step_by(CHANNELS).copied().collect();
        left.chunks_exact(480)
            .enumerate()
            .filter(|(_, w)| {
                let (amp, snr) = crate::analysis::fit(w, hz);
                (20.0 * (amp / level).log10()).abs() > 3.0 || snr < 20.0
            })
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn a_sound_card_running_fast_or_slow_is_followed_by_the_rate_not_by_dropped_frames() {
        for ppm in [300.0, -300.0] {
            let (played, report, stats) =
                listen_drifting(FrameDuration::Ms2_5, FrameDuration::Ms2_5, 40.0, ppm);
            // 40 s at 300 ppm is 12 ms, five frames: each dropped or inserted would be a hole.
            assert_eq!(
                (stats.dropped, stats.inserted),
                (0, 0),
                "{ppm} ppm: {stats:?} {report:?}"
            );
            // After the first second every 10-ms window carries the tone whole.
            let bad: Vec<usize> = unclean_windows(&played, 440.0, 0.3)
                .into_iter()
                .filter(|&w| w >= 100)
                .collect();
            assert!(
                bad.is_empty(),
                "{ppm} ppm: unclean windows {bad:?}, {stats:?}"
            );
            // The buffer stayed where it was aimed.
            assert!(stats.depth <= stats.target + 2, "{ppm} ppm: {stats:?}");
        }
    }

    #[test]
    fn every_pair_of_frame_lengths_hears_the_tone_whole() {
        for sent in FrameDuration::ALL {
            for heard in FrameDuration::ALL {
                let (played, report) = listen(sent, heard, 2.0);
                // The second half: long past start-up.
                let t = tone(&played[played.len() / 2..], 440.0);
                assert!(
                    (t.frequency - 440.0).abs() < 2.0 && t.snr_db > 25.0,
                    "{sent:?} heard at {heard:?}: {:.1} Hz, SNR {:.1} dB, {report:?}",
                    t.frequency,
                    t.snr_db
                );
                // Start-up aside, every frame is the real one: nothing concealed.
                assert!(
                    report.concealed + report.recovered <= 2,
                    "{sent:?} heard at {heard:?}: {report:?}"
                );
            }
        }
    }

    #[test]
    fn a_long_sender_is_popped_once_per_its_frame() {
        let (_, report) = listen(FrameDuration::Ms20, FrameDuration::Ms2_5, 1.0);
        // One second of 20-ms packets: about 50 pops, not the 400 a 2.5-ms stream would need.
        assert!((40..=52).contains(&report.decoded), "{report:?}");
    }
}
