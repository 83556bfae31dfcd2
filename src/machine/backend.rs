//! The seam between the algorithms and the machine they run on.
//!
//! Every primitive in this crate is written once, generic over a [`Backend`] that supplies the
//! few things an algorithm touches: a 32-bit atomic word, a futex-style `wait`/`wake` on that
//! word (optionally masked, so a wake can pick among the sleepers), a spin hint, and a *tracker* that can watch accesses to the protected data.
//!
//! * [`Real`] is the default: `std` atomics and the operating system's futex (see the `wait`
//!   module). Its tracker is a zero-sized type, so it costs nothing.
//! * [`ProcessShared`] (Linux) is `Real` with futex calls that reach other processes, for locks
//!   in shared memory (see [`shm`](crate::shm)).
//! * `Loom` (with the `loom` feature) runs the very same algorithm code over loom's atomics and a
//!   modelled futex, so that `loom` can explore every interleaving. A wait that nobody wakes is a
//!   loom deadlock, which is how a lost wakeup shows up in a model.
//!
//! The backend is a defaulted type parameter, the way `HashMap<K, V, S = RandomState>` treats its
//! hasher: `turnstile::Mutex<T>` means `Mutex<T, Real>`, `Mutex::new` is a `const fn` defined
//! only for `Real`, and code that does not name the parameter never sees it. Turning on the
//! `loom` feature only *adds* the loom backend; it changes nothing for the default one.
//!
//! **Checking your own code.** A crate built on these primitives can have loom check it over this
//! very code, not over mocks: name its locks through aliases that pick the backend by `cfg`
//! (`type Backend = Real` normally, `Loom` under `RUSTFLAGS="--cfg loom"`, with turnstile's
//! `loom` feature turned on for that cfg), build them with `with_backend`
//! ([`Mutex::with_backend`](crate::Mutex::with_backend),
//! [`Condvar::with_backend`](crate::Condvar::with_backend), ...), and run its models inside
//! `loom::model`. The README's "Checking your own code with loom" has the recipe and its limits;
//! `downstream-loom/` in the repository is a crate that follows it.
//!
//! The trait is sealed: the primitives' safety rests on the backend's atomics being atomic, so
//! only this crate implements it.
//!
//! ```
//! use turnstile::{backend::Real, Mutex};
//!
//! // These two name the same type.
//! let a: Mutex<u32> = Mutex::new(1);
//! let b: Mutex<u32, Real> = a;
//! assert_eq!(b.into_inner(), 1);
//! ```

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[doc(hidden)]
pub use super::queue::models as queue_models;
use super::queue::{self, Pick, QueueFaults, Requeue, Slot};
pub use super::queue::{Parked, Unparked};

/// A word's address: the key its waiters queue under.
#[inline]
fn address<W>(word: &W) -> usize {
    word as *const W as usize
}

#[cfg(feature = "loom")]
pub use super::loom_backend::{
    BlindWait, CheckThenSet, CheckThenSetCas, Fault, ForgetfulWake, HastyProbe, ImmortalOwner, Lifo, Loom,
    LoomWord, LoomWord64, LostRequeue, NamespaceBlind, NoRelease, Patient, PatientForgetfulWake,
    PatientNoRelease, PickedTimesOut, PidOnly, PlainLook, SharedForgetfulWake, SharedMemory, SharedPlainLook,
    SharedUnsliced, SharedUnslicedNoRelease, Sound, StaleMore, SwallowedWake, Tracker, Unprobed,
    UnprobedPlainLook, ValidateUnlocked,
};

/// A 32-bit atomic word with the operations the algorithms use: the std `AtomicU32` API.
///
/// Implemented by `std`'s [`AtomicU32`] and, with the `loom` feature, by the loom backend's word.
///
/// ```
/// use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
/// use turnstile::backend::Word;
///
/// let w = <AtomicU32 as Word>::new(1);
/// assert_eq!(Word::swap(&w, 2, Ordering::AcqRel), 1);
/// ```
pub trait Word: Send + Sync + sealed::Sealed {
    /// A new word holding `value`.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::load(&w, Relaxed), 5);
    /// ```
    fn new(value: u32) -> Self;
    /// Reads the value.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::load(&w, Acquire), 5);
    /// ```
    fn load(&self, order: Ordering) -> u32;
    /// Writes `value`.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// Word::store(&w, 6, Release);
    /// assert_eq!(Word::load(&w, Relaxed), 6);
    /// ```
    fn store(&self, value: u32, order: Ordering);
    /// Writes `value`, returning the old value, in one step.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::swap(&w, 6, AcqRel), 5);
    /// ```
    fn swap(&self, value: u32, order: Ordering) -> u32;
    /// Writes `new` if the value is `current`; `Ok(old)` if it did, `Err(actual)` if not.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::compare_exchange(&w, 5, 6, Acquire, Relaxed), Ok(5));
    /// assert_eq!(Word::compare_exchange(&w, 5, 7, Acquire, Relaxed), Err(6));
    /// ```
    fn compare_exchange(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32>;
    /// Adds `value` (wrapping), returning the old value.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::fetch_add(&w, 2, AcqRel), 5);
    /// assert_eq!(Word::load(&w, Relaxed), 7);
    /// ```
    fn fetch_add(&self, value: u32, order: Ordering) -> u32;
    /// Subtracts `value` (wrapping), returning the old value.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::fetch_sub(&w, 2, AcqRel), 5);
    /// assert_eq!(Word::load(&w, Relaxed), 3);
    /// ```
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32;
    /// Sets the bits of `value`, returning the old value.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(0b01);
    /// assert_eq!(Word::fetch_or(&w, 0b10, AcqRel), 0b01);
    /// assert_eq!(Word::load(&w, Relaxed), 0b11);
    /// ```
    fn fetch_or(&self, value: u32, order: Ordering) -> u32;
    /// Keeps only the bits of `value`, returning the old value.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(0b11);
    /// assert_eq!(Word::fetch_and(&w, 0b10, AcqRel), 0b11);
    /// assert_eq!(Word::load(&w, Relaxed), 0b10);
    /// ```
    fn fetch_and(&self, value: u32, order: Ordering) -> u32;
    /// Reads the latest value in the word's modification order, as a read-modify-write that
    /// writes the value back unchanged (`fetch_add(0, order)`).
    ///
    /// This is the "look" half of a "publish, then look" handshake, where each of two threads
    /// writes one word and then reads the other's. A plain load may read an older value, so both
    /// could miss each other's write (a lost wakeup). An RMW cannot: with `order` `AcqRel`, either
    /// it comes after the other side's publishing RMW (an `Acquire` one) in the word's order and
    /// reads it, or the other side's RMW reads ours, synchronizes with our Release half, and so
    /// sees what we published before it. Loom models exactly this, so a model checks the orderings
    /// that run; no fence is involved on either machine.
    ///
    /// ```
    /// # use core::sync::atomic::{AtomicU32, Ordering::*};
    /// # use turnstile::backend::Word;
    /// let w = <AtomicU32 as Word>::new(5);
    /// assert_eq!(Word::read_latest(&w, AcqRel), 5);
    /// assert_eq!(Word::load(&w, Relaxed), 5);
    /// ```
    fn read_latest(&self, order: Ordering) -> u32;
}

/// What an algorithm needs from the machine. Sealed; see the [module docs](self).
///
/// ```
/// use turnstile::backend::{Backend, Real, Word};
/// use core::sync::atomic::Ordering;
///
/// let word = <Real as Backend>::Word::new(0);
/// // The value is not 7, so the wait returns at once instead of sleeping.
/// assert!(Real::wait(&word, 7, None));
/// assert_eq!(word.load(Ordering::Relaxed), 0);
/// ```
pub trait Backend: Sized + Send + Sync + 'static + sealed::Sealed {
    /// The atomic word every lock state lives in (and the futex word threads sleep on).
    type Word: Word;
    /// Watches accesses to a lock's data; zero-sized for [`Real`].
    type Tracker: Send + Sync;
    /// Held by a guard for as long as it gives out `&mut T`.
    type Exclusive;
    /// Held by a guard for as long as it gives out `&T` beside other such guards (a read lock).
    type Shared;

    /// Whether each of the backend's threads is an OS thread of its own, so that a thread-local
    /// tells them apart (debug builds' record of held locks relies on it): `true` for the real
    /// machine, `false` for loom, which runs a model's threads on one OS thread.
    const OS_THREADS: bool = true;
    /// How many pauses the semaphore and the readers-writer locks spin, re-reading their word
    /// after each, before they sleep.
    const SPIN_PAUSES: u32;
    /// How many rounds of pauses (2, 4, 8, …) the mutex spins before it yields.
    const SPIN_ROUNDS: u32;
    /// How many times the mutex then yields the CPU before it sleeps.
    const YIELD_ROUNDS: u32;
    /// How long a sleeping waiter may be overtaken before unlocks hand the lock straight to a
    /// sleeper (see [`Mutex`](crate::Mutex)'s eventual fairness). Zero means the backend has no
    /// clock: see [`FAIRNESS_OVERTAKES`](Self::FAIRNESS_OVERTAKES).
    const FAIRNESS_BOUND: Duration;
    /// On a backend without a clock (`FAIRNESS_BOUND` zero: loom), how many times a sleeper is
    /// overtaken (wakes to find the lock taken) before it counts as starved. Unused elsewhere.
    const FAIRNESS_OVERTAKES: u32;
    /// How long a counted mutex sleeper sleeps at most before it looks at the lock word again,
    /// woken or not. `None` (sleep until woken) where a counted sleeper cannot vanish: the
    /// threads of one process. `Some` between processes, where a waiter killed after it counted
    /// itself, or after a wake picked it, must not strand the others; it also switches the
    /// mutex to the policy for waiters that may vanish (see the [mutex docs](crate::mutex)).
    const SLEEP_SLICE: Option<Duration>;
    /// How many doubling rounds of pauses a lock that never sleeps spins before it starts
    /// yielding the CPU.
    const SNOOZE_ROUNDS: u32;
    /// Whether a semaphore waits as the mutex does (spin, then yield, then sleep) instead of
    /// spinning [`SPIN_PAUSES`](Self::SPIN_PAUSES) and sleeping. Between processes the thread a
    /// waiter waits for is often on the same core, and only a yield lets it run (see
    /// [`ProcessShared`]).
    const SEMAPHORE_YIELDS: bool;

    /// A new tracker (the `const` constructors of [`Real`] types build theirs directly).
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// let tracker = Real::tracker();
    /// assert_eq!(core::mem::size_of_val(&tracker), 0);
    /// ```
    fn tracker() -> Self::Tracker;
    /// Records the start of an exclusive access; it ends when the token is dropped.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// let tracker = Real::tracker();
    /// let access = Real::exclusive(&tracker); // a no-op for the real machine
    /// drop(access);
    /// ```
    fn exclusive(tracker: &Self::Tracker) -> Self::Exclusive;
    /// Records the start of a shared (read-only) access; it ends when the token is dropped.
    /// Shared accesses may overlap each other, but not an exclusive one.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real};
    /// let tracker = Real::tracker();
    /// let (a, b) = (Real::shared(&tracker), Real::shared(&tracker)); // no-ops here
    /// drop((a, b));
    /// ```
    fn shared(tracker: &Self::Tracker) -> Self::Shared;

    /// Sleeps while `*word == expected`, until woken or until `deadline`.
    ///
    /// Returns `false` only when the deadline passed; `true` means "may have been woken"
    /// (a wake, a changed value, or a spurious return): callers re-check their condition.
    /// The check of the value and the going to sleep are atomic with respect to
    /// [`wake_one`](Self::wake_one), so a wake that follows a change of the word is never lost.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// use std::time::{Duration, Instant};
    ///
    /// let word = <Real as Backend>::Word::new(0);
    /// // Nobody changes the word or wakes us: the wait times out.
    /// assert!(!Real::wait(&word, 0, Some(Instant::now() + Duration::from_millis(1))));
    /// ```
    #[inline]
    fn wait(word: &Self::Word, expected: u32, deadline: Option<Instant>) -> bool {
        Self::wait_masked(word, expected, crate::wait::ALL, deadline)
    }
    /// As [`wait`](Self::wait), for a sleeper that only wakes whose mask shares a bit with
    /// `mask` (nonzero) can reach: `FUTEX_WAIT_BITSET`. Waiters of one word that wait for
    /// different things sleep under different bits, so a wake can pick whose turn it is.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(1);
    /// assert!(Real::wait_masked(&word, 0, 0b10, None)); // the word is not 0: no sleep
    /// ```
    #[inline]
    fn wait_masked(word: &Self::Word, expected: u32, mask: u32, deadline: Option<Instant>) -> bool {
        Self::park(word, expected, mask, deadline, |_| {}) != Parked::TimedOut
    }
    /// Wakes one thread waiting on `word`; returns how many were woken, where the OS says.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// use std::sync::Arc;
    ///
    /// let word = Arc::new(<Real as Backend>::Word::new(0));
    /// let sleeper = {
    ///     let word = Arc::clone(&word);
    ///     std::thread::spawn(move || while word.load(Acquire) == 0 { Real::wait(&word, 0, None); })
    /// };
    /// word.store(1, Release); // change the word first, then wake
    /// Real::wake_one(&word);
    /// sleeper.join().unwrap();
    /// ```
    #[inline]
    fn wake_one(word: &Self::Word) -> usize {
        Self::wake_masked(word, crate::wait::ALL, 1)
    }
    /// Wakes up to `count` threads waiting on `word`; returns how many were woken.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(0);
    /// assert_eq!(Real::wake_many(&word, 3), 0); // nobody sleeps on it
    /// ```
    #[inline]
    fn wake_many(word: &Self::Word, count: usize) -> usize {
        Self::wake_masked(word, crate::wait::ALL, count)
    }
    /// Wakes every thread waiting on `word`; returns how many were woken, where the OS says.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// let word = <Real as Backend>::Word::new(0);
    /// assert_eq!(Real::wake_all(&word), 0); // nobody sleeps on it
    /// ```
    #[inline]
    fn wake_all(word: &Self::Word) -> usize {
        Self::wake_masked(word, crate::wait::ALL, usize::MAX)
    }
    /// Wakes up to `count` threads waiting on `word` whose mask shares a bit with `mask`
    /// (`FUTEX_WAKE_BITSET`); returns how many were woken.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(0);
    /// assert_eq!(Real::wake_masked(&word, 0b10, usize::MAX), 0); // nobody sleeps on it
    /// ```
    #[inline]
    fn wake_masked(word: &Self::Word, mask: u32, count: usize) -> usize {
        Self::unpark(word, mask, count, |_| 0).woken
    }
    /// If `from` still holds `expected`, moves every thread sleeping on `from` to sleep on `to`
    /// instead, waking none, and returns how many moved; `None` if the value differed.
    ///
    /// This is `FUTEX_CMP_REQUEUE` (or `parking_lot_core::unpark_requeue`): a condition
    /// variable's `notify_all` hands its sleepers to the mutex, which then wakes them one at a
    /// time as it is unlocked, instead of waking them all to fight over it. The caller must make
    /// sure that whoever unlocks `to` will wake its sleepers.
    ///
    /// Where the kernel refuses the requeue outright (a seccomp filter answering `ENOSYS` or
    /// `EPERM`), the sleepers of `from` are woken instead of moved, and the count woken is
    /// returned: `None` means only that `from` no longer held `expected`, which a retry with the
    /// new value fixes.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let (from, to) = (<Real as Backend>::Word::new(1), <Real as Backend>::Word::new(0));
    /// assert_eq!(Real::requeue(&from, 1, &to), Some(0)); // nobody sleeps on `from`
    /// assert_eq!(Real::requeue(&from, 2, &to), None); // `from` holds 1, not 2
    /// ```
    fn requeue(from: &Self::Word, expected: u32, to: &Self::Word) -> Option<usize> {
        if !Self::QUEUED {
            return Self::futex_requeue(from, expected, to);
        }
        // Relaxed: the bucket locks order the comparison with every park on `from`, as the
        // kernel's lock orders `FUTEX_CMP_REQUEUE`'s.
        let decide = || if from.load(Relaxed) == expected { Requeue::MoveAll } else { Requeue::Abort };
        let mut matched = false;
        let done = queue::requeue::<Self>(address(from), address(to), decide, |op, _| {
            matched = op != Requeue::Abort;
            0
        });
        matched.then_some(done.moved)
    }

    /// Queues the calling thread on `word` if it holds `expected`, and sleeps until an
    /// [`unpark`](Self::unpark) picks it or `deadline` passes. `park_token` (nonzero) is the mask
    /// that wakes must meet. `timed_out(more)` runs when the thread gives up at its deadline,
    /// with whether other threads still wait on `word`.
    ///
    /// Where [`QUEUED`](Self::QUEUED) (the threads of one process), this is the crate's own wait
    /// queue: the answer is exact, a return is never spurious, and the token is the one the
    /// waker's callback chose. Otherwise it is the kernel's futex on `word` itself: a return may
    /// be spurious (`Woken(0)`, no token), and `timed_out` hears `true` ("others may wait").
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// use turnstile::backend::Parked;
    ///
    /// let word = <Real as Backend>::Word::new(1);
    /// assert_eq!(Real::park(&word, 0, 1, None, |_| {}), Parked::Invalid); // it holds 1, not 0
    /// ```
    #[doc(hidden)]
    fn park(
        word: &Self::Word,
        expected: u32,
        park_token: u32,
        deadline: Option<Instant>,
        timed_out: impl FnOnce(bool),
    ) -> Parked {
        if Self::QUEUED {
            // Relaxed: the bucket lock orders the check with every unpark, which a waker makes
            // after it changed the word.
            let validate = || word.load(Relaxed) == expected;
            return queue::park::<Self>(address(word), validate, park_token, deadline, timed_out);
        }
        // Relaxed: the kernel re-reads the word under its own lock.
        if word.load(Relaxed) != expected {
            return Parked::Invalid;
        }
        if Self::futex_wait(word, expected, park_token, deadline) {
            Parked::Woken(0)
        } else {
            timed_out(true);
            Parked::TimedOut
        }
    }

    /// Wakes up to `count` threads parked on `word` whose park token meets `mask`, oldest first.
    /// `callback` runs before anyone is woken and returns the token they get; it learns how many
    /// were picked, whether others still wait, and whether this unpark should be fair.
    ///
    /// Where [`QUEUED`](Self::QUEUED) the callback runs under the queue's lock and its answers
    /// are exact. Otherwise (the kernel's futex) it runs before the wake with `woken: count`
    /// (an upper bound), `more: true` and `fair: false`, and the token is lost; the value
    /// returned has the count the kernel reports.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(0);
    /// let result = Real::unpark(&word, u32::MAX, 1, |r| { assert!(!r.more); 0 });
    /// assert_eq!(result.woken, 0); // nobody waits on it
    /// ```
    #[doc(hidden)]
    fn unpark(
        word: &Self::Word,
        mask: u32,
        count: usize,
        callback: impl FnOnce(Unparked) -> u32,
    ) -> Unparked {
        if Self::QUEUED {
            let mut picked = 0;
            let filter = |theirs: u32| {
                if picked == count {
                    Pick::Stop
                } else if theirs & mask == 0 {
                    Pick::Skip
                } else {
                    picked += 1;
                    Pick::Wake
                }
            };
            return queue::unpark::<Self>(address(word), filter, callback);
        }
        callback(Unparked { woken: count, more: true, fair: false });
        let woken = Self::futex_wake(word, mask, count);
        Unparked { woken, more: true, fair: false }
    }

    /// Whether this backend's waiters queue in this process's wait queues (exact answers from
    /// [`park`](Self::park) and [`unpark`](Self::unpark)) rather than sleep in the kernel on the
    /// lock word itself (between processes).
    const QUEUED: bool;
    /// How many buckets the wait-queue table starts with.
    #[doc(hidden)]
    const QUEUE_BUCKETS: usize;
    /// Whether the table grows with the number of threads.
    #[doc(hidden)]
    const QUEUE_GROWS: bool;
    /// Where this backend keeps its wait-queue table.
    #[doc(hidden)]
    fn queue_slot() -> &'static Slot<Self>;
    /// Runs `f` with the word the calling thread sleeps on in the wait queues: its own while it
    /// lives, and never freed, so a wake that comes late still reaches live memory.
    #[doc(hidden)]
    fn with_thread_word<R>(f: impl FnOnce(&'static Self::Word) -> R) -> R;
    /// A 64-bit word, for a lock that records which thread holds it
    /// ([`ReentrantMutex`](crate::ReentrantMutex)).
    #[doc(hidden)]
    type Word64: Word64;
    /// A nonzero number naming the calling thread: the same on every call while the thread
    /// lives, and never the number of another thread that lives at the same time in this
    /// process. (Only in this process: it says nothing between processes.)
    ///
    /// ```
    /// use turnstile::backend::{Backend, Real};
    ///
    /// let mine = Real::thread_id();
    /// assert_ne!(mine, 0);
    /// assert_eq!(Real::thread_id(), mine);
    /// std::thread::scope(|s| assert_ne!(s.spawn(Real::thread_id).join().unwrap(), mine));
    /// ```
    #[doc(hidden)]
    fn thread_id() -> u64;
    /// How the wait queue is broken, for a model's failing twin (none but in loom's faults).
    #[doc(hidden)]
    const QUEUE_FAULTS: QueueFaults = QueueFaults::NONE;

    /// The machine's own futex: sleeps while `*word == expected`, wakeable by wakes whose mask
    /// meets `mask`; `false` only when `deadline` passed. May return spuriously. The wait queues
    /// sleep each waiter on its own word with it; between processes the locks use it directly.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(1);
    /// assert!(Real::futex_wait(&word, 0, u32::MAX, None)); // the word is not 0: no sleep
    /// ```
    fn futex_wait(word: &Self::Word, expected: u32, mask: u32, deadline: Option<Instant>) -> bool;
    /// The machine's own futex wake: wakes up to `count` sleepers of [`futex_wait`](Self::futex_wait)
    /// on `word` whose mask meets `mask`; returns how many.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let word = <Real as Backend>::Word::new(0);
    /// assert_eq!(Real::futex_wake(&word, u32::MAX, 1), 0);
    /// ```
    fn futex_wake(word: &Self::Word, mask: u32, count: usize) -> usize;
    /// The machine's own `FUTEX_CMP_REQUEUE`: see [`requeue`](Self::requeue).
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// let (from, to) = (<Real as Backend>::Word::new(1), <Real as Backend>::Word::new(0));
    /// assert_eq!(Real::futex_requeue(&from, 1, &to), Some(0));
    /// ```
    fn futex_requeue(from: &Self::Word, expected: u32, to: &Self::Word) -> Option<usize>;

    /// Whether this thread is unwinding out of a failed model, when guards must leave their lock
    /// alone. Always `false` on the real machine, where a guard releases its lock on unwind. Loom
    /// reports a deadlock by panicking in the thread that blocked last, and its runtime cannot be
    /// entered while that panic unwinds, so a guard that tried to unlock would abort the test.
    ///
    /// ```
    /// use turnstile::backend::{Backend, Real};
    /// assert!(!Real::model_failed());
    /// ```
    fn model_failed() -> bool;

    /// One pause inside a spin loop.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// let word = <Real as Backend>::Word::new(1);
    /// word.store(0, Release);
    /// while word.load(Acquire) != 0 {
    ///     Real::spin_hint();
    /// }
    /// ```
    fn spin_hint();
    /// Gives the CPU to another thread.
    ///
    /// ```
    /// # use turnstile::backend::{Backend, Real, Word};
    /// # use core::sync::atomic::Ordering::*;
    /// Real::yield_now();
    /// ```
    fn yield_now();

    /// Whether a thread that spins until a word changes sleeps instead, until a store changes
    /// it ([`spin_sleep`](Self::spin_sleep), [`spin_wake`](Self::spin_wake)). Only the loom model
    /// does: there two threads spinning with yields can hand the turn back and forth while the
    /// thread they wait for never runs, an execution without end, where the real machine's
    /// scheduler lets every thread run.
    #[doc(hidden)]
    const SPIN_SLEEPS: bool = false;
    /// Where [`SPIN_SLEEPS`](Self::SPIN_SLEEPS): returns once `word` may no longer hold `value`
    /// (at once if it does not now).
    #[doc(hidden)]
    fn spin_sleep(_word: &Self::Word, _value: u32) {}
    /// Where [`SPIN_SLEEPS`](Self::SPIN_SLEEPS): after a store to `word`, ends the sleep of every
    /// thread in [`spin_sleep`](Self::spin_sleep) on it.
    #[doc(hidden)]
    fn spin_wake(_word: &Self::Word) {}
}

/// The real machine: `std` atomics and the OS futex. The default backend of every primitive.
///
/// ```
/// use turnstile::{backend::Real, SpinLock};
///
/// static LOCK: SpinLock<u32, Real> = SpinLock::new(0);
/// *LOCK.lock() += 1;
/// assert_eq!(*LOCK.lock(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Real;

/// The tracker of [`Real`]: nothing to track, no bytes.
///
/// ```
/// assert_eq!(core::mem::size_of::<turnstile::backend::NoTracker>(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTracker;

impl sealed::Sealed for Real {}
impl sealed::Sealed for AtomicU32 {}

/// The backend impl of the operating system's futex, for [`Real`] and [`ProcessShared`]: the
/// same constants and atomics, and the wait layer's functions of the given scope.
macro_rules! os_backend {
    ($backend:ty, queued: $queued:expr, semaphore_yields: $yields:expr, sleep_slice: $slice:expr, $($futex:ident)::+) => {
        impl Backend for $backend {
            type Word = AtomicU32;
            type Tracker = NoTracker;
            type Exclusive = ();
            type Shared = ();

            // 100 pauses (std's choice too): a few microseconds on current x86, about what a
            // futex sleep and wake cost.
            const SPIN_PAUSES: u32 = 100;
            // The mutex: 2 + 4 + 8 = 14 pauses, then 7 yields, then sleep (see `backoff.rs` for
            // why); a sleeper overtaken after 0.5 ms is owed the lock, parking_lot's bound.
            const SPIN_ROUNDS: u32 = 3;
            const YIELD_ROUNDS: u32 = 7;
            const FAIRNESS_BOUND: Duration = Duration::from_micros(500);
            const FAIRNESS_OVERTAKES: u32 = 1;
            const SLEEP_SLICE: Option<Duration> = $slice;
            // 1 + 2 + ... + 64 = 127 pauses before the first yield.
            const SNOOZE_ROUNDS: u32 = 7;
            const SEMAPHORE_YIELDS: bool = $yields;

            #[inline]
            fn tracker() -> NoTracker {
                NoTracker
            }
            #[inline]
            fn exclusive(_: &NoTracker) {}
            #[inline]
            fn shared(_: &NoTracker) {}
            const QUEUED: bool = $queued;
            const QUEUE_BUCKETS: usize = if $queued { 64 } else { 1 };
            const QUEUE_GROWS: bool = $queued;

            fn queue_slot() -> &'static Slot<Self> {
                static SLOT: Slot<$backend> = Slot::new();
                &SLOT
            }
            #[inline]
            fn with_thread_word<R>(f: impl FnOnce(&'static AtomicU32) -> R) -> R {
                super::thread_word::with(f)
            }
            type Word64 = AtomicU64;
            #[inline]
            fn thread_id() -> u64 {
                super::thread_word::thread_id()
            }
            #[inline]
            fn futex_wait(word: &AtomicU32, expected: u32, mask: u32, deadline: Option<Instant>) -> bool {
                $($futex)::+::wait(word, expected, mask, deadline)
            }
            #[inline]
            fn futex_wake(word: &AtomicU32, mask: u32, count: usize) -> usize {
                $($futex)::+::wake(word, mask, count)
            }
            #[inline]
            fn futex_requeue(from: &AtomicU32, expected: u32, to: &AtomicU32) -> Option<usize> {
                $($futex)::+::requeue(from, expected, to)
            }
            #[inline]
            fn model_failed() -> bool {
                false
            }
            #[inline]
            fn spin_hint() {
                core::hint::spin_loop();
            }
            #[inline]
            fn yield_now() {
                std::thread::yield_now();
            }
        }
    };
}

// The semaphore spins and sleeps: spin-then-yield measured faster for it but left the least served
// of 8 threads 0.28 of the most served's acquisitions, against 0.66 (`backoff.rs`).
// Its threads cannot vanish while counted (a thread that dies takes its process with it), so its
// sleepers sleep until woken.
os_backend!(Real, queued: true, semaphore_yields: false, sleep_slice: None, crate::wait);

/// The real machine, for locks that live in memory shared between processes (Linux only).
///
/// The same algorithms, atomics and constants as [`Real`]; only the futex operations differ:
/// they leave out `FUTEX_PRIVATE_FLAG`, so the kernel keys sleepers by the physical page rather
/// than by this process's address space, and a sleeper in one process is woken by an unlock in
/// another that maps the same page (at whatever address). That lookup costs the kernel a little
/// more on every futex call; the uncontended paths make none.
///
/// Use it for locks placed in a [`Region`](crate::shm::Region): `Mutex<T, ProcessShared>`,
/// `SpinLock<T, ProcessShared>`, `Semaphore<ProcessShared>` and
/// [`RobustMutex`](crate::shm::RobustMutex), which the [`shm`](crate::shm) module names
/// `shm::Mutex<T>` and so on. It exists only on Linux: elsewhere the crate sleeps through
/// `parking_lot_core`, whose queues live in one process, and a program that names this type
/// does not compile there rather than getting a lock that silently fails to wake the other
/// process.
///
/// One policy differs: a [`Semaphore`](crate::Semaphore) waiting for a permit spins, then
/// yields, then sleeps, as the mutex does, where over [`Real`] it spins and sleeps. Processes that
/// signal each other are often on one core; a spinning waiter only delays the process it waits
/// for, and a yield hands it the CPU. (Over `Real` the yields cost the semaphore its fairness
/// among many waiters, measured in `backoff.rs`.)
///
/// And one guarantee differs, because a process can be killed anywhere, a waiter too: a
/// [`Mutex`](crate::Mutex) waiter killed at any point (spinning, counted asleep, or just picked
/// by a wake) never wedges the lock. Its sleepers look at the word at least every 10 ms, not only
/// when woken; a hand-off whose wake finds nobody asleep is undone; and "starved" is a mark each
/// hand-off clears, not a count a dead waiter could leave behind. Each killed waiter can cost
/// the live ones at most one such 10 ms delay, and each unlock afterwards a `FUTEX_WAKE` that
/// finds nobody (its count in the word is never taken back). The one wedge left is a holder killed
/// holding a plain `shm::Mutex`; [`RobustMutex`](crate::shm::RobustMutex) survives that too.
/// Details in the [mutex docs](crate::mutex).
///
/// ```
/// use turnstile::{backend::ProcessShared, Mutex};
///
/// // Works within one process too; its point is a shared mapping (see `turnstile::shm`).
/// let lock = Mutex::<u32, ProcessShared>::with_backend(1);
/// *lock.lock() += 1;
/// assert_eq!(lock.into_inner(), 2);
/// ```
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessShared;

#[cfg(target_os = "linux")]
impl sealed::Sealed for ProcessShared {}

#[cfg(target_os = "linux")]
// The semaphore yields while it waits: a round trip between two processes on one core took 9.8 µs
// with a plain spin (it only delays the partner it waits for) and 3.6 µs with yields, against
// sem_t's 4.5 µs (`benches/ipc.rs` under `taskset -c 0`). Its mutex sleepers look at the word at
// least every 10 ms: a process killed while counted, or after a wake picked it, delays the others
// by at most that (see the mutex docs); the timer costs a sleeper about 100 wakes a second.
os_backend!(ProcessShared, queued: false, semaphore_yields: true, sleep_slice: Some(Duration::from_millis(10)), crate::wait::shared);

impl Word for AtomicU32 {
    #[inline]
    fn new(value: u32) -> Self {
        AtomicU32::new(value)
    }
    #[inline]
    fn load(&self, order: Ordering) -> u32 {
        AtomicU32::load(self, order)
    }
    #[inline]
    fn store(&self, value: u32, order: Ordering) {
        AtomicU32::store(self, value, order);
    }
    #[inline]
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::swap(self, value, order)
    }
    #[inline]
    fn compare_exchange(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32> {
        AtomicU32::compare_exchange(self, current, new, success, failure)
    }
    #[inline]
    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_add(self, value, order)
    }
    #[inline]
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_sub(self, value, order)
    }
    #[inline]
    fn fetch_or(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_or(self, value, order)
    }
    #[inline]
    fn fetch_and(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_and(self, value, order)
    }
    #[inline]
    fn read_latest(&self, order: Ordering) -> u32 {
        AtomicU32::fetch_add(self, 0, order)
    }
}

/// A 64-bit atomic word: the owner of a [`RobustMutex`](crate::shm::RobustMutex), a process's
/// identity in one compare-exchange. The operations of std's `AtomicU64` that it uses.
///
/// ```
/// use core::sync::atomic::{AtomicU64, Ordering::*};
/// use turnstile::backend::Word64;
///
/// let w = <AtomicU64 as Word64>::new(1 << 40);
/// assert_eq!(Word64::compare_exchange(&w, 1 << 40, 7, AcqRel, Relaxed), Ok(1 << 40));
/// assert_eq!(Word64::fetch_and(&w, 3, AcqRel), 7);
/// assert_eq!(Word64::load(&w, Relaxed), 3);
/// ```
pub trait Word64: Send + Sync + sealed::Sealed {
    /// A new word holding `value`.
    fn new(value: u64) -> Self;
    /// Reads the value.
    fn load(&self, order: Ordering) -> u64;
    /// Writes `value`.
    fn store(&self, value: u64, order: Ordering);
    /// Writes `new` if the value is `current`; `Ok(old)` if it did, `Err(actual)` if not.
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
    /// Keeps only the bits of `value`, returning the old value.
    fn fetch_and(&self, value: u64, order: Ordering) -> u64;
    /// Reads the latest value, as a read-modify-write that changes nothing; see
    /// [`Word::read_latest`].
    fn read_latest(&self, order: Ordering) -> u64;
}

impl sealed::Sealed for AtomicU64 {}

impl Word64 for AtomicU64 {
    #[inline]
    fn new(value: u64) -> Self {
        AtomicU64::new(value)
    }
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline]
    fn store(&self, value: u64, order: Ordering) {
        AtomicU64::store(self, value, order)
    }
    #[inline]
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        AtomicU64::compare_exchange(self, current, new, success, failure)
    }
    #[inline]
    fn fetch_and(&self, value: u64, order: Ordering) -> u64 {
        AtomicU64::fetch_and(self, value, order)
    }
    #[inline]
    fn read_latest(&self, order: Ordering) -> u64 {
        AtomicU64::fetch_add(self, 0, order)
    }
}

/// What an owner-aware lock needs from the machine beyond a [`Backend`]: who this process is,
/// which namespace that identity means something in, whether the process that holds a lock has
/// certainly ended, and a 64-bit word to record the holder in. Implemented by [`ProcessShared`]
/// (Linux: the pid and start time from `/proc`, the pid and time namespaces) and by the loom
/// backend (a modelled process table with namespaces). Sealed.
///
/// ```
/// use turnstile::backend::{ProcessShared, Processes};
///
/// let me = ProcessShared::current_process();
/// assert_ne!(me, 0);
/// assert_ne!(ProcessShared::current_namespace(), 0); // known, with /proc mounted
/// assert!(ProcessShared::process_alive(me));
/// ```
pub trait Processes: Backend {
    /// The word a lock records its holder's identity in.
    type Owner: Word64;
    /// How long a waiter sleeps before it checks again whether the holder still runs.
    /// `Duration::MAX` (a loom model variant only) means never: the waiter sleeps until woken.
    const PROBE_INTERVAL: Duration;
    /// This process's identity: nonzero, below `1 << 62`, and never the identity of another
    /// process of the same namespace, past or future, while the system runs.
    fn current_process() -> u64;
    /// The namespace this process's identity is meaningful in, as a number: two processes with
    /// the same nonzero number can check each other's identities. 0 means unknown (it then
    /// equals nobody's, not even another unknown one's, for the lock that compares them).
    /// On Linux, the pid and time namespaces together (a pid names a process only in its pid
    /// namespace; `/proc` shifts start times by the reader's time namespace).
    fn current_namespace() -> u64;
    /// Whether the process `id` (from [`current_process`](Self::current_process) in a process of
    /// the caller's own [`current_namespace`](Self::current_namespace)) may still be running.
    /// `false` only when it has certainly ended, and then for good; where that cannot be
    /// established, `true`.
    fn process_alive(id: u64) -> bool;
    /// Loom models only: whether the calling thread's modelled process is killed at this point of
    /// a wait (set up by `Loom::kill_at_next_wait`). A waiter that is returns at once, touching
    /// nothing more, as a `SIGKILL`ed one would. Always `false` on the real machine.
    #[inline]
    fn killed_while_waiting() -> bool {
        false
    }
}

#[cfg(target_os = "linux")]
impl Processes for ProcessShared {
    type Owner = AtomicU64;
    const PROBE_INTERVAL: Duration = Duration::from_millis(10);
    #[inline]
    fn current_process() -> u64 {
        crate::shm::process::current()
    }
    #[inline]
    fn current_namespace() -> u64 {
        crate::shm::process::view()
    }
    fn process_alive(id: u64) -> bool {
        crate::shm::process::alive(id)
    }
}

pub(crate) mod sealed {
    /// Keeps [`Backend`](super::Backend) and the lock traits implementable only in this crate.
    pub trait Sealed {}
}
