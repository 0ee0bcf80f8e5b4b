//! A forked child as its parent watches it: by a pidfd where the kernel has them, else by
//! a socket whose other end only the child holds; signalled, and reaped with `waitid`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

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
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors socketpair returns.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us these fds; nobody else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
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
                // used by nothing here.
                unsafe { libc::close(inherited) };
            }
        }
    }

    /// In the parent after the fork.
    pub(crate) fn in_parent(self, pid: libc::pid_t) -> io::Result<Child> {
        match self {
            Watch::Pidfd => Ok(Child {
                pid,
                fd: pidfd_open(pid)?,
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
    *WORKS.get_or_init(|| match pidfd_open(super::process::getpid()) {
        Ok(_) => true,
        Err(err) => err.raw_os_error() != Some(libc::ENOSYS),
    })
}

/// Checks (every 200 µs) for an exiting child to become reapable: 100 ms in all.
const EXITING_CHECKS: u32 = 500;

/// A started child, as its parent watches it.
pub(crate) struct Child {
    pid: libc::pid_t,
    /// Readable once the child ended: its pidfd, or the read end of its [`Watch::Pipe`].
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
            return wait_child(libc::P_PIDFD, self.fd.as_raw_fd() as libc::id_t);
        }
        let reaped = wait_child(libc::P_PID, self.pid as libc::id_t)?;
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
            if let Some(code) = wait_child(libc::P_PID, self.pid as libc::id_t)? {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    /// Sends `sig` to the child (not reaped yet, so its pid is still its own). A child
    /// that already ended is not an error.
    pub(crate) fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        let rc: libc::c_long = if self.pidfd {
            // SAFETY: pidfd_send_signal with a NULL siginfo behaves like kill(2).
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    self.fd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            }
        } else {
            // SAFETY: kill takes a pid and a signal number.
            libc::c_long::from(unsafe { libc::kill(self.pid, sig) })
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                return Err(err);
            }
        }
        Ok(())
    }
}

/// A pidfd for child `pid` (always close-on-exec): readable once the child ended, and a
/// race-free handle for signals and reaping.
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// How a reaped child ended, in Python's convention: the exit status (0–255), or `-N`
/// when signal N killed it.
pub(crate) type ExitCode = i32;

/// `waitid(idtype, id, WEXITED | WNOHANG)`: the exit code of a child that ended (now
/// reaped), `Ok(None)` while it runs.
fn wait_child(idtype: libc::idtype_t, id: libc::id_t) -> io::Result<Option<ExitCode>> {
    // SAFETY: a zeroed siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid siginfo_t.
    let rc = unsafe { libc::waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid succeeded, so si_pid/si_status are the SIGCHLD fields.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => status,
        _ => -status,
    }))
}

/// Kills and reaps a child we could not get a pidfd for, so it leaves no zombie.
pub(crate) fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: `pid` is our own child, not yet reaped, so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
    }
}
