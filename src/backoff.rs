//! The one spin policy every lock in the crate uses.
//!
//! Spinning pays off only when the wait is shorter than what sleeping costs (two futex syscalls
//! and a context switch, a few microseconds). Two shapes of waiting need two shapes of spinning:
//!
//! * [`spin`](Backoff::spin), for a lock that will go to sleep: one pause, then the caller
//!   re-reads the lock word, up to [`Backend::SPIN_PAUSES`] pauses in all. Re-reading costs
//!   nothing while the word's cache line is shared, and the sooner a waiter sees the release the
//!   likelier it takes the lock before sleeping. (Doubling the pauses between reads, which we
//!   tried first, let waiters miss short releases: it measured slower in `contended_long_cs`.)
//! * [`snooze`](Backoff::snooze), for a lock that never sleeps (the spinlock, Peterson): rounds
//!   of 1, 2, 4, … pauses between reads, so that many spinners do not all pounce on the line the
//!   moment it changes, and after [`Backend::SNOOZE_ROUNDS`] rounds a yield of the CPU on every
//!   call, so that on a machine with fewer cores than spinners the holder gets to run.
//!
//! Under loom every pause is a `yield_now`, which tells loom's scheduler to run someone else;
//! that is what lets a model explore a spin loop at all, and why the loom backend's budgets are 1.

use core::marker::PhantomData;

use crate::backend::Backend;

/// Counts the pauses or rounds spent waiting (see the module docs).
pub(crate) struct Backoff<B: Backend> {
    step: u32,
    _backend: PhantomData<B>,
}

impl<B: Backend> Backoff<B> {
    #[inline]
    pub(crate) fn new() -> Self {
        Backoff { step: 0, _backend: PhantomData }
    }

    /// Pauses once, for a caller that re-reads the lock word after each pause. Returns `false`,
    /// without pausing, once the budget is spent: the caller should sleep instead.
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        if self.step >= B::SPIN_PAUSES {
            return false;
        }
        B::spin_hint();
        self.step += 1;
        true
    }

    /// For locks that never sleep: a round of pauses twice as long as the last, then, once the
    /// rounds are spent, a yield of the CPU on every call.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if self.step < B::SNOOZE_ROUNDS {
            for _ in 0..1u32 << self.step {
                B::spin_hint();
            }
            self.step += 1;
        } else {
            B::yield_now();
        }
    }
}
