//! The tag at the start of every object that C reaches through a handle pointer.
//!
//! It lets the C boundary refuse a handle of the wrong type, or one whose owner already
//! released it, with `PC_ERR_INVALID_ARGUMENT` instead of undefined behaviour, as far as
//! the memory is still there to be read ("where detectable" in API.md).

use std::sync::atomic::{AtomicU32, Ordering};

/// A handle tag: the object's kind, or [`Tag::RELEASED`] once its owner released it.
#[repr(C)]
#[derive(Debug)]
pub struct Tag(AtomicU32);

impl Tag {
    /// The value a tag takes when its handle is released.
    pub const RELEASED: u32 = 0xdead_beef;

    pub const fn new(kind: u32) -> Tag {
        Tag(AtomicU32::new(kind))
    }

    /// The kind this tag carries now (`RELEASED` after [`Tag::release`]).
    pub fn kind(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the handle released; false if it already was.
    pub fn release(&self) -> bool {
        self.0.swap(Tag::RELEASED, Ordering::AcqRel) != Tag::RELEASED
    }

    pub fn is_released(&self) -> bool {
        self.kind() == Tag::RELEASED
    }
}
