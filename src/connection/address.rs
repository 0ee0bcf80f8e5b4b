//! Connection addresses as strings: `unix:PATH`, `unix:@NAME` (Linux abstract), and
//! `tcp://HOST:PORT` (IPv4, `[IPv6]`, or a host name), as the C API spells them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::sys::socket::{Address, UNIX_NAME_MAX};

/// Parses an address string, resolving a host name with the system's resolver.
pub(crate) fn parse(text: &str) -> Result<Address> {
    parse_with(text, |host, port| {
        (host, port).to_socket_addrs().map(Iterator::collect)
    })
}

/// Parses an address string; `resolve` gives the addresses of a TCP host (numeric or a
/// name) and port. The fuzz target passes one that does no look-ups.
pub(crate) fn parse_with(
    text: &str,
    resolve: impl FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>>,
) -> Result<Address> {
    if let Some(rest) = text.strip_prefix("unix:") {
        if let Some(name) = rest.strip_prefix('@') {
            if name.is_empty() {
                return Err(Error::invalid_argument(
                    "address: an abstract unix name is empty",
                ));
            }
            check_unix_length(name)?;
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if rest.is_empty() {
            return Err(Error::invalid_argument(
                "address: a unix socket path is empty",
            ));
        }
        check_unix_length(rest)?;
        return Ok(Address::Path(rest.as_bytes().to_vec()));
    }
    if let Some(rest) = text.strip_prefix("tcp://") {
        return parse_tcp(rest, resolve).map(Address::Inet);
    }
    Err(Error::invalid_argument(format!(
        "address {text:?}: expected unix:PATH, unix:@NAME or tcp://HOST:PORT"
    )))
}

fn check_unix_length(name: &str) -> Result<()> {
    if name.len() > UNIX_NAME_MAX {
        return Err(Error::invalid_argument(format!(
            "address: a unix socket name has at most {UNIX_NAME_MAX} bytes, not {}",
            name.len()
        )));
    }
    Ok(())
}

fn parse_tcp(
    rest: &str,
    resolve: impl FnOnce(&str, u16) -> io::Result<Vec<SocketAddr>>,
) -> Result<SocketAddr> {
    let bad = |why: &str| Error::invalid_argument(format!("address tcp://{rest}: {why}"));
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no :PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr = v6.parse().map_err(|_| bad("not an IPv6 address in [ ]"))?;
        return Ok(SocketAddr::new(ip.into(), port));
    }
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let mut found =
        resolve(host, port).map_err(|e| bad(&format!("cannot resolve the host: {e}")))?;
    // A name resolves to IPv4 first, as Python's AF_INET family does.
    found.sort_by_key(|a| a.is_ipv6());
    found
        .into_iter()
        .next()
        .ok_or_else(|| bad("the host has no address"))
}

/// An address as a string, with numeric hosts.
pub(crate) fn format(address: &Address) -> String {
    match address {
        Address::Path(path) => format!("unix:{}", String::from_utf8_lossy(path)),
        Address::Abstract(name) => format!("unix:@{}", String::from_utf8_lossy(name)),
        Address::Inet(SocketAddr::V4(v4)) => format!("tcp://{}:{}", v4.ip(), v4.port()),
        Address::Inet(SocketAddr::V6(v6)) => format!("tcp://[{}]:{}", v6.ip(), v6.port()),
    }
}

/// A fresh private address: an abstract unix name, which leaves no file behind.
pub(crate) fn fresh_private() -> Address {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut random = [0u8; 6];
    // Without random bytes the pid and counter still make the name unique enough.
    let _ = getrandom::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!(
        "pc-{}-{}-{hex}",
        crate::sys::process::getpid(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    Address::Abstract(name.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        for text in [
            "unix:/tmp/x.sock",
            "unix:@name",
            "tcp://127.0.0.1:0",
            "tcp://[::1]:8080",
        ] {
            assert_eq!(format(&parse(text).unwrap()), text);
        }
        assert_eq!(
            format(&parse("tcp://localhost:80").unwrap()),
            "tcp://127.0.0.1:80"
        );
        let long = format!("unix:/{}", "x".repeat(UNIX_NAME_MAX));
        assert!(parse(&long).is_err());
        assert!(parse(&format!("unix:@{}", "x".repeat(UNIX_NAME_MAX))).is_ok());
        for bad in [
            "",
            "unix:",
            "unix:@",
            "tcp://1.2.3.4",
            "tcp://:1",
            "tcp://[::1:1",
            "udp://x:1",
            "tcp://h:70000",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
