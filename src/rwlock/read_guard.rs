//! The read guards, written once for the three readers-writer locks.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::held::{guard_impls, map_methods, Held, Read};
use super::Policy;
use super::RwLock;
use super::WriterPref;

/// Shared access to an [`RwLock`]'s data: other readers may hold the lock too, no writer can.
/// Dropping it releases this read lock; a panic that unwinds through it releases it as well.
///
/// `!Send` (the thread that locked unlocks) and `Sync` when `T` is, as std's read guard:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<turnstile::RwLockReadGuard<'static, u8, turnstile::rwlock::Fair>>();
/// ```
///
/// Covariant in `T`, as std's: a guard of `&'static str` serves where a shorter borrow is
/// expected.
///
/// ```
/// use turnstile::{FairRwLock, RwLockReadGuard};
/// use turnstile::rwlock::Fair;
///
/// fn shorten<'a>(guard: RwLockReadGuard<'a, &'static str, Fair>) -> RwLockReadGuard<'a, &'a str, Fair> {
///     guard
/// }
/// let lock = FairRwLock::new("hi");
/// assert_eq!(*shorten(lock.read()), "hi");
/// ```
///
/// ```
/// use turnstile::ReaderPrefRwLock;
///
/// let lock = ReaderPrefRwLock::new(vec![1, 2, 3]);
/// let guard = lock.read();
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(guard.len(), 3)); // shared by reference with another thread
/// });
/// ```
#[must_use = "if unused the read lock is released at once"]
pub struct RwLockReadGuard<'a, T: ?Sized, P: Policy = WriterPref> {
    held: Held<'a, P, Read>,
    data: crate::guard::DataPtr<T>,
    // `&'a T`: covariant in `T`, as std's guard; the hold makes it `!Send`.
    _marker: PhantomData<&'a T>,
}

guard_impls!(RwLockReadGuard['_], shared, Sync);

impl<'a, T: ?Sized, P: Policy> RwLockReadGuard<'a, T, P> {
    /// Wraps a read lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds a read lock of `lock`, and hands its release over to the guard.
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) unsafe fn new(lock: &'a RwLock<T, P>) -> Self {
        // SAFETY: passed on from the caller.
        let held = unsafe { Held::new(lock.raw(), lock.data().tracker()) };
        // SAFETY: the data pointer of a lock is never null.
        let data = unsafe { NonNull::new_unchecked(lock.data_ptr()) };
        RwLockReadGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    /// Wraps a read hold of the place `data`.
    pub(crate) fn from_parts(held: Held<'a, P, Read>, data: NonNull<T>) -> Self {
        RwLockReadGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    map_methods! {
        MappedRwLockReadGuard,
        [],
        /// A guard of one part of the data, made by `f` from the whole; the read lock stays held
        /// until the new guard drops. If `f` panics, the lock is released.
        ///
        /// ```
        /// use turnstile::{FairRwLock, RwLockReadGuard};
        ///
        /// let lock = FairRwLock::new((String::from("name"), 7));
        /// let count = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
        /// assert_eq!(*count, 7);
        /// assert!(lock.try_write().is_none()); // still read-locked through `count`
        /// ```
        map,
        /// As [`map`](Self::map), when `f` may find nothing: then the original guard comes back,
        /// still holding the read lock.
        ///
        /// ```
        /// use turnstile::{RwLockReadGuard, WriterPrefRwLock};
        ///
        /// let lock = WriterPrefRwLock::new(vec![1, 2]);
        /// let guard = RwLockReadGuard::try_map(lock.read(), |v| v.get(5)).unwrap_err(); // no element 5
        /// let first = RwLockReadGuard::try_map(guard, |v| v.first()).unwrap();
        /// assert_eq!(*first, 1);
        /// ```
        try_map
    }

    /// Releases the read lock while `f` runs, then takes a read lock again before returning (also
    /// if `f` panics): for a slow step that need not hold the lock, without giving up the guard.
    ///
    /// ```
    /// use turnstile::{ReaderPrefRwLock, RwLockReadGuard};
    ///
    /// let lock = ReaderPrefRwLock::new(1);
    /// let mut guard = lock.read();
    /// RwLockReadGuard::unlocked(&mut guard, || *lock.write() += 1); // a writer may enter now
    /// assert_eq!(*guard, 2);
    /// ```
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        this.held.unlocked(f)
    }

    /// Releases the read lock fairly, as parking_lot's `unlock_fair`. The fair lock hands every
    /// release to the head of its line anyway, and the preference locks never hand off, so under
    /// every policy this is the same as dropping the guard.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockReadGuard};
    ///
    /// let lock = FairRwLock::new(());
    /// RwLockReadGuard::unlock_fair(lock.read());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }
}

/// A read guard of part of an [`RwLock`]'s data, made by [`RwLockReadGuard::map`]; the read lock
/// is held until it drops. `!Send`, `Sync` when `T` is, and covariant in `T`, like the read guard.
///
/// ```
/// use turnstile::rwlock::{MappedRwLockReadGuard, ReaderPref};
/// use turnstile::{ReaderPrefRwLock, RwLockReadGuard};
///
/// let lock = ReaderPrefRwLock::new([1u8, 2, 3]);
/// let last: MappedRwLockReadGuard<'_, u8, ReaderPref> = RwLockReadGuard::map(lock.read(), |a| &a[2]);
/// assert_eq!(*last, 3);
/// ```
#[must_use = "if unused the read lock is released at once"]
pub struct MappedRwLockReadGuard<'a, T: ?Sized, P: Policy = WriterPref> {
    held: Held<'a, P, Read>,
    data: crate::guard::DataPtr<T>,
    _marker: PhantomData<&'a T>,
}

guard_impls!(MappedRwLockReadGuard['_], shared, Sync);

impl<'a, T: ?Sized, P: Policy> MappedRwLockReadGuard<'a, T, P> {
    /// Wraps a hold of the place `data`.
    fn from_parts(held: Held<'a, P, Read>, data: NonNull<T>) -> Self {
        MappedRwLockReadGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    map_methods! {
        MappedRwLockReadGuard,
        [],
        /// Maps again, to a part of this part.
        ///
        /// ```
        /// use turnstile::rwlock::MappedRwLockReadGuard;
        /// use turnstile::{FairRwLock, RwLockReadGuard};
        ///
        /// let lock = FairRwLock::new(((1, 2), 3));
        /// let inner = RwLockReadGuard::map(lock.read(), |t| &t.0);
        /// assert_eq!(*MappedRwLockReadGuard::map(inner, |pair| &pair.1), 2);
        /// ```
        map,
        /// As [`map`](Self::map), giving this guard back if `f` finds nothing.
        ///
        /// ```
        /// use turnstile::rwlock::MappedRwLockReadGuard;
        /// use turnstile::{FairRwLock, RwLockReadGuard};
        ///
        /// let lock = FairRwLock::new((vec![1], 0));
        /// let list = RwLockReadGuard::map(lock.read(), |t| &t.0);
        /// let list = MappedRwLockReadGuard::try_map(list, |l| l.get(1)).unwrap_err();
        /// assert_eq!(*list, [1]);
        /// ```
        try_map
    }

    /// As [`RwLockReadGuard::unlock_fair`]: the same as dropping the guard, under every policy.
    ///
    /// ```
    /// use turnstile::rwlock::MappedRwLockReadGuard;
    /// use turnstile::{FairRwLock, RwLockReadGuard};
    ///
    /// let lock = FairRwLock::new((1, 2));
    /// MappedRwLockReadGuard::unlock_fair(RwLockReadGuard::map(lock.read(), |p| &p.0));
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }
}
