//! A forked child as its parent watches it: by a pidfd where the kernel has them, else by
//! a socket whose other end only the child holds; signalled, and reaped with `waitid`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitOptions};

/// How the parent will watch a child it is about to fork: chosen before the fork, since
/// the pipe of the fallback must exist in both processes.
pub(crate) enum Watch {
    /// A pidfd, opened after the fork.
    Pidfd,
    /// Where `pidfd_open` does not exist (kernels before 5.3, or valgrind, which does
    /// not know the call): a connected pair whose `write` end only the child keeps, so
    /// its `read` end reads end-of-file once the child ended (Python's sentinel).
    Pipe { read: OwnedFd, write: OwnedFd },
}

/// This process's own write end of the pipe its parent watches it with (-1: none); a
/// child it forks closes it, or the parent would see this process end only after the
/// child.
static OWN_PIPE_END: AtomicI32 = AtomicI32::new(-1);

impl Watch {
    /// Before a fork.
    pub(crate) fn prepare() -> io::Result<Watch> {
        if pidfds_work() {
            return Ok(Watch::Pidfd);
        }
        // A socket pair rather than a pipe: once the child's end closes, the parent's end
        // polls readable (POLLIN, like a pidfd), where a pipe's would poll only POLLHUP.
        let (read, write) = super::socket::socketpair()?;
        Ok(Watch::Pipe { read, write })
    }

    /// In the child after the fork: keeps its write end for life (and drops the one of
    /// its own parent's pipe).
    pub(crate) fn in_child(self) {
        if let Watch::Pipe { read, write } = self {
            drop(read);
            let inherited = OWN_PIPE_END.swap(write.into_raw_fd(), SeqCst);
            if inherited >= 0 {
                // SAFETY: the fd was this process's parent's own pipe end, inherited and
                // used by nothing here: dropping it closes it.
                drop(unsafe { OwnedFd::from_raw_fd(inherited) });
            }
        }
    }

    /// In the parent after the fork.
    pub(crate) fn in_parent(self, pid: libc::pid_t) -> io::Result<Child> {
        let pid = super::process::pid(pid).ok_or(Errno::INVAL)?;
        match self {
            Watch::Pidfd => Ok(Child {
                pid,
                fd: rustix::process::pidfd_open(pid, PidfdFlags::empty())?,
                pidfd: true,
            }),
            Watch::Pipe { read, write } => {
                drop(write);
                Ok(Child {
                    pid,
                    fd: read,
                    pidfd: false,
                })
            }
        }
    }
}

/// Whether `pidfd_open` works here (asked once per process).
fn pidfds_work() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let me = rustix::process::getpid();
        !matches!(
            rustix::process::pidfd_open(me, PidfdFlags::empty()),
            Err(Errno::NOSYS)
        )
    })
}

/// Checks (every 200 µs) for an exiting child to become reapable: 100 ms in all.
const EXITING_CHECKS: u32 = 500;

/// A started child, as its parent watches it.
pub(crate) struct Child {
    pid: Pid,
    /// Readable once the child ended: its pidfd (close-on-exec, a race-free handle for
    /// signals and reaping), or the read end of its [`Watch::Pipe`].
    fd: OwnedFd,
    pidfd: bool,
}

impl Child {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reaps the child if it has ended: `Ok(None)` while it runs.
    pub(crate) fn try_reap(&self) -> io::Result<Option<ExitCode>> {
        if self.pidfd {
            return wait_child(WaitId::PidFd(self.fd.as_fd()));
        }
        let reaped = wait_child(WaitId::Pid(self.pid))?;
        let fd = [self.fd.as_raw_fd()];
        let exiting = super::poll::poll(&fd, libc::POLLIN, Duration::ZERO, None)?;
        if reaped.is_some() || !exiting {
            return Ok(reaped);
        }
        // The child's end closed: it is exiting, and becomes reapable a moment after its
        // files are closed. Wait for that moment (bounded: a child that closed the socket
        // itself and lives on must not hang us).
        for _ in 0..EXITING_CHECKS {
            std::thread::sleep(Duration::from_micros(200));
            if let Some(code) = wait_child(WaitId::Pid(self.pid))? {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    /// Sends `sig` to the child (not reaped yet, so its pid is still its own). A child
    /// that already ended is not an error.
    pub(crate) fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        let sig = Signal::from_named_raw(sig).ok_or(Errno::INVAL)?;
        let sent = match self.pidfd {
            true => rustix::process::pidfd_send_signal(&self.fd, sig),
            false => rustix::process::kill_process(self.pid, sig),
        };
        match sent {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

/// How a reaped child ended, in Python's convention: the exit status (0–255), or `-N`
/// when signal N killed it.
pub(crate) type ExitCode = i32;

/// `waitid(id, WEXITED | WNOHANG)`: the exit code of a child that ended (now reaped),
/// `Ok(None)` while it runs.
fn wait_child(id: WaitId<'_>) -> io::Result<Option<ExitCode>> {
    let status = rustix::process::waitid(id, WaitIdOptions::EXITED | WaitIdOptions::NOHANG)?;
    Ok(status.map(|status| match status.exit_status() {
        Some(code) => code,
        // Killed, or killed and dumped core: the only other ways to end.
        None => -status.terminating_signal().unwrap_or(0),
    }))
}

/// Kills and reaps a child we could not get a pidfd for, so it leaves no zombie.
pub(crate) fn kill_and_reap(pid: libc::pid_t) {
    let Some(pid) = super::process::pid(pid) else {
        return;
    };
    // `pid` is our own child, not yet reaped, so the pid cannot have been reused.
    let _ = rustix::process::kill_process(pid, Signal::KILL);
    while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), WaitOptions::empty()) {}
}
