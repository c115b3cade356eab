//! Tutti against an independent WebRTC stack: a Tutti link and a peer connection in headless
//! Chromium (tests/app/chromium-peer.mjs), negotiated with each other over loopback. Tutti
//! offers as it does in a lesson (music-mode Opus at 2.5 ms frames with RED); Chromium answers
//! with its defaults and sends its own 20-ms Opus. Each side's own receiver says what it heard:
//! Tutti's playout is analysed for Chromium's tone, Chromium's statistics for Tutti's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tutti_e2e::{clean_windows, one_at_a_time};
use tutti_media::pipeline::{Fanout, Mix, PlayoutLoop, SendLoop};
use tutti_media::signal::{MemorySink, Sine};
use tutti_media::{FrameDuration, LinkConfig, LinkEvent, LinkState, MusicConfig, PeerLink};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why Chromium cannot be driven here, if it cannot.
fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is not installed"));
    }
    if !repo().join("ui/node_modules/playwright-core").exists() {
        return Some("ui/node_modules/playwright-core is not installed (npm ci in ui)".into());
    }
    None
}

/// True (and said) when Chromium cannot be driven here; under CI=true that fails instead.
fn skipped() -> bool {
    let Some(why) = missing() else {
        return false;
    };
    assert!(
        std::env::var_os("CI").is_none_or(|v| v != "true"),
        "{why}, and CI=true requires this test"
    );
    eprintln!("SKIPPED: {why}");
    true
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// A node script of tests/app driving Chromium, talked to in lines on its stdin and stdout.
fn driver(
    script: &str,
    args: &[String],
) -> (tokio::process::Child, tokio::process::ChildStdin, Lines) {
    let mut node = tokio::process::Command::new("node")
        .arg(repo().join("tests/app").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let to = node.stdin.take().unwrap();
    let from = BufReader::new(node.stdout.take().unwrap()).lines();
    (node, to, from)
}

/// Sends one JSON line to the Chromium peer.
async fn say(to: &mut tokio::process::ChildStdin, msg: Value) {
    to.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
    to.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_tutti_hear_each_other() {
    if skipped() {
        return;
    }
    let _turn = one_at_a_time().await;
    let music = MusicConfig {
        frame: FrameDuration::Ms2_5,
        ..MusicConfig::default()
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let link = Arc::new(
        PeerLink::new(
            &LinkConfig {
                udp_addrs: vec!["127.0.0.1:0".into()],
                ..LinkConfig::new(music)
            },
            events_tx,
        )
        .await
        .unwrap(),
    );
    let (mut node, mut to_chromium, mut from_chromium) =
        driver("chromium-peer.mjs", &["--tone".into(), "440".into()]);
    say(
        &mut to_chromium,
        json!({ "offer": link.offer().await.unwrap() }),
    )
    .await;

    // Negotiation, as the room server would relay it, until both sides are connected.
    let (mut ours, mut theirs) = (false, false);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !(ours && theirs) {
            tokio::select! {
                Some(ev) = events.recv() => match ev {
                    LinkEvent::LocalCandidate { candidate, sdp_mid, sdp_mline_index } => {
                        let c = json!({ "candidate": candidate, "sdpMid": sdp_mid,
                                        "sdpMLineIndex": sdp_mline_index });
                        say(&mut to_chromium, json!({ "candidate": c })).await;
                    }
                    LinkEvent::State(LinkState::Connected) => ours = true,
                    _ => {}
                },
                line = from_chromium.next_line() => {
                    let line = line.unwrap().expect("the Chromium peer ended early");
                    let msg: Value = serde_json::from_str(&line).unwrap();
                    if let Some(sdp) = msg["answer"].as_str() {
                        link.accept_answer(sdp).await.unwrap();
                    } else if let Some(c) = msg.get("candidate") {
                        let mline = c["sdpMLineIndex"].as_u64().map(|i| i as u16);
                        let mid = c["sdpMid"].as_str().map(str::to_owned);
                        link.add_candidate(c["candidate"].as_str().unwrap(), mid, mline)
                            .await
                            .unwrap();
                    } else if msg["connected"] == true {
                        theirs = true;
                    }
                }
            }
        }
    })
    .await
    .expect("Tutti and Chromium connect over loopback");

    // Keep taking Tutti's link events (candidates that come late) so nothing blocks.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let format = link.send_format().await.unwrap();
    let fanout = Fanout::default();
    fanout.add(link.clone(), format);
    let mix = Mix::default();
    mix.add("chromium", link.take_audio().unwrap());
    let heard = MemorySink::default();
    let play_into = heard.clone();
    let stop_after = tokio::task::spawn_blocking(move || {
        let play = PlayoutLoop::spawn(mix, music.frame, play_into).unwrap();
        let send = SendLoop::spawn(fanout, Box::new(Sine::new(660.0, 0.3)), music).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        (play, send)
    });
    let (play, send) = stop_after.await.unwrap();
    say(&mut to_chromium, json!({ "report": true })).await;
    let report: Value = loop {
        let line = from_chromium.next_line().await.unwrap().expect("a report");
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg.get("report").is_some() {
            break msg["report"].clone();
        }
    };
    let (_, played) = play.stop().unwrap();
    let sent = send.stop();
    drop(to_chromium);
    let _ = tokio::time::timeout(Duration::from_secs(10), node.wait()).await;
    link.close().await;

    // Tutti hearing Chromium: its 20-ms packets decoded at their own length into 2.5-ms frames.
    let stats = link.jitter_stats();
    let samples = heard.take().samples;
    eprintln!("{} s played: {played:?}", samples.len() as f64 / 96_000.0);
    let (clean, tones) = clean_windows(&samples, 440.0);
    eprintln!(
        "Tutti heard Chromium's 440 Hz cleanly in {clean} of 8 windows (SNR dB {:?}); {stats:?}",
        tones.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
    );
    // Chromium hearing Tutti: its own decoder's count of samples and concealment.
    eprintln!("Chromium's report: {report}; Tutti sent {sent:?} as {format:?}");
    assert!(clean >= 6, "Tutti heard Chromium: {tones:?}");
    let inbound = &report["inbound"];
    assert_eq!(report["codec"], "audio/opus", "{report}");
    let packets = inbound["packets"].as_f64().unwrap_or(0.0);
    // 4 s of 2.5-ms frames is 1600 packets; start-up aside, most of them.
    assert!(
        packets > 1000.0,
        "Chromium received {packets} packets: {report}"
    );
    let (samples, concealed) = (
        inbound["samples"].as_f64().unwrap_or(0.0),
        inbound["concealed"].as_f64().unwrap_or(0.0),
    );
    assert!(
        samples > 48_000.0 && concealed / samples < 0.05,
        "Chromium decoded {samples} samples, concealed {concealed}: {report}"
    );
    let level = inbound["level"].as_f64().unwrap_or(0.0);
    assert!(
        level > 0.1,
        "Chromium hears Tutti's 0.3 tone at {level}: {report}"
    );
}

/// Asks the page driver for its pages' reports, in the order of their URLs.
async fn page_reports(to: &mut tokio::process::ChildStdin, from: &mut Lines) -> Vec<Value> {
    to.write_all(b"report\n").await.unwrap();
    to.flush().await.unwrap();
    let line = from
        .next_line()
        .await
        .unwrap()
        .expect("the page driver ended early");
    serde_json::from_value(serde_json::from_str(&line).unwrap()).unwrap()
}

/// What a page hears and sees of `peer`: fails unless it is the teacher's 440 Hz at its pitch
/// and the 640×480 pattern, decoded. Samples and concealment are counted over the listening
/// window (from `before`, the same page's report when it began), not since the link came up:
/// Chromium's own jitter buffer conceals while it settles, more on a busy machine (7.5 % since
/// the start in one CI run, the tone heard at its pitch all the same). A stream that does not
/// flow conceals nearly all of it.
fn hears_and_sees_the_teacher(page: &Value, before: &Value, peer: &str) {
    let teacher = &page["peers"][peer];
    assert_eq!(teacher["audio"]["codec"], "audio/opus", "{page}");
    let count = |p: &Value, what: &str| p["peers"][peer]["audio"][what].as_f64().unwrap_or(0.0);
    let got = count(page, "samples") - count(before, "samples");
    let concealed = count(page, "concealed") - count(before, "concealed");
    assert!(
        got > 96_000.0 && concealed / got < 0.15,
        "in 4 s the browser decoded {got} samples of the teacher's, {concealed} concealed: {page}"
    );
    let pitch = teacher["pitch_hz"].as_f64().unwrap_or(0.0);
    assert!(
        (pitch - 440.0).abs() < 6.0,
        "the browser hears the teacher's 440 Hz at {pitch} Hz: {page}"
    );
    assert_eq!(teacher["video"]["codec"], "video/VP8", "{page}");
    assert_eq!(
        (
            teacher["video"]["width"].as_u64(),
            teacher["video"]["height"].as_u64()
        ),
        (Some(640), Some(480)),
        "{page}"
    );
    assert!(
        teacher["video"]["decoded"].as_u64().unwrap_or(0) > 60,
        "pictures decoded in the browser: {page}"
    );
    assert!(
        page["chat"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap_or("").contains("어서 오세요")),
        "the chat reaches the page: {page}"
    );
}

/// Anyone with a browser takes part: the room server's own page in headless Chromium, default
/// WebRTC settings everywhere, as a student (`/join/CODE`) and as a listener (`/watch/CODE`);
/// the teacher a Tutti engine sending a tone and the test pattern. Whoever offers on each link
/// (their peer ids decide), both pages hear the teacher's tone at its pitch and decode the
/// picture, the teacher hears the student's tone, and the chat reaches both; a wrong code is
/// said as such; a Tutti student
/// who comes in after the browsers is heard by both pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_join_and_watch_a_lesson_from_the_room_server_s_page() {
    use tutti_e2e::{engine, room_server};
    use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson};
    use tutti_media::signal::NullSink;
    use tutti_media::video::{TestPattern, Vp8Config};
    use tutti_protocol::{ClientMessage, JoinRole};

    if skipped() {
        return;
    }
    let _turn = one_at_a_time().await;
    let server = room_server().await;
    let music = MusicConfig::default();
    let mut host = Lesson::host(
        EngineConfig {
            video: true,
            ..engine(&server, "김선생", music, AdmitPolicy::Everyone)
        },
        "Scales",
    )
    .await
    .unwrap();
    let heard = MemorySink::default();
    host.start_audio(
        Box::new(Sine::new(440.0, 0.3)),
        Box::new(heard.clone()),
        music,
    )
    .unwrap();
    host.start_video(
        Some(Box::new(TestPattern::new(640, 480))),
        Arc::new(|_, _| {}),
        Vp8Config::default(),
    )
    .unwrap();
    let (addr, code) = (server.local_addr(), host.invite_code().to_string());
    let pages = [
        format!("http://{addr}/join/{code}?name=Layla&autojoin=1"),
        format!("http://{addr}/watch/{code}?name=Listener&autojoin=1"),
        format!("http://{addr}/join/ZZZ-ZZZ-ZZZ?name=Mallory&autojoin=1"),
    ];
    let mut args = vec!["--tone".to_owned(), "660".to_owned()];
    args.extend(pages.into_iter().flat_map(|u| ["--url".to_owned(), u]));
    let (mut node, mut to_pages, mut from_pages) = driver("chromium-page.mjs", &args);
    let host_id = host.handle().me().0.clone();
    // Until both pages decode the teacher's picture (taking the host's events meanwhile).
    let mut events = Vec::new();
    let joined = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            let r = page_reports(&mut to_pages, &mut from_pages).await;
            if r[..2].iter().all(|p| {
                p["peers"][&host_id]["video"]["decoded"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0
            }) {
                return r;
            }
            while let Ok(Some(e)) =
                tokio::time::timeout(Duration::from_millis(500), host.next_event()).await
            {
                events.push(format!("{e:?}"));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the pages join and connect; the host saw {events:#?}"));
    eprintln!("joined: {joined:?}");
    // A Tutti student comes in after the browsers (it asks for links as it enters: the pages
    // must not build theirs twice when they offer).
    let mut late = Lesson::join(
        engine(&server, "Omar", music, AdmitPolicy::Manual),
        &code,
        JoinRole::Student,
    )
    .await
    .unwrap();
    late.start_audio(Box::new(Sine::new(330.0, 0.3)), Box::new(NullSink), music)
        .unwrap();
    let late_id = late.handle().me().0.clone();
    // The teacher mutes it for themselves (the mixer), so as to hear the browser's tone alone.
    host.handle()
        .set_fader(
            late.handle().me(),
            tutti_media::fader::Fader {
                muted: true,
                ..Default::default()
            },
        )
        .unwrap();
    let hears_late = |r: &[Value]| {
        r[..2].iter().all(|p| {
            let hz = p["peers"][&late_id]["pitch_hz"].as_f64().unwrap_or(0.0);
            (hz - 330.0).abs() < 6.0
        })
    };
    let within = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = page_reports(&mut to_pages, &mut from_pages).await;
        if hears_late(&r) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < within,
            "both pages hear the late Tutti student within 20 s: {r:#?}"
        );
        for l in [&mut host, &mut late] {
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(100), l.next_event()).await
            {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    host.request(ClientMessage::Chat {
        text: "어서 오세요".into(),
    })
    .await
    .unwrap();
    // Four seconds of each other's sound.
    let before = page_reports(&mut to_pages, &mut from_pages).await;
    heard.take();
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(100), host.next_event()).await;
        let _ = tokio::time::timeout(Duration::from_millis(100), late.next_event()).await;
    }
    let samples = heard.take().samples;
    let reports = page_reports(&mut to_pages, &mut from_pages).await;
    eprintln!("the pages' reports: {reports:#?}");
    drop(to_pages);
    let _ = tokio::time::timeout(Duration::from_secs(10), node.wait()).await;
    late.leave().await;
    host.leave().await;
    server.shutdown().await;

    let (student, listener, wrong) = (&reports[0], &reports[1], &reports[2]);
    // A wrong code is said as such, in the browser's language, and opens nothing.
    assert!(
        wrong["status"]
            .as_str()
            .unwrap_or("")
            .contains("No lesson has this code"),
        "{wrong}"
    );
    assert_eq!(
        wrong["peers"].as_object().map(|p| p.len()),
        Some(0),
        "{wrong}"
    );
    hears_and_sees_the_teacher(student, &before[0], &host_id);
    hears_and_sees_the_teacher(listener, &before[1], &host_id);
    // The mesh: the student and the listener are linked too; the listener hears the student.
    let student_id = student["me"].as_str().unwrap();
    let heard_student = listener["peers"][student_id]["pitch_hz"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (heard_student - 660.0).abs() < 6.0,
        "the listener hears the student's 660 Hz at {heard_student}: {listener}"
    );
    // The listener sends nothing: it was not given the mic.
    assert_eq!(
        student["peers"][listener["me"].as_str().unwrap()]["audio"]["packets"]
            .as_u64()
            .unwrap_or(0),
        0,
        "{student}"
    );
    let (clean, tones) = clean_windows(&samples, 660.0);
    eprintln!(
        "the teacher heard the student's 660 Hz cleanly in {clean} of 8 windows (SNR dB {:?})",
        tones.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>()
    );
    assert!(clean >= 6, "the teacher hears the student: {tones:?}");
}
