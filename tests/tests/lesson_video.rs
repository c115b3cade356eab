//! Video through lessons: the host sends the stamped test pattern; students decode it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tutti_e2e::{engine, one_at_a_time, room_server, wait_for};
use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson, LessonEvent, VideoSink};
use tutti_media::MusicConfig;
use tutti_media::signal::{NullSink, Silence};
use tutti_media::video::{TestPattern, Vp8Config, read_stamp};
use tutti_protocol::JoinRole;

/// (frame number, when decoded) of every stamped picture seen.
type Seen = Arc<Mutex<Vec<(u32, Instant)>>>;

/// A sink that records what it is shown.
fn watcher() -> (VideoSink, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let sink: VideoSink = Arc::new(move |_peer, frame| {
        if let Some(stamp) = read_stamp(&frame.picture) {
            s.lock().unwrap().push((stamp.frame, Instant::now()));
        }
    });
    (sink, seen)
}

fn video_engine(
    server: &tutti_server::RunningServer,
    name: &str,
    admit: AdmitPolicy,
) -> EngineConfig {
    EngineConfig {
        video: true,
        ..engine(server, name, MusicConfig::default(), admit)
    }
}

async fn student(server: &tutti_server::RunningServer, code: &str, name: &str) -> Lesson {
    let mut s = Lesson::join(
        video_engine(server, name, AdmitPolicy::Manual),
        code,
        JoinRole::Student,
    )
    .await
    .unwrap();
    s.start_audio(
        Box::new(Silence),
        Box::new(NullSink),
        MusicConfig::default(),
    )
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pattern_arrives_in_order_and_a_latecomer_sees_it_within_two_seconds() {
    let _turn = one_at_a_time().await;
    let server = room_server().await;
    let music = MusicConfig::default();
    let mut host = Lesson::host(
        video_engine(&server, "김선생", AdmitPolicy::Everyone),
        "Bowing",
    )
    .await
    .unwrap();
    host.start_audio(Box::new(Silence), Box::new(NullSink), music)
        .unwrap();
    let (host_sink, _) = watcher();
    host.start_video(
        Some(Box::new(TestPattern::new(640, 480))),
        host_sink,
        Vp8Config::default(),
    )
    .unwrap();
    let code = host.invite_code().to_string();

    let mut first = student(&server, &code, "Omar").await;
    let (sink, seen_first) = watcher();
    first.start_video(None, sink, Vp8Config::default()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The latecomer: periodic keyframes are 10 s apart, so a picture within 2 s of its link
    // coming up means it was sent a keyframe on joining.
    let mut late = student(&server, &code, "Layla").await;
    let (sink, seen_late) = watcher();
    late.start_video(None, sink, Vp8Config::default()).unwrap();
    wait_for(&mut late, Duration::from_secs(20), |e| {
        matches!(
            e,
            LessonEvent::Link {
                state: tutti_media::LinkState::Connected,
                ..
            }
        )
    })
    .await;
    let connected = Instant::now();
    let mut first_picture = None;
    while connected.elapsed() < Duration::from_secs(5) {
        if let Some(&(_, at)) = seen_late.lock().unwrap().first() {
            first_picture = Some(at.saturating_duration_since(connected));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    late.leave().await;
    first.leave().await;
    host.leave().await;
    server.shutdown().await;

    let first_frames: Vec<u32> = seen_first.lock().unwrap().iter().map(|s| s.0).collect();
    eprintln!(
        "first student: {} pictures; latecomer's first picture {:?} after its link came up",
        first_frames.len(),
        first_picture
    );
    assert!(
        first_frames.len() >= 60,
        "most of ~100 pictures: {first_frames:?}"
    );
    assert!(
        first_frames.windows(2).all(|w| w[1] > w[0]),
        "in order, none frozen: {first_frames:?}"
    );
    let first_picture = first_picture.expect("the latecomer sees a picture");
    assert!(first_picture < Duration::from_secs(2), "{first_picture:?}");
}
