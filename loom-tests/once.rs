//! Models of `Once`.

use std::sync::atomic::Ordering;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease};
use turnstile::Once;

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK, RACE};

/// Preemptions for the three-thread model (see `check_bounded`).
const THREE: usize = 2;

/// What the closure initialises, and how many closures ran.
struct Setup<B: Backend> {
    once: Once<B>,
    /// Written by the closure, read by every caller after `call_once` returns: loom's cell
    /// reports a read that the `Once` did not order after the write.
    value: UnsafeCell<u32>,
    runs: AtomicUsize,
}

// SAFETY: the models touch `value` only where the `Once` orders the accesses; where it does
// not, loom's cell reports it.
unsafe impl<B: Backend> Sync for Setup<B> {}

/// One caller: runs the closure or waits for it, then reads what it wrote. With `force`, through
/// `call_once_force` (its own fast path).
fn call<B: Backend>(setup: &Setup<B>, force: bool) {
    let init = || {
        setup.runs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the closure runs once; loom's cell checks that no reader overlaps it.
        setup.value.with_mut(|value| unsafe { *value = 7 });
    };
    if force {
        setup.once.call_once_force(|_| init());
    } else {
        setup.once.call_once(init);
    }
    // SAFETY: `call_once` returned, so the closure's write happens before this read.
    assert_eq!(setup.value.with(|value| unsafe { *value }), 7);
}

/// A reader that trusts `state()`: if it says `Done`, the closure's write is visible.
fn peek<B: Backend>(setup: &Setup<B>) {
    if setup.once.state().done() {
        // SAFETY: `Done` was read with Acquire, after the closure's write.
        assert_eq!(setup.value.with(|value| unsafe { *value }), 7);
    }
}

/// Two threads call at once (one through `call_once_force`): exactly one closure runs, every
/// caller returns after it and sees its write, a caller that came while it ran (and slept) is
/// woken, and a `state()` of `Done` seen before calling is as good as a call.
fn racing_callers_run_one_closure<B: Backend>() {
    let setup = Arc::new(Setup::<B> {
        once: Once::with_backend(),
        value: UnsafeCell::new(0),
        runs: AtomicUsize::new(0),
    });
    let other = {
        let setup = Arc::clone(&setup);
        thread::spawn(move || call(&setup, true))
    };
    peek(&setup);
    call(&setup, false);
    other.join().unwrap();
    assert_eq!(setup.runs.load(Ordering::Relaxed), 1, "exactly one closure runs");
    assert!(setup.once.state().done());
}

/// Three threads call at once: while one runs the closure, both others may sleep on the word,
/// and its end must wake every one of them, not just one.
fn three_callers_are_all_woken<B: Backend>() {
    let setup = Arc::new(Setup::<B> {
        once: Once::with_backend(),
        value: UnsafeCell::new(0),
        runs: AtomicUsize::new(0),
    });
    let others: Vec<_> = (0..2)
        .map(|_| {
            let setup = Arc::clone(&setup);
            thread::spawn(move || call(&setup, false))
        })
        .collect();
    call(&setup, false);
    for other in others {
        other.join().unwrap();
    }
    assert_eq!(setup.runs.load(Ordering::Relaxed), 1, "exactly one closure runs");
}

#[test]
fn once_wakes_every_waiter() {
    check_bounded(THREE, three_callers_are_all_woken::<Loom>);
}

#[test]
fn once_that_forgets_to_wake_loses_its_waiters() {
    check_fails_bounded(THREE, DEADLOCK, three_callers_are_all_woken::<Loom<ForgetfulWake>>);
}

#[test]
fn once_racing_callers_run_one_closure_and_see_its_write() {
    check(racing_callers_run_one_closure::<Loom>);
}

#[test]
fn once_completion_without_release_does_not_publish() {
    check_fails(RACE, racing_callers_run_one_closure::<Loom<NoRelease>>);
}

#[test]
fn check_then_set_once_runs_two_closures() {
    check_fails(RACE, racing_callers_run_one_closure::<Loom<CheckThenSet>>);
}

#[test]
fn once_completion_that_forgets_to_wake_loses_a_waiter() {
    check_fails(DEADLOCK, racing_callers_run_one_closure::<Loom<ForgetfulWake>>);
}
