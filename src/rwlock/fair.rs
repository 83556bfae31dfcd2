//! The fair policy: a ticket readers-writer lock (Mellor-Crummey and Scott, 1991) that sleeps.
//!
//! Every thread that has to queue takes a ticket from `requests`, and `completions` counts the
//! tickets that are done. Both words count writers in their low 16 bits and readers in their
//! high 16 bits:
//!
//! * a reader's ticket is the value of `requests` before it added itself: it may enter once
//!   every *writer* that took a ticket before it has finished (the writer halves are equal);
//! * a writer may enter once *everyone* that took a ticket before it has finished (the words are
//!   equal).
//!
//! That is service in arrival order: a reader never passes a writer that came first, and
//! readers that arrive one after another (with no writer between them) enter together. It is
//! stricter than phase-fair locks, where a reader may join the readers inside ahead of a writer
//! that waits.
//!
//! The counters wrap. Both sides add the same amounts, so "every ticket before mine is done" is
//! still the equality of the two words, as long as fewer than 65,536 readers and 65,536 writers
//! hold or wait at once ([`MAX_FAIR_READERS`], [`MAX_FAIR_WRITERS`]; one more panics before
//! taking a ticket). Readers sit in the high half so their carries fall off the top of the word.
//!
//! **Sleeping.** Waiters sleep on `completions`, each with a futex mask that says what it waits
//! for: a reader, bit `v mod 16` for "the writers' count reaches `v`"; a writer, bit
//! `16 + v mod 16` for "its turn among the writers has come". A writer leaving wakes the readers
//! and the writer whose turn is next. A reader leaving can only let the *head* writer in (the
//! next writer, waiting for the readers ahead of it), and only if it is the last of them: the
//! head writes its ticket in `head` before it sleeps, and a leaving reader wakes it only when
//! `completions` reaches that ticket. **Wakes for nothing**: a waiter whose turn is a multiple
//! of 16 writers away shares its bit with the one being woken. `sleepers` counts the threads
//! asleep (or about to sleep), so that a release makes no system call when nobody sleeps.
//!
//! **Publish, then look.** `sleepers` and `completions`, and `head` and `completions`, are
//! handshakes: the waiter writes `sleepers` (or `head`) and then reads `completions`; a thread
//! leaving writes `completions` and then reads `sleepers` (and `head`). Plain reads on both sides
//! could each miss the other's write: a sleeper nobody wakes. So the waiter's read is a
//! read-modify-write ([`Word::read_latest`]) with a Release half, and the leaving thread's
//! `fetch_add` has an Acquire half. Every write of `completions` is a read-modify-write, so they
//! are totally ordered: if the waiter's look comes first, the leaver's `fetch_add` synchronizes
//! with it and sees the count (and the ticket in `head`); if the leaver comes first, the look
//! sees its completion. The leaving thread pays nothing for this: its `fetch_add` was there
//! anyway (its Release half publishes the critical section), and its reads after it are
//! `Relaxed`. The loom models `fair_with_a_plain_look_strands_*` make the look a plain load and
//! loom finds the stranded sleeper.
//!
//! **Counts.** `requests` and `completions` wrap by design (below); `sleepers` counts live
//! threads of one process (the lock is not shared between processes), which the kernel bounds
//! far below 2³² (Linux: at most 2²² threads), so it cannot overflow; `head` holds a ticket, not a
//! count.
//!
//! **Timed waits do not queue.** A ticket cannot be handed back: the threads behind it count on
//! its completion. So `try_read_for`/`try_write_for` take no ticket until the lock can be had at
//! once with nobody queued ahead (for a reader: no writer holds or waits; for a writer: nobody
//! holds or waits), and sleep until then. They never overtake a queued thread, but under
//! continuous queued traffic a timed writer can time out where an untimed one would have been
//! served.

use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

use super::raw::{ConstInit, RawRwLock};
use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;

const ONE_WRITER: u32 = 1;
const ONE_READER: u32 = 1 << 16;
const WRITERS: u32 = 0xFFFF;
const READER_BITS: u32 = 0x0000_FFFF;
const WRITER_BITS: u32 = 0xFFFF_0000;

/// How many readers a [`FairRwLock`](crate::FairRwLock) can have holding or waiting at once
/// (65,535); one more panics before it joins the queue.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_FAIR_READERS, 65_535);
/// ```
pub const MAX_FAIR_READERS: u32 = 0xFFFF;

/// How many writers a [`FairRwLock`](crate::FairRwLock) can have holding or waiting at once
/// (65,535); one more panics before it joins the queue.
///
/// ```
/// assert_eq!(turnstile::rwlock::MAX_FAIR_WRITERS, 65_535);
/// ```
pub const MAX_FAIR_WRITERS: u32 = 0xFFFF;

/// **Fair (FIFO)**: readers and writers are served in the order they arrive; consecutive readers
/// enter together. 16 bytes.
///
/// * Nobody starves: a thread waits for at most the holders and waiters that came before it.
/// * The order is strict: if a reader, a writer and another reader arrive in that order while
///   the lock is held, the second reader enters only after the writer has left.
/// * A thread that takes a read lock it already holds deadlocks if a writer is queued between.
/// * Timed waits (`try_read_for`, `try_write_for`, ...) do not queue: they wait until the lock
///   can be had with nobody queued ahead, so they never overtake anyone, and can time out while
///   others keep the queue busy.
/// * Wakes for nothing: few. A reader that leaves wakes a writer only if it was the last one that
///   writer waited for; a writer that leaves wakes the readers and the writer whose turn it is,
///   and (sharing their futex bit) any waiter exactly a multiple of 16 writers further back.
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
/// assert_eq!(core::mem::size_of::<turnstile::rwlock::Fair>(), 16);
/// ```
pub struct Fair<B: Backend = Real> {
    /// Tickets taken: writers in the low half, readers in the high half.
    requests: B::Word,
    /// Tickets finished, in the same layout. Waiters sleep on it.
    completions: B::Word,
    /// Threads asleep, or about to be, on `completions`.
    sleepers: B::Word,
    /// The ticket of the writer next in line, written by it before it sleeps while readers
    /// ahead of it are still inside: only the reader whose leaving makes `completions` equal to
    /// it wakes it.
    head: B::Word,
}

/// A reader or a writer, as the queue sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reader,
    Writer,
}

impl Kind {
    fn one(self) -> u32 {
        match self {
            Kind::Reader => ONE_READER,
            Kind::Writer => ONE_WRITER,
        }
    }

    /// Whether the holder of `ticket` may enter once `completions` holds `done`.
    #[inline]
    fn its_turn(self, ticket: u32, done: u32) -> bool {
        match self {
            Kind::Reader => (ticket ^ done) & WRITERS == 0,
            Kind::Writer => ticket == done,
        }
    }

    /// The futex mask of a queued waiter holding `ticket`.
    fn mask(self, ticket: u32) -> u32 {
        match self {
            Kind::Reader => 1 << (ticket & 15),
            Kind::Writer => 1 << (16 + (ticket & 15)),
        }
    }

    /// The futex mask of a timed waiter: woken whenever a waiter of its kind may be.
    fn any_mask(self) -> u32 {
        match self {
            Kind::Reader => READER_BITS,
            Kind::Writer => WRITER_BITS,
        }
    }
}

impl<B: Backend> Fair<B> {
    /// Takes a ticket: `(ticket, completions seen just before)`. With `only_if_free`, takes it
    /// only if it would be served at once (nobody it would wait for holds or waits), and
    /// returns `None` otherwise.
    #[inline]
    fn take_ticket(&self, kind: Kind, only_if_free: bool) -> Option<(u32, u32)> {
        loop {
            // Completions first: a ticket finished means it was taken, so the `requests` read
            // after it is no older, and `requests - completions` counts holders and waiters.
            // Acquire: pairs with the Release of the completions we may be admitted by.
            let done = self.completions.load(Acquire);
            // Relaxed: the compare-exchange below checks it.
            let taken = self.requests.load(Relaxed);
            if only_if_free && !kind.its_turn(taken, done) {
                return None;
            }
            let queued = taken.wrapping_sub(done);
            match kind {
                Kind::Reader if queued >> 16 == MAX_FAIR_READERS => too_many("readers", MAX_FAIR_READERS),
                Kind::Writer if queued & WRITERS == MAX_FAIR_WRITERS => too_many("writers", MAX_FAIR_WRITERS),
                _ => {}
            }
            // Relaxed: taking a ticket publishes nothing; admission is the Acquire load of
            // `completions`.
            let next = taken.wrapping_add(kind.one());
            if self.requests.compare_exchange(taken, next, Relaxed, Relaxed).is_ok() {
                return Some((taken, done));
            }
        }
    }

    /// Queues as `kind` and waits, without a deadline, until it is this ticket's turn.
    #[inline]
    fn enqueue(&self, kind: Kind) {
        let Some((ticket, done)) = self.take_ticket(kind, false) else { unreachable!() };
        if !kind.its_turn(ticket, done) {
            self.wait_turn(kind, ticket);
        }
    }

    #[cold]
    fn wait_turn(&self, kind: Kind, ticket: u32) {
        let mut backoff = Backoff::<B>::new();
        loop {
            // Acquire: pairs with the Release of the completion that makes it our turn.
            let done = self.completions.load(Acquire);
            if kind.its_turn(ticket, done) {
                return;
            }
            if backoff.spin() {
                continue;
            }
            let head = (kind == Kind::Writer).then_some(ticket);
            self.sleep_unless(|done| kind.its_turn(ticket, done), kind.mask(ticket), None, head);
        }
    }

    /// Announces a sleeper, then sleeps on `completions` until `ready` holds for its value.
    /// A queued writer passes its ticket as `head`: if it is next in line, behind readers, it
    /// writes the ticket to `head` before it sleeps. `false` only if `deadline` passed.
    ///
    /// It counts itself once and looks once with a read-modify-write, however often it wakes:
    /// every completion after that look sees the count. (Counting again on every wake would
    /// cost each wake two more read-modify-writes, and the models many more interleavings.)
    fn sleep_unless(
        &self,
        ready: impl Fn(u32) -> bool,
        mask: u32,
        deadline: Option<Instant>,
        head: Option<u32>,
    ) -> bool {
        // Relaxed: published by the Release half of the look below.
        self.sleepers.fetch_add(1, Relaxed);
        // AcqRel: the look of "publish, then look" (module docs). Release: pairs with the
        // Acquire half of `complete`'s `fetch_add`, so a completer ordered after this look sees
        // our count. Acquire: pairs with the Release of the completions we read, so that a timed
        // waiter's `ready` (which reads `requests`) sees every ticket these count as done; with
        // a stale `requests` it would sleep out its timeout beside a free lock. No loom model
        // can see that half: a timed waiter's last look after its timeout takes the lock anyway.
        let mut done = self.completions.read_latest(AcqRel);
        let woke = loop {
            if ready(done) {
                break true;
            }
            if !self.tell_the_readers(head, done) && !B::wait_masked(&self.completions, done, mask, deadline)
            {
                break false;
            }
            // Acquire: as the look's Acquire half, for a timed waiter's `ready`. No older than
            // the look (it is earlier in this thread), so a completion this misses came after the
            // look: it sees our count and wakes us, or the futex's own compare sees its change.
            // loom-invisible: a timed waiter's last look after its timeout takes the lock anyway,
            // so no model sees the stale `requests` this Acquire prevents.
            done = self.completions.load(Acquire);
        };
        // Relaxed: a stale count costs a completer one needless wake, nothing more.
        self.sleepers.fetch_sub(1, Relaxed);
        woke
    }

    /// For a writer next in line behind readers (all writers before `ticket` are done as of
    /// `done`): publishes its ticket, so that the reader whose leaving lets it in wakes it.
    /// `true` if a reader left meanwhile, so the caller looks again instead of sleeping.
    fn tell_the_readers(&self, head: Option<u32>, done: u32) -> bool {
        let Some(ticket) = head.filter(|&ticket| Kind::Reader.its_turn(ticket, done)) else { return false };
        // Relaxed: published by the Release half of the look below.
        self.head.store(ticket, Relaxed);
        // Release: the look of the `head` handshake (module docs): pairs with the Acquire half of
        // the last reader's `fetch_add` in `complete`, so that reader sees this ticket, or this
        // sees its completion. No Acquire: a change only sends the caller to look again, with
        // the Acquire load in `wait_turn`.
        self.completions.read_latest(Release) != done
    }

    /// Waits, without queueing, until a ticket of `kind` can be taken and served at once.
    #[cold]
    fn wait_free(&self, kind: Kind, deadline: Option<Instant>) -> bool {
        loop {
            if self.take_ticket(kind, true).is_some() {
                return true;
            }
            let free = |done: u32| {
                // Relaxed: a hint; `take_ticket` decides. `done` was read first, so this is
                // no older than it.
                kind.its_turn(self.requests.load(Relaxed), done)
            };
            if !self.sleep_unless(free, kind.any_mask(), deadline, None) {
                return self.take_ticket(kind, true).is_some();
            }
        }
    }

    /// Marks one ticket done (`amount` is its kind's count; a downgrade passes a writer minus a
    /// reader) and wakes the sleepers whose turn it may be: those of the mask `wake` gives for
    /// the new value of `completions` (none if it gives 0).
    #[inline]
    fn complete(&self, amount: u32, wake: impl Fn(&Self, u32) -> u32) {
        // AcqRel. Release: publishes the critical section to whoever this admits (pairs with
        // the Acquire loads of `completions` in `take_ticket` and `wait_turn`). Acquire: the
        // leaver's half of the handshakes (module docs): pairs with the Release half of a
        // waiter's look in `sleep_unless` or `tell_the_readers`, so the loads below see the
        // count and the ticket it published before it looked.
        let done = self.completions.fetch_add(amount, AcqRel).wrapping_add(amount);
        // Relaxed: ordered by the Acquire half above.
        if self.sleepers.load(Relaxed) != 0 {
            let mask = wake(self, done);
            if mask != 0 {
                B::wake_masked(&self.completions, mask, usize::MAX);
            }
        }
    }

    /// After a writer: the readers whose writers are all done, and the writer whose turn has
    /// come, once `done` is reached.
    fn after_writer(&self, done: u32) -> u32 {
        Kind::Reader.mask(done) | Kind::Writer.mask(done)
    }

    /// After a reader: only a writer can be let in, and only if this was the last thing it
    /// waited for: the head writer (its ticket is `done`), or a timed writer (nothing is queued).
    fn after_reader(&self, done: u32) -> u32 {
        // Relaxed: the `head` load is ordered by the Acquire half of `complete`'s `fetch_add`
        // (the `head` handshake, module docs). The `requests` load is for timed writers, which
        // wait for the queue to empty; the same Acquire half makes it see every ticket that
        // `done` counts, and a newer value only skips a wake that the thread holding the newer
        // ticket will make when it leaves.
        if done == self.head.load(Relaxed) || done == self.requests.load(Relaxed) {
            Kind::Writer.mask(done)
        } else {
            0
        }
    }
}

#[cold]
#[inline(never)]
fn too_many(what: &str, max: u32) -> ! {
    panic!("too many {what} holding or waiting on one FairRwLock: at most {max} (it joined no queue)")
}

impl ConstInit for Fair<Real> {
    const INIT: Self = Fair {
        requests: AtomicU32::new(0),
        completions: AtomicU32::new(0),
        sleepers: AtomicU32::new(0),
        // A ticket only a head writer that has waited behind readers writes here; 0 until then.
        head: AtomicU32::new(0),
    };
}

// The ordering: releases are AcqRel (so Release) increments of `completions`, admissions
// Acquire loads of it.
// SAFETY: a writer enters only when every ticket before it is done (and later ones wait for it);
// a reader only when every writer before it is done, and later writers wait for it.
unsafe impl<B: Backend> RawRwLock for Fair<B> {
    type Backend = B;
    const NAME: &'static str = "FairRwLock";

    fn with_backend() -> Self {
        Fair {
            requests: B::Word::new(0),
            completions: B::Word::new(0),
            sleepers: B::Word::new(0),
            head: B::Word::new(0),
        }
    }

    #[inline]
    fn try_read(&self) -> bool {
        self.take_ticket(Kind::Reader, true).is_some()
    }

    #[inline]
    fn read(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            None => {
                self.enqueue(Kind::Reader);
                true
            }
            Some(_) => self.wait_free(Kind::Reader, deadline),
        }
    }

    #[inline]
    unsafe fn unlock_read(&self) {
        self.complete(ONE_READER, Self::after_reader);
    }

    #[inline]
    fn try_write(&self) -> bool {
        self.take_ticket(Kind::Writer, true).is_some()
    }

    #[inline]
    fn write(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            None => {
                self.enqueue(Kind::Writer);
                true
            }
            Some(_) => self.wait_free(Kind::Writer, deadline),
        }
    }

    #[inline]
    unsafe fn unlock_write(&self) {
        self.complete(ONE_WRITER, Self::after_writer);
    }

    unsafe fn downgrade(&self) {
        // Finish the writer's ticket but owe one reader's completion, which `unlock_read` pays:
        // readers queued behind us see the writer done, and the next writer still waits for us.
        // The writers' count moved on, as after a writer: the next writer becomes head and must
        // wake to say so, and the readers behind us may join.
        self.complete(ONE_WRITER.wrapping_sub(ONE_READER), Self::after_writer);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        // Relaxed: a snapshot. Completions first, so the difference cannot go negative.
        let done = self.completions.load(Relaxed);
        self.requests.load(Relaxed) != done
    }

    #[cfg(feature = "loom")]
    fn queued_writers(&self) -> u32 {
        // Completions first, as in `is_locked`. Acquire: pairs with the Release of the
        // completions read, so the `requests` read after it sees every ticket they count and
        // the difference cannot go negative (a wrapped, huge count). No model can see it: in
        // the models that call this, every ticket completed before the call was taken before
        // the calling thread was spawned. Relaxed for `requests`: it is the later read.
        let done = self.completions.load(Acquire);
        self.requests.load(Relaxed).wrapping_sub(done) & WRITERS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FairRwLock;

    #[test]
    fn counters_wrap_without_confusing_readers_and_writers() {
        let lock = FairRwLock::new(0);
        // Start both words just below the wrap of each half.
        let start = (0xFFFE << 16) | 0xFFFE;
        lock.raw().requests.store(start, Relaxed);
        lock.raw().completions.store(start, Relaxed);
        for _ in 0..4 {
            let (r1, r2) = (lock.read(), lock.read());
            drop((r1, r2));
            *lock.write() += 1;
        }
        assert!(!lock.is_locked());
        assert_eq!(*lock.read(), 4);
    }

    #[test]
    fn one_reader_too_many_panics_before_queueing() {
        let lock = FairRwLock::new(());
        lock.raw().requests.store(MAX_FAIR_READERS << 16, Relaxed);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.raw().try_read()));
        assert!(caught.is_err());
        assert_eq!(lock.raw().requests.load(Relaxed), MAX_FAIR_READERS << 16);
        lock.raw().requests.store(0, Relaxed);
    }

    #[test]
    fn one_writer_too_many_panics_before_queueing() {
        let lock = FairRwLock::new(());
        lock.raw().requests.store(MAX_FAIR_WRITERS, Relaxed);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.raw().write(None)));
        let message = caught.expect_err("one writer too many must panic");
        let message = message.downcast_ref::<String>().map_or("", String::as_str);
        assert!(message.contains("too many writers"), "{message}");
        assert_eq!(lock.raw().requests.load(Relaxed), MAX_FAIR_WRITERS, "it took no ticket");
        lock.raw().requests.store(0, Relaxed);
    }

    #[test]
    fn a_downgraded_reader_keeps_the_next_writer_out() {
        let lock = FairRwLock::new(1);
        let reader = crate::RwLockWriteGuard::downgrade(lock.write());
        assert!(lock.try_write().is_none());
        let other = lock.read();
        drop(reader);
        assert!(lock.try_write().is_none());
        drop(other);
        assert!(lock.try_write().is_some());
    }
}
