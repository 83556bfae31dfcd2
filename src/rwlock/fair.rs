//! The fair policy: one state word, and the crate's wait queue as the line.
//!
//! **The state** is one `u32`:
//!
//! | bits | meaning |
//! |------|---------|
//! | 0    | `PARKED`: threads wait in the lock's line (the wait queue, keyed by the word's address) |
//! | 1    | `WRITER`: a writer holds the lock; with readers counted, the upgradable reader among them waits to upgrade |
//! | 2    | `UPGRADABLE`: an upgradable reader holds the lock (it is counted among the readers too) |
//! | 3–31 | readers holding the lock (at most [`MAX_FAIR_READERS`]) |
//!
//! **Arrival order.** A thread takes the lock at once only if it is free for its kind *and
//! nobody waits* (`PARKED` clear): one read-modify-write. Otherwise, while nobody waits, it spins
//! and yields as the mutex does (a few microseconds), then joins the line: the queue's `park`
//! runs a check under its bucket lock that sets `PARKED` (or finds the lock free after all), and
//! queues the thread last. Once anyone waits, every newcomer queues behind it at once, so the
//! line is the order of arrival. The spin comes before the line, not in it: a thread that waits
//! in line and spins keeps its turn, and with more threads than cores every turn would go to a
//! spinner the scheduler has not run (measured with `cargo bench --bench rwlock`, one run each
//! way: 4 to 75 times slower with more threads than cores). So two threads that arrive within
//! one spin of each other, while nobody is in line, may enter in either order.
//!
//! **Hand-off.** A release that may let the head of the line in (a writer leaving, the last
//! reader leaving, an upgradable reader leaving or stepping down, a downgrade, a waiter giving up)
//! *admits*: under the bucket lock it walks the line from the head and takes each waiter whose
//! kind the lock can now hold, adding it to the state with a compare-exchange as it goes, and
//! stops at the first it cannot: a writer only into an empty lock, readers while no writer holds,
//! one upgradable reader while none holds. So the readers at the head enter together, a writer
//! enters alone, and nobody passes anyone. Those taken wake holding the lock; nobody has to win
//! it again. When the line empties, the same step clears `PARKED`.
//!
//! **Upgrades** do not queue: the upgradable reader holds the lock already and goes before
//! everyone in the line. It sets `WRITER` (new readers now queue) and, if other readers remain,
//! parks on a line of its own (the word's address plus one) until the reader that leaves last
//! but it wakes it.
//!
//! **Timed waits queue** like the others and leave the line at their deadline; the waiter that
//! leaves admits whoever it was holding up (a reader behind a writer that gave up).
//!
//! **Recursive reads** enter whenever readers hold the lock, passing the line: the thread
//! already holds a read lock, which is what the waiters wait for, so queueing would deadlock.
//!
//! **Counts.** Readers are counted in 29 bits; one more than [`MAX_FAIR_READERS`] panics, and
//! the line stops admitting readers at that count. Waiters are counted by the queue: a line
//! has no length limit.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

use super::raw::RawRwLock;
use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;
use crate::machine::queue::{self, Parked, Pick, Unparked};

/// Threads wait in the line.
const PARKED: u32 = 1;
/// A writer holds the lock (or, with readers counted, the upgradable reader waits to upgrade).
const WRITER: u32 = 1 << 1;
/// An upgradable reader holds the lock.
const UPGRADABLE: u32 = 1 << 2;
const ONE_READER: u32 = 1 << 3;
const READERS: u32 = !(ONE_READER - 1);

/// What a waiter parks with: its kind.
const TOKEN_READER: u32 = 1;
const TOKEN_UPGRADABLE: u32 = 2;
const TOKEN_WRITER: u32 = 3;

/// How many read locks a [`FairRwLock`](crate::FairRwLock) can hold at once (536,870,911); one
/// more panics, leaving the lock as it was.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_FAIR_READERS, (1 << 29) - 1);
/// ```
pub const MAX_FAIR_READERS: u32 = READERS >> 3;

/// **Fair (FIFO)**: readers and writers are served in the order they arrive; consecutive readers
/// enter together. 4 bytes.
///
/// * Nobody overtakes a thread in line: once a thread waits in line, every thread that arrives
///   later waits behind it, and the lock passes from the holders to the head of the line
///   directly. A waiter in line waits for the holders and the waiters ahead of it, and for
///   nothing else.
/// * Before it joins the line, a thread that finds the lock held spins and yields for a few
///   microseconds, if nobody is in line yet; threads that arrive within that window may enter in
///   either order. (Spinning in line instead keeps the order to the letter, and was measured 4 to
///   75 times slower with more threads than cores.)
/// * The order is strict: if a reader, a writer and another reader arrive in that order while
///   the lock is held, the second reader enters only after the writer has left.
/// * The exceptions: an upgradable reader's [`upgrade`](crate::RwLockUpgradableReadGuard::upgrade)
///   goes before the line (it holds the lock already), and
///   [`read_recursive`](crate::rwlock::RwLock::read_recursive) enters beside other readers while
///   writers wait.
/// * Timed waits queue too, and leave the line when they give up.
/// * A thread that takes a plain read lock it already holds deadlocks if a writer is queued
///   between; use `read_recursive`.
///
/// ```
/// use turnstile::FairRwLock;
///
/// let lock = FairRwLock::new(Vec::new());
/// std::thread::scope(|s| {
///     for i in 0..4 {
///         let lock = &lock;
///         s.spawn(move || lock.write().push(i));
///     }
/// });
/// assert_eq!(lock.read().len(), 4);
/// ```
///
/// ```
/// assert_eq!(core::mem::size_of::<turnstile::rwlock::Fair>(), 4);
/// ```
pub struct Fair<B: Backend = Real> {
    state: B::Word,
}

/// What a thread asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reader,
    /// A reader that may hold a read lock already: enters beside readers, passing the line.
    Recursive,
    Upgradable,
    Writer,
}

impl Kind {
    /// Whether a thread of this kind may take the lock in state `s` without waiting.
    #[inline]
    fn admits(self, s: u32) -> bool {
        match self {
            Kind::Reader => s & (WRITER | PARKED) == 0,
            // With readers counted, `WRITER` can only be an upgrade waiting for them: joining
            // delays it, and waiting for it would deadlock the reader's first read.
            Kind::Recursive => s & READERS != 0 || s & (WRITER | PARKED) == 0,
            Kind::Upgradable => s & (WRITER | UPGRADABLE | PARKED) == 0,
            Kind::Writer => s == 0,
        }
    }

    /// What holding the lock adds to the state.
    #[inline]
    fn amount(self) -> u32 {
        match self {
            Kind::Reader | Kind::Recursive => ONE_READER,
            Kind::Upgradable => ONE_READER | UPGRADABLE,
            Kind::Writer => WRITER,
        }
    }

    fn token(self) -> u32 {
        match self {
            Kind::Reader | Kind::Recursive => TOKEN_READER,
            Kind::Upgradable => TOKEN_UPGRADABLE,
            Kind::Writer => TOKEN_WRITER,
        }
    }

    fn of_token(token: u32) -> Self {
        match token {
            TOKEN_READER => Kind::Reader,
            TOKEN_UPGRADABLE => Kind::Upgradable,
            _ => Kind::Writer,
        }
    }

    /// Whether a waiter of this kind at the head of the line can hold the lock beside the
    /// holders of `s` (`PARKED` aside).
    fn fits(self, s: u32) -> bool {
        match self {
            Kind::Reader | Kind::Recursive => s & WRITER == 0 && s & READERS != READERS,
            Kind::Upgradable => s & (WRITER | UPGRADABLE) == 0 && s & READERS != READERS,
            Kind::Writer => s & (READERS | WRITER | UPGRADABLE) == 0,
        }
    }
}

impl<B: Backend> Fair<B> {
    /// The key of the lock's line.
    fn key(&self) -> usize {
        &self.state as *const B::Word as usize
    }

    /// The key of the line where an upgrading reader waits for the other readers to leave.
    fn upgrade_key(&self) -> usize {
        self.key() + 1
    }

    /// Takes the lock as `kind` if that needs no waiting.
    #[inline]
    fn try_acquire(&self, kind: Kind) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        while kind.admits(s) {
            if kind != Kind::Writer && s & READERS == READERS {
                too_many_readers();
            }
            // Acquire: pairs with the Release of the last release (or of a hand-off's admit, which
            // acquired it).
            match self.state.compare_exchange(s, s + kind.amount(), Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes the lock as `kind`, waiting in line until `deadline`; `false` if it passed.
    #[inline]
    fn acquire(&self, kind: Kind, deadline: Option<Instant>) -> bool {
        self.try_acquire(kind) || self.acquire_slow(kind, deadline)
    }

    #[cold]
    fn acquire_slow(&self, kind: Kind, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::<B>::new();
        loop {
            if self.try_acquire(kind) {
                return true;
            }
            // Relaxed: a hint; the park's check decides.
            if self.state.load(Relaxed) & PARKED == 0 && backoff.spin_then_yield() {
                continue;
            }
            // Under the bucket lock, which every admit takes: either the lock is free for us now
            // (then we try again), or `PARKED` is set and we queue before anyone can admit.
            let validate = || {
                // Relaxed: the bucket lock orders this with every admit; a release it misses
                // admits after we are queued.
                let mut s = self.state.load(Relaxed);
                loop {
                    if kind.admits(s) {
                        return false;
                    }
                    if s & PARKED != 0 {
                        return true;
                    }
                    // Relaxed: the bit is read under the bucket lock, or by a release's
                    // read-modify-write, which sees it.
                    match self.state.compare_exchange(s, s | PARKED, Relaxed, Relaxed) {
                        Ok(_) => return true,
                        Err(now) => s = now,
                    }
                }
            };
            let more_after = Cell::new(false);
            let timed_out = |more: bool| {
                more_after.set(more);
                if !more {
                    self.clear_parked();
                }
            };
            match queue::park::<B>(self.key(), validate, kind.token(), deadline, timed_out) {
                // The admit that picked us added us to the state: we hold the lock. Its Acquire
                // reaches us through the queue's Release store of our word, which `park` acquires.
                Parked::Woken(_) => return true,
                Parked::Invalid => continue,
                Parked::TimedOut => {
                    if more_after.get() {
                        // We may have held up those behind us (readers behind a writer).
                        self.admit();
                    }
                    return false;
                }
            }
        }
    }

    /// Clears `PARKED`, under the bucket lock, when the line has emptied.
    fn clear_parked(&self) {
        // Relaxed: publishes nothing; whoever takes the lock next synchronizes with the last
        // release through the chain of read-modify-writes on the word.
        self.state.fetch_and(!PARKED, Relaxed);
    }

    /// Lets in the head of the line, as many as the lock can now hold (module docs).
    #[cold]
    fn admit(&self) {
        let full = Cell::new(false);
        let filter = |token: u32| {
            if full.get() {
                return Pick::Stop;
            }
            let kind = Kind::of_token(token);
            // Relaxed: the compare-exchange is the Acquire.
            let mut s = self.state.load(Relaxed);
            loop {
                if !kind.fits(s) {
                    return Pick::Stop;
                }
                // Acquire: pairs with the Release of the holders' releases, so the admitted
                // thread sees their writes: the queue's Release store of its word passes them on.
                match self.state.compare_exchange(s, s + kind.amount(), Acquire, Relaxed) {
                    Ok(_) => {
                        full.set(kind == Kind::Writer);
                        return Pick::Wake;
                    }
                    Err(now) => s = now,
                }
            }
        };
        let callback = |unparked: Unparked| {
            if !unparked.more {
                self.clear_parked();
            }
            0
        };
        queue::unpark::<B>(self.key(), filter, callback);
    }

    /// The slow half of a read release: `old` is the state before it.
    #[cold]
    fn read_released(&self, old: u32) {
        let now = old - ONE_READER;
        if now & WRITER != 0 {
            // An upgrade waits for the readers: wake it when only it is left.
            if now & READERS == ONE_READER {
                queue::unpark::<B>(self.upgrade_key(), |_| Pick::Wake, |_| 0);
            }
        } else if now & READERS == 0 && now & PARKED != 0 {
            self.admit();
        }
    }

    /// The upgradable reader becomes the writer, once the other readers have left or `deadline`
    /// passed (then it stays an upgradable reader, and `false`).
    fn upgrade_slow(&self, deadline: Option<Instant>) -> bool {
        // Announce: `WRITER` keeps new readers out, and tells leaving readers to wake us.
        // Relaxed: the compare-exchange that makes us the writer is the Acquire.
        let mut s = self.state.load(Relaxed);
        loop {
            if self.try_finish_upgrade(&mut s) {
                return true;
            }
            // Relaxed: nothing is published; the leaving readers' read-modify-writes see it.
            match self.state.compare_exchange(s, s - UPGRADABLE + WRITER, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        loop {
            // Relaxed: under the bucket lock, which the last reader takes to wake us.
            let validate = || self.state.load(Relaxed) & READERS != ONE_READER;
            let parked = queue::park::<B>(self.upgrade_key(), validate, TOKEN_WRITER, deadline, |_| {});
            // Relaxed: the compare-exchange that finishes is the Acquire.
            let mut s = self.state.load(Relaxed);
            if self.try_finish_waiting_upgrade(&mut s) {
                return true;
            }
            if parked != Parked::TimedOut {
                continue;
            }
            // Give up: back to an upgradable reader, unless the readers left just now.
            loop {
                // Relaxed: we were holding readers up, not publishing anything.
                match self.state.compare_exchange(s, s - WRITER + UPGRADABLE, Relaxed, Relaxed) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
                if self.try_finish_waiting_upgrade(&mut s) {
                    return true;
                }
            }
            if s & PARKED != 0 {
                self.admit();
            }
            return false;
        }
    }

    /// For an upgrade that set `WRITER`: if its own read is the last (`s`), drops it, leaving
    /// the writer alone. A compare-exchange, since a recursive read may join at any moment.
    fn try_finish_waiting_upgrade(&self, s: &mut u32) -> bool {
        while *s & READERS == ONE_READER {
            // Acquire: pairs with the Release of the readers that left.
            match self.state.compare_exchange(*s, *s - ONE_READER, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => *s = now,
            }
        }
        false
    }

    /// If only the upgradable reader holds the lock (`s`), makes it the writer.
    #[inline]
    fn try_finish_upgrade(&self, s: &mut u32) -> bool {
        while *s & READERS == ONE_READER {
            // Acquire: pairs with the Release of the readers that left.
            match self.state.compare_exchange(*s, *s - ONE_READER - UPGRADABLE + WRITER, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => *s = now,
            }
        }
        false
    }

    /// A release by a read-modify-write adding `amount` (wrapping), admitting if anyone waits.
    #[inline]
    fn release(&self, amount: u32) {
        // Release: publishes the critical section to the next holder's Acquire.
        let old = self.state.fetch_add(amount, Release);
        if old & PARKED != 0 {
            self.admit();
        }
    }
}

#[cold]
#[inline(never)]
fn too_many_readers() -> ! {
    panic!("too many readers on one FairRwLock: at most {MAX_FAIR_READERS} (the lock is unchanged)")
}

impl super::ConstPolicy for Fair<Real> {
    const INIT: Self = Fair { state: AtomicU32::new(0) };
}

// Every release is a Release read-modify-write, every acquisition an Acquire one (an admitted
// waiter's through the queue's Release/Acquire on its word).
// SAFETY: each acquisition is a compare-exchange from a state its kind fits (a writer only into 0,
// readers only without `WRITER`, an upgrade only as the last reader), so a writer excludes all.
unsafe impl<B: Backend> RawRwLock for Fair<B> {
    type Backend = B;
    const NAME: &'static str = "FairRwLock";
    const READS_WAIT_FOR_WRITERS: bool = true;

    fn with_backend() -> Self {
        Fair { state: B::Word::new(0) }
    }

    #[inline]
    fn try_read(&self) -> bool {
        self.try_acquire(Kind::Reader)
    }

    #[inline]
    fn read(&self, deadline: Option<Instant>) -> bool {
        self.acquire(Kind::Reader, deadline)
    }

    #[inline]
    fn try_read_recursive(&self) -> bool {
        self.try_acquire(Kind::Recursive)
    }

    #[inline]
    fn read_recursive(&self, deadline: Option<Instant>) -> bool {
        self.acquire(Kind::Recursive, deadline)
    }

    #[inline]
    unsafe fn unlock_read(&self) {
        // Release: orders our reads before the next writer's Acquire.
        let old = self.state.fetch_sub(ONE_READER, Release);
        if old & (PARKED | WRITER) != 0 {
            self.read_released(old);
        }
    }

    #[inline]
    fn try_write(&self) -> bool {
        self.try_acquire(Kind::Writer)
    }

    #[inline]
    fn write(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the Release of the last release.
        self.state.compare_exchange(0, WRITER, Acquire, Relaxed).is_ok()
            || self.acquire_slow(Kind::Writer, deadline)
    }

    #[inline]
    unsafe fn unlock_write(&self) {
        // Release: publishes the critical section to the next holder's Acquire.
        if self.state.compare_exchange(WRITER, 0, Release, Relaxed).is_err() {
            self.release(WRITER.wrapping_neg());
        }
    }

    unsafe fn downgrade(&self) {
        self.release(ONE_READER.wrapping_sub(WRITER));
    }

    #[inline]
    fn try_upgradable_read(&self) -> bool {
        self.try_acquire(Kind::Upgradable)
    }

    #[inline]
    fn upgradable_read(&self, deadline: Option<Instant>) -> bool {
        self.acquire(Kind::Upgradable, deadline)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        self.release((ONE_READER | UPGRADABLE).wrapping_neg());
    }

    unsafe fn try_upgrade(&self) -> bool {
        // Relaxed: the compare-exchange is the Acquire.
        let mut s = self.state.load(Relaxed);
        self.try_finish_upgrade(&mut s)
    }

    unsafe fn upgrade(&self, deadline: Option<Instant>) -> bool {
        // SAFETY: the caller holds the upgradable read lock.
        (unsafe { self.try_upgrade() }) || self.upgrade_slow(deadline)
    }

    unsafe fn downgrade_upgradable(&self) {
        self.release(UPGRADABLE.wrapping_neg());
    }

    unsafe fn downgrade_to_upgradable(&self) {
        self.release((ONE_READER | UPGRADABLE).wrapping_sub(WRITER));
    }

    #[inline]
    fn is_locked(&self) -> bool {
        // Relaxed: a snapshot.
        self.state.load(Relaxed) & (READERS | WRITER) != 0
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        // Relaxed: a snapshot.
        self.state.load(Relaxed) & (READERS | WRITER) == WRITER
    }

    #[cfg(feature = "loom")]
    fn queued_writers(&self) -> u32 {
        queue::waiting_with::<B>(self.key(), |token| token == TOKEN_WRITER) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FairRwLock;

    #[test]
    fn the_fields_do_not_overlap() {
        assert_eq!(PARKED | WRITER | UPGRADABLE | READERS, u32::MAX);
        assert_eq!((PARKED | WRITER | UPGRADABLE) & READERS, 0);
    }

    #[test]
    fn one_reader_too_many_panics_and_leaves_the_lock_as_it_was() {
        let lock = FairRwLock::new(());
        lock.raw().state.store(READERS, Relaxed);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.raw().try_read()));
        let message = caught.expect_err("one reader too many must panic");
        let message = message.downcast_ref::<String>().map_or("", String::as_str);
        assert!(message.contains("too many readers"), "{message}");
        assert_eq!(lock.raw().state.load(Relaxed), READERS);
        lock.raw().state.store(0, Relaxed);
    }

    #[test]
    fn a_downgraded_reader_keeps_the_next_writer_out() {
        let lock = FairRwLock::new(1);
        let reader = crate::RwLockWriteGuard::downgrade(lock.write());
        assert!(lock.try_write().is_none());
        // A second read on this thread: recursive, as a plain one waits behind queued writers.
        let other = lock.read_recursive();
        drop(reader);
        assert!(lock.try_write().is_none());
        drop(other);
        assert!(lock.try_write().is_some());
    }

    #[test]
    fn a_waiting_thread_makes_newcomers_queue() {
        let lock = FairRwLock::new(());
        let reader = lock.read();
        std::thread::scope(|s| {
            let writer = s.spawn(|| drop(lock.write()));
            while lock.raw().state.load(Relaxed) & PARKED == 0 {
                std::thread::yield_now();
            }
            assert!(lock.try_read().is_none(), "a reader passed the queued writer");
            assert!(lock.try_read_recursive().is_some(), "a recursive read waits for nobody");
            drop(reader);
            writer.join().unwrap();
        });
        assert_eq!(lock.raw().state.load(Relaxed), 0);
    }
}
