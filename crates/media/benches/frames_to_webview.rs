//! How a decoded picture should reach the desktop app's web view: as raw RGBA (what the app
//! does) or compressed as JPEG. This is the Rust side of each, per 640×480 frame of the test
//! pattern;
//! the web view's side (parsing and drawing RGBA, decoding and drawing JPEG) is measured by the
//! app's end-to-end test, which prints a `video_to_webview` line. One JSON line per path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use image::codecs::jpeg::JpegEncoder;
use std::time::Instant;
use tutti_media::video::{I420Frame, TestPattern};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The JPEG path: the encoder takes RGB, so the picture is converted first (as the RGBA path
/// converts), then compressed.
fn jpeg(frame: &I420Frame, quality: u8) -> Vec<u8> {
    let mut rgba = Vec::new();
    frame.append_rgba(1, &mut rgba);
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode(
            &rgb,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn main() {
    let frames = 300u32;
    let mut pattern = TestPattern::new(640, 480);
    let pictures: Vec<I420Frame> = (0..frames).map(|k| pattern.next_frame(k * 33)).collect();
    type Path = (&'static str, Box<dyn Fn(&I420Frame) -> Vec<u8>>);
    let paths: [Path; 2] = [
        (
            "rgba",
            Box::new(|f| {
                let mut out = Vec::with_capacity((f.width * f.height * 4) as usize);
                f.append_rgba(1, &mut out);
                out
            }),
        ),
        ("jpeg_q85", Box::new(|f| jpeg(f, 85))),
    ];
    for (name, path) in &paths {
        let mut ms = Vec::new();
        let mut bytes = 0usize;
        for f in &pictures {
            let t = Instant::now();
            let out = path(f);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            bytes += out.len();
        }
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        println!(
            "{{\"bench\":\"frames_to_webview\",\"path\":\"{name}\",\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"bytes_per_frame\":{},\"core_pct_at_30fps\":{:.1}}}",
            pct(&mut ms, 50.0),
            pct(&mut ms, 99.0),
            bytes / frames as usize,
            mean * 30.0 / 10.0,
        );
    }
}
