//! Audio and video depacketizing against arbitrary RTP packets: the raw bytes are parsed as the
//! WebRTC stack parses them, then go through what Tutti does with a packet (Opus or RED into
//! the jitter buffer, VP8 into the frame assembler). Properties: no panic; every RED packet is
//! either refused or split exactly into its headers and blocks; no frame is longer than what
//! arrived (nothing released twice); what is held stays bounded.

use super::{check, depth_bound};
use crate::depacketize::AudioDepacketizer;
use crate::format::FrameDuration;
use crate::jitter::{JitterBuffer, JitterConfig};
use crate::red::{self, RED_PT};
use crate::video::assemble::FrameAssembler;
use bytes::Bytes;
use rtc::rtp::packet::Packet;
use rtc::shared::marshal::Unmarshal;
use std::time::{Duration, Instant};

use crate::link::VP8_PT;

#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Input {
    /// A datagram as it came off the wire, whatever it holds.
    Raw(Vec<u8>),
    /// A well-formed RTP header around an arbitrary payload, so that most inputs reach the
    /// depacketizers rather than stopping at the RTP parser.
    Rtp {
        pt: u8,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    },
    /// One playout frame of the audio.
    Pop,
}

fn rtp(pt: u8, seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, (u8::from(marker) << 7) | (pt & 0x7F)];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// Feeds one audio and one video receiver with `inputs`.
pub fn run(inputs: impl IntoIterator<Item = Input>) -> Result<(), String> {
    let mut audio = AudioDepacketizer::default();
    let cfg = JitterConfig::for_frame(FrameDuration::Ms2_5);
    let mut jb = JitterBuffer::new(cfg);
    let mut video = FrameAssembler::new();
    let t0 = Instant::now();
    for (i, input) in inputs.into_iter().enumerate() {
        let now = t0 + Duration::from_micros(500 * i as u64);
        let datagram = match input {
            Input::Pop => {
                jb.pop();
                let s = jb.stats();
                check!(
                    s.depth <= depth_bound(&cfg),
                    "jitter depth {}: {s:?}",
                    s.depth
                );
                continue;
            }
            Input::Raw(b) => b,
            Input::Rtp {
                pt,
                seq,
                timestamp,
                marker,
                payload,
            } => rtp(pt, seq, timestamp, marker, &payload),
        };
        let Ok(packet) = Packet::unmarshal(&mut &datagram[..]) else {
            continue; // not RTP: the stack drops it before us
        };
        let h = &packet.header;
        let payload: Bytes = packet.payload.clone();
        if h.payload_type == VP8_PT {
            // VP8 descriptors are stripped, so what one packet releases is at most what was
            // held with it: a packet released twice would exceed it.
            let could = video.held_bytes() + payload.len();
            let out: usize = video
                .push(h.sequence_number, h.timestamp, h.marker, payload)
                .iter()
                .map(|f| f.data.len())
                .sum();
            check!(out <= could, "{out} bytes of frames from {could} held");
            check!(video.held() <= 1024, "{} packets held", video.held());
            continue;
        }
        if h.payload_type == RED_PT
            && let Ok(parsed) = red::parse(&payload)
        {
            let blocks: usize = parsed.redundant.iter().map(|b| 4 + b.data.len()).sum();
            check!(
                blocks + 1 + parsed.primary.data.len() == payload.len(),
                "RED split {} bytes into {blocks} + 1 + {}",
                payload.len(),
                parsed.primary.data.len()
            );
        }
        if let Ok(Some(a)) = audio.packet(h.payload_type, h.timestamp, &payload) {
            // 2.5 ms at the least; at the most 63 frames of 60 ms (Opus's code 3).
            check!(
                (120..=2880 * 63).contains(&a.samples),
                "{} samples per frame",
                a.samples
            );
            jb.set_packet_samples(a.samples);
            jb.push(a.seq, a.primary, now);
            for (seq, data) in a.copies {
                jb.push_redundant(seq, data);
            }
        }
    }
    Ok(())
}
