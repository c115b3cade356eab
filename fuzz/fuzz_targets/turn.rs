//! The TURN relay's credential checks and revocations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutti_server::turn::credential_property;

fuzz_target!(|input: (Vec<u8>, String, String, String, u32)| {
    let (secret, username, peer, other, now) = input;
    credential_property(&secret, &username, &peer, &other, now).unwrap();
});
