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
use core::ptr::NonNull;
use std::sync::Arc;

use core::cell::UnsafeCell;

use crate::backend::{Backend, NoTracker};
use crate::self_deadlock::{self, Hold};

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
        /// Releases the lock and, if a thread waits for it, hands it straight to that thread.
        /// A lock with no such release releases plainly.
        ///
        /// # Safety
        /// As for [`unlock`](Self::unlock).
        unsafe fn unlock_fair(&self) {
            // SAFETY: the caller's contract is `unlock`'s.
            unsafe { self.unlock() }
        }
        /// Takes the lock again for a guard that released it for a while (a condition
        /// variable's wait), blocking until it is free.
        fn relock(&self);
        /// The name under which debug builds record this lock as held by a thread, to catch a
        /// relock by the same thread (see `self_deadlock`); `None`: not recorded. A recorded
        /// lock's address is that of its lock word (`#[repr(C)]`, the word first).
        const RECORDED_AS: Option<&'static str> = None;
    }

    /// A lock whose [`relock`](RawLock::relock) has nothing to report, so that the generic
    /// `LockGuard::unlocked` may hide it. Not the robust mutex: taking its lock back may take it
    /// from a dead holder, which its own `unlocked` reports.
    pub trait PlainRelock: RawLock {}
}

impl<T: ?Sized, B: Backend> raw::PlainRelock for crate::Mutex<T, B> {}
impl<T: ?Sized, B: Backend> raw::PlainRelock for crate::SpinLock<T, B> {}
impl<T: ?Sized, B: Backend> raw::PlainRelock for crate::PetersonHandle<T, B> {}

/// The data a lock protects, and the backend's tracker of accesses to it.
#[repr(C)]
pub struct LockData<T: ?Sized, B: Backend> {
    tracker: B::Tracker,
    value: UnsafeCell<T>,
}

// `Send` is automatic (it moves the `T`). For `Sync`:
// SAFETY: this crate's locks reach the value only through a `LockGuard` (one holder at a time, by
// the `RawLock` contract) or `&mut self`, so sharing hands exclusive access from thread to thread:
// that needs `T: Send`, not `T: Sync`, as for std's `Mutex`.
unsafe impl<T: ?Sized + Send, B: Backend> Sync for LockData<T, B> {}

impl<T, B: Backend<Tracker = NoTracker>> LockData<T, B> {
    /// The data of a lock over a backend with nothing to track (`Real`, `ProcessShared`);
    /// `const`, for the locks' `const fn new`.
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

    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.value.get()
    }

    /// The tracker that guards register their accesses with.
    #[inline]
    pub(crate) fn tracker(&self) -> &B::Tracker {
        &self.tracker
    }
}

use raw::RawLock;

/// The marker that makes a guard `!Send`: a lock taken on one thread is released on that thread
/// (see the module docs). Guards hold a `PhantomData<*const GuardStaysOnItsThread>`, so that a
/// guard moved to another thread fails to build with an error that says why:
/// "`*const GuardStaysOnItsThread` cannot be sent between threads safely".
pub(crate) struct GuardStaysOnItsThread;

/// The `!Send` field of a guard (not `Sync` either; the guards say when they are).
pub(crate) type StaysOnItsThread = PhantomData<*const GuardStaysOnItsThread>;

/// A guard's pointer to the data it opens. A `NonNull` would make the guard `!Send` too, and the
/// compiler would name it rather than [`GuardStaysOnItsThread`] when a guard is sent: so this
/// wrapper is `Send`, and the marker alone keeps the guard on its thread.
pub(crate) struct DataPtr<T: ?Sized>(pub(crate) NonNull<T>);

// SAFETY: a `DataPtr` is only ever a field of a guard, which its `StaysOnItsThread` marker keeps
// `!Send`; sending the pointer alone gives no access (every dereference is the guard's, under
// the lock it holds).
unsafe impl<T: ?Sized> Send for DataPtr<T> {}

impl<T: ?Sized> Deref for DataPtr<T> {
    type Target = NonNull<T>;
    #[inline]
    fn deref(&self) -> &NonNull<T> {
        &self.0
    }
}

impl<T: ?Sized> DerefMut for DataPtr<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut NonNull<T> {
        &mut self.0
    }
}

/// An RAII guard: exclusive access to a lock's data until it is dropped.
///
/// Each lock names it with an alias (`MutexGuard`, `FairMutexGuard`, `SpinLockGuard`,
/// `PetersonGuard`), which is the name to use. `L` is the lock itself; its bound, `RawLock`, is
/// the interface between a lock and its guard (the data, the release, the relock after a
/// condition variable's wait), private to the crate and so sealed: every lock of this crate has
/// it, and nothing else can.
///
/// A guard cannot move to another thread (the thread that locked unlocks):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<turnstile::MutexGuard<'static, u8>>();
/// ```
///
/// It can be shared by reference exactly when the data can, as std's guard (a `Cell` cannot):
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<turnstile::MutexGuard<'static, std::cell::Cell<u8>>>();
/// ```
///
/// ```
/// fn assert_sync<T: Sync>() {}
/// // Sync data that may not move between threads: the guard is still Sync, as in std.
/// assert_sync::<turnstile::MutexGuard<'static, std::sync::MutexGuard<'static, u8>>>();
/// ```
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
    _not_send: StaysOnItsThread,
}

// SAFETY: sharing `&LockGuard` across threads shares only `&L::Target` (Deref), which is sound
// exactly when `L::Target: Sync`, as for std's guard; the lock itself is not reachable through
// `&LockGuard` outside this crate, and the guard's fields are only touched by `&mut self`/drop.
unsafe impl<L: RawLock + ?Sized> Sync for LockGuard<'_, L> where L::Target: Sync {}

impl<'a, L: RawLock + ?Sized> LockGuard<'a, L> {
    /// Wraps a lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds `lock`, and hands its release over to the guard.
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub(crate) unsafe fn new(lock: &'a L) -> Self {
        if let Some(name) = L::RECORDED_AS {
            self_deadlock::acquired::<L::Backend>(word(lock), name, Hold::Exclusive);
        }
        let access = ManuallyDrop::new(L::Backend::exclusive(&lock.data().tracker));
        LockGuard { lock, access, _not_send: PhantomData }
    }
}

/// The address of a recorded lock's word (see [`RawLock::RECORDED_AS`]).
#[inline]
fn word<L: RawLock + ?Sized>(lock: &L) -> *const () {
    lock as *const L as *const ()
}

/// Tells debug builds' record of held locks that this thread has let go of `lock` (see
/// `self_deadlock`); every release of a guard, and `force_unlock`, calls it.
#[inline]
pub(crate) fn record_release<L: RawLock + ?Sized>(lock: &L) {
    if let Some(name) = L::RECORDED_AS {
        self_deadlock::released::<L::Backend>(word(lock), name, Hold::Exclusive);
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
        Self::unlocked_then(this, false, during)
    }

    /// As [`unlocked_with`](Self::unlocked_with), releasing with
    /// [`RawLock::unlock_fair`] when `fair`.
    pub(crate) fn unlocked_then<R>(this: &mut Self, fair: bool, during: impl FnOnce(&'a L) -> R) -> R {
        /// Takes the lock back and restarts the access when dropped.
        struct Relock<'g, 'a, L: RawLock + ?Sized>(
            &'g mut LockGuard<'a, L>,
            Option<self_deadlock::Suspended>,
        );
        impl<L: RawLock + ?Sized> Drop for Relock<'_, '_, L> {
            fn drop(&mut self) {
                if L::Backend::model_failed() {
                    return;
                }
                let guard = &mut *self.0;
                guard.lock.relock();
                if let Some(suspended) = self.1.take() {
                    self_deadlock::restore(suspended);
                }
                guard.access = ManuallyDrop::new(L::Backend::exclusive(&guard.lock.data().tracker));
            }
        }
        // While the lock is let go this thread may lock it again: it holds it no more.
        let suspended = L::RECORDED_AS
            .map(|name| self_deadlock::suspend::<L::Backend>(word(this.lock), name, Hold::Exclusive));
        // SAFETY: the access ends here and is replaced by `Relock` before anything can drop it
        // again; it must end before the unlock, or a model would see it overlap the next holder's.
        unsafe { ManuallyDrop::drop(&mut this.access) };
        // SAFETY: the guard holds the lock; `Relock` takes it back before the guard is usable.
        unsafe {
            if fair {
                this.lock.unlock_fair();
            } else {
                this.lock.unlock();
            }
        }
        let relock = Relock(this, suspended);
        during(relock.0.lock)
    }
}

impl<'a, L: raw::PlainRelock + ?Sized> LockGuard<'a, L> {
    /// Releases the lock while `f` runs, then takes it back before returning (also if `f`
    /// panics): for a slow step that need not hold the lock, without giving up the guard.
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(1);
    /// let mut guard = lock.lock();
    /// MutexGuard::unlocked(&mut guard, || {
    ///     assert!(!lock.is_locked()); // free while the closure runs
    ///     *lock.lock() += 1;
    /// });
    /// assert_eq!(*guard, 2); // held again
    /// ```
    ///
    /// A [`RobustMutexGuard`](crate::shm::RobustMutexGuard) has its own `unlocked`, which
    /// reports a holder that died while the lock was let go.
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        Self::unlocked_with(this, |_| f())
    }
}

impl<'a, L: RawLock + ?Sized> LockGuard<'a, L> {
    /// Forgets the guard and returns the data for the rest of the lock's life: the lock stays
    /// locked (until [`force_unlock`](crate::Mutex::force_unlock)).
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// static CONFIG: Mutex<u32> = Mutex::new(0);
    /// let forever: &'static mut u32 = MutexGuard::leak(CONFIG.lock());
    /// *forever = 7;
    /// assert!(CONFIG.try_lock().is_none());
    /// ```
    pub fn leak(this: Self) -> &'a mut L::Target {
        let this = ManuallyDrop::new(this);
        // SAFETY: the lock stays held for `'a` (the guard is never dropped, so never unlocks),
        // which makes this the only reference to the data for that long.
        unsafe { &mut *this.lock.data().value.get() }
    }

    /// A guard of one part of the data, made by `f` from the whole; the lock stays held until
    /// the new guard drops. If `f` panics, the lock is released.
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new((String::from("name"), 1));
    /// let mut count = MutexGuard::map(lock.lock(), |pair| &mut pair.1);
    /// *count += 1;
    /// assert!(lock.try_lock().is_none()); // still held through `count`
    /// drop(count);
    /// assert_eq!(lock.lock().1, 2);
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut L::Target) -> &mut U) -> MappedLockGuard<'a, L, U> {
        match Self::try_map(this, |data| Some(f(data))) {
            Ok(mapped) => mapped,
            Err(_) => unreachable!("the closure always finds its part"),
        }
    }

    /// As [`map`](Self::map), when `f` may find nothing to guard: then the original guard comes
    /// back, still holding the lock.
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(vec![1, 2]);
    /// let guard = lock.lock();
    /// let guard = MutexGuard::try_map(guard, |v| v.get_mut(5)).unwrap_err(); // no element 5
    /// let first = MutexGuard::try_map(guard, |v| v.first_mut()).unwrap();
    /// assert_eq!(*first, 1);
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut L::Target) -> Option<&mut U>,
    ) -> Result<MappedLockGuard<'a, L, U>, Self> {
        // SAFETY: the guard holds the lock; if `f` panics, `this` drops and unlocks.
        match f(unsafe { &mut *this.lock.data().value.get() }).map(NonNull::from) {
            Some(data) => {
                let (lock, access) = Self::into_parts(this);
                Ok(MappedLockGuard { lock, data: DataPtr(data), access, _marker: PhantomData })
            }
            None => Err(this),
        }
    }

    /// Takes the guard apart without unlocking: the caller takes over the release.
    pub(crate) fn into_parts(this: Self) -> (&'a L, ManuallyDrop<<L::Backend as Backend>::Exclusive>) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped, so its access is moved out exactly once.
        let access = unsafe { ManuallyDrop::take(&mut this.access) };
        (this.lock, ManuallyDrop::new(access))
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
        record_release(self.lock);
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

/// A guard of part of a lock's data, made by [`LockGuard::map`]; the lock is held until it drops.
/// `L` is the lock, as for [`LockGuard`] (its bound `RawLock` is sealed; see there).
///
/// `!Send`, and `Sync` when `U` is, like [`LockGuard`].
///
/// ```
/// use turnstile::{MappedMutexGuard, Mutex, MutexGuard};
///
/// let lock = Mutex::new([0u8; 4]);
/// let mut last: MappedMutexGuard<'_, [u8; 4], u8> = MutexGuard::map(lock.lock(), |a| &mut a[3]);
/// *last = 9;
/// drop(last);
/// assert_eq!(*lock.lock(), [0, 0, 0, 9]);
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct MappedLockGuard<'a, L: RawLock + ?Sized, U: ?Sized> {
    lock: &'a L,
    data: DataPtr<U>,
    access: ManuallyDrop<<L::Backend as Backend>::Exclusive>,
    // `&mut U` for variance and lifetime; `!Send` as `LockGuard`.
    _marker: PhantomData<(&'a mut U, *const GuardStaysOnItsThread)>,
}

// SAFETY: `&MappedLockGuard` gives out only `&U` (Deref), sound to share exactly when `U: Sync`.
unsafe impl<L: RawLock + ?Sized, U: ?Sized + Sync> Sync for MappedLockGuard<'_, L, U> {}

impl<'a, L: RawLock + ?Sized, U: ?Sized> MappedLockGuard<'a, L, U> {
    /// Maps again, to a part of this part.
    ///
    /// ```
    /// use turnstile::{MappedLockGuard, Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(((1, 2), 3));
    /// let inner = MutexGuard::map(lock.lock(), |t| &mut t.0);
    /// let second = MappedLockGuard::map(inner, |pair| &mut pair.1);
    /// assert_eq!(*second, 2);
    /// ```
    pub fn map<V: ?Sized>(this: Self, f: impl FnOnce(&mut U) -> &mut V) -> MappedLockGuard<'a, L, V> {
        match Self::try_map(this, |part| Some(f(part))) {
            Ok(mapped) => mapped,
            Err(_) => unreachable!("the closure always finds its part"),
        }
    }

    /// As [`map`](Self::map), giving this guard back if `f` finds nothing.
    ///
    /// ```
    /// use turnstile::{MappedLockGuard, Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new((vec![1], 0));
    /// let list = MutexGuard::map(lock.lock(), |t| &mut t.0);
    /// let list = MappedLockGuard::try_map(list, |l| l.get_mut(1)).unwrap_err();
    /// assert_eq!(*list, [1]);
    /// ```
    pub fn try_map<V: ?Sized>(
        this: Self,
        f: impl FnOnce(&mut U) -> Option<&mut V>,
    ) -> Result<MappedLockGuard<'a, L, V>, Self> {
        // SAFETY: the guard holds the lock, so `data` is the only way to this part; if `f`
        // panics, `this` drops and unlocks.
        match f(unsafe { &mut *this.data.as_ptr() }).map(NonNull::from) {
            Some(data) => {
                let (lock, access) = Self::into_parts(this);
                Ok(MappedLockGuard { lock, data: DataPtr(data), access, _marker: PhantomData })
            }
            None => Err(this),
        }
    }

    fn into_parts(this: Self) -> (&'a L, ManuallyDrop<<L::Backend as Backend>::Exclusive>) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never dropped, so its access is moved out exactly once.
        let access = unsafe { ManuallyDrop::take(&mut this.access) };
        (this.lock, ManuallyDrop::new(access))
    }
}

impl<L: RawLock + ?Sized, U: ?Sized> Deref for MappedLockGuard<'_, L, U> {
    type Target = U;
    #[inline]
    fn deref(&self) -> &U {
        // SAFETY: the guard holds the lock, and `data` points into the data it protects.
        unsafe { self.data.as_ref() }
    }
}

impl<L: RawLock + ?Sized, U: ?Sized> DerefMut for MappedLockGuard<'_, L, U> {
    #[inline]
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { self.data.as_mut() }
    }
}

impl<L: RawLock + ?Sized, U: ?Sized> Drop for MappedLockGuard<'_, L, U> {
    #[inline]
    fn drop(&mut self) {
        if L::Backend::model_failed() {
            return;
        }
        // SAFETY: dropped exactly once, here, before the unlock (see `LockGuard`'s drop).
        unsafe { ManuallyDrop::drop(&mut self.access) };
        record_release(self.lock);
        // SAFETY: this guard inherited the lock from the guard it was mapped from.
        unsafe { self.lock.unlock() };
    }
}

impl<L: RawLock + ?Sized, U: ?Sized + fmt::Debug> fmt::Debug for MappedLockGuard<'_, L, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<L: RawLock + ?Sized, U: ?Sized + fmt::Display> fmt::Display for MappedLockGuard<'_, L, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A guard that owns an `Arc` of its lock, so it has no lifetime: made by `lock_arc`, it can be
/// kept in a `'static` place (a struct, a task, a thread-local). The lock is held until it drops.
///
/// `!Send`, like every guard here; `Sync` when the lock and its data are. `L` is the lock, as for
/// [`LockGuard`] (its bound `RawLock` is sealed; see there).
///
/// ```
/// use std::sync::Arc;
/// use turnstile::{ArcMutexGuard, Mutex};
///
/// struct Session {
///     guard: ArcMutexGuard<Vec<u8>>, // no lifetime to carry around
/// }
/// let buffer = Arc::new(Mutex::new(Vec::new()));
/// let mut session = Session { guard: buffer.lock_arc() };
/// session.guard.push(1);
/// assert!(buffer.try_lock().is_none());
/// drop(session);
/// assert_eq!(*buffer.lock(), [1]);
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct ArcLockGuard<L: RawLock + ?Sized> {
    lock: Arc<L>,
    access: ManuallyDrop<<L::Backend as Backend>::Exclusive>,
    _not_send: StaysOnItsThread,
}

// SAFETY: `&ArcLockGuard` gives out `&L::Target` (Deref, needs `Sync`) and `&Arc<L>` (`lock`,
// needs `L: Sync`, which for these locks means the data may move between threads).
unsafe impl<L: RawLock + Sync + ?Sized> Sync for ArcLockGuard<L> where L::Target: Sync {}

impl<L: RawLock + ?Sized> ArcLockGuard<L> {
    /// Takes over `guard`'s hold on the lock that `lock` points to.
    pub(crate) fn from_guard(guard: LockGuard<'_, L>, lock: Arc<L>) -> Self {
        debug_assert!(core::ptr::eq(guard.lock, &*lock), "a guard of another lock");
        let (_, access) = LockGuard::into_parts(guard);
        ArcLockGuard { lock, access, _not_send: PhantomData }
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::{ArcLockGuard, Mutex};
    ///
    /// let lock = Arc::new(Mutex::new(()));
    /// let guard = lock.lock_arc();
    /// assert!(Arc::ptr_eq(ArcLockGuard::lock(&guard), &lock));
    /// ```
    pub fn lock(this: &Self) -> &Arc<L> {
        &this.lock
    }
}

impl<L: RawLock + ?Sized> Deref for ArcLockGuard<L> {
    type Target = L::Target;
    #[inline]
    fn deref(&self) -> &L::Target {
        // SAFETY: the guard holds the lock, so no other reference to the data exists.
        unsafe { &*self.lock.data().value.get() }
    }
}

impl<L: RawLock + ?Sized> DerefMut for ArcLockGuard<L> {
    #[inline]
    fn deref_mut(&mut self) -> &mut L::Target {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.data().value.get() }
    }
}

impl<L: RawLock + ?Sized> Drop for ArcLockGuard<L> {
    #[inline]
    fn drop(&mut self) {
        if L::Backend::model_failed() {
            return;
        }
        // SAFETY: dropped exactly once, here, before the unlock (see `LockGuard`'s drop).
        unsafe { ManuallyDrop::drop(&mut self.access) };
        record_release(&*self.lock);
        // SAFETY: the guard was created holding the lock (see `new`) and this is its only release.
        unsafe { self.lock.unlock() };
    }
}

impl<L: RawLock + ?Sized> fmt::Debug for ArcLockGuard<L>
where
    L::Target: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
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
/// The data is the field `data` of the lock, or the path given last (`inner.data`).
macro_rules! data_lock_impls {
    ($Lock:ident, $lock:ident, $try_lock:ident) => {
        $crate::guard::data_lock_impls!($Lock, $lock, $try_lock, data);
    };
    ($Lock:ident, $lock:ident, $try_lock:ident, $($data:ident).+) => {
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
                self.$($data).+.get_mut()
            }
        }

        impl<T: ?Sized, B: $crate::backend::Backend> $Lock<T, B> {
            /// A raw pointer to the data, for code that has made sure by other means that it
            /// may touch it (it holds a leaked guard, say). Dereferencing it without holding the
            /// lock is a data race.
            ///
            /// ```
            #[doc = concat!("let lock = turnstile::", stringify!($Lock), "::new(5);")]
            /// let guard = lock.lock();
            /// assert_eq!(lock.data_ptr().cast_const(), &*guard as *const i32);
            /// ```
            #[inline]
            pub fn data_ptr(&self) -> *mut T {
                self.$($data).+.as_ptr()
            }

            /// Releases the lock without a guard: the other half of
            #[doc = concat!("[`", stringify!($Lock), "Guard::leak`](crate::LockGuard::leak)")]
            /// or `mem::forget` of a guard.
            ///
            /// # Safety
            /// The lock is held, and no guard of it will ever be dropped (it was leaked or
            /// forgotten): otherwise that guard would release it a second time.
            ///
            /// ```
            #[doc = concat!("let lock = turnstile::", stringify!($Lock), "::new(0);")]
            /// std::mem::forget(lock.lock());
            /// assert!(lock.is_locked());
            /// // SAFETY: held, and the only guard was forgotten.
            /// unsafe { lock.force_unlock() };
            /// assert!(!lock.is_locked());
            /// ```
            #[inline]
            pub unsafe fn force_unlock(&self) {
                $crate::guard::record_release(self);
                // SAFETY: the caller holds the lock and releases it only here (see above).
                unsafe { $crate::guard::raw::RawLock::unlock(self) }
            }

            /// Takes the lock through an `Arc` of it: the guard owns a clone of the `Arc`, so it
            /// has no lifetime and can be kept anywhere a `'static` value can.
            ///
            /// ```
            /// use std::sync::Arc;
            ///
            #[doc = concat!("let lock = Arc::new(turnstile::", stringify!($Lock), "::new(1));")]
            /// let mut guard = lock.lock_arc();
            /// *guard += 1;
            /// drop(guard);
            #[doc = concat!("assert_eq!(*lock.", stringify!($lock), "(), 2);")]
            /// ```
            #[inline]
            #[track_caller]
            pub fn lock_arc(self: &std::sync::Arc<Self>) -> $crate::guard::ArcLockGuard<Self> {
                $crate::guard::ArcLockGuard::from_guard(self.$lock(), std::sync::Arc::clone(self))
            }

            /// As [`lock_arc`](Self::lock_arc), if the lock is free right now; never waits.
            ///
            /// ```
            /// use std::sync::Arc;
            ///
            #[doc = concat!("let lock = Arc::new(turnstile::", stringify!($Lock), "::new(()));")]
            /// let held = lock.lock_arc();
            /// assert!(lock.try_lock_arc().is_none());
            /// drop(held);
            /// assert!(lock.try_lock_arc().is_some());
            /// ```
            #[inline]
            #[cfg_attr(debug_assertions, track_caller)]
            pub fn try_lock_arc(self: &std::sync::Arc<Self>) -> Option<$crate::guard::ArcLockGuard<Self>> {
                let guard = self.$try_lock()?;
                Some($crate::guard::ArcLockGuard::from_guard(guard, std::sync::Arc::clone(self)))
            }
        }

        impl<T: ?Sized, B: $crate::backend::Backend> $crate::Lock for $Lock<T, B> {
            type Target = T;
            type Guard<'a>
                = $crate::guard::LockGuard<'a, Self>
            where
                Self: 'a;

            #[inline]
            #[track_caller]
            fn lock(&self) -> Self::Guard<'_> {
                self.$lock()
            }
            #[inline]
            #[cfg_attr(debug_assertions, track_caller)]
            fn try_lock(&self) -> Option<Self::Guard<'_>> {
                self.$try_lock()
            }
            #[inline]
            fn is_locked(&self) -> bool {
                self.is_locked()
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
                self.$($data).+.into_inner()
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
