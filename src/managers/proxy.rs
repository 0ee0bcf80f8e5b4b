//! The client side: a [`Session`] with one server for this process, and [`Proxy`]s, the
//! client's references to the server's objects.
//!
//! Calls go over one connection per (session, thread), opened with `accept_connection`
//! as Python's proxies do; so a lock a thread acquires is that thread's, on any server.
//! References are taken and dropped as the server allows: on this library's server over
//! one session channel per process, which the server ties them to (so they go when the
//! process dies, however it dies); on a Python server over one-shot connections.
//! After a fork the child opens its own connections and takes its own reference to each
//! proxy it uses, before its first use; the parent's stay the parent's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use super::pickle::{self, Value};
use super::protocol::{self, Reply, Request};
use super::refs::{self, Held};
use crate::connection::listener::connect_authenticated;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::process::getpid;
use crate::wait::Deadline;

/// How long a call may take beyond the wait it asks the server for, before the client
/// gives up on a server that stopped answering.
const REPLY_GRACE: Duration = Duration::from_secs(10);

thread_local! {
    /// This thread's call channels: session id → (the process that opened it, channel).
    static CHANNELS: RefCell<HashMap<u64, (i32, Arc<Connection>)>> = RefCell::new(HashMap::new());
}

/// This process's view of one server.
pub(crate) struct Session {
    id: u64,
    address: String,
    authkey: Vec<u8>,
    /// The server is this library's: references go over a session channel (`refs`).
    ours: bool,
}

impl Session {
    /// Connects to the server at `address` (checking it answers, as Python's `connect`
    /// does) and learns whether it is this library's.
    pub fn connect(address: &str, authkey: &[u8]) -> Result<Arc<Session>> {
        static SESSIONS: AtomicU64 = AtomicU64::new(0);
        let mut session = Session {
            id: SESSIONS.fetch_add(1, Relaxed),
            address: address.to_owned(),
            authkey: authkey.to_vec(),
            ours: false,
        };
        session.one_shot("dummy", vec![])?;
        // This library's server answers the server's functions on a channel too.
        let channel = session.open_channel()?;
        let probe = Request {
            ident: None,
            method: "dummy".into(),
            args: vec![],
            kwds: vec![],
        };
        session.ours = matches!(
            exchange(&channel, &probe, Deadline::after(REPLY_GRACE))?,
            Reply::Return(_)
        );
        let session = Arc::new(session);
        if session.ours {
            refs::adopt(session.id, channel);
        }
        Ok(session)
    }

    /// Unique in this program.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the server is this library's (it has named objects).
    pub fn is_ours(&self) -> bool {
        self.ours
    }

    /// A new channel (`accept_connection`) to the server.
    pub fn open_channel(&self) -> Result<Arc<Connection>> {
        let conn = self.open()?;
        let name = crate::process::current().name_string();
        let hello = Request {
            ident: None,
            method: "accept_connection".into(),
            args: vec![Value::Str(name)],
            kwds: vec![],
        };
        answer(exchange(&conn, &hello, Deadline::after(REPLY_GRACE))?)?;
        Ok(conn)
    }

    fn open(&self) -> Result<Arc<Connection>> {
        connect_authenticated(&self.address, &self.authkey).map_err(|e| {
            let kind = match e.kind() {
                ErrorKind::Os | ErrorKind::Timeout => ErrorKind::Eof,
                other => other,
            };
            Error::new(
                kind,
                format!("manager at {}: {}", self.address, e.message()),
            )
        })
    }

    /// One of the server's functions over a connection of its own (Python's `dispatch`).
    pub fn one_shot(&self, function: &str, args: Vec<Value>) -> Result<Value> {
        let conn = self.open()?;
        let request = Request {
            ident: None,
            method: function.into(),
            args,
            kwds: vec![],
        };
        let reply = exchange(&conn, &request, Deadline::after(REPLY_GRACE));
        conn.close();
        answer(reply.map_err(stalled)?)
    }

    /// One of the server's functions on `conn`, a channel of this library's server. The
    /// outer error is the channel's (it is out of step or gone), the inner one the
    /// server's answer.
    pub fn public_on(
        &self,
        conn: &Connection,
        function: &str,
        args: Vec<Value>,
    ) -> Result<Result<Value>> {
        let request = Request {
            ident: None,
            method: function.into(),
            args,
            kwds: vec![],
        };
        let reply = exchange(conn, &request, Deadline::after(REPLY_GRACE)).map_err(stalled)?;
        Ok(answer(reply))
    }

    /// Calls `method` of object `id` on this thread's channel; `Timeout` when no reply
    /// came by `reply_by` (the channel is then dropped: the reply may still come).
    pub fn call(
        &self,
        id: &str,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
        reply_by: Deadline,
    ) -> Result<Value> {
        let conn = self.thread_channel()?;
        let request = Request {
            ident: Some(id.to_owned()),
            method: method.to_owned(),
            args,
            kwds,
        };
        match exchange(&conn, &request, reply_by) {
            Ok(reply) => answer(reply),
            Err(e) => {
                // The reply may still come: this channel is out of step, so it goes.
                self.drop_thread_channel();
                conn.close();
                Err(e)
            }
        }
    }

    fn thread_channel(&self) -> Result<Arc<Connection>> {
        let pid = getpid();
        let found = CHANNELS.with(|c| {
            c.borrow()
                .get(&self.id)
                .filter(|(owner, _)| *owner == pid)
                .map(|(_, conn)| Arc::clone(conn))
        });
        if let Some(conn) = found {
            return Ok(conn);
        }
        let conn = self.open_channel()?;
        CHANNELS.with(|c| c.borrow_mut().insert(self.id, (pid, Arc::clone(&conn))));
        Ok(conn)
    }

    fn drop_thread_channel(&self) {
        CHANNELS.with(|c| c.borrow_mut().remove(&self.id));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Other threads' channels close with their threads; this one's now.
        let _ = CHANNELS.try_with(|c| c.borrow_mut().remove(&self.id));
        refs::forget(self.id);
    }
}

/// Sends `request` and reads the reply by `deadline`.
fn exchange(conn: &Connection, request: &Request, deadline: Deadline) -> Result<Reply> {
    let mut bytes = Vec::with_capacity(64);
    pickle::dump_into(&request.to_value(), &mut bytes);
    conn.send_message(&bytes, deadline)?;
    let reply = conn.recv_message(None, deadline)?;
    let value = pickle::loads(&reply).map_err(|e| e.context("the manager's reply"))?;
    Reply::from_value(value)
        .map_err(|why| Error::new(ErrorKind::Protocol, format!("the manager's reply: {why}")))
}

/// A reply as the caller's result: the value, or the error the server reported.
fn answer(reply: Reply) -> Result<Value> {
    match reply {
        Reply::Return(value) => Ok(value),
        Reply::Error(exception) => Err(Error::new(exception.kind(), exception.describe())),
        Reply::Traceback(text) | Reply::Unserializable(text) => Err(Error::new(
            ErrorKind::Remote,
            format!(
                "the manager failed: {}",
                text.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
            ),
        )),
        Reply::Proxy { token, .. } => Err(Error::new(
            ErrorKind::NotSupported,
            format!(
                "the method returned a {} proxy, which C cannot use",
                token.typeid
            ),
        )),
    }
}

/// A reference to one object of a server.
pub(crate) struct Proxy {
    held: Arc<Held>,
    typeid: String,
    exposed: Vec<String>,
}

impl Proxy {
    /// A new object of `typeid` (`name`: the server's object of that name, made on first
    /// use; this library's servers only).
    pub fn create(
        session: &Arc<Session>,
        typeid: &str,
        name: Option<&str>,
        args: Vec<Value>,
    ) -> Result<Proxy> {
        let reply = match name {
            None => {
                let mut all = vec![Value::Str(typeid.into())];
                all.extend(args);
                refs::call(session, "create", all)?
            }
            Some(_) if !session.is_ours() => {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    "named objects need this library's manager; a Python manager has none \
                     (expose a typeid there instead)",
                ))
            }
            Some(name) => {
                let mut all = vec![Value::Str(typeid.into()), Value::Str(name.into())];
                all.extend(args);
                refs::call(session, protocol::NAMED, all).map_err(|e| match e.kind() {
                    ErrorKind::Value => Error::invalid_argument(e.message()),
                    _ => e,
                })?
            }
        };
        let (id, exposed) = match reply {
            Value::Tuple(parts) => match <[Value; 2]>::try_from(parts) {
                Ok([Value::Str(id), Value::Tuple(exposed) | Value::List(exposed)]) => (
                    id,
                    exposed
                        .into_iter()
                        .filter_map(|m| match m {
                            Value::Str(m) => Some(m),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => return Err(bad_create()),
            },
            _ => return Err(bad_create()),
        };
        Ok(Proxy {
            held: Held::new(session, id),
            typeid: typeid.to_owned(),
            exposed,
        })
    }

    pub fn typeid(&self) -> &str {
        &self.typeid
    }

    pub fn exposed(&self) -> &[String] {
        &self.exposed
    }

    pub fn exposes(&self, method: &str) -> bool {
        self.exposed.iter().any(|m| m == method)
    }

    /// Calls a method that may block in the server for `wait` (`None`: without limit);
    /// a server that does not answer within that and a grace is taken for gone (`Eof`).
    pub fn call(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
        wait: Option<Duration>,
    ) -> Result<Value> {
        let reply_by = wait.map_or(Deadline::Never, |w| Deadline::after(w + REPLY_GRACE));
        self.call_by(method, args, kwds, reply_by).map_err(stalled)
    }

    /// Calls a method whose reply is wanted by `reply_by`: `Timeout` past it.
    pub fn call_by(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
        reply_by: Deadline,
    ) -> Result<Value> {
        self.held.hold_here()?;
        self.held
            .session()
            .call(self.held.id(), method, args, kwds, reply_by)
    }
}

/// A server that did not answer in time is as good as gone.
fn stalled(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Timeout => Error::new(
            ErrorKind::Eof,
            "the manager did not answer in time (stopped?)",
        ),
        _ => e,
    }
}

fn bad_create() -> Error {
    Error::new(
        ErrorKind::Protocol,
        "the manager's create reply is not (id, exposed)",
    )
}
