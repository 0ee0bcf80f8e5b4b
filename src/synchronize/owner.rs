//! Who holds a lock, and whether that holder is still alive.
//!
//! An owner is a process, named by its pid and the low 32 bits of its start time, packed
//! in one `u64` so that taking a lock and naming its holder is one atomic step. The start
//! time tells a dead holder from a new process that got the same pid. Threads are told
//! apart by `pthread_self` (an RLock's holder is a thread of the owning process).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::process as os;

/// The calling thread as a lock owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Me {
    /// This process: `(start time as u32) << 32 | pid`; never 0.
    pub(crate) id: u64,
    /// This thread, within the process.
    pub(crate) thread: u64,
}

/// This process's owner id, 0 until computed; reset in every forked child (`crate::lifecycle`).
static PROCESS_ID: AtomicU64 = AtomicU64::new(0);

/// The calling thread's identity: two plain reads once the process id is known (inlined
/// into every lock's fast path).
#[inline(always)]
pub(crate) fn me() -> Me {
    Me {
        id: match PROCESS_ID.load(Ordering::Relaxed) {
            0 => first_process_id(),
            id => id,
        },
        thread: crate::sys::thread::current_id(),
    }
}

/// This process's id, computed once per process.
#[cold]
fn first_process_id() -> u64 {
    crate::lifecycle::install();
    let pid = os::getpid();
    let id = owner_id(pid as u32, os::start_time(pid).unwrap_or(0));
    PROCESS_ID.store(id, Ordering::Relaxed);
    id
}

/// In a forked child: the parent's id is not ours.
pub(crate) fn reset_after_fork() {
    PROCESS_ID.store(0, Ordering::Relaxed);
}

fn owner_id(pid: u32, start_time: u64) -> u64 {
    (start_time & 0xffff_ffff) << 32 | u64::from(pid)
}

/// The pid in an owner id.
pub(crate) fn pid_of(id: u64) -> u32 {
    id as u32
}

/// Whether the process named by `id` still runs: false once it ended (even as a zombie)
/// or when its pid now belongs to another process. Reads `/proc`: for slow paths only.
pub(crate) fn is_alive(id: u64) -> bool {
    let pid = pid_of(id);
    match os::start_time(pid as libc::pid_t) {
        Some(start) => owner_id(pid, start) == id,
        None => false,
    }
}

/// A cheap liveness test for hot-ish paths (`kill(pid, 0)`): false only when `pid` is
/// surely gone; a zombie or reused pid still counts as alive.
pub(crate) fn may_be_alive(pid: u32) -> bool {
    os::pid_exists(pid as libc::pid_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn me_is_alive_and_a_dead_child_is_not() {
        let me = me();
        assert_eq!(pid_of(me.id) as i32, os::getpid());
        assert!(is_alive(me.id));
        // A pid with another start time is a different process.
        assert!(!is_alive(me.id ^ (1 << 40)));
        // SAFETY: the child exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leave the forked test child at once.
            unsafe { libc::_exit(0) };
        }
        let start = os::start_time(pid);
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let id = owner_id(pid as u32, start.unwrap_or(0));
        assert!(!is_alive(id));
    }
}
