//! Events to the UI (typed in the generated bindings).

use crate::session::{Emit, SessionEvent};
use crate::view::{LessonView, PeerStatsView};
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

/// The lesson is over for us (ended by the host, removed, or the room server went away).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
pub struct LessonOver {
    pub reason: String,
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
                LessonOver { reason }.emit(&app)
            }
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "event not delivered to the window");
        }
    })
}
