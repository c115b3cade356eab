//! Video bitrate that follows the network, from the loss the other side reports (RTCP receiver
//! reports, about once a second): heavy loss backs off in proportion, light loss holds, a clean
//! path probes upwards a little at a time. The loss-based half of what browsers do; it keeps the
//! video from crowding out the audio on a thin link.
//!
//! Its input is `PeerLink::video_loss`, from the WebRTC stack's remote-inbound statistics. With
//! webrtc 0.21 those have stayed empty in our tests (no receiver report reached them), so the
//! bitrate stays where it starts until that is solved; the controller itself is tested here.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateController {
    kbps: f64,
    min_kbps: f64,
    max_kbps: f64,
}

/// Above this fraction lost, back off.
const BACK_OFF_ABOVE: f64 = 0.10;
/// Below it, try a little more.
const PROBE_BELOW: f64 = 0.02;
/// Growth per clean report.
const PROBE_STEP: f64 = 1.08;

impl RateController {
    pub fn new(start_kbps: u32, min_kbps: u32, max_kbps: u32) -> Self {
        let (min, max) = (
            f64::from(min_kbps.max(1)),
            f64::from(max_kbps.max(min_kbps.max(1))),
        );
        Self {
            kbps: f64::from(start_kbps).clamp(min, max),
            min_kbps: min,
            max_kbps: max,
        }
    }

    /// A report of `fraction_lost` (0–1) came in; returns the bitrate to use now.
    pub fn on_loss(&mut self, fraction_lost: f64) -> u32 {
        let loss = if fraction_lost.is_finite() {
            fraction_lost.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if loss > BACK_OFF_ABOVE {
            self.kbps *= 1.0 - 0.5 * loss;
        } else if loss < PROBE_BELOW {
            self.kbps *= PROBE_STEP;
        }
        self.kbps = self.kbps.clamp(self.min_kbps, self.max_kbps);
        self.kbps.round() as u32
    }

    pub fn kbps(&self) -> u32 {
        self.kbps.round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_backs_off_light_loss_holds_clean_probes_up() {
        let mut c = RateController::new(1200, 150, 2000);
        assert_eq!(c.on_loss(0.2), 1080); // 1200 × 0.9
        assert_eq!(c.on_loss(0.05), 1080);
        assert!(c.on_loss(0.0) > 1080);
    }

    #[test]
    fn it_stays_within_its_bounds_whatever_is_reported() {
        let mut c = RateController::new(1200, 150, 2000);
        for _ in 0..100 {
            c.on_loss(1.0);
        }
        assert_eq!(c.kbps(), 150);
        for _ in 0..100 {
            c.on_loss(0.0);
        }
        assert_eq!(c.kbps(), 2000);
        for bad in [f64::NAN, f64::INFINITY, -3.0] {
            let k = c.on_loss(bad);
            assert!((150..=2000).contains(&k));
        }
    }
}
