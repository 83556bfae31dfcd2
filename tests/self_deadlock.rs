//! A thread that takes a lock it already holds, in a way that waits for itself.
//!
//! Debug builds panic at the second acquire, naming the lock, where the first was taken, and
//! what to do instead, and the first guard is released as the panic unwinds (`debug` below:
//! `cargo test --test self_deadlock`). Release builds do not check: the thread blocks as before
//! (`release` below: `cargo test --release --test self_deadlock`). The patterns that are legal
//! (`legal` below) pass in both.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::thread;

use turnstile::rwlock::{Policy, RwLock};
use turnstile::{
    Condvar, FairMutex, FairRwLock, Mutex, ReaderPrefRwLock, RwLockReadGuard, RwLockWriteGuard, SpinLock,
};

/// Waits until `flag` is set (by another thread, with Release).
fn wait_for(flag: &AtomicBool) {
    // Acquire: pairs with the Release store of the thread that sets it.
    while !flag.load(Acquire) {
        thread::yield_now();
    }
}

#[cfg(debug_assertions)]
mod debug {
    use super::*;
    use common::{catch_panic, Caught};
    use std::sync::atomic::AtomicU32;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;
    use turnstile::rwlock::{ArcRwLockUpgradableReadGuard, ReaderPref};
    use turnstile::{Lock, MutexGuard, RwLockUpgradableReadGuard};

    /// Runs `body` on a thread of its own and returns the panic it raised: `None` if it
    /// returned. A body that hangs (the check missing) fails the test after a minute instead of
    /// hanging it.
    fn caught<L: Send + Sync + 'static>(
        lock: &Arc<L>,
        body: impl FnOnce(&Arc<L>) + Send + 'static,
    ) -> Option<Caught> {
        let lock = Arc::clone(lock);
        let (done, outcome) = mpsc::channel();
        thread::spawn(move || done.send(catch_panic(|| body(&lock))).unwrap());
        outcome
            .recv_timeout(Duration::from_secs(60))
            .expect("the relock hung instead of panicking: the self-deadlock check is missing")
    }

    /// The line the message says the first hold was taken at ("locked at file:line:col").
    fn locked_at(message: &str) -> u32 {
        let prefix = format!("locked at {}:", file!());
        let at = message.find(&prefix).unwrap_or_else(|| panic!("{prefix:?} is not in: {message}"));
        let rest = &message[at + prefix.len()..];
        rest[..rest.find(':').unwrap()].parse().unwrap()
    }

    /// Holds `$first` (bound to `$held`), then runs `$second` on a thread of its own: it must
    /// panic at this file's `$second`, with every one of the words, naming where `$first` took
    /// the lock. Returns the lock, to check it is usable after.
    macro_rules! relock_panics {
        ($lock:expr, [$($word:expr),*], |$l:ident, $held:ident| $first:expr, $second:expr) => {{
            let lock = Arc::new($lock);
            let caught = caught(&lock, move |$l| {
                let $held = $first;
                let _ = &$held;
                let _second = $second;
            })
            .expect("the relock did not panic");
            for word in [$($word),*] {
                assert!(caught.message.contains(word), "{:?} is not in: {}", word, caught.message);
            }
            assert_eq!(caught.file, file!(), "the panic points at the caller: {}", caught.message);
            let first = locked_at(&caught.message);
            assert!(first <= caught.line && caught.line <= first + 8, "{} then {}: {}", first, caught.line, caught.message);
            lock
        }};
    }

    #[test]
    fn the_panic_points_at_the_relock_and_names_the_first_lock() {
        let lock = Arc::new(Mutex::new(0));
        let first_line = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&first_line);
        let caught = caught(&lock, move |l| {
            seen.store(line!() + 1, Relaxed);
            let _first = l.lock();
            let _second = l.lock();
        })
        .expect("the relock did not panic");
        let first = first_line.load(Relaxed);
        assert_eq!((caught.file.as_str(), caught.line), (file!(), first + 1));
        assert_eq!(locked_at(&caught.message), first);
    }

    #[test]
    fn mutex_relock_panics_naming_the_mutex_and_the_first_lock() {
        let lock = relock_panics!(
            Mutex::new(0),
            ["Mutex::lock: this thread already holds this Mutex", "drop the first guard", "ReentrantMutex"],
            |l, _held| l.lock(),
            l.lock()
        );
        assert!(!lock.is_locked(), "the first guard was released as the panic unwound");
        *lock.lock() += 1;
    }

    #[test]
    fn two_locks_in_one_statement_panic() {
        let lock = Arc::new(Mutex::new((1, 2)));
        let caught = caught(&lock, |s| {
            let _ = format!("{} {}", s.lock().0, s.lock().1);
        });
        let caught = caught.expect("the second lock in the statement did not panic");
        assert!(caught.message.contains("this thread already holds this Mutex"), "{}", caught.message);
        assert_eq!(caught.file, file!());
        assert!(!lock.is_locked());
    }

    #[test]
    fn spinlock_relock_panics_naming_the_spinlock() {
        let lock = relock_panics!(
            SpinLock::new(0),
            ["SpinLock::lock: this thread already holds this SpinLock", "ReentrantMutex"],
            |l, _held| l.lock(),
            l.lock()
        );
        assert!(!lock.is_locked());
        *lock.lock() += 1;
    }

    #[test]
    fn fair_mutex_relock_panics_naming_the_fair_mutex() {
        let lock = relock_panics!(
            FairMutex::new(0),
            ["FairMutex::lock: this thread already holds this FairMutex", "ReentrantMutex"],
            |l, _held| l.lock(),
            l.lock()
        );
        assert!(!lock.is_locked());
        *lock.lock() += 1;
    }

    #[test]
    fn every_way_of_holding_a_mutex_is_seen_by_the_relock() {
        relock_panics!(Mutex::new(0), ["this Mutex"], |l, _held| l.try_lock().unwrap(), l.lock());
        relock_panics!(
            Mutex::new(0),
            ["this Mutex"],
            |l, _held| l.try_lock_for(Duration::from_secs(1)).unwrap(),
            l.lock()
        );
        relock_panics!(Mutex::new(0), ["this Mutex"], |l, _held| l.lock_arc(), l.lock());
        relock_panics!(Mutex::new(0), ["this Mutex"], |l, _held| l.lock(), l.lock_arc());
        relock_panics!(
            Mutex::new(0),
            ["this Mutex"],
            |l, _held| MutexGuard::map(l.lock(), |n| n),
            Lock::lock(&**l)
        );
        relock_panics!(
            SpinLock::new(0),
            ["this SpinLock"],
            |l, _held| l.try_lock().unwrap(),
            Lock::lock(&**l)
        );
        // A leaked guard holds the lock forever: relocking it is a true deadlock.
        let lock =
            relock_panics!(Mutex::new(0), ["this Mutex"], |l, _held| MutexGuard::leak(l.lock()), l.lock());
        assert!(lock.is_locked());
    }

    #[test]
    fn a_relock_is_seen_after_another_guard_dropped_out_of_order() {
        relock_panics!(
            Mutex::new(0),
            ["this Mutex"],
            |l, _held| {
                let other = SpinLock::new(0);
                let first = other.lock();
                let held = l.lock();
                drop(first); // not the latest guard: its own record goes, not this lock's
                held
            },
            l.lock()
        );
    }

    #[test]
    fn a_try_or_timed_relock_does_not_panic() {
        let lock = Mutex::new(0);
        let _held = lock.lock();
        assert!(lock.try_lock().is_none());
        assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
        let spin = SpinLock::new(0);
        let _held = spin.lock();
        assert!(spin.try_lock().is_none());
    }

    /// The readers-writer cases every policy shares.
    fn every_policy<P: Policy>(name: &str) {
        let read_then_write = relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [
                &format!("{name}::write: this thread holds a read lock of this {name}"),
                "upgradable_read() and upgrade()"
            ],
            |l, _held| l.read_recursive(),
            l.write()
        );
        assert!(!read_then_write.is_locked());
        let upgradable_then_write = relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [
                &format!("{name}::write: this thread holds the upgradable read lock"),
                "RwLockUpgradableReadGuard::upgrade"
            ],
            |l, _held| l.upgradable_read(),
            l.write()
        );
        assert!(!upgradable_then_write.is_locked());
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [&format!("{name}::write: this thread holds the write lock of this {name}")],
            |l, _held| l.write(),
            l.write()
        );
        for (second, method) in [(0, "read"), (1, "read_recursive"), (2, "upgradable_read")] {
            let lock = relock_panics!(
                RwLock::<u32, P>::with_backend(0),
                [&format!("{name}::{method}: this thread holds the write lock"), "downgrade()"],
                |l, _held| l.write(),
                match second {
                    0 => drop(l.read()),
                    1 => drop(l.read_recursive()),
                    _ => drop(l.upgradable_read()),
                }
            );
            assert!(!lock.is_locked());
        }
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [
                &format!("{name}::upgradable_read: this thread already holds the upgradable read lock"),
                "one at a time"
            ],
            |l, _held| l.upgradable_read(),
            l.upgradable_read()
        );
        // The arc forms, and a write guard downgraded to a read: the record follows the kind.
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            ["holds a read lock"],
            |l, _held| l.read_arc(),
            l.write_arc()
        );
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            ["holds a read lock"],
            |l, _held| RwLockWriteGuard::downgrade(l.write()),
            l.write()
        );
        // An upgrade waits for every other reader, this thread's too.
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [
                &format!("{name}::upgrade: this thread also holds a read lock"),
                "drop the read guard before upgrading"
            ],
            |l, held| (l.upgradable_read(), l.read_recursive()),
            RwLockUpgradableReadGuard::upgrade(held.0)
        );
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            ["upgrade: this thread also holds a read lock"],
            |l, held| (l.upgradable_read_arc(), l.read_recursive()),
            ArcRwLockUpgradableReadGuard::upgrade(held.0)
        );
    }

    /// The nested read that hangs once a writer queues in between.
    fn nested_reads_panic<P: Policy>(name: &str) {
        let lock = relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [
                &format!("{name}::read: this thread already holds a read lock of this {name}"),
                "read_recursive()"
            ],
            |l, _held| l.read(),
            l.read()
        );
        assert!(!lock.is_locked());
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [&format!("{name}::read: this thread already holds the upgradable read lock")],
            |l, _held| l.upgradable_read(),
            l.read()
        );
        relock_panics!(
            RwLock::<u32, P>::with_backend(0),
            [&format!("{name}::upgradable_read: this thread already holds a read lock")],
            |l, _held| l.read(),
            l.upgradable_read()
        );
    }

    #[test]
    fn writer_preferring_lock_relocks_panic() {
        every_policy::<turnstile::rwlock::WriterPref>("WriterPrefRwLock");
        nested_reads_panic::<turnstile::rwlock::WriterPref>("WriterPrefRwLock");
    }

    #[test]
    fn fair_lock_relocks_panic() {
        every_policy::<turnstile::rwlock::Fair>("FairRwLock");
        nested_reads_panic::<turnstile::rwlock::Fair>("FairRwLock");
    }

    #[test]
    fn reader_preferring_lock_relocks_panic() {
        every_policy::<ReaderPref>("ReaderPrefRwLock");
        // An upgrade waits for this thread's plain read under this policy too.
        relock_panics!(
            ReaderPrefRwLock::new(0),
            ["upgrade: this thread also holds a read lock"],
            |l, held| (l.read(), l.upgradable_read()),
            RwLockUpgradableReadGuard::upgrade(held.1)
        );
    }

    #[test]
    fn the_default_rwlock_is_checked_as_the_writer_preferring_lock() {
        relock_panics!(
            turnstile::RwLock::new(0),
            ["WriterPrefRwLock::read", "read_recursive()"],
            |l, _held| l.read(),
            l.read()
        );
    }

    #[test]
    fn a_guard_held_through_unlocked_is_seen_again_after() {
        let lock = relock_panics!(
            Mutex::new(0),
            ["this Mutex"],
            |l, _held| {
                let mut guard = l.lock();
                MutexGuard::unlocked(&mut guard, || ());
                guard
            },
            l.lock()
        );
        assert!(!lock.is_locked());
        relock_panics!(
            FairRwLock::new(0),
            ["holds a read lock"],
            |l, _held| {
                let mut guard = l.read();
                RwLockReadGuard::unlocked(&mut guard, || ());
                guard
            },
            l.write()
        );
    }

    #[test]
    fn a_stale_record_of_a_lock_now_held_by_another_thread_panics() {
        // The documented corner: this thread's guard forgotten, the lock force-unlocked and then
        // taken by another thread; the relock here panics where it should have waited.
        let lock = Arc::new(Mutex::new(0));
        let caught = caught(&lock, |l| {
            std::mem::forget(l.lock());
            thread::scope(|s| {
                // SAFETY: held, its guard forgotten (on the thread that ends the scope with it).
                s.spawn(|| unsafe { l.force_unlock() }).join().unwrap();
                let holder = s.spawn(|| std::mem::forget(l.lock()));
                holder.join().unwrap();
            });
            drop(l.lock());
        });
        assert!(caught.is_some(), "the corner is as documented");
    }
}

/// The patterns that must not panic, in either build.
mod legal {
    use super::*;
    use std::time::Duration;
    use turnstile::rwlock::{ReaderPref, WriterPref};
    use turnstile::{Monitor, MutexGuard, RwLockUpgradableReadGuard, SpinLockGuard};

    #[test]
    fn a_lock_inside_unlocked_is_legal() {
        let lock = Mutex::new(1);
        let mut guard = lock.lock();
        MutexGuard::unlocked(&mut guard, || *lock.lock() += 1);
        assert_eq!(*guard, 2);
        drop(guard);
        let spin = SpinLock::new(1);
        let mut guard = spin.lock();
        SpinLockGuard::unlocked(&mut guard, || *spin.lock() += 1);
        drop(guard);
        assert_eq!(*spin.lock(), 2);
    }

    fn rwlock_inside_unlocked<P: Policy>() {
        let lock = RwLock::<u32, P>::with_backend(0);
        let mut reader = lock.read();
        RwLockReadGuard::unlocked(&mut reader, || *lock.write() += 1);
        drop(reader);
        let mut writer = lock.write();
        RwLockWriteGuard::unlocked(&mut writer, || assert_eq!(*lock.read(), 1));
        drop(writer);
        let mut upgradable = lock.upgradable_read();
        RwLockUpgradableReadGuard::unlocked(&mut upgradable, || drop(lock.upgradable_read()));
    }

    #[test]
    fn rwlocks_inside_unlocked_are_legal() {
        rwlock_inside_unlocked::<ReaderPref>();
        rwlock_inside_unlocked::<WriterPref>();
        rwlock_inside_unlocked::<turnstile::rwlock::Fair>();
    }

    #[test]
    fn a_read_inside_unlocked_beside_another_threads_read_is_legal() {
        // Inside `unlocked` this thread holds nothing, so its read is not a nested one, even
        // while the lock is read-locked (by another thread) when it asks.
        let lock = FairRwLock::new(0);
        let (other_reads, done) = (AtomicBool::new(false), AtomicBool::new(false));
        let mut guard = lock.read();
        thread::scope(|s| {
            s.spawn(|| {
                let _reader = lock.read_recursive();
                other_reads.store(true, Release);
                wait_for(&done);
            });
            RwLockReadGuard::unlocked(&mut guard, || {
                wait_for(&other_reads);
                let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(lock.read())));
                done.store(true, Release);
                read.expect("a read inside unlocked is not a nested read");
            });
        });
    }

    #[test]
    fn a_condvar_wait_loop_relocks_without_panicking() {
        let pair = (Mutex::new(0), Condvar::new());
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..3 {
                    *pair.0.lock() += 1;
                    pair.1.notify_one();
                }
            });
            let mut count = pair.0.lock();
            while *count < 3 {
                pair.1.wait(&mut count);
            }
        });
        // Still recorded as one hold, released: the lock is free and a relock is fine.
        drop(pair.0.lock());
    }

    #[test]
    fn a_monitor_wait_relocks_without_panicking() {
        let monitor = Monitor::new(false);
        let ready = monitor.condition();
        thread::scope(|s| {
            s.spawn(|| {
                *monitor.lock() = true;
                monitor.lock().notify_all_on(&ready);
            });
            monitor.lock().wait_while_on(&ready, |ready| !*ready);
        });
        drop(monitor.lock());
    }

    fn recursive_reads<P: Policy>() {
        let lock = RwLock::<u32, P>::with_backend(0);
        let first = lock.read();
        let second = lock.read_recursive();
        let upgradable = lock.try_upgradable_read().expect("beside readers");
        let third = lock.read_recursive();
        assert_eq!(*first + *second + *third + *upgradable, 0);
    }

    #[test]
    fn recursive_reads_are_legal_on_every_policy() {
        recursive_reads::<ReaderPref>();
        recursive_reads::<WriterPref>();
        recursive_reads::<turnstile::rwlock::Fair>();
    }

    #[test]
    fn nested_reads_are_legal_on_the_reader_preferring_lock() {
        let lock = ReaderPrefRwLock::new(0);
        let first = lock.read();
        let second = lock.read();
        let upgradable = lock.upgradable_read();
        let third = lock.read();
        assert_eq!(*first + *second + *third + *upgradable, 0);
    }

    #[test]
    fn a_relock_after_force_unlock_of_a_forgotten_guard_is_legal() {
        let lock = Mutex::new(0);
        std::mem::forget(lock.lock());
        // SAFETY: held, and the only guard was forgotten.
        unsafe { lock.force_unlock() };
        drop(lock.lock());
        let spin = SpinLock::new(0);
        std::mem::forget(spin.lock());
        // SAFETY: as above.
        unsafe { spin.force_unlock() };
        drop(spin.lock());
        let rw = FairRwLock::new(0);
        std::mem::forget(rw.read());
        // SAFETY: read-locked by this thread, the guard forgotten.
        unsafe { rw.force_unlock_read() };
        drop(rw.write());
        std::mem::forget(rw.write());
        // SAFETY: write-locked by this thread, the guard forgotten.
        unsafe { rw.force_unlock_write() };
        drop(rw.read());
    }

    #[test]
    fn a_guard_forgotten_here_and_force_unlocked_elsewhere_leaves_no_false_alarm() {
        let lock = Mutex::new(0);
        std::mem::forget(lock.lock());
        thread::scope(|s| {
            // SAFETY: held, and the only guard was forgotten; released once, here.
            s.spawn(|| unsafe { lock.force_unlock() });
        });
        // This thread's record of the forgotten guard is stale: the word says free.
        drop(lock.lock());
        let rw = turnstile::RwLock::new(0);
        std::mem::forget(rw.write());
        thread::scope(|s| {
            // SAFETY: write-locked, the guard forgotten; released once, here.
            s.spawn(|| unsafe { rw.force_unlock_write() });
        });
        drop(rw.read());
    }

    #[test]
    fn a_new_lock_where_a_forgotten_one_was_is_not_taken_for_it() {
        let first = Box::new(Mutex::new(0));
        std::mem::forget(first.lock());
        let place: *const Mutex<u32> = &*first;
        drop(first);
        // Likely at the same address: the stale record's lock word says free.
        let second = Box::new(Mutex::new(1));
        let _ = core::ptr::eq(place, &*second);
        drop(second.lock());
    }

    #[test]
    fn guards_dropped_out_of_order_release_their_own_records() {
        let (a, b) = (Mutex::new(0), SpinLock::new(0));
        let guard_a = a.lock();
        let guard_b = b.lock();
        drop(guard_a);
        let guard_a = a.lock(); // `a` is free again; `b` still held
        drop(guard_b);
        drop(b.lock());
        drop(guard_a);
        let rw = FairRwLock::new(0);
        let (u, r1) = (rw.upgradable_read(), rw.read_recursive());
        drop(r1);
        let w = RwLockUpgradableReadGuard::upgrade(u); // the read went with its guard
        drop(w);
        drop(rw.write());
    }

    #[test]
    fn downgrades_and_upgrades_keep_the_lock_usable() {
        let lock = FairRwLock::new(0);
        let reader = RwLockWriteGuard::downgrade(lock.write());
        drop(reader);
        let upgradable = RwLockWriteGuard::downgrade_to_upgradable(lock.write());
        let writer = RwLockUpgradableReadGuard::upgrade(upgradable);
        drop(writer);
        let reader = RwLockUpgradableReadGuard::downgrade(lock.upgradable_read());
        let again = lock.read_recursive();
        drop((reader, again));
        drop(lock.write());
    }

    #[test]
    fn try_and_timed_acquires_while_holding_return_none() {
        let lock = FairRwLock::new(0);
        let reader = lock.read();
        assert!(lock.try_write().is_none());
        assert!(lock.try_write_for(Duration::from_millis(1)).is_none());
        drop(reader);
        let writer = lock.write();
        assert!(lock.try_read().is_none());
        assert!(lock.try_read_for(Duration::from_millis(1)).is_none());
        assert!(lock.try_upgradable_read().is_none());
        drop(writer);
    }

    #[test]
    fn a_lock_held_by_another_thread_is_waited_for() {
        let lock = Mutex::new(0);
        let held = AtomicBool::new(false);
        let release = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                let _guard = lock.lock();
                held.store(true, Release);
                wait_for(&release);
            });
            wait_for(&held);
            release.store(true, Release);
            *lock.lock() += 1;
        });
    }

    #[test]
    fn a_lock_api_mutex_locked_and_unlocked_leaves_nothing_behind() {
        #[cfg(feature = "lock_api")]
        {
            use std::sync::Arc;
            type LockApiMutex<T> = lock_api::Mutex<turnstile::RawMutex, T>;
            let lock = Arc::new(LockApiMutex::new(0));
            drop(lock.lock());
            // Another thread holds it now; this thread's lock waits for it (no stale record).
            let held = Arc::new(AtomicBool::new(false));
            let other = {
                let (lock, held) = (Arc::clone(&lock), Arc::clone(&held));
                thread::spawn(move || {
                    let guard = lock.lock();
                    held.store(true, Release);
                    drop(guard);
                })
            };
            wait_for(&held);
            drop(lock.lock());
            other.join().unwrap();
            lock_api::MutexGuard::unlock_fair(lock.lock());
            drop(lock.lock());
        }
    }
}

#[cfg(all(not(debug_assertions), target_os = "linux"))]
mod release {
    //! Release builds do not check: the relock blocks as it always did. Each test has the
    //! thread hold the lock (its guard forgotten where the test can force-unlock it), set a flag
    //! and relock; the main thread waits for the flag, then until the kernel shows the thread
    //! asleep (in the relock: nothing else between the flag and the relock sleeps), then
    //! releases the first hold and checks the thread finishes holding the second. The spinlock
    //! never sleeps, so there only the release and the finish are checked. Holds that cannot be
    //! force-unlocked (the upgradable read) leave their thread asleep for the process to end.
    use super::*;
    use std::sync::atomic::AtomicI64;
    use std::time::{Duration, Instant};

    /// The thread's id in the kernel.
    fn tid() -> i64 {
        // SAFETY: gettid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) }
    }

    /// Waits until the thread `tid` of this process is asleep; a minute without is a failure.
    fn wait_until_asleep(tid: i64) {
        let path = format!("/proc/self/task/{tid}/stat");
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            let stat = std::fs::read_to_string(&path).expect("the thread is alive");
            // "tid (name) S ...": the state follows the name's closing parenthesis.
            let state = stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap();
            if state == 'S' {
                return;
            }
            assert!(Instant::now() < give_up, "the relocking thread never went to sleep (state {state})");
            thread::yield_now();
        }
    }

    /// Runs `relock` on a new thread after `first` took its hold; once the thread is seen to
    /// block (asleep, if `sleeps`), `release` lets the first hold go, and the thread must finish.
    fn relock_blocks_until_released<L: Sync>(
        lock: &L,
        first: impl FnOnce(&L) + Send,
        relock: impl FnOnce(&L) + Send,
        sleeps: bool,
        release: impl FnOnce(&L),
    ) {
        let (relocking, relocker) = (AtomicBool::new(false), AtomicI64::new(0));
        thread::scope(|s| {
            let thread = s.spawn(|| {
                // Relaxed: published by the Release store of the flag.
                relocker.store(tid(), Relaxed);
                first(lock);
                relocking.store(true, Release);
                relock(lock);
            });
            wait_for(&relocking);
            if sleeps {
                wait_until_asleep(relocker.load(Relaxed));
            }
            release(lock);
            thread.join().expect("the relock blocked, then took the lock, without a panic");
        });
    }

    #[test]
    fn a_mutex_relock_blocks() {
        let lock = Mutex::new(0);
        relock_blocks_until_released(
            &lock,
            |l| std::mem::forget(l.lock()),
            |l| *l.lock() += 1,
            true,
            // SAFETY: the thread's guard was forgotten; released once, here.
            |l| unsafe { l.force_unlock() },
        );
        assert_eq!(lock.into_inner(), 1);
    }

    #[test]
    fn a_fair_mutex_relock_blocks() {
        let lock = FairMutex::new(0);
        relock_blocks_until_released(
            &lock,
            |l| std::mem::forget(l.lock()),
            |l| *l.lock() += 1,
            true,
            // SAFETY: the thread's guard was forgotten; released once, here.
            |l| unsafe { l.force_unlock() },
        );
        assert_eq!(lock.into_inner(), 1);
    }

    #[test]
    fn a_spinlock_relock_spins_until_released() {
        let lock = SpinLock::new(0);
        relock_blocks_until_released(
            &lock,
            |l| std::mem::forget(l.lock()),
            |l| *l.lock() += 1,
            false,
            // SAFETY: the thread's guard was forgotten; released once, here.
            |l| unsafe { l.force_unlock() },
        );
        assert_eq!(lock.into_inner(), 1);
    }

    fn rwlock_relocks_block<P: Policy>() {
        // SAFETY (each release below): the thread's guard of that kind was forgotten, and a
        // read or the write lock is state of the lock, not of a thread: the release is the
        // same atomic step on whichever thread runs it.
        let lock = RwLock::<u32, P>::with_backend(0);
        relock_blocks_until_released(
            &lock,
            |l| std::mem::forget(l.read()),
            |l| *l.write() += 1,
            true,
            |l| unsafe { l.force_unlock_read() },
        );
        for relock in 0..3 {
            relock_blocks_until_released(
                &lock,
                |l| std::mem::forget(l.write()),
                |l| match relock {
                    0 => drop(l.read()),
                    1 => drop(l.read_recursive()),
                    _ => drop(l.upgradable_read()),
                },
                true,
                |l| unsafe { l.force_unlock_write() },
            );
        }
        relock_blocks_until_released(
            &lock,
            |l| std::mem::forget(l.write()),
            |l| *l.write() += 1,
            true,
            |l| unsafe { l.force_unlock_write() },
        );
        assert_eq!(*lock.read(), 2);
        // The upgradable read cannot be force-unlocked: the thread stays asleep.
        for relock in 0..2 {
            let lock: &'static RwLock<u32, P> = Box::leak(Box::new(RwLock::with_backend(0)));
            let relocking: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
            let relocker: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
            thread::spawn(move || {
                // Relaxed: published by the Release store of the flag.
                relocker.store(tid(), Relaxed);
                let _upgradable = lock.upgradable_read();
                relocking.store(true, Release);
                match relock {
                    0 => drop(lock.write()),
                    _ => drop(lock.upgradable_read()),
                }
                unreachable!("the relock never returns");
            });
            wait_for(relocking);
            wait_until_asleep(relocker.load(Relaxed));
        }
    }

    #[test]
    fn reader_preferring_relocks_block() {
        rwlock_relocks_block::<turnstile::rwlock::ReaderPref>();
    }

    #[test]
    fn writer_preferring_relocks_block() {
        rwlock_relocks_block::<turnstile::rwlock::WriterPref>();
        nested_read_blocks_behind_a_queued_writer::<turnstile::rwlock::WriterPref>();
    }

    #[test]
    fn fair_relocks_block() {
        rwlock_relocks_block::<turnstile::rwlock::Fair>();
        nested_read_blocks_behind_a_queued_writer::<turnstile::rwlock::Fair>();
    }

    /// A nested read on the writer-preferring and fair locks passes while no writer waits, and
    /// blocks behind one that queued between the two reads (the hang debug builds forestall).
    fn nested_read_blocks_behind_a_queued_writer<P: Policy>() {
        let lock = RwLock::<u32, P>::with_backend(0);
        drop((lock.read(), lock.read()));
        let (first_read, read_again) = (AtomicBool::new(false), AtomicBool::new(false));
        let reader_tid = AtomicI64::new(0);
        thread::scope(|s| {
            let reader = s.spawn(|| {
                // Relaxed: published by the Release store of `first_read`.
                reader_tid.store(tid(), Relaxed);
                std::mem::forget(lock.read());
                first_read.store(true, Release);
                wait_for(&read_again);
                *lock.read()
            });
            wait_for(&first_read);
            let writer = s.spawn(|| *lock.write() += 1);
            // A queued writer keeps new readers out under these policies.
            while let Some(reader) = lock.try_read() {
                drop(reader);
                thread::yield_now();
            }
            read_again.store(true, Release);
            wait_until_asleep(reader_tid.load(Relaxed));
            // SAFETY: the reader's first read guard was forgotten; a read lock is state of the
            // lock, released by the same atomic step on any thread; released once, here.
            unsafe { lock.force_unlock_read() };
            writer.join().unwrap();
            assert_eq!(reader.join().unwrap(), 1, "the nested read waited for the writer");
        });
    }
}
