//! Shared values and arrays: `pc_value_*`, `pc_array_*`, `pc_raw_*` (the seed's `Value`,
//! `Array`, `RawValue`, `RawArray`, `copy` and `synchronized`).
//! The typecodes and the threads and fork rules are on `pc_value`, so that they reach
//! the header.

use std::ffi::{c_char, c_void};
use std::mem::MaybeUninit;
use std::sync::Arc;

use super::handle;
use super::library::pc_bytes;
use super::status::pc_status;
use super::synchronize::pc_lock;
use crate::error::{Error, ErrorKind, Result};
use crate::sharedctypes::{Array, ElemType, Elements, Guard, Value};
use crate::synchronize::Lock;

/// A shared value (`Value`, `RawValue`).
///
/// Typecodes are Python's: `'c' 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' '?' 'u'`
/// ('u' is `wchar_t`); elements are in the machine's byte order, laid out as a C array of
/// that type. Values and arrays live in shared memory: created before `pc_process_start`,
/// they are the same in the child. Any thread may use them.
///
/// A manager's value or array (`pc_manager_value`, `pc_manager_array`) is used through
/// the same handles: each get or set is a request to the manager, which holds Python
/// values, converted by typecode (integers to `int`, 'f' and 'd' to `float`, 'c' to one
/// byte of `bytes`, '?' to `bool`, 'u' to a one-character `str`).
pub struct pc_value {
    _private: [u8; 0],
}
impl_handle!(pc_value => Value, b"valu");

/// A shared array (`Array`, `RawArray`): typecodes, threads and fork as `pc_value`.
pub struct pc_array {
    _private: [u8; 0],
}
impl_handle!(pc_array => Array, b"arry");

fn typecode(code: c_char) -> Result<ElemType> {
    ElemType::from_typecode(code as u8).map_err(|e| e.context("typecode"))
}

/// The lock argument of the `_with_lock` constructors: required, kept alive by the object.
fn given_lock(lock: *mut pc_lock) -> Result<Guard> {
    if lock.is_null() {
        return Err(Error::invalid_argument(
            "lock is NULL (use the constructor without _with_lock)",
        ));
    }
    Ok(Guard::With(handle::borrow(lock, "lock")?.share()))
}

/// `size` bytes at `init`, or `None` (zeros) for NULL.
fn init_bytes<'a>(init: *const c_void, size: usize) -> Result<Option<&'a [u8]>> {
    if init.is_null() {
        return Ok(None);
    }
    handle::bytes(init.cast(), size, "init").map(Some)
}

/// The body of the value constructors (each runs it in its own boundary, so errors name it).
fn new_value(
    code: c_char,
    init: *const c_void,
    guard: Guard,
    out: &mut MaybeUninit<*mut pc_value>,
) -> Result<()> {
    let elem = typecode(code)?;
    let value = Value::new(elem.typecode(), init_bytes(init, elem.size())?, guard)?;
    out.write(handle::into_raw(value)?);
    Ok(())
}

/// Creates a shared value of `typecode` (Python's `Value(typecode, init)`), guarded by a new
/// RLock of its own. `init` points to one element of that type (copied), or is NULL for
/// zero. `*out` is a new handle owned by the caller (`pc_value_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for an unknown typecode;
/// `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_value_new(
    typecode: c_char,
    init: *const c_void,
    out: *mut *mut pc_value,
) -> pc_status {
    ffi_status!({ new_value(typecode, init, Guard::Own, arg_out!(out)) })
}

/// Creates a shared value guarded by `lock` (a Lock or RLock, which it keeps alive;
/// `pc_value_lock` lends a handle of it). As `pc_value_new`; a NULL `lock` is
/// `PC_ERR_INVALID_ARGUMENT`. `lock` may be a manager's: each access then takes it
/// through the manager, and fails with `PC_ERR_EOF` once the manager is gone.
#[no_mangle]
pub extern "C" fn pc_value_new_with_lock(
    typecode: c_char,
    init: *const c_void,
    lock: *mut pc_lock,
    out: *mut *mut pc_value,
) -> pc_status {
    ffi_status!({ new_value(typecode, init, given_lock(lock)?, arg_out!(out)) })
}

/// Creates a shared value without a lock (Python's `RawValue`). As `pc_value_new`.
#[no_mangle]
pub extern "C" fn pc_raw_value_new(
    typecode: c_char,
    init: *const c_void,
    out: *mut *mut pc_value,
) -> pc_status {
    ffi_status!({ new_value(typecode, init, Guard::Raw, arg_out!(out)) })
}

/// Copies the value to `out` (one element of its type), under its lock if it has one.
/// A managed value is asked of its manager and converted to the typecode.
///
/// Returns `PC_OK`; `PC_ERR_INTERRUPTED` if `pc_interrupt()` broke the wait for the lock. A
/// managed value also: `PC_ERR_TYPE` when the manager holds a value of another kind than
/// the typecode (a Python peer may store any), `PC_ERR_VALUE` when it is out of the type's
/// range (`out` unchanged in both cases); `PC_ERR_EOF` when the manager is gone;
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_value_get(v: *mut pc_value, out: *mut c_void) -> pc_status {
    ffi_status!({
        let v = arg_handle!(v);
        let out = arg_bytes_mut!(out, v.elements().elem().size());
        v.elements().read(0, 1, out)
    })
}

/// Sets the value from `in` (one element of its type), under its lock if it has one.
///
/// Returns `PC_OK`; `PC_ERR_INTERRUPTED`; `PC_ERR_INVALID_ARGUMENT` for a NULL `in`. A
/// managed value also: `PC_ERR_VALUE` for an element a Python value cannot carry (a 'Q' or
/// 'L' above `INT64_MAX`, a 'u' that is no character); `PC_ERR_EOF` when the manager is
/// gone; `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_value_set(v: *mut pc_value, r#in: *const c_void) -> pc_status {
    ffi_status!({
        let v = arg_handle!(v);
        v.elements()
            .write(0, 1, arg_bytes!(r#in, v.elements().elem().size()))
    })
}

/// `value += delta` as one step under the value's lock (or without one for a raw value):
/// integers wrap as in C and need a whole `delta`; floats add.
///
/// Returns `PC_OK`; `PC_ERR_INTERRUPTED`; `PC_ERR_INVALID_ARGUMENT` for a fractional
/// `delta` on an integer or a non-number typecode ('c', '?', 'u'); `PC_ERR_NOT_SUPPORTED`
/// for a managed value, which has no such step: a get then a set is not atomic, so take a
/// managed lock around them.
#[no_mangle]
pub extern "C" fn pc_value_add(v: *mut pc_value, delta: f64) -> pc_status {
    ffi_status!({ arg_handle!(v).elements().add(0, delta) })
}

/// The value's address in shared memory (the same in children forked afterwards), for
/// direct access; take `pc_value_lock` around it yourself. NULL for a NULL or invalid `v`,
/// and for a managed value, which has no memory in this process (`pc_last_error` says
/// so).
#[no_mangle]
pub extern "C" fn pc_value_ptr(v: *mut pc_value) -> *mut c_void {
    ffi_value!(std::ptr::null_mut(), {
        Ok(arg_handle!(v).elements().ptr()?.cast())
    })
}

/// The lock guarding the value: its own RLock, or the one given to
/// `pc_value_new_with_lock`. The handle is lent by the value: the same each time, valid
/// until `pc_value_free(v)` (whatever became of other handles to that lock), refused
/// after it; do not free it. For a given lock it is another handle than the caller's,
/// naming the same lock.
/// NULL for a raw value, and for a NULL or invalid `v`; NULL too for a managed value,
/// which has no lock in this process (`pc_last_error` says so): guard its gets and sets
/// with a managed lock.
#[no_mangle]
pub extern "C" fn pc_value_lock(v: *mut pc_value) -> *mut pc_lock {
    ffi_value!(std::ptr::null_mut(), {
        arg_handle!(v).lend(|v| elements_lock(v.elements()))
    })
}

/// The lock of a value or array, to lend as a handle (`None` for raw ones).
fn elements_lock(elements: &Elements) -> Result<Option<Arc<Lock>>> {
    Ok(elements.lock()?.cloned())
}

/// Releases the caller's handle, and the lock handle `pc_value_lock` lent; the memory
/// lives on in processes that still have it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_value_free(v: *mut pc_value) {
    ffi_free!(v)
}

/// The body of the array constructors (each runs it in its own boundary, so errors name it).
fn new_array(
    elem: ElemType,
    len: usize,
    init: *const c_void,
    guard: Guard,
    out: &mut MaybeUninit<*mut pc_array>,
) -> Result<()> {
    let bytes = elem.size().checked_mul(len).ok_or_else(|| {
        Error::new(
            ErrorKind::TooLarge,
            format!("{len} elements of {} bytes", elem.size()),
        )
    })?;
    let array = Array::new(elem, len, init_bytes(init, bytes)?, guard)?;
    out.write(handle::into_raw(array)?);
    Ok(())
}

/// Creates a shared array of `len` elements of `typecode` (Python's `Array`), guarded by
/// a new RLock of its own. `init` points to `len` elements (copied), or is NULL for zeros;
/// `len` may be 0. `*out` is a new handle owned by the caller (`pc_array_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for an unknown typecode; `PC_ERR_TOO_LARGE`
/// when the size overflows; `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory could not be
/// mapped.
#[no_mangle]
pub extern "C" fn pc_array_new(
    typecode: c_char,
    len: usize,
    init: *const c_void,
    out: *mut *mut pc_array,
) -> pc_status {
    ffi_status!({
        new_array(
            self::typecode(typecode)?,
            len,
            init,
            Guard::Own,
            arg_out!(out),
        )
    })
}

/// Creates a shared array guarded by `lock` (kept alive; `pc_array_lock` lends a handle
/// of it). As `pc_array_new`; a NULL `lock` is `PC_ERR_INVALID_ARGUMENT`. `lock` may be a
/// manager's, as for `pc_value_new_with_lock`.
#[no_mangle]
pub extern "C" fn pc_array_new_with_lock(
    typecode: c_char,
    len: usize,
    init: *const c_void,
    lock: *mut pc_lock,
    out: *mut *mut pc_array,
) -> pc_status {
    ffi_status!({
        new_array(
            self::typecode(typecode)?,
            len,
            init,
            given_lock(lock)?,
            arg_out!(out),
        )
    })
}

/// Creates a shared array without a lock (Python's `RawArray`). As `pc_array_new`.
#[no_mangle]
pub extern "C" fn pc_raw_array_new(
    typecode: c_char,
    len: usize,
    init: *const c_void,
    out: *mut *mut pc_array,
) -> pc_status {
    ffi_status!({
        new_array(
            self::typecode(typecode)?,
            len,
            init,
            Guard::Raw,
            arg_out!(out),
        )
    })
}

/// Creates a zeroed shared array of `len` elements of `elem_size` bytes each — any C type,
/// such as a struct — without a lock (Python's `RawArray(ctypes_type, n)`). Its typecode
/// is 0. As `pc_array_new`; an `elem_size` of 0 is `PC_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn pc_raw_array_new_sized(
    elem_size: usize,
    len: usize,
    out: *mut *mut pc_array,
) -> pc_status {
    ffi_status!({
        new_array(
            ElemType::sized(elem_size)?,
            len,
            std::ptr::null(),
            Guard::Raw,
            arg_out!(out),
        )
    })
}

/// The number of elements (a managed array's too, known since it was made); 0 for a
/// NULL or invalid `a`.
#[no_mangle]
pub extern "C" fn pc_array_len(a: *const pc_array) -> usize {
    ffi_value!(0, { Ok(arg_handle!(a).elements().len()) })
}

/// The size of one element in bytes; 0 for a NULL or invalid `a`.
#[no_mangle]
pub extern "C" fn pc_array_elem_size(a: *const pc_array) -> usize {
    ffi_value!(0, { Ok(arg_handle!(a).elements().elem().size()) })
}

/// The typecode; 0 for arrays made by size, and for a NULL or invalid `a`.
#[no_mangle]
pub extern "C" fn pc_array_typecode(a: *const pc_array) -> c_char {
    ffi_value!(0, {
        Ok(arg_handle!(a).elements().elem().typecode() as c_char)
    })
}

/// Copies element `i` to `out` (one element), under the array's lock if it has one. A
/// managed array's element is asked of its manager and converted to the typecode.
///
/// Returns `PC_OK`; `PC_ERR_INDEX` when `i` is out of range; `PC_ERR_INTERRUPTED`. A
/// managed array also: `PC_ERR_TYPE` and `PC_ERR_VALUE` for an element the typecode cannot
/// hold, as `pc_value_get` (`out` unchanged); `PC_ERR_EOF` when the manager is gone;
/// `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_array_get(a: *mut pc_array, i: usize, out: *mut c_void) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        a.elements()
            .read(i, 1, arg_bytes_mut!(out, a.elements().elem().size()))
    })
}

/// Sets element `i` from `in` (one element), under the array's lock if it has one.
/// Statuses as `pc_array_get`; a managed array's element as `pc_value_set`.
#[no_mangle]
pub extern "C" fn pc_array_set(a: *mut pc_array, i: usize, r#in: *const c_void) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        a.elements()
            .write(i, 1, arg_bytes!(r#in, a.elements().elem().size()))
    })
}

/// Copies elements `[start, start + count)` to `out` (a slice, `a[start:start+count]`) as
/// one step under the lock (a managed array's: one request). An empty slice is fine
/// (`out` may then be NULL).
///
/// Returns `PC_OK`; `PC_ERR_INDEX` when the slice is out of range; `PC_ERR_INTERRUPTED`;
/// `PC_ERR_INVALID_ARGUMENT` for a NULL `out` with `count` > 0; for a managed array, the
/// statuses of `pc_array_get` (`out` unchanged on failure).
#[no_mangle]
pub extern "C" fn pc_array_read(
    a: *mut pc_array,
    start: usize,
    count: usize,
    out: *mut c_void,
) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        let bytes = slice_bytes(a.elements(), count)?;
        a.elements().read(start, count, arg_bytes_mut!(out, bytes))
    })
}

/// Sets elements `[start, start + count)` from `in` as one step under the lock (a managed
/// array's: one request). Statuses as `pc_array_read`, and `pc_value_set`'s for a managed
/// array's elements.
#[no_mangle]
pub extern "C" fn pc_array_write(
    a: *mut pc_array,
    start: usize,
    count: usize,
    r#in: *const c_void,
) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        let bytes = slice_bytes(a.elements(), count)?;
        a.elements().write(start, count, arg_bytes!(r#in, bytes))
    })
}

/// The byte size of `count` elements, checked against the array so a huge count is an
/// index error, not an overflow.
fn slice_bytes(elements: &Elements, count: usize) -> Result<usize> {
    if count > elements.len() {
        return Err(Error::new(
            ErrorKind::Index,
            format!(
                "{count} elements out of range for length {}",
                elements.len()
            ),
        ));
    }
    Ok(count * elements.elem().size())
}

/// A `'c'` array's string (ctypes' `.value`): its bytes up to the first NUL, copied into
/// `*out` (release with `pc_bytes_free`; no NUL is added).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for another typecode; `PC_ERR_INTERRUPTED`;
/// for a managed array, the statuses of `pc_array_read`.
#[no_mangle]
pub extern "C" fn pc_array_get_string(a: *mut pc_array, out: *mut pc_bytes) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        let out = arg_out!(out);
        out.write(pc_bytes::from_vec(a.string()?));
        Ok(())
    })
}

/// Stores the string `s` in a `'c'` array, followed by a NUL when it is shorter than the
/// array (a string exactly as long fills it without NUL, as ctypes does).
///
/// Returns `PC_OK`; `PC_ERR_VALUE` when `s` is longer than the array (nothing changed);
/// `PC_ERR_INVALID_ARGUMENT` for another typecode or a NULL `s`; `PC_ERR_INTERRUPTED`; for
/// a managed array, the statuses of `pc_array_write`.
#[no_mangle]
pub extern "C" fn pc_array_set_string(a: *mut pc_array, s: *const c_char) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        a.set_string(handle::c_bytes(s, "s")?)
    })
}

/// A new raw array (no lock) with the same type and contents (`sharedctypes.copy`), read
/// under `a`'s lock. `*out` is a new handle owned by the caller. The copy of a managed
/// array is a local raw array, read from the manager in one request.
///
/// Returns `PC_OK`; `PC_ERR_INTERRUPTED`; `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory
/// could not be mapped; for a managed array, the statuses of `pc_array_read`.
#[no_mangle]
pub extern "C" fn pc_array_copy(a: *mut pc_array, out: *mut *mut pc_array) -> pc_status {
    ffi_status!({
        let a = arg_handle!(a);
        let out = arg_out!(out);
        out.write(handle::into_raw(a.copy()?)?);
        Ok(())
    })
}

/// The first element's address in shared memory (the same in children forked afterwards),
/// for direct access; take `pc_array_lock` around it yourself. NULL for a NULL or invalid
/// `a`, and for a managed array, which has no memory in this process (`pc_last_error`
/// says so). (For an empty array it points to no element.)
#[no_mangle]
pub extern "C" fn pc_array_ptr(a: *mut pc_array) -> *mut c_void {
    ffi_value!(std::ptr::null_mut(), {
        Ok(arg_handle!(a).elements().ptr()?.cast())
    })
}

/// The lock guarding the array (its own RLock, or the one given to
/// `pc_array_new_with_lock`). Lent by the array as `pc_value_lock`'s by the value: the
/// same each time, valid until `pc_array_free(a)`; do not free it. NULL for a raw array,
/// and for a NULL or invalid `a`; NULL too for a managed array, which has no lock in this
/// process (`pc_last_error` says so): guard its reads and writes with a managed lock.
#[no_mangle]
pub extern "C" fn pc_array_lock(a: *mut pc_array) -> *mut pc_lock {
    ffi_value!(std::ptr::null_mut(), {
        arg_handle!(a).lend(|a| elements_lock(a.elements()))
    })
}

/// Releases the caller's handle, and the lock handle `pc_array_lock` lent; the memory
/// lives on in processes that still have it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_array_free(a: *mut pc_array) {
    ffi_free!(a)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::ffi::status::pc_last_error;
    use crate::item::Item;
    use crate::sharedctypes::FakeElements;

    fn last_error() -> String {
        // SAFETY: pc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(pc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_managed_value_is_read_and_written_but_has_no_memory_lock_or_add() {
        let fake = FakeElements::with(vec![Item::Float(2.5)]);
        let v = handle::into_raw(Value::remote(Box::new(fake), b'd').unwrap()).unwrap();
        let mut out = 0f64;
        assert_eq!(
            pc_value_get(v, (&mut out as *mut f64).cast()),
            pc_status::PC_OK
        );
        assert_eq!(out, 2.5);
        let four = 4.0f64;
        assert_eq!(
            pc_value_set(v, (&four as *const f64).cast()),
            pc_status::PC_OK
        );
        assert_eq!(
            pc_value_get(v, (&mut out as *mut f64).cast()),
            pc_status::PC_OK
        );
        assert_eq!(out, 4.0);
        assert_eq!(pc_value_add(v, 1.0), pc_status::PC_ERR_NOT_SUPPORTED);
        assert!(last_error().contains("managed lock"), "{}", last_error());
        assert!(pc_value_ptr(v).is_null());
        assert!(last_error().starts_with("pc_value_ptr: a managed value"));
        assert!(pc_value_lock(v).is_null());
        assert!(last_error().starts_with("pc_value_lock: a managed value"));
        pc_value_free(v);
    }

    #[test]
    fn a_managed_array_copies_to_a_local_one() {
        let fake = FakeElements::with(vec![Item::Int(1), Item::Int(-2)]);
        let a = handle::into_raw(Array::remote(Box::new(fake), b'h', 2).unwrap()).unwrap();
        assert_eq!(pc_array_len(a), 2);
        assert_eq!(pc_array_elem_size(a), 2);
        assert_eq!(pc_array_typecode(a), b'h' as c_char);
        assert!(pc_array_ptr(a).is_null());
        assert!(pc_array_lock(a).is_null());
        let mut copy = std::ptr::null_mut();
        assert_eq!(pc_array_copy(a, &mut copy), pc_status::PC_OK);
        let local = pc_array_ptr(copy).cast::<i16>();
        assert!(!local.is_null());
        // SAFETY: the copy holds two 'h' elements.
        assert_eq!(unsafe { [*local, *local.add(1)] }, [1, -2]);
        pc_array_free(copy);
        pc_array_free(a);
    }
}
