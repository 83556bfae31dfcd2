//! An owner-aware mutex for shared memory: a process killed while holding it does not hang the
//! others, and the next holder is told.

use core::fmt;
use core::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use crate::backend::{ProcessShared, Processes, Word, Word64};
use crate::backoff::Backoff;
use crate::guard::{self, raw::RawLock, LockData, LockGuard};
use crate::shm::ShmSafe;

/// Free, and consistent.
const FREE: u64 = 0;
/// A holder died; the data may be half-updated until a holder marks it consistent.
const INCONSISTENT: u64 = 1 << 63;
/// The holder is not of the lock's home namespace (or either is unknown): nobody may judge its
/// liveness, so nobody takes its lock from it.
const FOREIGN: u64 = 1 << 62;
/// The bits that name the holder: its identity and `FOREIGN`.
const HOLDER: u64 = !INCONSISTENT;
/// The holder's identity (pid and start time), as `Processes::current_process` gives it.
const IDENTITY: u64 = FOREIGN - 1;

/// How long a waiter of a [`RobustMutex`] sleeps before it checks whether the holder still runs
/// (10 ms): the bound on noticing a dead holder. See [`RobustMutex`].
///
/// ```
/// assert_eq!(turnstile::shm::PROBE_INTERVAL.as_millis(), 10);
/// ```
pub const PROBE_INTERVAL: Duration = <ProcessShared as Processes>::PROBE_INTERVAL;

/// A mutex for shared memory that survives its holder's death: the next holder gets
/// [`Err(OwnerDied(guard))`](OwnerDied) and can repair the data.
///
/// Linux only.
///
/// **State.** A 64-bit `owner` word, two 32-bit words and a 64-bit `home`, `#[repr(C)]`, then
/// the data:
///
/// | field      | meaning |
/// |------------|---------|
/// | `owner`    | 0: free. Else the holder's identity (pid and start time, bits 0..62), in bit 62 `FOREIGN` (the holder is not of the lock's home namespace), and in bit 63 `INCONSISTENT`: a holder died and nobody has marked the data consistent since |
/// | `wakes`    | the futex word waiters sleep on: bumped by every unlock that finds sleepers |
/// | `sleepers` | how many waiters are counted as asleep on `wakes` |
/// | `home`     | the namespace the lock was made in: its maker's pid and time namespaces (0: unknown); never written again |
///
/// A process's identity is its pid paired with its start time (`/proc/<pid>/stat`): a pid may be
/// reused once its process is gone, a (pid, start time) pair never is while the system runs. But
/// only inside one pid namespace (another namespace numbers its processes afresh) and one time
/// namespace (`/proc` shifts start times by the reader's): so the lock records where it was made,
/// and only there are identities checked.
///
/// * **Lock.** One compare-exchange `0 → me`, where `me` is this process's identity, with
///   `FOREIGN` set unless this process runs in the lock's home namespace (both known). A free
///   lock with `INCONSISTENT` set is taken with the bit kept, and the taker is told
///   [`OwnerDied`].
/// * **Unlock.** One `fetch_and` that clears the holder and keeps `INCONSISTENT`; if any
///   sleeper is counted, bump `wakes` and wake one. Uncontended: no system call.
/// * **Wait.** Spin briefly, then count yourself a sleeper, read `wakes`, look at `owner` once
///   more, and sleep on `wakes` if it still holds what you read. The count and the owner word are
///   the two sides of a "publish, then look" handshake: the unlock frees `owner` with a
///   read-modify-write and then reads the count, the waiter counts itself and then looks at
///   `owner` with a read-modify-write that changes nothing. Two read-modify-writes of one word
///   are ordered, so either the unlock sees the sleeper counted, and then bumps `wakes` after the
///   sleeper read it, or the sleeper sees the lock free. A sleeper can therefore only sleep on a
///   `wakes` value that the next unlock will change.
/// * **Probe.** A sleeper sleeps at most [`PROBE_INTERVAL`] at a time, and a timed wait
///   (`try_lock_for`, `try_lock_until`) that reaches its deadline probes once before it gives up,
///   however short it was. A probe checks whether the holder it saw has ended, and may conclude
///   so only where that can be known: the holder is not `FOREIGN`, the prober runs in the lock's
///   home namespace, its `/proc` is that namespace's own, and `/proc` proves the holder gone (see
///   below). Then it takes the lock from the dead with a compare-exchange from exactly the
///   identity it probed (so of several probers one wins, and a holder that let go meanwhile is
///   never mistaken for the dead one), sets `INCONSISTENT`, and returns `Err(OwnerDied(guard))`.
///   Anything less and it waits on, as for a live holder.
/// * **Recovery.** The new holder repairs the data and calls
///   [`mark_consistent`](RobustMutexGuard::mark_consistent). Until somebody does, every holder is
///   told `OwnerDied` again: a holder that could not repair it leaves the warning for the next.
///   A guard let go for a while with [`unlocked`](RobustMutexGuard::unlocked) is told too.
///
/// **Proof of death.** From the prober's own `/proc`: the pid names no process (`kill(pid, 0)`
/// says `ESRCH`), or names a process with another start time (the pid was reused), or names a
/// zombie whose thread group has no other thread left (`Threads: 1`). A zombie alone is not
/// proof: a process whose main thread has exited (`SYS_exit`) shows its leader as `Z` while its
/// other threads, one of which may hold the lock, run on. A process being killed passes through
/// such states; the probe then finds it alive, and the next probe finds it dead.
///
/// **The guarantee.** A live holder's lock is never taken: not from another pid namespace, not
/// through another namespace's `/proc`, not from a process whose main thread has exited. If the
/// holder's process dies (killed by any signal, or exits) without unlocking, and both it and the
/// waiter run in the lock's home namespace with its `/proc` mounted, a thread waiting in
/// [`lock`](RobustMutex::lock) takes the lock within [`PROBE_INTERVAL`] (10 ms) of the later of
/// the end of the death (the last thread gone) and the start of its wait, plus the time to be
/// scheduled and read `/proc`, and gets `Err(OwnerDied)`. A holder whose pid was reused by a new
/// process in the meantime is still found dead (the start time differs).
///
/// **What is not detected.** In each case below the worst outcome is a death not noticed: the
/// waiters wait, as for a live holder (a timed wait gives up at its deadline).
/// * A holder or a waiter outside the lock's home namespace (another pid or time namespace than
///   the process that made the lock: containers sharing `/dev/shm`, `unshare --pid`), or a lock
///   made where the namespace could not be read: identities cannot be checked across them, so a
///   `FOREIGN` holder is never probed, and a waiter outside home probes nobody.
/// * A `/proc` that is not the prober's own namespace's (none mounted, or another namespace's):
///   nothing it says is taken as proof.
/// * Where `/proc` hides another user's processes (`hidepid`), `kill(pid, 0)` tells whether the
///   pid exists, but a reused pid then counts as alive.
/// * A thread that exits, or leaks its guard with `mem::forget`, while its process lives on: the
///   owner is a process, and a live process is a live owner. (A panic unwinds the guard, which
///   releases the lock.)
/// * A holder that is alive but stuck (stopped by `SIGSTOP`, deadlocked, looping): it is alive.
/// * Taking it again on the thread that holds it deadlocks, as a [`Mutex`](crate::Mutex) does;
///   another thread of the same process waits for it like any other waiter.
///
/// **Costs.** Uncontended lock and unlock are one atomic read-modify-write each (the unlock also
/// reads `sleepers`). A waiter reads a few `/proc` files (its own `/proc/self`, the holder's
/// `stat`) once per [`PROBE_INTERVAL`] while it waits. A process killed *while waiting* leaves
/// the sleeper count one too high: later unlocks then make a futex wake call each, which finds
/// nobody for it (slower, never wrong); if it was killed just after an unlock woke it, that wake
/// is lost with it, and the waiter it would have gone to finds the lock free at its next probe,
/// within [`PROBE_INTERVAL`]: a killed waiter never wedges the lock. Waking is one sleeper per
/// unlock and barging, as the plain mutex without its fairness bound.
///
/// **Why not the kernel's robust futex list.** Linux can do this itself: each thread registers a
/// list of the robust futexes it holds (`set_robust_list`), and when the thread dies the kernel
/// marks each word `FUTEX_OWNER_DIED` and wakes a waiter, at once and without polling. But the
/// kernel keeps one list head per thread, and glibc registers it for every thread it starts, for
/// its own `PTHREAD_MUTEX_ROBUST` mutexes, in glibc's private layout. A library that registered
/// its own list would unregister glibc's (breaking robust pthread mutexes in the program);
/// joining glibc's list would mean writing glibc's private structures. The kernel's protocol is
/// also per thread (the word holds a thread id) where this lock's owner is a process. So this
/// lock probes instead, and pays for it with the detection delay above.
///
/// ```
/// use turnstile::shm::RobustMutex;
///
/// let lock = RobustMutex::new([0u32; 4]);
/// match lock.lock() {
///     Ok(mut data) => data[0] += 1,
///     Err(died) => {
///         // A process died holding it: put the data right, then say so.
///         let mut guard = died.into_inner();
///         *guard = [0; 4];
///         guard.mark_consistent();
///     }
/// }
/// assert_eq!(lock.lock().unwrap()[0], 1);
/// ```
#[repr(C)]
pub struct RobustMutex<T: ?Sized, B: Processes = ProcessShared> {
    owner: B::Owner,
    wakes: B::Word,
    sleepers: B::Word,
    /// The namespace the lock was made in (`Processes::current_namespace`, 0 if unknown);
    /// written once by the constructor, before the lock is shared, and only read after.
    home: u64,
    data: LockData<T, B>,
}

/// The guard of a [`RobustMutex`]: the lock is held until it is dropped.
///
/// ```
/// use turnstile::shm::{RobustMutex, RobustMutexGuard};
///
/// let lock = RobustMutex::new(0u64);
/// let mut guard: RobustMutexGuard<'_, u64> = lock.lock().expect("nobody died holding it");
/// *guard += 1;
/// ```
pub type RobustMutexGuard<'a, T, B = ProcessShared> = LockGuard<'a, RobustMutex<T, B>>;

/// The lock was taken, but a holder before died holding it (or a later holder did not mark the
/// data consistent): the data may be half-updated. Holds the guard; like pthread's `EOWNERDEAD`.
///
/// ```
/// use turnstile::shm::{OwnerDied, RobustMutex};
///
/// fn total(lock: &RobustMutex<[u64; 2]>) -> u64 {
///     let guard = lock.lock().unwrap_or_else(|died: OwnerDied<_>| {
///         let mut guard = died.into_inner();
///         guard[1] = guard[0]; // this data's invariant: both halves agree
///         guard.mark_consistent();
///         guard
///     });
///     guard[0] + guard[1]
/// }
/// assert_eq!(total(&RobustMutex::new([2, 2])), 4);
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    /// The guard: the lock is held.
    ///
    /// ```
    /// # use turnstile::shm::OwnerDied;
    /// # fn f(e: OwnerDied<turnstile::shm::RobustMutexGuard<'_, u8>>) {
    /// let guard = e.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, borrowed.
    ///
    /// ```
    /// # use turnstile::shm::OwnerDied;
    /// # fn f(e: OwnerDied<turnstile::shm::RobustMutexGuard<'_, u8>>) {
    /// let value: u8 = **e.get_ref();
    /// # }
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, mutably borrowed.
    ///
    /// ```
    /// # use turnstile::shm::OwnerDied;
    /// # fn f(mut e: OwnerDied<turnstile::shm::RobustMutexGuard<'_, u8>>) {
    /// **e.get_mut() = 0;
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a process died holding the lock; its data may be inconsistent")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// What `lock` returns: the guard, or the guard inside [`OwnerDied`].
pub type LockResult<G> = Result<G, OwnerDied<G>>;

impl<T> RobustMutex<T> {
    /// A new, unlocked, consistent mutex, for a [`Region`](crate::shm::Region).
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(0u64);
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new(value: T) -> Self {
        Self::with_backend(value)
    }
}

impl<T, B: Processes> RobustMutex<T, B> {
    /// A new mutex over the backend `B` (one that knows processes), named explicitly:
    /// `RobustMutex::<_, ProcessShared>::with_backend(x)` is `RobustMutex::new(x)`. Loom models
    /// build theirs with it.
    ///
    /// ```
    /// use turnstile::{backend::ProcessShared, shm::RobustMutex};
    /// let lock = RobustMutex::<_, ProcessShared>::with_backend(1);
    /// assert_eq!(*lock.lock().unwrap(), 1);
    /// ```
    pub fn with_backend(value: T) -> Self {
        RobustMutex {
            owner: B::Owner::new(FREE),
            wakes: B::Word::new(0),
            sleepers: B::Word::new(0),
            home: B::current_namespace(),
            data: LockData::with_backend(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(3);
    /// assert_eq!(lock.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized, B: Processes> RobustMutex<T, B> {
    /// Takes the lock, sleeping until it is free or its holder is found dead.
    ///
    /// `Err(OwnerDied(guard))` means the lock is held all the same, but a holder died holding
    /// it (and nobody has marked the data consistent since). Taking it again on the thread that
    /// holds it deadlocks.
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(1);
    /// *lock.lock().unwrap() += 1;
    /// assert_eq!(*lock.lock().unwrap(), 2);
    /// ```
    #[inline]
    pub fn lock(&self) -> LockResult<RobustMutexGuard<'_, T, B>> {
        let me = self.me();
        // Acquire: pairs with the Release half of `unlock`'s `fetch_and`: the last holder's
        // writes to the data happen before ours.
        let consistent = match self.owner.compare_exchange(FREE, me, Acquire, Relaxed) {
            Ok(_) => true,
            Err(_) => self.lock_contended(me, None).expect("no deadline, no timeout"),
        };
        self.guard(consistent)
    }

    /// Takes the lock if it is free right now; never waits (and so never checks on a holder).
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(());
    /// let held = lock.try_lock().unwrap().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Option<LockResult<RobustMutexGuard<'_, T, B>>> {
        let consistent = self.try_take(self.me()).ok()?;
        Some(self.guard(consistent))
    }

    /// As [`lock`](Self::lock), giving up after `timeout`: `None` if it did.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = turnstile::shm::RobustMutex::new(());
    /// let held = lock.lock().unwrap();
    /// assert!(lock.try_lock_for(Duration::from_millis(1)).is_none());
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Option<LockResult<RobustMutexGuard<'_, T, B>>> {
        match crate::wait::deadline_after(timeout) {
            Some(deadline) => self.try_lock_until(deadline),
            None => Some(self.lock()),
        }
    }

    /// As [`lock`](Self::lock), giving up at `deadline`: `None` if it did.
    ///
    /// ```
    /// use std::time::Instant;
    /// let lock = turnstile::shm::RobustMutex::new(());
    /// assert!(lock.try_lock_until(Instant::now()).is_some()); // free: no wait needed
    /// ```
    pub fn try_lock_until(&self, deadline: Instant) -> Option<LockResult<RobustMutexGuard<'_, T, B>>> {
        let me = self.me();
        let consistent = match self.try_take(me) {
            Ok(consistent) => consistent,
            Err(_) => self.lock_contended(me, Some(deadline))?,
        };
        Some(self.guard(consistent))
    }

    /// Whether some thread holds the lock at this instant (stale as soon as it returns).
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(());
    /// let held = lock.lock();
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.owner.load(Relaxed) & HOLDER != 0
    }

    /// Whether the data is marked consistent: `false` after a holder died, until a later holder
    /// calls [`mark_consistent`](RobustMutexGuard::mark_consistent).
    ///
    /// ```
    /// assert!(turnstile::shm::RobustMutex::new(()).is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.owner.load(Relaxed) & INCONSISTENT == 0
    }

    /// A mutable reference to the data; `&mut self` proves nobody holds the lock.
    ///
    /// ```
    /// let mut lock = turnstile::shm::RobustMutex::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn guard(&self, consistent: bool) -> LockResult<RobustMutexGuard<'_, T, B>> {
        // SAFETY: every caller has just taken the lock for this thread.
        let guard = unsafe { LockGuard::new(self) };
        if consistent {
            Ok(guard)
        } else {
            Err(OwnerDied { guard })
        }
    }

    /// What this process writes into `owner` when it takes the lock: its identity, marked
    /// `FOREIGN` unless it runs in the lock's home namespace (and both are known).
    #[inline]
    fn me(&self) -> u64 {
        let me = B::current_process();
        if self.home != 0 && B::current_namespace() == self.home {
            me
        } else {
            me | FOREIGN
        }
    }

    /// Takes the lock if nobody holds it: `Ok(consistent)`, or `Err(owner word)` naming the
    /// holder.
    #[inline]
    fn try_take(&self, me: u64) -> Result<bool, u64> {
        // Relaxed: a first look; the compare-exchange in `take_free` reads the word again.
        self.take_free(self.owner.load(Relaxed), me)
    }

    /// Takes the lock if `owner`, the value last read, or a later one is free.
    #[inline]
    fn take_free(&self, mut owner: u64, me: u64) -> Result<bool, u64> {
        while owner & HOLDER == FREE {
            // Acquire: pairs with the Release half of `unlock`'s `fetch_and`: the last holder's
            // writes to the data happen before ours.
            match self.owner.compare_exchange(owner, owner | me, Acquire, Relaxed) {
                Ok(_) => return Ok(owner & INCONSISTENT == 0),
                Err(now) => owner = now,
            }
        }
        Err(owner)
    }

    /// Whether the lock may be taken from `holder` (an owner word with a holder): only if the
    /// holder and this process both run in the lock's home namespace, where identities can be
    /// checked, and the check proves the holder has ended. Anything less leaves it alone.
    fn holder_is_dead(&self, holder: u64) -> bool {
        holder & FOREIGN == 0
            && self.home != 0
            && B::current_namespace() == self.home
            && !B::process_alive(holder & IDENTITY)
    }

    /// Waits for the lock: `Some(consistent)` once taken, `None` if `deadline` passed (or, in a
    /// loom model, this process was killed while it waited).
    #[cold]
    fn lock_contended(&self, me: u64, deadline: Option<Instant>) -> Option<bool> {
        let mut backoff = Backoff::<B>::new();
        while backoff.spin() {
            if let Ok(consistent) = self.try_take(me) {
                return Some(consistent);
            }
        }
        // The slow side of the handshake with `unlock`: publish (count myself), then look at
        // `owner` with `read_latest`. Relaxed: the look's Release half carries it (see below).
        self.sleepers.fetch_add(1, Relaxed);
        let taken = loop {
            // Relaxed: a changed `wakes` means only "look again". The look that follows cannot
            // come before the unlock whose bump we read: that unlock's `fetch_and` would then read
            // from the look and synchronize with its Release half, making this read of `wakes`
            // happen before the bump it read, which coherence forbids.
            let seen = self.wakes.load(Relaxed);
            // Release, an RMW (`read_latest`): either it comes after `unlock`'s `fetch_and` in the
            // owner word's order and reads the lock free, or that `fetch_and` reads from it and
            // synchronizes with this Release half, and so sees our count: then `unlock` bumps
            // `wakes` after our read of it above (which happens before), and our sleep on `seen`
            // ends. No Acquire half: a free lock is taken by the compare-exchange in `take_free`,
            // whose Acquire orders the data; a held one orders nothing.
            let holder = match self.take_free(self.owner.read_latest(Release), me) {
                Ok(consistent) => break Some(consistent),
                Err(holder) => holder,
            };
            // Sleep until woken, the next probe (never, if the interval is infinite), or the
            // deadline, whichever comes first.
            let probe_at = Instant::now().checked_add(B::PROBE_INTERVAL);
            let until = match (deadline, probe_at) {
                (Some(deadline), Some(probe_at)) => Some(deadline.min(probe_at)),
                (deadline, probe_at) => deadline.or(probe_at),
            };
            // The kernel's futex itself, on every backend: this lock lives between processes,
            // where no process's own wait queue can hold the others' waiters.
            let woken = B::futex_wait(&self.wakes, seen, crate::wait::ALL, until);
            if B::killed_while_waiting() {
                // A model's kill: a dead process leaves its count behind and does nothing more.
                return None;
            }
            if woken {
                continue;
            }
            // The probe interval or the deadline passed. Either way, probe the holder first: a
            // timed wait never gives up on a holder it has not checked, however short it was.
            // Relaxed: the probe that found the holder dead is the edge that orders its writes
            // (and, through its own Acquire, every earlier holder's) before ours: its death and
            // our reading of it go through the kernel's locks. The compare-exchange from exactly
            // the identity found dead makes one of several probers win, and leaves alone a lock
            // let go meanwhile.
            if self.holder_is_dead(holder)
                && self.owner.compare_exchange(holder, me | INCONSISTENT, Relaxed, Relaxed).is_ok()
            {
                break Some(false);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                // One last look, then give up.
                break self.try_take(me).ok();
            }
        };
        // Relaxed: the count is read only for the handshake, which this thread has left.
        self.sleepers.fetch_sub(1, Relaxed);
        taken
    }
}

impl<T: ?Sized, B: Processes> LockGuard<'_, RobustMutex<T, B>> {
    /// Declares the data consistent again after a holder died: later holders get `Ok`.
    ///
    /// Call it once the data is repaired; a guard dropped without it leaves the lock telling
    /// the next holder [`OwnerDied`], as pthread's `pthread_mutex_consistent` does.
    ///
    /// ```
    /// use turnstile::shm::RobustMutex;
    ///
    /// let lock = RobustMutex::new(0);
    /// let mut guard = lock.lock().unwrap();
    /// guard.mark_consistent(); // a no-op when it is already consistent
    /// assert!(guard.is_consistent());
    /// ```
    pub fn mark_consistent(&mut self) {
        // Relaxed: we hold the lock, so nobody else writes `owner` now; the unlock's Release
        // publishes the change with the data.
        LockGuard::raw(self).owner.fetch_and(HOLDER, Relaxed);
    }

    /// Releases the lock while `f` runs, then takes it back before returning (also if `f`
    /// panics), as the other guards' `unlocked` does; but taking it back may find that a holder
    /// died in between (it is then taken from the dead), so the outcome says so: `Ok(f's
    /// result)`, or `Err(OwnerDied(f's result))` when the data is marked inconsistent. Either
    /// way the guard holds the lock again.
    ///
    /// ```
    /// use turnstile::shm::{RobustMutex, RobustMutexGuard};
    ///
    /// let lock = RobustMutex::new(1);
    /// let mut guard = lock.lock().unwrap();
    /// let slow = RobustMutexGuard::unlocked(&mut guard, || {
    ///     assert!(!lock.is_locked()); // free while the closure runs
    ///     6 * 7
    /// });
    /// match slow {
    ///     Ok(answer) => assert_eq!(answer, 42),
    ///     Err(died) => {
    ///         // A holder died while we had let go: repair, then say so.
    ///         let _answer = died.into_inner();
    ///         *guard = 1;
    ///         guard.mark_consistent();
    ///     }
    /// }
    /// assert!(guard.is_consistent());
    /// ```
    pub fn unlocked<R>(this: &mut Self, f: impl FnOnce() -> R) -> Result<R, OwnerDied<R>> {
        let result = LockGuard::unlocked_with(this, |_| f());
        if LockGuard::raw(this).is_consistent() {
            Ok(result)
        } else {
            Err(OwnerDied { guard: result })
        }
    }

    /// Whether the data is marked consistent (see [`mark_consistent`](Self::mark_consistent)).
    ///
    /// ```
    /// let lock = turnstile::shm::RobustMutex::new(0);
    /// assert!(lock.lock().unwrap().is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        LockGuard::raw(self).is_consistent()
    }
}

#[cfg(feature = "loom")]
impl<T: ?Sized, F: crate::backend::Fault> LockGuard<'_, RobustMutex<T, crate::backend::Loom<F>>> {
    /// For loom models: the holder's process dies holding the lock. The guard's access to the
    /// data ends (a dead process touches nothing more) but the lock stays held, and the thread's
    /// modelled process is gone (see `Loom::exit_process`).
    ///
    /// ```
    /// use turnstile::backend::Loom;
    /// use turnstile::shm::RobustMutex;
    ///
    /// loom::model(|| {
    ///     let lock = RobustMutex::<u32, Loom>::with_backend(0);
    ///     turnstile::LockGuard::exit_process(lock.lock().unwrap());
    ///     assert!(lock.is_locked());
    /// });
    /// ```
    pub fn exit_process(this: Self) {
        let (_, access) = LockGuard::into_parts(this);
        drop(core::mem::ManuallyDrop::into_inner(access));
        crate::backend::Loom::<F>::exit_process();
    }
}

#[cfg(feature = "loom")]
impl<T: ?Sized, F: crate::backend::Fault> RobustMutex<T, crate::backend::Loom<F>> {
    /// For loom models: `lock`, by a process killed just after its first sleep in the wait
    /// ends (woken or not; see `Loom::kill_at_next_wait`): `None` then, its sleeper count left
    /// behind and any wake it consumed gone, as a `SIGKILL`ed waiter's. `Some(guard)` if it took
    /// the lock before it ever slept.
    ///
    /// ```
    /// use turnstile::backend::Loom;
    /// use turnstile::shm::RobustMutex;
    ///
    /// loom::model(|| {
    ///     let lock = RobustMutex::<u32, Loom>::with_backend(0);
    ///     assert!(lock.lock_until_killed().is_some()); // free: taken at once
    /// });
    /// ```
    pub fn lock_until_killed(&self) -> Option<LockResult<RobustMutexGuard<'_, T, crate::backend::Loom<F>>>> {
        crate::backend::Loom::<F>::kill_at_next_wait();
        let me = self.me();
        let consistent = match self.try_take(me) {
            Ok(consistent) => consistent,
            Err(_) => self.lock_contended(me, None)?,
        };
        Some(self.guard(consistent))
    }
}

// SAFETY: `owner` names one holder at a time: it is taken by compare-exchange from a free word,
// or from a dead holder's exact identity (that process runs no more code). `unlock` releases
// with the Release half of its `fetch_and`, which the next taker's Acquire reads.
unsafe impl<T: ?Sized, B: Processes> RawLock for RobustMutex<T, B> {
    type Target = T;
    type Backend = B;

    fn data(&self) -> &LockData<T, B> {
        &self.data
    }

    unsafe fn unlock(&self) {
        // The fast side of the handshake with a waiter counting itself: publish (free the
        // lock), then look at `sleepers` with a plain load.
        // AcqRel: the Release half publishes the critical section to the next taker's Acquire;
        // the Acquire half pairs with the Release half of a waiter's `read_latest` look that
        // came first in the owner word's order, so the count it made before is seen below.
        self.owner.fetch_and(INCONSISTENT, AcqRel);
        // Relaxed: ordered after any counted waiter's count by the Acquire above.
        if self.sleepers.load(Relaxed) != 0 {
            // Relaxed: the bump tells a sleeper only to look again; its look is ordered after
            // our `fetch_and` by the handshake (see `lock_contended`), not by this.
            self.wakes.fetch_add(1, Relaxed);
            B::futex_wake(&self.wakes, crate::wait::ALL, 1);
        }
    }

    fn relock(&self) {
        // A death while the guard was let go stays flagged in the word: the robust guard's
        // `unlocked` reads it and reports it.
        let me = self.me();
        if self.try_take(me).is_err() {
            self.lock_contended(me, None);
        }
    }
}

// SAFETY: `#[repr(C)]`: a `u64` owner, two `u32` words and the data, which is `ShmSafe`; the
// owner is a process identity valid in every process, and the `ProcessShared` backend's futex
// calls meet sleepers in any process.
unsafe impl<T: ShmSafe + Send> ShmSafe for RobustMutex<T, ProcessShared> {
    const LAYOUT: &'static crate::shm::Layout =
        &crate::shm::Layout::wrapper::<Self>("RobustMutex", T::LAYOUT);
}

impl<T: Default> Default for RobustMutex<T> {
    /// A lock around `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RobustMutex<T> {
    /// A lock around `value`.
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug, B: Processes> fmt::Debug for RobustMutex<T, B> {
    /// Shows the data if the lock is free, `<locked>` otherwise; never blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.try_lock().map(|r| r.unwrap_or_else(OwnerDied::into_inner));
        guard::debug_lock(f, "RobustMutex", guard.as_deref())
    }
}
