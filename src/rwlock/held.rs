//! A held readers-writer lock of one kind, released when it drops: what every guard of the
//! module is built on, so that each guard only adds where its data is.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use super::raw::RawRwLock;
use crate::backend::Backend;

/// The tracker a lock's data keeps, on the lock's backend.
pub(crate) type Tracker<P> = <<P as RawRwLock>::Backend as Backend>::Tracker;

/// What a thread can hold of a readers-writer lock: a read, the upgradable read, or the write.
pub(crate) trait Kind {
    /// How the data is open while held (a tracked shared or exclusive access under loom).
    type Access<B: Backend>;
    /// Opens the access.
    fn open<B: Backend>(tracker: &B::Tracker) -> Self::Access<B>;
    /// Takes the lock of this kind, waiting as long as it takes.
    fn lock<P: RawRwLock>(raw: &P);
    /// Releases the lock of this kind.
    ///
    /// # Safety
    /// The caller holds it, and gives it up here, once.
    unsafe fn release<P: RawRwLock>(raw: &P);
}

/// A read lock.
pub(crate) enum Read {}
/// The upgradable read lock.
pub(crate) enum Upgradable {}
/// The write lock.
pub(crate) enum Write {}

impl Kind for Read {
    type Access<B: Backend> = B::Shared;
    fn open<B: Backend>(tracker: &B::Tracker) -> B::Shared {
        B::shared(tracker)
    }
    fn lock<P: RawRwLock>(raw: &P) {
        raw.read(None);
    }
    unsafe fn release<P: RawRwLock>(raw: &P) {
        // SAFETY: passed on from the caller.
        unsafe { raw.unlock_read() }
    }
}

impl Kind for Upgradable {
    type Access<B: Backend> = B::Shared;
    fn open<B: Backend>(tracker: &B::Tracker) -> B::Shared {
        B::shared(tracker)
    }
    fn lock<P: RawRwLock>(raw: &P) {
        raw.upgradable_read(None);
    }
    unsafe fn release<P: RawRwLock>(raw: &P) {
        // SAFETY: passed on from the caller.
        unsafe { raw.unlock_upgradable() }
    }
}

impl Kind for Write {
    type Access<B: Backend> = B::Exclusive;
    fn open<B: Backend>(tracker: &B::Tracker) -> B::Exclusive {
        B::exclusive(tracker)
    }
    fn lock<P: RawRwLock>(raw: &P) {
        raw.write(None);
    }
    unsafe fn release<P: RawRwLock>(raw: &P) {
        // SAFETY: passed on from the caller.
        unsafe { raw.unlock_write() }
    }
}

/// A lock of kind `K` held on `raw`, with the data's access open; released on drop. `!Send`:
/// the thread that locked unlocks.
pub(crate) struct Held<'a, P: RawRwLock, K: Kind> {
    raw: &'a P,
    tracker: &'a Tracker<P>,
    access: ManuallyDrop<K::Access<P::Backend>>,
    _marker: PhantomData<(K, *const crate::guard::GuardStaysOnItsThread)>,
}

impl<'a, P: RawRwLock, K: Kind> Held<'a, P, K> {
    /// Takes over a lock of kind `K` the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds a lock of kind `K` on `raw` and hands its release over.
    #[inline]
    pub(crate) unsafe fn new(raw: &'a P, tracker: &'a Tracker<P>) -> Self {
        let access = ManuallyDrop::new(K::open::<P::Backend>(tracker));
        Held { raw, tracker, access, _marker: PhantomData }
    }

    /// The lock's state.
    #[inline]
    pub(crate) fn raw(&self) -> &'a P {
        self.raw
    }

    /// Ends the access and forgets the hold without releasing it: the caller takes the lock
    /// over (to change its kind, say).
    pub(crate) fn into_raw(self) -> (&'a P, &'a Tracker<P>) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the access ends exactly once, here; it must end
        // before the lock changes kind, or a model would see it overlap the next holder's.
        unsafe { ManuallyDrop::drop(&mut this.access) };
        (this.raw, this.tracker)
    }

    /// Turns this hold into one of kind `L` by `change`, which the caller's lock of kind `K`
    /// becomes a lock of kind `L`.
    ///
    /// # Safety
    /// `change` turns a held lock of kind `K` into a held lock of kind `L`.
    pub(crate) unsafe fn change<L: Kind>(self, change: impl FnOnce(&P)) -> Held<'a, P, L> {
        let (raw, tracker) = self.into_raw();
        change(raw);
        // SAFETY: by the caller's promise, we hold a lock of kind `L` now.
        unsafe { Held::new(raw, tracker) }
    }

    /// Releases the lock while `f` runs, then takes it back (also if `f` panics).
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        /// Takes the lock back and reopens the access when dropped.
        struct Relock<'g, 'a, P: RawRwLock, K: Kind>(&'g mut Held<'a, P, K>);
        impl<P: RawRwLock, K: Kind> Drop for Relock<'_, '_, P, K> {
            fn drop(&mut self) {
                if P::Backend::model_failed() {
                    return;
                }
                K::lock(self.0.raw);
                self.0.access = ManuallyDrop::new(K::open::<P::Backend>(self.0.tracker));
            }
        }
        // SAFETY: the access ends here and is reopened by `Relock` before anything can drop it
        // again; it must end before the unlock (see `into_raw`).
        unsafe { ManuallyDrop::drop(&mut self.access) };
        // SAFETY: we hold the lock; `Relock` takes it back before the hold is usable again.
        unsafe { K::release(self.raw) };
        let _relock = Relock(self);
        f()
    }
}

impl<P: RawRwLock, K: Kind> Drop for Held<'_, P, K> {
    #[inline]
    fn drop(&mut self) {
        if P::Backend::model_failed() {
            return;
        }
        // SAFETY: dropped exactly once, here; it must end before the unlock (see `into_raw`).
        unsafe { ManuallyDrop::drop(&mut self.access) };
        // SAFETY: a `Held` is made only holding a lock of kind `K`, and this is its only release.
        unsafe { K::release(self.raw) };
    }
}

/// Deref (and DerefMut for the write kinds), `Debug`, `Display` and `Sync` for a guard of the
/// module with a field `data: NonNull<T>`, written once. `$lt` is the guard's lifetime, if it
/// has one; `$sync` the bounds on `T` that make `&guard` shareable.
macro_rules! guard_impls {
    ($Guard:ident [$($lt:lifetime)?], shared, $($sync:tt)+) => {
        impl<T: ?Sized, P: $crate::rwlock::raw::RawRwLock> core::ops::Deref for $Guard<$($lt,)? T, P> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                // SAFETY: the guard holds a lock that keeps writers out, so `data` (a place in
                // the lock's data) may be read.
                unsafe { self.data.as_ref() }
            }
        }
        guard_impls!(@fmt $Guard [$($lt)?], $($sync)+);
    };
    ($Guard:ident [$($lt:lifetime)?], exclusive, $($sync:tt)+) => {
        impl<T: ?Sized, P: $crate::rwlock::raw::RawRwLock> core::ops::Deref for $Guard<$($lt,)? T, P> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                // SAFETY: the guard holds the write lock, so nobody else reaches `data`.
                unsafe { self.data.as_ref() }
            }
        }
        impl<T: ?Sized, P: $crate::rwlock::raw::RawRwLock> core::ops::DerefMut for $Guard<$($lt,)? T, P> {
            #[inline]
            fn deref_mut(&mut self) -> &mut T {
                // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through it.
                unsafe { self.data.as_mut() }
            }
        }
        guard_impls!(@fmt $Guard [$($lt)?], $($sync)+);
    };
    (@fmt $Guard:ident [$($lt:lifetime)?], $($sync:tt)+) => {
        // SAFETY: `&Guard` gives out `&T` (Deref), sound to share across threads when `T: Sync`,
        // and an arc guard's `&Arc` of the lock too, which needs the lock to be `Sync` (`T: Send
        // + Sync`); the hold is touched only by `&mut self` and drop.
        unsafe impl<T: ?Sized + $($sync)+, P: $crate::rwlock::raw::RawRwLock> Sync for $Guard<$($lt,)? T, P> {}

        impl<T: ?Sized + core::fmt::Debug, P: $crate::rwlock::raw::RawRwLock> core::fmt::Debug for $Guard<$($lt,)? T, P> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + core::fmt::Display, P: $crate::rwlock::raw::RawRwLock> core::fmt::Display for $Guard<$($lt,)? T, P> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&**self, f)
            }
        }
    };
}
pub(crate) use guard_impls;

/// `map` and `try_map` for a guard of the module (`Self`, with fields `held` and `data`) whose
/// mapped guard is `$Mapped`, written once for the four guards that map; `mut` for the write
/// guards. The docs of each method come with the call.
macro_rules! map_methods {
    ($Mapped:ident, [$($mut_:tt)?], $(#[$map:meta])* map, $(#[$try_map:meta])* try_map) => {
        $(#[$map])*
        pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&$($mut_)? T) -> &$($mut_)? U) -> $Mapped<'a, U, P> {
            match Self::try_map(this, |data| Some(f(data))) {
                Ok(mapped) => mapped,
                Err(_) => unreachable!("the closure always finds its part"),
            }
        }

        $(#[$try_map])*
        pub fn try_map<U: ?Sized>(
            #[allow(unused_mut)] mut this: Self,
            f: impl FnOnce(&$($mut_)? T) -> Option<&$($mut_)? U>,
        ) -> Result<$Mapped<'a, U, P>, Self> {
            // If `f` panics, `this` drops and releases the lock.
            match f(&$($mut_)? *this).map(core::ptr::NonNull::from) {
                Some(data) => Ok($Mapped::from_parts(this.held, data)),
                None => Err(this),
            }
        }
    };
}
pub(crate) use map_methods;
