//! A monitor: shared state, the one lock that guards it, and condition variables, as one object.
//!
//! Hoare and Brinch Hansen's monitor (1974) is what the textbook's `monitor ProducerConsumer` is:
//! procedures that run one at a time over private state, and conditions that a procedure waits on
//! (leaving the monitor while it waits) and signals. Here the state is a `T`, [`Monitor::lock`]
//! enters (a [`Mutex`] underneath), the [`MonitorGuard`] is "being inside", and conditions are
//! [`Condvar`]s that only a guard of their own monitor can use:
//!
//! * every monitor has one built-in condition: [`MonitorGuard::wait`], [`MonitorGuard::notify_one`], …;
//! * [`Monitor::condition`] makes named ones, so that a bounded buffer's producers wait on
//!   `not_full` and its consumers on `not_empty`, and a signal wakes only the side it concerns:
//!   [`MonitorGuard::wait_on`], [`MonitorGuard::notify_one_on`], …
//!
//! **Signal semantics: Mesa, not Hoare.** In Hoare's monitor the signaller hands the monitor
//! straight to the signalled thread, which therefore finds its condition true. Here, as in Mesa
//! and in every thread library, the signaller carries on, and the signalled thread re-enters
//! later, after the signaller and possibly others have been inside; by then the condition may be
//! false again. So a waiter re-checks in a loop, which [`MonitorGuard::wait_while`] does. Mesa
//! costs the waiter a re-check but needs no hand-off: a hand-off would force a context switch on
//! every signal, and it could not survive a waiter that times out or a wait that returns early
//! (the [`condvar`](crate::condvar) docs say when that happens).
//!
//! A condition is bound to the monitor that made it; using it with another monitor panics.

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::backend::{Backend, Real};
use crate::condvar::{Condvar, WaitTimeoutResult};
use crate::mutex::{Mutex, MutexGuard};

/// A monitor's identity: 64 bits wherever the target has 64-bit atomics, so that the counter
/// cannot run out in practice (a billion monitors a second for 500 years); the pointer width
/// elsewhere. Either way [`fresh_id`] refuses to wrap: a wrapped counter would hand out 0
/// ("none yet") and then identities in use, and a condition would pass for another monitor's.
#[cfg(target_has_atomic = "64")]
type Id = u64;
#[cfg(target_has_atomic = "64")]
type AtomicId = core::sync::atomic::AtomicU64;
#[cfg(not(target_has_atomic = "64"))]
type Id = usize;
#[cfg(not(target_has_atomic = "64"))]
type AtomicId = core::sync::atomic::AtomicUsize;

/// Hands out monitor identities; 0 means "none yet".
static NEXT_ID: AtomicId = AtomicId::new(1);

/// The next identity from `next`; panics, changing nothing, once every identity has been given.
#[track_caller]
fn fresh_id(next: &AtomicId) -> Id {
    // Relaxed: an identity, not a publication; the read-modify-write alone keeps them distinct.
    match next.fetch_update(Relaxed, Relaxed, |id| id.checked_add(1)) {
        Ok(id) => id,
        Err(_) => panic!(
            "turnstile::Monitor: every monitor identity ({} of them) has been given out; \
             make fewer monitors that make conditions, or reuse them",
            Id::MAX - 1
        ),
    }
}

/// Shared state that one thread at a time is inside, with conditions to wait on.
///
/// ```
/// use std::sync::Arc;
/// use turnstile::Monitor;
///
/// // The bounded buffer, capacity 2, with one condition per side.
/// struct Buffer {
///     items: std::collections::VecDeque<u32>,
/// }
/// let monitor = Arc::new(Monitor::new(Buffer { items: Default::default() }));
/// let not_full = Arc::new(monitor.condition());
/// let not_empty = Arc::new(monitor.condition());
///
/// let producer = {
///     let (monitor, not_full, not_empty) = (monitor.clone(), not_full.clone(), not_empty.clone());
///     std::thread::spawn(move || {
///         for i in 0..10 {
///             let mut inside = monitor.lock();
///             inside.wait_while_on(&not_full, |b| b.items.len() == 2);
///             inside.items.push_back(i);
///             inside.notify_one_on(&not_empty);
///         }
///     })
/// };
/// let mut sum = 0;
/// for _ in 0..10 {
///     let mut inside = monitor.lock();
///     inside.wait_while_on(&not_empty, |b| b.items.is_empty());
///     sum += inside.items.pop_front().unwrap();
///     inside.notify_one_on(&not_full);
/// }
/// producer.join().unwrap();
/// assert_eq!(sum, 45);
/// ```
pub struct Monitor<T: ?Sized, B: Backend = Real> {
    /// This monitor's identity, given out on the first `condition()`.
    id: AtomicId,
    /// The built-in condition.
    ready: Condvar<B>,
    state: Mutex<T, B>,
}

/// A named condition of one [`Monitor`], made by [`Monitor::condition`]; used through a
/// [`MonitorGuard`] of that monitor.
///
/// ```
/// let monitor = turnstile::Monitor::new(0);
/// let changed = monitor.condition();
/// let inside = monitor.lock();
/// assert!(!inside.notify_one_on(&changed)); // nobody waits on it
/// ```
pub struct Condition<B: Backend = Real> {
    monitor: Id,
    condvar: Condvar<B>,
}

/// Being inside a [`Monitor`]: access to its state, and its conditions. Leaving is dropping it.
///
/// ```
/// let monitor = turnstile::Monitor::new(vec![1]);
/// let mut inside = monitor.lock();
/// inside.push(2);
/// assert_eq!(*inside, [1, 2]);
/// ```
#[must_use = "if unused the monitor is left at once"]
pub struct MonitorGuard<'a, T: ?Sized, B: Backend = Real> {
    monitor: &'a Monitor<T, B>,
    guard: MutexGuard<'a, T, B>,
}

impl<T> Monitor<T> {
    /// A monitor around `state`. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static COUNTER: turnstile::Monitor<u64> = turnstile::Monitor::new(0);
    /// *COUNTER.lock() += 1;
    /// assert_eq!(*COUNTER.lock(), 1);
    /// ```
    pub const fn new(state: T) -> Self {
        Monitor { id: AtomicId::new(0), ready: Condvar::new(), state: Mutex::new(state) }
    }
}

impl<T, B: Backend> Monitor<T, B> {
    /// A monitor over the backend `B`, named explicitly: `Monitor::<_, Real>::with_backend(x)` is
    /// `Monitor::new(x)`. Loom models build theirs with it.
    ///
    /// ```
    /// use turnstile::{backend::Real, Monitor};
    ///
    /// let monitor = Monitor::<_, Real>::with_backend('m');
    /// assert_eq!(*monitor.lock(), 'm');
    /// ```
    pub fn with_backend(state: T) -> Self {
        Monitor { id: AtomicId::new(0), ready: Condvar::with_backend(), state: Mutex::with_backend(state) }
    }

    /// Consumes the monitor and returns the state.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(String::from("s"));
    /// assert_eq!(monitor.into_inner(), "s");
    /// ```
    pub fn into_inner(self) -> T {
        self.state.into_inner()
    }
}

impl<T: ?Sized, B: Backend> Monitor<T, B> {
    /// Enters the monitor, waiting while another thread is inside.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(1);
    /// *monitor.lock() += 1;
    /// assert_eq!(*monitor.lock(), 2);
    /// ```
    pub fn lock(&self) -> MonitorGuard<'_, T, B> {
        MonitorGuard { monitor: self, guard: self.state.lock() }
    }

    /// Enters the monitor if nobody is inside right now; never waits.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(());
    /// let inside = monitor.lock();
    /// assert!(monitor.try_lock().is_none());
    /// drop(inside);
    /// assert!(monitor.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MonitorGuard<'_, T, B>> {
        self.state.try_lock().map(|guard| MonitorGuard { monitor: self, guard })
    }

    /// A new named condition of this monitor.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(0u32);
    /// let (not_full, not_empty) = (monitor.condition(), monitor.condition());
    /// let inside = monitor.lock();
    /// assert!(!inside.notify_one_on(&not_full) && !inside.notify_one_on(&not_empty));
    /// ```
    #[track_caller]
    pub fn condition(&self) -> Condition<B> {
        Condition { monitor: self.id(), condvar: Condvar::with_backend() }
    }

    /// A mutable reference to the state; `&mut self` proves nobody is inside.
    ///
    /// ```
    /// let mut monitor = turnstile::Monitor::new(1);
    /// *monitor.get_mut() = 5;
    /// assert_eq!(*monitor.lock(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.state.get_mut()
    }

    #[track_caller]
    fn id(&self) -> Id {
        // Relaxed: an identity, not a publication; every thread agrees on the CAS winner.
        match self.id.load(Relaxed) {
            0 => {
                let fresh = fresh_id(&NEXT_ID);
                match self.id.compare_exchange(0, fresh, Relaxed, Relaxed) {
                    Ok(_) => fresh,
                    Err(taken) => taken,
                }
            }
            id => id,
        }
    }
}

impl<T: Default> Default for Monitor<T> {
    /// A monitor around `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Monitor<T> {
    /// A monitor around `state`.
    fn from(state: T) -> Self {
        Self::new(state)
    }
}

impl<T: ?Sized + fmt::Debug, B: Backend> fmt::Debug for Monitor<T, B> {
    /// Shows the state if nobody is inside, `<locked>` otherwise; never blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.state.try_lock();
        crate::guard::debug_lock(f, "Monitor", guard.as_deref())
    }
}

impl<B: Backend> fmt::Debug for Condition<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("monitor", &self.monitor).finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized, B: Backend> MonitorGuard<'a, T, B> {
    /// The condvar of `condition`, after checking it belongs to this monitor.
    #[track_caller]
    fn own<'c>(&self, condition: &'c Condition<B>) -> &'c Condvar<B> {
        let (theirs, ours) = (condition.monitor, self.monitor.id());
        assert!(
            theirs == ours,
            "turnstile::Monitor: a Condition of monitor #{theirs} used with the guard of monitor \
             #{ours}; make conditions with `condition()` on the monitor whose guard waits on them \
             or notifies them"
        );
        &condition.condvar
    }

    /// Leaves the monitor, sleeps until the built-in condition is notified, and re-enters.
    /// Mesa semantics: re-check what you waited for (or use [`wait_while`](Self::wait_while)).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let monitor = Arc::new(turnstile::Monitor::new(false));
    /// let m = Arc::clone(&monitor);
    /// std::thread::spawn(move || {
    ///     let mut inside = m.lock();
    ///     *inside = true;
    ///     inside.notify_one();
    /// });
    /// let mut inside = monitor.lock();
    /// while !*inside {
    ///     inside.wait();
    /// }
    /// ```
    #[track_caller]
    pub fn wait(&mut self) {
        self.monitor.ready.wait(&mut self.guard);
    }

    /// Waits on the built-in condition while `condition` holds of the state.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let monitor = Arc::new(turnstile::Monitor::new(0));
    /// let m = Arc::clone(&monitor);
    /// std::thread::spawn(move || {
    ///     let mut inside = m.lock();
    ///     *inside = 3;
    ///     inside.notify_all();
    /// });
    /// let mut inside = monitor.lock();
    /// inside.wait_while(|n| *n == 0);
    /// assert_eq!(*inside, 3);
    /// ```
    #[track_caller]
    pub fn wait_while(&mut self, condition: impl FnMut(&mut T) -> bool) {
        self.monitor.ready.wait_while(&mut self.guard, condition);
    }

    /// As [`wait`](Self::wait), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let monitor = turnstile::Monitor::new(());
    /// let mut inside = monitor.lock();
    /// assert!(inside.wait_for(Duration::from_millis(1)).timed_out());
    /// ```
    #[track_caller]
    pub fn wait_for(&mut self, timeout: Duration) -> WaitTimeoutResult {
        self.monitor.ready.wait_for(&mut self.guard, timeout)
    }

    /// As [`wait_while`](Self::wait_while), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let monitor = turnstile::Monitor::new(0);
    /// let mut inside = monitor.lock();
    /// assert!(inside.wait_while_for(|n| *n == 0, Duration::from_millis(1)).timed_out());
    /// ```
    #[track_caller]
    pub fn wait_while_for(
        &mut self,
        condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.monitor.ready.wait_while_for(&mut self.guard, condition, timeout)
    }

    /// Wakes one thread waiting on the built-in condition; `true` if there was one.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(());
    /// assert!(!monitor.lock().notify_one());
    /// ```
    #[doc(alias = "signal")]
    pub fn notify_one(&self) -> bool {
        self.monitor.ready.notify_one()
    }

    /// Wakes every thread waiting on the built-in condition; returns how many.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(());
    /// assert_eq!(monitor.lock().notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        self.monitor.ready.notify_all()
    }

    /// Leaves the monitor, sleeps until `condition` is notified, and re-enters.
    ///
    /// # Panics
    /// If `condition` was made by another monitor.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let monitor = Arc::new(turnstile::Monitor::new(None));
    /// let arrived = Arc::new(monitor.condition());
    /// let (m, a) = (Arc::clone(&monitor), Arc::clone(&arrived));
    /// std::thread::spawn(move || {
    ///     let mut inside = m.lock();
    ///     *inside = Some("parcel");
    ///     inside.notify_one_on(&a);
    /// });
    /// let mut inside = monitor.lock();
    /// while inside.is_none() {
    ///     inside.wait_on(&arrived);
    /// }
    /// ```
    #[track_caller]
    pub fn wait_on(&mut self, condition: &Condition<B>) {
        self.own(condition).wait(&mut self.guard);
    }

    /// Waits on `condition` while `until_false` holds of the state.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let monitor = Arc::new(turnstile::Monitor::new(0));
    /// let bumped = Arc::new(monitor.condition());
    /// let (m, b) = (Arc::clone(&monitor), Arc::clone(&bumped));
    /// std::thread::spawn(move || {
    ///     let mut inside = m.lock();
    ///     *inside += 1;
    ///     inside.notify_all_on(&b);
    /// });
    /// monitor.lock().wait_while_on(&bumped, |n| *n == 0);
    /// ```
    #[track_caller]
    pub fn wait_while_on(&mut self, condition: &Condition<B>, until_false: impl FnMut(&mut T) -> bool) {
        self.own(condition).wait_while(&mut self.guard, until_false);
    }

    /// As [`wait_on`](Self::wait_on), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let monitor = turnstile::Monitor::new(());
    /// let never = monitor.condition();
    /// assert!(monitor.lock().wait_for_on(&never, Duration::from_millis(1)).timed_out());
    /// ```
    #[track_caller]
    pub fn wait_for_on(&mut self, condition: &Condition<B>, timeout: Duration) -> WaitTimeoutResult {
        self.own(condition).wait_for(&mut self.guard, timeout)
    }

    /// As [`wait_while_on`](Self::wait_while_on), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let monitor = turnstile::Monitor::new(0);
    /// let bumped = monitor.condition();
    /// let result = monitor.lock().wait_while_for_on(&bumped, |n| *n == 0, Duration::from_millis(1));
    /// assert!(result.timed_out());
    /// ```
    #[track_caller]
    pub fn wait_while_for_on(
        &mut self,
        condition: &Condition<B>,
        until_false: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.own(condition).wait_while_for(&mut self.guard, until_false, timeout)
    }

    /// Wakes one thread waiting on `condition`; `true` if there was one.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(());
    /// let c = monitor.condition();
    /// assert!(!monitor.lock().notify_one_on(&c));
    /// ```
    #[doc(alias = "signal")]
    #[track_caller]
    pub fn notify_one_on(&self, condition: &Condition<B>) -> bool {
        self.own(condition).notify_one()
    }

    /// Wakes every thread waiting on `condition`; returns how many.
    ///
    /// ```
    /// let monitor = turnstile::Monitor::new(());
    /// let c = monitor.condition();
    /// assert_eq!(monitor.lock().notify_all_on(&c), 0);
    /// ```
    #[track_caller]
    pub fn notify_all_on(&self, condition: &Condition<B>) -> usize {
        self.own(condition).notify_all()
    }
}

impl<T: ?Sized, B: Backend> Deref for MonitorGuard<'_, T, B> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized, B: Backend> DerefMut for MonitorGuard<'_, T, B> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + fmt::Debug, B: Backend> fmt::Debug for MonitorGuard<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "used with the guard of monitor")]
    fn a_condition_of_another_monitor_panics() {
        let (a, b) = (Monitor::new(()), Monitor::new(()));
        let of_b = b.condition();
        let inside_a = a.lock();
        inside_a.notify_one_on(&of_b);
    }

    #[test]
    fn a_unit_monitor_is_an_id_a_condvar_and_a_mutex() {
        assert_eq!(core::mem::size_of::<Monitor<()>>(), 32);
    }

    #[test]
    fn the_identity_counter_gives_its_last_identity_then_panics_instead_of_wrapping() {
        let next = AtomicId::new(Id::MAX - 1);
        assert_eq!(fresh_id(&next), Id::MAX - 1);
        for _ in 0..2 {
            let refused = std::panic::catch_unwind(|| fresh_id(&next)).expect_err("a wrapped identity");
            let message = refused.downcast_ref::<String>().map(String::as_str).unwrap_or_default();
            assert!(message.contains("every monitor identity"), "unexpected panic: {message}");
            assert_eq!(next.load(Relaxed), Id::MAX, "the counter stays spent, never back at 0");
        }
    }

    #[test]
    fn conditions_survive_the_monitor_moving() {
        let monitor = Monitor::new(1);
        let c = monitor.condition();
        let moved = Box::new(monitor);
        assert!(!moved.lock().notify_one_on(&c));
    }
}
