//! `make bench-soak`: an hour-long lesson with the real binaries in network namespaces (as
//! `bench-recovery`; needs root). A host and two students, each sending a tone and the 640×480
//! test pattern, the students asking a question and chatting every 5 s; every `--cut-every-min`
//! (10) minutes all traffic is cut at the router for `--cut-s` (5) seconds. Every `--sample-s`
//! (30) seconds: resident memory, open files and threads of every process (room server, host,
//! students), and the students' mouth-to-ear delay and concealment over the last window.
//!
//! Growth is the last three samples against the three after `--settle-min` (10): the goal is no
//! resource more than 5 % above where it settled, and delay and concealment at the end as at the
//! start. Samples with a cut in them are left out of every figure (a cut is heard and rebuilds
//! links; `bench-recovery` measures how soon it is over). The delay is the students' measured
//! mouth to ear (`heard_after_ms`). The last line is JSON:
//! `{"bench":"soak","minutes":60,"cuts":5,"max_growth_pct":…,"processes":{…},"delay_ms_start":…,…}`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's set-up failing is its result

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tutti_e2e::netns::{Network, Proc, Topology, arg, bin, room_server_in, tempfile_dir};

/// One process's resources at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Resources {
    rss_mib: f64,
    fds: f64,
    threads: f64,
}

fn resources(pid: u32) -> Option<Resources> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Resources {
        rss_mib: field("VmRSS:")? / 1024.0,
        fds: fds as f64,
        threads: field("Threads:")?,
    })
}

/// A student's last reading of one participant: frames played and the share concealed, since
/// their link began.
#[derive(Clone, Copy)]
struct Reading {
    frames: f64,
    concealed_pct: f64,
}

/// What one sample saw.
struct Sample {
    at_s: f64,
    procs: Vec<Option<Resources>>,
    /// Mouth-to-ear delays the students measured, ms.
    delays: Vec<f64>,
    /// Frames concealed over the window, %, across what the students heard.
    concealed_pct: Option<f64>,
    /// A cut is in what this sample read: the students print every `sample_s` on their own
    /// clocks, so a cut shows in the sample after it or the one after that.
    cut: bool,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn main() {
    if !Topology::available() {
        return;
    }
    let minutes = arg::<f64>("--minutes", 60.0);
    let cut_every_s = arg::<f64>("--cut-every-min", 10.0) * 60.0;
    let cut_s = arg::<f64>("--cut-s", 5.0);
    let sample_s = arg::<f64>("--sample-s", 30.0);
    let settle_s = arg::<f64>("--settle-min", 10.0) * 60.0;
    let run_s = minutes * 60.0;

    let topo = Topology::build(Network::Open);
    let data = tempfile_dir("bench-soak");
    let server = room_server_in(&topo, &data);
    let url = "ws://10.71.9.2:8787/ws";
    // Everyone stays a little past the run, so that the last sample sees them all.
    let stay = format!("{}", run_s + 60.0);
    let common = |udp: &'static str, tone: &'static str, name: &'static str| {
        vec![
            "--server",
            url,
            "--udp",
            udp,
            "--source",
            tone,
            "--video",
            "test-pattern",
            "--name",
            name,
        ]
    };
    let mut host_args = vec!["host"];
    host_args.extend(common("10.71.1.2", "tone:440", "김선생"));
    host_args.extend(["--seconds", &stay]);
    let mut host = Proc::start(&topo.ns("a"), bin("tutti-peer"), &host_args);
    let code = host.line("invite:", Duration::from_secs(20));
    let sample_arg = format!("{sample_s}");
    let mut students: Vec<Proc> = [("tone:660", "Omar"), ("tone:880", "Layla")]
        .into_iter()
        .map(|(tone, name)| {
            let mut a = vec!["join", &code];
            a.extend(common("10.71.2.2", tone, name));
            a.extend([
                "--seconds",
                &stay,
                "--stats-every",
                &sample_arg,
                "--chatter-every",
                "5",
            ]);
            Proc::start(&topo.ns("b"), bin("tutti-peer"), &a)
        })
        .collect();
    for s in &students {
        s.line("hearing:", Duration::from_secs(60));
    }
    let names = ["server", "host", "student1", "student2"];
    let pids = [
        server.child.id(),
        host.child.id(),
        students[0].child.id(),
        students[1].child.id(),
    ];
    println!(
        "soak: {minutes} min, a cut of {cut_s} s every {} min, a sample every {sample_s} s",
        cut_every_s / 60.0
    );

    let start = Instant::now();
    let mut last: HashMap<(usize, String), Reading> = HashMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_cut = cut_every_s;
    let mut cuts_at: Vec<f64> = Vec::new();
    let mut next_sample = sample_s;
    while start.elapsed().as_secs_f64() < run_s {
        let t = start.elapsed().as_secs_f64();
        if t >= next_cut {
            topo.cut();
            std::thread::sleep(Duration::from_secs_f64(cut_s));
            topo.restore();
            cuts_at.push(t);
            next_cut += cut_every_s;
            continue;
        }
        if t < next_sample {
            std::thread::sleep(Duration::from_secs_f64(
                (next_sample - t).min(next_cut - t).max(0.05),
            ));
            continue;
        }
        next_sample += sample_s;
        // The students' stats lines come every sample_s; give this window's a moment to land.
        std::thread::sleep(Duration::from_secs(2));
        let mut delays = Vec::new();
        let (mut frames, mut concealed) = (0.0, 0.0);
        for (i, s) in students.iter().enumerate() {
            for line in s.lines_so_far() {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let (Some(peer), Some(f), Some(c)) = (
                    v["peer"].as_str(),
                    v["frames"].as_f64(),
                    v["concealed_pct"].as_f64(),
                ) else {
                    continue;
                };
                if let Some(d) = v["heard_after_ms"].as_f64() {
                    delays.push(d);
                }
                let now = Reading {
                    frames: f,
                    concealed_pct: c,
                };
                // The first reading is only a baseline (it spans the link's setting up); a link
                // rebuilt after a cut starts counting again from zero.
                let Some(before) = last.insert((i, peer.to_owned()), now) else {
                    continue;
                };
                let before = if before.frames <= f {
                    before
                } else {
                    Reading {
                        frames: 0.0,
                        concealed_pct: 0.0,
                    }
                };
                frames += f - before.frames;
                concealed += (f * c - before.frames * before.concealed_pct) / 100.0;
            }
        }
        let sample = Sample {
            at_s: start.elapsed().as_secs_f64(),
            procs: pids.iter().map(|&p| resources(p)).collect(),
            concealed_pct: (frames > 0.0).then(|| 100.0 * concealed / frames),
            delays,
            cut: false,
        };
        let sample = Sample {
            cut: cuts_at
                .iter()
                .any(|&c| c <= sample.at_s && c + cut_s >= sample.at_s - 2.0 * sample_s - 2.0),
            ..sample
        };
        let procs: Vec<String> = names
            .iter()
            .zip(&sample.procs)
            .map(|(n, r)| match r {
                Some(r) => format!("{n} {:.1} MiB {} fds {} thr", r.rss_mib, r.fds, r.threads),
                None => format!("{n} gone"),
            })
            .collect();
        println!(
            "{:5.0} s  {}  | delay {} ms, concealed {}{}",
            sample.at_s,
            procs.join(", "),
            median(sample.delays.clone()).map_or("-".into(), |d| format!("{d:.1}")),
            sample
                .concealed_pct
                .map_or("-".into(), |c| format!("{c:.2} %")),
            if sample.cut { " (cut)" } else { "" },
        );
        samples.push(sample);
    }

    let chatter: Vec<String> = students
        .iter_mut()
        .map(|s| {
            s.finish(Duration::from_secs(120))
                .into_iter()
                .find(|l| l.starts_with("chatter:"))
                .unwrap_or_else(|| "chatter: none".into())
        })
        .collect();
    host.finish(Duration::from_secs(5));

    // Settled: the three samples from settle_s on (or the first third of a short run).
    let settle = settle_s.min(run_s / 3.0);
    let quiet_samples = || samples.iter().filter(|s| !s.cut);
    let settled: Vec<&Sample> = quiet_samples()
        .filter(|s| s.at_s >= settle)
        .take(3)
        .collect();
    let end: Vec<&Sample> = quiet_samples().rev().take(3).collect();
    let mut processes = serde_json::Map::new();
    let mut max_growth: f64 = 0.0;
    for (i, name) in names.iter().enumerate() {
        let pick = |set: &[&Sample], f: fn(&Resources) -> f64| {
            let v: Vec<f64> = set
                .iter()
                .filter_map(|s| s.procs[i].as_ref().map(f))
                .collect();
            (!v.is_empty()).then(|| mean(&v))
        };
        let mut figures = serde_json::Map::new();
        for (what, f) in [
            (
                "rss_mib",
                (|r: &Resources| r.rss_mib) as fn(&Resources) -> f64,
            ),
            ("fds", |r: &Resources| r.fds),
            ("threads", |r: &Resources| r.threads),
        ] {
            let (Some(a), Some(b)) = (pick(&settled, f), pick(&end, f)) else {
                figures.insert(format!("{what}_growth_pct"), Value::Null);
                continue;
            };
            let growth = 100.0 * (b - a) / a.max(1e-9);
            max_growth = max_growth.max(growth);
            println!("{name:9} {what:8} settled {a:8.1}  end {b:8.1}  growth {growth:+.1} %");
            figures.insert(format!("{what}_settled"), json!(round1(a)));
            figures.insert(format!("{what}_end"), json!(round1(b)));
            figures.insert(format!("{what}_growth_pct"), json!(round1(growth)));
        }
        processes.insert(name.to_string(), Value::Object(figures));
    }
    let quiet = |set: Vec<&Sample>| -> (Option<f64>, Option<f64>) {
        let delays: Vec<f64> = set.iter().flat_map(|s| s.delays.clone()).collect();
        let concealed: Vec<f64> = set.iter().filter_map(|s| s.concealed_pct).collect();
        (
            median(delays),
            (!concealed.is_empty()).then(|| mean(&concealed)),
        )
    };
    let first: Vec<&Sample> = quiet_samples().take(4).collect();
    let last4: Vec<&Sample> = quiet_samples().rev().take(4).collect();
    let (delay_start, concealed_start) = quiet(first);
    let (delay_end, concealed_end) = quiet(last4);
    println!(
        "delay {} ms at the start, {} ms at the end; concealed {} % then {} %",
        fmt(delay_start),
        fmt(delay_end),
        fmt(concealed_start),
        fmt(concealed_end)
    );
    for c in &chatter {
        println!("{c}");
    }
    let ok: u64 = chatter
        .iter()
        .filter_map(|c| number_after(c, "chatter: "))
        .sum();
    let failed: u64 = chatter.iter().filter_map(|c| number_after(c, "ok, ")).sum();
    println!(
        "{}",
        json!({
            "bench": "soak",
            "minutes": minutes,
            "cuts": cuts_at.len(),
            "cut_s": cut_s,
            "samples": samples.len(),
            "max_growth_pct": round1(max_growth),
            "processes": processes,
            "delay_ms_start": delay_start.map(round1),
            "delay_ms_end": delay_end.map(round1),
            "concealed_pct_start": concealed_start.map(round2),
            "concealed_pct_end": concealed_end.map(round2),
            "chatter_ok": ok,
            "chatter_failed": failed,
        })
    );
}

fn number_after(s: &str, prefix: &str) -> Option<u64> {
    s.split(prefix)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
