//! Typeid `Namespace`: `multiprocessing.managers.Namespace`, a bag of attributes that
//! NamespaceProxy reads and writes by name.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use super::args::{attribute_name, positional_args, Signature, Style};
use super::blocking::lock;
use super::repr::repr;
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) const EXPOSED: &[&str] = &["__getattribute__", "__setattr__", "__delattr__"];

/// The attributes in the order they were first set (the object's `__dict__`).
pub(crate) struct Namespace {
    attrs: Mutex<IndexMap<String, Value>>,
}

/// `Namespace(**kwds)`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let (([], []), attrs) =
        Signature::new("Namespace.__init__", Style::Method, [], []).bind_extra(args, kwds)?;
    Ok(Arc::new(Namespace {
        attrs: Mutex::new(attrs.into_iter().collect()),
    }))
}

impl Namespace {
    fn method(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        let mut attrs = lock(&self.attrs);
        let missing = |name: &str| no_attribute("Namespace", name);
        Ok(match method {
            "__getattribute__" => {
                let ([name], []) = positional_args("__getattribute__", ["name"], [], args, kwds)?;
                let name = attribute_name(&name)?;
                attrs.get(name).cloned().ok_or_else(|| missing(name))?
            }
            "__setattr__" => {
                let ([name, value], []) =
                    positional_args("__setattr__", ["name", "value"], [], args, kwds)?;
                attrs.insert(attribute_name(&name)?.to_owned(), value);
                Value::None
            }
            "__delattr__" => {
                let ([name], []) = positional_args("__delattr__", ["name"], [], args, kwds)?;
                let name = attribute_name(&name)?;
                attrs.shift_remove(name).ok_or_else(|| missing(name))?;
                Value::None
            }
            _ => return Err(no_attribute("Namespace", method)),
        })
    }
}

impl Referent for Namespace {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(method, args, kwds).map(Outcome::Return)
    }

    /// As Python pickles it: a `Namespace` made without arguments, then its `__dict__`.
    fn value(&self) -> Option<Value> {
        let class = Value::Global {
            module: "multiprocessing.managers".into(),
            name: "Namespace".into(),
        };
        let new = Value::NewObj(Box::new(class), Box::new(Value::Tuple(vec![])));
        let state = lock(&self.attrs)
            .iter()
            .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
            .collect();
        Some(Value::Build(Box::new(new), Box::new(Value::Dict(state))))
    }

    /// `Namespace(a=1, b='x')`: the public attributes, sorted as Python sorts the
    /// `name=value` texts.
    fn repr(&self) -> String {
        let attrs = lock(&self.attrs);
        let mut shown: Vec<String> = attrs
            .iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .map(|(name, value)| format!("{name}={}", repr(value)))
            .collect();
        shown.sort();
        format!("Namespace({})", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, create, exc, int, s, TestCaller};
    use super::*;

    #[test]
    fn attributes() {
        let ns = create("Namespace", vec![], &[("a", int(1))]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(
            call(&*ns, &c, "__getattribute__", vec![s("a")]).unwrap(),
            int(1)
        );
        call(&*ns, &c, "__setattr__", vec![s("b"), s("x")]).unwrap();
        assert_eq!(
            call(&*ns, &c, "__getattribute__", vec![s("b")]).unwrap(),
            s("x")
        );
        let err = call(&*ns, &c, "__getattribute__", vec![s("zzz")]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "AttributeError",
                "'Namespace' object has no attribute 'zzz'"
            )
        );
        call(&*ns, &c, "__delattr__", vec![s("b")]).unwrap();
        let err = call(&*ns, &c, "__delattr__", vec![s("b")]).unwrap_err();
        assert_eq!(
            err,
            exc("AttributeError", "'Namespace' object has no attribute 'b'")
        );
        let err = call(&*ns, &c, "__getattribute__", vec![int(5)]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "attribute name must be string, not 'int'")
        );
    }

    #[test]
    fn repr_and_value() {
        let ns = create(
            "Namespace",
            vec![],
            &[("a", int(1)), ("b", s("x")), ("a0", int(2)), ("_c", int(3))],
        )
        .unwrap();
        assert_eq!(ns.repr(), "Namespace(a0=2, a=1, b='x')");
        let class = Value::Global {
            module: "multiprocessing.managers".into(),
            name: "Namespace".into(),
        };
        let new = Value::NewObj(Box::new(class), Box::new(Value::Tuple(vec![])));
        let state = Value::Dict(vec![
            (s("a"), int(1)),
            (s("b"), s("x")),
            (s("a0"), int(2)),
            (s("_c"), int(3)),
        ]);
        assert_eq!(
            ns.value(),
            Some(Value::Build(Box::new(new), Box::new(state)))
        );
        let err = create("Namespace", vec![int(1)], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Namespace.__init__() takes 1 positional argument but 2 were given"
            )
        );
    }
}
