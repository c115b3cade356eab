//! Property models of the receive path, each a function from a sequence of inputs to the first
//! property broken. One model, two drivers: bounded proptests in `make test`
//! (`tests/*_properties.rs`) and the fuzz targets in `fuzz/` (`make fuzz`), which build the
//! same inputs from the fuzzer's bytes.

pub mod jitter;
pub mod packets;

/// Fails the run with a message, as `prop_assert!` would, without depending on proptest.
macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}
pub(crate) use check;
