//! A manager's `Value` or `Array`: what they need of it ([`RemoteValue`], [`RemoteArray`],
//! which `managers` implements), and the conversion between C's elements and the items
//! the manager holds. Its typecode and length are fixed at creation and kept here, so
//! ranges are checked without asking the server.

use super::elem::{check_len, ElemType};
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;

/// A manager's `Value` (Python's `ValueProxy`). Every method fails with `Eof` when the
/// manager is gone, `Remote` for any other failure the server reported.
pub trait RemoteValue: Send + Sync {
    fn get(&self) -> Result<Item>;
    fn set(&self, item: Item) -> Result<()>;
}

/// A manager's `Array` (Python's `ArrayProxy`); indices are checked before each call.
/// Failures as [`RemoteValue`]'s.
pub trait RemoteArray: Send + Sync {
    fn get(&self, index: usize) -> Result<Item>;
    fn set(&self, index: usize, item: Item) -> Result<()>;
    /// Elements `[start, start + count)` (`count` >= 2), in one request.
    fn read(&self, start: usize, count: usize) -> Result<Vec<Item>>;
    /// Sets elements from `start` (at least 2 of them), in one request.
    fn write(&self, start: usize, items: &[Item]) -> Result<()>;
}

enum Remote {
    Value(Box<dyn RemoteValue>),
    Array(Box<dyn RemoteArray>),
}

/// The elements of a managed value or array, as C reads and writes them.
pub(super) struct Managed {
    elem: ElemType,
    len: usize,
    remote: Remote,
}

impl Managed {
    pub(super) fn value(remote: Box<dyn RemoteValue>, elem: ElemType) -> Managed {
        Managed {
            elem,
            len: 1,
            remote: Remote::Value(remote),
        }
    }

    pub(super) fn array(remote: Box<dyn RemoteArray>, elem: ElemType, len: usize) -> Managed {
        Managed {
            elem,
            len,
            remote: Remote::Array(remote),
        }
    }

    pub(super) fn elem(&self) -> ElemType {
        self.elem
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// What it is, for messages.
    pub(super) fn noun(&self) -> &'static str {
        match self.remote {
            Remote::Value(_) => "value",
            Remote::Array(_) => "array",
        }
    }

    /// Reads `count` elements from `start` into `out` (exactly `count * size` bytes).
    pub(super) fn read(&self, start: usize, count: usize, out: &mut [u8]) -> Result<()> {
        let range = self.elem.range(self.len, start, count)?;
        check_len(out.len(), range.len(), "out")?;
        let items = match (&self.remote, count) {
            (_, 0) => return Ok(()),
            // A value's one element: the range was checked.
            (Remote::Value(value), _) => vec![value.get()?],
            (Remote::Array(array), 1) => vec![array.get(start)?],
            (Remote::Array(array), _) => array.read(start, count)?,
        };
        if items.len() != count {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "asked the manager for {count} elements, got {}",
                    items.len()
                ),
            ));
        }
        // Converted in full before anything is written: a bad element changes nothing.
        let mut bytes = vec![0u8; out.len()];
        for (item, element) in items.iter().zip(bytes.chunks_exact_mut(self.elem.size())) {
            self.elem.to_c(item, element)?;
        }
        out.copy_from_slice(&bytes);
        Ok(())
    }

    /// Writes `count` elements at `start` from `input` (exactly `count * size` bytes).
    pub(super) fn write(&self, start: usize, count: usize, input: &[u8]) -> Result<()> {
        let range = self.elem.range(self.len, start, count)?;
        check_len(input.len(), range.len(), "in")?;
        let mut items = self.elem.items(input)?;
        match (&self.remote, items.len()) {
            (_, 0) => Ok(()),
            (Remote::Value(value), _) => value.set(items.remove(0)),
            (Remote::Array(array), 1) => array.set(start, items.remove(0)),
            (Remote::Array(array), _) => array.write(start, &items),
        }
    }
}

/// For tests here and of the C functions: a manager's value or array in this process.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::backing::DropCount;

    /// A manager's value or array in this process: its elements, and a log of calls.
    #[derive(Default)]
    pub(crate) struct FakeElements {
        pub(crate) items: Arc<Mutex<Vec<Item>>>,
        pub(crate) log: Arc<Mutex<Vec<&'static str>>>,
        pub(crate) drops: DropCount,
    }

    impl FakeElements {
        pub(crate) fn with(items: Vec<Item>) -> FakeElements {
            FakeElements {
                items: Arc::new(Mutex::new(items)),
                ..FakeElements::default()
            }
        }

        fn note(&self, call: &'static str) {
            self.log.lock().unwrap().push(call);
        }
    }

    impl RemoteValue for FakeElements {
        fn get(&self) -> Result<Item> {
            Ok(self.items.lock().unwrap()[0].clone())
        }
        fn set(&self, item: Item) -> Result<()> {
            self.items.lock().unwrap()[0] = item;
            Ok(())
        }
    }

    impl RemoteArray for FakeElements {
        fn get(&self, index: usize) -> Result<Item> {
            self.note("get");
            Ok(self.items.lock().unwrap()[index].clone())
        }
        fn set(&self, index: usize, item: Item) -> Result<()> {
            self.note("set");
            self.items.lock().unwrap()[index] = item;
            Ok(())
        }
        fn read(&self, start: usize, count: usize) -> Result<Vec<Item>> {
            self.note("read");
            // Fewer than asked when it holds fewer than the array's length (a broken
            // server).
            let items = self.items.lock().unwrap();
            Ok(items[start..(start + count).min(items.len())].to_vec())
        }
        fn write(&self, start: usize, items: &[Item]) -> Result<()> {
            self.note("write");
            self.items.lock().unwrap()[start..start + items.len()].clone_from_slice(items);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::{Arc, Mutex};

    use super::fake::FakeElements;
    use super::*;
    use crate::deadline::Deadline;
    use crate::sharedctypes::{Array, Guard, Value};
    use crate::synchronize::{Lock, RemoteAcquirer};

    fn ints(values: &[i64]) -> Vec<Item> {
        values.iter().map(|v| Item::Int(*v)).collect()
    }

    #[test]
    fn a_managed_value_converts_and_has_nothing_local() {
        let fake = FakeElements::with(ints(&[5]));
        let (items, drops) = (fake.items.clone(), fake.drops.counter());
        let value = Value::remote(Box::new(fake), b'i').unwrap();
        let elements = value.elements();
        assert_eq!((elements.len(), elements.elem().typecode()), (1, b'i'));
        let mut out = [0u8; 4];
        elements.read(0, 1, &mut out).unwrap();
        assert_eq!(i32::from_ne_bytes(out), 5);
        elements.write(0, 1, &(-7i32).to_ne_bytes()).unwrap();
        assert_eq!(items.lock().unwrap()[0], Item::Int(-7));
        // A Python peer stored a str: the read fails and changes nothing.
        items.lock().unwrap()[0] = Item::Str("x".into());
        assert_eq!(
            elements.read(0, 1, &mut out).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(i32::from_ne_bytes(out), 5);
        for (err, says) in [
            (elements.add(0, 1.0).unwrap_err(), "atomic"),
            (elements.ptr().unwrap_err(), "no memory"),
            (elements.lock().err().unwrap(), "no lock"),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotSupported);
            assert!(
                err.message().starts_with("a managed value"),
                "{}",
                err.message()
            );
            assert!(err.message().contains(says), "{}", err.message());
        }
        drop(value);
        assert_eq!(drops.load(SeqCst), 1);
        let err = Value::remote(Box::new(FakeElements::default()), b'x')
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn a_managed_array_asks_once_per_call_and_checks_ranges_here() {
        let fake = FakeElements::with(ints(&[1, 2, 3]));
        let (items, log, drops) = (fake.items.clone(), fake.log.clone(), fake.drops.counter());
        let array = Array::remote(Box::new(fake), b'd', 3).unwrap();
        let elements = array.elements();
        let mut out = [0u8; 16];
        elements.read(1, 2, &mut out).unwrap();
        assert_eq!(out[..8], 2f64.to_ne_bytes());
        assert_eq!(out[8..], 3f64.to_ne_bytes());
        elements.read(0, 1, &mut out[..8]).unwrap();
        assert_eq!(out[..8], 1f64.to_ne_bytes());
        let mut two = 0.5f64.to_ne_bytes().to_vec();
        two.extend_from_slice(&1.5f64.to_ne_bytes());
        elements.write(0, 2, &two).unwrap();
        elements.write(2, 1, &2.5f64.to_ne_bytes()).unwrap();
        elements.read(0, 0, &mut []).unwrap();
        let err = elements.read(2, 2, &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Index);
        assert_eq!(*log.lock().unwrap(), ["read", "get", "write", "set"]);
        assert_eq!(
            *items.lock().unwrap(),
            [Item::Float(0.5), Item::Float(1.5), Item::Float(2.5)]
        );
        // A copy is local: it has memory here.
        let copy = array.copy().unwrap();
        assert!(copy.elements().ptr().is_ok());
        assert!(copy.elements().lock().unwrap().is_none());
        copy.elements().read(0, 1, &mut out[..8]).unwrap();
        assert_eq!(out[..8], 0.5f64.to_ne_bytes());
        let err = elements.ptr().unwrap_err();
        assert!(
            err.message().starts_with("a managed array"),
            "{}",
            err.message()
        );
        drop(array);
        assert_eq!(drops.load(SeqCst), 1);
    }

    #[test]
    fn a_managed_char_array_holds_strings() {
        let bytes = |s: &[u8]| s.iter().map(|b| Item::Bytes(vec![*b])).collect::<Vec<_>>();
        let fake = FakeElements::with(bytes(b"hi\0x"));
        let items = fake.items.clone();
        let array = Array::remote(Box::new(fake), b'c', 4).unwrap();
        assert_eq!(array.string().unwrap(), b"hi");
        array.set_string(b"ab").unwrap();
        assert_eq!(*items.lock().unwrap(), bytes(b"ab\0x"));
        array.set_string(b"abcd").unwrap();
        assert_eq!(array.string().unwrap(), b"abcd");
        let err = array.set_string(b"abcde").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Value);
    }

    #[test]
    fn a_server_that_sends_too_few_elements_is_a_protocol_error() {
        let array = Array::remote(Box::new(FakeElements::with(ints(&[1, 2]))), b'q', 3).unwrap();
        let mut out = [0u8; 24];
        let err = array.elements().read(0, 3, &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert_eq!(out, [0; 24]);
    }

    /// A manager's lock that counts its acquires and releases.
    #[derive(Default)]
    struct CountingLock(Arc<Mutex<Vec<&'static str>>>);

    impl RemoteAcquirer for CountingLock {
        fn acquire(&self, _: Deadline) -> Result<()> {
            self.0.lock().unwrap().push("acquire");
            Ok(())
        }
        fn release(&self) -> Result<()> {
            self.0.lock().unwrap().push("release");
            Ok(())
        }
    }

    #[test]
    fn a_local_value_may_be_guarded_by_a_managed_lock() {
        let lock = CountingLock::default();
        let log = lock.0.clone();
        let guard = Guard::With(Lock::remote(Box::new(lock), true));
        let value = Value::new(b'i', Some(&3i32.to_ne_bytes()), guard).unwrap();
        let mut out = [0u8; 4];
        value.elements().read(0, 1, &mut out).unwrap();
        assert_eq!(i32::from_ne_bytes(out), 3);
        assert_eq!(
            *log.lock().unwrap(),
            ["acquire", "release", "acquire", "release"]
        );
    }
}
