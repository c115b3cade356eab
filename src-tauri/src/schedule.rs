//! A scheduled lesson's life on its room server, beside the local store: made there (again,
//! after a reset), called off there, and the error that says it is gone.

use crate::error::{AppError, AppResult, ErrorCode};
use tutti_lesson::{ClientError, LessonError, RoomClient};
use tutti_protocol::{
    ClientMessage, ErrorCode as Wire, HostToken, LessonId, LessonInfo, ServerMessage, UnixMs,
};

/// Makes a lesson on the room server at `url`: its info (with the code) and the host token.
pub async fn create(
    url: &str,
    title: &str,
    host_name: &str,
    scheduled_for: Option<UnixMs>,
    time_zone: &str,
    teacher: Option<(String, tutti_protocol::TeacherPage)>,
) -> AppResult<(LessonInfo, HostToken)> {
    let (teacher_key, teacher) = teacher.unzip();
    let (client, _events) = RoomClient::connect(url, "tutti-app").await?;
    let created = client
        .request(ClientMessage::CreateLesson {
            title: title.to_owned(),
            host_name: host_name.to_owned(),
            scheduled_for,
            time_zone: Some(time_zone.to_owned()),
            teacher_key,
            teacher,
        })
        .await?;
    match created {
        ServerMessage::LessonCreated {
            lesson, host_token, ..
        } => Ok((lesson, host_token)),
        other => Err(AppError::new(ErrorCode::Internal, format!("{other:?}"))),
    }
}

/// Tells the room server at `url` that the lesson is called off. A server that does not hold
/// it (reset) has nothing to call off; one that cannot be told, or refuses our token, leaves
/// it scheduled there, and the error says so.
pub async fn cancel(url: &str, remote: String, token: String) -> AppResult<()> {
    let told = async {
        let (client, _events) = RoomClient::connect(url, "tutti-app").await?;
        client
            .request(ClientMessage::CancelLesson {
                lesson: LessonId(remote),
                host_token: HostToken(token),
            })
            .await
    }
    .await;
    match told {
        Ok(_) => Ok(()),
        Err(ClientError::Refused {
            code: Wire::NoSuchLesson,
            ..
        }) => {
            tracing::info!(%url, "the room server does not hold the lesson called off");
            Ok(())
        }
        Err(e) => Err(AppError::new(
            ErrorCode::NotCancelled,
            format!(
                "the room server at {url} could not be told ({e}); the lesson is still scheduled there"
            ),
        )),
    }
}

/// Opening a scheduled lesson failed: a server that no longer knows it (reset, its data lost)
/// is not a wrong code: the lesson can be made there again.
pub fn start_error(e: LessonError, url: &str) -> AppError {
    match e {
        LessonError::Client(ClientError::Refused {
            code: Wire::NoSuchLesson,
            ..
        }) => AppError::new(
            ErrorCode::LessonUnknown,
            format!("the room server at {url} no longer knows this lesson"),
        ),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_lesson::{EngineConfig, Lesson};
    use tutti_protocol::JoinRole;
    use tutti_server::ServerConfig;

    async fn server() -> (tutti_server::RunningServer, String) {
        let srv = tutti_server::start(ServerConfig::default()).await.unwrap();
        let url = format!("ws://{}/ws", srv.local_addr());
        (srv, url)
    }

    /// Against real room servers: a student waiting is told, the code stops working, a retry
    /// and a server that never held it are fine, a server that is gone is an error that keeps
    /// the lesson.
    #[tokio::test]
    async fn a_lesson_called_off_is_called_off_on_its_server() {
        let (srv, url) = server().await;
        let (lesson, token) = create(
            &url,
            "Scales",
            "김선생",
            Some(UnixMs(1_900_000_000_000)),
            "Asia/Seoul",
            None,
        )
        .await
        .unwrap();
        assert_eq!(lesson.time_zone.as_deref(), Some("Asia/Seoul"));
        let code = lesson.code.to_string();
        let waiting = tokio::spawn({
            let cfg = EngineConfig::new(&url, "Omar");
            let code = code.clone();
            async move { Lesson::join(cfg, &code, JoinRole::Student).await.err() }
        });
        // The knock is in before the lesson is called off (the gauge is updated each second).
        let metrics = srv.metrics().clone();
        for _ in 0..100 {
            if metrics.waiting.load(std::sync::atomic::Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            metrics.waiting.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // A token the server does not take leaves the lesson there: said, not hidden.
        let refused = cancel(&url, lesson.id.0.clone(), "not-ours".into()).await;
        assert_eq!(refused.map_err(|e| e.code), Err(ErrorCode::NotCancelled));
        cancel(&url, lesson.id.0.clone(), token.0.clone())
            .await
            .unwrap();
        let told = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the waiting student is told")
            .unwrap();
        assert!(matches!(told, Some(LessonError::Ended)), "{told:?}");
        let again = Lesson::join(EngineConfig::new(&url, "Layla"), &code, JoinRole::Student)
            .await
            .err()
            .map(AppError::from);
        assert_eq!(again.map(|e| e.code), Some(ErrorCode::LessonEnded));
        cancel(&url, lesson.id.0.clone(), token.0.clone())
            .await
            .unwrap();

        // A server reset since (another one, empty): nothing to call off there.
        let (other, other_url) = server().await;
        cancel(&other_url, lesson.id.0.clone(), token.0.clone())
            .await
            .unwrap();
        let reopened = Lesson::reopen(EngineConfig::new(&other_url, "김선생"), &lesson.id, &token)
            .await
            .err()
            .map(|e| start_error(e, &other_url));
        assert_eq!(reopened.map(|e| e.code), Some(ErrorCode::LessonUnknown));
        other.shutdown().await;
        srv.shutdown().await;

        let e = cancel(&url, lesson.id.0, token.0).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::NotCancelled, "{e:?}");
    }
}
