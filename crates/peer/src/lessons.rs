//! `tutti-peer bench lessons --count 1000`: one room server and one app engine open and end
//! lessons in a row. This process is the engine, hosting each lesson; a student (also here)
//! joins with the invite code, both send a tone, and once each hears the other the host ends
//! the lesson and both leave. Every `--sample-every` lessons: resident memory, open files and
//! threads of this process and of the room server. Growth is the last sample against the one
//! after the first tenth of the lessons (allocators and caches settle first); the goal is none.
//! The last line is JSON:
//! `{"bench":"lessons","count":1000,"failed":0,"engine_rss_growth_pct":…,"server_rss_growth_pct":…,…}`.

use crate::bench::start_server;
use anyhow::Context;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson, LessonEvent};
use tutti_media::MusicConfig;
use tutti_media::signal::{NullSink, Sine};
use tutti_protocol::{ClientMessage, JoinRole};

#[derive(Debug, clap::Args)]
pub struct LessonsArgs {
    /// Lessons to open and end.
    #[arg(long, default_value_t = 1000)]
    count: u32,
    /// Sample resources every this many lessons.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    sample_every: u32,
    /// The room server binary (default: `tutti-server` next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
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

/// One lesson, start to end; how long until both heard each other.
async fn one_lesson(
    host_cfg: &EngineConfig,
    student_cfg: &EngineConfig,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let music = MusicConfig::default();
    let mut host = Lesson::host(host_cfg.clone(), "Scales")
        .await
        .context("hosting")?;
    let code = host.invite_code().to_string();
    let mut student = Lesson::join(student_cfg.clone(), &code, JoinRole::Student)
        .await
        .context("joining")?;
    host.start_audio(Box::new(Sine::new(440.0, 0.3)), Box::new(NullSink), music)?;
    student.start_audio(Box::new(Sine::new(660.0, 0.3)), Box::new(NullSink), music)?;
    let heard = async {
        let (mut host_hears, mut student_hears) = (false, false);
        while !(host_hears && student_hears) {
            tokio::select! {
                e = host.next_event() => match e {
                    Some(LessonEvent::Hearing(_)) => host_hears = true,
                    None => anyhow::bail!("the host's lesson ended"),
                    _ => {}
                },
                e = student.next_event() => match e {
                    Some(LessonEvent::Hearing(_)) => student_hears = true,
                    None => anyhow::bail!("the student's lesson ended"),
                    _ => {}
                },
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(20), heard)
        .await
        .context("not heard within 20 s")??;
    let took = started.elapsed();
    host.request(ClientMessage::EndLesson)
        .await
        .context("ending")?;
    student.leave().await;
    host.leave().await;
    Ok(took)
}

pub async fn lessons(args: LessonsArgs) -> anyhow::Result<()> {
    let (mut server, url, data) = start_server(args.server_bin.as_ref(), false).await?;
    let server_pid = server.id().context("server pid")?;
    let me = std::process::id();
    let mut host_cfg = EngineConfig::new(&url, "김선생");
    host_cfg.admit = AdmitPolicy::Everyone;
    host_cfg.udp_addrs = vec!["127.0.0.1:0".into()];
    let mut student_cfg = EngineConfig::new(&url, "Omar");
    student_cfg.udp_addrs = vec!["127.0.0.1:0".into()];

    let mut samples: Vec<(u32, Option<Resources>, Option<Resources>)> = Vec::new();
    let (mut failed, mut took) = (0u32, Vec::new());
    let start = Instant::now();
    for i in 1..=args.count {
        match one_lesson(&host_cfg, &student_cfg).await {
            Ok(t) => took.push(t.as_secs_f64() * 1e3),
            Err(e) => {
                failed += 1;
                eprintln!("lesson {i}: {e:#}");
            }
        }
        if i % args.sample_every == 0 || i == args.count {
            // Let what the last lesson left behind (tasks, sockets) wind down first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (engine, srv) = (resources(me), resources(server_pid));
            let show = |r: Option<Resources>| {
                r.map_or("gone".into(), |r| {
                    format!("{:.1} MiB, {} fds, {} threads", r.rss_mib, r.fds, r.threads)
                })
            };
            println!(
                "{i:5} lessons ({:.0} s, {failed} failed): engine {}; server {}",
                start.elapsed().as_secs_f64(),
                show(engine),
                show(srv)
            );
            samples.push((i, engine, srv));
        }
    }
    let _ = server.kill().await;
    let _ = std::fs::remove_dir_all(&data);

    let settled = samples
        .iter()
        .find(|(i, ..)| *i >= args.count / 10)
        .or(samples.first())
        .context("no samples")?;
    let end = samples.last().context("no samples")?;
    let growth = |a: Option<Resources>, b: Option<Resources>, f: fn(&Resources) -> f64| match (a, b)
    {
        (Some(a), Some(b)) => {
            Some(((100.0 * (f(&b) - f(&a)) / f(&a).max(1e-9)) * 10.0).round() / 10.0)
        }
        _ => None,
    };
    took.sort_by(f64::total_cmp);
    let line = serde_json::json!({
        "bench": "lessons",
        "count": args.count,
        "failed": failed,
        "settled_after": settled.0,
        "lesson_p50_ms": crate::bench::pct(&took, 50.0).round(),
        "engine_rss_growth_pct": growth(settled.1, end.1, |r| r.rss_mib),
        "engine_fds_growth_pct": growth(settled.1, end.1, |r| r.fds),
        "engine_threads_growth_pct": growth(settled.1, end.1, |r| r.threads),
        "server_rss_growth_pct": growth(settled.2, end.2, |r| r.rss_mib),
        "server_fds_growth_pct": growth(settled.2, end.2, |r| r.fds),
        "server_threads_growth_pct": growth(settled.2, end.2, |r| r.threads),
        "engine_rss_mib_end": end.1.map(|r| (r.rss_mib * 10.0).round() / 10.0),
        "server_rss_mib_end": end.2.map(|r| (r.rss_mib * 10.0).round() / 10.0),
    });
    println!("{line}");
    Ok(())
}
