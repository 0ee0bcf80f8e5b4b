//! Test helpers: a [`Caller`] whose hang-up a test controls, and short ways to create
//! objects by typeid and call their methods.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{types, Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) struct TestCaller {
    id: u64,
    gone: AtomicBool,
}

impl TestCaller {
    pub(crate) fn new(id: u64) -> TestCaller {
        TestCaller {
            id,
            gone: AtomicBool::new(false),
        }
    }

    pub(crate) fn hang_up(&self) {
        self.gone.store(true, Ordering::SeqCst);
    }
}

impl Caller for TestCaller {
    fn id(&self) -> u64 {
        self.id
    }

    fn gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

/// Creates an object of `typeid` as the server's `create` would.
pub(crate) fn create(
    typeid: &str,
    args: Vec<Value>,
    kwds: &[(&str, Value)],
) -> Result<Arc<dyn Referent>, Raised> {
    let ty = types()
        .iter()
        .find(|t| t.typeid == typeid)
        .expect("a known typeid");
    (ty.create.expect("a creatable typeid"))(args, owned(kwds))
}

/// Calls `method` with keywords, expecting a plain return (not a proxy).
pub(crate) fn call_kw(
    obj: &dyn Referent,
    caller: &TestCaller,
    method: &str,
    args: Vec<Value>,
    kwds: &[(&str, Value)],
) -> Result<Value, Raised> {
    match obj.call(caller, method, args, owned(kwds))? {
        Outcome::Return(value) => Ok(value),
        Outcome::Proxy { typeid, .. } => panic!("{method} returned a {typeid} proxy"),
    }
}

/// Calls `method` with positional arguments, expecting a plain return.
pub(crate) fn call(
    obj: &dyn Referent,
    caller: &TestCaller,
    method: &str,
    args: Vec<Value>,
) -> Result<Value, Raised> {
    call_kw(obj, caller, method, args, &[])
}

fn owned(kwds: &[(&str, Value)]) -> Vec<(String, Value)> {
    kwds.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub(crate) fn s(text: &str) -> Value {
    Value::Str(text.into())
}

pub(crate) fn int(i: i64) -> Value {
    Value::Int(i)
}

pub(crate) fn ints(items: &[i64]) -> Value {
    Value::List(items.iter().map(|&i| Value::Int(i)).collect())
}

/// `builtins.<name>(message)`.
pub(crate) fn exc(name: &str, message: &str) -> Raised {
    Raised::builtin(name, message)
}

/// A pickled `slice(start, stop, step)`.
pub(crate) fn slice(start: Value, stop: Value, step: Value) -> Value {
    let class = Value::Global {
        module: "builtins".into(),
        name: "slice".into(),
    };
    Value::Reduce(
        Box::new(class),
        Box::new(Value::Tuple(vec![start, stop, step])),
    )
}
