//! Lock/increment/unlock, turnstile's locks against `std` and `parking_lot`, in one run.
//!
//! * `uncontended/*`: one thread takes the lock, adds 1 to a `u64`, releases it. `floor` is the
//!   least any lock can do: a bare `AtomicU32` swap(1, Acquire) and store(0, Release) around the
//!   same increment. Peterson uses one of its two handles; the other stays idle.
//! * `contended/<peer>/<threads>`: 2, 4 and 8 threads share one lock, each doing a fixed share of
//!   the sample's operations. Time per element is wall time divided by total operations (all
//!   threads together). Peterson runs at 2 threads only (it is a two-party lock).
//!   `parking_lot_again` is the same benchmark as `parking_lot`, run a second time: the gap
//!   between the two is the run-to-run noise of the machine, and differences between locks
//!   smaller than that gap mean nothing.
//! * `contended_long_cs/<peer>/<threads>`: the same, with about 20 pauses of work inside each
//!   critical section. Waiters outlast their spinning and sleep, so this measures the
//!   spin-then-sleep policy and the wake path, which the one-increment family barely reaches.
//!
//! Run with `cargo bench --bench mutex`. Settings are sized so the whole file takes a few
//! minutes on a 2-core machine.

use std::cell::Cell;
use std::hint::black_box;

mod common;
use common::{pause, share};
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use turnstile::{Peterson, PetersonHandle};

const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(2);
const THREADS: [usize; 3] = [2, 4, 8];

/// `spin_loop` hints each contended thread runs *outside* the lock after every unlock: a tiny
/// amount of non-critical work, so that the lock can change hands instead of one thread re-taking
/// it back to back. The same for every peer. It is part of the measured per-op time, and a hint
/// is not cheap everywhere: on the 2-core AMD EPYC this was written on, one took about 24 ns.
const OUTSIDE_SPINS: u32 = 1;

/// Pauses inside each critical section in the `contended_long_cs` family (about half a
/// microsecond on that EPYC): long enough that waiters stop spinning and sleep.
const LONG_CS_SPINS: u32 = 20;

/// A lock around a `u64`, as the benchmarks use it.
trait Counter {
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

/// The floor: no lock type, just the two atomic operations a lock cannot do without.
/// `Cell` keeps it single-threaded (it is `!Sync`), so it takes part in `uncontended` only.
struct Floor {
    flag: AtomicU32,
    value: Cell<u64>,
}

impl Counter for Floor {
    #[inline]
    fn with(&self, f: impl FnOnce(&mut u64)) {
        // Bare: nothing else ever holds the flag, so the old value is not checked.
        self.flag.swap(1, Acquire);
        let mut value = self.value.get();
        f(&mut value);
        self.value.set(value);
        self.flag.store(0, Release);
    }
}

fn uncontended_one<C: Counter>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, counter: C) {
    group.bench_function(name, |b| b.iter(|| black_box(&counter).increment()));
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    group.throughput(Throughput::Elements(1));

    uncontended_one(&mut group, "floor", Floor { flag: AtomicU32::new(0), value: Cell::new(0) });
    uncontended_one(&mut group, "turnstile_spinlock", turnstile::SpinLock::new(0u64));
    uncontended_one(&mut group, "turnstile_mutex", turnstile::Mutex::new(0u64));
    uncontended_one(&mut group, "std_mutex", std::sync::Mutex::new(0u64));
    uncontended_one(&mut group, "parking_lot", parking_lot::Mutex::new(0u64));

    let (mut mine, idle) = Peterson::pair(0u64);
    group.bench_function("turnstile_peterson", |b| b.iter(|| *black_box(&mut mine).lock() += 1));
    drop(idle);

    group.finish();
}

/// Wall time for `threads` threads to do `total` increments of `counter` between them.
///
/// Threads are spawned per sample and meet at a barrier; the clock starts when the barrier
/// releases them and stops when the last one is joined. Spawning is outside the timed span.
fn run_contended<C: Counter + Sync>(counter: &C, threads: usize, total: u64, inside: u32) -> Duration {
    let before = counter.count();
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for i in 0..threads {
            let ops = share(total, threads, i);
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..ops {
                    counter.with(|v| {
                        pause(inside);
                        *v += 1;
                    });
                    pause(OUTSIDE_SPINS);
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        // The scope joins every thread before it returns; `t0.elapsed()` is read after that.
        t0
    })
    .elapsed();
    assert_eq!(counter.count() - before, total, "lost updates: the lock let two threads in");
    elapsed
}

/// As `run_contended`, for Peterson's two handles, one per thread.
fn run_peterson(handles: &mut [PetersonHandle<u64>; 2], total: u64, inside: u32) -> Duration {
    let before = *handles[0].lock();
    let start = Barrier::new(3);
    let elapsed = std::thread::scope(|s| {
        for (i, handle) in handles.iter_mut().enumerate() {
            let ops = share(total, 2, i);
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..ops {
                    let mut guard = handle.lock();
                    pause(inside);
                    *guard += 1;
                    drop(guard);
                    pause(OUTSIDE_SPINS);
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed();
    assert_eq!(*handles[0].lock() - before, total, "lost updates: the lock let two threads in");
    elapsed
}

/// One contended family: every peer at 2, 4 and 8 threads, `inside` pauses in each critical section.
fn contended_family(c: &mut Criterion, name: &str, inside: u32) {
    let mut group = c.benchmark_group(name);
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    // One element = one lock/increment/unlock by any thread; `iters` is the total over threads.
    group.throughput(Throughput::Elements(1));

    for threads in THREADS {
        let spin = turnstile::SpinLock::new(0u64);
        group.bench_with_input(BenchmarkId::new("turnstile_spinlock", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&spin, t, iters, inside))
        });
        let mutex = turnstile::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("turnstile_mutex", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&mutex, t, iters, inside))
        });
        let std_mutex = std::sync::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("std_mutex", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&std_mutex, t, iters, inside))
        });
        let pl = parking_lot::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("parking_lot", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&pl, t, iters, inside))
        });
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        let pl_again = parking_lot::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("parking_lot_again", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&pl_again, t, iters, inside))
        });
        if threads == 2 {
            let (a, b) = Peterson::pair(0u64);
            let mut handles = [a, b];
            group.bench_with_input(BenchmarkId::new("turnstile_peterson", threads), &threads, |b, _| {
                b.iter_custom(|iters| run_peterson(&mut handles, iters, inside))
            });
        }
    }

    group.finish();
}

/// A critical section of one increment: mostly the lock's own handoff cost.
fn contended(c: &mut Criterion) {
    contended_family(c, "contended", 0);
}

/// A critical section of `LONG_CS_SPINS` pauses: long enough that waiters run out of spinning
/// and sleep, so the spin-then-sleep policy is what is measured.
fn contended_long(c: &mut Criterion) {
    contended_family(c, "contended_long_cs", LONG_CS_SPINS);
}

criterion_group!(benches, uncontended, contended, contended_long);
criterion_main!(benches);
