//! The connection check as the app shows it: the lesson library's report, typed for the UI,
//! which says it in the user's language.

use serde::Serialize;
use tutti_lesson::check::{self, CheckOptions, CheckReport, NatMapping, PathName, Verdict};

use crate::error::{AppError, AppResult, Problem};

/// What the check found (see `tutti_lesson::check`).
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ConnectionCheck {
    pub server: String,
    pub verdict: CheckVerdict,
    /// What the relay adds to the one-way delay, roughly, when it is the way (ms).
    pub extra_ms: Option<f64>,
    pub public_address: Option<String>,
    pub nat: Option<CheckNat>,
    pub paths: Vec<CheckPath>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    DirectLikely,
    RelayUdp,
    RelayTcp,
    RelayTlsOnly,
    NoMedia,
    MediaUnknown,
    DirectOnly,
    TooSoon,
    ServerUnreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum CheckNat {
    Consistent,
    Varies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum CheckPathName {
    ServerHttp,
    ServerWs,
    Stun,
    TurnUdp,
    TurnTcp,
    TurnTls,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct CheckPath {
    pub path: CheckPathName,
    pub ok: bool,
    pub rtt_ms: Option<f64>,
    pub to: Option<String>,
    /// Why it failed, in English (shown as a tooltip and in the report).
    pub error: Option<String>,
}

impl From<CheckReport> for ConnectionCheck {
    fn from(r: CheckReport) -> Self {
        Self {
            server: r.server,
            verdict: match r.verdict {
                Verdict::DirectLikely => CheckVerdict::DirectLikely,
                Verdict::RelayUdp => CheckVerdict::RelayUdp,
                Verdict::RelayTcp => CheckVerdict::RelayTcp,
                Verdict::RelayTlsOnly => CheckVerdict::RelayTlsOnly,
                Verdict::NoMedia => CheckVerdict::NoMedia,
                Verdict::MediaUnknown => CheckVerdict::MediaUnknown,
                Verdict::DirectOnly => CheckVerdict::DirectOnly,
                Verdict::TooSoon => CheckVerdict::TooSoon,
                Verdict::ServerUnreachable => CheckVerdict::ServerUnreachable,
            },
            extra_ms: r.extra_ms,
            public_address: r.public_address,
            nat: r.nat.map(|n| match n {
                NatMapping::Consistent => CheckNat::Consistent,
                NatMapping::Varies => CheckNat::Varies,
            }),
            paths: r
                .paths
                .into_iter()
                .map(|p| CheckPath {
                    path: match p.path {
                        PathName::ServerHttp => CheckPathName::ServerHttp,
                        PathName::ServerWs => CheckPathName::ServerWs,
                        PathName::Stun => CheckPathName::Stun,
                        PathName::TurnUdp => CheckPathName::TurnUdp,
                        PathName::TurnTcp => CheckPathName::TurnTcp,
                        PathName::TurnTls => CheckPathName::TurnTls,
                    },
                    ok: p.ok,
                    rtt_ms: p.rtt_ms,
                    to: p.to,
                    error: p.error,
                })
                .collect(),
        }
    }
}

/// Checks every way to the room server at `server` (a `ws://` or `wss://` address).
pub async fn run(server: &str) -> AppResult<ConnectionCheck> {
    tutti_lesson::socket::http_base(server)
        .map_err(|why| AppError::invalid(Problem::ServerAddress).detailed(why))?;
    Ok(check::run(&CheckOptions::new(server)).await.into())
}
