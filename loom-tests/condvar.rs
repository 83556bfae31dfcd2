//! Models of `Condvar`.

use std::time::Duration;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, BlindWait, CheckThenSet, ForgetfulWake, Loom, LostRequeue};
use turnstile::{Condvar, Mutex};

use crate::{check, check_bounded, check_fails, check_fails_bounded, Arrivals, DEADLOCK, RACE};

/// Preemptions for the three-thread `notify_all` model (see `check_bounded`).
const THREE: usize = 2;

type Shared<T, B> = Arc<(Mutex<T, B>, Condvar<B>)>;

fn shared<T, B: Backend>(value: T) -> Shared<T, B> {
    Arc::new((Mutex::with_backend(value), Condvar::with_backend()))
}

/// One waiter, one notifier that sets a flag under the mutex and notifies after unlocking. The
/// notify may come at any point of the wait (before it registers, between its unlock and its
/// sleep, while it sleeps): it is never lost, and the waiter wakes only to find the flag set.
fn a_notify_racing_a_wait_is_not_lost<B: Backend>() {
    let state = shared::<bool, B>(false);
    let notifier = {
        let state = Arc::clone(&state);
        thread::spawn(move || {
            *state.0.lock() = true;
            state.1.notify_one();
        })
    };
    let mut ready = state.0.lock();
    if !*ready {
        // One wait, not a loop: the modelled futex may return spuriously, and the condvar must
        // not pass that on. It returns only for the notify, so the flag is set by then.
        state.1.wait(&mut ready);
        assert!(*ready, "the wait returned with no notify");
    }
    drop(ready);
    notifier.join().unwrap();
}

/// Two waiters and a `notify_all`. Both wake (the second through the mutex it was requeued onto),
/// they take the mutex one at a time (the tracker sees any overlap), and both count.
fn notify_all_wakes_every_waiter<B: Backend>() {
    let state = shared::<u32, B>(0);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut count = state.0.lock();
                state.1.wait_while(&mut count, |count| *count == 0);
                *count += 1;
            })
        })
        .collect();
    *state.0.lock() = 1;
    state.1.notify_all();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(*state.0.lock(), 3);
    assert!(!state.0.is_locked());
}

/// Three waiters and a `notify_all` with the mutex free: every waiter parked is moved onto the
/// mutex's queue and the oldest is woken; each moved thread's unlock must wake the next. Every
/// waiter wakes and counts, one at a time, and the mutex ends idle (no bit left).
fn notify_all_moves_a_line_onto_the_free_mutex<B: Backend>() {
    let state = shared::<u32, B>(0);
    // Each waiter arrives under the mutex, before its wait; the notifier starts once all have,
    // so every interleaving of the waits with the notify stays reachable at a low bound.
    let arrived = Arrivals::new();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (state, arrived) = (Arc::clone(&state), Arc::clone(&arrived));
            thread::spawn(move || {
                let mut count = state.0.lock();
                arrived.arrive();
                state.1.wait_while(&mut count, |count| *count == 0);
                *count += 1;
            })
        })
        .collect();
    arrived.wait_for(3, 0);
    *state.0.lock() = 1;
    state.1.notify_all();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(*state.0.lock(), 4);
    assert!(state.0.is_idle(), "the mutex kept a mark or a count");
}

/// A timed waiter racing a `notify_one`: if the notify reports that it woke a thread, the waiter
/// does not report a timeout (the notify is not lost to the deadline).
fn a_notify_that_reports_a_wake_is_not_lost_to_a_timeout<B: Backend>() {
    let state = shared::<(), B>(());
    let notifier = {
        let state = Arc::clone(&state);
        thread::spawn(move || state.1.notify_one())
    };
    let timed_out = state.1.wait_for(&mut state.0.lock(), Duration::from_millis(1)).timed_out();
    let woke_someone = notifier.join().unwrap();
    assert!(!(woke_someone && timed_out), "notify_one said it woke the waiter, which timed out");
}

#[test]
fn condvar_notify_racing_a_wait_is_not_lost() {
    check(a_notify_racing_a_wait_is_not_lost::<Loom>);
}

/// A wait that sleeps without comparing the word: the notify slips in between and is lost.
#[test]
fn condvar_over_a_blind_wait_loses_the_notify() {
    check_fails(DEADLOCK, a_notify_racing_a_wait_is_not_lost::<Loom<BlindWait>>);
}

#[test]
fn condvar_notify_that_forgets_to_wake_loses_the_waiter() {
    check_fails(DEADLOCK, a_notify_racing_a_wait_is_not_lost::<Loom<ForgetfulWake>>);
}

#[test]
fn condvar_notify_all_requeues_every_waiter_and_keeps_exclusion() {
    check_bounded(THREE, notify_all_wakes_every_waiter::<Loom>);
}

/// A requeue that strands the waiters it claims to have moved onto the mutex.
#[test]
fn condvar_lost_requeue_strands_a_waiter() {
    check_fails_bounded(THREE, DEADLOCK, notify_all_wakes_every_waiter::<Loom<LostRequeue>>);
}

/// Four threads: no preemptions, only the switches where a thread blocks (its wait, the bucket
/// lock, the arrivals), which still reach all three waiters moved at once (asserted). At one
/// preemption the search runs past seven minutes.
const FOUR: usize = 0;

#[test]
fn condvar_notify_all_moves_a_line_of_three_onto_the_free_mutex() {
    Condvar::<Loom>::take_most_requeued();
    check_bounded(FOUR, notify_all_moves_a_line_onto_the_free_mutex::<Loom>);
    // All three moved at once: a line that the mutex's unlocks wake one by one.
    assert_eq!(Condvar::<Loom>::take_most_requeued(), 3, "no execution moved all three waiters");
}

#[test]
fn condvar_lost_requeue_strands_a_line_of_three() {
    check_fails_bounded(FOUR, DEADLOCK, notify_all_moves_a_line_onto_the_free_mutex::<Loom<LostRequeue>>);
}

/// Two waiters and a `notify_all` made while the notifier holds the mutex: both waiters parked
/// are moved onto the mutex's queue and nobody is woken until the notifier unlocks; then the
/// mutex's unlocks wake them one at a time. Every waiter counts, and the mutex ends idle.
fn notify_all_with_the_mutex_held_moves_every_waiter<B: Backend>() {
    let state = shared::<u32, B>(0);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut count = state.0.lock();
                state.1.wait_while(&mut count, |count| *count == 0);
                *count += 1;
            })
        })
        .collect();
    {
        let mut count = state.0.lock();
        *count = 1;
        state.1.notify_all();
    }
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(*state.0.lock(), 3);
    assert!(state.0.is_idle(), "the mutex kept a bit set");
}

#[test]
fn condvar_notify_all_with_the_mutex_held_moves_every_waiter() {
    Condvar::<Loom>::take_most_requeued();
    check_bounded(THREE, notify_all_with_the_mutex_held_moves_every_waiter::<Loom>);
    assert_eq!(Condvar::<Loom>::take_most_requeued(), 2, "no execution moved both waiters");
}

#[test]
fn condvar_notify_all_with_the_mutex_held_and_a_lost_requeue_deadlocks() {
    check_fails_bounded(
        THREE,
        DEADLOCK,
        notify_all_with_the_mutex_held_moves_every_waiter::<Loom<LostRequeue>>,
    );
}

#[test]
fn condvar_timed_wait_keeps_a_reported_wake() {
    check(a_notify_that_reports_a_wake_is_not_lost_to_a_timeout::<Loom>);
}

#[test]
fn condvar_timed_wait_over_non_atomic_updates_is_caught() {
    // Splitting the counts' updates breaks the mutex's too, and loom reports the race on the
    // data first. (Over the queue a waker's pick outlasts the deadline in the queue itself: its
    // own twin, `PickedTimesOut`, is in `queue.rs`; the condvar's tokens make it immune.)
    check_fails(RACE, a_notify_that_reports_a_wake_is_not_lost_to_a_timeout::<Loom<CheckThenSet>>);
}
