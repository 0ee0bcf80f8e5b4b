//! Who holds a lock, and whether that holder is still alive.
//!
//! An owner is a process, named by its pid and the low 32 bits of its start time, packed
//! in one `u64` so that taking a lock and naming its holder is one atomic step. The start
//! time tells a dead holder from a new process that got the same pid.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use crate::sys::process as os;

/// The calling thread as a lock owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Me {
    /// This process: `(start time as u32) << 32 | pid`; never 0.
    pub(crate) id: u64,
    pub(crate) pid: u32,
    pub(crate) tid: u32,
}

/// Bumped in every forked child, so thread caches of the parent's identity are refreshed.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// (fork generation, identity) of this thread; generation u64::MAX means unknown.
    static CACHE: Cell<(u64, Me)> = const { Cell::new((u64::MAX, Me { id: 0, pid: 0, tid: 0 })) };
}

/// The calling thread's identity: a thread-local read after the first call.
pub(crate) fn me() -> Me {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| os::at_fork_child(after_fork_in_child));
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    CACHE.with(|cache| {
        let (cached_generation, me) = cache.get();
        if cached_generation == generation {
            return me;
        }
        let pid = os::getpid();
        let start = os::start_time(pid).unwrap_or(0);
        let me = Me {
            id: owner_id(pid as u32, start),
            pid: pid as u32,
            tid: os::gettid() as u32,
        };
        cache.set((generation, me));
        me
    })
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
        assert_eq!(me.pid as i32, os::getpid());
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
