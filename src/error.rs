//! The library's one error type. `ffi` maps [`ErrorKind`] to `pc_status` in one place;
//! the message becomes `pc_last_error()`.

use std::fmt;

/// What went wrong, one kind per C status code (see `ffi::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Timeout,
    Empty,
    Full,
    Interrupted,
    BufferTooShort,
    Eof,
    Closed,
    InvalidArgument,
    WrongState,
    NotOwner,
    Value,
    Index,
    Key,
    OwnerDead,
    Broken,
    Auth,
    Protocol,
    TooLarge,
    Remote,
    TaskFailed,
    WorkerDied,
    Stop,
    Type,
    NoMemory,
    Os,
    NotSupported,
    Panic,
}

/// An error with its kind and a human-readable detail naming what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
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
