//! Typeid `Value`: `multiprocessing.managers.Value(typecode, value, lock=True)`, one
//! stored object. As in Python, the typecode is only remembered (any value is stored)
//! and `lock` is ignored.

use std::sync::{Arc, Mutex};

use super::args::method_args;
use super::blocking::lock;
use super::repr::repr;
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) const EXPOSED: &[&str] = &["get", "set"];

pub(crate) struct Cell {
    typecode: Value,
    value: Mutex<Value>,
}

/// `Value(typecode, value, lock=True)`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let ([typecode, value], [_lock]) = method_args(
        "Value.__init__",
        ["typecode", "value"],
        ["lock"],
        args,
        kwds,
    )?;
    Ok(Arc::new(Cell {
        typecode,
        value: Mutex::new(value),
    }))
}

impl Referent for Cell {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        let mut value = lock(&self.value);
        match method {
            "get" => {
                method_args("Value.get", [], [], args, kwds)?;
                Ok(Outcome::Return(value.clone()))
            }
            "set" => {
                let ([new], []) = method_args("Value.set", ["value"], [], args, kwds)?;
                *value = new;
                Ok(Outcome::Return(Value::None))
            }
            _ => Err(no_attribute("Value", method)),
        }
    }

    /// As Python pickles it: a `Value` made without arguments, then its `__dict__`.
    fn value(&self) -> Option<Value> {
        let class = Value::Global {
            module: "multiprocessing.managers".into(),
            name: "Value".into(),
        };
        let new = Value::NewObj(Box::new(class), Box::new(Value::Tuple(vec![])));
        let state = Value::Dict(vec![
            (Value::Str("_typecode".into()), self.typecode.clone()),
            (Value::Str("_value".into()), lock(&self.value).clone()),
        ]);
        Some(Value::Build(Box::new(new), Box::new(state)))
    }

    fn repr(&self) -> String {
        format!(
            "Value({}, {})",
            repr(&self.typecode),
            repr(&lock(&self.value))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, create, exc, int, s, TestCaller};
    use super::*;

    #[test]
    fn get_set_any_value() {
        let v = create(
            "Value",
            vec![s("i"), int(5)],
            &[("lock", Value::Bool(false))],
        )
        .unwrap();
        let c = TestCaller::new(1);
        assert_eq!(v.repr(), "Value('i', 5)");
        assert_eq!(call(&*v, &c, "get", vec![]).unwrap(), int(5));
        call(&*v, &c, "set", vec![s("not an int")]).unwrap();
        assert_eq!(call(&*v, &c, "get", vec![]).unwrap(), s("not an int"));
        let err = call(&*v, &c, "set", vec![]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Value.set() missing 1 required positional argument: 'value'"
            )
        );
        let class = Value::Global {
            module: "multiprocessing.managers".into(),
            name: "Value".into(),
        };
        let new = Value::NewObj(Box::new(class), Box::new(Value::Tuple(vec![])));
        let state = Value::Dict(vec![
            (s("_typecode"), s("i")),
            (s("_value"), s("not an int")),
        ]);
        assert_eq!(
            v.value(),
            Some(Value::Build(Box::new(new), Box::new(state)))
        );
    }

    #[test]
    fn create_needs_a_value() {
        let err = create("Value", vec![s("i")], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Value.__init__() missing 1 required positional argument: 'value'"
            )
        );
    }
}
