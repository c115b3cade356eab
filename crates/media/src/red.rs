//! Redundant audio (RED, RFC 2198): each packet carries the last frame or two again, so a lost
//! packet's frame arrives with the next one. It is the loss protection that works for music
//! mode: restricted low-delay Opus is CELT-only and its in-band FEC is SILK-only, so without
//! RED a lost frame can only be concealed. At 2.5–5 ms frames a repeated frame costs a few tens
//! of bytes beside the ~70 bytes of IP/UDP/SRTP headers every packet pays anyway.
//!
//! Wire format: one 4-byte header per redundant block (F=1, payload type, timestamp offset,
//! length), a 1-byte header for the primary (F=0, payload type), then the blocks' data in the
//! same order, oldest first and the primary last.

use bytes::Bytes;

/// The payload type we offer for RED over Opus.
pub const RED_PT: u8 = 63;

/// A redundant block's length has 10 bits.
const MAX_BLOCK: usize = 1023;
/// A redundant block's timestamp offset has 14 bits.
const MAX_OFFSET: u32 = (1 << 14) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedError {
    #[error("the RED packet ends inside its headers")]
    TruncatedHeader,
    #[error("the RED packet's blocks are longer than the packet")]
    TruncatedData,
}

/// Builds RED packets from consecutive encoded frames. Holds copies of the last `depth` frames
/// in buffers allocated once, so the audio thread does not allocate per frame.
pub struct RedEncoder {
    depth: usize,
    frame_samples: u32,
    /// Oldest first; `len` of them are valid.
    history: Vec<Vec<u8>>,
    len: usize,
}

impl RedEncoder {
    /// Repeats the last `depth` frames (0 = plain frames in a RED envelope) of `frame_samples`
    /// samples each.
    pub fn new(depth: usize, frame_samples: u32, max_frame: usize) -> Self {
        Self {
            depth,
            frame_samples,
            history: (0..depth).map(|_| Vec::with_capacity(max_frame)).collect(),
            len: 0,
        }
    }

    /// Forgets the history (after a gap in the stream, the old frames are no longer the ones
    /// just before).
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Writes the RED packet for `primary` (of payload type `pt`) into `out`, returning its
    /// length; then remembers `primary` for the packets after. Redundant blocks that do not fit
    /// (in `out`, or in the format's 10-bit length) are left out, never the primary.
    pub fn encode(&mut self, primary: &[u8], pt: u8, out: &mut [u8]) -> usize {
        let pt = pt & 0x7F;
        // Which remembered frames go in: oldest first, as many as fit.
        let mut first = 0;
        loop {
            let blocks = &self.history[first..self.len];
            let size = blocks.iter().map(|b| 4 + b.len()).sum::<usize>() + 1 + primary.len();
            let fits = size <= out.len() && blocks.iter().all(|b| b.len() <= MAX_BLOCK);
            if fits || first == self.len {
                break;
            }
            first += 1;
        }
        let mut at = 0;
        let blocks = self.len - first;
        for (i, block) in self.history[first..self.len].iter().enumerate() {
            let offset = (self.frame_samples * (blocks - i) as u32).min(MAX_OFFSET);
            let word = (offset << 10) | block.len() as u32;
            out[at] = 0x80 | pt;
            out[at + 1..at + 4].copy_from_slice(&word.to_be_bytes()[1..]);
            at += 4;
        }
        if 1 + primary.len() > out.len() - at {
            // Cannot happen with MAX_PACKET-sized buffers; keep the frame rather than panic.
            self.remember(primary);
            return 0;
        }
        out[at] = pt;
        at += 1;
        for block in &self.history[first..self.len] {
            out[at..at + block.len()].copy_from_slice(block);
            at += block.len();
        }
        out[at..at + primary.len()].copy_from_slice(primary);
        at += primary.len();
        self.remember(primary);
        at
    }

    fn remember(&mut self, frame: &[u8]) {
        if self.depth == 0 {
            return;
        }
        if self.len == self.depth {
            self.history.rotate_left(1);
            self.len -= 1;
        }
        let slot = &mut self.history[self.len];
        slot.clear();
        slot.extend_from_slice(frame);
        self.len += 1;
    }
}

/// One block of a RED packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedBlock {
    pub pt: u8,
    /// How many samples (RTP timestamp units) before the packet's own timestamp this frame was.
    pub ts_offset: u32,
    pub data: Bytes,
}

/// A parsed RED packet: the redundant blocks, oldest first, and the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedPacket {
    pub redundant: Vec<RedBlock>,
    pub primary: RedBlock,
}

impl RedPacket {
    /// The redundant frames with the sequence numbers they had, for a packet that itself has
    /// `seq` and frames of `per_frame` samples: a block `ts_offset` samples back is that many
    /// frames, so packets, back (one frame per packet). Blocks whose offset is not a whole
    /// number of frames are left out.
    pub fn copies(&self, seq: u16, per_frame: u32) -> impl Iterator<Item = (u16, Bytes)> + '_ {
        self.redundant
            .iter()
            .filter(move |b| per_frame > 0 && b.ts_offset % per_frame == 0)
            .map(move |b| {
                (
                    seq.wrapping_sub((b.ts_offset / per_frame) as u16),
                    b.data.clone(),
                )
            })
    }
}

/// Splits a RED payload into its blocks (the data are slices of `payload`, not copies).
pub fn parse(payload: &Bytes) -> Result<RedPacket, RedError> {
    let mut headers = Vec::new();
    let mut at = 0;
    let primary_pt = loop {
        let first = *payload.get(at).ok_or(RedError::TruncatedHeader)?;
        if first & 0x80 == 0 {
            at += 1;
            break first & 0x7F;
        }
        let rest = payload
            .get(at + 1..at + 4)
            .ok_or(RedError::TruncatedHeader)?;
        let word = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]);
        headers.push((first & 0x7F, word >> 10, (word & 0x3FF) as usize));
        at += 4;
    };
    let mut redundant = Vec::with_capacity(headers.len());
    for (pt, ts_offset, len) in headers {
        if at + len > payload.len() {
            return Err(RedError::TruncatedData);
        }
        redundant.push(RedBlock {
            pt,
            ts_offset,
            data: payload.slice(at..at + len),
        });
        at += len;
    }
    Ok(RedPacket {
        redundant,
        primary: RedBlock {
            pt: primary_pt,
            ts_offset: 0,
            data: payload.slice(at..),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u8, len: usize) -> Vec<u8> {
        vec![i; len]
    }

    #[test]
    fn each_packet_carries_the_frames_before_it() {
        let mut red = RedEncoder::new(2, 120, 1500);
        let mut out = [0u8; 1500];
        let mut packets = Vec::new();
        for i in 0..4u8 {
            let n = red.encode(&frame(i, 10 + usize::from(i)), 111, &mut out);
            packets.push(parse(&Bytes::copy_from_slice(&out[..n])).unwrap());
        }
        assert!(packets[0].redundant.is_empty());
        assert_eq!(packets[0].primary.data, frame(0, 10));
        assert_eq!(packets[0].primary.pt, 111);
        assert_eq!(packets[1].redundant.len(), 1);
        let p3 = &packets[3];
        assert_eq!(p3.primary.data, frame(3, 13));
        assert_eq!(p3.redundant.len(), 2);
        assert_eq!(p3.redundant[0].data, frame(1, 11));
        assert_eq!(p3.redundant[0].ts_offset, 240);
        assert_eq!(p3.redundant[1].data, frame(2, 12));
        assert_eq!(p3.redundant[1].ts_offset, 120);
        assert!(p3.redundant.iter().all(|b| b.pt == 111));
    }

    #[test]
    fn copies_are_placed_by_their_timestamp_offset() {
        let mut red = RedEncoder::new(2, 120, 1500);
        let mut out = [0u8; 1500];
        red.encode(&[1], 111, &mut out);
        red.encode(&[2], 111, &mut out);
        let n = red.encode(&[3], 111, &mut out);
        let p = parse(&Bytes::copy_from_slice(&out[..n])).unwrap();
        let at = |seq| {
            p.copies(seq, 120)
                .map(|(s, d)| (s, d[0]))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(10), vec![(8, 1), (9, 2)]);
        assert_eq!(at(1), vec![(65535, 1), (0, 2)], "across the wrap");
        // The receiver reads another frame length (a sender at 5 ms): 120 and 240 samples back
        // are not whole frames of 480, so nothing is placed wrongly.
        assert_eq!(p.copies(10, 480).count(), 0);
        assert_eq!(p.copies(10, 0).count(), 0, "unreadable frame length");
    }

    #[test]
    fn the_wire_format_is_rfc_2198() {
        let mut red = RedEncoder::new(1, 120, 1500);
        let mut out = [0u8; 64];
        red.encode(&[0xAA, 0xBB], 111, &mut out);
        let n = red.encode(&[0xCC], 111, &mut out);
        // F=1|111, offset 120 (14 bits) and length 2 (10 bits), F=0|111, then the data.
        let word: u32 = (120 << 10) | 2;
        let w = word.to_be_bytes();
        assert_eq!(
            &out[..n],
            &[0x80 | 111, w[1], w[2], w[3], 111, 0xAA, 0xBB, 0xCC]
        );
    }

    #[test]
    fn redundancy_that_does_not_fit_is_left_out_never_the_primary() {
        let mut red = RedEncoder::new(2, 120, 2000);
        let mut out = [0u8; 1500];
        red.encode(&frame(0, 1100), 111, &mut out); // too long for a 10-bit length
        red.encode(&frame(1, 600), 111, &mut out);
        let n = red.encode(&frame(2, 700), 111, &mut out);
        let p = parse(&Bytes::copy_from_slice(&out[..n])).unwrap();
        assert_eq!(p.redundant.len(), 1);
        assert_eq!(p.redundant[0].data, frame(1, 600));
        assert_eq!(p.primary.data, frame(2, 700));

        let mut small = [0u8; 710];
        let n = red.encode(&frame(3, 700), 111, &mut small);
        let p = parse(&Bytes::copy_from_slice(&small[..n])).unwrap();
        assert!(
            p.redundant.is_empty(),
            "no room for the 700-byte frame before"
        );
        assert_eq!(p.primary.data, frame(3, 700));
    }

    #[test]
    fn after_a_reset_no_stale_frames_are_repeated() {
        let mut red = RedEncoder::new(2, 120, 1500);
        let mut out = [0u8; 1500];
        red.encode(&[1], 111, &mut out);
        red.reset();
        let n = red.encode(&[2], 111, &mut out);
        assert!(
            parse(&Bytes::copy_from_slice(&out[..n]))
                .unwrap()
                .redundant
                .is_empty()
        );
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(parse(&Bytes::new()), Err(RedError::TruncatedHeader));
        assert_eq!(
            parse(&Bytes::from_static(&[0x80 | 111, 0, 0])),
            Err(RedError::TruncatedHeader)
        );
        // Announces a 5-byte block, carries 1.
        let word = ((120u32 << 10) | 5).to_be_bytes();
        assert_eq!(
            parse(&Bytes::copy_from_slice(&[
                0x80 | 111,
                word[1],
                word[2],
                word[3],
                111,
                1
            ])),
            Err(RedError::TruncatedData)
        );
        // Every byte string parses or errs.
        for len in 0..12usize {
            for fill in [0x00u8, 0x80, 0xFF] {
                let _ = parse(&Bytes::from(vec![fill; len]));
            }
        }
    }
}
