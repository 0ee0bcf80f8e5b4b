//! How a child process starts: Python's start methods.
//!
//! - **fork** (the default): the child is a copy of the parent, and runs its target at
//!   once. Fast, and every handle made before is the same object in the child, but in a
//!   program that runs other threads the child gets copies of locks they held, and POSIX
//!   allows it only async-signal-safe calls (`process` warns once when it sees threads).
//! - **spawn**: the parent starts the program afresh (`posix_spawn` of `/proc/self/exe`,
//!   no fork of the parent) with a marker its `main` hands to `pc_freeze_support`, which
//!   runs the child's target there and never returns. What the child needs crosses as a
//!   [`payload`]: the target as a module and offset (`sys::code`), its argument as
//!   bytes, and the handles the parent passed, with the descriptors behind them (the
//!   shared heap's memfd, sockets) kept open across `exec`.
//! - **forkserver**: a server, spawned once the same way, single-threaded, forks each
//!   child and runs the same payload in it ([`forkserver`]); a threaded parent never
//!   forks.
//!
//! [`child`] is the child's side of both: what `pc_freeze_support` recognises and runs.

pub(crate) mod child;
pub(crate) mod forkserver;
pub(crate) mod passing;
pub(crate) mod payload;
pub(crate) mod spawn;

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::sys::child::{Child, Watch};

/// How a child process starts (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMethod {
    Fork,
    Spawn,
    Forkserver,
}

impl StartMethod {
    const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];

    /// Python's name for it.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    /// The method Python calls `name`.
    pub fn parse(name: &str) -> Result<StartMethod> {
        StartMethod::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{name:?} is not a start method: \"fork\", \"spawn\" or \"forkserver\""
                ))
            })
    }
}

/// The process-wide default, as an index into [`StartMethod::ALL`].
static DEFAULT: AtomicU8 = AtomicU8::new(0);

/// Sets the default start method of this process (Python's `set_start_method`, which
/// may be called again here: each object takes the default when it starts).
pub fn set_default(method: StartMethod) {
    let index = StartMethod::ALL.iter().position(|m| *m == method);
    DEFAULT.store(index.unwrap_or(0) as u8, Relaxed);
}

/// The default start method of this process.
pub fn default_method() -> StartMethod {
    StartMethod::ALL[usize::from(DEFAULT.load(Relaxed)) % StartMethod::ALL.len()]
}

/// The program spawn and the forkserver start (`None`: this one, `/proc/self/exe`).
static EXECUTABLE: Mutex<Option<CString>> = Mutex::new(None);

/// Sets the program spawned children run (Python's `set_executable`): this same
/// program, by another path (where `/proc` is not mounted). `None`: `/proc/self/exe`.
pub fn set_executable(path: Option<CString>) {
    *EXECUTABLE.lock().unwrap_or_else(|p| p.into_inner()) = path;
}

/// The program spawned children run: `/proc/self/exe`, the very file this process runs
/// even if its path now names another build. Under valgrind that link names valgrind
/// itself, which refuses to run so: there, the program's path, which valgrind reports.
pub(crate) fn executable() -> CString {
    let chosen = EXECUTABLE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let this = c"/proc/self/exe";
    chosen.unwrap_or_else(|| match crate::sys::under_valgrind() {
        true => std::fs::read_link("/proc/self/exe")
            .ok()
            .and_then(|path| CString::new(path.into_os_string().into_encoded_bytes()).ok())
            .unwrap_or_else(|| this.into()),
        false => this.into(),
    })
}

/// Starts this program again (`posix_spawn`) as `role`, the marker `pc_freeze_support`
/// recognises, with the descriptors `keep` open in it (listed after the marker), watched
/// by `watch`; `what` names it in errors.
fn exec_self(
    role: &CStr,
    keep: &[RawFd],
    watch: Watch,
    what: &str,
) -> Result<(libc::pid_t, Child)> {
    let list: Vec<String> = keep.iter().map(i32::to_string).collect();
    let exe = executable();
    let argv = [
        exe.clone(),
        role.into(),
        CString::new(list.join(",")).expect("digits and commas"),
    ];
    let pid = crate::sys::spawn::spawn(&exe, &argv, keep).map_err(|e| {
        Error::os(
            &format!("posix_spawn of {what} {}", exe.to_string_lossy()),
            e,
        )
    })?;
    let child = watch
        .in_parent(pid)
        .map_err(|e| Error::os("pidfd_open", e))?;
    Ok((pid, child))
}
