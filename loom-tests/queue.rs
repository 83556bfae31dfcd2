//! Models of the wait queues themselves (`machine/queue.rs`), through the hidden
//! `backend::queue_models` entry points: the same code the primitives park on.
//!
//! Keys are plain numbers here: under loom every key shares the table's one bucket, so the walks
//! skip other keys' waiters as they do in a shared bucket on the real machine.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::thread;
use turnstile::backend::queue_models::{self as queue, Parked, Pick, Requeue};
use turnstile::backend::{
    Backend, BlindWait, ForgetfulWake, Lifo, Loom, LostRequeue, NoRelease, PickedTimesOut, StaleMore,
    ValidateUnlocked, Word,
};

use crate::{check, check_bounded, check_fails, check_fails_bounded, Arrivals, DEADLOCK, RACE};

const KEY: usize = 0x1000;
const OTHER: usize = 0x2000;

/// The requeue model's assertion when a moved waiter is not in its new key's line.
const STRANDED: &str = "a waiter reported moved is not on its new key";

/// Preemptions for the three-thread models.
const THREE: usize = 2;

/// Wakes the oldest waiter of `key`, handing it `token`; how many were woken (0 or 1).
fn unpark_one<B: Backend>(key: usize, token: u32) -> usize {
    let mut picked = false;
    let one = move |_| if std::mem::replace(&mut picked, true) { Pick::Stop } else { Pick::Wake };
    queue::unpark::<B>(key, one, |_| token).woken
}

/// A `validate` that counts the waiter in (under the bucket lock, as it queues) and lets it queue.
fn count_in(queued: &Arrivals) -> impl FnOnce() -> bool + '_ {
    move || {
        queued.arrive();
        true
    }
}

/// The parker validates "the word is still 0"; the unparker sets it to 1 and then unparks. Either
/// the validation sees 1 (and the parker never sleeps) or the unpark finds the parker queued.
fn no_lost_unpark<B: Backend>() {
    let word = Arc::new(B::Word::new(0));
    let unparker = {
        let word = Arc::clone(&word);
        thread::spawn(move || {
            word.store(1, SeqCst);
            unpark_one::<B>(KEY, 7)
        })
    };
    let parked = queue::park::<B>(KEY, || word.load(SeqCst) == 0, 1, None, |_| unreachable!("untimed"));
    let woken = unparker.join().unwrap();
    match parked {
        Parked::Woken(token) => assert_eq!((token, woken), (7, 1)),
        Parked::Invalid => assert_eq!(woken, 0),
        Parked::TimedOut => unreachable!("untimed"),
    }
}

#[test]
fn a_park_racing_an_unpark_is_not_lost() {
    check(no_lost_unpark::<Loom>);
}

#[test]
fn validating_outside_the_bucket_lock_loses_the_unpark() {
    check_fails(DEADLOCK, no_lost_unpark::<Loom<ValidateUnlocked>>);
}

#[test]
fn a_forgotten_wake_of_the_node_word_is_caught() {
    check_fails(DEADLOCK, no_lost_unpark::<Loom<ForgetfulWake>>);
}

#[test]
fn a_node_that_sleeps_without_looking_at_its_word_is_caught() {
    check_fails(DEADLOCK, no_lost_unpark::<Loom<BlindWait>>);
}

/// A waiter with a deadline and an unparker: if the unpark reports that it woke the waiter, the
/// waiter reports that it was woken, with the token (a pick is not lost to the deadline).
fn a_pick_outlasts_the_deadline<B: Backend>() {
    let unparker = thread::spawn(|| unpark_one::<B>(KEY, 4));
    let parked = queue::park::<B>(KEY, || true, 1, Some(Instant::now()), |_| {});
    let woken = unparker.join().unwrap();
    if woken == 1 {
        assert_eq!(parked, Parked::Woken(4), "the unpark said it woke the waiter, which timed out");
    } else {
        assert_eq!(parked, Parked::TimedOut);
    }
}

#[test]
fn a_waiter_picked_as_its_deadline_passes_is_woken() {
    check(a_pick_outlasts_the_deadline::<Loom>);
}

#[test]
fn a_waiter_that_times_out_once_picked_is_caught() {
    check_fails("the unpark said it woke the waiter", a_pick_outlasts_the_deadline::<Loom<PickedTimesOut>>);
}

/// Two waiters: `a` untimed, `b` with a deadline that nobody meets (the unparker picks only `a`'s
/// park token). The ledger, written under the bucket lock in `validate` and the callbacks, says
/// who is queued; `b`'s `timed_out(more)` and the unpark's `more` must agree with it exactly.
fn timed_out_waiter_leaves_and_more_is_exact<B: Backend>() {
    // Plain flags: loom runs one thread at a time, and each is written under the bucket lock.
    struct Ledger {
        a_queued: AtomicBool,
        a_woken: AtomicBool,
        b_queued: AtomicBool,
        b_left: AtomicBool,
    }
    let ledger = Arc::new(Ledger {
        a_queued: AtomicBool::new(false),
        a_woken: AtomicBool::new(false),
        b_queued: AtomicBool::new(false),
        b_left: AtomicBool::new(false),
    });
    let a_in = Arrivals::new();
    let a = {
        let (ledger, a_in) = (Arc::clone(&ledger), Arc::clone(&a_in));
        thread::spawn(move || {
            let validate = || {
                count_in(&a_in)();
                !ledger.a_queued.swap(true, SeqCst)
            };
            queue::park::<B>(KEY, validate, 1, None, |_| unreachable!("untimed"))
        })
    };
    let b = {
        let ledger = Arc::clone(&ledger);
        thread::spawn(move || {
            let validate = || !ledger.b_queued.swap(true, SeqCst);
            let timed_out = |more: bool| {
                ledger.b_left.store(true, SeqCst);
                let a_waits = ledger.a_queued.load(SeqCst) && !ledger.a_woken.load(SeqCst);
                assert_eq!(more, a_waits, "the timed-out waiter's `more`");
            };
            queue::park::<B>(KEY, validate, 2, Some(Instant::now()), timed_out)
        })
    };
    // Wake `a` (park token 1) once it is queued; `b` is skipped and must time out.
    a_in.wait_for(1, 0);
    let only_a = |theirs| if theirs == 1 { Pick::Wake } else { Pick::Skip };
    let result = queue::unpark::<B>(KEY, only_a, |r| {
        let b_waits = ledger.b_queued.load(SeqCst) && !ledger.b_left.load(SeqCst);
        assert_eq!(r.more, b_waits, "the unpark's `more`");
        ledger.a_woken.store(r.woken == 1, SeqCst);
        5
    });
    assert_eq!(result.woken, 1);
    assert_eq!(a.join().unwrap(), Parked::Woken(5));
    assert_eq!(b.join().unwrap(), Parked::TimedOut);
    let last = queue::unpark::<B>(KEY, |_| Pick::Wake, |_| 0);
    assert_eq!((last.woken, last.more), (0, false), "the timed-out waiter is still in the line");
}

#[test]
fn a_timed_out_waiter_leaves_the_line_and_more_is_exact() {
    check_bounded(THREE, timed_out_waiter_leaves_and_more_is_exact::<Loom>);
}

#[test]
fn a_timed_out_waiter_that_counts_itself_is_caught() {
    check_fails_bounded(
        THREE,
        "the timed-out waiter's `more`",
        timed_out_waiter_leaves_and_more_is_exact::<Loom<StaleMore>>,
    );
}

/// Two waiters on `KEY` (with `OTHER`'s line holding nobody); once both are queued, a requeue
/// moves them to `OTHER` (or wakes the oldest and moves the other), and unparking `OTHER` wakes
/// whoever was moved.
fn requeue_then_unpark<B: Backend>(how: Requeue) {
    let queued = Arrivals::new();
    let waiters: Vec<_> = (1..=2)
        .map(|token| {
            let queued = Arc::clone(&queued);
            thread::spawn(move || queue::park::<B>(KEY, count_in(&queued), token, None, |_| unreachable!()))
        })
        .collect();
    queued.wait_for(2, 0);
    let done = queue::requeue::<B>(KEY, OTHER, || how, |_, _| 9);
    let expected = if how == Requeue::MoveAll { (0, 2) } else { (1, 1) };
    assert_eq!((done.woken, done.moved), expected);
    let rest = queue::unpark::<B>(OTHER, |_| Pick::Wake, |_| 8);
    assert_eq!((rest.woken, rest.more), (done.moved, false), "{STRANDED}");
    for waiter in waiters {
        assert!(matches!(waiter.join().unwrap(), Parked::Woken(8 | 9)));
    }
}

#[test]
fn requeue_moves_every_waiter() {
    check_bounded(THREE, || requeue_then_unpark::<Loom>(Requeue::MoveAll));
}

#[test]
fn requeue_wakes_one_and_moves_the_rest() {
    check_bounded(THREE, || requeue_then_unpark::<Loom>(Requeue::WakeOneMoveRest));
}

#[test]
fn a_requeue_that_strands_its_waiters_is_caught() {
    check_fails_bounded(THREE, STRANDED, || requeue_then_unpark::<Loom<LostRequeue>>(Requeue::MoveAll));
}

#[test]
fn a_wake_one_move_rest_that_strands_the_rest_is_caught() {
    check_fails_bounded(THREE, STRANDED, || {
        requeue_then_unpark::<Loom<LostRequeue>>(Requeue::WakeOneMoveRest)
    });
}

/// The first waiter queues; the second parks only once the first is queued. Unparked one at a
/// time, the first comes out first.
fn first_in_first_out<B: Backend>() {
    let queued = Arrivals::new();
    let first = {
        let queued = Arc::clone(&queued);
        thread::spawn(move || queue::park::<B>(KEY, count_in(&queued), 1, None, |_| unreachable!()))
    };
    let second = {
        let queued = Arc::clone(&queued);
        thread::spawn(move || {
            queued.wait_for(1, 1);
            queue::park::<B>(KEY, count_in(&queued), 2, None, |_| unreachable!())
        })
    };
    queued.wait_for(2, 0);
    let mut order = Vec::new();
    for _ in 0..2 {
        let mut seen = None;
        let one = |theirs| {
            if seen.is_some() {
                return Pick::Stop;
            }
            seen = Some(theirs);
            Pick::Wake
        };
        queue::unpark::<B>(KEY, one, |_| 3);
        order.extend(seen);
    }
    first.join().unwrap();
    second.join().unwrap();
    assert_eq!(order, [1, 2], "woken out of order");
}

#[test]
fn waiters_of_one_key_leave_in_the_order_they_came() {
    check_bounded(THREE, first_in_first_out::<Loom>);
}

#[test]
fn a_last_come_first_served_line_is_caught() {
    check_fails_bounded(THREE, "woken out of order", first_in_first_out::<Loom<Lifo>>);
}

/// What a waker wrote before its unpark, the waiter it woke reads after its park returns; and the
/// token the waker's callback chose is the one the waiter gets.
fn the_woken_waiter_gets_the_token_and_the_writes<B: Backend>() {
    struct Letter(UnsafeCell<u32>);
    // SAFETY: loom's cell checks every access for a race, which is what the model tests.
    unsafe impl Sync for Letter {}
    let letter = Arc::new(Letter(UnsafeCell::new(0)));
    // Set under the bucket lock as the waiter queues (a loom atomic: the waker spins on it).
    let queued = Arc::new(loom::sync::atomic::AtomicBool::new(false));
    let waker = {
        let (letter, queued) = (Arc::clone(&letter), Arc::clone(&queued));
        thread::spawn(move || {
            // SAFETY (of the model): loom checks this write against the waiter's read.
            letter.0.with_mut(|v| unsafe { *v = 42 });
            while !queued.load(SeqCst) {
                thread::yield_now();
            }
            assert_eq!(unpark_one::<B>(KEY, 7), 1);
        })
    };
    let validate = || {
        queued.store(true, SeqCst);
        true
    };
    assert_eq!(queue::park::<B>(KEY, validate, 1, None, |_| unreachable!()), Parked::Woken(7));
    // SAFETY (of the model): as above.
    assert_eq!(letter.0.with(|v| unsafe { *v }), 42);
    waker.join().unwrap();
}

#[test]
fn the_woken_waiter_gets_its_token_and_the_wakers_writes() {
    check(the_woken_waiter_gets_the_token_and_the_writes::<Loom>);
}

#[test]
fn a_wake_that_publishes_nothing_is_caught() {
    check_fails(RACE, the_woken_waiter_gets_the_token_and_the_writes::<Loom<NoRelease>>);
}
