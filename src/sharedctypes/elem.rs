//! Element types by Python's typecodes: their C sizes, arithmetic on their bytes, and
//! their conversion to and from the items a manager's value or array holds.

use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;

/// What the elements are, by Python's typecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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

    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// The byte range of elements `[start, start + count)` of an array of `len`; `Index`
    /// when it does not fit.
    pub(super) fn range(&self, len: usize, start: usize, count: usize) -> Result<Range<usize>> {
        match start.checked_add(count) {
            Some(end) if end <= len => Ok(start * self.size..end * self.size),
            _ => Err(Error::new(
                ErrorKind::Index,
                format!("elements {start}..{start}+{count} out of range for length {len}"),
            )),
        }
    }

    /// The item a manager stores for the element in `bytes` (native byte order): an int,
    /// a float, one byte, a bool, or a one-character str. An unsigned value beyond
    /// `int64_t` is `Value` (items carry `int64_t`).
    pub fn to_item(&self, bytes: &[u8]) -> Result<Item> {
        if self.kind == Kind::Opaque {
            return Err(opaque());
        }
        let raw = widen(bytes);
        Ok(match (self.kind, self.size) {
            (Kind::Signed, 1) => Item::Int(i8::from_ne_bytes([raw[0]]).into()),
            (Kind::Signed, 2) => Item::Int(i16::from_ne_bytes([raw[0], raw[1]]).into()),
            (Kind::Signed, 4) => Item::Int(i32::from_ne_bytes(first4(raw)).into()),
            (Kind::Signed, _) => Item::Int(i64::from_ne_bytes(raw)),
            (Kind::Unsigned, _) => {
                let v = unsigned(self.size, raw);
                Item::Int(i64::try_from(v).map_err(|_| {
                    Error::new(
                        ErrorKind::Value,
                        format!("{v} is beyond the int64_t a manager's value carries"),
                    )
                })?)
            }
            (Kind::Float, 4) => Item::Float(f32::from_ne_bytes(first4(raw)).into()),
            (Kind::Float, _) => Item::Float(f64::from_ne_bytes(raw)),
            (Kind::Char, _) => Item::Bytes(vec![raw[0]]),
            (Kind::Bool, _) => Item::Bool(raw[0] != 0),
            (_, _) => {
                let code = unsigned(self.size, raw) as u32;
                let c = char::from_u32(code).ok_or_else(|| {
                    Error::new(ErrorKind::Value, format!("{code:#x} is not a character"))
                })?;
                Item::Str(c.into())
            }
        })
    }

    /// The items for the elements in `bytes` (a whole number of them), as `to_item`.
    pub fn items(&self, bytes: &[u8]) -> Result<Vec<Item>> {
        bytes
            .chunks_exact(self.size)
            .map(|b| self.to_item(b))
            .collect()
    }

    /// Writes the element for `item` (a manager's value) into `out` (native byte order).
    /// An item of another kind is `Type`; one out of the type's range is `Value`.
    pub fn to_c(&self, item: &Item, out: &mut [u8]) -> Result<()> {
        let wrong_kind = || self.mismatch(ErrorKind::Type, format!("of type {}", item.type_name()));
        match self.kind {
            Kind::Signed | Kind::Unsigned => {
                let v = match *item {
                    Item::Int(i) => i,
                    Item::Bool(b) => b.into(),
                    _ => return Err(wrong_kind()),
                };
                let bits = 8 * self.size as u32;
                let (min, max) = match self.kind {
                    Kind::Signed => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
                    _ => (0, (1i128 << bits) - 1),
                };
                if !(min..=max).contains(&i128::from(v)) {
                    return Err(self.mismatch(ErrorKind::Value, v.to_string()));
                }
                out.copy_from_slice(&v.to_ne_bytes()[low_bytes(self.size)]);
            }
            Kind::Float => {
                let v = match *item {
                    Item::Float(f) => f,
                    Item::Int(i) => i as f64,
                    _ => return Err(wrong_kind()),
                };
                match self.size {
                    4 => out.copy_from_slice(&(v as f32).to_ne_bytes()),
                    _ => out.copy_from_slice(&v.to_ne_bytes()),
                }
            }
            Kind::Bool => {
                out[0] = match *item {
                    Item::Bool(b) => b.into(),
                    Item::Int(i) => (i != 0).into(),
                    _ => return Err(wrong_kind()),
                }
            }
            Kind::Char => {
                let Item::Bytes(b) = item else {
                    return Err(wrong_kind());
                };
                let [byte] = b[..] else {
                    let what = format!("{} bytes, not one", b.len());
                    return Err(self.mismatch(ErrorKind::Value, what));
                };
                out[0] = byte;
            }
            Kind::WideChar => {
                let Item::Str(s) = item else {
                    return Err(wrong_kind());
                };
                let mut chars = s.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    let what = format!("a str of {} characters, not one", s.chars().count());
                    return Err(self.mismatch(ErrorKind::Value, what));
                };
                out.copy_from_slice(&u64::from(c).to_ne_bytes()[low_bytes(self.size)]);
            }
            Kind::Opaque => return Err(opaque()),
        }
        Ok(())
    }

    #[cold]
    fn mismatch(&self, kind: ErrorKind, what: String) -> Error {
        Error::new(
            kind,
            format!(
                "the manager's value is {what}, which typecode {:?} cannot hold",
                char::from(self.code)
            ),
        )
    }
}

#[cold]
fn opaque() -> Error {
    Error::invalid_argument("an array made by size has no typecode a manager knows")
}

/// Up to 8 bytes of one element, zero-extended to 8.
fn widen(bytes: &[u8]) -> [u8; 8] {
    let mut raw = [0u8; 8];
    raw[..bytes.len()].copy_from_slice(bytes);
    raw
}

fn first4(raw: [u8; 8]) -> [u8; 4] {
    [raw[0], raw[1], raw[2], raw[3]]
}

/// The unsigned value of the first `size` bytes of `raw` (native byte order).
fn unsigned(size: usize, raw: [u8; 8]) -> u64 {
    match size {
        1 => raw[0].into(),
        2 => u16::from_ne_bytes([raw[0], raw[1]]).into(),
        4 => u32::from_ne_bytes(first4(raw)).into(),
        _ => u64::from_ne_bytes(raw),
    }
}

/// Where the low `size` bytes of an 8-byte native-order integer are.
fn low_bytes(size: usize) -> Range<usize> {
    match cfg!(target_endian = "little") {
        true => 0..size,
        false => 8 - size..8,
    }
}

/// `value + delta` on the native-endian bytes of one number.
pub(super) fn add_raw(kind: Kind, size: usize, raw: [u8; 8], delta: f64) -> [u8; 8] {
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

/// Checks that a caller's buffer has the `expected` bytes.
pub(super) fn check_len(got: usize, expected: usize, what: &str) -> Result<()> {
    if got != expected {
        return Err(Error::invalid_argument(format!(
            "{what} has {got} bytes, {expected} expected"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(code: u8) -> ElemType {
        ElemType::from_typecode(code).unwrap()
    }

    /// The item for `bytes` of `code`, and back to the same bytes.
    fn round_trip(code: u8, bytes: &[u8], item: Item) {
        let elem = elem(code);
        assert_eq!(elem.to_item(bytes).unwrap(), item, "{}", code as char);
        let mut out = vec![0u8; elem.size()];
        elem.to_c(&item, &mut out).unwrap();
        assert_eq!(out, bytes, "{}", code as char);
    }

    #[test]
    fn every_typecode_converts_both_ways() {
        round_trip(b'b', &(-5i8).to_ne_bytes(), Item::Int(-5));
        round_trip(b'B', &[250], Item::Int(250));
        round_trip(b'h', &(-300i16).to_ne_bytes(), Item::Int(-300));
        round_trip(b'H', &65000u16.to_ne_bytes(), Item::Int(65000));
        round_trip(b'i', &(-70000i32).to_ne_bytes(), Item::Int(-70000));
        round_trip(
            b'I',
            &4_000_000_000u32.to_ne_bytes(),
            Item::Int(4_000_000_000),
        );
        round_trip(b'l', &i64::MIN.to_ne_bytes(), Item::Int(i64::MIN));
        round_trip(b'q', &i64::MAX.to_ne_bytes(), Item::Int(i64::MAX));
        round_trip(b'L', &(i64::MAX as u64).to_ne_bytes(), Item::Int(i64::MAX));
        round_trip(b'Q', &7u64.to_ne_bytes(), Item::Int(7));
        round_trip(b'f', &1.5f32.to_ne_bytes(), Item::Float(1.5));
        round_trip(b'd', &(-2.25f64).to_ne_bytes(), Item::Float(-2.25));
        round_trip(b'?', &[1], Item::Bool(true));
        round_trip(b'c', b"x", Item::Bytes(b"x".to_vec()));
        round_trip(
            b'u',
            &('é' as libc::wchar_t).to_ne_bytes(),
            Item::Str("é".into()),
        );
        assert_eq!(
            elem(b'b').items(&[1, 2]).unwrap(),
            [Item::Int(1), Item::Int(2)]
        );
    }

    #[test]
    fn what_a_c_element_cannot_carry_is_a_value_error() {
        let err = elem(b'Q').to_item(&u64::MAX.to_ne_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Value);
        let surrogate = (0xd800 as libc::wchar_t).to_ne_bytes();
        assert_eq!(
            elem(b'u').to_item(&surrogate).unwrap_err().kind(),
            ErrorKind::Value
        );
        let sized = ElemType::sized(16).unwrap();
        assert!(sized.to_item(&[0; 16]).is_err());
    }

    #[test]
    fn a_managers_value_is_checked_against_the_typecode() {
        let to_c = |code: u8, item: Item| {
            let elem = elem(code);
            let mut out = vec![0u8; elem.size()];
            elem.to_c(&item, &mut out).map(|()| out)
        };
        let kind = |code: u8, item: Item| to_c(code, item).unwrap_err().kind();
        assert_eq!(kind(b'b', Item::Int(128)), ErrorKind::Value);
        assert_eq!(kind(b'b', Item::Int(-129)), ErrorKind::Value);
        assert_eq!(kind(b'B', Item::Int(-1)), ErrorKind::Value);
        assert_eq!(kind(b'H', Item::Int(65536)), ErrorKind::Value);
        assert_eq!(kind(b'Q', Item::Int(-1)), ErrorKind::Value);
        assert_eq!(kind(b'i', Item::Str("1".into())), ErrorKind::Type);
        assert_eq!(kind(b'i', Item::Float(1.0)), ErrorKind::Type);
        assert_eq!(kind(b'd', Item::None), ErrorKind::Type);
        assert_eq!(kind(b'c', Item::Bytes(b"ab".to_vec())), ErrorKind::Value);
        assert_eq!(kind(b'c', Item::Int(65)), ErrorKind::Type);
        assert_eq!(kind(b'u', Item::Str("ab".into())), ErrorKind::Value);
        assert_eq!(kind(b'?', Item::Pickle(vec![])), ErrorKind::Type);
        let err = to_c(b'i', Item::Str("1".into())).unwrap_err();
        assert!(err.message().contains("of type str"), "{}", err.message());
        assert!(err.message().contains("'i'"), "{}", err.message());
        // Python's bool is an int, and an int is a float.
        assert_eq!(to_c(b'i', Item::Bool(true)).unwrap(), 1i32.to_ne_bytes());
        assert_eq!(to_c(b'd', Item::Int(3)).unwrap(), 3f64.to_ne_bytes());
        assert_eq!(to_c(b'?', Item::Int(2)).unwrap(), [1]);
        assert_eq!(
            to_c(b'Q', Item::Int(i64::MAX)).unwrap(),
            (i64::MAX as u64).to_ne_bytes()
        );
    }
}
