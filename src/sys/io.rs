//! Writing to standard error, reading the wall clock and a descriptor flag, without the
//! locks of Rust's std
//! (a forked child must never wait for a lock another thread of its parent held).

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::io::Errno;

/// Writes all of `bytes` to fd 2 with as few `write` calls as the kernel allows (one,
/// for a line of usual size, so lines from several processes do not interleave).
pub(crate) fn write_stderr(mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(rustix::stdio::stderr(), bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// The local time as Python's logging `asctime`: `2026-11-25 13:33:09,123`.
pub(crate) fn asctime() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: a zeroed tm is valid; localtime_r fills it (rustix has no time zones).
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Sets close-on-exec on `fd`, a descriptor a parent kept open across `exec` for us.
pub(crate) fn set_cloexec(fd: i32) -> io::Result<()> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: only the flags of `fd` change; a closed descriptor is EBADF.
    match unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}
