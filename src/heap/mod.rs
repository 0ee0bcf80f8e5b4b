//! The lineage's shared heap: one sparse shared mapping from which every process of a
//! lineage (a process and the children it forks after the heap exists, theirs, …)
//! allocates the objects they share.
//!
//! One mapping per object would cost one of the kernel's `vm.max_map_count` (65,530)
//! mappings each: a program stops at 65k locks, and then cannot even `malloc` a large
//! buffer. So the first object a process makes reserves one large region of address space
//! (a memfd mapped `MAP_SHARED | MAP_NORESERVE`: pages cost memory only once written,
//! and go back to the kernel when freed), and a child forked later inherits it at the
//! same address, so an object made before the fork is the same object in both. A child
//! forked before the heap existed makes its own at its first use. A child started by
//! exec maps the memfd it is handed ([`join`]) at another address: nothing in the heap
//! is an address, so every object is found by its offset there. The reservation is
//! about twice the machine's RAM and swap, all it could ever hold with room for
//! fragmentation, and at least 256 GiB, since much of it is reserved but never touched
//! (a queue's ring, 1 MiB with its spill table, costs memory only as messages pass; a
//! hundred thousand queues need 100 GiB of it): a power of two up to 1 TiB, at most a
//! quarter of an address-space limit, and 64 MiB under valgrind (see
//! `Mapping::new_sparse`).
//!
//! The allocator's state lives in the heap itself, in a [`Header`] at its start and the
//! tree of `blocks` after it, so every process allocates and frees in the same heap —
//! one may free what another allocated. One lock guards it, the library's robust lock
//! ([`LocalLock`]) with its state in the header; every update goes through the undo
//! [`journal`], so a process killed while it holds the lock (even `SIGKILL` in the middle
//! of an update) leaves the heap as it was before that update: the next holder undoes
//! the half-done part. At worst the dead process's last allocation is lost with it.
//!
//! Two kinds of allocation: page-granular blocks of any size ([`Heap::alloc`],
//! [`Heap::free`], by offset, for structures that store offsets rather than addresses),
//! and small objects in slabs (`slabs`), which [`Object`] puts together with the rule
//! that frees them only when no process holds them any more (`objects`).

mod blocks;
mod journal;
mod objects;
mod slabs;

use std::mem::offset_of;
use std::ops::Deref;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use std::sync::Mutex;

use blocks::Tree;
use journal::Journal;
pub(crate) use objects::{adopt, before_fork, release_all, EndFn, ForkGuard, Object, Passed};

use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::synchronize::{LocalLock, LockState};
use crate::sys::shm::{self, Mapping};

/// The bounds of the lineage's reservation (see the module's doc).
const LEAST: usize = 256 << 30;
const MOST: usize = 1 << 40;
/// The smallest reservation accepted where the system refuses larger ones.
const FALLBACK: usize = 64 << 20;

/// The start of the heap: the allocator's state shared by the lineage.
#[repr(C)]
struct Header {
    /// On lines of its own: waiters read it while the holder writes the rest.
    lock: Line<LockState>,
    journal: Journal,
    /// Per size class, the first slab with room (0: none).
    slabs_with_room: [AtomicU64; slabs::CLASSES],
}

#[repr(C, align(128))]
struct Line<T>(T);

/// Where the tree of blocks starts: after the header.
const TREE_AT: u64 = std::mem::size_of::<Header>().next_multiple_of(64) as u64;

/// The heap's lock state, in its header: valid as long as the heap that owns the lock.
struct HeaderLock(NonNull<LockState>);

impl Deref for HeaderLock {
    type Target = LockState;
    fn deref(&self) -> &LockState {
        // SAFETY: the header stays mapped as long as the heap, which owns this lock.
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: a LockState is atomics, made to be shared between threads and processes.
unsafe impl Send for HeaderLock {}
// SAFETY: as above.
unsafe impl Sync for HeaderLock {}

impl Header {
    /// The header at the start of `mapping`.
    fn at(mapping: &Mapping) -> &Header {
        // SAFETY: the mapping is page-aligned, larger than a Header, and all zeros is a
        // valid Header (atomics only); it lives as long as the borrow.
        unsafe { &*mapping.as_ptr().cast::<Header>() }
    }
}

/// A shared heap: the reservation, and this process's view of its fixed geometry.
pub(crate) struct Heap {
    mapping: Mapping,
    page_log2: u32,
    tree: Tree,
    lock: LocalLock<HeaderLock>,
}

/// The lineage's heap in this process, once made or inherited.
static LINEAGE: AtomicPtr<Heap> = AtomicPtr::new(std::ptr::null_mut());
/// Held while the lineage's heap is made, and across a fork (see `crate::lifecycle`).
static MAKING: Mutex<()> = Mutex::new(());

/// The lineage's heap, made at the first call of a process that did not inherit one.
pub(crate) fn lineage() -> Result<&'static Heap> {
    if let Some(heap) = inherited() {
        return Ok(heap);
    }
    let _making = lock_making();
    if let Some(heap) = inherited() {
        return Ok(heap);
    }
    crate::lifecycle::install();
    let heap: &'static Heap = Box::leak(Box::new(Heap::new(lineage_size())?));
    LINEAGE.store(heap as *const Heap as *mut Heap, Release);
    Ok(heap)
}

/// Makes the heap in `memfd` this process's lineage heap: a process started by `exec`
/// joins its parent's lineage so. Before any object is made here (`WrongState` after).
pub(crate) fn join(memfd: OwnedFd) -> Result<&'static Heap> {
    let _making = lock_making();
    if inherited().is_some() {
        return Err(Error::wrong_state(
            "this process already has a shared heap: it cannot join its parent's",
        ));
    }
    let page = shm::page_size();
    let mapping = Mapping::attach(memfd).map_err(|e| Error::os("mmap of the parent's heap", e))?;
    if !mapping.len().is_power_of_two() || mapping.len() < page {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("the parent's heap has {} bytes", mapping.len()),
        ));
    }
    crate::lifecycle::install();
    let heap: &'static Heap = Box::leak(Box::new(Heap::over(mapping)));
    LINEAGE.store(heap as *const Heap as *mut Heap, Release);
    Ok(heap)
}

/// The lineage's heap in this process, if it has one (made, inherited or joined).
pub(crate) fn existing() -> Option<&'static Heap> {
    inherited()
}

fn inherited() -> Option<&'static Heap> {
    // SAFETY: set once to a leaked heap, never freed.
    unsafe { LINEAGE.load(Acquire).as_ref() }
}

/// Keeps the lineage's heap from being half made across a fork.
fn lock_making() -> std::sync::MutexGuard<'static, ()> {
    MAKING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Twice RAM + swap as a power of two, within [LEAST, MOST], and at most a quarter of an
/// address-space limit (the rest of the program needs room too).
fn lineage_size() -> usize {
    let memory = usize::try_from(shm::memory_and_swap()).unwrap_or(MOST);
    let size = memory
        .saturating_mul(2)
        .clamp(LEAST, MOST)
        .next_power_of_two();
    match shm::address_space_limit().and_then(|l| usize::try_from(l / 4).ok()) {
        Some(quarter) if quarter < size => prev_power_of_two(quarter).max(FALLBACK),
        _ => size,
    }
}

fn prev_power_of_two(n: usize) -> usize {
    match n {
        0 => 0,
        n => 1 << (usize::BITS - 1 - n.leading_zeros()),
    }
}

impl Heap {
    /// Reserves a heap of `len` bytes (a power of two; less where the system refuses as
    /// much, down to [`FALLBACK`]) and sets up its allocator.
    fn new(len: usize) -> Result<Heap> {
        let page = shm::page_size();
        if !page.is_power_of_two() || page as u64 > slabs::SLAB {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("pages of {page} bytes: the shared heap needs at most 64 KiB"),
            ));
        }
        let mapping = Mapping::new_sparse(len, FALLBACK.min(len))
            .map_err(|e| Error::os("mmap(MAP_SHARED) of the shared heap", e))?;
        let heap = Heap::over(mapping);
        // The header and the tree take the first block (in a fresh tree, the leftmost).
        let meta = TREE_AT + Tree::bytes(heap.tree.depth());
        let meta = heap.alloc(usize::try_from(meta).unwrap_or(usize::MAX))?;
        debug_assert_eq!(meta, 0);
        Ok(heap)
    }

    /// This process's view of the heap in `mapping`: its geometry follows from its size.
    fn over(mapping: Mapping) -> Heap {
        let page = shm::page_size();
        let pages = mapping.len() / page;
        let lock = LocalLock::at(
            HeaderLock(NonNull::from(&Header::at(&mapping).lock.0)),
            false,
        );
        Heap {
            tree: Tree::new(TREE_AT, pages.max(1).ilog2()),
            mapping,
            page_log2: page.ilog2(),
            lock,
        }
    }

    /// The memfd holding the heap, for a process started by `exec` to map it.
    pub(crate) fn memfd(&self) -> BorrowedFd<'_> {
        self.mapping.memfd()
    }

    fn header(&self) -> &Header {
        Header::at(&self.mapping)
    }

    /// The heap's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.mapping.len()
    }

    /// The address of heap offset `offset` (the same in every process of the lineage).
    pub(crate) fn ptr(&self, offset: u64) -> *mut u8 {
        debug_assert!(offset < self.len() as u64);
        // SAFETY: offsets come from this heap's allocations, inside the mapping.
        unsafe { self.mapping.as_ptr().add(offset as usize) }
    }

    /// [`ptr`](Heap::ptr), known not to be null.
    fn non_null(&self, offset: u64) -> NonNull<u8> {
        // SAFETY: an address inside a mapping, which never starts at 0.
        unsafe { NonNull::new_unchecked(self.ptr(offset)) }
    }

    /// The order (log2 of pages) of a block of `len` bytes; `None` beyond the heap.
    fn order(&self, len: u64) -> Option<u32> {
        let pages = len.max(1).div_ceil(1 << self.page_log2);
        let order = pages.checked_next_power_of_two()?.ilog2();
        (order <= self.tree.depth()).then_some(order)
    }

    #[cold]
    fn full(&self, len: u64) -> Error {
        Error::new(
            ErrorKind::NoMemory,
            format!(
                "the shared heap ({} bytes) has no free block of {len} bytes",
                self.len()
            ),
        )
    }

    /// Allocates a block of at least `len` bytes (whole pages, a power of two of them),
    /// zeroed; its heap offset, a multiple of its size. `NoMemory` when no free block is
    /// as large.
    pub(crate) fn alloc(&self, len: usize) -> Result<u64> {
        let len = len as u64;
        self.update(|meta| meta.alloc_block(len).ok_or_else(|| self.full(len)))
    }

    /// Frees the block at `offset` that [`alloc`](Heap::alloc) gave for `len` bytes, in
    /// any process of the lineage; its pages go back to the kernel. `InvalidArgument` if
    /// no such block is allocated.
    pub(crate) fn free(&self, offset: u64, len: usize) -> Result<()> {
        let len = len as u64;
        self.update(|meta| {
            if !meta.is_block(offset, len) {
                return Err(Error::invalid_argument(format!(
                    "no block of {len} bytes is allocated at offset {offset:#x} of the shared heap"
                )));
            }
            meta.free_block(offset, len);
            Ok(())
        })
    }

    /// Allocates a zeroed object of `2^class` bytes; its heap offset, a multiple of its
    /// size.
    fn alloc_small(&self, class: u32) -> Result<u64> {
        self.update(|meta| slabs::alloc(meta, class).ok_or_else(|| self.full(1 << class)))
    }

    /// Frees an object [`alloc_small`](Heap::alloc_small) gave.
    fn free_small(&self, offset: u64, class: u32) -> Result<()> {
        self.update(|meta| match slabs::free(meta, offset, class) {
            true => Ok(()),
            false => Err(Error::invalid_argument(format!(
                "no object of {} bytes is allocated at offset {offset:#x} of the shared heap",
                1u64 << class
            ))),
        })
    }

    /// Runs `change` under the heap's lock, as one update: it stays if `change` returns
    /// `Ok`, and is undone if it returns an error, panics, or its process dies before the
    /// end. A previous holder's unfinished update is undone first.
    fn update<R>(&self, change: impl FnOnce(&Meta) -> Result<R>) -> Result<R> {
        // A holder that died is not logged: no log handler may run under the lock.
        self.lock
            .acquire_with(Deadline::Never, Interrupts::Ignore)?;
        let _held = Held(&self.lock);
        let meta = Meta { heap: self };
        meta.undo();
        let result = change(&meta);
        match result {
            Ok(_) => self.header().journal.commit(),
            Err(_) => meta.undo(),
        }
        result
    }
}

/// Releases the heap's lock when dropped, also when an update panics (the next holder
/// then undoes it).
struct Held<'a>(&'a LocalLock<HeaderLock>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Held by this process: releasing cannot fail.
        let _ = self.0.release();
    }
}

/// The allocator's metadata during an update: words of the heap read directly and
/// changed only through the journal.
pub(super) struct Meta<'h> {
    heap: &'h Heap,
}

impl Meta<'_> {
    fn word(&self, at: u64) -> &AtomicU64 {
        debug_assert!(at % 8 == 0 && at < self.len());
        // SAFETY: metadata words are aligned and inside the heap, which outlives `self`.
        unsafe { &*self.heap.ptr(at).cast::<AtomicU64>() }
    }

    /// The word at heap offset `at`.
    pub(super) fn get(&self, at: u64) -> u64 {
        self.word(at).load(Relaxed)
    }

    /// Sets the word at heap offset `at`, noting its old value in the journal first.
    pub(super) fn set(&self, at: u64, value: u64) {
        let word = self.word(at);
        let old = word.load(Relaxed);
        if old != value {
            self.heap.header().journal.note(at, old);
            word.store(value, Release);
        }
    }

    /// The byte at heap offset `at` (metadata is changed a word at a time).
    pub(super) fn byte(&self, at: u64) -> u8 {
        self.get(at & !7).to_ne_bytes()[(at % 8) as usize]
    }

    pub(super) fn set_byte(&self, at: u64, value: u8) {
        let mut bytes = self.get(at & !7).to_ne_bytes();
        bytes[(at % 8) as usize] = value;
        self.set(at & !7, u64::from_ne_bytes(bytes));
    }

    /// The heap's size in bytes.
    pub(super) fn len(&self) -> u64 {
        self.heap.len() as u64
    }

    /// The heap offset of the head of `class`'s list of slabs with room.
    pub(super) fn slabs_with_room(&self, class: u32) -> u64 {
        let index = (class - slabs::MIN_CLASS) as usize;
        (offset_of!(Header, slabs_with_room) + 8 * index) as u64
    }

    /// Makes `[offset, offset + len)` of the heap zeros: pages go back to the kernel.
    pub(super) fn zero(&self, offset: u64, len: u64) {
        let (start, end) = (offset as usize, (offset + len) as usize);
        let page = 1 << self.heap.page_log2;
        if len >= page {
            self.heap.mapping.zero(start, end);
        } else {
            // SAFETY: inside the heap; the caller frees these bytes.
            unsafe { self.heap.ptr(offset).write_bytes(0, len as usize) };
        }
    }

    /// Takes a free block for `len` bytes; its offset.
    pub(super) fn alloc_block(&self, len: u64) -> Option<u64> {
        let order = self.heap.order(len)?;
        let page = self.heap.tree.alloc(self, order)?;
        Some(page << self.heap.page_log2)
    }

    /// Whether `offset` is a block [`alloc_block`](Meta::alloc_block) gave for `len` bytes.
    fn is_block(&self, offset: u64, len: u64) -> bool {
        let page = offset >> self.heap.page_log2;
        self.heap.order(len).is_some_and(|order| {
            offset % (1 << self.heap.page_log2) == 0 && self.heap.tree.is_taken(self, page, order)
        })
    }

    /// Frees the block for `len` bytes at `offset`, zeroed first (its pages go back to
    /// the kernel), so that every free block reads as zeros.
    pub(super) fn free_block(&self, offset: u64, len: u64) {
        if let Some(order) = self.heap.order(len) {
            self.zero(offset, 1 << (order + self.heap.page_log2));
            self.heap
                .tree
                .free(self, offset >> self.heap.page_log2, order);
        }
    }

    /// Undoes an unfinished update.
    fn undo(&self) {
        let journal = &self.heap.header().journal;
        journal.undo(|at, old| self.word(at).store(old, Release));
    }
}

#[cfg(test)]
mod tests;
