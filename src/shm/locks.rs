//! The process-shared locks by their own names: [`Mutex`], [`SpinLock`] and [`Semaphore`], each
//! the crate's lock over the [`ProcessShared`] backend, with a `const fn new`.
//!
//! Why types and not aliases of `Mutex<T, ProcessShared>`: an alias cannot have its own `new`.
//! An inherent `new` on `crate::Mutex<T, ProcessShared>` beside the one on `crate::Mutex<T, Real>`
//! would make every un-annotated `turnstile::Mutex::new(x)` ambiguous (the compiler does not use
//! a type parameter's default to choose between inherent impls). So each is a
//! `#[repr(transparent)]` wrapper that dereferences to the lock: the same bytes, the same
//! methods, the same [`Layout`](super::Layout) (a region made with one opens as the other).

use core::fmt;
use core::ops::{Deref, DerefMut};

use super::{Layout, ShmSafe};
use crate::backend::ProcessShared;

/// A [`Mutex`](crate::Mutex) whose sleepers may be in other processes, to place in a
/// [`Region`](super::Region). It dereferences to `turnstile::Mutex<T, ProcessShared>`, whose
/// methods (`lock`, `try_lock`, `try_lock_for`, ...) it has; same layout (see [the
/// module](crate::shm)).
///
/// ```
/// use turnstile::shm;
///
/// static SHARED: shm::Mutex<u32> = shm::Mutex::new(5);
/// *SHARED.lock() += 1;
/// assert_eq!(*SHARED.lock(), 6);
/// ```
#[repr(transparent)]
pub struct Mutex<T: ?Sized>(crate::Mutex<T, ProcessShared>);

impl<T> Mutex<T> {
    /// A new, unlocked mutex. `const`, so it can initialise a `static` or a field of a region's
    /// value.
    ///
    /// ```
    /// use turnstile::shm;
    ///
    /// let lock = shm::Mutex::new([0u8; 4]);
    /// lock.lock()[0] = 1;
    /// assert_eq!(*lock.lock(), [1, 0, 0, 0]);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        Mutex(crate::Mutex::process_shared(value))
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// assert_eq!(turnstile::shm::Mutex::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// A [`SpinLock`](crate::SpinLock) to place in a [`Region`](super::Region). It dereferences to
/// `turnstile::SpinLock<T, ProcessShared>`, whose methods it has; same layout.
///
/// ```
/// use turnstile::shm;
///
/// static FLAG: shm::SpinLock<bool> = shm::SpinLock::new(false);
/// *FLAG.lock() = true;
/// assert!(*FLAG.lock());
/// ```
#[repr(transparent)]
pub struct SpinLock<T: ?Sized>(crate::SpinLock<T, ProcessShared>);

impl<T> SpinLock<T> {
    /// A new, unlocked spinlock. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// let lock = turnstile::shm::SpinLock::new(5u32);
    /// assert_eq!(*lock.lock(), 5);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        SpinLock(crate::SpinLock::process_shared(value))
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// assert_eq!(turnstile::shm::SpinLock::new('a').into_inner(), 'a');
    /// ```
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// A [`Semaphore`](crate::Semaphore) whose sleepers may be in other processes, to place in a
/// [`Region`](super::Region): barging (a fair semaphore needs waiters queued in one process).
/// It dereferences to `turnstile::Semaphore<ProcessShared>`, whose methods (`acquire`,
/// `add_permits`, ...) it has; same layout.
///
/// ```
/// use turnstile::shm;
///
/// static SLOTS: shm::Semaphore = shm::Semaphore::new(1);
/// let permit = SLOTS.acquire();
/// assert!(SLOTS.try_acquire().is_none());
/// drop(permit);
/// ```
#[repr(transparent)]
pub struct Semaphore(crate::Semaphore<ProcessShared>);

impl Semaphore {
    /// A semaphore with `permits` permits. `const`, so it can initialise a `static`.
    ///
    /// # Panics
    /// If `permits` is more than [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS); the
    /// message says both (in a `static`, the build fails with it).
    ///
    /// ```
    /// let sem = turnstile::shm::Semaphore::new(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[inline]
    #[track_caller]
    pub const fn new(permits: usize) -> Self {
        Semaphore(crate::Semaphore::process_shared(permits))
    }
}

macro_rules! wrapper_impls {
    ($name:ident $(<$t:ident>)?, $inner:ty) => {
        impl<$($t: ?Sized)?> Deref for $name$(<$t>)? {
            type Target = $inner;

            #[inline]
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl<$($t: ?Sized)?> DerefMut for $name$(<$t>)? {
            #[inline]
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }

        impl<$($t: ?Sized)?> fmt::Debug for $name$(<$t>)?
        where
            $inner: fmt::Debug,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        // SAFETY: `#[repr(transparent)]` around the lock, which is `ShmSafe` under the same
        // bounds (see `plain.rs`); the same layout, so the same description.
        unsafe impl$(<$t: ShmSafe + Send>)? ShmSafe for $name$(<$t>)? {
            const LAYOUT: &'static Layout = <$inner as ShmSafe>::LAYOUT;
        }
    };
}

wrapper_impls!(Mutex<T>, crate::Mutex<T, ProcessShared>);
wrapper_impls!(SpinLock<T>, crate::SpinLock<T, ProcessShared>);
wrapper_impls!(Semaphore, crate::Semaphore<ProcessShared>);

impl<T: Default> Default for Mutex<T> {
    /// An unlocked mutex holding `T::default()`.
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    /// An unlocked mutex holding `value`.
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: Default> Default for SpinLock<T> {
    /// An unlocked spinlock holding `T::default()`.
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

impl<T> From<T> for SpinLock<T> {
    /// An unlocked spinlock holding `value`.
    fn from(value: T) -> Self {
        SpinLock::new(value)
    }
}
