//! The word each thread sleeps on in the wait queues: one per thread, kept for good.
//!
//! A waker wakes a waiter after releasing the bucket lock, and the waiter may have returned by
//! then (it saw its word change, and went on). If the word lived on the waiter's stack, the wake
//! would name memory that is gone, and the waiter would have to wait for its waker to finish
//! before leaving. So the word lives here instead: a thread takes one when it first parks and
//! gives it back when it ends, and words are never freed, so a late wake only ever reaches a
//! live word. At worst it wakes the word's next sleeper for nothing, which every sleeper already
//! absorbs (the OS may wake it spuriously too).
//!
//! The cost is one 4-byte word per thread that ever parked at the same time as others, kept in a
//! list of spares when its thread ends.

use core::sync::atomic::AtomicU32;

use crate::spin::SpinLock;

/// Words whose threads have ended, for the next thread that parks.
static SPARES: SpinLock<Vec<&'static AtomicU32>> = SpinLock::new(Vec::new());

/// A spare word, or a new one.
fn take() -> &'static AtomicU32 {
    SPARES.lock().pop().unwrap_or_else(|| Box::leak(Box::new(AtomicU32::new(0))))
}

/// Gives a word back to the spares.
fn give(word: &'static AtomicU32) {
    SPARES.lock().push(word);
}

/// A thread's word, given back when the thread ends.
struct Held(&'static AtomicU32);

impl Drop for Held {
    fn drop(&mut self) {
        give(self.0);
    }
}

std::thread_local! {
    static HELD: Held = Held(take());
}

std::thread_local! {
    /// Whose address names this thread. No destructor and a `const` initialiser, so it is there
    /// for the thread's whole life, its teardown too.
    static THREAD_ID: u8 = const { 0 };
}

/// A nonzero number naming the calling thread among the threads alive now: the address of its
/// own thread-local, which no other live thread shares. (Not its word above: while a thread is
/// torn down that is a spare lent for one call, which another thread may take next.)
#[inline]
pub(crate) fn thread_id() -> u64 {
    THREAD_ID.with(|mine| mine as *const u8 as usize as u64)
}

/// Runs `f` with the calling thread's word. While the thread is being torn down (its
/// thread-locals gone), a spare word serves for this call only.
pub(crate) fn with<R>(f: impl FnOnce(&'static AtomicU32) -> R) -> R {
    match HELD.try_with(|held| held.0) {
        Ok(word) => f(word),
        Err(_) => {
            let word = take();
            let result = f(word);
            give(word);
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn mine() -> usize {
        with(|word| word as *const AtomicU32 as usize)
    }

    #[test]
    fn a_thread_keeps_its_word_and_live_threads_share_none() {
        let first = mine();
        assert_eq!(mine(), first, "one word per thread");
        let both_alive = Barrier::new(2);
        let theirs = std::thread::scope(|s| {
            let theirs = s.spawn(|| {
                let theirs = mine();
                both_alive.wait();
                theirs
            });
            both_alive.wait();
            theirs.join().unwrap()
        });
        assert_ne!(theirs, first, "two live threads share no word");
    }
}
