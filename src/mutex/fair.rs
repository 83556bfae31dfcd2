//! A mutex whose every release hands the lock to the oldest waiter.
//!
//! [`Mutex`] lets a running thread take a released lock before the waiters it wakes (barging),
//! and hands the lock over only about every [`FAIRNESS_BOUND`](super::FAIRNESS_BOUND). A
//! [`FairMutex`] is the same lock word and the same wait queue, released with
//! [`unlock_fair`](LockGuard::unlock_fair) every time: while anyone waits, the lock goes
//! straight to the oldest waiter, and no thread that arrives later can take it first. Without
//! waiters a release is the same one compare-exchange as a `Mutex`'s.
//!
//! The price is throughput under contention: each hand-off waits for the woken thread to run,
//! where a barging lock lets the running thread go on. Choose it when waiters must be served in
//! order, or when a thread that re-takes the lock in a loop must not keep others out.

use std::time::{Duration, Instant};

use super::Mutex;
use crate::backend::{Backend, Real};
use crate::guard::{self, raw::RawLock, ArcLockGuard, LockData, LockGuard, MappedLockGuard};
use crate::self_deadlock::Want;

/// A mutual-exclusion lock that hands the lock to the oldest waiter at every release.
///
/// The [`Mutex`] algorithm with every release fair: while anyone waits, a release hands the
/// lock straight to the oldest waiter, so no thread that arrives later takes it first; the same
/// size, the same uncontended cost, and the API of [`Mutex`]. A panic in the critical section
/// releases the lock (no poisoning).
///
/// The price is throughput under contention: each hand-off waits for the woken thread to run,
/// where [`Mutex`] lets the running thread go on (and hands off only about every
/// [`FAIRNESS_BOUND`](crate::mutex::FAIRNESS_BOUND)). Choose it when waiters must be served in
/// order, or when a thread that re-takes the lock in a loop must not keep others out; a
/// [`Mutex`] can also give way on request ([`MutexGuard::bump`](LockGuard::bump)).
///
/// ```
/// use std::sync::Arc;
/// use turnstile::FairMutex;
///
/// let turns = Arc::new(FairMutex::new(Vec::new()));
/// let threads: Vec<_> = (0..3)
///     .map(|id| {
///         let turns = Arc::clone(&turns);
///         std::thread::spawn(move || {
///             for _ in 0..10 {
///                 turns.lock().push(id); // waiters are served in arrival order
///             }
///         })
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(turns.lock().len(), 30);
/// ```
#[repr(transparent)]
pub struct FairMutex<T: ?Sized, B: Backend = Real> {
    inner: Mutex<T, B>,
}

/// The guard of a [`FairMutex`]: the lock is held until it is dropped, and then goes to the
/// oldest waiter if there is one.
///
/// ```
/// use turnstile::{FairMutex, FairMutexGuard};
///
/// fn append<'a>(log: &'a FairMutex<String>, line: &str) -> FairMutexGuard<'a, String> {
///     let mut guard = log.lock();
///     guard.push_str(line);
///     guard
/// }
/// let log = FairMutex::new(String::new());
/// assert_eq!(*append(&log, "one"), "one");
/// ```
pub type FairMutexGuard<'a, T, B = Real> = LockGuard<'a, FairMutex<T, B>>;
/// A guard of part of a [`FairMutex`]'s data, from [`FairMutexGuard::map`](LockGuard::map).
///
/// ```
/// use turnstile::{FairMutex, FairMutexGuard, MappedFairMutexGuard};
///
/// let lock = FairMutex::new((1, 'a'));
/// let first: MappedFairMutexGuard<'_, (i32, char), i32> = FairMutexGuard::map(lock.lock(), |p| &mut p.0);
/// assert_eq!(*first, 1);
/// ```
pub type MappedFairMutexGuard<'a, T, U, B = Real> = MappedLockGuard<'a, FairMutex<T, B>, U>;
/// A [`FairMutex`] guard that owns an `Arc` of the lock, from [`FairMutex::lock_arc`].
///
/// ```
/// use std::sync::Arc;
/// use turnstile::{ArcFairMutexGuard, FairMutex};
///
/// let lock = Arc::new(FairMutex::new(0));
/// let mut guard: ArcFairMutexGuard<i32> = lock.lock_arc();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.lock(), 1);
/// ```
pub type ArcFairMutexGuard<T, B = Real> = ArcLockGuard<FairMutex<T, B>>;

impl<T> FairMutex<T> {
    /// A new, unlocked fair mutex. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use turnstile::FairMutex;
    ///
    /// static QUEUE: FairMutex<Vec<u32>> = FairMutex::new(Vec::new());
    /// QUEUE.lock().push(1);
    /// assert_eq!(QUEUE.lock().len(), 1);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        FairMutex { inner: Mutex::new(value) }
    }
}

impl<T, B: Backend> FairMutex<T, B> {
    /// A new, unlocked fair mutex over the backend `B`, named explicitly (loom models use it).
    ///
    /// ```
    /// use turnstile::{backend::Real, FairMutex};
    ///
    /// let lock = FairMutex::<_, Real>::with_backend(3);
    /// assert_eq!(*lock.lock(), 3);
    /// ```
    pub fn with_backend(value: T) -> Self {
        FairMutex { inner: Mutex::with_backend(value) }
    }
}

impl<T: ?Sized, B: Backend> FairMutex<T, B> {
    /// A guard of the lock the caller has just taken, or `None`.
    #[cfg_attr(debug_assertions, track_caller)]
    fn guard_if(&self, acquired: bool) -> Option<FairMutexGuard<'_, T, B>> {
        // SAFETY: the caller took the lock when `acquired` says so, and hands its release over.
        acquired.then(|| unsafe { LockGuard::new(self) })
    }

    /// Takes the lock, sleeping until it is free; a thread already waiting goes first.
    ///
    /// ```
    /// let lock = turnstile::FairMutex::new(1);
    /// *lock.lock() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> FairMutexGuard<'_, T, B> {
        crate::self_deadlock::check::<B>(
            self.inner.word_ptr(),
            "FairMutex",
            "lock",
            Want::Lock,
            false,
            |_| self.is_locked(),
        );
        self.inner.acquire_raw(None);
        // SAFETY: `acquire_raw` without a deadline returns holding the lock.
        unsafe { LockGuard::new(self) }
    }

    /// Takes the lock if it is free right now; never waits.
    ///
    /// ```
    /// let lock = turnstile::FairMutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<FairMutexGuard<'_, T, B>> {
        self.guard_if(self.inner.try_acquire_raw())
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it did not become free in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::FairMutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
    /// drop(held);
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_some());
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Option<FairMutexGuard<'_, T, B>> {
        self.guard_if(self.inner.acquire_raw(crate::wait::deadline_after(timeout)))
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it did not become free.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::FairMutex::new(5);
    /// let guard = lock.try_lock_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    pub fn try_lock_until(&self, deadline: Instant) -> Option<FairMutexGuard<'_, T, B>> {
        self.guard_if(self.inner.acquire_raw(Some(deadline)))
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::FairMutex::new(());
    /// let guard = lock.lock();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

impl<'a, T: ?Sized, B: Backend> LockGuard<'a, FairMutex<T, B>> {
    /// Unlocks, handing the lock to the oldest waiter if there is one: what dropping the guard
    /// does too. For code written against parking_lot's `FairMutexGuard`.
    ///
    /// ```
    /// use turnstile::{FairMutex, FairMutexGuard};
    ///
    /// let lock = FairMutex::new(0);
    /// let mut guard = lock.lock();
    /// *guard += 1;
    /// FairMutexGuard::unlock_fair(guard);
    /// assert_eq!(*lock.lock(), 1);
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }

    /// Lets the oldest waiting thread have the lock, if one waits, and takes it back after
    /// (see [`MutexGuard::bump`](LockGuard::bump)).
    ///
    /// ```
    /// use turnstile::{FairMutex, FairMutexGuard};
    ///
    /// let lock = FairMutex::new(0);
    /// let mut guard = lock.lock();
    /// *guard += 1;
    /// FairMutexGuard::bump(&mut guard);
    /// assert_eq!(*guard, 1);
    /// ```
    pub fn bump(this: &mut Self) {
        if LockGuard::raw(this).inner.has_waiters() {
            LockGuard::unlocked_with(this, |_| ());
        }
    }
}

// SAFETY: the inner `Mutex`'s contract: one holder at a time, and every release (the fair one
// included) a Release that the next holder's Acquire reads.
unsafe impl<T: ?Sized, B: Backend> RawLock for FairMutex<T, B> {
    type Target = T;
    type Backend = B;

    #[inline]
    fn data(&self) -> &LockData<T, B> {
        self.inner.data()
    }
    const RECORDED_AS: Option<&'static str> = Some("FairMutex");
    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (the `RawLock` contract).
        unsafe { self.inner.unlock_with(true) }
    }
    fn relock(&self) {
        self.inner.relock();
    }
}

impl<T: ?Sized, B: Backend> guard::raw::PlainRelock for FairMutex<T, B> {}

guard::data_lock_impls!(FairMutex, lock, try_lock, inner.data);

impl<T: ?Sized, B: Backend> crate::TimedLock for FairMutex<T, B> {
    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<FairMutexGuard<'_, T, B>> {
        FairMutex::try_lock_for(self, timeout)
    }
    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<FairMutexGuard<'_, T, B>> {
        FairMutex::try_lock_until(self, deadline)
    }
}
