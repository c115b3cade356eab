//! Getting through NATs, with real network separation: network namespaces made by the test.
//!
//! ```text
//!   [teacher 10.71.1.2] ── [router] ── [student 10.71.2.2]
//!                             │ masquerades both sides towards the server
//!                        [server 10.71.9.2: room server + STUN/TURN]
//! ```
//!
//! Blocked: the router drops traffic between the two sides, and its masquerade lets nothing in
//! that a side did not send to that address first, so host and reflexive candidates fail and
//! only the relay connects. Open: the router forwards between the sides, and the path is direct.
//! TCP only: the router also drops UDP towards the server, so the relay is reached over TCP.
//!
//! The server and the peers are the real binaries (`tutti-server`, `tutti-peer`, next to this
//! test; `make test` builds them first, as `cargo test` alone does not), started in their namespaces with `ip netns
//! exec`. Where namespaces cannot be made (not root, or a kernel that refuses), each test says
//! so and skips.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tutti_e2e::{clean_windows, one_at_a_time};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Network {
    /// The two sides can reach each other through the router.
    Open,
    /// They cannot: only the relay connects them.
    Blocked,
    /// As blocked, and no UDP reaches the server either.
    TcpOnly,
}

/// Runs `ip` (or anything) and says what failed.
fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Four namespaces and their links; removed on drop.
struct Topology {
    names: Vec<String>,
}

impl Topology {
    fn ns(&self, role: &str) -> String {
        format!("tutti-{role}-{}", std::process::id())
    }

    /// `Err` when namespaces cannot be made here at all (the test then skips).
    fn probe() -> Result<(), String> {
        let name = format!("tutti-probe-{}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        run(&["ip", "netns", "del", &name])
    }

    fn build(network: Network) -> Topology {
        let mut t = Topology { names: Vec::new() };
        let (a, b, s, r) = (t.ns("a"), t.ns("b"), t.ns("s"), t.ns("r"));
        let pid = std::process::id() % 100_000;
        for ns in [&a, &b, &s, &r] {
            run(&["ip", "netns", "add", ns]).unwrap();
            t.names.push(ns.clone());
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]).unwrap();
        }
        // One veth pair per side: (namespace, its address, the router's end address).
        for (tag, ns, subnet) in [("a", &a, 1), ("b", &b, 2), ("s", &s, 9)] {
            let (inner, outer) = (format!("t{tag}{pid}i"), format!("t{tag}{pid}o"));
            run(&[
                "ip", "link", "add", &inner, "netns", ns, "type", "veth", "peer", "name", &outer,
                "netns", &r,
            ])
            .unwrap();
            let host = format!("10.71.{subnet}.2/24");
            let gw = format!("10.71.{subnet}.1");
            run(&["ip", "-n", ns, "addr", "add", &host, "dev", &inner]).unwrap();
            run(&["ip", "-n", ns, "link", "set", &inner, "up"]).unwrap();
            run(&[
                "ip",
                "-n",
                &r,
                "addr",
                "add",
                &format!("{gw}/24"),
                "dev",
                &outer,
            ])
            .unwrap();
            run(&["ip", "-n", &r, "link", "set", &outer, "up"]).unwrap();
            if tag != "s" {
                run(&["ip", "-n", ns, "route", "add", "default", "via", &gw]).unwrap();
            }
        }
        run(&[
            "ip",
            "netns",
            "exec",
            &r,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        .unwrap();
        let (ao, bo, so) = (
            format!("ta{pid}o"),
            format!("tb{pid}o"),
            format!("ts{pid}o"),
        );
        let mut rules = format!(
            "table ip tutti {{\n\
               chain outgoing {{ type nat hook postrouting priority 100; oifname \"{so}\" masquerade; }}\n\
               chain forwarding {{ type filter hook forward priority 0; policy accept;\n"
        );
        if network != Network::Open {
            rules += &format!(
                "iifname \"{ao}\" oifname \"{bo}\" drop;\niifname \"{bo}\" oifname \"{ao}\" drop;\n"
            );
        }
        if network == Network::TcpOnly {
            rules += &format!("oifname \"{so}\" meta l4proto udp drop;\n");
        }
        rules += "}\n}\n";
        let file = std::env::temp_dir().join(format!("tutti-nft-{}.conf", std::process::id()));
        std::fs::write(&file, rules).unwrap();
        run(&[
            "ip",
            "netns",
            "exec",
            &r,
            "nft",
            "-f",
            file.to_str().unwrap(),
        ])
        .expect("nftables rules (is the nftables package installed? scripts/setup-debian.sh)");
        t
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// The workspace's binaries, next to this test's own executable.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// A process in a namespace, killed on drop; its stdout lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(ns: &str, program: PathBuf, args: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    /// The first line starting with `prefix` (the rest of it), within `within`.
    fn line(&self, prefix: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_owned(),
                Ok(_) => continue,
                Err(e) => panic!("no line {prefix:?} within {within:?}: {e}"),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lesson across the topology: the teacher plays 440 Hz, the student records. Returns the
/// student's report of the path and the recording.
fn lesson_across(network: Network, extra: &[&str]) -> Option<(serde_json::Value, Vec<f32>)> {
    if let Err(why) = Topology::probe() {
        // CI is meant to run these: there, not being able to is a failure, not a pass.
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "network namespaces cannot be made here ({why}), and CI=true requires these tests"
        );
        eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
        return None;
    }
    let topo = Topology::build(network);
    let data = tempfile_dir("server");
    let server = Proc::start(
        &topo.ns("s"),
        bin("tutti-server"),
        &[
            "--listen",
            "10.71.9.2:8787",
            "--data",
            data.to_str().unwrap(),
            "--turn-listen",
            "10.71.9.2:3478",
        ],
    );
    server.line("tutti-server relay on", Duration::from_secs(20));
    let url = "ws://10.71.9.2:8787/ws";
    let mut teacher_args = vec![
        "host",
        "--server",
        url,
        "--udp",
        "10.71.1.2",
        "--source",
        "tone:440",
    ];
    teacher_args.extend_from_slice(extra);
    let teacher = Proc::start(&topo.ns("a"), bin("tutti-peer"), &teacher_args);
    let code = teacher.line("invite:", Duration::from_secs(20));
    let heard = data.join("heard.wav");
    let mut student_args = vec![
        "join",
        &code,
        "--server",
        url,
        "--udp",
        "10.71.2.2",
        "--source",
        "silence",
        "--seconds",
        "12",
        "--report-stats",
        "--record",
        heard.to_str().unwrap(),
    ];
    student_args.extend_from_slice(extra);
    let mut student = Proc::start(&topo.ns("b"), bin("tutti-peer"), &student_args);
    let report = student.line("{", Duration::from_secs(60));
    let _ = student.child.wait();
    let stats: serde_json::Value = serde_json::from_str(&format!("{{{report}")).unwrap();
    let samples = tutti_media::signal::WavSource::open(&heard)
        .unwrap()
        .samples()
        .to_vec();
    drop(teacher);
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    Some((stats, samples))
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tutti-nat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_heard(stats: &serde_json::Value, samples: &[f32]) {
    let level = stats["level"].as_f64().unwrap_or(0.0);
    assert!(level > 0.2, "the 0.3 tone is heard at about 0.3: {stats}");
    // Broken audio fails every window; on a loaded 2-core machine the debug-built relay has
    // been seen to spoil the last second of a run (4 of 8 windows clean).
    let (clean, tones) = clean_windows(samples, 440.0);
    assert!(clean >= 4, "{tones:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_cannot_reach_each_other_talk_through_the_relay() {
    let _turn = one_at_a_time().await;
    let Some((stats, samples)) = lesson_across(Network::Blocked, &[]) else {
        return;
    };
    eprintln!("blocked network: {stats}");
    assert_eq!(stats["path"], "relayed", "{stats}");
    assert_heard(&stats, &samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_can_reach_each_other_go_direct() {
    let _turn = one_at_a_time().await;
    let Some((stats, samples)) = lesson_across(Network::Open, &[]) else {
        return;
    };
    eprintln!("open network: {stats}");
    assert_eq!(stats["path"], "direct", "{stats}");
    assert_heard(&stats, &samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_udp_blocked_the_relay_is_reached_over_tcp() {
    let _turn = one_at_a_time().await;
    let Some((stats, samples)) = lesson_across(Network::TcpOnly, &[]) else {
        return;
    };
    eprintln!("TCP only: {stats}");
    assert_eq!(stats["path"], "relayed", "{stats}");
    assert_heard(&stats, &samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_hides_the_peers_addresses_even_where_direct_would_work() {
    let _turn = one_at_a_time().await;
    let Some((stats, samples)) = lesson_across(Network::Open, &["--relay-only"]) else {
        return;
    };
    eprintln!("open network, relay only: {stats}");
    assert_eq!(stats["path"], "relayed", "{stats}");
    assert_heard(&stats, &samples);
}
