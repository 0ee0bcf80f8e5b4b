//! Objects in anonymous shared memory (see `sys::shm`): made before a fork, they are the
//! same object in the parent and the child.

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::sys::shm::Mapping;

/// Types that may live in memory shared between processes: plain data and atomics only,
/// no pointers (addresses differ between processes only after exec, but heap pointers
/// would point into one process's private heap).
///
/// # Safety
/// The type must be valid when all its bytes are zero, hold no pointers or references,
/// and be safe to access concurrently from several processes (atomics, or data guarded
/// by a shared lock).
pub(crate) unsafe trait ShmSafe: Sized {}

/// A `T` in its own shared mapping, zero-initialised then set to `value`.
pub(crate) struct Shared<T: ShmSafe> {
    mapping: Mapping,
    _type: PhantomData<T>,
}

impl<T: ShmSafe> Shared<T> {
    pub(crate) fn new(value: T) -> Result<Shared<T>> {
        let mapping =
            Mapping::new(std::mem::size_of::<T>()).map_err(|e| Error::os("mmap(MAP_SHARED)", e))?;
        // SAFETY: the mapping is page-aligned, large enough for a T, and not yet shared.
        unsafe { mapping.as_ptr().cast::<T>().write(value) };
        Ok(Shared {
            mapping,
            _type: PhantomData,
        })
    }
}

impl<T: ShmSafe> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in `new`; ShmSafe types may be shared across processes.
        unsafe { &*self.mapping.as_ptr().cast::<T>() }
    }
}
