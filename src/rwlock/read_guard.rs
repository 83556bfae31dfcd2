//! The read guard, written once for the three readers-writer locks.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;

use super::raw::RawRwLock;
use super::RwLock;
use crate::backend::Backend;

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
pub struct RwLockReadGuard<'a, T: ?Sized, P: RawRwLock> {
    lock: &'a RwLock<T, P>,
    access: ManuallyDrop<<P::Backend as Backend>::Shared>,
    // A raw pointer is !Send; see the type docs.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: `&RwLockReadGuard` gives out only `&T` (Deref), which is sound to share across threads
// exactly when `T: Sync`; the guard's own fields are only touched by drop.
unsafe impl<T: ?Sized + Sync, P: RawRwLock> Sync for RwLockReadGuard<'_, T, P> {}

impl<'a, T: ?Sized, P: RawRwLock> RwLockReadGuard<'a, T, P> {
    /// Wraps a read lock the caller has just acquired.
    ///
    /// # Safety
    /// The calling thread holds a read lock of `lock`, and hands its release over to the guard.
    #[inline]
    pub(crate) unsafe fn new(lock: &'a RwLock<T, P>) -> Self {
        let access = ManuallyDrop::new(P::Backend::shared(lock.data().tracker()));
        RwLockReadGuard { lock, access, _not_send: PhantomData }
    }
}

impl<T: ?Sized, P: RawRwLock> Deref for RwLockReadGuard<'_, T, P> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held, so no writer (the only source of `&mut T`) holds it.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<T: ?Sized, P: RawRwLock> Drop for RwLockReadGuard<'_, T, P> {
    #[inline]
    fn drop(&mut self) {
        if P::Backend::model_failed() {
            return;
        }
        // SAFETY: `access` is dropped exactly once, here; it must end before the unlock, or a
        // model would see our read overlap the next writer's access.
        unsafe { ManuallyDrop::drop(&mut self.access) };
        // SAFETY: the guard was created holding a read lock, and this is its only release.
        unsafe { self.lock.raw().unlock_read() };
    }
}

impl<T: ?Sized + fmt::Debug, P: RawRwLock> fmt::Debug for RwLockReadGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, P: RawRwLock> fmt::Display for RwLockReadGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
