//! `tutti-peer bench together`: playing together at a distance, measured where people hear it.
//!
//! A userspace PulseAudio with one 4-channel null sink: the host's speaker is remapped onto its
//! channels 1–2, the student's onto 3–4, so one recording of the sink holds what both speakers
//! played on one sample clock. Host and student are separate `tutti-peer` processes through a
//! room server on loopback; the student's media path (and so its data channel, which carries
//! the clock exchange) goes through the user-space impairment stage, 70 ± 10 ms each way by
//! default. The host runs the metronome; each machine plays it itself from the shared clock. A
//! click that the two speakers play at the same instant is one the two machines agree on:
//! through both sound cards' buffers, the clock exchange and the sample clocks.
//!
//! Both processes run on this machine's one monotonic clock, so the student's estimate of the
//! host's clock has a known truth (0): its error is measured too. What no single machine can
//! show, two sound cards whose crystals differ, is simulated: an hour at ±100 ppm through the
//! same estimators (`drift_hour_offset_ms`).

use crate::bench::{line_with, spawn, start_server};
use crate::devices::{SoundEnv, SoundServer, start_hog, start_recorder};
use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tutti_media::metronome::{
    Metronome, NOMINAL_NS_PER_SAMPLE, OBSERVE_EVERY_SAMPLES, SampleClock, SharedTime,
};
use tutti_media::shared_clock::ClockSync;
use tutti_media::tuner::{self, Tuner};
use tutti_media::{CHANNELS, SAMPLE_RATE};
use tutti_protocol::MetronomePlan;

#[derive(Debug, clap::Args)]
pub struct TogetherArgs {
    /// One-way delay added to the student's path, ms.
    #[arg(long, default_value_t = 70.0)]
    delay_ms: f64,
    /// The delay varies uniformly by up to this much either way, ms.
    #[arg(long, default_value_t = 10.0)]
    jitter_ms: f64,
    /// How long the clicks are recorded, once the clock has settled.
    #[arg(long, default_value_t = 20.0, value_parser = crate::parse_seconds)]
    seconds: f64,
    /// Seconds between the student hearing the metronome and the recording.
    #[arg(long, default_value_t = 8.0, value_parser = crate::parse_seconds)]
    settle: f64,
    #[arg(long, default_value_t = 120.0)]
    bpm: f64,
    /// Opus frame length in ms.
    #[arg(long, default_value_t = 5.0)]
    frame_ms: f64,
    /// Frames per sound-card buffer.
    #[arg(long, default_value_t = 240)]
    device_buffer: u32,
    /// Both cores kept busy (stress-ng) while measuring.
    #[arg(long)]
    hog: bool,
    /// Print only the JSON line.
    #[arg(long)]
    json: bool,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// Click onsets on channel `ch` of an interleaved `channels`-wide recording: the first sample
/// over the threshold after 50 ms of quiet.
fn onsets(rec: &[f32], channels: usize, ch: usize) -> Vec<usize> {
    let one: Vec<f32> = rec.iter().skip(ch).step_by(channels).copied().collect();
    tutti_media::analysis::onsets(&one, 0.02, 50)
}

/// For each click in `a`, the nearest in `b`, ms apart (b − a); those with none within half a
/// beat are missing.
fn pair(a: &[usize], b: &[usize], beat_ms: f64) -> (Vec<f64>, usize) {
    let mut diffs = Vec::new();
    let mut missing = 0;
    for &x in a {
        let nearest = b
            .iter()
            .map(|&y| (y as f64 - x as f64) * 1000.0 / f64::from(SAMPLE_RATE))
            .min_by(|p, q| p.abs().total_cmp(&q.abs()));
        match nearest {
            Some(d) if d.abs() < beat_ms / 2.0 => diffs.push(d),
            _ => missing += 1,
        }
    }
    (diffs, missing)
}

fn p_abs(v: &[f64], p: f64) -> Option<f64> {
    let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    if a.is_empty() {
        return None;
    }
    a.sort_by(f64::total_cmp);
    Some(a[((a.len() - 1) as f64 * p).round() as usize])
}

fn r3(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1000.0).round() / 1000.0)
}

pub async fn together(args: TogetherArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let env = SoundEnv::start(SoundServer::Pulseaudio).await?;
    env.room("tutti_room", "TuttiHostSpeaker", "TuttiStudentSpeaker")
        .await?;
    let (mut server, url, data) = start_server(args.server_bin.as_ref(), false).await?;
    let total = args.seconds + args.settle + 20.0;
    let (frame, buffer) = (args.frame_ms.to_string(), args.device_buffer.to_string());
    let peer = |role: &[&str], speaker: &str| {
        let mut c = env.command(me.to_str().unwrap_or("tutti-peer"));
        c.args(role)
            .args(["--server", &url, "--frame-ms", &frame, "--udp", "127.0.0.1"])
            .args(["--device-buffer", &buffer, "--speaker", speaker])
            .stdout(Stdio::piped())
            .env(
                "RUST_LOG",
                std::env::var("TUTTI_BENCH_LOG")
                    .unwrap_or_else(|_| "warn,rtc_ice=error,rtc_dtls=error".into()),
            );
        c
    };
    let (bpm, total) = (args.bpm.to_string(), total.to_string());
    let (mut host, _host_out, mut student) = host_and_student(
        &args,
        &peer,
        &[
            "--metronome",
            &bpm,
            "--source",
            "silence",
            "--seconds",
            &total,
        ],
        &[
            "--stats-every",
            "0.5",
            "--source",
            "silence",
            "--seconds",
            &total,
        ],
    )
    .await?;
    let mut student_out = BufReader::new(student.stdout.take().context("student stdout")?).lines();
    line_with(&mut student_out, "metronome: ").await?;
    // The student's clock estimates, as it reports them every half second.
    let offsets = tokio::spawn(async move {
        let mut seen: Vec<(f64, Option<f64>)> = Vec::new();
        while let Ok(Some(line)) = student_out.next_line().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(o) = v["clock_offset_ms"].as_f64()
            {
                seen.push((o, v["clock_uncertainty_ms"].as_f64()));
            }
        }
        seen
    });
    let hog = if args.hog {
        Some(start_hog(&env, args.seconds + args.settle + 2.0)?)
    } else {
        None
    };
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let (mut rec, rec_task) = start_recorder(&env, "tutti_room")?;
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let _ = rec.start_kill();
    let recording = rec_task.await?;
    for c in [&mut student, &mut host] {
        let _ = c.start_kill();
    }
    let mut rest: Vec<_> = hog.into_iter().collect();
    for c in &mut rest {
        let _ = c.start_kill();
    }
    let seen = offsets.await.unwrap_or_default();
    // Leader–follower, with its own pair of processes on the same server and speakers.
    let _ = host.wait().await;
    let _ = student.wait().await;
    let answers = aligned_replay(&args, &peer).await;
    let _ = server.start_kill();
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&env.dir);

    // Only the estimates from the recording on (the settle time lets the first ones go).
    let settle_reports = (args.settle * 2.0) as usize;
    let clock_errors: Vec<f64> = seen.iter().skip(settle_reports).map(|s| s.0).collect();
    let uncertainty = seen.last().and_then(|s| s.1);
    let beat_ms = 60_000.0 / args.bpm;
    let host_clicks = onsets(&recording, 4, 0);
    let student_clicks = onsets(&recording, 4, 2);
    if host_clicks.is_empty() {
        bail!(
            "the host's speaker played no clicks ({} samples recorded)",
            recording.len()
        );
    }
    // A click at either end of the recording may have its partner just outside it.
    let edge = SAMPLE_RATE as usize / 10;
    let inner: Vec<usize> = host_clicks
        .iter()
        .copied()
        .filter(|&c| c > edge && c + edge < recording.len() / 4)
        .collect();
    let (diffs, missing) = pair(&inner, &student_clicks, beat_ms);
    let drift = drift_hour_offset_ms(args.delay_ms, args.jitter_ms);
    let (tuner_pure, tuner_bowed, tuner_ms) = tuner_figures();
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    if !args.json {
        eprintln!(
            "together through PulseAudio, {} ± {} ms each way: {} clicks of the host's, {} of the student's paired, {missing} missing; student minus host p50 {:.3} ms, p99 {:.3} ms (mean {mean:+.3}); the student's estimate of the host's clock: p99 error {:.3} ms (last stated uncertainty {:?} ms, {} reports); simulated hour at ±100 ppm: worst {drift:.3} ms",
            args.delay_ms,
            args.jitter_ms,
            host_clicks.len(),
            diffs.len(),
            p_abs(&diffs, 0.5).unwrap_or(f64::NAN),
            p_abs(&diffs, 0.99).unwrap_or(f64::NAN),
            p_abs(&clock_errors, 0.99).unwrap_or(f64::NAN),
            uncertainty,
            clock_errors.len(),
        );
        eprintln!(
            "tuner: pure tones (65 Hz–2 kHz) worst {tuner_pure:.3} cents; a bowed string with ±20-cent vibrato p95 {tuner_bowed:.2} cents; an answer {tuner_ms:.1} ms after the sound"
        );
        match &answers {
            Ok(d) => eprintln!(
                "leader–follower: {} of the student's answers in the teacher's aligned replay, p50 {:.3} ms, p99 {:.3} ms from the teacher's clicks",
                d.len(),
                p_abs(d, 0.5).unwrap_or(f64::NAN),
                p_abs(d, 0.99).unwrap_or(f64::NAN)
            ),
            Err(e) => eprintln!("leader–follower: not measured: {e:#}"),
        }
        let shown: Vec<String> = diffs.iter().map(|d| format!("{d:+.2}")).collect();
        eprintln!(
            "student minus host, ms, click by click: {}",
            shown.join(" ")
        );
        if let Ok(d) = &answers {
            let shown: Vec<String> = d.iter().map(|d| format!("{d:+.2}")).collect();
            eprintln!(
                "aligned replay, answer minus the teacher's click, ms: {}",
                shown.join(" ")
            );
        }
    }
    let line = serde_json::json!({
        "bench": "together",
        "delay_ms": args.delay_ms,
        "jitter_ms": args.jitter_ms,
        "hog": args.hog,
        "clicks": host_clicks.len(),
        "missing": missing,
        "click_offset_p50_ms": r3(p_abs(&diffs, 0.5)),
        "click_offset_p99_ms": r3(p_abs(&diffs, 0.99)),
        "click_offset_mean_ms": r3(Some(mean)),
        "clock_error_p99_ms": r3(p_abs(&clock_errors, 0.99)),
        "clock_uncertainty_ms": r3(uncertainty),
        "drift_hour_offset_ms": r3(Some(drift)),
        "aligned_replay_p50_ms": r3(answers.as_ref().ok().and_then(|d| p_abs(d, 0.5))),
        "aligned_replay_p99_ms": r3(answers.as_ref().ok().and_then(|d| p_abs(d, 0.99))),
        "aligned_replay_clicks": answers.as_ref().map_or(0, Vec::len),
        "tuner_pure_cents": r3(Some(tuner_pure)),
        "tuner_bowed_cents": r3(Some(tuner_bowed)),
        "tuner_ms": r3(Some(tuner_ms)),
    });
    println!("{line}");
    Ok(())
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// A host (`host_args` added) and a student who joins it through the impaired path
/// (`student_args` added): the two processes and the host's output after its invite.
async fn host_and_student(
    args: &TogetherArgs,
    peer: &dyn Fn(&[&str], &str) -> tokio::process::Command,
    host_args: &[&str],
    student_args: &[&str],
) -> anyhow::Result<(tokio::process::Child, Lines, tokio::process::Child)> {
    let mut host = spawn(peer(&["host", "--name", "teacher"], "TuttiHostSpeaker").args(host_args))?;
    let mut host_out = BufReader::new(host.stdout.take().context("host stdout")?).lines();
    let code = line_with(&mut host_out, "invite: ").await?;
    let impair = format!("delay={},jitter={}", args.delay_ms, args.jitter_ms);
    let student = spawn(
        peer(&["join", &code, "--name", "student"], "TuttiStudentSpeaker")
            .args(["--impair", &impair])
            .args(student_args),
    )?;
    Ok((host, host_out, student))
}

/// Leader–follower through the same speakers and path: the teacher plays clicks every half
/// second, the student (`--answer-clicks`) answers each at the instant it hears it; the
/// teacher's aligned replay of the last `seconds` is written to a file. For each of the
/// teacher's clicks in it, how far the student's answer is (ms).
async fn aligned_replay(
    args: &TogetherArgs,
    peer: &dyn Fn(&[&str], &str) -> tokio::process::Command,
) -> anyhow::Result<Vec<f64>> {
    let dir = std::env::temp_dir().join(format!("tutti-duet-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let wav = dir.join("duet.wav");
    let run = args.settle + args.seconds.min(30.0) + 4.0;
    let (wav_s, run_s, secs) = (
        wav.to_string_lossy().into_owned(),
        run.to_string(),
        args.seconds.min(30.0).to_string(),
    );
    let (mut host, mut host_out, mut student) = host_and_student(
        args,
        peer,
        &[
            "--source",
            "clicks:500",
            "--duet-replay",
            &wav_s,
            "--duet-seconds",
            &secs,
            "--seconds",
            &run_s,
        ],
        &["--answer-clicks", "--seconds", &run_s],
    )
    .await?;
    line_with(&mut host_out, "leading: ").await?;
    // The host writes the duet as it leaves, `run` seconds after it started.
    let _ = tokio::time::timeout(Duration::from_secs_f64(run + 30.0), host.wait()).await;
    let _ = host.start_kill();
    let said = line_with(&mut host_out, "duet: ").await;
    let _ = student.start_kill();
    let _ = student.wait().await;
    said?;
    let mut r = hound::WavReader::open(&wav)?;
    let rec: Vec<f32> = r.samples::<f32>().collect::<Result<_, _>>()?;
    let _ = std::fs::remove_dir_all(&dir);
    let edge = SAMPLE_RATE as usize / 50;
    let teacher: Vec<usize> = onsets(&rec, 2, 0)
        .into_iter()
        .filter(|&c| c + edge < rec.len() / 2)
        .collect();
    let (diffs, missing) = pair(&teacher, &onsets(&rec, 2, 1), 500.0);
    if diffs.is_empty() {
        bail!("no answers in the aligned replay ({missing} clicks unanswered)");
    }
    Ok(diffs)
}

/// The tuner against synthetic sounds: the worst error on pure tones across 65 Hz–2 kHz, the
/// p95 error on a bowed string with vibrato (against the pitch where the reading sits), in
/// cents, and how long after the sound an answer comes (its window plus the time to compute).
pub fn tuner_figures() -> (f64, f64, f64) {
    let cents = |a: f64, b: f64| (1200.0 * (a / b).log2()).abs();
    let mut t = Tuner::default();
    let mut pure: f64 = 0.0;
    for hz in [65.41, 196.0, 293.66, 440.0, 659.26, 987.77, 1318.5, 2093.0] {
        let x: Vec<f32> = (0..tuner::WINDOW)
            .map(|i| (0.3 * (std::f64::consts::TAU * hz * i as f64 / 48_000.0).sin()) as f32)
            .collect();
        pure = pure.max(t.frequency(&x).map_or(f64::INFINITY, |(f, _)| cents(f, hz)));
    }
    let mut bowed = Vec::new();
    let started = std::time::Instant::now();
    let mut analyses = 0u32;
    for hz in [196.0, 293.66, 440.0, 659.26] {
        let (x, truth) = tuner::bowed_string(hz, 20.0, 5.5, 96_000, 3);
        for end in (tuner::WINDOW..x.len()).step_by(480) {
            analyses += 1;
            let at = truth[end - tuner::age_samples(hz).round() as usize];
            bowed.push(
                t.frequency(&x[..end])
                    .map_or(f64::INFINITY, |(f, _)| cents(f, at)),
            );
        }
    }
    let compute_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(analyses.max(1));
    bowed.sort_by(f64::total_cmp);
    let p95 = bowed[bowed.len() * 95 / 100];
    let window_ms = tuner::WINDOW as f64 * 1000.0 / f64::from(SAMPLE_RATE);
    (pure, p95, window_ms + compute_ms)
}

/// An hour of two machines whose clocks and sound cards differ (the student's clock 3.7 s off
/// and 50 ppm fast; the host's card 100 ppm fast, the student's 100 ppm slow; half a
/// millisecond of noise on every look at a card), the clock exchange over `delay ± jitter`
/// each way: the worst distance between the two sides' clicks, as heard, in the last 20 s, ms.
pub fn drift_hour_offset_ms(delay_ms: f64, jitter_ms: f64) -> f64 {
    let mut rng = StdRng::seed_from_u64(5);
    let (hour, tail) = (3600e9, 20e9);
    let student_clock = |t: f64| t * (1.0 + 50e-6) + 3.7e9;
    let leg = |rng: &mut StdRng| delay_ms * 1e6 + rng.random_range(-jitter_ms..=jitter_ms) * 1e6;
    // The exchange, as the student runs it against the host (the student's clock is "ours").
    let mut sync = ClockSync::new(student_clock(0.0) as u64);
    sync.set_precise(true, student_clock(0.0) as u64);
    let mut t = 0.0;
    while t < hour {
        let local = student_clock(t) as u64;
        if let Some(ping) = sync.poll_ping(local) {
            let arrive = t + leg(&mut rng);
            let back = arrive + 50e3 + leg(&mut rng);
            let _ = sync.on_answer(
                ping.id,
                arrive as u64,
                (arrive + 50e3) as u64,
                student_clock(back) as u64,
            );
        }
        t = (sync.next_ping_at() as f64 - 3.7e9) / (1.0 + 50e-6);
    }
    let Some(estimate) = sync.estimate() else {
        return f64::NAN;
    };
    let plan = MetronomePlan {
        bpm: 120.0,
        accents: MetronomePlan::accents_for(4),
        count_in_bars: 0,
        start_ns: (hour - tail) as u64,
    };
    let mut m = Metronome::default();
    m.set_plan(Some(plan));
    // Each side's card: sample n heard at true time n × its period; what the side sees of it
    // is on its own clock, with noise.
    let side = |ppm: f64, to_local: &dyn Fn(f64) -> f64, shared: SharedTime, rng: &mut StdRng| {
        let period = NOMINAL_NS_PER_SAMPLE / (1.0 + ppm * 1e-6);
        let frame = 240usize;
        let mut clock = SampleClock::default();
        let mut heard = Vec::new();
        let mut out = vec![0.0f32; frame * CHANNELS];
        let total = (hour / period) as usize / frame * frame;
        // From a second before the first click (one begun before the first frame rendered
        // would be heard cut, late).
        let record_from = ((hour - tail - 1e9) / period) as usize;
        let mut n = 0;
        while n < total {
            if n % OBSERVE_EVERY_SAMPLES < frame {
                let noise = rng.random_range(-0.5e6..=0.5e6);
                clock.observe(n as u64, to_local(n as f64 * period) + noise);
            }
            if n >= record_from
                && let Some(first) = clock.time_of(n as u64)
            {
                out.fill(0.0);
                m.render(&mut out, first, clock.ns_per_sample(), &shared);
                for (i, f) in out.chunks_exact(CHANNELS).enumerate() {
                    if f[0] != 0.0
                        && heard
                            .last()
                            .is_none_or(|&h: &f64| (n + i) as f64 * period - h > 100e6)
                    {
                        heard.push((n + i) as f64 * period);
                    }
                }
            }
            n += frame;
        }
        heard
    };
    let host = side(100.0, &|t| t, SharedTime::Own, &mut rng);
    let student = side(-100.0, &student_clock, SharedTime::Host(estimate), &mut rng);
    let mut worst: f64 = 0.0;
    for h in &host {
        let nearest = student
            .iter()
            .map(|s| (s - h).abs())
            .fold(f64::INFINITY, f64::min);
        worst = worst.max(nearest);
    }
    if host.is_empty() {
        return f64::NAN;
    }
    worst / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_of_drifting_cards_and_clocks_keeps_the_clicks_together() {
        let worst = drift_hour_offset_ms(70.0, 10.0);
        assert!(worst < 1.0, "{worst} ms");
    }

    #[test]
    fn the_tuner_figures_meet_their_goals() {
        let (pure, bowed, ms) = tuner_figures();
        assert!(
            pure < 1.0 && bowed < 3.0 && ms < 50.0,
            "{pure} {bowed} {ms}"
        );
    }

    #[test]
    fn clicks_pair_by_nearest_and_far_ones_count_as_missing() {
        let (d, missing) = pair(&[0, 48_000, 96_000], &[48, 48_000 - 96], 500.0);
        assert_eq!(missing, 1);
        assert_eq!(d, vec![1.0, -2.0]);
    }
}
