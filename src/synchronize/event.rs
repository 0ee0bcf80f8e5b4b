//! `Event`: a flag in shared memory; `set` wakes every waiter and never waits for them.

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Arc;

use crate::error::Result;
use crate::handle::Tag;
use crate::shared_memory::{Shared, ShmSafe};
use crate::sys::futex;
use crate::wait::Deadline;

#[repr(C)]
struct EventState {
    /// 1 when set; the futex word waiters sleep on while it is 0.
    flag: AtomicU32,
    /// Processes/threads inside `wait` (a killed one only costs spare wakes).
    waiters: AtomicU32,
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for EventState {}

/// A process-shared event.
#[repr(C)]
pub struct Event {
    tag: Tag,
    state: Shared<EventState>,
}

impl Event {
    /// The tag value of an event handle.
    pub const TAG: u32 = u32::from_be_bytes(*b"evnt");

    /// A new event, not set.
    pub fn new() -> Result<Arc<Event>> {
        Ok(Arc::new(Event {
            tag: Tag::new(Event::TAG),
            state: Shared::new(EventState {
                flag: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            })?,
        }))
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Sets the flag and wakes all waiters.
    pub fn set(&self) {
        self.state.flag.store(1, SeqCst);
        if self.state.waiters.load(SeqCst) > 0 {
            futex::wake(&self.state.flag, u32::MAX);
        }
    }

    pub fn clear(&self) {
        self.state.flag.store(0, SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.state.flag.load(Acquire) != 0
    }

    /// Waits until the flag is set, until `deadline` (`Timeout`) or a `pc_interrupt()`.
    pub fn wait(&self, deadline: Deadline) -> Result<()> {
        if self.is_set() {
            return Ok(());
        }
        let state = &*self.state;
        super::sleep_until(&state.flag, 0, &state.waiters, deadline, || self.is_set())
    }
}
