//! Python 3's `Barrier`: `parties` processes wait until all have arrived. Built on a
//! Condition and a small shared state, following Python's algorithm (filling, draining,
//! resetting, broken). A wait that times out breaks the barrier for all. As in Python, a
//! process killed inside `wait` is never counted out: the barrier cannot complete that
//! round (waiters with a timeout break it), and needs replacing. A managed barrier
//! forwards to its server.
//!
//! Python's `action` and default `timeout` are the object's, not the shared state's: a
//! forked child has them as its parent had (the action is code, valid at the same address
//! there), and the action runs in whichever process arrives last, under the barrier's
//! lock, before any waiter is released.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use super::condition::{LocalCondition, MAX_WAITERS};
use super::lock::{LocalLock, Lock};
use super::remote::RemoteBarrier;
use crate::backing::Backing;
use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Shared, ShmSafe};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};

const FILLING: i32 = 0;
const DRAINING: i32 = 1;
const RESETTING: i32 = -1;
const BROKEN: i32 = -2;

#[repr(C)]
struct BarrierState {
    /// Waiters inside `wait`.
    count: AtomicU32,
    /// FILLING, DRAINING, RESETTING or BROKEN.
    phase: AtomicI32,
}

// SAFETY: atomics only, valid when zero; changed under the condition's lock.
unsafe impl ShmSafe for BarrierState {}

/// What the last waiter of a round runs before the others are released (Python's
/// `action`); a non-zero return breaks the barrier.
pub type Action = Box<dyn Fn() -> i32 + Send + Sync>;

/// A process-shared barrier for `parties` waiters, local or managed.
pub struct Barrier {
    parties: usize,
    /// Python's `action` (local barriers only).
    action: Option<Action>,
    /// Python's `timeout`: the limit of [`Barrier::wait_default`] (`None`: none).
    timeout: Option<Duration>,
    backing: Backing<LocalBarrier, Box<dyn RemoteBarrier>>,
}

impl Barrier {
    /// A barrier for `parties` (at least 1) waiters.
    pub fn new(parties: usize) -> Result<Arc<Barrier>> {
        Barrier::with(parties, None, None)
    }

    /// A barrier for `parties` (at least 1) waiters, with Python's `action` and default
    /// `timeout`.
    pub fn with(
        parties: usize,
        action: Option<Action>,
        timeout: Option<Duration>,
    ) -> Result<Arc<Barrier>> {
        // All but the last party wait on the condition at once.
        let max = MAX_WAITERS + 1;
        if parties == 0 || parties > max {
            return Err(Error::invalid_argument(format!(
                "parties must be 1..={max}, not {parties}"
            )));
        }
        Ok(Arc::new(Barrier {
            parties,
            action,
            timeout,
            backing: Backing::Local(LocalBarrier {
                cond: LocalCondition::new(Lock::new()?)?,
                state: Shared::new(BarrierState {
                    count: AtomicU32::new(0),
                    phase: AtomicI32::new(FILLING),
                })?,
            }),
        }))
    }

    /// A manager's Barrier for `parties` waiters, used through `remote`.
    pub fn remote(remote: Box<dyn RemoteBarrier>, parties: usize) -> Arc<Barrier> {
        Arc::new(Barrier {
            parties,
            action: None,
            timeout: None,
            backing: Backing::Remote(remote),
        })
    }

    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Waits until all parties arrived and returns this waiter's arrival index
    /// (0..parties). `Broken` if the barrier is or becomes broken (or is reset meanwhile);
    /// `Timeout` when the deadline passes, which breaks the barrier for the others.
    /// The last waiter of a round runs the action first: when it fails, that waiter gets
    /// `TaskFailed` and the barrier breaks.
    pub fn wait(&self, deadline: Deadline) -> Result<usize> {
        match &self.backing {
            Backing::Local(barrier) => barrier.wait(self.parties, deadline, self.action.as_ref()),
            Backing::Remote(remote) => remote.wait(deadline),
        }
    }

    /// [`Barrier::wait`] for the default timeout (Python's `wait()`): without limit when
    /// the barrier has none.
    pub fn wait_default(&self) -> Result<usize> {
        self.wait(self.timeout.map_or(Deadline::Never, Deadline::after))
    }

    /// The default timeout (`None`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Breaks the barrier: current and future waiters get `Broken` until `reset`.
    pub fn abort(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(barrier) => barrier.abort(),
            Backing::Remote(remote) => remote.abort(),
        }
    }

    /// Returns the barrier to its initial state; current waiters get `Broken`.
    pub fn reset(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(barrier) => barrier.reset(),
            Backing::Remote(remote) => remote.reset(),
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> Result<bool> {
        match &self.backing {
            Backing::Local(barrier) => Ok(barrier.phase() == BROKEN),
            Backing::Remote(remote) => remote.broken(),
        }
    }

    /// Waiters now waiting for the barrier to fill (Python's `n_waiting`: 0 while a round
    /// is being released or reset).
    pub fn n_waiting(&self) -> Result<usize> {
        match &self.backing {
            Backing::Local(barrier) => Ok(barrier.n_waiting()),
            Backing::Remote(remote) => remote.n_waiting(),
        }
    }
}

/// A barrier in shared memory: a condition and the round's state.
struct LocalBarrier {
    cond: LocalCondition,
    state: Shared<BarrierState>,
}

/// Holds the barrier's lock; releases it when dropped.
struct Held<'a>(&'a LocalLock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // We hold it, so release cannot fail.
        let _ = self.0.release();
    }
}

impl LocalBarrier {
    /// Takes the barrier's lock (whatever happened to a previous holder: the state is only
    /// changed by whole atomic stores).
    fn hold(&self) -> Result<Held<'_>> {
        let lock = self.cond.lock();
        lock.acquire_with(Deadline::Never, Interrupts::Honour)?;
        Ok(Held(lock))
    }

    fn phase(&self) -> i32 {
        self.state.phase.load(Relaxed)
    }

    fn set_phase(&self, phase: i32) -> Result<()> {
        self.state.phase.store(phase, Relaxed);
        self.cond.notify_all()
    }

    /// See [`Barrier::wait`].
    fn wait(&self, parties: usize, deadline: Deadline, action: Option<&Action>) -> Result<usize> {
        let _held = self.hold()?;
        // Wait for a previous round to drain or reset.
        self.cond.wait_for(
            &mut || !matches!(self.phase(), DRAINING | RESETTING),
            deadline,
        )?;
        if self.phase() == BROKEN {
            return Err(broken());
        }
        let index = self.state.count.fetch_add(1, Relaxed) as usize;
        let result = if index + 1 == parties {
            self.release(action)
        } else {
            self.wait_for_release(deadline)
        };
        let left = self.state.count.fetch_sub(1, Relaxed) - 1;
        if left == 0 && matches!(self.phase(), DRAINING | RESETTING) {
            self.set_phase(FILLING)?;
        }
        result.map(|()| index)
    }

    /// The last waiter's part: runs the action, then releases the round, or breaks the
    /// barrier when the action failed.
    fn release(&self, action: Option<&Action>) -> Result<()> {
        let code = action.map_or(0, |action| action());
        if code != 0 {
            self.set_phase(BROKEN)?;
            return Err(Error::new(
                ErrorKind::TaskFailed,
                format!("the barrier's action returned {code}, which broke the barrier"),
            ));
        }
        self.set_phase(DRAINING)
    }

    fn wait_for_release(&self, deadline: Deadline) -> Result<()> {
        match self
            .cond
            .wait_for(&mut || self.phase() != FILLING, deadline)
        {
            Ok(()) if self.phase() < 0 => Err(broken()),
            Ok(()) => Ok(()),
            Err(err) => {
                // Timed out or interrupted: the others must not wait for us forever.
                self.set_phase(BROKEN)?;
                Err(err)
            }
        }
    }

    fn abort(&self) -> Result<()> {
        let _held = self.hold()?;
        self.set_phase(BROKEN)
    }

    fn reset(&self) -> Result<()> {
        let _held = self.hold()?;
        let phase = match (self.state.count.load(Relaxed), self.phase()) {
            // Waiters of a round being released keep draining; the others are woken broken.
            (0, _) => FILLING,
            (_, FILLING | BROKEN) => RESETTING,
            (_, phase) => phase,
        };
        self.set_phase(phase)
    }

    fn n_waiting(&self) -> usize {
        match self.phase() {
            FILLING => self.state.count.load(Relaxed) as usize,
            _ => 0,
        }
    }
}

fn broken() -> Error {
    Error::new(ErrorKind::Broken, "the barrier is broken")
}

impl Passable for Barrier {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        let Backing::Local(local) = &self.backing else {
            return Err(managed_not_passed("barrier"));
        };
        if self.action.is_some() {
            return Err(Error::new(
                ErrorKind::NotSupported,
                "a barrier with an action is not passed to a process started by exec (its \
                 action and context mean something only in this process and its forks)",
            ));
        }
        out.u64(self.parties as u64);
        out.u64(self.timeout.map_or(u64::MAX, |t| {
            t.as_nanos().min(u128::from(u64::MAX - 1)) as u64
        }));
        local.cond.pass(out)?;
        local.state.pass(out)
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Barrier>> {
        let parties = usize::try_from(inbox.u64()?).unwrap_or(0);
        if parties == 0 || parties > MAX_WAITERS + 1 {
            return Err(inbox.reader.malformed(format!("{parties} parties")));
        }
        let timeout = match inbox.u64()? {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        };
        Ok(Arc::new(Barrier {
            parties,
            action: None,
            timeout,
            backing: Backing::Local(LocalBarrier {
                cond: LocalCondition::receive(inbox)?,
                state: Shared::receive(inbox)?,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    use super::*;

    /// Runs `wait` on `parties` threads at once; their results, in thread order.
    fn all_wait<R: Send>(parties: usize, wait: impl Fn() -> R + Sync) -> Vec<R> {
        thread::scope(|scope| {
            let threads: Vec<_> = (0..parties).map(|_| scope.spawn(&wait)).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        })
    }

    #[test]
    fn the_action_runs_once_per_round_before_the_release() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let action: Action = Box::new(move || {
            counted.fetch_add(1, SeqCst);
            0
        });
        let barrier = Barrier::with(3, Some(action), None).unwrap();
        for round in 1..=2 {
            let seen = all_wait(3, || {
                barrier
                    .wait(Deadline::after(Duration::from_secs(10)))
                    .unwrap();
                runs.load(SeqCst)
            });
            assert_eq!(seen, vec![round; 3]);
        }
    }

    #[test]
    fn a_failing_action_breaks_the_barrier() {
        let barrier = Barrier::with(2, Some(Box::new(|| 7)), None).unwrap();
        let mut kinds = all_wait(2, || {
            barrier
                .wait(Deadline::after(Duration::from_secs(10)))
                .unwrap_err()
                .kind()
        });
        kinds.sort_by_key(|kind| *kind as i32);
        let mut want = vec![ErrorKind::TaskFailed, ErrorKind::Broken];
        want.sort_by_key(|kind| *kind as i32);
        assert_eq!(kinds, want);
        assert!(barrier.broken().unwrap());
        barrier.reset().unwrap();
        assert!(!barrier.broken().unwrap());
    }

    #[test]
    fn the_default_timeout_limits_wait_default_only() {
        let barrier = Barrier::with(2, None, Some(Duration::from_millis(50))).unwrap();
        assert_eq!(barrier.timeout(), Some(Duration::from_millis(50)));
        let err = barrier.wait_default().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(barrier.broken().unwrap());
        let lone = Barrier::new(1).unwrap();
        assert_eq!(lone.timeout(), None);
        assert_eq!(lone.wait_default().unwrap(), 0);
    }

    #[test]
    fn a_barrier_with_an_action_is_not_passed() {
        let barrier = Barrier::with(2, Some(Box::new(|| 0)), None).unwrap();
        let err = barrier.pass(&mut Outbox::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported);
    }
}
