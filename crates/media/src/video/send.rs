//! The video send loop: a source's frames, encoded once, written to every link that takes
//! video. Its own thread at normal priority — audio's threads are real-time, so video never
//! delays the sound. A link that joins gets a keyframe at once, so its picture starts within a
//! frame period instead of waiting for the next periodic keyframe; so does a receiver that lost
//! packets and asks for one (PLI/FIR).

use super::{I420Frame, RateController, TestPattern, Vp8Config, Vp8Encoder, Vp8Error};

/// How often the bitrate is reconsidered (receiver reports come about once a second).
const RATE_EVERY: Duration = Duration::from_secs(1);
use crate::clock::monotonic_ns;
use crate::link::PeerLink;
use crate::pipeline::{Roster, sleep_until};
use crate::worker::LoopThread;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Where pictures come from: a camera, or the test pattern.
pub trait VideoSource: Send {
    /// The next frame, captured now (`captured_ms` on the shared monotonic clock); `None` if
    /// there is none this time (a camera that has not delivered).
    fn next_frame(&mut self, captured_ms: u32) -> Option<I420Frame>;
}

impl VideoSource for TestPattern {
    fn next_frame(&mut self, captured_ms: u32) -> Option<I420Frame> {
        Some(TestPattern::next_frame(self, captured_ms))
    }
}

/// The links a video send loop writes to, with their VP8 payload type.
#[derive(Clone, Default)]
pub struct VideoFanout(Roster<(Arc<PeerLink>, u8)>);

impl VideoFanout {
    pub fn add(&self, link: Arc<PeerLink>, payload_type: u8) {
        self.0.add_link(link, payload_type);
    }

    pub fn remove(&self, link: &Arc<PeerLink>) {
        self.0.remove_link(link);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct VideoSendReport {
    pub frames: u64,
    pub keyframes: u64,
    /// Frames rate control chose not to code.
    pub skipped: u64,
    pub bytes: u64,
    pub send_errors: u64,
    /// The bitrate the loop ended at (it follows the loss the receivers report).
    pub bitrate_kbps: u32,
}

/// A running video send loop.
pub struct VideoSendLoop {
    worker: LoopThread<VideoSendReport>,
}

impl VideoSendLoop {
    pub fn spawn(
        fanout: VideoFanout,
        mut source: Box<dyn VideoSource>,
        cfg: Vp8Config,
        rt: tokio::runtime::Handle,
    ) -> Result<Self, Vp8Error> {
        let mut encoder = Vp8Encoder::new(cfg)?;
        let period = Duration::from_secs(1) / cfg.fps.max(1);
        let worker = LoopThread::spawn("tutti-video-send", move |stop| {
            let mut report = VideoSendReport::default();
            let (mut links, mut seen) = (Vec::new(), 0u64);
            let mut out = Vec::new();
            let mut rate = RateController::new(
                cfg.bitrate_kbps,
                (cfg.bitrate_kbps / 8).max(100),
                cfg.bitrate_kbps.saturating_mul(3) / 2,
            );
            let mut next_rate_check = Instant::now() + RATE_EVERY;
            // A link that joined needs a keyframe; the request stands until one is coded
            // (the source may have had no frame just then).
            let mut want_key = false;
            let mut known: Vec<Arc<PeerLink>> = Vec::new();
            let start = Instant::now();
            let mut k: u32 = 0;
            while !stop.load(Relaxed) {
                sleep_until(start + period * k);
                k = k.wrapping_add(1);
                if fanout.0.refresh(&mut links, &mut seen) {
                    // Someone new (not someone gone) needs a picture to start from.
                    want_key |= links
                        .iter()
                        .any(|(l, _)| !known.iter().any(|k| Arc::ptr_eq(k, l)));
                    known = links.iter().map(|(l, _)| l.clone()).collect();
                }
                if Instant::now() >= next_rate_check && !links.is_empty() {
                    // From now, not from the missed checks: no burst of catching up after
                    // a time without links.
                    next_rate_check = Instant::now() + RATE_EVERY;
                    // One encoding serves every link: the worst path decides.
                    let worst = links
                        .iter()
                        .filter_map(|(l, _)| rt.block_on(l.video_loss()))
                        .fold(None, |w: Option<f64>, x| Some(w.map_or(x, |w| w.max(x))));
                    if let Some(loss) = worst {
                        let kbps = rate.on_loss(loss);
                        if kbps != encoder.bitrate_kbps()
                            && let Err(e) = encoder.set_bitrate(kbps)
                        {
                            tracing::debug!(error = %e, "cannot change the video bitrate");
                        }
                    }
                }
                // A receiver that lost pictures asked for a keyframe (every request is taken,
                // so none lingers to cause a second keyframe later).
                want_key |= links
                    .iter()
                    .fold(false, |asked, (l, _)| l.take_keyframe_request() | asked);
                let captured = Instant::now();
                let Some(frame) = source.next_frame((monotonic_ns(captured) / 1_000_000) as u32)
                else {
                    continue;
                };
                if links.is_empty() {
                    continue;
                }
                out.clear();
                if let Err(e) = encoder.encode(&frame, want_key, &mut out) {
                    tracing::warn!(error = %e, "video encode failed");
                    continue;
                }
                if out.iter().any(|e| e.keyframe) {
                    want_key = false;
                }
                if out.is_empty() {
                    report.skipped += 1;
                }
                for e in &out {
                    report.frames += 1;
                    report.keyframes += u64::from(e.keyframe);
                    report.bytes += e.data.len() as u64;
                    for (link, pt) in &links {
                        if rt
                            .block_on(link.send_video(e.data.clone(), *pt, captured, period))
                            .is_err()
                        {
                            report.send_errors += 1;
                        }
                    }
                }
            }
            report.bitrate_kbps = encoder.bitrate_kbps();
            report
        })
        .map_err(|e| Vp8Error::Codec(format!("cannot start the video thread: {e}")))?;
        Ok(Self { worker })
    }

    pub fn stop(self) -> VideoSendReport {
        self.worker.stop().unwrap_or_default()
    }
}
