//! What crosses to a child started by `exec`: everything a forked child would have had
//! from its parent's memory, as bytes. The descriptors it names (the shared heap's
//! memfd, a watch socket, the passed handles' sockets) travel beside it, by index.
//!
//! The child is the same program on the same machine, so integers are native-endian;
//! still, a payload is read as untrusted (`Protocol` on anything malformed).

use std::ffi::CString;

use crate::error::Result;
use crate::sys::code::CodeRef;
use crate::wire::{Reader, Writer};

/// Marks a payload of this layout.
const MAGIC: u64 = u64::from_be_bytes(*b"pcspawn2");

/// No descriptor (an index).
pub(crate) const NO_FD: u64 = u64::MAX;

/// The child's start, as the parent describes it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Payload {
    /// The function to run, `None`: nothing (exit code 0).
    pub(crate) target: Option<CodeRef>,
    /// Whether `target` is a library entry (`process::Entry`) run with `context`,
    /// rather than a C function run with `arg`.
    pub(crate) entry: bool,
    /// The target's argument: the child passes a pointer to its own copy.
    pub(crate) arg: Vec<u8>,
    pub(crate) name: String,
    /// The parent's identity and this child's number (`Process-1:2` is `[1, 2]`).
    pub(crate) identity: Vec<u32>,
    pub(crate) authkey: Vec<u8>,
    pub(crate) daemon: bool,
    /// The process that asked for the start (a daemonic child dies with it).
    pub(crate) parent: i32,
    /// The process that started the child (its `parent_process()`): its pid, its name,
    /// and its start time when the child is not its OS child (0: it is).
    pub(crate) creator: i32,
    pub(crate) creator_name: String,
    pub(crate) creator_start: u64,
    /// The index of the shared heap's memfd, or [`NO_FD`].
    pub(crate) heap: u64,
    /// The index of the write end of the socket the parent watches this child by, or
    /// [`NO_FD`] (where the parent has a pidfd).
    pub(crate) watch: u64,
    /// The parent's logging, if enabled: its level and format (to standard error).
    pub(crate) logging: Option<(i32, String)>,
    /// The passed handles, written by `passing::Outbox`: a count, then per handle its
    /// value, its kind and what names its object.
    pub(crate) handles: Vec<u8>,
    /// What an entry receives, written by `passing::Outbox` (its descriptors among the
    /// handles').
    pub(crate) context: Vec<u8>,
}

impl Payload {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(256 + self.arg.len() + self.handles.len());
        m.put_u64(MAGIC);
        match &self.target {
            None => m.put_u64(0),
            Some(code) => {
                m.put_u64(1);
                m.put_bytes(code.module.as_bytes());
                m.put_u64(code.offset);
            }
        }
        m.put_u64(u64::from(self.entry));
        m.put_bytes(&self.arg);
        m.put_bytes(self.name.as_bytes());
        m.put_u64(self.identity.len() as u64);
        self.identity.iter().for_each(|n| m.put_u32(*n));
        m.put_bytes(&self.authkey);
        m.put_u64(u64::from(self.daemon));
        m.put_u64(self.parent as u64);
        m.put_u64(self.creator as u64);
        m.put_bytes(self.creator_name.as_bytes());
        m.put_u64(self.creator_start);
        m.put_u64(self.heap);
        m.put_u64(self.watch);
        match &self.logging {
            None => m.put_u64(0),
            Some((level, format)) => {
                m.put_u64(1);
                m.put_u64(*level as u64);
                m.put_bytes(format.as_bytes());
            }
        }
        m.put_bytes(&self.handles);
        m.put_bytes(&self.context);
        m
    }

    pub(crate) fn decode(message: &[u8]) -> Result<Payload> {
        let mut r = Reader::new(message, "spawn payload");
        if r.u64()? != MAGIC {
            return Err(r.malformed("not a payload of this library's version"));
        }
        let target = match flag(&mut r)? {
            false => None,
            true => Some(CodeRef {
                module: CString::new(r.sized()?).map_err(|_| r.malformed("module"))?,
                offset: r.u64()?,
            }),
        };
        let entry = flag(&mut r)?;
        let arg = r.sized()?.to_vec();
        let name = text(&mut r)?;
        let count = r.u64()?;
        if count > 1 << 16 {
            return Err(r.malformed("identity"));
        }
        let identity = (0..count).map(|_| r.u32()).collect::<Result<_>>()?;
        let authkey = r.sized()?.to_vec();
        let daemon = flag(&mut r)?;
        let parent = small(&mut r, "parent")?;
        let creator = small(&mut r, "creator")?;
        let creator_name = text(&mut r)?;
        let creator_start = r.u64()?;
        let heap = r.u64()?;
        let watch = r.u64()?;
        let logging = match flag(&mut r)? {
            false => None,
            true => Some((small(&mut r, "level")?, text(&mut r)?)),
        };
        let handles = r.sized()?.to_vec();
        let context = r.sized()?.to_vec();
        r.finish()?;
        Ok(Payload {
            target,
            entry,
            arg,
            name,
            identity,
            authkey,
            daemon,
            parent,
            creator,
            creator_name,
            creator_start,
            heap,
            watch,
            logging,
            handles,
            context,
        })
    }
}

/// A 0 or a 1 (only these: a payload has one encoding).
fn flag(r: &mut Reader<'_>) -> Result<bool> {
    match r.u64()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(r.malformed(format!("flag {other}"))),
    }
}

/// A non-negative `i32`.
fn small(r: &mut Reader<'_>, what: &str) -> Result<i32> {
    let value = r.u64()?;
    i32::try_from(value).map_err(|_| r.malformed(format!("{what} {value}")))
}

fn text(r: &mut Reader<'_>) -> Result<String> {
    let bytes = r.sized()?;
    String::from_utf8(bytes.to_vec()).map_err(|_| r.malformed("text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_every_truncation_is_refused() {
        let payload = Payload {
            target: Some(CodeRef {
                module: c"/lib/libx.so".into(),
                offset: 0x1234,
            }),
            arg: b"argument".to_vec(),
            name: "Process-3".into(),
            identity: vec![3],
            authkey: vec![7; 32],
            daemon: true,
            parent: 42,
            creator: 41,
            creator_name: "MainProcess".into(),
            creator_start: 12345,
            heap: 0,
            watch: NO_FD,
            logging: Some((10, "[%(levelname)s] %(message)s".into())),
            handles: vec![1, 2, 3],
            entry: true,
            context: vec![4, 5],
        };
        let bytes = payload.encode();
        assert_eq!(Payload::decode(&bytes).unwrap(), payload);
        for len in 0..bytes.len() {
            assert!(Payload::decode(&bytes[..len]).is_err(), "{len} bytes");
        }
        assert_eq!(
            Payload::decode(&Payload::default().encode()).unwrap(),
            Payload::default()
        );
        // One encoding only: a flag is 0 or 1, a pid fits an i32 (found by fuzzing).
        let mut other = bytes.clone();
        other[8] = 2;
        assert!(Payload::decode(&other).is_err());
        let parent_at = bytes
            .windows(8)
            .position(|w| w == 42u64.to_ne_bytes())
            .unwrap();
        let mut negative = bytes.clone();
        negative[parent_at..parent_at + 8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert!(Payload::decode(&negative).is_err());
    }

    #[test]
    fn the_fuzz_seeds_are_payloads_of_this_layout() {
        for seed in [
            &include_bytes!("../../fuzz/corpus/spawn_payload/target")[..],
            &include_bytes!("../../fuzz/corpus/spawn_payload/entry")[..],
        ] {
            let payload = Payload::decode(seed).unwrap();
            assert_eq!(payload.creator_name, "MainProcess");
            assert_eq!(payload.encode(), seed);
        }
    }
}
