//! `turnstile::Monitor` from the outside: the classic bounded buffer with two named conditions,
//! conditions bound to their monitor, panics inside the monitor, timeouts, `try_lock`, and a
//! `Debug` that never blocks.
//!
//! Nothing here sleeps to order threads or measures time: a thread that sends something while
//! inside the monitor is waiting on its condition once the receiver can enter (it leaves only
//! inside the wait, after registering).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use turnstile::{Condition, Monitor};

mod common;
use common::{bump, iters, panic_text, SleepProbe};

/// The classic `monitor ProducerConsumer`: a buffer of `capacity` slots, with producers waiting on
/// `not_full` and consumers on `not_empty`.
struct ProducerConsumer {
    buffer: Monitor<VecDeque<usize>>,
    not_full: Condition,
    not_empty: Condition,
    capacity: usize,
}

impl ProducerConsumer {
    fn new(capacity: usize) -> Self {
        let buffer = Monitor::new(VecDeque::new());
        let (not_full, not_empty) = (buffer.condition(), buffer.condition());
        ProducerConsumer { buffer, not_full, not_empty, capacity }
    }

    fn insert(&self, item: usize) {
        let mut inside = self.buffer.lock();
        inside.wait_while_on(&self.not_full, |buffer| buffer.len() == self.capacity);
        inside.push_back(item);
        inside.notify_one_on(&self.not_empty);
    }

    fn remove(&self) -> usize {
        let mut inside = self.buffer.lock();
        inside.wait_while_on(&self.not_empty, |buffer| buffer.is_empty());
        let item = inside.pop_front().unwrap();
        inside.notify_one_on(&self.not_full);
        item
    }
}

#[test]
fn a_bounded_buffer_with_two_conditions_passes_every_item_in_order() {
    let n = iters(10_000);
    let pc = ProducerConsumer::new(2);
    let received: Vec<usize> = thread::scope(|s| {
        s.spawn(|| (0..n).for_each(|i| pc.insert(i)));
        s.spawn(|| (0..n).map(|_| pc.remove()).collect()).join().unwrap()
    });
    assert_eq!(received, (0..n).collect::<Vec<_>>());
    assert!(pc.buffer.lock().is_empty());
}

#[test]
fn several_producers_and_consumers_pass_every_item_exactly_once() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    let n = iters(6_000);
    let pc = ProducerConsumer::new(2);
    let mut received: Vec<usize> = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let pc = &pc;
            s.spawn(move || (0..n).for_each(|i| pc.insert(p * n + i)));
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| s.spawn(|| (0..PRODUCERS * n / CONSUMERS).map(|_| pc.remove()).collect::<Vec<_>>()))
            .collect();
        consumers.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    received.sort_unstable();
    assert_eq!(received, (0..PRODUCERS * n).collect::<Vec<_>>());
}

#[test]
fn the_built_in_condition_counts_every_handover() {
    // Two threads take turns through the built-in condition: each waits for its parity.
    let n = iters(5_000);
    let monitor = Monitor::new((0usize, 0u64));
    thread::scope(|s| {
        for parity in 0..2 {
            let monitor = &monitor;
            s.spawn(move || {
                for _ in 0..n {
                    let mut inside = monitor.lock();
                    inside.wait_while(|(turn, _)| *turn % 2 != parity);
                    bump(&mut inside.1);
                    inside.0 += 1;
                    inside.notify_all();
                }
            });
        }
    });
    assert_eq!(monitor.into_inner(), (2 * n, 2 * n as u64));
}

#[test]
fn a_notify_on_one_condition_does_not_reach_a_waiter_on_another() {
    let monitor = Monitor::new(false);
    let (here, elsewhere) = (monitor.condition(), monitor.condition());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut inside = monitor.lock();
            probe_tx.send(SleepProbe::current()).unwrap();
            inside.wait_while_on(&here, |done| !*done);
        });
        let probe = probe_rx.recv().unwrap();
        let mut inside = monitor.lock(); // the waiter is registered on `here`
        probe.wait_until_asleep();
        assert!(!inside.notify_one_on(&elsewhere), "nobody waits on `elsewhere`");
        assert!(!inside.notify_one(), "nobody waits on the built-in condition");
        *inside = true;
        assert!(inside.notify_one_on(&here));
        drop(inside);
        waiter.join().unwrap();
    });
}

#[test]
fn waiting_on_a_condition_of_another_monitor_panics_and_leaves_both_usable() {
    let (a, b) = (Monitor::new(1), Monitor::new(2));
    let of_b = b.condition();
    let mut inside_a = a.lock();
    let misuse = catch_unwind(AssertUnwindSafe(|| inside_a.wait_on(&of_b)));
    let payload = misuse.expect_err("a condition of another monitor must panic, not wait");
    let message = panic_text(&*payload);
    assert!(message.contains("used with the guard of monitor"), "{message}");
    for misuse in [
        catch_unwind(AssertUnwindSafe(|| inside_a.notify_all_on(&of_b))).err(),
        catch_unwind(AssertUnwindSafe(|| inside_a.wait_for_on(&of_b, Duration::from_secs(600)))).err(),
        catch_unwind(AssertUnwindSafe(|| inside_a.wait_while_on(&of_b, |_| true))).err(),
    ] {
        assert!(misuse.is_some(), "every use of a foreign condition panics");
    }
    *inside_a += 10;
    drop(inside_a);
    assert_eq!(*a.lock(), 11);
    assert!(!b.lock().notify_one_on(&of_b), "b's condition still works with b");
}

#[test]
fn a_panic_inside_the_monitor_leaves_it_usable() {
    let monitor = Monitor::new(vec![1]);
    let panicked = thread::scope(|s| {
        s.spawn(|| {
            let mut inside = monitor.lock();
            inside.push(2);
            panic!("deliberate panic inside the monitor");
        })
        .join()
    });
    assert!(panicked.is_err());
    let mut inside = monitor.try_lock().expect("the panicking thread left the monitor");
    assert_eq!(*inside, [1, 2], "the state is as the panicking code left it");
    inside.push(3);
    drop(inside);
    assert_eq!(*monitor.lock(), [1, 2, 3]);
}

#[test]
fn a_panic_in_a_wait_predicate_leaves_the_monitor_usable() {
    let monitor = Monitor::new(0u32);
    let (waiting_tx, waiting_rx) = mpsc::channel::<()>();
    let panicked = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut inside = monitor.lock();
            waiting_tx.send(()).unwrap();
            inside.wait_while(|n| match *n {
                0 => true,
                _ => panic!("deliberate panic in the predicate, after a wake"),
            });
        });
        waiting_rx.recv().unwrap();
        let mut inside = monitor.lock();
        *inside = 1;
        assert!(inside.notify_one());
        drop(inside);
        waiter.join()
    });
    assert!(panicked.is_err());
    let inside = monitor.lock();
    assert_eq!(*inside, 1);
    assert!(!inside.notify_one(), "the panicked waiter left nothing registered");
}

#[test]
fn wait_for_without_a_notify_times_out_and_stays_inside() {
    let monitor = Monitor::new(0);
    let of_monitor = monitor.condition();
    let mut inside = monitor.lock();
    assert!(inside.wait_for(Duration::from_millis(1)).timed_out());
    assert!(inside.wait_for_on(&of_monitor, Duration::from_millis(1)).timed_out());
    assert!(inside.wait_while_for(|n| *n == 0, Duration::from_millis(1)).timed_out());
    assert!(inside.wait_while_for_on(&of_monitor, |n| *n == 0, Duration::from_millis(1)).timed_out());
    assert!(monitor.try_lock().is_none(), "the timed-out waiter is inside again");
    *inside += 1;
    drop(inside);
    assert_eq!(*monitor.lock(), 1);
}

#[test]
fn wait_while_for_does_not_time_out_when_the_condition_is_already_false() {
    let monitor = Monitor::new(5);
    let of_monitor = monitor.condition();
    let mut inside = monitor.lock();
    assert!(!inside.wait_while_for(|n| *n == 0, Duration::ZERO).timed_out());
    assert!(!inside.wait_while_for_on(&of_monitor, |n| *n == 0, Duration::ZERO).timed_out());
}

#[test]
fn try_lock_returns_none_while_another_thread_is_inside() {
    let monitor = Monitor::new(());
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (leave_tx, leave_rx) = mpsc::channel::<()>();
    let got = thread::scope(|s| {
        let monitor = &monitor;
        s.spawn(move || {
            let _inside = monitor.lock();
            inside_tx.send(()).unwrap();
            // Returns when `leave_tx` is dropped.
            let _ = leave_rx.recv();
        });
        inside_rx.recv().unwrap();
        let got = monitor.try_lock().is_some();
        drop(leave_tx);
        got
    });
    assert!(!got);
    assert!(monitor.try_lock().is_some(), "free again once the other thread left");
}

#[test]
fn debug_shows_locked_without_blocking_while_another_thread_is_inside() {
    let monitor = Monitor::new(41);
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (leave_tx, leave_rx) = mpsc::channel::<()>();
    let shown = thread::scope(|s| {
        let monitor = &monitor;
        s.spawn(move || {
            let _inside = monitor.lock();
            inside_tx.send(()).unwrap();
            // Returns when `leave_tx` is dropped.
            let _ = leave_rx.recv();
        });
        inside_rx.recv().unwrap();
        let shown = format!("{monitor:?}");
        drop(leave_tx);
        shown
    });
    assert!(shown.contains("<locked>") && !shown.contains("41"), "{shown}");
    let free = format!("{monitor:?}");
    assert!(free.contains("41") && !free.contains("<locked>"), "{free}");
}

#[test]
fn a_static_monitor_counts_every_entry() {
    static COUNTER: Monitor<u64> = Monitor::new(0);
    let n = iters(2_000);
    let handles: Vec<_> =
        (0..4).map(|_| thread::spawn(move || (0..n).for_each(|_| bump(&mut COUNTER.lock())))).collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*COUNTER.lock(), 4 * n as u64);
}
