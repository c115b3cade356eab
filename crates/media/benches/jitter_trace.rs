//! Trace-driven simulation of the receive path: real Opus packets (a tone, encoded once) go
//! through the jitter buffer and the decoder on a virtual clock, against generated arrival
//! traces. Repeatable (seeded), and free of the machine's scheduling noise: this measures the
//! jitter buffer alone. One JSON line per scenario.
//!
//! `cargo bench -p tutti-media --bench jitter_trace [-- --minutes M] [--scenario PART]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is right

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tutti_media::codec::MAX_PACKET;
use tutti_media::pipeline::PlayoutReport;
use tutti_media::signal::{AudioSource, Sine};
use tutti_media::stream_decoder::StreamDecoder;
use tutti_media::{FrameDuration, JitterBuffer, JitterConfig, MusicConfig, MusicEncoder};

struct Scenario {
    name: &'static str,
    /// Uniform one-way delay variation, ± this many ms.
    jitter_ms: f64,
    /// Independent loss probability.
    loss: f64,
    /// Gilbert-Elliott bursts: chance to enter a burst per packet, and its mean length.
    burst_start: f64,
    burst_len: f64,
    /// The sender's clock runs this many ppm fast (negative: slow).
    drift_ppm: f64,
    /// Every this many seconds, packets are held this many ms (a Wi-Fi scan, a busy router).
    spike_every_s: f64,
    spike_ms: f64,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "clean",
        jitter_ms: 0.2,
        loss: 0.0,
        burst_start: 0.0,
        burst_len: 0.0,
        drift_ppm: 0.0,
        spike_every_s: 0.0,
        spike_ms: 0.0,
    },
    Scenario {
        name: "jitter_10ms_loss_3pct",
        jitter_ms: 10.0,
        loss: 0.03,
        burst_start: 0.0,
        burst_len: 0.0,
        drift_ppm: 0.0,
        spike_every_s: 0.0,
        spike_ms: 0.0,
    },
    Scenario {
        name: "bursty_loss_2pct",
        jitter_ms: 1.0,
        loss: 0.0,
        burst_start: 0.004,
        burst_len: 5.0,
        drift_ppm: 0.0,
        spike_every_s: 0.0,
        spike_ms: 0.0,
    },
    Scenario {
        name: "drift_plus_100ppm",
        jitter_ms: 0.5,
        loss: 0.0,
        burst_start: 0.0,
        burst_len: 0.0,
        drift_ppm: 100.0,
        spike_every_s: 0.0,
        spike_ms: 0.0,
    },
    Scenario {
        name: "drift_minus_100ppm",
        jitter_ms: 0.5,
        loss: 0.0,
        burst_start: 0.0,
        burst_len: 0.0,
        drift_ppm: -100.0,
        spike_every_s: 0.0,
        spike_ms: 0.0,
    },
    Scenario {
        name: "spikes_40ms_every_10s",
        jitter_ms: 1.0,
        loss: 0.0,
        burst_start: 0.0,
        burst_len: 0.0,
        drift_ppm: 0.0,
        spike_every_s: 10.0,
        spike_ms: 40.0,
    },
];

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn main() {
    let mut minutes = 2.0f64;
    let mut only: Option<String> = None;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => minutes = it.next().and_then(|v| v.parse().ok()).expect("--minutes M"),
            "--scenario" => only = it.next().cloned(),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    let frame = FrameDuration::Ms2_5;
    let period_us = frame.duration().as_micros() as f64;
    let frames = (minutes * 60e6 / period_us) as usize;

    // Encode once: every scenario plays the same packets.
    let mut encoder = MusicEncoder::new(MusicConfig {
        frame,
        ..MusicConfig::default()
    })
    .unwrap();
    let mut tone = Sine::new(440.0, 0.3);
    let mut pcm = vec![0.0; frame.interleaved()];
    let mut out = [0u8; MAX_PACKET];
    let packets: Vec<bytes::Bytes> = (0..frames)
        .map(|_| {
            tone.fill(&mut pcm);
            let n = encoder.encode(&pcm, &mut out).unwrap();
            bytes::Bytes::copy_from_slice(&out[..n])
        })
        .collect();
    eprintln!(
        "{frames} packets of {} ms ({minutes} min) per scenario",
        frame.millis()
    );

    // Each scenario without and with RED (every packet also carries the frames before it).
    let red_depth = MusicConfig {
        frame,
        ..MusicConfig::default()
    }
    .red_depth();
    let chosen = SCENARIOS
        .iter()
        .filter(|sc| only.as_ref().is_none_or(|o| sc.name.contains(o.as_str())));
    for (sc, red) in chosen.flat_map(|sc| [(sc, false), (sc, true)]) {
        let mut rng = StdRng::seed_from_u64(2026);
        // Arrival time (µs) of every packet that arrives; the sender's clock may drift.
        let mut in_burst = false;
        let mut arrivals: Vec<(f64, usize)> = Vec::with_capacity(frames);
        for i in 0..frames {
            let sent = i as f64 * period_us / (1.0 + sc.drift_ppm * 1e-6);
            if sc.burst_start > 0.0 {
                in_burst = if in_burst {
                    rng.random::<f64>() > 1.0 / sc.burst_len
                } else {
                    rng.random::<f64>() < sc.burst_start
                };
                if in_burst {
                    continue;
                }
            }
            if rng.random::<f64>() < sc.loss {
                continue;
            }
            let mut delay = 20_000.0 + rng.random_range(-1.0..=1.0) * sc.jitter_ms * 1000.0;
            if sc.spike_every_s > 0.0 {
                let into = (sent / 1e6) % sc.spike_every_s;
                if into < sc.spike_ms / 1000.0 {
                    // Held until the spike ends, then released together.
                    delay += (sc.spike_ms / 1000.0 - into) * 1e6;
                }
            }
            arrivals.push((sent + delay.max(0.0), i));
        }
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));

        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::for_frame(frame));
        let mut decoder = StreamDecoder::new(frame).unwrap();
        let mut played = vec![0.0; frame.interleaved()];
        let mut report = PlayoutReport::default();
        let mut next_arrival = 0;
        let mut depth_ms = Vec::with_capacity(frames);
        let mut decode_us = Vec::with_capacity(frames / 16);
        let start_us = 20_000.0;
        for k in 0..frames {
            let now_us = start_us + k as f64 * period_us;
            while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= now_us {
                let (at, i) = arrivals[next_arrival];
                jb.push(
                    i as u16,
                    packets[i].clone(),
                    t0 + Duration::from_micros(at as u64),
                );
                if red {
                    for back in 1..=red_depth.min(i) {
                        jb.push_redundant((i - back) as u16, packets[i - back].clone());
                    }
                }
                next_arrival += 1;
            }
            let d0 = Instant::now();
            decoder.fill(
                &mut jb,
                &mut played,
                &mut report,
                t0 + Duration::from_micros(now_us as u64),
            );
            if k % 16 == 0 {
                decode_us.push(d0.elapsed().as_secs_f64() * 1e6);
            }
            depth_ms.push(f64::from(jb.depth()) * frame.millis());
        }
        let s = jb.stats();
        let line = serde_json::json!({
            "bench": "jitter_trace",
            "scenario": sc.name,
            "red": red,
            "frame_ms": frame.millis(),
            "minutes": minutes,
            // As the lesson shows it: lost frames concealed or recovered, and what filled an
            // underrun (a repeat of the last periods now, the decoder's concealment before);
            // not the lengthening that raises the level ("slowed").
            "concealed_pct": (10_000.0 * s.concealed_ratio()).round() / 100.0,
            "late": s.late,
            "dropped_for_latency": s.dropped,
            "inserted": s.inserted,
            "slowed": s.slowed,
            "stretched": report.stretched,
            "shortened": report.shortened,
            // The sender's clock as the playout follows it, at the end.
            "rate_ppm": (s.rate_ppm * 10.0).round() / 10.0,
            "resets": s.resets,
            "buffer_p50_ms": pct(&mut depth_ms, 50.0),
            "buffer_p99_ms": pct(&mut depth_ms, 99.0),
            "decode_us_p50": (pct(&mut decode_us, 50.0) * 10.0).round() / 10.0,
        });
        println!("{line}");
    }
}
