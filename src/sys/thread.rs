//! Library threads, telling threads apart, and counting the program's own.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread::JoinHandle;

use rustix::event::EventfdFlags;

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
    if never_threaded() {
        return 0;
    }
    // A directory's link count is its subdirectories plus two: one per thread here. One
    // `stat`, a third of the cost of reading the count from `/proc/self/stat`.
    let threads = rustix::fs::stat("/proc/self/task")
        .map_or(1, |st| (st.st_nlink as usize).saturating_sub(2));
    threads.saturating_sub(1 + LIBRARY_THREADS.load(Relaxed))
}

/// Whether this process never started a thread, as glibc (2.32 and later) keeps it in
/// `__libc_single_threaded`: a load instead of a `stat`, for the programs that fork most.
/// False where the C library does not say.
fn never_threaded() -> bool {
    static FLAG: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let flag = *FLAG.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks a symbol up.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) as usize }
    });
    // SAFETY: a non-null result is glibc's `char __libc_single_threaded`, which lives as
    // long as the process; glibc writes it only while one thread runs (the first
    // `pthread_create` clears it), so a volatile read races with nothing.
    flag != 0 && unsafe { std::ptr::read_volatile(flag as *const u8) } != 0
}

/// Starts a library thread named `name` with every signal blocked in it.
pub(crate) fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    start(
        std::thread::Builder::new().name(name.to_owned()),
        Some(Counted::new()),
        f,
    )
}

/// As [`spawn`], with a stack of `stack` bytes (for the many threads of a server, whose
/// stacks are mostly untouched address space).
pub(crate) fn spawn_sized<F>(name: &str, stack: usize, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let builder = std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(stack);
    start(builder, Some(Counted::new()), f)
}

/// Starts a thread that runs the program's code (a dummy process), with the stack
/// `pthread_create` gives and every signal blocked until `f` sets its mask. Not one of
/// the library's: a fork while it runs may copy locks it holds.
pub(crate) fn spawn_for_program<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let builder = std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(default_stack_size());
    start(builder, None, f)
}

fn start<F>(
    builder: std::thread::Builder,
    counted: Option<Counted>,
    f: F,
) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    super::signal::with_signals_blocked(|| {
        builder.spawn(move || {
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

/// The stack size `pthread_create` gives a thread by default (glibc: the stack rlimit,
/// usually 8 MiB), for threads that run the program's code: Rust's default of 2 MiB is
/// less than C code expects.
fn default_stack_size() -> usize {
    // SAFETY: `attr` is initialised by pthread_attr_init before it is read, and destroyed
    // once; pthread_attr_getstacksize writes a plain size.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut size = 0;
        if libc::pthread_attr_init(&mut attr) != 0 {
            return 8 << 20;
        }
        let got = libc::pthread_attr_getstacksize(&attr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if got == 0 && size > 0 {
            size
        } else {
            8 << 20
        }
    }
}

/// A flag set once, that `poll` sees: an eventfd, readable from the moment it is set
/// (nothing ever reads it, so it stays readable).
pub(crate) struct Flag(OwnedFd);

impl Flag {
    pub(crate) fn new() -> io::Result<Flag> {
        let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        Ok(Flag(rustix::event::eventfd(0, flags)?))
    }

    /// Sets the flag (again is harmless).
    pub(crate) fn set(&self) {
        // A non-blocking eventfd refuses a write only when its counter would overflow,
        // which needs 2^64 - 1 writes: nothing to handle.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// The file descriptor, readable once the flag is set.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
