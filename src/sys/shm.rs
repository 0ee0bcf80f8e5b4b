//! Anonymous shared memory: `mmap(MAP_SHARED | MAP_ANONYMOUS)`.
//!
//! The kernel backs it with an unnamed shmem file, as it does a memfd: a forked child maps
//! the same pages (unlike `MAP_PRIVATE`, which memmap2's `map_anon` gives), and nothing
//! exists in `/dev/shm` or the file system, so nothing can leak whatever way the
//! processes end. No file descriptor is held either.

use std::io;
use std::ptr::NonNull;

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
        let len = len.max(1);
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
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
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no reference outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
