//! Dummy processes (Python's `multiprocessing.dummy.Process`): a `Process` whose target
//! runs on a new thread of this process instead of in a forked child.
//!
//! A dummy process is an ordinary `Process` object with one difference, its `on_thread`
//! flag: `start` hands it to [`start`] here, which runs the target on a thread, and what
//! the object watches while it runs is a [`Watched::Thread`] instead of a forked child.
//! So `join` (with its deadline and interrupts), `is_alive`, the exit code, the sentinel,
//! the registry of children (`active_children`) and the handle rules are the process
//! code's, unchanged. What differs is kept here:
//!
//! - The thread's end is an eventfd set once the target returned, after its return value
//!   was recorded: the sentinel `poll` and `join` wait on, where a child has its pidfd.
//! - A thread cannot be killed: `terminate` and `kill` are `NotSupported`.
//! - On its thread, the dummy process is the current one (`current::as_thread`).
//! - At a normal exit the dummy processes that are not daemonic are joined first, before
//!   pools and servers are shut down, as Python's `threading` joins its non-daemon
//!   threads before the `atexit` handlers run; daemonic ones are left running.
//! - The reaper thread is for forked children only: a thread leaves no zombie.

use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, MutexGuard, OnceLock};

use super::{current, registry, Body, Process, State, Target};
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::child::Child;
use crate::sys::signal::Mask;
use crate::sys::thread::{self as os_thread, Flag};

/// Number of the next dummy process ("Dummy-N"), counted apart from the processes', as
/// Python counts threads apart from processes.
static NEXT_NUMBER: AtomicU32 = AtomicU32::new(1);

/// What a started process object watches: the forked child, or the dummy process's thread.
pub(super) enum Watched {
    Forked(Child),
    Thread(Arc<Ending>),
}

/// How a dummy process's thread ended: its target's return value, then the flag.
pub(super) struct Ending {
    exitcode: OnceLock<i32>,
    ended: Flag,
}

impl Watched {
    /// Readable once the child or the thread ended.
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Watched::Forked(child) => child.fd(),
            Watched::Thread(ending) => ending.ended.fd(),
        }
    }

    /// The exit code once ended (a child is reaped here); `Ok(None)` while it runs.
    pub(super) fn try_reap(&self) -> io::Result<Option<i32>> {
        match self {
            Watched::Forked(child) => child.try_reap(),
            Watched::Thread(ending) => Ok(ending.exitcode.get().copied()),
        }
    }

    /// Sends `sig` to the child; a thread cannot be signalled (`Process::signal` says so
    /// before it gets here).
    pub(super) fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        match self {
            Watched::Forked(child) => child.signal(sig),
            Watched::Thread(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }
}

impl Process {
    /// A new, unstarted dummy process (Python's `multiprocessing.dummy.Process`): `start`
    /// runs `target` on a new thread of this process. Named `Dummy-N`; the daemon flag and
    /// the authkey are the current process's. `None` runs nothing.
    pub fn new_thread(target: Option<Target>) -> Arc<Process> {
        // Its exit rules (joined at exit unless daemonic) are the lifecycle's.
        crate::lifecycle::install();
        let number = NEXT_NUMBER.fetch_add(1, Ordering::Relaxed);
        Process::with_number(Body::Closure(target), number, true)
    }

    /// Whether this is a dummy process (its target runs on a thread).
    pub fn on_thread(&self) -> bool {
        self.on_thread
    }
}

/// `Process::start` of a dummy process (checked by the caller: not started, and started by
/// its creator): runs the target on a new thread, with the calling thread's signal mask
/// and the stack size of a `pthread_create`d thread.
pub(super) fn start(process: &Arc<Process>, state: MutexGuard<'_, State>) -> Result<()> {
    let ending = Arc::new(Ending {
        exitcode: OnceLock::new(),
        ended: Flag::new().map_err(|e| Error::os("eventfd", e))?,
    });
    let mask = Mask::current();
    let name = state.name.to_string_lossy().into_owned();
    let (me, end) = (process.clone(), ending.clone());
    os_thread::spawn_for_program(&name, move || {
        mask.apply();
        let code = current::as_thread(&me, || {
            catch_unwind(AssertUnwindSafe(|| me.run())).unwrap_or_else(|_| {
                log::error!("the target of {} panicked", me.name_string());
                1
            })
        });
        let _ = end.exitcode.set(code);
        end.ended.set();
    })
    .map_err(|e| Error::os("starting a thread", e))?;
    process.started(
        state,
        crate::sys::process::getpid(),
        Watched::Thread(ending),
        "a thread",
    );
    Ok(())
}

/// `terminate` and `kill` of a dummy process.
pub(super) fn cannot_signal(process: &Process, verb: &str) -> Error {
    Error::new(
        ErrorKind::NotSupported,
        format!(
            "cannot {verb} {}: it runs on a thread, and a thread cannot be stopped from \
             outside (its target must return by itself)",
            process.name_string()
        ),
    )
}

/// Joins the dummy processes that are not daemonic (but the calling thread's own), until
/// none is left: the first step of a normal exit, as Python's `threading` does.
pub(crate) fn join_at_exit() {
    loop {
        let threads: Vec<Arc<Process>> = registry::live_children()
            .into_iter()
            .filter(|p| p.on_thread && !p.daemon() && !p.is_current())
            .collect();
        if threads.is_empty() {
            return;
        }
        for thread in threads {
            log::debug!("joining thread {}", thread.name_string());
            if let Err(err) = thread.join(Deadline::Never) {
                log::warn!("{err}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_dummy_process_runs_its_target_on_a_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let p = Process::new_thread(Some(Box::new(move || {
            let me = current::current_arc();
            tx.lock()
                .unwrap()
                .send((me.name_string(), me.is_alive()))
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
            -7
        })));
        assert!(p.name_string().starts_with("Dummy-"));
        assert_eq!(p.exitcode().unwrap_err().kind(), ErrorKind::WrongState);
        p.start().unwrap();
        let (name, alive) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((name, alive), (p.name_string(), true));
        assert!(p.is_alive());
        assert_eq!(p.pid(), crate::sys::process::getpid());
        assert_eq!(
            p.set_daemon(true).unwrap_err().kind(),
            ErrorKind::WrongState
        );
        assert_eq!(p.kill().unwrap_err().kind(), ErrorKind::NotSupported);
        let soon = Deadline::after(Duration::from_millis(20));
        assert_eq!(p.join(soon).unwrap_err().kind(), ErrorKind::Timeout);
        assert_eq!(p.exitcode().unwrap_err().kind(), ErrorKind::WrongState);
        p.join(Deadline::after(Duration::from_secs(10))).unwrap();
        assert!(!p.is_alive());
        assert_eq!(p.exitcode().unwrap(), -7);
        // Back on this thread, the current process is the program's.
        assert!(!Arc::ptr_eq(&current::current_arc(), &p));
        assert_eq!(p.start().unwrap_err().kind(), ErrorKind::WrongState);
    }
}
