//! Loom models of [`BoundedQueue`], over turnstile's own `Mutex` and `Condvar` algorithms.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom`. Each model checks one
//! property of the queue in every interleaving loom explores; each has a twin: the same model
//! over a copy of the queue with one classic mistake, which loom must reject.
//!
//! Models hold the queue in `std::sync::Arc`, not loom's: a failing model unwinds, and loom's
//! `Arc` cannot be dropped then. turnstile's locks inside are loom-aware all the same.
#![cfg(loom)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use downstream_loom::sync::{Condvar, Mutex};
use downstream_loom::BoundedQueue;
use loom::thread;

/// Explores `model` with at most `preemptions` preemptions (fewer if `LOOM_MAX_PREEMPTIONS`
/// says so), and checks that there was more than one interleaving to explore.
///
/// The bound is what keeps a model's time in hand: a wait on turnstile's condvar is a few dozen
/// loom steps (its words, the wait queue's bucket lock, the modelled futex), and each bound more
/// multiplies the search. The two-thread model below explores 25,000 interleavings at 2 (about
/// 3 s); the three-thread one 3,000 at 1 (under a second) and takes over a
/// minute and a half at 2.
fn check(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound =
        Some(builder.preemption_bound.map_or(preemptions, |bound| bound.min(preemptions)));
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        model();
    });
    let runs = runs.load(Relaxed);
    println!("explored {runs} interleavings");
    assert!(runs > 1, "the model ran once: it checks nothing a plain test would not");
}

/// What the models need of a queue: the real one, or a broken copy.
trait Queue: Send + Sync + 'static {
    fn with_capacity(capacity: usize) -> Self;
    fn push(&self, item: u32);
    fn pop(&self) -> u32;
}

impl Queue for BoundedQueue<u32> {
    fn with_capacity(capacity: usize) -> Self {
        BoundedQueue::new(capacity)
    }
    fn push(&self, item: u32) {
        BoundedQueue::push(self, item);
    }
    fn pop(&self) -> u32 {
        BoundedQueue::pop(self)
    }
}

/// One producer pushes two items through a queue of one slot (so the second push waits for the
/// consumer); the consumer receives each exactly once, in order.
fn every_item_arrives_once_in_order<Q: Queue>() {
    let queue = Arc::new(Q::with_capacity(1));
    let producer = {
        let queue = Arc::clone(&queue);
        thread::spawn(move || (1..=2).for_each(|item| queue.push(item)))
    };
    let received: Vec<u32> = (0..2).map(|_| queue.pop()).collect();
    producer.join().unwrap();
    assert_eq!(received, [1, 2]);
}

/// One producer, two consumers, two items: each consumer gets one, neither gets nothing, and
/// no item is taken twice.
fn two_consumers_share_the_items<Q: Queue>() {
    let queue = Arc::new(Q::with_capacity(1));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.pop())
        })
        .collect();
    queue.push(1);
    queue.push(2);
    let mut received: Vec<u32> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    received.sort_unstable();
    assert_eq!(received, [1, 2]);
}

#[test]
fn every_item_arrives_once_in_order_through_one_slot() {
    check(2, every_item_arrives_once_in_order::<BoundedQueue<u32>>);
}

#[test]
#[should_panic(expected = "deadlock")]
fn a_notify_sent_before_the_push_is_lost() {
    check(2, every_item_arrives_once_in_order::<NotifyBeforePush>);
}

#[test]
fn two_consumers_each_get_one_item() {
    check(1, two_consumers_share_the_items::<BoundedQueue<u32>>);
}

#[test]
#[should_panic(expected = "pop woke to an empty queue")]
fn a_pop_that_checks_with_if_takes_from_an_empty_queue() {
    check(1, two_consumers_share_the_items::<IfNotWhile>);
}

/// The queue with `push` notifying before it takes the mutex and adds the item. A consumer that
/// found the queue empty and is about to wait has not registered yet; the notify finds nobody to
/// wake, and the consumer then sleeps with the item in the queue: a lost wakeup.
struct NotifyBeforePush {
    items: Mutex<VecDeque<u32>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Queue for NotifyBeforePush {
    fn with_capacity(_: usize) -> Self {
        NotifyBeforePush {
            items: Mutex::with_backend(VecDeque::new()),
            not_empty: Condvar::with_backend(),
            not_full: Condvar::with_backend(),
        }
    }
    fn push(&self, item: u32) {
        self.not_empty.notify_one(); // BUG: before the item is in the queue
        let mut items = self.items.lock();
        while items.len() == 1 {
            self.not_full.wait(&mut items);
        }
        items.push_back(item);
    }
    fn pop(&self) -> u32 {
        let mut items = self.items.lock();
        while items.is_empty() {
            self.not_empty.wait(&mut items);
        }
        let item = items.pop_front().unwrap();
        self.not_full.notify_one();
        item
    }
}

/// The queue with `pop` checking its condition once (`if`) instead of in a loop. A consumer woken
/// for an item re-takes the mutex after the notifier, and the other consumer can take the mutex,
/// and the item, first.
struct IfNotWhile {
    items: Mutex<VecDeque<u32>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Queue for IfNotWhile {
    fn with_capacity(_: usize) -> Self {
        IfNotWhile {
            items: Mutex::with_backend(VecDeque::new()),
            not_empty: Condvar::with_backend(),
            not_full: Condvar::with_backend(),
        }
    }
    fn push(&self, item: u32) {
        let mut items = self.items.lock();
        while items.len() == 1 {
            self.not_full.wait(&mut items);
        }
        items.push_back(item);
        self.not_empty.notify_one();
    }
    fn pop(&self) -> u32 {
        let mut items = self.items.lock();
        // BUG: `if`, not `while`.
        if items.is_empty() {
            self.not_empty.wait(&mut items);
        }
        let item = items.pop_front().expect("pop woke to an empty queue");
        self.not_full.notify_one();
        item
    }
}
