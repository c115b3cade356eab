//! The room server's hub driven by arbitrary connects, requests, ticks and disconnects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutti_server::hub::properties::{Op, run};

fuzz_target!(|ops: Vec<Op>| {
    run(ops).unwrap();
});
