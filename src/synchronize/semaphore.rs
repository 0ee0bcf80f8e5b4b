//! `Semaphore` and `BoundedSemaphore`: a counter in shared memory with futex waits.
//! Semaphores have no owner, so a holder's death cannot be detected: a timed acquire is
//! the remedy, as in Python. A managed semaphore forwards acquire and release to its
//! server.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;

use super::remote::RemoteAcquirer;
use crate::backing::Backing;
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Shared, ShmSafe};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::sys::futex;

/// The largest value a semaphore holds (POSIX's `SEM_VALUE_MAX`).
pub const MAX_VALUE: u32 = i32::MAX as u32;

#[repr(C)]
struct SemaphoreState {
    /// The counter, and the futex word waiters sleep on while it is 0.
    value: AtomicU32,
    /// Processes/threads inside a blocking acquire (a killed one only costs spare wakes).
    waiters: AtomicU32,
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for SemaphoreState {}

/// A process-shared counting semaphore, local or managed.
pub struct Semaphore {
    backing: Backing<LocalSemaphore, Box<dyn RemoteAcquirer>>,
}

impl Semaphore {
    fn new_local(value: u32, bound: Option<u32>) -> Result<Arc<Semaphore>> {
        if value > MAX_VALUE {
            return Err(Error::invalid_argument(format!(
                "value {value} is above {MAX_VALUE}"
            )));
        }
        Ok(Arc::new(Semaphore {
            backing: Backing::Local(LocalSemaphore {
                bound,
                state: Shared::new(SemaphoreState {
                    value: AtomicU32::new(value),
                    waiters: AtomicU32::new(0),
                })?,
            }),
        }))
    }

    /// A `Semaphore` with counter `value`.
    pub fn new(value: u32) -> Result<Arc<Semaphore>> {
        Semaphore::new_local(value, None)
    }

    /// A `BoundedSemaphore`: releasing above `value` is a `Value` error.
    pub fn new_bounded(value: u32) -> Result<Arc<Semaphore>> {
        Semaphore::new_local(value, Some(value))
    }

    /// A manager's Semaphore or BoundedSemaphore (its server enforces the bound).
    pub fn remote(remote: Box<dyn RemoteAcquirer>) -> Arc<Semaphore> {
        Arc::new(Semaphore {
            backing: Backing::Remote(remote),
        })
    }

    /// Decrements the counter, waiting while it is 0 until `deadline` (`Timeout`) or a
    /// `pc_interrupt()` (`Interrupted`).
    pub fn acquire(&self, deadline: Deadline) -> Result<()> {
        match &self.backing {
            Backing::Local(semaphore) => semaphore.acquire(deadline),
            Backing::Remote(remote) => remote.acquire(deadline),
        }
    }

    /// Increments the counter and wakes one waiter. A BoundedSemaphore refuses to go above
    /// its initial value (`Value`); no semaphore goes above [`MAX_VALUE`].
    pub fn release(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(semaphore) => semaphore.release(),
            Backing::Remote(remote) => remote.release(),
        }
    }

    /// The counter now (may change at once). A managed semaphore has none to read
    /// (Python's proxy has no getter either): `NotSupported`.
    pub fn value(&self) -> Result<u32> {
        let semaphore = self.backing.local(|_| {
            "a managed semaphore has no value to read (Python's proxy has none either)".into()
        })?;
        Ok(semaphore.state.value.load(Relaxed))
    }
}

/// A semaphore in shared memory.
struct LocalSemaphore {
    /// `Some(initial)` for a BoundedSemaphore: releases beyond it are refused.
    bound: Option<u32>,
    state: Shared<SemaphoreState>,
}

impl LocalSemaphore {
    /// Takes one unit if the counter is positive.
    fn try_take(&self) -> bool {
        let value = &self.state.value;
        let mut current = value.load(Relaxed);
        while current > 0 {
            match value.compare_exchange_weak(current, current - 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
        false
    }

    fn acquire(&self, deadline: Deadline) -> Result<()> {
        if self.try_take() {
            return Ok(());
        }
        let state = &*self.state;
        super::sleep_until(&state.value, 0, &state.waiters, deadline, || {
            self.try_take()
        })
    }

    fn release(&self) -> Result<()> {
        let state = &*self.state;
        let limit = self.bound.unwrap_or(MAX_VALUE);
        let mut current = state.value.load(Relaxed);
        loop {
            if current >= limit {
                let what = if self.bound.is_some() {
                    "BoundedSemaphore released too many times"
                } else {
                    "semaphore value would overflow"
                };
                return Err(Error::new(ErrorKind::Value, what));
            }
            match state
                .value
                .compare_exchange_weak(current, current + 1, Release, Relaxed)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if state.waiters.load(SeqCst) > 0 {
            futex::wake(&state.value, 1);
        }
        Ok(())
    }
}

impl Passable for Semaphore {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        let Backing::Local(local) = &self.backing else {
            return Err(managed_not_passed("semaphore"));
        };
        out.u64(local.bound.map_or(u64::MAX, u64::from));
        local.state.pass(out)
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Semaphore>> {
        let bound = u32::try_from(inbox.u64()?).ok();
        Ok(Arc::new(Semaphore {
            backing: Backing::Local(LocalSemaphore {
                bound,
                state: Shared::receive(inbox)?,
            }),
        }))
    }
}
