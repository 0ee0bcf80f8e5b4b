//! Stream sockets: socketpairs, listening and connecting sockets (unix paths, Linux
//! abstract names, TCP over IPv4 and IPv6), non-blocking send and receive.
//! Every fd is close-on-exec, and sends use `MSG_NOSIGNAL`: a peer that went away gives
//! `EPIPE`, never a SIGPIPE.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Where a socket is bound or connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// A unix socket file.
    Path(Vec<u8>),
    /// A Linux abstract unix socket name (without the leading NUL).
    Abstract(Vec<u8>),
    Inet(SocketAddr),
}

/// The longest unix socket path or abstract name (`sun_path` holds 108 bytes: a path's
/// terminating NUL, or an abstract name's leading one).
pub(crate) const UNIX_NAME_MAX: usize = 107;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A connected pair of unix stream sockets.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: fresh fds owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A sockaddr of any family, as the kernel takes it.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn from_address(address: &Address) -> io::Result<RawAddr> {
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match address {
            Address::Path(path) | Address::Abstract(path) => {
                // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_un.
                let un = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
                un.sun_family = libc::AF_UNIX as libc::sa_family_t;
                let start = usize::from(matches!(address, Address::Abstract(_)));
                // A path needs its terminating NUL; an abstract name is exactly its bytes.
                let room = un.sun_path.len() - usize::from(start == 0);
                if path.len() + start > room || (start == 0 && path.contains(&0)) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "unix socket name too long or has a NUL",
                    ));
                }
                for (i, b) in path.iter().enumerate() {
                    un.sun_path[start + i] = *b as libc::c_char;
                }
                let used = start + path.len() + usize::from(start == 0);
                (size_of::<libc::sa_family_t>() + used) as libc::socklen_t
            }
            Address::Inet(SocketAddr::V4(v4)) => {
                // SAFETY: room and alignment for a sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            Address::Inet(SocketAddr::V6(v6)) => {
                // SAFETY: room and alignment for a sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        };
        Ok(RawAddr { storage, len })
    }

    fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: an all-zero sockaddr_storage is valid.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    fn to_address(&self) -> Option<Address> {
        match self.family() {
            libc::AF_UNIX => {
                // SAFETY: the kernel filled a sockaddr_un of `len` bytes.
                let un = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_un) };
                let used = (self.len as usize).saturating_sub(size_of::<libc::sa_family_t>());
                let bytes: Vec<u8> = un.sun_path[..used.min(un.sun_path.len())]
                    .iter()
                    .map(|c| *c as u8)
                    .collect();
                match bytes.split_first() {
                    Some((0, name)) => Some(Address::Abstract(name.to_vec())),
                    _ => Some(Address::Path(
                        bytes.split(|b| *b == 0).next().unwrap_or(&[]).to_vec(),
                    )),
                }
            }
            libc::AF_INET => {
                // SAFETY: the kernel filled a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(Address::Inet(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                ))))
            }
            libc::AF_INET6 => {
                // SAFETY: the kernel filled a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(Address::Inet(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                ))))
            }
            _ => None,
        }
    }
}

fn domain(address: &Address) -> libc::c_int {
    match address {
        Address::Path(_) | Address::Abstract(_) => libc::AF_UNIX,
        Address::Inet(SocketAddr::V4(_)) => libc::AF_INET,
        Address::Inet(SocketAddr::V6(_)) => libc::AF_INET6,
    }
}

fn new_socket(address: &Address) -> io::Result<OwnedFd> {
    // SAFETY: socket takes plain integers.
    let fd =
        cvt(unsafe { libc::socket(domain(address), libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket bound to `address` and listening, with `SO_REUSEADDR` for TCP as Python sets.
pub(crate) fn listen(address: &Address, backlog: i32) -> io::Result<OwnedFd> {
    let fd = new_socket(address)?;
    if let Address::Inet(_) = address {
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid int option value of the given size.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                &one as *const _ as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
    }
    let raw = RawAddr::from_address(address)?;
    // SAFETY: `raw` holds a valid sockaddr of `len` bytes.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &raw.storage as *const _ as *const libc::sockaddr,
            raw.len,
        )
    })?;
    // SAFETY: a bound socket.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    // Non-blocking: `accept` returns at once when nobody waits, so waits stay bounded.
    set_blocking(fd.as_fd(), false)?;
    Ok(fd)
}

/// The address a socket is bound to.
pub(crate) fn local_address(fd: BorrowedFd<'_>) -> io::Result<Option<Address>> {
    let mut raw = RawAddr::empty();
    // SAFETY: `raw.storage` has room for `raw.len` bytes, which the kernel updates.
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            &mut raw.storage as *mut _ as *mut libc::sockaddr,
            &mut raw.len,
        )
    })?;
    Ok(raw.to_address())
}

/// Accepts one connection if one is waiting (`Ok(None)` otherwise), close-on-exec, with
/// the peer's address.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<Option<(OwnedFd, Option<Address>)>> {
    let mut raw = RawAddr::empty();
    // SAFETY: `raw.storage` has room for `raw.len` bytes.
    let conn = unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            &mut raw.storage as *mut _ as *mut libc::sockaddr,
            &mut raw.len,
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    };
    if conn < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED) => Ok(None),
            _ => Err(err),
        };
    }
    // SAFETY: a fresh fd owned by nobody else.
    let conn = unsafe { OwnedFd::from_raw_fd(conn) };
    set_blocking(conn.as_fd(), true)?;
    Ok(Some((conn, raw.to_address())))
}

/// Starts connecting to `address` without blocking: returns the socket, connected or in
/// progress (poll it for writability, then [`connect_result`]).
pub(crate) fn connect_start(address: &Address) -> io::Result<OwnedFd> {
    let fd = new_socket(address)?;
    set_blocking(fd.as_fd(), false)?;
    let raw = RawAddr::from_address(address)?;
    // SAFETY: `raw` holds a valid sockaddr of `len` bytes.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &raw.storage as *const _ as *const libc::sockaddr,
            raw.len,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) {
            return Err(err);
        }
    }
    Ok(fd)
}

/// The outcome of a non-blocking connect once the socket is writable; makes it blocking.
pub(crate) fn connect_result(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` is an int of `len` bytes.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    set_blocking(fd, true)
}

fn set_blocking(fd: BorrowedFd<'_>, blocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a valid fd.
    unsafe {
        let flags = cvt(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        let flags = if blocking {
            flags & !libc::O_NONBLOCK
        } else {
            flags | libc::O_NONBLOCK
        };
        cvt(libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags)).map(drop)
    }
}

/// Sends as much of `parts` as the socket takes now, without blocking; `Ok(0)` when it
/// takes nothing now. `EPIPE`/`ECONNRESET` when the peer is gone (never SIGPIPE).
pub(crate) fn send(fd: BorrowedFd<'_>, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid; we point it at `parts`, which outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = parts.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = parts.len();
    // SAFETY: `msg` describes valid buffers (IoSlice is ABI-compatible with iovec).
    let n = unsafe {
        libc::sendmsg(
            fd.as_raw_fd(),
            &msg,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(0),
            _ => Err(err),
        };
    }
    Ok(n as usize)
}

/// What a non-blocking receive got.
/// (`Eof` also stands for a reset: a peer that closed with data unread.)
pub(crate) enum Received {
    Bytes(usize),
    /// The peer closed its end.
    Eof,
    /// Nothing to read now.
    Nothing,
}

/// Receives into `buf` without blocking.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    received(n, buf.len())
}

/// Receives at most `max` bytes into the spare capacity of `buf` (extending its length)
/// without blocking, and without zero-filling the buffer first.
pub(crate) fn recv_spare(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Received> {
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    // SAFETY: the kernel writes at most `want` bytes into the allocated spare capacity;
    // `set_len` below covers only what it wrote.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            want,
            libc::MSG_DONTWAIT,
        )
    };
    let got = received(n, want)?;
    if let Received::Bytes(n) = got {
        // SAFETY: the first `n` spare bytes were just initialised by recv.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Ok(got)
}

/// What `recv`'s return value `n` means, for a request of `want` bytes.
fn received(n: isize, want: usize) -> io::Result<Received> {
    match n {
        0 if want > 0 => Ok(Received::Eof),
        n if n >= 0 => Ok(Received::Bytes(n as usize)),
        _ => {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(Received::Nothing),
                // The peer closed with data of ours unread: for us, it is gone all the same.
                Some(libc::ECONNRESET) => Ok(Received::Eof),
                _ => Err(err),
            }
        }
    }
}

/// Removes a unix socket file (a listener's, when it is freed).
pub(crate) fn unlink(path: &[u8]) -> io::Result<()> {
    let path =
        std::ffi::CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path.
    cvt(unsafe { libc::unlink(path.as_ptr()) }).map(drop)
}
