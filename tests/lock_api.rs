#![cfg(feature = "lock_api")]
//! `turnstile::RawMutex` and `turnstile::RawSpinLock` as `lock_api` raw locks: the
//! `parking_lot`-style `lock_api::Mutex` built on them counts exactly, initialises a `static`,
//! maps its guards, reports `is_locked`, and (the futex mutex, through `RawMutexTimed`) times out.
//!
//! Compiled only with the `lock_api` feature. Threads are ordered with channels; where a waiter
//! must be asleep before the holder lets go, it is watched in `/proc` (see `SleepProbe`).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

// The trait, for `INIT`; the name `RawMutex` stays turnstile's type.
use lock_api::RawMutex as _;

mod common;
use common::{bump, iters, on_threads, SleepProbe};

const THREADS: usize = 8;

/// The tests every raw lock passes through `lock_api::Mutex<$Raw, _>`, in `module`.
macro_rules! lock_api_tests {
    ($module:ident, $Raw:ident) => {
        mod $module {
            use std::sync::mpsc;
            use std::thread;

            use super::common::{bump, iters};
            use super::THREADS;
            use lock_api::RawMutex as _;
            use turnstile::$Raw;

            type Mutex<T> = lock_api::Mutex<$Raw, T>;

            #[test]
            fn eight_threads_count_every_increment() {
                let n = iters(10_000);
                let counter = Mutex::new(0u64);
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
                let counter = Mutex::new(0u64);
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
            fn eight_threads_on_the_raw_lock_and_unlock_count_every_increment() {
                // The raw lock alone, as `lock_api` drives it: `lock`, then `unlock`.
                struct Counter {
                    raw: $Raw,
                    count: std::cell::UnsafeCell<u64>,
                }
                // SAFETY: `count` is touched only between `raw.lock()` and `raw.unlock()`.
                unsafe impl Sync for Counter {}
                let n = iters(10_000);
                let counter = Counter { raw: $Raw::INIT, count: std::cell::UnsafeCell::new(0) };
                thread::scope(|s| {
                    // Moved in whole: a closure would capture the two fields apart, and the
                    // `UnsafeCell` alone is not `Sync`.
                    let counter = &counter;
                    for _ in 0..THREADS {
                        s.spawn(move || {
                            for _ in 0..n {
                                counter.raw.lock();
                                // SAFETY: we hold the raw lock, so this is the only access.
                                bump(unsafe { &mut *counter.count.get() });
                                // SAFETY: locked just above, on this thread.
                                unsafe { counter.raw.unlock() };
                            }
                        });
                    }
                });
                assert_eq!(counter.count.into_inner(), (THREADS * n) as u64);
            }

            #[test]
            fn a_static_built_with_const_new_counts_increments_from_several_threads() {
                static COUNTER: Mutex<u64> = Mutex::const_new($Raw::INIT, 0);
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
            fn a_mapped_guard_writes_through_and_holds_the_lock_until_dropped() {
                let lock = Mutex::new((1u32, 2u32));
                let mut second = lock_api::MutexGuard::map(lock.lock(), |pair| &mut pair.1);
                *second += 40;
                assert!(lock.try_lock().is_none());
                drop(second);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), (1, 42));
            }

            #[test]
            fn is_locked_follows_the_guard() {
                let lock = Mutex::new(());
                assert!(!lock.is_locked());
                let guard = lock.lock();
                assert!(lock.is_locked());
                drop(guard);
                assert!(!lock.is_locked());
            }

            #[test]
            fn is_locked_and_try_lock_see_another_threads_guard() {
                let lock = Mutex::new(());
                let (held_tx, held_rx) = mpsc::channel::<()>();
                let (release_tx, release_rx) = mpsc::channel::<()>();
                let (locked, got) = thread::scope(|s| {
                    let lock = &lock;
                    s.spawn(move || {
                        let _guard = lock.lock();
                        held_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                    });
                    held_rx.recv().unwrap();
                    let seen = (lock.is_locked(), lock.try_lock().is_some());
                    drop(release_tx);
                    seen
                });
                assert!(locked && !got, "is_locked: {locked}, try_lock got in: {got}");
                assert!(!lock.is_locked());
            }
        }
    };
}

lock_api_tests!(futex_mutex, RawMutex);
lock_api_tests!(spin_lock, RawSpinLock);

type Mutex<T> = lock_api::Mutex<turnstile::RawMutex, T>;

#[test]
fn a_static_built_with_new_is_unlocked_and_usable() {
    // `lock_api::Mutex::new` is `const` over `R::INIT`: the `static` needs nothing else.
    static NAMES: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    assert!(!NAMES.is_locked());
    NAMES.lock().push("ada");
    assert_eq!(*NAMES.lock(), ["ada"]);
}

#[test]
fn try_lock_for_returns_none_while_another_thread_holds_the_lock() {
    let lock = Mutex::new(());
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
        let got = lock.try_lock_for(Duration::from_millis(5)).is_some();
        drop(release_tx);
        got
    });
    assert!(!got);
    assert!(lock.try_lock_for(Duration::from_millis(5)).is_some(), "free once the holder released it");
}

#[test]
fn a_sleeping_try_lock_for_gets_the_lock_when_the_holder_releases() {
    // The timeout is only a bound for a broken implementation; the release comes long before.
    let lock = Mutex::new(0u32);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let lock = &lock;
        let guard = lock.lock();
        let waiter = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            lock.try_lock_for(Duration::from_secs(600)).map(|mut g| {
                *g += 1;
                *g
            })
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        drop(guard);
        assert_eq!(waiter.join().unwrap(), Some(1));
    });
}

#[test]
fn the_raw_locks_init_is_unlocked() {
    let mutex = turnstile::RawMutex::INIT;
    let spin = turnstile::RawSpinLock::INIT;
    assert!(!mutex.is_locked() && !spin.is_locked());
    assert!(mutex.try_lock() && spin.try_lock());
    assert!(mutex.is_locked() && spin.is_locked());
    // SAFETY: both were locked just above, on this thread.
    unsafe {
        mutex.unlock();
        spin.unlock();
    }
    assert!(!mutex.is_locked() && !spin.is_locked());
}

#[test]
fn timed_and_untimed_lockers_count_every_increment() {
    let n = iters(1_000);
    let counter = Mutex::new(0u64);
    on_threads(THREADS, |t| {
        for _ in 0..n {
            let mut guard = if t % 2 == 0 {
                counter.lock()
            } else {
                loop {
                    if let Some(guard) = counter.try_lock_for(Duration::from_micros(20)) {
                        break guard;
                    }
                }
            };
            bump(&mut guard);
        }
    });
    assert_eq!(counter.into_inner(), (THREADS * n) as u64);
}

#[test]
fn fair_unlocks_and_bumps_count_every_increment() {
    // `RawMutexFair`: lock_api's `unlock_fair` and `bump` hand the lock to a sleeper when there
    // is one; every increment still lands exactly once.
    let n = iters(1_000);
    let counter = Mutex::new(0u64);
    on_threads(THREADS, |t| {
        for i in 0..n {
            let mut guard = counter.lock();
            bump(&mut guard);
            if t % 2 == 0 {
                lock_api::MutexGuard::bump(&mut guard);
                bump(&mut guard);
            }
            if i % 2 == 0 {
                lock_api::MutexGuard::unlock_fair(guard);
            }
        }
    });
    let bumps = THREADS.div_ceil(2);
    assert_eq!(counter.into_inner(), (THREADS * n + bumps * n) as u64);
}
