//! Typed conversions between C handle pointers and Rust objects, and argument checks.
//! No exported function casts a handle pointer itself: it goes through these helpers.

use std::ffi::{c_char, CStr};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::tag::Tag;

/// Ties an opaque C handle type to the Rust object it points at.
///
/// # Safety
/// `Target` must be `#[repr(C)]` with a [`Tag`] as its first field, set to `TAG` while
/// the handle is valid, and handles must be made by [`into_raw`] (an `Arc::into_raw`).
pub(crate) unsafe trait Handle {
    type Target;
    const TAG: u32;
    /// The C type's name, for error messages.
    const NAME: &'static str;
}

/// A parameter's C name: `stringify!` keeps Rust's raw-identifier prefix (`r#in` is `in`).
#[inline(always)]
pub(crate) fn param_name(name: &'static str) -> &'static str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Hands an object to C as an owned handle.
pub(crate) fn into_raw<H: Handle>(object: Arc<H::Target>) -> *mut H {
    let ptr: *mut H = Arc::into_raw(object).cast_mut().cast();
    tag_of(ptr).add_handle();
    ptr
}

/// The tag of a handle whose type was checked (or that `into_raw` just made).
fn tag_of<'a, H: Handle>(ptr: *const H) -> &'a Tag {
    // SAFETY: by the Handle contract the object starts with its Tag.
    unsafe { &*ptr.cast::<Tag>() }
}

/// A handle borrowed for the duration of a call: derefs to the shared `Arc`.
pub(crate) struct Borrowed<T>(ManuallyDrop<Arc<T>>);

impl<T> Borrowed<T> {
    /// A reference of the caller's own, for objects that keep the handle's object alive.
    pub(crate) fn share(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T> Deref for Borrowed<T> {
    type Target = Arc<T>;
    fn deref(&self) -> &Arc<T> {
        &self.0
    }
}

/// Checks that `ptr` is a live handle of type `H` and borrows its object.
pub(crate) fn borrow<H: Handle>(ptr: *const H, param: &str) -> Result<Borrowed<H::Target>> {
    check_tag::<H>(ptr, param)?;
    // SAFETY: the tag says `ptr` came from `into_raw` and was not released; ManuallyDrop
    // keeps the reference count unchanged.
    Ok(Borrowed(ManuallyDrop::new(unsafe {
        Arc::from_raw(ptr.cast::<H::Target>())
    })))
}

/// Releases a handle: `free` for every Arc-backed handle. When it was the object's last
/// reference the object is marked released (later use is detected while the memory
/// lives); an object the library still holds (a lock inside a condition or a value) stays
/// usable through the pointers the library hands out. A second free of the same handle is
/// refused. NULL is a no-op; errors are reported through `pc_last_error()` only.
pub(crate) fn release<H: Handle>(ptr: *mut H, param: &str) -> Result<()> {
    release_with(ptr, param, false)
}

/// Releases a handle that is its object's only owner outside the library (a process: the
/// library keeps it only to reap its child): the object is marked released at once.
pub(crate) fn release_sole<H: Handle>(ptr: *mut H, param: &str) -> Result<()> {
    release_with(ptr, param, true)
}

fn release_with<H: Handle>(ptr: *mut H, param: &str, sole: bool) -> Result<()> {
    if ptr.is_null() {
        return Ok(());
    }
    check_tag::<H>(ptr, param)?;
    let tag = tag_of(ptr);
    let Some(left) = tag.drop_handle() else {
        return Err(Error::invalid_argument(format!(
            "{param} was already freed (or is a borrowed pointer, not a handle)"
        )));
    };
    // SAFETY: checked above: a live handle of type H, made by `into_raw`; each handle owns
    // one reference, given back here once (drop_handle refused a second time).
    let object = unsafe { Arc::from_raw(ptr.cast::<H::Target>()) };
    if left == 0 && (sole || Arc::strong_count(&object) == 1) {
        tag.release();
    }
    drop(object);
    Ok(())
}

fn check_tag<H: Handle>(ptr: *const H, param: &str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    // A foreign pointer is the caller's bug, detected here as far as its memory is readable.
    let kind = tag_of(ptr).kind();
    match kind {
        k if k == H::TAG => Ok(()),
        Tag::RELEASED => Err(Error::invalid_argument(format!(
            "{param} was already freed"
        ))),
        _ => Err(Error::invalid_argument(format!(
            "{param} is not a {}",
            H::NAME
        ))),
    }
}

/// An out-parameter: checked for NULL, written once on success.
pub(crate) fn out<'a, T>(ptr: *mut T, param: &str) -> Result<&'a mut MaybeUninit<T>> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    // SAFETY: the caller gave a non-NULL pointer to writable storage for a T.
    Ok(unsafe { &mut *ptr.cast::<MaybeUninit<T>>() })
}

/// A NUL-terminated string parameter, as bytes (without the NUL).
pub(crate) fn c_bytes<'a>(ptr: *const c_char, param: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    // SAFETY: the caller gave a NUL-terminated string that outlives the call.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// An optional NUL-terminated UTF-8 string parameter: `None` for NULL.
pub(crate) fn c_str_opt<'a>(ptr: *const c_char, param: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    c_str(ptr, param).map(Some)
}

/// A NUL-terminated UTF-8 string parameter.
pub(crate) fn c_str<'a>(ptr: *const c_char, param: &str) -> Result<&'a str> {
    std::str::from_utf8(c_bytes(ptr, param)?)
        .map_err(|_| Error::invalid_argument(format!("{param} is not valid UTF-8")))
}

/// `len` bytes at `ptr`; `(NULL, 0)` is the empty slice, `(NULL, n > 0)` is invalid.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, param: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {len}"
        )));
    }
    fits::<u8>(len, param)?;
    // SAFETY: the caller gave `len` readable bytes at `ptr` that outlive the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A pointer to an object that C borrows (it must not free it), e.g. the current process.
pub(crate) fn borrowed_ptr<H: Handle>(object: &H::Target) -> *mut H {
    (object as *const H::Target).cast_mut().cast()
}

/// An optional input struct: `None` when the caller passed NULL.
pub(crate) fn in_opt<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: a non-NULL pointer is a readable T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

/// An optional in-out struct: `None` when the caller passed NULL.
pub(crate) fn in_opt_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: a non-NULL pointer is a readable, writable T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &mut *ptr })
}

/// An optional out-parameter: `None` when the caller passed NULL.
pub(crate) fn out_opt<'a, T>(ptr: *mut T) -> Option<&'a mut MaybeUninit<T>> {
    // SAFETY: a non-NULL pointer is writable storage for a T, by the caller's contract.
    (!ptr.is_null()).then(|| unsafe { &mut *ptr.cast::<MaybeUninit<T>>() })
}

/// An output array of `cap` elements; NULL is allowed only when `cap` is 0.
pub(crate) fn out_array<'a, T>(
    ptr: *mut T,
    cap: usize,
    param: &str,
) -> Result<&'a mut [MaybeUninit<T>]> {
    if ptr.is_null() {
        if cap == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its capacity is {cap}"
        )));
    }
    fits::<T>(cap, param)?;
    // SAFETY: the caller gave room for `cap` elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<T>>(), cap) })
}

/// A caller's opaque pointer (a target's `arg`, a handler's `ctx`) that the library only
/// passes back to the caller's own function, from whichever thread or forked child.
pub(crate) struct UserData(*mut std::ffi::c_void);

// SAFETY: the library never dereferences the pointer; using it from another thread or a
// forked child is the caller's contract, as with pthread_create's argument.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut std::ffi::c_void) -> UserData {
        UserData(ptr)
    }

    /// The pointer, as given. (A method, so closures capture the whole `UserData`.)
    pub(crate) fn get(&self) -> *mut std::ffi::c_void {
        self.0
    }
}

/// Ties a handle type to its Rust object, whose `TAG` constant tags it.
macro_rules! impl_handle {
    ($handle:ident => $target:ty) => {
        // SAFETY: the target is #[repr(C)] with its Tag first, set to TAG, and handles
        // are made by `handle::into_raw`.
        unsafe impl $crate::ffi::handle::Handle for $handle {
            type Target = $target;
            const TAG: u32 = <$target>::TAG;
            const NAME: &'static str = stringify!($handle);
        }
    };
}

/// A caller's buffer of `len` writable bytes; `(NULL, 0)` is the empty buffer.
pub(crate) fn bytes_mut<'a>(ptr: *mut u8, len: usize, param: &str) -> Result<&'a mut [u8]> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!("{param} is NULL")));
    }
    fits::<u8>(len, param)?;
    // SAFETY: the caller gave `len` writable bytes at `ptr`, by the function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// An input array of `n` elements; NULL is allowed only when `n` is 0.
pub(crate) fn array<'a, T>(ptr: *const T, n: usize, param: &str) -> Result<&'a [T]> {
    if ptr.is_null() {
        if n == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {n}"
        )));
    }
    fits::<T>(n, param)?;
    // SAFETY: the caller gave `n` readable elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// An in-out array of `n` elements; NULL is allowed only when `n` is 0.
pub(crate) fn array_mut<'a, T>(ptr: *mut T, n: usize, param: &str) -> Result<&'a mut [T]> {
    if ptr.is_null() {
        if n == 0 {
            return Ok(&mut []);
        }
        return Err(Error::invalid_argument(format!(
            "{param} is NULL but its length is {n}"
        )));
    }
    fits::<T>(n, param)?;
    // SAFETY: the caller gave `n` initialised, writable elements at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

/// Refuses a length no array of `T` can have (more than `isize::MAX` bytes): a slice that
/// long is undefined behaviour, and a sure sign of a negative number passed as a size.
fn fits<T>(len: usize, param: &str) -> Result<()> {
    match len.checked_mul(std::mem::size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Error::invalid_argument(format!(
            "length of {param} is too large: {len}"
        ))),
    }
}
