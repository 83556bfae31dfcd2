//! Models of `Peterson`.

use loom::thread;
use turnstile::backend::{Backend, CheckThenSet, Loom, NoRelease};
use turnstile::Peterson;

use crate::{check, check_fails, RACE};

/// Both parties enter (one of them twice, to cover the unlock-then-relock path); the critical
/// sections never overlap and every increment lands.
fn parties_exclude_each_other<B: Backend>() {
    let (mut left, mut right) = Peterson::<u32, B>::pair_with_backend(0);
    let other = thread::spawn(move || {
        *right.lock() += 1;
        *right.lock() += 1;
    });
    *left.lock() += 1;
    other.join().unwrap();
    assert_eq!(*left.lock(), 3);
}

#[test]
fn peterson_excludes_both_parties() {
    check(parties_exclude_each_other::<Loom>);
}

/// Without an atomic swap of `victim` the store→load order is gone and both parties get in.
#[test]
fn peterson_without_store_load_order_admits_both() {
    check_fails(RACE, parties_exclude_each_other::<Loom<CheckThenSet>>);
}

#[test]
fn peterson_unlock_without_release_does_not_publish() {
    check_fails(RACE, parties_exclude_each_other::<Loom<NoRelease>>);
}
