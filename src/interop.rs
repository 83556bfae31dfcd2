//! `lock_api` interop (the `lock_api` feature): the crate's raw locks behind lock_api's traits.
//!
//! [`RawMutex`] is a [`Mutex<()>`](crate::Mutex) and implements `lock_api::RawMutex` and
//! `lock_api::RawMutexTimed` and `lock_api::RawMutexFair` (so `MutexGuard::unlock_fair` and
//! `bump` work); [`RawSpinLock`] is a [`SpinLock<()>`](crate::SpinLock) and
//! implements `lock_api::RawMutex`. So `lock_api::Mutex<turnstile::RawMutex, T>` is a mutex with
//! this crate's algorithm and lock_api's guard API, and any crate written against lock_api can
//! take turnstile's locks. The readers-writer locks' states are [`RawReaderPrefRwLock`],
//! [`RawWriterPrefRwLock`] and [`RawFairRwLock`], each implementing every lock_api
//! readers-writer trait (upgradable, recursive, timed, downgrade, fair), so that
//! `lock_api::RwLock<turnstile::RawFairRwLock, T>` has parking_lot's whole `RwLock` API. The native types stay the main API: they keep the loom backend
//! parameter that the models need.
//!
//! ```
//! type Mutex<T> = lock_api::Mutex<turnstile::RawMutex, T>;
//!
//! static HITS: Mutex<u32> = Mutex::const_new(<turnstile::RawMutex as lock_api::RawMutex>::INIT, 0);
//! *HITS.lock() += 1;
//! assert_eq!(*HITS.lock(), 1);
//! ```

mod rwlock;

use std::time::{Duration, Instant};

use crate::{Mutex, SpinLock};

pub use rwlock::{RawFairRwLock, RawReaderPrefRwLock, RawWriterPrefRwLock};

/// The raw [`Mutex`] (no data), for `lock_api::Mutex<turnstile::RawMutex, T>`.
///
/// ```
/// use lock_api::RawMutex as _;
///
/// let raw = turnstile::RawMutex::INIT;
/// raw.lock();
/// assert!(!raw.try_lock());
/// // SAFETY: locked just above, on this thread.
/// unsafe { raw.unlock() };
/// ```
#[derive(Debug, Default)]
pub struct RawMutex(Mutex<()>);

/// The raw [`SpinLock`] (no data), for `lock_api::Mutex<turnstile::RawSpinLock, T>`.
///
/// ```
/// type SpinLock<T> = lock_api::Mutex<turnstile::RawSpinLock, T>;
///
/// let lock = SpinLock::new(vec![1]);
/// lock.lock().push(2);
/// assert_eq!(*lock.lock(), [1, 2]);
/// ```
#[derive(Debug, Default)]
pub struct RawSpinLock(SpinLock<()>);

/// `lock_api::RawMutex` for a native lock of `()`, whose guard is only a reference: taking the
/// lock and forgetting the guard leaves it held, for lock_api's guard to release.
macro_rules! raw_mutex {
    ($Raw:ident, $Native:ident) => {
        // SAFETY: the native lock gives mutual exclusion; `unlock` is its own release, whose
        // Release pairs with the next acquirer's Acquire (the `RawLock` contract).
        unsafe impl lock_api::RawMutex for $Raw {
            #[allow(clippy::declare_interior_mutable_const)] // lock_api's design: a fresh lock per use
            const INIT: Self = $Raw($Native::new(()));
            // A lock is released by the thread that took it (the native guards are !Send too).
            type GuardMarker = lock_api::GuardNoSend;

            #[inline]
            #[track_caller]
            fn lock(&self) {
                core::mem::forget(self.0.lock());
            }
            #[inline]
            fn try_lock(&self) -> bool {
                self.0.try_lock().map(core::mem::forget).is_some()
            }
            #[inline]
            unsafe fn unlock(&self) {
                // SAFETY: lock_api calls this only while this thread holds the lock, once, and
                // the guard `lock` took was forgotten. (`force_unlock`, not the raw unlock: it
                // also tells debug builds' record of held locks, which `lock` wrote.)
                unsafe { self.0.force_unlock() }
            }
            #[inline]
            fn is_locked(&self) -> bool {
                self.0.is_locked()
            }
        }
    };
}

raw_mutex!(RawMutex, Mutex);
raw_mutex!(RawSpinLock, SpinLock);

// SAFETY: as for `lock_api::RawMutex` above; a timed-out attempt holds nothing.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.0.try_lock_for(timeout).map(core::mem::forget).is_some()
    }
    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        self.0.try_lock_until(deadline).map(core::mem::forget).is_some()
    }
}

// SAFETY: as for `lock_api::RawMutex` above; a fair unlock releases the lock exactly as a plain
// one does, handing it to a sleeper (with the same Release) instead of leaving it free.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        crate::guard::record_release(&self.0);
        // SAFETY: lock_api calls this only while this thread holds the lock, once.
        unsafe { self.0.unlock_with(true) }
    }
}
