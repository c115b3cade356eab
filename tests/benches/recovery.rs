//! `make bench-recovery`: how soon a lesson's sound comes back after the network does, and what
//! a room-server restart costs it, with the real binaries in network namespaces (as
//! `tests/tests/recovery.rs`). One lesson of clicks every 100 ms: `--cuts` times (10) all
//! traffic is cut at the router for `--cut-s` (5) seconds, then the room server is killed with
//! SIGKILL and started again 3 s later on the same port and data. Needs root (namespaces).
//!
//! Sound back: from the network's return to the first click the student plays after it.
//! Restart gap: the longest silence between clicks across the restart, less the click
//! interval (0 when no click was lost). The last line is JSON:
//! `{"bench":"recovery","cuts":10,"cut_s":5,"sound_back_p50_ms":…,"sound_back_max_ms":…,"server_restart_gap_ms":…}`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's set-up failing is its result

use std::time::Duration;
use tutti_e2e::netns::{
    CLICK_MS, Network, Topology, arg, click_lesson, clicks_heard, longest_gap_ms, now_ns,
    room_server_in, tempfile_dir,
};

fn main() {
    if !Topology::available() {
        return;
    }
    let (cuts, cut_s) = (arg("--cuts", 10u64), arg("--cut-s", 5u64));
    let topo = Topology::build(Network::Open);
    let data = tempfile_dir("bench-recovery");
    let mut server = room_server_in(&topo, &data);
    let seconds = 3 + cuts * (cut_s + 5) + 15;
    let (mut teacher, mut student) = click_lesson(&topo, seconds as u32);
    std::thread::sleep(Duration::from_secs(3));
    let mut returns = Vec::new();
    for _ in 0..cuts {
        topo.cut();
        std::thread::sleep(Duration::from_secs(cut_s));
        topo.restore();
        returns.push(now_ns());
        std::thread::sleep(Duration::from_secs(5));
    }
    let killed_at = now_ns();
    let _ = server.child.kill();
    let _ = server.child.wait();
    std::thread::sleep(Duration::from_secs(3));
    let _server = room_server_in(&topo, &data);
    let restarted_at = now_ns();
    let said = student.finish(Duration::from_secs(seconds + 60));
    teacher.finish(Duration::from_secs(1));
    let onsets = clicks_heard(&said);

    let mut back_ms: Vec<f64> = Vec::new();
    let mut not_back = 0;
    for (i, &at) in returns.iter().enumerate() {
        match onsets.iter().find(|&&t| t > at) {
            Some(&t) if returns.get(i + 1).is_none_or(|&next| t < next) && t < killed_at => {
                let ms = (t - at) as f64 / 1e6;
                println!("cut {}: sound back {ms:.0} ms after the network", i + 1);
                back_ms.push(ms);
            }
            _ => {
                println!("cut {}: no sound before the next cut", i + 1);
                not_back += 1;
            }
        }
    }
    back_ms.sort_by(f64::total_cmp);
    let p50 = back_ms.get(back_ms.len() / 2).copied();
    let max = back_ms.last().copied();
    let gap = longest_gap_ms(
        &onsets,
        killed_at.saturating_sub(1_000_000_000),
        restarted_at + 5_000_000_000,
    );
    // One click interval of silence between clicks is the signal itself, not a gap.
    let restart_gap = if gap < 1.5 * CLICK_MS as f64 {
        0.0
    } else {
        gap - CLICK_MS as f64
    };
    println!(
        "room server killed for 3 s: longest silence between clicks {gap:.0} ms (clicks every \
         {CLICK_MS} ms)"
    );
    let _ = std::fs::remove_dir_all(&data);
    println!(
        "{}",
        serde_json::json!({
            "bench": "recovery",
            "cuts": cuts,
            "cut_s": cut_s,
            "sound_back_p50_ms": p50.map(|v| v.round()),
            "sound_back_max_ms": max.map(|v| v.round()),
            "not_back": not_back,
            "server_restart_gap_ms": restart_gap.round(),
        })
    );
}
