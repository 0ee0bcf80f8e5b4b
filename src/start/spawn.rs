//! The parent's side of the spawn start method: the program started afresh, with the
//! payload in a memfd and the descriptors it names kept open across `exec`.

use std::ffi::CString;
use std::os::fd::AsRawFd;

use super::child::SPAWNED;
use super::passing::Outbox;
use super::payload::Payload;
use crate::error::{Error, Result};
use crate::sys::child::{Child, Watch};

/// Starts the program as the child `payload` describes: its pid and how it is watched.
/// The `outbox`'s descriptors must stay open until this returns.
pub(crate) fn spawn(mut payload: Payload, outbox: &mut Outbox) -> Result<(libc::pid_t, Child)> {
    let watch = Watch::prepare().map_err(|e| Error::os("socketpair", e))?;
    if let Some(end) = watch.child_end() {
        payload.watch = outbox.fd_index(end);
    }
    let file = crate::sys::spawn::file_with(&payload.encode())
        .map_err(|e| Error::os("memfd_create for the spawn payload", e))?;
    let mut keep = vec![file.as_raw_fd()];
    keep.extend_from_slice(outbox.fds());
    let fds: Vec<String> = keep.iter().map(i32::to_string).collect();
    let exe = super::executable();
    let argv = [
        exe.clone(),
        SPAWNED.into(),
        CString::new(fds.join(",")).expect("digits and commas"),
    ];
    let pid = crate::sys::spawn::spawn(&exe, &argv, &keep)
        .map_err(|e| Error::os(&format!("posix_spawn of {}", exe.to_string_lossy()), e))?;
    match watch.in_parent(pid) {
        Ok(child) => Ok((pid, child)),
        Err(err) => {
            crate::sys::child::kill_and_reap(pid);
            Err(Error::os("pidfd_open", err))
        }
    }
}
