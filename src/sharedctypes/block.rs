//! Elements in the lineage's shared heap, optionally guarded by a process-shared lock: the
//! storage of a local `Value` or `Array`.

use std::sync::Arc;

use super::elem::{add_raw, check_len, ElemType, Kind};
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::heap::Object;
use crate::start::passing::{Inbox, Outbox, Passable};
use crate::synchronize::Lock;

/// Which lock guards a value or array (the seed's `lock=` argument).
pub enum Guard {
    /// `lock=True`: a new RLock of its own.
    Own,
    /// `lock=some_lock`: that Lock or RLock.
    With(Arc<Lock>),
    /// `lock=False` (`RawValue`, `RawArray`): none.
    Raw,
}

/// `len` elements of one type in shared memory, with an optional lock.
pub(super) struct Block {
    elem: ElemType,
    len: usize,
    memory: Object,
    lock: Option<Arc<Lock>>,
}

impl Block {
    pub(super) fn new(
        elem: ElemType,
        len: usize,
        init: Option<&[u8]>,
        guard: Guard,
    ) -> Result<Block> {
        let bytes = elem
            .size()
            .checked_mul(len)
            .filter(|b| *b <= isize::MAX as usize)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::TooLarge,
                    format!("{len} elements of {} bytes", elem.size()),
                )
            })?;
        if let Some(init) = init {
            if init.len() != bytes {
                return Err(Error::invalid_argument(format!(
                    "init has {} bytes, {bytes} expected",
                    init.len()
                )));
            }
        }
        let lock = match guard {
            Guard::Own => Some(Lock::new_recursive()?),
            Guard::With(lock) => Some(lock),
            Guard::Raw => None,
        };
        let block = Block {
            elem,
            len,
            memory: Object::new(bytes)?,
            lock,
        };
        if let Some(init) = init {
            block.write(0, len, init)?;
        }
        Ok(block)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn elem(&self) -> ElemType {
        self.elem
    }

    /// The first element in shared memory: the same address in every process forked later.
    pub(super) fn ptr(&self) -> *mut u8 {
        self.memory.as_ptr()
    }

    /// The guarding lock, `None` for raw ones.
    pub(super) fn lock(&self) -> Option<&Arc<Lock>> {
        self.lock.as_ref()
    }

    /// Runs `f` under the lock, if there is one. A previous holder's death does not stop
    /// the access (the lock is taken over), as the data is plain bytes.
    fn guarded<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        let Some(lock) = &self.lock else {
            return Ok(f());
        };
        lock.acquire(Deadline::Never)?;
        let result = f();
        lock.release()?;
        Ok(result)
    }

    /// Checks `[start, start + count)` and returns its byte range.
    fn range(&self, start: usize, count: usize) -> Result<std::ops::Range<usize>> {
        self.elem.range(self.len, start, count)
    }

    /// Copies `bytes` in at byte `offset` (no lock, no checks: callers check).
    fn store(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: callers check that offset + len is inside the block.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr().add(offset), bytes.len())
        };
    }

    /// Copies out from byte `offset` (no lock, no checks: callers check).
    fn load(&self, offset: usize, out: &mut [u8]) {
        // SAFETY: callers check that offset + len is inside the block.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().add(offset), out.as_mut_ptr(), out.len())
        };
    }

    /// Reads `count` elements from `start` into `out` (exactly `count * size` bytes).
    pub(super) fn read(&self, start: usize, count: usize, out: &mut [u8]) -> Result<()> {
        let range = self.range(start, count)?;
        check_len(out.len(), range.len(), "out")?;
        self.guarded(|| self.load(range.start, out))
    }

    /// Writes `count` elements at `start` from `input` (exactly `count * size` bytes).
    pub(super) fn write(&self, start: usize, count: usize, input: &[u8]) -> Result<()> {
        let range = self.range(start, count)?;
        check_len(input.len(), range.len(), "in")?;
        if self.elem.kind() == Kind::Bool {
            // ctypes stores a bool as 0 or 1.
            let normalised: Vec<u8> = input.iter().map(|b| u8::from(*b != 0)).collect();
            return self.guarded(|| self.store(range.start, &normalised));
        }
        self.guarded(|| self.store(range.start, input))
    }

    /// `self[index] += delta` under the lock, for integer and float types. Integers wrap as
    /// in C; `delta` must then be a whole number.
    pub(super) fn add(&self, index: usize, delta: f64) -> Result<()> {
        let offset = self.range(index, 1)?.start;
        let (kind, size) = (self.elem.kind(), self.elem.size());
        let integral = delta.fract() == 0.0 && delta.is_finite();
        match kind {
            Kind::Signed | Kind::Unsigned if !integral => {
                return Err(Error::invalid_argument(format!(
                    "delta {delta} is not a whole number"
                )))
            }
            Kind::Signed | Kind::Unsigned | Kind::Float => {}
            _ => {
                return Err(Error::invalid_argument(format!(
                    "typecode {:?} is not a number",
                    char::from(self.elem.typecode())
                )))
            }
        }
        self.guarded(|| {
            let mut raw = [0u8; 8];
            self.load(offset, &mut raw[..size]);
            let updated = add_raw(kind, size, raw, delta);
            self.store(offset, &updated[..size]);
        })
    }

    /// A raw copy (no lock) of the whole block, read under this one's lock.
    pub(super) fn copy(&self) -> Result<Block> {
        let copy = Block::new(self.elem, self.len, None, Guard::Raw)?;
        let bytes = self.len * self.elem.size();
        self.guarded(|| {
            // SAFETY: both blocks hold `bytes` bytes and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(self.ptr(), copy.ptr(), bytes) }
        })?;
        Ok(copy)
    }
}

impl Block {
    /// See `start::passing`: its type, length, memory and lock.
    pub(super) fn pass(&self, out: &mut Outbox) -> Result<()> {
        let elem = self.elem;
        out.u64(u64::from(elem.typecode()));
        out.u64(elem.size() as u64);
        out.u64(self.len as u64);
        out.object(&self.memory)?;
        match &self.lock {
            None => out.u64(0),
            Some(lock) => {
                out.u64(1);
                lock.pass(out)?;
            }
        }
        Ok(())
    }

    pub(super) fn receive(inbox: &mut Inbox<'_>) -> Result<Block> {
        let elem = match (inbox.u64()?, inbox.u64()?) {
            (0, size) => ElemType::sized(usize::try_from(size).unwrap_or(0))?,
            (code, _) => ElemType::from_typecode(u8::try_from(code).unwrap_or(0))?,
        };
        let len = usize::try_from(inbox.u64()?).unwrap_or(usize::MAX);
        let memory = inbox.object()?;
        let lock = match inbox.u64()? {
            0 => None,
            _ => Some(Lock::receive(inbox)?),
        };
        Ok(Block {
            elem,
            len,
            memory,
            lock,
        })
    }
}
