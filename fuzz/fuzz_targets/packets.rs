//! RTP, RED, Opus TOC and VP8 assembly from arbitrary packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutti_media::properties::packets::{Input, run};

fuzz_target!(|inputs: Vec<Input>| {
    run(inputs).unwrap();
});
