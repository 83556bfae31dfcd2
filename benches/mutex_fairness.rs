//! Fairness, tail latency of acquiring, and context switches of turnstile's locks against `std`
//! and `parking_lot`, under the contended workloads of `mutex.rs`. Not a criterion benchmark:
//! fixed-time runs, and a plain `fn main`.
//!
//! For each workload, thread count (2, 4, 8, 16) and lock, the threads are released together at
//! a barrier, run the workload's loop for a fixed window, then stop at a flag. Each thread counts
//! its acquisitions and times every one of them: `Instant::now()` before `lock()` and again as
//! soon as it returns, into a histogram of its own (16 sub-buckets per power of two: each bucket
//! is at most 6.25% wide, and a quantile is reported as its bucket's middle). Each thread also
//! counts, for itself, its futex system calls and context switches from leaving the barrier to
//! its last operation (`common::counts`). Per configuration, two lines:
//!
//! ```text
//! fairness short_outside/turnstile_mutex/8: min/max = 0.62 (worst run 0.41)
//! latency short_outside/turnstile_mutex/8: p50 = 45 ns, p99 = 1200 ns, p999 = 35000 ns, ns/op = 8.1, vcsw/op = 0.0012, ivcsw/op = 0.0004, futex/op = 0.0020, cs/op = 0.0016
//! ```
//!
//! * `min/max`: the fewest acquisitions any thread made over the most any thread made, the median
//!   over rounds; 1.00 is equal shares, 0 a starved thread. `worst run` is the lowest round. With
//!   more threads than cores a thread can also lose its share to the scheduler, not to the lock;
//!   read these against the other locks at the same thread count.
//! * `p50`, `p99`, `p999`: quantiles of the time from calling `lock()` to holding the lock, over
//!   all threads' acquisitions. The tail shows waiters that were overtaken or slept.
//! * `ns/op`: the window (from the first thread starting to the last one stopping) over the
//!   operations of all threads together: throughput.
//! * `vcsw/op`, `ivcsw/op`: voluntary context switches (a thread blocked: slept on a futex, or
//!   yielded) and involuntary ones (preempted) per operation, summed over the locking threads'
//!   own windows (`getrusage(RUSAGE_THREAD)`): the starting barrier, the main thread's sleep and
//!   the joins are not in them. `cs/op` is the two together.
//! * `futex/op`: `futex` system calls per operation, all threads' windows together (a perf
//!   counter on `syscalls:sys_enter_futex` per thread); `n/a` where it cannot be opened (no
//!   tracefs, or not allowed: run as root or lower `kernel.perf_event_paranoid`).
//!
//! Every latency figure is a median over rounds. Each configuration runs `FAIRNESS_ROUNDS` rounds,
//! and each round runs every lock once, in turn, so that drift in the machine (another process,
//! frequency, temperature) hits all locks alike. `parking_lot_again` is `parking_lot` a second
//! time, on a fresh lock: the control, whose gap to `parking_lot` is the noise.
//!
//! **Why here and not in `mutex.rs`.** Timing each acquisition takes two clock reads per
//! operation (~25 ns each on the 2-core KVM guest this was written on, where a whole contended
//! operation takes 10 to 25 ns), one of them inside the critical section. That changes the regime being
//! measured: critical sections get longer and the time outside the lock too, so fewer waiters
//! barge or spin their way in. The criterion file measures throughput with none of this in the
//! loop; this file trades that for the distribution, and its `ns/op` is for comparing locks
//! with each other here, not with `mutex.rs`.
//!
//! Run with `cargo bench --bench mutex_fairness` (about 30 seconds with the defaults: 200 ms
//! windows, 3 rounds, 2 workloads x 4 thread counts x 5 locks; the first line says so). `FAIRNESS_MS` sets the window in milliseconds and `FAIRNESS_ROUNDS` the
//! rounds, e.g. `FAIRNESS_MS=20 FAIRNESS_ROUNDS=1` for a smoke run; arguments after `--` keep only
//! the configurations whose id contains one of them. Without `--bench` (as `cargo test
//! --benches` runs it) every configuration runs once for 2 ms, as a check that it works.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Barrier;
use std::time::{Duration, Instant};

mod common;
use common::counts::{self, Cost, Meter};
use common::locks::{arithmetic, Counter, Work, ARITHMETIC_ROUNDS, LONG_CS, SHORT_OUTSIDE, THREADS};

const DEFAULT_WINDOW_MS: u64 = 200;
const DEFAULT_ROUNDS: usize = 3;

/// The workloads, as in `mutex.rs`: `short_outside` has nothing but the increment inside and ~10
/// ns of arithmetic outside; `contended_long_cs` has `LONG_CS_SPINS` pauses inside, 1 outside.
const WORKLOADS: [(&str, Work); 2] = [("short_outside", SHORT_OUTSIDE), ("contended_long_cs", LONG_CS)];

/// One round of one configuration on a fresh lock: threads, workload, window.
type Runner = fn(usize, Work, Duration) -> Round;

/// The locks, each run on a fresh lock every round.
const LOCKS: [(&str, Runner); 7] = [
    ("turnstile_mutex", |t, w, d| run(&turnstile::Mutex::new(0u64), t, w, d)),
    // The lock whose point is fairness, against parking_lot's of the same kind.
    ("turnstile_fair_mutex", |t, w, d| run(&turnstile::FairMutex::new(0u64), t, w, d)),
    ("parking_lot_fair_mutex", |t, w, d| run(&parking_lot::FairMutex::new(0u64), t, w, d)),
    ("turnstile_spinlock", |t, w, d| run(&turnstile::SpinLock::new(0u64), t, w, d)),
    ("std_mutex", |t, w, d| run(&std::sync::Mutex::new(0u64), t, w, d)),
    ("parking_lot", |t, w, d| run(&parking_lot::Mutex::new(0u64), t, w, d)),
    // CONTROL: exactly `parking_lot` again, on a fresh lock.
    ("parking_lot_again", |t, w, d| run(&parking_lot::Mutex::new(0u64), t, w, d)),
];

/// Sub-buckets per power of two: a bucket spans at most 1/16 = 6.25% of its values.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Exact buckets for 0..SUB, then SUB buckets for each power of two from SUB up to 2^63.
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

/// A log-linear histogram of nanoseconds (HDR-style): values below `SUB` exactly, above that
/// `SUB` equal sub-buckets per power of two.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
}

impl Histogram {
    fn new() -> Self {
        Histogram { counts: vec![0; BUCKETS] }
    }

    fn bucket(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let log2 = 63 - ns.leading_zeros(); // >= SUB_BITS
        let sub = (ns >> (log2 - SUB_BITS)) as usize & (SUB - 1);
        (log2 - SUB_BITS + 1) as usize * SUB + sub
    }

    /// The middle of bucket `i`'s values.
    fn value(i: usize) -> f64 {
        if i < SUB {
            return i as f64;
        }
        let shift = (i / SUB - 1) as u32; // log2 - SUB_BITS
        let low = ((SUB + i % SUB) as u64) << shift;
        low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
    }

    #[inline]
    fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(ns)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// The value at quantile `q` (0 < q <= 1): the middle of the bucket holding the
    /// `ceil(q * n)`-th smallest value.
    fn quantile(&self, q: f64) -> f64 {
        let n: u64 = self.counts.iter().sum();
        let rank = ((q * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(i);
            }
        }
        f64::NAN // empty
    }
}

/// What one round of one configuration measured.
#[derive(Clone, Copy)]
struct Round {
    /// Fewest acquisitions of any thread over the most of any thread.
    share: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    ns_per_op: f64,
    vcsw_per_op: f64,
    ivcsw_per_op: f64,
    futex_per_op: f64,
    cs_per_op: f64,
}

/// What one thread of a run did: when it started and stopped, its acquisitions, their latencies.
struct Worker {
    began: Instant,
    ended: Instant,
    ops: u64,
    latencies: Histogram,
    /// Futex calls and context switches in the thread's window.
    cost: Cost,
}

/// One thread of a run: `work` on `counter` from the barrier until `stop`, timing every acquisition.
fn worker<C: Counter>(counter: &C, work: Work, seed: u64, start: &Barrier, stop: &AtomicBool) -> Worker {
    let mut latencies = Histogram::new();
    let mut ops = 0;
    let mut state = seed;
    let mut meter = Meter::new();
    start.wait();
    meter.start();
    let began = Instant::now();
    while !stop.load(Relaxed) {
        let asked = Instant::now();
        let mut got = asked;
        counter.with(|v| {
            // Read first thing in the critical section: the lock has just been acquired.
            got = Instant::now();
            work.critical(v);
        });
        // Recorded after the unlock, so the histogram's update is not part of the critical section.
        latencies.record(got - asked);
        ops += 1;
        work.outside(&mut state);
    }
    let ended = Instant::now();
    let cost = meter.stop();
    black_box(state);
    Worker { began, ended, ops, latencies, cost }
}

/// One round: `threads` threads on `counter` for `window`.
///
/// The window the figures are divided by is the workers' own, from the first one to leave the
/// barrier to the last one to stop: the main thread, which sleeps through the window, can be
/// scheduled late when it wakes, and its clock would be off by that much.
fn run<C: Counter + Sync>(counter: &C, threads: usize, work: Work, window: Duration) -> Round {
    let before = counter.count();
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let workers: Vec<Worker> = std::thread::scope(|s| {
        let (start, stop) = (&start, &stop);
        let workers: Vec<_> =
            (0..threads).map(|i| s.spawn(move || worker(counter, work, i as u64 + 1, start, stop))).collect();
        start.wait();
        std::thread::sleep(window);
        stop.store(true, Relaxed);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let total: u64 = workers.iter().map(|w| w.ops).sum();
    assert_eq!(counter.count() - before, total, "lost updates: the lock let two threads in");
    let min = workers.iter().map(|w| w.ops).min().unwrap();
    let max = workers.iter().map(|w| w.ops).max().unwrap();
    let elapsed =
        workers.iter().map(|w| w.ended).max().unwrap() - workers.iter().map(|w| w.began).min().unwrap();
    let mut latencies = Histogram::new();
    for w in &workers {
        latencies.merge(&w.latencies);
    }
    let cost = workers.iter().fold(Cost::ZERO, |sum, w| sum + w.cost);
    let per_op = |n: Option<u64>| n.map_or(f64::NAN, |n| n as f64 / total.max(1) as f64);
    Round {
        share: if max == 0 { 0.0 } else { min as f64 / max as f64 },
        p50: latencies.quantile(0.50),
        p99: latencies.quantile(0.99),
        p999: latencies.quantile(0.999),
        ns_per_op: elapsed.as_nanos() as f64 / total.max(1) as f64,
        vcsw_per_op: per_op(cost.vcsw),
        ivcsw_per_op: per_op(cost.ivcsw),
        futex_per_op: per_op(cost.futex),
        cs_per_op: per_op(cost.switches()),
    }
}

/// The median, `nan` (printed `n/a`) if any value is: a figure that could not be counted.
fn median(mut values: Vec<f64>) -> f64 {
    if values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Plain decimals with two significant digits (`0.0012`, `0.31`, `4.2`), for small rates.
fn two_digits(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let decimals = (1 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
        Err(_) => default,
    }
}

/// Nanoseconds per call of the `short_outside` outside work on this machine (best of 5).
fn calibrate_outside() -> f64 {
    const CALLS: u32 = 2_000_000;
    let mut state = 1;
    (0..5)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..CALLS {
                arithmetic(&mut state);
            }
            t0.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    // Like criterion: `cargo bench` passes `--bench`; without it, just check that everything runs.
    let (window, rounds) = if args.iter().any(|a| a == "--bench") {
        (
            Duration::from_millis(env_or("FAIRNESS_MS", DEFAULT_WINDOW_MS)),
            env_or("FAIRNESS_ROUNDS", DEFAULT_ROUNDS),
        )
    } else {
        eprintln!("mutex_fairness: test mode (no --bench): one 2 ms round per configuration");
        (Duration::from_millis(2), 1)
    };
    assert!(rounds > 0, "FAIRNESS_ROUNDS must be at least 1");
    let configurations = WORKLOADS.len() * THREADS.len() * LOCKS.len();
    let seconds = (configurations * rounds) as f64 * window.as_secs_f64();
    println!(
        "bench mutex_fairness: cargo bench --bench mutex_fairness (FAIRNESS_MS={} FAIRNESS_ROUNDS={rounds}: \
         about {seconds:.1} s for all {configurations} configurations)",
        window.as_millis()
    );
    let countable = counts::futex_countable();
    println!("bench mutex_fairness: futex calls counted: {}", if countable { "yes" } else { "no (n/a)" });
    println!(
        "outside work: {:.2} ns per call ({ARITHMETIC_ROUNDS} rounds of xorshift); window {} ms, {rounds} rounds",
        calibrate_outside(),
        window.as_millis()
    );

    for (workload, work) in WORKLOADS {
        for threads in THREADS {
            let id = |lock: &str| format!("{workload}/{lock}/{threads}");
            let locks: Vec<_> = LOCKS
                .iter()
                .filter(|(lock, _)| filters.is_empty() || filters.iter().any(|f| id(lock).contains(*f)))
                .collect();
            let mut rounds_of: Vec<Vec<Round>> = vec![Vec::with_capacity(rounds); locks.len()];
            // Round-robin over the locks inside each round, so that drift hits all of them alike.
            for _ in 0..rounds {
                for ((_, run), results) in locks.iter().zip(&mut rounds_of) {
                    results.push(run(threads, work, window));
                }
            }
            for ((lock, _), results) in locks.iter().zip(rounds_of) {
                let med = |f: fn(&Round) -> f64| median(results.iter().map(f).collect());
                let worst = results.iter().map(|r| r.share).fold(f64::INFINITY, f64::min);
                println!("fairness {}: min/max = {:.2} (worst run {worst:.2})", id(lock), med(|r| r.share));
                println!(
                    "latency {}: p50 = {:.0} ns, p99 = {:.0} ns, p999 = {:.0} ns, ns/op = {:.1}, \
                     vcsw/op = {}, ivcsw/op = {}, futex/op = {}, cs/op = {}",
                    id(lock),
                    med(|r| r.p50),
                    med(|r| r.p99),
                    med(|r| r.p999),
                    med(|r| r.ns_per_op),
                    two_digits(med(|r| r.vcsw_per_op)),
                    two_digits(med(|r| r.ivcsw_per_op)),
                    two_digits(med(|r| r.futex_per_op)),
                    two_digits(med(|r| r.cs_per_op)),
                );
            }
        }
    }
}
