//! Peer ↔ peer, over each WebRTC link's data channel (not through the room server): the clock
//! exchange, the host's metronome, and what each side's sound takes to reach the other's ear. JSON text, one message each, the same in both directions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerMessage {
    /// Sent at `t1` (the sender's monotonic clock, ns). Answered by `clock_pong`.
    ClockPing { id: u32, t1: u64 },
    /// The answer to ping `id`: received at `t2`, sent at `t3` (the answering side's clock).
    ClockPong { id: u32, t2: u64, t3: u64 },
    /// From the host: the metronome as it now is (`plan` absent: stopped). Sent on every
    /// change and whenever a link's channel opens; `revision` grows with each change.
    Metronome {
        revision: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<MetronomePlan>,
    },
    /// Where the sender's audio stream is: what decodes as the sample stamped `rtp_ts` (its RTP
    /// timestamp, 48 kHz; the encoder's look-ahead included) reached the sender's microphone at
    /// `at_ns` (the sender's monotonic clock). Sent once a second, so that the receiver knows
    /// when what it plays was played.
    AudioAnchor { rtp_ts: u32, at_ns: u64 },
    /// The receiver heard what decodes as the sender's sample stamped `rtp_ts` at `at_ns` (the
    /// receiver's monotonic clock): the leader learns when the follower heard what, and so how
    /// late, on its own estimate of the follower's clock (the one that also places the
    /// follower's part, so that an error in it cancels). Sent when the delay changes by half a
    /// millisecond (the jitter buffer changed its depth), and the last again once a second.
    Heard { rtp_ts: u32, at_ns: u64 },
}

/// How strongly a beat of the bar clicks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accent {
    Strong,
    Normal,
    Silent,
}

/// A running metronome, the same on every machine: each generates its clicks itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetronomePlan {
    pub bpm: f64,
    /// One per beat of the bar (its length is the meter's numerator).
    pub accents: Vec<Accent>,
    /// Bars counted in before the first bar of playing (clicked differently, shown as such).
    pub count_in_bars: u8,
    /// When the first beat (of the count-in, if any) sounds, on the host's monotonic clock, ns:
    /// the shared time.
    pub start_ns: u64,
}

/// Why a metronome cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetronomeError {
    #[error("tempo must be 20–300 beats a minute")]
    Tempo,
    #[error("a bar must have 1–16 beats")]
    Meter,
    #[error("a count-in is 0–4 bars")]
    CountIn,
}

impl MetronomePlan {
    pub const MIN_BPM: f64 = 20.0;
    pub const MAX_BPM: f64 = 300.0;

    pub fn validate(&self) -> Result<(), MetronomeError> {
        if !(Self::MIN_BPM..=Self::MAX_BPM).contains(&self.bpm) {
            return Err(MetronomeError::Tempo);
        }
        if self.accents.is_empty() || self.accents.len() > 16 {
            return Err(MetronomeError::Meter);
        }
        if self.count_in_bars > 4 {
            return Err(MetronomeError::CountIn);
        }
        Ok(())
    }

    /// The usual accents for `beats` a bar: the first strong.
    pub fn accents_for(beats: u8) -> Vec<Accent> {
        (0..beats.clamp(1, 16))
            .map(|i| {
                if i == 0 {
                    Accent::Strong
                } else {
                    Accent::Normal
                }
            })
            .collect()
    }

    /// Nanoseconds between beats.
    pub fn beat_ns(&self) -> f64 {
        60e9 / self.bpm
    }

    pub fn beats_per_bar(&self) -> usize {
        self.accents.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn messages_read_back_as_written() {
        let plan = MetronomePlan {
            bpm: 96.0,
            accents: MetronomePlan::accents_for(3),
            count_in_bars: 1,
            start_ns: 123_456_789_000,
        };
        for m in [
            PeerMessage::ClockPing { id: 7, t1: 1 },
            PeerMessage::ClockPong {
                id: 7,
                t2: 2,
                t3: 3,
            },
            PeerMessage::Metronome {
                revision: 2,
                plan: Some(plan),
            },
            PeerMessage::Metronome {
                revision: 3,
                plan: None,
            },
        ] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<PeerMessage>(&text).unwrap(), m);
        }
        let text = r#"{"type":"metronome","revision":1,"plan":{"bpm":60.0,"accents":["strong","silent"],"count_in_bars":0,"start_ns":5}}"#;
        assert!(serde_json::from_str::<PeerMessage>(text).is_ok());
    }

    #[test]
    fn plans_out_of_range_are_refused() {
        let ok = MetronomePlan {
            bpm: 120.0,
            accents: MetronomePlan::accents_for(4),
            count_in_bars: 1,
            start_ns: 0,
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = |f: fn(&mut MetronomePlan)| {
            let mut p = ok.clone();
            f(&mut p);
            p.validate()
        };
        assert_eq!(bad(|p| p.bpm = 10.0), Err(MetronomeError::Tempo));
        assert_eq!(bad(|p| p.bpm = f64::NAN), Err(MetronomeError::Tempo));
        assert_eq!(bad(|p| p.accents.clear()), Err(MetronomeError::Meter));
        assert_eq!(bad(|p| p.count_in_bars = 9), Err(MetronomeError::CountIn));
    }
}
