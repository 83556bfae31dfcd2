//! The contention policy: how every lock in the crate waits, written once.
//!
//! A waiter that finds the lock held can spin (burn its CPU re-reading the word), yield (give its
//! CPU to another runnable thread, then re-read), or sleep on the futex (two system calls and a
//! context switch, a few microseconds, and a `FUTEX_WAKE` the holder must pay for). Which pays
//! depends on how long the wait will be and on whether the holder is running:
//!
//! * [`spin_then_yield`](Backoff::spin_then_yield), the mutex's: [`Backend::SPIN_ROUNDS`]
//!   rounds of 2, 4, 8 pauses, re-reading the word between rounds, then
//!   [`Backend::YIELD_ROUNDS`] yields, then the caller sleeps. This is parking_lot_core's
//!   `SpinWait` shape, chosen by measurement (`benches/mutex.rs`, BENCHMARKS.md):
//!   - *Threads ≤ cores.* The holder is running, a critical section is usually shorter than the
//!     14 pauses, and the waiter that catches the release takes the lock with no system call.
//!   - *Threads > cores.* The holder may be descheduled, and spinning only burns the time slice
//!     it needs. A yield hands the CPU over, often to the holder, which finishes and releases; the
//!     yielder then finds the lock free without having slept. Sleeping first instead (the
//!     mutex's earlier policy: 100 pauses, then sleep, as std does) made nearly every hand-over
//!     a `FUTEX_WAKE` plus a context switch, three to four times slower than parking_lot at 4
//!     and 8 threads on 2 cores.
//!   - Seven yields bound what a waiter spends before sleeping to a few microseconds when
//!     nothing else is runnable (a yield with an empty run queue returns at once).
//! * [`spin`](Backoff::spin), the semaphore's: one pause, then the caller re-reads the word, up
//!   to [`Backend::SPIN_PAUSES`] pauses, then it sleeps. The mutex's shape was measured on the
//!   semaphore too and made it faster, but its min/max share fell from 0.76 / 0.66 to 0.42 /
//!   0.28 at 4 / 8 threads: it has no fairness bound to stop a yielder being overtaken. The
//!   exception is the semaphore between processes (`ProcessShared`), which waits with the
//!   mutex's shape: there the waiter and the process it waits for often share a core, and a
//!   round trip through two semaphores took 9.8 µs spinning and 3.6 µs yielding, against
//!   `sem_t`'s 4.5 µs (`benches/ipc.rs` under `taskset -c 0`).
//! * The readers-writer locks wait with the mutex's shape, `spin_then_yield`, since they moved
//!   onto the wait queue (the fair lock) and stopped sleeping on every wake (the preference
//!   locks). Measured with `benches/rwlock.rs` against `spin`, one run each at 2 to 16 threads:
//!   the preference locks went from up to 1.9× the best peer (read-heavy, 8 threads) to 0.8–1.0×,
//!   with futex calls per operation down by 100 to 1,000 times; the fair lock, which spins only
//!   while nobody waits in its line, from 0.6–109× (run to run) to mostly 0.8–1.3×. A yielder
//!   gives its core to the holder instead of going to sleep and leaving the core idle, and on a
//!   virtual machine an idle core takes tens of microseconds to wake.
//! * [`snooze`](Backoff::snooze), for a lock that never sleeps (the spinlock, Peterson): rounds
//!   of 1, 2, 4, … pauses between reads, so that many spinners do not all pounce on the line the
//!   moment it changes, and after [`Backend::SNOOZE_ROUNDS`] rounds a yield of the CPU on every
//!   call, so that on a machine with fewer cores than spinners the holder gets to run.
//! * [`Patience`], for a sleeper: when it has waited past [`Backend::FAIRNESS_BOUND`] it is owed
//!   the lock, and a lock that supports hand-off stops letting newcomers barge ahead of it.
//!
//! Under loom every pause is a `yield_now`, which tells loom's scheduler to run someone else;
//! the loom backend does not spin at all before sleeping (its budgets are 0), because a model
//! that spins on a lock word multiplies the values each load may see, except in the mutex models
//! over `Loom<Patient>`, which spin one round (a yield) and are starved on the second overtake, so
//! that a sleeper's way back from a wake is explored as it runs on the real machine.

use core::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::backend::Backend;

/// Counts the rounds spent waiting (see the module docs).
pub(crate) struct Backoff<B: Backend> {
    step: u32,
    _backend: PhantomData<B>,
}

impl<B: Backend> Backoff<B> {
    /// Whether [`spin_then_yield`](Self::spin_then_yield) waits at all on this backend (not
    /// under loom).
    pub(crate) const SPINS: bool = B::SPIN_ROUNDS + B::YIELD_ROUNDS > 0;

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

    /// Waits a little, for a caller that re-reads the lock word after each call: a round of
    /// pauses, or, once those are spent, a yield. Returns `false`, without waiting, once the
    /// yields are spent too: the caller should sleep instead.
    #[inline]
    pub(crate) fn spin_then_yield(&mut self) -> bool {
        if self.step < B::SPIN_ROUNDS {
            for _ in 0..2u32 << self.step {
                B::spin_hint();
            }
        } else if self.step < B::SPIN_ROUNDS + B::YIELD_ROUNDS {
            B::yield_now();
        } else {
            return false;
        }
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

/// How long a sleeper has been waiting, against the fairness bound.
///
/// Started when a thread first sleeps (not on the fast path: reading the clock costs about
/// 20 ns), and asked each time the thread wakes to find the lock taken by someone else: once per
/// overtake. On a backend without a clock (loom) it counts those overtakes instead, up to
/// [`Backend::FAIRNESS_OVERTAKES`].
pub(crate) struct Patience<B: Backend> {
    /// When the bound runs out; `None` when the bound is zero (no clock: count overtakes).
    until: Option<Instant>,
    overtakes: u32,
    _backend: PhantomData<B>,
}

impl<B: Backend> Patience<B> {
    #[inline]
    pub(crate) fn start() -> Self {
        let until = if B::FAIRNESS_BOUND == Duration::ZERO {
            None
        } else {
            Instant::now().checked_add(B::FAIRNESS_BOUND)
        };
        Patience { until, overtakes: 0, _backend: PhantomData }
    }

    /// Called once each time the thread is overtaken: whether it has now waited past the bound.
    #[inline]
    pub(crate) fn exhausted(&mut self) -> bool {
        match self.until {
            Some(until) => Instant::now() >= until,
            None => {
                self.overtakes = self.overtakes.saturating_add(1);
                self.overtakes >= B::FAIRNESS_OVERTAKES
            }
        }
    }
}
