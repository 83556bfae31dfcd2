//! Models of `SpinLock`.

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, CheckThenSet, Loom, NoRelease};
use turnstile::SpinLock;

use crate::{check, check_fails, RACE};

/// Two threads increment under the lock, one of them twice (covering unlock-then-relock); the
/// guards never overlap and no increment is lost. (Two threads: with three spinners loom's search
/// of the spin loops outgrows its branch budget.)
fn lockers_exclude_each_other<B: Backend>() {
    let lock = Arc::new(SpinLock::<u32, B>::with_backend(0));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            *lock.lock() += 1;
            *lock.lock() += 1;
        })
    };
    *lock.lock() += 1;
    other.join().unwrap();
    assert_eq!(*lock.lock(), 3);
}

/// `try_lock` fails only while the other thread holds the lock, and never lets both in.
fn try_lock_never_admits_two<B: Backend>() {
    let lock = Arc::new(SpinLock::<u32, B>::with_backend(0));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_lock().map(|mut g| *g += 1).is_some())
    };
    let mine = lock.try_lock().map(|mut g| *g += 1).is_some();
    let theirs = other.join().unwrap();
    assert!(mine || theirs, "with two tries and no holder, somebody gets in");
    assert_eq!(*lock.lock(), u32::from(mine) + u32::from(theirs));
}

#[test]
fn spinlock_excludes_other_lockers() {
    check(lockers_exclude_each_other::<Loom>);
}

#[test]
fn check_then_set_admits_two_holders() {
    check_fails(RACE, lockers_exclude_each_other::<Loom<CheckThenSet>>);
}

#[test]
fn spinlock_unlock_without_release_does_not_publish() {
    check_fails(RACE, lockers_exclude_each_other::<Loom<NoRelease>>);
}

#[test]
fn spinlock_try_lock_never_admits_two() {
    check(try_lock_never_admits_two::<Loom>);
}

#[test]
fn check_then_set_try_lock_admits_two() {
    check_fails(RACE, try_lock_never_admits_two::<Loom<CheckThenSet>>);
}
