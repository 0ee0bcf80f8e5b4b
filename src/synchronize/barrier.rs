//! Python 3's `Barrier`: `parties` processes wait until all have arrived. Built on a
//! Condition and a small shared state, following Python's algorithm (filling, draining,
//! resetting, broken). A wait that times out breaks the barrier for all. As in Python, a
//! process killed inside `wait` is never counted out: the barrier cannot complete that
//! round (waiters with a timeout break it), and needs replacing. A managed barrier
//! forwards to its server.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::*};
use std::sync::Arc;

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

/// A process-shared barrier for `parties` waiters, local or managed.
pub struct Barrier {
    parties: usize,
    backing: Backing<LocalBarrier, Box<dyn RemoteBarrier>>,
}

impl Barrier {
    /// A barrier for `parties` (at least 1) waiters.
    pub fn new(parties: usize) -> Result<Arc<Barrier>> {
        // All but the last party wait on the condition at once.
        let max = MAX_WAITERS + 1;
        if parties == 0 || parties > max {
            return Err(Error::invalid_argument(format!(
                "parties must be 1..={max}, not {parties}"
            )));
        }
        Ok(Arc::new(Barrier {
            parties,
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
            backing: Backing::Remote(remote),
        })
    }

    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Waits until all parties arrived and returns this waiter's arrival index
    /// (0..parties). `Broken` if the barrier is or becomes broken (or is reset meanwhile);
    /// `Timeout` when the deadline passes, which breaks the barrier for the others.
    pub fn wait(&self, deadline: Deadline) -> Result<usize> {
        match &self.backing {
            Backing::Local(barrier) => barrier.wait(self.parties, deadline),
            Backing::Remote(remote) => remote.wait(deadline),
        }
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
    fn wait(&self, parties: usize, deadline: Deadline) -> Result<usize> {
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
            self.set_phase(DRAINING)
        } else {
            self.wait_for_release(deadline)
        };
        let left = self.state.count.fetch_sub(1, Relaxed) - 1;
        if left == 0 && matches!(self.phase(), DRAINING | RESETTING) {
            self.set_phase(FILLING)?;
        }
        result.map(|()| index)
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
        out.u64(self.parties as u64);
        local.cond.pass(out)?;
        local.state.pass(out)
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Barrier>> {
        let parties = usize::try_from(inbox.u64()?).unwrap_or(0);
        if parties == 0 || parties > MAX_WAITERS + 1 {
            return Err(inbox.reader.malformed(format!("{parties} parties")));
        }
        Ok(Arc::new(Barrier {
            parties,
            backing: Backing::Local(LocalBarrier {
                cond: LocalCondition::receive(inbox)?,
                state: Shared::receive(inbox)?,
            }),
        }))
    }
}
