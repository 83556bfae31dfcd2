//! [`ShmSafe`]: the promise that a type means the same thing in every process that maps it.

use core::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
    AtomicUsize,
};

use super::Layout;
use crate::backend::ProcessShared;
use crate::{Mutex, Semaphore, SpinLock};

/// A type that may live in memory shared between processes: plain data in which every bit
/// pattern is valid, and the process-shared locks around such data.
///
/// Two processes that map one [`Region`](super::Region) see the same bytes at (usually)
/// different addresses, and each runs its own program. A value there is only sound if those
/// bytes mean the same to both. A `Vec<u8>` does not: its pointer leads into the heap of the
/// process that made it, and is garbage (or another object) in the other. Neither does a file
/// descriptor, a `Box`, a reference, or a lock whose sleepers are kept in one process's memory.
///
/// A [`Region`](super::Region) holds only `ShmSafe` types, and the process-shared locks
/// implement it only for `ShmSafe` data, so a lock around a `Vec` cannot be put in one:
///
/// ```compile_fail
/// use turnstile::shm::{self, Region};
/// // error: `Vec<u8>` is not `ShmSafe`, so neither is the mutex around it.
/// let r = Region::create("never", shm::Mutex::new(Vec::<u8>::new()));
/// ```
///
/// Nor can a lock over the default backend, whose futex calls are private to one process:
///
/// ```compile_fail
/// use turnstile::{shm::Region, Mutex};
/// let r = Region::create("never", Mutex::new(0u64));
/// ```
///
/// **Every bit pattern is valid** (the property bytemuck calls `AnyBitPattern`). A region's
/// bytes are written by other processes, which may run another program, and a region of another
/// type can pass for this one if both are given the same [`Layout`] (see there what the check
/// catches). So a `ShmSafe` type must be one that no bytes can make invalid: integers, floats,
/// atomic integers, `()`, arrays and `#[repr(C)]` structs of them, and the crate's
/// process-shared locks (any value of their words is a state they handle: at worst a lock that
/// looks held or a count that looks large, never undefined behaviour). Not `bool`, `char`,
/// `AtomicBool`, references, `NonZero*`, or enums, fieldless or not: each has bit patterns that
/// are undefined behaviour to read. Store a `u8` and compare it, or an `AtomicU8`.
///
/// **Implement it** with [`shm_struct!`](crate::shm_struct), which declares a `#[repr(C)]`
/// struct, checks at compile time that every field is `ShmSafe`, and states its [`Layout`]:
///
/// ```
/// use turnstile::shm::{self, ShmSafe};
///
/// turnstile::shm_struct! {
///     struct Ledger {
///         balance: shm::Mutex<i64>,
///         entries: shm::Semaphore,
///     }
/// }
/// assert_eq!(Ledger::LAYOUT.to_string(), "Ledger { balance: Mutex<i64>, entries: Semaphore }");
/// ```
///
/// # Safety
/// A hand-written impl (for a generic or tuple struct, which the macro does not take, or to
/// state a [`Layout`] of your own) promises that the type:
/// * is valid for every bit pattern of its size, including after another process wrote it:
///   every field is `ShmSafe`, or a type you have checked has no invalid bit patterns;
/// * holds no pointer, reference, handle or other value that is only meaningful inside one
///   process;
/// * has a layout fixed by `#[repr(C)]` (or a primitive's), so that two builds agree on it;
/// * is `Sync` and needs no `Drop` (a region never runs destructors: the memory outlives every
///   process that maps it, and no one process owns the value);
/// * has a [`LAYOUT`](Self::LAYOUT) that describes it: [`Layout::repr_c`] with every field, in
///   order, each with its type's `LAYOUT`. A description shared with a different type makes the
///   two open each other's regions: wrong values, but (by the first promise) never invalid ones.
///
/// ```
/// use turnstile::shm::{self, Field, Layout, ShmSafe};
///
/// #[repr(C)]
/// struct Slot<T> {
///     ready: shm::Semaphore,
///     value: shm::Mutex<T>,
/// }
///
/// // SAFETY: `#[repr(C)]`; both fields are `ShmSafe` (so every bit pattern is valid, no
/// // pointers, `Sync`), listed in order in the layout; no `Drop`.
/// unsafe impl<T: ShmSafe + Send> ShmSafe for Slot<T> {
///     const LAYOUT: &'static Layout = &Layout::repr_c::<Self>(
///         "Slot",
///         &[
///             Field::new("ready", <shm::Semaphore as ShmSafe>::LAYOUT),
///             Field::new("value", <shm::Mutex<T> as ShmSafe>::LAYOUT),
///         ],
///     );
/// }
///
/// assert_eq!(Slot::<u64>::LAYOUT.to_string(), "Slot { ready: Semaphore, value: Mutex<u64> }");
/// ```
pub unsafe trait ShmSafe: Sync {
    /// What the type is, as every program that shares it can state: a [`Region`](super::Region)
    /// for this type opens only a region made for a type with the same layout.
    const LAYOUT: &'static Layout;
}

macro_rules! plain {
    ($($t:ident),* $(,)?) => {$(
        // SAFETY: a primitive: no pointers, a fixed layout, every bit pattern valid, no Drop.
        unsafe impl ShmSafe for $t {
            const LAYOUT: &'static Layout = &Layout::named::<$t>(stringify!($t));
        }
    )*};
}

plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
plain!(
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize
);

// SAFETY: zero bytes: the one bit pattern there is is valid.
unsafe impl ShmSafe for () {
    const LAYOUT: &'static Layout = &Layout::named::<()>("()");
}

// SAFETY: an array of plain data is plain data, laid out element after element.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const LAYOUT: &'static Layout = &Layout::array::<Self>(T::LAYOUT, N);
}

// SAFETY: `CachePadded` is `#[repr(align)]` around its one field, which is `ShmSafe`; its padding
// is never read.
unsafe impl<T: ShmSafe> ShmSafe for crossbeam_utils::CachePadded<T> {
    const LAYOUT: &'static Layout = &Layout::wrapper::<Self>("CachePadded", T::LAYOUT);
}

// Every value of the word is one the lock handles: a garbage word may look held, or count
// sleepers that do not exist (a wait or a spurious wake, never undefined behaviour).
// SAFETY: `#[repr(C)]`: a `u32` word, all the lock's state, and the `ShmSafe` data; the
// `ProcessShared` backend's futex calls meet sleepers in any process.
unsafe impl<T: ShmSafe + Send> ShmSafe for Mutex<T, ProcessShared> {
    const LAYOUT: &'static Layout = &Layout::wrapper::<Self>("Mutex", T::LAYOUT);
}

// SAFETY: `#[repr(C)]`: a `u32` word and the data, which is `ShmSafe`; it never sleeps, and any
// nonzero word reads as held.
unsafe impl<T: ShmSafe + Send> ShmSafe for SpinLock<T, ProcessShared> {
    const LAYOUT: &'static Layout = &Layout::wrapper::<Self>("SpinLock", T::LAYOUT);
}

// SAFETY: `#[repr(C)]`: two `u32` words (permits, sleepers), the whole state, each valid at any
// value; the `ProcessShared` backend's futex calls meet sleepers in any process.
unsafe impl ShmSafe for Semaphore<ProcessShared> {
    const LAYOUT: &'static Layout = &Layout::named::<Self>("Semaphore");
}
