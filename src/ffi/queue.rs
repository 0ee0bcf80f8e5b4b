//! Queues: `pc_queue_*` (Python's `Queue` and `JoinableQueue`). Their threads and fork
//! rules are on `pc_queue`, so that they reach the header.

use std::ffi::c_void;

use super::handle;
use super::item::pc_item;
use super::library::pc_bytes;
use super::pool::{self, pc_slice};
use super::received::received_into;
use super::status::pc_status;
use crate::queue::Queue;

/// A `Queue` or `JoinableQueue` of byte messages, shared between processes.
///
/// A queue lives in shared memory: a handle made before `pc_process_start` names the same
/// queue in the child. Any thread may use it. Messages are byte strings of any length.
///
/// A manager's queue (`pc_manager_queue`) is used through the same handle and functions,
/// each call a request to the manager. It carries any Python value: `pc_queue_put` puts
/// `bytes`, `pc_queue_put_item`/`pc_queue_get_item` any item.
pub struct pc_queue {
    _private: [u8; 0],
}
impl_handle!(pc_queue => Queue, b"queu");

/// The largest `maxsize` of a queue.
pub const PC_QUEUE_MAX_SIZE: usize = 2147483647;
// cbindgen needs the literal; it must be the queue's own limit.
const _: () = assert!(PC_QUEUE_MAX_SIZE == crate::queue::MAX_SIZE);

/// Creates a `Queue` holding at most `maxsize` messages (0: unbounded, whose `put` never
/// waits). Messages of any size pass, from 0 bytes to far more than the queue keeps in
/// memory at rest; memory for large or many waiting messages is taken as they come and
/// given back as they are read. `*out` is a new handle owned by the caller
/// (`pc_queue_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for `maxsize` above `PC_QUEUE_MAX_SIZE`;
/// `PC_ERR_OS` if shared memory could not be mapped.
#[no_mangle]
pub extern "C" fn pc_queue_new(maxsize: usize, out: *mut *mut pc_queue) -> pc_status {
    ffi_new!(out, Queue::new(maxsize, false))
}

/// Creates a `JoinableQueue` (Python 3): a queue that also counts unfinished tasks for
/// `pc_queue_task_done` and `pc_queue_join`. Otherwise as `pc_queue_new`.
#[no_mangle]
pub extern "C" fn pc_joinable_queue_new(maxsize: usize, out: *mut *mut pc_queue) -> pc_status {
    ffi_new!(out, Queue::new(maxsize, true))
}

/// Puts a copy of the `len` bytes at `buf`. In a bounded queue holding `maxsize` messages
/// it waits at most `timeout` seconds for one to be taken (negative: without limit; 0:
/// not at all). When it returns `PC_OK` the message is in the queue: any process can get
/// it at once, and it stays there if this process exits. Producers take turns: a put
/// waits for one in the middle of its copy at least 20 ms, whatever `timeout`, and fails
/// with `PC_ERR_FULL` only if it is still there (stopped) after `timeout`.
///
/// A managed queue gets a Python `bytes` object, and waits for room as its manager does.
///
/// Returns `PC_OK`; `PC_ERR_FULL`; `PC_ERR_INTERRUPTED` after `pc_interrupt()` (nothing was
/// put); `PC_ERR_CLOSED` after `pc_queue_close` in this process; `PC_ERR_TOO_LARGE` for a
/// message larger than a queue holds (several GiB); `PC_ERR_NO_MEMORY` when the messages
/// waiting already fill that room; `PC_ERR_INVALID_ARGUMENT` for a NULL `buf` with a
/// non-zero `len`. A managed queue also: `PC_ERR_EOF` when its manager is gone;
/// `PC_ERR_REMOTE` for another failure the manager reported.
#[no_mangle]
pub extern "C" fn pc_queue_put(
    q: *mut pc_queue,
    buf: *const c_void,
    len: usize,
    timeout: f64,
) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        q.put(arg_bytes!(buf, len), arg_timeout!(timeout))
    })
}

/// Takes the oldest message into `*out` (release it with `pc_bytes_free`), waiting at
/// most `timeout` seconds for one (negative: without limit; 0: not at all). Consumers
/// take turns as producers do (see `pc_queue_put`): `PC_ERR_EMPTY` also when another
/// consumer stopped in the middle of its get.
///
/// A managed queue's next item must be `bytes`. An item of another kind is not lost: it
/// stays with this handle, and the next get on it (this one's retry, or
/// `pc_queue_get_item`, which reads any kind) returns it first, without waiting.
///
/// Returns `PC_OK`; `PC_ERR_EMPTY`; `PC_ERR_INTERRUPTED` after `pc_interrupt()` (nothing
/// was taken). A managed queue also: `PC_ERR_TYPE` when the next item is not `bytes`
/// (`pc_last_error` names its kind; it is kept, as above); `PC_ERR_EOF` when the manager is
/// gone; `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_queue_get(q: *mut pc_queue, timeout: f64, out: *mut pc_bytes) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        let out = arg_out!(out);
        out.write(pc_bytes::from_vec(q.get(arg_timeout!(timeout))?));
        Ok(())
    })
}

/// Takes the oldest message into `buf` (room for `cap` bytes) and stores its length in
/// `*len`, waiting as `pc_queue_get`. If it does not fit: `PC_ERR_BUFFER_TOO_SHORT`,
/// `*len` is its size, and it stays in the queue for the next get (for a managed queue:
/// with this handle, as a `pc_queue_get` of another kind keeps its item).
///
/// Returns `PC_OK`; `PC_ERR_BUFFER_TOO_SHORT`; otherwise as `pc_queue_get`, and
/// `PC_ERR_INVALID_ARGUMENT` for a NULL `buf` with a non-zero `cap`.
#[no_mangle]
pub extern "C" fn pc_queue_get_into(
    q: *mut pc_queue,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout: f64,
) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        let len = arg_out!(len);
        let buf = arg_bytes_mut!(buf, cap);
        received_into(q.get_into(buf, arg_timeout!(timeout))?, len, cap)
    })
}

/// Puts the `n` messages of `messages` (each `len` bytes at `data`, copied) in order, as
/// `n` calls of `pc_queue_put` would, but faster: the seed's `putMany`. A local queue
/// takes as many as it has room for in one turn of its producers, and wakes its
/// consumers once per turn. A bounded queue waits for room as `pc_queue_put` does; so
/// `timeout` bounds the whole call. `*put` (if `put` is not NULL) is how many went in,
/// whatever the status: on an error the first `*put` are in the queue and the others are
/// not.
///
/// Returns `PC_OK` (all were put); otherwise as `pc_queue_put` for the first message that
/// could not be put, and `PC_ERR_INVALID_ARGUMENT` for a NULL `messages` with a non-zero
/// `n` or a message whose `data` is NULL with a non-zero `len` (then none was put).
#[no_mangle]
pub extern "C" fn pc_queue_put_many(
    q: *mut pc_queue,
    messages: *const pc_slice,
    n: usize,
    timeout: f64,
    put: *mut usize,
) -> pc_status {
    ffi_status!({
        let mut put = handle::out_opt(put);
        let mut tell = |count: usize| {
            if let Some(put) = put.as_mut() {
                put.write(count);
            }
        };
        tell(0);
        let q = arg_handle!(q);
        let deadline = arg_timeout!(timeout);
        let messages: Vec<&[u8]> = pool::items(messages, n, "messages")?
            .iter()
            .map(AsRef::as_ref)
            .collect();
        let (count, outcome) = q.put_many(&messages, deadline);
        tell(count);
        outcome
    })
}

/// Takes up to `max` messages into `out[0]`, `out[1]`, … (release each with
/// `pc_bytes_free`) and stores their number in `*got`: waits at most `timeout` seconds
/// for the first (negative: without limit; 0: not at all), then takes the messages
/// already in the queue, up to `max`, without waiting. A local queue takes them in one
/// turn of its consumers. A managed queue stops before an item that is not `bytes`
/// (kept, as `pc_queue_get` keeps it).
///
/// Returns `PC_OK` (`*got` ≥ 1); otherwise as `pc_queue_get` (nothing was taken), and
/// `PC_ERR_INVALID_ARGUMENT` for `max` 0.
#[no_mangle]
pub extern "C" fn pc_queue_get_many(
    q: *mut pc_queue,
    timeout: f64,
    out: *mut pc_bytes,
    max: usize,
    got: *mut usize,
) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        let got = arg_out!(got);
        let out = handle::out_array(out, max, "out")?;
        let messages = q.get_many(max, arg_timeout!(timeout))?;
        got.write(messages.len());
        for (slot, message) in out.iter_mut().zip(messages) {
            slot.write(pc_bytes::from_vec(message));
        }
        Ok(())
    })
}

/// Puts a copy of `item` (borrowed; a `pc_item_*` value or one the library filled in),
/// waiting as `pc_queue_put` (`timeout` in seconds; negative: without limit; 0: not at
/// all). A managed queue carries any item; a local queue carries bytes, so it takes only
/// `PC_KIND_BYTES` items (the same as `pc_queue_put` of their bytes).
///
/// Returns `PC_OK`; `PC_ERR_TYPE` for another kind on a local queue ("a local queue
/// carries bytes; a managed queue carries any item"); `PC_ERR_INVALID_ARGUMENT` for an
/// item of an unknown kind, a `STR` item that is not UTF-8, or NULL `data` with a non-zero
/// `len`; otherwise as `pc_queue_put`.
#[no_mangle]
pub extern "C" fn pc_queue_put_item(q: *mut pc_queue, item: pc_item, timeout: f64) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        q.put_item(item.to_item("item")?, arg_timeout!(timeout))
    })
}

/// Takes the oldest item into `*out` (release its data with `pc_item_release`), waiting
/// as `pc_queue_get` (`timeout` in seconds; negative: without limit; 0: not at all). A
/// managed queue's items are of any kind, an item this handle kept (see `pc_queue_get`)
/// first; a local queue's are `PC_KIND_BYTES`.
///
/// Returns `PC_OK`; otherwise as `pc_queue_get` (without `PC_ERR_TYPE`: every kind is
/// read).
#[no_mangle]
pub extern "C" fn pc_queue_get_item(
    q: *mut pc_queue,
    timeout: f64,
    out: *mut pc_item,
) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        let out = arg_out!(out);
        out.write(pc_item::owning(q.get_item(arg_timeout!(timeout))?));
        Ok(())
    })
}

/// Stores the number of messages in the queue in `*out`: exact while no put or get is
/// under way (a message is counted from the moment its put returns). A managed queue's
/// count is its manager's, plus the items this handle keeps (see `pc_queue_get`).
///
/// Returns `PC_OK`; a managed queue also `PC_ERR_EOF` when the manager is gone,
/// `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_queue_qsize(q: *mut pc_queue, out: *mut usize) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        arg_out!(out).write(q.qsize()?);
        Ok(())
    })
}

/// Whether the queue holds no message (a managed queue: nor does this handle keep one,
/// see `pc_queue_get`); true for a NULL or invalid `q`, and for a managed queue whose
/// manager is gone (see `pc_last_error`), so that a drain loop ends.
#[no_mangle]
pub extern "C" fn pc_queue_empty(q: *mut pc_queue) -> bool {
    ffi_value!(true, { arg_handle!(q).is_empty() })
}

/// Whether a bounded queue holds `maxsize` messages (never for an unbounded one); false
/// for a NULL or invalid `q`, and for a managed queue whose manager is gone (see
/// `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_queue_full(q: *mut pc_queue) -> bool {
    ffi_value!(false, { arg_handle!(q).is_full() })
}

/// This process puts no more: its `pc_queue_put` returns `PC_ERR_CLOSED` from now on,
/// while it may still get. Per process, as in Python: children (even those started
/// later) may still put. Closing twice is harmless. For a managed queue too, it is this
/// process's promise, kept here: the manager and other programs are not told.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_queue_close(q: *mut pc_queue) -> pc_status {
    ffi_status!({
        arg_handle!(q).close();
        Ok(())
    })
}

/// Waits until every message this process put is in the queue. Each put is in the
/// queue when it returns (there is no feeder thread), so this returns at once; as in
/// Python it must follow `pc_queue_close`.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` before `pc_queue_close`.
#[no_mangle]
pub extern "C" fn pc_queue_join_thread(q: *mut pc_queue) -> pc_status {
    ffi_status!({ arg_handle!(q).join_thread() })
}

/// Python's `cancel_join_thread`: lets this process exit without waiting for its puts to
/// reach the queue. They are there already when each put returns, so exiting never
/// waits and nothing is lost; accepted for compatibility.
///
/// Returns `PC_OK`.
#[no_mangle]
pub extern "C" fn pc_queue_cancel_join_thread(q: *mut pc_queue) -> pc_status {
    ffi_status!({
        arg_handle!(q);
        Ok(())
    })
}

/// JoinableQueue: a task taken from the queue is finished (one call per message got).
///
/// Returns `PC_OK`; `PC_ERR_VALUE` when called more times than messages were put;
/// `PC_ERR_INVALID_ARGUMENT` for a queue that is not joinable; a managed queue also
/// `PC_ERR_EOF` when the manager is gone, `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_queue_task_done(q: *mut pc_queue) -> pc_status {
    ffi_status!({ arg_handle!(q).task_done() })
}

/// JoinableQueue: waits at most `timeout` seconds (negative: without limit; 0: only
/// checks) until every message put was got and marked with `pc_queue_task_done`.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED` after `pc_interrupt()`;
/// `PC_ERR_INVALID_ARGUMENT` for a queue that is not joinable; a managed queue also
/// `PC_ERR_EOF` when the manager is gone, `PC_ERR_REMOTE`.
#[no_mangle]
pub extern "C" fn pc_queue_join(q: *mut pc_queue, timeout: f64) -> pc_status {
    ffi_status!({
        let q = arg_handle!(q);
        q.join(arg_timeout!(timeout))
    })
}

/// Releases this handle. The queue and the messages in it live on for the other
/// processes and handles using it. Never waits. NULL is a no-op. A managed queue's items
/// this handle kept (see `pc_queue_get`) are dropped with it.
#[no_mangle]
pub extern "C" fn pc_queue_free(q: *mut pc_queue) {
    ffi_free!(q)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::ffi::item::{pc_item_int, pc_item_release, pc_kind};
    use crate::ffi::library::pc_bytes_free;
    use crate::ffi::status::pc_last_error;
    use crate::item::Item;
    use crate::queue::FakeQueue;

    fn last_error() -> String {
        // SAFETY: pc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(pc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    fn managed(items: Vec<Item>) -> *mut pc_queue {
        handle::into_raw(Queue::remote(Box::new(FakeQueue::with(items)), false, 0)).unwrap()
    }

    #[test]
    fn a_get_of_another_kind_is_a_type_error_and_keeps_the_item() {
        let q = managed(vec![Item::Int(42), Item::Bytes(b"0123456789".to_vec())]);
        let mut bytes = pc_bytes::from_vec(Vec::new());
        for _ in 0..2 {
            assert_eq!(pc_queue_get(q, 0.0, &mut bytes), pc_status::PC_ERR_TYPE);
            let message = last_error();
            assert!(message.starts_with("pc_queue_get: "), "{message}");
            assert!(message.contains("int") && message.contains("pc_queue_get_item"));
        }
        assert!(!pc_queue_empty(q));
        let mut item = pc_item_int(0);
        assert_eq!(pc_queue_get_item(q, 0.0, &mut item), pc_status::PC_OK);
        assert_eq!((item.kind, item.i), (pc_kind::PC_KIND_INT as i32, 42));
        pc_item_release(&mut item);
        // Too short: kept, and its size told.
        let (mut buf, mut len) = ([0u8; 4], 0usize);
        let status = pc_queue_get_into(q, buf.as_mut_ptr().cast(), 4, &mut len, 0.0);
        assert_eq!((status, len), (pc_status::PC_ERR_BUFFER_TOO_SHORT, 10));
        let mut qsize = 0;
        assert_eq!(pc_queue_qsize(q, &mut qsize), pc_status::PC_OK);
        assert_eq!(qsize, 1);
        assert_eq!(pc_queue_get(q, 0.0, &mut bytes), pc_status::PC_OK);
        assert_eq!(bytes.len, 10);
        pc_bytes_free(&mut bytes);
        assert!(pc_queue_empty(q));
        pc_queue_free(q);
    }

    #[test]
    fn a_gone_manager_gives_the_neutral_values() {
        let fake = FakeQueue {
            gone: true,
            ..FakeQueue::default()
        };
        let q = handle::into_raw(Queue::remote(Box::new(fake), false, 0)).unwrap();
        assert!(pc_queue_empty(q));
        assert!(last_error().contains("gone"));
        assert!(!pc_queue_full(q));
        let mut qsize = 7;
        assert_eq!(pc_queue_qsize(q, &mut qsize), pc_status::PC_ERR_EOF);
        assert_eq!(qsize, 7);
        let status = pc_queue_put(q, b"x".as_ptr().cast(), 1, 0.0);
        assert_eq!(status, pc_status::PC_ERR_EOF);
        pc_queue_free(q);
    }
}
