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
//!
//! Run with `cargo bench --bench mutex`. Settings are sized so the whole file takes a few
//! minutes on a 2-core machine.

use std::cell::Cell;
use std::hint::{black_box, spin_loop};
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

/// One critical section: lock, add 1 to the `u64` inside, unlock.
trait Counter {
    fn increment(&self);
    /// The count so far (takes the lock; not timed).
    fn count(&self) -> u64;
}

impl Counter for turnstile::SpinLock<u64> {
    #[inline]
    fn increment(&self) {
        *self.lock() += 1;
    }
    fn count(&self) -> u64 {
        *self.lock()
    }
}

impl Counter for turnstile::Mutex<u64> {
    #[inline]
    fn increment(&self) {
        *self.lock() += 1;
    }
    fn count(&self) -> u64 {
        *self.lock()
    }
}

impl Counter for std::sync::Mutex<u64> {
    #[inline]
    fn increment(&self) {
        *self.lock().unwrap() += 1;
    }
    fn count(&self) -> u64 {
        *self.lock().unwrap()
    }
}

impl Counter for parking_lot::Mutex<u64> {
    #[inline]
    fn increment(&self) {
        *self.lock() += 1;
    }
    fn count(&self) -> u64 {
        *self.lock()
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
    fn increment(&self) {
        // Bare: nothing else ever holds the flag, so the old value is not checked.
        self.flag.swap(1, Acquire);
        self.value.set(self.value.get() + 1);
        self.flag.store(0, Release);
    }
    fn count(&self) -> u64 {
        self.value.get()
    }
}

fn uncontended_one<C: Counter>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, counter: C) {
    group.bench_function(name, |b| b.iter(|| black_box(&counter).increment()));
    assert!(counter.count() > 0);
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
    assert!(*mine.lock() > 0);
    drop(idle);

    group.finish();
}

/// How many of `total` operations thread `i` of `threads` does (the shares add up to `total`).
fn share(total: u64, threads: usize, i: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((i as u64) < total % threads)
}

#[inline]
fn outside_work() {
    for _ in 0..OUTSIDE_SPINS {
        spin_loop();
    }
}

/// Wall time for `threads` threads to do `total` increments of `counter` between them.
///
/// Threads are spawned per sample and meet at a barrier; the clock starts when the barrier
/// releases them and stops when the last one is joined. Spawning is outside the timed span.
fn run_contended<C: Counter + Sync>(counter: &C, threads: usize, total: u64) -> Duration {
    let before = counter.count();
    let start = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for i in 0..threads {
            let ops = share(total, threads, i);
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..ops {
                    counter.increment();
                    outside_work();
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
fn run_peterson(handles: &mut [PetersonHandle<u64>; 2], total: u64) -> Duration {
    let before = *handles[0].lock();
    let start = Barrier::new(3);
    let elapsed = std::thread::scope(|s| {
        for (i, handle) in handles.iter_mut().enumerate() {
            let ops = share(total, 2, i);
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..ops {
                    *handle.lock() += 1;
                    outside_work();
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

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("contended");
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    // One element = one lock/increment/unlock by any thread; `iters` is the total over threads.
    group.throughput(Throughput::Elements(1));

    for threads in THREADS {
        let spin = turnstile::SpinLock::new(0u64);
        group.bench_with_input(BenchmarkId::new("turnstile_spinlock", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&spin, t, iters))
        });
        let mutex = turnstile::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("turnstile_mutex", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&mutex, t, iters))
        });
        let std_mutex = std::sync::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("std_mutex", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&std_mutex, t, iters))
        });
        let pl = parking_lot::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("parking_lot", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&pl, t, iters))
        });
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        let pl_again = parking_lot::Mutex::new(0u64);
        group.bench_with_input(BenchmarkId::new("parking_lot_again", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_contended(&pl_again, t, iters))
        });
        if threads == 2 {
            let (a, b) = Peterson::pair(0u64);
            let mut handles = [a, b];
            group.bench_with_input(BenchmarkId::new("turnstile_peterson", threads), &threads, |b, _| {
                b.iter_custom(|iters| run_peterson(&mut handles, iters))
            });
        }
    }

    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
