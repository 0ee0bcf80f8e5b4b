//! The local queue: a multi-producer, multi-consumer FIFO of byte messages in shared
//! memory.
//!
//! Python's queue is a pipe fed by a thread in each producer; a child that put more than
//! the pipe holds cannot exit until someone reads. Here a message is copied into shared
//! memory by `put` itself, so it is in the queue when `put` returns, whoever exits next.
//!
//! The messages live in a small [`Ring`] that stays in the cache, and a [`Spill`] whose
//! memory is taken from the lineage's shared heap only while it holds messages. A put
//! goes to the small ring, or to the spill when it does not fit there (the message is
//! big, or the ring is full and no consumer makes room soon). So an unbounded queue's
//! `put` never waits, messages of any size pass, and a queue nobody uses costs only its
//! small objects (its ring's pages are touched as messages pass). Each message carries
//! its place in the queue (`seq`: the number of messages put before it), and a consumer
//! takes the one whose place is next, from whichever holds it: FIFO across both.
//!
//! One producer and one consumer work at a time, each side under its own robust lock
//! (see `synchronize::lock`): a process killed while holding it is taken over within
//! ~100 ms. Nothing it did is visible to the others until its last step, one store of a
//! [`Cursor`] that moves a position and counts a message together; so a killed producer
//! leaves no partial message, a killed consumer leaves the message it was taking for the
//! next, and the counts (`qsize`, the `maxsize` slots, unfinished tasks) are always the
//! published cursors' differences: nothing to leak.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use super::bell::Bell;
use super::ring::{Cursor, Ring};
use super::spill::{self, Spill};
use super::{Take, MAX_SIZE};
use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::heap::{self, Heap};
use crate::shared::{AtEnd, Shared, ShmSafe};
use crate::start::passing::{Inbox, Outbox};
use crate::synchronize::LocalLock;

/// Bytes of the small ring: it stays in the L2 cache and holds a few 64 KiB messages.
const RING_BYTES: usize = 512 << 10;
/// Messages larger than this go to the spill at once: two still fit the ring (a pool's
/// task and result messages are up to about 200 KiB).
const RING_MESSAGE_MAX: u64 = RING_BYTES as u64 / 2 - 64;
/// The longest a producer waits for consumers to make room in the small ring before it
/// spills: a few messages' copy, too short to count as blocking.
const SPILL_GRACE: Duration = Duration::from_micros(200);
/// A consumer whose head has not moved for this long, outside a get, makes no room.
const IDLE: Duration = Duration::from_micros(20);
/// Checks a waiting consumer makes before it sleeps: a producer that keeps up is then
/// met without two system calls per message. First a short spin (the producer runs on
/// another CPU), then checks that each give the CPU away (it shares ours).
const SPIN_CHECKS: u32 = 100;
const YIELD_CHECKS: u32 = 64;
/// The least time a put or get waits for its side lock, whatever its timeout.
const LOCK_GRACE: Duration = Duration::from_millis(20);

/// Written by producers only (under the producer lock).
#[repr(C, align(128))]
struct Producers {
    /// The cursor after the last message published in the small ring.
    ring_tail: AtomicU64,
    /// The same for the spill ring.
    spill_tail: AtomicU64,
    /// The small ring's consumer cursor as last read: positions only move on, so room
    /// computed from it is never too much, and the consumers' line is read only when
    /// the ring seems full.
    ring_head_seen: AtomicU64,
    /// The small ring's consumer cursor when a put last spilled for want of room: while
    /// it has not moved, the next put spills without waiting.
    ring_head_at_spill: AtomicU64,
}

/// Written by consumers only (under the consumer lock).
#[repr(C, align(128))]
struct Consumers {
    ring_head: AtomicU64,
    /// The small ring's producer cursor as last read: the records before it are there to
    /// take without reading the producers' line, which a producer that keeps up changes
    /// at every put (another CPU's cache line to fetch).
    ring_tail_seen: AtomicU64,
    spill_head: AtomicU64,
    /// Where the spill's given-back blocks end: producers write no further than the
    /// spill's capacity past it, so never into a block being given back.
    spill_free: AtomicU64,
}

/// Where each kind of waiter sleeps; the other side rings after each change.
#[repr(C, align(128))]
struct Bells {
    /// Consumers waiting for a message: rung by puts.
    put: Bell,
    /// Producers waiting for a `maxsize` slot: rung by gets.
    got: Bell,
    /// `join` waiting for the unfinished tasks to end: rung by `task_done`.
    done: Bell,
}

/// JoinableQueue: `task_done` calls so far (wrapping). Unfinished tasks are the messages
/// ever put minus this.
#[repr(C, align(128))]
struct Tasks {
    done: AtomicU32,
}

#[repr(C)]
struct State {
    producers: Producers,
    consumers: Consumers,
    bells: Bells,
    tasks: Tasks,
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for State {}

/// The queue's bytes: the small ring, and the spill's table of heap blocks. Made zeroed
/// and never written at creation, so an idle queue costs no memory for it.
#[repr(C, align(4096))]
struct Storage {
    ring: [u8; RING_BYTES],
    spill: [AtomicU64; spill::SLOTS],
}

// SAFETY: bytes and atomics, valid when zero; the ring's bytes are written and read
// under the queue's side locks and cursors.
unsafe impl ShmSafe for Storage {}

impl AtEnd for Storage {
    /// The spill's blocks still holding messages go back to the heap with the queue.
    fn at_end(&self) {
        if let Ok(heap) = heap::lineage() {
            Spill::new(&self.spill, heap).release_all();
        }
    }
}

/// The queue in shared memory behind a local `Queue` (and the pool's task and result
/// queues): a handle made before a fork names the same queue in the child.
pub(crate) struct LocalQueue {
    /// 0: unbounded.
    maxsize: u32,
    state: Shared<State>,
    storage: Shared<Storage>,
    /// The small ring, in `storage`.
    ring: Ring,
    heap: &'static Heap,
    producer_lock: LocalLock,
    consumer_lock: LocalLock,
}

impl LocalQueue {
    /// A queue holding at most `maxsize` messages (0: unbounded).
    pub(crate) fn new(maxsize: usize) -> Result<LocalQueue> {
        if maxsize > MAX_SIZE {
            return Err(Error::invalid_argument(format!(
                "maxsize {maxsize} is larger than {MAX_SIZE}"
            )));
        }
        let storage = Shared::<Storage>::zeroed_with_end()?;
        let ring = Ring::within(storage.ring.as_ptr().cast_mut(), RING_BYTES as u64);
        Ok(LocalQueue {
            maxsize: maxsize as u32,
            state: Shared::new(State {
                producers: Producers {
                    ring_tail: AtomicU64::new(0),
                    spill_tail: AtomicU64::new(0),
                    ring_head_seen: AtomicU64::new(0),
                    ring_head_at_spill: AtomicU64::new(u64::MAX),
                },
                consumers: Consumers {
                    ring_head: AtomicU64::new(0),
                    ring_tail_seen: AtomicU64::new(0),
                    spill_head: AtomicU64::new(0),
                    spill_free: AtomicU64::new(0),
                },
                bells: Bells {
                    put: Bell::new(),
                    got: Bell::new(),
                    done: Bell::new(),
                },
                tasks: Tasks {
                    done: AtomicU32::new(0),
                },
            })?,
            storage,
            ring,
            heap: heap::lineage()?,
            producer_lock: LocalLock::new(false)?,
            consumer_lock: LocalLock::new(false)?,
        })
    }

    /// The `maxsize` given at creation (0: unbounded).
    pub(super) fn maxsize(&self) -> usize {
        self.maxsize as usize
    }

    /// Lends this process's hold on the queue's shared objects to the process that forked
    /// it (see `heap::Object::lend`): a pool's worker does so for the pool's queues.
    pub(crate) fn lend(&self) {
        self.state.lend();
        self.storage.lend();
        self.producer_lock.lend();
        self.consumer_lock.lend();
    }

    /// Lets go of the hold a reaped child lent (see [`LocalQueue::lend`]).
    pub(crate) fn let_go_for_child(&self) {
        self.state.let_go_for_child();
        self.storage.let_go_for_child();
        self.producer_lock.let_go_for_child();
        self.consumer_lock.let_go_for_child();
    }

    /// See `start::passing`: its bound, shared objects and side locks.
    pub(crate) fn pass(&self, out: &mut Outbox) -> Result<()> {
        out.u64(u64::from(self.maxsize));
        self.state.pass(out)?;
        self.storage.pass(out)?;
        self.producer_lock.pass(out)?;
        self.consumer_lock.pass(out)
    }

    pub(crate) fn receive(inbox: &mut Inbox<'_>) -> Result<LocalQueue> {
        let maxsize = u32::try_from(inbox.u64()?)
            .ok()
            .filter(|m| *m as usize <= MAX_SIZE)
            .ok_or_else(|| inbox.reader.malformed("maxsize"))?;
        let state = Shared::receive(inbox)?;
        let storage: Shared<Storage> = Shared::receive(inbox)?;
        let ring = Ring::within(storage.ring.as_ptr().cast_mut(), RING_BYTES as u64);
        Ok(LocalQueue {
            maxsize,
            state,
            storage,
            ring,
            heap: heap::lineage()?,
            producer_lock: LocalLock::receive(inbox)?,
            consumer_lock: LocalLock::receive(inbox)?,
        })
    }

    /// The processes holding the queue.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> u64 {
        self.state.holders()
    }

    /// The spill, whose table is in `storage`.
    fn spill(&self) -> Spill<'_> {
        Spill::new(&self.storage.spill, self.heap)
    }

    /// Puts one message, waiting until `deadline` for a free slot in a bounded queue
    /// (`Full`). An unbounded queue never waits.
    pub(crate) fn put(&self, message: &[u8], deadline: Deadline) -> Result<()> {
        self.put_numbered(message, deadline).map(drop)
    }

    /// `put`, returning the message's place in the queue: the number of messages put
    /// before it (wrapping), as [`LocalQueue::get_noting`] reports it to the consumer.
    pub(crate) fn put_numbered(&self, message: &[u8], deadline: Deadline) -> Result<u32> {
        let mut place = 0;
        let (_, outcome) = self.put_each(&[message], deadline, |seq| place = seq);
        outcome.map(|()| place)
    }

    /// Puts `messages` in order, each side hand-off carrying as many as the queue has
    /// room for; returns how many went in, with the error that stopped the others.
    pub(super) fn put_many(&self, messages: &[&[u8]], deadline: Deadline) -> (usize, Result<()>) {
        self.put_each(messages, deadline, |_| {})
    }

    /// Puts `messages` in order, telling `placed` each one's place; waits for `maxsize`
    /// slots between batches.
    #[inline(always)]
    fn put_each(
        &self,
        messages: &[&[u8]],
        deadline: Deadline,
        mut placed: impl FnMut(u32),
    ) -> (usize, Result<()>) {
        let mut put = 0;
        while put < messages.len() {
            let (batch, outcome) = self.put_batch(&messages[put..], deadline, &mut placed);
            put += batch;
            if outcome.is_err() || put == messages.len() {
                return (put, outcome);
            }
            if let Err(err) = self.wait_for_slot(deadline) {
                return (put, Err(err));
            }
        }
        (put, Ok(()))
    }

    /// Under one hold of the put side: publishes messages from the front of `messages`
    /// until the queue holds `maxsize`, then rings the consumers once.
    #[inline(always)]
    fn put_batch(
        &self,
        messages: &[&[u8]],
        deadline: Deadline,
        placed: &mut impl FnMut(u32),
    ) -> (usize, Result<()>) {
        let mut put = 0;
        let outcome = match hold(&self.producer_lock, deadline, Interrupts::Honour) {
            Err(err) => Err(err),
            Ok(None) => Err(Error::new(
                ErrorKind::Full,
                "another process holds the queue's put side (stopped mid-put?)",
            )),
            Ok(Some(_held)) => loop {
                let Some(message) = messages.get(put) else {
                    break Ok(());
                };
                match self.put_locked(message) {
                    Ok(Some(seq)) => {
                        placed(seq);
                        put += 1;
                    }
                    Ok(None) => break Ok(()),
                    Err(err) => break Err(err),
                }
            },
        };
        if put > 0 {
            self.state.bells.put.ring();
        }
        (put, outcome)
    }

    /// Under the producer lock: publishes `message`, or returns `None` when `maxsize`
    /// messages are in the queue.
    fn put_locked(&self, message: &[u8]) -> Result<Option<u32>> {
        if message.len() as u64 > Spill::max_message() {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "a message of {} bytes is larger than a queue holds ({} bytes)",
                    message.len(),
                    Spill::max_message()
                ),
            ));
        }
        if self.maxsize > 0 && self.qsize() >= self.maxsize as usize {
            return Ok(None);
        }
        let producers = &self.state.producers;
        let seq = self.puts();
        if let Some(tail) = self.push_ring(seq, message) {
            tail.store(&producers.ring_tail, Release);
            return Ok(Some(seq));
        }
        let tail = Cursor::load(&producers.spill_tail, Relaxed);
        let free = Cursor::load(&self.state.consumers.spill_free, Acquire);
        match self.spill().push(tail, free, seq, message)? {
            Some(tail) => {
                tail.store(&producers.spill_tail, Release);
                Ok(Some(seq))
            }
            None => Err(Error::new(
                ErrorKind::NoMemory,
                format!(
                    "the queue already holds nearly {} bytes: no room for {} more",
                    Spill::CAPACITY,
                    message.len()
                ),
            )),
        }
    }

    /// Writes `message` into the small ring if it fits there; returns the tail to
    /// publish. When the ring is full, waits up to `SPILL_GRACE` for consumers that are
    /// making room (one holds the consumer lock, or the head moved within `IDLE`), so a
    /// stream whose consumer keeps up stays in the ring; without such progress since the
    /// last spill it spills at once, so a queue nobody reads costs no waiting.
    fn push_ring(&self, seq: u32, message: &[u8]) -> Option<Cursor> {
        if message.len() as u64 > RING_MESSAGE_MAX {
            return None;
        }
        let producers = &self.state.producers;
        let tail = Cursor::load(&producers.ring_tail, Relaxed);
        let seen = Cursor::load(&producers.ring_head_seen, Relaxed);
        if let Some(tail) = self.ring.push(tail, seen, seq, message) {
            return Some(tail);
        }
        let start = Instant::now();
        let (mut moved_at, mut last) = (start, seen);
        loop {
            let head = Cursor::load(&self.state.consumers.ring_head, Acquire);
            head.store(&producers.ring_head_seen, Relaxed);
            if let Some(tail) = self.ring.push(tail, head, seq, message) {
                return Some(tail);
            }
            let now = Instant::now();
            if head != last {
                (moved_at, last) = (now, head);
            }
            let stalled = head == Cursor::load(&producers.ring_head_at_spill, Relaxed)
                || (now - moved_at >= IDLE && !self.consumer_lock.is_owned());
            if stalled || now - start >= SPILL_GRACE {
                head.store(&producers.ring_head_at_spill, Relaxed);
                return None;
            }
            // The consumer may share this CPU (the scheduler packs busy processes
            // together): give it the CPU rather than spin against it.
            std::thread::yield_now();
        }
    }

    /// Waits until a bounded queue has a free slot, or `Full` at `deadline`.
    fn wait_for_slot(&self, deadline: Deadline) -> Result<()> {
        let state = &*self.state;
        state
            .bells
            .got
            .wait_until(deadline, Interrupts::Honour, || {
                self.qsize() < self.maxsize as usize
            })
            .map_err(|err| match err.kind() {
                ErrorKind::Timeout => Error::new(
                    ErrorKind::Full,
                    format!("the queue is full ({} messages)", self.maxsize),
                ),
                _ => err,
            })
    }

    /// Takes the next message, waiting until `deadline` for one (`Empty`), calling
    /// `note(seq)` with the message's place in the queue while it is being taken: before
    /// any other process can tell it was. A consumer killed after `note` but before the
    /// get ends leaves the message in the queue (see [`LocalQueue::gets`]). With
    /// `Interrupts::Ignore`, a pending `pc_interrupt()` is left for others.
    pub(crate) fn get_noting(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
        mut note: impl FnMut(u32),
    ) -> Result<Vec<u8>> {
        self.get_with(deadline, interrupts, |seq, bytes| {
            note(seq);
            Take::Consume(bytes.to_vec())
        })
    }

    /// Messages ever taken (wrapping): message `seq` is gone from the queue once this
    /// passed it.
    pub(crate) fn gets(&self) -> u32 {
        let consumers = &self.state.consumers;
        Cursor::load(&consumers.ring_head, Acquire)
            .count()
            .wrapping_add(Cursor::load(&consumers.spill_head, Acquire).count())
    }

    /// Offers the next message to `take` (with its place in the queue), waiting until
    /// `deadline` for one (`Empty`): `take` consumes it or leaves it for the next get.
    #[inline(always)]
    pub(super) fn get_with<T>(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
        mut take: impl FnMut(u32, &[u8]) -> Take<T>,
    ) -> Result<T> {
        self.consume(deadline, interrupts, || {
            Ok(self.take_locked(&mut take)?.map(|taken| match taken {
                Take::Consume(value) => (value, true),
                Take::Leave(value) => (value, false),
            }))
        })
    }

    /// Takes up to `max` (at least 1) messages: waits until `deadline` for the first
    /// (`Empty`), then takes those already there under the same hold of the get side.
    pub(super) fn get_many(
        &self,
        max: usize,
        deadline: Deadline,
        interrupts: Interrupts,
    ) -> Result<Vec<Vec<u8>>> {
        let mut got = Vec::new();
        self.consume(deadline, interrupts, || {
            while got.len() < max {
                match self.take_locked(&mut |_, bytes| Take::Consume(bytes.to_vec())) {
                    Ok(Some(Take::Consume(message))) => got.push(message),
                    Ok(_) => break,
                    // The next get reports it: these are taken already.
                    Err(_) if !got.is_empty() => break,
                    Err(err) => return Err(err),
                }
            }
            Ok((!got.is_empty()).then(|| (std::mem::take(&mut got), true)))
        })
    }

    /// Waits for a message, then runs `under_lock` with the get side held until it
    /// returns a value, and whether it took messages (the producers waiting for a
    /// `maxsize` slot are then rung). `None`: another consumer was first.
    #[inline(always)]
    fn consume<T>(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
        mut under_lock: impl FnMut() -> Result<Option<(T, bool)>>,
    ) -> Result<T> {
        loop {
            if !self.has_seen_message() && self.is_empty() {
                self.wait_for_message(deadline, interrupts)?;
            }
            let taken = {
                let Some(_held) = hold(&self.consumer_lock, deadline, interrupts)? else {
                    return Err(Error::new(
                        ErrorKind::Empty,
                        "another process holds the queue's get side (stopped mid-get?)",
                    ));
                };
                under_lock()?
            };
            if let Some((value, took)) = taken {
                // Only a bounded queue's producers wait for a get.
                if took && self.maxsize > 0 {
                    self.state.bells.got.ring();
                }
                return Ok(value);
            }
        }
    }

    /// Under the consumer lock: offers the oldest message to `take`; `None` if there is
    /// none. It is the one whose `seq` is the number of messages got so far; producers
    /// publish in `seq` order, so once a later one is visible, so is that one.
    fn take_locked<T>(
        &self,
        take: &mut impl FnMut(u32, &[u8]) -> Take<T>,
    ) -> Result<Option<Take<T>>> {
        let (producers, consumers) = (&self.state.producers, &self.state.consumers);
        let ring_head = Cursor::load(&consumers.ring_head, Relaxed);
        let spill_head = Cursor::load(&consumers.spill_head, Relaxed);
        let next = ring_head.count().wrapping_add(spill_head.count());
        // The consumer lock orders this after the read that saw it.
        let mut ring_tail = Cursor::load(&consumers.ring_tail_seen, Relaxed);
        if ring_head == ring_tail {
            ring_tail = Cursor::load(&producers.ring_tail, Acquire);
            ring_tail.store(&consumers.ring_tail_seen, Relaxed);
        }
        if ring_head != ring_tail {
            let front = self.ring.front(ring_head, ring_tail)?;
            if front.seq == next {
                let taken = take(front.seq, front.bytes);
                if let Take::Consume(_) = taken {
                    front.next.store(&consumers.ring_head, Release);
                }
                return Ok(Some(taken));
            }
        }
        let spill_tail = Cursor::load(&producers.spill_tail, Acquire);
        if spill_head == spill_tail {
            return match ring_head == ring_tail {
                true => Ok(None),
                false => Err(out_of_order(next)),
            };
        }
        // Blocks read before are given back first, so that the get ends with its commit:
        // a consumer killed after it took the message has little time left to lose it.
        let spill = self.spill();
        let free = Cursor::load(&consumers.spill_free, Relaxed);
        if free != spill_head {
            spill.release(free, spill_head, &consumers.spill_free);
        }
        let front = spill.front(spill_head, spill_tail)?;
        if front.seq != next {
            return Err(out_of_order(next));
        }
        let taken = take(front.seq, front.bytes);
        if let Take::Consume(_) = taken {
            front.next.store(&consumers.spill_head, Release);
        }
        Ok(Some(taken))
    }

    /// Whether a consumer already saw a message in the small ring that is still there:
    /// then a get need not read the producers' cursors (a hint, read without the lock).
    #[inline(always)]
    fn has_seen_message(&self) -> bool {
        let consumers = &self.state.consumers;
        consumers.ring_head.load(Relaxed) != consumers.ring_tail_seen.load(Relaxed)
    }

    /// Waits until some message may be there, or `Empty` at `deadline`.
    fn wait_for_message(&self, deadline: Deadline, interrupts: Interrupts) -> Result<()> {
        if deadline.remaining() != Some(Duration::ZERO) {
            let spins = match crate::sys::cpus::single_cpu() {
                true => 0,
                false => SPIN_CHECKS,
            };
            for _ in 0..spins {
                std::hint::spin_loop();
                if !self.is_empty() {
                    return Ok(());
                }
            }
            if deadline::yield_until(deadline, YIELD_CHECKS, || !self.is_empty()) {
                return Ok(());
            }
        }
        let state = &*self.state;
        state
            .bells
            .put
            .wait_until(deadline, interrupts, || !self.is_empty())
            .map_err(|err| match err.kind() {
                ErrorKind::Timeout => Error::new(ErrorKind::Empty, "the queue is empty"),
                _ => err,
            })
    }

    /// Messages in the queue: exact when no put or get is under way. The consumer
    /// cursors are read first, so a get finishing meanwhile never makes it negative.
    pub(super) fn qsize(&self) -> usize {
        let (producers, consumers) = (&self.state.producers, &self.state.consumers);
        let ring_head = Cursor::load(&consumers.ring_head, Acquire);
        let spill_head = Cursor::load(&consumers.spill_head, Acquire);
        let ring_tail = Cursor::load(&producers.ring_tail, Acquire);
        let spill_tail = Cursor::load(&producers.spill_tail, Acquire);
        ring_tail.records_since(ring_head) as usize + spill_tail.records_since(spill_head) as usize
    }

    pub(super) fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// A bounded queue holding `maxsize` messages; never for an unbounded one.
    pub(super) fn is_full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize as usize
    }

    /// Messages ever put (wrapping): the tails' counts.
    fn puts(&self) -> u32 {
        let producers = &self.state.producers;
        Cursor::load(&producers.ring_tail, Acquire)
            .count()
            .wrapping_add(Cursor::load(&producers.spill_tail, Acquire).count())
    }

    /// One task taken from the queue is finished. More calls than messages put is
    /// `Value`.
    pub(super) fn task_done(&self) -> Result<()> {
        let puts = self.puts();
        self.state
            .tasks
            .done
            .fetch_update(SeqCst, SeqCst, |done| {
                (done != puts).then(|| done.wrapping_add(1))
            })
            .map_err(|_| {
                Error::new(
                    ErrorKind::Value,
                    "task_done called more times than there were items",
                )
            })?;
        self.state.bells.done.ring();
        Ok(())
    }

    /// Waits until every message put was taken and marked `task_done`.
    pub(super) fn join(&self, deadline: Deadline) -> Result<()> {
        let state = &*self.state;
        state
            .bells
            .done
            .wait_until(deadline, Interrupts::Honour, || {
                self.puts() == state.tasks.done.load(SeqCst)
            })
    }
}

/// Neither ring's oldest message is the next one: the shared memory was overwritten.
#[cold]
fn out_of_order(next: u32) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("queue message {next} is missing: shared memory overwritten"),
    )
}

/// A side lock held for one put or get; a holder that died left nothing to repair.
struct Held<'a>(&'a LocalLock);

/// Takes a side lock, waiting until `deadline` but at least `LOCK_GRACE`: its holder
/// is in the middle of one copy, so even a call that must not block waits that long,
/// and only a holder that stopped (SIGSTOP, a debugger) makes it give up (`None`).
#[inline(always)]
fn hold(lock: &LocalLock, deadline: Deadline, interrupts: Interrupts) -> Result<Option<Held<'_>>> {
    if lock.try_acquire() {
        return Ok(Some(Held(lock)));
    }
    hold_contended(lock, deadline, interrupts)
}

/// `hold` when the lock is taken: only now is the clock read for the grace period.
#[cold]
fn hold_contended(
    lock: &LocalLock,
    deadline: Deadline,
    interrupts: Interrupts,
) -> Result<Option<Held<'_>>> {
    let deadline = match (deadline, Deadline::after(LOCK_GRACE)) {
        (Deadline::At(at), Deadline::At(grace)) => Deadline::At(at.max(grace)),
        _ => Deadline::Never,
    };
    match lock.acquire_with(deadline, interrupts) {
        Ok(_) => Ok(Some(Held(lock))),
        Err(err) if err.kind() == ErrorKind::Timeout => Ok(None),
        Err(err) => Err(err),
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Cannot fail: this thread holds the (non-recursive) lock.
        let _ = self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Deadline {
        Deadline::from_timeout(0.0).unwrap()
    }

    fn message(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j) as u8).collect()
    }

    #[test]
    fn fifo_through_both_rings_with_places() {
        let q = LocalQueue::new(0).unwrap();
        // 200 messages of 100 KiB overflow the small ring: the later ones spill.
        let sizes: Vec<usize> = (0..200).map(|i| [0, 1, 100 << 10, 7][i % 4]).collect();
        for (i, &len) in sizes.iter().enumerate() {
            assert_eq!(q.put_numbered(&message(i, len), now()).unwrap(), i as u32);
        }
        assert_eq!(q.qsize(), 200);
        assert_ne!(
            Cursor::load(&q.state.producers.spill_tail, SeqCst).count(),
            0
        );
        for (i, &len) in sizes.iter().enumerate() {
            let mut place = None;
            let got = q.get_noting(now(), Interrupts::Honour, |seq| place = Some(seq));
            assert_eq!(got.unwrap(), message(i, len));
            assert_eq!(place, Some(i as u32));
            assert_eq!(q.gets(), i as u32 + 1);
        }
        assert!(q.is_empty());
        let err = q.get_noting(now(), Interrupts::Honour, |_| {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Empty);
        assert!(LocalQueue::new(MAX_SIZE + 1).is_err());
    }
}
