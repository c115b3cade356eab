//! `tutti-peer bench jack-tap`: the benchmark's own JACK client, for `bench devices
//! --sound-server jack`. It plays the click train (left) and the tone (right) into each side's
//! microphone ports and records the other side's speaker ports in the same process cycle, so
//! what went in and what came out share one sample clock, JACK's, as the PulseAudio buses do.
//!
//! The benchmark names the two peers on standard input once they run (`a PID`, `b PID`: cpal's
//! JACK clients are `cpal_client_PID_in` and `_out`), and the tap patches their ports as they
//! appear. Standard output is the recording: float32le, 8 channels per frame, the a→b bus's
//! four (clicks in, tone in, clicks out, tone out) then the b→a bus's.
//!
//! A process of its own because the server is found through `JACK_DEFAULT_SERVER`, which the
//! benchmark sets for its children and cannot safely set for itself.

use anyhow::Context;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// What goes into a bus, sample `i`: a 1-ms click once a second (left), the tone (right); as
/// the PulseAudio feeder plays it.
fn feed(i: u64) -> (f32, f32) {
    use super::devices::{CLICK_EVERY, CLICK_LEN, TONE, TONE_HZ};
    let into = (i % CLICK_EVERY as u64) as usize;
    let click = if into < CLICK_LEN { 0.8 } else { 0.0 };
    // (A whole number of the tone's periods in a second: the phase starts over exactly.)
    let tone = (std::f64::consts::TAU * TONE_HZ * (i % 48_000) as f64 / 48_000.0).sin() as f32;
    (click, tone * TONE)
}

struct Tap {
    /// Into a's and b's microphones: clicks, tone; clicks, tone.
    out: [jack::Port<jack::AudioOut>; 4],
    /// From b's and a's speakers: left, right; left, right.
    inp: [jack::Port<jack::AudioIn>; 4],
    /// Samples played so far.
    n: u64,
    ring: rtrb::Producer<f32>,
    lost: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl jack::ProcessHandler for Tap {
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        let frames = ps.n_frames() as usize;
        let [o0, o1, o2, o3] = &mut self.out;
        let (o0, o1) = (o0.as_mut_slice(ps), o1.as_mut_slice(ps));
        let (o2, o3) = (o2.as_mut_slice(ps), o3.as_mut_slice(ps));
        let [i0, i1, i2, i3] = &self.inp;
        let (i0, i1, i2, i3) = (
            i0.as_slice(ps),
            i1.as_slice(ps),
            i2.as_slice(ps),
            i3.as_slice(ps),
        );
        for k in 0..frames {
            let (click, tone) = feed(self.n + k as u64);
            (o0[k], o1[k], o2[k], o3[k]) = (click, tone, click, tone);
            let frame = [click, tone, i0[k], i1[k], click, tone, i2[k], i3[k]];
            if self.ring.slots() >= frame.len() {
                for s in frame {
                    let _ = self.ring.push(s);
                }
            } else {
                self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.n += frames as u64;
        jack::Control::Continue
    }
}

pub fn run(seconds: f64) -> anyhow::Result<()> {
    let (client, _) = jack::Client::new("tutti-bench-tap", jack::ClientOptions::NO_START_SERVER)
        .context("connecting to the benchmark's JACK server")?;
    let reg_out = |name: &str| client.register_port(name, jack::AudioOut::default());
    let out = [
        reg_out("a_clicks")?,
        reg_out("a_tone")?,
        reg_out("b_clicks")?,
        reg_out("b_tone")?,
    ];
    let reg_in = |name: &str| client.register_port(name, jack::AudioIn::default());
    let inp = [
        reg_in("b_left")?,
        reg_in("b_right")?,
        reg_in("a_left")?,
        reg_in("a_right")?,
    ];
    let (ring, mut drain) = rtrb::RingBuffer::new(48_000 * 8 * 10);
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tap = Tap {
        out,
        inp,
        n: 0,
        ring,
        lost: lost.clone(),
    };
    let active = client
        .activate_async((), tap)
        .context("activating the tap")?;

    // The peers, as the benchmark names them: patched in as their ports appear.
    let (tx, rx) = std::sync::mpsc::channel::<(char, u32)>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let mut it = line.split_whitespace();
            if let (Some(side), Some(Ok(pid))) = (it.next(), it.next().map(str::parse)) {
                let _ = tx.send((side.chars().next().unwrap_or('?'), pid));
            }
        }
    });
    let mut waiting: Vec<(char, u32)> = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut chunk = vec![0.0f32; 48_000 * 8 / 10];
    let mut bytes = Vec::with_capacity(chunk.len() * 4);
    while Instant::now() < end {
        waiting.extend(rx.try_iter());
        waiting.retain(|&(side, pid)| !patch(active.as_client(), side, pid));
        let n = drain.slots().min(chunk.len());
        if n == 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if let Ok(read) = drain.read_chunk(n) {
            let (a, b) = read.as_slices();
            chunk[..a.len()].copy_from_slice(a);
            chunk[a.len()..n].copy_from_slice(b);
            read.commit_all();
        }
        bytes.clear();
        for s in &chunk[..n] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        if stdout.write_all(&bytes).is_err() {
            break; // the benchmark has what it needs
        }
    }
    let lost = lost.load(std::sync::atomic::Ordering::Relaxed);
    if lost > 0 {
        eprintln!("jack-tap: {lost} frames did not fit the recording ring");
    }
    drop(active.deactivate());
    Ok(())
}

/// Patches `side`'s microphone to the tap's feed for it, and its speaker to the tap's
/// recording of the bus it ends: true once all four pairs are connected.
fn patch(client: &jack::Client, side: char, pid: u32) -> bool {
    let (feed, rec) = match side {
        'a' => (["a_clicks", "a_tone"], ["a_left", "a_right"]),
        _ => (["b_clicks", "b_tone"], ["b_left", "b_right"]),
    };
    let me = "tutti-bench-tap";
    let ins = client.ports(
        Some(&format!("^cpal_client_{pid}_in:in_")),
        None,
        jack::PortFlags::empty(),
    );
    let outs = client.ports(
        Some(&format!("^cpal_client_{pid}_out:out_")),
        None,
        jack::PortFlags::empty(),
    );
    if ins.len() < 2 || outs.len() < 2 {
        return false;
    }
    let mut all = true;
    for (from, to) in feed.iter().zip(&ins) {
        all &= connect(client, &format!("{me}:{from}"), to);
    }
    for (from, to) in outs.iter().zip(rec) {
        all &= connect(client, from, &format!("{me}:{to}"));
    }
    all
}

fn connect(client: &jack::Client, from: &str, to: &str) -> bool {
    match client.connect_ports_by_name(from, to) {
        Ok(()) => true,
        // Already connected (a second look): as good.
        Err(jack::Error::PortAlreadyConnected(..)) => true,
        Err(e) => {
            eprintln!("jack-tap: {from} → {to}: {e}");
            false
        }
    }
}
