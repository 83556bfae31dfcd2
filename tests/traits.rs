//! The crate's trait surface: auto traits (`Send`/`Sync`, checked at compile time, both ways),
//! `Default`, `From`, `Debug`/`Display`, and sizes.
//!
//! The auto-trait tests fail by not compiling. Positive checks call `assert_send::<T>()`;
//! negative ones use `assert_not_impl!`, which relies on an ambiguity that exists only when the
//! type *does* implement the trait (the trick behind `static_assertions::assert_not_impl_any!`).

use std::cell::Cell;
use std::mem::size_of;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;

use turnstile::{
    ArcMutexGuard, ArcSpinLockGuard, Condition, Condvar, MappedMutexGuard, MappedSpinLockGuard, Monitor,
    MonitorGuard, Mutex, MutexGuard, PetersonGuard, PetersonHandle, Semaphore, SemaphorePermit, SpinLock,
    SpinLockGuard, WaitTimeoutResult,
};

fn assert_send<T: ?Sized + Send>() {}
fn assert_sync<T: ?Sized + Sync>() {}
fn assert_static<T: ?Sized + 'static>() {}

/// `Sync` but not `Send`: std's own guard (it must be unlocked on the thread that locked).
type SyncNotSend = std::sync::MutexGuard<'static, u8>;

/// Compiles only if `$ty` does NOT implement `$trait`. If it did, both impls of `AmbiguousIfImpl`
/// would apply to `$ty`, and the `_` in `AmbiguousIfImpl<_>` could not be inferred.
macro_rules! assert_not_impl {
    ($ty:ty: $trait:path) => {{
        #[allow(dead_code)]
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + $trait> AmbiguousIfImpl<Invalid> for T {}
        let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
    }};
}

/// For every `T: Send`, not just the types spelled out below.
fn locks_are_send_and_sync_for_any_send<T: Send>() {
    assert_send::<Mutex<T>>();
    assert_sync::<Mutex<T>>();
    assert_send::<SpinLock<T>>();
    assert_sync::<SpinLock<T>>();
    assert_send::<PetersonHandle<T>>();
    assert_send::<Monitor<T>>();
    assert_sync::<Monitor<T>>();
}

#[test]
fn mutex_and_spinlock_are_send_and_sync_when_the_data_is_send() {
    locks_are_send_and_sync_for_any_send::<u64>();
    locks_are_send_and_sync_for_any_send::<Vec<String>>();
    assert_sync::<Mutex<[u8]>>();
    assert_sync::<SpinLock<dyn std::fmt::Debug + Send>>();
}

#[test]
fn a_lock_around_send_but_not_sync_data_is_sync() {
    // `Cell` is `Send` but not `Sync`: the lock is what makes sharing it sound.
    assert_sync::<Mutex<Cell<u8>>>();
    assert_sync::<SpinLock<Cell<u8>>>();
}

#[test]
fn a_lock_around_non_send_data_is_neither_send_nor_sync() {
    assert_not_impl!(Mutex<Rc<u8>>: Send);
    assert_not_impl!(Mutex<Rc<u8>>: Sync);
    assert_not_impl!(SpinLock<Rc<u8>>: Send);
    assert_not_impl!(SpinLock<Rc<u8>>: Sync);
    // `Sync` but not `Send` data: the lock would let another thread drop or take it by value.
    assert_not_impl!(Mutex<std::sync::MutexGuard<'static, u8>>: Sync);
    assert_not_impl!(SpinLock<std::sync::MutexGuard<'static, u8>>: Sync);
}

#[test]
fn guards_are_not_send() {
    assert_not_impl!(MutexGuard<'static, u8>: Send);
    assert_not_impl!(SpinLockGuard<'static, u8>: Send);
    assert_not_impl!(PetersonGuard<'static, u8>: Send);
}

#[test]
fn guards_are_sync_when_the_data_is_sync() {
    assert_sync::<MutexGuard<'static, u8>>();
    assert_sync::<SpinLockGuard<'static, Vec<u8>>>();
    assert_sync::<PetersonGuard<'static, String>>();
}

#[test]
fn guards_are_sync_for_sync_data_that_is_not_send() {
    // `&guard` hands out only `&T`; that the lock itself is not `Sync` (it could not be shared to
    // take the data by value) does not matter to a shared guard.
    assert_sync::<MutexGuard<'static, SyncNotSend>>();
    assert_sync::<SpinLockGuard<'static, SyncNotSend>>();
    assert_sync::<PetersonGuard<'static, SyncNotSend>>();
}

#[test]
fn mapped_and_arc_guards_are_not_send() {
    assert_not_impl!(MappedMutexGuard<'static, (u8, u8), u8>: Send);
    assert_not_impl!(MappedSpinLockGuard<'static, (u8, u8), u8>: Send);
    assert_not_impl!(ArcMutexGuard<u8>: Send);
    assert_not_impl!(ArcSpinLockGuard<u8>: Send);
}

#[test]
fn mapped_guards_are_sync_when_the_mapped_data_is_sync() {
    // Only the mapped part is reachable through `&guard`: the rest of the data may be `!Sync`.
    assert_sync::<MappedMutexGuard<'static, (Cell<u8>, u8), u8>>();
    assert_sync::<MappedSpinLockGuard<'static, (Cell<u8>, Vec<u8>), Vec<u8>>>();
    assert_sync::<MappedMutexGuard<'static, SyncNotSend, u8>>();
}

#[test]
fn mapped_guards_of_non_sync_mapped_data_are_not_sync() {
    assert_not_impl!(MappedMutexGuard<'static, (Cell<u8>, u8), Cell<u8>>: Sync);
    assert_not_impl!(MappedSpinLockGuard<'static, (Cell<u8>, u8), Cell<u8>>: Sync);
}

#[test]
fn arc_guards_are_sync_when_the_data_is_sync_and_send() {
    assert_sync::<ArcMutexGuard<Vec<u8>>>();
    assert_sync::<ArcSpinLockGuard<u8>>();
}

#[test]
fn arc_guards_of_non_sync_data_are_not_sync() {
    assert_not_impl!(ArcMutexGuard<Cell<u8>>: Sync);
    assert_not_impl!(ArcSpinLockGuard<Cell<u8>>: Sync);
}

#[test]
fn arc_guards_of_sync_but_not_send_data_are_not_sync() {
    // Unlike a plain guard, `&ArcLockGuard` also hands out `&Arc<lock>` (`ArcLockGuard::lock`),
    // which may reach another thread only if the lock is `Sync`, i.e. the data `Send`.
    assert_not_impl!(ArcMutexGuard<SyncNotSend>: Sync);
    assert_not_impl!(ArcSpinLockGuard<SyncNotSend>: Sync);
}

#[test]
fn arc_guards_of_static_data_are_static() {
    assert_static::<ArcMutexGuard<u8>>();
    assert_static::<ArcSpinLockGuard<Vec<String>>>();
}

#[test]
fn locks_are_not_ref_unwind_safe() {
    // No poisoning: a panic can leave the data half-updated, so code that catches one across a
    // `&Mutex` must say with `AssertUnwindSafe` that it copes.
    assert_not_impl!(Mutex<u8>: std::panic::RefUnwindSafe);
    assert_not_impl!(SpinLock<u8>: std::panic::RefUnwindSafe);
}

#[test]
fn guards_of_non_sync_data_are_not_sync() {
    // `&guard` hands out `&Cell`, which must not reach a second thread.
    assert_not_impl!(MutexGuard<'static, Cell<u8>>: Sync);
    assert_not_impl!(SpinLockGuard<'static, Cell<u8>>: Sync);
    assert_not_impl!(PetersonGuard<'static, Cell<u8>>: Sync);
}

#[test]
fn peterson_handles_are_send_but_not_clone() {
    assert_send::<PetersonHandle<Cell<u8>>>();
    assert_not_impl!(PetersonHandle<u8>: Clone);
}

#[test]
fn peterson_handles_of_non_send_data_are_not_send() {
    assert_not_impl!(PetersonHandle<Rc<u8>>: Send);
}

#[test]
fn monitors_are_send_and_sync_when_the_state_is_send() {
    // `locks_are_send_and_sync_for_any_send` covers every `T: Send`; these are the edges.
    assert_sync::<Monitor<Cell<u8>>>();
    assert_sync::<Monitor<[u8]>>();
}

#[test]
fn a_monitor_around_non_send_state_is_neither_send_nor_sync() {
    assert_not_impl!(Monitor<Rc<u8>>: Send);
    assert_not_impl!(Monitor<Rc<u8>>: Sync);
    assert_not_impl!(Monitor<std::sync::MutexGuard<'static, u8>>: Sync);
}

#[test]
fn monitor_guards_are_not_send_and_are_sync_only_for_sync_state() {
    assert_not_impl!(MonitorGuard<'static, u8>: Send);
    assert_sync::<MonitorGuard<'static, Vec<u8>>>();
    assert_not_impl!(MonitorGuard<'static, Cell<u8>>: Sync);
}

#[test]
fn semaphores_condvars_and_conditions_are_send_and_sync() {
    assert_send::<Semaphore>();
    assert_sync::<Semaphore>();
    assert_send::<Condvar>();
    assert_sync::<Condvar>();
    assert_send::<Condition>();
    assert_sync::<Condition>();
    assert_send::<WaitTimeoutResult>();
    assert_sync::<WaitTimeoutResult>();
}

#[test]
fn semaphore_permits_are_send_and_sync() {
    // A permit holds only `&Semaphore` and counts: it may be returned from any thread.
    assert_send::<SemaphorePermit<'static>>();
    assert_sync::<SemaphorePermit<'static>>();
    static SEM: Semaphore = Semaphore::new(1);
    let permit = SEM.acquire();
    thread::spawn(move || drop(permit)).join().unwrap();
    assert_eq!(SEM.available_permits(), 1);
}

#[test]
fn permits_and_conditions_are_not_clone() {
    // A cloned permit would return its permits twice; a cloned condition would be a second
    // condvar that no waiter sleeps on.
    assert_not_impl!(SemaphorePermit<'static>: Clone);
    assert_not_impl!(Condition: Clone);
    assert_not_impl!(Semaphore: Clone);
    assert_not_impl!(Condvar: Clone);
}

#[test]
fn default_builds_an_unlocked_lock_around_the_default_value() {
    let mutex: Mutex<Vec<u8>> = Mutex::default();
    let spin: SpinLock<u32> = SpinLock::default();
    assert!(!mutex.is_locked() && !spin.is_locked());
    assert_eq!((mutex.into_inner(), spin.into_inner()), (Vec::new(), 0));
}

#[test]
fn default_builds_a_free_monitor_and_a_condvar_nobody_waits_on() {
    let monitor: Monitor<Vec<u8>> = Monitor::default();
    assert!(monitor.try_lock().is_some());
    assert_eq!(monitor.into_inner(), Vec::<u8>::new());
    let condvar = Condvar::default();
    assert!(!condvar.notify_one());
}

#[test]
fn from_builds_a_free_monitor_around_the_value() {
    let monitor: Monitor<Vec<u8>> = vec![1, 2].into();
    assert!(monitor.try_lock().is_some());
    assert_eq!(Monitor::from('m').into_inner(), 'm');
    assert_eq!(monitor.into_inner(), [1, 2]);
}

#[test]
fn from_builds_an_unlocked_lock_around_the_value() {
    let mutex: Mutex<Vec<u8>> = vec![1, 2].into();
    let spin: SpinLock<char> = SpinLock::from('z');
    assert!(!mutex.is_locked() && !spin.is_locked());
    assert_eq!((mutex.into_inner(), spin.into_inner()), (vec![1, 2], 'z'));
}

#[test]
fn debug_shows_the_data_when_free() {
    let mutex = Mutex::new(41);
    let spin = SpinLock::new("hello");
    let (m, s) = (format!("{mutex:?}"), format!("{spin:?}"));
    assert!(m.contains("41") && !m.contains("<locked>"), "{m}");
    assert!(s.contains("\"hello\"") && !s.contains("<locked>"), "{s}");
}

#[test]
fn debug_shows_locked_while_held_on_the_same_thread() {
    let mutex = Mutex::new(41);
    let spin = SpinLock::new(41);
    let _guards = (mutex.lock(), spin.lock());
    let (m, s) = (format!("{mutex:?}"), format!("{spin:?}"));
    assert!(m.contains("<locked>") && !m.contains("41"), "{m}");
    assert!(s.contains("<locked>") && !s.contains("41"), "{s}");
}

#[test]
fn debug_shows_locked_without_blocking_while_another_thread_holds_the_lock() {
    let mutex = Mutex::new(41);
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let shown = thread::scope(|s| {
        let mutex = &mutex;
        s.spawn(move || {
            let _guard = mutex.lock();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        let shown = format!("{mutex:?}");
        drop(release_tx);
        shown
    });
    assert!(shown.contains("<locked>"), "{shown}");
}

#[test]
fn debug_leaves_the_lock_free() {
    let mutex = Mutex::new(1);
    let _ = format!("{mutex:?}");
    assert!(!mutex.is_locked());
}

#[test]
fn monitor_debug_shows_the_state_when_free_and_locked_while_inside() {
    let monitor = Monitor::new(41);
    let free = format!("{monitor:?}");
    assert!(free.contains("41") && !free.contains("<locked>"), "{free}");
    let inside = monitor.lock();
    let held = format!("{monitor:?}");
    assert!(held.contains("<locked>") && !held.contains("41"), "{held}");
    assert_eq!(format!("{inside:?}"), "41", "the guard formats the state");
}

#[test]
fn semaphore_condvar_and_condition_debug_show_their_counts() {
    let sem = Semaphore::new(2);
    let permit = sem.acquire();
    assert!(format!("{sem:?}").contains("permits: 1"), "{sem:?}");
    assert!(format!("{permit:?}").contains("permits: 1"), "{permit:?}");
    let condvar = Condvar::new();
    assert!(format!("{condvar:?}").contains("waiting: 0"), "{condvar:?}");
    let monitor = Monitor::new(());
    let condition = monitor.condition();
    let _inside = monitor.lock();
    assert!(format!("{condition:?}").starts_with("Condition"), "{condition:?}");
}

#[test]
fn guards_format_the_data_with_debug_and_display() {
    let mutex = Mutex::new(7);
    let guard = mutex.lock();
    assert_eq!(format!("{guard:?} {guard}"), "7 7");
    drop(guard);
    let spin = SpinLock::new(String::from("s"));
    let guard = spin.lock();
    assert_eq!(format!("{guard:?} {guard}"), "\"s\" s");
}

#[test]
fn peterson_handle_debug_names_its_party_without_locking() {
    let (a, mut b) = turnstile::Peterson::pair(5);
    let _held = b.lock();
    // Formatting `a` must not try to take the lock `b` holds.
    assert!(format!("{a:?}").contains("party: 0"));
}

#[test]
fn a_unit_mutex_and_spinlock_are_one_word() {
    assert_eq!(size_of::<Mutex<()>>(), 4);
    assert_eq!(size_of::<SpinLock<()>>(), 4);
}

#[test]
fn a_guard_is_one_pointer() {
    // The default backend's access tracker is zero-sized: a guard is just the lock reference.
    assert_eq!(size_of::<MutexGuard<'static, u64>>(), size_of::<&Mutex<u64>>());
    assert_eq!(size_of::<SpinLockGuard<'static, u64>>(), size_of::<&SpinLock<u64>>());
}

#[test]
fn a_semaphore_is_two_words_and_a_condvar_at_most_sixteen_bytes() {
    assert_eq!(size_of::<Semaphore>(), 8);
    assert!(size_of::<Condvar>() <= 16, "{} bytes", size_of::<Condvar>());
}

#[test]
fn a_permit_is_at_most_two_words() {
    assert!(size_of::<SemaphorePermit<'static>>() <= 2 * size_of::<usize>());
}

#[cfg(target_os = "linux")]
mod shm {
    use super::*;
    use turnstile::shm::{self, Region, RobustMutex, ShmSafe};

    fn assert_shm_safe<T: ShmSafe>() {}

    #[test]
    fn robust_mutex_is_send_and_sync_exactly_when_the_data_is_send() {
        assert_send::<RobustMutex<u64>>();
        assert_sync::<RobustMutex<u64>>();
        assert_sync::<RobustMutex<Cell<u8>>>();
        assert_sync::<RobustMutex<[u8]>>();
        assert_not_impl!(RobustMutex<Rc<u8>>: Send);
        assert_not_impl!(RobustMutex<Rc<u8>>: Sync);
        assert_not_impl!(turnstile::shm::RobustMutexGuard<'static, u8>: Send);
        assert_send::<Region<shm::Mutex<u64>>>();
        assert_sync::<Region<shm::Mutex<u64>>>();
    }

    #[test]
    fn only_plain_data_and_process_shared_locks_are_shm_safe() {
        assert_shm_safe::<shm::Mutex<[u64; 4]>>();
        assert_shm_safe::<shm::SpinLock<std::sync::atomic::AtomicU32>>();
        assert_shm_safe::<shm::Semaphore>();
        assert_shm_safe::<RobustMutex<crossbeam_utils::CachePadded<u8>>>();
        assert_not_impl!(shm::Mutex<Vec<u8>>: ShmSafe);
        assert_not_impl!(shm::Mutex<&'static u8>: ShmSafe);
        assert_not_impl!(Mutex<u64>: ShmSafe); // the default backend's futex calls are private
        assert_not_impl!(Semaphore: ShmSafe);
        assert_not_impl!(RobustMutex<Box<u8>>: ShmSafe);
        assert_not_impl!(Cell<u8>: ShmSafe); // plain, but not Sync
    }

    /// `ShmSafe` means every bit pattern is valid (another process may have written any byte):
    /// the types with invalid bit patterns are refused, alone and inside locks and arrays.
    #[test]
    fn types_with_invalid_bit_patterns_are_not_shm_safe() {
        assert_shm_safe::<u8>();
        assert_shm_safe::<f64>();
        assert_shm_safe::<std::sync::atomic::AtomicU8>();
        assert_shm_safe::<()>();
        assert_not_impl!(bool: ShmSafe);
        assert_not_impl!(std::sync::atomic::AtomicBool: ShmSafe);
        assert_not_impl!(char: ShmSafe);
        assert_not_impl!(std::num::NonZeroU32: ShmSafe);
        assert_not_impl!(Option<u8>: ShmSafe);
        assert_not_impl!(shm::Mutex<bool>: ShmSafe);
        assert_not_impl!([bool; 4]: ShmSafe);
    }

    turnstile::shm_struct! {
        struct Pair {
            left: u8,
            right: shm::Mutex<[u16; 3]>,
        }
    }

    /// Each kind of `ShmSafe` type has the layout text and size its docs describe, and the
    /// layout's hash tells apart what the text tells apart.
    #[test]
    fn layouts_describe_kinds_names_fields_and_sizes() {
        let cases: [(&shm::Layout, &str, usize); 8] = [
            (<u32 as ShmSafe>::LAYOUT, "u32", 4),
            (<std::sync::atomic::AtomicU32 as ShmSafe>::LAYOUT, "AtomicU32", 4),
            (<[u8; 3] as ShmSafe>::LAYOUT, "[u8; 3]", 3),
            (<shm::Semaphore as ShmSafe>::LAYOUT, "Semaphore", 8),
            (<shm::SpinLock<()> as ShmSafe>::LAYOUT, "SpinLock<()>", 4),
            (<RobustMutex<u8> as ShmSafe>::LAYOUT, "RobustMutex<u8>", 32),
            (
                <crossbeam_utils::CachePadded<u8> as ShmSafe>::LAYOUT,
                "CachePadded<u8>",
                size_of::<crossbeam_utils::CachePadded<u8>>(),
            ),
            (<Pair as ShmSafe>::LAYOUT, "Pair { left: u8, right: Mutex<[u16; 3]> }", 16),
        ];
        for (i, (layout, text, size)) in cases.iter().enumerate() {
            assert_eq!((layout.to_string().as_str(), layout.size()), (*text, *size));
            for (other, _, _) in &cases[..i] {
                assert_ne!(layout.hash(), other.hash(), "{layout} and {other}");
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // identifying the process reads /proc, which Miri's isolation forbids
    fn robust_mutex_has_default_from_and_a_debug_that_never_blocks() {
        let lock: RobustMutex<u8> = RobustMutex::default();
        assert_eq!(format!("{lock:?}"), "RobustMutex { data: 0, .. }");
        let guard = lock.lock().unwrap();
        assert_eq!(format!("{lock:?}"), "RobustMutex { data: <locked>, .. }");
        drop(guard);
        assert_eq!(RobustMutex::from(7).into_inner(), 7);
    }

    #[test]
    fn shared_lock_sizes_are_their_documented_layouts() {
        assert_eq!(size_of::<shm::Mutex<u32>>(), 8);
        assert_eq!(size_of::<shm::SpinLock<()>>(), 4);
        assert_eq!(size_of::<shm::Semaphore>(), 8);
        assert_eq!(size_of::<RobustMutex<()>>(), 24);
        assert_eq!(size_of::<RobustMutex<u8>>(), 32);
    }
}
