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
//! **The word a waiter sleeps on** is its thread's own (`thread_word.rs`: one per thread, never
//! freed), not the node's. The waiter sets it `ASLEEP` before it queues. A waker marks the node
//! picked and hands it its token under the bucket lock; after releasing the lock it reads what it
//! still needs of the node, stores `AWAKE` (from then on the waiter may leave, and its node go)
//! and only then wakes the word, which outlives the node. So no waiter ever waits for its waker
//! to finish, and no wake names memory that is gone; a wake that arrives after the waiter left
//! reaches its thread's next sleep, which takes it for a spurious return and sleeps again.
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
use crate::spin::{SpinLock, SpinLockGuard};

/// The thread's word while its node is in a line, or picked and not yet let go.
const ASLEEP: u32 = 1;
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
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Unlink and wake it.
    Wake,
    /// Leave it in the line and look at the next.
    Skip,
    /// Leave it and every later one.
    Stop,
}

/// What a [`requeue`] does, decided under both bucket locks.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Nothing.
    Abort,
    /// Move every waiter of `from` to the tail of `to`'s line.
    MoveAll,
    /// Wake the oldest waiter of `from` and move the rest.
    WakeOneMoveRest,
}

/// What a [`requeue`] did.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requeued {
    /// How many waiters were woken (at most one).
    pub woken: usize,
    /// How many were moved to the other key's line.
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
    /// A waiter whose deadline passed reports a timeout though a waker picked it.
    pub picked_times_out: bool,
    /// `requeue` reports waiters moved but leaves them on the old key.
    pub lose_requeue: bool,
}

impl QueueFaults {
    /// No fault.
    pub const NONE: Self = QueueFaults {
        validate_unlocked: false,
        lifo: false,
        stale_more: false,
        picked_times_out: false,
        lose_requeue: false,
    };
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
    /// What the waker hands over. Written under the bucket lock; read by the owner after it
    /// reads `AWAKE`.
    token: Cell<u32>,
    /// Whether a waker unlinked it. Under the bucket lock.
    picked: Cell<bool>,
    /// The word its thread sleeps on: `ASLEEP` until the waker lets the node go with `AWAKE`.
    word: &'static B::Word,
}

impl<B: Backend> Node<B> {
    fn new(key: usize, park_token: u32, word: &'static B::Word) -> Self {
        Node {
            key: AtomicUsize::new(key),
            next: Cell::new(ptr::null()),
            park_token,
            token: Cell::new(0),
            picked: Cell::new(false),
            word,
        }
    }

    /// Whether the waker let the node go; if so, its token is the waker's to read.
    fn let_go(&self) -> bool {
        // Acquire: pairs with the waker's Release store of AWAKE, so the token it wrote (and
        // what it did before its unpark) is visible.
        self.word.load(Acquire) == AWAKE
    }

    /// Sleeps until the waker lets the node go or `deadline` passes; whether it was let go.
    fn sleep(&self, deadline: Option<Instant>) -> bool {
        while !self.let_go() {
            // A false return means the deadline passed; a spurious return loops.
            if !B::futex_wait(self.word, ASLEEP, super::wait::ALL, deadline) {
                return false;
            }
            // One pause before we look again (a yield under loom, so that the look cannot read
            // the same old `ASLEEP` forever while the futex keeps seeing it changed).
            B::spin_hint();
        }
        true
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
        // SAFETY (and in every function of `Line`): a linked or picked node is alive (its waiter
        // waits for `AWAKE`) and touched only under the bucket lock or by the one waker that
        // picked it, which the caller's `&mut self` stands for.
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
        // initialised. loom-invisible: the table pointer is a core atomic in a static, which
        // loom does not model (and over loom the table never grows). The check that can see
        // these three is ThreadSanitizer, which CI runs over `tests/queue.rs` (208 threads
        // growing the table); no weakened copy has been run under it.
        let mut current = self.table.load(Acquire);
        if current.is_null() {
            let fresh = Box::into_raw(Box::new(Table::with_buckets(B::QUEUE_BUCKETS)));
            // AcqRel: publishes ours (Release), or acquires the one that won (Acquire).
            // loom-invisible: as above.
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

/// A locked bucket.
type BucketGuard<B> = SpinLockGuard<'static, Line<B>, B>;

/// Locks the buckets of two keys, the lower index first (once if they share one); returns the
/// guard of `a`'s bucket, then `b`'s (`None` when it is `a`'s).
fn lock_two<B: Backend>(a: usize, b: usize) -> (BucketGuard<B>, Option<BucketGuard<B>>) {
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
    // The calling thread's own word, which outlives the node.
    B::with_thread_word(|word| {
        let node = Node::<B>::new(key, park_token, word);
        // Relaxed: ordered before any waker's AWAKE by the bucket lock we release after queueing,
        // which the waker takes before it picks the node.
        word.store(ASLEEP, Relaxed);
        let faults = B::QUEUE_FAULTS;
        {
            let mut validate = Some(validate);
            let early = if faults.validate_unlocked { validate.take().map(|v| v()) } else { None };
            let mut line = lock_bucket::<B>(key);
            if !early.unwrap_or_else(|| validate.take().is_some_and(|v| v())) {
                return Parked::Invalid;
            }
            if faults.lifo {
                line.push_front(&node);
            } else {
                line.push(&node);
            }
        }
        if node.sleep(deadline) {
            return Parked::Woken(node.token.get());
        }
        // The deadline passed: leave the line, unless a waker picked us meanwhile.
        let mut line = lock_bucket_of::<B>(&node);
        if !node.picked.get() {
            // Relaxed: keys change only under the bucket lock, which we hold.
            let key = node.key.load(Relaxed);
            let stale = faults.stale_more && line.has(key);
            let removed = line.remove(&node);
            debug_assert!(removed, "a node not picked is in its line");
            let more = stale || line.has(key);
            timed_out(more);
            return Parked::TimedOut;
        }
        drop(line);
        // Picked: the waker is on its way to let us go.
        node.sleep(None);
        if faults.picked_times_out {
            return Parked::TimedOut;
        }
        Parked::Woken(node.token.get())
    })
}

/// Nodes picked under a bucket lock, let go once it is released: a line of their own (whose
/// fairness clock goes unused).
struct Picked<B: Backend> {
    nodes: Line<B>,
    count: usize,
}

impl<B: Backend> Picked<B> {
    fn new() -> Self {
        Picked { nodes: Line::new(), count: 0 }
    }

    /// Under the bucket lock: takes `node`, just unlinked from its line.
    fn push(&mut self, node: *const Node<B>) {
        self.nodes.push(node);
        self.count += 1;
    }

    /// Under the bucket lock: hands each picked node its token.
    fn hand_over(&self, token: u32) {
        let mut cur = self.nodes.head;
        while !cur.is_null() {
            // SAFETY: a picked node's waiter waits for `AWAKE`, which only `let_go` stores.
            let node = unsafe { &*cur };
            node.picked.set(true);
            node.token.set(token);
            cur = node.next.get();
        }
    }

    /// After the bucket lock is released: lets each node go, then wakes its thread's word.
    fn let_go(self) {
        let mut cur = self.nodes.head;
        while !cur.is_null() {
            // SAFETY: as in `hand_over`; we read all we need of the node before storing AWAKE.
            let (next, word) = unsafe { ((*cur).next.get(), (*cur).word) };
            // Release: publishes the token (and what the waker did before) to the waiter's
            // Acquire in `Node::let_go`. From here the node may be gone; its thread's word
            // lives on.
            word.store(AWAKE, Release);
            B::futex_wake(word, super::wait::ALL, 1);
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
    picked.let_go();
    result
}

/// How many threads are queued on `key` now whose park token `keep` accepts (picked ones no
/// longer count): for models and tests, which must wait until a thread is in line.
pub(crate) fn waiting_with<B: Backend>(key: usize, keep: impl Fn(u32) -> bool) -> usize {
    let line = lock_bucket::<B>(key);
    let mut count = 0;
    let mut cur = line.head;
    while !cur.is_null() {
        // SAFETY: a linked node is alive (see `Line::push`), and we hold its bucket lock.
        let node = unsafe { &*cur };
        // Relaxed: keys change only under the bucket lock, which we hold.
        count += usize::from(node.key.load(Relaxed) == key && keep(node.park_token));
        cur = node.next.get();
    }
    count
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
        let mut moved = Picked::<B>::new();
        let mut lost = 0;
        {
            // `first` is `from`'s bucket, whichever was locked first.
            let line: &mut Line<B> = &mut first;
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
        let line: &mut Line<B> = second.as_mut().unwrap_or(&mut first);
        let mut cur = moved.nodes.head;
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
    picked.let_go();
    done
}

/// The table's growth with the number of threads (over backends that grow: [`Real`](crate::backend::Real)).
mod growth {
    use super::*;

    /// Threads alive that have parked at least once.
    pub(super) static THREADS: AtomicUsize = AtomicUsize::new(0);

    /// Counts a thread for as long as it lives: the count goes up when one is made and down when
    /// it is dropped, so no stray temporary can unbalance it.
    struct Registration;

    impl Registration {
        /// Counts the calling thread; returns how many threads are counted now.
        fn new() -> (Self, usize) {
            // Relaxed: a statistic that only sizes the table.
            (Registration, THREADS.fetch_add(1, Relaxed) + 1)
        }
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            // Relaxed: as in `new`.
            THREADS.fetch_sub(1, Relaxed);
        }
    }

    std::thread_local! {
        static REGISTERED: Cell<Option<Registration>> = const { Cell::new(None) };
    }

    /// Counts the calling thread on its first park, and grows the table if threads now
    /// outnumber three per bucket.
    pub(super) fn register<B: Backend>() {
        let counted = REGISTERED.try_with(|slot| {
            // Taken out to look at, and put back: dropped, it would uncount the thread.
            let (registration, counted) = match slot.take() {
                Some(registration) => (registration, None),
                None => {
                    let (registration, threads) = Registration::new();
                    (registration, Some(threads))
                }
            };
            slot.set(Some(registration));
            counted
        });
        // Not counted (a park while the thread's locals are being destroyed counts as before).
        let Ok(Some(threads)) = counted else { return };
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
        // table is never freed (see the module docs). loom-invisible: see `Slot::table`.
        slot.table.store(new, Release);
        let _ = old;
        drop(guards);
    }
}

/// The queue's own operations, for the crate's tests and loom models (which live outside the
/// crate): `park`, `unpark` and `requeue` with any filter or decision, and two looks at the
/// table. Not part of the API: the primitives are.
///
/// ```
/// use turnstile::backend::queue_models::{self as queue, Parked, Pick};
/// use turnstile::backend::Real;
///
/// let key = 0x1000; // any address-sized number; the lock word's address in the primitives
/// assert_eq!(queue::park::<Real>(key, || false, 1, None, |_| {}), Parked::Invalid);
/// let result = queue::unpark::<Real>(key, |_| Pick::Wake, |_| 7);
/// assert_eq!((result.woken, result.more), (0, false));
/// assert_eq!(queue::waiting::<Real>(key), 0);
/// ```
#[doc(hidden)]
pub mod models {
    use super::*;
    pub use super::{Parked, Pick, Requeue, Requeued, Unparked};

    /// The queue's `park`: queues on `key` if `validate` holds, and sleeps until picked or
    /// `deadline`.
    ///
    /// ```
    /// # use turnstile::backend::{queue_models as queue, Real};
    /// let soon = Some(std::time::Instant::now());
    /// let mut more = None;
    /// let parked = queue::park::<Real>(0x2000, || true, 1, soon, |m| more = Some(m));
    /// assert_eq!((parked, more), (queue::Parked::TimedOut, Some(false)));
    /// ```
    pub fn park<B: Backend>(
        key: usize,
        validate: impl FnOnce() -> bool,
        park_token: u32,
        deadline: Option<Instant>,
        timed_out: impl FnOnce(bool),
    ) -> Parked {
        super::park::<B>(key, validate, park_token, deadline, timed_out)
    }

    /// The queue's `unpark`: wakes the waiters of `key` that `filter` picks, oldest first,
    /// handing each the token `callback` returns.
    ///
    /// ```
    /// # use turnstile::backend::{queue_models as queue, Real};
    /// let result = queue::unpark::<Real>(0x3000, |_| queue::Pick::Stop, |r| r.woken as u32);
    /// assert_eq!(result.woken, 0);
    /// ```
    pub fn unpark<B: Backend>(
        key: usize,
        filter: impl FnMut(u32) -> Pick,
        callback: impl FnOnce(Unparked) -> u32,
    ) -> Unparked {
        super::unpark::<B>(key, filter, callback)
    }

    /// The queue's `requeue`: moves the waiters of `from` to `to`'s line as `decide`
    /// says, waking the oldest first for [`Requeue::WakeOneMoveRest`].
    ///
    /// ```
    /// # use turnstile::backend::{queue_models as queue, Real};
    /// let done = queue::requeue::<Real>(0x4000, 0x5000, || queue::Requeue::MoveAll, |_, _| 0);
    /// assert_eq!((done.woken, done.moved), (0, 0));
    /// ```
    pub fn requeue<B: Backend>(
        from: usize,
        to: usize,
        decide: impl FnOnce() -> Requeue,
        callback: impl FnOnce(Requeue, Requeued) -> u32,
    ) -> Requeued {
        super::requeue::<B>(from, to, decide, callback)
    }

    /// How many threads are queued on `key` now (picked ones no longer count).
    ///
    /// ```
    /// # use turnstile::backend::{queue_models as queue, Real};
    /// assert_eq!(queue::waiting::<Real>(0x6000), 0);
    /// ```
    pub fn waiting<B: Backend>(key: usize) -> usize {
        super::waiting_with::<B>(key, |_| true)
    }

    /// How many buckets the current table has (it only grows).
    ///
    /// ```
    /// # use turnstile::backend::{queue_models as queue, Backend, Real};
    /// assert!(queue::buckets::<Real>() >= Real::QUEUE_BUCKETS);
    /// ```
    pub fn buckets<B: Backend>() -> usize {
        B::queue_slot().table().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::models::waiting;
    use super::*;
    use crate::backend::Real;
    use core::sync::atomic::AtomicU32;
    use std::thread;
    use std::time::Duration;

    /// The park tokens of `key`'s line, oldest first.
    fn line_tokens(line: &Line<Real>, key: usize) -> Vec<u32> {
        let mut tokens = Vec::new();
        let mut cur = line.head;
        while !cur.is_null() {
            // SAFETY: the nodes linked in the test's line live on the test's stack.
            let node = unsafe { &*cur };
            if node.key.load(Relaxed) == key {
                tokens.push(node.park_token);
            }
            cur = node.next.get();
        }
        tokens
    }

    /// A word for nodes that never sleep.
    static SPARE: AtomicU32 = AtomicU32::new(0);

    #[test]
    fn a_line_is_first_in_first_out_and_gives_up_any_node() {
        let nodes: Vec<Node<Real>> =
            (1..=4).map(|token| Node::new(7 + token as usize % 2, token, &SPARE)).collect();
        let mut line = Line::<Real>::new();
        nodes.iter().for_each(|node| line.push(node));
        assert_eq!(line_tokens(&line, 7), [2, 4]);
        assert_eq!(line_tokens(&line, 8), [1, 3]);
        assert!(line.remove(&nodes[3]), "the tail");
        assert!(line.remove(&nodes[0]), "the head");
        assert!(!line.remove(&nodes[0]), "gone already");
        assert!(line.has(7) && line.has(8));
        assert!(line.remove(&nodes[1]));
        assert!(!line.has(7), "key 7's last waiter left");
        // The tail moved back correctly: a new node goes after the one that is left.
        let late = Node::<Real>::new(8, 5, &SPARE);
        line.push(&late);
        assert_eq!(line_tokens(&line, 8), [3, 5]);
        line.push_front(&nodes[1]);
        assert_eq!(line_tokens(&line, 7), [2]);
        assert_eq!(line.head, &nodes[1] as *const _);
    }

    #[test]
    fn a_key_hashes_into_its_table() {
        for (asked, made) in [(0, 1), (1, 1), (64, 64), (100, 128)] {
            let table = Table::<Real>::with_buckets(asked);
            assert_eq!(table.buckets.len(), made);
            for key in (0..4096).map(|i| i * 8).chain([usize::MAX, usize::MAX / 3]) {
                assert!(table.index(key) < made);
            }
        }
        // Neighbouring words (one lock's fields, an array of locks) spread over the buckets.
        let table = Table::<Real>::with_buckets(64);
        let used: std::collections::HashSet<_> = (0..64).map(|i| table.index(0x7f00_0000 + i * 4)).collect();
        assert!(used.len() > 32, "64 neighbouring words fill only {} of 64 buckets", used.len());
    }

    #[test]
    fn the_fairness_clock_starts_unfair_and_comes_due() {
        let mut line = Line::<Real>::new();
        assert!(!line.fair_now(), "the first unpark starts the clock");
        line.fairness = Fairness::Clock(Instant::now().checked_sub(Duration::from_millis(1)));
        assert!(line.fair_now(), "the bound passed");
        line.fairness = Fairness::Clock(Instant::now().checked_add(Duration::from_secs(3600)));
        assert!(!line.fair_now(), "the bound is far off");
        // Without a clock, the unpark after every `FAIRNESS_OVERTAKES` unfair ones is fair.
        line.fairness = Fairness::Count(0);
        let fair: Vec<bool> = (0..6).map(|_| line.fair_now()).collect();
        let every = Real::FAIRNESS_OVERTAKES as usize + 1;
        assert!(fair.iter().enumerate().all(|(i, &f)| f == ((i + 1) % every == 0)), "{fair:?}");
    }

    /// Parks a thread on `key` with `token` and waits until it is queued (the `count`th).
    fn park_in_order<'s>(s: &'s thread::Scope<'s, '_>, key: usize, token: u32, count: usize) {
        s.spawn(move || {
            assert_eq!(park::<Real>(key, || true, token, None, |_| {}), Parked::Woken(token));
        });
        while waiting::<Real>(key) != count {
            thread::yield_now();
        }
    }

    /// Unparks `key` one waiter at a time, handing each its own park token; the order they came.
    fn unpark_each(key: usize) -> Vec<u32> {
        let mut order = Vec::new();
        loop {
            let first = Cell::new(None);
            let one = |theirs| {
                if first.get().is_some() {
                    return Pick::Stop;
                }
                first.set(Some(theirs));
                Pick::Wake
            };
            let result = unpark::<Real>(key, one, |_| first.get().unwrap_or(0));
            if result.woken == 0 {
                return order;
            }
            order.extend(first.get());
        }
    }

    /// Three keys from one array of words: `from` and `to` in buckets ordered as `relation` asks
    /// (`Less`: from's bucket index below to's; `Equal`: one bucket).
    fn keys_in_buckets(words: &[AtomicU32], relation: core::cmp::Ordering) -> (usize, usize) {
        let table = Real::queue_slot().table();
        let keys: Vec<usize> = words.iter().map(|w| w as *const AtomicU32 as usize).collect();
        for &from in &keys {
            for &to in &keys {
                if from != to && table.index(from).cmp(&table.index(to)) == relation {
                    return (from, to);
                }
            }
        }
        panic!("no two of {} words have buckets {relation:?}", words.len());
    }

    /// A requeue moves every waiter of one key to the tail of another's line, in order, whether
    /// the two keys' buckets are locked in the order of the keys, the other way round, or share
    /// one bucket; and the woken one of `WakeOneMoveRest` is the oldest.
    #[test]
    fn requeue_moves_every_waiter_in_order_whichever_bucket_comes_first() {
        use core::cmp::Ordering::{Equal, Greater, Less};
        let words: Vec<AtomicU32> = (0..256).map(|_| AtomicU32::new(0)).collect();
        for relation in [Less, Greater, Equal] {
            for how in [Requeue::MoveAll, Requeue::WakeOneMoveRest] {
                let (from, to) = keys_in_buckets(&words, relation);
                thread::scope(|s| {
                    park_in_order(s, to, 10, 1);
                    park_in_order(s, from, 1, 1);
                    park_in_order(s, from, 2, 2);
                    park_in_order(s, from, 3, 3);
                    let done =
                        requeue::<Real>(from, to, || how, |op, _| if op == Requeue::MoveAll { 0 } else { 1 });
                    let left_behind = waiting::<Real>(from);
                    let order = unpark_each(to);
                    // Whatever happened, let every waiter go before asserting (a stranded one
                    // would hang the test instead of failing it).
                    let stranded = unpark_each(from);
                    let (woken, moved, expected) = match how {
                        Requeue::MoveAll => (0, 3, vec![10, 1, 2, 3]),
                        _ => (1, 2, vec![10, 2, 3]),
                    };
                    let case = format!("{how:?}, buckets {relation:?}");
                    assert_eq!((done.woken, done.moved), (woken, moved), "{case}");
                    assert_eq!((left_behind, stranded), (0, vec![]), "{case}: left on `from`");
                    assert_eq!(order, expected, "{case}");
                });
            }
        }
    }

    /// However often a thread parks, it counts once in the table's sizing.
    #[test]
    fn a_thread_counts_once_however_often_it_parks() {
        thread::spawn(|| {
            for _ in 0..if cfg!(miri) { 5 } else { 100 } {
                assert_eq!(park::<Real>(0x10, || false, 1, None, |_| {}), Parked::Invalid);
            }
            // Other tests' threads count too, but never this many.
            let threads = growth::THREADS.load(Relaxed);
            assert!((1..100_000).contains(&threads), "{threads} threads counted");
        })
        .join()
        .unwrap();
    }
}
