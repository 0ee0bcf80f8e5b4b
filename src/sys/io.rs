//! Writing to standard error and reading the wall clock, without the locks of Rust's std
//! (a forked child must never wait for a lock another thread of its parent held).

use std::io;

/// Writes all of `bytes` to fd 2 with as few `write` calls as the kernel allows (one,
/// for a line of usual size, so lines from several processes do not interleave).
pub(crate) fn write_stderr(mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of the given length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// The local time as Python's logging `asctime`: `2026-11-25 13:33:09,123`.
pub(crate) fn asctime() -> String {
    // SAFETY: zeroed timespec and tm are valid; the calls fill them.
    unsafe {
        let mut now: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now.tv_sec, &mut tm);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            now.tv_nsec / 1_000_000
        )
    }
}
