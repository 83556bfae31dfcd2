//! Models of `shm::RobustMutex`: a holder whose process dies, waiters that probe it, recovery.
//!
//! Each thread is its own modelled process (`Processes for Loom`). A holder "dies" with
//! `LockGuard::exit_process`: its access to the data ends, the lock stays held, and the process
//! table reports it gone. A waiter dies with `RobustMutex::lock_until_killed`, just after a sleep
//! ends. Loom has no clock, so any timed sleep of a waiter may end and probe; under `Unprobed`
//! none does (waiters sleep until woken), so a lost wakeup is a deadlock there.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use loom::thread;
use turnstile::backend::{
    CheckThenSetCas, Fault, HastyProbe, ImmortalOwner, Loom, NamespaceBlind, PidOnly, Processes, Sound,
    Unprobed, UnprobedPlainLook,
};
use turnstile::shm::{OwnerDied, RobustMutex, RobustMutexGuard};
use turnstile::LockGuard;

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK, RACE};

/// Preemptions for the two-prober model, whose waiters loop through timed sleeps (see
/// `check_bounded`).
const PROBERS: usize = 2;
/// Preemptions for the killed-waiter model: three threads, two of them waiting.
const KILLED_WAITER: usize = 2;

/// What loom reports when a waiter can never finish: it probes a holder that will never be found
/// dead, forever.
const NEVER_RECOVERED: &str = "maximum number of branches";

/// The data's invariant: both halves agree. A holder updates one half, then the other; one that
/// dies between them leaves it broken.
type Pair = [u32; 2];

/// Takes the lock; if a holder died, checks the data is as the dead left it (its half update is
/// visible), repairs it and marks it consistent. Returns the guard and whether a death was
/// reported.
fn lock_and_repair<B: Processes>(lock: &RobustMutex<Pair, B>) -> (RobustMutexGuard<'_, Pair, B>, bool) {
    match lock.lock() {
        Ok(guard) => {
            assert_eq!(guard[0], guard[1], "consistent data broken without a death reported");
            (guard, false)
        }
        Err(died) => {
            let died: OwnerDied<_> = died;
            let mut guard = died.into_inner();
            assert_eq!(guard[0], guard[1] + 1, "the dead holder's half update is not visible");
            guard[1] = guard[0];
            guard.mark_consistent();
            (guard, true)
        }
    }
}

/// A holder updates half the data and dies holding the lock; the main thread takes the lock
/// before or after that, and once more after the holder is gone. Exactly one of its two locks is
/// told of the death, and it always gets the lock.
fn a_dead_holders_lock_is_recovered<F: Fault>() -> bool {
    let lock = Arc::new(RobustMutex::<Pair, Loom<F>>::with_backend([0, 0]));
    let holder = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock().expect("nobody had died yet");
            guard[0] += 1;
            LockGuard::exit_process(guard);
        })
    };
    let (mut guard, died_first) = lock_and_repair(&lock);
    guard[0] += 1;
    guard[1] += 1;
    drop(guard);
    holder.join().unwrap();
    let (guard, died_second) = lock_and_repair(&lock);
    assert!(
        died_first != died_second,
        "one death, reported {} times",
        u8::from(died_first) + u8::from(died_second)
    );
    assert_eq!(guard[0], guard[1]);
    drop(guard);
    assert!(lock.is_consistent() && !lock.is_locked());
    died_first
}

/// Two threads that both finish: neither may be told of a death, or take the lock from the
/// other while it holds it.
fn a_live_holder_keeps_its_lock<F: Fault>() {
    let lock = Arc::new(RobustMutex::<Pair, Loom<F>>::with_backend([0, 0]));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock().expect("no process died");
            guard[0] += 1;
            guard[1] += 1;
        })
    };
    {
        let mut guard = lock.lock().expect("no process died");
        guard[0] += 1;
        guard[1] += 1;
    }
    other.join().unwrap();
    assert_eq!(*lock.lock().unwrap(), [2, 2]);
}

/// As `a_live_holder_keeps_its_lock`, with the other thread a process of another pid namespace
/// (its pid is 1, as the main thread's is): whichever of the two holds, the other, probing, reads
/// the holder's pid in its own namespace and finds another process there. Neither may take the
/// lock from the other.
fn a_live_holder_in_another_namespace_keeps_its_lock<F: Fault>() {
    let lock = Arc::new(RobustMutex::<Pair, Loom<F>>::with_backend([0, 0]));
    let other = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            Loom::<F>::start_process_in_new_namespace();
            let mut guard = lock.lock().expect("no process died");
            guard[0] += 1;
            guard[1] += 1;
        })
    };
    {
        let mut guard = lock.lock().expect("no process died");
        guard[0] += 1;
        guard[1] += 1;
    }
    other.join().unwrap();
    assert_eq!(*lock.lock().unwrap(), [2, 2]);
}

/// The main thread holds the lock; one waiter is killed just after its first sleep ends (woken
/// by the unlock or not), leaving its sleeper count behind; another waits and must still get the
/// lock, and the main thread after both. Nothing is told `OwnerDied`: no holder died.
fn a_killed_waiter_wedges_nothing<F: Fault>() {
    let lock = Arc::new(RobustMutex::<u32, Loom<F>>::with_backend(0));
    let guard = lock.lock().expect("nobody died");
    let doomed = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            // `Some` only if it got the lock before it ever slept.
            if let Some(taken) = lock.lock_until_killed() {
                *taken.expect("no holder died") += 1;
            }
        })
    };
    let survivor = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.lock().expect("no holder died") += 10)
    };
    drop(guard);
    doomed.join().unwrap();
    survivor.join().unwrap();
    let total = *lock.lock().expect("no holder died");
    assert!(total == 10 || total == 11, "the survivor's increment is missing: {total}");
}

/// The holder dies; a new process takes its pid; the lock must still be recovered.
fn a_reused_pid_does_not_hide_a_death<F: Fault>() {
    let lock = Arc::new(RobustMutex::<Pair, Loom<F>>::with_backend([0, 0]));
    let dead = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock().expect("nobody had died yet");
            guard[0] += 1;
            LockGuard::exit_process(guard);
            Loom::<F>::current_process()
        })
        .join()
        .unwrap()
    };
    // The pid is reused while the main thread waits, or before it starts, or after it is done.
    let newcomer = thread::spawn(move || {
        Loom::<F>::start_process_reusing_pid(dead);
    });
    let (_guard, died) = lock_and_repair(&lock);
    assert!(died, "the dead holder's death was not reported");
    drop(_guard);
    newcomer.join().unwrap();
}

/// The holder has died holding the lock; two waiters find it so: one of them takes the lock from
/// the dead and repairs, the other gets it after, consistent. Two holders at once is a race loom
/// reports. (The holder dies before the waiters start: with it alive too, the waiters' probing
/// loops make the search too big for the suite.)
fn one_of_two_probers_takes_over<F: Fault>() {
    let lock = Arc::new(RobustMutex::<Pair, Loom<F>>::with_backend([0, 0]));
    {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock().expect("nobody had died yet");
            guard[0] += 1;
            LockGuard::exit_process(guard);
        })
        .join()
        .unwrap();
    }
    let deaths = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (lock, deaths) = (Arc::clone(&lock), Arc::clone(&deaths));
        thread::spawn(move || {
            let (_guard, died) = lock_and_repair(&lock);
            deaths.fetch_add(usize::from(died), Ordering::Relaxed);
        })
    };
    let (guard, died) = lock_and_repair(&lock);
    drop(guard);
    deaths.fetch_add(usize::from(died), Ordering::Relaxed);
    waiter.join().unwrap();
    let deaths = deaths.load(Ordering::Relaxed);
    assert_eq!(deaths, 1, "one death reported {deaths} times");
}

#[test]
fn robust_mutex_recovers_from_a_dead_holder() {
    // [died before main's first lock, after it]: both orders must be reached.
    let seen = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let record = Arc::clone(&seen);
    check(move || {
        let first = a_dead_holders_lock_is_recovered::<Sound>();
        record[usize::from(!first)].store(true, Ordering::Relaxed);
    });
    assert!(seen.iter().all(|s| s.load(Ordering::Relaxed)), "an order of death and lock was not reached");
}

#[test]
fn robust_mutex_whose_owners_never_die_hangs_its_waiter() {
    check_fails(NEVER_RECOVERED, || {
        a_dead_holders_lock_is_recovered::<ImmortalOwner>();
    });
}

#[test]
fn robust_mutex_keeps_a_live_holders_lock() {
    check(a_live_holder_keeps_its_lock::<Sound>);
}

#[test]
fn robust_mutex_that_calls_the_living_dead_lets_two_in() {
    check_fails(RACE, a_live_holder_keeps_its_lock::<HastyProbe>);
}

#[test]
fn robust_mutex_wakes_a_sleeper_that_never_probes() {
    // Waiters sleep until woken: only the publish-then-look handshake with `unlock` wakes them.
    check(a_live_holder_keeps_its_lock::<Unprobed>);
}

#[test]
fn robust_mutex_whose_look_is_a_plain_load_loses_a_wakeup() {
    check_fails(DEADLOCK, a_live_holder_keeps_its_lock::<UnprobedPlainLook>);
}

#[test]
fn robust_mutex_keeps_a_live_holders_lock_across_pid_namespaces() {
    check(a_live_holder_in_another_namespace_keeps_its_lock::<Sound>);
}

#[test]
fn robust_mutex_blind_to_namespaces_takes_a_live_holders_lock() {
    check_fails(RACE, a_live_holder_in_another_namespace_keeps_its_lock::<NamespaceBlind>);
}

#[test]
fn robust_mutex_outlives_a_waiter_killed_after_a_wake() {
    check_bounded(KILLED_WAITER, a_killed_waiter_wedges_nothing::<Sound>);
}

#[test]
fn robust_mutex_whose_waiters_never_probe_is_wedged_by_a_killed_waiter() {
    // The wake went to the waiter that died: only a timed sleep lets the survivor see the lock
    // free. This is why a robust mutex's sleeps are always timed (a probe interval at most).
    check_fails_bounded(KILLED_WAITER, DEADLOCK, a_killed_waiter_wedges_nothing::<Unprobed>);
}

#[test]
fn robust_mutex_sees_through_a_reused_pid() {
    check(a_reused_pid_does_not_hide_a_death::<Sound>);
}

#[test]
fn robust_mutex_probing_by_pid_alone_hangs_on_a_reused_pid() {
    check_fails(NEVER_RECOVERED, a_reused_pid_does_not_hide_a_death::<PidOnly>);
}

#[test]
fn robust_mutex_lets_one_prober_take_over() {
    check_bounded(PROBERS, one_of_two_probers_takes_over::<Sound>);
}

#[test]
fn robust_mutex_with_split_takeover_lets_two_probers_in() {
    check_fails_bounded(PROBERS, RACE, one_of_two_probers_takes_over::<CheckThenSetCas>);
}
