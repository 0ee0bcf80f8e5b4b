//! A liveness token: a process-shared robust pthread mutex that a thread holds while it is
//! somewhere (say, waiting on a condition). When that thread dies, however it dies, the
//! kernel marks the mutex as the thread exits — before the process is even a zombie — so
//! another process can tell, exactly and cheaply, that the holder is gone.

use std::cell::UnsafeCell;
use std::io;

/// Lives in shared memory; initialise it in place with [`Token::init`] before use.
#[repr(C)]
pub(crate) struct Token(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a process-shared pthread mutex is made to be used from several threads and
// processes at once; all access goes through pthread calls.
unsafe impl Sync for Token {}
// SAFETY: as above.
unsafe impl Send for Token {}

impl Token {
    /// Makes the token a robust, process-shared mutex (in its final place in memory).
    pub(crate) fn init(&self) -> io::Result<()> {
        // SAFETY: the attribute object is initialised before use and destroyed after; the
        // mutex is initialised in place, in memory nobody uses yet.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            let set = check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    &mut attr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init(self.0.get(), &attr)));
            libc::pthread_mutexattr_destroy(&mut attr);
            set
        }
    }

    /// The calling thread holds the token (it is never contended: one holder per token).
    pub(crate) fn hold(&self) -> io::Result<()> {
        // SAFETY: an initialised mutex.
        match unsafe { libc::pthread_mutex_lock(self.0.get()) } {
            // A former holder died holding it: it is ours now, and consistent again.
            libc::EOWNERDEAD => self.make_consistent(),
            rc => check(rc),
        }
    }

    /// The holding thread lets go of the token.
    pub(crate) fn release(&self) {
        // SAFETY: called by the thread that holds it.
        unsafe { libc::pthread_mutex_unlock(self.0.get()) };
    }

    /// Whether the token's holder is gone (dead, or never took it). Leaves it free.
    pub(crate) fn holder_gone(&self) -> bool {
        // SAFETY: an initialised mutex; we unlock only what trylock gave us.
        match unsafe { libc::pthread_mutex_trylock(self.0.get()) } {
            libc::EBUSY => false,
            libc::EOWNERDEAD => {
                let _ = self.make_consistent();
                self.release();
                true
            }
            0 => {
                self.release();
                true
            }
            _ => false,
        }
    }

    fn make_consistent(&self) -> io::Result<()> {
        // SAFETY: we hold the mutex after EOWNERDEAD.
        check(unsafe { libc::pthread_mutex_consistent(self.0.get()) })
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
