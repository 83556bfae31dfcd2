//! `turnstile::Semaphore` from the outside: never more holders than permits, every permit
//! accounted for, P in one thread and V in another, timeouts that take nothing, sleepers woken
//! by `add_permits`, the `MAX_PERMITS` bound, and permits returned on unwind.
//!
//! Nothing here sleeps to order threads or measures time. Threads are ordered with channels, and
//! where a test needs an acquirer to be *asleep* before the permits come, it watches the thread's
//! state with `SleepProbe`. A lost wakeup shows up as a hang, which CI's timeout turns into a
//! failure.

use std::collections::VecDeque;
use std::hint::black_box;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use turnstile::{Mutex, Semaphore};

mod common;
use common::{iters, panic_text, past, SleepProbe};

const THREADS: usize = 8;

/// Counts who is inside a section that at most `limit` threads may enter, and how many entries
/// there were.
struct Occupancy {
    limit: usize,
    inside: AtomicUsize,
    most: AtomicUsize,
    entries: AtomicUsize,
}

impl Occupancy {
    fn new(limit: usize) -> Self {
        Occupancy {
            limit,
            inside: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
        }
    }

    /// Enters, stays across a reschedule (so that others pile up at the semaphore), and leaves.
    fn visit(&self) {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        assert!(now <= self.limit, "{now} threads inside, with {} permits", self.limit);
        thread::yield_now();
        self.inside.fetch_sub(1, SeqCst);
        self.entries.fetch_add(1, SeqCst);
    }

    fn check(&self, expected_entries: usize) {
        assert!(self.most.load(SeqCst) <= self.limit);
        assert_eq!(self.inside.load(SeqCst), 0);
        assert_eq!(self.entries.load(SeqCst), expected_entries);
    }
}

/// `THREADS` threads take a permit of a semaphore of `permits`, `n` times each, and visit the
/// room while they hold it: never more than `permits` inside, every visit counted, every permit
/// back at the end.
fn threads_share_permits(permits: usize) {
    let n = iters(2_000);
    let sem = Semaphore::new(permits);
    let room = Occupancy::new(permits);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..n {
                    let _permit = sem.acquire();
                    room.visit();
                }
            });
        }
    });
    room.check(THREADS * n);
    assert_eq!(sem.available_permits(), permits, "every permit came back");
}

#[test]
fn eight_threads_over_three_permits_never_exceed_three_inside() {
    threads_share_permits(3);
}

#[test]
fn a_one_permit_semaphore_is_a_lock() {
    threads_share_permits(1);
}

#[test]
fn p_in_one_thread_and_v_in_another_passes_every_item() {
    // `items` counts what is in the queue: a P that succeeds finds an item there.
    let n = iters(10_000);
    let items = Semaphore::new(0);
    let queue = Mutex::new(VecDeque::new());
    let received = thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                queue.lock().push_back(i);
                items.add_permits(1); // V
            }
        });
        s.spawn(|| {
            let mut received = Vec::with_capacity(n);
            for _ in 0..n {
                items.acquire().forget(); // P
                received.push(queue.lock().pop_front().expect("a permit promises an item"));
            }
            received
        })
        .join()
        .unwrap()
    });
    assert_eq!(received, (0..n).collect::<Vec<_>>());
    assert_eq!(items.available_permits(), 0);
    assert!(queue.lock().is_empty());
}

#[test]
fn a_forgotten_permit_stays_taken_until_added_back() {
    let sem = Semaphore::new(2);
    sem.acquire().forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn dropping_a_permit_returns_its_permits() {
    let sem = Semaphore::new(5);
    let permit = sem.acquire_many(3);
    assert_eq!(permit.num_permits(), 3);
    assert_eq!(sem.available_permits(), 2);
    drop(permit);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn acquire_many_takes_all_the_permits_it_asks_for_at_once() {
    let n = iters(1_000);
    // Four threads each take two of five permits: at most two can be inside.
    let sem = Semaphore::new(5);
    let room = Occupancy::new(2);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n {
                    let permit = sem.acquire_many(2);
                    assert_eq!(permit.num_permits(), 2);
                    room.visit();
                }
            });
        }
    });
    room.check(4 * n);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn try_acquire_many_takes_only_when_there_are_enough() {
    let sem = Semaphore::new(3);
    assert!(sem.try_acquire_many(4).is_none());
    assert_eq!(sem.available_permits(), 3, "a failed try takes nothing");
    let two = sem.try_acquire_many(2).expect("three are there");
    assert!(sem.try_acquire_many(2).is_none());
    let one = sem.try_acquire().expect("one is left");
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available_permits(), 0);
    drop((two, one));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn a_failed_try_acquire_leaves_the_count_unchanged() {
    let sem = Semaphore::new(0);
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available_permits(), 0, "a failed try_acquire must not add a permit");
    sem.add_permits(1);
    assert!(sem.try_acquire_many(2).is_none());
    assert_eq!(sem.available_permits(), 1, "a failed try_acquire_many must not add permits");
}

#[test]
fn acquiring_zero_permits_always_succeeds_and_takes_nothing() {
    let sem = Semaphore::new(0);
    assert_eq!(sem.acquire_many(0).num_permits(), 0);
    assert!(sem.try_acquire_many(0).is_some());
    assert!(sem.acquire_many_timeout(0, Duration::ZERO).is_some());
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn timed_out_acquires_return_none_and_take_nothing() {
    let sem = Semaphore::new(1);
    assert!(sem.acquire_many_timeout(2, Duration::from_millis(1)).is_none());
    assert!(sem.acquire_many_until(2, past()).is_none());
    assert_eq!(sem.available_permits(), 1);
    let held = sem.acquire();
    assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
    assert!(sem.acquire_until(past()).is_none());
    assert!(sem.acquire_timeout(Duration::ZERO).is_none());
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 1, "the timeouts left no permit missing");
}

#[test]
fn a_timed_acquire_succeeds_when_the_permits_are_there() {
    let sem = Semaphore::new(2);
    assert!(sem.acquire_until(past()).is_some(), "no wait needed, so the deadline does not matter");
    assert_eq!(sem.acquire_many_timeout(2, Duration::from_millis(1)).map(|p| p.num_permits()), Some(2));
}

#[test]
fn a_sleeping_acquirer_is_woken_by_add_permits() {
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let sem = &sem;
        let acquirer = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            sem.acquire().forget();
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        sem.add_permits(1);
        acquirer.join().unwrap();
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn a_sleeping_timed_acquirer_is_woken_by_add_permits() {
    // The timeout is only a bound for a broken implementation; the permit comes long before.
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let sem = &sem;
        let acquirer = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            sem.acquire_timeout(Duration::from_secs(600)).map(|permit| permit.forget()).is_some()
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        sem.add_permits(1);
        assert!(acquirer.join().unwrap());
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn add_permits_k_lets_k_sleepers_through() {
    const SLEEPERS: usize = 5;
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        for _ in 0..SLEEPERS {
            let (sem, probe_tx) = (&sem, probe_tx.clone());
            s.spawn(move || {
                probe_tx.send(SleepProbe::current()).unwrap();
                sem.acquire().forget();
            });
        }
        for probe in probe_rx.iter().take(SLEEPERS) {
            probe.wait_until_asleep();
        }
        sem.add_permits(SLEEPERS);
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn a_sleeper_wanting_several_permits_gets_them_one_release_at_a_time() {
    // One permit at a time: a release may wake it (it wants several, so only it can tell whether
    // they suffice), and it must go back to sleep until the third.
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let sem = &sem;
        let acquirer = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            sem.acquire_many(3).forget();
        });
        let probe = probe_rx.recv().unwrap();
        for _ in 0..3 {
            probe.wait_until_asleep();
            sem.add_permits(1);
        }
        acquirer.join().unwrap();
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn one_release_reaches_single_and_multi_permit_sleepers_alike() {
    // A sleeper wanting several permits makes a release wake everyone; each must still get in.
    let sem = Semaphore::new(0);
    let wants = [1, 3, 1, 2];
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        for &n in &wants {
            let (sem, probe_tx) = (&sem, probe_tx.clone());
            s.spawn(move || {
                probe_tx.send(SleepProbe::current()).unwrap();
                sem.acquire_many(n).forget();
            });
        }
        for probe in probe_rx.iter().take(wants.len()) {
            probe.wait_until_asleep();
        }
        sem.add_permits(wants.iter().sum());
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn adding_past_the_maximum_panics_and_leaves_the_count_unchanged() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    let outcome = catch_unwind(|| sem.add_permits(2));
    let payload = outcome.expect_err("MAX_PERMITS + 1 permits must not fit");
    let message = panic_text(&*payload);
    assert!(message.contains("would pass Semaphore::MAX_PERMITS"), "{message}");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS - 1);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS, "exactly the maximum fits");
}

#[test]
fn adding_more_than_the_maximum_at_once_panics_even_on_an_empty_semaphore() {
    let sem = Semaphore::new(0);
    assert!(catch_unwind(|| sem.add_permits(Semaphore::MAX_PERMITS + 1)).is_err());
    assert!(catch_unwind(|| sem.add_permits(usize::MAX)).is_err());
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn asking_for_more_than_the_maximum_panics_at_once() {
    // No release could ever satisfy these: they must panic, not sleep forever.
    let sem = Semaphore::new(1);
    let too_many = Semaphore::MAX_PERMITS + 1;
    assert!(catch_unwind(|| sem.acquire_many(too_many).forget()).is_err());
    assert!(catch_unwind(|| sem.try_acquire_many(too_many).is_some()).is_err());
    assert!(catch_unwind(|| sem.acquire_many_timeout(too_many, Duration::from_secs(600)).is_some()).is_err());
    assert!(catch_unwind(|| sem.acquire_many_until(too_many, Instant::now()).is_some()).is_err());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn a_semaphore_with_more_than_the_maximum_panics() {
    let _ = Semaphore::new(black_box(Semaphore::MAX_PERMITS + 1));
}

#[test]
fn a_semaphore_can_start_at_the_maximum() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    assert_eq!(sem.acquire_many(Semaphore::MAX_PERMITS).num_permits(), Semaphore::MAX_PERMITS);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
fn a_panic_while_holding_permits_returns_them() {
    let sem = Semaphore::new(3);
    let panicked = thread::scope(|s| {
        s.spawn(|| {
            let _permits = sem.acquire_many(2);
            panic!("deliberate panic while holding two permits");
        })
        .join()
    });
    assert!(panicked.is_err());
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn a_panic_wakes_a_thread_sleeping_for_the_permit() {
    let sem = Semaphore::new(1);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let sem = &sem;
        let panicker = s.spawn(move || {
            let _permit = sem.acquire();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            panic!("deliberate panic while an acquirer sleeps");
        });
        held_rx.recv().unwrap();
        let (probe_tx, probe_rx) = mpsc::channel();
        let acquirer = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            sem.acquire().num_permits()
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        go_tx.send(()).unwrap();
        assert!(panicker.join().is_err());
        assert_eq!(acquirer.join().unwrap(), 1);
    });
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_static_semaphore_limits_threads_and_counts_every_entry() {
    static SLOTS: Semaphore = Semaphore::new(2);
    static ROOM: Occupancy = Occupancy {
        limit: 2,
        inside: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        entries: AtomicUsize::new(0),
    };
    let n = iters(1_000);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..n {
                    let _slot = SLOTS.acquire();
                    ROOM.visit();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    ROOM.check(4 * n);
    assert_eq!(SLOTS.available_permits(), 2);
}

#[test]
fn timed_and_untimed_acquirers_mixed_count_every_entry() {
    // Timed-out acquirers un-count themselves and walk away; the untimed sleepers must still be
    // woken, and the timed ones must still get in eventually.
    let n = iters(1_000);
    let sem = Semaphore::new(2);
    let room = Occupancy::new(2);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (sem, room) = (&sem, &room);
            s.spawn(move || {
                for _ in 0..n {
                    let _permit = if t % 2 == 0 {
                        sem.acquire()
                    } else {
                        loop {
                            if let Some(permit) = sem.acquire_timeout(Duration::from_micros(20)) {
                                break permit;
                            }
                        }
                    };
                    room.visit();
                }
            });
        }
    });
    room.check(THREADS * n);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn producers_and_consumers_passing_permits_lose_none() {
    // Several V-ers and P-ers at once: every permit added is taken exactly once.
    let n = iters(5_000);
    let sem = Semaphore::new(0);
    let taken = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS / 2 {
            s.spawn(|| {
                for _ in 0..n {
                    sem.add_permits(1);
                }
            });
            s.spawn(|| {
                for _ in 0..n {
                    sem.acquire().forget();
                    taken.fetch_add(1, SeqCst);
                }
            });
        }
    });
    assert_eq!(taken.into_inner(), THREADS / 2 * n);
    assert_eq!(sem.available_permits(), 0);
}

/// How many times a thread has gone to sleep so far: its voluntary context switches, from its
/// `/proc` status (Linux). Elsewhere (or under Miri) `None`, and the tests that use it lose
/// their edge.
struct Sleeps(Option<std::path::PathBuf>);

impl Sleeps {
    /// The calling thread's.
    fn current() -> Self {
        if cfg!(miri) {
            return Sleeps(None);
        }
        let task = std::fs::read_link("/proc/thread-self").ok();
        Sleeps(task.map(|task| std::path::Path::new("/proc").join(task).join("status")))
    }

    fn count(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.0.as_ref()?).ok()?;
        let line = text.lines().find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the order it checks needs /proc to know each waiter is asleep, which Miri has not"
)]
fn a_release_does_not_wake_a_waiter_it_cannot_satisfy() {
    // A waiter for two and a waiter for one sleep; one permit comes. It must wake only the
    // waiter for one: the waiter for two sleeps on, not woken to find too few and sleep again
    // (which the semaphore did while it slept on one futex word: a waiter wanting several made
    // every release wake everyone).
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let sem = &sem;
        let two_tx = probe_tx.clone();
        let two = s.spawn(move || {
            two_tx.send((SleepProbe::current(), Sleeps::current())).unwrap();
            sem.acquire_many(2).forget();
        });
        let (two_probe, two_sleeps) = probe_rx.recv().unwrap();
        two_probe.wait_until_asleep();
        let one = s.spawn(move || {
            probe_tx.send((SleepProbe::current(), Sleeps::current())).unwrap();
            sem.acquire().forget();
        });
        probe_rx.recv().unwrap().0.wait_until_asleep();
        let before = two_sleeps.count();
        sem.add_permits(1);
        one.join().unwrap();
        // Had the release woken it, it is runnable now or asleep again, counted once more.
        two_probe.wait_until_asleep();
        assert_eq!(two_sleeps.count(), before, "the release of one permit woke the waiter for two");
        sem.add_permits(2);
        two.join().unwrap();
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the order it checks needs /proc to know each waiter is asleep, which Miri has not"
)]
fn a_release_reports_waking_only_the_waiters_it_can_satisfy() {
    // Waiters for 3, 1 and 2, in that order; one permit wakes only the waiter for 1 (skipping
    // the 3 ahead of it), and then two permits wake only the waiter for 2.
    let sem = Semaphore::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let sem = &sem;
        let mut waiters = Vec::new();
        for n in [3, 1, 2] {
            let probe_tx = probe_tx.clone();
            waiters.push(s.spawn(move || {
                probe_tx.send(SleepProbe::current()).unwrap();
                sem.acquire_many(n).forget();
            }));
            probe_rx.recv().unwrap().wait_until_asleep();
        }
        let mut waiters = waiters.into_iter();
        let (three, one, two) = (waiters.next().unwrap(), waiters.next().unwrap(), waiters.next().unwrap());
        assert_eq!(sem.add_permits_waking(1), 1);
        one.join().unwrap();
        assert_eq!(sem.add_permits_waking(2), 1);
        two.join().unwrap();
        assert_eq!(sem.add_permits_waking(2), 0, "two permits fit no waiter for three");
        assert_eq!(sem.add_permits_waking(1), 1);
        three.join().unwrap();
    });
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.add_permits_waking(1), 0, "nobody waits");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the order it checks needs /proc to know each waiter is asleep, which Miri has not"
)]
fn a_fair_semaphore_serves_waiters_in_order_of_arrival() {
    // Waiters for 3, 1 and 2 arrive in that order, each asleep before the next comes; permits
    // then come one at a time. First come, first served: the waiter for 3 gets the first three,
    // though the waiter for 1 could have used the first alone.
    let sem = Semaphore::new_fair(0);
    let log = Mutex::new(Vec::new());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        for (i, n) in [3, 1, 2].into_iter().enumerate() {
            let (sem, log, probe_tx) = (&sem, &log, probe_tx.clone());
            s.spawn(move || {
                probe_tx.send(SleepProbe::current()).unwrap();
                sem.acquire_many(n).forget();
                log.lock().push(i);
            });
            probe_rx.recv().unwrap().wait_until_asleep();
        }
        for (served, n) in [3, 1, 2].into_iter().enumerate() {
            for given in 1..=n {
                sem.add_permits(1);
                if given < n {
                    // Kept for the head of the line, which cannot use it yet.
                    assert!(sem.try_acquire().is_none(), "a newcomer took a permit kept for the line");
                }
            }
            // Handed over: wait for its entry before the next permit comes.
            while log.lock().len() <= served {
                thread::yield_now();
            }
        }
    });
    assert_eq!(*log.lock(), [0, 1, 2], "the waiters were not served in order of arrival");
    assert_eq!(sem.available_permits(), 0, "every permit went to a waiter: 3 + 1 + 2");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the order it checks needs /proc to know each waiter is asleep, which Miri has not"
)]
fn a_large_fair_request_is_not_overtaken_by_a_stream_of_small_ones() {
    // Main holds both permits while a request for two queues; then small takers start, each
    // taking a permit and giving it back again and again, and main gives its permits back one at
    // a time. Every small taker arrived after the large request, so in fair mode none completes
    // before it: the first permit is kept for the large request, not taken by the stream.
    let n = iters(500);
    const SMALL: usize = 4;
    let sem = Semaphore::new_fair(2);
    let small_done = AtomicUsize::new(0);
    let (probe_tx, probe_rx) = mpsc::channel();
    let small_before_large = thread::scope(|s| {
        let (first, second) = (sem.acquire(), sem.acquire());
        let (sem, small_done) = (&sem, &small_done);
        let large = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            let both = sem.acquire_many(2);
            // Holding every permit: no small taker can complete meanwhile.
            let seen = small_done.load(SeqCst);
            drop(both);
            seen
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        for _ in 0..SMALL {
            s.spawn(move || {
                for _ in 0..n {
                    drop(sem.acquire());
                    small_done.fetch_add(1, SeqCst);
                }
            });
        }
        drop(first);
        thread::yield_now();
        drop(second);
        large.join().unwrap()
    });
    assert_eq!(small_before_large, 0, "small takers that came later were served first");
    assert_eq!(small_done.into_inner(), SMALL * n);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn fair_threads_share_permits_and_lose_none() {
    // The fair semaphore under load, with timed acquirers leaving the line: never more holders
    // than permits, every entry counted, every permit back.
    let n = iters(1_000);
    let sem = Semaphore::new_fair(2);
    let room = Occupancy::new(2);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (sem, room) = (&sem, &room);
            s.spawn(move || {
                for i in 0..n {
                    let _permit = match (t + i) % 3 {
                        0 => sem.acquire_many(2),
                        1 => sem.acquire(),
                        _ => loop {
                            if let Some(permit) = sem.acquire_timeout(Duration::from_micros(20)) {
                                break permit;
                            }
                        },
                    };
                    room.visit();
                }
            });
        }
    });
    room.check(THREADS * n);
    assert_eq!(sem.available_permits(), 2);
    assert!(!sem.has_waiters());
}

// ---------------------------------------------------------------------------------------------
// Owned permits.

#[test]
fn an_owned_permit_moves_into_a_spawned_thread_and_returns_there() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let sem = std::sync::Arc::new(Semaphore::new(2));
    let inside = std::sync::Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..6)
        .map(|_| {
            let permit = sem.acquire_owned();
            assert_send_static(&permit);
            let inside = std::sync::Arc::clone(&inside);
            thread::spawn(move || {
                assert!(inside.fetch_add(1, SeqCst) < 2, "more holders than permits");
                inside.fetch_sub(1, SeqCst);
                drop(permit);
            })
        })
        .collect();
    for job in jobs {
        job.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn owned_permits_count_forget_and_time_out_as_borrowed_ones() {
    let sem = std::sync::Arc::new(Semaphore::new(3));
    let two = sem.acquire_many_owned(2);
    assert_eq!((two.num_permits(), sem.available_permits()), (2, 1));
    assert!(sem.try_acquire_many_owned(2).is_none());
    assert!(sem.acquire_many_owned_timeout(2, Duration::from_millis(1)).is_none());
    assert!(sem.acquire_many_owned_until(2, past()).is_none());
    assert_eq!(sem.available_permits(), 1, "the failed attempts took nothing");
    let one = sem.try_acquire_owned().unwrap();
    assert!(sem.acquire_owned_timeout(Duration::from_millis(1)).is_none());
    assert!(sem.acquire_owned_until(past()).is_none());
    assert!(std::sync::Arc::ptr_eq(one.semaphore(), &sem));
    one.forget();
    drop(two);
    assert_eq!(sem.available_permits(), 2, "the forgotten permit stays out");
    assert_eq!(std::sync::Arc::strong_count(&sem), 1, "every permit gave its Arc back");
}

#[test]
fn a_sleeper_gets_the_permit_an_owned_one_returns_from_another_thread() {
    let sem = std::sync::Arc::new(Semaphore::new(1));
    let permit = sem.acquire_owned();
    let (probe_tx, probe_rx) = mpsc::channel();
    let sleeper = {
        let sem = std::sync::Arc::clone(&sem);
        thread::spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            drop(sem.acquire());
        })
    };
    probe_rx.recv().unwrap().wait_until_asleep();
    thread::spawn(move || drop(permit)).join().unwrap();
    sleeper.join().unwrap();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_permit_whose_return_would_overflow_says_so_in_its_own_words() {
    let sem = Semaphore::new(1);
    let permit = sem.acquire();
    sem.add_permits(Semaphore::MAX_PERMITS);
    let payload = catch_unwind(std::panic::AssertUnwindSafe(|| drop(permit))).expect_err("past the maximum");
    let message = panic_text(&*payload);
    assert!(message.contains("dropping a permit of 1"), "{message}");
    assert!(!message.contains("add_permits(1)"), "it names a call the user never made: {message}");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS, "the count is unchanged");
}
