//! `turnstile::ReentrantMutex` from the outside: nested holds on one thread, exclusion between
//! threads, `try_lock` and the timed forms from another thread, release on panic, guards that
//! map, unlock for a while and unlock fairly.
//!
//! Nothing here sleeps to order threads or measures time: threads are ordered with channels, and
//! where a waiter must be asleep before the holder lets go, the test watches it in `/proc`.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use turnstile::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};

mod common;
use common::{iters, on_threads, past, while_held_elsewhere, SleepProbe};

const THREADS: usize = 8;

#[test]
fn one_thread_takes_the_lock_again_while_holding_it() {
    let lock = ReentrantMutex::new(Cell::new(0));
    let a = lock.lock();
    let b = lock.lock();
    let c = lock.try_lock().expect("the holder's try_lock succeeds");
    let d = lock.try_lock_for(Duration::ZERO).expect("so does its timed try_lock");
    let e = lock.try_lock_until(past()).expect("even with a deadline past");
    for guard in [&a, &b, &c, &d, &e] {
        guard.set(guard.get() + 1);
    }
    assert_eq!(a.get(), 5);
}

#[test]
fn the_lock_is_released_by_the_last_guard_whichever_order_they_drop_in() {
    let lock = ReentrantMutex::new(());
    let outer = lock.lock();
    let inner = lock.lock();
    drop(outer); // the first guard first
    assert!(lock.is_locked());
    assert!(lock.is_owned_by_current_thread());
    assert!(while_free_elsewhere_fails(&lock));
    drop(inner);
    assert!(!lock.is_locked());
    assert!(!lock.is_owned_by_current_thread());
}

/// Whether another thread fails to take `lock` right now.
fn while_free_elsewhere_fails<T: Send>(lock: &ReentrantMutex<T>) -> bool {
    thread::scope(|s| s.spawn(|| lock.try_lock().is_none()).join().unwrap())
}

#[test]
fn recursion_deep_in_one_thread_does_not_deadlock() {
    fn depth(lock: &ReentrantMutex<RefCell<Vec<u32>>>, n: u32) {
        let guard = lock.lock();
        guard.borrow_mut().push(n);
        if n > 0 {
            depth(lock, n - 1);
        }
    }
    let lock = ReentrantMutex::new(RefCell::new(Vec::new()));
    depth(&lock, 1_000);
    assert_eq!(lock.lock().borrow().len(), 1_001);
    assert!(!lock.is_locked());
}

#[test]
fn threads_that_each_nest_exclude_each_other() {
    // A Cell read and written in two steps, with a nested lock between them: two threads inside
    // at once would lose counts.
    let n = iters(5_000);
    let counter = ReentrantMutex::new(Cell::new(0u64));
    on_threads(THREADS, |_| {
        for _ in 0..n {
            let outer = counter.lock();
            let seen = outer.get();
            let inner = counter.lock();
            inner.set(std::hint::black_box(seen) + 1);
            drop(outer);
            let last = counter.lock(); // still held through `inner`
            assert_eq!(last.get(), seen + 1);
        }
    });
    assert_eq!(counter.into_inner().get(), (THREADS * n) as u64);
}

#[test]
fn waiters_asleep_on_a_nested_hold_are_woken_when_the_last_guard_drops() {
    let lock = Arc::new(ReentrantMutex::new(Cell::new(0)));
    let outer = lock.lock();
    let inner = lock.lock();
    let (probe_tx, probe_rx) = mpsc::channel();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            let guard = lock.lock();
            guard.set(guard.get() + 1);
        })
    };
    probe_rx.recv().unwrap().wait_until_asleep();
    drop(inner);
    drop(outer);
    waiter.join().unwrap();
    assert_eq!(lock.lock().get(), 1);
}

#[test]
fn try_lock_fails_from_another_thread_while_held() {
    let lock = ReentrantMutex::new(());
    while_held_elsewhere(
        || (lock.lock(), lock.lock()),
        || {
            assert!(lock.try_lock().is_none());
            assert!(lock.is_locked());
            assert!(!lock.is_owned_by_current_thread());
        },
    );
    assert!(lock.try_lock().is_some());
}

#[test]
fn timed_locks_give_up_while_another_thread_holds_it() {
    let lock = ReentrantMutex::new(());
    while_held_elsewhere(
        || (lock.lock(), lock.lock()),
        || {
            assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
            assert!(lock.try_lock_until(past()).is_none());
            assert!(lock.try_lock_for(Duration::ZERO).is_none());
        },
    );
    assert!(lock.try_lock_for(Duration::from_millis(1)).is_some());
}

#[test]
fn a_timed_lock_gets_the_lock_when_the_holder_lets_go() {
    let lock = Arc::new(ReentrantMutex::new(Cell::new(0)));
    let held = lock.lock();
    let (probe_tx, probe_rx) = mpsc::channel();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            let guard = lock.try_lock_for(Duration::from_secs(3600)).expect("freed long before");
            guard.set(7);
        })
    };
    probe_rx.recv().unwrap().wait_until_asleep();
    drop(held);
    waiter.join().unwrap();
    assert_eq!(lock.lock().get(), 7);
}

#[test]
fn a_panic_in_the_critical_section_releases_every_hold() {
    let lock = Arc::new(ReentrantMutex::new(RefCell::new(vec![1])));
    let panicked = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let outer = lock.lock();
            let inner = lock.lock();
            inner.borrow_mut().push(2);
            let _keep = (outer, inner);
            panic!("deliberate panic with two holds");
        })
        .join()
    };
    assert!(panicked.is_err());
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_lock().expect("usable again").borrow(), [1, 2]);
}

#[test]
fn a_panic_caught_on_the_holding_thread_gives_up_only_the_holds_it_unwound() {
    let lock = ReentrantMutex::new(());
    let outer = lock.lock();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _inner = lock.lock();
        panic!("deliberate");
    }));
    assert!(caught.is_err());
    assert!(lock.is_owned_by_current_thread(), "the outer hold survives");
    assert!(while_free_elsewhere_fails(&lock));
    drop(outer);
    assert!(!lock.is_locked());
}

#[test]
fn mapped_guards_keep_the_hold_and_release_it() {
    let lock = ReentrantMutex::new((String::from("name"), vec![1, 2]));
    let name: MappedReentrantMutexGuard<'_, String> = ReentrantMutexGuard::map(lock.lock(), |p| &p.0);
    assert_eq!(*name, "name");
    let second = ReentrantMutexGuard::try_map(lock.lock(), |p| p.1.get(1)).unwrap();
    let missing = ReentrantMutexGuard::try_map(lock.lock(), |p| p.1.get(9)).unwrap_err();
    let first = MappedReentrantMutexGuard::map(ReentrantMutexGuard::map(missing, |p| &p.1), |v| &v[0]);
    assert_eq!((*first, *second), (1, 2));
    drop((name, second));
    assert!(while_free_elsewhere_fails(&lock));
    MappedReentrantMutexGuard::unlock_fair(first);
    assert!(!lock.is_locked());
}

#[test]
fn unlocked_lets_another_thread_in_only_when_it_was_the_last_hold() {
    let lock = ReentrantMutex::new(Cell::new(0));
    let mut only = lock.lock();
    ReentrantMutexGuard::unlocked(&mut only, || {
        thread::scope(|s| s.spawn(|| lock.lock().set(1)).join().unwrap());
    });
    assert!(lock.is_owned_by_current_thread());
    let mut nested = lock.lock();
    ReentrantMutexGuard::unlocked(&mut nested, || {
        assert!(lock.is_owned_by_current_thread(), "`only` still holds it");
        assert!(while_free_elsewhere_fails(&lock));
    });
    drop((only, nested));
    assert_eq!(lock.lock().get(), 1);
    assert!(!lock.is_locked());
}

#[test]
fn unlocked_takes_the_hold_back_when_its_closure_panics() {
    let lock = ReentrantMutex::new(());
    let mut guard = lock.lock();
    let caught =
        catch_unwind(AssertUnwindSafe(|| ReentrantMutexGuard::unlocked(&mut guard, || panic!("inside"))));
    assert!(caught.is_err());
    assert!(lock.is_owned_by_current_thread());
    drop(guard);
    assert!(!lock.is_locked());
}

#[test]
fn unlock_fair_of_a_nested_guard_keeps_the_lock() {
    let lock = ReentrantMutex::new(());
    let outer = lock.lock();
    ReentrantMutexGuard::unlock_fair(lock.lock());
    assert!(lock.is_owned_by_current_thread());
    ReentrantMutexGuard::unlock_fair(outer);
    assert!(!lock.is_locked());
}

#[test]
fn unlock_fair_hands_the_lock_to_a_sleeping_waiter() {
    let lock = Arc::new(ReentrantMutex::new(Cell::new(0)));
    let held = lock.lock();
    let (probe_tx, probe_rx) = mpsc::channel();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            lock.lock().set(1);
        })
    };
    probe_rx.recv().unwrap().wait_until_asleep();
    ReentrantMutexGuard::unlock_fair(held);
    waiter.join().unwrap();
    assert_eq!(lock.lock().get(), 1);
}

#[test]
fn force_unlock_gives_up_one_forgotten_hold() {
    let lock = ReentrantMutex::new(());
    std::mem::forget(lock.lock());
    std::mem::forget(lock.lock());
    // SAFETY: this thread holds two forgotten holds, given up here once each.
    unsafe { lock.force_unlock() };
    assert!(lock.is_owned_by_current_thread());
    // SAFETY: as above.
    unsafe { lock.force_unlock() };
    assert!(!lock.is_locked());
}

#[test]
fn debug_shows_the_data_to_the_holder_and_locked_to_others() {
    let lock = ReentrantMutex::new(5);
    assert_eq!(format!("{lock:?}"), "ReentrantMutex { data: 5, .. }");
    let guard = lock.lock();
    assert_eq!(format!("{lock:?}"), "ReentrantMutex { data: 5, .. }");
    let seen = thread::scope(|s| s.spawn(|| format!("{lock:?}")).join().unwrap());
    assert_eq!(seen, "ReentrantMutex { data: <locked>, .. }");
    assert_eq!(format!("{guard:?} {guard}"), "5 5");
}

#[test]
fn a_static_lock_with_default_from_get_mut_and_into_inner() {
    static LOG: ReentrantMutex<RefCell<Vec<u8>>> = ReentrantMutex::new(RefCell::new(Vec::new()));
    LOG.lock().borrow_mut().push(1);
    assert_eq!(*LOG.lock().borrow(), [1]);
    let mut lock: ReentrantMutex<u32> = ReentrantMutex::default();
    *lock.get_mut() += 2;
    assert_eq!(lock.into_inner(), 2);
    assert_eq!(*ReentrantMutex::from("x").lock(), "x");
    let unsized_lock: &ReentrantMutex<[u8]> = &ReentrantMutex::new([1, 2, 3]);
    assert_eq!(unsized_lock.lock().len(), 3);
}

#[test]
fn a_thread_teardown_can_take_and_release_the_lock() {
    // A thread-local whose destructor locks: the thread's id stays its own during teardown.
    struct LocksOnDrop(Arc<ReentrantMutex<Cell<u32>>>);
    impl Drop for LocksOnDrop {
        fn drop(&mut self) {
            let outer = self.0.lock();
            let inner = self.0.lock();
            inner.set(outer.get() + 1);
        }
    }
    thread_local! {
        static AT_EXIT: RefCell<Option<LocksOnDrop>> = const { RefCell::new(None) };
    }
    let lock = Arc::new(ReentrantMutex::new(Cell::new(0)));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || AT_EXIT.with(|slot| *slot.borrow_mut() = Some(LocksOnDrop(lock))))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(lock.lock().get(), 4);
    assert!(!lock.is_locked());
}

#[test]
fn the_sizes_the_readme_gives() {
    // The mutex word (4, padded to 8), the owner's thread id (8), the holder's count and access (16).
    assert_eq!(std::mem::size_of::<turnstile::ReentrantMutex<()>>(), 32);
    assert_eq!(std::mem::size_of::<turnstile::Once>(), 4);
    assert_eq!(std::mem::size_of::<turnstile::FairMutex<()>>(), 4);
}
