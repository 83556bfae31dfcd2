//! Talking between two processes: turnstile's process-shared semaphores in shared memory against
//! POSIX `sem_t` in shared memory, a pipe and a Unix socket, in one run.
//!
//! Every benchmark has two processes: this one (criterion, the parent) and a child started for
//! that benchmark alone. The child is this same binary run again (`current_exe()`, never `fork`)
//! with `TURNSTILE_IPC_CHILD=<group>/<method>` in its environment; `main` sees it and serves its
//! side instead of running criterion. It is started when the benchmark first runs and stopped
//! after its last sample (a stop message, then a wait; `SIGKILL` if it has not exited within
//! `STOP_TIMEOUT`), so process start-up is never timed. Shared-memory names carry the parent's
//! pid and are unlinked as soon as the child has mapped them.
//!
//! * `ipc_round_trip/<method>`: the parent sends an 8-byte message, the child answers with its
//!   bitwise complement, the parent waits for the answer. One element is one round trip; every
//!   answer is checked.
//!   - `turnstile`: a `shm::Region` holding two `shm::Semaphore`s, `ping` and `pong`, and the
//!     message slot (an `AtomicU64`): write the slot, V(ping); the child P(ping), reads, writes
//!     its answer, V(pong); the parent P(pong).
//!   - `sem_t`: the same with two glibc `sem_t`s (`sem_init(pshared = 1)`, `sem_post`,
//!     `sem_wait`) in a mapping of our own (`shm_open` + `mmap`): a `Region` holds only
//!     `ShmSafe` types and `sem_t` is not one. Same layout as `turnstile`: each semaphore and the
//!     slot on a cache line (`CachePadded`) of its own.
//!   - `sem_t_again`: `sem_t` a second time, with a fresh mapping and child: the control. The gap
//!     between `sem_t` and `sem_t_again` is the run-to-run noise of the machine; differences
//!     between peers smaller than that gap mean nothing.
//!   - `pipe`: two pipes, one each way; `write` and `read` of the 8 bytes.
//!   - `unix_socket`: a `socketpair(AF_UNIX, SOCK_STREAM)` (`UnixStream::pair`), one end each.
//! * `ipc_records/<method>`: one-way throughput. The parent sends a batch of 64-byte records (one
//!   sample's iterations), the child checks them (index and length in every record, a checksum
//!   over the batch) and acknowledges the batch; the clock stops when the acknowledgement is in,
//!   so the time covers delivery, not just handing records to a buffer. One element is one
//!   record. The parent compares the child's count and checksum with what it sent (after the
//!   clock stops): a broken transfer fails the benchmark.
//!   - `turnstile`: the classic bounded buffer in a `Region`: `RING_SLOTS` (64) slots, `empty` and
//!     `full` `shm::Semaphore`s and a `shm::Mutex` over the ring. Producer: P(empty), lock, put,
//!     unlock, V(full); consumer: P(full), lock, take, unlock, V(empty).
//!   - `sem_t`: the same ring with `sem_t` `empty`, `full`, and a `sem_t` at 1 as the mutex.
//!   - `sem_t_again`: the control, as above.
//!   - `pipe`: one 64-byte `write` per record into a pipe resized (`F_SETPIPE_SZ`) to the ring's
//!     capacity, 4 KiB; the child `read`s exactly 64 bytes per record. The acknowledgement comes
//!     back on a second pipe.
//!
//! The targets: the `turnstile` round trip at least 2x faster than `pipe`'s, and within
//! 1.1x of `sem_t`'s.
//!
//! **Reading the figures.** Where the scheduler puts the two processes decides the regime more
//! than the mechanism does, so read every figure against the control.
//! * *A core each* (what a quiet 2-core machine mostly does): a waiter that spins a little before
//!   sleeping (turnstile's semaphore: 100 pauses, about 2.5 µs on the 2-core AMD EPYC KVM guest
//!   this was written on) sees the answer arrive while it is still spinning and makes no system
//!   call. One that sleeps at once (glibc's `sem_wait`, `read`) pays a wake-up of the other core
//!   for every message, and on that guest waking the idle vCPU took 15-20 µs.
//! * *One core for both* (another busy process on the machine, or `taskset -c 0 cargo bench
//!   --bench ipc`): spinning only holds back the partner that needs the core, so every message
//!   costs the whole spin and then a futex wait and wake anyway. Here sleeping at once wins.
//! * The scheduler can switch between the two during a run, and a spinning pair that misses once
//!   (an interrupt, a preemption) may sleep for a while before it locks back in: samples that mix
//!   regimes give wide confidence intervals and a large gap between `sem_t` and `sem_t_again`.
//!
//! Run with `cargo bench --bench ipc` (under a minute on a 2-core machine); as usual, arguments
//! after `--` filter benchmarks and override the settings.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, ExitStatus, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use turnstile::shm::{self, Field, Layout, Region, ShmSafe};

// 9 benchmarks of 1 + 3 s: about 40 s plus analysis and child start-up. Set in the criterion
// config rather than per group, so that `--warm-up-time`, `--measurement-time` and
// `--sample-size` on the command line override them.
const SAMPLES: usize = 20;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);

const ROUND_TRIP: &str = "ipc_round_trip";
const RECORDS: &str = "ipc_records";

/// The environment of a child: its role (`<group>/<method>`), its argument (a shared-memory name
/// or descriptor numbers), and the parent's pid.
const CHILD_ENV: &str = "TURNSTILE_IPC_CHILD";
const ARG_ENV: &str = "TURNSTILE_IPC_ARG";
const PARENT_ENV: &str = "TURNSTILE_IPC_PARENT";

/// A round-trip message that asks the child to exit. Real messages count up from 1.
const STOP: u64 = u64::MAX;
/// The first round trip, before any benchmark: it tells the parent that the child is up and has
/// mapped the shared memory.
const HELLO: u64 = 0;

/// Slots of the bounded buffer; the pipe is resized to hold as many records.
const RING_SLOTS: usize = 64;
/// Bytes in a record.
const RECORD_BYTES: usize = 64;

/// How long the child may take to start and map the shared memory.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the parent waits for a batch's acknowledgement before calling the transfer broken.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child has to exit after its stop message before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Semaphores and shared memory
// ---------------------------------------------------------------------------------------------

/// P and V, as the benchmarks use them: turnstile's semaphore and glibc's `sem_t` alike.
trait Sem: Sync {
    /// P: takes a permit, waiting while there is none.
    fn p(&self);
    /// V: adds a permit.
    fn v(&self);
    /// P, giving up after `timeout`; whether it took the permit. Not on any timed path.
    fn p_timeout(&self, timeout: Duration) -> bool;
}

impl Sem for shm::Semaphore {
    #[inline]
    fn p(&self) {
        self.acquire().forget();
    }

    #[inline]
    fn v(&self) {
        self.add_permits(1);
    }

    fn p_timeout(&self, timeout: Duration) -> bool {
        self.acquire_timeout(timeout).map(|permit| permit.forget()).is_some()
    }
}

/// A glibc `sem_t` in shared memory, initialised with `pshared = 1`.
///
/// Only ever placed in a [`Mapping`] whose creator calls [`init`](Self::init) on it before the
/// child that opens the mapping is started; `p` and `v` rely on that.
#[repr(transparent)]
struct PosixSem(UnsafeCell<libc::sem_t>);

// SAFETY: a `sem_t` is made to be used by many threads (and, with `pshared = 1`, processes) at once
// through the `sem_*` functions, which is all that is done with it here.
unsafe impl Sync for PosixSem {}

impl PosixSem {
    /// `sem_init(pshared = 1, value)`.
    ///
    /// # Safety
    /// Once per semaphore, before anyone else uses it.
    unsafe fn init(&self, value: u32) {
        // SAFETY: the pointer is to this `sem_t`, which the caller promises nobody uses yet.
        let status = unsafe { libc::sem_init(self.0.get(), 1, value) };
        assert_eq!(status, 0, "sem_init: {}", io::Error::last_os_error());
    }
}

impl Sem for PosixSem {
    #[inline]
    fn p(&self) {
        loop {
            // SAFETY: an initialised `sem_t` (see the type's docs), mapped while `self` lives.
            if unsafe { libc::sem_wait(self.0.get()) } == 0 {
                return;
            }
            let error = io::Error::last_os_error();
            assert_eq!(error.kind(), io::ErrorKind::Interrupted, "sem_wait: {error}");
        }
    }

    #[inline]
    fn v(&self) {
        // SAFETY: as in `p`.
        let status = unsafe { libc::sem_post(self.0.get()) };
        assert_eq!(status, 0, "sem_post: {}", io::Error::last_os_error());
    }

    fn p_timeout(&self, timeout: Duration) -> bool {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `clock_gettime` writes the `timespec` we pass it, and nothing else.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        assert_eq!(status, 0, "clock_gettime: {}", io::Error::last_os_error());
        let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
        let deadline = libc::timespec {
            tv_sec: now.tv_sec + (timeout.as_secs() + nanos / 1_000_000_000) as libc::time_t,
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        };
        loop {
            // SAFETY: as in `p`; `deadline` is a valid `timespec` that outlives the call.
            if unsafe { libc::sem_timedwait(self.0.get(), &deadline) } == 0 {
                return true;
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIMEDOUT) => return false,
                _ => panic!("sem_timedwait: {error}"),
            }
        }
    }
}

/// `/name`: the POSIX shared-memory object of a `Region` or a `Mapping` named `name`.
fn shm_path(name: &str) -> CString {
    CString::new(format!("/{name}")).expect("shared-memory names have no NUL")
}

/// Removes the shared-memory object `name` (a `Region`'s or a `Mapping`'s); quiet if it is gone.
fn shm_unlink(name: &str) {
    let path = shm_path(name);
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    unsafe { libc::shm_unlink(path.as_ptr()) };
}

/// A shared-memory name for one benchmark, unique to this process; unlinked when dropped (the
/// parent drops it once the child has mapped the object, or when anything fails before that).
struct ShmName(String);

impl ShmName {
    fn new(role: &str) -> Self {
        ShmName(format!("turnstile-bench-ipc-{}-{}", std::process::id(), role.replace('/', "-")))
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        shm_unlink(&self.0);
    }
}

/// A POSIX shared-memory object holding a `T`, mapped: what the `sem_t` peers live in, since a
/// `Region` holds only `ShmSafe` types. No header and no checks: both ends are this program.
struct Mapping<T> {
    value: NonNull<T>,
}

impl<T> Mapping<T> {
    /// Creates the object `name`, zero-filled, and maps it.
    ///
    /// # Safety
    /// All-zero bytes must be a valid `T`; anything more it needs (`sem_init`) the caller does
    /// before another process opens the object.
    unsafe fn create(name: &str) -> io::Result<Self> {
        let file = Self::shm_open(name, libc::O_CREAT | libc::O_EXCL)?;
        file.set_len(std::mem::size_of::<T>() as u64)?; // ftruncate: zero-filled
        Self::map(&file)
    }

    /// Maps the object `name`, which the parent created (and initialised) before starting us.
    fn open(name: &str) -> io::Result<Self> {
        let file = Self::shm_open(name, 0)?;
        if file.metadata()?.len() < std::mem::size_of::<T>() as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name}: too small")));
        }
        Self::map(&file)
    }

    fn shm_open(name: &str, flags: libc::c_int) -> io::Result<File> {
        let path = shm_path(name);
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::shm_open(path.as_ptr(), flags | libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened, and is owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    fn map(file: &File) -> io::Result<Self> {
        // SAFETY: a new shared mapping at an address of the kernel's choosing overlaps nothing of
        // ours; the object is at least `size_of::<T>()` bytes.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<T>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { value: NonNull::new(ptr.cast()).expect("mmap returned null") })
    }
}

impl<T> Deref for Mapping<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping is page-aligned, `size_of::<T>()` bytes, and stays mapped while
        // `self` lives; `create`'s caller vouched that it holds a valid `T`. Everything in it that
        // both processes write is atomic or behind a semaphore (`UnsafeCell`).
        unsafe { self.value.as_ref() }
    }
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        // SAFETY: this is the mapping made in `map`, unmapped only here; no reference into it
        // outlives `self`.
        unsafe { libc::munmap(self.value.as_ptr().cast(), std::mem::size_of::<T>()) };
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------------------------------

/// One end of a two-way channel of `u64` messages.
trait End {
    fn send(&self, message: u64);
    /// The next message; `None` if the other side is gone (end of file).
    fn recv(&self) -> Option<u64>;
    /// Tells the child to exit. Never blocks, and never panics: it also runs after a failure.
    fn stop(&self);

    /// The parent's side of one round trip: the answer to `message`.
    #[inline]
    fn round_trip(&self, message: u64) -> u64 {
        self.send(message);
        self.recv().expect("the child closed its end")
    }
}

/// The shared memory of a semaphore round trip: the same layout for every semaphore type.
#[repr(C)]
struct PingPong<S> {
    /// V'd by the parent when `slot` holds a message.
    ping: CachePadded<S>,
    /// V'd by the child when `slot` holds its answer.
    pong: CachePadded<S>,
    slot: CachePadded<AtomicU64>,
}

// SAFETY: `#[repr(C)]`, and every field is `ShmSafe`: `CachePadded` around a process-shared
// semaphore or an atomic; the layout lists them in order. (Generic, so not `shm_struct!`.)
unsafe impl ShmSafe for PingPong<shm::Semaphore> {
    const LAYOUT: &'static Layout = &Layout::repr_c::<Self>(
        "PingPong",
        &[
            Field::new("ping", <CachePadded<shm::Semaphore> as ShmSafe>::LAYOUT),
            Field::new("pong", <CachePadded<shm::Semaphore> as ShmSafe>::LAYOUT),
            Field::new("slot", <CachePadded<AtomicU64> as ShmSafe>::LAYOUT),
        ],
    );
}

/// A round trip's end over semaphores in shared memory (`M` is the `Region` or `Mapping`).
struct SemEnd<M> {
    shared: M,
    parent: bool,
}

impl<M, S> End for SemEnd<M>
where
    M: Deref<Target = PingPong<S>>,
    S: Sem,
{
    #[inline]
    fn send(&self, message: u64) {
        // Relaxed: the V that follows publishes it (turnstile's is a SeqCst compare-exchange;
        // `sem_post` synchronizes memory, POSIX 4.12), and the reader's P acquires it.
        self.shared.slot.store(message, Relaxed);
        if self.parent {
            self.shared.ping.v();
        } else {
            self.shared.pong.v();
        }
    }

    #[inline]
    fn recv(&self) -> Option<u64> {
        if self.parent {
            self.shared.pong.p();
        } else {
            self.shared.ping.p();
        }
        Some(self.shared.slot.load(Relaxed))
    }

    fn stop(&self) {
        self.send(STOP);
    }
}

/// An end over file descriptors: two pipes, or a socket (`tx` and `rx` the same socket).
/// Also the records' end: data one way, acknowledgements the other.
struct FdEnd {
    tx: File,
    rx: File,
}

impl FdEnd {
    /// The child's end, from the descriptor numbers it inherited: `"rx,tx"`.
    fn inherited(arg: &str) -> Self {
        let (rx, tx) = arg.split_once(',').expect("`rx,tx` descriptors");
        let rx: RawFd = rx.parse().expect("a descriptor number");
        let tx: RawFd = tx.parse().expect("a descriptor number");
        // SAFETY: the parent left these descriptors open for us alone (see `Worker::spawn`), and
        // each is taken over once (a socket's one descriptor is duplicated below).
        let rx = unsafe { File::from_raw_fd(rx) };
        let tx = if tx == rx.as_raw_fd() {
            rx.try_clone().expect("dup")
        } else {
            // SAFETY: as above.
            unsafe { File::from_raw_fd(tx) }
        };
        FdEnd { tx, rx }
    }

    fn write(&self, bytes: &[u8]) {
        (&self.tx).write_all(bytes).expect("write to the child");
    }

    /// Reads exactly `buf.len()` bytes; `false` at end of file.
    fn read(&self, buf: &mut [u8]) -> bool {
        match (&self.rx).read_exact(buf) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Writes `bytes` if the descriptor takes them at once; gives up quietly otherwise.
    fn write_without_blocking(&self, bytes: &[u8]) {
        let fd = self.tx.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own, with integer arguments: touches no memory.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } == 0 {
            let _ = (&self.tx).write_all(bytes);
        }
    }
}

impl End for FdEnd {
    #[inline]
    fn send(&self, message: u64) {
        self.write(&message.to_ne_bytes());
    }

    #[inline]
    fn recv(&self) -> Option<u64> {
        let mut buf = [0; 8];
        self.read(&mut buf).then(|| u64::from_ne_bytes(buf))
    }

    fn stop(&self) {
        self.write_without_blocking(&STOP.to_ne_bytes());
    }
}

/// The child's side of the round trips: answer each message with its complement until `STOP`.
fn serve_round_trips(end: &impl End) {
    while let Some(message) = end.recv() {
        if message == STOP {
            return;
        }
        end.send(!message);
    }
}

/// Times `iters` round trips with `peer`'s child.
fn time_round_trips<E: End>(peer: &Peer<E>, next: &mut u64, iters: u64) -> Duration {
    let first = *next;
    *next += iters;
    let mut wrong = 0u64;
    let t0 = Instant::now();
    for message in first..first + iters {
        wrong += u64::from(peer.end.round_trip(message) != !message);
    }
    let elapsed = t0.elapsed();
    assert_eq!(wrong, 0, "{}: {wrong} of {iters} answers were not the complement of the message", peer.role);
    elapsed
}

fn bench_round_trip<E: End>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    method: &str,
    start: fn(&str) -> Peer<E>,
) {
    let role = format!("{ROUND_TRIP}/{method}");
    let mut peer = None;
    let mut next = 1;
    group.bench_function(method, |b| {
        let peer = peer.get_or_insert_with(|| start(&role));
        b.iter_custom(|iters| time_round_trips(peer, &mut next, iters));
    });
    if let Some(peer) = peer {
        peer.finish();
    }
}

fn start_turnstile_round_trip(role: &str) -> Peer<SemEnd<Region<PingPong<shm::Semaphore>>>> {
    let name = ShmName::new(role);
    let semaphore = || CachePadded::new(shm::Semaphore::new(0));
    let shared = PingPong { ping: semaphore(), pong: semaphore(), slot: CachePadded::new(AtomicU64::new(0)) };
    let region = Region::create(&name.0, shared).expect("create the region");
    let worker = Worker::spawn(role, &name.0, &[], &name.0);
    Peer::round_trip(role, SemEnd { shared: region, parent: true }, worker)
    // `name` is unlinked here: the child has it mapped (it answered the hello).
}

fn start_sem_t_round_trip(role: &str) -> Peer<SemEnd<Mapping<PingPong<PosixSem>>>> {
    let name = ShmName::new(role);
    // SAFETY: zero bytes are a valid `PingPong<PosixSem>` (a `sem_t` is bytes, the slot an atomic),
    // and both semaphores are initialised below, before the child is started.
    let shared = unsafe { Mapping::<PingPong<PosixSem>>::create(&name.0) };
    let shared = shared.expect("create the mapping");
    // SAFETY: once each, before anyone else can use them (the child is not started yet).
    unsafe {
        shared.ping.init(0);
        shared.pong.init(0);
    }
    let worker = Worker::spawn(role, &name.0, &[], &name.0);
    Peer::round_trip(role, SemEnd { shared, parent: true }, worker)
}

fn start_pipe_round_trip(role: &str) -> Peer<FdEnd> {
    let (request_rx, request_tx) = pipe();
    let (answer_rx, answer_tx) = pipe();
    let arg = format!("{},{}", request_rx.as_raw_fd(), answer_tx.as_raw_fd());
    let worker = Worker::spawn(role, &arg, &[&request_rx, &answer_tx], "");
    // The child's ends close here, in the parent.
    Peer::round_trip(role, FdEnd { tx: request_tx, rx: answer_rx }, worker)
}

fn start_socket_round_trip(role: &str) -> Peer<FdEnd> {
    let (mine, theirs) = UnixStream::pair().expect("socketpair");
    let (mine, theirs) = (File::from(OwnedFd::from(mine)), File::from(OwnedFd::from(theirs)));
    let arg = format!("{0},{0}", theirs.as_raw_fd());
    let worker = Worker::spawn(role, &arg, &[&theirs], "");
    drop(theirs);
    let rx = mine.try_clone().expect("dup");
    Peer::round_trip(role, FdEnd { tx: mine, rx }, worker)
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group(ROUND_TRIP);
    group.throughput(Throughput::Elements(1));
    bench_round_trip(&mut group, "turnstile", start_turnstile_round_trip);
    bench_round_trip(&mut group, "sem_t", start_sem_t_round_trip);
    // CONTROL: exactly the `sem_t` benchmark again, on a fresh mapping and child.
    bench_round_trip(&mut group, "sem_t_again", start_sem_t_round_trip);
    bench_round_trip(&mut group, "pipe", start_pipe_round_trip);
    bench_round_trip(&mut group, "unix_socket", start_socket_round_trip);
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// A 64-byte record: its index in the batch, the batch's length, and six words of payload.
/// A length of 0 asks the child to exit.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Record([u64; 8]);

const _: () = assert!(std::mem::size_of::<Record>() == RECORD_BYTES);

// SAFETY: `#[repr(C)]` around an array of integers: plain data, every bit pattern valid; the
// layout names its one field. (A tuple struct, so not `shm_struct!`.)
unsafe impl ShmSafe for Record {
    const LAYOUT: &'static Layout =
        &Layout::repr_c::<Self>("Record", &[Field::new("0", <[u64; 8] as ShmSafe>::LAYOUT)]);
}

impl Record {
    /// Record `index` of a batch of `len` with this `seed`.
    #[inline]
    fn new(seed: u64, index: u64, len: u64) -> Record {
        let x = ((seed << 32) ^ index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Record([index, len, x, x ^ seed, x.rotate_left(17), x.rotate_left(31), !x, x.wrapping_add(seed)])
    }

    const STOP: Record = Record([0; 8]);

    /// `sum` with this record's words added in, each turned by its position.
    #[inline]
    fn checksum(&self, sum: u64) -> u64 {
        self.0.iter().zip(0..).fold(sum, |sum, (word, k)| sum.wrapping_add(word.rotate_left(k * 7)))
    }

    fn to_bytes(self) -> [u8; RECORD_BYTES] {
        let mut bytes = [0; RECORD_BYTES];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        bytes
    }

    fn from_bytes(bytes: &[u8; RECORD_BYTES]) -> Record {
        let mut words = [0; 8];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        }
        Record(words)
    }
}

/// The child's acknowledgement of a batch: records received, their checksum, and 1 if every
/// record had the expected index and batch length (0 otherwise).
type Ack = [u64; 3];

/// What the child sends once it has opened its side, before any batch.
const HELLO_ACK: Ack = [0, 0, 1];

turnstile::shm_struct! {
    /// The bounded buffer's ring: the slots, and where the next put and take go.
    struct Ring {
        put: u64,
        take: u64,
        slots: [Record; RING_SLOTS],
    }
}

impl Ring {
    fn new() -> Self {
        Ring { put: 0, take: 0, slots: [Record([0; 8]); RING_SLOTS] }
    }

    #[inline]
    fn put(&mut self, record: &Record) {
        self.slots[self.put as usize % RING_SLOTS] = *record;
        self.put += 1;
    }

    #[inline]
    fn take(&mut self) -> Record {
        let record = self.slots[self.take as usize % RING_SLOTS];
        self.take += 1;
        record
    }
}

/// The lock over the ring.
trait RingLock: Sync {
    fn with<R>(&self, f: impl FnOnce(&mut Ring) -> R) -> R;
}

impl RingLock for shm::Mutex<Ring> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Ring) -> R) -> R {
        f(&mut self.lock())
    }
}

/// The ring behind a `sem_t` at 1 used as a mutex.
#[repr(C)]
struct PosixLocked {
    mutex: CachePadded<PosixSem>,
    ring: UnsafeCell<Ring>,
}

// SAFETY: the ring is touched only while holding `mutex` (`with`), one thread or process at a time.
unsafe impl Sync for PosixLocked {}

impl RingLock for PosixLocked {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Ring) -> R) -> R {
        self.mutex.p();
        // SAFETY: we hold the mutex, so nobody else has the ring until the V below.
        let result = f(unsafe { &mut *self.ring.get() });
        self.mutex.v();
        result
    }
}

/// The bounded buffer in shared memory, with the child's acknowledgement.
#[repr(C)]
struct Buffer<S, L> {
    /// Free slots: the producer's P, the consumer's V.
    empty: CachePadded<S>,
    /// Filled slots: the consumer's P, the producer's V.
    full: CachePadded<S>,
    /// V'd by the child after writing `acked`.
    ack: CachePadded<S>,
    acked: CachePadded<[AtomicU64; 3]>,
    ring: L,
}

// SAFETY: `#[repr(C)]`, and every field is `ShmSafe`: `CachePadded` around process-shared
// semaphores and atomics, and a process-shared mutex around the `ShmSafe` ring; the layout lists
// them in order. (Generic, so not `shm_struct!`.)
unsafe impl ShmSafe for TurnstileBuffer {
    const LAYOUT: &'static Layout = &Layout::repr_c::<Self>(
        "Buffer",
        &[
            Field::new("empty", <CachePadded<shm::Semaphore> as ShmSafe>::LAYOUT),
            Field::new("full", <CachePadded<shm::Semaphore> as ShmSafe>::LAYOUT),
            Field::new("ack", <CachePadded<shm::Semaphore> as ShmSafe>::LAYOUT),
            Field::new("acked", <CachePadded<[AtomicU64; 3]> as ShmSafe>::LAYOUT),
            Field::new("ring", <shm::Mutex<Ring> as ShmSafe>::LAYOUT),
        ],
    );
}

/// The bounded buffer of the `turnstile` peer, in a `Region`.
type TurnstileBuffer = Buffer<shm::Semaphore, shm::Mutex<Ring>>;
/// The bounded buffer of the `sem_t` peers, in a `Mapping`.
type PosixBuffer = Buffer<PosixSem, PosixLocked>;

/// One end of a one-way stream of records, with acknowledgements coming back.
trait Records {
    /// The parent's: hands `record` to the child's side, waiting while the buffer is full.
    fn push(&self, record: &Record);
    /// The parent's: the child's next acknowledgement, `None` after `timeout`.
    fn wait_ack(&self, timeout: Duration) -> Option<Ack>;
    /// The parent's: asks the child to exit. Never blocks for long and never panics.
    fn stop(&self);
    /// The child's: the next record; `None` if the parent is gone.
    fn pull(&self) -> Option<Record>;
    /// The child's: acknowledges a batch.
    fn acknowledge(&self, ack: Ack);
}

/// The bounded buffer as an end of the stream (`M` is the `Region` or `Mapping`).
struct ShmRecords<M>(M);

impl<M, S, L> Records for ShmRecords<M>
where
    M: Deref<Target = Buffer<S, L>>,
    S: Sem,
    L: RingLock,
{
    #[inline]
    fn push(&self, record: &Record) {
        self.0.empty.p();
        self.0.ring.with(|ring| ring.put(record));
        self.0.full.v();
    }

    fn wait_ack(&self, timeout: Duration) -> Option<Ack> {
        // Relaxed loads: the `ack` P acquires what the child wrote before its V.
        self.0.ack.p_timeout(timeout).then(|| std::array::from_fn(|i| self.0.acked[i].load(Relaxed)))
    }

    fn stop(&self) {
        if self.0.empty.p_timeout(Duration::from_secs(1)) {
            self.0.ring.with(|ring| ring.put(&Record::STOP));
            self.0.full.v();
        }
    }

    #[inline]
    fn pull(&self) -> Option<Record> {
        self.0.full.p();
        let record = self.0.ring.with(Ring::take);
        self.0.empty.v();
        Some(record)
    }

    fn acknowledge(&self, ack: Ack) {
        for (word, value) in self.0.acked.iter().zip(ack) {
            // Relaxed: the V below publishes them.
            word.store(value, Relaxed);
        }
        self.0.ack.v();
    }
}

impl Records for FdEnd {
    #[inline]
    fn push(&self, record: &Record) {
        self.write(&record.to_bytes());
    }

    fn wait_ack(&self, timeout: Duration) -> Option<Ack> {
        let mut poll = libc::pollfd { fd: self.rx.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid `pollfd`, which outlives the call.
        if unsafe { libc::poll(&mut poll, 1, millis) } <= 0 {
            return None;
        }
        let mut buf = [0; 24];
        if !self.read(&mut buf) {
            return None;
        }
        let mut ack = [0; 3];
        for (word, chunk) in ack.iter_mut().zip(buf.chunks_exact(8)) {
            *word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        }
        Some(ack)
    }

    fn stop(&self) {
        self.write_without_blocking(&Record::STOP.to_bytes());
    }

    #[inline]
    fn pull(&self) -> Option<Record> {
        let mut buf = [0; RECORD_BYTES];
        self.read(&mut buf).then(|| Record::from_bytes(&buf))
    }

    fn acknowledge(&self, ack: Ack) {
        let mut buf = [0; 24];
        for (chunk, word) in buf.chunks_exact_mut(8).zip(ack) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        self.write(&buf);
    }
}

/// The child's side of the records: check and acknowledge each batch, until a stop record.
fn serve_records(end: &impl Records) {
    end.acknowledge(HELLO_ACK);
    loop {
        let (mut count, mut sum, mut in_order, mut len) = (0, 0, true, 0);
        loop {
            let Some(record) = end.pull() else { return };
            if count == 0 {
                len = record.0[1];
                if len == 0 {
                    return; // a stop record
                }
            }
            in_order &= record.0[0] == count && record.0[1] == len;
            sum = record.checksum(sum);
            count += 1;
            if count == len {
                break;
            }
        }
        end.acknowledge([count, sum, u64::from(in_order)]);
    }
}

/// Times one batch of `iters` records to `peer`'s child, until its acknowledgement; then checks it.
fn time_records<E: Records>(peer: &Peer<E>, seed: &mut u64, iters: u64) -> Duration {
    if iters == 0 {
        return Duration::ZERO;
    }
    *seed += 1;
    let seed = *seed;
    let t0 = Instant::now();
    for index in 0..iters {
        peer.end.push(&Record::new(seed, index, iters));
    }
    let ack = peer.end.wait_ack(ACK_TIMEOUT);
    let elapsed = t0.elapsed();
    let ack = ack.unwrap_or_else(|| panic!("{}: no acknowledgement within {ACK_TIMEOUT:?}", peer.role));
    let sum = (0..iters).fold(0, |sum, index| Record::new(seed, index, iters).checksum(sum));
    assert_eq!(ack, [iters, sum, 1], "{}: the child got another batch than was sent", peer.role);
    elapsed
}

fn bench_records<E: Records>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    method: &str,
    start: fn(&str) -> Peer<E>,
) {
    let role = format!("{RECORDS}/{method}");
    let mut peer = None;
    let mut seed = 0;
    group.bench_function(method, |b| {
        let peer = peer.get_or_insert_with(|| start(&role));
        b.iter_custom(|iters| time_records(peer, &mut seed, iters));
    });
    if let Some(peer) = peer {
        peer.finish();
    }
}

fn start_turnstile_records(role: &str) -> Peer<ShmRecords<Region<TurnstileBuffer>>> {
    let name = ShmName::new(role);
    let semaphore = |permits| CachePadded::new(shm::Semaphore::new(permits));
    let shared = Buffer {
        empty: semaphore(RING_SLOTS),
        full: semaphore(0),
        ack: semaphore(0),
        acked: CachePadded::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]),
        ring: shm::Mutex::new(Ring::new()),
    };
    let region = Region::create(&name.0, shared).expect("create the region");
    let worker = Worker::spawn(role, &name.0, &[], &name.0);
    Peer::records(role, ShmRecords(region), worker)
}

fn start_sem_t_records(role: &str) -> Peer<ShmRecords<Mapping<PosixBuffer>>> {
    let name = ShmName::new(role);
    // SAFETY: zero bytes are a valid `PosixBuffer` (`sem_t`s are bytes, the rest
    // integers and atomics), and every semaphore is initialised below, before the child starts.
    let shared = unsafe { Mapping::<PosixBuffer>::create(&name.0) };
    let shared = shared.expect("create the mapping");
    // SAFETY: once each, before anyone else can use them (the child is not started yet).
    unsafe {
        shared.empty.init(RING_SLOTS as u32);
        shared.full.init(0);
        shared.ack.init(0);
        shared.ring.mutex.init(1);
    }
    let worker = Worker::spawn(role, &name.0, &[], &name.0);
    Peer::records(role, ShmRecords(shared), worker)
}

fn start_pipe_records(role: &str) -> Peer<FdEnd> {
    let (data_rx, data_tx) = pipe();
    let (ack_rx, ack_tx) = pipe();
    let capacity = (RING_SLOTS * RECORD_BYTES) as libc::c_int;
    // SAFETY: fcntl on a descriptor we own, with integer arguments: touches no memory.
    let size = unsafe { libc::fcntl(data_tx.as_raw_fd(), libc::F_SETPIPE_SZ, capacity) };
    assert_eq!(size, capacity, "F_SETPIPE_SZ: {}", io::Error::last_os_error());
    let arg = format!("{},{}", data_rx.as_raw_fd(), ack_tx.as_raw_fd());
    let worker = Worker::spawn(role, &arg, &[&data_rx, &ack_tx], "");
    Peer::records(role, FdEnd { tx: data_tx, rx: ack_rx }, worker)
}

fn records(c: &mut Criterion) {
    let mut group = c.benchmark_group(RECORDS);
    group.throughput(Throughput::Elements(1));
    bench_records(&mut group, "turnstile", start_turnstile_records);
    bench_records(&mut group, "sem_t", start_sem_t_records);
    // CONTROL: exactly the `sem_t` benchmark again, on a fresh mapping and child.
    bench_records(&mut group, "sem_t_again", start_sem_t_records);
    bench_records(&mut group, "pipe", start_pipe_records);
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A pipe, both ends close-on-exec: `(read end, write end)`. The child's end is made inheritable
/// by `Worker::spawn` just before it starts the child.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two descriptors into the array we pass, and nothing else.
    let status = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(status, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just opened, and are owned by nothing else.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// A child process serving one benchmark, watched by a thread: if the child exits before the
/// parent has asked it to, the watchdog unlinks the benchmark's shared memory and ends the whole
/// run (otherwise the parent would wait forever on a semaphore nobody will post).
struct Worker {
    role: String,
    pid: libc::pid_t,
    stopping: Arc<AtomicBool>,
    /// The child's exit status, from the watchdog; `None` once received.
    exited: Option<mpsc::Receiver<io::Result<ExitStatus>>>,
    watchdog: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts this binary again as the child `role`, with `arg`, inheriting `inherit` (which the
    /// caller closes on its side afterwards). `shm_name`, if not empty, is the shared memory the
    /// watchdog unlinks if the child dies early.
    fn spawn(role: &str, arg: &str, inherit: &[&File], shm_name: &str) -> Worker {
        for file in inherit {
            // SAFETY: fcntl on a descriptor we own, clearing its descriptor flags (`FD_CLOEXEC`):
            // touches no memory. Nothing else starts processes meanwhile (criterion's thread is
            // the only one that does).
            let status = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFD, 0) };
            assert_eq!(status, 0, "fcntl(F_SETFD): {}", io::Error::last_os_error());
        }
        let mut child = Command::new(std::env::current_exe().expect("the benchmark's own path"))
            .env(CHILD_ENV, role)
            .env(ARG_ENV, arg)
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start the {role} child: {e}"));
        let pid = child.id() as libc::pid_t;
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let watchdog = {
            let (stopping, role, shm_name) = (Arc::clone(&stopping), role.to_owned(), shm_name.to_owned());
            std::thread::Builder::new()
                .name("ipc-watchdog".into())
                .spawn(move || {
                    let status = child.wait();
                    if !stopping.load(SeqCst) {
                        eprintln!("ipc: the {role} child exited unexpectedly ({status:?}); giving up");
                        if !shm_name.is_empty() {
                            shm_unlink(&shm_name);
                        }
                        std::process::exit(1);
                    }
                    let _ = tx.send(status);
                })
                .expect("start the watchdog thread")
        };
        Worker { role: role.to_owned(), pid, stopping, exited: Some(rx), watchdog: Some(watchdog) }
    }

    /// From now on the child's exit is expected: call before sending it the stop message.
    fn expect_exit(&self) {
        self.stopping.store(true, SeqCst);
    }

    /// Waits for the child to exit, killing it after `grace`; its status (`None` if already
    /// waited for).
    fn wait(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.expect_exit();
        let exited = self.exited.take()?;
        let status = exited.recv_timeout(grace).unwrap_or_else(|_| {
            if !grace.is_zero() {
                eprintln!("ipc: the {} child did not stop within {grace:?}; killing it", self.role);
            }
            // SAFETY: kill() takes integers and touches no memory. The child is not reaped yet (the
            // watchdog has not reported), so the pid is still the child's.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            exited.recv().expect("the watchdog reports the exit")
        });
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
        Some(status.expect("waitpid"))
    }
}

impl Drop for Worker {
    /// A child that was never sent its stop message (something failed first) is killed.
    fn drop(&mut self) {
        self.wait(Duration::ZERO);
    }
}

/// The parent's side of one benchmark: its end of the channel, and the child at the other end.
struct Peer<E> {
    role: String,
    end: E,
    /// Sends the stop message.
    stop: fn(&E),
    worker: Option<Worker>,
}

impl<E: End> Peer<E> {
    /// A round-trip peer, once its child has answered the hello.
    fn round_trip(role: &str, end: E, worker: Worker) -> Self {
        let peer = Peer { role: role.to_owned(), end, stop: <E as End>::stop, worker: Some(worker) };
        assert_eq!(peer.end.round_trip(HELLO), !HELLO, "{role}: wrong answer to the hello");
        peer
    }
}

impl<E: Records> Peer<E> {
    /// A records peer, once its child has sent the hello acknowledgement.
    fn records(role: &str, end: E, worker: Worker) -> Self {
        let peer = Peer { role: role.to_owned(), end, stop: <E as Records>::stop, worker: Some(worker) };
        let hello = peer.end.wait_ack(OPEN_TIMEOUT);
        assert_eq!(hello, Some(HELLO_ACK), "{role}: no hello from the child");
        peer
    }
}

impl<E> Peer<E> {
    /// Stops the child and waits for it; its status.
    fn shutdown(&mut self) -> Option<ExitStatus> {
        let mut worker = self.worker.take()?;
        worker.expect_exit();
        (self.stop)(&self.end);
        worker.wait(STOP_TIMEOUT)
    }

    /// Stops the child, and fails if it did not exit cleanly.
    fn finish(mut self) {
        if let Some(status) = self.shutdown() {
            assert!(status.success(), "{}: the child failed: {status}", self.role);
        }
    }
}

impl<E> Drop for Peer<E> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The child's `main`: serve the role named in the environment.
fn child_main(role: &str) {
    // Die with the parent, whatever kills it: a child blocked on a semaphore would wait forever.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers and touches no memory of ours.
    let status = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    assert_eq!(status, 0, "prctl: {}", io::Error::last_os_error());
    let parent: u32 =
        std::env::var(PARENT_ENV).ok().and_then(|pid| pid.parse().ok()).expect("the parent's pid");
    if std::os::unix::process::parent_id() != parent {
        return; // the parent died before the prctl
    }
    let arg = std::env::var(ARG_ENV).expect("the child's argument");
    let (group, method) = role.split_once('/').expect("a role is <group>/<method>");
    let method = method.strip_suffix("_again").unwrap_or(method);
    match (group, method) {
        (ROUND_TRIP, "turnstile") => {
            let shared = Region::<PingPong<shm::Semaphore>>::open(&arg, OPEN_TIMEOUT);
            serve_round_trips(&SemEnd { shared: opened(shared, role, &arg), parent: false });
        }
        (ROUND_TRIP, "sem_t") => {
            let shared = Mapping::<PingPong<PosixSem>>::open(&arg);
            serve_round_trips(&SemEnd { shared: opened(shared, role, &arg), parent: false });
        }
        (ROUND_TRIP, "pipe" | "unix_socket") => serve_round_trips(&FdEnd::inherited(&arg)),
        (RECORDS, "turnstile") => {
            let shared = Region::<TurnstileBuffer>::open(&arg, OPEN_TIMEOUT);
            serve_records(&ShmRecords(opened(shared, role, &arg)));
        }
        (RECORDS, "sem_t") => {
            let shared = Mapping::<PosixBuffer>::open(&arg);
            serve_records(&ShmRecords(opened(shared, role, &arg)));
        }
        (RECORDS, "pipe") => serve_records(&FdEnd::inherited(&arg)),
        _ => panic!("unknown child role {role:?}"),
    }
}

/// The child's shared memory, or a panic that says which.
fn opened<T, E: std::fmt::Display>(result: Result<T, E>, role: &str, name: &str) -> T {
    result.unwrap_or_else(|e| panic!("{role}: open {name}: {e}"))
}

/// The settings, given to `Criterion` itself so that the command line can override them. No
/// plots: plotting costs more than the measuring (see `benches/rwlock.rs`).
fn settings() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .without_plots()
}

fn main() {
    if let Ok(role) = std::env::var(CHILD_ENV) {
        child_main(&role);
        return;
    }
    let mut criterion = settings().configure_from_args();
    round_trip(&mut criterion);
    records(&mut criterion);
    criterion.final_summary();
}
