//! A worker rank's side: serves the pools of rank 0 one request at a time, until rank 0
//! tells it to leave (its normal exit) or ends. It never returns: the program's `main`
//! runs in rank 0 only.

use super::super::exec::Code;
use super::super::wire;
use super::super::worker::{answer_items, run_elements};
use super::{read_request, Elements, Request, FAILED, OK};
use crate::error::{Error, Result};
use crate::mpi::{World, CONTROL_TAG};
use crate::process::Argument;

/// The slot tasks run in (see `worker::TaskOutput`): a rank runs one at a time.
const SLOT: usize = 0;

/// Serves rank 0's pools, then leaves the job and exits: 0 when rank 0 said so, 1 when it
/// ended without (it died).
pub(crate) fn serve(world: &World) -> ! {
    let mut found = Code::default();
    let code = loop {
        let message = match world.receive(Some(0), &|| world.ended(0)) {
            Ok(Some(message)) => message,
            Ok(None) => {
                log::error!("MPI rank {}: rank 0 ended", world.rank());
                break 1;
            }
            Err(err) => {
                log::error!("MPI rank {}: {err}", world.rank());
                break 1;
            }
        };
        if message.tag == CONTROL_TAG {
            world.finalize();
            break 0;
        }
        let reply = match read_request(&message.data) {
            Ok(request) => answer(&mut found, request),
            Err(err) => Some(Err(err)),
        };
        let reply = match reply {
            None => continue,
            Some(Ok(reply)) => reply,
            Some(Err(err)) => [&[FAILED][..], err.to_string().as_bytes()].concat(),
        };
        if let Err(err) = world.send(&reply, 0, message.tag) {
            log::error!("MPI rank {}: replying: {err}", world.rank());
        }
    };
    // SAFETY: exit runs the program's exit handlers and flushes C's stdio (a task's
    // printf), as a normal end of the program would.
    unsafe { libc::exit(code) }
}

/// Runs one request; its reply, if it has one.
fn answer(found: &mut Code, request: Request<'_>) -> Option<Result<Vec<u8>>> {
    match request {
        Request::Start { initializer } => {
            if let Some((function, arg)) = initializer {
                if let Err(err) = initialize(found, &function, arg) {
                    log::error!("MPI pool initializer: {err}");
                }
            }
            None
        }
        Request::Items { seq, task } => Some(items(found, seq, task)),
        Request::Elements(chunk) => Some(Ok(elements(found, chunk))),
    }
}

fn initialize(found: &mut Code, function: &wire::Function<&[u8]>, arg: &[u8]) -> Result<()> {
    let at = found.address(function)?;
    // SAFETY: rank 0 located an `InitFn` of this program there (`code::resolve` checked
    // the address lies in code).
    let init = unsafe { std::mem::transmute::<usize, super::super::InitFn>(at) };
    Argument::crossed(arg).call(|arg| init(arg));
    Ok(())
}

fn items(found: &mut Code, seq: u32, task: &[u8]) -> Result<Vec<u8>> {
    let wire::Task::Items {
        job,
        first,
        function,
        items,
    } = wire::read_task(task)?
    else {
        return Err(Error::invalid_argument(
            "an MPI ITEMS request without items",
        ));
    };
    let mut reply = vec![OK];
    wire::start_results(&mut reply, seq, job, first, items.len());
    answer_items(found, SLOT, &function, items, &mut reply);
    Ok(reply)
}

/// Runs a chunk of elements: the pool's `Results` message (sized), then the outputs.
fn elements(found: &mut Code, chunk: Elements<'_>) -> Vec<u8> {
    let (in_size, out_size) = (chunk.in_size as usize, chunk.out_size as usize);
    let count = chunk.count as usize;
    let mut outputs = vec![0u8; count.saturating_mul(out_size)];
    // The context and the inputs, copied to 16-byte aligned memory as the arena's are.
    let aligned = |bytes: &[u8]| {
        let mut copy = vec![0u128; bytes.len().div_ceil(16)];
        // SAFETY: `copy` has room for the bytes, apart from them.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy.as_mut_ptr().cast(), bytes.len())
        };
        copy
    };
    let mut context = aligned(chunk.context);
    let mut inputs = aligned(chunk.inputs);
    let context_at = match chunk.context.len() {
        0 => std::ptr::null_mut(),
        _ => context.as_mut_ptr().cast::<u8>(),
    };
    let (inputs_at, outputs_at) = (inputs.as_mut_ptr().cast::<u8>(), outputs.as_mut_ptr());
    let sizes_fit = chunk.inputs.len() == count.saturating_mul(in_size);
    let (code, detail) = match sizes_fit {
        false => (
            -1,
            "the chunk's inputs are not count * in_size bytes".to_owned(),
        ),
        true => {
            let range = chunk.first..chunk.first + chunk.count;
            run_elements(found, &chunk.function, context_at, range, |i| {
                let k = (i - chunk.first) as usize;
                // SAFETY: k < count, and both buffers hold count elements.
                Some(unsafe { (inputs_at.add(k * in_size), outputs_at.add(k * out_size)) })
            })
        }
    };
    let mut results = Vec::new();
    wire::start_results(&mut results, chunk.seq, chunk.job, chunk.chunk, 1);
    wire::push_result(&mut results, code, detail.as_bytes());
    let mut reply = vec![OK];
    crate::wire::Writer::put_bytes(&mut reply, &results);
    reply.extend_from_slice(&outputs);
    reply
}

/// In `pc_freeze_support`: a worker rank of an MPI job serves rank 0 and never returns;
/// rank 0, and any process outside such a job, returns at once.
pub(crate) fn freeze_support() {
    match crate::mpi::join() {
        Some(Ok(world)) if world.rank() != 0 => serve(world),
        Some(Err(err)) => {
            eprintln!("libprocessing: started by mpiexec, but not as an MPI pool's rank: {err}")
        }
        _ => {}
    }
}
