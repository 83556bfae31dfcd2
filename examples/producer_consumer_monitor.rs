//! The bounded buffer as the classic `monitor ProducerConsumer`: the buffer lives inside a
//! `turnstile::Monitor`, producers wait on the condition `not_full`, consumers on `not_empty`.
//!
//! ```text
//! monitor ProducerConsumer
//!     condition not_full, not_empty;
//!     procedure insert(item):  while count = N do wait(not_full);  put(item);  signal(not_empty)
//!     procedure remove():      while count = 0 do wait(not_empty); take();     signal(not_full)
//! ```
//!
//! Compared with the semaphore version (`producer_consumer_semaphores`), there is no ordering
//! to get wrong: a procedure runs inside the monitor, and a wait leaves the monitor while it
//! sleeps and re-enters before it returns, so a waiting producer never blocks the consumer that
//! would make room. The conditions are Mesa's, as in every thread library: a signalled thread
//! re-enters after the signaller and possibly others, so it re-checks its condition in a loop
//! (`wait_while_on` is that loop). Two named conditions mean a `signal` wakes only the side it
//! concerns: a consumer taking an item wakes a producer, never another consumer.
//!
//! Run with `cargo run --release --example producer_consumer_monitor [ITEMS]` (default 100000
//! items per producer).

use std::collections::VecDeque;
use std::thread;

use turnstile::{Condition, Monitor};

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 2;
const CAPACITY: usize = 8;
const DEFAULT_ITEMS: u64 = 100_000;

/// The monitor and its two named conditions.
struct ProducerConsumer {
    buffer: Monitor<VecDeque<u64>>,
    not_full: Condition,
    not_empty: Condition,
}

impl ProducerConsumer {
    fn new() -> Self {
        let buffer = Monitor::new(VecDeque::with_capacity(CAPACITY));
        let (not_full, not_empty) = (buffer.condition(), buffer.condition());
        ProducerConsumer { buffer, not_full, not_empty }
    }

    fn insert(&self, item: u64) {
        let mut inside = self.buffer.lock();
        inside.wait_while_on(&self.not_full, |buffer| buffer.len() == CAPACITY);
        inside.push_back(item);
        inside.notify_one_on(&self.not_empty);
    }

    fn remove(&self) -> u64 {
        let mut inside = self.buffer.lock();
        inside.wait_while_on(&self.not_empty, |buffer| buffer.is_empty());
        let item = inside.pop_front().expect("a consumer left its wait with the buffer empty");
        inside.notify_one_on(&self.not_full);
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
                eprintln!("usage: producer_consumer_monitor [ITEMS]: {arg:?} is not a positive count");
                std::process::exit(2);
            }
        },
    };
    let total = PRODUCERS as u64 * items;
    let pc = ProducerConsumer::new();

    let consumed: Vec<Vec<u64>> = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let pc = &pc;
            s.spawn(move || (0..items).for_each(|i| pc.insert(item(p, i, items))));
        }
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let pc = &pc;
                // The first consumer takes the remainder, so that every item has a taker.
                let share = total / CONSUMERS as u64 + if c == 0 { total % CONSUMERS as u64 } else { 0 };
                s.spawn(move || (0..share).map(|_| pc.remove()).collect::<Vec<u64>>())
            })
            .collect();
        consumers.into_iter().map(|c| c.join().expect("a consumer panicked")).collect()
    });

    for (c, taken) in consumed.iter().enumerate() {
        println!("consumer {c} took {} items (checksum {})", taken.len(), taken.iter().sum::<u64>());
        // Each producer's items leave the buffer in the order it put them in.
        for p in 0..PRODUCERS {
            let mine = taken.iter().filter(|&&item| item / items == p as u64);
            assert!(mine.clone().zip(mine.skip(1)).all(|(a, b)| a < b), "producer {p}'s items out of order");
        }
    }
    let mut all: Vec<u64> = consumed.concat();
    let count = all.len() as u64;
    let checksum: u64 = all.iter().sum();
    let expected_checksum = total * (total - 1) / 2;
    println!(
        "{PRODUCERS} producers, {CONSUMERS} consumers, {CAPACITY} slots: {count} of {total} items arrived, \
         checksum {checksum} (expected {expected_checksum})"
    );
    assert_eq!(count, total, "every item arrives");
    assert_eq!(checksum, expected_checksum, "the checksum matches");
    all.sort_unstable();
    assert!(all.iter().copied().eq(0..total), "every item arrives exactly once");
    assert!(pc.buffer.lock().is_empty());
    println!("every item arrived exactly once, each producer's in order; the buffer is empty");
}
