//! The Tutti desktop app: a thin Tauri shell over the lesson engine (`tutti-lesson`) and the
//! local store (`tutti-store`). Commands and events are typed end to end: the TypeScript in
//! `ui/src/bindings.ts` is generated from them (a test fails when it is out of date).

mod check;
mod commands;
mod devices;
mod error;
mod events;
mod invite;
mod live;
mod local_server;
mod render;
mod schedule;
mod session;
#[doc(hidden)]
pub mod settings;
mod sound;
mod state;
mod store_worker;
mod sync;
mod teacher;
mod video;
mod view;

pub use error::{AppError, ErrorCode};

use tauri::Manager;
use tauri_specta::{Builder, collect_commands, collect_events};

/// Where the generated bindings live, from this crate's directory.
pub const BINDINGS: &str = "../ui/src/bindings.ts";

/// Every command and event the UI can use.
pub fn specta_builder() -> Builder<tauri::Wry> {
    use commands::*;
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            get_settings,
            save_settings,
            time_zones,
            list_devices,
            start_device_check,
            stop_device_check,
            play_test_sound,
            host_lesson,
            schedule_lesson,
            start_scheduled,
            cancel_scheduled,
            reopen_scheduled,
            preview_invite,
            check_connection,
            teacher_page,
            join_lesson,
            cancel_join,
            lesson_view,
            admit,
            deny,
            remove_participant,
            ask_question,
            vote,
            set_question_state,
            pin_question,
            set_mic,
            send_chat,
            save_note,
            set_muted,
            set_metronome,
            set_metronome_volume,
            set_fader,
            metronome_beat,
            tuner,
            set_leader_follower,
            set_duet_live,
            replay_duet,
            replay,
            set_recording,
            duet,
            set_camera,
            leave_lesson,
            next_pictures,
            lessons,
            lesson_detail,
            search,
            export_lesson,
            add_mark,
            take_waveform,
            recording_file,
        ])
        .events(collect_events![
            events::LessonChanged,
            events::LessonStats,
            events::LessonLevels,
            events::LessonOver,
            events::InputLevel,
        ])
        .constant("LIMITS", view::Limits::get())
        // Times are ms since 1970 and ids are small: they fit a JS number.
        .dangerously_cast_bigints_to_number()
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run() {
    init_tracing();
    let builder = specta_builder();
    let app = tauri::Builder::default()
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            let config_dir = app.path().app_config_dir()?;
            let data_dir = app.path().app_data_dir()?;
            let store = tutti_store::Store::open(&data_dir.join(tutti_store::FILE_NAME))?;
            let store = store_worker::StoreWorker::spawn(store)?;
            // Recordings a crash left with stale headers play whole again.
            let recordings = data_dir.join("recordings");
            std::thread::spawn(move || {
                let n = tutti_media::recording::repair_all(&recordings);
                if n > 0 {
                    tracing::info!(tracks = n, "recordings repaired after a crash");
                }
            });
            app.manage(state::AppState::new(config_dir, data_dir, store));
            if let Some(window) = app.get_webview_window("main") {
                render::apply(&window);
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("Tutti could not start: {e}");
            eprintln!("Tutti could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Leave the lesson properly, so that the others see us go at once.
            let state = handle.state::<state::AppState>();
            tauri::async_runtime::block_on(async {
                let session = state.session.lock().await.take();
                if let Some(session) = session {
                    // Leaving (not ending) cannot fail.
                    let _ = session.leave(session::Leaving::Leave).await;
                }
                state.stop_local_server().await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use specta_typescript::Typescript;

    fn generated() -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.ts");
        specta_builder()
            .export(Typescript::default(), &path)
            .unwrap();
        std::fs::read_to_string(path).unwrap()
    }

    /// The checked-in TypeScript matches the Rust. `TUTTI_UPDATE_BINDINGS=1` rewrites it.
    #[test]
    fn bindings_are_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS);
        let fresh = generated();
        if std::env::var_os("TUTTI_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "ui/src/bindings.ts is out of date: run `make bindings`"
        );
    }

    /// Each command is declared to Tauri's access control (build.rs), granted to the main
    /// window (capabilities/main.json), and in the bindings; nothing more is granted.
    #[test]
    fn every_command_is_declared_granted_and_bound() {
        let build = include_str!("../build.rs");
        let declared: Vec<&str> = build
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix("\","))
            .collect();
        let cap: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
        let granted: Vec<String> = cap["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(str::to_owned))
            .collect();
        let bindings = generated();
        // Calls read `__TAURI_INVOKE("name"` or `__TAURI_INVOKE<Type>("name"`.
        let bound: Vec<&str> = bindings
            .split("__TAURI_INVOKE")
            .skip(1)
            .filter_map(|s| s.split_once("(\"")?.1.split('"').next())
            .collect();
        assert!(!declared.is_empty());
        let mut declared_sorted: Vec<String> = declared.iter().map(|c| c.to_string()).collect();
        declared_sorted.sort();
        let mut bound_sorted: Vec<String> = bound.iter().map(|c| c.to_string()).collect();
        bound_sorted.sort();
        bound_sorted.dedup();
        assert_eq!(
            declared_sorted, bound_sorted,
            "build.rs against the bindings"
        );
        let mut granted_sorted: Vec<String> = granted.iter().map(|g| g.replace('-', "_")).collect();
        granted_sorted.sort();
        assert_eq!(
            declared_sorted, granted_sorted,
            "build.rs against the capability"
        );
    }
}
