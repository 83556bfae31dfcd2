//! The reader-preferring and writer-preferring policies: one state word, one writer wake word.
//!
//! These are the first and second readers-writers problems of Courtois, Heymans and Parnas
//! (1971), which the textbook solves with semaphores; here each is one futex lock. They share
//! everything but two decisions, taken by the `WRITERS_FIRST` parameter:
//!
//! * whether a reader may enter while writers *wait* (reader-preferring: yes, unless a writer
//!   *holds* the lock; writer-preferring: no), and
//! * whom a writer's unlock wakes when both readers and writers wait (readers, or one writer).
//!
//! The state is one `u32`:
//!
//! | bits   | meaning |
//! |--------|---------|
//! | 0–16   | readers holding the lock, the upgradable one included (at most [`MAX_READERS`]) |
//! | 17–27  | writers registered as waiting (at most [`MAX_WAITING_WRITERS`]) |
//! | 28     | `UPGRADING`: the upgradable reader waits for the other readers to leave |
//! | 29     | `UPGRADABLE`: an upgradable reader holds the lock |
//! | 30     | `WRITER`: a writer holds the lock |
//! | 31     | `READERS_WAITING`: readers may sleep on the state word; whoever lets them in wakes them |
//!
//! Readers sleep on the state word itself. Writers sleep on a second word, `writer_seq`, which
//! is bumped before every writer wake: a writer reads it *before* it looks at the state, so a
//! wake that follows any change it could have missed changes the word it sleeps on. Keeping the
//! two apart means a writer's wake never wakes readers, and the other way round. An upgrading
//! reader sleeps on `writer_seq` too, under a futex mask of its own, and the reader whose leaving
//! leaves it alone wakes it; writers' wakes never reach it, nor its wake a writer.
//!
//! **Upgradable readers** are readers (counted, and admitted by the same rule) that also hold
//! the one `UPGRADABLE` bit; one that finds the bit taken sleeps with the readers, and whoever
//! clears the bit wakes them. An upgrade is a waiting writer that already holds a read: under the
//! writer-preferring policy it keeps new readers out as a waiting writer would, under the
//! reader-preferring policy it does not (and can starve, as writers can).
//!
//! **The count of waiting writers is exact**: a writer adds itself before its first sleep and
//! removes itself when it takes the lock or gives up. That is what makes the writer-preferring
//! promise exact ("a reader that arrives after a waiting writer enters after it"), which a
//! "writers may be waiting" bit, cleared when one writer is woken, could not keep.
//!
//! **Invariants.** A reader sleeps only with `READERS_WAITING` set in the value it sleeps on,
//! and whoever clears the bit wakes every reader. A writer sleeps only while counted, and every
//! transition that can let a counted writer in (the last reader leaving, a writer leaving) bumps
//! `writer_seq` and wakes one; the woken writer, or a new one, wakes the next in turn.

use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

use super::raw::RawRwLock;
use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;

const READER: u32 = 1;
const READERS: u32 = (1 << 17) - 1;
const WAITING_WRITER: u32 = 1 << 17;
const WAITING_WRITERS: u32 = ((1 << 11) - 1) << 17;
/// The upgradable reader waits for the others to leave.
const UPGRADING: u32 = 1 << 28;
/// An upgradable reader holds the lock.
const UPGRADABLE: u32 = 1 << 29;
/// A writer holds the lock.
const WRITER: u32 = 1 << 30;
/// Readers may be asleep on the state word.
const READERS_WAITING: u32 = 1 << 31;

/// How many read locks a [`ReaderPrefRwLock`](crate::ReaderPrefRwLock) or
/// [`WriterPrefRwLock`](crate::WriterPrefRwLock) can hold at once (131,071). One more panics,
/// leaving the lock as it was.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_READERS, (1 << 17) - 1);
/// ```
pub const MAX_READERS: u32 = READERS;

/// How many writers can wait at once for a [`ReaderPrefRwLock`](crate::ReaderPrefRwLock) or
/// [`WriterPrefRwLock`](crate::WriterPrefRwLock) (2,047). One more panics, leaving the lock as
/// it was.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_WAITING_WRITERS, 2047);
/// ```
pub const MAX_WAITING_WRITERS: u32 = WAITING_WRITERS >> 17;

/// The futex masks of the sleepers on `writer_seq`.
const WRITER_MASK: u32 = 1;
const UPGRADER_MASK: u32 = 1 << 1;

/// What a reader asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    Plain,
    /// May hold a read lock already: enters beside readers whatever waits.
    Recursive,
    Upgradable,
}

/// The state of a reader- or writer-preferring lock (see [`ReaderPref`] and [`WriterPref`]).
/// 8 bytes.
///
/// ```
/// assert_eq!(core::mem::size_of::<turnstile::rwlock::ReaderPref>(), 8);
/// ```
pub struct Preference<const WRITERS_FIRST: bool, B: Backend = Real> {
    state: B::Word,
    /// Bumped before every wake of a writer; writers sleep on it.
    writer_seq: B::Word,
}

/// **Reader-preferring**: a reader enters whenever no writer *holds* the lock, even while
/// writers wait, and a writer's unlock wakes the waiting readers before any writer.
///
/// * Writers can starve: while readers overlap without a gap, no writer gets in.
/// * A thread may take a read lock it already holds: that never waits.
/// * Taking the write lock while holding a read lock (or the write lock) deadlocks.
///
/// ```
/// use turnstile::ReaderPrefRwLock;
///
/// let lock = ReaderPrefRwLock::new(0);
/// let outer = lock.read();
/// let inner = lock.read(); // a recursive read never blocks under this policy
/// assert_eq!(*outer + *inner, 0);
/// ```
pub type ReaderPref<B = Real> = Preference<false, B>;

/// **Writer-preferring**: once a writer waits, readers that arrive after it wait behind it; a
/// writer's unlock hands the lock to a waiting writer before any reader.
///
/// * Readers can starve under a stream of writers.
/// * A thread that takes a read lock it already holds deadlocks if a writer is waiting
///   (the writer waits for the first read, the second read waits for the writer).
/// * Writers among themselves are not ordered (a writer arriving just as the lock frees can go
///   before one that was woken).
///
/// This is `std::sync::RwLock`'s policy on Linux, made exact: std lets a reader in between a
/// writer's wake and its taking the lock; here the waiting writers are counted, and readers wait
/// for as long as any is.
///
/// ```
/// use turnstile::WriterPrefRwLock;
///
/// let lock = WriterPrefRwLock::new(1);
/// let reader = lock.read();
/// std::thread::scope(|s| {
///     s.spawn(|| *lock.write() += 1); // waits for `reader`, then keeps new readers out
///     drop(reader);
/// });
/// assert_eq!(*lock.read(), 2);
/// ```
pub type WriterPref<B = Real> = Preference<true, B>;

impl<const WRITERS_FIRST: bool, B: Backend> Preference<WRITERS_FIRST, B> {
    /// Whether a new reader may enter in state `s`.
    #[inline]
    fn readable(s: u32) -> bool {
        s & WRITER == 0 && !(WRITERS_FIRST && s & (WAITING_WRITERS | UPGRADING) != 0)
    }

    /// Whether a reader of kind `read` may enter in state `s`.
    #[inline]
    fn admits(read: Read, s: u32) -> bool {
        match read {
            Read::Plain => Self::readable(s),
            // With readers inside, no writer holds the lock; waiting writers wait for them.
            Read::Recursive => Self::readable(s) || (s & WRITER == 0 && s & READERS != 0),
            Read::Upgradable => Self::readable(s) && s & UPGRADABLE == 0,
        }
    }

    /// `s` with one more reader of kind `read`, or a panic if the count is full (the state is
    /// then unchanged).
    #[inline]
    fn plus_reader(read: Read, s: u32) -> u32 {
        if s & READERS == READERS {
            too_many("readers", MAX_READERS);
        }
        s + if read == Read::Upgradable { READER | UPGRADABLE } else { READER }
    }

    /// Takes a read lock of kind `read` if that needs no waiting.
    #[inline]
    fn try_read_as(&self, read: Read) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        while Self::admits(read, s) {
            // Acquire: pairs with the Release of the writer's unlock (or downgrade).
            match self.state.compare_exchange(s, Self::plus_reader(read, s), Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    #[cold]
    fn read_contended(&self, read: Read, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::<B>::new();
        // Relaxed: the compare-exchange that admits us is the Acquire.
        let mut s = self.state.load(Relaxed);
        loop {
            if Self::admits(read, s) {
                // Acquire: pairs with the Release of the writer's unlock (or downgrade).
                match self.state.compare_exchange(s, Self::plus_reader(read, s), Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
                continue;
            }
            if s & READERS_WAITING == 0 {
                // Nobody sleeps yet: spin a little, a short write may end first.
                if backoff.spin_then_yield() {
                    s = self.state.load(Relaxed);
                    continue;
                }
                // Relaxed: the bit only has to be in the word whoever lets readers in changes
                // with a read-modify-write, which sees it.
                if let Err(now) = self.state.compare_exchange(s, s | READERS_WAITING, Relaxed, Relaxed) {
                    s = now;
                    continue;
                }
                s |= READERS_WAITING;
            }
            if !B::wait(&self.state, s, deadline) {
                // The bit stays: it costs whoever clears it one wake that may find nobody.
                return false;
            }
            s = self.state.load(Relaxed);
        }
    }

    #[cold]
    fn write_contended(&self, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::<B>::new();
        let mut counted = false;
        loop {
            // Read before the state: a wake meant for us bumps it after changing the state, so
            // either we see the change below or the wait sees the bump. Acquire: pairs with the
            // Release bump in `bump_and_wake`, so seeing a bump means seeing the change before it.
            let seq = self.writer_seq.load(Acquire);
            let mut s = self.state.load(Relaxed);
            // Spin for a gap, also behind other waiting writers and again after every wake:
            // readers that overlap leave the lock free only for moments, which a sleeping
            // writer's wake-up is too slow to catch.
            while s & (READERS | WRITER) != 0 && backoff.spin_then_yield() {
                s = self.state.load(Relaxed);
            }
            if s & (READERS | WRITER) == 0 {
                let new = (s | WRITER) - if counted { WAITING_WRITER } else { 0 };
                // Acquire: pairs with the Release of the last unlock.
                if self.state.compare_exchange(s, new, Acquire, Relaxed).is_ok() {
                    return true;
                }
                continue;
            }
            if !counted {
                if s & WAITING_WRITERS == WAITING_WRITERS {
                    too_many("waiting writers", MAX_WAITING_WRITERS);
                }
                // Relaxed: the count only has to be in the word every unlock changes with a
                // read-modify-write, which sees it.
                if self.state.compare_exchange(s, s + WAITING_WRITER, Relaxed, Relaxed).is_err() {
                    continue;
                }
                counted = true;
            }
            if !B::wait_masked(&self.writer_seq, seq, WRITER_MASK, deadline) {
                self.update(|s| s - WAITING_WRITER, Relaxed);
                return false;
            }
            backoff = Backoff::new();
        }
    }

    /// Changes the state by `change` (a read-modify-write with `order`), then wakes whoever the
    /// new state lets in: the sleeping readers if it lets readers in (clearing
    /// `READERS_WAITING`), or, if none slept and it leaves the lock free, a waiting writer.
    #[inline]
    fn update(&self, change: impl Fn(u32) -> u32, order: core::sync::atomic::Ordering) {
        // Relaxed: the compare-exchange is the read-modify-write that matters.
        let mut s = self.state.load(Relaxed);
        loop {
            let mut new = change(s);
            let wake_readers = new & READERS_WAITING != 0 && Self::readable(new);
            if wake_readers {
                new &= !READERS_WAITING;
            }
            match self.state.compare_exchange(s, new, order, Relaxed) {
                Ok(_) => {
                    // If no reader was asleep to take its turn, a free lock goes to a writer.
                    let woke_readers = wake_readers && B::wake_all(&self.state) != 0;
                    if !woke_readers && new & (READERS | WRITER) == 0 && new & WAITING_WRITERS != 0 {
                        self.bump_and_wake(WRITER_MASK);
                    }
                    return;
                }
                Err(now) => s = now,
            }
        }
    }

    /// Lets one sleeper on `writer_seq` of `mask` re-check the state.
    #[cold]
    fn bump_and_wake(&self, mask: u32) {
        // Release: pairs with the Acquire read of `writer_seq` in `write_contended` and
        // `upgrade_contended`: a sleeper that sees this bump sees the state change before it.
        self.writer_seq.fetch_add(1, Release);
        B::wake_masked(&self.writer_seq, mask, 1);
    }

    #[cold]
    fn read_released(&self, old: u32) {
        if old & READERS == READER && old & WAITING_WRITERS != 0 {
            self.bump_and_wake(WRITER_MASK);
        } else if old & READERS == 2 * READER && old & UPGRADING != 0 {
            self.bump_and_wake(UPGRADER_MASK);
        }
    }

    #[cold]
    fn unlock_write_contended(&self) {
        let mut s = self.state.load(Relaxed);
        let (wake_readers, writers_wait) = loop {
            let writers_wait = s & WAITING_WRITERS != 0;
            // Readers go next unless this lock prefers a waiting writer.
            let wake_readers = s & READERS_WAITING != 0 && !(WRITERS_FIRST && writers_wait);
            let mut new = s & !WRITER;
            if wake_readers {
                new &= !READERS_WAITING;
            }
            // Release: publishes the critical section to the next holder's Acquire.
            match self.state.compare_exchange(s, new, Release, Relaxed) {
                Ok(_) => break (wake_readers, writers_wait),
                Err(now) => s = now,
            }
        };
        if wake_readers {
            // If no reader was asleep to take its turn (they timed out, or have not slept yet
            // and will see the change), nobody would be left to wake the writers: wake one.
            if B::wake_all(&self.state) == 0 && writers_wait {
                self.bump_and_wake(WRITER_MASK);
            }
        } else if writers_wait {
            self.bump_and_wake(WRITER_MASK);
        }
    }

    /// The upgradable reader's read is the only one (`s`): make it the writer.
    #[inline]
    fn try_finish_upgrade(&self, s: &mut u32) -> bool {
        while *s & READERS == READER {
            let new = (*s - READER - UPGRADABLE + WRITER) & !UPGRADING;
            // Acquire: pairs with the Release of the readers that left.
            match self.state.compare_exchange(*s, new, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => *s = now,
            }
        }
        false
    }

    #[cold]
    fn upgrade_contended(&self, deadline: Option<Instant>) -> bool {
        // Announce: the reader whose leaving leaves us alone wakes us. Relaxed: the readers'
        // read-modify-writes see it.
        self.state.fetch_or(UPGRADING, Relaxed);
        loop {
            // As in `write_contended`: the sequence first. Acquire: pairs with the Release bump.
            let seq = self.writer_seq.load(Acquire);
            let mut s = self.state.load(Relaxed);
            if self.try_finish_upgrade(&mut s) {
                return true;
            }
            if !B::wait_masked(&self.writer_seq, seq, UPGRADER_MASK, deadline) {
                // Give up, unless the readers left just now; readers kept out by the
                // announcement may enter again.
                let mut s = self.state.load(Relaxed);
                if self.try_finish_upgrade(&mut s) {
                    return true;
                }
                self.update(|s| s & !UPGRADING, Relaxed);
                return false;
            }
        }
    }
}

#[cold]
#[inline(never)]
fn too_many(what: &str, max: u32) -> ! {
    panic!("too many {what} on one readers-writer lock: at most {max} (the lock is unchanged)")
}

impl<const WRITERS_FIRST: bool> super::ConstPolicy for Preference<WRITERS_FIRST, Real> {
    const INIT: Self = Preference { state: AtomicU32::new(0), writer_seq: AtomicU32::new(0) };
}

// Every release is a Release read-modify-write of `state` and every acquisition an Acquire one.
// SAFETY: a writer enters only by a compare-exchange from a state with no readers and no writer,
// a reader only without `WRITER` (the upgradable one only without `UPGRADABLE` too), and an
// upgrade only as the last reader; so writers exclude everyone.
unsafe impl<const WRITERS_FIRST: bool, B: Backend> RawRwLock for Preference<WRITERS_FIRST, B> {
    type Backend = B;
    const NAME: &'static str = if WRITERS_FIRST { "WriterPrefRwLock" } else { "ReaderPrefRwLock" };
    const READS_WAIT_FOR_WRITERS: bool = WRITERS_FIRST;

    fn with_backend() -> Self {
        Preference { state: B::Word::new(0), writer_seq: B::Word::new(0) }
    }

    #[inline]
    fn try_read(&self) -> bool {
        self.try_read_as(Read::Plain)
    }

    #[inline]
    fn read(&self, deadline: Option<Instant>) -> bool {
        self.try_read_as(Read::Plain) || self.read_contended(Read::Plain, deadline)
    }

    #[inline]
    fn try_read_recursive(&self) -> bool {
        self.try_read_as(Read::Recursive)
    }

    #[inline]
    fn read_recursive(&self, deadline: Option<Instant>) -> bool {
        self.try_read_as(Read::Recursive) || self.read_contended(Read::Recursive, deadline)
    }

    #[inline]
    unsafe fn unlock_read(&self) {
        // Release: orders our reads before the next writer's Acquire, so it cannot overwrite
        // what we are still reading.
        let old = self.state.fetch_sub(READER, Release);
        if old & (WAITING_WRITERS | UPGRADING) != 0 {
            self.read_released(old);
        }
    }

    #[inline]
    fn try_write(&self) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        while s & (READERS | WRITER) == 0 {
            // Acquire: pairs with the Release of the last unlock.
            match self.state.compare_exchange(s, s | WRITER, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    #[inline]
    fn write(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the Release of the last unlock.
        self.state.compare_exchange(0, WRITER, Acquire, Relaxed).is_ok() || self.write_contended(deadline)
    }

    #[inline]
    unsafe fn unlock_write(&self) {
        // Release: publishes the critical section to the next holder's Acquire.
        if self.state.compare_exchange(WRITER, 0, Release, Relaxed).is_err() {
            self.unlock_write_contended();
        }
    }

    unsafe fn downgrade(&self) {
        // Release: the readers that join now see what we wrote.
        self.update(|s| s - WRITER + READER, Release);
    }

    #[inline]
    fn try_upgradable_read(&self) -> bool {
        self.try_read_as(Read::Upgradable)
    }

    #[inline]
    fn upgradable_read(&self, deadline: Option<Instant>) -> bool {
        self.try_read_as(Read::Upgradable) || self.read_contended(Read::Upgradable, deadline)
    }

    unsafe fn unlock_upgradable(&self) {
        // Release: as a reader's unlock. The readers asleep may include upgradable ones that
        // waited for the bit; `update` wakes them, or the writer this leaves the lock to.
        self.update(|s| s - READER - UPGRADABLE, Release);
    }

    unsafe fn try_upgrade(&self) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        self.try_finish_upgrade(&mut s)
    }

    unsafe fn upgrade(&self, deadline: Option<Instant>) -> bool {
        // SAFETY: the caller holds the upgradable read lock.
        (unsafe { self.try_upgrade() }) || self.upgrade_contended(deadline)
    }

    unsafe fn downgrade_upgradable(&self) {
        // Relaxed: an upgradable reader wrote nothing; readers it lets in synchronize with the
        // last writer through the chain of read-modify-writes on the word.
        self.update(|s| s - UPGRADABLE, Relaxed);
    }

    unsafe fn downgrade_to_upgradable(&self) {
        // Release: the readers that join now see what we wrote.
        self.update(|s| s - WRITER + READER + UPGRADABLE, Release);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.state.load(Relaxed) & (READERS | WRITER) != 0
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        // Relaxed: a snapshot.
        self.state.load(Relaxed) & WRITER != 0
    }

    #[cfg(feature = "loom")]
    fn queued_writers(&self) -> u32 {
        // Acquire: a model that sees the count also sees what the writer did before it.
        (self.state.load(Acquire) & WAITING_WRITERS) >> 17
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReaderPrefRwLock, WriterPrefRwLock};

    #[test]
    fn the_fields_do_not_overlap() {
        let fields = [READERS, WAITING_WRITERS, UPGRADING, UPGRADABLE, WRITER, READERS_WAITING];
        assert_eq!(fields.iter().map(|f| f.count_ones()).sum::<u32>(), 32);
        assert_eq!(fields.iter().fold(0, |all, f| all | f), u32::MAX);
    }

    #[test]
    fn one_reader_too_many_panics_and_leaves_the_lock_as_it_was() {
        let lock = ReaderPrefRwLock::new(());
        lock.raw().state.store(READERS, Relaxed);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.raw().try_read()));
        assert!(caught.is_err());
        assert_eq!(lock.raw().state.load(Relaxed), READERS);
        lock.raw().state.store(0, Relaxed);
    }

    #[test]
    fn a_timed_out_writer_leaves_the_count_and_lets_readers_in() {
        let lock = WriterPrefRwLock::new(());
        let reader = lock.read();
        assert!(lock.try_write_for(std::time::Duration::from_micros(50)).is_none());
        assert_eq!(lock.raw().state.load(Relaxed) & WAITING_WRITERS, 0);
        assert!(lock.try_read().is_some(), "no writer waits any more");
        drop(reader);
    }
}
