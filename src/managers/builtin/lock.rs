//! Typeids `Lock`, `RLock`, `Semaphore` and `BoundedSemaphore`: threading's primitives,
//! with a caller (one client connection) in the role of a thread.
//!
//! Beyond Python: when a caller's connection ends, the locks it held are released
//! ([`Referent::caller_gone`]), so a killed client never blocks the others.

use std::sync::Arc;
use std::time::Instant;

use super::args::{
    flag, integer, lock_timeout, method_args, positional_args, value_error, wait_timeout,
    Signature, Style,
};
use super::blocking::{abandoned, deadline, Shared, Waited};
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// AcquirerProxy's methods, with Python 3.14's `locked`.
pub(crate) const EXPOSED: &[&str] = &["acquire", "release", "locked"];

/// When a C lock's `acquire(blocking=True, timeout=-1)` gives up: now when not
/// blocking, never when blocking without a timeout.
pub(crate) fn acquire_deadline(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Option<Instant>, Raised> {
    let signature = Signature::new("acquire", Style::Keywords, [], ["blocking", "timeout"]);
    let ([], [blocking, timeout]) = signature.bind(args, kwds)?;
    let given = matches!(&timeout, Some(t) if *t != Value::Int(-1) && *t != Value::None);
    if !flag(blocking, true) {
        if given {
            return Err(value_error(
                "can't specify a timeout for a non-blocking call",
            ));
        }
        return Ok(Some(Instant::now()));
    }
    Ok(deadline(lock_timeout(timeout)?))
}

/// The outcome of an acquire attempt as Python returns it (`True`/`False`).
pub(crate) fn acquired(waited: Waited) -> Result<Outcome, Raised> {
    match waited {
        Waited::Ready => Ok(Outcome::Return(Value::Bool(true))),
        Waited::TimedOut => Ok(Outcome::Return(Value::Bool(false))),
        Waited::Abandoned => Err(abandoned()),
    }
}

/// A recursive lock's owner and depth, as an RLock (and a Condition's lock) keeps them.
#[derive(Default)]
pub(crate) struct Ownership {
    owner: Option<u64>,
    depth: u64,
}

impl Ownership {
    /// Takes the lock `depth` more times if it is free or already the caller's.
    pub(crate) fn try_take(&mut self, caller: u64, depth: u64) -> bool {
        match self.owner {
            Some(owner) if owner != caller => false,
            _ => {
                self.owner = Some(caller);
                self.depth += depth;
                true
            }
        }
    }

    pub(crate) fn is_owned_by(&self, caller: u64) -> bool {
        self.owner == Some(caller)
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.owner.is_some()
    }

    /// One `release()`: only the owner may, else `RuntimeError`.
    pub(crate) fn release(&mut self, caller: u64) -> Result<(), Raised> {
        if !self.is_owned_by(caller) {
            return Err(Raised::builtin(
                "RuntimeError",
                "cannot release un-acquired lock",
            ));
        }
        self.depth -= 1;
        if self.depth == 0 {
            self.owner = None;
        }
        Ok(())
    }

    /// Releases the caller's hold entirely, returning its depth (zero if it held none).
    pub(crate) fn release_all(&mut self, caller: u64) -> u64 {
        if !self.is_owned_by(caller) {
            return 0;
        }
        self.owner = None;
        std::mem::take(&mut self.depth)
    }

    /// Python's `<unlocked _thread.RLock object owner=0 count=0 at 0x…>`.
    pub(crate) fn repr(&self, address: usize) -> String {
        let state = if self.is_locked() {
            "locked"
        } else {
            "unlocked"
        };
        let owner = self.owner.unwrap_or(0);
        format!(
            "<{state} _thread.RLock object owner={owner} count={} at {address:#x}>",
            self.depth
        )
    }
}

/// What each kind keeps: a Lock its holder (the last acquirer, for `caller_gone`), an
/// RLock its ownership, a semaphore its counter and, if bounded, its initial value.
enum State {
    Lock { held: bool, holder: u64 },
    RLock(Ownership),
    Semaphore { value: u64, bound: Option<u64> },
}

pub(crate) struct Acquirer {
    shared: Shared<State>,
}

fn new(state: State) -> Arc<dyn Referent> {
    Arc::new(Acquirer {
        shared: Shared::new(state),
    })
}

/// `Lock()`.
pub(crate) fn create_lock(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    positional_args("lock", [], [], args, kwds)?;
    Ok(new(State::Lock {
        held: false,
        holder: 0,
    }))
}

/// `RLock()`.
pub(crate) fn create_rlock(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    positional_args("RLock", [], [], args, kwds)?;
    Ok(new(State::RLock(Ownership::default())))
}

/// `Semaphore(value=1)`.
pub(crate) fn create_semaphore(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let value = initial_value("Semaphore.__init__", args, kwds)?;
    Ok(new(State::Semaphore { value, bound: None }))
}

/// `BoundedSemaphore(value=1)`.
pub(crate) fn create_bounded_semaphore(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let value = initial_value("BoundedSemaphore.__init__", args, kwds)?;
    Ok(new(State::Semaphore {
        value,
        bound: Some(value),
    }))
}

fn initial_value(
    name: &'static str,
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<u64, Raised> {
    let ([], [value]) = method_args(name, [], ["value"], args, kwds)?;
    let value = value.map_or(Ok(1), |v| integer(&v))?;
    u64::try_from(value).map_err(|_| value_error("semaphore initial value must be >= 0"))
}

impl Acquirer {
    fn acquire(
        &self,
        caller: &dyn Caller,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        let until = if matches!(*self.shared.lock(), State::Semaphore { .. }) {
            semaphore_deadline(args, kwds)?
        } else {
            acquire_deadline(args, kwds)?
        };
        let id = caller.id();
        let state = self.shared.lock();
        let waited = self
            .shared
            .wait_until(caller, state, until, |state| match state {
                State::Lock { held, holder } if !*held => {
                    (*held, *holder) = (true, id);
                    true
                }
                State::Lock { .. } => false,
                State::RLock(ownership) => ownership.try_take(id, 1),
                State::Semaphore { value: 0, .. } => false,
                State::Semaphore { value, .. } => {
                    *value -= 1;
                    true
                }
            })
            .1;
        acquired(waited)
    }

    fn release(
        &self,
        caller: &dyn Caller,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        let mut state = self.shared.lock();
        match &mut *state {
            State::Lock { held, .. } => {
                positional_args("lock.release", [], [], args, kwds)?;
                if !*held {
                    return Err(Raised::builtin("RuntimeError", "release unlocked lock"));
                }
                *held = false;
            }
            State::RLock(ownership) => {
                positional_args("release", [], [], args, kwds)?;
                ownership.release(caller.id())?;
            }
            State::Semaphore { value, bound } => {
                let ([], [n]) = method_args("Semaphore.release", [], ["n"], args, kwds)?;
                let n = n.map_or(Ok(1), |n| integer(&n))?;
                let n = u64::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| value_error("n must be one or more"))?;
                if bound.is_some_and(|bound| value.saturating_add(n) > bound) {
                    return Err(value_error("Semaphore released too many times"));
                }
                *value += n;
            }
        }
        drop(state);
        self.shared.notify();
        Ok(Outcome::Return(Value::None))
    }
}

/// When `Semaphore.acquire(blocking=True, timeout=None)` gives up.
fn semaphore_deadline(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Option<Instant>, Raised> {
    let ([], [blocking, timeout]) =
        method_args("Semaphore.acquire", [], ["blocking", "timeout"], args, kwds)?;
    if !flag(blocking, true) {
        if timeout.is_some_and(|t| t != Value::None) {
            return Err(value_error(
                "can't specify timeout for non-blocking acquire",
            ));
        }
        return Ok(Some(Instant::now()));
    }
    Ok(deadline(wait_timeout(timeout)?))
}

impl Referent for Acquirer {
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        match method {
            "acquire" => self.acquire(caller, args, kwds),
            "release" => self.release(caller, args, kwds),
            "locked" => {
                let locked = match &*self.shared.lock() {
                    State::Lock { held, .. } => *held,
                    State::RLock(ownership) => ownership.is_locked(),
                    State::Semaphore { bound: None, .. } => {
                        return Err(no_attribute("Semaphore", method))
                    }
                    State::Semaphore { .. } => {
                        return Err(no_attribute("BoundedSemaphore", method))
                    }
                };
                positional_args("locked", [], [], args, kwds)?;
                Ok(Outcome::Return(Value::Bool(locked)))
            }
            _ => Err(no_attribute("lock", method)),
        }
    }

    /// Python's reprs: `<unlocked _thread.lock object at 0x…>`, the RLock's, and
    /// `<threading.Semaphore at 0x…: value=1>` (bounded: `value=1/2`).
    fn repr(&self) -> String {
        let address = self as *const Self as usize;
        match &*self.shared.lock() {
            State::Lock { held, .. } => {
                let state = if *held { "locked" } else { "unlocked" };
                format!("<{state} _thread.lock object at {address:#x}>")
            }
            State::RLock(ownership) => ownership.repr(address),
            State::Semaphore { value, bound: None } => {
                format!("<threading.Semaphore at {address:#x}: value={value}>")
            }
            State::Semaphore {
                value,
                bound: Some(bound),
            } => {
                format!("<threading.BoundedSemaphore at {address:#x}: value={value}/{bound}>")
            }
        }
    }

    /// Releases a Lock last acquired by `caller` and an RLock it owns. The caller's
    /// `gone()` is already true, so none of its calls still waiting can take it again.
    fn caller_gone(&self, caller: u64) {
        let mut state = self.shared.lock();
        match &mut *state {
            State::Lock { held, holder } if *held && *holder == caller => *held = false,
            State::RLock(ownership) => {
                ownership.release_all(caller);
            }
            _ => return,
        }
        drop(state);
        self.shared.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, call_kw, create, exc, int, TestCaller};
    use super::*;
    use std::thread;
    use std::time::Duration;

    const T: Value = Value::Bool(true);
    const F: Value = Value::Bool(false);

    #[test]
    fn lock_acquire_release() {
        let lock = create("Lock", vec![], &[]).unwrap();
        let (a, b) = (TestCaller::new(1), TestCaller::new(2));
        assert_eq!(call(&*lock, &a, "acquire", vec![T]).unwrap(), T);
        assert_eq!(call(&*lock, &a, "acquire", vec![F]).unwrap(), F);
        assert_eq!(
            call(&*lock, &b, "acquire", vec![T, Value::Float(0.01)]).unwrap(),
            F
        );
        assert_eq!(call(&*lock, &a, "locked", vec![]).unwrap(), T);
        assert!(lock.repr().starts_with("<locked _thread.lock object at 0x"));
        // Not owned: anyone may release it.
        call(&*lock, &b, "release", vec![]).unwrap();
        let err = call(&*lock, &a, "release", vec![]).unwrap_err();
        assert_eq!(err, exc("RuntimeError", "release unlocked lock"));
        let err = call(&*lock, &a, "acquire", vec![F, int(1)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "can't specify a timeout for a non-blocking call"
            )
        );
        let err = call(&*lock, &a, "acquire", vec![T, int(-2)]).unwrap_err();
        assert_eq!(err, exc("ValueError", "timeout value must be positive"));
        assert_eq!(call(&*lock, &a, "acquire", vec![F, int(-1)]).unwrap(), T);
        let err = call_kw(&*lock, &a, "acquire", vec![], &[("x", int(1))]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "'x' is an invalid keyword argument for acquire()"
            )
        );
    }

    #[test]
    fn rlock_is_owned_by_its_caller() {
        let rlock = create("RLock", vec![], &[]).unwrap();
        let (a, b) = (TestCaller::new(1), TestCaller::new(2));
        assert_eq!(call(&*rlock, &a, "acquire", vec![]).unwrap(), T);
        assert_eq!(call(&*rlock, &a, "acquire", vec![]).unwrap(), T);
        assert_eq!(
            rlock.repr(),
            format!(
                "<locked _thread.RLock object owner=1 count=2 at {:#x}>",
                Arc::as_ptr(&rlock) as *const () as usize
            )
        );
        assert_eq!(call(&*rlock, &b, "acquire", vec![F]).unwrap(), F);
        let err = call(&*rlock, &b, "release", vec![]).unwrap_err();
        assert_eq!(err, exc("RuntimeError", "cannot release un-acquired lock"));
        call(&*rlock, &a, "release", vec![]).unwrap();
        assert_eq!(call(&*rlock, &b, "acquire", vec![F]).unwrap(), F);
        // The other caller gets it once the owner lets go completely.
        let waiter = Arc::clone(&rlock);
        let thread = thread::spawn(move || {
            call_kw(
                &*waiter,
                &TestCaller::new(2),
                "acquire",
                vec![],
                &[("timeout", int(5))],
            )
        });
        thread::sleep(Duration::from_millis(20));
        call(&*rlock, &a, "release", vec![]).unwrap();
        assert_eq!(thread.join().unwrap().unwrap(), T);
        assert_eq!(call(&*rlock, &a, "locked", vec![]).unwrap(), T);
    }

    #[test]
    fn caller_gone_releases_for_a_blocked_caller() {
        let lock = create("Lock", vec![], &[]).unwrap();
        let dead = TestCaller::new(1);
        call(&*lock, &dead, "acquire", vec![]).unwrap();
        let waiter = Arc::clone(&lock);
        let thread = thread::spawn(move || call(&*waiter, &TestCaller::new(2), "acquire", vec![]));
        thread::sleep(Duration::from_millis(20));
        lock.caller_gone(3); // not the holder: nothing happens
        assert_eq!(
            call(&*lock, &TestCaller::new(4), "acquire", vec![F]).unwrap(),
            F
        );
        lock.caller_gone(1);
        assert_eq!(thread.join().unwrap().unwrap(), T);

        let rlock = create("RLock", vec![], &[]).unwrap();
        call(&*rlock, &dead, "acquire", vec![]).unwrap();
        call(&*rlock, &dead, "acquire", vec![]).unwrap();
        rlock.caller_gone(1);
        assert_eq!(
            call(&*rlock, &TestCaller::new(2), "acquire", vec![F]).unwrap(),
            T
        );
    }

    #[test]
    fn gone_caller_never_takes_the_lock() {
        let lock = create("Lock", vec![], &[]).unwrap();
        let gone = TestCaller::new(1);
        gone.hang_up();
        assert!(call(&*lock, &gone, "acquire", vec![]).is_err());
        assert_eq!(
            call(&*lock, &TestCaller::new(2), "locked", vec![]).unwrap(),
            F
        );
    }

    #[test]
    fn semaphores() {
        let sem = create("Semaphore", vec![int(2)], &[]).unwrap();
        let c = TestCaller::new(1);
        assert_eq!(call(&*sem, &c, "acquire", vec![]).unwrap(), T);
        assert_eq!(call(&*sem, &c, "acquire", vec![]).unwrap(), T);
        assert_eq!(call(&*sem, &c, "acquire", vec![F]).unwrap(), F);
        assert_eq!(
            call(&*sem, &c, "acquire", vec![T, Value::Float(0.01)]).unwrap(),
            F
        );
        assert_eq!(call(&*sem, &c, "acquire", vec![T, int(-1)]).unwrap(), F);
        let err = call(&*sem, &c, "acquire", vec![F, int(1)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "ValueError",
                "can't specify timeout for non-blocking acquire"
            )
        );
        call(&*sem, &c, "release", vec![int(3)]).unwrap();
        assert!(sem.repr().ends_with(": value=3>"));
        let err = call(&*sem, &c, "release", vec![int(0)]).unwrap_err();
        assert_eq!(err, exc("ValueError", "n must be one or more"));
        let err = call(&*sem, &c, "locked", vec![]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "AttributeError",
                "'Semaphore' object has no attribute 'locked'"
            )
        );
        let err = create("Semaphore", vec![int(-1)], &[]).err().unwrap();
        assert_eq!(
            err,
            exc("ValueError", "semaphore initial value must be >= 0")
        );

        let bounded = create("BoundedSemaphore", vec![], &[]).unwrap();
        let err = call(&*bounded, &c, "release", vec![]).unwrap_err();
        assert_eq!(err, exc("ValueError", "Semaphore released too many times"));
        call(&*bounded, &c, "acquire", vec![]).unwrap();
        assert!(bounded.repr().ends_with(": value=0/1>"));
        call(&*bounded, &c, "release", vec![]).unwrap();
    }

    #[test]
    fn semaphore_wakes_a_waiter() {
        let sem = create("Semaphore", vec![int(0)], &[]).unwrap();
        let other = Arc::clone(&sem);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            call(&*other, &TestCaller::new(2), "release", vec![]).unwrap();
        });
        assert_eq!(
            call(&*sem, &TestCaller::new(1), "acquire", vec![T, int(5)]).unwrap(),
            T
        );
        thread.join().unwrap();
    }
}
