//! Typeid `Condition`: `threading.Condition()` over its own RLock, owned by the calling
//! connection. `wait` releases the lock fully (remembering its depth) and takes it back
//! at that depth after being notified or timing out; `notify(n)` wakes the `n` longest
//! waiting, as Python's does.

use std::collections::VecDeque;
use std::sync::Arc;

use super::args::{integer, method_args, positional_args, type_error, wait_timeout};
use super::blocking::{abandoned, deadline, Shared, Waited};
use super::lock::{acquire_deadline, acquired, Ownership};
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// ConditionProxy's methods, with Python 3.14's `locked`.
pub(crate) const EXPOSED: &[&str] = &[
    "acquire",
    "release",
    "wait",
    "notify",
    "notify_all",
    "locked",
];

struct State {
    lock: Ownership,
    /// The tickets of waiting calls, longest waiting first; `notify` removes them.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

pub(crate) struct Condition {
    shared: Shared<State>,
}

/// `Condition(lock=None)`. A given lock would be another object of this server, which
/// the Condition cannot reach, so only `None` is accepted.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let ([], [lock]) = method_args("Condition.__init__", [], ["lock"], args, kwds)?;
    if lock.is_some_and(|lock| lock != Value::None) {
        return Err(type_error(
            "Condition(lock) is not supported by this server: use Condition()",
        ));
    }
    let state = State {
        lock: Ownership::default(),
        waiting: VecDeque::new(),
        next_ticket: 0,
    };
    Ok(Arc::new(Condition {
        shared: Shared::new(state),
    }))
}

fn not_owned(action: &str) -> Raised {
    Raised::builtin(
        "RuntimeError",
        format!("cannot {action} on un-acquired lock"),
    )
}

impl Condition {
    /// `wait(timeout=None)`: True when notified, False when the timeout passed first.
    fn wait(
        &self,
        caller: &dyn Caller,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        let ([], [timeout]) = method_args("Condition.wait", [], ["timeout"], args, kwds)?;
        let id = caller.id();
        let mut state = self.shared.lock();
        if !state.lock.is_owned_by(id) {
            return Err(not_owned("wait"));
        }
        let until = deadline(wait_timeout(timeout)?);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        let depth = state.lock.release_all(id);
        self.shared.notify();
        let (mut state, waited) = self
            .shared
            .wait_until(caller, state, until, |s| !s.waiting.contains(&ticket));
        if waited != Waited::Ready {
            state.waiting.retain(|&t| t != ticket);
        }
        if waited == Waited::Abandoned {
            return Err(abandoned());
        }
        let retaken = self
            .shared
            .wait_until(caller, state, None, |s| s.lock.try_take(id, depth))
            .1;
        if retaken == Waited::Abandoned {
            return Err(abandoned());
        }
        Ok(Value::Bool(waited == Waited::Ready))
    }

    fn method(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        let id = caller.id();
        let done = Ok(Outcome::Return(Value::None));
        match method {
            "acquire" => {
                let until = acquire_deadline(args, kwds)?;
                let state = self.shared.lock();
                acquired(
                    self.shared
                        .wait_until(caller, state, until, |s| s.lock.try_take(id, 1))
                        .1,
                )
            }
            "release" => {
                positional_args("release", [], [], args, kwds)?;
                self.shared.lock().lock.release(id)?;
                self.shared.notify();
                done
            }
            "locked" => {
                positional_args("locked", [], [], args, kwds)?;
                Ok(Outcome::Return(Value::Bool(
                    self.shared.lock().lock.is_locked(),
                )))
            }
            "wait" => self.wait(caller, args, kwds).map(Outcome::Return),
            "notify" | "notify_all" => {
                let n = if method == "notify" {
                    let ([], [n]) = method_args("Condition.notify", [], ["n"], args, kwds)?;
                    Some(n.map_or(Ok(1), |n| integer(&n))?)
                } else {
                    method_args("Condition.notify_all", [], [], args, kwds)?;
                    None
                };
                let mut state = self.shared.lock();
                if !state.lock.is_owned_by(id) {
                    return Err(not_owned("notify"));
                }
                let woken = n.map_or(state.waiting.len(), |n| {
                    n.clamp(0, state.waiting.len() as i64) as usize
                });
                state.waiting.drain(..woken);
                drop(state);
                self.shared.notify();
                done
            }
            _ => Err(no_attribute("Condition", method)),
        }
    }
}

impl Referent for Condition {
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(caller, method, args, kwds)
    }

    /// `<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x…>, 0)>`, the
    /// number being the waiting calls.
    fn repr(&self) -> String {
        let state = self.shared.lock();
        format!(
            "<Condition({}, {})>",
            state.lock.repr(self as *const Self as usize),
            state.waiting.len()
        )
    }

    /// Releases the lock if the gone caller held it (its waits give up by themselves).
    fn caller_gone(&self, caller: u64) {
        if self.shared.lock().lock.release_all(caller) > 0 {
            self.shared.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, call_kw, create, exc, int, TestCaller};
    use super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    const T: Value = Value::Bool(true);
    const F: Value = Value::Bool(false);

    #[test]
    fn needs_the_lock() {
        let cond = create("Condition", vec![], &[]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(
            call(&*cond, &c, "wait", vec![]).unwrap_err(),
            exc("RuntimeError", "cannot wait on un-acquired lock")
        );
        assert_eq!(
            call(&*cond, &c, "notify", vec![]).unwrap_err(),
            exc("RuntimeError", "cannot notify on un-acquired lock")
        );
        assert_eq!(
            call(&*cond, &c, "notify_all", vec![]).unwrap_err(),
            exc("RuntimeError", "cannot notify on un-acquired lock")
        );
        assert_eq!(
            call(&*cond, &c, "release", vec![]).unwrap_err(),
            exc("RuntimeError", "cannot release un-acquired lock")
        );
        let lock = Value::Global {
            module: "x".into(),
            name: "y".into(),
        };
        assert_eq!(
            create("Condition", vec![lock], &[]).err().unwrap().name,
            "TypeError"
        );
    }

    #[test]
    fn wait_times_out_and_keeps_the_lock() {
        let cond = create("Condition", vec![], &[]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(call(&*cond, &c, "acquire", vec![]).unwrap(), T);
        assert_eq!(call(&*cond, &c, "acquire", vec![]).unwrap(), T);
        let start = Instant::now();
        assert_eq!(
            call(&*cond, &c, "wait", vec![Value::Float(0.03)]).unwrap(),
            F
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(call(&*cond, &c, "wait", vec![int(-1)]).unwrap(), F);
        assert!(cond
            .repr()
            .starts_with("<Condition(<locked _thread.RLock object owner=1 count=2 at 0x"));
        call(&*cond, &c, "release", vec![]).unwrap();
        call(&*cond, &c, "release", vec![]).unwrap();
        assert_eq!(call(&*cond, &c, "locked", vec![]).unwrap(), F);
    }

    #[test]
    fn wait_and_notify_between_callers() {
        let cond = create("Condition", vec![], &[]).unwrap();
        let waiters: Vec<_> = (1..=2)
            .map(|id| {
                let cond = Arc::clone(&cond);
                thread::spawn(move || {
                    let c = TestCaller::new(id);
                    call(&*cond, &c, "acquire", vec![]).unwrap();
                    let notified =
                        call_kw(&*cond, &c, "wait", vec![], &[("timeout", int(5))]).unwrap();
                    // The lock is held again after waiting.
                    let err = call(&*cond, &TestCaller::new(9), "release", vec![]).unwrap_err();
                    call(&*cond, &c, "release", vec![]).unwrap();
                    (notified, err.name)
                })
            })
            .collect();
        let c = TestCaller::new(3);
        let start = Instant::now();
        while !cond.repr().ends_with(", 2)>") {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "waiters did not arrive"
            );
            thread::sleep(Duration::from_millis(5));
        }
        call(&*cond, &c, "acquire", vec![]).unwrap();
        call(&*cond, &c, "notify", vec![]).unwrap();
        assert!(cond.repr().ends_with(", 1)>"));
        call(&*cond, &c, "notify_all", vec![]).unwrap();
        call(&*cond, &c, "release", vec![]).unwrap();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), (T, "RuntimeError".to_string()));
        }
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn caller_gone_releases_the_lock() {
        let cond = create("Condition", vec![], &[]).unwrap();
        call(&*cond, &TestCaller::new(1), "acquire", vec![]).unwrap();
        let other = Arc::clone(&cond);
        let thread =
            thread::spawn(move || call(&*other, &TestCaller::new(2), "acquire", vec![T, int(5)]));
        thread::sleep(Duration::from_millis(20));
        cond.caller_gone(1);
        assert_eq!(thread.join().unwrap().unwrap(), T);
    }

    #[test]
    fn gone_waiter_gives_up() {
        let cond = create("Condition", vec![], &[]).unwrap();
        let caller = Arc::new(TestCaller::new(1));
        call(&*cond, &caller, "acquire", vec![]).unwrap();
        let hang_up = Arc::clone(&caller);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            hang_up.hang_up();
        });
        assert!(call(&*cond, &caller, "wait", vec![]).is_err());
        thread.join().unwrap();
        assert!(cond.repr().ends_with(", 0)>"));
        assert_eq!(
            call(&*cond, &TestCaller::new(2), "acquire", vec![F]).unwrap(),
            T
        );
    }
}
