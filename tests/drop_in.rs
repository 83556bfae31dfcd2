//! Code written for parking_lot's `RwLock` compiles against turnstile with only its `use` lines
//! changed: the one-parameter `turnstile::RwLock<T>` and guard types without a policy, as the
//! README's drop-in table says. Each function below is parking_lot-shaped (its body is what a
//! parking_lot user writes); the test runs them.

use std::sync::Arc;
use std::thread;

use turnstile::{
    MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
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
