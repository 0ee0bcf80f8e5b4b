//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature `fuzzing`; see
//! `docs/FUZZING.md`). Each hands untrusted bytes to one decoder exactly as a peer's bytes
//! reach it, then checks the decoder's contract: a decoded message encodes back to what was
//! read. The decoders must never panic; these functions panic (which the fuzzer reports)
//! only when a decoder panics or breaks its contract.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::{address, auth, Connection, RecvInto};
use crate::deadline::Deadline;
use crate::error::ErrorKind;
use crate::managers::pickle::{self, Value};
use crate::managers::protocol::{self, Reply};
use crate::managers::{proxy, server};
use crate::pool::wire::{self, Task};
use crate::start::payload::Payload;

/// The most peer bytes queued at once: well within a socket's default buffer, so that
/// queueing them never blocks (libFuzzer's inputs are shorter, see `fuzz/run`).
const STREAM_MAX: usize = 64 * 1024;

/// A connection whose peer sent `stream` and then shut its sending side, with that peer
/// (kept open, so that what the connection sends is accepted and left unread).
fn connection_after(stream: &[u8]) -> (Arc<Connection>, UnixStream) {
    let (ours, peer) = UnixStream::pair().expect("a socketpair");
    (&peer)
        .write_all(&stream[..stream.len().min(STREAM_MAX)])
        .expect("the bytes fit in the socket's buffer");
    peer.shutdown(Shutdown::Write).expect("shutdown");
    ours.set_nonblocking(true).expect("O_NONBLOCK");
    (Connection::from_fd(OwnedFd::from(ours), true, true), peer)
}

/// Framing (`recv_bytes`, `recv_bytes_into`): the first byte picks the receive and its
/// limit, the rest is the peer's stream. Every message is read until the stream ends or
/// breaks; each one sent again arrives unchanged.
pub fn framing(data: &[u8]) {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let (conn, _peer) = connection_after(stream);
    let limit = usize::from(mode >> 1);
    let mut messages = Vec::new();
    let end = loop {
        let received = if mode & 1 == 0 {
            conn.recv_bytes((limit < 127).then_some(limit * 8))
        } else {
            receive_into(&conn, limit)
        };
        match received {
            Ok(message) => messages.push(message),
            Err(err) => break err,
        }
    };
    assert!(
        matches!(
            end.kind(),
            ErrorKind::Eof | ErrorKind::Protocol | ErrorKind::TooLarge
        ),
        "the stream ended with {end:?}"
    );
    let framed: usize = messages.iter().map(|m| 4 + m.len()).sum();
    assert!(framed <= stream.len(), "more was received than sent");
    let (a, b) = Connection::pipe(true).expect("a pipe");
    for message in &messages {
        a.send_bytes(message).expect("send");
        assert_eq!(&b.recv_bytes(None).expect("receive"), message);
    }
}

/// `recv_bytes_into` a buffer of `room` bytes; a message that does not fit is kept, and
/// then fits a buffer of its size.
fn receive_into(conn: &Connection, room: usize) -> crate::Result<Vec<u8>> {
    let mut buf = vec![0u8; room];
    match conn.recv_bytes_into(&mut buf, 0)? {
        RecvInto::Fits(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        RecvInto::TooShort(n) => {
            assert!(n > room, "a {n}-byte message did not fit {room} bytes");
            let mut whole = vec![0u8; n];
            match conn.recv_bytes_into(&mut whole, 0)? {
                RecvInto::Fits(got) => assert_eq!(got, n, "the kept message changed"),
                RecvInto::TooShort(got) => panic!("a kept {got}-byte message fits no {n} bytes"),
            }
            Ok(whole)
        }
    }
}

/// The key both handshake targets use: the peer's bytes cannot know it.
const KEY: &[u8] = b"fuzzing key";

/// The handshake against a peer that sends `data` (its messages framed), as `role` runs
/// it. Without the key no peer is authenticated; a bad peer is an error, never a panic.
fn handshake(data: &[u8], role: fn(&Connection, &[u8], Deadline) -> crate::Result<()>) {
    let (conn, _peer) = connection_after(data);
    let result = role(&conn, KEY, Deadline::after(Duration::from_secs(5)));
    let err = result.expect_err("a peer without the key was authenticated");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Auth | ErrorKind::Protocol | ErrorKind::Eof
        ),
        "the handshake failed with {err:?}"
    );
}

/// The listening side's handshake (`Listener.accept`) with the peer's bytes.
pub fn auth_server(data: &[u8]) {
    handshake(data, auth::as_server);
}

/// The connecting side's handshake (`Client`) with the peer's bytes.
pub fn auth_client(data: &[u8]) {
    handshake(data, auth::as_client);
}

/// A pool task message as a worker reads it: what it decodes to encodes to its bytes.
pub fn pool_task(data: &[u8]) {
    let Ok(task) = wire::read_task(data) else {
        return;
    };
    let encoded = match task {
        Task::Stop => wire::stop(),
        Task::Items {
            job,
            first,
            function,
            items,
        } => {
            let count = items.len();
            let items: Vec<&[u8]> = items.collect();
            assert_eq!(items.len(), count, "a checked item went missing");
            wire::items(job, first, &function, &items)
        }
        Task::Elements(chunk) => chunk.encode(),
    };
    assert!(data.starts_with(&encoded), "decoded {encoded:?}");
}

/// A start payload as a child started by exec reads it: what it decodes to encodes to
/// its bytes.
pub fn spawn_payload(data: &[u8]) {
    let Ok(payload) = Payload::decode(data) else {
        return;
    };
    assert_eq!(payload.encode(), data, "decoded {payload:?}");
}

/// A pool result message as the parent reads it: what it decodes to encodes to its bytes.
pub fn pool_reply(data: &[u8]) {
    let Ok(reply) = wire::read_reply(data) else {
        return;
    };
    let mut encoded = Vec::new();
    match reply {
        wire::Reply::Results {
            seq,
            job,
            first,
            items,
        } => {
            let results: Vec<_> = items.collect();
            wire::start_results(&mut encoded, seq, job, first, results.len());
            for result in results {
                wire::push_result(&mut encoded, result.code, result.output);
            }
        }
        wire::Reply::Notice { job } => encoded = wire::notice(job),
        wire::Reply::Died {
            seq,
            job,
            first,
            count,
            why,
        } => {
            let mut results = Vec::new();
            wire::start_results(&mut results, seq, job, first, count as usize);
            match std::str::from_utf8(why) {
                Ok(why) => encoded = wire::died(&results, why),
                // Only text is written there: compare the fields before it.
                Err(_) => {
                    encoded = wire::died(&results, "");
                    encoded.truncate(results.len());
                }
            }
        }
    }
    assert!(data.starts_with(&encoded), "decoded {encoded:?}");
}

/// A manager request as the server reads it: decoded, it pickles (as a client does) into
/// one that decodes to the same request.
pub fn manager_request(data: &[u8]) {
    let Ok(request) = server::decode_request(data) else {
        return;
    };
    let mut bytes = Vec::new();
    proxy::encode(request.clone(), &mut bytes);
    let again = server::decode_request(&bytes).expect("a request as a client pickles it");
    assert_same(&again.to_value(), &request.to_value());
}

/// A manager reply as a client reads it: decoded, the server's encoding of it is the
/// reply's plain pickle and decodes to the same reply; and the quick path for a small
/// `#RETURN` agrees with decoding the whole pickle.
pub fn manager_reply(data: &[u8]) {
    if let Some(quick) = proxy::quick_return(data) {
        let whole = pickle::loads(data).expect("a quick reply is a whole pickle");
        let whole = Reply::from_value(whole).expect("a quick reply is a reply");
        assert_same(&whole.into_value(), &Reply::Return(quick).into_value());
    }
    let Ok(reply) = proxy::decode_reply(data) else {
        return;
    };
    let value = reply.clone().into_value();
    let mut bytes = Vec::new();
    server::encode_reply(reply, &mut bytes);
    assert_eq!(bytes, pickle::dumps(&value), "encode_reply is dumps");
    let again = proxy::decode_reply(&bytes).expect("a reply as the server pickles it");
    assert_same(&again.into_value(), &value);
}

/// Equal values pickle alike (`Value`'s `==` would fail a NaN).
fn assert_same(got: &Value, want: &Value) {
    assert_eq!(
        pickle::dumps(got),
        pickle::dumps(want),
        "{got:?} is not {want:?}"
    );
}

/// Address strings (`pc_listener_new`, `pc_manager_new`, …): one that parses formats to
/// one that parses to the same address without resolving a name, and the manager writes
/// a TCP one with its port. Host names "resolve" to the loopback, without a look-up.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = protocol::address_to_value(text);
    let Ok(parsed) = address::parse_with(text, |host, port| {
        let ip = host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(vec![SocketAddr::new(ip, port)])
    }) else {
        return;
    };
    let formatted = address::format(&parsed);
    let again = address::parse_with(&formatted, |host, port| {
        let ip: IpAddr = host.parse().expect("a formatted host is numeric");
        Ok(vec![SocketAddr::new(ip, port)])
    });
    assert_eq!(again.expect("a formatted address parses"), parsed);
    if let crate::sys::socket::Address::Inet(inet) = parsed {
        let Value::Tuple(host_port) = value else {
            panic!("a TCP address is written as {value:?}");
        };
        assert!(
            matches!(host_port.as_slice(), [Value::Str(_), Value::Int(port)]
                if *port == i64::from(inet.port())),
            "tcp address {text:?} is written as {host_port:?}"
        );
    }
}
