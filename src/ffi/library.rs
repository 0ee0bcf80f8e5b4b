//! Library-wide functions: version and interrupts.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: pc_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(pc_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
