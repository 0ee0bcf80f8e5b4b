//! The messages between a pool and its workers, on the pool's two queues.
//!
//! Tasks (parent → workers): `Stop`, a chunk of byte items for a task function, or a
//! chunk of array elements for an element function (the arrays are in the pool's shared
//! arena). Results (workers → parent): one per chunk, naming the task message it answers
//! by its place in the task queue; and notices the parent sends its own result thread.
//! Integers are native-endian: both ends are the same program on the same machine. A
//! task's function is its address for workers forked from the pool's process, and its
//! module and offset for workers started by `exec` ([`Function`]).

use crate::error::Result;
use crate::wire::{Reader, Writer};

const STOP: u8 = 0;
const ITEMS: u8 = 1;
const ELEMENTS: u8 = 2;
const RESULTS: u8 = 3;
const NOTICE: u8 = 4;
const DIED: u8 = 5;

/// The function of a task: its address where the worker is a fork of the pool's process,
/// else its module (`M`: the path's bytes; empty for the program) and offset there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Function<M> {
    Address(usize),
    Located(M, u64),
}

/// In a message, a located function's word has this bit set (user-space addresses never
/// do), and its module's bytes follow it.
const LOCATED: u64 = 1 << 63;

impl<M: AsRef<[u8]>> Function<M> {
    pub(crate) fn put(&self, m: &mut Vec<u8>) {
        match self {
            Function::Address(address) => m.put_u64(*address as u64),
            Function::Located(module, offset) => {
                m.put_u64(offset | LOCATED);
                m.put_bytes(module.as_ref());
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Function::Address(_) => 8,
            Function::Located(module, _) => 16 + module.as_ref().len(),
        }
    }
}

impl<'a> Function<&'a [u8]> {
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Function<&'a [u8]>> {
        match r.u64()? {
            word if word & LOCATED != 0 => Ok(Function::Located(r.sized()?, word & !LOCATED)),
            address => Ok(Function::Address(address as usize)),
        }
    }
}

/// A task message, as a worker reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Task<'a> {
    Stop,
    /// Run `function` on each item; the first is item `first` of job `job`.
    Items {
        job: u64,
        first: u64,
        function: Function<&'a [u8]>,
        items: Items<'a>,
    },
    /// Run an element function on a chunk of a `map_array` call's arrays.
    Elements(ElementChunk<&'a [u8]>),
}

/// An `Elements` task message: run `function(in, out, context)` on elements
/// `[first, first + count)` of a `map_array` call's arrays, which lie in the call's block
/// of the lineage's heap (offsets are into that heap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElementChunk<M> {
    pub(crate) job: u64,
    /// The chunk's index: the job's item its result settles.
    pub(crate) chunk: u64,
    /// The `ElementFn`.
    pub(crate) function: Function<M>,
    /// The heap offset of the call's context, and its length (0: no context).
    pub(crate) context_at: u64,
    pub(crate) context_len: u64,
    /// The heap offset of the input array, and the bytes of one input element.
    pub(crate) input_at: u64,
    pub(crate) in_size: u64,
    /// The heap offset of the output array, and the bytes of one output element.
    pub(crate) output_at: u64,
    pub(crate) out_size: u64,
    /// The chunk's first element and its number of elements.
    pub(crate) first: u64,
    pub(crate) count: u64,
}

impl<M: AsRef<[u8]>> ElementChunk<M> {
    /// The task message.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let words = [
            self.context_at,
            self.context_len,
            self.input_at,
            self.in_size,
            self.output_at,
            self.out_size,
            self.first,
            self.count,
        ];
        let mut m = Vec::with_capacity(1 + 16 + self.function.len() + 8 * words.len());
        m.push(ELEMENTS);
        m.put_u64(self.job);
        m.put_u64(self.chunk);
        self.function.put(&mut m);
        for word in words {
            m.put_u64(word);
        }
        m
    }
}

impl<'a> ElementChunk<&'a [u8]> {
    /// Reads the fields after the message's kind, in `encode`'s order.
    fn decode(r: &mut Reader<'a>) -> Result<ElementChunk<&'a [u8]>> {
        Ok(ElementChunk {
            job: r.u64()?,
            chunk: r.u64()?,
            function: Function::read(r)?,
            context_at: r.u64()?,
            context_len: r.u64()?,
            input_at: r.u64()?,
            in_size: r.u64()?,
            output_at: r.u64()?,
            out_size: r.u64()?,
            first: r.u64()?,
            count: r.u64()?,
        })
    }
}

/// One item's result: the task's return code (0: success) and the bytes it wrote.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ItemResult<'a> {
    pub(crate) code: i32,
    pub(crate) output: &'a [u8],
}

/// A message on the result queue, as the parent's result thread reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// The results of the task message `seq`: items `first..` of job `job`.
    Results {
        seq: u32,
        job: u64,
        first: u64,
        items: ItemResults<'a>,
    },
    /// From the parent itself: job `job` (0: none) needs the result thread's attention.
    Notice { job: u64 },
    /// The task message `seq` (items `first..first + count` of job `job`) was lost with
    /// the worker that had it, as `why` says (an MPI pool's rank that ended).
    Died {
        seq: u32,
        job: u64,
        first: u64,
        count: u64,
        why: &'a [u8],
    },
}

pub(crate) fn stop() -> Vec<u8> {
    vec![STOP]
}

pub(crate) fn items<M: AsRef<[u8]>>(
    job: u64,
    first: u64,
    function: &Function<M>,
    items: &[impl AsRef<[u8]>],
) -> Vec<u8> {
    let size =
        1 + 8 * 3 + function.len() + items.iter().map(|i| 8 + i.as_ref().len()).sum::<usize>();
    let mut m = Vec::with_capacity(size);
    m.push(ITEMS);
    m.put_u64(job);
    m.put_u64(first);
    function.put(&mut m);
    m.put_u64(items.len() as u64);
    for item in items.iter().map(AsRef::as_ref) {
        m.put_bytes(item);
    }
    m
}

/// Starts a `Results` reply at the end of `m` (an MPI rank's reply puts a byte before
/// it), to be completed item by item with [`push_result`].
pub(crate) fn start_results(m: &mut Vec<u8>, seq: u32, job: u64, first: u64, count: usize) {
    m.push(RESULTS);
    m.extend_from_slice(&seq.to_ne_bytes());
    for word in [job, first, count as u64] {
        m.extend_from_slice(&word.to_ne_bytes());
    }
}

pub(crate) fn push_result(reply: &mut Vec<u8>, code: i32, output: &[u8]) {
    reply.extend_from_slice(&code.to_ne_bytes());
    reply.put_bytes(output);
}

/// A `Died` reply for the task message that `results` (a `Results` reply to it, with
/// whatever items) answers: its worker ended, as `why` says.
pub(crate) fn died(results: &[u8], why: &str) -> Vec<u8> {
    let mut m = results[..1 + 4 + 8 * 3].to_vec();
    m[0] = DIED;
    m.put_bytes(why.as_bytes());
    m
}

pub(crate) fn notice(job: u64) -> Vec<u8> {
    let mut m = vec![NOTICE];
    m.extend_from_slice(&job.to_ne_bytes());
    m
}

pub(crate) fn read_task(message: &[u8]) -> Result<Task<'_>> {
    let mut r = Reader::new(message, "pool message");
    match r.u8()? {
        STOP => Ok(Task::Stop),
        ITEMS => {
            let (job, first) = (r.u64()?, r.u64()?);
            let function = Function::read(&mut r)?;
            let count = r.u64()?;
            let items = Items {
                reader: r,
                left: count,
            };
            items.check()?;
            Ok(Task::Items {
                job,
                first,
                function,
                items,
            })
        }
        ELEMENTS => ElementChunk::decode(&mut r).map(Task::Elements),
        kind => Err(r.malformed(kind)),
    }
}

pub(crate) fn read_reply(message: &[u8]) -> Result<Reply<'_>> {
    let mut r = Reader::new(message, "pool message");
    match r.u8()? {
        RESULTS => {
            let (seq, job, first, count) = (r.u32()?, r.u64()?, r.u64()?, r.u64()?);
            let items = ItemResults {
                reader: r,
                left: count,
            };
            items.check()?;
            Ok(Reply::Results {
                seq,
                job,
                first,
                items,
            })
        }
        NOTICE => Ok(Reply::Notice { job: r.u64()? }),
        DIED => Ok(Reply::Died {
            seq: r.u32()?,
            job: r.u64()?,
            first: r.u64()?,
            count: r.u64()?,
            why: r.sized()?,
        }),
        kind => Err(r.malformed(kind)),
    }
}

/// The items of a task message, read as they are used (a chunk may hold thousands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Items<'a> {
    reader: Reader<'a>,
    left: u64,
}

impl<'a> Items<'a> {
    fn read(&mut self) -> Result<&'a [u8]> {
        self.reader.sized()
    }

    /// Checks once that every item is there, so that iterating cannot fail.
    fn check(&self) -> Result<()> {
        let mut copy = self.clone();
        (0..self.left).try_for_each(|_| copy.read().map(drop))
    }

    pub(crate) fn len(&self) -> usize {
        self.left as usize
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        self.left = self.left.checked_sub(1)?;
        self.read().ok()
    }
}

/// The item results of a reply, read as they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemResults<'a> {
    reader: Reader<'a>,
    left: u64,
}

impl<'a> ItemResults<'a> {
    fn read(&mut self) -> Result<ItemResult<'a>> {
        let code = self.reader.u32()? as i32;
        let len = self.reader.u64()?;
        Ok(ItemResult {
            code,
            output: self.reader.bytes(len)?,
        })
    }

    /// Checks once that every result is there, so that iterating cannot fail.
    fn check(&self) -> Result<()> {
        let mut copy = self.clone();
        (0..self.left).try_for_each(|_| copy.read().map(drop))
    }
}

impl<'a> Iterator for ItemResults<'a> {
    type Item = ItemResult<'a>;
    fn next(&mut self) -> Option<ItemResult<'a>> {
        self.left = self.left.checked_sub(1)?;
        self.read().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        assert_eq!(read_task(&stop()).unwrap(), Task::Stop);
        let located: Function<&[u8]> = Function::Located(b"/lib/libtasks.so", 0x40);
        for function in [Function::Address(0x1234), located] {
            let m = items(7, 3, &function, &[&b"ab"[..], b"", b"xyz"]);
            let Task::Items {
                job: 7,
                first: 3,
                function: read,
                items,
            } = read_task(&m).unwrap()
            else {
                panic!("not the items message");
            };
            assert_eq!(read, function);
            assert_eq!(items.len(), 3);
            assert_eq!(items.collect::<Vec<_>>(), vec![&b"ab"[..], b"", b"xyz"]);
            for len in 0..m.len() {
                assert!(read_task(&m[..len]).is_err(), "{len} bytes");
            }
        }
        let mut r = Vec::new();
        start_results(&mut r, 9, 7, 3, 2);
        push_result(&mut r, 0, b"ok");
        push_result(&mut r, -2, b"");
        let Reply::Results {
            seq: 9,
            job: 7,
            first: 3,
            items,
        } = read_reply(&r).unwrap()
        else {
            panic!("not the results message");
        };
        assert_eq!(
            items.collect::<Vec<_>>(),
            vec![
                ItemResult {
                    code: 0,
                    output: b"ok"
                },
                ItemResult {
                    code: -2,
                    output: b""
                }
            ]
        );
        assert!(read_reply(&r[..r.len() - 1]).is_err());
        // A `Died` reply names the same task message as the results it is made from.
        let d = died(&r, "MPI rank 2 ended");
        assert_eq!(
            read_reply(&d).unwrap(),
            Reply::Died {
                seq: 9,
                job: 7,
                first: 3,
                count: 2,
                why: b"MPI rank 2 ended"
            }
        );
        assert!(read_reply(&d[..d.len() - 1]).is_err());
        assert_eq!(read_reply(&notice(5)).unwrap(), Reply::Notice { job: 5 });
        assert!(read_reply(&[]).is_err());
        assert!(read_task(&[9]).is_err());
    }

    #[test]
    fn an_element_chunk_round_trips() {
        let chunk: ElementChunk<&[u8]> = ElementChunk {
            job: 7,
            chunk: 2,
            function: Function::Located(b"", 0x1234),
            context_at: 64,
            context_len: 16,
            input_at: 128,
            in_size: 8,
            output_at: 256,
            out_size: 4,
            first: 10,
            count: 5,
        };
        let m = chunk.encode();
        assert_eq!(read_task(&m).unwrap(), Task::Elements(chunk));
        assert!(read_task(&m[..m.len() - 1]).is_err());
    }
}
