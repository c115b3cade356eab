//! A lesson end to end over loopback: the room server, a host and a student as lesson engines.
//! The host plays; what the student's playout produces is analysed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};
use tutti_e2e::{engine, room_server, wait_for};
use tutti_lesson::{AdmitPolicy, Lesson, LessonEvent};
use tutti_media::analysis::tone;
use tutti_media::signal::{
    AudioSource, ClickDetector, ClickTrain, MemorySink, NullSink, Silence, Sine,
};
use tutti_media::{FrameDuration, MusicConfig, SAMPLE_RATE};
use tutti_protocol::JoinRole;

/// Host and student in a lesson, the host sending `source`; returns them and the student's recording.
async fn lesson_with(
    music: MusicConfig,
    source: Box<dyn AudioSource>,
) -> (tutti_server::RunningServer, Lesson, Lesson, MemorySink) {
    let server = room_server().await;
    let mut host = Lesson::host(
        engine(&server, "김선생", music, AdmitPolicy::Everyone),
        "Scales",
    )
    .await
    .unwrap();
    host.start_audio(source, Box::new(NullSink), music).unwrap();
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(
        engine(&server, "Omar", music, AdmitPolicy::Manual),
        &code,
        JoinRole::Student,
    )
    .await
    .unwrap();
    let recording = MemorySink::default();
    student
        .start_audio(Box::new(Silence), Box::new(recording.clone()), music)
        .unwrap();
    wait_for(&mut student, Duration::from_secs(20), |e| {
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    (server, host, student, recording)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_s_tone_reaches_the_student_at_its_pitch() {
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let (server, host, student, recording) =
        lesson_with(music, Box::new(Sine::new(440.0, 0.3))).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = recording.take();
    let stats = student.receive_stats();
    // What the connection indicator shows.
    let peers = student.peer_stats().await;
    eprintln!("{peers:?}");
    assert_eq!(peers.len(), 1);
    let p = &peers[0];
    assert_eq!(
        p.path,
        Some(tutti_media::PathKind::Direct),
        "loopback host candidates: {p:?}"
    );
    assert!(
        p.level > 0.2 && p.level <= 0.35,
        "a 0.3 tone is heard at about 0.3: {p:?}"
    );
    assert!(
        p.concealed_pct < 1.0 && p.buffer_ms <= p.target_ms + 5.0,
        "{p:?}"
    );
    if let (Some(rtt), Some(one_way)) = (p.rtt_ms, p.one_way_ms) {
        assert!(rtt < 50.0 && one_way < 50.0, "loopback: {p:?}");
    }
    assert!(host.send_level() > 0.2, "the host meters what it sends");
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let last_two_seconds = &got.samples[got.samples.len().saturating_sub(2 * 48_000 * 2)..];
    let t = tone(last_two_seconds, 440.0);
    eprintln!(
        "student heard {:.2} Hz at {:.1} dB SNR; {stats:?}",
        t.frequency, t.snr_db
    );
    assert!((t.frequency - 440.0).abs() < 1.0, "{t:?}");
    assert!(t.snr_db >= 20.0, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_click_of_the_host_reaches_the_student() {
    let music = MusicConfig {
        frame: FrameDuration::Ms2_5,
        ..MusicConfig::default()
    };
    let train = ClickTrain::new(200, 0.8);
    let click_at: Vec<u64> = (0..60).map(|k| train.click_at(k)).collect();
    let (server, host, student, recording) = lesson_with(music, Box::new(train)).await;
    let hearing_since = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let until = Instant::now();
    let started = host.audio_started().unwrap();
    let got = recording.take();
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let mut detector = ClickDetector::new(0.3, 100);
    detector.scan(&got.samples);
    let heard: Vec<Instant> = detector
        .onsets()
        .iter()
        .filter_map(|&p| got.ready_at(p))
        .collect();
    // Clicks captured after the student started hearing, early enough to have arrived.
    let sent: Vec<Instant> = click_at
        .iter()
        .map(|&n| started + Duration::from_secs_f64(n as f64 / f64::from(SAMPLE_RATE)))
        .filter(|&t| {
            t > hearing_since + Duration::from_millis(100) && t + Duration::from_millis(200) < until
        })
        .collect();
    assert!(sent.len() >= 10, "only {} clicks in the window", sent.len());
    let mut latencies = Vec::new();
    for s in &sent {
        let arrival = heard
            .iter()
            .find(|&&h| h > *s && h < *s + Duration::from_millis(100))
            .unwrap_or_else(|| {
                panic!(
                    "a click was lost (or took over 100 ms); heard {} of {}",
                    heard.len(),
                    sent.len()
                )
            });
        latencies.push((*arrival - *s).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "click latency through the room server's lesson at 2.5 ms frames (ms): {latencies:.2?}"
    );
}
