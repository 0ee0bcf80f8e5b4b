//! Handles that cross to a child started by `exec`: each object writes what names it in
//! shared memory or the kernel (heap objects by place, descriptors by number) into an
//! [`Outbox`], and the child makes the same object again from an [`Inbox`].
//!
//! A heap object passed counts the child as one more holder, before it starts (as a fork
//! does); if it never starts, the [`Outbox`] lets go of those holds again.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::heap::{self, Object, Passed};
use crate::wire::{Reader, Writer};

/// An object that a spawned child can use: written by `pass`, made again by `receive`.
pub(crate) trait Passable: Send + Sync {
    /// Writes what names this object for the child.
    fn pass(&self, out: &mut Outbox) -> Result<()>;

    /// The object `pass` wrote, in the child.
    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Self>>
    where
        Self: Sized;
}

/// The error for a managed object, which does not cross (yet): its proxy would need the
/// manager's address and a reference of its own.
pub(crate) fn managed_not_passed(what: &str) -> Error {
    Error::new(
        ErrorKind::NotSupported,
        format!("a manager's {what} cannot be passed to a process started by exec"),
    )
}

/// What a parent writes for its child: bytes, the descriptors they name by index, and
/// the holds counted for the child.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(crate) bytes: Vec<u8>,
    fds: Vec<RawFd>,
    holds: Vec<Passed>,
}

impl Outbox {
    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes.put_u64(value);
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.bytes.put_bytes(bytes);
    }

    /// A heap object, the child counted as a holder.
    pub(crate) fn object(&mut self, object: &Object) -> Result<()> {
        let passed = object.pass()?;
        self.u64(passed.place());
        self.holds.push(passed);
        Ok(())
    }

    /// A descriptor, which must stay open until the child has started.
    pub(crate) fn fd(&mut self, fd: BorrowedFd<'_>) {
        let index = self.fd_index(fd);
        self.u64(index);
    }

    /// The index the child finds `fd` at (which must stay open until it has started).
    pub(crate) fn fd_index(&mut self, fd: BorrowedFd<'_>) -> u64 {
        let raw = fd.as_raw_fd();
        let index = match self.fds.iter().position(|f| *f == raw) {
            Some(index) => index,
            None => {
                self.fds.push(raw);
                self.fds.len() - 1
            }
        };
        index as u64
    }

    /// The descriptors named, by index.
    pub(crate) fn fds(&self) -> &[RawFd] {
        &self.fds
    }

    /// The child started: its holds are its own now.
    pub(crate) fn sent(mut self) {
        self.holds.clear();
    }
}

impl Drop for Outbox {
    /// The child never started: the holds counted for it are let go.
    fn drop(&mut self) {
        for passed in self.holds.drain(..) {
            passed.withdraw();
        }
    }
}

/// What a child reads back: the bytes, and the descriptors it received, by index.
pub(crate) struct Inbox<'a> {
    pub(crate) reader: Reader<'a>,
    fds: &'a [OwnedFd],
}

impl<'a> Inbox<'a> {
    pub(crate) fn new(reader: Reader<'a>, fds: &'a [OwnedFd]) -> Inbox<'a> {
        Inbox { reader, fds }
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.reader.u64()
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        self.reader.sized()
    }

    /// A heap object the parent passed, its hold already counted.
    pub(crate) fn object(&mut self) -> Result<Object> {
        let place = self.u64()?;
        heap::adopt(place)
    }

    /// A descriptor, this process's own from here on (a copy: another handle may name
    /// the same one).
    pub(crate) fn fd(&mut self) -> Result<OwnedFd> {
        let index = self.u64()?;
        take_fd(self.fds, index)
    }
}

/// Descriptor `index` of `fds` (passed to this process), copied.
pub(crate) fn take_fd(fds: &[OwnedFd], index: u64) -> Result<OwnedFd> {
    let fd = usize::try_from(index)
        .ok()
        .and_then(|i| fds.get(i))
        .ok_or_else(|| Error::new(ErrorKind::Protocol, format!("no passed descriptor {index}")))?;
    fd.try_clone()
        .map_err(|e| Error::os("dup of a passed descriptor", e))
}
