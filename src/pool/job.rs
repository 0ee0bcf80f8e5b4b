//! A job's results as they come in: the `AsyncResult` of `apply_async`/`map_async`, and
//! the iterators of `imap`/`imap_unordered`.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};

/// What a task wrote: a range of the reply message it came in, shared by the items of
/// a chunk (one allocation per chunk, not per item).
#[derive(Debug, Clone)]
pub struct Output {
    message: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Output {
    /// `bytes`, which must lie inside `message`.
    pub(super) fn within(message: &Arc<Vec<u8>>, bytes: &[u8]) -> Output {
        let start = bytes.as_ptr() as usize - message.as_ptr() as usize;
        debug_assert!(start + bytes.len() <= message.len());
        Output {
            message: message.clone(),
            start,
            end: start + bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.message[self.start..self.end]
    }
}

impl PartialEq for Output {
    fn eq(&self, other: &Output) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Output {}

/// How one item of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task returned 0 and wrote these bytes.
    Done(Output),
    /// The task returned a non-zero `code` after writing `output`.
    Failed { code: i32, output: Vec<u8> },
    /// The worker running it died (`exitcode`: its exit code, or minus the signal).
    WorkerDied { pid: i32, exitcode: i32 },
    /// The worker running it was lost, as the text says (an MPI pool's rank that ended).
    Lost(String),
    /// The pool was terminated first.
    Terminated,
}

impl Outcome {
    /// The error a caller gets for item `index` of a job that did not succeed.
    pub fn error(&self, index: usize) -> Option<Error> {
        match self {
            Outcome::Done(_) => None,
            Outcome::Failed { code, output } => Some(Error::new(
                ErrorKind::TaskFailed,
                format!(
                    "task {index} failed with code {code}: {:?}",
                    String::from_utf8_lossy(output)
                ),
            )),
            Outcome::WorkerDied { pid, exitcode } => Some(Error::new(
                ErrorKind::WorkerDied,
                format!(
                    "task {index}: its worker (pid {pid}) died running it ({})",
                    describe_exit(*exitcode)
                ),
            )),
            Outcome::Lost(why) => Some(Error::new(
                ErrorKind::WorkerDied,
                format!("task {index}: {why} while it ran the task"),
            )),
            Outcome::Terminated => Some(Error::new(
                ErrorKind::Closed,
                format!("task {index}: the pool was terminated before it ended"),
            )),
        }
    }
}

fn describe_exit(exitcode: i32) -> String {
    match exitcode {
        code if code < 0 => format!("killed by signal {}", -code),
        code => format!("exit code {code}"),
    }
}

/// What runs once when a job is complete, on the pool's result thread.
pub type Callback = Box<dyn FnOnce(&Job) + Send>;

/// The pool's results, as a waiting caller reads them (see `pool::reading`).
pub(super) trait ResultReader: Send + Sync {
    /// Reads and files results until `done()`, the deadline, or the pool's end; `Err`
    /// only for an interrupt.
    fn read_until(
        &self,
        done: &dyn Fn() -> bool,
        deadline: Deadline,
        interrupts: Interrupts,
    ) -> Result<()>;
}

/// The results of one `apply_async`, `map_async`, `imap` or `map_array` call.
pub struct Job {
    id: u64,
    state: Mutex<JobState>,
    changed: Condvar,
    /// Its pool's results, which a waiter reads itself while the pool lives.
    reader: Weak<dyn ResultReader>,
}

struct JobState {
    outcomes: Vec<Option<Outcome>>,
    /// Outcomes in so far.
    settled: usize,
    /// Indices in the order their outcomes came, for `imap_unordered` only.
    arrivals: Option<Vec<usize>>,
    callback: Option<Callback>,
    /// Made with a callback (whether it ran yet or not): only the result thread may
    /// finish the job then.
    with_callback: bool,
    /// Every outcome is in and the callback (if any) has run: as in Python, waiters
    /// see the result only after its callback.
    ready: bool,
    /// Threads asleep on `changed`: a change wakes them only if there are some (a
    /// notify is a system call even with nobody to wake).
    sleepers: usize,
}

impl JobState {
    fn all_in(&self) -> bool {
        self.settled == self.outcomes.len()
    }
}

impl Job {
    /// A job of `items` items; `arrival_order` keeps the order outcomes come in (for
    /// `imap_unordered`).
    pub(super) fn new(
        id: u64,
        items: usize,
        callback: Option<Callback>,
        arrival_order: bool,
        reader: Weak<dyn ResultReader>,
    ) -> Arc<Job> {
        Arc::new(Job {
            id,
            state: Mutex::new(JobState {
                outcomes: vec![None; items],
                settled: 0,
                arrivals: arrival_order.then(|| Vec::with_capacity(items)),
                with_callback: callback.is_some(),
                callback,
                ready: false,
                sleepers: 0,
            }),
            changed: Condvar::new(),
            reader,
        })
    }

    /// Whether the job was made with a callback, run or not.
    pub(super) fn has_callback(&self) -> bool {
        self.lock().with_callback
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcomes of items `first..`; items already settled keep theirs.
    pub(super) fn settle(&self, first: usize, outcomes: impl IntoIterator<Item = Outcome>) {
        let mut state = self.lock();
        for (index, outcome) in (first..).zip(outcomes) {
            if let Some(slot @ None) = state.outcomes.get_mut(index) {
                *slot = Some(outcome);
                state.settled += 1;
                if let Some(arrivals) = &mut state.arrivals {
                    arrivals.push(index);
                }
            }
        }
        self.wake(state);
    }

    /// After a change: wakes the sleepers, if any.
    fn wake(&self, state: MutexGuard<'_, JobState>) {
        let sleepers = state.sleepers > 0;
        drop(state);
        if sleepers {
            self.changed.notify_all();
        }
    }

    /// Settles every item not settled yet with `outcome`.
    pub(super) fn settle_rest(&self, outcome: &Outcome) {
        let n = self.lock().outcomes.len();
        self.settle(0, std::iter::repeat_n(outcome.clone(), n))
    }

    /// On the result thread, after outcomes came: once every outcome is in, runs the
    /// callback (once) and then makes the job ready. Returns whether it is.
    pub(super) fn finish(&self) -> bool {
        let callback = {
            let mut state = self.lock();
            if !state.all_in() || state.ready {
                return state.ready;
            }
            state.callback.take()
        };
        if let Some(callback) = callback {
            callback(self);
        }
        let mut state = self.lock();
        state.ready = true;
        self.wake(state);
        true
    }

    pub fn len(&self) -> usize {
        self.lock().outcomes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_ready(&self) -> bool {
        self.lock().ready
    }

    /// Whether every item succeeded; `WrongState` before the job is ready.
    pub fn successful(&self) -> Result<bool> {
        let state = self.lock();
        if !state.ready {
            return Err(Error::wrong_state("the result is not ready"));
        }
        Ok(state
            .outcomes
            .iter()
            .all(|o| matches!(o, Some(Outcome::Done(_)))))
    }

    /// Waits until the job is ready (`Timeout` at `deadline`).
    pub fn wait(&self, deadline: Deadline) -> Result<()> {
        self.wait_with(deadline, Interrupts::Honour)
    }

    pub(super) fn wait_with(&self, deadline: Deadline, interrupts: Interrupts) -> Result<()> {
        self.wait_for(deadline, interrupts, |s| s.ready).map(drop)
    }

    /// Waits until ready, then calls `f` with every outcome in order. The first item
    /// that did not succeed is the error instead.
    pub fn with_outcomes<T>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut dyn Iterator<Item = &Outcome>) -> T,
    ) -> Result<T> {
        let state = self.wait_for(deadline, Interrupts::Honour, |s| s.ready)?;
        let outcomes = || state.outcomes.iter().flatten();
        if let Some(err) = outcomes().enumerate().find_map(|(i, o)| o.error(i)) {
            return Err(err);
        }
        Ok(f(&mut outcomes()))
    }

    /// For a callback, on a complete job: every outcome, in order.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.lock().outcomes.iter().flatten().cloned().collect()
    }

    /// The `n`-th item to arrive (`ordered`: item `n`) and its index, waiting until
    /// `deadline`.
    fn nth(&self, n: usize, ordered: bool, deadline: Deadline) -> Result<(usize, Outcome)> {
        let state = self.wait_for(deadline, Interrupts::Honour, |s| match ordered {
            true => s.outcomes.get(n).is_none_or(Option::is_some),
            false => s.settled > n || n >= s.outcomes.len(),
        })?;
        let index = match ordered {
            true => n,
            false => *state
                .arrivals
                .as_ref()
                .and_then(|a| a.get(n))
                .ok_or_else(stop)?,
        };
        let outcome = state.outcomes.get(index).and_then(Clone::clone);
        Ok((index, outcome.ok_or_else(stop)?))
    }

    /// Waits until item `from` has its outcome, then calls `f` on it and on every later
    /// item that has one too (in order, under the lock), and returns the first item
    /// after them: a caller can use a map's results as they come, not only at the end.
    pub(super) fn visit_settled(
        &self,
        from: usize,
        deadline: Deadline,
        mut f: impl FnMut(usize, &Outcome),
    ) -> Result<usize> {
        let state = self.wait_for(deadline, Interrupts::Honour, |s| {
            s.outcomes.get(from).is_none_or(Option::is_some)
        })?;
        let settled = state.outcomes[from.min(state.outcomes.len())..]
            .iter()
            .map_while(Option::as_ref);
        let mut next = from;
        for outcome in settled {
            f(next, outcome);
            next += 1;
        }
        Ok(next)
    }

    /// Waits until `ready(state)`, honouring the deadline and `pc_interrupt()`. A waiter
    /// for a job of one item (`apply`) reads the pool's results itself while its pool
    /// lives: one hand-off fewer. A larger job's results are filed by the result thread
    /// while the waiter uses those already in, side by side.
    fn wait_for(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
        ready: impl Fn(&JobState) -> bool,
    ) -> Result<MutexGuard<'_, JobState>> {
        let mut state = self.lock();
        if !ready(&state) && deadline.remaining() != Some(Duration::ZERO) {
            let one_item = state.outcomes.len() == 1;
            drop(state);
            match self.reader.upgrade() {
                Some(reader) if one_item => {
                    reader.read_until(&|| ready(&self.lock()), deadline, interrupts)?
                }
                // A result often comes within microseconds: give the CPU away a few
                // times before sleeping, so that it costs no futex wake-up on this side.
                _ => {
                    deadline::yield_until(deadline, YIELD_CHECKS, || ready(&self.lock()));
                }
            }
            state = self.lock();
        }
        loop {
            if ready(&state) {
                return Ok(state);
            }
            let slice =
                deadline::next_slice(deadline, interrupts).map_err(|err| match err.kind() {
                    ErrorKind::Timeout => Error::new(ErrorKind::Timeout, "the result is not ready"),
                    _ => err,
                })?;
            state.sleepers += 1;
            state = self
                .changed
                .wait_timeout(state, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.sleepers -= 1;
        }
    }
}

/// Checks a waiter makes, yielding the CPU between them, before it sleeps.
const YIELD_CHECKS: u32 = 50;

#[cold]
fn stop() -> Error {
    Error::new(ErrorKind::Stop, "no more results")
}

/// The iterator of `imap` (in order) or `imap_unordered` (as results come).
pub struct ResultIter {
    job: Arc<Job>,
    ordered: bool,
    next: Mutex<usize>,
}

impl ResultIter {
    pub(super) fn new(job: Arc<Job>, ordered: bool) -> Arc<ResultIter> {
        Arc::new(ResultIter {
            job,
            ordered,
            next: Mutex::new(0),
        })
    }

    /// The next result, waiting until `deadline` (`Timeout`); `Stop` after the last. An
    /// item that failed is its error, and the iterator moves past it.
    pub fn next(&self, deadline: Deadline) -> Result<Vec<u8>> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let n = *next;
        if n >= self.job.len() {
            return Err(stop());
        }
        let (index, outcome) = self.job.nth(n, self.ordered, deadline)?;
        *next = n + 1;
        match outcome {
            Outcome::Done(output) => Ok(output.bytes().to_vec()),
            failed => Err(failed.error(index).expect("not Done")),
        }
    }
}
