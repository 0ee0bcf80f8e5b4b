//! `Lock` and `RLock` across processes: a futex lock whose holder is named in shared
//! memory, so a waiter can tell when the holder died and take the lock over.
//!
//! The lock word holds the owner's id (see `owner`) — taking the lock and naming its
//! holder is one compare-and-swap. Waiters sleep on a separate futex word (`sleepers`),
//! set before they sleep and cleared by the releaser that wakes one of them. After each
//! sleep (at most `OWNER_CHECK`) and before giving up, a waiter looks whether the holder
//! still lives; if not, it takes the lock over and reports `Acquired::OwnerDied`.
//!
//! The state may live anywhere in shared memory: in an object of its own (`Shared`), or
//! at a fixed place such as the shared heap's header, whose lock cannot be allocated from
//! the heap it guards.
//!
//! A managed lock (a manager's, see `remote`) forwards acquire and release to its server.

use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::owner::{self, Me};
use super::remote::RemoteAcquirer;
use crate::backing::Backing;
use crate::deadline::{self, Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Shared, ShmSafe};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::sys::futex;

/// How often a waiter checks whether the holder still lives.
const OWNER_CHECK: Duration = Duration::from_millis(50);

/// How an acquire succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The usual way.
    Clean,
    /// The previous holder (pid) died holding the lock; the caller holds it now. Data it
    /// guarded may be half-updated.
    OwnerDied(u32),
}

/// A lock's shared state; all zeros is a free lock.
#[repr(C)]
pub(crate) struct LockState {
    /// 0 when free, else the holder's owner id.
    owner: AtomicU64,
    /// Futex word: 1 when a waiter may be sleeping.
    sleepers: AtomicU32,
    /// RLock: recursion depth. Accessed by the holder only.
    count: AtomicU32,
    /// RLock: the holding thread; 0 whenever the lock is free. Written by the holder only.
    thread: AtomicU64,
}

// SAFETY: atomics only, valid when zero.
unsafe impl ShmSafe for LockState {}

/// A process-shared lock: `Lock` (any process may release it) or `RLock` (recursive,
/// released by its owning thread only), local or managed.
pub struct Lock {
    backing: Backing<LocalLock, ManagedLock>,
}

/// A manager's Lock or RLock.
struct ManagedLock {
    remote: Box<dyn RemoteAcquirer>,
    recursive: bool,
}

impl Lock {
    fn new_local(recursive: bool) -> Result<Arc<Lock>> {
        Ok(Arc::new(Lock {
            backing: Backing::Local(LocalLock::new(recursive)?),
        }))
    }

    /// A new `Lock`: not recursive; any process may release it.
    pub fn new() -> Result<Arc<Lock>> {
        Lock::new_local(false)
    }

    /// A new `RLock`: recursive; only the holding thread may release it.
    pub fn new_recursive() -> Result<Arc<Lock>> {
        Lock::new_local(true)
    }

    /// A manager's Lock (or RLock when `recursive`), used through `remote`.
    pub fn remote(remote: Box<dyn RemoteAcquirer>, recursive: bool) -> Arc<Lock> {
        Arc::new(Lock {
            backing: Backing::Remote(ManagedLock { remote, recursive }),
        })
    }

    pub fn is_recursive(&self) -> bool {
        match &self.backing {
            Backing::Local(lock) => lock.recursive,
            Backing::Remote(managed) => managed.recursive,
        }
    }

    /// The local lock; `None` for a managed one.
    pub(crate) fn local(&self) -> Option<&LocalLock> {
        match &self.backing {
            Backing::Local(lock) => Some(lock),
            Backing::Remote(_) => None,
        }
    }

    /// Acquires the lock, waiting until `deadline` (`Timeout`) or a `pc_interrupt()`
    /// (`Interrupted`). An RLock already held by this thread is acquired again at once.
    /// A managed lock's previous holder is not watched: it is always `Clean`.
    #[inline(always)]
    pub fn acquire(&self, deadline: Deadline) -> Result<Acquired> {
        match &self.backing {
            Backing::Local(lock) => lock.acquire_with(deadline, Interrupts::Honour),
            Backing::Remote(managed) => managed.remote.acquire(deadline).map(|()| Acquired::Clean),
        }
    }

    /// Releases once. A Lock may be released by anyone while it is held; an RLock only by
    /// its holding thread. Otherwise `NotOwner`.
    #[inline(always)]
    pub fn release(&self) -> Result<()> {
        match &self.backing {
            Backing::Local(lock) => lock.release(),
            Backing::Remote(managed) => managed.remote.release(),
        }
    }
}

/// The lock in shared memory behind a local [`Lock`]; the queue's side locks and the
/// conditions use it directly. `S` says where its state lives: an object of its own, or
/// (for the shared heap's lock) a place the owner of `S` keeps alive.
pub(crate) struct LocalLock<S: Deref<Target = LockState> = Shared<LockState>> {
    recursive: bool,
    state: S,
    /// This process's clock for rate-limiting the precise owner check (not shared).
    created: Instant,
    /// When (ns after `created`) this process last read `/proc` for the holder; 0: never.
    last_precise_check: AtomicU64,
}

impl LocalLock {
    pub(crate) fn new(recursive: bool) -> Result<LocalLock> {
        Ok(LocalLock::at(
            Shared::new(LockState {
                owner: AtomicU64::new(0),
                sleepers: AtomicU32::new(0),
                count: AtomicU32::new(0),
                thread: AtomicU64::new(0),
            })?,
            recursive,
        ))
    }

    /// Its state's [`Shared::lend`].
    pub(crate) fn lend(&self) {
        self.state.lend();
    }

    /// Its state's [`Shared::let_go_for_child`].
    pub(crate) fn let_go_for_child(&self) {
        self.state.let_go_for_child();
    }
}

impl<S: Deref<Target = LockState>> LocalLock<S> {
    /// The lock whose state is `state` (all zeros: free).
    pub(crate) fn at(state: S, recursive: bool) -> LocalLock<S> {
        LocalLock {
            recursive,
            state,
            created: Instant::now(),
            last_precise_check: AtomicU64::new(0),
        }
    }

    /// [`Lock::acquire`]; with `Interrupts::Ignore` a pending `pc_interrupt()` is left
    /// alone (for library threads and worker loops: it is meant for the program's own
    /// waits).
    #[inline(always)]
    pub(crate) fn acquire_with(
        &self,
        deadline: Deadline,
        interrupts: Interrupts,
    ) -> Result<Acquired> {
        let me = owner::me();
        if self.try_take(me, 1) {
            return Ok(Acquired::Clean);
        }
        if self.recursive && self.held_by_thread(me) {
            let count = self.state.count.load(Relaxed);
            if count == u32::MAX {
                return Err(Error::new(
                    ErrorKind::Value,
                    "RLock acquired too many times",
                ));
            }
            self.state.count.store(count + 1, Relaxed);
            return Ok(Acquired::Clean);
        }
        self.acquire_contended(me, deadline, interrupts, 1)
    }

    /// The slow path: sleep until the lock is free (or its holder dead), then take it with
    /// recursion depth `depth`. The holder's life is checked after each sleep and once more
    /// before giving up, so even a caller that only polls (timeout 0) takes over the lock
    /// of a dead holder.
    fn acquire_contended(
        &self,
        me: Me,
        deadline: Deadline,
        interrupts: Interrupts,
        depth: u32,
    ) -> Result<Acquired> {
        let state = &*self.state;
        let died = Cell::new(None);
        let waited = deadline::block_until_with(
            deadline,
            interrupts,
            || {
                // After contention there may be other sleepers: keep `sleepers` set so that
                // our release wakes the next one.
                if died.get().is_some()
                    || state
                        .owner
                        .compare_exchange(0, me.id, Acquire, Relaxed)
                        .is_ok()
                {
                    state.sleepers.store(1, SeqCst);
                    return Ok(true);
                }
                Ok(false)
            },
            |slice| {
                state.sleepers.store(1, SeqCst);
                if state.owner.load(SeqCst) == 0 {
                    return Ok(());
                }
                futex::wait(&state.sleepers, 1, slice.min(OWNER_CHECK));
                died.set(self.take_over_if_dead(me));
                Ok(())
            },
        );
        match waited {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::Timeout => match self.take_over_if_dead(me) {
                Some(pid) => died.set(Some(pid)),
                None => return Err(err),
            },
            Err(err) => return Err(err),
        }
        self.took(me, depth);
        Ok(died.get().map_or(Acquired::Clean, Acquired::OwnerDied))
    }

    /// Takes the lock from a holder that died; returns its pid if it did. `kill(pid, 0)`
    /// catches most deaths cheaply; the precise test (a zombie, a reused pid) reads `/proc`
    /// and runs at most every `OWNER_CHECK` per lock in this process.
    fn take_over_if_dead(&self, me: Me) -> Option<u32> {
        let holder = self.state.owner.load(Acquire);
        if holder == 0 || holder == me.id {
            return None;
        }
        let dead = !owner::may_be_alive(owner::pid_of(holder))
            || (self.precise_check_due() && !owner::is_alive(holder));
        let taken = dead
            && self
                .state
                .owner
                .compare_exchange(holder, me.id, Acquire, Relaxed)
                .is_ok();
        if taken {
            self.state.sleepers.store(1, SeqCst);
        }
        taken.then(|| owner::pid_of(holder))
    }

    /// Whether the precise liveness test may run now (rate-limited per lock and process).
    fn precise_check_due(&self) -> bool {
        let now = self.created.elapsed().as_nanos() as u64;
        let last = self.last_precise_check.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= OWNER_CHECK.as_nanos() as u64;
        due && self
            .last_precise_check
            .compare_exchange(last, now.max(1), Relaxed, Relaxed)
            .is_ok()
    }

    /// Takes a (non-recursive) lock if it is free, without waiting or reading the clock.
    #[inline(always)]
    pub(crate) fn try_acquire(&self) -> bool {
        self.try_take(owner::me(), 1)
    }

    /// Takes the lock if it is free, with recursion depth `depth`.
    #[inline(always)]
    fn try_take(&self, me: Me, depth: u32) -> bool {
        let free = self
            .state
            .owner
            .compare_exchange(0, me.id, Acquire, Relaxed)
            .is_ok();
        if free {
            self.took(me, depth);
        }
        free
    }

    /// Records the new holder's thread and depth (the owner id is already in place).
    fn took(&self, me: Me, depth: u32) {
        if self.recursive {
            self.state.thread.store(me.thread, Relaxed);
            self.state.count.store(depth, Relaxed);
        }
    }

    /// Whether the calling thread holds this RLock. `thread` equals ours only if we wrote
    /// it, and it is cleared before every release, so a stale value never matches.
    fn held_by_thread(&self, me: Me) -> bool {
        self.state.owner.load(Relaxed) == me.id && self.state.thread.load(Relaxed) == me.thread
    }

    /// Whether the caller may use a Condition on this lock: an RLock held by this thread,
    /// or a Lock held at all (Python cannot tell who holds a Lock either).
    pub(crate) fn is_owned(&self) -> bool {
        if self.recursive {
            self.held_by_thread(owner::me())
        } else {
            self.state.owner.load(Relaxed) != 0
        }
    }

    /// See [`Lock::release`].
    #[inline(always)]
    pub(crate) fn release(&self) -> Result<()> {
        if self.recursive {
            let me = owner::me();
            if !self.held_by_thread(me) {
                return Err(Error::new(
                    ErrorKind::NotOwner,
                    "cannot release an RLock this thread does not hold",
                ));
            }
            let count = self.state.count.load(Relaxed);
            if count > 1 {
                self.state.count.store(count - 1, Relaxed);
                return Ok(());
            }
        }
        self.unlock()
    }

    /// Frees the lock and wakes one sleeper.
    #[inline(always)]
    fn unlock(&self) -> Result<()> {
        let state = &*self.state;
        if self.recursive {
            state.count.store(0, Relaxed);
            state.thread.store(0, Relaxed);
        }
        if state.owner.swap(0, SeqCst) == 0 {
            return Err(Error::new(
                ErrorKind::NotOwner,
                "cannot release an unlocked Lock",
            ));
        }
        if state.sleepers.load(SeqCst) != 0 && state.sleepers.swap(0, SeqCst) != 0 {
            futex::wake(&state.sleepers, 1);
        }
        Ok(())
    }

    /// For a Condition wait: releases the lock completely and returns the depth to restore.
    pub(crate) fn release_save(&self) -> Result<u32> {
        if !self.is_owned() {
            return Err(Error::new(
                ErrorKind::NotOwner,
                "the condition's lock is not held",
            ));
        }
        let depth = if self.recursive {
            self.state.count.load(Relaxed)
        } else {
            1
        };
        self.unlock()?;
        Ok(depth)
    }

    /// For a Condition wait: takes the lock again, with its depth, whatever interrupts come.
    pub(crate) fn acquire_restore(&self, depth: u32) -> Result<Acquired> {
        let me = owner::me();
        if self.try_take(me, depth) {
            return Ok(Acquired::Clean);
        }
        self.acquire_contended(me, Deadline::Never, Interrupts::Ignore, depth)
    }
}

impl LocalLock {
    /// See `start::passing`.
    pub(crate) fn pass(&self, out: &mut Outbox) -> Result<()> {
        out.u64(u64::from(self.recursive));
        self.state.pass(out)
    }

    pub(crate) fn receive(inbox: &mut Inbox<'_>) -> Result<LocalLock> {
        let recursive = inbox.u64()? != 0;
        Ok(LocalLock::at(Shared::receive(inbox)?, recursive))
    }
}

impl Passable for Lock {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        match &self.backing {
            Backing::Local(lock) => lock.pass(out),
            Backing::Remote(_) => Err(managed_not_passed("lock")),
        }
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Lock>> {
        Ok(Arc::new(Lock {
            backing: Backing::Local(LocalLock::receive(inbox)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Deadline {
        Deadline::from_timeout(0.0).unwrap()
    }

    #[test]
    fn lock_contract() {
        let lock = Lock::new().unwrap();
        assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotOwner);
        assert_eq!(lock.acquire(now()).unwrap(), Acquired::Clean);
        assert_eq!(lock.acquire(now()).unwrap_err().kind(), ErrorKind::Timeout);
        lock.release().unwrap();
        assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotOwner);
    }

    #[test]
    fn rlock_is_recursive_and_owned_by_its_thread() {
        let lock = Lock::new_recursive().unwrap();
        lock.acquire(now()).unwrap();
        lock.acquire(now()).unwrap();
        let other = lock.clone();
        let err = std::thread::spawn(move || other.release().unwrap_err().kind())
            .join()
            .unwrap();
        assert_eq!(err, ErrorKind::NotOwner);
        let other = lock.clone();
        let err = std::thread::spawn(move || other.acquire(now()).unwrap_err().kind())
            .join()
            .unwrap();
        assert_eq!(err, ErrorKind::Timeout);
        lock.release().unwrap();
        lock.release().unwrap();
        assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotOwner);
    }

    #[test]
    fn threads_contend_and_count_exactly() {
        let lock = Lock::new().unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        lock.acquire(Deadline::Never).unwrap();
                        let v = counter.load(Relaxed);
                        counter.store(v + 1, Relaxed);
                        lock.release().unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.load(Relaxed), 40_000);
    }
}
