//! libprocessing: the API of Python's `processing` package (the ancestor of
//! `multiprocessing`) as a C library, implemented in Rust.
//!
//! Layers (see docs/ARCHITECTURE.md): [`ffi`] is the thin `extern "C"` boundary that
//! cbindgen turns into `include/processing.h`; the area modules are safe Rust usable on
//! their own; [`sys`] is the only place that calls the OS.

pub mod connection;
pub mod deadline;
pub mod error;
pub mod interrupt;
pub mod item;
pub mod logging;
pub mod managers;
pub mod pool;
pub mod process;
pub mod queue;
pub mod sharedctypes;
pub mod start;
pub mod synchronize;

mod backing;
mod heap;
mod mpi;
mod shared;
mod wire;

pub mod ffi;
/// The fuzz targets' entry points (`fuzz/`), only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod lifecycle;
mod sys;

pub use error::{Error, ErrorKind, Result};
