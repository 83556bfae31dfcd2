//! A counting semaphore: Dijkstra's P and V over the crate's wait queues.
//!
//! A semaphore holds a number of permits. `acquire` (P, *proberen*, down, wait) takes one,
//! waiting while there are none; `add_permits` (V, *verhogen*, up, signal) puts some back and
//! wakes threads that can now proceed. The classic bounded buffer and dining philosophers are
//! built on it.
//!
//! **State.** Two words:
//!
//! | word      | over the wait queue ([`Real`]) | between processes (`ProcessShared`) |
//! |-----------|--------------------------------|-------------------------------------|
//! | `permits` | permits available (bits 0–30, at most [`Semaphore::MAX_PERMITS`]) and `PARKED` (bit 31: threads wait in this word's line) | permits available; sleepers sleep on it |
//! | `second`  | `FAIR` (bit 31): the mode, fixed at construction | threads that may sleep: wanting one permit (low 16 bits), wanting more (high 16 bits) |
//!
//! Uncontended, `acquire_many(n)` is one compare-exchange taking `n` off `permits` when there are
//! enough and `PARKED` is clear, and a release is one compare-exchange adding them back.
//!
//! **Waiting (in one process).** A thread that finds too few permits spins a little, then parks
//! in the wait queue keyed by the `permits` word, with its request `n` as its park token. Its
//! validation, run under the queue's bucket lock, sets `PARKED` and parks only if the permits are
//! still too few. A release adds its permits in one compare-exchange; only if that word had
//! `PARKED` does it take the bucket lock, and there it reads the permits now available and walks
//! the line oldest first. Because `PARKED` is set and cleared only under the bucket lock, and
//! cleared only when the line is empty, a release that finds it clear knows nobody waits and
//! pays nothing more; one that finds it set finds every waiter whose validation came before it,
//! and a validation after it sees its permits: no wakeup is lost.
//!
//! **Who is woken: barging mode** (the default, [`Semaphore::new`]). The release wakes the
//! waiters, oldest first, whose requests fit in the permits available, summing them; a request
//! that does not fit is skipped, so smaller ones behind it are woken (a large request can be
//! overtaken). Nobody is woken when nobody waits or when the permits fit nobody: with a waiter
//! for 2 and one for 1, a release of 1 wakes only the one for 1. A woken thread is not handed
//! permits: it takes them as any running thread does, and if a running thread took them first it
//! queues again at the tail. What can starve: a large request behind a stream of small ones, and
//! a woken waiter that keeps losing the race.
//!
//! **Fair mode** ([`Semaphore::new_fair`]): first come, first served, with permits assigned to
//! the head of the line. While anyone waits, newcomers do not take permits (not even
//! `try_acquire`): they queue at the tail. A release that finds waiters leaves its permits in
//! the word, reserved for the line; under the bucket lock it hands the head its whole request
//! (taking it off the word) when the reserved permits cover it, then the next, and stops at the
//! first request they do not cover. So a large request at the head is never overtaken: the
//! permits released after it reached the head are kept for it until it has enough, and it
//! waits only for the waiters ahead of it to be served and for its own `n` permits to be
//! released. A woken waiter already holds its permits. A waiter that times out while it is the
//! head leaves the reserved permits to the next in line (and, if it was the last, clears
//! `PARKED`, which frees them for anyone). In fair mode [`Semaphore::available_permits`] counts
//! permits reserved for the head while threads wait.
//!
//! **Between processes** (`ProcessShared`, which cannot use a queue of one process) the
//! semaphore is barging only, and sleeps on the kernel futex of the `permits` word, as follows.
//!
//! * A thread that finds too few permits spins, then yields, then counts itself in `second`,
//!   re-reads `permits` and sleeps on it while it holds the value it saw.
//! * `add_permits(k)` is one compare-exchange adding `k`, then a look at `second`: if nobody
//!   may sleep it is done, with no system call. Otherwise it wakes `k` of the one-permit sleepers,
//!   or all of them if any sleeper wants several (the futex cannot tell which of those the `k`
//!   permits would satisfy).
//!
//! **The invariant between processes:** a thread sleeps only while `permits` holds the value it
//! saw after counting itself in `second`, and a release changes `permits` before it reads the
//! count. Each side writes one word and then reads the other ("publish, then look"), and a plain
//! read could miss the other side's write on both sides at once: the lost wakeup. So the
//! sleeper's read of `permits` is a read-modify-write ([`Word::read_latest`], with `Release`), and
//! the release's compare-exchange has an `Acquire` half. Every write of `permits` is a
//! read-modify-write, so they are totally ordered: if the sleeper's look comes first, the
//! release's compare-exchange synchronizes with it and its load of the count sees it; if the
//! release comes first, the look reads the new permits. The loom model
//! `semaphore_with_a_plain_look_loses_a_wakeup` makes the look a plain load and loom finds the
//! lost wakeup.
//!
//! **Counts at their limits (between processes).** `second` packs two 16-bit counts. A thread
//! that wants one permit and finds its half full counts itself among those that want several (a
//! release then wakes everybody, which is correct for it too); a thread that finds both halves
//! full (65,535 threads of each kind waiting at once, or counts left behind by waiters killed
//! while counted) is not counted at all. No release owes it a wake, so it never sleeps untimed:
//! it naps for a millisecond at a time and looks at `permits` after each nap, until it gets its
//! permits or finds room to count itself. Nothing is lost or wraps; such a waiter only answers up
//! to a millisecond late. A thread that times out un-counts itself, after a last look at
//! `permits`, and leaves no trace.
//!
//! **What is always guaranteed:** no permit is ever lost or duplicated, a timed-out acquire takes
//! nothing, and while a waiter could proceed some thread is awake to take the permits.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Parked, Real, Word};
use crate::backoff::Backoff;
use crate::machine::queue::{self, Pick};

mod owned;
pub use owned::OwnedSemaphorePermit;

/// `permits` (queued backends): threads wait in the line of the `permits` word. Set and cleared
/// only under the bucket lock, cleared only when the line is empty.
const PARKED: u32 = 1 << 31;
/// `permits`: the count below `PARKED`.
const COUNT: u32 = PARKED - 1;
/// `second` (queued backends): the semaphore serves its waiters first come, first served.
const FAIR: u32 = 1 << 31;
/// `second`, loom models only: a fair waiter that times out leaves without passing the
/// permits reserved for it to the next in line (the broken path a model's twin runs).
#[cfg(feature = "loom")]
const KEEPS_ON_TIMEOUT: u32 = 1 << 30;
/// The token a fair release hands a waiter with its permits: they are taken for it.
const HANDED: u32 = 1;

/// `second` (between processes): one thread waiting for a single permit.
const ONE: u32 = 1;
/// `second` (between processes): one thread waiting for several permits.
const MANY: u32 = 1 << 16;
const COUNT_MASK: u32 = 0xffff;

/// How long a waiter that `sleepers` has no room to count naps before it looks at the permits
/// again (see the module docs: nobody would wake it).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// A counting semaphore: `acquire` takes a permit, waiting while there is none; `add_permits`
/// returns permits and wakes waiters.
///
/// Uncontended, acquire and release are one compare-exchange each, with no system call; a
/// release takes the wait queue's lock only when a thread waits, and wakes only waiters its
/// permits can satisfy. Barging by default; [`new_fair`](Self::new_fair) serves waiters in
/// order (see the [module docs](crate::semaphore) for both policies). 8 bytes.
///
/// **Where permits come from.** Only three places: the count [`new`](Self::new) starts with,
/// [`add_permits`](Self::add_permits), and the permits a [`SemaphorePermit`] returns when it
/// drops. The semaphore cannot know what will be added later, so a request for more than will
/// ever be there at once waits forever: `Semaphore::new(2)` that nobody adds to never satisfies
/// `acquire_many(3)`. A request for more than [`MAX_PERMITS`](Self::MAX_PERMITS), which no
/// semaphore can ever hold, panics at once, in every form (blocking, timed and `try_`: a `try_`
/// that answered `None` would only look like "not now", and a loop retrying it would spin
/// forever).
///
/// **Limits.** At most [`MAX_PERMITS`](Self::MAX_PERMITS) permits (more panics). Between
/// processes (`ProcessShared`) sleepers are counted in two 16-bit halves; past 65,535 waiters
/// wanting one permit the rest count as wanting several (every release then wakes all
/// sleepers), and past 65,535 of those a waiter is not counted: it re-checks the permits every
/// millisecond instead of sleeping until woken. A waiter killed while it sleeps stays counted
/// (it costs later releases a wake, and enough of them move new waiters to that millisecond
/// re-check); nothing wraps and no wakeup is lost.
///
/// A permit is returned when its [`SemaphorePermit`] drops, also when a panic unwinds. The
/// classic pattern, P in one thread and V in another, is [`SemaphorePermit::forget`] plus
/// [`add_permits`](Self::add_permits):
///
/// ```
/// use std::sync::Arc;
/// use turnstile::Semaphore;
///
/// // "full" counts items produced: the consumer's P waits for the producer's V.
/// let full = Arc::new(Semaphore::new(0));
/// let producer = {
///     let full = Arc::clone(&full);
///     std::thread::spawn(move || full.add_permits(1)) // V(full)
/// };
/// full.acquire().forget(); // P(full): the permit is consumed, not returned
/// producer.join().unwrap();
/// assert_eq!(full.available_permits(), 0);
/// ```
///
/// `#[repr(C)]`: the `u32` permit word at offset 0 and the second `u32` (the mode, or between
/// processes the sleeper count) at 4. Over the `ProcessShared` backend it works between
/// processes, in a [`shm::Region`](crate::shm::Region) (Linux): a bounded buffer's `empty` and
/// `full`.
#[repr(C)]
pub struct Semaphore<B: Backend = Real> {
    permits: B::Word,
    second: B::Word,
}

/// Permits taken from a [`Semaphore`]; they go back when this drops.
///
/// ```
/// let sem = turnstile::Semaphore::new(3);
/// let permit = sem.acquire_many(2);
/// assert_eq!(permit.num_permits(), 2);
/// assert_eq!(sem.available_permits(), 1);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 3);
/// ```
#[must_use = "if unused the permits are returned at once"]
pub struct SemaphorePermit<'a, B: Backend = Real> {
    semaphore: &'a Semaphore<B>,
    permits: u32,
    /// The word this permit's acquire left behind: uncontended, the word when it is returned,
    /// so the release's compare-exchange tries it first and needs no load.
    left: u32,
}

impl Semaphore {
    /// The most permits a semaphore can hold: 2³¹ − 1.
    ///
    /// ```
    /// use turnstile::Semaphore;
    /// assert_eq!(Semaphore::MAX_PERMITS, (1 << 31) - 1);
    /// ```
    pub const MAX_PERMITS: usize = (u32::MAX >> 1) as usize;

    /// A semaphore with `permits` permits, barging (see the [module docs](crate::semaphore)).
    /// `const`, so it can initialise a `static`.
    ///
    /// # Panics
    /// If `permits` is more than [`MAX_PERMITS`](Self::MAX_PERMITS); the message says both
    /// (in a `static`, the build fails with it).
    ///
    /// ```
    /// use turnstile::Semaphore;
    ///
    /// static SLOTS: Semaphore = Semaphore::new(2);
    /// let a = SLOTS.acquire();
    /// let b = SLOTS.acquire();
    /// assert!(SLOTS.try_acquire().is_none());
    /// drop((a, b));
    /// ```
    ///
    /// Too many permits in a `static` fail the build, with the count and the maximum in the
    /// message ("Semaphore::new(18446744073709551615): a semaphore holds at most
    /// Semaphore::MAX_PERMITS (2147483647) permits; ..."):
    ///
    /// ```compile_fail
    /// static TOO_MANY: turnstile::Semaphore = turnstile::Semaphore::new(usize::MAX);
    /// ```
    #[track_caller]
    pub const fn new(permits: usize) -> Self {
        if permits > Self::MAX_PERMITS {
            too_many_to_start("Semaphore::new(", permits);
        }
        Semaphore { permits: AtomicU32::new(permits as u32), second: AtomicU32::new(0) }
    }

    /// A fair semaphore with `permits` permits: waiters are served first come, first served,
    /// newcomers never take permits while anyone waits, and permits released while the oldest
    /// waiter cannot yet be satisfied are kept for it (see the [module docs](crate::semaphore)).
    /// `const`, so it can initialise a `static`.
    ///
    /// # Panics
    /// If `permits` is more than [`MAX_PERMITS`](Self::MAX_PERMITS); the message says both
    /// (in a `static`, the build fails with it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turnstile::Semaphore;
    ///
    /// let sem = Arc::new(Semaphore::new_fair(0));
    /// let big = {
    ///     let sem = Arc::clone(&sem);
    ///     std::thread::spawn(move || sem.acquire_many(2).forget())
    /// };
    /// while !sem.has_waiters() {
    ///     std::thread::yield_now();
    /// }
    /// sem.add_permits(1); // kept for the waiter of 2...
    /// assert!(sem.try_acquire().is_none()); // ...so nobody can take it past the line
    /// sem.add_permits(1); // now it has both
    /// big.join().unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    #[track_caller]
    pub const fn new_fair(permits: usize) -> Self {
        if permits > Self::MAX_PERMITS {
            too_many_to_start("Semaphore::new_fair(", permits);
        }
        Semaphore { permits: AtomicU32::new(permits as u32), second: AtomicU32::new(FAIR) }
    }
}

/// The `const` constructor of [`shm::Semaphore::new`](crate::shm::Semaphore::new).
#[cfg(target_os = "linux")]
impl Semaphore<crate::backend::ProcessShared> {
    #[track_caller]
    pub(crate) const fn process_shared(permits: usize) -> Self {
        if permits > Semaphore::MAX_PERMITS {
            too_many_to_start("shm::Semaphore::new(", permits);
        }
        Semaphore { permits: AtomicU32::new(permits as u32), second: AtomicU32::new(0) }
    }
}

const MAX: u32 = Semaphore::MAX_PERMITS as u32;

/// The panic of a release that would pass the maximum: `n` more onto `available`.
#[cold]
#[inline(never)]
#[track_caller]
fn overflow(n: u32, available: u32, by_permit: bool) -> ! {
    if by_permit {
        panic!(
            "dropping a permit of {n} would bring the semaphore to {} permits, past \
             Semaphore::MAX_PERMITS ({MAX}): `add_permits` had filled it while the permit was out; \
             the count is unchanged (these permits are not returned). Add permits only for those \
             taken and `forget`-ed, so the count stays within the maximum",
            u64::from(available) + u64::from(n)
        );
    }
    panic!(
        "Semaphore::add_permits({n}) with {available} available would pass Semaphore::MAX_PERMITS \
         ({MAX}); the count is unchanged. Add at most {} now",
        MAX - available
    );
}

/// The panic of a constructor asked for more than [`Semaphore::MAX_PERMITS`]: `call` is the
/// call up to its argument (`"Semaphore::new("`). `const`, for `Semaphore::new`, so the message
/// is written into a buffer by hand (formatting is not allowed in a `const fn`).
#[cold]
#[track_caller]
const fn too_many_to_start(call: &str, permits: usize) -> ! {
    ConstMessage::new()
        .text(call)
        .number(permits)
        .text("): a semaphore holds at most Semaphore::MAX_PERMITS (")
        .number(Semaphore::MAX_PERMITS)
        .text(") permits; start with at most that many (a count this large is often a negative number cast to usize)")
        .panic()
}

/// A panic message built in a `const fn`, where `format!` is not allowed: text and decimal
/// numbers appended into a fixed buffer (a longer message is cut).
struct ConstMessage {
    bytes: [u8; 256],
    len: usize,
}

impl ConstMessage {
    const fn new() -> Self {
        ConstMessage { bytes: [0; 256], len: 0 }
    }

    const fn text(mut self, text: &str) -> Self {
        let text = text.as_bytes();
        let mut i = 0;
        while i < text.len() && self.len < self.bytes.len() {
            self.bytes[self.len] = text[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn number(mut self, mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while count > 0 && self.len < self.bytes.len() {
            count -= 1;
            self.bytes[self.len] = digits[count];
            self.len += 1;
        }
        self
    }

    #[track_caller]
    const fn panic(self) -> ! {
        let bytes = self.bytes;
        // SAFETY: the first `len` bytes of `bytes`, a local array that outlives the slice.
        let written = unsafe { core::slice::from_raw_parts(bytes.as_ptr(), self.len) };
        match core::str::from_utf8(written) {
            Ok(message) => panic!("{}", message),
            // Only if a cut split a character; the texts given are ASCII.
            Err(_) => panic!("a semaphore was given more than Semaphore::MAX_PERMITS permits"),
        }
    }
}

/// `n` as the permits of a request (`what`: the method's name), or a panic: no semaphore ever
/// holds more than the maximum, so a larger request could never be met.
#[track_caller]
#[inline]
fn request(n: usize, what: &str) -> u32 {
    match u32::try_from(n) {
        Ok(n) if n <= MAX => n,
        _ => too_many_requested(n, what),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn too_many_requested(n: usize, what: &str) -> ! {
    panic!(
        "Semaphore::{what}({n}): a semaphore never holds more than Semaphore::MAX_PERMITS ({MAX}) \
         permits, so this request could never be met (a blocking call would wait forever); ask \
         for at most {MAX}"
    )
}

/// `n` as permits to add (`what`: the method's name), or a panic.
#[track_caller]
#[inline]
fn added(n: usize, what: &str) -> u32 {
    match u32::try_from(n) {
        Ok(n) if n <= MAX => n,
        _ => too_many_added(n, what),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn too_many_added(n: usize, what: &str) -> ! {
    panic!(
        "Semaphore::{what}({n}): a semaphore holds at most Semaphore::MAX_PERMITS ({MAX}) \
         permits; give at most that many"
    )
}

/// Refuses, when the program is built, a fair semaphore over a backend without exact wait
/// queues (`ProcessShared`).
struct QueuedOnly<B>(PhantomData<B>);

impl<B: Backend> QueuedOnly<B> {
    const CHECK: () = assert!(
        B::QUEUED,
        "a fair Semaphore needs a backend whose waiters queue in this process (Real); between \
         processes the kernel's futex cannot serve them in order: use a barging semaphore"
    );
}

impl<B: Backend> Semaphore<B> {
    /// A barging semaphore over the backend `B`, named explicitly:
    /// `Semaphore::<Real>::with_backend(n)` is `Semaphore::new(n)`. Loom models build their
    /// semaphores with it, over the loom backend. Not `const`, as some backends' words are not;
    /// between processes, [`shm::Semaphore::new`](crate::shm::Semaphore::new) is (Linux).
    ///
    /// # Panics
    /// If `permits` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// use turnstile::{backend::Real, Semaphore};
    ///
    /// let sem = Semaphore::<Real>::with_backend(1);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    #[track_caller]
    pub fn with_backend(permits: usize) -> Self {
        Semaphore { permits: B::Word::new(added(permits, "with_backend")), second: B::Word::new(0) }
    }

    /// A fair semaphore (see [`Semaphore::new_fair`]) over any backend whose waiters queue in
    /// this process: [`Real`] and the loom backend. Over `ProcessShared` the program does not
    /// build (an error at compile time, when this function is instantiated for it), since the
    /// kernel's futex cannot serve waiters in order.
    ///
    /// ```
    /// use turnstile::{backend::Real, Semaphore};
    ///
    /// let sem = Semaphore::<Real>::with_backend_fair(1);
    /// assert!(sem.is_fair());
    /// ```
    ///
    /// ```compile_fail
    /// use turnstile::{backend::ProcessShared, Semaphore};
    ///
    /// let sem = Semaphore::<ProcessShared>::with_backend_fair(1); // does not build
    /// ```
    #[track_caller]
    pub fn with_backend_fair(permits: usize) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = QueuedOnly::<B>::CHECK;
        Semaphore { permits: B::Word::new(added(permits, "with_backend_fair")), second: B::Word::new(FAIR) }
    }

    /// A fair semaphore whose waiter, timing out while it is the head of the line, leaves without
    /// passing the permits reserved for it on: the broken path of a loom model's twin. Not part
    /// of the API.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn with_backend_fair_keeping_permits_on_timeout(permits: usize) -> Self {
        let sem = Self::with_backend_fair(permits);
        // Relaxed: not yet shared.
        sem.second.store(FAIR | KEEPS_ON_TIMEOUT, Relaxed);
        sem
    }

    /// Whether this semaphore serves its waiters in order ([`new_fair`](Semaphore::new_fair)).
    ///
    /// ```
    /// use turnstile::Semaphore;
    ///
    /// assert!(Semaphore::new_fair(1).is_fair());
    /// assert!(!Semaphore::new(1).is_fair());
    /// ```
    #[inline]
    pub fn is_fair(&self) -> bool {
        // Relaxed: written once, before the semaphore was shared.
        B::QUEUED && self.second.load(Relaxed) & FAIR != 0
    }

    /// A semaphore whose sleeper word already counts `one` single-permit and `many`
    /// several-permit waiters that never un-count themselves, as waiters killed in their sleep
    /// leave it between processes: for models and tests of the counts at their limits (only
    /// backends that sleep on the kernel futex count sleepers). Not part of the API.
    #[cfg(any(test, feature = "loom"))]
    #[doc(hidden)]
    #[track_caller]
    pub fn with_leaked_sleepers(permits: usize, one: u32, many: u32) -> Self {
        assert!(!B::QUEUED, "only a semaphore between processes counts its sleepers");
        assert!(one <= COUNT_MASK && many <= COUNT_MASK, "a half of `sleepers` counts at most {COUNT_MASK}");
        let sem = Self::with_backend(permits);
        // Relaxed: not yet shared.
        sem.second.store(one * ONE + many * MANY, Relaxed);
        sem
    }

    /// Takes one permit, sleeping until there is one (Dijkstra's P).
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// ```
    #[doc(alias = "P")]
    #[doc(alias = "down")]
    #[doc(alias = "wait")]
    #[inline]
    pub fn acquire(&self) -> SemaphorePermit<'_, B> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, sleeping until there are that many.
    ///
    /// Permits come only from [`new`](Semaphore::new), [`add_permits`](Self::add_permits) and
    /// permits returned: if fewer than `n` will ever be there at once, this waits forever (a
    /// semaphore made with 2, to which nobody adds, never gives 3). Use
    /// [`acquire_many_timeout`](Self::acquire_many_timeout) to give up.
    ///
    /// # Panics
    /// At once, with `n` and the maximum, if `n` is more than [`Semaphore::MAX_PERMITS`]: no
    /// semaphore can hold that many, so no release could ever satisfy it.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(5);
    /// let three = sem.acquire_many(3);
    /// assert_eq!(sem.available_permits(), 2);
    /// drop(three);
    /// ```
    #[inline]
    #[track_caller]
    pub fn acquire_many(&self, n: usize) -> SemaphorePermit<'_, B> {
        let n = request(n, "acquire_many");
        let left = match self.try_take(n) {
            Some(left) => left,
            None => self.acquire_slow(n, None).expect("no deadline, so it cannot time out"),
        };
        SemaphorePermit { semaphore: self, permits: n, left }
    }

    /// Takes one permit if there is one right now; never waits. (In fair mode, none is taken
    /// while threads wait: they come first.)
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// let held = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(held);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_, B>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if there are that many right now; never waits. (In fair mode, none are
    /// taken while threads wait.)
    ///
    /// # Panics
    /// If `n` is more than [`Semaphore::MAX_PERMITS`], as the blocking forms do: such a request
    /// can never succeed, and a `None` would read as "not now" (a loop retrying it would spin
    /// forever). A request above what the semaphore has now but within the maximum is `None`.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).is_none());
    /// assert!(sem.try_acquire_many(2).is_some());
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_, B>> {
        let n = request(n, "try_acquire_many");
        let left = self.try_take(n).or_else(|| self.try_take_slow(n))?;
        Some(SemaphorePermit { semaphore: self, permits: n, left })
    }

    /// Takes one permit, waiting at most `timeout`; `None` (and nothing taken) if none came.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = turnstile::Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
    /// sem.add_permits(1);
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).is_some());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(1, crate::wait::deadline_after(timeout), "acquire_timeout")
    }

    /// Takes `n` permits, waiting at most `timeout`; `None` (and nothing taken) if they did not
    /// come in time.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = turnstile::Semaphore::new(1);
    /// assert!(sem.acquire_many_timeout(2, Duration::from_millis(1)).is_none());
    /// assert_eq!(sem.available_permits(), 1); // the timed-out call took nothing
    /// ```
    #[track_caller]
    pub fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(n, crate::wait::deadline_after(timeout), "acquire_many_timeout")
    }

    /// Takes one permit, waiting until `deadline` at the latest; `None` if none came.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let sem = turnstile::Semaphore::new(1);
    /// assert!(sem.acquire_until(Instant::now() + Duration::from_secs(1)).is_some());
    /// ```
    pub fn acquire_until(&self, deadline: Instant) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(1, Some(deadline), "acquire_until")
    }

    /// Takes `n` permits, waiting until `deadline` at the latest; `None` if they did not come.
    ///
    /// # Panics
    /// At once, if `n` is more than [`Semaphore::MAX_PERMITS`] (it could never be met).
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let sem = turnstile::Semaphore::new(0);
    /// assert!(sem.acquire_many_until(1, Instant::now()).is_none());
    /// ```
    #[track_caller]
    pub fn acquire_many_until(&self, n: usize, deadline: Instant) -> Option<SemaphorePermit<'_, B>> {
        self.acquire_many_before(n, Some(deadline), "acquire_many_until")
    }

    /// Adds `n` permits and wakes the waiting threads they can satisfy (Dijkstra's V).
    ///
    /// # Panics
    /// If the count would pass [`Semaphore::MAX_PERMITS`]; the count is then left unchanged,
    /// and the message says `n` and the permits there were.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[doc(alias = "V")]
    #[doc(alias = "up")]
    #[doc(alias = "signal")]
    #[doc(alias = "release")]
    #[inline]
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        self.add_permits_waking(n);
    }

    /// [`add_permits`](Self::add_permits), returning how many waiting threads it woke: exact in
    /// one process; between processes, the count the kernel reports. For tests and models. Not
    /// part of the API.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(0);
    /// assert_eq!(sem.add_permits_waking(1), 0); // nobody waits
    /// ```
    #[doc(hidden)]
    #[inline]
    #[track_caller]
    pub fn add_permits_waking(&self, n: usize) -> usize {
        let n = added(n, "add_permits");
        // Relaxed: a first guess for the compare-exchange, which re-reads.
        self.give(n, self.permits.load(Relaxed), false)
    }

    /// Whether threads wait for permits at this instant (stale as soon as it returns; between
    /// processes, whether any may sleep). For tests and models. Not part of the API.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(0);
    /// assert!(!sem.has_waiters());
    /// ```
    #[doc(hidden)]
    pub fn has_waiters(&self) -> bool {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        if B::QUEUED {
            self.permits.load(Relaxed) & PARKED != 0
        } else {
            self.second.load(Relaxed) != 0
        }
    }

    /// The permits available at this instant (stale as soon as it returns). In fair mode,
    /// while threads wait, these are permits kept for the oldest waiter.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(4);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    #[inline]
    pub fn available_permits(&self) -> usize {
        // Relaxed: a snapshot, nothing is read on the strength of it.
        (self.permits.load(Relaxed) & COUNT) as usize
    }

    #[track_caller]
    fn acquire_many_before(
        &self,
        n: usize,
        deadline: Option<Instant>,
        what: &str,
    ) -> Option<SemaphorePermit<'_, B>> {
        let n = request(n, what);
        let left = self.try_take(n).or_else(|| self.acquire_slow(n, deadline))?;
        Some(SemaphorePermit { semaphore: self, permits: n, left })
    }

    /// The fast path: one compare-exchange per attempt, taking `n` if at least `n` are there and
    /// nobody waits in line; returns the word left.
    #[inline]
    fn try_take(&self, n: u32) -> Option<u32> {
        self.take(n, false)
    }

    /// Takes `n` if there are that many; past waiters in line too if `barge`. Returns the word
    /// left (`PARKED` kept as it was).
    #[inline]
    fn take(&self, n: u32, barge: bool) -> Option<u32> {
        // Relaxed load: the compare-exchange re-reads.
        let mut available = self.permits.load(Relaxed);
        while available & COUNT >= n && (barge || available & PARKED == 0) {
            // Acquire: pairs with the Release half of `give`'s compare-exchange, so what the
            // releaser did before returning its permits happens before our use of them.
            match self.permits.compare_exchange(available, available - n, Acquire, Relaxed) {
                Ok(_) => return Some(available - n),
                Err(now) => available = now,
            }
        }
        None
    }

    /// After the fast path failed: a barging semaphore takes past the waiters in line.
    #[cold]
    fn try_take_slow(&self, n: u32) -> Option<u32> {
        if n == 0 {
            return Some(0);
        }
        if B::QUEUED && !self.is_fair() {
            self.take(n, true)
        } else {
            None
        }
    }

    /// Spins, then sleeps until `n` permits are ours (returns the word left, or a guess of it);
    /// `None` if `deadline` passed first.
    #[cold]
    fn acquire_slow(&self, n: u32, deadline: Option<Instant>) -> Option<u32> {
        if n == 0 {
            return Some(0);
        }
        let barge = !self.is_fair();
        let mut backoff = Backoff::<B>::new();
        let mut wait_a_little =
            || if B::SEMAPHORE_YIELDS { backoff.spin_then_yield() } else { backoff.spin() };
        while wait_a_little() {
            if let Some(left) = self.take(n, barge) {
                return Some(left);
            }
        }
        if B::QUEUED {
            return self.park(n, barge, deadline);
        }
        loop {
            if let Some(me) = self.count_sleeper(n) {
                return self.sleep(n, me, deadline);
            }
            // `sleepers` is full: nobody will wake us, so nap and look again (module docs).
            if let Some(left) = self.try_take(n) {
                return Some(left);
            }
            let nap_end = Instant::now() + POLL_INTERVAL;
            let last = deadline.is_some_and(|deadline| deadline <= nap_end);
            let until = if last { deadline } else { Some(nap_end) };
            // A timed sleep on a word nobody wakes: a nap that ends early only if the word moved
            // meanwhile. Relaxed: the value is only the futex's "still the same?".
            let moved = B::wait(&self.second, self.second.load(Relaxed), until);
            if last && !moved {
                return self.try_take(n);
            }
        }
    }

    /// Waits in the line of the `permits` word (queued backends) until `n` permits are ours.
    fn park(&self, n: u32, barge: bool, deadline: Option<Instant>) -> Option<u32> {
        let key = &self.permits as *const B::Word as usize;
        loop {
            if let Some(left) = self.take(n, barge) {
                return Some(left);
            }
            // Under the bucket lock: park only if the permits are still too few for us (or, in
            // fair mode, if others wait in line), and say so in `PARKED` first.
            let validate = || {
                // Relaxed: the bucket lock orders this with every release that looks at the line;
                // a release that comes later reads `PARKED` in its own compare-exchange.
                let mut word = self.permits.load(Relaxed);
                loop {
                    let queued = word & PARKED != 0;
                    if word & COUNT >= n && (barge || !queued) {
                        return false;
                    }
                    if queued {
                        return true;
                    }
                    // Relaxed: publishes nothing; the compare-exchange of a later release reads
                    // the bit in this word's modification order.
                    match self.permits.compare_exchange(word, word | PARKED, Relaxed, Relaxed) {
                        Ok(_) => return true,
                        Err(now) => word = now,
                    }
                }
            };
            let mut more_after_timeout = false;
            let timed_out = |more: bool| {
                more_after_timeout = more;
                if !more {
                    // Relaxed: under the bucket lock, as every change of the bit.
                    self.permits.fetch_and(!PARKED, Relaxed);
                }
            };
            match queue::park::<B>(key, validate, n, deadline, timed_out) {
                Parked::Woken(HANDED) => return Some(0),
                Parked::Woken(_) | Parked::Invalid => {}
                Parked::TimedOut => {
                    // A last look: permits that came as we left are taken rather than left
                    // (in fair mode only if nobody waits now).
                    let got = self.take(n, barge);
                    if got.is_none() && !barge && more_after_timeout && !self.keeps_on_timeout() {
                        // Permits kept for us as the head now go to the next in line.
                        self.unpark_waiters();
                    }
                    return got;
                }
            }
        }
    }

    /// Whether this is the loom twin's broken semaphore (see `KEEPS_ON_TIMEOUT`).
    #[inline]
    fn keeps_on_timeout(&self) -> bool {
        #[cfg(feature = "loom")]
        {
            // Relaxed: written once, before the semaphore was shared.
            self.second.load(Relaxed) & KEEPS_ON_TIMEOUT != 0
        }
        #[cfg(not(feature = "loom"))]
        false
    }

    /// Under the bucket lock, wakes the waiters the permits now in the word can satisfy, oldest
    /// first: in barging mode every request that fits (skipping those that do not), in fair mode
    /// the head and those after it until the first that does not fit, handing each its permits.
    /// Clears `PARKED` if the line is left empty. Returns how many it woke.
    #[cold]
    fn unpark_waiters(&self) -> usize {
        let key = &self.permits as *const B::Word as usize;
        let fair = self.is_fair();
        // Permits not yet promised to a waiter picked by this walk, read at its first waiter.
        let budget = Cell::new(None::<u32>);
        let promised = Cell::new(0);
        let filter = |wants: u32| {
            // Relaxed: under the bucket lock; our own compare-exchange came before in this
            // thread, and a release this load misses unparks after us.
            let left = budget.get().unwrap_or_else(|| self.permits.load(Relaxed) & COUNT);
            if wants <= left {
                budget.set(Some(left - wants));
                promised.set(promised.get() + wants);
                Pick::Wake
            } else {
                budget.set(Some(left));
                if fair {
                    Pick::Stop
                } else {
                    Pick::Skip
                }
            }
        };
        let callback = |result: queue::Unparked| {
            let taken = if fair { promised.get() } else { 0 };
            let clear = if result.more { 0 } else { PARKED };
            if taken != 0 || clear != 0 {
                // Acquire: the waiters we hand permits to use what their releasers published
                // (pairs with the Release of every release's compare-exchange, whose release
                // sequence this read-modify-write continues). Under the bucket lock nobody else
                // takes permits from a fair semaphore with waiters, so these are still there.
                let mut word = self.permits.load(Relaxed);
                while let Err(now) =
                    self.permits.compare_exchange(word, (word - taken) & !clear, Acquire, Relaxed)
                {
                    word = now;
                }
            }
            if fair {
                HANDED
            } else {
                0
            }
        };
        queue::unpark::<B>(key, filter, callback).woken
    }

    /// Counts a waiter for `n` permits in `sleepers`: returns what it added (`ONE`, or `MANY`
    /// for a single-permit waiter whose half is full), or `None` if both halves are full.
    fn count_sleeper(&self, n: u32) -> Option<u32> {
        // A first guess of "nobody counted", not a load: the compare-exchange reads the latest
        // value anyway, and a first sleeper then counts itself in one step. (Under loom a load
        // here could read any older count, which only multiplies the interleavings.)
        let mut seen = 0;
        loop {
            let me = if n == 1 && seen & COUNT_MASK != COUNT_MASK {
                ONE
            } else if seen >> 16 != COUNT_MASK {
                MANY
            } else {
                return None;
            };
            // Relaxed: the count is published by the Release look that follows it in `sleep`.
            match self.second.compare_exchange(seen, seen + me, Relaxed, Relaxed) {
                Ok(_) => return Some(me),
                Err(now) => seen = now,
            }
        }
    }

    /// The sleeper's side of the handshake between processes (module docs): counted as `me`, it
    /// looks at `permits` and sleeps until `n` are there or `deadline` passes; then un-counts
    /// itself.
    fn sleep(&self, n: u32, me: u32, deadline: Option<Instant>) -> Option<u32> {
        // Release: the look of "publish, then look", a read-modify-write so that it is ordered
        // against every release's compare-exchange; its Release half pairs with their Acquire
        // half, so a release ordered after it sees our count. No Acquire: nothing is read on the
        // strength of this value; the permits are taken by `try_take`'s Acquire.
        let mut available = self.permits.read_latest(Release);
        let got = loop {
            if available >= n {
                if let Some(left) = self.try_take(n) {
                    break Some(left);
                }
            } else if !B::wait(&self.permits, available, deadline) {
                // Timed out: a release may have come just now; take it rather than leave it.
                break self.try_take(n);
            }
            // Relaxed: no older than the look above (it is earlier in this thread), so a
            // release this misses comes after the look and so wakes us, or the futex's own
            // compare sees its change.
            available = self.permits.load(Relaxed);
        };
        // Relaxed: un-counting publishes nothing; a release that still sees us wakes one
        // thread too many at most.
        self.second.fetch_sub(me, Relaxed);
        got
    }

    /// Returns `n` permits and wakes waiters that can use them; returns how many it woke.
    /// `guess` is where the compare-exchange starts; it must be a word the semaphore had (so that
    /// its count plus `n` was within the maximum, and a stale guess cannot cause a false
    /// overflow panic), or 0.
    /// `by_permit`: a permit being dropped returns them, rather than `add_permits`, which the
    /// overflow panic says.
    #[inline]
    #[track_caller]
    fn give(&self, n: u32, guess: u32, by_permit: bool) -> usize {
        if n == 0 {
            return 0;
        }
        let mut available = guess;
        loop {
            if available & COUNT > MAX - n {
                overflow(n, available & COUNT, by_permit);
            }
            // AcqRel. Release: what the releaser did before is published to whoever takes these
            // permits (pairs with the Acquire in `take`). Acquire, between processes: the
            // releaser's half of the handshake (module docs), pairing with the Release of a
            // sleeper's look in `sleep`, so the load of `second` below sees the count of every
            // sleeper whose look came before this. (In one process the `PARKED` bit this reads is
            // in the word itself; the Acquire half costs nothing on the machines we run on.)
            match self.permits.compare_exchange(available, available + n, AcqRel, Relaxed) {
                Ok(_) => break,
                Err(now) => available = now,
            }
        }
        if B::QUEUED {
            if available & PARKED != 0 {
                return self.unpark_waiters();
            }
            return 0;
        }
        // Relaxed: ordered by the compare-exchange's Acquire half (above).
        let sleeping = self.second.load(Relaxed);
        if sleeping != 0 {
            return self.wake(sleeping, n);
        }
        0
    }

    /// Between processes: wakes sleepers of the futex on `permits`.
    #[cold]
    fn wake(&self, sleeping: u32, n: u32) -> usize {
        if sleeping >= MANY {
            // Someone wants several permits: only it can tell whether these are enough.
            B::wake_all(&self.permits)
        } else {
            B::wake_many(&self.permits, n.min(sleeping & COUNT_MASK) as usize)
        }
    }
}

impl<B: Backend> fmt::Debug for Semaphore<B> {
    /// Shows the permits available; never blocks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("permits", &self.available_permits()).finish_non_exhaustive()
    }
}

impl<'a, B: Backend> SemaphorePermit<'a, B> {
    /// Drops the permits without returning them: the count stays lower. This is P without its
    /// V, for when another thread will call [`Semaphore::add_permits`].
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// sem.add_permits(1); // V, typically from another thread
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    ///
    /// ```
    /// let sem = turnstile::Semaphore::new(2);
    /// assert_eq!(sem.acquire_many(2).num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
}

impl<B: Backend> Drop for SemaphorePermit<'_, B> {
    fn drop(&mut self) {
        if !B::model_failed() {
            self.semaphore.give(self.permits, self.left, true);
        }
    }
}

impl<B: Backend> fmt::Debug for SemaphorePermit<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_semaphore_is_two_words() {
        assert_eq!(core::mem::size_of::<Semaphore>(), 8);
    }

    #[test]
    fn a_timed_out_acquire_leaves_no_waiter_behind() {
        let sem = Semaphore::new(0);
        assert!(sem.acquire_timeout(Duration::from_micros(10)).is_none());
        assert_eq!(sem.permits.load(Relaxed) & PARKED, 0, "a later release must not look for it");
    }

    #[test]
    fn a_timed_out_fair_acquire_leaves_no_waiter_behind() {
        let sem = Semaphore::new_fair(1);
        assert!(sem.acquire_many_timeout(2, Duration::from_micros(10)).is_none());
        assert_eq!(sem.permits.load(Relaxed), 1, "PARKED clear, the permit free again");
        assert!(sem.try_acquire().is_some());
    }

    #[cfg(target_os = "linux")]
    mod between_processes {
        use super::*;
        use crate::backend::ProcessShared;

        type Shared = Semaphore<ProcessShared>;

        #[test]
        fn a_timed_out_acquire_leaves_no_sleeper_behind() {
            let sem = Shared::with_backend(0);
            assert!(sem.acquire_timeout(Duration::from_micros(10)).is_none());
            assert_eq!(sem.second.load(Relaxed), 0, "a later release must not pay a wake for it");
        }

        #[test]
        fn a_one_permit_waiter_whose_half_is_full_counts_as_wanting_several() {
            let sem = Shared::with_leaked_sleepers(0, COUNT_MASK, 0);
            assert_eq!(sem.count_sleeper(1), Some(MANY));
            assert_eq!(sem.second.load(Relaxed), COUNT_MASK | MANY, "the one-permit half must not carry");
        }

        #[test]
        fn a_waiter_that_finds_both_halves_full_is_not_counted() {
            let sem = Shared::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
            assert_eq!(sem.count_sleeper(1), None);
            assert_eq!(sem.count_sleeper(2), None);
            assert_eq!(sem.second.load(Relaxed), u32::MAX, "the word must not wrap to \"nobody sleeps\"");
        }

        #[test]
        fn a_waiter_the_word_cannot_count_still_gets_a_later_permit() {
            let sem = Shared::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
            std::thread::scope(|s| {
                let waiter = s.spawn(|| sem.acquire_many(2).forget());
                sem.add_permits(1);
                sem.add_permits(1);
                waiter.join().unwrap();
            });
            assert_eq!(sem.available_permits(), 0);
            assert_eq!(sem.second.load(Relaxed), u32::MAX, "the waiter left the leaked counts as they were");
        }

        #[test]
        fn a_timed_waiter_the_word_cannot_count_times_out_and_takes_nothing() {
            let sem = Shared::with_leaked_sleepers(0, COUNT_MASK, COUNT_MASK);
            assert!(sem.acquire_timeout(Duration::from_millis(3)).is_none());
            assert_eq!(sem.available_permits(), 0);
            assert_eq!(sem.second.load(Relaxed), u32::MAX);
        }
    }

    #[test]
    #[should_panic(expected = "would pass Semaphore::MAX_PERMITS")]
    fn adding_past_the_maximum_panics() {
        let sem = Semaphore::new(Semaphore::MAX_PERMITS);
        sem.add_permits(1);
    }

    #[test]
    fn a_panicking_add_leaves_the_count_unchanged() {
        let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
        let outcome = std::panic::catch_unwind(|| sem.add_permits(2));
        assert!(outcome.is_err());
        assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS - 1);
    }
}
