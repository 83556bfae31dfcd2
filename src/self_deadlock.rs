//! Debug builds only: a thread that would wait for a lock it holds itself panics instead of
//! hanging.
//!
//! A self-deadlock is the one deadlock a lock can see coming: the thread about to wait is the
//! thread that must let go first. `println!("{} {}", s.lock().a, s.lock().b)` takes the mutex
//! twice in one statement (the first guard lives to the end of it) and hangs silently; a
//! `write()` under a `read()` of the same lock waits for a reader that is its own caller. In
//! debug builds (`cfg(debug_assertions)`) each thread keeps a record of the locks it holds, and
//! the blocking acquires look there first: if this thread holds the lock in a way the acquire
//! would wait for, they panic at the caller's line (`#[track_caller]`), naming the lock, where
//! the first hold was taken, and what to do instead. In release builds every function here is an
//! empty `#[inline(always)]` one: no thread-local, no branch, and no lock type grows by a byte
//! (shared-memory layouts depend on the sizes).
//!
//! What is caught (the blocking acquires only: `try_*` return `None` as before, and the timed
//! acquires, `_for` and `_until`, wait out their timeout, as they do not hang):
//!
//! * `Mutex::lock` or `SpinLock::lock` (and `lock_arc`) on a lock this thread holds;
//! * on every readers-writer lock: `write` while holding a read, the upgradable read or the
//!   write lock; `read`, `read_recursive` or `upgradable_read` while holding the write lock;
//!   `upgradable_read` while holding the upgradable read; and an upgrade while this thread also
//!   holds a plain read (the upgrade waits for every other reader);
//! * on the writer-preferring and fair locks, a `read` or `upgradable_read` while holding a read
//!   (or the upgradable read): it waits behind any writer that queues in between, and that writer
//!   waits for the first read, so it hangs only when a writer comes, which tests rarely arrange
//!   and production eventually does. It panics every time in debug builds, so the tests catch the
//!   intermittent hang. `read_recursive` is the nested read that enters past waiting writers, and
//!   on the reader-preferring lock every read does, so there nested reads are left alone.
//!
//! **The record.** A thread-local list of `(lock word address, lock type, hold, location)`: the
//! address of the lock's state word (unique among live locks, where the lock's own address is
//! not: a lock inside another's data can share its address), the type's name (so that a record
//! left by a dead lock is not taken for a new lock of another type at the same place), what is
//! held (exclusive, read, upgradable read, write), and where it was taken (`Location::caller()`,
//! which the public acquires pass down), with a count: holds of one kind piling up on one lock
//! (reads) stay one entry. It is short (a thread holds a few locks), so a linear search from the
//! end is the fastest lookup.
//!
//! **Who writes it.** The public acquires, when they succeed (the `try_` and timed ones too: a
//! relock after a `try_lock` hangs just the same), push; every release of a guard pops (drop,
//! `unlock_fair`, the mapped and `Arc` guards, which hold the lock for the guard they came from,
//! on the same thread since they are `!Send`). `force_unlock*` pops on the calling thread, and
//! so does the `lock_api` mutex interop's unlock (its `lock` is `Mutex::lock` with the guard
//! forgotten, so it is checked). The raw paths do not touch it: `RawLock::relock` and
//! `RawLock::unlock` (what a reentrant mutex must build on, as its owner may lock again), and
//! the readers-writer state machines, which the `lock_api` readers-writer interop calls
//! straight (unchecked). Where the kind of a hold changes,
//! the record changes with it: a downgrade or an upgrade rewrites the hold and keeps the place it
//! was first taken. `unlocked` (and so `Condvar::wait` and the monitor's waits, built on it)
//! takes the record out while the closure runs, as the lock is free then and a `lock()` inside
//! is legal, and puts it back once the lock is retaken. A leaked guard's record stays: the lock
//! stays held forever, so a relock is a true deadlock, and the panic is right.
//!
//! **Records that lie.** A record can outlive its hold without a release on this thread: a
//! guard `mem::forget`-ten here and the lock `force_unlock`ed on another thread, or a lock freed
//! (its guard forgotten) and another lock built at the same address. So before it panics, the
//! check asks the lock word whether the lock is held right now (held exclusively, for a write
//! record): if not, the record is stale, it is dropped and the acquire goes on. The corner left:
//! a forgotten guard, the lock force-unlocked by another thread and then *taken by a third*,
//! before this thread locks it again: the record says "held", and so does the word, and the
//! acquire panics where it should have waited. (The same with another process holding a lock in
//! shared memory.) Only `unsafe` code can set that up (`force_unlock*` is `unsafe`, and its
//! contract asks for the forgotten guard's thread); drop the guard instead of forgetting it.
//!
//! **Threads that are not threads.** Loom runs a model's threads on one OS thread, which would
//! share one record: locks over the loom backend are not recorded, and loom's models run the
//! unchecked algorithm. Locks over [`ProcessShared`](crate::backend::ProcessShared) are: a thread
//! relocking a lock in shared memory hangs too. A process that forks while holding locks gives
//! the child its thread's record; the child's record is dropped at its first check (the record
//! knows the process it was made in), since a lock in shared memory that the parent holds is not
//! the child's to deadlock on (a private lock copied held into the child then goes unchecked).
//!
//! **Cost.** Debug builds: each acquire and release a thread-local access and a push or a search
//! of a short list, and each blocking acquire a search; see `benches/debug_checks.rs`. Release
//! builds: nothing.

/// What a thread holds of a lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hold {
    /// A mutex or a spinlock.
    Exclusive,
    /// A read lock of a readers-writer lock.
    Read,
    /// The upgradable read lock.
    Upgradable,
    /// The write lock.
    Write,
}

/// What a blocking acquire asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Want {
    /// A mutex's or a spinlock's `lock`.
    Lock,
    /// `read`.
    Read,
    /// `read_recursive`.
    ReadRecursive,
    /// `upgradable_read`.
    Upgradable,
    /// `write`.
    Write,
    /// An upgradable guard's `upgrade`.
    Upgrade,
}

/// A record taken out while a guard's lock is let go (`unlocked`), to put back after.
pub(crate) struct Suspended {
    #[cfg(debug_assertions)]
    record: Option<imp::Record>,
}

#[cfg(debug_assertions)]
pub(crate) use imp::{acquired, check, rekind, released, restore, suspend};

#[cfg(debug_assertions)]
mod imp {
    use core::cell::RefCell;
    use core::panic::Location;

    use super::{Hold, Suspended, Want};
    use crate::backend::Backend;

    /// Holds of one kind of one lock by this thread: `count` of them, the first taken `at`.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Record {
        word: usize,
        lock: &'static str,
        hold: Hold,
        at: &'static Location<'static>,
        count: usize,
    }

    impl Record {
        fn is(&self, word: usize, lock: &'static str, hold: Hold) -> bool {
            self.word == word && same_name(self.lock, lock) && self.hold == hold
        }
    }

    /// Whether two lock names are one: the same literal, usually at the same address (compared
    /// first, as a debug build does not optimise the comparison of the text).
    #[inline]
    fn same_name(a: &'static str, b: &'static str) -> bool {
        core::ptr::eq(a, b) || a == b
    }

    /// This thread's holds, and the process they were taken in.
    struct Held {
        /// The process this thread's records were made in (0 until the first); a forked child
        /// inherits it, and so can tell its inherited records.
        pid: u32,
        records: Vec<Record>,
    }

    impl Held {
        /// Adds `record`'s holds: to the latest record if it is of the same hold of the same
        /// lock (reads piling up stay one record, so lookups stay short), else as a new one.
        fn add(&mut self, record: Record) {
            match self.records.last_mut() {
                Some(last) if last.is(record.word, record.lock, record.hold) => last.count += record.count,
                _ => self.records.push(record),
            }
        }

        /// Drops one of this thread's latest holds of `hold` of the lock: `take` without the
        /// record to return.
        fn drop_one(&mut self, word: *const (), lock: &'static str, hold: Hold) {
            let word = word as usize;
            let mut index = self.records.len();
            while index > 0 {
                index -= 1;
                let record = &mut self.records[index];
                if record.is(word, lock, hold) {
                    if record.count > 1 {
                        record.count -= 1;
                    } else if index + 1 == self.records.len() {
                        // The usual case, guards dropped in reverse order: no move of the rest.
                        self.records.truncate(index);
                    } else {
                        self.records.remove(index);
                    }
                    return;
                }
            }
        }

        /// Takes one of this thread's latest holds of `hold` of the lock out.
        fn take(&mut self, word: *const (), lock: &'static str, hold: Hold) -> Option<Record> {
            let word = word as usize;
            let index = self.records.iter().rposition(|r| r.is(word, lock, hold))?;
            let record = &mut self.records[index];
            if record.count > 1 {
                record.count -= 1;
                Some(Record { count: 1, ..*record })
            } else {
                Some(self.records.remove(index))
            }
        }
    }

    std::thread_local! {
        static HELD: RefCell<Held> = const { RefCell::new(Held { pid: 0, records: Vec::new() }) };
    }

    /// Whether locks over `B` are recorded: those of OS threads (the real machine, shared
    /// memory), not loom's, whose threads share one OS thread.
    #[inline]
    fn recorded<B: Backend>() -> bool {
        B::OS_THREADS
    }

    /// Runs `f` on this thread's record; nothing while the thread is being torn down.
    #[inline]
    fn with<R>(f: impl FnOnce(&mut Held) -> R) -> Option<R> {
        HELD.try_with(|held| f(&mut held.borrow_mut())).ok()
    }

    /// This thread has just taken `hold` of the lock whose word is at `word`.
    #[track_caller]
    pub(crate) fn acquired<B: Backend>(word: *const (), lock: &'static str, hold: Hold) {
        if !recorded::<B>() {
            return;
        }
        let at = Location::caller();
        with(|held| {
            if held.pid == 0 {
                held.pid = std::process::id();
            }
            match held.records.last_mut() {
                Some(last) if last.is(word as usize, lock, hold) => last.count += 1,
                // Built in place: a debug build copies every struct it moves.
                _ => held.records.push(Record { word: word as usize, lock, hold, at, count: 1 }),
            }
        });
    }

    /// This thread has just let go of `hold` of the lock (a release on a thread that has no such
    /// record, as a force-unlock of another thread's forgotten guard, changes nothing).
    #[inline]
    pub(crate) fn released<B: Backend>(word: *const (), lock: &'static str, hold: Hold) {
        if recorded::<B>() {
            with(|held| held.drop_one(word, lock, hold));
        }
    }

    /// The hold is let go for a while (`unlocked`): its record comes out, to be [`restore`]d.
    pub(crate) fn suspend<B: Backend>(word: *const (), lock: &'static str, hold: Hold) -> Suspended {
        let record = if recorded::<B>() { with(|held| held.take(word, lock, hold)).flatten() } else { None };
        Suspended { record }
    }

    /// The hold let go by [`suspend`] is taken back.
    pub(crate) fn restore(suspended: Suspended) {
        if let Some(record) = suspended.record {
            with(|held| held.add(record));
        }
    }

    /// This thread's `from` hold of the lock has become a `to` hold (a downgrade, an upgrade).
    pub(crate) fn rekind<B: Backend>(word: *const (), lock: &'static str, from: Hold, to: Hold) {
        if !recorded::<B>() {
            return;
        }
        with(|held| {
            if let Some(record) = held.take(word, lock, from) {
                held.add(Record { hold: to, ..record });
            }
        });
    }

    /// Whether asking for `want` while holding `hold` waits for this very thread.
    /// `reads_wait`: a read waits for a writer that waits (the writer-preferring and fair locks).
    fn waits_for_itself(want: Want, hold: Hold, reads_wait: bool) -> bool {
        use Hold as H;
        use Want as W;
        match (want, hold) {
            (W::Lock, H::Exclusive) => true,
            (W::Lock, _) | (_, H::Exclusive) => false,
            (W::Write, _) | (_, H::Write) => true,
            (W::Upgradable, H::Upgradable) => true,
            (W::Read | W::Upgradable, H::Read | H::Upgradable) => reads_wait,
            (W::ReadRecursive, _) => false,
            (W::Upgrade, H::Read) => true,
            (W::Upgrade, H::Upgradable) => false,
        }
    }

    /// Before a blocking acquire of `want` through `method` of the lock whose word is at `word`:
    /// panics if this thread holds the lock so that the acquire would wait for itself, and
    /// `is_held` (the lock word's own answer: held, or for [`Hold::Write`] held by a writer)
    /// confirms the record; drops the record as stale if the word says it is free.
    #[track_caller]
    pub(crate) fn check<B: Backend>(
        word: *const (),
        lock: &'static str,
        method: &'static str,
        want: Want,
        reads_wait: bool,
        is_held: impl FnOnce(Hold) -> bool,
    ) {
        if !recorded::<B>() {
            return;
        }
        let word = word as usize;
        let conflict = |r: &Record| {
            r.word == word && same_name(r.lock, lock) && waits_for_itself(want, r.hold, reads_wait)
        };
        // Usually there is nothing to find: look without copying anything out first.
        if with(|held| !held.records.iter().any(conflict)).unwrap_or(true) {
            return;
        }
        let Some((found, pid)) =
            with(|held| Some((*held.records.iter().rev().find(|r| conflict(r))?, held.pid))).flatten()
        else {
            return;
        };
        let same_process = pid == std::process::id();
        if same_process && is_held(found.hold) {
            panic!("{}", message(lock, method, want, &found));
        }
        // Stale: the lock was let go behind this thread's back (or the record came with a fork).
        with(|held| {
            if same_process {
                held.records.retain(|r| !(r.word == word && same_name(r.lock, lock)));
            } else {
                held.records.clear();
                held.pid = std::process::id();
            }
        });
    }

    /// What the user did and what to do instead.
    fn message(lock: &str, method: &str, want: Want, found: &Record) -> String {
        let at = found.at;
        let held = match found.hold {
            Hold::Exclusive => format!("this {lock}"),
            Hold::Read => format!("a read lock of this {lock}"),
            Hold::Upgradable => format!("the upgradable read lock of this {lock}"),
            Hold::Write => format!("the write lock of this {lock}"),
        };
        let forever = format!("so this {method}() would wait for itself forever");
        match (want, found.hold) {
            (Want::Lock, _) | (_, Hold::Exclusive) => format!(
                "{lock}::{method}: this thread already holds {held} (locked at {at}), {forever}; \
                 drop the first guard before locking again, or use ReentrantMutex to lock it \
                 again on the same thread"
            ),
            (Want::Write, Hold::Read) => format!(
                "{lock}::{method}: this thread holds {held} (locked at {at}), and a writer waits \
                 for every reader to leave, {forever}; drop the read guard first, or take the \
                 read with upgradable_read() and upgrade() it to write"
            ),
            (Want::Write, Hold::Upgradable) => format!(
                "{lock}::{method}: this thread holds {held} (locked at {at}), {forever}; upgrade \
                 that guard instead (RwLockUpgradableReadGuard::upgrade), or drop it first"
            ),
            (_, Hold::Write) => format!(
                "{lock}::{method}: this thread holds {held} (locked at {at}), {forever}; use the \
                 write guard, downgrade() it to a read guard, or drop it first"
            ),
            (Want::Upgradable, Hold::Upgradable) => format!(
                "{lock}::{method}: this thread already holds {held} (locked at {at}), and there \
                 is one at a time, {forever}; use the guard it holds, or drop it first"
            ),
            (Want::Read, _) => format!(
                "{lock}::{method}: this thread already holds {held} (locked at {at}); a second \
                 read() waits behind any writer that queues in between, which waits for the \
                 first read, so this deadlocks whenever a writer comes (debug builds panic every \
                 time, so tests catch it); take the nested read with read_recursive(), or use \
                 ReaderPrefRwLock"
            ),
            (Want::Upgradable, _) => format!(
                "{lock}::{method}: this thread already holds {held} (locked at {at}); \
                 upgradable_read() waits behind any writer that queues in between, which waits \
                 for the read, so this deadlocks whenever a writer comes (debug builds panic \
                 every time, so tests catch it); drop the read guard first, or take the \
                 upgradable read in its place"
            ),
            (Want::Upgrade, _) => format!(
                "{lock}::upgrade: this thread also holds {held} (locked at {at}), and an upgrade \
                 waits for every other reader to leave, so this upgrade() would wait for itself \
                 forever; drop the read guard before upgrading"
            ),
            (Want::ReadRecursive, _) => unreachable!("a recursive read waits for no read lock"),
        }
    }

    /// How many holds this thread's record keeps.
    #[cfg(test)]
    pub(crate) fn holds() -> usize {
        with(|held| held.records.iter().map(|r| r.count).sum()).unwrap_or(0)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::rwlock::{ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};
        use crate::{
            Condvar, FairRwLock, MappedLockGuard, Mutex, MutexGuard, ReaderPrefRwLock, RwLockReadGuard,
            RwLockUpgradableReadGuard, RwLockWriteGuard, SpinLock, WriterPrefRwLock,
        };
        use std::sync::Arc;
        use std::time::Duration;

        /// `f` leaves this thread's record as it found it; `f`'s argument checks how many holds
        /// `f` has added to it meanwhile.
        fn gives_back(f: impl FnOnce(&dyn Fn(usize))) {
            let before = holds();
            f(&|expected| assert_eq!(holds(), before + expected, "while held"));
            assert_eq!(holds(), before, "every hold recorded was given back");
        }

        #[test]
        fn every_release_of_an_exclusive_lock_gives_its_record_back() {
            let lock = Arc::new(Mutex::new(0));
            gives_back(|held| {
                let guard = lock.lock();
                held(1);
                let mapped = MutexGuard::map(guard, |n| n);
                held(1);
                drop(MappedLockGuard::map(mapped, |n| n));
                MutexGuard::unlock_fair(lock.try_lock().unwrap());
                drop(lock.lock_arc());
                drop(lock.try_lock_arc());
                drop(lock.try_lock_for(Duration::from_millis(1)));
                std::mem::forget(lock.lock());
                held(1);
                // SAFETY: held, the guard forgotten.
                unsafe { lock.force_unlock() };
                let mut guard = lock.lock();
                MutexGuard::unlocked(&mut guard, || held(0));
                held(1);
                let condvar = Condvar::new();
                condvar.wait_for(&mut guard, Duration::from_millis(1));
                held(1);
                drop(guard);
                let spin = SpinLock::new(0);
                drop(spin.lock());
                drop(spin.try_lock());
            });
        }

        #[test]
        fn every_release_and_change_of_a_readers_writer_lock_gives_its_record_back() {
            fn each<P: crate::rwlock::Policy>(lock: crate::rwlock::RwLock<u32, P>) {
                let lock = Arc::new(lock);
                gives_back(|held| {
                    let (reader, again) = (lock.read(), lock.read_recursive());
                    held(2);
                    drop((RwLockReadGuard::map(reader, |n| n), again));
                    let writer = RwLockWriteGuard::downgrade_to_upgradable(lock.write());
                    held(1);
                    let writer = RwLockUpgradableReadGuard::upgrade(writer);
                    drop(RwLockReadGuard::map(RwLockWriteGuard::downgrade(writer), |n| n));
                    let upgradable = RwLockUpgradableReadGuard::try_upgrade(lock.upgradable_read()).unwrap();
                    drop(upgradable);
                    drop(RwLockUpgradableReadGuard::downgrade(lock.upgradable_read()));
                    let arc = ArcRwLockUpgradableReadGuard::upgrade(lock.upgradable_read_arc());
                    drop(ArcRwLockWriteGuard::downgrade(arc));
                    drop(lock.try_write_for(Duration::from_millis(1)));
                    let mut reader = lock.read();
                    RwLockReadGuard::unlocked(&mut reader, || held(0));
                    held(1);
                    drop(reader);
                    std::mem::forget(lock.read());
                    // SAFETY: read-locked, the guard forgotten.
                    unsafe { lock.force_unlock_read() };
                    std::mem::forget(lock.write());
                    // SAFETY: write-locked, the guard forgotten.
                    unsafe { lock.force_unlock_write() };
                });
            }
            each(ReaderPrefRwLock::new(0));
            each(WriterPrefRwLock::new(0));
            each(FairRwLock::new(0));
        }

        #[cfg(feature = "lock_api")]
        #[test]
        fn a_lock_api_mutex_gives_its_record_back() {
            type LockApiMutex<T> = lock_api::Mutex<crate::RawMutex, T>;
            let lock = LockApiMutex::new(0);
            gives_back(|held| {
                let guard = lock.lock();
                held(1);
                drop(guard);
                lock_api::MutexGuard::unlock_fair(lock.lock());
                drop(lock.try_lock_for(Duration::from_millis(1)));
            });
        }

        #[test]
        fn reads_piling_up_stay_one_record() {
            let lock = ReaderPrefRwLock::new(());
            let (before, records) = (holds(), with(|held| held.records.len()).unwrap());
            let reads: Vec<_> = (0..100).map(|_| lock.read()).collect();
            assert_eq!(with(|held| held.records.len()), Some(records + 1));
            assert_eq!(holds(), before + 100);
            drop(reads);
            assert_eq!(holds(), before);
        }

        #[test]
        fn a_recursive_read_waits_only_for_the_write_lock() {
            for reads_wait in [false, true] {
                assert!(!waits_for_itself(Want::ReadRecursive, Hold::Read, reads_wait));
                assert!(!waits_for_itself(Want::ReadRecursive, Hold::Upgradable, reads_wait));
                assert!(waits_for_itself(Want::ReadRecursive, Hold::Write, reads_wait));
            }
        }

        #[test]
        fn a_nested_read_waits_only_under_a_policy_that_queues_readers() {
            assert!(!waits_for_itself(Want::Read, Hold::Read, false));
            assert!(waits_for_itself(Want::Read, Hold::Read, true));
            assert!(waits_for_itself(Want::Upgradable, Hold::Read, true));
            assert!(!waits_for_itself(Want::Upgradable, Hold::Read, false));
            assert!(waits_for_itself(Want::Upgradable, Hold::Upgradable, false));
        }
    }
}

#[cfg(not(debug_assertions))]
mod imp_release {
    //! The release build's functions: empty, so every call compiles away.
    #![allow(clippy::extra_unused_type_parameters)] // the same signatures as the debug build's

    use super::{Hold, Suspended, Want};
    use crate::backend::Backend;

    #[inline(always)]
    pub(crate) fn acquired<B: Backend>(_word: *const (), _lock: &'static str, _hold: Hold) {}

    #[inline(always)]
    pub(crate) fn released<B: Backend>(_word: *const (), _lock: &'static str, _hold: Hold) {}

    #[inline(always)]
    pub(crate) fn suspend<B: Backend>(_word: *const (), _lock: &'static str, _hold: Hold) -> Suspended {
        Suspended {}
    }

    #[inline(always)]
    pub(crate) fn restore(_suspended: Suspended) {}

    #[inline(always)]
    pub(crate) fn rekind<B: Backend>(_word: *const (), _lock: &'static str, _from: Hold, _to: Hold) {}

    #[inline(always)]
    pub(crate) fn check<B: Backend>(
        _word: *const (),
        _lock: &'static str,
        _method: &'static str,
        _want: Want,
        _reads_wait: bool,
        _is_held: impl FnOnce(Hold) -> bool,
    ) {
    }
}

#[cfg(not(debug_assertions))]
pub(crate) use imp_release::{acquired, check, rekind, released, restore, suspend};
