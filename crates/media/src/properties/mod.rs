//! Property models of the receive path, each a function from a sequence of inputs to the first
//! property broken. One model, two drivers: bounded proptests in `make test`
//! (`tests/*_properties.rs`) and the fuzz targets in `fuzz/` (`make fuzz`), which build the
//! same inputs from the fuzzer's bytes.

pub mod jitter;
pub mod packets;

pub(crate) use tutti_protocol::property_check as check;

/// How deep a buffer may get, in frames: its latency bound counted in the shortest packets
/// (a 20-ms frame's bound is eight 2.5-ms packets each), with headroom for redundant copies
/// held ahead. Anything past it is memory the buffer failed to give back.
pub(crate) fn depth_bound(cfg: &crate::jitter::JitterConfig) -> u32 {
    cfg.max_depth * 4 * 8 + 64
}
