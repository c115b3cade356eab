//! `tutti-peer bench ensemble`: an ensemble of N players in a full mesh, each a `tutti-peer`
//! process on loopback with its own tone, through a room server. For each size from two to N:
//! every pair's delay, mouth to ear as each receiver measures it (the sender's anchor and the
//! receiver's playout, on one machine's clock; no sound cards), and every process's CPU, whose
//! growth with the number of others is the cost of one more remote player.

use crate::bench::{cpu_seconds, line_with, pct, spawn, start_server};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[derive(Debug, clap::Args)]
pub struct EnsembleArgs {
    /// Players at most (the host one of them); sizes from 2 up to this are run.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..=12))]
    peers: u32,
    /// Only the largest size.
    #[arg(long)]
    only_largest: bool,
    /// Opus frame length in ms: 2.5, 5, 10 or 20.
    #[arg(long, default_value_t = 5.0)]
    frame_ms: f64,
    /// How long each size plays, once everyone is in.
    #[arg(long, default_value_t = 15.0, value_parser = crate::parse_seconds)]
    seconds: f64,
    /// Print only the JSON lines (the human summary goes to stderr otherwise).
    #[arg(long)]
    json: bool,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// What one size of ensemble measured.
struct Run {
    peers: u32,
    /// Every pair's delay, ms (one per receiver and sender that measured it).
    pairs: Vec<f64>,
    /// Pairs that never measured a delay (sound not arriving, or no timing).
    unmeasured: usize,
    /// Each process's CPU, % of one core (of those that ran to the end).
    cpu: Vec<f64>,
    /// Processes that ended before the run did.
    died: usize,
    concealed: Vec<f64>,
}

pub async fn ensemble(args: EnsembleArgs) -> anyhow::Result<()> {
    let sizes: Vec<u32> = if args.only_largest {
        vec![args.peers]
    } else {
        (2..=args.peers).collect()
    };
    let mut runs = Vec::new();
    for n in sizes {
        let run = one_size(&args, n).await?;
        let mut pairs = run.pairs.clone();
        pairs.sort_by(f64::total_cmp);
        let cpu_mean = run.cpu.iter().sum::<f64>() / run.cpu.len().max(1) as f64;
        let line = serde_json::json!({
            "bench": "ensemble_size",
            "peers": n,
            "frame_ms": args.frame_ms,
            "pair_p50_ms": round2(pct(&pairs, 50.0)),
            "pair_max_ms": round2(pairs.last().copied().unwrap_or(f64::NAN)),
            "pairs_measured": pairs.len(),
            "pairs_unmeasured": run.unmeasured,
            "cpu_pct_mean": round2(cpu_mean),
            "cpu_pct_max": round2(run.cpu.iter().copied().fold(0.0, f64::max)),
            "concealed_pct_max": round2(run.concealed.iter().copied().fold(0.0, f64::max)),
            "processes_died": run.died,
        });
        if !args.json {
            eprintln!(
                "{n} players: pair delay p50 {:.1} ms, max {:.1} ms ({} of {} pairs measured); CPU per process {:.1} % mean, {:.1} % max",
                pct(&pairs, 50.0),
                pairs.last().copied().unwrap_or(f64::NAN),
                pairs.len(),
                n * (n - 1),
                cpu_mean,
                run.cpu.iter().copied().fold(0.0, f64::max),
            );
        }
        println!("{line}");
        runs.push((run, cpu_mean));
    }
    let (largest, cpu_largest) = runs.last().context("no size ran")?;
    // CPU per remote player: the slope of a process's CPU against the number of others (a
    // least-squares line through every size run), so that what a process costs with nobody
    // to hear is not counted as a player's.
    let points: Vec<(f64, f64)> = runs
        .iter()
        .map(|(r, c)| (f64::from(r.peers - 1), *c))
        .collect();
    // One size alone cannot tell a player's cost from a process's own: none then.
    let per_peer = slope(&points);
    let mut pairs = largest.pairs.clone();
    pairs.sort_by(f64::total_cmp);
    let json = serde_json::json!({
        "bench": "ensemble",
        "peers": largest.peers,
        "frame_ms": args.frame_ms,
        "pair_p50_ms": round2(pct(&pairs, 50.0)),
        // One figure per pair (each receiver's last): the worst, not a percentile.
        "pair_max_ms": round2(pairs.last().copied().unwrap_or(f64::NAN)),
        "pairs_unmeasured": largest.unmeasured,
        "cpu_pct_per_process": round2(*cpu_largest),
        "cpu_pct_per_remote_peer": per_peer.map(round2),
        "sizes": runs.iter().map(|(r, c)| serde_json::json!({"peers": r.peers, "cpu_pct": round2(*c)})).collect::<Vec<_>>(),
    });
    if !args.json {
        match per_peer {
            Some(c) => eprintln!(
                "each remote player costs {c:.2} % of a core per process (goal ≤ 3 % at 5 ms frames)"
            ),
            None => eprintln!("one size alone does not tell a player's cost (run every size)"),
        }
    }
    println!("{json}");
    for (r, _) in &runs {
        if r.unmeasured > 0 || r.died > 0 {
            bail!(
                "{} players: {} of {} pairs never measured a delay, {} processes ended early: not everyone heard everyone",
                r.peers,
                r.unmeasured,
                r.peers * (r.peers - 1),
                r.died
            );
        }
    }
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The least-squares slope through `points`; none for fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

async fn one_size(args: &EnsembleArgs, n: u32) -> anyhow::Result<Run> {
    let me = std::env::current_exe()?;
    let (mut server, url, data) = start_server(args.server_bin.as_ref(), false).await?;
    let frame = args.frame_ms.to_string();
    // Everyone reports every second what it hears of each other, until stopped once the run
    // is over (leaving in turn would take the first to leave out of the others' reports).
    let common = |cmd: &mut Command, name: &str, hz: u32| {
        cmd.args(["--server", &url, "--name", name, "--source"])
            .arg(format!("tone:{hz}"))
            .args([
                "--frame-ms",
                &frame,
                "--udp",
                "127.0.0.1",
                "--stats-every",
                "1",
            ])
            // Six processes' negotiation warnings would bury the figures.
            .env("RUST_LOG", "error");
    };
    let mut host_cmd = Command::new(&me);
    host_cmd.arg("host");
    common(&mut host_cmd, "player-1", 220);
    let mut host = spawn(&mut host_cmd)?;
    let mut host_out = BufReader::new(host.stdout.take().context("host stdout")?).lines();
    let code = line_with(&mut host_out, "invite: ").await?;
    let mut procs = vec![host];
    let mut reports = vec![collect(host_out)];
    for i in 2..=n {
        let mut cmd = Command::new(&me);
        cmd.args(["join", &code]);
        common(&mut cmd, &format!("player-{i}"), 220 + 110 * i);
        let mut p = spawn(&mut cmd)?;
        reports.push(collect(
            BufReader::new(p.stdout.take().context("player stdout")?).lines(),
        ));
        procs.push(p);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pids: Vec<u32> = procs.iter().filter_map(|p| p.id()).collect();
    // CPU over the middle of the run, once every player measures every other (every link up,
    // every stream anchored), or 20 s have passed.
    let ready_by = Instant::now() + Duration::from_secs(20);
    while Instant::now() < ready_by
        && reports
            .iter()
            .any(|r| measured_by(r).len() < (n - 1) as usize)
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: Vec<Option<f64>> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64((args.seconds * 0.6).max(1.0))).await;
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&before)
        .filter_map(|(p, b)| Some(100.0 * (cpu_seconds(*p)? - (*b)?) / t0.elapsed().as_secs_f64()))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64((args.seconds * 0.4 - 1.0).max(1.0))).await;
    let mut died = 0;
    for p in &mut procs {
        if p.try_wait().ok().flatten().is_some() {
            died += 1;
        }
    }
    // Each process's latest measure of each other player.
    let mut pairs = Vec::new();
    let mut concealed = Vec::new();
    for r in &reports {
        for (ms, c) in measured_by(r).into_values() {
            pairs.push(ms);
            concealed.extend(c);
        }
    }
    let measured = pairs.len();
    for p in &mut procs {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }
    let _ = server.start_kill();
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&data);
    let expected = (n * (n - 1)) as usize;
    Ok(Run {
        peers: n,
        pairs,
        unmeasured: expected.saturating_sub(measured),
        cpu,
        died,
        concealed,
    })
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A player's latest measured delay to each other player (a later line without one does not
/// erase it), with the concealment it last reported.
fn measured_by(r: &Lines) -> std::collections::HashMap<String, (f64, Option<f64>)> {
    let mut out = std::collections::HashMap::new();
    for v in lock(r)
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let (Some(peer), Some(ms)) = (v["peer"].as_str(), v["heard_after_ms"].as_f64()) else {
            continue;
        };
        out.insert(peer.to_owned(), (ms, v["concealed_pct"].as_f64()));
    }
    out
}

fn lock(l: &Lines) -> std::sync::MutexGuard<'_, Vec<String>> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// The JSON lines a player prints, as they come.
fn collect<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    mut out: tokio::io::Lines<R>,
) -> Lines {
    let lines = Lines::default();
    let to = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = out.next_line().await {
            if l.starts_with('{') {
                lock(&to).push(l);
            }
        }
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_cost_of_a_player_is_the_slope_not_the_average() {
        // 10 % with nobody to hear, 2 % more per player.
        let points: Vec<(f64, f64)> = (1..=5).map(|k| (k as f64, 10.0 + 2.0 * k as f64)).collect();
        assert!((slope(&points).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(5.0, 20.0)]), None);
    }
}
