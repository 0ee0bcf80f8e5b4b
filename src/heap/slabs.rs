//! Small objects: slabs of one size class each, carved out of 64 KiB blocks.
//!
//! A size class is a power of two from 64 bytes (a cache line: a lock never shares its
//! line with another object, which would slow both when contended) to 4 KiB. Object `i`
//! of a slab starts `i` sizes after the slab's start, so every object is aligned to its
//! size; the slab's header takes its last 256 bytes: the class, the number of objects in
//! use, a bitmap of them, and the links of its class's list of slabs with room (in the
//! heap's header). Full slabs are in no list, so allocating takes the first slab of the
//! list and its first free bit.
//!
//! A freed object is zeroed, so that every allocation is zeros as a fresh page is. A slab
//! whose last object is freed goes back to the blocks (and its memory to the kernel),
//! unless it is its class's only slab with room: one that stays spares a loop of
//! create-free-create the cost of a new block each time.

use super::Meta;

/// The smallest class: 64 bytes.
pub(super) const MIN_CLASS: u32 = 6;
/// The largest class: 4 KiB.
pub(super) const MAX_CLASS: u32 = 12;
/// The number of classes.
pub(super) const CLASSES: usize = (MAX_CLASS - MIN_CLASS + 1) as usize;
/// A slab's size, a power of two.
pub(super) const SLAB: u64 = 64 << 10;

/// The header's size and the places of its words.
const HEADER: u64 = 256;
const CLASS: u64 = 0;
const USED: u64 = 8;
const NEXT: u64 = 16;
const PREV: u64 = 24;
const BITMAP: u64 = 32;
const BITMAP_WORDS: u64 = (SLAB >> MIN_CLASS) / 64;
const _: () = assert!(BITMAP + 8 * BITMAP_WORDS <= HEADER);

/// The number of objects in a slab of `class`.
fn capacity(class: u32) -> u64 {
    (SLAB - HEADER) >> class
}

/// The heap offset of a slab's header.
fn header(slab: u64) -> u64 {
    slab + SLAB - HEADER
}

/// Takes a zeroed object of `2^class` bytes; its heap offset, or `None` when no block is
/// left for a new slab.
pub(super) fn alloc(meta: &Meta, class: u32) -> Option<u64> {
    let list = meta.slabs_with_room(class);
    let mut slab = meta.get(list);
    if slab == 0 {
        slab = meta.alloc_block(SLAB)?;
        meta.set(header(slab) + CLASS, u64::from(class));
        push(meta, list, slab);
    }
    let h = header(slab);
    let index = (0..BITMAP_WORDS)
        .map(|w| (w, meta.get(h + BITMAP + 8 * w)))
        .find(|(_, bits)| *bits != u64::MAX)
        .map(|(w, bits)| (w, 64 * w + u64::from(bits.trailing_ones())))
        .filter(|(_, index)| *index < capacity(class));
    // A slab with room in its list has a free bit: never None unless the heap is corrupt.
    let (word, index) = index?;
    let bits = meta.get(h + BITMAP + 8 * word);
    meta.set(h + BITMAP + 8 * word, bits | 1 << (index % 64));
    let used = meta.get(h + USED) + 1;
    meta.set(h + USED, used);
    if used == capacity(class) {
        unlink(meta, list, slab);
    }
    Some(slab + (index << class))
}

/// Frees the object of `2^class` bytes at `offset`; false if [`alloc`] did not give it.
pub(super) fn free(meta: &Meta, offset: u64, class: u32) -> bool {
    let slab = offset & !(SLAB - 1);
    let (h, index) = (header(slab), (offset - slab) >> class);
    let (word, bit) = (h + BITMAP + 8 * (index / 64), 1 << (index % 64));
    let taken = slab != 0
        && offset < meta.len()
        && meta.get(h + CLASS) == u64::from(class)
        && offset % (1 << class) == 0
        && index < capacity(class)
        && meta.get(word) & bit != 0;
    if !taken {
        return false;
    }
    meta.zero(offset, 1 << class);
    meta.set(word, meta.get(word) & !bit);
    let used = meta.get(h + USED) - 1;
    meta.set(h + USED, used);
    let list = meta.slabs_with_room(class);
    if used + 1 == capacity(class) {
        // It was full, so in no list.
        let first = meta.get(list);
        push(meta, list, slab);
        if first != 0 && meta.get(header(first) + USED) == 0 {
            release(meta, list, first);
        }
    } else if used == 0 && (meta.get(list) != slab || meta.get(h + NEXT) != 0) {
        release(meta, list, slab);
    }
    true
}

/// Gives an empty slab back to the blocks. Its header is zeroed through the journal
/// first, so that the block is all zeros when freed and an undo can restore it.
fn release(meta: &Meta, list: u64, slab: u64) {
    unlink(meta, list, slab);
    meta.set(header(slab) + CLASS, 0);
    meta.free_block(slab, SLAB);
}

/// Puts `slab` first in the list whose head is at `list`.
fn push(meta: &Meta, list: u64, slab: u64) {
    let first = meta.get(list);
    meta.set(header(slab) + NEXT, first);
    if first != 0 {
        meta.set(header(first) + PREV, slab);
    }
    meta.set(list, slab);
}

/// Takes `slab` out of the list whose head is at `list`.
fn unlink(meta: &Meta, list: u64, slab: u64) {
    let h = header(slab);
    let (prev, next) = (meta.get(h + PREV), meta.get(h + NEXT));
    match prev {
        0 => meta.set(list, next),
        prev => meta.set(header(prev) + NEXT, next),
    }
    if next != 0 {
        meta.set(header(next) + PREV, prev);
    }
    meta.set(h + NEXT, 0);
    meta.set(h + PREV, 0);
}

/// For tests: whether each class's list links slabs of that class with room, both ways.
#[cfg(test)]
pub(super) fn check(meta: &Meta) {
    for class in MIN_CLASS..=MAX_CLASS {
        let mut prev = 0;
        let mut slab = meta.get(meta.slabs_with_room(class));
        let mut empty = 0;
        while slab != 0 {
            let h = header(slab);
            assert_eq!(meta.get(h + CLASS), u64::from(class));
            assert_eq!(meta.get(h + PREV), prev, "slab {slab:#x}: back link");
            let used = meta.get(h + USED);
            assert!(used < capacity(class), "slab {slab:#x}: full but listed");
            let bits: u32 = (0..BITMAP_WORDS)
                .map(|w| meta.get(h + BITMAP + 8 * w).count_ones())
                .sum();
            assert_eq!(u64::from(bits), used, "slab {slab:#x}: bitmap and count");
            empty += u32::from(used == 0);
            (prev, slab) = (slab, meta.get(h + NEXT));
        }
        assert!(
            empty == 0 || prev == meta.get(meta.slabs_with_room(class)),
            "empty kept"
        );
    }
}
