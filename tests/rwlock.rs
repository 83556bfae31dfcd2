//! The readers-writer locks (`ReaderPrefRwLock`, `WriterPrefRwLock`, `FairRwLock`) from the
//! outside: readers share and writers exclude, every write counted under contention, no
//! poisoning, downgrade, timeouts that take nothing, sleepers woken, and what each policy
//! promises about who goes first.
//!
//! Most tests are generic over the policy and run as `reader_pref::…`, `writer_pref::…` and
//! `fair::…`; each policy's module adds the tests only it passes.
//!
//! Nothing here sleeps to order threads or measures time. Where a test needs a thread to be
//! *waiting* for the lock it watches the thread's state with `SleepProbe`, or, for "a writer
//! waits", polls `try_read` while holding a read lock (under the writer-preferring and fair
//! policies it fails exactly once a writer waits), which works under Miri too. A lost wakeup
//! shows up as a hang, which CI's timeout turns into a failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Barrier, Mutex as StdMutex};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::Duration;

use std::sync::Arc;

use turnstile::rwlock::{
    ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, MappedRwLockReadGuard,
    MappedRwLockWriteGuard, Policy, RwLock,
};
use turnstile::{RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};

mod common;
use common::{bump, iters, panic_text, past, SleepProbe};

/// A lock of any policy (`with_backend` is `new` for code generic over the policy).
fn new_lock<T, P: Policy>(value: T) -> RwLock<T, P> {
    RwLock::with_backend(value)
}

/// Runs `body` on another thread and returns what it returned.
fn elsewhere<R: Send>(body: impl FnOnce() -> R + Send) -> R {
    thread::scope(|s| s.spawn(body).join().unwrap())
}

/// Spawns `body` on a new thread and returns once that thread is asleep, in the first wait
/// `body` makes (natively; under Miri at once).
fn spawn_asleep<'scope, R: Send + 'scope>(
    s: &'scope Scope<'scope, '_>,
    body: impl FnOnce() -> R + Send + 'scope,
) -> ScopedJoinHandle<'scope, R> {
    let (probe_tx, probe_rx) = mpsc::channel();
    let handle = s.spawn(move || {
        probe_tx.send(SleepProbe::current()).unwrap();
        body()
    });
    probe_rx.recv().unwrap().wait_until_asleep();
    handle
}

/// Returns once a writer waits for `lock`, of which the caller holds a read lock. Only for the
/// writer-preferring and fair policies, where a new reader is refused exactly then.
fn until_a_writer_waits<T, P: Policy>(lock: &RwLock<T, P>) {
    while lock.try_read().is_some() {
        thread::yield_now();
    }
}

/// Spawns a thread that takes a read lock (for a name starting with `R`), the write lock (`W`),
/// or the write lock with a long timeout (`T`), and records its name while inside; returns once
/// it is asleep waiting.
fn queue_up<'scope, P: Policy>(
    s: &'scope Scope<'scope, '_>,
    lock: &'scope RwLock<u32, P>,
    order: &'scope StdMutex<Vec<&'static str>>,
    name: &'static str,
) -> ScopedJoinHandle<'scope, ()> {
    spawn_asleep(s, move || {
        let _guard = match &name[..1] {
            "R" => Ok(lock.read()),
            "W" => Err(lock.write()),
            _ => Err(lock.try_write_for(Duration::from_secs(600)).expect("timed out")),
        };
        order.lock().unwrap().push(name);
    })
}

// ---------------------------------------------------------------------------------------------
// Every policy.

/// Retries a timed attempt until it succeeds.
fn retry<G>(mut attempt: impl FnMut() -> Option<G>) -> G {
    loop {
        if let Some(guard) = attempt() {
            return guard;
        }
    }
}

/// Four writers bump both halves of a pair, rescheduling in between so that waiters pile up and
/// sleep, while four readers check that the halves agree (or they saw a write half done). With
/// `timed`, half of each wait with short timeouts and retry: those that give up must not strand
/// the untimed sleepers, and must get in later.
fn count_every_write<P: Policy>(n: usize, timed: bool) {
    let lock = new_lock::<(u64, u64), P>((0, 0));
    let short = Duration::from_micros(20);
    thread::scope(|s| {
        for t in 0..4 {
            let (lock, timed) = (&lock, timed && t % 2 == 1);
            s.spawn(move || {
                for _ in 0..n {
                    let mut pair = if timed { retry(|| lock.try_write_for(short)) } else { lock.write() };
                    bump(&mut pair.0);
                    thread::yield_now();
                    bump(&mut pair.1);
                }
            });
            s.spawn(move || {
                for _ in 0..n {
                    let pair = if timed { retry(|| lock.try_read_for(short)) } else { lock.read() };
                    let first = pair.0;
                    thread::yield_now();
                    assert_eq!(first, pair.1, "a reader saw a write half done");
                }
            });
        }
    });
    assert_eq!(lock.into_inner(), (4 * n as u64, 4 * n as u64));
}

fn readers_and_writers_mixed_count_every_write<P: Policy>() {
    count_every_write::<P>(iters(1_000), false);
}

fn timed_and_untimed_readers_and_writers_count_every_write<P: Policy>() {
    count_every_write::<P>(iters(1_000), true);
}

fn two_readers_hold_the_lock_at_once<P: Policy>() {
    let lock = new_lock::<u32, P>(7);
    let held = lock.read();
    assert_eq!(elsewhere(|| (*lock.read(), lock.try_read().map(|g| *g))), (7, Some(7)));
    assert_eq!(*held, 7);
}

fn a_writer_excludes_readers_and_writers<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let writer = lock.write();
    assert!(lock.try_read().is_none() && lock.try_write().is_none());
    assert!(elsewhere(|| lock.try_read().is_none() && lock.try_write().is_none()));
    drop(writer);
    assert!(lock.try_read().is_some() && lock.try_write().is_some());
}

fn a_reader_excludes_writers<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let reader = lock.read();
    assert!(lock.try_write().is_none());
    assert!(elsewhere(|| lock.try_write().is_none()));
    drop(reader);
    assert!(lock.try_write().is_some());
}

fn a_panic_under_a_read_guard_releases_the_lock<P: Policy>() {
    let lock = new_lock::<u32, P>(1);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _reader = lock.read();
        panic!("deliberate panic under a read guard");
    }));
    assert!(caught.is_err());
    assert!(!lock.is_locked());
    *lock.write() += 1;
    assert_eq!(*lock.read(), 2);
}

fn a_panic_under_a_write_guard_releases_the_lock_and_keeps_the_data<P: Policy>() {
    let lock = new_lock::<Vec<u32>, P>(vec![1]);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let mut writer = lock.write();
        writer.push(2);
        panic!("deliberate panic halfway through a write");
    }));
    assert!(caught.is_err());
    assert!(!lock.is_locked());
    assert_eq!(*lock.read(), [1, 2]);
    lock.write().push(3);
    assert_eq!(*lock.read(), [1, 2, 3]);
}

fn downgrade_lets_readers_in_and_keeps_writers_out<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let mut writer = lock.write();
    *writer = 5;
    let reader = RwLockWriteGuard::downgrade(writer);
    assert_eq!(elsewhere(|| *lock.read()), 5);
    assert!(elsewhere(|| lock.try_write().is_none()));
    assert_eq!(*reader, 5);
    drop(reader);
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

fn downgrade_admits_the_readers_asleep_behind_the_writer<P: Policy>() {
    // No writer waits, so under every policy the sleeping readers join the downgraded one: they
    // finish while it is still held.
    let lock = new_lock::<u32, P>(0);
    let mut writer = lock.write();
    thread::scope(|s| {
        let readers: Vec<_> = (0..2).map(|_| spawn_asleep(s, || *lock.read())).collect();
        *writer = 3;
        let reader = RwLockWriteGuard::downgrade(writer);
        for handle in readers {
            assert_eq!(handle.join().unwrap(), 3);
        }
        drop(reader);
    });
}

fn try_write_for_times_out_while_a_reader_holds_and_leaves_the_lock_usable<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let reader = lock.read();
    assert!(lock.try_write_for(Duration::from_millis(1)).is_none());
    assert!(lock.try_write_until(past()).is_none());
    drop(reader);
    assert!(!lock.is_locked());
    *lock.write() += 1;
    assert!(!lock.is_locked());
    assert_eq!(lock.try_write_for(Duration::from_millis(1)).map(|g| *g), Some(1));
    assert_eq!(lock.try_write_until(past()).map(|g| *g), Some(1), "free: no waiting needed");
}

fn try_read_for_times_out_while_a_writer_holds<P: Policy>() {
    let lock = new_lock::<u32, P>(4);
    let writer = lock.write();
    assert!(lock.try_read_for(Duration::from_millis(1)).is_none());
    assert!(lock.try_read_until(past()).is_none());
    drop(writer);
    assert_eq!(lock.try_read_for(Duration::from_millis(1)).map(|g| *g), Some(4));
    assert_eq!(lock.try_read_until(past()).map(|g| *g), Some(4));
}

fn a_writer_that_timed_out_no_longer_keeps_readers_out<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let reader = lock.read();
    assert!(elsewhere(|| lock.try_write_for(Duration::from_millis(1)).is_none()));
    assert!(lock.try_read().is_some(), "no writer waits any more");
    drop(reader);
}

fn readers_asleep_behind_a_writer_are_all_woken_together<P: Policy>() {
    // Each woken reader waits at the barrier while holding its read lock: unless all three are
    // let in together, this hangs.
    let lock = new_lock::<u32, P>(0);
    let together = Barrier::new(3);
    let mut writer = lock.write();
    thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                spawn_asleep(s, || {
                    let reader = lock.read();
                    together.wait();
                    *reader
                })
            })
            .collect();
        *writer = 1;
        drop(writer);
        for handle in readers {
            assert_eq!(handle.join().unwrap(), 1);
        }
    });
}

fn a_writer_asleep_behind_readers_is_woken_when_the_last_reader_leaves<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    // A second read on this thread is a recursive one: under the writer-preferring and fair
    // policies a plain one waits behind a queued writer (debug builds panic there).
    let (first, second) = (lock.read(), lock.read_recursive());
    thread::scope(|s| {
        let writer = spawn_asleep(s, || *lock.write() += 1);
        drop(first);
        assert_eq!(*second, 0);
        drop(second);
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
}

fn sleepers_of_both_kinds_are_all_woken_after_one_unlock<P: Policy>() {
    let lock = new_lock::<u64, P>(0);
    let writer = lock.write();
    thread::scope(|s| {
        for _ in 0..3 {
            spawn_asleep(s, || bump(&mut lock.write()));
            spawn_asleep(s, || drop(lock.read()));
        }
        drop(writer);
    });
    assert_eq!(lock.into_inner(), 3);
}

fn is_locked_follows_the_guards<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    assert!(!lock.is_locked());
    let (first, second) = (lock.read(), lock.read_recursive());
    drop(first);
    assert!(lock.is_locked(), "one reader still holds");
    drop(second);
    assert!(!lock.is_locked());
    let reader = RwLockWriteGuard::downgrade(lock.write());
    assert!(lock.is_locked());
    drop(reader);
    assert!(!lock.is_locked());
}

fn get_mut_and_into_inner_need_no_locking<P: Policy>() {
    let mut lock = new_lock::<String, P>(String::from("a"));
    lock.get_mut().push('b');
    elsewhere(|| lock.write().push('c'));
    assert_eq!(lock.into_inner(), "abc");
}

fn default_and_from_build_unlocked_locks<P: Policy>()
where
    RwLock<Vec<u8>, P>: Default + From<Vec<u8>>,
{
    let (empty, full) = (RwLock::<Vec<u8>, P>::default(), RwLock::<Vec<u8>, P>::from(vec![1, 2]));
    assert!(!empty.is_locked() && !full.is_locked());
    assert!(empty.read().is_empty());
    assert_eq!(*full.read(), [1, 2]);
}

/// The writes of four threads to a `static` lock (built with the `const fn new`) all count.
fn a_static_lock_counts_writes<P: Policy>(lock: &'static RwLock<u64, P>) {
    let n = iters(2_000);
    let writes = move || (0..n).for_each(|_| bump(&mut lock.write()));
    let handles: Vec<_> = (0..4).map(|_| thread::spawn(writes)).collect();
    handles.into_iter().for_each(|handle| handle.join().unwrap());
    assert_eq!(*lock.read(), 4 * n as u64);
}

/// `Debug` names the lock and shows the data, or `<locked>` when reading would wait; it never
/// blocks, even on the thread that holds the write lock.
fn debug_shows_the_data_or_locked<P: Policy>(lock: &RwLock<u32, P>, name: &str) {
    assert_eq!(format!("{lock:?}"), format!("{name} {{ data: 5, .. }}"));
    let reader = lock.read();
    assert_eq!(format!("{lock:?}"), format!("{name} {{ data: 5, .. }}"));
    drop(reader);
    let writer = lock.write();
    assert_eq!(format!("{lock:?}"), format!("{name} {{ data: <locked>, .. }}"));
    drop(writer);
}

/// `limit` leaked read guards fill the readers' count; one more panics, with `try_read` and
/// with `read`. The leaked guards keep the lock read-locked. (Taken on another thread: on this
/// one, debug builds would stop the second plain read as a nested read.)
fn fill_the_readers_then_one_more<P: Policy>(limit: u32) {
    let lock = new_lock::<(), P>(());
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..limit {
                std::mem::forget(lock.read_recursive());
            }
        });
    });
    let payload = catch_unwind(AssertUnwindSafe(|| lock.try_read().is_some())).unwrap_err();
    assert!(panic_text(&*payload).contains("too many readers"), "{}", panic_text(&*payload));
    let payload = catch_unwind(AssertUnwindSafe(|| drop(lock.read()))).unwrap_err();
    assert!(panic_text(&*payload).contains("too many readers"), "{}", panic_text(&*payload));
    assert!(lock.is_locked() && lock.try_write().is_none());
}

// ---------------------------------------------------------------------------------------------
// Writer-preferring and fair: a waiting writer keeps out readers that come after it.

const NONE: usize = usize::MAX;
const STREAM_READERS: usize = 3;

/// Reader threads that take read locks back to back, each holding its lock until another reader
/// has entered after it, so that the lock is never free of readers. A holder lets go without a
/// successor only when a new reader would be refused (`try_read` fails: a writer waits), and the
/// first such holder records how many readers had arrived by then.
struct ReaderStream {
    arrivals: AtomicUsize,
    blocked_at: AtomicUsize,
    stop: AtomicBool,
}

impl ReaderStream {
    fn new() -> Self {
        ReaderStream {
            arrivals: AtomicUsize::new(0),
            blocked_at: AtomicUsize::new(NONE),
            stop: AtomicBool::new(false),
        }
    }

    fn run<P: Policy>(&self, lock: &RwLock<u64, P>) {
        while !self.stop.load(SeqCst) {
            let reader = lock.read();
            let me = self.arrivals.fetch_add(1, SeqCst) + 1;
            while !self.stop.load(SeqCst) && self.arrivals.load(SeqCst) == me {
                if lock.try_read().is_none() {
                    let now = self.arrivals.load(SeqCst);
                    let _ = self.blocked_at.compare_exchange(NONE, now, SeqCst, SeqCst);
                    break;
                }
                thread::yield_now();
            }
            drop(reader);
        }
    }

    /// Returns once `more` readers have arrived after the call.
    fn until_arrived(&self, more: usize) {
        let start = self.arrivals.load(SeqCst);
        while self.arrivals.load(SeqCst) < start + more {
            thread::yield_now();
        }
    }
}

fn a_writer_gets_in_under_overlapping_readers_after_a_bounded_number_of_arrivals<P: Policy>() {
    // Once a writer waits no reader enters; the only arrivals still counted after the first
    // refusal are readers let in before the writer queued that had not counted themselves yet:
    // at most one per other reader thread.
    let rounds = if cfg!(miri) { 2 } else { 50 };
    let lock = new_lock::<u64, P>(0);
    let stream = ReaderStream::new();
    thread::scope(|s| {
        for _ in 0..STREAM_READERS {
            s.spawn(|| stream.run(&lock));
        }
        for _ in 0..rounds {
            stream.until_arrived(STREAM_READERS);
            let mut writer = lock.write();
            // No reader holds now, so none can record before the next round.
            let blocked_at = stream.blocked_at.swap(NONE, SeqCst);
            let arrivals = stream.arrivals.load(SeqCst);
            assert_ne!(blocked_at, NONE, "the writer got in though readers never saw it wait");
            assert!(
                arrivals - blocked_at < STREAM_READERS,
                "{} readers entered after the writer was seen waiting",
                arrivals - blocked_at
            );
            *writer += 1;
        }
        stream.stop.store(true, SeqCst);
    });
    assert_eq!(lock.into_inner(), rounds);
}

fn a_reader_arriving_after_a_waiting_writer_enters_after_it<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let reader = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() = 1);
        until_a_writer_waits(&lock);
        let late = s.spawn(|| *lock.read());
        drop(reader);
        writer.join().unwrap();
        assert_eq!(late.join().unwrap(), 1, "the late reader went before the waiting writer");
    });
}

fn a_timed_reader_does_not_pass_a_waiting_writer<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let reader = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() = 1);
        until_a_writer_waits(&lock);
        assert!(lock.try_read_for(Duration::from_millis(1)).is_none());
        assert!(lock.try_read_until(past()).is_none());
        drop(reader);
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
}

fn a_slice_lock_reads_and_writes_through_unsized_coercion<P: Policy>() {
    let lock: &RwLock<[u8], P> = &new_lock::<[u8; 3], P>([1, 2, 3]);
    lock.write()[1] = 20;
    let (a, b) = (lock.read(), lock.read_recursive());
    assert_eq!((a.len(), &*b), (3, &[1, 20, 3][..]));
}

// ---------------------------------------------------------------------------------------------
// Upgradable, recursive, mapped and arc guards, on every policy.

fn an_upgradable_reader_shares_with_readers_and_excludes_writers_and_upgraders<P: Policy>() {
    let lock = new_lock::<u32, P>(1);
    let upgradable = lock.upgradable_read();
    assert_eq!(*lock.try_read().expect("a reader joins an upgradable reader"), 1);
    assert!(lock.try_write().is_none());
    assert!(lock.try_upgradable_read().is_none(), "two upgradable readers");
    assert!(lock.try_upgradable_read_for(Duration::from_millis(1)).is_none());
    assert!(lock.is_locked() && !lock.is_locked_exclusive());
    drop(upgradable);
    let writer = lock.write();
    assert!(lock.try_upgradable_read().is_none(), "an upgradable reader beside a writer");
    assert!(lock.is_locked_exclusive());
    drop(writer);
    assert!(lock.try_upgradable_read().is_some());
}

fn an_upgrade_waits_for_the_readers_then_writes<P: Policy>() {
    let lock = new_lock::<u32, P>(1);
    let reader = lock.read();
    let (probe_tx, probe_rx) = mpsc::channel();
    thread::scope(|s| {
        let lock = &lock;
        let upgrader = s.spawn(move || {
            let upgradable = lock.upgradable_read();
            let upgradable = RwLockUpgradableReadGuard::try_upgrade(upgradable).expect_err("a reader holds");
            probe_tx.send(SleepProbe::current()).unwrap();
            let mut writer = RwLockUpgradableReadGuard::upgrade(upgradable);
            *writer += 1;
        });
        // The reader stays until the upgrader has failed to upgrade and (natively) sleeps.
        probe_rx.recv().unwrap().wait_until_asleep();
        assert_eq!(*reader, 1);
        drop(reader);
        upgrader.join().unwrap();
    });
    assert_eq!(*lock.read(), 2);
}

fn a_timed_upgrade_gives_the_guard_back_and_lets_readers_in<P: Policy>() {
    let lock = new_lock::<u32, P>(1);
    let reader = lock.read();
    elsewhere(|| {
        let upgradable = lock.upgradable_read();
        let upgradable = RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(1))
            .expect_err("a reader holds");
        let upgradable =
            RwLockUpgradableReadGuard::try_upgrade_until(upgradable, past()).expect_err("a reader holds");
        assert!(lock.try_read().is_some(), "the given-up upgrade keeps no reader out");
        assert_eq!(*upgradable, 1);
    });
    drop(reader);
    let upgradable = lock.upgradable_read();
    let mut writer =
        RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::from_millis(1)).unwrap();
    *writer = 3;
    drop(writer);
    assert_eq!(*lock.read(), 3);
}

fn downgrades_between_all_three_kinds_keep_writers_out<P: Policy>() {
    let lock = new_lock::<u32, P>(1);
    let mut writer = lock.write();
    *writer = 2;
    let upgradable = RwLockWriteGuard::downgrade_to_upgradable(writer);
    assert_eq!(*lock.try_read().expect("readers join"), 2);
    assert!(lock.try_write().is_none() && lock.try_upgradable_read().is_none());
    let reader = RwLockUpgradableReadGuard::downgrade(upgradable);
    assert!(lock.try_write().is_none());
    assert!(lock.try_upgradable_read().is_some(), "the upgradable slot is free again");
    drop(reader);
    assert!(!lock.is_locked());
}

fn an_upgradable_reader_asleep_behind_another_is_woken_when_it_leaves<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let first = lock.upgradable_read();
    thread::scope(|s| {
        let second = spawn_asleep(s, || *RwLockUpgradableReadGuard::upgrade(lock.upgradable_read()) += 1);
        drop(first);
        second.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
}

fn a_recursive_read_enters_past_a_waiting_writer<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let first = lock.read();
    thread::scope(|s| {
        let writer = spawn_asleep(s, || *lock.write() += 1);
        let again = lock.read_recursive();
        assert!(lock.try_read_recursive().is_some());
        assert!(lock.try_read_recursive_for(Duration::from_millis(1)).is_some());
        assert_eq!(*again + *first, 0);
        drop((again, first));
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
    let writer = lock.write();
    assert!(lock.try_read_recursive().is_none(), "a recursive read beside a writer");
    drop(writer);
}

fn mapped_guards_hold_the_lock_until_dropped<P: Policy>() {
    let lock = new_lock::<(String, u32), P>((String::from("a"), 1));
    let mut count = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
    *count += 1;
    assert!(lock.try_read().is_none());
    let count = MappedRwLockWriteGuard::try_map(count, |_| None::<&mut u32>).expect_err("nothing found");
    drop(count);
    let name = RwLockReadGuard::map(lock.read(), |pair| &pair.0);
    let name = MappedRwLockReadGuard::try_map(name, |s| s.as_bytes().first()).unwrap();
    assert_eq!(*name, b'a');
    assert!(lock.try_write().is_none());
    assert!(lock.try_read().is_some());
    drop(name);
    let guard =
        RwLockReadGuard::try_map(lock.read(), |pair| (pair.1 > 5).then_some(&pair.1)).expect_err("2 ≤ 5");
    assert_eq!(guard.1, 2);
}

fn a_panic_in_a_map_closure_releases_the_lock<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        RwLockWriteGuard::map(lock.write(), |_| -> &mut u32 { panic!("boom") })
    }));
    assert!(caught.is_err());
    let caught =
        catch_unwind(AssertUnwindSafe(|| RwLockReadGuard::map(lock.read(), |_| -> &u32 { panic!("boom") })));
    assert!(caught.is_err());
    assert!(!lock.is_locked());
}

fn arc_guards_hold_the_lock_without_a_lifetime<P: Policy>() {
    let lock = Arc::new(new_lock::<u32, P>(1));
    let mut writer = lock.write_arc();
    *writer += 1;
    assert!(lock.try_read_arc().is_none());
    let reader = ArcRwLockWriteGuard::downgrade(writer);
    assert_eq!(*reader, 2);
    assert!(lock.try_write_arc().is_none() && lock.try_read_arc().is_some());
    drop(reader);
    let upgradable = lock.upgradable_read_arc();
    assert!(lock.try_upgradable_read_arc().is_none());
    let mut writer = ArcRwLockUpgradableReadGuard::upgrade(upgradable);
    *writer += 1;
    assert!(Arc::ptr_eq(ArcRwLockWriteGuard::rwlock(&writer), &lock));
    drop(writer);
    let kept: Vec<ArcRwLockReadGuard<u32, P>> = (0..3).map(|_| lock.read_recursive_arc()).collect();
    assert!(kept.iter().all(|guard| **guard == 3));
    drop(kept);
    assert!(!lock.is_locked());
    assert_eq!(Arc::strong_count(&lock), 1, "every guard gave its Arc back");
}

fn unlocked_releases_each_kind_and_takes_it_back_even_after_a_panic<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    let mut writer = lock.write();
    RwLockWriteGuard::unlocked(&mut writer, || *lock.write() += 1);
    *writer += 1;
    let caught =
        catch_unwind(AssertUnwindSafe(|| RwLockWriteGuard::unlocked(&mut writer, || panic!("boom"))));
    assert!(caught.is_err());
    assert!(lock.is_locked_exclusive(), "taken back after the panic");
    drop(writer);
    let mut reader = lock.read();
    RwLockReadGuard::unlocked(&mut reader, || *lock.write() += 1);
    assert_eq!(*reader, 3);
    drop(reader);
    let mut upgradable = lock.upgradable_read();
    RwLockUpgradableReadGuard::unlocked(&mut upgradable, || assert!(lock.try_upgradable_read().is_some()));
    assert!(lock.try_upgradable_read().is_none());
    RwLockUpgradableReadGuard::unlock_fair(upgradable);
    RwLockWriteGuard::unlock_fair(lock.write());
    RwLockReadGuard::unlock_fair(lock.read());
    assert!(!lock.is_locked());
}

fn a_forgotten_guard_is_released_by_force_unlock<P: Policy>() {
    let lock = new_lock::<u32, P>(0);
    std::mem::forget(lock.read());
    assert!(lock.try_write().is_none());
    // SAFETY: read-locked above on this thread, and the guard forgotten.
    unsafe { lock.force_unlock_read() };
    std::mem::forget(lock.write());
    // SAFETY: write-locked above on this thread, and the guard forgotten.
    unsafe { lock.force_unlock_write() };
    assert!(!lock.is_locked());
}

/// std's `test_read_guard_covariance`: a read guard of a longer borrow serves where a shorter
/// one is expected.
fn a_read_guard_is_covariant_in_its_data<P: Policy>() {
    fn do_stuff<'a, P: Policy>(_: RwLockReadGuard<'_, &'a i32, P>, _: &'a i32) {}
    let j: i32 = 5;
    let lock = new_lock::<&i32, P>(&j);
    {
        let i = 6;
        do_stuff(lock.read(), &i);
    }
    drop(lock);
}

// ---------------------------------------------------------------------------------------------
// The tests above, once per policy, and each policy's own.

/// `#[test]` wrappers running the generic tests named against the policy `P`.
macro_rules! run_with {
    ($P:ty: $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                super::$test::<$P>();
            }
        )*
    };
}

/// Every policy's tests, for the lock `$Lock` with policy `$P`, which holds `$max_readers`
/// readers at most.
macro_rules! every_policy_tests {
    ($Lock:ident, $P:ty, $max_readers:expr) => {
        #[test]
        fn a_static_lock_counts_writes_from_several_threads() {
            static LOCK: $Lock<u64> = $Lock::new(0);
            a_static_lock_counts_writes(&LOCK);
        }

        #[test]
        fn debug_names_the_lock_and_shows_the_data_or_locked() {
            debug_shows_the_data_or_locked(&$Lock::new(5), stringify!($Lock));
        }

        #[test]
        #[cfg_attr(miri, ignore)] // tens of thousands of leaked guards
        fn one_reader_past_the_limit_panics() {
            fill_the_readers_then_one_more::<$P>($max_readers);
        }

        run_with!($P:
            readers_and_writers_mixed_count_every_write,
            timed_and_untimed_readers_and_writers_count_every_write,
            two_readers_hold_the_lock_at_once,
            a_writer_excludes_readers_and_writers,
            a_reader_excludes_writers,
            a_panic_under_a_read_guard_releases_the_lock,
            a_panic_under_a_write_guard_releases_the_lock_and_keeps_the_data,
            downgrade_lets_readers_in_and_keeps_writers_out,
            downgrade_admits_the_readers_asleep_behind_the_writer,
            try_write_for_times_out_while_a_reader_holds_and_leaves_the_lock_usable,
            try_read_for_times_out_while_a_writer_holds,
            a_writer_that_timed_out_no_longer_keeps_readers_out,
            readers_asleep_behind_a_writer_are_all_woken_together,
            a_writer_asleep_behind_readers_is_woken_when_the_last_reader_leaves,
            sleepers_of_both_kinds_are_all_woken_after_one_unlock,
            is_locked_follows_the_guards,
            get_mut_and_into_inner_need_no_locking,
            default_and_from_build_unlocked_locks,
            a_slice_lock_reads_and_writes_through_unsized_coercion,
            an_upgradable_reader_shares_with_readers_and_excludes_writers_and_upgraders,
            an_upgrade_waits_for_the_readers_then_writes,
            a_timed_upgrade_gives_the_guard_back_and_lets_readers_in,
            downgrades_between_all_three_kinds_keep_writers_out,
            an_upgradable_reader_asleep_behind_another_is_woken_when_it_leaves,
            a_recursive_read_enters_past_a_waiting_writer,
            mapped_guards_hold_the_lock_until_dropped,
            a_panic_in_a_map_closure_releases_the_lock,
            arc_guards_hold_the_lock_without_a_lifetime,
            unlocked_releases_each_kind_and_takes_it_back_even_after_a_panic,
            a_forgotten_guard_is_released_by_force_unlock,
            a_read_guard_is_covariant_in_its_data,
        );
    };
}

macro_rules! writers_first_tests {
    ($P:ty) => {
        run_with!($P:
            a_writer_gets_in_under_overlapping_readers_after_a_bounded_number_of_arrivals,
            a_reader_arriving_after_a_waiting_writer_enters_after_it,
            a_timed_reader_does_not_pass_a_waiting_writer,
        );
    };
}

mod reader_pref {
    use super::*;
    use turnstile::rwlock::{ReaderPref, MAX_READERS};
    use turnstile::ReaderPrefRwLock;

    every_policy_tests!(ReaderPrefRwLock, ReaderPref, MAX_READERS);

    #[test]
    fn a_writer_waits_as_long_as_readers_overlap() {
        // Readers never leave a gap until told to stop, so the writer, asleep meanwhile, gets in
        // only after every arrival counted before the stop.
        let n = iters(2_000);
        let lock = ReaderPrefRwLock::new(0u64);
        let stream = ReaderStream::new();
        thread::scope(|s| {
            for _ in 0..STREAM_READERS {
                s.spawn(|| stream.run(&lock));
            }
            stream.until_arrived(STREAM_READERS);
            let writer = spawn_asleep(s, || {
                let _writer = lock.write();
                stream.arrivals.load(SeqCst)
            });
            let start = stream.arrivals.load(SeqCst);
            stream.until_arrived(n);
            assert_eq!(stream.blocked_at.load(SeqCst), NONE, "a new reader was refused");
            stream.stop.store(true, SeqCst);
            assert!(writer.join().unwrap() >= start + n, "the writer got in while readers overlapped");
        });
    }

    #[test]
    fn a_waiting_writer_keeps_out_neither_new_readers_nor_recursive_reads() {
        let lock = ReaderPrefRwLock::new(0);
        let outer = lock.read();
        thread::scope(|s| {
            let writer = spawn_asleep(s, || *lock.write() = 1);
            assert_eq!(elsewhere(|| *lock.read()), 0, "a new reader on another thread");
            let inner = lock.read();
            assert_eq!((*outer, *inner), (0, 0));
            drop((outer, inner));
            writer.join().unwrap();
        });
        assert_eq!(*lock.read(), 1);
    }
}

mod writer_pref {
    use super::*;
    use turnstile::rwlock::{WriterPref, MAX_READERS};
    use turnstile::WriterPrefRwLock;

    every_policy_tests!(WriterPrefRwLock, WriterPref, MAX_READERS);
    writers_first_tests!(WriterPref);

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn writers_waiting_at_an_unlock_go_before_every_reader() {
        // R1 arrives before W1, R2 between the writers, R3 after both: readers wait for as long
        // as any writer does, so both writers enter first, then all three readers.
        let lock = WriterPrefRwLock::new(0);
        let order = StdMutex::new(Vec::new());
        let writer = lock.write();
        thread::scope(|s| {
            for name in ["R1", "W1", "R2", "W2", "R3"] {
                queue_up(s, &lock, &order, name);
            }
            drop(writer);
        });
        let order = order.into_inner().unwrap();
        let (writers, mut readers) = (&order[..2], order[2..].to_vec());
        assert!(writers.contains(&"W1") && writers.contains(&"W2"), "{order:?}");
        readers.sort_unstable();
        assert_eq!(readers, ["R1", "R2", "R3"], "{order:?}");
    }

    #[test]
    fn a_writer_that_times_out_lets_the_readers_queued_behind_it_in() {
        // The reader queued behind the timed writer must be woken when that writer gives up,
        // while the first reader still holds the lock.
        let lock = WriterPrefRwLock::new(0);
        let reader = lock.read();
        thread::scope(|s| {
            let timed = s.spawn(|| lock.try_write_for(Duration::from_millis(100)).is_some());
            while lock.try_read().is_some() && !timed.is_finished() {
                thread::yield_now();
            }
            let queued = spawn_asleep(s, || *lock.read());
            assert!(!timed.join().unwrap(), "a reader held the lock throughout");
            assert_eq!(queued.join().unwrap(), 0);
            drop(reader);
        });
    }

    #[test]
    fn a_downgraded_writer_lets_the_waiting_writer_in_before_later_readers() {
        let lock = WriterPrefRwLock::new(0);
        let mut writer = lock.write();
        *writer = 1;
        thread::scope(|s| {
            let waiting = spawn_asleep(s, || *lock.write() *= 10);
            let reader = RwLockWriteGuard::downgrade(writer);
            until_a_writer_waits(&lock);
            let late = s.spawn(|| *lock.read());
            assert_eq!(*reader, 1);
            drop(reader);
            waiting.join().unwrap();
            assert_eq!(late.join().unwrap(), 10, "the late reader went before the waiting writer");
        });
    }
}

mod fair {
    use super::*;
    use turnstile::rwlock::{Fair, MAX_FAIR_READERS};
    use turnstile::FairRwLock;

    every_policy_tests!(FairRwLock, Fair, MAX_FAIR_READERS);
    writers_first_tests!(Fair);

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn readers_and_writers_enter_in_arrival_order() {
        let lock = FairRwLock::new(0);
        let order = StdMutex::new(Vec::new());
        let writer = lock.write();
        thread::scope(|s| {
            for name in ["R1", "W1", "R2", "W2", "R3"] {
                queue_up(s, &lock, &order, name);
            }
            drop(writer);
        });
        assert_eq!(order.into_inner().unwrap(), ["R1", "W1", "R2", "W2", "R3"]);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn a_timed_writer_gets_in_once_the_queue_drains() {
        // A timed writer queues like the others: it never passes the threads queued before it,
        // and gets in when they are done.
        let lock = FairRwLock::new(0);
        let order = StdMutex::new(Vec::new());
        let writer = lock.write();
        thread::scope(|s| {
            for name in ["R1", "W1", "T1"] {
                queue_up(s, &lock, &order, name);
            }
            drop(writer);
        });
        assert_eq!(order.into_inner().unwrap(), ["R1", "W1", "T1"]);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn a_timed_writer_that_gives_up_admits_the_readers_queued_behind_it() {
        // R0 holds; T1 (timed) queues; R2 queues behind it although it could share with R0.
        // When T1 gives up, R2 must be let in beside R0 at once: nobody else would wake it.
        let lock = &FairRwLock::new(0);
        let holder = lock.read();
        thread::scope(|s| {
            let timed = spawn_asleep(s, || lock.try_write_for(Duration::from_millis(200)).is_none());
            let (inside_tx, inside_rx) = mpsc::channel();
            spawn_asleep(s, move || {
                let reader = lock.read();
                inside_tx.send(*reader).unwrap();
            });
            assert!(timed.join().unwrap(), "the timed writer gave up");
            let inside = inside_rx.recv_timeout(Duration::from_secs(60));
            assert_eq!(inside, Ok(0), "the reader behind the timed writer was stranded");
            drop(holder);
        });
        assert!(!lock.is_locked());
    }

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn an_upgradable_reader_keeps_its_place_in_the_line() {
        // W1 queued before U2 and R3: after the writer, U2 and R3 enter together (R3 joins the
        // upgradable reader), and W1 went first.
        let lock = FairRwLock::new(0);
        let order = StdMutex::new(Vec::new());
        let writer = lock.write();
        thread::scope(|s| {
            queue_up(s, &lock, &order, "W1");
            spawn_asleep(s, || {
                let _upgradable = lock.upgradable_read();
                order.lock().unwrap().push("U2");
            });
            queue_up(s, &lock, &order, "R3");
            drop(writer);
        });
        let order = order.into_inner().unwrap();
        assert_eq!(order[0], "W1");
        assert_eq!(order.len(), 3);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // needs the threads asleep in this order: SleepProbe
    fn a_downgraded_reader_keeps_the_writers_place_in_the_queue() {
        // R1 queued right behind the writer joins it once it downgrades; W1 waits for it, and
        // R2, queued behind W1, waits for W1.
        let lock = FairRwLock::new(0);
        let mut writer = lock.write();
        *writer = 1;
        thread::scope(|s| {
            let r1 = spawn_asleep(s, || *lock.read());
            let w1 = spawn_asleep(s, || *lock.write() = 2);
            let r2 = spawn_asleep(s, || *lock.read());
            let reader = RwLockWriteGuard::downgrade(writer);
            assert_eq!(r1.join().unwrap(), 1, "R1 joins the downgraded reader");
            assert!(lock.try_write().is_none() && lock.try_read().is_none());
            drop(reader);
            w1.join().unwrap();
            assert_eq!(r2.join().unwrap(), 2, "R2 went before W1");
        });
    }
}
