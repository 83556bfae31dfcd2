//! Readers-writer locks: many readers at once, or one writer, under a policy you choose.
//!
//! The readers-writers problem (Courtois, Heymans and Parnas, 1971) has more than one answer,
//! because when readers and writers both wait somebody has to go first. Each answer is one type
//! here, all with the same API ([`RwLock`] with a policy parameter):
//!
//! | type | who goes first | can starve | a thread that re-reads while holding a read lock |
//! |------|----------------|------------|------------------------------------------------|
//! | [`ReaderPrefRwLock`] | readers: a reader enters whenever no writer *holds* the lock | writers | never blocks |
//! | [`WriterPrefRwLock`] | writers: once a writer waits, new readers wait behind it | readers (under a stream of writers) | deadlocks if a writer waits |
//! | [`FairRwLock`] | arrival order (FIFO); consecutive readers enter together | nobody (untimed waiters) | deadlocks if a writer waits |
//!
//! Uncontended, `read` and `write` are one read-modify-write each and so is their release; a
//! release makes a system call only when somebody sleeps. Every lock is at most 16 bytes plus
//! `T` and never allocates. Waiters spin briefly, then sleep on a futex.
//!
//! The write guard is the crate's [`LockGuard`] (`RwLockWriteGuard`); it can
//! [`downgrade`](LockGuard::downgrade) to a read guard without letting a writer in between, on
//! all three locks. The read guard, [`RwLockReadGuard`], is written once for the three.
//!
//! Like the crate's other locks these do not poison: a panic under either guard releases the
//! lock.
//!
//! ```
//! use turnstile::{FairRwLock, ReaderPrefRwLock, WriterPrefRwLock};
//!
//! let config = WriterPrefRwLock::new(String::from("v1"));
//! std::thread::scope(|s| {
//!     s.spawn(|| assert!(config.read().starts_with('v')));
//!     s.spawn(|| *config.write() = String::from("v2"));
//! });
//! assert_eq!(*config.read(), "v2");
//!
//! // The same API under every policy.
//! let (a, b) = (ReaderPrefRwLock::new(1), FairRwLock::new(1));
//! assert_eq!(*a.read() + *b.read(), 2);
//! ```

mod fair;
mod preference;
mod read_guard;

use core::fmt;
use core::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use crate::backend::Real;
use crate::guard::{raw::RawLock, LockData, LockGuard};

pub use fair::{Fair, MAX_FAIR_READERS, MAX_FAIR_WRITERS};
pub use preference::{Preference, ReaderPref, WriterPref, MAX_READERS, MAX_WAITING_WRITERS};
pub use read_guard::RwLockReadGuard;

pub(crate) mod raw {
    use std::time::Instant;

    use crate::backend::Backend;

    /// A readers-writer lock's state machine, without the data: one per policy. Public in a
    /// private module, so nameable (and implementable) only in this crate.
    ///
    /// # Safety
    /// While a writer holds the lock nobody else holds it, and readers hold it only with other
    /// readers. Every release (`unlock_read`, `unlock_write`, `downgrade`) is a Release that the
    /// next acquirer's Acquire reads, so accesses under the lock are ordered.
    pub unsafe trait RawRwLock: Sized + Send + Sync + 'static {
        /// The machine the lock runs on.
        type Backend: Backend;
        /// The name `Debug` shows.
        const NAME: &'static str;

        /// A new, unlocked state.
        fn with_backend() -> Self;
        /// Takes a read lock if that needs no waiting.
        fn try_read(&self) -> bool;
        /// Takes a read lock, waiting until `deadline` at the latest; `false` if it passed.
        fn read(&self, deadline: Option<Instant>) -> bool;
        /// Releases one read lock.
        ///
        /// # Safety
        /// The caller holds a read lock, and gives it up here, once.
        unsafe fn unlock_read(&self);
        /// Takes the write lock if that needs no waiting.
        fn try_write(&self) -> bool;
        /// Takes the write lock, waiting until `deadline` at the latest; `false` if it passed.
        fn write(&self, deadline: Option<Instant>) -> bool;
        /// Releases the write lock.
        ///
        /// # Safety
        /// The caller holds the write lock, and gives it up here, once.
        unsafe fn unlock_write(&self);
        /// Turns the caller's write lock into a read lock, letting no writer in between.
        ///
        /// # Safety
        /// The caller holds the write lock; afterwards it holds a read lock instead.
        unsafe fn downgrade(&self);
        /// Whether anybody holds the lock (a snapshot).
        fn is_locked(&self) -> bool;
        /// How many writers the state counts as waiting (see `RwLock::queued_writers`).
        #[cfg(feature = "loom")]
        fn queued_writers(&self) -> u32;
    }

    /// A state that can be built in a `const` context: the real machine's.
    pub trait ConstInit: RawRwLock {
        /// The unlocked state.
        const INIT: Self;
    }
}

use raw::{ConstInit, RawRwLock};

/// The policies an [`RwLock`] can have: [`ReaderPref`], [`WriterPref`] and [`Fair`]. Sealed;
/// for code generic over the three locks.
///
/// ```
/// use turnstile::rwlock::{Policy, RwLock};
/// use turnstile::{FairRwLock, ReaderPrefRwLock};
///
/// fn total<P: Policy>(lock: &RwLock<Vec<u32>, P>) -> u32 {
///     lock.read().iter().sum()
/// }
/// assert_eq!(total(&FairRwLock::new(vec![1, 2])) + total(&ReaderPrefRwLock::new(vec![3])), 6);
/// ```
pub trait Policy: RawRwLock {}

impl<P: RawRwLock> Policy for P {}

/// A readers-writer lock with the policy `P`: any number of readers at once, or one writer.
///
/// Name it by its policy: [`ReaderPrefRwLock`], [`WriterPrefRwLock`] or [`FairRwLock`] (see the
/// [module docs](self) for what each promises). `T` may be unsized.
///
/// `Sync` needs `T: Send + Sync`, as for std's `RwLock`: readers on several threads share `&T`.
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<turnstile::FairRwLock<std::cell::Cell<u8>>>();
/// ```
///
/// ```
/// use turnstile::FairRwLock;
///
/// let lock = FairRwLock::new(vec![1, 2]);
/// {
///     let (r1, r2) = (lock.read(), lock.read()); // readers share
///     assert_eq!(r1.len() + r2.len(), 4);
/// }
/// lock.write().push(3); // a writer alone
/// assert_eq!(*lock.read(), [1, 2, 3]);
/// ```
pub struct RwLock<T: ?Sized, P: RawRwLock> {
    raw: P,
    data: LockData<T, P::Backend>,
}

// Not a `PhantomData<T>` field, which would say the same: only the last field may be unsized.
// SAFETY: writers reach the data one at a time (hence `T: Send`), readers on several threads hold
// `&T` at once (hence `T: Sync`), as for std's `RwLock`; the state `P` is atomics.
unsafe impl<T: ?Sized + Send + Sync, P: RawRwLock> Sync for RwLock<T, P> {}

/// A reader-preferring lock: readers enter whenever no writer holds it. See [`ReaderPref`].
pub type ReaderPrefRwLock<T, B = Real> = RwLock<T, ReaderPref<B>>;
/// A writer-preferring lock: a waiting writer goes before readers that come after it. See
/// [`WriterPref`].
pub type WriterPrefRwLock<T, B = Real> = RwLock<T, WriterPref<B>>;
/// A fair lock: arrival order, consecutive readers together. See [`Fair`].
pub type FairRwLock<T, B = Real> = RwLock<T, Fair<B>>;

/// The write guard of an [`RwLock`]: the crate's [`LockGuard`], which can also
/// [`downgrade`](LockGuard::downgrade).
pub type RwLockWriteGuard<'a, T, P> = LockGuard<'a, RwLock<T, P>>;

impl<T, P: ConstInit<Backend = Real>> RwLock<T, P> {
    /// A new, unlocked lock. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use turnstile::ReaderPrefRwLock;
    ///
    /// static ROUTES: ReaderPrefRwLock<Vec<&str>> = ReaderPrefRwLock::new(Vec::new());
    /// ROUTES.write().push("/");
    /// assert_eq!(ROUTES.read().len(), 1);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        RwLock { raw: P::INIT, data: LockData::new(value) }
    }
}

impl<T, P: RawRwLock> RwLock<T, P> {
    /// A new, unlocked lock over any backend; this is how loom models build one.
    ///
    /// ```
    /// use turnstile::{backend::Real, FairRwLock};
    ///
    /// let lock = FairRwLock::<_, Real>::with_backend(3);
    /// assert_eq!(*lock.read(), 3);
    /// ```
    pub fn with_backend(value: T) -> Self {
        RwLock { raw: P::with_backend(), data: LockData::with_backend(value) }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// let lock = turnstile::WriterPrefRwLock::new(String::from("hi"));
    /// assert_eq!(lock.into_inner(), "hi");
    /// ```
    #[inline]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, P: RawRwLock> RwLock<T, P> {
    /// Takes a read lock, waiting while the policy says so (see the [module docs](self)).
    ///
    /// ```
    /// let lock = turnstile::FairRwLock::new(5);
    /// let (a, b) = (lock.read(), lock.read());
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T, P> {
        self.raw.read(None);
        // SAFETY: we hold a read lock (`read` without a deadline returns holding it).
        unsafe { RwLockReadGuard::new(self) }
    }

    /// Takes a read lock if that needs no waiting.
    ///
    /// ```
    /// let lock = turnstile::ReaderPrefRwLock::new(());
    /// let writer = lock.write();
    /// assert!(lock.try_read().is_none());
    /// drop(writer);
    /// assert!(lock.try_read().is_some());
    /// ```
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T, P>> {
        // SAFETY: we hold a read lock when `try_read` says so.
        self.raw.try_read().then(|| unsafe { RwLockReadGuard::new(self) })
    }

    /// Takes a read lock, waiting at most `timeout`; `None` if it could not in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::WriterPrefRwLock::new(1);
    /// let writer = lock.write();
    /// assert!(lock.try_read_for(Duration::from_millis(1)).is_none());
    /// drop(writer);
    /// assert_eq!(*lock.try_read_for(Duration::from_millis(1)).unwrap(), 1);
    /// ```
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T, P>> {
        self.read_before(crate::wait::deadline_after(timeout))
    }

    /// Takes a read lock, waiting until `deadline` at the latest; `None` if it could not.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::FairRwLock::new(1);
    /// assert!(lock.try_read_until(Instant::now() + Duration::from_millis(1)).is_some());
    /// ```
    pub fn try_read_until(&self, deadline: Instant) -> Option<RwLockReadGuard<'_, T, P>> {
        self.read_before(Some(deadline))
    }

    fn read_before(&self, deadline: Option<Instant>) -> Option<RwLockReadGuard<'_, T, P>> {
        if !self.raw.read(deadline) {
            return None;
        }
        // SAFETY: we hold a read lock.
        Some(unsafe { RwLockReadGuard::new(self) })
    }

    /// Takes the write lock, waiting until every other holder has left and the policy lets this
    /// writer in.
    ///
    /// ```
    /// let lock = turnstile::FairRwLock::new(0);
    /// *lock.write() += 1;
    /// assert_eq!(*lock.read(), 1);
    /// ```
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T, P> {
        self.raw.write(None);
        // SAFETY: we hold the write lock (`write` without a deadline returns holding it).
        unsafe { LockGuard::new(self) }
    }

    /// Takes the write lock if that needs no waiting.
    ///
    /// ```
    /// let lock = turnstile::WriterPrefRwLock::new(());
    /// let reader = lock.read();
    /// assert!(lock.try_write().is_none());
    /// drop(reader);
    /// assert!(lock.try_write().is_some());
    /// ```
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T, P>> {
        // SAFETY: we hold the write lock when `try_write` says so.
        self.raw.try_write().then(|| unsafe { LockGuard::new(self) })
    }

    /// Takes the write lock, waiting at most `timeout`; `None` if it could not in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::ReaderPrefRwLock::new(1);
    /// let reader = lock.read();
    /// assert!(lock.try_write_for(Duration::from_millis(1)).is_none());
    /// drop(reader);
    /// assert!(lock.try_write_for(Duration::from_millis(1)).is_some());
    /// ```
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T, P>> {
        self.write_before(crate::wait::deadline_after(timeout))
    }

    /// Takes the write lock, waiting until `deadline` at the latest; `None` if it could not.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::WriterPrefRwLock::new(1);
    /// *lock.try_write_until(Instant::now() + Duration::from_millis(1)).unwrap() += 1;
    /// assert_eq!(*lock.read(), 2);
    /// ```
    pub fn try_write_until(&self, deadline: Instant) -> Option<RwLockWriteGuard<'_, T, P>> {
        self.write_before(Some(deadline))
    }

    fn write_before(&self, deadline: Option<Instant>) -> Option<RwLockWriteGuard<'_, T, P>> {
        if !self.raw.write(deadline) {
            return None;
        }
        // SAFETY: we hold the write lock.
        Some(unsafe { LockGuard::new(self) })
    }

    /// Whether anybody holds the lock, to read or to write, at this instant (stale as soon as it
    /// returns).
    ///
    /// ```
    /// let lock = turnstile::FairRwLock::new(());
    /// let reader = lock.read();
    /// assert!(lock.is_locked());
    /// drop(reader);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// A mutable reference to the data. No locking is needed: `&mut self` proves nobody else
    /// can hold the lock.
    ///
    /// ```
    /// let mut lock = turnstile::ReaderPrefRwLock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// A raw pointer to the data, for code that has made sure by other means that it may touch
    /// it. Dereferencing it without holding the lock is a data race.
    ///
    /// ```
    /// let lock = turnstile::FairRwLock::new(5);
    /// let reader = lock.read();
    /// assert_eq!(lock.data_ptr().cast_const(), &*reader as *const i32);
    /// ```
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.data.as_ptr()
    }

    pub(crate) fn raw(&self) -> &P {
        &self.raw
    }

    /// How many writers wait for the lock, as the policy counts them (for the fair lock: the
    /// writers holding or waiting). For loom models that need a writer to be waiting before a
    /// reader arrives; not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn queued_writers(&self) -> u32 {
        self.raw.queued_writers()
    }

    pub(crate) fn data(&self) -> &LockData<T, P::Backend> {
        &self.data
    }
}

// SAFETY: `write`/`try_write` and the timed forms build a `LockGuard` only while holding the
// write lock, which excludes every other holder (the `RawRwLock` contract); `unlock` releases it
// with the Release that contract promises.
unsafe impl<T: ?Sized, P: RawRwLock> RawLock for RwLock<T, P> {
    type Target = T;
    type Backend = P::Backend;

    #[inline]
    fn data(&self) -> &LockData<T, P::Backend> {
        &self.data
    }
    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the guard that calls this holds the write lock and releases it once.
        unsafe { self.raw.unlock_write() }
    }
    #[inline]
    fn relock(&self) {
        self.raw.write(None);
    }
}

impl<'a, T: ?Sized, P: RawRwLock> LockGuard<'a, RwLock<T, P>> {
    /// Turns this write guard into a read guard in one step: readers may join, but no writer
    /// gets in between. What waiting readers do then follows the lock's policy:
    ///
    /// * [`ReaderPrefRwLock`]: every waiting reader joins at once.
    /// * [`WriterPrefRwLock`]: waiting readers join unless a writer waits (that writer goes
    ///   first, after this reader leaves).
    /// * [`FairRwLock`]: this reader keeps the writer's place in the queue; the readers queued
    ///   right behind it join, and the first writer queued after it waits for it.
    ///
    /// ```
    /// use turnstile::{FairRwLock, RwLockWriteGuard};
    ///
    /// let lock = FairRwLock::new(1);
    /// let mut writer = lock.write();
    /// *writer += 1;
    /// let reader = RwLockWriteGuard::downgrade(writer);
    /// assert_eq!(*lock.try_read().unwrap(), 2); // other readers can join now
    /// assert!(lock.try_write().is_none()); // writers cannot
    /// assert_eq!(*reader, 2);
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T, P> {
        let (lock, access) = LockGuard::into_parts(this);
        // The exclusive access must end before other readers can start theirs.
        drop(ManuallyDrop::into_inner(access));
        // SAFETY: `into_parts` handed us the guard's write lock, which this turns into a read lock.
        unsafe { lock.raw.downgrade() };
        // SAFETY: we now hold a read lock.
        unsafe { RwLockReadGuard::new(lock) }
    }
}

impl<T: Default, P: ConstInit<Backend = Real>> Default for RwLock<T, P> {
    /// A lock around `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, P: ConstInit<Backend = Real>> From<T> for RwLock<T, P> {
    /// A lock around `value`.
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, P: RawRwLock> fmt::Debug for RwLock<T, P> {
    /// Shows the data if a read lock can be had without waiting, `<locked>` otherwise; never
    /// blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.try_read();
        crate::guard::debug_lock(f, P::NAME, guard.as_deref())
    }
}
