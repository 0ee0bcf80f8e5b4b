//! Python's manager protocol as values: requests, replies, `Token`s, addresses and
//! exceptions, to and from [`Value`]s. No sockets: the server and the proxies move the
//! bytes.
//!
//! A request is `(ident, method, args, kwds)`: `ident` is `None` for the server's own
//! functions (`create`, `incref`, …) and an object's id otherwise. A reply is
//! `(kind, result)` with kind `#RETURN`, `#ERROR` (a Python exception object),
//! `#TRACEBACK` (a text), `#PROXY` (`(exposed, Token)`) or `#UNSERIALIZABLE` (a text).

use super::pickle::Value;
use crate::error::ErrorKind;

/// The server's own functions, which a request with `ident` `None` may name.
pub const PUBLIC: &[&str] = &[
    "shutdown",
    "create",
    "accept_connection",
    "get_methods",
    "debug_info",
    "number_of_objects",
    "dummy",
    "incref",
    "decref",
    NAMED,
];

/// This library's one addition to the server's functions: `(typeid, name, *args)` gives
/// the object of that name, made on first use. A Python server does not know it.
pub const NAMED: &str = "pc_named";

/// A request, as decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub ident: Option<String>,
    pub method: String,
    pub args: Vec<Value>,
    pub kwds: Vec<(String, Value)>,
}

impl Request {
    pub fn to_value(&self) -> Value {
        Value::Tuple(vec![
            self.ident.clone().map_or(Value::None, Value::Str),
            Value::Str(self.method.clone()),
            Value::Tuple(self.args.clone()),
            Value::Dict(
                self.kwds
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                    .collect(),
            ),
        ])
    }

    /// Reads a decoded request; the error says what is wrong with it.
    pub fn from_value(value: Value) -> Result<Request, String> {
        let Value::Tuple(parts) = value else {
            return Err("a request is a 4-tuple (ident, method, args, kwds)".into());
        };
        let Ok::<[Value; 4], _>([ident, method, args, kwds]) = parts.try_into() else {
            return Err("a request is a 4-tuple (ident, method, args, kwds)".into());
        };
        let ident = match ident {
            Value::None => None,
            Value::Str(s) => Some(s),
            _ => return Err("a request's ident is a str or None".into()),
        };
        let Value::Str(method) = method else {
            return Err("a request's method name is a str".into());
        };
        let args = match args {
            Value::Tuple(a) | Value::List(a) => a,
            _ => return Err("a request's args are a tuple".into()),
        };
        let Value::Dict(pairs) = kwds else {
            return Err("a request's kwds are a dict".into());
        };
        let kwds = pairs
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                _ => Err("keyword argument names are str".to_string()),
            })
            .collect::<Result<_, _>>()?;
        Ok(Request {
            ident,
            method,
            args,
            kwds,
        })
    }
}

/// A server's `Token`: which object, of which typeid, at which server.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub typeid: String,
    /// Python's form of the address: `(host, port)` or a unix path.
    pub address: Value,
    pub id: String,
}

impl Token {
    /// `Token.__reduce_ex__`'s form: `NEWOBJ(Token, ())` then `BUILD((typeid, address, id))`.
    pub fn to_value(&self) -> Value {
        Value::Build(
            Box::new(Value::NewObj(
                Box::new(global("multiprocessing.managers", "Token")),
                Box::new(Value::Tuple(Vec::new())),
            )),
            Box::new(Value::Tuple(vec![
                Value::Str(self.typeid.clone()),
                self.address.clone(),
                Value::Str(self.id.clone()),
            ])),
        )
    }

    pub fn from_value(value: &Value) -> Option<Token> {
        let Value::Build(object, state) = value else {
            return None;
        };
        let (Value::NewObj(class, _) | Value::Reduce(class, _)) = object.as_ref() else {
            return None;
        };
        if !is_global(class, "multiprocessing.managers", "Token") {
            return None;
        }
        match state.as_ref() {
            Value::Tuple(s) => match s.as_slice() {
                [Value::Str(typeid), address, Value::Str(id)] => Some(Token {
                    typeid: typeid.clone(),
                    address: address.clone(),
                    id: id.clone(),
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A reply, as sent or decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Return(Value),
    /// A method raised this exception.
    Error(PyException),
    /// The server failed otherwise: Python's traceback text, or ours.
    Traceback(String),
    Proxy {
        exposed: Vec<String>,
        token: Token,
    },
    Unserializable(String),
}

impl Reply {
    pub fn into_value(self) -> Value {
        let (kind, result) = match self {
            Reply::Return(v) => ("#RETURN", v),
            Reply::Error(e) => ("#ERROR", e.to_value()),
            Reply::Traceback(t) => ("#TRACEBACK", Value::Str(t)),
            Reply::Proxy { exposed, token } => (
                "#PROXY",
                Value::Tuple(vec![
                    Value::Tuple(exposed.into_iter().map(Value::Str).collect()),
                    token.to_value(),
                ]),
            ),
            Reply::Unserializable(t) => ("#UNSERIALIZABLE", Value::Str(t)),
        };
        Value::Tuple(vec![Value::Str(kind.into()), result])
    }

    pub fn from_value(value: Value) -> Result<Reply, String> {
        let bad = || "a reply is a 2-tuple (kind, result)".to_string();
        let Value::Tuple(parts) = value else {
            return Err(bad());
        };
        let Ok::<[Value; 2], _>([Value::Str(kind), result]) = parts.try_into() else {
            return Err(bad());
        };
        let text = |result: Value| match result {
            Value::Str(s) => Ok(s),
            other => Err(format!("{kind} carries a str, not {other:?}")),
        };
        Ok(match kind.as_str() {
            "#RETURN" => Reply::Return(result),
            "#ERROR" => Reply::Error(
                PyException::from_value(&result)
                    .ok_or_else(|| format!("#ERROR carries no exception: {result:?}"))?,
            ),
            "#TRACEBACK" => Reply::Traceback(text(result)?),
            "#UNSERIALIZABLE" => Reply::Unserializable(text(result)?),
            "#PROXY" => {
                let proxy = match result {
                    Value::Tuple(p) => <[Value; 2]>::try_from(p).ok(),
                    _ => None,
                };
                let Some([Value::Tuple(exposed), token]) = proxy else {
                    return Err("#PROXY carries (exposed, Token)".into());
                };
                Reply::Proxy {
                    exposed: exposed
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Str(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                    token: Token::from_value(&token).ok_or("#PROXY carries no Token")?,
                }
            }
            other => return Err(format!("unknown reply kind {other:?}")),
        })
    }
}

/// A Python exception as `#ERROR` carries it: `module.name(*args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PyException {
    pub module: String,
    pub name: String,
    pub args: Vec<Value>,
}

impl PyException {
    pub fn new(module: &str, name: &str, args: Vec<Value>) -> PyException {
        PyException {
            module: module.into(),
            name: name.into(),
            args,
        }
    }

    /// `builtins.<name>(message)`, e.g. `KeyError`, `IndexError`, `ValueError`.
    pub fn builtin(name: &str, message: impl Into<String>) -> PyException {
        PyException::new("builtins", name, vec![Value::Str(message.into())])
    }

    /// The pickled form: `REDUCE(GLOBAL module name, args)`.
    pub fn to_value(&self) -> Value {
        Value::Reduce(
            Box::new(global(&self.module, &self.name)),
            Box::new(Value::Tuple(self.args.clone())),
        )
    }

    /// Reads an exception as Python pickles it (`REDUCE`, maybe followed by a `BUILD` of
    /// its attributes).
    pub fn from_value(value: &Value) -> Option<PyException> {
        match value {
            Value::Build(object, _) => PyException::from_value(object),
            Value::Reduce(class, args) => match (class.as_ref(), args.as_ref()) {
                (Value::Global { module, name }, Value::Tuple(args)) => Some(PyException {
                    module: module.clone(),
                    name: name.clone(),
                    args: args.clone(),
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// The status a C caller gets for this exception.
    pub fn kind(&self) -> ErrorKind {
        match (self.module.as_str(), self.name.as_str()) {
            (_, "KeyError" | "AttributeError") => ErrorKind::Key,
            (_, "IndexError") => ErrorKind::Index,
            ("queue" | "_queue", "Empty") => ErrorKind::Empty,
            ("queue" | "_queue", "Full") => ErrorKind::Full,
            (_, "StopIteration") => ErrorKind::Stop,
            ("threading", "BrokenBarrierError") => ErrorKind::Broken,
            ("builtins", "TypeError") => ErrorKind::Type,
            ("builtins", "ValueError") => ErrorKind::Value,
            ("builtins", "TimeoutError") => ErrorKind::Timeout,
            ("builtins", "RuntimeError") if self.is_unowned_release() => ErrorKind::NotOwner,
            _ => ErrorKind::Remote,
        }
    }

    /// A lock released by a caller that does not hold it (Python's two texts).
    fn is_unowned_release(&self) -> bool {
        matches!(self.args.first(), Some(Value::Str(m))
            if m == "release unlocked lock" || m.starts_with("cannot release un-acquired lock")
            || m.starts_with("cannot wait on un-acquired lock")
            || m.starts_with("cannot notify on un-acquired lock"))
    }

    /// `Name: message`, as Python prints the exception's last line.
    pub fn describe(&self) -> String {
        let args: Vec<String> = self.args.iter().map(describe_arg).collect();
        if args.is_empty() {
            format!("{}.{}", self.module, self.name).replace("builtins.", "")
        } else {
            format!(
                "{}: {}",
                format!("{}.{}", self.module, self.name).replace("builtins.", ""),
                args.join(", ")
            )
        }
    }
}

fn describe_arg(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::None => "None".into(),
        other => format!("{other:?}"),
    }
}

/// A class or function reference.
pub fn global(module: &str, name: &str) -> Value {
    Value::Global {
        module: module.into(),
        name: name.into(),
    }
}

fn is_global(value: &Value, want_module: &str, want_name: &str) -> bool {
    matches!(value, Value::Global { module, name } if module == want_module && name == want_name)
}

/// An address string of the C API (`tcp://HOST:PORT`, `unix:PATH`, `unix:@NAME`) as
/// Python writes addresses: a `(host, port)` tuple or a path (abstract: NUL first).
pub fn address_to_value(address: &str) -> Value {
    if let Some(rest) = address.strip_prefix("tcp://") {
        if let Some((host, port)) = rest.rsplit_once(':') {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return Value::Tuple(vec![
                Value::Str(host.into()),
                Value::Int(port.parse().unwrap_or(0)),
            ]);
        }
    }
    if let Some(name) = address.strip_prefix("unix:@") {
        return Value::Str(format!("\0{name}"));
    }
    Value::Str(address.strip_prefix("unix:").unwrap_or(address).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_say_why() {
        let r = Request {
            ident: Some("ab".into()),
            method: "get".into(),
            args: vec![Value::Int(1)],
            kwds: vec![("timeout".into(), Value::Float(0.5))],
        };
        assert_eq!(Request::from_value(r.to_value()).unwrap(), r);
        assert!(Request::from_value(Value::Int(1)).is_err());
        let no_name = Value::Tuple(vec![
            Value::None,
            Value::Int(3),
            Value::Tuple(vec![]),
            Value::Dict(vec![]),
        ]);
        assert!(Request::from_value(no_name).unwrap_err().contains("method"));
    }

    #[test]
    fn replies_round_trip() {
        let token = Token {
            typeid: "Iterator".into(),
            address: address_to_value("tcp://127.0.0.1:5000"),
            id: "1a".into(),
        };
        for reply in [
            Reply::Return(Value::None),
            Reply::Error(PyException::builtin("KeyError", "x")),
            Reply::Traceback("boom".into()),
            Reply::Unserializable("no".into()),
            Reply::Proxy {
                exposed: vec!["__next__".into()],
                token: token.clone(),
            },
        ] {
            assert_eq!(
                Reply::from_value(reply.clone().into_value()).unwrap(),
                reply
            );
        }
        assert_eq!(Token::from_value(&token.to_value()).unwrap(), token);
    }

    #[test]
    fn exceptions_map_to_statuses() {
        let cases = [
            (PyException::builtin("KeyError", "k"), ErrorKind::Key),
            (PyException::new("queue", "Empty", vec![]), ErrorKind::Empty),
            (
                PyException::new("_queue", "Empty", vec![]),
                ErrorKind::Empty,
            ),
            (
                PyException::builtin("RuntimeError", "release unlocked lock"),
                ErrorKind::NotOwner,
            ),
            (
                PyException::builtin("RuntimeError", "other"),
                ErrorKind::Remote,
            ),
            (
                PyException::new("threading", "BrokenBarrierError", vec![]),
                ErrorKind::Broken,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
        }
        assert_eq!(
            PyException::builtin("KeyError", "k").describe(),
            "KeyError: k"
        );
        assert_eq!(
            PyException::new("queue", "Empty", vec![]).describe(),
            "queue.Empty"
        );
    }

    #[test]
    fn addresses_are_written_as_python_writes_them() {
        let tcp = Value::Tuple(vec![Value::Str("127.0.0.1".into()), Value::Int(80)]);
        assert_eq!(address_to_value("tcp://127.0.0.1:80"), tcp);
        assert_eq!(address_to_value("unix:/tmp/s"), Value::Str("/tmp/s".into()));
        assert_eq!(address_to_value("unix:@n"), Value::Str("\0n".into()));
    }
}
