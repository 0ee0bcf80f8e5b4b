//! Waiting for file descriptors to become ready (`ppoll`).

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

/// Waits at most `timeout` for any of `fds` (open, so not negative) to have `events`
/// (`libc::POLLIN`, ...) or a hang-up; fills `ready` (same length) when given, and
/// returns whether any is ready. `Ok(false)` when the time passed or a signal interrupted
/// the wait: callers loop with their own deadline.
pub(crate) fn poll(
    fds: &[RawFd],
    events: libc::c_short,
    timeout: Duration,
    ready: Option<&mut [bool]>,
) -> io::Result<bool> {
    let events = PollFlags::from_bits_retain(events as u16);
    let pollfd = |fd: &RawFd| {
        // SAFETY: ppoll only reads the number: an fd the caller closed meanwhile is
        // reported (POLLNVAL) as ready, never used.
        PollFd::from_borrowed_fd(unsafe { BorrowedFd::borrow_raw(*fd) }, events)
    };
    // A few fds (the usual case) need no allocation.
    let mut stack: [PollFd<'_>; 4];
    let mut heap: Vec<PollFd<'_>>;
    let pfds: &mut [PollFd<'_>] = match fds.first() {
        Some(first) if fds.len() <= 4 => {
            stack = std::array::from_fn(|i| pollfd(fds.get(i).unwrap_or(first)));
            &mut stack[..fds.len()]
        }
        _ => {
            heap = fds.iter().map(pollfd).collect();
            &mut heap
        }
    };
    let n = match rustix::event::poll(pfds, Some(&super::timespec(timeout))) {
        Ok(n) => n,
        Err(Errno::INTR) => return Ok(false),
        Err(err) => return Err(err.into()),
    };
    if let Some(ready) = ready {
        for (flag, pfd) in ready.iter_mut().zip(pfds.iter()) {
            *flag = !pfd.revents().is_empty();
        }
    }
    Ok(n > 0)
}
