//! Anonymous shared memory: `mmap(MAP_SHARED | MAP_ANONYMOUS)`.
//!
//! The kernel backs it with an unnamed shmem file, as it does a memfd: a forked child maps
//! the same pages (unlike `MAP_PRIVATE`, which memmap2's `map_anon` gives), and nothing
//! exists in `/dev/shm` or the file system, so nothing can leak whatever way the
//! processes end. No file descriptor is held either.

use std::io;
use std::ptr::NonNull;

/// The most address space a sparse mapping reserves under valgrind.
const VALGRIND_SPARSE: usize = 64 << 20;

/// Whether this process runs under valgrind, which preloads its `vgpreload_*` library
/// (read once).
fn under_valgrind() -> bool {
    static UNDER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UNDER.get_or_init(|| {
        std::env::var_os("LD_PRELOAD")
            .is_some_and(|preload| preload.to_string_lossy().contains("vgpreload"))
    })
}

/// A shared mapping of at least one page, zero-filled, unmapped on drop (in this process).
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; what is stored in it decides thread-safety, and
// its users only store atomics and bytes accessed under the object's own rules.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes (rounded up by the kernel to pages; 0 maps one page).
    pub(crate) fn new(len: usize) -> io::Result<Mapping> {
        Mapping::map(len, 0)
    }

    /// Maps up to `len` bytes (halving down to `least` where the system refuses as much)
    /// of address space whose pages are allocated only when first touched and not counted
    /// against the commit limit (`MAP_NORESERVE`): room for data that may grow large, paid
    /// for only as it does. Give pages back with [`discard`].
    ///
    /// Under valgrind at most [`VALGRIND_SPARSE`] bytes are reserved: its leak check reads
    /// all the address space a process maps, which would take minutes for these.
    ///
    /// [`discard`]: Mapping::discard
    pub(crate) fn new_sparse(len: usize, least: usize) -> io::Result<Mapping> {
        let mut len = match under_valgrind() {
            true => len.min(VALGRIND_SPARSE.max(least)),
            false => len,
        };
        loop {
            match Mapping::map(len, libc::MAP_NORESERVE) {
                Err(_) if len / 2 >= least => len /= 2,
                mapped => return mapped,
            }
        }
    }

    fn map(len: usize, flags: libc::c_int) -> io::Result<Mapping> {
        let len = len.max(1);
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return NULL on success"),
            len,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Frees the pages wholly inside `[start, end)` for every process (`MADV_REMOVE`):
    /// they read as zeros afterwards and cost no memory until written again.
    pub(crate) fn discard(&self, start: usize, end: usize) {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
        let start = start.div_ceil(page) * page;
        let end = end.min(self.len) / page * page;
        if start < end {
            // SAFETY: the range lies inside this mapping; its users no longer need the
            // bytes (the caller's contract). An error only leaves the pages allocated.
            unsafe {
                libc::madvise(
                    self.ptr.as_ptr().add(start).cast(),
                    end - start,
                    libc::MADV_REMOVE,
                )
            };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no reference outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
