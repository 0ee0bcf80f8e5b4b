//! Shared memory without a name: a memfd, mapped `MAP_SHARED`.
//!
//! A forked child maps the same pages (unlike `MAP_PRIVATE`, which memmap2's `map_anon`
//! gives), and a process started by `exec` maps them from the memfd handed to it (see
//! `start`); nothing exists in `/dev/shm` or the file system, so nothing can leak
//! whatever way the processes end: the kernel frees the pages with the last mapping and
//! descriptor. (`MAP_ANONYMOUS` memory is the same unnamed shmem file, but has no
//! descriptor to hand on.) The memfd is close-on-exec: only a start that hands it on
//! passes it.
//!
//! The shared heap (`heap`) is carved from these mappings; `shared` puts typed objects
//! in the heap; `sharedctypes` is the seed's `Value` and `Array` on top.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::MemfdFlags;
use rustix::mm::{self, Advice, MapFlags, ProtFlags};

/// The most address space a sparse mapping reserves under valgrind.
const VALGRIND_SPARSE: usize = 64 << 20;

/// A shared mapping of at least one page, zero-filled, unmapped on drop (in this process),
/// and the memfd that holds its pages.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    memfd: OwnedFd,
}

// SAFETY: the mapping is plain memory; what is stored in it decides thread-safety, and
// its users only store atomics and bytes accessed under the object's own rules.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps up to `len` bytes (halving down to `least` where the system refuses as much)
    /// of address space whose pages are allocated only when first touched and not counted
    /// against the commit limit (`MAP_NORESERVE`): room for data that may grow large, paid
    /// for only as it does. Give pages back with [`zero`](Mapping::zero).
    ///
    /// Under valgrind at most [`VALGRIND_SPARSE`] bytes are reserved: its leak check reads
    /// all the address space a process maps, which would take minutes for these.
    pub(crate) fn new_sparse(len: usize, least: usize) -> io::Result<Mapping> {
        let mut len = match super::under_valgrind() {
            true => len.min(VALGRIND_SPARSE.max(least)),
            false => len,
        };
        loop {
            match Mapping::map(len) {
                Err(_) if len / 2 >= least => len /= 2,
                mapped => return mapped,
            }
        }
    }

    /// A fresh memfd of `len` bytes (sparse: a memfd is never charged to the commit
    /// limit for its size), mapped whole.
    fn map(len: usize) -> io::Result<Mapping> {
        let len = len.max(1);
        if file_size_limit().is_some_and(|limit| limit < len as u64) {
            // `ftruncate` beyond RLIMIT_FSIZE would raise SIGXFSZ, which kills.
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        let memfd = rustix::fs::memfd_create("processing-heap", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&memfd, len as u64)?;
        Mapping::attach(memfd)
    }

    /// Maps the whole of `memfd`, another process's mapping handed to this one.
    pub(crate) fn attach(memfd: OwnedFd) -> io::Result<Mapping> {
        let len = usize::try_from(rustix::fs::fstat(&memfd)?.st_size)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        let flags = MapFlags::SHARED | MapFlags::NORESERVE;
        // SAFETY: a fresh mapping at an address the kernel picks; no memory of ours moves.
        let ptr = unsafe { mm::mmap(std::ptr::null_mut(), len, prot, flags, &memfd, 0) }?;
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return NULL on success"),
            len,
            memfd,
        })
    }

    /// The memfd that holds the pages, to hand to a process started by `exec`.
    pub(crate) fn memfd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes the pages wholly inside `[start, end)` read as zeros: freed for every
    /// process (`MADV_REMOVE`, after which they cost no memory until written again), or
    /// written with zeros where the kernel refuses (pages locked by `mlockall`).
    pub(crate) fn zero(&self, start: usize, end: usize) {
        if let Some((start, end)) = self.remove(start, end).err() {
            // SAFETY: the range lies inside this mapping; its users no longer need the
            // bytes (the caller's contract).
            unsafe { self.ptr.as_ptr().add(start).write_bytes(0, end - start) };
        }
    }

    /// `MADV_REMOVE` of the whole pages inside `[start, end)`; on failure, that page range.
    fn remove(&self, start: usize, end: usize) -> Result<(), (usize, usize)> {
        let page = page_size();
        let start = start.div_ceil(page) * page;
        let end = end.min(self.len) / page * page;
        if start >= end {
            return Ok(());
        }
        // SAFETY: the range lies inside this mapping; its users no longer need the bytes
        // (the caller's contract).
        unsafe {
            mm::madvise(
                self.ptr.as_ptr().add(start).cast(),
                end - start,
                Advice::LinuxRemove,
            )
        }
        .map_err(|_| (start, end))
    }
}

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions. (rustix reads the page size from the aux
    // vector, through `dlsym` or by opening `/proc/self/auxv`; sysconf needs neither.)
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize
}

/// The machine's RAM plus swap, in bytes.
pub(crate) fn memory_and_swap() -> u64 {
    let info = rustix::system::sysinfo();
    (info.totalram as u64)
        .saturating_add(info.totalswap as u64)
        .saturating_mul(u64::from(info.mem_unit.max(1)))
}

/// The largest file this process may make (`RLIMIT_FSIZE`), if limited.
fn file_size_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Fsize).current
}

/// The most address space this process may map (`RLIMIT_AS`), if limited.
pub(crate) fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no reference outlives self.
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
