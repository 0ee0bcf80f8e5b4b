//! Connections (Python's `Connection`): message passing over a stream socket, framed as
//! `multiprocessing.connection` frames them, so a C program and a Python program can
//! talk. Pipes are socketpairs (one-way ones are flagged, not shut down, so that either
//! end may be handed to a forked child).
//!
//! Every blocking step is a deadline-bounded poll loop (see `crate::deadline`). A receive or
//! send can be interrupted (`pc_interrupt()`) or time out only at a message boundary;
//! once a message is under way it is completed, or the connection is closed — a half
//! message is never delivered and never left behind for the next call. Memory grows with
//! the bytes that arrive, never with an announced length alone.

pub(crate) mod address;
pub mod auth;
mod fds;
mod framing;
mod handshakes;
pub mod listener;

use std::cell::{Cell, RefCell};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::start::passing::{Inbox, Outbox, Passable};
use crate::sys::socket::{self, Received};

/// How much a receive reads at once while a message's size is not yet trusted.
const CHUNK: usize = 64 * 1024;

/// No per-message timeout (the default, as in Python).
const NO_TIMEOUT: u64 = u64::MAX;

/// One end of a connection.
pub struct Connection {
    readable: bool,
    writable: bool,
    /// `None` once closed. Read-locked while in use, write-locked to close.
    fd: RwLock<Option<OwnedFd>>,
    /// Set first by `close`, so blocked users let go of the fd.
    closing: AtomicBool,
    /// Serialises receivers; holds a message a too-small `recv_into` left for the next one.
    pending: Mutex<Option<Vec<u8>>>,
    /// Serialises senders.
    sending: Mutex<()>,
    /// The deadline for each whole send or receive, in ns; `NO_TIMEOUT` for none.
    timeout_ns: AtomicU64,
}

/// What `recv_bytes_into` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvInto {
    /// The message (of this many bytes) is in the buffer.
    Fits(usize),
    /// The buffer is too small for a message of this many bytes; it is kept for the next
    /// receive.
    TooShort(usize),
}

impl Connection {
    pub(crate) fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Arc<Connection> {
        Arc::new(Connection {
            readable,
            writable,
            fd: RwLock::new(Some(fd)),
            closing: AtomicBool::new(false),
            pending: Mutex::new(None),
            sending: Mutex::new(()),
            timeout_ns: AtomicU64::new(NO_TIMEOUT),
        })
    }

    /// Python's `Pipe(duplex)`: two connected ends; when not `duplex`, the first only
    /// receives and the second only sends.
    pub fn pipe(duplex: bool) -> Result<(Arc<Connection>, Arc<Connection>)> {
        let (a, b) = socket::socketpair().map_err(|e| Error::os("socketpair", e))?;
        Ok((
            Connection::from_fd(a, true, duplex),
            Connection::from_fd(b, duplex, true),
        ))
    }

    /// Sets the deadline for each whole send or receive (`None`: wait without limit).
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        let ns = timeout.map_or(NO_TIMEOUT, |t| {
            t.as_nanos().min(u128::from(NO_TIMEOUT - 1)) as u64
        });
        self.timeout_ns.store(ns, Relaxed);
    }

    /// The deadline of a send or receive starting now.
    fn call_deadline(&self) -> Deadline {
        match self.timeout_ns.load(Relaxed) {
            NO_TIMEOUT => Deadline::Never,
            ns => Deadline::after(Duration::from_nanos(ns)),
        }
    }

    /// The fd, or -1 once closed.
    pub fn fileno(&self) -> RawFd {
        self.fd
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Whether this end receives (Python's `readable`): false only for the sending end
    /// of a one-way pipe. Unchanged by `close`, as in Python.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end sends (Python's `writable`): false only for the receiving end of
    /// a one-way pipe.
    pub fn writable(&self) -> bool {
        self.writable
    }

    pub fn is_closed(&self) -> bool {
        self.fileno() < 0
    }

    /// Closes this end (its fd, in this process). Closing twice is fine. Calls blocked on
    /// it from other threads return `Closed`.
    pub fn close(&self) {
        self.closing.store(true, SeqCst);
        let fd = self.fd.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(fd);
    }

    /// Ends the connection for both sides while another thread may be using it: the
    /// peer sees the end, and a call blocked on it here returns (`Eof`) at once.
    pub(crate) fn shutdown(&self) {
        // An fd already closed, or a peer already gone: ended either way.
        let _ = self.with_fd(|fd| socket::shutdown(fd).map_err(|e| Error::os("shutdown", e)));
    }

    /// Over TCP, has the kernel notice a peer that vanished or a link that was cut, where
    /// no end of file would ever come (see `sys::socket::watch_peer`); a call waiting on
    /// such a connection then fails with `Eof`. Other connections are left as they are.
    pub(crate) fn watch_peer(&self, idle: Duration, interval: Duration, count: u32) -> Result<()> {
        self.with_fd(|fd| {
            socket::watch_peer(fd, idle, interval, count, idle + interval * count)
                .map_err(|e| Error::os("watching the connection's peer", e))
        })
    }

    /// Runs `f` with the open fd, or fails with `Closed`.
    fn with_fd<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> Result<R>) -> Result<R> {
        let guard = self.fd.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(fd) => f(std::os::fd::AsFd::as_fd(fd)),
            None => Err(closed()),
        }
    }

    /// Waits until `fd` has `events` (or hang-up), the deadline passes, or the connection is
    /// being closed.
    fn wait_io(
        &self,
        fd: BorrowedFd<'_>,
        events: libc::c_short,
        deadline: Deadline,
        interrupts: Interrupts,
        known_not_ready: bool,
    ) -> Result<()> {
        let stop = || {
            if self.closing.load(Relaxed) {
                return Err(closed());
            }
            Ok(())
        };
        poll_until(
            &[fd.as_raw_fd()],
            events,
            deadline,
            interrupts,
            None,
            known_not_ready,
            stop,
        )
    }

    /// Sends one message (`send_bytes`). `Eof` when the peer is gone.
    pub fn send_bytes(&self, body: &[u8]) -> Result<()> {
        self.send_message(body, self.call_deadline())
    }

    pub(crate) fn send_message(&self, body: &[u8], deadline: Deadline) -> Result<()> {
        if !self.writable {
            return Err(Error::invalid_argument(
                "this end of a one-way pipe only receives",
            ));
        }
        let _sending = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        let (header, header_len) = framing::header(body.len());
        let total = header_len + body.len();
        let result = self.with_fd(|fd| {
            let mut sent = 0;
            while sent < total {
                let parts = remaining_parts(&header[..header_len], body, sent);
                match socket::send(fd, &parts) {
                    Ok(0) => {
                        // Interruptible only before the first byte left.
                        let interrupts = if sent == 0 {
                            Interrupts::Honour
                        } else {
                            Interrupts::Ignore
                        };
                        self.wait_io(fd, libc::POLLOUT, deadline, interrupts, true)
                            .map_err(|e| mid_message(e, sent > 0))?;
                    }
                    Ok(n) => sent += n,
                    Err(err)
                        if matches!(
                            err.raw_os_error(),
                            Some(libc::EPIPE | libc::ECONNRESET | libc::ETIMEDOUT)
                        ) =>
                    {
                        return Err(Error::new(ErrorKind::Eof, "the peer closed the connection"));
                    }
                    Err(err) => return Err(Error::os("sendmsg", err)),
                }
            }
            Ok(())
        });
        self.close_if_broken(result)
    }

    /// Receives one message (`recv_bytes`), refusing one longer than `maxlength` before
    /// reading it (`TooLarge`, and the connection is closed, as in Python).
    pub fn recv_bytes(&self, maxlength: Option<usize>) -> Result<Vec<u8>> {
        self.recv_message(maxlength, self.call_deadline())
    }

    pub(crate) fn recv_message(
        &self,
        maxlength: Option<usize>,
        deadline: Deadline,
    ) -> Result<Vec<u8>> {
        let mut pending = self.start_receive()?;
        if let Some(message) = pending.take() {
            check_length(message.len() as u64, maxlength).map_err(|e| self.closed_after(e))?;
            return Ok(message);
        }
        let result = self.with_fd(|fd| {
            let size = self.read_header(fd, deadline)?;
            check_length(size, maxlength)?;
            self.read_body(fd, size, deadline)
        });
        self.close_if_broken(result)
    }

    /// Receives one message into `buf` at `offset` (`recv_bytes_into`). A message that
    /// does not fit is kept for the next receive.
    pub fn recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<RecvInto> {
        if offset > buf.len() {
            return Err(Error::invalid_argument(format!(
                "offset {offset} is past the buffer's end ({})",
                buf.len()
            )));
        }
        let room = &mut buf[offset..];
        let mut pending = self.start_receive()?;
        if let Some(message) = pending.take() {
            if message.len() > room.len() {
                let size = message.len();
                *pending = Some(message);
                return Ok(RecvInto::TooShort(size));
            }
            room[..message.len()].copy_from_slice(&message);
            return Ok(RecvInto::Fits(message.len()));
        }
        let deadline = self.call_deadline();
        let result = self.with_fd(|fd| {
            let size = self.read_header(fd, deadline)?;
            match usize::try_from(size) {
                Ok(size) if size <= room.len() => {
                    self.read_exact(fd, &mut room[..size], deadline)?;
                    Ok(RecvInto::Fits(size))
                }
                _ => {
                    let message = self.read_body(fd, size, deadline)?;
                    let size = message.len();
                    *pending = Some(message);
                    Ok(RecvInto::TooShort(size))
                }
            }
        });
        self.close_if_broken(result)
    }

    /// Locks the receive side (checking the direction) and returns the pending message slot.
    fn start_receive(&self) -> Result<std::sync::MutexGuard<'_, Option<Vec<u8>>>> {
        if !self.readable {
            return Err(Error::invalid_argument(
                "this end of a one-way pipe only sends",
            ));
        }
        Ok(self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads a frame header. Waiting for its first byte is the message boundary: EOF there
    /// is `Eof`, and a timeout or interrupt leaves the connection as it was.
    fn read_header(&self, fd: BorrowedFd<'_>, deadline: Deadline) -> Result<u64> {
        let mut short = [0u8; 4];
        let got = loop {
            match socket::recv(fd, &mut short).map_err(|e| Error::os("recv", e))? {
                Received::Bytes(n) => break n,
                Received::Eof => {
                    return Err(Error::new(ErrorKind::Eof, "the peer closed the connection"))
                }
                Received::Nothing => {
                    self.wait_io(fd, libc::POLLIN, deadline, Interrupts::Honour, true)?
                }
            }
        };
        self.rest_of_header(fd, short, got, deadline)
    }

    /// Reads the rest of a frame header whose first `got` bytes are in `short`.
    fn rest_of_header(
        &self,
        fd: BorrowedFd<'_>,
        mut short: [u8; 4],
        got: usize,
        deadline: Deadline,
    ) -> Result<u64> {
        self.read_exact(fd, &mut short[got..], deadline)?;
        match framing::parse_short(short) {
            framing::Short::Length(n) => Ok(n),
            framing::Short::LongFollows => {
                let mut long = [0u8; 8];
                self.read_exact(fd, &mut long, deadline)?;
                Ok(framing::parse_long(long))
            }
            framing::Short::Invalid(n) => Err(Error::new(
                ErrorKind::Protocol,
                format!("the peer sent a negative message length ({n})"),
            )),
        }
    }

    /// Reads a body of `size` bytes, growing the buffer (by doubling) only as bytes arrive.
    fn read_body(&self, fd: BorrowedFd<'_>, size: u64, deadline: Deadline) -> Result<Vec<u8>> {
        let size = usize::try_from(size)
            .map_err(|_| Error::new(ErrorKind::TooLarge, format!("a message of {size} bytes")))?;
        let mut body = Vec::new();
        while body.len() < size {
            if body.len() == body.capacity() {
                let more = (size - body.len()).min(body.len().max(CHUNK));
                body.try_reserve_exact(more).map_err(|_| {
                    Error::new(
                        ErrorKind::NoMemory,
                        format!("no memory for a message of {size} bytes"),
                    )
                })?;
            }
            // At most the message's rest: the capacity may be larger, and what follows
            // on the socket is the next message.
            let rest = size - body.len();
            match socket::recv_spare(fd, &mut body, rest).map_err(|e| Error::os("recv", e))? {
                Received::Bytes(_) => {}
                Received::Eof => return Err(eof_mid_message()),
                Received::Nothing => self
                    .wait_io(fd, libc::POLLIN, deadline, Interrupts::Ignore, true)
                    .map_err(|e| mid_message(e, true))?,
            }
        }
        Ok(body)
    }

    /// Reads exactly `buf.len()` bytes of a message under way: not interruptible; EOF is a
    /// `Protocol` error.
    fn read_exact(&self, fd: BorrowedFd<'_>, buf: &mut [u8], deadline: Deadline) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match socket::recv(fd, &mut buf[got..]).map_err(|e| Error::os("recv", e))? {
                Received::Bytes(n) => got += n,
                Received::Eof => return Err(eof_mid_message()),
                Received::Nothing => self
                    .wait_io(fd, libc::POLLIN, deadline, Interrupts::Ignore, true)
                    .map_err(|e| mid_message(e, true))?,
            }
        }
        Ok(())
    }

    /// Whether a message (or EOF) can be read now or within `deadline` (`Timeout` if not).
    pub fn poll(&self, deadline: Deadline) -> Result<()> {
        if !self.readable {
            return Err(Error::invalid_argument(
                "this end of a one-way pipe only sends",
            ));
        }
        if self.has_pending() {
            return Ok(());
        }
        self.with_fd(|fd| self.wait_io(fd, libc::POLLIN, deadline, Interrupts::Honour, false))
    }

    /// Closes the connection after an error that leaves the stream unusable.
    fn close_if_broken<R>(&self, result: Result<R>) -> Result<R> {
        result.map_err(|err| match err.kind() {
            ErrorKind::Protocol | ErrorKind::TooLarge | ErrorKind::Os => self.closed_after(err),
            ErrorKind::Timeout if err.message().contains(MID_MESSAGE) => self.closed_after(err),
            _ => err,
        })
    }

    fn closed_after(&self, err: Error) -> Error {
        self.close();
        err.context("connection closed")
    }

    /// Whether a message is kept for the next receive. Never waits: while another thread
    /// is receiving, the answer comes from the fd.
    fn has_pending(&self) -> bool {
        match self.pending.try_lock() {
            Ok(pending) => pending.is_some(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().is_some(),
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }
}

/// Marks a timeout in the middle of a message (the connection is then closed).
const MID_MESSAGE: &str = "in the middle of a message";

fn mid_message(err: Error, started: bool) -> Error {
    if started && err.kind() == ErrorKind::Timeout {
        return err.context(format!("timed out {MID_MESSAGE}"));
    }
    err
}

fn eof_mid_message() -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the peer closed the connection {MID_MESSAGE}"),
    )
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "the connection is closed")
}

fn check_length(size: u64, maxlength: Option<usize>) -> Result<()> {
    match maxlength {
        Some(max) if size > max as u64 => Err(Error::new(
            ErrorKind::TooLarge,
            format!("a message of {size} bytes is longer than maxlength {max}"),
        )),
        _ => Ok(()),
    }
}

/// The parts of header + body still to send after `sent` bytes.
fn remaining_parts<'a>(header: &'a [u8], body: &'a [u8], sent: usize) -> [IoSlice<'a>; 2] {
    if sent < header.len() {
        [IoSlice::new(&header[sent..]), IoSlice::new(body)]
    } else {
        [
            IoSlice::new(&[]),
            IoSlice::new(&body[sent - header.len()..]),
        ]
    }
}

/// Waits until one of `fds` has `events` (or hang-up), at most until `deadline`, filling
/// `ready` when given. `stop` is asked before each look (e.g. a connection being closed).
/// With `known_not_ready` (the caller's read or write just found nothing to do) the first
/// look is skipped; and a sleeping poll's answer is used as is, not asked again.
pub(crate) fn poll_until(
    fds: &[RawFd],
    events: libc::c_short,
    deadline: Deadline,
    interrupts: Interrupts,
    ready: Option<&mut [bool]>,
    known_not_ready: bool,
    stop: impl Fn() -> Result<()>,
) -> Result<()> {
    let ready = RefCell::new(ready);
    let poll = |timeout| {
        crate::sys::poll::poll(fds, events, timeout, ready.borrow_mut().as_deref_mut())
            .map_err(|e| Error::os("poll", e))
    };
    let known = Cell::new(known_not_ready.then_some(false));
    deadline::block_until_with(
        deadline,
        interrupts,
        || {
            stop()?;
            match known.take() {
                Some(answer) => Ok(answer),
                None => poll(Duration::ZERO),
            }
        },
        |slice| {
            known.set(Some(poll(slice)?));
            Ok(())
        },
    )
}

/// Checks an address string (`unix:PATH`, `unix:@NAME`, `tcp://HOST:PORT`).
pub fn check_address(address: &str) -> Result<()> {
    self::address::parse(address).map(drop)
}

/// Python 3's `connection.wait`: waits until one of `conns` can receive (a message or EOF)
/// or one of `fds` (process sentinels, sockets) is readable, at most until `deadline`.
/// Returns the readiness of each, in order; `Timeout` when none is ready.
pub fn wait_all(
    conns: &[&Connection],
    fds: &[RawFd],
    deadline: Deadline,
) -> Result<(Vec<bool>, Vec<bool>)> {
    let mut conn_ready = vec![false; conns.len()];
    let mut fd_ready = vec![false; fds.len()];
    let mut all: Vec<RawFd> = Vec::with_capacity(conns.len() + fds.len());
    for (i, conn) in conns.iter().enumerate() {
        if !conn.readable {
            return Err(Error::invalid_argument(format!(
                "connection {i} only sends"
            )));
        }
        let fd = conn.fileno();
        if fd < 0 {
            return Err(closed().context(format!("connection {i}")));
        }
        conn_ready[i] = conn.has_pending();
        all.push(fd);
    }
    all.extend_from_slice(fds);
    let mut ready = vec![false; all.len()];
    // A kept message is ready at once: then only report what else is ready too.
    let deadline = if conn_ready.iter().any(|r| *r) {
        Deadline::after(Duration::ZERO)
    } else {
        deadline
    };
    match poll_until(
        &all,
        libc::POLLIN,
        deadline,
        Interrupts::Honour,
        Some(&mut ready),
        false,
        || Ok(()),
    ) {
        Err(err) if err.kind() == ErrorKind::Timeout && conn_ready.iter().any(|r| *r) => {}
        other => other?,
    }
    let (conn_flags, fd_flags) = ready.split_at(conns.len());
    for (r, flag) in conn_ready.iter_mut().zip(conn_flags) {
        *r |= *flag;
    }
    fd_ready.copy_from_slice(fd_flags);
    Ok((conn_ready, fd_ready))
}

impl Passable for Connection {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        let fd = self.fd.read().unwrap_or_else(|p| p.into_inner());
        let fd = fd
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "the connection is closed"))?;
        out.u64(u64::from(self.readable) | u64::from(self.writable) << 1);
        out.u64(self.timeout_ns.load(Relaxed));
        out.fd(fd.as_fd());
        Ok(())
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Connection>> {
        let flags = inbox.u64()?;
        let timeout = inbox.u64()?;
        let connection = Connection::from_fd(inbox.fd()?, flags & 1 != 0, flags & 2 != 0);
        connection.timeout_ns.store(timeout, Relaxed);
        Ok(connection)
    }
}
