//! Typed objects in the lineage's shared heap (see `heap`): made before a fork, they are
//! the same object in the parent and the child.
//!
//! Not to be confused with its neighbours: `sys::shm` makes the raw shared mappings the
//! heap is carved from, and `sharedctypes` is the seed's `Value` and `Array`, built on
//! this module.

use std::marker::PhantomData;

use crate::error::Result;
use crate::heap::{self, Object};
use crate::start::passing::{Inbox, Outbox};

/// Types that may live in memory shared between processes: plain data and atomics only,
/// no pointers (addresses differ between processes only after exec, but heap pointers
/// would point into one process's private heap).
///
/// # Safety
/// The type must be valid when all its bytes are zero, hold no pointers or references,
/// and be safe to access concurrently from several processes (atomics, or data guarded
/// by a shared lock).
pub(crate) unsafe trait ShmSafe: Sized {}

/// A `T` in the shared heap, zero-initialised then set to `value`, aligned to a cache
/// line at least (so no other object shares its line).
pub(crate) struct Shared<T: ShmSafe> {
    object: Object,
    _type: PhantomData<T>,
}

impl<T: ShmSafe> Shared<T> {
    pub(crate) fn new(value: T) -> Result<Shared<T>> {
        const { assert!(std::mem::align_of::<T>() <= 4096, "aligned beyond a page") };
        let object = Object::new(std::mem::size_of::<T>())?;
        // SAFETY: the object is large enough for a T, not yet shared, and aligned to its
        // size (a power of two, at least a T's size, so a multiple of a T's alignment) or
        // to a page, more than a T needs (asserted above).
        unsafe { object.as_ptr().cast::<T>().write(value) };
        Ok(Shared {
            object,
            _type: PhantomData,
        })
    }
}

impl<T: ShmSafe> Shared<T> {
    /// See [`Object::lend`].
    pub(crate) fn lend(&self) {
        self.object.lend();
    }

    /// See [`Object::let_go_for_child`].
    pub(crate) fn let_go_for_child(&self) {
        self.object.let_go_for_child();
    }

    /// Passes it to a child started by `exec` (see `start::passing`).
    pub(crate) fn pass(&self, out: &mut Outbox) -> Result<()> {
        out.object(&self.object)
    }

    /// The object a parent passed as a `T` (see `start::passing`).
    pub(crate) fn receive(inbox: &mut Inbox<'_>) -> Result<Shared<T>> {
        Ok(Shared {
            object: inbox.object()?,
            _type: PhantomData,
        })
    }

    /// The processes holding it.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> u64 {
        self.object.holders()
    }
}

/// Shared types that hold heap blocks of their own (by offset), which the last process
/// holding the object gives back.
pub(crate) trait AtEnd: ShmSafe {
    /// Gives back what the object holds; runs once, in the last process to let go.
    fn at_end(&self);
}

impl<T: AtEnd> Shared<T> {
    /// A `T` of all zeros, which the heap gives: no byte is written, so a large object
    /// costs memory only as it is used. Its [`AtEnd::at_end`] runs at its end.
    pub(crate) fn zeroed_with_end() -> Result<Shared<T>> {
        const { assert!(std::mem::align_of::<T>() <= 4096, "aligned beyond a page") };
        let at_end: heap::EndFn = |object| {
            // SAFETY: the object was made for a T (below) and is still allocated.
            unsafe { &*object.cast::<T>() }.at_end()
        };
        Ok(Shared {
            object: Object::with_end(std::mem::size_of::<T>(), Some(at_end))?,
            _type: PhantomData,
        })
    }
}

impl<T: ShmSafe> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new`; ShmSafe types may be shared across processes.
        unsafe { &*self.object.as_ptr().cast::<T>() }
    }
}
