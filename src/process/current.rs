//! The current process: "MainProcess" in the program, the started `Process` in a child.

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

/// The current process as a shared reference (for handles given to C).
pub fn current_arc() -> Arc<Process> {
    let process = current() as *const Process;
    // SAFETY: `process` came from Arc::into_raw and its leaked count keeps it alive;
    // incrementing before from_raw hands out a new, owned reference.
    unsafe {
        Arc::increment_strong_count(process);
        Arc::from_raw(process)
    }
}

/// In a freshly forked child: `process` is now the current process.
pub(super) fn become_current(process: &Arc<Process>) {
    MAIN.call_once(|| {});
    CURRENT.store(
        Arc::into_raw(process.clone()) as *mut Process,
        Ordering::Release,
    );
}

/// Whether `process` is the running process's own object.
pub(super) fn is_current(process: &Process) -> bool {
    ptr::eq(CURRENT.load(Ordering::Acquire), process)
}
