//! Models of the modelled futex itself: it must allow what the kernel allows.

use std::sync::atomic::{AtomicBool, Ordering};

use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, Loom, NoRelease, Word};

use crate::{check, check_fails, RACE};

/// A word to sleep on, a cell the waker writes before it wakes, and whether the waiter is done
/// (a plain flag outside the model, so that the waker stops trying to wake once nobody will sleep).
struct Mailbox<B: Backend> {
    word: B::Word,
    letter: UnsafeCell<u32>,
    done: AtomicBool,
}

// SAFETY: the cell is loom's: it checks every access for a race, which is what the models test.
unsafe impl<B: Backend> Sync for Mailbox<B> {}

fn mailbox<B: Backend>() -> Arc<Mailbox<B>> {
    Arc::new(Mailbox { word: B::Word::new(0), letter: UnsafeCell::new(0), done: AtomicBool::new(false) })
}

/// Wakes until somebody was woken or the waiter is done (so that a wake which came too early
/// cannot deadlock the model).
fn wake_until_someone_wakes<B: Backend>(mailbox: &Mailbox<B>) {
    while !mailbox.done.load(Ordering::SeqCst) && B::futex_wake(&mailbox.word, u32::MAX, 1) == 0 {
        thread::yield_now();
    }
}

/// A waiter that trusts the wake: it waits once, then reads what the waker wrote before waking,
/// although the word never changed. On the real machine `FUTEX_WAIT` may return spuriously and a
/// wake orders nothing, so this read races the write; the model must find that race.
fn waiter_that_trusts_the_wake<B: Backend>() {
    let mailbox = mailbox::<B>();
    let waker = {
        let mailbox = Arc::clone(&mailbox);
        thread::spawn(move || {
            mailbox.letter.with_mut(|letter| unsafe { *letter = 1 });
            wake_until_someone_wakes::<B>(&mailbox);
        })
    };
    B::futex_wait(&mailbox.word, 0, u32::MAX, None);
    // SAFETY (of the model, not of the code it stands for): loom checks this read.
    let _ = mailbox.letter.with(|letter| unsafe { *letter });
    mailbox.done.store(true, Ordering::SeqCst);
    waker.join().unwrap();
}

/// The right way: the waker publishes through the word with Release and the waiter reads the word
/// with Acquire until it changes.
fn waiter_that_reads_the_word<B: Backend>() {
    let mailbox = mailbox::<B>();
    let waker = {
        let mailbox = Arc::clone(&mailbox);
        thread::spawn(move || {
            mailbox.letter.with_mut(|letter| unsafe { *letter = 1 });
            mailbox.word.store(1, Ordering::Release);
            B::futex_wake(&mailbox.word, u32::MAX, 1);
        })
    };
    while mailbox.word.load(Ordering::Acquire) == 0 {
        B::futex_wait(&mailbox.word, 0, u32::MAX, None);
    }
    assert_eq!(mailbox.letter.with(|letter| unsafe { *letter }), 1);
    waker.join().unwrap();
}

#[test]
fn a_waiter_that_trusts_the_wake_is_caught() {
    check_fails(RACE, waiter_that_trusts_the_wake::<Loom>);
}

#[test]
fn a_waiter_that_reads_the_word_is_sound() {
    check(waiter_that_reads_the_word::<Loom>);
}

#[test]
fn a_word_written_without_release_does_not_publish() {
    check_fails(RACE, waiter_that_reads_the_word::<Loom<NoRelease>>);
}

/// Some interleaving has an untimed wait return on its own: the waker changes the word before it
/// wakes, so a waiter that comes back and can still read the old value was not woken.
#[test]
fn an_untimed_wait_can_return_spuriously() {
    let spurious = Arc::new(AtomicBool::new(false));
    let record = Arc::clone(&spurious);
    check(move || {
        let word = Arc::new(<Loom as Backend>::Word::new(0));
        let waker = {
            let word = Arc::clone(&word);
            thread::spawn(move || {
                word.store(1, Ordering::Relaxed);
                Loom::futex_wake(&word, u32::MAX, 1);
            })
        };
        Loom::futex_wait(&word, 0, u32::MAX, None);
        // Relaxed: a woken waiter is ordered after the store by the modelled kernel and must
        // read 1; only one that returned on its own can still read 0.
        if word.load(Ordering::Relaxed) == 0 {
            record.store(true, Ordering::Relaxed);
        }
        waker.join().unwrap();
    });
    assert!(spurious.load(Ordering::Relaxed), "no interleaving had a wait return on its own");
}
