//! Wait queues: the line of threads blocked on each lock, kept exactly, each thread asleep on a
//! word of its own.
//!
//! A futex word with a count of sleepers cannot tell who is really asleep: the count includes
//! threads on their way to sleep or back, so a release pays a wake for nobody, a hand-off cannot
//! go to a known thread, and a condition variable cannot tell a moved waiter from a new one. This
//! module keeps the waiters themselves, so a waker knows exactly whom it wakes and whether anyone
//! is left.
//!
//! **The table.** Waiting threads are queued by *key*, the address of the lock word they wait
//! on, in a table of buckets hashed by key. Each bucket is a [`SpinLock`] (a small lock that
//! never sleeps, held for a few dozen instructions) around an intrusive FIFO list of *nodes*.
//! A node lives on its waiter's stack for the length of one wait, so waiting allocates nothing.
//! Threads of different keys that hash to one bucket share its lock and list; every walk skips
//! the nodes of other keys.
//!
//! **Park.** [`park`] locks the bucket, runs the caller's `validate` (typically "the lock word
//! still says I must wait"), and only if it holds appends the node; then it sleeps on the node's
//! own word. Because `validate` runs under the same lock every waker takes before it looks at the
//! list, a waker that changes the lock word and then unparks either runs before the validation
//! (which then sees its change and does not park) or after the append (and finds the node):
//! no wakeup is lost. The sleep returns only when a waker picked the node or the deadline
//! passed; a spurious return of the OS wait is absorbed here.
//!
//! **Unpark.** [`unpark`] locks the bucket, walks the key's nodes oldest first through the
//! caller's filter, unlinks those it picks, and then, still under the lock, runs the caller's
//! callback, which learns how many were picked, whether more of the key wait, and whether it is
//! time to be fair; its return value is the *token* each picked waiter receives ("the lock is
//! yours", "you have your permits"). The wakes themselves happen after the bucket lock is
//! released. [`requeue`] moves the waiters of one key to the tail of another's line (a condition
//! variable moving its waiters onto its mutex), optionally waking the first.
//!
//! **A node's word** goes `ASLEEP` (in a line) → `WAKING` (picked; the waker still uses the word)
//! → `AWAKE`. The waker stores `WAKING` under the bucket lock, wakes the sleeper, and stores
//! `AWAKE` last: the waiter leaves (and its stack frame, with the node, may go) only on `AWAKE`,
//! so the waker never touches a node that is gone. A waiter that sees `WAKING` waits the few
//! instructions until `AWAKE`.
//!
//! **Fairness.** Each bucket keeps a clock: about every [`Backend::FAIRNESS_BOUND`] (0.5 ms) of
//! unparks, one unpark is told `fair`, and a lock that honours it hands itself straight to the
//! woken thread instead of letting running threads barge. (Loom has no clock: there the unpark
//! after every [`Backend::FAIRNESS_OVERTAKES`] unfair ones is fair.)
//!
//! **Growth.** The table starts with [`Backend::QUEUE_BUCKETS`] buckets. Over [`Real`](crate::backend::Real) every
//! thread that parks is counted while it lives, and when threads outnumber three per bucket the
//! table doubles (to the next power of two that fits): every bucket of the old table is locked,
//! every node is moved to its new bucket in order, and the new table is published. Old tables are
//! never freed (a thread may still be about to lock one of their buckets, and will then see it is
//! stale and retry), so the memory kept is less than twice the current table: 64 buckets of 64
//! bytes to begin with, 4 KiB, enough for 192 threads.
//!
//! **Reentrancy.** The closures run under a bucket lock: they must not panic and must not park or
//! unpark (the bucket lock is not reentrant).

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::*};
use std::time::Instant;

use super::backend::{Backend, Word};
use crate::backoff::Backoff;
use crate::spin::{SpinLock, SpinLockGuard};

/// A node in a line.
const ASLEEP: u32 = 1;
/// Picked by a waker, which still uses the node's word.
const WAKING: u32 = 2;
/// Picked, and the waker is done with the node: its waiter may go.
const AWAKE: u32 = 0;

/// How a [`park`] ended.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// A waker picked this thread and handed it this token.
    Woken(u32),
    /// `validate` said no: the thread never queued.
    Invalid,
    /// The deadline passed first; the thread left its line (and `timed_out` ran).
    TimedOut,
}

/// What an [`unpark`]'s callback learns, under the bucket lock, before anyone is woken.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparked {
    /// How many waiters were picked (they are woken once the bucket lock is released).
    pub woken: usize,
    /// Whether waiters of the key remain in the line.
    pub more: bool,
    /// Whether it is time to be fair: see the [module docs](self).
    pub fair: bool,
}

/// A filter's verdict on one waiter (given its park token), oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Unlink and wake it.
    Wake,
    /// Leave it in the line and look at the next.
    Skip,
    /// Leave it and every later one.
    Stop,
}

/// What a [`requeue`] does, decided under both bucket locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requeue {
    /// Nothing.
    Abort,
    /// Move every waiter of `from` to the tail of `to`'s line.
    MoveAll,
    /// Wake the oldest waiter of `from` and move the rest.
    WakeOneMoveRest,
}

/// What a [`requeue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Requeued {
    pub woken: usize,
    pub moved: usize,
}

/// Ways to break the queue, for loom models' failing twins; all off on every real backend.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct QueueFaults {
    /// `park` validates before it takes the bucket lock.
    pub validate_unlocked: bool,
    /// `park` puts the node at the head of the line.
    pub lifo: bool,
    /// A timed-out waiter answers "more" before it leaves the line.
    pub stale_more: bool,
    /// `requeue` reports waiters moved but leaves them on the old key.
    pub lose_requeue: bool,
}

impl QueueFaults {
    /// No fault.
    pub const NONE: Self =
        QueueFaults { validate_unlocked: false, lifo: false, stale_more: false, lose_requeue: false };
}

/// One waiting thread, on its stack.
struct Node<B: Backend> {
    /// The key it waits on. Written under the bucket locks (a requeue changes it); read by its
    /// own thread without one, only to find which bucket to lock, and checked again under it.
    key: AtomicUsize,
    /// The next node of its bucket's line. Under the bucket lock.
    next: Cell<*const Node<B>>,
    /// What it waits for, as the park's caller described it; filters read it.
    park_token: u32,
    /// What the waker hands over. Written under the bucket lock before the word leaves `ASLEEP`;
    /// read by the owner after it reads `AWAKE`.
    token: Cell<u32>,
    /// `ASLEEP`, `WAKING` or `AWAKE`: the word its thread sleeps on.
    word: B::Word,
}

impl<B: Backend> Node<B> {
    fn new(key: usize, park_token: u32) -> Self {
        Node {
            key: AtomicUsize::new(key),
            next: Cell::new(ptr::null()),
            park_token,
            token: Cell::new(0),
            word: B::Word::new(ASLEEP),
        }
    }

    /// Waits, after its word left `ASLEEP`, until the waker is done with it; returns the token.
    fn await_waker(&self) -> u32 {
        let mut backoff = Backoff::<B>::new();
        // Acquire: pairs with the waker's Release store of AWAKE, so its token is visible.
        while self.word.load(Acquire) != AWAKE {
            backoff.snooze();
        }
        self.token.get()
    }
}

/// One bucket's line: the nodes of every key that hashes here, oldest first.
pub(crate) struct Line<B: Backend> {
    head: *const Node<B>,
    tail: *const Node<B>,
    /// When the next unpark is told to be fair; `None` before the first (or, without a clock,
    /// how many unparks since the last fair one: see `Fairness`).
    fairness: Fairness,
}

/// A bucket's fairness clock.
enum Fairness {
    /// The next unpark at or after this instant is fair (`None`: not started).
    Clock(Option<Instant>),
    /// Loom: unparks since the last fair one; the one after [`Backend::FAIRNESS_OVERTAKES`]
    /// unfair ones is fair.
    Count(u32),
}

// SAFETY: a line is only reached through its bucket's lock, and its nodes' waiters do not leave
// while they are linked (see the module docs), so handing the pointers between threads is sound.
unsafe impl<B: Backend> Send for Line<B> {}

impl<B: Backend> Line<B> {
    fn new() -> Self {
        let fairness = if B::FAIRNESS_BOUND.is_zero() { Fairness::Count(0) } else { Fairness::Clock(None) };
        Line { head: ptr::null(), tail: ptr::null(), fairness }
    }

    fn push(&mut self, node: *const Node<B>) {
        // SAFETY (here and in every function of `Line`): the nodes linked in a line are alive,
        // their waiters waiting for `AWAKE`, and are touched only under the bucket lock, which the
        // caller's `&mut self` stands for.
        unsafe { (*node).next.set(ptr::null()) };
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: see `push`'s first comment.
            unsafe { (*self.tail).next.set(node) };
        }
        self.tail = node;
    }

    /// Links `node` at the head: only for the `lifo` fault.
    fn push_front(&mut self, node: *const Node<B>) {
        // SAFETY: see `push`.
        unsafe { (*node).next.set(self.head) };
        if self.head.is_null() {
            self.tail = node;
        }
        self.head = node;
    }

    /// Unlinks `node`, whose predecessor is `prev` (null for the head).
    fn unlink(&mut self, prev: *const Node<B>, node: *const Node<B>) {
        // SAFETY: see `push`.
        let next = unsafe { (*node).next.get() };
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: see `push`.
            unsafe { (*prev).next.set(next) };
        }
        if self.tail == node {
            self.tail = prev;
        }
    }

    /// Unlinks `node`, wherever it is; whether it was there.
    fn remove(&mut self, node: *const Node<B>) -> bool {
        let (mut prev, mut cur) = (ptr::null(), self.head);
        while !cur.is_null() {
            if cur == node {
                self.unlink(prev, cur);
                return true;
            }
            prev = cur;
            // SAFETY: see `push`.
            cur = unsafe { (*cur).next.get() };
        }
        false
    }

    /// Whether any node of `key` is in the line.
    fn has(&self, key: usize) -> bool {
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: see `push`.
            let node = unsafe { &*cur };
            // Relaxed: keys change only under the bucket lock, which we hold.
            if node.key.load(Relaxed) == key {
                return true;
            }
            cur = node.next.get();
        }
        false
    }

    /// Whether this unpark, which wakes somebody, is the fair one.
    fn fair_now(&mut self) -> bool {
        match &mut self.fairness {
            Fairness::Count(n) => {
                *n += 1;
                let fair = *n > B::FAIRNESS_OVERTAKES;
                if fair {
                    *n = 0;
                }
                fair
            }
            Fairness::Clock(next) => {
                let now = Instant::now();
                match *next {
                    Some(at) if now < at => false,
                    started => {
                        *next = now.checked_add(B::FAIRNESS_BOUND);
                        // The first unpark starts the clock; it is not itself fair.
                        started.is_some()
                    }
                }
            }
        }
    }
}

/// A bucket: a line behind a spinlock, alone on its cache line.
#[repr(align(64))]
pub(crate) struct Bucket<B: Backend>(SpinLock<Line<B>, B>);

/// The buckets of one generation of the table.
pub(crate) struct Table<B: Backend> {
    buckets: Box<[Bucket<B>]>,
    /// `64 - log2(buckets.len())`: the hash keeps the top bits of a multiplicative hash.
    shift: u32,
}

impl<B: Backend> Table<B> {
    fn with_buckets(count: usize) -> Self {
        let count = count.next_power_of_two().max(1);
        let buckets = (0..count).map(|_| Bucket(SpinLock::with_backend(Line::new()))).collect();
        Table { buckets, shift: 64 - count.trailing_zeros() }
    }

    fn index(&self, key: usize) -> usize {
        // Fibonacci hashing: the top bits of key × 2^64/φ spread nearby addresses apart.
        if self.shift == 64 {
            return 0;
        }
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }
}

/// Where a backend keeps its current table: see [`Backend::queue_slot`].
pub struct Slot<B: Backend> {
    table: AtomicPtr<Table<B>>,
}

impl<B: Backend> Slot<B> {
    /// An empty slot; the table is made on first use.
    pub const fn new() -> Self {
        Slot { table: AtomicPtr::new(ptr::null_mut()) }
    }

    /// The current table, made if there is none yet.
    fn table(&self) -> &Table<B> {
        // Acquire: pairs with the Release that published the table, so its buckets are seen
        // initialised.
        let mut current = self.table.load(Acquire);
        if current.is_null() {
            let fresh = Box::into_raw(Box::new(Table::with_buckets(B::QUEUE_BUCKETS)));
            // AcqRel: publishes ours (Release), or acquires the one that won (Acquire).
            match self.table.compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire) {
                Ok(_) => current = fresh,
                Err(theirs) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    current = theirs;
                }
            }
        }
        // SAFETY: a published table is never freed while the slot lives (old generations are
        // kept; see the module docs), and the slot is `'static` or outlives every waiter of its
        // loom execution.
        unsafe { &*current }
    }

    fn is_current(&self, table: &Table<B>) -> bool {
        // Relaxed: compared only; the bucket lock we hold orders what we then read.
        ptr::eq(self.table.load(Relaxed), table)
    }
}

impl<B: Backend> Default for Slot<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Backend> Drop for Slot<B> {
    fn drop(&mut self) {
        // Only loom's per-execution slots are ever dropped, at the end of their execution, with
        // every waiter gone and the table never grown. Older generations (`Real` only) are
        // kept for the life of the process.
        let table = *self.table.get_mut();
        if !table.is_null() {
            // SAFETY: the table came from `Box::into_raw` and nobody can reach the slot any more.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}

/// Locks the bucket of `key` in the current table.
fn lock_bucket<B: Backend>(key: usize) -> SpinLockGuard<'static, Line<B>, B> {
    let slot = B::queue_slot();
    loop {
        let table = slot.table();
        let guard = table.buckets[table.index(key)].0.lock();
        if slot.is_current(table) {
            // SAFETY: tables are never freed while the slot lives (see `Slot::table`), so the
            // guard may outlive the borrow it was made from.
            return unsafe {
                core::mem::transmute::<SpinLockGuard<'_, Line<B>, B>, SpinLockGuard<'static, Line<B>, B>>(
                    guard,
                )
            };
        }
    }
}

/// Locks the bucket of the key a node waits on, which a requeue may change until we hold it.
fn lock_bucket_of<B: Backend>(node: &Node<B>) -> SpinLockGuard<'static, Line<B>, B> {
    loop {
        // Relaxed: a hint of where to look; checked again under the lock.
        let key = node.key.load(Relaxed);
        let guard = lock_bucket::<B>(key);
        // Relaxed: keys change only under the bucket lock, which we now hold.
        if node.key.load(Relaxed) == key {
            return guard;
        }
    }
}

/// Locks the buckets of two keys, lower index first (once if they share one).
fn lock_two<B: Backend>(
    a: usize,
    b: usize,
) -> (SpinLockGuard<'static, Line<B>, B>, Option<SpinLockGuard<'static, Line<B>, B>>) {
    let slot = B::queue_slot();
    loop {
        let table = slot.table();
        let (ia, ib) = (table.index(a), table.index(b));
        let lock = |i: usize| table.buckets[i].0.lock();
        let (first, second) = if ia == ib {
            (lock(ia), None)
        } else if ia < ib {
            let first = lock(ia);
            (first, Some(lock(ib)))
        } else {
            let second = lock(ib);
            (lock(ia), Some(second))
        };
        if slot.is_current(table) {
            // SAFETY: as in `lock_bucket`, tables outlive every guard of theirs.
            unsafe {
                return (
                    core::mem::transmute::<SpinLockGuard<'_, Line<B>, B>, SpinLockGuard<'static, Line<B>, B>>(
                        first,
                    ),
                    second.map(|g| {
                        core::mem::transmute::<
                            SpinLockGuard<'_, Line<B>, B>,
                            SpinLockGuard<'static, Line<B>, B>,
                        >(g)
                    }),
                );
            }
        }
    }
}

/// Queues the calling thread on `key` if `validate` (run under the bucket lock) says so, and
/// sleeps until a waker picks it or `deadline` passes. `park_token` describes what it waits for,
/// for filters to read. `timed_out(more)` runs under the bucket lock after the thread left the
/// line at its deadline, with whether waiters of the key remain.
pub(crate) fn park<B: Backend>(
    key: usize,
    validate: impl FnOnce() -> bool,
    park_token: u32,
    deadline: Option<Instant>,
    timed_out: impl FnOnce(bool),
) -> Parked {
    if B::QUEUE_GROWS {
        growth::register::<B>();
    }
    let node = Node::<B>::new(key, park_token);
    let faults = B::QUEUE_FAULTS;
    {
        let mut validate = Some(validate);
        let early = if faults.validate_unlocked { validate.take().map(|v| v()) } else { None };
        let mut line = lock_bucket::<B>(key);
        if !early.unwrap_or_else(|| validate.take().map_or(false, |v| v())) {
            return Parked::Invalid;
        }
        if faults.lifo {
            line.push_front(&node);
        } else {
            line.push(&node);
        }
    }
    loop {
        // Relaxed: only ASLEEP is acted on here; `await_waker` acquires the token.
        match node.word.load(Relaxed) {
            ASLEEP => {
                // A false return means the deadline passed; a spurious return loops.
                if !B::futex_wait(&node.word, ASLEEP, super::wait::ALL, deadline) {
                    break;
                }
            }
            _ => return Parked::Woken(node.await_waker()),
        }
    }
    // The deadline passed: leave the line, unless a waker picked us meanwhile.
    let mut line = lock_bucket_of::<B>(&node);
    // Relaxed: the word leaves ASLEEP only under this bucket lock, which we hold.
    if node.word.load(Relaxed) == ASLEEP {
        // Relaxed: as above.
        let stale = faults.stale_more && line.has(node.key.load(Relaxed));
        let removed = line.remove(&node);
        debug_assert!(removed, "a node still asleep is in its line");
        // Relaxed: as above.
        let more = stale || line.has(node.key.load(Relaxed));
        timed_out(more);
        return Parked::TimedOut;
    }
    drop(line);
    Parked::Woken(node.await_waker())
}

/// Nodes picked under a bucket lock, woken once it is released.
struct Picked<B: Backend> {
    head: *const Node<B>,
    tail: *const Node<B>,
    count: usize,
}

impl<B: Backend> Picked<B> {
    fn new() -> Self {
        Picked { head: ptr::null(), tail: ptr::null(), count: 0 }
    }

    fn push(&mut self, node: *const Node<B>) {
        // SAFETY: `node` was just unlinked under the bucket lock; its waiter waits for AWAKE.
        unsafe { (*node).next.set(ptr::null()) };
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: as above, for the previous node picked.
            unsafe { (*self.tail).next.set(node) };
        }
        self.tail = node;
        self.count += 1;
    }

    /// Under the bucket lock: hands each its token and marks it `WAKING`.
    fn hand_over(&self, token: u32) {
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: as in `push`.
            let node = unsafe { &*cur };
            node.token.set(token);
            // Relaxed: the token is published by the Release store of AWAKE in `wake`.
            node.word.store(WAKING, Relaxed);
            cur = node.next.get();
        }
    }

    /// After the bucket lock is released: wakes each, and lets it go.
    fn wake(self) {
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: the node's waiter does not leave before it reads AWAKE, which we store last.
            let node = unsafe { &*cur };
            let next = node.next.get();
            B::futex_wake(&node.word, super::wait::ALL, 1);
            // Release: publishes the token (and what the waker did before) to the waiter's
            // Acquire in `await_waker`. After this the node may be gone.
            node.word.store(AWAKE, Release);
            cur = next;
        }
    }
}

/// Walks the line of `key` oldest first through `filter`, unlinks the waiters it picks, runs
/// `callback` under the bucket lock (its return is the token every picked waiter gets), then
/// wakes them.
pub(crate) fn unpark<B: Backend>(
    key: usize,
    mut filter: impl FnMut(u32) -> Pick,
    callback: impl FnOnce(Unparked) -> u32,
) -> Unparked {
    let mut line = lock_bucket::<B>(key);
    let mut picked = Picked::<B>::new();
    let mut more = false;
    let (mut prev, mut cur) = (ptr::null(), line.head);
    while !cur.is_null() {
        // SAFETY: a linked node is alive (see `Line::push`).
        let node = unsafe { &*cur };
        let next = node.next.get();
        // Relaxed: keys change only under the bucket lock, which we hold.
        if node.key.load(Relaxed) == key {
            match filter(node.park_token) {
                Pick::Wake => {
                    line.unlink(prev, cur);
                    picked.push(cur);
                    cur = next;
                    continue;
                }
                Pick::Skip => more = true,
                Pick::Stop => {
                    more = true;
                    break;
                }
            }
        }
        prev = cur;
        cur = next;
    }
    let fair = picked.count > 0 && line.fair_now();
    let result = Unparked { woken: picked.count, more, fair };
    let token = callback(result);
    picked.hand_over(token);
    drop(line);
    picked.wake();
    result
}

/// Under both bucket locks, asks `decide` what to do with the waiters of `from`, and does it:
/// moves them to the tail of `to`'s line, waking the oldest first if asked. `callback` runs under
/// the locks with what was done (nothing woken or moved if nobody waits), and returns the woken
/// waiter's token.
pub(crate) fn requeue<B: Backend>(
    from: usize,
    to: usize,
    decide: impl FnOnce() -> Requeue,
    callback: impl FnOnce(Requeue, Requeued) -> u32,
) -> Requeued {
    let (mut first, mut second) = lock_two::<B>(from, to);
    let op = decide();
    let mut done = Requeued { woken: 0, moved: 0 };
    let mut picked = Picked::<B>::new();
    if op != Requeue::Abort && from != to {
        // Which guard is whose: with two buckets, the lower index was locked first.
        let slot = B::queue_slot();
        let table = slot.table();
        let from_is_first = second.is_none() || table.index(from) < table.index(to);
        let mut moved = Picked::<B>::new();
        let mut lost = 0;
        {
            let line: &mut Line<B> =
                if from_is_first { &mut first } else { second.as_mut().expect("two buckets") };
            let (mut prev, mut cur) = (ptr::null(), line.head);
            while !cur.is_null() {
                // SAFETY: a linked node is alive (see `Line::push`).
                let node = unsafe { &*cur };
                let next = node.next.get();
                // Relaxed: keys change only under the bucket lock, which we hold.
                if node.key.load(Relaxed) == from {
                    if op == Requeue::WakeOneMoveRest && picked.count == 0 {
                        line.unlink(prev, cur);
                        picked.push(cur);
                    } else if B::QUEUE_FAULTS.lose_requeue {
                        // The fault: counted as moved, left where it was.
                        lost += 1;
                        prev = cur;
                    } else {
                        line.unlink(prev, cur);
                        // Relaxed: under both bucket locks, which every reader of the key takes.
                        node.key.store(to, Relaxed);
                        moved.push(cur);
                    }
                } else {
                    prev = cur;
                }
                cur = next;
            }
        }
        let line: &mut Line<B> =
            if from_is_first { second.as_mut().unwrap_or(&mut first) } else { &mut first };
        let mut cur = moved.head;
        while !cur.is_null() {
            // SAFETY: as above; `next` is read before `push` overwrites it.
            let next = unsafe { (*cur).next.get() };
            line.push(cur);
            cur = next;
        }
        done = Requeued { woken: picked.count, moved: moved.count + lost };
    }
    let token = callback(op, done);
    picked.hand_over(token);
    drop(second);
    drop(first);
    picked.wake();
    done
}

/// The table's growth with the number of threads (over backends that grow: [`Real`](crate::backend::Real)).
mod growth {
    use super::*;

    /// Threads alive that have parked at least once.
    static THREADS: AtomicUsize = AtomicUsize::new(0);

    /// Counts a thread for as long as it lives.
    struct Registration;

    impl Drop for Registration {
        fn drop(&mut self) {
            // Relaxed: a statistic that only sizes the table.
            THREADS.fetch_sub(1, Relaxed);
        }
    }

    std::thread_local! {
        static REGISTERED: Cell<Option<Registration>> = const { Cell::new(None) };
    }

    /// Counts the calling thread on its first park, and grows the table if threads now
    /// outnumber three per bucket.
    pub(super) fn register<B: Backend>() {
        let first = REGISTERED
            .try_with(|r| {
                // Put back the registration we had, if any: dropping it would un-count us.
                let had = r.replace(None);
                let first = had.is_none();
                r.set(if first { Some(Registration) } else { had });
                first
            })
            .unwrap_or(false);
        if !first {
            return;
        }
        // Relaxed: as in `Registration::drop`.
        let threads = THREADS.fetch_add(1, Relaxed) + 1;
        let table = B::queue_slot().table();
        if threads > LOAD_FACTOR * table.buckets.len() {
            grow::<B>(threads);
        }
    }

    /// Threads per bucket before the table grows.
    const LOAD_FACTOR: usize = 3;

    /// Replaces the table with one of at least `threads / LOAD_FACTOR` buckets, moving every
    /// waiter in order.
    fn grow<B: Backend>(threads: usize) {
        let slot = B::queue_slot();
        let old = loop {
            let old = slot.table();
            if old.buckets.len() * LOAD_FACTOR >= threads {
                return; // Someone grew it already.
            }
            let guards: Vec<_> = old.buckets.iter().map(|b| b.0.lock()).collect();
            if slot.is_current(old) {
                break (old, guards);
            }
        };
        let (old, mut guards) = old;
        let new = Table::<B>::with_buckets(threads / LOAD_FACTOR * 2);
        for guard in guards.iter_mut() {
            let mut cur = guard.head;
            while !cur.is_null() {
                // SAFETY: a linked node is alive; every old bucket is locked, and the new table
                // is not yet published.
                let node = unsafe { &*cur };
                let next = node.next.get();
                // Relaxed: under the old bucket lock.
                let key = node.key.load(Relaxed);
                let mut line = new.buckets[new.index(key)].0.lock();
                line.push(cur);
                cur = next;
            }
            guard.head = ptr::null();
            guard.tail = ptr::null();
        }
        let new = Box::into_raw(Box::new(new));
        // Release: publishes the new table's lines to the Acquire in `Slot::table`. The old
        // table is never freed (see the module docs).
        slot.table.store(new, Release);
        let _ = old;
        drop(guards);
    }
}
