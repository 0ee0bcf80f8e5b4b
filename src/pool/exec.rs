//! Workers started by `exec` (the spawn and forkserver start methods): what such a worker
//! receives from the pool ([`WorkerStart`]: the pool's queues and slots as passed objects,
//! the initializer as a module and offset, the creator's signal mask), and how it finds the
//! task functions the pool names by module and offset ([`Code`]).

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;

use super::worker::{self, Arena, Context, InitFn};
use crate::error::{Error, Result};
use crate::process::Argument;
use crate::queue::LocalQueue;
use crate::shared::Shared;
use crate::start::passing::{Inbox, Outbox, Passable};
use crate::sys::code::{self, CodeRef};
use crate::sys::signal::Mask;

use super::wire::Function;

/// What a worker started by `exec` needs: its context and its slot.
pub(super) struct WorkerStart {
    pub(super) context: Context,
    pub(super) slot: usize,
}

impl Passable for WorkerStart {
    fn pass(&self, out: &mut Outbox) -> Result<()> {
        let ctx = &self.context;
        out.u64(self.slot as u64);
        out.u64(ctx.max_tasks as u64);
        ctx.tasks.pass(out)?;
        ctx.results.pass(out)?;
        ctx.slots.pass(out)?;
        out.bytes(&ctx.signal_mask.to_bytes());
        match &ctx.initializer {
            None => out.u64(0),
            Some((init, arg)) => {
                let code = code::locate(*init as usize)
                    .map_err(|e| Error::os("locating the pool's initializer", e))?;
                out.u64(1);
                out.bytes(code.module.as_bytes());
                out.u64(code.offset);
                // `Pool::new` refused any other pointer than NULL.
                out.bytes(arg.crossing());
            }
        }
        Ok(())
    }

    fn receive(inbox: &mut Inbox<'_>) -> Result<Arc<WorkerStart>> {
        let slot = usize::try_from(inbox.u64()?).unwrap_or(usize::MAX);
        if slot >= worker::MAX_WORKERS {
            return Err(inbox.reader.malformed(format!("worker slot {slot}")));
        }
        let max_tasks = usize::try_from(inbox.u64()?).unwrap_or(usize::MAX);
        let tasks = Arc::new(LocalQueue::receive(inbox)?);
        let results = Arc::new(LocalQueue::receive(inbox)?);
        let slots = Arc::new(Shared::receive(inbox)?);
        let mask = inbox.bytes()?;
        let signal_mask = Mask::from_bytes(mask).ok_or_else(|| inbox.reader.malformed("mask"))?;
        let initializer = match inbox.u64()? {
            0 => None,
            _ => {
                let module =
                    CString::new(inbox.bytes()?).map_err(|_| inbox.reader.malformed("module"))?;
                let offset = inbox.u64()?;
                let at = code::resolve(&CodeRef { module, offset })
                    .map_err(|e| Error::os("finding the pool's initializer", e))?;
                // SAFETY: the pool located an `InitFn` of this program at that module and
                // offset, and `resolve` checked it lies in code.
                let init = unsafe { std::mem::transmute::<usize, InitFn>(at) };
                Some((init, Argument::crossed(inbox.bytes()?)))
            }
        };
        Ok(Arc::new(WorkerStart {
            context: Context {
                tasks,
                results,
                slots,
                arena: Arc::new(Arena::new()?),
                initializer,
                max_tasks,
                threads: false,
                terminated: Default::default(),
                signal_mask,
            },
            slot,
        }))
    }
}

/// The entry of a worker started by `exec` (a `process::Entry`).
pub(super) fn run_worker(inbox: &mut Inbox<'_>) -> i32 {
    match WorkerStart::receive(inbox) {
        Ok(start) => worker::run(&start.context, start.slot),
        Err(err) => {
            log::error!("pool worker: {err}");
            worker::EXIT_BROKEN
        }
    }
}

/// The task functions a worker has found, by what the pool named them.
#[derive(Default)]
pub(super) struct Code {
    found: HashMap<(Vec<u8>, u64), usize>,
}

impl Code {
    /// The address in this process of `function`.
    pub(super) fn address(&mut self, function: &Function<&[u8]>) -> Result<usize> {
        let (module, offset) = match function {
            Function::Address(at) => return Ok(*at),
            Function::Located(module, offset) => (*module, *offset),
        };
        if let Some(at) = self.found.get(&(module.to_vec(), offset)) {
            return Ok(*at);
        }
        let code = CodeRef {
            module: CString::new(module).map_err(|_| Error::invalid_argument("module"))?,
            offset,
        };
        let at = code::resolve(&code).map_err(|e| Error::os("finding the task function", e))?;
        self.found.insert((module.to_vec(), offset), at);
        Ok(at)
    }
}
