//! The dining philosophers, with `turnstile::Mutex` forks and deadlock avoided by resource
//! ordering.
//!
//! Five philosophers sit at a round table with one fork between each pair of neighbours:
//! philosopher `i` has fork `i` on the left and fork `(i + 1) % 5` on the right, and needs both
//! to eat. Each fork is a `Mutex<u32>` that counts how often it was used.
//!
//! **Why "left, then right" deadlocks.** If every philosopher picks up the left fork and then
//! waits for the right one, all five can pick up their left fork at the same moment. Then fork
//! `(i + 1) % 5`, which philosopher `i` waits for, is held by philosopher `i + 1`, who waits for
//! the fork held by `i + 2`, and so on around the table back to `i`: a cycle of threads each
//! holding one lock and waiting for the next. None of them ever lets go, so none ever eats. This
//! is the "circular wait" of Coffman's four deadlock conditions; the other three (exclusive
//! forks, holding one fork while waiting for another, no taking a fork away) are all present.
//!
//! **Why ordering fixes it.** Number the forks and have everyone pick up the *lower-numbered* of
//! their two forks first. Philosophers 0 to 3 still go left then right, but philosopher 4, whose
//! forks are 4 and 0, picks up fork 0 first, breaking the symmetry. Now a philosopher waiting
//! for fork `j` holds only forks numbered below `j`. A cycle of waits would need fork numbers that
//! strictly increase all the way around and come back to where they started, which is
//! impossible, so there is no cycle, and the philosopher holding the highest-numbered fork in any
//! chain of waits can always get its second fork, eat, and put both down.
//!
//! `turnstile::Mutex` is not fair, so ordering rules out deadlock but not, in principle, one
//! philosopher being overtaken for a long time; with a fixed number of meals everyone finishes.
//!
//! Run with `cargo run --release --example dining_philosophers [MEALS]` (default 1000 meals each).

use std::thread;

use turnstile::Mutex;

const PHILOSOPHERS: usize = 5;
const DEFAULT_MEALS: u32 = 1000;

/// Philosopher `i`'s two forks, lower-numbered first.
fn forks_in_order(i: usize) -> (usize, usize) {
    let (left, right) = (i, (i + 1) % PHILOSOPHERS);
    (left.min(right), left.max(right))
}

fn main() {
    let meals: u32 = match std::env::args().nth(1) {
        None => DEFAULT_MEALS,
        Some(arg) => match arg.parse() {
            Ok(n) => n,
            Err(err) => {
                eprintln!("usage: dining_philosophers [MEALS]: {arg:?} is not a meal count: {err}");
                std::process::exit(2);
            }
        },
    };

    let forks: Vec<Mutex<u32>> = (0..PHILOSOPHERS).map(|_| Mutex::new(0)).collect();

    let eaten: Vec<u32> = thread::scope(|s| {
        let diners: Vec<_> = (0..PHILOSOPHERS)
            .map(|i| {
                let forks = &forks;
                s.spawn(move || {
                    let (first, second) = forks_in_order(i);
                    let mut eaten = 0;
                    for _ in 0..meals {
                        let mut a = forks[first].lock();
                        let mut b = forks[second].lock();
                        // Eat: both forks are ours until the guards drop.
                        *a += 1;
                        *b += 1;
                        eaten += 1;
                        drop(b);
                        drop(a);
                        // Think, giving the neighbours a chance at the forks.
                        thread::yield_now();
                    }
                    eaten
                })
            })
            .collect();
        diners.into_iter().map(|d| d.join().expect("a philosopher panicked")).collect()
    });

    for (i, n) in eaten.iter().enumerate() {
        println!("philosopher {i} ate {n} meals");
    }
    let uses: Vec<u32> = forks.into_iter().map(Mutex::into_inner).collect();
    for (i, n) in uses.iter().enumerate() {
        println!("fork {i} was used {n} times");
    }

    assert!(eaten.iter().all(|&n| n == meals), "every philosopher eats {meals} meals");
    // Each fork is shared by two philosophers and used once per meal by each.
    assert!(uses.iter().all(|&n| n == 2 * meals), "every fork is used {} times", 2 * meals);
    let total: u32 = eaten.iter().sum();
    println!("{total} meals in all, no deadlock");
}
