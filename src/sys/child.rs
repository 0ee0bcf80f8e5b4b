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
            keep_watched_end(write);
        }
    }

    /// The end a child started by `exec` must keep (see [`keep_watched_end`]), if any.
    pub(crate) fn child_end(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Watch::Pidfd => None,
            Watch::Pipe { write, .. } => Some(write.as_fd()),
        }
    }

    /// In the parent after the fork.
    /// A child that cannot be watched (no pidfd: out of descriptors) is killed and
    /// reaped, so that it leaves no zombie.
    pub(crate) fn in_parent(self, pid: libc::pid_t) -> io::Result<Child> {
        let child = super::process::pid(pid).ok_or(Errno::INVAL)?;
        match self {
            Watch::Pidfd => match rustix::process::pidfd_open(child, PidfdFlags::empty()) {
                Ok(fd) => Ok(Child {
                    pid: child,
                    fd,
                    how: How::Pidfd,
                }),
                Err(err) => {
                    kill_and_reap(pid);
                    Err(err.into())
                }
            },
            Watch::Pipe { read, write } => {
                drop(write);
                Ok(Child {
                    pid: child,
                    fd: read,
                    how: How::Pipe,
                })
            }
        }
    }
}

/// In a child: keeps `end`, the end of the socket its parent watches it by, open for life
/// (and closes the one of its own parent's, inherited by a fork).
pub(crate) fn keep_watched_end(end: OwnedFd) {
    let inherited = OWN_PIPE_END.swap(end.into_raw_fd(), SeqCst);
    if inherited >= 0 {
        // SAFETY: the fd was this process's parent's own pipe end, inherited and used by
        // nothing here: dropping it closes it.
        drop(unsafe { OwnedFd::from_raw_fd(inherited) });
    }
}

/// A pidfd of any process (close-on-exec), for its end to be polled: `None` where pidfds
/// do not exist here, or when no process has that pid now.
pub(crate) fn pidfd_of(pid: libc::pid_t) -> io::Result<Option<OwnedFd>> {
    let Some(pid) = super::process::pid(pid) else {
        return Ok(None);
    };
    if !pidfds_work() {
        return Ok(None);
    }
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::SRCH) => Ok(None),
        Err(err) => Err(err.into()),
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
    /// signals and reaping), the read end of its [`Watch::Pipe`], or the status socket
    /// of a child another process forked for us.
    fd: OwnedFd,
    how: How,
}

/// How a child is watched and reaped.
enum How {
    /// `fd` is its pidfd.
    Pidfd,
    /// `fd` is a [`Watch::Pipe`]'s read end; reaped by pid.
    Pipe,
    /// Forked by a server process, which reaps it and writes its exit code on `fd`; a
    /// pidfd for signals where the kernel has them.
    Reported { pidfd: Option<OwnedFd> },
}

impl Child {
    /// A child that another process (a forkserver) forked for this one as `pid`, and
    /// whose exit code it writes on `status` (a native `i32`) once it reaped it.
    pub(crate) fn reported(pid: libc::pid_t, status: OwnedFd) -> io::Result<Child> {
        let pid = super::process::pid(pid).ok_or(Errno::INVAL)?;
        let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Some(fd),
            // Already ended (and reaped by its parent), or no pidfds here: signalled by pid.
            Err(Errno::SRCH | Errno::NOSYS) => None,
            Err(err) => return Err(err.into()),
        };
        Ok(Child {
            pid,
            fd: status,
            how: How::Reported { pidfd },
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reaps the child if it has ended: `Ok(None)` while it runs.
    pub(crate) fn try_reap(&self) -> io::Result<Option<ExitCode>> {
        match self.how {
            How::Pidfd => return wait_child(WaitId::PidFd(self.fd.as_fd())),
            How::Reported { .. } => return self.reported_code(),
            How::Pipe => {}
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
        let sent = match &self.how {
            How::Pidfd => rustix::process::pidfd_send_signal(&self.fd, sig),
            How::Reported { pidfd: Some(pidfd) } => rustix::process::pidfd_send_signal(pidfd, sig),
            How::Reported { pidfd: None } if self.reported_ended()? => Ok(()),
            How::Pipe | How::Reported { .. } => rustix::process::kill_process(self.pid, sig),
        };
        match sent {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

impl Child {
    /// The exit code a server wrote, if it has; a server that ended without writing it
    /// leaves 255 (Python's forkserver does so too).
    fn reported_code(&self) -> io::Result<Option<ExitCode>> {
        let mut code = [0u8; 4];
        let mut got = 0;
        while got < code.len() {
            match super::socket::recv(self.fd.as_fd(), &mut code[got..])? {
                super::socket::Received::Bytes(n) => got += n,
                super::socket::Received::Eof => return Ok(Some(255)),
                // Written in one send: either all four bytes are there, or none yet.
                super::socket::Received::Nothing if got == 0 => return Ok(None),
                super::socket::Received::Nothing => std::thread::yield_now(),
            }
        }
        Ok(Some(i32::from_ne_bytes(code)))
    }

    /// Whether the server reported the end (a peek: the code stays for `try_reap`).
    fn reported_ended(&self) -> io::Result<bool> {
        super::poll::poll(&[self.fd.as_raw_fd()], libc::POLLIN, Duration::ZERO, None)
    }
}

/// How a reaped child ended, in Python's convention: the exit status (0–255), or `-N`
/// when signal N killed it.
pub(crate) type ExitCode = i32;

/// `waitid(id, WEXITED | WNOHANG)`: the exit code of a child that ended (now reaped),
/// `Ok(None)` while it runs.
fn wait_child(id: WaitId<'_>) -> io::Result<Option<ExitCode>> {
    let status = rustix::process::waitid(id, WaitIdOptions::EXITED | WaitIdOptions::NOHANG)?;
    Ok(status.map(|status| exit_code(status.exit_status(), status.terminating_signal())))
}

/// An ended child's exit code from its status's exit status or terminating signal.
fn exit_code(status: Option<i32>, signal: Option<i32>) -> ExitCode {
    // Killed, or killed and dumped core: the only other ways to end.
    status.unwrap_or_else(|| -signal.unwrap_or(0))
}

/// Kills and reaps a child we could not get a pidfd for, so it leaves no zombie.
fn kill_and_reap(pid: libc::pid_t) {
    let Some(pid) = super::process::pid(pid) else {
        return;
    };
    // `pid` is our own child, not yet reaped, so the pid cannot have been reused.
    let _ = rustix::process::kill_process(pid, Signal::KILL);
    while let Err(Errno::INTR) = rustix::process::waitpid(Some(pid), WaitOptions::empty()) {}
}

/// Reaps one child of this process that ended, any of them (`waitpid(-1, WNOHANG)`): for
/// a process whose every child is the library's (the forkserver), never for a program's.
pub(crate) fn reap_any() -> io::Result<Option<(libc::pid_t, ExitCode)>> {
    match rustix::process::wait(WaitOptions::NOHANG) {
        Ok(Some((pid, status))) => {
            let code = exit_code(status.exit_status(), status.terminating_signal());
            Ok(Some((pid.as_raw_nonzero().get(), code)))
        }
        Ok(None) | Err(Errno::CHILD) => Ok(None),
        Err(Errno::INTR) => reap_any(),
        Err(err) => Err(err.into()),
    }
}
