//! Signal handlers and masks.

use std::io;

/// Installs `handler` for `sig` without `SA_RESTART`, so a blocked system call in the
/// receiving thread returns `EINTR` at once.
pub(crate) fn install_handler(
    sig: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set the handler.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = 0;
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by us.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised; the old action is not needed.
    if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ignores SIGINT in this process (a manager's server: Ctrl-C is for its owner).
pub(crate) fn ignore_sigint() {
    // SAFETY: setting a standard disposition; no handler code is involved.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
}

/// Runs `f` with every signal blocked in the calling thread, then restores the mask.
/// Threads started inside `f` inherit the full mask, so signals (SIGINT above all) go to
/// the program's own threads, never to the library's.
pub(crate) fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t values are plain data, initialised by sigfillset / pthread_sigmask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

/// A thread's signal mask, to give another thread (or a child forked from one) the same.
#[derive(Clone, Copy)]
pub(crate) struct Mask(libc::sigset_t);

impl Mask {
    /// The calling thread's mask.
    pub(crate) fn current() -> Mask {
        // SAFETY: a zeroed sigset_t is valid storage; pthread_sigmask fills it.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut mask);
            Mask(mask)
        }
    }

    /// The mask's bytes, for a process started by `exec`.
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        // SAFETY: a sigset_t is plain data; its bytes are read within its size.
        unsafe {
            std::slice::from_raw_parts(
                (&raw const self.0).cast::<u8>(),
                std::mem::size_of::<libc::sigset_t>(),
            )
        }
        .to_vec()
    }

    /// The mask [`Mask::to_bytes`] wrote (`None` for bytes of another size).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Mask> {
        if bytes.len() != std::mem::size_of::<libc::sigset_t>() {
            return None;
        }
        // SAFETY: a zeroed sigset_t is valid storage; any bytes of its size are a valid
        // (plain data) sigset_t.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (&raw mut mask).cast::<u8>(),
                bytes.len(),
            );
            Some(Mask(mask))
        }
    }

    /// Makes this the calling thread's mask.
    pub(crate) fn apply(&self) {
        // SAFETY: a valid sigset_t; the old mask is not needed.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Blocks SIGCHLD in the calling thread and returns a descriptor that reads readable
/// whenever one is pending (`signalfd`): a single-threaded server waits for its
/// children's ends in the same `poll` as for its requests. Read it with
/// [`drain_signals`].
pub(crate) fn child_signals() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t values are plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        match libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) {
            -1 => Err(io::Error::last_os_error()),
            fd => Ok(std::os::fd::OwnedFd::from_raw_fd(fd)),
        }
    }
}

/// Reads every pending signal from a [`child_signals`] descriptor, without blocking.
pub(crate) fn drain_signals(fd: std::os::fd::BorrowedFd<'_>) {
    let mut info = [0u8; 128 * 8];
    while let Ok(n) = rustix::io::read(fd, &mut info) {
        if n == 0 {
            break;
        }
    }
}

/// Unblocks every signal in the calling thread (a child forked from a server that
/// blocked SIGCHLD starts with the mask a fresh program has).
pub(crate) fn unblock_all() {
    // SAFETY: an empty sigset_t, initialised by sigemptyset.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}
