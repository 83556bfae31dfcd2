//! Models of the three readers-writer locks.
//!
//! The properties every lock shares are written once, generic over the policy, and run for each
//! lock by `every_lock!`; each has a broken twin. The policies' own promises follow, with the
//! twin that matters most: the *other* lock run through a policy's model, which must fail it.
//!
//! The data is a pair that writers bump together and readers check equal; what loom watches is
//! the lock's tracker, which reports a reader overlapping a writer (or two writers) as a
//! causality violation.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use turnstile::backend::Loom;
use turnstile::rwlock::{Fair, Policy, ReaderPref, RwLock, WriterPref};
use turnstile::RwLockWriteGuard;

use crate::{check_bounded, check_fails_bounded, DEADLOCK, RACE};

/// Preemptions for the three-thread models (see `check_bounded`), and for the two-thread ones.
/// The fair lock's four words and its read-modify-write looks make each of its steps many loom
/// steps; at these bounds the largest model here explores about 475,000 interleavings (30 s).
const THREE: usize = 2;
const TWO: usize = 4;
/// The fair lock's three-thread models, capped lower. Its handshakes are read-modify-writes
/// followed by `Relaxed` loads (no fence: the orderings that run), and loom explores every older
/// value such a load may read: at 3 preemptions those models explore 0.4 to 2.2 million
/// interleavings (up to two minutes each); at 2, under 500,000 (30 s at most), over the wait
/// queue too since its spinning is modelled as sleeping.
const FAIR_THREE: usize = 2;

type Shared<P> = Arc<RwLock<(u32, u32), P>>;

fn shared<P: Policy>() -> Shared<P> {
    Arc::new(RwLock::with_backend((0, 0)))
}

fn write_pair<P: Policy>(lock: &RwLock<(u32, u32), P>) {
    let mut pair = lock.write();
    pair.0 += 1;
    pair.1 += 1;
}

fn read_pair<P: Policy>(lock: &RwLock<(u32, u32), P>) -> u32 {
    let pair = lock.read();
    assert_eq!(pair.0, pair.1, "a reader saw half a write");
    pair.0
}

/// Two writers and a reader: writers exclude everyone, no write is lost.
fn writers_exclude_everyone<P: Policy>() {
    let lock = shared::<P>();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || write_pair(&lock))
    };
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || read_pair(&lock))
    };
    write_pair(&lock);
    writer.join().unwrap();
    reader.join().unwrap();
    assert_eq!(read_pair(&lock), 2);
    assert!(!lock.is_locked());
}

/// Two readers; returns whether both were inside at once in this interleaving.
fn readers_share<P: Policy>(inside: &'static AtomicUsize) -> bool {
    let lock = shared::<P>();
    let both = Arc::new(AtomicBool::new(false));
    let enter = {
        let (lock, both) = (Arc::clone(&lock), Arc::clone(&both));
        move || {
            let _pair = lock.read();
            if inside.fetch_add(1, Ordering::SeqCst) == 1 {
                both.store(true, Ordering::SeqCst);
            }
            thread::yield_now();
            inside.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let other = thread::spawn(enter.clone());
    enter();
    other.join().unwrap();
    both.load(Ordering::SeqCst)
}

/// The last reader leaves while a writer may be asleep: the writer must be woken.
fn last_reader_wakes_the_writer<P: Policy>() {
    let lock = shared::<P>();
    let reader = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || write_pair(&lock))
    };
    drop(reader);
    writer.join().unwrap();
    assert_eq!(read_pair(&lock), 1);
}

/// Two readers hold; a writer may be asleep behind them. Whichever reader leaves last must wake
/// it (the fair lock's head writer is woken only by that one).
fn the_last_of_two_readers_wakes_the_writer<P: Policy>() {
    let lock = shared::<P>();
    let reader = lock.read();
    let other_reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || read_pair(&lock))
    };
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || write_pair(&lock))
    };
    drop(reader);
    other_reader.join().unwrap();
    writer.join().unwrap();
    assert_eq!(read_pair(&lock), 1);
}

/// A writer leaves while two readers may be asleep: both must be woken.
fn writer_wakes_the_readers<P: Policy>() {
    let lock = shared::<P>();
    let writer = lock.write();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || read_pair(&lock))
        })
        .collect();
    drop(writer);
    for r in readers {
        r.join().unwrap();
    }
}

/// A reader holds; a writer waits with a deadline while another reader arrives. Whether or not
/// the timed writer gets in, nobody is left asleep and the lock ends free. Returns whether the
/// timed writer got in.
fn a_timed_writer_leaves_no_one_behind<P: Policy>() -> bool {
    let lock = shared::<P>();
    let reader = lock.read();
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_write_for(Duration::from_millis(1)).map(|mut p| p.0 += 1).is_some())
    };
    let late_reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || drop(lock.read()))
    };
    drop(reader);
    late_reader.join().unwrap();
    let got_in = timed.join().unwrap();
    assert!(!lock.is_locked());
    got_in
}

/// A writer downgrades while another writer tries to get in: what the first wrote is still there
/// when it reads, and the second writer's update is not lost.
fn downgrade_lets_no_writer_in_between<P: Policy>() {
    let lock = Arc::new(RwLock::<u32, P>::with_backend(0));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.write() += 10)
    };
    let mut writer = lock.write();
    *writer += 1;
    let reader = RwLockWriteGuard::downgrade(writer);
    assert_eq!(*reader % 10, 1, "a writer got in between the write and the downgraded read");
    drop(reader);
    other.join().unwrap();
    assert_eq!(*lock.read(), 11);
}

macro_rules! every_lock {
    ($($name:ident: $Policy:ident, $three:ident;)*) => {$(
        mod $name {
            use super::*;
            use turnstile::backend::{BlindWait, CheckThenSet, ForgetfulWake, NoRelease};

            #[test]
            fn writers_exclude_readers_and_writers() {
                check_bounded($three, writers_exclude_everyone::<$Policy<Loom>>);
            }

            #[test]
            fn an_unlock_without_release_does_not_publish() {
                check_fails_bounded($three, RACE, writers_exclude_everyone::<$Policy<Loom<NoRelease>>>);
            }

            #[test]
            fn check_then_set_admits_a_writer_beside_another() {
                check_fails_bounded($three, RACE, writers_exclude_everyone::<$Policy<Loom<CheckThenSet>>>);
            }

            #[test]
            fn two_readers_can_be_inside_at_once() {
                static INSIDE: AtomicUsize = AtomicUsize::new(0);
                static SEEN: AtomicBool = AtomicBool::new(false);
                check_bounded(TWO, || {
                    if readers_share::<$Policy<Loom>>(&INSIDE) {
                        SEEN.store(true, Ordering::Relaxed);
                    }
                });
                assert!(SEEN.load(Ordering::Relaxed), "no interleaving had both readers inside");
            }

            #[test]
            fn the_last_reader_out_wakes_a_sleeping_writer() {
                check_bounded(TWO, last_reader_wakes_the_writer::<$Policy<Loom>>);
            }

            #[test]
            fn a_reader_unlock_that_forgets_to_wake_strands_the_writer() {
                check_fails_bounded(TWO, DEADLOCK, last_reader_wakes_the_writer::<$Policy<Loom<ForgetfulWake>>>);
            }

            #[test]
            fn the_last_of_two_readers_out_wakes_the_writer() {
                check_bounded($three, the_last_of_two_readers_wakes_the_writer::<$Policy<Loom>>);
            }

            #[test]
            fn readers_that_forget_to_wake_strand_the_writer() {
                check_fails_bounded(
                    $three,
                    DEADLOCK,
                    the_last_of_two_readers_wakes_the_writer::<$Policy<Loom<ForgetfulWake>>>,
                );
            }

            #[test]
            fn a_writer_unlock_wakes_every_sleeping_reader() {
                check_bounded($three, writer_wakes_the_readers::<$Policy<Loom>>);
            }

            #[test]
            fn a_blind_wait_loses_the_readers_wake() {
                // Over the wait queue a blind futex wait strands a waiter only after its node was
                // picked, which one preemption does not reach.
                check_fails_bounded($three, DEADLOCK, writer_wakes_the_readers::<$Policy<Loom<BlindWait>>>);
            }

            #[test]
            fn a_timed_out_writer_leaves_nobody_asleep() {
                // [gave up, got in]: which outcomes of the timed writer the search reached.
                static SEEN: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
                // The timed writer gives up only in schedules that one preemption does not reach
                // over the wait queue.
                check_bounded($three, || {
                    let got_in = a_timed_writer_leaves_no_one_behind::<$Policy<Loom>>();
                    SEEN[usize::from(got_in)].store(true, Ordering::Relaxed);
                });
                assert!(SEEN[0].load(Ordering::Relaxed), "no interleaving had the timed writer give up");
                assert!(SEEN[1].load(Ordering::Relaxed), "no interleaving had the timed writer get in");
            }

            #[test]
            fn a_timed_writer_model_sees_a_lost_wakeup() {
                check_fails_bounded($three, DEADLOCK, || {
                    a_timed_writer_leaves_no_one_behind::<$Policy<Loom<ForgetfulWake>>>();
                });
            }

            #[test]
            fn downgrade_keeps_writers_out() {
                check_bounded(TWO, downgrade_lets_no_writer_in_between::<$Policy<Loom>>);
            }

            #[test]
            fn a_downgrade_without_release_does_not_publish() {
                check_fails_bounded(TWO, RACE, downgrade_lets_no_writer_in_between::<$Policy<Loom<NoRelease>>>);
            }
        }
    )*};
}

every_lock! {
    reader_pref: ReaderPref, THREE;
    writer_pref: WriterPref, THREE;
    fair: Fair, FAIR_THREE;
}

// ---- The policies ----

const OVERTAKEN: &str = "a reader that arrived after a waiting writer entered before it";
const OUT_OF_ORDER: &str = "a writer that arrived second entered first";

/// Who entered first: 0 nobody yet, else the id the first one wrote.
fn enter_first(first: &AtomicU32, id: u32) {
    let _ = first.compare_exchange(0, id, Ordering::SeqCst, Ordering::SeqCst);
}

/// The test holds the write lock while a writer (id 1) and a second thread (id 2: a reader, or
/// another writer) arrive. The second thread looks once, just before it calls the lock, whether
/// the writer is already queued (`held` is how many writers the lock counts while only the test
/// holds it: the fair lock counts its holder, the others only waiters). Where it is, the writer
/// must enter first. Returns whether the second thread saw the writer queued, so a test can
/// check that the search reached that case. No thread spins: a spin over the lock's words
/// would multiply the values loom lets each read see.
fn first_come_first_in<P: Policy>(held: u32, second_writes: bool) -> bool {
    let lock = shared::<P>();
    let first = Arc::new(AtomicU32::new(0));
    let holder = lock.write();
    let writer = {
        let (lock, first) = (Arc::clone(&lock), Arc::clone(&first));
        thread::spawn(move || {
            let _pair = lock.write();
            enter_first(&first, 1);
        })
    };
    let second = {
        let (lock, first) = (Arc::clone(&lock), Arc::clone(&first));
        thread::spawn(move || {
            let after_writer = lock.queued_writers() > held;
            if second_writes {
                let _pair = lock.write();
                enter_first(&first, 2);
            } else {
                let _pair = lock.read();
                enter_first(&first, 2);
            }
            after_writer
        })
    };
    drop(holder);
    writer.join().unwrap();
    let after_writer = second.join().unwrap();
    if after_writer {
        let message = if second_writes { OUT_OF_ORDER } else { OVERTAKEN };
        assert_eq!(first.load(Ordering::SeqCst), 1, "{message}");
    }
    after_writer
}

/// Runs `first_come_first_in` and checks that some interleaving had the second thread arrive
/// after the writer queued (the case the model is about).
fn check_first_come_first_in<P: Policy>(cap: usize, held: u32, second_writes: bool) {
    let reached = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&reached);
    check_bounded(cap, move || {
        if first_come_first_in::<P>(held, second_writes) {
            record.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        reached.load(Ordering::Relaxed),
        "no interleaving had the second thread arrive after a queued writer"
    );
}

#[test]
fn writer_pref_a_waiting_writer_goes_before_a_later_reader() {
    check_first_come_first_in::<WriterPref<Loom>>(THREE, 0, false);
}

#[test]
fn fair_a_waiting_writer_goes_before_a_later_reader() {
    check_first_come_first_in::<Fair<Loom>>(FAIR_THREE, 1, false);
}

/// The twin: the reader-preferring lock lets the reader in first, which is its policy, and
/// which the writer-preference model must catch.
#[test]
fn reader_pref_fails_the_writer_preference_model() {
    check_fails_bounded(THREE, OVERTAKEN, || {
        first_come_first_in::<ReaderPref<Loom>>(0, false);
    });
}

#[test]
fn fair_writers_enter_in_arrival_order() {
    check_first_come_first_in::<Fair<Loom>>(FAIR_THREE, 1, true);
}

/// The twin: the writer-preferring lock does not order its writers.
#[test]
fn writer_pref_fails_the_writer_order_model() {
    check_fails_bounded(THREE, OUT_OF_ORDER, || {
        first_come_first_in::<WriterPref<Loom>>(0, true);
    });
}

/// The fair lock's completer and sleeper meet through two words; with the sleeper's look at
/// `completions` a plain load, each can miss the other's write, and a sleeper is stranded.
#[test]
fn fair_with_a_plain_look_strands_a_sleeper() {
    use turnstile::backend::PlainLook;
    check_fails_bounded(TWO, DEADLOCK, last_reader_wakes_the_writer::<Fair<Loom<PlainLook>>>);
}

/// The same for the head writer's handshake: with a plain look the last reader can miss the
/// head's ticket while the head misses the reader leaving.
#[test]
fn fair_with_a_plain_look_strands_the_head_writer() {
    use turnstile::backend::PlainLook;
    check_fails_bounded(
        FAIR_THREE,
        DEADLOCK,
        the_last_of_two_readers_wakes_the_writer::<Fair<Loom<PlainLook>>>,
    );
}

// ---- The preference locks' fast paths ----
//
// What the shared models above do not reach: a writer taking the lock by `try_write` after
// another holder released it, and a reader joining a writer that has just downgraded. Each model
// checks publication (loom's tracker reports an access not ordered after the last writer's as a
// causality violation); each twin runs it over `NoRelease`, whose unlocks publish nothing.

/// A writer holds and leaves; the other thread's `try_write` may find the lock free after that,
/// and must then see everything the first wrote.
fn a_try_write_after_an_unlock_sees_the_write<P: Policy>() {
    let lock = shared::<P>();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || write_pair(&lock))
    };
    if let Some(mut pair) = lock.try_write() {
        assert_eq!(pair.0, pair.1, "a writer saw half a write");
        pair.0 += 1;
        pair.1 += 1;
    }
    writer.join().unwrap();
}

/// A writer writes and downgrades; a reader may join while the downgraded read is held, and must
/// then see the write.
fn a_reader_joining_a_downgrade_sees_the_write<P: Policy>() {
    let lock = shared::<P>();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || read_pair(&lock))
    };
    let mut pair = lock.write();
    pair.0 += 1;
    pair.1 += 1;
    let held = RwLockWriteGuard::downgrade(pair);
    assert_eq!(*held, (1, 1));
    drop(held);
    reader.join().unwrap();
}

macro_rules! preference_fast_paths {
    ($($name:ident: $Policy:ident;)*) => {$(
        mod $name {
            use super::*;
            use turnstile::backend::NoRelease;

            #[test]
            fn a_try_write_after_an_unlock_acquires_it() {
                check_bounded(TWO, a_try_write_after_an_unlock_sees_the_write::<$Policy<Loom>>);
            }

            #[test]
            fn a_try_write_after_an_unlock_without_release_races() {
                check_fails_bounded(TWO, RACE, a_try_write_after_an_unlock_sees_the_write::<$Policy<Loom<NoRelease>>>);
            }

            #[test]
            fn a_reader_joining_a_downgrade_is_published_to() {
                check_bounded(TWO, a_reader_joining_a_downgrade_sees_the_write::<$Policy<Loom>>);
            }

            #[test]
            fn a_downgrade_without_release_races_with_the_joining_reader() {
                check_fails_bounded(TWO, RACE, a_reader_joining_a_downgrade_sees_the_write::<$Policy<Loom<NoRelease>>>);
            }
        }
    )*};
}

preference_fast_paths! {
    reader_pref_fast: ReaderPref;
    writer_pref_fast: WriterPref;
}
