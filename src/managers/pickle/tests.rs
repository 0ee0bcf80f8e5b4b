//! The reader and the writer against what CPython writes and reads.

mod python_made;
mod python_reads;

use super::opcodes::op;
use super::read::{MAX_DECIMAL_DIGITS, MAX_DEPTH};
use super::*;
use crate::error::ErrorKind;
use python_made::{ORDERED_DICT, PYTHON, TEXT_PROTOCOLS};
use std::time::{Duration, Instant};

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn int(n: i64) -> Value {
    Value::Int(n)
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

fn tuple<const N: usize>(items: [Value; N]) -> Value {
    Value::Tuple(items.into())
}

fn list<const N: usize>(items: [Value; N]) -> Value {
    Value::List(items.into())
}

fn global(module: &str, name: &str) -> Value {
    Value::Global {
        module: module.into(),
        name: name.into(),
    }
}

fn reduce(func: Value, args: Value) -> Value {
    Value::Reduce(Box::new(func), Box::new(args))
}

/// An int beyond `i64` in LONG1's minimal form.
fn big(n: i128) -> Value {
    let bytes = n.to_le_bytes();
    Value::BigInt(bytes[..minimal_len(&bytes)].to_vec())
}

fn token() -> Value {
    let cls = global("multiprocessing.managers", "Token");
    let address = tuple([s("127.0.0.1"), int(5000)]);
    Value::Build(
        Box::new(Value::NewObj(Box::new(cls), Box::new(tuple([])))),
        Box::new(tuple([s("dict"), address, s("ab")])),
    )
}

/// What each Python expression of [`PYTHON`] decodes to.
fn expected(expr: &str) -> Value {
    let dict = |pairs: Vec<(Value, Value)>| Value::Dict(pairs);
    match expr {
        "None" => Value::None,
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "0" => int(0),
        "255" => int(255),
        "256" => int(256),
        "65535" => int(65535),
        "65536" => int(65536),
        "-1" => int(-1),
        "-2**31" => int(-(1 << 31)),
        "2**31" => int(1 << 31),
        "2**63-1" => int(i64::MAX),
        "2**63" => big(1 << 63),
        "-2**63" => int(i64::MIN),
        "-2**63-1" => big(-(1 << 63) - 1),
        "2**64" => big(1 << 64),
        "10**100" => Value::BigInt(vec![
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 143, 46, 168, 8, 67, 178, 170, 124, 26, 33,
            142, 64, 206, 138, 243, 11, 206, 196, 132, 39, 11, 235, 124, 195, 148, 37, 173, 73, 18,
        ]),
        "0.0" => Value::Float(0.0),
        "-0.0" => Value::Float(-0.0),
        "1.5" => Value::Float(1.5),
        "float('inf')" => Value::Float(f64::INFINITY),
        "float('nan')" => Value::Float(f64::NAN),
        "''" => s(""),
        "'hello'" => s("hello"),
        "'é€😀'" => s("é€😀"),
        "'x'*300" => s(&"x".repeat(300)),
        "b''" => Value::Bytes(vec![]),
        "b'ab'" => Value::Bytes(b"ab".to_vec()),
        "bytes(i % 256 for i in range(300))" => Value::Bytes((0..300).map(|i| i as u8).collect()),
        "bytearray()" => Value::ByteArray(vec![]),
        "bytearray(b'ab')" => Value::ByteArray(b"ab".to_vec()),
        "()" => tuple([]),
        "(1,)" => tuple([int(1)]),
        "(1, 2)" => tuple([int(1), int(2)]),
        "(1, 2, 3)" => tuple([int(1), int(2), int(3)]),
        "(1, 2, 3, 4)" => tuple([int(1), int(2), int(3), int(4)]),
        "[]" => list([]),
        "[1]" => list([int(1)]),
        "[1, 2]" => list([int(1), int(2)]),
        "[None] * 2000" => Value::List(vec![Value::None; 2000]),
        "{}" => dict(vec![]),
        "{'b': 1, 'a': 2}" => dict(vec![(s("b"), int(1)), (s("a"), int(2))]),
        "set()" => Value::Set(vec![]),
        "{1, 2, 3}" => Value::Set(vec![int(1), int(2), int(3)]),
        "frozenset()" => Value::FrozenSet(vec![]),
        "frozenset({1, 2})" => Value::FrozenSet(vec![int(1), int(2)]),
        "{'a': [1, (2, 3.5)], 'b': {'c': None, 'd': {b'x'}}}" => dict(vec![
            (s("a"), list([int(1), tuple([int(2), Value::Float(3.5)])])),
            (
                s("b"),
                dict(vec![
                    (s("c"), Value::None),
                    (s("d"), Value::Set(vec![Value::Bytes(b"x".to_vec())])),
                ]),
            ),
        ]),
        "[a, a]" => list([list([int(1)]), list([int(1)])]),
        "[{'key': 1}, {'key': 2}]" => list([
            dict(vec![(s("key"), int(1))]),
            dict(vec![(s("key"), int(2))]),
        ]),
        "slice(1, 2, None)" => reduce(
            global("builtins", "slice"),
            tuple([int(1), int(2), Value::None]),
        ),
        "range(3)" => reduce(global("builtins", "range"), tuple([int(0), int(3), int(1)])),
        "complex(1, 2)" => reduce(
            global("builtins", "complex"),
            tuple([Value::Float(1.0), Value::Float(2.0)]),
        ),
        "datetime.date(2020, 1, 2)" => reduce(
            global("datetime", "date"),
            tuple([Value::Bytes(vec![7, 0xe4, 1, 2])]),
        ),
        "KeyError('x')" => reduce(global("builtins", "KeyError"), tuple([s("x")])),
        "queue.Empty()" => reduce(global("_queue", "Empty"), tuple([])),
        "tok" => token(),
        "[tok, tok]" => list([token(), token()]),
        "(None, 'dummy', (), {})" => tuple([Value::None, s("dummy"), tuple([]), dict(vec![])]),
        other => panic!("no expected value for {other}"),
    }
}

/// Equality that also tells floats apart by sign and NaN.
#[track_caller]
fn assert_same(got: &Value, want: &Value, context: &str) {
    assert_eq!(format!("{got:?}"), format!("{want:?}"), "{context}");
}

#[track_caller]
fn assert_refused(bytes: &[u8], needle: &str) {
    match loads(bytes) {
        Ok(value) => panic!("{} decoded to {value:?}", hex(bytes)),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Protocol);
            assert!(e.message().starts_with("pickle: "), "{}", e.message());
            assert!(
                e.message().contains(needle),
                "{:?} lacks {needle:?}",
                e.message()
            );
        }
    }
}

/// Every pickle Python made, with what it decodes to.
fn python_pickles() -> impl Iterator<Item = (&'static str, Vec<u8>)> {
    PYTHON
        .iter()
        .flat_map(|(expr, pickles)| pickles.iter().map(move |p| (*expr, unhex(p))))
        .chain(TEXT_PROTOCOLS.iter().map(|p| ("protocol 0/1", unhex(p))))
}

fn text_protocols_value() -> Value {
    list([
        int(1),
        int(1 << 40),
        big(-(1 << 70)),
        Value::Float(1.5),
        s("a\\b\nc€😀"),
        Value::Bool(true),
        Value::Bool(false),
        Value::None,
        Value::Dict(vec![(s("a"), tuple([int(1)]))]),
        list([int(2), int(2)]),
        Value::Bytes(b"xy".to_vec()),
    ])
}

#[test]
fn decodes_what_python_writes() {
    for (expr, pickle) in python_pickles() {
        let want = match expr {
            "protocol 0/1" => text_protocols_value(),
            _ => expected(expr),
        };
        let got = loads(&pickle).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_same(&got, &want, &format!("{expr}: {}", hex(&pickle)));
    }
}

#[test]
fn round_trips() {
    let mut values: Vec<Value> = PYTHON.iter().map(|(expr, _)| expected(expr)).collect();
    values.extend([
        text_protocols_value(),
        big(-(1 << 64)),
        Value::BigInt(unhex(&"01".repeat(300))),
        Value::Str("y".repeat(70_000)),
        Value::Bytes(vec![7; 70_000]),
        Value::ByteArray(vec![9; 300]),
        Value::List((0..2500).map(int).collect()),
        Value::Dict((0..1500).map(|i| (int(i), s("v"))).collect()),
        Value::Set((0..2500).map(int).collect()),
        Value::FrozenSet((0..1500).map(int).collect()),
        Value::NewObjEx(
            Box::new(global("builtins", "int")),
            Box::new(tuple([s("10")])),
            Box::new(Value::Dict(vec![(s("base"), int(2))])),
        ),
    ]);
    for value in values {
        let pickle = dumps(&value);
        let got = loads(&pickle).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_same(&got, &value, "round trip");
    }
}

#[test]
fn writes_protocol_4_as_python_does() {
    // Python's own protocol-4 bytes for each value, less its FRAME and MEMOIZE opcodes.
    let cases: &[(Value, &str)] = &[
        (Value::None, "80044e2e"),
        (int(255), "80044bff2e"),
        (int(256), "80044d00012e"),
        (int(65536), "80044a000001002e"),
        (int(-1), "80044affffffff2e"),
        (int(1 << 31), "80048a0500000080002e"),
        (int(i64::MIN), "80048a0800000000000000802e"),
        (big(1 << 64), "80048a090000000000000000012e"),
        (Value::Float(1.5), "8004473ff80000000000002e"),
        (s("é"), "80048c02c3a92e"),
        (Value::Bytes(b"ab".to_vec()), "8004430261622e"),
        (
            Value::ByteArray(b"ab".to_vec()),
            "80048c086275696c74696e738c09627974656172726179934302616285522e",
        ),
        (tuple([int(1), int(2)]), "80044b014b02862e"),
        (list([int(1)]), "80045d4b01612e"),
        (list([int(1), int(2)]), "80045d284b014b02652e"),
        (Value::Dict(vec![(s("a"), int(1))]), "80047d8c01614b01732e"),
        (Value::Set(vec![int(1)]), "80048f284b01902e"),
        (Value::FrozenSet(vec![]), "800428912e"),
        (
            token(),
            concat!(
                "80048c186d756c746970726f63657373696e672e6d616e61676572738c05546f6b656e93",
                "29818c04646963748c093132372e302e302e314d8813868c02616287622e",
            ),
        ),
    ];
    for (value, want) in cases {
        assert_eq!(hex(&dumps(value)), *want, "{value:?}");
    }
    // Batches of 1000, as Python: 2001 items are two APPENDS and one APPEND.
    let pickle = dumps(&Value::List(vec![Value::None; 2001]));
    let mut want = vec![0x80, 4, b']'];
    for _ in 0..2 {
        want.push(b'(');
        want.extend([b'N'; 1000]);
        want.push(b'e');
    }
    want.extend(b"Na.");
    assert_eq!(pickle, want);
    // dump_into appends.
    let mut out = b"head".to_vec();
    dump_into(&Value::None, &mut out);
    assert_eq!(out, b"head\x80\x04N.");
}

#[test]
fn memo_references_see_finished_objects() {
    // The inner list is memoized empty, referenced, and only then filled.
    let pickle = unhex("80025d7100285d710168016568014b0161302e");
    let want = list([list([int(1)]), list([int(1)])]);
    assert_same(&loads(&pickle).unwrap(), &want, "memo");
    // A set made from a list copies it: appending to the list later leaves it alone.
    let pickle = b"\x80\x02(c__builtin__\nset\n]q\x00K\x01a\x85Rh\x00K\x02at.";
    let want = tuple([Value::Set(vec![int(1)]), list([int(1), int(2)])]);
    assert_same(&loads(pickle).unwrap(), &want, "copy");
    // BUILD changes the object in place, so a memo reference sees the built object.
    let pickle = unhex(PYTHON.iter().find(|(e, _)| *e == "[tok, tok]").unwrap().1[2]);
    assert_same(&loads(&pickle).unwrap(), &list([token(), token()]), "build");
}

#[test]
fn build_on_a_tuple_is_refused() {
    // Python's load fails on it (a tuple takes no state); kept, the tuple would become a
    // Build node that the REDUCE which already took it as its argument could not have.
    // `copyreg._reconstructor` stands for any callable (REDUCE of an unknown global).
    let pickle = b"\x80\x02ccopyreg\n_reconstructor\n)\x85q\x00Rh\x00]bt.";
    assert_refused(pickle, "BUILD on a tuple");
}

#[test]
fn ordered_dict_is_refused() {
    // OrderedDict pickles as REDUCE then SETITEM on the result: item assignment to an
    // object that is not a dict, which no Value can express.
    for pickle in ORDERED_DICT {
        assert_refused(&unhex(pickle), "SETITEM at offset");
    }
}

#[test]
fn every_strict_prefix_fails() {
    for (expr, pickle) in python_pickles() {
        for n in 0..pickle.len() {
            assert!(loads(&pickle[..n]).is_err(), "{expr}: prefix of {n} bytes");
        }
    }
}

#[test]
fn changed_bytes_never_panic() {
    let samples = [
        "tok",
        "[a, a]",
        "{'a': [1, (2, 3.5)], 'b': {'c': None, 'd': {b'x'}}}",
    ];
    let mut pickles: Vec<Vec<u8>> = python_pickles()
        .filter(|(expr, _)| samples.contains(expr))
        .map(|(_, p)| p)
        .collect();
    pickles.extend(TEXT_PROTOCOLS.iter().map(|p| unhex(p)));
    for pickle in pickles {
        for i in 0..pickle.len() {
            let mut changed = pickle.clone();
            for byte in 0..=255 {
                changed[i] = byte;
                let _ = loads(&changed);
            }
        }
    }
}

#[test]
fn huge_announced_lengths_fail_fast() {
    let huge = (1u64 << 60).to_le_bytes();
    for code in [op::BINUNICODE8, op::BINBYTES8, op::BYTEARRAY8, op::FRAME] {
        let mut pickle = vec![0x80, 5, code];
        pickle.extend(huge);
        pickle.extend(b"abc.");
        let started = Instant::now();
        assert_refused(&pickle, "at offset 2");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert_refused(b"\x80\x04\x8b\xff\xff\xff\x7fabc.", "truncated at offset 7");
    assert_refused(b"\x80\x04\x8b\xff\xff\xff\xffabc.", "negative length");
    assert_refused(
        b"\x80\x04X\xff\xff\xff\xffabc.",
        "BINUNICODE at offset 2 needs",
    );
}

#[test]
fn deep_nesting_fails_without_overflowing_the_stack() {
    let nested = |depth: usize| {
        let mut pickle = vec![0x80, 4];
        pickle.extend(std::iter::repeat_n(b']', depth));
        pickle.extend(std::iter::repeat_n(b'a', depth - 1));
        pickle.push(b'.');
        pickle
    };
    assert!(loads(&nested(MAX_DEPTH)).is_ok());
    assert_refused(&nested(MAX_DEPTH + 1), "nesting deeper than 1000");
    assert_refused(&nested(100_000), "nesting deeper than 1000");
    let mut tuples = vec![0x80, 4, b')'];
    tuples.extend([op::TUPLE1; 100_000]);
    tuples.push(b'.');
    assert_refused(&tuples, "nesting deeper than 1000");
    let mut marks = vec![0x80, 4];
    marks.extend([b'('; 100_000]);
    marks.extend(b"N.");
    assert_refused(&marks, "MARK left open");
}

#[test]
fn billion_laughs_fail_quickly() {
    // Level 0 is a list of ten Nones; each next level a list of four references to
    // the one before (BINGET, then DUPs): 4**40 nodes if unfolded.
    let mut pickle = vec![0x80, 4, b']', op::MEMOIZE, b'('];
    pickle.extend([b'N'; 10]);
    pickle.extend(b"e0");
    for level in 1..=40u8 {
        pickle.extend([b']', op::MEMOIZE, b'(', b'h', level - 1, b'2', b'2', b'2']);
        pickle.extend(b"e0");
    }
    pickle.extend([b'h', 40, b'.']);
    let started = Instant::now();
    assert_refused(&pickle, "value too large");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Sharing within the budget is fine: one string referenced 1000 times.
    let mut pickle = vec![0x80, 4, b']', b'(', 0x8c, 100];
    pickle.extend([b'z'; 100]);
    pickle.push(op::MEMOIZE);
    for _ in 1..1000 {
        pickle.extend([b'h', 0]);
    }
    pickle.extend(b"e.");
    assert_same(
        &loads(&pickle).unwrap(),
        &Value::List(vec![s(&"z".repeat(100)); 1000]),
        "shared",
    );
}

#[test]
fn recursive_structures_fail() {
    assert_refused(b"\x80\x04]\x94h\x00a.", "recursive structure");
    // An object whose state refers to the object: o.self = o.
    assert_refused(
        b"\x80\x04cbuiltins\nobject\n)\x81\x94}\x8c\x04self\x94h\x00sb.",
        "recursive structure",
    );
}

#[test]
fn unsupported_opcodes_are_named() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"\x80\x02P1\n.",
            "opcode 0x50 (PERSID) at offset 2 is not supported",
        ),
        (
            b"\x80\x02NQ.",
            "opcode 0x51 (BINPERSID) at offset 3 is not supported",
        ),
        (b"\x80\x02\x82\x01.", "(EXT1)"),
        (b"\x80\x02\x83\x01\x00.", "(EXT2)"),
        (b"\x80\x02\x84\x01\x00\x00\x00.", "(EXT4)"),
        (b"\x80\x02(ibuiltins\nobject\n.", "(INST)"),
        (b"\x80\x02(cbuiltins\nobject\no.", "(OBJ)"),
        (b"S'a'\n.", "(STRING)"),
        (b"T\x01\x00\x00\x00a.", "(BINSTRING)"),
        (b"U\x01a.", "(SHORT_BINSTRING)"),
        (b"\x80\x05\x97.", "(NEXT_BUFFER)"),
        (b"\x80\x05N\x98.", "(READONLY_BUFFER)"),
        (b"\x80\x04\xff.", "unknown opcode 0xff at offset 2"),
        (b"\x80\x06N.", "unsupported protocol 6"),
    ];
    for (pickle, needle) in cases {
        assert_refused(pickle, needle);
    }
}

#[test]
fn malformed_pickles_fail() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x80\x04N.N", "1 trailing bytes"),
        (b"\x80\x04NN.", "2 values on the stack"),
        (b"\x80\x04.", "0 values on the stack"),
        (b"\x80\x04(N.", "MARK left open"),
        (b"\x80\x04", "no STOP"),
        (b"\x80\x04)Na.", "APPEND at offset 4: not on a list"),
        (
            b"\x80\x04](NNe(NN\x90.",
            "ADDITEMS at offset 10: not on a set",
        ),
        (b"\x80\x04]NNs.", "SETITEM at offset 5: not on a dict"),
        (b"\x80\x04}(Nu.", "odd number of keys and values"),
        (b"\x80\x04(Na.", "APPEND at offset 4: stack underflow"),
        (
            b"\x80\x04K\x01K\x02\x93.",
            "STACK_GLOBAL at offset 6: module and name",
        ),
        (b"\x80\x04h\x05.", "memo key 5 missing"),
        (b"\x80\x04\x94.", "MEMOIZE at offset 2: stack underflow"),
        (b"\x80\x04\x8c\x03\xed\xa0\x80.", "invalid UTF-8"), // '\ud800' with surrogatepass
        (b"\x80\x04NN\x81.", "NEWOBJ's argument is not a tuple"),
        (b"\x80\x04NN)N\x92.", "keywords are not a dict"),
        (
            b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.",
            "code point >= 256",
        ),
        (b"Vab\\u12\n.", "truncated \\u escape"),
        (b"V\\ud800\n.", "surrogate"),
        (b"I12a\n.", "bad integer text"),
        (b"F1.5.5\n.", "bad float text"),
    ];
    for (pickle, needle) in cases {
        assert_refused(pickle, needle);
    }
    let mut long = b"L".to_vec();
    long.extend([b'9'; MAX_DECIMAL_DIGITS + 1]);
    long.extend(b"L\n.");
    assert_refused(&long, "integer of more than 4300 digits");
}

#[test]
fn text_and_odd_forms_decode() {
    let cases: &[(&[u8], Value)] = &[
        (b"I01\n.", Value::Bool(true)),
        (b"I00\n.", Value::Bool(false)),
        (b"I-7\n.", int(-7)),
        (b"L-9223372036854775809L\n.", big(-(1 << 63) - 1)),
        (b"L0\n.", int(0)),
        (b"Finf\n.", Value::Float(f64::INFINITY)),
        (b"V\\\\u0041\\u0041\xe9\n.", s("\\\\u0041Aé")),
        // Non-minimal LONG1 bytes normalise: 1, and 2**64 with extra sign bytes.
        (b"\x80\x02\x8a\x03\x01\x00\x00.", int(1)),
        (
            b"\x80\x02\x8a\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00.",
            big(1 << 64),
        ),
        (b"\x80\x02\x8a\x00.", int(0)),
        (b"\x80\x02\x8a\x02\xff\xff.", int(-1)),
        // POP with nothing above the innermost MARK drops the mark, as Python's does.
        (b"\x80\x02N(0.", Value::None),
        (b"\x80\x02(NN1N.", Value::None),
        (b"\x80\x02N2\x86.", tuple([Value::None, Value::None])),
        (
            b"(lp0\nI1\nag0\n\x86.",
            tuple([list([int(1)]), list([int(1)])]),
        ),
        (b"\x80\x02c__builtin__\nlist\n]K\x01a\x85R.", list([int(1)])),
        (
            b"\x80\x02c__builtin__\nxrange\nK\x03\x85R.",
            reduce(global("builtins", "range"), tuple([int(3)])),
        ),
        (
            b"\x80\x02ccopy_reg\n_reconstructor\n.",
            global("copyreg", "_reconstructor"),
        ),
        (
            b"\x80\x03c__builtin__\nset\n.",
            global("__builtin__", "set"),
        ),
        (
            b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.",
            int(1),
        ),
    ];
    for (pickle, want) in cases {
        let got = loads(pickle).unwrap_or_else(|e| panic!("{}: {e}", hex(pickle)));
        assert_same(&got, want, &hex(pickle));
    }
}
