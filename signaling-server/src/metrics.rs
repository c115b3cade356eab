//! Counters for `GET /metrics`, in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use tutti_protocol::ErrorCode;

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    /// Set by the hub on each tick.
    pub lessons_loaded: AtomicI64,
    pub lessons_live: AtomicI64,
    pub participants: AtomicI64,
    pub waiting: AtomicI64,
    /// Connections closed because they did not read what was sent to them.
    pub slow_consumers: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    pub fn errors(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.errors[i].load(Relaxed))
    }

    pub fn render(&self) -> String {
        let mut s = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: i64| {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let get = |a: &AtomicU64| i64::try_from(a.load(Relaxed)).unwrap_or(i64::MAX);
        metric(
            "tutti_connections",
            "gauge",
            "Open WebSocket connections.",
            self.connections_open.load(Relaxed),
        );
        metric(
            "tutti_connections_total",
            "counter",
            "WebSocket connections accepted.",
            get(&self.connections_total),
        );
        metric(
            "tutti_messages_received_total",
            "counter",
            "Frames received from clients.",
            get(&self.messages_in),
        );
        metric(
            "tutti_messages_sent_total",
            "counter",
            "Frames sent to clients.",
            get(&self.messages_out),
        );
        metric(
            "tutti_lessons_loaded",
            "gauge",
            "Lessons held in memory.",
            self.lessons_loaded.load(Relaxed),
        );
        metric(
            "tutti_lessons_live",
            "gauge",
            "Rooms: live lessons held in memory.",
            self.lessons_live.load(Relaxed),
        );
        metric(
            "tutti_participants",
            "gauge",
            "Participants in lessons, connected or within the grace period.",
            self.participants.load(Relaxed),
        );
        metric(
            "tutti_waiting",
            "gauge",
            "People in waiting rooms.",
            self.waiting.load(Relaxed),
        );
        metric(
            "tutti_slow_consumers_total",
            "counter",
            "Connections closed for not reading their messages.",
            get(&self.slow_consumers),
        );
        let _ = writeln!(
            s,
            "# HELP tutti_errors_total Error frames sent, by code.\n# TYPE tutti_errors_total counter"
        );
        for (code, n) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                s,
                "tutti_errors_total{{code=\"{code}\"}} {}",
                n.load(Relaxed)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_errors_by_code() {
        let m = Metrics::default();
        m.connections_total.fetch_add(3, Relaxed);
        m.error(ErrorCode::UnknownCode);
        m.error(ErrorCode::UnknownCode);
        let text = m.render();
        assert!(text.contains("tutti_connections_total 3\n"), "{text}");
        assert!(
            text.contains("tutti_errors_total{code=\"unknown_code\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("tutti_errors_total{code=\"not_host\"} 0\n"),
            "{text}"
        );
        assert_eq!(m.errors(ErrorCode::UnknownCode), 2);
    }
}
