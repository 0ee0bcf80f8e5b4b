//! Logging: `pc_enable_logging` (the seed's `enableLogging`), `pc_logging_enabled`
//! (`getLogger() is not None`) and `pc_log`.

use std::ffi::{c_char, c_int, c_void, CString};

use super::status::pc_status;
use crate::logging;

/// Level SUBDEBUG: the library's most detailed messages.
pub const PC_LOG_SUBDEBUG: c_int = 5;
/// Level DEBUG.
pub const PC_LOG_DEBUG: c_int = 10;
/// Level INFO: children starting and exiting, with their exit codes.
pub const PC_LOG_INFO: c_int = 20;
/// Level SUBWARNING.
pub const PC_LOG_SUBWARNING: c_int = 25;
/// Level WARNING.
pub const PC_LOG_WARNING: c_int = 30;
/// Level ERROR.
pub const PC_LOG_ERROR: c_int = 40;
/// Level CRITICAL.
pub const PC_LOG_CRITICAL: c_int = 50;

/// Receives each log line: `ctx` as given to `pc_enable_logging`, the message's level, the
/// name of the process that logs, and the formatted line without a trailing newline. Both
/// strings are valid during the call only. Called from whichever thread logs (library
/// threads included), in the process that logs (children included).
pub type pc_log_handler = Option<
    extern "C" fn(ctx: *mut c_void, level: c_int, process_name: *const c_char, line: *const c_char),
>;

/// Turns on logging (the seed's `enableLogging`): messages at `level` or above (any
/// non-negative number; the `PC_LOG_*` levels are the seed's) go to `handler(ctx, …)`, or
/// to standard error, one `write` per line, when `handler` is NULL. `format` (copied) uses
/// `%(levelname)s`, `%(processName)s`, `%(message)s`, `%(process)d`, `%(asctime)s` and
/// `%%`; NULL means `[%(levelname)s/%(processName)s] %(message)s`. Each call replaces the
/// previous configuration. Children started afterwards inherit it. The library logs
/// children starting and exiting (with exit codes) at INFO, and more at DEBUG.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a negative `level`, a non-UTF-8
/// `format`, or a format field not listed above.
#[no_mangle]
pub extern "C" fn pc_enable_logging(
    level: c_int,
    handler: pc_log_handler,
    ctx: *mut c_void,
    format: *const c_char,
) -> pc_status {
    ffi_status!({
        let format = if format.is_null() {
            None
        } else {
            Some(arg_str!(format))
        };
        let ctx = super::handle::UserData::new(ctx);
        let handler = handler.map(|f| -> logging::Handler {
            Box::new(move |level, name, line| {
                let name = CString::new(name).unwrap_or_default();
                let line = CString::new(line.replace('\0', "\\0")).unwrap_or_default();
                f(ctx.get(), level, name.as_ptr(), line.as_ptr());
            })
        });
        logging::enable(level, handler, format)
    })
}

/// Whether `pc_enable_logging` was called in this process or before it forked (the seed's
/// `getLogger()` is not `None`).
#[no_mangle]
pub extern "C" fn pc_logging_enabled() -> bool {
    logging::enabled()
}

/// The level set by the last `pc_enable_logging` of this process or of the parent it
/// inherited the configuration from (Python's `getLogger().getEffectiveLevel()`):
/// messages below it are dropped. -1 while logging is not enabled (the seed's
/// `getLogger()` is `None`, and nothing is logged); never fails.
#[no_mangle]
pub extern "C" fn pc_log_level() -> c_int {
    logging::level().unwrap_or(-1)
}

/// Logs `message` (copied) at `level`, as `getLogger().log(level, message)`: it is
/// written when logging is enabled at that level, dropped otherwise.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL or non-UTF-8 `message`.
#[no_mangle]
pub extern "C" fn pc_log(level: c_int, message: *const c_char) -> pc_status {
    ffi_status!({
        logging::log(level, arg_str!(message));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_levels_are_the_seed_levels() {
        let pairs = [
            (PC_LOG_SUBDEBUG, logging::SUBDEBUG),
            (PC_LOG_DEBUG, logging::DEBUG),
            (PC_LOG_INFO, logging::INFO),
            (PC_LOG_SUBWARNING, logging::SUBWARNING),
            (PC_LOG_WARNING, logging::WARNING),
            (PC_LOG_ERROR, logging::ERROR),
            (PC_LOG_CRITICAL, logging::CRITICAL),
        ];
        for (c, rust) in pairs {
            assert_eq!(c, rust);
        }
    }
}
