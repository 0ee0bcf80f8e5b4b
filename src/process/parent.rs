//! The parent process (Python 3.8's `parent_process()`): in a started child, an object
//! for the process that started it, with its name and pid, that tells whether it still
//! runs and can be joined; none in the main program.
//!
//! What the child knows of its parent is recorded when it starts ([`set`]); the object
//! and its watch are made on first use, so a child that never asks pays nothing. The
//! watch is a pidfd of the parent. Opening one by pid could name another process once the
//! parent ended and its pid was reused, so the open is checked afterwards: a forked or
//! spawned child is its parent's child while the parent runs (`getppid`), and a child of
//! the forkserver compares the parent's start time, which the parent sent. Where pidfds
//! do not exist those same checks answer `is_alive`, and a join polls them.

use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::Process;
use crate::deadline::{self, Deadline};
use crate::error::{Error, Result};
use crate::sys::process as os;

/// What a child knows of the process that started it.
pub(crate) struct ParentInfo {
    pub(crate) name: String,
    pub(crate) pid: libc::pid_t,
    /// How to tell that `pid` is still the parent (see [`Check`]).
    pub(crate) check: Check,
    object: OnceLock<Arc<Process>>,
}

/// How a child tells that its parent still runs, without a pidfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The parent forked or spawned this process: it runs while it is the OS parent.
    OsParent,
    /// Started through the forkserver: the parent runs while a process with its pid has
    /// this start time (`/proc/PID/stat`).
    StartTime(u64),
}

/// The current process's parent; null in the main program. A leaked box, replaced in
/// each started child (the parent's is not this process's parent).
static PARENT: AtomicPtr<ParentInfo> = AtomicPtr::new(ptr::null_mut());

/// In a child as it starts: its parent is `name`, `pid`.
pub(crate) fn set(name: String, pid: libc::pid_t, check: Check) {
    let info = Box::new(ParentInfo {
        name,
        pid,
        check,
        object: OnceLock::new(),
    });
    PARENT.store(Box::into_raw(info), Ordering::Release);
}

/// The parent process's object, made on first use; `None` in the main program.
pub fn parent() -> Option<Arc<Process>> {
    // SAFETY: PARENT is null or a leaked box that is never freed.
    let info = unsafe { PARENT.load(Ordering::Acquire).as_ref() }?;
    Some(Arc::clone(info.object.get_or_init(|| {
        Arc::new(Process::parent_object(info, Link::open(info)))
    })))
}

/// How the child watches its parent.
pub(super) struct Link {
    pid: libc::pid_t,
    check: Check,
    /// A pidfd of the parent, readable once it ended; `None` where pidfds do not exist,
    /// or when the parent had ended before the link was made.
    pidfd: Option<OwnedFd>,
    /// The parent had ended before the link was made.
    ended: bool,
}

impl Link {
    fn open(info: &ParentInfo) -> Link {
        // A failure to open (out of descriptors) leaves the checks to answer.
        let pidfd = crate::sys::child::pidfd_of(info.pid).ok().flatten();
        let mut link = Link {
            pid: info.pid,
            check: info.check,
            pidfd,
            ended: false,
        };
        // After the open: if `pid` is still the parent now, the pidfd names it.
        if !link.checks_alive() {
            link.pidfd = None;
            link.ended = true;
        }
        link
    }

    fn checks_alive(&self) -> bool {
        match self.check {
            Check::OsParent => os::getppid() == self.pid,
            Check::StartTime(start) => os::start_time(self.pid) == Some(start),
        }
    }

    /// Whether the parent still runs.
    pub(super) fn is_alive(&self) -> bool {
        if self.ended {
            return false;
        }
        match &self.pidfd {
            Some(fd) => {
                !crate::sys::poll::poll(&[fd.as_raw_fd()], libc::POLLIN, Duration::ZERO, None)
                    .unwrap_or(false)
            }
            None => self.checks_alive(),
        }
    }

    /// The pidfd, or -1.
    pub(super) fn sentinel(&self) -> i32 {
        self.pidfd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    pub(super) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits until the parent ended, or `deadline` (`Timeout`).
    pub(super) fn join(&self, deadline: Deadline) -> Result<()> {
        deadline::block_until(
            deadline,
            || Ok(!self.is_alive()),
            |slice| match &self.pidfd {
                Some(fd) => crate::sys::poll::poll(&[fd.as_raw_fd()], libc::POLLIN, slice, None)
                    .map(drop)
                    .map_err(|e| Error::os("poll(parent pidfd)", e)),
                None => {
                    std::thread::sleep(slice.min(POLL_EVERY));
                    Ok(())
                }
            },
        )
    }
}

/// How often a join checks a parent it has no pidfd for.
const POLL_EVERY: Duration = Duration::from_millis(10);

impl ParentInfo {
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn link(pid: libc::pid_t, check: Check) -> Link {
        Link {
            pid,
            check,
            pidfd: None,
            ended: false,
        }
    }

    #[test]
    fn without_a_pidfd_the_os_parent_answers() {
        assert!(link(os::getppid(), Check::OsParent).is_alive());
        assert!(!link(os::getpid(), Check::OsParent).is_alive());
    }

    #[test]
    fn without_a_pidfd_the_start_time_answers() {
        let me = os::getpid();
        let start = os::start_time(me).unwrap();
        let alive = link(me, Check::StartTime(start));
        assert!(alive.is_alive());
        let err = alive
            .join(Deadline::after(Duration::from_millis(30)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // Another process now has that pid: the parent ended.
        let reused = link(me, Check::StartTime(start + 1));
        assert!(!reused.is_alive());
        reused.join(Deadline::after(Duration::ZERO)).unwrap();
    }

    #[test]
    fn a_link_opened_after_the_parent_ended_says_so() {
        let info = ParentInfo {
            name: "Gone".into(),
            pid: os::getpid(),
            check: Check::OsParent,
            object: OnceLock::new(),
        };
        let link = Link::open(&info);
        assert!(!link.is_alive());
        assert_eq!(link.sentinel(), -1);
        assert_eq!(link.pid(), os::getpid());
    }
}
