//! The pool's result thread ("pool-results", one per pool) and the filing of results.
//!
//! It owns everything that happens after a task message was put: it reads the result
//! queue and files each result with its job, runs callbacks, and watches the workers. A
//! worker notes in shared memory which task message it takes, at the moment it takes it
//! (see `worker`), so when a worker dies — killed, crashed, or `_exit` in a task — this
//! thread fails exactly that task with `WorkerDied`, starts a replacement, and every other
//! task still runs. No call waits on a dead worker.
//!
//! It is a thread, not work done by the callers, because something must be awake while no
//! caller waits: a job with a callback completes without anybody waiting for it, and a
//! dead worker is replaced whether a caller waits or not. It also starts the workers: a
//! daemonic child gets `PR_SET_PDEATHSIG` from the thread that forked it, and this thread
//! lives as long as the pool. A caller waiting for a one-item job reads and files results
//! itself with the same code here (see `reading`).

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::exec::{self, WorkerStart};
use super::job::{Job, Outcome, Output, ResultReader};
use super::mpi::bridge::{self, Link};
use super::reading::PARKED_WITH_WORK;
use super::wire::{self, Reply};
use super::worker;
use super::{Core, Phase, Sent, Workers};
use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use crate::start::StartMethod;

/// How often the result thread looks for workers that ended, at most.
const CHECK_WORKERS: Duration = Duration::from_millis(50);
/// The same once the pool is closed: `join` waits for the workers to see their stop
/// messages and end, which this thread notices only when it checks.
const CHECK_CLOSING: Duration = Duration::from_millis(1);

/// Who files a result: callbacks run on the result thread only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Filer {
    ResultThread,
    Caller,
}

/// Starts a new pool's result thread: it starts the workers, sends on `started` whether
/// they all started, then serves the pool until its end.
///
/// An MPI pool's claim on the worker ranks is let go once its bridges ended.
pub(super) fn spawn(
    core: Arc<Core>,
    started: mpsc::Sender<Result<()>>,
    claim: Option<crate::mpi::Claim>,
) -> Result<JoinHandle<()>> {
    crate::sys::thread::spawn("pool-results", move || {
        let workers = (0..core.options.processes).try_for_each(|slot| core.start_worker(slot));
        let ok = workers.is_ok();
        let _ = started.send(workers);
        if ok {
            core.serve();
        } else {
            core.state().phase = Phase::Terminated;
        }
        core.wind_up();
        drop(claim);
    })
    .map_err(|e| Error::os("starting the pool's result thread", e))
}

impl Core {
    /// What a new worker is given: the pool's shared objects and how it starts.
    fn worker_context(&self) -> worker::Context {
        worker::Context {
            tasks: self.tasks.clone(),
            results: self.results.clone(),
            slots: self.slots.clone(),
            arena: self.arena.clone(),
            initializer: self.options.initializer.clone(),
            max_tasks: self.options.max_tasks_per_child,
            threads: self.on_threads(),
            terminated: self.terminated.clone(),
            signal_mask: self.signal_mask,
        }
    }

    /// Starts the worker of `slot` (on the result thread): a process, or in a thread pool
    /// a dummy process (a thread).
    fn start_worker(&self, slot: usize) -> Result<()> {
        let context = self.worker_context();
        let method = self.options.start_method.unwrap_or(StartMethod::Fork);
        let worker = match (self.options.workers, method) {
            (Workers::Threads, _) => {
                Process::new_thread(Some(Box::new(move || worker::run(&context, slot))))
            }
            (Workers::MpiRanks, _) => {
                let (world, tag) = self.mpi.expect("an MPI pool has its job");
                let rank = slot as i32 + 1;
                if world.ended(rank) {
                    return Err(Error::new(
                        ErrorKind::WorkerDied,
                        format!("MPI rank {rank} ended"),
                    ));
                }
                let link = Link { world, rank, tag };
                Process::new_thread(Some(Box::new(move || bridge::run(&context, slot, &link))))
            }
            (Workers::Processes, StartMethod::Fork) => {
                Process::new(Some(Box::new(move || worker::run(&context, slot))))
            }
            (Workers::Processes, _) => {
                let start = WorkerStart { context, slot };
                let worker = Process::new_entry(exec::run_worker, Arc::new(start));
                worker.set_start_method(Some(method))?;
                worker
            }
        };
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
            let every = match self.state().phase {
                Phase::Running => CHECK_WORKERS,
                _ => CHECK_CLOSING,
            };
            let deadline = checked + every;
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
                    Ok(message) => {
                        self.file(message, Filer::ResultThread);
                        // A caller may have started reading while this thread waited, and
                        // sleep on the queue for a result this thread just filed: wake it.
                        if self.readers.callers_read() {
                            let _ = self.results.put(&wire::notice(0), Deadline::Never);
                        }
                    }
                    Err(err) if err.kind() == ErrorKind::Empty => {}
                    Err(err) => {
                        log::error!("pool: reading results failed: {err}");
                        std::thread::sleep(CHECK_WORKERS);
                    }
                }
            }
            if checked.elapsed() >= every {
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
                if let Some(job) = self.answered(seq, job) {
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
            Ok(Reply::Died {
                seq,
                job,
                first,
                count,
                why,
            }) => {
                if let Some(job) = self.answered(seq, job) {
                    let lost = Outcome::Lost(String::from_utf8_lossy(why).into_owned());
                    job.settle(first as usize, std::iter::repeat_n(lost, count as usize));
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

    /// The task message `seq` was answered: it is no longer out; its job, if not complete.
    fn answered(&self, seq: u32, job: u64) -> Option<Arc<Job>> {
        let mut state = self.state();
        state.sent.remove(&seq);
        state.jobs.get(&job).cloned()
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
        let unserved = {
            let state = self.state();
            self.mpi.is_some()
                && state.phase == Phase::Running
                && state.workers.iter().all(Option::is_none)
        };
        if unserved {
            self.fail_unserved();
        }
    }

    /// In an MPI pool whose every rank ended: the task messages in the queue, which no
    /// worker will take, fail (checked again as long as the pool runs, for new ones).
    fn fail_unserved(&self) {
        let mut seq = 0;
        while self
            .tasks
            .get_noting(Deadline::At(Instant::now()), Interrupts::Ignore, |place| {
                seq = place
            })
            .is_ok()
        {
            let sent = self.state().sent.remove(&seq);
            if let Some(chunk) = sent {
                self.settle_unanswered(chunk, Outcome::Lost("every MPI worker rank ended".into()));
            }
        }
    }

    /// Settles every item of a task message that will never be answered with `outcome`.
    fn settle_unanswered(&self, sent: Sent, outcome: Outcome) {
        let Sent::Chunk { job, first, count } = sent else {
            return;
        };
        let job = self.state().jobs.get(&job).cloned();
        if let Some(job) = job {
            job.settle(first, std::iter::repeat_n(outcome, count));
            self.finish(&job, Filer::ResultThread);
            // A caller reading the results may wait for this job: a notice wakes it.
            if self.readers.callers_read() {
                let _ = self.results.put(&wire::notice(job.id()), Deadline::Never);
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
            Some(chunk) => {
                // Killed by `terminate`: the task ended with the pool, not by itself.
                let died = match phase {
                    Phase::Terminated => Outcome::Terminated,
                    _ => Outcome::WorkerDied { pid, exitcode },
                };
                self.settle_unanswered(chunk, died);
            }
            None => {}
        }
        if exitcode == bridge::EXIT_RANK_ENDED {
            log::warn!(
                "pool: MPI rank {} ended; the pool goes on without it",
                slot + 1
            );
        } else if phase != Phase::Terminated {
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

    /// On the result thread, at its end: every job not complete fails with
    /// `Terminated`, and the workers are reaped (worker threads are waited for: the tasks
    /// they run end first).
    fn wind_up(&self) {
        let (jobs, workers) = {
            let mut state = self.state();
            let jobs: Vec<Arc<Job>> = state.jobs.drain().map(|(_, job)| job).collect();
            let workers: Vec<Arc<Process>> =
                state.workers.iter_mut().filter_map(Option::take).collect();
            (jobs, workers)
        };
        for job in jobs {
            job.settle_rest(&Outcome::Terminated);
            job.finish();
        }
        for worker in &workers {
            if !self.on_threads() {
                let _ = worker.kill();
            }
            let _ = worker.join(Deadline::Never);
            self.worker_context().let_go_for_worker();
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
