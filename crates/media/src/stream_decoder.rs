//! One remote participant's audio, turned into frames of our length whatever length its sender
//! chose (Settings offer 2.5, 5, 10 and 20 ms, and a browser sends 20): each packet is decoded at
//! the length its TOC says, and what is left over waits for the next playout frame. A 20-ms
//! sender heard at 2.5 ms is popped once every eight frames; a 2.5-ms sender heard at 20 ms,
//! eight times a frame (the jitter buffer knows, see [`JitterBuffer::set_packet_samples`]).
//!
//! It also carries out the buffer's changes of depth ([`Playout::Stretch`],
//! [`Playout::Shorten`]) by whole pitch periods ([`Stretcher`]), which needs the audio as
//! played: a buffer underrun or a level correction costs no jump in a held note.

use crate::codec::{MAX_PACKET_SAMPLES, MusicDecoder};
use crate::format::{CHANNELS, FrameDuration};
use crate::jitter::{JitterBuffer, Playout};
use crate::pipeline::PlayoutReport;
use crate::stretch::Stretcher;

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
}

impl StreamDecoder {
    /// For a stream played in frames of `frame` (the sender's length is learned from its
    /// packets).
    pub fn new(frame: FrameDuration) -> Result<Self, crate::CodecError> {
        Ok(Self {
            decoder: MusicDecoder::new(frame)?,
            // Two packets: a shortening decodes both before cutting.
            pending: vec![0.0; 2 * MAX_PACKET_SAMPLES * CHANNELS],
            decoded: 0,
            played: 0,
            stretcher: Stretcher::new(),
            repeated: 0,
        })
    }

    /// Audio decoded and waiting to be played, in samples per channel (part of the latency).
    pub fn pending_samples(&self) -> usize {
        (self.decoded - self.played) / CHANNELS
    }

    /// Fills `out` (one playout frame, interleaved) with what was left of the last packet and
    /// as many packets from `jitter` as it takes. While the buffer is still filling up, the
    /// rest of the frame is silence.
    pub fn fill(&mut self, jitter: &mut JitterBuffer, out: &mut [f32], report: &mut PlayoutReport) {
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
    use crate::jitter::JitterConfig;
    use crate::signal::{AudioSource, Sine};
    use std::time::{Duration, Instant};

    /// A sender at `sent` frames heard by a listener at `heard` frames, over a perfect network
    /// with 2 ms of delay, both paced by exact clocks for `secs`: what the listener played, and
    /// the report.
    fn listen(sent: FrameDuration, heard: FrameDuration, secs: f64) -> (Vec<f32>, PlayoutReport) {
        listen_through(sent, heard, secs, |_| 0)
    }

    /// The same through a network that holds the packet sent at `t` µs for `held(t)` µs more.
    fn listen_through(
        sent: FrameDuration,
        heard: FrameDuration,
        secs: f64,
        held: impl Fn(u64) -> u64,
    ) -> (Vec<f32>, PlayoutReport) {
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
        let (mut next_send, mut next_play, mut seq) = (0u64, 10_000u64, 0u16);
        let end = (secs * 1e6) as u64;
        // Sent, not arrived yet: (arrival µs, seq, packet).
        let mut in_flight: Vec<(u64, u16, bytes::Bytes)> = Vec::new();
        while next_play < end {
            // Everything sent so far arrives 2 ms later (and what is held, later still); then
            // the listener plays a frame.
            while next_send + sent_us <= next_play {
                src.fill(&mut pcm);
                let n = enc.encode(&pcm, &mut packet).unwrap();
                let at = next_send + sent_us + 2_000 + held(next_send);
                in_flight.push((at, seq, bytes::Bytes::copy_from_slice(&packet[..n])));
                seq = seq.wrapping_add(1);
                next_send += sent_us;
            }
            in_flight.sort_by_key(|&(at, seq, _)| (at, seq));
            while in_flight.first().is_some_and(|&(at, _, _)| at <= next_play) {
                let (at, seq, p) = in_flight.remove(0);
                jb.set_packet_samples(crate::codec::packet_samples(&p).unwrap());
                jb.push(seq, p, t0 + Duration::from_micros(at));
            }
            stream.fill(&mut jb, &mut out, &mut report);
            played.extend_from_slice(&out);
            next_play += heard_us;
        }
        (played, report)
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
        listen_through(sent, heard, 6.0, |t| {
            let into = t % 500_000;
            if (400_000..2_400_000).contains(&t) && into < 30_000 {
                30_000 - into
            } else {
                0
            }
        })
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
    fn a_long_sender_is_popped_once_per_its_frame() {
        let (_, report) = listen(FrameDuration::Ms20, FrameDuration::Ms2_5, 1.0);
        // One second of 20-ms packets: about 50 pops, not the 400 a 2.5-ms stream would need.
        assert!((40..=52).contains(&report.decoded), "{report:?}");
    }
}
