//! Declares the app's commands to Tauri's access control: each gets an `allow-…` permission,
//! and only those granted in `capabilities/` can be called from a window.

const COMMANDS: &[&str] = &[
    "get_settings",
    "save_settings",
    "time_zones",
    "list_devices",
    "start_device_check",
    "stop_device_check",
    "play_test_sound",
    "host_lesson",
    "schedule_lesson",
    "start_scheduled",
    "cancel_scheduled",
    "reopen_scheduled",
    "preview_invite",
    "check_connection",
    "teacher_page",
    "join_lesson",
    "cancel_join",
    "lesson_view",
    "admit",
    "deny",
    "remove_participant",
    "ask_question",
    "vote",
    "set_question_state",
    "pin_question",
    "set_mic",
    "send_chat",
    "save_note",
    "set_muted",
    "set_metronome",
    "set_metronome_volume",
    "set_fader",
    "metronome_beat",
    "tuner",
    "set_leader_follower",
    "set_duet_live",
    "replay_duet",
    "replay",
    "set_recording",
    "duet",
    "set_camera",
    "leave_lesson",
    "next_pictures",
    "lessons",
    "lesson_detail",
    "search",
    "export_lesson",
    "add_mark",
    "take_waveform",
    "recording_file",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        eprintln!("tauri-build: {e:#}");
        std::process::exit(1);
    }
}
