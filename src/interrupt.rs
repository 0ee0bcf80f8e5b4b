//! The seed's "Interrupting the main thread": a signal handler calls [`interrupt`], which
//! leaves one interrupt pending for the process; the first blocking call that sees it
//! consumes it and fails with `ErrorKind::Interrupted` (see [`crate::deadline`]).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::sys;

static PENDING: AtomicBool = AtomicBool::new(false);

/// Leaves one interrupt pending. Async-signal-safe: one atomic store.
pub fn interrupt() {
    PENDING.store(true, Ordering::SeqCst);
}

/// Consumes the pending interrupt, if any.
pub(crate) fn take() -> bool {
    PENDING.swap(false, Ordering::SeqCst)
}

/// A forked child starts with no interrupt pending: the parent's was meant for the parent.
pub(crate) fn reset_after_fork() {
    PENDING.store(false, Ordering::SeqCst);
}

extern "C" fn on_sigint(_sig: libc::c_int) {
    interrupt();
}

/// Makes SIGINT (Ctrl-C) call [`interrupt`].
pub fn install_sigint_handler() -> Result<()> {
    sys::signal::install_handler(libc::SIGINT, on_sigint)
        .map_err(|e| Error::os("sigaction(SIGINT)", e))
}
