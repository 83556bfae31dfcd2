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
//! | 0–17   | readers holding the lock (at most [`MAX_READERS`]) |
//! | 18–29  | writers registered as waiting (at most [`MAX_WAITING_WRITERS`]) |
//! | 30     | `WRITER`: a writer holds the lock |
//! | 31     | `READERS_WAITING`: readers may sleep on the state word; whoever lets them in wakes them |
//!
//! Readers sleep on the state word itself. Writers sleep on a second word, `writer_seq`, which
//! is bumped before every writer wake: a writer reads it *before* it looks at the state, so a
//! wake that follows any change it could have missed changes the word it sleeps on. Keeping the
//! two apart means a writer's wake never wakes readers, and the other way round.
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

use super::raw::{ConstInit, RawRwLock};
use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;

const READER: u32 = 1;
const READERS: u32 = (1 << 18) - 1;
const WAITING_WRITER: u32 = 1 << 18;
const WAITING_WRITERS: u32 = ((1 << 12) - 1) << 18;
/// A writer holds the lock.
const WRITER: u32 = 1 << 30;
/// Readers may be asleep on the state word.
const READERS_WAITING: u32 = 1 << 31;

/// How many read locks a [`ReaderPrefRwLock`](crate::ReaderPrefRwLock) or
/// [`WriterPrefRwLock`](crate::WriterPrefRwLock) can hold at once (262,143). One more panics,
/// leaving the lock as it was.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_READERS, (1 << 18) - 1);
/// ```
pub const MAX_READERS: u32 = READERS;

/// How many writers can wait at once for a [`ReaderPrefRwLock`](crate::ReaderPrefRwLock) or
/// [`WriterPrefRwLock`](crate::WriterPrefRwLock) (4,095). One more panics, leaving the lock as
/// it was.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_WAITING_WRITERS, 4095);
/// ```
pub const MAX_WAITING_WRITERS: u32 = WAITING_WRITERS >> 18;

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
        s & WRITER == 0 && !(WRITERS_FIRST && s & WAITING_WRITERS != 0)
    }

    /// `s` with one more reader, or a panic if the count is full (the state is then unchanged).
    #[inline]
    fn plus_reader(s: u32) -> u32 {
        if s & READERS == READERS {
            too_many("readers", MAX_READERS);
        }
        s + READER
    }

    #[cold]
    fn read_contended(&self, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::<B>::new();
        // Relaxed: the compare-exchange that admits us is the Acquire.
        let mut s = self.state.load(Relaxed);
        loop {
            if Self::readable(s) {
                // Acquire: pairs with the Release of the writer's unlock (or downgrade).
                match self.state.compare_exchange(s, Self::plus_reader(s), Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
                continue;
            }
            if s & READERS_WAITING == 0 {
                // Nobody sleeps yet: spin a little, a short write may end first.
                if backoff.spin() {
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
            // Release bump in `wake_writer`, so seeing a bump means seeing the change before it.
            let seq = self.writer_seq.load(Acquire);
            let mut s = self.state.load(Relaxed);
            while s & (READERS | WRITER) != 0 && s & WAITING_WRITERS == 0 && backoff.spin() {
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
            if !B::wait(&self.writer_seq, seq, deadline) {
                self.give_up_writing();
                return false;
            }
        }
    }

    /// A counted writer whose deadline passed leaves the count; if it was the last writer that
    /// kept readers out, it lets them in.
    fn give_up_writing(&self) {
        let mut s = self.state.load(Relaxed);
        loop {
            let mut new = s - WAITING_WRITER;
            let wake_readers = new & READERS_WAITING != 0 && Self::readable(new);
            if wake_readers {
                new &= !READERS_WAITING;
            }
            // Relaxed: nothing is published; the woken readers' Acquire pairs with the last
            // unlock's Release.
            match self.state.compare_exchange(s, new, Relaxed, Relaxed) {
                Ok(_) => {
                    if wake_readers {
                        B::wake_all(&self.state);
                    }
                    return;
                }
                Err(now) => s = now,
            }
        }
    }

    /// Lets one counted writer re-check the state.
    #[cold]
    fn wake_writer(&self) {
        // Release: pairs with the Acquire read of `writer_seq` in `write_contended`: a writer
        // that sees this bump sees the state change we made before it.
        self.writer_seq.fetch_add(1, Release);
        B::wake_one(&self.writer_seq);
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
                self.wake_writer();
            }
        } else if writers_wait {
            self.wake_writer();
        }
    }
}

#[cold]
#[inline(never)]
fn too_many(what: &str, max: u32) -> ! {
    panic!("too many {what} on one readers-writer lock: at most {max} (the lock is unchanged)")
}

impl<const WRITERS_FIRST: bool> ConstInit for Preference<WRITERS_FIRST, Real> {
    const INIT: Self = Preference { state: AtomicU32::new(0), writer_seq: AtomicU32::new(0) };
}

// SAFETY: a writer enters only by a compare-exchange from a state with no readers and no
// writer, a reader only from a state without `WRITER`, so writers exclude everyone. Every
// release is a Release read-modify-write of `state` and every acquisition an Acquire one.
unsafe impl<const WRITERS_FIRST: bool, B: Backend> RawRwLock for Preference<WRITERS_FIRST, B> {
    type Backend = B;
    const NAME: &'static str = if WRITERS_FIRST { "WriterPrefRwLock" } else { "ReaderPrefRwLock" };

    fn with_backend() -> Self {
        Preference { state: B::Word::new(0), writer_seq: B::Word::new(0) }
    }

    #[inline]
    fn try_read(&self) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        while Self::readable(s) {
            // Acquire: pairs with the Release of the writer's unlock (or downgrade).
            match self.state.compare_exchange(s, Self::plus_reader(s), Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    #[inline]
    fn read(&self, deadline: Option<Instant>) -> bool {
        self.try_read() || self.read_contended(deadline)
    }

    #[inline]
    unsafe fn unlock_read(&self) {
        // Release: orders our reads before the next writer's Acquire, so it cannot overwrite
        // what we are still reading.
        let old = self.state.fetch_sub(READER, Release);
        if old & READERS == READER && old & WAITING_WRITERS != 0 {
            self.wake_writer();
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
        let mut s = self.state.load(Relaxed);
        loop {
            let mut new = s - WRITER + READER;
            let wake_readers = new & READERS_WAITING != 0 && Self::readable(new);
            if wake_readers {
                new &= !READERS_WAITING;
            }
            // Release: the readers that join now see what we wrote.
            match self.state.compare_exchange(s, new, Release, Relaxed) {
                Ok(_) => {
                    if wake_readers {
                        B::wake_all(&self.state);
                    }
                    return;
                }
                Err(now) => s = now,
            }
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.state.load(Relaxed) & (READERS | WRITER) != 0
    }

    #[cfg(feature = "loom")]
    fn queued_writers(&self) -> u32 {
        // Acquire: a model that sees the count also sees what the writer did before it.
        (self.state.load(Acquire) & WAITING_WRITERS) >> 18
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReaderPrefRwLock, WriterPrefRwLock};

    #[test]
    fn the_fields_do_not_overlap() {
        assert_eq!(READERS & WAITING_WRITERS, 0);
        assert_eq!((READERS | WAITING_WRITERS) & (WRITER | READERS_WAITING), 0);
        assert_eq!(READERS | WAITING_WRITERS | WRITER | READERS_WAITING, u32::MAX);
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
