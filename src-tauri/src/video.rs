//! Pictures to the web view, pulled rather than pushed: the web view asks for the next
//! pictures (`next_pictures`) once it has drawn the last ones, and gets the newest picture of
//! each participant it shows, converted to RGBA only then. A picture that arrives while the
//! display is still busy replaces the one waiting before it costs anything more (conversion,
//! the copy between processes, drawing): a slow or hidden window takes what it can show and
//! nothing else, and never queues. VP8 itself must still decode every frame, as each one
//! refers to the one before (that is about 1 % of a core at 640×480, 30 fps).
//!
//! Where the web view can decode VP8 itself (WebCodecs), the others' pictures go to it still
//! coded, as they arrived: a few kilobytes a picture instead of 1.2 MB, which is what moving
//! pictures between the app's processes cost most (`make bench-app`). Those must all go, in
//! order (each VP8 frame refers to the one before); if the web view falls 2 s behind, or loses
//! its decoder, what is queued is dropped and a keyframe asked for.
//!
//! A reply is a run of messages, one per picture: a 16-byte header (width, height, format,
//! length of the peer id; little-endian u32), the peer id (UTF-8; empty for our own preview),
//! then the picture: width × height × 4 bytes of RGBA (format 0); the I420 planes (format 1,
//! Y then U then V, for a web view that converts colours in a WebGL shader); or a coded VP8
//! frame (format 2, width and height 0): a flags byte (1: keyframe), its length (u32), its
//! bytes. An empty reply means nothing new came within `WAIT`.

use crate::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tutti_media::video::{CameraSource, CameraState, I420Frame, VideoSource, Vp8Decoder};
use tutti_protocol::PeerId;

/// Our own picture is shown small: every other pixel of every other row, at most 15 fps.
const PREVIEW_EVERY: Duration = Duration::from_millis(66);

/// How long a request for pictures waits for one before it answers empty (the web view then
/// asks again), so that a request never outlives a lesson by much.
pub const WAIT: Duration = Duration::from_secs(1);

/// The newest picture of one participant, not yet taken by the display.
struct Waiting {
    frame: I420Frame,
    /// Every `step`-th pixel of every `step`-th row is shown.
    step: u32,
}

/// Coded pictures queued for a web view beyond this (2 s at 30 fps) mean it is not keeping up:
/// they are dropped, and it starts again from a keyframe.
const CODED_QUEUE: usize = 60;

/// A participant's coded pictures, waiting for a web view that decodes them itself.
#[derive(Default)]
struct Coded {
    frames: VecDeque<(tutti_lesson::ReceivedVideo, bool)>,
    /// Nothing but a keyframe can be decoded next (frames were dropped, or the web view's
    /// decoder started or lost track).
    need_key: bool,
}

/// Asks a participant (by peer id) for a keyframe.
pub type KeyframeAsker = Box<dyn Fn(&str) + Send + Sync>;

/// What happened to the pictures offered to the display.
#[derive(Debug, Default)]
pub struct PictureStats {
    pub offered: AtomicU64,
    /// Converted and handed to the web view.
    pub shown: AtomicU64,
    /// Replaced by a newer picture before the display asked: dropped before conversion.
    pub skipped: AtomicU64,
}

/// How pictures travel to the web view (see `render::picture_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureFormat {
    /// Converted here, drawn with `putImageData`.
    Rgba = 0,
    /// As decoded, less than half the bytes; converted by the web view's GPU (or its software
    /// GL), drawn with WebGL.
    I420 = 1,
    /// Still coded, a few kilobytes; decoded by the web view (WebCodecs).
    Vp8 = 2,
}

/// The pictures waiting for the web view, one per participant (the newest wins).
pub struct VideoOut {
    /// The format preferred, where the web view can draw it.
    pub format: PictureFormat,
    waiting: Mutex<HashMap<String, Waiting>>,
    coded: Mutex<HashMap<String, Coded>>,
    /// Whether the web view decodes VP8 itself; until it has said (its first request), it is
    /// assumed to where that is preferred.
    web_decodes: AtomicBool,
    /// Our own decoders, per participant, for a web view that does not.
    decoders: Mutex<HashMap<String, Vp8Decoder>>,
    /// Asks a participant for a keyframe (the lesson's, while there is one).
    asker: Mutex<Option<KeyframeAsker>>,
    arrived: tokio::sync::watch::Sender<u64>,
    last_preview: Mutex<Option<Instant>>,
    pub stats: PictureStats,
}

impl Default for VideoOut {
    fn default() -> Self {
        Self::new(PictureFormat::Rgba)
    }
}

impl VideoOut {
    pub fn new(format: PictureFormat) -> Self {
        Self {
            format,
            waiting: Mutex::default(),
            coded: Mutex::default(),
            web_decodes: AtomicBool::new(format == PictureFormat::Vp8),
            decoders: Mutex::default(),
            asker: Mutex::default(),
            arrived: tokio::sync::watch::Sender::new(0),
            last_preview: Mutex::default(),
            stats: PictureStats::default(),
        }
    }
}

impl VideoOut {
    fn offer(&self, peer: &str, frame: I420Frame, step: u32) {
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
        let replaced = lock(&self.waiting).insert(peer.to_owned(), Waiting { frame, step });
        if replaced.is_some() {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
        }
        self.arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A participant's decoded picture.
    pub fn send_remote(&self, peer: &PeerId, frame: I420Frame) {
        self.offer(peer.as_str(), frame, 1);
    }

    /// A participant's picture as it arrived (called on its receiving thread, in order): queued
    /// for a web view that decodes VP8, or decoded here for one that does not.
    pub fn send_coded(&self, peer: &PeerId, frame: &tutti_lesson::ReceivedVideo) {
        let keyframe = tutti_media::feedback::is_vp8_keyframe(&frame.data);
        if !self.web_decodes.load(Ordering::Relaxed) {
            let picture = {
                let mut decoders = lock(&self.decoders);
                let decoder = match decoders.entry(peer.to_string()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => match Vp8Decoder::new() {
                        Ok(d) => e.insert(d),
                        Err(err) => {
                            tracing::warn!(error = %err, "no video decoder");
                            return;
                        }
                    },
                };
                decoder.decode(&frame.data)
            };
            match picture {
                Ok(Some(p)) => self.send_remote(peer, p),
                Ok(None) => {}
                Err(e) => {
                    // A new decoder fed what follows a keyframe, or a loss: only a keyframe heals it.
                    tracing::debug!(error = %e, %peer, "undecodable video frame");
                    self.ask(&[&peer.to_string()]);
                }
            }
            return;
        }
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
        {
            let mut coded = lock(&self.coded);
            if !coded.contains_key(peer.as_str()) {
                coded.insert(peer.to_string(), Coded::default());
            }
            let Some(c) = coded.get_mut(peer.as_str()) else {
                return;
            };
            if keyframe {
                // Nothing before a keyframe is needed to decode what follows it.
                self.stats
                    .skipped
                    .fetch_add(c.frames.len() as u64, Ordering::Relaxed);
                c.frames.clear();
                c.need_key = false;
            } else if c.need_key {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            c.frames.push_back((frame.clone(), keyframe));
            if c.frames.len() > CODED_QUEUE {
                self.stats
                    .skipped
                    .fetch_add(c.frames.len() as u64, Ordering::Relaxed);
                c.frames.clear();
                c.need_key = true;
            }
        }
        self.arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether the web view decodes VP8 itself (it says so with each request). When that
    /// changes, whoever decodes from now on needs a keyframe first.
    pub fn set_web_decodes(&self, yes: bool) {
        if self.web_decodes.swap(yes, Ordering::Relaxed) != yes {
            lock(&self.decoders).clear();
            for c in lock(&self.coded).values_mut() {
                c.frames.clear();
                c.need_key = true;
            }
        }
    }

    /// The web view's decoder for `peer` lost track (or is new): it needs a keyframe.
    pub fn restart_coded(&self, peer: &str) {
        if peer.is_empty() || !self.web_decodes.load(Ordering::Relaxed) {
            return;
        }
        let mut coded = lock(&self.coded);
        let c = coded.entry(peer.to_owned()).or_default();
        c.frames.clear();
        c.need_key = true;
    }

    /// Who is asked for keyframes from now on (`None`: nobody, the lesson is over).
    pub fn set_keyframe_asker(&self, asker: Option<KeyframeAsker>) {
        *lock(&self.asker) = asker;
    }

    /// Asks those of `peers` whose coded pictures cannot go on without a keyframe (each time it
    /// looks: the link sends at most one request per 300 ms, `feedback::KeyframeNeed`).
    fn ask_keyframes(&self, peers: &[String]) {
        if !self.web_decodes.load(Ordering::Relaxed) {
            return;
        }
        let due: Vec<&String> = {
            let coded = lock(&self.coded);
            peers
                .iter()
                .filter(|p| coded.get(p.as_str()).is_some_and(|c| c.need_key))
                .collect()
        };
        self.ask(&due);
    }

    fn ask(&self, peers: &[&String]) {
        if peers.is_empty() {
            return;
        }
        if let Some(ask) = lock(&self.asker).as_ref() {
            for p in peers {
                ask(p);
            }
        }
    }

    /// Our own camera, small and at most 15 fps.
    pub fn send_preview(&self, frame: &I420Frame) {
        {
            let mut last = lock(&self.last_preview);
            if last.is_some_and(|t| t.elapsed() < PREVIEW_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.offer("", frame.clone(), 2);
    }

    /// The newest picture of each of `peers` ("" is our own preview) that the display has not
    /// had yet, as one reply (see the module's comment); waits up to `wait` for the first.
    pub async fn next(&self, peers: &[String], format: PictureFormat, wait: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before looking, so that a picture offered in between wakes us.
        let mut arrived = self.arrived.subscribe();
        loop {
            self.ask_keyframes(peers);
            let ready: Vec<(String, Waiting)> = {
                let mut waiting = lock(&self.waiting);
                peers
                    .iter()
                    .filter_map(|p| waiting.remove(p).map(|w| (p.clone(), w)))
                    .collect()
            };
            let coded: Vec<(String, VecDeque<(tutti_lesson::ReceivedVideo, bool)>)> = {
                let mut coded = lock(&self.coded);
                peers
                    .iter()
                    .filter_map(|p| {
                        let c = coded.get_mut(p.as_str())?;
                        (!c.frames.is_empty()).then(|| (p.clone(), std::mem::take(&mut c.frames)))
                    })
                    .collect()
            };
            if !ready.is_empty() || !coded.is_empty() {
                let mut out = Vec::new();
                for (peer, w) in &ready {
                    encode_into(peer, &w.frame, w.step, format, &mut out);
                }
                for (peer, frames) in &coded {
                    for (f, keyframe) in frames {
                        encode_coded(peer, &f.data, *keyframe, &mut out);
                    }
                }
                let shown = ready.len() + coded.iter().map(|(_, f)| f.len()).sum::<usize>();
                self.stats.shown.fetch_add(shown as u64, Ordering::Relaxed);
                return out;
            }
            match tokio::time::timeout_at(deadline, arrived.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Vec::new(),
            }
        }
    }

    /// Forgets the pictures nobody took (a lesson or the device check is over).
    pub fn clear(&self) {
        lock(&self.waiting).clear();
        lock(&self.coded).clear();
        lock(&self.decoders).clear();
        *lock(&self.asker) = None;
    }
}

/// Appends the message for one frame, taking every `step`-th pixel of every `step`-th row.
pub fn encode_into(
    peer: &str,
    frame: &I420Frame,
    step: u32,
    format: PictureFormat,
    out: &mut Vec<u8>,
) {
    let step = step.max(1);
    let (w, h) = (frame.width / step, frame.height / step);
    // A decoded picture (our own preview) where coded ones go is sent as RGBA.
    let format = match format {
        PictureFormat::Vp8 => PictureFormat::Rgba,
        f => f,
    };
    let pixels = match format {
        PictureFormat::I420 => I420Frame::size(w, h),
        _ => (w * h * 4) as usize,
    };
    out.reserve(16 + peer.len() + pixels);
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&(format as u32).to_le_bytes());
    out.extend_from_slice(&(peer.len() as u32).to_le_bytes());
    out.extend_from_slice(peer.as_bytes());
    match format {
        PictureFormat::I420 => frame.append_i420(step, out),
        _ => frame.append_rgba(step, out),
    }
}

/// Appends the message for one coded VP8 frame.
fn encode_coded(peer: &str, data: &[u8], keyframe: bool, out: &mut Vec<u8>) {
    out.reserve(16 + peer.len() + 5 + data.len());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(PictureFormat::Vp8 as u32).to_le_bytes());
    out.extend_from_slice(&(peer.len() as u32).to_le_bytes());
    out.extend_from_slice(peer.as_bytes());
    out.push(u8::from(keyframe));
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
fn encode(peer: &str, frame: &I420Frame, step: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(peer, frame, step, PictureFormat::Rgba, &mut out);
    out
}

/// The camera's switch (the camera button) and whether it stopped delivering.
#[derive(Clone)]
pub struct CameraSwitch {
    pub on: Arc<AtomicBool>,
    pub lost: Arc<AtomicBool>,
}

/// The camera as the video send loop reads it: nothing while switched off, and each frame
/// also to our own preview.
pub struct CameraTap {
    camera: CameraSource,
    switch: CameraSwitch,
    out: Arc<VideoOut>,
}

impl CameraTap {
    pub fn new(camera: CameraSource, out: Arc<VideoOut>) -> (Self, CameraSwitch) {
        let switch = CameraSwitch {
            on: Arc::new(AtomicBool::new(true)),
            lost: Arc::new(AtomicBool::new(false)),
        };
        (
            Self {
                camera,
                switch: switch.clone(),
                out,
            },
            switch,
        )
    }
}

impl VideoSource for CameraTap {
    fn next_frame(&mut self, captured_ms: u32) -> Option<I420Frame> {
        let frame = self.camera.next_frame(captured_ms);
        self.switch
            .lost
            .store(self.camera.state() == CameraState::Lost, Ordering::Relaxed);
        if !self.switch.on.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(f) = &frame {
            self.out.send_preview(f);
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, y: u8, u: u8, v: u8) -> I420Frame {
        let mut f = I420Frame::new(w, h);
        let n = (w * h) as usize;
        f.data[..n].fill(y);
        let c = (f.data.len() - n) / 2;
        f.data[n..n + c].fill(u);
        f.data[n + c..].fill(v);
        f
    }

    #[test]
    fn header_then_rgba() {
        let msg = encode("p1", &solid(4, 2, 235, 128, 128), 1);
        assert_eq!(&msg[0..4], &4u32.to_le_bytes());
        assert_eq!(&msg[4..8], &2u32.to_le_bytes());
        assert_eq!(&msg[8..12], &0u32.to_le_bytes(), "RGBA");
        assert_eq!(&msg[12..16], &2u32.to_le_bytes());
        assert_eq!(&msg[16..18], b"p1");
        assert_eq!(msg.len(), 18 + 4 * 2 * 4);
        // Limited-range white is white.
        assert_eq!(&msg[18..22], &[255, 255, 255, 255]);
    }

    #[test]
    fn colours_convert() {
        // BT.601 red: Y 81, U 90, V 240.
        let px = &encode("", &solid(2, 2, 81, 90, 240), 1)[16..20];
        assert!(px[0] > 240 && px[1] < 16 && px[2] < 16, "{px:?}");
        // Black.
        let px = &encode("", &solid(2, 2, 16, 128, 128), 1)[16..20];
        assert_eq!(px, &[0, 0, 0, 255]);
    }

    /// The peers and first pixels' luma of each message in a reply.
    fn messages(mut reply: &[u8]) -> Vec<(String, u8)> {
        let mut out = Vec::new();
        while reply.len() >= 16 {
            let word = |i: usize| u32::from_le_bytes(reply[i..i + 4].try_into().unwrap()) as usize;
            let (w, h, n) = (word(0), word(4), word(12));
            assert_eq!(word(8), 0, "RGBA");
            let peer = String::from_utf8(reply[16..16 + n].to_vec()).unwrap();
            out.push((peer, reply[16 + n]));
            reply = &reply[16 + n + w * h * 4..];
        }
        assert!(reply.is_empty(), "a reply is whole messages");
        out
    }

    const RGBA: PictureFormat = PictureFormat::Rgba;

    fn grey(level: u8) -> I420Frame {
        solid(8, 8, level, 128, 128)
    }

    fn peers(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn pictures_the_display_did_not_ask_for_are_dropped_before_conversion() {
        let out = VideoOut::default();
        let p1 = PeerId::from("p1");
        // A display that draws one picture while ten arrive gets the newest, converted once.
        for level in 20..30 {
            out.send_remote(&p1, grey(level));
        }
        let reply = out.next(&peers(&["p1"]), RGBA, WAIT).await;
        let got = messages(&reply);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "p1");
        assert_eq!(got[0].1, messages(&encode("p1", &grey(29), 1))[0].1);
        assert_eq!(out.stats.offered.load(Ordering::Relaxed), 10);
        assert_eq!(out.stats.shown.load(Ordering::Relaxed), 1);
        assert_eq!(out.stats.skipped.load(Ordering::Relaxed), 9);
        // Nothing is left over: the next request waits for a new picture.
        assert!(
            out.next(&peers(&["p1"]), RGBA, Duration::from_millis(20))
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn one_reply_carries_every_participant_asked_for_and_only_those() {
        let out = VideoOut::default();
        for p in ["a", "b", "c"] {
            out.send_remote(&PeerId::from(p), grey(100));
        }
        let got = messages(&out.next(&peers(&["a", "c", "x"]), RGBA, WAIT).await);
        let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        // "b" was not shown, so it still waits for a display that asks for it.
        let got = messages(&out.next(&peers(&["b"]), RGBA, WAIT).await);
        assert_eq!(got.len(), 1);
    }

    #[tokio::test]
    async fn a_request_waits_for_the_next_picture() {
        let out = Arc::new(VideoOut::default());
        let asking = tokio::spawn({
            let out = out.clone();
            async move {
                out.next(&peers(&["p1"]), RGBA, Duration::from_secs(10))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        out.send_remote(&PeerId::from("p1"), grey(50));
        let got = messages(&asking.await.unwrap());
        assert_eq!(got.len(), 1);
    }

    /// A coded frame: even first bytes are keyframes in VP8.
    fn coded(first: u8) -> tutti_lesson::ReceivedVideo {
        tutti_lesson::ReceivedVideo {
            data: bytes::Bytes::from(vec![first, 0xAA]),
            rtp_timestamp: 0,
            lost_before: false,
            arrived: Instant::now(),
        }
    }

    /// The (peer, keyframe, first byte) of each coded message in a reply.
    fn coded_messages(mut reply: &[u8]) -> Vec<(String, bool, u8)> {
        let mut out = Vec::new();
        while !reply.is_empty() {
            let word = |i: usize| u32::from_le_bytes(reply[i..i + 4].try_into().unwrap()) as usize;
            assert_eq!(word(8), 2, "VP8");
            let n = word(12);
            let peer = String::from_utf8(reply[16..16 + n].to_vec()).unwrap();
            let at = 16 + n;
            let len = u32::from_le_bytes(reply[at + 1..at + 5].try_into().unwrap()) as usize;
            out.push((peer, reply[at] == 1, reply[at + 5]));
            reply = &reply[at + 5 + len..];
        }
        out
    }

    fn asked_log(out: &VideoOut) -> Arc<Mutex<Vec<String>>> {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        out.set_keyframe_asker(Some(Box::new(move |p| lock(&log).push(p.to_owned()))));
        asked
    }

    #[tokio::test]
    async fn a_web_view_that_decodes_gets_every_coded_picture_in_order_from_a_keyframe() {
        let out = VideoOut::new(PictureFormat::Vp8);
        let asked = asked_log(&out);
        let p = PeerId::from("p");
        // A new decoder in the web view: what came before the next keyframe is of no use.
        out.restart_coded("p");
        for first in [3, 5, 0, 7, 9] {
            out.send_coded(&p, &coded(first));
        }
        let got = coded_messages(&out.next(&peers(&["p"]), RGBA, WAIT).await);
        assert_eq!(
            got,
            [
                ("p".into(), true, 0),
                ("p".into(), false, 7),
                ("p".into(), false, 9)
            ]
        );
        // It had asked for that keyframe when the web view wanted the picture.
        assert_eq!(
            *lock(&asked),
            Vec::<String>::new(),
            "no request came before the keyframe"
        );
        assert_eq!(out.stats.shown.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_web_view_that_falls_behind_starts_again_at_a_keyframe_it_asked_for() {
        let out = VideoOut::new(PictureFormat::Vp8);
        let asked = asked_log(&out);
        let p = PeerId::from("p");
        out.send_coded(&p, &coded(0));
        for _ in 0..CODED_QUEUE {
            out.send_coded(&p, &coded(1));
        }
        // Over the limit: all dropped, and the deltas that follow are useless too.
        out.send_coded(&p, &coded(1));
        assert!(
            out.next(&peers(&["p"]), RGBA, Duration::from_millis(20))
                .await
                .is_empty()
        );
        assert_eq!(
            *lock(&asked),
            ["p"],
            "a keyframe is asked for when the web view wants one"
        );
        out.send_coded(&p, &coded(2));
        out.send_coded(&p, &coded(3));
        let got = coded_messages(&out.next(&peers(&["p"]), RGBA, WAIT).await);
        assert_eq!(got, [("p".into(), true, 2), ("p".into(), false, 3)]);
    }

    #[tokio::test]
    async fn a_web_view_that_cannot_decode_gets_pictures_decoded_here() {
        let out = VideoOut::new(PictureFormat::Vp8);
        out.set_web_decodes(false);
        let mut enc = tutti_media::video::Vp8Encoder::new(tutti_media::video::Vp8Config {
            width: 64,
            height: 48,
            ..Default::default()
        })
        .unwrap();
        let p = PeerId::from("p");
        let frame = solid(64, 48, 180, 128, 128);
        let mut coded = Vec::new();
        enc.encode(&frame, true, &mut coded).unwrap();
        for coded in coded {
            out.send_coded(
                &p,
                &tutti_lesson::ReceivedVideo {
                    data: coded.data,
                    rtp_timestamp: 0,
                    lost_before: false,
                    arrived: Instant::now(),
                },
            );
        }
        let got = messages(&out.next(&peers(&["p"]), RGBA, WAIT).await);
        assert_eq!(got.len(), 1, "decoded and sent as RGBA");
    }

    #[tokio::test]
    async fn a_web_view_that_does_not_decode_never_asks_for_keyframes_for_itself() {
        let out = VideoOut::new(PictureFormat::Vp8);
        let asked = asked_log(&out);
        out.set_web_decodes(false);
        out.restart_coded("p");
        assert!(
            out.next(&peers(&["p"]), RGBA, Duration::from_millis(20))
                .await
                .is_empty()
        );
        assert!(lock(&asked).is_empty(), "{:?}", lock(&asked));
    }

    #[test]
    fn the_preview_is_a_quarter_of_the_pixels() {
        let msg = encode("", &solid(640, 480, 16, 128, 128), 2);
        assert_eq!(&msg[0..4], &320u32.to_le_bytes());
        assert_eq!(&msg[4..8], &240u32.to_le_bytes());
        assert_eq!(msg.len(), 16 + 320 * 240 * 4);
    }

    #[test]
    fn i420_is_sent_as_decoded() {
        let f = solid(4, 2, 81, 90, 240);
        let mut msg = Vec::new();
        encode_into("p", &f, 1, PictureFormat::I420, &mut msg);
        assert_eq!(&msg[8..12], &1u32.to_le_bytes(), "I420");
        assert_eq!(&msg[17..], &f.data[..]);
    }
}
