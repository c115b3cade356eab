//! `tutti-peer`: a lesson participant without a window. A practice partner that plays a tone or
//! a click track, a recorder, a test client, and the audio latency benchmark.

mod bench;
mod devices;
mod ensemble;
#[cfg(target_os = "linux")]
mod jack_tap;
mod lessons;
mod together;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tutti_lesson::{
    AdmitPolicy, EngineConfig, Lesson, LessonEvent, MetronomeSettings, SourceError, parse_source,
};
use tutti_media::clock::monotonic_ns;
use tutti_media::device::{AudioHost, DeviceConfig, Playback};
use tutti_media::signal::{
    AudioSink, AudioSource, ClickDetector, MemorySink, NullSink, Silence, WavSink,
};
use tutti_media::{FrameDuration, MusicConfig};
use tutti_protocol::{ClientMessage, JoinRole, MetronomePlan, QuestionKind, ServerMessage};

#[derive(Debug, Parser)]
#[command(version, about = "A Tutti lesson participant without a window")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Opens a lesson, prints `invite: CODE`, and lets everyone who knocks in.
    Host {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Practice")]
        title: String,
        /// Print `audio-started-ns: N`: when sample 0 was captured, on CLOCK_MONOTONIC.
        #[arg(long)]
        report_clock: bool,
        #[command(flatten)]
        metronome: MetronomeArgs,
        #[command(flatten)]
        duet: DuetArgs,
    },
    /// Knocks with an invite code and takes part once admitted.
    Join {
        code: String,
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = RoleArg::Student)]
        role: RoleArg,
        /// At the end, print one JSON line with the playout time of every click heard.
        #[arg(long)]
        detect_clicks: bool,
        /// Impair the media path in user space: `loss=3,delay=20,jitter=10` (%, ms, ms), adding
        /// `media-only` to spare the connection's set-up.
        #[arg(long)]
        impair: Option<String>,
        /// Once admitted, put this question in the queue (may be given more than once).
        #[arg(long)]
        ask: Vec<String>,
        /// Once admitted, say this in the chat (may be given more than once).
        #[arg(long)]
        chat: Vec<String>,
        /// Ask a question and say something in the chat every this many seconds, as a lively
        /// class does (the soak benchmark's load); at the end, print `chatter: N ok, M failed`.
        #[arg(long, value_parser = parse_seconds)]
        chatter_every: Option<f64>,
        /// Play along in perfect time: answer every click heard with a click sent at the
        /// instant it was heard (in place of `--source`), for measuring leader–follower.
        #[arg(long)]
        answer_clicks: bool,
    },
    /// The connection check: tries the room server (HTTP and WebSocket), STUN, and its relay
    /// over UDP, TCP and TLS, and says what will work from this network. Exits 1 when no lesson
    /// could start or no sound could get through.
    Check {
        /// The room server's WebSocket, e.g. wss://tutti.example.org/ws.
        #[arg(long, default_value = "ws://127.0.0.1:8787/ws")]
        server: String,
        /// Print one JSON object instead of the text report.
        #[arg(long)]
        json: bool,
        /// Also trust this CA certificate (PEM): a self-hosted server's.
        #[arg(long)]
        trust_ca: Option<PathBuf>,
        /// Seconds each path is given.
        #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
        within: f64,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Capture-to-playout latency of a click train between two peers (separate processes) on
    /// loopback, through a room server; prints one JSON line last.
    Latency(bench::LatencyArgs),
    /// Video between two peers (separate processes) on loopback: the stamped test pattern at
    /// 640x480, 30 fps; prints one JSON line last.
    Video(bench::VideoArgs),
    /// Mouth to ear through a sound server the benchmark starts, both ways: clicks and a tone
    /// played into virtual microphones, recorded from virtual speakers; one JSON line per
    /// direction, last.
    Devices(devices::DevicesArgs),
    /// Playing together: the host's metronome as both speakers play it, through a sound
    /// server the benchmark starts, the student 70 ± 10 ms away; the shared clock's error; an
    /// hour of drifting sound cards, simulated. One JSON line last.
    Together(together::TogetherArgs),
    /// An ensemble of up to N players in a full mesh, each its own process on loopback: every
    /// pair's delay and each process's CPU against the number of players; one JSON line per
    /// size, the summary last.
    Ensemble(ensemble::EnsembleArgs),
    /// One room server and one engine open and end lessons in a row (a student joining
    /// each, both heard): resources of both against the number of lessons; one JSON line last.
    Lessons(lessons::LessonsArgs),
    /// The JACK client of `bench devices --sound-server jack` (run by it, not by hand).
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    JackTap {
        #[arg(long, value_parser = parse_seconds)]
        seconds: f64,
    },
}

/// The host's metronome, played by every machine from the shared clock.
#[derive(Debug, Args)]
struct MetronomeArgs {
    /// Run the metronome at this tempo (20–300 beats a minute) from the start.
    #[arg(long)]
    metronome: Option<f64>,
    /// Beats in a bar (the first accented).
    #[arg(long, default_value_t = 4)]
    beats: u8,
    /// Bars counted in.
    #[arg(long, default_value_t = 1)]
    count_in: u8,
}

/// Leader–follower playing, as the host leads.
#[derive(Debug, Args)]
struct DuetArgs {
    /// Lead: the first participant heard follows, and the last half-minute of both parts is
    /// kept, the follower's placed back by how late it heard us.
    #[arg(long)]
    lead: bool,
    /// At the end, write the last `--duet-seconds` of the duet, aligned, to this WAV file
    /// (left: our part; right: the follower's). Implies `--lead`.
    #[arg(long)]
    duet_replay: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    duet_seconds: f64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HostArg {
    Auto,
    Pulseaudio,
    Cpal,
    Jack,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Student,
    Observer,
}

#[derive(Debug, Args)]
struct Common {
    /// Record the lesson into this directory: a WAV file per participant's part (ours as
    /// captured, theirs as received, on one timeline) and lesson.json listing them.
    #[arg(long)]
    record_lesson: Option<std::path::PathBuf>,
    /// As host: keep the takes participants send (their own tracks, lossless) in this
    /// directory.
    #[arg(long)]
    take_inbox: Option<std::path::PathBuf>,
    /// As a participant recording (`--record-lesson`): when the recording stops, send our own
    /// track to the host, and stay until it is there (at most a minute).
    #[arg(long)]
    send_take: bool,
    /// The room server's WebSocket URL.
    #[arg(long, env = "TUTTI_SERVER", default_value = "ws://127.0.0.1:8787/ws")]
    server: String,
    #[arg(long, default_value = "tutti-peer")]
    name: String,
    /// What to send: mic[:NAME] (a sound card), tone[:HZ], clicks[:MS], wav:FILE, silence.
    #[arg(long, default_value = "tone:440")]
    source: String,
    /// Play what is heard on a sound card (the default one, or the one named).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    speaker: Option<String>,
    /// Frames per sound-card buffer (PulseAudio needs a fixed size).
    #[arg(long, default_value_t = 240)]
    device_buffer: u32,
    /// The audio system: `auto` (PulseAudio's protocol where a PulseAudio or PipeWire server
    /// runs, else the platform's own), `pulseaudio`, `cpal` (cpal's default host), or `jack`
    /// (a running JACK server, or PipeWire's JACK: the server's period, ports connected to the
    /// system's; `--device-buffer` does not apply).
    #[arg(long, value_enum, default_value_t = HostArg::Auto)]
    audio_host: HostArg,
    /// Opus frame length in ms: 2.5, 5, 10 or 20.
    #[arg(long, default_value_t = 5.0)]
    frame_ms: f64,
    /// Record what is heard to a WAV file (48 kHz stereo float).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Leave after this many seconds (default: run until Ctrl-C or the lesson ends).
    #[arg(long, value_parser = parse_seconds)]
    seconds: Option<f64>,
    /// Local address for media (e.g. 127.0.0.1 to stay on loopback).
    #[arg(long, default_value = "0.0.0.0")]
    udp: std::net::IpAddr,
    /// Media only through the room server's relay (hides our address from the others).
    #[arg(long)]
    relay_only: bool,
    /// Before leaving, print one JSON line per participant heard: path, round trip, level,
    /// delays.
    #[arg(long)]
    report_stats: bool,
    /// Also print those lines every this many seconds on the way.
    #[arg(long, value_parser = parse_seconds)]
    stats_every: Option<f64>,
    /// Also trust this CA certificate (PEM) for the room server's wss:// and the relay's TLS
    /// (a self-hosted server).
    #[arg(long)]
    trust_ca: Option<PathBuf>,
    /// Video: `camera[:NAME]` sends a camera's picture, `test-pattern` the stamped
    /// pattern at 30 fps (`--video-size`), `receive` only receives. Without a camera, video is receive-only and
    /// the lesson goes on.
    #[arg(long, value_parser = parse_video_mode)]
    video: Option<String>,
    /// Before leaving, print one JSON line about the video received: pictures, their stamps'
    /// glass-to-glass delays.
    #[arg(long)]
    video_report: bool,
    /// The size of the pictures sent (`test-pattern` and cameras), WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480", value_parser = parse_video_size)]
    video_size: (u32, u32),
}

impl Common {
    fn music(&self) -> anyhow::Result<MusicConfig> {
        let frame = FrameDuration::from_millis(self.frame_ms)
            .with_context(|| format!("--frame-ms {}: use 2.5, 5, 10 or 20", self.frame_ms))?;
        Ok(MusicConfig {
            frame,
            ..MusicConfig::default()
        })
    }

    fn engine(&self, admit: AdmitPolicy) -> anyhow::Result<EngineConfig> {
        let trust_ca_pem = match &self.trust_ca {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("--trust-ca {}", path.display()))?;
                // Said now, not as a warning once a lesson is under way.
                tutti_media::tcp_turn::client_tls(Some(&pem))
                    .map_err(|e| anyhow::anyhow!("--trust-ca {}: {e}", path.display()))?;
                Some(pem)
            }
            None => None,
        };
        Ok(EngineConfig {
            trust_ca_pem,
            video: self.video.is_some(),
            music: self.music()?,
            udp_addrs: vec![std::net::SocketAddr::new(self.udp, 0).to_string()],
            relay_only: self.relay_only,
            admit,
            take_inbox: self.take_inbox.clone(),
            ..EngineConfig::new(&self.server, &self.name)
        })
    }

    /// How sound cards are opened (the name aside).
    fn device(&self) -> DeviceConfig {
        DeviceConfig {
            name: None,
            buffer_frames: Some(self.device_buffer),
            host: match self.audio_host {
                HostArg::Auto => AudioHost::Auto,
                HostArg::Pulseaudio => AudioHost::PulseAudio,
                HostArg::Cpal => AudioHost::Cpal,
                HostArg::Jack => AudioHost::Jack,
            },
        }
    }

    fn sink(&self) -> anyhow::Result<Box<dyn AudioSink>> {
        if let Some(name) = &self.speaker {
            let cfg = DeviceConfig {
                name: (!name.is_empty()).then(|| name.clone()),
                ..self.device()
            };
            match Playback::open(&cfg) {
                Ok(p) => return Ok(Box::new(p)),
                // The lesson goes on: we still send, and the others still hear us.
                Err(e) => tracing::warn!("no sound out: {e}"),
            }
        }
        Ok(match &self.record {
            Some(path) => Box::new(WavSink::create(path)?),
            None => Box::new(NullSink),
        })
    }

    /// The source to send; a microphone that cannot be opened leaves us receive-only.
    fn source(&self) -> anyhow::Result<Box<dyn AudioSource>> {
        match parse_source(&self.source, &self.device()) {
            Ok(s) => Ok(s),
            Err(SourceError::Device(e)) => {
                tracing::warn!("no microphone, so receive-only: {e}");
                Ok(Box::new(Silence))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Host {
            common,
            title,
            report_clock,
            metronome,
            duet,
        } => host(common, &title, report_clock, metronome, duet).await,
        Command::Join {
            code,
            common,
            role,
            detect_clicks,
            impair,
            ask,
            chat,
            chatter_every,
            answer_clicks,
        } => {
            let role = match role {
                RoleArg::Student => JoinRole::Student,
                RoleArg::Observer => JoinRole::Observer,
            };
            let said = Said {
                questions: ask,
                chat,
                every: chatter_every,
            };
            let how = JoinHow {
                role,
                detect_clicks,
                answer_clicks,
            };
            join(common, &code, how, impair.as_deref(), said).await
        }
        Command::Check {
            server,
            json,
            trust_ca,
            within,
        } => check(&server, json, trust_ca.as_deref(), within).await,
        Command::Bench(BenchCommand::Latency(args)) => bench::latency(args).await,
        Command::Bench(BenchCommand::Video(args)) => bench::video(args).await,
        Command::Bench(BenchCommand::Ensemble(args)) => ensemble::ensemble(args).await,
        Command::Bench(BenchCommand::Lessons(args)) => lessons::lessons(args).await,
        Command::Bench(BenchCommand::Devices(args)) => devices::devices(args).await,
        Command::Bench(BenchCommand::Together(args)) => together::together(args).await,
        #[cfg(target_os = "linux")]
        Command::Bench(BenchCommand::JackTap { seconds }) => {
            tokio::task::spawn_blocking(move || jack_tap::run(seconds)).await?
        }
    }
}

async fn check(
    server: &str,
    json: bool,
    trust_ca: Option<&std::path::Path>,
    within: f64,
) -> anyhow::Result<()> {
    use tutti_lesson::check::{self, CheckOptions, Verdict};
    let trust_ca_pem = match trust_ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("--trust-ca {}", path.display()))?)
        }
        None => None,
    };
    let opts = CheckOptions {
        trust_ca_pem,
        // Half a second to a minute: anything else is a typo, and 1e20 s would not fit.
        within: Duration::from_secs_f64(within.clamp(0.5, 60.0)),
        ..CheckOptions::new(server)
    };
    let report = check::run(&opts).await;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    if matches!(
        report.verdict,
        Verdict::ServerUnreachable | Verdict::NoMedia
    ) {
        std::process::exit(1);
    }
    Ok(())
}

/// How a peer takes part.
struct JoinHow {
    role: JoinRole,
    detect_clicks: bool,
    answer_clicks: bool,
}

/// What a joining peer says once admitted.
struct Said {
    questions: Vec<String>,
    chat: Vec<String>,
    /// Both again, numbered, every this many seconds.
    every: Option<f64>,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn host(
    common: Common,
    title: &str,
    report_clock: bool,
    metronome: MetronomeArgs,
    duet: DuetArgs,
) -> anyhow::Result<()> {
    let music = common.music()?;
    // Sound first: a source or file that cannot be used must not leave behind a lesson (and an
    // invite code) that nobody is in.
    let (source, sink) = (common.source()?, common.sink()?);
    let mut lesson = Lesson::host(common.engine(AdmitPolicy::Everyone)?, title)
        .await
        .context("opening the lesson")?;
    say(&format!("invite: {}", lesson.invite_code()));
    lesson.start_audio(source, sink, music)?;
    let mut marks = Marks::default();
    start_recording(&lesson, common.record_lesson.as_deref(), &mut marks)?;
    if let Some(bpm) = metronome.metronome {
        lesson
            .handle()
            .set_metronome(Some(MetronomeSettings {
                bpm,
                accents: MetronomePlan::accents_for(metronome.beats),
                count_in_bars: metronome.count_in,
            }))
            .context("--metronome")?;
    }
    let _watch = start_video(&common, &mut lesson)?;
    if report_clock && let Some(started) = lesson.audio_started() {
        say(&format!("audio-started-ns: {}", monotonic_ns(started)));
    }
    let lead = duet.lead || duet.duet_replay.is_some();
    follow(
        &mut lesson,
        common.seconds,
        common.stats_every,
        None,
        lead,
        &mut marks,
    )
    .await;
    if let Some(path) = &duet.duet_replay {
        write_duet(&lesson, path, duet.duet_seconds)?;
    }
    finish_recording(&lesson, common.record_lesson.as_deref(), &marks)?;
    report(&lesson);
    if common.report_stats {
        print_peer_stats(&lesson).await;
    }
    lesson.leave().await;
    Ok(())
}

/// Marks on the recording's timeline: the questions asked while it ran (by when the room
/// server says they were asked), for lesson.json.
#[derive(Default)]
struct Marks {
    /// When the recording's timeline began (none: not recording).
    since: Option<tutti_protocol::UnixMs>,
    seen: std::collections::HashSet<tutti_protocol::QuestionId>,
    list: Vec<(f64, String)>,
}

impl Marks {
    fn question(&mut self, q: &tutti_protocol::Question) {
        if !self.seen.insert(q.id) || q.pre_lesson {
            return;
        }
        if let Some(since) = self.since.filter(|s| q.asked_at.0 >= s.0) {
            self.list
                .push(((q.asked_at.0 - since.0) as f64 / 1e3, q.text.clone()));
        }
    }
}

fn start_recording(
    lesson: &Lesson,
    dir: Option<&std::path::Path>,
    marks: &mut Marks,
) -> anyhow::Result<()> {
    if let Some(dir) = dir {
        marks.since = Some(tutti_protocol::UnixMs::now());
        lesson
            .handle()
            .start_recording(dir)
            .with_context(|| format!("recording into {}", dir.display()))?;
        say(&format!("recording: {}", dir.display()));
    }
    Ok(())
}

/// Stops the recording, mixes its tracks down to `mix.opus` and lists them in `lesson.json`
/// beside them (and says so).
fn finish_recording(
    lesson: &Lesson,
    dir: Option<&std::path::Path>,
    marks: &Marks,
) -> anyhow::Result<Vec<tutti_media::recorder::Track>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let (tracks, stopped_early) = match lesson.handle().stop_recording() {
        Ok(tracks) => (tracks, None),
        Err((e, kept)) => {
            tracing::warn!(error = %e, "the recording stopped early; what it kept is listed");
            (kept, Some(e.to_string()))
        }
    };
    // The mix beside the tracks (what a crash or a full disk left included).
    let mix = (!tracks.is_empty()).then(|| {
        let file = dir.join("mix.opus");
        match tutti_media::recorder::mix_down(&tracks, &file, &lesson.info.title) {
            Ok(seconds) => serde_json::json!({ "file": "mix.opus", "seconds": seconds }),
            Err(e) => {
                tracing::warn!(error = %e, "no mix");
                serde_json::json!({ "error": e.to_string() })
            }
        }
    });
    let listing = serde_json::json!({
        "lesson": lesson.info.title,
        "stopped_early": stopped_early,
        "mix": mix,
        "sample_rate": tutti_media::SAMPLE_RATE,
        "tracks": tracks.iter().map(|t| serde_json::json!({
            "name": t.name,
            "file": t.file.file_name().map(|f| f.to_string_lossy()),
            "start_s": t.start_s,
            "seconds": t.seconds,
        })).collect::<Vec<_>>(),
        "marks": marks.list.iter().map(|(at_s, text)| serde_json::json!({
            "at_s": at_s,
            "kind": "question",
            "text": text,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join("lesson.json"),
        serde_json::to_vec_pretty(&listing)?,
    )
    .context("writing lesson.json")?;
    say(&format!("recorded: {listing}"));
    Ok(tracks)
}

/// Sends our own track of the recording to the host and waits (a minute at most) until the
/// host has it, verified, or says why not.
async fn send_take(
    lesson: &mut Lesson,
    tracks: &[tutti_media::recorder::Track],
) -> anyhow::Result<()> {
    let Some(own) = tracks.iter().find(|t| t.own) else {
        return Ok(());
    };
    let take = tutti_media::take_transfer::TakeToSend::of_file(
        &own.file,
        &own.name,
        own.start_s,
        own.seconds,
    )
    .context("reading our track")?;
    say(&format!(
        "take: sending {} ({} bytes, sha256 {})",
        own.file.display(),
        take.bytes,
        take.sha256
    ));
    lesson.handle().send_take(take);
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match lesson.next_event().await {
                Some(LessonEvent::TakeDelivered(path)) => {
                    say(&format!("take: delivered {}", path.display()));
                    return;
                }
                Some(LessonEvent::TakeNotDelivered { path, reason }) => {
                    say(&format!("take: not delivered {}: {reason}", path.display()));
                    return;
                }
                None | Some(LessonEvent::Over(_)) => return,
                Some(_) => {}
            }
        }
    })
    .await;
    if waited.is_err() {
        say("take: not delivered within a minute");
    }
    Ok(())
}

/// Writes the last `seconds` of the duet, aligned, to `path` (left: our part, right: the
/// follower's), and says how it was aligned.
fn write_duet(lesson: &Lesson, path: &std::path::Path, seconds: f64) -> anyhow::Result<()> {
    let (clip, alignment) = lesson
        .handle()
        .duet_clip(seconds)
        .context("the aligned duet")?;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: tutti_media::SAMPLE_RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("writing {}", path.display()))?;
    for (a, b) in clip.own.iter().zip(&clip.theirs) {
        w.write_sample(*a)?;
        w.write_sample(*b)?;
    }
    w.finalize()?;
    say(&format!(
        "duet: {}",
        serde_json::json!({
            "file": path,
            "seconds": clip.len() as f64 / f64::from(tutti_media::SAMPLE_RATE),
            "follow": format!("{:?}", alignment.follow).to_lowercase(),
            "heard_after_ms": alignment.heard_after_ns / 1e6,
        })
    ));
    Ok(())
}

async fn join(
    common: Common,
    code: &str,
    how: JoinHow,
    impair: Option<&str>,
    said: Said,
) -> anyhow::Result<()> {
    let JoinHow {
        role,
        detect_clicks,
        answer_clicks,
    } = how;
    let music = common.music()?;
    let mut engine = common.engine(AdmitPolicy::Manual)?;
    let _impairment = match impair {
        Some(spec) => {
            let imp = tutti_media::impair::ImpairmentConfig::parse(spec)?;
            let proxy = tutti_media::impair::ImpairedPath::start(imp).await?;
            engine.candidate_rewrite = Some(proxy.rewriter());
            Some(proxy)
        }
        None => None,
    };
    tracing::info!("knocking; waiting for the host to let us in");
    // Sound first, so that a bad source or file is said before knocking, not after admission.
    let clicks = MemorySink::default();
    let sink: Box<dyn AudioSink> = if detect_clicks {
        Box::new(clicks.clone())
    } else {
        common.sink()?
    };
    let (sink, source): (Box<dyn AudioSink>, Box<dyn AudioSource>) = if answer_clicks {
        let (ear, mic) = tutti_media::answer::answerer(sink);
        (Box::new(ear), Box::new(mic))
    } else {
        (sink, common.source()?)
    };
    let mut lesson = Lesson::join(engine, code, role).await.context("joining")?;
    tracing::info!(lesson = %lesson.info.title, "admitted");
    lesson.start_audio(source, sink, music)?;
    let mut marks = Marks::default();
    start_recording(&lesson, common.record_lesson.as_deref(), &mut marks)?;
    let watch = start_video(&common, &mut lesson)?;
    for text in said.questions {
        let reply = lesson
            .request(ClientMessage::AskQuestion {
                text,
                kind: QuestionKind::Text,
                anonymous: false,
            })
            .await
            .context("asking")?;
        if let ServerMessage::QuestionAsked { question, .. } = reply {
            say(&format!("asked: {question}"));
        }
    }
    for text in said.chat {
        lesson
            .request(ClientMessage::Chat { text })
            .await
            .context("chatting")?;
    }
    let chatter = follow(
        &mut lesson,
        common.seconds,
        common.stats_every,
        said.every,
        false,
        &mut marks,
    )
    .await;
    if said.every.is_some() {
        say(&format!("chatter: {} ok, {} failed", chatter.0, chatter.1));
    }
    if let (Some(watch), true) = (&watch, common.video_report) {
        say(&watch.report());
    }
    let stats = lesson.receive_stats();
    let tracks = finish_recording(&lesson, common.record_lesson.as_deref(), &marks)?;
    if common.send_take {
        send_take(&mut lesson, &tracks).await?;
    }
    report(&lesson);
    if common.report_stats {
        print_peer_stats(&lesson).await;
    }
    lesson.leave().await;
    if detect_clicks {
        let got = clicks.take();
        let mut detector = ClickDetector::new(0.3, 100);
        detector.scan(&got.samples);
        let ready_ns: Vec<u64> = detector
            .onsets()
            .iter()
            .filter_map(|&p| got.ready_at(p))
            .map(monotonic_ns)
            .collect();
        let s = stats.first().map(|(_, s)| *s).unwrap_or_default();
        let line = serde_json::json!({
            "ready_ns": ready_ns,
            "played": s.played,
            "recovered": s.recovered,
            "concealed": s.concealed,
            "inserted": s.inserted,
            "slowed": s.slowed,
            "late": s.late,
            "received": s.received,
        });
        say(&line.to_string());
    }
    Ok(())
}

/// Logs the lesson's events until the time is up, Ctrl-C, or the lesson is over for us.
/// Follows the lesson until `seconds` have passed, Ctrl-C, or its end; with `report_every`,
/// prints the statistics of everyone heard that often on the way.
/// With `chatter_every`, asks a question and chats that often; returns how many of those
/// requests were answered and how many failed.
/// With `lead`, the first participant heard follows us (leader–follower playing).
async fn follow(
    lesson: &mut Lesson,
    seconds: Option<f64>,
    report_every: Option<f64>,
    chatter_every: Option<f64>,
    lead: bool,
    marks: &mut Marks,
) -> (u64, u64) {
    let mut chatter = tokio::time::interval(Duration::from_secs_f64(
        chatter_every.unwrap_or(3600.0).max(0.1),
    ));
    chatter.tick().await;
    // Counted by the tasks that send them: a request waits up to its timeout while the room
    // server is cut off, and that must not hold up the stats lines or the lesson's events.
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut n = 0u64;
    let mut follower = None;
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut every = tokio::time::interval(Duration::from_secs_f64(
        report_every.unwrap_or(3600.0).max(0.1),
    ));
    every.tick().await;
    let report = report_every.is_some();
    loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = until => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = every.tick(), if report => print_peer_stats(lesson).await,
            _ = chatter.tick(), if chatter_every.is_some() => {
                n += 1;
                let ask = ClientMessage::AskQuestion {
                    text: format!("Question {n}: 활을 어떻게 잡아요?"),
                    kind: QuestionKind::Text,
                    anonymous: false,
                };
                let chat = ClientMessage::Chat { text: format!("Message {n}") };
                let (handle, answered, failed) = (lesson.handle(), answered.clone(), failed.clone());
                tokio::spawn(async move {
                    for m in [ask, chat] {
                        let count = match handle.request(m).await {
                            Ok(_) => &answered,
                            Err(e) => {
                                tracing::debug!(error = %e, "chatter not answered");
                                &failed
                            }
                        };
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
            event = lesson.next_event() => match event {
                None => break,
                Some(LessonEvent::Over(why)) => {
                    tracing::info!("{why}");
                    say(&format!("over: {why}"));
                    break;
                }
                Some(LessonEvent::Knocking(k)) => tracing::info!("{} knocks", k.name),
                Some(LessonEvent::KnockWithdrawn(p)) => tracing::info!(peer = %p, "stopped knocking"),
                Some(LessonEvent::Participant(p)) => tracing::info!(peer = %p.peer, connected = p.connected, mic = p.mic, "{}", p.name),
                Some(LessonEvent::Left(p)) => tracing::info!(peer = %p, "left"),
                Some(LessonEvent::Link { peer, state }) => tracing::info!(%peer, ?state, "media"),
                Some(LessonEvent::Hearing(p)) => {
                    tracing::info!(peer = %p, "hearing");
                    say(&format!("hearing: {p}"));
                    if lead && follower.is_none() {
                        lesson.handle().set_leader_follower(Some(&p));
                        say(&format!("leading: {p}"));
                        follower = Some(p);
                    }
                }
                Some(LessonEvent::Question(q)) => {
                    tracing::info!(votes = q.votes, state = ?q.state, "question: {}", q.text);
                    marks.question(&q);
                }
                Some(LessonEvent::Chat(m)) => tracing::info!("{}: {}", m.from_name, m.text),
                Some(LessonEvent::Metronome(Some(p))) => say(&format!(
                    "metronome: {} bpm, {} beats, count-in {} (starts at {} ns)",
                    p.bpm,
                    p.beats_per_bar(),
                    p.count_in_bars,
                    p.start_ns
                )),
                Some(LessonEvent::Metronome(None)) => say("metronome: stopped"),
                Some(LessonEvent::RoomServer { reachable: true }) => {
                    tracing::info!("back on the room server");
                    say("room-server: back");
                }
                Some(LessonEvent::RoomServer { reachable: false }) => {
                    tracing::warn!("room server unreachable, reconnecting");
                    say("room-server: unreachable");
                }
                Some(LessonEvent::TakeReceived { from, take }) => say(&format!(
                    "take: received {} from {from} ({}, id {})",
                    take.path.display(),
                    take.name,
                    take.id
                )),
                Some(LessonEvent::TakeDelivered(path)) => say(&format!("take: delivered {}", path.display())),
                Some(LessonEvent::TakeNotDelivered { path, reason }) => {
                    say(&format!("take: not delivered {}: {reason}", path.display()));
                }
            }
        }
    }
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    (count(&answered), count(&failed))
}

/// What the video sink saw: each stamped picture's frame number and capture-to-decoded delay.
#[derive(Default)]
struct VideoWatch {
    /// Kept only for `--video-report`, its one reader: a run of an hour would otherwise hold
    /// every picture's stamp (2 KB a second at two senders), and a soak would measure that.
    keep: bool,
    seen: std::sync::Mutex<Vec<(u32, f64, Instant)>>,
    unstamped: std::sync::atomic::AtomicU64,
}

impl VideoWatch {
    fn report(&self) -> String {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let span = match (seen.first(), seen.last()) {
            (Some(a), Some(b)) => b.2.duration_since(a.2).as_secs_f64(),
            _ => 0.0,
        };
        serde_json::json!({
            "video": {
                "frames": seen.len(),
                "first_frame": seen.first().map(|s| s.0),
                "last_frame": seen.last().map(|s| s.0),
                "span_s": span,
                "unstamped": self.unstamped.load(std::sync::atomic::Ordering::Relaxed),
                "delays_ms": seen.iter().map(|s| s.1).collect::<Vec<_>>(),
            }
        })
        .to_string()
    }
}

/// Starts video if asked: the test pattern out (unless receive-only), everything in watched.
fn start_video(common: &Common, lesson: &mut Lesson) -> anyhow::Result<Option<Arc<VideoWatch>>> {
    let Some(mode) = &common.video else {
        return Ok(None);
    };
    let watch = Arc::new(VideoWatch {
        keep: common.video_report,
        ..VideoWatch::default()
    });
    let w = watch.clone();
    let sink: tutti_lesson::VideoSink =
        Arc::new(
            move |_peer, frame| match tutti_media::video::read_stamp(&frame.picture) {
                Some(_) if !w.keep => {}
                Some(stamp) => {
                    let now_ms = (monotonic_ns(Instant::now()) / 1_000_000) as u32;
                    let delay = f64::from(now_ms.wrapping_sub(stamp.captured_ms));
                    w.seen.lock().unwrap_or_else(|p| p.into_inner()).push((
                        stamp.frame,
                        delay,
                        Instant::now(),
                    ));
                }
                None => {
                    w.unstamped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            },
        );
    let mut cfg = tutti_media::video::Vp8Config::default();
    let pixels = |(w, h): (u32, u32)| f64::from(w) * f64::from(h);
    // The bitrate follows the number of pixels (1,200 kb/s at 640×480).
    cfg.bitrate_kbps = (f64::from(cfg.bitrate_kbps) * pixels(common.video_size)
        / pixels((cfg.width, cfg.height)))
    .round()
    .max(100.0) as u32;
    (cfg.width, cfg.height) = common.video_size;
    let source: Option<Box<dyn tutti_media::video::VideoSource>> = if mode == "test-pattern" {
        Some(Box::new(tutti_media::video::TestPattern::new(
            cfg.width, cfg.height,
        )))
    } else if let Some(which) = mode.strip_prefix("camera") {
        let name = which.strip_prefix(':').filter(|n| !n.is_empty());
        match tutti_media::video::CameraSource::open(name, cfg.width, cfg.height, cfg.fps) {
            Ok(cam) => {
                (cfg.width, cfg.height) = (cam.width, cam.height);
                Some(Box::new(cam))
            }
            Err(e) => {
                tracing::warn!("{e}: receiving video only; the lesson goes on");
                None
            }
        }
    } else {
        None
    };
    lesson.start_video(source, sink, cfg)?;
    Ok(Some(watch))
}

/// A picture size, `WIDTHxHEIGHT`: even numbers (I420 halves both for colour), 64–1920 wide.
fn parse_video_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a size such as 640x480 (even numbers, 64 to 1920)");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let fits = |n: u32| (64..=1920).contains(&n) && n.is_multiple_of(2);
    if fits(w) && fits(h) {
        Ok((w, h))
    } else {
        Err(bad())
    }
}

/// A duration in seconds: a finite number, not negative.
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

fn parse_video_mode(s: &str) -> Result<String, String> {
    if s == "test-pattern" || s == "receive" || s == "camera" || s.starts_with("camera:") {
        Ok(s.to_owned())
    } else {
        Err("use camera[:NAME], test-pattern or receive".into())
    }
}

/// One JSON line per participant: how their audio reaches us.
async fn print_peer_stats(lesson: &Lesson) {
    for p in lesson.peer_stats().await {
        let path = p.path.map(|k| match k {
            tutti_media::PathKind::Direct => "direct",
            tutti_media::PathKind::Reflexive => "reflexive",
            tutti_media::PathKind::Relayed => "relayed",
        });
        let relay_over = p.relay_over.map(|t| match t {
            tutti_media::RelayTransport::Udp => "udp",
            tutti_media::RelayTransport::Tcp => "tcp",
            tutti_media::RelayTransport::Tls => "tls",
        });
        let line = serde_json::json!({
            "peer": p.peer.as_str(),
            "path": path,
            "relay_over": relay_over,
            "rtt_ms": p.rtt_ms,
            "one_way_ms": p.one_way_ms,
            "heard_after_ms": p.heard_after_ms,
            "they_hear_after_ms": p.they_hear_after_ms,
            "devices_ms": p.devices_ms,
            "level": p.level,
            "concealed_pct": p.concealed_pct,
            "frames": p.frames,
            "buffer_ms": p.buffer_ms,
            "clock_offset_ms": p.clock_offset_ms,
            "clock_uncertainty_ms": p.clock_uncertainty_ms,
            "clock_drift_ppm": p.clock_drift_ppm,
            "playout_rate_ppm": p.playout_rate_ppm,
        });
        say(&line.to_string());
    }
}

fn report(lesson: &Lesson) {
    for (peer, s) in lesson.receive_stats() {
        tracing::info!(
            %peer,
            played = s.played,
            recovered = s.recovered,
            concealed = s.concealed,
            late = s.late,
            depth = s.depth,
            target = s.target,
            jitter_ms = s.jitter_ms,
            rate_ppm = s.rate_ppm,
            "received audio"
        );
    }
}
