//! The protected data and the guard that opens it, written once for every exclusive lock.
//!
//! Every lock keeps its data in a [`LockData`]: the value in an `UnsafeCell`, beside the
//! backend's tracker (nothing for the real machine; under loom, a cell that lets loom see two
//! guards overlap). `LockData` carries the one `Send`/`Sync` argument all the locks share, so the
//! lock types themselves need no `unsafe impl`.
//!
//! A [`LockGuard`] is proof that its holder owns the lock: it dereferences to the data, and
//! dropping it — at the end of the scope, or while a panic unwinds through the critical section —
//! releases the lock. There is no poisoning: a panic releases the lock like any other exit, and
//! the data is left as the panicking code left it (the `parking_lot` choice).
//!
//! The guard is `!Send`: a lock taken on one thread is released on the same thread, which is what
//! the `Peterson` lock's per-party flag and the locks' loom tracking assume. It is `Sync` when the
//! data is, since `&guard` only gives out `&T`.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use core::cell::UnsafeCell;

use crate::backend::{Backend, NoTracker, Real};

pub(crate) mod raw {
    use super::LockData;
    use crate::backend::Backend;

    /// What a guard needs from its lock. Public in a private module: nameable only here.
    ///
    /// # Safety
    /// While a thread holds the lock no other thread can acquire it, and `unlock` releases it
    /// such that the next acquirer's reads of the data happen after every access made through
    /// the guard (a Release that its Acquire reads).
    pub unsafe trait RawLock {
        /// The protected data.
        type Target: ?Sized;
        /// The backend that tracks accesses to the data.
        type Backend: Backend;
        /// The data and its tracker.
        fn data(&self) -> &LockData<Self::Target, Self::Backend>;
        /// Releases the lock.
        ///
        /// # Safety
        /// The caller holds the lock, and releases it exactly once.
        unsafe fn unlock(&self);
        /// Takes the lock again for a guard that released it for a while (a condition
        /// variable's wait), blocking until it is free.
        fn relock(&self);
    }
}

/// The data a lock protects, and the backend's tracker of accesses to it.
pub struct LockData<T: ?Sized, B: Backend> {
    tracker: B::Tracker,
    value: UnsafeCell<T>,
}

// `Send` is automatic (it moves the `T`). For `Sync`:
// SAFETY: this crate's locks reach the value only through a `LockGuard` (one holder at a time, by
// the `RawLock` contract) or `&mut self`, so sharing hands exclusive access from thread to thread:
// that needs `T: Send`, not `T: Sync`, as for std's `Mutex`.
unsafe impl<T: ?Sized + Send, B: Backend> Sync for LockData<T, B> {}

impl<T> LockData<T, Real> {
    /// The data of a lock on the real machine; `const`, for the locks' `const fn new`.
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        LockData { tracker: NoTracker, value: UnsafeCell::new(value) }
    }
}

impl<T, B: Backend> LockData<T, B> {
    /// The data of a lock over any backend.
    pub(crate) fn with_backend(value: T) -> Self {
        LockData { tracker: B::tracker(), value: UnsafeCell::new(value) }
    }

    #[inline]
    pub(crate) fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized, B: Backend> LockData<T, B> {
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

use raw::RawLock;

/// An RAII guard: exclusive access to a lock's data until it is dropped.
///
/// Each lock names it with an alias (`MutexGuard`, `SpinLockGuard`, `PetersonGuard`).
///
/// ```
/// use turnstile::Mutex;
///
/// let lock = Mutex::new(vec![1]);
/// {
///     let mut guard = lock.lock();
///     guard.push(2); // DerefMut to the Vec
/// } // dropped here: unlocked
/// assert_eq!(*lock.lock(), [1, 2]);
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct LockGuard<'a, L: RawLock + ?Sized> {
    lock: &'a L,
    access: ManuallyDrop<<L::Backend as Backend>::Exclusive>,
    // A raw pointer is !Send; see the module docs.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&LockGuard` across threads shares only `&L::Target` (Deref), which is sound
// exactly when `L::Target: Sync`; the guard's own fields are only touched by `&mut self`/drop.
unsafe impl<L: RawLock + Sync + ?Sized> Sync for LockGuard<'_, L> where L::Target: Sync {}

impl<'a, L: RawLock + ?Sized> LockGuard<'a, L> {
    /// Wraps a lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds `lock`, and hands its release over to the guard.
    #[inline]
    pub(crate) unsafe fn new(lock: &'a L) -> Self {
        let access = ManuallyDrop::new(L::Backend::exclusive(&lock.data().tracker));
        LockGuard { lock, access, _not_send: PhantomData }
    }
}

impl<'a, L: RawLock + ?Sized> LockGuard<'a, L> {
    /// The lock this guard holds.
    #[inline]
    pub(crate) fn raw(this: &Self) -> &'a L {
        this.lock
    }

    /// Releases the lock, runs `during` with it released, then takes it back with
    /// [`RawLock::relock`]: also if `during` panics, so the guard always drops holding the lock.
    pub(crate) fn unlocked_with<R>(this: &mut Self, during: impl FnOnce(&'a L) -> R) -> R {
        /// Takes the lock back and restarts the access when dropped.
        struct Relock<'g, 'a, L: RawLock + ?Sized>(&'g mut LockGuard<'a, L>);
        impl<L: RawLock + ?Sized> Drop for Relock<'_, '_, L> {
            fn drop(&mut self) {
                if L::Backend::model_failed() {
                    return;
                }
                let guard = &mut *self.0;
                guard.lock.relock();
                guard.access = ManuallyDrop::new(L::Backend::exclusive(&guard.lock.data().tracker));
            }
        }
        // SAFETY: the access ends here and is replaced by `Relock` before anything can drop it
        // again; it must end before the unlock, or a model would see it overlap the next holder's.
        unsafe { ManuallyDrop::drop(&mut this.access) };
        // SAFETY: the guard holds the lock; `Relock` takes it back before the guard is usable.
        unsafe { this.lock.unlock() };
        let relock = Relock(this);
        during(relock.0.lock)
    }
}

impl<L: RawLock + ?Sized> Deref for LockGuard<'_, L> {
    type Target = L::Target;
    #[inline]
    fn deref(&self) -> &L::Target {
        // SAFETY: the guard proves the lock is held, so no other reference to the data exists.
        unsafe { &*self.lock.data().value.get() }
    }
}

impl<L: RawLock + ?Sized> DerefMut for LockGuard<'_, L> {
    #[inline]
    fn deref_mut(&mut self) -> &mut L::Target {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.data().value.get() }
    }
}

impl<L: RawLock + ?Sized> Drop for LockGuard<'_, L> {
    #[inline]
    fn drop(&mut self) {
        if L::Backend::model_failed() {
            return;
        }
        // SAFETY: `access` is dropped exactly once, here; it must end before the unlock, or a
        // model would see our access overlap the next holder's.
        unsafe { ManuallyDrop::drop(&mut self.access) };
        // SAFETY: the guard was created holding the lock (see `new`) and this is its only release.
        unsafe { self.lock.unlock() };
    }
}

impl<L: RawLock + ?Sized> fmt::Debug for LockGuard<'_, L>
where
    L::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<L: RawLock + ?Sized> fmt::Display for LockGuard<'_, L>
where
    L::Target: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The `Debug` of a lock: its data if it can take the lock without waiting, `<locked>` otherwise.
pub(crate) fn debug_lock<T: fmt::Debug + ?Sized>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    data: Option<&T>,
) -> fmt::Result {
    let mut d = f.debug_struct(name);
    match data {
        Some(data) => d.field("data", &data),
        None => d.field("data", &format_args!("<locked>")),
    };
    d.finish_non_exhaustive()
}

/// The shared parts of a lock over data in an `UnsafeCell`: `get_mut`, `into_inner`, `Default`,
/// `From<T>` and a non-blocking `Debug`, written once for every lock type.
macro_rules! data_lock_impls {
    ($Lock:ident, $try_lock:ident) => {
        impl<T: ?Sized, B: $crate::backend::Backend> $Lock<T, B> {
            /// A mutable reference to the data. No locking is needed: `&mut self` proves
            /// nobody else can hold the lock.
            ///
            /// ```
            #[doc = concat!("let mut lock = turnstile::", stringify!($Lock), "::new(1);")]
            /// *lock.get_mut() += 1;
            /// assert_eq!(lock.into_inner(), 2);
            /// ```
            #[inline]
            pub fn get_mut(&mut self) -> &mut T {
                self.data.get_mut()
            }
        }

        impl<T, B: $crate::backend::Backend> $Lock<T, B> {
            /// Consumes the lock and returns the data.
            ///
            /// ```
            #[doc = concat!("let lock = turnstile::", stringify!($Lock), "::new(String::from(\"hi\"));")]
            /// assert_eq!(lock.into_inner(), "hi");
            /// ```
            #[inline]
            pub fn into_inner(self) -> T {
                self.data.into_inner()
            }
        }

        // For the default backend only, like `HashMap`'s `From` for `RandomState`: a defaulted
        // type parameter does not steer inference, so a generic impl would make `Mutex::from(1)`
        // ambiguous.
        impl<T: Default> Default for $Lock<T> {
            /// A lock around `T::default()`.
            fn default() -> Self {
                Self::new(T::default())
            }
        }

        impl<T> From<T> for $Lock<T> {
            /// A lock around `value`.
            fn from(value: T) -> Self {
                Self::new(value)
            }
        }

        impl<T: ?Sized + core::fmt::Debug, B: $crate::backend::Backend> core::fmt::Debug for $Lock<T, B> {
            /// Shows the data if the lock is free, `<locked>` otherwise; never blocks.
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let guard = self.$try_lock();
                $crate::guard::debug_lock(f, stringify!($Lock), guard.as_deref())
            }
        }
    };
}
pub(crate) use data_lock_impls;

#[cfg(test)]
mod tests {
    use crate::Mutex;

    #[test]
    fn debug_shows_locked_without_blocking() {
        let lock = Mutex::new(5);
        assert_eq!(format!("{lock:?}"), "Mutex { data: 5, .. }");
        let guard = lock.lock();
        assert_eq!(format!("{lock:?}"), "Mutex { data: <locked>, .. }");
        assert_eq!(format!("{guard:?} {guard}"), "5 5");
    }
}
