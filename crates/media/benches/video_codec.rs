//! VP8 alone: the test pattern at 640×480, 30 fps, encoded and decoded frame by frame on one
//! thread; prints per-frame times and what that costs of one core at 30 fps, one JSON line per
//! encoder speed setting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::time::Instant;
use tutti_media::video::{TestPattern, Vp8Config, Vp8Decoder, Vp8Encoder, read_stamp};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn main() {
    let frames = 600u32;
    for cpu_used in [4, 8, 12] {
        let cfg = Vp8Config {
            cpu_used,
            ..Vp8Config::default()
        };
        let mut enc = Vp8Encoder::new(cfg).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut pattern = TestPattern::new(cfg.width, cfg.height);
        let (mut enc_ms, mut dec_ms) = (Vec::new(), Vec::new());
        let (mut bytes, mut decoded, mut stamped) = (0usize, 0u32, 0u32);
        let mut out = Vec::new();
        for k in 0..frames {
            let frame = pattern.next_frame(k * 33);
            out.clear();
            let t = Instant::now();
            enc.encode(&frame, k == 0, &mut out).unwrap();
            enc_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            for e in &out {
                bytes += e.data.len();
                let t = Instant::now();
                let pic = dec.decode(&e.data).unwrap();
                dec_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if let Some(pic) = pic {
                    decoded += 1;
                    stamped += u32::from(read_stamp(&pic).is_some());
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let cpu_pct = (mean(&enc_ms) + mean(&dec_ms)) * f64::from(cfg.fps) / 10.0;
        let r = |x: f64| (x * 100.0).round() / 100.0;
        let line = serde_json::json!({
            "bench": "vp8",
            "size": format!("{}x{}", cfg.width, cfg.height),
            "fps": cfg.fps,
            "cpu_used": cpu_used,
            "encode_ms_p50": r(pct(&mut enc_ms, 50.0)),
            "encode_ms_p99": r(pct(&mut enc_ms, 99.0)),
            "decode_ms_p50": r(pct(&mut dec_ms, 50.0)),
            "decode_ms_p99": r(pct(&mut dec_ms, 99.0)),
            "kbps": r(bytes as f64 * 8.0 / (f64::from(frames) / f64::from(cfg.fps)) / 1000.0),
            "frames_decoded": decoded,
            "stamps_read": stamped,
            "encode_decode_cpu_pct_at_fps": r(cpu_pct),
        });
        println!("{line}");
    }
}
