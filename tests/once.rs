//! `turnstile::Once` from the outside: exactly one closure among racing callers, every caller
//! returning after it and seeing its write, waiters that sleep and are woken, poisoning and
//! `call_once_force`.
//!
//! Threads are ordered with channels and barriers; where a waiter must be asleep on the `Once`
//! before the closure ends, the test watches it in `/proc`. A lost wakeup shows up as a hang.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use turnstile::{Once, OnceState};

mod common;
use common::{iters, panic_text, SleepProbe};

const THREADS: usize = 8;

#[test]
fn many_threads_racing_run_one_closure_and_all_see_its_write() {
    for _ in 0..iters(200) {
        let once = Once::new();
        let runs = AtomicUsize::new(0);
        // Written by the closure with Relaxed: only the Once orders it before the readers.
        let value = AtomicUsize::new(0);
        let start = Barrier::new(THREADS);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (once, runs, value, start) = (&once, &runs, &value, &start);
                s.spawn(move || {
                    start.wait();
                    once.call_once(|| {
                        runs.fetch_add(1, Relaxed);
                        value.store(t + 1, Relaxed);
                    });
                    assert_ne!(value.load(Relaxed), 0, "call_once returned before the closure's write");
                });
            }
        });
        assert_eq!(runs.load(Relaxed), 1);
        assert!(once.state().done());
    }
}

#[test]
fn a_caller_that_arrives_while_the_closure_runs_sleeps_until_it_ends() {
    let once = Arc::new(Once::new());
    let (running_tx, running_rx) = mpsc::channel();
    let (finish_tx, finish_rx) = mpsc::channel::<SleepProbe>();
    let runner = {
        let once = Arc::clone(&once);
        thread::spawn(move || {
            once.call_once(|| {
                running_tx.send(()).unwrap();
                finish_rx.recv().unwrap().wait_until_asleep();
            })
        })
    };
    running_rx.recv().unwrap();
    assert_eq!(once.state(), OnceState::InProgress);
    let ran_too = AtomicBool::new(false);
    finish_tx.send(SleepProbe::current()).unwrap();
    once.call_once(|| ran_too.store(true, Relaxed));
    runner.join().unwrap();
    assert!(!ran_too.load(Relaxed), "the waiter's closure never runs");
    assert!(once.state().done());
}

#[test]
fn a_panicking_closure_poisons_and_call_once_then_panics_saying_what_to_do() {
    let once = Once::new();
    let first = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("initialisation failed"))));
    assert_eq!(panic_text(&*first.unwrap_err()), "initialisation failed");
    assert_eq!(once.state(), OnceState::Poisoned);
    assert!(once.state().poisoned());
    let ran = AtomicBool::new(false);
    let again = catch_unwind(AssertUnwindSafe(|| once.call_once(|| ran.store(true, Relaxed))));
    let message = panic_text(&*again.unwrap_err()).to_string();
    assert!(message.contains("poisoned") && message.contains("call_once_force"), "{message}");
    assert!(!ran.load(Relaxed));
    assert!(once.state().poisoned(), "still poisoned");
}

#[test]
fn call_once_force_after_a_poisoning_is_told_so_and_completes() {
    let once = Once::new();
    let _ = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("first try"))));
    let mut told = None;
    once.call_once_force(|state| told = Some(state));
    assert_eq!(told, Some(OnceState::Poisoned));
    assert!(once.state().done());
    once.call_once(|| unreachable!("complete: no closure runs")); // no panic: done
}

#[test]
fn call_once_force_on_a_new_once_is_told_new() {
    let once = Once::new();
    let mut told = None;
    once.call_once_force(|state| told = Some(state));
    assert_eq!(told, Some(OnceState::New));
    once.call_once_force(|_| unreachable!("complete: no closure runs"));
}

#[test]
fn a_forced_closure_that_panics_leaves_it_poisoned() {
    let once = Once::new();
    let _ = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("first"))));
    let _ = catch_unwind(AssertUnwindSafe(|| once.call_once_force(|_| panic!("second"))));
    assert!(once.state().poisoned());
    once.call_once_force(|state| assert!(state.poisoned()));
    assert!(once.state().done());
}

/// Starts a thread whose `call_once` closure panics, but only once this thread, which is about
/// to call too, is asleep waiting for it.
fn panic_once_this_thread_sleeps(once: &Arc<Once>) -> thread::JoinHandle<()> {
    let (running_tx, running_rx) = mpsc::channel();
    let (probe_tx, probe_rx) = mpsc::channel::<SleepProbe>();
    let runner = {
        let once = Arc::clone(once);
        thread::spawn(move || {
            once.call_once(|| {
                running_tx.send(()).unwrap();
                probe_rx.recv().unwrap().wait_until_asleep();
                panic!("deliberate");
            })
        })
    };
    running_rx.recv().unwrap();
    probe_tx.send(SleepProbe::current()).unwrap();
    runner
}

#[test]
fn callers_waiting_on_a_closure_that_panics_are_woken_and_panic_too() {
    let once = Arc::new(Once::new());
    let runner = panic_once_this_thread_sleeps(&once);
    let waited = catch_unwind(AssertUnwindSafe(|| once.call_once(|| {})));
    assert!(panic_text(&*waited.unwrap_err()).contains("poisoned"));
    assert!(runner.join().is_err());
    assert!(once.state().poisoned());
}

#[test]
fn a_forcing_waiter_runs_its_closure_after_the_one_it_waited_for_panics() {
    let once = Arc::new(Once::new());
    let runner = panic_once_this_thread_sleeps(&once);
    let mut told = None;
    once.call_once_force(|state| told = Some(state));
    assert_eq!(told, Some(OnceState::Poisoned));
    assert!(runner.join().is_err());
    assert!(once.state().done());
}

#[test]
fn a_static_once_default_and_debug() {
    static INIT: Once = Once::new();
    let once: Once = Once::default();
    assert_eq!(format!("{once:?}"), "Once { state: New }");
    INIT.call_once(|| {});
    assert_eq!(format!("{INIT:?}"), "Once { state: Done }");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Once>();
}
