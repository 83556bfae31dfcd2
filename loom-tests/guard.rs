//! Models of the guard family: a mapped guard and an `Arc`-owning guard hold the lock exactly
//! as the guard they came from, and `unlocked` gives it up and takes it back.

use std::sync::Arc;

use loom::thread;
use turnstile::backend::{Backend, Loom, NoRelease};
use turnstile::{Mutex, MutexGuard};

use crate::{check, check_fails, RACE};

/// One thread writes through a guard mapped to a field, another through an `Arc` guard and then
/// through a guard it releases for a moment with `unlocked`: the three never overlap (the
/// tracker sees any overlap) and every write lands.
fn derived_guards_exclude_each_other<B: Backend>() {
    let lock = Arc::new(Mutex::<(u32, u32), B>::with_backend((0, 0)));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut first = MutexGuard::map(lock.lock(), |pair| &mut pair.0);
            *first += 1;
        })
    };
    {
        let mut owned = lock.lock_arc();
        owned.1 += 1;
    }
    let mut guard = lock.lock();
    MutexGuard::unlocked(&mut guard, || {});
    guard.1 += 1;
    drop(guard);
    other.join().unwrap();
    assert_eq!(*lock.lock(), (1, 2));
}

#[test]
fn mapped_arc_and_unlocked_guards_keep_exclusion() {
    check(derived_guards_exclude_each_other::<Loom>);
}

#[test]
fn derived_guards_without_release_do_not_publish() {
    check_fails(RACE, derived_guards_exclude_each_other::<Loom<NoRelease>>);
}
