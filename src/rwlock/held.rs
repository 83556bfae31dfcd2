//! A held readers-writer lock of one kind, released when it drops: what every guard of the
//! module is built on, so that each guard only adds where its data is.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use super::raw::RawRwLock;
use crate::backend::Backend;
use crate::self_deadlock::{self, Hold, Want};

/// The tracker a lock's data keeps, on the lock's backend.
pub(crate) type Tracker<P> = <<P as RawRwLock>::Backend as Backend>::Tracker;

/// What a thread can hold of a readers-writer lock: a read, the upgradable read, or the write.
pub(crate) trait Kind {
    /// How the data is open while held (a tracked shared or exclusive access under loom).
    type Access<B: Backend>;
    /// The kind, in debug builds' record of the locks a thread holds.
    const HOLD: Hold;
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
    const HOLD: Hold = Hold::Read;
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
    const HOLD: Hold = Hold::Upgradable;
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
    const HOLD: Hold = Hold::Write;
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
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) unsafe fn new(raw: &'a P, tracker: &'a Tracker<P>) -> Self {
        self_deadlock::acquired::<P::Backend>(word(raw), P::NAME, K::HOLD);
        // SAFETY: passed on from the caller.
        unsafe { Self::open(raw, tracker) }
    }

    /// As [`new`](Self::new), for a hold whose record debug builds already keep.
    ///
    /// # Safety
    /// As `new`.
    #[inline]
    unsafe fn open(raw: &'a P, tracker: &'a Tracker<P>) -> Self {
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
        // The record keeps where the lock was first taken.
        self_deadlock::rekind::<P::Backend>(word(raw), P::NAME, K::HOLD, L::HOLD);
        // SAFETY: by the caller's promise, we hold a lock of kind `L` now.
        unsafe { Held::open(raw, tracker) }
    }

    /// Before an upgrade of this hold: panics in debug builds if this thread also holds a plain
    /// read of the lock, which the upgrade would wait for forever (see `self_deadlock`).
    #[inline(always)]
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) fn check_upgrade(&self) {
        let raw = self.raw;
        self_deadlock::check::<P::Backend>(
            word(raw),
            P::NAME,
            "upgrade",
            Want::Upgrade,
            P::READS_WAIT_FOR_WRITERS,
            |_| raw.is_locked(),
        );
    }

    /// Releases the lock while `f` runs, then takes it back (also if `f` panics).
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        /// Takes the lock back and reopens the access when dropped.
        struct Relock<'g, 'a, P: RawRwLock, K: Kind>(
            &'g mut Held<'a, P, K>,
            Option<self_deadlock::Suspended>,
        );
        impl<P: RawRwLock, K: Kind> Drop for Relock<'_, '_, P, K> {
            fn drop(&mut self) {
                if P::Backend::model_failed() {
                    return;
                }
                K::lock(self.0.raw);
                if let Some(suspended) = self.1.take() {
                    self_deadlock::restore(suspended);
                }
                self.0.access = ManuallyDrop::new(K::open::<P::Backend>(self.0.tracker));
            }
        }
        // While the lock is let go this thread may take it again: it holds it no more.
        let suspended = self_deadlock::suspend::<P::Backend>(word(self.raw), P::NAME, K::HOLD);
        // SAFETY: the access ends here and is reopened by `Relock` before anything can drop it
        // again; it must end before the unlock (see `into_raw`).
        unsafe { ManuallyDrop::drop(&mut self.access) };
        // SAFETY: we hold the lock; `Relock` takes it back before the hold is usable again.
        unsafe { K::release(self.raw) };
        let _relock = Relock(self, Some(suspended));
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
        self_deadlock::released::<P::Backend>(word(self.raw), P::NAME, K::HOLD);
        // SAFETY: a `Held` is made only holding a lock of kind `K`, and this is its only release.
        unsafe { K::release(self.raw) };
    }
}

/// The address debug builds record a readers-writer lock under: its state's.
#[inline]
pub(crate) fn word<P: RawRwLock>(raw: &P) -> *const () {
    raw as *const P as *const ()
}

/// Deref (and DerefMut for the write kinds), `Debug`, `Display` and `Sync` for a guard of the
/// module with a field `data: NonNull<T>`, written once. `$lt` is the guard's lifetime, if it
/// has one; `$sync` the bounds on `T` that make `&guard` shareable.
macro_rules! guard_impls {
    ($Guard:ident [$($lt:lifetime)?], shared, $($sync:tt)+) => {
        impl<T: ?Sized, P: $crate::rwlock::Policy> core::ops::Deref for $Guard<$($lt,)? T, P> {
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
        impl<T: ?Sized, P: $crate::rwlock::Policy> core::ops::Deref for $Guard<$($lt,)? T, P> {
            type Target = T;
            #[inline]
            fn deref(&self) -> &T {
                // SAFETY: the guard holds the write lock, so nobody else reaches `data`.
                unsafe { self.data.as_ref() }
            }
        }
        impl<T: ?Sized, P: $crate::rwlock::Policy> core::ops::DerefMut for $Guard<$($lt,)? T, P> {
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
        unsafe impl<T: ?Sized + $($sync)+, P: $crate::rwlock::Policy> Sync for $Guard<$($lt,)? T, P> {}

        impl<T: ?Sized + core::fmt::Debug, P: $crate::rwlock::Policy> core::fmt::Debug for $Guard<$($lt,)? T, P> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + core::fmt::Display, P: $crate::rwlock::Policy> core::fmt::Display for $Guard<$($lt,)? T, P> {
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
