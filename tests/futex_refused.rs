//! A kernel that refuses the crate's futex calls (a seccomp filter answering ENOSYS, as container
//! runtimes and sandboxes install) must cost speed, never correctness: no spin without end, no
//! hang, no lost waiter.
//!
//! **Child processes.** A seccomp filter cannot be taken back, so each test re-executes this test
//! binary with the filter `child --exact` and names, in `TURNSTILE_REFUSE`, the futex operation
//! the child refuses. The child installs the filter on its test thread (threads it spawns inherit
//! it; the harness's other threads do not), checks that the kernel now refuses that operation,
//! and runs the scenario. In an ordinary run `child` finds no variable and returns at once. The
//! parent waits for the child with a bound: a child that hangs or spins for good is killed and the
//! test fails with its output.
#![cfg(all(target_os = "linux", not(miri)))] // Miri cannot spawn processes or install filters

#[allow(dead_code)] // only `SleepProbe` is needed here
mod common;

use std::env;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::SleepProbe;
use turnstile::{Condvar, Mutex};

/// The futex operation the child refuses (its number, without `FUTEX_PRIVATE_FLAG`).
const REFUSE_VAR: &str = "TURNSTILE_REFUSE";
/// The bound on a child's run. Generous: reaching it means the child hangs or spins for good.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Runs `child` in a copy of this binary that refuses futex operation `op`, and fails with the
/// child's output if it fails or does not finish within [`CHILD_LIMIT`].
fn run_refusing(op: libc::c_int) {
    let exe = env::current_exe().expect("the path of this test binary");
    let mut child = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(REFUSE_VAR, op.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait on the child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill().expect("SIGKILL the child");
            break None;
        }
        // Polling for an exit, bounded; nothing is ordered by this sleep.
        thread::sleep(Duration::from_millis(5));
    };
    let output = child.wait_with_output().expect("the child's output");
    let text = format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match status {
        None => panic!(
            "the child refusing futex op {op} still ran after {CHILD_LIMIT:?}: it hangs or spins\n{text}"
        ),
        Some(status) => {
            assert!(status.success(), "the child refusing futex op {op} failed: {status}\n{text}")
        }
    }
}

/// Makes the kernel answer `futex(_, op | any flags, ...)` with ENOSYS, for the calling thread
/// and the threads it spawns from now on. Other futex operations and other calls pass.
fn refuse_futex_op(op: u32) {
    // seccomp_data: `nr` at offset 0, then `arch`, `instruction_pointer`, and `args` at 16, each
    // a u64; the low half of `args[1]` (little-endian) is the futex operation. No `arch` check:
    // this binary makes only native system calls, and the filter only has to catch its own.
    const NR: u32 = 0;
    const OP: u32 = 16 + 8;
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jump_eq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    // Only the command matters: mask off FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME.
    let command_bits = !((libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u32);
    let program = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR),
        jump_eq(libc::SYS_futex as u32, 0, 3),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, OP),
        stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, command_bits),
        jump_eq(op, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ];
    let fprog =
        libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut libc::sock_filter };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only; it lets an unprivileged
    // process install a filter.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error());
    // SAFETY: `fprog` points to `program`, a valid BPF program that outlives the call (the
    // kernel copies it).
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const _, 0, 0) };
    assert_eq!(r, 0, "PR_SET_SECCOMP: {}", std::io::Error::last_os_error());
}

/// Whether the kernel refuses `op` on this thread now: a harmless call (on a word nobody sleeps
/// on, with a value it does not hold, so that it returns at once if allowed) fails with ENOSYS.
fn is_refused(op: u32) -> bool {
    let word = 0u32;
    // SAFETY: every operation tried here reads `word` (alive for the call) at most; the other
    // pointer arguments are null or point to `word`, and the count of 0 moves nobody.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            &word as *const u32,
            op as libc::c_int | libc::FUTEX_PRIVATE_FLAG,
            1,
            core::ptr::null::<libc::timespec>(),
            &word as *const u32,
            1,
        )
    };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS)
}

#[test]
fn notify_all_wakes_every_waiter_when_the_kernel_refuses_to_requeue() {
    run_refusing(libc::FUTEX_CMP_REQUEUE);
}

#[test]
fn a_lock_waiter_sleeps_and_gets_the_lock_when_the_kernel_refuses_to_wait() {
    run_refusing(libc::FUTEX_WAIT_BITSET);
}

/// The child's part: does nothing unless [`REFUSE_VAR`] names an operation.
#[test]
fn child() {
    let Ok(op) = env::var(REFUSE_VAR) else { return };
    let op: u32 = op.parse().expect("a futex operation number");
    refuse_futex_op(op);
    assert!(
        is_refused(op),
        "the filter is installed but futex op {op} still runs: the test would test nothing"
    );
    match op as libc::c_int {
        libc::FUTEX_CMP_REQUEUE => notify_all_with_requeue_refused(),
        libc::FUTEX_WAIT_BITSET => lock_with_wait_refused(),
        _ => panic!("no scenario for futex op {op}"),
    }
}

/// Three waiters and one `notify_all`: the first waiter back requeues the other two, the kernel
/// refuses, and they must be woken some other way. (A condvar that retried the requeue would spin
/// there for good, holding the mutex.)
fn notify_all_with_requeue_refused() {
    const WAITERS: u32 = 3;
    // (waiting, open, woken)
    let state = Arc::new((Mutex::new((0u32, false, 0u32)), Condvar::new()));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut guard = state.0.lock();
                guard.0 += 1;
                state.1.wait_while(&mut guard, |(_, open, _)| !*open);
                guard.2 += 1;
            })
        })
        .collect();
    // Every waiter registered with the condvar before it let the mutex go, so once all three
    // have counted themselves the notify covers them all and the first one back requeues.
    loop {
        let mut guard = state.0.lock();
        if guard.0 == WAITERS {
            guard.1 = true;
            break;
        }
        drop(guard);
        thread::yield_now();
    }
    assert_eq!(state.1.notify_all(), WAITERS as usize);
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(state.0.lock().2, WAITERS, "every waiter woke and counted");
    assert!(!state.0.is_locked());
}

/// A thread that waits for a held mutex while the kernel refuses every futex wait: it must
/// still sleep (poll), not spin, and take the lock when it is released.
///
/// This thread blocks in nothing of std's (no channel, no join): std aborts when its own futex
/// wait is refused. It waits for the other thread by polling atomics instead.
fn lock_with_wait_refused() {
    let lock = Arc::new(Mutex::new(0u64));
    let probe = Arc::new(OnceLock::new());
    let done = Arc::new(AtomicBool::new(false));
    let held = lock.lock();
    {
        let (lock, probe, done) = (Arc::clone(&lock), Arc::clone(&probe), Arc::clone(&done));
        thread::spawn(move || {
            probe.set(SleepProbe::current()).ok().expect("set once");
            *lock.lock() += 1;
            done.store(true, Release);
        });
    }
    let probe = loop {
        match probe.get() {
            Some(probe) => break probe,
            None => thread::yield_now(),
        }
    };
    // A waiter whose refused wait returned at once would spin and never be seen asleep; the
    // parent's bound turns that into a failure.
    probe.wait_until_asleep();
    drop(held);
    // Acquire: pairs with the Release store after the waiter's increment.
    while !done.load(Acquire) {
        thread::yield_now();
    }
    assert_eq!(*lock.lock(), 1);
}
