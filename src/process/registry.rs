//! The children of this process: numbering, reaping, and the exit rules.
//!
//! Every started child is listed here until it is reaped. A child is reaped by whoever
//! looks first: `join`, `is_alive`, `exitcode`, and every `start`, `Process::new` and
//! `active_children`, which reap all ended children, as Python does. Past that, a library
//! thread (the reaper) waits on the children's pidfds and reaps each one as soon as it
//! ends — but only once it is needed: when a handle is freed while its child is unreaped,
//! or when a second child runs beside an unjoined one. A single child started and joined
//! never wakes a thread: a second thread makes every later `fork` of the process slower
//! (glibc then locks its allocator around fork) and its wake-ups cost a cross-CPU TLB
//! flush at the next fork. At the program's normal exit, daemonic children are
//! terminated and the others joined, as `processing` does.
//!
//! Lock order: code holding the registry lock may lock the state of registered children,
//! and never logs (a log handler may call back into the library);
//! the fork handlers take the registry lock (and logging's) while `Process::start` holds
//! the state lock of the process it starts, which is not registered yet.

use std::sync::{Arc, Mutex, MutexGuard};

use super::Process;
use crate::error::{Error, Result};
use crate::sys::epoll::Epoll;

pub(super) struct Registry {
    /// Number of the next child started from this process ("Process-N").
    next_number: u32,
    /// Started children not reaped yet.
    children: Vec<Arc<Process>>,
    /// Watches the children's pidfds for the reaper thread, once one is needed.
    reaper: Option<Arc<Epoll>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_number: 1,
    children: Vec::new(),
    reaper: None,
});

/// Locks the registry (also held across `fork`: see [`ForkGuard`]). A poisoned lock still
/// guards consistent data (no code panics halfway through an update), so poisoning is
/// ignored.
pub(super) fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The registry, held across a `fork` (see `crate::lifecycle`): no child is being added
/// or reaped when the child process is made.
pub(crate) struct ForkGuard(MutexGuard<'static, Registry>);

/// Before a `fork`: holds the registry until the guard is dropped or reset.
pub(crate) fn before_fork() -> ForkGuard {
    ForkGuard(lock())
}

impl ForkGuard {
    /// In the forked child: the parent's children are not ours, nor is its reaper.
    pub(crate) fn reset_in_child(mut self) {
        self.0.reset_after_fork();
    }
}

impl Registry {
    /// Takes the number for a new child.
    pub(super) fn take_number(&mut self) -> u32 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }

    /// Starts the reaper thread if this process has none yet, watching every listed child.
    fn ensure_reaper(&mut self) -> Result<()> {
        if self.reaper.is_none() {
            let epoll = Arc::new(Epoll::new().map_err(|e| Error::os("epoll_create1", e))?);
            let watched = epoll.clone();
            crate::sys::thread::spawn("pc-reaper", move || reap_forever(&watched))
                .map_err(|e| Error::os("starting the reaper thread", e))?;
            self.reaper = Some(epoll);
            for child in &self.children {
                self.watch(child)?;
            }
        }
        Ok(())
    }

    /// Asks the reaper, if there is one, to reap `child` as soon as it ends.
    fn watch(&self, child: &Process) -> Result<()> {
        let (Some(epoll), Some(pidfd)) = (&self.reaper, child.running_sentinel()) else {
            return Ok(());
        };
        epoll
            .add_oneshot(pidfd, 0)
            .map_err(|e| Error::os("epoll_ctl (watching a child for the reaper)", e))
    }

    /// Lists a child that was just forked. A second child running beside an unjoined one
    /// brings up the reaper. (On error the child is listed all the same, and reaped by the
    /// calls that reap.)
    /// A dummy process (a thread, which leaves no zombie) never brings up the reaper.
    pub(super) fn add(&mut self, child: Arc<Process>) -> Result<()> {
        let crowded = self.children.iter().any(|c| !c.on_thread());
        let forked = !child.on_thread();
        self.children.push(child);
        match &self.reaper {
            Some(_) => self.watch(self.children.last().expect("just pushed")),
            None if crowded && forked => self.ensure_reaper(),
            None => Ok(()),
        }
    }

    /// The owner of `child`'s handle let go of it: reap it in the background.
    pub(super) fn abandon(&mut self, child: &Process) -> Result<()> {
        if !child.on_thread()
            && self
                .children
                .iter()
                .any(|c| std::ptr::eq(Arc::as_ptr(c), child))
        {
            self.ensure_reaper()?;
        }
        Ok(())
    }

    /// In a freshly forked child: the parent's children are not ours, nor is its reaper.
    fn reset_after_fork(&mut self) {
        self.next_number = 1;
        self.children.clear();
        self.reaper = None;
    }
}

/// Removes a reaped child from the list.
pub(super) fn forget(child: &Process) {
    lock()
        .children
        .retain(|c| !std::ptr::eq(Arc::as_ptr(c), child));
}

/// Reaps the children that ended and drops them from the list. The reaping (and its
/// logging, whose handler may call back into the library) happens outside the lock.
pub(super) fn reap_ended() {
    let children = lock().children.clone();
    let ended: Vec<*const Process> = children
        .iter()
        .filter(|child| child.try_reap().unwrap_or(false))
        .map(Arc::as_ptr)
        .collect();
    if !ended.is_empty() {
        lock().children.retain(|c| !ended.contains(&Arc::as_ptr(c)));
    }
}

/// The live children of this process, after reaping those that ended.
pub(crate) fn live_children() -> Vec<Arc<Process>> {
    reap_ended();
    lock().children.clone()
}

fn reap_forever(epoll: &Epoll) {
    loop {
        match epoll.wait() {
            Ok(ready) if !ready.is_empty() => reap_ended(),
            Ok(_) => {}
            Err(err) => {
                log::error!("reaper thread stops: epoll_wait: {err}");
                return;
            }
        }
    }
}

/// Terminates the daemonic children and joins all of them: what `processing` does at a
/// process's normal exit. Also run by a child after its target returns. Dummy processes
/// are not children here: the exit's first step joined those it joins (`thread`).
pub(crate) fn shutdown_children() {
    let mut children = live_children();
    children.retain(|c| !c.on_thread());
    for child in children.iter().filter(|c| c.daemon()) {
        log::debug!("calling terminate() for daemon {}", child.name_string());
        if let Err(err) = child.terminate() {
            log::warn!("{err}");
        }
    }
    for child in &children {
        log::debug!("calling join() for process {}", child.name_string());
        if let Err(err) = child.join(crate::deadline::Deadline::Never) {
            log::warn!("{err}");
            return;
        }
    }
}
