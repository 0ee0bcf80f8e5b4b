//! A ring of variable-length records in shared memory: the storage of a queue.
//!
//! A record is `[len: u64][seq: u32][unused: u32][payload, padded to 8 bytes]`,
//! contiguous in the ring; one that would cross the end is preceded by a `PAD` header
//! that sends the reader back to the start. `seq` is the record's place in the queue
//! across rings (see `queue`). Each side (the producers, the consumers) is at a [`Cursor`]: how many records
//! it has passed and its byte position, packed in one `u64`, so that a single store both
//! moves the position and counts the record. A process killed before that store leaves
//! nothing half-done for the others: the record it was writing is simply not there, the
//! one it was reading is still there.
//!
//! A ring has no lock of its own: the queue lets one producer and one consumer at a time
//! use it, and hands the cursors in. Its bytes belong to the queue's shared storage.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// Positions count in units of this many bytes (every record is aligned to it).
pub(super) const UNIT: u64 = 8;
/// The header that sends the reader back to the start of the ring.
const PAD: u64 = u64::MAX;
/// Bytes of a record's header.
pub(super) const HEADER: u64 = 16;
/// The most positions a ring may have: positions wrap at 2^32 units, and a ring must
/// hold less than half.
pub(super) const MAX_CAPACITY: u64 = 1 << 34;

/// A side's place in a ring: records passed (wrapping) and position in units (wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    count: u32,
    unit: u32,
}

impl Cursor {
    pub(super) fn load(word: &AtomicU64, order: Ordering) -> Cursor {
        let packed = word.load(order);
        Cursor {
            count: (packed >> 32) as u32,
            unit: packed as u32,
        }
    }

    /// Publishes this cursor: one store, so a record is counted exactly when its bytes
    /// become part of the ring (or leave it).
    pub(super) fn store(self, word: &AtomicU64, order: Ordering) {
        word.store(u64::from(self.count) << 32 | u64::from(self.unit), order);
    }

    /// Records passed since `earlier`.
    pub(super) fn records_since(self, earlier: Cursor) -> u32 {
        self.count.wrapping_sub(earlier.count)
    }

    /// The number of records this side passed, wrapping.
    pub(super) fn count(self) -> u32 {
        self.count
    }

    /// Bytes from `earlier` to this position.
    pub(super) fn bytes_since(self, earlier: Cursor) -> u64 {
        u64::from(self.unit.wrapping_sub(earlier.unit)) * UNIT
    }

    /// Bytes from the start of the positions (wrapping at 2^35).
    pub(super) fn position(self) -> u64 {
        u64::from(self.unit) * UNIT
    }

    pub(super) fn advanced(self, bytes: u64, records: u32) -> Cursor {
        Cursor {
            count: self.count.wrapping_add(records),
            unit: self.unit.wrapping_add((bytes / UNIT) as u32),
        }
    }
}

/// The record at the front of a ring.
pub(super) struct Front<'a> {
    /// Its place in the queue, as given to `push`.
    pub(super) seq: u32,
    /// Its payload, valid until the consumer cursor moves past it.
    pub(super) bytes: &'a [u8],
    /// The consumer cursor just after it.
    pub(super) next: Cursor,
}

impl<'a> Front<'a> {
    /// The record at `at`, `skipped` bytes of padding after the consumer cursor `head`,
    /// taking `size` bytes with its header.
    ///
    /// # Safety
    /// `at` is a whole record (its header's length is its payload's) that stays unchanged
    /// for `'a`: published, and not overwritten before the consumer cursor moves past it.
    pub(super) unsafe fn record(at: *const u8, head: Cursor, skipped: u64, size: u64) -> Front<'a> {
        // SAFETY: the caller's contract; headers are 8-byte aligned.
        unsafe {
            let len = at.cast::<u64>().read() as usize;
            Front {
                seq: at.add(8).cast::<u64>().read() as u32,
                bytes: std::slice::from_raw_parts(at.add(HEADER as usize), len),
                next: head.advanced(skipped + size, 1),
            }
        }
    }
}

/// A record header that does not fit what was published: the shared memory was
/// overwritten from outside (an error rather than a read out of bounds).
#[cold]
pub(super) fn malformed(header: u64) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("queue record header {header:#x} is malformed: shared memory overwritten"),
    )
}

/// A ring of `capacity` bytes (a power of two) in shared memory its owner keeps.
pub(super) struct Ring {
    base: *mut u8,
    capacity: u64,
}

// SAFETY: the ring is plain shared memory, written by one producer and read by one
// consumer at a time (the queue's side locks) under the cursors' release/acquire.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// The ring of the `capacity` bytes at `base`, which must stay mapped and be used by
    /// this ring only as long as it lives.
    pub(super) fn within(base: *mut u8, capacity: u64) -> Ring {
        debug_assert!(capacity.is_power_of_two() && capacity <= MAX_CAPACITY);
        Ring { base, capacity }
    }

    /// Bytes a record of `len` payload bytes takes; `None` beyond any ring.
    pub(super) fn record_size(len: usize) -> Option<u64> {
        let len = u64::try_from(len).ok()?;
        let size = HEADER.checked_add(len.checked_next_multiple_of(UNIT)?)?;
        (size <= MAX_CAPACITY).then_some(size)
    }

    /// Writes `data` as the record `seq` after `tail` if it fits before `free` (the
    /// consumer side's position, or where its freed pages end) comes round again. Returns
    /// the producer cursor after it, to be published by the caller; `None` when full.
    pub(super) fn push(&self, tail: Cursor, free: Cursor, seq: u32, data: &[u8]) -> Option<Cursor> {
        let size = Ring::record_size(data.len())?;
        let mut offset = tail.position() % self.capacity;
        let pad = if offset + size > self.capacity {
            self.capacity - offset
        } else {
            0
        };
        if tail.bytes_since(free) + pad + size > self.capacity {
            return None;
        }
        if pad > 0 {
            self.write_header(offset, PAD);
            offset = 0;
        }
        self.write_header(offset, data.len() as u64);
        self.write_header(offset + 8, u64::from(seq));
        // SAFETY: `offset + size <= capacity`, so the payload lies inside the ring, in
        // space no consumer reads until the caller publishes the new tail.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.at(offset + HEADER), data.len());
        }
        Some(tail.advanced(pad + size, 1))
    }

    /// The record after `head`, which must differ from `tail` (both as published).
    /// A header that does not fit the published bytes means the shared memory was
    /// overwritten from outside: an error rather than a read out of bounds.
    pub(super) fn front(&self, head: Cursor, tail: Cursor) -> Result<Front<'_>> {
        let available = tail.bytes_since(head);
        let mut offset = head.position() % self.capacity;
        let mut skipped = 0;
        let mut len = self.read_header(offset);
        if len == PAD {
            skipped = self.capacity - offset;
            offset = 0;
            len = self.read_header(0);
        }
        match Ring::record_size(len as usize) {
            Some(size) if skipped + size <= available && offset + size <= self.capacity => {
                // SAFETY: the record lies inside the ring and before the published
                // tail; producers do not write it until the consumer cursor moves on.
                Ok(unsafe { Front::record(self.at(offset), head, skipped, size) })
            }
            _ => Err(malformed(len)),
        }
    }

    fn at(&self, offset: u64) -> *mut u8 {
        debug_assert!(offset <= self.capacity);
        // SAFETY: offsets stay within the ring (callers check against `capacity`).
        unsafe { self.base.add(offset as usize) }
    }

    fn write_header(&self, offset: u64, value: u64) {
        // SAFETY: header words are 8-byte aligned and inside the ring: a record's
        // header lies within its checked size, a PAD's first word before the end.
        unsafe { self.at(offset).cast::<u64>().write(value) }
    }

    fn read_header(&self, offset: u64) -> u64 {
        // SAFETY: as in `write_header`.
        unsafe { self.at(offset).cast::<u64>().read() }
    }
}
