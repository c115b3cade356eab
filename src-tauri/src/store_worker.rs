//! The local store on a thread of its own. SQLite's calls block (a slow disk, a lock held by
//! another process, a checkpoint), so they run neither on the window's main thread nor on the
//! runtime that carries the lesson's signalling and media. One owner, jobs in the order given.

use crate::error::{AppError, AppResult, ErrorCode};
use std::sync::mpsc;
use tokio::sync::oneshot;
use tutti_store::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A handle to the store's thread; clones share it. The thread ends when the last is dropped.
#[derive(Clone)]
pub struct StoreWorker {
    jobs: mpsc::Sender<Job>,
}

impl StoreWorker {
    pub fn spawn(mut store: Store) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tutti-store".into())
            .spawn(move || {
                for job in rx {
                    // A bug in one job must not cost the rest of the run its store: an open
                    // transaction is rolled back as it unwinds, and the caller gets an error.
                    let run = std::panic::AssertUnwindSafe(|| job(&mut store));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a store job panicked");
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the store and waits for its answer (without blocking the caller's thread).
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> AppResult<R> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| {
            AppError::new(ErrorCode::Internal, "the local store could not finish this")
        })
    }

    /// Runs `f` on the store in its turn, from any thread, without waiting for it (what it
    /// does with an error is its own). False if the store's thread is gone.
    pub fn enqueue(&self, f: impl FnOnce(&mut Store) + Send + 'static) -> bool {
        self.jobs.send(Box::new(f)).is_ok()
    }

    /// Like `call`, for work whose own errors are the store's.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> tutti_store::Result<R> + Send + 'static,
    ) -> AppResult<R> {
        Ok(self.call(f).await??)
    }
}

/// The thread is gone only as the app shuts down.
fn gone() -> AppError {
    AppError::new(
        ErrorCode::Store,
        "the local store stopped working; restart Tutti (nothing saved before now is lost)",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn worker() -> (tempfile::TempDir, StoreWorker) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, StoreWorker::spawn(store).unwrap())
    }

    #[tokio::test]
    async fn jobs_run_off_the_caller_s_thread_and_in_order() {
        let (_dir, w) = worker();
        let caller = std::thread::current().id();
        let ran_on = w.call(|_| std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, caller);
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waits = Vec::new();
        for k in 0..20 {
            let log = log.clone();
            waits.push(w.call(move |_| log.lock().unwrap().push(k)));
        }
        for wait in waits {
            wait.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_store_error_comes_back_typed() {
        let (_dir, w) = worker();
        let e = w
            .run(|s| s.lesson(tutti_store::LessonId(424242)))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Store, "{e:?}");
        assert!(e.message.contains("424242"), "{e:?}");
    }

    #[tokio::test]
    async fn a_job_that_panics_gets_an_error_and_the_store_goes_on() {
        let (_dir, w) = worker();
        let r: AppResult<()> = w.call(|_| panic!("a bug in a job")).await;
        assert_eq!(r.unwrap_err().code, ErrorCode::Internal);
        assert_eq!(w.call(|_| 1).await.unwrap(), 1);
    }
}
