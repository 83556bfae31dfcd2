//! `turnstile::SpinLock` from the outside: mutual exclusion under contention, no poisoning,
//! `try_lock`, `static` use, and unsized data.
//!
//! Threads are ordered with channels and barriers, never with sleeps.
//!
//! The tests every exclusive lock shares (exact counts, panics, `try_lock`, `static`, unsized
//! data) come from `exclusive_lock_tests!` in `tests/common`; this file holds the rest.

use std::sync::{mpsc, Barrier};
use std::thread;

use turnstile::SpinLock;

#[macro_use]
mod common;
use common::{bump, iters};

const THREADS: usize = 8;

#[test]
fn holders_preempted_inside_the_critical_section_lose_no_increments() {
    // Yielding while holding the lock lets the spinners run out their backoff and start
    // yielding too; with more threads than cores the holder must still get back in to unlock.
    let n = iters(1_000);
    let counter = SpinLock::new(0u64);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..n {
                    let mut guard = counter.lock();
                    let seen = *guard;
                    thread::yield_now();
                    *guard = seen + 1;
                }
            });
        }
    });
    assert_eq!(counter.into_inner(), (THREADS * n) as u64);
}

#[test]
fn spinners_queued_behind_a_holder_all_get_the_lock() {
    let lock = SpinLock::new(0u64);
    let started = Barrier::new(THREADS + 1);
    thread::scope(|s| {
        let guard = lock.lock();
        for _ in 0..THREADS {
            s.spawn(|| {
                started.wait();
                bump(&mut lock.lock());
            });
        }
        started.wait();
        drop(guard);
    });
    assert_eq!(lock.into_inner(), THREADS as u64);
}

#[test]
fn a_panic_hands_the_lock_to_a_thread_spinning_for_it() {
    let lock = SpinLock::new(0u32);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        let panicker = s.spawn(move || {
            let mut guard = lock.lock();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            *guard = 42;
            panic!("deliberate panic while a spinner waits");
        });
        held_rx.recv().unwrap();
        let waiter = s.spawn(move || *lock.lock());
        go_tx.send(()).unwrap();
        assert!(panicker.join().is_err());
        assert_eq!(waiter.join().unwrap(), 42);
    });
}

exclusive_lock_tests!(SpinLock);
