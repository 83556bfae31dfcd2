//! [`ShmSafe`]: the promise that a type means the same thing in every process that maps it.

use core::sync::atomic::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
};

use crate::backend::ProcessShared;
use crate::{Mutex, Semaphore, SpinLock};

/// A type that may live in memory shared between processes: plain data.
///
/// Two processes that map one [`Region`](super::Region) see the same bytes at (usually)
/// different addresses, and each runs its own copy of the program. A value there is only sound
/// if those bytes mean the same to both. A `Vec<u8>` does not: its pointer leads into the heap of
/// the process that made it, and is garbage (or another object) in the other. Neither does a file
/// descriptor, a `Box`, a reference, or a lock whose sleepers are kept in one process's memory.
///
/// A [`Region`](super::Region) holds only `ShmSafe` types, and the process-shared locks
/// implement it only for `ShmSafe` data, so a lock around a `Vec` cannot be put in one:
///
/// ```compile_fail
/// use turnstile::shm::{self, Region};
/// // error: `Vec<u8>` is not `ShmSafe`, so neither is the mutex around it.
/// let r = Region::create("never", shm::Mutex::with_backend(Vec::<u8>::new()));
/// ```
///
/// Nor can a lock over the default backend, whose futex calls are private to one process:
///
/// ```compile_fail
/// use turnstile::{shm::Region, Mutex};
/// let r = Region::create("never", Mutex::new(0u64));
/// ```
///
/// # Safety
/// Implement it for your own `#[repr(C)]` structs (and `#[repr(C)]` or primitive-representation
/// enums without fields) whose fields are all `ShmSafe`. The implementor promises that the type:
/// * holds no pointer, reference, handle or other value that is only meaningful inside one
///   process, and no padding that its methods read;
/// * has a layout fixed by `#[repr(C)]` (or a primitive's), so that two builds agree on it;
/// * is `Sync` and needs no `Drop` (a region never runs destructors: the memory outlives every
///   process that maps it, and no one process owns the value);
/// * has every byte pattern a process that shares it can write be one it can read: the region
///   is written by the other processes too, and they are trusted to run the same program.
///
/// ```
/// use turnstile::shm::{self, ShmSafe};
///
/// #[repr(C)]
/// struct Ledger {
///     balance: shm::Mutex<i64>,
///     entries: shm::Semaphore,
/// }
/// // SAFETY: `#[repr(C)]`, and both fields are `ShmSafe`.
/// unsafe impl ShmSafe for Ledger {}
/// ```
pub unsafe trait ShmSafe: Sync {}

macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: a primitive: no pointers, a fixed layout, every bit pattern valid, no Drop.
        unsafe impl ShmSafe for $t {}
    )*};
}

plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, ());
plain!(AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicI8, AtomicI16, AtomicI32, AtomicI64);

// SAFETY: an array of plain data is plain data, laid out element after element.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}

// SAFETY: `CachePadded` is `#[repr(align)]` around its one field, which is `ShmSafe`.
unsafe impl<T: ShmSafe> ShmSafe for crossbeam_utils::CachePadded<T> {}

// SAFETY: `#[repr(C)]`: a `u32` word and the data, which is `ShmSafe`; the word is all the lock's
// state, and the `ProcessShared` backend's futex calls meet sleepers in any process.
unsafe impl<T: ShmSafe + Send> ShmSafe for Mutex<T, ProcessShared> {}

// SAFETY: `#[repr(C)]`: a `u32` word and the data, which is `ShmSafe`; it never sleeps.
unsafe impl<T: ShmSafe + Send> ShmSafe for SpinLock<T, ProcessShared> {}

// SAFETY: `#[repr(C)]`: two `u32` words (permits, sleepers), the whole state; the
// `ProcessShared` backend's futex calls meet sleepers in any process.
unsafe impl ShmSafe for Semaphore<ProcessShared> {}
