//! Code written for parking_lot compiles against turnstile with only its `use` lines changed, as
//! the README's drop-in table says: `RwLock<T>` and the guard types without a policy, `Mutex`
//! and `Condvar`, `FairMutex`, `ReentrantMutex` and `Once`. Each function below is
//! parking_lot-shaped (its body is what a parking_lot user writes); the tests run them.

use std::sync::Arc;
use std::thread;

use std::cell::RefCell;

use turnstile::{
    MappedReentrantMutexGuard, MappedRwLockReadGuard, MappedRwLockWriteGuard, Once, OnceState,
    ReentrantMutex, ReentrantMutexGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard,
};

struct Config {
    name: String,
    hits: u64,
}

static SETTINGS: RwLock<Vec<u32>> = RwLock::new(Vec::new());

fn name(config: &RwLock<Config>) -> MappedRwLockReadGuard<'_, String> {
    RwLockReadGuard::map(config.read(), |c| &c.name)
}

fn hits(config: &RwLock<Config>) -> MappedRwLockWriteGuard<'_, u64> {
    RwLockWriteGuard::map(config.write(), |c| &mut c.hits)
}

fn rename_if_empty(config: &RwLock<Config>, to: &str) -> bool {
    let seen: RwLockUpgradableReadGuard<'_, Config> = config.upgradable_read();
    if !seen.name.is_empty() {
        return false;
    }
    let mut writer: RwLockWriteGuard<'_, Config> = RwLockUpgradableReadGuard::upgrade(seen);
    writer.name = to.to_string();
    let reader: RwLockReadGuard<'_, Config> = RwLockWriteGuard::downgrade(writer);
    reader.name == to
}

#[test]
fn parking_lot_shaped_code_runs_on_the_default_rwlock() {
    let config = Arc::new(RwLock::new(Config { name: String::new(), hits: 0 }));
    assert!(rename_if_empty(&config, "main"));
    assert!(!rename_if_empty(&config, "other"));
    assert_eq!(*name(&config), "main");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let config = Arc::clone(&config);
            thread::spawn(move || {
                for _ in 0..100 {
                    *hits(&config) += 1;
                    let _recursive = config.read_recursive();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(config.read().hits, 400);
    SETTINGS.write().push(1);
    assert_eq!(*SETTINGS.read(), [1]);
}

#[test]
fn the_default_policy_keeps_new_readers_out_once_a_writer_waits() {
    // The writer-preferring policy, named: a writer that waits keeps a new reader out.
    let lock = RwLock::new(0);
    let reader = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() += 1);
        while lock.try_read().is_some() {
            thread::yield_now();
        }
        drop(reader);
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
}

/// parking_lot's `FairMutex`: the same names, the guard's `unlock_fair` and `bump`.
#[test]
fn fair_mutex_code_compiles_unchanged() {
    use turnstile::{FairMutex, FairMutexGuard};

    static JOBS: FairMutex<Vec<u32>> = FairMutex::new(Vec::new());
    fn take(jobs: &FairMutex<Vec<u32>>) -> Option<u32> {
        let mut guard: FairMutexGuard<'_, Vec<u32>> = jobs.lock();
        let job = guard.pop();
        FairMutexGuard::bump(&mut guard);
        FairMutexGuard::unlock_fair(guard);
        job
    }
    JOBS.lock().push(7);
    assert_eq!(take(&JOBS), Some(7));
    assert_eq!(take(&JOBS), None);
}

static LOG: ReentrantMutex<RefCell<Vec<String>>> = ReentrantMutex::new(RefCell::new(Vec::new()));
static START: Once = Once::new();

fn logged() -> usize {
    LOG.lock().borrow().len()
}

fn log(line: &str) {
    let lines: ReentrantMutexGuard<'_, RefCell<Vec<String>>> = LOG.lock();
    let number = logged(); // the same thread, again
    lines.borrow_mut().push(format!("{number} {line}"));
}

fn last_line(
    log: &ReentrantMutex<RefCell<Vec<String>>>,
) -> Option<MappedReentrantMutexGuard<'_, RefCell<Vec<String>>>> {
    let guard = log.try_lock_for(std::time::Duration::from_secs(1))?;
    assert!(log.is_owned_by_current_thread());
    Some(ReentrantMutexGuard::map(guard, |lines| lines))
}

fn start() -> OnceState {
    START.call_once(|| log("once"));
    START.state()
}

#[test]
fn parking_lot_shaped_code_runs_on_the_reentrant_mutex_and_once() {
    let workers: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                assert!(start().done());
                log(&format!("worker {i}"));
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let lines = last_line(&LOG).unwrap();
    assert_eq!(lines.borrow()[0], "0 once");
    assert_eq!(lines.borrow().len(), 5);
    drop(lines);
    let forced = Once::new();
    let _ = std::panic::catch_unwind(|| forced.call_once(|| panic!("first try")));
    assert!(forced.state().poisoned());
    forced.call_once_force(|state: OnceState| assert!(state.poisoned()));
    assert!(forced.state().done());
}

/// parking_lot's `Mutex`, `MutexGuard` and `Condvar`, as its users write them: a `static`, a
/// guard in a signature, a timed lock, `unlocked`, `bump`, `unlock_fair`, and a condition wait.
#[test]
fn mutex_and_condvar_code_compiles_unchanged() {
    use std::time::Duration;
    use turnstile::{Condvar, Mutex, MutexGuard};

    static QUEUE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static READY: Condvar = Condvar::new();

    fn first(queue: &Mutex<Vec<u32>>) -> MutexGuard<'_, Vec<u32>> {
        let mut guard = queue.try_lock_for(Duration::from_secs(5)).expect("free");
        MutexGuard::unlocked(&mut guard, || ());
        MutexGuard::bump(&mut guard);
        guard
    }

    let producer = thread::spawn(|| {
        QUEUE.lock().push(1);
        READY.notify_one();
    });
    let mut queue = first(&QUEUE);
    READY.wait_while(&mut queue, |q| q.is_empty());
    assert_eq!(queue.pop(), Some(1));
    MutexGuard::unlock_fair(queue);
    producer.join().unwrap();
}
