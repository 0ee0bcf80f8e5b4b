//! Managers (Python's `BaseManager`/`SyncManager`): a server process owns shared objects
//! and every other process uses them through proxies, on Python's own wire protocol, so
//! C and Python programs share managed objects both ways.
//!
//! [`pickle`] and [`protocol`] are pure: bytes ↔ values ↔ requests and replies. The
//! server side is [`server`] (connections, the server's functions), [`table`] (objects
//! and their references), [`registry`] (typeids), [`builtin`] (SyncManager's objects)
//! and [`custom`] (C types). The client side is [`proxy`] (sessions, references, calls)
//! and the typed front ends in [`collections`].

pub(crate) mod builtin;
pub(crate) use refs::{after_fork_in_child, after_fork_in_parent, before_fork};
pub mod collections;
pub mod custom;
mod items;
pub(crate) mod pickle;
pub(crate) mod protocol;
pub(crate) mod proxy;
mod refs;
mod registry;
mod remote;
pub(crate) mod server;
mod table;

use std::ffi::CString;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use crate::connection::Connection;
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::process::Process;
use custom::CustomType;
use pickle::Value;
use proxy::{Proxy, Session};
use registry::Registry;
use server::Server;

/// Checks that an item C hands over stands for a value (a `Pickle` item is one whole,
/// valid pickle), so a bad one is refused where it is given, not where it is used.
pub fn check_item(item: &crate::item::Item) -> Result<()> {
    match item {
        crate::item::Item::Pickle(bytes) => items::decode(bytes).map(drop),
        _ => Ok(()),
    }
}

/// How long `start` waits for the server to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for a started server to exit before terminating it.
const EXIT_TIMEOUT: Duration = Duration::from_secs(1);

/// How a manager's TCP connections notice a peer that is gone without a word (its host
/// vanished, the link was cut): after 5 s without traffic, 3 probes 2 s apart; a request
/// unacknowledged as long ends it too. Where the other end is alive, its kernel answers
/// the probes, however long the server takes to reply.
const LINK_IDLE: Duration = Duration::from_secs(5);
const LINK_PROBE_INTERVAL: Duration = Duration::from_secs(2);
const LINK_PROBES: u32 = 3;

/// Watches a manager connection's peer (see `LINK_IDLE`): a client's call, or the
/// server's read of a client, then ends with `Eof` within about 11 s of the link going
/// silent, and the server lets go of that client's references and locks.
fn watch_link(conn: &Connection) -> Result<()> {
    conn.watch_peer(LINK_IDLE, LINK_PROBE_INTERVAL, LINK_PROBES)
}

/// A manager: a server this process starts or serves, or one it connects to.
pub struct Manager {
    /// The address asked for (`None`: a fresh private one).
    requested: Option<String>,
    authkey: Vec<u8>,
    registry: Mutex<Registry>,
    state: Mutex<State>,
    /// The server's address, once known.
    address: OnceLock<CString>,
    session: OnceLock<Arc<Session>>,
}

enum State {
    New,
    /// This process started the server in a child.
    Started(Arc<Process>),
    /// Connected to a server someone else runs.
    Connected,
    /// Serving from this process (`serve_forever`).
    Serving(Arc<Server>),
    Shut,
}

impl Manager {
    /// A manager for `address` (`None`: a fresh private unix name) with `authkey`
    /// (`None`: this process's authkey).
    pub fn new(address: Option<&str>, authkey: Option<&[u8]>) -> Result<Arc<Manager>> {
        if let Some(address) = address {
            crate::connection::check_address(address)?;
        }
        let authkey = match authkey {
            Some(key) => key.to_vec(),
            None => crate::process::current().authkey(),
        };
        Ok(Arc::new(Manager {
            requested: address.map(str::to_owned),
            authkey,
            registry: Mutex::new(Registry::sync_manager()),
            state: Mutex::new(State::New),
            address: OnceLock::new(),
            session: OnceLock::new(),
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_new(&self, state: &State, what: &str) -> Result<()> {
        match state {
            State::New => Ok(()),
            _ => Err(Error::wrong_state(format!(
                "{what}: the manager was already started, connected or served"
            ))),
        }
    }

    /// Registers a C type (before start or serve).
    pub fn register(&self, typeid: &str, custom: Arc<dyn CustomType>) -> Result<()> {
        self.check_new(&self.state(), "register")?;
        self.registry().register(typeid, custom)
    }

    /// Makes `typeid` give the object named `name` of typeid `of` (before start or serve).
    pub fn expose(&self, typeid: &str, of: &str, name: &str) -> Result<()> {
        self.check_new(&self.state(), "expose")?;
        self.registry().expose(typeid, of, name)
    }

    /// The server's address (`tcp://HOST:PORT` with the port it got), once known.
    pub fn address(&self) -> Option<&CString> {
        self.address.get()
    }

    /// Starts the server in a child process ("SyncManager-N") and connects to it.
    pub fn start(self: &Arc<Self>) -> Result<()> {
        let mut state = self.state();
        self.check_new(&state, "start")?;
        let (ours, theirs) = Connection::pipe(true)?;
        let theirs_here = Arc::clone(&theirs);
        let requested = self.requested.clone();
        let authkey = self.authkey.clone();
        let registry = self.registry().clone();
        let process = Process::new(Some(Box::new(move || {
            serve_in_child(&theirs, requested.as_deref(), &authkey, registry.clone())
        })));
        let name = process.name_string().replacen("Process", "SyncManager", 1);
        process.set_name(&name)?;
        process.set_daemon(true)?;
        process.set_authkey(&self.authkey);
        refs::without_handoff(|| process.start())?;
        // The child has its own copy; without this one, a server that dies before it
        // reports ends the wait at once (EOF) instead of at the timeout.
        theirs_here.close();
        let reported = ours
            .recv_message(Some(64 * 1024), Deadline::after(START_TIMEOUT))
            .map_err(|e| e.context("the manager's server did not report its address"));
        let address = match reported.map(String::from_utf8) {
            Ok(Ok(address)) => address,
            Ok(Err(_)) => {
                stop_process(&process);
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "the server's address is not UTF-8",
                ));
            }
            Err(e) => {
                stop_process(&process);
                return Err(e);
            }
        };
        if let Some(why) = address.strip_prefix('!') {
            stop_process(&process);
            return Err(Error::new(
                ErrorKind::Os,
                format!("the manager's server: {why}"),
            ));
        }
        let session = match Session::connect(&address, &self.authkey) {
            Ok(session) => session,
            Err(e) => {
                stop_process(&process);
                return Err(e);
            }
        };
        self.known(&address, session);
        *state = State::Started(process);
        let mut started = started();
        started.retain(|(_, m)| m.strong_count() > 0);
        started.push((crate::sys::process::getpid(), Arc::downgrade(self)));
        Ok(())
    }

    /// Connects to a server already running at the address (another program, another
    /// host, a Python manager).
    pub fn connect(&self) -> Result<()> {
        let mut state = self.state();
        self.check_new(&state, "connect")?;
        let Some(address) = self.requested.as_deref() else {
            return Err(Error::invalid_argument(
                "connect needs the manager's address (it was created with NULL)",
            ));
        };
        let session = Session::connect(address, &self.authkey)?;
        self.known(address, session);
        *state = State::Connected;
        Ok(())
    }

    fn known(&self, address: &str, session: Arc<Session>) {
        let _ = self
            .address
            .set(CString::new(address).expect("addresses have no NUL"));
        let _ = self.session.set(session);
    }

    /// Serves from this process until a client asks for shutdown (then `Ok`), or
    /// `pc_interrupt()` (`Interrupted`).
    pub fn serve_forever(&self) -> Result<()> {
        let server = {
            let mut state = self.state();
            self.check_new(&state, "serve_forever")?;
            let server = Server::bind(
                self.requested.as_deref(),
                &self.authkey,
                self.registry().clone(),
            )?;
            let _ = self
                .address
                .set(CString::new(server.address()).expect("addresses have no NUL"));
            *state = State::Serving(Arc::clone(&server));
            server
        };
        let result = server.serve_forever();
        *self.state() = State::Shut;
        result
    }

    /// Stops the server: one this process started (it is then joined), one it connected
    /// to (asked to shut down), or one it serves. Twice is fine.
    pub fn shutdown(&self) -> Result<()> {
        let mut state = self.state();
        match std::mem::replace(&mut *state, State::Shut) {
            State::New => {
                *state = State::New;
                Err(Error::wrong_state(
                    "shutdown: the manager was never started",
                ))
            }
            State::Shut => Ok(()),
            State::Serving(server) => {
                server.stop_serving();
                Ok(())
            }
            State::Connected => self.session()?.one_shot("shutdown", vec![]).map(drop),
            State::Started(process) => {
                log::info!("sending shutdown message to manager");
                let asked = self.session()?.one_shot("shutdown", vec![]);
                if process.join(Deadline::after(EXIT_TIMEOUT)).is_err() {
                    stop_process(&process);
                }
                asked.map(drop).or_else(|e| match e.kind() {
                    // Already gone: what shutdown wanted.
                    ErrorKind::Eof => Ok(()),
                    _ => Err(e),
                })
            }
        }
    }

    /// How many objects the server holds (Python's `_number_of_objects()`).
    pub fn number_of_objects(&self) -> Result<usize> {
        match self.session()?.one_shot("number_of_objects", vec![])? {
            Value::Int(n) if n >= 0 => Ok(n as usize),
            other => Err(Error::new(
                ErrorKind::Protocol,
                format!("number_of_objects answered {other:?}"),
            )),
        }
    }

    fn session(&self) -> Result<&Arc<Session>> {
        self.session.get().ok_or_else(|| {
            Error::wrong_state("the manager is not started or connected (start or connect first)")
        })
    }

    /// A new object of `typeid` with creator arguments, or the named one.
    pub(crate) fn create(
        &self,
        typeid: &str,
        name: Option<&str>,
        args: Vec<Value>,
    ) -> Result<Proxy> {
        if matches!(*self.state(), State::Shut) {
            return Err(Error::new(ErrorKind::Closed, "the manager was shut down"));
        }
        Proxy::create(self.session()?, typeid, name, args)
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if matches!(*self.state(), State::Started(_)) {
            let _ = self.shutdown();
        }
    }
}

/// The managers whose servers a process started, with that process's pid.
type Started = Vec<(libc::pid_t, Weak<Manager>)>;

fn started() -> MutexGuard<'static, Started> {
    static STARTED: Mutex<Started> = Mutex::new(Vec::new());
    STARTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shuts down the servers this process started and still holds: a step of a normal exit
/// (see `crate::lifecycle`), before the children are ended, so a server removes its
/// socket file and drops its objects instead of being terminated.
pub(crate) fn shutdown_started() {
    let me = crate::sys::process::getpid();
    let managers: Vec<Arc<Manager>> = started()
        .drain(..)
        .filter(|(pid, _)| *pid == me)
        .filter_map(|(_, m)| m.upgrade())
        .collect();
    for manager in managers {
        if let Err(e) = manager.shutdown() {
            log::debug!("manager shutdown at exit: {}", e.message());
        }
    }
}

/// The started server's process: bind, report the address (or `!why`), serve.
fn serve_in_child(
    report: &Connection,
    address: Option<&str>,
    authkey: &[u8],
    registry: Registry,
) -> i32 {
    crate::sys::signal::ignore_sigint();
    let server = match Server::bind(address, authkey, registry) {
        Ok(server) => server,
        Err(e) => {
            let _ = report.send_bytes(format!("!{}", e.message()).as_bytes());
            return 1;
        }
    };
    if report.send_bytes(server.address().as_bytes()).is_err() {
        return 1;
    }
    report.close();
    let code = match server.serve_forever() {
        Ok(()) => 0,
        Err(_) => 1,
    };
    log::info!("manager exiting with exitcode {code}");
    code
}

/// Ends a server process that would not stop by itself.
fn stop_process(process: &Process) {
    let _ = process.terminate();
    let _ = process.join(Deadline::after(EXIT_TIMEOUT));
}
