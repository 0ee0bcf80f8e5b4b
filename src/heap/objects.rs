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

impl Object {
    pub(crate) fn new(len: usize) -> Result<Object> {
        let size = unit(len)?;
        let mut registry = lock();
        let heap = lineage()?;
        let offset = match size <= slabs::MAX_CLASS {
            true => heap.alloc_small(size)?,
            false => heap.alloc(1 << size)?,
        };
        let place = Place(offset | u64::from(size));
        place.holders(heap).store(1, Relaxed);
        Ok(Object {
            ptr: heap.non_null(offset),
            slot: registry.add(place),
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

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

/// The log2 of the bytes an object of `len` bytes takes with its count: a power of two,
/// so that objects are aligned to their size, at least a cache line.
fn unit(len: usize) -> Result<u32> {
    len.checked_add(8)
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

    /// This process lets go of the object: the last holder frees it.
    fn let_go(self) -> Result<()> {
        let Some(heap) = inherited() else {
            return Ok(());
        };
        if self.holders(heap).fetch_sub(1, AcqRel) != 1 {
            return Ok(());
        }
        let (offset, size) = (self.offset(), self.size());
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
                self.entries.len() - 1
            }
        }
    }

    /// Takes the object of `slot` out; `None` after the exit let everything go.
    fn remove(&mut self, slot: usize) -> Option<Place> {
        if self.released {
            return None;
        }
        let entry = self.entries.get_mut(slot)?;
        let place = std::mem::replace(entry, Place(0));
        self.vacant.push(slot);
        (place != Place(0)).then_some(place)
    }

    /// The objects held, vacant slots left out.
    fn held(&self) -> impl Iterator<Item = Place> + '_ {
        self.entries.iter().copied().filter(|p| *p != Place(0))
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

    impl Object {
        /// The object's count of holders, as shared memory says.
        fn holders(&self) -> u64 {
            let place = lock().entries[self.slot];
            place.holders(inherited().unwrap()).load(Relaxed)
        }
    }

    fn word(object: &Object) -> &AtomicU64 {
        // SAFETY: objects are aligned to 64 bytes and at least 8 bytes long.
        unsafe { &*object.as_ptr().cast::<AtomicU64>() }
    }

    #[test]
    fn objects_are_aligned_zeroed_and_sized_to_fit() {
        let page = crate::sys::shm::page_size();
        for (len, size) in [
            (0, 64),
            (56, 64),
            (57, 128),
            (4088, 4096),
            (4089, 8192),
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
                    "the count after the bytes is untouched"
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
