//! `Pool`: worker processes running C task functions, with async results, iterators and
//! a zero-copy map over arrays.
//!
//! Tasks go to the workers through one shared `LocalQueue` and results come back through
//! another; the parent's result thread (one per pool, "pool-results") files each result
//! with its job, runs callbacks, and watches the workers. A worker notes in shared memory
//! which task message it takes, at the moment it takes it (see `worker`), so when a worker
//! dies — killed, crashed, or `_exit` in a task — the result thread fails exactly that
//! task with `WorkerDied`, starts a replacement, and every other task still runs. No call
//! waits on a dead worker.
//!
//! The result thread also starts the workers: a daemonic child gets `PR_SET_PDEATHSIG`
//! from the thread that forked it, and this thread lives as long as the pool.

mod job;
mod reading;
mod wire;
mod worker;

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use job::{Callback, Job, Outcome, Output, ResultIter};
pub use worker::{ElementFn, InitFn, TaskFn, TaskOutput, MAX_WORKERS};

use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, Process};
use crate::queue::LocalQueue;
use crate::shared::Shared;
use crate::sys::process as os;
use crate::sys::signal::Mask;
use crate::tag::Tag;
use job::ResultReader;
use reading::{Readers, PARKED_WITH_WORK};
use wire::Reply;
use worker::{Arena, Slots};

/// How often the result thread looks for workers that ended, at most.
const CHECK_WORKERS: Duration = Duration::from_millis(50);

/// How a pool is made.
#[derive(Clone, Copy, Default)]
pub struct Options {
    /// Worker processes; 0: the CPU count.
    pub processes: usize,
    /// Runs in each worker, with its argument (an address valid in the workers), before
    /// its first task.
    pub initializer: Option<(InitFn, usize)>,
    /// A worker is replaced after this many task messages; 0: never.
    pub max_tasks_per_child: usize,
}

/// A pool of worker processes. Only the process that made it may use it.
#[repr(C)]
pub struct Pool {
    tag: Tag,
    core: Arc<Core>,
    creator: libc::pid_t,
    result_thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Closed,
    Terminated,
}

/// What a task message on the queue was, by its place in the queue.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Chunk {
        job: u64,
        first: usize,
        count: usize,
    },
    Stop,
}

struct State {
    phase: Phase,
    next_job: u64,
    /// Jobs not complete yet.
    jobs: HashMap<u64, Arc<Job>>,
    /// Task messages put and not answered yet.
    sent: HashMap<u32, Sent>,
    /// The workers, by slot; `None` once one ended and was not replaced.
    workers: Vec<Option<Arc<Process>>>,
    /// Workers started so far (their names count up).
    started: usize,
}

/// The pool's shared parts: used by the caller's threads and the result thread.
struct Core {
    tasks: Arc<LocalQueue>,
    results: Arc<LocalQueue>,
    slots: Arc<Shared<Slots>>,
    arena: Arc<Arena>,
    /// One `map_array` at a time uses the arena.
    arena_user: Mutex<()>,
    options: Options,
    /// The signal mask of the thread that made the pool, for its workers.
    signal_mask: Mask,
    state: Mutex<State>,
    readers: Readers,
}

/// Who files a result: callbacks run on the result thread only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Filer {
    ResultThread,
    Caller,
}

impl Pool {
    /// The tag value of a pool handle.
    pub const TAG: u32 = u32::from_be_bytes(*b"pool");

    /// Starts a pool of `options.processes` workers (0: the CPU count).
    pub fn new(options: Options) -> Result<Arc<Pool>> {
        let processes = match options.processes {
            0 => process::cpu_count().max(1) as usize,
            n if n > MAX_WORKERS => {
                return Err(Error::invalid_argument(format!(
                    "processes {n} is more than {MAX_WORKERS}"
                )))
            }
            n => n,
        };
        let options = Options {
            processes,
            ..options
        };
        let core = Arc::new(Core {
            tasks: Arc::new(LocalQueue::new(0)?),
            results: Arc::new(LocalQueue::new(0)?),
            slots: Arc::new(Slots::new()?),
            arena: Arc::new(Arena::new()?),
            arena_user: Mutex::new(()),
            options,
            signal_mask: Mask::current(),
            state: Mutex::new(State {
                phase: Phase::Running,
                next_job: 1,
                jobs: HashMap::new(),
                sent: HashMap::new(),
                workers: vec![None; processes],
                started: 0,
            }),
            readers: Readers::default(),
        });
        let (started_tx, started_rx) = mpsc::channel();
        let thread_core = core.clone();
        let thread = crate::sys::thread::spawn("pool-results", move || {
            let started = (0..processes).try_for_each(|slot| thread_core.start_worker(slot));
            let ok = started.is_ok();
            let _ = started_tx.send(started);
            if ok {
                thread_core.serve();
            } else {
                thread_core.state().phase = Phase::Terminated;
            }
            thread_core.wind_up();
        })
        .map_err(|e| Error::os("starting the pool's result thread", e))?;
        let pool = Arc::new(Pool {
            tag: Tag::new(Pool::TAG),
            core,
            creator: os::getpid(),
            result_thread: Mutex::new(Some(thread)),
        });
        match started_rx.recv() {
            Ok(Ok(())) => {
                terminate_at_exit(&pool.core);
                Ok(pool)
            }
            Ok(Err(err)) => {
                pool.join_result_thread();
                Err(err.context("starting the pool's workers"))
            }
            Err(_) => {
                pool.join_result_thread();
                Err(Error::new(
                    ErrorKind::Panic,
                    "the pool's result thread ended before starting the workers",
                ))
            }
        }
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.core.options.processes
    }

    fn check_owner(&self) -> Result<()> {
        match os::getpid() == self.creator {
            true => Ok(()),
            false => Err(Error::wrong_state(format!(
                "the pool belongs to process {}",
                self.creator
            ))),
        }
    }

    /// Runs `function` on `arg` in a worker; the job has one item.
    pub fn apply_async(
        &self,
        function: TaskFn,
        arg: &[u8],
        callback: Option<Callback>,
    ) -> Result<Arc<Job>> {
        self.check_owner()?;
        self.core.submit(1, callback, false, |job| {
            std::iter::once((
                wire::items(job, 0, function as usize, &[arg]),
                Sent::Chunk {
                    job,
                    first: 0,
                    count: 1,
                },
            ))
        })
    }

    /// Runs `function` on every item, `chunksize` items per task message (`None`:
    /// Python's rule, about four messages per worker); the job has one item per input.
    pub fn map_async(
        &self,
        function: TaskFn,
        items: &[impl AsRef<[u8]>],
        chunksize: Option<usize>,
        callback: Option<Callback>,
    ) -> Result<Arc<Job>> {
        self.map_job(function, items, chunksize, callback, false)
    }

    fn map_job(
        &self,
        function: TaskFn,
        items: &[impl AsRef<[u8]>],
        chunksize: Option<usize>,
        callback: Option<Callback>,
        arrival_order: bool,
    ) -> Result<Arc<Job>> {
        self.check_owner()?;
        let chunksize = self.chunksize(items.len(), chunksize)?;
        self.core
            .submit(items.len(), callback, arrival_order, |job| {
                items.chunks(chunksize).enumerate().map(move |(c, chunk)| {
                    let first = c * chunksize;
                    let message = wire::items(job, first as u64, function as usize, chunk);
                    (
                        message,
                        Sent::Chunk {
                            job,
                            first,
                            count: chunk.len(),
                        },
                    )
                })
            })
    }

    /// `imap` (`ordered`) or `imap_unordered`: an iterator over the results of
    /// `map_async` (chunksize `None`: 1, as in Python).
    pub fn imap(
        &self,
        function: TaskFn,
        items: &[impl AsRef<[u8]>],
        chunksize: Option<usize>,
        ordered: bool,
    ) -> Result<Arc<ResultIter>> {
        let chunksize = Some(chunksize.unwrap_or(1));
        let job = self.map_job(function, items, chunksize, None, !ordered)?;
        Ok(ResultIter::new(job, ordered))
    }

    /// Python's default chunksize: `ceil(n / (4 * processes))`; an explicit 0 is invalid.
    fn chunksize(&self, n: usize, chunksize: Option<usize>) -> Result<usize> {
        match chunksize {
            Some(0) => Err(Error::invalid_argument("chunksize must be at least 1")),
            Some(c) => Ok(c),
            None => Ok(n.div_ceil(4 * self.processes()).max(1)),
        }
    }

    /// `output[i] = function(input[i], context)` for `n` elements of `in_size` and
    /// `out_size` bytes, in the workers: the context and the inputs are copied into shared
    /// memory once and the outputs out of it once. The workers were forked earlier, so the
    /// context travels with the call; every element gets the same copy (NULL for an empty
    /// `context`). Waits for every chunk; the first failing element is the error.
    #[allow(clippy::too_many_arguments)]
    pub fn map_array(
        &self,
        function: ElementFn,
        context: &[u8],
        input: &[u8],
        in_size: usize,
        output: &mut [u8],
        out_size: usize,
        n: usize,
        chunksize: Option<usize>,
    ) -> Result<()> {
        self.check_owner()?;
        // By default small chunks (about 32 per worker): a worker that starts late or
        // runs slower then leaves the others at most one small chunk to wait for.
        let chunksize = match chunksize {
            None => n.div_ceil(32 * self.processes()).max(1),
            Some(_) => self.chunksize(n, chunksize)?,
        };
        if n == 0 {
            return Ok(());
        }
        // The context, the inputs and the outputs, each 64-byte aligned.
        let in_at = context.len().next_multiple_of(64);
        let layout = in_at
            .checked_add(input.len())
            .and_then(|in_end| in_end.checked_next_multiple_of(64))
            .and_then(|out_at| Some((out_at, out_at.checked_add(output.len())?)))
            .filter(|&(_, end)| end <= Arena::MAX);
        let (out_at, end) = layout.ok_or_else(|| {
            Error::new(
                ErrorKind::TooLarge,
                format!(
                    "{} bytes of context, {} of input and {} of output exceed the pool's {} bytes of shared memory",
                    context.len(),
                    input.len(),
                    output.len(),
                    Arena::MAX
                ),
            )
        })?;
        let _arena = lock(&self.core.arena_user);
        let arena = &self.core.arena;
        let (base, size) = arena.take(end)?;
        let start = arena.range(base, end as u64).expect("a block of the heap");
        // SAFETY: the block is this call's until the job below is complete, and
        // `[0, end)` lies inside it.
        unsafe {
            std::ptr::copy_nonoverlapping(context.as_ptr(), start, context.len());
            std::ptr::copy_nonoverlapping(input.as_ptr(), start.add(in_at), input.len());
        }
        let chunks = n.div_ceil(chunksize);
        let job = self.core.submit(chunks, None, false, |job| {
            (0..chunks).map(move |c| {
                let first = c * chunksize;
                let count = chunksize.min(n - first);
                let fields = [
                    job,
                    c as u64,
                    function as usize as u64,
                    base,
                    context.len() as u64,
                    base + in_at as u64,
                    in_size as u64,
                    base + out_at as u64,
                    out_size as u64,
                    first as u64,
                    count as u64,
                ];
                (
                    wire::elements(fields),
                    Sent::Chunk {
                        job,
                        first: c,
                        count: 1,
                    },
                )
            })
        });
        let job = match job {
            Ok(job) => job,
            Err(err) => {
                arena.give(base, size);
                return Err(err);
            }
        };
        // Workers write into the arena until every chunk ended: wait for all of them.
        let waited = job.wait_with(Deadline::Never, Interrupts::Ignore);
        let outcomes = job.outcomes();
        if waited.is_ok() && outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
            // SAFETY: as above; the workers are done with the outputs.
            unsafe {
                std::ptr::copy_nonoverlapping(start.add(out_at), output.as_mut_ptr(), output.len())
            };
        }
        arena.give(base, size);
        waited?;
        match outcomes
            .iter()
            .enumerate()
            .find_map(|(c, o)| Some((c, o.error(c)?, o)))
        {
            None => Ok(()),
            Some((_, _, Outcome::Failed { code, output })) => Err(Error::new(
                ErrorKind::TaskFailed,
                format!("{} returned {code}", String::from_utf8_lossy(output)),
            )),
            Some((_, err, _)) => Err(err),
        }
    }

    /// No more tasks: the workers end once the queued ones are done.
    pub fn close(&self) -> Result<()> {
        self.check_owner()?;
        let mut state = self.core.state();
        if state.phase != Phase::Running {
            return Ok(());
        }
        state.phase = Phase::Closed;
        for _ in 0..state.workers.len() {
            let seq = self
                .core
                .tasks
                .put_numbered(&wire::stop(), Deadline::Never)?;
            state.sent.insert(seq, Sent::Stop);
        }
        Ok(())
    }

    /// Stops at once: kills the workers; results not complete fail with `Closed`.
    pub fn terminate(&self) -> Result<()> {
        self.check_owner()?;
        self.core.terminate();
        self.join_result_thread();
        Ok(())
    }

    /// Waits until the workers ended (after `close`: once they did every task).
    pub fn join(&self) -> Result<()> {
        self.check_owner()?;
        if self.core.state().phase == Phase::Running {
            return Err(Error::wrong_state("join before close or terminate"));
        }
        self.join_result_thread();
        Ok(())
    }

    fn join_result_thread(&self) {
        let thread = lock(&self.result_thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Pool {
    /// A pool dropped while running is terminated, as Python's finalizer does.
    fn drop(&mut self) {
        if os::getpid() == self.creator {
            self.core.terminate();
            self.join_result_thread();
        }
    }
}

/// The pools of this process, terminated at its normal exit before its children are
/// joined (as Python's finalizers do): a pool's result thread must not start new workers
/// while the exit rules end the old ones.
static POOLS: Mutex<Vec<(libc::pid_t, Weak<Core>)>> = Mutex::new(Vec::new());

/// Adds a pool to [`POOLS`] (see `crate::lifecycle` for the exit's order).
fn terminate_at_exit(core: &Arc<Core>) {
    let mut pools = lock(&POOLS);
    pools.retain(|(_, pool)| pool.strong_count() > 0);
    pools.push((os::getpid(), Arc::downgrade(core)));
}

/// Terminates this process's pools: the first step of a normal exit.
pub(crate) fn terminate_all() {
    let me = os::getpid();
    let pools: Vec<Arc<Core>> = lock(&POOLS)
        .iter()
        .filter(|(creator, _)| *creator == me)
        .filter_map(|(_, pool)| pool.upgrade())
        .collect();
    for pool in pools {
        pool.terminate();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Registers a job of `items` items and puts its task messages, made by `messages`
    /// from the job's id.
    /// Messages are put as they are made, so the workers start on the first at once.
    fn submit<M>(
        self: &Arc<Core>,
        items: usize,
        callback: Option<Callback>,
        arrival_order: bool,
        messages: impl FnOnce(u64) -> M,
    ) -> Result<Arc<Job>>
    where
        M: Iterator<Item = (Vec<u8>, Sent)>,
    {
        let mut state = self.state();
        if state.phase != Phase::Running {
            return Err(Error::new(
                ErrorKind::Closed,
                "the pool is closed or terminated",
            ));
        }
        let id = state.next_job;
        state.next_job += 1;
        let reader: Weak<dyn ResultReader> = Arc::downgrade(self) as Weak<Core>;
        let job = Job::new(id, items, callback, arrival_order, reader);
        if items == 0 {
            // Complete at once; its callback still runs on the result thread.
            state.jobs.insert(id, job.clone());
            self.results.put(&wire::notice(id), Deadline::Never)?;
            return Ok(job);
        }
        state.jobs.insert(id, job.clone());
        for (message, sent) in messages(id) {
            match self.tasks.put_numbered(&message, Deadline::Never) {
                Ok(seq) => {
                    state.sent.insert(seq, sent);
                }
                Err(err) => {
                    // Messages already put still run; the rest of the job fails (the
                    // notice has the result thread run its callback).
                    drop(state);
                    job.settle_rest(&Outcome::Failed {
                        code: -1,
                        output: err.to_string().into_bytes(),
                    });
                    let _ = self.results.put(&wire::notice(id), Deadline::Never);
                    return Err(err);
                }
            }
        }
        Ok(job)
    }

    fn worker_context(&self) -> worker::Context {
        worker::Context {
            tasks: self.tasks.clone(),
            results: self.results.clone(),
            slots: self.slots.clone(),
            arena: self.arena.clone(),
            initializer: self.options.initializer,
            max_tasks: self.options.max_tasks_per_child,
            signal_mask: self.signal_mask,
        }
    }

    /// Starts the worker of `slot` (on the result thread).
    fn start_worker(&self, slot: usize) -> Result<()> {
        let context = self.worker_context();
        let worker = Process::new(Some(Box::new(move || worker::run(&context, slot))));
        let number = {
            let mut state = self.state();
            state.started += 1;
            state.started
        };
        worker.set_name(&format!("PoolWorker-{number}"))?;
        worker.set_daemon(true)?;
        worker.start()?;
        self.state().workers[slot] = Some(worker);
        Ok(())
    }

    /// The result thread's loop: files results, runs callbacks, replaces dead workers,
    /// until the pool is terminated or closed with every worker gone.
    fn serve(&self) {
        let mut checked = Instant::now();
        loop {
            for job in self.readers.take_handed() {
                self.finish(&job, Filer::ResultThread);
                // Its caller may be reading results: a notice wakes it.
                if self.readers.callers_read() {
                    let _ = self.results.put(&wire::notice(job.id()), Deadline::Never);
                }
            }
            let deadline = checked + CHECK_WORKERS;
            if self.readers.callers_read() {
                let unanswered = !self.state().sent.is_empty();
                self.readers.park(match unanswered {
                    true => deadline.min(Instant::now() + PARKED_WITH_WORK),
                    false => deadline,
                });
            } else {
                match self
                    .results
                    .get_noting(Deadline::At(deadline), Interrupts::Ignore, |_| {})
                {
                    Ok(message) => self.file(message, Filer::ResultThread),
                    Err(err) if err.kind() == ErrorKind::Empty => {}
                    Err(err) => {
                        log::error!("pool: reading results failed: {err}");
                        std::thread::sleep(CHECK_WORKERS);
                    }
                }
            }
            if checked.elapsed() >= CHECK_WORKERS {
                self.check_workers();
                checked = Instant::now();
            }
            let state = self.state();
            let done = match state.phase {
                Phase::Running => false,
                Phase::Closed => state.workers.iter().all(Option::is_none),
                Phase::Terminated => true,
            };
            if done {
                return;
            }
        }
    }

    /// Files one message of the result queue.
    fn file(&self, message: Vec<u8>, by: Filer) {
        let message = Arc::new(message);
        match wire::read_reply(&message) {
            Ok(Reply::Results {
                seq,
                job,
                first,
                items,
            }) => {
                let job = {
                    let mut state = self.state();
                    state.sent.remove(&seq);
                    state.jobs.get(&job).cloned()
                };
                if let Some(job) = job {
                    let outcomes = items.map(|item| match item.code {
                        0 => Outcome::Done(Output::within(&message, item.output)),
                        code => Outcome::Failed {
                            code,
                            output: item.output.to_vec(),
                        },
                    });
                    job.settle(first as usize, outcomes);
                    self.finish(&job, by);
                }
            }
            Ok(Reply::Notice { job }) => {
                let job = self.state().jobs.get(&job).cloned();
                if let Some(job) = job {
                    self.finish(&job, by);
                }
            }
            Err(err) => log::error!("pool: {err}"),
        }
    }

    /// After a job got outcomes: once complete, runs its callback, makes it ready and
    /// forgets it. A caller hands a job with a callback to the result thread.
    fn finish(&self, job: &Arc<Job>, by: Filer) {
        if by == Filer::Caller && job.has_callback() {
            self.readers.hand_over(job.clone());
        } else if job.finish() {
            self.state().jobs.remove(&job.id());
        }
    }

    /// Handles every worker that ended since the last look.
    fn check_workers(&self) {
        let workers: Vec<(usize, Arc<Process>)> = {
            let state = self.state();
            let workers = state.workers.iter().enumerate();
            workers
                .filter_map(|(slot, w)| w.clone().map(|w| (slot, w)))
                .collect()
        };
        for (slot, worker) in workers {
            if !worker.is_alive() {
                self.worker_ended(slot, &worker);
            }
        }
    }

    /// A worker ended: fails the task it had taken (if any) and replaces it, unless it
    /// ended on a `Stop` or the pool is terminated.
    fn worker_ended(&self, slot: usize, worker: &Process) {
        // Results it put before it ended are filed first: they are not lost.
        while let Ok(message) =
            self.results
                .get_noting(Deadline::At(Instant::now()), Interrupts::Ignore, |_| {})
        {
            self.file(message, Filer::ResultThread);
        }
        // Joining an ended child is immediate; it also drops it from the children list,
        // so its pidfd closes with the last reference.
        let _ = worker.join(Deadline::Never);
        self.worker_context().let_go_for_worker();
        let exitcode = worker.exitcode().unwrap_or(0);
        let pid = worker.pid();
        let taken = self.slots.take(slot).filter(|&seq| self.was_taken(seq));
        let (sent, phase) = {
            let mut state = self.state();
            state.workers[slot] = None;
            (taken.and_then(|seq| state.sent.remove(&seq)), state.phase)
        };
        match sent {
            Some(Sent::Stop) => return,
            Some(Sent::Chunk { job, first, count }) => {
                let job = self.state().jobs.get(&job).cloned();
                if let Some(job) = job {
                    // Killed by `terminate`: the task ended with the pool, not by itself.
                    let died = match phase {
                        Phase::Terminated => Outcome::Terminated,
                        _ => Outcome::WorkerDied { pid, exitcode },
                    };
                    job.settle(first, std::iter::repeat_n(died, count));
                    self.finish(&job, Filer::ResultThread);
                    // A caller reading the results may wait for this job: a notice
                    // wakes it.
                    if self.readers.callers_read() {
                        let _ = self.results.put(&wire::notice(job.id()), Deadline::Never);
                    }
                }
            }
            None => {}
        }
        if phase != Phase::Terminated {
            if let Err(err) = self.start_worker(slot) {
                log::error!("pool: replacing a worker failed (retrying): {err}");
            }
        }
    }

    /// Whether the task message `seq` left the task queue (a worker that noted it and
    /// died before it left did not take it: it is still there for another).
    fn was_taken(&self, seq: u32) -> bool {
        self.tasks.gets().wrapping_sub(seq).wrapping_sub(1) < 1 << 31
    }

    /// Kills the workers and marks the pool terminated; the result thread then fails
    /// what is left and ends.
    fn terminate(&self) {
        let mut state = self.state();
        if state.phase == Phase::Terminated {
            return;
        }
        state.phase = Phase::Terminated;
        for worker in state.workers.iter().flatten() {
            let _ = worker.kill();
        }
        drop(state);
        // Wakes the result thread at once, and the callers reading results.
        self.readers.call_result_thread();
        let _ = self.results.put(&wire::notice(0), Deadline::Never);
    }

    /// On the result thread, at its end: every job not complete fails with
    /// `Terminated`, and the workers are reaped.
    fn wind_up(&self) {
        let (jobs, workers) = {
            let mut state = self.state();
            let jobs: Vec<Arc<Job>> = state.jobs.drain().map(|(_, job)| job).collect();
            let workers: Vec<Arc<Process>> =
                state.workers.iter_mut().filter_map(Option::take).collect();
            (jobs, workers)
        };
        for worker in &workers {
            let _ = worker.kill();
            let _ = worker.join(Deadline::Never);
            self.worker_context().let_go_for_worker();
        }
        for job in jobs {
            job.settle_rest(&Outcome::Terminated);
            job.finish();
        }
    }
}

/// How long a caller reading results waits at once: it then looks whether its job was
/// completed otherwise (a dead worker's task, `terminate`).
const READ_SLICE: Duration = Duration::from_millis(10);

impl ResultReader for Core {
    fn read_until(
        &self,
        done: &dyn Fn() -> bool,
        deadline: Deadline,
        interrupts: Interrupts,
    ) -> Result<()> {
        self.readers.enter();
        let outcome = loop {
            if done() || self.state().phase == Phase::Terminated {
                break Ok(());
            }
            let slice_end = Instant::now() + READ_SLICE;
            let slice = Deadline::At(match deadline {
                Deadline::At(at) => at.min(slice_end),
                Deadline::Never => slice_end,
            });
            match self.results.get_noting(slice, interrupts, |_| {}) {
                Ok(message) => self.file(message, Filer::Caller),
                Err(err) if err.kind() == ErrorKind::Empty => {
                    if deadline.remaining() == Some(Duration::ZERO) {
                        break Ok(());
                    }
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => break Err(err),
                // Anything else is the result thread's to report.
                Err(_) => break Ok(()),
            }
        };
        self.readers.leave(|| !self.state().sent.is_empty());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{c_int, c_void};

    extern "C" fn square(arg: *const c_void, len: usize, out: *mut TaskOutput) -> c_int {
        // SAFETY: the pool passes `len` readable bytes and a live output.
        let (arg, out) = unsafe {
            (
                std::slice::from_raw_parts(arg.cast::<u8>(), len),
                TaskOutput::from_ptr(out).unwrap(),
            )
        };
        let x = u64::from_ne_bytes(arg.try_into().unwrap());
        match x {
            13 => {
                out.write(b"unlucky");
                13
            }
            666 => std::process::abort(),
            _ => {
                out.write(&(x * x).to_ne_bytes());
                0
            }
        }
    }

    extern "C" fn double(input: *const c_void, output: *mut c_void, _: *const c_void) -> c_int {
        // SAFETY: the pool passes one f64 in and one out.
        unsafe { *output.cast::<f64>() = 2.0 * *input.cast::<f64>() };
        0
    }

    /// `output = input * context`, over f64s; fails with 1 without a context.
    extern "C" fn scale(
        input: *const c_void,
        output: *mut c_void,
        context: *const c_void,
    ) -> c_int {
        if context.is_null() {
            return 1;
        }
        // SAFETY: the pool passes one f64 in, one out, and the f64 context given.
        unsafe { *output.cast::<f64>() = *context.cast::<f64>() * *input.cast::<f64>() };
        0
    }

    /// A plain f64 array viewed as bytes.
    fn as_bytes(values: &mut [f64]) -> &mut [u8] {
        // SAFETY: any f64 bytes are valid u8s and any u8s valid f64 bytes.
        unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), values.len() * 8) }
    }

    fn done(outcome: &Outcome) -> Vec<u8> {
        match outcome {
            Outcome::Done(output) => output.bytes().to_vec(),
            other => panic!("{other:?}"),
        }
    }

    fn forever() -> Deadline {
        Deadline::Never
    }

    #[test]
    fn the_pool_lets_go_for_its_workers_however_they_end() {
        let inputs: Vec<[u8; 8]> = (0..6u64).map(u64::to_ne_bytes).collect();
        let items: Vec<&[u8]> = inputs.iter().map(|i| &i[..]).collect();
        // Workers replaced after each task (normal exits), or killed by terminate.
        for max_tasks_per_child in [1, 0] {
            let pool = Pool::new(Options {
                processes: 2,
                max_tasks_per_child,
                ..Options::default()
            })
            .unwrap();
            let job = pool.map_async(square, &items, Some(1), None).unwrap();
            job.with_outcomes(forever(), |_| ()).unwrap();
            let core = pool.core.clone();
            if max_tasks_per_child == 0 {
                assert_eq!(core.tasks.holders(), 3, "this process and two workers");
            }
            pool.terminate().unwrap();
            // Only this process holds the pool's objects now: they go with the pool.
            assert_eq!(core.tasks.holders(), 1);
            assert_eq!(core.results.holders(), 1);
            assert_eq!(core.slots.holders(), 1);
        }
    }

    #[test]
    fn waiting_callers_read_results_and_callbacks_stay_on_the_result_thread() {
        let pool = Pool::new(Options {
            processes: 2,
            ..Options::default()
        })
        .unwrap();
        let inputs: Vec<[u8; 8]> = (0..200u64).map(u64::to_ne_bytes).collect();
        let items: Vec<&[u8]> = inputs.iter().map(|i| &i[..]).collect();
        // Several callers at once, each waiting for jobs with and without callbacks.
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                let items = items.iter().map(|i| i.to_vec()).collect::<Vec<_>>();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let (tx, rx) = mpsc::channel();
                        let callback: Option<Callback> = (round % 2 == 0).then(|| {
                            Box::new(move |_: &Job| {
                                let name = std::thread::current().name().map(str::to_owned);
                                tx.send(name).unwrap();
                            }) as Callback
                        });
                        let with_callback = callback.is_some();
                        let job = pool.map_async(square, &items[..5], Some(1), callback);
                        let got: Vec<Vec<u8>> = job
                            .unwrap()
                            .with_outcomes(forever(), |o| o.map(done).collect())
                            .unwrap();
                        assert_eq!(got[4], 16u64.to_ne_bytes());
                        if with_callback {
                            // Ready only after its callback ran, on the result thread.
                            let ran_on = rx.try_recv().unwrap();
                            assert_eq!(ran_on.as_deref(), Some("pool-results"));
                        }
                    }
                })
            })
            .collect();
        callers.into_iter().for_each(|c| c.join().unwrap());
        // A job nobody waits for still completes (the result thread reads again).
        let (tx, rx) = mpsc::channel();
        let callback: Callback = Box::new(move |job: &Job| tx.send(job.len()).unwrap());
        pool.map_async(square, &items[..3], Some(1), Some(callback))
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 3);
    }

    #[test]
    fn apply_map_imap_and_failures() {
        let pool = Pool::new(Options {
            processes: 2,
            ..Options::default()
        })
        .unwrap();
        let job = pool.apply_async(square, &7u64.to_ne_bytes(), None).unwrap();
        let got: Vec<Vec<u8>> = job
            .with_outcomes(forever(), |o| o.map(done).collect())
            .unwrap();
        assert_eq!(got, vec![49u64.to_ne_bytes().to_vec()]);

        let inputs: Vec<[u8; 8]> = (0..1000u64).map(u64::to_ne_bytes).collect();
        let items: Vec<&[u8]> = inputs.iter().map(|i| &i[..]).collect();
        for chunksize in [None, Some(1), Some(7)] {
            let job = pool.map_async(square, &items, chunksize, None).unwrap();
            let err = job.with_outcomes(forever(), |_| ()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TaskFailed);
            let outcomes = job.outcomes();
            assert_eq!(outcomes.len(), 1000);
            assert_eq!(done(&outcomes[12]), 144u64.to_ne_bytes());
            assert!(matches!(outcomes[13], Outcome::Failed { code: 13, .. }));
        }
        let it = pool.imap(square, &items[..20], None, true).unwrap();
        for i in 0..20u64 {
            match it.next(forever()) {
                Ok(v) => assert_eq!(v, (i * i).to_ne_bytes()),
                Err(e) => assert!(i == 13 && e.kind() == ErrorKind::TaskFailed),
            }
        }
        assert_eq!(it.next(forever()).unwrap_err().kind(), ErrorKind::Stop);

        // A worker that dies fails its task only.
        let job = pool
            .apply_async(square, &666u64.to_ne_bytes(), None)
            .unwrap();
        let err = job.wait(Deadline::after(Duration::from_secs(5)));
        assert!(err.is_ok());
        let err = job.with_outcomes(forever(), |_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WorkerDied, "{err}");
        let job = pool.apply_async(square, &3u64.to_ne_bytes(), None).unwrap();
        job.wait(Deadline::after(Duration::from_secs(5))).unwrap();

        let mut input: Vec<f64> = (0..100_000).map(f64::from).collect();
        let mut output = vec![0f64; input.len()];
        let n = input.len();
        pool.map_array(
            double,
            &[],
            as_bytes(&mut input),
            8,
            as_bytes(&mut output),
            8,
            n,
            None,
        )
        .unwrap();
        assert!(output.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f64));

        pool.close().unwrap();
        let refused = pool.apply_async(square, &[0; 8], None);
        assert_eq!(refused.err().map(|e| e.kind()), Some(ErrorKind::Closed));
        pool.join().unwrap();
    }

    #[test]
    fn map_array_copies_its_context_for_each_call() {
        let pool = Pool::new(Options {
            processes: 2,
            ..Options::default()
        })
        .unwrap();
        let mut input: Vec<f64> = (0..1000).map(f64::from).collect();
        let mut output = vec![0f64; input.len()];
        let n = input.len();
        // Made after the workers: only a copy that travels with the call reaches them.
        for factor in [3.0f64, 5.0] {
            let context = factor.to_ne_bytes();
            let (inb, outb) = (as_bytes(&mut input), as_bytes(&mut output));
            pool.map_array(scale, &context, inb, 8, outb, 8, n, Some(7))
                .unwrap();
            assert!(output
                .iter()
                .enumerate()
                .all(|(i, &v)| v == factor * i as f64));
        }
        // No context: the element function gets NULL.
        let (inb, outb) = (as_bytes(&mut input), as_bytes(&mut output));
        let err = pool.map_array(scale, &[], inb, 8, outb, 8, n, None);
        assert_eq!(err.unwrap_err().kind(), ErrorKind::TaskFailed);
    }
}
