//! Identifiers as newtypes, so that a peer id can never be passed where a lesson id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A lesson, stable for its whole life (scheduled, live, ended).
    LessonId
);
string_id!(
    /// A participant within one lesson. Kept across a rejoin within the grace period.
    PeerId
);
string_id!(
    /// Secret that lets its holder open (and reopen) a lesson as its host.
    HostToken
);
string_id!(
    /// Secret that lets a participant who lost the connection rejoin as itself.
    ResumeToken
);

macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

number_id!(
    /// Chosen by the client for each request; the reply or error echoes it as `re`.
    RequestId
);
number_id!(
    /// A question in a lesson's queue, unique on the server.
    QuestionId
);
number_id!(
    /// A chat message, increasing within a lesson.
    ChatId
);

/// Milliseconds since the Unix epoch, UTC. Time zones are the clients' business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMs(pub i64);

impl UnixMs {
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}
