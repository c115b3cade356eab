//! Helpers for the end-to-end tests in `tests/tests/`: a room server on a free loopback port and
//! lesson engines configured for loopback.

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
