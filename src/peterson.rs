//! Peterson's lock (1981): mutual exclusion for exactly two parties from plain reads and writes.
//!
//! Each party `i` has a flag `interested[i]`, and the two share one word `victim`:
//!
//! ```text
//! lock(i):   interested[i] = true      // "I want in"
//!            victim = i                 // "but you go first"
//!            wait while interested[1-i] && victim == i
//! unlock(i): interested[i] = false
//! ```
//!
//! Whoever wrote `victim` *last* is the one that waits, so if both want in, exactly one gets
//! through; if only one wants in, it does not wait at all.
//!
//! **The ordering it needs.** The argument above assumes each party's writes are seen by the
//! other before its own reads that follow: a store→load order. Real hardware (x86 included)
//! lets a load pass an earlier store still sitting in the store buffer, and then both parties can
//! read the other's flag as `false` and both enter. Acquire/release does not forbid that
//! reordering; only sequential consistency does. We write the `victim` store as a swap with
//! `AcqRel`: the two swaps are totally ordered (they modify one location), the later one reads
//! the earlier one and synchronizes with it, so the party whose swap came second sees the first
//! one's `interested` flag — and it is the victim. A loom model runs this code over a backend
//! whose read-modify-writes are split into a plain load and store, and both parties get in.
//!
//! The lock is for study: it never sleeps, and it is fair between its two parties (a waiter
//! gets in before the other can enter twice). Two parties are enforced by construction:
//! [`Peterson::pair`] returns exactly two handles, neither can be cloned, and locking takes
//! `&mut self`, so a handle cannot be used by two threads at once.

use core::sync::atomic::Ordering::*;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::backend::{Backend, Real, Word};
use crate::backoff::Backoff;
use crate::guard::{raw::RawLock, LockData, LockGuard};

/// The state two [`PetersonHandle`]s share: two flags, the victim word, and the data.
///
/// Built by [`Peterson::pair`], which hands out the only two ways in.
///
/// ```
/// use turnstile::Peterson;
///
/// let (mut left, mut right) = Peterson::pair(0);
/// let t = std::thread::spawn(move || *left.lock() += 1);
/// *right.lock() += 1;
/// t.join().unwrap();
/// assert_eq!(*right.lock(), 2);
/// ```
pub struct Peterson<T: ?Sized, B: Backend = Real> {
    /// Each party's "I want in" flag, on its own cache line: each is written by one party only.
    interested: [CachePadded<B::Word>; 2],
    /// The party that wrote last, and so yields.
    victim: CachePadded<B::Word>,
    data: LockData<T, B>,
}

/// One of the two parties of a [`Peterson`] lock. `Send`, not `Clone`.
///
/// ```
/// let (mut a, b) = turnstile::Peterson::pair(String::new());
/// a.lock().push('x');
/// assert_eq!(a.party(), 0);
/// assert_eq!(b.party(), 1);
/// ```
pub struct PetersonHandle<T: ?Sized, B: Backend = Real> {
    shared: Arc<Peterson<T, B>>,
    me: u32,
}

/// The guard of a [`PetersonHandle`]: the lock is held until it is dropped.
///
/// ```
/// use turnstile::{Peterson, PetersonGuard};
///
/// let (mut a, _b) = Peterson::pair(0);
/// let mut guard: PetersonGuard<'_, i32> = a.lock();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*a.lock(), 1);
/// ```
pub type PetersonGuard<'a, T, B = Real> = LockGuard<'a, PetersonHandle<T, B>>;

impl<T> Peterson<T> {
    /// The two handles of a new lock around `value`.
    ///
    /// ```
    /// let (mut a, mut b) = turnstile::Peterson::pair(vec![]);
    /// a.lock().push(1);
    /// b.lock().push(2);
    /// assert_eq!(*a.lock(), [1, 2]);
    /// ```
    pub fn pair(value: T) -> (PetersonHandle<T>, PetersonHandle<T>) {
        Self::pair_with_backend(value)
    }
}

impl<T, B: Backend> Peterson<T, B> {
    /// The two handles of a new lock over the backend `B`, named explicitly:
    /// `Peterson::<_, Real>::pair_with_backend(x)` is `Peterson::pair(x)`. Loom models build
    /// theirs with it.
    ///
    /// ```
    /// use turnstile::{backend::Real, Peterson};
    ///
    /// let (mut a, _b) = Peterson::<_, Real>::pair_with_backend(1);
    /// assert_eq!(*a.lock(), 1);
    /// ```
    pub fn pair_with_backend(value: T) -> (PetersonHandle<T, B>, PetersonHandle<T, B>) {
        let shared = Arc::new(Peterson {
            interested: [CachePadded::new(B::Word::new(0)), CachePadded::new(B::Word::new(0))],
            victim: CachePadded::new(B::Word::new(0)),
            data: LockData::with_backend(value),
        });
        (PetersonHandle { shared: Arc::clone(&shared), me: 0 }, PetersonHandle { shared, me: 1 })
    }
}

impl<T, B: Backend> PetersonHandle<T, B> {
    /// The data, once the other handle is gone; otherwise this handle back.
    ///
    /// ```
    /// let (a, b) = turnstile::Peterson::pair(7);
    /// let a = a.into_inner().unwrap_err(); // `b` still exists
    /// drop(b);
    /// assert_eq!(a.into_inner().ok(), Some(7));
    /// ```
    pub fn into_inner(self) -> Result<T, Self> {
        match Arc::try_unwrap(self.shared) {
            Ok(state) => Ok(state.data.into_inner()),
            Err(shared) => Err(PetersonHandle { shared, me: self.me }),
        }
    }
}

impl<T: ?Sized, B: Backend> PetersonHandle<T, B> {
    /// Which party this handle is: 0 or 1.
    ///
    /// ```
    /// let (a, b) = turnstile::Peterson::pair(());
    /// assert_eq!((a.party(), b.party()), (0, 1));
    /// ```
    pub fn party(&self) -> usize {
        self.me as usize
    }

    /// Takes the lock, spinning while the other party holds it or got there first.
    ///
    /// ```
    /// let (mut a, mut b) = turnstile::Peterson::pair(0u32);
    /// *a.lock() += 1;
    /// *b.lock() += 1;
    /// assert_eq!(*a.lock(), 2);
    /// ```
    pub fn lock(&mut self) -> PetersonGuard<'_, T, B> {
        self.acquire();
        // SAFETY: Peterson's protocol: the other party is neither in nor will enter until we
        // clear our flag in `unlock`.
        unsafe { LockGuard::new(&*self) }
    }

    /// Takes the lock if the other party is neither in nor ahead of us; never spins. On failure
    /// this party withdraws its claim, so the other one is not held up.
    ///
    /// ```
    /// let (mut a, mut b) = turnstile::Peterson::pair(0);
    /// let held = a.lock();
    /// assert!(b.try_lock().is_none());
    /// drop(held);
    /// assert!(b.try_lock().is_some());
    /// ```
    pub fn try_lock(&mut self) -> Option<PetersonGuard<'_, T, B>> {
        self.announce();
        if self.must_wait() {
            // Release: as in `unlock`; the other party may be waiting on this flag.
            self.shared.interested[self.me as usize].store(0, Release);
            return None;
        }
        // SAFETY: Peterson's protocol let us in, as in `lock`.
        Some(unsafe { LockGuard::new(&*self) })
    }

    /// Whether either party is in, or on its way in, at this instant (stale as soon as it
    /// returns).
    ///
    /// ```
    /// let (mut a, b) = turnstile::Peterson::pair(());
    /// let held = a.lock();
    /// assert!(b.is_locked());
    /// drop(held);
    /// assert!(!b.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        let flags = &self.shared.interested;
        flags[0].load(Relaxed) == 1 || flags[1].load(Relaxed) == 1
    }

    /// Peterson's entry protocol. Only this party's handle calls it, through `&mut self` or the
    /// guard that `&mut self` created, so the two parties never share a flag.
    fn acquire(&self) {
        self.announce();
        let mut backoff = Backoff::<B>::new();
        while self.must_wait() {
            backoff.snooze();
        }
    }

    /// "I want in, but you go first": this party's flag, then the victim word.
    fn announce(&self) {
        let state = &*self.shared;
        // Relaxed: published by the AcqRel swap that follows (program order, then its Release).
        state.interested[self.me as usize].store(1, Relaxed);
        // The store→load order Peterson needs (module docs). AcqRel: our Release publishes the
        // flag above to the other party's swap; our Acquire reads the other party's swap if it
        // came first, and with it their flag and, through their last unlock, their critical section.
        state.victim.swap(self.me, AcqRel);
    }

    /// Whether the other party is in or ahead of us (it wants in, and we wrote `victim` last).
    fn must_wait(&self) -> bool {
        let state = &*self.shared;
        // Acquire (both loads): pairs with the Release store in `unlock` (flag cleared) and with
        // the Release half of the other party's swap (victim changed), whichever lets us in.
        state.interested[1 - self.me as usize].load(Acquire) == 1 && state.victim.load(Acquire) == self.me
    }
}

// SAFETY: Peterson's protocol admits one party at a time (module docs; checked by the loom model)
// and each party is one handle used through `&mut self`. `unlock` is a Release store of our flag;
// the other party enters only after an Acquire load that reads it (or our later victim swap).
unsafe impl<T: ?Sized, B: Backend> RawLock for PetersonHandle<T, B> {
    type Target = T;
    type Backend = B;

    fn data(&self) -> &LockData<T, B> {
        &self.shared.data
    }
    unsafe fn unlock(&self) {
        // Release: pairs with the other party's Acquire load of our flag in `lock`.
        self.shared.interested[self.me as usize].store(0, Release);
    }
    fn relock(&self) {
        self.acquire();
    }
}

impl<T: ?Sized, B: Backend> core::fmt::Debug for PetersonHandle<T, B> {
    /// Shows which party this is; never touches the data (that would need the lock).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PetersonHandle").field("party", &self.me).finish_non_exhaustive()
    }
}
