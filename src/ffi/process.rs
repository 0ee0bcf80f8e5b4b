//! `Process` and the process-level functions: `pc_process_*`, `pc_dummy_process_new`,
//! `pc_current_process`, `pc_active_children`, `pc_cpu_count`.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::handle;
use super::status::pc_status;
use crate::error::{Error, Result};
use crate::process::{self, Process};

/// A process object (Python's `Process`): a child that runs a target function; or a
/// dummy process (Python's `multiprocessing.dummy.Process`), a thread of this process
/// that runs it. Created by `pc_process_new` or `pc_dummy_process_new`, released by
/// `pc_process_free`. Only the process that created it may start, join, terminate or kill
/// it (`PC_ERR_WRONG_STATE` elsewhere).
pub struct pc_process {
    _private: [u8; 0],
}

impl_handle!(pc_process => Process, b"proc");

/// What a child runs: it gets the `arg` given to `pc_process_new`, and its return value is
/// the child's exit code (the OS keeps 0–255).
pub type pc_target_fn = Option<extern "C" fn(arg: *mut c_void) -> c_int>;

/// A new handle for a process just made, recorded in it (see `HandleCell`).
pub(crate) fn new_handle(process: Arc<Process>) -> Result<*mut pc_process> {
    let p = handle::into_raw::<pc_process>(Arc::clone(&process))?;
    process.handle().set(p);
    Ok(p)
}

/// Creates a process object that will run `target(arg)` in a child (Python's
/// `Process(target=…)`). Not started yet: see `pc_process_start`.
///
/// The name is `Process-N` (`Process-N:M` when created in a child), the daemon flag and
/// the authkey are the current process's. A NULL `target` makes a process that runs
/// nothing and exits with 0. `arg` is passed as is; the library never touches it, so it
/// means something only in a forked child: under the spawn and forkserver start methods a
/// non-NULL `arg` makes `pc_process_start` fail (`PC_ERR_NOT_SUPPORTED`); pass bytes with
/// `pc_process_new_spawnable` instead.
/// On success `*out` is a new handle, owned by the caller: release it with `pc_process_free`.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` when `out` is NULL.
#[no_mangle]
pub extern "C" fn pc_process_new(
    target: pc_target_fn,
    arg: *mut c_void,
    out: *mut *mut pc_process,
) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let process = match target {
            Some(f) => Process::new_function(f, process::Argument::Pointer(arg)),
            None => Process::new(None),
        };
        out.write(new_handle(process)?);
        Ok(())
    })
}

/// Creates a dummy process (Python's `multiprocessing.dummy.Process`): a process object
/// whose `pc_process_start` runs `target(arg)` on a new thread of this process instead
/// of forking. Not started yet. No fork ever happens for it.
///
/// It is a `pc_process` like any other: `pc_process_join` (with a timeout) waits for the
/// thread, `pc_process_is_alive` says whether it runs, `pc_process_exitcode` is the
/// target's return value (the whole `int`), `pc_process_pid` this process's pid, and
/// `pc_process_sentinel` an eventfd readable once the target returned (for `pc_wait`).
/// On the thread, `pc_current_process` is this dummy process, and `pc_active_children`
/// lists it while it runs. The name is `Dummy-N`; the daemon flag (settable before start)
/// and the authkey are the current process's. At a normal exit, dummy processes that are
/// not daemonic are joined first (as Python joins its threads); daemonic ones are not.
/// A thread cannot be stopped from outside: `pc_process_terminate` and `pc_process_kill`
/// are `PC_ERR_NOT_SUPPORTED`. It shares this process's memory: a target that crashes
/// or calls `exit` ends the whole program. The thread gets the signal mask of the thread
/// that starts it, and the stack size `pthread_create` gives by default. A NULL `target`
/// makes a process that runs nothing and ends with 0; `arg` is passed as is. On success
/// `*out` is a new handle, owned by the caller: release it with `pc_process_free` (the
/// thread goes on running).
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` when `out` is NULL.
#[no_mangle]
pub extern "C" fn pc_dummy_process_new(
    target: pc_target_fn,
    arg: *mut c_void,
    out: *mut *mut pc_process,
) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let arg = handle::UserData::new(arg);
        let target = target.map(|f| -> process::Target { Box::new(move || f(arg.get())) });
        out.write(new_handle(Process::new_thread(target))?);
        Ok(())
    })
}

/// Sets the name (Python's `name`/`setName`), any time. The string is copied. A name
/// returned earlier by `pc_process_name` becomes invalid.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL or non-UTF-8 `name`.
#[no_mangle]
pub extern "C" fn pc_process_set_name(p: *mut pc_process, name: *const c_char) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.set_name(arg_str!(name))
    })
}

/// The name: `Process-N` by default, `MainProcess` for the main program. Owned by the
/// process object: valid until `pc_process_set_name` or `pc_process_free`.
/// NULL for a NULL or invalid `p` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_process_name(p: *const pc_process) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        let p = arg_handle!(p);
        Ok(p.name())
    })
}

/// Sets the daemon flag (Python's `daemon`/`setDaemon`), before `pc_process_start` only.
/// A daemonic child is terminated when its parent exits normally and killed (SIGKILL)
/// when its parent dies any other way; it may not start children of its own. The kernel
/// sends that SIGKILL when the *thread* that started the child ends, so start daemonic
/// children from a thread that lives as long as they should. A daemonic dummy process is
/// not joined at exit (its thread ends with the program).
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` after start or on the current process.
#[no_mangle]
pub extern "C" fn pc_process_set_daemon(p: *mut pc_process, daemon: bool) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.set_daemon(daemon)
    })
}

/// The daemon flag; false for a NULL or invalid `p` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_process_daemon(p: *const pc_process) -> bool {
    ffi_value!(false, {
        let p = arg_handle!(p);
        Ok(p.daemon())
    })
}

/// Starts the child (Python's `start()`): forks; the child runs the target, flushes C
/// stdio and `_exit`s with the target's return value (the parent's `atexit` handlers do
/// not run in it). C stdio is flushed before the fork, so nothing is printed twice.
/// Only the process that created `p` may start it, once.
///
/// Reaping: an ended child is reaped by `pc_process_join`, `_is_alive` and `_exitcode` on
/// its handle, and by every `pc_process_new`, `_start` and `pc_active_children` (as in
/// Python); once its handle is freed, or while several children run, a library thread
/// reaps each one as soon as it ends. So a child whose handle you keep is a zombie at most
/// until the next of those calls, and a freed one not at all.
///
/// A dummy process (`pc_dummy_process_new`) is started on a new thread instead, without a
/// fork, also in a daemonic process.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` when started before, when called from another
/// process than the creator, on the current process, or (but for a dummy process) from a
/// daemonic process; `PC_ERR_OS` when fork, pidfd_open or the thread failed;
/// `PC_ERR_CLOSED` after `pc_process_close`.
#[no_mangle]
pub extern "C" fn pc_process_start(p: *mut pc_process) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.start()
    })
}

/// Runs the target in the calling process, as Python's `run()`, and stores its return
/// value in `*ret` (`ret` may be NULL). A process without target returns 0.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_process_run(p: *mut pc_process, ret: *mut c_int) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let code = p.run();
        if let Some(ret) = handle::out_opt(ret) {
            ret.write(code);
        }
        Ok(())
    })
}

/// Waits until the child ends (Python's `join(timeout)`). `timeout` in seconds: negative
/// (`PC_FOREVER`) waits without limit, 0 only checks. May be called again after it ended.
///
/// Returns `PC_OK` once the child ended; `PC_ERR_TIMEOUT` when it still runs at the
/// deadline; `PC_ERR_INTERRUPTED` after `pc_interrupt()`; `PC_ERR_WRONG_STATE` before
/// start, on the current process or from another process than the creator;
/// `PC_ERR_CLOSED` after `pc_process_close`.
#[no_mangle]
pub extern "C" fn pc_process_join(p: *mut pc_process, timeout: f64) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.join(arg_timeout!(timeout))
    })
}

/// Whether the child is running now (reaping it if it ended): false before start and after
/// it ended, true for the current process. False for a NULL or invalid `p`, when asked
/// from another process than the creator, and after `pc_process_close` (which
/// `pc_last_error()` then says).
#[no_mangle]
pub extern "C" fn pc_process_is_alive(p: *mut pc_process) -> bool {
    ffi_value!(false, {
        let p = arg_handle!(p);
        p.check_open()?;
        Ok(p.is_alive())
    })
}

/// The child's pid, 0 before start; the OS pid for the current process. 0 for a NULL or
/// invalid `p`, and after `pc_process_close` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_process_pid(p: *const pc_process) -> c_int {
    ffi_value!(0, {
        let p = arg_handle!(p);
        p.check_open()?;
        Ok(p.pid())
    })
}

/// The exit code, once the child ended: the target's return value as the OS keeps it
/// (0–255), or `-N` when signal N killed it (-9 after `pc_process_kill`, -15 after
/// `pc_process_terminate`). `*out` is written on success only.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` before start, while running, on the current
/// process or from another process than the creator; `PC_ERR_CLOSED` after
/// `pc_process_close`.
#[no_mangle]
pub extern "C" fn pc_process_exitcode(p: *const pc_process, out: *mut c_int) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let out = arg_out!(out);
        out.write(p.exitcode()?);
        Ok(())
    })
}

/// Sends SIGTERM to the child (Python's `terminate()`). Exit handlers do not run in it;
/// its own children are not terminated. A child that already ended is not an error.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` before start, on the current process or from
/// another process than the creator; `PC_ERR_OS` if the signal could not be sent;
/// `PC_ERR_NOT_SUPPORTED` for a dummy process, always (a thread cannot be stopped from
/// outside); `PC_ERR_CLOSED` after `pc_process_close`.
#[no_mangle]
pub extern "C" fn pc_process_terminate(p: *mut pc_process) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.terminate()
    })
}

/// Sends SIGKILL to the child (Python 3's `kill()`). Same rules and statuses as
/// `pc_process_terminate`.
#[no_mangle]
pub extern "C" fn pc_process_kill(p: *mut pc_process) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.kill()
    })
}

/// A file descriptor that becomes readable when the child ends (its pidfd; a dummy
/// process's eventfd, once its target returned), for `poll`, `select` or `pc_wait`. Owned
/// by the process object: do not close it; valid until `pc_process_close` or
/// `pc_process_free`. -1 before start, for the current process, for a NULL or invalid `p`,
/// and after `pc_process_close` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_process_sentinel(p: *const pc_process) -> c_int {
    ffi_value!(-1, {
        let p = arg_handle!(p);
        p.check_open()?;
        Ok(p.sentinel())
    })
}

/// Releases what the process object holds of its child (Python 3.7's `close()`): the
/// sentinel (the pidfd, or the socket or eventfd standing in for it) is closed (a dummy
/// process's eventfd once its thread, which ends right after its target, let go of it
/// too) and the child leaves `pc_active_children`. The name, daemon flag and authkey stay readable.
/// Afterwards `pc_process_start`, `_join`, `_exitcode`, `_terminate` and `_kill` return
/// `PC_ERR_CLOSED`, and `_is_alive`, `_pid` and `_sentinel` their fallbacks (false, 0,
/// -1), each with a `pc_last_error()` naming the closed process; `pc_process_free` still
/// releases the handle. Closing again, or before start, is fine.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` while the child runs (join or terminate it first,
/// as Python's `ValueError`), while another thread joins it, on the current process, and
/// from another process than the creator.
#[no_mangle]
pub extern "C" fn pc_process_close(p: *mut pc_process) -> pc_status {
    ffi_status!({ arg_handle!(p).close() })
}

/// The authentication key (Python's `authkey`): 32 random bytes in the main process,
/// inherited from the creator otherwise. `*key` points into the process object and stays
/// valid until `pc_process_set_authkey` or `pc_process_free`; both outputs are written on
/// success only.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_process_authkey(
    p: *const pc_process,
    key: *mut *const u8,
    len: *mut usize,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let key = arg_out!(key);
        let len = arg_out!(len);
        let (data, size) = p.authkey_raw();
        key.write(data);
        len.write(size);
        Ok(())
    })
}

/// Sets the authentication key: `len` bytes at `key` are copied (`(NULL, 0)` sets an empty
/// key). A child started afterwards inherits it.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL `key` with a non-zero `len`.
#[no_mangle]
pub extern "C" fn pc_process_set_authkey(
    p: *mut pc_process,
    key: *const c_void,
    len: usize,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        p.set_authkey(arg_bytes!(key, len));
        Ok(())
    })
}

/// Releases the handle. A running child keeps running, and a library thread reaps it as
/// soon as it ends; its sentinel is closed once both happened. NULL is a no-op; the
/// current process (from `pc_current_process`) and a handle `pc_active_children` lent are
/// not freed. Never blocks.
#[no_mangle]
pub extern "C" fn pc_process_free(p: *mut pc_process) {
    ffi_value!((), {
        if p.is_null() {
            return Ok(());
        }
        if process::current().handle().is(p) || process::current_arc().handle().is(p) {
            return Err(Error::invalid_argument(
                "p is the current process, which is not freed",
            ));
        }
        // Kept past the release, which may drop the handle's reference.
        let process = arg_handle!(p).share();
        handle::release(p, "p")?;
        // Not listed by pc_active_children from here on.
        process.handle().forget();
        process.abandon()
    })
}

/// The object of the running process (Python's `current_process()`): "MainProcess" in the
/// program, the started process's object in a child (the same handle its parent's
/// `pc_process_new` made, inherited). Lent, and the same each time: valid for the life of
/// the process; do not free it. On a dummy process's thread, that dummy process (the
/// creator's handle, or, once the creator freed it, one lent until the object goes).
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_current_process(out: *mut *const pc_process) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let current = process::current_arc();
        out.write(current.handle().get_or_lend_anew::<pc_process>(&current)?);
        Ok(())
    })
}

/// The process that started this one (Python 3.8's `parent_process()`): in a child
/// started by `pc_process_start` (forked, spawned or through the forkserver), an object
/// for its parent; `*out` is NULL in the main program, which has none (Python's `None`).
/// Lent, and the same each time: valid for the life of the process; do not free it. On a
/// dummy process's thread it is that of the process the thread runs in (a thread has no
/// parent process of its own), so NULL in the main program.
///
/// Its `pc_process_name` is the parent's name when it started this child, its
/// `pc_process_pid` the parent's pid. `pc_process_is_alive` says whether the parent still
/// runs, and `pc_process_join(parent, timeout)` waits until it ends (both through a pidfd
/// of the parent, opened on first use; where pidfds do not exist, by checking that the
/// parent is still this process's OS parent, or for a child of the forkserver that its
/// pid still has its start time; a join then checks every 10 ms).
/// `pc_process_sentinel` is that pidfd (-1 where there is none), readable once the parent
/// ended. What only a parent does to its child (start, exit code, terminate, kill,
/// close) is `PC_ERR_WRONG_STATE`.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_parent_process(out: *mut *const pc_process) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let parent = match process::parent() {
            None => std::ptr::null(),
            Some(parent) => parent.handle().get_or_lend_anew::<pc_process>(&parent)?,
        };
        out.write(parent);
        Ok(())
    })
}

/// The live children of the current process (Python's `active_children()`), reaping those
/// that ended, and its dummy processes that run (`pc_dummy_process_new`, pool threads). `*count` is the number of live children; the first `cap` of them are written
/// to `out` (which may be NULL when `cap` is 0). Each is the caller's own `pc_process`
/// handle of that child (children whose handle was freed are not listed), or, for a child
/// the library started (a manager's server), a handle it lends: the same each time, valid
/// until the library lets go of that child (after it ended), and not to be freed.
///
/// Returns `PC_OK`, or `PC_ERR_INVALID_ARGUMENT` for a NULL `out` with a non-zero `cap`.
#[no_mangle]
pub extern "C" fn pc_active_children(
    out: *mut *mut pc_process,
    cap: usize,
    count: *mut usize,
) -> pc_status {
    ffi_status!({
        let count = arg_out!(count);
        let out = handle::out_array(out, cap, "out")?;
        let mut live = Vec::new();
        for child in process::active_children() {
            live.extend(child.handle().get_or_lend::<pc_process>(&child)?);
        }
        for (slot, &p) in out.iter_mut().zip(&live) {
            slot.write(p);
        }
        count.write(live.len());
        Ok(())
    })
}

/// The number of CPUs online (Python's `cpu_count()`); at least 1.
#[no_mangle]
pub extern "C" fn pc_cpu_count() -> c_int {
    process::cpu_count()
}
