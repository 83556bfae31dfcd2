//! `turnstile::Mutex` from the outside: mutual exclusion under contention (spinning and
//! sleeping waiters), no poisoning, timed locking, `static` use, and unsized data.
//!
//! Nothing here sleeps to order threads or measures time. Threads are ordered with channels, and
//! where a test needs a waiter to be *asleep* on the lock before the holder lets go, it watches
//! the waiter's state in `/proc` (see `SleepProbe`). A lost wakeup shows up as a hang, which CI's
//! timeout turns into a failure.
//!
//! The tests every exclusive lock shares (exact counts, panics, `try_lock`, `static`, unsized
//! data) come from `exclusive_lock_tests!` in `tests/common`; this file holds the rest.

use std::fmt::Debug;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use turnstile::{Mutex, MutexGuard};

#[macro_use]
mod common;
use common::{bump, iters, on_threads, past, while_held_elsewhere, SleepProbe};

const THREADS: usize = 8;

#[test]
fn waiters_put_to_sleep_by_a_slow_critical_section_are_all_woken() {
    // Yielding between the read and the write keeps the lock held across a reschedule, so
    // waiters exhaust their spin budget and sleep on the futex; every one must be woken by some
    // unlock, or the test hangs. The split read/yield/write also makes any overlap lose counts.
    let n = iters(2_000);
    let counter = Mutex::new(0u64);
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
fn timed_and_untimed_waiters_mixed_count_every_increment() {
    // Timed-out waiters un-count themselves and walk away; the untimed sleepers must still be
    // woken, and the timed ones must still get in eventually.
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
            let seen = *guard;
            thread::yield_now();
            *guard = seen + 1;
        }
    });
    assert_eq!(counter.into_inner(), (THREADS * n) as u64);
}

#[test]
fn sleepers_queued_behind_a_holder_all_get_the_lock_after_one_unlock() {
    // Unlock wakes one counted sleeper; it un-counts itself as it takes the lock, and its own
    // unlock wakes the next while any are counted: a chain of wakes. A broken link leaves a
    // sleeper asleep forever.
    let lock = Mutex::new(0u64);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let guard = lock.lock();
        for _ in 0..THREADS {
            let (lock, probe_tx) = (&lock, probe_tx.clone());
            s.spawn(move || {
                probe_tx.send(SleepProbe::current()).unwrap();
                bump(&mut lock.lock());
            });
        }
        for probe in probe_rx.iter().take(THREADS) {
            probe.wait_until_asleep();
        }
        drop(guard);
    });
    assert_eq!(lock.into_inner(), THREADS as u64);
}

#[test]
fn a_panic_wakes_a_thread_sleeping_on_the_lock() {
    let lock = Mutex::new(0u32);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        let panicker = s.spawn(move || {
            let mut guard = lock.lock();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            *guard = 42;
            panic!("deliberate panic while a waiter is queued");
        });
        held_rx.recv().unwrap();
        let (probe_tx, probe_rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            *lock.lock()
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        go_tx.send(()).unwrap();
        assert!(panicker.join().is_err());
        assert_eq!(waiter.join().unwrap(), 42);
    });
}

#[test]
fn try_lock_for_returns_none_while_another_thread_holds_the_lock() {
    let lock = Mutex::new(());
    let got = while_held_elsewhere(|| lock.lock(), || lock.try_lock_for(Duration::from_millis(5)).is_some());
    assert!(!got);
}

#[test]
fn try_lock_for_returns_some_once_the_holder_has_released() {
    let lock = Mutex::new(7);
    let guard = lock.lock();
    thread::scope(|s| {
        let held = s.spawn(|| lock.try_lock_for(Duration::from_millis(5)).map(|g| *g)).join().unwrap();
        assert_eq!(held, None, "precondition: the lock is held");
        drop(guard);
        let released = s.spawn(|| lock.try_lock_for(Duration::from_millis(5)).map(|g| *g)).join().unwrap();
        assert_eq!(released, Some(7));
    });
}

#[test]
fn try_lock_for_zero_returns_none_while_held() {
    let lock = Mutex::new(());
    let _guard = lock.lock();
    assert!(lock.try_lock_for(Duration::ZERO).is_none());
}

#[test]
fn a_sleeping_try_lock_for_is_woken_when_the_holder_releases() {
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
fn try_lock_for_an_unrepresentable_timeout_waits_until_released() {
    // `Duration::MAX` overflows `Instant`: it must mean "no deadline", not "already passed".
    let lock = Mutex::new(0u32);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let lock = &lock;
        let guard = lock.lock();
        let waiter = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            lock.try_lock_for(Duration::MAX).is_some()
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        drop(guard);
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn try_lock_until_a_past_deadline_returns_none_when_held() {
    let lock = Mutex::new(());
    let _guard = lock.lock();
    assert!(lock.try_lock_until(past()).is_none());
}

#[test]
fn try_lock_until_a_past_deadline_returns_some_when_free() {
    let lock = Mutex::new(3);
    assert_eq!(lock.try_lock_until(past()).map(|g| *g), Some(3));
}

#[test]
fn a_timed_out_waiter_leaves_the_lock_usable() {
    let lock = Mutex::new(0u32);
    {
        let _guard = lock.lock();
        assert!(lock.try_lock_for(Duration::from_micros(1)).is_none());
    }
    assert!(!lock.is_locked());
    *lock.lock() += 1;
    assert_eq!(lock.try_lock().map(|g| *g), Some(1));
}

#[test]
fn writes_under_the_lock_are_visible_to_the_next_holder_on_another_thread() {
    let lock = Mutex::new(Vec::new());
    thread::scope(|s| {
        s.spawn(|| lock.lock().extend(0..100u32));
    });
    let seen = thread::scope(|s| s.spawn(|| lock.lock().iter().sum::<u32>()).join().unwrap());
    assert_eq!(seen, (0..100).sum());
}

#[test]
fn a_dyn_debug_mutex_formats_the_value_inside() {
    let lock: &Mutex<dyn Debug> = &Mutex::new(vec!['a', 'b']);
    assert_eq!(format!("{:?}", &*lock.lock()), "['a', 'b']");
}

#[test]
fn a_boxed_slice_mutex_allows_get_mut() {
    let mut lock: Box<Mutex<[u32]>> = Box::new(Mutex::new([0u32; 4]));
    lock.get_mut()[3] = 9;
    assert_eq!(*lock.lock(), [0, 0, 0, 9]);
}

#[test]
fn an_arc_of_an_unsized_mutex_is_shared_across_threads() {
    let n = iters(1_000);
    let slots: Arc<Mutex<[u64]>> = Arc::new(Mutex::new([0u64; 4]));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let slots = Arc::clone(&slots);
            thread::spawn(move || {
                for i in 0..n {
                    bump(&mut slots.lock()[(t + i) % 4]);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let total: u64 = slots.lock().iter().sum();
    assert_eq!(total, 4 * n as u64);
}

#[test]
#[cfg_attr(miri, ignore)] // needs the sleeper really asleep (`SleepProbe` reads /proc)
fn unlock_fair_hands_the_lock_to_the_sleeper() {
    let lock = Mutex::new(0u32);
    thread::scope(|s| {
        let guard = lock.lock();
        let (probe_tx, probe_rx) = mpsc::channel();
        let lock = &lock;
        s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            *lock.lock() += 1;
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        MutexGuard::unlock_fair(guard);
        // The lock went to the sleeper, not back to "free": right away it is either still
        // taken, or the sleeper has already had it. A plain unlock would let this thread in
        // first (the sleeper has yet to be scheduled) and find 0.
        if let Some(value) = lock.try_lock() {
            assert_eq!(*value, 1, "took the lock ahead of the sleeper it was handed to");
        }
    });
    assert_eq!(lock.into_inner(), 1);
}

#[test]
fn a_thread_that_keeps_retaking_the_lock_lets_a_waiter_in() {
    // The hog re-takes the lock as soon as it lets go, for as long as the waiter has not been
    // in. Barging alone could keep the waiter out indefinitely; the fairness bound hands it the
    // lock once it has slept past it. A hang is the failure.
    let lock = Mutex::new(false);
    let rounds = thread::scope(|s| {
        let hog = s.spawn(|| {
            let mut rounds = 0u64;
            loop {
                let waiter_was_in = lock.lock();
                if *waiter_was_in {
                    return rounds;
                }
                rounds += 1;
            }
        });
        while !lock.is_locked() {
            thread::yield_now();
        }
        *lock.lock() = true;
        hog.join().unwrap()
    });
    assert!(lock.into_inner());
    assert!(rounds > 0, "the hog never held the lock: nothing was tested");
}

#[test]
fn a_poller_with_short_timeouts_leaves_the_lock_as_it_found_it() {
    let lock = Mutex::new(0u32);
    thread::scope(|s| {
        let guard = lock.lock();
        let poller = s.spawn(|| {
            let mut gave_up = 0;
            while gave_up < 100 {
                match lock.try_lock_for(Duration::from_micros(1)) {
                    Some(mut value) => *value += 1,
                    None => gave_up += 1,
                }
            }
        });
        poller.join().unwrap();
        drop(guard);
    });
    // Every timed-out waiter un-counted itself: the lock is free and takes the fast path.
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_lock().expect("free, with nothing left behind"), 0);
}

exclusive_lock_tests!(Mutex);
