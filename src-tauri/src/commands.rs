//! The commands the UI calls. Each is a few lines over the lesson engine, the store or the
//! settings; errors come back as `{code, message}`.

use crate::devices::{self, CheckStarted, DeviceCheck, DeviceList};
use crate::error::{AppError, AppResult, ErrorCode, Field, Problem};
use crate::events::{InputLevel, emit_session};
use crate::session::{Leaving, MediaChoice, RoomServer, Session, abandon};
use crate::settings::Settings;
use crate::state::AppState;
use crate::video::PictureFormat;
use crate::view::{
    BeatView, ChatView, DuetView, FaderView, LessonDetail, LessonSummary, LessonView,
    MetronomeView, NoteView, PitchView, QuestionState, QuestionView, RecordingView, SearchHitView,
    TakeView,
};
use serde::{Deserialize, Serialize};
use tauri::ipc::InvokeResponseBody;
use tauri::{AppHandle, State};
use tauri_specta::Event;
use tutti_lesson::{EngineConfig, Lesson};
use tutti_protocol::{ClientMessage, HostToken, JoinRole, PeerId, QuestionId, QuestionKind};
use tutti_store::{LessonFilter, NewLesson, Role};

type S<'a> = State<'a, AppState>;

#[tauri::command]
#[specta::specta]
pub fn get_settings(state: S<'_>) -> Settings {
    state.settings()
}

#[tauri::command]
#[specta::specta]
pub async fn save_settings(state: S<'_>, settings: Settings) -> AppResult<Settings> {
    settings.save(&state.settings_path)?;
    let old = state.replace_settings(settings.clone());
    if old.host_locally != settings.host_locally || old.local_port != settings.local_port {
        // The next lesson starts the in-app server afresh with the new settings.
        state.stop_local_server().await;
    }
    Ok(settings)
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct TimeZones {
    /// This computer's zone, e.g. `Asia/Seoul`.
    pub local: String,
    pub all: Vec<String>,
}

#[tauri::command]
#[specta::specta]
pub fn time_zones() -> TimeZones {
    let mut all: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .filter(|n| n.contains('/') && !n.starts_with("Etc/"))
        .collect();
    all.sort();
    TimeZones {
        local: crate::state::local_zone(),
        all,
    }
}

#[tauri::command]
#[specta::specta]
pub async fn list_devices(app: AppHandle) -> DeviceList {
    use tauri::Manager as _;
    let system = app.state::<AppState>().settings().audio_system;
    tokio::task::spawn_blocking(move || devices::list(system))
        .await
        .unwrap_or_else(|_| DeviceList {
            microphones: Vec::new(),
            speakers: Vec::new(),
            cameras: Vec::new(),
            audio_error: None,
        })
}

#[tauri::command]
#[specta::specta]
pub async fn start_device_check(
    app: AppHandle,
    state: S<'_>,
    microphone: Option<String>,
    camera: Option<String>,
) -> AppResult<CheckStarted> {
    let generation = state.next_device_check().await;
    let video = state.video.clone();
    let system = state.settings().audio_system;
    let (check, started) = tokio::task::spawn_blocking(move || {
        DeviceCheck::start(
            system,
            microphone,
            camera,
            move |level| {
                let _ = InputLevel { level }.emit(&app);
            },
            video,
        )
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
    // Opening a camera can take a second: a lesson (or another check) may have begun meanwhile.
    if !state.keep_device_check(generation, check).await {
        return Err(AppError::new(
            ErrorCode::Cancelled,
            "the device check was stopped",
        ));
    }
    Ok(started)
}

#[tauri::command]
#[specta::specta]
pub async fn stop_device_check(state: S<'_>) -> AppResult<()> {
    let _ = state.stop_device_check().await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn play_test_sound(state: S<'_>, speaker: Option<String>) -> AppResult<()> {
    let system = state.settings().audio_system;
    tokio::task::spawn_blocking(move || devices::play_test_sound(system, speaker))
        .await
        .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?
}

/// The engine's configuration and the server to use, from the settings.
async fn engine_config(
    state: &AppState,
    server: Option<String>,
) -> AppResult<(EngineConfig, Vec<String>)> {
    let settings = state.settings();
    let (url, share) = match server {
        Some(url) => (url, Vec::new()),
        None => state.room_server().await?,
    };
    let cfg = EngineConfig {
        music: settings.music()?,
        video: true,
        // As host: the takes students send, lossless, kept beside our own recordings.
        take_inbox: Some(state.data_dir.join("recordings").join("received")),
        teacher: state.teacher_for(&url),
        ..EngineConfig::new(&url, settings.name.trim())
    };
    Ok((cfg, share))
}

fn media_choice(settings: &Settings) -> AppResult<MediaChoice> {
    Ok(MediaChoice {
        music: settings.music()?,
        audio_system: settings.audio_system,
        microphone: settings.microphone.clone(),
        speaker: settings.speaker.clone(),
        camera: settings.camera.clone(),
    })
}

async fn begin(
    app: &AppHandle,
    state: &AppState,
    lesson: Lesson,
    local: tutti_store::LessonId,
    share: Vec<String>,
    server_url: String,
) -> AppResult<LessonView> {
    state.stop_device_check().await;
    if let Err(e) = state.store.run(move |s| s.mark_started(local)).await {
        return Err(abandon(lesson, e));
    }
    let session = Session::start(
        lesson,
        local,
        state.store.clone(),
        media_choice(&state.settings())?,
        state.video.clone(),
        RoomServer {
            url: server_url,
            share_urls: share,
        },
        emit_session(app.clone()),
    )
    .await?;
    let view = session.view();
    let mut slot = state.session.lock().await;
    if slot.is_some() {
        // Another start (a double click) got there first: this one is not wanted.
        drop(slot);
        let _ = session.leave(Leaving::Leave).await; // leaving (not ending) cannot fail
        return Err(AppError::new(
            ErrorCode::AlreadyInLesson,
            "a lesson is already open",
        ));
    }
    *slot = Some(session);
    Ok(view)
}

async fn ensure_not_in_lesson(state: &AppState) -> AppResult<()> {
    if state.session.lock().await.is_some() {
        return Err(AppError::new(
            ErrorCode::AlreadyInLesson,
            "leave the current lesson first",
        ));
    }
    Ok(())
}

fn check_title(title: &str) -> AppResult<String> {
    let t = title.trim();
    let most = tutti_protocol::limits::TITLE_CHARS;
    if t.is_empty() || t.chars().count() > most {
        return Err(AppError::invalid(Problem::Length {
            what: Field::Title,
            max: u32::try_from(most).unwrap_or(u32::MAX),
        }));
    }
    Ok(t.to_owned())
}

/// Opens a lesson now, as its host.
#[tauri::command]
#[specta::specta]
pub async fn host_lesson(app: AppHandle, state: S<'_>, title: String) -> AppResult<LessonView> {
    ensure_not_in_lesson(&state).await?;
    let title = check_title(&title)?;
    let (cfg, share) = engine_config(&state, None).await?;
    let server_url = cfg.server.clone();
    let lesson = Lesson::host(cfg, &title).await?;
    let new = NewLesson {
        title: title.clone(),
        my_role: Role::Host,
        student: None,
        host_tz: crate::state::local_zone(),
        student_tz: None,
        scheduled_start: None,
        scheduled_minutes: None,
        remote_id: Some(lesson.info.id.0.clone()),
        invite_code: Some(lesson.info.code.to_string()),
        server_url: Some(server_url.clone()),
    };
    let token = lesson.host_token.clone();
    let local = state
        .store
        .run(move |store| {
            let id = store.create_lesson(&new)?;
            if let Some(token) = &token {
                store.set_host_token(id, &token.0)?;
            }
            Ok(id)
        })
        .await;
    let local = match local {
        Ok(local) => local,
        Err(e) => return Err(abandon(lesson, e)),
    };
    begin(&app, &state, lesson, local, share, server_url).await
}

#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct ScheduleRequest {
    pub title: String,
    /// When it starts, in ms since 1970 (UTC).
    pub start_ms: i64,
    pub minutes: u32,
    /// The student's IANA time zone, e.g. `Asia/Dubai`.
    pub student_tz: Option<String>,
}

/// Schedules a lesson: the room server gives it a code now (students can send questions
/// before it starts); it is opened later with `start_scheduled`.
#[tauri::command]
#[specta::specta]
pub async fn schedule_lesson(state: S<'_>, request: ScheduleRequest) -> AppResult<LessonSummary> {
    let title = check_title(&request.title)?;
    if request.start_ms < 0 {
        return Err(AppError::invalid(Problem::NoTime));
    }
    if !(5..=600).contains(&request.minutes) {
        return Err(AppError::invalid(Problem::Range {
            what: Field::LessonMinutes,
            min: 5.0,
            max: 600.0,
        }));
    }
    if let Some(tz) = &request.student_tz {
        tutti_store::validate_zone(tz)?;
    }
    let start = tutti_protocol::UnixMs(request.start_ms);
    let settings = state.settings();
    let (url, _) = state.room_server().await?;
    let (lesson, host_token) = crate::schedule::create(
        &url,
        &title,
        settings.name.trim(),
        Some(start),
        &crate::state::local_zone(),
        state.teacher_for(&url),
    )
    .await?;
    let new = NewLesson {
        title,
        my_role: Role::Host,
        student: None,
        host_tz: crate::state::local_zone(),
        student_tz: request.student_tz,
        scheduled_start: Some(start),
        scheduled_minutes: Some(request.minutes),
        remote_id: Some(lesson.id.0.clone()),
        invite_code: Some(lesson.code.to_string()),
        server_url: Some(url),
    };
    state
        .store
        .run(move |store| {
            let id = store.create_lesson(&new)?;
            store.set_host_token(id, &host_token.0)?;
            Ok(LessonSummary::from(&store.lesson(id)?))
        })
        .await
}

/// Opens, as its host, a lesson scheduled earlier (or one left without ending it).
#[tauri::command]
#[specta::specta]
pub async fn start_scheduled(app: AppHandle, state: S<'_>, id: i64) -> AppResult<LessonView> {
    ensure_not_in_lesson(&state).await?;
    let local = tutti_store::LessonId(id);
    let (record, token) = state
        .store
        .run(move |store| Ok((store.lesson(local)?, store.host_token(local)?)))
        .await?;
    let (Some(remote), Some(token)) = (record.remote_id.clone(), token) else {
        return Err(AppError::new(
            ErrorCode::NotHost,
            "this lesson cannot be opened from here: it was not created on this computer, or it has ended",
        ));
    };
    let (cfg, share) = engine_config(&state, lessons_server(&state, &record)).await?;
    let server_url = cfg.server.clone();
    let lesson = Lesson::reopen(cfg, &tutti_protocol::LessonId(remote), &HostToken(token))
        .await
        .map_err(|e| crate::schedule::start_error(e, &server_url))?;
    begin(&app, &state, lesson, local, share, server_url).await
}

/// The room server a lesson we scheduled lives on: the one it was created on, unless that was
/// this computer's own (whose port may have changed since): `None` then, for the current one.
fn lessons_server(state: &AppState, record: &tutti_store::Lesson) -> Option<String> {
    match record.server_url.clone() {
        Some(url) if !state.settings().host_locally || !url.starts_with("ws://127.0.0.1:") => {
            Some(url)
        }
        _ => None,
    }
}

/// Like `lessons_server`, with this computer's own server started when it is the one.
async fn lessons_server_url(state: &AppState, record: &tutti_store::Lesson) -> AppResult<String> {
    match lessons_server(state, record) {
        Some(url) => Ok(url),
        None => Ok(state.room_server().await?.0),
    }
}

/// A scheduled lesson the room server no longer knows (it was reset) is made there again: a
/// new invite code, the same title and time. The students need the new code.
#[tauri::command]
#[specta::specta]
pub async fn reopen_scheduled(state: S<'_>, id: i64) -> AppResult<LessonSummary> {
    let local = tutti_store::LessonId(id);
    let record = state.store.run(move |store| store.lesson(local)).await?;
    let open = matches!(
        record.status,
        tutti_store::LessonStatus::Scheduled | tutti_store::LessonStatus::Live
    );
    if record.my_role != Role::Host || !open {
        return Err(AppError::new(
            ErrorCode::NotHost,
            "only a lesson you scheduled, and that has not ended, can be opened again",
        ));
    }
    let url = lessons_server_url(&state, &record).await?;
    let (lesson, host_token) = crate::schedule::create(
        &url,
        &record.title,
        state.settings().name.trim(),
        record.scheduled_start,
        &record.host_tz,
        state.teacher_for(&url),
    )
    .await?;
    tracing::info!(lesson = id, code = %lesson.code, "scheduled lesson made again on the server");
    state
        .store
        .run(move |store| {
            store.relink_remote(
                local,
                lesson.id.as_str(),
                &lesson.code.to_string(),
                &url,
                &host_token.0,
            )?;
            Ok(LessonSummary::from(&store.lesson(local)?))
        })
        .await
}

/// Calls a scheduled lesson off: the room server first (the code stops working, students
/// waiting are told), then here. When the server cannot be told, nothing changes and the error
/// says so; `here_only` then cancels it on this computer alone (a server that is gone for good).
#[tauri::command]
#[specta::specta]
pub async fn cancel_scheduled(state: S<'_>, id: i64, here_only: bool) -> AppResult<()> {
    let local = tutti_store::LessonId(id);
    let (record, token) = state
        .store
        .run(move |store| Ok((store.lesson(local)?, store.host_token(local)?)))
        .await?;
    if let (false, Some(remote), Some(token)) = (here_only, record.remote_id.clone(), token) {
        let url = lessons_server_url(&state, &record).await?;
        crate::schedule::cancel(&url, remote, token).await?;
    }
    // One left open (started, never ended) is ended, with what it recorded; one that never
    // took place is cancelled.
    let started = record.actual_start.is_some();
    state
        .store
        .run(move |s| {
            if started {
                s.mark_ended(local)
            } else {
                s.cancel_lesson(local)
            }
        })
        .await
}

/// What the room server at `server` says of `code`, before knocking: the join screen shows it
/// as the code is typed.
#[tauri::command]
#[specta::specta]
pub async fn preview_invite(
    state: S<'_>,
    code: String,
    server: String,
) -> AppResult<Option<crate::invite::InvitePreview>> {
    crate::invite::preview(&state.http()?, &server, &code).await
}

/// Tries every way to the room server at `server` (its API, its WebSocket, STUN, and its relay
/// over UDP, TCP and TLS) and says what will work from this network: the device check screen
/// and Settings run it.
#[tauri::command]
#[specta::specta]
pub async fn check_connection(server: String) -> AppResult<crate::check::ConnectionCheck> {
    crate::check::run(&server).await
}

/// A teacher's page (`id`, as a lesson or an invite preview names it) from the room server at
/// `server`; `None` where it has none.
#[tauri::command]
#[specta::specta]
pub async fn teacher_page(
    state: S<'_>,
    server: String,
    id: String,
) -> AppResult<Option<crate::teacher::TeacherPageView>> {
    crate::teacher::fetch(&state.http()?, &server, &id).await
}

/// Knocks with `code` on the room server at `server` and waits until the host lets us in.
#[tauri::command]
#[specta::specta]
pub async fn join_lesson(
    app: AppHandle,
    state: S<'_>,
    code: String,
    server: String,
) -> AppResult<LessonView> {
    ensure_not_in_lesson(&state).await?;
    let code = tutti_protocol::InviteCode::parse(code.trim())
        .map_err(|e| AppError::new(ErrorCode::WrongCode, e.to_string()))?;
    let server = server.trim().to_owned();
    if !(server.starts_with("ws://") || server.starts_with("wss://")) {
        return Err(AppError::invalid(Problem::ServerAddress));
    }
    let (cfg, _) = engine_config(&state, Some(server.clone())).await?;
    let code = code.to_string();
    let joining = tokio::spawn(async move { Lesson::join(cfg, &code, JoinRole::Student).await });
    *state.lock_joining() = Some(joining.abort_handle());
    let joined = joining.await;
    state.lock_joining().take();
    let lesson = match joined {
        Ok(r) => r?,
        Err(e) if e.is_cancelled() => {
            return Err(AppError::new(ErrorCode::Cancelled, "stopped waiting"));
        }
        Err(e) => return Err(AppError::new(ErrorCode::Internal, e.to_string())),
    };
    let new = NewLesson {
        title: lesson.info.title.clone(),
        my_role: Role::Student,
        student: None,
        // The teacher's zone when the teacher's app said it (a lesson hosted "now" does not).
        host_tz: (lesson.info.time_zone.clone())
            .filter(|z| tutti_store::validate_zone(z).is_ok())
            .unwrap_or_else(crate::state::local_zone),
        student_tz: Some(crate::state::local_zone()),
        scheduled_start: lesson.info.scheduled_for,
        scheduled_minutes: None,
        remote_id: Some(lesson.info.id.0.clone()),
        invite_code: Some(lesson.info.code.to_string()),
        server_url: Some(server.clone()),
    };
    let local = state
        .store
        .run(move |store| {
            Ok(
                match store.lesson_by_remote(new.remote_id.as_deref().unwrap_or_default())? {
                    Some(l) => l.id,
                    None => store.create_lesson(&new)?,
                },
            )
        })
        .await;
    let local = match local {
        Ok(local) => local,
        Err(e) => return Err(abandon(lesson, e)),
    };
    begin(&app, &state, lesson, local, Vec::new(), server).await
}

#[tauri::command]
#[specta::specta]
pub fn cancel_join(state: S<'_>) {
    if let Some(joining) = state.lock_joining().take() {
        joining.abort();
    }
}

#[tauri::command]
#[specta::specta]
pub async fn lesson_view(state: S<'_>) -> AppResult<Option<LessonView>> {
    Ok(state.session.lock().await.as_ref().map(Session::view))
}

/// Runs `f` with the current session, or says there is none.
async fn with_session<T>(
    state: &AppState,
    f: impl AsyncFnOnce(&Session) -> AppResult<T>,
) -> AppResult<T> {
    let guard = state.session.lock().await;
    let session = guard.as_ref().ok_or_else(AppError::not_in_lesson)?;
    f(session).await
}

/// Sends `message` to the room server for the current session. The session lock is let go
/// first: while one request waits for its reply, mute, camera and leave still work.
async fn send(state: &AppState, message: ClientMessage) -> AppResult<()> {
    let handle = with_session(state, async |s| Ok(s.handle())).await?;
    handle.request(message).await?;
    Ok(())
}

fn peer(id: String) -> PeerId {
    PeerId(id)
}

fn question(id: i64) -> AppResult<QuestionId> {
    u64::try_from(id)
        .ok()
        .filter(|&id| id >= 1)
        .map(QuestionId)
        .ok_or_else(|| AppError::invalid(Problem::NoSuchQuestion))
}

#[tauri::command]
#[specta::specta]
pub async fn admit(state: S<'_>, peer_id: String) -> AppResult<()> {
    send(
        &state,
        ClientMessage::Admit {
            peer: peer(peer_id),
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn deny(state: S<'_>, peer_id: String) -> AppResult<()> {
    send(
        &state,
        ClientMessage::Deny {
            peer: peer(peer_id),
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_participant(state: S<'_>, peer_id: String) -> AppResult<()> {
    send(
        &state,
        ClientMessage::Remove {
            peer: peer(peer_id),
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn ask_question(
    state: S<'_>,
    text: String,
    voice: bool,
    anonymous: bool,
) -> AppResult<()> {
    let text = text.trim().to_owned();
    if text.is_empty() && !voice {
        return Err(AppError::invalid(Problem::Empty {
            what: Field::Question,
        }));
    }
    send(
        &state,
        ClientMessage::AskQuestion {
            text,
            kind: if voice {
                QuestionKind::Voice
            } else {
                QuestionKind::Text
            },
            anonymous,
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn vote(state: S<'_>, question_id: i64, up: bool) -> AppResult<()> {
    let q = question(question_id)?;
    with_session(&state, async |s| s.vote(q, up).await).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_question_state(
    state: S<'_>,
    question_id: i64,
    new_state: QuestionState,
) -> AppResult<()> {
    let q = question(question_id)?;
    send(
        &state,
        ClientMessage::SetQuestionState {
            question: q,
            state: new_state.into(),
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn pin_question(state: S<'_>, question_id: i64, pinned: bool) -> AppResult<()> {
    let q = question(question_id)?;
    send(
        &state,
        ClientMessage::PinQuestion {
            question: q,
            pinned,
        },
    )
    .await
}

/// Host only: grants or revokes a participant's microphone (for a voice question).
#[tauri::command]
#[specta::specta]
pub async fn set_mic(state: S<'_>, peer_id: String, allowed: bool) -> AppResult<()> {
    send(
        &state,
        ClientMessage::SetMic {
            peer: peer(peer_id),
            allowed,
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn send_chat(state: S<'_>, text: String) -> AppResult<()> {
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(AppError::invalid(Problem::Empty {
            what: Field::Message,
        }));
    }
    send(&state, ClientMessage::Chat { text }).await
}

/// Autosave of a lesson's note: the lesson is named, so that the last keystrokes, saved as
/// the lesson ends, still reach its note (and never another lesson's).
#[tauri::command]
#[specta::specta]
pub async fn save_note(state: S<'_>, lesson_id: i64, body: String) -> AppResult<()> {
    let lesson = tutti_store::LessonId(lesson_id);
    {
        let guard = state.session.lock().await;
        if let Some(session) = guard.as_ref().filter(|s| s.local_id() == lesson) {
            return session.save_note(body).await;
        }
    }
    // The lesson is over for us: straight to the store.
    state
        .store
        .run(move |store| {
            match store.notes(lesson)?.first() {
                Some(note) => store.save_note(note.id, &body)?,
                None => {
                    store.add_note(lesson, &body, None)?;
                }
            }
            Ok(())
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn set_muted(state: S<'_>, muted: bool) -> AppResult<()> {
    with_session(&state, async |s| {
        s.set_muted(muted);
        Ok(())
    })
    .await
}

/// As host: starts or changes the metronome for everyone (`None` stops it).
#[tauri::command]
#[specta::specta]
pub async fn set_metronome(state: S<'_>, metronome: Option<MetronomeView>) -> AppResult<()> {
    with_session(&state, async |s| s.set_metronome(metronome)).await
}

/// The metronome's volume for us alone, 0–1 (0 mutes it here).
#[tauri::command]
#[specta::specta]
pub async fn set_metronome_volume(state: S<'_>, volume: f32) -> AppResult<()> {
    with_session(&state, async |s| s.set_metronome_volume(volume)).await
}

/// Our mixer: how we hear `peer_id` (volume 0–2, pan −1–1, muted for us alone).
#[tauri::command]
#[specta::specta]
pub async fn set_fader(state: S<'_>, peer_id: String, fader: FaderView) -> AppResult<()> {
    with_session(&state, async |s| s.set_fader(&peer_id, fader)).await
}

/// The tuner: our own pitch and each participant's, against the reference A (415–466 Hz).
#[tauri::command]
#[specta::specta]
pub async fn tuner(state: S<'_>, reference_hz: f64) -> AppResult<Vec<PitchView>> {
    with_session(&state, async |s| s.tuner(reference_hz)).await
}

/// The beat sounding now, while the metronome runs.
#[tauri::command]
#[specta::specta]
pub async fn metronome_beat(state: S<'_>) -> AppResult<Option<BeatView>> {
    with_session(&state, async |s| Ok(s.metronome_beat())).await
}

/// As host: leader–follower playing with the student (`on`), or not.
#[tauri::command]
#[specta::specta]
pub async fn set_leader_follower(state: S<'_>, on: bool) -> AppResult<()> {
    with_session(&state, async |s| s.set_leader_follower(on)).await
}

/// Our own part in our ears, delayed to meet the follower's as it arrives.
#[tauri::command]
#[specta::specta]
pub async fn set_duet_live(state: S<'_>, on: bool) -> AppResult<()> {
    with_session(&state, async |s| {
        s.set_duet_live(on);
        Ok(())
    })
    .await
}

/// Plays the last `seconds` of the duet, aligned (`None` stops a replay).
#[tauri::command]
#[specta::specta]
pub async fn replay_duet(state: S<'_>, seconds: Option<f64>) -> AppResult<()> {
    with_session(&state, async |s| match seconds {
        Some(secs) => s.replay_duet(secs),
        None => {
            s.stop_replay();
            Ok(())
        }
    })
    .await
}

/// Instant replay: plays the last `seconds` of `peer`'s part as heard here (none: our own) while
/// the lesson goes on, and says how long it plays; `seconds` none stops any replay.
#[tauri::command]
#[specta::specta]
pub async fn replay(state: S<'_>, peer: Option<String>, seconds: Option<f64>) -> AppResult<f64> {
    with_session(&state, async |s| match seconds {
        Some(secs) => s.replay(peer, secs),
        None => {
            s.stop_replay();
            Ok(0.0)
        }
    })
    .await
}

/// Records the lesson (`on`) into the app's data folder, every part its own file, everyone
/// told; or stops. Returns the recording's folder.
#[tauri::command]
#[specta::specta]
pub async fn set_recording(state: S<'_>, on: bool) -> AppResult<Option<String>> {
    let base = state.data_dir.clone();
    with_session(&state, async |s| {
        if on {
            s.start_recording(&base).map(Some)
        } else {
            s.stop_recording()
        }
    })
    .await
}

/// Where leader–follower playing stands, while it is on.
#[tauri::command]
#[specta::specta]
pub async fn duet(state: S<'_>) -> AppResult<Option<DuetView>> {
    with_session(&state, async |s| Ok(s.duet())).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_camera(state: S<'_>, on: bool) -> AppResult<()> {
    with_session(&state, async |s| s.set_camera(on)).await
}

/// Leaves the lesson; the host may end it for everyone (`end`).
#[tauri::command]
#[specta::specta]
pub async fn leave_lesson(state: S<'_>, end: bool) -> AppResult<()> {
    let session = state.session.lock().await.take();
    let Some(session) = session else {
        return Ok(());
    };
    let left = session
        .leave(if end { Leaving::End } else { Leaving::Leave })
        .await;
    // The pictures of those we no longer see are not kept for a display that will not ask.
    state.video.clear();
    left
}

/// Raw bytes back to the web view (an `ArrayBuffer` there), not JSON.
#[derive(specta::Type)]
#[specta(type = Vec<u8>)]
pub struct Pictures(Vec<u8>);

impl tauri::ipc::IpcResponse for Pictures {
    fn body(self) -> tauri::Result<InvokeResponseBody> {
        Ok(InvokeResponseBody::Raw(self.0))
    }
}

#[derive(Deserialize, specta::Type)]
pub struct PictureRequest {
    /// Whose pictures ("" is our own camera).
    pub peers: Vec<String>,
    /// The web view can draw I420 (WebGL).
    pub webgl: bool,
    /// The web view decodes VP8 itself (WebCodecs).
    pub vp8: bool,
    /// Participants whose VP8 decoder in the web view is new or lost track: it needs a keyframe.
    pub restart: Vec<String>,
}

/// The newest picture of each of `peers` not yet shown (or, where the web view decodes them,
/// every coded picture since the last request), once there is one (empty after a second
/// without): the web view asks again when it has drawn them, so a picture it has no time for
/// is never converted or sent. Layout in `video.rs`.
#[tauri::command]
#[specta::specta]
pub async fn next_pictures(state: S<'_>, request: PictureRequest) -> AppResult<Pictures> {
    let video = &state.video;
    video.set_web_decodes(request.vp8 && video.format == PictureFormat::Vp8);
    for peer in &request.restart {
        video.restart_coded(peer);
    }
    let raw = match video.format {
        PictureFormat::I420 if request.webgl => PictureFormat::I420,
        _ => PictureFormat::Rgba,
    };
    Ok(Pictures(
        video.next(&request.peers, raw, crate::video::WAIT).await,
    ))
}

#[derive(Debug, Clone, Copy, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    Upcoming,
    Past,
}

#[tauri::command]
#[specta::specta]
pub async fn lessons(state: S<'_>, which: Which) -> AppResult<Vec<LessonSummary>> {
    let filter = match which {
        Which::Upcoming => LessonFilter::Upcoming,
        Which::Past => LessonFilter::Past,
    };
    state
        .store
        .run(move |s| Ok(s.lessons(filter)?.iter().map(LessonSummary::from).collect()))
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn lesson_detail(state: S<'_>, id: i64) -> AppResult<LessonDetail> {
    let id = tutti_store::LessonId(id);
    state.store.run(move |store| detail(store, id)).await
}

pub(crate) fn detail(
    store: &tutti_store::Store,
    id: tutti_store::LessonId,
) -> tutti_store::Result<LessonDetail> {
    let lesson = store.lesson(id)?;
    Ok(LessonDetail {
        lesson: LessonSummary::from(&lesson),
        notes: store
            .notes(id)?
            .into_iter()
            .map(|n| NoteView {
                body: n.body,
                updated_ms: n.updated_at.0,
            })
            .collect(),
        questions: store
            .questions(id)?
            .iter()
            .map(QuestionView::from)
            .collect(),
        chat: store
            .chat(id)?
            .into_iter()
            .map(|m| ChatView {
                from: m.from_name,
                text: m.text,
                at_ms: m.at.0,
                mine: false,
            })
            .collect(),
        takes: store.takes(id)?.into_iter().map(TakeView::from).collect(),
        recordings: store
            .recordings(id)?
            .into_iter()
            .filter(|r| r.take.is_none())
            .map(RecordingView::from)
            .collect(),
    })
}

/// A listed recording's file, whole, for the history's player (raw bytes: an `ArrayBuffer`
/// there, played from a blob: WebKitGTK's player loads no custom URL scheme).
#[derive(specta::Type)]
#[specta(type = Vec<u8>)]
pub struct RecordingFile(Vec<u8>);

impl tauri::ipc::IpcResponse for RecordingFile {
    fn body(self) -> tauri::Result<InvokeResponseBody> {
        Ok(InvokeResponseBody::Raw(self.0))
    }
}

/// The largest file the history plays (a mix is 43 MB an hour; a lossless track 691 MB).
const PLAYABLE_AT_MOST: u64 = 512 << 20;

#[tauri::command]
#[specta::specta]
pub async fn recording_file(state: S<'_>, id: i64) -> AppResult<RecordingFile> {
    let listed = state
        .store
        .run(move |s| s.recording(tutti_store::RecordingId(id)))
        .await?;
    let path = listed.path;
    tokio::task::spawn_blocking(move || {
        let missing =
            |e: std::io::Error| AppError::new(ErrorCode::RecordingMissing, format!("{path}: {e}"));
        let len = std::fs::metadata(&path).map_err(missing)?.len();
        if len > PLAYABLE_AT_MOST {
            let mb = u32::try_from(len >> 20).unwrap_or(u32::MAX);
            return Err(AppError::invalid(Problem::TooLargeToPlay { mb })
                .detailed(format!("{path} is too large to play here ({mb} MB)")));
        }
        std::fs::read(&path).map(RecordingFile).map_err(missing)
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?
}

/// A mark on the lesson's timeline, now: placed on every recording running.
#[tauri::command]
#[specta::specta]
pub async fn add_mark(state: S<'_>, text: String) -> AppResult<()> {
    with_session(&state, async |s| s.add_mark(text).await).await
}

/// The take's waveform: `buckets` peaks (0–1) from its start to its end, the loudest of its
/// tracks in each (the lossless tracks, read a second at a time).
#[tauri::command]
#[specta::specta]
pub async fn take_waveform(
    state: S<'_>,
    lesson_id: i64,
    take_id: i64,
    buckets: u32,
) -> AppResult<Vec<f32>> {
    let lesson = tutti_store::LessonId(lesson_id);
    let take = state
        .store
        .run(move |s| {
            s.takes(lesson)?
                .into_iter()
                .find(|t| t.id.0 == take_id)
                .ok_or(tutti_store::StoreError::NotFound {
                    what: "take",
                    id: take_id,
                })
        })
        .await?;
    let tracks: Vec<(std::path::PathBuf, f64)> = take
        .files
        .iter()
        .filter(|f| f.path.ends_with(".wav"))
        .map(|f| (f.path.clone().into(), f.start_ms as f64 / 1e3))
        .collect();
    let seconds = take.duration_ms as f64 / 1e3;
    let buckets = buckets.clamp(1, 4096) as usize;
    tokio::task::spawn_blocking(move || tutti_media::waveform::peaks(&tracks, seconds, buckets))
        .await
        .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| AppError::new(ErrorCode::RecordingFailed, e.to_string()))
}

#[tauri::command]
#[specta::specta]
pub async fn search(state: S<'_>, query: String) -> AppResult<Vec<SearchHitView>> {
    let query = query.trim().to_owned();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    state
        .store
        .run(move |s| {
            Ok(s.search(&query, 50)?
                .iter()
                .map(SearchHitView::from)
                .collect())
        })
        .await
}

/// Writes the lesson as Markdown into the Downloads folder; returns the file's path.
#[tauri::command]
#[specta::specta]
pub async fn export_lesson(state: S<'_>, id: i64) -> AppResult<String> {
    let id = tutti_store::LessonId(id);
    let (markdown, title, takes) = state
        .store
        .run(move |store| {
            Ok((
                store.export_lesson_markdown(id)?,
                store.lesson(id)?.title,
                store.takes(id)?,
            ))
        })
        .await?;
    let dir = dirs::download_dir()
        .or_else(dirs::home_dir)
        .ok_or_else(|| AppError::new(ErrorCode::Store, "no folder to save the export in"))?;
    let safe: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = format!("tutti-{}-{safe}", id.0);
    // With recordings, a folder: the Markdown and each take's files beside it, as it lists them.
    let (dir, path) = if takes.is_empty() {
        (dir.clone(), dir.join(format!("{stem}.md")))
    } else {
        (dir.join(&stem), dir.join(&stem).join(format!("{stem}.md")))
    };
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || -> Result<(), (String, std::io::Error)> {
        let at = |p: &std::path::Path| {
            let p = p.display().to_string();
            move |e| (p, e)
        };
        std::fs::create_dir_all(&dir).map_err(at(&dir))?;
        std::fs::write(&path, markdown).map_err(at(&path))?;
        for (i, take) in takes.iter().enumerate() {
            let to = dir.join(tutti_store::take_folder(i));
            std::fs::create_dir_all(&to).map_err(at(&to))?;
            for f in &take.files {
                let from = std::path::Path::new(&f.path);
                let Some(name) = from.file_name() else {
                    continue;
                };
                std::fs::copy(from, to.join(name)).map_err(at(from))?;
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
    if let Err((what, e)) = written {
        let code = if tutti_media::recording::is_disk_full(&e) {
            ErrorCode::DiskFull
        } else {
            ErrorCode::Store
        };
        return Err(AppError::new(code, format!("cannot export {what}: {e}")));
    }
    Ok(shown)
}
