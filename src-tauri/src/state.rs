//! What the commands share: settings, the store, the lesson we are in, the in-app room server.

use crate::devices::DeviceCheck;
use crate::error::AppResult;
use crate::local_server::LocalServer;
use crate::session::Session;
use crate::settings::Settings;
use crate::store_worker::StoreWorker;
use crate::sync::lock;
use crate::video::VideoOut;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct AppState {
    pub settings_path: PathBuf,
    pub data_dir: PathBuf,
    settings: Mutex<Settings>,
    pub store: StoreWorker,
    /// The lesson we are in. A tokio mutex: commands hold it across requests to the server.
    pub session: tokio::sync::Mutex<Option<Session>>,
    local_server: tokio::sync::Mutex<Option<LocalServer>>,
    joining: Mutex<Option<tokio::task::AbortHandle>>,
    check: Mutex<Option<DeviceCheck>>,
    /// Counts starts and stops of the device check: a start that finishes after a later stop
    /// (or start) is stale and must not keep the microphone and camera.
    check_generation: std::sync::atomic::AtomicU64,
    pub video: Arc<VideoOut>,
    /// For calls to room servers over HTTP(S), made on first use.
    http: std::sync::OnceLock<reqwest::Client>,
}

/// This computer's IANA time zone, or UTC when it has none.
pub fn local_zone() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_owned()
}

impl AppState {
    pub fn new(config_dir: PathBuf, data_dir: PathBuf, store: StoreWorker) -> AppState {
        let settings_path = config_dir.join(crate::settings::FILE_NAME);
        AppState {
            settings: Mutex::new(Settings::load(&settings_path)),
            settings_path,
            data_dir,
            store,
            session: tokio::sync::Mutex::new(None),
            local_server: tokio::sync::Mutex::new(None),
            joining: Mutex::new(None),
            check: Mutex::new(None),
            check_generation: std::sync::atomic::AtomicU64::new(0),
            video: Arc::new(VideoOut::new(crate::render::picture_format())),
            http: std::sync::OnceLock::new(),
        }
    }

    /// Our teacher's key for the room server at `server`, and our page, as published with the
    /// lessons we create there; `None` while the page is empty (or the key cannot be kept: said
    /// in the log, the lesson goes on without).
    pub fn teacher_for(&self, server: &str) -> Option<(String, tutti_protocol::TeacherPage)> {
        let page = self.settings().teacher_page(&local_zone())?;
        let dir = self.settings_path.parent()?;
        match crate::teacher::key(dir) {
            Ok(key) => Some((crate::teacher::key_for(&key, server), page)),
            Err(e) => {
                tracing::warn!(error = %e, "no teacher key: the lesson goes without the page");
                None
            }
        }
    }

    pub fn http(&self) -> AppResult<reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c.clone());
        }
        let c = crate::invite::client()?;
        Ok(self.http.get_or_init(|| c).clone())
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Replaces the settings, returning the old ones.
    pub fn replace_settings(&self, s: Settings) -> Settings {
        std::mem::replace(&mut *lock(&self.settings), s)
    }

    pub fn lock_joining(&self) -> MutexGuard<'_, Option<tokio::task::AbortHandle>> {
        lock(&self.joining)
    }

    /// A new device check is starting: returns its generation (stopping any running one).
    pub async fn next_device_check(&self) -> u64 {
        self.stop_device_check().await
    }

    /// Keeps `check` if it is still the newest asked for and no lesson has started since;
    /// otherwise closes it. Whether it was kept.
    pub async fn keep_device_check(&self, generation: u64, check: DeviceCheck) -> bool {
        let current = self
            .check_generation
            .load(std::sync::atomic::Ordering::SeqCst)
            == generation;
        if current && self.session.lock().await.is_none() {
            *lock(&self.check) = Some(check);
            return true;
        }
        let _ = tokio::task::spawn_blocking(move || drop(check)).await;
        false
    }

    /// Stops the device check (and any that is still starting); returns the new generation.
    pub async fn stop_device_check(&self) -> u64 {
        let generation = self
            .check_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let check = lock(&self.check).take();
        if let Some(check) = check {
            // Joins the meter and preview threads.
            let _ = tokio::task::spawn_blocking(move || drop(check)).await;
        }
        generation
    }

    /// The room server to use for hosting (starting the in-app one if that is the setting),
    /// and the addresses to tell others.
    pub async fn room_server(&self) -> AppResult<(String, Vec<String>)> {
        let settings = self.settings();
        if !settings.host_locally {
            return Ok((settings.server_url, Vec::new()));
        }
        let mut guard = self.local_server.lock().await;
        if guard.is_none() {
            *guard =
                Some(LocalServer::start(settings.local_port, self.data_dir.join("server")).await?);
        }
        let server = guard.as_ref().map(|s| (s.url(), s.share_urls()));
        Ok(server.unwrap_or_default())
    }

    pub async fn stop_local_server(&self) {
        if let Some(s) = self.local_server.lock().await.take() {
            s.stop().await;
        }
    }
}
