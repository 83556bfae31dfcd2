//! The dining philosophers, two ways: the classic solution (a state per philosopher and a
//! semaphore each), and forks as `turnstile::Mutex`es taken in a fixed order.
//!
//! Five philosophers sit at a round table with one fork between each pair of neighbours:
//! philosopher `i` has fork `i` on the left and fork `(i + 1) % 5` on the right, and needs both
//! to eat.
//!
//! **Why "left, then right" deadlocks.** If every philosopher picks up the left fork and then
//! waits for the right one, all five can pick up their left fork at the same moment. Then fork
//! `(i + 1) % 5`, which philosopher `i` waits for, is held by philosopher `i + 1`, who waits for
//! the fork held by `i + 2`, and so on around the table back to `i`: a cycle of threads each
//! holding one lock and waiting for the next. None of them ever lets go, so none ever eats. This
//! is the "circular wait" of Coffman's four deadlock conditions; the other three (exclusive
//! forks, holding one fork while waiting for another, no taking a fork away) are all present.
//!
//! # The classic solution (the default mode)
//!
//! Nobody holds one fork while waiting for the other: a philosopher takes both at once or none.
//! A `Mutex` guards an array of states, THINKING, HUNGRY or EATING, one per philosopher, and each
//! philosopher has a `Semaphore` that starts at 0:
//!
//! ```text
//! take_forks(i):  lock; state[i] = HUNGRY; test(i); unlock; P(s[i])
//! put_forks(i):   lock; state[i] = THINKING; test(left(i)); test(right(i)); unlock
//! test(i):        if state[i] = HUNGRY and neither neighbour is EATING:
//!                     state[i] = EATING; V(s[i])
//! ```
//!
//! A hungry philosopher becomes EATING only when neither neighbour eats, so neighbours never eat
//! together; `P(s[i])` then either passes at once (its own `test` let it eat) or sleeps until a
//! neighbour who puts its forks down runs `test(i)` for it. No fork is held while waiting, so
//! there is no circular wait. The mutex is held only to look at and change states, never while
//! sleeping on a semaphore. Up to two philosophers eat at once, which no single lock around the
//! table would allow. The solution is not starvation-free (two neighbours can take turns eating
//! for ever while the one between them stays hungry); with a bounded number of meals the
//! neighbours run out and everyone finishes.
//!
//! The program checks exclusion twice: `test` asserts, under the mutex, that no two neighbours
//! are EATING in the whole array after its change, and each philosopher, while eating, checks
//! flags that its neighbours raise only while they eat.
//!
//! # Resource ordering (`ordered`)
//!
//! Keep the forks as locks (a `Mutex<u32>` each, counting its uses) but number them, and have
//! everyone pick up the *lower-numbered* of their two forks first. Philosophers 0 to 3 still go
//! left then right, but philosopher 4, whose forks are 4 and 0, picks up fork 0 first, breaking
//! the symmetry. Now a philosopher waiting for fork `j` holds only forks numbered below `j`. A
//! cycle of waits would need fork numbers that strictly increase all the way around and come back
//! to where they started, which is impossible, so there is no cycle, and the philosopher holding
//! the highest-numbered fork in any chain of waits can always get its second fork, eat, and put
//! both down. `turnstile::Mutex` is not fair, so ordering rules out deadlock but not, in
//! principle, one philosopher being overtaken for a long time; with a fixed number of meals
//! everyone finishes.
//!
//! Run with `cargo run --release --example dining_philosophers [semaphores|ordered] [MEALS]`
//! (default: `semaphores`, 1000 meals each).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;

use turnstile::{Mutex, Semaphore};

const PHILOSOPHERS: usize = 5;
const DEFAULT_MEALS: u32 = 1000;

fn left(i: usize) -> usize {
    (i + PHILOSOPHERS - 1) % PHILOSOPHERS
}

fn right(i: usize) -> usize {
    (i + 1) % PHILOSOPHERS
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Thinking,
    Hungry,
    Eating,
}

/// The classic table: the states under one mutex, and a semaphore per philosopher on which it
/// waits for its forks.
struct Table {
    state: Mutex<[State; PHILOSOPHERS]>,
    /// `s[i]`: gets a permit when `test(i)` lets philosopher `i` eat.
    s: [Semaphore; PHILOSOPHERS],
    /// Raised by a philosopher only while it eats; checked by its neighbours while they eat.
    eating: [AtomicBool; PHILOSOPHERS],
    /// How many eat at this moment, and the most there ever were.
    eaters: AtomicUsize,
    most_eaters: AtomicUsize,
}

impl Table {
    fn new() -> Self {
        Table {
            state: Mutex::new([State::Thinking; PHILOSOPHERS]),
            s: std::array::from_fn(|_| Semaphore::new(0)),
            eating: std::array::from_fn(|_| AtomicBool::new(false)),
            eaters: AtomicUsize::new(0),
            most_eaters: AtomicUsize::new(0),
        }
    }

    fn take_forks(&self, i: usize) {
        let mut state = self.state.lock();
        state[i] = State::Hungry;
        self.test(&mut state, i);
        drop(state);
        self.s[i].acquire().forget(); // P(s[i]): sleeps unless `test` let us eat
    }

    fn put_forks(&self, i: usize) {
        let mut state = self.state.lock();
        state[i] = State::Thinking;
        self.test(&mut state, left(i));
        self.test(&mut state, right(i));
    }

    /// Lets philosopher `i` eat if it is hungry and neither neighbour eats. Called with the
    /// state mutex held.
    fn test(&self, state: &mut [State; PHILOSOPHERS], i: usize) {
        if state[i] == State::Hungry && state[left(i)] != State::Eating && state[right(i)] != State::Eating {
            state[i] = State::Eating;
            let neighbours_eating =
                (0..PHILOSOPHERS).any(|j| state[j] == State::Eating && state[right(j)] == State::Eating);
            assert!(!neighbours_eating, "two neighbours eating after test({i}): {state:?}");
            self.s[i].add_permits(1); // V(s[i])
        }
    }

    fn eat(&self, i: usize) {
        self.eating[i].store(true, SeqCst);
        // SeqCst: a neighbour's flag is lowered before its `put_forks`, which happens before the
        // `test` that let us eat; a raised flag here means two neighbours eat together.
        assert!(
            !self.eating[left(i)].load(SeqCst) && !self.eating[right(i)].load(SeqCst),
            "philosopher {i} eats while a neighbour eats"
        );
        let now = self.eaters.fetch_add(1, SeqCst) + 1;
        self.most_eaters.fetch_max(now, SeqCst);
        thread::yield_now(); // eating takes a moment, so that meals overlap
        self.eaters.fetch_sub(1, SeqCst);
        self.eating[i].store(false, SeqCst);
    }
}

/// The classic solution; returns the meals each philosopher ate.
fn dine_with_semaphores(meals: u32) -> Vec<u32> {
    let table = Table::new();
    let eaten: Vec<u32> = thread::scope(|s| {
        let diners: Vec<_> = (0..PHILOSOPHERS)
            .map(|i| {
                let table = &table;
                s.spawn(move || {
                    let mut eaten = 0;
                    for _ in 0..meals {
                        thread::yield_now(); // think
                        table.take_forks(i);
                        table.eat(i);
                        eaten += 1;
                        table.put_forks(i);
                    }
                    eaten
                })
            })
            .collect();
        diners.into_iter().map(|d| d.join().expect("a philosopher panicked")).collect()
    });

    let most = table.most_eaters.load(SeqCst);
    println!("at most {most} philosophers ate at the same time");
    assert!(most <= PHILOSOPHERS / 2, "only non-neighbours can eat together");
    assert_eq!(*table.state.lock(), [State::Thinking; PHILOSOPHERS], "everyone ends thinking");
    assert!(table.s.iter().all(|s| s.available_permits() == 0), "every V(s[i]) was taken up by a P");
    eaten
}

/// Philosopher `i`'s two forks, lower-numbered first.
fn forks_in_order(i: usize) -> (usize, usize) {
    let (left, right) = (i, (i + 1) % PHILOSOPHERS);
    (left.min(right), left.max(right))
}

/// Forks as mutexes, taken lower-numbered first; returns the meals each philosopher ate.
fn dine_with_ordered_forks(meals: u32) -> Vec<u32> {
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

    let uses: Vec<u32> = forks.into_iter().map(Mutex::into_inner).collect();
    for (i, n) in uses.iter().enumerate() {
        println!("fork {i} was used {n} times");
    }
    // Each fork is shared by two philosophers and used once per meal by each.
    assert!(uses.iter().all(|&n| n == 2 * meals), "every fork is used {} times", 2 * meals);
    eaten
}

fn usage(problem: &str) -> ! {
    eprintln!("usage: dining_philosophers [semaphores|ordered] [MEALS]: {problem}");
    std::process::exit(2);
}

fn main() {
    // A failed check in one philosopher ends the program: the others may be asleep waiting for
    // forks that the failed one will never put down.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));

    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ordered = match args.first().map(String::as_str) {
        Some("ordered") => true,
        Some("semaphores") => false,
        _ => {
            // No mode named: the classic solution, with the meal count (if any) as first argument.
            args.insert(0, String::from("semaphores"));
            false
        }
    };
    let meals: u32 = match args.get(1) {
        None => DEFAULT_MEALS,
        Some(arg) => arg.parse().unwrap_or_else(|err| usage(&format!("{arg:?} is not a meal count: {err}"))),
    };
    if args.len() > 2 {
        usage(&format!("unexpected arguments {:?}", &args[2..]));
    }

    let eaten = if ordered {
        println!("{PHILOSOPHERS} philosophers, {meals} meals each, forks taken in order");
        dine_with_ordered_forks(meals)
    } else {
        println!("{PHILOSOPHERS} philosophers, {meals} meals each, the classic states and semaphores");
        dine_with_semaphores(meals)
    };

    for (i, n) in eaten.iter().enumerate() {
        println!("philosopher {i} ate {n} meals");
    }
    assert!(eaten.iter().all(|&n| n == meals), "every philosopher eats {meals} meals");
    let total: u32 = eaten.iter().sum();
    println!("{total} meals in all, no deadlock, no two neighbours eating at once");
}
