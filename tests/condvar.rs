//! `turnstile::Condvar` from the outside: a producer-consumer queue that loses no item,
//! notifies that report who they reached, timeouts, `notify_all`'s requeue onto the mutex, the
//! one-mutex-at-a-time rule, and panics inside a wait.
//!
//! Nothing here sleeps to order threads or measures time. A waiter that sends something while
//! holding the mutex is registered on the condvar once the receiver can take the mutex (the
//! waiter lets go of it only inside `wait`, after registering); where a test needs the waiter to
//! be *asleep*, it watches the thread's state with `SleepProbe`. A lost wakeup shows up as a
//! hang, which CI's timeout turns into a failure.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use turnstile::{Condvar, Mutex};

mod common;
use common::{bump, iters, panic_text, SleepProbe};

/// A bounded queue and its two conditions, as the classic producer-consumer has them.
struct BoundedQueue {
    items: Mutex<VecDeque<usize>>,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
}

impl BoundedQueue {
    fn new(capacity: usize) -> Self {
        BoundedQueue {
            items: Mutex::new(VecDeque::new()),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            capacity,
        }
    }

    fn push(&self, item: usize) {
        let mut items = self.items.lock();
        self.not_full.wait_while(&mut items, |items| items.len() == self.capacity);
        items.push_back(item);
        drop(items);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> usize {
        let mut items = self.items.lock();
        self.not_empty.wait_while(&mut items, |items| items.is_empty());
        let item = items.pop_front().unwrap();
        drop(items);
        self.not_full.notify_one();
        item
    }
}

#[test]
fn producers_and_consumers_through_a_bounded_queue_pass_every_item_once() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    let n = iters(6_000);
    // A capacity of two keeps both sides waiting often.
    let queue = BoundedQueue::new(2);
    let mut received: Vec<usize> = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let queue = &queue;
            s.spawn(move || {
                for i in 0..n {
                    queue.push(p * n + i);
                }
            });
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| s.spawn(|| (0..PRODUCERS * n / CONSUMERS).map(|_| queue.pop()).collect::<Vec<_>>()))
            .collect();
        consumers.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    received.sort_unstable();
    assert_eq!(received, (0..PRODUCERS * n).collect::<Vec<_>>(), "every item exactly once");
    assert!(queue.items.lock().is_empty());
}

#[test]
fn one_producer_and_one_consumer_keep_the_order() {
    let n = iters(10_000);
    let queue = BoundedQueue::new(3);
    let received: Vec<usize> = thread::scope(|s| {
        s.spawn(|| (0..n).for_each(|i| queue.push(i)));
        s.spawn(|| (0..n).map(|_| queue.pop()).collect()).join().unwrap()
    });
    assert_eq!(received, (0..n).collect::<Vec<_>>());
}

#[test]
fn notify_with_nobody_waiting_reaches_nobody() {
    let cv = Condvar::new();
    assert!(!cv.notify_one());
    assert_eq!(cv.notify_all(), 0);
}

#[test]
fn wait_for_without_a_notify_times_out_and_holds_the_mutex_again() {
    let (lock, cv) = (Mutex::new(0u32), Condvar::new());
    let mut guard = lock.lock();
    assert!(cv.wait_for(&mut guard, Duration::from_millis(1)).timed_out());
    assert!(lock.is_locked());
    let taken_elsewhere = thread::scope(|s| s.spawn(|| lock.try_lock().is_some()).join().unwrap());
    assert!(!taken_elsewhere, "the timed-out waiter holds the mutex again");
    *guard += 1;
    drop(guard);
    assert_eq!(*lock.lock(), 1);
}

#[test]
fn wait_until_a_passed_deadline_times_out() {
    let (lock, cv) = (Mutex::new(()), Condvar::new());
    let mut guard = lock.lock();
    assert!(cv.wait_until(&mut guard, std::time::Instant::now()).timed_out());
    assert!(!cv.notify_one(), "the timed-out waiter is no longer registered");
}

#[test]
fn wait_while_for_times_out_when_the_condition_still_holds() {
    let (lock, cv) = (Mutex::new(0u32), Condvar::new());
    let mut guard = lock.lock();
    assert!(cv.wait_while_for(&mut guard, |n| *n == 0, Duration::from_millis(1)).timed_out());
}

#[test]
fn wait_while_for_does_not_time_out_when_the_condition_is_already_false() {
    let (lock, cv) = (Mutex::new(1u32), Condvar::new());
    let mut guard = lock.lock();
    assert!(!cv.wait_while_for(&mut guard, |n| *n == 0, Duration::ZERO).timed_out());
}

#[test]
fn wait_while_for_does_not_time_out_when_the_condition_is_false_at_the_deadline() {
    // The wait runs out its deadline (nobody notifies), but the state changed meanwhile: the
    // predicate, asked again under the mutex at the deadline, says the wait is over. (The
    // predicate stands in for a thread that changes the state without notifying; a real thread
    // would race the deadline.)
    let (lock, cv) = (Mutex::new(()), Condvar::new());
    let mut asked = 0;
    let result = cv.wait_while_for(
        &mut lock.lock(),
        |_| {
            asked += 1;
            asked == 1
        },
        Duration::from_millis(1),
    );
    assert!(!result.timed_out());
    assert_eq!(asked, 2, "asked before waiting and once more at the deadline");
}

#[test]
fn wait_while_for_does_not_time_out_when_notified() {
    let (lock, cv) = (Mutex::new(0u32), Condvar::new());
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    let result = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut guard = lock.lock();
            waiting_tx.send(()).unwrap();
            cv.wait_while_for(&mut guard, |n| *n == 0, Duration::from_secs(600))
        });
        waiting_rx.recv().unwrap();
        *lock.lock() = 1;
        assert!(cv.notify_one());
        waiter.join().unwrap()
    });
    assert!(!result.timed_out());
}

#[test]
fn a_notify_one_after_the_waiter_is_asleep_wakes_it_and_returns_true() {
    let (lock, cv) = (Mutex::new(false), Condvar::new());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut ready = lock.lock();
            probe_tx.send(SleepProbe::current()).unwrap();
            cv.wait_while(&mut ready, |ready| !*ready);
        });
        let probe = probe_rx.recv().unwrap();
        *lock.lock() = true; // the waiter is registered: it has let go of the mutex
        probe.wait_until_asleep();
        assert!(cv.notify_one(), "a thread was waiting");
        waiter.join().unwrap();
    });
}

#[test]
fn a_second_notify_one_for_one_waiter_returns_false() {
    // The first notify covers the only waiter; until it has left, nobody else is there to reach.
    let (lock, cv) = (Mutex::new(false), Condvar::new());
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut ready = lock.lock();
            waiting_tx.send(()).unwrap();
            cv.wait_while(&mut ready, |ready| !*ready);
        });
        waiting_rx.recv().unwrap();
        let mut ready = lock.lock();
        *ready = true;
        assert!(cv.notify_one());
        assert!(!cv.notify_one());
        assert_eq!(cv.notify_all(), 0);
        drop(ready);
        waiter.join().unwrap();
    });
}

#[test]
fn notify_all_wakes_every_one_of_eight_waiters_and_they_take_the_mutex_one_at_a_time() {
    // All eight are asleep on the condvar when the notify comes: one is woken and moves the
    // other seven onto the mutex, whose unlocks wake them one by one. The split read/yield/write
    // of each waiter's increment loses a count if two ever hold the mutex together.
    const WAITERS: usize = 8;
    for _ in 0..iters(200) {
        let (lock, cv) = (Mutex::new((false, 0u64)), Condvar::new());
        let (probe_tx, probe_rx) = mpsc::channel();
        thread::scope(|s| {
            for _ in 0..WAITERS {
                let (lock, cv, probe_tx) = (&lock, &cv, probe_tx.clone());
                s.spawn(move || {
                    let mut state = lock.lock();
                    probe_tx.send(SleepProbe::current()).unwrap();
                    cv.wait_while(&mut state, |(open, _)| !*open);
                    let seen = state.1;
                    thread::yield_now();
                    state.1 = seen + 1;
                });
            }
            let probes: Vec<SleepProbe> = probe_rx.iter().take(WAITERS).collect();
            // Every waiter sent its probe holding the mutex and lets go of it only once it is
            // registered, so holding it now means all eight are registered.
            let mut state = lock.lock();
            for probe in &probes {
                probe.wait_until_asleep();
            }
            state.0 = true;
            assert_eq!(cv.notify_all(), WAITERS, "every waiter was reached");
        });
        assert_eq!(lock.into_inner().1, WAITERS as u64);
    }
}

#[test]
fn notify_all_reaches_waiters_that_a_notify_one_left_behind() {
    let (lock, cv) = (Mutex::new(false), Condvar::new());
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        for _ in 0..3 {
            let (lock, cv, waiting_tx) = (&lock, &cv, waiting_tx.clone());
            s.spawn(move || {
                let mut open = lock.lock();
                waiting_tx.send(()).unwrap();
                cv.wait_while(&mut open, |open| !*open);
            });
        }
        waiting_rx.iter().take(3).for_each(drop);
        let mut open = lock.lock();
        *open = true;
        assert!(cv.notify_one());
        assert_eq!(cv.notify_all(), 2, "one of three was covered already");
    });
}

#[test]
fn waiters_woken_one_by_one_count_every_increment() {
    // The same waiters wait and are notified over and over, through notify_one and notify_all.
    // A waiter registered before a round's release is covered by its notifies; one that comes
    // later finds its condition false and does not wait. Either way nobody is left asleep.
    const WAITERS: usize = 4;
    let rounds = iters(1_000);
    let (lock, cv) = (Mutex::new((0usize, 0u64)), Condvar::new());
    thread::scope(|s| {
        for _ in 0..WAITERS {
            s.spawn(|| {
                for round in 1..=rounds {
                    let mut state = lock.lock();
                    cv.wait_while(&mut state, |(released, _)| *released < round);
                    bump(&mut state.1);
                }
            });
        }
        for round in 1..=rounds {
            lock.lock().0 = round;
            if round % 2 == 0 {
                cv.notify_all();
            } else {
                for _ in 0..WAITERS {
                    cv.notify_one();
                }
            }
        }
    });
    assert_eq!(lock.into_inner().1, (WAITERS * rounds) as u64);
}

#[test]
fn timed_and_untimed_waiters_mixed_take_every_item() {
    // Timed-out waiters deregister while notifies are in flight; the tokens they leave or take
    // must never strand an untimed sleeper (a hang) or lose an item (a short count).
    const CONSUMERS: usize = 6;
    let n = iters(1_200);
    let (items, cv) = (Mutex::new(0usize), Condvar::new());
    let taken: usize = thread::scope(|s| {
        s.spawn(|| {
            for i in 0..CONSUMERS * n {
                *items.lock() += 1;
                if i % 8 == 0 {
                    cv.notify_all();
                } else {
                    cv.notify_one();
                }
            }
        });
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let (items, cv) = (&items, &cv);
                s.spawn(move || {
                    for _ in 0..n {
                        let mut available = items.lock();
                        if c % 2 == 0 {
                            cv.wait_while(&mut available, |available| *available == 0);
                        } else {
                            while cv
                                .wait_while_for(
                                    &mut available,
                                    |available| *available == 0,
                                    Duration::from_micros(20),
                                )
                                .timed_out()
                            {}
                        }
                        *available -= 1;
                    }
                    n
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert_eq!(taken, CONSUMERS * n);
    assert_eq!(items.into_inner(), 0);
}

#[test]
fn waiting_with_a_second_mutex_while_another_thread_waits_with_the_first_panics() {
    let (first, second, cv) = (Mutex::new(false), Mutex::new(()), Condvar::new());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut done = first.lock();
            probe_tx.send(SleepProbe::current()).unwrap();
            cv.wait_while(&mut done, |done| !*done);
        });
        let probe = probe_rx.recv().unwrap();
        drop(first.lock()); // the waiter is registered with `first`
        probe.wait_until_asleep();

        let mut other = second.lock();
        let misuse = catch_unwind(AssertUnwindSafe(|| cv.wait_for(&mut other, Duration::from_secs(600))));
        let payload = misuse.expect_err("two mutexes at once must panic");
        let message = panic_text(&*payload);
        assert!(message.contains("use one Condvar per mutex"), "{message}");
        drop(other);
        assert!(!second.is_locked(), "the guard of the rejected wait still unlocks");

        // The rejected wait changed nothing: the first waiter is still there to be woken.
        *first.lock() = true;
        assert!(cv.notify_one());
        waiter.join().unwrap();
    });
}

#[test]
fn one_condvar_with_two_mutexes_one_after_the_other_works() {
    let (first, second, cv) = (Mutex::new(false), Mutex::new(false), Condvar::new());
    for lock in [&first, &second] {
        let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut done = lock.lock();
                waiting_tx.send(()).unwrap();
                cv.wait_while(&mut done, |done| !*done);
            });
            waiting_rx.recv().unwrap();
            *lock.lock() = true;
            assert!(cv.notify_one());
            waiter.join().unwrap();
        });
    }
    // A timed-out wait leaves no binding behind either.
    assert!(cv.wait_for(&mut first.lock(), Duration::from_millis(1)).timed_out());
    assert!(cv.wait_for(&mut second.lock(), Duration::from_millis(1)).timed_out());
}

#[test]
fn a_panic_in_the_wait_while_predicate_leaves_the_mutex_usable() {
    let (lock, cv) = (Mutex::new(0u32), Condvar::new());
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    let panicked = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut state = lock.lock();
            waiting_tx.send(()).unwrap();
            cv.wait_while(&mut state, |n| match *n {
                0 => true,
                _ => panic!("deliberate panic in the predicate, after a wake"),
            });
        });
        waiting_rx.recv().unwrap();
        *lock.lock() = 1;
        assert!(cv.notify_one());
        waiter.join()
    });
    assert!(panicked.is_err());
    assert!(!lock.is_locked(), "the unwinding guard unlocked the mutex");
    *lock.lock() += 1;
    assert_eq!(*lock.lock(), 2);
    assert!(!cv.notify_one(), "the panicked waiter left nothing registered");
    assert!(cv.wait_for(&mut lock.lock(), Duration::from_millis(1)).timed_out());
}

#[test]
fn a_static_condvar_and_mutex_pass_a_value() {
    static VALUE: Mutex<Option<u32>> = Mutex::new(None);
    static ARRIVED: Condvar = Condvar::new();
    let setter = thread::spawn(|| {
        *VALUE.lock() = Some(7);
        ARRIVED.notify_all();
    });
    let mut value = VALUE.lock();
    ARRIVED.wait_while(&mut value, |value| value.is_none());
    assert_eq!(*value, Some(7));
    drop(value);
    setter.join().unwrap();
}

#[test]
fn debug_shows_how_many_threads_wait() {
    let (lock, cv) = (Mutex::new(false), Condvar::new());
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    assert!(format!("{cv:?}").contains("waiting: 0"), "{cv:?}");
    thread::scope(|s| {
        s.spawn(|| {
            let mut done = lock.lock();
            waiting_tx.send(()).unwrap();
            cv.wait_while(&mut done, |done| !*done);
        });
        waiting_rx.recv().unwrap();
        let mut done = lock.lock();
        assert!(format!("{cv:?}").contains("waiting: 1"), "{cv:?}");
        *done = true;
        cv.notify_one();
    });
}
