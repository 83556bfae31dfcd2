//! Models of `Semaphore`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use turnstile::backend::{
    Backend, CheckThenSet, ForgetfulWake, Loom, NoRelease, SharedForgetfulWake, SharedMemory,
    SharedPlainLook, SwallowedWake,
};
use turnstile::{Semaphore, SemaphorePermit};

use crate::{check, check_bounded, check_fails, check_fails_bounded, DEADLOCK, RACE};

/// Preemptions for the three-thread models (see `check_bounded`): each park is a few dozen loom
/// steps (the bucket lock, the thread's word, the modelled futex), and at 3 the search grows
/// past minutes.
const THREE: usize = 2;
/// Preemptions for the model of three threads that each acquire and release.
const THREE_HOLDERS: usize = 2;
/// Preemptions for the three-thread models in which two threads sleep (their search is larger).
const TWO_SLEEPERS: usize = 2;

const TOO_MANY: &str = "more holders than permits";

/// Three threads share two permits; each holds one for a moment. At no point are more than two
/// inside, and every permit comes back. (A plain counter outside the model counts who is inside:
/// loom runs one thread at a time, so it is exact.)
fn holders_never_exceed_permits<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let enter = {
        let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
        move || {
            let _permit = sem.acquire();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= 2, "{TOO_MANY}: {now} inside");
            thread::yield_now();
            inside.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let others: Vec<_> = (0..2).map(|_| thread::spawn(enter.clone())).collect();
    enter();
    for t in others {
        t.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 2);
}

/// P in one thread, V in the other (the classic signalling use): the acquirer may be asleep when
/// the permit comes, and must be woken; and what the releaser wrote before its V, the acquirer
/// reads after its P (loom reports the read as a causality violation if it is not ordered).
fn a_sleeping_acquirer_gets_the_released_permit<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let message = Arc::new(Message(UnsafeCell::new(0)));
    let consumer = {
        let (sem, message) = (Arc::clone(&sem), Arc::clone(&message));
        thread::spawn(move || {
            sem.acquire().forget();
            // SAFETY: the producer wrote before its V and touches the cell no more.
            let seen = message.0.with(|v| unsafe { *v });
            assert_eq!(seen, 7);
        })
    };
    // SAFETY: the consumer reads only after its P, which this V precedes.
    message.0.with_mut(|v| unsafe { *v = 7 });
    sem.add_permits(1);
    consumer.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// A value handed from thread to thread through a semaphore (loom's cell checks who touches it
/// when).
struct Message(UnsafeCell<u32>);

// SAFETY: the models touch the cell only while the semaphore orders the accesses; when it does
// not, loom's cell reports it.
unsafe impl Sync for Message {}

/// A semaphore of one permit used as a lock: each of two threads bumps a counter while it holds
/// the permit. The second holder must see the first one's bump, which only the permit orders
/// (the Release of the returning compare-exchange, the Acquire of the taking one).
fn a_permit_orders_its_holders<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(1));
    let counter = Arc::new(Message(UnsafeCell::new(0)));
    let bump = {
        let (sem, counter) = (Arc::clone(&sem), Arc::clone(&counter));
        move || {
            let _permit = sem.acquire();
            // SAFETY: one permit: no other holder touches the counter meanwhile.
            counter.0.with_mut(|v| unsafe { *v += 1 });
        }
    };
    let other = thread::spawn(bump.clone());
    bump();
    other.join().unwrap();
    // SAFETY: both holders are done.
    assert_eq!(counter.0.with(|v| unsafe { *v }), 2);
    assert_eq!(sem.available_permits(), 1);
}

/// Two threads sleep for one permit each; one `add_permits(2)` must wake both (`wake_many` of
/// two: a release that woke one would leave the other asleep beside its permit).
fn one_release_wakes_two_sleepers<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.acquire().forget())
        })
        .collect();
    sem.add_permits(2);
    for t in sleepers {
        t.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 0);
}

/// One thread sleeps for two permits, another for one. A single permit comes first and must
/// reach the one-permit sleeper, though the two-permit one may be the older sleeper: with a
/// sleeper wanting several, a release wakes them all (waking one would pick the older, which
/// cannot use it and sleeps again, leaving the other beside its permit). Then two more come for
/// the two-permit sleeper.
fn a_release_reaches_the_one_permit_sleeper_behind_a_many_permit_one<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let two = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_many(2).forget())
    };
    let one = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire().forget())
    };
    sem.add_permits(1);
    one.join().unwrap();
    sem.add_permits(2);
    two.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// Between processes (`Loom<SharedMemory>`, the kernel path): the sleeper counts start as waiters killed in their sleep leave them (`one` and `many` that
/// never un-count); a live waiter then sleeps and a release must still reach it.
fn leaked_counts_lose_no_wakeup<B: Backend>(one: u32, many: u32) {
    let sem = Arc::new(Semaphore::<B>::with_leaked_sleepers(0, one, many));
    let consumer = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire().forget())
    };
    sem.add_permits(1);
    consumer.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// A half of the sleeper word holds at most this many.
const FULL: u32 = 0xFFFF;

/// A thread that sleeps for a permit and one that gives up after a timeout, and one release.
/// Whatever the timed thread does, it takes a permit only when it reports one, the sleeper is
/// woken, and every permit is accounted for. Returns whether the timed thread got one.
fn a_timed_out_acquire_takes_nothing_and_swallows_no_wake<B: Backend>() -> bool {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let sleeper = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || drop(sem.acquire()))
    };
    let timed = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_timeout(std::time::Duration::from_millis(1)).is_some())
    };
    sem.add_permits(1);
    let timed_got_one = timed.join().unwrap();
    sleeper.join().unwrap();
    assert_eq!(sem.available_permits(), 1, "a permit was lost or made up");
    timed_got_one
}

#[test]
fn semaphore_admits_at_most_its_permits() {
    check_bounded(THREE_HOLDERS, holders_never_exceed_permits::<Loom>);
}

#[test]
fn check_then_set_semaphore_admits_too_many() {
    check_fails_bounded(THREE, TOO_MANY, holders_never_exceed_permits::<Loom<CheckThenSet>>);
}

#[test]
fn semaphore_wakes_a_sleeping_acquirer() {
    check(a_sleeping_acquirer_gets_the_released_permit::<Loom>);
}

#[test]
fn semaphore_release_that_forgets_to_wake_loses_the_acquirer() {
    check_fails(DEADLOCK, a_sleeping_acquirer_gets_the_released_permit::<Loom<ForgetfulWake>>);
}

/// Between processes (the kernel path, `Loom<SharedMemory>`): the sleeper counts itself, looks
/// at the permits and sleeps on the futex.
#[test]
fn semaphore_between_processes_wakes_a_sleeping_acquirer() {
    check(a_sleeping_acquirer_gets_the_released_permit::<Loom<SharedMemory>>);
}

/// The sleeper's look at the permits as a plain load (kernel path): the releaser can miss the
/// sleeper while the sleeper misses the permit.
#[test]
fn semaphore_with_a_plain_look_loses_a_wakeup() {
    check_fails(DEADLOCK, a_sleeping_acquirer_gets_the_released_permit::<Loom<SharedPlainLook>>);
}

#[test]
fn semaphore_v_publishes_to_the_p_it_wakes() {
    check_fails(RACE, a_sleeping_acquirer_gets_the_released_permit::<Loom<NoRelease>>);
}

#[test]
fn semaphore_of_one_permit_orders_its_holders() {
    check(a_permit_orders_its_holders::<Loom>);
}

#[test]
fn semaphore_of_one_permit_without_release_lets_holders_race() {
    check_fails(RACE, a_permit_orders_its_holders::<Loom<NoRelease>>);
}

#[test]
fn semaphore_release_of_two_wakes_two_sleepers() {
    check_bounded(TWO_SLEEPERS, one_release_wakes_two_sleepers::<Loom>);
}

#[test]
fn semaphore_release_of_two_that_forgets_to_wake_strands_them() {
    check_fails_bounded(TWO_SLEEPERS, DEADLOCK, one_release_wakes_two_sleepers::<Loom<ForgetfulWake>>);
}

#[test]
fn semaphore_release_reaches_a_one_permit_sleeper_beside_a_many_permit_one() {
    check_bounded(TWO_SLEEPERS, a_release_reaches_the_one_permit_sleeper_behind_a_many_permit_one::<Loom>);
}

#[test]
fn semaphore_many_permit_model_sees_a_lost_wakeup() {
    check_fails_bounded(
        TWO_SLEEPERS,
        DEADLOCK,
        a_release_reaches_the_one_permit_sleeper_behind_a_many_permit_one::<Loom<ForgetfulWake>>,
    );
}

/// Counts one short of full in both halves: the waiter counts itself (as wanting several,
/// its own half being full), and the release wakes it.
#[test]
fn semaphore_with_nearly_full_sleeper_counts_still_wakes() {
    check(|| leaked_counts_lose_no_wakeup::<Loom<SharedMemory>>(FULL, FULL - 1));
}

/// The twin: the waiter of that model is counted, so it is owed a wake, and a release that
/// forgets it strands it.
#[test]
fn semaphore_with_nearly_full_counts_strands_a_waiter_nobody_wakes() {
    check_fails(DEADLOCK, || leaked_counts_lose_no_wakeup::<Loom<SharedForgetfulWake>>(FULL, FULL - 1));
}

/// Both halves full: the word cannot count the waiter, so (instead of wrapping it to "nobody
/// sleeps", which strands the waiter) it naps and looks again. No wake is owed to it: the model
/// passes even when every wake is lost.
#[test]
fn semaphore_waiter_the_full_word_cannot_count_needs_no_wake() {
    check(|| leaked_counts_lose_no_wakeup::<Loom<SharedMemory>>(FULL, FULL));
    check(|| leaked_counts_lose_no_wakeup::<Loom<SharedForgetfulWake>>(FULL, FULL));
}

#[test]
fn semaphore_timed_out_acquire_takes_nothing_and_swallows_no_wake() {
    // [gave up, got one]: which outcomes of the timed thread the search reached.
    let seen = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let record = Arc::clone(&seen);
    check_bounded(THREE, move || {
        let got = a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom>();
        record[usize::from(got)].store(true, Ordering::Relaxed);
    });
    assert!(seen[0].load(Ordering::Relaxed), "no interleaving had the timed thread give up");
    assert!(seen[1].load(Ordering::Relaxed), "no interleaving had the timed thread get a permit");
}

#[test]
fn semaphore_timeout_model_sees_a_lost_wakeup() {
    check_fails_bounded(THREE, DEADLOCK, || {
        a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom<ForgetfulWake>>();
    });
}

/// A timed acquirer that a wake reached but that reports a timeout anyway takes a last look at
/// the permits before giving up, so the swallowed wake costs nothing: the model still passes.
#[test]
fn semaphore_survives_a_swallowed_wake() {
    check_bounded(THREE, || {
        a_timed_out_acquire_takes_nothing_and_swallows_no_wake::<Loom<SwallowedWake>>();
    });
}

const WOKE_TOO_MANY: &str = "a release woke a waiter it cannot satisfy";
const BARGED: &str = "a newcomer took a permit kept for the head of the line";

/// Waits (in the model) until some thread waits in `sem`'s line.
fn until_someone_waits<B: Backend>(sem: &Semaphore<B>) {
    while !sem.has_waiters() {
        thread::yield_now();
    }
}

/// A thread waits for two permits; a release of one permit fits no waiter and wakes nobody (the
/// release's filter sums the requests that fit). Then a second permit wakes it.
fn a_release_wakes_only_a_waiter_it_can_satisfy<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(0));
    let two = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_many(2).forget())
    };
    until_someone_waits(&sem);
    let woken = sem.add_permits_waking(1);
    assert_eq!(woken, 0, "{WOKE_TOO_MANY}: {woken} woken");
    sem.add_permits(1);
    two.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn semaphore_release_wakes_only_a_waiter_it_can_satisfy() {
    check(a_release_wakes_only_a_waiter_it_can_satisfy::<Loom>);
}

/// The twin: between processes the futex cannot tell what a sleeper wants, and a release wakes
/// every sleeper when one wants several (the semaphore's behaviour before its wait queue).
#[test]
fn semaphore_between_processes_wakes_a_waiter_it_cannot_satisfy() {
    check_fails(WOKE_TOO_MANY, a_release_wakes_only_a_waiter_it_can_satisfy::<Loom<SharedMemory>>);
}

/// Fair mode: a thread waits for two permits, which come one release at a time. The first is
/// kept for it: a newcomer's `try_acquire` in between finds nothing, and the second release
/// completes the waiter's request.
fn a_fair_head_gets_permits_released_in_two_steps<B: Backend>(sem: Semaphore<B>) {
    let sem = Arc::new(sem);
    let big = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_many(2).forget())
    };
    until_someone_waits(&sem);
    sem.add_permits(1);
    assert!(sem.try_acquire().map(SemaphorePermit::forget).is_none(), "{BARGED}");
    sem.add_permits(1);
    big.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn fair_semaphore_keeps_released_permits_for_its_head() {
    check(|| a_fair_head_gets_permits_released_in_two_steps(Semaphore::<Loom>::with_backend_fair(0)));
}

/// The twin: the barging semaphore lets the newcomer take the first permit past the waiter.
#[test]
fn barging_semaphore_lets_a_newcomer_past_its_head() {
    check_fails(BARGED, || {
        a_fair_head_gets_permits_released_in_two_steps(Semaphore::<Loom>::with_backend(0))
    });
}

/// Fair mode: the head waits for two permits with a timeout, and one permit comes (kept for
/// it); the main thread then asks for one and queues behind it. Only one permit ever comes, so
/// the head times out, and the permit kept for it must reach the waiter behind.
fn a_timed_out_fair_head_passes_its_permits_on<B: Backend>(sem: Semaphore<B>) {
    let sem = Arc::new(sem);
    let head = {
        let sem = Arc::clone(&sem);
        thread::spawn(move || sem.acquire_many_timeout(2, std::time::Duration::from_millis(1)).is_some())
    };
    until_someone_waits(&sem);
    sem.add_permits(1);
    sem.acquire().forget();
    assert!(!head.join().unwrap(), "the head got two permits of the one that came");
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn fair_semaphore_timed_out_head_passes_its_permits_on() {
    check(|| a_timed_out_fair_head_passes_its_permits_on(Semaphore::<Loom>::with_backend_fair(0)));
}

/// The twin: a head that leaves at its deadline without passing the permits kept for it on
/// strands the waiter behind it beside them.
#[test]
fn fair_semaphore_timed_out_head_that_keeps_its_permits_strands_the_next() {
    check_fails(DEADLOCK, || {
        a_timed_out_fair_head_passes_its_permits_on(
            Semaphore::<Loom>::with_backend_fair_keeping_permits_on_timeout(0),
        )
    });
}

/// A semaphore of one permit as a lock, with the main thread's permit owned: taken here,
/// returned by another thread. The other holder must see the main thread's bump, which only the
/// permit orders: `bump` is spawned before the main thread touches the counter.
fn an_owned_permit_returned_elsewhere_orders_its_holders<B: Backend>() {
    let sem = Arc::new(Semaphore::<B>::with_backend(1));
    let counter = Arc::new(Message(UnsafeCell::new(0)));
    let bump = {
        let (sem, counter) = (Arc::clone(&sem), Arc::clone(&counter));
        thread::spawn(move || {
            let _permit = sem.acquire();
            // SAFETY: one permit: no other holder touches the counter meanwhile.
            counter.0.with_mut(|v| unsafe { *v += 1 });
        })
    };
    let permit = sem.acquire_owned();
    // SAFETY: as above.
    counter.0.with_mut(|v| unsafe { *v += 1 });
    let returner = thread::spawn(move || drop(permit));
    returner.join().unwrap();
    bump.join().unwrap();
    // SAFETY: both holders are done.
    assert_eq!(counter.0.with(|v| unsafe { *v }), 2);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn semaphore_owned_permit_returned_on_another_thread_orders_its_holders() {
    check_bounded(THREE, an_owned_permit_returned_elsewhere_orders_its_holders::<Loom>);
}

#[test]
fn semaphore_owned_permit_without_release_lets_holders_race() {
    check_fails_bounded(
        THREE,
        RACE,
        an_owned_permit_returned_elsewhere_orders_its_holders::<Loom<NoRelease>>,
    );
}
