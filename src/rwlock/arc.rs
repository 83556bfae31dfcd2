//! The guards that own an `Arc` of their lock, so they have no lifetime.

use core::ptr::NonNull;
use std::sync::Arc;

use super::held::{guard_impls, Held, Read, Upgradable, Write};
use super::Policy;
use super::RwLock;
use super::WriterPref;

/// Declares an arc guard of kind `$Kind`: the hold, then the `Arc` that keeps its lock alive
/// (fields drop in order, so the lock is released before the `Arc` may free it).
macro_rules! arc_guard {
    ($(#[$doc:meta])* $Guard:ident, $Kind:ty, $mode:ident, $make:literal) => {
        $(#[$doc])*
        #[must_use = "if unused the lock is released at once"]
        pub struct $Guard<T: ?Sized, P: Policy = WriterPref> {
            held: Held<'static, P, $Kind>,
            data: crate::guard::DataPtr<T>,
            lock: Arc<RwLock<T, P>>,
        }

        guard_impls!($Guard[], $mode, Send + Sync);

        impl<T: ?Sized, P: Policy> $Guard<T, P> {
            /// Takes over the lock of this kind that the caller holds on `lock`.
            ///
            /// # Safety
            /// The calling thread holds a lock of this guard's kind on `lock`, and hands its
            /// release over.
            #[cfg_attr(debug_assertions, track_caller)]
            pub(crate) unsafe fn new(lock: Arc<RwLock<T, P>>) -> Self {
                // SAFETY: the hold borrows from the lock the `Arc` keeps alive; the guard keeps
                // the `Arc` until after the hold has dropped (field order), and never lends the
                // hold out, so the `'static` is never seen beyond the guard's life.
                let (raw, tracker) = unsafe { (&*(lock.raw() as *const P), &*(lock.data().tracker() as *const _)) };
                // SAFETY: passed on from the caller.
                let held = unsafe { Held::new(raw, tracker) };
                // SAFETY: the data pointer of a lock is never null.
                let data = unsafe { NonNull::new_unchecked(lock.data_ptr()) };
                $Guard { held, data: crate::guard::DataPtr(data), lock }
            }

            /// The lock this guard holds.
            ///
            /// ```
            /// use std::sync::Arc;
            /// use turnstile::FairRwLock;
            #[doc = concat!("use turnstile::rwlock::", stringify!($Guard), ";")]
            ///
            /// let lock = Arc::new(FairRwLock::new(()));
            #[doc = concat!("let guard = ", $make, ";")]
            #[doc = concat!("assert!(Arc::ptr_eq(", stringify!($Guard), "::rwlock(&guard), &lock));")]
            /// ```
            pub fn rwlock(this: &Self) -> &Arc<RwLock<T, P>> {
                &this.lock
            }

            /// Releases the lock while `f` runs, then takes it back before returning (also if
            /// `f` panics).
            ///
            /// ```
            /// use std::sync::Arc;
            /// use turnstile::FairRwLock;
            #[doc = concat!("use turnstile::rwlock::", stringify!($Guard), ";")]
            ///
            /// let lock = Arc::new(FairRwLock::new(()));
            #[doc = concat!("let mut guard = ", $make, ";")]
            #[doc = concat!(stringify!($Guard), "::unlocked(&mut guard, || assert!(!lock.is_locked()));")]
            /// assert!(lock.is_locked());
            /// ```
            pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
                this.held.unlocked(f)
            }

            /// Takes the guard apart without releasing: the caller takes over the lock.
            #[allow(dead_code)] // the read kind never changes into another
            fn into_parts(this: Self) -> (Held<'static, P, $Kind>, NonNull<T>, Arc<RwLock<T, P>>) {
                (this.held, this.data.0, this.lock)
            }
        }
    };
}

arc_guard! {
    /// A read guard that owns an `Arc` of its lock, so it has no lifetime: made by
    /// [`RwLock::read_arc`], it can be kept in a `'static` place. The read lock is held until it
    /// drops. `!Send`, like every guard here.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::{ArcRwLockReadGuard, Fair};
    /// use turnstile::FairRwLock;
    ///
    /// struct Snapshot {
    ///     config: ArcRwLockReadGuard<String, Fair>, // no lifetime to carry around
    /// }
    /// let config = Arc::new(FairRwLock::new(String::from("v1")));
    /// let snapshot = Snapshot { config: config.read_arc() };
    /// assert!(config.try_write().is_none());
    /// assert_eq!(*snapshot.config, "v1");
    /// ```
    ArcRwLockReadGuard, Read, shared, "lock.read_arc()"
}

arc_guard! {
    /// A write guard that owns an `Arc` of its lock: made by [`RwLock::write_arc`]. The write lock
    /// is held until it drops.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::WriterPrefRwLock;
    ///
    /// let log = Arc::new(WriterPrefRwLock::new(Vec::new()));
    /// let mut guard = log.write_arc();
    /// guard.push("started");
    /// drop(guard);
    /// assert_eq!(log.read().len(), 1);
    /// ```
    ArcRwLockWriteGuard, Write, exclusive, "lock.write_arc()"
}

arc_guard! {
    /// An upgradable read guard that owns an `Arc` of its lock: made by
    /// [`RwLock::upgradable_read_arc`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::ArcRwLockUpgradableReadGuard;
    /// use turnstile::FairRwLock;
    ///
    /// let lock = Arc::new(FairRwLock::new(0));
    /// let guard = lock.upgradable_read_arc();
    /// let mut writer = ArcRwLockUpgradableReadGuard::upgrade(guard);
    /// *writer += 1;
    /// drop(writer);
    /// assert_eq!(*lock.read(), 1);
    /// ```
    ArcRwLockUpgradableReadGuard, Upgradable, shared, "lock.upgradable_read_arc()"
}

impl<T: ?Sized, P: Policy> ArcRwLockWriteGuard<T, P> {
    /// Turns this guard into an arc read guard in one step, as
    /// [`RwLockWriteGuard::downgrade`](crate::RwLockWriteGuard::downgrade).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::ArcRwLockWriteGuard;
    /// use turnstile::ReaderPrefRwLock;
    ///
    /// let lock = Arc::new(ReaderPrefRwLock::new(1));
    /// let mut writer = lock.write_arc();
    /// *writer = 2;
    /// let reader = ArcRwLockWriteGuard::downgrade(writer);
    /// assert_eq!((*reader, *lock.read()), (2, 2));
    /// ```
    pub fn downgrade(this: Self) -> ArcRwLockReadGuard<T, P> {
        let (held, data, lock) = Self::into_parts(this);
        // SAFETY: `downgrade` turns the write lock we hold into a read lock.
        let held = unsafe { held.change::<Read>(|raw| raw.downgrade()) };
        ArcRwLockReadGuard { held, data: crate::guard::DataPtr(data), lock }
    }
}

impl<T: ?Sized, P: Policy> ArcRwLockUpgradableReadGuard<T, P> {
    /// Waits until the other readers have left, then turns this guard into an arc write guard,
    /// as [`RwLockUpgradableReadGuard::upgrade`](crate::RwLockUpgradableReadGuard::upgrade).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::ArcRwLockUpgradableReadGuard;
    /// use turnstile::WriterPrefRwLock;
    ///
    /// let lock = Arc::new(WriterPrefRwLock::new(1));
    /// let mut writer = ArcRwLockUpgradableReadGuard::upgrade(lock.upgradable_read_arc());
    /// *writer += 1;
    /// assert!(lock.try_read().is_none());
    /// ```
    #[track_caller]
    pub fn upgrade(this: Self) -> ArcRwLockWriteGuard<T, P> {
        this.held.check_upgrade();
        // SAFETY: the guard holds the upgradable read lock; without a deadline this returns
        // holding the write lock.
        unsafe { this.held.raw().upgrade(None) };
        Self::upgraded(this)
    }

    /// Turns this guard into an arc write guard if no other reader holds the lock; otherwise
    /// gives it back.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::ArcRwLockUpgradableReadGuard;
    /// use turnstile::FairRwLock;
    ///
    /// let lock = Arc::new(FairRwLock::new(1));
    /// let guard = lock.upgradable_read_arc();
    /// let reader = lock.read_recursive(); // a second read on this thread: recursive
    /// let guard = ArcRwLockUpgradableReadGuard::try_upgrade(guard).unwrap_err();
    /// drop(reader);
    /// assert!(ArcRwLockUpgradableReadGuard::try_upgrade(guard).is_ok());
    /// ```
    pub fn try_upgrade(this: Self) -> Result<ArcRwLockWriteGuard<T, P>, Self> {
        // SAFETY: the guard holds the upgradable read lock.
        if unsafe { this.held.raw().try_upgrade() } {
            Ok(Self::upgraded(this))
        } else {
            Err(this)
        }
    }

    fn upgraded(this: Self) -> ArcRwLockWriteGuard<T, P> {
        let (held, data, lock) = Self::into_parts(this);
        // SAFETY: the raw lock turned the upgradable read lock into the write lock.
        let held = unsafe { held.change::<Write>(|_| ()) };
        ArcRwLockWriteGuard { held, data: crate::guard::DataPtr(data), lock }
    }

    /// Turns this guard into an arc read guard, letting another upgradable reader in.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::rwlock::ArcRwLockUpgradableReadGuard;
    /// use turnstile::FairRwLock;
    ///
    /// let lock = Arc::new(FairRwLock::new(1));
    /// let reader = ArcRwLockUpgradableReadGuard::downgrade(lock.upgradable_read_arc());
    /// assert!(lock.try_upgradable_read().is_some());
    /// assert_eq!(*reader, 1);
    /// ```
    pub fn downgrade(this: Self) -> ArcRwLockReadGuard<T, P> {
        let (held, data, lock) = Self::into_parts(this);
        // SAFETY: `downgrade_upgradable` turns the upgradable read lock into a plain one.
        let held = unsafe { held.change::<Read>(|raw| raw.downgrade_upgradable()) };
        ArcRwLockReadGuard { held, data: crate::guard::DataPtr(data), lock }
    }
}
