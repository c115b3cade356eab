//! Frame decoding in every direction: client → server, server → client, peer → peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutti_protocol::properties;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::client_frame(text).unwrap();
        properties::server_message(text).unwrap();
    }
    properties::peer_message(data).unwrap();
});
