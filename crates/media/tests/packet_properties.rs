//! Audio and video depacketizing against arbitrary RTP packets (proptest), through the model in
//! `tutti_media::properties::packets` that the `packets` fuzz target runs too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use proptest::prelude::*;
use tutti_media::properties::packets::{Input, run};

/// Payload types that reach each depacketizer, and some that reach none.
fn pt() -> impl Strategy<Value = u8> {
    prop_oneof![Just(63u8), Just(96), Just(111), any::<u8>()]
}

/// Payloads near real ones: RED headers, Opus TOCs and VP8 descriptors are all in a packet's
/// first bytes, so short ones with chosen heads reach the interesting cases.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        // A VP8 descriptor whose S bit says "start of a partition", then data.
        prop::collection::vec(any::<u8>(), 0..30).prop_map(|mut v| {
            v.insert(0, 0x10);
            v
        }),
        // RED with one redundant block of a small length, then a primary.
        (
            any::<u8>(),
            0u8..8,
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(off, len, rest)| {
                let mut v = vec![0x80 | 111, off, 0, len, 111];
                v.extend(rest);
                v
            }),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Input::Raw),
        8 => (pt(), any::<u16>(), any::<u32>(), any::<bool>(), payload()).prop_map(
            |(pt, seq, timestamp, marker, payload)| Input::Rtp { pt, seq, timestamp, marker, payload }
        ),
        // Runs of consecutive packets, as a real stream sends them.
        4 => (0u16..64, 0u32..4, any::<bool>(), payload()).prop_map(
            |(seq, ts, marker, payload)| Input::Rtp {
                pt: 96, seq: 1000 + seq, timestamp: 90_000 + ts * 3000, marker, payload
            }
        ),
        3 => Just(Input::Pop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_packets_are_depacketized_without_panic_or_duplication_and_stay_bounded(
        inputs in prop::collection::vec(input(), 1..400),
    ) {
        if let Err(broken) = run(inputs) {
            prop_assert!(false, "{}", broken);
        }
    }
}
