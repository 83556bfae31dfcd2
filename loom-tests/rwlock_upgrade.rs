//! Models of the upgradable read lock, on the three readers-writer locks.
//!
//! An upgradable reader holds the lock beside plain readers, never beside a writer or another
//! upgradable reader, and becomes the writer (`upgrade`) once the plain readers have left,
//! without anyone in between. What every lock promises is written once, generic over the policy,
//! and run for each lock by `every_lock!`, each property with its broken twin. What only some
//! promise follows: an upgrade announced keeps new readers out under the writer-preferring and
//! fair locks, so one that gives up must let them in again.
//!
//! The data is the pair of `rwlock.rs`; the lock's tracker reports a writer beside anyone as a
//! causality violation. An upgradable reader is a reader to the tracker, so two of them inside
//! at once are caught by a cell of their own (`UpgradableTurn`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::thread;
use turnstile::backend::Loom;
use turnstile::rwlock::{Fair, Policy, ReaderPref, WriterPref};
use turnstile::{RwLockUpgradableReadGuard, RwLockWriteGuard};

use crate::rwlock::{read_pair, shared, write_pair, THREE, TWO};
use crate::{check_bounded, check_fails_bounded, Arrivals, DEADLOCK, RACE};

/// A cell only the holder of the upgradable read lock writes: loom reports two holders inside at
/// once, or one not ordered after the other, as a causality violation.
struct UpgradableTurn(UnsafeCell<u32>);

// SAFETY: loom checks every access to the cell; a model that shares it wrongly fails.
unsafe impl Sync for UpgradableTurn {}

impl UpgradableTurn {
    fn take(&self) {
        // SAFETY: loom checks that no other access to the cell overlaps this one or is unordered
        // with it, and fails the model if one is.
        self.0.with_mut(|turns| unsafe { *turns += 1 });
    }
}

/// Two upgradable readers and a writer: each upgradable reader takes its turn alone, and no
/// writer is inside with either.
fn two_upgradable_readers_and_a_writer<P: Policy>() {
    let lock = shared::<P>();
    let turn = Arc::new(UpgradableTurn(UnsafeCell::new(0)));
    let upgradable_readers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, turn) = (Arc::clone(&lock), Arc::clone(&turn));
            thread::spawn(move || {
                let pair = lock.upgradable_read();
                turn.take();
                assert_eq!(pair.0, pair.1, "an upgradable reader saw half a write");
            })
        })
        .collect();
    write_pair(&lock);
    for u in upgradable_readers {
        u.join().unwrap();
    }
    assert_eq!(read_pair(&lock), 1);
}

/// The test holds the upgradable read; a reader enters beside it (or the test waits forever),
/// and leaves while the test upgrades. The upgrade waits for the reader, is woken by its leaving,
/// and writes only after the reader's last look.
fn an_upgrade_waits_for_the_reader<P: Policy>() {
    let lock = shared::<P>();
    let upgradable = lock.upgradable_read();
    let reader_in = Arrivals::new();
    let reader = {
        let (lock, reader_in) = (Arc::clone(&lock), Arc::clone(&reader_in));
        thread::spawn(move || {
            let pair = lock.read();
            reader_in.arrive();
            assert_eq!(*pair, (0, 0), "the upgrade wrote while a reader was inside");
        })
    };
    reader_in.wait_for(1, 0);
    let mut pair = RwLockUpgradableReadGuard::upgrade(upgradable);
    pair.0 += 1;
    pair.1 += 1;
    drop(pair);
    reader.join().unwrap();
    assert_eq!(read_pair(&lock), 1);
}

/// The test holds the upgradable read, a reader a plain one, and a writer arrives; the test
/// upgrades, waiting for the reader. The upgrade goes first: the writer, which may wait in line
/// before the upgrade starts, gets in only after the test's write, and the reader's leaving wakes
/// the upgrade, not the writer.
fn an_upgrade_before_a_waiting_writer<P: Policy>() {
    let lock = shared::<P>();
    let upgradable = lock.upgradable_read();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || read_pair(&lock))
    };
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut pair = lock.write();
            assert_eq!(*pair, (1, 1), "the writer got in before the upgrade");
            pair.0 += 1;
            pair.1 += 1;
        })
    };
    let mut pair = RwLockUpgradableReadGuard::upgrade(upgradable);
    assert_eq!(*pair, (0, 0), "a writer got in between the upgradable read and the upgrade");
    pair.0 += 1;
    pair.1 += 1;
    drop(pair);
    reader.join().unwrap();
    writer.join().unwrap();
    assert_eq!(read_pair(&lock), 2);
}

/// An upgradable reader upgrades and writes; a reader that comes after must see the write.
fn a_reader_after_an_upgraded_write<P: Policy>() {
    let lock = shared::<P>();
    let upgrader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let upgradable = lock.upgradable_read();
            let mut pair = RwLockUpgradableReadGuard::upgrade(upgradable);
            pair.0 += 1;
            pair.1 += 1;
        })
    };
    let seen = read_pair(&lock);
    upgrader.join().unwrap();
    assert!(seen <= 1);
}

/// The test writes and steps down to the upgradable read while a reader waits: the reader must
/// get in while the upgradable read is still held (or the test waits forever), and see the
/// write.
fn a_downgrade_to_upgradable_lets_the_reader_in<P: Policy>() {
    let lock = shared::<P>();
    let mut pair = lock.write();
    let reader_done = Arrivals::new();
    let reader = {
        let (lock, reader_done) = (Arc::clone(&lock), Arc::clone(&reader_done));
        thread::spawn(move || {
            let seen = read_pair(&lock);
            reader_done.arrive();
            seen
        })
    };
    pair.0 += 1;
    pair.1 += 1;
    let upgradable = RwLockWriteGuard::downgrade_to_upgradable(pair);
    reader_done.wait_for(1, 0);
    drop(upgradable);
    assert_eq!(reader.join().unwrap(), 1, "the reader entered before the write");
}

/// The test writes, steps down to the upgradable read and then to a plain read while another
/// upgradable reader waits: that one must get in while the plain read is still held (or the test
/// waits forever), and see the write, handed on through both steps.
fn an_upgradable_reader_behind_two_downgrades<P: Policy>() {
    let lock = shared::<P>();
    let mut pair = lock.write();
    let other_done = Arrivals::new();
    let other = {
        let (lock, other_done) = (Arc::clone(&lock), Arc::clone(&other_done));
        thread::spawn(move || {
            let pair = lock.upgradable_read();
            assert_eq!(pair.0, pair.1, "an upgradable reader saw half a write");
            let seen = pair.0;
            drop(pair);
            other_done.arrive();
            seen
        })
    };
    pair.0 += 1;
    pair.1 += 1;
    let upgradable = RwLockWriteGuard::downgrade_to_upgradable(pair);
    let reader = RwLockUpgradableReadGuard::downgrade(upgradable);
    other_done.wait_for(1, 0);
    drop(reader);
    assert_eq!(other.join().unwrap(), 1, "the upgradable reader entered before the write");
}

macro_rules! every_lock {
    ($($name:ident: $Policy:ident;)*) => {$(
        mod $name {
            use super::*;
            use turnstile::backend::{CheckThenSet, ForgetfulWake, NoRelease};

            #[test]
            fn upgradable_readers_exclude_each_other_and_writers() {
                check_bounded(THREE, two_upgradable_readers_and_a_writer::<$Policy<Loom>>);
            }

            #[test]
            fn check_then_set_lets_two_holders_in() {
                check_fails_bounded(
                    THREE,
                    RACE,
                    two_upgradable_readers_and_a_writer::<$Policy<Loom<CheckThenSet>>>,
                );
            }

            #[test]
            fn an_upgrade_waits_for_the_reader_and_is_woken() {
                check_bounded(TWO, an_upgrade_waits_for_the_reader::<$Policy<Loom>>);
            }

            #[test]
            fn a_reader_that_forgets_to_wake_strands_the_upgrade() {
                check_fails_bounded(TWO, DEADLOCK, an_upgrade_waits_for_the_reader::<$Policy<Loom<ForgetfulWake>>>);
            }

            #[test]
            fn a_reader_unlock_without_release_races_with_the_upgrade() {
                check_fails_bounded(TWO, RACE, an_upgrade_waits_for_the_reader::<$Policy<Loom<NoRelease>>>);
            }

            #[test]
            fn an_upgrade_goes_before_a_waiting_writer() {
                check_bounded(THREE, an_upgrade_before_a_waiting_writer::<$Policy<Loom>>);
            }

            #[test]
            fn a_reader_that_forgets_to_wake_strands_the_upgrade_before_the_writer() {
                check_fails_bounded(THREE, DEADLOCK, an_upgrade_before_a_waiting_writer::<$Policy<Loom<ForgetfulWake>>>);
            }

            #[test]
            fn a_write_after_an_upgrade_is_published() {
                check_bounded(TWO, a_reader_after_an_upgraded_write::<$Policy<Loom>>);
            }

            #[test]
            fn an_upgraded_unlock_without_release_does_not_publish() {
                check_fails_bounded(TWO, RACE, a_reader_after_an_upgraded_write::<$Policy<Loom<NoRelease>>>);
            }

            #[test]
            fn a_downgrade_to_upgradable_lets_the_waiting_reader_in() {
                check_bounded(TWO, a_downgrade_to_upgradable_lets_the_reader_in::<$Policy<Loom>>);
            }

            #[test]
            fn a_downgrade_to_upgradable_that_forgets_to_wake_strands_the_reader() {
                check_fails_bounded(
                    TWO,
                    DEADLOCK,
                    a_downgrade_to_upgradable_lets_the_reader_in::<$Policy<Loom<ForgetfulWake>>>,
                );
            }

            #[test]
            fn a_downgrade_to_upgradable_without_release_does_not_publish() {
                check_fails_bounded(TWO, RACE, a_downgrade_to_upgradable_lets_the_reader_in::<$Policy<Loom<NoRelease>>>);
            }

            #[test]
            fn an_upgradable_downgrade_lets_the_next_upgradable_reader_in() {
                check_bounded(TWO, an_upgradable_reader_behind_two_downgrades::<$Policy<Loom>>);
            }

            #[test]
            fn an_upgradable_downgrade_that_forgets_to_wake_strands_the_next() {
                check_fails_bounded(
                    TWO,
                    DEADLOCK,
                    an_upgradable_reader_behind_two_downgrades::<$Policy<Loom<ForgetfulWake>>>,
                );
            }

            #[test]
            fn downgrades_without_release_do_not_publish_to_the_next_upgradable_reader() {
                check_fails_bounded(
                    TWO,
                    RACE,
                    an_upgradable_reader_behind_two_downgrades::<$Policy<Loom<NoRelease>>>,
                );
            }
        }
    )*};
}

every_lock! {
    reader_pref: ReaderPref;
    writer_pref: WriterPref;
    fair: Fair;
}

// ---- An upgrade that gives up ----

/// The test holds the upgradable read and a plain read beside it, so its upgrade, which waits
/// for the plain readers to leave, can only give up at its deadline (to the lock the thread's own
/// read is a reader like any other; without a deadline this would wait forever, which is what
/// makes giving up certain here, and keeps the model to two threads). Meanwhile the upgrade is
/// announced, and a reader that arrives finds the lock closed and waits; giving up must let it
/// in, while the test still holds both its reads (or the test waits forever). Returns whether,
/// in this interleaving, the reader found the lock closed.
fn an_upgrade_giving_up_lets_the_readers_in<P: Policy>() -> bool {
    let lock = shared::<P>();
    let upgradable = lock.upgradable_read();
    let held = lock.read();
    let inside = Arrivals::new();
    let reader = {
        let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
        thread::spawn(move || {
            let (pair, kept_out) = match lock.try_read() {
                Some(pair) => (pair, false),
                None => (lock.read(), true),
            };
            inside.arrive();
            assert_eq!(pair.0, pair.1, "a reader saw half a write");
            kept_out
        })
    };
    let upgradable = match RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(1)) {
        Ok(_) => unreachable!("an upgrade went past a read its own thread holds"),
        Err(upgradable) => upgradable,
    };
    inside.wait_for(1, 0);
    drop(held);
    drop(upgradable);
    reader.join().unwrap()
}

fn check_an_upgrade_giving_up_lets_the_readers_in<P: Policy>() {
    let reached = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&reached);
    check_bounded(TWO, move || {
        if an_upgrade_giving_up_lets_the_readers_in::<P>() {
            record.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        reached.load(Ordering::Relaxed),
        "no interleaving had the reader find the lock closed by the upgrade"
    );
}

#[test]
fn writer_pref_an_upgrade_giving_up_lets_the_readers_in() {
    check_an_upgrade_giving_up_lets_the_readers_in::<WriterPref<Loom>>();
}

#[test]
fn fair_an_upgrade_giving_up_lets_the_readers_in() {
    check_an_upgrade_giving_up_lets_the_readers_in::<Fair<Loom>>();
}

/// The twins: the wake of the reader kept out is lost. (Nothing else in the model can sleep for
/// good: the upgrade's sleep ends at its deadline.)
#[test]
fn writer_pref_an_upgrade_giving_up_that_forgets_to_wake_strands_the_reader() {
    use turnstile::backend::ForgetfulWake;
    check_fails_bounded(TWO, DEADLOCK, || {
        an_upgrade_giving_up_lets_the_readers_in::<WriterPref<Loom<ForgetfulWake>>>();
    });
}

#[test]
fn fair_an_upgrade_giving_up_that_forgets_to_wake_strands_the_reader() {
    use turnstile::backend::ForgetfulWake;
    check_fails_bounded(TWO, DEADLOCK, || {
        an_upgrade_giving_up_lets_the_readers_in::<Fair<Loom<ForgetfulWake>>>();
    });
}

/// The reader-preferring lock through the same model: an upgrade never keeps a reader out there
/// (the same search over the writer-preferring lock finds one kept out).
#[test]
fn reader_pref_an_upgrade_never_keeps_readers_out() {
    let kept_out = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&kept_out);
    check_bounded(TWO, move || {
        if an_upgrade_giving_up_lets_the_readers_in::<ReaderPref<Loom>>() {
            record.store(true, Ordering::Relaxed);
        }
    });
    assert!(!kept_out.load(Ordering::Relaxed), "an upgrade kept a reader out under reader preference");
}
