//! Acquire/release, turnstile's `Semaphore` against the semaphore users write today from a mutex
//! and a condition variable, in one run.
//!
//! Peers: `turnstile` is [`turnstile::Semaphore`] (barging), `turnstile_fair` the same built with
//! `Semaphore::new_fair` (first come, first served); `std` and `parking_lot` are a
//! `CondvarSemaphore` built from that crate's `Mutex` and `Condvar`: a count under the mutex,
//! acquire waits on the condvar while it is 0 and takes one, release adds one and calls
//! `notify_one`. The algorithm is written once here; only the spelling of the two types differs.
//!
//! * `uncontended/*`: one thread acquires a permit and releases it at once. `turnstile_mutex` is a
//!   lock and unlock of `turnstile::Mutex<()>`, the yardstick: the semaphore should cost at most
//!   1.1x it.
//! * `contended/<peer>/<threads>`: 4 and 8 threads share a semaphore of 2 permits. One element is
//!   one acquire, `INSIDE_SPINS` pauses holding the permit, release, `OUTSIDE_SPINS` pauses
//!   outside; time per element is wall time divided by the operations of all threads together.
//!   The threads draw their operations from one shared budget (claimed while holding a permit),
//!   so a thread the semaphore favours does more of them: that is what the fairness line reports.
//!   `parking_lot_again` is the same benchmark as `parking_lot`, run a second time: the gap
//!   between the two is the run-to-run noise of the machine, and differences between peers
//!   smaller than that gap mean nothing.
//! * `contended_one_permit/<peer>/2`: 2 threads over 1 permit, the semaphore used as a lock:
//!   every release is a hand-over.
//!
//! **Checks.** Holding its permit, each operation adds itself to a ledger word (holders now, and
//! operations claimed) and takes itself off before releasing. A sample fails if any thread ever
//! saw more holders than permits, if the operations done differ from those asked for, or if the
//! semaphore does not end with all its permits: a broken semaphore fails loudly. The ledger is
//! two atomic read-modify-writes per operation on a line of its own, the same for every peer.
//!
//! **Fairness.** After each contended configuration a line goes to stderr:
//! `fairness semaphore/contended/turnstile/4: min/max = 0.81 (worst run 0.52, 27 runs)`.
//! `min/max` is the fewest acquisitions any thread made over the most any thread made, summed
//! over every run of that configuration (warm-up included, so weighted by size); 1.00 is equal
//! shares, 0 is a starved thread. `worst run` is the lowest single run lasting at least
//! `FAIRNESS_MIN_RUN`. Counting is one local increment per operation.
//!
//! Run with `cargo bench --bench semaphore`. Settings are sized so the whole file takes about two
//! minutes on a 2-core machine.

use std::hint::black_box;

mod common;
use common::counts::{self, Cost, Meter};
use common::pause;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;

const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(2);

/// Thread counts of the `contended` family, all over `PERMITS` permits.
const THREADS: [usize; 2] = [4, 8];
const PERMITS: u32 = 2;

/// `spin_loop` hints of work each contended operation does while holding its permit (besides the
/// ledger): enough that the two permit holders overlap. The same for every peer.
const INSIDE_SPINS: u32 = 4;

/// `spin_loop` hints after each release: a little work outside, so that permits can change hands
/// instead of one thread re-taking its permit back to back. The same for every peer.
const OUTSIDE_SPINS: u32 = 2;

/// Runs shorter than this are left out of the `worst run` fairness figure. With more threads than
/// cores, a thread can wait a few scheduler time slices (milliseconds) before it first runs at all;
/// in a shorter run its small share says nothing about the semaphore.
const FAIRNESS_MIN_RUN: Duration = Duration::from_millis(20);

/// A semaphore as the benchmarks use it.
trait Permits: Sync {
    /// One operation: acquire a permit, run `f`, release the permit.
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R;

    /// The permits available now (not timed; read when no thread holds one).
    fn available(&self) -> u32;
}

impl Permits for turnstile::Semaphore {
    #[inline]
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R {
        let _permit = self.acquire();
        f()
    }

    fn available(&self) -> u32 {
        self.available_permits() as u32
    }
}

/// A mutex around a `u32` and a condition variable, as one library spells them: the only part of
/// `CondvarSemaphore` that differs between std and parking_lot.
trait Library {
    type Mutex: Sync;
    type Condvar: Sync;

    fn mutex(count: u32) -> Self::Mutex;
    fn condvar() -> Self::Condvar;

    /// Lock, run `f` on the count, unlock.
    fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut u32) -> R) -> R;

    /// Lock, wait on `condvar` while `condition` holds, run `then` on the count, unlock.
    fn wait_while_then<R>(
        mutex: &Self::Mutex,
        condvar: &Self::Condvar,
        condition: impl FnMut(&mut u32) -> bool,
        then: impl FnOnce(&mut u32) -> R,
    ) -> R;

    fn notify_one(condvar: &Self::Condvar);
}

struct Std;

impl Library for Std {
    type Mutex = std::sync::Mutex<u32>;
    type Condvar = std::sync::Condvar;

    fn mutex(count: u32) -> Self::Mutex {
        std::sync::Mutex::new(count)
    }

    fn condvar() -> Self::Condvar {
        std::sync::Condvar::new()
    }

    #[inline]
    fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut u32) -> R) -> R {
        f(&mut mutex.lock().unwrap())
    }

    #[inline]
    fn wait_while_then<R>(
        mutex: &Self::Mutex,
        condvar: &Self::Condvar,
        condition: impl FnMut(&mut u32) -> bool,
        then: impl FnOnce(&mut u32) -> R,
    ) -> R {
        then(&mut condvar.wait_while(mutex.lock().unwrap(), condition).unwrap())
    }

    #[inline]
    fn notify_one(condvar: &Self::Condvar) {
        condvar.notify_one();
    }
}

struct ParkingLot;

impl Library for ParkingLot {
    type Mutex = parking_lot::Mutex<u32>;
    type Condvar = parking_lot::Condvar;

    fn mutex(count: u32) -> Self::Mutex {
        parking_lot::Mutex::new(count)
    }

    fn condvar() -> Self::Condvar {
        parking_lot::Condvar::new()
    }

    #[inline]
    fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut u32) -> R) -> R {
        f(&mut mutex.lock())
    }

    #[inline]
    fn wait_while_then<R>(
        mutex: &Self::Mutex,
        condvar: &Self::Condvar,
        condition: impl FnMut(&mut u32) -> bool,
        then: impl FnOnce(&mut u32) -> R,
    ) -> R {
        let mut count = mutex.lock();
        condvar.wait_while(&mut count, condition);
        then(&mut count)
    }

    #[inline]
    fn notify_one(condvar: &Self::Condvar) {
        condvar.notify_one();
    }
}

/// A counting semaphore the way users write one today: a count under a mutex, and a condvar to
/// wait on while it is 0.
struct CondvarSemaphore<L: Library> {
    count: L::Mutex,
    nonzero: L::Condvar,
}

impl<L: Library> CondvarSemaphore<L> {
    fn new(permits: u32) -> Self {
        CondvarSemaphore { count: L::mutex(permits), nonzero: L::condvar() }
    }

    #[inline]
    fn acquire(&self) {
        L::wait_while_then(&self.count, &self.nonzero, |count| *count == 0, |count| *count -= 1);
    }

    #[inline]
    fn release(&self) {
        L::with(&self.count, |count| *count += 1);
        L::notify_one(&self.nonzero);
    }
}

impl<L: Library> Permits for CondvarSemaphore<L>
where
    Self: Sync,
{
    #[inline]
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R {
        self.acquire();
        let result = f();
        self.release();
        result
    }

    fn available(&self) -> u32 {
        L::with(&self.count, |count| *count)
    }
}

fn uncontended_one<S: Permits>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, semaphore: S) {
    group.bench_function(name, |b| b.iter(|| black_box(&semaphore).with_permit(|| ())));
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    group.throughput(Throughput::Elements(1));

    uncontended_one(&mut group, "turnstile", turnstile::Semaphore::new(1));
    uncontended_one(&mut group, "turnstile_fair", turnstile::Semaphore::new_fair(1));
    let mutex = turnstile::Mutex::new(());
    group.bench_function("turnstile_mutex", |b| b.iter(|| drop(black_box(&mutex).lock())));
    uncontended_one(&mut group, "std", CondvarSemaphore::<Std>::new(1));
    uncontended_one(&mut group, "parking_lot", CondvarSemaphore::<ParkingLot>::new(1));

    group.finish();
}

/// Ledger: one permit holder, in the top 16 bits.
const HOLDER_SHIFT: u32 = 48;
const HOLDER: u64 = 1 << HOLDER_SHIFT;
/// Ledger: operations claimed so far, in the low 48 bits.
const CLAIMED_MASK: u64 = HOLDER - 1;

/// The acquisitions each thread made, over every run of one configuration.
#[derive(Default)]
struct Fairness {
    fewest: u64,
    most: u64,
    worst: Option<f64>,
    runs: usize,
}

impl Fairness {
    fn record(&mut self, acquisitions: &[u64], elapsed: Duration) {
        let fewest = acquisitions.iter().copied().min().unwrap_or(0);
        let most = acquisitions.iter().copied().max().unwrap_or(0);
        self.fewest += fewest;
        self.most += most;
        if elapsed >= FAIRNESS_MIN_RUN {
            let ratio = fewest as f64 / most as f64;
            self.worst = Some(self.worst.map_or(ratio, |worst| worst.min(ratio)));
            self.runs += 1;
        }
    }

    /// The stderr line; nothing if the configuration did not run (filtered out).
    fn report(&self, name: &str) {
        if self.most == 0 {
            return;
        }
        let ratio = self.fewest as f64 / self.most as f64;
        match self.worst {
            Some(worst) => {
                eprintln!("fairness {name}: min/max = {ratio:.2} (worst run {worst:.2}, {} runs)", self.runs)
            }
            None => eprintln!("fairness {name}: min/max = {ratio:.2} (no run of {FAIRNESS_MIN_RUN:?})"),
        }
    }
}

/// Wall time for `threads` threads to do `total` operations on `semaphore` between them.
///
/// Threads are spawned per run and meet at a barrier; the clock starts when the barrier releases
/// them and stops when the last one is joined. Spawning is outside the timed span.
fn run_contended<S: Permits>(
    semaphore: &S,
    permits: u32,
    threads: usize,
    total: u64,
    fairness: &mut Fairness,
) -> (Duration, Cost) {
    let ledger = CachePadded::new(AtomicU64::new(0));
    let start = Barrier::new(threads + 1);
    let mut acquisitions = vec![0; threads];
    let (mut most_holders, mut cost) = (0, Cost::ZERO);
    let elapsed = std::thread::scope(|s| {
        let workers: Vec<_> =
            (0..threads).map(|_| s.spawn(|| contend(semaphore, &ledger, &start, total))).collect();
        start.wait();
        let t0 = Instant::now();
        for (worker, slot) in workers.into_iter().zip(&mut acquisitions) {
            let (mine, holders, spent) = worker.join().unwrap();
            cost = cost + spent;
            *slot = mine;
            most_holders = most_holders.max(holders);
        }
        t0.elapsed()
    });
    assert!(most_holders <= permits, "{most_holders} threads held the semaphore's {permits} permits at once");
    assert_eq!(acquisitions.iter().sum::<u64>(), total, "operations lost or repeated");
    assert_eq!(semaphore.available(), permits, "permits lost or made: the count is off after the run");
    fairness.record(&acquisitions, elapsed);
    (elapsed, cost)
}

/// One contending thread: operations until the shared budget of `total` is spent. Returns how
/// many it did, the most holders it saw at once (itself included), and what its loop cost the
/// kernel (`common::counts`).
fn contend<S: Permits>(semaphore: &S, ledger: &AtomicU64, start: &Barrier, total: u64) -> (u64, u32, Cost) {
    let mut meter = Meter::new();
    start.wait();
    meter.start();
    let (mut mine, mut most_holders) = (0, 0);
    loop {
        let before = semaphore.with_permit(|| {
            // Relaxed is enough to count holders exactly: a correct semaphore orders the last
            // holder's take-off (before its release) before our add (after our acquire).
            let before = ledger.fetch_add(HOLDER + 1, Relaxed);
            pause(INSIDE_SPINS);
            ledger.fetch_sub(HOLDER, Relaxed);
            before
        });
        most_holders = most_holders.max((before >> HOLDER_SHIFT) as u32 + 1);
        if (before & CLAIMED_MASK) >= total {
            // The budget was spent before this acquisition: it does not count.
            return (mine, most_holders, meter.stop());
        }
        mine += 1;
        pause(OUTSIDE_SPINS);
    }
}

/// One contended configuration of one peer, then its fairness line.
fn contended_one<S: Permits>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    family: &str,
    peer: &str,
    semaphore: S,
    permits: u32,
    threads: usize,
) {
    let mut fairness = Fairness::default();
    let (mut cost, mut ops) = (Cost::ZERO, 0);
    group.bench_with_input(BenchmarkId::new(peer, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            let (elapsed, sample) = run_contended(&semaphore, permits, t, iters, &mut fairness);
            cost = cost + sample;
            ops += iters;
            elapsed
        })
    });
    counts::print_line(&format!("{family}/{peer}/{threads}"), cost, ops);
    fairness.report(&format!("semaphore/{family}/{peer}/{threads}"));
}

/// One contended family: every peer at each of `threads`, over `permits` permits.
fn contended_family(c: &mut Criterion, family: &str, permits: u32, threads: &[usize]) {
    let mut group = c.benchmark_group(family);
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    // One element = one acquire/work/release by any thread; `iters` is the total over threads.
    group.throughput(Throughput::Elements(1));

    for &t in threads {
        let turnstile = turnstile::Semaphore::new(permits as usize);
        contended_one(&mut group, family, "turnstile", turnstile, permits, t);
        // The fair mode beside the barging one: first come, first served.
        let fair = turnstile::Semaphore::new_fair(permits as usize);
        contended_one(&mut group, family, "turnstile_fair", fair, permits, t);
        contended_one(&mut group, family, "std", CondvarSemaphore::<Std>::new(permits), permits, t);
        let pl = CondvarSemaphore::<ParkingLot>::new(permits);
        contended_one(&mut group, family, "parking_lot", pl, permits, t);
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh semaphore.
        let pl_again = CondvarSemaphore::<ParkingLot>::new(permits);
        contended_one(&mut group, family, "parking_lot_again", pl_again, permits, t);
    }

    group.finish();
}

/// 4 and 8 threads over 2 permits: up to 4x the cores, waiters sleeping on most hand-overs.
fn contended(c: &mut Criterion) {
    contended_family(c, "contended", PERMITS, &THREADS);
}

/// 2 threads over 1 permit: the semaphore as a lock, one thread per core.
fn contended_one_permit(c: &mut Criterion) {
    contended_family(c, "contended_one_permit", 1, &[2]);
}

criterion_group!(benches, uncontended, contended, contended_one_permit);
criterion_main!(benches);
