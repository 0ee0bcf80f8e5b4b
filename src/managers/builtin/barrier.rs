//! Typeid `Barrier`: `threading.Barrier(parties, action=None, timeout=None)`, with
//! Python's states: filling until the last party arrives, draining while the waiters
//! leave, resetting, or broken (`threading.BrokenBarrierError` for every waiter).
//!
//! Beyond Python: a waiter whose caller is gone breaks the barrier (as a timeout does),
//! since the party it stood for will never arrive.

use std::sync::Arc;
use std::time::Duration;

use super::args::{
    attribute_name, integer, method_args, positional_args, type_error, value_error, wait_timeout,
};
use super::blocking::{abandoned, deadline, Shared, Waited};
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

pub(crate) const EXPOSED: &[&str] = &["__getattribute__", "wait", "abort", "reset"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct State {
    phase: Phase,
    /// Waiters inside `wait`.
    count: usize,
}

pub(crate) struct Barrier {
    parties: usize,
    /// The default for `wait()` without a timeout.
    timeout: Option<Duration>,
    shared: Shared<State>,
}

/// `Barrier(parties, action=None, timeout=None)`; an action would be Python code, which
/// this server cannot run.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let ([parties], [action, timeout]) = method_args(
        "Barrier.__init__",
        ["parties"],
        ["action", "timeout"],
        args,
        kwds,
    )?;
    let parties = usize::try_from(integer(&parties)?)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| value_error("parties must be > 0"))?;
    if action.is_some_and(|a| a != Value::None) {
        return Err(type_error(
            "a Barrier action is not supported: the server runs no Python code",
        ));
    }
    let state = State {
        phase: Phase::Filling,
        count: 0,
    };
    Ok(Arc::new(Barrier {
        parties,
        timeout: wait_timeout(timeout)?,
        shared: Shared::new(state),
    }))
}

fn broken() -> Raised {
    Raised::new("threading", "BrokenBarrierError", vec![])
}

impl Barrier {
    /// `wait(timeout=None)`: the arrival index (0 for the first), once all have arrived.
    fn wait(&self, caller: &dyn Caller, timeout: Option<Value>) -> Result<Value, Raised> {
        let timeout = match timeout {
            None | Some(Value::None) => self.timeout,
            given => wait_timeout(given)?,
        };
        let state = self.shared.lock();
        // Wait for a previous round to drain or a reset to finish.
        let (mut state, waited) = self.shared.wait_until(caller, state, None, |s| {
            !matches!(s.phase, Phase::Draining | Phase::Resetting)
        });
        if waited == Waited::Abandoned {
            return Err(abandoned());
        }
        if state.phase == Phase::Broken {
            return Err(broken());
        }
        let index = state.count;
        state.count += 1;
        let result = if index + 1 == self.parties {
            state.phase = Phase::Draining;
            Ok(Value::Int(index as i64))
        } else {
            let waited;
            (state, waited) = self
                .shared
                .wait_until(caller, state, deadline(timeout), |s| {
                    s.phase != Phase::Filling
                });
            match waited {
                Waited::Ready if state.phase == Phase::Draining => Ok(Value::Int(index as i64)),
                Waited::Ready => Err(broken()),
                Waited::TimedOut => {
                    state.phase = Phase::Broken;
                    Err(broken())
                }
                Waited::Abandoned => {
                    state.phase = Phase::Broken;
                    Err(abandoned())
                }
            }
        };
        // Leaving: the last one out ends draining or resetting.
        state.count -= 1;
        if state.count == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state.phase = Phase::Filling;
        }
        drop(state);
        self.shared.notify();
        result
    }

    fn method(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        match method {
            "wait" => {
                let ([], [timeout]) = method_args("Barrier.wait", [], ["timeout"], args, kwds)?;
                self.wait(caller, timeout)
            }
            "abort" => {
                method_args("Barrier.abort", [], [], args, kwds)?;
                self.shared.lock().phase = Phase::Broken;
                self.shared.notify();
                Ok(Value::None)
            }
            "reset" => {
                // Waiters of the current round fail; the barrier refills once they left.
                method_args("Barrier.reset", [], [], args, kwds)?;
                let mut state = self.shared.lock();
                state.phase = match (state.count, state.phase) {
                    (0, _) => Phase::Filling,
                    (_, Phase::Draining) => Phase::Draining,
                    _ => Phase::Resetting,
                };
                drop(state);
                self.shared.notify();
                Ok(Value::None)
            }
            "__getattribute__" => {
                let ([name], []) = positional_args("__getattribute__", ["name"], [], args, kwds)?;
                let state = self.shared.lock();
                Ok(match attribute_name(&name)? {
                    "parties" => Value::Int(self.parties as i64),
                    "n_waiting" if state.phase == Phase::Filling => Value::Int(state.count as i64),
                    "n_waiting" => Value::Int(0),
                    "broken" => Value::Bool(state.phase == Phase::Broken),
                    other => return Err(no_attribute("Barrier", other)),
                })
            }
            _ => Err(no_attribute("Barrier", method)),
        }
    }
}

impl Referent for Barrier {
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(caller, method, args, kwds).map(Outcome::Return)
    }

    /// `<threading.Barrier at 0x…: waiters=1/3>` or `…: broken>`.
    fn repr(&self) -> String {
        let state = self.shared.lock();
        let address = self as *const Self as usize;
        match state.phase {
            Phase::Broken => format!("<threading.Barrier at {address:#x}: broken>"),
            Phase::Filling => format!(
                "<threading.Barrier at {address:#x}: waiters={}/{}>",
                state.count, self.parties
            ),
            _ => format!(
                "<threading.Barrier at {address:#x}: waiters=0/{}>",
                self.parties
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, create, exc, int, s, TestCaller};
    use super::*;
    use std::thread;
    use std::time::Instant;

    fn attribute(barrier: &dyn Referent, name: &str) -> Value {
        call(
            barrier,
            &TestCaller::new(99),
            "__getattribute__",
            vec![s(name)],
        )
        .unwrap()
    }

    #[test]
    fn three_parties_get_distinct_indices() {
        let barrier = create("Barrier", vec![int(3)], &[]).unwrap();
        let start = Instant::now();
        let round = || -> Vec<i64> {
            let threads: Vec<_> = (1..=3)
                .map(|id| {
                    let barrier = Arc::clone(&barrier);
                    thread::spawn(move || {
                        call(&*barrier, &TestCaller::new(id), "wait", vec![int(5)])
                    })
                })
                .collect();
            let mut indices: Vec<i64> = threads
                .into_iter()
                .map(|t| match t.join().unwrap().unwrap() {
                    Value::Int(i) => i,
                    other => panic!("{other:?}"),
                })
                .collect();
            indices.sort();
            indices
        };
        assert_eq!(round(), vec![0, 1, 2]);
        assert_eq!(round(), vec![0, 1, 2]);
        assert!(start.elapsed() < Duration::from_millis(500));
        assert_eq!(attribute(&*barrier, "parties"), int(3));
        assert_eq!(attribute(&*barrier, "n_waiting"), int(0));
        assert_eq!(attribute(&*barrier, "broken"), Value::Bool(false));
    }

    #[test]
    fn timeout_breaks_the_barrier() {
        let barrier = create("Barrier", vec![int(2)], &[("timeout", Value::Float(0.02))]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(call(&*barrier, &c, "wait", vec![]).unwrap_err(), broken());
        assert_eq!(attribute(&*barrier, "broken"), Value::Bool(true));
        assert!(barrier.repr().ends_with(": broken>"));
        assert_eq!(call(&*barrier, &c, "wait", vec![]).unwrap_err(), broken());
        call(&*barrier, &c, "reset", vec![]).unwrap();
        assert_eq!(attribute(&*barrier, "broken"), Value::Bool(false));
        assert!(barrier.repr().ends_with(": waiters=0/2>"));
    }

    #[test]
    fn abort_and_reset_release_waiters() {
        let barrier = create("Barrier", vec![int(3)], &[]).unwrap();
        for action in ["abort", "reset"] {
            let other = Arc::clone(&barrier);
            let waiter = thread::spawn(move || call(&*other, &TestCaller::new(1), "wait", vec![]));
            let start = Instant::now();
            while attribute(&*barrier, "n_waiting") != int(1) {
                assert!(start.elapsed() < Duration::from_secs(2));
                thread::sleep(Duration::from_millis(5));
            }
            call(&*barrier, &TestCaller::new(2), action, vec![]).unwrap();
            assert_eq!(waiter.join().unwrap().unwrap_err(), broken());
            call(&*barrier, &TestCaller::new(2), "reset", vec![]).unwrap();
        }
    }

    #[test]
    fn gone_waiter_breaks_the_barrier() {
        let barrier = create("Barrier", vec![int(2)], &[]).unwrap();
        let gone = Arc::new(TestCaller::new(1));
        let (b, g) = (Arc::clone(&barrier), Arc::clone(&gone));
        let waiter = thread::spawn(move || call(&*b, &g, "wait", vec![]));
        thread::sleep(Duration::from_millis(20));
        gone.hang_up();
        assert!(waiter.join().unwrap().is_err());
        assert_eq!(
            call(&*barrier, &TestCaller::new(2), "wait", vec![]).unwrap_err(),
            broken()
        );
    }

    #[test]
    fn arguments() {
        let err = create("Barrier", vec![int(0)], &[]).err().unwrap();
        assert_eq!(err, exc("ValueError", "parties must be > 0"));
        let action = Value::Global {
            module: "m".into(),
            name: "f".into(),
        };
        assert_eq!(
            create("Barrier", vec![int(2), action], &[])
                .err()
                .unwrap()
                .name,
            "TypeError"
        );
        let barrier = create("Barrier", vec![int(2)], &[]).unwrap();
        let err = call(
            &*barrier,
            &TestCaller::new(1),
            "__getattribute__",
            vec![s("zz")],
        )
        .unwrap_err();
        assert_eq!(
            err,
            exc("AttributeError", "'Barrier' object has no attribute 'zz'")
        );
    }
}
