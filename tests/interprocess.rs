//! `turnstile::shm` across real processes: locks and semaphores in a shared-memory [`Region`]
//! used by this test binary and copies of it, and the [`RobustMutex`] surviving a holder that is
//! `SIGKILL`ed.
//!
//! **Child processes.** A test never forks: it re-executes this test binary with the filter
//! `child --exact`, so that only [`child`] runs, and names the child's role and the region in the
//! environment (`TURNSTILE_CHILD`, `TURNSTILE_REGION`). In an ordinary run `child` finds no role
//! and returns at once. A child that fails an assertion exits non-zero, and its parent fails with
//! the child's output. Every wait on a child is bounded ([`CHILD_LIMIT`]): a hang becomes a
//! failure, and a child still running when its test ends (even by a panic) is killed.
//!
//! **Ordering.** Nothing here sleeps to order processes or measures time to decide a result:
//! processes say "ready", "holding" or "your turn" with semaphores in the region. Where a test
//! needs a thread to be asleep inside a call before it acts, it watches the thread's state in
//! `/proc`.
//!
//! **Names.** Each test's region is named after the test and this process's pid, and a [`Name`]
//! guard unlinks it when the test ends, passed or failed, so nothing is left in `/dev/shm`.
#![cfg(all(target_os = "linux", not(miri)))] // Miri cannot spawn processes or map shared memory

mod common;

use std::any::type_name;
use std::env;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{bump, iters};
use turnstile::shm::{self, Region, RegionError, RobustMutex, ShmSafe, LAYOUT_VERSION, PROBE_INTERVAL};

/// The role a child process plays; unset in the parent.
const ROLE_VAR: &str = "TURNSTILE_CHILD";
/// The name of the region the child opens.
const REGION_VAR: &str = "TURNSTILE_REGION";

/// The bound on any wait for another process: a child's exit, a child's signal, a child's wait
/// for its parent. Generous: reaching it means something hangs, not that the machine is slow.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// How long a robust-lock waiter may take to find a killed holder dead before the test fails.
/// The documented bound is `PROBE_INTERVAL` (10 ms) plus scheduling.
const DETECTION_LIMIT: Duration = Duration::from_secs(10);
/// `SIGKILL`, the signal `Child::kill` sends.
const SIGKILL: i32 = 9;

// ------------------------------------------------------------------------------------------------
// Harness: region names, child processes, thread states
// ------------------------------------------------------------------------------------------------

/// A region name unique to this test and this run, unlinked when dropped (pass or fail).
struct Name(String);

impl Name {
    fn new(test: &str) -> Self {
        let name = format!("turnstile-it-{}-{test}", process::id());
        // A previous run with the same pid that was killed mid-test may have left it behind.
        let _ = Region::<u8>::unlink(&name);
        Name(name)
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the kernel keeps the object (POSIX shared memory on Linux is a tmpfs file).
    fn path(&self) -> PathBuf {
        Path::new("/dev/shm").join(&self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        // The type parameter is irrelevant to unlinking; `Err` means a test never created it.
        let _ = Region::<u8>::unlink(&self.0);
    }
}

/// A child process running this test binary in some role. Dropping it kills and reaps the child
/// if it still runs, so a failing test leaves no process waiting forever on a region.
struct Running {
    role: &'static str,
    child: Child,
    readers: Option<[JoinHandle<Vec<u8>>; 2]>,
}

/// Starts this test binary as a child process that plays `role` on the region `region`.
fn spawn_child(role: &'static str, region: &str) -> Running {
    let exe = env::current_exe().expect("the path of this test binary");
    let mut child = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env(REGION_VAR, region)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start child {role:?}: {e}"));
    // Drain both pipes on threads, so that a chatty child never blocks on a full pipe; they end
    // when the child does (exited or killed), as it holds the only write ends.
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let readers = [drain(stdout), drain(stderr)];
    Running { role, child, readers: Some(readers) }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGKILL`, and does not reap: until [`wait`](Self::wait) the child is a zombie.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the child");
    }

    /// Whether the child has exited (reaping it if so).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait on the child")
    }

    /// What the child wrote to stdout and stderr. Call only once it has exited (or the pipes
    /// would not have ended).
    fn output(&mut self) -> String {
        let Some(readers) = self.readers.take() else { return String::from("<already shown>") };
        let [out, err] = readers.map(|r| String::from_utf8_lossy(&r.join().unwrap_or_default()).into_owned());
        format!("--- child {:?} stdout ---\n{out}--- child {:?} stderr ---\n{err}", self.role, self.role)
    }

    /// Waits for the child to exit, at most [`CHILD_LIMIT`]; past that, kills it and panics.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + CHILD_LIMIT;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let output = self.output();
                panic!("child {:?} still ran after {CHILD_LIMIT:?}: killed it\n{output}", self.role);
            }
            // Polling for an exit, bounded; nothing is ordered by this sleep.
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the child to exit (bounded) and fails the test unless it succeeded. Its output
    /// goes to this test's captured stderr, shown when the test fails.
    fn finish(mut self) {
        let status = self.wait();
        let output = self.output();
        assert!(status.success(), "child {:?} failed: {status}\n{output}", self.role);
        eprintln!("{output}");
    }

    /// Takes one permit of `sem` (P), which the child gives to say `what`; fails at once if the
    /// child exits without giving it, and after [`CHILD_LIMIT`] if it never does.
    fn wait_for(&mut self, sem: &shm::Semaphore, what: &str) {
        let deadline = Instant::now() + CHILD_LIMIT;
        loop {
            if let Some(permit) = sem.acquire_timeout(Duration::from_millis(20)) {
                permit.forget();
                return;
            }
            if let Some(status) = self.exited() {
                // It may have signalled just before exiting.
                if let Some(permit) = sem.try_acquire() {
                    permit.forget();
                    return;
                }
                let output = self.output();
                panic!("child {:?} exited ({status}) without signalling {what:?}\n{output}", self.role);
            }
            assert!(
                Instant::now() < deadline,
                "child {:?} did not signal {what:?} in {CHILD_LIMIT:?}",
                self.role
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A no-op for a child already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `/proc` stat file of the calling thread.
fn this_thread_stat() -> PathBuf {
    Path::new("/proc").join(std::fs::read_link("/proc/thread-self").expect("/proc/thread-self")).join("stat")
}

/// The thread id of the calling thread.
fn this_thread_id() -> u64 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name().and_then(|tid| tid.to_str()?.parse().ok()).expect("/proc/thread-self ends in the tid")
}

/// The state letter of a task (field 3 of its stat file), or `None` if it is gone.
fn task_state(stat: &Path) -> Option<char> {
    let text = std::fs::read_to_string(stat).ok()?;
    // "tid (comm) S ...": the state follows the last ')', as comm may hold anything.
    text.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// Runs `f` on a thread of this process and returns its result, or panics if it has not returned
/// after [`CHILD_LIMIT`]: for a call that cannot be given a timeout (`lock()`), so that a hang in
/// this process fails the test too. (The hung thread is left behind, blocked.)
fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(CHILD_LIMIT) {
        Ok(result) => {
            worker.join().expect("the worker returned its result");
            result
        }
        // `f` panicked: fail with its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it ends"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not return in {CHILD_LIMIT:?}: it hangs"),
    }
}

/// Returns once the task at `stat` is in interruptible sleep (state `S`); panics after
/// [`CHILD_LIMIT`], or if the task is gone.
fn wait_until_asleep(stat: &Path, what: &str) {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        match task_state(stat) {
            Some('S') => return,
            None => panic!("{what}: the thread ended instead of sleeping"),
            Some(_) => {}
        }
        assert!(Instant::now() < deadline, "{what}: the thread did not go to sleep in {CHILD_LIMIT:?}");
        thread::yield_now();
    }
}

// ------------------------------------------------------------------------------------------------
// The child side
// ------------------------------------------------------------------------------------------------

/// The entry point of every child process; returns at once in the parent (no role set).
#[test]
fn child() {
    let Ok(role) = env::var(ROLE_VAR) else { return };
    let region = env::var(REGION_VAR).expect("a child is given its region's name");
    match role.as_str() {
        "count" => child_count(&region),
        "pong" => child_pong(&region),
        "hold_and_hang" => child_hold_and_hang(&region),
        "hold_until_released" => child_hold_until_released(&region),
        "expect_owner_died" => child_expect_owner_died(&region),
        "open_as_u32" => child_open_as_u32(&region),
        "open_early" => child_open_early(&region),
        "consume" => child_consume(&region),
        "open_other_data" => child_open_other_data(&region),
        role if role.starts_with("robust-") => robust_child(role, &region),
        "doomed_lock" => child_doomed_lock(&region),
        "doomed_timed" => child_doomed_timed(&region),
        "survivor" => child_survivor(&region),
        "count_after_kills" => child_count_after_kills(&region),
        other => panic!("unknown child role {other:?}"),
    }
}

fn open<T: ShmSafe>(name: &str) -> Region<T> {
    match Region::<T>::open(name, CHILD_LIMIT) {
        Ok(region) => region,
        Err(e) => panic!("child cannot open {name:?} as {}: {e}", type_name::<T>()),
    }
}

// ------------------------------------------------------------------------------------------------
// 1. Exact counts across processes
// ------------------------------------------------------------------------------------------------

/// Increments per process, at least, of each counter.
fn counting_rounds() -> u64 {
    iters(20_000) as u64
}

/// How many processes count: the parent and two children.
const PROCESSES: u64 = 3;

/// The phases, one per primitive. Each lock is hammered on its own, so that the other locks'
/// convoys do not space the processes out and hide a lock that fails to exclude.
const PHASES: [&str; 4] = ["shm::Mutex", "shm::SpinLock", "RobustMutex", "shm::Semaphore"];

turnstile::shm_struct! {
    struct Counters {
        mutex: shm::Mutex<u64>,
        spin: shm::SpinLock<u64>,
        robust: RobustMutex<u64>,
        /// One permit: a binary semaphore around `guarded`.
        sem: shm::Semaphore,
        /// Incremented by a separate load and store: loses updates unless `sem` excludes.
        guarded: AtomicU64,
        /// Per phase: how many processes have done their `counting_rounds()`.
        finished: [AtomicU64; PHASES.len()],
        /// Per phase: the increments all processes made, each adding its own count at the end.
        made: [AtomicU64; PHASES.len()],
        /// Each child adds a permit when it is ready for the next phase (it has finished the last).
        ready: shm::Semaphore,
        /// Per phase: the parent adds one permit per child to start it in all three processes.
        /// One semaphore per phase, so a fast child cannot take a slow one's start.
        go: [shm::Semaphore; PHASES.len()],
    }
}

/// One increment of the counter of `phase`, under its lock.
fn count_once(c: &Counters, phase: usize) {
    match phase {
        0 => bump(&mut c.mutex.lock()),
        1 => bump(&mut c.spin.lock()),
        2 => bump(&mut c.robust.lock().expect("no process died holding the robust lock")),
        _ => {
            let permit = c.sem.acquire();
            // Relaxed on purpose: the semaphore alone must make this read-modify-write
            // exclusive and ordered; its acquire and release give the ordering.
            let seen = c.guarded.load(Relaxed);
            c.guarded.store(std::hint::black_box(seen) + 1, Relaxed);
            drop(permit);
        }
    }
}

/// This process's share of `phase`: `counting_rounds()` increments, and then more until every
/// process has done its share. So no process finishes while another is still counting: they
/// overlap however the scheduler starts them (with exactly N each, the 2 cores of a small machine
/// often ran the three one after another, and a lock that did not exclude went unnoticed).
fn count_phase(c: &Counters, phase: usize) {
    let n = counting_rounds();
    let deadline = Instant::now() + CHILD_LIMIT;
    let mut mine = 0;
    while mine < n || c.finished[phase].load(Relaxed) < PROCESSES {
        count_once(c, phase);
        mine += 1;
        if mine == n {
            c.finished[phase].fetch_add(1, Relaxed);
        }
        if mine % 4096 == 0 {
            assert!(Instant::now() < deadline, "{}: the other processes did not finish", PHASES[phase]);
        }
    }
    c.made[phase].fetch_add(mine, Relaxed);
}

fn child_count(name: &str) {
    let c = open::<Counters>(name);
    for phase in 0..PHASES.len() {
        c.ready.add_permits(1);
        c.go[phase].acquire_timeout(CHILD_LIMIT).expect("the parent said go").forget();
        count_phase(&c, phase);
    }
}

#[test]
fn three_processes_count_exactly_under_each_shared_lock() {
    let name = Name::new("count");
    let c = Arc::new(
        Region::create(
            name.as_str(),
            Counters {
                mutex: shm::Mutex::new(0),
                spin: shm::SpinLock::new(0),
                robust: RobustMutex::new(0),
                sem: shm::Semaphore::new(1),
                guarded: AtomicU64::new(0),
                finished: Default::default(),
                made: Default::default(),
                ready: shm::Semaphore::new(0),
                go: [(); PHASES.len()].map(|()| shm::Semaphore::new(0)),
            },
        )
        .expect("create the region"),
    );
    let mut children = [spawn_child("count", name.as_str()), spawn_child("count", name.as_str())];
    for (phase, lock) in PHASES.into_iter().enumerate() {
        for child in &mut children {
            child.wait_for(&c.ready, lock);
        }
        c.go[phase].add_permits(children.len());
        let c = Arc::clone(&c);
        bounded("this process's share of the counting", move || count_phase(&c, phase));
    }
    for child in children {
        child.finish();
    }
    // Every process has exited (or is this one): their counts are all in, and the locks free.
    let free = "every process has let go";
    let totals = [
        *c.mutex.try_lock().expect(free),
        *c.spin.try_lock().expect(free),
        *c.robust.try_lock().expect(free).expect("nobody died"),
        c.guarded.load(Relaxed),
    ];
    for (phase, total) in totals.into_iter().enumerate() {
        let made = c.made[phase].load(Relaxed);
        assert!(made >= PROCESSES * counting_rounds());
        assert_eq!(total, made, "{}: increments lost, so two processes were inside at once", PHASES[phase]);
    }
}

// ------------------------------------------------------------------------------------------------
// 2. Semaphores hand turns between processes
// ------------------------------------------------------------------------------------------------

/// Round trips between parent and child.
fn turns() -> u64 {
    iters(10_000) as u64
}

turnstile::shm_struct! {
    struct PingPong {
        /// The child's turn.
        ping: shm::Semaphore,
        /// The parent's turn.
        pong: shm::Semaphore,
        /// Odd after the parent's move, even after the child's; ordered by the semaphores alone.
        count: AtomicU64,
    }
}

fn child_pong(name: &str) {
    let p = open::<PingPong>(name);
    for i in 0..turns() {
        p.ping.acquire_timeout(CHILD_LIMIT).expect("the parent's ping").forget();
        assert_eq!(p.count.load(Relaxed), 2 * i + 1, "child's turn {i}: not the parent's last move");
        p.count.store(2 * i + 2, Relaxed);
        p.pong.add_permits(1);
    }
}

#[test]
fn semaphores_hand_turns_back_and_forth_between_processes() {
    let name = Name::new("pingpong");
    let p = Region::create(
        name.as_str(),
        PingPong { ping: shm::Semaphore::new(0), pong: shm::Semaphore::new(0), count: AtomicU64::new(0) },
    )
    .expect("create the region");
    let mut child = spawn_child("pong", name.as_str());
    for i in 0..turns() {
        assert_eq!(p.count.load(Relaxed), 2 * i, "parent's turn {i}: not the child's last move");
        p.count.store(2 * i + 1, Relaxed);
        p.ping.add_permits(1);
        child.wait_for(&p.pong, "pong");
    }
    child.finish();
    assert_eq!(p.count.load(Relaxed), 2 * turns());
    assert_eq!((p.ping.available_permits(), p.pong.available_permits()), (0, 0), "a turn was handed twice");
}

// ------------------------------------------------------------------------------------------------
// 3.–6. The robust mutex and a holder in another process
// ------------------------------------------------------------------------------------------------

turnstile::shm_struct! {
    struct Held {
        /// Invariant: both halves are equal. A holder that dies may leave `[1, 0]`.
        lock: RobustMutex<[u64; 2]>,
        /// The child adds a permit once it holds `lock`.
        holding: shm::Semaphore,
        /// The parent adds a permit to make a `hold_until_released` child let go.
        release: shm::Semaphore,
        /// Nobody ever adds a permit: a `hold_and_hang` child waits here until it is killed.
        never: shm::Semaphore,
    }
}

fn held_region(name: &Name) -> Region<Held> {
    Region::create(
        name.as_str(),
        Held {
            lock: RobustMutex::new([0, 0]),
            holding: shm::Semaphore::new(0),
            release: shm::Semaphore::new(0),
            never: shm::Semaphore::new(0),
        },
    )
    .expect("create the region")
}

/// Takes the lock, writes half an update (`[1, 0]`), says "holding", and waits to be killed.
fn child_hold_and_hang(name: &str) {
    let h = open::<Held>(name);
    let mut guard = h.lock.lock().expect("a fresh lock is consistent");
    guard[0] = 1;
    h.holding.add_permits(1);
    // Bounded even if the parent dies without killing us.
    let _ = h.never.acquire_timeout(2 * CHILD_LIMIT);
    panic!("the holder was never killed");
}

/// Takes the lock, says "holding", and lets go only when the parent says so.
fn child_hold_until_released(name: &str) {
    let h = open::<Held>(name);
    let guard = h.lock.lock().expect("a fresh lock is consistent");
    h.holding.add_permits(1);
    h.release.acquire_timeout(CHILD_LIMIT).expect("the parent said release").forget();
    drop(guard);
}

/// A later holder in another process: must be told `OwnerDied`, and leaves it unmarked.
fn child_expect_owner_died(name: &str) {
    let h = open::<Held>(name);
    match h.lock.try_lock_for(CHILD_LIMIT) {
        Some(Err(died)) => {
            let guard = died.into_inner();
            assert!(!guard.is_consistent());
            assert_eq!(*guard, [1, 0], "the dead holder's half update");
            // Dropped without `mark_consistent`.
        }
        Some(Ok(guard)) => panic!("an unmarked lock was handed over as consistent: {:?}", *guard),
        None => panic!("the lock stayed held for {CHILD_LIMIT:?}"),
    };
}

/// Starts a `hold_and_hang` child and waits until it holds the lock.
fn holder_that_hangs(name: &Name, h: &Held) -> Running {
    let mut child = spawn_child("hold_and_hang", name.as_str());
    child.wait_for(&h.holding, "holding");
    assert!(h.lock.is_locked(), "the child said it holds the lock");
    child
}

/// Waits for `child` to be reaped and checks it died of `SIGKILL`.
fn reap_killed(mut child: Running) {
    let status = child.wait();
    let output = child.output();
    assert_eq!(status.signal(), Some(SIGKILL), "the holder did not die of SIGKILL: {status}\n{output}");
}

#[test]
fn a_sigkilled_holder_is_detected_and_its_data_recovered() {
    let name = Name::new("sigkill");
    let h = Arc::new(held_region(&name));
    let mut child = holder_that_hangs(&name, &h);

    let killed = Instant::now();
    child.kill(); // not reaped: a zombie from here until `reap_killed`
    let died = match h.lock.try_lock_for(DETECTION_LIMIT) {
        Some(Err(died)) => died,
        Some(Ok(guard)) => panic!("the dead holder's lock was handed over as consistent: {:?}", *guard),
        None => panic!("a holder SIGKILLed (a zombie, not reaped) was not found dead in {DETECTION_LIMIT:?}"),
    };
    eprintln!(
        "killed holder detected {:?} after SIGKILL (documented bound: PROBE_INTERVAL = {PROBE_INTERVAL:?} \
         plus scheduling)",
        killed.elapsed()
    );
    assert_eq!(
        task_state(&Path::new("/proc").join(child.pid().to_string()).join("stat")),
        Some('Z'),
        "the holder should still be an unreaped zombie when found dead"
    );

    let mut guard = died.into_inner();
    assert!(!guard.is_consistent());
    assert_eq!(*guard, [1, 0], "the dead holder's half update is visible");
    guard[1] = guard[0];
    guard.mark_consistent();
    assert!(guard.is_consistent());
    drop(guard);

    let next = {
        let h = Arc::clone(&h);
        bounded("the next lock()", move || h.lock.lock().map(|guard| *guard).map_err(|died| **died.get_ref()))
    };
    match next {
        Ok(data) => assert_eq!(data, [1, 1], "the repair is what the next holder sees"),
        Err(_) => panic!("the lock was marked consistent, yet the next holder was told OwnerDied"),
    }
    assert!(h.lock.is_consistent());
    reap_killed(child);
}

#[test]
fn a_waiter_already_asleep_in_lock_learns_its_holder_was_killed() {
    let name = Name::new("waiter");
    let h = Arc::new(held_region(&name));
    let mut child = holder_that_hangs(&name, &h);

    let (stat_tx, stat_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let waiter = {
        let h = Arc::clone(&h);
        thread::spawn(move || {
            stat_tx.send(this_thread_stat()).unwrap();
            // `Ok(data)` if told OwnerDied (and repaired), `Err(data)` if handed a consistent lock.
            let outcome = match h.lock.lock() {
                Err(died) => {
                    let mut guard = died.into_inner();
                    let seen = *guard;
                    guard[1] = guard[0];
                    guard.mark_consistent();
                    Ok(seen)
                }
                Ok(guard) => Err(*guard),
            };
            let _ = result_tx.send(outcome);
        })
    };
    let stat = stat_rx.recv_timeout(CHILD_LIMIT).expect("the waiter started");
    // Between sending its stat path and `lock` the waiter does nothing that sleeps, so `S` means
    // it sleeps inside `lock`, on a holder that is alive.
    wait_until_asleep(&stat, "the waiter in lock()");
    assert!(result_rx.try_recv().is_err(), "lock() returned while a live process held the lock");

    child.kill();
    match result_rx.recv_timeout(DETECTION_LIMIT) {
        Ok(Ok(seen)) => assert_eq!(seen, [1, 0], "the dead holder's half update"),
        Ok(Err(data)) => panic!("the waiter got a consistent lock from a killed holder: {data:?}"),
        Err(e) => panic!("the waiter in lock() did not learn of the death in {DETECTION_LIMIT:?}: {e}"),
    }
    waiter.join().expect("the waiter thread");
    match h.lock.try_lock() {
        Some(Ok(guard)) => assert_eq!(*guard, [1, 1], "the waiter's repair"),
        Some(Err(_)) => panic!("the waiter marked it consistent, yet the next holder was told OwnerDied"),
        None => panic!("the waiter has let go"),
    }
    reap_killed(child);
}

#[test]
fn without_mark_consistent_the_next_holder_is_told_again() {
    let name = Name::new("unmarked");
    let h = held_region(&name);
    let mut child = holder_that_hangs(&name, &h);
    child.kill();
    let died = match h.lock.try_lock_for(DETECTION_LIMIT) {
        Some(Err(died)) => died,
        Some(Ok(_)) => panic!("the dead holder's lock was handed over as consistent"),
        None => panic!("the killed holder was not found dead in {DETECTION_LIMIT:?}"),
    };
    reap_killed(child);
    // Not repaired, not marked: the warning must pass on.
    drop(died.into_inner());
    assert!(!h.lock.is_locked() && !h.lock.is_consistent());

    // The next holder, in another process, is told too (and leaves it unmarked as well).
    spawn_child("expect_owner_died", name.as_str()).finish();

    // And so is the one after, here.
    let mut guard = match h.lock.try_lock() {
        Some(Err(died)) => died.into_inner(),
        Some(Ok(_)) => panic!("an unmarked lock was handed over as consistent"),
        None => panic!("the lock should be free"),
    };
    assert_eq!(*guard, [1, 0]);
    guard[1] = guard[0];
    guard.mark_consistent();
    drop(guard);
    assert!(matches!(h.lock.try_lock(), Some(Ok(_))), "marked consistent: the next holder is told Ok");
}

#[test]
fn a_live_holder_in_another_process_is_not_declared_dead() {
    let name = Name::new("alive");
    let h = held_region(&name);
    let mut child = spawn_child("hold_until_released", name.as_str());
    child.wait_for(&h.holding, "holding");

    // Long enough to probe the holder about twenty times; it runs, so none may take the lock.
    let waited = PROBE_INTERVAL * 20;
    if let Some(taken) = h.lock.try_lock_for(waited) {
        let consistent = taken.is_ok();
        panic!("took a lock a live process holds, after probing it (told consistent: {consistent})");
    }
    assert!(h.lock.is_locked() && h.lock.is_consistent());

    h.release.add_permits(1);
    match h.lock.try_lock_for(CHILD_LIMIT) {
        Some(Ok(guard)) => assert_eq!(*guard, [0, 0]),
        Some(Err(_)) => panic!("a holder that let go was declared dead"),
        None => panic!("the lock was not let go in {CHILD_LIMIT:?}"),
    }
    child.finish();
}

// ------------------------------------------------------------------------------------------------
// 7.–8. Regions that are not what the opener expects
// ------------------------------------------------------------------------------------------------

/// Asserts that `err` is a `RegionError::Type` for `name` whose `expected` and `found` start with
/// the layout texts given, and that its message says all three.
fn assert_type_error(err: &RegionError, name: &str, expected_text: &str, found_text: &str) {
    let RegionError::Type { name: reported, expected, found } = err else {
        panic!("expected RegionError::Type, got {err:?} ({err})");
    };
    assert_eq!(reported, name);
    assert!(expected.starts_with(&format!("{expected_text} (")), "expected: {expected}");
    assert!(found.starts_with(&format!("{found_text} (")), "found: {found}");
    let text = err.to_string();
    for part in [name, expected_text, found_text] {
        assert!(text.contains(part), "the message does not say {part:?}: {text}");
    }
}

fn child_open_as_u32(name: &str) {
    match Region::<u32>::open(name, CHILD_LIMIT) {
        Err(err) => assert_type_error(&err, name, "u32", "u64"),
        Ok(region) => panic!("a region of u64 opened as u32: {region:?}"),
    }
}

#[test]
fn opening_a_region_as_another_type_fails_with_a_type_error() {
    let name = Name::new("wrongtype");
    let made = Region::create(name.as_str(), 7u64).expect("create the region");
    spawn_child("open_as_u32", name.as_str()).finish();
    assert_eq!(*made, 7, "the refused opener did not touch the value");
}

/// Two programs built separately, each declaring the same struct: a module stands for each.
/// Their `type_name`s differ (`interprocess::producer::Mailbox`, `...::consumer::Mailbox`);
/// their layouts do not.
mod producer {
    use std::sync::atomic::AtomicU64;
    use turnstile::shm;

    turnstile::shm_struct! {
        pub struct Mailbox {
            pub full: shm::Semaphore,
            pub letter: shm::Mutex<[u8; 16]>,
            pub read: AtomicU64,
        }
    }
}

/// The other program's declaration of the same `Mailbox`.
mod consumer {
    use std::sync::atomic::AtomicU64;
    use turnstile::shm;

    turnstile::shm_struct! {
        pub struct Mailbox {
            pub full: shm::Semaphore,
            pub letter: shm::Mutex<[u8; 16]>,
            pub read: AtomicU64,
        }
    }
}

fn child_consume(name: &str) {
    let mailbox = open::<consumer::Mailbox>(name);
    mailbox.full.acquire_timeout(CHILD_LIMIT).expect("the producer's letter").forget();
    assert_eq!(&mailbox.letter.lock()[..5], b"hello");
    mailbox.read.store(1, Relaxed);
}

#[test]
fn the_same_struct_declared_in_two_programs_opens() {
    let name = Name::new("twoprograms");
    let mailbox = Region::create(
        name.as_str(),
        producer::Mailbox {
            full: shm::Semaphore::new(0),
            letter: shm::Mutex::new([0; 16]),
            read: AtomicU64::new(0),
        },
    )
    .expect("create the region");
    let child = spawn_child("consume", name.as_str());
    mailbox.letter.lock()[..5].copy_from_slice(b"hello");
    mailbox.full.add_permits(1);
    child.finish();
    // The semaphore ordered the child's work before its exit, and `finish` waited for the exit.
    assert_eq!(mailbox.read.load(Relaxed), 1, "the consumer read the letter");
}

/// Structs that all have the same name (`Data`, in modules standing for two builds or two
/// versions of one crate), size (6) and alignment (2), but are not the same: each must refuse
/// the others' regions. A check by name, size and alignment (which is what version 1's
/// `type_name` hash amounted to for two versions of one crate) passes all but `Datum`.
mod original {
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Data { pub flag: u8, pub low: u16, pub high: u16 }
    }
}
mod retyped {
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Data { pub flag: i8, pub low: u16, pub high: u16 }
    }
}
mod atomic {
    use std::sync::atomic::AtomicU8;
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Data { pub flag: AtomicU8, pub low: u16, pub high: u16 }
    }
}
mod reordered {
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Data { pub flag: u8, pub high: u16, pub low: u16 }
    }
}
mod renamed {
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Data { pub flag: u8, pub low: u16, pub top: u16 }
    }
}
mod named_otherwise {
    turnstile::shm_struct! {
        #[derive(Debug)]
        pub struct Datum { pub flag: u8, pub low: u16, pub high: u16 }
    }
}

const ORIGINAL: &str = "Data { flag: u8, low: u16, high: u16 }";

fn child_open_other_data(name: &str) {
    fn refused<T: ShmSafe + std::fmt::Debug>(name: &str, expected_text: &str) {
        assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<original::Data>());
        match Region::<T>::open(name, CHILD_LIMIT) {
            Err(err) => assert_type_error(&err, name, expected_text, ORIGINAL),
            Ok(region) => panic!("a region of {ORIGINAL} opened as {expected_text}: {region:?}"),
        }
    }
    refused::<retyped::Data>(name, "Data { flag: i8, low: u16, high: u16 }");
    refused::<atomic::Data>(name, "Data { flag: AtomicU8, low: u16, high: u16 }");
    refused::<reordered::Data>(name, "Data { flag: u8, high: u16, low: u16 }");
    refused::<renamed::Data>(name, "Data { flag: u8, low: u16, top: u16 }");
    refused::<named_otherwise::Datum>(name, "Datum { flag: u8, low: u16, high: u16 }");
    // The control: the same struct opens, and reads what the parent wrote.
    let data = open::<original::Data>(name);
    assert_eq!((data.flag, data.low, data.high), (2, 3, 4));
}

#[test]
fn a_struct_of_the_same_name_and_size_with_other_fields_is_refused() {
    let name = Name::new("otherfields");
    let made = Region::create(name.as_str(), original::Data { flag: 2, low: 3, high: 4 })
        .expect("create the region");
    spawn_child("open_other_data", name.as_str()).finish();
    assert_eq!((made.flag, made.low, made.high), (2, 3, 4));
}

/// `Header::ready` once the value is in place, as documented in `src/shm/region.rs`.
const READY: u32 = 0x5244_5921;

/// The documented 256-byte region header (layout version 2), written by hand (little-endian).
struct Header {
    magic: [u8; 8],
    ready: u32,
    version: u32,
    size: u64,
    align: u64,
    layout_hash: u64,
    data_offset: u64,
    description: String,
}

impl Header {
    /// The header `Region::<T>::create` writes, by the documentation.
    fn of<T: ShmSafe>() -> Self {
        let align = std::mem::align_of::<T>() as u64;
        Header {
            magic: *b"TRNSTILE",
            ready: READY,
            version: LAYOUT_VERSION,
            size: std::mem::size_of::<T>() as u64,
            align,
            layout_hash: T::LAYOUT.hash(),
            data_offset: (256 + align - 1) / align * align,
            description: T::LAYOUT.to_string(),
        }
    }

    /// The whole object: header, padding up to `data_offset`, then `value`.
    fn with_value(&self, value: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&self.magic);
        bytes.extend_from_slice(&self.ready.to_le_bytes());
        bytes.extend_from_slice(&self.version.to_le_bytes());
        for word in [self.size, self.align, self.layout_hash, self.data_offset] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes.extend_from_slice(&(self.description.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(self.description.as_bytes());
        assert!(bytes.len() <= 256);
        bytes.resize(256, 0);
        bytes.resize(self.data_offset as usize, 0);
        bytes.extend_from_slice(value);
        bytes
    }
}

/// Creates the shared-memory object `name` by hand, holding exactly `bytes`.
fn write_object(name: &Name, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(name.path())
        .unwrap_or_else(|e| panic!("create {}: {e}", name.path().display()));
    file.write_all(bytes).expect("write the object");
}

const VALUE: u64 = 0x0123_4567_89ab_cdef;

turnstile::shm_struct! {
    /// A value placed past the header's end: its offset is 512, not 256.
    #[repr(align(512))]
    struct Aligned512 {
        value: u64,
    }
}

/// The control for the tests below: a header written by the documentation opens, so when they
/// are refused it is for the one field they change.
#[test]
fn a_hand_written_header_in_the_documented_layout_opens() {
    let name = Name::new("handmade");
    write_object(&name, &Header::of::<u64>().with_value(&VALUE.to_le_bytes()));
    let region = Region::<u64>::open(name.as_str(), CHILD_LIMIT).expect("a header as documented");
    assert_eq!(*region, VALUE);

    let name = Name::new("handmade-aligned");
    let header = Header::of::<Aligned512>();
    assert_eq!(header.data_offset, 512);
    let mut value = [0; 512];
    value[..8].copy_from_slice(&VALUE.to_le_bytes());
    write_object(&name, &header.with_value(&value));
    let region = Region::<Aligned512>::open(name.as_str(), CHILD_LIMIT).expect("a header as documented");
    assert_eq!(region.value, VALUE);
}

#[test]
fn a_region_of_another_layout_version_is_refused() {
    let name = Name::new("version");
    let header = Header { version: LAYOUT_VERSION + 1, ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(err @ RegionError::Version { .. }) => {
            let RegionError::Version { name: reported, found, expected } = &err else { unreachable!() };
            assert_eq!(
                (reported.as_str(), *found, *expected),
                (name.as_str(), LAYOUT_VERSION + 1, LAYOUT_VERSION)
            );
            let text = err.to_string();
            for part in [name.as_str(), &found.to_string(), &expected.to_string()] {
                assert!(text.contains(part), "the message does not say {part:?}: {text}");
            }
        }
        other => panic!("expected RegionError::Version, got {other:?}"),
    }
}

/// Version 1's header, 48 bytes: a type check by the FNV-1a hash of `type_name`. A region made
/// by a build of version 1 is refused for its version, not misread as a version-2 header (it is
/// shorter than one: a `u64` region of version 1 has 56 bytes).
#[test]
fn a_region_of_layout_version_1_is_refused_for_its_version() {
    let fnv1a = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    };
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"TRNSTILE");
    bytes.extend_from_slice(&READY.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    for word in [8, 8, fnv1a(type_name::<u64>().as_bytes()), 48] {
        bytes.extend_from_slice(&u64::to_le_bytes(word));
    }
    bytes.extend_from_slice(&VALUE.to_le_bytes());
    let name = Name::new("version1");
    write_object(&name, &bytes);
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(RegionError::Version { found: 1, expected: LAYOUT_VERSION, .. }) => {}
        other => panic!("expected RegionError::Version {{ found: 1, .. }}, got {other:?}"),
    }
}

#[test]
fn a_header_for_another_type_is_refused() {
    let name = Name::new("othertype");
    // A coherent region of a `u32`, opened as a `u64`: the layouts tell them apart.
    write_object(&name, &Header::of::<u32>().with_value(&7u32.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(err) => assert_type_error(&err, name.as_str(), "u64", "u32"),
        Ok(region) => panic!("opened: {region:?}"),
    }
    // The bytes of a `u64` region whose header records the layout of an `i64`: the hash decides.
    let name = Name::new("othertype-hash");
    let header = Header { layout_hash: <i64 as ShmSafe>::LAYOUT.hash(), ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        // The text is only for the message; the hash is what is compared.
        Err(err) => assert_type_error(&err, name.as_str(), "u64", "u64"),
        Ok(region) => panic!("opened: {region:?}"),
    }
}

#[test]
fn a_header_of_this_type_that_places_the_value_elsewhere_is_refused() {
    let name = Name::new("shape");
    let header = Header { data_offset: 264, ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(err @ RegionError::Layout { .. }) => {
            let RegionError::Layout { found, expected, .. } = &err else { unreachable!() };
            assert_eq!((found.data_offset, expected.data_offset), (264, 256));
            assert_eq!((found.len, expected.len), (272, 264));
            let text = err.to_string();
            assert!(
                text.contains(name.as_str()) && text.contains("offset 264") && text.contains("offset 256"),
                "{text}"
            );
        }
        other => panic!("expected RegionError::Layout, got {other:?}"),
    }
    // The header is whole, but the object ends before the value does.
    let name = Name::new("shape-short");
    let mut bytes = Header::of::<u64>().with_value(&VALUE.to_le_bytes());
    bytes.truncate(260);
    write_object(&name, &bytes);
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(RegionError::Layout { found, expected, .. }) => assert_eq!((found.len, expected.len), (260, 264)),
        other => panic!("expected RegionError::Layout, got {other:?}"),
    }
}

#[test]
fn garbage_bytes_are_not_a_region() {
    // The ready word (bytes 8..12) is neither 0 nor READY.
    let name = Name::new("garbage");
    write_object(&name, &[0xab; 4096]);
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(RegionError::NotARegion { name: reported, found }) => {
            assert_eq!(reported, name.as_str());
            assert!(found.contains("0xabababab") && found.contains("0x52445921"), "{found}");
        }
        other => panic!("expected RegionError::NotARegion, got {other:?}"),
    }
    // A published ready word but no magic: not a region either.
    let name = Name::new("garbage-magic");
    let header = Header { magic: *b"NOTMAGIC", ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(err @ RegionError::NotARegion { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains("NOTMAGIC") && text.contains("TRNSTILE") && text.contains(name.as_str()),
                "{text}"
            );
        }
        other => panic!("expected RegionError::NotARegion, got {other:?}"),
    }
    // Too short to hold even the version.
    let name = Name::new("garbage-short");
    write_object(&name, b"TRNSTILE");
    match Region::<u64>::open(name.as_str(), CHILD_LIMIT) {
        Err(RegionError::NotARegion { found, .. }) => assert!(found.contains("8 bytes"), "{found}"),
        other => panic!("expected RegionError::NotARegion, got {other:?}"),
    }
}

#[test]
fn a_region_never_published_is_not_ready_at_the_deadline() {
    let name = Name::new("unpublished");
    // A creator that died before storing READY: everything in place but the ready word.
    let header = Header { ready: 0, ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    match Region::<u64>::open(name.as_str(), Duration::from_millis(20)) {
        Err(err @ RegionError::NotReady { .. }) => {
            let RegionError::NotReady { name: reported, found } = &err else { unreachable!() };
            assert_eq!(reported, name.as_str());
            assert!(found.contains("ready word is 0"), "{found}");
            assert_says_how_to_remove(&err, name.as_str());
        }
        other => panic!("expected RegionError::NotReady, got {other:?}"),
    }
}

/// Asserts that the message of `err` names the region and says how to remove it.
fn assert_says_how_to_remove(err: &RegionError, name: &str) {
    let text = err.to_string();
    let file = name.trim_start_matches('/');
    for part in [format!("{name:?}"), format!("unlink({name:?})"), format!("rm /dev/shm/{file}")] {
        assert!(text.contains(&part), "the message does not say {part:?}: {text}");
    }
}

#[test]
fn an_object_never_sized_is_not_ready_and_the_message_says_how_to_remove_it() {
    // A creator that died between `shm_open` and `ftruncate`: an object of 0 bytes.
    let name = Name::new("unsized");
    write_object(&name, &[]);
    match Region::<u64>::open(name.as_str(), Duration::from_millis(20)) {
        Err(err @ RegionError::NotReady { .. }) => assert_says_how_to_remove(&err, name.as_str()),
        other => panic!("expected RegionError::NotReady, got {other:?}"),
    }
}

#[test]
fn a_name_nobody_created_is_not_found_rather_than_not_ready() {
    let name = Name::new("nobody");
    let waited = Duration::from_millis(20);
    match Region::<u64>::open(name.as_str(), waited) {
        Err(err @ RegionError::NotFound { .. }) => {
            let RegionError::NotFound { name: reported, waited: reported_wait } = &err else {
                unreachable!()
            };
            assert_eq!((reported.as_str(), *reported_wait), (name.as_str(), waited));
            let text = err.to_string();
            assert!(text.contains(&format!("no shared memory region named {:?}", name.as_str())), "{text}");
            assert!(text.contains("has the process that creates it run"), "{text}");
            assert!(!text.contains("died"), "nothing suggests a creator existed: {text}");
        }
        other => panic!("expected RegionError::NotFound, got {other:?}"),
    }
}

#[test]
fn creating_a_taken_name_says_how_to_remove_the_old_region() {
    let name = Name::new("taken");
    let _first = Region::create(name.as_str(), 1u64).expect("create the region");
    match Region::create(name.as_str(), 2u64) {
        Err(err @ RegionError::Io { .. }) => {
            let RegionError::Io { error, .. } = &err else { unreachable!() };
            assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
            assert_says_how_to_remove(&err, name.as_str());
        }
        other => panic!("expected RegionError::Io (AlreadyExists), got {other:?}"),
    }
}

#[test]
fn a_stale_region_of_another_version_type_or_shape_says_how_to_remove_it() {
    let name = Name::new("stale-version");
    let header = Header { version: LAYOUT_VERSION + 1, ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    let err = Region::<u64>::open(name.as_str(), CHILD_LIMIT).expect_err("another version");
    assert_says_how_to_remove(&err, name.as_str());

    let name = Name::new("stale-type");
    write_object(&name, &Header::of::<u32>().with_value(&7u32.to_le_bytes()));
    let err = Region::<u64>::open(name.as_str(), CHILD_LIMIT).expect_err("another type");
    assert_says_how_to_remove(&err, name.as_str());

    let name = Name::new("stale-shape");
    let header = Header { data_offset: 264, ..Header::of::<u64>() };
    write_object(&name, &header.with_value(&VALUE.to_le_bytes()));
    let err = Region::<u64>::open(name.as_str(), CHILD_LIMIT).expect_err("another shape");
    assert_says_how_to_remove(&err, name.as_str());
}

#[test]
fn a_leading_slash_names_the_same_region() {
    let name = Name::new("slash");
    let slashed = format!("/{}", name.as_str());
    let made = Region::create(&slashed, 5u64).expect("create \"/name\"");
    assert!(name.path().exists(), "\"/name\" is the file /dev/shm/name");
    let opened = Region::<u64>::open(name.as_str(), CHILD_LIMIT).expect("open \"name\"");
    assert_eq!(*opened, 5);
    let again = Region::<u64>::open(&slashed, CHILD_LIMIT).expect("open \"/name\"");
    assert_eq!(*again, 5);
    drop((made, opened, again));
    Region::<u64>::unlink(&slashed).expect("unlink \"/name\"");
    assert!(!name.path().exists());
}

#[test]
fn unlinking_a_missing_region_names_it() {
    let name = Name::new("missing");
    match Region::<u64>::unlink(name.as_str()) {
        Err(err @ RegionError::Io { .. }) => {
            let RegionError::Io { name: reported, error } = &err else { unreachable!() };
            assert_eq!((reported.as_str(), error.kind()), (name.as_str(), std::io::ErrorKind::NotFound));
            assert!(err.to_string().contains(name.as_str()), "{err}");
        }
        other => panic!("expected RegionError::Io (NotFound), got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------------
// 9. An opener that comes first waits for the creator
// ------------------------------------------------------------------------------------------------

turnstile::shm_struct! {
    /// Created by the parent after the child has started to open it.
    struct Late {
        value: u64,
        /// The child adds 1 once it has opened the region and seen `value`.
        opened: AtomicU64,
    }
}

turnstile::shm_struct! {
    /// Lets the parent know when the child is about to open `Late`, and which thread does it.
    struct Hello {
        opening: shm::Semaphore,
        tid: AtomicU64,
    }
}

fn hello_name(name: &str) -> String {
    format!("{name}-hello")
}

fn child_open_early(name: &str) {
    let hello = open::<Hello>(&hello_name(name));
    assert!(!Path::new("/dev/shm").join(name).exists(), "the parent created the region too early");
    hello.tid.store(this_thread_id(), Relaxed);
    hello.opening.add_permits(1);
    // From here nothing sleeps before `open`, which finds no region and polls for it.
    let late = open::<Late>(name);
    assert_eq!(late.value, VALUE, "the value the parent created");
    late.opened.fetch_add(1, Relaxed);
}

#[test]
fn an_opener_that_comes_first_waits_for_the_creator() {
    let name = Name::new("early");
    let hello_name = Name::new(&hello_name("early"));
    let hello = Region::create(
        hello_name.as_str(),
        Hello { opening: shm::Semaphore::new(0), tid: AtomicU64::new(0) },
    )
    .expect("create the hello region");
    let mut child = spawn_child("open_early", name.as_str());
    child.wait_for(&hello.opening, "opening");
    // The semaphore's release/acquire made the tid visible.
    let tid = hello.tid.load(Relaxed);
    let stat =
        Path::new("/proc").join(child.pid().to_string()).join("task").join(tid.to_string()).join("stat");
    // Asleep after saying "opening" means asleep in `open`, polling for a name that is not there.
    wait_until_asleep(&stat, "the child in Region::open");
    assert!(!name.path().exists());

    let late =
        Region::create(name.as_str(), Late { value: VALUE, opened: AtomicU64::new(0) }).expect("create");
    child.finish();
    assert_eq!(late.opened.load(Relaxed), 1, "the child opened the region and saw the value");
}

// ------------------------------------------------------------------------------------------------
// 10. The robust mutex never takes a live holder's lock, probes on short waits, and survives
//     killed waiters (issue 16)
// ------------------------------------------------------------------------------------------------

/// The roles of this section's children, all named `robust-…`.
fn robust_child(role: &str, name: &str) {
    match role {
        "robust-wait-from-another-namespace" => child_wait_from_another_namespace(name),
        "robust-hold-on-a-thread-then-end-main" => child_hold_on_a_thread_then_end_main(name),
        "robust-add-one" => child_add_one(name),
        other => panic!("unknown child role {other:?}"),
    }
}

/// How long a waiter keeps probing a live holder in the tests below: many probe intervals.
const PROBING: Duration = Duration::from_millis(PROBE_INTERVAL.as_millis() as u64 * 30);

/// Starts this test binary in a new pid namespace with its own `/proc` (`unshare --pid --fork
/// --mount-proc`, as root), playing `role`; `Err` with the reason if the namespace cannot be made.
fn spawn_child_in_new_pid_namespace(role: &'static str, region: &str) -> Result<Running, String> {
    // Can this machine make one at all? (Not as an unprivileged user, nor in some containers.)
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "true"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "unshare --pid --fork --mount-proc failed: {}",
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    let exe = env::current_exe().expect("the path of this test binary");
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env(REGION_VAR, region)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start unshare: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    Ok(Running { role, child, readers: Some([drain(stdout), drain(stderr)]) })
}

#[test]
fn a_holder_in_another_pid_namespace_is_not_declared_dead() {
    let name = Name::new("ns-holder");
    let h = held_region(&name);
    let mut child = match spawn_child_in_new_pid_namespace("hold_until_released", name.as_str()) {
        Ok(child) => child,
        Err(reason) => {
            eprintln!("SKIPPED: no pid namespace for the holder: {reason}");
            return;
        }
    };
    child.wait_for(&h.holding, "holding");
    // The holder is pid 1 of its namespace; this process's /proc/1 is another process.
    if let Some(taken) = h.lock.try_lock_for(PROBING) {
        let consistent = taken.is_ok();
        panic!("took the lock of a live holder in another pid namespace (told consistent: {consistent})");
    }
    assert!(h.lock.is_locked() && h.lock.is_consistent());
    h.release.add_permits(1);
    match h.lock.try_lock_for(CHILD_LIMIT) {
        Some(Ok(guard)) => assert_eq!(*guard, [0, 0]),
        Some(Err(_)) => panic!("a holder in another namespace that let go was declared dead"),
        None => panic!("the lock was not let go in {CHILD_LIMIT:?}"),
    }
    child.finish();
}

/// In a new pid namespace: waits many probe intervals for a lock the parent holds, and must not
/// take it; says so (`holding`), then waits for the parent's `release` and takes it.
fn child_wait_from_another_namespace(name: &str) {
    let h = open::<Held>(name);
    if let Some(taken) = h.lock.try_lock_for(PROBING) {
        let consistent = taken.is_ok();
        panic!("took the lock of a live holder in another pid namespace (told consistent: {consistent})");
    }
    h.holding.add_permits(1);
    h.release.acquire_timeout(CHILD_LIMIT).expect("the parent said released").forget();
    match h.lock.try_lock_for(CHILD_LIMIT) {
        Some(Ok(guard)) => assert_eq!(*guard, [0, 0]),
        Some(Err(_)) => panic!("a holder in another namespace that let go was declared dead"),
        None => panic!("the lock was not let go in {CHILD_LIMIT:?}"),
    };
}

#[test]
fn a_waiter_in_another_pid_namespace_does_not_declare_the_holder_dead() {
    let name = Name::new("ns-waiter");
    let h = held_region(&name);
    let guard = h.lock.lock().expect("a fresh lock is consistent");
    let mut child =
        match spawn_child_in_new_pid_namespace("robust-wait-from-another-namespace", name.as_str()) {
            Ok(child) => child,
            Err(reason) => {
                eprintln!("SKIPPED: no pid namespace for the waiter: {reason}");
                return;
            }
        };
    child.wait_for(&h.holding, "gave up waiting");
    assert!(h.lock.is_locked() && h.lock.is_consistent(), "the waiter took the lock from this live process");
    drop(guard);
    h.release.add_permits(1);
    child.finish();
}

/// Takes the lock, ends the process's main thread with `SYS_exit` (the leader becomes a zombie,
/// the process lives on in this thread: libtest runs the test on a thread of its own), says
/// `holding`, and lets go when the parent says `release`; the process ends with this thread.
fn child_hold_on_a_thread_then_end_main(name: &str) {
    extern "C" fn end_this_thread(_: libc::c_int) {
        // SAFETY: a raw system call, async-signal-safe; it ends only the thread it runs on.
        unsafe { libc::syscall(libc::SYS_exit, 0) };
    }
    let h = open::<Held>(name);
    let mut guard = h.lock.lock().expect("a fresh lock is consistent");
    guard[0] = 1;
    // SAFETY: installs a handler that only makes a system call; `tgkill` sends its signal to the
    // main thread alone (its thread id is the process id).
    unsafe {
        libc::signal(libc::SIGUSR1, end_this_thread as extern "C" fn(libc::c_int) as libc::sighandler_t);
        let pid = libc::getpid();
        assert_eq!(libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGUSR1), 0, "tgkill the main thread");
    }
    h.holding.add_permits(1);
    h.release.acquire_timeout(CHILD_LIMIT).expect("the parent said release").forget();
    guard[1] = 1;
    drop(guard);
    // End the whole process here: with its main thread gone, libtest cannot, and a runtime's
    // own thread (a sanitizer's) would keep it alive after this one.
    // SAFETY: `_exit` ends every thread at once; nothing of this process runs after it.
    unsafe { libc::_exit(0) };
}

#[test]
fn a_holder_whose_main_thread_exited_is_not_declared_dead() {
    let name = Name::new("zombie-leader");
    let h = held_region(&name);
    let mut child = spawn_child("robust-hold-on-a-thread-then-end-main", name.as_str());
    child.wait_for(&h.holding, "holding");
    let stat = Path::new("/proc").join(child.pid().to_string()).join("stat");
    let deadline = Instant::now() + CHILD_LIMIT;
    while task_state(&stat) != Some('Z') {
        assert!(Instant::now() < deadline, "the child's main thread did not become a zombie");
        thread::yield_now();
    }
    if let Some(taken) = h.lock.try_lock_for(PROBING) {
        let consistent = taken.is_ok();
        panic!("took the lock of a live thread whose leader is a zombie (told consistent: {consistent})");
    }
    assert!(h.lock.is_locked() && h.lock.is_consistent());
    h.release.add_permits(1);
    match h.lock.try_lock_for(CHILD_LIMIT) {
        Some(Ok(guard)) => assert_eq!(*guard, [1, 1], "the holder thread finished its critical section"),
        Some(Err(_)) => panic!("a holder thread that let go was declared dead"),
        None => panic!("the lock was not let go in {CHILD_LIMIT:?}"),
    }
    child.finish();
}

#[test]
fn one_short_timed_wait_probes_a_dead_holder() {
    let name = Name::new("short-wait");
    let h = held_region(&name);
    let mut child = holder_that_hangs(&name, &h);
    child.kill();
    // Seen dead before the one short wait: gone, or a zombie whose every thread has ended. (A
    // SIGKILL ends the threads one by one; until the last has, the process is still dying, and
    // the lock rightly counts it alive. A sanitizer's runtime thread makes that window wider.)
    let pid = child.pid().to_string();
    let stat = Path::new("/proc").join(&pid).join("stat");
    let status = Path::new("/proc").join(&pid).join("status");
    let threads = || {
        let text = std::fs::read_to_string(&status).ok()?;
        text.lines().find_map(|line| line.strip_prefix("Threads:")).and_then(|n| n.trim().parse::<u32>().ok())
    };
    let deadline = Instant::now() + CHILD_LIMIT;
    while task_state(&stat).is_some_and(|state| state != 'Z') || threads().is_some_and(|n| n > 1) {
        assert!(Instant::now() < deadline, "the killed holder did not die");
        thread::yield_now();
    }
    match h.lock.try_lock_for(Duration::from_millis(1)) {
        Some(Err(died)) => assert_eq!(**died.get_ref(), [1, 0], "the dead holder's half update"),
        Some(Ok(_)) => panic!("the dead holder's lock was handed over as consistent"),
        None => panic!("a 1 ms wait on a dead holder's lock gave up without probing it"),
    }
    reap_killed(child);
}

#[test]
fn a_robust_guard_let_go_for_a_while_reports_a_death_in_between() {
    let name = Name::new("unlocked");
    let h = held_region(&name);
    let mut guard = h.lock.lock().expect("a fresh lock is consistent");
    let mut child = None;
    // While the guard is let go, a child takes the lock and is killed holding it.
    let outcome = turnstile::shm::RobustMutexGuard::unlocked(&mut guard, || {
        child = Some(holder_that_hangs(&name, &h));
        child.as_mut().expect("just set").kill();
    });
    match outcome {
        Err(died) => died.into_inner(),
        Ok(()) => panic!("relocked after the holder died in between, and was not told"),
    }
    assert_eq!(*guard, [1, 0], "the dead holder's half update");
    assert!(!guard.is_consistent());
    guard[1] = 1;
    guard.mark_consistent();
    drop(guard);
    reap_killed(child.expect("the closure ran"));
}

/// How many rounds of killing waiters.
const KILL_ROUNDS: u64 = 20;
/// Waiters started per round.
const WAITERS: usize = 3;

turnstile::shm_struct! {
    struct Tally {
        lock: RobustMutex<u64>,
        /// Each waiter adds a permit just before it calls `lock`.
        waiting: shm::Semaphore,
    }
}

/// Says it is about to wait, takes the lock (bounded) and adds one.
fn child_add_one(name: &str) {
    let t = open::<Tally>(name);
    t.waiting.add_permits(1);
    match t.lock.try_lock_for(CHILD_LIMIT) {
        Some(Ok(mut count)) => bump(&mut count),
        Some(Err(_)) => panic!("no holder died, yet a waiter was told OwnerDied"),
        None => panic!("a waiter did not get the lock in {CHILD_LIMIT:?}"),
    };
}

/// A small pseudo-random number (xorshift), for where to kill; no clock decides a result.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn waiters_killed_at_random_points_leave_the_lock_working() {
    let name = Name::new("killed-waiters");
    let t =
        Region::create(name.as_str(), Tally { lock: RobustMutex::new(0), waiting: shm::Semaphore::new(0) })
            .expect("create the region");
    let mut random = 0x9e37_79b9_7f4a_7c15 ^ u64::from(process::id());
    let mut survivors_total = 0;
    for round in 0..KILL_ROUNDS {
        let guard = t.lock.lock().expect("no holder ever dies here");
        let mut children: Vec<Running> =
            (0..WAITERS).map(|_| spawn_child("robust-add-one", name.as_str())).collect();
        for child in &mut children {
            child.wait_for(&t.waiting, "about to wait");
        }
        // Kill one or two of them at a random point of their wait: spinning, counting itself,
        // asleep, or probing this (live) process. The delay only scatters the point.
        let kills = 1 + (next_random(&mut random) % 2) as usize;
        thread::sleep(Duration::from_micros(next_random(&mut random) % 3000));
        for child in children.iter_mut().take(kills) {
            child.kill();
        }
        drop(guard);
        for mut child in children.drain(..kills) {
            let status = child.wait();
            assert_eq!(status.signal(), Some(SIGKILL), "round {round}: a waiter did not die of SIGKILL");
        }
        for child in children {
            child.finish();
            survivors_total += 1;
        }
        let count = match t.lock.try_lock_for(CHILD_LIMIT) {
            Some(Ok(count)) => *count,
            Some(Err(_)) => panic!("round {round}: no holder died, yet OwnerDied"),
            None => panic!("round {round}: the lock is wedged"),
        };
        assert_eq!(count, survivors_total, "round {round}: each survivor adds one, the killed none");
    }
}

// ------------------------------------------------------------------------------------------------
// 11. Waiters killed at random points never wedge a shm::Mutex
// ------------------------------------------------------------------------------------------------

/// Rounds of killing; each starts with the parent taking the lock, which hangs (and fails at
/// [`CHILD_LIMIT`]) if an earlier round's dead waiters wedged it.
const SHARED_KILL_ROUNDS: u64 = 20;
/// Waiters started, and killed, per round.
const DOOMED: usize = 3;
/// Acquisitions per surviving process once the killing is over.
fn after_kills() -> u64 {
    iters(2_000) as u64
}

/// Slots for every child the test starts: the doomed, the survivors, the counters.
const SLOTS: usize = (DOOMED + 1) * SHARED_KILL_ROUNDS as usize + 4;

turnstile::shm_struct! {
struct Doomed {
    /// Counts every acquisition of anyone but the parent.
    lock: shm::Mutex<u64>,
    /// A child adds a permit once it has published its thread and is about to wait for `lock`.
    waiting: shm::Semaphore,
    /// The next free slot of `pids`/`tids`.
    next: AtomicU64,
    /// Each child's pid and the thread id that waits, by slot.
    pids: [AtomicU64; SLOTS],
    tids: [AtomicU64; SLOTS],
    /// Acquisitions the doomed children made (in the parent's brief releases), under the lock.
    doomed_took: AtomicU64,
}
}

/// The lock word of a shared mutex: a `u32` at offset 0, as the shm layout table documents.
fn mutex_word(lock: &shm::Mutex<u64>) -> u32 {
    // SAFETY: `shm::Mutex` is `#[repr(C)]` with its `u32` lock word at offset 0, an atomic that
    // other threads change concurrently, so it is read as one.
    unsafe { (*(lock as *const shm::Mutex<u64>).cast::<std::sync::atomic::AtomicU32>()).load(Relaxed) }
}

/// The starved field of a mutex word (bits 3..9, see `turnstile::mutex`).
fn starved_field(word: u32) -> u32 {
    (word >> 3) & 63
}

/// A small xorshift generator: random kill points without a dependency. Seeded from the clock
/// and printed, so a failing run can be told apart.
struct Xorshift(u64);

impl Xorshift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let seed = (nanos as u64 ^ u64::from(process::id())) | 1;
        eprintln!("kill-point seed {seed:#x}");
        Xorshift(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Publishes this process's pid and waiting thread, says "waiting", and returns the region.
fn announce_doomed(name: &str) -> Region<Doomed> {
    let d = open::<Doomed>(name);
    let slot = d.next.fetch_add(1, Relaxed) as usize;
    d.tids[slot].store(this_thread_id(), Relaxed);
    d.pids[slot].store(u64::from(process::id()), Relaxed);
    d.waiting.add_permits(1);
    d
}

/// One acquisition by a doomed child: counted twice, in the data and in `doomed_took`, under the
/// lock (the parent kills only while it holds the lock itself, so never a child inside). Let go
/// fairly every other time.
fn doomed_took(
    d: &Doomed,
    mut guard: turnstile::MutexGuard<'_, u64, turnstile::backend::ProcessShared>,
    fair: bool,
) {
    bump(&mut guard);
    d.doomed_took.fetch_add(1, Relaxed);
    if fair {
        turnstile::MutexGuard::unlock_fair(guard);
    }
}

/// Waits for the lock with `lock()`, forever, until killed.
fn child_doomed_lock(name: &str) {
    let d = announce_doomed(name);
    for i in 0.. {
        doomed_took(&d, d.lock.lock(), i % 2 == 1);
    }
}

/// Waits for the lock with short `try_lock_for`s, forever, until killed.
fn child_doomed_timed(name: &str) {
    let d = announce_doomed(name);
    let mut rng = Xorshift(u64::from(process::id()) | 1);
    for i in 0.. {
        if let Some(guard) = d.lock.try_lock_for(Duration::from_micros(200 + rng.below(5_000))) {
            doomed_took(&d, guard, i % 2 == 1);
        }
    }
}

/// Takes the lock once (bounded), counts it, and exits: a waiter that is not killed.
fn child_survivor(name: &str) {
    let d = announce_doomed(name);
    // Untimed: if the dead strand it, its parent's bounded wait for its exit fails the test.
    doomed_took(&d, d.lock.lock(), false);
}

/// `after_kills()` acquisitions by lock, timed lock and fair unlock in turn.
fn count_after_kills(d: &Doomed) {
    for i in 0..after_kills() {
        let mut guard = match i % 3 {
            0 => d.lock.lock(),
            _ => d.lock.try_lock_for(CHILD_LIMIT).expect("the lock is wedged"),
        };
        bump(&mut guard);
        if i % 5 == 0 {
            turnstile::MutexGuard::unlock_fair(guard);
        }
    }
}

fn child_count_after_kills(name: &str) {
    count_after_kills(&open::<Doomed>(name));
}

/// The stat file of the waiting thread of `child`, once it has said "waiting".
fn doomed_stat(d: &Doomed, child: &Running) -> PathBuf {
    let slots = d.next.load(Relaxed) as usize;
    let slot = (0..slots)
        .find(|&s| d.pids[s].load(Relaxed) == u64::from(child.pid()))
        .expect("the child published its pid before saying waiting");
    let tid = d.tids[slot].load(Relaxed);
    Path::new("/proc").join(child.pid().to_string()).join("task").join(tid.to_string()).join("stat")
}

#[test]
fn waiters_killed_at_random_points_never_wedge_a_shared_mutex() {
    let name = Name::new("doomed");
    let d = Arc::new(
        Region::create(
            name.as_str(),
            Doomed {
                lock: shm::Mutex::new(0),
                waiting: shm::Semaphore::new(0),
                next: AtomicU64::new(0),
                pids: [(); SLOTS].map(|()| AtomicU64::new(0)),
                tids: [(); SLOTS].map(|()| AtomicU64::new(0)),
                doomed_took: AtomicU64::new(0),
            },
        )
        .expect("create the region"),
    );
    let mut rng = Xorshift::seeded();
    let mut starved_rounds = 0;
    let mut survivors = 0;
    for round in 0..SHARED_KILL_ROUNDS {
        // Where an earlier round's dead wedged the lock, this is where it shows: an untimed
        // `lock()` that never returns (bounded, it fails the test).
        {
            let d = Arc::clone(&d);
            bounded(&format!("round {round}: lock()"), move || drop(d.lock.lock()));
        }
        let mut guard = d.lock.try_lock().unwrap_or_else(|| {
            panic!("round {round}: nobody else runs, yet the lock is not free ({:#x})", mutex_word(&d.lock))
        });
        let mut doomed: Vec<Running> = (0..DOOMED)
            .map(|i| spawn_child(if i == 1 { "doomed_timed" } else { "doomed_lock" }, name.as_str()))
            .collect();
        for child in &mut doomed {
            child.wait_for(&d.waiting, "waiting");
        }
        if round % 2 == 0 {
            // Starve the first: once it sleeps, let the fairness bound pass (this sleep orders
            // nothing; it only makes the sleeper's wait long enough), then let go and barge
            // back in until it has woken overtaken and marked itself starved.
            wait_until_asleep(&doomed_stat(&d, &doomed[0]), "the waiter to starve");
            for _ in 0..200 {
                thread::sleep(turnstile::mutex::FAIRNESS_BOUND * 2);
                // Looked at after the pause, so a waiter woken by the last release has had time
                // to mark itself (the next release's hand-off clears the mark).
                if starved_field(mutex_word(&d.lock)) > 0 {
                    starved_rounds += 1;
                    break;
                }
                drop(guard);
                guard = d.lock.try_lock_for(CHILD_LIMIT).expect("the parent barges back in");
            }
        }
        // Kill each at a random point: at once (likely spinning or on its way to sleep), after a
        // random delay, or once its thread sleeps counted in the futex.
        for child in &mut doomed {
            match rng.below(3) {
                0 => {}
                1 => thread::sleep(Duration::from_micros(rng.below(2_000))),
                _ => wait_until_asleep(&doomed_stat(&d, child), "a waiter to kill asleep"),
            }
            child.kill();
        }
        for child in doomed {
            reap_killed(child);
        }
        // In odd rounds a live waiter is asleep too when the parent lets go.
        let survivor = (round % 2 == 1).then(|| {
            let mut child = spawn_child("survivor", name.as_str());
            child.wait_for(&d.waiting, "waiting");
            wait_until_asleep(&doomed_stat(&d, &child), "the survivor");
            survivors += 1;
            child
        });
        eprintln!("round {round}: word {:#x} as the parent lets go", mutex_word(&d.lock));
        if round % 4 < 2 {
            turnstile::MutexGuard::unlock_fair(guard);
        } else {
            drop(guard);
        }
        if let Some(child) = survivor {
            child.finish();
        }
    }
    assert!(starved_rounds > 0, "no round got a waiter counted starved before it was killed");

    // The killing is over: three processes count, and every acquisition is there.
    let before = {
        let d = Arc::clone(&d);
        bounded("lock() after the rounds", move || *d.lock.lock())
    };
    assert_eq!(before, d.doomed_took.load(Relaxed), "every acquisition of the rounds was counted");
    let counters =
        [spawn_child("count_after_kills", name.as_str()), spawn_child("count_after_kills", name.as_str())];
    {
        let d = Arc::clone(&d);
        bounded("this process's share of the counting", move || count_after_kills(&d));
    }
    for child in counters {
        child.finish();
    }
    let total = *d.lock.try_lock().expect("every process has let go");
    assert_eq!(total, before + 3 * after_kills(), "acquisitions lost or doubled");
    eprintln!(
        "{SHARED_KILL_ROUNDS} rounds, {starved_rounds} with a starved waiter killed, {survivors} survivors; \
         word at the end {:#x}",
        mutex_word(&d.lock)
    );
}
