//! A thread that runs a loop until told to stop: the audio send and playout loops, the video
//! send loop and the camera all run on one. Dropping it asks the loop to stop; `stop` also
//! waits for it and returns what it returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;

pub(crate) struct LoopThread<R> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<R>>,
}

impl<R: Send + 'static> LoopThread<R> {
    /// Starts `body` on a thread named `name`; it should return once the flag it is given is
    /// set.
    pub(crate) fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) -> R + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(&flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the loop and waits for it; `None` if it panicked.
    pub(crate) fn stop(mut self) -> Option<R> {
        self.stop.store(true, Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<R> Drop for LoopThread<R> {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_the_loop_and_returns_its_result() {
        let t = LoopThread::spawn("test-loop", |stop| {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                std::thread::yield_now();
            }
            n
        })
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(t.stop().is_some_and(|n| n > 0));
    }

    #[test]
    fn dropping_asks_the_loop_to_stop() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = LoopThread::spawn("test-loop", move |stop| {
            while !stop.load(Relaxed) {
                std::thread::yield_now();
            }
            let _ = tx.send(());
        })
        .unwrap();
        drop(t);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok());
    }
}
