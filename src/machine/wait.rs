//! Sleeping on a 32-bit atomic word: `wait`, `wake`, `requeue`, and deadlines.
//!
//! This is the futex contract, which every sleeping primitive in the crate is built on:
//! `wait(word, expected, deadline)` puts the thread to sleep *only if* `word` still holds
//! `expected`, and the check and the sleep are one atomic step with respect to `wake_*`. A thread
//! that changes the word and then wakes can therefore never slip its wake in between a waiter's
//! check and its sleep: that window is what makes hand-rolled "check a flag, then sleep" code
//! lose wakeups.
//!
//! * On Linux this is `futex(2)` itself, with an absolute `CLOCK_MONOTONIC` deadline so that a
//!   wait interrupted by a signal resumes with the same deadline, not a fresh timeout. The
//!   default backend uses the private operations (`FUTEX_PRIVATE_FLAG`: the kernel keys sleepers
//!   by this process's address space and skips the page lookup); the
//!   [`ProcessShared`](crate::backend::ProcessShared) backend uses the shared ones, keyed by the
//!   physical page, so that sleepers in processes that map the same page meet.
//! * Elsewhere it is `parking_lot_core`'s `park`/`unpark` keyed by the word's address; `park`
//!   re-checks the word under the queue's lock, which gives the same atomicity.
//!
//! `wait` may return spuriously; every caller loops on its own condition.
//!
//! **A kernel that refuses.** A seccomp filter (or an odd kernel) may answer a futex call with
//! ENOSYS or EPERM, every time. None of that turns into a spin or a hang here: a refused wait
//! sleeps a short while and returns as a spurious wake would (its caller polls: slow, correct);
//! a refused requeue wakes the sleepers instead of moving them (a thundering herd, correct);
//! only EAGAIN, "the word had changed", makes `requeue` report `None` for a retry.
//!
//! Each sleeper carries a 32-bit *mask*, and a `wake` names a mask too: it wakes only sleepers
//! whose mask shares a bit with its own (`FUTEX_WAIT_BITSET`/`FUTEX_WAKE_BITSET`; a park token
//! and `unpark_filter` elsewhere). A lock whose waiters wait for different things on one word
//! (the fair readers-writer lock: "my writer has finished", "all before me have finished") wakes
//! only the waiters whose turn may have come. [`ALL`] is every bit: a plain wait or wake.

use core::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
pub(crate) use futex::private::{requeue, wait, wake};
#[cfg(target_os = "linux")]
pub(crate) use futex::shared;
#[cfg(not(target_os = "linux"))]
pub(crate) use parked::{requeue, wait, wake};

/// The mask that matches every other: a wait or wake that does not single anyone out.
pub(crate) const ALL: u32 = u32::MAX;

/// The deadline `timeout` from now; `None` when that is too far to represent (wait forever).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(target_os = "linux")]
mod futex {
    use super::*;

    /// Which sleepers a futex operation meets: the one `FUTEX_PRIVATE_FLAG` or none, passed as a
    /// constant by the two modules below, so each compiles to its own flag.
    type Scope = i32;
    const PRIVATE: Scope = libc::FUTEX_PRIVATE_FLAG;
    const SHARED: Scope = 0;

    macro_rules! scoped {
        ($(#[$doc:meta])* $name:ident => $scope:expr) => {
            $(#[$doc])*
            pub(crate) mod $name {
                use super::*;

                #[inline]
                pub(crate) fn wait(word: &AtomicU32, expected: u32, mask: u32, deadline: Option<Instant>) -> bool {
                    super::wait(word, expected, mask, deadline, $scope)
                }
                #[inline]
                pub(crate) fn wake(word: &AtomicU32, mask: u32, count: usize) -> usize {
                    super::wake(word, mask, count, $scope)
                }
                #[inline]
                pub(crate) fn requeue(from: &AtomicU32, expected: u32, to: &AtomicU32) -> Option<usize> {
                    super::requeue(from, expected, to, $scope)
                }
            }
        };
    }

    scoped! {
        /// Sleepers of this process only: the default backend.
        private => PRIVATE
    }
    scoped! {
        /// Sleepers of every process that maps the word's page: the `ProcessShared` backend.
        shared => SHARED
    }

    /// Sleeps while `*word == expected`, wakeable by wakes whose mask meets `mask` (nonzero);
    /// `false` only if `deadline` passed.
    #[inline]
    fn wait(word: &AtomicU32, expected: u32, mask: u32, deadline: Option<Instant>, scope: Scope) -> bool {
        debug_assert_ne!(mask, 0, "a sleeper nobody could wake");
        // None means "no deadline"; Some(None) means the deadline is already behind us.
        let timeout = deadline.map(absolute_monotonic);
        loop {
            // Relaxed: the kernel re-reads the word under its own lock; this load only saves a
            // syscall when the value has already moved on.
            if word.load(Ordering::Relaxed) != expected {
                return true;
            }
            let timespec_ptr = match &timeout {
                None => core::ptr::null(),
                Some(None) => return false,
                Some(Some(ts)) => ts as *const libc::timespec,
            };
            // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (no FUTEX_CLOCK_REALTIME).
            // SAFETY: `word` is a live AtomicU32 (we hold a reference) that the kernel only reads;
            // `timespec_ptr` is null or points to a timespec that outlives the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_WAIT_BITSET | scope,
                    expected,
                    timespec_ptr,
                    core::ptr::null::<u32>(),
                    mask,
                )
            };
            if r == 0 {
                return true;
            }
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ETIMEDOUT) => return false,
                Some(libc::EINTR) => continue,
                // EAGAIN: the word no longer held `expected` when the kernel looked.
                Some(libc::EAGAIN) => return true,
                // Anything else is the kernel refusing to wait at all (a seccomp filter that
                // answers ENOSYS or EPERM, say), and it will refuse every retry too. Returning at
                // once would make each caller's loop a busy spin for as long as it waits.
                _ => return refused_wait(deadline),
            }
        }
    }

    /// How long a wait the kernel refused sleeps before it returns as if woken.
    const REFUSED_WAIT_POLL: Duration = Duration::from_micros(500);

    /// Stands in for a wait the kernel refused: sleeps a short while (never past `deadline`)
    /// and returns as a spurious wake would, so that the caller re-checks its word. Every caller
    /// loops on its own condition, so this is a correct wait that polls: slow, but no spin,
    /// and no wake is lost (a wake the kernel refused too would reach nobody anyway).
    #[cold]
    fn refused_wait(deadline: Option<Instant>) -> bool {
        let pause = match deadline {
            None => REFUSED_WAIT_POLL,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(REFUSED_WAIT_POLL),
                _ => return false,
            },
        };
        std::thread::sleep(pause);
        true
    }

    /// Miri has no `FUTEX_CMP_REQUEUE`: there the sleepers are woken instead of moved, which a
    /// caller must tolerate anyway (every woken thread re-checks its own word).
    #[cfg(miri)]
    fn requeue(from: &AtomicU32, expected: u32, _to: &AtomicU32, scope: Scope) -> Option<usize> {
        // Relaxed: as in `wait`, a syscall-saving look; the woken threads re-read their words.
        (from.load(Ordering::Relaxed) == expected).then(|| wake(from, ALL, usize::MAX, scope))
    }

    /// `FUTEX_CMP_REQUEUE`: wakes none, moves every sleeper of `from` to `to` if `*from == expected`.
    ///
    /// `None` only for EAGAIN, "`*from` was not `expected`", which a retry with the new value
    /// can fix. Any other error is the kernel refusing the operation (a seccomp filter answering
    /// ENOSYS or EPERM, a kernel built without it), which every retry would meet again: then the
    /// sleepers are woken instead of moved, as under Miri, and the count woken is returned.
    #[cfg(not(miri))]
    #[inline]
    fn requeue(from: &AtomicU32, expected: u32, to: &AtomicU32, scope: Scope) -> Option<usize> {
        // The fourth argument is the requeue limit, passed where a timeout would go.
        let all = i32::MAX as usize as *const libc::timespec;
        // SAFETY: the kernel reads `*from` (a live AtomicU32) for the comparison and uses both
        // addresses only as keys to find sleepers; nothing else is read or written.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                from.as_ptr(),
                libc::FUTEX_CMP_REQUEUE | scope,
                0,
                all,
                to.as_ptr(),
                expected,
            )
        };
        if let Ok(moved) = usize::try_from(r) {
            return Some(moved);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => None,
            _ => Some(refused_requeue(from, scope)),
        }
    }

    /// Stands in for a requeue the kernel refused: wakes every sleeper of `from`. A caller must
    /// tolerate this anyway (every woken thread re-checks its own word); it costs the thundering
    /// herd that requeueing avoids, instead of a retry loop that would never end.
    #[cfg(not(miri))]
    #[cold]
    fn refused_requeue(from: &AtomicU32, scope: Scope) -> usize {
        wake(from, ALL, usize::MAX, scope)
    }

    /// Wakes up to `count` sleepers on `word` whose mask meets `mask`; returns how many.
    #[inline]
    fn wake(word: &AtomicU32, mask: u32, count: usize, scope: Scope) -> usize {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        // SAFETY: FUTEX_WAKE_BITSET only uses the address as a key to find sleepers; it neither
        // reads nor writes memory through it, and `word` is a live reference anyway.
        let woken = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE_BITSET | scope,
                count,
                core::ptr::null::<libc::timespec>(),
                core::ptr::null::<u32>(),
                mask,
            )
        };
        // An error is the kernel refusing the wake; it refuses the waits too then (a filter
        // that lets threads sleep but never wakes them leaves no correct path), and those poll.
        usize::try_from(woken).unwrap_or(0)
    }

    /// `deadline` on CLOCK_MONOTONIC (which is what `Instant` measures on Linux); `None` if
    /// it has already passed. A deadline too far away to represent saturates.
    fn absolute_monotonic(deadline: Instant) -> Option<libc::timespec> {
        let remaining = deadline.checked_duration_since(Instant::now())?;
        if remaining.is_zero() {
            return None;
        }
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let nanos = now.tv_nsec as u64 + u64::from(remaining.subsec_nanos());
        // Checked all the way, time_t being 32 bits on some targets: a sum that does not fit
        // saturates to the far future instead of wrapping into the past.
        let secs = libc::time_t::try_from(remaining.as_secs())
            .ok()
            .and_then(|s| now.tv_sec.checked_add(s))
            .and_then(|s| s.checked_add(libc::time_t::from(nanos >= 1_000_000_000)));
        Some(match secs {
            Some(tv_sec) => libc::timespec { tv_sec, tv_nsec: (nanos % 1_000_000_000) as libc::c_long },
            None => libc::timespec { tv_sec: libc::time_t::MAX, tv_nsec: 999_999_999 },
        })
    }
}

#[cfg(any(not(target_os = "linux"), test))]
mod parked {
    use super::*;
    use parking_lot_core::{FilterOp, ParkResult, ParkToken, RequeueOp, DEFAULT_UNPARK_TOKEN};

    fn key(word: &AtomicU32) -> usize {
        word as *const AtomicU32 as usize
    }

    /// Sleeps while `*word == expected`, wakeable by wakes whose mask meets `mask` (the park
    /// token); `false` only if `deadline` passed.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, mask: u32, deadline: Option<Instant>) -> bool {
        // `validate` runs under the queue lock, so the comparison and the enqueue are atomic with
        // respect to `unpark_*` (and Relaxed suffices for the load: the lock orders it).
        // SAFETY: the key is the word's address, used with one meaning by this module only; the
        // closures neither panic nor call into parking_lot_core.
        let result = unsafe {
            parking_lot_core::park(
                key(word),
                || word.load(Ordering::Relaxed) == expected,
                || {},
                |_, _| {},
                ParkToken(mask as usize),
                deadline,
            )
        };
        !matches!(result, ParkResult::TimedOut)
    }

    /// Wakes up to `count` sleepers on `word` whose mask meets `mask`, oldest first.
    pub(crate) fn wake(word: &AtomicU32, mask: u32, count: usize) -> usize {
        let mut picked = 0;
        let filter = |ParkToken(theirs)| {
            if picked == count {
                FilterOp::Stop
            } else if theirs as u32 & mask == 0 {
                FilterOp::Skip
            } else {
                picked += 1;
                FilterOp::Unpark
            }
        };
        // SAFETY: same key discipline as in `wait`; the closures do not panic or re-enter.
        unsafe { parking_lot_core::unpark_filter(key(word), filter, |_| DEFAULT_UNPARK_TOKEN) }
            .unparked_threads
    }

    pub(crate) fn requeue(from: &AtomicU32, expected: u32, to: &AtomicU32) -> Option<usize> {
        // `validate` runs with both queues locked, so the comparison is atomic with respect to
        // `wait` on `from`, as the kernel's is. Relaxed: the queue lock orders it.
        let validate = || {
            if from.load(Ordering::Relaxed) == expected {
                RequeueOp::RequeueAll
            } else {
                RequeueOp::Abort
            }
        };
        let mut matched = false;
        let callback = |op, _| {
            matched = op == RequeueOp::RequeueAll;
            DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: same key discipline as in `wait`; the closures do not panic or re-enter.
        let result = unsafe { parking_lot_core::unpark_requeue(key(from), key(to), validate, callback) };
        matched.then_some(result.requeued_threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    macro_rules! contract_tests {
        ($name:ident: $($imp:ident)::+) => {
            mod $name {
                use $($imp)::+::{requeue, wake};
                use super::*;

                fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> bool {
                    $($imp)::+::wait(word, expected, ALL, deadline)
                }
                fn wake_one(word: &AtomicU32) -> usize {
                    wake(word, ALL, 1)
                }
                fn wake_many(word: &AtomicU32, count: usize) -> usize {
                    wake(word, ALL, count)
                }
                fn wake_all(word: &AtomicU32) -> usize {
                    wake(word, ALL, usize::MAX)
                }

                #[test]
                fn wait_returns_at_once_when_the_value_differs() {
                    let word = AtomicU32::new(1);
                    assert!(wait(&word, 0, None));
                }

                #[test]
                fn wait_times_out_when_nobody_wakes() {
                    let word = AtomicU32::new(0);
                    assert!(!wait(&word, 0, deadline_after(Duration::from_millis(1))));
                }

                #[test]
                fn wait_with_a_past_deadline_times_out() {
                    let word = AtomicU32::new(0);
                    let past = Instant::now();
                    assert!(!wait(&word, 0, Some(past)));
                }

                #[test]
                fn wake_without_waiters_wakes_nobody() {
                    let word = AtomicU32::new(0);
                    assert_eq!(wake_one(&word), 0);
                    assert_eq!(wake_many(&word, 2), 0);
                    assert_eq!(wake_all(&word), 0);
                }

                #[test]
                fn requeue_compares_the_source_word() {
                    let (from, to) = (AtomicU32::new(3), AtomicU32::new(0));
                    assert_eq!(requeue(&from, 3, &to), Some(0));
                    assert_eq!(requeue(&from, 4, &to), None);
                }

                #[test]
                // Miri wakes instead of requeueing (see `futex::requeue`).
                #[cfg_attr(miri, ignore)]
                fn a_requeued_sleeper_is_woken_through_the_target_word() {
                    let from = Arc::new(AtomicU32::new(0));
                    let to = Arc::new(AtomicU32::new(0));
                    let sleeper = {
                        let from = Arc::clone(&from);
                        std::thread::spawn(move || {
                            while from.load(Ordering::Acquire) == 0 {
                                wait(&from, 0, None);
                            }
                        })
                    };
                    // Move the sleeper until one was moved, then wake it only through `to`.
                    // A sleeper not yet asleep sees `from` change and leaves on its own.
                    let mut moved = 0;
                    while moved == 0 && !sleeper.is_finished() {
                        moved = requeue(&from, 0, &to).unwrap();
                        std::thread::yield_now();
                    }
                    from.store(1, Ordering::Release);
                    if moved == 1 {
                        assert_eq!(wake_all(&from), 0, "the sleeper no longer sleeps on `from`");
                        while wake_one(&to) == 0 {
                            std::thread::yield_now();
                        }
                    }
                    sleeper.join().unwrap();
                }

                #[test]
                fn wake_many_wakes_at_most_that_many() {
                    let word = Arc::new(AtomicU32::new(0));
                    let sleepers: Vec<_> = (0..3)
                        .map(|_| {
                            let word = Arc::clone(&word);
                            std::thread::spawn(move || {
                                while word.load(Ordering::Acquire) == 0 {
                                    wait(&word, 0, None);
                                }
                            })
                        })
                        .collect();
                    // Each call wakes at most two, however many sleep.
                    for _ in 0..100 {
                        assert!(wake_many(&word, 2) <= 2);
                        std::thread::yield_now();
                    }
                    word.store(1, Ordering::Release);
                    wake_all(&word);
                    for s in sleepers {
                        s.join().unwrap();
                    }
                }

                #[test]
                fn a_wake_reaches_only_sleepers_whose_mask_it_meets() {
                    let word = Arc::new(AtomicU32::new(0));
                    let sleeper = {
                        let word = Arc::clone(&word);
                        std::thread::spawn(move || {
                            while word.load(Ordering::Acquire) == 0 {
                                $($imp)::+::wait(&word, 0, 0b01, None);
                            }
                        })
                    };
                    // The sleeper goes back to sleep after every wake (the word stays 0): each
                    // round, a wake of another mask must find nobody just before one of its own
                    // mask finds it asleep.
                    let mut found = 0;
                    while found < 3 {
                        assert_eq!(wake(&word, 0b10, usize::MAX), 0, "woke a sleeper of another mask");
                        found += wake(&word, 0b01, 1);
                        std::thread::yield_now();
                    }
                    word.store(1, Ordering::Release);
                    wake(&word, 0b01, usize::MAX);
                    sleeper.join().unwrap();
                }

                #[test]
                fn a_changed_word_plus_wake_releases_the_waiter() {
                    let word = Arc::new(AtomicU32::new(0));
                    let waiter = {
                        let word = Arc::clone(&word);
                        std::thread::spawn(move || {
                            while word.load(Ordering::Acquire) == 0 {
                                wait(&word, 0, None);
                            }
                        })
                    };
                    word.store(1, Ordering::Release);
                    wake_all(&word);
                    waiter.join().unwrap();
                }
            }
        };
    }

    #[cfg(target_os = "linux")]
    contract_tests!(futex: crate::wait::futex::private);
    #[cfg(target_os = "linux")]
    contract_tests!(futex_shared: crate::wait::futex::shared);
    // Not under Miri on Linux: there parking_lot_core's thread parker calls the variadic
    // `syscall(SYS_futex, &AtomicI32, ..)` with a reference where a `*mut u32` is declared, and
    // current Miri stops on that as undefined behaviour in the dependency (Miri's own check of
    // variadic argument types, not a fault of this layer). These tests still run natively here,
    // and under Miri on targets whose parker does not make that call.
    #[cfg(not(all(miri, target_os = "linux")))]
    contract_tests!(parked: crate::wait::parked);

    #[test]
    fn an_unrepresentable_deadline_is_none() {
        assert!(deadline_after(Duration::MAX).is_none());
        assert!(deadline_after(Duration::from_secs(1)).is_some());
    }
}
