//! Pools: `pc_pool_*`, their async results (`pc_async_result_*`), iterators
//! (`pc_iter_*`) and task results (`pc_buffer_write`). Their fork rules are on `pc_pool`,
//! so that they reach the header.

use std::ffi::{c_char, c_int, c_void};

use super::handle::{self, UserData};
use super::library::pc_bytes;
use super::status::{pc_status, set_last_error};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::pool::{
    Callback, ElementFn, InitFn, Job, Options, Outcome, Pool, ResultIter, TaskFn, TaskOutput,
    Workers,
};
use crate::process::Argument;
use crate::start::StartMethod;

/// A pool of worker processes (Python's `Pool`), or of worker threads
/// (`pc_pool_options.threads`: Python's `ThreadPool`).
///
/// Tasks are C functions over bytes. The workers are forks of the process that made the
/// pool, so function pointers, and pointers to data that existed when the pool was made,
/// are valid in them; a thread pool's workers are threads of that process, which see all
/// of its memory. Only that process may use the pool (from any of its threads); in
/// another process its functions return `PC_ERR_WRONG_STATE`.
pub struct pc_pool {
    _private: [u8; 0],
}
impl_handle!(pc_pool => Pool, b"pool");

/// The result of `pc_pool_apply_async` or `pc_pool_map_async` (Python's `AsyncResult`).
pub struct pc_async_result {
    _private: [u8; 0],
}
impl_handle!(pc_async_result => Job, b"asyr");

/// The iterator of `pc_pool_imap` or `pc_pool_imap_unordered`.
pub struct pc_iter {
    _private: [u8; 0],
}
impl_handle!(pc_iter => ResultIter, b"iter");

/// Where a task writes its result (`pc_buffer_write`). Lent for the task only (each task
/// gets another one): after it, `pc_buffer_write` refuses it.
pub struct pc_buffer {
    _private: [u8; 0],
}

/// A task: reads the `len` bytes at `arg`, appends its result to `result` with
/// `pc_buffer_write`, and returns 0 on success; any other value fails the task
/// (`PC_ERR_TASK_FAILED`, with the value and what it wrote in `pc_last_error`).
pub type pc_task_fn =
    Option<extern "C" fn(arg: *const c_void, len: usize, result: *mut pc_buffer) -> c_int>;

/// An element function for `pc_pool_map_array`: reads one input element at `input`,
/// writes one output element at `output`, returns 0 on success. `ctx` is the call's copy
/// of its context (NULL without one); every worker of the call reads the same copy, so it
/// is const.
pub type pc_elem_fn =
    Option<extern "C" fn(input: *const c_void, output: *mut c_void, ctx: *const c_void) -> c_int>;

/// Runs once in each worker, with `initarg`, before its first task.
pub type pc_init_fn = Option<extern "C" fn(initarg: *mut c_void)>;

/// Called once when an async result is ready, on the pool's result thread, with its
/// status (`PC_OK`, or the first failure's status with its message in `pc_last_error`)
/// and its results in order (`count` of them; a failed item's are empty). `results` is
/// valid during the call only.
pub type pc_callback_fn = Option<
    extern "C" fn(ctx: *mut c_void, status: pc_status, results: *const pc_bytes, count: usize),
>;

/// A borrowed input: `len` bytes at `data`.
#[repr(C)]
pub struct pc_slice {
    /// The bytes.
    pub data: *const c_void,
    /// How many bytes there are at `data`.
    pub len: usize,
}

/// How `pc_pool_new` makes a pool; all zero is the default.
#[repr(C)]
pub struct pc_pool_options {
    /// Worker processes; 0: the CPU count.
    pub processes: usize,
    /// Runs in each worker before its first task (NULL: none).
    pub initializer: pc_init_fn,
    /// The initializer's argument: a pointer passed as is when `initarg_len` is 0 (it
    /// means something only in workers forked from this process), else `initarg_len`
    /// bytes copied now, each worker's initializer getting a pointer to its own copy.
    pub initarg: *mut c_void,
    /// A worker is replaced by a fresh one after this many tasks (chunks); 0: never.
    pub max_tasks_per_child: usize,
    /// How the workers start: `"fork"`, `"spawn"` or `"forkserver"` (see
    /// `pc_set_start_method`); NULL: the default when the pool is made. Under spawn and
    /// forkserver the task functions and the initializer must be functions of the
    /// program or of a library it loaded, and a non-NULL `initarg` needs `initarg_len`.
    /// A thread pool (`threads`) starts no process: it checks the name only.
    pub start_method: *const c_char,
    /// The bytes at `initarg` to copy (0: pass the pointer as is).
    pub initarg_len: usize,
    /// Run the tasks on threads of this process instead of worker processes (Python's
    /// `multiprocessing.pool.ThreadPool`): `processes` is then the number of threads, each
    /// a dummy process (see `pc_dummy_process_new`). No fork happens. See `pc_pool_new`.
    pub threads: bool,
    /// Where the workers are: `PC_POOL_LOCAL` (0: processes, or threads with `threads`)
    /// or `PC_POOL_MPI` (the other ranks of the MPI job; see `PC_POOL_MPI`).
    pub backend: c_int,
}

/// `pc_pool_options.backend`: the workers are on this machine, processes (children of
/// this one) or, with `threads`, threads. The default.
pub const PC_POOL_LOCAL: c_int = 0;

/// `pc_pool_options.backend`: the workers are the other ranks of the MPI job this program
/// is rank 0 of. The program is started with `mpiexec -n N` (N >= 2) and calls
/// `pc_freeze_support(argc, argv)` first in `main`: rank 0 runs `main`, the other N - 1
/// ranks serve its pools from there. `processes` 0 is every worker rank (at most N - 1).
/// Every pool function works as with processes; task functions, the initializer and
/// `map_array`'s element function must be functions of the program or of a library it
/// loaded (they are found again in each rank by module and offset), arguments, results
/// and `map_array`'s elements and context cross as bytes (at most 2 GiB per message:
/// a larger one fails its task with `PC_ERR_TOO_LARGE`), and the initializer's argument
/// needs `initarg_len`. One MPI pool at a time uses the ranks. A rank that ends fails its
/// task with `PC_ERR_WORKER_DIED` and the pool goes on without it (when every rank ended,
/// every task fails so); but Open MPI's `mpiexec` ends the whole job when one rank dies,
/// unless it runs with `--enable-recovery`. `pc_pool_terminate` does not stop a task a
/// rank is running: the rank finishes it, then serves the next pool.
pub const PC_POOL_MPI: c_int = 1;

/// Where `opts` puts the workers.
fn workers(o: &pc_pool_options) -> Result<Workers> {
    match (o.backend, o.threads) {
        (PC_POOL_LOCAL, false) => Ok(Workers::Processes),
        (PC_POOL_LOCAL, true) => Ok(Workers::Threads),
        (PC_POOL_MPI, false) => Ok(Workers::MpiRanks),
        (PC_POOL_MPI, true) => Err(Error::invalid_argument(
            "opts->threads with opts->backend PC_POOL_MPI: the workers are MPI ranks",
        )),
        (backend, _) => Err(Error::invalid_argument(format!(
            "opts->backend {backend} is neither PC_POOL_LOCAL (0) nor PC_POOL_MPI (1)"
        ))),
    }
}

/// The most worker processes of a pool.
pub const PC_POOL_MAX_PROCESSES: usize = 1024;
// cbindgen needs the literal; it must be the pool's own limit.
const _: () = assert!(PC_POOL_MAX_PROCESSES == crate::pool::MAX_WORKERS);

/// The initializer's argument: the pointer, or a copy of its `initarg_len` bytes.
fn initarg(o: &pc_pool_options) -> Result<Argument> {
    Ok(match o.initarg_len {
        0 => Argument::Pointer(o.initarg),
        len => Argument::Bytes(handle::bytes(o.initarg.cast(), len, "opts->initarg")?.to_vec()),
    })
}

fn task_fn(f: pc_task_fn) -> Result<TaskFn> {
    let f = f.ok_or_else(|| Error::invalid_argument("fn is NULL"))?;
    // SAFETY: the two types differ only in the pointee of the result pointer (both opaque:
    // `pc_buffer` is C's name of a `TaskOutput`): the same ABI.
    Ok(unsafe {
        std::mem::transmute::<extern "C" fn(*const c_void, usize, *mut pc_buffer) -> c_int, TaskFn>(
            f,
        )
    })
}

/// A `pc_slice` checked to be readable: its bytes, without copying the array.
#[repr(transparent)]
pub(super) struct Item(pc_slice);

impl AsRef<[u8]> for Item {
    fn as_ref(&self) -> &[u8] {
        match self.0.len {
            0 => &[],
            // SAFETY: checked by `items`: a non-NULL pointer to `len` readable bytes (the
            // caller's contract), for the duration of the call.
            len => unsafe { std::slice::from_raw_parts(self.0.data.cast(), len) },
        }
    }
}

/// Borrowed byte strings (a map's items, a batch of messages), checked: a NULL `data`
/// needs `len` 0.
pub(super) fn items<'a>(items: *const pc_slice, n: usize, param: &str) -> Result<&'a [Item]> {
    let slices = handle::array(items, n, param)?;
    if let Some(i) = slices.iter().position(|s| s.data.is_null() && s.len > 0) {
        return Err(Error::invalid_argument(format!(
            "{param}[{i}].data is NULL but its len is {}",
            slices[i].len
        )));
    }
    // SAFETY: `Item` is a transparent wrapper of `pc_slice`.
    Ok(unsafe { &*(slices as *const [pc_slice] as *const [Item]) })
}

/// 0 is Python's default chunksize.
fn chunksize(chunksize: usize) -> Option<usize> {
    (chunksize > 0).then_some(chunksize)
}

/// Wraps a C callback: it gets the job's status and results on the result thread.
fn callback(cb: pc_callback_fn, ctx: *mut c_void) -> Option<Callback> {
    let cb = cb?;
    let ctx = UserData::new(ctx);
    Some(Box::new(move |job: &Job| {
        let outcomes = job.outcomes();
        let status = match outcomes.iter().enumerate().find_map(|(i, o)| o.error(i)) {
            Some(err) => {
                set_last_error(err.message());
                pc_status::from(err.kind())
            }
            None => pc_status::PC_OK,
        };
        let results: Vec<pc_bytes> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Done(output) => pc_bytes {
                    data: output.bytes().as_ptr().cast_mut(),
                    len: output.bytes().len(),
                },
                _ => pc_bytes {
                    data: std::ptr::null_mut(),
                    len: 0,
                },
            })
            .collect();
        cb(ctx.get(), status, results.as_ptr(), results.len());
    }))
}

/// Appends `len` bytes at `data` to a task's result. Only valid inside the task that got
/// `b`.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a NULL `b`, one of a task that ended or
/// any other pointer, or a NULL `data` with a non-zero `len`.
#[no_mangle]
pub extern "C" fn pc_buffer_write(b: *mut pc_buffer, data: *const c_void, len: usize) -> pc_status {
    ffi_status!({
        let not_running = || Error::invalid_argument("b is not the running task's pc_buffer");
        if !TaskOutput::is_running(b.cast()) {
            return Err(not_running());
        }
        if TaskOutput::write(b.cast(), arg_bytes!(data, len)) {
            Ok(())
        } else {
            Err(not_running())
        }
    })
}

/// Starts a pool: `opts->processes` worker processes (0, or `opts` NULL: the CPU count),
/// each running `opts->initializer(opts->initarg)` first if set. The workers are daemonic
/// children: they end with the pool, and with this process if it is killed. `*out` is a
/// new handle owned by the caller (`pc_pool_free`).
///
/// With `opts->threads`, the workers are threads of this process (daemonic dummy
/// processes named `PoolWorker-N`, listed by `pc_active_children`), started without any
/// fork, also in a daemonic process; every pool function works the same, and the
/// initializer runs once on each worker thread. What threads change: a task that crashes
/// or calls `exit` ends the whole program (no `PC_ERR_WORKER_DIED`); tasks share this
/// process's memory (a task's globals are everyone's); and a running task cannot be
/// stopped: `pc_pool_terminate` (and `pc_pool_free`, and the exit's end of the pool)
/// drops the tasks not started, which fail with `PC_ERR_CLOSED`, and waits for the
/// running ones to return (as Python's `ThreadPool.terminate` does).
///
/// With `opts->backend` `PC_POOL_MPI`, the workers are the other ranks of the MPI job
/// (see `PC_POOL_MPI`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for more than `PC_POOL_MAX_PROCESSES`
/// processes (with MPI: more than the job's worker ranks), an unknown backend, or
/// `threads` with MPI; `PC_ERR_WRONG_STATE` in a daemonic process (but for a thread
/// pool), and with MPI outside an MPI job of 2 ranks or more, before
/// `pc_freeze_support`, or while another MPI pool has the ranks; `PC_ERR_NOT_SUPPORTED`
/// for MPI where the library was built without it (or its plugin, `libprocessing-mpi.so`,
/// is not installed beside it), or with `max_tasks_per_child`; `PC_ERR_OS` if a worker
/// or the pool's thread could not be started.
#[no_mangle]
pub extern "C" fn pc_pool_new(opts: *const pc_pool_options, out: *mut *mut pc_pool) -> pc_status {
    ffi_new!(out, {
        let options = match handle::in_opt(opts) {
            None => Options::default(),
            Some(o) => Options {
                processes: o.processes,
                initializer: match o.initializer {
                    None => None,
                    Some(f) => Some((f as InitFn, initarg(o)?)),
                },
                max_tasks_per_child: o.max_tasks_per_child,
                start_method: handle::c_str_opt(o.start_method, "opts->start_method")?
                    .map(StartMethod::parse)
                    .transpose()?,
                workers: workers(o)?,
            },
        };
        Pool::new(options)
    })
}

/// The number of worker ranks of the MPI job this program is rank 0 of (its size less
/// one): what `PC_POOL_MPI` pools may use.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a NULL `out`; `PC_ERR_WRONG_STATE`
/// outside an MPI job of 2 ranks or more (a program not started by `mpiexec`), or before
/// `pc_freeze_support`; `PC_ERR_NOT_SUPPORTED` where the library was built without MPI.
#[no_mangle]
pub extern "C" fn pc_mpi_worker_ranks(out: *mut usize) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let world = crate::mpi::world()?;
        out.write((world.size() - 1) as usize);
        Ok(())
    })
}

/// Runs `fn` on the `len` bytes at `arg` in a worker and waits for its result, stored in
/// `*result` (release it with `pc_bytes_free`).
///
/// Returns `PC_OK`; `PC_ERR_TASK_FAILED` (the task's code and output in `pc_last_error`);
/// `PC_ERR_WORKER_DIED` if its worker died running it; `PC_ERR_INTERRUPTED` after
/// `pc_interrupt()` (the task still runs); `PC_ERR_CLOSED` after
/// `pc_pool_close`/`pc_pool_terminate`; `PC_ERR_WRONG_STATE` in another process than the
/// pool's; `PC_ERR_INVALID_ARGUMENT` for a NULL `fn` or a NULL `arg` with a non-zero `len`.
#[no_mangle]
pub extern "C" fn pc_pool_apply(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    arg: *const c_void,
    len: usize,
    result: *mut pc_bytes,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let result = arg_out!(result);
        let job = p.apply_async(task_fn(r#fn)?, arg_bytes!(arg, len), None)?;
        let mut results = job.with_outcomes(Deadline::Never, take_results)?;
        result.write(results.pop().expect("one result"));
        Ok(())
    })
}

/// The results of a successful job as C byte strings.
fn take_results(outcomes: &mut dyn Iterator<Item = &Outcome>) -> Vec<pc_bytes> {
    outcomes
        .map(|o| match o {
            Outcome::Done(output) => pc_bytes::from_vec(output.bytes().to_vec()),
            _ => unreachable!("with_outcomes passes successful jobs only"),
        })
        .collect()
}

/// Runs `fn` on a copy of the `len` bytes at `arg` in a worker; `*out` is the result, a
/// new handle owned by the caller (`pc_async_result_free`). `cb` (if not NULL) is called
/// with `ctx` once the result is ready.
///
/// Returns `PC_OK`, or as `pc_pool_apply` before the task ran.
#[no_mangle]
pub extern "C" fn pc_pool_apply_async(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    arg: *const c_void,
    len: usize,
    cb: pc_callback_fn,
    ctx: *mut c_void,
    out: *mut *mut pc_async_result,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let out = arg_out!(out);
        let job = p.apply_async(task_fn(r#fn)?, arg_bytes!(arg, len), callback(cb, ctx))?;
        out.write(handle::into_raw(job)?);
        Ok(())
    })
}

/// Runs `fn` on each of the `n` items in the workers, `chunksize` items per task message
/// (0: Python's rule, about four per worker), and waits: `results[i]` is item `i`'s result
/// (release each with `pc_bytes_free`). A failing task does not stop the others; the
/// first failure is then the status and `results` is left as it was.
///
/// Returns `PC_OK`, or as `pc_pool_apply`; `PC_ERR_INVALID_ARGUMENT` also for a NULL
/// `items` or `results` with a non-zero `n`.
#[no_mangle]
pub extern "C" fn pc_pool_map(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    items: *const pc_slice,
    n: usize,
    chunksize: usize,
    results: *mut pc_bytes,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let results = handle::out_array(results, n, "results")?;
        let outputs = p.map(
            task_fn(r#fn)?,
            self::items(items, n, "items")?,
            self::chunksize(chunksize),
        )?;
        for (slot, bytes) in results.iter_mut().zip(outputs) {
            slot.write(pc_bytes::from_vec(bytes));
        }
        Ok(())
    })
}

/// `pc_pool_map` without waiting: `*out` is a new handle (`pc_async_result_free`) whose
/// `pc_async_result_get` takes `n` results. The items are copied before this returns.
/// `cb` (if not NULL) is called with `ctx` once every item ended (with `count` 0 at once
/// for `n` 0).
///
/// Returns `PC_OK`; `PC_ERR_CLOSED` after `pc_pool_close`/`pc_pool_terminate`;
/// `PC_ERR_WRONG_STATE` in another process than the pool's; `PC_ERR_INVALID_ARGUMENT` for a
/// NULL `fn` or a NULL `items` (or item data) with a non-zero length.
#[no_mangle]
pub extern "C" fn pc_pool_map_async(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    items: *const pc_slice,
    n: usize,
    chunksize: usize,
    cb: pc_callback_fn,
    ctx: *mut c_void,
    out: *mut *mut pc_async_result,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let out = arg_out!(out);
        let job = p.map_async(
            task_fn(r#fn)?,
            self::items(items, n, "items")?,
            self::chunksize(chunksize),
            callback(cb, ctx),
        )?;
        out.write(handle::into_raw(job)?);
        Ok(())
    })
}

fn imap(
    p: *mut pc_pool,
    f: pc_task_fn,
    items: *const pc_slice,
    n: usize,
    chunksize: usize,
    ordered: bool,
    out: *mut *mut pc_iter,
) -> Result<()> {
    let p = arg_handle!(p);
    let out = arg_out!(out);
    let it = p.imap(
        task_fn(f)?,
        self::items(items, n, "items")?,
        self::chunksize(chunksize),
        ordered,
    )?;
    out.write(handle::into_raw(it)?);
    Ok(())
}

/// Runs `fn` on each item as `pc_pool_map_async` (`chunksize` 0: 1), and returns an
/// iterator over the results in order (`pc_iter_next`); `*out` is a new handle
/// (`pc_iter_free`).
///
/// Returns as `pc_pool_map_async`.
#[no_mangle]
pub extern "C" fn pc_pool_imap(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    items: *const pc_slice,
    n: usize,
    chunksize: usize,
    out: *mut *mut pc_iter,
) -> pc_status {
    ffi_status!({ imap(p, r#fn, items, n, chunksize, true, out) })
}

/// As `pc_pool_imap`, with the results in the order they end.
///
/// Returns as `pc_pool_map_async`.
#[no_mangle]
pub extern "C" fn pc_pool_imap_unordered(
    p: *mut pc_pool,
    r#fn: pc_task_fn,
    items: *const pc_slice,
    n: usize,
    chunksize: usize,
    out: *mut *mut pc_iter,
) -> pc_status {
    ffi_status!({ imap(p, r#fn, items, n, chunksize, false, out) })
}

/// The next result into `*out` (`pc_bytes_free`), waiting at most `timeout` seconds
/// (negative: without limit). A failed item is its error, and the iterator moves on.
///
/// Returns `PC_OK`; `PC_ERR_STOP` after the last; `PC_ERR_TIMEOUT`; `PC_ERR_TASK_FAILED` or
/// `PC_ERR_WORKER_DIED` for a failed item; `PC_ERR_CLOSED` once the pool was terminated;
/// `PC_ERR_INTERRUPTED`.
#[no_mangle]
pub extern "C" fn pc_iter_next(it: *mut pc_iter, timeout: f64, out: *mut pc_bytes) -> pc_status {
    ffi_status!({
        let it = arg_handle!(it);
        let out = arg_out!(out);
        out.write(pc_bytes::from_vec(it.next(arg_timeout!(timeout))?));
        Ok(())
    })
}

/// Releases an iterator (its tasks still run). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_iter_free(it: *mut pc_iter) {
    ffi_free!(it)
}

/// `out[i] = fn(in[i], ctx)` for `n` elements of `in_size` and `out_size` bytes,
/// `chunksize` elements per task (0: Python's rule), in the workers, and waits. The
/// `ctx_len` bytes at `ctx` and the inputs are copied into the pool's shared memory once,
/// and the outputs out of it once: no per-item copy or message. The workers were forked
/// before the call, so the context is copied for each call: `fn` gets a pointer to that
/// copy (the same for every element, valid during the call only), or NULL when `ctx` is
/// NULL and `ctx_len` 0. Pointers inside the context are not followed: they must point to
/// memory the workers see (made before the pool, or shared). `out` is written only if
/// every element succeeded.
///
/// Returns `PC_OK`; `PC_ERR_TASK_FAILED` (the failing element and its code in
/// `pc_last_error`); `PC_ERR_WORKER_DIED`; `PC_ERR_TOO_LARGE` when the context and the
/// arrays together exceed 64 GiB; `PC_ERR_NO_MEMORY` when the shared heap has no room
/// for them (a block of it is taken for the call); otherwise as `pc_pool_apply`;
/// `PC_ERR_INVALID_ARGUMENT` also for NULL `in`/`out` with a non-zero `n`, sizes whose
/// product overflows, a NULL `ctx` with a non-zero `ctx_len`, or a `ctx` without its
/// size (`ctx_len` 0).
#[no_mangle]
pub extern "C" fn pc_pool_map_array(
    p: *mut pc_pool,
    r#fn: pc_elem_fn,
    ctx: *const c_void,
    ctx_len: usize,
    r#in: *const c_void,
    in_size: usize,
    out: *mut c_void,
    out_size: usize,
    n: usize,
    chunksize: usize,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let f: ElementFn = r#fn.ok_or_else(|| Error::invalid_argument("fn is NULL"))?;
        if !ctx.is_null() && ctx_len == 0 {
            return Err(Error::invalid_argument(
                "ctx_len is 0 but ctx is not NULL: the context is copied for each call, so \
                 its size must be given",
            ));
        }
        let context = arg_bytes!(ctx, ctx_len);
        let overflow = || Error::invalid_argument("n times the element size overflows");
        let in_len = n.checked_mul(in_size).ok_or_else(overflow)?;
        let out_len = n.checked_mul(out_size).ok_or_else(overflow)?;
        let input = arg_bytes!(r#in, in_len);
        let output = arg_bytes_mut!(out, out_len);
        p.map_array(
            f,
            context,
            input,
            in_size,
            output,
            out_size,
            n,
            self::chunksize(chunksize),
        )
    })
}

/// No more tasks: the workers end once the queued ones are done (`pc_pool_join` waits
/// for that). Closing twice is harmless.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` in another process.
#[no_mangle]
pub extern "C" fn pc_pool_close(p: *mut pc_pool) -> pc_status {
    ffi_status!({ arg_handle!(p).close() })
}

/// Stops at once: kills the workers, fails every unfinished result with `PC_ERR_CLOSED`
/// (running their callbacks), and waits for the workers to be reaped. A thread pool's
/// workers cannot be killed: the tasks they run finish first (their results are dropped
/// too), and this waits for them.
///
/// Returns as `pc_pool_close`.
#[no_mangle]
pub extern "C" fn pc_pool_terminate(p: *mut pc_pool) -> pc_status {
    ffi_status!({ arg_handle!(p).terminate() })
}

/// Waits until the workers ended: after `pc_pool_close`, once every task is done.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` before `pc_pool_close`/`pc_pool_terminate` or in
/// another process.
#[no_mangle]
pub extern "C" fn pc_pool_join(p: *mut pc_pool) -> pc_status {
    ffi_status!({ arg_handle!(p).join() })
}

/// Releases the pool; a pool still running is terminated first. Results and iterators
/// stay valid (unfinished ones return `PC_ERR_CLOSED`). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_pool_free(p: *mut pc_pool) {
    ffi_free!(p)
}

/// Waits at most `timeout` seconds (negative: without limit) for the result, then copies
/// its `count` results (1 for `apply_async`, `n` for `map_async`) into `results` (release
/// each with `pc_bytes_free`). May be called again.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT`; `PC_ERR_TASK_FAILED`/`PC_ERR_WORKER_DIED` (the first
/// failure; `results` untouched); `PC_ERR_CLOSED` if the pool was terminated first;
/// `PC_ERR_INTERRUPTED`; `PC_ERR_INVALID_ARGUMENT` for a `count` other than the number of
/// results or a NULL `results` with a non-zero `count`.
#[no_mangle]
pub extern "C" fn pc_async_result_get(
    r: *mut pc_async_result,
    timeout: f64,
    results: *mut pc_bytes,
    count: usize,
) -> pc_status {
    ffi_status!({
        let r = arg_handle!(r);
        if count != r.len() {
            return Err(Error::invalid_argument(format!(
                "count is {count}, the result has {}",
                r.len()
            )));
        }
        let results = handle::out_array(results, count, "results")?;
        for (slot, bytes) in results
            .iter_mut()
            .zip(r.with_outcomes(arg_timeout!(timeout), take_results)?)
        {
            slot.write(bytes);
        }
        Ok(())
    })
}

/// Waits at most `timeout` seconds (negative: without limit) until the result is ready.
///
/// Returns `PC_OK`; `PC_ERR_TIMEOUT`; `PC_ERR_INTERRUPTED`.
#[no_mangle]
pub extern "C" fn pc_async_result_wait(r: *mut pc_async_result, timeout: f64) -> pc_status {
    ffi_status!({
        let r = arg_handle!(r);
        r.wait(arg_timeout!(timeout))
    })
}

/// Whether the result is ready; false for a NULL or invalid `r` (see `pc_last_error`).
#[no_mangle]
pub extern "C" fn pc_async_result_ready(r: *mut pc_async_result) -> bool {
    ffi_value!(false, { Ok(arg_handle!(r).is_ready()) })
}

/// Stores in `*out` whether every task of the ready result succeeded.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` if it is not ready.
#[no_mangle]
pub extern "C" fn pc_async_result_successful(r: *mut pc_async_result, out: *mut bool) -> pc_status {
    ffi_status!({
        let r = arg_handle!(r);
        let out = arg_out!(out);
        out.write(r.successful()?);
        Ok(())
    })
}

/// Releases a result, ready or not (its tasks still run, its callback still comes).
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_async_result_free(r: *mut pc_async_result) {
    ffi_free!(r)
}
