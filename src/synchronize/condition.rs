//! `Condition`: waiters queue in numbered slots in shared memory; `notify(n)` marks the
//! `n` oldest live waiters notified and wakes each one on its own futex word.
//!
//! So wake counts are exact, waiters are woken in the order they came, `notify` never
//! waits for anyone (Python's can hang on a killed waiter), and a waiter that died is
//! skipped: its wake-up does not go to waste nor to a later waiter. A waiter holds its
//! slot's liveness token (a robust mutex, see `sys::robust`) while it waits, so its death
//! is seen at once, even while its process is still a zombie.
//!
//! A managed condition forwards to its server; only `wait_for`'s predicate runs here.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

use super::lock::{Acquired, LocalLock, Lock};
use super::remote::RemoteCondition;
use crate::backing::{not_supported, Backing};
use crate::deadline::{self, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Shared, ShmSafe};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::sys::futex;
use crate::sys::robust::Token;

/// Waiters a condition can hold at once.
pub const MAX_WAITERS: usize = 255;

const FREE: u32 = 0;
const WAITING: u32 = 1;
const NOTIFIED: u32 = 2;

#[repr(C)]
struct Slot {
    /// FREE, WAITING or NOTIFIED; the futex word its waiter sleeps on.
    state: AtomicU32,
    /// Arrival order.
    ticket: AtomicU64,
    /// Held by the waiter's thread while the slot is not FREE.
    token: Token,
}

#[repr(C)]
struct ConditionState {
    next_ticket: AtomicU64,
    /// Slots at or above this index were never used: scans stop here.
    used: AtomicU32,
    _reserved: u32,
    slots: [Slot; MAX_WAITERS],
}

// SAFETY: atomics, and tokens initialised in place by `Condition::new` before any use.
// Slots change under the condition's lock, except a slot's state, which notifiers and
// its waiter access atomically.
unsafe impl ShmSafe for ConditionState {}

/// A process-shared condition variable on a `Lock` or `RLock`, local or managed.
pub struct Condition {
    backing: Backing<LocalCondition, Box<dyn RemoteCondition>>,
}

impl Condition {
    /// A condition on `lock` (a local one), or on a new RLock when `None`.
    pub fn new(lock: Option<Arc<Lock>>) -> Result<Arc<Condition>> {
        let lock = match lock {
            Some(lock) => lock,
            None => Lock::new_recursive()?,
        };
        Ok(Arc::new(Condition {
            backing: Backing::Local(LocalCondition::new(lock)?),
        }))
    }

    /// A manager's Condition, used through `remote`.
    pub fn remote(remote: Box<dyn RemoteCondition>) -> Arc<Condition> {
        Arc::new(Condition {
            backing: Backing::Remote(remote),
        })
    }

    /// Acquires the condition's lock (see [`Lock::acquire`]).
    pub fn acquire(&self, deadline: Deadline) -> Result<Acquired> {
        match &self.backing {
            Backing::Local(cond) => cond.lock.acquire(deadline),
            Backing::Remote(remote) => remote.acquire(deadline).map(|()| Acquired::Clean),
        }
    }

    /// Releases the condition's lock (see [`Lock::release`]).
    pub fn release(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(cond) => cond.lock.release(),
            Backing::Remote(remote) => remote.release(),
        }
    }

    /// Waits until notified (Python's `wait`): releases the lock (all levels of an RLock),
    /// sleeps until `notify` picks this waiter or `deadline` passes (`Timeout`) or a
    /// `pc_interrupt()` comes (`Interrupted`), then takes the lock again in every case.
    /// Fails with `NotOwner` when the caller does not hold the lock.
    pub fn wait(&self, deadline: Deadline) -> Result<Acquired> {
        match &self.backing {
            Backing::Local(cond) => cond.wait(deadline),
            Backing::Remote(remote) => remote.wait(deadline).map(|()| Acquired::Clean),
        }
    }

    /// Waits until `predicate()` is true (Python's `wait_for`), asking it first, then after
    /// each wake-up; `Timeout` if it is still false at the deadline. On a managed
    /// condition the predicate runs here, between waits, as Python's proxy runs it.
    pub fn wait_for(&self, predicate: &mut dyn FnMut() -> bool, deadline: Deadline) -> Result<()> {
        match &self.backing {
            Backing::Local(cond) => cond.wait_for(predicate, deadline),
            Backing::Remote(remote) => wait_until(predicate, deadline, |d| remote.wait(d)),
        }
    }

    /// Wakes the `n` oldest waiters; never blocks. Fails with `NotOwner` when the caller
    /// does not hold the lock.
    pub fn notify(&self, n: usize) -> Result<()> {
        match &self.backing {
            Backing::Local(cond) => cond.notify(n),
            Backing::Remote(remote) => remote.notify(n),
        }
    }

    /// Wakes every waiter; never blocks.
    pub fn notify_all(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(cond) => cond.notify_all(),
            Backing::Remote(remote) => remote.notify_all(),
        }
    }
}

/// Python's `wait_for` over `wait`: asks `predicate` first and after each wait, until it
/// is true or `deadline` passed (`Timeout`).
fn wait_until(
    predicate: &mut dyn FnMut() -> bool,
    deadline: Deadline,
    mut wait: impl FnMut(Deadline) -> Result<()>,
) -> Result<()> {
    while !predicate() {
        if deadline.remaining().is_some_and(|left| left.is_zero()) {
            return Err(Error::new(
                ErrorKind::Timeout,
                "timed out with the predicate still false",
            ));
        }
        match wait(deadline) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Timeout => {
                if predicate() {
                    return Ok(());
                }
                return Err(err.context("predicate still false"));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// A condition in shared memory, on a local lock; barriers use it directly.
pub(crate) struct LocalCondition {
    /// Local: `new` refuses a managed one.
    lock: Arc<Lock>,
    state: Shared<ConditionState>,
}

impl LocalCondition {
    /// A condition on `lock`, which must be local: a managed lock cannot be released and
    /// retaken around a wait here (`NotSupported`).
    pub(crate) fn new(lock: Arc<Lock>) -> Result<LocalCondition> {
        if lock.local().is_none() {
            return Err(not_supported(
                "a condition needs a local lock: for a manager's lock, make the condition \
                 in the manager too (pc_manager_condition)",
            ));
        }
        // SAFETY: all-zero bytes are a valid ConditionState until its tokens are set up below.
        let zeroed = unsafe { std::mem::zeroed::<ConditionState>() };
        let state = Shared::new(zeroed)?;
        for slot in &state.slots {
            slot.token
                .init()
                .map_err(|e| Error::os("pthread_mutex_init", e))?;
        }
        Ok(LocalCondition { lock, state })
    }

    /// The condition's lock.
    pub(crate) fn lock(&self) -> &LocalLock {
        match self.lock.local() {
            Some(lock) => lock,
            None => unreachable!("LocalCondition::new refuses a managed lock"),
        }
    }

    fn check_owned(&self, verb: &str) -> Result<()> {
        if self.lock().is_owned() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::NotOwner,
            format!("cannot {verb} without holding the condition's lock"),
        ))
    }

    fn slots(&self) -> &[Slot] {
        let used = self.state.used.load(Relaxed) as usize;
        &self.state.slots[..used.min(MAX_WAITERS)]
    }

    /// Takes a free slot for the calling waiter (the lock is held) and its token.
    fn enqueue(&self) -> Result<&Slot> {
        let state = &*self.state;
        let index = match self
            .slots()
            .iter()
            .position(|s| s.state.load(Relaxed) == FREE)
        {
            Some(index) => index,
            None if (state.used.load(Relaxed) as usize) < MAX_WAITERS => {
                state.used.fetch_add(1, Relaxed) as usize
            }
            None => self.reclaim_dead().ok_or_else(|| {
                Error::new(
                    ErrorKind::TooLarge,
                    format!("a condition holds at most {MAX_WAITERS} waiters"),
                )
            })?,
        };
        let slot = &state.slots[index];
        slot.token
            .hold()
            .map_err(|e| Error::os("pthread_mutex_lock", e))?;
        slot.ticket
            .store(state.next_ticket.fetch_add(1, Relaxed), Relaxed);
        slot.state.store(WAITING, Release);
        Ok(slot)
    }

    /// Frees the slot of a waiter that died, if any.
    fn reclaim_dead(&self) -> Option<usize> {
        let index = self.slots().iter().position(|s| s.token.holder_gone())?;
        self.state.slots[index].state.store(FREE, Release);
        Some(index)
    }

    /// See [`Condition::wait`].
    pub(crate) fn wait(&self, deadline: Deadline) -> Result<Acquired> {
        self.check_owned("wait on a condition")?;
        let slot = self.enqueue()?;
        let depth = self.lock().release_save()?;
        let waited = deadline::block_until(
            deadline,
            || Ok(slot.state.load(Acquire) == NOTIFIED),
            |slice| {
                futex::wait(&slot.state, WAITING, slice);
                Ok(())
            },
        );
        let reacquired = self.lock().acquire_restore(depth);
        // A notify that came after the deadline but before we took the lock still counts.
        let notified = slot.state.swap(FREE, AcqRel) == NOTIFIED;
        slot.token.release();
        let acquired = reacquired?;
        match waited {
            Err(err) if !notified => Err(err),
            Err(err) if err.kind() == ErrorKind::Interrupted => {
                // Notified after all: the interrupt stays pending for the next blocking call.
                crate::interrupt::interrupt();
                Ok(acquired)
            }
            _ => Ok(acquired),
        }
    }

    /// See [`Condition::wait_for`].
    pub(crate) fn wait_for(
        &self,
        predicate: &mut dyn FnMut() -> bool,
        deadline: Deadline,
    ) -> Result<()> {
        self.check_owned("wait on a condition")?;
        wait_until(predicate, deadline, |d| self.wait(d).map(drop))
    }

    /// Wakes the `n` oldest waiters (skipping dead ones); never blocks. Fails with
    /// `NotOwner` when the caller does not hold the lock.
    pub(crate) fn notify(&self, n: usize) -> Result<()> {
        self.check_owned("notify a condition")?;
        let mut waiting: Vec<(u64, &Slot)> = self
            .slots()
            .iter()
            .filter(|s| s.state.load(Acquire) == WAITING)
            .map(|s| (s.ticket.load(Relaxed), s))
            .collect();
        waiting.sort_unstable_by_key(|(ticket, _)| *ticket);
        let mut woken = 0;
        for (_, slot) in waiting {
            if woken == n {
                break;
            }
            if slot.token.holder_gone() {
                slot.state.store(FREE, Release);
                continue;
            }
            if slot
                .state
                .compare_exchange(WAITING, NOTIFIED, AcqRel, Relaxed)
                .is_ok()
            {
                futex::wake(&slot.state, 1);
                woken += 1;
            }
        }
        Ok(())
    }

    /// Wakes every waiter; never blocks.
    pub(crate) fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

impl LocalCondition {
    /// See `start::passing`.
    pub(crate) fn pass(&self, out: &mut Outbox) -> Result<()> {
        self.lock.pass(out)?;
        self.state.pass(out)
    }

    pub(crate) fn receive(inbox: &mut Inbox<'_>) -> Result<LocalCondition> {
        Ok(LocalCondition {
            lock: Lock::receive(inbox)?,
            state: Shared::receive(inbox)?,
        })
    }
}

impl Passable for Condition {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        match &self.backing {
            Backing::Local(condition) => condition.pass(out),
            Backing::Remote(_) => Err(managed_not_passed("condition")),
        }
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Condition>> {
        Ok(Arc::new(Condition {
            backing: Backing::Local(LocalCondition::receive(inbox)?),
        }))
    }
}
