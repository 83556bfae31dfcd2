//! Helpers the benchmark files share (`mod common;` in each).

use std::hint::spin_loop;

/// How many of `total` operations thread `i` of `threads` does (the shares add up to `total`).
#[allow(dead_code)] // `benches/semaphore.rs` shares this module but splits its work otherwise
pub fn share(total: u64, threads: usize, i: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((i as u64) < total % threads)
}

/// `n` spin-loop hints: stand-in work that touches no memory.
#[inline]
pub fn pause(n: u32) {
    for _ in 0..n {
        spin_loop();
    }
}

/// What `benches/mutex.rs` and `benches/mutex_fairness.rs` share: the lock abstraction and the
/// work each operation does, defined once so that the two files measure the same workloads.
#[allow(dead_code)] // the other benchmark files share this module but not these items
pub mod locks {
    use std::hint::black_box;

    use super::pause;

    /// Thread counts of the contended families: 1x to 8x the cores of the 2-core machine these
    /// benchmarks were written on, so that the larger counts measure waiters that get preempted
    /// and a holder that gets descheduled, not only waiters spinning on their own core.
    pub const THREADS: [usize; 4] = [2, 4, 8, 16];

    /// `spin_loop` hints each contended thread runs *outside* the lock after every unlock in the
    /// `contended` and `contended_long_cs` workloads: a tiny amount of non-critical work, so that
    /// the lock can change hands instead of one thread re-taking it back to back. The same for
    /// every peer. It is part of the measured per-op time, and a hint is not cheap everywhere: on
    /// the 2-core AMD EPYC this was written on, one took about 24 ns.
    pub const OUTSIDE_SPINS: u32 = 1;

    /// Pauses inside each critical section in the `contended_long_cs` workload (about half a
    /// microsecond on that EPYC): long enough that waiters stop spinning and sleep.
    pub const LONG_CS_SPINS: u32 = 20;

    /// Rounds of xorshift64 in [`arithmetic`], the `short_outside` workload's work outside the
    /// lock. Calibrated to about 10 ns: one round is a chain of six dependent ALU operations, and
    /// on the 2-core AMD EPYC (KVM guest) these benchmarks were written on, 6 rounds measured
    /// 9.85 ns per call (best of 5 runs of 20 million calls, the state carried from call to call
    /// as here). `mutex_fairness` prints the figure on the machine it runs on.
    pub const ARITHMETIC_ROUNDS: u32 = 6;

    /// About 10 ns of plain arithmetic on a thread's own word (see [`ARITHMETIC_ROUNDS`]).
    ///
    /// Why not `spin_loop` hints: one costs ~24 ns on that EPYC, so even a single hint is more
    /// than twice this, and the point of `short_outside` is a thread that comes back for the lock
    /// almost at once. `black_box` on the input keeps the compiler from precomputing the chain or
    /// moving it across the lock operations; the result feeds the next call, so none of it is dead.
    #[inline]
    pub fn arithmetic(state: &mut u64) {
        let mut x = black_box(*state);
        for _ in 0..ARITHMETIC_ROUNDS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        *state = x;
    }

    /// What each thread does after every unlock.
    #[derive(Clone, Copy, Debug)]
    pub enum Outside {
        /// This many `spin_loop` hints.
        Pauses(u32),
        /// [`arithmetic`]: about 10 ns.
        Arithmetic,
    }

    /// One contended operation besides taking and releasing the lock: `inside` pauses then an
    /// increment of the protected `u64` while holding it, then `outside` work after releasing it.
    #[derive(Clone, Copy, Debug)]
    pub struct Work {
        pub inside: u32,
        pub outside: Outside,
    }

    /// One increment inside, one pause outside: mostly the cost of handing the lock over.
    pub const CONTENDED: Work = Work { inside: 0, outside: Outside::Pauses(OUTSIDE_SPINS) };
    /// `LONG_CS_SPINS` pauses inside: waiters outlast their spinning and sleep.
    pub const LONG_CS: Work = Work { inside: LONG_CS_SPINS, outside: Outside::Pauses(OUTSIDE_SPINS) };
    /// One increment inside, ~10 ns of arithmetic outside: the releasing thread is back for the
    /// lock almost at once, so whether a release hands the lock to a waiter or lets the releaser
    /// barge back in decides the throughput.
    pub const SHORT_OUTSIDE: Work = Work { inside: 0, outside: Outside::Arithmetic };

    impl Work {
        /// The critical section's work, run while holding the lock.
        #[inline]
        pub fn critical(self, value: &mut u64) {
            pause(self.inside);
            *value += 1;
        }

        /// The work after each unlock. `state` is the calling thread's own word.
        // The match is on a value fixed for the whole loop: a perfectly predicted branch.
        #[inline]
        pub fn outside(self, state: &mut u64) {
            match self.outside {
                Outside::Pauses(n) => pause(n),
                Outside::Arithmetic => arithmetic(state),
            }
        }
    }

    /// A lock around a `u64`, as the benchmarks use it.
    pub trait Counter {
        /// One critical section: lock, run `f` on the value, unlock.
        fn with(&self, f: impl FnOnce(&mut u64));

        /// Lock, add 1, unlock.
        #[inline]
        fn increment(&self) {
            self.with(|v| *v += 1);
        }

        /// The count so far (takes the lock; not timed).
        fn count(&self) -> u64 {
            let mut count = 0;
            self.with(|v| count = *v);
            count
        }
    }

    /// turnstile's exclusive locks, through `turnstile::Lock`, the trait that names what they share.
    macro_rules! turnstile_counters {
        ($($lock:ty),*) => {$(
            impl Counter for $lock {
                #[inline]
                fn with(&self, f: impl FnOnce(&mut u64)) {
                    f(&mut turnstile::Lock::lock(self));
                }
            }
        )*};
    }

    turnstile_counters!(turnstile::SpinLock<u64>, turnstile::Mutex<u64>);

    impl Counter for std::sync::Mutex<u64> {
        #[inline]
        fn with(&self, f: impl FnOnce(&mut u64)) {
            f(&mut self.lock().unwrap());
        }
    }

    impl Counter for parking_lot::Mutex<u64> {
        #[inline]
        fn with(&self, f: impl FnOnce(&mut u64)) {
            f(&mut self.lock());
        }
    }
}
