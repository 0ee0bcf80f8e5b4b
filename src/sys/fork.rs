//! `fork` and leaving: the fork itself and the hooks around it, the parent-death signal,
//! `_exit` and `atexit`. libc's own calls (but the parent-death signal): a raw `clone`
//! would skip the `pthread_atfork` hooks and leave libc's state wrong in the child.

use std::io;

/// Which side of a `fork` we are on.
pub(crate) enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// Flushes every C stdio stream, so buffered output is neither lost at `_exit` nor
/// printed twice by a forked child.
pub(crate) fn flush_stdio() {
    // SAFETY: fflush(NULL) flushes all open output streams; it takes no pointer of ours.
    unsafe { libc::fflush(std::ptr::null_mut()) };
}

/// Forks the calling process. The caller makes sure no lock of the library is held by
/// another thread across the call (see `process::Process::start`).
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: the child only resets library state and runs the target before `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Ends the calling process at once with `code`, after flushing C stdio. The parent's
/// `atexit` handlers do not run (they belong to the parent).
pub(crate) fn exit_now(code: i32) -> ! {
    flush_stdio();
    // SAFETY: _exit never returns and takes no pointer.
    unsafe { libc::_exit(code) }
}

/// Asks the kernel to send `sig` to this process when its parent (the forking thread)
/// ends. Returns false when the parent is already gone, i.e. no longer `parent`.
pub(crate) fn set_parent_death_signal(sig: libc::c_int, parent: libc::pid_t) -> bool {
    if let Some(sig) = rustix::process::Signal::from_named_raw(sig) {
        let _ = rustix::process::set_parent_process_death_signal(Some(sig));
    }
    rustix::process::Pid::as_raw(rustix::process::getppid()) == parent
}

/// Runs `hook` at the program's normal exit (`exit`, or a return from `main`).
pub(crate) fn at_exit(hook: extern "C" fn()) {
    // SAFETY: a plain function that stays valid for the program's life.
    unsafe { libc::atexit(hook) };
}

/// Runs the three hooks around every later `fork` of this process (ours or the program's
/// own): `prepare` before it, `parent` and `child` after it on each side.
pub(crate) fn at_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) {
    // SAFETY: plain functions that stay valid for the program's life.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}
