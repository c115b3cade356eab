//! The connection check (`tutti-peer check`) from a network that blocks, in turn, nothing, UDP,
//! everything but TLS to port 443, and everything: each time it must say what will work.
//!
//! ```text
//!   [teacher 10.71.1.2] ── [router] ── [student 10.71.2.2]
//!                             │ masquerades both sides towards the server
//!                        [server 10.71.9.2: room server + STUN/TURN, TLS on 443]
//! ```
//!
//! The real binaries in network namespaces, as in nat.rs; where namespaces cannot be made, each
//! test says so and skips (and fails under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::Duration;
use tutti_e2e::netns::{Network, Proc, Topology, bin, room_server_with_tls_in, tempfile_dir};
use tutti_e2e::one_at_a_time;

/// The check run from the teacher's side against the server on `network`, over `wss://` on
/// 443 when `tls`, else `ws://` on 8787; `cut` cuts the router first. Returns the report and
/// whether the command succeeded.
fn check_across(network: Network, tls: bool, cut: bool) -> Option<(serde_json::Value, bool)> {
    if !Topology::available() {
        return None;
    }
    let topo = Topology::build(network);
    let data = tempfile_dir("check");
    let (server, cert) = room_server_with_tls_in(&topo, &data);
    if cut {
        topo.cut();
    }
    let url = if tls {
        "wss://10.71.9.2:443/ws"
    } else {
        "ws://10.71.9.2:8787/ws"
    };
    let mut check = Proc::start(
        &topo.ns("a"),
        bin("tutti-peer"),
        &[
            "check",
            "--server",
            url,
            "--json",
            "--within",
            "3",
            "--trust-ca",
            cert.to_str().unwrap(),
        ],
    );
    let lines = check.finish(Duration::from_secs(30));
    let succeeded = check.child.wait().is_ok_and(|s| s.success());
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let line = lines
        .iter()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report: {lines:?}"));
    Some((serde_json::from_str(line).unwrap(), succeeded))
}

fn path<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn works(report: &serde_json::Value, name: &str) -> bool {
    path(report, name)["ok"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_network_expects_a_direct_connection() {
    let _turn = one_at_a_time().await;
    let Some((report, succeeded)) = check_across(Network::Open, true, false) else {
        return;
    };
    eprintln!("open: {report}");
    assert_eq!(report["verdict"], "direct_likely", "{report}");
    assert_eq!(report["nat"], "consistent", "{report}");
    for name in [
        "server_http",
        "server_ws",
        "stun",
        "turn_udp",
        "turn_tcp",
        "turn_tls",
    ] {
        assert!(works(&report, name), "{name}: {report}");
        assert!(path(&report, name)["rtt_ms"].as_f64().unwrap() > 0.0);
    }
    // The router's public side, as the server saw it.
    assert_eq!(report["public_address"], "10.71.9.1", "{report}");
    assert!(succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_udp_blocked_the_relay_over_tcp_is_the_way() {
    let _turn = one_at_a_time().await;
    let Some((report, succeeded)) = check_across(Network::TcpOnly, false, false) else {
        return;
    };
    eprintln!("TCP only: {report}");
    assert_eq!(report["verdict"], "relay_tcp", "{report}");
    assert!(
        !works(&report, "stun") && !works(&report, "turn_udp"),
        "{report}"
    );
    assert!(
        works(&report, "turn_tcp") && works(&report, "turn_tls"),
        "{report}"
    );
    assert!(report["extra_ms"].as_f64().is_some(), "{report}");
    assert!(succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_only_tls_to_443_gets_out_only_the_relay_over_tls_works() {
    let _turn = one_at_a_time().await;
    let Some((report, succeeded)) = check_across(Network::TlsOnly, true, false) else {
        return;
    };
    eprintln!("TLS to 443 only: {report}");
    assert_eq!(report["verdict"], "relay_tls_only", "{report}");
    assert!(works(&report, "server_http") && works(&report, "server_ws"));
    for blocked in ["stun", "turn_udp", "turn_tcp"] {
        assert!(!works(&report, blocked), "{blocked}: {report}");
    }
    assert!(works(&report, "turn_tls"), "{report}");
    assert_eq!(path(&report, "turn_tls")["to"], "10.71.9.2:443");
    assert!(succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_reach_is_said_and_fails_the_command() {
    let _turn = one_at_a_time().await;
    let Some((report, succeeded)) = check_across(Network::Open, false, true) else {
        return;
    };
    eprintln!("cut: {report}");
    assert_eq!(report["verdict"], "server_unreachable", "{report}");
    assert!(!works(&report, "server_ws"), "{report}");
    assert!(!succeeded, "the command fails");
}
