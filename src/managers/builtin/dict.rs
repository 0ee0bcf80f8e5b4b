//! Typeid `dict`: Python's dict, ordered by insertion, keyed by Python equality (`1`,
//! `1.0` and `True` are one key, and the first key object given is kept).

use std::sync::{Arc, Mutex};

use indexmap::map::Entry;
use indexmap::IndexMap;

use super::args::{positional_args, type_error, value_error, Signature, Style};
use super::blocking::lock;
use super::repr::repr;
use super::semantics::{elements, key, no_attribute, Key};
use super::{iterator, Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// DictProxy's methods, with Python 3.14's additions.
pub(crate) const EXPOSED: &[&str] = &[
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__iter__",
    "__len__",
    "__setitem__",
    "clear",
    "copy",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
    "__ior__",
    "__or__",
    "__reversed__",
    "__ror__",
    "fromkeys",
];

/// Each entry keeps the key as given and its value, under the key's Python identity.
type Table = IndexMap<Key, (Value, Value)>;

pub(crate) struct Dict {
    table: Mutex<Table>,
}

/// `dict(mapping_or_pairs=(), **kwds)`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let mut table = Table::new();
    update(&mut table, "dict", args, kwds)?;
    Ok(Arc::new(Dict {
        table: Mutex::new(table),
    }))
}

/// `update(other=(), **kwds)`, also `dict(...)`'s arguments (`name` for messages).
fn update(
    table: &mut Table,
    name: &'static str,
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<(), Raised> {
    let signature = Signature::new(name, Style::Positional, [], ["other"]);
    let (([], [other]), extra) = signature.bind_extra(args, kwds)?;
    if let Some(other) = other {
        merge(table, other)?;
    }
    for (k, v) in extra {
        insert(table, Value::Str(k), v)?;
    }
    Ok(())
}

/// Adds the pairs of a dict, or of any iterable of 2-item iterables, as Python's update.
fn merge(table: &mut Table, other: Value) -> Result<(), Raised> {
    if let Value::Dict(pairs) = other {
        return pairs.into_iter().try_for_each(|(k, v)| insert(table, k, v));
    }
    for (i, item) in elements(&other)?.into_iter().enumerate() {
        let pair = elements(&item).map_err(|_| {
            type_error(format!(
                "cannot convert dictionary update sequence element #{i} to a sequence"
            ))
        })?;
        let [k, v] = <[Value; 2]>::try_from(pair).map_err(|pair| {
            value_error(format!(
                "dictionary update sequence element #{i} has length {}; 2 is required",
                pair.len()
            ))
        })?;
        insert(table, k, v)?;
    }
    Ok(())
}

/// `table[k] = v`: a new key is appended; an existing one keeps its place and key object.
fn insert(table: &mut Table, k: Value, v: Value) -> Result<(), Raised> {
    match table.entry(key(&k)?) {
        Entry::Occupied(mut entry) => entry.get_mut().1 = v,
        Entry::Vacant(entry) => {
            entry.insert((k, v));
        }
    }
    Ok(())
}

fn keys(table: &Table) -> impl DoubleEndedIterator<Item = Value> + '_ {
    table.values().map(|(k, _)| k.clone())
}

fn to_value(table: &Table) -> Value {
    Value::Dict(table.values().cloned().collect())
}

fn key_error(k: Value) -> Raised {
    Raised::new("builtins", "KeyError", vec![k])
}

impl Dict {
    fn method(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        let mut table = lock(&self.table);
        Ok(match method {
            "__contains__" => {
                let ([k], []) = positional_args("__contains__", ["key"], [], args, kwds)?;
                Value::Bool(table.contains_key(&key(&k)?))
            }
            "__getitem__" => {
                let ([k], []) = positional_args("__getitem__", ["key"], [], args, kwds)?;
                match table.get(&key(&k)?) {
                    Some((_, v)) => v.clone(),
                    None => return Err(key_error(k)),
                }
            }
            "__setitem__" => {
                let ([k, v], []) =
                    positional_args("__setitem__", ["key", "value"], [], args, kwds)?;
                insert(&mut table, k, v)?;
                Value::None
            }
            "__delitem__" => {
                let ([k], []) = positional_args("__delitem__", ["key"], [], args, kwds)?;
                if table.shift_remove(&key(&k)?).is_none() {
                    return Err(key_error(k));
                }
                Value::None
            }
            "__len__" => {
                positional_args("__len__", [], [], args, kwds)?;
                Value::Int(table.len() as i64)
            }
            "__reversed__" => {
                // As Python pickles `reversed(d)`: `iter([keys, last first])`.
                positional_args("__reversed__", [], [], args, kwds)?;
                let iter = Value::Global {
                    module: "builtins".into(),
                    name: "iter".into(),
                };
                let reversed = Value::List(keys(&table).rev().collect());
                Value::Reduce(Box::new(iter), Box::new(Value::Tuple(vec![reversed])))
            }
            "clear" => {
                positional_args("dict.clear", [], [], args, kwds)?;
                table.clear();
                Value::None
            }
            "copy" => {
                positional_args("dict.copy", [], [], args, kwds)?;
                to_value(&table)
            }
            "get" => {
                let ([k], [default]) = positional_args("get", ["key"], ["default"], args, kwds)?;
                match table.get(&key(&k)?) {
                    Some((_, v)) => v.clone(),
                    None => default.unwrap_or(Value::None),
                }
            }
            "keys" => {
                positional_args("dict.keys", [], [], args, kwds)?;
                Value::List(keys(&table).collect())
            }
            "values" => {
                positional_args("dict.values", [], [], args, kwds)?;
                Value::List(table.values().map(|(_, v)| v.clone()).collect())
            }
            "items" => {
                positional_args("dict.items", [], [], args, kwds)?;
                let pairs = table
                    .values()
                    .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]));
                Value::List(pairs.collect())
            }
            "pop" => {
                let ([k], [default]) = positional_args("pop", ["key"], ["default"], args, kwds)?;
                match (table.shift_remove(&key(&k)?), default) {
                    (Some((_, v)), _) | (None, Some(v)) => v,
                    (None, None) => return Err(key_error(k)),
                }
            }
            "popitem" => {
                positional_args("dict.popitem", [], [], args, kwds)?;
                match table.pop() {
                    Some((_, (k, v))) => Value::Tuple(vec![k, v]),
                    None => {
                        return Err(key_error(Value::Str(
                            "popitem(): dictionary is empty".into(),
                        )))
                    }
                }
            }
            "setdefault" => {
                let ([k], [default]) =
                    positional_args("setdefault", ["key"], ["default"], args, kwds)?;
                let entry = table
                    .entry(key(&k)?)
                    .or_insert((k, default.unwrap_or(Value::None)));
                entry.1.clone()
            }
            "update" => {
                update(&mut table, "update", args, kwds)?;
                Value::None
            }
            "fromkeys" => {
                let ([iterable], [value]) =
                    positional_args("fromkeys", ["iterable"], ["value"], args, kwds)?;
                let value = value.unwrap_or(Value::None);
                let mut fresh = Table::new();
                for k in elements(&iterable)? {
                    insert(&mut fresh, k, value.clone())?;
                }
                to_value(&fresh)
            }
            "__or__" | "__ror__" => {
                // `d | other` and `other | d` for a dict `other`; else NotImplemented,
                // which Python pickles by reference.
                let ([other], []) = positional_args(
                    if method == "__or__" {
                        "__or__"
                    } else {
                        "__ror__"
                    },
                    ["other"],
                    [],
                    args,
                    kwds,
                )?;
                if !matches!(other, Value::Dict(_)) {
                    return Ok(Value::Global {
                        module: "builtins".into(),
                        name: "NotImplemented".into(),
                    });
                }
                let (first, second) = if method == "__or__" {
                    (to_value(&table), other)
                } else {
                    (other, to_value(&table))
                };
                let mut fresh = Table::new();
                merge(&mut fresh, first)?;
                merge(&mut fresh, second)?;
                to_value(&fresh)
            }
            "__ior__" => {
                // `d |= other` takes what update takes and returns the dict itself.
                let ([other], []) = positional_args("__ior__", ["other"], [], args, kwds)?;
                merge(&mut table, other)?;
                to_value(&table)
            }
            _ => return Err(no_attribute("dict", method)),
        })
    }
}

impl Referent for Dict {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        if method == "__iter__" {
            positional_args("__iter__", [], [], args, kwds)?;
            let keys = keys(&lock(&self.table)).collect();
            return Ok(Outcome::Proxy {
                typeid: "Iterator",
                referent: iterator::over(keys),
            });
        }
        self.method(method, args, kwds).map(Outcome::Return)
    }

    fn value(&self) -> Option<Value> {
        Some(to_value(&lock(&self.table)))
    }

    fn repr(&self) -> String {
        repr(&to_value(&lock(&self.table)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, call_kw, create, exc, int, s, TestCaller};
    use super::*;

    fn pairs(items: &[(Value, Value)]) -> Value {
        Value::Dict(items.to_vec())
    }

    #[test]
    fn create_like_dict() {
        let d = create("dict", vec![], &[]).unwrap();
        assert_eq!(d.value(), Some(pairs(&[])));
        let source = pairs(&[(s("a"), int(1))]);
        let d = create("dict", vec![source], &[("a", int(2)), ("b", int(3))]).unwrap();
        assert_eq!(
            d.value(),
            Some(pairs(&[(s("a"), int(2)), (s("b"), int(3))]))
        );
        let list = Value::List(vec![Value::Tuple(vec![int(1), int(2)]), s("xy")]);
        let d = create("dict", vec![list], &[]).unwrap();
        assert_eq!(d.repr(), "{1: 2, 'x': 'y'}");
        let err = create("dict", vec![int(1), int(2)], &[]).err().unwrap();
        assert_eq!(
            err,
            exc("TypeError", "dict expected at most 1 argument, got 2")
        );
    }

    #[test]
    fn items_by_python_equality() {
        let d = create("dict", vec![], &[]).unwrap();
        let c = TestCaller::new(1);
        call(&*d, &c, "__setitem__", vec![int(1), s("one")]).unwrap();
        call(&*d, &c, "__setitem__", vec![Value::Float(1.0), s("uno")]).unwrap();
        call(
            &*d,
            &c,
            "__setitem__",
            vec![Value::Tuple(vec![int(1)]), s("t")],
        )
        .unwrap();
        assert_eq!(d.repr(), "{1: 'uno', (1,): 't'}");
        assert_eq!(
            call(&*d, &c, "__getitem__", vec![Value::Bool(true)]).unwrap(),
            s("uno")
        );
        assert_eq!(
            call(
                &*d,
                &c,
                "__contains__",
                vec![Value::Tuple(vec![Value::Float(1.0)])]
            )
            .unwrap(),
            Value::Bool(true)
        );
        assert_eq!(call(&*d, &c, "__len__", vec![]).unwrap(), int(2));
        let err = call(&*d, &c, "__getitem__", vec![s("zz")]).unwrap_err();
        assert_eq!(err, Raised::new("builtins", "KeyError", vec![s("zz")]));
        let err = call(&*d, &c, "__setitem__", vec![Value::List(vec![]), int(1)]).unwrap_err();
        assert_eq!(err, exc("TypeError", "unhashable type: 'list'"));
        let err = call(&*d, &c, "__contains__", vec![Value::Dict(vec![])]).unwrap_err();
        assert_eq!(err, exc("TypeError", "unhashable type: 'dict'"));
        call(&*d, &c, "__delitem__", vec![int(1)]).unwrap();
        let err = call(&*d, &c, "__delitem__", vec![int(1)]).unwrap_err();
        assert_eq!(err, Raised::new("builtins", "KeyError", vec![int(1)]));
    }

    #[test]
    fn accessors() {
        let d = create("dict", vec![], &[("a", int(1)), ("b", int(2))]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(
            call(&*d, &c, "keys", vec![]).unwrap(),
            Value::List(vec![s("a"), s("b")])
        );
        assert_eq!(
            call(&*d, &c, "values", vec![]).unwrap(),
            Value::List(vec![int(1), int(2)])
        );
        let items = Value::List(vec![
            Value::Tuple(vec![s("a"), int(1)]),
            Value::Tuple(vec![s("b"), int(2)]),
        ]);
        assert_eq!(call(&*d, &c, "items", vec![]).unwrap(), items);
        assert_eq!(call(&*d, &c, "get", vec![s("z")]).unwrap(), Value::None);
        assert_eq!(call(&*d, &c, "get", vec![s("z"), int(0)]).unwrap(), int(0));
        assert_eq!(
            call(&*d, &c, "setdefault", vec![s("a"), int(9)]).unwrap(),
            int(1)
        );
        assert_eq!(
            call(&*d, &c, "setdefault", vec![s("c")]).unwrap(),
            Value::None
        );
        assert_eq!(call(&*d, &c, "copy", vec![]).unwrap(), d.value().unwrap());
        let err = call(&*d, &c, "get", vec![]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "get expected at least 1 argument, got 0")
        );
        let err = call(&*d, &c, "items", vec![int(1)]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "dict.items() takes no arguments (1 given)")
        );
    }

    #[test]
    fn removals() {
        let d = create("dict", vec![], &[("a", int(1)), ("b", int(2))]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(call(&*d, &c, "pop", vec![s("a")]).unwrap(), int(1));
        assert_eq!(call(&*d, &c, "pop", vec![s("a"), int(0)]).unwrap(), int(0));
        let err = call(&*d, &c, "pop", vec![s("a")]).unwrap_err();
        assert_eq!(err, Raised::new("builtins", "KeyError", vec![s("a")]));
        assert_eq!(
            call(&*d, &c, "popitem", vec![]).unwrap(),
            Value::Tuple(vec![s("b"), int(2)])
        );
        let err = call(&*d, &c, "popitem", vec![]).unwrap_err();
        assert_eq!(err, exc("KeyError", "popitem(): dictionary is empty"));
        call(&*d, &c, "__setitem__", vec![s("x"), int(1)]).unwrap();
        call(&*d, &c, "clear", vec![]).unwrap();
        assert_eq!(d.repr(), "{}");
    }

    #[test]
    fn updates() {
        let d = create("dict", vec![], &[]).unwrap();
        let c = TestCaller::new(1);
        call_kw(
            &*d,
            &c,
            "update",
            vec![pairs(&[(s("y"), int(2))])],
            &[("z", int(3))],
        )
        .unwrap();
        call_kw(&*d, &c, "update", vec![], &[("other", int(5))]).unwrap();
        assert_eq!(d.repr(), "{'y': 2, 'z': 3, 'other': 5}");
        let err = call(&*d, &c, "update", vec![int(1)]).unwrap_err();
        assert_eq!(err, exc("TypeError", "'int' object is not iterable"));
        let err = call(&*d, &c, "update", vec![Value::List(vec![int(1)])]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "cannot convert dictionary update sequence element #0 to a sequence"
            )
        );
        let err = call(&*d, &c, "update", vec![Value::List(vec![s("abc")])]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "dictionary update sequence element #0 has length 3; 2 is required"
            )
        );
    }

    #[test]
    fn python_3_14_operators() {
        let d = create("dict", vec![], &[("a", int(1))]).unwrap();
        let c = TestCaller::new(1);
        let other = pairs(&[(s("a"), int(2)), (s("b"), int(3))]);
        let or = call(&*d, &c, "__or__", vec![other.clone()]).unwrap();
        assert_eq!(or, pairs(&[(s("a"), int(2)), (s("b"), int(3))]));
        let ror = call(&*d, &c, "__ror__", vec![other]).unwrap();
        assert_eq!(ror, pairs(&[(s("a"), int(1)), (s("b"), int(3))]));
        let not_implemented = Value::Global {
            module: "builtins".into(),
            name: "NotImplemented".into(),
        };
        assert_eq!(
            call(&*d, &c, "__or__", vec![Value::List(vec![])]).unwrap(),
            not_implemented
        );
        let ior = call(
            &*d,
            &c,
            "__ior__",
            vec![Value::List(vec![Value::Tuple(vec![int(1), int(2)])])],
        )
        .unwrap();
        assert_eq!(ior, pairs(&[(s("a"), int(1)), (int(1), int(2))]));
        let fresh = call(&*d, &c, "fromkeys", vec![s("ab"), int(0)]).unwrap();
        assert_eq!(fresh, pairs(&[(s("a"), int(0)), (s("b"), int(0))]));
        let iter = Value::Global {
            module: "builtins".into(),
            name: "iter".into(),
        };
        let reversed = Value::Tuple(vec![Value::List(vec![int(1), s("a")])]);
        assert_eq!(
            call(&*d, &c, "__reversed__", vec![]).unwrap(),
            Value::Reduce(Box::new(iter), Box::new(reversed))
        );
    }

    #[test]
    fn iterates_through_an_iterator_proxy() {
        let d = create("dict", vec![], &[("a", int(1)), ("b", int(2))]).unwrap();
        let c = TestCaller::new(1);
        let Ok(Outcome::Proxy { typeid, referent }) = d.call(&c, "__iter__", vec![], vec![]) else {
            panic!("__iter__ returns a proxy");
        };
        assert_eq!(typeid, "Iterator");
        call(&*d, &c, "__setitem__", vec![s("c"), int(3)]).unwrap();
        assert_eq!(call(&*referent, &c, "__next__", vec![]).unwrap(), s("a"));
        assert_eq!(call(&*referent, &c, "__next__", vec![]).unwrap(), s("b"));
        assert_eq!(
            call(&*referent, &c, "__next__", vec![]).unwrap_err().name,
            "StopIteration"
        );
    }
}
