//! The lesson page for any browser: `/join/CODE` (a student) and `/watch/CODE` (an observer),
//! with its script and style. Static, built into the binary; it speaks the room protocol over
//! this server's own `/ws`, and the media contract of docs/protocol.md with the browser's
//! WebRTC.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

const PAGE: &str = include_str!("web/lesson.html");
const SCRIPT: &str = include_str!("web/lesson.js");
const STYLE: &str = include_str!("web/lesson.css");

/// Where the page's own files are.
pub const SCRIPT_PATH: &str = "/web/lesson.js";
pub const STYLE_PATH: &str = "/web/lesson.css";

/// The page for `path`, if it is one of ours.
pub fn serve(path: &str) -> Option<Response<Full<Bytes>>> {
    let (body, kind) = match path {
        SCRIPT_PATH => (SCRIPT, "text/javascript; charset=utf-8"),
        STYLE_PATH => (STYLE, "text/css; charset=utf-8"),
        p if is_lesson_page(p) => (PAGE, "text/html; charset=utf-8"),
        _ => return None,
    };
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Nothing but our own script, style and socket; whatever a participant types is only ever
    // set as text, and this is the second wall.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("microphone=(self), camera=(self)"),
    );
    Some(res)
}

/// `/join/CODE` or `/watch/CODE`, one segment of code (checked by the room server on knocking).
fn is_lesson_page(path: &str) -> bool {
    let code = path
        .strip_prefix("/join/")
        .or_else(|| path.strip_prefix("/watch/"));
    code.is_some_and(|c| !c.is_empty() && c.len() <= 32 && !c.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_served_for_a_code_to_join_or_watch_and_nothing_else() {
        for p in [
            "/join/K7M-4QX-9TD",
            "/watch/k7m4qx9td",
            "/web/lesson.js",
            "/web/lesson.css",
        ] {
            let res = serve(p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(res.status(), StatusCode::OK);
            assert!(
                res.headers()[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("script-src 'self'")
            );
        }
        for p in ["/join/", "/join/a/b", "/watch", "/web/other.js", "/joinK7M"] {
            assert!(serve(p).is_none(), "{p}");
        }
    }

    #[test]
    fn the_page_loads_its_script_and_style_from_where_they_are_served() {
        assert!(PAGE.contains(&format!("src=\"{SCRIPT_PATH}\"")));
        assert!(PAGE.contains(&format!("href=\"{STYLE_PATH}\"")));
    }
}
