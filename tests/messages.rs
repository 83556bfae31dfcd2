//! Misuse panics point at the caller's line (`#[track_caller]` on every public function that can
//! panic, and on every private one between it and the panic), and their messages say what the
//! caller did, with the values, and what to do instead.
//!
//! Each check runs the misuse in [`panic_at`], which catches the panic and returns its message
//! and location; [`panics_here!`] asserts the location is the line of the call in this file.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use turnstile::{Condvar, Monitor, Mutex, Semaphore};

mod common;

/// Runs `f`, which must panic; returns the panic's message, file and line.
fn panic_at<R>(f: impl FnOnce() -> R) -> (String, String, u32) {
    let caught = common::catch_panic(f).expect("expected a panic");
    (caught.message, caught.file, caught.line)
}

/// Runs the call, which must panic at this line of this file; evaluates to its message.
/// Keep each use on one line: the location is compared with the line the macro starts on.
macro_rules! panics_here {
    ($call:expr) => {{
        let line = line!();
        let (message, file, at) = panic_at(|| $call);
        assert_eq!((file.as_str(), at), (file!(), line), "the panic points elsewhere: {message}");
        message
    }};
}

/// Asserts that `message` contains every one of `parts`.
fn says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "the message does not say {part:?}: {message}");
    }
}

const MAX: &str = "2147483647";

#[test]
fn a_semaphore_made_with_too_many_permits_names_them_and_the_maximum() {
    let n = black_box(Semaphore::MAX_PERMITS + 1);
    let message = panics_here!(Semaphore::new(n));
    says(&message, &["Semaphore::new(2147483648)", MAX, "start with at most"]);
    let message = panics_here!(Semaphore::new_fair(usize::MAX));
    says(&message, &[&format!("Semaphore::new_fair({})", usize::MAX), MAX]);
    let message = panics_here!(Semaphore::<turnstile::backend::Real>::with_backend(n));
    says(&message, &["Semaphore::with_backend(2147483648)", MAX]);
    let message = panics_here!(Semaphore::<turnstile::backend::Real>::with_backend_fair(n));
    says(&message, &["Semaphore::with_backend_fair(2147483648)", MAX]);
}

#[test]
fn every_many_form_refuses_a_request_no_semaphore_can_meet_at_once() {
    let sem = Arc::new(Semaphore::new(1));
    let n = Semaphore::MAX_PERMITS + 1;
    let long = Duration::from_secs(600);
    let later = Instant::now() + long;
    let calls: [(&str, String); 8] = [
        ("acquire_many", panics_here!(sem.acquire_many(n).forget())),
        ("try_acquire_many", panics_here!(sem.try_acquire_many(n).is_some())),
        ("acquire_many_timeout", panics_here!(sem.acquire_many_timeout(n, long).is_some())),
        ("acquire_many_until", panics_here!(sem.acquire_many_until(n, later).is_some())),
        ("acquire_many_owned", panics_here!(sem.acquire_many_owned(n).forget())),
        ("try_acquire_many_owned", panics_here!(sem.try_acquire_many_owned(n).is_some())),
        ("acquire_many_owned_timeout", panics_here!(sem.acquire_many_owned_timeout(n, long).is_some())),
        ("acquire_many_owned_until", panics_here!(sem.acquire_many_owned_until(n, later).is_some())),
    ];
    for (what, message) in calls {
        says(
            &message,
            &[&format!("Semaphore::{what}(2147483648)"), MAX, "could never be met", "ask for at most"],
        );
    }
    assert_eq!(sem.available_permits(), 1, "nothing was taken");
}

#[test]
fn adding_past_the_maximum_names_the_call_and_what_still_fits() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 3);
    let message = panics_here!(sem.add_permits(5));
    says(&message, &["Semaphore::add_permits(5) with 2147483644 available", MAX, "Add at most 3 now"]);
    let message = panics_here!(sem.add_permits(usize::MAX));
    says(&message, &[&format!("Semaphore::add_permits({})", usize::MAX), MAX]);
}

#[test]
fn a_condvar_used_with_two_mutexes_names_both_and_points_at_the_wait() {
    let (first, second) = (Arc::new(Mutex::new(false)), Mutex::new(false));
    let cv = Arc::new(Condvar::new());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let waiter = {
        let (first, cv) = (Arc::clone(&first), Arc::clone(&cv));
        std::thread::spawn(move || {
            let mut done = first.lock();
            ready_tx.send(()).unwrap();
            cv.wait_while(&mut done, |done| !*done);
        })
    };
    ready_rx.recv().unwrap();
    drop(first.lock()); // the waiter has registered with `first` and let it go
    let mut other = second.lock();
    let message = panics_here!(cv.wait_for(&mut other, Duration::from_secs(600)));
    let (ours, theirs) = (&second as *const _ as usize, &*first as *const _ as usize);
    says(&message, &[&format!("{ours:#x}"), &format!("{theirs:#x}"), "use one Condvar per mutex"]);
    drop(other);
    *first.lock() = true;
    cv.notify_one();
    waiter.join().unwrap();
}

#[test]
fn a_condition_of_another_monitor_names_both_monitors_and_points_at_the_call() {
    let (a, b) = (Monitor::new(()), Monitor::new(()));
    let of_b = b.condition();
    let mut inside_a = a.lock();
    let message = panics_here!(inside_a.wait_on(&of_b));
    says(&message, &["a Condition of monitor #", "used with the guard of monitor #", "condition()"]);
    let message = panics_here!(inside_a.notify_one_on(&of_b));
    says(&message, &["monitor #"]);
    let message = panics_here!(inside_a.wait_for_on(&of_b, Duration::from_secs(600)));
    says(&message, &["monitor #"]);
}

#[cfg(target_os = "linux")]
mod shm {
    use super::*;
    use turnstile::shm::{Layout, Region, ShmSafe};

    /// A hand-written impl that states the layout of another type.
    #[repr(C)]
    struct Misdescribed(u64);
    // SAFETY: plain data; only its stated layout is wrong, which `Region` checks and refuses.
    unsafe impl ShmSafe for Misdescribed {
        const LAYOUT: &'static Layout = <u32 as ShmSafe>::LAYOUT;
    }

    #[test]
    fn a_misdescribed_type_is_refused_at_the_call_to_create_and_open() {
        let name = format!("turnstile-messages-{}", std::process::id());
        let message = panics_here!(Region::create(&name, Misdescribed(1)));
        says(&message, &["Misdescribed", "4 bytes", "has 8 bytes", "state the layout of the type itself"]);
        let message = panics_here!(Region::<Misdescribed>::open(&name, Duration::ZERO));
        says(&message, &["Misdescribed"]);
    }
}
