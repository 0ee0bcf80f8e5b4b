//! The manager's server: accepts connections, authenticates each with the manager's key
//! (always, as Python's server does, even with an empty key), and serves each on its own
//! thread, so a method that blocks (`Queue.get`, `Lock.acquire`) or a slow client holds
//! up only its own connection.
//!
//! A connection's first request names one of the server's functions. `accept_connection`
//! turns it into a long-lived channel of method calls for one client thread; any other
//! function is answered once and the connection closed. On a channel this server also
//! takes the server's functions (`ident` `None`): references a client takes that way
//! belong to the connection, and go when it ends, however the client ended.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::builtin::{Caller, Outcome};
use super::pickle::{self, Value};
use super::protocol::{self, PyException, Reply, Request, Token};
use super::registry::{Maker, Registry};
use super::table::{NamedError, Object, Table};
use crate::connection::listener::Listener;
use crate::connection::{self, auth, Connection};
use crate::deadline::Deadline;
use crate::error::{ErrorKind, Result};

/// Connections served at once; more are closed at once (a flood cannot exhaust threads).
const MAX_CONNECTIONS: usize = 1024;
/// Connections still in their handshake at once. Opening one takes no key, so they have
/// their own cap, well below `MAX_CONNECTIONS`: one more closes the oldest of them. However
/// many connections a peer opens and leaves silent, they hold at most this many slots, and
/// an honest client's handshake (far quicker than opening this many) goes through. An
/// authenticated connection is never closed for an unauthenticated one.
const MAX_HANDSHAKES: usize = 256;
/// Stack of a connection's thread: deep enough for a pickle's 1000 levels.
const THREAD_STACK: usize = 1 << 20;
/// The most room a connection's buffers keep between messages.
const KEEP_BYTES: usize = 16 * 1024;

/// How `('#RETURN', value)` is pickled (as `dump_into` writes `Reply::Return(value)`):
/// these bytes, the value's own opcodes, then `RETURN_TAIL`. The client reads such a
/// reply's value alone.
pub(super) const RETURN_HEAD: &[u8] = b"\x80\x04\x8c\x07#RETURN";
pub(super) const RETURN_TAIL: &[u8] = b"\x86.";

/// A manager's server, bound and ready to serve.
pub(crate) struct Server {
    listener: Arc<Listener>,
    address: String,
    /// The address as Python writes it, for the tokens of `#PROXY` replies.
    token_address: Value,
    authkey: Vec<u8>,
    registry: Registry,
    table: Table,
    stopping: AtomicBool,
    callers: AtomicU64,
    /// The open connections, closed at shutdown so their threads end.
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    /// The connections in their handshake, oldest first (the first to be evicted).
    handshakes: Mutex<VecDeque<(u64, Arc<Connection>)>>,
    serving: AtomicUsize,
}

impl Server {
    /// Binds to `address` (a fresh private unix name when `None`).
    pub fn bind(address: Option<&str>, authkey: &[u8], registry: Registry) -> Result<Arc<Server>> {
        // The server authenticates each connection itself, in the connection's thread.
        let listener = Listener::new(address, 128, None)?;
        let address = listener.address().to_string_lossy().into_owned();
        log::info!("manager bound to {address}");
        Ok(Arc::new(Server {
            token_address: protocol::address_to_value(&address),
            address,
            listener,
            authkey: authkey.to_vec(),
            registry,
            table: Table::new(),
            stopping: AtomicBool::new(false),
            callers: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            handshakes: Mutex::new(VecDeque::new()),
            serving: AtomicUsize::new(0),
        }))
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Serves until a client asks for `shutdown` (then `Ok`), or `pc_interrupt()`.
    pub fn serve_forever(self: &Arc<Self>) -> Result<()> {
        let result = self.accept_loop();
        self.stop();
        result
    }

    fn accept_loop(self: &Arc<Self>) -> Result<()> {
        loop {
            let conn = match self.listener.accept(Deadline::Never) {
                Ok(conn) => {
                    if let Err(e) = super::watch_link(&conn) {
                        log::debug!("manager: {}", e.message());
                    }
                    conn
                }
                Err(e) if e.kind() == ErrorKind::Closed && self.stopping.load(SeqCst) => {
                    return Ok(())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => return Err(e),
                // A connection that failed before it was ours (reset, out of fds): the
                // others go on.
                Err(e) => {
                    log::debug!("manager: accept failed: {}", e.message());
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let id = self.callers.fetch_add(1, Relaxed) + 1;
            {
                let mut handshakes = self.lock_handshakes();
                let full = self.serving.load(SeqCst) >= MAX_CONNECTIONS;
                if full || handshakes.len() >= MAX_HANDSHAKES {
                    // Its thread sees the end at once, and ends.
                    if let Some((_, oldest)) = handshakes.pop_front() {
                        log::debug!("manager: the oldest unauthenticated connection evicted");
                        oldest.shutdown();
                    }
                }
                if self.serving.fetch_add(1, SeqCst) >= MAX_CONNECTIONS {
                    self.serving.fetch_sub(1, SeqCst);
                    log::warn!("manager: {MAX_CONNECTIONS} connections open, one refused");
                    continue;
                }
                handshakes.push_back((id, Arc::clone(&conn)));
            }
            let server = Arc::clone(self);
            let spawned =
                crate::sys::thread::spawn_sized("manager-conn", THREAD_STACK, move || {
                    server.serve_connection(id, conn);
                    server.serving.fetch_sub(1, SeqCst);
                });
            if spawned.is_err() {
                self.end_handshake(id);
                self.serving.fetch_sub(1, SeqCst);
                log::warn!("manager: no thread for a connection, refused");
            }
        }
    }

    /// Makes `serve_forever` return (from another thread of this process).
    pub fn stop_serving(&self) {
        self.stopping.store(true, SeqCst);
        self.listener.close();
    }

    /// Stops accepting, ends every connection and drops every object.
    fn stop(&self) {
        self.stop_serving();
        let open: Vec<_> = self.lock_open().drain().map(|(_, c)| c).collect();
        for conn in open {
            conn.close();
        }
        for (_, conn) in self.lock_handshakes().drain(..) {
            conn.shutdown();
        }
        self.table.clear();
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_handshakes(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Arc<Connection>)>> {
        self.handshakes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes connection `id` off the handshakes; false when it was evicted (or stopped).
    fn end_handshake(&self, id: u64) -> bool {
        let mut handshakes = self.lock_handshakes();
        let at = handshakes.iter().position(|(i, _)| *i == id);
        at.and_then(|at| handshakes.remove(at)).is_some()
    }

    fn serve_connection(self: &Arc<Self>, id: u64, conn: Arc<Connection>) {
        let authenticated =
            auth::as_server(&conn, &self.authkey, Deadline::after(auth::DEFAULT_TIMEOUT));
        // Evicted even after its handshake went through: it ends, as its peer was told.
        if !self.end_handshake(id) {
            return;
        }
        if let Err(e) = authenticated {
            log::debug!("manager: a client failed to authenticate: {}", e.message());
            return;
        }
        self.lock_open().insert(id, Arc::clone(&conn));
        if self.stopping.load(SeqCst) {
            conn.close();
        }
        let mut client = Client {
            id,
            conn: &conn,
            server: self,
            owned: HashMap::new(),
            held: Vec::new(),
            incoming: Vec::new(),
            outgoing: Vec::new(),
        };
        client.serve();
        client.end();
        self.lock_open().remove(&id);
    }

    /// Python's `get_methods`, `create`, … (the server's functions).
    fn public(&self, request: Request, client: &mut Client<'_>, on_channel: bool) -> Reply {
        let Request {
            method, args, kwds, ..
        } = request;
        let mut args = args.into_iter();
        match method.as_str() {
            "dummy" => Reply::Return(Value::None),
            "create" => {
                let Some(Value::Str(typeid)) = args.next() else {
                    return traceback("TypeError: create() needs a typeid (str)");
                };
                self.create(client, on_channel, &typeid, None, args.collect(), kwds)
            }
            protocol::NAMED => {
                let (Some(Value::Str(typeid)), Some(Value::Str(name))) = (args.next(), args.next())
                else {
                    return traceback("TypeError: pc_named() needs a typeid and a name (str)");
                };
                self.create(
                    client,
                    on_channel,
                    &typeid,
                    Some(&name),
                    args.collect(),
                    kwds,
                )
            }
            "incref" | "decref" => {
                let Some(Value::Str(id)) = args.next() else {
                    return traceback(&format!("TypeError: {method}() needs an id (str)"));
                };
                let done = if method == "incref" {
                    self.table.incref(&id) && {
                        client.own(on_channel, &id, 1);
                        true
                    }
                } else {
                    client.disown(on_channel, &id)
                };
                if done {
                    Reply::Return(Value::None)
                } else {
                    traceback(&format!("KeyError: {id:?}"))
                }
            }
            "get_methods" => match args.next().as_ref().and_then(Token::from_value) {
                Some(token) => match self.table.get(&token.id) {
                    Some(object) => Reply::Return(str_tuple(&object.info.exposed)),
                    None => traceback(&format!("KeyError: {:?}", token.id)),
                },
                None => traceback("TypeError: get_methods() needs a Token"),
            },
            "number_of_objects" => Reply::Return(Value::Int(self.table.len() as i64)),
            "debug_info" => Reply::Return(Value::Str(self.table.debug_info())),
            "shutdown" => {
                log::info!("manager received shutdown message");
                // Answered before the server stops (it may exit at once), then again
                // as every request is, as Python's server does: clients read one.
                client.send(Reply::Return(Value::None));
                self.stop_serving();
                Reply::Return(Value::None)
            }
            other => traceback(&format!("AssertionError: {other:?} unrecognized")),
        }
    }

    /// `create` and `pc_named`: a new object, or the named one, with one reference.
    fn create(
        &self,
        client: &mut Client<'_>,
        on_channel: bool,
        typeid: &str,
        name: Option<&str>,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Reply {
        let Some(info) = self.registry.get(typeid) else {
            return traceback(&format!("KeyError: {typeid:?} (no such typeid)"));
        };
        let (info, name) = match (&info.maker, name) {
            (Some(Maker::Named { of, name }), None) => (of, Some(name.as_str())),
            _ => (info, name),
        };
        let made = match name {
            None => info
                .make(args, kwds)
                .map(|referent| self.table.insert(Arc::clone(info), referent)),
            Some(name) => self
                .table
                .named(name, info, || info.make(args, kwds))
                .map_err(|e| match e {
                    NamedError::OtherType(other) => PyException::builtin(
                        "ValueError",
                        format!("the name {name:?} is taken by a {other}, not a {typeid}"),
                    ),
                    NamedError::Make(e) => e,
                }),
        };
        match made {
            Ok(object) => {
                client.own(on_channel, &object.id, 1);
                Reply::Return(Value::Tuple(vec![
                    Value::Str(object.id.clone()),
                    str_tuple(&object.info.exposed),
                ]))
            }
            // Python's server reports a failing constructor as a traceback; this
            // library's `pc_named` says which exception, for the client's status.
            Err(e) if name.is_some() => Reply::Error(e),
            Err(e) => traceback(&e.describe()),
        }
    }

    /// A method call on an object.
    fn call(&self, request: Request, client: &mut Client<'_>) -> Reply {
        let ident = request.ident.unwrap_or_default();
        let Some(object) = self.table.get(&ident) else {
            return traceback(&format!("KeyError: {ident:?} (no such object)"));
        };
        let method = request.method;
        if !object.info.exposes(&method) {
            return fallback(&object, &method);
        }
        if object.info.tracks_callers {
            client.hold(&object);
        }
        match object
            .referent
            .call(client, &method, request.args, request.kwds)
        {
            Ok(Outcome::Return(value)) => Reply::Return(value),
            Ok(Outcome::Proxy { typeid, referent }) => match self.registry.get(typeid) {
                Some(info) => {
                    let made = self.table.insert(Arc::clone(info), referent);
                    Reply::Proxy {
                        exposed: made.info.exposed.clone(),
                        token: Token {
                            typeid: typeid.to_owned(),
                            address: self.token_address.clone(),
                            id: made.id.clone(),
                        },
                    }
                }
                None => traceback(&format!("KeyError: {typeid:?} (no such typeid)")),
            },
            Err(exception) => Reply::Error(exception),
        }
    }
}

/// What the server answers for a method an object does not expose: Python's fallbacks.
fn fallback(object: &Object, method: &str) -> Reply {
    match method {
        "#GETVALUE" => match object.referent.value() {
            Some(value) => Reply::Return(value),
            None => Reply::Unserializable(format!(
                "TypeError: cannot pickle '{}' object",
                object.info.typeid
            )),
        },
        "__repr__" | "__str__" => Reply::Return(Value::Str(object.referent.repr())),
        _ => traceback(&format!(
            "AttributeError: method {method:?} of {:?} object is not in exposed={:?}",
            object.info.typeid, object.info.exposed
        )),
    }
}

fn traceback(text: &str) -> Reply {
    Reply::Traceback(format!(
        "Traceback (most recent call last):\n  (in the libprocessing manager)\n{text}\n"
    ))
}

fn str_tuple(names: &[String]) -> Value {
    Value::Tuple(names.iter().cloned().map(Value::Str).collect())
}

/// Decodes a client's request; what is wrong with a bad one is the reply's traceback.
pub(crate) fn decode_request(bytes: &[u8]) -> std::result::Result<Request, Reply> {
    pickle::loads(bytes)
        .map_err(|e| traceback(&format!("UnpicklingError: {}", e.message())))
        .and_then(|v| {
            Request::from_value(v).map_err(|why| traceback(&format!("ValueError: {why}")))
        })
}

/// Pickles `reply` into `out` as `dump_into(&reply.into_value())` does; a `#RETURN`
/// without building the reply's tuple: the value's pickle less its PROTO and STOP, framed.
pub(crate) fn encode_reply(reply: Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Return(value) => {
            out.extend_from_slice(RETURN_HEAD);
            let at = out.len();
            pickle::dump_into(&value, out);
            out.drain(at..at + 2);
            out.pop();
            out.extend_from_slice(RETURN_TAIL);
        }
        other => pickle::dump_into(&other.into_value(), out),
    }
}

/// Lets a buffer that a big message grew go.
fn shrink(buffer: &mut Vec<u8>) {
    if buffer.capacity() > KEEP_BYTES {
        *buffer = Vec::new();
    }
}

/// One client connection, as its thread serves it.
struct Client<'a> {
    id: u64,
    conn: &'a Arc<Connection>,
    server: &'a Arc<Server>,
    /// References this connection holds (taken on the channel): id → count.
    owned: HashMap<String, usize>,
    /// Objects to tell when this connection ends (locks it may hold).
    held: Vec<Arc<Object>>,
    /// The bytes of the last request and reply, kept for the next ones.
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
}

impl Client<'_> {
    fn serve(&mut self) {
        let Some(first) = self.receive() else {
            return;
        };
        let first = match first {
            Ok(request) if request.method == "accept_connection" => {
                if self.send(Reply::Return(Value::None)) {
                    self.channel();
                }
                return;
            }
            Ok(request) => {
                let server = Arc::clone(self.server);
                server.public(request, self, false)
            }
            Err(reply) => reply,
        };
        self.send(first);
    }

    /// Calls until the client hangs up.
    fn channel(&mut self) {
        while let Some(request) = self.receive() {
            let server = Arc::clone(self.server);
            let reply = match request {
                Ok(r) if r.ident.is_none() && protocol::PUBLIC.contains(&r.method.as_str()) => {
                    server.public(r, self, true)
                }
                Ok(r) => server.call(r, self),
                Err(reply) => reply,
            };
            if !self.send(reply) {
                return;
            }
        }
    }

    /// The next request; `None` when the client is gone; `Some(Err)` with the reply for
    /// a request that is not one.
    fn receive(&mut self) -> Option<std::result::Result<Request, Reply>> {
        let len = loop {
            match self.conn.recv_bytes_into(&mut self.incoming, 0).ok()? {
                connection::RecvInto::Fits(len) => break len,
                // The connection keeps it for the next receive, which has room for it.
                connection::RecvInto::TooShort(len) => self.incoming.resize(len, 0),
            }
        };
        let request = decode_request(&self.incoming[..len]);
        shrink(&mut self.incoming);
        Some(request)
    }

    fn send(&mut self, reply: Reply) -> bool {
        self.outgoing.clear();
        encode_reply(reply, &mut self.outgoing);
        let sent = self.conn.send_bytes(&self.outgoing).is_ok();
        shrink(&mut self.outgoing);
        sent
    }

    fn own(&mut self, on_channel: bool, id: &str, n: usize) {
        if on_channel {
            *self.owned.entry(id.to_owned()).or_default() += n;
        }
    }

    /// Drops one reference: this connection's own if it has one, else a global one.
    fn disown(&mut self, on_channel: bool, id: &str) -> bool {
        if on_channel {
            if let Some(n) = self.owned.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    self.owned.remove(id);
                }
            }
        }
        self.server.table.decref(id, 1)
    }

    fn hold(&mut self, object: &Arc<Object>) {
        if !self.held.iter().any(|o| o.id == object.id) {
            self.held.push(Arc::clone(object));
        }
    }

    /// The connection ended: what it held is let go, its references dropped.
    fn end(self) {
        for object in &self.held {
            object.referent.caller_gone(self.id);
        }
        for (id, n) in self.owned {
            self.server.table.decref(&id, n);
        }
    }
}

impl Caller for Client<'_> {
    fn id(&self) -> u64 {
        self.id
    }

    fn gone(&self) -> bool {
        if self.server.stopping.load(Relaxed) {
            return true;
        }
        let fd = self.conn.fileno();
        fd < 0
            || crate::sys::poll::poll(&[fd], libc::POLLRDHUP, Duration::ZERO, None).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_pickled_as_their_values_are() {
        let key = || Value::Str("key-07".into());
        let replies = [
            Value::None,
            Value::Int(7),
            Value::Int(-1 << 40),
            Value::Float(-0.5),
            Value::Str("x".repeat(300)),
            Value::Bytes(vec![0, 1, 2]),
            Value::Tuple(Vec::new()),
            Value::List(vec![Value::Int(1); 3]),
            Value::Dict(vec![(key(), Value::Tuple(vec![key(), Value::None]))]),
        ]
        .map(Reply::Return);
        let others = [
            Reply::Error(PyException::builtin("KeyError", "key-07")),
            traceback("boom"),
        ];
        for reply in replies.into_iter().chain(others) {
            let mut bytes = Vec::new();
            encode_reply(reply.clone(), &mut bytes);
            let whole = pickle::dumps(&reply.clone().into_value());
            assert_eq!(bytes, whole, "{reply:?}");
            let framed = bytes.starts_with(RETURN_HEAD) && bytes.ends_with(RETURN_TAIL);
            assert_eq!(framed, matches!(reply, Reply::Return(_)), "{reply:?}");
        }
    }
}
