//! Rank 0's side: a bridge is a pool worker (a thread) that serves the pool's tasks by
//! sending each to its worker rank and waiting for the reply. Like a worker, it notes in
//! its slot the task it has taken, so the pool accounts for it whatever happens. While
//! it waits it watches its rank: when the rank ended (see `crate::mpi::liveness`), the
//! task fails with `WorkerDied` and the bridge ends without replacement; the pool goes on
//! with the other ranks.

use super::super::wire::{self, ElementChunk, Task};
use super::super::worker::{Arena, Context, EXIT_BROKEN};
use super::{read_reply, Elements};
use crate::deadline::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::mpi::World;
use crate::sys::code;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// A bridge's exit code once its rank ended: it is not replaced.
pub(in crate::pool) const EXIT_RANK_ENDED: i32 = 71;

/// A worker rank, as the pool's bridge reaches it.
#[derive(Clone, Copy)]
pub(in crate::pool) struct Link {
    pub(in crate::pool) world: &'static World,
    pub(in crate::pool) rank: i32,
    /// The pool's tag: replies on others are to an earlier pool's tasks.
    pub(in crate::pool) tag: i32,
}

/// How a task's exchange with the rank ended.
enum Exchange {
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
    loop {
        let (seq, message) = match ctx.take(slot) {
            Ok(taken) => taken,
            Err(exit) => return exit,
        };
        // The exchange, and which items of which job the task message holds.
        let (exchange, (job, first, count)) = match wire::read_task(&message) {
            Ok(Task::Stop) => return 0,
            Ok(Task::Items {
                job, first, items, ..
            }) => {
                let request = super::items(seq, &message);
                let exchange = link.exchange(&request, &ctx.terminated);
                (exchange, (job, first, items.len()))
            }
            Ok(Task::Elements(chunk)) => {
                let exchange = link.elements(seq, &chunk, &ctx.arena, &ctx.terminated);
                (exchange, (chunk.job, chunk.chunk, 1))
            }
            Err(_) => return EXIT_BROKEN,
        };
        // A reply that fails each item with `code` and `text`.
        let failed = |code, text: &[u8]| {
            let mut m = Vec::new();
            wire::start_results(&mut m, seq, job, first, count);
            (0..count).for_each(|_| wire::push_result(&mut m, code, text));
            m
        };
        let (message, exit) = match exchange {
            Exchange::Replied(results) => (results, None),
            // The task fails with the MPI error; the next may go through.
            Exchange::Failed(err) => (failed(-1, err.to_string().as_bytes()), None),
            Exchange::RankEnded => {
                let died = format!("MPI rank {} ended", link.rank);
                (wire::died(&failed(0, &[]), &died), Some(EXIT_RANK_ENDED))
            }
            Exchange::Terminated => return 0,
        };
        if ctx.results.put(&message, Deadline::Never).is_err() {
            return EXIT_BROKEN;
        }
        ctx.answered(slot);
        if let Some(exit) = exit {
            return exit;
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

    /// Sends `request` and waits for the reply to it, while the rank lives and the pool
    /// runs; replies on other tags (to a terminated pool's tasks) are dropped.
    fn exchange(&self, request: &[u8], terminated: &AtomicBool) -> Exchange {
        if let Err(err) = self.world.send(request, self.rank, self.tag) {
            return Exchange::Failed(err);
        }
        let terminated = || terminated.load(SeqCst);
        loop {
            let ended = || self.world.ended(self.rank) || terminated();
            match self.world.receive(Some(self.rank), &ended) {
                Ok(Some(reply)) if reply.tag != self.tag => continue,
                Ok(Some(reply)) => {
                    return match read_reply(&reply.data) {
                        Ok(results) => Exchange::Replied(results.to_vec()),
                        Err(why) => Exchange::Failed(Error::new(
                            ErrorKind::Remote,
                            format!("MPI rank {}: {why}", self.rank),
                        )),
                    }
                }
                Ok(None) if terminated() => return Exchange::Terminated,
                Ok(None) => return Exchange::RankEnded,
                Err(err) => return Exchange::Failed(err),
            }
        }
    }

    /// Sends a chunk of a `map_array` call with its context and inputs (from the arena),
    /// and writes the outputs the rank returns into the arena.
    fn elements(
        &self,
        seq: u32,
        chunk: &ElementChunk<&[u8]>,
        arena: &Arena,
        terminated: &AtomicBool,
    ) -> Exchange {
        let range = |at: u64, len: u64| {
            arena.range(at, len).map(|p| {
                // SAFETY: `range` checked the bytes lie inside the heap; the call's block
                // is its own until every chunk ended.
                unsafe { std::slice::from_raw_parts_mut(p, len as usize) }
            })
        };
        let in_at = chunk.input_at + chunk.first * chunk.in_size;
        let out_at = chunk.output_at + chunk.first * chunk.out_size;
        let context = match chunk.context_len {
            0 => Some(&mut [][..]),
            len => range(chunk.context_at, len),
        };
        let inputs = range(in_at, chunk.count * chunk.in_size);
        let outputs = range(out_at, chunk.count * chunk.out_size);
        let (Some(context), Some(inputs), Some(outputs)) = (context, inputs, outputs) else {
            let err = Error::new(ErrorKind::Protocol, "the chunk lies outside the arena");
            return Exchange::Failed(err);
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
        match self.exchange(&request.encode(), terminated) {
            Exchange::Replied(reply) => {
                let mut r = crate::wire::Reader::new(&reply, "MPI elements reply");
                let read = r.sized().and_then(|results| {
                    let rest = r.bytes(outputs.len() as u64)?;
                    r.finish()?;
                    Ok((results, rest))
                });
                match read {
                    Ok((results, rest)) => {
                        outputs.copy_from_slice(rest);
                        Exchange::Replied(results.to_vec())
                    }
                    Err(err) => Exchange::Failed(err),
                }
            }
            other => other,
        }
    }
}
