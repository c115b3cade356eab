//! Tutti's media engine: music-grade audio between peers. Capture and playout through cpal,
//! synthetic sources and sinks for tests, Opus in music mode, and the jitter buffer. Builds and
//! tests without devices.

pub mod analysis;
pub mod answer;
pub mod clock;
pub mod codec;
pub mod depacketize;
pub mod device;
pub mod drift;
pub mod duet;
pub mod fader;
pub mod feedback;
pub mod format;
pub mod impair;
pub mod jitter;
pub mod jitter_feed;
pub mod link;
pub mod metronome;
pub mod ogg_opus;
pub mod peer_channel;
pub mod pipeline;
#[doc(hidden)]
pub mod properties;
#[cfg(target_os = "linux")]
mod pulse;
pub mod realtime;
pub mod recent;
pub mod recorder;
pub mod recording;
pub mod red;
pub mod shared_clock;
pub mod signal;
pub mod stream_decoder;
pub mod stretch;
pub mod take_channel;
pub mod take_transfer;
pub mod tcp_turn;
pub mod tuner;
pub mod video;
pub mod waveform;
mod worker;

pub use codec::{CodecError, MusicConfig, MusicDecoder, MusicEncoder};
pub use format::{CHANNELS, FrameDuration, SAMPLE_RATE};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use jitter_feed::{AudioFeed, FeedStats, RemoteAudio, audio_feed};
pub use link::{
    IceServerConfig, LinkConfig, LinkError, LinkEvent, LinkState, PathKind, PeerLink,
    ReceivedVideo, RelayTransport, SendFormat, TransportStats,
};
