//! Real-time scheduling for audio threads: a busy machine must not make a frame late. Where the
//! system refuses (no privilege), the thread carries on at normal priority.

/// Asks for real-time scheduling for the calling thread; true if granted.
pub fn promote_current_thread() -> bool {
    #[cfg(unix)]
    {
        use thread_priority::{
            RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue,
            ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
        };
        // Low among real-time priorities: above every ordinary thread, below the kernel's
        // interrupt threads (50). Our audio threads sleep most of the time.
        let Ok(value) = ThreadPriorityValue::try_from(20u8) else {
            return false;
        };
        let granted = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(value),
            ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
        );
        if let Err(e) = &granted {
            tracing::debug!(error = ?e, "no real-time priority for this audio thread");
        }
        granted.is_ok()
    }
    #[cfg(windows)]
    {
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Max).is_ok()
    }
    #[cfg(not(any(unix, windows)))]
    {
        false
    }
}

/// The scheduling policy of the calling thread, for tests and reports.
pub fn current_is_realtime() -> bool {
    #[cfg(unix)]
    {
        matches!(
            thread_priority::thread_schedule_policy(),
            Ok(thread_priority::ThreadSchedulePolicy::Realtime(_))
        )
    }
    #[cfg(not(unix))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_takes_effect_or_reports_that_it_did_not() {
        let granted = std::thread::spawn(|| (promote_current_thread(), current_is_realtime()))
            .join()
            .unwrap();
        // Root here (and in CI) may do it; either way the answer must be true to the state.
        assert_eq!(granted.0, granted.1);
    }
}
