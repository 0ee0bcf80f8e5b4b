//! Pipes and connections: `pc_pipe`, `pc_connection_*`, `pc_wait`, `pc_wait_any`,
//! `pc_listener_*` and `pc_client_connect` (Python's `Pipe`, `Connection`,
//! `connection.wait`, `Listener` and `Client`).
//!
//! Messages use the framing of Python's `multiprocessing.connection`, and listeners and
//! clients its authentication handshake, so C and Python programs can talk.

use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

use super::handle;
use super::library::pc_bytes;
use super::received::received_into;
use super::status::pc_status;
use crate::connection::{self, listener, Connection};
use crate::error::{Error, Result};

/// One end of a connection (Python's `Connection`). A child started after it was made has
/// it too (the same socket): each process usually closes the end it does not use.
pub struct pc_connection {
    _private: [u8; 0],
}
impl_handle!(pc_connection => Connection, b"conn");

/// A listening socket (Python's `multiprocessing.connection.Listener`).
pub struct pc_listener {
    _private: [u8; 0],
}
impl_handle!(pc_listener => listener::Listener, b"lstn");

/// One thing for `pc_wait_any` to wait on: a connection, or (when `conn` is NULL) any file
/// descriptor that becomes readable, such as a process sentinel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pc_waitable {
    /// A connection that can receive, or NULL to wait on `fd`.
    pub conn: *mut pc_connection,
    /// With a NULL `conn`: the fd to wait on.
    pub fd: c_int,
    /// Set by `pc_wait_any`: true when this item is ready.
    pub ready: bool,
}

/// Creates a pipe (Python's `Pipe(duplex)`): two connected ends. When `duplex` is false,
/// `*c1` only receives and `*c2` only sends. Both are new handles owned by the caller
/// (`pc_connection_free`); after `pc_process_start` the child has them too — each process
/// usually closes the end it does not use.
///
/// Returns `PC_OK`; `PC_ERR_OS` if the socketpair could not be made.
#[no_mangle]
pub extern "C" fn pc_pipe(
    duplex: bool,
    c1: *mut *mut pc_connection,
    c2: *mut *mut pc_connection,
) -> pc_status {
    ffi_status!({
        let c1 = arg_out!(c1);
        let c2 = arg_out!(c2);
        let (a, b) = Connection::pipe(duplex)?;
        let a = handle::into_raw::<pc_connection>(a)?;
        let b = handle::into_raw::<pc_connection>(b).inspect_err(|_| {
            let _ = handle::release(a, "c1");
        })?;
        c1.write(a);
        c2.write(b);
        Ok(())
    })
}

/// Sends `len` bytes at `buf` as one message (`send_bytes`); `(NULL, 0)` sends an empty
/// one. Blocks while the peer does not read, up to the connection's timeout
/// (`pc_connection_set_timeout`); thread-safe (messages never interleave).
///
/// Returns `PC_OK`; `PC_ERR_EOF` when the peer closed its end (never SIGPIPE);
/// `PC_ERR_TIMEOUT` past the timeout (before any byte left; later, the connection is closed
/// too); `PC_ERR_INTERRUPTED` after `pc_interrupt()` before any byte left; `PC_ERR_CLOSED`
/// after `pc_connection_close`; `PC_ERR_INVALID_ARGUMENT` for a NULL `buf` with a non-zero
/// `len` or the receiving end of a one-way pipe.
#[no_mangle]
pub extern "C" fn pc_connection_send_bytes(
    c: *mut pc_connection,
    buf: *const c_void,
    len: usize,
) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        c.send_bytes(arg_bytes!(buf, len))
    })
}

/// Receives one message (`recv_bytes`) into `*out` (release it with `pc_bytes_free`).
/// With `maxlength` > 0, a longer message is refused before it is read: `PC_ERR_TOO_LARGE`,
/// and the connection is closed (as in Python). Blocks until a message comes, up to the
/// connection's timeout.
///
/// Returns `PC_OK`; `PC_ERR_EOF` when the peer closed its end at a message boundary;
/// `PC_ERR_PROTOCOL` when it vanished mid-message or sent a malformed frame (the connection
/// is closed); `PC_ERR_TOO_LARGE`; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after
/// `pc_interrupt()` while no byte of the message had come; `PC_ERR_CLOSED`;
/// `PC_ERR_NO_MEMORY`; `PC_ERR_INVALID_ARGUMENT` for the sending end of a one-way pipe.
#[no_mangle]
pub extern "C" fn pc_connection_recv_bytes(
    c: *mut pc_connection,
    maxlength: usize,
    out: *mut pc_bytes,
) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        let out = arg_out!(out);
        let message = c.recv_bytes((maxlength > 0).then_some(maxlength))?;
        out.write(pc_bytes::from_vec(message));
        Ok(())
    })
}

/// Receives one message into `buf` at byte `offset` (`recv_bytes_into`) and stores its
/// length in `*len`. If it does not fit in `cap - offset` bytes: `PC_ERR_BUFFER_TOO_SHORT`,
/// `*len` is the message's size, and the message stays for the next receive (nothing is
/// lost). `offset` may equal `cap`.
///
/// Returns `PC_OK`; `PC_ERR_BUFFER_TOO_SHORT`; otherwise as `pc_connection_recv_bytes`, and
/// `PC_ERR_INVALID_ARGUMENT` for a NULL `buf` with a non-zero `cap` or `offset` > `cap`.
#[no_mangle]
pub extern "C" fn pc_connection_recv_bytes_into(
    c: *mut pc_connection,
    buf: *mut c_void,
    cap: usize,
    offset: usize,
    len: *mut usize,
) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        let len = arg_out!(len);
        let buf = arg_bytes_mut!(buf, cap);
        received_into(c.recv_bytes_into(buf, offset)?, len, cap - offset)
    })
}

/// Waits at most `timeout` seconds (negative: without limit; 0: only checks) until a
/// message or the peer's EOF can be received (`poll`).
///
/// Returns `PC_OK` when ready; `PC_ERR_TIMEOUT` when not; `PC_ERR_INTERRUPTED`;
/// `PC_ERR_CLOSED`; `PC_ERR_INVALID_ARGUMENT` for the sending end of a one-way pipe.
#[no_mangle]
pub extern "C" fn pc_connection_poll(c: *mut pc_connection, timeout: f64) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        c.poll(arg_timeout!(timeout))
    })
}

/// Sets the deadline for each whole send or receive, in seconds (negative: none, the
/// default, as in Python). A receive that passes it mid-message returns `PC_ERR_TIMEOUT`
/// and closes the connection.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_connection_set_timeout(c: *mut pc_connection, timeout: f64) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        if timeout.is_nan() {
            return Err(Error::invalid_argument("timeout is NaN"));
        }
        c.set_timeout(
            (timeout >= 0.0).then(|| Duration::try_from_secs_f64(timeout).unwrap_or(Duration::MAX)),
        );
        Ok(())
    })
}

/// The connection's file descriptor (owned by it: do not close it), or -1 once closed or
/// for a NULL or invalid `c`.
#[no_mangle]
pub extern "C" fn pc_connection_fileno(c: *const pc_connection) -> c_int {
    ffi_value!(-1, { Ok(arg_handle!(c).fileno()) })
}

/// Sends the file descriptor `fd` to the peer (Python's
/// `multiprocessing.reduction.send_handle`): the peer's `pc_connection_recv_fd` gets a
/// duplicate of it, as `dup` would make; `fd` stays open here (close it when done). It
/// goes outside the messages, as Python sends it on Linux (one byte carrying the
/// descriptor as `SCM_RIGHTS`), so a Python peer's `recv_handle` takes it too, and each
/// descriptor must be received with `pc_connection_recv_fd` in the order sent, between
/// the messages. Only a unix socket carries descriptors (a pipe's ends, a unix listener's
/// and client's connections). Blocks while the socket is full, up to the connection's
/// timeout (`pc_connection_set_timeout`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a negative or closed `fd`, or the
/// receiving end of a one-way pipe; `PC_ERR_NOT_SUPPORTED` for a TCP connection;
/// `PC_ERR_EOF` when the peer closed its end; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after
/// `pc_interrupt()`; `PC_ERR_CLOSED` after `pc_connection_close`; `PC_ERR_OS` when the
/// kernel refused it (as `EMFILE`, `ETOOMANYREFS`).
#[no_mangle]
pub extern "C" fn pc_connection_send_fd(c: *mut pc_connection, fd: c_int) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        if fd < 0 {
            return Err(Error::invalid_argument(format!(
                "fd is {fd}, not a descriptor"
            )));
        }
        // SAFETY: a non-negative number, used for one sendmsg only while the caller keeps
        // it; a closed one is `EBADF` there.
        c.send_fd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
    })
}

/// Receives a file descriptor the peer sent with `pc_connection_send_fd` or Python's
/// `multiprocessing.reduction.send_handle` (Python's `recv_handle`), waiting at most
/// `timeout` seconds, and stores it in `*out`: a new descriptor, the caller's to close,
/// with close-on-exec set (`MSG_CMSG_CLOEXEC`).
///
/// Returns `PC_OK`; `PC_ERR_TYPE` when what comes next is a message, not a descriptor
/// (the message stays whole for the next `pc_connection_recv_bytes`);
/// `PC_ERR_PROTOCOL` when what came is not Python's form (several descriptors, or a
/// count byte other than 1: they are closed, and so is the connection); `PC_ERR_EOF` when the peer closed
/// its end; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED`; `PC_ERR_CLOSED`;
/// `PC_ERR_NOT_SUPPORTED` for a TCP connection; `PC_ERR_INVALID_ARGUMENT` for the sending
/// end of a one-way pipe.
#[no_mangle]
pub extern "C" fn pc_connection_recv_fd(
    c: *mut pc_connection,
    timeout: f64,
    out: *mut c_int,
) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        let out = arg_out!(out);
        let fd = c.recv_fd(arg_timeout!(timeout))?;
        out.write(std::os::fd::IntoRawFd::into_raw_fd(fd));
        Ok(())
    })
}

/// Whether this end can receive (Python's `readable`): false for the sending end of a
/// one-way pipe (`pc_pipe` with `duplex` false, its `*c2`), true for every other end.
/// It describes the end, not its state: a closed end keeps it, as in Python. False for a
/// NULL or invalid `c` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_connection_readable(c: *const pc_connection) -> bool {
    ffi_value!(false, { Ok(arg_handle!(c).readable()) })
}

/// Whether this end can send (Python's `writable`): false for the receiving end of a
/// one-way pipe (`pc_pipe` with `duplex` false, its `*c1`), true for every other end,
/// closed or not. False for a NULL or invalid `c` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_connection_writable(c: *const pc_connection) -> bool {
    ffi_value!(false, { Ok(arg_handle!(c).writable()) })
}

/// Closes this end in this process; the peer then sees EOF once every process closed its
/// copy. Closing twice is fine; later sends and receives return `PC_ERR_CLOSED`.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_connection_close(c: *mut pc_connection) -> pc_status {
    ffi_status!({
        arg_handle!(c).close();
        Ok(())
    })
}

/// Releases the handle (closing the connection when no other reference is left). NULL is
/// a no-op. Never blocks.
#[no_mangle]
pub extern "C" fn pc_connection_free(c: *mut pc_connection) {
    ffi_free!(c)
}

/// Waits until at least one of the `n` connections can receive (a message or EOF), at most
/// `timeout` seconds (Python 3's `connection.wait`); `ready[i]` tells which (`ready` has
/// room for `n` flags and is written on `PC_OK` only). For process sentinels and other fds,
/// see `pc_wait_any`.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT` when none is ready; `PC_ERR_INTERRUPTED`;
/// `PC_ERR_CLOSED` for a closed connection; `PC_ERR_INVALID_ARGUMENT` for NULL `conns` or
/// `ready` with `n` > 0, a NULL or invalid connection or a sending-only end.
#[no_mangle]
pub extern "C" fn pc_wait(
    conns: *const *mut pc_connection,
    n: usize,
    timeout: f64,
    ready: *mut bool,
) -> pc_status {
    ffi_status!({
        let conns = handle::array(conns, n, "conns")?;
        let ready = handle::out_array(ready, n, "ready")?;
        let borrowed = conns
            .iter()
            .enumerate()
            .map(|(i, c)| handle::borrow(*c, &format!("conns[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Connection> = borrowed.iter().map(|c| &***c).collect();
        let (flags, _) = connection::wait_all(&refs, &[], arg_timeout!(timeout))?;
        for (slot, flag) in ready.iter_mut().zip(flags) {
            slot.write(flag);
        }
        Ok(())
    })
}

/// Waits until at least one of the `n` items is ready, at most `timeout` seconds: a
/// connection that can receive, or a readable fd such as a process sentinel
/// (`pc_process_sentinel`) — Python 3's `connection.wait` over both. Sets each item's
/// `ready` (on `PC_OK` only).
///
/// Returns as `pc_wait`, and `PC_ERR_INVALID_ARGUMENT` for a NULL `items` with `n` > 0 or a
/// negative fd.
#[no_mangle]
pub extern "C" fn pc_wait_any(items: *mut pc_waitable, n: usize, timeout: f64) -> pc_status {
    ffi_status!({
        let items = handle::array_mut(items, n, "items")?;
        let mut conns = Vec::new();
        let mut fds = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.conn.is_null() {
                if item.fd < 0 {
                    return Err(Error::invalid_argument(format!(
                        "items[{i}] has no conn and fd {}",
                        item.fd
                    )));
                }
                fds.push(item.fd);
            } else {
                conns.push(handle::borrow(
                    item.conn.cast_const(),
                    &format!("items[{i}].conn"),
                )?);
            }
        }
        let refs: Vec<&Connection> = conns.iter().map(|c| &***c).collect();
        let (conn_flags, fd_flags) = connection::wait_all(&refs, &fds, arg_timeout!(timeout))?;
        let (mut conn_flags, mut fd_flags) = (conn_flags.into_iter(), fd_flags.into_iter());
        for item in items.iter_mut() {
            let flags = if item.conn.is_null() {
                &mut fd_flags
            } else {
                &mut conn_flags
            };
            item.ready = flags.next().unwrap_or(false);
        }
        Ok(())
    })
}

/// Creates a listener (Python's `Listener`) bound to `address`: `"unix:PATH"`,
/// `"unix:@NAME"` (Linux abstract), `"tcp://HOST:PORT"` (IPv4, `[IPv6]` or a host name;
/// port 0 picks one), or NULL for a fresh private unix name. `backlog` is `listen`'s, at
/// least 1 (Python's `Listener` passes 0 on and turns a negative one into 0; here both
/// are refused). With a non-empty `authkey` (`len` bytes, copied) every accepted client
/// must pass Python's HMAC handshake; NULL or empty means no authentication. `*out` is a
/// new handle owned by the caller (`pc_listener_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a malformed address (a unix name longer
/// than 107 bytes too), a `backlog` below 1 or a NULL `authkey` with a non-zero `len`;
/// `PC_ERR_OS` when binding failed (address in use…).
#[no_mangle]
pub extern "C" fn pc_listener_new(
    address: *const c_char,
    backlog: c_int,
    authkey: *const c_void,
    len: usize,
    out: *mut *mut pc_listener,
) -> pc_status {
    ffi_new!(out, {
        let address = handle::c_str_opt(address, "address")?;
        if backlog < 1 {
            return Err(Error::invalid_argument(format!(
                "backlog is {backlog}; it must be at least 1"
            )));
        }
        let key = arg_bytes!(authkey, len);
        listener::Listener::new(address, backlog, Some(key))
    })
}

/// Waits at most `timeout` seconds for a client and, with an authkey, runs the handshake
/// (its own deadline: 5 s, each message at most 256 bytes). `*out` is a new connection
/// owned by the caller. A failed handshake drops that client; the listener stays usable.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT` when no client came (or the handshake passed its
/// deadline); `PC_ERR_AUTH` for a wrong key; `PC_ERR_PROTOCOL` for a client speaking
/// garbage; `PC_ERR_EOF` when it left mid-handshake; `PC_ERR_INTERRUPTED`; `PC_ERR_CLOSED`
/// after `pc_listener_close`.
#[no_mangle]
pub extern "C" fn pc_listener_accept(
    l: *mut pc_listener,
    timeout: f64,
    out: *mut *mut pc_connection,
) -> pc_status {
    ffi_status!({
        let l = arg_handle!(l);
        let out = arg_out!(out);
        let conn = l.accept(arg_timeout!(timeout))?;
        out.write(handle::into_raw(conn)?);
        Ok(())
    })
}

/// The bound address in the forms `pc_listener_new` takes, with numeric hosts and the
/// port picked for port 0 (`tcp://127.0.0.1:40123`). Owned by the listener: valid until
/// `pc_listener_free`. NULL for a NULL or invalid `l`.
#[no_mangle]
pub extern "C" fn pc_listener_address(l: *const pc_listener) -> *const c_char {
    ffi_value!(std::ptr::null(), { Ok(arg_handle!(l).address().as_ptr()) })
}

/// The peer address of the last accepted connection (same forms; a unix client is usually
/// unnamed: `"unix:"`). Valid until the next accept. NULL before the first accept, and for
/// a NULL or invalid `l`.
#[no_mangle]
pub extern "C" fn pc_listener_last_accepted(l: *const pc_listener) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        Ok(arg_handle!(l).last_accepted().unwrap_or(std::ptr::null()))
    })
}

/// Stops listening; a unix socket file this process bound is removed. Twice is fine;
/// later accepts return `PC_ERR_CLOSED`.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_listener_close(l: *mut pc_listener) -> pc_status {
    ffi_status!({
        arg_handle!(l).close();
        Ok(())
    })
}

/// Releases the handle, closing the listener and removing its unix socket file. NULL is
/// a no-op.
#[no_mangle]
pub extern "C" fn pc_listener_free(l: *mut pc_listener) {
    ffi_free!(l)
}

/// Connects to a listener at `address` (Python's `Client`; forms as `pc_listener_new`),
/// running the handshake with a non-empty `authkey` (`len` bytes). Connecting and the
/// handshake have one deadline of 5 s. `*out` is a new connection owned by the caller.
///
/// Returns `PC_OK`; `PC_ERR_AUTH` for a wrong key (on both sides); `PC_ERR_TIMEOUT`;
/// `PC_ERR_PROTOCOL`; `PC_ERR_EOF` when the listener dropped the connection; `PC_ERR_OS`
/// when connecting failed (refused, unreachable…); `PC_ERR_INTERRUPTED`;
/// `PC_ERR_INVALID_ARGUMENT` for a NULL or malformed `address` or a NULL `authkey` with a
/// non-zero `len`.
#[no_mangle]
pub extern "C" fn pc_client_connect(
    address: *const c_char,
    authkey: *const c_void,
    len: usize,
    out: *mut *mut pc_connection,
) -> pc_status {
    ffi_new!(
        out,
        listener::connect(arg_str!(address), Some(arg_bytes!(authkey, len)))
    )
}
