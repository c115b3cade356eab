//! RTCP feedback the application acts on, which webrtc 0.21 stops inside its interceptor chain
//! unless an interceptor vouches for it: keyframe requests (PLI, FIR) for our video, and the
//! receivers' loss reports on it (which drive the video bitrate). [`VideoFeedback`] sits last
//! in the chain and passes just those to the local video track; [`KeyframeNeed`] is the
//! receiving side's decision to ask for a keyframe after a loss.

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

type RtcpPacket = Box<dyn rtc::rtcp::Packet>;

/// Where [`VideoFeedback`] goes in the chain: after every built-in interceptor (the highest
/// is at 13 000), so they have all seen the packets first.
pub const SLOT: usize = 14_000;

/// What the application hears about its video from the other side.
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// The receiver cannot decode what follows: code a keyframe.
    KeyframeRequest,
    /// The fraction (0–1) of our video packets lost since the receiver's previous report.
    Loss(f64),
}

/// Reads the packets delivered to the local video track.
pub fn read(packets: &[RtcpPacket], video_ssrc: u32) -> Vec<Feedback> {
    let mut out = Vec::new();
    for p in packets {
        let any = p.as_any();
        if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
            out.push(Feedback::KeyframeRequest);
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            out.extend(
                rr.reports
                    .iter()
                    .filter(|r| r.ssrc == video_ssrc)
                    .map(|r| Feedback::Loss(f64::from(r.fraction_lost) / 256.0)),
            );
        }
    }
    out
}

/// The interceptor: inbound RTCP about one of our video streams is cut down to what the
/// application reads (keyframe requests and the report blocks about our video, as a receiver
/// report) and marked for delivery; webrtc then routes it by its SSRC to the video track.
/// Everything else passes unchanged.
#[derive(Default)]
pub struct VideoFeedback {
    video_ssrcs: Vec<u32>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl VideoFeedback {
    fn for_application(&self, packets: &[RtcpPacket]) -> Vec<RtcpPacket> {
        let ours = |ssrc: u32| self.video_ssrcs.contains(&ssrc);
        let mut keep: Vec<RtcpPacket> = Vec::new();
        for p in packets {
            let any = p.as_any();
            if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                if ours(pli.media_ssrc) {
                    keep.push(p.clone());
                }
            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                if ours(fir.media_ssrc) || fir.fir.iter().any(|e| ours(e.ssrc)) {
                    keep.push(p.clone());
                }
            } else {
                let (sender, reports) = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    (rr.ssrc, &rr.reports)
                } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                    (sr.ssrc, &sr.reports)
                } else {
                    continue;
                };
                let about_video: Vec<_> =
                    reports.iter().filter(|r| ours(r.ssrc)).cloned().collect();
                if !about_video.is_empty() {
                    keep.push(Box::new(ReceiverReport {
                        ssrc: sender,
                        reports: about_video,
                        profile_extensions: Default::default(),
                    }));
                }
            }
        }
        keep
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for VideoFeedback {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let keep = self.for_application(packets);
            if !keep.is_empty() {
                // Only these: a compound packet is routed by its first packet's SSRC, and a
                // report about our audio first would send it to the audio track.
                msg.message.packet = Packet::Rtcp(keep);
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for VideoFeedback {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("video/") {
            self.video_ssrcs.push(info.ssrc);
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.video_ssrcs.retain(|&s| s != info.ssrc);
    }

    fn bind_remote_stream(&mut self, _: &StreamInfo) {}

    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// A picture loss indication for the sender of `media_ssrc`.
pub fn pli(media_ssrc: u32) -> RtcpPacket {
    Box::new(PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc,
    })
}

/// How long to wait for a requested keyframe before asking again (a request can be lost too).
pub const ASK_AGAIN_AFTER: Duration = Duration::from_millis(300);

/// The receiving side: after a loss (or a frame the decoder never got), the pictures that
/// follow reference what is missing, so a keyframe is needed; ask, and ask again while none
/// comes.
#[derive(Debug, Default)]
pub struct KeyframeNeed {
    needed: bool,
    asked: Option<Instant>,
}

impl KeyframeNeed {
    /// A frame arrived (`keyframe` or not, with packets lost before it or not); whether to send
    /// a keyframe request now.
    pub fn on_frame(&mut self, keyframe: bool, lost_before: bool, now: Instant) -> bool {
        if keyframe {
            self.needed = false;
            self.asked = None;
        } else if lost_before {
            self.needed = true;
        }
        self.ask(now)
    }

    /// A frame was dropped before decoding; whether to send a keyframe request now.
    pub fn on_dropped(&mut self, now: Instant) -> bool {
        self.needed = true;
        self.ask(now)
    }

    fn ask(&mut self, now: Instant) -> bool {
        let due = self.needed && self.asked.is_none_or(|t| now >= t + ASK_AGAIN_AFTER);
        if due {
            self.asked = Some(now);
        }
        due
    }
}

/// Whether a VP8 frame (the bitstream, payload descriptor removed) is a keyframe: bit 0 of the
/// first byte is 0 for keyframes (RFC 6386, 9.1).
pub fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::shared::TransportContext;

    const VIDEO: u32 = 0xBEEF;
    const AUDIO: u32 = 0xA0D1;

    fn report(ssrc: u32, fraction_lost: u8) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            fraction_lost,
            ..Default::default()
        }
    }

    fn inbound(packets: Vec<RtcpPacket>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: Packet::Rtcp(packets).into(),
        }
    }

    fn chain() -> VideoFeedback {
        let mut f = VideoFeedback::default();
        for (ssrc, mime) in [(VIDEO, "video/VP8"), (AUDIO, "audio/opus")] {
            f.bind_local_stream(&StreamInfo {
                ssrc,
                mime_type: mime.into(),
                ..Default::default()
            });
        }
        f
    }

    #[test]
    fn keyframe_requests_and_video_loss_reach_the_application_alone() {
        let mut f = chain();
        // A browser's compound: a report on our audio and video, then a PLI for the video.
        f.handle_read(inbound(vec![
            Box::new(ReceiverReport {
                ssrc: 7,
                reports: vec![report(AUDIO, 0), report(VIDEO, 64)],
                profile_extensions: Default::default(),
            }),
            pli(VIDEO),
        ]))
        .unwrap();
        let out = f.poll_read().unwrap();
        assert!(out.message.has(&Attribute::DeliverToApplication));
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("RTCP stays RTCP");
        };
        // Routed by the first packet's SSRC: it must be about the video.
        assert_eq!(packets[0].destination_ssrc(), vec![VIDEO]);
        assert_eq!(
            read(packets, VIDEO),
            vec![Feedback::Loss(0.25), Feedback::KeyframeRequest]
        );
    }

    #[test]
    fn other_feedback_passes_untouched() {
        let mut f = chain();
        f.handle_read(inbound(vec![
            Box::new(ReceiverReport {
                ssrc: 7,
                reports: vec![report(AUDIO, 10)],
                profile_extensions: Default::default(),
            }),
            pli(0x1234),
        ]))
        .unwrap();
        let out = f.poll_read().unwrap();
        assert!(!out.message.has(&Attribute::DeliverToApplication));
        let Packet::Rtcp(packets) = &out.message.packet else {
            panic!("RTCP stays RTCP");
        };
        assert_eq!(packets.len(), 2);
    }

    #[test]
    fn a_loss_asks_for_a_keyframe_until_one_comes() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut need = KeyframeNeed::default();
        assert!(
            !need.on_frame(true, false, ms(0)),
            "a clean start asks nothing"
        );
        assert!(!need.on_frame(false, false, ms(33)));
        assert!(need.on_frame(false, true, ms(66)), "a loss asks at once");
        assert!(!need.on_frame(false, false, ms(100)), "not again so soon");
        assert!(need.on_frame(false, false, ms(400)), "again when none came");
        assert!(!need.on_frame(true, false, ms(433)), "the keyframe ends it");
        assert!(!need.on_frame(false, false, ms(1000)));
        assert!(
            need.on_dropped(ms(1033)),
            "a frame the decoder never got asks too"
        );
    }

    #[test]
    fn vp8_keyframes_are_told_by_their_first_bit() {
        assert!(is_vp8_keyframe(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]));
        assert!(!is_vp8_keyframe(&[0x31, 0x02]));
        assert!(!is_vp8_keyframe(&[]));
    }
}
