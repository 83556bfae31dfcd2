//! Helpers shared by the real-thread tests (`mod common;` in each test file).

/// Iterations: full size natively, small under Miri (which is about 1000× slower).
#[allow(dead_code)] // not every test file loops
pub const fn iters(native: usize) -> usize {
    // Below 200 the Miri share would be zero iterations: a test that silently tests nothing.
    assert!(native >= 200, "iters() needs at least 200 native iterations");
    if cfg!(miri) {
        native / 200
    } else {
        native
    }
}

/// Runs `body` on this thread while another thread runs `hold` and keeps what it returns (the
/// guards of a lock) until `body` has returned or unwound.
#[allow(dead_code)] // not every test file holds a lock elsewhere
pub fn while_held_elsewhere<G, R>(hold: impl FnOnce() -> G + Send, body: impl FnOnce() -> R) -> R {
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _held = hold();
            held_tx.send(()).unwrap();
            // Returns when `release_tx` is dropped, even if `body` panicked.
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let result = body();
        drop(release_tx);
        result
    })
}

/// A deadline that has already passed.
#[allow(dead_code)] // not every test file has timed waits
pub fn past() -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_sub(std::time::Duration::from_millis(1)).unwrap_or(now)
}

/// Runs `body(t)` on `threads` threads at once (`t` in `0..threads`) and waits for them all.
#[allow(dead_code)] // not every test file spawns this way
pub fn on_threads(threads: usize, body: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let body = &body;
            s.spawn(move || body(t));
        }
    });
}

/// A read-modify-write split in two on purpose, so that two threads overlapping inside the
/// critical section lose an update and the final count comes out short.
#[allow(dead_code)] // `tests/semaphore.rs` shares this module but counts with atomics
pub fn bump(counter: &mut u64) {
    let seen = *counter;
    *counter = std::hint::black_box(seen) + 1;
}

/// The message of a caught panic, to check that a misuse panics for the reason it should.
#[allow(dead_code)] // only the tests of misuse panics need it
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("<not a string>")
}

/// Lets one thread wait until another is asleep in the kernel, so that a test can release a
/// lock, add a permit or notify only once its waiters have really gone to sleep (and so must be
/// woken).
///
/// Built from the calling thread's `/proc/thread-self/stat` on Linux. Where that is unavailable
/// (other systems, Miri) `wait_until_asleep` returns at once and the test merely loses its edge.
#[allow(dead_code)] // `tests/spin.rs` and `tests/peterson.rs` share this module but never sleep
pub struct SleepProbe(Option<std::path::PathBuf>);

#[allow(dead_code)]
impl SleepProbe {
    /// A probe on the calling thread.
    pub fn current() -> Self {
        if cfg!(miri) {
            return SleepProbe(None);
        }
        let task = std::fs::read_link("/proc/thread-self").ok();
        SleepProbe(task.map(|task| std::path::Path::new("/proc").join(task).join("stat")))
    }

    /// Returns once the probed thread is in interruptible sleep (state `S`). Between sending
    /// its probe and the wait under test a thread must do nothing else that sleeps, so that `S`
    /// means it sleeps in that wait.
    pub fn wait_until_asleep(&self) {
        let Some(stat) = &self.0 else { return };
        loop {
            let Ok(text) = std::fs::read_to_string(stat) else { return };
            // "tid (comm) S ...": the state follows the last ')', as comm may hold anything.
            let state = text.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            if state == Some('S') {
                return;
            }
            std::thread::yield_now();
        }
    }
}

/// The tests every exclusive lock must pass, written once: `exclusive_lock_tests!(Mutex)`
/// generates them, against that lock type, in a module `exclusive`. Each lock's own file keeps
/// the tests only it needs (sleeping, timeouts, spinning hand-offs).
#[allow(unused_macros)] // `tests/peterson.rs` shares this module but has no such lock type
macro_rules! exclusive_lock_tests {
    ($Lock:ident) => {
        mod exclusive {
            use std::sync::{mpsc, Arc};
            use std::thread;

            use super::common::{bump, iters};
            use turnstile::$Lock;

            const THREADS: usize = 8;

            #[test]
            fn eight_threads_count_every_increment() {
                let n = iters(10_000);
                let counter = $Lock::new(0u64);
                thread::scope(|s| {
                    for _ in 0..THREADS {
                        s.spawn(|| {
                            for _ in 0..n {
                                bump(&mut counter.lock());
                            }
                        });
                    }
                });
                assert_eq!(counter.into_inner(), (THREADS * n) as u64);
            }

            #[test]
            fn eight_threads_retrying_try_lock_count_every_increment() {
                let n = iters(5_000);
                let counter = $Lock::new(0u64);
                thread::scope(|s| {
                    for _ in 0..THREADS {
                        s.spawn(|| {
                            for _ in 0..n {
                                loop {
                                    if let Some(mut guard) = counter.try_lock() {
                                        bump(&mut guard);
                                        break;
                                    }
                                    thread::yield_now();
                                }
                            }
                        });
                    }
                });
                assert_eq!(counter.into_inner(), (THREADS * n) as u64);
            }

            #[test]
            fn a_static_lock_counts_increments_from_several_threads() {
                static COUNTER: $Lock<u64> = $Lock::new(0);
                let n = iters(5_000);
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        thread::spawn(move || {
                            for _ in 0..n {
                                bump(&mut COUNTER.lock());
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.join().unwrap();
                }
                assert_eq!(*COUNTER.lock(), 4 * n as u64);
            }

            #[test]
            fn a_panic_in_the_critical_section_releases_the_lock() {
                let lock = Arc::new($Lock::new(0u32));
                let panicked = {
                    let lock = Arc::clone(&lock);
                    thread::spawn(move || {
                        let _guard = lock.lock();
                        panic!("deliberate panic inside the critical section");
                    })
                    .join()
                };
                assert!(panicked.is_err());
                assert!(!lock.is_locked());
                assert!(lock.try_lock().is_some(), "the lock is usable again");
            }

            #[test]
            fn a_panic_leaves_the_data_as_the_panicking_code_left_it() {
                let lock = Arc::new($Lock::new(vec![1, 2, 3]));
                let panicked = {
                    let lock = Arc::clone(&lock);
                    thread::spawn(move || {
                        let mut guard = lock.lock();
                        guard.push(4);
                        guard[0] = 10;
                        panic!("deliberate panic halfway through an update");
                    })
                    .join()
                };
                assert!(panicked.is_err());
                assert_eq!(*lock.lock(), [10, 2, 3, 4]);
            }

            #[test]
            fn try_lock_returns_none_while_held_on_the_same_thread() {
                let lock = $Lock::new(());
                let _guard = lock.lock();
                assert!(lock.try_lock().is_none());
            }

            #[test]
            fn try_lock_returns_none_while_another_thread_holds_the_lock() {
                let lock = $Lock::new(());
                let (held_tx, held_rx) = mpsc::channel::<()>();
                let (release_tx, release_rx) = mpsc::channel::<()>();
                let got = thread::scope(|s| {
                    let lock = &lock;
                    s.spawn(move || {
                        let _guard = lock.lock();
                        held_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                    });
                    held_rx.recv().unwrap();
                    let got = lock.try_lock().is_some();
                    drop(release_tx);
                    got
                });
                assert!(!got);
            }

            #[test]
            fn try_lock_returns_some_once_the_holder_has_released() {
                let lock = $Lock::new(5);
                let guard = lock.lock();
                assert!(lock.try_lock().is_none(), "precondition: the lock is held");
                drop(guard);
                assert_eq!(lock.try_lock().map(|g| *g), Some(5));
            }

            #[test]
            fn is_locked_follows_the_guard() {
                let lock = $Lock::new(());
                assert!(!lock.is_locked());
                let guard = lock.lock();
                assert!(lock.is_locked());
                drop(guard);
                assert!(!lock.is_locked());
            }

            #[test]
            fn get_mut_changes_the_data_without_locking() {
                let mut lock = $Lock::new(1);
                *lock.get_mut() += 1;
                assert_eq!(*lock.lock(), 2);
            }

            #[test]
            fn into_inner_returns_the_data_after_threads_are_done() {
                let lock = $Lock::new(String::new());
                thread::scope(|s| {
                    for _ in 0..4 {
                        s.spawn(|| lock.lock().push('x'));
                    }
                });
                assert_eq!(lock.into_inner(), "xxxx");
            }

            #[test]
            fn a_slice_lock_locks_through_unsized_coercion() {
                let lock: &$Lock<[u8]> = &$Lock::new([1u8, 2, 3]) as &$Lock<[u8; 3]>;
                lock.lock()[1] = 20;
                assert_eq!(lock.lock().len(), 3);
                assert_eq!(*lock.lock(), [1, 20, 3]);
            }
        }
    };
}

/// A caught panic: its message and where it was raised.
#[allow(dead_code)] // not every test file catches panics
pub struct Caught {
    pub message: String,
    pub file: String,
    pub line: u32,
}

std::thread_local! {
    /// Armed (`Some`) while `catch_panic` runs on this thread: the hook records the panic here
    /// instead of printing it.
    static CAUGHT: std::cell::RefCell<Option<Option<Caught>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread and returns the panic it raised (`None` if it returned), with the
/// location the panic reports: the caller's line, for a `#[track_caller]` function.
#[allow(dead_code)] // not every test file catches panics
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> Option<Caught> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = CAUGHT.with(|caught| {
                let mut caught = caught.borrow_mut();
                let Some(slot) = caught.as_mut() else { return false };
                let location = info.location().expect("a panic has a location");
                let message = panic_text(info.payload()).to_owned();
                *slot = Some(Caught { message, file: location.file().to_owned(), line: location.line() });
                true
            });
            if !recorded {
                previous(info);
            }
        }));
    });
    CAUGHT.with(|caught| *caught.borrow_mut() = Some(None));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    let caught = CAUGHT.with(|caught| caught.borrow_mut().take()).flatten();
    assert_eq!(panicked, caught.is_some(), "the hook saw every panic, and only panics");
    caught
}
