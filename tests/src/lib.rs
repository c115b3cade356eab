//! Helpers for the end-to-end tests in `tests/tests/`: a room server on a free loopback port and
//! lesson engines configured for loopback.

pub mod netns;

use std::time::Duration;
use tutti_lesson::{AdmitPolicy, EngineConfig, Lesson, LessonEvent};
use tutti_media::MusicConfig;
use tutti_server::{RunningServer, ServerConfig};

/// A room server on 127.0.0.1, port chosen by the system, everything in memory.
pub async fn room_server() -> RunningServer {
    tutti_server::start(ServerConfig::default())
        .await
        .expect("the room server starts")
}

pub fn ws_url(server: &RunningServer) -> String {
    format!("ws://{}/ws", server.local_addr())
}

/// An engine that sends media over loopback only.
pub fn engine(
    server: &RunningServer,
    name: &str,
    music: MusicConfig,
    admit: AdmitPolicy,
) -> EngineConfig {
    EngineConfig {
        music,
        udp_addrs: vec!["127.0.0.1:0".into()],
        admit,
        ..EngineConfig::new(&ws_url(server), name)
    }
}

/// Waits for an event matching `want`, up to `within`; panics (failing the test) otherwise.
pub async fn wait_for(
    lesson: &mut Lesson,
    within: Duration,
    want: impl Fn(&LessonEvent) -> bool,
) -> LessonEvent {
    tokio::time::timeout(within, async {
        loop {
            match lesson.next_event().await {
                Some(e) if want(&e) => return e,
                Some(_) => continue,
                None => panic!("the lesson ended while waiting"),
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// The end-to-end tests take turns: each runs a room server and two engines with real-time
/// audio, and a user has one lesson at a time. (They test correctness, not contention.)
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    TURN.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// Eight windows of 250 ms over the last two seconds of `samples` (interleaved stereo), and how
/// many carry `hz` cleanly (within 1 Hz, at least 20 dB above everything else). Broken audio
/// fails every window; one scheduling hiccup on a loaded machine spoils one or two.
pub fn clean_windows(samples: &[f32], hz: f64) -> (usize, Vec<tutti_media::analysis::Tone>) {
    let window = 48_000 / 4 * 2;
    let tail = &samples[samples.len().saturating_sub(8 * window)..];
    let tones: Vec<_> = tail
        .chunks_exact(window)
        .map(|w| tutti_media::analysis::tone(w, hz))
        .collect();
    let clean = tones
        .iter()
        .filter(|t| (t.frequency - hz).abs() < 1.0 && t.snr_db >= 20.0)
        .count();
    (clean, tones)
}

/// A TCP relay in front of the room server whose path can be cut: while cut, its connections
/// are closed and new ones refused, as a network that goes away does to a WebSocket.
pub struct CuttablePath {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttablePath {
    pub async fn to(server: &RunningServer) -> Self {
        let upstream = server.local_addr();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the relay");
        let addr = listener.local_addr().expect("the relay's address");
        let (cut, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // refused: dropped at once
                }
                let mut cut = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl Drop for CuttablePath {
    fn drop(&mut self) {
        self.task.abort();
    }
}
