//! Python reads what the writer writes: every kind of value, unpickled by python3.

use super::super::*;
use super::{big, global, hex, int, list, reduce, s, token, tuple};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn python_reads_what_we_write() {
    let range = |n: i64, f: &dyn Fn(i64) -> String| (0..n).map(f).collect::<Vec<_>>();
    let cases: Vec<(Value, String)> = vec![
        (Value::None, "None".into()),
        (Value::Bool(true), "True".into()),
        (Value::Bool(false), "False".into()),
        (int(0), "0".into()),
        (int(255), "255".into()),
        (int(256), "256".into()),
        (int(65535), "65535".into()),
        (int(65536), "65536".into()),
        (int(-1), "-1".into()),
        (int(-256), "-256".into()),
        (int(i32::MIN.into()), "-2147483648".into()),
        (int(i32::MAX.into()), "2147483647".into()),
        (int(1 << 31), "2147483648".into()),
        (int(-(1 << 31) - 1), "-2147483649".into()),
        (int(i64::MAX), "9223372036854775807".into()),
        (int(i64::MIN), "-9223372036854775808".into()),
        (big(1 << 64), "18446744073709551616".into()),
        (big(-(1 << 64)), "-18446744073709551616".into()),
        (big(-(1 << 70)), "-1180591620717411303424".into()),
        (Value::Float(1.5), "1.5".into()),
        (Value::Float(-0.0), "-0.0".into()),
        (Value::Float(f64::INFINITY), "inf".into()),
        (Value::Float(f64::NAN), "nan".into()),
        (Value::Float(1e100), "1e+100".into()),
        (s(""), "''".into()),
        (s("é€😀"), "'é€😀'".into()),
        (s(&"x".repeat(300)), format!("'{}'", "x".repeat(300))),
        (Value::Bytes(b"ab\x00".to_vec()), r"b'ab\x00'".into()),
        (
            Value::Bytes(vec![b'y'; 300]),
            format!("b'{}'", "y".repeat(300)),
        ),
        (Value::ByteArray(b"ab".to_vec()), "bytearray(b'ab')".into()),
        (Value::ByteArray(vec![]), "bytearray(b'')".into()),
        (tuple([]), "()".into()),
        (tuple([int(1)]), "(1,)".into()),
        (tuple([int(1), int(2)]), "(1, 2)".into()),
        (tuple([int(1), int(2), int(3)]), "(1, 2, 3)".into()),
        (
            tuple([int(1), int(2), int(3), int(4)]),
            "(1, 2, 3, 4)".into(),
        ),
        (list([]), "[]".into()),
        (
            Value::List((0..2500).map(int).collect()),
            format!("[{}]", range(2500, &|i| i.to_string()).join(", ")),
        ),
        (
            Value::Dict((0..1500).map(|i| (int(i), int(-i))).collect()),
            format!(
                "{{{}}}",
                range(1500, &|i| format!("{i}: {}", -i)).join(", ")
            ),
        ),
        (
            Value::Dict(vec![(s("b"), int(1)), (s("a"), int(2))]),
            "{'b': 1, 'a': 2}".into(),
        ),
        (Value::Set(vec![]), "set()".into()),
        (Value::Set(vec![int(1), int(2), int(3)]), "{1, 2, 3}".into()),
        (Value::FrozenSet(vec![]), "frozenset()".into()),
        (
            Value::FrozenSet(vec![int(1), int(2)]),
            "frozenset({1, 2})".into(),
        ),
        (global("builtins", "len"), "<built-in function len>".into()),
        (
            reduce(
                global("builtins", "slice"),
                tuple([int(1), int(2), Value::None]),
            ),
            "slice(1, 2, None)".into(),
        ),
        (
            reduce(global("builtins", "KeyError"), tuple([s("x")])),
            "KeyError('x')".into(),
        ),
        (
            reduce(
                global("datetime", "date"),
                tuple([Value::Bytes(vec![7, 0xe4, 1, 2])]),
            ),
            "datetime.date(2020, 1, 2)".into(),
        ),
        (
            Value::NewObjEx(
                Box::new(global("builtins", "int")),
                Box::new(tuple([s("10")])),
                Box::new(Value::Dict(vec![(s("base"), int(2))])),
            ),
            "2".into(),
        ),
        (
            token(),
            "Token(typeid='dict', address=('127.0.0.1', 5000), id='ab')".into(),
        ),
        (
            list([
                Value::Dict(vec![(
                    s("k"),
                    tuple([
                        int(1),
                        list([Value::Bytes(b"x".to_vec()), Value::Set(vec![int(2)])]),
                    ]),
                )]),
                s("k"),
            ]),
            "[{'k': (1, [b'x', {2}])}, 'k']".into(),
        ),
    ];
    let input: String = cases.iter().map(|(v, _)| hex(&dumps(v)) + "\n").collect();
    let script = "import pickle, sys\n\
                  for line in sys.stdin.read().split():\n    \
                  print(repr(pickle.loads(bytes.fromhex(line))))\n";
    let spawned = Command::new("python3")
        .args(["-c", script])
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("skipped: cannot run python3: {e}");
            return;
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    // Bounded: a python3 that hangs is killed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        match child.try_wait().unwrap() {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("python3 did not finish in time");
            }
        }
    };
    writer.join().unwrap().unwrap();
    let text = reader.join().unwrap().unwrap();
    assert!(status.success(), "python3 failed: {status}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{text}");
    for ((value, want), got) in cases.iter().zip(lines) {
        assert_eq!(got, want, "for {value:?}");
    }
}
