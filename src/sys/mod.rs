//! The only module that calls the OS directly: through rustix where it wraps the call,
//! through libc for the rest (fork and its hooks, signals, robust mutexes, C stdio).
//! Everything above it is safe Rust.

pub(crate) mod child;
pub(crate) mod code;
pub(crate) mod cpus;
pub(crate) mod epoll;
pub(crate) mod fork;
pub(crate) mod futex;
pub(crate) mod io;
pub(crate) mod poll;
pub(crate) mod process;
pub(crate) mod robust;
pub(crate) mod shm;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod spawn;
pub(crate) mod thread;

use std::time::Duration;

use rustix::event::Timespec;

/// `timeout` as the kernel's relative timespec (a longer one than it holds waits for ever
/// all the same).
#[inline]
fn timespec(timeout: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    }
}

/// Whether this process runs under valgrind, which preloads its `vgpreload_*` library
/// (read once).
pub(crate) fn under_valgrind() -> bool {
    static UNDER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UNDER.get_or_init(|| {
        std::env::var_os("LD_PRELOAD")
            .is_some_and(|preload| preload.to_string_lossy().contains("vgpreload"))
    })
}
