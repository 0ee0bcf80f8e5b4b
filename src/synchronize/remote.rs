//! What the synchronization primitives need of a managed object: the methods Python's
//! proxies call (`AcquirerProxy`, `ConditionProxy`, `EventProxy`, `BarrierProxy`).
//! `managers` implements these traits over its connection.
//!
//! Every method fails with the kinds the local primitive uses (`Timeout` when a wait
//! ends unsuccessfully, `Interrupted` after `pc_interrupt()`, `NotOwner`, `Value`,
//! `Broken`), and with `Eof` when the manager is gone, `Remote` for any other failure the
//! server reported.

use crate::deadline::Deadline;
use crate::error::Result;

/// A managed `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` (Python's
/// `AcquirerProxy`): the server knows which, and enforces recursion, ownership and bounds.
pub trait RemoteAcquirer: Send + Sync {
    /// Acquires, waiting until `deadline` (`Timeout`).
    fn acquire(&self, deadline: Deadline) -> Result<()>;
    /// Releases once (`NotOwner` for a lock the caller does not hold, `Value` for a
    /// bounded semaphore released too often).
    fn release(&self) -> Result<()>;
}

/// A managed `Condition`: acquire and release its lock, and wait and notify.
pub trait RemoteCondition: RemoteAcquirer {
    /// Waits until notified, releasing the lock meanwhile and holding it again on return
    /// in every case; `Timeout` when not notified by `deadline`.
    fn wait(&self, deadline: Deadline) -> Result<()>;
    /// Wakes at most `n` waiters.
    fn notify(&self, n: usize) -> Result<()>;
    fn notify_all(&self) -> Result<()>;
}

/// A managed `Event`.
pub trait RemoteEvent: Send + Sync {
    fn set(&self) -> Result<()>;
    fn clear(&self) -> Result<()>;
    fn is_set(&self) -> Result<bool>;
    /// Waits until the flag is set; `Timeout` when it is still clear at `deadline`.
    fn wait(&self, deadline: Deadline) -> Result<()>;
}

/// A managed `Barrier` (its number of parties is fixed at creation and kept locally).
pub trait RemoteBarrier: Send + Sync {
    /// Waits until every party arrived; returns this waiter's arrival index. `Broken`
    /// when the barrier is or becomes broken; `Timeout` at `deadline`, which breaks it.
    fn wait(&self, deadline: Deadline) -> Result<usize>;
    fn abort(&self) -> Result<()>;
    fn reset(&self) -> Result<()>;
    fn n_waiting(&self) -> Result<usize>;
    fn broken(&self) -> Result<bool>;
}

/// For tests here and of the C functions: a manager's primitive in this process.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::backing::DropCount;
    use crate::error::{Error, ErrorKind};

    /// A manager's primitive in this process: it logs each call and fails every wait,
    /// acquire and change with `fail`, if set.
    #[derive(Default)]
    pub(crate) struct FakePrimitive {
        log: Arc<Mutex<Vec<&'static str>>>,
        fail: Option<ErrorKind>,
        drops: DropCount,
    }

    /// What a test keeps of a fake it gave away: its log and its drop count.
    pub(crate) struct Watch {
        log: Arc<Mutex<Vec<&'static str>>>,
        pub(crate) drops: Arc<AtomicUsize>,
    }

    impl Watch {
        pub(crate) fn calls(&self) -> Vec<&'static str> {
            self.log.lock().unwrap().clone()
        }
    }

    /// A fake that fails with `fail` (if set), and what the test keeps of it.
    pub(crate) fn fake(fail: Option<ErrorKind>) -> (Box<FakePrimitive>, Watch) {
        let fake = FakePrimitive {
            fail,
            ..FakePrimitive::default()
        };
        let watch = Watch {
            log: fake.log.clone(),
            drops: fake.drops.counter(),
        };
        (Box::new(fake), watch)
    }

    impl FakePrimitive {
        fn call(&self, name: &'static str) -> Result<()> {
            self.log.lock().unwrap().push(name);
            match self.fail {
                Some(kind) => Err(Error::new(kind, name)),
                None => Ok(()),
            }
        }
    }

    impl RemoteAcquirer for FakePrimitive {
        fn acquire(&self, _: Deadline) -> Result<()> {
            self.call("acquire")
        }
        fn release(&self) -> Result<()> {
            self.call("release")
        }
    }

    impl RemoteCondition for FakePrimitive {
        fn wait(&self, _: Deadline) -> Result<()> {
            self.call("wait")
        }
        fn notify(&self, _: usize) -> Result<()> {
            self.call("notify")
        }
        fn notify_all(&self) -> Result<()> {
            self.call("notify_all")
        }
    }

    impl RemoteEvent for FakePrimitive {
        fn set(&self) -> Result<()> {
            self.call("set")
        }
        fn clear(&self) -> Result<()> {
            self.call("clear")
        }
        fn is_set(&self) -> Result<bool> {
            self.call("is_set").map(|()| true)
        }
        fn wait(&self, _: Deadline) -> Result<()> {
            self.call("wait")
        }
    }

    impl RemoteBarrier for FakePrimitive {
        fn wait(&self, _: Deadline) -> Result<usize> {
            self.call("wait").map(|()| 1)
        }
        fn abort(&self) -> Result<()> {
            self.call("abort")
        }
        fn reset(&self) -> Result<()> {
            self.call("reset")
        }
        fn n_waiting(&self) -> Result<usize> {
            self.call("n_waiting").map(|()| 2)
        }
        fn broken(&self) -> Result<bool> {
            self.call("broken").map(|()| false)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::fake::fake;
    use super::*;
    use crate::error::ErrorKind;
    use crate::synchronize::{Acquired, Barrier, Condition, Event, Lock, Semaphore};

    fn now() -> Deadline {
        Deadline::from_timeout(0.0).unwrap()
    }

    #[test]
    fn a_managed_lock_forwards_and_no_local_condition_takes_it() {
        let (remote, watch) = fake(None);
        let lock = Lock::remote(remote, true);
        assert!(lock.is_recursive());
        assert_eq!(lock.acquire(now()).unwrap(), Acquired::Clean);
        lock.release().unwrap();
        assert_eq!(watch.calls(), ["acquire", "release"]);
        let err = Condition::new(Some(lock.clone())).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotSupported);
        assert!(err.message().contains("pc_manager_condition"));
        drop(lock);
        assert_eq!(watch.drops.load(SeqCst), 1);

        let (remote, _) = fake(Some(ErrorKind::Timeout));
        let lock = Lock::remote(remote, false);
        assert!(!lock.is_recursive());
        assert_eq!(lock.acquire(now()).unwrap_err().kind(), ErrorKind::Timeout);
    }

    #[test]
    fn a_managed_semaphore_forwards_and_has_no_value() {
        let (remote, watch) = fake(None);
        let semaphore = Semaphore::remote(remote);
        semaphore.acquire(now()).unwrap();
        semaphore.release().unwrap();
        let err = semaphore.value().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported);
        assert_eq!(watch.calls(), ["acquire", "release"]);
        drop(semaphore);
        assert_eq!(watch.drops.load(SeqCst), 1);
        let (remote, _) = fake(Some(ErrorKind::Value));
        let bounded = Semaphore::remote(remote);
        assert_eq!(bounded.release().unwrap_err().kind(), ErrorKind::Value);
    }

    #[test]
    fn a_managed_condition_forwards_and_asks_the_predicate_here() {
        let (remote, watch) = fake(None);
        let cond = Condition::remote(remote);
        assert_eq!(cond.acquire(now()).unwrap(), Acquired::Clean);
        assert_eq!(cond.wait(now()).unwrap(), Acquired::Clean);
        cond.notify(2).unwrap();
        cond.notify_all().unwrap();
        cond.release().unwrap();
        assert_eq!(
            watch.calls(),
            ["acquire", "wait", "notify", "notify_all", "release"]
        );
        // True after two wake-ups: two waits.
        let asked = AtomicUsize::new(0);
        let mut predicate = || asked.fetch_add(1, SeqCst) == 2;
        cond.wait_for(&mut predicate, Deadline::Never).unwrap();
        assert_eq!(watch.calls()[5..], ["wait", "wait"]);
        // True at once: no wait at all.
        cond.wait_for(&mut || true, Deadline::Never).unwrap();
        assert_eq!(watch.calls().len(), 7);
        drop(cond);
        assert_eq!(watch.drops.load(SeqCst), 1);

        let (remote, watch) = fake(Some(ErrorKind::Timeout));
        let cond = Condition::remote(remote);
        let err = cond.wait_for(&mut || false, Deadline::Never).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.message().contains("predicate still false"));
        assert_eq!(watch.calls(), ["wait"]);
        let err = cond.wait_for(&mut || false, now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(watch.calls(), ["wait"], "a passed deadline asks no wait");
    }

    #[test]
    fn a_managed_event_forwards() {
        let (remote, watch) = fake(None);
        let event = Event::remote(remote);
        event.set().unwrap();
        assert!(event.is_set().unwrap());
        event.clear().unwrap();
        event.wait(now()).unwrap();
        assert_eq!(watch.calls(), ["set", "is_set", "clear", "wait"]);
        drop(event);
        assert_eq!(watch.drops.load(SeqCst), 1);
        let (remote, _) = fake(Some(ErrorKind::Eof));
        let event = Event::remote(remote);
        assert_eq!(event.is_set().unwrap_err().kind(), ErrorKind::Eof);
    }

    #[test]
    fn a_managed_barrier_forwards_and_knows_its_parties() {
        let (remote, watch) = fake(None);
        let barrier = Barrier::remote(remote, 3);
        assert_eq!(barrier.parties(), 3);
        assert_eq!(barrier.wait(now()).unwrap(), 1);
        assert_eq!(barrier.n_waiting().unwrap(), 2);
        assert!(!barrier.broken().unwrap());
        barrier.abort().unwrap();
        barrier.reset().unwrap();
        assert_eq!(
            watch.calls(),
            ["wait", "n_waiting", "broken", "abort", "reset"]
        );
        drop(barrier);
        assert_eq!(watch.drops.load(SeqCst), 1);
        let (remote, _) = fake(Some(ErrorKind::Broken));
        let barrier = Barrier::remote(remote, 2);
        assert_eq!(barrier.wait(now()).unwrap_err().kind(), ErrorKind::Broken);
    }
}
