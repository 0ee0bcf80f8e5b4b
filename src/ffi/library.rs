//! Library-wide functions: version, interrupts, byte strings.

use std::ffi::c_char;

use super::status::pc_status;
use crate::interrupt;

/// Pass as a timeout to wait without limit. Any negative timeout does the same; 0 never
/// blocks; a positive timeout waits at most that many seconds (monotonic clock, never
/// returning early); NaN is `PC_ERR_INVALID_ARGUMENT`.
pub const PC_FOREVER: f64 = -1.0;

/// The library's version, `"MAJOR.MINOR.PATCH"` (compare with the `PC_VERSION_*` macros
/// of the header you compiled against). Static: never free it.
#[no_mangle]
pub extern "C" fn pc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Leaves one interrupt pending for the process, as Ctrl-C does in Python. The first
/// blocking call that sees it (one blocked now, within 100 ms, or the next one to block)
/// consumes it and returns `PC_ERR_INTERRUPTED`, with nothing acquired and nothing lost.
/// Async-signal-safe: call it from a signal handler.
#[no_mangle]
pub extern "C" fn pc_interrupt() {
    interrupt::interrupt();
}

/// Installs a SIGINT handler that calls `pc_interrupt()`, so Ctrl-C breaks a blocking call
/// with `PC_ERR_INTERRUPTED` instead of killing the process. Replaces any SIGINT handler.
///
/// Returns `PC_OK`, or `PC_ERR_OS` if `sigaction` failed.
#[no_mangle]
pub extern "C" fn pc_install_sigint_handler() -> pc_status {
    ffi_status!({ interrupt::install_sigint_handler() })
}

/// A byte string filled by the library. Release its bytes with `pc_bytes_free`. An empty
/// string may have `data == NULL`.
#[repr(C)]
#[derive(Debug)]
pub struct pc_bytes {
    /// The bytes, owned by the library until `pc_bytes_free`.
    pub data: *mut u8,
    /// Their number.
    pub len: usize,
}

impl pc_bytes {
    /// Gives `bytes` to C; the receiver releases them with `pc_bytes_free`.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> pc_bytes {
        if bytes.is_empty() {
            return pc_bytes {
                data: std::ptr::null_mut(),
                len: 0,
            };
        }
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        pc_bytes {
            data: Box::into_raw(boxed).cast(),
            len,
        }
    }
}

/// Frees the bytes of `b` (filled by the library) and sets `b->data` to NULL and `b->len`
/// to 0, so freeing twice is harmless. NULL `b` is a no-op.
#[no_mangle]
pub extern "C" fn pc_bytes_free(b: *mut pc_bytes) {
    let Some(b) = super::handle::out_opt(b) else {
        return;
    };
    // SAFETY: a non-NULL pc_bytes given to us is initialised (filled by the library, or
    // zeroed by the caller).
    let b = unsafe { b.assume_init_mut() };
    if !b.data.is_null() {
        // SAFETY: non-NULL data was made by `pc_bytes::from_vec` with this length.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(b.data, b.len)) });
    }
    b.data = std::ptr::null_mut();
    b.len = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_double_free() {
        let mut b = pc_bytes::from_vec(b"hello".to_vec());
        assert_eq!(b.len, 5);
        pc_bytes_free(&mut b);
        assert!(b.data.is_null());
        pc_bytes_free(&mut b);
        pc_bytes_free(std::ptr::null_mut());
        let mut empty = pc_bytes::from_vec(Vec::new());
        assert!(empty.data.is_null());
        pc_bytes_free(&mut empty);
    }

    #[test]
    fn version_matches_cargo() {
        // SAFETY: pc_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(pc_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
