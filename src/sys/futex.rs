//! Futex wait and wake on words in shared memory. The non-private operations: the word
//! may be mapped by several processes.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex::{self, Flags};

/// Sleeps while `*word == expected`, at most `timeout`. Returns on a wake-up, a changed
/// word, a signal or the timeout alike: callers re-check their condition.
///
/// Never inlined, nor `wake`: a system call gains nothing from it, and inlined into the
/// queue's wait path it made the compiler stop inlining the ring's push and take, which
/// cost a queue's 1→1 stream a fifth of its speed.
#[inline(never)]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    // Every error (EAGAIN, EINTR, ETIMEDOUT) means "re-check".
    let _ = futex::wait(
        word,
        Flags::empty(),
        expected,
        Some(&super::timespec(timeout)),
    );
}

/// Wakes at most `n` waiters of `word`; returns how many woke.
#[inline(never)]
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    futex::wake(word, Flags::empty(), n.min(i32::MAX as u32)).unwrap_or(0)
}
