//! Read and write locks, turnstile's three readers-writer locks against `std` and `parking_lot`,
//! in one run.
//!
//! Peers: `turnstile_reader_pref`, `turnstile_writer_pref` and `turnstile_fair` are
//! [`turnstile::ReaderPrefRwLock`], [`turnstile::WriterPrefRwLock`] and [`turnstile::FairRwLock`];
//! `std` is `std::sync::RwLock`, `parking_lot` is `parking_lot::RwLock`. Every workload is written
//! once, against the `Rw` trait, which only spells `read` and `write` the way each crate does.
//!
//! * `uncontended_read/*` and `uncontended_write/*`: one thread takes a read lock and loads the
//!   `u64` behind it (`black_box`ed), or takes the write lock and adds 1 to it. This is the fast
//!   path alone: what a lock costs when nobody else is there, which is most of the time in most
//!   programs. `floor` is the least any lock can do: a bare `AtomicU32` `fetch_add`/`fetch_sub`
//!   around the read, `swap(1)`/`store(0)` around the write.
//! * `read_heavy/<peer>/<threads>` (95% reads) and `mixed/<peer>/<threads>` (50% reads) at 2, 4,
//!   8 and 16 threads: one lock over a `[u64; 4]`, each thread doing a fixed share of the sample's
//!   operations. Whether a thread's next operation is a write is drawn from a per-thread
//!   xorshift (deterministic: the same sequence every run, different for each thread). A read
//!   sums the four words; a write adds 1 to each. After every operation, `OUTSIDE_SPINS` pauses
//!   of work outside the lock (about 50 ns), so that readers can overlap and the lock changes
//!   hands. Time per element is wall time divided by total operations (all threads together).
//!   `read_heavy` measures how well readers share (a lock that serialises readers loses it);
//!   `mixed` measures the hand-over between readers and writers, where the policies differ.
//!   `parking_lot_again` is the same benchmark as `parking_lot`, run a second time: the gap
//!   between the two is the run-to-run noise of the machine, and differences between locks
//!   smaller than that gap mean nothing.
//!
//! **Kernel counts.** After criterion's figures for each contended id, a line
//! `counts <family>/<peer>/<threads>: futex/op = …, cs/op = … (vcsw/op = …, ivcsw/op = …; N ops)`:
//! futex system calls and context switches per operation, counted by every thread for itself
//! from leaving the starting barrier to its last operation, summed over all of the id's samples,
//! warm-up included (`common::counts`; `n/a` where the counter cannot be opened). The fairness
//! lines end with the same two figures for their windows.
//!
//! **Checks.** A contended run fails if the number of writes the lock's data counted differs from
//! the writes the threads made (a lost update: two writers were let in together), or if any read
//! saw the four words unequal (a torn read: a reader was let in beside a writer). The check is
//! one comparison per read, the same for every peer.
//!
//! **Fairness.** At the end, not a criterion measurement: for each lock, `FAIRNESS_THREADS` (4)
//! threads run the `mixed` workload for `FAIRNESS_RUNS` windows of `FAIRNESS_WINDOW` (150 ms),
//! each counting its own operations, and one line goes to stdout:
//! `fairness rwlock/mixed/turnstile_fair/4: min/max = 0.76 (worst run 0.61, 3 runs of 150ms) reads=…
//! writes=…` (the shape `benches/medians.py` reads).
//! `min/max` is the fewest operations any thread completed over the most any thread completed,
//! summed over the windows; 1.00 is equal shares, 0 is a starved thread; `worst run` is the lowest
//! single window. `reads`/`writes` are the totals over all windows: their sum is the throughput
//! in this regime. Each thread's mix is drawn as above, so their ratio stays near 1 by
//! construction; a policy that starves one side shows as a low `min/max` or a low total, not in
//! that ratio. It takes about 3 seconds, and runs when no filter is given or the filter is a
//! substring of `fairness/mixed/4` (`fairness`, `mixed`), and for one 10 ms window under `--test`.
//!
//! Run with `cargo bench --bench rwlock`: 60 benchmarks of 1 s each (`WARM_UP` + `MEASUREMENT`,
//! 10 samples, 10,000 resamples) and the fairness lines, about 90 seconds on a 2-core machine
//! (three runs in under five minutes); the first line of the output says so. Plots are off:
//! criterion's plotters backend spends 3 to 5 s of CPU per benchmark drawing them (measured on
//! the 2-core AMD EPYC), which would double the run; `-- --plotting-backend plotters` (or `gnuplot`) turns
//! them back on. Estimates are still saved in `target/criterion`. For tables, run it three times
//! and take medians (criterion prints to stdout, the fairness lines too):
//!
//! ```sh
//! for i in 1 2 3; do cargo bench --bench rwlock > r$i.txt 2>&1; done
//! python3 benches/medians.py r1.txt r2.txt r3.txt       # or, tables with the counts:
//! python3 benches/report.py --family rwlock r1.txt r2.txt r3.txt
//! ```
//!
//! The settings are given to `Criterion` itself (`settings()`), not to each group, so
//! `--sample-size`, `--warm-up-time`, `--measurement-time` and `--nresamples` on the command line
//! override them.

use std::cell::Cell;
use std::hint::black_box;

mod common;
use common::counts::{self, Cost, Meter};
use common::{pause, share};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use turnstile::rwlock::{Policy, RwLock};
use turnstile::{FairRwLock, ReaderPrefRwLock, WriterPrefRwLock};

const SAMPLES: usize = 10;
const WARM_UP: Duration = Duration::from_millis(300);
const MEASUREMENT: Duration = Duration::from_millis(700);
const RESAMPLES: usize = 10_000;
/// What the header says one run takes with the settings above.
const EXPECTED: &str = "about 90 s on a 2-core machine";
/// 1x to 8x the cores of a 2-core machine.
const THREADS: [usize; 4] = [2, 4, 8, 16];

/// Writes per hundred operations in `read_heavy`.
const READ_HEAVY_WRITES: u32 = 5;
/// Writes per hundred operations in `mixed`.
const MIXED_WRITES: u32 = 50;

/// `spin_loop` hints each contended thread runs *outside* the lock after every operation: a
/// little non-critical work (one took about 24 ns on the 2-core AMD EPYC of `benches/mutex.rs`),
/// so that readers overlap and a thread does not re-take the lock back to back. The same for
/// every peer, and part of the measured per-op time.
const OUTSIDE_SPINS: u32 = 2;

/// The fairness readout: threads, windows per lock, and the length of a window.
const FAIRNESS_THREADS: usize = 4;
const FAIRNESS_RUNS: u32 = 3;
const FAIRNESS_WINDOW: Duration = Duration::from_millis(150);
/// Under `--test` (or `cargo test --benches`): one short window, to see that it works.
const FAIRNESS_TEST_WINDOW: Duration = Duration::from_millis(10);

/// The data of the contended families: a reader sums it, a writer adds 1 to every word.
type Data = [u64; 4];

/// A readers-writer lock around a `T`, as the benchmarks use it.
trait Rw<T> {
    /// Take a read lock, run `f` on the value, release.
    fn read_with<R>(&self, f: impl FnOnce(&T) -> R) -> R;

    /// Take the write lock, run `f` on the value, release.
    fn write_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// turnstile's three locks: one `RwLock` type with the policy as a parameter.
impl<T, P: Policy> Rw<T> for RwLock<T, P> {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.read())
    }

    #[inline]
    fn write_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.write())
    }
}

impl<T> Rw<T> for std::sync::RwLock<T> {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.read().unwrap())
    }

    #[inline]
    fn write_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.write().unwrap())
    }
}

impl<T> Rw<T> for parking_lot::RwLock<T> {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.read())
    }

    #[inline]
    fn write_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.write())
    }
}

/// The floor: no lock type, just the two atomic operations a lock cannot do without.
/// `Cell` keeps it single-threaded (it is `!Sync`), so it takes part in the uncontended groups only.
struct Floor {
    state: AtomicU32,
    value: Cell<u64>,
}

impl Floor {
    fn new(value: u64) -> Self {
        Floor { state: AtomicU32::new(0), value: Cell::new(value) }
    }
}

impl Rw<u64> for Floor {
    #[inline]
    fn read_with<R>(&self, f: impl FnOnce(&u64) -> R) -> R {
        // Bare: nothing else ever holds the state, so the old value is not checked.
        self.state.fetch_add(1, Acquire);
        let result = f(&self.value.get());
        self.state.fetch_sub(1, Release);
        result
    }

    #[inline]
    fn write_with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        self.state.swap(1, Acquire);
        let mut value = self.value.get();
        let result = f(&mut value);
        self.value.set(value);
        self.state.store(0, Release);
        result
    }
}

fn uncontended_read_one<L: Rw<u64>>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, lock: L) {
    group.bench_function(name, |b| b.iter(|| black_box(black_box(&lock).read_with(|v| *v))));
}

fn uncontended_write_one<L: Rw<u64>>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, lock: L) {
    group.bench_function(name, |b| b.iter(|| black_box(&lock).write_with(|v| *v += 1)));
}

fn uncontended_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_read");
    group.throughput(Throughput::Elements(1));

    uncontended_read_one(&mut group, "floor", Floor::new(1));
    uncontended_read_one(&mut group, "turnstile_reader_pref", ReaderPrefRwLock::new(1u64));
    uncontended_read_one(&mut group, "turnstile_writer_pref", WriterPrefRwLock::new(1u64));
    uncontended_read_one(&mut group, "turnstile_fair", FairRwLock::new(1u64));
    uncontended_read_one(&mut group, "std", std::sync::RwLock::new(1u64));
    uncontended_read_one(&mut group, "parking_lot", parking_lot::RwLock::new(1u64));

    group.finish();
}

fn uncontended_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_write");
    group.throughput(Throughput::Elements(1));

    uncontended_write_one(&mut group, "floor", Floor::new(0));
    uncontended_write_one(&mut group, "turnstile_reader_pref", ReaderPrefRwLock::new(0u64));
    uncontended_write_one(&mut group, "turnstile_writer_pref", WriterPrefRwLock::new(0u64));
    uncontended_write_one(&mut group, "turnstile_fair", FairRwLock::new(0u64));
    uncontended_write_one(&mut group, "std", std::sync::RwLock::new(0u64));
    uncontended_write_one(&mut group, "parking_lot", parking_lot::RwLock::new(0u64));

    group.finish();
}

/// A thread's draw of reads and writes: xorshift64, a few register operations per draw.
struct Draw(u64);

impl Draw {
    /// Thread `i`'s sequence: the same in every run, different for every thread.
    fn for_thread(i: usize) -> Self {
        Draw((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Whether the next operation is a write, `writes` times in a hundred.
    #[inline]
    fn is_write(&mut self, writes: u32) -> bool {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // The high 32 bits scaled to 0..100, without a division.
        (((x >> 32) * 100) >> 32) < u64::from(writes)
    }
}

/// What one thread did.
#[derive(Clone, Copy)]
struct Tally {
    reads: u64,
    writes: u64,
    /// Reads that saw the four words unequal: a reader let in beside a writer.
    torn: u64,
    /// Futex calls and context switches in the thread's window.
    cost: Cost,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { reads: 0, writes: 0, torn: 0, cost: Cost::ZERO }
    }
}

impl Tally {
    fn ops(&self) -> u64 {
        self.reads + self.writes
    }
}

/// One operation of the contended workloads, then the work outside the lock.
#[inline]
fn operate<L: Rw<Data>>(lock: &L, draw: &mut Draw, writes: u32, tally: &mut Tally) {
    if draw.is_write(writes) {
        lock.write_with(|data| data.iter_mut().for_each(|word| *word += 1));
        tally.writes += 1;
    } else {
        let (sum, first) = lock.read_with(|data| (data.iter().sum::<u64>(), data[0]));
        black_box(sum);
        tally.torn += u64::from(sum != 4 * first);
        tally.reads += 1;
    }
    pause(OUTSIDE_SPINS);
}

/// Fails the run if the lock let two writers in together or a reader in beside a writer.
fn check(writes_seen: u64, tallies: &[Tally]) {
    let torn: u64 = tallies.iter().map(|t| t.torn).sum();
    assert_eq!(torn, 0, "torn reads: the lock let a reader in beside a writer");
    let writes: u64 = tallies.iter().map(|t| t.writes).sum();
    assert_eq!(writes_seen, writes, "lost updates: the lock let two writers in");
}

/// Wall time for `threads` threads to do `total` operations on `lock` between them, `writes` in
/// a hundred of them writes.
///
/// Threads are spawned per sample and meet at a barrier; the clock starts when the barrier
/// releases them and stops when the last one is joined. Spawning is outside the timed span. Also
/// what the threads' loops cost the kernel, each thread counting its own.
fn run_contended<L: Rw<Data> + Sync>(lock: &L, threads: usize, total: u64, writes: u32) -> (Duration, Cost) {
    let before = lock.read_with(|data| data[0]);
    let start = Barrier::new(threads + 1);
    let mut tallies = vec![Tally::default(); threads];
    let elapsed = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let ops = share(total, threads, i);
                let start = &start;
                s.spawn(move || {
                    let (mut draw, mut tally) = (Draw::for_thread(i), Tally::default());
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    for _ in 0..ops {
                        operate(lock, &mut draw, writes, &mut tally);
                    }
                    tally.cost = meter.stop();
                    tally
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        for (worker, slot) in workers.into_iter().zip(&mut tallies) {
            *slot = worker.join().unwrap();
        }
        t0.elapsed()
    });
    check(lock.read_with(|data| data[0]) - before, &tallies);
    assert_eq!(tallies.iter().map(Tally::ops).sum::<u64>(), total, "operations lost or repeated");
    (elapsed, tallies.iter().fold(Cost::ZERO, |sum, t| sum + t.cost))
}

/// One peer at `threads` threads: criterion's figures, then the id's `counts` line (over all of
/// its samples, warm-up included).
fn contended_one<L: Rw<Data> + Sync>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    (family, name): (&str, &str),
    lock: L,
    threads: usize,
    writes: u32,
) {
    let (mut cost, mut ops) = (Cost::ZERO, 0);
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            let (elapsed, sample) = run_contended(&lock, t, iters, writes);
            cost = cost + sample;
            ops += iters;
            elapsed
        })
    });
    counts::print_line(&format!("{family}/{name}/{threads}"), cost, ops);
}

/// One contended family: every peer at 2, 4, 8 and 16 threads, `writes` in a hundred operations writes.
fn contended_family(c: &mut Criterion, name: &str, writes: u32) {
    let mut group = c.benchmark_group(name);
    // One element = one read or write by any thread; `iters` is the total over threads.
    group.throughput(Throughput::Elements(1));

    for t in THREADS {
        let g = &mut group;
        contended_one(g, (name, "turnstile_reader_pref"), ReaderPrefRwLock::new([0; 4]), t, writes);
        contended_one(g, (name, "turnstile_writer_pref"), WriterPrefRwLock::new([0; 4]), t, writes);
        contended_one(g, (name, "turnstile_fair"), FairRwLock::new([0; 4]), t, writes);
        contended_one(g, (name, "std"), std::sync::RwLock::new([0; 4]), t, writes);
        contended_one(g, (name, "parking_lot"), parking_lot::RwLock::new([0; 4]), t, writes);
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        contended_one(g, (name, "parking_lot_again"), parking_lot::RwLock::new([0; 4]), t, writes);
    }

    group.finish();
}

/// 95% reads: readers sharing the lock, with a writer now and then.
fn read_heavy(c: &mut Criterion) {
    contended_family(c, "read_heavy", READ_HEAVY_WRITES);
}

/// 50% reads: the lock changing hands between readers and writers all the time.
fn mixed(c: &mut Criterion) {
    contended_family(c, "mixed", MIXED_WRITES);
}

/// The fairness readout's windows: how many, and how long. `None` when it should not run.
///
/// Criterion keeps its filter to itself, so this reads the command line the way criterion 0.5
/// does, enough to find `--list`, `--ignored`, `--test` and the filter. A filter runs the
/// readout if it is a substring of `fairness/mixed/4` or mentions `fairness`.
fn fairness_plan() -> Option<(u32, Duration)> {
    // Criterion's options that take a value (as a separate argument unless written `--opt=v`).
    const WITH_VALUE: &[&str] = &[
        "-c",
        "--color",
        "--colour",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--format",
        "--profile-time",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
    ];

    let (mut filter, mut bench, mut test) = (None, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" | "--ignored" => return None,
            "--bench" => bench = true,
            "--test" => test = true,
            a if WITH_VALUE.contains(&a) => {
                args.next();
            }
            a if a.starts_with('-') => {}
            _ => filter = filter.or(Some(arg)),
        }
    }
    if let Some(filter) = filter {
        if !"fairness/mixed/4".contains(filter.as_str()) && !filter.contains("fairness") {
            return None;
        }
    }
    // As criterion: without `--bench` (`cargo test --benches`) it is a test run too.
    if test || !bench {
        Some((1, FAIRNESS_TEST_WINDOW))
    } else {
        Some((FAIRNESS_RUNS, FAIRNESS_WINDOW))
    }
}

/// One window: `FAIRNESS_THREADS` threads doing the `mixed` workload on `lock` until `window`
/// has passed. What each thread did.
fn fairness_window<L: Rw<Data> + Sync>(lock: &L, window: Duration) -> Vec<Tally> {
    let before = lock.read_with(|data| data[0]);
    let stop = CachePadded::new(AtomicBool::new(false));
    let start = Barrier::new(FAIRNESS_THREADS + 1);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..FAIRNESS_THREADS)
            .map(|i| {
                let (start, stop) = (&start, &stop);
                s.spawn(move || {
                    let (mut draw, mut tally) = (Draw::for_thread(i), Tally::default());
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    while !stop.load(Relaxed) {
                        operate(lock, &mut draw, MIXED_WRITES, &mut tally);
                    }
                    tally.cost = meter.stop();
                    tally
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(window);
        stop.store(true, Relaxed);
        workers.into_iter().map(|worker| worker.join().unwrap()).collect()
    });
    check(lock.read_with(|data| data[0]) - before, &tallies);
    tallies
}

/// The fairness line of one lock.
fn fairness_one<L: Rw<Data> + Sync>(name: &str, lock: L, (runs, window): (u32, Duration)) {
    let (mut fewest, mut most, mut reads, mut writes, mut cost) = (0, 0, 0, 0, Cost::ZERO);
    let mut worst = f64::INFINITY;
    for _ in 0..runs {
        let tallies = fairness_window(&lock, window);
        let least = tallies.iter().map(Tally::ops).min().unwrap_or(0);
        let greatest = tallies.iter().map(Tally::ops).max().unwrap_or(0);
        worst = worst.min(least as f64 / greatest.max(1) as f64);
        fewest += least;
        most += greatest;
        reads += tallies.iter().map(|t| t.reads).sum::<u64>();
        writes += tallies.iter().map(|t| t.writes).sum::<u64>();
        cost = tallies.iter().fold(cost, |sum, t| sum + t.cost);
    }
    let ops = reads + writes;
    let ratio = fewest as f64 / most.max(1) as f64;
    println!(
        "fairness rwlock/mixed/{name}/{FAIRNESS_THREADS}: min/max = {ratio:.2} (worst run {worst:.2}, \
         {runs} runs of {window:?}) reads={reads} writes={writes} futex/op = {} cs/op = {}",
        counts::per_op(cost.futex, ops),
        counts::per_op(cost.switches(), ops),
    );
}

/// The fairness readout: printed, not measured by criterion.
fn fairness(_: &mut Criterion) {
    let Some(plan) = fairness_plan() else { return };
    fairness_one("turnstile_reader_pref", ReaderPrefRwLock::new([0; 4]), plan);
    fairness_one("turnstile_writer_pref", WriterPrefRwLock::new([0; 4]), plan);
    fairness_one("turnstile_fair", FairRwLock::new([0; 4]), plan);
    fairness_one("std", std::sync::RwLock::new([0; 4]), plan);
    fairness_one("parking_lot", parking_lot::RwLock::new([0; 4]), plan);
    // CONTROL: the `parking_lot` line again, on a fresh lock.
    fairness_one("parking_lot_again", parking_lot::RwLock::new([0; 4]), plan);
}

/// The settings, given to `Criterion` itself so that the command line can override them. No
/// plots: plotting costs more than the measuring (see the module docs).
fn settings() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .nresamples(RESAMPLES)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = settings();
    targets = uncontended_read, uncontended_write, read_heavy, mixed, fairness
}

/// `criterion_main!`, after a header: the command, how long it takes, whether futex calls can be
/// counted here.
fn main() {
    println!(
        "bench rwlock: cargo bench --bench rwlock ({EXPECTED}; {SAMPLES} samples, {WARM_UP:?} warm-up + \
         {MEASUREMENT:?} per benchmark)"
    );
    let countable = counts::futex_countable();
    println!("bench rwlock: futex calls counted: {}", if countable { "yes" } else { "no (n/a)" });
    benches();
    Criterion::default().configure_from_args().final_summary();
}
