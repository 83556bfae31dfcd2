//! Permits that own an `Arc` of their semaphore, so they have no lifetime: a permit taken on
//! one thread can move into `thread::spawn` and be returned there.

use core::fmt;
use core::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{request, Semaphore, SemaphorePermit};
use crate::backend::{Backend, Real};

/// Permits of an `Arc<Semaphore>`, returned when dropped, on whichever thread drops them. Made
/// by [`Semaphore::acquire_owned`] and its kin; `'static` and `Send`, unlike
/// [`SemaphorePermit`], which borrows its semaphore.
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use turnstile::Semaphore;
///
/// let slots = Arc::new(Semaphore::new(2)); // at most two jobs at once
/// let jobs: Vec<_> = (0..4)
///     .map(|i| {
///         let permit = slots.acquire_owned(); // taken here, before the thread exists
///         thread::spawn(move || {
///             let _permit = permit; // returned when the job ends
///             i * 2
///         })
///     })
///     .collect();
/// let total: i32 = jobs.into_iter().map(|job| job.join().unwrap()).sum();
/// assert_eq!(total, 12);
/// assert_eq!(slots.available_permits(), 2);
/// ```
#[must_use = "if unused the permits are returned at once"]
pub struct OwnedSemaphorePermit<B: Backend = Real> {
    semaphore: Arc<Semaphore<B>>,
    permits: u32,
    /// As in [`SemaphorePermit`]: the word its acquire left behind.
    left: u32,
}

impl<B: Backend> OwnedSemaphorePermit<B> {
    /// Takes over `permit`, whose semaphore `semaphore` points to.
    fn own(permit: SemaphorePermit<'_, B>, semaphore: &Arc<Semaphore<B>>) -> Self {
        debug_assert!(core::ptr::eq(permit.semaphore, &**semaphore), "a permit of another semaphore");
        let permit = ManuallyDrop::new(permit);
        OwnedSemaphorePermit { semaphore: Arc::clone(semaphore), permits: permit.permits, left: permit.left }
    }

    /// Drops the permits without returning them, as [`SemaphorePermit::forget`].
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// sem.acquire_owned().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(3));
    /// assert_eq!(sem.acquire_many_owned(2).num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// The semaphore the permits belong to.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// let permit = sem.acquire_owned();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore<B>> {
        &self.semaphore
    }
}

impl<B: Backend> Drop for OwnedSemaphorePermit<B> {
    fn drop(&mut self) {
        if !B::model_failed() {
            self.semaphore.give(self.permits, self.left, true);
        }
    }
}

impl<B: Backend> fmt::Debug for OwnedSemaphorePermit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish_non_exhaustive()
    }
}

impl<B: Backend> Semaphore<B> {
    /// As [`acquire`](Self::acquire), through an `Arc` of the semaphore: the permit owns a clone
    /// of the `Arc`, so it can move to another thread and be returned there.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// let permit = sem.acquire_owned();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn acquire_owned(self: &Arc<Self>) -> OwnedSemaphorePermit<B> {
        OwnedSemaphorePermit::own(self.acquire(), self)
    }

    /// As [`acquire_many`](Self::acquire_many), through an `Arc` of the semaphore.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(3));
    /// let two = sem.acquire_many_owned(2);
    /// assert_eq!(sem.available_permits(), 1);
    /// drop(two);
    /// ```
    #[track_caller]
    pub fn acquire_many_owned(self: &Arc<Self>, n: usize) -> OwnedSemaphorePermit<B> {
        let n = request(n, "acquire_many_owned") as usize;
        OwnedSemaphorePermit::own(self.acquire_many(n), self)
    }

    /// As [`try_acquire`](Self::try_acquire), through an `Arc` of the semaphore.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// let held = sem.try_acquire_owned().unwrap();
    /// assert!(sem.try_acquire_owned().is_none());
    /// drop(held);
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit<B>> {
        self.try_acquire().map(|permit| OwnedSemaphorePermit::own(permit, self))
    }

    /// As [`try_acquire_many`](Self::try_acquire_many), through an `Arc` of the semaphore.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(2));
    /// assert!(sem.try_acquire_many_owned(3).is_none());
    /// assert!(sem.try_acquire_many_owned(2).is_some());
    /// ```
    #[track_caller]
    pub fn try_acquire_many_owned(self: &Arc<Self>, n: usize) -> Option<OwnedSemaphorePermit<B>> {
        let n = request(n, "try_acquire_many_owned") as usize;
        self.try_acquire_many(n).map(|permit| OwnedSemaphorePermit::own(permit, self))
    }

    /// As [`acquire_timeout`](Self::acquire_timeout), through an `Arc` of the semaphore.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(0));
    /// assert!(sem.acquire_owned_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn acquire_owned_timeout(self: &Arc<Self>, timeout: Duration) -> Option<OwnedSemaphorePermit<B>> {
        self.acquire_timeout(timeout).map(|permit| OwnedSemaphorePermit::own(permit, self))
    }

    /// As [`acquire_many_timeout`](Self::acquire_many_timeout), through an `Arc` of the
    /// semaphore.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// assert!(sem.acquire_many_owned_timeout(2, Duration::from_millis(1)).is_none());
    /// ```
    #[track_caller]
    pub fn acquire_many_owned_timeout(
        self: &Arc<Self>,
        n: usize,
        timeout: Duration,
    ) -> Option<OwnedSemaphorePermit<B>> {
        let n = request(n, "acquire_many_owned_timeout") as usize;
        self.acquire_many_timeout(n, timeout).map(|permit| OwnedSemaphorePermit::own(permit, self))
    }

    /// As [`acquire_until`](Self::acquire_until), through an `Arc` of the semaphore.
    ///
    /// ```
    /// use std::{sync::Arc, time::Instant};
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(1));
    /// assert!(sem.acquire_owned_until(Instant::now()).is_some());
    /// ```
    pub fn acquire_owned_until(self: &Arc<Self>, deadline: Instant) -> Option<OwnedSemaphorePermit<B>> {
        self.acquire_until(deadline).map(|permit| OwnedSemaphorePermit::own(permit, self))
    }

    /// As [`acquire_many_until`](Self::acquire_many_until), through an `Arc` of the semaphore.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::{sync::Arc, time::Instant};
    ///
    /// let sem = Arc::new(turnstile::Semaphore::new(2));
    /// assert_eq!(sem.acquire_many_owned_until(2, Instant::now()).unwrap().num_permits(), 2);
    /// ```
    #[track_caller]
    pub fn acquire_many_owned_until(
        self: &Arc<Self>,
        n: usize,
        deadline: Instant,
    ) -> Option<OwnedSemaphorePermit<B>> {
        let n = request(n, "acquire_many_owned_until") as usize;
        self.acquire_many_until(n, deadline).map(|permit| OwnedSemaphorePermit::own(permit, self))
    }
}
