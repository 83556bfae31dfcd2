//! Models of `Mutex`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease, SwallowedWake};
use turnstile::Mutex;

use crate::{check, check_fails, DEADLOCK, RACE};

/// Three threads increment under the lock: no overlap, no lost increment. With three, one of
/// them usually has to sleep, so this also needs every sleeper to be woken.
fn three_lockers_exclude_each_other<B: Backend>() {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        })
        .collect();
    *lock.lock() += 1;
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(*lock.lock(), 3);
    assert!(!lock.is_locked());
}

/// A holder, a thread that sleeps for the lock, and one that gives up after a timeout. Whatever
/// the timed thread does, the sleeper is woken, the count is exact and the lock ends free.
/// Returns whether the timed thread got in.
fn timeout_leaves_the_lock_consistent<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_lock_for(Duration::from_millis(1)).map(|mut g| *g += 1).is_some())
    };
    *lock.lock() += 1;
    sleeper.join().unwrap();
    let timed_got_in = timed.join().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 2 + u32::from(timed_got_in));
    timed_got_in
}

#[test]
fn mutex_excludes_three_lockers() {
    check(three_lockers_exclude_each_other::<Loom>);
}

#[test]
fn mutex_unlock_without_release_does_not_publish() {
    check_fails(RACE, three_lockers_exclude_each_other::<Loom<NoRelease>>);
}

#[test]
fn check_then_set_mutex_admits_two_holders() {
    check_fails(RACE, three_lockers_exclude_each_other::<Loom<CheckThenSet>>);
}

#[test]
fn mutex_unlock_that_forgets_to_wake_loses_a_sleeper() {
    check_fails(DEADLOCK, three_lockers_exclude_each_other::<Loom<ForgetfulWake>>);
}

#[test]
fn mutex_timeout_leaves_the_lock_consistent() {
    // [gave up, got in]: which outcomes of the timed thread the search reached.
    let seen = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let record = Arc::clone(&seen);
    check(move || {
        let got_in = timeout_leaves_the_lock_consistent::<Loom>();
        record[usize::from(got_in)].store(true, Ordering::Relaxed);
    });
    assert!(seen[0].load(Ordering::Relaxed), "no interleaving had the timed thread give up");
    assert!(seen[1].load(Ordering::Relaxed), "no interleaving had the timed thread get in");
}

#[test]
fn mutex_timeout_model_sees_a_lost_wakeup() {
    check_fails(DEADLOCK, || {
        timeout_leaves_the_lock_consistent::<Loom<ForgetfulWake>>();
    });
}

/// A wait layer whose timed-out waiter swallows the wake meant for the sleeper behind it.
#[test]
fn mutex_timeout_model_sees_a_swallowed_wake() {
    check_fails(DEADLOCK, || {
        timeout_leaves_the_lock_consistent::<Loom<SwallowedWake>>();
    });
}
