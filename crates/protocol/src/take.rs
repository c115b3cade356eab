//! A take's lossless track, sent from the participant who recorded it to the host, over each
//! link's second data channel (reliable and ordered). Control messages are JSON text, one enum
//! per direction; the file itself goes as binary messages, each [`Chunk::encode`]d: the take's
//! id, where the bytes go in the file, the bytes.
//!
//! Resumable: the receiver says how much of a take it already holds ([`FromReceiver::Want`]),
//! after a cut, a rebuilt link or a restart of either side, and the sender goes on from there.
//! Verified: the receiver keeps the file only if its SHA-256 is the one offered.

use serde::{Deserialize, Serialize};

/// From the participant sending a take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromSender {
    /// A take to send: `bytes` long, its SHA-256 `sha256` (lowercase hex). `id` names it on
    /// both sides (the same take offered again after a cut has the same id).
    Offer {
        id: String,
        /// Whose part it is (the sender's name), shown with it.
        name: String,
        bytes: u64,
        sha256: String,
        /// Where it starts on the take's timeline and how long it is, seconds.
        start_s: f64,
        seconds: f64,
    },
}

/// From the participant receiving a take (the host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromReceiver {
    /// Send take `id` from byte `from` on (0: all of it; what was received before a cut is
    /// kept and not sent again).
    Want { id: String, from: u64 },
    /// Take `id` arrived whole, its hash the one offered: the sender is done with it.
    Kept { id: String },
    /// Take `id` cannot be kept here (`reason`, in words): the sender stops offering it.
    Refused { id: String, reason: String },
}

/// One binary message of a take: `data` goes at byte `at` of take `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<'a> {
    pub id: &'a str,
    pub at: u64,
    pub data: &'a [u8],
}

/// Why a binary message is not a chunk.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a chunk of a take")]
pub struct NotAChunk;

impl<'a> Chunk<'a> {
    /// The id's length (one byte), the id, `at` (8 bytes, big-endian), the data.
    pub fn encode(&self) -> Vec<u8> {
        let id = &self.id.as_bytes()[..self.id.len().min(255)];
        let mut out = Vec::with_capacity(1 + id.len() + 8 + self.data.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(self.data);
        out
    }

    pub fn decode(bytes: &'a [u8]) -> Result<Self, NotAChunk> {
        let (&n, rest) = bytes.split_first().ok_or(NotAChunk)?;
        let n = usize::from(n);
        if rest.len() < n + 8 {
            return Err(NotAChunk);
        }
        let id = std::str::from_utf8(&rest[..n]).map_err(|_| NotAChunk)?;
        let at = u64::from_be_bytes(rest[n..n + 8].try_into().map_err(|_| NotAChunk)?);
        Ok(Self {
            id,
            at,
            data: &rest[n + 8..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_reads_back_as_written() {
        let c = Chunk {
            id: "take-1",
            at: 1 << 40,
            data: b"RIFF",
        };
        assert_eq!(Chunk::decode(&c.encode()), Ok(c));
        assert_eq!(Chunk::decode(&[]), Err(NotAChunk));
        assert_eq!(Chunk::decode(&[9, b'a']), Err(NotAChunk));
        assert_eq!(
            Chunk::decode(&[1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(NotAChunk)
        );
    }

    #[test]
    fn control_messages_are_tagged_json() {
        let m = FromReceiver::Want {
            id: "t".into(),
            from: 5,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"type":"want","id":"t","from":5}"#);
        assert_eq!(serde_json::from_str::<FromReceiver>(&text).unwrap(), m);
        assert!(serde_json::from_str::<FromSender>(&text).is_err());
    }
}
