//! Passing file descriptors over a connection (Python's `multiprocessing.reduction`
//! `send_handle` and `recv_handle`), on the wire as Python sends them on Linux: outside
//! the message framing, one byte (the number of descriptors, 1) carrying the descriptor
//! as `SCM_RIGHTS`, with no acknowledgement (Python asks for one on macOS only). So a C
//! end and a Python end pass descriptors both ways.
//!
//! A receive looks at the next byte first, without taking it: when no descriptor came
//! with it (the peer sent a message), nothing is taken, and the message stays whole for
//! the next receive. A peek also flags descriptors that follow the byte it shows, so when
//! the byte taken then carries none, it began a message: that message is read whole and
//! kept for the next receive, as a too-short `recv_bytes_into` keeps one.

use std::os::fd::{BorrowedFd, OwnedFd};

use super::Connection;
use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::socket::{self, Peeked, Received};

/// The byte that carries one descriptor (Python's `bytes([len(fds) % 256])`).
const ONE_FD: u8 = 1;

impl Connection {
    /// Sends `fd` (a duplicate of it arrives; `fd` stays open here). Waits for room up to
    /// the connection's timeout. `NotSupported` on a socket that is not a unix one.
    pub fn send_fd(&self, fd: BorrowedFd<'_>) -> Result<()> {
        if !self.writable {
            return Err(Error::invalid_argument(
                "this end of a one-way pipe only receives",
            ));
        }
        let deadline = self.call_deadline();
        let _sending = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        self.with_fd(|socket_fd| {
            check_unix(socket_fd)?;
            loop {
                match socket::try_send_fds(socket_fd, &[ONE_FD], &[fd]) {
                    Ok(true) => return Ok(()),
                    Ok(false) => {
                        self.wait_io(socket_fd, libc::POLLOUT, deadline, Interrupts::Honour, true)?
                    }
                    Err(err)
                        if matches!(err.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) =>
                    {
                        return Err(Error::new(ErrorKind::Eof, "the peer closed the connection"));
                    }
                    Err(err) if err.raw_os_error() == Some(libc::EBADF) => {
                        return Err(Error::invalid_argument("fd is not an open descriptor"))
                    }
                    Err(err) => return Err(Error::os("sendmsg", err)),
                }
            }
        })
    }

    /// Receives a descriptor the peer sent (close-on-exec), waiting until `deadline`.
    /// `Type` when what comes next is a message, which is left whole for the next receive;
    /// `Protocol` (and the connection is closed) for a byte with other than one descriptor.
    pub fn recv_fd(&self, deadline: Deadline) -> Result<OwnedFd> {
        let mut pending = self.start_receive()?;
        if pending.is_some() {
            return Err(not_an_fd());
        }
        let result = self.with_fd(|socket_fd| {
            check_unix(socket_fd)?;
            loop {
                match socket::peek(socket_fd).map_err(|e| Error::os("recvmsg", e))? {
                    Peeked::Data => return Err(not_an_fd()),
                    Peeked::Fds => break,
                    Peeked::Eof => {
                        return Err(Error::new(ErrorKind::Eof, "the peer closed the connection"))
                    }
                    Peeked::Nothing => {
                        self.wait_io(socket_fd, libc::POLLIN, deadline, Interrupts::Honour, true)?
                    }
                }
            }
            let mut byte = [0u8; 1];
            let got =
                socket::recv_fds(socket_fd, &mut byte).map_err(|e| Error::os("recvmsg", e))?;
            match got {
                Some((Received::Bytes(1), mut fds)) if byte[0] == ONE_FD && fds.len() == 1 => {
                    Ok(fds.remove(0))
                }
                // A peek flags descriptors that come after the byte it shows (the kernel
                // looks past it): this byte began a message, kept whole for the next
                // receive.
                Some((Received::Bytes(1), fds)) if fds.is_empty() => {
                    // Read as a receive reads it (the call's timeout was for a descriptor).
                    let deadline = self.call_deadline();
                    let size = self.rest_of_header(socket_fd, [byte[0], 0, 0, 0], 1, deadline)?;
                    *pending = Some(self.read_body(socket_fd, size, deadline)?);
                    Err(not_an_fd())
                }
                // The descriptors that came are dropped, so closed.
                Some((_, fds)) => Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the peer sent byte {} with {} descriptors, not 1 with one",
                        byte[0],
                        fds.len()
                    ),
                )),
                None => Err(Error::new(ErrorKind::Eof, "the peer closed the connection")),
            }
        });
        drop(pending);
        self.close_if_broken(result)
    }
}

/// `NotSupported` unless `fd` is a unix socket.
fn check_unix(fd: BorrowedFd<'_>) -> Result<()> {
    match socket::is_unix(fd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::new(
            ErrorKind::NotSupported,
            "descriptors pass over unix sockets only; this connection is not one",
        )),
        Err(err) => Err(Error::os("getsockopt(SO_DOMAIN)", err)),
    }
}

fn not_an_fd() -> Error {
    Error::new(
        ErrorKind::Type,
        "what comes next is a message, not a descriptor: it is left for the next receive",
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixStream;

    use super::*;

    fn pipe() -> (std::sync::Arc<Connection>, std::sync::Arc<Connection>) {
        Connection::pipe(true).unwrap()
    }

    #[test]
    fn an_fd_goes_through_and_is_close_on_exec() {
        let (a, b) = pipe();
        let (mut mine, theirs) = UnixStream::pair().unwrap();
        a.send_fd(theirs.as_fd()).unwrap();
        drop(theirs);
        let got = b
            .recv_fd(Deadline::after(std::time::Duration::from_secs(5)))
            .unwrap();
        // SAFETY: fcntl on an fd we own.
        let flags = unsafe { libc::fcntl(got.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        let mut got = UnixStream::from(got);
        got.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        mine.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn a_message_is_not_an_fd_and_stays_whole() {
        let (a, b) = pipe();
        a.send_bytes(b"a message").unwrap();
        let err = b
            .recv_fd(Deadline::after(std::time::Duration::ZERO))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Type);
        assert_eq!(b.recv_bytes(None).unwrap(), b"a message");
        assert!(!b.is_closed());
    }

    #[test]
    fn a_message_before_an_fd_stays_whole() {
        let (a, b) = pipe();
        let (_mine, theirs) = UnixStream::pair().unwrap();
        a.send_bytes(b"first").unwrap();
        a.send_fd(theirs.as_fd()).unwrap();
        let never = Deadline::after(std::time::Duration::ZERO);
        assert_eq!(b.recv_fd(never).unwrap_err().kind(), ErrorKind::Type);
        assert_eq!(b.recv_fd(never).unwrap_err().kind(), ErrorKind::Type);
        assert_eq!(b.recv_bytes(None).unwrap(), b"first");
        b.recv_fd(never).unwrap();
    }

    #[test]
    fn nothing_sent_times_out() {
        let (_a, b) = pipe();
        let err = b
            .recv_fd(Deadline::after(std::time::Duration::ZERO))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }

    #[test]
    fn a_closed_peer_is_eof() {
        let (a, b) = pipe();
        a.close();
        let err = b.recv_fd(Deadline::Never).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Eof);
    }
}
