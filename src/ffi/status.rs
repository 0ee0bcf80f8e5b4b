//! Status codes, their texts, and the thread-local detail of the last failure.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};

pub use crate::error::pc_status;

/// The fixed text of a status code, for any integer ("unknown status" for unknown ones).
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn pc_status_str(status: c_int) -> *const c_char {
    pc_status::try_from(status)
        .map_or(c"unknown status", pc_status::text)
        .as_ptr()
}

/// Room for the last error's text on each thread. A fixed buffer, so the pointer that
/// `pc_last_error()` returns never dangles, even when read after a later failure
/// (C evaluates `printf` arguments in any order).
const LAST_ERROR_CAPACITY: usize = 1024;

thread_local! {
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_CAPACITY]> = const { RefCell::new([0; LAST_ERROR_CAPACITY]) };
}

/// Records the detail of a failure on this thread (truncated to the buffer, at a
/// character boundary, with NUL bytes shown as `\0`).
pub(crate) fn set_last_error(message: &str) {
    let message = message.replace('\0', "\\0");
    let mut end = message.len().min(LAST_ERROR_CAPACITY - 1);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    LAST_ERROR.with(|last| {
        let mut buffer = last.borrow_mut();
        buffer[..end].copy_from_slice(&message.as_bytes()[..end]);
        buffer[end] = 0;
    });
}

/// A human-readable detail of the last failed call on this thread: the function, what
/// failed and why (an argument's name, the errno text, the peer's message). Empty when no
/// call failed yet. Owned by the library; the pointer stays valid for the thread's life,
/// and its text changes with the thread's next failing call.
#[no_mangle]
pub extern "C" fn pc_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.as_ptr().cast::<c_char>().cast_const())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_status_has_its_own_text() {
        let mut seen = std::collections::HashSet::new();
        for code in -27..=0 {
            // SAFETY: pc_status_str returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(pc_status_str(code)) };
            assert_ne!(text.to_str().unwrap(), "unknown status", "{code}");
            assert!(seen.insert(text), "{code} repeats a text");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(pc_status_str(-28)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status");
    }
}

#[cfg(test)]
mod last_error_tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let long = "é".repeat(LAST_ERROR_CAPACITY);
        set_last_error(&long);
        // SAFETY: pc_last_error returns a NUL-terminated buffer.
        let text = unsafe { CStr::from_ptr(pc_last_error()) }.to_str().unwrap();
        assert!(text.len() < LAST_ERROR_CAPACITY && text.chars().all(|c| c == 'é'));
        set_last_error("a\0b");
        assert_eq!(
            // SAFETY: as above.
            unsafe { CStr::from_ptr(pc_last_error()) }.to_str().unwrap(),
            "a\\0b"
        );
    }
}
