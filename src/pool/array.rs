//! The stages of `Pool::map_array`: the context and the inputs cross into a block of the
//! pool's shared arena once, the workers run chunks of elements on them in place, and the
//! outputs cross back once. One call at a time uses the arena (`Core::arena_user`).

use std::sync::Arc;

use super::job::{Job, Outcome};
use super::wire::ElementChunk;
use super::worker::{Arena, ElementFn};
use super::{lock, Core, NotSubmitted, Sent};
use crate::deadline::{Deadline, Interrupts};
use crate::error::{Error, ErrorKind, Result};

/// Each part of a call starts at a multiple of this many bytes in its block.
const ALIGN: usize = 64;

/// One `map_array` call with its arguments checked: `n` (at least 1) elements of
/// `in_size` bytes in and `out_size` bytes out, `chunksize` (at least 1) per message.
pub(super) struct ArrayCall<'a> {
    pub(super) function: ElementFn,
    pub(super) context: &'a [u8],
    pub(super) input: &'a [u8],
    pub(super) in_size: usize,
    pub(super) output: &'a mut [u8],
    pub(super) out_size: usize,
    pub(super) n: usize,
    pub(super) chunksize: usize,
}

impl ArrayCall<'_> {
    /// Runs the call's stages in order; waits for every chunk, and the first failing
    /// chunk is the error.
    pub(super) fn run(mut self, core: &Arc<Core>) -> Result<()> {
        let layout = Layout::new(self.context.len(), self.input.len(), self.output.len())?;
        let _arena_user = lock(&core.arena_user);
        let block = Block::take(&core.arena, layout)?;
        block.copy_in(self.context, self.input);
        let job = match self.submit(core, &block) {
            Ok(job) => job,
            Err(not) => {
                // The chunks put before the failure still run on the block: the next
                // call may have it only once they ended.
                if let Some(job) = not.partly {
                    let _ = job.wait_with(Deadline::Never, Interrupts::Ignore);
                }
                block.release();
                return Err(not.error);
            }
        };
        let outcomes = self.wait_and_copy_out(&job, &block);
        block.release();
        first_failure(&outcomes?)
    }

    /// Puts one `Elements` message per chunk; each chunk is one item of the job, so a
    /// worker that dies fails its chunk only.
    fn submit(
        &self,
        core: &Arc<Core>,
        block: &Block<'_>,
    ) -> std::result::Result<Arc<Job>, NotSubmitted> {
        let (n, chunksize) = (self.n, self.chunksize);
        let chunks = n.div_ceil(chunksize);
        let function = core
            .function(self.function as usize)
            .map_err(|error| NotSubmitted {
                error,
                partly: None,
            })?;
        let call = ElementChunk {
            job: 0,
            chunk: 0,
            function,
            context_at: block.base,
            context_len: self.context.len() as u64,
            input_at: block.base + block.layout.input_at as u64,
            in_size: self.in_size as u64,
            output_at: block.base + block.layout.output_at as u64,
            out_size: self.out_size as u64,
            first: 0,
            count: 0,
        };
        core.submit(chunks, None, false, |job| {
            (0..chunks).map(move |c| {
                let first = c * chunksize;
                let chunk = ElementChunk {
                    job,
                    chunk: c as u64,
                    first: first as u64,
                    count: chunksize.min(n - first) as u64,
                    ..call.clone()
                };
                let sent = Sent::Chunk {
                    job,
                    first: c,
                    count: 1,
                };
                (chunk.encode(), sent)
            })
        })
    }

    /// Waits for every chunk, since the workers write into the block until each ended,
    /// then copies the outputs out only if all succeeded (`output` stays as it was
    /// otherwise).
    fn wait_and_copy_out(&mut self, job: &Job, block: &Block<'_>) -> Result<Vec<Outcome>> {
        job.wait_with(Deadline::Never, Interrupts::Ignore)?;
        let outcomes = job.outcomes();
        if outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
            block.copy_out(self.output);
        }
        Ok(outcomes)
    }
}

/// The call's error, if any: its first chunk that did not succeed. A failed chunk's
/// output names the failing element, so the message is "element {i} returned {code}".
fn first_failure(outcomes: &[Outcome]) -> Result<()> {
    let failed = outcomes
        .iter()
        .enumerate()
        .find_map(|(c, o)| Some((o.error(c)?, o)));
    match failed {
        None => Ok(()),
        Some((_, Outcome::Failed { code, output })) => Err(Error::new(
            ErrorKind::TaskFailed,
            format!("{} returned {code}", String::from_utf8_lossy(output)),
        )),
        Some((err, _)) => Err(err),
    }
}

/// Where a call's parts lie in its block: the context at 0, then the inputs, then the
/// outputs, each aligned to `ALIGN` bytes.
struct Layout {
    input_at: usize,
    output_at: usize,
    /// The bytes the block needs.
    len: usize,
}

impl Layout {
    /// Lays out the parts of these lengths; `TooLarge` beyond `Arena::MAX`, the most one
    /// call may take of the shared heap.
    fn new(context: usize, input: usize, output: usize) -> Result<Layout> {
        let input_at = context.next_multiple_of(ALIGN);
        let layout = input_at
            .checked_add(input)
            .and_then(|input_end| input_end.checked_next_multiple_of(ALIGN))
            .and_then(|output_at| {
                let len = output_at.checked_add(output)?;
                Some(Layout {
                    input_at,
                    output_at,
                    len,
                })
            })
            .filter(|layout| layout.len <= Arena::MAX);
        layout.ok_or_else(|| {
            Error::new(
                ErrorKind::TooLarge,
                format!(
                    "{context} bytes of context, {input} of input and {output} of output \
                     exceed the pool's {} bytes of shared memory",
                    Arena::MAX
                ),
            )
        })
    }
}

/// The call's block of the arena, laid out by its `Layout`.
struct Block<'a> {
    arena: &'a Arena,
    /// The block's heap offset, and its size (what `release` gives back).
    base: u64,
    size: usize,
    /// The block in this process's mapping of the heap.
    start: *mut u8,
    layout: Layout,
}

impl<'a> Block<'a> {
    /// Takes a block for `layout` from the arena (the one the last call used when it is
    /// large enough: its pages are mapped already).
    fn take(arena: &'a Arena, layout: Layout) -> Result<Block<'a>> {
        let (base, size) = arena.take(layout.len)?;
        let start = arena
            .range(base, layout.len as u64)
            .expect("a block of the heap");
        Ok(Block {
            arena,
            base,
            size,
            start,
            layout,
        })
    }

    /// Copies the context and the inputs in: the workers were forked before the call,
    /// so they see its data only in shared memory.
    fn copy_in(&self, context: &[u8], input: &[u8]) {
        // SAFETY: the block is this call's until `release`; the layout puts the context
        // at 0 and the inputs at `input_at`, both inside its `len` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(context.as_ptr(), self.start, context.len());
            let input_at = self.start.add(self.layout.input_at);
            std::ptr::copy_nonoverlapping(input.as_ptr(), input_at, input.len());
        }
    }

    /// Copies the outputs out; only once no worker writes them any more.
    fn copy_out(&self, output: &mut [u8]) {
        // SAFETY: as in `copy_in`, the outputs at `output_at` lie inside the block.
        unsafe {
            let output_at = self.start.add(self.layout.output_at);
            std::ptr::copy_nonoverlapping(output_at, output.as_mut_ptr(), output.len());
        }
    }

    /// Gives the block back to the arena, which keeps it for the next call if small.
    fn release(self) {
        self.arena.give(self.base, self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_aligns_each_part_and_bounds_the_whole() {
        let layout = Layout::new(3, 100, 8).unwrap();
        assert_eq!(
            (layout.input_at, layout.output_at, layout.len),
            (64, 192, 200)
        );
        let empty = Layout::new(0, 0, 0).unwrap();
        assert_eq!((empty.input_at, empty.output_at, empty.len), (0, 0, 0));
        let too_large = Layout::new(0, Arena::MAX, 1).err().unwrap();
        assert_eq!(too_large.kind(), ErrorKind::TooLarge);
        let message = format!(
            "0 bytes of context, {} of input and 1 of output exceed the pool's {} bytes of \
             shared memory",
            Arena::MAX,
            Arena::MAX
        );
        assert_eq!(too_large.message(), message);
    }
}
