//! Typeids `Queue` and `JoinableQueue`: Python's `queue.Queue(maxsize=0)` (both typeids
//! serve the same class), with task counting for `join` and 3.13's `shutdown`.
//!
//! Arguments are checked where Python checks them: a negative timeout is a `ValueError`
//! only when the call would actually wait on it.

use std::collections::VecDeque;
use std::sync::Arc;

use super::args::{flag, integer, method_args, queue_timeout, value_error};
use super::blocking::{abandoned, deadline, Shared, Waited};
use super::semantics::no_attribute;
use super::{Caller, Outcome, Raised, Referent};
use crate::managers::pickle::Value;

/// The methods of `queue.Queue` (3.13's list, with `shutdown`).
pub(crate) const EXPOSED: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "join",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
    "shutdown",
];

struct State {
    items: VecDeque<Value>,
    /// Items put and not yet marked done (`task_done`): `join` waits for zero.
    unfinished: u64,
    shut_down: bool,
}

pub(crate) struct Queue {
    /// Zero or negative: unbounded.
    maxsize: i64,
    shared: Shared<State>,
}

/// `Queue(maxsize=0)`.
pub(crate) fn create(
    args: Vec<Value>,
    kwds: Vec<(String, Value)>,
) -> Result<Arc<dyn Referent>, Raised> {
    let ([], [maxsize]) = method_args("Queue.__init__", [], ["maxsize"], args, kwds)?;
    let maxsize = maxsize.map_or(Ok(0), |m| integer(&m))?;
    Ok(Arc::new(Queue::new(maxsize)))
}

fn exception(name: &str) -> Raised {
    Raised::new("queue", name, vec![])
}

impl Queue {
    fn new(maxsize: i64) -> Queue {
        let state = State {
            items: VecDeque::new(),
            unfinished: 0,
            shut_down: false,
        };
        Queue {
            maxsize,
            shared: Shared::new(state),
        }
    }

    fn is_full(&self, state: &State) -> bool {
        self.maxsize > 0 && state.items.len() as u64 >= self.maxsize as u64
    }

    /// Python's `put(item, block, timeout)`.
    fn put(
        &self,
        caller: &dyn Caller,
        item: Value,
        block: bool,
        timeout: Option<Value>,
    ) -> Result<Value, Raised> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(exception("ShutDown"));
        }
        if self.is_full(&state) {
            if !block {
                return Err(exception("Full"));
            }
            let until = deadline(queue_timeout(timeout)?);
            let waited;
            (state, waited) = self
                .shared
                .wait_until(caller, state, until, |s| s.shut_down || !self.is_full(s));
            match waited {
                Waited::Abandoned => return Err(abandoned()),
                Waited::TimedOut => return Err(exception("Full")),
                Waited::Ready if state.shut_down => return Err(exception("ShutDown")),
                Waited::Ready => {}
            }
        }
        state.items.push_back(item);
        state.unfinished += 1;
        drop(state);
        self.shared.notify();
        Ok(Value::None)
    }

    /// Python's `get(block, timeout)`.
    fn get(
        &self,
        caller: &dyn Caller,
        block: bool,
        timeout: Option<Value>,
    ) -> Result<Value, Raised> {
        let mut state = self.shared.lock();
        if state.shut_down && state.items.is_empty() {
            return Err(exception("ShutDown"));
        }
        // Python validates a blocking call's timeout even when an item is there.
        let until = if block {
            deadline(queue_timeout(timeout)?)
        } else {
            None
        };
        if state.items.is_empty() {
            if !block {
                return Err(exception("Empty"));
            }
            let waited;
            (state, waited) = self
                .shared
                .wait_until(caller, state, until, |s| s.shut_down || !s.items.is_empty());
            match waited {
                Waited::Abandoned => return Err(abandoned()),
                Waited::TimedOut => return Err(exception("Empty")),
                Waited::Ready if state.items.is_empty() => return Err(exception("ShutDown")),
                Waited::Ready => {}
            }
        }
        let item = state.items.pop_front().unwrap_or(Value::None);
        drop(state);
        self.shared.notify();
        Ok(item)
    }

    fn method(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Value, Raised> {
        match method {
            "put" => {
                let ([item], [block, timeout]) =
                    method_args("Queue.put", ["item"], ["block", "timeout"], args, kwds)?;
                self.put(caller, item, flag(block, true), timeout)
            }
            "put_nowait" => {
                let ([item], []) = method_args("Queue.put_nowait", ["item"], [], args, kwds)?;
                self.put(caller, item, false, None)
            }
            "get" => {
                let ([], [block, timeout]) =
                    method_args("Queue.get", [], ["block", "timeout"], args, kwds)?;
                self.get(caller, flag(block, true), timeout)
            }
            "get_nowait" => {
                method_args("Queue.get_nowait", [], [], args, kwds)?;
                self.get(caller, false, None)
            }
            "qsize" => {
                method_args("Queue.qsize", [], [], args, kwds)?;
                Ok(Value::Int(self.shared.lock().items.len() as i64))
            }
            "empty" => {
                method_args("Queue.empty", [], [], args, kwds)?;
                Ok(Value::Bool(self.shared.lock().items.is_empty()))
            }
            "full" => {
                method_args("Queue.full", [], [], args, kwds)?;
                Ok(Value::Bool(self.is_full(&self.shared.lock())))
            }
            "task_done" => {
                method_args("Queue.task_done", [], [], args, kwds)?;
                let mut state = self.shared.lock();
                if state.unfinished == 0 {
                    return Err(value_error("task_done() called too many times"));
                }
                state.unfinished -= 1;
                drop(state);
                self.shared.notify();
                Ok(Value::None)
            }
            "join" => {
                method_args("Queue.join", [], [], args, kwds)?;
                let state = self.shared.lock();
                match self
                    .shared
                    .wait_until(caller, state, None, |s| s.unfinished == 0)
                    .1
                {
                    Waited::Abandoned => Err(abandoned()),
                    _ => Ok(Value::None),
                }
            }
            "shutdown" => {
                // Later puts fail; gets fail once the queue is empty. `immediate` empties
                // it now, counting its items as done, which releases `join`.
                let ([], [immediate]) =
                    method_args("Queue.shutdown", [], ["immediate"], args, kwds)?;
                let mut state = self.shared.lock();
                state.shut_down = true;
                if flag(immediate, false) {
                    let dropped = state.items.len() as u64;
                    state.items.clear();
                    state.unfinished = state.unfinished.saturating_sub(dropped);
                }
                drop(state);
                self.shared.notify();
                Ok(Value::None)
            }
            _ => Err(no_attribute("Queue", method)),
        }
    }
}

impl Referent for Queue {
    fn call(
        &self,
        caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, Raised> {
        self.method(caller, method, args, kwds).map(Outcome::Return)
    }

    /// A queue cannot be pickled (it holds locks).
    fn repr(&self) -> String {
        format!(
            "<queue.Queue object at {:#x}>",
            self as *const Self as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::blocking::SLICE;
    use super::super::testing::{call, call_kw, create, exc, int, s, TestCaller};
    use super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    fn queue(maxsize: i64) -> (Arc<dyn Referent>, TestCaller) {
        (
            create("Queue", vec![int(maxsize)], &[]).unwrap(),
            TestCaller::new(1),
        )
    }

    #[test]
    fn fifo_and_sizes() {
        let (q, c) = queue(2);
        assert_eq!(call(&*q, &c, "empty", vec![]).unwrap(), Value::Bool(true));
        call(&*q, &c, "put", vec![int(1)]).unwrap();
        call(&*q, &c, "put_nowait", vec![s("two")]).unwrap();
        assert_eq!(call(&*q, &c, "full", vec![]).unwrap(), Value::Bool(true));
        assert_eq!(call(&*q, &c, "qsize", vec![]).unwrap(), int(2));
        assert_eq!(
            call(&*q, &c, "put_nowait", vec![int(3)]).unwrap_err(),
            exception("Full")
        );
        assert_eq!(
            call_kw(
                &*q,
                &c,
                "put",
                vec![int(3)],
                &[("block", Value::Bool(false))]
            )
            .unwrap_err(),
            exception("Full")
        );
        assert_eq!(call(&*q, &c, "get", vec![]).unwrap(), int(1));
        assert_eq!(call(&*q, &c, "get_nowait", vec![]).unwrap(), s("two"));
        assert_eq!(
            call(&*q, &c, "get_nowait", vec![]).unwrap_err(),
            exception("Empty")
        );
        assert_eq!(
            call(&*q, &c, "get", vec![Value::Bool(false)]).unwrap_err(),
            exception("Empty")
        );
        assert!(q.value().is_none());
        assert!(q.repr().starts_with("<queue.Queue object at 0x"));
    }

    #[test]
    fn timeouts_as_python() {
        let (q, c) = queue(1);
        let start = Instant::now();
        let err = call_kw(&*q, &c, "get", vec![], &[("timeout", Value::Float(0.05))]).unwrap_err();
        assert_eq!(err, exception("Empty"));
        assert!(start.elapsed() >= Duration::from_millis(50));
        let err = call_kw(&*q, &c, "get", vec![], &[("timeout", int(-1))]).unwrap_err();
        assert_eq!(
            err,
            exc("ValueError", "'timeout' must be a non-negative number")
        );
        call(&*q, &c, "put", vec![int(1)]).unwrap();
        let err = call(
            &*q,
            &c,
            "put",
            vec![int(2), Value::Bool(true), Value::Float(0.02)],
        )
        .unwrap_err();
        assert_eq!(err, exception("Full"));
        let err = call_kw(&*q, &c, "put", vec![int(2)], &[("timeout", int(-1))]).unwrap_err();
        assert_eq!(
            err,
            exc("ValueError", "'timeout' must be a non-negative number")
        );
        let (unbounded, c) = queue(0);
        call_kw(
            &*unbounded,
            &c,
            "put",
            vec![int(1)],
            &[("timeout", int(-1))],
        )
        .unwrap();
        let err = call(&*q, &c, "get", vec![int(1), int(2), int(3)]).unwrap_err();
        assert_eq!(
            err,
            exc(
                "TypeError",
                "Queue.get() takes from 1 to 3 positional arguments but 4 were given"
            )
        );
    }

    #[test]
    fn get_woken_by_put_from_another_thread() {
        let (q, c) = queue(0);
        let putter = Arc::clone(&q);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            call(&*putter, &TestCaller::new(2), "put", vec![s("hello")]).unwrap();
        });
        let start = Instant::now();
        assert_eq!(
            call_kw(&*q, &c, "get", vec![], &[("timeout", int(5))]).unwrap(),
            s("hello")
        );
        assert!(start.elapsed() < Duration::from_millis(500));
        thread.join().unwrap();
    }

    #[test]
    fn gone_caller_stops_a_blocked_get() {
        let (q, _) = queue(0);
        let caller = Arc::new(TestCaller::new(7));
        let hang_up = Arc::clone(&caller);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            hang_up.hang_up();
        });
        let start = Instant::now();
        assert!(call(&*q, &caller, "get", vec![]).is_err());
        assert!(start.elapsed() < Duration::from_millis(20) + SLICE + Duration::from_millis(100));
        thread.join().unwrap();
    }

    #[test]
    fn join_and_task_done() {
        let (q, c) = queue(0);
        let err = call(&*q, &c, "task_done", vec![]).unwrap_err();
        assert_eq!(err, exc("ValueError", "task_done() called too many times"));
        call(&*q, &c, "put", vec![int(1)]).unwrap();
        call(&*q, &c, "get", vec![]).unwrap();
        let worker = Arc::clone(&q);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            call(&*worker, &TestCaller::new(2), "task_done", vec![]).unwrap();
        });
        call(&*q, &c, "join", vec![]).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn shutdown() {
        let (q, c) = queue(0);
        call(&*q, &c, "put", vec![int(1)]).unwrap();
        call(&*q, &c, "shutdown", vec![]).unwrap();
        assert_eq!(
            call(&*q, &c, "put", vec![int(2)]).unwrap_err(),
            exception("ShutDown")
        );
        assert_eq!(call(&*q, &c, "get", vec![]).unwrap(), int(1));
        assert_eq!(
            call(&*q, &c, "get", vec![]).unwrap_err(),
            exception("ShutDown")
        );

        let (q, c) = queue(0);
        call(&*q, &c, "put", vec![int(1)]).unwrap();
        let waiter = Arc::clone(&q);
        let joiner = thread::spawn(move || call(&*waiter, &TestCaller::new(2), "join", vec![]));
        let getter_q = Arc::clone(&q);
        thread::sleep(Duration::from_millis(20));
        call_kw(
            &*q,
            &c,
            "shutdown",
            vec![],
            &[("immediate", Value::Bool(true))],
        )
        .unwrap();
        assert_eq!(joiner.join().unwrap().unwrap(), Value::None);
        assert_eq!(
            call(&*getter_q, &c, "get", vec![]).unwrap_err(),
            exception("ShutDown")
        );
    }

    #[test]
    fn shutdown_wakes_blocked_getters() {
        let (q, c) = queue(0);
        let other = Arc::clone(&q);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            call(&*other, &TestCaller::new(2), "shutdown", vec![]).unwrap();
        });
        assert_eq!(
            call(&*q, &c, "get", vec![]).unwrap_err(),
            exception("ShutDown")
        );
        thread.join().unwrap();
    }
}
