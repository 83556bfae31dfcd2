//! Lock/increment/unlock, turnstile's locks against `std` and `parking_lot`, in one run.
//!
//! * `uncontended/*`: one thread takes the lock, adds 1 to a `u64`, releases it. `floor` is the
//!   least any lock can do: a bare `AtomicU32` swap(1, Acquire) and store(0, Release) around the
//!   same increment. Peterson uses one of its two handles; the other stays idle.
//! * `contended/<peer>/<threads>`: 2, 4, 8 and 16 threads (1x to 8x the cores of a 2-core
//!   machine) share one lock, each doing a fixed share of the sample's operations, with one pause
//!   (~24 ns) outside the lock after each unlock. Time per element is wall time (from the first
//!   thread starting to the last one finishing) divided by total operations (all threads
//!   together). Peterson runs at 2 threads only (it is a two-party lock).
//!   `parking_lot_again` is the same benchmark as `parking_lot`, run a second time on a fresh
//!   lock: the gap between the two is the run-to-run noise of the machine, and differences
//!   between locks smaller than that gap mean nothing.
//! * `contended_long_cs/<peer>/<threads>`: the same, with about 20 pauses of work inside each
//!   critical section. Waiters outlast their spinning and sleep, so this measures the
//!   spin-then-sleep policy and the wake path, which the one-increment family barely reaches.
//! * `short_outside/<peer>/<threads>`: one increment inside, and only ~10 ns of plain arithmetic
//!   outside (less than one pause). The releasing thread is back for the lock almost at once, so
//!   this measures what a lock does when the releaser competes with the waiters it should wake:
//!   barging keeps the lock on a warm core, handing it over costs a wake-up per operation.
//! * `fair_mutex/<peer>/<threads>` and `reentrant/<peer>/<threads>`: the `contended` workload for
//!   `FairMutex` and `ReentrantMutex` (its count in a `Cell`, as a guard gives `&T`) against
//!   parking_lot's lock of the same kind, with `_again` as the control. `uncontended` has them
//!   too, and `Once::call_once` on a `Once` that has run (against std's and parking_lot's).
//! * `with_poller/<peer>/<threads>`: the `short_outside` loop on 2, 4 and 8 threads, plus one
//!   more thread that loops `try_lock_for(1 µs)` (incrementing when it gets the lock) until the
//!   others are done. Only locks with a timed try-lock take part. The time is the lockers' wall
//!   time over the lockers' operations; the poller's do not count. A waiter that gives up leaves
//!   state behind (a "someone may be asleep" mark, a queue entry) that later unlocks may pay for:
//!   this family measures that cost.
//!
//! Every contended thread runs the same loop (`lock_loop`), parameterised by the work inside and
//! outside the lock (`common::locks::Work`, shared with `mutex_fairness.rs`). After each sample
//! the lock's count is checked against the operations done: a lock that lets two threads in
//! loses updates and fails the benchmark.
//!
//! **Kernel counts.** After criterion's figures for each contended id, a line
//! `counts <family>/<lock>/<threads>: futex/op = …, cs/op = … (vcsw/op = …, ivcsw/op = …; N ops)`:
//! futex system calls and context switches per operation, counted by every locking thread (and
//! the poller) for itself around its own loop, summed over all of the id's samples, warm-up
//! included (`common::counts`; `n/a` where the counter cannot be opened).
//!
//! Run with `cargo bench --bench mutex`. Settings are sized so the whole file takes about 140
//! seconds on a 2-core machine; the first line of the output says
//! so. Fairness and tail latency of the same workloads are in `mutex_fairness.rs`; BENCHMARKS.md's
//! tables come from both (`python3 benches/report.py --help` says how).

use std::cell::Cell;
use std::hint::black_box;

mod common;
use common::counts::{self, Cost, Meter};
use common::locks::{Counter, Work, CONTENDED, LONG_CS, SHORT_OUTSIDE, THREADS};
use common::share;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use turnstile::{Peterson, PetersonHandle};

// 109 benchmarks of 1 s each, plus criterion's analysis (10,000 resamples, not its default
// 100,000): about 140 seconds on the 2-core EPYC, so that three runs fit in eight minutes. Set in
// the criterion config below rather than per group, so that `--warm-up-time`,
// `--measurement-time`, `--sample-size` and `--nresamples` on the command line override them (a
// group's settings would win).
const SAMPLES: usize = 10;
const WARM_UP: Duration = Duration::from_millis(300);
const MEASUREMENT: Duration = Duration::from_millis(700);
const RESAMPLES: usize = 10_000;
/// What the header says one run takes with the settings above.
const EXPECTED: &str = "about 140 s on a 2-core machine";

/// Locker thread counts of `with_poller` (the poller is one more thread).
const POLLER_THREADS: [usize; 3] = [2, 4, 8];

/// How long the `with_poller` poller waits in each `try_lock_for`: short enough that it times out
/// over and over while the lockers keep the lock busy.
const POLL_TIMEOUT: Duration = Duration::from_micros(1);

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

/// A [`Counter`] whose lock can be waited for with a timeout.
trait TimedCounter: Counter {
    /// Waits at most `timeout` for the lock; if it got it, runs `f` on the value and unlocks.
    /// Returns whether it got the lock.
    fn try_with_for(&self, timeout: Duration, f: impl FnOnce(&mut u64)) -> bool;
}

impl TimedCounter for turnstile::Mutex<u64> {
    #[inline]
    fn try_with_for(&self, timeout: Duration, f: impl FnOnce(&mut u64)) -> bool {
        self.try_lock_for(timeout).map(|mut guard| f(&mut guard)).is_some()
    }
}

impl TimedCounter for parking_lot::Mutex<u64> {
    #[inline]
    fn try_with_for(&self, timeout: Duration, f: impl FnOnce(&mut u64)) -> bool {
        self.try_lock_for(timeout).map(|mut guard| f(&mut guard)).is_some()
    }
}

/// One contended thread's way into the lock: a shared reference to a `Sync` lock, or for
/// Peterson, the thread's own handle (which locks through `&mut`). This is what lets one loop
/// and one runner serve every peer.
trait Handle: Send {
    /// One critical section: lock, run `f` on the value, unlock.
    fn with(&mut self, f: impl FnOnce(&mut u64));

    /// The count so far (takes the lock; not timed).
    fn count(&mut self) -> u64 {
        let mut count = 0;
        self.with(|v| count = *v);
        count
    }
}

impl<C: Counter + Sync> Handle for &C {
    #[inline]
    fn with(&mut self, f: impl FnOnce(&mut u64)) {
        Counter::with(*self, f);
    }
}

impl Handle for PetersonHandle<u64> {
    #[inline]
    fn with(&mut self, f: impl FnOnce(&mut u64)) {
        f(&mut self.lock());
    }
}

fn uncontended_one<C: Counter>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, counter: C) {
    group.bench_function(name, |b| b.iter(|| black_box(&counter).increment()));
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.throughput(Throughput::Elements(1));

    uncontended_one(&mut group, "floor", Floor { flag: AtomicU32::new(0), value: Cell::new(0) });
    uncontended_one(&mut group, "turnstile_spinlock", turnstile::SpinLock::new(0u64));
    uncontended_one(&mut group, "turnstile_mutex", turnstile::Mutex::new(0u64));
    uncontended_one(&mut group, "std_mutex", std::sync::Mutex::new(0u64));
    uncontended_one(&mut group, "parking_lot", parking_lot::Mutex::new(0u64));

    // The other mutexes of the drop-in table, against parking_lot's of the same kind.
    uncontended_one(&mut group, "turnstile_fair_mutex", turnstile::FairMutex::new(0u64));
    uncontended_one(&mut group, "parking_lot_fair_mutex", parking_lot::FairMutex::new(0u64));
    uncontended_one(&mut group, "turnstile_reentrant", turnstile::ReentrantMutex::new(Cell::new(0u64)));
    uncontended_one(&mut group, "parking_lot_reentrant", parking_lot::ReentrantMutex::new(Cell::new(0u64)));
    // A `Once` that has run: what every later caller pays.
    let once = turnstile::Once::new();
    once.call_once(|| ());
    group.bench_function("turnstile_once", |b| b.iter(|| black_box(&once).call_once(|| ())));
    let once = std::sync::Once::new();
    once.call_once(|| ());
    group.bench_function("std_once", |b| b.iter(|| black_box(&once).call_once(|| ())));
    let once = parking_lot::Once::new();
    once.call_once(|| ());
    group.bench_function("parking_lot_once", |b| b.iter(|| black_box(&once).call_once(|| ())));

    let (mut mine, idle) = Peterson::pair(0u64);
    group.bench_function("turnstile_peterson", |b| b.iter(|| *black_box(&mut mine).lock() += 1));
    drop(idle);

    group.finish();
}

/// The loop of every locking thread in every contended family: `ops` operations of `work`.
/// `seed` starts the thread's own word for the arithmetic outside work.
fn lock_loop(handle: &mut impl Handle, ops: u64, work: Work, seed: u64) {
    let mut state = seed;
    for _ in 0..ops {
        handle.with(|v| work.critical(v));
        work.outside(&mut state);
    }
    black_box(state);
}

/// The `with_poller` poller: `try_lock_for(POLL_TIMEOUT)` over and over, incrementing whenever it
/// gets the lock, until `done`. Returns how many times it got it, and what its polling cost the
/// kernel (futex calls, context switches), counted from its first poll.
fn poll<C: TimedCounter>(counter: &C, done: &AtomicBool, mut meter: Meter) -> (u64, Cost) {
    let mut got = 0;
    meter.start();
    while !done.load(Relaxed) {
        if counter.try_with_for(POLL_TIMEOUT, |v| *v += 1) {
            got += 1;
        }
    }
    (got, meter.stop())
}

/// What `run_threads` takes when there is no poller (the type `None` needs).
/// A poller of a lock of type `C`.
type PollerOf<C> = fn(&C, &AtomicBool, Meter) -> (u64, Cost);

/// A thread that polls the lock beside the lockers: given the stop flag and a meter, it returns
/// its operations and what they cost.
type Poller = fn(&AtomicBool, Meter) -> (u64, Cost);

const NO_POLLER: Option<Poller> = None;

/// Wall time for one thread per handle to do `total` operations of `work` between them, with
/// `poller` (if any) running on one more thread until they are done.
///
/// Threads are spawned per sample and meet at a barrier. The lockers read the clock themselves:
/// the time is from the first of them to leave the barrier to the last to finish. Read by the
/// spawning thread instead, it would also include that thread's own wait to be scheduled again
/// after the barrier: with as many busy threads as cores, that can be a whole time slice, during
/// which the lockers work unclocked (2-thread Peterson, which never sleeps, measured 3.6 ns/op
/// that way, less than its outside work alone). Spawning and stopping the poller are not timed.
/// Then the lock's count must have grown by exactly the lockers' operations plus the poller's
/// successful acquisitions.
///
/// Also returns what the run cost the kernel (`common::counts`): each locker counts its own
/// futex calls and context switches from leaving the barrier to its last operation, the poller
/// from its first poll to its last; the sum of them all (the barrier, spawning and joining are
/// not in it).
fn run_threads<H: Handle>(
    handles: &mut [H],
    total: u64,
    work: Work,
    poller: Option<impl Fn(&AtomicBool, Meter) -> (u64, Cost) + Sync>,
) -> (Duration, Cost) {
    let before = handles[0].count();
    let threads = handles.len();
    let start = Barrier::new(threads + 1 + usize::from(poller.is_some()));
    let done = AtomicBool::new(false);
    let (spans, polled) = std::thread::scope(|s| {
        let (start, done) = (&start, &done);
        let lockers: Vec<_> = handles
            .iter_mut()
            .enumerate()
            .map(|(i, handle)| {
                let ops = share(total, threads, i);
                s.spawn(move || {
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    let began = Instant::now();
                    lock_loop(handle, ops, work, i as u64 + 1);
                    let ended = Instant::now();
                    (began, ended, meter.stop())
                })
            })
            .collect();
        let poller = poller.as_ref().map(|poll| {
            s.spawn(move || {
                let meter = Meter::new();
                start.wait();
                poll(done, meter)
            })
        });
        start.wait();
        let spans: Vec<_> = lockers.into_iter().map(|locker| locker.join().unwrap()).collect();
        done.store(true, Relaxed);
        (spans, poller.map_or((0, Cost::ZERO), |poller| poller.join().unwrap()))
    });
    let (polled, poller_cost) = polled;
    assert_eq!(handles[0].count() - before, total + polled, "lost updates: the lock let two threads in");
    let first = spans.iter().map(|span| span.0).min().unwrap();
    let last = spans.iter().map(|span| span.1).max().unwrap();
    let cost = spans.iter().fold(poller_cost, |sum, span| sum + span.2);
    (last - first, cost)
}

/// Runs of one benchmark id, summed over every sample criterion takes (warm-up included): the
/// kernel's share, printed as a `counts` line once criterion is done with the id.
struct Tally {
    cost: Cost,
    ops: u64,
}

impl Tally {
    fn new() -> Self {
        Tally { cost: Cost::ZERO, ops: 0 }
    }

    /// Adds one sample of `ops` operations and passes its time on to criterion.
    fn add(&mut self, ops: u64, (elapsed, cost): (Duration, Cost)) -> Duration {
        self.ops += ops;
        self.cost = self.cost + cost;
        elapsed
    }

    fn print(&self, id: &str) {
        counts::print_line(id, self.cost, self.ops);
    }
}

/// One peer of a contended family at `threads` threads, on `counter` (a fresh lock per call, so
/// that the control runs on its own lock), with `poller` on one more thread if given.
///
/// After criterion's figures for it, a `counts <family>/<name>/<threads>` line: futex calls and
/// context switches per (locker) operation over all of this id's samples.
fn bench_peer<C: Counter + Sync>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    (family, name): (&str, &str),
    threads: usize,
    work: Work,
    counter: C,
    poller: Option<PollerOf<C>>,
) {
    let counter = &counter;
    let mut tally = Tally::new();
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            let poller = poller.map(|poll| move |done: &AtomicBool, meter| poll(counter, done, meter));
            tally.add(iters, run_threads(&mut vec![counter; t], iters, work, poller))
        })
    });
    tally.print(&format!("{family}/{name}/{threads}"));
}

/// A criterion group for one contended family. One element = one lock/increment/unlock by a
/// locking thread; `iters` is the total over them.
fn contended_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group
}

/// One contended family: every peer at each of `THREADS`, each operation doing `work`.
fn contended_family(c: &mut Criterion, name: &str, work: Work) {
    let mut group = contended_group(c, name);
    for threads in THREADS {
        let g = &mut group;
        bench_peer(g, (name, "turnstile_spinlock"), threads, work, turnstile::SpinLock::new(0u64), None);
        bench_peer(g, (name, "turnstile_mutex"), threads, work, turnstile::Mutex::new(0u64), None);
        bench_peer(g, (name, "std_mutex"), threads, work, std::sync::Mutex::new(0u64), None);
        bench_peer(g, (name, "parking_lot"), threads, work, parking_lot::Mutex::new(0u64), None);
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        bench_peer(g, (name, "parking_lot_again"), threads, work, parking_lot::Mutex::new(0u64), None);
        if threads == 2 {
            let (a, b) = Peterson::pair(0u64);
            let mut handles = [a, b];
            let mut tally = Tally::new();
            group.bench_with_input(BenchmarkId::new("turnstile_peterson", threads), &threads, |b, _| {
                b.iter_custom(|iters| tally.add(iters, run_threads(&mut handles, iters, work, NO_POLLER)))
            });
            tally.print(&format!("{name}/turnstile_peterson/{threads}"));
        }
    }
    group.finish();
}

/// A critical section of one increment: mostly the lock's own handoff cost.
/// `FairMutex` and `ReentrantMutex` against parking_lot's of the same kind, in the `contended`
/// workload; `_again` is the control.
fn variants(c: &mut Criterion) {
    let mut group = contended_group(c, "fair_mutex");
    for threads in THREADS {
        let g = &mut group;
        bench_peer(
            g,
            ("fair_mutex", "turnstile_fair_mutex"),
            threads,
            CONTENDED,
            turnstile::FairMutex::new(0u64),
            None,
        );
        bench_peer(
            g,
            ("fair_mutex", "parking_lot_fair_mutex"),
            threads,
            CONTENDED,
            parking_lot::FairMutex::new(0u64),
            None,
        );
        bench_peer(
            g,
            ("fair_mutex", "parking_lot_fair_mutex_again"),
            threads,
            CONTENDED,
            parking_lot::FairMutex::new(0u64),
            None,
        );
    }
    group.finish();
    let mut group = contended_group(c, "reentrant");
    for threads in THREADS {
        let g = &mut group;
        let mine = turnstile::ReentrantMutex::new(Cell::new(0u64));
        bench_peer(g, ("reentrant", "turnstile_reentrant"), threads, CONTENDED, mine, None);
        let theirs = parking_lot::ReentrantMutex::new(Cell::new(0u64));
        bench_peer(g, ("reentrant", "parking_lot_reentrant"), threads, CONTENDED, theirs, None);
        let control = parking_lot::ReentrantMutex::new(Cell::new(0u64));
        bench_peer(g, ("reentrant", "parking_lot_reentrant_again"), threads, CONTENDED, control, None);
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    contended_family(c, "contended", CONTENDED);
}

/// A critical section of `LONG_CS_SPINS` pauses: long enough that waiters run out of spinning
/// and sleep, so the spin-then-sleep policy is what is measured.
fn contended_long(c: &mut Criterion) {
    contended_family(c, "contended_long_cs", LONG_CS);
}

/// One increment inside, ~10 ns outside: the releaser is back for the lock almost at once.
fn short_outside(c: &mut Criterion) {
    contended_family(c, "short_outside", SHORT_OUTSIDE);
}

/// `short_outside` lockers plus one thread polling with `try_lock_for`: what timed-out waiters
/// cost the lock's later unlocks.
fn with_poller(c: &mut Criterion) {
    let mut group = contended_group(c, "with_poller");
    let work = SHORT_OUTSIDE;
    for threads in POLLER_THREADS {
        let (g, family) = (&mut group, "with_poller");
        bench_peer(g, (family, "turnstile_mutex"), threads, work, turnstile::Mutex::new(0u64), Some(poll));
        bench_peer(g, (family, "parking_lot"), threads, work, parking_lot::Mutex::new(0u64), Some(poll));
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        let control = parking_lot::Mutex::new(0u64);
        bench_peer(g, (family, "parking_lot_again"), threads, work, control, Some(poll));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: with the plotters backend they took ~3.5 s per benchmark here, more than the
    // measurement itself, and would more than double the run. The figures are in the console output and `target/criterion/*/new/estimates.json`;
    // `cargo bench --bench mutex -- --plotting-backend plotters` brings the plots back.
    config = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .nresamples(RESAMPLES)
        .without_plots();
    targets = uncontended, contended, contended_long, short_outside, with_poller, variants
}

/// `criterion_main!`, after a header: the command, how long it takes, whether futex calls can be
/// counted here.
fn main() {
    println!(
        "bench mutex: cargo bench --bench mutex ({EXPECTED}; {SAMPLES} samples, {WARM_UP:?} warm-up + \
         {MEASUREMENT:?} per benchmark)"
    );
    let countable = counts::futex_countable();
    println!("bench mutex: futex calls counted: {}", if countable { "yes" } else { "no (n/a)" });
    benches();
    Criterion::default().configure_from_args().final_summary();
}
