//! Typeid `Iterator`: what a dict's `__iter__` returns, served as its own object. A
//! Python client calls `__next__` until `StopIteration()`.
//!
//! It iterates over the keys as they were when it was made; a Python server's dict
//! iterator would instead raise `RuntimeError` if the dict changed size meanwhile.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::args::positional_args;
use super::blocking::lock;
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// The methods IteratorProxy calls; only `__next__` exists on a dict's key iterator.
pub(crate) const EXPOSED: &[&str] = &["__next__", "send", "throw", "close"];

/// The Python class of the iterator, as messages name it.
const CLASS: &str = "dict_keyiterator";

pub(crate) struct KeyIterator {
    remaining: Mutex<VecDeque<Value>>,
}

/// An iterator over `items`, for a `#PROXY` reply.
pub(crate) fn over(items: Vec<Value>) -> Arc<dyn Referent> {
    Arc::new(KeyIterator {
        remaining: Mutex::new(items.into()),
    })
}

impl Referent for KeyIterator {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        if method != "__next__" {
            return Err(no_attribute(CLASS, method));
        }
        positional_args("__next__", [], [], args, kwds)?;
        match lock(&self.remaining).pop_front() {
            Some(item) => Ok(Outcome::Return(item)),
            None => Err(Raised::new("builtins", "StopIteration", vec![])),
        }
    }

    /// As Python pickles a dict iterator: `iter([remaining keys])`.
    fn value(&self) -> Option<Value> {
        let iter = Value::Global {
            module: "builtins".into(),
            name: "iter".into(),
        };
        let items = Value::List(lock(&self.remaining).iter().cloned().collect());
        Some(Value::Reduce(
            Box::new(iter),
            Box::new(Value::Tuple(vec![items])),
        ))
    }

    fn repr(&self) -> String {
        format!("<{CLASS} object at {:#x}>", self as *const Self as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, exc, int, s, TestCaller};
    use super::*;

    #[test]
    fn yields_then_stops() {
        let it = over(vec![s("a"), int(2)]);
        let caller = TestCaller::new(1);
        assert_eq!(call(&*it, &caller, "__next__", vec![]).unwrap(), s("a"));
        let iter = Value::Global {
            module: "builtins".into(),
            name: "iter".into(),
        };
        let rest = Value::Tuple(vec![Value::List(vec![int(2)])]);
        assert_eq!(
            it.value(),
            Some(Value::Reduce(Box::new(iter), Box::new(rest)))
        );
        assert_eq!(call(&*it, &caller, "__next__", vec![]).unwrap(), int(2));
        let stop = call(&*it, &caller, "__next__", vec![]).unwrap_err();
        assert_eq!(stop, Raised::new("builtins", "StopIteration", vec![]));
        let err = call(&*it, &caller, "__next__", vec![int(1)]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "__next__() takes no arguments (1 given)")
        );
        let err = call(&*it, &caller, "send", vec![Value::None]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "AttributeError",
                "'dict_keyiterator' object has no attribute 'send'"
            )
        );
        assert!(it.repr().starts_with("<dict_keyiterator object at 0x"));
    }
}
