//! Real network separation for the end-to-end tests: network namespaces joined through a router
//! namespace (nftables NAT and filters), and the workspace's real binaries started inside them.
//!
//! ```text
//!   [teacher 10.71.1.2] ── [router] ── [student 10.71.2.2]
//!                             │ masquerades both sides towards the server
//!                        [server 10.71.9.2: room server + STUN/TURN]
//! ```

// Test code: a failure to set up the network is the test's failure, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Network {
    /// The two sides can reach each other through the router.
    Open,
    /// They cannot: only the relay connects them.
    Blocked,
    /// As blocked, and no UDP reaches the server either.
    TcpOnly,
    /// As blocked, and nothing reaches the server but TCP to port 443 (TLS, as a firewall that
    /// lets only web traffic out).
    TlsOnly,
}

/// Runs `ip` (or anything) and says what failed.
pub fn run(args: &[&str]) -> Result<(), String> {
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
pub struct Topology {
    names: Vec<String>,
}

impl Topology {
    pub fn ns(&self, role: &str) -> String {
        format!("tutti-{role}-{}", std::process::id())
    }

    /// `Err` when namespaces cannot be made here at all (the test then skips).
    pub fn probe() -> Result<(), String> {
        let name = format!("tutti-probe-{}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        run(&["ip", "netns", "del", &name])
    }

    pub fn build(network: Network) -> Topology {
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
        if network == Network::TlsOnly {
            rules += &format!("oifname \"{so}\" tcp dport 443 accept;\noifname \"{so}\" drop;\n");
        }
        rules += "}\n}\n";
        t.router_rules("nft", &rules)
            .expect("nftables rules (is the nftables package installed? scripts/setup-debian.sh)");
        t
    }
}

impl Topology {
    /// Whether the tests that need namespaces can run; where they cannot, says why (and under
    /// CI=true, where they must run, fails).
    pub fn available() -> bool {
        match Self::probe() {
            Ok(()) => true,
            Err(why) => {
                assert!(
                    std::env::var_os("CI").is_none_or(|v| v != "true"),
                    "network namespaces cannot be made here ({why}), and CI=true requires these tests"
                );
                eprintln!("SKIPPED: network namespaces cannot be made here ({why})");
                false
            }
        }
    }

    /// Cuts all traffic through the router (every side from every other, the server too), as
    /// a network that goes away does: packets vanish, nothing is refused.
    pub fn cut(&self) {
        let rules = "table ip tutti_cut {\n\
             chain everything { type filter hook forward priority -10; policy drop; }\n\
             }\n";
        self.router_rules("cut", rules).unwrap();
    }

    /// Lets traffic through again.
    pub fn restore(&self) {
        self.router_nft(&["delete", "table", "ip", "tutti_cut"])
            .unwrap();
    }

    /// The UDP ports `program` has open in `role`'s namespace, as `ss` lists them.
    pub fn udp_ports(&self, role: &str, program: &str) -> Vec<u16> {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "ss", "-Huanp"])
            .output()
            .expect("ss (iproute2)");
        let owner = format!("((\"{program}\"");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&owner))
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(3)?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// The path of these sockets dies for good (a NAT mapping or an address that went away):
    /// the router drops everything to or from `addr` on `ports`; other ports go through.
    pub fn drop_udp(&self, addr: &str, ports: &[u16]) {
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let rules = format!(
            "table ip tutti_moved {{\n\
             chain gone {{ type filter hook forward priority -10; policy accept;\n\
             ip saddr {addr} udp sport {{ {ports} }} drop;\n\
             ip daddr {addr} udp dport {{ {ports} }} drop; }}\n\
             }}\n"
        );
        self.router_rules("moved", &rules).unwrap();
    }

    /// Runs `nft ARGS` in the router's namespace.
    fn router_nft(&self, args: &[&str]) -> Result<(), String> {
        let r = self.ns("r");
        let mut all = vec!["ip", "netns", "exec", r.as_str(), "nft"];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Loads an nftables ruleset into the router.
    fn router_rules(&self, tag: &str, rules: &str) -> Result<(), String> {
        let file = std::env::temp_dir().join(format!("tutti-{tag}-{}.conf", std::process::id()));
        std::fs::write(&file, rules).map_err(|e| e.to_string())?;
        self.router_nft(&["-f", file.to_str().unwrap()])
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
pub fn bin(name: &str) -> PathBuf {
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
pub struct Proc {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn start(ns: &str, program: PathBuf, args: &[&str]) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program).args(args);
        Self::spawn(cmd)
    }

    /// The same outside any namespace (loopback).
    pub fn local(program: PathBuf, args: &[&str]) -> Proc {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
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
    pub fn line(&self, prefix: &str, within: Duration) -> String {
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

impl Proc {
    /// The lines printed since the last look, without waiting.
    pub fn lines_so_far(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Waits for the process to end (at most `within`, then kills it) and returns the lines it
    /// printed that nobody took yet.
    pub fn finish(&mut self, within: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut lines = Vec::new();
        // The reader thread ends at the end of the output.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            lines.push(l);
        }
        lines
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tempfile_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tutti-nat-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// A lesson of clicks across the namespaces: what recovery.rs and the recovery benchmark use.

/// A benchmark's `--name VALUE` argument, or `default` when absent or unreadable.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CLOCK_MONOTONIC now, in ns: the clock the student's click report uses.
pub fn now_ns() -> u64 {
    tutti_media::clock::monotonic_ns(Instant::now())
}

pub const CLICK_MS: u64 = 100;

/// The room server in its namespace, on the data directory `data`, with its relay; `extra`
/// flags after those; returns once it printed `ready`.
fn room_server_with(topo: &Topology, data: &Path, extra: &[&str], ready: &str) -> Proc {
    let data = data.to_str().unwrap();
    let mut args = vec![
        "--listen",
        "10.71.9.2:8787",
        "--data",
        data,
        "--turn-listen",
        "10.71.9.2:3478",
    ];
    args.extend_from_slice(extra);
    let server = Proc::start(&topo.ns("s"), bin("tutti-server"), &args);
    server.line(ready, Duration::from_secs(20));
    server
}

/// The room server in its namespace, on the data directory `data`.
pub fn room_server_in(topo: &Topology, data: &Path) -> Proc {
    room_server_with(topo, data, &[], "tutti-server relay on")
}

/// The room server in its namespace speaking TLS on port 443 too (HTTPS, `wss://` and TURN
/// over TLS), with a certificate for its address made for the test; returns the server and the
/// certificate's PEM file, for clients to trust.
pub fn room_server_with_tls_in(topo: &Topology, data: &Path) -> (Proc, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["10.71.9.2".to_owned()]).unwrap();
    let (cert, key) = (data.join("cert.pem"), data.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let tls = [
        "--tls-listen",
        "10.71.9.2:443",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let server = room_server_with(topo, data, &tls, "tutti-server listening on https://");
    (server, cert)
}

/// Teacher and student in a lesson on an open network, the student hearing the clicks for
/// `seconds`; returns them once the student hears.
pub fn click_lesson(topo: &Topology, seconds: u32) -> (Proc, Proc) {
    let url = "ws://10.71.9.2:8787/ws";
    let clicks = format!("clicks:{CLICK_MS}");
    let teacher = Proc::start(
        &topo.ns("a"),
        bin("tutti-peer"),
        &[
            "host",
            "--server",
            url,
            "--udp",
            "10.71.1.2",
            "--source",
            &clicks,
        ],
    );
    let code = teacher.line("invite:", Duration::from_secs(20));
    let seconds = seconds.to_string();
    let student = Proc::start(
        &topo.ns("b"),
        bin("tutti-peer"),
        &[
            "join",
            &code,
            "--server",
            url,
            "--udp",
            "10.71.2.2",
            "--source",
            "silence",
            "--seconds",
            &seconds,
            "--detect-clicks",
        ],
    );
    student.line("hearing:", Duration::from_secs(60));
    (teacher, student)
}

/// What the student printed at the end: when each click was played (monotonic ns, the same
/// clock as this test's across namespaces), and every other line.
pub fn clicks_heard(lines: &[String]) -> Vec<u64> {
    let json = lines
        .iter()
        .find(|l| l.starts_with('{') && l.contains("\"ready_ns\""))
        .unwrap_or_else(|| panic!("no click report from the student: {lines:?}"));
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["ready_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect()
}

/// The longest silence between two clicks heard in `[from, to]` (ms).
pub fn longest_gap_ms(onsets: &[u64], from: u64, to: u64) -> f64 {
    onsets
        .iter()
        .filter(|&&t| t >= from && t <= to)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .fold(0.0, f64::max)
}
