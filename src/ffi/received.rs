//! What a receive into the caller's buffer tells C, for connections and queues alike.

use std::mem::MaybeUninit;

use crate::connection::RecvInto;
use crate::error::{Error, ErrorKind, Result};

/// A receive into the caller's buffer (`room` bytes) as C sees it: the message's length
/// in `*len` either way, and `PC_ERR_BUFFER_TOO_SHORT` when it was left for later.
pub(crate) fn received_into(
    received: RecvInto,
    len: &mut MaybeUninit<usize>,
    room: usize,
) -> Result<()> {
    match received {
        RecvInto::Fits(n) => {
            len.write(n);
            Ok(())
        }
        RecvInto::TooShort(n) => {
            len.write(n);
            Err(Error::new(
                ErrorKind::BufferTooShort,
                format!("the message has {n} bytes, the buffer room for {room}"),
            ))
        }
    }
}
