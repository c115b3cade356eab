//! One WebRTC peer connection to one remote participant, carrying music-mode Opus both ways.
//!
//! Negotiation goes through the room server (offer/answer and trickled candidates come and go
//! as [`LinkEvent`]s and method calls); DTLS-SRTP as always; RTCP on (the default interceptors,
//! of which audio uses the sender and receiver reports: Opus is offered without NACK or
//! transport-wide feedback, which would only add delay to 2.5 ms frames). Received RTP goes straight into
//! this link's jitter buffer; the playout side pops from it.

use crate::codec::MusicConfig;
use crate::depacketize::AudioDepacketizer;
use crate::feedback::{self, Feedback, KeyframeNeed, VideoFeedback};
use crate::format::SAMPLE_RATE;
use crate::jitter::{JitterConfig, JitterStats};
use crate::jitter_feed::{AudioFeed, FeedStats, RemoteAudio, audio_feed};
use crate::peer_channel::{MetronomeState, PeerChannel, PeerChannelState};
use crate::red::RED_PT;
use bytes::Bytes;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCIceTransportPolicy;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceCandidateType, RTCIceGatheringState,
    RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    Registry, StatsSelector, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;
use webrtc::runtime::{Runtime, TokioRuntime};

/// The payload type we offer for Opus (the one browsers use too).
const OPUS_PT: u8 = 111;
/// The payload type we offer for VP8.
pub(crate) const VP8_PT: u8 = 96;
/// Complete video frames waiting for the consumer before newer ones are dropped.
const VIDEO_QUEUE: usize = 8;
/// Audio frames handed over by the send thread and not written yet: a writer that stalls costs
/// dropped frames, never a waiting audio thread. 80 ms at 2.5-ms frames: a tokio worker kept
/// off the CPU for tens of milliseconds (a busy machine; the send thread runs at real-time
/// priority, the writer does not) must cost a late burst, which the other side's buffer
/// absorbs whole, not lost audio.
const OUTBOX: usize = 32;

/// One encoded audio frame on its way from the send thread to the link's writer task.
struct OutFrame {
    data: Bytes,
    payload_type: u8,
    /// Audio: when what decodes as its first sample reached the microphone (the encoder's
    /// look-ahead before the frame's first sample). Video: when it was captured.
    captured: Instant,
    /// Frames dropped just before this one (the outbox was full): its RTP timestamp and
    /// sequence number skip them, so that the other side knows audio is missing (and repairs
    /// it from the RED copies this frame carries) instead of playing on with a jump in it.
    skipped: u16,
}

/// The link's writer: takes frames from the outbox and writes them to the track (SRTP and the
/// socket are async), until the link is dropped. Audio is packetized here, not by webrtc's
/// sample writer, so that we know each frame's RTP timestamp: once a second the channel tells
/// the other side which timestamp reached our microphone when ([`AudioClock`]).
async fn write_frames(
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    frame: Duration,
    mut outbox: mpsc::Receiver<OutFrame>,
    packets_out: Arc<AtomicU64>,
    channel: Arc<PeerChannelState>,
) {
    let mut rtp = AudioClock::new(ssrc, frame);
    while let Some(f) = outbox.recv().await {
        let (packet, anchor) = rtp.packet(&f);
        if let Some((rtp_ts, at)) = anchor {
            channel.set_anchor(rtp_ts, crate::clock::monotonic_ns(at));
        }
        match track.write_rtp(packet).await {
            Ok(()) => {
                packets_out.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "audio write failed"),
        }
    }
}

/// How often the other side is told where our stream is.
const ANCHOR_EVERY: Duration = Duration::from_secs(1);

/// Our audio's RTP numbering: random starts (RFC 3550), then one sequence number and one frame
/// of timestamps per frame, skipped frames included, so the other side sees them as lost.
struct AudioClock {
    ssrc: u32,
    seq: u16,
    ts: u32,
    frame_samples: u32,
    anchored: Option<Instant>,
}

impl AudioClock {
    fn new(ssrc: u32, frame: Duration) -> Self {
        Self {
            ssrc,
            seq: rand::random(),
            ts: rand::random(),
            frame_samples: (frame.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u32,
            anchored: None,
        }
    }

    /// The packet for `f`, and once a second the anchor: its timestamp and when its first
    /// sample reached the microphone.
    fn packet(&mut self, f: &OutFrame) -> (rtc::rtp::Packet, Option<(u32, Instant)>) {
        let skipped = u32::from(f.skipped);
        self.seq = self.seq.wrapping_add(f.skipped);
        self.ts = self
            .ts
            .wrapping_add(skipped.wrapping_mul(self.frame_samples));
        let header = rtc::rtp::header::Header {
            version: 2,
            // The start of the stream (a talk spurt, for RFC 3551).
            marker: self.anchored.is_none(),
            payload_type: f.payload_type,
            sequence_number: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
            ..Default::default()
        };
        let anchor = match self.anchored {
            Some(t) if f.captured < t + ANCHOR_EVERY => None,
            _ => {
                self.anchored = Some(f.captured);
                Some((self.ts, f.captured))
            }
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.frame_samples);
        (
            rtc::rtp::Packet {
                header,
                payload: f.data.clone(),
            },
            anchor,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("webrtc: {0}")]
    Webrtc(String),
    #[error("the session description is not valid: {0}")]
    BadSdp(String),
    #[error("media cannot be sent before negotiation has finished (or was not negotiated)")]
    NotNegotiated,
    #[error("the link is not keeping up: a frame was dropped")]
    Backlog,
    #[error("the link is closed")]
    Closed,
}

fn rtc_err(e: impl std::fmt::Display) -> LinkError {
    LinkError::Webrtc(e.to_string())
}

/// How the media travels: straight between the two machines, through a NAT's public address,
/// or through a relay (TURN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Direct,
    Reflexive,
    Relayed,
}

/// How a relayed path reaches the relay: what a firewall let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTransport {
    Udp,
    Tcp,
    /// TCP with TLS (`turns:`), as on port 443: what gets through the strictest networks.
    Tls,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// ICE's latest round-trip measurement on the path in use.
    pub rtt: Option<Duration>,
    pub path: Option<PathKind>,
}

/// A STUN or TURN server, as the room server hands them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServerConfig {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub ice_servers: Vec<IceServerConfig>,
    /// Local UDP sockets to gather host candidates on; `0.0.0.0:0` by default, loopback in tests.
    pub udp_addrs: Vec<String>,
    pub music: MusicConfig,
    pub jitter: JitterConfig,
    /// Only relayed paths: the peers never learn each other's addresses (privacy), at the cost
    /// of the relay's detour.
    pub relay_only: bool,
    /// A VP8 video track beside the audio, both ways.
    pub video: bool,
    /// Where takes the other side sends us are kept (none: refused; the host keeps them).
    pub take_inbox: Option<std::path::PathBuf>,
    /// The pace our takes are sent at, bytes a second.
    pub take_bytes_per_s: u64,
}

/// A take's track travels at 2 Mbit/s: beside the lesson's sound and picture on any path that
/// carries them, and a ten-minute take's part (115 MB) in under eight minutes.
pub const TAKE_BYTES_PER_S: u64 = 250_000;

/// One complete video frame as it arrived (still VP8), for the video consumer to decode.
#[derive(Debug, Clone)]
pub struct ReceivedVideo {
    pub data: Bytes,
    /// The sender's RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// Packets were lost before this frame: until a keyframe, what follows may not decode.
    pub lost_before: bool,
    pub arrived: Instant,
}

impl LinkConfig {
    pub fn new(music: MusicConfig) -> Self {
        Self {
            ice_servers: Vec::new(),
            udp_addrs: vec!["0.0.0.0:0".into()],
            jitter: JitterConfig::for_frame(music.frame),
            music,
            relay_only: false,
            video: false,
            take_inbox: None,
            take_bytes_per_s: TAKE_BYTES_PER_S,
        }
    }
}

/// The connection's state, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// Lost for now; ICE may recover it.
    Disconnected,
    Failed,
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The data channel (the clock exchange, the metronome) is open.
    ChannelOpen,
    /// The other side sent a new metronome ([`PeerLink::metronome_in`]).
    Metronome,
    /// Send this candidate to the other side (trickle ICE).
    LocalCandidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    },
    /// No more local candidates.
    GatheringComplete,
    State(LinkState),
    /// The other side's audio has started to arrive.
    RemoteAudio,
    /// A take the other side sent arrived whole and verified.
    TakeReceived(crate::take_transfer::ReceivedTake),
    /// The other side has our take, whole and verified.
    TakeDelivered(crate::take_transfer::TakeToSend),
    /// Our take cannot reach the other side (`reason`: theirs, or why it cannot be read here).
    TakeRefused {
        take: crate::take_transfer::TakeToSend,
        reason: String,
    },
}

struct Handler {
    events: mpsc::UnboundedSender<LinkEvent>,
    /// Taken by the first audio track (a link carries one).
    feed: Mutex<Option<AudioFeed>>,
    packets_in: Arc<AtomicU64>,
    malformed_in: Arc<AtomicU64>,
    video: Option<std::sync::mpsc::SyncSender<ReceivedVideo>>,
    video_dropped: Arc<AtomicU64>,
    keyframe_requests_out: Arc<AtomicU64>,
    keyframe_needed: Arc<AtomicBool>,
}

/// Reassembles VP8 frames from RTP as soon as each is complete and hands them on; a full queue drops the frame (the
/// consumer is behind: newer frames matter more) and counts it.
fn receive_video(
    track: Arc<dyn TrackRemote>,
    to: std::sync::mpsc::SyncSender<ReceivedVideo>,
    dropped: Arc<AtomicU64>,
    keyframe_requests: Arc<AtomicU64>,
    // Set by our own consumer when it cannot decode what follows (`PeerLink::request_keyframe`).
    needed_here: Arc<AtomicBool>,
) {
    use crate::video::assemble::FrameAssembler;
    tokio::spawn(async move {
        let mut assembler = FrameAssembler::new();
        let mut need = KeyframeNeed::default();
        while let Some(event) = track.poll().await {
            let packet = match event {
                TrackRemoteEvent::OnRtpPacket(p) => p,
                TrackRemoteEvent::OnEnded => break,
                _ => continue,
            };
            let now = Instant::now();
            let h = &packet.header;
            for frame in assembler.push(
                h.sequence_number,
                h.timestamp,
                h.marker,
                packet.payload.clone(),
            ) {
                let keyframe = feedback::is_vp8_keyframe(&frame.data);
                let mut ask = need.on_frame(keyframe, frame.lost_before, now);
                let frame = ReceivedVideo {
                    data: frame.data,
                    rtp_timestamp: frame.rtp_timestamp,
                    lost_before: frame.lost_before,
                    arrived: now,
                };
                if to.try_send(frame).is_err() {
                    dropped.fetch_add(1, Relaxed);
                    ask |= need.on_dropped(now);
                }
                if needed_here.swap(false, Relaxed) && !keyframe {
                    ask |= need.on_dropped(now);
                }
                if ask {
                    match track.write_rtcp(vec![feedback::pli(h.ssrc)]).await {
                        Ok(()) => {
                            keyframe_requests.fetch_add(1, Relaxed);
                        }
                        Err(e) => tracing::debug!(error = %e, "keyframe request not sent"),
                    }
                }
            }
        }
    });
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) if !init.candidate.is_empty() => {
                let _ = self.events.send(LinkEvent::LocalCandidate {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_mline_index: init.sdp_mline_index,
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot serialise a local candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.events.send(LinkEvent::GatheringComplete);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
            RTCPeerConnectionState::Failed => LinkState::Failed,
            RTCPeerConnectionState::Closed => LinkState::Closed,
            _ => LinkState::Connecting,
        };
        let _ = self.events.send(LinkEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if track.kind().await == RtpCodecKind::Video {
            match &self.video {
                Some(to) => receive_video(
                    track,
                    to.clone(),
                    self.video_dropped.clone(),
                    self.keyframe_requests_out.clone(),
                    self.keyframe_needed.clone(),
                ),
                None => tracing::debug!("a video track we did not ask for; ignored"),
            }
            return;
        }
        let Some(mut feed) = lock(&self.feed).take() else {
            tracing::debug!("a second audio track; ignored");
            return;
        };
        let (events, packets, malformed) = (
            self.events.clone(),
            self.packets_in.clone(),
            self.malformed_in.clone(),
        );
        tokio::spawn(async move {
            let mut first = true;
            let mut audio = AudioDepacketizer::default();
            while let Some(event) = track.poll().await {
                let packet = match event {
                    TrackRemoteEvent::OnRtpPacket(p) => p,
                    TrackRemoteEvent::OnEnded => break,
                    _ => continue,
                };
                if first {
                    first = false;
                    let _ = events.send(LinkEvent::RemoteAudio);
                }
                match audio.packet(
                    packet.header.payload_type,
                    packet.header.timestamp,
                    &packet.payload,
                ) {
                    Ok(None) => {}
                    Ok(Some(a)) => {
                        packets.fetch_add(1, Relaxed);
                        let ts = packet.header.timestamp;
                        feed.packet(a.seq, ts, a.samples, a.primary, Instant::now());
                        for (copy_seq, data) in a.copies {
                            feed.copy(copy_seq, data);
                        }
                    }
                    Err(e) => {
                        packets.fetch_add(1, Relaxed);
                        malformed.fetch_add(1, Relaxed);
                        tracing::debug!(error = %e, "malformed audio packet");
                    }
                }
            }
        });
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain counters and maps:
/// the data is still usable, and audio must go on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The same whatever our frame length: no `minptime`. Per-frame values made two Tutti peers'
/// Opus parameters disagree, and webrtc-rs, which keeps only exact matches when there are any
/// (RED's always was), then dropped Opus: nobody heard anything. We take any packet length
/// (each is decoded at its own), so there is no minimum to state; a browser's `minptime=10`
/// is consistent with this.
fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: SAMPLE_RATE,
        channels: 2,
        sdp_fmtp_line: "useinbandfec=1;stereo=1;sprop-stereo=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// RED carrying Opus in every block (RFC 2198's fmtp names the blocks' payload types).
fn red_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/red".to_owned(),
        clock_rate: SAMPLE_RATE,
        channels: 2,
        sdp_fmtp_line: format!("{OPUS_PT}/{OPUS_PT}"),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// How to send to a link, as negotiated: Opus's payload type, and RED's if the other side
/// takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendFormat {
    pub opus_pt: u8,
    pub red_pt: Option<u8>,
}

/// The payload type the two sides agreed on for `mime`, if they did.
fn pt_of(
    params: &rtc::rtp_transceiver::rtp_sender::RTCRtpSendParameters,
    mime: &str,
) -> Option<u8> {
    params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

/// Writes one encoded frame to `track` (the packetizer splits it as the codec needs).
async fn write_sample(
    track: &TrackLocalStaticSample,
    ssrc: u32,
    frame: &OutFrame,
    duration: Duration,
) -> Result<(), LinkError> {
    let sample = Sample {
        data: frame.data.clone(),
        duration,
        prev_dropped_packets: frame.skipped,
        ..Sample::new(frame.captured)
    };
    track
        .sample_writer(ssrc, frame.payload_type)
        .write_sample(&sample)
        .await
        .map_err(rtc_err)
}

/// An outgoing track of `kind` on `pc` with its own random SSRC, fed with encoded samples.
async fn add_sample_track(
    pc: &Arc<dyn PeerConnection>,
    label: &str,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<(Arc<TrackLocalStaticSample>, Arc<dyn RtpSender>, u32), LinkError> {
    let ssrc: u32 = rand::random::<u32>().max(1);
    let track = Arc::new(
        TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                "tutti".to_owned(),
                // Unique: RTCP is routed to a track by its id, remote tracks first, and the
                // other side names its tracks as we do ("camera").
                format!("{label}-{ssrc:08x}"),
                label.to_owned(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            ),
        )
        .map_err(rtc_err)?,
    );
    let sender = pc
        .add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .map_err(rtc_err)?;
    Ok((track, sender, ssrc))
}

pub struct PeerLink {
    pc: Arc<dyn PeerConnection>,
    takes: crate::take_channel::TakeChannel,
    sender: Arc<dyn RtpSender>,
    outbox: mpsc::Sender<OutFrame>,
    /// Frames the outbox had no room for since the last one it took (see [`OutFrame`]).
    skipped: AtomicU16,
    /// The jitter buffer and what feeds it, until the playout side takes them.
    remote_audio: Mutex<Option<RemoteAudio>>,
    feed_stats: FeedStats,
    packets_in: Arc<AtomicU64>,
    malformed_in: Arc<AtomicU64>,
    packets_out: Arc<AtomicU64>,
    video: Option<VideoOut>,
    video_rx: Mutex<Option<std::sync::mpsc::Receiver<ReceivedVideo>>>,
    keyframe_needed: Arc<AtomicBool>,
    video_dropped: Arc<AtomicU64>,
    keyframe_requests_out: Arc<AtomicU64>,
    channel: PeerChannel,
}

/// The outgoing video track.
struct VideoOut {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    heard: Arc<VideoFeedbackIn>,
}

/// What the other side said about our video (RTCP, see [`feedback`]).
struct VideoFeedbackIn {
    keyframe_wanted: AtomicBool,
    keyframe_requests: AtomicU64,
    /// The last reported loss fraction, as `f64` bits; `NO_REPORT` before the first report.
    loss_bits: AtomicU64,
}

/// No `f64` has these bits as a fraction in 0–1 (they are a NaN).
const NO_REPORT: u64 = u64::MAX;

impl Default for VideoFeedbackIn {
    fn default() -> Self {
        Self {
            keyframe_wanted: AtomicBool::new(false),
            keyframe_requests: AtomicU64::new(0),
            loss_bits: AtomicU64::new(NO_REPORT),
        }
    }
}

/// Reads the feedback delivered to our video track until the connection is gone.
fn follow_video_feedback(
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    heard: Arc<VideoFeedbackIn>,
) {
    use webrtc::media_stream::track_local::TrackLocalEvent;
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                continue;
            };
            for f in feedback::read(&packets, ssrc) {
                match f {
                    Feedback::KeyframeRequest => {
                        heard.keyframe_wanted.store(true, Relaxed);
                        heard.keyframe_requests.fetch_add(1, Relaxed);
                    }
                    Feedback::Loss(fraction) => {
                        heard.loss_bits.store(fraction.to_bits(), Relaxed);
                    }
                }
            }
        }
    });
}

impl PeerLink {
    /// Builds the peer connection with its outgoing audio track. Events arrive on `events`.
    pub async fn new(
        cfg: &LinkConfig,
        events: mpsc::UnboundedSender<LinkEvent>,
    ) -> Result<Self, LinkError> {
        let codec = opus_codec();
        let mut media = MediaEngine::default();
        let mut codecs = vec![
            (codec.clone(), OPUS_PT, RtpCodecKind::Audio),
            (red_codec(), RED_PT, RtpCodecKind::Audio),
        ];
        if cfg.video {
            codecs.push((vp8_codec(), VP8_PT, RtpCodecKind::Video));
        }
        for (rtp_codec, payload_type, kind) in codecs {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec,
                        payload_type,
                    },
                    kind,
                )
                .map_err(rtc_err)?;
        }
        let interceptors = register_default_interceptors(Registry::new(), &mut media)
            .map_err(rtc_err)?
            .with(
                rtc::interceptor::Slot::from(feedback::SLOT),
                VideoFeedback::default(),
            );
        let ice_servers = cfg
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let events_for_channel = events.clone();
        let (feed, remote_audio, feed_stats) = audio_feed(cfg.jitter);
        let packets_in = Arc::new(AtomicU64::new(0));
        let malformed_in = Arc::new(AtomicU64::new(0));
        let video_dropped = Arc::new(AtomicU64::new(0));
        let keyframe_requests_out = Arc::new(AtomicU64::new(0));
        let keyframe_needed = Arc::new(AtomicBool::new(false));
        let (video_tx, video_rx) = if cfg.video {
            let (tx, rx) = std::sync::mpsc::sync_channel(VIDEO_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime);
        let pc = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::default()
                    .with_ice_servers(ice_servers)
                    .with_ice_transport_policy(if cfg.relay_only {
                        RTCIceTransportPolicy::Relay
                    } else {
                        RTCIceTransportPolicy::All
                    })
                    .build(),
            )
            .with_media_engine(media)
            .with_interceptor_registry(interceptors)
            .with_handler(Arc::new(Handler {
                events: events.clone(),
                feed: Mutex::new(Some(feed)),
                packets_in: packets_in.clone(),
                malformed_in: malformed_in.clone(),
                video: video_tx,
                video_dropped: video_dropped.clone(),
                keyframe_requests_out: keyframe_requests_out.clone(),
                keyframe_needed: keyframe_needed.clone(),
            }))
            .with_runtime(runtime)
            // An ICE restart is for a path that died (an address or a NAT mapping that changed):
            // it binds new sockets and gathers anew, rather than trying the old ones again.
            .with_setting_engine(
                rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder::new()
                    .with_discard_local_candidates_during_ice_restart(true)
                    .build(),
            )
            .with_udp_addrs(cfg.udp_addrs.clone())
            .build()
            .await
            .map_err(rtc_err)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let takes = crate::take_channel::TakeChannel::open(
            &pc,
            cfg.take_inbox.clone(),
            cfg.take_bytes_per_s,
            events_for_channel.clone(),
        )
        .await?;
        let channel = PeerChannel::open(&pc, events_for_channel).await?;

        let (track, sender, ssrc) =
            add_sample_track(&pc, "instrument", RtpCodecKind::Audio, codec).await?;
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        let packets_out = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_frames(
            track,
            ssrc,
            cfg.music.frame.duration(),
            outbox_rx,
            packets_out.clone(),
            channel.state.clone(),
        ));
        let video = if cfg.video {
            let (track, sender, ssrc) =
                add_sample_track(&pc, "camera", RtpCodecKind::Video, vp8_codec()).await?;
            let heard = Arc::new(VideoFeedbackIn::default());
            follow_video_feedback(track.clone(), ssrc, heard.clone());
            Some(VideoOut {
                track,
                sender,
                ssrc,
                heard,
            })
        } else {
            None
        };
        Ok(Self {
            pc,
            sender,
            outbox,
            skipped: AtomicU16::new(0),
            remote_audio: Mutex::new(Some(remote_audio)),
            feed_stats,
            packets_in,
            malformed_in,
            packets_out,
            video,
            video_rx: Mutex::new(video_rx),
            keyframe_needed,
            video_dropped,
            keyframe_requests_out,
            channel,
            takes,
        })
    }

    /// Sends our take's track to the other side, after those sent before it, resuming from
    /// what they already hold ([`LinkEvent::TakeDelivered`] once it is there, verified).
    pub fn send_take(&self, take: crate::take_transfer::TakeToSend) {
        self.takes.send(take);
    }

    /// Bytes of our takes sent on this link.
    pub fn take_bytes_sent(&self) -> u64 {
        self.takes.bytes_sent()
    }

    /// The offering side: creates the offer and returns its SDP.
    pub async fn offer(&self) -> Result<String, LinkError> {
        let offer = self.pc.create_offer(None).await.map_err(rtc_err)?;
        let sdp = offer.sdp.clone();
        self.pc
            .set_local_description(offer)
            .await
            .map_err(rtc_err)?;
        Ok(sdp)
    }

    /// The offering side, on a link that was up: a new offer with fresh ICE credentials, so
    /// that the two sides look for a path again (a network changed under one of them) while
    /// DTLS, SRTP and the tracks stay as they are. The other side answers it on its link.
    pub async fn restart_offer(&self) -> Result<String, LinkError> {
        self.channel.reset_clock();
        self.pc.restart_ice().await.map_err(rtc_err)?;
        self.offer().await
    }

    /// The answering side of an ICE restart: the answer on this link. Taking an offer with new
    /// credentials restarts ICE here too, with new sockets and candidates (the path may have
    /// died at this end). Not `restart_ice()` as well: that gathered on sockets of its own
    /// which the restart then replaced, and a candidate of theirs, trickled already, had the
    /// path looked for from a socket that was gone (no sound after one restart in ten).
    pub async fn restart_answer(&self, offer_sdp: &str) -> Result<String, LinkError> {
        self.channel.reset_clock();
        self.answer(offer_sdp).await
    }

    /// The answering side: takes the offer, returns the answer's SDP.
    pub async fn answer(&self, offer_sdp: &str) -> Result<String, LinkError> {
        let offer = RTCSessionDescription::offer(offer_sdp.to_owned())
            .map_err(|e| LinkError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| LinkError::BadSdp(e.to_string()))?;
        let answer = self.pc.create_answer(None).await.map_err(rtc_err)?;
        let sdp = answer.sdp.clone();
        self.pc
            .set_local_description(answer)
            .await
            .map_err(rtc_err)?;
        Ok(sdp)
    }

    /// The offering side, once the answer came back.
    pub async fn accept_answer(&self, answer_sdp: &str) -> Result<(), LinkError> {
        let answer = RTCSessionDescription::answer(answer_sdp.to_owned())
            .map_err(|e| LinkError::BadSdp(e.to_string()))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| LinkError::BadSdp(e.to_string()))
    }

    /// A candidate the other side trickled.
    pub async fn add_candidate(
        &self,
        candidate: &str,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    ) -> Result<(), LinkError> {
        let init = RTCIceCandidateInit {
            candidate: candidate.to_owned(),
            sdp_mid,
            sdp_mline_index,
            ..Default::default()
        };
        self.pc.add_ice_candidate(init).await.map_err(rtc_err)
    }

    /// The payload types the two sides agreed on for Opus and RED.
    pub async fn send_format(&self) -> Result<SendFormat, LinkError> {
        let params = self.sender.get_parameters().await.map_err(rtc_err)?;
        Ok(SendFormat {
            opus_pt: pt_of(&params, MIME_TYPE_OPUS).ok_or(LinkError::NotNegotiated)?,
            red_pt: pt_of(&params, "audio/red"),
        })
    }

    /// Hands one encoded frame, what decodes as its first sample having reached the microphone
    /// at `captured` (a `Bytes` shared by every link), to
    /// the link's writer; never waits (a real-time thread calls it). A writer that has fallen
    /// `OUTBOX` frames behind loses this one, and the next frame it takes says so.
    pub fn queue_frame(
        &self,
        packet: Bytes,
        payload_type: u8,
        captured: Instant,
    ) -> Result<(), LinkError> {
        // One sender (the send thread): a plain load and store are exact.
        let skipped = self.skipped.load(Relaxed);
        match self.outbox.try_send(OutFrame {
            data: packet,
            payload_type,
            captured,
            skipped,
        }) {
            Ok(()) => {
                self.skipped.store(0, Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.skipped.store(skipped.saturating_add(1), Relaxed);
                Err(LinkError::Backlog)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(LinkError::Closed),
        }
    }

    /// The payload type agreed for VP8, if video was asked for and the other side takes it.
    pub async fn video_payload_type(&self) -> Option<u8> {
        let params = self.video.as_ref()?.sender.get_parameters().await.ok()?;
        pt_of(&params, MIME_TYPE_VP8)
    }

    /// The fraction of our video packets the other side last reported lost (RTCP receiver
    /// reports); `None` before the first report or without video.
    pub async fn video_loss(&self) -> Option<f64> {
        let video = self.video.as_ref()?;
        let bits = video.heard.loss_bits.load(Relaxed);
        if bits != NO_REPORT {
            return Some(f64::from_bits(bits));
        }
        // webrtc's own statistics, should a later version fill them in.
        let ssrc = video.ssrc;
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        report.iter().find_map(|e| match e {
            // Only once a receiver report has actually come in: the entry exists, all zeros,
            // before that (and webrtc 0.21 has been seen to leave it so), which must not read
            // as "no loss".
            webrtc::peer_connection::RTCStatsReportEntry::RemoteInboundRtp(s)
                if s.received_rtp_stream_stats.rtp_stream_stats.ssrc == ssrc
                    && (s.round_trip_time_measurements > 0
                        || s.received_rtp_stream_stats.packets_received > 0) =>
            {
                Some(s.fraction_lost)
            }
            _ => None,
        })
    }

    /// Sends one VP8 frame (the packetizer splits it), captured at `captured`.
    pub async fn send_video(
        &self,
        frame: Bytes,
        payload_type: u8,
        captured: Instant,
        duration: Duration,
    ) -> Result<(), LinkError> {
        let v = self.video.as_ref().ok_or(LinkError::NotNegotiated)?;
        let frame = OutFrame {
            data: frame,
            payload_type,
            captured,
            skipped: 0,
        };
        write_sample(&v.track, v.ssrc, &frame, duration).await
    }

    /// The other side's video, frame by frame (once: the receiver is handed over).
    pub fn take_video(&self) -> Option<std::sync::mpsc::Receiver<ReceivedVideo>> {
        lock(&self.video_rx).take()
    }

    /// Asks the other side for a keyframe (with the next frame that is not one): our consumer
    /// cannot decode what follows (it started late, or lost its decoder).
    pub fn request_keyframe(&self) {
        self.keyframe_needed.store(true, Relaxed);
    }

    /// Whether the other side asked for a keyframe since the last call (and forgets it).
    pub fn take_keyframe_request(&self) -> bool {
        self.video
            .as_ref()
            .is_some_and(|v| v.heard.keyframe_wanted.swap(false, Relaxed))
    }

    /// Keyframe requests (PLI/FIR) received from the other side.
    pub fn keyframe_requests_in(&self) -> u64 {
        self.video
            .as_ref()
            .map_or(0, |v| v.heard.keyframe_requests.load(Relaxed))
    }

    /// Keyframe requests (PLI) we sent after losing video.
    pub fn keyframe_requests_out(&self) -> u64 {
        self.keyframe_requests_out.load(Relaxed)
    }

    /// Video frames dropped because the consumer was behind.
    pub fn video_dropped(&self) -> u64 {
        self.video_dropped.load(Relaxed)
    }

    /// Round trip and path of the candidate pair in use (ICE's own measurements).
    pub async fn transport_stats(&self) -> TransportStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let pair = report
            .candidate_pairs()
            .filter(|p| p.nominated)
            .max_by_key(|p| p.packets_received)
            .or_else(|| report.candidate_pairs().max_by_key(|p| p.packets_received));
        let Some(pair) = pair else {
            return TransportStats::default();
        };
        let rtt = (pair.current_round_trip_time > 0.0)
            .then(|| Duration::from_secs_f64(pair.current_round_trip_time));
        // The pair names its candidates by their own ids; webrtc-rs files the candidate entries
        // under a prefixed key. Accept both.
        let kind_of = |id: &str, prefix: &str| {
            let entry = report
                .get(id)
                .or_else(|| report.get(&format!("{prefix}{id}")));
            match entry {
                Some(
                    webrtc::peer_connection::RTCStatsReportEntry::LocalCandidate(c)
                    | webrtc::peer_connection::RTCStatsReportEntry::RemoteCandidate(c),
                ) => Some(c.candidate_type),
                _ => None,
            }
        };
        let kinds = [
            kind_of(&pair.local_candidate_id, "RTCLocalIceCandidate_"),
            kind_of(&pair.remote_candidate_id, "RTCRemoteIceCandidate_"),
        ];
        let path = if kinds.iter().all(Option::is_none) {
            None
        } else if kinds.contains(&Some(RTCIceCandidateType::Relay)) {
            Some(PathKind::Relayed)
        } else if kinds.iter().any(|k| {
            matches!(
                k,
                Some(RTCIceCandidateType::Srflx | RTCIceCandidateType::Prflx)
            )
        }) {
            Some(PathKind::Reflexive)
        } else {
            Some(PathKind::Direct)
        };
        TransportStats { rtt, path }
    }

    /// The remote audio, for the playout loop (once: it owns it from then on).
    pub fn take_audio(&self) -> Option<RemoteAudio> {
        lock(&self.remote_audio).take()
    }

    /// The remote audio's jitter buffer, as last published by whoever plays it.
    pub fn jitter_stats(&self) -> JitterStats {
        self.feed_stats.jitter()
    }

    pub fn packets_in(&self) -> u64 {
        self.packets_in.load(Relaxed)
    }

    /// Packets that arrived but could not be read (a malformed RED envelope).
    pub fn malformed_in(&self) -> u64 {
        self.malformed_in.load(Relaxed)
    }

    pub fn packets_out(&self) -> u64 {
        self.packets_out.load(Relaxed)
    }

    /// The other side's clock against ours (the clock exchange on the data channel), the
    /// metronome it sent, whether the channel is open: shared with the channel's task.
    pub fn channel(&self) -> &Arc<PeerChannelState> {
        &self.channel.state
    }

    /// The metronome the other side last sent (it is the host).
    pub fn metronome_in(&self) -> Option<MetronomeState> {
        self.channel.state.metronome_in()
    }

    /// As host: the metronome to send on this link, now and every second.
    pub fn set_metronome(&self, m: MetronomeState) {
        self.channel.set_metronome(m);
    }

    pub async fn close(&self) {
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
    }
}
