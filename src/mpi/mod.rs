//! MPI jobs. A program started by `mpiexec -n N` runs once in each of N processes (ranks).
//! With the MPI back end, rank 0 runs the program and the other ranks serve its pools
//! (`pool::mpi`). This module knows whether this process is part of such a job, joins it
//! (`MPI_Init`, through the plugin, in `pc_freeze_support`), moves byte messages between
//! ranks, and leaves the job at exit.
//!
//! MPI has no way to wait for a message and for anything else at once, and a blocking
//! receive spins a core anyway; so a wait here polls, spinning (and yielding) for a
//! millisecond, then sleeping longer and longer up to a millisecond, which leaves the
//! cores to the ranks that work when a task runs long.

mod liveness;
pub(crate) mod plugin;

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use liveness::Liveness;
use plugin::Plugin;

/// The tag of the job's own messages (leave); pools use the tags above it.
pub(crate) const CONTROL_TAG: i32 = 0;
/// MPI guarantees tags up to 32767.
const MAX_TAG: i32 = 32767;

/// How long a wait polls without sleeping, and its longest sleep after that. A reply to a
/// short task, or the next task of a map, comes within that time when ranks share cores
/// (measured on 2 cores with 3 ranks: a spin of 100 µs made each round trip wait for a
/// sleep, 1 ms; one of 1 ms, 40 to 50 µs).
const SPIN: Duration = Duration::from_millis(1);
const LONGEST_NAP: Duration = Duration::from_millis(1);
/// Polls between two questions to `give_up` while spinning.
const SPINS_PER_CHECK: u64 = 64;

/// A message from another rank.
pub(crate) struct Message {
    pub(crate) from: i32,
    pub(crate) tag: i32,
    pub(crate) data: Vec<u8>,
}

/// This process's place in the MPI job it joined.
pub(crate) struct World {
    plugin: Plugin,
    rank: i32,
    size: i32,
    /// Held around each MPI call where MPI does not take calls from threads at once.
    serial: Option<Mutex<()>>,
    /// The process that joined: only it leaves (a fork of it must not).
    joined_by: libc::pid_t,
    /// Whether a pool uses the worker ranks, and the tags given so far.
    users: Mutex<Users>,
    users_gone: Condvar,
    /// Who noticed a rank's end: made once the job is joined.
    liveness: OnceLock<Liveness>,
}

#[derive(Default)]
struct Users {
    /// A pool has the worker ranks.
    claimed: bool,
    /// Tags handed out so far.
    tags: i32,
    /// Rank 0 told the others to leave.
    left: bool,
}

/// The job this process joined, or why it could not; unset outside `mpiexec` or before
/// `pc_freeze_support`.
static WORLD: OnceLock<Result<World>> = OnceLock::new();

/// The number of ranks the launcher says the job has, if one started this process: Open
/// MPI's `mpiexec`, or a PMI launcher (MPICH's Hydra, Slurm's `srun`).
pub(crate) fn launched_size() -> Option<u32> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
}

/// In `pc_freeze_support`: joins the job when `mpiexec` started this process with other
/// ranks; the job, or why joining failed. `None` outside such a job.
pub(crate) fn join() -> Option<&'static Result<World>> {
    if launched_size()? < 2 {
        return None;
    }
    let mut first = false;
    let joined = WORLD.get_or_init(|| {
        first = true;
        let plugin = Plugin::load()?;
        let member = plugin.init()?;
        if !member.serialized {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!(
                    "{} lets only the thread that initialized it call MPI; the MPI back end \
                     needs MPI_THREAD_SERIALIZED",
                    plugin.library()
                ),
            ));
        }
        crate::lifecycle::install();
        Ok(World {
            plugin,
            rank: member.rank,
            size: member.size,
            serial: (!member.multiple).then(|| Mutex::new(())),
            joined_by: crate::sys::process::getpid(),
            users: Mutex::new(Users::default()),
            users_gone: Condvar::new(),
            liveness: OnceLock::new(),
        })
    });
    if let (true, Ok(world)) = (first, joined) {
        let liveness = match world.rank {
            0 => Liveness::listen(world),
            _ => Liveness::connect(world),
        };
        match liveness {
            Ok(liveness) => {
                let _ = world.liveness.set(liveness);
            }
            Err(err) => log::warn!("mpi: rank {}: no watch on other ranks: {err}", world.rank),
        }
    }
    Some(joined)
}

/// The job rank 0 joined, for a pool over its other ranks.
pub(crate) fn world() -> Result<&'static World> {
    let not_joined = |why: String| {
        Err(Error::wrong_state(format!(
            "{why}: start the program with `mpiexec -n N` (N >= 2: rank 0 runs the program, \
             the others serve its pools) and call pc_freeze_support(argc, argv) first in main"
        )))
    };
    match (WORLD.get(), launched_size()) {
        (Some(Ok(world)), _) if world.size < 2 => not_joined("the MPI job has 1 rank".into()),
        (Some(Ok(world)), _) => Ok(world),
        (Some(Err(err)), _) => Err(err.clone()),
        (None, None | Some(0 | 1)) => match Plugin::load() {
            Ok(_) => {
                not_joined("this program was not started by mpiexec with 2 ranks or more".into())
            }
            Err(err) => Err(err),
        },
        (None, Some(_)) => not_joined("pc_freeze_support was not called".into()),
    }
}

impl World {
    pub(crate) fn rank(&self) -> i32 {
        self.rank
    }

    pub(crate) fn size(&self) -> i32 {
        self.size
    }

    /// Whether `rank` ended (in a worker rank: whether rank 0 did). Only known where the
    /// ranks' connections were made (see `liveness`).
    pub(crate) fn ended(&self, rank: i32) -> bool {
        self.liveness.get().is_some_and(|l| l.ended(rank))
    }

    /// Runs one MPI call, alone where MPI wants calls one at a time.
    fn call<T>(&self, f: impl FnOnce(&Plugin) -> Result<T>) -> Result<T> {
        let _alone = self.serial.as_ref().map(lock);
        f(&self.plugin)
    }

    pub(crate) fn send(&self, data: &[u8], dest: i32, tag: i32) -> Result<()> {
        self.call(|p| p.send(data, dest, tag))
    }

    /// A message from `source` (`None`: any rank) if one is there.
    pub(crate) fn try_receive(&self, source: Option<i32>) -> Result<Option<Message>> {
        self.call(|p| {
            let Some(probed) = p.probe(source)? else {
                return Ok(None);
            };
            let data = p.recv(&probed)?;
            Ok(Some(Message {
                from: probed.from,
                tag: probed.tag,
                data,
            }))
        })
    }

    /// Waits for a message from `source` (`None`: any rank); `Ok(None)` once `give_up`
    /// (asked between polls) says so.
    pub(crate) fn receive(
        &self,
        source: Option<i32>,
        give_up: &dyn Fn() -> bool,
    ) -> Result<Option<Message>> {
        let started = Instant::now();
        let mut nap = Duration::from_micros(10);
        for polls in 0u64.. {
            if let Some(message) = self.try_receive(source)? {
                return Ok(Some(message));
            }
            if started.elapsed() < SPIN {
                // `give_up` may cost a system call: asked now and then while spinning.
                if polls % SPINS_PER_CHECK == 0 && give_up() {
                    return Ok(None);
                }
                std::thread::yield_now();
            } else {
                if give_up() {
                    return Ok(None);
                }
                std::thread::sleep(nap);
                nap = (nap * 2).min(LONGEST_NAP);
            }
        }
        unreachable!("polls until a message comes or it gives up")
    }

    /// The worker ranks for a new pool, until the claim is dropped (after the pool's
    /// threads stopped using MPI: leaving the job waits for that), and the pool's tag.
    /// `WrongState` while another pool has them, or once the job was left.
    pub(crate) fn claim(&'static self) -> Result<(Claim, i32)> {
        let mut users = lock(&self.users);
        if users.left {
            return Err(Error::wrong_state(
                "this process left the MPI job (it is exiting)",
            ));
        }
        if users.claimed {
            return Err(Error::wrong_state(
                "the MPI worker ranks serve another pool: terminate or close and join it first",
            ));
        }
        users.claimed = true;
        users.tags = users.tags % (MAX_TAG - CONTROL_TAG) + 1;
        Ok((Claim { world: self }, CONTROL_TAG + users.tags))
    }

    /// Finalizes MPI (if this library initialized it): in a worker rank told to leave,
    /// and in rank 0 once it told them.
    pub(crate) fn finalize(&self) {
        if let Err(err) = self.call(Plugin::finalize) {
            log::error!("mpi: {err}");
        }
    }
}

/// A pool's hold on the worker ranks (see [`World::claim`]).
pub(crate) struct Claim {
    world: &'static World,
}

impl Claim {
    pub(crate) fn world(&self) -> &'static World {
        self.world
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.world.users).claimed = false;
        self.world.users_gone.notify_all();
    }
}

/// How long leaving waits for this process's threads to stop using MPI.
const LEAVE_WAIT: Duration = Duration::from_secs(10);

/// At rank 0's normal exit, after its pools ended: tells every other rank to leave, and
/// finalizes MPI (which waits for them).
pub(crate) fn leave() {
    let Some(Ok(world)) = WORLD.get() else {
        return;
    };
    if world.rank != 0 || world.joined_by != crate::sys::process::getpid() {
        return;
    }
    {
        let users = lock(&world.users);
        let (mut users, _) = world
            .users_gone
            .wait_timeout_while(users, LEAVE_WAIT, |u| u.claimed)
            .unwrap_or_else(|e| e.into_inner());
        if users.left {
            return;
        }
        users.left = true;
    }
    let mut ended = Vec::new();
    for rank in 1..world.size {
        if world.ended(rank) {
            ended.push(rank);
        } else if let Err(err) = world.send(&[], rank, CONTROL_TAG) {
            log::error!("mpi: telling rank {rank} to leave: {err}");
        }
    }
    // MPI_Finalize waits for every rank (Open MPI's, even under --enable-recovery, can
    // wait forever for one that died): with a rank gone, this process leaves without it.
    match ended.is_empty() {
        true => world.finalize(),
        false => log::warn!("mpi: ranks {ended:?} ended: leaving without MPI_Finalize"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
