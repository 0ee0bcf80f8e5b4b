//! Starting a program without forking this one: `posix_spawn`, which glibc makes with
//! `clone(CLONE_VM | CLONE_VFORK)` and no fork handlers, so a threaded parent copies no
//! locks another thread held, and an `exec` that fails is reported here (the failed child
//! already reaped).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{OwnedFd, RawFd};

use rustix::fs::MemfdFlags;

/// Starts `path` with `argv` and this process's environment. The descriptors in `keep`
/// stay open in it, at the same numbers (close-on-exec cleared there only); every other
/// close-on-exec one closes as usual.
pub(crate) fn spawn(path: &CStr, argv: &[CString], keep: &[RawFd]) -> io::Result<libc::pid_t> {
    let mut actions = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
    // SAFETY: initialises the actions in place; destroyed below whatever happens.
    check(unsafe { libc::posix_spawn_file_actions_init(actions.as_mut_ptr()) })?;
    let spawned = (|| {
        for &fd in keep {
            // SAFETY: the actions were initialised above. dup2 of a descriptor onto itself
            // clears its close-on-exec flag in the child (glibc 2.29 and later).
            check(unsafe { libc::posix_spawn_file_actions_adddup2(actions.as_mut_ptr(), fd, fd) })?;
        }
        let mut args: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        args.push(std::ptr::null_mut());
        let mut pid: libc::pid_t = 0;
        // SAFETY: `path` and each argument are NUL-terminated strings, `args` ends with NULL
        // and `environ` is the process's own environment; all outlive the call.
        check(unsafe {
            libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                actions.as_ptr(),
                std::ptr::null(),
                args.as_ptr(),
                environ(),
            )
        })?;
        Ok(pid)
    })();
    // SAFETY: initialised above, destroyed once.
    unsafe { libc::posix_spawn_file_actions_destroy(actions.as_mut_ptr()) };
    spawned
}

fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn environ() -> *const *mut libc::c_char {
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    // SAFETY: libc's environment pointer, read once for the call.
    unsafe { environ }
}

/// A close-on-exec memfd holding `bytes`, for a child to read with [`read_file`].
pub(crate) fn file_with(bytes: &[u8]) -> io::Result<OwnedFd> {
    let file = rustix::fs::memfd_create("processing-payload", MemfdFlags::CLOEXEC)?;
    let mut at = 0;
    while at < bytes.len() {
        match rustix::io::pwrite(&file, &bytes[at..], at as u64) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(file)
}

/// The whole of a file made by [`file_with`].
pub(crate) fn read_file(file: &OwnedFd) -> io::Result<Vec<u8>> {
    let len = usize::try_from(rustix::fs::fstat(file)?.st_size)
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let mut bytes = vec![0; len];
    let mut at = 0;
    while at < len {
        match rustix::io::pread(file, &mut bytes[at..], at as u64) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => at += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(bytes)
}
