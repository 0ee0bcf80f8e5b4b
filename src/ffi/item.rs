//! `pc_item`: a Python value as C reads and writes it, in managed containers and queues.

use std::ffi::{c_char, c_void};

use super::handle;
use crate::error::{Error, Result};
use crate::item::Item;

/// The kind of a `pc_item` (its `kind` field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum pc_kind {
    /// Python's `None`.
    PC_KIND_NONE = 0,
    /// `bool`: `i` is 0 or 1.
    PC_KIND_BOOL = 1,
    /// `int` in the range of `int64_t`: `i`.
    PC_KIND_INT = 2,
    /// `float`: `f`.
    PC_KIND_FLOAT = 3,
    /// `bytes`: `len` bytes at `data`.
    PC_KIND_BYTES = 4,
    /// `str`: `len` bytes of UTF-8 at `data`, not NUL-terminated.
    PC_KIND_STR = 5,
    /// Any other value (tuple, list, dict, set, an int beyond `int64_t`, an object): its
    /// whole pickle, `len` bytes at `data`, stored and handed back unchanged.
    PC_KIND_PICKLE = 6,
}

/// Marks an item whose `data` the library allocated (and `pc_item_release` frees).
const OWNED: u32 = 0x4f57_4e44;

/// A Python value. Build one to pass in with `pc_item_none`, `pc_item_int`, … (the item
/// then borrows its bytes from the caller); an item the library fills in owns its bytes
/// until `pc_item_release`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct pc_item {
    /// A `pc_kind`, as an integer (another value is `PC_ERR_INVALID_ARGUMENT`).
    pub kind: i32,
    /// Set by the library on items it filled in; 0 on items the caller builds.
    pub _owned: u32,
    /// `PC_KIND_BOOL` (0 or 1) and `PC_KIND_INT`.
    pub i: i64,
    /// `PC_KIND_FLOAT`.
    pub f: f64,
    /// `PC_KIND_BYTES`, `PC_KIND_STR`, `PC_KIND_PICKLE`: the bytes (NULL when `len` is 0).
    pub data: *const c_void,
    /// How many bytes there are at `data`.
    pub len: usize,
}

impl pc_item {
    fn scalar(kind: pc_kind, i: i64, f: f64) -> pc_item {
        pc_item {
            kind: kind as i32,
            _owned: 0,
            i,
            f,
            data: std::ptr::null(),
            len: 0,
        }
    }

    fn borrowing(kind: pc_kind, data: *const c_void, len: usize) -> pc_item {
        pc_item {
            data,
            len,
            ..pc_item::scalar(kind, 0, 0.0)
        }
    }

    /// A view of `item` for a callee: it borrows the item's bytes (the item outlives it).
    pub(crate) fn viewing(item: &Item) -> pc_item {
        match item {
            Item::None => pc_item::scalar(pc_kind::PC_KIND_NONE, 0, 0.0),
            Item::Bool(b) => pc_item::scalar(pc_kind::PC_KIND_BOOL, (*b).into(), 0.0),
            Item::Int(i) => pc_item::scalar(pc_kind::PC_KIND_INT, *i, 0.0),
            Item::Float(f) => pc_item::scalar(pc_kind::PC_KIND_FLOAT, 0, *f),
            Item::Bytes(b) => {
                pc_item::borrowing(pc_kind::PC_KIND_BYTES, b.as_ptr().cast(), b.len())
            }
            Item::Str(s) => pc_item::borrowing(pc_kind::PC_KIND_STR, s.as_ptr().cast(), s.len()),
            Item::Pickle(p) => {
                pc_item::borrowing(pc_kind::PC_KIND_PICKLE, p.as_ptr().cast(), p.len())
            }
        }
    }

    /// Gives `item` to C: its bytes are owned by the item until `pc_item_release`.
    pub(crate) fn owning(item: Item) -> pc_item {
        let (kind, bytes) = match item {
            Item::None => return pc_item::scalar(pc_kind::PC_KIND_NONE, 0, 0.0),
            Item::Bool(b) => return pc_item::scalar(pc_kind::PC_KIND_BOOL, b.into(), 0.0),
            Item::Int(i) => return pc_item::scalar(pc_kind::PC_KIND_INT, i, 0.0),
            Item::Float(f) => return pc_item::scalar(pc_kind::PC_KIND_FLOAT, 0, f),
            Item::Bytes(b) => (pc_kind::PC_KIND_BYTES, b),
            Item::Str(s) => (pc_kind::PC_KIND_STR, s.into_bytes()),
            Item::Pickle(p) => (pc_kind::PC_KIND_PICKLE, p),
        };
        if bytes.is_empty() {
            return pc_item::borrowing(kind, std::ptr::null(), 0);
        }
        let len = bytes.len();
        let data = Box::into_raw(bytes.into_boxed_slice()).cast::<c_void>();
        pc_item {
            _owned: OWNED,
            ..pc_item::borrowing(kind, data, len)
        }
    }

    /// Reads an item C passed in (its bytes are copied); `param` names it in errors.
    pub(crate) fn to_item(self, param: &str) -> Result<Item> {
        let bytes = || handle::bytes(self.data.cast::<u8>(), self.len, param).map(<[u8]>::to_vec);
        Ok(match self.kind {
            k if k == pc_kind::PC_KIND_NONE as i32 => Item::None,
            k if k == pc_kind::PC_KIND_BOOL as i32 => Item::Bool(self.i != 0),
            k if k == pc_kind::PC_KIND_INT as i32 => Item::Int(self.i),
            k if k == pc_kind::PC_KIND_FLOAT as i32 => Item::Float(self.f),
            k if k == pc_kind::PC_KIND_BYTES as i32 => Item::Bytes(bytes()?),
            k if k == pc_kind::PC_KIND_STR as i32 => Item::Str(
                String::from_utf8(bytes()?)
                    .map_err(|_| Error::invalid_argument(format!("{param} is not valid UTF-8")))?,
            ),
            k if k == pc_kind::PC_KIND_PICKLE as i32 => Item::Pickle(bytes()?),
            other => {
                return Err(Error::invalid_argument(format!(
                    "{param} has an unknown kind {other}"
                )))
            }
        })
    }
}

/// An item `None`.
#[no_mangle]
pub extern "C" fn pc_item_none() -> pc_item {
    pc_item::scalar(pc_kind::PC_KIND_NONE, 0, 0.0)
}

/// An item `bool`.
#[no_mangle]
pub extern "C" fn pc_item_bool(value: bool) -> pc_item {
    pc_item::scalar(pc_kind::PC_KIND_BOOL, value.into(), 0.0)
}

/// An item `int`.
#[no_mangle]
pub extern "C" fn pc_item_int(value: i64) -> pc_item {
    pc_item::scalar(pc_kind::PC_KIND_INT, value, 0.0)
}

/// An item `float`.
#[no_mangle]
pub extern "C" fn pc_item_float(value: f64) -> pc_item {
    pc_item::scalar(pc_kind::PC_KIND_FLOAT, 0, value)
}

/// An item `bytes` that borrows the `len` bytes at `data` (which must outlive its use).
#[no_mangle]
pub extern "C" fn pc_item_bytes(data: *const c_void, len: usize) -> pc_item {
    pc_item::borrowing(pc_kind::PC_KIND_BYTES, data, len)
}

/// An item `str` that borrows the NUL-terminated UTF-8 string `s` (without its NUL).
/// NULL gives an item the call using it refuses (`PC_ERR_INVALID_ARGUMENT`); so does
/// invalid UTF-8.
#[no_mangle]
pub extern "C" fn pc_item_str(s: *const c_char) -> pc_item {
    match handle::c_bytes(s, "s") {
        Ok(bytes) => pc_item::borrowing(pc_kind::PC_KIND_STR, s.cast(), bytes.len()),
        // A non-zero length with NULL data: refused where it is used.
        Err(_) => pc_item::borrowing(pc_kind::PC_KIND_STR, std::ptr::null(), 1),
    }
}

/// Frees the bytes of an item the library filled in and makes it `None`. An item the
/// caller built (its bytes are the caller's) is only made `None`. NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_item_release(item: *mut pc_item) {
    let Some(item) = handle::in_opt_mut(item) else {
        return;
    };
    if item._owned == OWNED && !item.data.is_null() {
        // SAFETY: an owned item's data was made by `pc_item::owning` with this length.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                item.data.cast_mut().cast::<u8>(),
                item.len,
            ))
        });
    }
    *item = pc_item_none();
}

/// Releases `n` items (`pc_item_release` each) and then the array itself, as the library
/// hands arrays out (`pc_dict_items`, `pc_list_items`). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_items_release(items: *mut pc_item, n: usize) {
    if items.is_null() {
        return;
    }
    // SAFETY: an array of `n` items handed out by `owning_array`.
    let array = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(items, n)) };
    for mut item in array.into_vec() {
        pc_item_release(&mut item);
    }
}

/// Gives an array of items to C, released with `pc_items_release`.
pub(crate) fn owning_array(items: Vec<Item>) -> (*mut pc_item, usize) {
    if items.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let array: Box<[pc_item]> = items.into_iter().map(pc_item::owning).collect();
    let n = array.len();
    (Box::into_raw(array).cast::<pc_item>(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_release() {
        for item in [
            Item::None,
            Item::Bool(true),
            Item::Int(-5),
            Item::Float(2.5),
            Item::Bytes(b"ab".to_vec()),
            Item::Str("é".into()),
            Item::Pickle(vec![0x80, 4, b'N', b'.']),
            Item::Str(String::new()),
        ] {
            let mut c = pc_item::owning(item.clone());
            assert_eq!(c.to_item("x").unwrap(), item);
            pc_item_release(&mut c);
            assert_eq!(c.kind, pc_kind::PC_KIND_NONE as i32);
            pc_item_release(&mut c);
        }
        let mut borrowed = pc_item_bytes(b"xy".as_ptr().cast(), 2);
        pc_item_release(&mut borrowed);
        let bad = pc_item_str(std::ptr::null());
        assert!(bad.to_item("key").is_err());
        let (array, n) = owning_array(vec![Item::Str("a".into()), Item::Int(1)]);
        assert_eq!(n, 2);
        pc_items_release(array, n);
    }
}
