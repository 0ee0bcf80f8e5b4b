//! Who reads the result queue: the result thread, or a caller waiting for its job.
//!
//! A caller that waits for a result through the result thread pays three hand-offs per
//! task (caller → worker → result thread → caller) where a pipe round trip pays two; on
//! one CPU each is a context switch. So a waiting caller reads the result queue itself
//! and files what it finds, its own result included, while the result thread stands down
//! (parks) as long as some caller reads. Callbacks still run on the result thread only:
//! a job with one that a caller completes is handed to it.
//!
//! The result thread goes back to reading when the last reading caller leaves with tasks
//! still unanswered, and looks at least every `PARKED_WITH_WORK` when it parked with
//! some: a task whose submitter never waits is still answered promptly.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::job::Job;

/// The longest the parked result thread waits before looking for unread results when
/// tasks are unanswered and no caller reads.
pub(super) const PARKED_WITH_WORK: Duration = Duration::from_millis(1);

/// The readers of one pool's result queue.
#[derive(Default)]
pub(super) struct Readers {
    /// Callers reading the result queue now.
    callers: AtomicUsize,
    parking: Mutex<Parking>,
    wake: Condvar,
}

#[derive(Default)]
struct Parking {
    /// Jobs a caller completed whose callback the result thread must run.
    handed: Vec<Arc<Job>>,
    /// The result thread waits on `wake`.
    parked: bool,
    /// Something the result thread must look at (a hand-over, work with no reader).
    call: bool,
}

impl Readers {
    fn parking(&self) -> MutexGuard<'_, Parking> {
        self.parking.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether some caller reads the result queue now (the result thread stands down).
    pub(super) fn callers_read(&self) -> bool {
        self.callers.load(SeqCst) > 0
    }

    /// A caller starts reading; `leave` ends it.
    pub(super) fn enter(&self) {
        self.callers.fetch_add(1, SeqCst);
    }

    /// A caller stops reading: with `unanswered` tasks left and no other reader, the
    /// result thread reads again.
    pub(super) fn leave(&self, unanswered: impl FnOnce() -> bool) {
        if self.callers.fetch_sub(1, SeqCst) == 1 && unanswered() {
            self.call_result_thread();
        }
    }

    /// Hands a job a caller completed to the result thread, to run its callback.
    pub(super) fn hand_over(&self, job: Arc<Job>) {
        self.parking().handed.push(job);
        self.call_result_thread();
    }

    /// Wakes the result thread if it is parked (otherwise it looks anyway).
    pub(super) fn call_result_thread(&self) {
        let mut parking = self.parking();
        parking.call = true;
        if parking.parked {
            self.wake.notify_one();
        }
    }

    /// On the result thread: the jobs handed over since the last call.
    pub(super) fn take_handed(&self) -> Vec<Arc<Job>> {
        std::mem::take(&mut self.parking().handed)
    }

    /// On the result thread, while callers read: waits until `until`, a call, or no
    /// caller reads any more.
    pub(super) fn park(&self, until: Instant) {
        let mut parking = self.parking();
        parking.parked = true;
        while !parking.call && self.callers_read() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            parking = self
                .wake
                .wait_timeout(parking, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        parking.parked = false;
        parking.call = false;
    }
}
