//! A reentrant mutex: a lock its holder may take again, any number of times, without
//! deadlocking itself.
//!
//! Code that calls back into itself while holding a lock (a logger that logs while logging, a
//! visitor that re-enters an object it is visiting) deadlocks on a plain [`Mutex`]: the second
//! `lock` waits for the first to be released, by the very thread that waits. A reentrant mutex
//! remembers who holds it. When the holder locks again it only counts the new hold; the lock is
//! released when the last of its guards drops.
//!
//! **State.** The crate's [`Mutex`] word does the locking between threads: its acquire and
//! release, its wait queue and its fairness, unchanged. Beside it sit:
//!
//! | field   | written by        | meaning                                                  |
//! |---------|-------------------|----------------------------------------------------------|
//! | `owner` | the holder        | the holder's thread id (nonzero), or 0 while nobody holds |
//! | `count` | the holder only   | how many of its guards are alive                          |
//!
//! **Lock.** A thread reads `owner` (Relaxed). If it finds its own id, it holds the lock already
//! and adds one to `count`. Otherwise it takes the mutex word, then writes its id to `owner` and
//! sets `count` to 1. **Unlock** takes one from `count`; at zero it clears `owner` and releases
//! the word.
//!
//! **Why a Relaxed read of `owner` is enough.** A thread's id is written to `owner` only by that
//! thread, and cleared by it before it lets go. So a thread that reads its own id reads its own
//! latest write (a later read cannot go back past its own program order), and it does hold the
//! lock. Any other value, stale or not, sends it to the mutex word, whose Acquire orders
//! everything it then does after the previous holder's Release. `count` is touched only by the
//! holder, inside the critical section, so the word orders it as it orders the data.
//!
//! **Ids.** A thread's id is the address of a thread-local of its own, which no other live
//! thread shares. The ids are meaningful in one process only, so a `ReentrantMutex` over
//! [`ProcessShared`](crate::backend::ProcessShared) does not compile:
//!
//! ```compile_fail
//! use turnstile::{backend::ProcessShared, ReentrantMutex};
//!
//! let lock = ReentrantMutex::<u32, ProcessShared>::with_backend(0); // refused when built
//! ```
//!
//! The guard gives `&T`, never `&mut T`: two guards of one thread can be alive at once, and two
//! `&mut` to the same data would alias. Mutate through a `Cell` or `RefCell` inside.
//!
//! ```
//! use std::cell::RefCell;
//! use turnstile::ReentrantMutex;
//!
//! static LOG: ReentrantMutex<RefCell<Vec<String>>> = ReentrantMutex::new(RefCell::new(Vec::new()));
//!
//! fn logged() -> usize {
//!     LOG.lock().borrow().len()
//! }
//!
//! fn log(line: &str) {
//!     let lines = LOG.lock();
//!     let number = logged(); // re-enters: the same thread takes the lock again
//!     lines.borrow_mut().push(format!("{number}: {line}"));
//! }
//! log("hello");
//! log("again");
//! assert_eq!(*LOG.lock().borrow(), ["0: hello", "1: again"]);
//! ```

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Real, Word64};
use crate::guard::{DataPtr, GuardStaysOnItsThread, LockData};
use crate::Mutex;

/// The owner of a free lock: no thread (thread ids are nonzero).
const NOBODY: u64 = 0;

/// Refuses, at compile time, a backend whose threads do not share one process: thread ids say
/// nothing between processes, so a thread of another process could pass for the holder.
struct InOneProcess<B>(PhantomData<B>);

impl<B: Backend> InOneProcess<B> {
    const CHECK: () = assert!(
        B::QUEUED,
        "a ReentrantMutex names its holder by a thread id of this process, so it cannot be shared \
         between processes (ProcessShared); use a shm::Mutex there, and take it once"
    );
}

/// What only the holder touches.
struct Held<B: Backend> {
    /// How many guards of the holder are alive.
    count: usize,
    /// The holder's access to the data, as the backend tracks it: begun by the first guard,
    /// ended before the release (the guards may drop in any order).
    access: Option<B::Exclusive>,
}

/// The lock without the data, so that a guard of part of the data ([`MappedReentrantMutexGuard`])
/// need not name the whole.
struct RawReentrant<B: Backend> {
    lock: Mutex<(), B>,
    owner: B::Word64,
    held: UnsafeCell<Held<B>>,
}

// SAFETY: the holder alone touches `held` (module docs), and the word orders one holder after
// the next; the rest is atomics. (What the data needs is `ReentrantMutex`'s own `Sync`.)
unsafe impl<B: Backend> Sync for RawReentrant<B> {}

impl<B: Backend> RawReentrant<B> {
    /// Takes the lock, or one more hold of it if this thread has it. `wait` takes the word,
    /// waiting as long as it may; `false` if it gave up.
    #[inline]
    #[track_caller]
    fn lock_with(&self, tracker: &B::Tracker, wait: impl FnOnce(&Mutex<(), B>) -> bool) -> bool {
        #[allow(clippy::let_unit_value)] // evaluated for its compile-time check
        let () = InOneProcess::<B>::CHECK;
        let me = B::thread_id();
        // Relaxed: only our own id, which only we write, makes us skip the word (module docs).
        if self.owner.load(Relaxed) == me {
            // SAFETY: the owner is us, so we hold the lock, and only the holder touches `held`.
            let held = unsafe { &mut *self.held.get() };
            held.count = match held.count.checked_add(1) {
                Some(count) => count,
                None => panic!(
                    "ReentrantMutex: this thread already holds the lock {} times (usize::MAX) and \
                     locked it once more, which the count cannot hold; drop guards before taking \
                     more (are guards being forgotten in a loop?)",
                    held.count
                ),
            };
            return true;
        }
        if !wait(&self.lock) {
            return false;
        }
        // Relaxed: read for our own id by us alone; other threads only learn it is not theirs.
        self.owner.store(me, Relaxed);
        // SAFETY: we have just taken the word, so we are the holder, the only one to touch
        // `held`; the word's Acquire orders this after the previous holder's last touch.
        let held = unsafe { &mut *self.held.get() };
        held.count = 1;
        held.access = Some(B::exclusive(tracker));
        true
    }

    /// Gives up one hold; the last releases the word (to the oldest waiter if `fair`).
    ///
    /// # Safety
    /// The calling thread holds the lock, and gives up this hold only here.
    #[inline]
    unsafe fn unlock(&self, fair: bool) {
        // SAFETY: we hold the lock (the caller's promise), so `held` is ours.
        let held = unsafe { &mut *self.held.get() };
        held.count -= 1;
        if held.count == 0 {
            // The access must end before the release, or a model would see it overlap the next.
            held.access = None;
            // Relaxed: the word's Release below publishes it with the rest.
            self.owner.store(NOBODY, Relaxed);
            // SAFETY: we hold the word, and this was our last hold.
            unsafe { self.lock.unlock_with(fair) };
        }
    }

    #[inline]
    fn is_owned_by_current_thread(&self) -> bool {
        // Relaxed: as in `lock_with`.
        self.owner.load(Relaxed) == B::thread_id()
    }
}

/// A mutual-exclusion lock that the thread holding it may lock again: see the
/// [module docs](crate::reentrant). The drop-in for `parking_lot::ReentrantMutex`.
///
/// Between threads it is the crate's [`Mutex`] (barging, eventual fairness, sleeping waiters);
/// its holder's nested `lock`s cost one load and an increment. Guards give `&T`: put a `Cell` or
/// `RefCell` inside to change the data. A panic releases the holds of the guards it drops (no
/// poisoning). It is `Sync` when `T: Send`, as parking_lot's.
///
/// ```
/// use std::cell::Cell;
/// use turnstile::ReentrantMutex;
///
/// let lock = ReentrantMutex::new(Cell::new(0));
/// let outer = lock.lock();
/// let inner = lock.lock(); // the same thread: no deadlock
/// inner.set(inner.get() + 1);
/// drop(inner);
/// assert!(lock.is_locked()); // `outer` still holds it
/// drop(outer);
/// assert!(!lock.is_locked());
/// ```
pub struct ReentrantMutex<T: ?Sized, B: Backend = Real> {
    raw: RawReentrant<B>,
    data: LockData<T, B>,
}

// SAFETY: the holder alone touches `held` (module docs), the word orders one holder after the
// next, and the data is reached only through the holder's guards (`&T`, handed from holder to
// holder, so `T: Send`, as for std's `Mutex`) or through `&mut self`.
unsafe impl<T: ?Sized + Send, B: Backend> Sync for ReentrantMutex<T, B> {}
// SAFETY: moving the lock moves `T` (hence `T: Send`); the one field that may not be `Send`, a
// hold's access token (a loom tracker's handle), lives only while a hold does, and moving the
// lock needs it free of borrows, so at most a forgotten hold's token moves with it.
unsafe impl<T: ?Sized + Send, B: Backend> Send for ReentrantMutex<T, B> {}

impl<T> ReentrantMutex<T> {
    /// A new, unlocked reentrant mutex. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use turnstile::ReentrantMutex;
    ///
    /// static DEPTH: ReentrantMutex<Cell<u32>> = ReentrantMutex::new(Cell::new(0));
    /// let guard = DEPTH.lock();
    /// guard.set(1);
    /// assert_eq!(DEPTH.lock().get(), 1);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        ReentrantMutex {
            raw: RawReentrant {
                lock: Mutex::new(()),
                owner: AtomicU64::new(NOBODY),
                held: UnsafeCell::new(Held { count: 0, access: None }),
            },
            data: LockData::new(value),
        }
    }
}

impl<T, B: Backend> ReentrantMutex<T, B> {
    /// A new, unlocked reentrant mutex over any backend of one process; this is how loom models
    /// build one.
    ///
    /// ```
    /// use turnstile::{backend::Real, ReentrantMutex};
    ///
    /// let lock = ReentrantMutex::<_, Real>::with_backend(3);
    /// assert_eq!(*lock.lock(), 3);
    /// ```
    pub fn with_backend(value: T) -> Self {
        #[allow(clippy::let_unit_value)] // evaluated for its compile-time check
        let () = InOneProcess::<B>::CHECK;
        ReentrantMutex {
            raw: RawReentrant {
                lock: Mutex::with_backend(()),
                owner: B::Word64::new(NOBODY),
                held: UnsafeCell::new(Held { count: 0, access: None }),
            },
            data: LockData::with_backend(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::new(String::from("hi"));
    /// assert_eq!(lock.into_inner(), "hi");
    /// ```
    #[inline]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, B: Backend> ReentrantMutex<T, B> {
    /// Takes the lock, sleeping until it is free; if this thread holds it already, takes one
    /// more hold at once. The lock is released when the last guard of this thread drops.
    ///
    /// # Panics
    /// If this thread already holds it `usize::MAX` times.
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::new(5);
    /// let a = lock.lock();
    /// let b = lock.lock();
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T, B> {
        self.raw.lock_with(self.data.tracker(), |word| word.acquire_raw(None));
        ReentrantMutexGuard { mutex: self, _not_send: PhantomData }
    }

    /// Takes the lock if it is free or this thread holds it; never waits.
    ///
    /// # Panics
    /// As [`lock`](Self::lock).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(turnstile::ReentrantMutex::new(()));
    /// let held = lock.lock();
    /// assert!(lock.try_lock().is_some()); // this thread holds it
    /// let other = Arc::clone(&lock);
    /// assert!(std::thread::spawn(move || other.try_lock().is_none()).join().unwrap());
    /// drop(held);
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T, B>> {
        self.raw
            .lock_with(self.data.tracker(), Mutex::try_acquire_raw)
            .then(|| ReentrantMutexGuard { mutex: self, _not_send: PhantomData })
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it did not become free in time. If
    /// this thread holds it, succeeds at once.
    ///
    /// # Panics
    /// As [`lock`](Self::lock).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::ReentrantMutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_some()); // ours already
    /// drop(held);
    /// ```
    #[track_caller]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T, B>> {
        self.lock_before(crate::wait::deadline_after(timeout))
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it did not become free.
    /// If this thread holds it, succeeds at once.
    ///
    /// # Panics
    /// As [`lock`](Self::lock).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::ReentrantMutex::new(5);
    /// let guard = lock.try_lock_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    #[track_caller]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<ReentrantMutexGuard<'_, T, B>> {
        self.lock_before(Some(deadline))
    }

    #[track_caller]
    fn lock_before(&self, deadline: Option<Instant>) -> Option<ReentrantMutexGuard<'_, T, B>> {
        self.raw
            .lock_with(self.data.tracker(), |word| word.acquire_raw(deadline))
            .then(|| ReentrantMutexGuard { mutex: self, _not_send: PhantomData })
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::new(());
    /// let guard = lock.lock();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.lock.is_locked()
    }

    /// Whether the calling thread holds the lock. Exact, unlike [`is_locked`](Self::is_locked):
    /// only this thread can make it true or false for this thread.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(turnstile::ReentrantMutex::new(()));
    /// let guard = lock.lock();
    /// assert!(lock.is_owned_by_current_thread());
    /// let other = Arc::clone(&lock);
    /// assert!(!std::thread::spawn(move || other.is_owned_by_current_thread()).join().unwrap());
    /// drop(guard);
    /// assert!(!lock.is_owned_by_current_thread());
    /// ```
    #[inline]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.raw.is_owned_by_current_thread()
    }

    /// A mutable reference to the data. No locking is needed: `&mut self` proves nobody else
    /// can hold the lock.
    ///
    /// ```
    /// let mut lock = turnstile::ReentrantMutex::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// A raw pointer to the data, for code that has made sure by other means that it may touch
    /// it (it holds a forgotten guard, say). Dereferencing it without holding the lock is a data
    /// race.
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::new(5);
    /// let guard = lock.lock();
    /// assert_eq!(lock.data_ptr().cast_const(), &*guard as *const i32);
    /// ```
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.data.as_ptr()
    }

    /// Gives up one hold without a guard: the other half of `mem::forget` of a guard. The lock
    /// is released when it was the thread's last hold.
    ///
    /// # Safety
    /// The calling thread holds the lock through a guard it forgot, and that hold is given up
    /// only here (a guard still alive would give its hold up a second time).
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::new(0);
    /// std::mem::forget(lock.lock());
    /// assert!(lock.is_owned_by_current_thread());
    /// // SAFETY: this thread holds it through the guard it forgot, and nothing else.
    /// unsafe { lock.force_unlock() };
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub unsafe fn force_unlock(&self) {
        // SAFETY: the caller holds one forgotten hold and gives it up only here.
        unsafe { self.raw.unlock(false) }
    }
}

impl<T: Default> Default for ReentrantMutex<T> {
    /// A lock around `T::default()`.
    ///
    /// ```
    /// let lock: turnstile::ReentrantMutex<Vec<u8>> = Default::default();
    /// assert!(lock.lock().is_empty());
    /// ```
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for ReentrantMutex<T> {
    /// A lock around `value`.
    ///
    /// ```
    /// let lock = turnstile::ReentrantMutex::from(7);
    /// assert_eq!(*lock.lock(), 7);
    /// ```
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, B: Backend> fmt::Debug for ReentrantMutex<T, B> {
    /// Shows the data if the lock is free or held by this thread, `<locked>` if another thread
    /// holds it; never blocks.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(turnstile::ReentrantMutex::new(1));
    /// let guard = lock.lock();
    /// assert_eq!(format!("{lock:?}"), "ReentrantMutex { data: 1, .. }"); // ours: no deadlock
    /// let other = Arc::clone(&lock);
    /// let seen = std::thread::spawn(move || format!("{other:?}")).join().unwrap();
    /// assert_eq!(seen, "ReentrantMutex { data: <locked>, .. }");
    /// drop(guard);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.try_lock();
        crate::guard::debug_lock(f, "ReentrantMutex", guard.as_deref())
    }
}

/// A hold on a [`ReentrantMutex`]: `&T` until it drops; the lock is released when the holder's
/// last guard drops.
///
/// `!Send` (the thread that locked unlocks), and `Sync` when `T` is.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<turnstile::ReentrantMutexGuard<'static, u8>>();
/// ```
///
/// ```
/// use std::cell::RefCell;
/// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
///
/// fn first(list: &ReentrantMutex<RefCell<Vec<u8>>>) -> (Option<u8>, ReentrantMutexGuard<'_, RefCell<Vec<u8>>>) {
///     let guard = list.lock();
///     let first = guard.borrow().first().copied();
///     (first, guard) // the caller keeps the lock
/// }
/// let list = ReentrantMutex::new(RefCell::new(vec![4]));
/// let (first, guard) = first(&list);
/// assert_eq!((first, guard.borrow().len()), (Some(4), 1));
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct ReentrantMutexGuard<'a, T: ?Sized, B: Backend = Real> {
    mutex: &'a ReentrantMutex<T, B>,
    // !Send: the hold belongs to the thread that took it (see `GuardStaysOnItsThread`).
    _not_send: PhantomData<*const GuardStaysOnItsThread>,
}

// SAFETY: `&ReentrantMutexGuard` gives out `&T` (Deref), sound to share when `T: Sync`, and
// `&ReentrantMutex` (`remutex`), through which another thread can only take its own holds, of
// `&T` again.
unsafe impl<T: ?Sized + Sync, B: Backend> Sync for ReentrantMutexGuard<'_, T, B> {}

impl<'a, T: ?Sized, B: Backend> ReentrantMutexGuard<'a, T, B> {
    /// The lock this guard holds.
    ///
    /// ```
    /// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new(());
    /// let guard = lock.lock();
    /// assert!(std::ptr::eq(ReentrantMutexGuard::remutex(&guard), &lock));
    /// ```
    pub fn remutex(this: &Self) -> &'a ReentrantMutex<T, B> {
        this.mutex
    }

    /// A guard of one part of the data, made by `f` from the whole; this hold stays until the
    /// new guard drops. If `f` panics, the hold is given up.
    ///
    /// ```
    /// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new((String::from("name"), 1));
    /// let name = ReentrantMutexGuard::map(lock.lock(), |pair| &pair.0);
    /// assert_eq!(*name, "name");
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&T) -> &U) -> MappedReentrantMutexGuard<'a, U, B> {
        match Self::try_map(this, |data| Some(f(data))) {
            Ok(mapped) => mapped,
            Err(_) => unreachable!("the closure always finds its part"),
        }
    }

    /// As [`map`](Self::map), when `f` may find nothing to guard: then the original guard comes
    /// back, still holding.
    ///
    /// ```
    /// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new(vec![1, 2]);
    /// let guard = ReentrantMutexGuard::try_map(lock.lock(), |v| v.get(5)).unwrap_err(); // no element 5
    /// let first = ReentrantMutexGuard::try_map(guard, |v| v.first()).unwrap();
    /// assert_eq!(*first, 1);
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&T) -> Option<&U>,
    ) -> Result<MappedReentrantMutexGuard<'a, U, B>, Self> {
        match f(&*this).map(NonNull::from) {
            Some(data) => {
                let raw = &core::mem::ManuallyDrop::new(this).mutex.raw;
                Ok(MappedReentrantMutexGuard { raw, data: DataPtr(data), _marker: PhantomData })
            }
            None => Err(this),
        }
    }

    /// Gives up this hold while `f` runs, and takes it back before returning (also if `f`
    /// panics). If it was the thread's only hold, other threads may take the lock meanwhile; if
    /// the thread holds it through other guards too, it stays held.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = Arc::new(ReentrantMutex::new(()));
    /// let mut guard = lock.lock();
    /// ReentrantMutexGuard::unlocked(&mut guard, || {
    ///     let other = Arc::clone(&lock);
    ///     assert!(std::thread::spawn(move || other.try_lock().is_some()).join().unwrap());
    /// });
    /// assert!(lock.is_owned_by_current_thread()); // held again
    /// ```
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        /// Takes the hold back when dropped.
        struct Relock<'r, T: ?Sized, B: Backend>(&'r ReentrantMutex<T, B>);
        impl<T: ?Sized, B: Backend> Drop for Relock<'_, T, B> {
            fn drop(&mut self) {
                if B::model_failed() {
                    return;
                }
                // Cannot overflow: this thread's count is one lower than it was.
                self.0.raw.lock_with(self.0.data.tracker(), |word| word.acquire_raw(None));
            }
        }
        // SAFETY: the guard is a hold of this thread's; `Relock` takes it back before the guard
        // can be used or dropped.
        unsafe { this.mutex.raw.unlock(false) };
        let _relock = Relock(this.mutex);
        f()
    }

    /// Drops the guard; if it was the thread's last hold, hands the lock to the thread that has
    /// waited longest, if any, instead of letting running threads take it first.
    ///
    /// ```
    /// use turnstile::{ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new(1);
    /// ReentrantMutexGuard::unlock_fair(lock.lock());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        let this = core::mem::ManuallyDrop::new(this);
        // SAFETY: the guard's hold, given up once: the guard is never dropped.
        unsafe { this.mutex.raw.unlock(true) };
    }
}

impl<T: ?Sized, B: Backend> Deref for ReentrantMutexGuard<'_, T, B> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, and every reference to the data handed out while it
        // is held is shared (`&T`), by this thread.
        unsafe { &*self.mutex.data.as_ptr() }
    }
}

impl<T: ?Sized, B: Backend> Drop for ReentrantMutexGuard<'_, T, B> {
    #[inline]
    fn drop(&mut self) {
        if B::model_failed() {
            return;
        }
        // SAFETY: the guard's hold, given up exactly once, here.
        unsafe { self.mutex.raw.unlock(false) };
    }
}

impl<T: ?Sized + fmt::Debug, B: Backend> fmt::Debug for ReentrantMutexGuard<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, B: Backend> fmt::Display for ReentrantMutexGuard<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A hold on a [`ReentrantMutex`] that gives `&T` to part of its data, from
/// [`ReentrantMutexGuard::map`]. `!Send`, and `Sync` when `T` is.
///
/// ```
/// use turnstile::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
///
/// fn name(lock: &ReentrantMutex<(String, u32)>) -> MappedReentrantMutexGuard<'_, String> {
///     ReentrantMutexGuard::map(lock.lock(), |pair| &pair.0)
/// }
/// let lock = ReentrantMutex::new((String::from("ada"), 36));
/// assert_eq!(*name(&lock), "ada");
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct MappedReentrantMutexGuard<'a, T: ?Sized, B: Backend = Real> {
    raw: &'a RawReentrant<B>,
    data: DataPtr<T>,
    // `&T` for variance and lifetime; `!Send`, as `ReentrantMutexGuard` (see `GuardStaysOnItsThread`).
    _marker: PhantomData<(&'a T, *const GuardStaysOnItsThread)>,
}

// SAFETY: `&MappedReentrantMutexGuard` gives out only `&T` (Deref), sound to share when `T: Sync`.
unsafe impl<T: ?Sized + Sync, B: Backend> Sync for MappedReentrantMutexGuard<'_, T, B> {}

impl<'a, T: ?Sized, B: Backend> MappedReentrantMutexGuard<'a, T, B> {
    /// Maps again, to a part of this part.
    ///
    /// ```
    /// use turnstile::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new(((1, 2), 3));
    /// let inner = ReentrantMutexGuard::map(lock.lock(), |t| &t.0);
    /// let second = MappedReentrantMutexGuard::map(inner, |pair| &pair.1);
    /// assert_eq!(*second, 2);
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&T) -> &U) -> MappedReentrantMutexGuard<'a, U, B> {
        match Self::try_map(this, |data| Some(f(data))) {
            Ok(mapped) => mapped,
            Err(_) => unreachable!("the closure always finds its part"),
        }
    }

    /// As [`map`](Self::map), giving this guard back if `f` finds nothing.
    ///
    /// ```
    /// use turnstile::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new((vec![1], 0));
    /// let list = ReentrantMutexGuard::map(lock.lock(), |t| &t.0);
    /// let list = MappedReentrantMutexGuard::try_map(list, |l| l.get(1)).unwrap_err();
    /// assert_eq!(*list, [1]);
    /// ```
    pub fn try_map<U: ?Sized>(
        this: Self,
        f: impl FnOnce(&T) -> Option<&U>,
    ) -> Result<MappedReentrantMutexGuard<'a, U, B>, Self> {
        match f(&*this).map(NonNull::from) {
            Some(data) => {
                let raw = core::mem::ManuallyDrop::new(this).raw;
                Ok(MappedReentrantMutexGuard { raw, data: DataPtr(data), _marker: PhantomData })
            }
            None => Err(this),
        }
    }

    /// Drops the guard; if it was the thread's last hold, hands the lock to the thread that has
    /// waited longest, as [`ReentrantMutexGuard::unlock_fair`].
    ///
    /// ```
    /// use turnstile::{MappedReentrantMutexGuard, ReentrantMutex, ReentrantMutexGuard};
    ///
    /// let lock = ReentrantMutex::new((1, 2));
    /// MappedReentrantMutexGuard::unlock_fair(ReentrantMutexGuard::map(lock.lock(), |p| &p.1));
    /// assert!(!lock.is_locked());
    /// ```
    pub fn unlock_fair(this: Self) {
        let this = core::mem::ManuallyDrop::new(this);
        // SAFETY: the guard's hold, given up once: the guard is never dropped.
        unsafe { this.raw.unlock(true) };
    }
}

impl<T: ?Sized, B: Backend> Deref for MappedReentrantMutexGuard<'_, T, B> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, and `data` points into the data it protects, to
        // which only shared references are handed out.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized, B: Backend> Drop for MappedReentrantMutexGuard<'_, T, B> {
    #[inline]
    fn drop(&mut self) {
        if B::model_failed() {
            return;
        }
        // SAFETY: this guard inherited the hold of the guard it was mapped from.
        unsafe { self.raw.unlock(false) };
    }
}

impl<T: ?Sized + fmt::Debug, B: Backend> fmt::Debug for MappedReentrantMutexGuard<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, B: Backend> fmt::Display for MappedReentrantMutexGuard<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::ReentrantMutex;

    #[test]
    #[should_panic(expected = "already holds the lock 18446744073709551615 times")]
    #[cfg(target_pointer_width = "64")]
    fn a_hold_past_usize_max_panics_instead_of_wrapping() {
        let lock = ReentrantMutex::new(());
        let guard = lock.lock();
        // SAFETY: this thread holds the lock, so `held` is ours; as if it had locked that often.
        unsafe { (*lock.raw.held.get()).count = usize::MAX };
        let _more = lock.lock();
        drop(guard);
    }
}
