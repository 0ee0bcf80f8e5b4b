//! What a `fork` does to the library, whoever calls it (`pc_process_start`, or the program
//! itself, e.g. to daemonize or in a pre-fork server).
//!
//! Fork copies only the calling thread. Before it, the library takes its locks, so no
//! other thread holds one at that instant; after it, the parent releases them and the
//! child resets what belonged to the parent (its children, its reaper thread, a pending
//! interrupt, its identity as a lock owner) before releasing them. Handlers are `pthread_atfork` ones, installed once
//! the library has state worth protecting.

use std::cell::RefCell;
use std::sync::{Arc, MutexGuard, Once, RwLockWriteGuard};

use crate::process::Registry;
use crate::sys;

type LoggingGuard = RwLockWriteGuard<'static, Option<Arc<crate::logging::Config>>>;
type RegistryGuard = MutexGuard<'static, Registry>;

thread_local! {
    /// The locks held by the forking thread between `prepare` and `parent`/`child`.
    static HELD: RefCell<Option<(LoggingGuard, RegistryGuard)>> = const { RefCell::new(None) };
}

/// Installs the fork handlers (once per program; forked children inherit them).
pub(crate) fn install_hooks() {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(|| sys::process::at_fork(prepare, in_parent, in_child));
}

unsafe extern "C" fn prepare() {
    // Same order as everywhere else: logging's lock is never taken while holding the registry.
    let logging = crate::logging::lock_config();
    let registry = crate::process::lock_registry();
    HELD.with(|held| *held.borrow_mut() = Some((logging, registry)));
}

unsafe extern "C" fn in_parent() {
    HELD.with(|held| drop(held.borrow_mut().take()));
}

unsafe extern "C" fn in_child() {
    if let Some((logging, mut registry)) = HELD.with(|held| held.borrow_mut().take()) {
        registry.reset_after_fork();
        drop(registry);
        drop(logging);
    }
    crate::interrupt::reset_after_fork();
    crate::synchronize::reset_after_fork();
}
