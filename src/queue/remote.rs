//! A manager's queue: what `Queue` needs of it ([`RemoteQueue`], which `managers`
//! implements), and the items a get took from the server but could not hand out.
//!
//! A managed queue carries any Python value, while `pc_queue_get` returns bytes. A get
//! that meets another kind, or whose buffer is too short, must not lose the item: it is
//! held here, and the next get on this handle returns it before asking the server. Held
//! items belong to the process that took them: a child forked meanwhile does not see
//! them (its parent still returns them), so no item is delivered twice.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::Take;
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;
use crate::synchronize::owner;

/// A manager's `Queue` (Python's `queue.Queue` behind a proxy). Every method fails with
/// `Eof` when the manager is gone, `Interrupted` after `pc_interrupt()`, `Remote` for any
/// other failure the server reported.
pub trait RemoteQueue: Send + Sync {
    /// Puts `item`, waiting until `deadline` for room in a bounded queue (`Full`).
    fn put(&self, item: Item, deadline: Deadline) -> Result<()>;
    /// Takes the oldest item, waiting until `deadline` for one (`Empty`).
    fn get(&self, deadline: Deadline) -> Result<Item>;
    fn qsize(&self) -> Result<usize>;
    fn empty(&self) -> Result<bool>;
    fn full(&self) -> Result<bool>;
    /// `Value` when called more times than items were put.
    fn task_done(&self) -> Result<()>;
    /// Waits until every item put was got and marked done (`Timeout` at `deadline`).
    fn join(&self, deadline: Deadline) -> Result<()>;
}

/// A managed queue as this handle sees it: the server's queue, after the items held here.
pub(super) struct ManagedQueue {
    pub(super) remote: Box<dyn RemoteQueue>,
    /// As the server said at creation.
    pub(super) maxsize: usize,
    held: Mutex<Held>,
}

/// Items taken from the server that no get could return yet, oldest first, and the
/// process that took them (its owner id).
#[derive(Default)]
struct Held {
    taker: u64,
    items: VecDeque<Item>,
}

impl ManagedQueue {
    pub(super) fn new(remote: Box<dyn RemoteQueue>, maxsize: usize) -> ManagedQueue {
        ManagedQueue {
            remote,
            maxsize,
            held: Mutex::new(Held::default()),
        }
    }

    /// Puts a message: a Python `bytes`.
    #[cold]
    pub(super) fn put_bytes(&self, message: &[u8], deadline: Deadline) -> Result<()> {
        self.remote.put(Item::Bytes(message.to_vec()), deadline)
    }

    /// This process's held items (a forked child drops its parent's).
    fn held(&self) -> MutexGuard<'_, Held> {
        // The deque is never left half-changed: a panic elsewhere does not spoil it.
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let me = owner::me().id;
        if held.taker != me {
            held.taker = me;
            held.items.clear();
        }
        held
    }

    /// The next item: a held one, else the server's (waiting until `deadline`). The lock
    /// is not kept while the server is asked, so other threads' gets are not held up.
    pub(super) fn get_item(&self, deadline: Deadline) -> Result<Item> {
        let held = self.held().items.pop_front();
        match held {
            Some(item) => Ok(item),
            None => self.remote.get(deadline),
        }
    }

    /// Offers the next item's bytes to `take`, which consumes them or leaves them; an item
    /// of another kind is `Type`. An item not consumed is held for the next get.
    pub(super) fn get_bytes<T>(
        &self,
        deadline: Deadline,
        mut take: impl FnMut(&[u8]) -> Take<T>,
    ) -> Result<T> {
        let held = self.held().items.pop_front();
        let was_held = held.is_some();
        let item = match held {
            Some(item) => item,
            None => self.remote.get(deadline)?,
        };
        let outcome = match &item {
            Item::Bytes(bytes) => match take(bytes) {
                Take::Consume(value) => return Ok(value),
                Take::Leave(value) => Ok(value),
            },
            other => Err(Error::new(
                ErrorKind::Type,
                format!(
                    "the queue's next item is of type {}, not bytes: pc_queue_get_item \
                     reads it (it is kept for the next get)",
                    other.type_name()
                ),
            )),
        };
        // A held item was the oldest: it goes back in front. One just taken from the
        // server is newer than any item another thread held meanwhile.
        let items = &mut self.held().items;
        match was_held {
            true => items.push_front(item),
            false => items.push_back(item),
        }
        outcome
    }

    /// Items in the queue: the server's and those held here.
    pub(super) fn qsize(&self) -> Result<usize> {
        let held = self.held().items.len();
        Ok(self.remote.qsize()? + held)
    }

    pub(super) fn is_empty(&self) -> Result<bool> {
        let none_held = self.held().items.is_empty();
        match none_held {
            true => self.remote.empty(),
            false => Ok(false),
        }
    }
}

/// For tests here and of the C functions: a manager's queue in this process.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    use super::*;
    use crate::backing::DropCount;

    /// A manager's queue in this process: its items, a count of the calls that change
    /// nothing here (task_done, join), and whether the manager is gone.
    #[derive(Default)]
    pub(crate) struct FakeQueue {
        pub(crate) items: Mutex<VecDeque<Item>>,
        pub(crate) calls: Arc<AtomicUsize>,
        pub(crate) drops: DropCount,
        pub(crate) gone: bool,
    }

    impl FakeQueue {
        pub(crate) fn with(items: Vec<Item>) -> FakeQueue {
            FakeQueue {
                items: Mutex::new(items.into()),
                ..FakeQueue::default()
            }
        }

        fn alive(&self) -> Result<()> {
            match self.gone {
                true => Err(Error::new(ErrorKind::Eof, "the manager is gone")),
                false => Ok(()),
            }
        }
    }

    impl RemoteQueue for FakeQueue {
        fn put(&self, item: Item, _: Deadline) -> Result<()> {
            self.alive()?;
            self.items.lock().unwrap().push_back(item);
            Ok(())
        }
        fn get(&self, _: Deadline) -> Result<Item> {
            self.alive()?;
            let item = self.items.lock().unwrap().pop_front();
            item.ok_or_else(|| Error::new(ErrorKind::Empty, "empty"))
        }
        fn qsize(&self) -> Result<usize> {
            self.alive()?;
            Ok(self.items.lock().unwrap().len())
        }
        fn empty(&self) -> Result<bool> {
            Ok(self.qsize()? == 0)
        }
        fn full(&self) -> Result<bool> {
            Ok(self.qsize()? >= 2)
        }
        fn task_done(&self) -> Result<()> {
            self.calls.fetch_add(1, SeqCst);
            self.alive()
        }
        fn join(&self, _: Deadline) -> Result<()> {
            self.calls.fetch_add(1, SeqCst);
            self.alive()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    use super::fake::FakeQueue;
    use super::*;
    use crate::connection::RecvInto;
    use crate::queue::Queue;

    fn now() -> Deadline {
        Deadline::from_timeout(0.0).unwrap()
    }

    fn managed(items: Vec<Item>, joinable: bool) -> Arc<Queue> {
        Queue::remote(Box::new(FakeQueue::with(items)), joinable, 2)
    }

    #[test]
    fn forwards_to_the_manager() {
        let fake = FakeQueue::default();
        let calls = fake.calls.clone();
        let q = Queue::remote(Box::new(fake), true, 2);
        assert_eq!(q.maxsize(), 2);
        assert!(q.is_empty().unwrap());
        q.put(b"one", now()).unwrap();
        q.put_item(Item::Str("two".into()), now()).unwrap();
        assert_eq!(q.qsize().unwrap(), 2);
        assert!(q.is_full().unwrap());
        assert_eq!(q.get(now()).unwrap(), b"one");
        assert_eq!(q.get_item(now()).unwrap(), Item::Str("two".into()));
        assert_eq!(q.get_item(now()).unwrap_err().kind(), ErrorKind::Empty);
        q.task_done().unwrap();
        q.join(now()).unwrap();
        assert_eq!(calls.load(SeqCst), 2);
        q.close();
        assert_eq!(q.put(b"x", now()).unwrap_err().kind(), ErrorKind::Closed);
        let plain = managed(vec![], false);
        let err = plain.task_done().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn a_get_that_meets_another_kind_keeps_it() {
        let q = managed(vec![Item::Int(7), Item::Bytes(b"b".to_vec())], false);
        for _ in 0..2 {
            let err = q.get(now()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Type);
            assert!(err.message().contains("int"), "{}", err.message());
            assert!(err.message().contains("pc_queue_get_item"));
        }
        let mut buf = [0u8; 4];
        let err = q.get_into(&mut buf, now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Type);
        assert_eq!(q.qsize().unwrap(), 2);
        assert_eq!(q.get_item(now()).unwrap(), Item::Int(7));
        assert_eq!(q.get(now()).unwrap(), b"b");
    }

    #[test]
    fn a_get_into_too_short_keeps_the_message() {
        let q = managed(vec![Item::Bytes(b"0123456789".to_vec())], false);
        let mut small = [0u8; 4];
        let got = q.get_into(&mut small, now()).unwrap();
        assert_eq!(got, RecvInto::TooShort(10));
        assert!(!q.is_empty().unwrap());
        assert_eq!(q.qsize().unwrap(), 1);
        let mut room = [0u8; 16];
        assert_eq!(q.get_into(&mut room, now()).unwrap(), RecvInto::Fits(10));
        assert_eq!(&room[..10], b"0123456789");
        assert!(q.is_empty().unwrap());
    }

    #[test]
    fn held_items_come_first_in_their_order() {
        let fake = FakeQueue::with(vec![Item::None, Item::Float(1.5)]);
        let q = Queue::remote(Box::new(fake), false, 0);
        assert_eq!(q.get(now()).unwrap_err().kind(), ErrorKind::Type);
        q.put(b"later", now()).unwrap();
        assert_eq!(q.get_item(now()).unwrap(), Item::None);
        assert_eq!(q.get_item(now()).unwrap(), Item::Float(1.5));
        assert_eq!(q.get(now()).unwrap(), b"later");
    }

    #[test]
    fn a_forked_child_does_not_see_its_parents_held_items() {
        let fake = FakeQueue::with(vec![Item::Int(1), Item::Int(2)]);
        let q = Queue::remote(Box::new(fake), false, 0);
        assert_eq!(q.get(now()).unwrap_err().kind(), ErrorKind::Type);
        // SAFETY: the child only reads the queue and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // The child's fake still holds item 2 (its copy of the parent's memory).
            let code = match (q.qsize(), q.get_item(now())) {
                (Ok(1), Ok(Item::Int(2))) => 0,
                _ => 1,
            };
            // SAFETY: leave the forked test child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(q.get_item(now()).unwrap(), Item::Int(1));
    }

    #[test]
    fn a_gone_manager_is_eof_and_dropping_drops_the_proxy() {
        let fake = FakeQueue {
            gone: true,
            ..FakeQueue::default()
        };
        let drops = fake.drops.counter();
        let q = Queue::remote(Box::new(fake), true, 0);
        for err in [
            q.put(b"x", now()).unwrap_err(),
            q.get(now()).unwrap_err(),
            q.qsize().unwrap_err(),
            q.is_empty().unwrap_err(),
            q.is_full().unwrap_err(),
            q.task_done().unwrap_err(),
            q.join(now()).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::Eof);
        }
        assert_eq!(drops.load(SeqCst), 0);
        drop(q);
        assert_eq!(drops.load(SeqCst), 1);
    }
}
