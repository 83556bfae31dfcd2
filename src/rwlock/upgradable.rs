//! The upgradable read guard, written once for the three readers-writer locks.

use core::marker::PhantomData;
use core::ptr::NonNull;
use std::time::{Duration, Instant};

use super::held::{guard_impls, Held, Read, Upgradable, Write};
use super::Policy;
use super::WriterPref;
use super::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shared access to an [`RwLock`]'s data that can become exclusive without letting a writer in
/// between: readers may hold the lock beside it, but no writer and no other upgradable reader.
/// Made by [`RwLock::upgradable_read`]; dropping it releases the lock.
///
/// The pattern it serves is "read, decide, maybe write": with a plain read guard, the thread
/// would have to drop it and take the write lock, and what it read may have changed in between.
///
/// ```
/// use turnstile::{FairRwLock, RwLockUpgradableReadGuard};
///
/// let cache = FairRwLock::new(Vec::<u32>::new());
/// let seen = cache.upgradable_read();
/// if seen.is_empty() {
///     let mut filling = RwLockUpgradableReadGuard::upgrade(seen); // waits for plain readers only
///     filling.push(1);
/// }
/// assert_eq!(*cache.read(), [1]);
/// ```
///
/// `!Send`, `Sync` when `T` is:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<turnstile::RwLockUpgradableReadGuard<'static, u8, turnstile::rwlock::Fair>>();
/// ```
#[must_use = "if unused the upgradable read lock is released at once"]
pub struct RwLockUpgradableReadGuard<'a, T: ?Sized, P: Policy = WriterPref> {
    held: Held<'a, P, Upgradable>,
    data: crate::guard::DataPtr<T>,
    // `&'a mut T`: invariant in `T`, since an upgrade writes it.
    _marker: PhantomData<&'a mut T>,
}

guard_impls!(RwLockUpgradableReadGuard['_], shared, Sync);

impl<'a, T: ?Sized, P: Policy> RwLockUpgradableReadGuard<'a, T, P> {
    /// Wraps the upgradable read lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds the upgradable read lock of `lock`, and hands its release over.
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) unsafe fn new(lock: &'a RwLock<T, P>) -> Self {
        // SAFETY: passed on from the caller.
        let held = unsafe { Held::new(lock.raw(), lock.data().tracker()) };
        // SAFETY: the data pointer of a lock is never null.
        let data = unsafe { NonNull::new_unchecked(lock.data_ptr()) };
        Self::from_parts(held, data)
    }

    /// Wraps an upgradable hold of the place `data`.
    pub(crate) fn from_parts(held: Held<'a, P, Upgradable>, data: NonNull<T>) -> Self {
        RwLockUpgradableReadGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    /// Takes the guard apart: the caller takes over the lock and the place.
    pub(crate) fn into_parts(this: Self) -> (Held<'a, P, Upgradable>, NonNull<T>) {
        (this.held, this.data.0)
    }

    /// Waits until the other readers have left, then turns this guard into the write guard.
    /// Writers and upgradable readers cannot get in meanwhile; whether new plain readers can
    /// depends on the policy (the writer-preferring and fair locks keep them out, the
    /// reader-preferring lock lets them in, so there an upgrade can wait indefinitely). An
    /// upgrade by a thread that also holds a plain read of the lock would wait for itself
    /// forever: debug builds panic there instead.
    ///
    /// ```
    /// use turnstile::{RwLockUpgradableReadGuard, WriterPrefRwLock};
    ///
    /// let lock = WriterPrefRwLock::new(1);
    /// let upgradable = lock.upgradable_read();
    /// let mut writer = RwLockUpgradableReadGuard::upgrade(upgradable);
    /// *writer += 1;
    /// assert!(lock.try_read().is_none());
    /// ```
    #[track_caller]
    pub fn upgrade(this: Self) -> RwLockWriteGuard<'a, T, P> {
        this.held.check_upgrade();
        match Self::upgrade_before(this, None) {
            Ok(writer) => writer,
            Err(_) => unreachable!("an upgrade without a deadline waits until it succeeds"),
        }
    }

    /// Turns this guard into the write guard if no other reader holds the lock; otherwise gives
    /// it back.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let upgradable = lock.upgradable_read();
    /// let reader = lock.read_recursive(); // a second read on this thread: recursive
    /// let upgradable = RwLockUpgradableReadGuard::try_upgrade(upgradable).unwrap_err(); // a reader is in
    /// drop(reader);
    /// assert!(RwLockUpgradableReadGuard::try_upgrade(upgradable).is_ok());
    /// ```
    pub fn try_upgrade(this: Self) -> Result<RwLockWriteGuard<'a, T, P>, Self> {
        // SAFETY: the guard holds the upgradable read lock.
        if unsafe { this.held.raw().try_upgrade() } {
            Ok(Self::upgraded(this))
        } else {
            Err(this)
        }
    }

    /// As [`upgrade`](Self::upgrade), waiting at most `timeout`; gives the guard back if the
    /// other readers did not leave in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::{ReaderPrefRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = ReaderPrefRwLock::new(1);
    /// let upgradable = lock.upgradable_read();
    /// let reader = lock.read();
    /// let upgradable = RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(1)).unwrap_err();
    /// drop(reader);
    /// assert!(RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(1)).is_ok());
    /// ```
    pub fn try_upgrade_for(this: Self, timeout: Duration) -> Result<RwLockWriteGuard<'a, T, P>, Self> {
        Self::upgrade_before(this, crate::wait::deadline_after(timeout))
    }

    /// As [`upgrade`](Self::upgrade), waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use turnstile::{FairRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let soon = Instant::now() + Duration::from_millis(1);
    /// let writer = RwLockUpgradableReadGuard::try_upgrade_until(lock.upgradable_read(), soon);
    /// assert!(writer.is_ok()); // no other reader
    /// ```
    pub fn try_upgrade_until(this: Self, deadline: Instant) -> Result<RwLockWriteGuard<'a, T, P>, Self> {
        Self::upgrade_before(this, Some(deadline))
    }

    fn upgrade_before(this: Self, deadline: Option<Instant>) -> Result<RwLockWriteGuard<'a, T, P>, Self> {
        // SAFETY: the guard holds the upgradable read lock.
        if unsafe { this.held.raw().upgrade(deadline) } {
            Ok(Self::upgraded(this))
        } else {
            Err(this)
        }
    }

    /// The write guard of a hold the raw lock has just upgraded.
    fn upgraded(this: Self) -> RwLockWriteGuard<'a, T, P> {
        let (held, data) = Self::into_parts(this);
        // SAFETY: the raw lock turned the upgradable read lock into the write lock.
        let held = unsafe { held.change::<Write>(|_| ()) };
        RwLockWriteGuard::from_parts(held, data)
    }

    /// Turns this guard into a plain read guard, letting another upgradable reader in.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let reader = RwLockUpgradableReadGuard::downgrade(lock.upgradable_read());
    /// assert!(lock.try_upgradable_read().is_some());
    /// assert_eq!(*reader, 1);
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T, P> {
        let (held, data) = Self::into_parts(this);
        // SAFETY: `downgrade_upgradable` turns the upgradable read lock into a plain one.
        let held = unsafe { held.change::<Read>(|raw| raw.downgrade_upgradable()) };
        RwLockReadGuard::from_parts(held, data)
    }

    /// Releases the lock while `f` runs, then takes the upgradable read lock again before
    /// returning (also if `f` panics).
    ///
    /// ```
    /// use turnstile::{ReaderPrefRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = ReaderPrefRwLock::new(1);
    /// let mut guard = lock.upgradable_read();
    /// RwLockUpgradableReadGuard::unlocked(&mut guard, || *lock.write() = 2);
    /// assert_eq!(*guard, 2);
    /// ```
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        this.held.unlocked(f)
    }

    /// As [`RwLockReadGuard::unlock_fair`]: the same as dropping the guard, under every policy.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockUpgradableReadGuard};
    ///
    /// let lock = FairRwLock::new(());
    /// RwLockUpgradableReadGuard::unlock_fair(lock.upgradable_read());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }
}
