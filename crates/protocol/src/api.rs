//! The room server's small HTTP API beside the WebSocket, for what an app wants to know
//! without joining anything.
//!
//! `GET /api/lessons/{code}` answers `200` with the lesson's [`crate::LessonInfo`] (an ended or
//! cancelled lesson too, so the student is told so rather than "wrong code"), or an error status
//! with an [`ApiError`] body: `400 invalid_code`, `404 unknown_code`, `429 rate_limited` (with
//! `Retry-After`). Unknown codes count toward the same per-address limit as wrong knocks.
//!
//! `GET /api/check` answers `200` with a [`CheckInfo`], or `429 rate_limited`.

use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// Where a teacher's page is read: `GET /api/teachers/{id}` answers `200` with the
/// [`crate::TeacherPage`], or `400 invalid_input`, `404 no_such_teacher`, `429 rate_limited`.
pub const TEACHERS_API: &str = "/api/teachers/";

pub fn teacher_path(id: &crate::TeacherId) -> String {
    format!("{TEACHERS_API}{}", id.0)
}

/// Where a client asks what it needs for the connection check.
pub const CHECK_PATH: &str = "/api/check";

/// `GET /api/check`: what a client needs to try every way to this server before a lesson (the
/// connection check). Limited per address more tightly than the rest of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// The client's address as the server saw it.
    pub your_address: String,
    /// The STUN and TURN servers a lesson would use, TURN with credentials good for a few
    /// minutes (not for a lesson).
    pub ice_servers: Vec<crate::IceServer>,
    /// A second STUN address on the relay (`stun:HOST:PORT`), to see whether the client's NAT
    /// keeps one public address for different destinations, as direct connections need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stun_alt: Option<String>,
}

/// The body of every API error: the same codes as the WebSocket's `error` frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// The path of a lesson's preview: the code as typed (it is parsed leniently by the server),
/// percent-encoded where it must be.
pub fn lesson_path(code: &str) -> String {
    let mut path = String::from("/api/lessons/");
    for b in code.trim().bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

/// The inverse of the encoding above, for the server; `None` for bad escapes or non-UTF-8.
pub fn decode_path_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits exactly (`from_str_radix` alone would take `+F`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An IANA time zone name as a client may send it (`Asia/Seoul`, `UTC`, `Etc/GMT+4`): checked
/// for shape only, the server keeps no zone database; a client that does not know it shows UTC.
pub fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::limits::ZONE_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_code_survives_the_path() {
        for typed in ["K7M-4QX-9TD", "k7m 4qx 9td", " k7m4qx9td ", "코드/../x?y#z"] {
            let path = lesson_path(typed);
            let segment = path.strip_prefix("/api/lessons/").unwrap();
            assert!(!segment.contains(['/', '?', '#', ' ']), "{segment}");
            assert_eq!(decode_path_segment(segment).unwrap(), typed.trim());
        }
        assert_eq!(decode_path_segment("%zz"), None);
        assert_eq!(decode_path_segment("%C3"), None);
        assert_eq!(decode_path_segment("%4"), None);
        assert_eq!(decode_path_segment("%+F"), None);
    }

    #[test]
    fn zone_names_are_checked_for_shape() {
        for ok in [
            "Asia/Seoul",
            "Asia/Dubai",
            "UTC",
            "Etc/GMT+4",
            "America/Port-au-Prince",
        ] {
            assert!(is_zone_name(ok), "{ok}");
        }
        for bad in ["", "Asia/Seoul\n", "<script>", &"A".repeat(65), "Asia/서울"] {
            assert!(!is_zone_name(bad), "{bad}");
        }
    }
}
