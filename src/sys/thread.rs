//! Library threads, telling threads apart, and counting the program's own.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread::JoinHandle;

/// The library's threads now running in this process (a forked child has none).
static LIBRARY_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Counts a library thread while it runs.
struct Counted;

impl Counted {
    fn new() -> Counted {
        LIBRARY_THREADS.fetch_add(1, Relaxed);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIBRARY_THREADS.fetch_sub(1, Relaxed);
    }
}

/// In a forked child: none of the parent's threads came along.
pub(crate) fn reset_after_fork() {
    LIBRARY_THREADS.store(0, Relaxed);
}

/// The threads of this process besides the caller that are not the library's (whose
/// locks are taken around a fork): the ones a fork leaves half-done locks of. 0 where
/// `/proc` cannot say.
pub(crate) fn other_program_threads() -> usize {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command (which may hold spaces), from the state on: the
    // thread count is the 18th of them.
    let threads = stat
        .rsplit_once(')')
        .and_then(|(_, fields)| fields.split_whitespace().nth(17))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    threads.saturating_sub(1 + LIBRARY_THREADS.load(Relaxed))
}

/// Starts a library thread named `name` with every signal blocked in it.
pub(crate) fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let counted = Counted::new();
    super::signal::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _counted = counted;
                f()
            })
    })
}

/// As [`spawn`], with a stack of `stack` bytes (for the many threads of a server, whose
/// stacks are mostly untouched address space).
pub(crate) fn spawn_sized<F>(name: &str, stack: usize, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let counted = Counted::new();
    super::signal::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(stack)
            .spawn(move || {
                let _counted = counted;
                f()
            })
    })
}

/// The calling thread's id within its process (`pthread_self`, no system call): unique
/// among the process's live threads.
#[inline]
pub(crate) fn current_id() -> u64 {
    // SAFETY: pthread_self cannot fail.
    unsafe { libc::pthread_self() as u64 }
}
