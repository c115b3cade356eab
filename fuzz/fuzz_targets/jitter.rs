//! The jitter buffer against arbitrary arrivals, at every frame length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutti_media::FrameDuration;
use tutti_media::properties::jitter::{Event, run};

fuzz_target!(|input: (u8, Vec<Event>)| {
    let (frame, events) = input;
    let frame = FrameDuration::ALL[usize::from(frame) % FrameDuration::ALL.len()];
    run(frame, events).unwrap();
});
