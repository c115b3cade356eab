//! Events to the UI (typed in the generated bindings).

use crate::session::{Emit, SessionEvent};
use crate::view::{LessonView, PeerLevel, PeerStatsView};
use serde::Serialize;
use std::sync::Arc;
use tauri::AppHandle;
use tauri_specta::Event;

/// The lesson changed: the whole view, as the lesson screen shows it.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LessonChanged(pub LessonView);

/// Once a second during a lesson: the connection to each participant and our own level.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LessonStats {
    pub peers: Vec<PeerStatsView>,
    pub send_level: f32,
}

/// About ten times a second during a lesson: the meters (0–1, peak falling off).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LessonLevels {
    /// What we send (0 while muted).
    pub send: f32,
    pub peers: Vec<PeerLevel>,
}

/// The lesson is over for us (ended by the host, removed, or the room server went away).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LessonOver {
    pub reason: OverKind,
    /// In English, with the room server's own words where it gave any (for logs and details).
    pub detail: String,
}

/// Why, for the UI to say in the user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum OverKind {
    Ended,
    Removed,
    Replaced,
    ServerClosed,
    Disconnected,
    Expired,
}

impl From<&tutti_lesson::OverReason> for OverKind {
    fn from(r: &tutti_lesson::OverReason) -> Self {
        use tutti_lesson::OverReason as R;
        match r {
            R::Ended => Self::Ended,
            R::Removed => Self::Removed,
            R::Replaced => Self::Replaced,
            R::ServerClosed(_) => Self::ServerClosed,
            R::Disconnected => Self::Disconnected,
            R::Expired => Self::Expired,
        }
    }
}

/// The microphone's level during the device check, 0–1, about 15 times a second.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct InputLevel {
    pub level: f32,
}

/// Sends a session's events to the windows.
pub fn emit_session(app: AppHandle) -> Emit {
    Arc::new(move |event| {
        let sent = match event {
            SessionEvent::Changed(view) => LessonChanged(*view).emit(&app),
            SessionEvent::Levels { send, peers } => LessonLevels { send, peers }.emit(&app),
            SessionEvent::Stats { peers, send_level } => {
                LessonStats { peers, send_level }.emit(&app)
            }
            SessionEvent::Over { reason } => {
                let handle = app.clone();
                // The session is gone: forget it, so the next lesson can start.
                tauri::async_runtime::spawn(async move {
                    use tauri::Manager;
                    let state = handle.state::<crate::state::AppState>();
                    state.session.lock().await.take();
                });
                LessonOver {
                    reason: OverKind::from(&reason),
                    detail: reason.to_string(),
                }
                .emit(&app)
            }
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "event not delivered to the window");
        }
    })
}
