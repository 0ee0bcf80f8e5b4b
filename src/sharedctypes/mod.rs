//! The seed's shared ctypes: `Value`, `Array`, `RawValue`, `RawArray`, `copy` and
//! `synchronized`. A local one is typed bytes in the lineage's shared heap, optionally
//! guarded by a process-shared lock (`block`); a manager's (`remote`) holds Python values,
//! converted to and from C's elements by typecode (`elem`). C uses both through the same
//! handles and functions; only direct access to the memory (its address, its lock) and
//! the atomic add are local.
//!
//! A local one's memory comes from `shared` (typed objects in the shared heap), whose
//! mappings `sys::shm` makes.

mod block;
mod elem;
mod remote;

use std::sync::Arc;

use crate::backing::Backing;
use crate::error::{Error, ErrorKind, Result};
use crate::start::passing::{managed_not_passed, Inbox, Outbox, Passable};
use crate::synchronize::Lock;
use block::Block;
pub use block::Guard;
pub use elem::ElemType;
use elem::Kind;
#[cfg(test)]
pub(crate) use remote::fake::FakeElements;
use remote::Managed;
pub use remote::{RemoteArray, RemoteValue};

/// The elements of a value or an array: in shared memory here, or a manager's.
pub struct Elements(Backing<Block, Managed>);

impl Elements {
    pub fn len(&self) -> usize {
        match &self.0 {
            Backing::Local(block) => block.len(),
            Backing::Remote(managed) => managed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn elem(&self) -> ElemType {
        match &self.0 {
            Backing::Local(block) => block.elem(),
            Backing::Remote(managed) => managed.elem(),
        }
    }

    /// Reads `count` elements from `start` into `out` (exactly `count * size` bytes), as
    /// one step under the lock if there is one. A manager's elements of another kind than
    /// the typecode holds are `Type`, out of its range `Value`.
    pub fn read(&self, start: usize, count: usize, out: &mut [u8]) -> Result<()> {
        match &self.0 {
            Backing::Local(block) => block.read(start, count, out),
            Backing::Remote(managed) => managed.read(start, count, out),
        }
    }

    /// Writes `count` elements at `start` from `input` (exactly `count * size` bytes), as
    /// one step under the lock if there is one.
    pub fn write(&self, start: usize, count: usize, input: &[u8]) -> Result<()> {
        match &self.0 {
            Backing::Local(block) => block.write(start, count, input),
            Backing::Remote(managed) => managed.write(start, count, input),
        }
    }

    /// `self[index] += delta` under the lock, for integer and float types. Integers wrap as
    /// in C; `delta` must then be a whole number. A manager has no such step:
    /// `NotSupported`.
    pub fn add(&self, index: usize, delta: f64) -> Result<()> {
        self.local(
            "has no atomic add: take a managed lock around its get and set (a get then a \
             set is not atomic)",
        )?
        .add(index, delta)
    }

    /// The first element in shared memory: the same address in every process forked
    /// later. A manager's elements are not here: `NotSupported`.
    pub fn ptr(&self) -> Result<*mut u8> {
        Ok(self
            .local("has no memory in this process: use its get and set")?
            .ptr())
    }

    /// The guarding lock, `None` for raw ones. A manager's value or array has no lock
    /// here: `NotSupported`.
    pub fn lock(&self) -> Result<Option<&Arc<Lock>>> {
        let block =
            self.local("has no lock in this process: guard its gets and sets with a managed lock")?;
        Ok(block.lock())
    }

    /// The local block, or `NotSupported`: "a managed value" (or array) `lacks` ….
    fn local(&self, lacks: &str) -> Result<&Block> {
        self.0
            .local(|managed| format!("a managed {} {lacks}", managed.noun()))
    }
}

/// A shared single value (`Value`, `RawValue`), local or managed.
pub struct Value {
    elements: Elements,
}

impl Value {
    fn with(backing: Backing<Block, Managed>) -> Arc<Value> {
        Arc::new(Value {
            elements: Elements(backing),
        })
    }

    /// A value of `typecode`, set to `init` (its bytes) or zero.
    pub fn new(typecode: u8, init: Option<&[u8]>, guard: Guard) -> Result<Arc<Value>> {
        let elem = ElemType::from_typecode(typecode)?;
        Ok(Value::with(Backing::Local(Block::new(
            elem, 1, init, guard,
        )?)))
    }

    /// A manager's value of `typecode`, used through `remote`.
    pub fn remote(remote: Box<dyn RemoteValue>, typecode: u8) -> Result<Arc<Value>> {
        let elem = ElemType::from_typecode(typecode)?;
        Ok(Value::with(Backing::Remote(Managed::value(remote, elem))))
    }

    /// The value's element, its type, and (local ones) its memory and lock.
    pub fn elements(&self) -> &Elements {
        &self.elements
    }
}

/// A shared array (`Array`, `RawArray`), local or managed.
pub struct Array {
    elements: Elements,
}

impl Array {
    fn with(backing: Backing<Block, Managed>) -> Arc<Array> {
        Arc::new(Array {
            elements: Elements(backing),
        })
    }

    /// `len` elements of `elem`, set from `init` (all their bytes) or zeros.
    pub fn new(
        elem: ElemType,
        len: usize,
        init: Option<&[u8]>,
        guard: Guard,
    ) -> Result<Arc<Array>> {
        Ok(Array::with(Backing::Local(Block::new(
            elem, len, init, guard,
        )?)))
    }

    /// A manager's array of `len` elements of `typecode`, used through `remote`.
    pub fn remote(remote: Box<dyn RemoteArray>, typecode: u8, len: usize) -> Result<Arc<Array>> {
        let elem = ElemType::from_typecode(typecode)?;
        elem.size().checked_mul(len).ok_or_else(|| {
            Error::new(
                ErrorKind::TooLarge,
                format!("{len} elements of {} bytes", elem.size()),
            )
        })?;
        Ok(Array::with(Backing::Remote(Managed::array(
            remote, elem, len,
        ))))
    }

    /// The array's elements, their type, and (local ones) their memory and lock.
    pub fn elements(&self) -> &Elements {
        &self.elements
    }

    /// All the elements' bytes, read in one step.
    fn bytes(&self) -> Result<Vec<u8>> {
        let len = self.elements.len();
        let mut bytes = vec![0u8; len * self.elements.elem().size()];
        self.elements.read(0, len, &mut bytes)?;
        Ok(bytes)
    }

    /// A `'c'` array's string (ctypes' `.value`): the bytes up to the first NUL.
    pub fn string(&self) -> Result<Vec<u8>> {
        self.check_chars()?;
        let mut bytes = self.bytes()?;
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        bytes.truncate(end);
        Ok(bytes)
    }

    /// Stores `s` in a `'c'` array, NUL-terminated when it is shorter than the array.
    /// Longer than the array: `Value`, nothing changed.
    pub fn set_string(&self, s: &[u8]) -> Result<()> {
        self.check_chars()?;
        let len = self.elements.len();
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
        self.elements.write(0, bytes.len(), &bytes)
    }

    fn check_chars(&self) -> Result<()> {
        if self.elements.elem().kind() != Kind::Char {
            return Err(Error::invalid_argument("string access needs a 'c' array"));
        }
        Ok(())
    }

    /// A new raw array in this process's shared memory with the same contents
    /// (`sharedctypes.copy`), a managed array's too.
    pub fn copy(&self) -> Result<Arc<Array>> {
        let block = match &self.elements.0 {
            Backing::Local(block) => block.copy()?,
            Backing::Remote(managed) => {
                let bytes = self.bytes()?;
                Block::new(managed.elem(), managed.len(), Some(&bytes), Guard::Raw)?
            }
        };
        Ok(Array::with(Backing::Local(block)))
    }
}

impl Elements {
    fn pass(&self, out: &mut Outbox, noun: &str) -> Result<()> {
        match &self.0 {
            Backing::Local(block) => block.pass(out),
            Backing::Remote(_) => Err(managed_not_passed(noun)),
        }
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Elements> {
        Ok(Elements(Backing::Local(Block::receive(inbox)?)))
    }
}

impl Passable for Value {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        self.elements.pass(out, "value")
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Value>> {
        Ok(Arc::new(Value {
            elements: Elements::receive(inbox)?,
        }))
    }
}

impl Passable for Array {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        self.elements.pass(out, "array")
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<Array>> {
        Ok(Arc::new(Array {
            elements: Elements::receive(inbox)?,
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
        v.elements().add(0, 10.0).unwrap();
        let mut out = [0u8];
        v.elements().read(0, 1, &mut out).unwrap();
        assert_eq!(out[0], 4);
        assert_eq!(
            v.elements().add(0, 0.5).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        let d = Value::new(b'd', None, Guard::Raw).unwrap();
        d.elements().add(0, 0.5).unwrap();
        let mut out = [0u8; 8];
        d.elements().read(0, 1, &mut out).unwrap();
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
            a.elements().read(4, 2, &mut out).unwrap_err().kind(),
            ErrorKind::Index
        );
        let empty = Array::new(ElemType::sized(16).unwrap(), 0, None, Guard::Raw).unwrap();
        empty.elements().read(0, 0, &mut []).unwrap();
        assert_eq!(empty.copy().unwrap().elements().len(), 0);
    }
}
