//! What debug builds' self-deadlock check costs: N uncontended lock/unlock pairs of each lock,
//! timed on one thread, with std's `Mutex` as the control (it has no such check).
//!
//! ```text
//! cargo bench --bench debug_checks --profile dev            # a debug build: the check is in
//! cargo bench --bench debug_checks --profile dev -- 100000  # N (default 1000000)
//! cargo bench --bench debug_checks                          # a release build: the check is not
//! ```
//!
//! Each line is the median of 5 rounds, in ns per lock/unlock pair. To see the check's share,
//! compare a debug run with and without it (the difference per pair is its cost: a thread-local
//! access and a short search on lock, and one on unlock); the control shows how the build's
//! optimisation level moves everything else.

use std::hint::black_box;
use std::time::Instant;

use turnstile::{Mutex, SpinLock, WriterPrefRwLock};

const ROUNDS: usize = 5;

/// Runs `pair` `n` times per round and prints the median round in ns per pair.
fn time(name: &str, n: u64, mut pair: impl FnMut()) {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                pair();
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{name:<34} {:>8.1} ns/op", rounds[ROUNDS / 2]);
}

fn main() {
    // `cargo bench` passes `--bench` (and any filter); the first plain number is N.
    let n = std::env::args().skip(1).find_map(|arg| arg.parse::<u64>().ok()).unwrap_or(1_000_000);
    println!(
        "debug_checks: {n} uncontended lock/unlock pairs per round, median of {ROUNDS} rounds (debug_assertions: {})",
        cfg!(debug_assertions)
    );
    let mutex = Mutex::new(0u64);
    time("turnstile::Mutex lock", n, || *black_box(&mutex).lock() += 1);
    let spin = SpinLock::new(0u64);
    time("turnstile::SpinLock lock", n, || *black_box(&spin).lock() += 1);
    let rwlock = WriterPrefRwLock::new(0u64);
    time("turnstile::WriterPrefRwLock read", n, || {
        black_box(*black_box(&rwlock).read());
    });
    time("turnstile::WriterPrefRwLock write", n, || *black_box(&rwlock).write() += 1);
    let control = std::sync::Mutex::new(0u64);
    time("std::sync::Mutex lock (control)", n, || *black_box(&control).lock().unwrap() += 1);
}
