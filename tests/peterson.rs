//! `turnstile::Peterson` from the outside: mutual exclusion between its two handles, no
//! poisoning, `into_inner`, and the handles' auto traits.
//!
//! Peterson's lock only spins (then yields), so the counts here are smaller than the Mutex's.
//! `parties_arriving_at_the_same_moment_never_both_get_in` is the test that catches a missing
//! store->load order (a plain store of `victim` instead of the swap): it fails within a run on
//! x86, and Miri reports the resulting data race.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Barrier};
use std::thread;

use turnstile::{Peterson, PetersonHandle};

mod common;
use common::{bump, iters};

fn assert_send<T: Send>() {}

/// Who is inside the critical section, and how often someone found company there.
struct Room {
    occupant: Option<usize>,
    collisions: u64,
}

#[test]
fn two_threads_count_every_increment_through_the_two_handles() {
    let n = iters(20_000);
    let (mut a, mut b) = Peterson::pair(0u64);
    let start = Barrier::new(2);
    thread::scope(|s| {
        for handle in [&mut a, &mut b] {
            let start = &start;
            s.spawn(move || {
                start.wait(); // both parties race from the first iteration
                for _ in 0..n {
                    bump(&mut handle.lock());
                }
            });
        }
    });
    assert_eq!(*a.lock(), 2 * n as u64);
}

#[test]
fn parties_preempted_inside_the_critical_section_lose_no_increments() {
    // A yield between the read and the write lets the other party run while the lock is held:
    // if it ever gets in then, one of the two updates is lost.
    let n = iters(2_000);
    let (mut a, mut b) = Peterson::pair(0u64);
    let start = Barrier::new(2);
    thread::scope(|s| {
        for handle in [&mut a, &mut b] {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..n {
                    let mut guard = handle.lock();
                    let seen = *guard;
                    thread::yield_now();
                    *guard = seen + 1;
                }
            });
        }
    });
    assert_eq!(*b.lock(), 2 * n as u64);
}

#[test]
fn neither_party_ever_finds_the_other_inside_the_critical_section() {
    // Each party marks itself as the occupant on entry and clears the mark on exit; finding a
    // mark on entry, or someone else's mark before leaving, means both were inside at once.
    let n = iters(5_000);
    let (mut a, mut b) = Peterson::pair(Room { occupant: None, collisions: 0 });
    let start = Barrier::new(2);
    thread::scope(|s| {
        for handle in [&mut a, &mut b] {
            let start = &start;
            s.spawn(move || {
                start.wait();
                let me = handle.party();
                for _ in 0..n {
                    let mut room = handle.lock();
                    if room.occupant.is_some() {
                        room.collisions += 1;
                    }
                    room.occupant = Some(me);
                    // Stay a while, so that an intruder has time to show up.
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                    // Forget what we know about `room`: re-read it for real below.
                    let room = std::hint::black_box(&mut *room);
                    if room.occupant != Some(me) {
                        room.collisions += 1;
                    }
                    room.occupant = None;
                }
            });
        }
    });
    drop(b);
    let room = a.into_inner().expect("the other handle was dropped");
    assert_eq!(room.collisions, 0);
}

#[test]
fn parties_arriving_at_the_same_moment_never_both_get_in() {
    // Peterson's hard case: both raise their flags at once, neither sees the other's flag yet
    // unless the store->load order holds. A two-party spin barrier before every round makes the
    // parties arrive together as often as possible.
    let rounds = iters(20_000);
    let (mut a, mut b) = Peterson::pair(Room { occupant: None, collisions: 0 });
    let arrived = AtomicUsize::new(0);
    thread::scope(|s| {
        for handle in [&mut a, &mut b] {
            let arrived = &arrived;
            s.spawn(move || {
                let me = handle.party();
                for round in 1..=rounds {
                    arrived.fetch_add(1, SeqCst);
                    let mut spins = 0;
                    while arrived.load(SeqCst) < 2 * round {
                        spins += 1;
                        // Give the CPU up if the other party is not running (2 cores, Miri).
                        if spins > 100 || cfg!(miri) {
                            thread::yield_now();
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                    let mut room = handle.lock();
                    if room.occupant.is_some() {
                        room.collisions += 1;
                    }
                    room.occupant = Some(me);
                    let room = std::hint::black_box(&mut *room);
                    if room.occupant != Some(me) {
                        room.collisions += 1;
                    }
                    room.occupant = None;
                }
            });
        }
    });
    assert_eq!(a.lock().collisions, 0);
}

#[test]
fn a_panic_in_the_critical_section_lets_the_other_handle_lock() {
    let (a, mut b) = Peterson::pair(0u32);
    let panicked = thread::spawn(move || {
        let mut a = a;
        let mut guard = a.lock();
        *guard = 7;
        panic!("deliberate panic inside the critical section");
    })
    .join();
    assert!(panicked.is_err());
    // Would spin forever if the unwinding guard had not cleared party 0's flag.
    assert_eq!(*b.lock(), 7);
}

#[test]
fn a_panic_in_the_critical_section_lets_the_same_handle_lock_again() {
    let (mut a, mut b) = Peterson::pair(0u32);
    thread::scope(|s| {
        let panicked = s
            .spawn(|| {
                let mut guard = a.lock();
                *guard = 7;
                panic!("deliberate panic inside the critical section");
            })
            .join();
        assert!(panicked.is_err());
    });
    *a.lock() += 1;
    assert_eq!(*b.lock(), 8);
}

#[test]
fn into_inner_returns_the_handle_while_the_other_one_lives() {
    let (a, _b) = Peterson::pair(5);
    let mut a = a.into_inner().expect_err("the other handle still exists");
    assert_eq!(a.party(), 0);
    assert_eq!(*a.lock(), 5, "the returned handle still works");
}

#[test]
fn into_inner_returns_the_data_after_the_other_handle_is_dropped() {
    let (a, b) = Peterson::pair(String::from("x"));
    let worker = thread::spawn(move || {
        let mut b = b;
        b.lock().push('y');
        // `b` is dropped as the thread ends.
    });
    worker.join().unwrap();
    assert_eq!(a.into_inner().ok().as_deref(), Some("xy"));
}

#[test]
fn into_inner_works_from_either_party() {
    let (a, b) = Peterson::pair(1u8);
    drop(a);
    assert_eq!(b.into_inner().ok(), Some(1));
}

#[test]
fn pair_hands_out_parties_zero_and_one() {
    let (a, b) = Peterson::pair(());
    assert_eq!((a.party(), b.party()), (0, 1));
}

#[test]
fn a_handle_can_move_to_another_thread_between_critical_sections() {
    let (mut a, mut b) = Peterson::pair(0u32);
    *a.lock() += 1;
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        *a.lock() += 1;
        tx.send(a).unwrap();
    });
    let mut a = rx.recv().unwrap();
    t.join().unwrap();
    *a.lock() += 1;
    assert_eq!(*b.lock(), 3);
}

#[test]
fn handles_are_send() {
    // Compile-time: this test fails by not compiling.
    assert_send::<PetersonHandle<u64>>();
    assert_send::<PetersonHandle<std::cell::Cell<u8>>>();
    assert_send::<PetersonHandle<Vec<String>>>();
}
