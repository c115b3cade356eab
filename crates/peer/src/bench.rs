//! `tutti-peer bench latency`: a room server and two peers as separate processes on loopback.
//! The host sends a click train; the student detects the clicks in what it plays. Each click's
//! capture time (host) and playout-ready time (student) are on CLOCK_MONOTONIC, shared by every
//! process on the machine, so their difference is the one-way latency, device buffers excluded.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tutti_lesson::sources::DEFAULT_CLICK_MS;
use tutti_media::signal::ClickTrain;

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Opus frame length in ms: 2.5, 5, 10 or 20.
    #[arg(long, default_value_t = 2.5)]
    frame_ms: f64,
    /// How long the student listens.
    #[arg(long, default_value_t = 20.0, value_parser = crate::parse_seconds)]
    seconds: f64,
    /// Print only the JSON line (the human summary goes to stderr otherwise).
    #[arg(long)]
    json: bool,
    /// Impair the media path: `loss=3,delay=20,jitter=10` (%, ms, ms).
    #[arg(long)]
    impair: Option<String>,
    /// Media through the room server's TURN relay (on loopback), both peers relay-only: what
    /// the relay's detour adds.
    #[arg(long, conflicts_with = "impair")]
    relay: bool,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

pub(crate) fn spawn(cmd: &mut Command) -> anyhow::Result<Child> {
    // Warnings only, unless the caller chose.
    if !cmd.as_std().get_envs().any(|(k, _)| k == "RUST_LOG") {
        cmd.env("RUST_LOG", "warn");
    }
    cmd.stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))
}

/// Reads lines from a child's stdout until one starts with `prefix`; returns the rest.
pub(crate) async fn line_with<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    prefix: &str,
) -> anyhow::Result<String> {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok::<_, std::io::Error>(Some(rest.trim().to_owned()));
            }
        }
        Ok(None)
    })
    .await
    .with_context(|| format!("waiting for `{prefix}`"))??;
    found.with_context(|| format!("the process ended before printing `{prefix}`"))
}

/// User plus system CPU time of a process, from /proc (Linux), in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A room server on loopback for a benchmark: the process, its WebSocket URL, its data dir.
pub(crate) async fn start_server(
    server_bin: Option<&PathBuf>,
    relay: bool,
) -> anyhow::Result<(Child, String, PathBuf)> {
    let server_bin = match server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("tutti-server"),
    };
    if !server_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p signaling-server` (or pass --server-bin)",
            server_bin.display()
        );
    }
    let data = std::env::temp_dir().join(format!("tutti-bench-{}", std::process::id()));
    let mut server_cmd = Command::new(&server_bin);
    server_cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--creations-per-hour",
            "0",
            "--data",
        ])
        .arg(&data);
    if relay {
        server_cmd.args(["--turn-listen", "127.0.0.1:0"]);
    }
    let mut server = spawn(&mut server_cmd)?;
    let mut server_out = BufReader::new(server.stdout.take().context("server stdout")?).lines();
    let addr = line_with(&mut server_out, "tutti-server listening on http://").await?;
    // Keep reading what else it prints (the relay's line): a closed pipe would make its next
    // line fail.
    tokio::spawn(async move { while let Ok(Some(_)) = server_out.next_line().await {} });
    Ok((server, format!("ws://{addr}/ws"), data))
}

/// The student's report line (the one starting with `prefix`, whole), once it has printed it;
/// then the student is given time to leave, and the others and the data dir are cleaned up.
async fn finish<R: tokio::io::AsyncBufRead + Unpin>(
    student_out: &mut tokio::io::Lines<R>,
    prefix: &str,
    [mut student, mut host, mut server]: [Child; 3],
    data: &std::path::Path,
) -> anyhow::Result<String> {
    let report = line_with(student_out, prefix)
        .await
        .map(|rest| format!("{prefix}{rest}"))?;
    let _ = tokio::time::timeout(Duration::from_secs(10), student.wait()).await;
    for p in [&mut host, &mut server] {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }
    let _ = std::fs::remove_dir_all(data);
    Ok(report)
}

/// CPU of `pid` over the middle of a run of `seconds` (after a warm-up, before the end), in
/// percent of one core.
async fn cpu_over_run(pid: u32, seconds: f64) -> Option<f64> {
    let warmup = Duration::from_secs(3).min(Duration::from_secs_f64(seconds / 3.0));
    tokio::time::sleep(warmup).await;
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(
        (seconds - warmup.as_secs_f64() - 1.0).max(0.5),
    ))
    .await;
    match (cpu0, cpu_seconds(pid)) {
        (Some(a), Some(b)) => Some(100.0 * (b - a) / t0.elapsed().as_secs_f64()),
        _ => None,
    }
}

pub async fn latency(args: LatencyArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let (server, url, data) = start_server(args.server_bin.as_ref(), args.relay).await?;
    let frame = args.frame_ms.to_string();

    let mut host_cmd = Command::new(&me);
    host_cmd.args([
        "host",
        "--server",
        &url,
        "--name",
        "bench-host",
        "--source",
        "clicks",
        "--frame-ms",
        &frame,
        "--udp",
        "127.0.0.1",
        "--report-clock",
    ]);
    if args.relay {
        host_cmd.arg("--relay-only");
    }
    let mut host = spawn(&mut host_cmd)?;
    let mut host_out = BufReader::new(host.stdout.take().context("host stdout")?).lines();
    let code = line_with(&mut host_out, "invite: ").await?;
    let started_ns: u64 = line_with(&mut host_out, "audio-started-ns: ")
        .await?
        .parse()?;

    let seconds = args.seconds.to_string();
    let mut join_cmd = Command::new(&me);
    join_cmd.args([
        "join",
        &code,
        "--server",
        &url,
        "--name",
        "bench-student",
        "--source",
        "silence",
        "--frame-ms",
        &frame,
        "--udp",
        "127.0.0.1",
        "--seconds",
        &seconds,
        "--detect-clicks",
    ]);
    if let Some(spec) = &args.impair {
        join_cmd.args(["--impair", spec]);
    }
    if args.relay {
        join_cmd.arg("--relay-only");
    }
    let mut student = spawn(&mut join_cmd)?;
    let pid = student.id().context("student pid")?;
    let mut student_out = BufReader::new(student.stdout.take().context("student stdout")?).lines();

    // CPU over the middle of the run, once the call is up.
    let cpu_pct = cpu_over_run(pid, args.seconds).await;

    let report = finish(&mut student_out, "{", [student, host, server], &data).await?;

    let r: serde_json::Value = serde_json::from_str(&report).context("the student's report")?;
    let ready: Vec<u64> = r["ready_ns"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    let count = |k: &str| r[k].as_u64().unwrap_or(0) as f64;
    let (played, recovered, concealed, inserted) = (
        count("played"),
        count("recovered"),
        count("concealed"),
        count("inserted"),
    );
    let frames = (played + recovered + concealed + inserted).max(1.0);

    // Match each click heard to the click captured within the 200 ms before it.
    let train = ClickTrain::new(DEFAULT_CLICK_MS, 0.8);
    let capture_ns = |k: u64| started_ns + train.click_at(k) * 1_000_000_000 / 48_000;
    let mut latencies = Vec::new();
    let mut heard_clicks = Vec::new();
    for &t in &ready {
        if t < started_ns {
            continue;
        }
        let samples = (t - started_ns) * 48_000 / 1_000_000_000;
        let k = samples.saturating_sub(train.click_at(0)) / train.interval();
        let k = if capture_ns(k) <= t {
            k
        } else {
            k.saturating_sub(1)
        };
        // Before the first click's capture (noise at the start): not a click of ours.
        let Some(ns) = t.checked_sub(capture_ns(k)) else {
            continue;
        };
        let lat = ns as f64 / 1e6;
        if lat < f64::from(DEFAULT_CLICK_MS) {
            latencies.push(lat);
            heard_clicks.push(k);
        }
    }
    heard_clicks.dedup();
    let expected = match (heard_clicks.first(), heard_clicks.last()) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    };
    let clicks_lost = expected.saturating_sub(heard_clicks.len() as u64);
    latencies.sort_by(f64::total_cmp);
    let (p50, p95, p99) = (
        pct(&latencies, 50.0),
        pct(&latencies, 95.0),
        pct(&latencies, 99.0),
    );
    let lost_pct = 100.0 * (recovered + concealed) / frames;
    let concealed_pct = 100.0 * (recovered + concealed + inserted) / frames;
    if !args.json {
        eprintln!(
            "{} clicks heard ({clicks_lost} lost), capture → ready for the sound card at {} ms frames: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms",
            latencies.len(),
            args.frame_ms
        );
        eprintln!(
            "frames: {played} played, {recovered} recovered, {concealed} concealed, {inserted} inserted; student CPU {}",
            cpu_pct.map_or("n/a".into(), |c| format!("{c:.1} % of one core"))
        );
    }
    if latencies.is_empty() {
        bail!("no click arrived: the call did not carry audio");
    }
    let json = serde_json::json!({
        "bench": "audio_latency",
        "frame_ms": args.frame_ms,
        "p50_ms": (p50 * 100.0).round() / 100.0,
        "p95_ms": (p95 * 100.0).round() / 100.0,
        "p99_ms": (p99 * 100.0).round() / 100.0,
        "lost_pct": (lost_pct * 100.0).round() / 100.0,
        "concealed_pct": (concealed_pct * 100.0).round() / 100.0,
        "clicks": latencies.len(),
        "clicks_lost": clicks_lost,
        "peer_cpu_pct": cpu_pct.map(|c| (c * 10.0).round() / 10.0),
        "impair": args.impair,
        "relay": args.relay,
    });
    println!("{json}");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct VideoArgs {
    /// How long the student watches.
    #[arg(long, default_value_t = 20.0, value_parser = crate::parse_seconds)]
    seconds: f64,
    /// Print only the JSON line.
    #[arg(long)]
    json: bool,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// `tutti-peer bench video`: the test pattern at 640×480, 30 fps, both ways between two peers
/// (separate processes) on loopback; the student reads every picture's stamp.
pub async fn video(args: VideoArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let (server, url, data) = start_server(args.server_bin.as_ref(), false).await?;
    let mut host = spawn(Command::new(&me).args([
        "host",
        "--server",
        &url,
        "--name",
        "bench-host",
        "--source",
        "silence",
        "--udp",
        "127.0.0.1",
        "--video",
        "test-pattern",
    ]))?;
    let mut host_out = BufReader::new(host.stdout.take().context("host stdout")?).lines();
    let code = line_with(&mut host_out, "invite: ").await?;
    let seconds = args.seconds.to_string();
    let mut student = spawn(Command::new(&me).args([
        "join",
        &code,
        "--server",
        &url,
        "--name",
        "bench-student",
        "--source",
        "silence",
        "--udp",
        "127.0.0.1",
        "--seconds",
        &seconds,
        "--video",
        "test-pattern",
        "--video-report",
    ]))?;
    let pid = student.id().context("student pid")?;
    let mut student_out = BufReader::new(student.stdout.take().context("student stdout")?).lines();
    let cpu_pct = cpu_over_run(pid, args.seconds).await;
    let report = finish(
        &mut student_out,
        "{\"video\"",
        [student, host, server],
        &data,
    )
    .await?;

    let r: serde_json::Value = serde_json::from_str(&report).context("the student's report")?;
    let v = &r["video"];
    let mut delays: Vec<f64> = v["delays_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d.as_f64()).collect())
        .unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    let first = v["first_frame"].as_u64().unwrap_or(0);
    let last = v["last_frame"].as_u64().unwrap_or(0);
    let shown = v["frames"].as_u64().unwrap_or(0);
    let span_s = v["span_s"].as_f64().unwrap_or(0.0);
    let expected = (last + 1).saturating_sub(first).max(1);
    let dropped_pct = 100.0 * expected.saturating_sub(shown) as f64 / expected as f64;
    let fps = if span_s > 0.0 {
        shown as f64 / span_s
    } else {
        0.0
    };
    let r2 = |x: f64| (x * 10.0).round() / 10.0;
    if !args.json {
        eprintln!(
            "video 640x480@30 on loopback: {shown} pictures, {:.1} fps, glass-to-glass p50 {:.1} ms p99 {:.1} ms, {dropped_pct:.2} % dropped, student CPU {cpu_pct:?} %",
            fps,
            pct(&delays, 50.0),
            pct(&delays, 99.0)
        );
    }
    let json = serde_json::json!({
        "bench": "video",
        "fps": r2(fps),
        "g2g_p50_ms": r2(pct(&delays, 50.0)),
        "g2g_p99_ms": r2(pct(&delays, 99.0)),
        "dropped_pct": (dropped_pct * 100.0).round() / 100.0,
        "cpu_pct": cpu_pct.map(r2),
    });
    println!("{json}");
    Ok(())
}
