//! The library's one error type and the status codes it becomes at the C boundary, in one
//! place: [`pc_status`] (the C enum), [`ErrorKind`] (its errors, for Rust code) and the
//! texts of `pc_status_str()`. The message becomes `pc_last_error()`.

use std::ffi::{c_int, CStr};
use std::fmt;

/// The result of every fallible function. `PC_OK` is 0; every error is negative and keeps
/// its value forever (values are never reused).
// A new status is a variant here and a line in `error_kinds!` below (the compiler asks for it).
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

/// Declares [`ErrorKind`] from one list pairing each kind with its status and the status's
/// text, and derives the conversions from that list. `pc_status` itself stays written out
/// for cbindgen; `pc_status::text` matches every status, so a status missing from the list
/// does not compile.
macro_rules! error_kinds {
    ($($kind:ident => $status:ident, $text:literal;)*) => {
        /// What went wrong, one kind per error status of [`pc_status`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($kind,)*
        }

        impl From<ErrorKind> for pc_status {
            fn from(kind: ErrorKind) -> pc_status {
                match kind {
                    $(ErrorKind::$kind => pc_status::$status,)*
                }
            }
        }

        impl pc_status {
            /// The fixed text of the status (`pc_status_str()`).
            pub fn text(self) -> &'static CStr {
                match self {
                    pc_status::PC_OK => c"success",
                    $(pc_status::$status => $text,)*
                }
            }
        }

        /// The status of a C integer, or the integer back when no status has that value.
        impl TryFrom<c_int> for pc_status {
            type Error = c_int;

            fn try_from(code: c_int) -> std::result::Result<pc_status, c_int> {
                [pc_status::PC_OK, $(pc_status::$status),*]
                    .into_iter()
                    .find(|status| *status as c_int == code)
                    .ok_or(code)
            }
        }
    };
}

error_kinds! {
    Timeout => PC_ERR_TIMEOUT, c"timed out";
    Empty => PC_ERR_EMPTY, c"queue empty";
    Full => PC_ERR_FULL, c"queue full";
    Interrupted => PC_ERR_INTERRUPTED, c"interrupted";
    BufferTooShort => PC_ERR_BUFFER_TOO_SHORT, c"buffer too short";
    Eof => PC_ERR_EOF, c"end of file: peer closed";
    Closed => PC_ERR_CLOSED, c"closed";
    InvalidArgument => PC_ERR_INVALID_ARGUMENT, c"invalid argument";
    WrongState => PC_ERR_WRONG_STATE, c"wrong state";
    NotOwner => PC_ERR_NOT_OWNER, c"not owner";
    Value => PC_ERR_VALUE, c"value error";
    Index => PC_ERR_INDEX, c"index out of range";
    Key => PC_ERR_KEY, c"key not found";
    OwnerDead => PC_ERR_OWNER_DEAD, c"previous owner died";
    Broken => PC_ERR_BROKEN, c"broken barrier";
    Auth => PC_ERR_AUTH, c"authentication failed";
    Protocol => PC_ERR_PROTOCOL, c"protocol error";
    TooLarge => PC_ERR_TOO_LARGE, c"too large";
    Remote => PC_ERR_REMOTE, c"remote error";
    TaskFailed => PC_ERR_TASK_FAILED, c"task failed";
    WorkerDied => PC_ERR_WORKER_DIED, c"worker died";
    Stop => PC_ERR_STOP, c"stop iteration";
    Type => PC_ERR_TYPE, c"wrong type";
    NoMemory => PC_ERR_NO_MEMORY, c"out of memory";
    Os => PC_ERR_OS, c"OS error";
    NotSupported => PC_ERR_NOT_SUPPORTED, c"not supported";
    Panic => PC_ERR_PANIC, c"internal error (panic)";
}

/// An error with its kind and a human-readable detail naming what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` with the detail `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// An OS call failed: `what` says which, the errno text says why.
    pub fn os(what: &str, err: std::io::Error) -> Error {
        let kind = if err.raw_os_error() == Some(libc::ENOMEM) {
            ErrorKind::NoMemory
        } else {
            ErrorKind::Os
        };
        Error::new(kind, format!("{what}: {err}"))
    }

    /// An OS call failed and `errno` says why.
    pub fn last_os(what: &str) -> Error {
        Error::os(what, std::io::Error::last_os_error())
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn wrong_state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::WrongState, message)
    }

    /// The same error with `prefix: ` before its message.
    pub fn context(self, prefix: impl fmt::Display) -> Error {
        Error {
            kind: self.kind,
            message: format!("{prefix}: {}", self.message),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}
