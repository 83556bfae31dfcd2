//! The readers-writer locks' states behind lock_api's raw traits, one macro for the three.

use std::time::{Duration, Instant};

use crate::rwlock::raw::RawRwLock as Raw;
use crate::rwlock::ConstPolicy;
use crate::rwlock::{Fair, ReaderPref, WriterPref};

macro_rules! raw_rwlock {
    ($(#[$doc:meta])* $Raw:ident, $State:ty) => {
        $(#[$doc])*
        pub struct $Raw($State);

        impl core::fmt::Debug for $Raw {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($Raw)).field("locked", &self.0.is_locked()).finish()
            }
        }

        impl Default for $Raw {
            fn default() -> Self {
                $Raw(<$State as ConstPolicy>::INIT)
            }
        }

        // SAFETY: the state gives readers-writer exclusion (its `RawRwLock` contract); every
        // unlock is its own release, whose Release pairs with the next acquirer's Acquire.
        unsafe impl lock_api::RawRwLock for $Raw {
            #[allow(clippy::declare_interior_mutable_const)] // lock_api's design: a fresh lock per use
            const INIT: Self = $Raw(<$State as ConstPolicy>::INIT);
            // A lock is released by the thread that took it (the native guards are !Send too).
            type GuardMarker = lock_api::GuardNoSend;

            #[inline]
            fn lock_shared(&self) {
                self.0.read(None);
            }
            #[inline]
            fn try_lock_shared(&self) -> bool {
                self.0.try_read()
            }
            #[inline]
            unsafe fn unlock_shared(&self) {
                // SAFETY: lock_api calls this only while this thread holds a read lock, once.
                unsafe { self.0.unlock_read() }
            }
            #[inline]
            fn lock_exclusive(&self) {
                self.0.write(None);
            }
            #[inline]
            fn try_lock_exclusive(&self) -> bool {
                self.0.try_write()
            }
            #[inline]
            unsafe fn unlock_exclusive(&self) {
                // SAFETY: lock_api calls this only while this thread holds the write lock, once.
                unsafe { self.0.unlock_write() }
            }
            #[inline]
            fn is_locked(&self) -> bool {
                self.0.is_locked()
            }
            #[inline]
            fn is_locked_exclusive(&self) -> bool {
                self.0.is_locked_exclusive()
            }
        }

        // SAFETY: as above. Under every policy a fair unlock is the plain one: the fair lock
        // hands every release to the head of its line, the preference locks never hand off.
        unsafe impl lock_api::RawRwLockFair for $Raw {
            #[inline]
            unsafe fn unlock_shared_fair(&self) {
                // SAFETY: as `unlock_shared`.
                unsafe { self.0.unlock_read() }
            }
            #[inline]
            unsafe fn unlock_exclusive_fair(&self) {
                // SAFETY: as `unlock_exclusive`.
                unsafe { self.0.unlock_write() }
            }
        }

        // SAFETY: the state's downgrade turns the write lock into a read lock with no writer in
        // between, publishing the write with a Release.
        unsafe impl lock_api::RawRwLockDowngrade for $Raw {
            #[inline]
            unsafe fn downgrade(&self) {
                // SAFETY: lock_api calls this only while this thread holds the write lock.
                unsafe { self.0.downgrade() }
            }
        }

        // SAFETY: a timed-out attempt holds nothing; a successful one is the untimed one's hold.
        unsafe impl lock_api::RawRwLockTimed for $Raw {
            type Duration = Duration;
            type Instant = Instant;

            #[inline]
            fn try_lock_shared_for(&self, timeout: Duration) -> bool {
                self.0.read(crate::wait::deadline_after(timeout))
            }
            #[inline]
            fn try_lock_shared_until(&self, deadline: Instant) -> bool {
                self.0.read(Some(deadline))
            }
            #[inline]
            fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
                self.0.write(crate::wait::deadline_after(timeout))
            }
            #[inline]
            fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
                self.0.write(Some(deadline))
            }
        }

        // SAFETY: a recursive read is a read lock; it only enters in more states (beside readers
        // while writers wait).
        unsafe impl lock_api::RawRwLockRecursive for $Raw {
            #[inline]
            fn lock_shared_recursive(&self) {
                self.0.read_recursive(None);
            }
            #[inline]
            fn try_lock_shared_recursive(&self) -> bool {
                self.0.try_read_recursive()
            }
        }

        // SAFETY: as `RawRwLockTimed`.
        unsafe impl lock_api::RawRwLockRecursiveTimed for $Raw {
            #[inline]
            fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
                self.0.read_recursive(crate::wait::deadline_after(timeout))
            }
            #[inline]
            fn try_lock_shared_recursive_until(&self, deadline: Instant) -> bool {
                self.0.read_recursive(Some(deadline))
            }
        }

        // SAFETY: the upgradable read lock excludes writers and other upgradable readers; an
        // upgrade turns it into the write lock once the other readers have left (Acquire).
        unsafe impl lock_api::RawRwLockUpgrade for $Raw {
            #[inline]
            fn lock_upgradable(&self) {
                self.0.upgradable_read(None);
            }
            #[inline]
            fn try_lock_upgradable(&self) -> bool {
                self.0.try_upgradable_read()
            }
            #[inline]
            unsafe fn unlock_upgradable(&self) {
                // SAFETY: lock_api calls this only while this thread holds the upgradable lock.
                unsafe { self.0.unlock_upgradable() }
            }
            #[inline]
            unsafe fn upgrade(&self) {
                // SAFETY: as `unlock_upgradable`; without a deadline it returns upgraded.
                unsafe { self.0.upgrade(None) };
            }
            #[inline]
            unsafe fn try_upgrade(&self) -> bool {
                // SAFETY: as `unlock_upgradable`.
                unsafe { self.0.try_upgrade() }
            }
        }

        // SAFETY: as `RawRwLockFair`.
        unsafe impl lock_api::RawRwLockUpgradeFair for $Raw {
            #[inline]
            unsafe fn unlock_upgradable_fair(&self) {
                // SAFETY: as `unlock_upgradable`.
                unsafe { self.0.unlock_upgradable() }
            }
        }

        // SAFETY: both downgrades let no writer in between and publish with a Release.
        unsafe impl lock_api::RawRwLockUpgradeDowngrade for $Raw {
            #[inline]
            unsafe fn downgrade_upgradable(&self) {
                // SAFETY: lock_api calls this only while this thread holds the upgradable lock.
                unsafe { self.0.downgrade_upgradable() }
            }
            #[inline]
            unsafe fn downgrade_to_upgradable(&self) {
                // SAFETY: lock_api calls this only while this thread holds the write lock.
                unsafe { self.0.downgrade_to_upgradable() }
            }
        }

        // SAFETY: as `RawRwLockTimed` and `RawRwLockUpgrade`: an upgrade that times out leaves
        // the caller holding the upgradable lock, as lock_api expects.
        unsafe impl lock_api::RawRwLockUpgradeTimed for $Raw {
            #[inline]
            fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
                self.0.upgradable_read(crate::wait::deadline_after(timeout))
            }
            #[inline]
            fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
                self.0.upgradable_read(Some(deadline))
            }
            #[inline]
            unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
                // SAFETY: as `upgrade`.
                unsafe { self.0.upgrade(crate::wait::deadline_after(timeout)) }
            }
            #[inline]
            unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
                // SAFETY: as `upgrade`.
                unsafe { self.0.upgrade(Some(deadline)) }
            }
        }
    };
}

raw_rwlock! {
    /// The raw [`ReaderPrefRwLock`](crate::ReaderPrefRwLock) (no data), for
    /// `lock_api::RwLock<turnstile::RawReaderPrefRwLock, T>`: every lock_api readers-writer
    /// trait, upgradable, recursive and timed reads included.
    ///
    /// ```
    /// type RwLock<T> = lock_api::RwLock<turnstile::RawReaderPrefRwLock, T>;
    ///
    /// let lock = RwLock::new(1);
    /// let (a, b) = (lock.read(), lock.read_recursive());
    /// assert_eq!(*a + *b, 2);
    /// ```
    RawReaderPrefRwLock, ReaderPref
}

raw_rwlock! {
    /// The raw [`WriterPrefRwLock`](crate::WriterPrefRwLock) (no data), for
    /// `lock_api::RwLock<turnstile::RawWriterPrefRwLock, T>`.
    ///
    /// ```
    /// type RwLock<T> = lock_api::RwLock<turnstile::RawWriterPrefRwLock, T>;
    /// use lock_api::RwLockUpgradableReadGuard;
    ///
    /// let lock = RwLock::new(vec![1]);
    /// let seen = lock.upgradable_read();
    /// let mut writer = RwLockUpgradableReadGuard::upgrade(seen);
    /// writer.push(2);
    /// drop(writer);
    /// assert_eq!(*lock.read(), [1, 2]);
    /// ```
    RawWriterPrefRwLock, WriterPref
}

raw_rwlock! {
    /// The raw [`FairRwLock`](crate::FairRwLock) (no data), for
    /// `lock_api::RwLock<turnstile::RawFairRwLock, T>`.
    ///
    /// ```
    /// type RwLock<T> = lock_api::RwLock<turnstile::RawFairRwLock, T>;
    ///
    /// static TABLE: RwLock<Vec<u32>> =
    ///     RwLock::const_new(<turnstile::RawFairRwLock as lock_api::RawRwLock>::INIT, Vec::new());
    /// TABLE.write().push(7);
    /// assert_eq!(TABLE.read()[0], 7);
    /// ```
    RawFairRwLock, Fair
}
