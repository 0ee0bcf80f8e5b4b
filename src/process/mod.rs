//! `Process`: a child process running a target function, with the seed's lifecycle
//! (start, join, is_alive, exit code, terminate) and its naming, daemon and authkey rules;
//! or, for a dummy process, a thread of this process running it (`thread`).

mod current;
mod registry;
mod thread;

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

pub use current::{current, current_arc};
pub(crate) use registry::{before_fork, shutdown_children, ForkGuard};
pub(crate) use thread::join_at_exit as join_threads_at_exit;

use crate::deadline::{self, Deadline};
use crate::error::{Error, Result};
use crate::ffi::handle::HandleCell;
use crate::sys::child::Watch;
use crate::sys::fork::{self, Forked};
use crate::sys::process as os;
use thread::Watched;

/// What a child runs: its return value is the child's exit code.
pub type Target = Box<dyn Fn() -> i32 + Send + Sync>;

/// Length of the random authkey of the main process.
const AUTHKEY_LEN: usize = 32;

/// A process object, shared by `Arc`: the creator's handle, the children registry and, in
/// the child itself, the current-process pointer all refer to the same object.
pub struct Process {
    /// The handle C knows this object by (the creator's, or one the library lends), for
    /// the C boundary to hand out again (`pc_active_children`, `pc_current_process`).
    handle: HandleCell,
    target: Option<Target>,
    /// `[]` for the main process, the parent's identity plus this child's number otherwise.
    identity: Vec<u32>,
    /// The process that created this object: the only one allowed to start, join or query it.
    creator: libc::pid_t,
    /// A dummy process: its target runs on a thread of the creator (see `thread`).
    on_thread: bool,
    state: Mutex<State>,
}

struct State {
    name: CString,
    daemon: bool,
    authkey: Vec<u8>,
    run: Run,
}

enum Run {
    Initial,
    Running {
        pid: libc::pid_t,
        child: Watched,
    },
    Ended {
        pid: libc::pid_t,
        child: Watched,
        exitcode: i32,
    },
}

impl Process {
    /// A new, unstarted child of the current process, named `Process-N` (`Process-N:M` in a
    /// child), inheriting the current process's authkey and daemon flag. `None` runs nothing.
    pub fn new(target: Option<Target>) -> Arc<Process> {
        crate::lifecycle::install();
        registry::reap_ended();
        let number = registry::lock().take_number();
        Process::with_number(target, number, false)
    }

    /// A new, unstarted child numbered `number`: a dummy process (`Dummy-N`) if
    /// `on_thread`, else a process (`Process-N`, `Process-N:M` in a child).
    fn with_number(target: Option<Target>, number: u32, on_thread: bool) -> Arc<Process> {
        let parent = current();
        let mut identity = parent.identity.clone();
        identity.push(number);
        let name = match on_thread {
            true => format!("Dummy-{number}"),
            false => format!(
                "Process-{}",
                identity
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(":")
            ),
        };
        let parent_state = parent.lock();
        Arc::new(Process {
            handle: HandleCell::new(),
            target,
            identity,
            creator: os::getpid(),
            on_thread,
            state: Mutex::new(State {
                name: CString::new(name).expect("generated names have no NUL"),
                daemon: parent_state.daemon,
                authkey: parent_state.authkey.clone(),
                run: Run::Initial,
            }),
        })
    }

    /// The "MainProcess" object, with a fresh random authkey.
    fn main() -> Process {
        let mut authkey = vec![0u8; AUTHKEY_LEN];
        if let Err(err) = getrandom::fill(&mut authkey) {
            // Without an OS random source there is no safe key: connections that need one
            // will fail to authenticate rather than use a guessable key. (Not through `log`:
            // its handler asks for the current process, which is being made here.)
            let message = format!("libprocessing: no random bytes for the authkey: {err}\n");
            let _ = crate::sys::io::write_stderr(message.as_bytes());
        }
        Process {
            handle: HandleCell::new(),
            target: None,
            identity: Vec::new(),
            creator: os::getpid(),
            on_thread: false,
            state: Mutex::new(State {
                name: CString::new("MainProcess").unwrap(),
                daemon: false,
                authkey,
                run: Run::Initial,
            }),
        }
    }

    /// The handle C knows this object by (see the field).
    pub(crate) fn handle(&self) -> &HandleCell {
        &self.handle
    }

    /// Locks the state; poisoning is ignored (no update panics halfway).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The name, as a C string that stays valid until the name changes.
    pub fn name(&self) -> *const libc::c_char {
        self.lock().name.as_ptr()
    }

    pub fn name_string(&self) -> String {
        self.lock().name.to_string_lossy().into_owned()
    }

    pub fn set_name(&self, name: &str) -> Result<()> {
        let name =
            CString::new(name).map_err(|_| Error::invalid_argument("name contains a NUL byte"))?;
        self.lock().name = name;
        Ok(())
    }

    pub fn daemon(&self) -> bool {
        self.lock().daemon
    }

    /// Sets the daemon flag; only before `start`.
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        let mut state = self.lock();
        if !matches!(state.run, Run::Initial) || self.is_current() {
            return Err(Error::wrong_state(format!(
                "{}: the daemon flag can only be set before start",
                state.name.to_string_lossy()
            )));
        }
        state.daemon = daemon;
        Ok(())
    }

    /// The authkey, copied.
    pub fn authkey(&self) -> Vec<u8> {
        self.lock().authkey.clone()
    }

    /// The authkey in place: valid until the next `set_authkey` or the object's end.
    pub fn authkey_raw(&self) -> (*const u8, usize) {
        let state = self.lock();
        (state.authkey.as_ptr(), state.authkey.len())
    }

    pub fn set_authkey(&self, key: &[u8]) {
        self.lock().authkey = key.to_vec();
    }

    /// Runs the target in the calling process, like Python's `run()`; 0 without a target.
    pub fn run(&self) -> i32 {
        self.target.as_ref().map_or(0, |target| target())
    }

    fn is_current(&self) -> bool {
        current::is_current(self)
    }

    /// Fails unless the calling process created this object and it is not the caller itself.
    fn check_parent(&self, state: &State, verb: &str) -> Result<()> {
        let name = state.name.to_string_lossy();
        if self.is_current() {
            return Err(Error::wrong_state(format!(
                "{name} is the current process: cannot {verb} it"
            )));
        }
        if self.identity.is_empty() {
            return Err(Error::wrong_state(format!(
                "{name} is not a child process: cannot {verb} it"
            )));
        }
        if self.creator != os::getpid() {
            return Err(Error::wrong_state(format!(
                "only the process that created {name} may {verb} it"
            )));
        }
        Ok(())
    }

    /// Starts the child: forks, and runs the target in it (a dummy process: runs it on a
    /// new thread).
    pub fn start(self: &Arc<Self>) -> Result<()> {
        let state = self.lock();
        self.check_parent(&state, "start")?;
        if !matches!(state.run, Run::Initial) {
            return Err(Error::wrong_state(format!(
                "{}: cannot start a process twice",
                state.name.to_string_lossy()
            )));
        }
        if self.on_thread {
            return thread::start(self, state);
        }
        if current().daemon() {
            return Err(Error::wrong_state(
                "a daemonic process is not allowed to have children",
            ));
        }
        fork::flush_stdio();
        let parent = os::getpid();
        let watch = Watch::prepare().map_err(|e| Error::os("socketpair", e))?;
        // The fork handlers (crate::lifecycle) take the library's locks around the fork and reset
        // the child's copy of the parent's state.
        match fork::fork().map_err(|e| Error::os("fork", e))? {
            Forked::Child => {
                watch.in_child();
                let daemon = state.daemon;
                drop(state);
                current::become_current(self);
                self.bootstrap(daemon, parent)
            }
            Forked::Parent(pid) => {
                let child = match watch.in_parent(pid) {
                    Ok(child) => child,
                    Err(err) => {
                        crate::sys::child::kill_and_reap(pid);
                        return Err(Error::os("pidfd_open", err));
                    }
                };
                self.started(state, pid, Watched::Forked(child));
                Ok(())
            }
        }
    }

    /// After `start` made the child (or the thread) `child`: records it and lists it.
    fn started(self: &Arc<Self>, mut state: MutexGuard<'_, State>, pid: i32, child: Watched) {
        let name = state.name.to_string_lossy().into_owned();
        state.run = Run::Running { pid, child };
        drop(state);
        registry::reap_ended();
        let listed = registry::lock().add(self.clone());
        // No lock is held while logging: a log handler may call back into the library.
        log::debug!("started {name} (pid {pid})");
        if let Err(err) = listed {
            // Started all the same; it is reaped by the calls that reap.
            log::warn!("{err}");
        }
    }

    /// The child's side of `start`: never returns.
    fn bootstrap(&self, daemon: bool, parent: libc::pid_t) -> ! {
        if daemon && !fork::set_parent_death_signal(libc::SIGKILL, parent) {
            // The parent died between fork and prctl: a daemonic child must not outlive it.
            crate::lifecycle::at_child_exit();
            fork::exit_now(1);
        }
        log::info!("child process calling self.run()");
        let code = catch_unwind(AssertUnwindSafe(|| self.run())).unwrap_or_else(|_| {
            log::error!("the target of {} panicked", self.name_string());
            1
        });
        crate::lifecycle::at_child_exit();
        log::info!("process exiting with exitcode {code}");
        fork::exit_now(code)
    }

    /// Reaps the child if it ended; true once it has. The exit code is recorded here.
    fn try_reap(&self) -> Result<bool> {
        let mut state = self.lock();
        let (pid, child) = match &state.run {
            Run::Initial => return Ok(false),
            Run::Ended { .. } => return Ok(true),
            Run::Running { pid, child } => (*pid, child),
        };
        let Some(exitcode) = child.try_reap().map_err(|e| Error::os("waitid", e))? else {
            return Ok(false);
        };
        let Run::Running { child, .. } = std::mem::replace(&mut state.run, Run::Initial) else {
            unreachable!("matched Running above")
        };
        state.run = Run::Ended {
            pid,
            child,
            exitcode,
        };
        let name = state.name.to_string_lossy().into_owned();
        drop(state);
        log::debug!("{name} (pid {pid}) ended with exitcode {exitcode}");
        Ok(true)
    }

    /// The sentinel (see [`Process::sentinel`]) of a started child not reaped yet.
    fn running_sentinel(&self) -> Option<BorrowedFd<'_>> {
        match &self.lock().run {
            Run::Running { child, .. } => {
                // SAFETY: the fd stays open while `self` lives (it moves to Ended, never closes).
                Some(unsafe { BorrowedFd::borrow_raw(child.fd().as_raw_fd()) })
            }
            _ => None,
        }
    }

    /// The owner of this object's handle lets go of it: if the child still has to be
    /// reaped, a library thread will do it as soon as it ends.
    pub fn abandon(&self) -> Result<()> {
        registry::lock().abandon(self)
    }

    /// Waits until the child ends or `deadline` passes (`Timeout`); `Interrupted` by
    /// `pc_interrupt()`. May be called many times.
    pub fn join(&self, deadline: Deadline) -> Result<()> {
        let (sentinel, name) = {
            let state = self.lock();
            self.check_parent(&state, "join")?;
            let name = state.name.to_string_lossy().into_owned();
            match &state.run {
                Run::Initial => {
                    return Err(Error::wrong_state(format!(
                        "{name}: can only join a started process"
                    )))
                }
                Run::Running { child, .. } | Run::Ended { child, .. } => {
                    (child.fd().as_raw_fd(), name)
                }
            }
        };
        // Once started, the sentinel moves from Running to Ended but stays open until the
        // process object is dropped, which cannot happen while `self` is borrowed.
        deadline::block_until(
            deadline,
            || self.try_reap(),
            |slice| {
                crate::sys::poll::poll(&[sentinel], libc::POLLIN, slice, None)
                    .map(drop)
                    .map_err(|e| Error::os("poll(sentinel)", e))
            },
        )
        .map_err(|e| e.context(format!("join {name}")))?;
        registry::forget(self);
        Ok(())
    }

    /// Whether the child runs now (reaping it if it ended); true for the current process.
    pub fn is_alive(&self) -> bool {
        if self.is_current() {
            return true;
        }
        if self.creator != os::getpid() {
            return false;
        }
        let started = !matches!(self.lock().run, Run::Initial);
        started && !self.try_reap().unwrap_or(true)
    }

    /// The pid: the OS's for the current process, 0 before start.
    pub fn pid(&self) -> i32 {
        if self.is_current() {
            return os::getpid();
        }
        match &self.lock().run {
            Run::Initial => 0,
            Run::Running { pid, .. } | Run::Ended { pid, .. } => *pid,
        }
    }

    /// The exit code once ended: the status (0–255), or `-N` after signal N.
    pub fn exitcode(&self) -> Result<i32> {
        let state = self.lock();
        self.check_parent(&state, "query the exit code of")?;
        let name = state.name.to_string_lossy().into_owned();
        drop(state);
        self.try_reap()?;
        match &self.lock().run {
            Run::Initial => Err(Error::wrong_state(format!("{name} was not started"))),
            Run::Running { .. } => Err(Error::wrong_state(format!("{name} is still running"))),
            Run::Ended { exitcode, .. } => Ok(*exitcode),
        }
    }

    /// Sends SIGTERM (Python's `terminate()`).
    pub fn terminate(&self) -> Result<()> {
        self.signal(libc::SIGTERM, "terminate")
    }

    /// Sends SIGKILL (Python 3's `kill()`).
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL, "kill")
    }

    fn signal(&self, sig: libc::c_int, verb: &str) -> Result<()> {
        if self.on_thread {
            return Err(thread::cannot_signal(self, verb));
        }
        let state = self.lock();
        self.check_parent(&state, verb)?;
        match &state.run {
            Run::Initial => Err(Error::wrong_state(format!(
                "{}: cannot {verb} a process that was not started",
                state.name.to_string_lossy()
            ))),
            Run::Ended { .. } => Ok(()),
            Run::Running { child, .. } => child.signal(sig).map_err(|e| Error::os("kill", e)),
        }
    }

    /// A file descriptor readable once the child ended (its pidfd, or a pipe where
    /// pidfds do not exist); -1 before start and for the current process. Owned by the
    /// process object.
    pub fn sentinel(&self) -> i32 {
        match &self.lock().run {
            Run::Initial => -1,
            Run::Running { child, .. } | Run::Ended { child, .. } => child.fd().as_raw_fd(),
        }
    }
}

/// The live children of the current process, after reaping those that ended.
pub fn active_children() -> Vec<Arc<Process>> {
    registry::live_children()
}

/// The number of CPUs online.
pub fn cpu_count() -> i32 {
    crate::sys::cpus::cpu_count()
}
