//! A test-and-test-and-set spinlock with exponential backoff.
//!
//! **Why "check, then set" is not a lock.** The textbook's first attempt at mutual exclusion reads a
//! shared `lock` variable and, if it is 0, writes 1 and enters:
//!
//! ```text
//! while lock == 1 { }   // check
//! lock = 1;             // set
//! // critical section
//! lock = 0;
//! ```
//!
//! Two threads can both run the check, both see 0, and both set it to 1 and enter: the check and
//! the set are two steps, and the other thread can run between them. (The loom model
//! `spin::check_then_set_admits_two_holders` shows exactly this interleaving by running this very
//! lock over a backend whose read-modify-writes are split into a load and a store.)
//!
//! **Test-and-set** makes the check and the set one indivisible step: an atomic
//! compare-exchange turns 0 into 1 and reports whether it did. Exactly one thread can be the one
//! that turned 0 into 1.
//!
//! **Test-and-*test*-and-set.** Hammering the word with swaps while it is held makes every
//! waiter pull the cache line in exclusive mode, slowing the holder too. So a waiter reads the word
//! (a plain load keeps the line shared) until it looks free, and only then tries the test-and-set,
//! backing off exponentially between reads and yielding the CPU once spinning stops paying
//! (Anderson 1990; Herlihy & Shavit, ch. 7).
//!
//! Policy: no fairness, no sleeping; a spinlock burns CPU while it waits. Use it for critical
//! sections of a few instructions, where a futex round trip would cost more than the wait.

use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;
use crate::guard::{self, raw::RawLock, ArcLockGuard, LockData, LockGuard, MappedLockGuard};
use crate::self_deadlock::Want;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;

/// A test-and-test-and-set spinlock: waiters spin (then yield) instead of sleeping.
///
/// `lock` is one compare-exchange when the lock is free; `SpinLock<()>` is 4 bytes. Not fair. A panic in the
/// critical section releases the lock. `#[repr(C)]`: the `u32` lock word at offset 0, then the
/// data; over the `ProcessShared` backend it may live in a [`shm::Region`](crate::shm::Region)
/// (Linux).
///
/// ```
/// use turnstile::SpinLock;
///
/// static HITS: SpinLock<u64> = SpinLock::new(0);
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| *HITS.lock() += 1);
///     }
/// });
/// assert_eq!(*HITS.lock(), 2);
/// ```
#[repr(C)]
pub struct SpinLock<T: ?Sized, B: Backend = Real> {
    locked: B::Word,
    data: LockData<T, B>,
}

/// The guard of a [`SpinLock`]: the lock is held until it is dropped.
///
/// ```
/// use turnstile::{SpinLock, SpinLockGuard};
///
/// fn push(list: &SpinLock<Vec<u8>>, x: u8) -> SpinLockGuard<'_, Vec<u8>> {
///     let mut guard = list.lock();
///     guard.push(x);
///     guard // still held by the caller
/// }
/// let list = SpinLock::new(Vec::new());
/// assert_eq!(*push(&list, 1), [1]);
/// ```
pub type SpinLockGuard<'a, T, B = Real> = LockGuard<'a, SpinLock<T, B>>;
/// A guard of part of a [`SpinLock`]'s data, from [`SpinLockGuard::map`](LockGuard::map).
///
/// ```
/// use turnstile::{MappedSpinLockGuard, SpinLock, SpinLockGuard};
///
/// let lock = SpinLock::new((1u8, 2u8));
/// let second: MappedSpinLockGuard<'_, (u8, u8), u8> = SpinLockGuard::map(lock.lock(), |p| &mut p.1);
/// assert_eq!(*second, 2);
/// ```
pub type MappedSpinLockGuard<'a, T, U, B = Real> = MappedLockGuard<'a, SpinLock<T, B>, U>;
/// A [`SpinLock`] guard that owns an `Arc` of the lock, from [`SpinLock::lock_arc`].
///
/// ```
/// use std::sync::Arc;
/// use turnstile::{ArcSpinLockGuard, SpinLock};
///
/// let lock = Arc::new(SpinLock::new(0));
/// let mut guard: ArcSpinLockGuard<i32> = lock.lock_arc();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.lock(), 1);
/// ```
pub type ArcSpinLockGuard<T, B = Real> = ArcLockGuard<SpinLock<T, B>>;

impl<T> SpinLock<T> {
    /// A new, unlocked spinlock. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static FLAG: turnstile::SpinLock<bool> = turnstile::SpinLock::new(false);
    /// *FLAG.lock() = true;
    /// assert!(*FLAG.lock());
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        SpinLock { locked: AtomicU32::new(UNLOCKED), data: LockData::new(value) }
    }
}

/// The `const` constructor of [`shm::SpinLock::new`](crate::shm::SpinLock::new).
#[cfg(target_os = "linux")]
impl<T> SpinLock<T, crate::backend::ProcessShared> {
    #[inline]
    pub(crate) const fn process_shared(value: T) -> Self {
        SpinLock { locked: AtomicU32::new(UNLOCKED), data: LockData::new(value) }
    }
}

impl<T, B: Backend> SpinLock<T, B> {
    /// A new, unlocked spinlock over the backend `B`, named explicitly:
    /// `SpinLock::<_, Real>::with_backend(x)` is `SpinLock::new(x)`. Loom models build their
    /// spinlocks with it, over the loom backend. Not `const`, as some backends' words are not;
    /// between processes, [`shm::SpinLock::new`](crate::shm::SpinLock::new) is (Linux).
    ///
    /// ```
    /// use turnstile::{backend::Real, SpinLock};
    ///
    /// let lock = SpinLock::<_, Real>::with_backend('a');
    /// assert_eq!(*lock.lock(), 'a');
    /// ```
    pub fn with_backend(value: T) -> Self {
        SpinLock { locked: B::Word::new(UNLOCKED), data: LockData::with_backend(value) }
    }
}

impl<T: ?Sized, B: Backend> SpinLock<T, B> {
    /// Takes the lock, spinning (and then yielding) until it is free.
    ///
    /// Taking it again on the same thread while holding it would spin forever: debug builds
    /// panic there instead, naming the line that holds it (release builds do not check).
    ///
    /// ```
    /// let lock = turnstile::SpinLock::new(0);
    /// *lock.lock() += 5;
    /// assert_eq!(*lock.lock(), 5);
    /// ```
    ///
    /// ```should_panic
    /// # if !cfg!(debug_assertions) { panic!("the check is in debug builds only") }
    /// let lock = turnstile::SpinLock::new(0);
    /// let first = lock.lock();
    /// let second = lock.lock(); // panics: "this thread already holds this SpinLock"
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> SpinLockGuard<'_, T, B> {
        let word = &self.locked as *const B::Word as *const ();
        crate::self_deadlock::check::<B>(word, "SpinLock", "lock", Want::Lock, false, |_| self.is_locked());
        self.relock();
        // SAFETY: our compare-exchange (or `lock_contended`'s) turned UNLOCKED into LOCKED.
        unsafe { LockGuard::new(self) }
    }

    /// Takes the lock if it is free right now; never spins.
    ///
    /// ```
    /// let lock = turnstile::SpinLock::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T, B>> {
        if self.try_acquire() {
            // SAFETY: the compare-exchange turned UNLOCKED into LOCKED.
            Some(unsafe { LockGuard::new(self) })
        } else {
            None
        }
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::SpinLock::new(());
    /// let guard = lock.lock();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.locked.load(Relaxed) != UNLOCKED
    }

    #[cold]
    fn lock_contended(&self) {
        let mut backoff = Backoff::<B>::new();
        loop {
            // Test: wait with plain loads until the lock looks free. Relaxed: only a hint.
            while self.locked.load(Relaxed) != UNLOCKED {
                if B::SPIN_SLEEPS {
                    B::spin_sleep(&self.locked, LOCKED);
                } else {
                    backoff.snooze();
                }
            }
            if self.try_acquire() {
                return;
            }
        }
    }

    /// The test-and-set: one indivisible step that turns UNLOCKED into LOCKED or fails.
    ///
    /// A compare-exchange rather than a swap: a failed attempt writes nothing, so waiters that
    /// lose the race do not store into the word the holder will release. (Loom, too, can only
    /// show a spinning thread the release if losers do not keep writing.)
    #[inline]
    fn try_acquire(&self) -> bool {
        // Acquire: pairs with the Release store in `unlock`, so the previous holder's writes to
        // the data happen before ours. Relaxed on failure: we read nothing then.
        self.locked.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_ok()
    }
}

// SAFETY: only the compare-exchange UNLOCKED → LOCKED acquires, so one thread holds the lock at
// a time; `unlock` is a Release store that the next holder's Acquire compare-exchange reads.
unsafe impl<T: ?Sized, B: Backend> RawLock for SpinLock<T, B> {
    type Target = T;
    type Backend = B;

    #[inline]
    fn data(&self) -> &LockData<T, B> {
        &self.data
    }
    const RECORDED_AS: Option<&'static str> = Some("SpinLock");

    #[inline]
    unsafe fn unlock(&self) {
        // Release: publishes the critical section to the next holder's Acquire in `try_acquire`.
        self.locked.store(UNLOCKED, Release);
        if B::SPIN_SLEEPS {
            B::spin_wake(&self.locked);
        }
    }
    #[inline]
    fn relock(&self) {
        if !self.try_acquire() {
            self.lock_contended();
        }
    }
}

guard::data_lock_impls!(SpinLock, lock, try_lock);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_spinlock_is_one_word() {
        assert_eq!(core::mem::size_of::<SpinLock<()>>(), 4);
    }

    #[test]
    fn debug_never_blocks() {
        let lock = SpinLock::new(1);
        let _held = lock.lock();
        assert_eq!(format!("{lock:?}"), "SpinLock { data: <locked>, .. }");
    }
}
