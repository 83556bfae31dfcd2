//! A counting semaphore: Dijkstra's P and V over a futex.
//!
//! A semaphore holds a number of permits. `acquire` (P, *proberen*, down, wait) takes one,
//! waiting while there are none; `add_permits` (V, *verhogen*, up, signal) puts some back and
//! wakes threads that can now proceed. The classic bounded buffer and dining philosophers are
//! built on it.
//!
//! **State.** Two words:
//!
//! | word       | meaning |
//! |------------|---------|
//! | `permits`  | permits available (at most [`Semaphore::MAX_PERMITS`]); sleepers sleep on it |
//! | `sleepers` | threads that may sleep: those wanting one permit (low 16 bits) and those wanting more (high 16 bits) |
//!
//! * `acquire_many(n)` is one compare-exchange taking `n` off `permits` when there are enough.
//!   Otherwise the thread spins a little, then counts itself in `sleepers`, re-reads `permits`
//!   and sleeps on it while it holds the value it saw.
//! * `add_permits(k)` is one compare-exchange adding `k` (never past the maximum), then a look
//!   at `sleepers`: if nobody may sleep it is done, with no system call. Otherwise it wakes as
//!   many sleepers as can proceed: `k` of the one-permit sleepers; all of them if any sleeper
//!   wants several (the futex cannot tell which of those the `k` permits would satisfy).
//!
//! **The invariant:** a thread sleeps only while `permits` holds the value it saw after counting
//! itself in `sleepers`, and a release changes `permits` before it reads `sleepers`. Each side
//! writes one word and then reads the other ("publish, then look"), and a plain read could miss
//! the other side's write on both sides at once: the lost wakeup. So the sleeper's read of
//! `permits` is a read-modify-write ([`Word::read_latest`], with `Release`), and the release's
//! compare-exchange has an `Acquire` half. Every write of `permits` is a read-modify-write, so
//! they are totally ordered: if the sleeper's look comes first, the release's compare-exchange
//! synchronizes with it and its load of `sleepers` sees the count; if the release comes first,
//! the look reads the new permits. The release pays nothing for this (its compare-exchange was
//! there anyway, and the load after it is `Relaxed`); the sleeper pays one read-modify-write on
//! its way to sleep. The loom model `semaphore_with_a_plain_look_loses_a_wakeup` makes the look
//! a plain load and loom finds the lost wakeup.
//!
//! **Counts at their limits.** `sleepers` packs two 16-bit counts. A thread that wants one
//! permit and finds its half full counts itself among those that want several (a release then
//! wakes everybody, which is correct for it too); a thread that finds both halves full (65,535
//! threads of each kind waiting at once, or, between processes, counts left behind by waiters
//! killed while counted) is not counted at all. No release owes it a wake, so it never sleeps
//! untimed: it naps for a millisecond at a time and looks at `permits` after each nap,
//! until it gets its permits or finds room to count itself. Nothing is lost or wraps; such a
//! waiter only answers up to a millisecond late.
//!
//! A thread that times out un-counts itself, after a last look at `permits`, and leaves no trace:
//! the next release pays no wake for it.
//!
//! **Fairness: none (barging).** Whoever finds enough permits takes them, a running thread before
//! a woken one, which keeps throughput high and an uncontended acquire at one instruction. What
//! can starve: a large `acquire_many(n)` behind a stream of small acquires that keep the count
//! below `n`, and, in principle, any sleeper that keeps losing the race after being woken. What
//! is guaranteed: no permit is ever lost or duplicated, and while a sleeper could proceed some
//! thread is awake to take the permits.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;

/// `sleepers`: one thread waiting for a single permit.
const ONE: u32 = 1;
/// `sleepers`: one thread waiting for several permits.
const MANY: u32 = 1 << 16;
const COUNT_MASK: u32 = 0xffff;

/// How long a waiter that `sleepers` has no room to count naps before it looks at the permits
/// again (see the module docs: nobody would wake it).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// A counting semaphore: `acquire` takes a permit, waiting while there is none; `add_permits`
/// returns permits and wakes waiters.
///
/// Uncontended, acquire and release are one compare-exchange each, with no system call; a
/// release makes a system call only when a thread sleeps. Not fair (see the
/// [module docs](crate::semaphore) for what can starve). 8 bytes.
///
/// **Limits.** At most [`MAX_PERMITS`](Self::MAX_PERMITS) permits (more panics). Sleepers are
/// counted in two 16-bit halves; past 65,535 waiters wanting one permit the rest count as
/// wanting several (every release then wakes all sleepers), and past 65,535 of those a waiter is
/// not counted: it re-checks the permits every millisecond instead of sleeping until woken.
/// Between processes a waiter killed while it sleeps stays counted (it costs later releases a
/// wake, and enough of them move new waiters to that millisecond re-check); nothing wraps and
/// no wakeup is lost.
///
/// A permit is returned when its [`SemaphorePermit`] drops, also when a panic unwinds. The
/// classic pattern, P in one thread and V in another, is [`SemaphorePermit::forget`] plus
/// [`add_permits`](Self::add_permits):
///
/// ```
/// use std::sync::Arc;
/// use turnstile::Semaphore;
///
/// // "full" counts items produced: the consumer's P waits for the producer's V.
/// let full = Arc::new(Semaphore::new(0));
/// let producer = {
///     let full = Arc::clone(&full);
///     std::thread::spawn(move || full.add_permits(1)) // V(full)
/// };
/// full.acquire().forget(); // P(full): the permit is consumed, not returned
/// producer.join().unwrap();
/// assert_eq!(full.available_permits(), 0);
/// ```
///
/// `#[repr(C)]`: the `u32` permit count at offset 0 and the `u32` sleeper count at 4. Over the
/// `ProcessShared` backend it works between processes, in a
/// [`shm::Region`](crate::shm::Region) (Linux): a bounded buffer's `empty` and `full`.
#[repr(C)]
pub struct Semaphore<B: Backend = Real> {
    permits: B::Word,
    sleepers: B::Word,
}

/// Permits taken from a [`Semaphore`]; they go back when this drops.
///
/// ```
/// let sem = turnstile::Semaphore::new(3);
/// let permit = sem.acquire_many(2);
/// assert_eq!(permit.num_permits(), 2);
/// assert_eq!(sem.available_permits(), 1);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 3);
/// ```
#[must_use = "if unused the permits are returned at once"]
pub struct SemaphorePermit<'a, B: Backend = Real> {
    semaphore: &'a Semaphore<B>,
    permits: u32,
    /// The count this permit's acquire left behind: uncontended, the count when it is returned,
    /// so the release's compare-exchange tries it first and needs no load.
    left: u32,
}

impl Semaphore {
    /// The most permits a semaphore can hold: 2³¹ − 1.
    ///
    /// ```
    /// use turnstile::Semaphore;
    /// assert_eq!(Semaphore::MAX_PERMITS, (1 << 31) - 1);
    /// ```
    pub const MAX_PERMITS: usize = (u32::MAX >> 1) as usize;

    /// A semaphore with `permits` permits. `const`, so it can initialise a `static`.
    ///
    /// # Panics
    /// If `permits` is more than [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// ```
    /// use turnstile::Semaphore;
    ///
    /// static SLOTS: Semaphore = Semaphore::new(2);
    /// let a = SLOTS.acquire();
    /// let b = SLOTS.acquire();
    /// assert!(SLOTS.try_acquire().is_none());
    /// drop((a, b));
    /// ```
    pub const fn new(permits: usize) -> Self {
        assert!(permits <= Self::MAX_PERMITS, "Semaphore::new: more permits than Semaphore::MAX_PERMITS");
        Semaphore { permits: AtomicU32::new(permits as u32), sleepers: AtomicU32::new(0) }
    }
}

const MAX: u32 = Semaphore::MAX_PERMITS as u32;

/// `n` as a permit count, or a panic that says what was asked.
fn count(n: usize, what: &str) -> u32 {
    match u32::try_from(n) {
        Ok(n) if n <= MAX => n,
        _ => panic!("Semaphore::{what}({n}): more than Semaphore::MAX_PERMITS ({MAX}) permits"),
    }
}

impl<B: Backend> Semaphore<B> {
    /// A semaphore over any backend; this is how loom models build one.
    ///
    /// ```
    /// use turnstile::{backend::Real, Semaphore};
    ///
    /// let sem = Semaphore::<Real>::with_backend(1);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn with_backend(permits: usize) -> Self {
        Semaphore { permits: B::Word::new(count(permits, "with_backend")), sleepers: B::Word::new(0) }
    }

    /// A semaphore whose sleeper word already counts `one` single-permit and `many`
    /// several-permit waiters that never un-count themselves, as waiters killed in their sleep
    /// leave it between processes: for models and tests of the counts at their limits. Not part
    /// of the API.
    #[cfg(any(test, feature = "loom"))]
    #[doc(hidden)]
    pub fn with_leaked_sleepers(permits: usize, one: u32, many: u32) -> Self {
        assert!(one <= COUNT_MASK && many <= COUNT_MASK, "a half of `sleepers` counts at most {COUNT_MASK}");
        let sem = Self::with_backend(permits);
        // Relaxed: not yet shared.
        sem.sleepers.store(one * ONE + many * MANY, Relaxed);
        sem
    }

    /// Takes one permit, sleeping until there is one (Dijkstra's P).
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// ```
    #[doc(alias = "P")]
    #[doc(alias = "down")]
    #[doc(alias = "wait")]
    #[inline]
    pub fn acquire(&self) -> SemaphorePermit<'_, B> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, sleeping until there are that many.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`]: no release could ever satisfy it.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(5);
    /// let three = sem.acquire_many(3);
    /// assert_eq!(sem.available_permits(), 2);
    /// drop(three);
    /// ```
    #[inline]
    pub fn acquire_many(&self, n: usize) -> SemaphorePermit<'_, B> {
        let n = count(n, "acquire_many");
        let left = match self.try_take(n) {
            Some(left) => left,
            None => self.acquire_slow(n, None).expect("no deadline, so it cannot time out"),
        };
        SemaphorePermit { semaphore: self, permits: n, left }
    }

    /// Takes one permit if there is one right now; never waits.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(held);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_, B>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if there are that many right now; never waits.
    ///
    /// # Panics
    /// If `n` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).is_none());
    /// assert!(sem.try_acquire_many(2).is_some());
    /// ```
    #[inline]
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_, B>> {
        let n = count(n, "try_acquire_many");
        self.try_take(n).map(|left| SemaphorePermit { semaphore: self, permits: n, left })
    }

    /// Takes one permit, waiting at most `timeout`; `None` (and nothing taken) if none came.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = turnstile::Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
    /// sem.add_permits(1);
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_some());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(1, crate::wait::deadline_after(timeout))
    }

    /// Takes `n` permits, waiting at most `timeout`; `None` (and nothing taken) if they did not
    /// come in time.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = turnstile::Semaphore::new(1);
    /// assert!(sem.acquire_many_timeout(2, Duration::from_millis(1)).is_none());
    /// assert_eq!(sem.available_permits(), 1); // the timed-out call took nothing
    /// ```
    pub fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(n, crate::wait::deadline_after(timeout))
    }

    /// Takes one permit, waiting until `deadline` at the latest; `None` if none came.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let sem = turnstile::Semaphore::new(1);
    /// assert!(sem.acquire_until(Instant::now() + Duration::from_secs(1)).is_some());
    /// ```
    pub fn acquire_until(&self, deadline: Instant) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(1, Some(deadline))
    }

    /// Takes `n` permits, waiting until `deadline` at the latest; `None` if they did not come.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let sem = turnstile::Semaphore::new(0);
    /// assert!(sem.acquire_many_until(1, Instant::now()).is_none());
    /// ```
    pub fn acquire_many_until(&self, n: usize, deadline: Instant) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(n, Some(deadline))
    }

    /// Adds `n` permits and wakes as many sleeping threads as can proceed (Dijkstra's V).
    ///
    /// # Panics
    /// If the count would pass [`Semaphore::MAX_PERMITS`]; the count is then left unchanged.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[doc(alias = "V")]
    #[doc(alias = "up")]
    #[doc(alias = "signal")]
    #[doc(alias = "release")]
    #[inline]
    pub fn add_permits(&self, n: usize) {
        let n = count(n, "add_permits");
        // Relaxed: a first guess for the compare-exchange, which re-reads.
        self.give(n, self.permits.load(Relaxed));
    }

    /// The permits available at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(4);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    #[inline]
    pub fn available_permits(&self) -> usize {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.permits.load(Relaxed) as usize
    }

    fn acquire_many_before(&self, n: usize, deadline: Option<Instant>) -> Option<SemaphorePermit<'_, B>> {
        let n = count(n, "acquire_many");
        let left = self.try_take(n).or_else(|| self.acquire_slow(n, deadline))?;
        Some(SemaphorePermit { semaphore: self, permits: n, left })
    }

    /// One compare-exchange per attempt: takes `n` if at least `n` are there; returns the count
    /// left.
    #[inline]
    fn try_take(&self, n: u32) -> Option<u32> {
        // Relaxed load: the compare-exchange re-reads.
        let mut available = self.permits.load(Relaxed);
        while available >= n {
            // Acquire: pairs with the Release half of `give`'s compare-exchange, so what the
            // releaser did before returning its permits happens before our use of them.
            match self.permits.compare_exchange(available, available - n, Acquire, Relaxed) {
                Ok(_) => return Some(available - n),
                Err(now) => available = now,
            }
        }
        None
    }

    /// Spins, then sleeps until `n` permits are ours (returns the count left); `None` if
    /// `deadline` passed first.
    #[cold]
    fn acquire_slow(&self, n: u32, deadline: Option<Instant>) -> Option<u32> {
        let mut backoff = Backoff::<B>::new();
        let mut wait_a_little =
            || if B::SEMAPHORE_YIELDS { backoff.spin_then_yield() } else { backoff.spin() };
        while wait_a_little() {
            if let Some(left) = self.try_take(n) {
                return Some(left);
            }
        }
        loop {
            if let Some(me) = self.count_sleeper(n) {
                return self.sleep(n, me, deadline);
            }
            // `sleepers` is full: nobody will wake us, so nap and look again (module docs).
            if let Some(left) = self.try_take(n) {
                return Some(left);
            }
            let nap_end = Instant::now() + POLL_INTERVAL;
            let last = deadline.is_some_and(|deadline| deadline <= nap_end);
            let until = if last { deadline } else { Some(nap_end) };
            // A timed sleep on a word nobody wakes: a nap that ends early only if the word moved
            // meanwhile. Relaxed: the value is only the futex's "still the same?".
            let moved = B::wait(&self.sleepers, self.sleepers.load(Relaxed), until);
            if last && !moved {
                return self.try_take(n);
            }
        }
    }

    /// Counts a waiter for `n` permits in `sleepers`: returns what it added (`ONE`, or `MANY`
    /// for a single-permit waiter whose half is full), or `None` if both halves are full.
    fn count_sleeper(&self, n: u32) -> Option<u32> {
        // A first guess of "nobody counted", not a load: the compare-exchange reads the latest
        // value anyway, and a first sleeper then counts itself in one step. (Under loom a load
        // here could read any older count, which only multiplies the interleavings.)
        let mut seen = 0;
        loop {
            let me = if n == 1 && seen & COUNT_MASK != COUNT_MASK {
                ONE
            } else if seen >> 16 != COUNT_MASK {
                MANY
            } else {
                return None;
            };
            // Relaxed: the count is published by the Release look that follows it in `sleep`.
            match self.sleepers.compare_exchange(seen, seen + me, Relaxed, Relaxed) {
                Ok(_) => return Some(me),
                Err(now) => seen = now,
            }
        }
    }

    /// The sleeper's side of the handshake (module docs): counted as `me`, it looks at
    /// `permits` and sleeps until `n` are there or `deadline` passes; then un-counts itself.
    fn sleep(&self, n: u32, me: u32, deadline: Option<Instant>) -> Option<u32> {
        // Release: the look of "publish, then look", a read-modify-write so that it is ordered
        // against every release's compare-exchange; its Release half pairs with their Acquire
        // half, so a release ordered after it sees our count. No Acquire: nothing is read on the
        // strength of this value; the permits are taken by `try_take`'s Acquire.
        let mut available = self.permits.read_latest(Release);
        let got = loop {
            if available >= n {
                if let Some(left) = self.try_take(n) {
                    break Some(left);
                }
            } else if !B::wait(&self.permits, available, deadline) {
                // Timed out: a release may have come just now; take it rather than leave it.
                break self.try_take(n);
            }
            // Relaxed: no older than the look above (it is earlier in this thread), so a
            // release this misses comes after the look and so wakes us, or the futex's own
            // compare sees its change.
            available = self.permits.load(Relaxed);
        };
        // Relaxed: un-counting publishes nothing; a release that still sees us wakes one
        // thread too many at most.
        self.sleepers.fetch_sub(me, Relaxed);
        got
    }

    /// Returns `n` permits and wakes sleepers that can use them. `guess` is where the
    /// compare-exchange starts; it must be a count the semaphore had (so that `guess + n` was
    /// within the maximum, and a stale guess cannot cause a false overflow panic).
    #[inline]
    fn give(&self, n: u32, guess: u32) {
        if n == 0 {
            return;
        }
        let mut available = guess;
        loop {
            assert!(
                available <= MAX - n,
                "Semaphore::add_permits({n}) with {available} available would pass \
                 Semaphore::MAX_PERMITS ({MAX}); the count is unchanged"
            );
            // AcqRel. Release: what the releaser did before is published to whoever takes these
            // permits (pairs with the Acquire in `try_take`). Acquire: the releaser's half of the
            // handshake (module docs): pairs with the Release of a sleeper's look in `sleep`, so
            // the load below sees the count of every sleeper whose look came before this.
            match self.permits.compare_exchange(available, available + n, AcqRel, Relaxed) {
                Ok(_) => break,
                Err(now) => available = now,
            }
        }
        // Relaxed: ordered by the compare-exchange's Acquire half (above).
        let sleeping = self.sleepers.load(Relaxed);
        if sleeping != 0 {
            self.wake(sleeping, n);
        }
    }

    #[cold]
    fn wake(&self, sleeping: u32, n: u32) {
        if sleeping >= MANY {
            // Someone wants several permits: only it can tell whether these are enough.
            B::wake_all(&self.permits);
        } else {
            B::wake_many(&self.permits, n.min(sleeping & COUNT_MASK) as usize);
        }
    }
}

impl<B: Backend> fmt::Debug for Semaphore<B> {
    /// Shows the permits available; never blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("permits", &self.available_permits()).finish_non_exhaustive()
    }
}

impl<'a, B: Backend> SemaphorePermit<'a, B> {
    /// Drops the permits without returning them: the count stays lower. This is P without its
    /// V, for when another thread will call [`Semaphore::add_permits`].
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.add_permits(1); // V, typically from another thread
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(2);
    /// assert_eq!(sem.acquire_many(2).num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
}

impl<B: Backend> Drop for SemaphorePermit<'_, B> {
    fn drop(&mut self) {
        if !B::model_failed() {
            self.semaphore.give(self.permits, self.left);
        }
    }
}

impl<B: Backend> fmt::Debug for SemaphorePermit<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semaphore_is_two_words() {
        assert_eq!(core::mem::size_of::<Semaphore>(), 8);
    }

    #[test]
    fn a_timed_out_acquire_leaves_no_sleeper_behind() {
        let sem = Semaphore::new(0);
        assert!(sem.acquire_timeout(Duration::from_micros(10)).is_none());
        assert_eq!(sem.sleepers.load(Relaxed), 0, "a later release must not pay a wake for it");
    }

    #[test]
    fn a_one_permit_waiter_whose_half_is_full_counts_as_wanting_several() {
        let sem = Semaphore::<Real>::with_leaked_sleepers(0, COUNT_MASK, 0);
        assert_eq!(sem.count_sleeper(1), Some(MANY));
        assert_eq!(sem.sleepers.load(Relaxed), COUNT_MASK | MANY, "the one-permit half must not carry");
    }

    #[test]
    fn a_waiter_that_finds_both_halves_full_is_not_counted() {
        let sem = Semaphore::<Real>::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
        assert_eq!(sem.count_sleeper(1), None);
        assert_eq!(sem.count_sleeper(2), None);
        assert_eq!(sem.sleepers.load(Relaxed), u32::MAX, "the word must not wrap to \"nobody sleeps\"");
    }

    #[test]
    fn a_waiter_the_word_cannot_count_still_gets_a_later_permit() {
        let sem = Semaphore::<Real>::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| sem.acquire_many(2).forget());
            sem.add_permits(1);
            sem.add_permits(1);
            waiter.join().unwrap();
        });
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.sleepers.load(Relaxed), u32::MAX, "the waiter left the leaked counts as they were");
    }

    #[test]
    fn a_timed_waiter_the_word_cannot_count_times_out_and_takes_nothing() {
        let sem = Semaphore::<Real>::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
        assert!(sem.acquire_timeout(Duration::from_millis(3)).is_none());
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(sem.sleepers.load(Relaxed), u32::MAX);
    }

    #[test]
    #[should_panic(expected = "would pass Semaphore::MAX_PERMITS")]
    fn adding_past_the_maximum_panics() {
        let sem = Semaphore::new(Semaphore::MAX_PERMITS);
        sem.add_permits(1);
    }

    #[test]
    fn a_panicking_add_leaves_the_count_unchanged() {
        let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
        let outcome = std::panic::catch_unwind(|| sem.add_permits(2));
        assert!(outcome.is_err());
        assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS - 1);
    }
}
