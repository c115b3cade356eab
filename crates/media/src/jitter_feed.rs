//! The way from a link's receive task to the playout thread. The jitter buffer belongs to the
//! playout thread alone: packets reach it through a wait-free ring (a tokio task that is
//! preempted while holding a lock can no longer make the sound card wait), and its figures come
//! back through atomics that the engine reads whenever it likes.

use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Payload};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// Arrivals the ring holds: about three seconds of 2.5-ms packets with two RED copies each,
/// more than the playout thread ever falls behind (it takes them every frame).
const RING: usize = 4096;

/// One thing the network brought for the buffer.
enum Arrival {
    /// A packet, at the time it arrived, with the samples per channel its TOC says.
    Packet {
        seq: u16,
        /// Its RTP timestamp.
        ts: u32,
        samples: u32,
        payload: Payload,
        at: Instant,
    },
    /// A frame again, inside a later packet (RED).
    Copy { seq: u16, payload: Payload },
}

/// The receive side's end: it never waits. When the ring is full (the playout thread has
/// stopped taking) arrivals are dropped and counted.
pub struct AudioFeed {
    ring: rtrb::Producer<Arrival>,
    dropped: Arc<AtomicU64>,
}

impl AudioFeed {
    /// A packet stamped `ts` of `samples` per channel arrived at `at`.
    pub fn packet(&mut self, seq: u16, ts: u32, samples: u32, payload: Payload, at: Instant) {
        self.send(Arrival::Packet {
            seq,
            ts,
            samples,
            payload,
            at,
        });
    }

    /// A redundant copy of frame `seq`.
    pub fn copy(&mut self, seq: u16, payload: Payload) {
        self.send(Arrival::Copy { seq, payload });
    }

    fn send(&mut self, a: Arrival) {
        if self.ring.push(a).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// The playout side's end: the jitter buffer, fed from the ring.
pub struct RemoteAudio {
    ring: rtrb::Consumer<Arrival>,
    buffer: JitterBuffer,
    figures: Arc<Figures>,
}

impl RemoteAudio {
    /// Moves everything that has arrived into the buffer, and returns it to play from.
    pub fn take_arrivals(&mut self) -> &mut JitterBuffer {
        while let Ok(a) = self.ring.pop() {
            match a {
                Arrival::Packet {
                    seq,
                    ts,
                    samples,
                    payload,
                    at,
                } => {
                    self.buffer.set_packet_samples(samples);
                    self.buffer.push_stamped(seq, ts, payload, at);
                }
                Arrival::Copy { seq, payload } => self.buffer.push_redundant(seq, payload),
            }
        }
        &mut self.buffer
    }

    /// The buffer, as it stands.
    pub fn buffer(&self) -> &JitterBuffer {
        &self.buffer
    }

    /// Makes the buffer's figures readable by others.
    pub fn publish(&self) {
        self.figures.store(&self.buffer.stats());
    }
}

/// A new feed for a buffer configured by `cfg`, and what reads its figures.
pub fn audio_feed(cfg: JitterConfig) -> (AudioFeed, RemoteAudio, FeedStats) {
    let (tx, rx) = rtrb::RingBuffer::new(RING);
    let figures = Arc::new(Figures::default());
    let dropped = Arc::new(AtomicU64::new(0));
    (
        AudioFeed {
            ring: tx,
            dropped: dropped.clone(),
        },
        RemoteAudio {
            ring: rx,
            buffer: JitterBuffer::new(cfg),
            figures: figures.clone(),
        },
        FeedStats { figures, dropped },
    )
}

/// The buffer's figures as last published by the playout thread, and what the full ring
/// dropped.
#[derive(Clone)]
pub struct FeedStats {
    figures: Arc<Figures>,
    dropped: Arc<AtomicU64>,
}

impl FeedStats {
    pub fn jitter(&self) -> JitterStats {
        self.figures.load()
    }

    /// Arrivals dropped because the playout side was not taking them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

/// `JitterStats`, field by field. A reader may see one publication's counts beside the next
/// one's: each figure is right, and they are for display and reports, not arithmetic that
/// must balance.
#[derive(Default)]
struct Figures {
    received: AtomicU64,
    played: AtomicU64,
    recovered: AtomicU64,
    repaired: AtomicU64,
    concealed: AtomicU64,
    late: AtomicU64,
    duplicates: AtomicU64,
    dropped: AtomicU64,
    inserted: AtomicU64,
    slowed: AtomicU64,
    resets: AtomicU64,
    depth: AtomicU64,
    target: AtomicU64,
    jitter_ms: AtomicU64,
    rate_ppm: AtomicU64,
}

impl Figures {
    fn store(&self, s: &JitterStats) {
        let put = |a: &AtomicU64, v: u64| a.store(v, Relaxed);
        put(&self.received, s.received);
        put(&self.played, s.played);
        put(&self.recovered, s.recovered);
        put(&self.repaired, s.repaired);
        put(&self.concealed, s.concealed);
        put(&self.late, s.late);
        put(&self.duplicates, s.duplicates);
        put(&self.dropped, s.dropped);
        put(&self.inserted, s.inserted);
        put(&self.slowed, s.slowed);
        put(&self.resets, s.resets);
        put(&self.depth, u64::from(s.depth));
        put(&self.target, u64::from(s.target));
        put(&self.jitter_ms, s.jitter_ms.to_bits());
        put(&self.rate_ppm, s.rate_ppm.to_bits());
    }

    fn load(&self) -> JitterStats {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let small = |a: &AtomicU64| u32::try_from(get(a)).unwrap_or(u32::MAX);
        JitterStats {
            received: get(&self.received),
            played: get(&self.played),
            recovered: get(&self.recovered),
            repaired: get(&self.repaired),
            concealed: get(&self.concealed),
            late: get(&self.late),
            duplicates: get(&self.duplicates),
            dropped: get(&self.dropped),
            inserted: get(&self.inserted),
            slowed: get(&self.slowed),
            resets: get(&self.resets),
            depth: small(&self.depth),
            target: small(&self.target),
            jitter_ms: f64::from_bits(get(&self.jitter_ms)),
            rate_ppm: f64::from_bits(get(&self.rate_ppm)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::format::FrameDuration;
    use crate::jitter::Playout;

    fn cfg() -> JitterConfig {
        JitterConfig::for_frame(FrameDuration::Ms5)
    }

    #[test]
    fn packets_reach_the_buffer_in_order_and_at_the_times_they_arrived() {
        let (mut feed, mut remote, stats) = audio_feed(cfg());
        let t0 = Instant::now();
        let samples = FrameDuration::Ms5.samples() as u32;
        let mut got = Vec::new();
        let mut play = |remote: &mut RemoteAudio| {
            if let Playout::Packet(p) = remote.take_arrivals().pop() {
                got.push(p[0]);
            }
        };
        // As on a link: a packet every 5 ms, the playout side taking once a frame.
        for k in 0..20u8 {
            let at = t0 + std::time::Duration::from_millis(5 * u64::from(k));
            feed.packet(
                u16::from(k),
                u32::from(k) * samples,
                samples,
                Payload::from(vec![k]),
                at,
            );
            play(&mut remote);
        }
        // Frame 20's own packet is lost; a copy of it rides the next one.
        feed.copy(20, Payload::from(vec![20u8]));
        let at = t0 + std::time::Duration::from_millis(105);
        feed.packet(21, 21 * samples, samples, Payload::from(vec![21u8]), at);
        assert_eq!(
            stats.jitter().received,
            0,
            "nothing is counted until published"
        );
        for _ in 0..6 {
            play(&mut remote);
        }
        remote.publish();
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
        assert_eq!(got.last(), Some(&21), "{got:?}");
        let s = stats.jitter();
        assert_eq!((s.received, s.repaired), (21, 1), "{s:?}");
    }

    #[test]
    fn a_full_ring_drops_and_counts_and_never_waits() {
        let (mut feed, mut remote, stats) = audio_feed(cfg());
        let now = Instant::now();
        for k in 0..(RING + 10) {
            feed.packet(
                k as u16,
                k as u32 * 240,
                240,
                Payload::from_static(b"x"),
                now,
            );
        }
        assert_eq!(stats.dropped(), 10);
        remote.take_arrivals();
        feed.packet(0, 0, 240, Payload::from_static(b"x"), now);
        assert_eq!(stats.dropped(), 10, "room again once taken");
    }

    #[test]
    fn figures_come_back_whole() {
        let f = Figures::default();
        let s = JitterStats {
            received: 1,
            played: 2,
            recovered: 3,
            repaired: 4,
            concealed: 5,
            late: 6,
            duplicates: 7,
            dropped: 8,
            inserted: 9,
            slowed: 13,
            resets: 10,
            depth: 11,
            target: 12,
            jitter_ms: 1.25,
            rate_ppm: -41.5,
        };
        f.store(&s);
        assert_eq!(f.load(), s);
    }
}
