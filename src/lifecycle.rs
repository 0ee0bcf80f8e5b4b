//! What a fork and a normal exit do to the library, each written once, in order.
//!
//! **Fork** copies only the calling thread, whoever calls it (`pc_process_start`, or the
//! program itself, to daemonize or in a pre-fork server). Before it, the library takes its
//! locks, so no other thread holds one at that instant; after it, the parent releases
//! them and the child resets what belonged to the parent (its children, its reaper
//! thread, a pending interrupt, its identity as a lock owner) before releasing them.
//! Proxies of managed objects hand the child references of its own, taken before the
//! fork (see `managers::refs`).
//!
//! Every object in the shared heap this process holds gets one more holder, the child,
//! before the fork (see `heap`). The handle table is held too, so the child gets every
//! handle whole (see `ffi::handle`).
//!
//! **Exit** runs [`AT_EXIT`] in order, as Python's finalizers do: the dummy processes
//! that are not daemonic are joined first (Python's `threading` joins its threads before
//! the `atexit` handlers), then pools (a pool's result thread must not start new workers
//! while its workers are ended), then the MPI job (rank 0 tells the other ranks to leave
//! once its pools' bridges stopped), then the manager servers this process started (shut
//! down, so they remove their socket files and drop their objects), then the children
//! (daemonic ones terminated, all joined), and last the objects in the shared heap this
//! process still holds are let go (freed where it was their last holder). A `Process`'s
//! child leaves by `_exit` once its target returned, without the parent's exit steps: it
//! runs [`AT_CHILD_EXIT`].
//!
//! The hooks are installed once, when the library first has state worth protecting; a
//! forked child inherits them.

use std::cell::RefCell;
use std::sync::Once;

use crate::ffi::handle;
use crate::{heap, logging, process, sys};

/// Each module's locks held across a fork, behind its own guard type.
type Held = (
    logging::ForkGuard,
    process::ForkGuard,
    heap::ForkGuard,
    handle::ForkGuard,
);

/// What a normal exit does, in this order.
const AT_EXIT: &[fn()] = &[
    crate::process::join_threads_at_exit,
    crate::pool::terminate_all,
    // After the pools: their bridges stop using MPI first.
    crate::mpi::leave,
    crate::managers::shutdown_started,
    crate::process::shutdown_children,
    // After the children: those the forkserver started report their ends through it.
    crate::start::forkserver::stop,
    crate::heap::release_all,
];

/// What a `Process`'s child does before its `_exit`, in this order: its pools and
/// servers are its parent's, its children and its hold on shared objects its own.
const AT_CHILD_EXIT: &[fn()] = &[
    crate::process::join_threads_at_exit,
    crate::process::shutdown_children,
    // After the children: those the forkserver started report their ends through it.
    crate::start::forkserver::stop,
    crate::heap::release_all,
];

/// What a forked child resets once the locks are its own, in this order.
const AT_FORK_CHILD: &[fn()] = &[
    // First: the steps after it (and everything else) ask for the child's own pid.
    sys::process::remember_pid,
    sys::thread::reset_after_fork,
    crate::interrupt::reset_after_fork,
    crate::synchronize::reset_after_fork,
    crate::managers::after_fork_in_child,
    crate::start::forkserver::after_fork_in_child,
];

thread_local! {
    /// The locks held by the forking thread between `prepare` and `parent`/`child`.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// Installs the fork and exit hooks (once per program).
pub(crate) fn install() {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(|| {
        sys::fork::at_fork(prepare, in_parent, in_child);
        sys::fork::at_exit(at_exit);
        // Kept only now: from here on every forked child runs `AT_FORK_CHILD`.
        sys::process::remember_pid();
    });
}

unsafe extern "C" fn prepare() {
    // First, while nothing is held: it talks to manager servers, and may log.
    crate::managers::before_fork();
    // Same order as everywhere else: logging's lock is never taken while holding the registry.
    let logging = logging::before_fork();
    let registry = process::before_fork();
    // Last: counting the child as a holder of every shared object may take a while.
    let objects = heap::before_fork();
    // A leaf lock: taken for a moment by handles being made or freed, never with another.
    let handles = handle::before_fork();
    HELD.with(|held| *held.borrow_mut() = Some((logging, registry, objects, handles)));
}

unsafe extern "C" fn in_parent() {
    HELD.with(|held| drop(held.borrow_mut().take()));
    crate::managers::after_fork_in_parent();
}

unsafe extern "C" fn in_child() {
    if let Some((logging, registry, objects, handles)) = HELD.with(|held| held.borrow_mut().take())
    {
        drop(handles);
        drop(objects);
        registry.reset_in_child();
        drop(logging);
    }
    for step in AT_FORK_CHILD {
        step();
    }
}

/// The end of a `Process`'s child, before its `_exit`.
pub(crate) fn at_child_exit() {
    for step in AT_CHILD_EXIT {
        step();
    }
}

extern "C" fn at_exit() {
    for step in AT_EXIT {
        step();
    }
}
