//! The writer: protocol 4 without frames or memo, which every Python 3 reads.

use super::opcodes::op;
use super::{minimal_len, Value};

/// Python's writer appends and sets items in batches of this many.
const BATCH: usize = 1000;

/// Encodes `value`, appending to `out`; see [`super::dump_into`].
pub(super) fn dump_into(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(&[op::PROTO, 4]);
    write_value(value, out);
    out.push(op::STOP);
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::None => out.push(op::NONE),
        Value::Bool(true) => out.push(op::NEWTRUE),
        Value::Bool(false) => out.push(op::NEWFALSE),
        Value::Int(n) => write_int(*n, out),
        Value::BigInt(data) => match u8::try_from(data.len()) {
            Ok(n) => {
                out.extend_from_slice(&[op::LONG1, n]);
                out.extend_from_slice(data);
            }
            Err(_) => {
                // Python reads LONG4's length as signed; no int has 2 GiB of bytes.
                out.push(op::LONG4);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
        },
        Value::Float(x) => {
            out.push(op::BINFLOAT);
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::Str(text) => write_str(text, out),
        Value::Bytes(data) => {
            write_sized(data, [op::SHORT_BINBYTES, op::BINBYTES, op::BINBYTES8], out)
        }
        Value::ByteArray(data) => {
            // As Python's protocol 4: bytearray(bytes).
            write_global("builtins", "bytearray", out);
            write_sized(data, [op::SHORT_BINBYTES, op::BINBYTES, op::BINBYTES8], out);
            out.extend_from_slice(&[op::TUPLE1, op::REDUCE]);
        }
        Value::Tuple(items) => match items.as_slice() {
            [] => out.push(op::EMPTY_TUPLE),
            [a] => write_all([a], op::TUPLE1, out),
            [a, b] => write_all([a, b], op::TUPLE2, out),
            [a, b, c] => write_all([a, b, c], op::TUPLE3, out),
            _ => {
                out.push(op::MARK);
                write_all(items, op::TUPLE, out);
            }
        },
        Value::List(items) => {
            out.push(op::EMPTY_LIST);
            for batch in items.chunks(BATCH) {
                match batch {
                    [item] => write_all([item], op::APPEND, out),
                    _ => {
                        out.push(op::MARK);
                        write_all(batch, op::APPENDS, out);
                    }
                }
            }
        }
        Value::Dict(pairs) => {
            out.push(op::EMPTY_DICT);
            for batch in pairs.chunks(BATCH) {
                if batch.len() > 1 {
                    out.push(op::MARK);
                }
                for (key, value) in batch {
                    write_value(key, out);
                    write_value(value, out);
                }
                out.push(if batch.len() > 1 {
                    op::SETITEMS
                } else {
                    op::SETITEM
                });
            }
        }
        Value::Set(items) => {
            out.push(op::EMPTY_SET);
            for batch in items.chunks(BATCH) {
                out.push(op::MARK);
                write_all(batch, op::ADDITEMS, out);
            }
        }
        Value::FrozenSet(items) => {
            out.push(op::MARK);
            write_all(items, op::FROZENSET, out);
        }
        Value::Global { module, name } => write_global(module, name, out),
        Value::Reduce(func, args) => write_all([&**func, &**args], op::REDUCE, out),
        Value::NewObj(cls, args) => write_all([&**cls, &**args], op::NEWOBJ, out),
        Value::NewObjEx(cls, args, kwargs) => {
            write_all([&**cls, &**args, &**kwargs], op::NEWOBJ_EX, out)
        }
        Value::Build(obj, state) => write_all([&**obj, &**state], op::BUILD, out),
    }
}

/// Writes each of `values`, then `code`.
fn write_all<'v>(values: impl IntoIterator<Item = &'v Value>, code: u8, out: &mut Vec<u8>) {
    for value in values {
        write_value(value, out);
    }
    out.push(code);
}

/// The shortest of Python's int opcodes for `n`.
fn write_int(n: i64, out: &mut Vec<u8>) {
    if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[op::BININT1, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(op::BININT2);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(op::BININT);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        let bytes = n.to_le_bytes();
        let len = minimal_len(&bytes);
        out.extend_from_slice(&[op::LONG1, len as u8]);
        out.extend_from_slice(&bytes[..len]);
    }
}

fn write_str(text: &str, out: &mut Vec<u8>) {
    let codes = [op::SHORT_BINUNICODE, op::BINUNICODE, op::BINUNICODE8];
    write_sized(text.as_bytes(), codes, out);
}

/// Writes `data` with the opcode of a 1-, 4- or 8-byte length, whichever fits.
fn write_sized(data: &[u8], codes: [u8; 3], out: &mut Vec<u8>) {
    let n = data.len();
    if let Ok(short) = u8::try_from(n) {
        out.extend_from_slice(&[codes[0], short]);
    } else if let Ok(medium) = u32::try_from(n) {
        out.push(codes[1]);
        out.extend_from_slice(&medium.to_le_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(data);
}

/// A class reference as protocol 4 writes it: two strings and `STACK_GLOBAL`.
fn write_global(module: &str, name: &str, out: &mut Vec<u8>) {
    write_str(module, out);
    write_str(name, out);
    out.push(op::STACK_GLOBAL);
}
