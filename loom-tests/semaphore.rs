//! Models of `Semaphore`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, CheckThenSet, ForgetfulWake, Loom, NoFence, SwallowedWake};
use turnstile::Semaphore;

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK};

/// Preemptions for the three-thread models (see `check_bounded`).
const THREE: usize = 3;

const TOO_MANY: &str = "more holders than permits";

/// Three threads share two permits; each holds one for a moment. At no point are more than two
/// inside, and every permit comes back. (A plain counter outside the model counts who is inside:
/// loom runs one thread at a time, so it is exact.)
fn holders_never_exceed_permits<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let enter = {
        let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
        move || {
            let _permit = sem.acquire();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= 2, "{TOO_MANY}: {now} inside");
            thread::yield_now();
            inside.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let others: Vec<_> = (0..2).map(|_| thread::spawn(enter.clone())).collect();
    enter();
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 2);
}

/// P in one thread, V in the other (the seeds' signalling use): the acquirer may be asleep when
/// the permit comes, and must be woken.
fn a_sleeping_acquirer_gets_the_released_permit<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let consumer = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire().forget())
    };
    sem.add_permits(1);
    consumer.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// A thread that sleeps for a permit and one that gives up after a timeout, and one release.
/// Whatever the timed thread does, it takes a permit only when it reports one, the sleeper is
/// woken, and every permit is accounted for. Returns whether the timed thread got one.
fn a_timed_out_acquire_takes_nothing_and_swallows_no_wake<B: Backend>() -> bool {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let sleeper = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || drop(sem.acquire()))
    };
    let timed = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_timeout(std::time::Duration::from_millis(1)).is_some())
    };
    sem.add_permits(1);
    let timed_got_one = timed.join().unwrap();
    sleeper.join().unwrap();
    assert_eq!(sem.available_permits(), 1, "a permit was lost or made up");
    timed_got_one
}

#[test]
fn semaphore_admits_at_most_its_permits() {
    check_bounded(THREE, holders_never_exceed_permits::<Loom>);
}

#[test]
fn check_then_set_semaphore_admits_too_many() {
    check_fails_bounded(THREE, TOO_MANY, holders_never_exceed_permits::<Loom<CheckThenSet>>);
}

#[test]
fn semaphore_wakes_a_sleeping_acquirer() {
    check(a_sleeping_acquirer_gets_the_released_permit::<Loom>);
}

#[test]
fn semaphore_release_that_forgets_to_wake_loses_the_acquirer() {
    check_fails(DEADLOCK, a_sleeping_acquirer_gets_the_released_permit::<Loom<ForgetfulWake>>);
}

/// Without the store→load order, the releaser can miss the sleeper while the sleeper misses the
/// permit.
#[test]
fn semaphore_without_store_load_order_loses_a_wakeup() {
    check_fails(DEADLOCK, a_sleeping_acquirer_gets_the_released_permit::<Loom<NoFence>>);
}

#[test]
fn semaphore_timed_out_acquire_takes_nothing_and_swallows_no_wake() {
    // [gave up, got one]: which outcomes of the timed thread the search reached.
    let seen = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let record = Arc::clone(&seen);
    check_bounded(THREE, move || {
        let got = a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom>();
        record[usize::from(got)].store(true, Ordering::Relaxed);
    });
    assert!(seen[0].load(Ordering::Relaxed), "no interleaving had the timed thread give up");
    assert!(seen[1].load(Ordering::Relaxed), "no interleaving had the timed thread get a permit");
}

#[test]
fn semaphore_timeout_model_sees_a_lost_wakeup() {
    check_fails_bounded(THREE, DEADLOCK, || {
        a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom<ForgetfulWake>>();
    });
}

/// A timed acquirer that a wake reached but that reports a timeout anyway takes a last look at
/// the permits before giving up, so the swallowed wake costs nothing: the model still passes.
#[test]
fn semaphore_survives_a_swallowed_wake() {
    check_bounded(THREE, || {
        a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom<SwallowedWake>>();
    });
}
