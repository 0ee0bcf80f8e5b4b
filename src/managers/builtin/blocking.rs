//! Blocking the server's way: an object's state behind a mutex, with a condition variable
//! that every change signals, and waits that wake at least every [`SLICE`] to see
//! whether the caller is gone, so no server thread waits forever for a dead client.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Caller, Raised};

/// The longest a blocked call sleeps before checking [`Caller::gone`].
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    Ready,
    TimedOut,
    /// The caller hung up (or the server is stopping): nobody will read the reply.
    Abandoned,
}

/// The instant a wait of `timeout` ends (`None`: never; too far to represent: never).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// The error a call returns when its caller is gone; it is never delivered.
pub(crate) fn abandoned() -> Raised {
    Raised::builtin(
        "ConnectionResetError",
        "the caller went away while the call waited",
    )
}

/// Locks `mutex`. A panic in another holder does not make the state unusable: the
/// objects complete every change before anything that can panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// State `T` that several callers change and wait on.
pub(crate) struct Shared<T> {
    state: Mutex<T>,
    changed: Condvar,
    /// Callers asleep on `changed`, counted under the lock: a notify with none is no
    /// system call.
    sleepers: AtomicUsize,
}

impl<T> Shared<T> {
    pub(crate) fn new(state: T) -> Shared<T> {
        Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.state)
    }

    /// Wakes every waiter to re-check its condition; call after any change (with the
    /// lock held or after it). A waiter that has not gone to sleep yet holds the lock
    /// from its check to its sleep, so it sees the change.
    pub(crate) fn notify(&self) {
        if self.sleepers.load(SeqCst) > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits until `ready(state)` returns true (it may also take what it waits for, e.g.
    /// a lock), until `deadline` passes, or until the caller is gone; the caller's
    /// presence is checked first, so a gone caller never takes anything. `ready` is
    /// always tried once, so a deadline already past makes a non-blocking attempt.
    pub(crate) fn wait_until<'a>(
        &'a self,
        caller: &dyn Caller,
        mut guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut T) -> bool,
    ) -> (MutexGuard<'a, T>, Waited) {
        loop {
            if caller.gone() {
                return (guard, Waited::Abandoned);
            }
            if ready(&mut guard) {
                return (guard, Waited::Ready);
            }
            let slice = match deadline {
                None => SLICE,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(SLICE),
                    _ => return (guard, Waited::TimedOut),
                },
            };
            self.sleepers.fetch_add(1, SeqCst);
            guard = match self.changed.wait_timeout(guard, slice) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            self.sleepers.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestCaller;
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn ready_now_timeout_and_wakeup() {
        let shared = Shared::new(0);
        let caller = TestCaller::new(1);
        let waited = shared
            .wait_until(&caller, shared.lock(), Some(Instant::now()), |n| *n == 0)
            .1;
        assert_eq!(waited, Waited::Ready);
        let start = Instant::now();
        let waited = shared
            .wait_until(
                &caller,
                shared.lock(),
                deadline(Some(Duration::from_millis(30))),
                |n| *n == 1,
            )
            .1;
        assert_eq!(waited, Waited::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(30));

        let shared = Arc::new(shared);
        let other = Arc::clone(&shared);
        let setter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            *other.lock() = 1;
            other.notify();
        });
        let (guard, waited) = shared.wait_until(&caller, shared.lock(), None, |n| *n == 1);
        assert_eq!((*guard, waited), (1, Waited::Ready));
        drop(guard);
        setter.join().unwrap();
    }

    #[test]
    fn a_change_wakes_a_sleeper_at_once() {
        // Were the wake-up lost, each round would last until the sleeper's slice ended.
        let shared = Arc::new(Shared::new(0));
        let other = Arc::clone(&shared);
        let (woke, woken) = std::sync::mpsc::channel();
        let sleeper = thread::spawn(move || {
            let caller = TestCaller::new(1);
            for round in 1..=20 {
                let waited = other.wait_until(&caller, other.lock(), None, |n| *n >= round);
                assert_eq!(waited.1, Waited::Ready);
                drop(waited);
                woke.send(()).unwrap();
            }
        });
        let start = Instant::now();
        for round in 1..=20 {
            while shared.sleepers.load(SeqCst) == 0 {
                thread::yield_now();
            }
            *shared.lock() = round;
            shared.notify();
            woken.recv().unwrap();
        }
        sleeper.join().unwrap();
        assert!(start.elapsed() < SLICE * 5, "{:?}", start.elapsed());
        assert_eq!(shared.sleepers.load(SeqCst), 0);
    }

    #[test]
    fn gone_caller_stops_waiting_within_a_slice() {
        let shared = Shared::new(());
        let caller = Arc::new(TestCaller::new(1));
        let hang_up = Arc::clone(&caller);
        let start = Instant::now();
        let killer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            hang_up.hang_up();
        });
        let waited = shared
            .wait_until(&*caller, shared.lock(), None, |_| false)
            .1;
        assert_eq!(waited, Waited::Abandoned);
        assert!(start.elapsed() < Duration::from_millis(20) + SLICE + Duration::from_millis(100));
        killer.join().unwrap();
    }
}
