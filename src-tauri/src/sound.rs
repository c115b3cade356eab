//! The sound cards during a lesson, watched: a microphone or speaker that stalls (the sound
//! server delivered or took nothing for 200 ms) or stops (unplugged, the sound server gone)
//! becomes a problem on the lesson screen, with its cause, and goes away once the device has
//! been well for a while. Pure: counters and times in, the problems to show out.

use crate::error::{AppError, ErrorCode};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tutti_media::device::DeviceStats;

/// Devices are reconfigured when a stream starts (a sound server settling on its latency):
/// stalls this soon after opening are not a problem.
const SETTLING: Duration = Duration::from_secs(5);
/// A problem stays up this long after the last stall.
const SHOWN_FOR: Duration = Duration::from_secs(10);

/// What a device's counters say now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceState {
    pub stalls: u64,
    pub failed: bool,
}

impl From<&DeviceStats> for DeviceState {
    fn from(s: &DeviceStats) -> Self {
        Self {
            stalls: s.stalls.load(Relaxed),
            failed: s.failed.load(Relaxed),
        }
    }
}

#[derive(Debug, Default)]
struct Watched {
    seen: u64,
    recent: u64,
    last_stall: Option<Instant>,
}

impl Watched {
    /// Notes the counters; true while the device has stalled recently.
    fn observe(&mut self, state: DeviceState, opened: Instant, now: Instant) -> bool {
        let new = state.stalls.saturating_sub(self.seen);
        self.seen = state.stalls;
        if new > 0 && now.duration_since(opened) >= SETTLING {
            self.recent += new;
            self.last_stall = Some(now);
        }
        match self.last_stall {
            Some(t) if now.duration_since(t) < SHOWN_FOR => true,
            _ => {
                self.recent = 0;
                false
            }
        }
    }
}

/// The microphone and speaker of one lesson.
pub struct SoundWatch {
    opened: Instant,
    mic: Option<Arc<DeviceStats>>,
    speaker: Option<Arc<DeviceStats>>,
    watched: [Watched; 2],
}

impl SoundWatch {
    pub fn new(mic: Option<Arc<DeviceStats>>, speaker: Option<Arc<DeviceStats>>) -> Self {
        Self {
            opened: Instant::now(),
            mic,
            speaker,
            watched: Default::default(),
        }
    }

    /// The sound problems to show now.
    pub fn check(&mut self, now: Instant) -> Vec<AppError> {
        let mic = self.mic.as_deref().map(DeviceState::from);
        let speaker = self.speaker.as_deref().map(DeviceState::from);
        self.problems(now, mic, speaker)
    }

    fn problems(
        &mut self,
        now: Instant,
        mic: Option<DeviceState>,
        speaker: Option<DeviceState>,
    ) -> Vec<AppError> {
        let mut out = Vec::new();
        for (i, state) in [mic, speaker].into_iter().enumerate() {
            let Some(state) = state else { continue };
            let input = i == 0;
            let w = &mut self.watched[i];
            let stalled = w.observe(state, self.opened, now);
            if state.failed {
                out.push(AppError::new(
                    if input {
                        ErrorCode::NoMicrophone
                    } else {
                        ErrorCode::NoSpeaker
                    },
                    format!(
                        "the {} stopped (unplugged, or the sound server went away)",
                        if input { "microphone" } else { "speaker" }
                    ),
                ));
            } else if stalled {
                out.push(AppError::new(
                    if input {
                        ErrorCode::MicrophoneStalled
                    } else {
                        ErrorCode::SpeakerStalled
                    },
                    format!(
                        "the sound server {} for 200 ms at a time, {} times in the last seconds: the computer is overloaded, or the device is failing",
                        if input {
                            "delivered nothing from the microphone"
                        } else {
                            "took nothing for the speaker"
                        },
                        w.recent
                    ),
                ));
            }
        }
        out
    }

    /// Whether `e` is one of the problems this watch reports (to replace them in the view).
    pub fn reports(e: &AppError) -> bool {
        matches!(
            e.code,
            ErrorCode::MicrophoneStalled | ErrorCode::SpeakerStalled
        ) || (matches!(e.code, ErrorCode::NoMicrophone | ErrorCode::NoSpeaker)
            && e.message.contains(" stopped "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(w: &SoundWatch, s: u64) -> Instant {
        w.opened + Duration::from_secs(s)
    }

    #[test]
    fn a_stalling_microphone_is_a_problem_until_it_has_been_well_for_a_while() {
        let mut w = SoundWatch::new(None, None);
        let ok = DeviceState::default();
        let stalled = |n| DeviceState {
            stalls: n,
            failed: false,
        };
        // Stalls while the devices settle are nobody's problem.
        assert!(w.problems(at(&w, 1), Some(stalled(3)), Some(ok)).is_empty());
        assert!(w.problems(at(&w, 6), Some(stalled(3)), Some(ok)).is_empty());
        // Later ones are, with their count.
        let p = w.problems(at(&w, 7), Some(stalled(5)), Some(ok));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].code, ErrorCode::MicrophoneStalled);
        assert!(p[0].message.contains("2 times"), "{}", p[0].message);
        assert!(SoundWatch::reports(&p[0]));
        // Still shown a few seconds on, gone once well for long enough.
        assert_eq!(w.problems(at(&w, 12), Some(stalled(5)), Some(ok)).len(), 1);
        assert!(
            w.problems(at(&w, 18), Some(stalled(5)), Some(ok))
                .is_empty()
        );
    }

    #[test]
    fn a_speaker_that_stopped_says_so() {
        let mut w = SoundWatch::new(None, None);
        let p = w.problems(
            at(&w, 20),
            Some(DeviceState::default()),
            Some(DeviceState {
                stalls: 0,
                failed: true,
            }),
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, ErrorCode::NoSpeaker);
        assert!(SoundWatch::reports(&p[0]));
        // A speaker missing from the start is not this watch's problem to take away.
        assert!(!SoundWatch::reports(&AppError::new(
            ErrorCode::NoSpeaker,
            "no output device"
        )));
    }
}
