//! The objects a manager's server holds for SyncManager's typeids, as a Python server
//! would: each is a [`Referent`] that answers calls by the method names Python's proxies
//! send, with Python's results and Python's exceptions.

use std::sync::Arc;

use super::pickle::Value;
use super::protocol::PyException;

mod args;
mod array;
mod barrier;
mod blocking;
mod condition;
mod dict;
mod event;
mod iterator;
mod list;
mod lock;
mod namespace;
mod num;
mod queue;
pub(crate) mod repr;
pub(crate) mod semantics;
mod slice;
#[cfg(test)]
mod testing;
mod value;

/// Who calls: the server connection a call arrives on (one client thread).
pub(crate) trait Caller {
    /// Unique for the server's life; ownership of an RLock or Condition is by caller.
    fn id(&self) -> u64;
    /// True once the client hung up or the server is shutting down: a blocking method
    /// polls this (at least every 50 ms) and gives up, so no server thread waits for a
    /// client that is gone.
    fn gone(&self) -> bool;
}

/// What a method call produced.
pub(crate) enum Outcome {
    /// `('#RETURN', value)`.
    Return(Value),
    /// A new object served under `typeid`, replied as `('#PROXY', …)` (a dict's `__iter__`).
    Proxy {
        typeid: &'static str,
        referent: Arc<dyn Referent>,
    },
}

/// A method's Python exception, replied as `('#ERROR', exception)`.
pub(crate) type Raised = PyException;

/// An object the server holds.
pub(crate) trait Referent: Send + Sync {
    /// Runs `method` (already checked against the exposed list) with Python's arguments.
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised>;

    /// The whole value, for `#GETVALUE`; `None` (the default) when it cannot be
    /// pickled, as a lock or a queue.
    fn value(&self) -> Option<Value> {
        None
    }

    /// Python's `repr` of the object, for `__repr__`/`__str__` and `debug_info`.
    fn repr(&self) -> String;

    /// Called once when a caller's connection ends: an object that a caller may hold
    /// (a lock) lets go of what that caller held, so a dead client blocks nobody.
    fn caller_gone(&self, _caller: u64) {}
}

/// Builds an object from `create`'s arguments (`args`, `kwds`).
pub(crate) type Create = fn(Vec<Value>, Vec<(String, Value)>) -> Result<Arc<dyn Referent>, Raised>;

/// One of SyncManager's typeids.
pub(crate) struct BuiltinType {
    pub typeid: &'static str,
    /// The methods clients may call (Python's exposed list for the typeid).
    pub exposed: &'static [&'static str],
    /// Builds the object from `create`'s arguments; `None` for typeids that only come
    /// back from methods (`Iterator`).
    pub create: Option<Create>,
    /// True for objects whose [`Referent::caller_gone`] must be called.
    pub tracks_callers: bool,
}

/// A typeid's table entry.
const fn typeid(
    typeid: &'static str,
    exposed: &'static [&'static str],
    create: Option<Create>,
    tracks_callers: bool,
) -> BuiltinType {
    BuiltinType {
        typeid,
        exposed,
        create,
        tracks_callers,
    }
}

static TYPES: [BuiltinType; 15] = [
    typeid("Queue", queue::EXPOSED, Some(queue::create), false),
    typeid("JoinableQueue", queue::EXPOSED, Some(queue::create), false),
    typeid("Event", event::EXPOSED, Some(event::create), false),
    typeid("Lock", lock::EXPOSED, Some(lock::create_lock), true),
    typeid("RLock", lock::EXPOSED, Some(lock::create_rlock), true),
    typeid(
        "Semaphore",
        lock::EXPOSED,
        Some(lock::create_semaphore),
        false,
    ),
    typeid(
        "BoundedSemaphore",
        lock::EXPOSED,
        Some(lock::create_bounded_semaphore),
        false,
    ),
    typeid(
        "Condition",
        condition::EXPOSED,
        Some(condition::create),
        true,
    ),
    typeid("Barrier", barrier::EXPOSED, Some(barrier::create), false),
    typeid("list", list::EXPOSED, Some(list::create), false),
    typeid("dict", dict::EXPOSED, Some(dict::create), false),
    typeid("Value", value::EXPOSED, Some(value::create), false),
    typeid("Array", array::EXPOSED, Some(array::create), false),
    typeid(
        "Namespace",
        namespace::EXPOSED,
        Some(namespace::create),
        false,
    ),
    typeid("Iterator", iterator::EXPOSED, None, false),
];

/// Every SyncManager typeid a server can serve (not `Pool` and `AsyncResult`, which run
/// Python code), with Python's exposed methods (3.14's additions included: an extra name
/// is harmless to older clients).
pub(crate) fn types() -> &'static [BuiltinType] {
    &TYPES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typeid_once() {
        let mut names: Vec<&str> = types().iter().map(|t| t.typeid).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), types().len());
        assert!(types()
            .iter()
            .all(|t| t.create.is_some() == (t.typeid != "Iterator")));
    }
}
