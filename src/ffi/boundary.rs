//! Runs exported function bodies: panics caught, errors recorded for `pc_last_error()`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::{pc_status, set_last_error};
use crate::error::{Error, ErrorKind, Result};

/// Runs `body` for the exported function `site` (a `type_name` path) and returns its status.
/// Inlined, so the success path of an exported function costs no extra call.
#[inline(always)]
pub(crate) fn status(site: &'static str, body: impl FnOnce() -> Result<()>) -> pc_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => pc_status::PC_OK,
        Ok(Err(err)) => fail(site, err),
        Err(panic) => fail(site, panic_error(panic)),
    }
}

/// Runs `body` for `site` and returns its value, or `fallback` after recording the error.
#[inline(always)]
pub(crate) fn value<T>(site: &'static str, fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(err)) => {
            fail(site, err);
            fallback
        }
        Err(panic) => {
            fail(site, panic_error(panic));
            fallback
        }
    }
}

/// Records `err` (prefixed with the function's name) and returns its status.
#[cold]
#[inline(never)]
fn fail(site: &'static str, err: Error) -> pc_status {
    let status = pc_status::from(err.kind());
    set_last_error(&format!("{}: {}", function_name(site), err.message()));
    status
}

#[cold]
fn panic_error(panic: Box<dyn Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::new(ErrorKind::Panic, format!("internal error (panic): {what}"))
}

/// `processing::ffi::process::pc_process_join::here` (or with `{{closure}}` parts)
/// becomes `pc_process_join`.
fn function_name(site: &'static str) -> &'static str {
    site.split("::")
        .filter(|part| *part != "here" && *part != "{{closure}}")
        .last()
        .unwrap_or(site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::pc_last_error;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: pc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(pc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn names_the_function() {
        assert_eq!(
            function_name("processing::ffi::process::pc_process_join::here"),
            "pc_process_join"
        );
        assert_eq!(
            function_name("processing::ffi::x::pc_x::{{closure}}::here"),
            "pc_x"
        );
    }

    #[test]
    fn errors_and_panics_become_statuses() {
        let s = status("m::pc_demo::here", || Err(Error::wrong_state("twice")));
        assert_eq!(s, pc_status::PC_ERR_WRONG_STATE);
        assert_eq!(last_error(), "pc_demo: twice");
        let s = status("m::pc_demo::here", || panic!("boom"));
        assert_eq!(s, pc_status::PC_ERR_PANIC);
        assert!(last_error().contains("boom"), "{}", last_error());
        assert_eq!(value("m::pc_v::here", -1, || Ok(5)), 5);
        assert_eq!(
            value("m::pc_v::here", -1, || Err(Error::invalid_argument("x"))),
            -1
        );
    }
}
