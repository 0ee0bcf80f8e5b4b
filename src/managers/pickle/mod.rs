//! The pickle subset that managers exchange, read and written without running any code.
//!
//! Python's manager protocol pickles every request and reply. A value is decoded into a
//! [`Value`] tree that keeps what matters to a faithful round trip: tuples apart from
//! lists, dict insertion order, sets, big ints, and objects of classes the library does
//! not know as opaque `Global`/`Reduce`/`NewObj`/`Build` nodes, re-emitted unchanged.
//! Nothing is ever imported or called: a class reference is only a (module, name) pair.
//! Pure: bytes in, values out, no I/O.
//!
//! Pickles come from untrusted peers, so the reader never panics, never allocates more
//! than the input could fill, and never recurses. It runs the opcodes against a graph of
//! shared, mutable nodes (an arena indexed by number), as Python's unpickler runs them
//! against objects: Python memoizes a container while it is still empty and fills it
//! afterwards, so a memo reference must see the finished object, not a copy. At `STOP`
//! the graph is unfolded into a tree without recursion, under a size budget (sharing
//! can make the tree exponentially larger than the input), a depth limit, and refusing
//! structures that contain themselves, which a tree cannot hold.
//!
//! The writer emits protocol 4 without frames or memo, which every Python 3 reads.

mod opcodes;
mod read;
mod write;

#[cfg(test)]
mod tests;

use crate::error::Result;

/// A Python value as a pickle describes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An int outside `i64`: minimal little-endian two's complement bytes (LONG1's payload).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    ByteArray(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// In insertion order, as Python's dicts.
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    FrozenSet(Vec<Value>),
    /// A class or function by reference (`GLOBAL`, `STACK_GLOBAL`): never resolved.
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)` (`REDUCE`); `args` is a tuple.
    Reduce(Box<Value>, Box<Value>),
    /// `cls.__new__(cls, *args)` (`NEWOBJ`); `args` is a tuple.
    NewObj(Box<Value>, Box<Value>),
    /// `cls.__new__(cls, *args, **kwargs)` (`NEWOBJ_EX`).
    NewObjEx(Box<Value>, Box<Value>, Box<Value>),
    /// `obj.__setstate__(state)` or its default (`BUILD`).
    Build(Box<Value>, Box<Value>),
}

/// Decodes one pickle (protocols 0–5, as Python writes plain data and objects), never
/// running or importing anything. Malformed or unsupported input is `Protocol`.
pub fn loads(bytes: &[u8]) -> Result<Value> {
    read::loads(bytes)
}

/// Encodes `value` as a protocol-4 pickle that every Python 3 reads, appending to `out`.
pub fn dump_into(value: &Value, out: &mut Vec<u8>) {
    write::dump_into(value, out);
}

/// Encodes `value` as a new protocol-4 pickle.
pub fn dumps(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    dump_into(value, &mut out);
    out
}

/// How many of `bytes` (little-endian two's complement) the number needs: leading
/// (high) bytes that only repeat the sign are dropped, so a number has one encoding.
fn minimal_len(bytes: &[u8]) -> usize {
    let mut n = bytes.len();
    while n >= 2 {
        let (last, sign) = (bytes[n - 1], bytes[n - 2] & 0x80);
        if (last == 0 && sign == 0) || (last == 0xff && sign != 0) {
            n -= 1;
        } else {
            break;
        }
    }
    n
}
