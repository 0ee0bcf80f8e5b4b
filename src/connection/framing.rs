//! The wire format of Python's `multiprocessing.connection`: a 4-byte big-endian signed
//! length, or `-1` followed by an 8-byte big-endian length for messages over 2 GiB
//! (Python 3.8+), then the body.

/// The longest length the 4-byte form carries.
const SHORT_MAX: u64 = 0x7fff_ffff;

/// The header of a `len`-byte message: its bytes, used up to the returned length.
pub(crate) fn header(len: usize) -> ([u8; 12], usize) {
    let mut out = [0u8; 12];
    let len = len as u64;
    if len <= SHORT_MAX {
        out[..4].copy_from_slice(&(len as u32).to_be_bytes());
        (out, 4)
    } else {
        out[..4].copy_from_slice(&(-1i32).to_be_bytes());
        out[4..].copy_from_slice(&len.to_be_bytes());
        (out, 12)
    }
}

/// What the first 4 bytes of a header say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Short {
    /// The body's length.
    Length(u64),
    /// `-1`: an 8-byte length follows.
    LongFollows,
    /// Any other negative number: a broken or hostile peer.
    Invalid(i32),
}

pub(crate) fn parse_short(bytes: [u8; 4]) -> Short {
    match i32::from_be_bytes(bytes) {
        -1 => Short::LongFollows,
        n if n < 0 => Short::Invalid(n),
        n => Short::Length(n as u64),
    }
}

pub(crate) fn parse_long(bytes: [u8; 8]) -> u64 {
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        assert_eq!(header(0), ([0; 12], 4));
        let (h, n) = header(300);
        assert_eq!(&h[..n], &[0, 0, 1, 44]);
        assert_eq!(parse_short([0, 0, 1, 44]), Short::Length(300));
        let (h, n) = header(0x8000_0000);
        assert_eq!(n, 12);
        assert_eq!(parse_short(h[..4].try_into().unwrap()), Short::LongFollows);
        assert_eq!(parse_long(h[4..].try_into().unwrap()), 0x8000_0000);
        assert_eq!(parse_short((-2i32).to_be_bytes()), Short::Invalid(-2));
    }
}
