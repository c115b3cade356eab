//! One remote participant's audio, turned into frames of our length whatever length its sender
//! chose (Settings offer 2.5, 5, 10 and 20 ms, and a browser sends 20): each packet is decoded at
//! the length its TOC says, and what is left over waits for the next playout frame. A 20-ms
//! sender heard at 2.5 ms is popped once every eight frames; a 2.5-ms sender heard at 20 ms,
//! eight times a frame (the jitter buffer knows, see [`JitterBuffer::set_packet_samples`]).
//!
//! It also carries out the buffer's changes of depth ([`Playout::Stretch`],
//! [`Playout::Shorten`]) by whole pitch periods ([`Stretcher`]), which needs the audio as
//! played: a buffer underrun or a level correction costs no jump in a held note.
//!
//! And it plays the sender's audio at the rate of the sender's sound card: that clock is never
//! quite ours ([`DriftEstimator`] finds by how much), and resampling by up to
//! [`MAX_RATE_PPM`] follows it with nothing inserted or dropped. An 8-point polynomial
//! (rubato's): 4 samples of delay where a sinc filter would add a millisecond, and transparent
//! at the ratios it is used for.

use crate::codec::{MAX_PACKET_SAMPLES, MusicDecoder};
use crate::drift::{DriftEstimator, MAX_RATE_PPM, RATE_SLEW_PPM_PER_S};
use crate::format::SAMPLE_RATE;
use crate::format::{CHANNELS, FrameDuration};
use crate::jitter::{JitterBuffer, Playout};
use crate::pipeline::PlayoutReport;
use crate::stretch::Stretcher;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Adjustable, Async, FixedAsync, PolynomialDegree, Resampler};
use std::time::Instant;

/// How long a gap is filled by repeating what was played (frames per channel, 60 ms); past
/// that it is concealed by the decoder (a period repeated on and on is a buzz; Opus's
/// concealment fades out).
const MAX_REPEATED: usize = 2880;

pub struct StreamDecoder {
    decoder: MusicDecoder,
    /// Decoded audio not played yet: `pending[played..decoded]`, interleaved. Sized once for
    /// the longest packet, so the audio thread never resizes or clears it.
    pending: Vec<f32>,
    decoded: usize,
    played: usize,
    stretcher: Stretcher,
    /// Frames repeated since the last real audio.
    repeated: usize,
    /// Playout frames of `chunk` samples per channel made from a few samples more or fewer of
    /// the stream's; `input` holds what it reads (sized once, for the fastest rate).
    resampler: Async<f32>,
    input: Vec<f32>,
    chunk: usize,
    /// The sender's clock against ours: our samples played of this stream, the estimate, and
    /// the rate followed now (ppm faster than nominal).
    drift: DriftEstimator,
    played_samples: u64,
    rate_ppm: f64,
}

impl StreamDecoder {
    /// For a stream played in frames of `frame` (the sender's length is learned from its
    /// packets).
    pub fn new(frame: FrameDuration) -> Result<Self, crate::CodecError> {
        // Room beyond the buffer's limit, so a ramp never meets the resampler's.
        let max_relative = 1.0 + 2.0 * MAX_RATE_PPM * 1e-6;
        let resampler = Async::new_poly(
            1.0,
            max_relative,
            PolynomialDegree::Septic,
            frame.samples(),
            CHANNELS,
            FixedAsync::Output,
        )?;
        let input_max = resampler.input_frames_max();
        Ok(Self {
            decoder: MusicDecoder::new(frame)?,
            // Two packets: a shortening decodes both before cutting.
            pending: vec![0.0; 2 * MAX_PACKET_SAMPLES * CHANNELS],
            decoded: 0,
            played: 0,
            stretcher: Stretcher::new(),
            repeated: 0,
            resampler,
            input: vec![0.0; input_max * CHANNELS],
            chunk: frame.samples(),
            drift: DriftEstimator::default(),
            played_samples: 0,
            rate_ppm: 0.0,
        })
    }

    /// Audio decoded and waiting to be played, in samples per channel (part of the latency).
    pub fn pending_samples(&self) -> usize {
        (self.decoded - self.played) / CHANNELS
    }

    /// The sender's RTP timestamp of the last sample of the frame just filled: how far the
    /// jitter buffer has played, less what is decoded and still waiting here and what the
    /// resampler holds (a stretched frame repeats what was played: the stream stands still).
    pub fn played_until(&self, jitter: &JitterBuffer) -> Option<u32> {
        let held = self.pending_samples() + self.resampler.output_delay();
        Some(jitter.played_until()?.wrapping_sub(held as u32))
    }

    /// Fills `out` (one playout frame, interleaved, to be played after the last) from the
    /// stream, at its sender's clock rate as far as it is known at `now`. While the buffer is
    /// still filling up, the rest of the frame is silence.
    pub fn fill(
        &mut self,
        jitter: &mut JitterBuffer,
        out: &mut [f32],
        report: &mut PlayoutReport,
        now: Instant,
    ) {
        let frames = out.len() / CHANNELS;
        self.follow_the_sender(jitter, frames, now);
        let need = self.resampler.input_frames_next();
        if frames != self.chunk || need * CHANNELS > self.input.len() {
            // Not the frame it was made for: played as it comes.
            self.fill_decoded(jitter, out, report);
            return;
        }
        // (Taken out and put back, not reallocated: the audio thread allocates nothing.)
        let mut input = std::mem::take(&mut self.input);
        self.fill_decoded(jitter, &mut input[..need * CHANNELS], report);
        let resampled = match (
            InterleavedSlice::new(&input[..], CHANNELS, need),
            InterleavedSlice::new_mut(&mut *out, CHANNELS, frames),
        ) {
            (Ok(from), Ok(mut to)) => self.resampler.process_into_buffer(&from, &mut to, None),
            _ => Ok((0, 0)),
        };
        if !matches!(resampled, Ok((_, n)) if n == frames) {
            // (Cannot happen with the sizes above; if it did, the frame as it came.)
            let n = out.len().min(need * CHANNELS);
            out[..n].copy_from_slice(&input[..n]);
            out[n..].fill(0.0);
        }
        self.input = input;
    }

    /// Notes how far we have played and where the sender stands, and moves the rate followed
    /// toward the estimate (by at most [`RATE_SLEW_PPM_PER_S`]), ramped across the next frame.
    fn follow_the_sender(&mut self, jitter: &mut JitterBuffer, frames: usize, now: Instant) {
        if let Some((epoch, theirs)) = jitter.sender_position(now) {
            self.drift.observe(epoch, self.played_samples, theirs);
        }
        self.played_samples += frames as u64;
        let goal = self
            .drift
            .ppm()
            .unwrap_or(0.0)
            .clamp(-MAX_RATE_PPM, MAX_RATE_PPM);
        let step = RATE_SLEW_PPM_PER_S * frames as f64 / f64::from(SAMPLE_RATE);
        let moved = (goal - self.rate_ppm).clamp(-step, step);
        if moved == 0.0 {
            return;
        }
        self.rate_ppm += moved;
        jitter.note_rate(self.rate_ppm);
        // Faster than nominal: more of the stream per frame of ours.
        let ratio = 1.0 / (1.0 + self.rate_ppm * 1e-6);
        let _ = self.resampler.set_resample_ratio_relative(ratio, true);
    }

    /// Fills `out` with what was left of the last packet and as many packets from `jitter` as
    /// it takes, as decoded.
    fn fill_decoded(
        &mut self,
        jitter: &mut JitterBuffer,
        out: &mut [f32],
        report: &mut PlayoutReport,
    ) {
        let mut filled = 0;
        while filled < out.len() {
            if self.played == self.decoded {
                self.played = 0;
                let n = self.next_audio(jitter.pop(), report);
                self.decoded = n * CHANNELS;
                if n == 0 {
                    out[filled..].fill(0.0);
                    return;
                }
            }
            let take = (out.len() - filled).min(self.decoded - self.played);
            out[filled..filled + take]
                .copy_from_slice(&self.pending[self.played..self.played + take]);
            filled += take;
            self.played += take;
        }
    }

    /// Renders one playout decision into `pending` (samples per channel, 0 while the buffer
    /// fills up), and notes it as played.
    fn next_audio(&mut self, playout: Playout, report: &mut PlayoutReport) -> usize {
        let nominal = self.decoder.frame_samples();
        let n = match playout {
            Playout::Stretch => {
                let repeated = if self.repeated < MAX_REPEATED {
                    self.stretcher.lengthen(nominal, &mut self.pending)
                } else {
                    0
                };
                // A failed attempt ends the repeats: the decoder conceals from here on.
                self.repeated = if repeated == 0 {
                    MAX_REPEATED
                } else {
                    self.repeated + repeated
                };
                if repeated > 0 {
                    // Nothing went through the decoder: the next packet follows what it made
                    // last, which is where the repeat ends. (Already noted as played.)
                    report.stretched += 1;
                    return repeated;
                }
                render(
                    &mut self.decoder,
                    Playout::Conceal,
                    &mut self.pending,
                    report,
                )
            }
            Playout::Shorten(a, b) => {
                self.repeated = 0;
                let first = render(
                    &mut self.decoder,
                    Playout::Packet(a),
                    &mut self.pending,
                    report,
                );
                let rest = &mut self.pending[first * CHANNELS..];
                let second = render(&mut self.decoder, Playout::Packet(b), rest, report);
                let both = first + second;
                let left = if first == second {
                    self.stretcher.shorten(&mut self.pending, both, first)
                } else {
                    both
                };
                report.shortened += u64::from(left < both);
                left
            }
            Playout::Waiting => {
                // Whatever plays next starts a stream: not to be matched with this one's end.
                self.stretcher.clear();
                0
            }
            Playout::Conceal => render(&mut self.decoder, playout, &mut self.pending, report),
            p @ (Playout::Packet(_) | Playout::Recover(_)) => {
                self.repeated = 0;
                render(&mut self.decoder, p, &mut self.pending, report)
            }
        };
        self.stretcher.record(&self.pending[..n * CHANNELS]);
        n
    }
}

/// Turns one simple playout decision (a packet, a loss, or waiting) into audio at the start of
/// `pcm` (which must hold one of the stream's frames; [`MAX_PACKET_SAMPLES`] takes any); returns
/// its samples per channel, 0 while the buffer is filling up.
fn render(
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
        // (A stream decoder carries out the last two itself; alone they are a loss.)
        Playout::Conceal | Playout::Stretch | Playout::Shorten(..) => {
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
    use crate::jitter::{JitterConfig, JitterStats};
    use crate::signal::{AudioSource, Sine};
    use std::time::{Duration, Instant};

    /// A sender at `sent` frames heard by a listener at `heard` frames, over a perfect network
    /// with 2 ms of delay, both paced by exact clocks for `secs`: what the listener played, and
    /// the report.
    fn listen(sent: FrameDuration, heard: FrameDuration, secs: f64) -> (Vec<f32>, PlayoutReport) {
        let (played, report, _) = listen_through(sent, heard, secs, 0.0, |_| 0);
        (played, report)
    }

    /// The same through a network that holds the packet sent at `t` µs for `held(t)` µs more,
    /// from a sender whose sound card runs `ppm` fast; with the buffer's figures at the end.
    fn listen_through(
        sent: FrameDuration,
        heard: FrameDuration,
        secs: f64,
        ppm: f64,
        held: impl Fn(u64) -> u64,
    ) -> (Vec<f32>, PlayoutReport, JitterStats) {
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
        let (sent_us, heard_us) = (
            sent.duration().as_micros() as u64,
            heard.duration().as_micros() as u64,
        );
        let mut pcm = vec![0.0; sent.interleaved()];
        let mut packet = [0u8; MAX_PACKET];
        let mut out = vec![0.0; heard.interleaved()];
        let mut played = Vec::new();
        let send_period = sent_us as f64 / (1.0 + ppm * 1e-6);
        let (mut sends, mut next_play, mut seq) = (0u64, 10_000u64, 0u16);
        let end = (secs * 1e6) as u64;
        // Sent, not arrived yet: (arrival µs, seq, packet).
        let mut in_flight: Vec<(u64, u16, bytes::Bytes)> = Vec::new();
        while next_play < end {
            // Everything sent so far arrives 2 ms later (and what is held, later still); then
            // the listener plays a frame.
            while ((sends + 1) as f64 * send_period) as u64 <= next_play {
                let sent_at = (sends as f64 * send_period) as u64;
                src.fill(&mut pcm);
                let n = enc.encode(&pcm, &mut packet).unwrap();
                let at = ((sends + 1) as f64 * send_period) as u64 + 2_000 + held(sent_at);
                in_flight.push((at, seq, bytes::Bytes::copy_from_slice(&packet[..n])));
                seq = seq.wrapping_add(1);
                sends += 1;
            }
            in_flight.sort_by_key(|&(at, seq, _)| (at, seq));
            while in_flight.first().is_some_and(|&(at, _, _)| at <= next_play) {
                let (at, seq, p) = in_flight.remove(0);
                jb.set_packet_samples(crate::codec::packet_samples(&p).unwrap());
                jb.push(seq, p, t0 + Duration::from_micros(at));
            }
            stream.fill(
                &mut jb,
                &mut out,
                &mut report,
                t0 + Duration::from_micros(next_play),
            );
            played.extend_from_slice(&out);
            next_play += heard_us;
        }
        (played, report, jb.stats())
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

    /// Every 500 ms for 2 s the network holds the packets for 30 ms, then delivers them
    /// together (a busy machine, a Wi-Fi scan): the buffer runs dry, then deepens its target,
    /// then gives the extra back once the spikes stop.
    fn through_stalls(sent: FrameDuration, heard: FrameDuration) -> (Vec<f32>, PlayoutReport) {
        let (played, report, _) = listen_through(sent, heard, 6.0, 0.0, |t| {
            let into = t % 500_000;
            if (400_000..2_400_000).contains(&t) && into < 30_000 {
                30_000 - into
            } else {
                0
            }
        });
        (played, report)
    }

    #[test]
    fn a_buffer_that_runs_dry_or_deepens_leaves_a_held_note_whole() {
        for (sent, heard) in [
            (FrameDuration::Ms2_5, FrameDuration::Ms20),
            (FrameDuration::Ms2_5, FrameDuration::Ms2_5),
            (FrameDuration::Ms10, FrameDuration::Ms5),
        ] {
            let (played, report) = through_stalls(sent, heard);
            // Half-second windows past start-up, through the stalls and after.
            let window = 24_000 * CHANNELS;
            for (k, w) in played.chunks_exact(window).enumerate().skip(1) {
                let t = tone(w, 440.0);
                assert!(
                    (t.frequency - 440.0).abs() < 1.0 && t.snr_db > 20.0,
                    "{sent:?} heard at {heard:?}, window {k}: {:.1} Hz, SNR {:.1} dB, {report:?}",
                    t.frequency,
                    t.snr_db
                );
            }
            assert!(
                report.stretched > 0 && report.shortened > 0,
                "{sent:?} heard at {heard:?}: {report:?}"
            );
        }
    }

    #[test]
    fn a_sender_whose_clock_runs_fast_or_slow_is_followed_with_nothing_cut_or_stretched() {
        // 500 ppm (a poor card; two ordinary ones differ by tens) is 0.5 ms a second: a 2.5-ms
        // frame cut out or made up every 5 s. The first seconds are the estimate's.
        for (sent, heard, ppm) in [
            (FrameDuration::Ms2_5, FrameDuration::Ms2_5, 500.0),
            (FrameDuration::Ms2_5, FrameDuration::Ms2_5, -500.0),
            (FrameDuration::Ms20, FrameDuration::Ms5, 500.0),
        ] {
            let (_, early, early_stats) = listen_through(sent, heard, 10.0, ppm, |_| 0);
            let (played, report, stats) = listen_through(sent, heard, 40.0, ppm, |_| 0);
            let what = format!("{sent:?} heard at {heard:?}, {ppm} ppm: {report:?}, {stats:?}");
            let changes = |r: &PlayoutReport, s: &JitterStats| {
                r.stretched + r.shortened + s.dropped + s.inserted + s.slowed
            };
            assert_eq!(
                changes(&report, &stats),
                changes(&early, &early_stats),
                "after 10 s: {what}"
            );
            assert!((stats.rate_ppm - ppm).abs() < 10.0, "{what}");
            // And the note is whole all through, at the sender's pitch (440 Hz on its clock).
            let window = 24_000 * CHANNELS;
            for (k, w) in played.chunks_exact(window).enumerate().skip(1) {
                let t = tone(w, 440.0);
                assert!(
                    (t.frequency - 440.0).abs() < 1.0 && t.snr_db > 25.0,
                    "window {k}: {:.2} Hz, SNR {:.1} dB; {what}",
                    t.frequency,
                    t.snr_db
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
