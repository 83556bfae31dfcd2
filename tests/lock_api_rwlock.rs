#![cfg(feature = "lock_api")]
//! The readers-writer locks' raw states as `lock_api` raw locks: `lock_api::RwLock` over each of
//! `RawReaderPrefRwLock`, `RawWriterPrefRwLock` and `RawFairRwLock` counts exactly with readers,
//! writers and upgraders together, initialises a `static`, times out, upgrades, downgrades, maps,
//! and reads recursively past a waiting writer.
//!
//! Compiled only with the `lock_api` feature. Where a waiter must be asleep before the holder
//! lets go, it is watched in `/proc` (see `SleepProbe`).

mod common;

macro_rules! lock_api_rwlock_tests {
    ($($module:ident: $Raw:ident;)*) => {$(
        mod $module {
            use std::sync::mpsc;
            use std::thread;
            use std::time::Duration;

            use lock_api::{RwLockUpgradableReadGuard, RwLockWriteGuard};

            use super::common::{bump, iters, SleepProbe};

            type RwLock<T> = lock_api::RwLock<turnstile::$Raw, T>;

            /// Readers check a pair is never torn; writers and upgraders bump it.
            #[test]
            fn readers_writers_and_upgraders_count_every_write() {
                let n = iters(2_000);
                let lock = RwLock::new((0u64, 0u64));
                thread::scope(|s| {
                    for t in 0..6 {
                        let lock = &lock;
                        s.spawn(move || {
                            for i in 0..n {
                                match t % 3 {
                                    0 => {
                                        let pair = lock.read();
                                        assert_eq!(pair.0, pair.1, "a reader saw half a write");
                                    }
                                    1 => {
                                        let mut pair = lock.write();
                                        bump(&mut pair.0);
                                        bump(&mut pair.1);
                                    }
                                    _ => {
                                        let seen = lock.upgradable_read();
                                        assert_eq!(seen.0, seen.1);
                                        if i % 2 == 0 {
                                            let mut pair = RwLockUpgradableReadGuard::upgrade(seen);
                                            bump(&mut pair.0);
                                            bump(&mut pair.1);
                                        }
                                    }
                                }
                            }
                        });
                    }
                });
                let writes = (2 * n + 2 * n.div_ceil(2)) as u64;
                assert_eq!(lock.into_inner(), (writes, writes));
            }

            #[test]
            fn a_static_built_with_const_new_starts_unlocked() {
                static TABLE: RwLock<Vec<u32>> =
                    RwLock::const_new(<turnstile::$Raw as lock_api::RawRwLock>::INIT, Vec::new());
                assert!(!TABLE.is_locked());
                TABLE.write().push(1);
                assert_eq!(*TABLE.read(), [1]);
            }

            #[test]
            fn a_timed_write_gives_up_while_a_reader_holds_and_succeeds_after() {
                let lock = RwLock::new(0);
                let reader = lock.read();
                thread::scope(|s| {
                    s.spawn(|| assert!(lock.try_write_for(Duration::from_millis(5)).is_none()));
                });
                drop(reader);
                assert!(lock.try_write_for(Duration::from_millis(5)).is_some());
                assert!(lock.try_read_for(Duration::from_millis(5)).is_some());
            }

            #[test]
            fn an_upgrade_waits_for_the_reader_and_a_timed_one_gives_the_guard_back() {
                let lock = RwLock::new(1);
                let reader = lock.read();
                let (tx, rx) = mpsc::channel();
                thread::scope(|s| {
                    s.spawn(|| {
                        let upgradable = lock.upgradable_read();
                        assert!(lock.try_upgradable_read().is_none(), "two upgradable readers");
                        assert!(lock.try_write().is_none());
                        let upgradable = RwLockUpgradableReadGuard::try_upgrade(upgradable).unwrap_err();
                        let upgradable =
                            RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(2))
                                .unwrap_err();
                        tx.send(SleepProbe::current()).unwrap();
                        let mut writer = RwLockUpgradableReadGuard::upgrade(upgradable);
                        *writer += 1;
                    });
                    rx.recv().unwrap().wait_until_asleep();
                    assert_eq!(*reader, 1, "the reader still reads beside the upgrade");
                    drop(reader);
                });
                assert_eq!(*lock.read(), 2);
            }

            #[test]
            fn downgrades_keep_writers_out_and_let_readers_in() {
                let lock = RwLock::new(1);
                let mut writer = lock.write();
                *writer = 2;
                let upgradable = RwLockWriteGuard::downgrade_to_upgradable(writer);
                assert_eq!(*lock.try_read().expect("readers join an upgradable reader"), 2);
                assert!(lock.try_write().is_none());
                let reader = RwLockUpgradableReadGuard::downgrade(upgradable);
                assert!(lock.try_upgradable_read().is_some());
                drop(reader);
                let reader = RwLockWriteGuard::downgrade(lock.write());
                assert!(lock.try_write().is_none());
                assert_eq!(*reader, 2);
            }

            #[test]
            fn mapped_guards_read_and_write_parts() {
                let lock = RwLock::new((String::from("a"), 1));
                let mut count = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
                *count += 1;
                drop(count);
                let name = lock_api::RwLockReadGuard::map(lock.read(), |pair| &pair.0);
                assert_eq!(*name, "a");
                assert!(lock.try_write().is_none());
                drop(name);
                assert_eq!(lock.read().1, 2);
            }

            /// A writer waits behind a read lock; the reading thread reads again recursively and
            /// is let in (a plain read would wait behind the writer on two of the policies).
            #[test]
            fn a_recursive_read_enters_past_a_waiting_writer() {
                let lock = RwLock::new(0);
                let first = lock.read();
                let (tx, rx) = mpsc::channel();
                thread::scope(|s| {
                    s.spawn(|| {
                        tx.send(SleepProbe::current()).unwrap();
                        *lock.write() += 1;
                    });
                    rx.recv().unwrap().wait_until_asleep();
                    let again = lock.read_recursive();
                    assert_eq!(*again + *first, 0);
                    drop(again);
                    drop(first);
                });
                assert_eq!(*lock.read(), 1);
            }

            #[test]
            fn fair_unlocks_release_like_plain_ones() {
                let lock = RwLock::new(0);
                lock_api::RwLockReadGuard::unlock_fair(lock.read());
                RwLockWriteGuard::unlock_fair(lock.write());
                RwLockUpgradableReadGuard::unlock_fair(lock.upgradable_read());
                assert!(!lock.is_locked());
            }
        }
    )*};
}

lock_api_rwlock_tests! {
    reader_pref: RawReaderPrefRwLock;
    writer_pref: RawWriterPrefRwLock;
    fair: RawFairRwLock;
}
