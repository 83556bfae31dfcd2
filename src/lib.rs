//! Synchronization primitives built from first principles and model-checked with loom.
//!
//! Every primitive here is the textbook algorithm done carefully: the uncontended path is one
//! atomic read-modify-write and no system call, waiting threads sleep on a futex (Linux) or on
//! `parking_lot_core` (elsewhere), and the same algorithm code is what the loom models check
//! (see [`backend`]).
//!
//! | primitive | algorithm | waiting | policy |
//! |-----------|-----------|---------|--------|
//! | [`SpinLock`] | test-and-test-and-set, exponential backoff | spins, then yields | unfair |
//! | [`Peterson`] | Peterson 1981, two parties | spins, then yields | fair between its two parties |
//! | [`Mutex`] | futex mutex counting its sleepers (after Drepper) | short spin, yields, then sleeps | barging; a sleeper overtaken after 0.5 ms is handed the lock |
//! | [`FairMutex`] | [`Mutex`] released with `unlock_fair` every time | as `Mutex` | first come, first served: every release hands the lock to the oldest waiter |
//! | [`ReentrantMutex`] | [`Mutex`]'s word + the holder's thread id + a count of its holds | as `Mutex`; the holder's nested `lock` never waits | as `Mutex` |
//! | [`Once`] | one futex word: new, running, running with sleepers, poisoned, done | sleeps | one closure runs, every other caller waits for it (poisons on panic) |
//! | [`Semaphore`] | counting semaphore (Dijkstra's P and V) over a futex | short spin, then sleeps | unfair (barging) |
//! | [`Condvar`] | notify counter + waiter/token counts, `notify_all` requeues onto the mutex | sleeps | Mesa; one `notify_one` wakes at least one waiter |
//! | [`ReaderPrefRwLock`] | readers count + waiting-writer count in one word, writers sleep apart | short spin, then sleeps | readers first (writers can starve) |
//! | [`WriterPrefRwLock`] | the same state machine, the other preference | short spin, then sleeps | a waiting writer before later readers (readers can starve) |
//! | [`FairRwLock`] | one state word; the wait queue is its line, and a release hands the lock to its head | short spin while nobody waits, then queues | FIFO, consecutive readers together |
//! | [`shm::RobustMutex`] (Linux) | owner (pid + start time) in a 64-bit word, waiters sleep on a wake sequence | short spin, then sleeps; probes the holder every 10 ms | barging; a dead holder's lock goes to a waiter, told `OwnerDied` |
//! | [`Monitor`] | state + [`Mutex`] + named [`Condvar`]s (Hoare/Brinch Hansen, Mesa signals) | sleeps | as `Mutex` and `Condvar` |
//!
//! On Linux, [`shm`] puts `Mutex`, `SpinLock` and `Semaphore` (over the
//! [`ProcessShared`](backend::ProcessShared) backend) and `RobustMutex` in memory shared between
//! processes, inside a [`shm::Region`] whose header says what it holds.
//!
//! Locks do not poison: a panic inside a critical section releases the lock on unwind and
//! leaves the data as the panicking code left it. That is why, like parking_lot's, the locks
//! are not `RefUnwindSafe` (std's earn it by poisoning): code that catches a panic while sharing
//! a lock says it has thought about half-updated data with
//! `std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ...))`.
//!
//! ```
//! use std::panic::{catch_unwind, AssertUnwindSafe};
//! use turnstile::Mutex;
//!
//! let lock = Mutex::new(vec![1]);
//! let result = catch_unwind(AssertUnwindSafe(|| {
//!     lock.lock().push(2);
//!     panic!("half-way");
//! }));
//! assert!(result.is_err());
//! assert_eq!(*lock.lock(), [1, 2]); // released, data as the panic left it
//! ```
//!
//! ```
//! use turnstile::{Mutex, SpinLock};
//!
//! static TOTAL: Mutex<u64> = Mutex::new(0);
//! static LAST: SpinLock<Option<u64>> = SpinLock::new(None);
//!
//! std::thread::scope(|s| {
//!     for i in 1..=4 {
//!         s.spawn(move || {
//!             *TOTAL.lock() += i;
//!             *LAST.lock() = Some(i);
//!         });
//!     }
//! });
//! assert_eq!(*TOTAL.lock(), 10);
//! assert!(LAST.lock().is_some());
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod backoff;
pub mod condvar;
mod guard;
#[cfg(feature = "lock_api")]
mod interop;
pub mod lock;
mod machine;
pub mod monitor;
pub mod mutex;
pub mod once;
pub mod peterson;
pub mod reentrant;
pub mod rwlock;
mod self_deadlock;
pub mod semaphore;
#[cfg(target_os = "linux")]
pub mod shm;
pub mod spin;

pub use machine::backend;
pub(crate) use machine::wait;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use guard::{ArcLockGuard, LockGuard, MappedLockGuard};
#[cfg(feature = "lock_api")]
pub use interop::{RawFairRwLock, RawMutex, RawReaderPrefRwLock, RawSpinLock, RawWriterPrefRwLock};
pub use lock::{Lock, TimedLock};
pub use monitor::{Condition, Monitor, MonitorGuard};
pub use mutex::{
    ArcFairMutexGuard, ArcMutexGuard, FairMutex, FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard,
    Mutex, MutexGuard,
};
pub use once::{Once, OnceState};
pub use peterson::{Peterson, PetersonGuard, PetersonHandle};
pub use reentrant::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{
    FairRwLock, MappedRwLockReadGuard, MappedRwLockWriteGuard, ReaderPrefRwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard, WriterPrefRwLock,
};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// A readers-writer lock with the default policy, [`WriterPrefRwLock`]: the drop-in for
/// `std::sync::RwLock` and `parking_lot::RwLock`, so that `RwLock::new(x)` needs no annotation
/// and the guard types ([`RwLockReadGuard`], [`RwLockWriteGuard`], ...) need no policy.
///
/// Why writer-preferring: once a writer waits, new readers wait behind it, which is what std's
/// `RwLock` does on Linux and what parking_lot's does too (parking_lot adds eventual fairness);
/// so code written for either keeps its behaviour, and a stream of readers cannot keep a writer
/// out. It was also the fastest of the three policies in the crate's benchmarks (BENCHMARKS.md,
/// "Readers-writer locks"). Choose [`ReaderPrefRwLock`] or [`FairRwLock`] by name for the
/// other policies (see [`rwlock`]).
///
/// ```
/// use turnstile::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
///
/// static ROUTES: RwLock<Vec<&str>> = RwLock::new(Vec::new());
///
/// fn first<'a>(routes: &'a RwLock<Vec<&'static str>>) -> Option<MappedRwLockReadGuard<'a, &'static str>> {
///     RwLockReadGuard::try_map(routes.read(), |all| all.first()).ok()
/// }
/// ROUTES.write().push("/");
/// assert_eq!(first(&ROUTES).as_deref(), Some(&"/"));
/// ```
pub type RwLock<T> = rwlock::RwLock<T, rwlock::WriterPref>;
pub use spin::{ArcSpinLockGuard, MappedSpinLockGuard, SpinLock, SpinLockGuard};

/// Runs the README's Rust examples as doc tests, so the front page cannot go stale.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
