//! Models of `Mutex`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{
    Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease, Patient, PatientForgetfulWake, PatientNoRelease,
    SharedMemory,
};
use turnstile::{Mutex, MutexGuard};

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK, RACE};

/// The preemption bound of the three-thread models: 5 would take minutes (the counted sleeper's
/// compare-exchange loops multiply the interleavings), 4 explores about 300,000.
const THREE: usize = 4;

/// Three threads increment under the lock: no overlap, no lost increment. With three, one of
/// them usually has to sleep, so this also needs every sleeper to be woken.
fn three_lockers_exclude_each_other<B: Backend>() {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        })
        .collect();
    *lock.lock() += 1;
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(*lock.lock(), 3);
    assert!(!lock.is_locked());
}

/// A holder, a thread that sleeps for the lock, and one that gives up after a timeout. Whatever
/// the timed thread does, the sleeper is woken, the count is exact and the lock ends free.
/// Returns whether the timed thread got in.
fn timeout_leaves_the_lock_consistent<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_lock_for(Duration::from_millis(1)).map(|mut g| *g += 1).is_some())
    };
    *lock.lock() += 1;
    sleeper.join().unwrap();
    let timed_got_in = timed.join().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 2 + u32::from(timed_got_in));
    timed_got_in
}

#[test]
fn mutex_excludes_three_lockers() {
    check_bounded(THREE, three_lockers_exclude_each_other::<Loom>);
}

#[test]
fn mutex_unlock_without_release_does_not_publish() {
    check_fails_bounded(THREE, RACE, three_lockers_exclude_each_other::<Loom<NoRelease>>);
}

#[test]
fn check_then_set_mutex_admits_two_holders() {
    check_fails_bounded(THREE, RACE, three_lockers_exclude_each_other::<Loom<CheckThenSet>>);
}

#[test]
fn mutex_unlock_that_forgets_to_wake_loses_a_sleeper() {
    check_fails_bounded(THREE, DEADLOCK, three_lockers_exclude_each_other::<Loom<ForgetfulWake>>);
}

#[test]
fn mutex_timeout_leaves_the_lock_consistent() {
    // [gave up, got in]: which outcomes of the timed thread the search reached.
    let seen = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let record = Arc::clone(&seen);
    check_bounded(THREE, move || {
        let got_in = timeout_leaves_the_lock_consistent::<Loom>();
        record[usize::from(got_in)].store(true, Ordering::Relaxed);
    });
    assert!(seen[0].load(Ordering::Relaxed), "no interleaving had the timed thread give up");
    assert!(seen[1].load(Ordering::Relaxed), "no interleaving had the timed thread get in");
}

#[test]
fn mutex_timeout_model_sees_a_lost_wakeup() {
    check_fails_bounded(THREE, DEADLOCK, || {
        timeout_leaves_the_lock_consistent::<Loom<ForgetfulWake>>();
    });
}

// No `SwallowedWake` twin here: the mutex is immune to that fault. A timed-out sleeper looks at
// the word before it leaves, and takes the lock if the unlock that woke it left it free (or
// handed it over), so a wake it swallows is not lost. The fault still breaks the semaphore's
// timed wait (`loom-tests/semaphore.rs`), which is what shows the model kernel applies it.

/// Records which of a model's outcomes the search reached, so a test can insist on each.
#[derive(Clone, Default)]
struct Outcomes(Arc<[AtomicBool; 2]>);

impl Outcomes {
    fn record(&self, which: bool) {
        self.0[usize::from(which)].store(true, Ordering::Relaxed);
    }
    fn assert_both(&self, what: &str) {
        for which in [false, true] {
            assert!(
                self.0[usize::from(which)].load(Ordering::Relaxed),
                "no interleaving had {what} = {which}"
            );
        }
    }
}

/// The holder unlocks fairly with a sleeper counted: the sleeper owns the lock the moment it
/// looks, so the holder's own `try_lock` right after cannot barge in ahead of it. Returns
/// whether the sleeper was counted when the holder let go (the case the hand-off is for).
fn fair_unlock_hands_the_lock_over<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let mut guard = lock.lock();
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    *guard = 10;
    // Once counted, the sleeper stays counted until it has the lock, which we hold.
    let counted = lock.sleepers().0 > 0;
    MutexGuard::unlock_fair(guard);
    if let Some(value) = lock.try_lock() {
        assert!(!counted || *value == 11, "a newcomer barged in past a hand-off");
    }
    sleeper.join().unwrap();
    assert_eq!(*lock.lock(), 11);
    assert!(lock.is_idle(), "the word kept state after everyone left");
    counted
}

/// The holder takes the lock twice; a sleeper that wakes to find it re-taken has been overtaken
/// (under loom, past the fairness bound at once) and counts itself starved. While it is, the
/// holder's plain unlock hands the lock over, and the holder's `try_lock` right after must not
/// barge. Returns whether the holder saw the sleeper starved.
fn starved_sleeper_is_handed_the_lock<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    *lock.lock() += 1;
    let mut guard = lock.lock();
    *guard += 1;
    let starved = lock.sleepers().1 > 0;
    drop(guard);
    if let Some(value) = lock.try_lock() {
        assert!(!starved || *value == 3, "a newcomer barged in past a starved sleeper");
    }
    sleeper.join().unwrap();
    assert_eq!(*lock.lock(), 3);
    assert!(lock.is_idle(), "the word kept state after everyone left");
    starved
}

/// A timed waiter is handed the lock as its deadline passes: it must take it (nobody else
/// can), and the holder, coming back for the lock, must be woken by its unlock. Returns whether
/// the timed waiter got in.
fn timed_waiter_handed_the_lock<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let guard = lock.lock();
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_lock_for(Duration::from_millis(1)).map(|mut g| *g += 1).is_some())
    };
    MutexGuard::unlock_fair(guard);
    *lock.lock() += 1;
    let got_in = timed.join().unwrap();
    assert_eq!(*lock.lock(), 1 + u32::from(got_in));
    assert!(lock.is_idle(), "the word kept state after everyone left");
    got_in
}

#[test]
fn mutex_fair_unlock_hands_the_lock_over() {
    let counted = Outcomes::default();
    let record = counted.clone();
    check(move || record.record(fair_unlock_hands_the_lock_over::<Loom>()));
    counted.assert_both("the sleeper counted at the fair unlock");
}

#[test]
fn mutex_hand_off_without_release_does_not_publish() {
    check_fails(RACE, || {
        fair_unlock_hands_the_lock_over::<Loom<NoRelease>>();
    });
}

#[test]
fn mutex_hand_off_that_forgets_to_wake_loses_the_sleeper() {
    check_fails(DEADLOCK, || {
        fair_unlock_hands_the_lock_over::<Loom<ForgetfulWake>>();
    });
}

#[test]
fn mutex_starved_sleeper_is_handed_the_lock() {
    let starved = Outcomes::default();
    let record = starved.clone();
    check(move || record.record(starved_sleeper_is_handed_the_lock::<Loom>()));
    starved.assert_both("the sleeper starved at the holder's second unlock");
}

#[test]
fn mutex_starvation_hand_off_that_forgets_to_wake_deadlocks() {
    check_fails(DEADLOCK, || {
        starved_sleeper_is_handed_the_lock::<Loom<ForgetfulWake>>();
    });
}

#[test]
fn check_then_set_starvation_hand_off_admits_two_holders() {
    check_fails(RACE, || {
        starved_sleeper_is_handed_the_lock::<Loom<CheckThenSet>>();
    });
}

#[test]
fn mutex_timed_waiter_handed_the_lock_takes_it() {
    let got_in = Outcomes::default();
    let record = got_in.clone();
    check(move || record.record(timed_waiter_handed_the_lock::<Loom>()));
    got_in.assert_both("the timed waiter got in");
}

#[test]
fn mutex_timed_hand_off_without_release_does_not_publish() {
    check_fails(RACE, || {
        timed_waiter_handed_the_lock::<Loom<NoRelease>>();
    });
}

#[test]
fn mutex_timed_hand_off_that_forgets_to_wake_deadlocks() {
    check_fails(DEADLOCK, || {
        timed_waiter_handed_the_lock::<Loom<ForgetfulWake>>();
    });
}

// ------------------------------------------------------------------------------------------------
// Waiters that vanish (a process killed while it waits): the process-shared policy
// ------------------------------------------------------------------------------------------------

/// What a killed waiter left behind when the holder let go.
#[derive(Clone, Copy)]
enum Ghost {
    /// A counted sleeper, and the holder unlocks fairly: the hand-off is owed to it.
    Sleeper,
    /// A counted starved sleeper, and the holder unlocks plainly: it hands off all the same.
    Starved,
}

/// The holder counts a sleeper that is not there (a process killed after counting itself), then
/// a live thread comes for the lock and the holder lets go. The live thread must get the lock,
/// and so must the holder after it. Over the in-process policy the hand-off waits for the dead
/// sleeper forever; over the process-shared one it is undone, or claimed by the live sleeper.
fn a_vanished_sleeper_strands_nobody<B: Backend>(ghost: Ghost) {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let guard = lock.lock();
    lock.count_phantom_sleeper(matches!(ghost, Ghost::Starved));
    let live = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    match ghost {
        Ghost::Sleeper => MutexGuard::unlock_fair(guard),
        Ghost::Starved => drop(guard),
    }
    live.join().unwrap();
    *lock.lock() += 1;
    assert_eq!(*lock.lock(), 2);
}

/// A waiter is picked by the holder's wake and vanishes before it looks (a process killed just
/// then), while another sleeps counted. Over the in-process policy that sleeper sleeps on with
/// the lock free; over the process-shared one it wakes at the end of a slice and takes it.
fn a_waiter_killed_after_its_wake_strands_nobody<B: Backend>() {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let guard = lock.lock();
    let doomed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.sleep_then_vanish())
    };
    let live = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    drop(guard);
    doomed.join().unwrap();
    live.join().unwrap();
    assert_eq!(*lock.lock(), 1);
}

#[test]
fn shared_mutex_fair_unlock_to_a_vanished_sleeper_strands_nobody() {
    check(|| a_vanished_sleeper_strands_nobody::<Loom<SharedMemory>>(Ghost::Sleeper));
}

#[test]
fn in_process_mutex_fair_unlock_to_a_vanished_sleeper_deadlocks() {
    check_fails(DEADLOCK, || a_vanished_sleeper_strands_nobody::<Loom>(Ghost::Sleeper));
}

#[test]
fn shared_mutex_vanished_starved_sleeper_strands_nobody() {
    check(|| a_vanished_sleeper_strands_nobody::<Loom<SharedMemory>>(Ghost::Starved));
}

#[test]
fn in_process_mutex_vanished_starved_sleeper_deadlocks() {
    check_fails(DEADLOCK, || a_vanished_sleeper_strands_nobody::<Loom>(Ghost::Starved));
}

/// The preemption bound of the three-thread model of a waiter killed after its wake: each slice
/// of the live sleeper's sleep is a timed wait that may end at any point, and at 4 the search
/// takes about a minute.
const VANISHED: usize = 3;

#[test]
fn shared_mutex_waiter_killed_after_its_wake_strands_nobody() {
    check_bounded(VANISHED, a_waiter_killed_after_its_wake_strands_nobody::<Loom<SharedMemory>>);
}

#[test]
fn in_process_mutex_waiter_killed_after_its_wake_deadlocks() {
    check_fails_bounded(VANISHED, DEADLOCK, a_waiter_killed_after_its_wake_strands_nobody::<Loom>);
}

// ------------------------------------------------------------------------------------------------
// The everyday contended path: spin, sleep, wake overtaken, un-count, spin, re-count, starve
// ------------------------------------------------------------------------------------------------

/// What a holder saw of its sleepers over a model's run, taken while it held the lock.
#[derive(Clone, Default)]
struct Sightings(Arc<[AtomicBool; 3]>);

impl Sightings {
    /// A sleeper that had been counted was un-counted without having had the lock: it woke
    /// overtaken and went back to spinning (`Slept::Awake`).
    const AWAKE: usize = 0;
    /// A sleeper counted as starved.
    const STARVED: usize = 1;
    /// Two sleepers counted, one of them starved and one not.
    const MIXED: usize = 2;

    fn record(&self, which: usize) {
        self.0[which].store(true, Ordering::Relaxed);
    }
    fn assert_seen(&self, which: usize, what: &str) {
        assert!(self.0[which].load(Ordering::Relaxed), "no interleaving reached {what}");
    }
}

/// Takes the lock `times` times, adding 2 each time, while `sleepers` threads each add 1 once;
/// records what each hold saw of the word. With one spin round and a sleeper starved on its
/// second overtake (`Loom<Patient>`), a sleeper can wake overtaken, un-count itself, spin,
/// count itself again, and starve; the holder's plain unlock must then hand the lock over (its
/// `try_lock` right after must fail) and everyone must be served.
fn overtaken_sleepers_spin_then_starve<B: Backend>(sleepers: u32, times: u32, seen: &Sightings) {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let others: Vec<_> = (0..sleepers)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        })
        .collect();
    // The most sleepers seen counted at once so far.
    let mut most_counted = 0;
    for held in 0..times {
        let mut guard = lock.lock();
        *guard += 2;
        // How many sleepers have had the lock: each added 1, and we 2 per hold.
        let served = *guard - 2 * (held + 1);
        let (counted, starved) = lock.sleepers();
        if sleepers == 1 && served == 0 && counted < most_counted {
            // Counted at an earlier hold, un-counted now, and never had the lock.
            seen.record(Sightings::AWAKE);
        }
        most_counted = most_counted.max(counted);
        if starved > 0 {
            seen.record(Sightings::STARVED);
        }
        if counted == 2 && starved == 1 {
            seen.record(Sightings::MIXED);
        }
        drop(guard);
        if starved > 0 {
            // A starved sleeper was counted as we let go: the unlock handed it the lock, so we
            // get it back only after a sleeper has had it.
            if let Some(value) = lock.try_lock() {
                assert!(*value - 2 * (held + 1) > served, "a newcomer barged in past a starved sleeper");
            }
        }
    }
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(*lock.lock(), 2 * times + sleepers);
    assert!(lock.is_idle(), "the word kept state after everyone left");
}

// Reaching a starved sleeper takes four preemptions (the sleeper must look during three of the
// holder's holds): below LOOM_MAX_PREEMPTIONS=4 this model reports it unreached.
#[test]
fn mutex_overtaken_sleeper_spins_then_starves() {
    let seen = Sightings::default();
    let record = seen.clone();
    check(move || overtaken_sleepers_spin_then_starve::<Loom<Patient>>(1, 3, &record));
    seen.assert_seen(Sightings::AWAKE, "a sleeper woken overtaken going back to spin");
    seen.assert_seen(Sightings::STARVED, "a starved sleeper");
}

#[test]
fn mutex_overtaken_sleeper_with_a_forgetful_wake_deadlocks() {
    check_fails(DEADLOCK, || {
        overtaken_sleepers_spin_then_starve::<Loom<PatientForgetfulWake>>(1, 3, &Sightings::default())
    });
}

#[test]
fn mutex_overtaken_sleeper_without_release_does_not_publish() {
    check_fails(RACE, || {
        overtaken_sleepers_spin_then_starve::<Loom<PatientNoRelease>>(1, 3, &Sightings::default())
    });
}

/// The preemption bound of the mixed-sleepers model: three threads and three holds, each sleeper
/// spinning and re-counting, grow past a minute at 3.
const MIXED_BOUND: usize = 2;

#[test]
fn mutex_starved_and_patient_sleepers_mix() {
    let seen = Sightings::default();
    let record = seen.clone();
    check_bounded(MIXED_BOUND, move || overtaken_sleepers_spin_then_starve::<Loom<Patient>>(2, 3, &record));
    seen.assert_seen(Sightings::MIXED, "a starved and a not-starved sleeper counted at once");
}

#[test]
fn mutex_mixed_sleepers_with_a_forgetful_wake_deadlock() {
    check_fails_bounded(MIXED_BOUND, DEADLOCK, || {
        overtaken_sleepers_spin_then_starve::<Loom<PatientForgetfulWake>>(2, 3, &Sightings::default())
    });
}

/// The sleeper field is full of the dead (as millions of killed waiters would leave it) and the
/// holder hands the lock to them: a live newcomer, which cannot count itself, waits uncounted
/// and claims the hand-off. The claim must acquire what the holder wrote.
fn a_full_sleeper_field_admits_a_newcomer<B: Backend>() {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let mut guard = lock.lock();
    lock.fill_sleepers_with_phantoms();
    let live = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    *guard += 1;
    MutexGuard::unlock_fair(guard);
    live.join().unwrap();
    assert_eq!(*lock.lock(), 2);
}

#[test]
fn mutex_full_sleeper_field_admits_a_newcomer() {
    check(a_full_sleeper_field_admits_a_newcomer::<Loom>);
}

#[test]
fn mutex_full_sleeper_field_claim_without_release_does_not_publish() {
    check_fails(RACE, a_full_sleeper_field_admits_a_newcomer::<Loom<NoRelease>>);
}
