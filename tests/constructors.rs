//! The constructors users write without annotations still build, in `static`s and in `let`s,
//! and the shared-memory locks have their own `const fn new` beside them. A compile test: if an
//! inherent `new` for another backend made `Mutex::new(x)` ambiguous, this file would not build.

use turnstile::{Condvar, Monitor, Mutex, RwLock, Semaphore, SpinLock};

static COUNT: Mutex<u32> = Mutex::new(0);
static FLAG: SpinLock<bool> = SpinLock::new(false);
static SLOTS: Semaphore = Semaphore::new(2);
static FAIR: Semaphore = Semaphore::new_fair(1);
static ROUTES: RwLock<Vec<&str>> = RwLock::new(Vec::new());
static READY: Condvar = Condvar::new();
static STATE: Monitor<u8> = Monitor::new(0);

#[test]
fn statics_build_without_annotations() {
    *COUNT.lock() += 1;
    *FLAG.lock() = true;
    drop(SLOTS.acquire_many(2));
    drop(FAIR.acquire());
    ROUTES.write().push("/");
    assert!(!READY.notify_one());
    *STATE.lock() += 1;
    assert_eq!((*COUNT.lock(), *FLAG.lock(), ROUTES.read().len(), *STATE.lock()), (1, true, 1, 1));
}

#[test]
fn lets_build_without_annotations() {
    let m = Mutex::new(0);
    *m.lock() += 1;
    let s = SpinLock::new('a');
    let sem = Semaphore::new(2);
    let permit = sem.acquire();
    let rw = RwLock::new(vec![1]);
    assert_eq!((*m.lock(), *s.lock(), sem.available_permits(), rw.read().len()), (1, 'a', 1, 1));
    drop(permit);
}

#[cfg(target_os = "linux")]
mod shm {
    use std::time::Duration;
    use turnstile::backend::ProcessShared;
    use turnstile::shm::{self, Region};

    static SHARED_COUNT: shm::Mutex<u64> = shm::Mutex::new(0);
    static SHARED_FLAG: shm::SpinLock<bool> = shm::SpinLock::new(false);
    static SHARED_SLOTS: shm::Semaphore = shm::Semaphore::new(1);

    turnstile::shm_struct! {
        struct Mailbox {
            full: shm::Semaphore,
            letter: shm::Mutex<[u8; 16]>,
            seen: shm::SpinLock<u32>,
        }
    }

    #[test]
    fn shm_locks_have_a_const_new() {
        *SHARED_COUNT.lock() += 1;
        *SHARED_FLAG.lock() = true;
        drop(SHARED_SLOTS.acquire());
        assert_eq!((*SHARED_COUNT.lock(), *SHARED_FLAG.lock()), (1, true));
        let m = shm::Mutex::new(5u8);
        let s = shm::Semaphore::new(3);
        assert_eq!((*m.lock(), s.available_permits()), (5, 3));
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory (shm_open is a foreign function)")]
    fn a_region_is_created_with_the_shm_constructors() {
        let name = format!("turnstile-constructors-{}", std::process::id());
        let _ = Region::<Mailbox>::unlink(&name);
        let made = Region::create(
            &name,
            Mailbox {
                full: shm::Semaphore::new(0),
                letter: shm::Mutex::new([0; 16]),
                seen: shm::SpinLock::new(0),
            },
        )
        .expect("create the region");
        let opened = Region::<Mailbox>::open(&name, Duration::from_secs(10)).expect("open it");
        opened.letter.lock()[..2].copy_from_slice(b"hi");
        opened.full.add_permits(1);
        made.full.acquire().forget();
        assert_eq!(&made.letter.lock()[..2], b"hi");
        drop((made, opened));
        Region::<Mailbox>::unlink(&name).expect("unlink");
    }

    /// `shm::Mutex<T>` has the layout of `Mutex<T, ProcessShared>`: a region made with one opens
    /// as the other, so regions made before `shm::Mutex` was its own type still open.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map shared memory (shm_open is a foreign function)")]
    fn a_region_of_the_backend_spelling_opens_as_the_shm_type() {
        let name = format!("turnstile-constructors-spelling-{}", std::process::id());
        let _ = Region::<u8>::unlink(&name);
        let made =
            Region::create(&name, turnstile::Mutex::<u64, ProcessShared>::with_backend(7)).expect("create");
        let opened =
            Region::<shm::Mutex<u64>>::open(&name, Duration::from_secs(10)).expect("open as shm::Mutex");
        *opened.lock() += 1;
        assert_eq!(*made.lock(), 8);
        drop((made, opened));
        Region::<u8>::unlink(&name).expect("unlink");
    }
}
