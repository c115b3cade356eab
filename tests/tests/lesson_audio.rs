//! A lesson end to end over loopback: the room server, a host and a student as lesson engines.
//! The host plays; what the student's playout produces is analysed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};
use tutti_e2e::{clean_windows, engine, one_at_a_time, room_server, wait_for};
use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson, LessonEvent, OverReason};
use tutti_media::impair::{CandidateRewrite, ImpairedPath, ImpairmentConfig};
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
    lesson_through(music, source, None).await
}

/// The same, with the student's media path rewritten (through an impairment proxy).
async fn lesson_through(
    music: MusicConfig,
    source: Box<dyn AudioSource>,
    rewrite: Option<CandidateRewrite>,
) -> (tutti_server::RunningServer, Lesson, Lesson, MemorySink) {
    let server = room_server().await;
    let student = EngineConfig {
        candidate_rewrite: rewrite,
        ..engine(&server, "Omar", music, AdmitPolicy::Manual)
    };
    let (host, student, recording) = lesson_on(&server, student, music, source).await;
    (server, host, student, recording)
}

/// Host and student on `server` (the student as `student` says), the host sending `source`,
/// once the student hears it; returns them and the student's recording.
async fn lesson_on(
    server: &tutti_server::RunningServer,
    student: EngineConfig,
    music: MusicConfig,
    source: Box<dyn AudioSource>,
) -> (Lesson, Lesson, MemorySink) {
    let mut host = Lesson::host(
        engine(server, "김선생", music, AdmitPolicy::Everyone),
        "Scales",
    )
    .await
    .unwrap();
    host.start_audio(source, Box::new(NullSink), music).unwrap();
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(student, &code, JoinRole::Student)
        .await
        .unwrap();
    let recording = MemorySink::default();
    student
        .start_audio(Box::new(Silence), Box::new(recording.clone()), music)
        .unwrap();
    // A link stuck connecting is rebuilt after 15 s; a bound, not a goal.
    wait_for(&mut student, Duration::from_secs(40), |e| {
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    (host, student, recording)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_s_tone_reaches_the_student_at_its_pitch() {
    let _turn = one_at_a_time().await;
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
    // On a quiet machine nothing is concealed; a busy one (a real-time hog taking 30 % of
    // both cores in 20-ms slices) has been measured at 1.2–1.3 %: the frames filled in while
    // the target rises to its jitter. A lossy or broken path conceals far more.
    assert!(
        p.concealed_pct < 3.0 && p.buffer_ms <= p.target_ms + 5.0,
        "{p:?}"
    );
    let (rtt, one_way) = (
        p.rtt_ms.expect("ICE measures the round trip"),
        p.one_way_ms
            .expect("and the one-way estimate follows from it"),
    );
    assert!(rtt < 50.0 && one_way < 50.0, "loopback: {p:?}");
    assert!(host.send_level() > 0.2, "the host meters what it sends");
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let (clean, tones) = clean_windows(&got.samples, 440.0);
    eprintln!(
        "student heard 440 Hz cleanly in {clean} of 8 windows (SNR dB {:?}); {stats:?}",
        tones.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
    );
    assert!(clean >= 6, "{tones:?}");
}

/// A teacher whose Settings say 20-ms frames and a student at 2.5 ms hear each other (before,
/// neither heard anything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_at_20_ms_and_a_student_at_2_5_ms_hear_each_other() {
    let _turn = one_at_a_time().await;
    let (host_music, student_music) = (
        MusicConfig {
            frame: FrameDuration::Ms20,
            ..MusicConfig::default()
        },
        MusicConfig {
            frame: FrameDuration::Ms2_5,
            ..MusicConfig::default()
        },
    );
    let server = room_server().await;
    let mut host = Lesson::host(
        engine(&server, "김선생", host_music, AdmitPolicy::Everyone),
        "Scales",
    )
    .await
    .unwrap();
    let at_host = MemorySink::default();
    host.start_audio(
        Box::new(Sine::new(440.0, 0.3)),
        Box::new(at_host.clone()),
        host_music,
    )
    .unwrap();
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(
        engine(&server, "Omar", student_music, AdmitPolicy::Manual),
        &code,
        JoinRole::Student,
    )
    .await
    .unwrap();
    let at_student = MemorySink::default();
    student
        .start_audio(
            Box::new(Sine::new(660.0, 0.3)),
            Box::new(at_student.clone()),
            student_music,
        )
        .unwrap();
    wait_for(&mut student, Duration::from_secs(40), |e| {
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (heard_by_student, heard_by_host) = (at_student.take(), at_host.take());
    // What each buffer did, for a failure's reader (underruns and level changes are stretched
    // by whole periods: a window broken with few of them is something else).
    eprintln!(
        "the host's buffers: {:?}\nthe student's: {:?}",
        host.receive_stats(),
        student.receive_stats()
    );
    student.leave().await;
    host.leave().await;
    server.shutdown().await;
    for (who, got, hz) in [
        (
            "the student (2.5 ms) hearing the host (20 ms)",
            heard_by_student,
            440.0,
        ),
        (
            "the host (20 ms) hearing the student (2.5 ms)",
            heard_by_host,
            660.0,
        ),
    ] {
        let (clean, tones) = clean_windows(&got.samples, hz);
        eprintln!(
            "{who}: clean in {clean} of 8 windows (SNR dB {:?})",
            tones.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
        );
        assert!(clean >= 6, "{who}: {tones:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_click_of_the_host_reaches_the_student() {
    let _turn = one_at_a_time().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_who_restarts_the_app_is_heard_again() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let (server, host, mut student, recording) =
        lesson_with(music, Box::new(Sine::new(440.0, 0.3))).await;
    // The app restarts: a new engine opens the same lesson with the host token, while the old
    // connection is still up (it has not noticed yet).
    let token = host.host_token.clone().unwrap();
    let mut again = Lesson::reopen(
        engine(&server, "김선생", music, AdmitPolicy::Everyone),
        &host.info.id,
        &token,
    )
    .await
    .unwrap();
    again
        .start_audio(Box::new(Sine::new(660.0, 0.3)), Box::new(NullSink), music)
        .unwrap();
    // The student hears the new session on a new link (the old one is let go); how long that
    // takes is a bound here, not a goal.
    wait_for(&mut student, Duration::from_secs(20), |e| {
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = recording.take();
    again.leave().await;
    student.leave().await;
    drop(host);
    server.shutdown().await;
    let (clean, tones) = clean_windows(&got.samples, 660.0);
    eprintln!("after the host's restart the student hears 660 Hz cleanly in {clean} of 8 windows");
    assert!(clean >= 6, "{tones:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_packets_are_repaired_from_the_copies_in_the_next() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    // Media only: this is about repairing lost sound, not about setting up through loss.
    let loss = ImpairmentConfig::parse("loss=5,media-only").unwrap();
    let proxy = ImpairedPath::start(loss).await.unwrap();
    let (server, host, student, recording) = lesson_through(
        music,
        Box::new(Sine::new(440.0, 0.3)),
        Some(proxy.rewriter()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = recording.take();
    let (_, stats) = student.receive_stats().pop().unwrap();
    let dropped = proxy
        .stats()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    student.leave().await;
    host.leave().await;
    server.shutdown().await;
    eprintln!("5 % loss, {dropped} packets dropped by the proxy: {stats:?}");
    assert!(dropped > 50, "the proxy drops packets");
    // One packet in twenty is lost; with each frame sent twice (in its own packet and the
    // next), about one in 400 is lost for good. Without RED every loss would be concealed.
    // (Frames inserted while a packet is late are the scheduler's doing on a loaded machine,
    // not the network's: the latency benchmark measures those.)
    let missed = stats.concealed + stats.recovered;
    assert!(
        stats.repaired > 0 && missed * 4 < stats.repaired,
        "most losses are repaired from the copies: {stats:?}"
    );
    // Broken audio fails every window; a hiccup of a loaded debug build spoils one or two.
    let (clean, tones) = clean_windows(&got.samples, 440.0);
    assert!(clean >= 4, "{tones:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_never_connects_is_built_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let server = room_server().await;
    // For the first two seconds every candidate either side offers is lost: the first link
    // can never connect, and neither side will say it failed.
    let start = Instant::now();
    let blackout = CandidateRewrite(Arc::new(move |c: &str| {
        (start.elapsed() > Duration::from_secs(2)).then(|| c.to_owned())
    }));
    let cfg = |name: &str, admit| EngineConfig {
        candidate_rewrite: Some(blackout.clone()),
        connect_within: Duration::from_secs(4),
        ..engine(&server, name, music, admit)
    };
    let mut host = Lesson::host(cfg("김선생", AdmitPolicy::Everyone), "Scales")
        .await
        .unwrap();
    host.start_audio(Box::new(Sine::new(440.0, 0.3)), Box::new(NullSink), music)
        .unwrap();
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(cfg("Omar", AdmitPolicy::Manual), &code, JoinRole::Student)
        .await
        .unwrap();
    student
        .start_audio(Box::new(Silence), Box::new(NullSink), music)
        .unwrap();
    let gave_up = AtomicBool::new(false);
    wait_for(&mut student, Duration::from_secs(30), |e| {
        if matches!(
            e,
            LessonEvent::Link {
                state: tutti_media::LinkState::Failed,
                ..
            }
        ) {
            gave_up.store(true, Relaxed);
        }
        matches!(e, LessonEvent::Hearing(_))
    })
    .await;
    assert!(
        gave_up.load(Relaxed),
        "the stuck link was given up, then built again"
    );
    student.leave().await;
    host.leave().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_cut_off_from_the_room_server_hears_every_click_and_gets_back_in() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let server = room_server().await;
    let path = tutti_e2e::CuttablePath::to(&server).await;
    let train = ClickTrain::new(200, 0.8);
    let click_at: Vec<u64> = (0..200).map(|k| train.click_at(k)).collect();
    let through_path = EngineConfig {
        server: path.ws_url(),
        ..engine(&server, "Omar", music, AdmitPolicy::Manual)
    };
    let (host, mut student, recording) =
        lesson_on(&server, through_path, music, Box::new(train)).await;
    let hearing_since = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The student's path to the room server goes for 3 s; the host writes meanwhile.
    path.set_cut(true);
    wait_for(&mut student, Duration::from_secs(5), |e| {
        matches!(e, LessonEvent::RoomServer { reachable: false })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    host.request(tutti_protocol::ClientMessage::Chat {
        text: "while you were away".into(),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    path.set_cut(false);
    let back = std::sync::atomic::AtomicBool::new(false);
    let chat = wait_for(&mut student, Duration::from_secs(15), |e| {
        if matches!(e, LessonEvent::Over(_)) {
            panic!("the lesson ended for the student: {e:?}");
        }
        if matches!(e, LessonEvent::RoomServer { reachable: true }) {
            back.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        matches!(e, LessonEvent::Chat(_))
    })
    .await;
    assert!(
        back.load(std::sync::atomic::Ordering::Relaxed),
        "back on the room server before the chat it missed"
    );
    assert!(
        matches!(&chat, LessonEvent::Chat(m) if m.text == "while you were away"),
        "{chat:?}"
    );
    // And the room server relays for the student again: it can ask and be heard.
    student
        .request(tutti_protocol::ClientMessage::Chat {
            text: "back".into(),
        })
        .await
        .expect("requests work after the rejoin");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let until = Instant::now();
    let started = host.audio_started().unwrap();
    let got = recording.take();
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let (lost, sent) = clicks_lost(&got, started, &click_at, hearing_since, until);
    assert!(sent >= 20, "only {sent} clicks in the window");
    assert!(lost == 0, "{lost} of {sent} clicks lost across the outage");
}

/// Of the clicks captured at the host from `from` until shortly before `until`, how many the
/// student did not hear within 150 ms, and how many there were.
fn clicks_lost(
    got: &tutti_media::signal::Recorded,
    started: Instant,
    click_at: &[u64],
    from: Instant,
    until: Instant,
) -> (usize, usize) {
    let mut detector = ClickDetector::new(0.3, 100);
    detector.scan(&got.samples);
    let heard: Vec<Instant> = detector
        .onsets()
        .iter()
        .filter_map(|&p| got.ready_at(p))
        .collect();
    let sent: Vec<Instant> = click_at
        .iter()
        .map(|&n| started + Duration::from_secs_f64(n as f64 / f64::from(SAMPLE_RATE)))
        .filter(|&t| {
            t > from + Duration::from_millis(100) && t + Duration::from_millis(200) < until
        })
        .collect();
    let lost = sent
        .iter()
        .filter(|&&s| {
            !heard
                .iter()
                .any(|&h| h > s && h < s + Duration::from_millis(150))
        })
        .count();
    (lost, sent.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_server_restart_leaves_the_sound_alone_and_everyone_back_in() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = tutti_server::ServerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..tutti_server::ServerConfig::default()
    };
    let server = tutti_server::start(cfg.clone()).await.unwrap();
    let train = ClickTrain::new(200, 0.8);
    let click_at: Vec<u64> = (0..200).map(|k| train.click_at(k)).collect();
    let student = engine(&server, "Omar", music, AdmitPolicy::Manual);
    let (mut host, mut student, recording) =
        lesson_on(&server, student, music, Box::new(train)).await;
    let hearing_since = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The server restarts (a deploy): it says so, goes, and is back 2 s later on the same port
    // and data.
    let addr = server.local_addr();
    server.shutdown().await;
    for lesson in [&mut student, &mut host] {
        wait_for(lesson, Duration::from_secs(5), |e| {
            matches!(e, LessonEvent::RoomServer { reachable: false })
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = tutti_server::start(tutti_server::ServerConfig {
        listen: addr,
        ..cfg
    })
    .await
    .unwrap();
    for lesson in [&mut student, &mut host] {
        wait_for(lesson, Duration::from_secs(15), |e| {
            assert!(
                !matches!(e, LessonEvent::Over(_)),
                "the lesson ended: {e:?}"
            );
            matches!(e, LessonEvent::RoomServer { reachable: true })
        })
        .await;
    }
    host.request(tutti_protocol::ClientMessage::Chat {
        text: "still here".into(),
    })
    .await
    .expect("the host is back in its lesson");
    wait_for(
        &mut student,
        Duration::from_secs(5),
        |e| matches!(e, LessonEvent::Chat(m) if m.text == "still here"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let until = Instant::now();
    let started = host.audio_started().unwrap();
    let got = recording.take();
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let (lost, sent) = clicks_lost(&got, started, &click_at, hearing_since, until);
    assert!(sent >= 20, "only {sent} clicks in the window");
    assert!(lost == 0, "{lost} of {sent} clicks lost across the restart");
}

/// A room server that comes back without its data (a new machine, a lost disk) no longer knows
/// the lesson: the student is told its place is gone, not that the connection was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_server_that_forgot_the_lesson_says_the_place_is_gone() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let server = room_server().await;
    let student = engine(&server, "Omar", music, AdmitPolicy::Manual);
    let (host, mut student, _recording) =
        lesson_on(&server, student, music, Box::new(Silence)).await;
    let addr = server.local_addr();
    server.shutdown().await;
    let server = tutti_server::start(tutti_server::ServerConfig {
        listen: addr,
        ..tutti_server::ServerConfig::default()
    })
    .await
    .unwrap();
    let over = wait_for(&mut student, Duration::from_secs(15), |e| {
        matches!(e, LessonEvent::Over(_))
    })
    .await;
    assert!(
        matches!(over, LessonEvent::Over(OverReason::Expired)),
        "{over:?}"
    );
    student.leave().await;
    host.leave().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_is_heard_only_while_the_host_gives_it_the_mic() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms5,
        ..MusicConfig::default()
    };
    let server = room_server().await;
    let mut host = Lesson::host(
        engine(&server, "김선생", music, AdmitPolicy::Everyone),
        "Scales",
    )
    .await
    .unwrap();
    let heard = MemorySink::default();
    host.start_audio(Box::new(Silence), Box::new(heard.clone()), music)
        .unwrap();
    let code = host.invite_code().to_string();
    let mut observer = Lesson::join(
        engine(&server, "Layla", music, AdmitPolicy::Manual),
        &code,
        JoinRole::Observer,
    )
    .await
    .unwrap();
    assert!(!observer.you.mic, "an observer comes in without the mic");
    let who = observer.you.peer.clone();
    observer
        .start_audio(Box::new(Sine::new(660.0, 0.3)), Box::new(NullSink), music)
        .unwrap();
    wait_for(&mut host, Duration::from_secs(40), |e| {
        matches!(
            e,
            LessonEvent::Link {
                state: tutti_media::LinkState::Connected,
                ..
            }
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peak = |samples: &[f32]| samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let before = heard.take();
    assert!(
        before.samples.len() > 48_000 && peak(&before.samples) < 0.01,
        "nothing heard from an observer without the mic (peak {})",
        peak(&before.samples)
    );

    // A voice question: the host hands it the mic.
    host.request(tutti_protocol::ClientMessage::SetMic {
        peer: who.clone(),
        allowed: true,
    })
    .await
    .unwrap();
    wait_for(
        &mut host,
        Duration::from_secs(10),
        |e| matches!(e, LessonEvent::Hearing(p) if *p == who),
    )
    .await;
    heard.take();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during = heard.take();
    let (clean, tones) = clean_windows(&during.samples, 660.0);
    assert!(clean >= 6, "heard once given the mic: {tones:?}");

    // And taken back.
    host.request(tutti_protocol::ClientMessage::SetMic {
        peer: who,
        allowed: false,
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    heard.take();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = heard.take();
    assert!(
        peak(&after.samples) < 0.01,
        "silent again once the mic is taken back (peak {})",
        peak(&after.samples)
    );
    observer.leave().await;
    host.leave().await;
    server.shutdown().await;
}

/// Seconds of `mono` that sound (10-ms windows with an RMS over 0.1: the test tone is 0.35).
fn sounding_seconds(mono: &[f32]) -> f64 {
    let loud = mono
        .chunks_exact(480)
        .filter(|w| (w.iter().map(|s| s * s).sum::<f32>() / 480.0).sqrt() > 0.1)
        .count();
    loud as f64 * 0.01
}

/// Instant replay: the host plays a phrase (a tone) and stops; the student plays the host's
/// last seconds again while the lesson goes on, and hears the phrase again, as long as it was,
/// at its pitch, in the quiet after it. The host has its own part, as captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_student_plays_the_host_s_last_phrase_again_while_the_lesson_goes_on() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig::default();
    let (tone, quiet) = tutti_media::signal::Gate::new(Sine::new(440.0, 0.5));
    let (server, host, student, recording) = lesson_with(music, Box::new(tone)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    quiet.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let host_peer = student.peer_stats().await.remove(0).peer;
    let s = student.handle();
    let kept = s.recent(Some(&host_peer), 10.0).unwrap();
    let phrase = sounding_seconds(&kept);
    let own = sounding_seconds(&host.handle().recent(None, 10.0).unwrap());
    recording.take();
    let length = s.replay(Some(&host_peer), 10.0).unwrap();
    assert!(s.replaying().is_some());
    tokio::time::sleep(length + Duration::from_millis(500)).await;
    let after = recording.take();
    let unknown = s.replay(Some(&tutti_protocol::PeerId("nobody".into())), 5.0);
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let left: Vec<f32> = after.samples.iter().step_by(2).copied().collect();
    let again = sounding_seconds(&left);
    eprintln!(
        "replay: the phrase kept {phrase:.2} s (the host's own {own:.2} s), played again {again:.2} s of {:.2} s",
        length.as_secs_f64()
    );
    // The host played for 1.5 s after the student first heard it (more before, as captured).
    assert!(phrase >= 1.3, "{phrase} s of the host's phrase kept");
    assert!(own >= phrase - 0.1, "{own} s of our own phrase kept");
    assert!(
        (again - phrase).abs() <= 0.1,
        "{again} s played again of the {phrase} s kept"
    );
    // What was kept, sample for sample (the live sound is silence by then), and at its pitch:
    // a quarter-second from the middle of the phrase (its start is the stream's, as heard,
    // which a busy machine may have spoilt the first time round).
    let start = left
        .iter()
        .position(|v| v.abs() > 0.1)
        .expect("the replay sounds");
    let kept_start = kept.iter().position(|v| v.abs() > 0.1).unwrap();
    let (from, n) = (24_000, 12_000);
    let worst = (0..n)
        .map(|i| (left[start + from + i] - kept[kept_start + from + i]).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 0.01, "played again {worst} away from what was kept");
    let window: Vec<f32> = after.samples[(start + from) * 2..][..n * 2].to_vec();
    let t = tutti_media::analysis::tone(&window, 440.0);
    assert!(
        (t.frequency - 440.0).abs() < 1.0 && t.snr_db >= 20.0,
        "played again as {t:?}"
    );
    assert!(
        matches!(unknown, Err(tutti_media::pipeline::ReplayError::NotHere(_))),
        "{unknown:?}"
    );
}

/// Recording through a cut: the student records while the host plays a click every 250 ms;
/// the media path is cut for 5 s. The host's track goes on with silence for the cut, its
/// length the wall time's (the cut did not shorten it), and every click recorded, before the
/// cut and after, lies within 2 ms of the instant it was played at the host's microphone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_keeps_a_cut_as_silence_of_its_length_and_the_clicks_in_place() {
    let _turn = one_at_a_time().await;
    let music = MusicConfig::default();
    let train = ClickTrain::new(250, 0.8);
    let click_at: Vec<u64> = (0..200).map(|k| train.click_at(k)).collect();
    let path = ImpairedPath::start(ImpairmentConfig::parse("loss=0").unwrap())
        .await
        .unwrap();
    let (server, mut host, student, _heard) =
        lesson_through(music, Box::new(train), Some(path.rewriter())).await;
    let dir = std::env::temp_dir().join(format!("tutti-record-e2e-{}", std::process::id()));
    let zero = student.handle().start_recording(&dir).unwrap();
    // The host is told.
    wait_for(
        &mut host,
        Duration::from_secs(10),
        |e| matches!(e, LessonEvent::Participant(p) if p.recording),
    )
    .await;
    assert!(matches!(
        student.handle().start_recording(&dir),
        Err(tutti_media::recording::RecordingError::AlreadyRecording)
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    path.set_cut(true);
    let cut = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    path.set_cut(false);
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stop = Instant::now();
    let tracks = student.handle().stop_recording().unwrap();
    wait_for(
        &mut host,
        Duration::from_secs(10),
        |e| matches!(e, LessonEvent::Participant(p) if !p.recording),
    )
    .await;
    let started = host.audio_started().unwrap();
    student.leave().await;
    host.leave().await;
    server.shutdown().await;

    let track = tracks
        .iter()
        .find(|t| t.name == "김선생")
        .unwrap_or_else(|| panic!("no track of the host's part in {tracks:?}"));
    let samples = tutti_media::recording::read_track(&track.file).unwrap();
    // The mix (Ogg Opus): every track at its place, as long as the latest ends, the host's
    // first click where its track has it.
    let mix_file = dir.join("mix.opus");
    let mix_s = tutti_media::recorder::mix_down(&tracks, &mix_file, "lesson").unwrap();
    let mix =
        tutti_media::ogg_opus::read_ogg_opus(std::fs::File::open(&mix_file).unwrap()).unwrap();
    let longest = tracks
        .iter()
        .map(|t| t.start_s + t.seconds)
        .fold(0.0, f64::max);
    assert!((mix_s - longest).abs() < 1e-3, "{mix_s} s of {longest}");
    assert_eq!(mix.len(), (longest * 48e3).round() as usize);
    let in_track = tutti_media::analysis::onsets(&samples, 0.1, 100)[0]
        + (track.start_s * 48e3).round() as usize;
    let in_mix = tutti_media::analysis::onsets(&mix, 0.1, 100)[0];
    assert!(
        in_mix.abs_diff(in_track) <= 96,
        "the first click at {in_mix} in the mix, {in_track} in the track"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let sr = f64::from(SAMPLE_RATE);
    let at = |n: usize| zero + Duration::from_secs_f64(track.start_s + n as f64 / sr);
    let clicks: Vec<Instant> = click_at
        .iter()
        .map(|&n| started + Duration::from_secs_f64(n as f64 / sr))
        .collect();
    let onsets: Vec<Instant> = tutti_media::analysis::onsets(&samples, 0.1, 100)
        .into_iter()
        .map(at)
        .collect();
    let off_ms: Vec<f64> = onsets
        .iter()
        .map(|o| {
            clicks
                .iter()
                .map(|c| signed_ms(*o, *c))
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap()
        })
        .collect();
    let before = onsets.iter().filter(|o| **o < cut).count();
    let after = onsets.iter().filter(|o| **o > back).count();
    let end = zero + Duration::from_secs_f64(track.start_s + track.seconds);
    let short_ms = stop.duration_since(end).as_secs_f64() * 1e3;
    eprintln!(
        "recording: the host's track from {:.2} s, {:.2} s long ({short_ms:.0} ms before the stop); {before} clicks before the cut, {after} after; off by {off_ms:.2?} ms",
        track.start_s, track.seconds
    );
    assert!(
        before >= 8 && after >= 20,
        "{before} clicks before the cut, {after} after"
    );
    // Nothing in the cut but what was in flight as it began.
    let quiet_from = (cut + Duration::from_millis(500))
        .duration_since(zero)
        .as_secs_f64();
    let quiet_to = back.duration_since(zero).as_secs_f64() - 0.5;
    let (a, b) = (
        ((quiet_from - track.start_s) * sr) as usize,
        ((quiet_to - track.start_s) * sr) as usize,
    );
    assert!(
        samples[a..b].iter().all(|v| v.abs() < 0.01),
        "sound in the cut"
    );
    // The track runs to the stop, less the way from the host's microphone to here.
    assert!(
        (0.0..150.0).contains(&short_ms),
        "the track ends {short_ms} ms before the stop"
    );
    // Every click within 2 ms, the first after the link came back too (its frame was once
    // placed by its own stamp, a frame early, before the frames after it placed it).
    let worst = off_ms.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        worst <= 2.0,
        "a click recorded {worst} ms from where it was played"
    );
}

/// `a` less `b`, ms.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1e3
    } else {
        -(b - a).as_secs_f64() * 1e3
    }
}
