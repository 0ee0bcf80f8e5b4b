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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use super::pickle::{self, Value};
use super::protocol::{self, Reply, Request};
use super::refs::{self, Held};
use super::server::{RETURN_HEAD, RETURN_TAIL};
use crate::connection::listener::connect_authenticated;
use crate::connection::Connection;
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::process::getpid;

/// How long a call may take beyond the wait it asks the server for, before the client
/// gives up on a server that stopped answering.
const REPLY_GRACE: Duration = Duration::from_secs(10);

/// The most room this thread's request buffer keeps between calls.
const KEEP_BYTES: usize = 16 * 1024;

thread_local! {
    /// This thread's call channels: session id → (the process that opened it, channel).
    static CHANNELS: RefCell<HashMap<u64, (i32, Arc<Connection>)>> = RefCell::new(HashMap::new());
    /// This thread's request bytes, kept from one call to the next.
    static OUTGOING: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
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
            exchange(&channel, probe, Deadline::after(REPLY_GRACE))?,
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
        answer(exchange(&conn, hello, Deadline::after(REPLY_GRACE))?)?;
        Ok(conn)
    }

    fn open(&self) -> Result<Arc<Connection>> {
        let conn = connect_authenticated(&self.address, &self.authkey).map_err(|e| {
            let kind = match e.kind() {
                ErrorKind::Os | ErrorKind::Timeout => ErrorKind::Eof,
                other => other,
            };
            Error::new(
                kind,
                format!("manager at {}: {}", self.address, e.message()),
            )
        })?;
        super::watch_link(&conn)?;
        Ok(conn)
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
        let reply = exchange(&conn, request, Deadline::after(REPLY_GRACE));
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
        let reply = exchange(conn, request, Deadline::after(REPLY_GRACE)).map_err(stalled)?;
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
        match exchange(&conn, request, reply_by) {
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
fn exchange(conn: &Connection, request: Request, deadline: Deadline) -> Result<Reply> {
    // A thread's last destructors may still free proxies: they start afresh.
    let mut bytes = OUTGOING.try_with(Cell::take).unwrap_or_default();
    bytes.clear();
    encode(request, &mut bytes);
    let sent = conn.send_message(&bytes, deadline);
    if bytes.capacity() <= KEEP_BYTES {
        let _ = OUTGOING.try_with(|kept| kept.set(bytes));
    }
    sent?;
    decode_reply(&conn.recv_message(None, deadline)?)
}

/// Decodes the server's reply: a small `#RETURN` by [`quick_return`], any other whole.
pub(crate) fn decode_reply(reply: &[u8]) -> Result<Reply> {
    if let Some(value) = quick_return(reply) {
        return Ok(Reply::Return(value));
    }
    let value = pickle::loads(reply).map_err(|e| e.context("the manager's reply"))?;
    Reply::from_value(value)
        .map_err(|why| Error::new(ErrorKind::Protocol, format!("the manager's reply: {why}")))
}

/// Pickles `request` as [`Request::to_value`] makes it, with its arguments moved into the
/// tuple rather than copied.
pub(crate) fn encode(mut request: Request, out: &mut Vec<u8>) {
    let args = std::mem::take(&mut request.args);
    let mut value = request.to_value();
    if let Value::Tuple(parts) = &mut value {
        // (ident, method, args, kwds)
        if let Some(slot) = parts.get_mut(2) {
            *slot = Value::Tuple(args);
        }
    }
    pickle::dump_into(&value, out);
}

/// The longest value [`quick_return`] reads (a scalar, a short string).
const QUICK_MAX: usize = 64;

/// The value of a small `('#RETURN', value)` as this library's server writes it (see
/// [`RETURN_HEAD`]), decoded alone: the reply's tuple and kind would cost more than the
/// value. `None` for any other reply (or one the reader refuses), which takes the full
/// path. A value that decodes alone is the one the whole reply holds: it can only use its
/// own part of the stack and memo.
pub(crate) fn quick_return(reply: &[u8]) -> Option<Value> {
    let value = reply.strip_prefix(RETURN_HEAD)?.strip_suffix(RETURN_TAIL)?;
    let mut alone = [0; QUICK_MAX + 3];
    let alone = alone.get_mut(..value.len() + 3)?;
    // The reply's PROTO, the value, the reply's STOP.
    alone[..2].copy_from_slice(&RETURN_HEAD[..2]);
    alone[2..2 + value.len()].copy_from_slice(value);
    alone[2 + value.len()] = RETURN_TAIL[1];
    pickle::loads(alone).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::server::encode_reply;

    fn full(reply: &[u8]) -> Option<Reply> {
        Reply::from_value(pickle::loads(reply).ok()?).ok()
    }

    #[test]
    fn small_returns_read_alone_as_in_full() {
        let values = [
            Value::None,
            Value::Bool(true),
            Value::Int(5),
            Value::Int(70_000),
            Value::Int(i64::MIN),
            Value::Float(f64::NAN),
            Value::Str("key-07".into()),
            Value::Bytes(vec![7; 40]),
            Value::Tuple(vec![Value::Int(1), Value::Str("a".into())]),
            Value::Str("x".repeat(QUICK_MAX)),
        ];
        for value in values {
            let mut reply = Vec::new();
            encode_reply(Reply::Return(value.clone()), &mut reply);
            let small = reply.len() <= RETURN_HEAD.len() + QUICK_MAX + RETURN_TAIL.len();
            let alone = quick_return(&reply);
            assert_eq!(alone.is_some(), small, "{value:?}");
            if let Some(alone) = alone {
                // Debug output tells a NaN from another.
                let whole = format!("{:?}", full(&reply));
                assert_eq!(format!("{:?}", Some(Reply::Return(alone))), whole);
            }
        }
    }

    #[test]
    fn other_replies_take_the_full_path() {
        let mut error = Vec::new();
        encode_reply(Reply::Traceback("boom".into()), &mut error);
        let python: [&[u8]; 2] = [
            b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x07#RETURN\x94N\x86\x94.",
            b"\x80\x02X\x07\x00\x00\x00#RETURNq\x00K\x05\x86q\x01.",
        ];
        // A value part that does not decode alone: its POP takes "#RETURN" in the whole.
        let odd = [RETURN_HEAD, b"0NN", RETURN_TAIL].concat();
        for reply in python.into_iter().chain([&error[..], &odd[..]]) {
            assert_eq!(quick_return(reply), None, "{reply:?}");
        }
        assert!(matches!(full(&error), Some(Reply::Traceback(_))));
        assert_eq!(full(python[0]), Some(Reply::Return(Value::None)));
        assert_eq!(full(&odd), None);
    }
}
