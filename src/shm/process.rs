//! Who a process is, in a way that is never reused: its pid paired with its start time; and
//! whether such a process has certainly ended.
//!
//! A pid alone names a process only while it runs: when it exits, the kernel may hand the number
//! to a new process (after it has cycled through the others, up to `pid_max`). The start time
//! (field 22 of `/proc/<pid>/stat`, in clock ticks since boot) tells the two apart: a process
//! that reuses a pid started after the one that had it died. The identity packs both into 64
//! bits: the pid in bits 40..62 (Linux pids are below 2²², `PID_MAX_LIMIT`) and the low 40 bits of
//! the start time (at 100 ticks a second, 348 years) in bits 0..40. Bits 62 and 63 stay clear for
//! the lock that stores it.
//!
//! **Where an identity means something.** A pid names a process only inside one pid namespace,
//! and the start time `/proc` shows is shifted by the *reader's* time namespace (Linux 5.6 and
//! later). So an identity can be checked only by a process of the same pid namespace and the same
//! time namespace, reading a `/proc` mounted for that pid namespace. [`view`] names that pair of
//! namespaces (0 when it cannot be read); a lock records the view it was made in and probes a
//! holder only where both sides share it (see `RobustMutex`).
//!
//! **When a process has ended.** [`alive`] answers `false` only when that is certain, from this
//! process's own `/proc`: the pid names no process (`kill(pid, 0)` says `ESRCH`), or another
//! process (a later start time), or one whose whole thread group has exited (a zombie leader with
//! no other thread left). A zombie *leader* alone proves nothing: a main thread that calls
//! `SYS_exit` leaves the leader `Z` while the process's other threads run on.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Once;

const START_BITS: u32 = 40;
const START_MASK: u64 = (1 << START_BITS) - 1;
/// The pid field is 22 bits: room for any pid below `PID_MAX_LIMIT` (2²²).
const PID_LIMIT: u64 = 1 << 22;

/// This process's identity, once known; 0 before, and again in the child of a `fork`.
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// This process's [`view`], valid once `CURRENT` is nonzero.
static VIEW: AtomicU64 = AtomicU64::new(0);
static FORGET_ON_FORK: Once = Once::new();

fn identity(pid: u32, start: u64) -> u64 {
    assert!(u64::from(pid) < PID_LIMIT && pid != 0, "pid {pid} out of range: Linux pids are below 2^22");
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

/// Reads `/proc/<pid>/stat` (`pid` may be `self`). The command name (field 2, in parentheses)
/// may hold spaces and parentheses itself, so the fields are counted from the last `)`.
fn stat(pid: &str) -> io::Result<Stat> {
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
    cached().0
}

/// This process's view: its pid namespace's inode number in bits 32..64 and its time
/// namespace's in bits 0..32 (0 on kernels without time namespaces); 0 if it cannot be read.
/// Cached with the identity: a process never changes namespaces (`unshare` and `setns` of these
/// two move only its future children), and a `fork`ed child computes its own.
#[inline]
pub(crate) fn view() -> u64 {
    cached().1
}

#[inline]
fn cached() -> (u64, u64) {
    // Acquire: pairs with the Release store in `current_slow`, so the view stored before it is
    // the one read here.
    match CURRENT.load(Acquire) {
        0 => current_slow(),
        // Relaxed: ordered after the store by the Acquire above.
        id => (id, VIEW.load(Relaxed)),
    }
}

#[cold]
fn current_slow() -> (u64, u64) {
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
    // Through `/proc/self`, which names this process in whatever pid namespace `/proc` belongs
    // to. Without it the start time is unknown, and so is the view: an identity nobody will
    // ever probe (see `RobustMutex`), rather than a panic.
    let (start, view) = match stat("self") {
        Ok(me) => (me.start, read_view()),
        Err(_) => (0, 0),
    };
    let id = identity(pid, start);
    VIEW.store(view, Relaxed);
    // Release: publishes `VIEW` with the identity (see `cached`).
    CURRENT.store(id, Release);
    (id, view)
}

/// The inode number of one of this process's namespace files, if it can be read.
fn namespace(kind: &str) -> io::Result<u32> {
    let ino = std::fs::metadata(format!("/proc/self/ns/{kind}"))?.ino();
    u32::try_from(ino).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "namespace inode above 2^32"))
}

fn read_view() -> u64 {
    let Ok(pid_ns) = namespace("pid") else { return 0 };
    let time_ns = match namespace("time") {
        Ok(ino) => ino,
        // A kernel before 5.6: no time namespaces, so every process shares the one clock.
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(_) => return 0,
    };
    u64::from(pid_ns) << 32 | u64::from(time_ns)
}

/// Whether `/proc` is the `/proc` of this process's own pid namespace: `/proc/self` names this
/// process by the pid `getpid` returns, and `NSpid` in its status lists one pid (it lists the
/// pids from `/proc`'s namespace down to the process's own). A `/proc` of an ancestor namespace
/// (no `--mount-proc` after `unshare --pid`) or of a descendant would read other processes
/// under the numbers asked for.
fn proc_is_own() -> bool {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    let named_self =
        std::fs::read_link("/proc/self").is_ok_and(|link| link.as_os_str() == pid.to_string().as_str());
    if !named_self {
        return false;
    }
    match std::fs::read_to_string("/proc/self/status") {
        // No `NSpid` line before Linux 4.1, and no pid namespaces to tell apart by it there.
        Ok(status) => status
            .lines()
            .find_map(|line| line.strip_prefix("NSpid:"))
            .map_or(true, |pids| pids.split_ascii_whitespace().count() == 1),
        Err(_) => false,
    }
}

/// Whether the thread group of the zombie leader `pid` has ended, as far as is certain: the
/// `Threads:` count of its status is 1 (the leader's own, kept until it is reaped), or its
/// entry is gone (reaped, which the kernel does only once every thread has ended).
fn thread_group_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|count| count.trim().parse::<u64>().ok())
            .is_some_and(|threads| threads <= 1),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Whether the process `id`, an identity taken in this process's own [`view`], may still run.
/// `false` only when it is certain that it does not (see the module docs); when `/proc` is not
/// this namespace's, or cannot say, the answer is `true`.
pub(crate) fn alive(id: u64) -> bool {
    if !proc_is_own() {
        return true;
    }
    let pid = pid_of(id);
    match stat(&pid.to_string()) {
        // Another process has the pid now: ours is gone (two cannot share a pid at once).
        Ok(Stat { start, .. }) if start & START_MASK != id & START_MASK => false,
        // The leader has exited; the process has only if no other thread of it remains. One
        // being killed passes through here with threads still exiting: alive, for now.
        Ok(Stat { state: b'Z' | b'X' | b'x', .. }) => !thread_group_ended(pid),
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // `/proc` may hide other users' processes (`hidepid`); `kill(pid, 0)` does not, and
            // tells "no such process" (ESRCH) from "not yours to signal" (EPERM). A pid hidden
            // and alive cannot be told from its reuse: alive.
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
        assert!(me < 1 << 62);
        assert_eq!(current(), me);
        assert!(alive(me));
    }

    #[test]
    fn this_process_reads_its_own_proc_and_namespaces() {
        assert!(proc_is_own(), "the test runs with its own namespace's /proc");
        let view = view();
        assert_ne!(view >> 32, 0, "the pid namespace is known");
        assert_eq!(view, read_view(), "cached as read");
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
        let id = identity(pid, stat(&pid.to_string()).map_or(0, |s| s.start));
        child.wait().unwrap();
        assert!(!alive(id));
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        let id = identity(pid, stat(&pid.to_string()).unwrap().start);
        assert!(alive(id));
        child.kill().unwrap();
        // Not reaped yet: a zombie until `wait`. Wait for the kernel to finish killing it.
        while stat(&pid.to_string()).is_ok_and(|s| s.state != b'Z') {
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
