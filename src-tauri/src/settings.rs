//! The user's settings: a JSON file in the app's config directory, written atomically. A file
//! that cannot be read is set aside (not lost) and the defaults are used.

use crate::error::{AppError, AppResult, ErrorCode, Field, Problem};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tutti_media::{FrameDuration, MusicConfig};

pub const FILE_NAME: &str = "settings.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// The operating system's language (Korean if it is Korean, else English).
    Auto,
    Ko,
    En,
}

/// What the app opens sound cards through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum AudioSystem {
    /// The system's sound server (PulseAudio or PipeWire on Linux) or its own audio system.
    #[default]
    Auto,
    /// A running JACK server (or PipeWire's JACK interface), for musicians who route their
    /// sound through it: its period, its connections.
    Jack,
}

impl AudioSystem {
    pub fn host(self) -> tutti_media::device::AudioHost {
        match self {
            Self::Auto => tutti_media::device::AudioHost::Auto,
            Self::Jack => tutti_media::device::AudioHost::Jack,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct Settings {
    /// The name others see.
    pub name: String,
    /// Run the room server inside the app (a lesson on one machine or one network needs no
    /// server to deploy); otherwise use `server_url`.
    pub host_locally: bool,
    /// The port of the in-app room server (on every interface, so that others on the network
    /// can join).
    pub local_port: u16,
    /// A room server elsewhere, e.g. `wss://rooms.example.org/ws`.
    pub server_url: String,
    /// Opus frame length: 2.5, 5, 10 or 20 ms. Shorter is less delay and more CPU.
    pub frame_ms: f64,
    pub bitrate_kbps: u32,
    pub language: Language,
    /// Devices by name; `None` is the system's default.
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub camera: Option<String>,
    pub audio_system: AudioSystem,
    /// The teacher's page students see (the invite preview, the lesson), published with every
    /// lesson this app creates. Empty: none.
    pub profile: Profile,
}

/// What a teacher says of themselves besides the name (Settings' `name`) and time zone (the
/// computer's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct Profile {
    pub instruments: Vec<String>,
    pub bio: String,
    /// A small picture as a data URL (the UI makes a 160×160 JPEG of the chosen file).
    pub photo: Option<String>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty() && self.bio.trim().is_empty() && self.photo.is_none()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: default_name(),
            host_locally: true,
            local_port: 8787,
            server_url: "ws://127.0.0.1:8787/ws".into(),
            frame_ms: 5.0,
            bitrate_kbps: 128,
            language: Language::Auto,
            microphone: None,
            speaker: None,
            camera: None,
            audio_system: AudioSystem::Auto,
            profile: Profile::default(),
        }
    }
}

fn default_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Tutti".into())
}

impl Settings {
    pub fn validate(&self) -> AppResult<()> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > tutti_protocol::limits::NAME_CHARS {
            return Err(AppError::invalid(Problem::Length {
                what: Field::Name,
                max: u32::try_from(tutti_protocol::limits::NAME_CHARS).unwrap_or(u32::MAX),
            }));
        }
        let ws = self.server_url.starts_with("ws://") || self.server_url.starts_with("wss://");
        if !self.host_locally && !ws {
            return Err(AppError::invalid(Problem::ServerAddress));
        }
        if self.local_port < 1024 {
            return Err(AppError::invalid(Problem::Range {
                what: Field::LocalPort,
                min: 1024.0,
                max: 65535.0,
            }));
        }
        self.music()?;
        self.validate_profile()?;
        Ok(())
    }

    /// The page as published: `None` while the profile is empty.
    pub fn teacher_page(&self, time_zone: &str) -> Option<tutti_protocol::TeacherPage> {
        (!self.profile.is_empty()).then(|| tutti_protocol::TeacherPage {
            name: self.name.trim().to_owned(),
            instruments: self
                .profile
                .instruments
                .iter()
                .map(|i| i.trim().to_owned())
                .collect(),
            bio: self.profile.bio.trim().to_owned(),
            time_zone: Some(time_zone.to_owned()),
            photo: self.profile.photo.clone(),
        })
    }

    fn validate_profile(&self) -> AppResult<()> {
        use tutti_protocol::limits::{BIO_CHARS, INSTRUMENT_CHARS, INSTRUMENTS, PHOTO_BYTES};
        let max = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let p = &self.profile;
        if p.instruments.len() > INSTRUMENTS {
            return Err(AppError::invalid(Problem::TooMany {
                what: Field::Instrument,
                max: max(INSTRUMENTS),
            }));
        }
        if p.instruments
            .iter()
            .any(|i| i.trim().is_empty() || i.trim().chars().count() > INSTRUMENT_CHARS)
        {
            return Err(AppError::invalid(Problem::Length {
                what: Field::Instrument,
                max: max(INSTRUMENT_CHARS),
            }));
        }
        if p.bio.trim().chars().count() > BIO_CHARS {
            return Err(AppError::invalid(Problem::Length {
                what: Field::Bio,
                max: max(BIO_CHARS),
            }));
        }
        // The rest (a data URL of an image, within its size) as the room server checks it.
        if let Some(page) = self.teacher_page("UTC")
            && page.problem().is_some()
        {
            return Err(AppError::invalid(Problem::Photo {
                kb: max(PHOTO_BYTES / 1024),
            }));
        }
        Ok(())
    }

    pub fn music(&self) -> AppResult<MusicConfig> {
        let frame = FrameDuration::from_millis(self.frame_ms)
            .ok_or_else(|| AppError::invalid(Problem::FrameLength))?;
        if !(32..=510).contains(&self.bitrate_kbps) {
            return Err(AppError::invalid(Problem::Range {
                what: Field::Bitrate,
                min: 32.0,
                max: 510.0,
            }));
        }
        Ok(MusicConfig {
            frame,
            bitrate: self.bitrate_kbps * 1000,
            ..MusicConfig::default()
        })
    }

    /// Settings from a file's text: `None` if it is not JSON of settings, or names settings
    /// that are not valid (a port below 1024, an unknown frame length, an empty name).
    pub fn from_json(text: &str) -> Option<Settings> {
        serde_json::from_str::<Settings>(text)
            .ok()
            .filter(|s| s.validate().is_ok())
    }

    /// Reads the settings at `path`; a missing file gives the defaults, an unreadable one is
    /// renamed to `settings.json.bad` and gives the defaults.
    pub fn load(path: &Path) -> Settings {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Settings::default(),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "settings unreadable");
                return Settings::default();
            }
        };
        match Self::from_json(&text) {
            Some(s) => s,
            None => {
                let aside = set_aside_path(path);
                tracing::warn!(aside = %aside.display(), "settings not valid; using defaults");
                let _ = std::fs::rename(path, &aside);
                Settings::default()
            }
        }
    }

    /// Writes atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> AppResult<()> {
        self.validate()?;
        let failed = |e: std::io::Error| {
            AppError::new(
                ErrorCode::Store,
                format!("cannot save the settings to {}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
        std::fs::write(&tmp, json).map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }
}

/// The settings file against any text (the `settings` fuzz target and the proptest below): it
/// is refused or read as valid settings, never a panic, and what is read is saved and read back
/// the same.
#[doc(hidden)]
pub fn property(text: &str) -> Result<(), String> {
    let Some(s) = Settings::from_json(text) else {
        return Ok(());
    };
    let saved = serde_json::to_string_pretty(&s).map_err(|e| format!("{s:?} not saved: {e}"))?;
    match Settings::from_json(&saved) {
        Some(back) if back == s => Ok(()),
        back => Err(format!(
            "{text:?} read as {s:?}, saved and read back as {back:?}"
        )),
    }
}

fn set_aside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bad");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fills_in_missing_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert_eq!(Settings::load(&path), Settings::default());
        let s = Settings {
            name: "김선생".into(),
            frame_ms: 2.5,
            language: Language::Ko,
            audio_system: AudioSystem::Jack,
            ..Settings::default()
        };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path), s);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains(r#""audio_system": "jack""#)
        );
        // A file from an older version, without the newer fields.
        std::fs::write(&path, r#"{"name": "Omar"}"#).unwrap();
        let old = Settings::load(&path);
        assert_eq!(old.name, "Omar");
        assert_eq!(old.local_port, 8787);
        assert_eq!(old.audio_system, AudioSystem::Auto);
    }

    #[test]
    fn a_damaged_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("settings.json.bad")).unwrap(),
            "{not json"
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let bad = [
            Settings {
                frame_ms: 7.0,
                ..Settings::default()
            },
            Settings {
                name: "  ".into(),
                ..Settings::default()
            },
            Settings {
                host_locally: false,
                server_url: "http://x".into(),
                ..Settings::default()
            },
            Settings {
                bitrate_kbps: 5,
                ..Settings::default()
            },
        ];
        for s in bad {
            let e = s.validate().unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{s:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let e = Settings {
            frame_ms: 7.0,
            ..Settings::default()
        }
        .save(&path)
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(!path.exists(), "nothing written");
    }

    mod properties {
        use super::super::property;
        use proptest::prelude::*;
        use serde_json::{Value, json};

        /// Values of the kinds the settings hold, and some they do not.
        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<u16>().prop_map(|n| json!(n)),
                any::<i64>().prop_map(|n| json!(n)),
                prop::sample::select(vec![2.5, 5.0, 10.0, 20.0, 7.0, -1.0, 1e300]).prop_map(|f| json!(f)),
                prop::sample::select(vec!["ko", "en", "auto", "jack", "ws://h:1/ws", "wss://x", "", " "])
                    .prop_map(|s| json!(s)),
                "\\PC{0,80}".prop_map(Value::String),
                prop::collection::vec("\\PC{0,10}", 0..4).prop_map(|v| json!(v)),
                ("\\PC{0,200}", prop::option::of("data:image/jpeg;base64,[A-Za-z0-9+/]{0,40}"))
                    .prop_map(|(bio, photo)| json!({"bio": bio, "photo": photo, "instruments": ["violin"]})),
            ]
        }

        fn field() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "name",
                "host_locally",
                "local_port",
                "server_url",
                "frame_ms",
                "bitrate_kbps",
                "language",
                "microphone",
                "speaker",
                "camera",
                "audio_system",
                "profile",
                "other",
            ])
            .prop_map(String::from)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn any_text_is_refused_or_read_as_valid_settings_that_save_and_read_back_the_same(
                text in "\\PC{0,64}",
                fields in prop::collection::vec((field(), value()), 0..12),
            ) {
                prop_assert!(property(&text).is_ok());
                let object: serde_json::Map<String, Value> = fields.into_iter().collect();
                let r = property(&Value::Object(object).to_string());
                prop_assert!(r.is_ok(), "{}", r.unwrap_err());
            }
        }
    }
}
