//! The seed's shared ctypes: `Value`, `Array`, `RawValue`, `RawArray`, `copy` and
//! `synchronized`, as typed bytes in anonymous shared memory, optionally guarded by a
//! process-shared lock.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::handle::Tag;
use crate::synchronize::Lock;
use crate::sys::shm::Mapping;
use crate::wait::Deadline;

/// What the elements are, by Python's typecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Signed,
    Unsigned,
    Float,
    Char,
    Bool,
    WideChar,
    /// An array of any C type, known only by its size.
    Opaque,
}

/// An element type: a typecode of Python's `array` module, or a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElemType {
    /// The typecode, or 0 for arrays made by size.
    code: u8,
    size: usize,
    kind: Kind,
}

impl ElemType {
    /// The type of typecode `code`: `c b B h H i I l L q Q f d ? u`.
    pub fn from_typecode(code: u8) -> Result<ElemType> {
        use std::mem::size_of;
        let (size, kind) = match code {
            b'c' => (1, Kind::Char),
            b'b' => (1, Kind::Signed),
            b'B' => (1, Kind::Unsigned),
            b'h' => (2, Kind::Signed),
            b'H' => (2, Kind::Unsigned),
            b'i' => (size_of::<libc::c_int>(), Kind::Signed),
            b'I' => (size_of::<libc::c_uint>(), Kind::Unsigned),
            b'l' => (size_of::<libc::c_long>(), Kind::Signed),
            b'L' => (size_of::<libc::c_ulong>(), Kind::Unsigned),
            b'q' => (8, Kind::Signed),
            b'Q' => (8, Kind::Unsigned),
            b'f' => (4, Kind::Float),
            b'd' => (8, Kind::Float),
            b'?' => (1, Kind::Bool),
            b'u' => (size_of::<libc::wchar_t>(), Kind::WideChar),
            _ => {
                return Err(Error::invalid_argument(format!(
                    "unknown typecode {:?} (known: c b B h H i I l L q Q f d ? u)",
                    char::from(code)
                )))
            }
        };
        Ok(ElemType { code, size, kind })
    }

    /// Elements of `size` bytes of any C type.
    pub fn sized(size: usize) -> Result<ElemType> {
        if size == 0 {
            return Err(Error::invalid_argument("elem_size is 0"));
        }
        Ok(ElemType {
            code: 0,
            size,
            kind: Kind::Opaque,
        })
    }

    /// The typecode, 0 for sized types.
    pub fn typecode(&self) -> u8 {
        self.code
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

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
pub struct Block {
    elem: ElemType,
    len: usize,
    mapping: Mapping,
    lock: Option<Arc<Lock>>,
}

impl Block {
    fn new(elem: ElemType, len: usize, init: Option<&[u8]>, guard: Guard) -> Result<Block> {
        let bytes = elem
            .size
            .checked_mul(len)
            .filter(|b| *b <= isize::MAX as usize)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::TooLarge,
                    format!("{len} elements of {} bytes", elem.size),
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
        let mapping = Mapping::new(bytes).map_err(|e| Error::os("mmap(MAP_SHARED)", e))?;
        let block = Block {
            elem,
            len,
            mapping,
            lock,
        };
        if let Some(init) = init {
            block.write(0, len, init)?;
        }
        Ok(block)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn elem(&self) -> ElemType {
        self.elem
    }

    /// The first element in shared memory: the same address in every process forked later.
    pub fn ptr(&self) -> *mut u8 {
        self.mapping.as_ptr()
    }

    /// The guarding lock, `None` for raw ones.
    pub fn lock(&self) -> Option<&Arc<Lock>> {
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
        match start.checked_add(count) {
            Some(end) if end <= self.len => Ok(start * self.elem.size..end * self.elem.size),
            _ => Err(Error::new(
                ErrorKind::Index,
                format!(
                    "elements {start}..{start}+{count} out of range for length {}",
                    self.len
                ),
            )),
        }
    }

    /// Copies `bytes` in at byte `offset` (no lock, no checks: callers check).
    fn store(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: callers check that offset + len is inside the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr().add(offset), bytes.len())
        };
    }

    /// Copies out from byte `offset` (no lock, no checks: callers check).
    fn load(&self, offset: usize, out: &mut [u8]) {
        // SAFETY: callers check that offset + len is inside the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().add(offset), out.as_mut_ptr(), out.len())
        };
    }

    /// Reads `count` elements from `start` into `out` (exactly `count * size` bytes).
    pub fn read(&self, start: usize, count: usize, out: &mut [u8]) -> Result<()> {
        let range = self.range(start, count)?;
        check_len(out.len(), range.len(), "out")?;
        self.guarded(|| self.load(range.start, out))
    }

    /// Writes `count` elements at `start` from `input` (exactly `count * size` bytes).
    pub fn write(&self, start: usize, count: usize, input: &[u8]) -> Result<()> {
        let range = self.range(start, count)?;
        check_len(input.len(), range.len(), "in")?;
        if self.elem.kind == Kind::Bool {
            // ctypes stores a bool as 0 or 1.
            let normalised: Vec<u8> = input.iter().map(|b| u8::from(*b != 0)).collect();
            return self.guarded(|| self.store(range.start, &normalised));
        }
        self.guarded(|| self.store(range.start, input))
    }

    /// `self[index] += delta` under the lock, for integer and float types. Integers wrap as
    /// in C; `delta` must then be a whole number.
    pub fn add(&self, index: usize, delta: f64) -> Result<()> {
        let offset = self.range(index, 1)?.start;
        let (kind, size) = (self.elem.kind, self.elem.size);
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
                    char::from(self.elem.code)
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
    fn copy(&self) -> Result<Block> {
        let copy = Block::new(self.elem, self.len, None, Guard::Raw)?;
        let bytes = self.len * self.elem.size;
        self.guarded(|| {
            // SAFETY: both mappings hold `bytes` bytes and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(self.ptr(), copy.ptr(), bytes) }
        })?;
        Ok(copy)
    }
}

fn check_len(got: usize, expected: usize, what: &str) -> Result<()> {
    if got != expected {
        return Err(Error::invalid_argument(format!(
            "{what} has {got} bytes, {expected} expected"
        )));
    }
    Ok(())
}

/// `value + delta` on the native-endian bytes of one number.
fn add_raw(kind: Kind, size: usize, raw: [u8; 8], delta: f64) -> [u8; 8] {
    let mut out = [0u8; 8];
    macro_rules! int {
        ($t:ty) => {{
            let v = <$t>::from_ne_bytes(raw[..size].try_into().unwrap());
            let d = delta as i128 as $t; // wraps, as C's arithmetic does
            out[..size].copy_from_slice(&v.wrapping_add(d).to_ne_bytes());
        }};
    }
    match (kind, size) {
        (Kind::Signed, 1) => int!(i8),
        (Kind::Signed, 2) => int!(i16),
        (Kind::Signed, 4) => int!(i32),
        (Kind::Signed, _) => int!(i64),
        (Kind::Unsigned, 1) => int!(u8),
        (Kind::Unsigned, 2) => int!(u16),
        (Kind::Unsigned, 4) => int!(u32),
        (Kind::Unsigned, _) => int!(u64),
        (_, 4) => out[..4].copy_from_slice(
            &(f32::from_ne_bytes(raw[..4].try_into().unwrap()) + delta as f32).to_ne_bytes(),
        ),
        _ => out.copy_from_slice(&(f64::from_ne_bytes(raw) + delta).to_ne_bytes()),
    }
    out
}

/// A shared single value (`Value`, `RawValue`).
#[repr(C)]
pub struct Value {
    tag: Tag,
    block: Block,
}

impl Value {
    /// The tag value of a value handle.
    pub const TAG: u32 = u32::from_be_bytes(*b"valu");

    /// A value of `typecode`, set to `init` (its bytes) or zero.
    pub fn new(typecode: u8, init: Option<&[u8]>, guard: Guard) -> Result<Arc<Value>> {
        let elem = ElemType::from_typecode(typecode)?;
        Ok(Arc::new(Value {
            tag: Tag::new(Value::TAG),
            block: Block::new(elem, 1, init, guard)?,
        }))
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The value's storage, lock and type.
    pub fn block(&self) -> &Block {
        &self.block
    }
}

/// A shared array (`Array`, `RawArray`).
#[repr(C)]
pub struct Array {
    tag: Tag,
    block: Block,
}

impl Array {
    /// The tag value of an array handle.
    pub const TAG: u32 = u32::from_be_bytes(*b"arry");

    /// `len` elements of `elem`, set from `init` (all their bytes) or zeros.
    pub fn new(
        elem: ElemType,
        len: usize,
        init: Option<&[u8]>,
        guard: Guard,
    ) -> Result<Arc<Array>> {
        Ok(Arc::new(Array {
            tag: Tag::new(Array::TAG),
            block: Block::new(elem, len, init, guard)?,
        }))
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The array's storage, lock and type.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// A `'c'` array's string (ctypes' `.value`): the bytes up to the first NUL.
    pub fn string(&self) -> Result<Vec<u8>> {
        self.check_chars()?;
        let mut bytes = vec![0u8; self.block.len];
        self.block.read(0, self.block.len, &mut bytes)?;
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        bytes.truncate(end);
        Ok(bytes)
    }

    /// Stores `s` in a `'c'` array, NUL-terminated when it is shorter than the array.
    /// Longer than the array: `Value`, nothing changed.
    pub fn set_string(&self, s: &[u8]) -> Result<()> {
        self.check_chars()?;
        let len = self.block.len;
        if s.len() > len {
            return Err(Error::new(
                ErrorKind::Value,
                format!(
                    "string of {} bytes is too long for an array of {len}",
                    s.len()
                ),
            ));
        }
        let mut bytes = s.to_vec();
        if bytes.len() < len {
            bytes.push(0);
        }
        self.block.write(0, bytes.len(), &bytes)
    }

    fn check_chars(&self) -> Result<()> {
        if self.block.elem.kind != Kind::Char {
            return Err(Error::invalid_argument("string access needs a 'c' array"));
        }
        Ok(())
    }

    /// A new raw array with the same contents (`sharedctypes.copy`).
    pub fn copy(&self) -> Result<Arc<Array>> {
        Ok(Arc::new(Array {
            tag: Tag::new(Array::TAG),
            block: self.block.copy()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typecode_has_its_c_size() {
        for (code, size) in [
            (b'c', 1),
            (b'b', 1),
            (b'B', 1),
            (b'h', 2),
            (b'H', 2),
            (b'i', 4),
            (b'I', 4),
            (b'l', 8),
            (b'L', 8),
            (b'q', 8),
            (b'Q', 8),
            (b'f', 4),
            (b'd', 8),
            (b'?', 1),
            (b'u', 4),
        ] {
            assert_eq!(
                ElemType::from_typecode(code).unwrap().size(),
                size,
                "{}",
                code as char
            );
        }
        assert!(ElemType::from_typecode(b'x').is_err());
    }

    #[test]
    fn add_wraps_and_refuses_fractions() {
        let v = Value::new(b'B', Some(&[250]), Guard::Own).unwrap();
        v.block().add(0, 10.0).unwrap();
        let mut out = [0u8];
        v.block().read(0, 1, &mut out).unwrap();
        assert_eq!(out[0], 4);
        assert_eq!(
            v.block().add(0, 0.5).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let d = Value::new(b'd', None, Guard::Raw).unwrap();
        d.block().add(0, 0.5).unwrap();
        let mut out = [0u8; 8];
        d.block().read(0, 1, &mut out).unwrap();
        assert_eq!(f64::from_ne_bytes(out), 0.5);
    }

    #[test]
    fn strings_and_ranges() {
        let a = Array::new(ElemType::from_typecode(b'c').unwrap(), 5, None, Guard::Own).unwrap();
        a.set_string(b"hey").unwrap();
        assert_eq!(a.string().unwrap(), b"hey");
        a.set_string(b"hello").unwrap();
        assert_eq!(a.string().unwrap(), b"hello");
        assert_eq!(
            a.set_string(b"hello!").unwrap_err().kind(),
            ErrorKind::Value
        );
        assert_eq!(a.string().unwrap(), b"hello");
        let mut out = [0u8; 2];
        assert_eq!(
            a.block().read(4, 2, &mut out).unwrap_err().kind(),
            ErrorKind::Index
        );
        let empty = Array::new(ElemType::sized(16).unwrap(), 0, None, Guard::Raw).unwrap();
        empty.block().read(0, 0, &mut []).unwrap();
        assert_eq!(empty.copy().unwrap().block().len(), 0);
    }
}
