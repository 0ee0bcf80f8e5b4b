//! Python's `repr` of [`Value`]s, character for character: Python clients print a proxy
//! with the text the server sends for `__repr__`/`__str__`, and `%r` appears in
//! exception messages (`ValueError: 'x' is not in list`).

use std::fmt::Write;

use super::num::Int;
use super::semantics::class_of;
use crate::managers::pickle::Value;

/// `repr(value)` as Python prints it; an object of a class we do not know prints as
/// `<module.Name object>` (Python adds its address, which we do not have).
pub(crate) fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::BigInt(bytes) => out.push_str(&Int::from_bytes(bytes).to_string()),
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => str_repr(s, out),
        Value::Bytes(b) => bytes_repr(b, out),
        Value::ByteArray(b) => {
            out.push_str("bytearray(");
            bytes_repr(b, out);
            out.push(')');
        }
        Value::Tuple(items) if items.len() == 1 => {
            out.push('(');
            write_repr(&items[0], out);
            out.push_str(",)");
        }
        Value::Tuple(items) => write_items(items, "(", ")", out),
        Value::List(items) => write_items(items, "[", "]", out),
        Value::Set(items) if items.is_empty() => out.push_str("set()"),
        Value::Set(items) => write_items(items, "{", "}", out),
        Value::FrozenSet(items) if items.is_empty() => out.push_str("frozenset()"),
        Value::FrozenSet(items) => write_items(items, "frozenset({", "})", out),
        Value::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(k, out);
                out.push_str(": ");
                write_repr(v, out);
            }
            out.push('}');
        }
        Value::Global { module, name } => {
            let _ = write!(out, "<class '{module}.{name}'>");
        }
        _ => match class_of(value) {
            Some((module, name)) => {
                let _ = write!(out, "<{module}.{name} object>");
            }
            None => out.push_str("<object>"),
        },
    }
}

fn write_items(items: &[Value], open: &str, close: &str, out: &mut String) {
    out.push_str(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_repr(item, out);
    }
    out.push_str(close);
}

/// The quote Python's repr chooses: `'`, unless the text has `'` and no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double {
        '"'
    } else {
        '\''
    }
}

fn str_repr(s: &str, out: &mut String) {
    let quote = quote_for(s.contains('\''), s.contains('"'));
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..'\x7f').contains(&c) || (!c.is_ascii() && printable(c)) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one non-ASCII character: not a control, format,
/// surrogate, private-use, unassigned or separator character other than space. Rust's
/// `escape_debug` escapes exactly those general categories (after the first character
/// of a string, grapheme extenders stay as they are, as in Python), so its verdict is
/// Python's, up to the two runtimes' Unicode versions.
fn printable(c: char) -> bool {
    let mut probe = String::from("a");
    probe.push(c);
    !probe.escape_debug().to_string().starts_with("a\\")
}

fn bytes_repr(b: &[u8], out: &mut String) {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    out.push('b');
    out.push(quote);
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            byte if byte == quote as u8 => {
                out.push('\\');
                out.push(quote);
            }
            b' '..=b'~' => out.push(byte as char),
            byte => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote);
}

/// Python's `repr(float)`: the shortest digits that read back as the same float, in
/// positional form for exponents -5 < e < 16 (`1e+16`, `1.5e-07`, `0.0001`, `100.0`).
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` gives the same shortest round-trip digits as Python's repr.
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let point = exponent + 1; // digits are 0.d1d2… × 10**point
    let body = if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    } else if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    #[test]
    fn floats_as_python() {
        let cases = [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.0, "1.0"),
            (123.456, "123.456"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-2.5, "-2.5"),
        ];
        for (f, text) in cases {
            assert_eq!(float_repr(f), text, "{f:?}");
        }
    }

    #[test]
    fn strings_as_python() {
        assert_eq!(repr(&s("a'b")), r#""a'b""#);
        assert_eq!(repr(&s("a\"b")), r#"'a"b'"#);
        assert_eq!(repr(&s("a'\"b")), r#"'a\'"b'"#);
        let text =
            "\n\t\r\\\x00\x7f\u{80}\u{a0}\u{ad}\u{301}é\u{2028}\u{e000}\u{1F600}\u{feff}\u{e0001}";
        let python = r"'\n\t\r\\\x00\x7f\x80\xa0\xad".to_string()
            + "\u{301}é"
            + r"\u2028\ue000"
            + "\u{1F600}"
            + r"\ufeff\U000e0001'";
        assert_eq!(repr(&s(text)), python);
        assert_eq!(
            repr(&Value::Bytes(b"a'b\x00\xff\"".to_vec())),
            r#"b'a\'b\x00\xff"'"#
        );
        assert_eq!(repr(&Value::Bytes(b"it's".to_vec())), r#"b"it's""#);
        assert_eq!(repr(&Value::ByteArray(b"x".to_vec())), "bytearray(b'x')");
    }

    #[test]
    fn containers_and_objects() {
        let one = Value::Int(1);
        assert_eq!(repr(&Value::Tuple(vec![one.clone()])), "(1,)");
        assert_eq!(repr(&Value::Tuple(vec![])), "()");
        assert_eq!(repr(&Value::Set(vec![])), "set()");
        assert_eq!(repr(&Value::FrozenSet(vec![])), "frozenset()");
        assert_eq!(repr(&Value::FrozenSet(vec![one.clone()])), "frozenset({1})");
        assert_eq!(
            repr(&Value::Set(vec![one.clone(), Value::Int(2)])),
            "{1, 2}"
        );
        let nested = Value::List(vec![one.clone(), Value::Tuple(vec![Value::Int(2)])]);
        assert_eq!(
            repr(&Value::Dict(vec![(s("a"), nested)])),
            "{'a': [1, (2,)]}"
        );
        let flags = Value::List(vec![Value::None, Value::Bool(true), Value::Bool(false)]);
        assert_eq!(repr(&flags), "[None, True, False]");
        assert_eq!(
            repr(&Int::from_i128(-(1 << 70)).into_value()),
            "-1180591620717411303424"
        );
        let slice = Value::Global {
            module: "builtins".into(),
            name: "slice".into(),
        };
        assert_eq!(repr(&slice), "<class 'builtins.slice'>");
        let call = Value::Reduce(Box::new(slice), Box::new(Value::Tuple(vec![])));
        assert_eq!(repr(&call), "<builtins.slice object>");
    }
}
