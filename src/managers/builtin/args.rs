//! Binding a call's Python arguments (`args`, `kwds`) to a method's parameters, with
//! Python's `TypeError`s, and the conversions methods apply to them (timeouts, flags,
//! indices) with Python's errors: clients pass arguments through verbatim, so a wrong
//! call must fail as it would on a Python server.

use std::time::Duration;

use super::num::Int;
use super::semantics::{truthy, type_name};
use super::Raised;
use crate::managers::pickle::Value;

/// How the Python function behind a method takes its arguments, which decides what it
/// accepts and how its `TypeError` messages read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A method written in Python (`Queue.get`): by position or keyword; argument counts
    /// in messages include `self`, as Python's do.
    Method,
    /// A function written in Python (`Array`): the same, without `self`.
    Function,
    /// A C method with positional-only parameters (`list.pop`).
    Positional,
    /// A C method whose parameters may also come by keyword (`Lock.acquire`).
    Keywords,
    /// A C method with keyword-only parameters (`list.sort`).
    KeywordOnly,
}

/// A method's parameters: `R` required ones, then `O` optional ones (absent: `None`).
pub(crate) struct Signature<const R: usize, const O: usize> {
    name: &'static str,
    style: Style,
    required: [&'static str; R],
    optional: [&'static str; O],
}

/// Bound arguments: the required values and the optional ones that were given.
pub(crate) type Bound<const R: usize, const O: usize> = ([Value; R], [Option<Value>; O]);

impl<const R: usize, const O: usize> Signature<R, O> {
    pub(crate) const fn new(
        name: &'static str,
        style: Style,
        required: [&'static str; R],
        optional: [&'static str; O],
    ) -> Self {
        Signature {
            name,
            style,
            required,
            optional,
        }
    }

    /// Binds `args` and `kwds`, or raises Python's `TypeError` for too many, missing,
    /// unexpected or repeated arguments.
    pub(crate) fn bind(
        &self,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Bound<R, O>, Raised> {
        let (bound, _) = self.bind_into(args, kwds, false)?;
        Ok(bound)
    }

    /// Binds like [`Signature::bind`], collecting unknown keywords as `**kwds` does.
    pub(crate) fn bind_extra(
        &self,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<(Bound<R, O>, Vec<(String, Value)>), Raised> {
        self.bind_into(args, kwds, true)
    }

    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.required.iter().chain(self.optional.iter()).copied()
    }

    fn bind_into(
        &self,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
        extra_ok: bool,
    ) -> Result<(Bound<R, O>, Vec<(String, Value)>), Raised> {
        let given = args.len();
        let max = if self.style == Style::KeywordOnly {
            0
        } else {
            R + O
        };
        if given > max {
            return Err(self.too_many(given));
        }
        if self.style == Style::Positional && !extra_ok && !kwds.is_empty() {
            return Err(type_error(format!(
                "{}() takes no keyword arguments",
                self.name
            )));
        }
        let mut slots: Vec<Option<Value>> = args.into_iter().map(Some).collect();
        slots.resize(R + O, None);
        let mut extra = Vec::new();
        for (name, value) in kwds {
            let position = match self.style {
                Style::Positional => None,
                _ => self.names().position(|n| n == name),
            };
            match position {
                Some(i) if slots[i].is_some() => return Err(self.repeated(&name, i)),
                Some(i) => slots[i] = Some(value),
                None if extra_ok => extra.push((name, value)),
                None => return Err(self.unexpected(&name)),
            }
        }
        let missing: Vec<usize> = (0..R).filter(|&i| slots[i].is_none()).collect();
        if !missing.is_empty() {
            return Err(self.missing(&missing, given));
        }
        let mut slots = slots.into_iter();
        let required = std::array::from_fn(|_| slots.next().flatten().unwrap_or(Value::None));
        let optional = std::array::from_fn(|_| slots.next().flatten());
        Ok(((required, optional), extra))
    }

    fn too_many(&self, given: usize) -> Raised {
        let name = self.name;
        type_error(match self.style {
            Style::Method | Style::Function => {
                let me = usize::from(self.style == Style::Method);
                let (low, high, given) = (R + me, R + O + me, given + me);
                let was = if given == 1 { "was" } else { "were" };
                if O == 0 {
                    format!(
                        "{name}() takes {low} positional argument{} but {given} {was} given",
                        plural(low)
                    )
                } else {
                    format!("{name}() takes from {low} to {high} positional arguments but {given} {was} given")
                }
            }
            Style::Positional => self.count_error(given),
            Style::Keywords => {
                format!(
                    "{name}() takes at most {} argument{} ({given} given)",
                    R + O,
                    plural(R + O)
                )
            }
            Style::KeywordOnly => format!("{name}() takes no positional arguments"),
        })
    }

    fn missing(&self, missing: &[usize], given: usize) -> Raised {
        let name = self.name;
        type_error(match self.style {
            Style::Method | Style::Function => {
                let quoted: Vec<String> = missing
                    .iter()
                    .map(|&i| format!("'{}'", self.required[i]))
                    .collect();
                let list = match quoted.as_slice() {
                    [one] => one.clone(),
                    [first, second] => format!("{first} and {second}"),
                    [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
                    [] => String::new(),
                };
                let count = quoted.len();
                format!(
                    "{name}() missing {count} required positional argument{}: {list}",
                    plural(count)
                )
            }
            Style::Positional => self.count_error(given),
            Style::Keywords | Style::KeywordOnly => {
                let i = missing[0];
                format!(
                    "{name}() missing required argument '{}' (pos {})",
                    self.required[i],
                    i + 1
                )
            }
        })
    }

    /// A positional-only C method's count error (`pop expected at most 2 arguments, got 3`).
    fn count_error(&self, given: usize) -> String {
        let name = self.name;
        match (R, O) {
            (0, 0) => format!("{name}() takes no arguments ({given} given)"),
            (_, 0) => format!("{name} expected {R} argument{}, got {given}", plural(R)),
            _ if given > R => {
                let most = R + O;
                format!(
                    "{name} expected at most {most} argument{}, got {given}",
                    plural(most)
                )
            }
            _ => format!(
                "{name} expected at least {R} argument{}, got {given}",
                plural(R)
            ),
        }
    }

    fn unexpected(&self, keyword: &str) -> Raised {
        let name = self.name;
        type_error(match self.style {
            Style::Method | Style::Function => {
                format!("{name}() got an unexpected keyword argument '{keyword}'")
            }
            _ => format!("'{keyword}' is an invalid keyword argument for {name}()"),
        })
    }

    fn repeated(&self, keyword: &str, position: usize) -> Raised {
        let name = self.name;
        type_error(match self.style {
            Style::Method | Style::Function => {
                format!("{name}() got multiple values for argument '{keyword}'")
            }
            _ => format!(
                "argument for {name}() given by name ('{keyword}') and position ({})",
                position + 1
            ),
        })
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Binds the arguments of a method written in Python ([`Style::Method`]).
pub(crate) fn method_args<const R: usize, const O: usize>(
    name: &'static str,
    required: [&'static str; R],
    optional: [&'static str; O],
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Bound<R, O>, Raised> {
    Signature::new(name, Style::Method, required, optional).bind(args, kwds)
}

/// Binds the arguments of a C method with positional-only parameters
/// ([`Style::Positional`]).
pub(crate) fn positional_args<const R: usize, const O: usize>(
    name: &'static str,
    required: [&'static str; R],
    optional: [&'static str; O],
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Bound<R, O>, Raised> {
    Signature::new(name, Style::Positional, required, optional).bind(args, kwds)
}

/// `TypeError(message)`.
pub(crate) fn type_error(message: impl Into<String>) -> Raised {
    Raised::builtin("TypeError", message)
}

/// `ValueError(message)`.
pub(crate) fn value_error(message: impl Into<String>) -> Raised {
    Raised::builtin("ValueError", message)
}

/// The longest wait Python's locks accept (`threading.TIMEOUT_MAX`).
const TIMEOUT_MAX: f64 = 9_223_372_036.0;

/// A timeout in seconds as a number; NaN, a non-number or a wait beyond
/// `threading.TIMEOUT_MAX` fail as they do in Python's waits.
fn seconds(value: &Value) -> Result<f64, Raised> {
    let seconds = match value {
        Value::Float(f) => *f,
        other => match Int::of(other) {
            Some(int) => int.to_f64().unwrap_or(f64::INFINITY),
            None => {
                return Err(type_error(format!(
                    "must be real number, not {}",
                    type_name(other)
                )))
            }
        },
    };
    if seconds.is_nan() {
        return Err(value_error("Invalid value NaN (not a number)"));
    }
    if seconds > TIMEOUT_MAX {
        return Err(Raised::builtin(
            "OverflowError",
            "timeout value is too large",
        ));
    }
    Ok(seconds)
}

fn duration(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}

/// `queue.Queue`'s timeout: `None` waits forever; negative is
/// `ValueError("'timeout' must be a non-negative number")`.
pub(crate) fn queue_timeout(value: Option<Value>) -> Result<Option<Duration>, Raised> {
    match value {
        None | Some(Value::None) => Ok(None),
        Some(value) => match seconds(&value)? {
            s if s < 0.0 => Err(value_error("'timeout' must be a non-negative number")),
            s => Ok(Some(duration(s))),
        },
    }
}

/// The C locks' `acquire` timeout: `-1` (and `None`) waits forever; any other negative is
/// `ValueError("timeout value must be positive")`.
pub(crate) fn lock_timeout(value: Option<Value>) -> Result<Option<Duration>, Raised> {
    match value {
        None | Some(Value::None) => Ok(None),
        Some(value) => {
            let seconds = seconds(&value)?;
            if seconds == -1.0 {
                Ok(None)
            } else if seconds < 0.0 {
                Err(value_error("timeout value must be positive"))
            } else {
                Ok(Some(duration(seconds)))
            }
        }
    }
}

/// The timeout of `Condition.wait`, `Event.wait`, `Barrier.wait` and
/// `Semaphore.acquire`: `None` waits forever; a negative one does not wait.
pub(crate) fn wait_timeout(value: Option<Value>) -> Result<Option<Duration>, Raised> {
    match value {
        None | Some(Value::None) => Ok(None),
        Some(value) => seconds(&value).map(|s| Some(duration(s))),
    }
}

/// A flag (`block`, `blocking`, `reverse`) by Python's truthiness; absent: `default`.
pub(crate) fn flag(value: Option<Value>, default: bool) -> bool {
    value.map_or(default, |v| truthy(&v))
}

/// An `int` argument that is not a subscript (`pop(i)`, `insert(i, x)`, `l * n`).
pub(crate) fn integer(value: &Value) -> Result<i64, Raised> {
    match Int::of(value) {
        Some(Int::Small(i)) => Ok(i),
        Some(Int::Big(_)) => Err(Raised::builtin(
            "OverflowError",
            "Python int too large to convert to C ssize_t",
        )),
        None => Err(type_error(format!(
            "'{}' object cannot be interpreted as an integer",
            type_name(value)
        ))),
    }
}

/// A subscript that is not a slice: an int (or bool), else
/// `TypeError("list indices must be integers or slices, not str")` for `container` `list`.
pub(crate) fn subscript(value: &Value, container: &str) -> Result<i64, Raised> {
    match Int::of(value) {
        Some(Int::Small(i)) => Ok(i),
        Some(Int::Big(_)) => Err(Raised::builtin(
            "IndexError",
            "cannot fit 'int' into an index-sized integer",
        )),
        None => Err(type_error(format!(
            "{container} indices must be integers or slices, not {}",
            type_name(value)
        ))),
    }
}

/// An attribute name (`__getattribute__`, `__setattr__`): a str, else Python's TypeError.
pub(crate) fn attribute_name(value: &Value) -> Result<&str, Raised> {
    match value {
        Value::Str(name) => Ok(name),
        other => Err(type_error(format!(
            "attribute name must be string, not '{}'",
            type_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.into())
    }

    fn kw(name: &str, value: Value) -> (String, Value) {
        (name.into(), value)
    }

    fn message(err: Raised) -> String {
        assert_eq!(
            (err.module.as_str(), err.name.as_str()),
            ("builtins", "TypeError")
        );
        match err.args.as_slice() {
            [Value::Str(text)] => text.clone(),
            other => panic!("unexpected args {other:?}"),
        }
    }

    const GET: Signature<0, 2> =
        Signature::new("Queue.get", Style::Method, [], ["block", "timeout"]);
    const PUT: Signature<1, 2> =
        Signature::new("Queue.put", Style::Method, ["item"], ["block", "timeout"]);
    const POP: Signature<1, 1> = Signature::new("pop", Style::Positional, ["key"], ["default"]);
    const ACQUIRE: Signature<0, 2> =
        Signature::new("acquire", Style::Keywords, [], ["blocking", "timeout"]);
    const SORT: Signature<0, 2> =
        Signature::new("sort", Style::KeywordOnly, [], ["key", "reverse"]);

    #[test]
    fn binds_positions_and_keywords() {
        let ([], [block, timeout]) = GET
            .bind(vec![Value::Bool(false)], vec![kw("timeout", Value::Int(1))])
            .unwrap();
        assert_eq!(
            (block, timeout),
            (Some(Value::Bool(false)), Some(Value::Int(1)))
        );
        let ([item], [block, timeout]) = PUT.bind(vec![], vec![kw("item", s("x"))]).unwrap();
        assert_eq!((item, block, timeout), (s("x"), None, None));
        let ([], [key, reverse]) = SORT
            .bind(vec![], vec![kw("reverse", Value::Bool(true))])
            .unwrap();
        assert_eq!((key, reverse), (None, Some(Value::Bool(true))));
    }

    #[test]
    fn python_method_messages() {
        let err = GET.bind(vec![Value::None; 3], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "Queue.get() takes from 1 to 3 positional arguments but 4 were given"
        );
        let err = GET
            .bind(vec![Value::None], vec![kw("block", Value::None)])
            .unwrap_err();
        assert_eq!(
            message(err),
            "Queue.get() got multiple values for argument 'block'"
        );
        let err = GET.bind(vec![], vec![kw("zz", Value::None)]).unwrap_err();
        assert_eq!(
            message(err),
            "Queue.get() got an unexpected keyword argument 'zz'"
        );
        let err = PUT.bind(vec![], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "Queue.put() missing 1 required positional argument: 'item'"
        );
        let qsize: Signature<0, 0> = Signature::new("Queue.qsize", Style::Method, [], []);
        let err = qsize.bind(vec![Value::None], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "Queue.qsize() takes 1 positional argument but 2 were given"
        );
        let three: Signature<3, 0> = Signature::new("f", Style::Function, ["a", "b", "c"], []);
        let err = three.bind(vec![], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "f() missing 3 required positional arguments: 'a', 'b', and 'c'"
        );
        let err = three.bind(vec![Value::None], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "f() missing 2 required positional arguments: 'b' and 'c'"
        );
    }

    #[test]
    fn c_method_messages() {
        let err = POP.bind(vec![Value::None; 3], vec![]).unwrap_err();
        assert_eq!(message(err), "pop expected at most 2 arguments, got 3");
        let err = POP.bind(vec![], vec![]).unwrap_err();
        assert_eq!(message(err), "pop expected at least 1 argument, got 0");
        let err = POP
            .bind(vec![s("k")], vec![kw("default", Value::None)])
            .unwrap_err();
        assert_eq!(message(err), "pop() takes no keyword arguments");
        let err = ACQUIRE.bind(vec![Value::None; 3], vec![]).unwrap_err();
        assert_eq!(
            message(err),
            "acquire() takes at most 2 arguments (3 given)"
        );
        let err = ACQUIRE
            .bind(vec![], vec![kw("x", Value::None)])
            .unwrap_err();
        assert_eq!(
            message(err),
            "'x' is an invalid keyword argument for acquire()"
        );
        let err = ACQUIRE
            .bind(vec![Value::None], vec![kw("blocking", Value::None)])
            .unwrap_err();
        assert_eq!(
            message(err),
            "argument for acquire() given by name ('blocking') and position (1)"
        );
        let err = SORT.bind(vec![Value::None], vec![]).unwrap_err();
        assert_eq!(message(err), "sort() takes no positional arguments");
        let none: Signature<0, 0> = Signature::new("list.reverse", Style::Positional, [], []);
        let err = none.bind(vec![Value::None], vec![]).unwrap_err();
        assert_eq!(message(err), "list.reverse() takes no arguments (1 given)");
    }

    #[test]
    fn extra_keywords() {
        let update: Signature<0, 1> = Signature::new("update", Style::Positional, [], ["other"]);
        let (([], [other]), extra) = update
            .bind_extra(vec![], vec![kw("other", Value::Int(5))])
            .unwrap();
        assert_eq!((other, extra), (None, vec![kw("other", Value::Int(5))]));
    }

    #[test]
    fn timeouts() {
        assert_eq!(queue_timeout(None).unwrap(), None);
        assert_eq!(
            queue_timeout(Some(Value::Float(0.5))).unwrap(),
            Some(Duration::from_millis(500))
        );
        let err = queue_timeout(Some(Value::Int(-1))).unwrap_err();
        assert_eq!(err, value_error("'timeout' must be a non-negative number"));
        assert_eq!(lock_timeout(Some(Value::Int(-1))).unwrap(), None);
        assert_eq!(
            lock_timeout(Some(Value::Int(-2))).unwrap_err(),
            value_error("timeout value must be positive")
        );
        assert_eq!(
            wait_timeout(Some(Value::Int(-5))).unwrap(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait_timeout(Some(Value::Bool(true))).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            message(wait_timeout(Some(s("x"))).unwrap_err()),
            "must be real number, not str"
        );
        assert_eq!(
            wait_timeout(Some(Value::Float(f64::NAN))).unwrap_err().name,
            "ValueError"
        );
        assert_eq!(
            wait_timeout(Some(Value::Float(1e30))).unwrap_err().name,
            "OverflowError"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(integer(&Value::Bool(true)).unwrap(), 1);
        assert_eq!(
            message(integer(&s("a")).unwrap_err()),
            "'str' object cannot be interpreted as an integer"
        );
        let big = Int::from_i128(1 << 100).into_value();
        assert_eq!(integer(&big).unwrap_err().name, "OverflowError");
        assert_eq!(subscript(&big, "list").unwrap_err().name, "IndexError");
        assert_eq!(
            message(subscript(&s("a"), "list").unwrap_err()),
            "list indices must be integers or slices, not str"
        );
        assert_eq!(
            message(attribute_name(&Value::Int(5)).unwrap_err()),
            "attribute name must be string, not 'int'"
        );
    }
}
