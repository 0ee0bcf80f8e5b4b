//! The client's typed front ends over [`Proxy`]: managed dicts, lists, namespaces and
//! objects of custom types, as C uses them (`pc_dict_*`, `pc_list_*`, `pc_namespace_*`,
//! `pc_proxy_*`). Each call is one round trip, with the method names Python's proxies
//! send, so the same calls work on a Python manager.

use super::items;
use super::pickle::Value;
use super::protocol::global;
use super::proxy::Proxy;
use super::Manager;
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;

/// `slice(start, stop, None)`: how Python's proxies ask for parts of a list.
fn slice(start: Option<i64>, stop: Option<i64>) -> Value {
    let bound = |b: Option<i64>| b.map_or(Value::None, Value::Int);
    Value::Reduce(
        Box::new(global("builtins", "slice")),
        Box::new(Value::Tuple(vec![bound(start), bound(stop), Value::None])),
    )
}

fn values(items: Vec<Item>) -> Result<Vec<Value>> {
    items::to_values(items)
}

/// A sequence value (list or tuple) as items.
fn sequence(value: Value, what: &str) -> Result<Vec<Item>> {
    match value {
        Value::List(v) | Value::Tuple(v) => Ok(v.into_iter().map(items::to_item).collect()),
        other => Err(unexpected(what, &other)),
    }
}

fn unexpected(what: &str, value: &Value) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the manager's {what} is not what Python returns: {value:?}"),
    )
}

fn count(value: Value, what: &str) -> Result<usize> {
    match value {
        Value::Int(n) if n >= 0 => Ok(n as usize),
        other => Err(unexpected(what, &other)),
    }
}

fn truth(value: Value, what: &str) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(unexpected(what, &other)),
    }
}

macro_rules! managed {
    ($(#[$doc:meta])* $name:ident, $typeid:literal) => {
        $(#[$doc])*
        pub struct $name {
            proxy: Proxy,
        }

        impl $name {
            /// A new one in `manager`'s server, or the one named `name` there.
            pub fn new(manager: &Manager, name: Option<&str>) -> Result<std::sync::Arc<$name>> {
                Ok(std::sync::Arc::new($name {
                    proxy: manager.create($typeid, name, Vec::new())?,
                }))
            }

            fn call(&self, method: &str, args: Vec<Value>) -> Result<Value> {
                self.proxy.call(method, args, Vec::new(), None)
            }
        }
    };
}

managed!(
    /// A managed `dict`.
    Dict, "dict"
);
managed!(
    /// A managed `list`.
    List, "list"
);
managed!(
    /// A managed `Namespace`.
    Namespace, "Namespace"
);

impl Dict {
    pub fn set(&self, key: Item, value: Item) -> Result<()> {
        self.call("__setitem__", values(vec![key, value])?)
            .map(drop)
    }

    /// `d[key]`; `Key` when missing.
    pub fn get(&self, key: Item) -> Result<Item> {
        self.call("__getitem__", values(vec![key])?)
            .map(items::to_item)
    }

    pub fn del(&self, key: Item) -> Result<()> {
        self.call("__delitem__", values(vec![key])?).map(drop)
    }

    /// `d.pop(key)`; `Key` when missing.
    pub fn pop(&self, key: Item) -> Result<Item> {
        self.call("pop", values(vec![key])?).map(items::to_item)
    }

    pub fn contains(&self, key: Item) -> Result<bool> {
        truth(
            self.call("__contains__", values(vec![key])?)?,
            "answer to `in`",
        )
    }

    // No `is_empty`: each is a round trip, and C asks for the length.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Result<usize> {
        count(self.call("__len__", Vec::new())?, "length")
    }

    /// One snapshot of the keys and values, in the dict's order.
    pub fn items(&self) -> Result<(Vec<Item>, Vec<Item>)> {
        let pairs = match self.call("items", Vec::new())? {
            Value::List(p) | Value::Tuple(p) => p,
            other => return Err(unexpected("items()", &other)),
        };
        let mut keys = Vec::with_capacity(pairs.len());
        let mut vals = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match pair {
                Value::Tuple(kv) if kv.len() == 2 => {
                    let mut kv = kv.into_iter();
                    keys.extend(kv.next().map(items::to_item));
                    vals.extend(kv.next().map(items::to_item));
                }
                other => return Err(unexpected("items() pair", &other)),
            }
        }
        Ok((keys, vals))
    }

    /// Sets every pair in one round trip (`d.update({...})`).
    pub fn update(&self, keys: Vec<Item>, vals: Vec<Item>) -> Result<()> {
        let pairs = values(keys)?.into_iter().zip(values(vals)?).collect();
        self.call("update", vec![Value::Dict(pairs)]).map(drop)
    }

    pub fn clear(&self) -> Result<()> {
        self.call("clear", Vec::new()).map(drop)
    }
}

impl List {
    pub fn append(&self, item: Item) -> Result<()> {
        self.call("append", values(vec![item])?).map(drop)
    }

    pub fn insert(&self, index: i64, item: Item) -> Result<()> {
        let mut args = vec![Value::Int(index)];
        args.extend(values(vec![item])?);
        self.call("insert", args).map(drop)
    }

    /// `l[index] = item`; negative from the end; `Index` when out of range.
    pub fn set(&self, index: i64, item: Item) -> Result<()> {
        let mut args = vec![Value::Int(index)];
        args.extend(values(vec![item])?);
        self.call("__setitem__", args).map(drop)
    }

    pub fn extend(&self, items: Vec<Item>) -> Result<()> {
        self.call("extend", vec![Value::List(values(items)?)])
            .map(drop)
    }

    /// `l[index]`; negative from the end; `Index` when out of range.
    pub fn get(&self, index: i64) -> Result<Item> {
        self.call("__getitem__", vec![Value::Int(index)])
            .map(items::to_item)
    }

    /// `l.pop(index)`; `Index` when out of range or empty.
    pub fn pop(&self, index: i64) -> Result<Item> {
        self.call("pop", vec![Value::Int(index)])
            .map(items::to_item)
    }

    // No `is_empty`: each is a round trip, and C asks for the length.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Result<usize> {
        count(self.call("__len__", Vec::new())?, "length")
    }

    /// Empties the list (`del l[:]`, which every Python version's list proxy allows).
    pub fn clear(&self) -> Result<()> {
        self.call("__delitem__", vec![slice(None, None)]).map(drop)
    }

    /// One snapshot of every item (`l[:]`).
    pub fn items(&self) -> Result<Vec<Item>> {
        sequence(self.call("__getitem__", vec![slice(None, None)])?, "l[:]")
    }
}

impl Namespace {
    pub fn set(&self, attr: &str, value: Item) -> Result<()> {
        let mut args = vec![Value::Str(attr.into())];
        args.extend(values(vec![value])?);
        self.call("__setattr__", args).map(drop)
    }

    /// The attribute; `Key` (Python's `AttributeError`) when missing.
    pub fn get(&self, attr: &str) -> Result<Item> {
        self.call("__getattribute__", vec![Value::Str(attr.into())])
            .map(items::to_item)
    }

    pub fn del(&self, attr: &str) -> Result<()> {
        self.call("__delattr__", vec![Value::Str(attr.into())])
            .map(drop)
    }
}

/// A proxy for an object of any typeid, custom ones above all (`pc_proxy`).
pub struct Object {
    proxy: Proxy,
}

impl Object {
    /// A new object of `typeid` made from `args` in `manager`'s server (or the one named
    /// `name` there).
    pub fn new(
        manager: &Manager,
        typeid: &str,
        name: Option<&str>,
        args: Vec<Item>,
    ) -> Result<std::sync::Arc<Object>> {
        Ok(std::sync::Arc::new(Object {
            proxy: manager.create(typeid, name, values(args)?)?,
        }))
    }

    /// Calls an exposed method; `NotSupported` for one the type does not expose.
    pub fn call(&self, method: &str, args: Vec<Item>) -> Result<Item> {
        if !self.proxy.exposes(method) {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!(
                    "{} does not expose {method:?} (it exposes {})",
                    self.proxy.typeid(),
                    self.proxy.exposed().join(", ")
                ),
            ));
        }
        self.proxy
            .call(method, values(args)?, Vec::new(), None)
            .map(items::to_item)
    }
}
