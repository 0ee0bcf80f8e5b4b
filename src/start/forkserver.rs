//! The forkserver start method: a server process, spawned once per process that asks
//! for it, single-threaded, forks every child and runs its payload there; a threaded
//! parent never forks.
//!
//! The parent talks to it over a packet socket: each request is one packet carrying
//! descriptors only: the payload's memfd, the parent's end of a status socket, then the
//! descriptors the payload names. The server forks, writes the child's pid on the status
//! socket, and its exit code (Python's convention) once it has reaped it; the parent
//! watches the child by that socket (its sentinel) and signals it through a pidfd. The
//! server ends when the parent's end closes: when the parent exits, however it ends, so
//! a daemonic child (its parent-death signal set for the server) dies with it.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::child::Receive;
use super::passing::Outbox;
use super::payload::Payload;
use crate::deadline::{self, Deadline};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::child::{Child, Watch};
use crate::sys::fork::{self, Forked};
use crate::sys::socket::{self, Received};

/// `argv[1]` of the forkserver; `argv[2]` is its end of the request socket.
pub(crate) const SERVER: &CStr = c"--processing-forkserver";

/// How long a start waits for the server to report the child's pid.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// This process's forkserver, once started.
struct Server {
    pid: libc::pid_t,
    requests: OwnedFd,
    /// The server is this process's child.
    child: Child,
}

static SERVER_STATE: Mutex<Option<Server>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Server>> {
    SERVER_STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the child `payload` describes through this process's forkserver (started
/// first if need be, again if it ended): its pid and how it is watched.
pub(crate) fn start(mut payload: Payload, outbox: &mut Outbox) -> Result<(libc::pid_t, Child)> {
    let mut server = lock();
    if server
        .as_ref()
        .is_none_or(|s| s.child.try_reap().map_or(true, |r| r.is_some()))
    {
        *server = Some(launch()?);
    }
    let running = server.as_ref().expect("launched above");
    if outbox.fds().len() + 2 > socket::MAX_FDS {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "{} descriptors to pass: a start through the forkserver carries at most {}",
                outbox.fds().len(),
                socket::MAX_FDS - 2
            ),
        ));
    }
    payload.parent = running.pid;
    let file = crate::sys::spawn::file_with(&payload.encode())
        .map_err(|e| Error::os("memfd_create for the start payload", e))?;
    let (status, theirs) = socket::socketpair().map_err(|e| Error::os("socketpair", e))?;
    let mut fds = vec![file.as_fd(), theirs.as_fd()];
    // SAFETY: the outbox's descriptors stay open until this start returns (its contract).
    fds.extend(
        outbox
            .fds()
            .iter()
            .map(|fd| unsafe { BorrowedFd::borrow_raw(*fd) }),
    );
    if let Err(err) = socket::send_fds(running.requests.as_fd(), b"s", &fds) {
        // The server is gone: the next start launches another.
        *server = None;
        return Err(Error::os("sending a start to the forkserver", err));
    }
    // Only the server holds its end of the status socket now, so a server that dies
    // before writing reads as end-of-file here.
    drop(fds);
    drop(theirs);
    let pid = read_code(status.as_fd(), Deadline::after(START_TIMEOUT))
        .map_err(|e| e.context("the forkserver did not start the child"))?;
    let child = Child::reported(pid, status).map_err(|e| Error::os("pidfd_open", e))?;
    Ok((pid, child))
}

/// Spawns the forkserver: this program again, which `pc_freeze_support` makes the server.
fn launch() -> Result<Server> {
    let (requests, theirs) = socket::packet_pair().map_err(|e| Error::os("socketpair", e))?;
    let watch = Watch::prepare().map_err(|e| Error::os("socketpair", e))?;
    let mut keep = vec![theirs.as_raw_fd()];
    keep.extend(watch.child_end().map(|end| end.as_raw_fd()));
    let (pid, child) = super::exec_self(SERVER, &keep, watch, "the forkserver")?;
    log::debug!("forkserver started (pid {pid})");
    Ok(Server {
        pid,
        requests,
        child,
    })
}

/// Reads one exit code or pid (a native `i32`) from a status socket by `deadline`.
fn read_code(fd: BorrowedFd<'_>, deadline: Deadline) -> Result<i32> {
    let mut bytes = [0u8; 4];
    let mut got = 0;
    deadline::block_until(
        deadline,
        || match socket::recv(fd, &mut bytes[got..]) {
            Ok(Received::Bytes(n)) => {
                got += n;
                Ok(got == bytes.len())
            }
            Ok(Received::Nothing) => Ok(false),
            Ok(Received::Eof) => Err(Error::new(
                crate::error::ErrorKind::Eof,
                "the forkserver ended",
            )),
            Err(err) => Err(Error::os("recv from the forkserver", err)),
        },
        |slice| {
            crate::sys::poll::poll(&[fd.as_raw_fd()], libc::POLLIN, slice, None)
                .map(drop)
                .map_err(|e| Error::os("poll", e))
        },
    )?;
    Ok(i32::from_ne_bytes(bytes))
}

/// At this process's exit, after its children were joined: the server's requests end,
/// so it leaves; it is reaped if it does so promptly.
pub(crate) fn stop() {
    let Some(server) = lock().take() else {
        return;
    };
    drop(server.requests);
    let deadline = Deadline::after(Duration::from_secs(1));
    let _ = deadline::block_until(
        deadline,
        || {
            server
                .child
                .try_reap()
                .map(|r| r.is_some())
                .map_err(|e| Error::os("waitid", e))
        },
        |slice| {
            crate::sys::poll::poll(&[server.child.fd().as_raw_fd()], libc::POLLIN, slice, None)
                .map(drop)
                .map_err(|e| Error::os("poll", e))
        },
    );
}

/// In a forked child: the parent's server is the parent's; this one starts its own.
pub(crate) fn after_fork_in_child() {
    if let Some(server) = lock().take() {
        // Not reaped here: the server is the parent's child.
        std::mem::forget(server.child);
        drop(server.requests);
    }
}

/// The server: forks a child for each request on `requests` and reports its pid and
/// exit code, until the parent's end closes. Never returns.
pub(crate) fn serve(requests: OwnedFd, receive: Receive) -> ! {
    crate::sys::signal::ignore_sigint();
    let signals = match crate::sys::signal::child_signals() {
        Ok(fd) => fd,
        Err(err) => fork::exit_now(report("signalfd", &err)),
    };
    // Each child's status socket, until its exit code is written.
    let mut children: HashMap<libc::pid_t, OwnedFd> = HashMap::new();
    let fds = [requests.as_raw_fd(), signals.as_raw_fd()];
    loop {
        let mut ready = [false; 2];
        if let Err(err) = crate::sys::poll::poll(
            &fds,
            libc::POLLIN,
            Duration::from_secs(3600),
            Some(&mut ready),
        ) {
            fork::exit_now(report("poll", &err));
        }
        if ready[1] {
            crate::sys::signal::drain_signals(signals.as_fd());
            while let Ok(Some((pid, code))) = crate::sys::child::reap_any() {
                if let Some(status) = children.remove(&pid) {
                    let _ = socket::send(
                        status.as_fd(),
                        &[std::io::IoSlice::new(&code.to_ne_bytes())],
                    );
                }
            }
        }
        if !ready[0] {
            continue;
        }
        let mut byte = [0u8; 1];
        match socket::recv_fds(requests.as_fd(), &mut byte) {
            Ok(None) => fork::exit_now(0),
            Ok(Some((Received::Bytes(_), fds))) if fds.len() >= 2 => {
                let mut fds = fds.into_iter();
                let (file, status) = (fds.next().expect("2"), fds.next().expect("2"));
                match fork::fork() {
                    Ok(Forked::Child) => {
                        drop((requests, signals, children, status));
                        crate::sys::signal::unblock_all();
                        super::child::run_from_file(file, fds.collect(), receive)
                    }
                    Ok(Forked::Parent(pid)) => {
                        let sent = socket::send(
                            status.as_fd(),
                            &[std::io::IoSlice::new(&pid.to_ne_bytes())],
                        );
                        if sent.is_ok() {
                            children.insert(pid, status);
                        }
                    }
                    // The parent reads end-of-file instead of a pid.
                    Err(err) => {
                        report("fork", &err);
                    }
                }
            }
            Ok(Some(_)) => {}
            Err(err) => fork::exit_now(report("recvmsg", &err)),
        }
    }
}

/// Writes why the server failed to standard error; the exit code to leave with.
fn report(what: &str, err: &std::io::Error) -> i32 {
    let message = format!("libprocessing: forkserver: {what}: {err}\n");
    let _ = crate::sys::io::write_stderr(message.as_bytes());
    1
}
