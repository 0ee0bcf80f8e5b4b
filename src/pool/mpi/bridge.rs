//! Rank 0's side: a bridge is a pool worker (a thread) that serves the pool's tasks by
//! sending each to its worker rank and waiting for the reply. Like a worker, it notes in
//! its slot the task it has taken. While it waits it watches its rank: when the rank
//! ended (see `crate::mpi::liveness`), its tasks fail with `WorkerDied` and the bridge
//! ends without replacement; the pool goes on with the other ranks.
//!
//! A round trip to a rank costs tens of microseconds, more than a short task: so while
//! the rank's tasks come back quickly, the bridge sends the next before the reply to the
//! last, keeping two in flight (the rank answers them in order). A task that took long
//! stops that: a bridge then holds one task at a time, and never takes work the other
//! ranks could start on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::super::wire::{self, ElementChunk, Task};
use super::super::worker::{Arena, Context, EXIT_BROKEN};
use super::{read_reply, Elements};
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::mpi::World;
use crate::sys::code;

/// A bridge's exit code once its rank ended: it is not replaced.
pub(in crate::pool) const EXIT_RANK_ENDED: i32 = 71;

/// Task messages a bridge keeps in flight while its rank answers quickly.
const DEPTH: usize = 2;
/// A task answered within this is quick.
const QUICK: Duration = Duration::from_micros(500);
/// The largest request sent while others are out: every MPI sends messages this small
/// without waiting for the receiver (Open MPI's shared memory sends 4 KiB so).
const PIPELINED_MAX: usize = 1024;

/// A worker rank, as the pool's bridge reaches it.
#[derive(Clone, Copy)]
pub(in crate::pool) struct Link {
    pub(in crate::pool) world: &'static World,
    pub(in crate::pool) rank: i32,
    /// The pool's tag: replies on others are to an earlier pool's tasks.
    pub(in crate::pool) tag: i32,
}

/// A task message sent to the rank and not answered yet.
struct Pending {
    seq: u32,
    job: u64,
    /// The message's first item (for `map_array`, its chunk) and number of items.
    first: u64,
    count: usize,
    /// For a `map_array` chunk: where its outputs go in the arena, and their length.
    outputs: Option<(u64, u64)>,
    sent: Instant,
}

impl Pending {
    /// A `Results` reply that fails each item with `code` and `text`.
    fn failed(&self, code: i32, text: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        wire::start_results(&mut m, self.seq, self.job, self.first, self.count);
        (0..self.count).for_each(|_| wire::push_result(&mut m, code, text));
        m
    }
}

/// How waiting for a reply ended.
enum Waited {
    Replied(Vec<u8>),
    Failed(Error),
    RankEnded,
    Terminated,
}

/// The bridge's loop; returns its exit code.
pub(in crate::pool) fn run(ctx: &Context, slot: usize, link: &Link) -> i32 {
    if let Err(err) = link.start(ctx) {
        log::error!("pool: MPI rank {}: {err}", link.rank);
    }
    let mut pending: VecDeque<Pending> = VecDeque::new();
    // A request taken while others were out, too large to send before they are answered.
    let mut held: Option<(Result<Vec<u8>>, Pending)> = None;
    let (mut stopping, mut quick) = (false, false);
    loop {
        if pending.is_empty() {
            if let Some((request, sent)) = held.take() {
                if let Some(failed) = link.send(request, sent, &mut pending) {
                    if ctx.results.put(&failed, Deadline::Never).is_err() {
                        return EXIT_BROKEN;
                    }
                }
            }
        }
        // Take a task when none is out, a second one while the rank answers quickly.
        while !stopping
            && held.is_none()
            && (pending.is_empty() || (quick && pending.len() < DEPTH))
        {
            let deadline = match pending.is_empty() {
                true => Deadline::Never,
                false => Deadline::At(Instant::now()),
            };
            let (seq, message) = match ctx.take(slot, deadline) {
                Ok(Some(taken)) => taken,
                Ok(None) => break,
                Err(exit) => return exit,
            };
            let Some((request, sent)) = prepare(seq, &message, &ctx.arena) else {
                stopping = true;
                break;
            };
            // A blocking send of a large request while the rank sends a large reply
            // would wait for each other: only a small one goes before the replies.
            if !pending.is_empty() && request.as_ref().map_or(0, Vec::len) > PIPELINED_MAX {
                held = Some((request, sent));
                break;
            }
            if let Some(failed) = link.send(request, sent, &mut pending) {
                if ctx.results.put(&failed, Deadline::Never).is_err() {
                    return EXIT_BROKEN;
                }
            }
        }
        let Some(oldest) = pending.front() else {
            match stopping {
                true => return 0,
                false => continue,
            }
        };
        // The results go on the queue from the buffer MPI received them in.
        let (received, failed);
        let reply: &[u8] = match link.wait(&ctx.terminated) {
            Waited::Replied(reply) => {
                received = reply;
                match link.results(oldest, &received, &ctx.arena) {
                    Ok(results) => results,
                    Err(err) => {
                        failed = oldest.failed(-1, err.to_string().as_bytes());
                        &failed
                    }
                }
            }
            // The task fails with the MPI error; the next may go through.
            Waited::Failed(err) => {
                failed = oldest.failed(-1, err.to_string().as_bytes());
                &failed
            }
            Waited::RankEnded => {
                let why = format!("MPI rank {} ended", link.rank);
                // The tasks it had, and the one taken but not sent yet.
                for lost in pending.iter().chain(held.as_ref().map(|(_, sent)| sent)) {
                    let died = wire::died(&lost.failed(0, &[]), &why);
                    if ctx.results.put(&died, Deadline::Never).is_err() {
                        return EXIT_BROKEN;
                    }
                }
                ctx.answered(slot);
                return EXIT_RANK_ENDED;
            }
            Waited::Terminated => return 0,
        };
        quick = oldest.sent.elapsed() < QUICK;
        pending.pop_front();
        if ctx.results.put(reply, Deadline::Never).is_err() {
            return EXIT_BROKEN;
        }
        if pending.is_empty() && held.is_none() {
            ctx.answered(slot);
        }
    }
}

impl Link {
    /// Tells the rank a new pool starts, with its initializer.
    fn start(&self, ctx: &Context) -> Result<()> {
        let message = match &ctx.initializer {
            None => super::start::<&[u8]>(None),
            Some((init, arg)) => {
                let at = code::locate(*init as usize)
                    .map_err(|e| Error::os("locating the pool's initializer", e))?;
                let function = wire::Function::Located(at.module.as_bytes(), at.offset);
                super::start(Some((&function, arg.crossing())))
            }
        };
        self.world.send(&message, self.rank, self.tag)
    }

    /// Sends a prepared request; once sent, it is pending. The reply that fails it when
    /// it could not be made or sent.
    fn send(
        &self,
        request: Result<Vec<u8>>,
        sent: Pending,
        pending: &mut VecDeque<Pending>,
    ) -> Option<Vec<u8>> {
        match request.and_then(|r| self.world.send(&r, self.rank, self.tag)) {
            Ok(()) => {
                pending.push_back(Pending {
                    sent: Instant::now(),
                    ..sent
                });
                None
            }
            Err(err) => Some(sent.failed(-1, err.to_string().as_bytes())),
        }
    }

    /// Waits for the rank's next reply, while the rank lives and the pool runs; replies
    /// on other tags (to a terminated pool's tasks) are dropped.
    fn wait(&self, terminated: &AtomicBool) -> Waited {
        let terminated = || terminated.load(SeqCst);
        let ended = || self.world.ended(self.rank) || terminated();
        loop {
            match self.world.receive(Some(self.rank), &ended) {
                Ok(Some(reply)) if reply.tag != self.tag => continue,
                Ok(Some(reply)) => return Waited::Replied(reply.data),
                Ok(None) if terminated() => return Waited::Terminated,
                Ok(None) => return Waited::RankEnded,
                Err(err) => return Waited::Failed(err),
            }
        }
    }

    /// The pool's `Results` message in the rank's reply to `sent`; for a `map_array`
    /// chunk, the outputs that follow it are copied into the arena.
    fn results<'r>(&self, sent: &Pending, reply: &'r [u8], arena: &Arena) -> Result<&'r [u8]> {
        let reply = read_reply(reply).map_err(|why| {
            Error::new(ErrorKind::Remote, format!("MPI rank {}: {why}", self.rank))
        })?;
        let Some((at, len)) = sent.outputs else {
            return Ok(reply);
        };
        let mut r = crate::wire::Reader::new(reply, "MPI elements reply");
        let results = r.sized()?;
        let outputs = r.bytes(len)?;
        r.finish()?;
        let to = arena
            .range(at, len)
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "outputs outside the arena"))?;
        // SAFETY: `range` checked the bytes lie in the heap, in the call's block, which
        // is the call's until every chunk ended; `outputs` is a separate buffer.
        unsafe { std::ptr::copy_nonoverlapping(outputs.as_ptr(), to, outputs.len()) };
        Ok(results)
    }
}

/// The request for the task message `message` (place `seq`), and what is pending once it
/// is sent; `None` for a `Stop` (nothing is sent: the rank serves on, for the next pool).
fn prepare(seq: u32, message: &[u8], arena: &Arena) -> Option<(Result<Vec<u8>>, Pending)> {
    Some(match wire::read_task(message) {
        Ok(Task::Stop) => return None,
        Ok(Task::Items {
            job, first, items, ..
        }) => (
            Ok(super::items(seq, message)),
            pending(seq, job, first, items.len(), None),
        ),
        Ok(Task::Elements(chunk)) => {
            let outputs = (
                chunk.output_at + chunk.first * chunk.out_size,
                chunk.count * chunk.out_size,
            );
            (
                elements_request(seq, &chunk, arena),
                pending(seq, chunk.job, chunk.chunk, 1, Some(outputs)),
            )
        }
        Err(err) => (Err(err), pending(seq, 0, 0, 0, None)),
    })
}

fn pending(seq: u32, job: u64, first: u64, count: usize, outputs: Option<(u64, u64)>) -> Pending {
    Pending {
        seq,
        job,
        first,
        count,
        outputs,
        sent: Instant::now(),
    }
}

/// The request for a chunk of a `map_array` call: its context and inputs, from the arena.
fn elements_request(seq: u32, chunk: &ElementChunk<&[u8]>, arena: &Arena) -> Result<Vec<u8>> {
    let range = |at: u64, len: u64| {
        arena.range(at, len).map(|p| {
            // SAFETY: `range` checked the bytes lie inside the heap; the call's block is
            // its own until every chunk ended, and the workers only read these parts.
            unsafe { std::slice::from_raw_parts(p, len as usize) }
        })
    };
    let context = match chunk.context_len {
        0 => Some(&[][..]),
        len => range(chunk.context_at, len),
    };
    let inputs_at = chunk.input_at + chunk.first * chunk.in_size;
    let inputs = range(inputs_at, chunk.count * chunk.in_size);
    let (Some(context), Some(inputs)) = (context, inputs) else {
        return Err(Error::new(
            ErrorKind::Protocol,
            "the chunk lies outside the arena",
        ));
    };
    let request = Elements {
        seq,
        job: chunk.job,
        chunk: chunk.chunk,
        function: chunk.function.clone(),
        first: chunk.first,
        count: chunk.count,
        in_size: chunk.in_size,
        out_size: chunk.out_size,
        context,
        inputs,
    };
    Ok(request.encode())
}
