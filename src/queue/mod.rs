//! `Queue` and `JoinableQueue`: multi-producer, multi-consumer FIFOs shared between
//! processes. A local queue lives in this machine's shared memory (`local`); a manager's
//! queue (`remote`) is used through the same type, so C reaches both through one handle.
//!
//! A local queue carries byte messages; a managed one carries any item (a Python peer
//! puts `str` and `int`), of which the byte-oriented gets return the `bytes`. `close` and
//! `join_thread` mean the same for both: this process puts no more.

mod bell;
mod local;
mod remote;
mod ring;
mod spill;

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use crate::backing::Backing;
use crate::connection::RecvInto;
use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::synchronize::owner;
pub(crate) use local::LocalQueue;
#[cfg(test)]
pub(crate) use remote::fake::FakeQueue;
use remote::ManagedQueue;
pub use remote::RemoteQueue;

/// The largest `maxsize` (a count of messages, like the semaphore behind Python's).
pub const MAX_SIZE: usize = i32::MAX as usize;

/// What a consumer does with the message it found.
enum Take<T> {
    /// Takes it out of the queue.
    Consume(T),
    /// Leaves it for the next get.
    Leave(T),
}

/// A `Queue` or `JoinableQueue`, local or managed: a handle made before a fork names the
/// same queue in the child.
pub struct Queue {
    joinable: bool,
    /// The owner id of the process that closed the queue (0: open). `close` is per
    /// process: a forked child has another id, so the queue is open there.
    closed_by: AtomicU64,
    backing: Backing<LocalQueue, ManagedQueue>,
}

impl Queue {
    fn with(joinable: bool, backing: Backing<LocalQueue, ManagedQueue>) -> Arc<Queue> {
        Arc::new(Queue {
            joinable,
            closed_by: AtomicU64::new(0),
            backing,
        })
    }

    /// A queue holding at most `maxsize` messages (0: unbounded); `joinable` adds
    /// `task_done`/`join`.
    pub fn new(maxsize: usize, joinable: bool) -> Result<Arc<Queue>> {
        Ok(Queue::with(
            joinable,
            Backing::Local(LocalQueue::new(maxsize)?),
        ))
    }

    /// A manager's queue, used through `remote`; `joinable` and `maxsize` as the server
    /// made it (the server enforces `maxsize`).
    pub fn remote(remote: Box<dyn RemoteQueue>, joinable: bool, maxsize: usize) -> Arc<Queue> {
        Queue::with(
            joinable,
            Backing::Remote(ManagedQueue::new(remote, maxsize)),
        )
    }

    /// The `maxsize` given at creation (0: unbounded).
    pub fn maxsize(&self) -> usize {
        match &self.backing {
            Backing::Local(queue) => queue.maxsize(),
            Backing::Remote(managed) => managed.maxsize,
        }
    }

    pub fn is_joinable(&self) -> bool {
        self.joinable
    }

    /// Puts one message, waiting until `deadline` for a free slot in a bounded queue
    /// (`Full`). An unbounded queue never waits. `Closed` after `close` in this process.
    #[inline(always)]
    pub fn put(&self, message: &[u8], deadline: Deadline) -> Result<()> {
        self.check_open()?;
        match &self.backing {
            Backing::Local(queue) => queue.put(message, deadline),
            Backing::Remote(managed) => managed.put_bytes(message, deadline),
        }
    }

    /// Puts `messages` in order (the seed's `putMany`): a local queue takes as many as it
    /// has room for in each hand-off of its put side, a managed one is sent them one by
    /// one. Returns how many went in, with the error that stopped the rest (`Full` at
    /// `deadline` for a bounded queue).
    pub fn put_many(&self, messages: &[&[u8]], deadline: Deadline) -> (usize, Result<()>) {
        if let Err(err) = self.check_open() {
            return (0, Err(err));
        }
        match &self.backing {
            Backing::Local(queue) => queue.put_many(messages, deadline),
            Backing::Remote(managed) => {
                for (put, message) in messages.iter().enumerate() {
                    if let Err(err) = managed.put_bytes(message, deadline) {
                        return (put, Err(err));
                    }
                }
                (messages.len(), Ok(()))
            }
        }
    }

    /// Puts any item in a managed queue; a local queue carries bytes only (`Type`).
    pub fn put_item(&self, item: Item, deadline: Deadline) -> Result<()> {
        match (&self.backing, item) {
            (Backing::Local(_), Item::Bytes(bytes)) => self.put(&bytes, deadline),
            (Backing::Local(_), other) => Err(Error::new(
                ErrorKind::Type,
                format!(
                    "a local queue carries bytes; a managed queue carries any item (this \
                     one is of type {})",
                    other.type_name()
                ),
            )),
            (Backing::Remote(managed), item) => {
                self.check_open()?;
                managed.remote.put(item, deadline)
            }
        }
    }

    /// Takes the next message, waiting until `deadline` for one (`Empty`). A managed
    /// queue's next item of another kind than bytes is `Type`, and kept for the next get.
    #[inline(always)]
    pub fn get(&self, deadline: Deadline) -> Result<Vec<u8>> {
        self.take(deadline, |bytes| Take::Consume(bytes.to_vec()))
    }

    /// Takes the next message into `buf` if it fits; otherwise leaves it in the queue and
    /// says how long it is. Other kinds: as `get`.
    #[inline(always)]
    pub fn get_into(&self, buf: &mut [u8], deadline: Deadline) -> Result<RecvInto> {
        self.take(deadline, |bytes| match buf.get_mut(..bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                Take::Consume(RecvInto::Fits(bytes.len()))
            }
            None => Take::Leave(RecvInto::TooShort(bytes.len())),
        })
    }

    /// Takes up to `max` (at least 1) messages: waits until `deadline` for the first
    /// (`Empty`), then takes those already in the queue, as many as `max`, without waiting.
    /// A local queue takes them in one hand-off of its get side. A managed queue stops
    /// before an item of another kind than bytes (`Type` if it is the first).
    pub fn get_many(&self, max: usize, deadline: Deadline) -> Result<Vec<Vec<u8>>> {
        if max == 0 {
            return Err(Error::invalid_argument(
                "max is 0: a get takes at least one",
            ));
        }
        match &self.backing {
            Backing::Local(queue) => queue.get_many(max, deadline, Interrupts::Honour),
            Backing::Remote(managed) => {
                let take = |bytes: &[u8]| Take::Consume(bytes.to_vec());
                let mut got = vec![managed.get_bytes(deadline, take)?];
                while got.len() < max {
                    match managed.get_bytes(Deadline::after(Duration::ZERO), take) {
                        Ok(message) => got.push(message),
                        Err(_) => break,
                    }
                }
                Ok(got)
            }
        }
    }

    /// Takes the next item of any kind (a local queue's are bytes).
    pub fn get_item(&self, deadline: Deadline) -> Result<Item> {
        match &self.backing {
            Backing::Local(_) => self.get(deadline).map(Item::Bytes),
            Backing::Remote(managed) => managed.get_item(deadline),
        }
    }

    /// Offers the next message to `take` (once), which consumes it or leaves it.
    #[inline(always)]
    fn take<T>(&self, deadline: Deadline, mut take: impl FnMut(&[u8]) -> Take<T>) -> Result<T> {
        match &self.backing {
            Backing::Local(queue) => {
                queue.get_with(deadline, Interrupts::Honour, |_, bytes| take(bytes))
            }
            Backing::Remote(managed) => managed.get_bytes(deadline, take),
        }
    }

    /// Messages in the queue: exact when no put or get is under way.
    pub fn qsize(&self) -> Result<usize> {
        match &self.backing {
            Backing::Local(queue) => Ok(queue.qsize()),
            Backing::Remote(managed) => managed.qsize(),
        }
    }

    pub fn is_empty(&self) -> Result<bool> {
        match &self.backing {
            Backing::Local(queue) => Ok(queue.is_empty()),
            Backing::Remote(managed) => managed.is_empty(),
        }
    }

    /// A bounded queue holding `maxsize` messages; never for an unbounded one.
    pub fn is_full(&self) -> Result<bool> {
        match &self.backing {
            Backing::Local(queue) => Ok(queue.is_full()),
            Backing::Remote(managed) => managed.remote.full(),
        }
    }

    /// This process puts no more (`put` is then `Closed`); it may still get.
    pub fn close(&self) {
        self.closed_by.store(owner::me().id, Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed_by.load(Acquire) == owner::me().id
    }

    #[inline(always)]
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::new(
                ErrorKind::Closed,
                "the queue was closed in this process",
            ));
        }
        Ok(())
    }

    /// Python's `join_thread`: waits until this process's puts are all in the queue. A
    /// put here is in the queue when it returns, so only the order of calls is checked.
    pub fn join_thread(&self) -> Result<()> {
        if !self.is_closed() {
            return Err(Error::wrong_state(
                "join_thread before close (Python asserts the same)",
            ));
        }
        Ok(())
    }

    fn joinable_only(&self, what: &str) -> Result<()> {
        if !self.joinable {
            return Err(Error::invalid_argument(format!(
                "{what} needs a joinable queue"
            )));
        }
        Ok(())
    }

    /// JoinableQueue: one task taken from the queue is finished. More calls than
    /// messages put is `Value`.
    pub fn task_done(&self) -> Result<()> {
        self.joinable_only("task_done")?;
        match &self.backing {
            Backing::Local(queue) => queue.task_done(),
            Backing::Remote(managed) => managed.remote.task_done(),
        }
    }

    /// JoinableQueue: waits until every message put was taken and marked `task_done`.
    pub fn join(&self, deadline: Deadline) -> Result<()> {
        self.joinable_only("join")?;
        match &self.backing {
            Backing::Local(queue) => queue.join(deadline),
            Backing::Remote(managed) => managed.remote.join(deadline),
        }
    }
}

impl Passable for Queue {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        match &self.backing {
            Backing::Local(queue) => {
                out.u64(u64::from(self.joinable));
                queue.pass(out)
            }
            Backing::Remote(_) => Err(managed_not_passed("queue")),
        }
    }

    /// Open in the child, as after a fork: `close` is per process.
    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Queue>> {
        let joinable = inbox.u64()? != 0;
        Ok(Queue::with(
            joinable,
            Backing::Local(LocalQueue::receive(inbox)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn now() -> Deadline {
        Deadline::from_timeout(0.0).unwrap()
    }

    fn message(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j) as u8).collect()
    }

    #[test]
    fn a_message_far_larger_than_the_ring() {
        let q = Queue::new(0, false).unwrap();
        let big = message(3, 16 << 20);
        q.put(b"before", now()).unwrap();
        q.put(&big, now()).unwrap();
        q.put(b"after", now()).unwrap();
        assert_eq!(q.get(now()).unwrap(), b"before");
        let mut small = [0u8; 16];
        assert_eq!(
            q.get_into(&mut small, now()).unwrap(),
            RecvInto::TooShort(16 << 20)
        );
        assert_eq!(q.get(now()).unwrap(), big);
        assert_eq!(q.get_into(&mut small, now()).unwrap(), RecvInto::Fits(5));
        assert_eq!(&small[..5], b"after");
    }

    #[test]
    fn batches_local_and_managed() {
        let bytes = |s: &[u8]| Item::Bytes(s.to_vec());
        let managed = Queue::remote(Box::new(FakeQueue::with(vec![])), false, 0);
        for q in [Queue::new(0, false).unwrap(), managed] {
            let (put, outcome) = q.put_many(&[b"a", b"", b"c"], now());
            assert_eq!((put, outcome.is_ok()), (3, true));
            assert_eq!(
                q.get_many(0, now()).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
            let first = q.get_many(2, now()).unwrap();
            assert_eq!(first.len(), 2);
            assert!(!q.get_many(10, now()).unwrap().is_empty());
            q.close();
            assert_eq!(q.put_many(&[b"z"], now()).0, 0);
        }
        // A managed queue's batch stops before an item that is not bytes, and keeps it.
        let q = Queue::remote(
            Box::new(FakeQueue::with(vec![
                bytes(b"x"),
                Item::Int(7),
                bytes(b"y"),
            ])),
            false,
            0,
        );
        assert_eq!(q.get_many(5, now()).unwrap(), vec![b"x".to_vec()]);
        assert_eq!(q.get_many(5, now()).unwrap_err().kind(), ErrorKind::Type);
        assert_eq!(q.get_item(now()).unwrap(), Item::Int(7));
        assert_eq!(q.get_many(5, now()).unwrap(), vec![b"y".to_vec()]);
        // A bounded local queue's batch fills the room there is.
        let q = Queue::new(2, false).unwrap();
        let (put, outcome) = q.put_many(&[b"1", b"2", b"3"], now());
        assert_eq!((put, outcome.unwrap_err().kind()), (2, ErrorKind::Full));
        let got = q.get_many(5, now()).unwrap();
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
    }

    #[test]
    fn a_local_queue_carries_bytes_items() {
        let q = Queue::new(0, false).unwrap();
        q.put_item(Item::Bytes(b"x".to_vec()), now()).unwrap();
        let err = q.put_item(Item::Int(1), now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Type);
        assert!(err.message().contains("a managed queue carries any item"));
        assert_eq!(q.get_item(now()).unwrap(), Item::Bytes(b"x".to_vec()));
        assert_eq!(q.get_item(now()).unwrap_err().kind(), ErrorKind::Empty);
        q.close();
        let err = q.put_item(Item::Bytes(vec![]), now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed);
    }

    #[test]
    fn maxsize_slots() {
        let q = Queue::new(2, false).unwrap();
        q.put(b"a", now()).unwrap();
        q.put(b"b", now()).unwrap();
        assert!(q.is_full().unwrap());
        let start = Instant::now();
        let err = q
            .put(b"c", Deadline::after(Duration::from_millis(60)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Full);
        assert!(start.elapsed() >= Duration::from_millis(60));
        let other = q.clone();
        let taker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            other.get(Deadline::Never).unwrap()
        });
        q.put(b"c", Deadline::Never).unwrap();
        assert_eq!(taker.join().unwrap(), b"a");
        assert_eq!(q.qsize().unwrap(), 2);
        assert!(Queue::new(MAX_SIZE + 1, false).is_err());
    }

    #[test]
    fn joinable_counts_tasks() {
        let q = Queue::new(0, true).unwrap();
        assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
        q.put(b"x", now()).unwrap();
        assert_eq!(q.join(now()).unwrap_err().kind(), ErrorKind::Timeout);
        q.get(now()).unwrap();
        q.task_done().unwrap();
        q.join(now()).unwrap();
        assert_eq!(q.task_done().unwrap_err().kind(), ErrorKind::Value);
        let plain = Queue::new(0, false).unwrap();
        assert_eq!(
            plain.task_done().unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn close_is_per_process() {
        let q = Queue::new(0, false).unwrap();
        assert_eq!(q.join_thread().unwrap_err().kind(), ErrorKind::WrongState);
        q.put(b"x", now()).unwrap();
        q.close();
        q.join_thread().unwrap();
        assert_eq!(q.put(b"y", now()).unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(q.get(now()).unwrap(), b"x");
    }

    #[test]
    fn threads_pass_every_message_once() {
        let q = Queue::new(64, false).unwrap();
        let producers: Vec<_> = (0..3u8)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        let mut m = vec![p];
                        m.extend_from_slice(&i.to_le_bytes());
                        m.resize(5 + (i as usize % 300), p);
                        q.put(&m, Deadline::Never).unwrap();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        let m = q.get(Deadline::after(Duration::from_secs(2))).unwrap();
                        if m.is_empty() {
                            return seen;
                        }
                        seen.push((m[0], u32::from_le_bytes(m[1..5].try_into().unwrap())));
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        q.put(b"", Deadline::Never).unwrap();
        q.put(b"", Deadline::Never).unwrap();
        let mut all = Vec::new();
        for c in consumers {
            let seen = c.join().unwrap();
            for p in 0..3u8 {
                let mine: Vec<u32> = seen.iter().filter(|m| m.0 == p).map(|m| m.1).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per producer");
            }
            all.extend(seen);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 60_000);
    }
}
