//! The CPUs this process may use.

/// The number of CPUs online, as Python's `os.cpu_count()`; at least 1.
pub(crate) fn cpu_count() -> i32 {
    // SAFETY: sysconf takes a name and returns a number (rustix has no _SC_NPROCESSORS_ONLN).
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.clamp(1, i32::MAX as libc::c_long) as i32
}

/// Whether this process may run on one CPU only (its affinity, e.g. `taskset -c 0`):
/// then spinning for another process to act only delays it. Read once per process.
pub(crate) fn single_cpu() -> bool {
    use std::sync::OnceLock;
    static SINGLE: OnceLock<bool> = OnceLock::new();
    *SINGLE
        .get_or_init(|| rustix::thread::sched_getaffinity(None).is_ok_and(|set| set.count() == 1))
}
