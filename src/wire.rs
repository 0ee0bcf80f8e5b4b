//! Native-endian fields at the front of a message between two processes of one program
//! on one machine (a pool and its workers, a parent and the child it starts by `exec`):
//! written with [`Writer`], read back with [`Reader`], where a short or garbled message
//! is a `Protocol` error naming what it was, never a panic.

use crate::error::{Error, ErrorKind, Result};

/// Reads fields from the front of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// What the message is, for errors.
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(message: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader {
            rest: message,
            what,
        }
    }

    /// A `Protocol` error about this message.
    #[cold]
    pub(crate) fn malformed(&self, detail: impl std::fmt::Debug) -> Error {
        Error::new(
            ErrorKind::Protocol,
            format!("malformed {} ({detail:?})", self.what),
        )
    }

    pub(crate) fn bytes(&mut self, len: u64) -> Result<&'a [u8]> {
        let len = usize::try_from(len).map_err(|_| self.malformed("length"))?;
        if len > self.rest.len() {
            return Err(self.malformed("truncated"));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    /// Bytes written by [`Writer::put_bytes`]: a length, then that many bytes.
    pub(crate) fn sized(&mut self) -> Result<&'a [u8]> {
        let len = self.u64()?;
        self.bytes(len)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.bytes(N as u64)?.try_into().expect("N bytes"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_ne_bytes(self.array()?))
    }

    /// Fails unless the whole message was read.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.rest.is_empty() {
            true => Ok(()),
            false => Err(self.malformed("trailing bytes")),
        }
    }
}

/// Appends fields for a [`Reader`].
pub(crate) trait Writer {
    fn put_u32(&mut self, value: u32);
    fn put_u64(&mut self, value: u64);
    /// A length, then the bytes ([`Reader::sized`]).
    fn put_bytes(&mut self, bytes: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u32(&mut self, value: u32) {
        self.extend_from_slice(&value.to_ne_bytes());
    }

    fn put_u64(&mut self, value: u64) {
        self.extend_from_slice(&value.to_ne_bytes());
    }

    fn put_bytes(&mut self, bytes: &[u8]) {
        self.put_u64(bytes.len() as u64);
        self.extend_from_slice(bytes);
    }
}
