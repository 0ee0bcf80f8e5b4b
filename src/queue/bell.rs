//! A futex word that waiters sleep on and the other side rings after each change.
//!
//! Bit 31 says someone may be asleep; the other bits count the rings that cleared it.
//! Ringing costs one load while nobody sleeps, and only the ring that clears the bit
//! makes the system call: once the sleepers are woken, later rings are free again until
//! one of them goes back to sleep. (Counting sleepers instead makes every ring a system
//! call until a woken sleeper gets a CPU to uncount itself, which on a busy machine is
//! every ring.)

use std::sync::atomic::{fence, AtomicU32, Ordering::SeqCst};

use crate::deadline::{self, Deadline, Interrupts};
use crate::error::Result;
use crate::sys::futex;

const ASLEEP: u32 = 1 << 31;

#[repr(C)]
pub(super) struct Bell(AtomicU32);

impl Bell {
    pub(super) const fn new() -> Bell {
        Bell(AtomicU32::new(0))
    }

    /// Waits until `ready()`, the deadline or (if honoured) an interrupt. `ready` is
    /// asked again after the bit is set, so a change rung before it is never missed.
    pub(super) fn wait_until(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
        ready: impl Fn() -> bool,
    ) -> Result<()> {
        let word = &self.0;
        deadline::block_until_with(
            deadline,
            interrupts,
            || Ok(ready()),
            |slice| {
                let seen = word.load(SeqCst);
                let asleep = seen | ASLEEP;
                if seen != asleep && word.compare_exchange(seen, asleep, SeqCst, SeqCst).is_err() {
                    return Ok(());
                }
                fence(SeqCst);
                if !ready() {
                    futex::wait(word, asleep, slice);
                }
                Ok(())
            },
        )
    }

    /// After a change a waiter may wait for (published with a release store or
    /// stronger): wakes the sleepers, if any.
    #[inline(always)]
    pub(super) fn ring(&self) {
        // Orders the change (published with a release store) before this read, against
        // the waiter's set-bit-then-check: one of the two sees the other.
        fence(SeqCst);
        let seen = self.0.load(SeqCst);
        if seen & ASLEEP != 0 {
            self.ring_sleepers(seen);
        }
    }

    #[cold]
    fn ring_sleepers(&self, seen: u32) {
        let rung = seen.wrapping_add(1) & !ASLEEP;
        // A failed exchange means another ring cleared the bit (and woke them).
        if self.0.compare_exchange(seen, rung, SeqCst, SeqCst).is_ok() {
            futex::wake(&self.0, u32::MAX);
        }
    }
}
