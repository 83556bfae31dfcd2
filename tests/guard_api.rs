//! The guard API of the exclusive locks from the outside: mapping a guard to part of the data,
//! letting go for a while (`unlocked`), leaking and force-unlocking, `data_ptr`, guards that own
//! an `Arc` of their lock, the `Lock`/`TimedLock` traits, and Peterson's `try_lock`/`is_locked`.
//!
//! `Mutex` and `SpinLock` share one guard type, so the tests are written once, in
//! `guard_api_tests!`, and run against both. Threads are ordered with channels and scoped joins,
//! never with sleeps; where a test needs a lock to be free, a broken implementation makes a
//! `try_lock` fail (an assertion) rather than a `lock` hang, wherever that can be arranged.

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use turnstile::{Lock, Mutex, MutexGuard, Peterson, SpinLock, TimedLock};

mod common;
use common::{bump, iters, SleepProbe};

/// Counts `n` increments from each of four threads through nothing but the `Lock` trait: two
/// threads block in `lock`, two retry `try_lock`. Returns the final count.
fn count_through_the_lock_trait<L: Lock<Target = u64> + Sync>(lock: &L, n: usize) -> u64 {
    thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for _ in 0..n {
                    if t % 2 == 0 {
                        bump(&mut lock.lock());
                        continue;
                    }
                    loop {
                        if let Some(mut guard) = lock.try_lock() {
                            bump(&mut guard);
                            break;
                        }
                        thread::yield_now();
                    }
                }
            });
        }
    });
    assert!(!lock.is_locked(), "every guard is gone");
    *lock.lock()
}

/// Whether `lock` can be taken within `timeout`, asked through the `TimedLock` trait only.
fn take_within<L: TimedLock + ?Sized>(lock: &L, timeout: Duration) -> bool {
    lock.try_lock_for(timeout).is_some()
}

/// Whether `lock` can be taken by `deadline`, asked through the `TimedLock` trait only.
fn take_by<L: TimedLock + ?Sized>(lock: &L, deadline: Instant) -> bool {
    lock.try_lock_until(deadline).is_some()
}

/// The guard API of one exclusive lock type: `guard_api_tests!(module, Lock, Guard, MappedGuard,
/// ArcGuard)` generates the tests against that lock, in `module`.
macro_rules! guard_api_tests {
    ($module:ident, $Lock:ident, $Guard:ident, $MappedGuard:ident, $ArcGuard:ident) => {
        mod $module {
            use std::any::Any;
            use std::panic::{self, AssertUnwindSafe};
            use std::ptr;
            use std::sync::Arc;
            use std::thread;

            use super::common::{bump, iters};
            use turnstile::{$ArcGuard, $Guard, $Lock, $MappedGuard};

            const THREADS: usize = 8;

            #[test]
            fn map_to_a_field_writes_through_to_the_data() {
                let lock = $Lock::new((1u32, 2u32));
                {
                    let mut second: $MappedGuard<'_, (u32, u32), u32> =
                        $Guard::map(lock.lock(), |pair| &mut pair.1);
                    *second += 40;
                    assert_eq!(*second, 42);
                }
                assert_eq!(*lock.lock(), (1, 42));
            }

            #[test]
            fn a_mapped_guard_holds_the_lock_until_dropped() {
                let lock = $Lock::new((0u8, 0u8));
                let mapped = $Guard::map(lock.lock(), |pair| &mut pair.0);
                assert!(lock.is_locked());
                assert!(lock.try_lock().is_none());
                drop(mapped);
                assert!(!lock.is_locked());
                assert!(lock.try_lock().is_some(), "dropping the mapped guard released the lock");
            }

            #[test]
            fn try_map_that_finds_the_data_maps_to_it_and_holds_the_lock() {
                let lock = $Lock::new(vec![1, 2, 3]);
                let Ok(mut second) = $Guard::try_map(lock.lock(), |v| v.get_mut(1)) else {
                    panic!("element 1 exists: try_map must succeed");
                };
                *second = 20;
                assert!(lock.try_lock().is_none());
                drop(second);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), [1, 20, 3]);
            }

            #[test]
            fn a_failed_try_map_returns_the_original_guard_still_holding_the_lock() {
                let lock = $Lock::new(vec![1, 2, 3]);
                let Err(mut guard) = $Guard::try_map(lock.lock(), |v| v.get_mut(10)) else {
                    panic!("there is no element 10: try_map must fail");
                };
                assert!(lock.is_locked());
                assert!(lock.try_lock().is_none());
                guard.push(4);
                drop(guard);
                assert!(!lock.is_locked(), "the returned guard still releases the lock on drop");
                assert_eq!(*lock.lock(), [1, 2, 3, 4]);
            }

            #[test]
            fn map_of_a_mapped_guard_narrows_further_and_holds_the_lock() {
                let lock = $Lock::new((0u8, (0u16, [0u32; 2])));
                let inner = $Guard::map(lock.lock(), |outer| &mut outer.1);
                let mut last = $MappedGuard::map(inner, |inner| &mut inner.1[1]);
                *last = 7;
                assert!(lock.try_lock().is_none());
                drop(last);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), (0, (0, [0, 7])));
            }

            #[test]
            fn try_map_of_a_mapped_guard_maps_on_success_and_gives_it_back_on_failure() {
                let lock = $Lock::new((0u8, vec![1u32]));
                let list = $Guard::map(lock.lock(), |pair| &mut pair.1);
                let Err(mut list) = $MappedGuard::try_map(list, |list| list.get_mut(5)) else {
                    panic!("there is no element 5: try_map must fail");
                };
                assert!(lock.try_lock().is_none(), "the mapped guard came back holding the lock");
                list.push(2);
                let Ok(mut first) = $MappedGuard::try_map(list, |list| list.first_mut()) else {
                    panic!("the list is not empty: try_map must succeed");
                };
                *first = 10;
                assert!(lock.try_lock().is_none());
                drop(first);
                assert_eq!(*lock.lock(), (0, vec![10, 2]));
            }

            #[test]
            fn unlocked_releases_the_lock_while_the_closure_runs() {
                let lock = $Lock::new(1u32);
                let mut guard = lock.lock();
                let seen_inside = $Guard::unlocked(&mut guard, || {
                    thread::scope(|s| {
                        s.spawn(|| {
                            let mut other = lock.try_lock().expect("the lock is free inside `unlocked`");
                            *other += 10;
                            *other
                        })
                        .join()
                        .unwrap()
                    })
                });
                assert_eq!(seen_inside, 11);
                assert_eq!(*guard, 11, "the guard sees what the other thread wrote");
            }

            #[test]
            fn unlocked_holds_the_lock_again_when_it_returns() {
                let lock = $Lock::new(0u32);
                let mut guard = lock.lock();
                $Guard::unlocked(&mut guard, || assert!(!lock.is_locked()));
                assert!(lock.is_locked());
                let from_another_thread = thread::scope(|s| s.spawn(|| lock.try_lock().is_some()).join());
                assert!(!from_another_thread.unwrap(), "the guard holds the lock again");
                *guard += 1;
                drop(guard);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), 1);
            }

            #[test]
            fn unlocked_retakes_the_lock_when_the_closure_panics() {
                let lock = $Lock::new(vec![1]);
                let mut guard = lock.lock();
                let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
                    $Guard::unlocked(&mut guard, || {
                        lock.try_lock().expect("the lock is free inside `unlocked`").push(2);
                        panic!("deliberate panic while the guard has let go");
                    })
                }));
                assert!(unwound.is_err());
                assert!(lock.is_locked(), "the lock was taken back while unwinding");
                assert!(lock.try_lock().is_none());
                guard.push(3);
                assert_eq!(*guard, [1, 2, 3]);
                drop(guard);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), [1, 2, 3]);
            }

            #[test]
            fn leak_keeps_the_lock_locked_until_force_unlock() {
                let lock = $Lock::new(5);
                let data: &mut i32 = $Guard::leak(lock.lock());
                *data += 1;
                assert!(lock.is_locked());
                assert!(lock.try_lock().is_none());
                // SAFETY: the guard was leaked on this thread and `data`, the only access it gave
                // out, is not used again.
                unsafe { lock.force_unlock() };
                assert!(!lock.is_locked());
                assert_eq!(lock.try_lock().map(|g| *g), Some(6));
            }

            #[test]
            fn force_unlock_releases_a_forgotten_guard_for_another_thread() {
                let lock = $Lock::new(0u64);
                let mut guard = lock.lock();
                *guard = 1;
                std::mem::forget(guard);
                assert!(lock.try_lock().is_none());
                // SAFETY: the only guard was forgotten on this thread.
                unsafe { lock.force_unlock() };
                let seen = thread::scope(|s| s.spawn(|| lock.try_lock().map(|g| *g)).join().unwrap());
                assert_eq!(seen, Some(1));
            }

            #[test]
            fn data_ptr_points_at_the_data_the_guard_opens() {
                let lock = $Lock::new(1u64);
                let guard = lock.lock();
                assert!(ptr::eq(lock.data_ptr(), &*guard));
                // SAFETY: this thread holds the lock and no reference from `guard` is alive.
                unsafe { *lock.data_ptr() = 2 };
                assert_eq!(*guard, 2);
            }

            #[test]
            fn data_ptr_of_an_unsized_lock_covers_the_whole_slice() {
                let lock: &$Lock<[u16]> = &$Lock::new([1u16, 2, 3]);
                // `ptr::eq` of slice pointers compares the lengths too.
                assert!(ptr::eq(lock.data_ptr(), &*lock.lock()));
                assert!(!ptr::eq(lock.data_ptr(), &lock.lock()[..2]));
            }

            #[test]
            fn an_arc_guard_moved_into_a_static_box_releases_the_lock_when_dropped() {
                let lock = Arc::new($Lock::new(3u32));
                let anything: Box<dyn Any> = Box::new(lock.lock_arc());
                assert!(lock.is_locked());
                assert!(lock.try_lock().is_none());
                let guard = anything.downcast::<$ArcGuard<u32>>().expect("the box holds the arc guard");
                assert_eq!(**guard, 3);
                drop(guard);
                assert!(!lock.is_locked());
            }

            #[test]
            fn an_arc_guard_keeps_its_lock_alive_after_every_other_arc_is_gone() {
                let lock = Arc::new($Lock::new(String::from("kept")));
                let weak = Arc::downgrade(&lock);
                let mut guard = lock.lock_arc();
                drop(lock);
                guard.push('!');
                assert!(weak.upgrade().is_some(), "the guard owns an Arc of the lock");
                let lock = Arc::clone($ArcGuard::lock(&guard));
                assert!(lock.is_locked());
                drop(guard);
                assert!(!lock.is_locked());
                assert_eq!(*lock.lock(), "kept!");
            }

            #[test]
            fn an_arc_guard_names_the_lock_it_holds() {
                let lock = Arc::new($Lock::new(()));
                let guard = lock.lock_arc();
                assert!(Arc::ptr_eq($ArcGuard::lock(&guard), &lock));
            }

            #[test]
            fn arc_guards_from_many_threads_count_every_increment() {
                let n = iters(5_000);
                let counter = Arc::new($Lock::new(0u64));
                thread::scope(|s| {
                    for _ in 0..THREADS {
                        s.spawn(|| {
                            for _ in 0..n {
                                bump(&mut counter.lock_arc());
                            }
                        });
                    }
                });
                assert_eq!(*counter.lock(), (THREADS * n) as u64);
            }

            #[test]
            fn try_lock_arc_returns_none_while_held() {
                let lock = Arc::new($Lock::new(()));
                let held = lock.lock();
                assert!(lock.try_lock_arc().is_none());
                drop(held);
                let arc_held = lock.lock_arc();
                assert!(lock.try_lock_arc().is_none());
                drop(arc_held);
            }

            #[test]
            fn try_lock_arc_on_a_free_lock_returns_a_guard_that_holds_it() {
                let lock = Arc::new($Lock::new(9u8));
                let guard = lock.try_lock_arc().expect("the lock is free");
                assert_eq!(*guard, 9);
                assert!(lock.try_lock().is_none());
                drop(guard);
                assert!(!lock.is_locked());
            }

            #[test]
            fn generic_code_over_the_lock_trait_counts_every_increment() {
                let n = iters(5_000);
                let counter = $Lock::new(0u64);
                assert_eq!(super::count_through_the_lock_trait(&counter, n), 4 * n as u64);
            }
        }
    };
}

guard_api_tests!(mutex, Mutex, MutexGuard, MappedMutexGuard, ArcMutexGuard);
guard_api_tests!(spin, SpinLock, SpinLockGuard, MappedSpinLockGuard, ArcSpinLockGuard);

#[test]
fn the_lock_traits_try_lock_and_is_locked_see_a_guard_taken_directly() {
    /// Whether the lock can be taken, and whether it is locked, asked through the trait only.
    fn seen_through_the_trait<L: Lock + ?Sized>(lock: &L) -> (bool, bool) {
        let locked = lock.is_locked();
        (lock.try_lock().is_some(), locked)
    }
    const FREE: (bool, bool) = (true, false);
    const HELD: (bool, bool) = (false, true);
    let (mutex, spin) = (Mutex::new(()), SpinLock::new(()));
    assert_eq!([seen_through_the_trait(&mutex), seen_through_the_trait(&spin)], [FREE; 2]);
    let held = (mutex.lock(), spin.lock());
    assert_eq!([seen_through_the_trait(&mutex), seen_through_the_trait(&spin)], [HELD; 2]);
    drop(held);
    assert_eq!([seen_through_the_trait(&mutex), seen_through_the_trait(&spin)], [FREE; 2]);
}

#[test]
fn the_timed_lock_trait_times_out_while_held_and_succeeds_when_free() {
    let lock = Mutex::new(());
    let now = Instant::now();
    let past = now.checked_sub(Duration::from_millis(1)).unwrap_or(now);
    let guard = lock.lock();
    assert!(!take_within(&lock, Duration::ZERO));
    assert!(!take_by(&lock, past));
    drop(guard);
    assert!(take_within(&lock, Duration::ZERO));
    assert!(take_by(&lock, past));
}

#[test]
fn the_timed_lock_trait_waits_for_a_release_within_the_timeout() {
    // The timeout is only a bound for a broken implementation; the release comes long before.
    let lock = Mutex::new(());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let lock = &lock;
        let guard = lock.lock();
        let waiter = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            take_within(lock, Duration::from_secs(600))
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        drop(guard);
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn force_unlock_wakes_a_thread_sleeping_on_the_mutex() {
    let lock = Mutex::new(0u32);
    std::mem::forget(lock.lock());
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let lock = &lock;
        let waiter = s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            let mut guard = lock.lock();
            *guard += 1;
            *guard
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        // SAFETY: the only guard was forgotten on this thread; the waiter holds none yet.
        unsafe { lock.force_unlock() };
        assert_eq!(waiter.join().unwrap(), 1);
    });
}

#[test]
fn unlocked_wakes_a_thread_sleeping_on_the_mutex() {
    let lock = Mutex::new(0u32);
    let (probe_tx, probe_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        let mut guard = lock.lock();
        s.spawn(move || {
            probe_tx.send(SleepProbe::current()).unwrap();
            *lock.lock() += 1;
            done_tx.send(()).unwrap();
        });
        probe_rx.recv().unwrap().wait_until_asleep();
        // The sleeper must be woken by the release inside `unlocked`, or `recv` waits forever.
        MutexGuard::unlocked(&mut guard, || done_rx.recv().unwrap());
        assert_eq!(*guard, 1);
    });
}

#[test]
fn arc_mutex_guards_from_spawned_threads_count_every_increment() {
    // Unscoped threads: each owns an `Arc` clone and takes `'static` guards from it.
    let n = iters(2_000);
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..n {
                    let mut guard: turnstile::ArcMutexGuard<u64> = counter.lock_arc();
                    bump(&mut guard);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*counter.lock(), 4 * n as u64);
}

#[test]
fn peterson_try_lock_succeeds_when_the_lock_is_free() {
    let (mut a, mut b) = Peterson::pair(1u32);
    *a.try_lock().expect("nobody holds the lock") += 1;
    let guard = b.try_lock().expect("`a` released the lock when its guard dropped");
    assert_eq!(*guard, 2);
}

#[test]
fn peterson_try_lock_fails_while_the_other_party_holds_the_lock() {
    let (mut a, mut b) = Peterson::pair(0u32);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let b = &mut b;
        let holder = s.spawn(move || {
            let mut guard = b.lock();
            *guard += 1;
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let got_in = a.try_lock().is_some();
        drop(release_tx);
        holder.join().unwrap();
        assert!(!got_in, "`a` got in while `b` held the lock");
    });
    assert_eq!(a.try_lock().map(|g| *g), Some(1), "free again once `b` let go");
}

#[test]
fn a_failed_peterson_try_lock_leaves_no_claim_behind() {
    // A failed attempt must lower its flag, or the other party would wait on it forever and
    // `is_locked` would stay true.
    let (mut a, mut b) = Peterson::pair(0u32);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (tried_tx, tried_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let b = &mut b;
        s.spawn(move || {
            let guard = b.lock();
            held_tx.send(()).unwrap();
            // Also returns if the main thread panicked (and so dropped `tried_tx`).
            let _ = tried_rx.recv();
            drop(guard);
            assert!(!b.is_locked(), "`a`'s failed try_lock left its flag up");
            *b.try_lock().expect("`a` does not hold the lock") += 1;
        });
        held_rx.recv().unwrap();
        assert!(a.try_lock().is_none(), "precondition: `b` holds the lock");
        drop(tried_tx);
    });
    assert!(!a.is_locked());
    assert_eq!(a.try_lock().map(|g| *g), Some(1));
}

#[test]
fn peterson_is_locked_follows_either_partys_guard() {
    let (mut a, mut b) = Peterson::pair(());
    assert!(!a.is_locked() && !b.is_locked());
    let held_by_a = a.lock();
    assert!(b.is_locked());
    drop(held_by_a);
    assert!(!a.is_locked() && !b.is_locked());
    let held_by_b = b.try_lock().expect("the lock is free");
    assert!(a.is_locked());
    drop(held_by_b);
    assert!(!a.is_locked() && !b.is_locked());
}

#[test]
fn peterson_is_locked_counts_the_asking_partys_own_hold() {
    let (mut a, b) = Peterson::pair(());
    // Forgetting the guard ends the borrow of `a` but not the hold: `a` is still in.
    std::mem::forget(a.lock());
    assert!(a.is_locked(), "the asking party itself holds the lock");
    assert!(b.is_locked());
}

#[test]
fn peterson_is_locked_seen_from_another_thread_while_the_other_party_holds_it() {
    let (a, mut b) = Peterson::pair(());
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let b = &mut b;
        let holder = s.spawn(move || {
            let _guard = b.lock();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let seen = a.is_locked();
        drop(release_tx);
        holder.join().unwrap();
        assert!(seen);
    });
    assert!(!a.is_locked());
}

#[test]
fn peterson_try_lock_retried_by_both_parties_counts_every_increment() {
    let n = iters(5_000);
    let (mut a, mut b) = Peterson::pair(0u64);
    thread::scope(|s| {
        for handle in [&mut a, &mut b] {
            s.spawn(move || {
                for _ in 0..n {
                    loop {
                        if let Some(mut guard) = handle.try_lock() {
                            bump(&mut guard);
                            break;
                        }
                        thread::yield_now();
                    }
                }
            });
        }
    });
    assert_eq!(*a.lock(), 2 * n as u64);
}
