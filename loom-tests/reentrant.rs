//! Models of `ReentrantMutex`.

use std::cell::Cell;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease};
use turnstile::ReentrantMutex;

use crate::{check, check_fails, DEADLOCK, RACE};

/// Takes the lock twice, bumps the count through the inner guard, and lets go outer guard first:
/// the hold, and the access to the data loom watches, lasts until the last guard drops.
fn nest_and_bump<B: Backend>(lock: &ReentrantMutex<Cell<u32>, B>) {
    let outer = lock.lock();
    let inner = lock.lock();
    assert!(lock.is_owned_by_current_thread());
    inner.set(outer.get() + 1);
    drop(outer);
    assert!(lock.is_owned_by_current_thread(), "the inner guard still holds");
    drop(inner);
    assert!(!lock.is_owned_by_current_thread());
}

/// Two threads each take the lock twice over: their holds never overlap (loom's tracker of the
/// data sees to it), each sees the other's bump, and the lock ends free. The later one usually
/// has to sleep, so it also needs the last guard's release to wake it.
fn two_nesting_threads_exclude_each_other<B: Backend>() {
    let lock = Arc::new(ReentrantMutex::<Cell<u32>, B>::with_backend(Cell::new(0)));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || nest_and_bump(&lock))
    };
    nest_and_bump(&lock);
    other.join().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(lock.lock().get(), 2);
}

#[test]
fn reentrant_mutex_nesting_threads_exclude_each_other() {
    check(two_nesting_threads_exclude_each_other::<Loom>);
}

#[test]
fn reentrant_mutex_unlock_without_release_does_not_publish() {
    check_fails(RACE, two_nesting_threads_exclude_each_other::<Loom<NoRelease>>);
}

#[test]
fn check_then_set_reentrant_mutex_admits_two_holders() {
    check_fails(RACE, two_nesting_threads_exclude_each_other::<Loom<CheckThenSet>>);
}

#[test]
fn reentrant_mutex_unlock_that_forgets_to_wake_loses_a_sleeper() {
    check_fails(DEADLOCK, two_nesting_threads_exclude_each_other::<Loom<ForgetfulWake>>);
}
