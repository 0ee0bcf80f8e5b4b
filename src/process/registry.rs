//! The children of this process: numbering, reaping, and the exit rules.
//!
//! Every started child is listed here until it is reaped. A library thread (the reaper)
//! waits on the children's pidfds and reaps each one as soon as it ends, so no child stays
//! a zombie even when its handle was freed or never joined. At the program's normal exit,
//! daemonic children are terminated and the others joined, as `processing` does.
//!
//! Lock order: code holding the registry lock may lock the state of registered children;
//! `Process::start` takes the registry lock (and, through the fork handlers, logging's)
//! while holding the state lock of the process it starts, which is not registered yet.

use std::sync::{Arc, Mutex, MutexGuard, Once};

use super::Process;
use crate::error::{Error, Result};
use crate::sys::epoll::Epoll;

pub(crate) struct Registry {
    /// Number of the next child started from this process ("Process-N").
    next_number: u32,
    /// Started children not reaped yet.
    children: Vec<Arc<Process>>,
    /// Watches the children's pidfds for the reaper thread; started with the first child.
    reaper: Option<Arc<Epoll>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_number: 1,
    children: Vec::new(),
    reaper: None,
});

/// Locks the registry (also held across `fork`, see `crate::fork`). A poisoned lock still
/// guards consistent data (no code panics halfway through an update), so poisoning is
/// ignored.
pub(crate) fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// Takes the number for a new child.
    pub(super) fn take_number(&mut self) -> u32 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }

    /// Starts the reaper thread if this process has none yet.
    pub(super) fn ensure_reaper(&mut self) -> Result<()> {
        if self.reaper.is_some() {
            return Ok(());
        }
        let epoll = Arc::new(Epoll::new().map_err(|e| Error::os("epoll_create1", e))?);
        let watched = epoll.clone();
        crate::sys::thread::spawn("pc-reaper", move || reap_forever(&watched))
            .map_err(|e| Error::os("starting the reaper thread", e))?;
        self.reaper = Some(epoll);
        ensure_exit_handler();
        Ok(())
    }

    /// Lists a child that was just forked and asks the reaper to watch it.
    pub(super) fn add(
        &mut self,
        child: Arc<Process>,
        pid: libc::pid_t,
        pidfd: std::os::fd::BorrowedFd<'_>,
    ) {
        if let Some(epoll) = &self.reaper {
            if let Err(err) = epoll.add_oneshot(pidfd, pid as u64) {
                // The child is still listed: join, is_alive and active_children reap it.
                log::warn!("cannot watch {} for reaping: {err}", child.name_string());
            }
        }
        self.children.push(child);
    }

    /// In a freshly forked child: the parent's children are not ours, nor is its reaper.
    pub(crate) fn reset_after_fork(&mut self) {
        self.next_number = 1;
        self.children.clear();
        self.reaper = None;
    }

    /// Reaps the children that ended and drops them from the list.
    fn reap_ended(&mut self) {
        self.children
            .retain(|child| !child.try_reap().unwrap_or(false));
    }
}

/// Removes a reaped child from the list.
pub(super) fn forget(child: &Process) {
    lock()
        .children
        .retain(|c| !std::ptr::eq(Arc::as_ptr(c), child));
}

/// The live children of this process, after reaping those that ended.
pub(crate) fn live_children() -> Vec<Arc<Process>> {
    let mut registry = lock();
    registry.reap_ended();
    registry.children.clone()
}

fn reap_forever(epoll: &Epoll) {
    loop {
        match epoll.wait() {
            Ok(tokens) if !tokens.is_empty() => lock().reap_ended(),
            Ok(_) => {}
            Err(err) => {
                log::error!("reaper thread stops: epoll_wait: {err}");
                return;
            }
        }
    }
}

/// Terminates the daemonic children and joins all of them: what `processing` does at a
/// process's normal exit. Also run by a child after its target returns.
pub(crate) fn shutdown_children() {
    let children = live_children();
    for child in children.iter().filter(|c| c.daemon()) {
        log::debug!("calling terminate() for daemon {}", child.name_string());
        if let Err(err) = child.terminate() {
            log::warn!("{err}");
        }
    }
    for child in &children {
        log::debug!("calling join() for process {}", child.name_string());
        if let Err(err) = child.join(crate::wait::Deadline::Never) {
            log::warn!("{err}");
            return;
        }
    }
}

extern "C" fn at_exit() {
    shutdown_children();
}

/// Registers the exit rules with `atexit` once; forked children inherit the registration.
fn ensure_exit_handler() {
    static REGISTERED: Once = Once::new();
    // SAFETY: at_exit is a plain extern "C" fn that stays valid for the program's life.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
}
