//! `Pool`: worker processes running C task functions, with async results, iterators and
//! a zero-copy map over arrays; or, in a thread pool (Python's `ThreadPool`), worker
//! threads of this process running the same worker loop over the same queues.
//!
//! Tasks go to the workers through one shared `LocalQueue` and results come back through
//! another. This module is the pool's API: it makes the pool, registers jobs and puts
//! their task messages. Everything after that (filing results, callbacks, dead workers)
//! is the result thread's, in `results`; the stages of `map_array` are in `array`.

mod array;
mod exec;
mod job;
pub(crate) mod mpi;
mod reading;
mod results;
pub(crate) mod wire;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

pub use job::{Callback, Job, Outcome, Output, ResultIter};
pub use worker::{ElementFn, InitFn, TaskFn, TaskOutput, MAX_WORKERS};

use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, Argument, Process};
use crate::queue::LocalQueue;
use crate::shared::Shared;
use crate::start::StartMethod;
use crate::sys::process as os;
use crate::sys::signal::Mask;
use array::ArrayCall;
use job::ResultReader;
use reading::Readers;
use worker::{Arena, Slots};

/// How a pool is made.
#[derive(Clone, Default)]
pub struct Options {
    /// Worker processes; 0: the CPU count.
    pub processes: usize,
    /// Runs in each worker, with its argument, before its first task. A pointer means
    /// something only in workers forked from this process.
    pub initializer: Option<(InitFn, Argument)>,
    /// A worker is replaced after this many task messages; 0: never.
    pub max_tasks_per_child: usize,
    /// How the workers start; `None`: the process's default when the pool is made.
    pub start_method: Option<StartMethod>,
    /// Where the tasks run.
    pub workers: Workers,
}

/// Where a pool's tasks run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Workers {
    /// In worker processes, children of this one.
    #[default]
    Processes,
    /// On threads of this process (dummy processes): Python's `ThreadPool`.
    Threads,
    /// In the other ranks of the MPI job this process is rank 0 of (`pool::mpi`).
    MpiRanks,
}

/// A pool of worker processes (or threads). Only the process that made it may use it.
pub struct Pool {
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
    /// Set by `terminate`, for worker threads (see `worker::Context`).
    terminated: Arc<AtomicBool>,
    state: Mutex<State>,
    readers: Readers,
    /// An MPI pool's job and tag (`pool::mpi`).
    mpi: Option<(&'static crate::mpi::World, i32)>,
}

impl Core {
    /// Whether the workers run on threads of this process: a thread pool's, and an MPI
    /// pool's bridges. They cannot be killed; they see the pool's terminated flag.
    fn on_threads(&self) -> bool {
        self.options.workers != Workers::Processes
    }

    /// How a task message names `function` (a `TaskFn` or `ElementFn` of this program):
    /// by address for workers forked from this process, else by module and offset.
    fn function(&self, function: usize) -> Result<wire::Function<Vec<u8>>> {
        match located(&self.options) {
            false => Ok(wire::Function::Address(function)),
            true => {
                let code = crate::sys::code::locate(function)
                    .map_err(|e| Error::os("locating the task function", e))?;
                Ok(wire::Function::Located(
                    code.module.into_bytes(),
                    code.offset,
                ))
            }
        }
    }
}

impl Pool {
    /// Starts a pool of `options.processes` workers (0: the CPU count).
    pub fn new(mut options: Options) -> Result<Arc<Pool>> {
        if options.processes > MAX_WORKERS {
            return Err(Error::invalid_argument(format!(
                "processes {} is more than {MAX_WORKERS}",
                options.processes
            )));
        }
        let claim = match options.workers {
            Workers::MpiRanks => Some(mpi_ranks(&mut options)?),
            _ => None,
        };
        if options.processes == 0 {
            options.processes = process::cpu_count().max(1) as usize;
        }
        let start_method = options
            .start_method
            .unwrap_or_else(crate::start::default_method);
        options.start_method = Some(start_method);
        if located(&options) {
            if let Some((_, Argument::Pointer(arg))) = &options.initializer {
                if !arg.is_null() {
                    let workers = match claim {
                        Some(_) => "an MPI rank".to_owned(),
                        None => format!("a worker started by {}", start_method.name()),
                    };
                    return Err(Error::new(
                        ErrorKind::NotSupported,
                        format!(
                            "the initializer's argument is a pointer, which means nothing in \
                             {workers}: give its length to copy its bytes"
                        ),
                    ));
                }
            }
        }
        let processes = options.processes;
        let core = Arc::new(Core {
            tasks: Arc::new(LocalQueue::new(0)?),
            results: Arc::new(LocalQueue::new(0)?),
            slots: Arc::new(Slots::new()?),
            arena: Arc::new(Arena::new()?),
            arena_user: Mutex::new(()),
            options,
            signal_mask: Mask::current(),
            terminated: Arc::new(AtomicBool::new(false)),
            state: Mutex::new(State {
                phase: Phase::Running,
                next_job: 1,
                jobs: HashMap::new(),
                sent: HashMap::new(),
                workers: vec![None; processes],
                started: 0,
            }),
            readers: Readers::default(),
            mpi: claim.as_ref().map(|(claim, tag)| (claim.world(), *tag)),
        });
        let (started_tx, started_rx) = mpsc::channel();
        let thread = results::spawn(core.clone(), started_tx, claim.map(|(claim, _)| claim))?;
        let pool = Arc::new(Pool {
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
        let function = self.core.function(function as usize)?;
        self.core
            .submit(1, callback, false, |job| {
                std::iter::once((
                    wire::items(job, 0, &function, &[arg]),
                    Sent::Chunk {
                        job,
                        first: 0,
                        count: 1,
                    },
                ))
            })
            .map_err(|not| not.error)
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

    /// Runs `function` on every item as `map_async` does and waits: the outputs in order,
    /// copied out chunk by chunk as they come while the workers run the later chunks. A
    /// failing task does not stop the others; the first failure is the error, once every
    /// item ended.
    pub fn map(
        &self,
        function: TaskFn,
        items: &[impl AsRef<[u8]>],
        chunksize: Option<usize>,
    ) -> Result<Vec<Vec<u8>>> {
        let job = self.map_async(function, items, chunksize, None)?;
        let mut outputs = Vec::with_capacity(items.len());
        let mut failure = None;
        let mut next = 0;
        while next < items.len() {
            next = job.visit_settled(next, Deadline::Never, |i, outcome| match outcome {
                Outcome::Done(output) => outputs.push(output.bytes().to_vec()),
                failed => failure = failure.take().or_else(|| failed.error(i)),
            })?;
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(outputs),
        }
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
        let function = self.core.function(function as usize)?;
        let chunksize = self.chunksize(items.len(), chunksize)?;
        self.core
            .submit(items.len(), callback, arrival_order, |job| {
                items.chunks(chunksize).enumerate().map(move |(c, chunk)| {
                    let first = c * chunksize;
                    let message = wire::items(job, first as u64, &function, chunk);
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
            .map_err(|not| not.error)
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
        let chunksize = self.array_chunksize(n, chunksize)?;
        if n == 0 {
            return Ok(());
        }
        let call = ArrayCall {
            function,
            context,
            input,
            in_size,
            output,
            out_size,
            n,
            chunksize,
        };
        call.run(&self.core)
    }

    /// `map_array`'s chunksize: by default small chunks (about 32 per worker), so that a
    /// worker that starts late or runs slower leaves the others at most one small chunk
    /// to wait for.
    fn array_chunksize(&self, n: usize, chunksize: Option<usize>) -> Result<usize> {
        match chunksize {
            None => Ok(n.div_ceil(32 * self.processes()).max(1)),
            Some(_) => self.chunksize(n, chunksize),
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
        drop(state);
        // The result thread looks for ended workers more often from now on: wake it from
        // the longer wait it may be in, parked or reading.
        self.core.readers.call_result_thread();
        self.core.results.put(&wire::notice(0), Deadline::Never)
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

/// Whether the workers name functions by module and offset: they are not forks of this
/// process (spawn, forkserver, MPI ranks).
fn located(options: &Options) -> bool {
    options.workers == Workers::MpiRanks
        || !matches!(options.start_method, Some(StartMethod::Fork) | None)
}

/// An MPI pool's options checked against the job, and its claim on the worker ranks with
/// its tag: `processes` 0 becomes every worker rank.
fn mpi_ranks(options: &mut Options) -> Result<(crate::mpi::Claim, i32)> {
    if options.max_tasks_per_child != 0 {
        return Err(Error::new(
            ErrorKind::NotSupported,
            "max_tasks_per_child: an MPI rank is not replaced",
        ));
    }
    let world = crate::mpi::world()?;
    let ranks = (world.size() - 1) as usize;
    options.processes = match options.processes {
        0 => ranks.min(MAX_WORKERS),
        n if n > ranks => {
            return Err(Error::invalid_argument(format!(
                "processes {n} is more than the MPI job's {ranks} worker ranks"
            )))
        }
        n => n,
    };
    world.claim()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A job that could not be submitted whole: why, and the job when some of its messages
/// were put before that (those still run; the rest failed).
pub(super) struct NotSubmitted {
    pub(super) error: Error,
    pub(super) partly: Option<Arc<Job>>,
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
    ) -> std::result::Result<Arc<Job>, NotSubmitted>
    where
        M: Iterator<Item = (Vec<u8>, Sent)>,
    {
        let mut state = self.state();
        if state.phase != Phase::Running {
            return Err(NotSubmitted {
                error: Error::new(ErrorKind::Closed, "the pool is closed or terminated"),
                partly: None,
            });
        }
        let id = state.next_job;
        state.next_job += 1;
        let reader: Weak<dyn ResultReader> = Arc::downgrade(self) as Weak<Core>;
        let job = Job::new(id, items, callback, arrival_order, reader);
        if items == 0 {
            // Complete at once; its callback still runs on the result thread.
            state.jobs.insert(id, job.clone());
            if let Err(error) = self.results.put(&wire::notice(id), Deadline::Never) {
                return Err(NotSubmitted {
                    error,
                    partly: None,
                });
            }
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
                    return Err(NotSubmitted {
                        error: err,
                        partly: Some(job),
                    });
                }
            }
        }
        Ok(job)
    }

    /// Kills the workers and marks the pool terminated; the result thread then fails
    /// what is left and ends. Worker threads cannot be killed: they are told to take no
    /// more tasks, and woken by a `Stop` each.
    fn terminate(&self) {
        let mut state = self.state();
        if state.phase == Phase::Terminated {
            return;
        }
        state.phase = Phase::Terminated;
        self.terminated.store(true, SeqCst);
        for worker in state.workers.iter().flatten() {
            match self.on_threads() {
                true => {
                    let _ = self.tasks.put(&wire::stop(), Deadline::Never);
                }
                false => {
                    let _ = worker.kill();
                }
            }
        }
        drop(state);
        // Wakes the result thread at once, and the callers reading results.
        self.readers.call_result_thread();
        let _ = self.results.put(&wire::notice(0), Deadline::Never);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{c_int, c_void};
    use std::time::Duration;

    extern "C" fn square(arg: *const c_void, len: usize, out: *mut TaskOutput) -> c_int {
        // SAFETY: the pool passes `len` readable bytes.
        let arg = unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), len) };
        let x = u64::from_ne_bytes(arg.try_into().unwrap());
        match x {
            13 => {
                assert!(TaskOutput::write(out, b"unlucky"));
                13
            }
            666 => std::process::abort(),
            _ => {
                assert!(TaskOutput::write(out, &(x * x).to_ne_bytes()));
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
        let got = pool.map(square, &items[..5], Some(2)).unwrap();
        assert_eq!(got[4], 16u64.to_ne_bytes());
        let err = pool.map(square, &items[..20], Some(3)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TaskFailed);
        assert!(
            err.message().starts_with("task 13 failed with code 13"),
            "{err}"
        );
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

    /// Sleeps the milliseconds in its argument, then writes its thread's id.
    extern "C" fn nap(arg: *const c_void, len: usize, out: *mut TaskOutput) -> c_int {
        // SAFETY: the pool passes `len` readable bytes.
        let arg = unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), len) };
        std::thread::sleep(Duration::from_millis(u64::from_ne_bytes(
            arg.try_into().unwrap(),
        )));
        let me = crate::sys::thread::current_id();
        assert!(TaskOutput::write(out, &me.to_ne_bytes()));
        0
    }

    #[test]
    fn a_thread_pool_runs_tasks_on_threads_and_terminate_waits_for_them() {
        let pool = Pool::new(Options {
            processes: 3,
            workers: Workers::Threads,
            ..Options::default()
        })
        .unwrap();
        let inputs: Vec<[u8; 8]> = (0..600u64).map(u64::to_ne_bytes).collect();
        let items: Vec<&[u8]> = inputs.iter().map(|i| &i[..]).collect();
        let got = pool.map(square, &items[..12], Some(1)).unwrap();
        assert_eq!(got[11], 121u64.to_ne_bytes());
        let job = pool.map_async(square, &items, Some(7), None).unwrap();
        assert_eq!(
            job.with_outcomes(forever(), |_| ()).unwrap_err().kind(),
            ErrorKind::TaskFailed
        );
        assert_eq!(done(&job.outcomes()[599]), (599u64 * 599).to_ne_bytes());
        // The workers are threads of this process, sharing its holds.
        let core = pool.core.clone();
        assert_eq!(core.tasks.holders(), 1);
        let workers: Vec<Arc<Process>> = core.state().workers.iter().flatten().cloned().collect();
        assert_eq!(workers.len(), 3);
        assert!(workers
            .iter()
            .all(|w| w.on_thread() && w.daemon() && w.pid() == os::getpid()));
        // Three tasks run (on three threads other than this one), three more wait.
        let naps: Vec<[u8; 8]> = vec![300u64.to_ne_bytes(); 6];
        let naps: Vec<&[u8]> = naps.iter().map(|i| &i[..]).collect();
        let job = pool.map_async(nap, &naps, Some(1), None).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        pool.terminate().unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited for the tasks"
        );
        assert!(workers.iter().all(|w| !w.is_alive()));
        let outcomes = job.outcomes();
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Terminated)));
        assert_eq!(core.tasks.holders(), 1);
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
