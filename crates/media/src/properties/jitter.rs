//! The jitter buffer against arbitrary networks: whatever arrives — reordered, duplicated, lost,
//! redundant copies, bursts, pauses, a sender that restarts or changes its frame length — it
//! never panics, never plays a frame twice or out of order within a stream, and holds a bounded
//! amount.

use super::{check, depth_bound};
use crate::format::FrameDuration;
use crate::jitter::{JitterBuffer, JitterConfig, Playout};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Event {
    /// The sender's next packet, `shift / 8` places from where the stream is (late, reordered
    /// or duplicated when negative or repeated, ahead when positive), after `gap_us` (mod 10 ms).
    Packet { shift: i8, gap_us: u16 },
    /// A redundant copy of a frame near the stream's position.
    Copy { shift: i8 },
    /// One playout frame.
    Pop,
    /// The network goes quiet for a while (mod 2 s): the sender paused, a cut.
    Pause { ms: u16 },
    /// The sender restarted (a new sequence number).
    Restart { seq: u16 },
    /// The sender's packets change length (120 << (n mod 4) samples).
    Samples { n: u8 },
}

/// Payloads carry (stream number, sequence number), so that a play can be checked.
fn payload(stream: u16, seq: u16) -> Bytes {
    let mut b = stream.to_be_bytes().to_vec();
    b.extend_from_slice(&seq.to_be_bytes());
    Bytes::from(b)
}

fn read(p: &Bytes) -> Option<(u16, u16)> {
    Some((
        u16::from_be_bytes([*p.first()?, *p.get(1)?]),
        u16::from_be_bytes([*p.get(2)?, *p.get(3)?]),
    ))
}

/// Runs a buffer for frames of `frame` through `events`.
pub fn run(frame: FrameDuration, events: impl IntoIterator<Item = Event>) -> Result<(), String> {
    let cfg = JitterConfig::for_frame(frame);
    let mut jb = JitterBuffer::new(cfg);
    let t0 = Instant::now();
    let mut now = Duration::ZERO;
    let (mut stream, mut seq) = (0u16, 1000u16);
    // The last frame played: (stream, sequence number).
    let mut last_played: Option<(u16, u16)> = None;
    let mut resets = 0;
    // Shifts of a few dozen: a stream here spans far less than half the sequence numbers.
    let near = |seq: u16, shift: i8| seq.wrapping_add_signed(i16::from(shift / 8));
    for e in events {
        match e {
            Event::Packet { shift, gap_us } => {
                now += Duration::from_micros(u64::from(gap_us % 10_000));
                let s = near(seq, shift);
                jb.push(s, payload(stream, s), t0 + now);
                if shift / 8 >= 0 {
                    seq = seq.wrapping_add(1);
                }
            }
            Event::Copy { shift } => {
                let s = near(seq, shift);
                jb.push_redundant(s, payload(stream, s));
            }
            Event::Pause { ms } => now += Duration::from_millis(u64::from(ms % 2_000)),
            Event::Restart { seq: s } => {
                stream = stream.wrapping_add(1);
                seq = s;
            }
            Event::Samples { n } => jb.set_packet_samples(120 << (n % 4)),
            Event::Pop => {
                let playout = jb.pop();
                let s = jb.stats();
                if s.resets != resets {
                    // A new start: anything may come first.
                    resets = s.resets;
                    last_played = None;
                }
                let frames: Vec<Bytes> = match &playout {
                    Playout::Packet(p) => vec![p.clone()],
                    Playout::Shorten(a, b) => vec![a.clone(), b.clone()],
                    _ => vec![],
                };
                for p in &frames {
                    let Some((st, sq)) = read(p) else {
                        return Err(format!("played {p:?}, which was never sent"));
                    };
                    if let Some((last_stream, last_sq)) = last_played
                        && last_stream == st
                    {
                        // Signed: sequence numbers wrap.
                        check!(
                            sq.wrapping_sub(last_sq) as i16 > 0,
                            "frame {sq} of stream {st} played after {last_sq}: {s:?}"
                        );
                    }
                    last_played = Some((st, sq));
                }
                check!(s.depth <= depth_bound(&cfg), "depth {}: {s:?}", s.depth);
            }
        }
    }
    Ok(())
}
