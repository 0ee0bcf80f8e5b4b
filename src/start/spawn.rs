//! The parent's side of the spawn start method: the program started afresh, with the
//! payload in a memfd and the descriptors it names kept open across `exec`.

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
    super::exec_self(SPAWNED, &keep, watch, "the child")
}
