//! Typeid `Event`: `threading.Event()`, a flag that `wait` blocks on until it is set.

use std::sync::Arc;

use super::args::{method_args, wait_timeout};
use super::blocking::{abandoned, deadline, Shared, Waited};
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) const EXPOSED: &[&str] = &["is_set", "set", "clear", "wait"];

struct State {
    flag: bool,
    /// Counts `set` calls: a waiter woken by a `set` returns True even if a `clear`
    /// followed before it ran, as Python's does.
    sets: u64,
}

pub(crate) struct Event {
    shared: Shared<State>,
}

/// `Event()`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    method_args("Event.__init__", [], [], args, kwds)?;
    Ok(Arc::new(Event {
        shared: Shared::new(State {
            flag: false,
            sets: 0,
        }),
    }))
}

impl Event {
    fn method(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        match method {
            "is_set" => {
                method_args("Event.is_set", [], [], args, kwds)?;
                Ok(Value::Bool(self.shared.lock().flag))
            }
            "set" => {
                method_args("Event.set", [], [], args, kwds)?;
                let mut state = self.shared.lock();
                state.flag = true;
                state.sets += 1;
                drop(state);
                self.shared.notify();
                Ok(Value::None)
            }
            "clear" => {
                method_args("Event.clear", [], [], args, kwds)?;
                self.shared.lock().flag = false;
                Ok(Value::None)
            }
            "wait" => {
                let ([], [timeout]) = method_args("Event.wait", [], ["timeout"], args, kwds)?;
                let until = deadline(wait_timeout(timeout)?);
                let state = self.shared.lock();
                let seen = state.sets;
                match self
                    .shared
                    .wait_until(caller, state, until, |s| s.flag || s.sets != seen)
                {
                    (_, Waited::Ready) => Ok(Value::Bool(true)),
                    (_, Waited::TimedOut) => Ok(Value::Bool(false)),
                    (_, Waited::Abandoned) => Err(abandoned()),
                }
            }
            _ => Err(no_attribute("Event", method)),
        }
    }
}

impl Referent for Event {
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(caller, method, args, kwds).map(Outcome::Return)
    }

    /// `<threading.Event at 0x…: unset>` or `…: set>`.
    fn repr(&self) -> String {
        let state = if self.shared.lock().flag {
            "set"
        } else {
            "unset"
        };
        format!(
            "<threading.Event at {:#x}: {state}>",
            self as *const Self as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, create, exc, int, TestCaller};
    use super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    #[test]
    fn flag_and_waits() {
        let event = create("Event", vec![], &[]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(
            call(&*event, &c, "is_set", vec![]).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            call(&*event, &c, "wait", vec![Value::Float(0.01)]).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            call(&*event, &c, "wait", vec![int(-1)]).unwrap(),
            Value::Bool(false)
        );
        assert!(event.repr().ends_with(": unset>"));
        call(&*event, &c, "set", vec![]).unwrap();
        assert_eq!(
            call(&*event, &c, "wait", vec![]).unwrap(),
            Value::Bool(true)
        );
        assert!(event.repr().ends_with(": set>"));
        call(&*event, &c, "clear", vec![]).unwrap();
        assert_eq!(
            call(&*event, &c, "is_set", vec![]).unwrap(),
            Value::Bool(false)
        );
        let err = call(&*event, &c, "wait", vec![int(1), int(2)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Event.wait() takes from 1 to 2 positional arguments but 3 were given"
            )
        );
    }

    #[test]
    fn set_wakes_waiters_even_if_cleared_again() {
        let event = create("Event", vec![], &[]).unwrap();
        let waiters: Vec<_> = (1..=2)
            .map(|id| {
                let event = Arc::clone(&event);
                thread::spawn(move || call(&*event, &TestCaller::new(id), "wait", vec![int(5)]))
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        let c = TestCaller::new(3);
        let start = Instant::now();
        call(&*event, &c, "set", vec![]).unwrap();
        call(&*event, &c, "clear", vec![]).unwrap();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap().unwrap(), Value::Bool(true));
        }
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}
