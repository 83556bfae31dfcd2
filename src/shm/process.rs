//! Who a process is, in a way that is never reused: its pid paired with its start time.
//!
//! A pid alone names a process only while it runs: when it exits, the kernel may hand the number
//! to a new process (after it has cycled through the others, up to `pid_max`). The start time
//! (field 22 of `/proc/<pid>/stat`, in clock ticks since boot) tells the two apart: a process
//! that reuses a pid started after the one that had it died. The identity packs both into 64
//! bits: the pid in bits 40..63 (Linux pids are below 2²², `PID_MAX_LIMIT`) and the low 40 bits of
//! the start time (at 100 ticks a second, 348 years) in bits 0..40. Bit 63 stays clear for the
//! lock that stores it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Once;

const START_BITS: u32 = 40;
const START_MASK: u64 = (1 << START_BITS) - 1;
/// The pid field is 23 bits: room for any pid below `PID_MAX_LIMIT` (2²²).
const PID_LIMIT: u64 = 1 << 23;

/// This process's identity, once known; 0 before, and again in the child of a `fork`.
static CURRENT: AtomicU64 = AtomicU64::new(0);
static FORGET_ON_FORK: Once = Once::new();

fn identity(pid: u32, start: u64) -> u64 {
    debug_assert!(u64::from(pid) < PID_LIMIT && pid != 0, "pid {pid} out of range");
    u64::from(pid) << START_BITS | (start & START_MASK)
}

fn pid_of(id: u64) -> u32 {
    (id >> START_BITS) as u32
}

/// What `/proc/<pid>/stat` says of a process: its state letter and its start time.
struct Stat {
    state: u8,
    start: u64,
}

/// Reads `/proc/<pid>/stat`. The command name (field 2, in parentheses) may hold spaces and
/// parentheses itself, so the fields are counted from the last `)`.
fn stat(pid: u32) -> io::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("unreadable /proc/{pid}/stat: {text}"))
    })
}

fn parse_stat(text: &str) -> Option<Stat> {
    let mut fields = text[text.rfind(')')? + 1..].split_ascii_whitespace();
    // Field 3 is the state; field 22, 19 further on, the start time.
    let state = fields.next()?.bytes().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start })
}

/// This process's identity. Computed once and cached; a `fork`ed child computes its own.
#[inline]
pub(crate) fn current() -> u64 {
    // Relaxed: the cache publishes nothing but itself, and every thread that computes it
    // computes the same value.
    match CURRENT.load(Relaxed) {
        0 => current_slow(),
        id => id,
    }
}

#[cold]
fn current_slow() -> u64 {
    FORGET_ON_FORK.call_once(|| {
        extern "C" fn forget() {
            CURRENT.store(0, Relaxed);
        }
        // SAFETY: `forget` is a plain function that only stores to an atomic, which is
        // async-signal-safe, as a handler run in the child of `fork` must be.
        let r = unsafe { libc::pthread_atfork(None, None, Some(forget)) };
        assert_eq!(r, 0, "pthread_atfork failed: cannot keep the process identity right across fork");
    });
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    let me = stat(pid).unwrap_or_else(|e| panic!("turnstile needs /proc to identify this process: {e}"));
    let id = identity(pid, me.start);
    CURRENT.store(id, Relaxed);
    id
}

/// Whether the process `id` still runs. `false` only when that is certain: the pid has no
/// process, or a zombie (killed, not yet reaped), or one that started at another time (the pid
/// was reused). When `/proc` cannot say (hidden by `hidepid`, say), the answer is `true`.
pub(crate) fn alive(id: u64) -> bool {
    let pid = pid_of(id);
    match stat(pid) {
        Ok(Stat { state: b'Z' | b'X' | b'x', .. }) => false,
        Ok(Stat { start, .. }) => start & START_MASK == id & START_MASK,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // `/proc` may hide other users' processes; `kill(pid, 0)` does not, and tells
            // "no such process" (ESRCH) from "not yours to signal" (EPERM).
            // SAFETY: signal 0 sends nothing; it only checks that `pid` exists.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            !(r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH))
        }
        Err(_) => true,
    }
}

// Miri cannot read /proc (isolation) or spawn processes.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_stable() {
        let me = current();
        assert_eq!(pid_of(me), std::process::id());
        assert!(me < 1 << 63);
        assert_eq!(current(), me);
        assert!(alive(me));
    }

    #[test]
    fn the_same_pid_started_at_another_time_is_not_alive() {
        let me = current();
        assert!(!alive(me ^ 1), "a reused pid passed for its dead predecessor");
    }

    #[test]
    fn a_reaped_child_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let id = identity(pid, stat(pid).map_or(0, |s| s.start));
        child.wait().unwrap();
        assert!(!alive(id));
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        let id = identity(pid, stat(pid).unwrap().start);
        assert!(alive(id));
        child.kill().unwrap();
        // Not reaped yet: a zombie until `wait`. Wait for the kernel to finish killing it.
        while stat(pid).is_ok_and(|s| s.state != b'Z') {
            std::thread::yield_now();
        }
        assert!(!alive(id));
        child.wait().unwrap();
    }

    #[test]
    fn stat_counts_fields_from_the_last_parenthesis() {
        // A command name may hold spaces and parentheses; field 22 is the start time.
        let line = "42 (a) Z (b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 19 20";
        let stat = parse_stat(line).unwrap();
        assert_eq!((stat.state, stat.start), (b'S', 987654));
        assert!(parse_stat("42 (cut short) S 1 2").is_none());
    }
}
