//! Waiting and notifying, turnstile's `Mutex` + `Condvar` against `std` and `parking_lot`, in one
//! run.
//!
//! Every peer runs the same code through `Library`, which only spells the lock, `wait_while` and
//! the notifies the way each crate does. Notifies are made after unlocking, as is usual.
//!
//! * `ping_pong/<peer>/<threads>`: 2, 4, 8 or 16 threads pass a turn around a ring through one
//!   mutex, each waiting on a condvar of its own. Each locks, waits while it is not its turn,
//!   takes it, unlocks and calls `notify_one` on the next thread's condvar. One element is one
//!   turn (one hand-off; at 2 threads, half a round trip). Nearly every turn wakes a sleeping
//!   thread, so this measures the notify-to-running latency of `notify_one` and the wait path.
//! * `notify_all/<peer>/<waiters>`: 2, 4, 8 or 16 threads wait on a condvar for a generation
//!   counter to change. The main thread bumps it under the mutex and calls `notify_all`; each
//!   waiter takes the mutex, counts itself as having seen the generation and waits again; the
//!   last of them tells the main thread on a second condvar. One element is one broadcast round,
//!   from the bump until all waiters have seen it: this measures how a broadcast hands the mutex
//!   to a crowd (all woken at once to fight for it, or moved onto the mutex and woken one by one).
//!
//! **Kernel counts.** After criterion's figures for each id, a line
//! `counts <family>/<peer>/<threads>: futex/op = …, cs/op = … (vcsw/op = …, ivcsw/op = …; N ops)`:
//! futex system calls and context switches per element (per turn, per broadcast round), counted
//! by every thread of the run for itself (the main thread too, which notifies in `notify_all`)
//! from leaving the starting barrier to its last operation, summed over all of the id's samples,
//! warm-up included (`common::counts`; `n/a` where the counter cannot be opened).
//!
//! `parking_lot_again` is the same benchmark as `parking_lot`, run a second time: the gap
//! between the two is the run-to-run noise of the machine, and differences between peers smaller
//! than that gap mean nothing.
//!
//! Threads are spawned per run and released by a barrier; spawning is outside the timed span. A
//! run fails if the turns or sightings counted under the mutex are not exactly those asked for;
//! a lost wakeup shows up as a run that never ends.
//!
//! Run with `cargo bench --bench condvar`. Settings are sized so the whole file takes about 50
//! seconds on a 2-core machine (32 benchmarks of 1 s each, plus analysis; three runs in under
//! three minutes); the first line of the output says so. `--warm-up-time`, `--measurement-time`,
//! `--sample-size` and `--nresamples` on the command line override them.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion, Throughput};

mod common;
use common::counts::{self, Cost, Meter};
use common::share;

const SAMPLES: usize = 10;
const WARM_UP: Duration = Duration::from_millis(300);
const MEASUREMENT: Duration = Duration::from_millis(700);
const RESAMPLES: usize = 10_000;
/// What the header says one run takes with the settings above.
const EXPECTED: &str = "about 50 s on a 2-core machine";

/// Threads of `ping_pong` and waiters of `notify_all`: 1x to 8x the cores of a 2-core machine.
const THREADS: [usize; 4] = [2, 4, 8, 16];

/// What the threads share under the mutex.
#[derive(Default)]
struct State {
    /// `ping_pong`: turns taken; player `turns % players` is to move.
    turns: u64,
    /// `notify_all`: the round the main thread has announced.
    generation: u64,
    /// `notify_all`: waiters that have seen a generation, summed over generations.
    seen: u64,
    /// `notify_all`: the run is over; waiters leave.
    stop: bool,
}

/// A mutex around a `State` and its condition variables, as one library spells them.
trait Library {
    type Mutex: Sync;
    type Condvar: Sync;

    fn mutex() -> Self::Mutex;
    fn condvar() -> Self::Condvar;

    /// Lock, run `f` on the state, unlock.
    fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut State) -> R) -> R;

    /// Lock, wait on `condvar` while `condition` holds, run `then` on the state, unlock.
    fn wait_while_then<R>(
        mutex: &Self::Mutex,
        condvar: &Self::Condvar,
        condition: impl FnMut(&mut State) -> bool,
        then: impl FnOnce(&mut State) -> R,
    ) -> R;

    fn notify_one(condvar: &Self::Condvar);
    fn notify_all(condvar: &Self::Condvar);
}

/// The `Library` of a crate whose `Mutex::lock` returns the guard and whose `Condvar` waits on
/// `&mut guard` (turnstile and parking_lot spell it the same way).
macro_rules! guard_library {
    ($name:ident, $krate:ident) => {
        struct $name;

        impl Library for $name {
            type Mutex = $krate::Mutex<State>;
            type Condvar = $krate::Condvar;

            fn mutex() -> Self::Mutex {
                $krate::Mutex::new(State::default())
            }

            fn condvar() -> Self::Condvar {
                $krate::Condvar::new()
            }

            #[inline]
            fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut State) -> R) -> R {
                f(&mut mutex.lock())
            }

            #[inline]
            fn wait_while_then<R>(
                mutex: &Self::Mutex,
                condvar: &Self::Condvar,
                condition: impl FnMut(&mut State) -> bool,
                then: impl FnOnce(&mut State) -> R,
            ) -> R {
                let mut state = mutex.lock();
                condvar.wait_while(&mut state, condition);
                then(&mut state)
            }

            #[inline]
            fn notify_one(condvar: &Self::Condvar) {
                condvar.notify_one();
            }

            #[inline]
            fn notify_all(condvar: &Self::Condvar) {
                condvar.notify_all();
            }
        }
    };
}

guard_library!(Turnstile, turnstile);
guard_library!(ParkingLot, parking_lot);

struct Std;

impl Library for Std {
    type Mutex = std::sync::Mutex<State>;
    type Condvar = std::sync::Condvar;

    fn mutex() -> Self::Mutex {
        std::sync::Mutex::new(State::default())
    }

    fn condvar() -> Self::Condvar {
        std::sync::Condvar::new()
    }

    #[inline]
    fn with<R>(mutex: &Self::Mutex, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut mutex.lock().unwrap())
    }

    #[inline]
    fn wait_while_then<R>(
        mutex: &Self::Mutex,
        condvar: &Self::Condvar,
        condition: impl FnMut(&mut State) -> bool,
        then: impl FnOnce(&mut State) -> R,
    ) -> R {
        then(&mut condvar.wait_while(mutex.lock().unwrap(), condition).unwrap())
    }

    #[inline]
    fn notify_one(condvar: &Self::Condvar) {
        condvar.notify_one();
    }

    #[inline]
    fn notify_all(condvar: &Self::Condvar) {
        condvar.notify_all();
    }
}

/// Wall time for `players` threads to take `turns` turns between them, in a ring, and what
/// they cost the kernel.
///
/// The clock starts when the barrier releases the players and stops when all are joined.
fn run_ping_pong<L: Library>(players: usize, turns: u64) -> (Duration, Cost) {
    let mutex = L::mutex();
    let turn_is_yours: Vec<L::Condvar> = (0..players).map(|_| L::condvar()).collect();
    let start = Barrier::new(players + 1);
    let ring = players as u64;
    let (t0, cost) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..players)
            .map(|me| {
                let (mutex, turn_is_yours, start) = (&mutex, &turn_is_yours, &start);
                s.spawn(move || {
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    for _ in 0..share(turns, players, me) {
                        L::wait_while_then(
                            mutex,
                            &turn_is_yours[me],
                            |state| state.turns % ring != me as u64,
                            |state| state.turns += 1,
                        );
                        L::notify_one(&turn_is_yours[(me + 1) % players]);
                    }
                    meter.stop()
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        let cost = threads.into_iter().fold(Cost::ZERO, |sum, thread| sum + thread.join().unwrap());
        (t0, cost)
    });
    // Read after the scope: the players are joined.
    let elapsed = t0.elapsed();
    assert_eq!(L::with(&mutex, |state| state.turns), turns, "turns lost: two players moved at once");
    (elapsed, cost)
}

/// Wall time for `rounds` broadcasts, each seen by all `waiters` waiters, and what they cost the
/// kernel (the main thread's notifies included).
///
/// The clock starts when the barrier releases the waiters and stops when the last round has been
/// seen by all; telling the waiters to leave, and joining them, is outside the timed span.
fn run_notify_all<L: Library>(waiters: usize, rounds: u64) -> (Duration, Cost) {
    let (mutex, generation_changed, all_seen) = (L::mutex(), L::condvar(), L::condvar());
    let start = Barrier::new(waiters + 1);
    let everyone = waiters as u64;
    let (elapsed, cost) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..waiters)
            .map(|_| {
                s.spawn(|| {
                    let mut meter = Meter::new();
                    start.wait();
                    meter.start();
                    let mut last = 0;
                    loop {
                        let waiting = |state: &mut State| state.generation == last && !state.stop;
                        let news = L::wait_while_then(&mutex, &generation_changed, waiting, |state| {
                            if state.stop {
                                return None;
                            }
                            state.seen += 1;
                            Some((state.generation, state.seen == everyone * state.generation))
                        });
                        let Some((generation, last_to_see)) = news else { return meter.stop() };
                        last = generation;
                        if last_to_see {
                            L::notify_one(&all_seen);
                        }
                    }
                })
            })
            .collect();
        let mut meter = Meter::new();
        start.wait();
        meter.start();
        let t0 = Instant::now();
        for round in 1..=rounds {
            L::with(&mutex, |state| state.generation = round);
            L::notify_all(&generation_changed);
            L::wait_while_then(&mutex, &all_seen, |state| state.seen < everyone * round, |_| ());
        }
        let elapsed = t0.elapsed();
        let cost = meter.stop();
        L::with(&mutex, |state| state.stop = true);
        L::notify_all(&generation_changed);
        // The waiters' own counts end with the stop round: one round more than timed, of thousands.
        (elapsed, threads.into_iter().fold(cost, |sum, thread| sum + thread.join().unwrap()))
    });
    assert_eq!(
        L::with(&mutex, |state| state.seen),
        everyone * rounds,
        "a waiter saw a generation twice, or the count was lost"
    );
    (elapsed, cost)
}

/// One peer at `threads` threads: criterion's figures, then the `counts` line of the id (over
/// all of its samples, warm-up included).
fn bench_counted(
    group: &mut BenchmarkGroup<'_, WallTime>,
    (family, name): (&str, &str),
    threads: usize,
    run: fn(usize, u64) -> (Duration, Cost),
) {
    let (mut cost, mut ops) = (Cost::ZERO, 0);
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
        b.iter_custom(|iters| {
            let (elapsed, sample) = run(t, iters);
            cost = cost + sample;
            ops += iters;
            elapsed
        })
    });
    counts::print_line(&format!("{family}/{name}/{threads}"), cost, ops);
}

fn ping_pong(c: &mut Criterion) {
    let family = "ping_pong";
    let mut group = c.benchmark_group(family);
    // One element = one turn: a hand-off from one player to the next.
    group.throughput(Throughput::Elements(1));

    for t in THREADS {
        let g = &mut group;
        bench_counted(g, (family, "turnstile"), t, run_ping_pong::<Turnstile>);
        bench_counted(g, (family, "std"), t, run_ping_pong::<Std>);
        bench_counted(g, (family, "parking_lot"), t, run_ping_pong::<ParkingLot>);
        // CONTROL: exactly the `parking_lot` benchmark again.
        bench_counted(g, (family, "parking_lot_again"), t, run_ping_pong::<ParkingLot>);
    }

    group.finish();
}

fn notify_all(c: &mut Criterion) {
    let family = "notify_all";
    let mut group = c.benchmark_group(family);
    // One element = one broadcast round, until all waiters have seen it.
    group.throughput(Throughput::Elements(1));

    for t in THREADS {
        let g = &mut group;
        bench_counted(g, (family, "turnstile"), t, run_notify_all::<Turnstile>);
        bench_counted(g, (family, "std"), t, run_notify_all::<Std>);
        bench_counted(g, (family, "parking_lot"), t, run_notify_all::<ParkingLot>);
        // CONTROL: exactly the `parking_lot` benchmark again.
        bench_counted(g, (family, "parking_lot_again"), t, run_notify_all::<ParkingLot>);
    }

    group.finish();
}

criterion_group! {
    name = benches;
    // No plots (criterion's plotters backend costs seconds per benchmark); settings on
    // `Criterion` itself, so that the command line overrides them.
    config = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .nresamples(RESAMPLES)
        .without_plots();
    targets = ping_pong, notify_all
}

/// `criterion_main!`, after a header: the command, how long it takes, whether futex calls can be
/// counted here.
fn main() {
    println!(
        "bench condvar: cargo bench --bench condvar ({EXPECTED}; {SAMPLES} samples, {WARM_UP:?} warm-up + \
         {MEASUREMENT:?} per benchmark)"
    );
    let countable = counts::futex_countable();
    println!("bench condvar: futex calls counted: {}", if countable { "yes" } else { "no (n/a)" });
    benches();
    Criterion::default().configure_from_args().final_summary();
}
