//! A mutex: one word, no system call unless somebody waits, exact waiters, and a bound on
//! barging.
//!
//! Uncontended, `lock` is one compare-exchange `0 → LOCKED` (Acquire) and `unlock` one
//! compare-exchange `LOCKED → 0` (Release), over every backend. What happens when they fail
//! depends on where the waiters wait: in this process's wait queues (`Backend::QUEUED`: [`Real`]
//! and loom's backend), or in the kernel on the lock word itself (between processes).
//!
//! **In one process (queued).** The word holds three bits:
//!
//! | bit | name      | meaning                                                                  |
//! |-----|-----------|--------------------------------------------------------------------------|
//! | 0   | `LOCKED`  | held                                                                     |
//! | 1   | `PARKED`  | threads wait in the lock's queue (the queue keyed by the word's address) |
//! | 2   | `WAKING`  | an unlock woke a waiter that has not run yet: one wake in flight         |
//!
//! * **Lock.** A waiter spins and yields (`backoff.rs`) while nobody is parked, then sets
//!   `PARKED` on a word that shows the lock held and parks in the queue, which validates, under
//!   its bucket lock, that the word still shows `LOCKED | PARKED`. An unlock changes the word
//!   under that same bucket lock, so no wake is lost.
//! * **Unlock.** If `PARKED` is clear, or `WAKING` is set, it releases without waking anyone:
//!   the woken thread on its way will take the lock or park again, and while it runs no other
//!   unlock pays for a wake. Otherwise it unparks the oldest waiter; under the bucket lock the
//!   queue says whether more wait, and the unlock releases the lock, sets `WAKING` and sets
//!   `PARKED` to exactly that answer. The woken thread clears `WAKING` and competes for the lock
//!   as a newcomer does (barging keeps throughput).
//! * **Exact waiters.** `PARKED` is set by a waiter before it parks, and cleared only under the
//!   bucket lock: by an unlock whose queue has nobody left, or by a waiter that gives up at its
//!   deadline as the last in line (`timed_out(more = false)`). A waiter that set it and then found
//!   the lock free leaves it set until the next unlock, which finds nobody and clears it.
//! * **Order and fairness.** The queue serves each address first come, first served. About every
//!   0.5 ms per bucket ([`FAIRNESS_BOUND`]) while threads wait, the queue tells an unpark to be
//!   fair; the unlock then keeps `LOCKED` and hands the lock straight to the oldest waiter (the
//!   token it wakes with says "the lock is yours"), so running threads cannot barge past it.
//!   [`MutexGuard::unlock_fair`](LockGuard::unlock_fair) does so on every unlock that finds a
//!   waiter. A [`Condvar`](crate::Condvar) waiter moved onto the lock's queue is woken to take
//!   the lock itself, never handed it (its wait takes the lock back as a plain acquire).
//!
//! **Between processes (the kernel on the lock word).** A queue in one process cannot hold the
//! waiters of another, so over [`ProcessShared`](crate::backend::ProcessShared) the mutex keeps
//! its counted-sleeper protocol, in separate functions (`lock_slow`, `sleep`, `unlock_slow`):
//! the kernel cannot say under a lock of ours whether more wait, so the word counts them.
//!
//! | bits  | name        | meaning                                                              |
//! |-------|-------------|----------------------------------------------------------------------|
//! | 0     | `LOCKED`    | held                                                                 |
//! | 1     | `HANDOFF`   | the holder handed the lock to the sleepers: the first to look owns it |
//! | 2     | `REQUEUED`  | a condition variable moved its waiters onto this word: unlock wakes one |
//! | 3..9  | starved     | sleepers that have waited past the fairness bound: unlocks hand off (a mark: 0 or 1) |
//! | 9..32 | sleepers    | how many threads are counted as asleep on the word (saturates)      |
//!
//! A waiter spins and yields, then counts itself and sleeps on the word; an unlock that finds
//! sleepers counted wakes one. The count covers threads between counting themselves and leaving,
//! not only those the kernel holds asleep, so an unlock may pay a wake that finds nobody, and
//! several wakes may be in flight. A sleeper overtaken past the fairness bound raises the starved
//! mark, and unlocks then hand off (`HANDOFF`) to whichever counted sleeper looks first; the
//! kernel wakes a word's sleepers in the order they slept. What differs from one process:
//! waiters are counted, not exact; more than one wake may be in flight; hand-offs go to the
//! sleepers, not to one known thread; and [`Condvar`](crate::Condvar) marks the word
//! `REQUEUED` after it moved its waiters onto it.
//!
//! **The invariant (kernel path):** a counted sleeper sleeps only while the lock is held by
//! someone whose unlock will see it counted, or while a hand-off is on its way to the counted
//! sleepers. A counted sleeper that comes back from the futex for any reason looks at the word
//! before anything else, and takes the lock if it is free or handed over.
//!
//! **Waiters that vanish (between processes).** In one process a counted thread cannot vanish:
//! a thread that dies takes the process with it. Over
//! [`ProcessShared`](crate::backend::ProcessShared) a waiter process can be killed anywhere:
//! spinning, counted asleep, starved, or just after a wake picked it. Its count stays in the
//! word (nobody can tell a dead count from a live one), and without care a hand-off waits for it
//! forever, or the one wake an unlock makes dies with it while the others sleep on beside a free
//! lock. So there, and only there ([`Backend::SLEEP_SLICE`]), three things change:
//!
//! * a counted sleeper sleeps at most 10 ms at a time, then looks at the word as after any
//!   return: it takes a lock it finds free, and claims a hand-off that stands (it is a counted
//!   sleeper, so "the first to look owns it" still holds);
//! * a hand-off whose wake finds nobody asleep is undone at once: the lock is released plainly,
//!   and one more wake goes out for a sleeper that counted itself on the hand-off just before
//!   (a live sleeper on its way to sleep or back finds the word changed and takes it);
//! * the starved field is a mark, not a count: a starved sleeper raises it each time it looks
//!   and is overtaken, and each hand-off clears it, so a dead waiter's mark costs one hand-off.
//!
//! **The guarantee between processes:** a waiter killed at any point never wedges the lock. Each
//! such kill costs the live waiters at most one 10 ms slice of delay, and every later unlock a
//! `FUTEX_WAKE` that finds nobody, as its count is never taken back; the sleeper field saturates at
//! 2^23 − 1 (about 8.4 million kills), after which newcomers wait uncounted, looking at the word
//! every slice, and claim a hand-off that stands. Starvation is bounded more loosely than in one
//! process (the mark asks for one hand-off at a time). The one wedge left: a holder killed while
//! it holds a plain `shm::Mutex`; [`RobustMutex`](crate::shm::RobustMutex) is for that. Over
//! [`Real`] nothing of this runs: waiters park in the queue until woken, and the uncontended paths are the
//! same compare-exchange each.
//!
//! **Condition variables (kernel path).** [`Condvar`](crate::Condvar) moves its waiters onto
//! this word with `FUTEX_CMP_REQUEUE` while they sleep, so they cannot count themselves. It sets
//! `REQUEUED` instead, and they sleep under a futex mask of their own: an unlock that finds
//! `REQUEUED` clears it and wakes one of them, and that thread takes the lock with `REQUEUED`
//! set again, so the mark travels down the line. In one process the condition variable moves
//! its waiters into the lock's queue and sets `PARKED`, and no mark is needed.
//!
//! This answers the mutual-exclusion problem without busy-waiting.

use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Parked, Real, Unparked, Word};
use crate::backoff::{Backoff, Patience};
use crate::guard::{self, raw::RawLock, ArcLockGuard, LockData, LockGuard, MappedLockGuard};
use crate::machine::queue::{self, Pick};
use crate::self_deadlock::Want;

mod fair;
pub use fair::{ArcFairMutexGuard, FairMutex, FairMutexGuard, MappedFairMutexGuard};

/// Free, nobody counted or parked.
const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1 << 0;

// Over a queued backend (the threads of one process) the word holds `LOCKED`, `PARKED` and
// `WAKING` only; the bits below them are the kernel path's.

/// Queued: threads wait in the lock's queue. Set by a waiter (on a word that shows `LOCKED`)
/// before it parks; cleared under the queue's lock when the last waiter leaves it.
const PARKED: u32 = 1 << 1;
/// Queued: an unlock woke a waiter that has not yet run; until it clears this bit, unlocks
/// release without waking anyone (one wake in flight).
const WAKING: u32 = 1 << 2;

/// The token of a waiter woken to compete for the lock (it then clears `WAKING`).
pub(crate) const TOKEN_WOKEN: u32 = 1;
/// The token of a waiter handed the lock: `LOCKED` was kept for it, and it is the holder.
const TOKEN_HANDED_OFF: u32 = 2;
/// What a waiter in `lock` parks with (a condition variable's waiters park with others), so an
/// unlock knows whom it may hand the lock to.
const PARK_LOCKER: u32 = 1;
/// The lock (still `LOCKED`) belongs to whichever counted sleeper looks first.
const HANDOFF: u32 = 1 << 1;
/// Threads requeued by a condition variable may sleep on the word, uncounted.
const REQUEUED: u32 = 1 << 2;
/// One starved sleeper: while any are counted, unlocks hand off instead of releasing.
const STARVED: u32 = 1 << 3;
/// The most starved sleepers the 6-bit field counts; more starve uncounted until one leaves.
const MAX_STARVED: u32 = 63;
/// All the bits of the starved field.
const STARVED_FIELD: u32 = STARVED * MAX_STARVED;
/// One counted sleeper.
const SLEEPER: u32 = 1 << 9;
/// The most sleepers the 23-bit field counts. Threads of one process never fill it (Linux has at
/// most 2^22 thread ids); between processes the counts of killed waiters, never taken back, can,
/// after about 8.4 million such kills. Then a waiter does not count itself: it polls (see
/// `lock_slow`), and the field stays full.
const MAX_SLEEPERS: u32 = u32::MAX / SLEEPER;
/// How often a waiter that found the sleeper field full looks at the word, where the backend
/// has no sleep slice of its own (never, over `Real`: see `MAX_SLEEPERS`).
const FULL_POLL: Duration = Duration::from_millis(1);

/// The futex mask counted sleepers sleep under, and that their wakes name.
const SLEEPER_MASK: u32 = 1 << 0;
/// The futex mask a [`Condvar`](crate::Condvar)'s waiters sleep under, so that when they are
/// requeued onto a mutex only the mutex's `REQUEUED` wakes reach them.
pub(crate) const REQUEUED_MASK: u32 = 1 << 1;

/// About how often, while threads wait, an unlock hands the lock straight to the oldest waiter
/// (per bucket of the wait queue; between processes: how long a sleeper may be overtaken before
/// unlocks hand off): 0.5 ms.
/// See the [module docs](crate::mutex).
pub const FAIRNESS_BOUND: Duration = <Real as Backend>::FAIRNESS_BOUND;

// The starved field sits between the flags and the sleepers, and reaches neither.
const _: () = assert!(REQUEUED < STARVED && STARVED * (MAX_STARVED + 1) == SLEEPER);

/// How a counted sleeper stopped sleeping (see `Mutex::sleep`).
enum Slept {
    Acquired,
    TimedOut,
    /// Woken to find the lock taken, and un-counted to spin: the word as it left it.
    Awake(u32),
}

/// Whom an unlock wakes (see `Mutex::unlock_slow`).
enum Wake {
    Nobody,
    /// One requeued thread, or if none is left one counted sleeper.
    Requeued,
    Sleeper,
    /// One counted sleeper, to take the lock handed over.
    HandedOff,
}

fn sleepers(state: u32) -> u32 {
    state / SLEEPER
}

/// When a counted sleeper's next sleep ends at the latest, and whether that is the caller's
/// deadline: the deadline itself, or where sleepers may vanish the end of a slice if sooner.
#[inline]
fn sleep_until<B: Backend>(deadline: Option<Instant>) -> (Option<Instant>, bool) {
    let Some(slice) = B::SLEEP_SLICE else { return (deadline, true) };
    match Instant::now().checked_add(slice) {
        Some(end) if deadline.map_or(true, |deadline| end < deadline) => (Some(end), false),
        _ => (deadline, true),
    }
}

fn starved(state: u32) -> u32 {
    (state / STARVED) & MAX_STARVED
}

/// A mutual-exclusion lock that sleeps on a futex when it has to wait.
///
/// Uncontended, `lock` and `unlock` are one compare-exchange each, with no system call.
/// Contended, a waiter spins briefly, yields a few times, and then parks in the lock's wait
/// queue (first come, first served) until an unlock wakes it; one wake is in flight at a time.
/// Running threads may take the lock ahead of woken ones (barging), but about every
/// [`FAIRNESS_BOUND`] while threads wait an unlock hands the lock straight to the oldest waiter
/// (see the [module docs](crate::mutex)); `Mutex<()>` is 4 bytes. A panic in the critical section releases
/// the lock (no poisoning).
///
/// `#[repr(C)]`: the `u32` lock word at offset 0, then the data. Over the
/// [`ProcessShared`](crate::backend::ProcessShared) backend it works between processes, in a
/// [`shm::Region`](crate::shm::Region) (Linux); there a waiter process killed at any point never
/// wedges it, but a holder killed holding it does (see the [module docs](crate::mutex), "Waiters
/// that vanish").
///
/// ```
/// use std::sync::Arc;
/// use turnstile::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         std::thread::spawn(move || *counter.lock() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4);
/// ```
#[repr(C)]
pub struct Mutex<T: ?Sized, B: Backend = Real> {
    state: B::Word,
    data: LockData<T, B>,
}

/// The guard of a [`Mutex`]: the lock is held until it is dropped.
///
/// ```
/// use turnstile::{Mutex, MutexGuard};
///
/// fn take_first(queue: &Mutex<Vec<u32>>) -> (Option<u32>, MutexGuard<'_, Vec<u32>>) {
///     let mut guard = queue.lock();
///     (guard.pop(), guard) // the caller keeps the lock
/// }
/// let queue = Mutex::new(vec![7]);
/// let (first, rest) = take_first(&queue);
/// assert_eq!((first, rest.len()), (Some(7), 0));
/// ```
pub type MutexGuard<'a, T, B = Real> = LockGuard<'a, Mutex<T, B>>;
/// A guard of part of a [`Mutex`]'s data, from [`MutexGuard::map`](LockGuard::map).
///
/// ```
/// use turnstile::{MappedMutexGuard, Mutex, MutexGuard};
///
/// let lock = Mutex::new((String::from("a"), 1));
/// let mut count: MappedMutexGuard<'_, (String, i32), i32> = MutexGuard::map(lock.lock(), |p| &mut p.1);
/// *count += 1;
/// drop(count);
/// assert_eq!(lock.lock().1, 2);
/// ```
pub type MappedMutexGuard<'a, T, U, B = Real> = MappedLockGuard<'a, Mutex<T, B>, U>;
/// A [`Mutex`] guard that owns an `Arc` of the mutex, from [`Mutex::lock_arc`].
///
/// ```
/// use std::sync::Arc;
/// use turnstile::{ArcMutexGuard, Mutex};
///
/// let lock = Arc::new(Mutex::new(Vec::new()));
/// let mut guard: ArcMutexGuard<Vec<u8>> = lock.lock_arc();
/// guard.push(1);
/// drop(guard);
/// assert_eq!(*lock.lock(), [1]);
/// ```
pub type ArcMutexGuard<T, B = Real> = ArcLockGuard<Mutex<T, B>>;

impl<T> Mutex<T> {
    /// A new, unlocked mutex. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use turnstile::Mutex;
    ///
    /// static NAMES: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    /// NAMES.lock().push("ada");
    /// assert_eq!(NAMES.lock().len(), 1);
    /// ```
    #[inline]
    pub const fn new(value: T) -> Self {
        Mutex { state: AtomicU32::new(UNLOCKED), data: LockData::new(value) }
    }
}

/// The `const` constructor of [`shm::Mutex::new`](crate::shm::Mutex::new).
#[cfg(target_os = "linux")]
impl<T> Mutex<T, crate::backend::ProcessShared> {
    #[inline]
    pub(crate) const fn process_shared(value: T) -> Self {
        Mutex { state: AtomicU32::new(UNLOCKED), data: LockData::new(value) }
    }
}

impl<T, B: Backend> Mutex<T, B> {
    /// A new, unlocked mutex over the backend `B`, named explicitly:
    /// `Mutex::<_, Real>::with_backend(x)` is `Mutex::new(x)`. Loom models build their mutexes
    /// with it, over the loom backend. Not `const`, as some backends' words are not; between
    /// processes, [`shm::Mutex::new`](crate::shm::Mutex::new) is (Linux).
    ///
    /// ```
    /// use turnstile::{backend::Real, Mutex};
    ///
    /// let m = Mutex::<_, Real>::with_backend(3);
    /// assert_eq!(*m.lock(), 3);
    /// ```
    pub fn with_backend(value: T) -> Self {
        Mutex { state: B::Word::new(UNLOCKED), data: LockData::with_backend(value) }
    }
}

impl<T: ?Sized, B: Backend> Mutex<T, B> {
    /// Takes the lock, sleeping until it is free.
    ///
    /// Taking it again on the same thread while holding it would wait forever: debug builds
    /// panic there instead, naming the line that holds it (release builds do not check). Drop
    /// the first guard first, or use a reentrant mutex.
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(1);
    /// *lock.lock() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    ///
    /// ```should_panic
    /// # if !cfg!(debug_assertions) { panic!("the check is in debug builds only") }
    /// let lock = turnstile::Mutex::new((1, 2));
    /// // Both guards live to the end of the statement: the second lock() waits for the first.
    /// println!("{} {}", lock.lock().0, lock.lock().1); // panics: "this thread already holds this Mutex"
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T, B> {
        crate::self_deadlock::check::<B>(self.word_ptr(), "Mutex", "lock", Want::Lock, false, |_| {
            self.is_locked()
        });
        if !self.try_acquire() {
            self.lock_contended(None);
        }
        // SAFETY: we hold the lock (fast path or `lock_contended` without a deadline).
        unsafe { LockGuard::new(self) }
    }

    /// Takes the lock if it is free right now; never waits.
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(());
    /// let held = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T, B>> {
        if self.try_acquire() {
            // SAFETY: the lock is held when `try_acquire` says so.
            Some(unsafe { LockGuard::new(self) })
        } else {
            None
        }
    }

    /// Takes the lock, waiting at most `timeout`; `None` if it did not become free in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = turnstile::Mutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
    /// drop(held);
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_some());
    /// ```
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T, B>> {
        self.lock_before(crate::wait::deadline_after(timeout))
    }

    /// Takes the lock, waiting until `deadline` at the latest; `None` if it did not become free.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lock = turnstile::Mutex::new(5);
    /// let guard = lock.try_lock_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, B>> {
        self.lock_before(Some(deadline))
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::Mutex::new(());
    /// let guard = lock.lock();
    /// assert!(lock.is_locked());
    /// drop(guard);
    /// assert!(!lock.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        self.state.load(Relaxed) & LOCKED != 0
    }

    #[cfg_attr(debug_assertions, track_caller)]
    fn lock_before(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T, B>> {
        if !self.try_acquire() && !self.lock_contended(deadline) {
            return None;
        }
        // SAFETY: we hold the lock.
        Some(unsafe { LockGuard::new(self) })
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        // Acquire: pairs with the Release of the unlock that freed the lock, so the previous
        // holder's writes to the data happen before ours. Relaxed on failure: we read nothing.
        self.state.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_ok() || self.try_acquire_slow()
    }

    /// `try_acquire` when the word holds more than "free": the lock may still be free, with
    /// sleepers counted or a wake on its way.
    #[cold]
    fn try_acquire_slow(&self) -> bool {
        // Relaxed: the compare-exchange below is what acquires.
        let mut state = self.state.load(Relaxed);
        while state & LOCKED == 0 {
            // Acquire: as in `try_acquire`.
            match self.state.compare_exchange(state, state | LOCKED, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// Spins, yields, then sleeps until the lock is ours; `false` if `deadline` passed first.
    #[cold]
    fn lock_contended(&self, deadline: Option<Instant>) -> bool {
        if B::QUEUED {
            self.lock_queued(deadline, false)
        } else {
            self.lock_slow(deadline, LOCKED)
        }
    }

    /// The lock word's address, which is the lock's (`#[repr(C)]`), for the debug build's
    /// record of held locks.
    #[inline]
    fn word_ptr(&self) -> *const () {
        &self.state as *const B::Word as *const ()
    }

    /// The key this lock's waiters queue under: the address of its word.
    #[inline]
    fn key(&self) -> usize {
        &self.state as *const B::Word as usize
    }

    /// The slow path of every acquire over a queued backend: spin and yield while nobody is
    /// parked, then set `PARKED` and park until woken or handed the lock. `woken`: the caller
    /// is a waiter an unlock woke (a condition variable's, moved onto this lock), which must
    /// clear `WAKING` before anything else.
    fn lock_queued(&self, deadline: Option<Instant>, mut woken: bool) -> bool {
        let mut backoff = Backoff::<B>::new();
        // Relaxed, here and below: a hint; only the compare-exchange that sets LOCKED acquires.
        let mut state = self.state.load(Relaxed);
        loop {
            if woken {
                // The one wake in flight has arrived: from now on unlocks wake again.
                // Relaxed: the bit orders no data; the compare-exchange that sets LOCKED
                // acquires.
                state = self.state.fetch_and(!WAKING, Relaxed) & !WAKING;
                woken = false;
            }
            if state & LOCKED == 0 {
                // Acquire: pairs with the Release of the unlock that freed the lock.
                match self.state.compare_exchange(state, state | LOCKED, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            // Nobody parked yet: the holder will likely let go within a few pauses.
            if state & PARKED == 0 && backoff.spin_then_yield() {
                state = self.state.load(Relaxed);
                continue;
            }
            if state & PARKED == 0 {
                // Relaxed: the queue's lock orders this with the unlock's look at the word.
                if let Err(now) = self.state.compare_exchange(state, state | PARKED, Relaxed, Relaxed) {
                    state = now;
                    continue;
                }
            }
            // Relaxed: under the bucket lock, which every unlock's callback also holds.
            let validate = || self.state.load(Relaxed) & (LOCKED | PARKED) == LOCKED | PARKED;
            let timed_out = |more: bool| {
                if !more {
                    // The last waiter left: PARKED stays exact. Relaxed: under the bucket lock.
                    self.state.fetch_and(!PARKED, Relaxed);
                }
            };
            match queue::park::<B>(self.key(), validate, PARK_LOCKER, deadline, timed_out) {
                // Handed the lock: LOCKED was kept for us. The hand-off's writes are ours by the
                // queue's Release store of the node's word, which `park` acquires.
                Parked::Woken(TOKEN_HANDED_OFF) => return true,
                Parked::Woken(_) => {
                    woken = true;
                    backoff = Backoff::new();
                }
                Parked::Invalid => {}
                Parked::TimedOut => return false,
            }
            state = self.state.load(Relaxed);
        }
    }

    /// Releases the lock over a queued backend, which the caller holds and whose word holds
    /// more than `LOCKED`. With `force_fair` (or when the queue says it is time), hands the lock
    /// to the oldest waiter instead of releasing it.
    #[cold]
    fn unlock_queued(&self, force_fair: bool) {
        // Relaxed: the compare-exchange below works on the latest value.
        let mut state = self.state.load(Relaxed);
        loop {
            // Nobody parked, or a woken waiter still on its way (and no hand-off asked for):
            // release without waking anyone.
            if state & PARKED == 0 || (state & WAKING != 0 && !force_fair) {
                // Release: publishes the critical section to the next acquirer's Acquire.
                match self.state.compare_exchange(state, state & !LOCKED, Release, Relaxed) {
                    Ok(_) => return,
                    Err(now) => state = now,
                }
                continue;
            }
            break;
        }
        // Whom the filter picked: a waiter in `lock` can be handed the lock; a condition
        // variable's waiter moved here is woken to take it itself.
        let picked = core::cell::Cell::new(None);
        let filter = |park_token: u32| {
            if picked.get().is_some() {
                return Pick::Stop;
            }
            picked.set(Some(park_token));
            Pick::Wake
        };
        let callback = |unparked: Unparked| {
            let can_hand_off = picked.get() == Some(PARK_LOCKER);
            if unparked.woken > 0 && can_hand_off && (force_fair || unparked.fair) {
                if !unparked.more {
                    // Relaxed: under the bucket lock; LOCKED stays, so nobody acquires.
                    self.state.fetch_and(!PARKED, Relaxed);
                }
                #[cfg(feature = "loom")]
                HAND_OFFS.with(|n| n.set(n.get() + 1));
                return TOKEN_HANDED_OFF;
            }
            let clear = if unparked.more { LOCKED } else { LOCKED | PARKED };
            let set = if unparked.woken > 0 { WAKING } else { 0 };
            // Release: publishes the critical section to the next acquirer's Acquire.
            let mut state = self.state.load(Relaxed);
            while let Err(now) = self.state.compare_exchange(state, (state & !clear) | set, Release, Relaxed)
            {
                state = now;
            }
            TOKEN_WOKEN
        };
        queue::unpark::<B>(self.key(), filter, callback);
    }

    /// For a condition variable's waiter over a queued backend, back from its park with
    /// `token`: if an unlock of this lock woke it (it had been moved here), it is the wake in
    /// flight, and clears `WAKING` before it takes the lock back.
    pub(crate) fn woken_by_unlock(&self, token: u32) {
        if B::QUEUED && token == TOKEN_WOKEN {
            // Relaxed: as in `lock_queued`.
            self.state.fetch_and(!WAKING, Relaxed);
        }
    }

    /// The slow path of every acquire. `take` is what the acquirer sets: `LOCKED`, or
    /// `LOCKED | REQUEUED` for a condition variable's waiter, behind which others requeued with
    /// it may sleep uncounted.
    fn lock_slow(&self, deadline: Option<Instant>, take: u32) -> bool {
        let mut backoff = Backoff::<B>::new();
        // Started when we first sleep, and kept across sleeps: the fairness bound counts from
        // then.
        let mut patience = None;
        // Relaxed, here and below: a hint; only the compare-exchange that sets LOCKED acquires.
        let mut state = self.state.load(Relaxed);
        loop {
            if state & LOCKED == 0 {
                // Acquire: pairs with the Release of the unlock that freed the lock.
                match self.state.compare_exchange(state, state | take, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            // Spin and yield, unless a starved sleeper is owed the lock: then queue behind it.
            if starved(state) == 0 && backoff.spin_then_yield() {
                state = self.state.load(Relaxed);
                continue;
            }
            if sleepers(state) == MAX_SLEEPERS {
                // Only the counts of killed waiters fill the field. Wait uncounted, polling, and
                // claim a hand-off that stands as a counted sleeper would: it was handed to
                // sleepers of whom this thread would be one if the field had room.
                match self.wait_uncounted(state, deadline, take) {
                    Some(taken) => return taken,
                    None => {
                        state = self.state.load(Relaxed);
                        continue;
                    }
                }
            }
            // Count ourselves, on a word that shows the lock held: its unlock will see us.
            // Relaxed: counting only; nothing is published or acquired by it.
            match self.state.compare_exchange(state, state + SLEEPER, Relaxed, Relaxed) {
                Ok(_) => {
                    let patience = patience.get_or_insert_with(Patience::<B>::start);
                    match self.sleep(state + SLEEPER, deadline, take, patience) {
                        Slept::Acquired => return true,
                        Slept::TimedOut => return false,
                        Slept::Awake(now) => {
                            // Woken and overtaken: wait as a newcomer does, from the top.
                            state = now;
                            backoff = Backoff::new();
                        }
                    }
                }
                Err(now) => state = now,
            }
        }
    }

    /// Sleeps as a counted sleeper (the caller counted itself, leaving the word at `seen`) until
    /// the lock is ours, the deadline passes, or (on a machine where waiters spin) it wakes to
    /// find the lock taken by someone else and is not yet owed it: then it un-counts itself and
    /// returns `Awake`, to spin and yield as a newcomer does before it sleeps again.
    ///
    /// Un-counting matters: a thread that spins while counted makes every unlock meanwhile pay a
    /// `FUTEX_WAKE` that finds nobody asleep. (Counted spinning measured about one futex call per
    /// operation with a long critical section at 8 threads; parking_lot made one per 27.) The
    /// models over `Loom<Patient>` spin one round and starve on the second overtake, so they take
    /// this way back and re-count, and mix starved and not-starved sleepers.
    #[cold]
    fn sleep(
        &self,
        mut seen: u32,
        deadline: Option<Instant>,
        take: u32,
        patience: &mut Patience<B>,
    ) -> Slept {
        // Whether this thread counts itself in the starved field (never where sleepers may
        // vanish: there the field is a mark that hand-offs clear, and nobody un-counts).
        let mut starving = false;
        let mut timed_out = false;
        loop {
            // The futex checks that the word still holds `seen` as it puts us to sleep: an
            // unlock or a hand-off after we looked makes it return at once. Where sleepers may
            // vanish the sleep ends after a slice anyway, so that a wake or hand-off that went to
            // a killed waiter strands nobody.
            let (until, is_deadline) = sleep_until::<B>(deadline);
            timed_out = timed_out || (!B::wait_masked(&self.state, seen, SLEEPER_MASK, until) && is_deadline);
            // Asked at most once per look, as each look that finds the lock taken is one overtake.
            let mut overtaken_past_bound = None;
            // Back for whatever reason: look at the word afresh. Relaxed: as in `lock_slow`.
            let mut state = self.state.load(Relaxed);
            loop {
                let mut new = state;
                let mut starve = false;
                // Some(outcome): we stop sleeping, un-counted; None: sleep again, counted.
                let outcome = if state & HANDOFF != 0 {
                    // Handed to us: LOCKED stays set, and clearing the mark makes it ours. A
                    // timed waiter whose deadline passed meanwhile takes it too: handing it back
                    // would need a second hand-off.
                    new = (new & !HANDOFF) | take;
                    Some(Slept::Acquired)
                } else if state & LOCKED == 0 {
                    new |= take;
                    Some(Slept::Acquired)
                } else if timed_out {
                    Some(Slept::TimedOut)
                } else if *overtaken_past_bound.get_or_insert_with(|| patience.exhausted()) {
                    // Overtaken past the bound: count ourselves starved (once), and from then on
                    // unlocks hand off. A starved thread sleeps on, counted, until served. Where
                    // sleepers may vanish, raise the mark instead, on every look until served:
                    // the next hand-off clears it, so a killed waiter's mark outlives it by one.
                    starve = if B::SLEEP_SLICE.is_some() {
                        starved(state) == 0
                    } else {
                        !starving && starved(state) < MAX_STARVED
                    };
                    if starve {
                        new += STARVED;
                    }
                    None
                } else if !starving && starved(state) == 0 && Backoff::<B>::SPINS {
                    Some(Slept::Awake(new - SLEEPER))
                } else {
                    None
                };
                if outcome.is_some() {
                    new -= SLEEPER;
                    if starving {
                        new -= STARVED;
                    }
                } else if new == state {
                    break; // Nothing to change: sleep again on what we saw.
                }
                // Acquire when this takes the lock: pairs with the Release of the unlock or
                // hand-off that freed it for us. Relaxed otherwise: counting only.
                let order = if matches!(outcome, Some(Slept::Acquired)) { Acquire } else { Relaxed };
                match self.state.compare_exchange(state, new, order, Relaxed) {
                    Ok(_) => match outcome {
                        Some(outcome) => return outcome,
                        None => {
                            starving |= starve && B::SLEEP_SLICE.is_none();
                            state = new;
                            break;
                        }
                    },
                    Err(now) => state = now,
                }
            }
            seen = state;
        }
    }

    /// Waits, uncounted, for a lock whose sleeper field is full (see `MAX_SLEEPERS`): claims a
    /// hand-off that stands, or sleeps one poll on `seen`. `Some(taken)` when done (the lock is
    /// ours, or the deadline passed), `None` to look again from the top.
    #[cold]
    fn wait_uncounted(&self, seen: u32, deadline: Option<Instant>, take: u32) -> Option<bool> {
        if seen & HANDOFF != 0 {
            // Acquire: pairs with the Release of the hand-off, as a counted sleeper's claim does.
            return self
                .state
                .compare_exchange(seen, (seen & !HANDOFF) | take, Acquire, Relaxed)
                .ok()
                .map(|_| true);
        }
        let poll = Instant::now().checked_add(B::SLEEP_SLICE.unwrap_or(FULL_POLL));
        let (until, is_deadline) = match (poll, deadline) {
            (Some(poll), Some(deadline)) if deadline <= poll => (Some(deadline), true),
            (None, deadline) => (deadline, true),
            (poll, _) => (poll, false),
        };
        if !B::wait_masked(&self.state, seen, SLEEPER_MASK, until) && is_deadline {
            // One last look, as a counted sleeper takes a lock it finds free as it gives up.
            return Some(self.try_acquire_slow());
        }
        None
    }

    /// How many threads the word counts as asleep, and how many of those as starved. For loom
    /// models that need a sleeper to be counted before they act; not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn sleepers(&self) -> (u32, u32) {
        // Relaxed: a snapshot for a model's bookkeeping.
        let state = self.state.load(Relaxed);
        (sleepers(state), starved(state))
    }

    /// Whether the word says threads are parked in the lock's queue (`PARKED`; always `false`
    /// over the kernel path). For loom models; not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn is_parked(&self) -> bool {
        // Relaxed: a snapshot for a model's bookkeeping.
        B::QUEUED && self.state.load(Relaxed) & PARKED != 0
    }

    /// How many times an unlock handed a lock straight to a parked waiter on this thread since
    /// the last call, which resets it. Loom runs every thread of a model on the thread that
    /// called it, so a model sees all of its hand-offs. Not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn take_hand_offs() -> usize {
        HAND_OFFS.with(|n| n.replace(0))
    }

    /// Whether the word is back to "free, nobody counted, no mark": what every model ends
    /// with once all its threads are done. Not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn is_idle(&self) -> bool {
        // Relaxed: as in `sleepers`.
        self.state.load(Relaxed) == UNLOCKED
    }

    /// Counts a sleeper (`starved`: a starved one) that is not there, standing for a waiter
    /// process killed after it counted itself. Call it while holding the lock, as a sleeper
    /// counts itself only on a word that shows the lock held. For loom models; not part of the
    /// API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn count_phantom_sleeper(&self, starved: bool) {
        assert!(self.is_locked(), "a phantom sleeper is counted while the lock is held");
        // Relaxed: counting only, as a sleeper's own compare-exchange is.
        self.state.fetch_add(SLEEPER + if starved { STARVED } else { 0 }, Relaxed);
    }

    /// Fills the sleeper field with phantoms, as about 8.4 million killed waiter processes would
    /// (see `MAX_SLEEPERS`). Call it while holding the lock. For loom models; not part of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn fill_sleepers_with_phantoms(&self) {
        assert!(self.is_locked(), "phantom sleepers are counted while the lock is held");
        // Relaxed: counting only, as a sleeper's own compare-exchange is.
        let state = self.state.load(Relaxed);
        self.state.fetch_add((MAX_SLEEPERS - sleepers(state)) * SLEEPER, Relaxed);
    }

    /// Counts this thread as a sleeper, sleeps once, and returns still counted without looking
    /// at the word: a waiter process killed just after a wake picked it (or after a spurious
    /// return). Returns at once, uncounted, if the lock is free. For loom models; not part of
    /// the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn sleep_then_vanish(&self) {
        // Relaxed: as in `lock_slow`.
        let mut state = self.state.load(Relaxed);
        while state & LOCKED != 0 {
            // Relaxed: counting only, as in `lock_slow`.
            match self.state.compare_exchange(state, state + SLEEPER, Relaxed, Relaxed) {
                Ok(_) => {
                    B::wait_masked(&self.state, state + SLEEPER, SLEEPER_MASK, None);
                    return;
                }
                Err(now) => state = now,
            }
        }
    }

    /// The word threads sleep on while they wait for this lock (a condvar requeues onto it).
    #[inline]
    pub(crate) fn word(&self) -> &B::Word {
        &self.state
    }

    /// Marks the lock, which the caller holds, as having requeued sleepers, so that its unlock
    /// wakes one of them.
    #[inline]
    pub(crate) fn mark_requeued(&self) {
        // Relaxed: the unlock that reads the mark is this thread's own.
        self.state.fetch_or(REQUEUED, Relaxed);
    }

    /// Releases the lock, which the caller holds; with `fair`, hands it to a sleeper if there is
    /// one, as it does anyway while a sleeper is starved.
    #[cold]
    fn unlock_slow(&self, fair: bool) {
        // Relaxed: the compare-exchange below works on the latest value.
        let mut state = self.state.load(Relaxed);
        let wake = loop {
            let (new, wake) = if sleepers(state) > 0 && (fair || starved(state) > 0) {
                // Where sleepers may vanish the starved field is a mark, which this hand-off
                // answers: cleared, so a killed waiter's mark costs one hand-off, not all.
                let cleared = if B::SLEEP_SLICE.is_some() { state & !STARVED_FIELD } else { state };
                (cleared | HANDOFF, Wake::HandedOff)
            } else if state & REQUEUED != 0 {
                // Requeued threads first: the one woken takes the lock with REQUEUED set again.
                (state & !(LOCKED | REQUEUED), Wake::Requeued)
            } else if sleepers(state) > 0 {
                (state & !LOCKED, Wake::Sleeper)
            } else {
                (state & !LOCKED, Wake::Nobody)
            };
            // Release: publishes the critical section to the next acquirer's Acquire (the
            // compare-exchange that sets LOCKED, or the one that claims the hand-off).
            match self.state.compare_exchange(state, new, Release, Relaxed) {
                Ok(_) => break wake,
                Err(now) => state = now,
            }
        };
        match wake {
            Wake::Nobody => {}
            Wake::Requeued => {
                // If nobody requeued was left, the counted sleepers we passed over for them must
                // not sleep on past our release. (Those counted since then counted themselves on
                // a word that showed a new holder, whose unlock will see them.)
                if B::wake_masked(&self.state, REQUEUED_MASK, 1) == 0 && sleepers(state) > 0 {
                    B::wake_masked(&self.state, SLEEPER_MASK, 1);
                }
            }
            Wake::HandedOff => {
                if B::wake_masked(&self.state, SLEEPER_MASK, 1) == 0 && B::SLEEP_SLICE.is_some() {
                    // Nobody was asleep to take it: the sleepers counted may all be dead. Undo
                    // the hand-off rather than leave the lock to whoever next ends a slice, and
                    // wake again: a sleeper that counted itself on the hand-off just now may
                    // have gone to sleep on it, and only a wake after the change is sure to
                    // reach it (the futex's check is ordered after our change by the wake).
                    if self.undo_hand_off() {
                        B::wake_masked(&self.state, SLEEPER_MASK, 1);
                    }
                }
            }
            Wake::Sleeper => {
                B::wake_masked(&self.state, SLEEPER_MASK, 1);
            }
        }
    }

    /// Turns a hand-off that stands into a plain release, where sleepers may vanish; whether
    /// there was one to undo. Sound whoever handed it: while `HANDOFF` stands nobody holds the
    /// lock, and a counted sleeper that looks afterwards takes the free lock as after any
    /// release (the caller wakes one, for a sleeper that looked just before).
    #[cold]
    fn undo_hand_off(&self) -> bool {
        // Relaxed, here and below: the hand-off's Release compare-exchange published the
        // critical section, and this read-modify-write continues its release sequence, so an
        // acquirer that reads our value still synchronizes with it. (Loom models release
        // sequences, so no model could tell a Release here from this.)
        let mut state = self.state.load(Relaxed);
        while state & HANDOFF != 0 {
            match self.state.compare_exchange(state, state & !(HANDOFF | LOCKED), Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }
}

impl<'a, T: ?Sized, B: Backend> LockGuard<'a, Mutex<T, B>> {
    /// Unlocks and, if a thread sleeps waiting for the lock, hands the lock straight to it, so
    /// that no running thread can take it first. Slower than dropping the guard (the next holder
    /// must be scheduled before anyone can go on), but it lets a thread that re-takes the lock in
    /// a loop give way to those waiting. Without sleepers it is a plain unlock.
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(0);
    /// let mut guard = lock.lock();
    /// *guard += 1;
    /// MutexGuard::unlock_fair(guard);
    /// assert_eq!(*lock.lock(), 1);
    /// ```
    pub fn unlock_fair(this: Self) {
        let (lock, access) = LockGuard::into_parts(this);
        // The exclusive access must end before the next holder's begins.
        drop(core::mem::ManuallyDrop::into_inner(access));
        guard::record_release(lock);
        // SAFETY: `into_parts` handed us the guard's lock, which we release exactly once.
        unsafe { lock.unlock_with(true) };
    }
}

impl<'a, T: ?Sized, B: Backend> LockGuard<'a, Mutex<T, B>> {
    /// Lets a waiting thread have the lock, if one waits, and takes it back after: the same as
    /// [`unlock_fair`](Self::unlock_fair) followed by `lock()`, without the guard changing hands,
    /// and only a look at the lock word when nobody waits. For a thread that holds the lock for
    /// a long loop and should let others in now and then.
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(Vec::new());
    /// let mut guard = lock.lock();
    /// for i in 0..1000 {
    ///     guard.push(i);
    ///     if i % 100 == 0 {
    ///         MutexGuard::bump(&mut guard); // a waiter, if any, goes first
    ///     }
    /// }
    /// assert_eq!(guard.len(), 1000);
    /// ```
    pub fn bump(this: &mut Self) {
        if LockGuard::raw(this).has_waiters() {
            LockGuard::unlocked_then(this, true, |_| ());
        }
    }

    /// As [`unlocked`](LockGuard::unlocked), but the release hands the lock to a waiting
    /// thread if there is one (see [`unlock_fair`](Self::unlock_fair)).
    ///
    /// ```
    /// use turnstile::{Mutex, MutexGuard};
    ///
    /// let lock = Mutex::new(1);
    /// let mut guard = lock.lock();
    /// MutexGuard::unlocked_fair(&mut guard, || *lock.lock() += 1);
    /// assert_eq!(*guard, 2);
    /// ```
    pub fn unlocked_fair<R>(this: &mut Self, f: impl FnOnce() -> R) -> R {
        LockGuard::unlocked_then(this, true, |_| f())
    }
}

impl<T: ?Sized, B: Backend> Mutex<T, B> {
    /// Whether the word of a held lock shows more than its holder (a waiter, a wake on its way,
    /// a mark): a hint, for `bump`, which then releases fairly and takes the lock back.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        // Relaxed: a hint; the fair release and the relock are what synchronize.
        self.state.load(Relaxed) != LOCKED
    }

    /// Takes the word for a lock built on this one ([`ReentrantMutex`](crate::ReentrantMutex)),
    /// without a guard and without the checks of the public `lock`: the caller knows it does
    /// not hold it. Waits until `deadline` at the latest; `false` if it passed first.
    #[inline]
    pub(crate) fn acquire_raw(&self, deadline: Option<Instant>) -> bool {
        self.try_acquire() || self.lock_contended(deadline)
    }

    /// As [`acquire_raw`](Self::acquire_raw), if the lock is free right now; never waits.
    #[inline]
    pub(crate) fn try_acquire_raw(&self) -> bool {
        self.try_acquire()
    }

    /// Releases the lock; see [`LockGuard::unlock_fair`] for `fair`.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock_with(&self, fair: bool) {
        // Release: publishes the critical section to the next acquirer's Acquire. A word that
        // shows only its holder has nobody to hand to: the fair release is this one too.
        if self.state.compare_exchange(LOCKED, UNLOCKED, Release, Relaxed).is_err() {
            if B::QUEUED {
                self.unlock_queued(fair);
            } else {
                self.unlock_slow(fair);
            }
        }
    }
}

// SAFETY: LOCKED is set only by a compare-exchange that finds it clear, or kept by the holder's
// hand-off, which one sleeper claims by clearing HANDOFF: one holder at a time. Each release is
// a Release compare-exchange that the next holder's Acquire reads.
unsafe impl<T: ?Sized, B: Backend> RawLock for Mutex<T, B> {
    type Target = T;
    type Backend = B;

    #[inline]
    fn data(&self) -> &LockData<T, B> {
        &self.data
    }
    const RECORDED_AS: Option<&'static str> = Some("Mutex");

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock (the `RawLock` contract).
        unsafe { self.unlock_with(false) }
    }
    unsafe fn unlock_fair(&self) {
        // SAFETY: as in `unlock`.
        unsafe { self.unlock_with(true) }
    }
    #[inline]
    fn relock(&self) {
        // Marked: after a condvar wait, threads requeued onto this word may be asleep on it, and
        // they must be woken one by one as the lock is handed on. The cost, when none are, is at
        // most one wake that finds nobody.
        if B::QUEUED {
            self.lock_queued(None, false);
        } else {
            self.lock_slow(None, LOCKED | REQUEUED);
        }
    }
}

guard::data_lock_impls!(Mutex, lock, try_lock);

impl<T: ?Sized, B: Backend> crate::TimedLock for Mutex<T, B> {
    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T, B>> {
        Mutex::try_lock_for(self, timeout)
    }
    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T, B>> {
        Mutex::try_lock_until(self, deadline)
    }
}

/// Sets `PARKED` on a lock word for a condition variable moving its waiters onto it, under
/// the bucket locks of both; whether the lock was held.
///
/// # Safety
/// `word` is a [`Mutex`]'s word over a queued backend, and a waiter of it, which borrows the
/// mutex, is in its line (so it is alive).
pub(crate) unsafe fn mark_parked<B: Backend>(word: *const B::Word) -> bool {
    // SAFETY: alive, by the caller's contract.
    let word = unsafe { &*word };
    // Relaxed: under the bucket lock, which every unlock's callback also holds.
    word.fetch_or(PARKED, Relaxed) & LOCKED != 0
}

/// For a condition variable that moved its waiters onto a lock it found free: wakes the oldest
/// waiter, unless the lock is held or a wake is in flight by now (then the holder's unlock, or
/// the woken thread, carries on).
///
/// # Safety
/// `word` is a [`Mutex`]'s word over a queued backend, or was one: it is touched only while a
/// waiter of it, which borrows the mutex, is in its line, so the mutex may be gone by the call.
pub(crate) unsafe fn wake_one_moved<B: Backend>(word: *const B::Word) {
    debug_assert!(B::QUEUED);
    let filter = |_: u32| {
        // SAFETY: the filter sees only waiters of this key, in the line: the word is alive.
        let word = unsafe { &*word };
        // Relaxed: under the bucket lock, as every unlock's callback is.
        if word.load(Relaxed) & (LOCKED | WAKING) != 0 {
            Pick::Stop
        } else {
            Pick::Wake
        }
    };
    let callback = |unparked: Unparked| {
        if unparked.woken > 0 {
            // SAFETY: the waiter picked is not woken before this returns: the word is alive.
            let word = unsafe { &*word };
            let clear = if unparked.more { 0 } else { PARKED };
            // Relaxed: under the bucket lock; the woken waiter acquires with its own
            // compare-exchange.
            let mut state = word.load(Relaxed);
            while let Err(now) = word.compare_exchange(state, (state & !clear) | WAKING, Relaxed, Relaxed) {
                state = now;
            }
        }
        TOKEN_WOKEN
    };
    queue::unpark::<B>(word as usize, filter, callback);
}

#[cfg(feature = "loom")]
std::thread_local! {
    /// Hand-offs made on this thread since the last [`Mutex::take_hand_offs`].
    static HAND_OFFS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_mutex_is_one_word() {
        assert_eq!(core::mem::size_of::<Mutex<()>>(), 4);
    }

    #[test]
    fn unsized_data_can_be_locked() {
        let lock: &Mutex<[u32]> = &Mutex::new([1, 2, 3]);
        lock.lock()[0] = 9;
        assert_eq!(*lock.lock(), [9, 2, 3]);
    }

    #[test]
    fn a_timed_out_waiter_leaves_nothing_behind() {
        let lock = Mutex::new(());
        let guard = lock.lock();
        assert_eq!(lock.state.load(Relaxed), LOCKED);
        // It counted itself as a sleeper, then un-counted itself as it gave up: the unlock finds
        // the word as if nobody had waited, and takes the fast path.
        assert!(lock.try_lock_for(Duration::from_micros(1)).is_none());
        assert_eq!(lock.state.load(Relaxed), LOCKED);
        drop(guard);
        assert_eq!(lock.state.load(Relaxed), UNLOCKED);
    }

    #[test]
    fn try_lock_takes_a_free_lock_while_sleepers_are_counted() {
        let lock = Mutex::new(());
        // Released with a sleeper counted, which has yet to look: try_lock may take it.
        lock.state.store(SLEEPER, Relaxed);
        let guard = lock.try_lock().expect("the lock is free");
        assert_eq!(lock.state.load(Relaxed), SLEEPER | LOCKED);
        core::mem::forget(guard);
        lock.state.store(UNLOCKED, Relaxed);
    }

    #[test]
    fn field_limits_hold() {
        assert_eq!(sleepers(u32::MAX), (1 << 23) - 1);
        assert_eq!(starved(u32::MAX), MAX_STARVED);
        assert_eq!(starved(SLEEPER - 1) * STARVED + (STARVED - 1), SLEEPER - 1);
    }

    /// A mutex over `B` whose word holds `state`, with the lock free.
    fn with_word<B: Backend>(state: u32) -> Mutex<(), B> {
        Mutex { state: B::Word::new(state), data: LockData::with_backend(()) }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn between_processes_a_hand_off_nobody_is_asleep_for_is_undone() {
        use crate::backend::ProcessShared;
        // A sleeper counted by a process since killed: the fair unlock's wake finds nobody, so
        // it releases plainly instead of leaving the lock to a dead process.
        let lock = with_word::<ProcessShared>(SLEEPER);
        MutexGuard::unlock_fair(lock.try_lock().expect("free"));
        assert_eq!(lock.state.load(Relaxed), SLEEPER);
        // In one process the queue is exact: a PARKED bit with nobody in the line (a waiter
        // that set it and then found the lock free) is cleared by the unlock that finds nobody.
        let lock = with_word::<Real>(PARKED);
        MutexGuard::unlock_fair(lock.try_lock().expect("free"));
        assert_eq!(lock.state.load(Relaxed), UNLOCKED);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn between_processes_a_dead_waiters_starved_mark_costs_one_hand_off() {
        use crate::backend::ProcessShared;
        let lock = with_word::<ProcessShared>(SLEEPER | STARVED);
        drop(lock.try_lock().expect("free"));
        assert_eq!(lock.state.load(Relaxed), SLEEPER, "the hand-off cleared the mark (and was undone)");
        drop(lock.try_lock().expect("free"));
        assert_eq!(lock.state.load(Relaxed), SLEEPER, "a plain release from then on");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_sleeper_field_still_admits_waiters_and_stays_full() {
        use crate::backend::ProcessShared;
        let full = MAX_SLEEPERS * SLEEPER;
        // Every counted sleeper dead, and a hand-off to them standing: a newcomer claims it.
        let lock = with_word::<ProcessShared>(full | HANDOFF | LOCKED);
        drop(lock.lock());
        assert_eq!(lock.state.load(Relaxed), full);
        // A newcomer that finds the field full while the lock is held waits uncounted, polling.
        let guard = lock.try_lock().expect("free");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| drop(lock.lock()));
            drop(guard);
            waiter.join().unwrap();
        });
        assert_eq!(lock.state.load(Relaxed), full, "the field neither wrapped nor spilled");
        // A timed one gives up at its deadline, leaving nothing behind.
        let guard = lock.try_lock().expect("free");
        assert!(lock.try_lock_for(Duration::from_millis(2)).is_none());
        drop(guard);
        assert_eq!(lock.state.load(Relaxed), full);
    }

    #[test]
    fn default_and_from_build_an_unlocked_mutex() {
        let a: Mutex<u8> = Mutex::default();
        let b = Mutex::from(7u8);
        assert!(!a.is_locked() && !b.is_locked());
        assert_eq!((a.into_inner(), b.into_inner()), (0, 7));
    }
}
