//! What the room server says of an invite code before anyone knocks: `GET /api/lessons/{code}`
//! on the server the student typed, over HTTP(S) beside its WebSocket.

use crate::error::{AppError, AppResult, ErrorCode, Problem};
use serde::Serialize;
use std::time::Duration;
use tutti_protocol::api::{ApiError, lesson_path};
use tutti_protocol::{ErrorCode as Wire, InviteCode, LessonInfo, LessonStatus};

/// A preview waits no longer than this: it is shown while typing, a knock follows anyway.
const PREVIEW_WITHIN: Duration = Duration::from_secs(5);

/// The lesson behind a code, as the join screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct InvitePreview {
    /// The code as the server writes it (`K7M-4QX-9TD`).
    pub code: String,
    pub title: String,
    pub teacher: String,
    pub state: InviteState,
    /// When it is planned for, if it was scheduled.
    pub scheduled_ms: Option<i64>,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// The teacher's time zone (IANA), when the teacher's app said it.
    pub teacher_tz: Option<String>,
    /// The teacher's page, when published (`teacher_page`).
    pub teacher_page: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    /// Not started yet: knocking waits for the teacher.
    Scheduled,
    Live,
    Ended,
    /// Ended without ever starting.
    Cancelled,
}

impl From<LessonInfo> for InvitePreview {
    fn from(l: LessonInfo) -> Self {
        let state = match l.status {
            LessonStatus::Scheduled => InviteState::Scheduled,
            LessonStatus::Live => InviteState::Live,
            LessonStatus::Ended if l.started_at.is_none() => InviteState::Cancelled,
            LessonStatus::Ended => InviteState::Ended,
        };
        Self {
            code: l.code.to_string(),
            title: l.title,
            teacher: l.host_name,
            state,
            scheduled_ms: l.scheduled_for.map(|t| t.0),
            started_ms: l.started_at.map(|t| t.0),
            ended_ms: l.ended_at.map(|t| t.0),
            // Only a zone this app knows: the server checks the name's shape alone.
            teacher_tz: l
                .time_zone
                .filter(|z| tutti_store::validate_zone(z).is_ok()),
            teacher_page: l.teacher.map(|t| t.0),
        }
    }
}

/// The HTTP origin behind a room server's WebSocket address: `ws://h:p/ws` → `http://h:p`,
/// `wss://` → `https://` (a path before `/ws`, for a server behind a proxy, is kept).
pub fn http_base(server: &str) -> AppResult<String> {
    tutti_lesson::socket::http_base(server).map_err(|why| {
        if server.trim().starts_with("ws://") || server.trim().starts_with("wss://") {
            AppError::invalid(Problem::ServerAddress).detailed(why)
        } else {
            AppError::invalid(Problem::ServerAddress)
        }
    })
}

/// One HTTP client for the app's calls to room servers; TLS by rustls, trusting what the room
/// server's WebSocket and the relay trust (the system's roots, or `SSL_CERT_FILE`).
pub fn client() -> AppResult<reqwest::Client> {
    tutti_lesson::socket::http_builder(None)
        .map_err(|e| AppError::new(ErrorCode::Internal, format!("no TLS: {e}")))?
        .connect_timeout(PREVIEW_WITHIN)
        .timeout(PREVIEW_WITHIN)
        .build()
        .map_err(|e| AppError::new(ErrorCode::Internal, format!("no HTTP client: {e}")))
}

/// An answer of a room server's HTTP API.
pub struct ApiAnswer {
    pub status: reqwest::StatusCode,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// `GET path` on the HTTP side of the room server at `server` (a `ws://` or `wss://` address).
pub async fn api_get(http: &reqwest::Client, server: &str, path: &str) -> AppResult<ApiAnswer> {
    let url = format!("{}{path}", http_base(server)?);
    let unreachable = |e: reqwest::Error| {
        AppError::new(
            ErrorCode::ServerUnreachable,
            format!("the room server at {server} did not answer: {e}"),
        )
    };
    let res = http.get(&url).send().await.map_err(unreachable)?;
    let status = res.status();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = res.bytes().await.map_err(unreachable)?.to_vec();
    Ok(ApiAnswer {
        status,
        retry_after,
        body,
    })
}

/// A successful answer's body, read as `T`.
pub fn api_parse<T: serde::de::DeserializeOwned>(server: &str, body: &[u8]) -> AppResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        AppError::new(
            ErrorCode::ServerUnreachable,
            format!("{server} did not answer as a Tutti room server: {e}"),
        )
    })
}

/// Asks `server` about `code`. A code that cannot be one is refused here, without asking.
/// `None`: the server has no preview to give (an older one, or a proxy that passes only the
/// WebSocket); joining may still work.
pub async fn preview(
    http: &reqwest::Client,
    server: &str,
    code: &str,
) -> AppResult<Option<InvitePreview>> {
    let code = InviteCode::parse(code.trim())
        .map_err(|e| AppError::new(ErrorCode::WrongCode, e.to_string()))?;
    let ApiAnswer {
        status,
        retry_after,
        body,
    } = api_get(http, server, &lesson_path(&code.to_string())).await?;
    if status.is_success() {
        let info: LessonInfo = api_parse(server, &body)?;
        return Ok(Some(info.into()));
    }
    let Ok(ApiError { code, message }) = serde_json::from_slice(&body) else {
        tracing::info!(%server, %status, "no invite preview from this server");
        return Ok(None);
    };
    let refused = AppError::refused(code, message);
    Err(match (code, retry_after) {
        (Wire::RateLimited, Some(s)) => refused.detailed(format!(
            "too many wrong codes from this address: try again in {s} s"
        )),
        _ => refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_protocol::{ClientMessage, ServerMessage, UnixMs};
    use tutti_server::{HubConfig, ServerConfig};

    #[test]
    fn the_http_origin_is_read_from_the_websocket_address() {
        let ok = |s: &str| http_base(s).unwrap();
        assert_eq!(ok("ws://127.0.0.1:8787/ws"), "http://127.0.0.1:8787");
        assert_eq!(ok(" wss://rooms.tutti.app/ws "), "https://rooms.tutti.app");
        assert_eq!(
            ok("wss://example.org/tutti/ws/"),
            "https://example.org/tutti"
        );
        assert_eq!(ok("ws://[::1]:8787"), "http://[::1]:8787");
        for bad in [
            "http://x/ws",
            "ws://",
            "ws:///ws",
            "tutti.app",
            "ws://a b/ws",
        ] {
            let e = http_base(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    /// Through the real server and the real HTTP client: the preview, each refusal in its
    /// code, and a server that is not there.
    #[tokio::test]
    async fn a_code_is_previewed_from_the_room_server() {
        let srv = tutti_server::start(ServerConfig {
            hub: HubConfig {
                wrong_codes_burst: 2,
                ..HubConfig::default()
            },
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let server = format!("ws://{}/ws", srv.local_addr());
        let (client, _events) = tutti_lesson::RoomClient::connect(&server, "test")
            .await
            .unwrap();
        let ServerMessage::LessonCreated { lesson, .. } = client
            .request(ClientMessage::CreateLesson {
                title: "바흐 파르티타 2번".into(),
                host_name: "김선생".into(),
                scheduled_for: Some(UnixMs(1_900_000_000_000)),
                time_zone: Some("Asia/Seoul".into()),
                teacher_key: None,
                teacher: None,
            })
            .await
            .unwrap()
        else {
            panic!()
        };
        let http = super::client().unwrap();
        let typed = lesson.code.to_string().to_lowercase();
        let seen = preview(&http, &server, &typed).await.unwrap().unwrap();
        assert_eq!(
            seen,
            InvitePreview {
                code: lesson.code.to_string(),
                title: "바흐 파르티타 2번".into(),
                teacher: "김선생".into(),
                state: InviteState::Scheduled,
                scheduled_ms: Some(1_900_000_000_000),
                started_ms: None,
                ended_ms: None,
                teacher_tz: Some("Asia/Seoul".into()),
                teacher_page: None,
            }
        );

        // Not a code at all: refused here, without asking.
        let e = preview(&http, &server, "abc").await.unwrap_err();
        assert_eq!(e.code, ErrorCode::WrongCode);
        let right = lesson.code.to_string();
        for wrong in ["ZZZ-ZZZ-ZZZ", "YYY-YYY-YYY", "XXX-XXX-XXX"]
            .into_iter()
            .filter(|w| *w != right)
            .take(2)
        {
            let e = preview(&http, &server, wrong).await.unwrap_err();
            assert_eq!(e.code, ErrorCode::WrongCode, "{e:?}");
        }
        let e = preview(&http, &server, &typed).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyTries, "{e:?}");
        // The wait is read from Retry-After (59 or 60 s, as the second turns).
        assert!(
            e.message
                .starts_with("too many wrong codes from this address: try again in "),
            "{}",
            e.message
        );

        // A server without the API (here: a path it does not serve) shows no preview.
        let elsewhere = format!("ws://{}/elsewhere/ws", srv.local_addr());
        let none = preview(&http, &elsewhere, &typed).await;
        assert!(matches!(none, Ok(None)), "{none:?}");

        let gone = srv.local_addr();
        srv.shutdown().await;
        let e = preview(&http, &format!("ws://{gone}/ws"), &typed)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerUnreachable, "{e:?}");
    }
}
