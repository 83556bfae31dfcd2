//! Readers-writer locks: many readers at once, or one writer, under a policy you choose.
//!
//! The readers-writers problem (Courtois, Heymans and Parnas, 1971) has more than one answer,
//! because when readers and writers both wait somebody has to go first. Each answer is one type
//! here, all with the same API ([`RwLock`] with a policy parameter):
//!
//! | type | who goes first | can starve | a thread that re-reads while holding a read lock |
//! |------|----------------|------------|------------------------------------------------|
//! | [`ReaderPrefRwLock`] | readers: a reader enters whenever no writer *holds* the lock | writers, and upgrades | never blocks |
//! | [`WriterPrefRwLock`] | writers: once a writer waits, new readers wait behind it | readers (under a stream of writers) | deadlocks if a writer waits: use [`read_recursive`](RwLock::read_recursive) |
//! | [`FairRwLock`] | arrival order (FIFO); consecutive readers enter together | nobody | deadlocks if a writer waits: use [`read_recursive`](RwLock::read_recursive) |
//!
//! Which behaves like the peers: std's `RwLock` on Linux prefers writers (a waiting writer keeps
//! new readers out), as [`WriterPrefRwLock`] does, exactly; parking_lot's is task-fair with
//! eventual fairness (a waiting writer keeps new readers out, and running threads may take a
//! released lock before woken ones), between [`WriterPrefRwLock`] and [`FairRwLock`].
//!
//! A thread that waits for itself (a `write` under its own read, a nested `read` on the
//! writer-preferring or fair lock, ...) panics at that line in debug builds instead of hanging;
//! see `read_recursive` and [`Mutex::lock`](crate::Mutex::lock).
//!
//! The upgradable reader holds the lock beside readers, but beside no writer and no other
//! upgradable reader; its [`upgrade`](RwLockUpgradableReadGuard::upgrade) goes before everyone
//! waiting (it holds the lock already) and waits only for the readers inside.
//!
//! Uncontended, `read` and `write` are one read-modify-write each and so is their release; a
//! release makes a system call only when somebody sleeps. Every lock is at most 8 bytes plus
//! `T` and never allocates. Waiters spin briefly, then sleep: the preference locks on a futex
//! word, the fair lock in the crate's wait queue, which is its line.
//!
//! The API is parking_lot's, on every policy, written once: [`RwLockReadGuard`],
//! [`RwLockWriteGuard`] (which can [`downgrade`](RwLockWriteGuard::downgrade) without letting a
//! writer in between), upgradable reads ([`RwLockUpgradableReadGuard`]: beside readers, and
//! [`upgrade`](RwLockUpgradableReadGuard::upgrade)s to a writer without anyone in between),
//! recursive reads, mapped guards, guards that own an `Arc` of the lock, timed variants of every
//! wait, and `unlocked`/`unlock_fair` on the guards.
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

mod arc;
mod fair;
mod held;
mod preference;
pub(crate) mod raw;
mod read_guard;
mod upgradable;
mod write_guard;

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Real;
use crate::guard::LockData;
use crate::self_deadlock::{self, Hold, Want};

pub use arc::{ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};
pub use fair::{Fair, MAX_FAIR_READERS};
pub use preference::{Preference, ReaderPref, WriterPref, MAX_READERS, MAX_WAITING_WRITERS};
pub use read_guard::{MappedRwLockReadGuard, RwLockReadGuard};
pub use upgradable::RwLockUpgradableReadGuard;
pub use write_guard::{MappedRwLockWriteGuard, RwLockWriteGuard};

use raw::RawRwLock;

/// The policies an [`RwLock`] can have: [`ReaderPref`], [`WriterPref`] and [`Fair`], over any
/// backend. For code generic over the three locks.
///
/// Sealed: its supertrait, `RawRwLock`, is the state machine a policy implements (taking and
/// releasing each kind of hold, waiting and waking), private to the crate, because every lock's
/// safety rests on it; so only this crate's policies implement `Policy`, and the bound is all
/// generic code needs to name.
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

/// The policies whose unlocked state can be built in a `const` context, which [`RwLock::new`]
/// (a `const fn`, for `static`s) needs: [`ReaderPref`], [`WriterPref`] and [`Fair`] over the real
/// machine ([`Real`]). Over loom a lock is built with [`RwLock::with_backend`] instead. Sealed, as
/// [`Policy`] is.
///
/// ```
/// use turnstile::rwlock::{ConstPolicy, RwLock};
///
/// fn fresh<P: ConstPolicy>() -> RwLock<u32, P> {
///     RwLock::new(0)
/// }
/// assert_eq!(*fresh::<turnstile::rwlock::Fair>().read(), 0);
/// ```
pub trait ConstPolicy: Policy<Backend = Real> {
    /// The unlocked state.
    #[doc(hidden)]
    const INIT: Self;
}

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
///     // Readers share (a second read on one thread is `read_recursive`: see the module docs).
///     let (r1, r2) = (lock.read(), lock.read_recursive());
///     assert_eq!(r1.len() + r2.len(), 4);
/// }
/// lock.write().push(3); // a writer alone
/// assert_eq!(*lock.read(), [1, 2, 3]);
/// ```
pub struct RwLock<T: ?Sized, P: Policy> {
    raw: P,
    data: LockData<T, P::Backend>,
}

// Not a `PhantomData<T>` field, which would say the same: only the last field may be unsized.
// SAFETY: writers reach the data one at a time (hence `T: Send`), readers on several threads hold
// `&T` at once (hence `T: Sync`), as for std's `RwLock`; the state `P` is atomics.
unsafe impl<T: ?Sized + Send + Sync, P: Policy> Sync for RwLock<T, P> {}

/// A reader-preferring lock: readers enter whenever no writer holds it. See [`ReaderPref`].
///
/// ```
/// use turnstile::ReaderPrefRwLock;
///
/// let lock = ReaderPrefRwLock::new(1);
/// let first = lock.read();
/// let second = lock.read(); // never waits while only readers hold it
/// assert_eq!(*first + *second, 2);
/// ```
pub type ReaderPrefRwLock<T, B = Real> = RwLock<T, ReaderPref<B>>;
/// A writer-preferring lock: a waiting writer goes before readers that come after it. See
/// [`WriterPref`].
///
/// ```
/// use turnstile::WriterPrefRwLock;
///
/// let lock = WriterPrefRwLock::new(String::from("v1"));
/// *lock.write() = String::from("v2");
/// assert_eq!(*lock.read(), "v2");
/// ```
pub type WriterPrefRwLock<T, B = Real> = RwLock<T, WriterPref<B>>;
/// A fair lock: arrival order, consecutive readers together. See [`Fair`].
///
/// ```
/// use turnstile::FairRwLock;
///
/// static JOBS: FairRwLock<Vec<u32>> = FairRwLock::new(Vec::new());
/// JOBS.write().push(1);
/// assert_eq!(JOBS.read().len(), 1);
/// ```
pub type FairRwLock<T, B = Real> = RwLock<T, Fair<B>>;

impl<T, P: ConstPolicy> RwLock<T, P> {
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

impl<T, P: Policy> RwLock<T, P> {
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

/// For each kind of hold: the waiting method, `try_`, `_for`, `_until`, and the same four
/// through an `Arc` of the lock, written once. `$blocker` is a guard that makes the kind wait.
macro_rules! acquire_methods {
    ($(
        $what:literal, $want:ident, $Guard:ident, $ArcGuard:ident, $raw_try:ident, $raw_wait:ident, $blocker:literal,
        [$name:ident, $try:ident, $for:ident, $until:ident, $before:ident],
        [$arc:ident, $try_arc:ident, $arc_for:ident, $arc_until:ident, $arc_before:ident];
    )*) => {$(
        impl<T: ?Sized, P: Policy> RwLock<T, P> {
            #[doc = concat!("Takes ", $what, ", waiting while the policy says so (see the [module docs](self)).")]
            ///
            /// ```
            /// let lock = turnstile::FairRwLock::new(5);
            #[doc = concat!("let guard = lock.", stringify!($name), "();")]
            /// assert_eq!(*guard, 5);
            /// ```
            #[inline]
            #[track_caller]
            pub fn $name(&self) -> $Guard<'_, T, P> {
                self.check_self_deadlock(stringify!($name), Want::$want);
                self.raw.$raw_wait(None);
                // SAFETY: without a deadline the raw lock returns holding it.
                unsafe { $Guard::new(self) }
            }

            #[doc = concat!("Takes ", $what, " if that needs no waiting; `None` otherwise.")]
            ///
            /// ```
            /// let lock = turnstile::WriterPrefRwLock::new(());
            #[doc = concat!("let blocker = ", $blocker, ";")]
            #[doc = concat!("assert!(lock.", stringify!($try), "().is_none());")]
            /// drop(blocker);
            #[doc = concat!("assert!(lock.", stringify!($try), "().is_some());")]
            /// ```
            #[inline]
            #[track_caller]
            pub fn $try(&self) -> Option<$Guard<'_, T, P>> {
                if self.raw.$raw_try() {
                    // SAFETY: we hold the lock when the raw lock says so.
                    Some(unsafe { $Guard::new(self) })
                } else {
                    None
                }
            }

            #[doc = concat!("Takes ", $what, ", waiting at most `timeout`; `None` if it could not in time.")]
            ///
            /// ```
            /// use std::time::Duration;
            ///
            /// let lock = turnstile::ReaderPrefRwLock::new(1);
            #[doc = concat!("let blocker = ", $blocker, ";")]
            #[doc = concat!("assert!(lock.", stringify!($for), "(Duration::from_millis(1)).is_none());")]
            /// drop(blocker);
            #[doc = concat!("assert_eq!(*lock.", stringify!($for), "(Duration::from_millis(1)).unwrap(), 1);")]
            /// ```
            #[track_caller]
            pub fn $for(&self, timeout: Duration) -> Option<$Guard<'_, T, P>> {
                self.$before(crate::wait::deadline_after(timeout))
            }

            #[doc = concat!("Takes ", $what, ", waiting until `deadline` at the latest; `None` if it could not.")]
            ///
            /// ```
            /// use std::time::{Duration, Instant};
            ///
            /// let lock = turnstile::FairRwLock::new(1);
            #[doc = concat!("let guard = lock.", stringify!($until), "(Instant::now() + Duration::from_millis(1));")]
            /// assert_eq!(*guard.unwrap(), 1);
            /// ```
            #[track_caller]
            pub fn $until(&self, deadline: Instant) -> Option<$Guard<'_, T, P>> {
                self.$before(Some(deadline))
            }

            #[track_caller]
            fn $before(&self, deadline: Option<Instant>) -> Option<$Guard<'_, T, P>> {
                if self.raw.$raw_wait(deadline) {
                    // SAFETY: we hold the lock when the raw lock says so.
                    Some(unsafe { $Guard::new(self) })
                } else {
                    None
                }
            }

            #[doc = concat!("As [`", stringify!($name), "`](Self::", stringify!($name), "), through an `Arc` of the lock: the guard owns a clone of the `Arc`, so it has no lifetime.")]
            ///
            /// ```
            /// use std::sync::Arc;
            ///
            /// let lock = Arc::new(turnstile::FairRwLock::new(1));
            #[doc = concat!("let guard = lock.", stringify!($arc), "();")]
            /// assert_eq!(*guard, 1);
            /// ```
            #[inline]
            #[track_caller]
            pub fn $arc(self: &Arc<Self>) -> $ArcGuard<T, P> {
                self.check_self_deadlock(stringify!($arc), Want::$want);
                self.raw.$raw_wait(None);
                // SAFETY: without a deadline the raw lock returns holding it.
                unsafe { $ArcGuard::new(Arc::clone(self)) }
            }

            #[doc = concat!("As [`", stringify!($try), "`](Self::", stringify!($try), "), through an `Arc` of the lock.")]
            ///
            /// ```
            /// use std::sync::Arc;
            ///
            /// let lock = Arc::new(turnstile::ReaderPrefRwLock::new(()));
            #[doc = concat!("let blocker = ", $blocker, ";")]
            #[doc = concat!("assert!(lock.", stringify!($try_arc), "().is_none());")]
            /// drop(blocker);
            #[doc = concat!("assert!(lock.", stringify!($try_arc), "().is_some());")]
            /// ```
            #[inline]
            #[track_caller]
            pub fn $try_arc(self: &Arc<Self>) -> Option<$ArcGuard<T, P>> {
                if self.raw.$raw_try() {
                    // SAFETY: we hold the lock when the raw lock says so.
                    Some(unsafe { $ArcGuard::new(Arc::clone(self)) })
                } else {
                    None
                }
            }

            #[doc = concat!("As [`", stringify!($for), "`](Self::", stringify!($for), "), through an `Arc` of the lock.")]
            ///
            /// ```
            /// use std::{sync::Arc, time::Duration};
            ///
            /// let lock = Arc::new(turnstile::WriterPrefRwLock::new(1));
            #[doc = concat!("assert!(lock.", stringify!($arc_for), "(Duration::from_millis(1)).is_some());")]
            /// ```
            #[track_caller]
            pub fn $arc_for(self: &Arc<Self>, timeout: Duration) -> Option<$ArcGuard<T, P>> {
                self.$arc_before(crate::wait::deadline_after(timeout))
            }

            #[doc = concat!("As [`", stringify!($until), "`](Self::", stringify!($until), "), through an `Arc` of the lock.")]
            ///
            /// ```
            /// use std::{sync::Arc, time::{Duration, Instant}};
            ///
            /// let lock = Arc::new(turnstile::FairRwLock::new(1));
            #[doc = concat!("assert!(lock.", stringify!($arc_until), "(Instant::now() + Duration::from_millis(1)).is_some());")]
            /// ```
            #[track_caller]
            pub fn $arc_until(self: &Arc<Self>, deadline: Instant) -> Option<$ArcGuard<T, P>> {
                self.$arc_before(Some(deadline))
            }

            #[track_caller]
            fn $arc_before(self: &Arc<Self>, deadline: Option<Instant>) -> Option<$ArcGuard<T, P>> {
                if self.raw.$raw_wait(deadline) {
                    // SAFETY: we hold the lock when the raw lock says so.
                    Some(unsafe { $ArcGuard::new(Arc::clone(self)) })
                } else {
                    None
                }
            }
        }
    )*};
}

acquire_methods! {
    "a read lock", Read, RwLockReadGuard, ArcRwLockReadGuard, try_read, read, "lock.write()",
        [read, try_read, try_read_for, try_read_until, read_before],
        [read_arc, try_read_arc, try_read_arc_for, try_read_arc_until, read_arc_before];
    "a read lock for a thread that may hold one already: it enters beside other readers even \
     while writers wait, so that it cannot deadlock behind a writer that waits for its first read \
     (under the reader-preferring policy every read does that; under the others this passes \
     waiting writers, and may delay a waiting upgrade)",
        ReadRecursive, RwLockReadGuard, ArcRwLockReadGuard, try_read_recursive, read_recursive, "lock.write()",
        [read_recursive, try_read_recursive, try_read_recursive_for, try_read_recursive_until, read_recursive_before],
        [read_recursive_arc, try_read_recursive_arc, try_read_recursive_arc_for, try_read_recursive_arc_until, read_recursive_arc_before];
    "the upgradable read lock (beside readers; one at a time, and no writer)",
        Upgradable, RwLockUpgradableReadGuard, ArcRwLockUpgradableReadGuard, try_upgradable_read, upgradable_read, "lock.write()",
        [upgradable_read, try_upgradable_read, try_upgradable_read_for, try_upgradable_read_until, upgradable_read_before],
        [upgradable_read_arc, try_upgradable_read_arc, try_upgradable_read_arc_for, try_upgradable_read_arc_until, upgradable_read_arc_before];
    "the write lock, once every other holder has left and the policy lets this writer in",
        Write, RwLockWriteGuard, ArcRwLockWriteGuard, try_write, write, "lock.read()",
        [write, try_write, try_write_for, try_write_until, write_before],
        [write_arc, try_write_arc, try_write_arc_for, try_write_arc_until, write_arc_before];
}

impl<T: ?Sized, P: Policy> RwLock<T, P> {
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

    /// Whether a writer holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::WriterPrefRwLock::new(());
    /// let reader = lock.read();
    /// assert!(!lock.is_locked_exclusive());
    /// drop(reader);
    /// let writer = lock.write();
    /// assert!(lock.is_locked_exclusive());
    /// ```
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.raw.is_locked_exclusive()
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

    /// Releases a read lock without a guard: the other half of `mem::forget` of a read guard.
    ///
    /// # Safety
    /// The calling thread holds a read lock whose guard was forgotten, and releases it only here.
    ///
    /// ```
    /// let lock = turnstile::FairRwLock::new(0);
    /// std::mem::forget(lock.read());
    /// // SAFETY: read-locked above, and the guard forgotten.
    /// unsafe { lock.force_unlock_read() };
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub unsafe fn force_unlock_read(&self) {
        self_deadlock::released::<P::Backend>(held::word(&self.raw), P::NAME, Hold::Read);
        // SAFETY: passed on from the caller.
        unsafe { self.raw.unlock_read() }
    }

    /// Releases the write lock without a guard: the other half of `mem::forget` of a write guard.
    ///
    /// # Safety
    /// The calling thread holds the write lock, its guard was forgotten, and it is released only
    /// here.
    ///
    /// ```
    /// let lock = turnstile::ReaderPrefRwLock::new(0);
    /// std::mem::forget(lock.write());
    /// // SAFETY: write-locked above, and the guard forgotten.
    /// unsafe { lock.force_unlock_write() };
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub unsafe fn force_unlock_write(&self) {
        self_deadlock::released::<P::Backend>(held::word(&self.raw), P::NAME, Hold::Write);
        // SAFETY: passed on from the caller.
        unsafe { self.raw.unlock_write() }
    }

    pub(crate) fn raw(&self) -> &P {
        &self.raw
    }

    /// Before a blocking acquire: in debug builds, panics if this thread holds the lock so that
    /// the acquire would wait for itself (see `self_deadlock`); nothing in release builds.
    #[inline(always)]
    #[cfg_attr(debug_assertions, track_caller)]
    fn check_self_deadlock(&self, method: &'static str, want: Want) {
        let raw = &self.raw;
        self_deadlock::check::<P::Backend>(
            held::word(raw),
            P::NAME,
            method,
            want,
            P::READS_WAIT_FOR_WRITERS,
            |hold| {
                if hold == Hold::Write {
                    raw.is_locked_exclusive()
                } else {
                    raw.is_locked()
                }
            },
        );
    }

    /// How many writers wait for the lock, as the policy counts them. For loom models that need
    /// a writer to be waiting before a reader arrives; not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn queued_writers(&self) -> u32 {
        self.raw.queued_writers()
    }

    pub(crate) fn data(&self) -> &LockData<T, P::Backend> {
        &self.data
    }
}

impl<T: Default, P: ConstPolicy> Default for RwLock<T, P> {
    /// A lock around `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, P: ConstPolicy> From<T> for RwLock<T, P> {
    /// A lock around `value`.
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, P: Policy> fmt::Debug for RwLock<T, P> {
    /// Shows the data if a read lock can be had without waiting, `<locked>` otherwise; never
    /// blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.try_read();
        crate::guard::debug_lock(f, P::NAME, guard.as_deref())
    }
}
