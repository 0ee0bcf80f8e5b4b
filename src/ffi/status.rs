//! Status codes, their texts, and the thread-local detail of the last failure.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};

use crate::error::ErrorKind;

/// The result of every fallible function. `PC_OK` is 0; every error is negative and keeps
/// its value forever (values are never reused).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum pc_status {
    /// Success.
    PC_OK = 0,
    /// A wait ended without success (Python's `TimeoutError`, or a `join`/`poll` that timed out).
    PC_ERR_TIMEOUT = -1,
    /// The queue is empty (`queue.Empty`).
    PC_ERR_EMPTY = -2,
    /// The queue is full (`queue.Full`).
    PC_ERR_FULL = -3,
    /// A blocking call consumed a pending `pc_interrupt()`: nothing acquired, nothing lost.
    PC_ERR_INTERRUPTED = -4,
    /// The given buffer is too small; the needed size is reported and nothing is lost.
    PC_ERR_BUFFER_TOO_SHORT = -5,
    /// The peer closed the connection (`EOFError`).
    PC_ERR_EOF = -6,
    /// The object was closed, or the pool is not running.
    PC_ERR_CLOSED = -7,
    /// A NULL, wrong-typed, freed or out-of-range argument; `pc_last_error()` names it.
    PC_ERR_INVALID_ARGUMENT = -8,
    /// The call does not fit the object's state (start twice, join before start, …).
    PC_ERR_WRONG_STATE = -9,
    /// Release of a lock this caller does not hold, or a Condition used without its lock.
    PC_ERR_NOT_OWNER = -10,
    /// A value error (`ValueError`): a bounded semaphore released too often, …
    PC_ERR_VALUE = -11,
    /// An index out of range (`IndexError`).
    PC_ERR_INDEX = -12,
    /// A missing key (`KeyError`).
    PC_ERR_KEY = -13,
    /// The lock was acquired, but its previous holder died holding it.
    PC_ERR_OWNER_DEAD = -14,
    /// The barrier is broken (`BrokenBarrierError`).
    PC_ERR_BROKEN = -15,
    /// Authentication failed (`AuthenticationError`).
    PC_ERR_AUTH = -16,
    /// A peer sent a malformed message.
    PC_ERR_PROTOCOL = -17,
    /// A message or value exceeds a limit.
    PC_ERR_TOO_LARGE = -18,
    /// A method failed in the manager's server (`RemoteError`).
    PC_ERR_REMOTE = -19,
    /// A pool task reported failure.
    PC_ERR_TASK_FAILED = -20,
    /// A pool worker died while running the task.
    PC_ERR_WORKER_DIED = -21,
    /// The iterator is exhausted (`StopIteration`).
    PC_ERR_STOP = -22,
    /// Out of memory.
    PC_ERR_NO_MEMORY = -23,
    /// An OS call failed; `pc_last_error()` has the call and the errno text.
    PC_ERR_OS = -24,
    /// Not supported (on this platform, or for this object).
    PC_ERR_NOT_SUPPORTED = -25,
    /// An internal error (a Rust panic) was caught at the boundary.
    PC_ERR_PANIC = -26,
    /// A value of another kind than asked (`TypeError`), e.g. a `str` where `bytes` was
    /// asked; nothing is lost.
    PC_ERR_TYPE = -27,
}

impl From<ErrorKind> for pc_status {
    fn from(kind: ErrorKind) -> pc_status {
        use pc_status::*;
        match kind {
            ErrorKind::Timeout => PC_ERR_TIMEOUT,
            ErrorKind::Empty => PC_ERR_EMPTY,
            ErrorKind::Full => PC_ERR_FULL,
            ErrorKind::Interrupted => PC_ERR_INTERRUPTED,
            ErrorKind::BufferTooShort => PC_ERR_BUFFER_TOO_SHORT,
            ErrorKind::Eof => PC_ERR_EOF,
            ErrorKind::Closed => PC_ERR_CLOSED,
            ErrorKind::InvalidArgument => PC_ERR_INVALID_ARGUMENT,
            ErrorKind::WrongState => PC_ERR_WRONG_STATE,
            ErrorKind::NotOwner => PC_ERR_NOT_OWNER,
            ErrorKind::Value => PC_ERR_VALUE,
            ErrorKind::Index => PC_ERR_INDEX,
            ErrorKind::Key => PC_ERR_KEY,
            ErrorKind::OwnerDead => PC_ERR_OWNER_DEAD,
            ErrorKind::Broken => PC_ERR_BROKEN,
            ErrorKind::Auth => PC_ERR_AUTH,
            ErrorKind::Protocol => PC_ERR_PROTOCOL,
            ErrorKind::TooLarge => PC_ERR_TOO_LARGE,
            ErrorKind::Remote => PC_ERR_REMOTE,
            ErrorKind::TaskFailed => PC_ERR_TASK_FAILED,
            ErrorKind::WorkerDied => PC_ERR_WORKER_DIED,
            ErrorKind::Stop => PC_ERR_STOP,
            ErrorKind::Type => PC_ERR_TYPE,
            ErrorKind::NoMemory => PC_ERR_NO_MEMORY,
            ErrorKind::Os => PC_ERR_OS,
            ErrorKind::NotSupported => PC_ERR_NOT_SUPPORTED,
            ErrorKind::Panic => PC_ERR_PANIC,
        }
    }
}

/// The fixed text of a status code, for any integer ("unknown status" for unknown ones).
/// The string is static: never free it.
#[no_mangle]
pub extern "C" fn pc_status_str(status: c_int) -> *const c_char {
    let text: &'static CStr = match status {
        0 => c"success",
        -1 => c"timed out",
        -2 => c"queue empty",
        -3 => c"queue full",
        -4 => c"interrupted",
        -5 => c"buffer too short",
        -6 => c"end of file: peer closed",
        -7 => c"closed",
        -8 => c"invalid argument",
        -9 => c"wrong state",
        -10 => c"not owner",
        -11 => c"value error",
        -12 => c"index out of range",
        -13 => c"key not found",
        -14 => c"previous owner died",
        -15 => c"broken barrier",
        -16 => c"authentication failed",
        -17 => c"protocol error",
        -18 => c"too large",
        -19 => c"remote error",
        -20 => c"task failed",
        -21 => c"worker died",
        -22 => c"stop iteration",
        -23 => c"out of memory",
        -24 => c"OS error",
        -25 => c"not supported",
        -26 => c"internal error (panic)",
        -27 => c"wrong type",
        _ => c"unknown status",
    };
    text.as_ptr()
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
