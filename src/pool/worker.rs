//! What a pool's worker process runs: take a task message, run it, put its results.
//!
//! Before a task message is taken out of the queue, the worker writes its place in the
//! queue into its slot of shared memory (under the queue's consumer lock, see
//! `LocalQueue::get_noting`), and clears the slot once the results are in the result queue.
//! So whenever a worker dies, the pool knows exactly which task it had taken and not
//! answered, if any.
//!
//! A thread pool's workers run the same loop on threads of the pool's process (dummy
//! processes): the queues, the slots and the arena work the same within one process.
//! They share the process's holds on the pool's objects, and since a thread cannot be
//! killed, a terminated pool's flag tells them to take no more tasks.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};

use super::exec::Code;
use super::wire::{self, ElementChunk, Task};
use crate::deadline::{Deadline, Interrupts};
use crate::heap::{self, Heap};
use crate::process::Argument;
use crate::queue::LocalQueue;
use crate::shared::{Shared, ShmSafe};
use crate::sys::signal::Mask;

/// A task function: reads `len` bytes at `arg`, writes its result to `output`, returns 0
/// on success.
pub type TaskFn = extern "C" fn(arg: *const c_void, len: usize, output: *mut TaskOutput) -> c_int;
/// An element function of `map_array`: reads one input element, writes one output
/// element, returns 0 on success. `context` is the call's copy in the arena (NULL
/// without one), read-only: every worker of the call shares it.
pub type ElementFn =
    extern "C" fn(input: *const c_void, output: *mut c_void, context: *const c_void) -> c_int;
/// Runs once in each worker before its first task.
pub type InitFn = extern "C" fn(arg: *mut c_void);

/// The most workers a pool has.
pub const MAX_WORKERS: usize = 1024;

/// A worker's exit code when its queues fail (the pool then fails its task, if any).
pub(super) const EXIT_BROKEN: i32 = 70;

/// Slot contents: a task message taken (flag) and its place in the task queue.
const TAKEN: u64 = 1 << 32;

/// Where each worker notes the task message it has taken; 0 when it has none.
#[repr(C)]
pub(super) struct Slots {
    taken: [AtomicU64; MAX_WORKERS],
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for Slots {}

impl Slots {
    pub(super) fn new() -> crate::Result<Shared<Slots>> {
        Shared::new(Slots {
            taken: std::array::from_fn(|_| AtomicU64::new(0)),
        })
    }

    /// Clears `slot` and returns the place of the task message its worker had taken.
    pub(super) fn take(&self, slot: usize) -> Option<u32> {
        let taken = self.taken[slot].swap(0, SeqCst);
        (taken & TAKEN != 0).then_some(taken as u32)
    }
}

/// What a task is given to write its result to (`pc_buffer` in C). The pointer is not an
/// address: it carries a number fresh for each task (1024 to 2^32 - 1, so never a C
/// handle either, see `ffi::handle`) whose low bits are the place it runs in, and only the
/// number of the task running in that place is taken. One kept past its task, or any
/// other pointer, is refused without being read. A worker process runs one task at a
/// time, but a thread pool one per thread, and pools nest (a task may use a thread pool):
/// so each running task claims a place of its own, the one of its worker's slot when it
/// is free (the usual case: no contention), else the next free one.
pub struct TaskOutput {
    _private: [u8; 0],
}

/// The task running in one worker slot of this process.
struct Running {
    /// The number its `TaskOutput` carries; 0 while no task runs.
    number: AtomicUsize,
    /// Its result, while `number` is not 0 (stale after).
    bytes: AtomicPtr<Vec<u8>>,
}

/// The bits of a task's number that hold its slot.
const SLOT_BITS: u32 = MAX_WORKERS.trailing_zeros();
const _: () = assert!(MAX_WORKERS == 1 << SLOT_BITS);

/// The running tasks, by place.
static RUNNING: [Running; MAX_WORKERS] = [const {
    Running {
        number: AtomicUsize::new(0),
        bytes: AtomicPtr::new(ptr::null_mut()),
    }
}; MAX_WORKERS];
/// Tasks run so far in this process (numbers them).
static TASKS: AtomicU32 = AtomicU32::new(0);

impl TaskOutput {
    /// The running task `output` names, if it names one.
    fn running(output: *mut TaskOutput) -> Option<&'static Running> {
        let number = output.addr();
        let running = &RUNNING[number & (MAX_WORKERS - 1)];
        (number != 0 && running.number.load(Acquire) == number).then_some(running)
    }

    /// Whether `output` names a running task's result.
    pub fn is_running(output: *mut TaskOutput) -> bool {
        TaskOutput::running(output).is_some()
    }

    /// Appends `data` to the result of the running task that `output` names; false (and
    /// nothing written) when it names none.
    pub fn write(output: *mut TaskOutput, data: &[u8]) -> bool {
        let Some(running) = TaskOutput::running(output) else {
            return false;
        };
        let bytes = running.bytes.load(Acquire);
        // SAFETY: while its slot's number is the task's, the slot's bytes point at its
        // result, which `run` does not touch until the task returned; the task writes it
        // through its own calls, one at a time (a `pc_buffer` is the task's alone).
        unsafe { (*bytes).extend_from_slice(data) };
        true
    }

    /// Runs `function` on `item` for the worker of slot `slot`, with `bytes` (cleared) as
    /// its result.
    fn run(function: TaskFn, item: &[u8], slot: usize, bytes: &mut Vec<u8>) -> c_int {
        bytes.clear();
        // 1 to 2^22 - 1 above the place's bits: never 0, and below 2^32.
        let count = (TASKS.fetch_add(1, Relaxed) % ((1 << (32 - SLOT_BITS)) - 1)) as usize + 1;
        // The number is unknown to anyone until the task gets it, so nothing reads the
        // place's bytes before they are stored below.
        let (running, number) = (0..)
            .map(|i| (slot + i) % MAX_WORKERS)
            .find_map(|place| {
                let number = count << SLOT_BITS | place;
                let running = &RUNNING[place];
                let claimed = running.number.compare_exchange(0, number, AcqRel, Relaxed);
                if place == (slot + MAX_WORKERS - 1) % MAX_WORKERS && claimed.is_err() {
                    // Every place is taken (as many tasks run at once in this process):
                    // wait for one.
                    std::thread::yield_now();
                }
                claimed.is_ok().then_some((running, number))
            })
            .expect("an endless search ends only when a place was claimed");
        running.bytes.store(bytes, Release);
        let code = function(
            item.as_ptr().cast(),
            item.len(),
            ptr::without_provenance_mut(number),
        );
        // Only the number is cleared: the place is free from here on, and its next task
        // stores its own bytes before anyone can name it.
        running.number.store(0, Release);
        code
    }
}

/// Shared memory for `map_array`: inputs and outputs cross between processes here once,
/// in a block of the lineage's heap taken for the call. A block of at most `KEPT` bytes
/// is kept for the next call, which then takes no page faults if it is of a similar size.
pub(super) struct Arena {
    heap: &'static Heap,
    /// The block kept between calls: its heap offset and the bytes it was taken for.
    kept: Mutex<Option<(u64, usize)>>,
    /// Only the pool's maker gives the kept block back (its workers hold the arena too).
    maker: libc::pid_t,
}

impl Arena {
    /// The most bytes one call may use.
    pub(super) const MAX: usize = 1 << 36;
    const KEPT: usize = 64 << 20;

    pub(super) fn new() -> crate::Result<Arena> {
        Ok(Arena {
            heap: heap::lineage()?,
            kept: Mutex::new(None),
            maker: crate::sys::process::getpid(),
        })
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<(u64, usize)>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A block of at least `len` bytes for one call (the kept one if it is as large): its
    /// heap offset and size. Hand it back with [`Arena::give`].
    pub(super) fn take(&self, len: usize) -> crate::Result<(u64, usize)> {
        let kept = self.kept().take();
        match kept {
            Some((offset, size)) if size >= len => Ok((offset, size)),
            kept => {
                if let Some((offset, size)) = kept {
                    self.free(offset, size);
                }
                Ok((self.heap.alloc(len)?, len))
            }
        }
    }

    /// After a call: keeps its block of `len` bytes at `offset` for the next one if it is
    /// small enough, else gives it back.
    pub(super) fn give(&self, offset: u64, len: usize) {
        match len <= Arena::KEPT {
            true => *self.kept() = Some((offset, len)),
            false => self.free(offset, len),
        }
    }

    fn free(&self, offset: u64, len: usize) {
        if let Err(err) = self.heap.free(offset, len) {
            log::warn!("pool arena: {err}");
        }
    }

    /// `len` bytes at heap offset `offset`, if they lie inside the heap.
    pub(super) fn range(&self, offset: u64, len: u64) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        (end <= self.heap.len() as u64).then(|| self.heap.ptr(offset))
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if crate::sys::process::getpid() == self.maker {
            if let Some((offset, len)) = self.kept().take() {
                self.free(offset, len);
            }
        }
    }
}

/// What a worker needs, taken from the pool before the fork.
#[derive(Clone)]
pub(super) struct Context {
    pub(super) tasks: Arc<LocalQueue>,
    pub(super) results: Arc<LocalQueue>,
    pub(super) slots: Arc<Shared<Slots>>,
    pub(super) arena: Arc<Arena>,
    pub(super) initializer: Option<(InitFn, Argument)>,
    pub(super) max_tasks: usize,
    /// A thread pool's: the workers are threads of the pool's process.
    pub(super) threads: bool,
    /// Set when the pool is terminated: a worker thread then takes no more tasks (a
    /// worker process is killed instead).
    pub(super) terminated: Arc<AtomicBool>,
    /// The pool creator's signal mask: the worker is forked from the pool's thread,
    /// which blocks every signal, and must not keep that mask.
    pub(super) signal_mask: Mask,
}

/// The worker process's main loop; returns its exit code.
impl Context {
    /// In a worker process, first: its holds on the pool's shared objects are let go by
    /// the pool when it reaps the worker, since a worker that the pool kills cannot. (A
    /// worker thread holds nothing of its own.)
    fn lend(&self) {
        if self.threads {
            return;
        }
        self.tasks.lend();
        self.results.lend();
        self.slots.lend();
    }

    /// In the pool, once it reaped a worker: lets go of the holds the worker lent.
    pub(super) fn let_go_for_worker(&self) {
        if self.threads {
            return;
        }
        self.tasks.let_go_for_child();
        self.results.let_go_for_child();
        self.slots.let_go_for_child();
    }
}

pub(super) fn run(ctx: &Context, slot: usize) -> i32 {
    ctx.lend();
    ctx.signal_mask.apply();
    if let Some((init, arg)) = &ctx.initializer {
        arg.call(|arg| init(arg));
    }
    let mut found = Code::default();
    let mut tasks_run = 0;
    // One buffer for every reply: `put` copies it into the queue.
    let mut reply = Vec::new();
    while ctx.max_tasks == 0 || tasks_run < ctx.max_tasks {
        let (seq, message) = match ctx.take(slot, Deadline::Never) {
            Ok(Some(taken)) => taken,
            Ok(None) => continue,
            Err(exit) => return exit,
        };
        match wire::read_task(&message) {
            Ok(Task::Stop) => return 0,
            Ok(task) => answer(ctx, &mut found, slot, seq, task, &mut reply),
            Err(_) => return EXIT_BROKEN,
        }
        if ctx.results.put(&reply, Deadline::Never).is_err() {
            return EXIT_BROKEN;
        }
        ctx.answered(slot);
        tasks_run += 1;
    }
    0
}

impl Context {
    /// The next task message and its place in the queue, noted in the worker's slot as it
    /// is taken (see the module's doc), or `None` if none came before `deadline`; `Err`
    /// with the worker's exit code when it must end instead: the queue failed, or the
    /// pool was terminated (it drops what is left, this task with it).
    pub(super) fn take(
        &self,
        slot: usize,
        deadline: Deadline,
    ) -> Result<Option<(u32, Vec<u8>)>, i32> {
        let taken = &self.slots.taken[slot];
        let mut seq = 0;
        let message = self
            .tasks
            .get_noting(deadline, Interrupts::Ignore, |place| {
                seq = place;
                taken.store(TAKEN | u64::from(place), SeqCst)
            });
        let message = match message {
            Ok(message) => message,
            Err(err) if err.kind() == crate::error::ErrorKind::Empty => return Ok(None),
            Err(_) => return Err(EXIT_BROKEN),
        };
        match self.terminated.load(SeqCst) {
            true => Err(0),
            false => Ok(Some((seq, message))),
        }
    }

    /// Clears the worker's slot once the reply to its task is in the result queue.
    pub(super) fn answered(&self, slot: usize) {
        self.slots.taken[slot].store(0, SeqCst);
    }
}

/// Runs a task message and writes its `Results` reply into `reply`.
fn answer(
    ctx: &Context,
    found: &mut Code,
    slot: usize,
    seq: u32,
    task: Task<'_>,
    reply: &mut Vec<u8>,
) {
    // One buffer for every reply of the worker.
    reply.clear();
    match task {
        Task::Stop => unreachable!("handled by the caller"),
        Task::Items {
            job,
            first,
            function,
            items,
        } => {
            wire::start_results(reply, seq, job, first, items.len());
            answer_items(found, slot, &function, items, reply);
        }
        Task::Elements(ElementChunk {
            job,
            chunk,
            function,
            context_at,
            context_len,
            input_at,
            in_size,
            output_at,
            out_size,
            first,
            count,
        }) => {
            wire::start_results(reply, seq, job, chunk, 1);
            let context = match context_len {
                0 => Some(std::ptr::null_mut()),
                len => ctx.arena.range(context_at, len),
            };
            let Some(context) = context else {
                wire::push_result(reply, -1, b"the context lies outside the arena");
                return;
            };
            let (code, detail) =
                run_elements(found, &function, context, first..first + count, |i| {
                    let input = ctx.arena.range(input_at + i * in_size, in_size)?;
                    let output = ctx.arena.range(output_at + i * out_size, out_size)?;
                    Some((input, output))
                });
            wire::push_result(reply, code, detail.as_bytes());
        }
    }
}

/// Runs `function` (as the pool named it) on each item, pushing each result onto `reply`
/// (started by the caller for `items.len()` results).
pub(super) fn answer_items(
    found: &mut Code,
    slot: usize,
    function: &wire::Function<&[u8]>,
    items: wire::Items<'_>,
    reply: &mut Vec<u8>,
) {
    let function = match found.address(function) {
        // SAFETY: the pool named a `TaskFn` of this program (by address, where the
        // worker is its fork; else found again in the same module).
        Ok(at) => unsafe { std::mem::transmute::<usize, TaskFn>(at) },
        Err(err) => {
            let message = err.to_string();
            items.for_each(|_| wire::push_result(reply, -1, message.as_bytes()));
            return;
        }
    };
    let mut output = Vec::new();
    for item in items {
        let code = TaskOutput::run(function, item, slot, &mut output);
        wire::push_result(reply, code, &output);
    }
}

/// Runs the element function `function` (as the pool named it) on the elements `range`,
/// where `element(i)` is element i's input and output (`None`: out of bounds); the code
/// of the first that failed and which it was, or `(0, "")`.
pub(super) fn run_elements(
    found: &mut Code,
    function: &wire::Function<&[u8]>,
    context: *mut u8,
    range: std::ops::Range<u64>,
    element: impl Fn(u64) -> Option<(*mut u8, *mut u8)>,
) -> (c_int, String) {
    let function = match found.address(function) {
        // SAFETY: as in `answer_items`, an `ElementFn` of this program.
        Ok(at) => unsafe { std::mem::transmute::<usize, ElementFn>(at) },
        Err(err) => return (-1, err.to_string()),
    };
    range
        .into_iter()
        .find_map(|i| {
            let Some((input, output)) = element(i) else {
                return Some((-1, format!("element {i} lies outside the arena")));
            };
            let code = function(input.cast(), output.cast(), context.cast());
            (code != 0).then(|| (code, format!("element {i}")))
        })
        .unwrap_or((0, String::new()))
}
