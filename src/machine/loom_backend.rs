//! The loom backend: the crate's algorithms over loom's atomics and a modelled futex.
//!
//! **The modelled kernel.** One table per loom execution (a loom `lazy_static`) stands for the
//! kernel's futex hash table: a loom `Mutex` (the bucket lock) around the list of sleeping
//! threads, oldest first, each keyed by the address of the word it sleeps on. `wait` takes the
//! bucket lock, compares the word with `expected` and, if equal, enters the list and sleeps on
//! its thread's own loom `Notify`; a wake marks the oldest sleepers on that address (whose mask
//! meets the wake's) as woken and notify them; `requeue` re-keys every sleeper of one word to another word, as
//! `FUTEX_CMP_REQUEUE` does. A waker changes the word *before* it calls wake, so either the
//! waiter's check sees the new value or it is in the list when the wake comes: no lost wakeup
//! unless the algorithm itself loses it, and then loom reports a deadlock.
//!
//! **No kinder than the kernel.** `FUTEX_WAIT` may return 0 with nobody having woken it. Here
//! every thread's first untimed sleep in an execution may return spuriously: loom's `Notify`
//! explores both "woken" and "returned on its own" as a branch. (Once per thread keeps the search
//! finite: a thread that spurs on every call could spin forever.) An algorithm that treats a
//! return from `wait` as news, instead of re-reading its word, fails a model.
//!
//! What loom cannot leave out is the ordering a wake carries. The kernel promises none: a woken
//! thread learns what happened only through the word's atomics. Here the bucket lock and the
//! `Notify` are loom primitives, and loom orders a notifier's earlier writes before everything the
//! notified thread does next. That gap is covered from the other side: because a wait may return
//! spuriously, a primitive that reads data on the strength of having been woken (not of an
//! Acquire load of its word) meets, in some explored interleaving, a spurious return and reads
//! that data unordered, which loom reports. `loom-tests/futex.rs` shows such a primitive failing.
//!
//! A wait with a deadline enters the list too, then yields (loom has no clock: the timer may fire
//! after any steps of the other threads), and then either finds itself woken (a wake that beat
//! the timer: it returns `true`, having consumed that wake) or leaves the list and times out.
//!
//! **Faults.** A model that passes proves something only if the same model fails on a broken
//! algorithm. Rather than keep broken copies of the algorithms, the backend takes a [`Fault`]
//! parameter that breaks the *machine* under the unchanged crate code: see each fault's docs.
//! `Loom` (that is, `Loom<Sound>`) has none.

use core::any::{Any, TypeId};
use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loom::sync::{Mutex, Notify};

use super::queue::{QueueFaults, Slot};
use crate::backend::{sealed, Backend, Processes, Word, Word64};

/// A way to break the machine, so that a model can be shown able to fail. See the module docs.
///
/// ```
/// use std::panic::{catch_unwind, AssertUnwindSafe};
/// use turnstile::backend::{Backend, CheckThenSet, Loom};
/// use turnstile::SpinLock;
///
/// fn two_lockers<B: Backend>() {
///     let lock = loom::sync::Arc::new(SpinLock::<u32, B>::with_backend(0));
///     let other = loom::sync::Arc::clone(&lock);
///     let t = loom::thread::spawn(move || *other.lock() += 1);
///     *lock.lock() += 1;
///     t.join().unwrap();
/// }
///
/// loom::model(two_lockers::<Loom>); // the real lock passes
/// // "check, then set" lets both threads in, and loom says so.
/// assert!(catch_unwind(AssertUnwindSafe(|| loom::model(two_lockers::<Loom<CheckThenSet>>))).is_err());
/// ```
pub trait Fault: Send + Sync + 'static {
    /// Every store and read-modify-write loses its `Release` half.
    const NO_RELEASE: bool = false;
    /// Every read-modify-write becomes a separate load and store ("check, then set").
    const SPLIT_RMW: bool = false;
    /// Every wake wakes nobody.
    const FORGET_WAKES: bool = false;
    /// A timed wait that a wake reached reports a timeout anyway: the wake is swallowed.
    const SWALLOW_TIMED_WAKES: bool = false;
    /// `wait` goes to sleep without comparing the word with `expected`.
    const BLIND_WAIT: bool = false;
    /// `requeue` reports the sleepers moved but leaves them where they were.
    const LOSE_REQUEUE: bool = false;
    /// A process that exited is still reported alive.
    const IMMORTAL: bool = false;
    /// Whether a process is alive is judged by its pid alone, so a reused pid passes for the
    /// process that had it.
    const PID_ONLY: bool = false;
    /// Every process asked about is reported dead, the live too.
    const HASTY_PROBE: bool = false;
    /// [`Word::read_latest`] is a plain load, which may read an older value.
    const PLAIN_LOOK: bool = false;
    /// Every process is reported to be in the same namespace: a kernel that tells none apart,
    /// so a lock's namespace check is skipped and pids of other namespaces are read as ours.
    const NAMESPACE_BLIND: bool = false;
    /// Every compare-exchange becomes a load followed by a store; other read-modify-writes stay
    /// whole. (`SPLIT_RMW` splits those too: where a loop re-reads a word with a split
    /// `read_latest`, its write-backs multiply what later loads may read past loom's bounds.)
    const SPLIT_CAS: bool = false;
    /// The wait queue runs a park's validation before it takes the bucket lock: a wake that
    /// comes between the check and the enqueue is lost.
    const VALIDATE_UNLOCKED: bool = false;
    /// The wait queue puts each new waiter at the head of its line: last come, first served.
    const LIFO: bool = false;
    /// A waiter that gives up at its deadline reports "more wait" counting itself.
    const STALE_MORE: bool = false;
    /// A waiter whose deadline passes reports a timeout even when a waker picked it meanwhile:
    /// the wake, and whatever the waker handed over, is lost.
    const PICKED_TIMES_OUT: bool = false;
    /// Not a fault but a model setting: a robust mutex's waiter never wakes on its own to probe
    /// (`Processes::PROBE_INTERVAL` is `Duration::MAX`), so it sleeps until woken, and a lost
    /// wakeup is a loom deadlock instead of a probe interval's delay.
    const SLEEP_UNTIL_WOKEN: bool = false;
    /// Not a fault: the machine of [`ProcessShared`](crate::backend::ProcessShared), where a
    /// counted waiter may vanish, so the mutex's sleepers sleep in slices
    /// ([`Backend::SLEEP_SLICE`]).
    const SHARED: bool = false;
    /// Not a fault: with [`SHARED`](Self::SHARED), the kernel path without the sleep slices, that
    /// is the policy for waiters that cannot vanish; the twin of the `SharedMemory` models.
    const UNSLICED: bool = false;
    /// Not a fault: the mutex spins (one yield) before it sleeps, so that models reach the path
    /// real sleepers take when a woken one is overtaken.
    const PATIENT: bool = false;
}

macro_rules! faults {
    ($($(#[$doc:meta])* $name:ident => $($flag:ident),*;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl Fault for $name {
            $(const $flag: bool = true;)*
        }
    )*};
}

faults! {
    /// No fault: the loom backend as it should be.
    Sound => ;
    /// Every write is at most `Relaxed`/`Acquire`: an unlock no longer publishes the critical section.
    NoRelease => NO_RELEASE;
    /// Every read-modify-write is a load followed by a store: the non-atomic "check the lock, then
    /// set it" lock.
    CheckThenSet => SPLIT_RMW;
    /// Wakes are dropped: an unlock that forgets to wake its sleepers.
    ForgetfulWake => FORGET_WAKES;
    /// A timed waiter picked by a wake still times out, taking the wake with it.
    SwallowedWake => SWALLOW_TIMED_WAKES;
    /// A futex wait that does not compare the word before sleeping: the "check a flag, then
    /// sleep" bug, where a wake that comes between the check and the sleep is lost.
    BlindWait => BLIND_WAIT;
    /// A requeue that strands the sleepers it claims to have moved.
    LostRequeue => LOSE_REQUEUE;
    /// A wait queue that validates a park outside its bucket lock.
    ValidateUnlocked => VALIDATE_UNLOCKED;
    /// A wait queue that serves the newest waiter first.
    Lifo => LIFO;
    /// A wait queue whose timed-out waiter counts itself among those that remain.
    StaleMore => STALE_MORE;
    /// A wait queue whose waiter times out though a waker picked it.
    PickedTimesOut => PICKED_TIMES_OUT;
    /// The kernel never reports a process gone: a holder that dies is waited for forever.
    ImmortalOwner => IMMORTAL;
    /// A probe that checks the pid only: a dead holder whose pid a new process took looks alive.
    PidOnly => PID_ONLY;
    /// A probe that calls every holder dead: a live holder's lock is taken from it.
    HastyProbe => HASTY_PROBE;
    /// The "look" of a "publish, then look" handshake is a plain load instead of a
    /// read-modify-write: each side can miss the other's write, and a wakeup is lost.
    PlainLook => PLAIN_LOOK;
    /// Namespaces are not told apart: a prober reads a holder's pid from another namespace as
    /// the pid of a process of its own.
    NamespaceBlind => NAMESPACE_BLIND;
    /// No fault: robust-mutex waiters sleep until woken, never probing (see
    /// [`Fault::SLEEP_UNTIL_WOKEN`]), so a model sees every lost wakeup as a deadlock.
    Unprobed => SLEEP_UNTIL_WOKEN;
    /// [`PlainLook`] under [`Unprobed`]: the lost wakeup of a plain-load look, made visible.
    UnprobedPlainLook => SLEEP_UNTIL_WOKEN, PLAIN_LOOK;
    /// Every compare-exchange is a load, then a store: "check, then take".
    CheckThenSetCas => SPLIT_CAS;
    /// No fault: the process-shared policy, for the models of waiters that vanish. Its twin is
    /// `Sound`, the in-process policy, which a vanished waiter wedges.
    SharedMemory => SHARED;
    /// The kernel path with the in-process policy (no sleep slices): a vanished waiter wedges it.
    SharedUnsliced => SHARED, UNSLICED;
    /// [`SharedUnsliced`] with [`NoRelease`]'s fault.
    SharedUnslicedNoRelease => SHARED, UNSLICED, NO_RELEASE;
    /// No fault: the mutex's spin budget and fairness bound made reachable (see
    /// [`Fault::PATIENT`]).
    Patient => PATIENT;
    /// [`Patient`] with [`ForgetfulWake`]'s fault.
    PatientForgetfulWake => PATIENT, FORGET_WAKES;
    /// [`Patient`] with [`NoRelease`]'s fault.
    PatientNoRelease => PATIENT, NO_RELEASE;
    /// [`SharedMemory`] with [`ForgetfulWake`]'s fault: the kernel path loses its wakes.
    SharedForgetfulWake => SHARED, FORGET_WAKES;
    /// [`SharedMemory`] with [`PlainLook`]'s fault: the kernel path's look is a plain load.
    SharedPlainLook => SHARED, PLAIN_LOOK;
}

/// The loom backend. `Loom` alone is the sound one; `Loom<F>` injects the fault `F`.
///
/// Only usable inside `loom::model`.
///
/// ```
/// use turnstile::{backend::Loom, Mutex};
///
/// loom::model(|| {
///     let m = Mutex::<u32, Loom>::with_backend(0);
///     *m.lock() += 1;
///     assert_eq!(m.into_inner(), 1);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Loom<F: Fault = Sound>(PhantomData<F>);

/// A loom `UnsafeCell<()>` standing for a lock's data: guards hold a loom pointer into it, so
/// loom reports two guards that overlap in time (a broken lock) as a causality violation.
#[derive(Debug)]
pub struct Tracker(loom::cell::UnsafeCell<()>);

// SAFETY: the cell holds no data; sharing it only lets threads register accesses with loom's
// runtime, which runs one modelled thread at a time and checks those accesses itself.
unsafe impl Sync for Tracker {}

/// The word of the loom backend: a loom atomic. Its sleepers live in the modelled kernel, keyed
/// by the word's address.
#[derive(Debug)]
pub struct LoomWord<F> {
    value: loom::sync::atomic::AtomicU32,
    _fault: PhantomData<F>,
}

/// One sleeping thread in the modelled kernel.
struct Sleeper {
    ticket: u64,
    /// The address of the word it sleeps on (changed by `requeue`).
    key: usize,
    woken: bool,
    /// Which masked wakes can reach it (`u32::MAX` for a plain wait).
    mask: u32,
    wakeup: Arc<Notify>,
}

/// The modelled futex table: every sleeper of the execution, oldest first. And the modelled
/// process table: every process started in the execution, and whether it still runs.
#[derive(Default)]
struct Kernel {
    next_ticket: u64,
    sleepers: Vec<Sleeper>,
    processes: Vec<ModelProcess>,
    namespaces: u64,
}

/// One modelled process: an identity as `Processes::current_process` gives (pid in bits 40..,
/// a start time below), the pid namespace it runs in (1 is the first), and whether it runs.
struct ModelProcess {
    id: u64,
    namespace: u64,
    alive: bool,
}

/// Where a modelled identity's pid starts, as in the real one.
const PID_SHIFT: u32 = 40;

impl Kernel {
    fn enqueue(&mut self, key: usize, mask: u32, wakeup: Arc<Notify>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.sleepers.push(Sleeper { ticket, key, woken: false, mask, wakeup });
        ticket
    }

    /// Takes `ticket` out of the table; whether a wake had picked it.
    fn leave(&mut self, ticket: u64) -> bool {
        let at = self.sleepers.iter().position(|s| s.ticket == ticket).expect("a sleeper leaves once");
        self.sleepers.remove(at).woken
    }

    /// Wakes up to `count` sleepers on `key` whose mask meets `mask`, oldest first; returns how
    /// many.
    fn wake(&mut self, key: usize, mask: u32, count: usize) -> usize {
        let mut woken = 0;
        let reached = |s: &&mut Sleeper| s.key == key && !s.woken && s.mask & mask != 0;
        for sleeper in self.sleepers.iter_mut().filter(reached).take(count) {
            sleeper.woken = true;
            sleeper.wakeup.notify();
            woken += 1;
        }
        woken
    }
}

impl Kernel {
    /// Starts a process in `namespace`, with the next pid of that namespace or `reusing` the pid
    /// of an exited one; its start time is later than every other's, as the real clock's would
    /// be. Each namespace numbers its pids from 1, so pids collide across namespaces.
    fn start_process(&mut self, namespace: u64, reusing: Option<u64>) -> u64 {
        let pid = reusing.map_or_else(
            || 1 + self.processes.iter().filter(|p| p.namespace == namespace).count() as u64,
            |id| id >> PID_SHIFT,
        );
        let id = pid << PID_SHIFT | (self.processes.len() as u64 + 1);
        self.processes.push(ModelProcess { id, namespace, alive: true });
        id
    }

    /// The namespace of the process `id`.
    fn namespace_of(&self, id: u64) -> u64 {
        self.processes.iter().find(|p| p.id == id).map_or(1, |p| p.namespace)
    }
}

loom::lazy_static! {
    /// The kernel of the current loom execution (loom rebuilds it for every execution).
    static ref KERNEL: Mutex<Kernel> = Mutex::new(Kernel::default());
    /// The wait-queue table of each `Loom<F>` used in the current execution. (A `static` cannot
    /// be generic, so each backend finds its own by type.) Not a loom lock: the table is the
    /// crate's code under test, and this only finds it.
    /// The threads in `spin_sleep`: the word each waits on and what ends its sleep. Not a loom
    /// lock: it stands for the spinning itself, which the real machine does without locks; loom
    /// runs one thread at a time, and no loom operation runs while it is held.
    static ref SPINNERS: std::sync::Mutex<Vec<(usize, Arc<Notify>)>> = std::sync::Mutex::new(Vec::new());
    static ref QUEUES: std::sync::Mutex<Vec<(TypeId, Box<dyn Any + Send + Sync>)>> = std::sync::Mutex::new(Vec::new());
}

loom::thread_local! {
    /// Whose address names this thread (`Backend::thread_id`).
    static THREAD_ID: u8 = 0;
    /// What this thread sleeps on. One per thread, so a thread spurs at most once per execution.
    static WAKEUP: Arc<Notify> = Arc::new(Notify::new());
    /// What ends this thread's `spin_sleep` (apart from its futex sleeps, so that neither takes
    /// the other's notification).
    static SPIN_WAKEUP: Arc<Notify> = Arc::new(Notify::new());
    /// The modelled process this thread runs in (each thread is its own process); 0 until it
    /// asks.
    static PROCESS: core::cell::Cell<u64> = core::cell::Cell::new(0);
    /// Whether this thread's process is killed at its next kill point (`kill_at_next_wait`).
    static DOOMED: core::cell::Cell<bool> = core::cell::Cell::new(false);
    /// The word this thread sleeps on in the wait queues of each `Loom<F>` (found by type, as
    /// `QUEUES`): made on the thread's first park and kept for the rest of the execution, as the
    /// real machine keeps it for the thread's life, so late wakes from an earlier park reach it.
    static THREAD_WORDS: core::cell::RefCell<Vec<(TypeId, &'static (dyn Any + Send + Sync))>> =
        core::cell::RefCell::new(Vec::new());
}

fn key<F>(word: &LoomWord<F>) -> usize {
    word as *const LoomWord<F> as usize
}

impl<F: Fault> sealed::Sealed for Loom<F> {}
impl<F: Fault> sealed::Sealed for LoomWord<F> {}

impl<F: Fault> LoomWord<F> {
    /// The value as the kernel reads it under its bucket lock. Relaxed: the bucket lock orders
    /// this read after any waker's change-then-wake, which is all the kernel promises.
    fn current(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The ordering a write gets on a backend with fault `F` (no Release half under `NoRelease`).
fn write_order<F: Fault>(order: Ordering) -> Ordering {
    if !F::NO_RELEASE {
        return order;
    }
    match order {
        Ordering::Release => Ordering::Relaxed,
        Ordering::AcqRel | Ordering::SeqCst => Ordering::Acquire,
        other => other,
    }
}

fn store_order<F: Fault>(order: Ordering) -> Ordering {
    match write_order::<F>(order) {
        Ordering::Acquire => Ordering::Relaxed,
        other => other,
    }
}

/// The read-modify-write of a loom word of fault `F`, for each width.
macro_rules! loom_rmw {
    ($Word:ident, $int:ty) => {
        impl<F: Fault> $Word<F> {
            /// Applies `f` to the value: atomically, or as a load and a store under `CheckThenSet`.
            fn rmw(&self, order: Ordering, f: impl Fn($int) -> Option<$int>) -> Result<$int, $int> {
                let order = write_order::<F>(order);
                if F::SPLIT_RMW {
                    let load_order = match order {
                        Ordering::AcqRel | Ordering::SeqCst => Ordering::Acquire,
                        Ordering::Release => Ordering::Relaxed,
                        other => other,
                    };
                    let old = self.value.load(load_order);
                    let Some(new) = f(old) else { return Err(old) };
                    let store_order = match order {
                        Ordering::AcqRel | Ordering::SeqCst => Ordering::Release,
                        Ordering::Acquire => Ordering::Relaxed,
                        other => other,
                    };
                    self.value.store(new, store_order);
                    Ok(old)
                } else {
                    let failure = match order {
                        Ordering::AcqRel | Ordering::Acquire | Ordering::SeqCst => Ordering::Acquire,
                        _ => Ordering::Relaxed,
                    };
                    self.value.fetch_update(order, failure, f)
                }
            }

            /// `read_latest`: an RMW that writes the value back, or a plain load under `PlainLook`.
            fn read_latest_faulty(&self, order: Ordering) -> $int {
                if F::PLAIN_LOOK {
                    let load_order = match order {
                        Ordering::AcqRel | Ordering::SeqCst => Ordering::Acquire,
                        Ordering::Release => Ordering::Relaxed,
                        other => other,
                    };
                    return self.value.load(load_order);
                }
                self.rmw(order, Some).unwrap_or_else(|v| v)
            }

            fn compare_exchange_faulty(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                if F::SPLIT_CAS {
                    let acquire = matches!(success, Ordering::Acquire | Ordering::AcqRel | Ordering::SeqCst);
                    let old = self.value.load(if acquire { Ordering::Acquire } else { Ordering::Relaxed });
                    if old != current {
                        return Err(old);
                    }
                    let release = matches!(success, Ordering::Release | Ordering::AcqRel | Ordering::SeqCst);
                    self.value.store(new, if release { Ordering::Release } else { Ordering::Relaxed });
                    return Ok(old);
                }
                if F::SPLIT_RMW || F::NO_RELEASE {
                    return self.rmw(success, |v| (v == current).then_some(new));
                }
                self.value.compare_exchange(current, new, success, failure)
            }
        }
    };
}

loom_rmw!(LoomWord, u32);
loom_rmw!(LoomWord64, u64);

/// The 64-bit word of the loom backend (a lock's owner), with the same faults as [`LoomWord`].
#[derive(Debug)]
pub struct LoomWord64<F> {
    value: loom::sync::atomic::AtomicU64,
    _fault: PhantomData<F>,
}

impl<F: Fault> sealed::Sealed for LoomWord64<F> {}

impl<F: Fault> Word64 for LoomWord64<F> {
    fn new(value: u64) -> Self {
        LoomWord64 { value: loom::sync::atomic::AtomicU64::new(value), _fault: PhantomData }
    }
    fn load(&self, order: Ordering) -> u64 {
        self.value.load(order)
    }
    fn store(&self, value: u64, order: Ordering) {
        self.value.store(value, store_order::<F>(order));
    }
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.compare_exchange_faulty(current, new, success, failure)
    }
    fn fetch_and(&self, value: u64, order: Ordering) -> u64 {
        self.rmw(order, |v| Some(v & value)).unwrap_or_else(|v| v)
    }
    fn read_latest(&self, order: Ordering) -> u64 {
        self.read_latest_faulty(order)
    }
}

impl<F: Fault> Word for LoomWord<F> {
    fn new(value: u32) -> Self {
        LoomWord { value: loom::sync::atomic::AtomicU32::new(value), _fault: PhantomData }
    }
    fn load(&self, order: Ordering) -> u32 {
        self.value.load(order)
    }
    fn store(&self, value: u32, order: Ordering) {
        self.value.store(value, store_order::<F>(order));
    }
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        if F::SPLIT_RMW || F::NO_RELEASE {
            return self.rmw(order, |_| Some(value)).unwrap_or_else(|v| v);
        }
        self.value.swap(value, order)
    }
    fn compare_exchange(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32> {
        self.compare_exchange_faulty(current, new, success, failure)
    }
    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        self.rmw(order, |v| Some(v.wrapping_add(value))).unwrap_or_else(|v| v)
    }
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        self.rmw(order, |v| Some(v.wrapping_sub(value))).unwrap_or_else(|v| v)
    }
    fn fetch_or(&self, value: u32, order: Ordering) -> u32 {
        self.rmw(order, |v| Some(v | value)).unwrap_or_else(|v| v)
    }
    fn fetch_and(&self, value: u32, order: Ordering) -> u32 {
        self.rmw(order, |v| Some(v & value)).unwrap_or_else(|v| v)
    }
    fn read_latest(&self, order: Ordering) -> u32 {
        self.read_latest_faulty(order)
    }
}

impl<F: Fault> Loom<F> {
    fn wake(word: &LoomWord<F>, mask: u32, count: usize) -> usize {
        if F::FORGET_WAKES {
            return 0;
        }
        KERNEL.lock().unwrap().wake(key(word), mask, count)
    }
}

impl<F: Fault> Loom<F> {
    /// Ends the process of the calling thread, as a `SIGKILL` would: it holds on to whatever it
    /// held, and [`Processes::process_alive`] reports it gone from now on. The thread must not
    /// touch a lock again.
    ///
    /// ```
    /// use turnstile::backend::{Loom, Processes};
    ///
    /// loom::model(|| {
    ///     let me = Loom::<turnstile::backend::Sound>::current_process();
    ///     assert!(Loom::<turnstile::backend::Sound>::process_alive(me));
    ///     Loom::<turnstile::backend::Sound>::exit_process();
    ///     assert!(!Loom::<turnstile::backend::Sound>::process_alive(me));
    /// });
    /// ```
    pub fn exit_process() {
        let me = <Self as Processes>::current_process();
        let mut kernel = KERNEL.lock().unwrap();
        kernel.processes.iter_mut().filter(|p| p.id == me).for_each(|p| p.alive = false);
    }

    /// Makes the calling thread a new process that has the pid of `dead`, an exited process (the
    /// kernel handing a freed pid to a newcomer); returns its identity.
    ///
    /// ```
    /// use turnstile::backend::{Loom, Processes, Sound};
    ///
    /// loom::model(|| {
    ///     let old = loom::thread::spawn(|| {
    ///         Loom::<Sound>::exit_process();
    ///         Loom::<Sound>::current_process()
    ///     })
    ///     .join()
    ///     .unwrap();
    ///     let new = Loom::<Sound>::start_process_reusing_pid(old);
    ///     assert_eq!(new >> 40, old >> 40); // the same pid
    ///     assert!(Loom::<Sound>::process_alive(new) && !Loom::<Sound>::process_alive(old));
    /// });
    /// ```
    pub fn start_process_reusing_pid(dead: u64) -> u64 {
        let mut kernel = KERNEL.lock().unwrap();
        let exited = kernel.processes.iter().any(|p| p.id == dead && !p.alive);
        assert!(exited, "a pid is reused only once its process has exited");
        let namespace = kernel.namespace_of(dead);
        let id = kernel.start_process(namespace, Some(dead));
        PROCESS.with(|p| p.set(id));
        id
    }

    /// Makes the calling thread a new process, the first of a new pid namespace (its pid is 1,
    /// which a process of the first namespace has too), as a process started with
    /// `unshare --pid --fork --mount-proc` sharing memory with the others; returns its
    /// identity. Its `/proc` shows only its own namespace.
    ///
    /// ```
    /// use turnstile::backend::{Loom, Processes, Sound};
    ///
    /// loom::model(|| {
    ///     let here = Loom::<Sound>::current_process();
    ///     let there = loom::thread::spawn(|| {
    ///         let me = Loom::<Sound>::start_process_in_new_namespace();
    ///         (me, Loom::<Sound>::current_namespace())
    ///     });
    ///     let (there, namespace) = there.join().unwrap();
    ///     assert_eq!(there >> 40, here >> 40); // pid 1 in each
    ///     assert_ne!(namespace, Loom::<Sound>::current_namespace());
    ///     // Read through this namespace's table, the other's pid 1 is another process.
    ///     assert!(!Loom::<Sound>::process_alive(there));
    /// });
    /// ```
    pub fn start_process_in_new_namespace() -> u64 {
        let mut kernel = KERNEL.lock().unwrap();
        kernel.namespaces = kernel.namespaces.max(1) + 1;
        let namespace = kernel.namespaces;
        let id = kernel.start_process(namespace, None);
        PROCESS.with(|p| p.set(id));
        id
    }

    /// The calling thread's process will be killed at its next kill point: in a robust mutex's
    /// wait, just after a sleep ends (woken or not), where [`Processes::killed_while_waiting`]
    /// is asked. It then holds on to nothing it did not hold, and a wake it consumed is gone.
    ///
    /// ```
    /// use turnstile::backend::{Loom, Processes, Sound};
    ///
    /// loom::model(|| {
    ///     assert!(!Loom::<Sound>::killed_while_waiting());
    ///     Loom::<Sound>::kill_at_next_wait();
    ///     let me = Loom::<Sound>::current_process();
    ///     assert!(Loom::<Sound>::killed_while_waiting());
    ///     assert!(!Loom::<Sound>::process_alive(me));
    /// });
    /// ```
    pub fn kill_at_next_wait() {
        DOOMED.with(|d| d.set(true));
    }
}

impl<F: Fault> Processes for Loom<F> {
    type Owner = LoomWord64<F>;
    // Loom has no clock: a timed sleep may end at any point, and each that ends is a probe.
    // Under `Unprobed`, never: waiters sleep until woken.
    const PROBE_INTERVAL: Duration = if F::SLEEP_UNTIL_WOKEN { Duration::MAX } else { Duration::ZERO };

    fn current_process() -> u64 {
        PROCESS.with(|p| {
            if p.get() == 0 {
                p.set(KERNEL.lock().unwrap().start_process(1, None));
            }
            p.get()
        })
    }

    fn current_namespace() -> u64 {
        let me = Self::current_process();
        if F::NAMESPACE_BLIND {
            return 1;
        }
        KERNEL.lock().unwrap().namespace_of(me)
    }

    fn killed_while_waiting() -> bool {
        if !DOOMED.with(|d| d.replace(false)) {
            return false;
        }
        Self::exit_process();
        true
    }

    /// Reads the process table under the kernel's lock, so a probe that finds a process gone
    /// is ordered after everything that process did: as on the real machine, where the exit
    /// and `/proc` go through the kernel's own locks.
    fn process_alive(id: u64) -> bool {
        if F::HASTY_PROBE {
            return false;
        }
        if F::IMMORTAL {
            return true;
        }
        let me = Self::current_process();
        let kernel = KERNEL.lock().unwrap();
        // The caller reads its own namespace's table: a pid from another is read as whichever
        // process has that number here (or none), as `/proc` would.
        let here = kernel.namespace_of(me);
        let same = |p: &&ModelProcess| {
            p.namespace == here && if F::PID_ONLY { p.id >> PID_SHIFT == id >> PID_SHIFT } else { p.id == id }
        };
        kernel.processes.iter().filter(same).any(|p| p.alive)
    }
}

impl<F: Fault> Backend for Loom<F> {
    type Word = LoomWord<F>;
    type Tracker = Tracker;
    type Exclusive = loom::cell::MutPtr<()>;
    type Shared = loom::cell::ConstPtr<()>;

    // By default no spinning before sleeping: a pause is a loom yield, which tells loom the
    // thread cannot progress until another does, and a model that spins on a lock word
    // multiplies the values loom lets each load see. What spinning does, re-try the same
    // compare-exchange, the models still cover on the way to sleep. `Patient` models spin one
    // round (a yield), so that a woken sleeper's un-count, spin and re-count is explored too.
    const SPIN_PAUSES: u32 = 0;
    const SPIN_ROUNDS: u32 = 0;
    const YIELD_ROUNDS: u32 = if F::PATIENT { 1 } else { 0 };
    // Loom has no clock, so fairness counts unparks: the one after a single unfair unpark is
    // fair, so the models reach the hand-off as soon as they can (in the `Patient` models too:
    // their woken sleeper spins a round first, so that it can be overtaken before that).
    const FAIRNESS_BOUND: Duration = Duration::ZERO;
    const FAIRNESS_OVERTAKES: u32 = 1;
    // Loom has no clock: a timed wait may end at any point whatever its length. An hour keeps
    // every model's deadline (a millisecond or so) the earlier of the two, deterministically,
    // so only untimed waits are cut into slices.
    const SLEEP_SLICE: Option<Duration> =
        if F::SHARED && !F::UNSLICED { Some(Duration::from_secs(3600)) } else { None };
    const SNOOZE_ROUNDS: u32 = 1;
    const SEMAPHORE_YIELDS: bool = false;

    fn tracker() -> Tracker {
        Tracker(loom::cell::UnsafeCell::new(()))
    }
    fn exclusive(tracker: &Tracker) -> Self::Exclusive {
        tracker.0.get_mut()
    }
    fn shared(tracker: &Tracker) -> Self::Shared {
        tracker.0.get()
    }

    // One bucket: keys are heap addresses, which differ between executions, and a model must
    // take the same steps whenever loom replays the same schedule. Every key shares the bucket,
    // so every walk also skips other keys' waiters.
    const QUEUED: bool = !F::SHARED;
    const QUEUE_BUCKETS: usize = 1;
    const QUEUE_GROWS: bool = false;
    const QUEUE_FAULTS: QueueFaults = QueueFaults {
        validate_unlocked: F::VALIDATE_UNLOCKED,
        lifo: F::LIFO,
        stale_more: F::STALE_MORE,
        picked_times_out: F::PICKED_TIMES_OUT,
        lose_requeue: F::LOSE_REQUEUE,
    };

    fn queue_slot() -> &'static Slot<Self> {
        let mut slots = QUEUES.lock().unwrap();
        let id = TypeId::of::<F>();
        let at = match slots.iter().position(|(theirs, _)| *theirs == id) {
            Some(at) => at,
            None => {
                slots.push((id, Box::new(Slot::<Self>::new())));
                slots.len() - 1
            }
        };
        let slot: *const Slot<Self> = slots[at].1.downcast_ref::<Slot<Self>>().expect("one slot per backend");
        // SAFETY: the box lives in this execution's lazy static, which loom drops only when the
        // execution ends, after every modelled thread; boxes are never removed before that.
        unsafe { &*slot }
    }

    type Word64 = LoomWord64<F>;
    fn thread_id() -> u64 {
        // The address of this model thread's own thread-local: distinct between the threads
        // alive at once, as on the real machine. It changes between executions, but the code
        // only compares it for equality, so a replayed schedule takes the same steps.
        THREAD_ID.with(|mine| mine as *const u8 as u64)
    }

    fn with_thread_word<R>(f: impl FnOnce(&'static LoomWord<F>) -> R) -> R {
        let id = TypeId::of::<F>();
        let word = THREAD_WORDS.with(|words| {
            let mut words = words.borrow_mut();
            match words.iter().find(|(theirs, _)| *theirs == id) {
                Some(&(_, word)) => word,
                None => {
                    // Leaked: a few bytes per thread and execution, in a test process.
                    let word: &'static LoomWord<F> = Box::leak(Box::new(LoomWord::new(0)));
                    words.push((id, word));
                    word
                }
            }
        });
        f(word.downcast_ref::<LoomWord<F>>().expect("one word per backend"))
    }

    fn futex_wait(word: &LoomWord<F>, expected: u32, mask: u32, deadline: Option<Instant>) -> bool {
        let wakeup = WAKEUP.with(Arc::clone);
        let mut kernel = KERNEL.lock().unwrap();
        if !F::BLIND_WAIT && word.current() != expected {
            return true;
        }
        let ticket = kernel.enqueue(key(word), mask, Arc::clone(&wakeup));
        drop(kernel);
        if deadline.is_some() {
            loom::thread::yield_now();
            let woken = KERNEL.lock().unwrap().leave(ticket);
            if woken {
                // Consume the notification the waker left, so it cannot end a later sleep.
                wakeup.wait();
            }
            return woken && !F::SWALLOW_TIMED_WAKES;
        }
        // Returns when woken, or on its own (a spurious wakeup, explored once per thread).
        wakeup.wait();
        // If the return was spurious and a waker picked us just after it, its notification is
        // still pending and ends this thread's next sleep at once: one more spurious return,
        // which the kernel is allowed too.
        KERNEL.lock().unwrap().leave(ticket);
        true
    }

    fn futex_wake(word: &LoomWord<F>, mask: u32, count: usize) -> usize {
        Self::wake(word, mask, count)
    }

    fn futex_requeue(from: &LoomWord<F>, expected: u32, to: &LoomWord<F>) -> Option<usize> {
        let mut kernel = KERNEL.lock().unwrap();
        if from.current() != expected {
            return None;
        }
        let (from, to) = (key(from), key(to));
        let mut moved = 0;
        for sleeper in kernel.sleepers.iter_mut().filter(|s| s.key == from && !s.woken) {
            if !F::LOSE_REQUEUE {
                sleeper.key = to;
            }
            moved += 1;
        }
        Some(moved)
    }

    fn model_failed() -> bool {
        std::thread::panicking()
    }
    fn spin_hint() {
        loom::hint::spin_loop();
    }

    const SPIN_SLEEPS: bool = true;
    const OS_THREADS: bool = false;

    fn spin_sleep(word: &LoomWord<F>, value: u32) {
        let me = SPIN_WAKEUP.with(Arc::clone);
        let entry = (key(word), Arc::clone(&me));
        SPINNERS.lock().unwrap().push(entry);
        // Look after registering: a `spin_wake` that came before the registration came after
        // the store it follows, which this look then sees. The look is a compare-exchange that
        // fails (it expects `!value`, which no spinning word holds): loom lets it read only the
        // newest value, as a real spinner eventually does, and it writes nothing. (A plain load
        // could read an older value and sleep through the change; a read-modify-write that
        // succeeds would write, and loom would let that write stand unordered beside the
        // holder's release.) Relaxed: it orders nothing; the caller's own load and
        // compare-exchange do.
        let newest = word.value.compare_exchange(!value, !value, Ordering::Relaxed, Ordering::Relaxed);
        if newest == Err(value) {
            // Returns once notified, or once spuriously (which the caller's loop absorbs).
            me.wait();
        }
        SPINNERS.lock().unwrap().retain(|(_, theirs)| !Arc::ptr_eq(theirs, &me));
    }

    fn spin_wake(word: &LoomWord<F>) {
        let woken: Vec<Arc<Notify>> = {
            let mut spinners = SPINNERS.lock().unwrap();
            let (woken, rest) = spinners.drain(..).partition(|(theirs, _)| *theirs == key(word));
            *spinners = rest;
            woken.into_iter().map(|(_, notify)| notify).collect()
        };
        woken.iter().for_each(|notify| notify.notify());
    }
    fn yield_now() {
        loom::thread::yield_now();
    }
}
