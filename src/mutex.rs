//! A futex mutex: one word, three states, no syscall unless somebody sleeps.
//!
//! The algorithm is the third mutex of Ulrich Drepper's "Futexes Are Tricky" (2011), the one
//! Rust's std uses on Linux. The lock is a single `u32`:
//!
//! | state       | meaning                                              |
//! |-------------|------------------------------------------------------|
//! | `UNLOCKED`  | free                                                 |
//! | `LOCKED`    | held, and nobody sleeps on it                        |
//! | `CONTENDED` | held, and somebody may sleep on it: unlock must wake |
//!
//! * `lock` is one compare-exchange `UNLOCKED → LOCKED`. If that fails, the thread spins a
//!   little (a short critical section may end before sleeping would pay off), then swaps in
//!   `CONTENDED` and sleeps on the word while it stays `CONTENDED`. The swap both claims the lock
//!   if it had become free and tells the holder that a sleeper exists.
//! * `unlock` swaps in `UNLOCKED` and wakes one sleeper only if the old state was `CONTENDED`.
//!
//! **The invariant:** whenever a thread sleeps on the word, the word is `CONTENDED` (it slept only
//! after seeing that), so the holder's unlock will wake someone. A thread that wakes and takes the
//! lock takes it as `CONTENDED`, not `LOCKED`, because it cannot know whether others still sleep;
//! the cost is at most one needless wake.
//!
//! Policy: not fair. A running thread can take the lock ahead of a woken sleeper (barging),
//! which is what keeps throughput high; a thread can in principle be overtaken forever.
//! This answers the seeds' mutual-exclusion problem without busy-waiting.

use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;
use crate::guard::{self, raw::RawLock, ArcLockGuard, LockData, LockGuard, MappedLockGuard};

const UNLOCKED: u32 = 0;
/// Held, nobody sleeping.
const LOCKED: u32 = 1;
/// Held, and a thread may be sleeping on the word.
const CONTENDED: u32 = 2;

/// A mutual-exclusion lock that sleeps on a futex when it has to wait.
///
/// Uncontended, `lock` is one compare-exchange and `unlock` one swap, with no system call.
/// Contended, a waiter spins briefly and then sleeps until the holder wakes it. Not fair (see the
/// [module docs](crate::mutex)); `Mutex<()>` is 4 bytes. A panic in the critical section releases
/// the lock (no poisoning).
///
/// ```
/// use std::sync::Arc;
/// use turnstile::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         std::thread::spawn(move || *counter.lock() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4);
/// ```
pub struct Mutex<T: ?Sized, B: Backend = Real> {
    state: B::Word,
    data: LockData<T, B>,
}

/// The guard of a [`Mutex`]: the lock is held until it is dropped.
pub type MutexGuard<'a, T, B = Real> = LockGuard<'a, Mutex<T, B>>;
/// A guard of part of a [`Mutex`]'s data, from [`MutexGuard::map`](LockGuard::map).
pub type MappedMutexGuard<'a, T, U, B = Real> = MappedLockGuard<'a, Mutex<T, B>, U>;
/// A [`Mutex`] guard that owns an `Arc` of the mutex, from [`Mutex::lock_arc`].
pub type ArcMutexGuard<T, B = Real> = ArcLockGuard<Mutex<T, B>>;

impl<T> Mutex<T> {
    /// A new, unlocked mutex. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use turnstile::Mutex;
    ///
    /// static NAMES: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    /// NAMES.lock().push("ada");
    /// assert_eq!(NAMES.lock().len(), 1);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        Mutex { state: AtomicU32::new(UNLOCKED), data: LockData::new(value) }
    }
}

impl<T, B: Backend> Mutex<T, B> {
    /// A new, unlocked mutex over any backend; this is how loom models build one.
    ///
    /// ```
    /// use turnstile::{backend::Real, Mutex};
    ///
    /// let m = Mutex::<_, Real>::with_backend(3);
    /// assert_eq!(*m.lock(), 3);
    /// ```
    pub fn with_backend(value: T) -> Self {
        Mutex { state: B::Word::new(UNLOCKED), data: LockData::with_backend(value) }
    }
}

impl<T: ?Sized, B: Backend> Mutex<T, B> {
    /// Takes the lock, sleeping until it is free.
    ///
    /// Taking it again on the same thread while holding it deadlocks.
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(1);
    /// *lock.lock() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T, B> {
        if !self.try_acquire() {
            self.lock_contended(None);
        }
        // SAFETY: we hold the lock (fast path or `lock_contended` without a deadline).
        unsafe { LockGuard::new(self) }
    }

    /// Takes the lock if it is free right now; never waits.
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(());
    /// let held = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T, B>> {
        // SAFETY: the lock is held when `try_acquire` says so.
        self.try_acquire().then(|| unsafe { LockGuard::new(self) })
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it did not become free in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::Mutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
    /// drop(held);
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_some());
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T, B>> {
        self.lock_before(crate::wait::deadline_after(timeout))
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it did not become free.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::Mutex::new(5);
    /// let guard = lock.try_lock_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, B>> {
        self.lock_before(Some(deadline))
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(());
    /// let guard = lock.lock();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.state.load(Relaxed) != UNLOCKED
    }

    fn lock_before(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T, B>> {
        if !self.try_acquire() && !self.lock_contended(deadline) {
            return None;
        }
        // SAFETY: we hold the lock.
        Some(unsafe { LockGuard::new(self) })
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        // Acquire: pairs with the Release swap in `unlock`, so the previous holder's writes to
        // the data happen before ours. Relaxed on failure: we read nothing then.
        self.state.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_ok()
    }

    /// Spins, then sleeps until the lock is ours; `false` if `deadline` passed first.
    #[cold]
    fn lock_contended(&self, deadline: Option<Instant>) -> bool {
        self.lock_slow(deadline, false)
    }

    /// The slow path. With `mark`, the lock is taken as `CONTENDED` even when it looks free,
    /// because threads may sleep on the word that never marked it (a condition variable's
    /// requeued waiters).
    fn lock_slow(&self, deadline: Option<Instant>, mark: bool) -> bool {
        let mut state = self.spin();
        if state == UNLOCKED && !mark {
            // Acquire: as in `try_acquire`.
            match self.state.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        loop {
            // Mark the lock contended before sleeping, so the holder's unlock will wake us. If it
            // was free, the swap took it (as CONTENDED: others may still sleep).
            // Acquire: pairs with the Release swap in `unlock`, as in `try_acquire`.
            if state != CONTENDED && self.state.swap(CONTENDED, Acquire) == UNLOCKED {
                return true;
            }
            if !B::wait(&self.state, CONTENDED, deadline) {
                return false;
            }
            state = self.spin();
        }
    }

    /// Spins while the lock is held and nobody sleeps; returns the last state seen.
    fn spin(&self) -> u32 {
        let mut backoff = Backoff::<B>::new();
        loop {
            // Relaxed: only a hint; the compare-exchange or swap that follows is what acquires.
            let state = self.state.load(Relaxed);
            // Spinning while others sleep would only make us overtake them; go to sleep too.
            if state != LOCKED || !backoff.spin() {
                return state;
            }
        }
    }

    /// The word threads sleep on while they wait for this lock (a condvar requeues onto it).
    #[inline]
    pub(crate) fn word(&self) -> &B::Word {
        &self.state
    }

    /// Marks the lock, which the caller holds, as having sleepers, so that its unlock wakes one.
    #[inline]
    pub(crate) fn mark_contended(&self) {
        // Relaxed: the unlock that reads the mark is this thread's own. A swap, not a store:
        // waiters swap the same value in meanwhile, and with every write an RMW the word has one
        // order of writes that loom models exactly (it models a plain store racing another
        // thread's RMW loosely enough to invent a lost wakeup).
        self.state.swap(CONTENDED, Relaxed);
    }

    #[cold]
    fn wake_one_sleeper(&self) {
        // One is enough: the woken thread takes the lock as CONTENDED, so its own unlock wakes
        // the next sleeper.
        B::wake_one(&self.state);
    }
}

// SAFETY: only a compare-exchange or swap that finds UNLOCKED acquires, so one thread holds the
// lock at a time; `unlock` is a Release swap that the next holder's Acquire reads.
unsafe impl<T: ?Sized, B: Backend> RawLock for Mutex<T, B> {
    type Target = T;
    type Backend = B;

    #[inline]
    fn data(&self) -> &LockData<T, B> {
        &self.data
    }
    #[inline]
    unsafe fn unlock(&self) {
        // Release: publishes the critical section to the next Acquire in `try_acquire` /
        // `lock_contended`.
        if self.state.swap(UNLOCKED, Release) == CONTENDED {
            self.wake_one_sleeper();
        }
    }
    #[inline]
    fn relock(&self) {
        // Marked: after a condvar wait, threads requeued onto this word may be asleep on it, and
        // they must be woken one by one as the lock is handed on. The cost, when none are, is at
        // most one wake that finds nobody.
        self.lock_slow(None, true);
    }
}

guard::data_lock_impls!(Mutex, lock, try_lock);

impl<T: ?Sized, B: Backend> crate::TimedLock for Mutex<T, B> {
    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T, B>> {
        Mutex::try_lock_for(self, timeout)
    }
    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, B>> {
        Mutex::try_lock_until(self, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_mutex_is_one_word() {
        assert_eq!(core::mem::size_of::<Mutex<()>>(), 4);
    }

    #[test]
    fn unsized_data_can_be_locked() {
        let lock: &Mutex<[u32]> = &Mutex::new([1, 2, 3]);
        lock.lock()[0] = 9;
        assert_eq!(*lock.lock(), [9, 2, 3]);
    }

    #[test]
    fn a_sleeper_marks_the_lock_contended_and_unlock_clears_it() {
        let lock = Mutex::new(());
        let guard = lock.lock();
        assert_eq!(lock.state.load(Relaxed), LOCKED);
        // A timed-out waiter leaves the mark behind: harmless, one extra wake at most.
        assert!(lock.try_lock_for(Duration::from_micros(1)).is_none());
        assert_eq!(lock.state.load(Relaxed), CONTENDED);
        drop(guard);
        assert_eq!(lock.state.load(Relaxed), UNLOCKED);
    }

    #[test]
    fn default_and_from_build_an_unlocked_mutex() {
        let a: Mutex<u8> = Mutex::default();
        let b = Mutex::from(7u8);
        assert!(!a.is_locked() && !b.is_locked());
        assert_eq!((a.into_inner(), b.into_inner()), (0, 7));
    }
}
