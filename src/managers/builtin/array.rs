//! Typeid `Array`: `multiprocessing.managers.Array(typecode, sequence, lock=True)`, which
//! is `array.array(typecode, sequence)`: numbers of one C type, range-checked as Python
//! checks them. Arrays travel as multiprocessing pickles them:
//! `array.array(typecode, raw_machine_bytes)`.

use std::sync::{Arc, Mutex};

use super::args::{positional_args, subscript, type_error, Signature, Style};
use super::blocking::lock;
use super::num::Int;
use super::repr::repr;
use super::semantics::{elements, no_attribute, reduced, type_name};
use super::slice::{position, Slice};
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) const EXPOSED: &[&str] = &["__len__", "__getitem__", "__setitem__"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Signed,
    Unsigned,
    Float,
}

/// One typecode: its item size and kind.
struct Code {
    code: char,
    size: usize,
    kind: Kind,
}

const fn code(code: char, size: usize, kind: Kind) -> Code {
    Code { code, size, kind }
}

/// The typecodes of `array.array` (sizes as on 64-bit Linux), except `u` (deprecated
/// wide characters).
static CODES: [Code; 12] = [
    code('b', 1, Kind::Signed),
    code('B', 1, Kind::Unsigned),
    code('h', 2, Kind::Signed),
    code('H', 2, Kind::Unsigned),
    code('i', 4, Kind::Signed),
    code('I', 4, Kind::Unsigned),
    code('l', 8, Kind::Signed),
    code('L', 8, Kind::Unsigned),
    code('q', 8, Kind::Signed),
    code('Q', 8, Kind::Unsigned),
    code('f', 4, Kind::Float),
    code('d', 8, Kind::Float),
];

fn lookup(typecode: &str) -> Result<&'static Code, Raised> {
    if typecode == "u" {
        return Err(Raised::builtin(
            "ValueError",
            "array typecode 'u' is not supported by this server",
        ));
    }
    CODES
        .iter()
        .find(|c| typecode.chars().eq([c.code]))
        .ok_or_else(|| {
            Raised::builtin(
                "ValueError",
                "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)",
            )
        })
}

impl Code {
    /// `value` as an item of this type, or Python's error for it.
    fn convert(&self, value: &Value) -> Result<Value, Raised> {
        if self.kind == Kind::Float {
            let f = match (value, Int::of(value)) {
                (Value::Float(f), _) => *f,
                (_, Some(int)) => int.to_f64().ok_or_else(|| {
                    Raised::builtin("OverflowError", "int too large to convert to float")
                })?,
                (_, None) => {
                    return Err(type_error(format!(
                        "must be real number, not {}",
                        type_name(value)
                    )))
                }
            };
            return Ok(Value::Float(if self.size == 4 {
                f as f32 as f64
            } else {
                f
            }));
        }
        let Some(int) = Int::of(value) else {
            let message = format!(
                "'{}' object cannot be interpreted as an integer",
                type_name(value)
            );
            return Err(type_error(message));
        };
        let bits = 8 * self.size as u32;
        let (min, max) = match self.kind {
            Kind::Signed => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
            _ => (0, (1i128 << bits) - 1),
        };
        match int.to_i128() {
            Some(n) if (min..=max).contains(&n) => Ok(Int::from_i128(n).into_value()),
            _ => Err(Raised::builtin(
                "OverflowError",
                self.overflow(int.is_negative()),
            )),
        }
    }

    /// Python's message for an int beyond the type's range, below it if `negative`.
    fn overflow(&self, negative: bool) -> &'static str {
        match (self.code, negative) {
            ('b', false) => "signed char is greater than maximum",
            ('b', true) => "signed char is less than minimum",
            ('B', false) => "unsigned byte integer is greater than maximum",
            ('B', true) => "unsigned byte integer is less than minimum",
            ('h', false) => "signed short integer is greater than maximum",
            ('h', true) => "signed short integer is less than minimum",
            ('H', false) => "unsigned short is greater than maximum",
            ('H', true) => "unsigned short is less than minimum",
            ('i', false) => "signed integer is greater than maximum",
            ('i', true) => "signed integer is less than minimum",
            ('I', false) => "unsigned int is greater than maximum",
            ('l', _) => "Python int too large to convert to C long",
            ('L', false) => "Python int too large to convert to C unsigned long",
            ('I' | 'L', true) => "can't convert negative value to unsigned int",
            ('Q', true) => "can't convert negative int to unsigned",
            _ => "int too big to convert",
        }
    }

    /// The items' machine bytes (`a.tobytes()`: native byte order, as Python writes
    /// them); items are already converted.
    fn encode(&self, items: &[Value]) -> Vec<u8> {
        let mut raw = Vec::with_capacity(items.len() * self.size);
        for item in items {
            match item {
                Value::Float(f) if self.size == 4 => raw.extend((*f as f32).to_ne_bytes()),
                Value::Float(f) => raw.extend(f.to_ne_bytes()),
                other => {
                    let n = Int::of(other).and_then(|i| i.to_i128()).unwrap_or(0);
                    let mut bytes = n.to_le_bytes()[..self.size].to_vec();
                    if cfg!(target_endian = "big") {
                        bytes.reverse();
                    }
                    raw.extend(bytes);
                }
            }
        }
        raw
    }

    /// Items from machine bytes (`a.frombytes(raw)`).
    fn decode(&self, raw: &[u8]) -> Result<Vec<Value>, Raised> {
        if raw.len() % self.size != 0 {
            return Err(Raised::builtin(
                "ValueError",
                "bytes length not a multiple of item size",
            ));
        }
        Ok(raw
            .chunks(self.size)
            .map(|chunk| match (self.kind, self.size) {
                (Kind::Float, 4) => {
                    Value::Float(f32::from_ne_bytes(chunk.try_into().expect("4 bytes")).into())
                }
                (Kind::Float, _) => {
                    Value::Float(f64::from_ne_bytes(chunk.try_into().expect("8 bytes")))
                }
                (kind, size) => {
                    let mut chunk = chunk.to_vec();
                    if cfg!(target_endian = "big") {
                        chunk.reverse();
                    }
                    let negative = kind == Kind::Signed && chunk[size - 1] & 0x80 != 0;
                    let mut word = [if negative { 0xff } else { 0 }; 16];
                    word[..size].copy_from_slice(&chunk);
                    Int::from_i128(i128::from_le_bytes(word)).into_value()
                }
            })
            .collect())
    }

    /// The array as multiprocessing pickles it: `array.array(typecode, raw_bytes)`.
    fn pickled(&self, items: &[Value]) -> Value {
        let class = Value::Global {
            module: "array".into(),
            name: "array".into(),
        };
        let args = vec![
            Value::Str(self.code.into()),
            Value::Bytes(self.encode(items)),
        ];
        Value::Reduce(Box::new(class), Box::new(Value::Tuple(args)))
    }
}

/// The typecode and items of a pickled array; `None` when `value` is not one.
fn unpickle(value: &Value) -> Option<Result<(&'static Code, Vec<Value>), Raised>> {
    match reduced(value, "array", "array")? {
        [Value::Str(typecode), Value::Bytes(raw)] => {
            Some(lookup(typecode).and_then(|code| Ok((code, code.decode(raw)?))))
        }
        _ => None,
    }
}

/// The items of a pickled array, for iteration; `None` when `value` is not one.
pub(crate) fn elements_of(value: &Value) -> Option<Result<Vec<Value>, Raised>> {
    unpickle(value).map(|array| array.map(|(_, items)| items))
}

pub(crate) struct Array {
    code: &'static Code,
    items: Mutex<Vec<Value>>,
}

/// `Array(typecode, sequence, lock=True)`: from an iterable of numbers, or from machine
/// bytes as `array.array` does.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let signature = Signature::new("Array", Style::Function, ["typecode", "sequence"], ["lock"]);
    let ([typecode, sequence], [_lock]) = signature.bind(args, kwds)?;
    let code = match &typecode {
        Value::Str(typecode) if typecode.chars().count() == 1 => lookup(typecode)?,
        other => {
            let message = format!(
                "array() argument 1 must be a unicode character, not {}",
                type_name(other)
            );
            return Err(type_error(message));
        }
    };
    let items = match sequence {
        Value::Str(_) => {
            let message = format!(
                "cannot use a str to initialize an array with typecode '{}'",
                code.code
            );
            return Err(type_error(message));
        }
        Value::Bytes(raw) | Value::ByteArray(raw) => code.decode(&raw)?,
        other => elements(&other)?
            .iter()
            .map(|item| code.convert(item))
            .collect::<Result<_, _>>()?,
    };
    Ok(Arc::new(Array {
        code,
        items: Mutex::new(items),
    }))
}

impl Array {
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
            "__getitem__" => {
                let ([index], []) = positional_args("__getitem__", ["key"], [], args, kwds)?;
                if let Some(slice) = Slice::parse(&index) {
                    return Ok(self.code.pickled(&slice?.get(&items)));
                }
                match position(subscript(&index, "array")?, len) {
                    Some(i) => items[i].clone(),
                    None => return Err(Raised::builtin("IndexError", "array index out of range")),
                }
            }
            "__setitem__" => {
                let ([index, value], []) =
                    positional_args("__setitem__", ["key", "value"], [], args, kwds)?;
                if let Some(slice) = Slice::parse(&index) {
                    let slice = slice?;
                    let new = match unpickle(&value) {
                        Some(Ok((code, new))) if std::ptr::eq(code, self.code) => new,
                        Some(Ok(_)) => {
                            return Err(type_error("bad argument type for built-in operation"))
                        }
                        Some(Err(err)) => return Err(err),
                        None => {
                            let message = format!(
                                "can only assign array (not \"{}\") to array slice",
                                type_name(&value)
                            );
                            return Err(type_error(message));
                        }
                    };
                    slice.assign(&mut items, new, "array")?;
                } else {
                    match position(subscript(&index, "array")?, len) {
                        Some(i) => items[i] = self.code.convert(&value)?,
                        None => {
                            return Err(Raised::builtin(
                                "IndexError",
                                "array assignment index out of range",
                            ))
                        }
                    }
                }
                Value::None
            }
            _ => return Err(no_attribute("array.array", method)),
        })
    }
}

impl Referent for Array {
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
        Some(self.code.pickled(&lock(&self.items)))
    }

    /// `array('i', [1, 2])`, or `array('i')` when empty.
    fn repr(&self) -> String {
        let items = lock(&self.items);
        if items.is_empty() {
            format!("array('{}')", self.code.code)
        } else {
            format!(
                "array('{}', {})",
                self.code.code,
                repr(&Value::List(items.clone()))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, create, exc, int, ints, s, slice, TestCaller};
    use super::*;

    fn pickled(typecode: &str, raw: Vec<u8>) -> Value {
        let class = Value::Global {
            module: "array".into(),
            name: "array".into(),
        };
        Value::Reduce(
            Box::new(class),
            Box::new(Value::Tuple(vec![s(typecode), Value::Bytes(raw)])),
        )
    }

    fn overflow(typecode: &str, value: Value) -> String {
        let err = create("Array", vec![s(typecode), Value::List(vec![value])], &[])
            .err()
            .unwrap();
        assert_eq!(err.name, "OverflowError");
        match &err.args[..] {
            [Value::Str(message)] => message.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn creates_and_pickles() {
        let a = create("Array", vec![s("i"), ints(&[1, 2])], &[]).unwrap();
        assert_eq!(a.repr(), "array('i', [1, 2])");
        assert_eq!(a.value(), Some(pickled("i", vec![1, 0, 0, 0, 2, 0, 0, 0])));
        let a = create("Array", vec![s("d"), ints(&[1])], &[]).unwrap();
        assert_eq!(a.repr(), "array('d', [1.0])");
        let a = create(
            "Array",
            vec![s("f"), Value::List(vec![Value::Float(0.1)])],
            &[],
        )
        .unwrap();
        assert_eq!(a.repr(), "array('f', [0.10000000149011612])");
        let a = create(
            "Array",
            vec![s("h"), Value::Bytes(vec![1, 0, 0xff, 0xff])],
            &[],
        )
        .unwrap();
        assert_eq!(a.repr(), "array('h', [1, -1])");
        let a = create("Array", vec![s("Q"), pickled("Q", vec![0xff; 8])], &[]).unwrap();
        assert_eq!(a.repr(), "array('Q', [18446744073709551615])");
        assert_eq!(
            create("Array", vec![s("b"), ints(&[])], &[])
                .unwrap()
                .repr(),
            "array('b')"
        );
    }

    #[test]
    fn creation_errors() {
        let err = create("Array", vec![s("z"), ints(&[])], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)"
            )
        );
        let err = create("Array", vec![int(5), ints(&[])], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "array() argument 1 must be a unicode character, not int"
            )
        );
        let err = create("Array", vec![s("i"), s("ab")], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "cannot use a str to initialize an array with typecode 'i'"
            )
        );
        let err = create(
            "Array",
            vec![s("i"), Value::List(vec![Value::Float(1.0)])],
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "'float' object cannot be interpreted as an integer"
            )
        );
        let err = create("Array", vec![s("d"), Value::List(vec![s("a")])], &[])
            .err()
            .unwrap();
        assert_eq!(err, exc("TypeError", "must be real number, not str"));
        let err = create("Array", vec![s("i"), Value::Bytes(vec![0; 3])], &[])
            .err()
            .unwrap();
        assert_eq!(
            err,
            exc("ValueError", "bytes length not a multiple of item size")
        );
        let err = create("Array", vec![s("i")], &[]).err().unwrap();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Array() missing 1 required positional argument: 'sequence'"
            )
        );
    }

    #[test]
    fn ranges() {
        let big = |i: i128| Int::from_i128(i).into_value();
        assert_eq!(
            overflow("b", int(128)),
            "signed char is greater than maximum"
        );
        assert_eq!(overflow("b", int(-129)), "signed char is less than minimum");
        assert_eq!(
            overflow("B", int(-1)),
            "unsigned byte integer is less than minimum"
        );
        assert_eq!(
            overflow("H", int(1 << 16)),
            "unsigned short is greater than maximum"
        );
        assert_eq!(
            overflow("i", int(1 << 31)),
            "signed integer is greater than maximum"
        );
        assert_eq!(
            overflow("I", int(-1)),
            "can't convert negative value to unsigned int"
        );
        assert_eq!(
            overflow("l", big(1 << 63)),
            "Python int too large to convert to C long"
        );
        assert_eq!(overflow("Q", big(1 << 64)), "int too big to convert");
        assert_eq!(overflow("q", big(-(1 << 100))), "int too big to convert");
        let a = create(
            "Array",
            vec![s("Q"), Value::List(vec![big((1 << 64) - 1)])],
            &[],
        )
        .unwrap();
        assert_eq!(a.value(), Some(pickled("Q", vec![0xff; 8])));
    }

    #[test]
    fn items_and_slices() {
        let a = create("Array", vec![s("i"), ints(&[1, 2, 3])], &[]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(call(&*a, &c, "__len__", vec![]).unwrap(), int(3));
        assert_eq!(call(&*a, &c, "__getitem__", vec![int(-1)]).unwrap(), int(3));
        let err = call(&*a, &c, "__getitem__", vec![int(3)]).unwrap_err();
        assert_eq!(err, exc("IndexError", "array index out of range"));
        let err = call(&*a, &c, "__setitem__", vec![int(3), int(0)]).unwrap_err();
        assert_eq!(
            err,
            exc("IndexError", "array assignment index out of range")
        );
        let err = call(&*a, &c, "__setitem__", vec![int(0), Value::Float(1.5)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "'float' object cannot be interpreted as an integer"
            )
        );
        call(&*a, &c, "__setitem__", vec![int(0), Value::Bool(true)]).unwrap();
        let n = Value::None;
        let got = call(
            &*a,
            &c,
            "__getitem__",
            vec![slice(int(1), n.clone(), n.clone())],
        )
        .unwrap();
        assert_eq!(got, pickled("i", vec![2, 0, 0, 0, 3, 0, 0, 0]));
        call(
            &*a,
            &c,
            "__setitem__",
            vec![slice(int(0), int(1), n.clone()), got],
        )
        .unwrap();
        assert_eq!(a.repr(), "array('i', [2, 3, 2, 3])");
        let err = call(
            &*a,
            &c,
            "__setitem__",
            vec![slice(int(0), int(1), n.clone()), ints(&[1])],
        )
        .unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "can only assign array (not \"list\") to array slice"
            )
        );
        let doubles = pickled("d", 1.0f64.to_ne_bytes().to_vec());
        let err = call(
            &*a,
            &c,
            "__setitem__",
            vec![slice(int(0), int(1), n.clone()), doubles],
        )
        .unwrap_err();
        assert_eq!(
            err,
            exc("TypeError", "bad argument type for built-in operation")
        );
        let one = pickled("i", vec![9, 0, 0, 0]);
        let err = call(
            &*a,
            &c,
            "__setitem__",
            vec![slice(n.clone(), n, int(2)), one],
        )
        .unwrap_err();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "attempt to assign array of size 1 to extended slice of size 2"
            )
        );
    }
}
