//! `Listener` and `Client` (Python's `multiprocessing.connection`): connections between
//! unrelated processes, on this machine or across machines, with the optional
//! authentication of [`super::auth`].

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex, RwLock};

use super::handshakes::{Accepted, Handshakes};
use super::{address, auth, Connection};
use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, Result};
use crate::sys::socket::{self, Address};

/// A listening socket that accepts authenticated connections.
pub struct Listener {
    /// `None` once closed.
    fd: RwLock<Option<OwnedFd>>,
    closing: AtomicBool,
    bound: Address,
    address: CString,
    authkey: Option<Vec<u8>>,
    last_accepted: Mutex<Option<CString>>,
    /// This process's handshakes: a forked child starts its own (see `handshakes`).
    handshakes: Mutex<Arc<Handshakes>>,
    /// Only the process that bound a unix socket file removes it.
    creator: libc::pid_t,
}

/// The authkey argument: `None` or empty means no authentication, as in Python.
fn key(authkey: Option<&[u8]>) -> Option<Vec<u8>> {
    authkey.filter(|k| !k.is_empty()).map(<[u8]>::to_vec)
}

impl Listener {
    /// Binds and listens on `address` (a fresh private unix name when `None`).
    pub fn new(
        address: Option<&str>,
        backlog: i32,
        authkey: Option<&[u8]>,
    ) -> Result<Arc<Listener>> {
        let bound = match address {
            Some(text) => address::parse(text)?,
            None => address::fresh_private(),
        };
        let fd = socket::listen(&bound, backlog.max(1)).map_err(|e| Error::os("bind/listen", e))?;
        // The port 0 of a TCP address becomes the one the kernel picked.
        let bound = socket::local_address(fd.as_fd())
            .map_err(|e| Error::os("getsockname", e))?
            .filter(|_| matches!(bound, Address::Inet(_)))
            .unwrap_or(bound);
        let text = CString::new(address::format(&bound))
            .map_err(|_| Error::invalid_argument("address contains a NUL byte"))?;
        Ok(Arc::new(Listener {
            fd: RwLock::new(Some(fd)),
            closing: AtomicBool::new(false),
            bound,
            address: text,
            authkey: key(authkey),
            last_accepted: Mutex::new(None),
            handshakes: Mutex::new(Handshakes::new()?),
            creator: crate::sys::process::getpid(),
        }))
    }

    /// The bound address, as a string valid while the listener lives.
    pub fn address(&self) -> &CString {
        &self.address
    }

    /// The peer address of the last accepted connection (valid until the next accept).
    pub fn last_accepted(&self) -> Option<*const libc::c_char> {
        self.last_accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.as_ptr())
    }

    /// Waits until `deadline` for a connection and authenticates it. Handshakes run at
    /// once on their own threads (`super::handshakes`): this returns the first to finish,
    /// so a slow peer holds nobody else's. A failed handshake (`Auth`, `Timeout` past the
    /// handshake deadline, `Protocol`) is returned by one accept, with that connection
    /// dropped; the listener stays usable.
    pub fn accept(&self, deadline: Deadline) -> Result<Arc<Connection>> {
        let guard = self.fd.read().unwrap_or_else(|p| p.into_inner());
        let Some(fd) = guard.as_ref() else {
            return Err(closed());
        };
        let handshakes = self.handshakes()?;
        let mut outcome = None;
        deadline::block_until_with(
            deadline,
            Interrupts::Honour,
            || {
                if self.closing.load(Relaxed) {
                    return Err(closed());
                }
                outcome = self.next_accepted(fd.as_fd(), &handshakes)?;
                Ok(outcome.is_some())
            },
            |slice| {
                let both = [fd.as_raw_fd(), handshakes.wake_fd()];
                // At the limit of handshakes, new connections wait in the backlog.
                let fds = if handshakes.has_room() {
                    &both[..]
                } else {
                    &both[1..]
                };
                crate::sys::poll::poll(fds, libc::POLLIN, slice, None)
                    .map(drop)
                    .map_err(|e| Error::os("poll", e))
            },
        )?;
        drop(guard);
        let (conn, peer) = outcome.expect("block_until returned ready")?;
        *self.last_accepted.lock().unwrap_or_else(|p| p.into_inner()) = peer;
        Ok(conn)
    }

    /// A finished handshake, or (without a key) a new connection; meanwhile starts the
    /// handshakes of the connections waiting in the backlog.
    fn next_accepted(
        &self,
        fd: BorrowedFd<'_>,
        handshakes: &Arc<Handshakes>,
    ) -> Result<Option<Result<Accepted>>> {
        let Some(key) = &self.authkey else {
            let accepted = socket::accept(fd).map_err(|e| Error::os("accept", e))?;
            return Ok(accepted
                .map(|(conn, peer)| Ok((Connection::from_fd(conn, true, true), peer_text(peer)))));
        };
        while handshakes.has_room() {
            match socket::accept(fd).map_err(|e| Error::os("accept", e))? {
                Some((conn, peer)) => handshakes.start(conn, peer_text(peer), key),
                None => break,
            }
        }
        Ok(handshakes.take_finished())
    }

    /// This process's handshakes. A child forked from the process that ran them has none
    /// of their threads (and their lock may have been held at the fork): it starts anew,
    /// and the parent's finished and running handshakes stay the parent's.
    fn handshakes(&self) -> Result<Arc<Handshakes>> {
        let mut handshakes = self.handshakes.lock().unwrap_or_else(|p| p.into_inner());
        if !handshakes.are_ours() {
            // Never locked nor closed here: dropping the inherited one only closes this
            // process's copies of its sockets.
            *handshakes = Handshakes::new()?;
        }
        Ok(Arc::clone(&handshakes))
    }

    /// Stops listening and removes a unix socket file this process bound. Twice is fine.
    pub fn close(&self) {
        self.closing.store(true, SeqCst);
        let handshakes = Arc::clone(&self.handshakes.lock().unwrap_or_else(|p| p.into_inner()));
        if handshakes.are_ours() {
            handshakes.close();
        }
        if self
            .fd
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some()
        {
            self.remove_file();
        }
    }

    fn remove_file(&self) {
        if let Address::Path(path) = &self.bound {
            if self.creator == crate::sys::process::getpid() {
                // Already gone is fine: someone removed it by hand.
                let _ = socket::unlink(path);
            }
        }
    }
}

fn closed() -> Error {
    Error::new(crate::error::ErrorKind::Closed, "the listener is closed")
}

/// A peer's address as `last_accepted` reports it.
fn peer_text(peer: Option<Address>) -> Option<CString> {
    peer.map(|p| address::format(&p))
        .and_then(|p| CString::new(p).ok())
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

/// Connects to a listener at `address` (Python's `Client`), authenticating with
/// `authkey` when one is given; connecting and the handshake share one deadline.
pub fn connect(address: &str, authkey: Option<&[u8]>) -> Result<Arc<Connection>> {
    connect_with(address, key(authkey).as_deref())
}

/// Connects and always authenticates, even with an empty key (as a manager's clients do).
pub fn connect_authenticated(address: &str, authkey: &[u8]) -> Result<Arc<Connection>> {
    connect_with(address, Some(authkey))
}

fn connect_with(address: &str, authkey: Option<&[u8]>) -> Result<Arc<Connection>> {
    let target = address::parse(address)?;
    let deadline = Deadline::after(auth::DEFAULT_TIMEOUT);
    let fd = socket::connect_start(&target)
        .map_err(|e| Error::os(&format!("connect to {address}"), e))?;
    super::poll_until(
        &[fd.as_raw_fd()],
        libc::POLLOUT,
        deadline,
        Interrupts::Honour,
        None,
        false,
        || Ok(()),
    )
    .map_err(|e| e.context(format!("connect to {address}")))?;
    socket::connect_result(fd.as_fd())
        .map_err(|e| Error::os(&format!("connect to {address}"), e))?;
    let conn = Connection::from_fd(fd, true, true);
    if let Some(key) = authkey {
        auth::as_client(&conn, key, deadline).map_err(|e| e.context("handshake"))?;
    }
    Ok(conn)
}
