//! Waiting and notifying, turnstile's `Mutex` + `Condvar` against `std` and `parking_lot`, in one
//! run.
//!
//! Every peer runs the same code through `Library`, which only spells the lock, `wait_while` and
//! the notifies the way each crate does. Notifies are made after unlocking, as is usual.
//!
//! * `ping_pong/<peer>`: two threads take turns through one mutex and one condvar. Each locks,
//!   waits while it is not its turn, flips the turn, unlocks and calls `notify_one`. One element
//!   is one round trip (a turn of each thread). Nearly every turn wakes a sleeping thread, so
//!   this measures the notify-to-running latency of `notify_one` and the wait path.
//! * `notify_all/<peer>`: `WAITERS` (8) threads wait on a condvar for a generation counter to
//!   change. The main thread bumps it under the mutex and calls `notify_all`; each waiter takes
//!   the mutex, counts itself as having seen the generation and waits again; the last of them
//!   tells the main thread on a second condvar. One element is one broadcast round, from the bump
//!   until all 8 have seen it: this measures how a broadcast hands the mutex to a crowd (all woken
//!   at once to fight for it, or moved onto the mutex and woken one by one).
//!
//! `parking_lot_again` is the same benchmark as `parking_lot`, run a second time: the gap
//! between the two is the run-to-run noise of the machine, and differences between peers smaller
//! than that gap mean nothing.
//!
//! Threads are spawned per run and released by a barrier; spawning is outside the timed span. A
//! run fails if the turns or sightings counted under the mutex are not exactly those asked for;
//! a lost wakeup shows up as a run that never ends.
//!
//! Run with `cargo bench --bench condvar`. Settings are sized so the whole file takes about a
//! minute on a 2-core machine.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(2);

/// Threads waiting for each broadcast in `notify_all`: 4x the cores of the machines this runs on.
const WAITERS: u64 = 8;

/// What the threads share under the mutex.
#[derive(Default)]
struct State {
    /// `ping_pong`: turns taken; player `turns % 2` is to move.
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

/// Wall time for two threads to make `rounds` round trips, taking turns.
///
/// The clock starts when the barrier releases the players and stops when both are joined.
fn run_ping_pong<L: Library>(rounds: u64) -> Duration {
    let (mutex, turn_taken) = (L::mutex(), L::condvar());
    let start = Barrier::new(3);
    let elapsed = std::thread::scope(|s| {
        for player in 0..2 {
            let (mutex, turn_taken, start) = (&mutex, &turn_taken, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..rounds {
                    L::wait_while_then(
                        mutex,
                        turn_taken,
                        |state| state.turns % 2 != player,
                        |state| state.turns += 1,
                    );
                    L::notify_one(turn_taken);
                }
            });
        }
        start.wait();
        // The scope joins both players before it returns; `t0.elapsed()` is read after that.
        Instant::now()
    })
    .elapsed();
    assert_eq!(L::with(&mutex, |state| state.turns), 2 * rounds, "turns lost: two players moved at once");
    elapsed
}

/// Wall time for `rounds` broadcasts, each seen by all `WAITERS` waiters.
///
/// The clock starts when the barrier releases the waiters and stops when the last round has been
/// seen by all; telling the waiters to leave, and joining them, is outside the timed span.
fn run_notify_all<L: Library>(rounds: u64) -> Duration {
    let (mutex, generation_changed, all_seen) = (L::mutex(), L::condvar(), L::condvar());
    let start = Barrier::new(WAITERS as usize + 1);
    let elapsed = std::thread::scope(|s| {
        for _ in 0..WAITERS {
            s.spawn(|| {
                start.wait();
                let mut last = 0;
                loop {
                    let waiting = |state: &mut State| state.generation == last && !state.stop;
                    let news = L::wait_while_then(&mutex, &generation_changed, waiting, |state| {
                        if state.stop {
                            return None;
                        }
                        state.seen += 1;
                        Some((state.generation, state.seen == WAITERS * state.generation))
                    });
                    let Some((generation, last_to_see)) = news else { return };
                    last = generation;
                    if last_to_see {
                        L::notify_one(&all_seen);
                    }
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        for round in 1..=rounds {
            L::with(&mutex, |state| state.generation = round);
            L::notify_all(&generation_changed);
            L::wait_while_then(&mutex, &all_seen, |state| state.seen < WAITERS * round, |_| ());
        }
        let elapsed = t0.elapsed();
        L::with(&mutex, |state| state.stop = true);
        L::notify_all(&generation_changed);
        elapsed
    });
    assert_eq!(
        L::with(&mutex, |state| state.seen),
        WAITERS * rounds,
        "a waiter saw a generation twice, or the count was lost"
    );
    elapsed
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    // One element = one round trip: a turn of each player.
    group.throughput(Throughput::Elements(1));

    group.bench_function("turnstile", |b| b.iter_custom(run_ping_pong::<Turnstile>));
    group.bench_function("std", |b| b.iter_custom(run_ping_pong::<Std>));
    group.bench_function("parking_lot", |b| b.iter_custom(run_ping_pong::<ParkingLot>));
    // CONTROL: exactly the `parking_lot` benchmark again.
    group.bench_function("parking_lot_again", |b| b.iter_custom(run_ping_pong::<ParkingLot>));

    group.finish();
}

fn notify_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("notify_all");
    group.sample_size(SAMPLES).warm_up_time(WARM_UP).measurement_time(MEASUREMENT);
    // One element = one broadcast round, until all `WAITERS` have seen it.
    group.throughput(Throughput::Elements(1));

    group.bench_function("turnstile", |b| b.iter_custom(run_notify_all::<Turnstile>));
    group.bench_function("std", |b| b.iter_custom(run_notify_all::<Std>));
    group.bench_function("parking_lot", |b| b.iter_custom(run_notify_all::<ParkingLot>));
    // CONTROL: exactly the `parking_lot` benchmark again.
    group.bench_function("parking_lot_again", |b| b.iter_custom(run_notify_all::<ParkingLot>));

    group.finish();
}

criterion_group!(benches, ping_pong, notify_all);
criterion_main!(benches);
