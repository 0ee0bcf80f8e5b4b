//! The heap's undo journal: what makes an allocator update all or nothing, even when
//! the process making it is killed halfway.
//!
//! Every change to the allocator's metadata (a word of the block tree, a slab's header,
//! a list head) is made under the heap's lock, and first noted here: the word's place and
//! its old value, then the entry count, then the new value, each store after the last.
//! Finishing an update empties the journal with one store. A process that takes the lock
//! and finds the journal not empty — its last holder died, or an update failed halfway —
//! writes the old values back, newest first, and the metadata is as it was before that
//! update began: a block it was taking is free again, a block it was giving back stays
//! taken (leaked, never corrupt).
//!
//! The stores need no fences between processes: a process that died has stopped, and the
//! lock's acquire makes all it wrote visible. They only must not be reordered in the
//! program of the writer, which `Release` guarantees.

use std::sync::atomic::{AtomicU64, Ordering::*};

/// The most words one update changes: a block's node and its ancestors in the deepest
/// tree (28 levels for 1 TiB of 4 KiB pages), twice over (a slab given back while
/// another is taken), and a few list links and slab header words.
pub(super) const CAPACITY: usize = 128;

/// One noted change: the word at heap offset `at` held `old`.
#[repr(C)]
struct Entry {
    at: AtomicU64,
    old: AtomicU64,
}

/// Lives in the heap's header; all zeros is an empty journal.
#[repr(C)]
pub(super) struct Journal {
    /// The entries noted so far: not 0 while an update is under way.
    len: AtomicU64,
    entries: [Entry; CAPACITY],
}

impl Journal {
    /// Notes that the word at `at` holds `old`, before the caller changes it (its store
    /// must be `Release`, so that it follows this note).
    pub(super) fn note(&self, at: u64, old: u64) {
        let n = self.len.load(Relaxed);
        #[cfg(test)]
        {
            crash_point();
            MOST.fetch_max(n + 1, Relaxed);
        }
        // Never more than CAPACITY (see there); should that bound be wrong, the update
        // loses its undo rather than the process its allocator.
        debug_assert!((n as usize) < CAPACITY, "journal full");
        if let Some(entry) = self.entries.get(n as usize) {
            entry.at.store(at, Relaxed);
            entry.old.store(old, Relaxed);
            self.len.store(n + 1, Release);
        }
    }

    /// Ends an update: all its changes stay.
    pub(super) fn commit(&self) {
        #[cfg(test)]
        crash_point();
        self.len.store(0, Release);
    }

    /// Undoes an unfinished update, newest change first, through `restore(at, old)`.
    pub(super) fn undo(&self, mut restore: impl FnMut(u64, u64)) {
        let n = (self.len.load(Acquire) as usize).min(CAPACITY);
        for entry in self.entries[..n].iter().rev() {
            restore(entry.at.load(Relaxed), entry.old.load(Relaxed));
        }
        self.len.store(0, Release);
    }
}

/// For the test of [`CAPACITY`]: the most entries an update of this process needed.
#[cfg(test)]
pub(super) static MOST: AtomicU64 = AtomicU64::new(0);

/// For the crash tests: the number of journal steps (notes and commits) after which this
/// process stops itself (`SIGSTOP`) in the middle of its update, so that the test can
/// kill it there; 0: never.
#[cfg(test)]
pub(super) static STOP_AFTER: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
fn crash_point() {
    if STOP_AFTER.load(Relaxed) != 0 && STOP_AFTER.fetch_sub(1, Relaxed) == 1 {
        // SAFETY: raise has no preconditions; the test's parent kills this process.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}
