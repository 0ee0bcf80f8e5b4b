//! Local or managed: the two ways an object C reaches through a handle can work.
//!
//! A local object lives in this machine's shared memory; a managed one is owned by a
//! manager's server and reached through a proxy. C uses both through the same handle
//! type and functions (`pc_queue_put` on either). Each area defines the small trait it
//! needs of a remote object (`queue::RemoteQueue`, `synchronize::RemoteAcquirer`, …)
//! and keeps the trait object in [`Backing::Remote`]; `managers` implements those
//! traits, so the areas never know the network. The local state is kept inline: a local call pays one
//! predictable branch, no indirection.

use crate::error::{Error, ErrorKind, Result};

/// An object's state: local (`L`) or a managed object's proxy (`R`).
pub(crate) enum Backing<L, R> {
    Local(L),
    Remote(R),
}

impl<L, R> Backing<L, R> {
    /// The local state, or `NotSupported` with the message `why` makes of the remote one.
    pub(crate) fn local(&self, why: impl FnOnce(&R) -> String) -> Result<&L> {
        match self {
            Backing::Local(local) => Ok(local),
            Backing::Remote(remote) => Err(not_supported(&why(remote))),
        }
    }
}

/// `NotSupported`: what a managed object cannot do, and what to use instead.
#[cold]
pub(crate) fn not_supported(why: &str) -> Error {
    Error::new(ErrorKind::NotSupported, why)
}

/// For tests of the remote backings: a fake proxy holds one, so a test sees that
/// dropping the object dropped its proxy.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct DropCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

#[cfg(test)]
impl DropCount {
    /// The number of drops, for the test to read after the fake is gone.
    pub(crate) fn counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        self.0.clone()
    }
}

#[cfg(test)]
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}
