//! What Python writes that the reader maps back: the Python 2 names of protocols 0–2,
//! and the `REDUCE`s that stand for plain data.

use super::graph::{Id, Kind, Node};
use super::Reader;
use crate::error::Result;
use crate::managers::pickle::Value;

/// Python 2 names that Python 3 writes in protocols 0–2 (its `fix_imports`), mapped back
/// as Python's reader does: first by (module, name), then by module alone. The subset
/// that plain data, exceptions and `multiprocessing` use.
#[rustfmt::skip]
const NAME_FIXES: &[[&str; 4]] = &[
    ["__builtin__", "xrange", "builtins", "range"],
    ["__builtin__", "reduce", "functools", "reduce"],
    ["__builtin__", "intern", "sys", "intern"],
    ["__builtin__", "unichr", "builtins", "chr"],
    ["__builtin__", "unicode", "builtins", "str"],
    ["__builtin__", "long", "builtins", "int"],
    ["__builtin__", "basestring", "builtins", "str"],
    ["exceptions", "StandardError", "builtins", "Exception"],
    ["itertools", "izip", "builtins", "zip"],
    ["itertools", "imap", "builtins", "map"],
    ["itertools", "ifilter", "builtins", "filter"],
    ["itertools", "ifilterfalse", "itertools", "filterfalse"],
    ["itertools", "izip_longest", "itertools", "zip_longest"],
    ["UserDict", "IterableUserDict", "collections", "UserDict"],
    ["UserDict", "UserDict", "collections", "UserDict"],
    ["UserList", "UserList", "collections", "UserList"],
    ["UserString", "UserString", "collections", "UserString"],
    ["multiprocessing", "AuthenticationError", "multiprocessing.context", "AuthenticationError"],
    ["multiprocessing", "BufferTooShort", "multiprocessing.context", "BufferTooShort"],
    ["multiprocessing", "ProcessError", "multiprocessing.context", "ProcessError"],
    ["multiprocessing", "TimeoutError", "multiprocessing.context", "TimeoutError"],
];
#[rustfmt::skip]
const MODULE_FIXES: &[[&str; 2]] = &[
    ["__builtin__", "builtins"], ["exceptions", "builtins"], ["copy_reg", "copyreg"],
    ["Queue", "queue"], ["thread", "_thread"], ["cPickle", "pickle"],
    ["_abcoll", "collections.abc"], ["repr", "reprlib"], ["StringIO", "io"],
    ["cStringIO", "io"],
];

/// A `REDUCE` that Python writes for plain data, recognised so it decodes as that data.
pub(super) enum Plain {
    Bytes(Vec<u8>),
    ByteArray(Vec<u8>),
    /// `set(list)`, `frozenset(list)`, `list(list)`: a copy of the list's items.
    Copy(Kind, Id),
}

impl Reader<'_> {
    pub(super) fn push_global(&mut self, mut module: String, mut name: String) {
        if self.proto < 3 {
            if let Some([.., m, n]) = NAME_FIXES.iter().find(|f| f[0] == module && f[1] == name) {
                (module, name) = (m.to_string(), n.to_string());
            } else if let Some([_, m]) = MODULE_FIXES.iter().find(|f| f[0] == module) {
                module = m.to_string();
            }
        }
        self.push_value(Value::Global { module, name });
    }

    /// Recognises `REDUCE`s that Python writes for plain data.
    pub(super) fn plain(&self, func: Id, args: Id) -> Result<Option<Plain>> {
        let Node::Done(Value::Global { module, name }, _) = &self.slots[func].node else {
            return Ok(None);
        };
        let Node::Composite(Kind::Tuple, args) = &self.slots[args].node else {
            return Ok(None);
        };
        let arg = |i: usize| args.get(i).map(|&id| &self.slots[id].node);
        let latin1 = |text: &str| {
            let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
            bytes.ok_or_else(|| self.error("latin-1 text with a code point >= 256"))
        };
        let plain = match (module.as_str(), name.as_str(), args.len()) {
            ("builtins", "bytearray", 0) => Plain::ByteArray(Vec::new()),
            ("builtins", "bytes", 0) => Plain::Bytes(Vec::new()),
            ("builtins", "bytearray", 1) => match arg(0) {
                Some(Node::Done(Value::Bytes(b), _)) => Plain::ByteArray(b.clone()),
                _ => return Ok(None),
            },
            ("builtins", "bytearray", 2) | ("_codecs", "encode", 2) => match (arg(0), arg(1)) {
                (Some(Node::Done(Value::Str(text), _)), Some(Node::Done(Value::Str(codec), _)))
                    if codec == "latin1" || codec == "latin-1" =>
                {
                    match name.as_str() {
                        "encode" => Plain::Bytes(latin1(text)?),
                        _ => Plain::ByteArray(latin1(text)?),
                    }
                }
                _ => return Ok(None),
            },
            ("builtins", "set" | "frozenset" | "list", 1) => match (arg(0), args.first()) {
                (Some(Node::Composite(Kind::List, _)), Some(&list)) => {
                    let kind = match name.as_str() {
                        "set" => Kind::Set,
                        "frozenset" => Kind::FrozenSet,
                        _ => Kind::List,
                    };
                    Plain::Copy(kind, list)
                }
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(plain))
    }
}
