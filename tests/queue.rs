//! The wait queues under `Real`, from the outside: many threads parking and unparking on a few
//! addresses with exact totals, and the table growing under queued waiters without losing or
//! reordering one.
//!
//! The queue's operations are reached through `turnstile::backend::queue_models` (hidden, for the
//! crate's own tests). Keys are the addresses of words each test owns, so tests running at once
//! never share a key. Nothing here sleeps to order threads or measures time: where one thread must
//! be queued before another acts, the other watches `queue_models::waiting`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use turnstile::backend::queue_models::{self as queue, Parked, Pick, Requeue, Unparked};
use turnstile::backend::Real;

/// A key of this test's own: the address of a word it keeps alive.
fn key_of(word: &AtomicU32) -> usize {
    word as *const AtomicU32 as usize
}

/// Spins (yielding) until `key` has `count` waiters queued.
fn wait_for_queued(key: usize, count: usize) {
    while queue::waiting::<Real>(key) != count {
        thread::yield_now();
    }
}

/// What the stress test knows about the queue, kept exactly: every change is made under the
/// bucket lock of the key it concerns (inside `validate`, the callbacks and `timed_out`), so it
/// moves in step with the queue itself, and the queue's answers can be checked against it.
struct Ledger {
    words: [AtomicU32; KEYS],
    /// Waiters queued on each key.
    queued: [AtomicUsize; KEYS],
    /// Each parker's key while it is queued (stale once it leaves, until it parks again).
    at: Vec<AtomicUsize>,
    /// The next token an unpark hands out (never 0: a waiter woken with 0 got nothing).
    next_token: AtomicU32,
    handed: AtomicU64,
    handed_sum: AtomicU64,
    received: AtomicU64,
    received_sum: AtomicU64,
    timed_out: AtomicU64,
    invalid: AtomicU64,
    parkers_done: AtomicUsize,
    /// The first answer of the queue that disagreed with the ledger (a panic under a bucket lock
    /// would strand the waiters it picked, so mismatches are recorded and asserted at the end).
    mismatch: std::sync::Mutex<Option<String>>,
}

const KEYS: usize = 3;

impl Ledger {
    fn new(parkers: usize) -> Self {
        Ledger {
            words: Default::default(),
            queued: Default::default(),
            at: (0..parkers).map(|_| AtomicUsize::new(usize::MAX)).collect(),
            next_token: AtomicU32::new(1),
            handed: AtomicU64::new(0),
            handed_sum: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_sum: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            parkers_done: AtomicUsize::new(0),
            mismatch: std::sync::Mutex::new(None),
        }
    }

    fn key(&self, index: usize) -> usize {
        key_of(&self.words[index])
    }

    fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.mismatch.lock().unwrap().get_or_insert_with(what);
        }
    }

    /// Under the bucket lock of key `k`: `woken` waiters of it were picked; the queue says `more`.
    fn picked(&self, k: usize, woken: usize, more: bool) -> u32 {
        let left = self.queued[k].load(SeqCst).checked_sub(woken);
        self.check(left.is_some(), || format!("key {k}: {woken} woken, fewer queued"));
        let left = left.unwrap_or(0);
        self.queued[k].store(left, SeqCst);
        self.check(more == (left > 0), || format!("key {k}: more = {more} with {left} left"));
        let token = self.next_token.fetch_add(1, SeqCst);
        self.handed.fetch_add(woken as u64, SeqCst);
        self.handed_sum.fetch_add(u64::from(token) * woken as u64, SeqCst);
        token
    }

    /// One parker's rounds: park on the keys in turn, some with a deadline, some refused.
    fn park_rounds(&self, me: usize, rounds: usize) {
        // Counted done even if a check below panics, so that the unparkers stop and the test
        // fails instead of hanging.
        struct Done<'a>(&'a AtomicUsize);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let _done = Done(&self.parkers_done);
        for round in 0..rounds {
            let k = (me + round) % KEYS;
            let refuse = round % 7 == 3;
            let validate = || {
                if refuse {
                    return false;
                }
                self.at[me].store(k, SeqCst);
                self.queued[k].fetch_add(1, SeqCst);
                true
            };
            let deadline =
                (round % 3 == 1).then(|| Instant::now() + Duration::from_micros(50 * (round % 5) as u64));
            let timed_out = |more: bool| {
                // A requeue may have moved us: our key is the one the ledger says.
                let now_at = self.at[me].load(SeqCst);
                let left = self.queued[now_at].load(SeqCst).checked_sub(1);
                self.check(left.is_some(), || format!("timed out on key {now_at}, where none was queued"));
                let left = left.unwrap_or(0);
                self.queued[now_at].store(left, SeqCst);
                self.check(more == (left > 0), || {
                    format!("timed out on key {now_at}: more = {more}, {left} left")
                });
            };
            // Park tokens 1 and 2 let a filter pick among the waiters of one key.
            match queue::park::<Real>(self.key(k), validate, 1 + (me % 2) as u32, deadline, timed_out) {
                Parked::Woken(token) => {
                    self.check(token != 0, || "woken with token 0".to_string());
                    self.received.fetch_add(1, SeqCst);
                    self.received_sum.fetch_add(u64::from(token), SeqCst);
                }
                Parked::TimedOut => {
                    self.check(deadline.is_some(), || "an untimed park timed out".to_string());
                    self.timed_out.fetch_add(1, SeqCst);
                }
                Parked::Invalid => {
                    self.check(refuse, || "a park that validated came back invalid".to_string());
                    self.invalid.fetch_add(1, SeqCst);
                }
            }
        }
    }

    /// One unparker: wakes and requeues in every way there is until every parker is done.
    fn unpark_until_done(&self, me: usize, parkers: usize) {
        let mut step = me;
        while self.parkers_done.load(SeqCst) < parkers {
            step += 1;
            // Every key sees every operation in turn.
            let k = (step / 6) % KEYS;
            let key = self.key(k);
            match step % 6 {
                0 => {
                    let mut picked = false;
                    let one = |_| if std::mem::replace(&mut picked, true) { Pick::Stop } else { Pick::Wake };
                    queue::unpark::<Real>(key, one, |r: Unparked| self.picked(k, r.woken, r.more));
                }
                1 => {
                    queue::unpark::<Real>(key, |_| Pick::Wake, |r| self.picked(k, r.woken, r.more));
                }
                2 => {
                    let odd = |token: u32| if token == 1 { Pick::Wake } else { Pick::Skip };
                    queue::unpark::<Real>(key, odd, |r| self.picked(k, r.woken, r.more));
                }
                op => {
                    let to = (k + 1) % KEYS;
                    let how = if op == 3 { Requeue::MoveAll } else { Requeue::WakeOneMoveRest };
                    let abort = op == 5;
                    let decide = || if abort { Requeue::Abort } else { how };
                    queue::requeue::<Real>(key, self.key(to), decide, |op, done| {
                        let before = self.queued[k].load(SeqCst);
                        let expected = match op {
                            Requeue::Abort => (0, 0),
                            Requeue::MoveAll => (0, before),
                            Requeue::WakeOneMoveRest => (before.min(1), before.saturating_sub(1)),
                        };
                        self.check((done.woken, done.moved) == expected, || {
                            format!("requeue {op:?} of {before}: {done:?}")
                        });
                        if op == Requeue::Abort {
                            return 0;
                        }
                        for at in &self.at {
                            // A parker still marked at `k` is queued there (and now moved) or
                            // has left it (and will mark its next key before it queues again).
                            let _ = at.compare_exchange(k, to, SeqCst, SeqCst);
                        }
                        self.queued[to].fetch_add(done.moved, SeqCst);
                        // (Saturating: a broken queue fails the check above, not a panic here,
                        // which would leave the parkers asleep and hang the test.)
                        self.queued[k].store(before.saturating_sub(done.woken + done.moved), SeqCst);
                        let token = self.next_token.fetch_add(1, SeqCst);
                        self.handed.fetch_add(done.woken as u64, SeqCst);
                        self.handed_sum.fetch_add(u64::from(token) * done.woken as u64, SeqCst);
                        token
                    });
                }
            }
            thread::yield_now();
        }
    }
}

/// Many threads park on three keys, with and without deadlines, some refused by `validate`,
/// while others unpark one, all, by filter, and requeue between the keys. Every answer the queue
/// gives under its locks (`more`, how many were woken or moved) matches an exact ledger; at the
/// end every token handed out was received once per waiter it was handed to, and nobody is left.
#[test]
fn many_threads_on_few_keys_keep_exact_totals() {
    let (parkers, unparkers, rounds) = if cfg!(miri) { (3, 2, 8) } else { (12, 4, 2000) };
    let ledger = Ledger::new(parkers);
    thread::scope(|s| {
        for me in 0..parkers {
            let ledger = &ledger;
            s.spawn(move || ledger.park_rounds(me, rounds));
        }
        for me in 0..unparkers {
            let ledger = &ledger;
            s.spawn(move || ledger.unpark_until_done(me, parkers));
        }
    });
    if let Some(mismatch) = ledger.mismatch.lock().unwrap().take() {
        panic!("the queue disagreed with the ledger: {mismatch}");
    }
    let received = ledger.received.load(SeqCst);
    assert_eq!(received, ledger.handed.load(SeqCst), "wakes handed out and received");
    assert_eq!(
        ledger.received_sum.load(SeqCst),
        ledger.handed_sum.load(SeqCst),
        "tokens handed and received"
    );
    let (timed_out, invalid) = (ledger.timed_out.load(SeqCst), ledger.invalid.load(SeqCst));
    assert_eq!(received + timed_out + invalid, (parkers * rounds) as u64, "every park ended one way");
    for k in 0..KEYS {
        assert_eq!(ledger.queued[k].load(SeqCst), 0);
        assert_eq!(queue::waiting::<Real>(ledger.key(k)), 0);
        let last = queue::unpark::<Real>(ledger.key(k), |_| Pick::Wake, |_| 1);
        assert_eq!((last.woken, last.more), (0, false), "key {k}: somebody was left queued");
    }
}

/// Waiters queue on two keys one after another (each thread parks only once the previous one is
/// queued), enough threads that the table must grow while they wait; then each key is unparked
/// one waiter at a time. The table grew, and every waiter comes out once, in the order it came,
/// with the token meant for it.
#[test]
#[cfg_attr(miri, ignore = "growth takes hundreds of threads")]
fn the_table_grows_under_queued_waiters_and_keeps_their_order() {
    let words = [AtomicU32::new(0), AtomicU32::new(0)];
    let keys = [key_of(&words[0]), key_of(&words[1])];
    let before = queue::buckets::<Real>();
    // More threads than the table's load factor (three per bucket) allows, counting only ours.
    let waiters = before * 3 + 16;
    thread::scope(|s| {
        let mut queued = [0; 2];
        for i in 0..waiters {
            let key = keys[i % 2];
            let token = i as u32 + 1;
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn_scoped(s, move || {
                    let parked = queue::park::<Real>(key, || true, token, None, |_| unreachable!("untimed"));
                    assert_eq!(parked, Parked::Woken(token), "waiter {i} got another's token");
                })
                .unwrap();
            queued[i % 2] += 1;
            wait_for_queued(key, queued[i % 2]);
        }
        assert!(
            queue::buckets::<Real>() > before,
            "{waiters} threads parked and the table stayed at {before}"
        );
        for (k, &key) in keys.iter().enumerate() {
            let mut expected = (k..waiters).step_by(2).map(|i| i as u32 + 1).peekable();
            while let Some(token) = expected.next() {
                let mut first = None;
                let one = |theirs| {
                    if first.is_some() {
                        return Pick::Stop;
                    }
                    first = Some(theirs);
                    Pick::Wake
                };
                let result = queue::unpark::<Real>(key, one, |r| {
                    assert_eq!(r.woken, 1);
                    token
                });
                assert_eq!(first, Some(token), "key {k}: woken out of order");
                assert_eq!(result.more, expected.peek().is_some());
            }
        }
    });
}

/// A thread counts once in the table's sizing however often it parks, and stops counting when it
/// ends. (Counting each park as a thread leaving once drove the count below zero, after which
/// the next new thread tried to grow the table to an impossible size.)
#[test]
fn a_thread_that_parks_often_counts_once() {
    let word = AtomicU32::new(0);
    let key = key_of(&word);
    let parks = if cfg!(miri) { 5 } else { 1000 };
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..parks {
                assert_eq!(queue::park::<Real>(key, || false, 1, None, |_| {}), Parked::Invalid);
            }
        });
    });
    let grew = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let before = queue::buckets::<Real>();
                assert_eq!(queue::park::<Real>(key, || false, 1, None, |_| {}), Parked::Invalid);
                // Other tests' threads may grow it a step; nothing here should.
                if queue::buckets::<Real>() > before.max(1024) {
                    grew.store(true, SeqCst);
                }
            });
        }
    });
    assert!(!grew.load(SeqCst), "a handful of threads grew the table");
}
