//! Recording with real processes: `tutti-peer host --record-lesson` killed with SIGKILL in the
//! middle of a take leaves tracks whose headers are at most a second behind what they hold
//! (they play to within a second of the kill), and whole once repaired.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, Instant};
use tutti_e2e::netns::{Proc, bin};
use tutti_e2e::{room_server, ws_url};
use tutti_media::recording::{read_track, repair};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_killed_mid_take_leaves_tracks_that_play() {
    let server = room_server().await;
    let url = ws_url(&server);
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("take");
    let rec_arg = rec.display().to_string();
    let host = Proc::local(
        bin("tutti-peer"),
        &[
            "host",
            "--server",
            &url,
            "--name",
            "Kim",
            "--source",
            "clicks:250",
            "--udp",
            "127.0.0.1",
            "--seconds",
            "60",
            "--record-lesson",
            &rec_arg,
        ],
    );
    let code = host.line("invite:", Duration::from_secs(20));
    let _student = Proc::local(
        bin("tutti-peer"),
        &[
            "join",
            &code,
            "--server",
            &url,
            "--name",
            "Omar",
            "--source",
            "tone:440",
            "--udp",
            "127.0.0.1",
            "--seconds",
            "60",
        ],
    );
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
