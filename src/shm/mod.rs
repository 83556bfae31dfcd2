//! Locks and semaphores in memory shared between processes (Linux).
//!
//! Shared memory is the fastest way for processes to talk, and is usually used together with
//! semaphores: one process maps a region, others map the same region, and semaphores in it order
//! their work (the classic "processes sharing memory guarded by semaphores"). This module is
//! that, made safe:
//!
//! * **The same algorithms, shared.** [`shm::Mutex`](Mutex), [`shm::SpinLock`](SpinLock) and
//!   [`shm::Semaphore`](Semaphore), made with `const fn new` as their in-process namesakes are,
//!   are the crate's `Mutex`, `SpinLock` and `Semaphore` over the [`ProcessShared`] backend
//!   (they dereference to them): the same model-checked code, whose futex calls leave out
//!   `FUTEX_PRIVATE_FLAG`, so the kernel finds sleepers by the physical page and a wake in one
//!   process reaches a sleeper in another.
//! * **What may be shared.** A [`Region`] holds only [`ShmSafe`] types: plain data with a fixed
//!   layout, no pointers into one process's memory and no invalid bit patterns, and the locks
//!   above around such data. `Region<shm::Mutex<Vec<u8>>>` does not compile; neither does a
//!   struct declared with [`shm_struct!`](crate::shm_struct) with a process-private lock in it.
//! * **A region with a header.** [`Region::create`] makes a named POSIX shared-memory object
//!   holding an initialised value; [`Region::open`] maps it in another process as `&T`, after
//!   waiting for the creator to finish, and refuses a region made for a type with another
//!   [`Layout`] (or by a build with another layout version) with a [`RegionError`]. The layout is
//!   the struct's name and its fields' names and types, not its Rust path, so two programs that
//!   declare the same struct share its regions.
//! * **A holder that dies.** [`RobustMutex`] records which process holds it. A waiter that has
//!   waited [`PROBE_INTERVAL`] checks whether the holder still runs; if it has certainly ended,
//!   the waiter takes the lock and is told so, `Err(OwnerDied(guard))`, so it can repair the
//!   data. Where that cannot be known (another pid namespace, no `/proc`) it waits on.
//!
//! ```
//! use std::time::Duration;
//! use turnstile::shm::{self, Region};
//!
//! turnstile::shm_struct! {
//!     struct Mailbox {
//!         full: shm::Semaphore,
//!         letter: shm::Mutex<[u8; 16]>,
//!     }
//! }
//!
//! let name = format!("turnstile-doc-mailbox-{}", std::process::id());
//! let mine = Region::create(
//!     &name,
//!     Mailbox { full: shm::Semaphore::new(0), letter: shm::Mutex::new([0; 16]) },
//! )
//! .unwrap();
//!
//! // In another process (started with the name), which declares the same `Mailbox`:
//! let theirs = Region::<Mailbox>::open(&name, Duration::from_secs(1)).unwrap();
//! theirs.letter.lock()[..5].copy_from_slice(b"hello");
//! theirs.full.add_permits(1); // V(full)
//!
//! mine.full.acquire().forget(); // P(full)
//! assert_eq!(&mine.letter.lock()[..5], b"hello");
//! # drop((mine, theirs));
//! Region::<Mailbox>::unlink(&name).unwrap();
//! ```
//!
//! # Layout
//!
//! Every type that may be shared is `#[repr(C)]`, so that two builds lay it out alike:
//!
//! | type | bytes | layout |
//! |------|-------|--------|
//! | [`Mutex<T>`](Mutex) | 4 + `T` | `u32` lock word at 0 (see [`crate::mutex`]), `T` at 4 rounded up to its alignment |
//! | [`SpinLock<T>`](SpinLock) | 4 + `T` | `u32` lock word at 0, then `T` as above |
//! | [`Semaphore`] | 8 | `u32` permits at 0, `u32` sleepers at 4 |
//! | [`RobustMutex<T>`](RobustMutex) | 24 + `T` | `u64` owner at 0, `u32` wake sequence at 8, `u32` sleepers at 12, `u64` home namespace at 16, `T` at 24 rounded up |
//! | [`Region`] header | 256 | magic, version, size, alignment, [`Layout`] hash and text (see [`Region`]); the value follows |
//!
//! # What is not here
//!
//! * **[`Condvar`](crate::Condvar)** keeps the address of the mutex its waiters use, to catch
//!   two mutexes used with one condition variable. Two processes map the same mutex at different
//!   addresses, so that check (and the requeue that relies on it being one mutex) would be wrong
//!   across processes. Use semaphores to say "the state changed", as the classic bounded
//!   buffer does: its `empty` and `full` (see `examples/shared_memory_ipc.rs`).
//! * **Readers-writer locks** are not offered shared yet (their words would work, but they are
//!   not `#[repr(C)]` and are untested across processes).
//! * **Other systems.** Elsewhere the crate sleeps through `parking_lot_core`, whose queues live
//!   in one process; [`ProcessShared`] and this module exist only on Linux, so code that uses
//!   them does not compile elsewhere.

mod layout;
mod locks;
mod plain;
pub(crate) mod process;
mod region;
mod robust;

#[cfg(doc)]
use crate::backend::ProcessShared;

pub use layout::{Field, Layout};
pub use locks::{Mutex, Semaphore, SpinLock};
pub use plain::ShmSafe;
pub use region::{Region, RegionError, RegionShape, LAYOUT_VERSION};
pub use robust::{OwnerDied, RobustMutex, RobustMutexGuard, PROBE_INTERVAL};
