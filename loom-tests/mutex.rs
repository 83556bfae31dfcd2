//! Models of `Mutex`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{
    queue_models as queue, Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease, Patient,
    PatientForgetfulWake, PatientNoRelease, SharedMemory, SharedUnsliced, SharedUnslicedNoRelease, StaleMore,
};
use turnstile::{FairMutex, Lock, Mutex, MutexGuard};

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK, RACE};

/// The preemption bound of the three-thread models: 5 would take minutes (the counted sleeper's
/// compare-exchange loops multiply the interleavings), 4 explores about 300,000.
const THREE: usize = 2;

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
/// the timed thread does, the sleeper is woken, the line stays exact and the lock ends free.
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

/// The holder unlocks fairly with a waiter parked: the lock goes straight to it, so the
/// holder's own `try_lock` right after cannot barge in ahead of it. Returns whether the unlock
/// handed the lock over (the waiter was in the line when the holder let go).
fn fair_unlock_hands_the_lock_over<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let mut guard = lock.lock();
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    *guard = 10;
    Mutex::<u32, B>::take_hand_offs();
    MutexGuard::unlock_fair(guard);
    let handed = Mutex::<u32, B>::take_hand_offs() > 0;
    if let Some(value) = lock.try_lock() {
        assert!(!handed || *value == 11, "a newcomer barged in past a hand-off");
    }
    sleeper.join().unwrap();
    assert_eq!(*lock.lock(), 11);
    assert!(lock.is_idle(), "the word kept state after everyone left");
    handed
}

/// The holder takes the lock twice while a waiter parks. Under loom the queue's fairness signal
/// comes on every second unpark that wakes someone (`Backend::FAIRNESS_OVERTAKES`), so a
/// waiter woken once and overtaken is handed the lock by the holder's next plain unlock: LOCKED
/// kept, the token says "yours". The holder's `try_lock` right after must then fail. Returns
/// whether a plain unlock handed the lock over.
fn fair_unpark_hands_the_lock_over<B: Backend>() -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let sleeper = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    Mutex::<u32, B>::take_hand_offs();
    *lock.lock() += 1;
    let mut guard = lock.lock();
    *guard += 1;
    drop(guard);
    let handed = Mutex::<u32, B>::take_hand_offs() > 0;
    if let Some(value) = lock.try_lock() {
        assert!(!handed || *value == 3, "a newcomer barged in past a hand-off");
    }
    sleeper.join().unwrap();
    assert_eq!(*lock.lock(), 3);
    assert!(lock.is_idle(), "the word kept state after everyone left");
    handed
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
    let handed = Outcomes::default();
    let record = handed.clone();
    check(move || record.record(fair_unlock_hands_the_lock_over::<Loom>()));
    handed.assert_both("the fair unlock handed the lock over");
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
fn mutex_fair_unpark_hands_the_lock_over() {
    let handed = Outcomes::default();
    let record = handed.clone();
    check(move || record.record(fair_unpark_hands_the_lock_over::<Loom>()));
    handed.assert_both("a plain unlock handed the lock over");
}

#[test]
fn mutex_fair_unpark_hand_off_that_forgets_to_wake_deadlocks() {
    check_fails(DEADLOCK, || {
        fair_unpark_hands_the_lock_over::<Loom<ForgetfulWake>>();
    });
}

#[test]
fn check_then_set_fair_unpark_admits_two_holders() {
    check_fails(RACE, || {
        fair_unpark_hands_the_lock_over::<Loom<CheckThenSet>>();
    });
}

/// A waiter parks behind the holder and gives up at its deadline while the holder still holds
/// the lock: it was the only waiter, so `PARKED` must be clear once it has left (the queue said
/// "nobody more" and the waiter cleared the bit). Returns whether the waiter parked at all.
fn timed_out_waiter_clears_parked<B: Backend>() {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let guard = lock.lock();
    let timed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || lock.try_lock_for(Duration::from_millis(1)).is_some())
    };
    // A bystander that only tries: it never parks, and interleaves with the timed waiter.
    let bystander = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || assert!(lock.try_lock().is_none(), "the lock was held throughout"))
    };
    bystander.join().unwrap();
    assert!(!timed.join().unwrap(), "the lock was held throughout");
    assert!(!lock.is_parked(), "PARKED left set with nobody in the line");
    drop(guard);
    assert!(lock.is_idle(), "the word kept state after everyone left");
}

#[test]
fn mutex_timed_out_waiter_clears_parked_exactly() {
    check(timed_out_waiter_clears_parked::<Loom>);
}

#[test]
fn mutex_timed_out_waiter_with_a_stale_more_leaves_parked_set() {
    check_fails("PARKED left set", timed_out_waiter_clears_parked::<Loom<StaleMore>>);
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
    check_fails(DEADLOCK, || a_vanished_sleeper_strands_nobody::<Loom<SharedUnsliced>>(Ghost::Sleeper));
}

#[test]
fn shared_mutex_vanished_starved_sleeper_strands_nobody() {
    check(|| a_vanished_sleeper_strands_nobody::<Loom<SharedMemory>>(Ghost::Starved));
}

#[test]
fn in_process_mutex_vanished_starved_sleeper_deadlocks() {
    check_fails(DEADLOCK, || a_vanished_sleeper_strands_nobody::<Loom<SharedUnsliced>>(Ghost::Starved));
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
    check_fails_bounded(
        VANISHED,
        DEADLOCK,
        a_waiter_killed_after_its_wake_strands_nobody::<Loom<SharedUnsliced>>,
    );
}

// ------------------------------------------------------------------------------------------------
// The everyday contended path: spin, park, wake overtaken, spin again, re-park, be handed the lock
// ------------------------------------------------------------------------------------------------

/// Takes the lock `times` times, adding 2 each time, while `sleepers` threads each add 1 once.
/// With one spin round (`Loom<Patient>`), a woken waiter spins before it parks again, and the
/// queue's fairness signal comes on every second unpark: a plain unlock then hands the lock over,
/// and the holder's `try_lock` right after must find it taken by a waiter. Everyone is served.
/// Returns whether a hand-off happened.
fn overtaken_waiters_are_handed_the_lock<B: Backend>(sleepers: u32, times: u32) -> bool {
    let lock = Arc::new(Mutex::<u32, B>::with_backend(0));
    let others: Vec<_> = (0..sleepers)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || *lock.lock() += 1)
        })
        .collect();
    Mutex::<u32, B>::take_hand_offs();
    let mut handed_any = false;
    for held in 0..times {
        let mut guard = lock.lock();
        *guard += 2;
        // How many sleepers have had the lock: each added 1, and we 2 per hold.
        let served = *guard - 2 * (held + 1);
        // The count is of every model thread's hand-offs (loom runs them all on this thread):
        // forget those made before our hold. Nobody else unlocks while we hold the lock.
        Mutex::<u32, B>::take_hand_offs();
        drop(guard);
        if Mutex::<u32, B>::take_hand_offs() > 0 {
            handed_any = true;
            // An unlock since our hold handed the lock to a waiter: ours, or that of a sleeper
            // that had the lock after us. Either way a sleeper has it or has had it before we
            // get it back.
            if let Some(value) = lock.try_lock() {
                assert!(*value - 2 * (held + 1) > served, "a newcomer barged in past a hand-off");
            }
        }
    }
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(*lock.lock(), 2 * times + sleepers);
    assert!(lock.is_idle(), "the word kept state after everyone left");
    handed_any
}

#[test]
fn mutex_overtaken_waiter_is_handed_the_lock() {
    let handed = Outcomes::default();
    let record = handed.clone();
    check(move || record.record(overtaken_waiters_are_handed_the_lock::<Loom<Patient>>(1, 3)));
    handed.assert_both("a plain unlock handed the lock over");
}

#[test]
fn mutex_overtaken_waiter_with_a_forgetful_wake_deadlocks() {
    check_fails(DEADLOCK, || {
        overtaken_waiters_are_handed_the_lock::<Loom<PatientForgetfulWake>>(1, 3);
    });
}

#[test]
fn mutex_overtaken_waiter_without_release_does_not_publish() {
    check_fails(RACE, || {
        overtaken_waiters_are_handed_the_lock::<Loom<PatientNoRelease>>(1, 3);
    });
}

/// The preemption bound of the two-waiter model: three threads and three holds, each waiter
/// spinning and re-parking, grow past a minute at 3.
const MIXED_BOUND: usize = 2;

#[test]
fn mutex_two_overtaken_waiters_are_served() {
    check_bounded(MIXED_BOUND, || {
        overtaken_waiters_are_handed_the_lock::<Loom<Patient>>(2, 3);
    });
}

#[test]
fn mutex_two_overtaken_waiters_with_a_forgetful_wake_deadlock() {
    check_fails_bounded(MIXED_BOUND, DEADLOCK, || {
        overtaken_waiters_are_handed_the_lock::<Loom<PatientForgetfulWake>>(2, 3);
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
    check(a_full_sleeper_field_admits_a_newcomer::<Loom<SharedUnsliced>>);
}

#[test]
fn mutex_full_sleeper_field_claim_without_release_does_not_publish() {
    check_fails(RACE, a_full_sleeper_field_admits_a_newcomer::<Loom<SharedUnslicedNoRelease>>);
}

/// A holder releases (a plain drop of its guard) while a waiter is, or is not yet, in line;
/// then takes the lock back at once. With a waiter in line when it let go, it must not get in
/// ahead of that waiter. Returns whether the waiter was in line.
fn release_with_a_waiter_in_line<L, B: Backend>(lock: L) -> bool
where
    L: Lock<Target = u32> + Send + Sync + 'static,
{
    let lock = Arc::new(lock);
    let mut guard = lock.lock();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock() += 1)
    };
    *guard = 10;
    // In the lock word's line (its address is the key); while we hold the lock an untimed
    // waiter cannot leave it, so this is its state at the release.
    let was_in_line = queue::waiting::<B>(&*lock as *const L as usize) > 0;
    drop(guard);
    if let Some(value) = lock.try_lock() {
        assert!(!was_in_line || *value == 11, "a newcomer took the lock past a waiter in line");
    }
    waiter.join().unwrap();
    assert_eq!(*lock.lock(), 11);
    was_in_line
}

#[test]
fn fair_mutex_release_goes_to_the_waiter_in_line() {
    let in_line = Outcomes::default();
    let record = in_line.clone();
    check(move || {
        record.record(release_with_a_waiter_in_line::<_, Loom>(FairMutex::<u32, Loom>::with_backend(0)))
    });
    in_line.assert_both("a waiter in line at the release");
}

#[test]
fn plain_mutex_release_lets_a_newcomer_past_the_waiter_in_line() {
    check_fails("a newcomer took the lock past a waiter in line", || {
        release_with_a_waiter_in_line::<_, Loom>(Mutex::<u32, Loom>::with_backend(0));
    });
}

#[test]
fn fair_mutex_without_release_does_not_publish() {
    check_fails(RACE, || {
        release_with_a_waiter_in_line::<_, Loom<NoRelease>>(FairMutex::<u32, Loom<NoRelease>>::with_backend(
            0,
        ));
    });
}

#[test]
fn fair_mutex_hand_off_that_forgets_to_wake_loses_the_waiter() {
    check_fails(DEADLOCK, || {
        release_with_a_waiter_in_line::<_, Loom<ForgetfulWake>>(
            FairMutex::<u32, Loom<ForgetfulWake>>::with_backend(0),
        );
    });
}
