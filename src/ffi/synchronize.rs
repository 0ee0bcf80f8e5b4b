//! Synchronization primitives: `pc_lock_*` (Lock and RLock), `pc_semaphore_*`,
//! `pc_condition_*`, `pc_event_*` and `pc_barrier_*`. Their threads and fork rules are on
//! the handle types, so that they reach the header.

use std::ffi::{c_int, c_uint, c_void};
use std::time::Duration;

use super::handle;
use super::status::pc_status;
use crate::error::{Error, ErrorKind, Result};
use crate::synchronize::{Acquired, Barrier, BarrierAction, Condition, Event, Lock, Semaphore};

/// A `Lock` or an `RLock` (Python's `Lock()`/`RLock()`), shared between processes.
///
/// It lives in shared memory: a handle made before `pc_process_start` names the same lock
/// in the child. Any thread may use it. A manager's lock (`pc_manager_lock`) is used
/// through the same handle and functions, each call a request to the manager.
pub struct pc_lock {
    _private: [u8; 0],
}
impl_handle!(pc_lock => Lock, b"lock");

/// A `Semaphore` or a `BoundedSemaphore`, shared between processes.
///
/// It lives in shared memory: a handle made before `pc_process_start` names the same
/// semaphore in the child. Any thread may use it. A manager's semaphore
/// (`pc_manager_semaphore`) is used through the same handle and functions, each call a
/// request to the manager.
pub struct pc_semaphore {
    _private: [u8; 0],
}
impl_handle!(pc_semaphore => Semaphore, b"sema");

/// A `Condition` on a Lock or RLock, shared between processes.
///
/// It lives in shared memory: a handle made before `pc_process_start` names the same
/// condition in the child. Any thread may use it. A manager's condition
/// (`pc_manager_condition`) is used through the same handle and functions, each call a
/// request to the manager.
pub struct pc_condition {
    _private: [u8; 0],
}
impl_handle!(pc_condition => Condition, b"cond");

/// An `Event`, shared between processes.
///
/// It lives in shared memory: a handle made before `pc_process_start` names the same event
/// in the child. Any thread may use it. A manager's event (`pc_manager_event`) is used
/// through the same handle and functions, each call a request to the manager.
pub struct pc_event {
    _private: [u8; 0],
}
impl_handle!(pc_event => Event, b"evnt");

/// A `Barrier` (Python 3), shared between processes.
///
/// It lives in shared memory: a handle made before `pc_process_start` names the same
/// barrier in the child. Any thread may use it. A manager's barrier (`pc_manager_barrier`)
/// is used through the same handle and functions, each call a request to the manager.
pub struct pc_barrier {
    _private: [u8; 0],
}
impl_handle!(pc_barrier => Barrier, b"barr");

/// The most waiters a condition holds at once; one more wait is `PC_ERR_TOO_LARGE`.
pub const PC_CONDITION_MAX_WAITERS: usize = 255;

/// The most parties a barrier has (all but one wait on its condition).
pub const PC_BARRIER_MAX_PARTIES: usize = 256;

/// The largest value of a semaphore (POSIX's `SEM_VALUE_MAX`).
pub const PC_SEMAPHORE_MAX_VALUE: u32 = 2147483647;

/// A predicate for `pc_condition_wait_for`: called with its `ctx`, under the lock.
pub type pc_predicate_fn = Option<extern "C" fn(ctx: *mut c_void) -> bool>;

/// A barrier's action (Python's `Barrier(action=…)`): called with its `ctx` by the last
/// waiter of each round, before the others are released; a non-zero return breaks the
/// barrier.
pub type pc_barrier_action_fn = Option<extern "C" fn(ctx: *mut c_void) -> c_int>;

/// `Acquired::OwnerDied` is the C API's `PC_ERR_OWNER_DEAD`: acquired, with a warning.
fn acquired(result: Result<Acquired>) -> Result<()> {
    match result? {
        Acquired::Clean => Ok(()),
        Acquired::OwnerDied(pid) => Err(Error::new(
            ErrorKind::OwnerDead,
            format!("acquired, but its previous holder (pid {pid}) died holding it"),
        )),
    }
}

/// Creates a `Lock` (Python's `Lock()`): not recursive, and any process or thread may
/// release it while it is held. On success `*out` is a new handle owned by the caller
/// (release it with `pc_lock_free`).
///
/// Returns `PC_OK`; `PC_ERR_OS` or `PC_ERR_NO_MEMORY` if shared memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_lock_new(out: *mut *mut pc_lock) -> pc_status {
    ffi_new!(out, Lock::new())
}

/// Creates an `RLock` (Python's `RLock()`): the thread that holds it may acquire it again,
/// and must release it as many times; only that thread may release it. Same ownership and
/// statuses as `pc_lock_new`.
#[no_mangle]
pub extern "C" fn pc_rlock_new(out: *mut *mut pc_lock) -> pc_status {
    ffi_new!(out, Lock::new_recursive())
}

/// Acquires the lock, waiting at most `timeout` seconds (negative: without limit; 0: try
/// once). If the holder died holding it (killed, crashed, or exited), the lock is taken
/// over within about 100 ms and `PC_ERR_OWNER_DEAD` says so: the caller then holds it
/// (an RLock with depth 1) and data it guards may be half-updated.
///
/// A managed lock is acquired through its manager, which does not report a dead holder
/// (no `PC_ERR_OWNER_DEAD`).
///
/// Returns `PC_OK` or `PC_ERR_OWNER_DEAD` (held in both cases); `PC_ERR_TIMEOUT`;
/// `PC_ERR_INTERRUPTED` after `pc_interrupt()`; a managed lock also `PC_ERR_EOF` when its
/// manager is gone, `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_lock_acquire(l: *mut pc_lock, timeout: f64) -> pc_status {
    ffi_status!({
        let l = arg_handle!(l);
        acquired(l.acquire(arg_timeout!(timeout)))
    })
}

/// Releases the lock. A Lock may be released by anyone while it is held; an RLock by its
/// holding thread, once per acquire.
///
/// Returns `PC_OK`; `PC_ERR_NOT_OWNER` for a Lock that is not held or an RLock this thread
/// does not hold; a managed lock also `PC_ERR_EOF` when its manager is gone,
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_lock_release(l: *mut pc_lock) -> pc_status {
    ffi_status!({ arg_handle!(l).release() })
}

/// Releases the caller's handle, which is refused from here on: the lock itself lives on
/// for what still holds it (a condition, a value or an array made with it, other
/// processes), reached through their own handles. NULL is a no-op. Never blocks.
#[no_mangle]
pub extern "C" fn pc_lock_free(l: *mut pc_lock) {
    ffi_free!(l)
}

/// Creates a `Semaphore` with counter `value` (at most `PC_SEMAPHORE_MAX_VALUE`). `*out` is
/// a new handle owned by the caller (`pc_semaphore_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a too large `value`;
/// `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_semaphore_new(value: c_uint, out: *mut *mut pc_semaphore) -> pc_status {
    ffi_new!(out, Semaphore::new(value))
}

/// Creates a `BoundedSemaphore`: like `pc_semaphore_new`, but releasing it above `value`
/// fails with `PC_ERR_VALUE`.
#[no_mangle]
pub extern "C" fn pc_bounded_semaphore_new(
    value: c_uint,
    out: *mut *mut pc_semaphore,
) -> pc_status {
    ffi_new!(out, Semaphore::new_bounded(value))
}

/// Decrements the counter, waiting at most `timeout` seconds while it is 0 (negative:
/// without limit; 0: try once). Semaphores have no owner: a process that dies after
/// acquiring does not give its unit back.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after `pc_interrupt()`; a
/// managed semaphore also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for
/// another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_semaphore_acquire(s: *mut pc_semaphore, timeout: f64) -> pc_status {
    ffi_status!({
        let s = arg_handle!(s);
        s.acquire(arg_timeout!(timeout))
    })
}

/// Increments the counter and wakes one waiter; never blocks.
///
/// Returns `PC_OK`; `PC_ERR_VALUE` when a BoundedSemaphore would go above its initial value
/// (or any semaphore above `PC_SEMAPHORE_MAX_VALUE`), nothing changed; a managed semaphore
/// also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for another failure the
/// manager reported.
#[no_mangle]
pub extern "C" fn pc_semaphore_release(s: *mut pc_semaphore) -> pc_status {
    ffi_status!({ arg_handle!(s).release() })
}

/// Stores the counter's current value in `*out` (it may change at once).
///
/// Returns `PC_OK`; `PC_ERR_NOT_SUPPORTED` for a managed semaphore (Python's proxy has no
/// value either).
#[no_mangle]
pub extern "C" fn pc_semaphore_value(s: *mut pc_semaphore, out: *mut i32) -> pc_status {
    ffi_status!({
        let s = arg_handle!(s);
        arg_out!(out).write(s.value()? as i32);
        Ok(())
    })
}

/// Releases the caller's handle. NULL is a no-op. Never blocks.
#[no_mangle]
pub extern "C" fn pc_semaphore_free(s: *mut pc_semaphore) {
    ffi_free!(s)
}

/// Creates a `Condition` on `lock` (a Lock or RLock handle, which the condition keeps
/// alive), or on a new RLock of its own when `lock` is NULL. At most
/// `PC_CONDITION_MAX_WAITERS` waiters at once.
/// `*out` is a new handle owned by the caller (`pc_condition_free`).
///
/// `lock` must be local: a manager's lock is `PC_ERR_NOT_SUPPORTED` (make the condition in
/// the manager instead, `pc_manager_condition`, which brings its own lock).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for an invalid `lock`; `PC_ERR_NOT_SUPPORTED`
/// for a managed `lock`; `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory could not be
/// mapped.
#[no_mangle]
pub extern "C" fn pc_condition_new(lock: *mut pc_lock, out: *mut *mut pc_condition) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let lock = if lock.is_null() {
            None
        } else {
            Some(arg_handle!(lock).share())
        };
        out.write(handle::into_raw(Condition::new(lock)?)?);
        Ok(())
    })
}

/// Acquires the condition's lock: as `pc_lock_acquire`, with the same statuses.
#[no_mangle]
pub extern "C" fn pc_condition_acquire(c: *mut pc_condition, timeout: f64) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        acquired(c.acquire(arg_timeout!(timeout)))
    })
}

/// Releases the condition's lock: as `pc_lock_release`, with the same statuses.
#[no_mangle]
pub extern "C" fn pc_condition_release(c: *mut pc_condition) -> pc_status {
    ffi_status!({ arg_handle!(c).release() })
}

/// Waits to be notified (Python's `wait`): releases the lock (every level of an RLock),
/// sleeps until `pc_condition_notify` picks this waiter or `timeout` seconds pass
/// (negative: without limit), then takes the lock again — in every case, interrupted or
/// timed out too.
///
/// A managed condition waits in its manager (which releases and retakes its lock).
///
/// Returns `PC_OK` when notified; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after
/// `pc_interrupt()`; `PC_ERR_OWNER_DEAD` when re-taking the lock from a dead holder
/// (notified, lock held); `PC_ERR_NOT_OWNER` when the caller does not hold the lock;
/// `PC_ERR_TOO_LARGE` when `PC_CONDITION_MAX_WAITERS` already wait; a managed condition
/// also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for another failure the
/// manager reported.
#[no_mangle]
pub extern "C" fn pc_condition_wait(c: *mut pc_condition, timeout: f64) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        acquired(c.wait(arg_timeout!(timeout)))
    })
}

/// Waits until `pred(ctx)` is true (Python's `wait_for`): calls it first, then after each
/// wake-up, always with the lock held, for at most `timeout` seconds in all. On a managed
/// condition `pred` runs in this process, between waits in the manager, as Python's proxy
/// runs it.
///
/// Returns `PC_OK` once `pred` returned true; `PC_ERR_TIMEOUT` if it is still false at
/// the deadline; otherwise the statuses of `pc_condition_wait`, and
/// `PC_ERR_INVALID_ARGUMENT` for a NULL `pred`.
#[no_mangle]
pub extern "C" fn pc_condition_wait_for(
    c: *mut pc_condition,
    pred: pc_predicate_fn,
    ctx: *mut c_void,
    timeout: f64,
) -> pc_status {
    ffi_status!({
        let c = arg_handle!(c);
        let pred = pred.ok_or_else(|| Error::invalid_argument("pred is NULL"))?;
        c.wait_for(&mut || pred(ctx), arg_timeout!(timeout))
    })
}

/// Wakes the `n` longest-waiting waiters (fewer if fewer wait), skipping waiters whose
/// process died. Never waits for the woken ones.
///
/// Returns `PC_OK`; `PC_ERR_NOT_OWNER` when the caller does not hold the lock; a managed
/// condition also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for another
/// failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_condition_notify(c: *mut pc_condition, n: usize) -> pc_status {
    ffi_status!({ arg_handle!(c).notify(n) })
}

/// Wakes every waiter; as `pc_condition_notify`.
#[no_mangle]
pub extern "C" fn pc_condition_notify_all(c: *mut pc_condition) -> pc_status {
    ffi_status!({ arg_handle!(c).notify_all() })
}

/// Releases the caller's handle (and its reference to the lock). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_condition_free(c: *mut pc_condition) {
    ffi_free!(c)
}

/// Creates an `Event`, not set. `*out` is a new handle owned by the caller
/// (`pc_event_free`).
///
/// Returns `PC_OK`; `PC_ERR_OS`/ `PC_ERR_NO_MEMORY` if shared memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_event_new(out: *mut *mut pc_event) -> pc_status {
    ffi_new!(out, Event::new())
}

/// Sets the flag and wakes every waiter; never waits for them.
///
/// Returns `PC_OK`; a managed event also `PC_ERR_EOF` when its manager is gone,
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_event_set(e: *mut pc_event) -> pc_status {
    ffi_status!({ arg_handle!(e).set() })
}

/// Clears the flag.
///
/// Returns `PC_OK`; a managed event also `PC_ERR_EOF` when its manager is gone,
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_event_clear(e: *mut pc_event) -> pc_status {
    ffi_status!({ arg_handle!(e).clear() })
}

/// Whether the flag is set; false for a NULL or invalid `e`, and for a managed event whose
/// manager is gone (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_event_is_set(e: *mut pc_event) -> bool {
    ffi_value!(false, { arg_handle!(e).is_set() })
}

/// Waits until the flag is set, at most `timeout` seconds (negative: without limit; 0:
/// only checks).
///
/// Returns `PC_OK` once set; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after `pc_interrupt()`;
/// a managed event also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for another
/// failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_event_wait(e: *mut pc_event, timeout: f64) -> pc_status {
    ffi_status!({
        let e = arg_handle!(e);
        e.wait(arg_timeout!(timeout))
    })
}

/// Releases the caller's handle. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_event_free(e: *mut pc_event) {
    ffi_free!(e)
}

/// Creates a `Barrier` for `parties` waiters (Python 3's). `*out` is a new handle owned by
/// the caller (`pc_barrier_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for `parties` 0 or above
/// `PC_BARRIER_MAX_PARTIES`; `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared memory could not be
/// mapped.
#[no_mangle]
pub extern "C" fn pc_barrier_new(parties: usize, out: *mut *mut pc_barrier) -> pc_status {
    ffi_new!(out, Barrier::new(parties))
}

/// Creates a `Barrier` for `parties` waiters with Python's `action` and default `timeout`
/// (Python 3's `Barrier(parties, action, timeout)`). `*out` is a new handle owned by the
/// caller (`pc_barrier_free`).
///
/// `action` (NULL: none) is called as `action(ctx)` once per round, by the last waiter to
/// arrive, in its process and thread, with the barrier's lock held, before any waiter of
/// the round is released; it must not wait on the barrier. The function and `ctx` are
/// used as they are, so they must mean the same in every process that waits: a process
/// forked after the barrier was made (for a shared `ctx`, memory shared before the fork).
/// Such a barrier is not passed to a child started by spawn or forkserver
/// (`pc_process_start` fails with `PC_ERR_NOT_SUPPORTED`). A non-zero return breaks the
/// barrier: the waiter that ran it gets `PC_ERR_TASK_FAILED` (the value in
/// `pc_last_error()`), the others `PC_ERR_BROKEN`.
///
/// `timeout` is the limit of `pc_barrier_wait_default`, in seconds (Python's `wait()`):
/// negative (`PC_FOREVER`) for none; `pc_barrier_wait` keeps its own timeout.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for `parties` 0 or above
/// `PC_BARRIER_MAX_PARTIES`, or a NaN `timeout`; `PC_ERR_OS`/`PC_ERR_NO_MEMORY` if shared
/// memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_barrier_new_with(
    parties: usize,
    action: pc_barrier_action_fn,
    ctx: *mut c_void,
    timeout: f64,
    out: *mut *mut pc_barrier,
) -> pc_status {
    ffi_new!(out, {
        if timeout.is_nan() {
            return Err(Error::invalid_argument("timeout is NaN"));
        }
        let timeout = (timeout >= 0.0)
            .then(|| Duration::try_from_secs_f64(timeout).ok())
            .flatten();
        let ctx = handle::UserData::new(ctx);
        let action = action.map(|f| -> BarrierAction { Box::new(move || f(ctx.get())) });
        Barrier::with(parties, action, timeout)
    })
}

/// Waits until `parties` waiters have arrived, at most `timeout` seconds, and stores this
/// waiter's arrival index (0 to parties-1) in `*index` (`index` may be NULL).
///
/// Returns `PC_OK`; `PC_ERR_BROKEN` when the barrier is broken (aborted, reset while
/// waiting, or another waiter timed out); `PC_ERR_TIMEOUT` (which breaks the barrier for
/// the others); `PC_ERR_INTERRUPTED` after `pc_interrupt()` (also breaks it); a managed
/// barrier also `PC_ERR_EOF` when its manager is gone, `PC_ERR_REMOTE` for another failure
/// the manager reported.
///
/// As in Python, a process killed inside this wait still counts as arrived: that round
/// cannot complete (waiters with a timeout break it), so make a new barrier.
#[no_mangle]
pub extern "C" fn pc_barrier_wait(
    b: *mut pc_barrier,
    timeout: f64,
    index: *mut usize,
) -> pc_status {
    ffi_status!({
        let b = arg_handle!(b);
        arrived_at(b.wait(arg_timeout!(timeout))?, index)
    })
}

/// Waits as `pc_barrier_wait`, for at most the barrier's default timeout (Python's
/// `wait()` without a timeout): the `timeout` given to `pc_barrier_new_with`, or without
/// limit when it had none (and for a barrier from `pc_barrier_new` or
/// `pc_manager_barrier`). Stores this waiter's arrival index in `*index` (`index` may be
/// NULL).
///
/// Returns the statuses of `pc_barrier_wait`.
#[no_mangle]
pub extern "C" fn pc_barrier_wait_default(b: *mut pc_barrier, index: *mut usize) -> pc_status {
    ffi_status!({ arrived_at(arg_handle!(b).wait_default()?, index) })
}

/// Stores a waiter's arrival index in `*index` unless `index` is NULL.
fn arrived_at(arrived: usize, index: *mut usize) -> Result<()> {
    if let Some(index) = handle::out_opt(index) {
        index.write(arrived);
    }
    Ok(())
}

/// Breaks the barrier: waiters now and later get `PC_ERR_BROKEN` until `pc_barrier_reset`.
///
/// Returns `PC_OK`; a managed barrier also `PC_ERR_EOF` when its manager is gone,
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_barrier_abort(b: *mut pc_barrier) -> pc_status {
    ffi_status!({ arg_handle!(b).abort() })
}

/// Returns the barrier to its initial state; waiters now get `PC_ERR_BROKEN`.
///
/// Returns `PC_OK`; a managed barrier also `PC_ERR_EOF` when its manager is gone,
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_barrier_reset(b: *mut pc_barrier) -> pc_status {
    ffi_status!({ arg_handle!(b).reset() })
}

/// The number of parties (Python's `parties`); 0 for a NULL or invalid `b`.
#[no_mangle]
pub extern "C" fn pc_barrier_parties(b: *const pc_barrier) -> usize {
    ffi_value!(0, { Ok(arg_handle!(b).parties()) })
}

/// The number of waiters now waiting for the barrier to fill (Python's `n_waiting`: 0
/// while a round is released or reset); 0 for a NULL or invalid `b`, and for a managed
/// barrier whose manager is gone (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_barrier_n_waiting(b: *const pc_barrier) -> usize {
    ffi_value!(0, { arg_handle!(b).n_waiting() })
}

/// Whether the barrier is broken (Python's `broken`); false for a NULL or invalid `b`, and
/// for a managed barrier whose manager is gone (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_barrier_broken(b: *const pc_barrier) -> bool {
    ffi_value!(false, { arg_handle!(b).broken() })
}

/// Releases the caller's handle. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_barrier_free(b: *mut pc_barrier) {
    ffi_free!(b)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::ffi::status::pc_last_error;
    use crate::synchronize::fake_primitive;

    fn last_error() -> String {
        // SAFETY: pc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(pc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn managed_primitives_forward_or_say_what_they_lack() {
        let (remote, watch) = fake_primitive(None);
        let l = handle::into_raw::<pc_lock>(Lock::remote(remote, false)).unwrap();
        assert_eq!(pc_lock_acquire(l, -1.0), pc_status::PC_OK);
        let mut c = std::ptr::null_mut();
        assert_eq!(pc_condition_new(l, &mut c), pc_status::PC_ERR_NOT_SUPPORTED);
        assert!(
            last_error().contains("pc_manager_condition"),
            "{}",
            last_error()
        );
        assert_eq!(pc_lock_release(l), pc_status::PC_OK);
        assert_eq!(watch.calls(), ["acquire", "release"]);
        pc_lock_free(l);

        let (remote, _) = fake_primitive(None);
        let s = handle::into_raw::<pc_semaphore>(Semaphore::remote(remote)).unwrap();
        let mut value = -1;
        let status = pc_semaphore_value(s, &mut value);
        assert_eq!((status, value), (pc_status::PC_ERR_NOT_SUPPORTED, -1));
        pc_semaphore_free(s);

        let (remote, _) = fake_primitive(Some(ErrorKind::Eof));
        let e = handle::into_raw::<pc_event>(Event::remote(remote)).unwrap();
        assert!(!pc_event_is_set(e));
        assert!(
            last_error().starts_with("pc_event_is_set: "),
            "{}",
            last_error()
        );
        assert_eq!(pc_event_set(e), pc_status::PC_ERR_EOF);
        pc_event_free(e);

        let (remote, _) = fake_primitive(Some(ErrorKind::Eof));
        let b = handle::into_raw::<pc_barrier>(Barrier::remote(remote, 4)).unwrap();
        assert_eq!(pc_barrier_parties(b), 4);
        assert_eq!(pc_barrier_n_waiting(b), 0);
        assert!(!pc_barrier_broken(b));
        assert_eq!(
            pc_barrier_wait(b, 0.0, std::ptr::null_mut()),
            pc_status::PC_ERR_EOF
        );
        pc_barrier_free(b);
    }

    #[test]
    fn c_limits_are_the_library_limits() {
        assert_eq!(PC_CONDITION_MAX_WAITERS, crate::synchronize::MAX_WAITERS);
        assert_eq!(PC_BARRIER_MAX_PARTIES, crate::synchronize::MAX_WAITERS + 1);
        assert_eq!(
            PC_SEMAPHORE_MAX_VALUE,
            crate::synchronize::SEMAPHORE_MAX_VALUE
        );
    }
}
