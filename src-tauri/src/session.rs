//! The lesson we are in: the engine's lesson, our sound and camera, and the view the UI shows,
//! kept up to date from the lesson's events and mirrored into the local store (so that the
//! queue, chat and notes outlive the lesson and the app).

use crate::devices::device_config;
use crate::error::{AppError, AppResult, Field, Problem, device_error};
use crate::live::{Keep, Live};
use crate::sound::SoundWatch;
use crate::store_worker::StoreWorker;
use crate::sync::lock;
use crate::video::{CameraSwitch, CameraTap, VideoOut};
use crate::view::{
    BeatView, CameraStatus, DuetView, FaderView, KnockView, LessonView, MetronomeView,
    ParticipantView, PeerFader, PeerLevel, PeerStatsView, PitchView,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tutti_lesson::{Lesson, LessonEvent, LessonHandle, MetronomeSettings, OverReason};
use tutti_media::MusicConfig;
use tutti_media::device::{Capture, Playback};
use tutti_media::fader::{Fader, FaderError, MAX_VOLUME};
use tutti_media::signal::{AudioSink, AudioSource, Gate, NullSink, Silence};
use tutti_media::video::{CameraSource, Vp8Config};
use tutti_protocol::{ClientMessage, MetronomePlan, PeerId, QuestionId};
use tutti_store::{ChatRecord, QuestionRecord};

/// What the session tells the UI.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    Changed(Box<LessonView>),
    /// About ten times a second: the level of what we send and of what we hear from each.
    Levels {
        send: f32,
        peers: Vec<PeerLevel>,
    },
    Stats {
        peers: Vec<PeerStatsView>,
        send_level: f32,
    },
    /// The lesson is over for us, and why.
    Over {
        reason: OverReason,
    },
}

pub type Emit = Arc<dyn Fn(SessionEvent) + Send + Sync>;

/// The devices and names a session starts with.
pub struct MediaChoice {
    pub music: MusicConfig,
    pub audio_system: crate::settings::AudioSystem,
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub camera: Option<String>,
}

/// How we leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// We go; the lesson goes on (the host may come back to it).
    Leave,
    /// The host ends it for everyone.
    End,
}

pub struct Session {
    handle: LessonHandle,
    live: Arc<Mutex<Live>>,
    store: StoreWorker,
    local_id: tutti_store::LessonId,
    muted: Arc<AtomicBool>,
    camera: Option<CameraSwitch>,
    stop: Option<oneshot::Sender<Leaving>>,
    /// Ends with an error only when the host asked to end the lesson and the room server did
    /// not confirm it.
    task: tokio::task::JoinHandle<AppResult<()>>,
    emit: Emit,
}

/// A lesson entered on the room server that cannot go on here (the store or the media failed):
/// leave it, so that no one waits for a participant who will never connect. Returns `error`.
/// What the screen asked for, as the engine takes it. Beats out of range are refused, not
/// clamped (`accents_for` would make 0 beats one and 20 sixteen); tempo and count-in are the
/// engine's to check.
fn metronome_settings(m: MetronomeView) -> AppResult<MetronomeSettings> {
    if !(1..=16).contains(&m.beats) {
        return Err(AppError::invalid(Problem::Range {
            what: Field::Beats,
            min: 1.0,
            max: 16.0,
        }));
    }
    Ok(MetronomeSettings {
        bpm: m.bpm,
        accents: MetronomePlan::accents_for(u8::try_from(m.beats).unwrap_or(u8::MAX)),
        count_in_bars: u8::try_from(m.count_in_bars).unwrap_or(u8::MAX),
    })
}

pub fn abandon(lesson: Lesson, error: AppError) -> AppError {
    tauri::async_runtime::spawn(async move { lesson.leave().await });
    error
}

/// The room server the lesson runs on, as the lesson screen shows it.
pub struct RoomServer {
    pub url: String,
    /// Addresses others can join through (when the server runs in this app).
    pub share_urls: Vec<String>,
}

impl Session {
    /// Starts sound and video for `lesson` (entered as host or student), records it in the
    /// store, and follows its events.
    pub async fn start(
        mut lesson: Lesson,
        local_id: tutti_store::LessonId,
        store: StoreWorker,
        media: MediaChoice,
        video: Arc<VideoOut>,
        server: RoomServer,
        emit: Emit,
    ) -> AppResult<Session> {
        let mut problems = Vec::new();
        let (mut mic_stats, mut speaker_stats) = (None, None);
        let source: Box<dyn AudioSource> =
            match Capture::open(&device_config(media.audio_system, media.microphone.clone())) {
                Ok(c) => {
                    mic_stats = Some(c.stats().clone());
                    Box::new(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no microphone: the others will not hear us");
                    problems.push(device_error(&e, true));
                    Box::new(Silence)
                }
            };
        let (source, muted) = Gate::new(source);
        let sink: Box<dyn AudioSink> =
            match Playback::open(&device_config(media.audio_system, media.speaker.clone())) {
                Ok(p) => {
                    speaker_stats = Some(p.stats().clone());
                    Box::new(p)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no speaker: we will not hear the others");
                    problems.push(device_error(&e, false));
                    Box::new(NullSink)
                }
            };
        if let Err(e) = lesson.start_audio(Box::new(source), sink, media.music) {
            return Err(abandon(lesson, e.into()));
        }

        let (camera, camera_on) = match CameraSource::open(media.camera.as_deref(), 640, 480, 30) {
            Ok(cam) => {
                let (tap, on) = CameraTap::new(cam, video.clone());
                (Some(tap), Some(on))
            }
            Err(e) => {
                tracing::info!(error = %e, "no camera: video is receive-only");
                (None, None)
            }
        };
        let sink_video = video.clone();
        let handle = lesson.handle();
        video.set_keyframe_asker(Some(Box::new(move |peer| {
            handle.request_keyframe(&PeerId::from(peer))
        })));
        if let Err(e) = lesson.start_video_to(
            camera.map(|c| Box::new(c) as Box<dyn tutti_media::video::VideoSource>),
            tutti_lesson::VideoOutput::Encoded(Arc::new(move |peer, frame| {
                sink_video.send_coded(peer, frame)
            })),
            Vp8Config::default(),
        ) {
            return Err(abandon(lesson, e.into()));
        }

        let entered = &lesson.entered;
        let me = entered.you.peer.clone();
        let note = store
            .run(move |s| s.notes(local_id))
            .await
            .ok()
            .and_then(|n| n.into_iter().next());
        let view = LessonView {
            local_id: local_id.0,
            title: lesson.info.title.clone(),
            code: lesson.info.code.to_string(),
            host_name: lesson.info.host_name.clone(),
            host: lesson.host_token.is_some(),
            you: ParticipantView::from_wire(&entered.you),
            others: entered
                .participants
                .iter()
                .filter(|p| p.peer != me)
                .map(ParticipantView::from_wire)
                .collect(),
            waiting: entered.waiting.iter().map(KnockView::from).collect(),
            questions: Vec::new(),
            chat: Vec::new(),
            note: note.as_ref().map(|n| n.body.clone()).unwrap_or_default(),
            muted: false,
            camera: if camera_on.is_some() {
                CameraStatus::On
            } else {
                CameraStatus::NoCamera
            },
            problems,
            share_urls: server.share_urls,
            server_url: server.url,
            teacher: lesson.info.teacher.as_ref().map(|t| t.0.clone()),
            metronome: None,
            metronome_volume: 1.0,
            mix: Vec::new(),
            recording: None,
            marks: 0,
        };
        let mut live = Live::new(
            view,
            me,
            entered.questions.clone(),
            entered.your_votes.iter().cloned(),
            note.map(|n| n.id),
        );
        live.view.chat = entered.chat.iter().map(|m| live.chat_view(m)).collect();
        let kept: Vec<Keep> = (entered.questions.iter())
            .map(|q| Keep::Question(QuestionRecord::from(q)))
            .chain(entered.chat.iter().map(|m| Keep::Chat(ChatRecord::from(m))))
            .collect();
        for k in kept {
            if let Err(e) = keep(&store, local_id, k).await {
                live.not_kept(e);
            }
        }
        let live = Arc::new(Mutex::new(live));
        let (stop_tx, stop_rx) = oneshot::channel();
        let handle = lesson.handle();
        if !handle.is_host() {
            resend_takes(handle.clone(), store.clone(), lesson.info.host_name.clone());
        }
        let task = tokio::spawn(follow(
            lesson,
            live.clone(),
            store.clone(),
            local_id,
            Devices {
                camera: camera_on.clone(),
                sound: SoundWatch::new(mic_stats, speaker_stats),
            },
            emit.clone(),
            stop_rx,
        ));
        Ok(Session {
            handle,
            live,
            store,
            local_id,
            muted,
            camera: camera_on,
            stop: Some(stop_tx),
            task,
            emit,
        })
    }

    pub fn local_id(&self) -> tutti_store::LessonId {
        self.local_id
    }

    pub fn view(&self) -> LessonView {
        lock(&self.live).view.clone()
    }

    fn changed(&self) {
        (self.emit)(SessionEvent::Changed(Box::new(self.view())));
    }

    pub async fn request(&self, msg: ClientMessage) -> AppResult<()> {
        self.handle.request(msg).await?;
        Ok(())
    }

    /// For requests made without holding the app's session lock (a reply can take seconds).
    pub fn handle(&self) -> LessonHandle {
        self.handle.clone()
    }

    /// Records our vote at once (the server's count follows as a question update).
    pub async fn vote(&self, question: QuestionId, up: bool) -> AppResult<()> {
        self.request(ClientMessage::Vote { question, up }).await?;
        lock(&self.live).vote(question, up);
        self.changed();
        Ok(())
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
        lock(&self.live).view.muted = muted;
        self.changed();
    }

    /// As host: starts, changes or stops (`None`) the metronome for everyone.
    pub fn set_metronome(&self, m: Option<MetronomeView>) -> AppResult<()> {
        let settings = m.map(metronome_settings).transpose()?;
        // The view follows from the lesson's own event.
        self.handle.set_metronome(settings)?;
        Ok(())
    }

    /// The metronome's volume here only, 0–1.
    pub fn set_metronome_volume(&self, volume: f32) -> AppResult<()> {
        if !(0.0..=1.0).contains(&volume) {
            return Err(AppError::invalid(Problem::Range {
                what: Field::Volume,
                min: 0.0,
                max: 1.0,
            }));
        }
        self.handle.set_metronome_gain(volume);
        lock(&self.live).view.metronome_volume = volume;
        self.changed();
        Ok(())
    }

    /// How we hear `peer`: volume 0–2, pan −1–1, muted for us. For us alone; the lesson
    /// keeps it if their link is rebuilt.
    pub fn set_fader(&self, peer: &str, fader: FaderView) -> AppResult<()> {
        let range = |what, min, max| AppError::invalid(Problem::Range { what, min, max });
        let set = Fader {
            volume: fader.volume,
            pan: fader.pan,
            muted: fader.muted,
        };
        self.handle
            .set_fader(&PeerId(peer.to_owned()), set)
            .map_err(|e| match e {
                FaderError::Volume(_) => range(Field::Volume, 0.0, f64::from(MAX_VOLUME)),
                FaderError::Pan(_) => range(Field::Pan, -1.0, 1.0),
            })?;
        let mut live = lock(&self.live);
        let mix = &mut live.view.mix;
        match mix.iter_mut().find(|f| f.peer == peer) {
            Some(f) => f.fader = fader,
            None => mix.push(PeerFader {
                peer: peer.to_owned(),
                fader,
            }),
        }
        drop(live);
        self.changed();
        Ok(())
    }

    /// The tuner: our pitch and everyone's, against `reference_a` (415–466 Hz); those with
    /// no pitch sounding are left out.
    pub fn tuner(&self, reference_a: f64) -> AppResult<Vec<PitchView>> {
        if !(415.0..=466.0).contains(&reference_a) {
            return Err(AppError::invalid(Problem::Range {
                what: Field::ReferenceA,
                min: 415.0,
                max: 466.0,
            }));
        }
        Ok(self
            .handle
            .pitches(reference_a)
            .into_iter()
            .filter_map(|(peer, pitch)| {
                let p = pitch?;
                Some(PitchView {
                    peer: peer.map(|p| p.0).unwrap_or_default(),
                    note: p.name().to_owned(),
                    octave: p.octave,
                    cents: p.cents,
                    hz: p.hz,
                })
            })
            .collect())
    }

    /// The beat sounding now, while the metronome runs (and the clock is known).
    pub fn metronome_beat(&self) -> Option<BeatView> {
        let (plan, beat) = self.handle.metronome();
        let (plan, (beat, into_ns)) = (plan?, beat?);
        let beat_ns = plan.beat_ns();
        Some(BeatView {
            beat: u32::from(beat.beat),
            beats: u32::try_from(plan.beats_per_bar()).unwrap_or(0),
            count_in: beat.count_in,
            count_in_left: u32::try_from(
                u64::from(plan.count_in_bars).saturating_sub(beat.bar + 1),
            )
            .unwrap_or(0),
            ms_into_beat: (into_ns / 1e6).clamp(0.0, beat_ns / 1e6),
            beat_ms: beat_ns / 1e6,
        })
    }

    /// As host: leader–follower playing with the first student (`on`), or not.
    pub fn set_leader_follower(&self, on: bool) -> AppResult<()> {
        if !on {
            self.handle.set_leader_follower(None);
            return Ok(());
        }
        let follower = lock(&self.live)
            .view
            .others
            .iter()
            .find(|o| o.role == crate::view::Role::Student)
            .map(|o| PeerId(o.peer.clone()));
        let Some(follower) = follower else {
            return Err(AppError::new(
                crate::error::ErrorCode::NoFollower,
                "no student is here to play along",
            ));
        };
        self.handle.set_leader_follower(Some(&follower));
        Ok(())
    }

    /// Our own part in our ears, delayed to meet the follower's (`on`), or not.
    pub fn set_duet_live(&self, on: bool) {
        self.handle.set_duet_live(if on { 1.0 } else { 0.0 });
    }

    /// Plays the last `seconds` (1–30) of the duet, aligned; the lesson goes on.
    pub fn replay_duet(&self, seconds: f64) -> AppResult<()> {
        if !(1.0..=30.0).contains(&seconds) {
            return Err(AppError::invalid(Problem::Range {
                what: Field::ReplaySeconds,
                min: 1.0,
                max: 30.0,
            }));
        }
        use tutti_media::pipeline::DuetError;
        self.handle.replay_duet(seconds).map(|_| ()).map_err(|e| {
            let code = match e {
                DuetError::Off => crate::error::ErrorCode::NoFollower,
                DuetError::NotMeasured | DuetError::Nothing => crate::error::ErrorCode::NotMeasured,
            };
            AppError::new(code, e.to_string())
        })
    }

    /// Records the lesson into a folder of its own under `base` (every part its own file;
    /// everyone is told); returns the folder.
    pub fn start_recording(&self, base: &std::path::Path) -> AppResult<String> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let dir = base
            .join("recordings")
            .join(format!("lesson-{}-{stamp}", self.local_id.0));
        let started_at = tutti_store::UnixMs::now();
        self.handle.start_recording(&dir).map_err(recording_error)?;
        let shown = dir.display().to_string();
        // Listed at once, so that its files and the marks made meanwhile find it.
        let (local, listed) = (self.local_id, shown.clone());
        self.store.enqueue(move |s| {
            if let Err(e) = s.add_take(local, &listed, started_at) {
                tracing::warn!(error = %e, "the take not listed in the store");
            }
        });
        lock(&self.live).view.recording = Some(shown.clone());
        self.changed();
        Ok(shown)
    }

    /// Stops recording; returns the folder the files are in (none: nothing was recorded).
    pub fn stop_recording(&self) -> AppResult<Option<String>> {
        let (dir, stopped_early) = finish_recording(
            &self.handle,
            &self.live,
            &self.store,
            self.local_id,
            Some(self.emit.clone()),
        );
        self.changed();
        if let Some(e) = stopped_early {
            return Err(recording_error(e));
        }
        Ok(dir)
    }

    /// A mark on the lesson's timeline, now (with a word, or none): placed on every recording
    /// running, in the history and the export.
    pub async fn add_mark(&self, text: String) -> AppResult<()> {
        let local = self.local_id;
        self.store
            .run(move |store| store.add_mark(local, &text).map(|_| ()))
            .await?;
        lock(&self.live).view.marks += 1;
        self.changed();
        Ok(())
    }

    /// Stops any replay, the duet's or a part's.
    pub fn stop_replay(&self) {
        self.handle.stop_replay();
    }

    /// Instant replay: the last `seconds` (1–30) of `peer`'s part as we heard it (none: our
    /// own) in our ears; the lesson goes on. Returns how long it plays, seconds.
    pub fn replay(&self, peer: Option<String>, seconds: f64) -> AppResult<f64> {
        if !(1.0..=30.0).contains(&seconds) {
            return Err(AppError::invalid(Problem::Range {
                what: Field::ReplaySeconds,
                min: 1.0,
                max: 30.0,
            }));
        }
        use tutti_media::pipeline::ReplayError;
        let peer = peer.map(PeerId);
        self.handle
            .replay(peer.as_ref(), seconds)
            .map(|d| d.as_secs_f64())
            .map_err(|e| {
                let message = e.to_string();
                match e {
                    ReplayError::Nothing => {
                        AppError::new(crate::error::ErrorCode::NothingToReplay, message)
                    }
                    ReplayError::NotHere(_) => {
                        AppError::invalid(Problem::NotHere).detailed(message)
                    }
                }
            })
    }

    /// Where leader–follower playing stands (none: off).
    pub fn duet(&self) -> Option<DuetView> {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        self.handle.duet().map(|d| DuetView {
            partner: d.partner,
            follow_metronome: d.follow == tutti_media::duet::Follow::Metronome,
            they_hear_after_ms: ms(d.they_hear_after),
            we_hear_after_ms: ms(d.we_hear_after),
            shift_ms: ms(d.shift),
            live_delay_ms: ms(d.live_delay),
            live: d.live,
            replaying: d.replaying,
        })
    }

    pub fn set_camera(&self, on: bool) -> AppResult<()> {
        let Some(switch) = &self.camera else {
            return Err(AppError::new(
                crate::error::ErrorCode::NoCamera,
                "there is no camera to turn on",
            ));
        };
        switch.on.store(on, Ordering::Relaxed);
        lock(&self.live).view.camera = if on {
            CameraStatus::On
        } else {
            CameraStatus::Off
        };
        self.changed();
        Ok(())
    }

    /// Saves the lesson's note (autosave): the first save creates it. Each line gets the time
    /// it was first typed, a mark on the recordings' timelines.
    pub async fn save_note(&self, body: String) -> AppResult<()> {
        let existing = lock(&self.live).note;
        let (local, text) = (self.local_id, body.clone());
        let id = self
            .store
            .run(move |store| {
                let id = match existing {
                    Some(id) => store.save_note(id, &text).map(|()| id)?,
                    None => store.add_note(local, &text, None)?,
                };
                store.mark_note_lines(local, &text)?;
                Ok(id)
            })
            .await?;
        {
            let mut live = lock(&self.live);
            live.note = Some(id);
            live.view.note = body;
        }
        // So that the window's copy of the lesson holds the note too (not once the lesson is
        // over: the window has left it, and a late view would bring it back).
        if !self.task.is_finished() {
            self.changed();
        }
        Ok(())
    }

    /// Leaves (or, for the host, ends) the lesson and waits until sound and links are closed.
    /// An error only when ending was asked for and the room server did not confirm it (the
    /// session is closed either way).
    pub async fn leave(mut self, how: Leaving) -> AppResult<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(AppError::new(
                crate::error::ErrorCode::Internal,
                e.to_string(),
            )),
        }
    }
}

/// Keeps what the lesson's events ask for in the local store (on its own thread).
async fn keep(store: &StoreWorker, local: tutti_store::LessonId, what: Keep) -> AppResult<()> {
    store
        .run(move |s| match what {
            Keep::Question(q) => s.mirror_question(local, &q),
            Keep::Chat(m) => s.add_chat(local, &m),
        })
        .await
}

/// Follows the lesson until it is over or we leave: applies each event to the view, mirrors
/// the queue and chat into the store, and sends statistics once a second (levels ten times).
const LEVELS_EVERY: Duration = Duration::from_millis(100);

/// What `follow` watches besides the lesson: the camera's switch, the sound cards' health.
struct Devices {
    camera: Option<CameraSwitch>,
    sound: SoundWatch,
}

async fn follow(
    mut lesson: Lesson,
    live: Arc<Mutex<Live>>,
    store: StoreWorker,
    local: tutti_store::LessonId,
    devices: Devices,
    emit: Emit,
    mut stop: oneshot::Receiver<Leaving>,
) -> AppResult<()> {
    let Devices { camera, mut sound } = devices;
    let host = lesson.host_token.is_some();
    let mut ending = Ok(());
    let handle = lesson.handle();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The meters: often enough to follow a bow stroke, rarely enough to cost nothing.
    let mut meters = tokio::time::interval(LEVELS_EVERY);
    meters.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let changed =
        |live: &Mutex<Live>| emit(SessionEvent::Changed(Box::new(lock(live).view.clone())));
    let over = loop {
        tokio::select! {
            how = &mut stop => {
                let how = how.unwrap_or(Leaving::Leave);
                if how == Leaving::End
                    && let Err(e) = handle.request(ClientMessage::EndLesson).await
                {
                    tracing::warn!(error = %e, "could not end the lesson on the room server");
                    // Still open there: keep it (and its host token) so it can be opened and
                    // ended again.
                    ending = Err(AppError::new(
                        crate::error::ErrorCode::NotEnded,
                        format!("the room server did not confirm the end ({e}); the lesson is still open: start it again from Upcoming to end it"),
                    ));
                }
                // A student's lesson is over for them once they leave; a host's only when
                // ended (until then it can be opened again).
                if (how == Leaving::End && ending.is_ok()) || !host {
                    mark_ended(&store, local).await;
                }
                break None;
            }
            event = lesson.next_event() => {
                let Some(event) = event else {
                    break Some(OverReason::Disconnected);
                };
                if let LessonEvent::Over(reason) = event {
                    if !host || reason == OverReason::Ended {
                        mark_ended(&store, local).await;
                    }
                    break Some(reason);
                }
                if let LessonEvent::TakeReceived { take, .. } = &event {
                    list_received(&store, local, take);
                }
                if let LessonEvent::TakeDelivered(path) = &event {
                    let path = path.display().to_string();
                    store.enqueue(move |s| {
                        if let Err(e) = s.outgoing_delivered(&path) {
                            tracing::warn!(error = %e, "a delivered take still queued");
                        }
                    });
                }
                let kept = lock(&live).apply(event);
                if let Some(k) = kept
                    && let Err(e) = keep(&store, local, k).await
                {
                    lock(&live).not_kept(e);
                }
                changed(&live);
            }
            _ = meters.tick() => {
                emit(SessionEvent::Levels {
                    send: if lock(&live).view.muted { 0.0 } else { handle.send_level() },
                    peers: handle
                        .levels()
                        .into_iter()
                        .map(|(peer, level)| PeerLevel { peer: peer.0, level })
                        .collect(),
                });
            }
            _ = tick.tick() => {
                let peers = handle.peer_stats().await;
                emit(SessionEvent::Stats {
                    peers: peers.iter().map(PeerStatsView::from).collect(),
                    send_level: handle.send_level(),
                });
                // A recording that stopped by itself (a full disk): said, what it kept kept.
                let stopped = lock(&live).view.recording.is_some() && !handle.is_recording();
                if stopped {
                    let (_, stopped_early) =
                        finish_recording(&handle, &live, &store, local, Some(emit.clone()));
                    if let Some(e) = stopped_early {
                        lock(&live).view.problems.push(recording_error(e));
                    }
                    changed(&live);
                }
                let now_sound = sound.check(std::time::Instant::now());
                let differs = {
                    let mut l = lock(&live);
                    let before: Vec<AppError> =
                        l.view.problems.iter().filter(|p| SoundWatch::reports(p)).cloned().collect();
                    let differs = before != now_sound;
                    if differs {
                        l.view.problems.retain(|p| !SoundWatch::reports(p));
                        l.view.problems.extend(now_sound);
                    }
                    differs
                };
                if differs {
                    changed(&live);
                }
                if let Some(cam) = &camera {
                    let status = match (cam.lost.load(Ordering::Relaxed), cam.on.load(Ordering::Relaxed)) {
                        (true, _) => CameraStatus::Lost,
                        (false, true) => CameraStatus::On,
                        (false, false) => CameraStatus::Off,
                    };
                    let differs = {
                        let mut l = lock(&live);
                        let differs = l.view.camera != status;
                        l.view.camera = status;
                        differs
                    };
                    if differs {
                        changed(&live);
                    }
                }
            }
        }
    };
    // A recording still running as the lesson ends: stopped, mixed and listed like any other.
    if lock(&live).view.recording.is_some()
        && let (_, Some(e)) = finish_recording(&handle, &live, &store, local, None)
    {
        tracing::warn!(error = %e, "the recording stopped early; what it kept is listed");
    }
    lesson.leave().await;
    if let Some(reason) = over {
        emit(SessionEvent::Over { reason });
    }
    ending
}

/// Our takes from earlier lessons still on their way to this lesson's teacher: read again
/// (hashed) and sent on, in the background. One whose file is gone leaves the queue.
fn resend_takes(handle: LessonHandle, store: StoreWorker, teacher: String) {
    tokio::spawn(async move {
        let pending = match store.run(move |s| s.outgoing_to(&teacher)).await {
            Ok(p) => p,
            Err(e) => return tracing::warn!(error = %e.message, "takes to send not read"),
        };
        if pending.is_empty() {
            return;
        }
        let Ok((takes, gone)) = tokio::task::spawn_blocking(move || takes_to_resend(pending)).await
        else {
            return;
        };
        for path in gone {
            store.enqueue(move |s| {
                let _ = s.outgoing_delivered(&path);
            });
        }
        for take in takes {
            tracing::info!(path = %take.path.display(), "sending a take from an earlier lesson");
            handle.send_take(take);
        }
    });
}

/// The queued takes that can still be sent, and the paths of those whose file is gone.
fn takes_to_resend(
    pending: Vec<tutti_store::OutgoingTake>,
) -> (Vec<tutti_media::take_transfer::TakeToSend>, Vec<String>) {
    let (mut takes, mut gone) = (Vec::new(), Vec::new());
    for t in pending {
        let path = std::path::Path::new(&t.path);
        match tutti_media::take_transfer::TakeToSend::of_file(
            path,
            &t.name,
            t.start_ms as f64 / 1e3,
            t.duration_ms as f64 / 1e3,
        ) {
            Ok(take) => takes.push(take),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(t.path),
            Err(e) => tracing::warn!(error = %e, path = t.path, "a queued take cannot be read"),
        }
    }
    (takes, gone)
}

/// A participant's take, arrived whole: listed with the lesson, as theirs.
fn list_received(
    store: &StoreWorker,
    local: tutti_store::LessonId,
    take: &tutti_media::take_transfer::ReceivedTake,
) {
    let (path, who) = (take.path.display().to_string(), take.name.clone());
    let ms = (take.seconds * 1e3).round() as i64;
    store.enqueue(move |s| {
        if let Err(e) = s.add_recording(local, &path, ms, &who) {
            tracing::warn!(error = %e, path, "a take received not listed in the store");
        }
    });
}

async fn mark_ended(store: &StoreWorker, local: tutti_store::LessonId) {
    if let Err(e) = store.run(move |s| s.mark_ended(local)).await {
        tracing::warn!(error = %e.message, "the lesson's end not saved");
    }
}

/// Stops the recording (if any) and lists what it kept with the lesson, mixed first if it
/// ended well (after a full disk or a failing write, the tracks alone): the folder it was
/// in, and why it stopped early, if it did.
fn finish_recording(
    handle: &LessonHandle,
    live: &Arc<Mutex<Live>>,
    store: &StoreWorker,
    local: tutti_store::LessonId,
    say: Option<Emit>,
) -> (
    Option<String>,
    Option<tutti_media::recording::RecordingError>,
) {
    let dir = lock(live).view.recording.take();
    let (kept, stopped_early) = match handle.stop_recording() {
        Ok(tracks) => (tracks, None),
        Err((e, tracks)) => (tracks, Some(e)),
    };
    if let Some(d) = &dir {
        let mix = stopped_early.is_none();
        // A student's own part, as captured, goes to the teacher too (in the background).
        let teacher = lock(live).view.host_name.clone();
        let to_host = (!handle.is_host()).then(|| (handle.clone(), teacher));
        let said = say.map(|emit| Said {
            live: live.clone(),
            emit,
        });
        keep_recording(kept, d.into(), mix, store.clone(), local, to_host, said);
    }
    (dir, stopped_early)
}

/// Where a problem found after the recording stopped (its mix) is shown, while the lesson is.
struct Said {
    live: Arc<Mutex<Live>>,
    emit: Emit,
}

impl Said {
    fn problem(&self, e: AppError) {
        let view = {
            let mut l = lock(&self.live);
            l.view.problems.push(e);
            l.view.clone()
        };
        (self.emit)(SessionEvent::Changed(Box::new(view)));
    }
}

/// A recording's tracks listed in the store with the lesson, and its mix (`mix.opus` beside
/// them, listed too) made first when `mix` is set: on a thread of its own, because an hour's
/// take takes tens of seconds to encode and the lesson goes on meanwhile. Then, given the
/// lesson (`to_host`), our own track is sent to the host, lossless.
fn keep_recording(
    tracks: Vec<tutti_media::recorder::Track>,
    dir: std::path::PathBuf,
    mix: bool,
    store: StoreWorker,
    local: tutti_store::LessonId,
    to_host: Option<(LessonHandle, String)>,
    said: Option<Said>,
) {
    if tracks.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("tutti-mix".into())
        .spawn(move || {
            let mut listed: Vec<(String, String, f64, f64)> = tracks
                .iter()
                .map(|t| {
                    let file = t.file.display().to_string();
                    (file, t.name.clone(), t.start_s, t.seconds)
                })
                .collect();
            if mix {
                let title = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let file = dir.join("mix.opus");
                match tutti_media::recorder::mix_down(&tracks, &file, &title) {
                    Ok(seconds) => {
                        tracing::info!(seconds, dir = %dir.display(), "the recording's mix is made");
                        listed.push((file.display().to_string(), MIX_WHO.into(), 0.0, seconds));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the recording's mix could not be made");
                        let _ = std::fs::remove_file(&file);
                        if let Some(said) = &said {
                            said.problem(AppError::new(
                                crate::error::ErrorCode::MixFailed,
                                format!("the recording's mix could not be made ({e}); every part's track is kept and plays in the history"),
                            ));
                        }
                    }
                }
            }
            let dir_shown = dir.display().to_string();
            store.enqueue(move |s| {
                let take = s.take_in(local, &dir_shown).ok().flatten();
                for (path, who, start_s, seconds) in &listed {
                    let ms = |s: &f64| (s * 1e3).round() as i64;
                    let added = match take {
                        Some(take) => s.add_take_file(take, path, ms(start_s), ms(seconds), who),
                        None => s.add_recording(local, path, ms(seconds), who),
                    };
                    if let Err(e) = added {
                        tracing::warn!(error = %e, path, "a recording not listed in the store");
                    }
                }
            });
            if let Some((lesson, teacher)) = to_host {
                for t in tracks.iter().filter(|t| t.own) {
                    // Queued in the store first: if the lesson ends before the teacher has
                    // it, the next lesson with them sends it on.
                    let outgoing = tutti_store::OutgoingTake {
                        path: t.file.display().to_string(),
                        teacher: teacher.clone(),
                        name: t.name.clone(),
                        start_ms: (t.start_s * 1e3).round() as i64,
                        duration_ms: (t.seconds * 1e3).round() as i64,
                    };
                    store.enqueue(move |s| {
                        if let Err(e) = s.queue_outgoing(&outgoing) {
                            tracing::warn!(error = %e, "our take not queued in the store");
                        }
                    });
                    match tutti_media::take_transfer::TakeToSend::of_file(
                        &t.file, &t.name, t.start_s, t.seconds,
                    ) {
                        Ok(take) => lesson.send_take(take),
                        Err(e) => tracing::warn!(error = %e, "our track cannot be read to send"),
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread for the recording's mix");
    }
}

/// Who a listed recording is of when it is the mix of every part.
pub const MIX_WHO: &str = "";

/// A recording's failure in the user's terms (what it recorded is kept either way).
fn recording_error(e: tutti_media::recording::RecordingError) -> AppError {
    use crate::error::ErrorCode;
    use tutti_media::recording::RecordingError as R;
    let code = match e {
        R::DiskFull => ErrorCode::DiskFull,
        R::AlreadyRecording => return AppError::invalid(crate::error::Problem::AlreadyRecording),
        R::Io(_) | R::NotOurs => ErrorCode::RecordingFailed,
    };
    AppError::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A lesson in a fresh store, and a take of two one-second tracks (Omar's from 0, ours
    /// from 0.25 s) in its folder.
    async fn a_take() -> (
        tempfile::TempDir,
        StoreWorker,
        tutti_store::LessonId,
        std::path::PathBuf,
        Vec<tutti_media::recorder::Track>,
    ) {
        use std::io::BufWriter;
        use tutti_media::recording::{SLACK_EXACT, TrackWriter};
        let dir = tempfile::tempdir().unwrap();
        let store = tutti_store::Store::open(&dir.path().join("t.db")).unwrap();
        let store = StoreWorker::spawn(store).unwrap();
        let local = store
            .run(|s| {
                s.create_lesson(&tutti_store::NewLesson {
                    title: "Bach".into(),
                    my_role: tutti_store::Role::Student,
                    student: None,
                    host_tz: "Asia/Seoul".into(),
                    student_tz: None,
                    scheduled_start: None,
                    scheduled_minutes: None,
                    remote_id: None,
                    invite_code: None,
                    server_url: None,
                })
            })
            .await
            .unwrap();
        let take = dir.path().join("lesson-1-0");
        std::fs::create_dir_all(&take).unwrap();
        let mut tracks = Vec::new();
        for (name, start) in [("Omar", 0.0), ("김선생", 0.25)] {
            let file = take.join(format!("{name}.wav"));
            let mut w =
                TrackWriter::create(BufWriter::new(std::fs::File::create(&file).unwrap()), 0)
                    .unwrap();
            w.write_at(0, &[0.1; 48_000], SLACK_EXACT).unwrap();
            w.finish().unwrap();
            tracks.push(tutti_media::recorder::Track {
                name: name.into(),
                file,
                start_s: start,
                seconds: 1.0,
                own: name == "김선생",
            });
        }
        (dir, store, local, take, tracks)
    }

    /// A mix that cannot be made (here a folder stands where it would go) is said on the
    /// lesson's screen; the tracks are listed all the same, and play in the history.
    #[tokio::test]
    async fn a_mix_that_cannot_be_made_is_said_and_the_tracks_kept() {
        let (_dir, store, local, take, tracks) = a_take().await;
        std::fs::create_dir_all(take.join("mix.opus")).unwrap();
        let live = Arc::new(Mutex::new(crate::live::tests::live()));
        let shown = Arc::new(Mutex::new(Vec::new()));
        let seen = shown.clone();
        let emit: Emit = Arc::new(move |e| {
            if let SessionEvent::Changed(view) = e {
                lock(&seen).push(view.problems.clone());
            }
        });
        let said = Said {
            live: live.clone(),
            emit,
        };
        keep_recording(tracks, take, true, store.clone(), local, None, Some(said));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while lock(&shown).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let problems = lock(&live).view.problems.clone();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].code, crate::error::ErrorCode::MixFailed);
        assert_eq!(lock(&shown).last(), Some(&problems));
        let listed = store.run(move |s| s.recordings(local)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut who: Vec<String> = listed.iter().map(|r| r.who.clone()).collect();
        while who.len() < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            who = store
                .run(move |s| s.recordings(local))
                .await
                .unwrap()
                .iter()
                .map(|r| r.who.clone())
                .collect();
        }
        assert_eq!(who, ["Omar", "김선생"]);
    }

    /// A stopped recording: its tracks and the mix made of them listed with the lesson, the
    /// mix as everyone's; the history shows them.
    #[tokio::test]
    async fn a_stopped_recording_is_listed_with_its_mix() {
        let (_dir, store, local, take, tracks) = a_take().await;
        // As start_recording lists it, with a mark made 0.6 s in.
        let dir_shown = take.display().to_string();
        let started = tutti_store::UnixMs::now();
        store
            .run(move |s| {
                s.add_take(local, &dir_shown, started)?;
                s.set_clock(move || tutti_store::UnixMs(started.0 + 600));
                s.add_mark(local, "bar 12")
            })
            .await
            .unwrap();
        keep_recording(tracks, take.clone(), true, store.clone(), local, None, None);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let detail = loop {
            let d = store
                .run(move |s| crate::commands::detail(s, local))
                .await
                .unwrap();
            let files = d.takes.first().map_or(0, |t| t.files.len());
            if files >= 3 || std::time::Instant::now() > deadline {
                break d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(detail.recordings.is_empty(), "{:?}", detail.recordings);
        let listed = &detail.takes[0];
        let who: Vec<(Option<&str>, i64)> = listed
            .files
            .iter()
            .map(|r| (r.who.as_deref(), r.start_ms))
            .collect();
        assert_eq!(
            who,
            vec![(Some("Omar"), 0), (Some("김선생"), 250), (None, 0)],
            "{listed:?}"
        );
        let mix = &listed.files[2];
        assert!(mix.path.ends_with("mix.opus"), "{}", mix.path);
        assert_eq!((mix.duration_ms, listed.duration_ms), (1_250, 1_250));
        assert_eq!(listed.play, Some(mix.id));
        assert!(take.join("mix.opus").exists());
        assert_eq!(
            listed.marks,
            vec![crate::view::MarkView {
                at_ms: 600,
                kind: crate::view::MarkKindView::Mark,
                text: "bar 12".into()
            }]
        );
    }

    /// Takes queued in an earlier lesson are read again to send; one whose file is gone
    /// leaves the queue.
    #[test]
    fn queued_takes_are_read_again_and_gone_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Omar.wav");
        std::fs::write(&file, b"RIFF....WAVE").unwrap();
        let queued = |path: &std::path::Path| tutti_store::OutgoingTake {
            path: path.display().to_string(),
            teacher: "김선생".into(),
            name: "Omar".into(),
            start_ms: 3_700,
            duration_ms: 32_000,
        };
        let gone = dir.path().join("deleted.wav");
        let (takes, missing) = takes_to_resend(vec![queued(&file), queued(&gone)]);
        assert_eq!(takes.len(), 1);
        assert_eq!(
            (
                takes[0].path.as_path(),
                takes[0].bytes,
                takes[0].start_s,
                takes[0].seconds
            ),
            (file.as_path(), 12, 3.7, 32.0)
        );
        assert_eq!(missing, vec![gone.display().to_string()]);
    }

    #[test]
    fn a_bar_of_no_beats_or_too_many_is_refused_not_clamped() {
        let m = |beats| MetronomeView {
            bpm: 90.0,
            beats,
            count_in_bars: 1,
        };
        for beats in [0, 17, 400] {
            let e = metronome_settings(m(beats)).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidInput, "{beats}");
        }
        assert_eq!(metronome_settings(m(3)).unwrap().accents.len(), 3);
        assert_eq!(metronome_settings(m(16)).unwrap().accents.len(), 16);
    }
}
