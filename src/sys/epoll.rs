//! A small epoll wrapper for the children reaper.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::io::Errno;

/// An epoll instance (close-on-exec).
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        Ok(Epoll(epoll::create(CreateFlags::CLOEXEC)?))
    }

    /// Watches `fd` for readability once: after it fires, it stays silent.
    pub(crate) fn add_oneshot(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::ONESHOT;
        Ok(epoll::add(&self.0, fd, EventData::new_u64(token), flags)?)
    }

    /// Blocks until some watched fds are ready and returns their tokens (empty on EINTR).
    pub(crate) fn wait(&self) -> io::Result<Vec<u64>> {
        let mut events = [const { MaybeUninit::<Event>::uninit() }; 16];
        match epoll::wait(&self.0, &mut events, None) {
            Ok((ready, _)) => Ok(ready.iter().map(|e| e.data.u64()).collect()),
            Err(Errno::INTR) => Ok(Vec::new()),
            Err(err) => Err(err.into()),
        }
    }
}
