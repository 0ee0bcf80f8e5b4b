//! The seed's synchronization primitives, shared between processes: `Lock`/`RLock`,
//! `Semaphore`/`BoundedSemaphore`, `Condition`, `Event`, and Python 3's `Barrier`.
//! Each lives in the lineage's shared heap (see `heap`), so a child forked after it was
//! made uses the very same object. A manager's primitives are used through the same types,
//! forwarding to the traits in `remote`.

mod lock;
pub(crate) mod owner;

pub use lock::{Acquired, Lock};
pub(crate) use lock::{LocalLock, LockState};
pub(crate) use owner::reset_after_fork;
mod barrier;
mod condition;
mod event;
mod remote;
mod semaphore;

pub use barrier::{Action as BarrierAction, Barrier};
pub use condition::{Condition, MAX_WAITERS};
pub use event::Event;
#[cfg(test)]
pub(crate) use remote::fake::fake as fake_primitive;
pub use remote::{RemoteAcquirer, RemoteBarrier, RemoteCondition, RemoteEvent};
pub use semaphore::{Semaphore, MAX_VALUE as SEMAPHORE_MAX_VALUE};

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use crate::deadline::{self, Deadline};
use crate::error::Result;
use crate::sys::futex;

/// Sleeps on the futex `word` while it reads `sleeping`, counted in `waiters` (so a waker
/// makes no system call when nobody waits), until `ready()` or the deadline. A waiter
/// killed while counted only costs its wakers a spare system call.
fn sleep_until(
    word: &AtomicU32,
    sleeping: u32,
    waiters: &AtomicU32,
    deadline: Deadline,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    waiters.fetch_add(1, SeqCst);
    let result = deadline::block_until(
        deadline,
        || Ok(ready()),
        |slice| {
            futex::wait(word, sleeping, slice);
            Ok(())
        },
    );
    waiters.fetch_sub(1, SeqCst);
    result
}
