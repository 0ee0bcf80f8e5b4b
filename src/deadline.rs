//! How every blocking call waits: timeouts as deadlines on the monotonic clock, resumed
//! after signals with the time left, and broken by [`crate::interrupt`].

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::interrupt;

#[cold]
fn nan_timeout() -> Error {
    Error::invalid_argument("timeout is NaN")
}

/// Longest single block: a pending `pc_interrupt()` is seen within this time even when
/// the signal went to another thread or the handler used `SA_RESTART`.
const SLICE: Duration = Duration::from_millis(50);

/// When a wait must end, from the API's `double timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Negative timeouts: wait without limit.
    Never,
    /// Zero and positive timeouts: give up at this instant (now, for 0).
    At(Instant),
}

impl Deadline {
    /// `timeout` in seconds: negative waits forever, 0 never blocks, NaN is invalid.
    #[inline(always)]
    pub fn from_timeout(timeout: f64) -> Result<Deadline> {
        if timeout.is_nan() {
            return Err(nan_timeout());
        }
        if timeout < 0.0 {
            return Ok(Deadline::Never);
        }
        Ok(Duration::try_from_secs_f64(timeout)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))
            .map_or(Deadline::Never, Deadline::At))
    }

    /// `duration` from now.
    pub fn after(duration: Duration) -> Deadline {
        Instant::now()
            .checked_add(duration)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// Time left: `None` without limit, zero once passed.
    pub fn remaining(&self) -> Option<Duration> {
        match self {
            Deadline::Never => None,
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }
}

/// The longest [`yield_until`] keeps giving the CPU away: on a loaded machine one yield
/// can last a whole time slice of another process, and fifty of them a timeout's worth.
const YIELD_BUDGET: Duration = Duration::from_micros(500);

/// Asks `ready()` up to `checks` times, giving the CPU away before each, for a peer that
/// shares this CPU and is about to make it true: met this way, it costs neither side a
/// futex wake-up. Gives up after [`YIELD_BUDGET`] or at `deadline`, whichever is first;
/// returns whether `ready()` became true.
pub(crate) fn yield_until(
    deadline: Deadline,
    checks: u32,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let budget_end = Instant::now() + YIELD_BUDGET;
    let end = match deadline {
        Deadline::At(at) => at.min(budget_end),
        Deadline::Never => budget_end,
    };
    for _ in 0..checks {
        std::thread::yield_now();
        if ready() {
            return true;
        }
        if Instant::now() >= end {
            break;
        }
    }
    false
}

/// Whether a wait may be broken by `pc_interrupt()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupts {
    /// The usual: a pending interrupt ends the wait with `Interrupted`.
    Honour,
    /// For re-acquiring a lock that must be held again on return (a Condition wait).
    Ignore,
}

/// Waits until `ready()` is true, honouring interrupts; see [`block_until_with`].
pub(crate) fn block_until(
    deadline: Deadline,
    ready: impl FnMut() -> Result<bool>,
    block: impl FnMut(Duration) -> Result<()>,
) -> Result<()> {
    block_until_with(deadline, Interrupts::Honour, ready, block)
}

/// Waits until `ready()` is true. `block(slice)` sleeps at most `slice` for the condition
/// to change and may return early (a signal, a spurious wake-up): `ready` is asked again.
///
/// `ready` is asked first, so a condition already true succeeds even with a zero timeout
/// and without consuming a pending interrupt. Fails with `Timeout` once the deadline
/// passed, and with `Interrupted` when it consumes a pending `pc_interrupt()` (unless
/// `interrupts` is `Ignore`).
pub(crate) fn block_until_with(
    deadline: Deadline,
    interrupts: Interrupts,
    mut ready: impl FnMut() -> Result<bool>,
    mut block: impl FnMut(Duration) -> Result<()>,
) -> Result<()> {
    loop {
        if ready()? {
            return Ok(());
        }
        block(next_slice(deadline, interrupts)?)?;
    }
}

/// For a waiter whose condition is not met yet: how long it may sleep now (at most
/// `SLICE`), or `Timeout` once the deadline passed, or `Interrupted` when it consumes a
/// pending `pc_interrupt()` (unless `interrupts` is `Ignore`). For waits that cannot be
/// written as [`block_until_with`]'s two closures (a condition variable's guard).
pub(crate) fn next_slice(deadline: Deadline, interrupts: Interrupts) -> Result<Duration> {
    let slice = match deadline.remaining() {
        Some(left) if left.is_zero() => return Err(Error::new(ErrorKind::Timeout, "timed out")),
        Some(left) => left.min(SLICE),
        None => SLICE,
    };
    if interrupts == Interrupts::Honour && interrupt::take() {
        return Err(Error::new(
            ErrorKind::Interrupted,
            "interrupted by pc_interrupt()",
        ));
    }
    Ok(slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_invalid_and_negative_is_forever() {
        assert_eq!(
            Deadline::from_timeout(f64::NAN).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(Deadline::from_timeout(-1.0).unwrap(), Deadline::Never);
        assert_eq!(Deadline::from_timeout(1e300).unwrap(), Deadline::Never);
        assert_eq!(
            Deadline::from_timeout(0.0).unwrap().remaining(),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn times_out_never_early() {
        let start = Instant::now();
        let err = block_until(
            Deadline::from_timeout(0.12).unwrap(),
            || Ok(false),
            |slice| {
                std::thread::sleep(slice);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(120));
    }

    #[test]
    fn yielding_stops_at_the_deadline_or_when_ready() {
        let start = Instant::now();
        assert!(!yield_until(
            Deadline::after(Duration::ZERO),
            u32::MAX,
            || false
        ));
        assert!(!yield_until(Deadline::Never, u32::MAX, || false));
        assert!(start.elapsed() < Duration::from_secs(1));
        let mut asked = 0;
        assert!(yield_until(Deadline::Never, 10, || {
            asked += 1;
            asked == 3
        }));
        assert_eq!(asked, 3);
    }

    #[test]
    fn ready_condition_wins_over_zero_timeout_and_interrupt() {
        interrupt::interrupt();
        block_until(
            Deadline::from_timeout(0.0).unwrap(),
            || Ok(true),
            |_| Ok(()),
        )
        .unwrap();
        let err = block_until(Deadline::Never, || Ok(false), |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Interrupted);
        assert!(!interrupt::take());
    }
}
