//! Managed queues, locks, semaphores, conditions, events, barriers, values and arrays:
//! this module implements each area's remote trait over a [`Proxy`], with the method
//! names Python's proxies send, so the same C calls work on a Python manager's objects.
//!
//! A wait is asked of the server in slices of at most [`SLICE`]: a pending
//! `pc_interrupt()` is seen between two, and no call waits on a server that stopped
//! answering for longer than a slice and a grace. (A Condition wait may end a slice
//! early: the caller holds the lock again between two, so no notification is lost.)

use std::sync::Arc;
use std::time::Duration;

use super::items;
use super::pickle::Value;
use super::protocol::global;
use super::proxy::Proxy;
use super::Manager;
use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;
use crate::queue::{Queue, RemoteQueue};
use crate::sharedctypes::{Array, ElemType, RemoteArray, RemoteValue, Value as SharedValue};
use crate::synchronize::{
    Barrier, Condition, Event, Lock, RemoteAcquirer, RemoteBarrier, RemoteCondition, RemoteEvent,
    Semaphore,
};

/// The longest a single call waits in the server.
const SLICE: Duration = Duration::from_millis(100);

/// Runs `attempt(wait)` (a call that waits at most `wait` in the server and answers
/// whether it succeeded) until it does, the deadline passes (`Timeout`), or an
/// interrupt. It is tried once even with a deadline already passed.
fn sliced<T>(
    deadline: Deadline,
    mut attempt: impl FnMut(Duration) -> Result<Option<T>>,
) -> Result<T> {
    loop {
        let wait = deadline.remaining().map_or(SLICE, |left| left.min(SLICE));
        if let Some(done) = attempt(wait)? {
            return Ok(done);
        }
        deadline::next_slice(deadline, Interrupts::Honour)?;
    }
}

fn seconds(wait: Duration) -> Value {
    Value::Float(wait.as_secs_f64())
}

/// A bool reply.
fn truth(value: Value, what: &str) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(unexpected(what, &other)),
    }
}

fn count(value: Value, what: &str) -> Result<usize> {
    match value {
        Value::Int(n) if n >= 0 => Ok(n as usize),
        other => Err(unexpected(what, &other)),
    }
}

fn unexpected(what: &str, value: &Value) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the manager's {what} is not what Python returns: {value:?}"),
    )
}

/// A managed `Queue` or `JoinableQueue` (Python's `queue.Queue` in the server).
pub(crate) struct ProxyQueue(pub Proxy);

impl RemoteQueue for ProxyQueue {
    fn put(&self, item: Item, deadline: Deadline) -> Result<()> {
        let item = items::to_value(item)?;
        sliced(deadline, |wait| {
            let args = vec![item.clone(), Value::Bool(true), seconds(wait)];
            match self.0.call("put", args, vec![], Some(wait)) {
                Ok(_) => Ok(Some(())),
                Err(e) if e.kind() == ErrorKind::Full => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| retag(e, ErrorKind::Full, "the queue is full"))
    }

    fn get(&self, deadline: Deadline) -> Result<Item> {
        sliced(deadline, |wait| {
            let args = vec![Value::Bool(true), seconds(wait)];
            match self.0.call("get", args, vec![], Some(wait)) {
                Ok(value) => Ok(Some(items::to_item(value))),
                Err(e) if e.kind() == ErrorKind::Empty => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| retag(e, ErrorKind::Empty, "the queue is empty"))
    }

    fn qsize(&self) -> Result<usize> {
        count(self.0.call("qsize", vec![], vec![], None)?, "qsize()")
    }

    fn empty(&self) -> Result<bool> {
        truth(self.0.call("empty", vec![], vec![], None)?, "empty()")
    }

    fn full(&self) -> Result<bool> {
        truth(self.0.call("full", vec![], vec![], None)?, "full()")
    }

    fn task_done(&self) -> Result<()> {
        self.0.call("task_done", vec![], vec![], None).map(drop)
    }

    fn join(&self, deadline: Deadline) -> Result<()> {
        // Python's `join` takes no timeout: the reply is awaited until the deadline, and
        // a join still waiting then is abandoned with its channel.
        self.0.call_by("join", vec![], vec![], deadline).map(drop)
    }
}

/// A sliced wait that ran out is the area's own error (`Full`, `Empty`), not `Timeout`.
fn retag(e: Error, kind: ErrorKind, message: &str) -> Error {
    match e.kind() {
        ErrorKind::Timeout => Error::new(kind, message),
        _ => e,
    }
}

/// `acquire(True, wait)` in slices until it returns True.
fn acquire(proxy: &Proxy, deadline: Deadline) -> Result<()> {
    sliced(deadline, |wait| {
        let args = vec![Value::Bool(true), seconds(wait)];
        let got = truth(
            proxy.call("acquire", args, vec![], Some(wait))?,
            "acquire()",
        )?;
        Ok(got.then_some(()))
    })
}

fn release(proxy: &Proxy) -> Result<()> {
    proxy.call("release", vec![], vec![], None).map(drop)
}

/// A managed `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore`.
pub(crate) struct ProxyAcquirer(pub Proxy);

impl RemoteAcquirer for ProxyAcquirer {
    fn acquire(&self, deadline: Deadline) -> Result<()> {
        acquire(&self.0, deadline)
    }

    fn release(&self) -> Result<()> {
        release(&self.0)
    }
}

/// A managed `Condition`.
pub(crate) struct ProxyCondition(pub Proxy);

impl RemoteAcquirer for ProxyCondition {
    fn acquire(&self, deadline: Deadline) -> Result<()> {
        acquire(&self.0, deadline)
    }

    fn release(&self) -> Result<()> {
        release(&self.0)
    }
}

impl RemoteCondition for ProxyCondition {
    fn wait(&self, deadline: Deadline) -> Result<()> {
        sliced(deadline, |wait| {
            let args = vec![seconds(wait)];
            let woken = truth(self.0.call("wait", args, vec![], Some(wait))?, "wait()")?;
            Ok(woken.then_some(()))
        })
    }

    fn notify(&self, n: usize) -> Result<()> {
        let n = Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        self.0.call("notify", vec![n], vec![], None).map(drop)
    }

    fn notify_all(&self) -> Result<()> {
        self.0.call("notify_all", vec![], vec![], None).map(drop)
    }
}

/// A managed `Event`.
pub(crate) struct ProxyEvent(pub Proxy);

impl RemoteEvent for ProxyEvent {
    fn set(&self) -> Result<()> {
        self.0.call("set", vec![], vec![], None).map(drop)
    }

    fn clear(&self) -> Result<()> {
        self.0.call("clear", vec![], vec![], None).map(drop)
    }

    fn is_set(&self) -> Result<bool> {
        truth(self.0.call("is_set", vec![], vec![], None)?, "is_set()")
    }

    fn wait(&self, deadline: Deadline) -> Result<()> {
        sliced(deadline, |wait| {
            let set = truth(
                self.0
                    .call("wait", vec![seconds(wait)], vec![], Some(wait))?,
                "wait()",
            )?;
            Ok(set.then_some(()))
        })
    }
}

/// A managed `Barrier`. Its wait cannot be sliced (each call is an arrival): it is one
/// call, with the caller's timeout.
pub(crate) struct ProxyBarrier(pub Proxy);

impl ProxyBarrier {
    fn attribute(&self, name: &str) -> Result<Value> {
        self.0.call(
            "__getattribute__",
            vec![Value::Str(name.into())],
            vec![],
            None,
        )
    }
}

impl RemoteBarrier for ProxyBarrier {
    fn wait(&self, deadline: Deadline) -> Result<usize> {
        let wait = deadline.remaining();
        let timeout = wait.map_or(Value::None, seconds);
        let index = self.0.call("wait", vec![timeout], vec![], wait)?;
        count(index, "wait()")
    }

    fn abort(&self) -> Result<()> {
        self.0.call("abort", vec![], vec![], None).map(drop)
    }

    fn reset(&self) -> Result<()> {
        self.0.call("reset", vec![], vec![], None).map(drop)
    }

    fn n_waiting(&self) -> Result<usize> {
        count(self.attribute("n_waiting")?, "n_waiting")
    }

    fn broken(&self) -> Result<bool> {
        truth(self.attribute("broken")?, "broken")
    }
}

/// A managed `Value`.
pub(crate) struct ProxyValue(pub Proxy);

impl RemoteValue for ProxyValue {
    fn get(&self) -> Result<Item> {
        self.0.call("get", vec![], vec![], None).map(items::to_item)
    }

    fn set(&self, item: Item) -> Result<()> {
        let value = items::to_value(item)?;
        self.0.call("set", vec![value], vec![], None).map(drop)
    }
}

/// A managed `Array` (`array.array` in the server).
pub(crate) struct ProxyArray {
    proxy: Proxy,
    elem: ElemType,
}

impl ProxyArray {
    fn index(i: usize) -> Value {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }

    fn range(start: usize, count: usize) -> Value {
        let stop = start.saturating_add(count);
        Value::Reduce(
            Box::new(global("builtins", "slice")),
            Box::new(Value::Tuple(vec![
                ProxyArray::index(start),
                ProxyArray::index(stop),
                Value::None,
            ])),
        )
    }
}

impl RemoteArray for ProxyArray {
    fn get(&self, index: usize) -> Result<Item> {
        self.proxy
            .call("__getitem__", vec![ProxyArray::index(index)], vec![], None)
            .map(items::to_item)
    }

    fn set(&self, index: usize, item: Item) -> Result<()> {
        let args = vec![ProxyArray::index(index), items::to_value(item)?];
        self.proxy.call("__setitem__", args, vec![], None).map(drop)
    }

    fn read(&self, start: usize, count: usize) -> Result<Vec<Item>> {
        let part = self.proxy.call(
            "__getitem__",
            vec![ProxyArray::range(start, count)],
            vec![],
            None,
        )?;
        array_items(part)
    }

    fn write(&self, start: usize, items: &[Item]) -> Result<()> {
        // `array.array` takes a slice assignment from another array.array only: the
        // elements go as one, in the C bytes `array.array(typecode, raw)` is pickled with.
        let size = self.elem.size();
        let mut raw = vec![0u8; size * items.len()];
        for (item, out) in items.iter().zip(raw.chunks_exact_mut(size)) {
            self.elem.to_c(item, out)?;
        }
        let code = char::from(self.elem.typecode()).to_string();
        let array = Value::Reduce(
            Box::new(global("array", "array")),
            Box::new(Value::Tuple(vec![Value::Str(code), Value::Bytes(raw)])),
        );
        let args = vec![ProxyArray::range(start, items.len()), array];
        self.proxy.call("__setitem__", args, vec![], None).map(drop)
    }
}

/// The elements of an `array.array` slice as Python's managers pickle it:
/// `array.array(typecode, raw bytes)`, or a plain list.
fn array_items(value: Value) -> Result<Vec<Item>> {
    match value {
        Value::List(v) | Value::Tuple(v) => Ok(v.into_iter().map(items::to_item).collect()),
        Value::Reduce(class, args) if is_array_class(&class) => match *args {
            Value::Tuple(parts) => match parts.as_slice() {
                [Value::Str(code), Value::Bytes(raw)] if code.len() == 1 => {
                    ElemType::from_typecode(code.as_bytes()[0])?.items(raw)
                }
                _ => Err(unexpected("array slice", &Value::Tuple(parts))),
            },
            other => Err(unexpected("array slice", &other)),
        },
        other => Err(unexpected("array slice", &other)),
    }
}

fn is_array_class(value: &Value) -> bool {
    matches!(value, Value::Global { module, name } if module == "array" && name == "array")
}

/// The managed objects of every area, made in `manager`'s server (or named there).
impl Manager {
    pub fn queue(&self, name: Option<&str>, maxsize: usize, joinable: bool) -> Result<Arc<Queue>> {
        let typeid = if joinable { "JoinableQueue" } else { "Queue" };
        let size = Value::Int(i64::try_from(maxsize).unwrap_or(i64::MAX));
        let proxy = self.create(typeid, name, vec![size])?;
        Ok(Queue::remote(
            Box::new(ProxyQueue(proxy)),
            joinable,
            maxsize,
        ))
    }

    /// A `Lock` or (`recursive`) an `RLock`.
    pub fn lock(&self, name: Option<&str>, recursive: bool) -> Result<Arc<Lock>> {
        let typeid = if recursive { "RLock" } else { "Lock" };
        let proxy = self.create(typeid, name, vec![])?;
        Ok(Lock::remote(Box::new(ProxyAcquirer(proxy)), recursive))
    }

    pub fn semaphore(
        &self,
        name: Option<&str>,
        value: u32,
        bounded: bool,
    ) -> Result<Arc<Semaphore>> {
        let typeid = if bounded {
            "BoundedSemaphore"
        } else {
            "Semaphore"
        };
        let proxy = self.create(typeid, name, vec![Value::Int(value.into())])?;
        Ok(Semaphore::remote(Box::new(ProxyAcquirer(proxy))))
    }

    pub fn condition(&self, name: Option<&str>) -> Result<Arc<Condition>> {
        let proxy = self.create("Condition", name, vec![])?;
        Ok(Condition::remote(Box::new(ProxyCondition(proxy))))
    }

    pub fn event(&self, name: Option<&str>) -> Result<Arc<Event>> {
        let proxy = self.create("Event", name, vec![])?;
        Ok(Event::remote(Box::new(ProxyEvent(proxy))))
    }

    pub fn barrier(&self, name: Option<&str>, parties: usize) -> Result<Arc<Barrier>> {
        if parties == 0 {
            return Err(Error::invalid_argument("parties must be at least 1"));
        }
        let n = Value::Int(i64::try_from(parties).unwrap_or(i64::MAX));
        let proxy = self.create("Barrier", name, vec![n])?;
        Ok(Barrier::remote(Box::new(ProxyBarrier(proxy)), parties))
    }

    /// A `Value` of `typecode`, starting at `init` (the C bytes of one element; zero
    /// when `None`).
    pub fn value(
        &self,
        name: Option<&str>,
        typecode: u8,
        init: Option<&[u8]>,
    ) -> Result<Arc<SharedValue>> {
        let elem = ElemType::from_typecode(typecode)?;
        let zero = vec![0u8; elem.size()];
        let first = elem.to_item(init.unwrap_or(&zero))?;
        let code = Value::Str(char::from(typecode).to_string());
        let proxy = self.create("Value", name, vec![code, items::to_value(first)?])?;
        SharedValue::remote(Box::new(ProxyValue(proxy)), typecode)
    }

    /// An `Array` of `len` elements of `typecode`, from `init` (`len` C elements; zeros
    /// when `None`).
    pub fn array(
        &self,
        name: Option<&str>,
        typecode: u8,
        len: usize,
        init: Option<&[u8]>,
    ) -> Result<Arc<Array>> {
        let elem = ElemType::from_typecode(typecode)?;
        let zeros;
        let bytes = match init {
            Some(bytes) => bytes,
            None => {
                zeros = vec![0u8; elem.size().saturating_mul(len)];
                &zeros
            }
        };
        let elements = items::to_values(elem.items(bytes)?)?;
        let code = Value::Str(char::from(typecode).to_string());
        let proxy = self.create("Array", name, vec![code, Value::List(elements)])?;
        Array::remote(Box::new(ProxyArray { proxy, elem }), typecode, len)
    }
}
