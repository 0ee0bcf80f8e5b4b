//! The seed's synchronization primitives, shared between processes: `Lock`/`RLock`,
//! `Semaphore`/`BoundedSemaphore`, `Condition`, `Event`, and Python 3's `Barrier`.
//! Each lives in its own anonymous shared mapping, so a child forked after it was made
//! uses the very same object.

mod lock;
mod owner;

pub use lock::{Acquired, Lock};
pub(crate) use owner::reset_after_fork;
mod barrier;
mod condition;
mod event;
mod semaphore;

pub use barrier::Barrier;
pub use condition::{Condition, MAX_WAITERS};
pub use event::Event;
pub use semaphore::{Semaphore, MAX_VALUE as SEMAPHORE_MAX_VALUE};
