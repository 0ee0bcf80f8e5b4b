//! The tag at the start of every object that C reaches through a handle pointer.
//!
//! It lets the C boundary refuse a handle of the wrong type, a handle freed twice, or one
//! used after its object was released, with `PC_ERR_INVALID_ARGUMENT` instead of undefined
//! behaviour, as far as the memory is still there to be read (that status's contract in
//! `include/processing.h`). It counts the handles given to C apart from the library's own
//! references: a lock kept alive by a condition stays usable through the pointer the
//! condition hands out after its creator freed the handle, while a second free is still
//! refused.

use std::sync::atomic::{AtomicU32, Ordering};

/// A handle tag: the object's kind (or [`Tag::RELEASED`]) and its number of C handles.
#[repr(C)]
#[derive(Debug)]
pub struct Tag {
    kind: AtomicU32,
    handles: AtomicU32,
}

impl Tag {
    /// The kind a tag takes when its object is released for good.
    pub const RELEASED: u32 = 0xdead_beef;

    pub const fn new(kind: u32) -> Tag {
        Tag {
            kind: AtomicU32::new(kind),
            handles: AtomicU32::new(0),
        }
    }

    /// The kind this tag carries now (`RELEASED` after [`Tag::release`]).
    pub fn kind(&self) -> u32 {
        self.kind.load(Ordering::Acquire)
    }

    /// Counts one more handle given to C.
    pub fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one handle less; false when none was left (a double free). Returns the
    /// handles left otherwise.
    pub fn drop_handle(&self) -> Option<u32> {
        self.handles
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|before| before - 1)
    }

    /// Marks the object released: every later use of a pointer to it is refused.
    pub fn release(&self) {
        self.kind.store(Tag::RELEASED, Ordering::Release);
    }

    pub fn is_released(&self) -> bool {
        self.kind() == Tag::RELEASED
    }
}
