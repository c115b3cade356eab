//! The jitter buffer against arbitrary networks (proptest), through the model in
//! `tutti_media::properties::jitter` that the `jitter` fuzz target runs too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use proptest::prelude::*;
use tutti_media::FrameDuration;
use tutti_media::properties::jitter::{Event, run};

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (any::<i8>(), 0u16..10_000).prop_map(|(shift, gap_us)| Event::Packet { shift, gap_us }),
        1 => any::<i8>().prop_map(|shift| Event::Copy { shift }),
        6 => Just(Event::Pop),
        1 => (0u16..2_000).prop_map(|ms| Event::Pause { ms }),
        1 => any::<u16>().prop_map(|seq| Event::Restart { seq }),
        1 => (0u8..4).prop_map(|n| Event::Samples { n }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_network_plays_each_frame_at_most_once_in_order_and_stays_bounded(
        frame in prop::sample::select(FrameDuration::ALL.to_vec()),
        events in prop::collection::vec(event(), 1..1500),
    ) {
        if let Err(broken) = run(frame, events) {
            prop_assert!(false, "{}", broken);
        }
    }
}
