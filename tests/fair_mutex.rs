//! `FairMutex`, and the fair releases of `Mutex` (`bump`, `unlocked_fair`), on real threads.

use std::sync::{mpsc, Arc};
use std::thread;

use turnstile::backend::{queue_models as queue, Real};
use turnstile::{FairMutex, FairMutexGuard, Lock, Mutex, MutexGuard};

/// Waits until `n` threads are in the line of the lock at `lock` (its address is the queue's key).
fn until_in_line<L>(lock: &L, n: usize) {
    while queue::waiting::<Real>(lock as *const L as usize) < n {
        thread::yield_now();
    }
}

/// Two threads queue for `lock` while this one holds it. Each, once inside, waits to be told to
/// go, releases, and tries to take the lock straight back. Returns whether the first of them
/// could, past the other one, which was in line all along (and is told to go only after).
///
/// Two waiters, not one: the first release may be a fair one for any lock (the wait queue tells
/// a release to hand over about every 0.5 ms, and this thread's first release comes later than
/// that), the second comes within microseconds of it.
fn first_retakes_past_the_second<L>(lock: Arc<L>) -> bool
where
    L: Lock<Target = u32> + Send + Sync + 'static,
{
    let guard = lock.lock();
    let (inside, entered) = mpsc::channel();
    let mut waiters: Vec<_> = (0..2)
        .map(|id| {
            let (lock, inside) = (Arc::clone(&lock), inside.clone());
            let (go, wait_for_go) = mpsc::channel::<()>();
            let waiter = thread::spawn(move || {
                let mut held = lock.lock();
                *held += 1;
                inside.send(id).unwrap();
                wait_for_go.recv().unwrap();
                drop(held);
                lock.try_lock().is_some()
            });
            (Some(go), Some(waiter))
        })
        .collect();
    until_in_line(&*lock, 2);
    drop(guard);
    let mut retook = Vec::new();
    for _ in 0..2 {
        let id: usize = entered.recv().unwrap();
        waiters[id].0.take().unwrap().send(()).unwrap();
        retook.push(waiters[id].1.take().unwrap().join().unwrap());
    }
    assert_eq!(*lock.lock(), 2);
    retook[0]
}

#[test]
fn a_fair_mutex_release_goes_to_the_waiter_in_line() {
    for _ in 0..20 {
        let lock = Arc::new(FairMutex::new(0u32));
        assert!(!first_retakes_past_the_second(lock), "a thread took the lock back past a waiter in line");
    }
}

#[test]
fn a_fair_mutex_is_the_mutex_api() {
    static LOG: FairMutex<Vec<u32>> = FairMutex::new(Vec::new());
    LOG.lock().push(1);
    let mut guard = LOG.lock();
    FairMutexGuard::unlocked(&mut guard, || LOG.lock().push(2));
    FairMutexGuard::bump(&mut guard);
    let mut first = FairMutexGuard::map(guard, |log| &mut log[0]);
    *first += 10;
    drop(first);
    assert_eq!(*LOG.lock(), [11, 2]);
    assert!(LOG.try_lock_for(std::time::Duration::from_millis(1)).is_some());
    assert_eq!(format!("{:?}", FairMutex::new(3)), "FairMutex { data: 3, .. }");
    let arc = Arc::new(FairMutex::from(5));
    assert_eq!(*arc.lock_arc(), 5);
    assert_eq!(FairMutex::<u8>::default().into_inner(), 0);
}

#[test]
fn a_panic_inside_a_fair_mutex_releases_it() {
    let lock = FairMutex::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        *lock.lock() += 1;
        panic!("inside");
    }));
    assert!(result.is_err());
    assert_eq!(*lock.lock(), 1);
}

/// Holds `lock` while a thread queues for it, runs `give_way` with the guard, and checks that the
/// waiter had the lock in between. Five rounds on one lock: the wait queue makes some releases
/// fair by itself (about every 0.5 ms), and rounds microseconds apart catch the ones it does not.
fn waiter_goes_first(give_way: fn(&mut MutexGuard<'_, u32>)) {
    let lock = Arc::new(Mutex::new(0u32));
    for round in 1..=5 {
        let mut guard = lock.lock();
        let waiter = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        };
        until_in_line(&*lock, 1);
        give_way(&mut guard);
        assert_eq!(*guard, round, "the lock was taken back before the waiter in line had it");
        drop(guard);
        waiter.join().unwrap();
    }
}

#[test]
fn bump_lets_the_waiter_in_line_go_first() {
    #[allow(clippy::redundant_closure)] // the closure is what makes it generic over the lifetime
    waiter_goes_first(|guard| MutexGuard::bump(guard));
}

#[test]
fn unlocked_fair_lets_the_waiter_in_line_go_first() {
    waiter_goes_first(|guard| MutexGuard::unlocked_fair(guard, || ()));
}
