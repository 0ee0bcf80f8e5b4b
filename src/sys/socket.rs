//! Stream sockets: socketpairs, listening and connecting sockets (unix paths, Linux
//! abstract names, TCP over IPv4 and IPv6), non-blocking send and receive.
//! Every fd is close-on-exec, and sends use `MSG_NOSIGNAL`: a peer that went away gives
//! `EPIPE`, never a SIGPIPE.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    self, AddressFamily, RecvFlags, SendFlags, SocketAddrAny, SocketAddrUnix, SocketFlags,
    SocketType,
};

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

/// A connected pair of unix stream sockets.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (family, kind) = (AddressFamily::UNIX, SocketType::STREAM);
    Ok(net::socketpair(family, kind, SocketFlags::CLOEXEC, None)?)
}

/// `address` as the kernel takes it.
fn socket_address(address: &Address) -> io::Result<SocketAddrAny> {
    let unix = match address {
        Address::Path(path) if path.len() <= UNIX_NAME_MAX => SocketAddrUnix::new(&path[..]),
        Address::Path(_) => Err(Errno::NAMETOOLONG),
        Address::Abstract(name) => SocketAddrUnix::new_abstract_name(name),
        Address::Inet(inet) => return Ok((*inet).into()),
    };
    unix.map(SocketAddrAny::from).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "unix socket name too long or has a NUL",
        )
    })
}

/// What the kernel says a socket is bound or connected to (`None`: another family).
fn to_address(address: SocketAddrAny) -> Option<Address> {
    if address.address_family() != AddressFamily::UNIX {
        return SocketAddr::try_from(address).ok().map(Address::Inet);
    }
    let unix = SocketAddrUnix::try_from(address).ok()?;
    Some(match unix.abstract_name() {
        Some(name) => Address::Abstract(name.to_vec()),
        // A path, or none (an unbound peer's): an empty path.
        None => Address::Path(unix.path_bytes().unwrap_or_default().to_vec()),
    })
}

/// A stream socket for `address`'s family, close-on-exec and non-blocking.
fn new_socket(address: &SocketAddrAny) -> io::Result<OwnedFd> {
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    Ok(net::socket_with(
        address.address_family(),
        SocketType::STREAM,
        flags,
        None,
    )?)
}

/// A socket bound to `address` and listening, with `SO_REUSEADDR` for TCP as Python sets.
/// Non-blocking: `accept` returns at once when nobody waits, so waits stay bounded.
pub(crate) fn listen(address: &Address, backlog: i32) -> io::Result<OwnedFd> {
    let bound = socket_address(address)?;
    let fd = new_socket(&bound)?;
    if let Address::Inet(_) = address {
        net::sockopt::set_socket_reuseaddr(&fd, true)?;
    }
    net::bind(&fd, &bound)?;
    net::listen(&fd, backlog)?;
    Ok(fd)
}

/// The address a socket is bound to.
pub(crate) fn local_address(fd: BorrowedFd<'_>) -> io::Result<Option<Address>> {
    Ok(to_address(net::getsockname(fd)?))
}

/// Accepts one connection if one is waiting (`Ok(None)` otherwise), close-on-exec and
/// blocking (it does not inherit the listener's `O_NONBLOCK`), with the peer's address.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<Option<(OwnedFd, Option<Address>)>> {
    match net::acceptfrom_with(fd, SocketFlags::CLOEXEC) {
        Ok((conn, peer)) => Ok(Some((conn, peer.and_then(to_address)))),
        Err(Errno::AGAIN | Errno::INTR | Errno::CONNABORTED) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Starts connecting to `address` without blocking: returns the socket, connected or in
/// progress (poll it for writability, then [`connect_result`]).
pub(crate) fn connect_start(address: &Address) -> io::Result<OwnedFd> {
    let target = socket_address(address)?;
    let fd = new_socket(&target)?;
    match net::connect(&fd, &target) {
        Ok(()) | Err(Errno::INPROGRESS | Errno::INTR) => Ok(fd),
        Err(err) => Err(err.into()),
    }
}

/// The outcome of a non-blocking connect once the socket is writable; makes it blocking.
pub(crate) fn connect_result(fd: BorrowedFd<'_>) -> io::Result<()> {
    net::sockopt::socket_error(fd)??;
    Ok(rustix::io::ioctl_fionbio(fd, false)?)
}

/// Sends as much of `parts` as the socket takes now, without blocking; `Ok(0)` when it
/// takes nothing now. `EPIPE`/`ECONNRESET` when the peer is gone (never SIGPIPE).
pub(crate) fn send(fd: BorrowedFd<'_>, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    match net::sendmsg(fd, parts, &mut Default::default(), flags) {
        Ok(n) => Ok(n),
        Err(Errno::AGAIN | Errno::INTR) => Ok(0),
        Err(err) => Err(err.into()),
    }
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
    let want = buf.len();
    received(
        net::recv(fd, buf, RecvFlags::DONTWAIT).map(|(n, _)| n),
        want,
    )
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
    let got = net::recv(fd, &mut spare[..want], RecvFlags::DONTWAIT);
    let got = received(got.map(|((filled, _), _)| filled.len()), want)?;
    if let Received::Bytes(n) = got {
        // SAFETY: recv initialised the first `n` spare bytes.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Ok(got)
}

/// What `recv`'s outcome means, for a request of `want` bytes.
fn received(got: rustix::io::Result<usize>, want: usize) -> io::Result<Received> {
    match got {
        Ok(0) if want > 0 => Ok(Received::Eof),
        Ok(n) => Ok(Received::Bytes(n)),
        Err(Errno::AGAIN | Errno::INTR) => Ok(Received::Nothing),
        // The peer closed with data of ours unread, or its host stopped answering (see
        // `watch_peer`): for us, it is gone all the same.
        Err(Errno::CONNRESET | Errno::TIMEDOUT) => Ok(Received::Eof),
        Err(err) => Err(err.into()),
    }
}

/// Shuts both directions down: the peer sees the end, and a poll on `fd` wakes.
pub(crate) fn shutdown(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(net::shutdown(fd, net::Shutdown::Both)?)
}

/// Removes a unix socket file (a listener's, when it is freed).
pub(crate) fn unlink(path: &[u8]) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::remove_file(std::ffi::OsStr::from_bytes(path))
}

/// The most descriptors one [`send_fds`] carries (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// A connected pair of unix datagram-stream (`SOCK_SEQPACKET`) sockets: each send is
/// received whole, with the descriptors it carried.
pub(crate) fn packet_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (family, kind) = (AddressFamily::UNIX, SocketType::SEQPACKET);
    Ok(net::socketpair(family, kind, SocketFlags::CLOEXEC, None)?)
}

/// Sends `bytes` (one packet) with `fds`, blocking until the socket takes them.
pub(crate) fn send_fds(fd: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    loop {
        match sendmsg_fds(fd, bytes, fds, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Sends `bytes` with `fds` if the socket takes them now: `Ok(false)` when it does not
/// (nothing was sent). `EPIPE`/`ECONNRESET` when the peer is gone (never SIGPIPE).
pub(crate) fn try_send_fds(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<bool> {
    match sendmsg_fds(fd, bytes, fds, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
        Ok(_) => Ok(true),
        Err(Errno::AGAIN | Errno::INTR) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// One `sendmsg` of `bytes` with `fds` as `SCM_RIGHTS`.
fn sendmsg_fds(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
    flags: SendFlags,
) -> rustix::io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage};
    if fds.len() > MAX_FDS {
        return Err(Errno::MSGSIZE);
    }
    let mut space =
        vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(fds));
    net::sendmsg(fd, &[io::IoSlice::new(bytes)], &mut control, flags)
}

/// Whether `fd` is a unix socket (the only kind that carries descriptors).
pub(crate) fn is_unix(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(net::sockopt::socket_domain(fd)? == AddressFamily::UNIX)
}

/// The next byte of a stream socket, looked at without taking it (nor the descriptors
/// sent with it).
pub(crate) enum Peeked {
    /// A byte with no descriptor.
    Data,
    /// A byte that carries descriptors.
    Fds,
    /// The peer closed its end.
    Eof,
    /// Nothing to read now.
    Nothing,
}

/// Looks at the next byte without blocking and without taking it: with no room for
/// control data, the kernel flags (`MSG_CTRUNC`) but does not install the descriptors
/// that came with it.
pub(crate) fn peek(fd: BorrowedFd<'_>) -> io::Result<Peeked> {
    let mut byte = [0u8; 1];
    let mut control = rustix::net::RecvAncillaryBuffer::new(&mut []);
    let flags = RecvFlags::DONTWAIT | RecvFlags::PEEK;
    match net::recvmsg(
        fd,
        &mut [io::IoSliceMut::new(&mut byte)],
        &mut control,
        flags,
    ) {
        Ok(msg) if msg.bytes == 0 => Ok(Peeked::Eof),
        Ok(msg) if msg.flags.contains(net::ReturnFlags::CTRUNC) => Ok(Peeked::Fds),
        Ok(_) => Ok(Peeked::Data),
        Err(Errno::AGAIN | Errno::INTR) => Ok(Peeked::Nothing),
        Err(Errno::CONNRESET) => Ok(Peeked::Eof),
        Err(err) => Err(err.into()),
    }
}

/// Receives one packet of at most `buf.len()` bytes and its descriptors (close-on-exec)
/// without blocking: `Ok(None)` at end-of-file, `Nothing` when none waits.
pub(crate) fn recv_fds(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<Option<(Received, Vec<OwnedFd>)>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage};
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let flags = RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC;
    let got = net::recvmsg(fd, &mut [io::IoSliceMut::new(buf)], &mut control, flags);
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    match got {
        Ok(msg) if msg.bytes == 0 && fds.is_empty() => Ok(None),
        Ok(msg) => Ok(Some((Received::Bytes(msg.bytes), fds))),
        Err(Errno::AGAIN | Errno::INTR) => Ok(Some((Received::Nothing, fds))),
        Err(err) => Err(err.into()),
    }
}

/// Whether the peer of a connected stream socket has closed it (or reset it): a peek that
/// reads end of file or fails other than for want of data. Never blocks.
pub(crate) fn peer_closed(fd: impl std::os::fd::AsFd) -> bool {
    matches!(peek(fd.as_fd()), Ok(Peeked::Eof) | Err(_))
}

/// Has the kernel watch the peer of a TCP connection: after `idle` without traffic it
/// probes `count` times, `interval` apart, and data sent but unacknowledged for `unacked`
/// ends the connection as well; either way the next call on it fails (`ETIMEDOUT`). A
/// host that vanished, or a link that was cut, is noticed so, where nothing would come
/// back. Any other socket (unix) is left as it is.
pub(crate) fn watch_peer(
    fd: BorrowedFd<'_>,
    idle: std::time::Duration,
    interval: std::time::Duration,
    count: u32,
    unacked: std::time::Duration,
) -> io::Result<()> {
    use rustix::net::sockopt;
    let family = sockopt::socket_domain(fd)?;
    if family != AddressFamily::INET && family != AddressFamily::INET6 {
        return Ok(());
    }
    sockopt::set_socket_keepalive(fd, true)?;
    sockopt::set_tcp_keepidle(fd, idle)?;
    sockopt::set_tcp_keepintvl(fd, interval)?;
    sockopt::set_tcp_keepcnt(fd, count)?;
    sockopt::set_tcp_user_timeout(fd, unacked.as_millis().try_into().unwrap_or(u32::MAX))?;
    Ok(())
}
