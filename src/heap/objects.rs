//! Objects that the processes of a lineage share, and the rule that frees them: never
//! while another live process may still use them.
//!
//! A handle dropped in one process says nothing of the others: a child forked after the
//! object was made holds it too, and if the parent's drop freed it, the next object made
//! there would be the child's lock as well. So each object counts, in its last eight
//! bytes, the processes that hold it; this process keeps a registry of the objects it
//! holds. Before a fork, the parent adds one to each of them for the child (before, not
//! in the child: the parent may drop its handle the instant the fork returns), holding
//! the registry so that no object is made or dropped meanwhile; the child's copy of the
//! registry is then exactly what it holds. Dropping an object subtracts one, and the last
//! holder frees it. A normal exit (`exit`, or the end of a `Process`'s target) subtracts
//! one for every object the process still holds.
//!
//! What is never subtracted stays allocated until the lineage ends (its last process
//! exits and the kernel frees the heap): the objects a process held when it was killed by
//! a signal or replaced itself by `exec`, and those a child would have held when a fork
//! failed. That memory is lost, never reused while in use.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Mutex, MutexGuard};

use super::{inherited, lineage, slabs, Heap};
use crate::error::{Error, ErrorKind, Result};

/// `len` zeroed bytes in the lineage's heap, aligned to their size rounded up to a power
/// of two (to a page at most, to 64 bytes at least), shared with the children forked
/// while this handle lives; freed when no process holds it any more.
pub(crate) struct Object {
    ptr: NonNull<u8>,
    /// Its entry in this process's registry.
    slot: usize,
}

// SAFETY: the object is plain shared memory; what its users store there (atomics, or
// bytes under a lock) decides thread safety.
unsafe impl Send for Object {}
// SAFETY: as above.
unsafe impl Sync for Object {}

/// What the last holder of an object runs before its memory is freed, with the object's
/// address: an object that took heap blocks of its own gives them back. A plain function
/// of this library, stored as its distance from [`Place::let_go`]: the same in every
/// process of the lineage, forked or started by `exec` (where the library's code is
/// elsewhere, but laid out alike).
pub(crate) type EndFn = fn(*mut u8);

/// The address end functions are stored relative to.
fn anchor() -> usize {
    Place::let_go as *const () as usize
}

/// `at_end` as stored in an object (0: nothing).
fn end_to_word(at_end: Option<EndFn>) -> u64 {
    at_end.map_or(0, |f| (f as usize).wrapping_sub(anchor()) as u64)
}

impl Object {
    pub(crate) fn new(len: usize) -> Result<Object> {
        Object::with_end(len, None)
    }

    /// An object whose last holder runs `at_end` (if any) before it is freed.
    pub(crate) fn with_end(len: usize, at_end: Option<EndFn>) -> Result<Object> {
        let size = unit(len)?;
        let mut registry = lock();
        let heap = lineage()?;
        let offset = match size <= slabs::MAX_CLASS {
            true => heap.alloc_small(size)?,
            false => heap.alloc(1 << size)?,
        };
        let place = Place(offset | u64::from(size));
        place.holders(heap).store(1, Relaxed);
        place.at_end(heap).store(end_to_word(at_end), Relaxed);
        Ok(Object {
            ptr: heap.non_null(offset),
            slot: registry.add(place),
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// This process's hold is let go by the process that forked it, once it has reaped
    /// it (`let_go_for_child`), however this one ends: a pool's worker lends its hold on
    /// the pool's own objects, since it is killed when the pool is terminated, and a
    /// killed process never lets go itself. Its drop and its exit then let go of nothing,
    /// and its own children get no hold on it.
    pub(crate) fn lend(&self) {
        let mut registry = lock();
        if let Some(entry) = registry.entries.get_mut(self.slot) {
            if *entry != Place(0) {
                entry.0 |= LENT;
            }
        }
    }

    /// Lets go of the hold a reaped child lent (see [`Object::lend`]): exactly once per
    /// child forked while this process held the object.
    pub(crate) fn let_go_for_child(&self) {
        let place = lock().entries.get(self.slot).copied();
        if let Some(place) = place.filter(|p| *p != Place(0)) {
            if let Err(err) = Place(place.0 & !LENT).let_go() {
                log::warn!("{err}");
            }
        }
    }
}

/// A hold on an object counted for a child started by `exec`, before it starts (see
/// [`Object::pass`]): the child adopts it ([`adopt`]), or [`withdraw`](Passed::withdraw)
/// lets go of it if the child never started.
pub(crate) struct Passed(Place);

impl Object {
    /// Counts one more holder, a child about to start by `exec`, and says where the
    /// object is. A lent hold is passed all the same: the child's is its own.
    pub(crate) fn pass(&self) -> Result<Passed> {
        let registry = lock();
        let place = registry
            .entries
            .get(self.slot)
            .map(|p| Place(p.0 & !LENT))
            .filter(|p| *p != Place(0))
            .ok_or_else(|| Error::wrong_state("the object was let go at exit"))?;
        let heap = inherited().ok_or_else(|| Error::wrong_state("no shared heap"))?;
        place.holders(heap).fetch_add(1, Relaxed);
        Ok(Passed(place))
    }
}

impl Passed {
    /// The object's place, which the child hands to [`adopt`].
    pub(crate) fn place(&self) -> u64 {
        self.0 .0
    }

    /// The child never started: its hold goes.
    pub(crate) fn withdraw(self) {
        if let Err(err) = self.0.let_go() {
            log::warn!("{err}");
        }
    }
}

/// The object at `place` in this process's (joined) heap, whose hold the parent counted
/// for this process before starting it.
pub(crate) fn adopt(place: u64) -> Result<Object> {
    let place = Place(place);
    let heap = inherited().ok_or_else(|| Error::wrong_state("no shared heap was passed"))?;
    let size = place.size();
    let fits = (slabs::MIN_CLASS..usize::BITS).contains(&size)
        && place.offset() % (1u64 << size.min(12)) == 0
        && place
            .offset()
            .checked_add(1 << size)
            .is_some_and(|end| end <= heap.len() as u64);
    if !fits {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("no object at heap place {:#x}", place.0),
        ));
    }
    let mut registry = lock();
    Ok(Object {
        ptr: heap.non_null(place.offset()),
        slot: registry.add(place),
    })
}

#[cfg(test)]
impl Object {
    /// The object's count of holders, as shared memory says.
    pub(crate) fn holders(&self) -> u64 {
        let place = Place(lock().entries[self.slot].0 & !LENT);
        place.holders(inherited().unwrap()).load(Relaxed)
    }
}

/// A registry entry's bit for an object whose hold this process lent (heap offsets are
/// far below it).
const LENT: u64 = 1 << 63;

impl Drop for Object {
    fn drop(&mut self) {
        // Let go outside the registry's lock: a fork meanwhile gives the child no
        // hold, nor any way to reach the object (this handle was its last here).
        let place = lock().remove(self.slot);
        if let Err(err) = place.map_or(Ok(()), Place::let_go) {
            log::warn!("{err}");
        }
    }
}

/// The log2 of the bytes an object of `len` bytes takes with its trailer (what runs at
/// its end, and its count of holders): a power of two, so that objects are aligned to
/// their size, at least a cache line.
fn unit(len: usize) -> Result<u32> {
    len.checked_add(16)
        .and_then(usize::checked_next_power_of_two)
        .map(|size| size.ilog2().max(slabs::MIN_CLASS))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::TooLarge,
                format!("{len} bytes are too many for one object in shared memory"),
            )
        })
}

/// Where an object is: its heap offset (a multiple of 64) and the log2 of its size, in
/// one word.
#[derive(Clone, Copy, PartialEq)]
struct Place(u64);

impl Place {
    fn offset(self) -> u64 {
        self.0 & !63
    }

    fn size(self) -> u32 {
        (self.0 & 63) as u32
    }

    /// The count of processes holding the object: its last 8 bytes.
    fn holders(self, heap: &Heap) -> &AtomicU64 {
        let at = self.offset() + (1 << self.size()) - 8;
        // SAFETY: aligned, inside the object, in the heap, which is never unmapped.
        unsafe { &*heap.ptr(at).cast::<AtomicU64>() }
    }

    /// What runs at the object's end (see [`end_to_word`]): the 8 bytes before its count.
    fn at_end(self, heap: &Heap) -> &AtomicU64 {
        let at = self.offset() + (1 << self.size()) - 16;
        // SAFETY: as in `holders`.
        unsafe { &*heap.ptr(at).cast::<AtomicU64>() }
    }

    /// This process lets go of the object: the last holder runs its end, then frees it.
    fn let_go(self) -> Result<()> {
        let Some(heap) = inherited() else {
            return Ok(());
        };
        if self.holders(heap).fetch_sub(1, AcqRel) != 1 {
            return Ok(());
        }
        let (offset, size) = (self.offset(), self.size());
        let at_end = self.at_end(heap).load(Relaxed);
        if at_end != 0 {
            let at_end = anchor().wrapping_add(at_end as usize);
            // SAFETY: written by `with_end` from an `EndFn` of this library, as its
            // distance from `let_go`: every process of the lineage runs the same library.
            let at_end = unsafe { std::mem::transmute::<usize, EndFn>(at_end) };
            at_end(heap.ptr(offset));
        }
        match size <= slabs::MAX_CLASS {
            true => heap.free_small(offset, size),
            false => heap.free(offset, 1 << size),
        }
    }
}

/// The objects this process holds (`Place(0)`: a vacant slot).
struct Registry {
    entries: Vec<Place>,
    vacant: Vec<usize>,
    /// Set at exit, when every object was let go: later drops change nothing.
    released: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry::EMPTY);

fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    const EMPTY: Registry = Registry {
        entries: Vec::new(),
        vacant: Vec::new(),
        released: false,
    };

    fn add(&mut self, place: Place) -> usize {
        match self.vacant.pop() {
            Some(slot) => {
                self.entries[slot] = place;
                slot
            }
            None => {
                self.entries.push(place);
                // Room for every slot to be vacant: a drop never allocates (it may run on
                // a library thread while another thread forks, and AddressSanitizer's
                // allocator is not fork-safe).
                let vacant = self.vacant.len();
                self.vacant.reserve(self.entries.len() - vacant);
                self.entries.len() - 1
            }
        }
    }

    /// Takes the object of `slot` out; `None` after the exit let everything go, or if
    /// its hold was lent.
    fn remove(&mut self, slot: usize) -> Option<Place> {
        if self.released {
            return None;
        }
        let entry = self.entries.get_mut(slot)?;
        let place = std::mem::replace(entry, Place(0));
        self.vacant.push(slot);
        (place != Place(0) && place.0 & LENT == 0).then_some(place)
    }

    /// The objects held, vacant slots and lent holds left out.
    fn held(&self) -> impl Iterator<Item = Place> + '_ {
        self.entries
            .iter()
            .copied()
            .filter(|p| *p != Place(0) && p.0 & LENT == 0)
    }
}

/// Held across a fork (see `crate::lifecycle`): the registry, counted for the child,
/// and the lineage's heap, not half made.
pub(crate) struct ForkGuard {
    _registry: MutexGuard<'static, Registry>,
    _making: MutexGuard<'static, ()>,
}

/// Before a fork: every object this process holds gets one more holder, the child.
pub(crate) fn before_fork() -> ForkGuard {
    let registry = lock();
    if let (Some(heap), false) = (inherited(), registry.released) {
        for place in registry.held() {
            place.holders(heap).fetch_add(1, Relaxed);
        }
    }
    ForkGuard {
        _registry: registry,
        _making: super::lock_making(),
    }
}

/// At a normal exit: this process lets go of every object it still holds. Without
/// allocating, in the registry's lock: a child forked from one thread of a process while
/// another was inside a non-fork-safe allocator (AddressSanitizer's) could wait forever
/// for a size class it had not used before.
pub(crate) fn release_all() {
    let mut registry = lock();
    if std::mem::replace(&mut registry.released, true) {
        return;
    }
    let failed = registry
        .held()
        .map(Place::let_go)
        .fold(None, |first, result| first.or(result.err()));
    drop(registry);
    if let Some(err) = failed {
        log::warn!("{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(object: &Object) -> &AtomicU64 {
        // SAFETY: objects are aligned to 64 bytes and at least 8 bytes long.
        unsafe { &*object.as_ptr().cast::<AtomicU64>() }
    }

    /// Counts the ends run, by the first word of the object.
    static ENDS: AtomicU64 = AtomicU64::new(0);

    fn count_end(object: *mut u8) {
        // SAFETY: the object's first word, while it is still allocated.
        let first = unsafe { &*object.cast::<AtomicU64>() };
        ENDS.fetch_add(first.load(Relaxed), SeqCst);
    }

    #[test]
    fn the_last_holder_runs_the_end_once() {
        let object = Object::with_end(100, Some(count_end)).unwrap();
        word(&object).store(1000, Relaxed);
        let before = ENDS.load(SeqCst);
        // A forked child holds it too: its exit lets go, and the end waits for ours.
        // SAFETY: the child only lets go of what it holds and exits.
        match unsafe { libc::fork() } {
            0 => {
                release_all();
                // SAFETY: ends the child at once, as a worker does.
                unsafe { libc::_exit(0) }
            }
            pid => {
                let mut status = 0;
                // SAFETY: waits for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        }
        assert_eq!(ENDS.load(SeqCst), before);
        drop(object);
        assert_eq!(ENDS.load(SeqCst), before + 1000);
    }

    #[test]
    fn objects_are_aligned_zeroed_and_sized_to_fit() {
        let page = crate::sys::shm::page_size();
        for (len, size) in [
            (0, 64),
            (48, 64),
            (49, 128),
            (4080, 4096),
            (4081, 8192),
            (3 << 20, 4 << 20),
        ] {
            let objects: Vec<Object> = (0..3).map(|_| Object::new(len).unwrap()).collect();
            for object in &objects {
                let at = object.as_ptr() as usize;
                assert_eq!(at % size.min(page), 0, "{len} bytes at {at:#x}");
                // SAFETY: the object's own bytes.
                let bytes = unsafe { std::slice::from_raw_parts(object.as_ptr(), len) };
                assert!(bytes.iter().all(|b| *b == 0));
                // SAFETY: as above.
                unsafe { object.as_ptr().write_bytes(0xa5, len) };
                assert_eq!(
                    object.holders(),
                    1,
                    "the trailer after the bytes is untouched"
                );
            }
            let mut starts: Vec<usize> = objects.iter().map(|o| o.as_ptr() as usize).collect();
            starts.sort();
            assert!(
                starts.windows(2).all(|w| w[1] - w[0] >= size),
                "{len}: overlap"
            );
        }
        assert_eq!(
            Object::new(usize::MAX).err().unwrap().kind(),
            ErrorKind::TooLarge
        );
        assert_eq!(
            Object::new(1 << 50).err().unwrap().kind(),
            ErrorKind::NoMemory
        );
    }

    #[test]
    fn an_object_lives_while_a_forked_child_holds_it() {
        let object = Object::new(8).unwrap();
        let go = Object::new(8).unwrap();
        word(&object).store(42, Relaxed);
        let at = object.as_ptr();
        // SAFETY: the child waits, checks, lets go of everything, and leaves.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            while word(&go).load(Relaxed) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            // The parent dropped its handle and made another object: this one is intact.
            let seen = word(&object).swap(43, Relaxed);
            release_all();
            // SAFETY: leave the forked test child at once.
            unsafe { libc::_exit(i32::from(seen != 42)) };
        }
        assert_eq!(object.holders(), 2, "the child holds it too");
        let count = {
            // SAFETY: the object's count, in its last 8 of 64 bytes.
            unsafe { &*at.add(56).cast::<AtomicU64>() }
        };
        drop(object);
        assert_eq!(count.load(Relaxed), 1, "the child's hold remains");
        let other = Object::new(8).unwrap();
        assert_ne!(other.as_ptr(), at, "not reused while the child holds it");
        word(&go).store(1, Relaxed);
        let mut status = 0;
        // SAFETY: our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(go.holders(), 1, "the child let go of what it held");
    }
}
