//! A condition variable: sleep until another thread says the state you wait for may have come.
//!
//! A thread holding a [`Mutex`] checks a condition on the data ("the buffer is not empty"); if it
//! does not hold, [`Condvar::wait`] releases the mutex, sleeps, and takes the mutex back before
//! returning. Another thread changes the data under the mutex and calls
//! [`notify_one`](Condvar::notify_one) or [`notify_all`](Condvar::notify_all). Semantics are
//! Mesa's, as in std and parking_lot: a notified thread re-takes the mutex after the notifier and
//! possibly others have run, so it must re-check its condition, which
//! [`wait_while`](Condvar::wait_while) does for it.
//!
//! **State.** Two words and the address of the mutex in use (16 bytes on 64-bit targets):
//!
//! | field    | meaning |
//! |----------|---------|
//! | `seq`    | bumped by every notify that has someone to wake; waiters sleep on it |
//! | `counts` | `waiters` registered (15 bits), `tokens` (15 bits): notifies not yet taken up, and `REQUEUE`: a `notify_all` whose requeue is still to be done |
//! | `mutex`  | the mutex the current waiters use, to catch two mutexes used at once |
//!
//! **Waiting.** Under the mutex a waiter reads `seq`, then registers (`waiters + 1`), releases
//! the mutex and sleeps on `seq` while it holds the value it read. A notify that counted it bumps
//! `seq` after that read, so the waiter cannot sleep through it: the futex compares the value and
//! the sleep atomically. It leaves when `seq` has moved, or, if the kernel woke it while `seq` had
//! not moved (the kernel may wake any sleeper, or none), when it can take an outstanding token.
//! A return with neither is spurious, and it sleeps again.
//!
//! **Notifying.** `notify_one` covers one more registered waiter with a token (if every waiter
//! is covered already, it returns `false` and makes no system call), bumps `seq` and unparks
//! exactly one sleeper. `notify_all` covers them all and bumps `seq`; then, in one process (the
//! wait queue), it moves every waiter parked on `seq` onto the mutex's queue, under the bucket
//! locks of both, and sets the mutex's `PARKED` bit there. If the mutex is held (typically by the
//! notifier) nobody is woken: the mutex's unlocks wake them one at a time, as the lock is handed
//! on, instead of all of them waking to fight over it. If it is free, the oldest is woken to take
//! it. No mark is left on the mutex. The move checks, under the bucket lock of `seq`, that the
//! waiters still use the mutex it read; the mutex's word is touched only while a moved waiter,
//! which borrows it, is in its line.
//!
//! Between processes (the kernel's futex on the words) `notify_all` sets `REQUEUE` and wakes one
//! sleeper, which takes the mutex back and, still holding it, marks the mutex as having requeued
//! sleepers and moves every other sleeper onto the mutex's word (`FUTEX_CMP_REQUEUE`; where the
//! kernel refuses the requeue, under a seccomp filter say, it wakes them all instead). Doing the
//! requeue while holding the mutex is what makes it safe there: the mutex is alive, it is the
//! right mutex, nobody can register meanwhile, and its mark cannot be lost. There a futex return
//! may be spurious, which the tokens absorb; in one process a waiter returns only when picked.
//!
//! **The invariant:** `tokens <= waiters`, and every registered waiter that a notify covered
//! either sees `seq` move or is on a word whose next unlock or wake reaches it.
//!
//! **What can make a wait return early**, that is with its condition possibly still false:
//! * a notify issued after it registered, even if the notify was meant for another thread: a
//!   `notify_one` that meets several threads between registering and sleeping lets all of them
//!   go (as in std), since each sees `seq` move;
//! * a wake the operating system delivers on its own while a `notify_one` is outstanding:
//!   that thread may take the notify's token, and the thread the notify was meant for also wakes;
//! * a `notify_all` still being handed over: until its first woken waiter has taken the mutex
//!   back and moved the others onto it, a thread that starts waiting is counted with them and
//!   returns too, although the `notify_all` came before its wait.
//!
//! Nothing else: a spurious return from the futex with no notify outstanding is absorbed, so with
//! no notify at all [`wait_for`](Condvar::wait_for) reports [`timed_out`](WaitTimeoutResult::timed_out).
//! It answers the producer-consumer (bounded buffer) problem without polling (see [`Monitor`](crate::Monitor)
//! for the same with named conditions).

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

use crate::backend::Parked;
use crate::backend::{Backend, Real, Word};
use crate::guard::LockGuard;
use crate::machine::queue::{self, Requeue};
use crate::mutex::{self, Mutex, MutexGuard, REQUEUED_MASK};

/// `counts`: registered waiters, bits 0..15.
const WAITERS: u32 = 0x7fff;
/// `counts`: one token, in bits 15..30.
const TOKEN: u32 = 1 << 15;
/// `counts`: a `notify_all` whose requeue is still to be done.
const REQUEUE: u32 = 1 << 30;

/// The most threads that can wait on one [`Condvar`] at once (a 15-bit count); one more panics.
pub const MAX_WAITERS: u32 = WAITERS;

fn waiters(counts: u32) -> u32 {
    counts & WAITERS
}

fn tokens(counts: u32) -> u32 {
    (counts / TOKEN) & WAITERS
}

fn with_counts(waiters: u32, tokens: u32) -> u32 {
    waiters | (tokens * TOKEN)
}

/// A condition variable for [`Mutex`]: wait for a condition on the data, notify when it may hold.
///
/// `notify_one` wakes one waiting thread and says whether there was one; `notify_all` moves all
/// waiters onto the mutex's queue, which wakes them one at a time. Notifying with nobody waiting makes no
/// system call. Mesa semantics: re-check the condition after waking (or use
/// [`wait_while`](Self::wait_while)); the [module docs](crate::condvar) say exactly when a wait can
/// return with the condition still false. A `Condvar` is 16 bytes.
///
/// ```
/// use std::sync::Arc;
/// use turnstile::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// std::thread::spawn(move || {
///     let (ready, cv) = &*pair2;
///     *ready.lock() = true;
///     cv.notify_one();
/// });
///
/// let (ready, cv) = &*pair;
/// let mut guard = ready.lock();
/// cv.wait_while(&mut guard, |ready| !*ready);
/// assert!(*guard);
/// ```
pub struct Condvar<B: Backend = Real> {
    seq: B::Word,
    counts: B::Word,
    /// The address of the mutex the registered waiters use; 0 when none wait.
    mutex: AtomicUsize,
}

/// Whether a timed wait gave up because its deadline passed.
///
/// ```
/// use std::time::Duration;
/// use turnstile::{Condvar, Mutex};
///
/// let (lock, cv) = (Mutex::new(()), Condvar::new());
/// let mut guard = lock.lock();
/// assert!(cv.wait_for(&mut guard, Duration::from_millis(1)).timed_out()); // nobody notifies
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because its deadline passed, not because of a notify.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(1), Condvar::new());
    /// let mut guard = lock.lock();
    /// // The condition is already false, so nothing is waited for.
    /// let result = cv.wait_while_for(&mut guard, |n| *n == 0, Duration::from_secs(1));
    /// assert!(!result.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// How a waiter's sleep ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Woke {
    /// `seq` moved: a notify came after it registered.
    SeqMoved,
    /// Woken while `seq` stood still, and took an outstanding token.
    TookToken,
    /// The deadline passed.
    Deadline,
}

impl Condvar {
    /// A new condition variable. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// use turnstile::{Condvar, Mutex};
    ///
    /// static QUEUE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    /// static NOT_EMPTY: Condvar = Condvar::new();
    ///
    /// std::thread::spawn(|| {
    ///     QUEUE.lock().push(7);
    ///     NOT_EMPTY.notify_one();
    /// });
    /// let mut queue = QUEUE.lock();
    /// NOT_EMPTY.wait_while(&mut queue, |q| q.is_empty());
    /// assert_eq!(queue.pop(), Some(7));
    /// ```
    pub const fn new() -> Self {
        Condvar { seq: AtomicU32::new(0), counts: AtomicU32::new(0), mutex: AtomicUsize::new(0) }
    }
}

impl Default for Condvar {
    /// A new condition variable.
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Backend> fmt::Debug for Condvar<B> {
    /// Shows how many threads wait; never blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display.
        let waiting = waiters(self.counts.load(Relaxed));
        f.debug_struct("Condvar").field("waiting", &waiting).finish_non_exhaustive()
    }
}

impl<B: Backend> Condvar<B> {
    /// A new condition variable over the backend `B`, named explicitly:
    /// `Condvar::<Real>::with_backend()` is `Condvar::new()`. Loom models build theirs with it.
    ///
    /// ```
    /// use turnstile::{backend::Real, Condvar};
    ///
    /// let cv = Condvar::<Real>::with_backend();
    /// assert!(!cv.notify_one()); // nobody waits
    /// ```
    pub fn with_backend() -> Self {
        Condvar { seq: B::Word::new(0), counts: B::Word::new(0), mutex: AtomicUsize::new(0) }
    }

    /// Releases the mutex, sleeps until notified, and takes the mutex back.
    ///
    /// It may return with the condition still false (see the [module docs](crate::condvar)):
    /// call it in a loop, or use [`wait_while`](Self::wait_while).
    ///
    /// # Panics
    /// If another thread is waiting on this `Condvar` with a different mutex.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let state = Arc::new((Mutex::new(0), Condvar::new()));
    /// let worker = {
    ///     let state = Arc::clone(&state);
    ///     std::thread::spawn(move || {
    ///         *state.0.lock() = 42;
    ///         state.1.notify_all();
    ///     })
    /// };
    /// let mut answer = state.0.lock();
    /// while *answer == 0 {
    ///     state.1.wait(&mut answer);
    /// }
    /// assert_eq!(*answer, 42);
    /// worker.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T, B>) {
        self.wait_before(guard, None);
    }

    /// Waits while `condition` holds: returns, with the mutex held, once it is false.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let jobs = Arc::new((Mutex::new(3u32), Condvar::new()));
    /// for _ in 0..3 {
    ///     let jobs = Arc::clone(&jobs);
    ///     std::thread::spawn(move || {
    ///         *jobs.0.lock() -= 1;
    ///         jobs.1.notify_one();
    ///     });
    /// }
    /// let mut left = jobs.0.lock();
    /// jobs.1.wait_while(&mut left, |left| *left > 0);
    /// assert_eq!(*left, 0);
    /// ```
    #[track_caller]
    pub fn wait_while<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        while condition(&mut **guard) {
            self.wait(guard);
        }
    }

    /// As [`wait`](Self::wait), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(()), Condvar::new());
    /// let mut guard = lock.lock();
    /// assert!(cv.wait_for(&mut guard, Duration::from_millis(1)).timed_out());
    /// ```
    #[track_caller]
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_before(guard, crate::wait::deadline_after(timeout))
    }

    /// As [`wait`](Self::wait), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(()), Condvar::new());
    /// let mut guard = lock.lock();
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// assert!(cv.wait_until(&mut guard, deadline).timed_out());
    /// ```
    #[track_caller]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_before(guard, Some(deadline))
    }

    /// As [`wait_while`](Self::wait_while), giving up after `timeout`; `timed_out()` is true
    /// if the condition still held then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(0), Condvar::new());
    /// let mut count = lock.lock();
    /// let result = cv.wait_while_for(&mut count, |n| *n < 1, Duration::from_millis(1));
    /// assert!(result.timed_out());
    /// ```
    #[track_caller]
    pub fn wait_while_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_while_before(guard, condition, crate::wait::deadline_after(timeout))
    }

    /// As [`wait_while`](Self::wait_while), giving up at `deadline`; `timed_out()` is true if
    /// the condition still held then.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(5), Condvar::new());
    /// let mut n = lock.lock();
    /// let result = cv.wait_while_until(&mut n, |n| *n < 5, Instant::now() + Duration::from_secs(1));
    /// assert!(!result.timed_out()); // the condition was already false
    /// ```
    #[track_caller]
    pub fn wait_while_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        condition: impl FnMut(&mut T) -> bool,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_while_before(guard, condition, Some(deadline))
    }

    /// Wakes one waiting thread; `true` if there was one that no earlier notify had covered.
    ///
    /// With nobody waiting it returns `false` at once, without a system call. Call it after
    /// changing the data under the mutex (holding the mutex or not).
    ///
    /// ```
    /// use turnstile::Condvar;
    ///
    /// let cv = Condvar::new();
    /// assert!(!cv.notify_one()); // nobody to wake
    /// ```
    #[doc(alias = "signal")]
    pub fn notify_one(&self) -> bool {
        // Acquire (the CAS): pairs with the Release of `register`, so that the waiter's read of
        // `seq` happens before our bump below and it cannot sleep through it. Relaxed load: the
        // CAS re-reads.
        //
        // No loom model can fail without this pair, and it is still needed. Without it the
        // waiter's read of `seq`, which comes before its registration, could return our bump,
        // which comes after we saw that registration: load buffering, which the memory model
        // allows for Relaxed accesses and ARM and POWER processors can do. The waiter would then
        // sleep on the bumped value, and our wake would come before its sleep: a lost notify.
        // Loom never lets a load read a store that is not already made, so it never explores
        // that outcome.
        let mut counts = self.counts.load(Relaxed);
        loop {
            if tokens(counts) >= waiters(counts) {
                return false;
            }
            // loom-invisible: load buffering (see above), which loom does not explore.
            match self.counts.compare_exchange(counts, counts + TOKEN, Acquire, Relaxed) {
                Ok(_) => break,
                Err(now) => counts = now,
            }
        }
        self.wake();
        true
    }

    /// Wakes every waiting thread; returns how many no earlier notify had covered.
    ///
    /// The waiters do not all wake at once to fight over the mutex: they are moved onto the
    /// mutex's queue, which wakes them one at a time as it is unlocked (if the mutex is free
    /// meanwhile, the oldest is woken at once).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::{Condvar, Mutex};
    ///
    /// let gate = Arc::new((Mutex::new(false), Condvar::new()));
    /// let waiters: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let gate = Arc::clone(&gate);
    ///         std::thread::spawn(move || gate.1.wait_while(&mut gate.0.lock(), |open| !*open))
    ///     })
    ///     .collect();
    /// *gate.0.lock() = true;
    /// gate.1.notify_all();
    /// for w in waiters {
    ///     w.join().unwrap();
    /// }
    /// ```
    #[doc(alias = "broadcast")]
    pub fn notify_all(&self) -> usize {
        // Acquire: as in `notify_one`.
        let mut counts = self.counts.load(Relaxed);
        let covered = loop {
            let (waiting, covered) = (waiters(counts), tokens(counts));
            if covered >= waiting {
                return 0;
            }
            // Over the kernel, the first waiter back does the requeue (see `deregister`).
            let all = with_counts(waiting, waiting) | if B::QUEUED { 0 } else { REQUEUE };
            // loom-invisible: load buffering (see `notify_one`), which loom does not explore.
            match self.counts.compare_exchange(counts, all, Acquire, Relaxed) {
                Ok(_) => break covered,
                Err(now) => counts = now,
            }
        };
        if B::QUEUED {
            self.move_onto_mutex();
        } else {
            self.wake();
        }
        (waiters(counts) - covered) as usize
    }

    /// `notify_all` over a queued backend: moves every waiter parked on `seq` onto the mutex's
    /// queue. If the mutex is held (by the notifier, typically) nobody is woken: its unlock
    /// wakes them one at a time. If it is free, the oldest is woken to take it.
    #[cold]
    fn move_onto_mutex(&self) {
        // Bump first: a covered waiter not yet parked then fails its validation and leaves, as
        // notified. Relaxed: see `wake`.
        self.seq.fetch_add(1, Relaxed);
        // Relaxed: see `register`; checked again under the bucket locks.
        let bound = self.mutex.load(Relaxed);
        if bound == 0 {
            return; // Every waiter has left already.
        }
        // The mutex's word is at its address (`#[repr(C)]`, the word first).
        let word = bound as *const B::Word;
        let mut held = true;
        let decide = || {
            // Under the bucket lock of `seq`: every waiter parked there registered, and so
            // bound this mutex, before it parked, and the binding holds while any is registered.
            // Another binding means those we covered have all left. Relaxed: the bucket lock
            // orders this read after their registration.
            if self.mutex.load(Relaxed) == bound {
                Requeue::MoveAll
            } else {
                Requeue::Abort
            }
        };
        let key = &self.seq as *const B::Word as usize;
        let done = queue::requeue::<B>(key, bound, decide, |_, done| {
            if done.moved > 0 {
                // SAFETY: the moved waiters are in the mutex's line and borrow it.
                held = unsafe { mutex::mark_parked::<B>(word) };
            }
            0
        });
        if !held {
            // SAFETY: `wake_one_moved` touches the word only while a waiter of it is in line.
            unsafe { mutex::wake_one_moved::<B>(word) };
        }
        #[cfg(feature = "loom")]
        MOST_REQUEUED.with(|most| most.set(most.get().max(done.moved)));
        #[cfg(not(feature = "loom"))]
        let _ = done;
    }

    /// Bumps `seq` and wakes one sleeper (for `notify_all`, the one that will requeue the rest).
    fn wake(&self) {
        // Relaxed: `seq` only says "a notify happened"; the data it is about travels through the
        // mutex, which the woken thread takes before it returns.
        self.seq.fetch_add(1, Relaxed);
        B::wake_one(&self.seq);
    }

    #[track_caller]
    fn wait_while_before<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        mut condition: impl FnMut(&mut T) -> bool,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        while condition(&mut **guard) {
            if self.wait_before(guard, deadline).timed_out() {
                return WaitTimeoutResult(condition(&mut **guard));
            }
        }
        WaitTimeoutResult(false)
    }

    /// The wait itself: register under the mutex, sleep without it, deregister under it.
    #[track_caller]
    fn wait_before<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T, B>,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        let mutex: &Mutex<T, B> = LockGuard::raw(guard);
        let address = mutex as *const Mutex<T, B> as *const () as usize;
        // Read before registering: a notify that counts us bumps `seq` after this read.
        // Relaxed: ordered before the notifier's bump by `register`'s Release (see `notify_one`).
        let seen = self.seq.load(Relaxed);
        self.register(address);
        let woke = LockGuard::unlocked_with(guard, |_| self.sleep(mutex, seen, deadline));
        let notified = self.deregister(mutex, address, seen, woke);
        WaitTimeoutResult(!notified)
    }

    /// Binds the condvar to the waiter's mutex and counts the waiter. Panics, changing nothing,
    /// on a second mutex or too many waiters.
    #[track_caller]
    fn register(&self, address: usize) {
        // Relaxed: the binding is a misuse check; nothing is published through it, and between
        // waiters of one mutex it is read and written under that mutex.
        match self.mutex.compare_exchange(0, address, Relaxed, Relaxed) {
            Ok(_) => {}
            Err(bound) if bound == address => {}
            Err(bound) => panic!(
                "turnstile::Condvar: waiting with the mutex at {address:#x} while another thread \
                 waits on this Condvar with the mutex at {bound:#x}; a Condvar serves one mutex at \
                 a time: use one Condvar per mutex"
            ),
        }
        // Release: pairs with the Acquire CAS of the notifiers, so that our read of `seq` before
        // this cannot return a bump made after a notifier saw us (see `notify_one`).
        let mut counts = self.counts.load(Relaxed);
        loop {
            assert!(
                waiters(counts) < MAX_WAITERS,
                "turnstile::Condvar: a thread waits while {MAX_WAITERS} threads already wait on this \
                 Condvar, the most it counts; spread the waiters over more Condvars (one per condition)"
            );
            // loom-invisible: load buffering (see `notify_one`), which loom does not explore.
            match self.counts.compare_exchange(counts, counts + 1, Release, Relaxed) {
                Ok(_) => return,
                Err(now) => counts = now,
            }
        }
    }

    /// Sleeps, without the mutex, until a notify reaches this waiter or the deadline passes.
    fn sleep<T: ?Sized>(&self, mutex: &Mutex<T, B>, seen: u32, deadline: Option<Instant>) -> Woke {
        loop {
            // Relaxed: only "has a notify happened"; see `wake`.
            if self.seq.load(Relaxed) != seen {
                return Woke::SeqMoved;
            }
            // Under the mask a mutex reserves for requeued threads: over the kernel, once moved
            // onto its word, only its unlocks' wakes for them reach us, never a wake meant for its
            // counted sleepers. Over the queue the mask is our park token, which tells a mutex's
            // unlock not to hand us the lock (we take it back through `relock`). A moved waiter
            // that times out in the mutex's line leaves its `PARKED` bit set: conservative, the
            // next unlock finds the line and settles it.
            match B::park(&self.seq, seen, REQUEUED_MASK, deadline, |_| {}) {
                Parked::TimedOut => return Woke::Deadline,
                Parked::Woken(token) => mutex.woken_by_unlock(token),
                Parked::Invalid => {}
            }
            if self.seq.load(Relaxed) != seen {
                return Woke::SeqMoved;
            }
            // Back with `seq` unchanged: spurious, or the kernel woke us instead of a thread that
            // registered before the notify. An outstanding token is ours to take then, so that
            // the notify is not lost; with none, this was no wake at all.
            if self.take_token() {
                return Woke::TookToken;
            }
        }
    }

    /// Takes one outstanding token, if there is one.
    fn take_token(&self) -> bool {
        // Relaxed: counting only; the CAS works on the latest value.
        let mut counts = self.counts.load(Relaxed);
        while tokens(counts) > 0 {
            match self.counts.compare_exchange(counts, counts - TOKEN, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(now) => counts = now,
            }
        }
        false
    }

    /// Back under the mutex: un-counts the waiter, settles its token, and does a pending
    /// requeue. Returns whether the waiter was notified.
    fn deregister<T: ?Sized>(&self, mutex: &Mutex<T, B>, address: usize, seen: u32, woke: Woke) -> bool {
        // Relaxed: counting only, as in `take_token`.
        let mut counts = self.counts.load(Relaxed);
        loop {
            let (waiting, covered) = (waiters(counts), tokens(counts));
            let notified = match woke {
                Woke::SeqMoved | Woke::TookToken => true,
                // A notify that came after the deadline but before we got here still counts,
                // and so does a token that covers every waiter (us among them): leaving without
                // it would lose that notify.
                Woke::Deadline => self.seq.load(Relaxed) != seen || covered >= waiting,
            };
            let take = woke != Woke::TookToken && notified && covered > 0;
            let requeue = counts & REQUEUE != 0;
            let left = waiting - 1;
            // Whoever requeues covers everyone still registered: they are all moved (or will see
            // `seq` move) and must all leave as notified.
            let covered = if requeue { left } else { (covered - u32::from(take)).min(left) };
            match self.counts.compare_exchange(counts, with_counts(left, covered), Relaxed, Relaxed) {
                Ok(_) => {
                    if left == 0 {
                        // Relaxed: see `register`.
                        let _ = self.mutex.compare_exchange(address, 0, Relaxed, Relaxed);
                    } else if requeue {
                        self.requeue_onto(mutex);
                    }
                    return notified;
                }
                Err(now) => counts = now,
            }
        }
    }

    /// Moves every thread sleeping on `seq` onto the mutex, which the caller holds.
    #[cold]
    fn requeue_onto<T: ?Sized>(&self, mutex: &Mutex<T, B>) {
        // The requeued threads sleep on the mutex's word: its unlock must wake them.
        mutex.mark_requeued();
        // Bump `seq` first: a covered waiter not yet asleep then finds the futex value changed
        // and leaves instead of sleeping on `seq`, where no wake would come; those already
        // asleep are all moved. Nobody can start sleeping on the new value meanwhile: that takes
        // the mutex, which we hold. Relaxed: see `wake`.
        let mut expected = self.seq.fetch_add(1, Relaxed).wrapping_add(1);
        // A notify between the bump and the syscall changes `seq` again; retry with its value.
        // `None` means only that: a kernel that refuses the requeue outright gets the sleepers
        // woken instead of moved (see `wait::requeue`), each of which finds `seq` moved and
        // takes the mutex itself, so this loop ends as soon as notifies stop racing it.
        let moved = loop {
            match B::requeue(&self.seq, expected, mutex.word()) {
                Some(moved) => break moved,
                None => expected = self.seq.load(Relaxed),
            }
        };
        #[cfg(feature = "loom")]
        MOST_REQUEUED.with(|most| most.set(most.get().max(moved)));
        #[cfg(not(feature = "loom"))]
        let _ = moved;
    }

    /// The most sleepers one requeue has moved onto a mutex on this thread since the last call,
    /// which it resets. For loom models, to show that they reached a line of moved sleepers,
    /// woken one by one by the mutex's unlocks; not part of the API. Loom runs
    /// every thread of a model on the thread that called it, so this sees all its executions.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn take_most_requeued() -> usize {
        MOST_REQUEUED.with(|most| most.replace(0))
    }
}

#[cfg(feature = "loom")]
std::thread_local! {
    /// See [`Condvar::take_most_requeued`].
    static MOST_REQUEUED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condvar_is_at_most_16_bytes() {
        assert!(core::mem::size_of::<Condvar>() <= 16);
    }

    #[test]
    fn notify_with_nobody_waiting_wakes_nobody() {
        let cv = Condvar::new();
        assert!(!cv.notify_one());
        assert_eq!(cv.notify_all(), 0);
        assert_eq!(cv.seq.load(Relaxed), 0, "no waiter, no bump (and no syscall)");
    }

    #[test]
    fn a_timed_out_wait_leaves_nothing_registered() {
        let (lock, cv) = (Mutex::new(()), Condvar::new());
        let mut guard = lock.lock();
        assert!(cv.wait_for(&mut guard, Duration::from_micros(10)).timed_out());
        assert_eq!(cv.counts.load(Relaxed), 0);
        assert_eq!(cv.mutex.load(Relaxed), 0, "the binding is released with the last waiter");
    }
}
