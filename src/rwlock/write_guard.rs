//! The write guards, written once for the three readers-writer locks.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::held::{guard_impls, map_methods, Held, Upgradable, Write};
use super::Policy;
use super::WriterPref;
use super::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard};

/// Exclusive access to an [`RwLock`]'s data: nobody else holds the lock. Dropping it releases the
/// lock; a panic that unwinds through it releases it as well.
///
/// `!Send` and `Sync` when `T` is, as std's write guard:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<turnstile::RwLockWriteGuard<'static, u8, turnstile::rwlock::Fair>>();
/// ```
///
/// ```
/// use turnstile::WriterPrefRwLock;
///
/// let lock = WriterPrefRwLock::new(vec![1]);
/// {
///     let mut guard = lock.write();
///     guard.push(2); // DerefMut to the Vec
/// } // dropped here: unlocked
/// assert_eq!(*lock.read(), [1, 2]);
/// ```
#[must_use = "if unused the write lock is released at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized, P: Policy = WriterPref> {
    held: Held<'a, P, Write>,
    data: crate::guard::DataPtr<T>,
    // `&'a mut T`: invariant in `T`, since the guard writes it.
    _marker: PhantomData<&'a mut T>,
}

guard_impls!(RwLockWriteGuard['_], exclusive, Sync);

impl<'a, T: ?Sized, P: Policy> RwLockWriteGuard<'a, T, P> {
    /// Wraps the write lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds the write lock of `lock`, and hands its release over to the guard.
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) unsafe fn new(lock: &'a RwLock<T, P>) -> Self {
        // SAFETY: passed on from the caller.
        let held = unsafe { Held::new(lock.raw(), lock.data().tracker()) };
        // SAFETY: the data pointer of a lock is never null.
        let data = unsafe { NonNull::new_unchecked(lock.data_ptr()) };
        RwLockWriteGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    /// Wraps a write hold of the place `data`.
    pub(crate) fn from_parts(held: Held<'a, P, Write>, data: NonNull<T>) -> Self {
        RwLockWriteGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    /// Takes the guard apart: the caller takes over the write lock and the place.
    pub(crate) fn into_parts(this: Self) -> (Held<'a, P, Write>, NonNull<T>) {
        (this.held, this.data.0)
    }

    /// Turns this write guard into a read guard in one step: readers may join, but no writer
    /// gets in between. What waiting readers do then follows the lock's policy:
    ///
    /// * [`ReaderPrefRwLock`](crate::ReaderPrefRwLock): every waiting reader joins at once.
    /// * [`WriterPrefRwLock`](crate::WriterPrefRwLock): waiting readers join unless a writer
    ///   waits (that writer goes first, after this reader leaves).
    /// * [`FairRwLock`](crate::FairRwLock): the readers at the head of the line join; a writer
    ///   at its head waits for this reader.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockWriteGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let mut writer = lock.write();
    /// *writer += 1;
    /// let reader = RwLockWriteGuard::downgrade(writer);
    /// assert_eq!(*lock.try_read().unwrap(), 2); // other readers can join now
    /// assert!(lock.try_write().is_none()); // writers cannot
    /// assert_eq!(*reader, 2);
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T, P> {
        let (held, data) = Self::into_parts(this);
        // SAFETY: `downgrade` turns the write lock we hold into a read lock.
        let held = unsafe { held.change(|raw| raw.downgrade()) };
        RwLockReadGuard::from_parts(held, data)
    }

    /// Turns this write guard into the upgradable read guard in one step: readers may join, no
    /// writer or other upgradable reader gets in between, and it can
    /// [`upgrade`](RwLockUpgradableReadGuard::upgrade) again.
    ///
    /// ```
    /// use turnstile::{ReaderPrefRwLock, RwLockWriteGuard};
    ///
    /// let lock = ReaderPrefRwLock::new(1);
    /// let upgradable = RwLockWriteGuard::downgrade_to_upgradable(lock.write());
    /// assert!(lock.try_read().is_some());
    /// assert!(lock.try_upgradable_read().is_none());
    /// assert_eq!(*upgradable, 1);
    /// ```
    pub fn downgrade_to_upgradable(this: Self) -> RwLockUpgradableReadGuard<'a, T, P> {
        let (held, data) = Self::into_parts(this);
        // SAFETY: `downgrade_to_upgradable` turns the write lock we hold into the upgradable one.
        let held = unsafe { held.change::<Upgradable>(|raw| raw.downgrade_to_upgradable()) };
        RwLockUpgradableReadGuard::from_parts(held, data)
    }

    map_methods! {
        MappedRwLockWriteGuard,
        [mut],
        /// A guard of one part of the data, made by `f` from the whole; the write lock stays held
        /// until the new guard drops. If `f` panics, the lock is released.
        ///
        /// ```
        /// use turnstile::{FairRwLock, RwLockWriteGuard};
        ///
        /// let lock = FairRwLock::new((String::from("name"), 1));
        /// let mut count = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
        /// *count += 1;
        /// drop(count);
        /// assert_eq!(lock.read().1, 2);
        /// ```
        map,
        /// As [`map`](Self::map), when `f` may find nothing to guard: then the original guard comes
        /// back, still holding the lock.
        ///
        /// ```
        /// use turnstile::{RwLockWriteGuard, WriterPrefRwLock};
        ///
        /// let lock = WriterPrefRwLock::new(vec![1, 2]);
        /// let guard = RwLockWriteGuard::try_map(lock.write(), |v| v.get_mut(5)).unwrap_err();
        /// let mut first = RwLockWriteGuard::try_map(guard, |v| v.first_mut()).unwrap();
        /// *first = 0;
        /// ```
        try_map
    }

    /// Releases the write lock while `f` runs, then takes it back before returning (also if `f`
    /// panics).
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockWriteGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let mut guard = lock.write();
    /// RwLockWriteGuard::unlocked(&mut guard, || assert_eq!(*lock.read(), 1));
    /// *guard += 1;
    /// ```
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        this.held.unlocked(f)
    }

    /// Releases the write lock fairly, as parking_lot's `unlock_fair`: under every policy the
    /// same as dropping the guard (the fair lock always hands off; the preference locks never
    /// do).
    ///
    /// ```
    /// use turnstile::{RwLockWriteGuard, WriterPrefRwLock};
    ///
    /// let lock = WriterPrefRwLock::new(());
    /// RwLockWriteGuard::unlock_fair(lock.write());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }
}

/// A write guard of part of an [`RwLock`]'s data, made by [`RwLockWriteGuard::map`]; the write
/// lock is held until it drops. `!Send`, `Sync` when `T` is.
///
/// ```
/// use turnstile::rwlock::{Fair, MappedRwLockWriteGuard};
/// use turnstile::{FairRwLock, RwLockWriteGuard};
///
/// let lock = FairRwLock::new([0u8; 4]);
/// let mut last: MappedRwLockWriteGuard<'_, u8, Fair> = RwLockWriteGuard::map(lock.write(), |a| &mut a[3]);
/// *last = 9;
/// drop(last);
/// assert_eq!(*lock.read(), [0, 0, 0, 9]);
/// ```
#[must_use = "if unused the write lock is released at once"]
pub struct MappedRwLockWriteGuard<'a, T: ?Sized, P: Policy = WriterPref> {
    held: Held<'a, P, Write>,
    data: crate::guard::DataPtr<T>,
    _marker: PhantomData<&'a mut T>,
}

guard_impls!(MappedRwLockWriteGuard['_], exclusive, Sync);

impl<'a, T: ?Sized, P: Policy> MappedRwLockWriteGuard<'a, T, P> {
    /// Wraps a hold of the place `data`.
    fn from_parts(held: Held<'a, P, Write>, data: NonNull<T>) -> Self {
        MappedRwLockWriteGuard { held, data: crate::guard::DataPtr(data), _marker: PhantomData }
    }

    map_methods! {
        MappedRwLockWriteGuard,
        [mut],
        /// Maps again, to a part of this part.
        ///
        /// ```
        /// use turnstile::rwlock::MappedRwLockWriteGuard;
        /// use turnstile::{FairRwLock, RwLockWriteGuard};
        ///
        /// let lock = FairRwLock::new(((1, 2), 3));
        /// let inner = RwLockWriteGuard::map(lock.write(), |t| &mut t.0);
        /// *MappedRwLockWriteGuard::map(inner, |pair| &mut pair.1) = 5;
        /// assert_eq!(*lock.read(), ((1, 5), 3));
        /// ```
        map,
        /// As [`map`](Self::map), giving this guard back if `f` finds nothing.
        ///
        /// ```
        /// use turnstile::rwlock::MappedRwLockWriteGuard;
        /// use turnstile::{ReaderPrefRwLock, RwLockWriteGuard};
        ///
        /// let lock = ReaderPrefRwLock::new((vec![1], 0));
        /// let list = RwLockWriteGuard::map(lock.write(), |t| &mut t.0);
        /// let list = MappedRwLockWriteGuard::try_map(list, |l| l.get_mut(1)).unwrap_err();
        /// assert_eq!(*list, [1]);
        /// ```
        try_map
    }

    /// As [`RwLockWriteGuard::unlock_fair`]: the same as dropping the guard, under every policy.
    ///
    /// ```
    /// use turnstile::rwlock::MappedRwLockWriteGuard;
    /// use turnstile::{FairRwLock, RwLockWriteGuard};
    ///
    /// let lock = FairRwLock::new((1, 2));
    /// MappedRwLockWriteGuard::unlock_fair(RwLockWriteGuard::map(lock.write(), |p| &mut p.0));
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        drop(this);
    }
}
