//! The current process: "MainProcess" in the program, the started `Process` in a child,
//! and, as Python's `current_process()` in a `multiprocessing.dummy.Process`, a dummy
//! process on the thread that runs it (see `thread`).

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Once};

use super::Process;

/// Points at the current process's object; one reference is leaked into it on purpose,
/// so the object lives as long as the process. Lock-free, so a forked child can read it.
static CURRENT: AtomicPtr<Process> = AtomicPtr::new(ptr::null_mut());
static MAIN: Once = Once::new();

/// The object of the running process.
pub fn current() -> &'static Process {
    MAIN.call_once(|| {
        let main = Arc::new(Process::main());
        // Only set it if no child bootstrap set it first (a fork before the first call).
        let _ = CURRENT.compare_exchange(
            ptr::null_mut(),
            Arc::into_raw(main) as *mut Process,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    });
    // SAFETY: CURRENT holds a leaked Arc, so the object is never freed.
    unsafe { &*CURRENT.load(Ordering::Acquire) }
}

thread_local! {
    /// The dummy process whose target this thread runs; null on every other thread.
    static ON_THREAD: Cell<*const Process> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on the calling thread as `process`'s thread: meanwhile `current_arc` is that
/// dummy process, and `is_current` true for it.
pub(super) fn as_thread<R>(process: &Arc<Process>, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_THREAD.set(ptr::null());
        }
    }
    ON_THREAD.set(Arc::as_ptr(process));
    let _reset = Reset;
    f()
}

/// The current process as a shared reference (for handles given to C): on a dummy
/// process's thread, that dummy process (Python's `current_process()` there); the
/// process's own object everywhere else.
pub fn current_arc() -> Arc<Process> {
    let process = match ON_THREAD.get() {
        thread if thread.is_null() => current() as *const Process,
        thread => thread,
    };
    // SAFETY: `process` is either the leaked Arc of CURRENT, or the dummy process that
    // `as_thread` runs on this thread, whose caller holds an Arc of it until after
    // `as_thread` returned and reset ON_THREAD; incrementing before from_raw hands out a
    // new, owned reference.
    unsafe {
        Arc::increment_strong_count(process);
        Arc::from_raw(process)
    }
}

/// In a freshly forked child: `process` is now the current process.
pub(super) fn become_current(process: &Arc<Process>) {
    MAIN.call_once(|| {});
    // Forked from a dummy process's thread: the child is the started process, not it.
    ON_THREAD.set(ptr::null());
    CURRENT.store(
        Arc::into_raw(process.clone()) as *mut Process,
        Ordering::Release,
    );
}

/// Whether `process` is the running process's own object, or the dummy process of the
/// calling thread.
pub(super) fn is_current(process: &Process) -> bool {
    ptr::eq(CURRENT.load(Ordering::Acquire), process) || ptr::eq(ON_THREAD.get(), process)
}
