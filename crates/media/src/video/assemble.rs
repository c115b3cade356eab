//! VP8 frames from RTP packets, released the moment they are complete: when the packet with
//! the marker bit is in and every packet from the frame's first on has arrived. (The generic
//! sample builder waits for the next frame's first packet before releasing one — a whole frame
//! period, 33 ms at 30 fps, of added delay.) A frame that cannot complete (a packet lost) is
//! given up once a later frame completes, and the next frame says that something was lost.

use crate::jitter::SeqUnwrap;
use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use std::collections::BTreeMap;

/// A complete frame's VP8 data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    pub data: Bytes,
    pub rtp_timestamp: u32,
    /// Packets (so frames) were lost since the previous frame released.
    pub lost_before: bool,
}

struct Piece {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
}

/// Bound on packets held while waiting (a 640×480 keyframe is a few dozen).
const MAX_HELD: usize = 1024;

#[derive(Default)]
pub struct FrameAssembler {
    seq: SeqUnwrap,
    held: BTreeMap<u64, Piece>,
    /// The sequence number after the last released frame.
    next: Option<u64>,
    lost: bool,
}

impl FrameAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Packets held waiting for their frames to complete.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Bytes of payload held (the fuzz and property models' bound on what a packet releases).
    pub fn held_bytes(&self) -> usize {
        self.held.values().map(|p| p.payload.len()).sum()
    }

    /// One RTP packet; returns the frames it completed, oldest first.
    pub fn push(
        &mut self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    ) -> Vec<AssembledFrame> {
        let ext = self.seq.unwrap(seq);
        if self.next.is_some_and(|n| ext < n) {
            return Vec::new(); // late or duplicate: its frame is gone
        }
        self.held.insert(
            ext,
            Piece {
                timestamp,
                marker,
                payload,
            },
        );
        while self.held.len() > MAX_HELD {
            self.held.pop_first();
            self.lost = true;
        }
        let mut out = Vec::new();
        while let Some(frame) = self.complete_frame() {
            out.push(frame);
        }
        out
    }

    /// The first complete frame held, releasing it and dropping anything older.
    fn complete_frame(&mut self) -> Option<AssembledFrame> {
        // Every marker packet ends a frame; look for the earliest whose frame is whole.
        let ends: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(&k, _)| k)
            .collect();
        let probe = Vp8Packet::default();
        for end in ends {
            let ts = self.held[&end].timestamp;
            // Walk back over consecutive packets of the same timestamp to the frame's head.
            let mut start = end;
            let mut whole = false;
            loop {
                let p = &self.held[&start];
                if p.timestamp != ts {
                    break;
                }
                if probe.is_partition_head(&p.payload) {
                    whole = true;
                    break;
                }
                match start.checked_sub(1) {
                    Some(prev) if self.held.contains_key(&prev) => start = prev,
                    _ => break,
                }
            }
            if !whole {
                continue;
            }
            // Everything before `start` can no longer complete.
            let skipped =
                self.next.is_some_and(|n| start > n) || self.held.range(..start).next().is_some();
            while self.held.first_key_value().is_some_and(|(&k, _)| k < start) {
                self.held.pop_first();
            }
            let mut data = BytesMut::new();
            let mut ok = true;
            for k in start..=end {
                if let Some(p) = self.held.remove(&k) {
                    // A fresh depacketizer per packet: it keeps descriptor fields between calls.
                    match Vp8Packet::default().depacketize(&p.payload) {
                        Ok(part) => data.extend_from_slice(&part),
                        Err(_) => ok = false,
                    }
                }
            }
            let lost_before = self.lost || skipped;
            self.next = Some(end + 1);
            self.lost = !ok;
            if !ok {
                continue;
            }
            return Some(AssembledFrame {
                data: data.freeze(),
                rtp_timestamp: ts,
                lost_before,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 payload descriptor (no extensions) with the S bit for a partition head.
    fn pkt(head: bool, body: &[u8]) -> Bytes {
        let mut v = vec![if head { 0x10 } else { 0x00 }];
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn a_frame_is_released_when_its_last_packet_arrives_not_later() {
        let mut a = FrameAssembler::new();
        assert!(a.push(10, 900, false, pkt(true, b"ab_")).is_empty());
        assert!(a.push(11, 900, false, pkt(false, b"cd_")).is_empty());
        let out = a.push(12, 900, true, pkt(false, b"ef_"));
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], b"ab_cd_ef_");
        assert!(!out[0].lost_before);
        let out = a.push(13, 3900, true, pkt(true, b"ggg"));
        assert_eq!(&out[0].data[..], b"ggg");
    }

    #[test]
    fn reordered_packets_still_make_the_frame() {
        let mut a = FrameAssembler::new();
        assert!(a.push(65535, 0, true, pkt(false, b"333")).is_empty());
        assert!(a.push(65533, 0, false, pkt(true, b"111")).is_empty());
        let out = a.push(65534, 0, false, pkt(false, b"222"));
        assert_eq!(&out[0].data[..], b"111222333");
    }

    #[test]
    fn a_frame_with_a_lost_packet_is_given_up_and_the_next_says_so() {
        let mut a = FrameAssembler::new();
        a.push(1, 0, true, pkt(true, b"aaa"));
        a.push(2, 3000, false, pkt(true, b"bbb")); // 3 (its end) is lost
        let out = a.push(4, 6000, true, pkt(true, b"ccc"));
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], b"ccc");
        assert!(out[0].lost_before);
        let out = a.push(5, 9000, true, pkt(true, b"ddd"));
        assert!(!out[0].lost_before);
        // The lost packet turning up late changes nothing.
        assert!(a.push(3, 3000, true, pkt(false, b"xxx")).is_empty());
    }

    #[test]
    fn malformed_payloads_do_not_panic() {
        let mut a = FrameAssembler::new();
        for seq in 0..50u16 {
            let _ = a.push(seq, u32::from(seq / 3), seq % 3 == 2, Bytes::new());
            let _ = a.push(seq, 7, true, Bytes::from_static(&[0xFF]));
        }
    }
}
