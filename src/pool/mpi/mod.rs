//! The MPI back end of a pool: the same pool, with its workers in the other ranks of an
//! MPI job (`mpiexec -n N`; see `crate::mpi`).
//!
//! In rank 0 the pool is the usual one (jobs, the result thread, callbacks, iterators),
//! whose workers are *bridges*: threads, one per worker rank, that take task messages
//! from the pool's queue as a worker does, send each to their rank, and put the rank's
//! reply on the result queue ([`bridge`]). A worker rank runs the tasks it is sent
//! ([`rank`]). Task functions cross as module and offset, as for workers started by
//! exec; `map_array`'s elements cross in the messages, chunk by chunk.
//!
//! The messages, on the pool's own MPI tag (rank 0 to a worker rank, then its reply):
//! - `START`: a new pool, with its initializer (a located function and its argument's
//!   bytes, or none). No reply.
//! - `ITEMS`: a task message's place in the queue, then the pool's task message itself;
//!   the reply is the pool's `Results` message.
//! - `ELEMENTS`: a chunk of a `map_array` call: its place, job, chunk, function, element
//!   range and sizes, the context's bytes and the chunk's inputs; the reply is the
//!   pool's `Results` message, then the chunk's outputs.
//!
//! A reply starts with `OK`, or with `FAILED` and the rank's message (a request it could
//! not read). Integers are native-endian: the ranks are one program, on hosts of one
//! architecture.

pub(super) mod bridge;
pub(crate) mod rank;

use super::wire::Function;
use crate::error::Result;
use crate::wire::{Reader, Writer};

const START: u8 = 0;
const ITEMS: u8 = 1;
const ELEMENTS: u8 = 2;

const OK: u8 = 0;
const FAILED: u8 = 1;

/// A request to a worker rank, as the rank reads it.
enum Request<'a> {
    Start {
        initializer: Option<(Function<&'a [u8]>, &'a [u8])>,
    },
    Items {
        seq: u32,
        task: &'a [u8],
    },
    Elements(Elements<'a>),
}

/// An `ELEMENTS` request: elements `first..first + count` of a `map_array` call.
struct Elements<'a> {
    seq: u32,
    job: u64,
    chunk: u64,
    function: Function<&'a [u8]>,
    first: u64,
    count: u64,
    in_size: u64,
    out_size: u64,
    context: &'a [u8],
    inputs: &'a [u8],
}

fn start<M: AsRef<[u8]>>(initializer: Option<(&Function<M>, &[u8])>) -> Vec<u8> {
    let mut m = vec![START];
    match initializer {
        None => m.push(0),
        Some((function, arg)) => {
            m.push(1);
            function.put(&mut m);
            m.put_bytes(arg);
        }
    }
    m
}

fn items(seq: u32, task: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(5 + task.len());
    m.push(ITEMS);
    m.put_u32(seq);
    m.extend_from_slice(task);
    m
}

impl Elements<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut m = vec![ELEMENTS];
        m.put_u32(self.seq);
        m.put_u64(self.job);
        m.put_u64(self.chunk);
        self.function.put(&mut m);
        for word in [self.first, self.count, self.in_size, self.out_size] {
            m.put_u64(word);
        }
        m.put_bytes(self.context);
        m.put_bytes(self.inputs);
        m
    }
}

fn read_request(message: &[u8]) -> Result<Request<'_>> {
    let mut r = Reader::new(message, "MPI pool request");
    let request = match r.u8()? {
        START => Request::Start {
            initializer: match r.u8()? {
                0 => None,
                _ => Some((Function::read(&mut r)?, r.sized()?)),
            },
        },
        ITEMS => {
            let seq = r.u32()?;
            let task = r.bytes(message.len() as u64 - 5)?;
            Request::Items { seq, task }
        }
        ELEMENTS => Request::Elements(Elements {
            seq: r.u32()?,
            job: r.u64()?,
            chunk: r.u64()?,
            function: Function::read(&mut r)?,
            first: r.u64()?,
            count: r.u64()?,
            in_size: r.u64()?,
            out_size: r.u64()?,
            context: r.sized()?,
            inputs: r.sized()?,
        }),
        kind => return Err(r.malformed(kind)),
    };
    r.finish()?;
    Ok(request)
}

/// A rank's reply: `FAILED` and why, or `OK` and what follows.
fn read_reply(message: &[u8]) -> std::result::Result<&[u8], String> {
    match message.split_first() {
        Some((&OK, rest)) => Ok(rest),
        Some((&FAILED, why)) => Err(String::from_utf8_lossy(why).into_owned()),
        _ => Err("a malformed reply".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(offset: u64) -> Function<&'static [u8]> {
        Function::Located(&b"/lib/x.so"[..], offset)
    }

    #[test]
    fn requests_round_trip_and_a_short_one_is_refused() {
        let start = super::start(Some((&located(7), &b"arg"[..])));
        match read_request(&start).unwrap() {
            Request::Start {
                initializer: Some((function, arg)),
            } => assert_eq!((function, arg), (located(7), &b"arg"[..])),
            _ => panic!("a start with its initializer"),
        }
        let none = super::start::<&[u8]>(None);
        assert!(matches!(
            read_request(&none).unwrap(),
            Request::Start { initializer: None }
        ));
        let items = super::items(42, b"the pool's task message");
        match read_request(&items).unwrap() {
            Request::Items { seq, task } => {
                assert_eq!((seq, task), (42, &b"the pool's task message"[..]))
            }
            _ => panic!("items"),
        }
        let chunk = Elements {
            seq: 3,
            job: 9,
            chunk: 2,
            function: located(11),
            first: 64,
            count: 2,
            in_size: 4,
            out_size: 8,
            context: b"ctx",
            inputs: b"abcdefgh",
        }
        .encode();
        match read_request(&chunk).unwrap() {
            Request::Elements(e) => {
                assert_eq!((e.seq, e.job, e.chunk, e.first, e.count), (3, 9, 2, 64, 2));
                assert_eq!((e.in_size, e.out_size, e.function), (4, 8, located(11)));
                assert_eq!((e.context, e.inputs), (&b"ctx"[..], &b"abcdefgh"[..]));
            }
            _ => panic!("elements"),
        }
        // Every truncation of a request that needs more bytes is an error, not a panic.
        for message in [&start, &chunk] {
            for len in 0..message.len() {
                assert!(read_request(&message[..len]).is_err(), "{len} bytes");
            }
        }
        let mut trailing = chunk.clone();
        trailing.push(0);
        assert!(read_request(&trailing).is_err());
        assert!(read_request(&[9]).is_err());
    }

    #[test]
    fn replies_say_ok_or_why_not() {
        assert_eq!(read_reply(&[OK, 1, 2]), Ok(&[1u8, 2][..]));
        assert_eq!(
            read_reply(b"\x01no such function"),
            Err("no such function".into())
        );
        assert!(read_reply(&[]).is_err());
        assert!(read_reply(&[7]).is_err());
    }
}
