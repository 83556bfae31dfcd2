//! The one spin policy every lock in the crate uses.
//!
//! Spinning pays off only when the wait is shorter than what sleeping costs (two futex syscalls
//! and a context switch, a few microseconds). So a sleeping lock spins in doubling rounds —
//! 1, 2, 4, … pauses, re-reading the lock word between rounds with a plain load that keeps the
//! cache line shared — and goes to sleep once [`Backend::SPIN_ROUNDS`] rounds have passed.
//! A lock that never sleeps (the spinlock, Peterson) spins the same way and then *yields* the CPU
//! on every further round, so that on a machine with fewer cores than spinners the holder gets
//! to run.
//!
//! Under loom every pause is a `yield_now`, which tells loom's scheduler to run someone else;
//! that is what lets a model explore a spin loop at all.

use core::marker::PhantomData;

use crate::backend::Backend;

/// Doubling spin rounds, then "time to sleep" (see the module docs).
pub(crate) struct Backoff<B: Backend> {
    round: u32,
    _backend: PhantomData<B>,
}

impl<B: Backend> Backoff<B> {
    #[inline]
    pub(crate) fn new() -> Self {
        Backoff { round: 0, _backend: PhantomData }
    }

    /// Spins one round, twice as long as the last. Returns `false`, without spinning, once the
    /// budget is spent: the caller should sleep instead.
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        if self.round >= B::SPIN_ROUNDS {
            return false;
        }
        for _ in 0..1u32 << self.round {
            B::spin_hint();
        }
        self.round += 1;
        true
    }

    /// For locks that never sleep: spin while the budget lasts, then yield the CPU.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if !self.spin() {
            B::yield_now();
        }
    }
}
