//! A one-time initialisation: of all the threads that call [`Once::call_once`], exactly one runs
//! its closure, and every call returns only after that closure has finished, seeing what it
//! wrote. The drop-in for `parking_lot::Once` (and, without poisoning's `OnceState` argument,
//! for std's).
//!
//! **State.** One word, the futex word its waiters sleep on:
//!
//! | value        | meaning                                                          |
//! |--------------|------------------------------------------------------------------|
//! | `INCOMPLETE` | no closure has run                                               |
//! | `POISONED`   | a closure panicked; none has finished                            |
//! | `RUNNING`    | a closure runs, and nobody waits for it                          |
//! | `QUEUED`     | a closure runs, and threads sleep on the word until it ends      |
//! | `COMPLETE`   | a closure finished: every call from now on returns at once       |
//!
//! **Call.** The fast path is one Acquire load that finds `COMPLETE`. Otherwise a caller that
//! finds no closure running claims the run with a compare-exchange to `RUNNING` and runs its
//! closure; one that finds a closure running marks the word `QUEUED` (so that the runner knows to
//! wake) and sleeps while it holds `QUEUED`, looking again whenever it returns. When the closure
//! ends, the runner swaps in `COMPLETE` (or `POISONED` if it panicked) with Release and, if the
//! old value was `QUEUED`, wakes every sleeper. A sleeper can miss no wake: it sleeps only while
//! the word holds `QUEUED`, and the futex checks that atomically with going to sleep.
//!
//! **The invariant:** the word leaves `RUNNING`/`QUEUED` only by the runner's swap, so exactly
//! one closure runs at a time, and once `COMPLETE` is stored no other runs; every call that
//! returns has read `COMPLETE` with Acquire, after the closure's writes.
//!
//! **Poisoning**, as parking_lot's: a closure that panics leaves the `Once` poisoned.
//! [`call_once`](Once::call_once) on a poisoned `Once` panics (and so do callers that were waiting
//! on the closure that panicked); [`call_once_force`](Once::call_once_force) runs its closure,
//! told [`OnceState::Poisoned`], and if it returns the `Once` is complete.

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::backend::{Backend, Real, Word};

/// No closure has run.
const INCOMPLETE: u32 = 0;
/// A closure panicked, and none has finished.
const POISONED: u32 = 1;
/// A closure runs, and nobody sleeps on the word.
const RUNNING: u32 = 2;
/// A closure runs, and threads may sleep on the word: its end wakes them.
const QUEUED: u32 = 3;
/// A closure finished.
const COMPLETE: u32 = 4;

/// A one-time initialisation; see the [module docs](crate::once).
///
/// Threads that call while the closure runs sleep until it ends. Calling
/// [`call_once`](Self::call_once) on the same `Once` from inside its own closure deadlocks.
/// `Once` is 4 bytes.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use turnstile::Once;
///
/// static INIT: Once = Once::new();
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| INIT.call_once(|| { RUNS.fetch_add(1, Relaxed); }));
///     }
/// });
/// assert_eq!(RUNS.load(Relaxed), 1);
/// assert!(INIT.state().done());
/// ```
pub struct Once<B: Backend = Real> {
    state: B::Word,
    _backend: PhantomData<B>,
}

/// What a [`Once`] has done so far: from [`Once::state`], and given to the closure of
/// [`Once::call_once_force`] (`New` or `Poisoned`). As parking_lot's `OnceState`.
///
/// ```
/// use turnstile::{Once, OnceState};
///
/// let once = Once::new();
/// assert_eq!(once.state(), OnceState::New);
/// once.call_once(|| {});
/// assert_eq!(once.state(), OnceState::Done);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnceState {
    /// No closure has run.
    New,
    /// A closure panicked, and none has finished.
    Poisoned,
    /// A closure runs now.
    InProgress,
    /// A closure finished: the `Once` is complete.
    Done,
}

impl OnceState {
    /// Whether a closure panicked and none has finished since.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// use turnstile::Once;
    ///
    /// let once = Once::new();
    /// let _ = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("failed"))));
    /// assert!(once.state().poisoned());
    /// ```
    #[inline]
    pub fn poisoned(self) -> bool {
        self == OnceState::Poisoned
    }

    /// Whether a closure finished.
    ///
    /// ```
    /// let once = turnstile::Once::new();
    /// assert!(!once.state().done());
    /// once.call_once(|| {});
    /// assert!(once.state().done());
    /// ```
    #[inline]
    pub fn done(self) -> bool {
        self == OnceState::Done
    }
}

impl Once {
    /// A new `Once` whose closure has not run. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static SETUP: turnstile::Once = turnstile::Once::new();
    /// SETUP.call_once(|| println!("once"));
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Once { state: AtomicU32::new(INCOMPLETE), _backend: PhantomData }
    }
}

impl<B: Backend> Once<B> {
    /// A new `Once` over any backend; this is how loom models build one.
    ///
    /// ```
    /// use turnstile::{backend::Real, Once};
    ///
    /// let once = Once::<Real>::with_backend();
    /// once.call_once(|| {});
    /// assert!(once.state().done());
    /// ```
    pub fn with_backend() -> Self {
        Once { state: B::Word::new(INCOMPLETE), _backend: PhantomData }
    }

    /// Runs `f` if no closure of this `Once` has finished and none is running; if one is
    /// running, waits for it to end. Returns once a closure has finished, with its writes
    /// visible.
    ///
    /// # Panics
    /// If this `Once` is poisoned (a closure panicked), also when the closure this call waited
    /// for panics; use [`call_once_force`](Self::call_once_force) to run a closure anyway. A
    /// panic of `f` itself goes on to the caller, and poisons the `Once`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    ///
    /// static PORT: AtomicU32 = AtomicU32::new(0);
    /// let once = turnstile::Once::new();
    /// once.call_once(|| PORT.store(8080, Relaxed));
    /// once.call_once(|| PORT.store(1, Relaxed)); // does not run
    /// assert_eq!(PORT.load(Relaxed), 8080);
    /// ```
    #[inline]
    #[track_caller]
    pub fn call_once(&self, f: impl FnOnce()) {
        // Acquire: pairs with the Release swap that stored COMPLETE, so what the closure wrote
        // happens before our caller reads it.
        if self.state.load(Acquire) == COMPLETE {
            return;
        }
        let mut f = Some(f);
        self.call_slow(false, &mut |_| f.take().expect("the closure runs at most once")());
    }

    /// As [`call_once`](Self::call_once), but runs `f` also when the `Once` is poisoned, telling
    /// it so ([`OnceState::Poisoned`], otherwise [`OnceState::New`]): a way to retry an
    /// initialisation that panicked. If `f` returns, the `Once` is complete.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// use turnstile::{Once, OnceState};
    ///
    /// let once = Once::new();
    /// let _ = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("first try failed"))));
    /// once.call_once_force(|state| assert_eq!(state, OnceState::Poisoned));
    /// assert!(once.state().done());
    /// ```
    #[inline]
    pub fn call_once_force(&self, f: impl FnOnce(OnceState)) {
        // Acquire: as in `call_once`.
        if self.state.load(Acquire) == COMPLETE {
            return;
        }
        let mut f = Some(f);
        self.call_slow(true, &mut |state| f.take().expect("the closure runs at most once")(state));
    }

    /// What this `Once` has done so far (stale as soon as it returns, unless `Done`, which is
    /// for good). `Done` is read with Acquire: the closure's writes are visible after it.
    ///
    /// ```
    /// use turnstile::{Once, OnceState};
    ///
    /// let once = Once::new();
    /// once.call_once(|| assert_eq!(once.state(), OnceState::InProgress));
    /// assert_eq!(once.state(), OnceState::Done);
    /// ```
    #[inline]
    pub fn state(&self) -> OnceState {
        // Acquire: as in `call_once`, for a caller that acts on `Done`.
        match self.state.load(Acquire) {
            INCOMPLETE => OnceState::New,
            POISONED => OnceState::Poisoned,
            RUNNING | QUEUED => OnceState::InProgress,
            _ => OnceState::Done,
        }
    }

    /// Runs `f` or waits for the closure that runs, until a closure has finished. Not inlined,
    /// and over `dyn` so that it is compiled once, not once per closure.
    #[cold]
    #[track_caller]
    fn call_slow(&self, ignore_poison: bool, f: &mut dyn FnMut(OnceState)) {
        // Acquire, here and below: a COMPLETE read ends the call, and must see the closure's
        // writes (pairs with the Release swap in `Finish`).
        let mut state = self.state.load(Acquire);
        loop {
            match state {
                COMPLETE => return,
                POISONED if !ignore_poison => panic!(
                    "Once::call_once: an earlier closure of this Once panicked, so it is poisoned \
                     and call_once will not run another; use call_once_force to run one anyway \
                     (it is told OnceState::Poisoned)"
                ),
                INCOMPLETE | POISONED => {
                    if let Err(now) = self.state.compare_exchange(
                        state, RUNNING,
                        // Acquire: from POISONED, pairs with the Release swap that poisoned it,
                        // so this closure sees what the one that panicked wrote.
                        // loom-invisible: only a poisoning makes it matter, and a model cannot
                        // panic inside the closure (guards stand down while a model unwinds).
                        Acquire,
                        // Acquire: a failure that reads COMPLETE ends the call (as in `call_once`).
                        Acquire,
                    ) {
                        state = now;
                        continue;
                    }
                    // Stores POISONED if `f` unwinds, COMPLETE if it returns.
                    let mut finish = Finish { once: self, set: POISONED };
                    f(if state == POISONED { OnceState::Poisoned } else { OnceState::New });
                    finish.set = COMPLETE;
                    return;
                }
                RUNNING | QUEUED => {
                    if state == RUNNING {
                        // Relaxed: only a flag for the runner's swap, which reads it; nothing
                        // is published by it.
                        if let Err(now) = self.state.compare_exchange(RUNNING, QUEUED, Relaxed, Acquire) {
                            state = now;
                            continue;
                        }
                    }
                    // Sleeps only while the word holds QUEUED; any return, woken or not, looks
                    // at the word again.
                    B::wait(&self.state, QUEUED, None);
                    state = self.state.load(Acquire);
                }
                other => unreachable!("a Once word holds {other}, which no state is"),
            }
        }
    }
}

/// Ends a run: stores its outcome and wakes whoever sleeps on the word, also when the closure
/// panics.
struct Finish<'a, B: Backend> {
    once: &'a Once<B>,
    set: u32,
}

impl<B: Backend> Drop for Finish<'_, B> {
    fn drop(&mut self) {
        if B::model_failed() {
            return;
        }
        // Release: publishes the closure's writes to every caller that reads COMPLETE with
        // Acquire (and, when poisoned, to the forced closure that runs next).
        if self.once.state.swap(self.set, Release) == QUEUED {
            B::wake_all(&self.once.state);
        }
    }
}

impl Default for Once {
    /// A new `Once`, as [`Once::new`].
    ///
    /// ```
    /// let once: turnstile::Once = Default::default();
    /// assert_eq!(once.state(), turnstile::OnceState::New);
    /// ```
    fn default() -> Self {
        Once::new()
    }
}

impl<B: Backend> fmt::Debug for Once<B> {
    /// Shows the state; never blocks.
    ///
    /// ```
    /// let once = turnstile::Once::new();
    /// once.call_once(|| {});
    /// assert_eq!(format!("{once:?}"), "Once { state: Done }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("state", &self.state()).finish()
    }
}
