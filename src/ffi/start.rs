//! Start methods (Python's `set_start_method`, `get_context`, `set_executable`,
//! `freeze_support`), processes that can start by `exec`, and the handles passed to them.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Arc;

use super::connection::pc_connection;
use super::handle::{self, Handle};
use super::process::{new_handle, pc_process, pc_target_fn};
use super::queue::pc_queue;
use super::sharedctypes::{pc_array, pc_value};
use super::status::pc_status;
use super::synchronize::{pc_barrier, pc_condition, pc_event, pc_lock, pc_semaphore};
use crate::error::{Error, Result};
use crate::process::{Argument, PassedHandle, Process};
use crate::start::passing::{Inbox, Outbox, Passable};
use crate::start::{self, StartMethod};

/// Sets how this process starts its children from now on (Python's
/// `set_start_method`): `"fork"` (the default), `"spawn"` or `"forkserver"`. Each
/// process handle takes the method when it starts, unless it has one of its own
/// (`pc_process_set_start_method`, Python's `get_context(method).Process`).
///
/// - **fork**: the child is a copy of this process. Fast, and every handle made before
///   works in the child. In a program that runs other threads, the child holds copies of
///   locks those threads held (in `malloc`, in stdio, in the program's own code): unsafe,
///   as POSIX allows only async-signal-safe calls after such a fork.
///   `pc_process_start` logs a warning once when it forks a process with several threads,
///   as Python 3.12 does.
/// - **spawn**: the program starts afresh (`posix_spawn` of `/proc/self/exe`, or the path
///   given to `pc_set_executable`), with a marker in its arguments; its `main` must call
///   `pc_freeze_support(argc, argv)` first, which runs the child's target there and never
///   returns. No fork of this process happens, so other threads do not matter.
/// - **forkserver**: a server process, spawned the same way when first needed and
///   single-threaded, forks each child. Faster than spawn once the server runs.
///
/// Under spawn and forkserver the target must be a function of the program or of a
/// shared library it loaded (it is found again by module and offset), its argument
/// crosses as bytes (`pc_process_new_spawnable`), and a child gets the handles passed to
/// it (`pc_process_pass_handle`), with the same values; the child's exit code and
/// everything else about the process handle work as under fork.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL or unknown `method`.
#[no_mangle]
pub extern "C" fn pc_set_start_method(method: *const c_char) -> pc_status {
    ffi_status!({
        start::set_default(StartMethod::parse(arg_str!(method))?);
        Ok(())
    })
}

/// The start method children get by default (`"fork"` until `pc_set_start_method`): a
/// static string.
#[no_mangle]
pub extern "C" fn pc_get_start_method() -> *const c_char {
    method_name(start::default_method()).as_ptr()
}

/// Sets the program that spawn and the forkserver start (Python's `set_executable`):
/// this same program by another path, for systems without `/proc`. NULL: back to
/// `/proc/self/exe`. The string is copied.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for an empty or non-UTF-8 `path`.
#[no_mangle]
pub extern "C" fn pc_set_executable(path: *const c_char) -> pc_status {
    ffi_status!({
        let path = handle::c_str_opt(path, "path")?;
        if path.is_some_and(str::is_empty) {
            return Err(Error::invalid_argument("path is empty"));
        }
        start::set_executable(path.map(|p| CString::new(p).expect("a C string has no NUL")));
        Ok(())
    })
}

/// Python's `freeze_support()`: call it first in `main`. In a process the spawn or
/// forkserver start method started, it runs what that process was started for (the
/// child's target, or the forkserver) and never returns; everywhere else it returns at
/// once. `argv` is `main`'s (NULL returns at once).
///
/// A spawned program whose `main` does not call it runs `main` again instead: its
/// child does not do its work, and exits as `main` does.
///
/// In a program started by `mpiexec -n N` (N >= 2) it also joins the MPI job (see
/// `PC_POOL_MPI`): rank 0 returns and runs the program; every other rank serves rank
/// 0's MPI pools from here and exits, never returning, when rank 0 exits (or dies).
/// Where the MPI back end is not available, each rank returns and runs `main`, after a
/// line on standard error saying why.
#[no_mangle]
pub extern "C" fn pc_freeze_support(argc: c_int, argv: *mut *mut c_char) {
    // The marker and its argument: the first three strings are all it reads.
    let args = handle::c_str_list(argv, usize::try_from(argc).unwrap_or(0).min(3));
    start::child::freeze_support(&args, receive);
    crate::pool::mpi::rank::freeze_support();
}

/// Creates a process object whose target can run in a child however it starts: it will
/// run `target` with a pointer to its own copy of the `len` bytes at `arg` (16-byte
/// aligned; copied now, so the caller's buffer may go at once). `target` must be a
/// function of the program or of a shared library it loaded. Otherwise as
/// `pc_process_new`.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL `target` or `out`, or a NULL
/// `arg` with a non-zero `len`.
#[no_mangle]
pub extern "C" fn pc_process_new_spawnable(
    target: pc_target_fn,
    arg: *const c_void,
    len: usize,
    out: *mut *mut pc_process,
) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let Some(target) = target else {
            return Err(Error::invalid_argument("target is NULL"));
        };
        let arg = arg_bytes!(arg, len).to_vec();
        out.write(new_handle(Process::new_function(
            target,
            Argument::Bytes(arg),
        ))?);
        Ok(())
    })
}

/// Sets how `p` starts (`"fork"`, `"spawn"`, `"forkserver"`: see `pc_set_start_method`),
/// overriding the default; NULL: the default when it starts. Before `pc_process_start`
/// only.
///
/// Returns `PC_OK`, `PC_ERR_INVALID_ARGUMENT` for a NULL or invalid `p` or an unknown
/// `method`, or `PC_ERR_WRONG_STATE` once started.
#[no_mangle]
pub extern "C" fn pc_process_set_start_method(
    p: *mut pc_process,
    method: *const c_char,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let method = handle::c_str_opt(method, "method")?;
        p.set_start_method(method.map(StartMethod::parse).transpose()?)
    })
}

/// The method `p` starts (or started) by: a static string.
/// NULL for a NULL or invalid `p` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_process_start_method(p: *const pc_process) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        let p = arg_handle!(p);
        Ok(method_name(p.start_method()).as_ptr())
    })
}

/// Passes `handle` (a lock, semaphore, condition, event, barrier, value, array, queue or
/// connection, made in this process's shared memory, not a manager's) to `p`'s child: a
/// child started by spawn or forkserver gets the same object under the same handle value,
/// so a handle stored in its argument bytes works there unchanged. (A forked child has
/// every handle anyway: passing one is harmless.) Call it before `pc_process_start`; the
/// handle must stay live until then. In the child the handle is its own, to free (or
/// not) as any other.
///
/// Returns `PC_OK`, `PC_ERR_INVALID_ARGUMENT` for a NULL or invalid `p` or a `handle`
/// that is NULL, freed or of another type, `PC_ERR_NOT_SUPPORTED` for a manager's
/// object, or `PC_ERR_WRONG_STATE` once `p` started.
#[no_mangle]
pub extern "C" fn pc_process_pass_handle(p: *mut pc_process, handle: *const c_void) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let kind = handle::kind_of(handle).ok_or_else(|| {
            Error::invalid_argument(match handle.is_null() {
                true => "handle is NULL",
                false => "handle is not a live handle",
            })
        })?;
        let passable = PASSABLE.iter().find(|k| k.kind == kind).ok_or_else(|| {
            Error::invalid_argument(
                "handle cannot be passed: only a lock, semaphore, condition, event, \
                 barrier, value, array, queue or connection can",
            )
        })?;
        let object = (passable.share)(handle)?;
        // What cannot cross (a manager's object, a closed connection) is refused now:
        // the holds this counts are let go with the scratch outbox.
        object.pass(&mut Outbox::default())?;
        p.pass(PassedHandle {
            value: handle.addr() as u64,
            kind,
            object,
        })
    })
}

fn method_name(method: StartMethod) -> &'static CStr {
    match method {
        StartMethod::Fork => c"fork",
        StartMethod::Spawn => c"spawn",
        StartMethod::Forkserver => c"forkserver",
    }
}

/// A kind of handle that can be passed: how to share its object, and how a child makes
/// it again under the same value.
struct PassableKind {
    kind: u32,
    share: fn(*const c_void) -> Result<Arc<dyn Passable>>,
    install: fn(u64, &mut Inbox<'_>) -> Result<()>,
}

const fn passable<H: Handle>() -> PassableKind
where
    H::Target: Passable,
{
    PassableKind {
        kind: H::KIND,
        share: |ptr| Ok(handle::borrow::<H>(ptr.cast(), "handle")?.share()),
        install: |value, inbox| handle::install_at::<H>(value, H::Target::receive(inbox)?),
    }
}

static PASSABLE: [PassableKind; 9] = [
    passable::<pc_lock>(),
    passable::<pc_semaphore>(),
    passable::<pc_condition>(),
    passable::<pc_event>(),
    passable::<pc_barrier>(),
    passable::<pc_value>(),
    passable::<pc_array>(),
    passable::<pc_queue>(),
    passable::<pc_connection>(),
];

/// In a child started by `exec`: makes a passed handle again.
fn receive(value: u64, kind: u32, inbox: &mut Inbox<'_>) -> Result<()> {
    let passable = PASSABLE
        .iter()
        .find(|k| k.kind == kind)
        .ok_or_else(|| inbox.reader.malformed(format!("handle kind {kind:#x}")))?;
    (passable.install)(value, inbox)
}
