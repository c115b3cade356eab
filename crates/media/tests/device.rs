//! Real audio devices, in CI too: a userspace PulseAudio with a 48 kHz null sink whose monitor
//! is the default source, so what is played is captured. cpal opens real devices through it.
//!
//! The server's environment (HOME, XDG_RUNTIME_DIR) must be the client's, and changing the
//! environment of a running test is not safe, so the test starts the server and then runs this
//! binary again, as a child, with that environment.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tutti_media::FrameDuration;
use tutti_media::analysis::tone;
use tutti_media::device::{
    Capture, DeviceConfig, DeviceError, Playback, input_devices, output_devices,
};
use tutti_media::signal::{AudioSink, AudioSource, Sine};

const CHILD_ENV: &str = "TUTTI_DEVICE_TEST_CHILD";

struct Pulse {
    dir: PathBuf,
}

impl Pulse {
    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HOME", self.dir.join("home")),
            ("XDG_CONFIG_HOME", self.dir.join("home/.config")),
            ("XDG_RUNTIME_DIR", self.dir.join("xdg")),
        ]
    }

    fn run(&self, program: &str, args: &[&str]) -> bool {
        Command::new(program)
            .args(args)
            .envs(self.env())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A userspace server with a null sink; `None` if PulseAudio is not installed.
    fn start(dir: &Path) -> Option<Pulse> {
        if Command::new("pulseaudio")
            .arg("--version")
            .output()
            .is_err()
        {
            return None;
        }
        let p = Pulse {
            dir: dir.to_owned(),
        };
        std::fs::create_dir_all(dir.join("home/.config")).unwrap();
        let xdg = dir.join("xdg");
        std::fs::create_dir_all(&xdg).unwrap();
        let _ = Command::new("chmod").arg("700").arg(&xdg).status();
        let log = format!("--log-target=file:{}", dir.join("pulse.log").display());
        assert!(
            p.run(
                "pulseaudio",
                &["-D", "--exit-idle-time=-1", "--disallow-exit", &log]
            ),
            "pulseaudio did not start; see {}/pulse.log",
            dir.display()
        );
        assert!(p.run(
            "pactl",
            &[
                "load-module",
                "module-null-sink",
                "sink_name=tutti_null",
                "rate=48000",
                "channels=2",
                "format=float32le"
            ]
        ));
        assert!(p.run("pactl", &["set-default-sink", "tutti_null"]));
        assert!(p.run("pactl", &["set-default-source", "tutti_null.monitor"]));
        // Otherwise an idle sink is suspended and output stalls for seconds at a time.
        let _ = p.run("pactl", &["unload-module", "module-suspend-on-idle"]);
        Some(p)
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("xdg/pulse/pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn a_tone_played_on_the_speaker_is_captured_from_the_microphone() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return device_child();
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(pulse) = Pulse::start(dir.path()) else {
        // CI installs PulseAudio (scripts/setup-debian.sh): there, a missing server is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "pulseaudio is not installed"
        );
        eprintln!("SKIPPED: pulseaudio is not installed (run scripts/setup-debian.sh)");
        return;
    };
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_tone_played_on_the_speaker_is_captured_from_the_microphone",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .envs(pulse.env())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the device test failed (its output is above)"
    );
}

fn device_child() {
    // The server needs a moment before its devices answer.
    let deadline = Instant::now() + Duration::from_secs(15);
    while input_devices().map_or(true, |d| d.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "PulseAudio devices never appeared"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let inputs = input_devices().unwrap();
    let outputs = output_devices().unwrap();
    eprintln!("inputs: {inputs:?}\noutputs: {outputs:?}");
    assert!(inputs.iter().any(|d| d.is_default), "{inputs:?}");

    // A wrong name is a typed error that says what there is.
    match Capture::open(&DeviceConfig {
        name: Some("no such microphone".into()),
        ..DeviceConfig::default()
    }) {
        Err(DeviceError::NotFound {
            kind: "input",
            available,
            ..
        }) => assert!(!available.is_empty()),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a device that does not exist opened"),
    }

    // The native PulseAudio host needs a fixed buffer size.
    let cfg = DeviceConfig {
        name: None,
        buffer_frames: Some(240),
        ..DeviceConfig::default()
    };
    let mut speaker = Playback::open(&cfg).expect("the default output opens");
    let mut mic = Capture::open(&cfg).expect("the default input opens");
    eprintln!("opened {:?} and {:?}", speaker.name, mic.name);
    assert!(mic.paced() && speaker.paced());

    let frame = FrameDuration::Ms5;
    let player = std::thread::spawn(move || {
        let mut tone = Sine::new(440.0, 0.3);
        let mut pcm = vec![0.0; frame.interleaved()];
        // The player outlasts the capture: capture lags playback by the sound server's latency.
        let until = Instant::now() + Duration::from_secs(12);
        while Instant::now() < until {
            tone.fill(&mut pcm);
            speaker.write(&pcm); // waits for the device
        }
        speaker
    });
    let mut captured = Vec::new();
    let mut pcm = vec![0.0; frame.interleaved()];
    // The null sink settles on the streams' latency only once they run (it starts at 2 s, and
    // output stalls until then): capture until the tone has been arriving for 5 s, 8 s at most.
    let until = Instant::now() + Duration::from_secs(8);
    let mut arrived: Option<Instant> = None;
    while Instant::now() < until && arrived.is_none_or(|t| t.elapsed() < Duration::from_secs(5)) {
        mic.fill(&mut pcm); // waits for the device
        if arrived.is_none() && pcm.iter().any(|s| s.abs() > 0.1) {
            arrived = Some(Instant::now());
        }
        captured.extend_from_slice(&pcm);
    }
    let speaker = player.join().unwrap();
    // Sixteen windows of 250 ms over the last four seconds, a second after the tone arrived; at
    // least half must carry the tone cleanly. A broken path fails every window. On this 2-core
    // machine the sound server's streams still underrun now and then (an open issue, with cpal's
    // client and ours alike), and each underrun spoils its window.
    let window = 48_000 / 4 * 2;
    let tail = &captured[captured.len().saturating_sub(16 * window)..];
    let tones: Vec<_> = tail.chunks_exact(window).map(|w| tone(w, 440.0)).collect();
    let clean = tones
        .iter()
        .filter(|t| (t.frequency - 440.0).abs() < 1.0 && t.snr_db >= 20.0)
        .count();
    eprintln!(
        "through PulseAudio, SNR per 250 ms window (dB): {:?}; capture dropped {}, playout underruns {}; largest chunks {} and {} samples; delays {:?} and {:?}",
        tones.iter().map(|t| t.snr_db.round()).collect::<Vec<_>>(),
        mic.stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        speaker
            .stats()
            .underruns
            .load(std::sync::atomic::Ordering::Relaxed),
        mic.stats()
            .largest_chunk
            .load(std::sync::atomic::Ordering::Relaxed),
        speaker
            .stats()
            .largest_chunk
            .load(std::sync::atomic::Ordering::Relaxed),
        mic.delay(),
        speaker.delay(),
    );
    assert_eq!(tones.len(), 16);
    assert!(
        clean >= 8,
        "only {clean} of 16 windows carried a clean 440 Hz: {tones:?}"
    );
}
