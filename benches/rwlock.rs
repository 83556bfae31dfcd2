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
//! * The contended families, `<family>/<peer>/<threads>` at 2, 4, 8 and 16 threads: one lock over
//!   a `[u64; 4]`, each thread doing a fixed share of the sample's operations. Whether a thread's
//!   next operation is a write is drawn from a per-thread xorshift (deterministic: the same
//!   sequence every run, different for each thread). A read sums the four words; a write adds 1
//!   to each. After every operation the thread does some work outside the lock, so that readers
//!   can overlap and the lock changes hands. Time per element is wall time divided by total
//!   operations (all threads together). The families differ in the share of writes and in the
//!   work outside:
//!
//!   | family             | writes | outside the lock, after every operation                     |
//!   |--------------------|-------:|-------------------------------------------------------------|
//!   | `read_heavy`       |     5% | `OUTSIDE_SPINS` `spin_loop` hints, about 50 ns               |
//!   | `mixed`            |    50% | the same                                                    |
//!   | `write_heavy`      |    90% | the same                                                    |
//!   | `read_heavy_short` |     5% | about 10 ns of arithmetic (`common::locks::arithmetic`)     |
//!   | `mixed_short`      |    50% | the same                                                    |
//!
//!   `read_heavy` measures how well readers share (a lock that serialises readers loses it);
//!   `mixed` the hand-over between readers and writers, where the policies differ; `write_heavy`
//!   the lock used mostly as a mutex, with a reader now and then. In the `_short` families a
//!   thread is back for the lock almost at once, so readers' holds overlap more and the lock is
//!   free less often: a policy that lets new readers in past a waiting writer can keep that writer
//!   out for long, and a lock that hands over to a sleeping waiter rather than letting the
//!   releaser barge back in pays a wake-up per hand-over. `parking_lot_again` is the same
//!   benchmark as `parking_lot`, run a second time: the gap between the two is the run-to-run
//!   noise of the machine, and differences between locks smaller than that gap mean nothing.
//!
//! **Kernel counts.** After criterion's figures for each contended id, a line
//! `counts <family>/<peer>/<threads>: futex/op = …, cs/op = … (vcsw/op = …, ivcsw/op = …; N ops)`:
//! futex system calls and context switches per operation, counted by every thread for itself
//! from leaving the starting barrier to its last operation, summed over all of the id's samples,
//! warm-up included (`common::counts`; `n/a` where the counter cannot be opened). The fairness
//! lines end with the same two figures for their windows.
//!
//! **Checks.** A contended run, and every window of the readouts below, fails if the number of
//! writes the lock's data counted differs from the writes the threads made (a lost update: two
//! writers were let in together), or if any read saw the four words unequal (a torn read: a
//! reader was let in beside a writer). The check is one comparison per read, the same for every
//! peer.
//!
//! **Waits.** Criterion measures throughput; how long single operations wait is measured after
//! the criterion groups, in fixed windows that are not criterion samples, so that the clock
//! reads stay out of the throughput figures. For each family at `WAIT_THREADS` (8) threads:
//! `WAIT_RUNS` (3) rounds, and in each round every peer in turn runs the family's workload on a
//! fresh lock for `WAIT_WINDOW` (100 ms), so that drift in the machine hits every peer alike.
//! A wait is the time from calling `read()` or `write()` to holding the guard. Timing every
//! operation would put two clock reads (about 25 ns each on the 2-core KVM guest) into loops
//! whose operations take 10 to 50 ns, so each thread times one operation in
//! `WAIT_SAMPLE_EVERY` (64): its 64th, 128th, and so on. `Instant::now()` just before the call
//! and again as the first thing under the guard; the difference, in nanoseconds, goes into a
//! `Vec` of the thread's own, allocated and written once before the window so that the loop
//! neither allocates nor page-faults. The other 63 operations in 64 are untimed, as in the
//! criterion loop.
//! After the last round the `Vec`s of all threads and rounds are merged, and one line per peer
//! and family goes to stdout:
//! `waits rwlock/mixed/turnstile_fair/8: max = 123.4 us, p99.9 = 45.6 us; writes max = 150.2 us,
//! p99.9 = 60.1 us (18432 sampled of 1179648 ops, 1 in 64; 3 windows of 100ms, ns/op = 25.4)`.
//! The first pair is over every sampled wait, the second over the sampled writes alone: what
//! writers pay under a policy that lets readers pass them.
//!
//! * `max` is the longest sampled wait. It is the maximum of a sample, not of every operation:
//!   a lone stall is caught one time in 64, a stall that recurs (a writer kept out behind a
//!   stream of readers, every time it asks) is caught. No wait outlasts its window by much: when
//!   the window ends the other threads stop and a thread still waiting gets the lock, so a `max`
//!   near 100 ms is a thread that waited for the whole window.
//! * `p99.9` is the nearest-rank 99.9th percentile of the sampled waits: one sampled wait in a
//!   thousand was longer. With tens of thousands sampled it rests on tens of waits; with a few
//!   thousand (a slow lock) on a few, and it is as noisy as `max`.
//! * A wait includes one clock read, so no figure is below about 25 ns there. With 8 threads on
//!   2 cores it also includes time the scheduler took: the waiter preempted while it waited, or
//!   the holder preempted while it held the lock. A time slice is milliseconds, so a `max` of a
//!   few milliseconds can be the scheduler's, whatever the lock; `p99.9` is steadier. A lock whose
//!   waiters sleep rather than spin leaves the cores to the holder: that is part of this regime.
//!   The second clock read lengthens the timed operation's hold by one clock read.
//! * `ns/op` is the windows' wall time (barrier to last join) over all their operations: the
//!   throughput in the same windows, to read beside the waits. Compared with criterion's figure
//!   for the same id it shows what the sampling and the fixed window changed.
//!
//! It takes about 10 seconds (5 families x 6 peers x 3 windows of 100 ms), runs when no filter is
//! given or the filter is a substring of `waits/<family>/8` or mentions `waits` (`waits`,
//! `mixed`, `short`), and for one 10 ms window under `--test`.
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
//! Run with `cargo bench --bench rwlock`: 132 benchmarks of 1 s each (`WARM_UP` + `MEASUREMENT`,
//! 10 samples, 10,000 resamples), then the wait lines and the fairness lines: about 3 minutes on
//! a 2-core machine, three runs in about ten (the first line of the output says so). The 60
//! benchmarks and the fairness lines of the two families before took 72 to 77 s a run on the
//! 2-core AMD EPYC, at most 1.2 s a benchmark, so the 132 take about 160 s and the readouts add
//! about 15. Plots are off:
//! criterion's plotters backend spends 3 to 5 s of CPU per benchmark drawing them (measured on
//! the 2-core AMD EPYC), which would double the run; `-- --plotting-backend plotters` (or `gnuplot`) turns
//! them back on. Estimates are still saved in `target/criterion`. For tables, run it three times
//! and take medians (criterion prints to stdout, the waits and fairness lines too):
//!
//! ```sh
//! for i in 1 2 3; do cargo bench --bench rwlock > r$i.txt 2>&1; done
//! python3 benches/medians.py r1.txt r2.txt r3.txt       # or, tables with the counts and waits:
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
use common::locks::{arithmetic, Outside};
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
/// What the header says one run takes with the settings above (see the module docs).
const EXPECTED: &str = "about 3 minutes on a 2-core machine";
/// 1x to 8x the cores of a 2-core machine.
const THREADS: [usize; 4] = [2, 4, 8, 16];

/// `spin_loop` hints each contended thread runs *outside* the lock after every operation in the
/// families without `_short`: a little non-critical work (one took about 24 ns on the 2-core AMD
/// EPYC of `benches/mutex.rs`), so that readers overlap and a thread does not re-take the lock
/// back to back. The same for every peer, and part of the measured per-op time.
const OUTSIDE_SPINS: u32 = 2;

/// A contended workload: how many operations in a hundred are writes, and the work each thread
/// does outside the lock after every operation.
#[derive(Clone, Copy)]
struct Workload {
    writes: u32,
    outside: Outside,
}

impl Workload {
    /// The work outside the lock. `word` is the calling thread's own.
    // The match is on a value fixed for the whole loop: a perfectly predicted branch.
    #[inline]
    fn outside(self, word: &mut u64) {
        match self.outside {
            Outside::Pauses(n) => pause(n),
            Outside::Arithmetic => arithmetic(word),
        }
    }
}

/// 95% reads, about 50 ns outside: readers sharing the lock, with a writer now and then.
const READ_HEAVY: Workload = Workload { writes: 5, outside: Outside::Pauses(OUTSIDE_SPINS) };
/// 50% reads, about 50 ns outside: the lock changing hands between readers and writers.
const MIXED: Workload = Workload { writes: 50, outside: Outside::Pauses(OUTSIDE_SPINS) };
/// 10% reads, about 50 ns outside: a mutex, mostly, with a reader now and then.
const WRITE_HEAVY: Workload = Workload { writes: 90, outside: Outside::Pauses(OUTSIDE_SPINS) };
/// 95% reads, about 10 ns of arithmetic outside (a `spin_loop` hint alone is more than twice
/// that): a thread is back for the lock almost at once.
const READ_HEAVY_SHORT: Workload = Workload { writes: 5, outside: Outside::Arithmetic };
/// 50% reads, about 10 ns outside.
const MIXED_SHORT: Workload = Workload { writes: 50, outside: Outside::Arithmetic };

/// The contended families, in the order they run: criterion group, workload.
const FAMILIES: [(&str, Workload); 5] = [
    ("read_heavy", READ_HEAVY),
    ("mixed", MIXED),
    ("read_heavy_short", READ_HEAVY_SHORT),
    ("mixed_short", MIXED_SHORT),
    ("write_heavy", WRITE_HEAVY),
];

/// The waits readout: threads, rounds (each runs every peer once), the length of a window, and
/// one timed operation in how many of each thread's.
const WAIT_THREADS: usize = 8;
const WAIT_RUNS: u32 = 3;
const WAIT_WINDOW: Duration = Duration::from_millis(100);
const WAIT_SAMPLE_EVERY: u32 = 64;
/// Sampled waits each thread has room for before its window (512 KiB). In 100 ms windows on the
/// 2-core KVM guest the 8 threads sampled up to about 18,000 each on average (`read_heavy_short`),
/// so this covers a thread taking over three times its share; past it the `Vec` grows, between
/// operations, outside the lock.
const WAIT_ROOM: usize = 1 << 16;

/// The fairness readout: threads, windows per lock, and the length of a window.
const FAIRNESS_THREADS: usize = 4;
const FAIRNESS_RUNS: u32 = 3;
const FAIRNESS_WINDOW: Duration = Duration::from_millis(150);
/// Under `--test` (or `cargo test --benches`): one short window per readout, to see that it works.
const TEST_WINDOW: Duration = Duration::from_millis(10);

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

/// One thread of a contended loop: its draw, its tally, and the word its work outside churns.
struct Worker {
    draw: Draw,
    tally: Tally,
    /// The thread's own, so that the work outside touches no shared memory.
    outside_word: u64,
}

impl Worker {
    /// Thread `i`'s worker.
    fn new(i: usize) -> Self {
        Worker { draw: Draw::for_thread(i), tally: Tally::default(), outside_word: i as u64 + 1 }
    }

    /// One operation of the contended workloads, then the work outside the lock.
    ///
    /// With `TIMED`, also how long it waited: from just before `read()`/`write()` to the first
    /// thing done under the guard, one clock read apiece. Without, `Duration::ZERO`, and both
    /// reads are `None` known at compile time: no clock in the loop.
    #[inline]
    /// One operation; returns how long it waited for the lock (zero unless `TIMED`) and whether
    /// it wrote.
    fn operate<const TIMED: bool, L: Rw<Data>>(&mut self, lock: &L, workload: Workload) -> (Duration, bool) {
        let clock = || TIMED.then(Instant::now);
        let write = self.draw.is_write(workload.writes);
        let asked = clock();
        let held = if write {
            let held = lock.write_with(|data| {
                let held = clock();
                data.iter_mut().for_each(|word| *word += 1);
                held
            });
            self.tally.writes += 1;
            held
        } else {
            let (sum, first, held) = lock.read_with(|data| {
                let held = clock();
                (data.iter().sum::<u64>(), data[0], held)
            });
            black_box(sum);
            self.tally.torn += u64::from(sum != 4 * first);
            self.tally.reads += 1;
            held
        };
        workload.outside(&mut self.outside_word);
        (asked.zip(held).map_or(Duration::ZERO, |(asked, held)| held - asked), write)
    }
}

/// Fails the run if the lock let two writers in together or a reader in beside a writer.
fn check(writes_seen: u64, tallies: &[Tally]) {
    let torn: u64 = tallies.iter().map(|t| t.torn).sum();
    assert_eq!(torn, 0, "torn reads: the lock let a reader in beside a writer");
    let writes: u64 = tallies.iter().map(|t| t.writes).sum();
    assert_eq!(writes_seen, writes, "lost updates: the lock let two writers in");
}

/// Wall time for `threads` threads to do `total` operations of `workload` on `lock` between them.
///
/// Threads are spawned per sample and meet at a barrier; the span runs from the first thread
/// leaving it to the last thread finishing, each reading the clock itself (an earlier version
/// read it on the main thread after the barrier, which with 8 or 16 threads on 2 cores often ran
/// only after the workers had done much of their work, so the locks that sleep most looked
/// fastest). Spawning is outside the timed span. Also what the threads' loops cost the kernel,
/// each thread counting its own.
fn run_contended<L: Rw<Data> + Sync>(
    lock: &L,
    threads: usize,
    total: u64,
    workload: Workload,
) -> (Duration, Cost) {
    let before = lock.read_with(|data| data[0]);
    let start = Barrier::new(threads + 1);
    let mut tallies = vec![Tally::default(); threads];
    let elapsed = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let ops = share(total, threads, i);
                let start = &start;
                s.spawn(move || {
                    let mut worker = Worker::new(i);
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    let began = Instant::now();
                    for _ in 0..ops {
                        worker.operate::<false, _>(lock, workload);
                    }
                    let ended = Instant::now();
                    worker.tally.cost = meter.stop();
                    (worker.tally, began, ended)
                })
            })
            .collect();
        start.wait();
        // The span from the first thread's start to the last thread's end, each read by the
        // worker itself: with more threads than cores this thread may not run again until the
        // workers have done much of their work, and a clock read here would miss it.
        let (mut first, mut last) = (None::<Instant>, None::<Instant>);
        for (worker, slot) in workers.into_iter().zip(&mut tallies) {
            let (tally, began, ended) = worker.join().unwrap();
            *slot = tally;
            first = Some(first.map_or(began, |f| f.min(began)));
            last = Some(last.map_or(ended, |l| l.max(ended)));
        }
        last.zip(first).map_or(Duration::ZERO, |(last, first)| last - first)
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
    workload: Workload,
) {
    let (mut cost, mut ops) = (Cost::ZERO, 0);
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            let (elapsed, sample) = run_contended(&lock, t, iters, workload);
            cost = cost + sample;
            ops += iters;
            elapsed
        })
    });
    counts::print_line(&format!("{family}/{name}/{threads}"), cost, ops);
}

/// One contended family: every peer at 2, 4, 8 and 16 threads.
fn contended_family(c: &mut Criterion, name: &str, workload: Workload) {
    let mut group = c.benchmark_group(name);
    // One element = one read or write by any thread; `iters` is the total over threads.
    group.throughput(Throughput::Elements(1));

    for t in THREADS {
        let (g, w) = (&mut group, workload);
        contended_one(g, (name, "turnstile_reader_pref"), ReaderPrefRwLock::new([0; 4]), t, w);
        contended_one(g, (name, "turnstile_writer_pref"), WriterPrefRwLock::new([0; 4]), t, w);
        contended_one(g, (name, "turnstile_fair"), FairRwLock::new([0; 4]), t, w);
        contended_one(g, (name, "std"), std::sync::RwLock::new([0; 4]), t, w);
        contended_one(g, (name, "parking_lot"), parking_lot::RwLock::new([0; 4]), t, w);
        // CONTROL: exactly the `parking_lot` benchmark again, on a fresh lock.
        contended_one(g, (name, "parking_lot_again"), parking_lot::RwLock::new([0; 4]), t, w);
    }

    group.finish();
}

/// Every contended family, in `FAMILIES` order.
fn contended(c: &mut Criterion) {
    for (name, workload) in FAMILIES {
        contended_family(c, name, workload);
    }
}

/// What the command line asks of the readouts that criterion does not run (waits, fairness).
///
/// Criterion keeps its filter to itself, so this reads the command line the way criterion 0.5
/// does, enough to find `--list`, `--ignored`, `--test` and the filter.
struct Readouts {
    /// `--list` or `--ignored`: no readout runs.
    skip: bool,
    /// `--test`, or no `--bench` (`cargo test --benches`): one short window each.
    test: bool,
    filter: Option<String>,
}

impl Readouts {
    fn from_args() -> Self {
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

        let mut readouts = Readouts { skip: false, test: false, filter: None };
        let mut bench = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" | "--ignored" => readouts.skip = true,
                "--bench" => bench = true,
                "--test" => readouts.test = true,
                a if WITH_VALUE.contains(&a) => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                _ => readouts.filter = readouts.filter.or(Some(arg)),
            }
        }
        // As criterion: without `--bench` it is a test run too.
        readouts.test |= !bench;
        readouts
    }

    /// The windows of the readout `id` (`fairness/mixed/4`): `runs` of `window`, one of
    /// `TEST_WINDOW` in a test run, or `None` when it should not run. A filter runs it if the
    /// filter is a substring of `id` or mentions the readout's name (`id` up to its first `/`).
    fn plan(&self, id: &str, runs: u32, window: Duration) -> Option<(u32, Duration)> {
        if self.skip {
            return None;
        }
        if let Some(filter) = &self.filter {
            let name = id.split('/').next().unwrap_or(id);
            if !id.contains(filter.as_str()) && !filter.contains(name) {
                return None;
            }
        }
        Some(if self.test { (1, TEST_WINDOW) } else { (runs, window) })
    }
}

/// What one fixed window measured.
struct Window {
    /// What each thread did.
    tallies: Vec<Tally>,
    /// The sampled waits of all threads, in nanoseconds (empty unless timed).
    waits: Vec<u64>,
    /// From the first thread's start to the last thread's end.
    elapsed: Duration,
}

impl Window {
    fn ops(&self) -> u64 {
        self.tallies.iter().map(Tally::ops).sum()
    }
}

/// A fresh `Vec` with room for `WAIT_ROOM` waits, its memory written once so that the measured
/// loop does not take a page fault the first time it pushes into each page.
fn wait_buffer() -> Vec<u64> {
    let mut waits = vec![u64::MAX; WAIT_ROOM];
    waits.clear();
    waits
}

/// One window: `threads` threads doing `workload` on `lock` until `length` has passed. With
/// `TIMED`, each thread also times one operation in `WAIT_SAMPLE_EVERY` (see the module docs).
fn window<const TIMED: bool, L: Rw<Data> + Sync>(
    lock: &L,
    threads: usize,
    workload: Workload,
    length: Duration,
) -> Window {
    let before = lock.read_with(|data| data[0]);
    let stop = CachePadded::new(AtomicBool::new(false));
    let start = Barrier::new(threads + 1);
    let (results, elapsed): (Vec<(Tally, Vec<u64>)>, _) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let (start, stop) = (&start, &stop);
                s.spawn(move || {
                    let mut worker = Worker::new(i);
                    let mut waits = if TIMED { wait_buffer() } else { Vec::new() };
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    let began = Instant::now();
                    // Relaxed: the flag carries no data; the tallies and waits reach the main
                    // thread through `join`, which synchronizes on its own.
                    'window: loop {
                        for _ in 1..WAIT_SAMPLE_EVERY {
                            if stop.load(Relaxed) {
                                break 'window;
                            }
                            worker.operate::<false, _>(lock, workload);
                        }
                        if stop.load(Relaxed) {
                            break;
                        }
                        let (waited, wrote) = worker.operate::<TIMED, _>(lock, workload);
                        if TIMED {
                            // The kind in the low bit: a write is odd.
                            waits.push((waited.as_nanos() as u64) << 1 | u64::from(wrote));
                        }
                    }
                    let ended = Instant::now();
                    worker.tally.cost = meter.stop();
                    ((worker.tally, waits), (began, ended))
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(length);
        // Relaxed: see the loads above.
        stop.store(true, Relaxed);
        let results: Vec<_> = workers.into_iter().map(|worker| worker.join().unwrap()).collect();
        // From the first worker's start to the last one's end, as each read it (see
        // `run_contended`).
        let first = results.iter().map(|(_, (began, _))| *began).min();
        let last = results.iter().map(|(_, (_, ended))| *ended).max();
        let elapsed = last.zip(first).map_or(Duration::ZERO, |(last, first)| last - first);
        (results.into_iter().map(|(result, _)| result).collect::<Vec<_>>(), elapsed)
    });
    let (tallies, waits): (Vec<Tally>, Vec<Vec<u64>>) = results.into_iter().unzip();
    check(lock.read_with(|data| data[0]) - before, &tallies);
    Window { tallies, waits: waits.concat(), elapsed }
}

/// One timed window of `threads` threads doing a workload for a time, on a fresh lock.
type TimedWindow = fn(usize, Workload, Duration) -> Window;

/// The peers of the waits readout, each on a fresh lock every window.
const WAIT_PEERS: [(&str, TimedWindow); 6] = [
    ("turnstile_reader_pref", |t, w, d| window::<true, _>(&ReaderPrefRwLock::new([0; 4]), t, w, d)),
    ("turnstile_writer_pref", |t, w, d| window::<true, _>(&WriterPrefRwLock::new([0; 4]), t, w, d)),
    ("turnstile_fair", |t, w, d| window::<true, _>(&FairRwLock::new([0; 4]), t, w, d)),
    ("std", |t, w, d| window::<true, _>(&std::sync::RwLock::new([0; 4]), t, w, d)),
    ("parking_lot", |t, w, d| window::<true, _>(&parking_lot::RwLock::new([0; 4]), t, w, d)),
    // CONTROL: exactly `parking_lot` again, on a fresh lock.
    ("parking_lot_again", |t, w, d| window::<true, _>(&parking_lot::RwLock::new([0; 4]), t, w, d)),
];

/// The longest of `waits` and their 99.9th percentile by nearest rank (the smallest wait that
/// at least 99.9% of them do not exceed), or `None` for no waits. Sorts `waits`.
fn tail(waits: &mut [u64]) -> Option<(u64, u64)> {
    waits.sort_unstable();
    let max = *waits.last()?;
    // ceil(0.999 n), at least 1 for n >= 1: a 1-based rank.
    let rank = (waits.len() * 999 + 999) / 1000;
    Some((max, waits[rank - 1]))
}

/// Nanoseconds as microseconds with three significant figures or more (`123.4`, `45.6`,
/// `3.21`, `0.0512`), or `n/a`.
fn micros(ns: Option<u64>) -> String {
    let Some(ns) = ns else { return "n/a".into() };
    let us = ns as f64 / 1000.0;
    let decimals = if us > 0.0 { (2 - us.log10().floor() as i32).max(1) as usize } else { 1 };
    format!("{us:.decimals$} us")
}

/// One peer's windows in the waits readout, taken together.
#[derive(Clone, Default)]
struct Merged {
    waits: Vec<u64>,
    ops: u64,
    elapsed: Duration,
}

/// The waits readout: printed, not measured by criterion. For each family, rounds of one window
/// per peer, then a line per peer.
fn waits(_: &mut Criterion) {
    let readouts = Readouts::from_args();
    for (family, workload) in FAMILIES {
        let id = format!("waits/{family}/{WAIT_THREADS}");
        let Some((runs, length)) = readouts.plan(&id, WAIT_RUNS, WAIT_WINDOW) else { continue };
        let mut merged = vec![Merged::default(); WAIT_PEERS.len()];
        for _ in 0..runs {
            for ((_, run), peer) in WAIT_PEERS.iter().zip(&mut merged) {
                let window = run(WAIT_THREADS, workload, length);
                peer.ops += window.ops();
                peer.elapsed += window.elapsed;
                peer.waits.extend_from_slice(&window.waits);
            }
        }
        for ((name, _), peer) in WAIT_PEERS.iter().zip(merged) {
            let mut all: Vec<u64> = peer.waits.iter().map(|w| w >> 1).collect();
            let mut writes: Vec<u64> = peer.waits.iter().filter(|w| *w & 1 == 1).map(|w| w >> 1).collect();
            let (tail, write_tail) = (tail(&mut all), tail(&mut writes));
            let ns_per_op = peer.elapsed.as_nanos() as f64 / peer.ops.max(1) as f64;
            println!(
                "waits rwlock/{family}/{name}/{WAIT_THREADS}: max = {}, p99.9 = {}; writes max = {}, p99.9 = {} \
                 ({} sampled of {} ops, 1 in {WAIT_SAMPLE_EVERY}; {runs} window{} of {length:?}, ns/op = {ns_per_op:.1})",
                micros(tail.map(|(max, _)| max)),
                micros(tail.map(|(_, p999)| p999)),
                micros(write_tail.map(|(max, _)| max)),
                micros(write_tail.map(|(_, p999)| p999)),
                peer.waits.len(),
                peer.ops,
                if runs == 1 { "" } else { "s" },
            );
        }
    }
}

/// The fairness line of one lock.
fn fairness_one<L: Rw<Data> + Sync>(name: &str, lock: L, (runs, length): (u32, Duration)) {
    let (mut fewest, mut most, mut reads, mut writes, mut cost) = (0, 0, 0, 0, Cost::ZERO);
    let mut worst = f64::INFINITY;
    for _ in 0..runs {
        let tallies = window::<false, _>(&lock, FAIRNESS_THREADS, MIXED, length).tallies;
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
         {runs} runs of {length:?}) reads={reads} writes={writes} futex/op = {} cs/op = {}",
        counts::per_op(cost.futex, ops),
        counts::per_op(cost.switches(), ops),
    );
}

/// The fairness readout: printed, not measured by criterion.
fn fairness(_: &mut Criterion) {
    let id = format!("fairness/mixed/{FAIRNESS_THREADS}");
    let Some(plan) = Readouts::from_args().plan(&id, FAIRNESS_RUNS, FAIRNESS_WINDOW) else { return };
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
    targets = uncontended_read, uncontended_write, contended, waits, fairness
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
