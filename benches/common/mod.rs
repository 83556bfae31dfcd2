//! Helpers the benchmark files share (`mod common;` in each).

use std::hint::spin_loop;

/// How many of `total` operations thread `i` of `threads` does (the shares add up to `total`).
#[allow(dead_code)] // `benches/semaphore.rs` shares this module but splits its work otherwise
pub fn share(total: u64, threads: usize, i: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((i as u64) < total % threads)
}

/// `n` spin-loop hints: stand-in work that touches no memory.
#[inline]
pub fn pause(n: u32) {
    for _ in 0..n {
        spin_loop();
    }
}

/// What `benches/mutex.rs` and `benches/mutex_fairness.rs` share: the lock abstraction and the
/// work each operation does, defined once so that the two files measure the same workloads.
#[allow(dead_code)] // the other benchmark files share this module but not these items
pub mod locks {
    use std::hint::black_box;

    use super::pause;

    /// Thread counts of the contended families: 1x to 8x the cores of the 2-core machine these
    /// benchmarks were written on, so that the larger counts measure waiters that get preempted
    /// and a holder that gets descheduled, not only waiters spinning on their own core.
    pub const THREADS: [usize; 4] = [2, 4, 8, 16];

    /// `spin_loop` hints each contended thread runs *outside* the lock after every unlock in the
    /// `contended` and `contended_long_cs` workloads: a tiny amount of non-critical work, so that
    /// the lock can change hands instead of one thread re-taking it back to back. The same for
    /// every peer. It is part of the measured per-op time, and a hint is not cheap everywhere: on
    /// the 2-core AMD EPYC this was written on, one took about 24 ns.
    pub const OUTSIDE_SPINS: u32 = 1;

    /// Pauses inside each critical section in the `contended_long_cs` workload (about half a
    /// microsecond on that EPYC): long enough that waiters stop spinning and sleep.
    pub const LONG_CS_SPINS: u32 = 20;

    /// Rounds of xorshift64 in [`arithmetic`], the `short_outside` workload's work outside the
    /// lock. Calibrated to about 10 ns: one round is a chain of six dependent ALU operations, and
    /// on the 2-core AMD EPYC (KVM guest) these benchmarks were written on, 6 rounds measured
    /// 9.85 ns per call (best of 5 runs of 20 million calls, the state carried from call to call
    /// as here). `mutex_fairness` prints the figure on the machine it runs on.
    pub const ARITHMETIC_ROUNDS: u32 = 6;

    /// About 10 ns of plain arithmetic on a thread's own word (see [`ARITHMETIC_ROUNDS`]).
    ///
    /// Why not `spin_loop` hints: one costs ~24 ns on that EPYC, so even a single hint is more
    /// than twice this, and the point of `short_outside` is a thread that comes back for the lock
    /// almost at once. `black_box` on the input keeps the compiler from precomputing the chain or
    /// moving it across the lock operations; the result feeds the next call, so none of it is dead.
    #[inline]
    pub fn arithmetic(state: &mut u64) {
        let mut x = black_box(*state);
        for _ in 0..ARITHMETIC_ROUNDS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        *state = x;
    }

    /// What each thread does after every unlock.
    #[derive(Clone, Copy, Debug)]
    pub enum Outside {
        /// This many `spin_loop` hints.
        Pauses(u32),
        /// [`arithmetic`]: about 10 ns.
        Arithmetic,
    }

    /// One contended operation besides taking and releasing the lock: `inside` pauses then an
    /// increment of the protected `u64` while holding it, then `outside` work after releasing it.
    #[derive(Clone, Copy, Debug)]
    pub struct Work {
        pub inside: u32,
        pub outside: Outside,
    }

    /// One increment inside, one pause outside: mostly the cost of handing the lock over.
    pub const CONTENDED: Work = Work { inside: 0, outside: Outside::Pauses(OUTSIDE_SPINS) };
    /// `LONG_CS_SPINS` pauses inside: waiters outlast their spinning and sleep.
    pub const LONG_CS: Work = Work { inside: LONG_CS_SPINS, outside: Outside::Pauses(OUTSIDE_SPINS) };
    /// One increment inside, ~10 ns of arithmetic outside: the releasing thread is back for the
    /// lock almost at once, so whether a release hands the lock to a waiter or lets the releaser
    /// barge back in decides the throughput.
    pub const SHORT_OUTSIDE: Work = Work { inside: 0, outside: Outside::Arithmetic };

    impl Work {
        /// The critical section's work, run while holding the lock.
        #[inline]
        pub fn critical(self, value: &mut u64) {
            pause(self.inside);
            *value += 1;
        }

        /// The work after each unlock. `state` is the calling thread's own word.
        // The match is on a value fixed for the whole loop: a perfectly predicted branch.
        #[inline]
        pub fn outside(self, state: &mut u64) {
            match self.outside {
                Outside::Pauses(n) => pause(n),
                Outside::Arithmetic => arithmetic(state),
            }
        }
    }

    /// A lock around a `u64`, as the benchmarks use it.
    pub trait Counter {
        /// One critical section: lock, run `f` on the value, unlock.
        fn with(&self, f: impl FnOnce(&mut u64));

        /// Lock, add 1, unlock.
        #[inline]
        fn increment(&self) {
            self.with(|v| *v += 1);
        }

        /// The count so far (takes the lock; not timed).
        fn count(&self) -> u64 {
            let mut count = 0;
            self.with(|v| count = *v);
            count
        }
    }

    /// turnstile's exclusive locks, through `turnstile::Lock`, the trait that names what they share.
    macro_rules! turnstile_counters {
        ($($lock:ty),*) => {$(
            impl Counter for $lock {
                #[inline]
                fn with(&self, f: impl FnOnce(&mut u64)) {
                    f(&mut turnstile::Lock::lock(self));
                }
            }
        )*};
    }

    turnstile_counters!(turnstile::SpinLock<u64>, turnstile::Mutex<u64>, turnstile::FairMutex<u64>);

    impl Counter for parking_lot::FairMutex<u64> {
        #[inline]
        fn with(&self, f: impl FnOnce(&mut u64)) {
            f(&mut self.lock());
        }
    }

    /// A reentrant mutex's guard gives `&T`: the count is a `Cell`, as its users keep data.
    macro_rules! reentrant_counters {
        ($($lock:ty),*) => {$(
            impl Counter for $lock {
                #[inline]
                fn with(&self, f: impl FnOnce(&mut u64)) {
                    let guard = self.lock();
                    let mut value = guard.get();
                    f(&mut value);
                    guard.set(value);
                }
            }
        )*};
    }

    reentrant_counters!(
        turnstile::ReentrantMutex<std::cell::Cell<u64>>,
        parking_lot::ReentrantMutex<std::cell::Cell<u64>>
    );

    impl Counter for std::sync::Mutex<u64> {
        #[inline]
        fn with(&self, f: impl FnOnce(&mut u64)) {
            f(&mut self.lock().unwrap());
        }
    }

    impl Counter for parking_lot::Mutex<u64> {
        #[inline]
        fn with(&self, f: impl FnOnce(&mut u64)) {
            f(&mut self.lock());
        }
    }
}

/// Futex system calls and context switches, counted by each thread of a benchmark around its own
/// measured loop, for every lock alike (turnstile's and the peers'): what a hand-off costs the
/// kernel, beside what it costs in time.
///
/// * **Futex calls**: a perf counter on the tracepoint `syscalls:sys_enter_futex`, opened by each
///   thread for itself (`pid = 0, cpu = -1`, not inherited), before the starting barrier; read
///   once after the barrier and once after the loop. So the barrier, spawning and joining are
///   not counted, only the calls the lock (or condvar) made in the measured loop. Needs a kernel
///   with tracepoints, tracefs mounted (`/sys/kernel/tracing`, or under `/sys/kernel/debug`) and
///   the right to open the counter (root, or `perf_event_paranoid` low enough); without them the
///   figures are `None` and print as `n/a`, and the benchmark still runs.
/// * **Context switches**: `getrusage(RUSAGE_THREAD)` read at the same two points, voluntary
///   (the thread blocked: slept on a futex, or yielded) and involuntary (preempted) apart.
///
/// What counting costs: while a syscall tracepoint is enabled, every system call of every task
/// takes the kernel's slower traced entry (its cost is not measured here), so a lock making many
/// futex calls pays a little more than it would uncounted; every lock pays alike per call.
/// `BENCH_FUTEX_COUNT=0` in the environment turns the futex counter off (`n/a`), for ns/op
/// without it; context switches are counted either way.
#[allow(dead_code)] // each benchmark file uses the parts it needs
pub mod counts {
    use std::ops::Add;

    /// What one or more threads' windows cost the kernel. `None`: could not be counted here.
    #[derive(Clone, Copy, Debug)]
    pub struct Cost {
        pub futex: Option<u64>,
        pub vcsw: Option<u64>,
        pub ivcsw: Option<u64>,
    }

    impl Cost {
        /// Nothing yet: the start of a sum.
        pub const ZERO: Cost = Cost { futex: Some(0), vcsw: Some(0), ivcsw: Some(0) };

        /// Voluntary and involuntary context switches together.
        pub fn switches(&self) -> Option<u64> {
            Some(self.vcsw? + self.ivcsw?)
        }
    }

    /// The sum over threads (or samples): `None` if any part of it could not be counted.
    impl Add for Cost {
        type Output = Cost;
        fn add(self, other: Cost) -> Cost {
            let sum = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
            Cost {
                futex: sum(self.futex, other.futex),
                vcsw: sum(self.vcsw, other.vcsw),
                ivcsw: sum(self.ivcsw, other.ivcsw),
            }
        }
    }

    /// One thread's meter: [`Meter::new`] before the barrier, [`Meter::start`] right after it,
    /// [`Meter::stop`] right after the thread's last operation. Must stay on the thread that made it.
    pub struct Meter {
        futex: Option<imp::FutexCounter>,
        at_start: Option<Snapshot>,
    }

    #[derive(Clone, Copy)]
    struct Snapshot {
        futex: Option<u64>,
        switches: Option<(u64, u64)>,
    }

    impl Meter {
        /// Opens this thread's futex counter (a system call: do it before the timed part).
        pub fn new() -> Meter {
            Meter { futex: imp::FutexCounter::open(), at_start: None }
        }

        fn snapshot(&self) -> Snapshot {
            Snapshot { futex: self.futex.as_ref().and_then(|c| c.read()), switches: imp::thread_switches() }
        }

        /// Reads the counts the window starts from.
        pub fn start(&mut self) {
            self.at_start = Some(self.snapshot());
        }

        /// What the thread cost since [`Meter::start`] (nothing counted if it was not called).
        pub fn stop(self) -> Cost {
            let end = self.snapshot();
            let Some(start) = self.at_start else { return Cost { futex: None, vcsw: None, ivcsw: None } };
            let switches = start.switches.zip(end.switches);
            Cost {
                futex: start.futex.zip(end.futex).map(|(a, b)| b - a),
                vcsw: switches.map(|((a, _), (b, _))| b - a),
                ivcsw: switches.map(|((_, a), (_, b))| b - a),
            }
        }
    }

    impl Default for Meter {
        fn default() -> Self {
            Meter::new()
        }
    }

    /// Whether futex calls can be counted here (prints why not, once, if they cannot).
    pub fn futex_countable() -> bool {
        imp::FutexCounter::open().is_some()
    }

    /// `calls / ops` in plain decimals with two significant digits (`0.0012`, `0.31`, `4.2`), or
    /// `n/a` when it could not be counted.
    pub fn per_op(calls: Option<u64>, ops: u64) -> String {
        match calls {
            None => "n/a".into(),
            Some(_) if ops == 0 => "n/a".into(),
            Some(0) => "0".into(),
            Some(n) => {
                let x = n as f64 / ops as f64;
                let decimals = (1 - x.log10().floor() as i32).max(0) as usize;
                format!("{x:.decimals$}")
            }
        }
    }

    /// The line the reports read, one per benchmark id:
    /// `counts contended/parking_lot/8: futex/op = 0.012, cs/op = 0.0031 (vcsw/op = 0.0030, ivcsw/op = 0.00010; 5200000 ops)`.
    /// Nothing is printed for an id that did no operations (filtered out, or `--list`).
    pub fn print_line(id: &str, cost: Cost, ops: u64) {
        if ops == 0 {
            return;
        }
        println!(
            "counts {id}: futex/op = {}, cs/op = {} (vcsw/op = {}, ivcsw/op = {}; {ops} ops)",
            per_op(cost.futex, ops),
            per_op(cost.switches(), ops),
            per_op(cost.vcsw, ops),
            per_op(cost.ivcsw, ops),
        );
    }

    #[cfg(target_os = "linux")]
    mod imp {
        use std::fs::File;
        use std::io::Read;
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::sync::OnceLock;

        /// `perf_event_attr` as far as its first published size (`PERF_ATTR_SIZE_VER0`, 64
        /// bytes); the kernel takes the `size` field as the version and zero-fills the rest.
        #[repr(C)]
        struct PerfEventAttr {
            kind: u32,
            size: u32,
            config: u64,
            sample_period: u64,
            sample_type: u64,
            read_format: u64,
            /// The bit field (`disabled`, `inherit`, ...): all clear, so the counter counts from
            /// its opening, for the opening thread only, user and kernel alike.
            flags: u64,
            wakeup_events: u32,
            bp_type: u32,
            config1: u64,
        }

        const PERF_TYPE_TRACEPOINT: u32 = 2;
        const PERF_ATTR_SIZE_VER0: u32 = 64;
        const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

        /// The id of the tracepoint `syscalls:sys_enter_futex`, read once. `None` (with one
        /// line to stderr) when tracefs is not there.
        fn tracepoint_id() -> Option<u64> {
            static ID: OnceLock<Option<u64>> = OnceLock::new();
            *ID.get_or_init(|| {
                if std::env::var("BENCH_FUTEX_COUNT").is_ok_and(|v| v == "0") {
                    eprintln!("counts: BENCH_FUTEX_COUNT=0: futex/op is n/a");
                    return None;
                }
                let id = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].iter().find_map(|root| {
                    let path = format!("{root}/events/syscalls/sys_enter_futex/id");
                    std::fs::read_to_string(path).ok()?.trim().parse().ok()
                });
                if id.is_none() {
                    eprintln!("counts: no tracepoint syscalls:sys_enter_futex (tracefs not mounted, or not readable): futex/op is n/a");
                }
                id
            })
        }

        /// A perf counter of this thread's `futex` system calls.
        pub struct FutexCounter(File);

        impl FutexCounter {
            /// A counter for the calling thread, with the tracepoint kept registered (see
            /// [`FutexCounter::open_one`]).
            pub fn open() -> Option<FutexCounter> {
                // The first counter on a tracepoint registers the kernel's probe on it, and
                // closing the last one unregisters it, which waits for an RCU grace period:
                // about 38 ms per open and close on the 2-core KVM guest. Every sample opens and
                // closes a counter per thread, so without this one, never closed, criterion
                // saw samples of ~40 ms of set-up and chose a handful of operations per sample.
                static KEEPER: OnceLock<Option<FutexCounter>> = OnceLock::new();
                KEEPER.get_or_init(FutexCounter::open_one).as_ref()?;
                FutexCounter::open_one()
            }

            fn open_one() -> Option<FutexCounter> {
                static REFUSED: OnceLock<()> = OnceLock::new();
                let attr = PerfEventAttr {
                    kind: PERF_TYPE_TRACEPOINT,
                    size: PERF_ATTR_SIZE_VER0,
                    config: tracepoint_id()?,
                    sample_period: 0,
                    sample_type: 0,
                    read_format: 0,
                    flags: 0,
                    wakeup_events: 0,
                    bp_type: 0,
                    config1: 0,
                };
                // SAFETY: `perf_event_open(attr, pid, cpu, group_fd, flags)` reads `attr.size`
                // (64) bytes from `attr`, a live, initialised `repr(C)` value of exactly that size;
                // pid 0 with cpu -1 is "the calling thread, on any CPU"; group_fd -1 is no group.
                // It writes nothing of ours and returns a new descriptor or -1.
                let fd = unsafe {
                    libc::syscall(
                        libc::SYS_perf_event_open,
                        &attr as *const PerfEventAttr,
                        0 as libc::pid_t,
                        -1 as libc::c_int,
                        -1 as libc::c_int,
                        PERF_FLAG_FD_CLOEXEC,
                    )
                };
                if fd < 0 {
                    let error = std::io::Error::last_os_error();
                    REFUSED.get_or_init(|| {
                        eprintln!("counts: perf_event_open refused ({error}): futex/op is n/a")
                    });
                    return None;
                }
                // SAFETY: a non-negative return is a descriptor the kernel just opened for us
                // and that nothing else owns; the `File` closes it when dropped.
                Some(FutexCounter(File::from(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })))
            }

            /// The count so far (`read_format` 0: one `u64`).
            pub fn read(&self) -> Option<u64> {
                let mut bytes = [0u8; 8];
                (&self.0).read_exact(&mut bytes).ok()?;
                Some(u64::from_ne_bytes(bytes))
            }
        }

        /// Voluntary and involuntary context switches of the calling thread so far.
        pub fn thread_switches() -> Option<(u64, u64)> {
            let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
            // SAFETY: `usage` is valid for writes of a `rusage`, and `RUSAGE_THREAD` is a valid
            // `who` on Linux; `getrusage` fills the whole struct when it returns 0, which is
            // checked before reading it.
            let usage = unsafe {
                if libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) != 0 {
                    return None;
                }
                usage.assume_init()
            };
            Some((usage.ru_nvcsw as u64, usage.ru_nivcsw as u64))
        }
    }

    /// Off Linux (`libc` is a dependency there only) nothing is counted: every figure is `n/a`.
    #[cfg(not(target_os = "linux"))]
    mod imp {
        pub struct FutexCounter;

        impl FutexCounter {
            pub fn open() -> Option<FutexCounter> {
                None
            }

            pub fn read(&self) -> Option<u64> {
                None
            }
        }

        pub fn thread_switches() -> Option<(u64, u64)> {
            None
        }
    }
}
