//! The jitter buffer against arbitrary networks (proptest): whatever arrives — reordered,
//! duplicated, lost, redundant copies, bursts, pauses, a sender that restarts or changes its
//! frame length — it never panics, never plays a frame twice or out of order within a stream,
//! and holds a bounded amount.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use proptest::prelude::*;
use std::time::{Duration, Instant};
use tutti_media::{FrameDuration, JitterBuffer, JitterConfig, Playout};

#[derive(Debug, Clone)]
enum Event {
    /// The sender's next packet, `shift` places from where the stream is (late, reordered or
    /// duplicated when negative or repeated, ahead when positive), after `gap_us`.
    Packet { shift: i8, gap_us: u16 },
    /// A redundant copy of a frame near the stream's position.
    Copy { shift: i8 },
    /// One playout frame.
    Pop,
    /// The network goes quiet for a while (the sender paused, a cut).
    Pause { ms: u16 },
    /// The sender restarted (a new random sequence number).
    Restart { seq: u16 },
    /// The sender's packets change length.
    Samples { n: u8 },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (any::<i8>(), 0u16..10_000).prop_map(|(s, g)| Event::Packet { shift: s / 8, gap_us: g }),
        1 => any::<i8>().prop_map(|s| Event::Copy { shift: s / 8 }),
        6 => Just(Event::Pop),
        1 => (0u16..2_000).prop_map(|ms| Event::Pause { ms }),
        1 => any::<u16>().prop_map(|seq| Event::Restart { seq }),
        1 => (0u8..4).prop_map(|n| Event::Samples { n }),
    ]
}

/// Payloads carry (stream number, sequence number), so that a play can be checked.
fn payload(stream: u16, seq: u16) -> bytes::Bytes {
    let mut b = stream.to_be_bytes().to_vec();
    b.extend_from_slice(&seq.to_be_bytes());
    bytes::Bytes::from(b)
}

fn read(p: &bytes::Bytes) -> (u16, u16) {
    (
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_network_plays_each_frame_at_most_once_in_order_and_stays_bounded(
        frame in prop::sample::select(FrameDuration::ALL.to_vec()),
        events in prop::collection::vec(event(), 1..1500),
    ) {
        let cfg = JitterConfig::for_frame(frame);
        let mut jb = JitterBuffer::new(cfg);
        let t0 = Instant::now();
        let mut now = Duration::ZERO;
        let (mut stream, mut seq) = (0u16, 1000u16);
        // The last frame played: (stream, sequence number).
        let mut last_played: Option<(u16, u16)> = None;
        let mut resets = 0;
        for e in events {
            match e {
                Event::Packet { shift, gap_us } => {
                    now += Duration::from_micros(u64::from(gap_us));
                    let s = seq.wrapping_add_signed(i16::from(shift));
                    jb.push(s, payload(stream, s), t0 + now);
                    if shift >= 0 {
                        seq = seq.wrapping_add(1);
                    }
                }
                Event::Copy { shift } => {
                    let s = seq.wrapping_add_signed(i16::from(shift));
                    jb.push_redundant(s, payload(stream, s));
                }
                Event::Pause { ms } => now += Duration::from_millis(u64::from(ms)),
                Event::Restart { seq: s } => {
                    stream += 1;
                    seq = s;
                }
                Event::Samples { n } => jb.set_packet_samples(120 << n),
                Event::Pop => {
                    let playout = jb.pop();
                    let s = jb.stats();
                    if s.resets != resets {
                        // A new start: anything may come first.
                        resets = s.resets;
                        last_played = None;
                    }
                    let frames: Vec<bytes::Bytes> = match &playout {
                        Playout::Packet(p) => vec![p.clone()],
                        Playout::Shorten(a, b) => vec![a.clone(), b.clone()],
                        _ => vec![],
                    };
                    for p in &frames {
                        let (st, sq) = read(p);
                        if let Some((last_stream, last_sq)) = last_played
                            && last_stream == st
                        {
                            // Signed: sequence numbers wrap (a stream here spans far less
                            // than half their range).
                            prop_assert!(
                                sq.wrapping_sub(last_sq) as i16 > 0,
                                "frame {sq} of stream {st} played after {last_sq}: {s:?}"
                            );
                        }
                        last_played = Some((st, sq));
                    }
                    prop_assert!(
                        s.depth <= cfg.max_depth * 4 * 8 + 64,
                        "depth {}: {s:?}", s.depth
                    );
                }
            }
        }
    }
}
