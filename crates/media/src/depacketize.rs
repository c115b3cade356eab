//! What the audio receiver makes of one RTP packet, without the socket: plain Opus or RED
//! (RFC 2198), numbered into frames by timestamp at the sender's own frame length. The link runs
//! this on every packet; the `packets` fuzz target runs it on arbitrary ones.

use crate::codec;
use crate::jitter::{FrameIndex, Payload};
use crate::red::{self, RED_PT, RedError};
use thiserror::Error;

/// One packet's audio: its primary frame and any redundant copies of earlier frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAudio {
    /// Frame number (mod 2^16) of the primary.
    pub seq: u16,
    /// Samples per frame, read from the primary's Opus TOC.
    pub samples: u32,
    pub primary: Payload,
    /// Earlier frames, `(frame number, data)`, oldest first.
    pub copies: Vec<(u16, Payload)>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MalformedAudio {
    #[error("not an Opus packet (no readable TOC)")]
    NotOpus,
    #[error("malformed RED packet: {0}")]
    Red(#[from] RedError),
}

/// The receiving side of one audio track.
#[derive(Debug, Default)]
pub struct AudioDepacketizer {
    frames: FrameIndex,
}

impl AudioDepacketizer {
    /// A packet of payload type `pt` stamped `timestamp`; `Ok(None)` for padding (a browser
    /// probing the bandwidth sends empty packets).
    pub fn packet(
        &mut self,
        pt: u8,
        timestamp: u32,
        payload: &Payload,
    ) -> Result<Option<ReceivedAudio>, MalformedAudio> {
        if payload.is_empty() {
            return Ok(None);
        }
        // The payload type we declared for RED is the one the other side sends it with. The
        // sender's frame length is its own (a Settings choice): frames are numbered in it.
        if pt != RED_PT {
            let samples = codec::packet_samples(payload).ok_or(MalformedAudio::NotOpus)?;
            return Ok(Some(ReceivedAudio {
                seq: self.frames.index(timestamp, samples),
                samples,
                primary: payload.clone(),
                copies: Vec::new(),
            }));
        }
        let red = red::parse(payload)?;
        let samples = codec::packet_samples(&red.primary.data).ok_or(MalformedAudio::NotOpus)?;
        let seq = self.frames.index(timestamp, samples);
        Ok(Some(ReceivedAudio {
            seq,
            samples,
            copies: red.copies(seq, samples).collect(),
            primary: red.primary.data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::red::RedEncoder;

    const OPUS_PT: u8 = 111;
    use bytes::Bytes;

    /// A 2.5-ms Opus packet (CELT, config 16: one 120-sample frame) with a marker byte.
    fn opus(mark: u8) -> Vec<u8> {
        vec![16 << 3, mark]
    }

    #[test]
    fn plain_opus_is_numbered_by_timestamp() {
        let mut d = AudioDepacketizer::default();
        let a = d
            .packet(OPUS_PT, 1000, &Bytes::from(opus(1)))
            .unwrap()
            .unwrap();
        let b = d
            .packet(OPUS_PT, 1240, &Bytes::from(opus(2)))
            .unwrap()
            .unwrap();
        assert_eq!((a.seq, a.samples), (0, 120));
        assert_eq!(b.seq, 2, "a frame's gap is a lost frame");
        assert!(b.copies.is_empty());
    }

    #[test]
    fn red_gives_the_primary_and_the_copies_at_their_frame_numbers() {
        let mut enc = RedEncoder::new(2, 120, 1500);
        let mut out = [0u8; 1500];
        let mut d = AudioDepacketizer::default();
        let mut last = None;
        for i in 0..3u8 {
            let n = enc.encode(&opus(i), OPUS_PT, &mut out);
            let payload = Bytes::copy_from_slice(&out[..n]);
            last = d
                .packet(RED_PT, 5000 + 120 * u32::from(i), &payload)
                .unwrap();
        }
        let last = last.unwrap();
        assert_eq!(last.seq, 2);
        assert_eq!(&last.primary[..], &opus(2)[..]);
        let copies: Vec<(u16, Vec<u8>)> =
            last.copies.iter().map(|(s, b)| (*s, b.to_vec())).collect();
        assert_eq!(copies, vec![(0, opus(0)), (1, opus(1))]);
    }

    #[test]
    fn padding_is_nothing_and_garbage_is_a_typed_error() {
        let mut d = AudioDepacketizer::default();
        assert_eq!(d.packet(OPUS_PT, 0, &Bytes::new()), Ok(None));
        assert_eq!(
            d.packet(RED_PT, 0, &Bytes::from_static(&[0x80 | 111, 0, 0])),
            Err(MalformedAudio::Red(RedError::TruncatedHeader))
        );
        // A code-3 TOC that says zero frames.
        assert_eq!(
            d.packet(OPUS_PT, 0, &Bytes::from_static(&[3, 0])),
            Err(MalformedAudio::NotOpus)
        );
    }
}
