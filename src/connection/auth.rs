//! The authentication handshake of Python's `multiprocessing.connection`: each side proves
//! it knows the shared key with an HMAC of a random challenge from the other side.
//!
//! As CPython 3.12+ does, the challenger sends the `{sha256}` form and accepts both a
//! `{sha256}` reply and the raw HMAC-MD5 reply of Python 3.11 and older; the answerer
//! replies in the form the challenge uses. So Python peers old and new work in both roles.
//! Before authentication a peer gets nothing: every message is at most
//! [`MESSAGE_LIMIT`] bytes and the whole handshake has a deadline.

use std::time::Duration;

use hmac::{Hmac, Mac};

use super::Connection;
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";

/// Random bytes in a challenge (Python 3.12's `MESSAGE_LENGTH`).
const NONCE_LEN: usize = 40;
/// The longest handshake message accepted (Python's `recv_bytes(256)`).
pub const MESSAGE_LIMIT: usize = 256;
/// How long a handshake may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Md5,
    Sha256,
}

impl Digest {
    fn name(self) -> &'static [u8] {
        match self {
            Digest::Md5 => b"md5",
            Digest::Sha256 => b"sha256",
        }
    }

    fn keyed(self, key: &[u8]) -> Keyed {
        match self {
            Digest::Md5 => {
                Keyed::Md5(Hmac::new_from_slice(key).expect("HMAC takes keys of any length"))
            }
            Digest::Sha256 => {
                Keyed::Sha256(Hmac::new_from_slice(key).expect("HMAC takes keys of any length"))
            }
        }
    }
}

/// An HMAC of either digest, keyed.
enum Keyed {
    Md5(Hmac<md5::Md5>),
    Sha256(Hmac<sha2::Sha256>),
}

impl Keyed {
    fn mac(self, message: &[u8]) -> Vec<u8> {
        match self {
            Keyed::Md5(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            Keyed::Sha256(mut m) => {
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Constant-time comparison of `tag` with the HMAC of `message`.
    fn verify(self, message: &[u8], tag: &[u8]) -> bool {
        match self {
            Keyed::Md5(mut m) => {
                m.update(message);
                m.verify_slice(tag).is_ok()
            }
            Keyed::Sha256(mut m) => {
                m.update(message);
                m.verify_slice(tag).is_ok()
            }
        }
    }
}

/// Python's `_get_digest_name_and_payload`: a 16- or 20-byte message is the legacy MD5
/// form; otherwise `{name}` (closing brace within the first 10 bytes) tells the digest.
fn digest_and_payload(message: &[u8]) -> Option<(Digest, &[u8])> {
    if is_legacy(message) {
        return Some((Digest::Md5, message));
    }
    let rest = message.strip_prefix(b"{")?;
    let close = rest.iter().take(9).position(|b| *b == b'}')?;
    let digest = match &rest[..close] {
        b"sha256" => Digest::Sha256,
        b"md5" => Digest::Md5,
        _ => return None,
    };
    Some((digest, &rest[close + 1..]))
}

/// Python 3.11 and older send 20-byte challenges and 16-byte HMAC-MD5 replies, unprefixed.
fn is_legacy(message: &[u8]) -> bool {
    message.len() == 16 || message.len() == 20
}

fn auth_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Auth, message)
}

/// The handshake's receive: at most [`MESSAGE_LIMIT`] bytes, by the deadline.
fn receive(conn: &Connection, deadline: Deadline) -> Result<Vec<u8>> {
    conn.recv_message(Some(MESSAGE_LIMIT), deadline)
        .map_err(|err| match err.kind() {
            ErrorKind::TooLarge => Error::new(ErrorKind::Protocol, err.message()),
            _ => err,
        })
}

/// Challenges the peer to prove it knows `key` (Python's `deliver_challenge`).
pub(crate) fn deliver_challenge(conn: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    let mut message = b"{sha256}".to_vec();
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| {
        Error::new(
            ErrorKind::Os,
            format!("no random bytes for a challenge: {e}"),
        )
    })?;
    message.extend_from_slice(&nonce);
    conn.send_message(&[CHALLENGE, &message].concat(), deadline)?;
    let response = receive(conn, deadline)?;
    let accepted = digest_and_payload(&response)
        .is_some_and(|(digest, tag)| digest.keyed(key).verify(&message, tag));
    if !accepted {
        // Tell the peer, as Python does; it may be gone already.
        let _ = conn.send_message(FAILURE, deadline);
        return Err(auth_error("digest received was wrong"));
    }
    conn.send_message(WELCOME, deadline)
}

/// Answers the peer's challenge with `key` (Python's `answer_challenge`).
pub(crate) fn answer_challenge(conn: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    let message = receive(conn, deadline)?;
    let challenge = message
        .strip_prefix(CHALLENGE)
        .ok_or_else(|| auth_error("protocol error: expected a challenge"))?;
    if challenge.len() < 20 {
        return Err(auth_error(format!(
            "challenge too short: {} bytes",
            challenge.len()
        )));
    }
    let response = match digest_and_payload(challenge) {
        // The legacy form (told by its length, as CPython does: its random bytes may well
        // start with a brace): a raw HMAC-MD5 of the whole challenge.
        Some((Digest::Md5, _)) if is_legacy(challenge) => Digest::Md5.keyed(key).mac(challenge),
        Some((digest, _)) => {
            let mut reply = [b"{", digest.name(), b"}"].concat();
            reply.extend_from_slice(&digest.keyed(key).mac(challenge));
            reply
        }
        None => return Err(auth_error("unsupported challenge: no known digest")),
    };
    conn.send_message(&response, deadline)?;
    if receive(conn, deadline)? != WELCOME {
        return Err(auth_error("digest sent was rejected"));
    }
    Ok(())
}

/// The listening side's handshake: challenge, then answer (as Python's `Listener.accept`).
pub(crate) fn as_server(conn: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    deliver_challenge(conn, key, deadline)?;
    answer_challenge(conn, key, deadline)
}

/// The connecting side's handshake: answer, then challenge (as Python's `Client`).
pub(crate) fn as_client(conn: &Connection, key: &[u8], deadline: Deadline) -> Result<()> {
    answer_challenge(conn, key, deadline)?;
    deliver_challenge(conn, key, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(server_key: &'static [u8], client_key: &'static [u8]) -> (Result<()>, Result<()>) {
        let (a, b) = Connection::pipe(true).unwrap();
        let client =
            std::thread::spawn(move || as_client(&b, client_key, Deadline::after(DEFAULT_TIMEOUT)));
        let server = as_server(&a, server_key, Deadline::after(DEFAULT_TIMEOUT));
        (server, client.join().unwrap())
    }

    #[test]
    fn same_key_passes_and_wrong_key_fails_on_both_sides() {
        let (s, c) = handshake(b"secret", b"secret");
        s.unwrap();
        c.unwrap();
        let (s, c) = handshake(b"secret", b"guess");
        assert_eq!(s.unwrap_err().kind(), ErrorKind::Auth);
        assert_eq!(c.unwrap_err().kind(), ErrorKind::Auth);
    }

    #[test]
    fn digest_forms() {
        assert_eq!(digest_and_payload(&[7; 16]).unwrap().0, Digest::Md5);
        let (d, rest) = digest_and_payload(b"{sha256}abc").unwrap();
        assert_eq!((d, rest), (Digest::Sha256, &b"abc"[..]));
        assert!(digest_and_payload(b"{sha1}abcdefghijklmnopqrstu").is_none());
        assert!(digest_and_payload(b"no brace at all, 25 bytes").is_none());
    }

    #[test]
    fn a_legacy_challenge_starting_with_a_brace_is_still_legacy() {
        let mut challenge = [b'{'; 20];
        challenge[5] = b'}';
        assert_eq!(
            digest_and_payload(&challenge),
            Some((Digest::Md5, &challenge[..]))
        );
        assert!(is_legacy(&challenge));
    }

    #[test]
    fn legacy_md5_challenge_gets_a_raw_md5_reply() {
        let key = b"k";
        let challenge = [3u8; 20];
        let expected = Digest::Md5.keyed(key).mac(&challenge);
        assert_eq!(expected.len(), 16);
        assert!(Digest::Md5.keyed(key).verify(&challenge, &expected));
    }
}
