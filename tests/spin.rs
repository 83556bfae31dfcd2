//! `turnstile::SpinLock` from the outside: mutual exclusion under contention, no poisoning,
//! `try_lock`, `static` use, and unsized data.
//!
//! Threads are ordered with channels and barriers, never with sleeps.

use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use turnstile::SpinLock;

mod common;
use common::{bump, iters};

const THREADS: usize = 8;

#[test]
fn eight_threads_count_every_increment() {
    let n = iters(10_000);
    let counter = SpinLock::new(0u64);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..n {
                    bump(&mut counter.lock());
                }
            });
        }
    });
    assert_eq!(counter.into_inner(), (THREADS * n) as u64);
}

#[test]
fn eight_threads_retrying_try_lock_count_every_increment() {
    let n = iters(5_000);
    let counter = SpinLock::new(0u64);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..n {
                    loop {
                        if let Some(mut guard) = counter.try_lock() {
                            bump(&mut guard);
                            break;
                        }
                        thread::yield_now();
                    }
                }
            });
        }
    });
    assert_eq!(counter.into_inner(), (THREADS * n) as u64);
}

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
fn a_static_spinlock_counts_increments_from_several_threads() {
    static COUNTER: SpinLock<u64> = SpinLock::new(0);
    let n = iters(5_000);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..n {
                    bump(&mut COUNTER.lock());
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*COUNTER.lock(), 4 * n as u64);
}

#[test]
fn a_panic_in_the_critical_section_releases_the_lock() {
    let lock = Arc::new(SpinLock::new(0u32));
    let panicked = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let _guard = lock.lock();
            panic!("deliberate panic inside the critical section");
        })
        .join()
    };
    assert!(panicked.is_err());
    assert!(!lock.is_locked());
    assert!(lock.try_lock().is_some(), "the lock is usable again");
}

#[test]
fn a_panic_leaves_the_data_as_the_panicking_code_left_it() {
    let lock = Arc::new(SpinLock::new(vec![1, 2, 3]));
    let panicked = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock();
            guard.push(4);
            guard[0] = 10;
            panic!("deliberate panic halfway through an update");
        })
        .join()
    };
    assert!(panicked.is_err());
    assert_eq!(*lock.lock(), [10, 2, 3, 4]);
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

#[test]
fn try_lock_returns_none_while_held_on_the_same_thread() {
    let lock = SpinLock::new(());
    let _guard = lock.lock();
    assert!(lock.try_lock().is_none());
}

#[test]
fn try_lock_returns_none_while_another_thread_holds_the_lock() {
    let lock = SpinLock::new(());
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let got = thread::scope(|s| {
        let lock = &lock;
        s.spawn(move || {
            let _guard = lock.lock();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let got = lock.try_lock().is_some();
        drop(release_tx);
        got
    });
    assert!(!got);
}

#[test]
fn try_lock_returns_some_once_the_holder_has_released() {
    let lock = SpinLock::new(5);
    let guard = lock.lock();
    assert!(lock.try_lock().is_none(), "precondition: the lock is held");
    drop(guard);
    assert_eq!(lock.try_lock().map(|g| *g), Some(5));
}

#[test]
fn is_locked_follows_the_guard() {
    let lock = SpinLock::new(());
    assert!(!lock.is_locked());
    let guard = lock.lock();
    assert!(lock.is_locked());
    drop(guard);
    assert!(!lock.is_locked());
}

#[test]
fn get_mut_changes_the_data_without_locking() {
    let mut lock = SpinLock::new(1);
    *lock.get_mut() += 1;
    assert_eq!(*lock.lock(), 2);
}

#[test]
fn into_inner_returns_the_data_after_threads_are_done() {
    let lock = SpinLock::new(String::new());
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| lock.lock().push('x'));
        }
    });
    assert_eq!(lock.into_inner(), "xxxx");
}

#[test]
fn a_slice_spinlock_locks_through_unsized_coercion() {
    let lock: &SpinLock<[u8]> = &SpinLock::new([1u8, 2, 3]) as &SpinLock<[u8; 3]>;
    lock.lock()[2] = 30;
    assert_eq!(*lock.lock(), [1, 2, 30]);
}
