//! The state machine each readers-writer policy implements, without the data.

use std::time::Instant;

use crate::backend::Backend;

/// A readers-writer lock's state machine, without the data: one per policy. Public in a private
/// module, so nameable (and implementable) only in this crate.
///
/// Three kinds of holder: readers (any number), one upgradable reader (beside readers, never
/// beside another upgradable reader or a writer), and one writer (alone).
///
/// # Safety
/// While a writer holds the lock nobody else holds it; readers and the upgradable reader hold it
/// only beside each other. Every release (unlocks, downgrades) is a Release that the next
/// acquirer's Acquire reads, so accesses under the lock are ordered.
pub unsafe trait RawRwLock: Sized + Send + Sync + 'static {
    /// The machine the lock runs on.
    type Backend: Backend;
    /// The name `Debug` shows.
    const NAME: &'static str;
    /// Whether a read waits for a writer that waits: then a thread that holds a read and reads
    /// again deadlocks once a writer queues in between (debug builds panic at the second read).
    const READS_WAIT_FOR_WRITERS: bool;

    /// A new, unlocked state.
    fn with_backend() -> Self;

    /// Takes a read lock if that needs no waiting.
    fn try_read(&self) -> bool;
    /// Takes a read lock, waiting until `deadline` at the latest; `false` if it passed.
    fn read(&self, deadline: Option<Instant>) -> bool;
    /// As `try_read`, entering beside other readers whatever waits.
    fn try_read_recursive(&self) -> bool;
    /// As `read`, entering beside other readers whatever waits.
    fn read_recursive(&self, deadline: Option<Instant>) -> bool;
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

    /// Takes the upgradable read lock if that needs no waiting.
    fn try_upgradable_read(&self) -> bool;
    /// Takes the upgradable read lock, waiting until `deadline` at the latest; `false` if it
    /// passed.
    fn upgradable_read(&self, deadline: Option<Instant>) -> bool;
    /// Releases the upgradable read lock.
    ///
    /// # Safety
    /// The caller holds the upgradable read lock, and gives it up here, once.
    unsafe fn unlock_upgradable(&self);
    /// Turns the caller's upgradable read lock into the write lock if no other reader holds it.
    ///
    /// # Safety
    /// The caller holds the upgradable read lock; on `true` it holds the write lock instead.
    unsafe fn try_upgrade(&self) -> bool;
    /// Turns the caller's upgradable read lock into the write lock, waiting until the other
    /// readers have left or `deadline` passed (`false`: it still holds the upgradable lock).
    ///
    /// # Safety
    /// As [`try_upgrade`](Self::try_upgrade).
    unsafe fn upgrade(&self, deadline: Option<Instant>) -> bool;
    /// Turns the caller's upgradable read lock into a plain read lock.
    ///
    /// # Safety
    /// The caller holds the upgradable read lock; afterwards it holds a read lock instead.
    unsafe fn downgrade_upgradable(&self);
    /// Turns the caller's write lock into the upgradable read lock, letting no writer in between.
    ///
    /// # Safety
    /// The caller holds the write lock; afterwards it holds the upgradable read lock instead.
    unsafe fn downgrade_to_upgradable(&self);

    /// Whether anybody holds the lock (a snapshot).
    fn is_locked(&self) -> bool;
    /// Whether a writer holds the lock (a snapshot).
    fn is_locked_exclusive(&self) -> bool;
    /// How many writers wait for the lock (see `RwLock::queued_writers`).
    #[cfg(feature = "loom")]
    fn queued_writers(&self) -> u32;
}
