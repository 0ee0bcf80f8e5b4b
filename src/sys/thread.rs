//! Library threads.

use std::io;
use std::thread::JoinHandle;

/// Starts a library thread named `name` with every signal blocked in it.
pub(crate) fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    super::signal::with_signals_blocked(|| {
        std::thread::Builder::new().name(name.to_owned()).spawn(f)
    })
}
