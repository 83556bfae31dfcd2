//! Models of the three readers-writer locks.
//!
//! The properties every lock shares are written once, generic over the policy, and run for each
//! lock by `every_lock!`; each has a broken twin. The policies' own promises follow (who goes
//! first, a timed writer leaving the line, a second read of one thread while a writer waits),
//! with the twin that matters most: the *other* lock run through a policy's model, or the fair
//! lock over a broken line, which must fail it. The upgradable read lock's models are in
//! `rwlock_upgrade.rs`.
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

use crate::{check_bounded, check_fails_bounded, Arrivals, DEADLOCK, RACE};

/// Preemptions for the three-thread models (see `check_bounded`), and for the two-thread ones.
pub const THREE: usize = 2;
pub const TWO: usize = 4;
/// The fair lock's three-thread models. Now that the fair lock is one word over the wait queue
/// they explore about as many interleavings as the preference locks' (the largest, the readers
/// let in together, about 60,000), at two preemptions like every three-thread model.
const FAIR_THREE: usize = 2;

pub type Shared<P> = Arc<RwLock<(u32, u32), P>>;

pub fn shared<P: Policy>() -> Shared<P> {
    Arc::new(RwLock::with_backend((0, 0)))
}

pub fn write_pair<P: Policy>(lock: &RwLock<(u32, u32), P>) {
    let mut pair = lock.write();
    pair.0 += 1;
    pair.1 += 1;
}

pub fn read_pair<P: Policy>(lock: &RwLock<(u32, u32), P>) -> u32 {
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

/// A writer leaves while two readers may be asleep: both must be let in, together. Each reader,
/// once inside, stays until the other is inside too, so a lock that let one in and left the
/// other waiting (for the first to leave, say) would wait forever.
fn writer_lets_the_readers_in_together<P: Policy>() {
    let lock = shared::<P>();
    let writer = lock.write();
    let inside = Arrivals::new();
    let readers: Vec<_> = (0..2)
        .map(|who| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            thread::spawn(move || {
                let pair = lock.read();
                inside.arrive();
                inside.wait_for(2, who);
                assert_eq!(pair.0, pair.1, "a reader saw half a write");
            })
        })
        .collect();
    drop(writer);
    for r in readers {
        r.join().unwrap();
    }
}

/// The timed-writer model's assertion: every thread has left, yet the lock is held.
const LEFT_HELD: &str = "the lock was left held with every thread gone";

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
    assert!(!lock.is_locked(), "{LEFT_HELD}");
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
            fn a_writer_unlock_lets_every_sleeping_reader_in_together() {
                check_bounded($three, writer_lets_the_readers_in_together::<$Policy<Loom>>);
            }

            #[test]
            fn a_blind_wait_loses_the_readers_wake() {
                // Over the wait queue a blind futex wait strands a waiter only after its node was
                // picked, which one preemption does not reach.
                check_fails_bounded($three, DEADLOCK, writer_lets_the_readers_in_together::<$Policy<Loom<BlindWait>>>);
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

/// What a model thread takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    Read,
    Write,
}

/// Who entered first: 0 nobody yet, else the id the first one wrote.
fn enter_first(first: &AtomicU32, id: u32) {
    let _ = first.compare_exchange(0, id, Ordering::SeqCst, Ordering::SeqCst);
}

/// The test holds the lock (`holder`: a read, or the write) while a writer (id 1) and a second
/// thread (id 2: a reader, or another writer) arrive. The second thread looks once, just before
/// it calls the lock, whether the writer is already queued. Where it is, the writer must enter
/// first: behind a held write that is arrival order, behind a held read it is more, since the
/// second reader could share with the holder but must not pass the writer. Returns whether the
/// second thread saw the writer queued, so a test can check that the search reached that case.
/// No thread spins: a spin over the lock's words would multiply the values loom lets each read
/// see.
fn first_come_first_in<P: Policy>(holder: Take, second: Take) -> bool {
    let lock = shared::<P>();
    let first = Arc::new(AtomicU32::new(0));
    let held_read = (holder == Take::Read).then(|| lock.read());
    let held_write = (holder == Take::Write).then(|| lock.write());
    let writer = {
        let (lock, first) = (Arc::clone(&lock), Arc::clone(&first));
        thread::spawn(move || {
            let _pair = lock.write();
            enter_first(&first, 1);
        })
    };
    let second_thread = {
        let (lock, first) = (Arc::clone(&lock), Arc::clone(&first));
        thread::spawn(move || {
            let after_writer = lock.queued_writers() > 0;
            match second {
                Take::Write => {
                    let _pair = lock.write();
                    enter_first(&first, 2);
                }
                Take::Read => {
                    let _pair = lock.read();
                    enter_first(&first, 2);
                }
            }
            after_writer
        })
    };
    drop(held_read);
    drop(held_write);
    writer.join().unwrap();
    let after_writer = second_thread.join().unwrap();
    if after_writer {
        let message = if second == Take::Write { OUT_OF_ORDER } else { OVERTAKEN };
        assert_eq!(first.load(Ordering::SeqCst), 1, "{message}");
    }
    after_writer
}

/// Runs `first_come_first_in` and checks that some interleaving had the second thread arrive
/// after the writer queued (the case the model is about).
fn check_first_come_first_in<P: Policy>(cap: usize, holder: Take, second: Take) {
    let reached = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&reached);
    check_bounded(cap, move || {
        if first_come_first_in::<P>(holder, second) {
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
    check_first_come_first_in::<WriterPref<Loom>>(THREE, Take::Write, Take::Read);
}

#[test]
fn fair_a_waiting_writer_goes_before_a_later_reader() {
    check_first_come_first_in::<Fair<Loom>>(FAIR_THREE, Take::Write, Take::Read);
}

/// The twin: the reader-preferring lock lets the reader in first, which is its policy, and
/// which the writer-preference model must catch.
#[test]
fn reader_pref_fails_the_writer_preference_model() {
    check_fails_bounded(THREE, OVERTAKEN, || {
        first_come_first_in::<ReaderPref<Loom>>(Take::Write, Take::Read);
    });
}

#[test]
fn writer_pref_a_reader_does_not_join_the_readers_past_a_waiting_writer() {
    check_first_come_first_in::<WriterPref<Loom>>(THREE, Take::Read, Take::Read);
}

/// Reader, writer, reader: the second reader waits in line behind the writer although a reader
/// holds the lock, and the first reader's release hands the lock to the writer.
#[test]
fn fair_a_reader_does_not_join_the_readers_past_a_waiting_writer() {
    check_first_come_first_in::<Fair<Loom>>(FAIR_THREE, Take::Read, Take::Read);
}

/// The twin: under reader preference the second reader joins the first at once.
#[test]
fn reader_pref_fails_the_reader_behind_a_writer_model() {
    check_fails_bounded(THREE, OVERTAKEN, || {
        first_come_first_in::<ReaderPref<Loom>>(Take::Read, Take::Read);
    });
}

#[test]
fn fair_writers_enter_in_arrival_order() {
    check_first_come_first_in::<Fair<Loom>>(FAIR_THREE, Take::Write, Take::Write);
}

/// The fair lock's twins over a line that serves the newest waiter first: the order is the
/// line's.
#[test]
fn fair_over_a_lifo_line_lets_a_reader_pass_the_waiting_writer() {
    use turnstile::backend::Lifo;
    check_fails_bounded(FAIR_THREE, OVERTAKEN, || {
        first_come_first_in::<Fair<Loom<Lifo>>>(Take::Read, Take::Read);
    });
}

#[test]
fn fair_over_a_lifo_line_lets_the_second_writer_in_first() {
    use turnstile::backend::Lifo;
    check_fails_bounded(FAIR_THREE, OUT_OF_ORDER, || {
        first_come_first_in::<Fair<Loom<Lifo>>>(Take::Write, Take::Write);
    });
}

/// The twin: the writer-preferring lock does not order its writers.
#[test]
fn writer_pref_fails_the_writer_order_model() {
    check_fails_bounded(THREE, OUT_OF_ORDER, || {
        first_come_first_in::<WriterPref<Loom>>(Take::Write, Take::Write);
    });
}

/// The fair lock hands itself to the head of the line: a timed writer picked as its deadline
/// passes holds the lock, and must take it. Over a line whose picked waiter reports a timeout
/// anyway, the lock stays marked held after every thread has gone.
#[test]
fn fair_a_timed_writer_that_drops_its_hand_off_leaves_the_lock_held() {
    use turnstile::backend::PickedTimesOut;
    check_fails_bounded(FAIR_THREE, LEFT_HELD, || {
        a_timed_writer_leaves_no_one_behind::<Fair<Loom<PickedTimesOut>>>();
    });
}

/// The test holds a read lock; a writer waits for it with a deadline, and a reader arrives,
/// looking first whether the writer is queued (then, under these policies, it waits behind it).
/// The test keeps its read until the reader is inside, which, where the reader waits behind the
/// writer, only the writer giving up allows: its leaving must let the reader in, beside the
/// test's read. Returns whether the reader arrived behind the queued writer.
fn a_writer_giving_up_lets_the_reader_behind_it_in<P: Policy>() -> bool {
    let lock = shared::<P>();
    let held = lock.read();
    let inside = Arrivals::new();
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            if let Some(mut pair) = lock.try_write_for(Duration::from_millis(1)) {
                pair.0 += 1;
                pair.1 += 1;
            }
        })
    };
    let reader = {
        let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
        thread::spawn(move || {
            let behind_writer = lock.queued_writers() > 0;
            let pair = lock.read();
            inside.arrive();
            assert_eq!(pair.0, pair.1, "a reader saw half a write");
            behind_writer
        })
    };
    inside.wait_for(1, 0);
    drop(held);
    timed.join().unwrap();
    reader.join().unwrap()
}

fn check_a_writer_giving_up_lets_the_reader_behind_it_in<P: Policy>(cap: usize) {
    let reached = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&reached);
    check_bounded(cap, move || {
        if a_writer_giving_up_lets_the_reader_behind_it_in::<P>() {
            record.store(true, Ordering::Relaxed);
        }
    });
    assert!(reached.load(Ordering::Relaxed), "no interleaving had the reader arrive behind the timed writer");
}

#[test]
fn writer_pref_a_writer_giving_up_lets_the_reader_behind_it_in() {
    check_a_writer_giving_up_lets_the_reader_behind_it_in::<WriterPref<Loom>>(THREE);
}

#[test]
fn fair_a_writer_giving_up_lets_the_reader_behind_it_in() {
    check_a_writer_giving_up_lets_the_reader_behind_it_in::<Fair<Loom>>(FAIR_THREE);
}

/// The twins: the wake of the reader behind is lost. (Nothing else in the model can sleep for
/// good, the timed writer's sleep ending at its deadline: the reader is stranded exactly when the
/// leaving writer's wake does not reach it.) A line whose timed-out waiter counts itself among
/// those left (`StaleMore`) passes this model: the fair lock's admit after a timeout walks the
/// line anyway, and clears `PARKED` when it finds it empty.
#[test]
fn writer_pref_a_giving_up_writer_that_forgets_to_wake_strands_the_reader() {
    use turnstile::backend::ForgetfulWake;
    check_fails_bounded(THREE, DEADLOCK, || {
        a_writer_giving_up_lets_the_reader_behind_it_in::<WriterPref<Loom<ForgetfulWake>>>();
    });
}

#[test]
fn fair_a_giving_up_writer_that_forgets_to_wake_strands_the_reader() {
    use turnstile::backend::ForgetfulWake;
    check_fails_bounded(FAIR_THREE, DEADLOCK, || {
        a_writer_giving_up_lets_the_reader_behind_it_in::<Fair<Loom<ForgetfulWake>>>();
    });
}

/// The test holds a read lock while a writer arrives, then reads again on the same thread:
/// `recursive`ly, or with a plain read. With the writer waiting for the first read, a read that
/// waits for the writer waits forever. Returns whether the writer was queued when the test read
/// again.
fn reading_again_while_a_writer_waits<P: Policy>(recursive: bool) -> bool {
    let lock = shared::<P>();
    let first = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || write_pair(&lock))
    };
    let writer_queued = lock.queued_writers() > 0;
    let again = if recursive { lock.read_recursive() } else { lock.read() };
    assert_eq!(*again, *first, "a writer got in between two reads of one thread");
    drop(again);
    drop(first);
    writer.join().unwrap();
    assert_eq!(read_pair(&lock), 1);
    writer_queued
}

fn check_reading_again_while_a_writer_waits<P: Policy>(recursive: bool) {
    let reached = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&reached);
    check_bounded(TWO, move || {
        if reading_again_while_a_writer_waits::<P>(recursive) {
            record.store(true, Ordering::Relaxed);
        }
    });
    assert!(reached.load(Ordering::Relaxed), "no interleaving had the writer queued at the second read");
}

#[test]
fn writer_pref_a_recursive_read_passes_a_waiting_writer() {
    check_reading_again_while_a_writer_waits::<WriterPref<Loom>>(true);
}

#[test]
fn fair_a_recursive_read_passes_a_waiting_writer() {
    check_reading_again_while_a_writer_waits::<Fair<Loom>>(true);
}

/// Under reader preference every read is recursive: a plain one never waits for a writer.
#[test]
fn reader_pref_a_plain_read_passes_a_waiting_writer() {
    check_reading_again_while_a_writer_waits::<ReaderPref<Loom>>(false);
}

/// The twins: a plain read in the same place waits behind the writer, which waits for the
/// thread's first read.
#[test]
fn writer_pref_a_plain_read_behind_a_waiting_writer_deadlocks() {
    check_fails_bounded(TWO, DEADLOCK, || {
        reading_again_while_a_writer_waits::<WriterPref<Loom>>(false);
    });
}

#[test]
fn fair_a_plain_read_behind_a_waiting_writer_deadlocks() {
    check_fails_bounded(TWO, DEADLOCK, || {
        reading_again_while_a_writer_waits::<Fair<Loom>>(false);
    });
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
