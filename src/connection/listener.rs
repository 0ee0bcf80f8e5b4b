//! `Listener` and `Client` (Python's `multiprocessing.connection`): connections between
//! unrelated processes, on this machine or across machines, with the optional
//! authentication of [`super::auth`].

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex, RwLock};

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

    /// Waits for a connection until `deadline` and authenticates it. A failed handshake
    /// (`Auth`, `Timeout` past the handshake deadline, `Protocol`) drops that connection;
    /// the listener stays usable.
    pub fn accept(&self, deadline: Deadline) -> Result<Arc<Connection>> {
        let guard = self.fd.read().unwrap_or_else(|p| p.into_inner());
        let Some(fd) = guard.as_ref() else {
            return Err(Error::new(
                crate::error::ErrorKind::Closed,
                "the listener is closed",
            ));
        };
        let mut accepted = None;
        deadline::block_until_with(
            deadline,
            Interrupts::Honour,
            || {
                if self.closing.load(Relaxed) {
                    return Err(Error::new(
                        crate::error::ErrorKind::Closed,
                        "the listener is closed",
                    ));
                }
                accepted = socket::accept(fd.as_fd()).map_err(|e| Error::os("accept", e))?;
                Ok(accepted.is_some())
            },
            |slice| {
                crate::sys::poll::poll(&[fd.as_raw_fd()], libc::POLLIN, slice, None)
                    .map(drop)
                    .map_err(|e| Error::os("poll", e))
            },
        )?;
        drop(guard);
        let (conn_fd, peer) = accepted.expect("block_until returned ready");
        let conn = Connection::from_fd(conn_fd, true, true);
        if let Some(key) = &self.authkey {
            auth::as_server(&conn, key, Deadline::after(auth::DEFAULT_TIMEOUT))
                .map_err(|e| e.context("handshake"))?;
        }
        let peer = peer
            .map(|p| address::format(&p))
            .and_then(|p| CString::new(p).ok());
        *self.last_accepted.lock().unwrap_or_else(|p| p.into_inner()) = peer;
        Ok(conn)
    }

    /// Stops listening and removes a unix socket file this process bound. Twice is fine.
    pub fn close(&self) {
        self.closing.store(true, SeqCst);
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
