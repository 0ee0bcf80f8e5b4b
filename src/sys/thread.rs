//! Library threads, and telling threads apart.

use std::io;
use std::thread::JoinHandle;

/// Starts a library thread named `name` with every signal blocked in it.
pub(crate) fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    super::signal::with_signals_blocked(|| {
        std::thread::Builder::new().name(name.to_owned()).spawn(f)
    })
}

/// As [`spawn`], with a stack of `stack` bytes (for the many threads of a server, whose
/// stacks are mostly untouched address space).
pub(crate) fn spawn_sized<F>(name: &str, stack: usize, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    super::signal::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(stack)
            .spawn(f)
    })
}

/// The calling thread's id within its process (`pthread_self`, no system call): unique
/// among the process's live threads.
#[inline]
pub(crate) fn current_id() -> u64 {
    // SAFETY: pthread_self cannot fail.
    unsafe { libc::pthread_self() as u64 }
}
