//! The teacher's page (the seed's "my page"): written in Settings, published with every lesson
//! this app creates under a key only this app holds, and read back by students (the invite
//! preview, the lesson) from the lesson's room server.

use crate::error::{AppError, AppResult, ErrorCode};
use serde::Serialize;
use std::path::Path;
use tutti_protocol::TeacherPage;
use tutti_protocol::api::{ApiError, teacher_path};

const KEY_FILE: &str = "teacher.key";

/// This app's teacher key: made once (32 random bytes, hex), kept beside the settings, readable
/// by this user alone. Whoever holds it can replace the page, so it never leaves for anywhere
/// but the room server, which keeps only its hash.
pub fn key(config_dir: &Path) -> AppResult<String> {
    let path = config_dir.join(KEY_FILE);
    let store =
        |e: std::io::Error| AppError::new(ErrorCode::Store, format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(key) if key.trim().len() == 64 => return Ok(key.trim().to_owned()),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "a malformed teacher key: making a new one")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(store(e)),
    }
    let key: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::create_dir_all(config_dir).map_err(store)?;
    write_private(&path, &key).map_err(store)?;
    Ok(key)
}

/// The key as one room server gets it: `HMAC-SHA256(key, its origin)`, so that no server
/// (or anyone reading a `ws://` connection to it) learns what opens our page on another.
pub fn key_for(key: &str, server: &str) -> String {
    use hmac::{Hmac, Mac};
    let server = server.trim().to_ascii_lowercase();
    let origin = crate::invite::http_base(&server).unwrap_or(server);
    // HMAC takes a key of any length.
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes()) else {
        return key.to_owned();
    };
    mac.update(origin.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// A teacher's page as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct TeacherPageView {
    pub name: String,
    pub instruments: Vec<String>,
    pub bio: String,
    pub time_zone: Option<String>,
    pub photo: Option<String>,
}

impl From<TeacherPage> for TeacherPageView {
    fn from(p: TeacherPage) -> Self {
        Self {
            name: p.name,
            instruments: p.instruments,
            bio: p.bio,
            time_zone: p.time_zone,
            photo: p.photo,
        }
    }
}

/// The page `id` on the room server at `server`; `None` where it has none (or is an older
/// server without pages). A page that fails the protocol's bounds is not shown.
pub async fn fetch(
    http: &reqwest::Client,
    server: &str,
    id: &str,
) -> AppResult<Option<TeacherPageView>> {
    if !tutti_protocol::TeacherId::is_valid(id) {
        return Ok(None);
    }
    let path = teacher_path(&tutti_protocol::TeacherId(id.to_owned()));
    let answer = crate::invite::api_get(http, server, &path).await?;
    if !answer.status.is_success() {
        if let Ok(ApiError { code, message }) = serde_json::from_slice(&answer.body) {
            tracing::info!(%server, %code, message, "no teacher's page");
        }
        return Ok(None);
    }
    let page: TeacherPage = crate::invite::api_parse(server, &answer.body)?;
    Ok(page.problem().is_none().then(|| page.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = key(dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(key(dir.path()).unwrap(), first, "the same key next time");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            key(other.path()).unwrap(),
            first,
            "another app, another key"
        );
    }

    #[test]
    fn each_room_server_gets_a_key_of_its_own() {
        let key = "a".repeat(64);
        let seoul = key_for(&key, "wss://seoul.example/ws");
        assert_eq!(seoul.len(), 64);
        assert_ne!(seoul, key, "the key itself never goes");
        assert_eq!(
            seoul,
            key_for(&key, " WSS://Seoul.example/ws/ "),
            "one server, one key"
        );
        assert_ne!(seoul, key_for(&key, "wss://dubai.example/ws"));
        assert_ne!(seoul, key_for(&"b".repeat(64), "wss://seoul.example/ws"));
    }

    /// Through the real server and HTTP client: published with a lesson, named by its preview,
    /// read back; replaced by the next lesson; another key cannot touch it.
    #[tokio::test]
    async fn a_page_published_with_a_lesson_is_read_back_by_its_students() {
        use tutti_protocol::{ClientMessage, ServerMessage};
        let srv = tutti_server::start(tutti_server::ServerConfig::default())
            .await
            .unwrap();
        let server = format!("ws://{}/ws", srv.local_addr());
        let (client, _events) = tutti_lesson::RoomClient::connect(&server, "test")
            .await
            .unwrap();
        let mut page = TeacherPage {
            name: "김선생".into(),
            instruments: vec!["violin".into()],
            bio: "Seoul Philharmonic, 20 years.".into(),
            time_zone: Some("Asia/Seoul".into()),
            photo: Some("data:image/jpeg;base64,/9j/4AAQSkZJRg==".into()),
        };
        let create = |key: &str, page: Option<TeacherPage>| ClientMessage::CreateLesson {
            title: "Scales".into(),
            host_name: "김선생".into(),
            scheduled_for: None,
            time_zone: None,
            teacher_key: Some(key.to_owned()),
            teacher: page,
        };
        let key = "0123456789abcdef0123456789abcdef";
        let ServerMessage::LessonCreated { lesson, .. } = client
            .request(create(key, Some(page.clone())))
            .await
            .unwrap()
        else {
            panic!()
        };
        let http = crate::invite::client().unwrap();
        let preview = crate::invite::preview(&http, &server, &lesson.code.to_string())
            .await
            .unwrap()
            .unwrap();
        let id = preview.teacher_page.expect("the preview names the page");
        assert_eq!(
            fetch(&http, &server, &id).await.unwrap(),
            Some(page.clone().into())
        );

        // The next lesson publishes the page as it is now.
        page.instruments.push("viola".into());
        let ServerMessage::LessonCreated { lesson: next, .. } = client
            .request(create(key, Some(page.clone())))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            next.teacher.as_ref().map(|t| t.0.as_str()),
            Some(id.as_str())
        );
        assert_eq!(
            fetch(&http, &server, &id).await.unwrap(),
            Some(page.clone().into())
        );
        // Another key makes another page; ours is untouched.
        let ServerMessage::LessonCreated { lesson: other, .. } = client
            .request(create(
                "another-key-of-16-chars",
                Some(TeacherPage {
                    name: "impostor".into(),
                    ..page.clone()
                }),
            ))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_ne!(
            other.teacher.as_ref().map(|t| t.0.as_str()),
            Some(id.as_str())
        );
        assert_eq!(fetch(&http, &server, &id).await.unwrap(), Some(page.into()));
        // Nothing under an id nobody published, nor under one that is not an id.
        assert_eq!(
            fetch(&http, &server, "00000000000000000000000000000000")
                .await
                .unwrap(),
            None
        );
        assert_eq!(fetch(&http, &server, "../etc").await.unwrap(), None);
        srv.shutdown().await;
    }
}
