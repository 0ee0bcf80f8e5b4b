//! A listener's handshakes, run at once, each on its own thread: a peer that is slow or
//! silent (it may hold its handshake for the whole deadline) does not hold the accept of
//! the peers behind it. Finished handshakes, passed or failed, wait in order of finishing
//! for `Listener::accept` to hand them out; a wake socket tells its poll that one did.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{auth, Connection};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::sys::socket;

/// Handshakes under way at once; more connections wait in the kernel's backlog.
pub(super) const MAX_RUNNING: usize = 1024;
/// Stack of a handshake's thread: an HMAC and messages of at most 256 bytes.
const THREAD_STACK: usize = 128 * 1024;
/// How long `close` waits for the handshakes it cut short to let go of their sockets.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// An authenticated connection and its peer's address.
pub(super) type Accepted = (Arc<Connection>, Option<CString>);

pub(super) struct Handshakes {
    /// The process whose threads run these handshakes: a forked child has none of them.
    owner: libc::pid_t,
    state: Mutex<State>,
    /// Signalled when a handshake ends (for `close`).
    ended: Condvar,
    /// Readable while `finished` may hold something.
    wake_rx: OwnedFd,
    wake_tx: OwnedFd,
}

#[derive(Default)]
struct State {
    /// The connections whose handshake is under way, by a serial number.
    running: HashMap<u64, Arc<Connection>>,
    serial: u64,
    finished: VecDeque<Result<Accepted>>,
    closed: bool,
}

impl Handshakes {
    pub(super) fn new() -> Result<Arc<Handshakes>> {
        let (wake_rx, wake_tx) = socket::socketpair().map_err(|e| Error::os("socketpair", e))?;
        Ok(Arc::new(Handshakes {
            owner: crate::sys::process::getpid(),
            state: Mutex::new(State::default()),
            ended: Condvar::new(),
            wake_rx,
            wake_tx,
        }))
    }

    /// Whether this process runs these handshakes (it is not a child forked since).
    pub(super) fn are_ours(&self) -> bool {
        self.owner == crate::sys::process::getpid()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fd to poll for finished handshakes.
    pub(super) fn wake_fd(&self) -> RawFd {
        self.wake_rx.as_raw_fd()
    }

    /// Whether another handshake may start.
    pub(super) fn has_room(&self) -> bool {
        self.lock().running.len() < MAX_RUNNING
    }

    /// The first finished handshake, if any.
    pub(super) fn take_finished(&self) -> Option<Result<Accepted>> {
        let mut state = self.lock();
        let next = state.finished.pop_front();
        if state.finished.is_empty() {
            // Drained under the lock that pushes: the socket is readable again only for
            // a handshake that finishes after this.
            let mut bytes = [0u8; 64];
            while let Ok(socket::Received::Bytes(_)) =
                socket::recv(self.wake_rx.as_fd(), &mut bytes)
            {}
        }
        next
    }

    /// Starts the server side of the handshake on `fd`, on a thread of its own.
    pub(super) fn start(self: &Arc<Self>, fd: OwnedFd, peer: Option<CString>, key: &[u8]) {
        let conn = Connection::from_fd(fd, true, true);
        let serial = {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            state.serial += 1;
            let serial = state.serial;
            state.running.insert(serial, Arc::clone(&conn));
            serial
        };
        let this = Arc::clone(self);
        let key = key.to_vec();
        let spawned = crate::sys::thread::spawn_sized("pc-handshake", THREAD_STACK, move || {
            let outcome = auth::as_server(&conn, &key, Deadline::after(auth::DEFAULT_TIMEOUT))
                .map(|()| (conn, peer))
                .map_err(|e| e.context("handshake"));
            this.finish(serial, outcome);
        });
        if let Err(e) = spawned {
            self.finish(serial, Err(Error::os("no thread for a handshake", e)));
        }
    }

    fn finish(&self, serial: u64, outcome: Result<Accepted>) {
        let mut state = self.lock();
        state.running.remove(&serial);
        if !state.closed {
            state.finished.push_back(outcome);
            // Sends without blocking; a full socket is readable already.
            let _ = socket::send(self.wake_tx.as_fd(), &[IoSlice::new(&[1])]);
        }
        drop(state);
        self.ended.notify_all();
    }

    /// Drops the finished handshakes and cuts the running ones short (their peers see
    /// the connection end), waiting a little for their threads to let go of the sockets.
    pub(super) fn close(&self) {
        let running: Vec<Arc<Connection>> = {
            let mut state = self.lock();
            state.closed = true;
            state.finished.clear();
            state.running.values().cloned().collect()
        };
        for conn in running {
            conn.shutdown();
        }
        let state = self.lock();
        let _ = self
            .ended
            .wait_timeout_while(state, CLOSE_WAIT, |s| !s.running.is_empty());
    }
}
