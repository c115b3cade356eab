//! The one way the shell takes a std lock.

use std::sync::{Mutex, MutexGuard};

/// The guard, even if a thread panicked while holding it: what the shell keeps behind its
/// locks (views, handles, switches) is whole between statements, so a panic elsewhere must not
/// take the window's state with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
