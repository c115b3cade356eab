//! Two real WebRTC peer connections in one process over loopback: a tone and a click train
//! go from one to the other through Opus, SRTP and the jitter buffer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tutti_media::analysis::tone;
use tutti_media::pipeline::{Fanout, Mix, PlayoutLoop, SendLoop};
use tutti_media::signal::{AudioSink, AudioSource, ClickDetector, ClickTrain, Sine};
use tutti_media::*;

/// Real-time loops measured against each other must not share two cores with another test's:
/// the tests of this file take turns (four at once made 24 ms of jitter in one process).
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    TURN.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// Collects everything played, with the time each frame was ready for the sound card.
struct Recorder {
    samples: Vec<f32>,
    frames_at: Vec<Instant>,
}

impl AudioSink for Recorder {
    fn write(&mut self, frames: &[f32]) {
        self.frames_at.push(Instant::now());
        self.samples.extend_from_slice(frames);
    }
}

/// Connects two links as the room server would relay them: offer, answer, trickled candidates.
async fn connected_pair(music: MusicConfig) -> (Arc<PeerLink>, Arc<PeerLink>) {
    connected_pair_with(music, false).await
}

/// The same, with a video track beside the audio if `video`.
async fn connected_pair_with(music: MusicConfig, video: bool) -> (Arc<PeerLink>, Arc<PeerLink>) {
    connected_pair_through(music, video, None).await
}

/// The same, the media going through whatever `rewrite` puts between them (an impaired path).
async fn connected_pair_through(
    music: MusicConfig,
    video: bool,
    rewrite: Option<tutti_media::impair::CandidateRewrite>,
) -> (Arc<PeerLink>, Arc<PeerLink>) {
    connected_pair_of(music, music, video, rewrite).await
}

/// Two links whose settings differ (`music_a` for the offerer, `music_b` for the answerer).
async fn connected_pair_of(
    music_a: MusicConfig,
    music_b: MusicConfig,
    video: bool,
    rewrite: Option<tutti_media::impair::CandidateRewrite>,
) -> (Arc<PeerLink>, Arc<PeerLink>) {
    let (a, b, _) = connected_pair_told(music_a, music_b, video, rewrite).await;
    (a, b)
}

/// The candidates each side has sent the other so far (a's, b's).
type Told = Arc<std::sync::Mutex<[Vec<String>; 2]>>;
/// The takes' events each side has had (a's, b's).
type TakeEvents = Arc<std::sync::Mutex<[Vec<LinkEvent>; 2]>>;

/// The same, with what they tell each other.
async fn connected_pair_told(
    music_a: MusicConfig,
    music_b: MusicConfig,
    video: bool,
    rewrite: Option<tutti_media::impair::CandidateRewrite>,
) -> (Arc<PeerLink>, Arc<PeerLink>, Told) {
    let cfg = |music| LinkConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        video,
        ..LinkConfig::new(music)
    };
    let (a, b, told, _) = connected_pair_cfg(cfg(music_a), cfg(music_b), rewrite).await;
    (a, b, told)
}

/// Two links made as `cfg_a` and `cfg_b` say, with what they tell each other and the takes'
/// events each has.
async fn connected_pair_cfg(
    cfg_a: LinkConfig,
    cfg_b: LinkConfig,
    rewrite: Option<tutti_media::impair::CandidateRewrite>,
) -> (Arc<PeerLink>, Arc<PeerLink>, Told, TakeEvents) {
    let told = Told::default();
    let takes = TakeEvents::default();
    let (ta, ra) = mpsc::unbounded_channel();
    let (tb, rb) = mpsc::unbounded_channel();
    let a = Arc::new(PeerLink::new(&cfg_a, ta).await.unwrap());
    let b = Arc::new(PeerLink::new(&cfg_b, tb).await.unwrap());
    let through = |sdp: String| match &rewrite {
        Some(rw) => rw.apply_sdp(&sdp),
        None => sdp,
    };
    let offer = through(a.offer().await.unwrap());
    let answer = through(b.answer(&offer).await.unwrap());
    a.accept_answer(&answer).await.unwrap();
    let (ca, cb) = (
        tokio::sync::watch::channel(false),
        tokio::sync::watch::channel(false),
    );
    let pump = |mut rx: mpsc::UnboundedReceiver<LinkEvent>,
                other: Arc<PeerLink>,
                up: tokio::sync::watch::Sender<bool>,
                (told, takes, side): (Told, TakeEvents, usize),
                rewrite: Option<tutti_media::impair::CandidateRewrite>| async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                LinkEvent::LocalCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                } => {
                    told.lock().unwrap()[side].push(candidate.clone());
                    let candidate = match &rewrite {
                        Some(rw) => match rw.apply(&candidate) {
                            Some(c) => c,
                            None => continue,
                        },
                        None => candidate,
                    };
                    other
                        .add_candidate(&candidate, sdp_mid, sdp_mline_index)
                        .await
                        .unwrap();
                }
                LinkEvent::State(LinkState::Connected) => {
                    let _ = up.send(true);
                }
                e @ (LinkEvent::TakeReceived(_)
                | LinkEvent::TakeDelivered(_)
                | LinkEvent::TakeRefused { .. }) => takes.lock().unwrap()[side].push(e),
                _ => {}
            }
        }
    };
    tokio::spawn(pump(
        ra,
        b.clone(),
        ca.0,
        (told.clone(), takes.clone(), 0),
        rewrite.clone(),
    ));
    tokio::spawn(pump(
        rb,
        a.clone(),
        cb.0,
        (told.clone(), takes.clone(), 1),
        rewrite,
    ));
    let (mut wa, mut wb) = (ca.1, cb.1);
    tokio::time::timeout(Duration::from_secs(15), async {
        wa.wait_for(|c| *c).await.unwrap();
        wb.wait_for(|c| *c).await.unwrap();
    })
    .await
    .expect("the two peers connect over loopback");
    (a, b, told, takes)
}

/// What the lesson engine does once a link is up: send to it, and mix what comes from it.
async fn wire(a: &Arc<PeerLink>, b: &Arc<PeerLink>) -> (Fanout, Mix) {
    let fanout = Fanout::default();
    fanout.add(a.clone(), a.send_format().await.unwrap());
    let mix = Mix::default();
    mix.add("a", b.take_audio().unwrap());
    (fanout, mix)
}

fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_arrives_at_its_pitch_and_clean() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let (a, b) = connected_pair(music).await;
    let (fanout, mix) = wire(&a, &b).await;
    let recorder = run_blocking(move || {
        let play = PlayoutLoop::spawn(
            mix,
            music.frame,
            Recorder {
                samples: vec![],
                frames_at: vec![],
            },
        )
        .unwrap();
        let send = SendLoop::spawn(fanout, Box::new(Sine::new(440.0, 0.3)), music).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        let sent = send.stop();
        let (rec, report) = play.stop().unwrap();
        assert!(sent.frames > 500, "{sent:?}");
        assert!(report.decoded > 500, "{report:?}");
        rec
    });
    // The last two seconds (past the start-up), in eight windows: all but one must carry the
    // tone at its pitch, cleanly. A broken path fails every window; on a busy 2-core
    // machine the two clocks of this one process (send and playout) have been seen to cost a
    // concealed frame or two, which spoils the window it falls in and no other.
    let tail = &recorder.samples[recorder.samples.len() - 2 * 48_000 * 2..];
    let windows: Vec<_> = tail
        .chunks_exact(tail.len() / 8)
        .map(|w| tone(w, 440.0))
        .collect();
    let stats = b.jitter_stats();
    eprintln!(
        "tone over WebRTC, SNR per 250 ms (dB): {:?}; jitter {stats:?}",
        windows.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
    );
    let clean = windows
        .iter()
        .filter(|t| (t.frequency - 440.0).abs() < 1.0 && t.snr_db >= 20.0)
        .count();
    assert!(clean >= 7, "{clean} of 8 windows clean: {windows:?}");
    a.close().await;
    b.close().await;
}

/// A writer that falls behind (a busy machine keeps the link's task off the CPU while the
/// send thread, at real-time priority, goes on) loses frames: the other side must know they
/// are missing and conceal them, not play on with a jump in the sound. Single-threaded, so
/// that the writer cannot run while the outbox is filled.
#[tokio::test(flavor = "current_thread")]
async fn frames_the_writer_had_no_room_for_are_missing_on_the_other_side_not_skipped() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms2_5,
        ..MusicConfig::default()
    };
    let (a, b) = connected_pair(music).await;
    let pt = a.send_format().await.unwrap().opus_pt;
    let mut enc = MusicEncoder::new(music).unwrap();
    let mut src = Sine::new(440.0, 0.3);
    let mut pcm = vec![0.0; music.frame.interleaved()];
    let mut packet = [0u8; codec::MAX_PACKET];
    let mut frame = || {
        src.fill(&mut pcm);
        let n = enc.encode(&pcm, &mut packet).unwrap();
        bytes::Bytes::copy_from_slice(&packet[..n])
    };
    // 150 ms of frames, paced as the send thread paces them, while the writer cannot run.
    let (mut queued, mut refused) = (0, 0);
    for _ in 0..60 {
        std::thread::sleep(music.frame.duration());
        match a.queue_frame(frame(), pt, Instant::now()) {
            Ok(()) => queued += 1,
            Err(LinkError::Backlog) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 0, "the outbox never filled: {queued} queued");
    // Then the writer runs again and keeps up.
    for _ in 0..40 {
        tokio::time::sleep(music.frame.duration()).await;
        a.queue_frame(frame(), pt, Instant::now()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut audio = b.take_audio().unwrap();
    let jb = audio.take_arrivals();
    for _ in 0..300 {
        jb.pop();
    }
    let s = jb.stats();
    assert_eq!(s.received, queued + 40, "{s:?}");
    // The refused frames, known lost: concealed, the last recovered from the next. (Had the
    // timestamps run on, nothing would be missing and the tone would jump instead.)
    assert_eq!(s.concealed + s.recovered, refused, "{s:?}");
    a.close().await;
    b.close().await;
}

/// Settings differ between two machines: every frame length hears every other, both ways, with
/// Opus and RED negotiated (before, nobody heard anything: each side's Opus parameters named its
/// own frame length, webrtc-rs dropped Opus, and each packet was decoded at the receiver's own
/// length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_with_different_frame_lengths_hear_each_other() {
    let _turn = one_at_a_time().await;
    let all = FrameDuration::ALL;
    for (i, &fa) in all.iter().enumerate() {
        for &fb in &all[i + 1..] {
            let (ma, mb) = (
                MusicConfig {
                    frame: fa,
                    ..MusicConfig::default()
                },
                MusicConfig {
                    frame: fb,
                    ..MusicConfig::default()
                },
            );
            let (a, b) = connected_pair_of(ma, mb, false, None).await;
            for (link, frame) in [(&a, fa), (&b, fb)] {
                let format = link.send_format().await.unwrap();
                assert!(
                    format.red_pt.is_some(),
                    "{fa:?}/{fb:?}: {frame:?} side sends without RED: {format:?}"
                );
            }
            let (to_b, mix_b) = wire(&a, &b).await;
            let (to_a, mix_a) = wire(&b, &a).await;
            let heard = run_blocking(move || {
                let rec = || Recorder {
                    samples: vec![],
                    frames_at: vec![],
                };
                let play_b = PlayoutLoop::spawn(mix_b, fb, rec()).unwrap();
                let play_a = PlayoutLoop::spawn(mix_a, fa, rec()).unwrap();
                let send_a = SendLoop::spawn(to_b, Box::new(Sine::new(440.0, 0.3)), ma).unwrap();
                let send_b = SendLoop::spawn(to_a, Box::new(Sine::new(660.0, 0.3)), mb).unwrap();
                std::thread::sleep(Duration::from_millis(3000));
                // The listeners first: what they played last was still being sent.
                let heard = [
                    (
                        format!("{fa:?} heard at {fb:?}"),
                        440.0,
                        play_b.stop().unwrap().0,
                    ),
                    (
                        format!("{fb:?} heard at {fa:?}"),
                        660.0,
                        play_a.stop().unwrap().0,
                    ),
                ];
                send_a.stop();
                send_b.stop();
                heard
            });
            for (what, hz, rec) in heard {
                // The last two seconds, in eight windows: at least six clean. Heard or not is
                // the question here (a receiver that cannot decode its peer hears nothing clean
                // at all); how clean, on a machine whose two cores run four real-time threads
                // here, is the tone test's and the benchmarks' (one CI run lost 500 ms to a
                // stall in the first pair).
                let tail = &rec.samples[rec.samples.len().saturating_sub(48_000 * 2 * 2)..];
                let windows: Vec<_> = tail
                    .chunks_exact((tail.len() / 8).max(2))
                    .map(|w| tone(w, hz))
                    .collect();
                let clean = windows
                    .iter()
                    .filter(|t| (t.frequency - hz).abs() < 1.5 && t.snr_db >= 20.0)
                    .count();
                eprintln!(
                    "{what}: SNR per 250 ms {:?}",
                    windows.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
                );
                assert!(
                    clean >= 6,
                    "{what}: {clean} of 8 windows clean: {windows:?}"
                );
            }
            a.close().await;
            b.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_click_arrives_and_soon() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms2_5,
        ..MusicConfig::default()
    };
    let (a, b) = connected_pair(music).await;
    let (fanout, mix) = wire(&a, &b).await;
    let (rec, started, clicks) = run_blocking(move || {
        let play = PlayoutLoop::spawn(
            mix,
            music.frame,
            Recorder {
                samples: vec![],
                frames_at: vec![],
            },
        )
        .unwrap();
        let train = ClickTrain::new(200, 0.8);
        let clicks: Vec<u64> = (0..15).map(|k| train.click_at(k)).collect();
        let send = SendLoop::spawn(fanout, Box::new(train), music).unwrap();
        let started = send.started;
        std::thread::sleep(Duration::from_millis(3300));
        send.stop();
        let (rec, _) = play.stop().unwrap();
        (rec, started, clicks)
    });
    let mut det = ClickDetector::new(0.3, 100);
    det.scan(&rec.samples);
    let frame = music.frame.samples() as u64;
    // Each onset: when its frame was ready, plus its place in the frame.
    let arrivals: Vec<Instant> = det
        .onsets()
        .iter()
        .map(|&pos| {
            rec.frames_at[(pos / frame) as usize]
                + Duration::from_secs_f64((pos % frame) as f64 / 48_000.0)
        })
        .collect();
    let sent: Vec<Instant> = clicks
        .iter()
        .map(|&n| started + Duration::from_secs_f64(n as f64 / 48_000.0))
        .filter(|t| *t + Duration::from_millis(150) < started + Duration::from_millis(3300))
        .collect();
    assert!(
        arrivals.len() >= sent.len(),
        "{} clicks sent, {} heard",
        sent.len(),
        arrivals.len()
    );
    let mut lat: Vec<f64> = sent
        .iter()
        .zip(&arrivals)
        .map(|(s, r)| r.saturating_duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    eprintln!("click latency over WebRTC at 2.5 ms frames (ms): {lat:.2?}");
    // A loose bound that can fail; the goal figures belong to the benchmark. On the median:
    // the click train is timed from the send loop's start, so one stall of the sending thread
    // on a loaded machine shifts every later click by the stall (seen: 200 ms on CI).
    assert!(lat.iter().all(|&l| l > 0.0), "{lat:?}");
    assert!(lat[lat.len() / 2] < 100.0, "{lat:?}");
    a.close().await;
    b.close().await;
}

/// The test pattern from `a` to `b` for `seconds`, decoded and read back: what was sent, and
/// each picture's frame number and capture-to-decoded delay (ms).
async fn pattern_between(
    a: &Arc<PeerLink>,
    b: &Arc<PeerLink>,
    seconds: u64,
) -> (tutti_media::video::VideoSendReport, Vec<u32>, Vec<u32>) {
    use tutti_media::clock::monotonic_ns;
    use tutti_media::video::{
        TestPattern, VideoFanout, VideoSendLoop, Vp8Config, Vp8Decoder, read_stamp,
    };
    let pt = a.video_payload_type().await.expect("VP8 is negotiated");
    let frames = b.take_video().expect("the receiving side's video");
    let fanout = VideoFanout::default();
    fanout.add(a.clone(), pt);
    let rt = tokio::runtime::Handle::current();
    run_blocking(move || {
        let send = VideoSendLoop::spawn(
            fanout,
            Box::new(TestPattern::new(640, 480)),
            Vp8Config::default(),
            rt,
        )
        .unwrap();
        let mut decoder = Vp8Decoder::new().unwrap();
        let (mut stamps, mut delays) = (Vec::new(), Vec::new());
        let until = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < until {
            let Ok(f) = frames.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if let Ok(Some(picture)) = decoder.decode(&f.data)
                && let Some(stamp) = read_stamp(&picture)
            {
                let now_ms = (monotonic_ns(Instant::now()) / 1_000_000) as u32;
                stamps.push(stamp.frame);
                delays.push(now_ms.wrapping_sub(stamp.captured_ms));
            }
        }
        (send.stop(), stamps, delays)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_pattern_crosses_in_order_and_alive() {
    let _turn = one_at_a_time().await;
    let (a, b) = connected_pair_with(MusicConfig::default(), true).await;
    let (report, stamps, delays) = pattern_between(&a, &b, 3).await;
    eprintln!("video sent: {report:?}");
    eprintln!(
        "video over WebRTC: {} frames in 3 s, capture-to-decoded {:?} ms",
        stamps.len(),
        {
            let mut d = delays.clone();
            d.sort_unstable();
            d.get(d.len() / 2).copied()
        }
    );
    assert!(stamps.len() >= 60, "most of 90 frames arrive: {stamps:?}");
    assert!(
        stamps.windows(2).all(|w| w[1] > w[0]),
        "in order, none frozen (repeated): {stamps:?}"
    );
    assert!(delays.iter().all(|&d| d < 500), "{delays:?}");
    // A frame dropped now and then because the consumer thread was descheduled is the queue
    // doing its job (newest frame wins); dropping as a habit is not.
    assert!(
        b.video_dropped() <= 5,
        "{} frames dropped",
        b.video_dropped()
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_video_is_healed_by_a_requested_keyframe() {
    let _turn = one_at_a_time().await;
    use tutti_media::impair::{ImpairedPath, ImpairmentConfig};
    // Media only: this is about losing pictures, not about setting up through loss.
    let path = ImpairedPath::start(ImpairmentConfig::parse("loss=5,media-only").unwrap())
        .await
        .unwrap();
    let (a, b) = connected_pair_through(MusicConfig::default(), true, Some(path.rewriter())).await;
    let (report, stamps, _) = pattern_between(&a, &b, 4).await;
    let (asked, heard) = (b.keyframe_requests_out(), a.keyframe_requests_in());
    let loss = a.video_loss().await;
    eprintln!(
        "5 % loss: {} pictures read of {} sent, {asked} keyframe requests sent, {heard} heard, \
         {} keyframes, reported loss {loss:?}",
        stamps.len(),
        report.frames,
        report.keyframes
    );
    assert!(asked > 0, "the receiver asks for a keyframe after a loss");
    assert!(heard > 0, "the sender hears it");
    assert!(report.keyframes > 1, "and codes one: {report:?}");
    assert!(
        loss.is_some(),
        "the receiver's loss reports reach the sender"
    );
    // Healed: the picture goes on (a frozen picture would stop the stamps).
    assert!(
        stamps.len() >= 60,
        "{} of {} pictures",
        stamps.len(),
        report.frames
    );
    let tail = &stamps[stamps.len() - 10..];
    assert!(tail.windows(2).all(|w| w[1] > w[0]), "{stamps:?}");
    a.close().await;
    b.close().await;
}

/// An ICE restart on a link that is up (what a network change calls for) finds the path again
/// without a new link, and the sound goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_keeps_the_link_and_its_sound() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let (a, b, told) = connected_pair_told(music, music, false, None).await;
    let (fanout, _mix) = wire(&a, &b).await;
    let send = SendLoop::spawn(fanout, Box::new(Sine::new(440.0, 0.3)), music).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = b.packets_in();
    assert!(before > 50, "{before} packets before the restart");
    // The longest stretch without a packet, through the restarts until the watch is stopped.
    let done = Arc::new(AtomicBool::new(false));
    let watch = {
        let (b, done) = (b.clone(), done.clone());
        tokio::spawn(async move {
            let (mut last, mut seen, mut gap) = (Instant::now(), b.packets_in(), Duration::ZERO);
            while !done.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let n = b.packets_in();
                if n != seen {
                    gap = gap.max(last.elapsed());
                    (last, seen) = (Instant::now(), n);
                }
            }
            gap.max(last.elapsed())
        })
    };
    // Twice: each restart brings fresh ICE credentials (and, on both sides, new sockets). The
    // second waits until the first has brought the sound back, as the lesson's core does (one
    // restart at a time): on two busy cores a restart's checks can take seconds.
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(str::to_owned)
    };
    let mut ufrags = Vec::new();
    let mut back_after = Vec::new();
    // Each side's sockets since each restart (the ports of the candidates it told).
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let told_before = told.lock().unwrap().clone().map(|c| c.len());
        let offer = a.restart_offer().await.unwrap();
        ufrags.push(ufrag(&offer).expect("an ice-ufrag in the offer"));
        let answer = b.restart_answer(&offer).await.unwrap();
        a.accept_answer(&answer).await.unwrap();
        let from = Instant::now();
        // Back: packets flowing again on the new path (the old sockets are gone).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let deadline = from + Duration::from_secs(20);
        let mut mark = b.packets_in();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let n = b.packets_in();
            if n >= mark + 10 {
                break;
            }
            mark = n;
            assert!(Instant::now() < deadline, "no sound 20 s after a restart");
        }
        back_after.push(from.elapsed());
        let told = told.lock().unwrap().clone();
        let ports = |side: usize| {
            let mut ports: Vec<String> = told[side][told_before[side]..]
                .iter()
                .filter_map(|c| c.split_whitespace().nth(5).map(str::to_owned))
                .collect();
            ports.sort();
            ports.dedup();
            ports
        };
        sockets.push([ports(0), ports(1)]);
    }
    assert_ne!(ufrags[0], ufrags[1]);
    // One new socket a side each time, which the path is found over. (The answering side once
    // restarted twice, by its own call and by the offer: it told a candidate of sockets the
    // second replaced, and checks went out from a socket that was gone; two restarts in ten
    // did, one in ten found no path.)
    for (k, s) in sockets.iter().enumerate() {
        assert!(
            s.iter().all(|ports| ports.len() == 1),
            "restart {k}: the ports each side told, a's and b's: {s:?}"
        );
    }
    let from_last = b.packets_in();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last_second = b.packets_in() - from_last;
    done.store(true, Relaxed);
    let gap = watch.await.unwrap();
    let _ = run_blocking(move || send.stop());
    let after = b.packets_in() - before;
    // The gap is a figure, not a bound (8 ms to 1.0 s on this machine, 3.7 s once on two
    // cores busy with a build): what must hold is that the sound is back, all of it, on the same link.
    println!(
        "ice restart: {after} packets from it, seen back within {back_after:?} (looked for from 400 ms on), {last_second} in the second after, longest gap {gap:?}"
    );
    assert!(
        last_second > 150,
        "only {last_second} packets in the second after the restarts (200 are sent)"
    );
}

/// A student's take travels to the host over the link's reliable channel at its pace; the link
/// is cut half-way (both ends closed, as a lost connection leaves them); on the next link the
/// take goes on from what the host holds, and arrives whole, its hash checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_cut_half_way_goes_on_over_the_next_link_and_arrives_whole() {
    let _turn = one_at_a_time().await;
    let dir = std::env::temp_dir().join(format!("tutti-take-loop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A take's track: 16 s of sound, as the recorder writes it.
    let source = dir.join("Omar.wav");
    {
        let f = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let mut w = tutti_media::recording::TrackWriter::create(f, 0).unwrap();
        let tone: Vec<f32> = (0..16 * 48_000)
            .map(|i| (0.3 * (i as f32 * 0.0576).sin()) * (1.0 + (i % 97) as f32 * 1e-3))
            .collect();
        w.write_at(0, &tone, tutti_media::recording::SLACK_EXACT)
            .unwrap();
        w.finish().unwrap();
    }
    let take = take_transfer::TakeToSend::of_file(&source, "Omar", 0.5, 16.0).unwrap();
    let inbox = dir.join("inbox");
    let rate = 1_000_000;
    let cfg = |inbox: Option<std::path::PathBuf>| LinkConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        take_inbox: inbox,
        take_bytes_per_s: rate,
        ..LinkConfig::new(MusicConfig::default())
    };
    let part = inbox.join(format!(".{}.part", take.id));
    let part_len = || std::fs::metadata(&part).map_or(0, |m| m.len());
    let (a, b, _, _) = connected_pair_cfg(cfg(None), cfg(Some(inbox.clone())), None).await;
    let from = Instant::now();
    a.send_take(take.clone());
    let deadline = from + Duration::from_secs(20);
    while part_len() < take.bytes / 3 {
        assert!(
            Instant::now() < deadline,
            "{} bytes of the take after 20 s",
            part_len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_rate = part_len() as f64 / from.elapsed().as_secs_f64();
    a.close().await;
    b.close().await;
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_cut = part_len();
    assert!(at_cut < take.bytes, "the whole take went before the cut");
    // The next link (the same two people; the host's inbox as it was left).
    let (a, b, _, events) = connected_pair_cfg(cfg(None), cfg(Some(inbox.clone())), None).await;
    a.send_take(take.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    let (received, delivered) = loop {
        let e = events.lock().unwrap().clone();
        let received = e[1].iter().find_map(|e| match e {
            LinkEvent::TakeReceived(t) => Some(t.clone()),
            _ => None,
        });
        let delivered = e[0]
            .iter()
            .any(|e| matches!(e, LinkEvent::TakeDelivered(t) if t.id == take.id));
        if let (Some(r), true) = (&received, delivered) {
            break (r.clone(), delivered);
        }
        assert!(
            Instant::now() < deadline,
            "the take not through 30 s on: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let resent = a.take_bytes_sent();
    a.close().await;
    b.close().await;
    println!(
        "take: {} bytes; {at_cut} before the cut (at {:.0} kB/s, paced at {} kB/s), {resent} sent after it",
        take.bytes,
        first_rate / 1e3,
        rate / 1_000
    );
    assert!(delivered);
    assert_eq!(received.name, "Omar");
    assert_eq!((received.start_s, received.seconds), (0.5, 16.0));
    assert_eq!(
        std::fs::read(&received.path).unwrap(),
        std::fs::read(&source).unwrap(),
        "the take as recorded"
    );
    // Only what the host did not have went again.
    assert_eq!(resent, take.bytes - at_cut);
    assert!(!part.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
