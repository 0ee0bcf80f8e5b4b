//! `Process`: a child process running a target function, with the seed's lifecycle
//! (start, join, is_alive, exit code, terminate) and its naming, daemon and authkey rules;
//! or, for a dummy process, a thread of this process running it (`thread`).

mod current;
mod parent;
mod registry;
mod thread;

use std::ffi::{c_int, c_void, CString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

pub use current::{current, current_arc};
pub use parent::parent;
pub(crate) use parent::{set as set_parent, Check as ParentCheck};
pub(crate) use registry::{before_fork, shutdown_children, ForkGuard};
pub(crate) use thread::join_at_exit as join_threads_at_exit;

use crate::deadline::{self, Deadline};
use crate::error::ErrorKind;
use crate::error::{Error, Result};
use crate::ffi::handle::HandleCell;
use crate::start::passing::{Inbox, Outbox, Passable};
use crate::start::payload::{Payload, NO_FD};
use crate::start::{self, StartMethod};
use crate::sys::child::{Child, Watch};
use crate::sys::fork::{self, Forked};
use crate::sys::process as os;
use thread::Watched;

/// What a child runs: its return value is the child's exit code.
pub type Target = Box<dyn Fn() -> i32 + Send + Sync>;

/// A C function a child runs with its argument; its return value is the exit code.
pub type CFunction = extern "C" fn(*mut c_void) -> c_int;

/// A C function's argument.
#[derive(Clone)]
pub enum Argument {
    /// A pointer, meaningful only in this process and the children it forks.
    Pointer(*mut c_void),
    /// Bytes the child gets a copy of (16-byte aligned), however it starts.
    Bytes(Vec<u8>),
}

// SAFETY: `Argument::Pointer` is the C caller's, handed back to its own function in a
// child (or in `run`); the library never dereferences it.
unsafe impl Send for Argument {}
// SAFETY: as above.
unsafe impl Sync for Argument {}

impl Argument {
    /// Calls `f` with the pointer, or with a pointer to a 16-byte aligned copy of the bytes.
    pub(crate) fn call<R>(&self, f: impl FnOnce(*mut c_void) -> R) -> R {
        match self {
            Argument::Pointer(arg) => f(*arg),
            Argument::Bytes(bytes) => {
                let mut copy = vec![0u128; bytes.len().div_ceil(16).max(1)];
                let at = copy.as_mut_ptr().cast::<u8>();
                // SAFETY: `copy` has room for `bytes.len()` bytes at `at`, apart from them.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len()) };
                f(at.cast())
            }
        }
    }

    /// What crosses to a process that is not a fork of this one: the bytes, or none for
    /// a pointer (only NULL may cross: the caller checked).
    pub(crate) fn crossing(&self) -> &[u8] {
        match self {
            Argument::Bytes(bytes) => bytes,
            Argument::Pointer(_) => &[],
        }
    }

    /// The argument [`Argument::crossing`] sent: its bytes, or NULL for none.
    pub(crate) fn crossed(bytes: &[u8]) -> Argument {
        match bytes {
            [] => Argument::Pointer(std::ptr::null_mut()),
            bytes => Argument::Bytes(bytes.to_vec()),
        }
    }
}

/// A function of this library that a child started by `exec` runs with what it receives
/// (a pool's worker): its return value is the exit code.
pub(crate) type Entry = fn(&mut Inbox<'_>) -> i32;

/// What a process runs.
enum Body {
    Closure(Option<Target>),
    Function(CFunction, Argument),
    /// Only in a child started by `exec`, given `context` (see [`Entry`]).
    Entry(Entry, Arc<dyn Passable>),
}

/// Length of the random authkey of the main process.
const AUTHKEY_LEN: usize = 32;

/// A process object, shared by `Arc`: the creator's handle, the children registry and, in
/// the child itself, the current-process pointer all refer to the same object.
pub struct Process {
    /// The handle C knows this object by (the creator's, or one the library lends), for
    /// the C boundary to hand out again (`pc_active_children`, `pc_current_process`).
    handle: HandleCell,
    body: Body,
    /// `[]` for the main process, the parent's identity plus this child's number otherwise.
    identity: Vec<u32>,
    /// The process that created this object: the only one allowed to start, join or query it.
    creator: libc::pid_t,
    /// A dummy process: its target runs on a thread of the creator (see `thread`).
    on_thread: bool,
    /// Threads in `join` now, which poll the sentinel outside the lock: `close` waits
    /// for none (it refuses while there are some).
    joiners: AtomicUsize,
    state: Mutex<State>,
}

struct State {
    name: CString,
    daemon: bool,
    authkey: Vec<u8>,
    /// `None`: the default when it starts (`start::default_method`).
    method: Option<StartMethod>,
    /// Handles its child gets when it starts by `exec` (a forked one has them all).
    passed: Vec<PassedHandle>,
    run: Run,
}

/// A handle passed to a child started by `exec`, which gets it with the same value.
pub(crate) struct PassedHandle {
    pub(crate) value: u64,
    pub(crate) kind: u32,
    pub(crate) object: Arc<dyn Passable>,
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
    /// After `close` (Python's `close()`): the sentinel is closed, and the object is
    /// only a name.
    Closed,
    /// The object of this process's parent (`parent::parent`), watched by `link`.
    Parent(Arc<parent::Link>),
}

impl Process {
    /// A new, unstarted child of the current process, named `Process-N` (`Process-N:M` in a
    /// child), inheriting the current process's authkey and daemon flag. `None` runs nothing.
    pub fn new(target: Option<Target>) -> Arc<Process> {
        Process::with_body(Body::Closure(target))
    }

    /// A new, unstarted child that runs `function(argument)` (see [`Process::new`]).
    pub fn new_function(function: CFunction, argument: Argument) -> Arc<Process> {
        Process::with_body(Body::Function(function, argument))
    }

    /// A new, unstarted child that runs `entry` with `context`; it can start only by
    /// `exec` (see [`Entry`]).
    pub(crate) fn new_entry(entry: Entry, context: Arc<dyn Passable>) -> Arc<Process> {
        Process::with_body(Body::Entry(entry, context))
    }

    fn with_body(body: Body) -> Arc<Process> {
        crate::lifecycle::install();
        registry::reap_ended();
        let number = registry::lock().take_number();
        Process::with_number(body, number, false)
    }

    /// A new, unstarted child numbered `number`: a dummy process (`Dummy-N`) if
    /// `on_thread`, else a process (`Process-N`, `Process-N:M` in a child).
    fn with_number(body: Body, number: u32, on_thread: bool) -> Arc<Process> {
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
            body,
            identity,
            creator: os::getpid(),
            on_thread,
            joiners: AtomicUsize::new(0),
            state: Mutex::new(State {
                name: CString::new(name).expect("generated names have no NUL"),
                daemon: parent_state.daemon,
                authkey: parent_state.authkey.clone(),
                method: None,
                passed: Vec::new(),
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
        Process::current_as(
            CString::new("MainProcess").unwrap(),
            Vec::new(),
            authkey,
            false,
        )
    }

    /// The object of this process, started by `exec` as `name` (see `start::child`).
    /// Its target (`None`: nothing) runs by [`Process::run`].
    pub(crate) fn spawned(
        name: &str,
        identity: Vec<u32>,
        authkey: Vec<u8>,
        daemon: bool,
        target: Option<(CFunction, Vec<u8>)>,
    ) -> Result<Arc<Process>> {
        let name =
            CString::new(name).map_err(|_| Error::invalid_argument("name contains a NUL byte"))?;
        let mut process = Process::current_as(name, identity, authkey, daemon);
        if let Some((function, arg)) = target {
            process.body = Body::Function(function, Argument::Bytes(arg));
        }
        let process = Arc::new(process);
        current::become_current(&process);
        Ok(process)
    }

    /// An object for the current process, which runs nothing more.
    fn current_as(name: CString, identity: Vec<u32>, authkey: Vec<u8>, daemon: bool) -> Process {
        Process {
            handle: HandleCell::new(),
            body: Body::Closure(None),
            identity,
            creator: os::getpid(),
            on_thread: false,
            joiners: AtomicUsize::new(0),
            state: Mutex::new(State {
                name,
                daemon,
                authkey,
                method: None,
                passed: Vec::new(),
                run: Run::Initial,
            }),
        }
    }

    /// The object of this process's parent (see `parent`): its name and pid, the current
    /// process's identity but the last number, and its authkey. Only `is_alive`, `join`,
    /// `pid` and `sentinel` say anything of it; what a parent does to its child is
    /// `WrongState`, as for any process this one did not create.
    fn parent_object(info: &parent::ParentInfo, link: parent::Link) -> Process {
        let me = current();
        let mut identity = me.identity.clone();
        identity.pop();
        let mut process = Process::current_as(
            CString::new(info.name()).unwrap_or_default(),
            identity,
            me.authkey(),
            false,
        );
        // Not this process: nothing here is its creator.
        process.creator = 0;
        process.state.get_mut().expect("not shared yet").run = Run::Parent(Arc::new(link));
        process
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
        self.check_unstarted(&state, "the daemon flag")?;
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
        match &self.body {
            Body::Closure(target) => target.as_ref().map_or(0, |target| target()),
            Body::Function(function, argument) => argument.call(|arg| function(arg)),
            Body::Entry(..) => {
                log::error!(
                    "{}: runs only in a process started by exec",
                    self.name_string()
                );
                1
            }
        }
    }

    /// Sets how this process starts (`None`: the default when it starts); before
    /// `start` only.
    pub fn set_start_method(&self, method: Option<StartMethod>) -> Result<()> {
        let mut state = self.lock();
        self.check_unstarted(&state, "the start method")?;
        state.method = method;
        Ok(())
    }

    /// The method this process starts (or started) by.
    pub fn start_method(&self) -> StartMethod {
        self.lock().method.unwrap_or_else(start::default_method)
    }

    /// Passes a handle to the child, which gets it with the same value if it starts by
    /// `exec` (a forked child has every handle anyway); before `start` only.
    pub(crate) fn pass(&self, handle: PassedHandle) -> Result<()> {
        let mut state = self.lock();
        self.check_unstarted(&state, "handles to pass")?;
        if !state.passed.iter().any(|h| h.value == handle.value) {
            state.passed.push(handle);
        }
        Ok(())
    }

    fn check_unstarted(&self, state: &State, what: &str) -> Result<()> {
        if !matches!(state.run, Run::Initial) || self.is_current() {
            return Err(Error::wrong_state(format!(
                "{}: {what} can only be set before start",
                state.name.to_string_lossy()
            )));
        }
        Ok(())
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
        check_open(&state)?;
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
        let method = state.method.unwrap_or_else(start::default_method);
        let (pid, child, state) = match method {
            StartMethod::Fork if matches!(self.body, Body::Entry(..)) => {
                return Err(Error::wrong_state(format!(
                    "{}: starts only by spawn or forkserver",
                    state.name.to_string_lossy()
                )))
            }
            StartMethod::Fork => self.fork(state)?,
            method => {
                let (pid, child) = self.start_by_exec(&state, method)?;
                (pid, child, state)
            }
        };
        self.started(state, pid, Watched::Forked(child), method.name());
        Ok(())
    }

    /// Forks the child, which runs the target; the parent gets its pid and watch, and
    /// the state back.
    fn fork<'s>(
        self: &'s Arc<Self>,
        state: MutexGuard<'s, State>,
    ) -> Result<(libc::pid_t, Child, MutexGuard<'s, State>)> {
        fork::flush_stdio();
        let parent = os::getpid();
        let parent_name = current().name_string();
        let watch = Watch::prepare().map_err(|e| Error::os("socketpair", e))?;
        // The fork handlers (crate::lifecycle) take the library's locks around the fork
        // and reset the child's copy of the parent's state.
        match fork::fork().map_err(|e| Error::os("fork", e))? {
            Forked::Child => {
                watch.in_child();
                let daemon = state.daemon;
                drop(state);
                current::become_current(self);
                parent::set(parent_name, parent, parent::Check::OsParent);
                self.bootstrap(daemon, parent)
            }
            Forked::Parent(pid) => {
                // After the fork, while the child starts: the threads that ran at the fork
                // still run now (or just ended), and the child does not wait for this.
                warn_if_threaded();
                let child = watch
                    .in_parent(pid)
                    .map_err(|e| Error::os("pidfd_open", e))?;
                Ok((pid, child, state))
            }
        }
    }

    /// Starts the child by `exec` (spawn, or through the forkserver): what it runs, its
    /// identity and its passed handles cross as a payload.
    fn start_by_exec(&self, state: &State, method: StartMethod) -> Result<(libc::pid_t, Child)> {
        let name = state.name.to_string_lossy();
        let (target, arg) = match &self.body {
            Body::Closure(None) => (None, Vec::new()),
            Body::Entry(entry, _) => (Some(*entry as usize), Vec::new()),
            Body::Closure(Some(_)) => {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!(
                        "{name}: a Rust closure cannot run in a process started by {}",
                        method.name()
                    ),
                ))
            }
            Body::Function(_, Argument::Pointer(arg)) if !arg.is_null() => {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!(
                        "{name}: its argument is a pointer, which means nothing in a process \
                         started by {}: make it with pc_process_new_spawnable",
                        method.name()
                    ),
                ))
            }
            Body::Function(function, Argument::Pointer(_)) => {
                (Some(*function as usize), Vec::new())
            }
            Body::Function(function, Argument::Bytes(bytes)) => {
                (Some(*function as usize), bytes.clone())
            }
        };
        let target = target
            .map(crate::sys::code::locate)
            .transpose()
            .map_err(|e| Error::os(&format!("{name}: locating the target"), e))?;
        let mut outbox = Outbox::default();
        let heap = crate::heap::existing().map(|heap| outbox.fd_index(heap.memfd()));
        outbox.u64(state.passed.len() as u64);
        for handle in &state.passed {
            outbox.u64(handle.value);
            outbox.u64(u64::from(handle.kind));
            handle.object.pass(&mut outbox)?;
        }
        let handles = std::mem::take(&mut outbox.bytes);
        let entry = match &self.body {
            Body::Entry(_, context) => {
                context.pass(&mut outbox)?;
                true
            }
            _ => false,
        };
        let payload = Payload {
            target,
            arg,
            name: name.into_owned(),
            identity: self.identity.clone(),
            authkey: state.authkey.clone(),
            daemon: state.daemon,
            parent: os::getpid(),
            creator: os::getpid(),
            creator_name: current().name_string(),
            // A child of the forkserver is not ours: it checks our pid by our start time.
            creator_start: match method {
                StartMethod::Forkserver => os::start_time(os::getpid()).unwrap_or(0),
                _ => 0,
            },
            heap: heap.unwrap_or(NO_FD),
            watch: NO_FD,
            logging: crate::logging::for_child(),
            handles,
            entry,
            context: std::mem::take(&mut outbox.bytes),
        };
        fork::flush_stdio();
        let started = match method {
            StartMethod::Spawn => start::spawn::spawn(payload, &mut outbox),
            _ => start::forkserver::start(payload, &mut outbox),
        }?;
        outbox.sent();
        Ok(started)
    }

    /// After `start` made the child (or the thread) `child`: records it and lists it.
    fn started(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, State>,
        pid: i32,
        child: Watched,
        how: &str,
    ) {
        let name = state.name.to_string_lossy().into_owned();
        state.run = Run::Running { pid, child };
        drop(state);
        registry::reap_ended();
        let listed = registry::lock().add(self.clone());
        // No lock is held while logging: a log handler may call back into the library.
        log::debug!("started {name} (pid {pid}, {how})");
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
            Run::Initial | Run::Parent(_) => return Ok(false),
            Run::Ended { .. } | Run::Closed => return Ok(true),
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
        let parent = match &self.lock().run {
            Run::Parent(link) => Some(Arc::clone(link)),
            _ => None,
        };
        if let Some(link) = parent {
            return link.join(deadline);
        }
        let (sentinel, name) = {
            let state = self.lock();
            self.check_parent(&state, "join")?;
            let name = state.name.to_string_lossy().into_owned();
            check_open(&state)?;
            match &state.run {
                Run::Initial => {
                    return Err(Error::wrong_state(format!(
                        "{name}: can only join a started process"
                    )))
                }
                Run::Running { child, .. } | Run::Ended { child, .. } => {
                    // Counted under the lock, so `close` sees this join.
                    self.joiners.fetch_add(1, Relaxed);
                    (child.fd().as_raw_fd(), name)
                }
                Run::Closed | Run::Parent(_) => unreachable!("checked above"),
            }
        };
        // Once started, the sentinel moves from Running to Ended but stays open until the
        // process object is dropped, which cannot happen while `self` is borrowed, or it
        // is closed, which `close` refuses while a join runs.
        struct Joining<'a>(&'a AtomicUsize);
        impl Drop for Joining<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Relaxed);
            }
        }
        let _joining = Joining(&self.joiners);
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
        if let Run::Parent(link) = &self.lock().run {
            return link.is_alive();
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
            Run::Initial | Run::Closed => 0,
            Run::Running { pid, .. } | Run::Ended { pid, .. } => *pid,
            Run::Parent(link) => link.pid(),
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
            Run::Closed => Err(closed(&name)),
            Run::Parent(_) => Err(not_ours(&name)),
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
            Run::Closed => Err(closed(&state.name.to_string_lossy())),
            Run::Parent(_) => Err(not_ours(&state.name.to_string_lossy())),
        }
    }

    /// A file descriptor readable once the child ended (its pidfd, or a pipe where
    /// pidfds do not exist); -1 before start and for the current process. Owned by the
    /// process object.
    pub fn sentinel(&self) -> i32 {
        match &self.lock().run {
            Run::Initial | Run::Closed => -1,
            Run::Running { child, .. } | Run::Ended { child, .. } => child.fd().as_raw_fd(),
            Run::Parent(link) => link.sentinel(),
        }
    }

    /// Releases what the object holds of the child (Python's `close()`): its sentinel
    /// (pidfd, socket or eventfd) and its place among the children. Refused while the child
    /// runs; closing twice, or before start, is fine. Afterwards `start`, `join`,
    /// `exitcode`, `terminate` and `kill` fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        let mut state = self.lock();
        self.check_parent(&state, "close")?;
        let name = state.name.to_string_lossy().into_owned();
        match &state.run {
            Run::Closed => return Ok(()),
            Run::Parent(_) => return Err(not_ours(&name)),
            Run::Initial | Run::Ended { .. } => {}
            Run::Running { .. } => {
                drop(state);
                if !self.try_reap()? {
                    return Err(Error::wrong_state(format!(
                        "{name} is still running: join or terminate it before closing it"
                    )));
                }
                state = self.lock();
            }
        }
        if self.joiners.load(Relaxed) > 0 {
            return Err(Error::wrong_state(format!(
                "{name} is being joined by another thread: close it after"
            )));
        }
        let run = std::mem::replace(&mut state.run, Run::Closed);
        drop(state);
        registry::forget(self);
        // The sentinel closes here, outside the lock.
        drop(run);
        log::debug!("{name} closed");
        Ok(())
    }

    /// `Closed` once `close` was called, naming the process.
    pub fn check_open(&self) -> Result<()> {
        check_open(&self.lock())
    }
}

fn check_open(state: &State) -> Result<()> {
    match state.run {
        Run::Closed => Err(closed(&state.name.to_string_lossy())),
        _ => Ok(()),
    }
}

/// For the parent's object, which `check_parent` refuses first.
fn not_ours(name: &str) -> Error {
    Error::wrong_state(format!(
        "{name} is the parent of this process, not its child"
    ))
}

fn closed(name: &str) -> Error {
    Error::new(ErrorKind::Closed, format!("{name} is closed"))
}

/// Warns, once per process, that a fork copied a process in which other threads of the
/// program run (as Python 3.12 does): through the library's log, or on
/// standard error while logging is off.
fn warn_if_threaded() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let others = crate::sys::thread::other_program_threads();
    if others == 0 || WARNED.swap(true, Relaxed) {
        return;
    }
    let message = format!(
        "this process (pid {}) runs {others} other thread(s): a forked child may deadlock \
         on a lock one of them held; use the spawn or forkserver start method",
        os::getpid()
    );
    match crate::logging::enabled() {
        true => log::warn!("{message}"),
        false => {
            let _ = crate::sys::io::write_stderr(format!("libprocessing: {message}\n").as_bytes());
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
