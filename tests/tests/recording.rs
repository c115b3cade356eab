//! Recording with real processes: `tutti-peer host --record-lesson` killed with SIGKILL in the
//! middle of a take leaves tracks whose headers are at most a second behind what they hold
//! (they play to within a second of the kill), and whole once repaired.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};
use tutti_e2e::netns::{Proc, bin};
use tutti_e2e::{room_server, ws_url};
use tutti_media::recording::{read_track, repair};

/// `tutti-peer` on loopback through the room server at `url`: `role` (host, or join and the
/// code), named `name`, playing `source`, for `seconds`, with `more`.
fn peer(url: &str, role: &[&str], name: &str, source: &str, seconds: &str, more: &[&str]) -> Proc {
    let mut args = role.to_vec();
    args.extend([
        "--server",
        url,
        "--name",
        name,
        "--source",
        source,
        "--udp",
        "127.0.0.1",
        "--seconds",
        seconds,
    ]);
    args.extend(more);
    Proc::local(bin("tutti-peer"), &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_killed_mid_take_leaves_tracks_that_play() {
    let server = room_server().await;
    let url = ws_url(&server);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("take");
    let rec_arg = rec.display().to_string();
    let host = peer(
        &url,
        &["host"],
        "Kim",
        "clicks:250",
        "60",
        &["--record-lesson", &rec_arg],
    );
    let code = host.line("invite:", Duration::from_secs(20));
    let _student = peer(&url, &["join", &code], "Omar", "tone:440", "60", &[]);
    // Both tracks under way, then a few seconds more.
    let omar = rec.join("Omar.wav");
    let deadline = Instant::now() + Duration::from_secs(40);
    while std::fs::metadata(&omar).map_or(0, |m| m.len()) < 200_000 {
        assert!(Instant::now() < deadline, "no track of the student's part");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut host = host;
    host.child.kill().unwrap(); // SIGKILL: no finishing, no flushing
    host.child.wait().unwrap();
    drop(server);

    for name in ["Kim.wav", "Omar.wav"] {
        let path = rec.join(name);
        let said = read_track(&path).unwrap().len() as u64;
        let (held, repaired) = repair(&path).unwrap();
        eprintln!(
            "{name}: the header said {:.2} s, the file held {:.2} s (repaired: {repaired})",
            said as f64 / 48e3,
            held as f64 / 48e3
        );
        assert!(held >= 96_000, "{name}: {held} samples held");
        // A header brought up to date each second, and 8 KiB the writer had not handed over.
        assert!(
            held - said <= 48_000 + 2_048,
            "{name}: the header {said} behind {held}"
        );
        let samples = read_track(&path).unwrap();
        assert_eq!(samples.len() as u64, held);
        assert!(
            samples.iter().any(|s| s.abs() > 0.1),
            "{name} holds silence only"
        );
    }
    // Nothing was listed: the recorder died before it could.
    assert!(!rec.join("lesson.json").exists());
}

/// A take ended as it should: a student who joins three seconds into it gets a track that
/// starts when they arrived (on the take's timeline, the file itself holding no lead-in), and
/// `lesson.json` lists both tracks and the mix, which decodes to the take's whole length, and
/// the student's question as a mark when he asked it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_s_track_starts_at_their_arrival_and_the_take_has_its_mix() {
    let server = room_server().await;
    let url = ws_url(&server);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("take");
    let rec_arg = rec.display().to_string();
    let mut host = peer(
        &url,
        &["host"],
        "Kim",
        "clicks:250",
        "12",
        &["--record-lesson", &rec_arg],
    );
    let code = host.line("invite:", Duration::from_secs(20));
    host.line("recording:", Duration::from_secs(20));
    let recording = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let joined = recording.elapsed().as_secs_f64();
    let mut student = peer(
        &url,
        &["join", &code],
        "Omar",
        "tone:440",
        "6",
        &["--ask", "How do I hold the bow?"],
    );
    let said = host.finish(Duration::from_secs(40));
    student.finish(Duration::from_secs(5));
    drop(server);

    let listing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rec.join("lesson.json")).unwrap())
            .unwrap_or_else(|e| panic!("lesson.json: {e}; the host said {said:?}"));
    assert!(listing["stopped_early"].is_null(), "{listing}");
    let track = |name: &str| {
        listing["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no track of {name} in {listing}"))
            .clone()
    };
    let (kim, omar) = (track("Kim"), track("Omar"));
    let start = |t: &serde_json::Value| t["start_s"].as_f64().unwrap();
    let secs = |t: &serde_json::Value| t["seconds"].as_f64().unwrap();
    eprintln!(
        "Kim's track from {:.2} s for {:.2} s; Omar joined at {joined:.2} s, his track from {:.2} s for {:.2} s",
        start(&kim),
        secs(&kim),
        start(&omar),
        secs(&omar)
    );
    // The host's own part from the start of the take to its end, with nobody there before the
    // student came and after he left (it was recorded only while someone was there to send to).
    assert!(start(&kim) < 0.5 && secs(&kim) > 10.0, "{kim}");
    // From his arrival: after he was started, within the time a join takes.
    assert!(
        start(&omar) >= joined && start(&omar) < joined + 5.0,
        "Omar's track from {} s, he joined at {joined:.2} s",
        start(&omar)
    );
    // His question, a mark on the take's timeline when he asked it (as he arrived).
    let marks = listing["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 1, "{listing}");
    assert_eq!(marks[0]["text"], "How do I hold the bow?");
    let asked = marks[0]["at_s"].as_f64().unwrap();
    assert!(
        asked >= joined - 0.5 && asked < joined + 5.0,
        "asked at {asked} s, he joined at {joined:.2} s"
    );
    // The file holds his part from its first sample, not a lead-in of silence.
    let samples = read_track(&rec.join(omar["file"].as_str().unwrap())).unwrap();
    assert_eq!(samples.len() as f64, (secs(&omar) * 48e3).round());
    let first_sound = samples
        .iter()
        .position(|s| s.abs() > 0.05)
        .unwrap_or(usize::MAX);
    assert!(
        first_sound < 48_000 / 2,
        "his first sound {first_sound} samples into his track"
    );
    // The mix: the whole take, listed and decodable.
    let end = [&kim, &omar]
        .iter()
        .map(|t| start(t) + secs(t))
        .fold(0.0, f64::max);
    let mix_s = listing["mix"]["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(
        (mix_s - end).abs() < 1e-3,
        "the mix {mix_s} s, the take {end} s"
    );
    let mix = tutti_media::ogg_opus::read_ogg_opus(
        std::fs::File::open(rec.join(listing["mix"]["file"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(mix.len() as f64, (mix_s * 48e3).round());
}

/// A student's take travels to the teacher: `tutti-peer join --record-lesson --send-take`
/// records a few seconds, stops, and sends its own track, lossless, over the link; the host
/// (`--take-inbox`) has it, byte for byte, and the student is told it is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_s_own_track_reaches_the_teacher_whole() {
    let server = room_server().await;
    let url = ws_url(&server);
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("received");
    let rec = dir.path().join("take");
    let (inbox_arg, rec_arg) = (inbox.display().to_string(), rec.display().to_string());
    let host = peer(
        &url,
        &["host"],
        "Kim",
        "clicks:250",
        "60",
        &["--take-inbox", &inbox_arg],
    );
    let code = host.line("invite:", Duration::from_secs(20));
    let student = peer(
        &url,
        &["join", &code],
        "Omar",
        "tone:440",
        "4",
        &["--record-lesson", &rec_arg, "--send-take"],
    );
    let sending = student.line("take: sending", Duration::from_secs(40));
    let delivered = student.line("take: ", Duration::from_secs(60));
    let received = host.line("take: received", Duration::from_secs(10));
    eprintln!("student: sending {sending}; {delivered}\nhost: received {received}");
    assert!(delivered.starts_with("delivered"), "{delivered}");
    assert!(received.contains("(Omar, id"), "{received}");
    let ours = std::fs::read(rec.join("Omar.wav")).unwrap();
    let kept: Vec<_> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(ours.len() > 4 * 48_000, "{} bytes recorded", ours.len());
    assert!(
        std::fs::read(&kept[0]).unwrap() == ours,
        "the take as recorded"
    );
    assert!(
        kept[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("Omar-")
    );
}
