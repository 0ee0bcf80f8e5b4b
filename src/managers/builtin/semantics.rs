//! Python's meaning of [`Value`]s, as a Python server's objects apply it: `==`, hashing
//! (dict keys, sets), `<` (for `list.sort`), truthiness, type names and iteration.
//!
//! Objects of classes we do not know arrive as opaque `Global`/`Reduce`/`NewObj`/`Build`
//! trees; they are equal, and hash alike, when their trees are equal.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use super::num::{self, Int};
use super::Raised;
use crate::managers::pickle::Value;

/// The most elements a server-side operation builds (`l * n`, `list(range(n))`): beyond
/// it, `MemoryError`, where Python would exhaust the server's memory.
pub(crate) const MAX_LEN: usize = 1 << 26;

/// A hashable value's identity under Python's `==`: equal values (`1`, `1.0`, `True`)
/// have equal keys, so a dict keyed by `Key` finds what a Python dict finds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    None,
    /// bool, int, or an integral float, within `i64`.
    Int(i64),
    /// An int (or integral float) beyond `i64`: minimal two's complement bytes.
    BigInt(Vec<u8>),
    /// A float that is not integral (or infinite), by its bits.
    Float(u64),
    /// A NaN: each one received is a new Python object, equal to nothing, as each NaN a
    /// Python server unpickles is a new key.
    Nan(u64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Key>),
    /// Sorted and without duplicates, so equal sets have equal keys.
    FrozenSet(Vec<Key>),
    Global(String, String),
    /// Inside an opaque object only, where anything may occur: a node of its tree, named
    /// by kind, with its children's keys.
    Node(&'static str, Vec<Key>),
}

/// Python's `hash`-based identity of `value`; lists, dicts, sets and bytearrays are
/// unhashable (`TypeError: unhashable type: 'list'`), as in Python.
pub(crate) fn key(value: &Value) -> Result<Key, Raised> {
    to_key(value, false)
}

/// `inside` is true within an opaque object, whose contents are compared structurally.
fn to_key(value: &Value, inside: bool) -> Result<Key, Raised> {
    let keys = |items: &[Value]| {
        items
            .iter()
            .map(|v| to_key(v, inside))
            .collect::<Result<Vec<_>, _>>()
    };
    let sorted = |items: &[Value]| {
        keys(items).map(|mut keys| {
            keys.sort();
            keys.dedup();
            keys
        })
    };
    let node = |kind: &'static str, parts: &[&Value]| {
        let parts = parts
            .iter()
            .map(|v| to_key(v, true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Key::Node(kind, parts))
    };
    if let Some(int) = Int::of(value) {
        return Ok(int_key(int));
    }
    Ok(match value {
        Value::None => Key::None,
        Value::Float(f) if f.is_nan() && !inside => {
            static NEXT_NAN: AtomicU64 = AtomicU64::new(0);
            Key::Nan(NEXT_NAN.fetch_add(1, AtomicOrdering::Relaxed))
        }
        Value::Float(f) => match Int::of_float(*f) {
            Some(int) => int_key(int),
            None => Key::Float(f.to_bits()),
        },
        Value::Str(s) => Key::Str(s.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::Tuple(items) => Key::Tuple(keys(items)?),
        Value::FrozenSet(items) => Key::FrozenSet(sorted(items)?),
        Value::Global { module, name } => Key::Global(module.clone(), name.clone()),
        Value::ByteArray(b) if inside => Key::Node("bytearray", vec![Key::Bytes(b.clone())]),
        Value::List(items) if inside => Key::Node("list", keys(items)?),
        Value::Set(items) if inside => Key::Node("set", sorted(items)?),
        Value::Dict(pairs) if inside => {
            let flat: Vec<&Value> = pairs.iter().flat_map(|(k, v)| [k, v]).collect();
            node("dict", &flat)?
        }
        Value::ByteArray(_) | Value::List(_) | Value::Set(_) | Value::Dict(_) => {
            return Err(Raised::builtin(
                "TypeError",
                format!("unhashable type: '{}'", type_name(value)),
            ))
        }
        Value::Reduce(f, args) => node("reduce", &[f, args])?,
        Value::NewObj(cls, args) => node("newobj", &[cls, args])?,
        Value::NewObjEx(cls, args, kwargs) => node("newobj_ex", &[cls, args, kwargs])?,
        Value::Build(obj, state) => node("build", &[obj, state])?,
        Value::Bool(_) | Value::Int(_) | Value::BigInt(_) => unreachable!("ints are keyed above"),
    })
}

fn int_key(int: Int) -> Key {
    match int {
        Int::Small(i) => Key::Int(i),
        Int::Big(bytes) => Key::BigInt(bytes),
    }
}

/// Python's `a == b`.
pub(crate) fn eq(a: &Value, b: &Value) -> bool {
    if let Some(order) = num::compare(a, b) {
        return order == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| eq(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => x.len() == y.len() && dict_contains_all(y, x),
        _ => match (byte_string(a), byte_string(b), set_items(a), set_items(b)) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => set_keys(x).is_some_and(|x| Some(x) == set_keys(y)),
            _ if is_opaque(a) && is_opaque(b) => to_key(a, true).ok() == to_key(b, true).ok(),
            _ => false,
        },
    }
}

/// True when every pair of `pairs` is in `dict` with an equal value.
fn dict_contains_all(dict: &[(Value, Value)], pairs: &[(Value, Value)]) -> bool {
    let index: Option<indexmap::IndexMap<Key, &Value>> = dict
        .iter()
        .map(|(k, v)| key(k).ok().map(|k| (k, v)))
        .collect();
    let Some(index) = index else { return false };
    pairs.iter().all(|(k, v)| {
        key(k)
            .ok()
            .and_then(|k| index.get(&k).copied())
            .is_some_and(|found| eq(found, v))
    })
}

fn byte_string(value: &Value) -> Option<&[u8]> {
    match value {
        Value::Bytes(b) | Value::ByteArray(b) => Some(b),
        _ => None,
    }
}

fn set_items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Set(items) | Value::FrozenSet(items) => Some(items),
        _ => None,
    }
}

fn set_keys(items: &[Value]) -> Option<std::collections::BTreeSet<Key>> {
    items.iter().map(|v| key(v).ok()).collect()
}

fn is_opaque(value: &Value) -> bool {
    matches!(
        value,
        Value::Global { .. }
            | Value::Reduce(..)
            | Value::NewObj(..)
            | Value::NewObjEx(..)
            | Value::Build(..)
    )
}

/// Python's `a < b`: numbers, strings, bytes, sequences of the same type (lexicographic)
/// and sets (proper subset); anything else is `TypeError`, as in Python.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, Raised> {
    if let Some(order) = num::compare(a, b) {
        return Ok(order == Some(Ordering::Less));
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            match x.iter().zip(y).find(|(a, b)| !eq(a, b)) {
                Some((a, b)) => lt(a, b),
                None => Ok(x.len() < y.len()),
            }
        }
        _ => match (byte_string(a), byte_string(b), set_items(a), set_items(b)) {
            (Some(x), Some(y), _, _) => Ok(x < y),
            (_, _, Some(x), Some(y)) => match (set_keys(x), set_keys(y)) {
                (Some(x), Some(y)) => Ok(x.len() < y.len() && x.is_subset(&y)),
                _ => Ok(false),
            },
            _ => Err(Raised::builtin(
                "TypeError",
                format!(
                    "'<' not supported between instances of '{}' and '{}'",
                    type_name(a),
                    type_name(b)
                ),
            )),
        },
    }
}

/// Python's `bool(value)`; objects we do not know are true, as Python's default.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::BigInt(bytes) => bytes.iter().any(|&b| b != 0),
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) | Value::ByteArray(b) => !b.is_empty(),
        Value::Tuple(items) | Value::List(items) | Value::Set(items) | Value::FrozenSet(items) => {
            !items.is_empty()
        }
        Value::Dict(pairs) => !pairs.is_empty(),
        _ => true,
    }
}

/// `type(value).__name__`, for messages; an opaque object is named by its class.
pub(crate) fn type_name(value: &Value) -> &str {
    match value {
        Value::None => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigInt(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::ByteArray(_) => "bytearray",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Set(_) => "set",
        Value::FrozenSet(_) => "frozenset",
        Value::Global { .. } => "type",
        _ => class_of(value).map_or("object", |(_, name)| name),
    }
}

/// The `(module, name)` of an opaque object's class, when its tree names one.
pub(crate) fn class_of(value: &Value) -> Option<(&str, &str)> {
    match value {
        Value::Global { module, name } => Some((module, name)),
        Value::Reduce(cls, _) | Value::NewObj(cls, _) | Value::NewObjEx(cls, _, _) => {
            match &**cls {
                Value::Global { module, name } => Some((module, name)),
                _ => None,
            }
        }
        Value::Build(obj, _) => class_of(obj),
        _ => None,
    }
}

/// The `(module, name, args)` of a `Reduce` whose callable is a global, e.g. a slice.
pub(crate) fn reduced<'a>(value: &'a Value, module: &str, name: &str) -> Option<&'a [Value]> {
    match value {
        Value::Reduce(f, args) => match (&**f, &**args) {
            (Value::Global { module: m, name: n }, Value::Tuple(args))
                if m == module && n == name =>
            {
                Some(args)
            }
            _ => None,
        },
        _ => None,
    }
}

/// The items `iter(value)` yields in Python: sequence items, set elements, dict keys, a
/// str's characters, a bytes' ints, and the items of a pickled `range`, `array.array` or
/// iterator (`iter(list)`); anything else is `TypeError: 'int' object is not iterable`.
pub(crate) fn elements(value: &Value) -> Result<Vec<Value>, Raised> {
    Ok(match value {
        Value::Tuple(items) | Value::List(items) | Value::Set(items) | Value::FrozenSet(items) => {
            items.clone()
        }
        Value::Dict(pairs) => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Value::Str(s) => s.chars().map(|c| Value::Str(c.into())).collect(),
        Value::Bytes(b) | Value::ByteArray(b) => b.iter().map(|&b| Value::Int(b.into())).collect(),
        _ => {
            if let Some(args) = reduced(value, "builtins", "range") {
                return range_items(args);
            }
            if let Some([items]) = reduced(value, "builtins", "iter") {
                return elements(items);
            }
            if let Some(items) = super::array::elements_of(value) {
                return items;
            }
            return Err(Raised::builtin(
                "TypeError",
                format!("'{}' object is not iterable", type_name(value)),
            ));
        }
    })
}

/// The ints of a pickled `range(start, stop, step)`.
fn range_items(args: &[Value]) -> Result<Vec<Value>, Raised> {
    let bound = |v: &Value| Int::of(v).and_then(|i| i.to_i128());
    let (Some(start), Some(stop), Some(step)) = (
        args.first().and_then(bound),
        args.get(1).and_then(bound),
        args.get(2).and_then(bound),
    ) else {
        return Err(Raised::builtin(
            "TypeError",
            "'range' object is not iterable",
        ));
    };
    if step == 0 {
        return Err(Raised::builtin(
            "ValueError",
            "range() arg 3 must not be zero",
        ));
    }
    let span = if step > 0 { stop - start } else { start - stop };
    let count = if span <= 0 {
        0
    } else {
        (span - 1) / step.abs() + 1
    };
    if count > MAX_LEN as i128 {
        return Err(Raised::new("builtins", "MemoryError", vec![]));
    }
    Ok((0..count)
        .map(|i| Int::from_i128(start + i * step).into_value())
        .collect())
}

/// `AttributeError: 'list' object has no attribute 'name'`: a method or attribute the
/// Python object does not have.
pub(crate) fn no_attribute(type_name: &str, name: &str) -> Raised {
    Raised::builtin(
        "AttributeError",
        format!("'{type_name}' object has no attribute '{name}'"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn global(module: &str, name: &str) -> Value {
        Value::Global {
            module: module.into(),
            name: name.into(),
        }
    }

    fn object(name: &str, state: Value) -> Value {
        let new = Value::NewObj(Box::new(global("m", name)), Box::new(Value::Tuple(vec![])));
        Value::Build(Box::new(new), Box::new(state))
    }

    #[test]
    fn equality_is_pythons() {
        assert!(eq(&Value::Int(1), &Value::Float(1.0)));
        assert!(eq(&Value::Bool(true), &Value::Int(1)));
        assert!(!eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
        assert!(eq(
            &Value::Tuple(vec![Value::Int(1)]),
            &Value::Tuple(vec![Value::Float(1.0)])
        ));
        assert!(!eq(
            &Value::List(vec![Value::Int(1)]),
            &Value::Tuple(vec![Value::Int(1)])
        ));
        assert!(eq(
            &Value::Bytes(b"a".to_vec()),
            &Value::ByteArray(b"a".to_vec())
        ));
        let d1 = Value::Dict(vec![(Value::Int(1), s("a")), (s("b"), Value::Int(2))]);
        let d2 = Value::Dict(vec![
            (s("b"), Value::Float(2.0)),
            (Value::Float(1.0), s("a")),
        ]);
        assert!(eq(&d1, &d2));
        assert!(!eq(
            &d1,
            &Value::Dict(vec![(Value::Int(1), s("a")), (s("b"), Value::Int(3))])
        ));
        let set = Value::Set(vec![Value::Int(1), Value::Int(2)]);
        assert!(eq(
            &set,
            &Value::FrozenSet(vec![Value::Float(2.0), Value::Int(1)])
        ));
        assert!(!eq(&set, &Value::List(vec![Value::Int(1), Value::Int(2)])));
        assert!(eq(
            &object("A", Value::Dict(vec![])),
            &object("A", Value::Dict(vec![]))
        ));
        assert!(!eq(
            &object("A", Value::Dict(vec![])),
            &object("B", Value::Dict(vec![]))
        ));
        assert!(!eq(&Value::None, &Value::Int(0)));
    }

    #[test]
    fn keys_normalise_numbers() {
        let one = key(&Value::Int(1)).unwrap();
        assert_eq!(key(&Value::Float(1.0)).unwrap(), one);
        assert_eq!(key(&Value::Bool(true)).unwrap(), one);
        assert_eq!(
            key(&Value::Float(-0.0)).unwrap(),
            key(&Value::Int(0)).unwrap()
        );
        let big = Int::from_i128(1 << 63).into_value();
        assert_eq!(
            key(&Value::Float(2f64.powi(63))).unwrap(),
            key(&big).unwrap()
        );
        assert_ne!(
            key(&Value::Float(f64::NAN)).unwrap(),
            key(&Value::Float(f64::NAN)).unwrap()
        );
        let fs = |items: Vec<Value>| key(&Value::FrozenSet(items)).unwrap();
        assert_eq!(
            fs(vec![Value::Int(1), Value::Int(2)]),
            fs(vec![Value::Float(2.0), Value::Int(1)])
        );
        let opaque = object("A", Value::Dict(vec![(s("x"), Value::List(vec![]))]));
        assert_eq!(key(&opaque).unwrap(), key(&opaque.clone()).unwrap());
    }

    #[test]
    fn unhashable_types() {
        let err = key(&Value::List(vec![])).unwrap_err();
        assert_eq!(err, Raised::builtin("TypeError", "unhashable type: 'list'"));
        let err = key(&Value::Tuple(vec![Value::Int(1), Value::Dict(vec![])])).unwrap_err();
        assert_eq!(err, Raised::builtin("TypeError", "unhashable type: 'dict'"));
        for (value, name) in [
            (Value::Set(vec![]), "set"),
            (Value::ByteArray(vec![]), "bytearray"),
        ] {
            let message = format!("unhashable type: '{name}'");
            assert_eq!(
                key(&value).unwrap_err(),
                Raised::builtin("TypeError", message)
            );
        }
    }

    #[test]
    fn ordering() {
        assert!(lt(&Value::Int(1), &Value::Float(1.5)).unwrap());
        assert!(lt(&s("a"), &s("b")).unwrap());
        assert!(lt(
            &Value::Bytes(b"a".to_vec()),
            &Value::ByteArray(b"b".to_vec())
        )
        .unwrap());
        let list = |items: Vec<Value>| Value::List(items);
        assert!(lt(
            &list(vec![Value::Int(1)]),
            &list(vec![Value::Int(1), Value::Int(0)])
        )
        .unwrap());
        let tuple = |items: Vec<Value>| Value::Tuple(items);
        assert!(!lt(
            &tuple(vec![Value::Int(1), Value::Int(2)]),
            &tuple(vec![Value::Int(1)])
        )
        .unwrap());
        let sub = Value::Set(vec![s("a")]);
        assert!(lt(&sub, &Value::FrozenSet(vec![s("a"), s("b")])).unwrap());
        let err = lt(&s("a"), &Value::Int(1)).unwrap_err();
        let message = "'<' not supported between instances of 'str' and 'int'";
        assert_eq!(err, Raised::builtin("TypeError", message));
        let err = lt(&list(vec![]), &tuple(vec![])).unwrap_err();
        let message = "'<' not supported between instances of 'list' and 'tuple'";
        assert_eq!(err, Raised::builtin("TypeError", message));
        assert!(lt(&Value::None, &Value::None).is_err());
    }

    #[test]
    fn truthiness_and_names() {
        assert!(!truthy(&Value::None));
        assert!(!truthy(&Value::Float(0.0)));
        assert!(truthy(&Value::Float(f64::NAN)));
        assert!(!truthy(&Value::Str(String::new())));
        assert!(truthy(&Value::Tuple(vec![Value::None])));
        assert!(truthy(&object("A", Value::None)));
        assert_eq!(type_name(&Value::None), "NoneType");
        assert_eq!(
            type_name(&Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 1])),
            "int"
        );
        assert_eq!(type_name(&object("Thing", Value::None)), "Thing");
    }

    #[test]
    fn iteration() {
        assert_eq!(elements(&s("ab")).unwrap(), vec![s("a"), s("b")]);
        assert_eq!(
            elements(&Value::Bytes(vec![7])).unwrap(),
            vec![Value::Int(7)]
        );
        let dict = Value::Dict(vec![(s("k"), Value::Int(1))]);
        assert_eq!(elements(&dict).unwrap(), vec![s("k")]);
        let range = |args: Vec<Value>| {
            Value::Reduce(
                Box::new(global("builtins", "range")),
                Box::new(Value::Tuple(args)),
            )
        };
        let ints = |v: &[i64]| v.iter().map(|&i| Value::Int(i)).collect::<Vec<_>>();
        let r = range(vec![Value::Int(0), Value::Int(3), Value::Int(1)]);
        assert_eq!(elements(&r).unwrap(), ints(&[0, 1, 2]));
        let r = range(vec![Value::Int(5), Value::Int(0), Value::Int(-2)]);
        assert_eq!(elements(&r).unwrap(), ints(&[5, 3, 1]));
        let r = range(vec![Value::Int(0), Value::Int(i64::MAX), Value::Int(1)]);
        assert_eq!(elements(&r).unwrap_err().name, "MemoryError");
        let err = elements(&Value::Int(1)).unwrap_err();
        assert_eq!(
            err,
            Raised::builtin("TypeError", "'int' object is not iterable")
        );
    }
}
