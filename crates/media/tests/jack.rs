//! JACK, as musicians run it: a `jackd` with the dummy backend (48 kHz, 64-frame periods, no
//! sound card), Tutti's speaker and microphone opened through it (`AudioHost::Jack`), the
//! speaker's ports patched to the microphone's, and a tone played through that loop must come
//! back whole at its pitch. Without a server, choosing JACK is a typed error, at once.
//!
//! The server is found through `JACK_DEFAULT_SERVER`, and changing the environment of a running
//! test is not safe, so the test runs this binary again, as a child, with it set.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tutti_media::FrameDuration;
use tutti_media::analysis::tone;
use tutti_media::device::{AudioHost, Capture, DeviceConfig, DeviceError, Playback, devices_of};
use tutti_media::signal::{AudioSink, AudioSource, Sine};

const CHILD_ENV: &str = "TUTTI_JACK_TEST_CHILD";
const TEST: &str = "a_tone_through_jack_comes_back_whole";

fn jack_cfg() -> DeviceConfig {
    DeviceConfig {
        host: AudioHost::Jack,
        // Asked for, and overruled by the server's period (asking JACK for another fails).
        buffer_frames: Some(240),
        ..DeviceConfig::default()
    }
}

/// Runs this test again as a child, in `mode`, against the server named `server`.
fn child(mode: &str, server: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD_ENV, mode)
        .env("JACK_DEFAULT_SERVER", server)
        .env("JACK_NO_START_SERVER", "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the JACK test's {mode} part failed (above)"
    );
}

struct Jackd(Child);

impl Drop for Jackd {
    /// Asked to stop, not killed: a killed jackd leaves its registration in /dev/shm, and
    /// after a few of those no server starts ("Too many servers already active").
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_tone_through_jack_comes_back_whole() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("absent") => return without_a_server(),
        Ok("present") => return through_the_server(),
        _ => {}
    }
    // One name for every run: a server that could not clean up after itself is replaced, not
    // added to.
    let server = "tutti-test".to_owned();
    child("absent", &server);
    let jackd = Command::new("jackd")
        .args([
            "-n",
            &server,
            "--no-realtime",
            "-d",
            "dummy",
            "-r",
            "48000",
            "-p",
            "64",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(jackd) = jackd else {
        // CI installs jackd2 (scripts/setup-debian.sh): there, a missing server is a failure.
        assert!(std::env::var_os("CI").is_none(), "jackd is not installed");
        eprintln!("SKIPPED: jackd is not installed (run scripts/setup-debian.sh)");
        return;
    };
    let _jackd = Jackd(jackd);
    child("present", &server);
}

fn without_a_server() {
    let started = Instant::now();
    for opened in [
        Playback::open(&jack_cfg()).map(|_| ()),
        Capture::open(&jack_cfg()).map(|_| ()),
        devices_of(AudioHost::Jack, true).map(|_| ()),
    ] {
        match opened {
            Err(e @ DeviceError::NoJackServer { .. }) => assert!(e.to_string().contains("jackd")),
            Err(other) => panic!("not the error for a missing server: {other}"),
            Ok(()) => panic!("JACK opened without a server"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Our own client, to patch Tutti's ports (as a musician does in a patchbay).
fn patch_speaker_to_microphone() {
    let (client, _) = jack::Client::new("tutti-test-patch", jack::ClientOptions::NO_START_SERVER)
        .expect("a client of the test's server");
    let outs = client.ports(
        Some("cpal_client_.*_out:out_.*"),
        None,
        jack::PortFlags::empty(),
    );
    let ins = client.ports(
        Some("cpal_client_.*_in:in_.*"),
        None,
        jack::PortFlags::empty(),
    );
    assert!(outs.len() >= 2 && ins.len() >= 2, "ports: {outs:?} {ins:?}");
    for (o, i) in outs.iter().zip(&ins) {
        client.connect_ports_by_name(o, i).unwrap();
    }
}

fn through_the_server() {
    // The server needs a moment before it takes clients.
    let deadline = Instant::now() + Duration::from_secs(10);
    let outputs = loop {
        match devices_of(AudioHost::Jack, false) {
            Ok(d) => break d,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let mut speaker = Playback::open(&jack_cfg()).expect("the JACK speaker opens");
    let mut mic = Capture::open(&jack_cfg()).expect("the JACK microphone opens");
    assert!(mic.paced() && speaker.paced());
    patch_speaker_to_microphone();
    // What the microphone took in while the speaker was set up is stale (as when a lesson
    // starts): from here on.
    mic.suspend();
    mic.resume();

    let frame = FrameDuration::Ms2_5;
    let player = std::thread::spawn(move || {
        let mut tone = Sine::new(440.0, 0.3);
        let mut pcm = vec![0.0; frame.interleaved()];
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            tone.fill(&mut pcm);
            speaker.write(&pcm); // waits for the device
        }
        speaker
    });
    let mut captured = Vec::new();
    let mut pcm = vec![0.0; frame.interleaved()];
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        mic.fill(&mut pcm); // waits for the device
        captured.extend_from_slice(&pcm);
    }
    // (Before the speaker is done: the microphone's ring fills up once nobody reads it.)
    let mic_delay = mic.delay();
    let speaker = player.join().unwrap();
    // The last two seconds in eight windows (JACK's graph runs both ends on one period clock;
    // nothing here is a network).
    let window = 48_000 / 4 * 2;
    let tail = &captured[captured.len().saturating_sub(8 * window)..];
    let tones: Vec<_> = tail.chunks_exact(window).map(|w| tone(w, 440.0)).collect();
    eprintln!(
        "through JACK: {:?}; speaker {:?} (device {:?}), microphone {:?} (device {:?}), stalls {}",
        tones
            .iter()
            .map(|t| format!("{:.1} Hz {:.0} dB", t.frequency, t.snr_db))
            .collect::<Vec<_>>(),
        speaker.delay(),
        speaker.stats().device_latency(),
        mic_delay,
        mic.stats().device_latency(),
        mic.stats()
            .stalls
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    assert_eq!(tones.len(), 8);
    // A broken path fails every window. The dummy backend without real-time scheduling misses a
    // period now and then on this 2-core machine (an xrun: counted as a stall, and the stream
    // goes on), and each one spoils its window: 3 runs in 10 had one such window.
    let clean = tones
        .iter()
        .filter(|t| (t.frequency - 440.0).abs() < 1.0 && t.snr_db >= 20.0)
        .count();
    assert!(clean >= 6, "{clean} of 8 windows clean: {tones:?}");
    // The server's period paces both ends: 64 frames, not the 240 asked for.
    let period = speaker
        .stats()
        .largest_chunk
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(period, 64 * 2, "the speaker's largest callback");
}
