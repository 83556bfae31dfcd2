//! The bounded buffer with semaphores, as the textbook writes it: `empty` counts free slots, `full`
//! counts filled ones, and a mutex guards the buffer itself.
//!
//! ```text
//! producer:                     consumer:
//!     item = produce()              P(full)
//!     P(empty)                      lock(mutex)
//!     lock(mutex)                   item = remove()
//!     insert(item)                  unlock(mutex)
//!     unlock(mutex)                 V(empty)
//!     V(full)                       consume(item)
//! ```
//!
//! `empty` starts at the capacity and `full` at 0, so `empty + full` is the capacity whenever no
//! thread is between its P and its V. A producer's P(empty) waits while the buffer is full, a
//! consumer's P(full) while it is empty; the mutex only makes the insert and the remove
//! themselves exclusive. P in one thread and V in another is [`SemaphorePermit::forget`] plus
//! [`Semaphore::add_permits`]: the permit a producer takes from `empty` comes back to `empty` from
//! a consumer.
//!
//! **Why the mutex comes after P, never before.** Swap a producer's first two steps, taking the
//! mutex and then P(empty), and let the buffer be full. The producer now holds the mutex while it
//! sleeps on `empty`. The only thing that can raise `empty` is a consumer's V(empty), and a
//! consumer reaches it only after removing an item, under the mutex, which the sleeping producer
//! holds. Each waits for the other for ever: a deadlock. (The consumer side is the same with
//! `full` and an empty buffer.) P decides *whether* a thread may go on and may sleep for a long
//! time; the mutex is held only for the few instructions that touch the buffer, and never while
//! sleeping on anything else.
//!
//! Run with `cargo run --release --example producer_consumer_semaphores [ITEMS]` (default
//! 100000 items per producer).
//!
//! [`SemaphorePermit::forget`]: turnstile::SemaphorePermit::forget

use std::collections::VecDeque;
use std::thread;

use turnstile::{Mutex, Semaphore};

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;
const CAPACITY: usize = 8;
const DEFAULT_ITEMS: u64 = 100_000;

/// The shared buffer and its two counting semaphores.
struct BoundedBuffer {
    slots: Mutex<VecDeque<u64>>,
    /// Free slots: producers take, consumers give back.
    empty: Semaphore,
    /// Filled slots: consumers take, producers give back.
    full: Semaphore,
}

impl BoundedBuffer {
    fn new(capacity: usize) -> Self {
        BoundedBuffer {
            slots: Mutex::new(VecDeque::with_capacity(capacity)),
            empty: Semaphore::new(capacity),
            full: Semaphore::new(0),
        }
    }

    fn insert(&self, item: u64) {
        self.empty.acquire().forget(); // P(empty): first, before the mutex (see the module docs)
        let mut slots = self.slots.lock();
        slots.push_back(item);
        assert!(slots.len() <= CAPACITY, "P(empty) let a producer into a full buffer");
        drop(slots);
        self.full.add_permits(1); // V(full)
    }

    fn remove(&self) -> u64 {
        self.full.acquire().forget(); // P(full)
        let item = self.slots.lock().pop_front().expect("P(full) let a consumer into an empty buffer");
        self.empty.add_permits(1); // V(empty)
        item
    }
}

/// Item `i` of producer `p`: distinct for every pair, so a lost or doubled item shows.
fn item(p: usize, i: u64, items: u64) -> u64 {
    p as u64 * items + i
}

fn main() {
    let items: u64 = match std::env::args().nth(1) {
        None => DEFAULT_ITEMS,
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: producer_consumer_semaphores [ITEMS]: {arg:?} is not a positive count");
                std::process::exit(2);
            }
        },
    };
    let total = PRODUCERS as u64 * items;
    let buffer = BoundedBuffer::new(CAPACITY);

    let consumed: Vec<(u64, u64, Vec<bool>)> = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let buffer = &buffer;
            s.spawn(move || (0..items).for_each(|i| buffer.insert(item(p, i, items))));
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let buffer = &buffer;
                // The first consumer takes the remainder, so that every item has a taker.
                let share = total / CONSUMERS as u64 + if c == 0 { total % CONSUMERS as u64 } else { 0 };
                s.spawn(move || {
                    let (mut count, mut sum) = (0, 0);
                    let mut seen = vec![false; total as usize];
                    for _ in 0..share {
                        let item = buffer.remove();
                        assert!(!seen[item as usize], "item {item} arrived twice");
                        seen[item as usize] = true;
                        count += 1;
                        sum += item;
                    }
                    (count, sum, seen)
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().expect("a consumer panicked")).collect()
    });

    let mut arrived = vec![false; total as usize];
    for (c, (count, sum, seen)) in consumed.iter().enumerate() {
        println!("consumer {c} took {count} items (checksum {sum})");
        for (i, _) in seen.iter().enumerate().filter(|(_, seen)| **seen) {
            assert!(!arrived[i], "item {i} arrived at two consumers");
            arrived[i] = true;
        }
    }
    let count: u64 = consumed.iter().map(|(count, _, _)| count).sum();
    let checksum: u64 = consumed.iter().map(|(_, sum, _)| sum).sum();
    let expected_checksum = total * (total - 1) / 2;
    println!(
        "{PRODUCERS} producers, {CONSUMERS} consumers, {CAPACITY} slots: {count} of {total} items arrived, \
         checksum {checksum} (expected {expected_checksum})"
    );
    assert_eq!(count, total, "every item arrives");
    assert_eq!(checksum, expected_checksum, "every item arrives once");
    assert!(arrived.iter().all(|&a| a), "no item is missing");
    assert!(buffer.slots.lock().is_empty());
    assert_eq!((buffer.empty.available_permits(), buffer.full.available_permits()), (CAPACITY, 0));
    println!("every item arrived exactly once; the buffer is empty with {CAPACITY} free slots");
}
