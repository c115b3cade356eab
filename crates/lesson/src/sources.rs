//! Audio sources named on a command line: `mic`, `mic:NAME`, `tone:440`, `clicks:200`,
//! `wav:FILE`, `silence`.

use std::path::Path;
use tutti_media::device::{Capture, DeviceConfig, DeviceError};
use tutti_media::signal::{AudioSource, ClickTrain, Silence, Sine, WavError, WavSource};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("unknown source {0:?}: use mic[:NAME], tone[:HZ], clicks[:MS], wav:FILE or silence")]
    Unknown(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error(transparent)]
    Wav(#[from] WavError),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// The click interval `clicks` uses when none is given, in ms.
pub const DEFAULT_CLICK_MS: u32 = 200;

/// `device`: how `mic` opens the device (its name comes from the spec).
pub fn parse_source(
    spec: &str,
    device: &DeviceConfig,
) -> Result<Box<dyn AudioSource>, SourceError> {
    let (kind, arg) = spec
        .split_once(':')
        .map_or((spec, None), |(k, a)| (k, Some(a)));
    let number = |a: &str| {
        a.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| SourceError::NotANumber(a.to_owned()))
    };
    Ok(match (kind, arg) {
        ("tone", None) => Box::new(Sine::new(440.0, 0.3)),
        ("tone", Some(hz)) => Box::new(Sine::new(number(hz)?.clamp(1.0, 20_000.0), 0.3)),
        ("clicks", None) => Box::new(ClickTrain::new(DEFAULT_CLICK_MS, 0.8)),
        ("clicks", Some(ms)) => Box::new(ClickTrain::new(
            number(ms)?.clamp(20.0, 10_000.0) as u32,
            0.8,
        )),
        ("wav", Some(path)) => Box::new(WavSource::open(Path::new(path))?),
        ("silence", None) => Box::new(Silence),
        ("mic", name) => Box::new(Capture::open(&DeviceConfig {
            name: name.map(str::to_owned),
            ..device.clone()
        })?),
        _ => return Err(SourceError::Unknown(spec.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        for ok in ["tone", "tone:880", "clicks", "clicks:100", "silence"] {
            assert!(parse_source(ok, &DeviceConfig::default()).is_ok(), "{ok}");
        }
        assert!(matches!(
            parse_source("noise", &DeviceConfig::default()),
            Err(SourceError::Unknown(_))
        ));
        for bad in ["tone:la", "tone:nan", "tone:inf", "clicks:NaN"] {
            assert!(
                matches!(
                    parse_source(bad, &DeviceConfig::default()),
                    Err(SourceError::NotANumber(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_source("wav:/nonexistent.wav", &DeviceConfig::default()),
            Err(SourceError::Wav(_))
        ));
    }
}
