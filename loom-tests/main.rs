//! Loom models of every primitive, run with `cargo test --features loom`.
//!
//! Each model runs the crate's own code over the loom backend and checks one property. Each has a
//! broken twin: the *same* model over a faulty backend (`Loom<NoRelease>`, `Loom<CheckThenSet>`,
//! `Loom<ForgetfulWake>`, `Loom<BlindWait>`, `Loom<PlainLook>`, `Loom<LostRequeue>`, and for the
//! owner-aware mutex `Loom<ImmortalOwner>`, `Loom<PidOnly>`, `Loom<HastyProbe>`,
//! `Loom<NamespaceBlind>`, `Loom<CheckThenSetCas>`), asserted to fail with the report we expect: a
//! causality violation when two critical sections overlap or are not ordered, a deadlock when a
//! wakeup is lost, or the model's own assertion. A few backends are not faults but settings that
//! make a path reachable: `Loom<Patient>` (the mutex spins one round and starves on the second
//! overtake), `Loom<SharedMemory>` (the process-shared mutex policy, whose twin is plain `Loom`),
//! `Loom<Unprobed>` (robust-mutex waiters sleep until woken, so a lost wake is a deadlock).
//!
//! `LOOM_MAX_PREEMPTIONS` bounds the search (default 5 here); models of three or more threads
//! cap it lower (`check_bounded`), which keeps the suite to a few minutes on 2 cores. A model
//! thread that waits for others blocks ([`Arrivals`]) rather than spins: two threads spinning
//! with yields can hand the turn back and forth while loom never runs the third, an execution
//! without end (the crate's own spinning is modelled the same way, see `Backend::SPIN_SLEEPS`). Models use
//! `std::sync::Arc`, not loom's: a failing model unwinds, and loom's `Arc` cannot be dropped then.

mod condvar;
mod futex;
mod guard;
mod monitor;
mod mutex;
mod once;
mod peterson;
mod queue;
mod reentrant;
mod robust;
mod rwlock;
mod rwlock_upgrade;
mod semaphore;
mod spin;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The report loom gives when two critical sections overlap or are not ordered.
pub const RACE: &str = "Causality violation";
/// The report loom gives when every thread is blocked: here, a lost wakeup.
pub const DEADLOCK: &str = "deadlock";

/// How many model threads have reached a point, for up to two others to block on until enough
/// have.
pub struct Arrivals {
    count: loom::sync::atomic::AtomicUsize,
    watchers: [loom::sync::Notify; 2],
}

impl Arrivals {
    pub fn new() -> Arc<Self> {
        Arc::new(Arrivals {
            count: loom::sync::atomic::AtomicUsize::new(0),
            watchers: [loom::sync::Notify::new(), loom::sync::Notify::new()],
        })
    }

    /// Counts the calling thread in.
    pub fn arrive(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.watchers.iter().for_each(loom::sync::Notify::notify);
    }

    /// Blocks, as watcher `who` (0 or 1), until `count` threads have arrived.
    pub fn wait_for(&self, count: usize, who: usize) {
        while self.count.load(Ordering::SeqCst) < count {
            self.watchers[who].wait();
        }
    }
}

/// Explores `model` with the suite's preemption bound, and checks that it had something to
/// explore: a model that runs once checks only the interleaving a plain test would.
pub fn check(model: impl Fn() + Sync + Send + 'static) {
    check_bounded(5, model);
}

/// As [`check`], with at most `cap` preemptions (fewer if `LOOM_MAX_PREEMPTIONS` says so): for
/// models of three threads, whose search grows too fast at the suite's bound.
pub fn check_bounded(cap: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(cap, |bound| bound.min(cap)));
    // A park or unpark is a few dozen loom steps (the bucket lock, the node's word, the modelled
    // futex), so an execution of three threads that each wait runs past loom's default of 1,000.
    builder.max_branches = 10_000;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&runs);
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    let runs = runs.load(Ordering::Relaxed);
    println!("explored {runs} interleavings");
    assert!(runs > 1, "the model has a single interleaving: it checks nothing a plain test would not");
}

/// Explores `model` and asserts that loom reports a failure containing `expected`.
pub fn check_fails(expected: &str, model: impl Fn() + Sync + Send + 'static) {
    check_fails_bounded(5, expected, model);
}

/// As [`check_fails`], with at most `cap` preemptions (see [`check_bounded`]).
pub fn check_fails_bounded(cap: usize, expected: &str, model: impl Fn() + Sync + Send + 'static) {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| check_bounded(cap, model)));
    let payload = match outcome {
        Ok(()) => panic!("the broken variant passed the model; expected loom to report {expected:?}"),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("<non-string panic>");
    assert!(message.contains(expected), "loom failed the model, but with {message:?}, not {expected:?}");
}
