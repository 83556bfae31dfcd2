//! Traits for code that is generic over the crate's exclusive locks.
//!
//! Each lock's own methods are the main API (they are `const`-constructible and keep the loom
//! backend parameter); these traits name what they have in common, so that a function, a test
//! or a benchmark can be written once for [`Mutex`](crate::Mutex) and
//! [`SpinLock`](crate::SpinLock).
//!
//! ```
//! use turnstile::{Lock, Mutex, SpinLock};
//!
//! fn bump<L: Lock<Target = u32>>(lock: &L) {
//!     *lock.lock() += 1;
//! }
//!
//! let (m, s) = (Mutex::new(0), SpinLock::new(0));
//! bump(&m);
//! bump(&s);
//! assert_eq!((m.into_inner(), s.into_inner()), (1, 1));
//! ```

use core::ops::DerefMut;
use std::time::{Duration, Instant};

/// An exclusive lock around data of type [`Target`](Self::Target).
///
/// ```
/// use turnstile::{Lock, SpinLock};
///
/// fn try_twice<L: Lock>(lock: &L) -> bool {
///     let first = lock.try_lock();
///     first.is_some() && lock.try_lock().is_none()
/// }
/// assert!(try_twice(&SpinLock::new(())));
/// ```
pub trait Lock {
    /// The protected data.
    type Target: ?Sized;
    /// What holding the lock looks like: dereferences to the data, releases the lock on drop.
    type Guard<'a>: DerefMut<Target = Self::Target>
    where
        Self: 'a;

    /// Takes the lock, waiting until it is free.
    ///
    /// ```
    /// use turnstile::{Lock, Mutex};
    /// let lock = Mutex::new(1);
    /// assert_eq!(*Lock::lock(&lock), 1);
    /// ```
    fn lock(&self) -> Self::Guard<'_>;
    /// Takes the lock if it is free right now; never waits.
    ///
    /// ```
    /// use turnstile::{Lock, Mutex};
    /// let lock = Mutex::new(());
    /// let _held = Lock::lock(&lock);
    /// assert!(Lock::try_lock(&lock).is_none());
    /// ```
    fn try_lock(&self) -> Option<Self::Guard<'_>>;
    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// use turnstile::{Lock, SpinLock};
    /// assert!(!Lock::is_locked(&SpinLock::new(())));
    /// ```
    fn is_locked(&self) -> bool;
}

/// A [`Lock`] whose waiting can be bounded in time.
///
/// ```
/// use std::time::Duration;
/// use turnstile::{Mutex, TimedLock};
///
/// fn within<L: TimedLock>(lock: &L) -> bool {
///     lock.try_lock_for(Duration::from_millis(1)).is_some()
/// }
/// assert!(within(&Mutex::new(())));
/// ```
pub trait TimedLock: Lock {
    /// Takes the lock, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::{Lock, Mutex, TimedLock};
    /// let lock = Mutex::new(());
    /// let _held = Lock::lock(&lock);
    /// assert!(TimedLock::try_lock_for(&lock, Duration::from_micros(10)).is_none());
    /// ```
    fn try_lock_for(&self, timeout: Duration) -> Option<Self::Guard<'_>>;
    /// Takes the lock, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::Instant;
    /// use turnstile::{Mutex, TimedLock};
    /// assert!(TimedLock::try_lock_until(&Mutex::new(()), Instant::now()).is_some());
    /// ```
    fn try_lock_until(&self, deadline: Instant) -> Option<Self::Guard<'_>>;
}
