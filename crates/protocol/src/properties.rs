//! Decoding against any input, one function per direction, each returning the first property
//! broken: the `frames` fuzz target runs them on the fuzzer's bytes and
//! `tests/decode_properties.rs` on generated text. Whatever arrives — from a client at the
//! server, from the server at a client, from a peer over the data channel — is a message that
//! encodes back to itself, or a typed error; never a panic.

/// Fails a property model's run with a message, as `prop_assert!` would, without depending on
/// proptest (the models here, in the hub and in the media engine use it).
#[doc(hidden)]
#[macro_export]
macro_rules! property_check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

use crate::error::Envelope;
use crate::take::Chunk;
use crate::{ClientFrame, PeerMessage, ServerMessage};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A frame a client sent the server: decodes and round-trips, or is refused with a message
/// that echoes the request id whenever the text had a readable one.
pub fn client_frame(text: &str) -> Result<(), String> {
    match ClientFrame::decode(text) {
        Ok(frame) => {
            let again = serde_json::to_string(&frame).map_err(|e| e.to_string())?;
            match ClientFrame::decode(&again) {
                Ok(back) if back == frame => Ok(()),
                back => Err(format!(
                    "{text:?} decoded as {frame:?}, round-tripped as {back:?}"
                )),
            }
        }
        Err(e) if e.message.is_empty() => Err(format!("{text:?} refused without a message")),
        Err(e) => {
            // Readable: the frame's `req` as the envelope reads it (a JSON object whose `req`
            // is a request id, whatever else is wrong with it). Only an object: serde would read
            // the struct from an array too (`[3, 1]`, found by the fuzzer), which is no frame.
            // Whether it is one is told by its first character, as decoding does: a value
            // serde_json cannot hold (`23e10122222222`) does not make it less of an object.
            let object = text.trim_start().starts_with('{');
            let req = object
                .then(|| serde_json::from_str::<Envelope>(text).ok())
                .flatten()
                .and_then(|e| e.req);
            if e.re == req {
                Ok(())
            } else {
                Err(format!(
                    "{text:?} refused ({}) echoing {:?}, not {req:?}",
                    e.message, e.re
                ))
            }
        }
    }
}

/// A message a client got from the server.
pub fn server_message(text: &str) -> Result<(), String> {
    round_trip::<ServerMessage>(text)
}

/// A data-channel message from a peer: JSON control, or a binary chunk of a take.
pub fn peer_message(bytes: &[u8]) -> Result<(), String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        round_trip::<PeerMessage>(text)?;
    }
    if let Ok(chunk) = Chunk::decode(bytes) {
        let again = chunk.encode();
        match Chunk::decode(&again) {
            Ok(back) if back == chunk => {}
            back => return Err(format!("{chunk:?} round-tripped as {back:?}")),
        }
    }
    Ok(())
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    text: &str,
) -> Result<(), String> {
    let Ok(m) = serde_json::from_str::<T>(text) else {
        return Ok(());
    };
    let again = serde_json::to_string(&m).map_err(|e| format!("{m:?} not encoded: {e}"))?;
    match serde_json::from_str::<T>(&again) {
        Ok(back) if back == m => Ok(()),
        back => Err(format!("{text:?} read as {m:?}, round-tripped as {back:?}")),
    }
}
