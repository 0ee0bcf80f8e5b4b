//! The child's side of the spawn and forkserver start methods: what `pc_freeze_support`
//! recognises in `argv`, and the start of the child a payload describes.

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use super::passing::{take_fd, Inbox};
use super::payload::{Payload, NO_FD};
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, CFunction, Entry, Process};
use crate::sys::code;
use crate::sys::fork;
use crate::wire::Reader;

/// `argv[1]` of a spawned child; `argv[2]` lists its descriptors, the payload's first.
pub(crate) const SPAWNED: &CStr = c"--processing-spawn";

/// Makes a passed handle again under its value (the C boundary's part, which knows the
/// kinds of handles).
pub(crate) type Receive = fn(value: u64, kind: u32, inbox: &mut Inbox<'_>) -> Result<()>;

/// Python's `freeze_support()`: in a process started to be a child (or the forkserver),
/// becomes it and never returns; returns at once in any other.
pub(crate) fn freeze_support(args: &[&CStr], receive: Receive) {
    match args {
        [_, flag, list, ..] if *flag == SPAWNED => match adopt_fds(list) {
            Ok(mut fds) if !fds.is_empty() => {
                let file = fds.remove(0);
                run_from_file(file, fds, receive)
            }
            Ok(_) => fail("spawned child", &no_fds(list)),
            Err(err) => fail("spawned child", &err),
        },
        [_, flag, list, ..] if *flag == super::forkserver::SERVER => match adopt_fds(list) {
            Ok(fds) => {
                let mut fds = fds.into_iter();
                let Some(requests) = fds.next() else {
                    fail("forkserver", &no_fds(list))
                };
                // Its parent's watch, where the parent has no pidfds.
                if let Some(end) = fds.next() {
                    crate::sys::child::keep_watched_end(end);
                }
                super::forkserver::serve(requests, receive)
            }
            Err(err) => fail("forkserver", &err),
        },
        _ => {}
    }
}

/// Reads the payload in `file` (closed), then [`run`]s it with `fds`.
pub(crate) fn run_from_file(file: OwnedFd, fds: Vec<OwnedFd>, receive: Receive) -> ! {
    let payload = crate::sys::spawn::read_file(&file)
        .map_err(|e| Error::os("reading the start payload", e))
        .and_then(|bytes| Payload::decode(&bytes));
    drop(file);
    match payload {
        Ok(payload) => run(payload, fds, receive),
        Err(err) => fail("child", &err),
    }
}

fn no_fds(list: &CStr) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("no descriptors in {}", list.to_string_lossy()),
    )
}

/// The descriptors a comma-separated list names, this process's own from here on (and
/// close-on-exec again).
fn adopt_fds(list: &CStr) -> Result<Vec<OwnedFd>> {
    let text = list.to_str().map_err(|_| no_fds(list))?;
    text.split(',')
        .map(|n| {
            let fd: i32 = n.parse().map_err(|_| no_fds(list))?;
            crate::sys::io::set_cloexec(fd)
                .map_err(|e| Error::os(&format!("descriptor {fd}"), e))?;
            // SAFETY: the parent kept this descriptor open for this process alone, and
            // nothing here owns it yet.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

/// Reports why this process cannot become the child it was started as, and leaves.
fn fail(what: &str, err: &Error) -> ! {
    let message = format!("libprocessing: {what}: {err}\n");
    let _ = crate::sys::io::write_stderr(message.as_bytes());
    fork::exit_now(1)
}

/// Becomes the child `payload` describes, runs its target and leaves with its exit code.
pub(crate) fn run(payload: Payload, fds: Vec<OwnedFd>, receive: Receive) -> ! {
    let name = payload.name.clone();
    let (process, entry) = match become_child(payload, &fds, receive) {
        Ok(started) => started,
        Err(err) => {
            crate::lifecycle::at_child_exit();
            fail(&name, &err)
        }
    };
    log::info!("child process calling self.run()");
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &entry {
        Some((entry, context)) => {
            entry(&mut Inbox::new(Reader::new(context, "start context"), &fds))
        }
        None => process.run(),
    }))
    .unwrap_or_else(|_| {
        log::error!("the target of {name} panicked");
        1
    });
    drop(fds);
    crate::lifecycle::at_child_exit();
    log::info!("process exiting with exitcode {code}");
    fork::exit_now(code)
}

/// A library entry and the context it receives.
type Started = (Arc<Process>, Option<(Entry, Vec<u8>)>);

/// Joins the parent's heap, takes the child's identity and makes its handles again.
fn become_child(payload: Payload, fds: &[OwnedFd], receive: Receive) -> Result<Started> {
    if payload.heap != NO_FD {
        crate::heap::join(take_fd(fds, payload.heap)?)?;
    }
    if payload.watch != NO_FD {
        crate::sys::child::keep_watched_end(take_fd(fds, payload.watch)?);
    }
    let target = match &payload.target {
        None => None,
        Some(code) => Some(code::resolve(code).map_err(|e| Error::os("finding the target", e))?),
    };
    let (function, entry) = match (target, payload.entry) {
        (None, _) => (None, None),
        // SAFETY: the parent located an `Entry` of this same library at this module and
        // offset (`code::locate`), and `resolve` checked it lies in code.
        (Some(at), true) => (
            None,
            Some(unsafe { std::mem::transmute::<usize, Entry>(at) }),
        ),
        // SAFETY: as above, a `CFunction` of this same program.
        (Some(at), false) => (
            Some(unsafe { std::mem::transmute::<usize, CFunction>(at) }),
            None,
        ),
    };
    let process = Process::spawned(
        &payload.name,
        payload.identity,
        payload.authkey,
        payload.daemon,
        function.map(|f| (f, payload.arg)),
    )?;
    let check = match payload.creator_start {
        0 => process::ParentCheck::OsParent,
        start => process::ParentCheck::StartTime(start),
    };
    process::set_parent(payload.creator_name, payload.creator, check);
    if let Some((level, format)) = &payload.logging {
        crate::logging::enable(*level, None, Some(format))?;
    }
    if payload.daemon && !fork::set_parent_death_signal(libc::SIGKILL, payload.parent) {
        return Err(Error::wrong_state("the parent of a daemonic child ended"));
    }
    let mut inbox = Inbox::new(Reader::new(&payload.handles, "passed handles"), fds);
    for _ in 0..inbox.u64()? {
        let value = inbox.u64()?;
        let kind = inbox.u64()? as u32;
        receive(value, kind, &mut inbox)?;
    }
    inbox.reader.finish()?;
    Ok((process, entry.map(|entry| (entry, payload.context))))
}
