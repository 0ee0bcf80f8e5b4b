//! The C boundary: `extern "C"` functions over opaque handles, from which cbindgen makes
//! `include/processing.h`. Each function checks its arguments, calls the safe Rust API,
//! catches panics and turns errors into a `pc_status` plus `pc_last_error()` (see
//! `macros.rs`). One file per area, mirroring the crate.

// The C names (`pc_lock`, `pc_task_fn`, …) are the API's.
#![allow(non_camel_case_types)]

#[macro_use]
mod macros;
#[macro_use]
pub(crate) mod handle;
mod boundary;
mod received;

// Declared in the header's reading order: cbindgen emits constants and functions in source
// order (`sort_by = "None"`), module by module. (Blank lines keep rustfmt from sorting them.)
pub mod status;

pub mod library;

pub mod process;

pub mod start;

pub mod connection;

pub mod synchronize;

pub mod sharedctypes;

pub mod queue;

pub mod pool;

pub mod item;

pub mod managers;

pub mod collections;

pub mod logging;
