//! The only module that calls the OS directly (libc). Everything above it is safe Rust.

pub(crate) mod epoll;
pub(crate) mod futex;
pub(crate) mod io;
pub(crate) mod poll;
pub(crate) mod process;
pub(crate) mod robust;
pub(crate) mod shm;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod thread;
