//! The reader: a pickle machine that runs the opcodes against a graph of nodes
//! ([`graph`]), maps back what Python writes for plain data and Python 2 names
//! ([`compat`]), and at `STOP` unfolds the graph into a [`Value`] tree ([`unfold`]).

mod compat;
mod graph;
mod unfold;

use std::mem;

use super::opcodes::{op, opcode_name};
use super::{minimal_len, Value};
use crate::error::{Error, ErrorKind, Result};
use compat::Plain;
use graph::{Id, Kind, Memo, Node, Scratch, Slot};
use unfold::Frame;

/// The deepest nesting of containers and object nodes a decoded value may have: deeper
/// values are refused, so that nothing that walks a [`Value`] can exhaust the stack.
pub(super) const MAX_DEPTH: usize = 1000;
/// The decoded tree may count this many units per input byte, plus [`SIZE_SLACK`]; a
/// node is one unit, a byte of string, bytes, int or name data one more. Plain data
/// stays far below; only heavy sharing (one object referenced from many places, which
/// the tree must copy) comes near, and a "billion laughs" of memo references fails here.
const SIZE_PER_INPUT_BYTE: usize = 64;
const SIZE_SLACK: usize = 1 << 20;
/// Python refuses to convert decimal text of more digits to an int (its default
/// `sys.int_info.default_max_str_digits`); the limit also bounds our quadratic conversion.
pub(super) const MAX_DECIMAL_DIGITS: usize = 4300;

/// Decodes one pickle; see [`super::loads`].
pub(super) fn loads(bytes: &[u8]) -> Result<Value> {
    Scratch::with(|scratch| Reader::new(bytes, scratch).run())
}

fn protocol_error(message: String) -> Error {
    Error::new(ErrorKind::Protocol, format!("pickle: {message}"))
}

/// A pickle machine that builds a node graph instead of objects, in a [`Scratch`].
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts, for messages.
    at: usize,
    /// The protocol `PROTO` announced (0 without one): below 3, Python 2 names are mapped.
    proto: u8,
    slots: &'a mut Vec<Slot>,
    stack: &'a mut Vec<Id>,
    /// Stack lengths at each open `MARK`.
    marks: &'a mut Vec<usize>,
    memo: &'a mut Memo,
    /// The nodes being unfolded at `STOP`, and the values of their children.
    frames: &'a mut Vec<Frame>,
    values: &'a mut Vec<Value>,
    spare: &'a mut Vec<Vec<Id>>,
    /// Units spent on the tree (and on copies `REDUCE` makes), against `budget`.
    spent: usize,
    budget: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], scratch: &'a mut Scratch) -> Self {
        let Scratch {
            slots,
            stack,
            marks,
            memo,
            frames,
            values,
            spare,
        } = scratch;
        Reader {
            input,
            pos: 0,
            at: 0,
            proto: 0,
            slots,
            stack,
            marks,
            memo,
            frames,
            values,
            spare,
            spent: 0,
            budget: input
                .len()
                .saturating_mul(SIZE_PER_INPUT_BYTE)
                .saturating_add(SIZE_SLACK),
        }
    }

    /// The name of the opcode being run.
    fn opcode(&self) -> &'static str {
        let code = self.input.get(self.at).copied().unwrap_or(0);
        opcode_name(code).unwrap_or("?")
    }

    /// An error about the opcode being run: `pickle: NAME at offset N: what`.
    fn error(&self, what: &str) -> Error {
        protocol_error(format!("{} at offset {}: {what}", self.opcode(), self.at))
    }

    /// Spends `units` of the budget (once per node unfolded: kept inline).
    #[inline]
    fn charge(&mut self, units: usize) -> Result<()> {
        self.spent = self.spent.saturating_add(units);
        if self.spent > self.budget {
            return Err(self.over_budget());
        }
        Ok(())
    }

    #[cold]
    fn over_budget(&self) -> Error {
        self.error(&format!(
            "value too large (more than {} nodes and bytes from {} input bytes)",
            self.budget,
            self.input.len()
        ))
    }

    // --- Input ---

    /// The next `n` bytes; `n` is checked against what is left before anything is
    /// allocated, so a huge announced length fails at once.
    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = self.input.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let data = &self.input[self.pos..self.pos + n];
                self.pos += n;
                Ok(data)
            }
            _ => Err(protocol_error(format!(
                "truncated at offset {} ({} at offset {} needs {n} bytes, {left} left)",
                self.pos,
                self.opcode(),
                self.at,
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N as u64)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// The rest of a text opcode's line, without its `\n`.
    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.input[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(protocol_error(format!(
                "truncated at offset {} ({} at offset {} has no newline)",
                self.pos,
                self.opcode(),
                self.at,
            )));
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn utf8(&self, data: &[u8]) -> Result<String> {
        // Python writes lone surrogates (`surrogatepass`), which a Rust string cannot hold.
        String::from_utf8(data.to_vec()).map_err(|_| self.error("invalid UTF-8"))
    }

    /// A decimal memo key of `GET`/`PUT`.
    fn text_key(&mut self) -> Result<u64> {
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| self.error("bad memo key"))
    }

    fn tuple_arg(&self, id: Id, what: &str) -> Result<()> {
        match self.kind(id) {
            Some(Kind::Tuple) => Ok(()),
            _ => Err(self.error(&format!("{what} is not a tuple"))),
        }
    }

    // --- The machine ---

    fn run(mut self) -> Result<Value> {
        loop {
            self.at = self.pos;
            let Some(&code) = self.input.get(self.pos) else {
                return Err(protocol_error(format!(
                    "truncated at offset {} (no STOP)",
                    self.pos
                )));
            };
            self.pos += 1;
            match code {
                op::PROTO => {
                    self.proto = self.u8()?;
                    if self.proto > 5 {
                        return Err(self.error(&format!("unsupported protocol {}", self.proto)));
                    }
                }
                op::FRAME => {
                    // Frames only group opcodes for buffered reading: the length is checked
                    // and the opcodes inside run as if unframed.
                    let n = self.u64()?;
                    if n > (self.input.len() - self.pos) as u64 {
                        return Err(self.error("frame longer than the input"));
                    }
                }
                op::STOP => return self.stop(),
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    // As in Python: with nothing above the innermost MARK, POP drops the mark.
                    if self.stack.len() > self.floor() {
                        self.stack.pop();
                    } else if self.marks.pop().is_none() {
                        return Err(self.error("stack underflow"));
                    }
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let id = self.top()?;
                    self.stack.push(id);
                }
                op::NONE => self.push_value(Value::None),
                op::NEWTRUE => self.push_value(Value::Bool(true)),
                op::NEWFALSE => self.push_value(Value::Bool(false)),
                op::INT => {
                    let value = match self.line()? {
                        b"01" => Value::Bool(true),
                        b"00" => Value::Bool(false),
                        text => self.decimal(text)?,
                    };
                    self.push_value(value);
                }
                op::BININT => {
                    let n = i32::from_le_bytes(self.array()?);
                    self.push_value(Value::Int(n.into()));
                }
                op::BININT1 => {
                    let n = self.u8()?;
                    self.push_value(Value::Int(n.into()));
                }
                op::BININT2 => {
                    let n = u16::from_le_bytes(self.array()?);
                    self.push_value(Value::Int(n.into()));
                }
                op::LONG => {
                    let line = self.line()?;
                    let value = self.decimal(line.strip_suffix(b"L").unwrap_or(line))?;
                    self.push_value(value);
                }
                op::LONG1 => {
                    let n = self.u8()?;
                    let data = self.take(n.into())?;
                    self.push_value(int_from_le(data));
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.array()?);
                    let n = u64::try_from(n).map_err(|_| self.error("negative length"))?;
                    let data = self.take(n)?;
                    self.push_value(int_from_le(data));
                }
                op::FLOAT => {
                    let line = self.line()?;
                    let value = std::str::from_utf8(line)
                        .ok()
                        .and_then(|text| text.trim().parse::<f64>().ok())
                        .ok_or_else(|| self.error("bad float text"))?;
                    self.push_value(Value::Float(value));
                }
                op::BINFLOAT => {
                    let value = f64::from_be_bytes(self.array()?);
                    self.push_value(Value::Float(value));
                }
                op::UNICODE => {
                    let line = self.line()?;
                    let text = self.raw_unicode_escape(line)?;
                    self.push_value(Value::Str(text));
                }
                op::SHORT_BINUNICODE | op::BINUNICODE | op::BINUNICODE8 => {
                    let n = self.size(code)?;
                    let data = self.take(n)?;
                    let text = self.utf8(data)?;
                    self.push_value(Value::Str(text));
                }
                op::SHORT_BINBYTES | op::BINBYTES | op::BINBYTES8 => {
                    let n = self.size(code)?;
                    let data = self.take(n)?;
                    self.push_value(Value::Bytes(data.to_vec()));
                }
                op::BYTEARRAY8 => {
                    let n = self.u64()?;
                    let data = self.take(n)?;
                    self.push_value(Value::ByteArray(data.to_vec()));
                }
                op::EMPTY_TUPLE => self.push_empty(Kind::Tuple),
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let items = self.pop_n(usize::from(code - op::TUPLE1) + 1)?;
                    self.push_composite(Kind::Tuple, items);
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.push_composite(Kind::Tuple, items);
                }
                op::EMPTY_LIST => self.push_empty(Kind::List),
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.push_composite(Kind::List, items);
                }
                op::APPEND => {
                    let item = self.pop_n(1)?;
                    self.extend_top(Kind::List, item, "list")?;
                }
                op::APPENDS => {
                    let items = self.pop_mark()?;
                    self.extend_top(Kind::List, items, "list")?;
                }
                op::EMPTY_DICT => self.push_empty(Kind::Dict),
                op::DICT => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.error("odd number of keys and values"));
                    }
                    self.push_composite(Kind::Dict, items);
                }
                op::SETITEM => {
                    let pair = self.pop_n(2)?;
                    self.extend_top(Kind::Dict, pair, "dict")?;
                }
                op::SETITEMS => {
                    let items = self.pop_mark()?;
                    self.extend_top(Kind::Dict, items, "dict")?;
                }
                op::EMPTY_SET => self.push_empty(Kind::Set),
                op::ADDITEMS => {
                    let items = self.pop_mark()?;
                    self.extend_top(Kind::Set, items, "set")?;
                }
                op::FROZENSET => {
                    let items = self.pop_mark()?;
                    self.push_composite(Kind::FrozenSet, items);
                }
                op::GLOBAL => {
                    let module = self.line()?;
                    let module = self.utf8(module)?;
                    let name = self.line()?;
                    let name = self.utf8(name)?;
                    self.push_global(module, name);
                }
                op::STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.slots[module].node, &self.slots[name].node) {
                        (Node::Done(Value::Str(m), _), Node::Done(Value::Str(n), _)) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.push_global(m, n);
                        }
                        _ => return Err(self.error("module and name are not strings")),
                    }
                }
                op::REDUCE => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.tuple_arg(args, "REDUCE's argument")?;
                    match self.plain(func, args)? {
                        Some(Plain::Bytes(data)) => self.push_value(Value::Bytes(data)),
                        Some(Plain::ByteArray(data)) => self.push_value(Value::ByteArray(data)),
                        Some(Plain::Copy(kind, list)) => {
                            let items = match &self.slots[list].node {
                                Node::Composite(_, items) => items.clone(),
                                _ => Vec::new(),
                            };
                            self.charge(items.len())?;
                            self.push_composite(kind, items);
                        }
                        None => self.push_composite(Kind::Reduce, vec![func, args]),
                    }
                }
                op::NEWOBJ => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.tuple_arg(args, "NEWOBJ's argument")?;
                    self.push_composite(Kind::NewObj, vec![cls, args]);
                }
                op::NEWOBJ_EX => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.tuple_arg(args, "NEWOBJ_EX's argument")?;
                    if self.kind(kwargs) != Some(Kind::Dict) {
                        return Err(self.error("NEWOBJ_EX's keywords are not a dict"));
                    }
                    self.push_composite(Kind::NewObjEx, vec![cls, args, kwargs]);
                }
                op::BUILD => {
                    // BUILD changes the object in place, so every reference to it (memo
                    // included) must see the built object: the node keeps its id and
                    // becomes Build(old node, state).
                    let state = self.pop()?;
                    let obj = self.top()?;
                    // A tuple takes no state (Python's load fails on it), and a tuple
                    // that became a Build node could no longer be the argument of the
                    // REDUCE or NEWOBJ that used it.
                    if self.kind(obj) == Some(Kind::Tuple) {
                        return Err(self.error("BUILD on a tuple"));
                    }
                    let old = mem::replace(&mut self.slots[obj].node, Node::Gone);
                    let inner = self.slots.len();
                    self.slots.push(Slot { node: old, refs: 1 });
                    self.slots[state].refs += 1;
                    self.slots[obj].node = Node::Composite(Kind::Build, vec![inner, state]);
                }
                op::PUT => {
                    let key = self.text_key()?;
                    self.memo_put(key)?;
                }
                op::BINPUT => {
                    let key = self.u8()?;
                    self.memo_put(key.into())?;
                }
                op::LONG_BINPUT => {
                    let key = self.u32()?;
                    self.memo_put(key.into())?;
                }
                op::MEMOIZE => {
                    let key = self.memo.len;
                    self.memo_put(key)?;
                }
                op::GET => {
                    let key = self.text_key()?;
                    self.memo_get(key)?;
                }
                op::BINGET => {
                    let key = self.u8()?;
                    self.memo_get(key.into())?;
                }
                op::LONG_BINGET => {
                    let key = self.u32()?;
                    self.memo_get(key.into())?;
                }
                // Python 2 str, persistent ids, the extension registry, out-of-band
                // buffers and the protocol-0 way of building objects: never written
                // for the values managers exchange.
                op::STRING
                | op::BINSTRING
                | op::SHORT_BINSTRING
                | op::PERSID
                | op::BINPERSID
                | op::EXT1
                | op::EXT2
                | op::EXT4
                | op::NEXT_BUFFER
                | op::READONLY_BUFFER
                | op::INST
                | op::OBJ => {
                    return Err(protocol_error(format!(
                        "opcode {code:#04x} ({}) at offset {} is not supported",
                        self.opcode(),
                        self.at
                    )))
                }
                _ => {
                    return Err(protocol_error(format!(
                        "unknown opcode {code:#04x} at offset {}",
                        self.at
                    )))
                }
            }
        }
    }

    /// The length prefix of a counted string/bytes opcode.
    fn size(&mut self, code: u8) -> Result<u64> {
        match code {
            op::SHORT_BINUNICODE | op::SHORT_BINBYTES => self.u8().map(u64::from),
            op::BINUNICODE | op::BINBYTES => self.u32().map(u64::from),
            _ => self.u64(),
        }
    }

    /// Decimal text of `INT`/`LONG` as an int (Python writes no other base).
    fn decimal(&self, text: &[u8]) -> Result<Value> {
        let text = text.trim_ascii();
        let (negative, digits) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(self.error("bad integer text"));
        }
        if digits.len() > MAX_DECIMAL_DIGITS {
            return Err(self.error(&format!("integer of more than {MAX_DECIMAL_DIGITS} digits")));
        }
        // The magnitude in little-endian 32-bit limbs.
        let mut limbs: Vec<u32> = Vec::new();
        for &digit in digits {
            let mut carry = u64::from(digit - b'0');
            for limb in &mut limbs {
                let x = u64::from(*limb) * 10 + carry;
                *limb = x as u32;
                carry = x >> 32;
            }
            if carry != 0 {
                limbs.push(carry as u32);
            }
        }
        let mut bytes: Vec<u8> = limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect();
        bytes.push(0); // room for the sign bit
        if negative {
            let mut carry = true;
            for byte in &mut bytes {
                (*byte, carry) = (!*byte).overflowing_add(u8::from(carry));
            }
        }
        Ok(int_from_le(&bytes))
    }

    /// Python's `raw-unicode-escape`: bytes are Latin-1 characters, except that
    /// `\uXXXX` and `\UXXXXXXXX` are escapes when an odd run of backslashes leads them.
    fn raw_unicode_escape(&self, data: &[u8]) -> Result<String> {
        let mut text = String::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] != b'\\' {
                text.push(char::from(data[i]));
                i += 1;
                continue;
            }
            let start = i;
            while data.get(i) == Some(&b'\\') {
                i += 1;
            }
            let width = match data.get(i) {
                Some(b'u') if (i - start) % 2 == 1 => 4,
                Some(b'U') if (i - start) % 2 == 1 => 8,
                _ => 0,
            };
            let literal = if width > 0 { i - start - 1 } else { i - start };
            for _ in 0..literal {
                text.push('\\');
            }
            if width > 0 {
                let hex = data
                    .get(i + 1..i + 1 + width)
                    .ok_or_else(|| self.error("truncated \\u escape"))?;
                let code = hex.iter().try_fold(0u32, |code, &b| {
                    char::from(b).to_digit(16).map(|d| code << 4 | d)
                });
                let c = code
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error("bad \\u escape (or a surrogate)"))?;
                text.push(c);
                i += 1 + width;
            }
        }
        Ok(text)
    }

    /// `STOP`: exactly one value must be left, and nothing may follow.
    fn stop(&mut self) -> Result<Value> {
        if !self.marks.is_empty() {
            return Err(self.error("MARK left open"));
        }
        if self.stack.len() != 1 {
            return Err(self.error(&format!("{} values on the stack, not 1", self.stack.len())));
        }
        if self.pos != self.input.len() {
            let extra = self.input.len() - self.pos;
            return Err(self.error(&format!("{extra} trailing bytes after it")));
        }
        let root = self.stack[0];
        self.unfold(root)
    }
}

/// An int from little-endian two's complement bytes: `Int` when it fits, else a
/// `BigInt` in minimal form.
fn int_from_le(bytes: &[u8]) -> Value {
    let bytes = &bytes[..minimal_len(bytes)];
    if bytes.len() > 8 {
        return Value::BigInt(bytes.to_vec());
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut full = [if negative { 0xff } else { 0 }; 8];
    full[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(full))
}
