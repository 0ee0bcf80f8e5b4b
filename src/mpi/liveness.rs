//! Knowing when a rank dies. MPI does not say: a message sent to a dead rank on the same
//! host is simply never read, and Open MPI's `mpiexec` either ends the whole job (its
//! default) or, with `--enable-recovery`, goes on without a word. So each worker rank
//! keeps a TCP connection to rank 0, made when the job is joined: the kernel closes it
//! when either process ends, however it ends, on any host. Rank 0 reads end of file
//! there when a worker rank died; a worker rank when rank 0 did.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{World, CONTROL_TAG};
use crate::error::{Error, Result};
use crate::wire::{Reader, Writer};

/// How long the connections may take to be made.
const CONNECT: Duration = Duration::from_secs(10);

/// The connections of this rank: to each worker rank (in rank 0, by rank; `None` where
/// it could not be made), or to rank 0 (in a worker rank).
pub(super) struct Liveness {
    peers: Vec<Option<TcpStream>>,
}

impl Liveness {
    /// Rank 0's part: tells each worker rank where to connect, and takes the connections.
    pub(super) fn listen(world: &World) -> Result<Liveness> {
        let listener =
            TcpListener::bind(("0.0.0.0", 0)).map_err(|e| Error::os("liveness: bind", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::os("liveness: local address", e))?
            .port();
        let host = crate::sys::process::hostname();
        let mut offer = Vec::new();
        offer.put_bytes(host.as_bytes());
        offer.put_u32(u32::from(port));
        for rank in 1..world.size {
            world.send(&offer, rank, CONTROL_TAG)?;
        }
        let mut peers: Vec<Option<TcpStream>> = (0..world.size).map(|_| None).collect();
        // Each worker rank says whether it connected; the connections that did come.
        let mut expected = 0;
        for _ in 1..world.size {
            let Some(answer) = world.receive(None, &|| false)? else {
                unreachable!("never gives up")
            };
            match answer.data.first() {
                Some(1) => expected += 1,
                _ => log::warn!(
                    "mpi: rank {} could not connect to {host}:{port}: its death will not be \
                     noticed before mpiexec's",
                    answer.from
                ),
            }
        }
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::os("liveness: listener", e))?;
        let deadline = Instant::now() + CONNECT;
        while expected > 0 && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let mut rank = [0u8; 4];
                    let read = stream
                        .set_nonblocking(false)
                        .and_then(|()| stream.set_read_timeout(Some(CONNECT)))
                        .and_then(|()| stream.read_exact(&mut rank));
                    let rank = u32::from_ne_bytes(rank) as usize;
                    if read.is_ok() && (1..peers.len()).contains(&rank) {
                        peers[rank] = Some(stream);
                        expected -= 1;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        Ok(Liveness { peers })
    }

    /// A worker rank's part: connects to where rank 0 said, and tells it whether it did.
    pub(super) fn connect(world: &World) -> Result<Liveness> {
        let Some(offer) = world.receive(Some(0), &|| false)? else {
            unreachable!("never gives up")
        };
        let mut r = Reader::new(&offer.data, "liveness offer");
        let host = String::from_utf8_lossy(r.sized()?).into_owned();
        let port = r.u32()? as u16;
        let stream = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .into_iter()
            .flatten()
            .find_map(|at| TcpStream::connect_timeout(&at, CONNECT).ok())
            .and_then(|mut stream| {
                stream.write_all(&(world.rank as u32).to_ne_bytes()).ok()?;
                Some(stream)
            });
        world.send(&[u8::from(stream.is_some())], 0, CONTROL_TAG)?;
        if stream.is_none() {
            log::warn!(
                "mpi: rank {} could not connect to rank 0 at {host}:{port}",
                world.rank
            );
        }
        Ok(Liveness {
            peers: vec![stream],
        })
    }

    /// Whether `rank` (in rank 0), or rank 0 (in a worker rank: `rank` is 0), has ended.
    /// A rank without a connection is taken to live.
    pub(super) fn ended(&self, rank: i32) -> bool {
        let peer = match self.peers.len() {
            1 => self.peers.first(),
            _ => usize::try_from(rank).ok().and_then(|r| self.peers.get(r)),
        };
        match peer {
            Some(Some(stream)) => crate::sys::socket::peer_closed(stream),
            _ => false,
        }
    }
}
