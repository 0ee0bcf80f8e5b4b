//! `Event`: a flag in shared memory; `set` wakes every waiter and never waits for them.
//! A managed event forwards to its server.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;

use super::remote::RemoteEvent;
use crate::backing::Backing;
use crate::deadline::Deadline;
use crate::error::Result;
use crate::shared::{Shared, ShmSafe};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::sys::futex;

#[repr(C)]
struct EventState {
    /// 1 when set; the futex word waiters sleep on while it is 0.
    flag: AtomicU32,
    /// Processes/threads inside `wait` (a killed one only costs spare wakes).
    waiters: AtomicU32,
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for EventState {}

/// A process-shared event, local or managed.
pub struct Event {
    backing: Backing<Shared<EventState>, Box<dyn RemoteEvent>>,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Result<Arc<Event>> {
        Ok(Arc::new(Event {
            backing: Backing::Local(Shared::new(EventState {
                flag: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            })?),
        }))
    }

    /// A manager's Event, used through `remote`.
    pub fn remote(remote: Box<dyn RemoteEvent>) -> Arc<Event> {
        Arc::new(Event {
            backing: Backing::Remote(remote),
        })
    }

    /// Sets the flag and wakes all waiters.
    pub fn set(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(state) => {
                state.flag.store(1, SeqCst);
                if state.waiters.load(SeqCst) > 0 {
                    futex::wake(&state.flag, u32::MAX);
                }
                Ok(())
            }
            Backing::Remote(remote) => remote.set(),
        }
    }

    pub fn clear(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(state) => {
                state.flag.store(0, SeqCst);
                Ok(())
            }
            Backing::Remote(remote) => remote.clear(),
        }
    }

    pub fn is_set(&self) -> Result<bool> {
        match &self.backing {
            Backing::Local(state) => Ok(state.is_set()),
            Backing::Remote(remote) => remote.is_set(),
        }
    }

    /// Waits until the flag is set, until `deadline` (`Timeout`) or a `pc_interrupt()`.
    pub fn wait(&self, deadline: Deadline) -> Result<()> {
        match &self.backing {
            Backing::Local(state) if state.is_set() => Ok(()),
            Backing::Local(state) => {
                super::sleep_until(&state.flag, 0, &state.waiters, deadline, || state.is_set())
            }
            Backing::Remote(remote) => remote.wait(deadline),
        }
    }
}

impl EventState {
    fn is_set(&self) -> bool {
        self.flag.load(Acquire) != 0
    }
}

impl Passable for Event {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        match &self.backing {
            Backing::Local(state) => state.pass(out),
            Backing::Remote(_) => Err(managed_not_passed("event")),
        }
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Event>> {
        Ok(Arc::new(Event {
            backing: Backing::Local(Shared::receive(inbox)?),
        }))
    }
}
