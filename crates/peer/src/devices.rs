//! `tutti-peer bench devices`: mouth to ear through a real sound server, both ways.
//!
//! The benchmark starts its own userspace sound server and makes, per direction, one 4-channel
//! null sink (a "bus"): channels 1–2 are one side's microphone (a remapped source on the bus's
//! monitor), channels 3–4 the other side's speaker (a remapped sink into the bus). The sound
//! server plays a click train (left) and a 660 Hz tone (right) into the microphone's half and
//! records the whole bus, so what went in and what came out are on one recording, one sample
//! clock: each click's delay is what a person would hear, both devices included, and every
//! 10-ms window of the tone says whether the sound was clean. The two lesson engines are
//! separate `tutti-peer` processes through a room server on loopback; nothing of Tutti's own
//! timing is trusted.

use crate::bench::{line_with, spawn, start_server};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tutti_media::analysis::{Heard, Through, heard};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SoundServer {
    Pulseaudio,
    Pipewire,
    /// `jackd` with the dummy backend (`--jack-period` frames); the peers open it as
    /// `--audio-host jack`, and the benchmark's own JACK client (`bench jack-tap`) plays into
    /// their microphone ports and records their speaker ports.
    Jack,
}

impl SoundServer {
    fn name(self) -> &'static str {
        match self {
            Self::Pulseaudio => "pulseaudio",
            Self::Pipewire => "pipewire",
            Self::Jack => "jack",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// The sound server the benchmark starts (its PulseAudio interface is what Tutti uses).
    #[arg(long, value_enum, default_value_t = SoundServer::Pulseaudio)]
    sound_server: SoundServer,
    /// Opus frame length in ms: 2.5, 5, 10 or 20.
    #[arg(long, default_value_t = 2.5)]
    frame_ms: f64,
    /// How the peers open the devices: `auto` (Tutti's own PulseAudio client) or `cpal`
    /// (cpal's PulseAudio host, what Tutti used before), as `tutti-peer --audio-host`.
    #[arg(long, default_value = "auto")]
    audio_host: String,
    /// Frames per sound-card buffer asked of the devices.
    #[arg(long, default_value_t = 240)]
    device_buffer: u32,
    /// With `--sound-server jack`: the server's period in frames (every client's).
    #[arg(long, default_value_t = 64)]
    jack_period: u32,
    /// How long to measure, once both sides hear each other.
    #[arg(long, default_value_t = 20.0, value_parser = crate::parse_seconds)]
    seconds: f64,
    /// Seconds after the first click heard that are not counted: the sound server settles on
    /// its latency once streams start (its virtual devices take up to 2 s), and the jitter
    /// buffer lets go of what piled up meanwhile.
    #[arg(long, default_value_t = 3.0, value_parser = crate::parse_seconds)]
    settle: f64,
    /// Both cores kept busy (stress-ng) while measuring.
    #[arg(long)]
    hog: bool,
    /// The microphone fed by a client that buffers this many ms (the sound server then hands
    /// it over in large blocks).
    #[arg(long)]
    mic_blocks_ms: Option<u32>,
    /// Print only the JSON lines.
    #[arg(long)]
    json: bool,
    /// Then the same through a WebRTC call in headless Chromium (one direction, its own
    /// stack end to end): `tests/app/chromium-call.mjs` with node and /usr/bin/chromium.
    #[arg(long)]
    chromium: bool,
    /// Keep the two recordings (4-channel WAV: clicks in, tone in, clicks out, tone out) here.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// Where the sound server and its clients live: HOME, XDG_RUNTIME_DIR and XDG_CONFIG_HOME
/// point here for every process of the run (PulseAudio finds its socket and cookie there).
pub(crate) struct SoundEnv {
    pub(crate) dir: PathBuf,
    server: Vec<Child>,
    /// A JACK server's name, for its clients (`JACK_DEFAULT_SERVER`).
    jack: Option<String>,
}

impl SoundEnv {
    fn vars(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("HOME", self.dir.join("home")),
            ("XDG_RUNTIME_DIR", self.dir.join("xdg")),
            ("XDG_CONFIG_HOME", self.dir.join("home/.config")),
        ]
    }

    pub(crate) fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.vars())
            .env_remove("PULSE_SERVER")
            .env_remove("PULSE_SINK")
            .env_remove("PULSE_SOURCE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(name) = &self.jack {
            c.env("JACK_DEFAULT_SERVER", name)
                .env("JACK_NO_START_SERVER", "1");
        }
        c
    }

    pub(crate) async fn start(kind: SoundServer) -> anyhow::Result<Self> {
        Self::start_with(kind, 64).await
    }

    pub(crate) async fn start_with(kind: SoundServer, jack_period: u32) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("tutti-devices-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["home/.config", "xdg"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("xdg"), std::fs::Permissions::from_mode(0o700))?;
        let mut env = Self {
            dir,
            server: Vec::new(),
            jack: None,
        };
        let logs = env.dir.clone();
        let log = |name: &str| -> anyhow::Result<Stdio> {
            Ok(std::fs::File::create(logs.join(name))?.into())
        };
        match kind {
            SoundServer::Pulseaudio => {
                let mut c = env.command("pulseaudio");
                // No default script: no suspend-on-idle (it stalls output for seconds), no
                // hardware probing; only the native protocol, which clients speak. (Real-time
                // scheduling, as rtkit gives desktops, made no difference here.)
                c.args([
                    "--daemonize=no",
                    "-n",
                    "--load=module-native-protocol-unix",
                    "--exit-idle-time=-1",
                    "--disallow-exit",
                    "--realtime=no",
                    "--high-priority=no",
                    "--log-level=notice",
                ])
                .stdout(Stdio::null())
                .stderr(log("pulseaudio.log")?);
                env.server
                    .push(c.spawn().context("starting pulseaudio (apt pulseaudio)")?);
            }
            SoundServer::Pipewire => {
                for (program, logname) in [
                    ("pipewire", "pipewire.log"),
                    ("pipewire-pulse", "pipewire-pulse.log"),
                    ("wireplumber", "wireplumber.log"),
                ] {
                    let mut c = env.command(program);
                    c.stdout(Stdio::null()).stderr(log(logname)?);
                    env.server.push(c.spawn().with_context(|| {
                        format!("starting {program} (apt pipewire pipewire-pulse wireplumber; run under dbus-run-session)")
                    })?);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            SoundServer::Jack => {
                // One name for every run (a stale registration is replaced, not added to).
                let name = "tutti-bench".to_owned();
                let mut c = env.command("jackd");
                // Not real-time: as root in a container the dummy backend runs without it.
                c.args(["-n", &name, "--no-realtime", "-d", "dummy", "-r", "48000"])
                    .args(["-p", &jack_period.to_string()])
                    .stdout(Stdio::null())
                    .stderr(log("jackd.log")?);
                env.server
                    .push(c.spawn().context("starting jackd (apt jackd2)")?);
                env.jack = Some(name);
                for _ in 0..100 {
                    let up = env.command("jack_lsp").output().await;
                    if up.is_ok_and(|o| o.status.success()) {
                        return Ok(env);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                bail!("jackd did not come up; see {}", env.dir.display())
            }
        }
        for _ in 0..100 {
            if env.pactl(&["info"]).await.is_ok() {
                return Ok(env);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the sound server did not come up; see {}",
            env.dir.display()
        )
    }

    async fn pactl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command("pactl")
            .args(args)
            .output()
            .await
            .context("running pactl (apt pulseaudio-utils)")?;
        if !out.status.success() {
            bail!(
                "pactl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// One 4-channel sink that two speakers play into: `a` on channels 1–2, `b` on 3–4, so
    /// that one recording holds both on one sample clock.
    pub(crate) async fn room(&self, room: &str, a: &str, b: &str) -> anyhow::Result<()> {
        self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={room}"),
            "rate=48000",
            "channels=4",
            "channel_map=aux0,aux1,aux2,aux3",
            "format=float32le",
            &format!("sink_properties=device.description={room}"),
        ])
        .await?;
        for (name, channels) in [(a, "aux0,aux1"), (b, "aux2,aux3")] {
            self.pactl(&[
                "load-module",
                "module-remap-sink",
                &format!("sink_name={name}"),
                &format!("master={room}"),
                "channels=2",
                &format!("master_channel_map={channels}"),
                "channel_map=front-left,front-right",
                "remix=no",
                &format!("sink_properties=device.description={name}"),
            ])
            .await?;
        }
        Ok(())
    }

    /// One direction's bus: `mic` (what `from` captures) and `speaker` (where `to` plays).
    async fn bus(&self, bus: &str, mic: &str, speaker: &str) -> anyhow::Result<()> {
        self.pactl(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={bus}"),
            "rate=48000",
            "channels=4",
            "channel_map=aux0,aux1,aux2,aux3",
            "format=float32le",
            &format!("sink_properties=device.description={bus}"),
        ])
        .await?;
        self.pactl(&[
            "load-module",
            "module-remap-source",
            &format!("source_name={mic}"),
            &format!("master={bus}.monitor"),
            "channels=2",
            "master_channel_map=aux0,aux1",
            "channel_map=front-left,front-right",
            "remix=no",
            &format!("source_properties=device.description={mic}"),
        ])
        .await?;
        self.pactl(&[
            "load-module",
            "module-remap-sink",
            &format!("sink_name={speaker}"),
            &format!("master={bus}"),
            "channels=2",
            "master_channel_map=aux2,aux3",
            "channel_map=front-left,front-right",
            "remix=no",
            &format!("sink_properties=device.description={speaker}"),
        ])
        .await?;
        Ok(())
    }
}

impl Drop for SoundEnv {
    fn drop(&mut self) {
        for c in &mut self.server {
            if self.jack.is_some()
                && let Some(pid) = c.id()
            {
                // Asked to stop: a killed jackd leaves its registration in /dev/shm, and after
                // a few of those no server starts ("Too many servers already active").
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status();
                for _ in 0..50 {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let _ = c.start_kill();
        }
    }
}

/// The 660 Hz tone's level going in.
pub(crate) const TONE: f32 = 0.3;
pub(crate) const TONE_HZ: f64 = 660.0;
/// A click: 1 ms at 0.8, once a second (a second apart, so that a delay up to a second pairs).
pub(crate) const CLICK_EVERY: usize = 48_000;
pub(crate) const CLICK_LEN: usize = 48;

/// `seconds` of what goes into a bus: clicks left, tone right, nothing on the speaker's half.
fn feed(seconds: f64) -> Vec<u8> {
    let n = (seconds * 48_000.0) as usize;
    let mut out = Vec::with_capacity(n * 16);
    for i in 0..n {
        let click = if i % CLICK_EVERY < CLICK_LEN {
            0.8f32
        } else {
            0.0
        };
        let tone = (std::f64::consts::TAU * TONE_HZ * i as f64 / 48_000.0).sin() as f32 * TONE;
        for s in [click, tone, 0.0, 0.0] {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    out
}

const RAW: [&str; 4] = [
    "--format=float32le",
    "--rate=48000",
    "--channels=4",
    "--channel-map=aux0,aux1,aux2,aux3",
];

/// Plays `seconds` of the feed into `bus`, through a client that buffers `latency_ms`.
fn start_feeder(env: &SoundEnv, bus: &str, seconds: f64, latency_ms: u32) -> anyhow::Result<Child> {
    let mut c = env.command("pacat");
    c.args(["--playback", &format!("--device={bus}")])
        .args(RAW)
        .arg(format!("--latency-msec={latency_ms}"))
        .arg("--raw")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().context("starting pacat")?;
    let mut stdin = child.stdin.take().context("pacat stdin")?;
    let data = feed(seconds);
    tokio::spawn(async move {
        let _ = stdin.write_all(&data).await;
    });
    Ok(child)
}

/// Records the whole bus; the samples come back when it is stopped.
pub(crate) fn start_recorder(
    env: &SoundEnv,
    bus: &str,
) -> anyhow::Result<(Child, tokio::task::JoinHandle<Vec<f32>>)> {
    let mut c = env.command("parec");
    c.args([&format!("--device={bus}.monitor")])
        .args(RAW)
        .arg("--latency-msec=20")
        .arg("--raw")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().context("starting parec")?;
    let mut stdout = child.stdout.take().context("parec stdout")?;
    let task = tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes).await;
        le_floats(&bytes)
    });
    Ok((child, task))
}

/// Raw float32le samples, as parec and the JACK tap write them.
fn le_floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Both cores kept busy for `seconds` (stress-ng), as a student's laptop running other things.
pub(crate) fn start_hog(env: &SoundEnv, seconds: f64) -> anyhow::Result<Child> {
    env.command("stress-ng")
        .args(["--cpu", "2", "--timeout"])
        .arg(format!("{}s", seconds.ceil() as u64))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting stress-ng (apt stress-ng)")
}

/// The last `{"peer":…}` line a peer printed (what it showed about the other), if any.
async fn peer_report(child: &mut Child) -> Option<serde_json::Value> {
    let out = child.stdout.take()?;
    let mut lines = BufReader::new(out).lines();
    let mut last = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if line.starts_with("{\"") {
            last = serde_json::from_str(&line).ok();
        }
    }
    last
}

pub async fn devices(args: DevicesArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let jack = args.sound_server == SoundServer::Jack;
    if jack && (args.chromium || args.mic_blocks_ms.is_some()) {
        bail!("--chromium and --mic-blocks-ms are for PulseAudio and PipeWire, not JACK");
    }
    let env = SoundEnv::start_with(args.sound_server, args.jack_period).await?;
    let (mut server, url, data) = start_server(args.server_bin.as_ref(), false).await?;

    // Long enough for setting up, measuring, and leaving.
    let mut total = args.seconds + args.settle + 15.0;
    if args.chromium {
        total += args.seconds + args.settle + 15.0;
    }
    // What plays into the microphones and records the speakers: the sound server's own
    // clients (pacat, parec) on two buses, or the benchmark's JACK client.
    let mut feeders = Vec::new();
    let recordings: tokio::task::JoinHandle<(Vec<f32>, Vec<f32>)>;
    let mut tap_in = None;
    if jack {
        let mut tap = env.command(me.to_str().unwrap_or("tutti-peer"));
        tap.args(["bench", "jack-tap", "--seconds", &total.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut tap = tap.spawn().context("starting the JACK tap")?;
        tap_in = tap.stdin.take();
        let mut out = tap.stdout.take().context("tap stdout")?;
        feeders.push(tap);
        recordings = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes).await;
            let all = le_floats(&bytes);
            let mut ab = Vec::with_capacity(all.len() / 2);
            let mut ba = Vec::with_capacity(all.len() / 2);
            for frame in all.chunks_exact(8) {
                ab.extend_from_slice(&frame[..4]);
                ba.extend_from_slice(&frame[4..]);
            }
            (ab, ba)
        });
    } else {
        env.bus("tutti_ab", "TuttiMicA", "TuttiSpeakerB").await?;
        env.bus("tutti_ba", "TuttiMicB", "TuttiSpeakerA").await?;
        let feed_latency = args.mic_blocks_ms.unwrap_or(10);
        feeders.push(start_feeder(&env, "tutti_ab", total, feed_latency)?);
        feeders.push(start_feeder(&env, "tutti_ba", total, feed_latency)?);
        let (rec_ab, rec_ab_task) = start_recorder(&env, "tutti_ab")?;
        let (rec_ba, rec_ba_task) = start_recorder(&env, "tutti_ba")?;
        feeders.extend([rec_ab, rec_ba]);
        recordings = tokio::spawn(async move {
            let ab = rec_ab_task.await.unwrap_or_default();
            let ba = rec_ba_task.await.unwrap_or_default();
            (ab, ba)
        });
    }
    // The peers name their JACK clients after their process ids: the tap is told them.
    let mut tell_tap = async |side: &str, child: &Child| {
        if let (Some(stdin), Some(pid)) = (tap_in.as_mut(), child.id()) {
            let _ = stdin.write_all(format!("{side} {pid}\n").as_bytes()).await;
        }
    };

    let frame = args.frame_ms.to_string();
    let audio_host = if jack { "jack" } else { &args.audio_host };
    let buffer = args.device_buffer.to_string();
    let peer = |role: &[&str], mic: &str, speaker: &str, seconds: f64| {
        let mut c = env.command(me.to_str().unwrap_or("tutti-peer"));
        c.args(role)
            .args(["--server", &url, "--frame-ms", &frame, "--udp", "127.0.0.1"])
            .args(["--device-buffer", &buffer, "--audio-host", audio_host])
            .args(["--source", &format!("mic:{mic}"), "--speaker", speaker])
            .args(["--seconds", &seconds.to_string(), "--report-stats"])
            .args(["--stats-every", "3"])
            .stdout(Stdio::piped())
            .env(
                "RUST_LOG",
                std::env::var("TUTTI_BENCH_LOG")
                    .unwrap_or_else(|_| "warn,rtc_ice=error,rtc_dtls=error".into()),
            );
        c
    };
    let mut host = spawn(&mut peer(
        &["host", "--name", "bench-a"],
        "TuttiMicA",
        "TuttiSpeakerA",
        args.seconds + args.settle + 6.0,
    ))?;
    tell_tap("a", &host).await;
    let mut host_out = BufReader::new(host.stdout.take().context("host stdout")?).lines();
    let code = line_with(&mut host_out, "invite: ").await?;
    // Keep the host's report: its last `{"peer":…}` line is what A heard of B.
    let host_report = tokio::spawn(async move {
        let mut last = None;
        while let Ok(Some(line)) = host_out.next_line().await {
            if line.starts_with("{\"") {
                last = serde_json::from_str::<serde_json::Value>(&line).ok();
            }
        }
        last
    });
    let mut student = spawn(&mut peer(
        &["join", &code, "--name", "bench-b"],
        "TuttiMicB",
        "TuttiSpeakerB",
        args.seconds + args.settle + 5.0,
    ))?;
    tell_tap("b", &student).await;
    let hog = if args.hog {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Some(start_hog(&env, args.seconds + args.settle + 3.0)?)
    } else {
        None
    };
    let student_report = peer_report(&mut student).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), student.wait()).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), host.wait()).await;
    let host_report = host_report.await.ok().flatten();
    let mut rest = vec![host];
    rest.extend(feeders);
    rest.extend(hog);
    for c in &mut rest {
        let _ = c.start_kill();
    }
    let (ab, ba) = recordings.await?;
    let _ = server.start_kill();
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&data);

    if let Some(dir) = &args.keep {
        std::fs::create_dir_all(dir)?;
        for (name, rec) in [("a_to_b.wav", &ab), ("b_to_a.wav", &ba)] {
            save(&dir.join(name), rec)?;
        }
    }
    let mut lines = Vec::new();
    for (direction, rec, shown) in [
        ("a_to_b", &ab, &student_report),
        ("b_to_a", &ba, &host_report),
    ] {
        let h = measure(rec, args.settle);
        if !args.json {
            describe(direction, &h, shown.as_ref());
        }
        lines.push(json_line(&args, direction, &h, shown.as_ref()));
    }
    if ab.is_empty() && ba.is_empty() {
        bail!("nothing was recorded from the sound server");
    }
    if args.chromium {
        let (h, shown) = chromium(&env, &args).await?;
        if !args.json {
            describe("chromium a_to_b", &h, Some(&shown));
        }
        let mut line = json_line(&args, "a_to_b", &h, None);
        line["stack"] = "chromium".into();
        line["shown_jitter_buffer_ms"] = shown["jitter_buffer_ms"].clone();
        lines.push(line);
    }
    let _ = std::fs::remove_dir_all(&env.dir);
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// A call through Chromium's WebRTC, A's microphone to B's speaker, recorded and measured as
/// Tutti's was.
async fn chromium(
    env: &SoundEnv,
    args: &DevicesArgs,
) -> anyhow::Result<(Heard, serde_json::Value)> {
    let script = std::env::current_dir()?.join("tests/app/chromium-call.mjs");
    if !script.exists() {
        bail!(
            "{} not found: run the benchmark from the repository (make bench-devices)",
            script.display()
        );
    }
    let (rec, task) = start_recorder(env, "tutti_ab")?;
    let seconds = args.seconds + args.settle + 2.0;
    // The same clicks and tone into A's microphone as Tutti had (theirs ended with its run).
    let mut feeder = start_feeder(
        env,
        "tutti_ab",
        seconds + 5.0,
        args.mic_blocks_ms.unwrap_or(10),
    )?;
    let mut node = env.command("node");
    node.arg(&script)
        .args([
            "--mic",
            "TuttiMicA",
            "--speaker",
            "TuttiSpeakerB",
            "--seconds",
        ])
        .arg(seconds.to_string())
        .env(
            "PULSE_SERVER",
            format!("unix:{}", env.dir.join("xdg/pulse/native").display()),
        )
        .stdout(Stdio::piped());
    let mut node = node
        .spawn()
        .context("starting node for the Chromium call")?;
    let out = node.stdout.take().context("node stdout")?;
    let mut lines = BufReader::new(out).lines();
    let mut shown = serde_json::Value::Null;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(v) = line
            .strip_prefix("{\"chromium\":")
            .and_then(|rest| rest.strip_suffix('}'))
        {
            shown = serde_json::from_str(v).unwrap_or_default();
        }
    }
    let status = node.wait().await?;
    let _ = feeder.start_kill();
    let mut rec = rec;
    let _ = rec.start_kill();
    let samples = task.await?;
    if !status.success() || shown.get("error").is_some() {
        bail!("the Chromium call failed: {shown}");
    }
    if let Some(dir) = &args.keep {
        save(&dir.join("chromium_a_to_b.wav"), &samples)?;
    }
    let h = measure(&samples, args.settle);
    Ok((h, shown))
}

/// One direction of a bus recording: clicks and tone in on channels 1–2, out on 3–4.
fn measure(samples: &[f32], settle_s: f64) -> Heard {
    heard(Through {
        samples,
        channels: 4,
        clicks_in: 0,
        tone_in: 1,
        clicks_out: 2,
        tone_out: 3,
        tone_hz: TONE_HZ,
        settle: (settle_s * 48_000.0) as usize,
    })
}

/// A 4-channel float WAV of a recording.
fn save(path: &std::path::Path, samples: &[f32]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for &s in samples {
        w.write_sample(s)?;
    }
    w.finalize()?;
    Ok(())
}

fn r1(x: f64) -> Option<f64> {
    x.is_finite().then(|| (x * 10.0).round() / 10.0)
}

fn describe(direction: &str, h: &Heard, shown: Option<&serde_json::Value>) {
    eprintln!(
        "{direction}: {}/{} clicks heard, mouth to ear p50 {:.1} ms p95 {:.1} ms p99 {:.1} ms; {:.2} % of {} 10-ms windows clean, {} dropouts (longest {} ms); the receiver showed {}",
        h.clicks_heard,
        h.clicks_sent,
        h.latency_pct(50.0),
        h.latency_pct(95.0),
        h.latency_pct(99.0),
        h.clean_pct(),
        h.windows,
        h.dropouts,
        h.longest_dropout_ms,
        shown.map_or("nothing".into(), |s| s.to_string()),
    );
}

fn json_line(
    args: &DevicesArgs,
    direction: &str,
    h: &Heard,
    shown: Option<&serde_json::Value>,
) -> serde_json::Value {
    let field = |k: &str| shown.and_then(|s| s.get(k)).cloned();
    serde_json::json!({
        "bench": "devices",
        "sound_server": args.sound_server.name(),
        "direction": direction,
        "frame_ms": args.frame_ms,
        "device_buffer": args.device_buffer,
        "audio_host": if args.sound_server == SoundServer::Jack { "jack" } else { &args.audio_host },
        "jack_period": (args.sound_server == SoundServer::Jack).then_some(args.jack_period),
        "hog": args.hog,
        "mic_blocks_ms": args.mic_blocks_ms,
        "settle_s": args.settle,
        "p50_ms": r1(h.latency_pct(50.0)),
        "p95_ms": r1(h.latency_pct(95.0)),
        "p99_ms": r1(h.latency_pct(99.0)),
        "clean_pct": (h.clean_pct() * 100.0).round() / 100.0,
        "dropouts": h.dropouts,
        "longest_dropout_ms": h.longest_dropout_ms,
        "clicks": h.clicks_sent,
        "clicks_heard": h.clicks_heard,
        "concealed_pct": field("concealed_pct"),
        "shown_one_way_ms": field("one_way_ms"),
    })
}
