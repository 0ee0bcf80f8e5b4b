//! The spill: where a queue keeps the messages its small ring has no room for, in blocks
//! of the lineage's shared heap taken as they are needed and given back as they are read.
//!
//! It is a ring of [`Spill::CAPACITY`] bytes of *positions*, of which only the stretches
//! holding messages have memory: each [`SEGMENT`] of positions is mapped, through a table
//! of [`SLOTS`] entries (shared by the queue's processes), to a place in a heap block. A
//! block covers one or more consecutive segments, and a record never crosses from one
//! block into another, so its bytes are contiguous. Records have the small ring's format
//! (`[len: u64][seq: u64][payload padded to 8]`); a block's last 8 bytes are always left
//! for a `PAD` header, which sends the reader to where the next block starts (or back to
//! position 0).
//!
//! A table entry is `heap offset of the segment | (segments left in its block - 1)`, 0
//! when the segment has no memory, or `FREED | (segments - 1)` at the first segment of a
//! block already given back. The producers take blocks before publishing the records in
//! them, the consumers give a block back once their position left it (entries cleared,
//! the first marked `FREED`, the position where given-back blocks end published, then the
//! heap block freed). So a process killed at any step leaves at worst one block allocated
//! until the lineage ends; a producer finding blocks that a killed one took but never
//! published reuses them or gives them back.

use std::sync::atomic::{AtomicU64, Ordering::*};

use super::ring::{malformed, Cursor, Front, Ring, HEADER, UNIT};
use crate::error::{Error, ErrorKind, Result};
use crate::heap::Heap;

/// Positions mapped by one table entry (tests use smaller ones, to wrap around quickly).
#[cfg(not(test))]
pub(super) const SEGMENT: u64 = 16 << 20;
#[cfg(test)]
pub(super) const SEGMENT: u64 = 1 << 20;
/// Table entries: the spill's positions over the segment size.
pub(super) const SLOTS: usize = (Spill::CAPACITY / SEGMENT) as usize;
/// A header that sends the reader on: its low bits are how many bytes it skips.
const PAD: u64 = 1 << 63;
/// An entry's bit for a given-back block (its low bits: its segments - 1).
const FREED: u64 = 1 << 63;
/// The low bits of an entry: segments left in its block - 1 (heap pages are at least
/// 4 KiB, so offsets leave them clear).
const LEFT: u64 = 0xfff;

/// A queue's spill: its table lives in the queue's storage.
pub(super) struct Spill<'a> {
    table: &'a [AtomicU64; SLOTS],
    heap: &'a Heap,
}

impl<'a> Spill<'a> {
    /// Positions: 16 GiB (64 MiB in tests). Cursors count positions in 8-byte units that
    /// wrap at 2^32, a multiple of this.
    #[cfg(not(test))]
    pub(super) const CAPACITY: u64 = 1 << 34;
    #[cfg(test)]
    pub(super) const CAPACITY: u64 = 1 << 26;

    pub(super) fn new(table: &'a [AtomicU64; SLOTS], heap: &'a Heap) -> Spill<'a> {
        Spill { table, heap }
    }

    /// The largest message a spill holds.
    pub(super) fn max_message() -> u64 {
        Spill::CAPACITY - SEGMENT - HEADER - UNIT
    }

    fn entry(&self, position: u64) -> u64 {
        self.table[(position / SEGMENT) as usize].load(Acquire)
    }

    /// The end of the block holding `position`, if it has memory (not given back).
    fn block_end(&self, position: u64) -> Option<u64> {
        match self.entry(position) {
            0 => None,
            e if e & FREED != 0 => None,
            e => Some(position / SEGMENT * SEGMENT + ((e & LEFT) + 1) * SEGMENT),
        }
    }

    fn at(&self, position: u64) -> *mut u8 {
        let entry = self.entry(position);
        debug_assert!(entry != 0 && entry & FREED == 0);
        // SAFETY: callers only address positions inside a block with memory.
        unsafe {
            self.heap
                .ptr(entry & !LEFT)
                .add((position % SEGMENT) as usize)
        }
    }

    fn write_word(&self, position: u64, value: u64) {
        // SAFETY: 8-byte aligned, inside a block that has memory (see `at`).
        unsafe { self.at(position).cast::<u64>().write(value) }
    }

    fn read_word(&self, position: u64) -> u64 {
        // SAFETY: as in `write_word`.
        unsafe { self.at(position).cast::<u64>().read() }
    }

    /// Writes `data` as record `seq` after `tail`, taking a block if the current one has
    /// no room, unless that would pass `free` (where given-back blocks end) by more than
    /// the capacity. Returns the producer cursor after it (`None`: the spill is full).
    pub(super) fn push(
        &self,
        tail: Cursor,
        free: Cursor,
        seq: u32,
        data: &[u8],
    ) -> Result<Option<Cursor>> {
        let size = match Ring::record_size(data.len()) {
            Some(size) if size <= Spill::max_message() + HEADER + UNIT => size,
            _ => return Ok(None),
        };
        let at = tail.position() % Spill::CAPACITY;
        let current = self.block_end(at);
        if let Some(end) = current {
            if at + size + UNIT <= end {
                self.write_record(at, seq, data);
                return Ok(Some(tail.advanced(size, 1)));
            }
        }
        // A new block, where the current one ends (or at 0 if it would pass the end).
        let segments = (size + UNIT).div_ceil(SEGMENT);
        let next = current.unwrap_or(at);
        let start = match next + segments * SEGMENT <= Spill::CAPACITY {
            true => next,
            false => Spill::CAPACITY,
        };
        let skip = start - at;
        if tail.bytes_since(free) + skip + size + UNIT > Spill::CAPACITY {
            return Ok(None);
        }
        let start = start % Spill::CAPACITY;
        self.take_block(start, segments)?;
        self.write_record(start, seq, data);
        if skip > 0 {
            // Last: the reader must not follow it before the block is in the table.
            self.write_word(at, PAD | skip);
        }
        Ok(Some(tail.advanced(skip + size, 1)))
    }

    /// Maps `segments` segments from `start` to a block: one a killed producer left there
    /// if it is large enough, else a new one.
    fn take_block(&self, start: u64, segments: u64) -> Result<()> {
        let first = (start / SEGMENT) as usize;
        let entry = self.table[first].load(Acquire);
        if entry != 0 && entry & FREED == 0 {
            if (entry & LEFT) + 1 >= segments {
                return Ok(());
            }
            self.give_back(first, entry)?;
        }
        let len = segments * SEGMENT;
        let offset = self.heap.alloc(len as usize)?;
        for (k, slot) in self.table[first..first + segments as usize]
            .iter()
            .enumerate()
        {
            let k = k as u64;
            slot.store((offset + k * SEGMENT) | (segments - k - 1), Release);
        }
        Ok(())
    }

    fn write_record(&self, at: u64, seq: u32, data: &[u8]) {
        self.write_word(at, data.len() as u64);
        self.write_word(at + 8, u64::from(seq));
        // SAFETY: the record fits its block (checked by `push`), contiguous in the heap,
        // and no consumer reads it before the caller publishes the new tail.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.at(at + HEADER), data.len());
        }
    }

    /// The record after `head`, which must differ from `tail` (both as published). A
    /// header that does not fit what was published means the shared memory was
    /// overwritten from outside: an error rather than a read out of bounds.
    pub(super) fn front(&self, head: Cursor, tail: Cursor) -> Result<Front<'_>> {
        let available = tail.bytes_since(head);
        let mut at = head.position() % Spill::CAPACITY;
        let mut skipped = 0;
        let mut header = self.checked_word(at)?;
        if header & PAD != 0 {
            skipped = header & !PAD;
            if skipped == 0 || skipped >= available {
                return Err(malformed(header));
            }
            at = (at + skipped) % Spill::CAPACITY;
            header = self.checked_word(at)?;
        }
        let fits = |size| {
            skipped + size <= available && self.block_end(at).is_some_and(|end| at + size <= end)
        };
        match Ring::record_size(header as usize) {
            Some(size) if fits(size) => {
                // SAFETY: the record lies inside one block and before the published tail;
                // producers do not write it until the consumer cursor moves on.
                Ok(unsafe { Front::record(self.at(at), head, skipped, size) })
            }
            _ => Err(malformed(header)),
        }
    }

    /// The word at `at`, if its segment has memory.
    fn checked_word(&self, at: u64) -> Result<u64> {
        match self.block_end(at) {
            Some(_) => Ok(self.read_word(at)),
            None => Err(Error::new(
                ErrorKind::Protocol,
                format!("queue spill position {at:#x} has no memory: shared memory overwritten"),
            )),
        }
    }

    /// Gives back the blocks wholly between `free` and `head` (their records all read),
    /// publishing the new `free` in `published` before each block goes back.
    pub(super) fn release(&self, free: Cursor, head: Cursor, published: &AtomicU64) {
        let mut free = free;
        loop {
            let left = head.bytes_since(free);
            let at = free.position() % Spill::CAPACITY;
            let first = (at / SEGMENT) as usize;
            let entry = self.table[first].load(Acquire);
            let extent = match entry {
                // The stretch before the end that no block covered: the reader went back
                // to 0 over it.
                0 => Spill::CAPACITY - at,
                e => ((e & LEFT) + 1) * SEGMENT,
            };
            if left < extent || left == 0 {
                return;
            }
            free = free.advanced(extent, 0);
            if entry != 0 && entry & FREED == 0 {
                for slot in &self.table[first + 1..first + (extent / SEGMENT) as usize] {
                    slot.store(0, Relaxed);
                }
                self.table[first].store(FREED | (entry & LEFT), Release);
                free.store(published, Release);
                self.free_block(entry, extent);
            } else {
                free.store(published, Release);
            }
        }
    }

    /// Gives back a block a killed producer took but never published.
    fn give_back(&self, first: usize, entry: u64) -> Result<()> {
        let segments = (entry & LEFT) + 1;
        for slot in &self.table[first..first + segments as usize] {
            slot.store(0, Relaxed);
        }
        self.heap.free(entry & !LEFT, (segments * SEGMENT) as usize)
    }

    fn free_block(&self, entry: u64, len: u64) {
        if let Err(err) = self.heap.free(entry & !LEFT, len as usize) {
            log::warn!("queue spill: {err}");
        }
    }

    /// At the queue's end: gives back every block still holding messages (or left by a
    /// killed producer).
    pub(super) fn release_all(&self) {
        let mut first = 0;
        while first < SLOTS {
            let entry = self.table[first].swap(0, AcqRel);
            let segments = match entry {
                0 => 1,
                e => (e & LEFT) + 1,
            } as usize;
            for slot in &self.table[first + 1..(first + segments).min(SLOTS)] {
                slot.store(0, Relaxed);
            }
            if entry != 0 && entry & FREED == 0 {
                self.free_block(entry, segments as u64 * SEGMENT);
            }
            first += segments;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap;

    /// A spill with its own table, and its three cursors.
    struct Fixture {
        table: Box<[AtomicU64; SLOTS]>,
        tail: AtomicU64,
        head: AtomicU64,
        free: AtomicU64,
        put: u32,
        got: u32,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                table: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
                tail: AtomicU64::new(0),
                head: AtomicU64::new(0),
                free: AtomicU64::new(0),
                put: 0,
                got: 0,
            }
        }

        fn spill(&self) -> Spill<'_> {
            Spill::new(&self.table, heap::lineage().unwrap())
        }

        fn push(&mut self, len: usize) -> bool {
            let (tail, free) = (
                Cursor::load(&self.tail, SeqCst),
                Cursor::load(&self.free, SeqCst),
            );
            let data = message(self.put, len);
            match self.spill().push(tail, free, self.put, &data).unwrap() {
                Some(next) => {
                    next.store(&self.tail, SeqCst);
                    self.put += 1;
                    true
                }
                None => false,
            }
        }

        fn pop(&mut self, len: usize) {
            let spill = self.spill();
            let (head, tail) = (
                Cursor::load(&self.head, SeqCst),
                Cursor::load(&self.tail, SeqCst),
            );
            spill.release(Cursor::load(&self.free, SeqCst), head, &self.free);
            let front = spill.front(head, tail).unwrap();
            assert_eq!(front.seq, self.got);
            assert!(
                front.bytes == message(self.got, len),
                "message {}",
                self.got
            );
            front.next.store(&self.head, SeqCst);
            self.got += 1;
        }

        /// The blocks the table maps: (heap offset, bytes).
        fn blocks(&self) -> Vec<(u64, u64)> {
            let mut blocks = Vec::new();
            let mut first = 0;
            while first < SLOTS {
                let e = self.table[first].load(SeqCst);
                let segments = if e == 0 { 1 } else { (e & LEFT) + 1 };
                if e != 0 && e & FREED == 0 {
                    blocks.push((e & !LEFT, segments * SEGMENT));
                }
                first += segments as usize;
            }
            blocks
        }
    }

    /// Message `seq`: its low byte, and `seq` itself in its first 4 bytes.
    fn message(seq: u32, len: usize) -> Vec<u8> {
        let mut m = vec![seq as u8; len];
        let n = len.min(4);
        m[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
        m
    }

    fn size(i: u32) -> usize {
        match i % 10 {
            0 => 3 * SEGMENT as usize + 5,
            1 => 0,
            _ => (i as usize * 7919) % (SEGMENT as usize / 3),
        }
    }

    #[test]
    fn wraps_around_and_gives_back_every_block_it_read() {
        let mut f = Fixture::new();
        let heap = heap::lineage().unwrap();
        // Several times round: a few messages ahead of the reader, of every size.
        for i in 0..400u32 {
            assert!(f.push(size(i)));
            if i >= 3 {
                f.pop(size(f.got));
            }
        }
        while f.got < f.put {
            f.pop(size(f.got));
        }
        let bytes: u64 = (0..f.put).map(|i| size(i) as u64).sum();
        assert!(bytes > Spill::CAPACITY, "round at least once");
        // Only the block of the last message is left.
        let left = f.blocks();
        assert_eq!(left.len(), 1, "{left:?}");
        f.spill().release_all();
        assert!(f.blocks().is_empty());
        let err = heap.free(left[0].0, left[0].1 as usize).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "given back already");
    }

    #[test]
    fn fills_up_to_its_capacity_then_takes_more_as_it_is_read() {
        let mut f = Fixture::new();
        // Two a segment.
        let len = SEGMENT as usize / 2 - 64;
        let mut n = 0;
        while f.push(len) {
            n += 1;
        }
        assert!(n as u64 * len as u64 > Spill::CAPACITY / 2, "{n} messages");
        assert!(n as u64 * len as u64 <= Spill::CAPACITY);
        // A block goes back once the reader left it, at its next read.
        let mut again = 0;
        for _ in 0..n {
            f.pop(len);
            again += usize::from(f.push(len));
        }
        assert!(again >= n - 3, "{again} of {n} put again");
        while f.got < f.put {
            f.pop(len);
        }
        f.spill().release_all();
    }

    #[test]
    fn a_block_a_killed_producer_took_is_used_or_given_back() {
        let heap = heap::lineage().unwrap();
        let mut f = Fixture::new();
        assert!(f.push(10));
        f.pop(10);
        // A producer took the next block (after the first one) and died before it
        // published anything there.
        let spill = f.spill();
        let next = f.blocks()[0].1;
        spill.take_block(next, 1).unwrap();
        let stale = f.blocks()[1];
        // A message that fits the current block leaves it alone; one that needs a block
        // of one segment uses it.
        assert!(f.push(100));
        assert!(f.push(SEGMENT as usize - 64));
        assert_eq!(f.blocks()[1], stale);
        // Again, and this time the message needs two segments: the stale one goes back.
        let next = next + SEGMENT;
        f.spill().take_block(next, 1).unwrap();
        let stale = f.blocks()[2];
        assert!(f.push(SEGMENT as usize + 1));
        assert_ne!(f.blocks()[2], stale);
        let err = heap.free(stale.0, stale.1 as usize).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "given back already");
        for len in [100, SEGMENT as usize - 64, SEGMENT as usize + 1] {
            f.pop(len);
        }
        f.spill().release_all();
    }
}
