//! Typeid `list`: Python's list. Python clients iterate a ListProxy by `__getitem__(0)`,
//! `(1)`, … until `IndexError`, so the errors must be Python's exactly.

use std::sync::{Arc, Mutex};

use super::args::{integer, positional_args, subscript, type_error, value_error, Signature, Style};
use super::blocking::lock;
use super::num::Int;
use super::repr::repr;
use super::semantics::{elements, eq, lt, no_attribute, truthy, type_name, MAX_LEN};
use super::slice::{clamp, position, Slice};
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// ListProxy's methods, with Python 3.14's `clear` and `copy`.
pub(crate) const EXPOSED: &[&str] = &[
    "__add__",
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__len__",
    "__mul__",
    "__reversed__",
    "__rmul__",
    "__setitem__",
    "append",
    "count",
    "extend",
    "index",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
    "__imul__",
    "clear",
    "copy",
];

pub(crate) struct List {
    items: Mutex<Vec<Value>>,
}

/// `list(iterable=())`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let ([], [iterable]) = positional_args("list", [], ["iterable"], args, kwds)?;
    let items = iterable.map_or(Ok(Vec::new()), |it| elements(&it))?;
    Ok(Arc::new(List {
        items: Mutex::new(items),
    }))
}

fn index_error(message: &str) -> Raised {
    Raised::builtin("IndexError", message)
}

/// `items * n` (`__imul__` reports a non-int as any int argument, the others as a
/// sequence repetition does).
fn repeat(items: &[Value], n: &Value, method: &str) -> Result<Vec<Value>, Raised> {
    let times = match Int::of(n) {
        Some(Int::Small(n)) => n.max(0) as usize,
        Some(Int::Big(_)) => {
            return Err(Raised::builtin(
                "OverflowError",
                "cannot fit 'int' into an index-sized integer",
            ))
        }
        None if method == "__imul__" => integer(n)? as usize,
        None => {
            return Err(type_error(format!(
                "can't multiply sequence by non-int of type '{}'",
                type_name(n)
            )))
        }
    };
    if items.len().saturating_mul(times) > MAX_LEN {
        return Err(Raised::new("builtins", "MemoryError", vec![]));
    }
    Ok(items
        .iter()
        .cloned()
        .cycle()
        .take(items.len() * times)
        .collect())
}

/// A `start`/`stop` of `index`: an int (ints beyond `i64` clamp), placed as [`clamp`].
fn search_bound(bound: Option<Value>, default: usize, len: usize) -> Result<usize, Raised> {
    let Some(bound) = bound else {
        return Ok(default);
    };
    let bound = match Int::of(&bound) {
        Some(Int::Small(i)) => i,
        Some(big) if big.is_negative() => i64::MIN,
        Some(_) => i64::MAX,
        None => {
            return Err(type_error(
                "slice indices must be integers or have an __index__ method",
            ))
        }
    };
    Ok(clamp(bound, len))
}

/// Python's `list.sort` order: stable, by `<` alone (the later item on the left, as
/// Python compares); a failed comparison fails the sort.
fn sorted(mut items: Vec<Value>) -> Result<Vec<Value>, Raised> {
    if items.len() < 2 {
        return Ok(items);
    }
    let left: Vec<Value> = items.drain(..items.len() / 2).collect();
    let (left, right) = (sorted(left)?, sorted(items)?);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        if lt(r, l)? {
            out.extend(right.next());
        } else {
            out.extend(left.next());
        }
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}

impl List {
    fn method(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        let mut items = lock(&self.items);
        let len = items.len();
        Ok(match method {
            "__len__" => {
                positional_args("__len__", [], [], args, kwds)?;
                Value::Int(len as i64)
            }
            "__contains__" => {
                let ([x], []) = positional_args("__contains__", ["value"], [], args, kwds)?;
                Value::Bool(items.iter().any(|item| eq(item, &x)))
            }
            "__getitem__" => {
                let ([index], []) = positional_args("list.__getitem__", ["index"], [], args, kwds)?;
                if let Some(slice) = Slice::parse(&index) {
                    return Ok(Value::List(slice?.get(&items)));
                }
                match position(subscript(&index, "list")?, len) {
                    Some(i) => items[i].clone(),
                    None => return Err(index_error("list index out of range")),
                }
            }
            "__setitem__" => {
                let ([index, value], []) =
                    positional_args("__setitem__", ["key", "value"], [], args, kwds)?;
                if let Some(slice) = Slice::parse(&index) {
                    let slice = slice?;
                    let new =
                        elements(&value).map_err(|_| type_error("can only assign an iterable"))?;
                    slice.assign(&mut items, new, "sequence")?;
                } else {
                    match position(subscript(&index, "list")?, len) {
                        Some(i) => items[i] = value,
                        None => return Err(index_error("list assignment index out of range")),
                    }
                }
                Value::None
            }
            "__delitem__" => {
                let ([index], []) = positional_args("__delitem__", ["key"], [], args, kwds)?;
                if let Some(slice) = Slice::parse(&index) {
                    slice?.delete(&mut items);
                } else {
                    match position(subscript(&index, "list")?, len) {
                        Some(i) => drop(items.remove(i)),
                        None => return Err(index_error("list assignment index out of range")),
                    }
                }
                Value::None
            }
            "__add__" => {
                let ([other], []) = positional_args("__add__", ["value"], [], args, kwds)?;
                let Value::List(other) = other else {
                    let message = format!(
                        "can only concatenate list (not \"{}\") to list",
                        type_name(&other)
                    );
                    return Err(type_error(message));
                };
                Value::List(items.iter().cloned().chain(other).collect())
            }
            "__mul__" | "__rmul__" => {
                let ([n], []) = positional_args(
                    if method == "__mul__" {
                        "__mul__"
                    } else {
                        "__rmul__"
                    },
                    ["value"],
                    [],
                    args,
                    kwds,
                )?;
                Value::List(repeat(&items, &n, method)?)
            }
            "__imul__" => {
                // As Python's in-place operator, it returns the list itself.
                let ([n], []) = positional_args("__imul__", ["value"], [], args, kwds)?;
                *items = repeat(&items, &n, method)?;
                Value::List(items.clone())
            }
            "__reversed__" => {
                positional_args("__reversed__", [], [], args, kwds)?;
                Value::List(items.iter().rev().cloned().collect())
            }
            "append" => {
                let ([x], []) = positional_args("list.append", ["object"], [], args, kwds)?;
                items.push(x);
                Value::None
            }
            "extend" => {
                let ([iterable], []) =
                    positional_args("list.extend", ["iterable"], [], args, kwds)?;
                items.extend(elements(&iterable)?);
                Value::None
            }
            "insert" => {
                let ([index, x], []) =
                    positional_args("insert", ["index", "object"], [], args, kwds)?;
                items.insert(clamp(integer(&index)?, len), x);
                Value::None
            }
            "pop" => {
                let ([], [index]) = positional_args("pop", [], ["index"], args, kwds)?;
                let index = index.map_or(Ok(-1), |i| integer(&i))?;
                if items.is_empty() {
                    return Err(index_error("pop from empty list"));
                }
                match position(index, len) {
                    Some(i) => items.remove(i),
                    None => return Err(index_error("pop index out of range")),
                }
            }
            "remove" => {
                let ([x], []) = positional_args("list.remove", ["value"], [], args, kwds)?;
                match items.iter().position(|item| eq(item, &x)) {
                    Some(i) => drop(items.remove(i)),
                    None => return Err(value_error("list.remove(x): x not in list")),
                }
                Value::None
            }
            "index" => {
                let ([x], [start, stop]) =
                    positional_args("index", ["value"], ["start", "stop"], args, kwds)?;
                let start = search_bound(start, 0, len)?;
                let stop = search_bound(stop, len, len)?;
                let found = (start..stop.max(start)).find(|&i| eq(&items[i], &x));
                match found {
                    Some(i) => Value::Int(i as i64),
                    None => return Err(value_error(format!("{} is not in list", repr(&x)))),
                }
            }
            "count" => {
                let ([x], []) = positional_args("list.count", ["value"], [], args, kwds)?;
                Value::Int(items.iter().filter(|item| eq(item, &x)).count() as i64)
            }
            "reverse" => {
                positional_args("list.reverse", [], [], args, kwds)?;
                items.reverse();
                Value::None
            }
            "sort" => {
                let sort = Signature::new("sort", Style::KeywordOnly, [], ["key", "reverse"]);
                let ([], [key, reverse]) = sort.bind(args, kwds)?;
                if key.is_some_and(|key| key != Value::None) {
                    return Err(type_error(
                        "sort(key=...) is not supported: the server runs no Python code",
                    ));
                }
                // Reversing before and after a stable sort keeps equal items in order,
                // as Python's `reverse=True` does.
                let reverse = reverse.is_some_and(|r| truthy(&r));
                let mut work = items.clone();
                if reverse {
                    work.reverse();
                }
                let mut work = sorted(work)?;
                if reverse {
                    work.reverse();
                }
                *items = work;
                Value::None
            }
            "clear" => {
                positional_args("list.clear", [], [], args, kwds)?;
                items.clear();
                Value::None
            }
            "copy" => {
                positional_args("list.copy", [], [], args, kwds)?;
                Value::List(items.clone())
            }
            _ => return Err(no_attribute("list", method)),
        })
    }
}

impl Referent for List {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(method, args, kwds).map(Outcome::Return)
    }

    fn value(&self) -> Option<Value> {
        Some(Value::List(lock(&self.items).clone()))
    }

    fn repr(&self) -> String {
        repr(&Value::List(lock(&self.items).clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, call_kw, create, exc, int, ints, s, slice, TestCaller};
    use super::*;

    fn list(items: &[i64]) -> (Arc<dyn Referent>, TestCaller) {
        (
            create("list", vec![ints(items)], &[]).unwrap(),
            TestCaller::new(1),
        )
    }

    #[test]
    fn create_from_iterables() {
        assert_eq!(
            create("list", vec![], &[]).unwrap().value(),
            Some(ints(&[]))
        );
        assert_eq!(
            create("list", vec![s("ab")], &[]).unwrap().repr(),
            "['a', 'b']"
        );
        let err = create("list", vec![int(1)], &[]).err().unwrap();
        assert_eq!(err, exc("TypeError", "'int' object is not iterable"));
    }

    #[test]
    fn indexing_ends_iteration_with_index_error() {
        let (l, c) = list(&[10, 20]);
        assert_eq!(call(&*l, &c, "__getitem__", vec![int(0)]).unwrap(), int(10));
        assert_eq!(
            call(&*l, &c, "__getitem__", vec![int(-1)]).unwrap(),
            int(20)
        );
        assert_eq!(
            call(&*l, &c, "__getitem__", vec![Value::Bool(true)]).unwrap(),
            int(20)
        );
        let err = call(&*l, &c, "__getitem__", vec![int(2)]).unwrap_err();
        assert_eq!(err, exc("IndexError", "list index out of range"));
        let err = call(&*l, &c, "__getitem__", vec![s("a")]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "list indices must be integers or slices, not str"
            )
        );
        let err = call(&*l, &c, "__setitem__", vec![int(5), int(1)]).unwrap_err();
        assert_eq!(err, exc("IndexError", "list assignment index out of range"));
        let err = call(&*l, &c, "__delitem__", vec![int(-3)]).unwrap_err();
        assert_eq!(err, exc("IndexError", "list assignment index out of range"));
        call(&*l, &c, "__setitem__", vec![int(-1), s("x")]).unwrap();
        call(&*l, &c, "__delitem__", vec![int(0)]).unwrap();
        assert_eq!(l.repr(), "['x']");
    }

    #[test]
    fn slices() {
        let (l, c) = list(&[0, 1, 2, 3, 4, 5]);
        let n = Value::None;
        let got = call(
            &*l,
            &c,
            "__getitem__",
            vec![slice(n.clone(), n.clone(), int(-2))],
        )
        .unwrap();
        assert_eq!(got, ints(&[5, 3, 1]));
        call(
            &*l,
            &c,
            "__setitem__",
            vec![slice(int(0), int(2), n.clone()), s("ab")],
        )
        .unwrap();
        assert_eq!(l.repr(), "['a', 'b', 2, 3, 4, 5]");
        let err = call(
            &*l,
            &c,
            "__setitem__",
            vec![slice(int(0), int(3), int(2)), ints(&[1])],
        )
        .unwrap_err();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "attempt to assign sequence of size 1 to extended slice of size 2"
            )
        );
        let err = call(
            &*l,
            &c,
            "__setitem__",
            vec![slice(int(0), int(1), n.clone()), int(5)],
        )
        .unwrap_err();
        assert_eq!(err, exc("TypeError", "can only assign an iterable"));
        call(
            &*l,
            &c,
            "__delitem__",
            vec![slice(int(1), n.clone(), int(2))],
        )
        .unwrap();
        assert_eq!(l.repr(), "['a', 2, 4]");
        let err = call(&*l, &c, "__getitem__", vec![slice(n.clone(), n, int(0))]).unwrap_err();
        assert_eq!(err, exc("ValueError", "slice step cannot be zero"));
    }

    #[test]
    fn arithmetic() {
        let (l, c) = list(&[1, 2]);
        assert_eq!(
            call(&*l, &c, "__add__", vec![ints(&[3])]).unwrap(),
            ints(&[1, 2, 3])
        );
        let err = call(&*l, &c, "__add__", vec![Value::Tuple(vec![])]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "can only concatenate list (not \"tuple\") to list"
            )
        );
        assert_eq!(
            call(&*l, &c, "__mul__", vec![int(2)]).unwrap(),
            ints(&[1, 2, 1, 2])
        );
        assert_eq!(call(&*l, &c, "__rmul__", vec![int(-1)]).unwrap(), ints(&[]));
        let err = call(&*l, &c, "__mul__", vec![s("a")]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "can't multiply sequence by non-int of type 'str'"
            )
        );
        let err = call(&*l, &c, "__imul__", vec![Value::Float(1.0)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "'float' object cannot be interpreted as an integer"
            )
        );
        let err = call(&*l, &c, "__mul__", vec![int(i64::MAX)]).unwrap_err();
        assert_eq!(err.name, "MemoryError");
        assert_eq!(
            call(&*l, &c, "__imul__", vec![int(2)]).unwrap(),
            ints(&[1, 2, 1, 2])
        );
        assert_eq!(
            call(&*l, &c, "__reversed__", vec![]).unwrap(),
            ints(&[2, 1, 2, 1])
        );
        assert_eq!(l.value(), Some(ints(&[1, 2, 1, 2])));
    }

    #[test]
    fn searching() {
        let (l, c) = list(&[1, 2, 3, 2]);
        assert_eq!(
            call(&*l, &c, "count", vec![Value::Float(2.0)]).unwrap(),
            int(2)
        );
        assert_eq!(
            call(&*l, &c, "__contains__", vec![Value::Bool(true)]).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(call(&*l, &c, "index", vec![int(2)]).unwrap(), int(1));
        assert_eq!(
            call(&*l, &c, "index", vec![int(2), int(2)]).unwrap(),
            int(3)
        );
        assert_eq!(
            call(&*l, &c, "index", vec![int(2), int(-1)]).unwrap(),
            int(3)
        );
        let big = Int::from_i128(1 << 100).into_value();
        assert_eq!(
            call(&*l, &c, "index", vec![int(3), int(0), big]).unwrap(),
            int(2)
        );
        let err = call(&*l, &c, "index", vec![int(1), int(1)]).unwrap_err();
        assert_eq!(err, exc("ValueError", "1 is not in list"));
        let err = call(&*l, &c, "index", vec![s("x")]).unwrap_err();
        assert_eq!(err, exc("ValueError", "'x' is not in list"));
        let err = call(&*l, &c, "index", vec![int(1), s("a")]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "slice indices must be integers or have an __index__ method"
            )
        );
        let err = call(&*l, &c, "index", vec![]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "index expected at least 1 argument, got 0")
        );
    }

    #[test]
    fn mutation() {
        let (l, c) = list(&[1, 2, 3]);
        call(&*l, &c, "append", vec![int(4)]).unwrap();
        call(&*l, &c, "extend", vec![Value::Tuple(vec![int(5)])]).unwrap();
        call(&*l, &c, "insert", vec![int(-100), int(0)]).unwrap();
        call(&*l, &c, "insert", vec![int(100), int(6)]).unwrap();
        assert_eq!(l.value(), Some(ints(&[0, 1, 2, 3, 4, 5, 6])));
        assert_eq!(call(&*l, &c, "pop", vec![]).unwrap(), int(6));
        assert_eq!(call(&*l, &c, "pop", vec![int(0)]).unwrap(), int(0));
        let err = call(&*l, &c, "pop", vec![int(10)]).unwrap_err();
        assert_eq!(err, exc("IndexError", "pop index out of range"));
        call(&*l, &c, "remove", vec![int(3)]).unwrap();
        let err = call(&*l, &c, "remove", vec![int(3)]).unwrap_err();
        assert_eq!(err, exc("ValueError", "list.remove(x): x not in list"));
        let err = call(&*l, &c, "extend", vec![int(1)]).unwrap_err();
        assert_eq!(err, exc("TypeError", "'int' object is not iterable"));
        call(&*l, &c, "reverse", vec![]).unwrap();
        assert_eq!(call(&*l, &c, "copy", vec![]).unwrap(), ints(&[5, 4, 2, 1]));
        call(&*l, &c, "clear", vec![]).unwrap();
        let err = call(&*l, &c, "pop", vec![]).unwrap_err();
        assert_eq!(err, exc("IndexError", "pop from empty list"));
        let err = call_kw(&*l, &c, "pop", vec![], &[("index", int(0))]).unwrap_err();
        assert_eq!(err, exc("TypeError", "pop() takes no keyword arguments"));
    }

    #[test]
    fn sorting() {
        let pair = |a: i64, b: &str| Value::Tuple(vec![int(a), s(b)]);
        let l = create(
            "list",
            vec![Value::List(vec![
                pair(2, "a"),
                pair(1, "b"),
                pair(2, "c"),
                pair(1, "d"),
            ])],
            &[],
        )
        .unwrap();
        let c = TestCaller::new(1);
        call(&*l, &c, "sort", vec![]).unwrap();
        assert_eq!(l.repr(), "[(1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]");
        let (l, c) = list(&[3, 1, 2]);
        call_kw(&*l, &c, "sort", vec![], &[("reverse", Value::Bool(true))]).unwrap();
        assert_eq!(l.value(), Some(ints(&[3, 2, 1])));
        let mixed = create("list", vec![Value::List(vec![int(1), s("a")])], &[]).unwrap();
        let err = call(&*mixed, &c, "sort", vec![]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "'<' not supported between instances of 'str' and 'int'"
            )
        );
        assert_eq!(mixed.repr(), "[1, 'a']");
        let key = Value::Global {
            module: "builtins".into(),
            name: "len".into(),
        };
        assert_eq!(
            call_kw(&*l, &c, "sort", vec![], &[("key", key)])
                .unwrap_err()
                .name,
            "TypeError"
        );
        call_kw(&*l, &c, "sort", vec![], &[("key", Value::None)]).unwrap();
        let err = call(&*l, &c, "sort", vec![int(1)]).unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "sort() takes no positional arguments")
        );
    }
}
