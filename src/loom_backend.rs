//! The loom backend: the crate's algorithms over loom's atomics and a modelled futex.
//!
//! **The modelled futex.** Each [`LoomWord`] carries, beside its loom `AtomicU32`, a loom
//! `Mutex` standing for the kernel's futex bucket lock, which guards a FIFO queue of waiters'
//! tickets, and a loom `Condvar` that sleeping waiters block on. `wait` takes the bucket lock,
//! compares the word with `expected` and, if equal, queues a ticket and sleeps until a waker
//! has moved that ticket from the queue to the woken set; `wake_one`/`wake_all` move tickets from
//! the front of the queue. A waker changes the word *before* it calls wake, so either the waiter's
//! check sees the new value or its ticket is queued when the wake comes: no lost wakeup unless the
//! algorithm itself loses it, and then loom reports a deadlock.
//!
//! A wait with a deadline queues its ticket too, then yields (loom has no clock: the timer may
//! fire after any steps of the other threads), and then either finds its ticket woken (a wake
//! that beat the timer: it returns `true`, having consumed that wake) or takes it out of the queue
//! and times out. So models explore timed waiters that give up, that are woken, and that consume
//! a wake another waiter might have wanted.
//!
//! **Faults.** A model that passes proves something only if the same model fails on a broken
//! algorithm. Rather than keep broken copies of the algorithms, the backend takes a [`Fault`]
//! parameter that breaks the *machine* under the unchanged crate code: [`NoRelease`] drops the
//! release half of every write, [`CheckThenSet`] splits every read-modify-write into a load and
//! a store and [`ForgetfulWake`] makes
//! every wake a no-op, [`SwallowedWake`] lets a timed wait time out after a wake picked it.
//! `Loom` (that is, `Loom<Sound>`) has none.

use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use std::collections::VecDeque;
use std::time::Instant;

use loom::sync::{Condvar, Mutex};

use crate::backend::{sealed, Backend, Word};

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
    /// `wake_one` and `wake_all` wake nobody.
    const FORGET_WAKES: bool = false;
    /// A timed wait that a wake reached reports a timeout anyway: the wake is swallowed.
    const SWALLOW_TIMED_WAKES: bool = false;
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

/// The word of the loom backend: a loom atomic plus the modelled futex queue.
#[derive(Debug)]
pub struct LoomWord<F> {
    value: loom::sync::atomic::AtomicU32,
    /// The bucket lock and what it guards.
    queue: Mutex<Queue>,
    /// Where untimed waiters sleep until their ticket is woken.
    wakeup: Condvar,
    _fault: PhantomData<F>,
}

/// The waiters of one modelled futex word.
#[derive(Debug, Default)]
struct Queue {
    next_ticket: u64,
    /// Waiters not yet woken, oldest first (the kernel wakes in FIFO order within a priority).
    waiting: VecDeque<u64>,
    /// Waiters a wake has picked that have not yet returned.
    woken: Vec<u64>,
}

impl Queue {
    fn enqueue(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.push_back(ticket);
        ticket
    }

    /// Whether `ticket` was woken; if so, it leaves the woken set.
    fn take_woken(&mut self, ticket: u64) -> bool {
        let found = self.woken.iter().position(|&t| t == ticket);
        found.map(|i| self.woken.swap_remove(i)).is_some()
    }

    /// Moves up to `count` waiters, oldest first, to the woken set; returns how many.
    fn wake(&mut self, count: usize) -> usize {
        let n = count.min(self.waiting.len());
        self.woken.extend(self.waiting.drain(..n));
        n
    }
}

impl<F: Fault> sealed::Sealed for Loom<F> {}
impl<F: Fault> sealed::Sealed for LoomWord<F> {}

impl<F: Fault> LoomWord<F> {
    fn write_order(order: Ordering) -> Ordering {
        if !F::NO_RELEASE {
            return order;
        }
        match order {
            Ordering::Release => Ordering::Relaxed,
            Ordering::AcqRel | Ordering::SeqCst => Ordering::Acquire,
            other => other,
        }
    }

    fn store_order(order: Ordering) -> Ordering {
        match Self::write_order(order) {
            Ordering::Acquire => Ordering::Relaxed,
            other => other,
        }
    }

    /// Applies `f` to the value: atomically, or as a load and a store under `CheckThenSet`.
    fn rmw(&self, order: Ordering, f: impl Fn(u32) -> Option<u32>) -> Result<u32, u32> {
        let order = Self::write_order(order);
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
}

impl<F: Fault> Word for LoomWord<F> {
    fn new(value: u32) -> Self {
        LoomWord {
            value: loom::sync::atomic::AtomicU32::new(value),
            queue: Mutex::new(Queue::default()),
            wakeup: Condvar::new(),
            _fault: PhantomData,
        }
    }
    fn load(&self, order: Ordering) -> u32 {
        self.value.load(order)
    }
    fn store(&self, value: u32, order: Ordering) {
        self.value.store(value, Self::store_order(order));
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
        if F::SPLIT_RMW || F::NO_RELEASE {
            return self.rmw(success, |v| (v == current).then_some(new));
        }
        self.value.compare_exchange(current, new, success, failure)
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
}

impl<F: Fault> Loom<F> {
    fn wake(word: &LoomWord<F>, count: usize) -> usize {
        if F::FORGET_WAKES {
            return 0;
        }
        let woken = word.queue.lock().unwrap().wake(count);
        if woken > 0 {
            // Every sleeper re-checks whether its own ticket was picked.
            word.wakeup.notify_all();
        }
        woken
    }
}

impl<F: Fault> Backend for Loom<F> {
    type Word = LoomWord<F>;
    type Tracker = Tracker;
    type Exclusive = loom::cell::MutPtr<()>;

    // One pause (a loom yield) each: enough to explore "the spinner saw the unlock", few enough
    // to keep the models small.
    const SPIN_PAUSES: u32 = 1;
    const SNOOZE_ROUNDS: u32 = 1;

    fn tracker() -> Tracker {
        Tracker(loom::cell::UnsafeCell::new(()))
    }
    fn exclusive(tracker: &Tracker) -> Self::Exclusive {
        tracker.0.get_mut()
    }

    fn wait(word: &LoomWord<F>, expected: u32, deadline: Option<Instant>) -> bool {
        let mut queue = word.queue.lock().unwrap();
        // Relaxed: the bucket lock orders this load after any waker's store-then-wake.
        if word.value.load(Ordering::Relaxed) != expected {
            return true;
        }
        let ticket = queue.enqueue();
        if deadline.is_some() {
            drop(queue);
            loom::thread::yield_now();
            let mut queue = word.queue.lock().unwrap();
            if queue.take_woken(ticket) {
                return !F::SWALLOW_TIMED_WAKES;
            }
            queue.waiting.retain(|&t| t != ticket);
            return false;
        }
        loop {
            queue = word.wakeup.wait(queue).unwrap();
            if queue.take_woken(ticket) {
                return true;
            }
        }
    }

    fn wake_one(word: &LoomWord<F>) -> usize {
        Self::wake(word, 1)
    }

    fn wake_all(word: &LoomWord<F>) -> usize {
        Self::wake(word, usize::MAX)
    }

    fn spin_hint() {
        loom::hint::spin_loop();
    }
    fn yield_now() {
        loom::thread::yield_now();
    }
}
