//! This process's references to managers' objects, and what a fork does to them.
//!
//! On this library's server a process takes its references over one channel per server
//! (its session channel), and the server drops them when that channel ends: whenever
//! the process ends, however it ends. On a Python server references are taken and
//! dropped over one-shot connections, as Python's proxies do.
//!
//! A fork copies the proxies into the child. Before it, the parent opens the child's
//! session channel and takes the child's reference to every live proxy there; after it,
//! the parent closes its copy of that channel. So the child's references exist from its
//! first instant — a parent that frees its proxy right after the fork cannot take the
//! object from under the child — and go with the child, however it ends. (On a Python
//! server a child takes its references on first use, as Python's own children do when
//! they start.)

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::pickle::Value;
use super::proxy::Session;
use crate::connection::Connection;
use crate::error::Result;
use crate::sys::process::getpid;

/// This process's session channels: session id → channel.
type Channels = BTreeMap<u64, Arc<Connection>>;

static CHANNELS: Mutex<Channels> = Mutex::new(BTreeMap::new());
/// The references alive in this process (pruned as they go).
static LIVE: Mutex<Vec<Weak<Held>>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &'static Mutex<T>) -> MutexGuard<'static, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server function that takes or drops references (`create`, `incref`, `decref`, …):
/// on this process's session channel on this library's server, else one-shot.
pub(crate) fn call(session: &Session, function: &str, args: Vec<Value>) -> Result<Value> {
    if !session.is_ours() {
        return session.one_shot(function, args);
    }
    // One lock for every session: references change at create and free, not per call.
    let mut channels = lock(&CHANNELS);
    let conn = match channels.get(&session.id()) {
        Some(conn) => Arc::clone(conn),
        None => {
            let conn = session.open_channel()?;
            channels.insert(session.id(), Arc::clone(&conn));
            conn
        }
    };
    session
        .public_on(&conn, function, args)
        .inspect_err(|_| {
            // Out of step or gone: the next call opens a new channel. (An error the server
            // answered leaves the channel, and the references it holds, as they are.)
            channels.remove(&session.id());
        })
        .and_then(|answer| answer)
}

/// Makes `conn` this process's session channel for session `sid` (the channel that
/// probed the server at connect).
pub(crate) fn adopt(sid: u64, conn: Arc<Connection>) {
    lock(&CHANNELS).insert(sid, conn);
}

/// Closes session `sid`'s channel (the session is gone), which drops whatever
/// references it still held.
pub(crate) fn forget(sid: u64) {
    let conn = lock(&CHANNELS).remove(&sid);
    drop(conn);
}

/// One reference this process holds to an object of a server.
pub(crate) struct Held {
    session: Arc<Session>,
    id: String,
    /// The process whose reference this is.
    holder: AtomicI32,
}

impl Held {
    /// The reference this process just took (by `create`).
    pub fn new(session: &Arc<Session>, id: String) -> Arc<Held> {
        let held = Arc::new(Held {
            session: Arc::clone(session),
            id,
            holder: AtomicI32::new(getpid()),
        });
        let mut live = lock(&LIVE);
        live.retain(|h| h.strong_count() > 0);
        live.push(Arc::downgrade(&held));
        held
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Makes sure this process holds a reference (a child of a fork on a Python server
    /// takes its own on first use).
    pub fn hold_here(&self) -> Result<()> {
        let pid = getpid();
        if self.holder.load(Acquire) == pid {
            return Ok(());
        }
        call(&self.session, "incref", vec![Value::Str(self.id.clone())])?;
        self.holder.store(pid, Release);
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.holder.load(Acquire) == getpid() {
            // A server that is gone dropped everything already.
            let _ = call(&self.session, "decref", vec![Value::Str(self.id.clone())]);
        }
    }
}

/// The child's references, taken before a fork: its channels and what they hold.
struct Handoff {
    channels: MutexGuard<'static, Channels>,
    children: Vec<(u64, Arc<Connection>, Vec<Arc<Held>>)>,
}

thread_local! {
    /// Set by [`before_fork`] in the forking thread, taken after the fork.
    static HANDOFF: RefCell<Option<Handoff>> = const { RefCell::new(None) };
    /// Set while this thread forks a child that will use no proxy (a manager's server).
    static NO_HANDOFF: Cell<bool> = const { Cell::new(false) };
}

/// Runs `fork` (which forks once) giving the child no references: a manager's server
/// never uses the proxies it inherits, and references it held would keep other servers'
/// objects alive as long as it runs.
pub(crate) fn without_handoff<T>(fork: impl FnOnce() -> T) -> T {
    NO_HANDOFF.with(|n| n.set(true));
    let result = fork();
    NO_HANDOFF.with(|n| n.set(false));
    result
}

/// Before a fork (in the forking thread): opens the child's session channels and takes
/// the child's references there; then holds the channels' lock across the fork, so no
/// other thread is in the middle of a reference call at that instant. A server that
/// does not answer costs its proxies this (their children then take references on first
/// use), never the fork.
pub(crate) fn before_fork() {
    let pid = getpid();
    let handoff = !NO_HANDOFF.with(Cell::get);
    let live: Vec<Arc<Held>> = lock(&LIVE)
        .iter()
        .filter(|_| handoff)
        .filter_map(Weak::upgrade)
        .filter(|h| h.holder.load(Acquire) == pid && h.session.is_ours())
        .collect();
    let mut by_session: HashMap<u64, Vec<Arc<Held>>> = HashMap::new();
    for held in live {
        by_session.entry(held.session.id()).or_default().push(held);
    }
    let mut children = Vec::new();
    for (sid, helds) in by_session {
        let session = Arc::clone(&helds[0].session);
        let Ok(conn) = session.open_channel() else {
            continue;
        };
        let taken: Vec<Arc<Held>> = helds
            .into_iter()
            .take_while(|h| {
                matches!(
                    session.public_on(&conn, "incref", vec![Value::Str(h.id.clone())]),
                    Ok(Ok(_))
                )
            })
            .collect();
        children.push((sid, conn, taken));
    }
    let channels = lock(&CHANNELS);
    HANDOFF.with(|h| *h.borrow_mut() = Some(Handoff { channels, children }));
}

/// After a fork, in the parent: the children's channels are theirs alone.
pub(crate) fn after_fork_in_parent() {
    if let Some(handoff) = HANDOFF.with(|h| h.borrow_mut().take()) {
        for (_, conn, _) in &handoff.children {
            conn.close();
        }
    }
}

/// After a fork, in the child: its channels and references are the ones taken for it.
pub(crate) fn after_fork_in_child() {
    if let Some(Handoff {
        mut channels,
        children,
    }) = HANDOFF.with(|h| h.borrow_mut().take())
    {
        let pid = getpid();
        channels.clear();
        let mut helds = Vec::new();
        for (sid, conn, taken) in children {
            for held in &taken {
                held.holder.store(pid, Release);
            }
            channels.insert(sid, conn);
            helds.push(taken);
        }
        // Released before the references: dropping one takes the lock.
        drop(channels);
        drop(helds);
    }
}
