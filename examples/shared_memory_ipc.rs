//! Two processes talking through shared memory, ordered by semaphores that live in it.
//!
//! Shared memory is the fastest way for processes to communicate: once a region is
//! mapped into both, a message is a copy into memory the other process can read, with no system
//! call and no copy through the kernel. What shared memory does not give is order: nothing says
//! when a slot holds a record or when it is free again. It is usually paired with semaphores, and
//! this program does exactly that with the bounded buffer of `producer_consumer_semaphores`, now
//! placed in a named POSIX shared-memory object and used by two processes instead of two threads:
//!
//! ```text
//! put(record):                  take():
//!     P(empty)                      P(full)
//!     lock(mutex)                   lock(mutex)
//!     write record into a slot      read record from the oldest slot
//!     unlock(mutex)                 unlock(mutex)
//!     V(full)                       V(empty)
//! ```
//!
//! `empty` counts free slots and `full` filled ones; the mutex makes the slot update itself
//! exclusive. All three are the crate's ordinary algorithms over the `ProcessShared` backend
//! (`turnstile::shm::{Semaphore, Mutex}`), whose futex calls find sleepers in any process.
//!
//! # What the program does
//!
//! 1. The parent creates the region `turnstile-example-ipc-<pid>`, holding two buffers:
//!    `to_child` and `to_parent`.
//! 2. It starts a second copy of this very binary (`std::env::current_exe()`, a fresh program:
//!    not `fork`, which would copy the parent's threads and memory) with the arguments
//!    `child <region name>`. The child finds the region by that name alone.
//! 3. Both loop over `i in 0..RECORDS`: put record `i` into the outgoing buffer, then take record
//!    `i` from the incoming one. Neither side can get more than one record ahead of the other's
//!    takes, so with at least one slot per buffer this cannot deadlock.
//! 4. Each side computes, on its own, the stream the other sends (records are a function of the
//!    sender and the sequence number), and checks that it received as many records, in order,
//!    with the same checksum. A mismatch panics, and the process exits non-zero.
//! 5. The parent waits for the child (at most a minute), checks that it succeeded and that both
//!    buffers are drained, unlinks the region and prints a summary.
//!
//! Run with `cargo run --release --example shared_memory_ipc`. Linux only, like `turnstile::shm`.

#[cfg(target_os = "linux")]
fn main() {
    ipc::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("shared_memory_ipc: turnstile::shm (process-shared locks) exists only on Linux");
}

#[cfg(target_os = "linux")]
mod ipc {
    use std::fmt;
    use std::process::{self, Child, Command, ExitStatus};
    use std::thread;
    use std::time::{Duration, Instant};

    use turnstile::shm::{self, Region};

    /// Records each side sends.
    const RECORDS: u64 = 100_000;
    /// Slots per buffer.
    const CAPACITY: usize = 16;
    /// Bytes per record.
    const RECORD_BYTES: usize = 64;
    /// How long one side waits for the other before it concludes the other is gone. A process,
    /// unlike a thread, can die on its own; without a bound the survivor would sleep for ever.
    const PEER_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long the parent waits for the child to exit once its own side is done.
    const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

    type Record = [u8; RECORD_BYTES];

    turnstile::shm_struct! {
        /// The slots and where the records in them are. Everything in a region is plain
        /// `#[repr(C)]` data that any bytes make valid: both processes must read the same bytes
        /// the same way, so there is no `VecDeque` (its pointer leads into one process's heap)
        /// and no `usize` (fixed-width `u32` keeps the layout the same for every build).
        /// `shm_struct!` adds `#[repr(C)]`, checks each field, and states the layout that the
        /// other process's `Region::open` compares: the name `Ring` and its fields, in order.
        struct Ring {
            slots: [Record; CAPACITY],
            /// The slot of the oldest record.
            head: u32,
            /// How many slots hold records.
            len: u32,
        }
    }

    impl Ring {
        fn push(&mut self, record: &Record) {
            // P(empty) let us in, so there is a free slot; if not, the semaphores are broken.
            assert!((self.len as usize) < CAPACITY, "P(empty) let a sender into a full buffer");
            let tail = (self.head as usize + self.len as usize) % CAPACITY;
            self.slots[tail] = *record;
            self.len += 1;
        }

        fn pop(&mut self) -> Record {
            assert!(self.len > 0, "P(full) let a receiver into an empty buffer");
            let record = self.slots[self.head as usize];
            self.head = ((self.head as usize + 1) % CAPACITY) as u32;
            self.len -= 1;
            record
        }
    }

    turnstile::shm_struct! {
        /// The classic bounded buffer: `empty` and `full` semaphores and a mutex around the slots.
        struct Buffer {
            /// Free slots: the sender takes one, the receiver gives it back.
            empty: shm::Semaphore,
            /// Filled slots: the receiver takes one, the sender gives it back.
            full: shm::Semaphore,
            ring: shm::Mutex<Ring>,
        }
    }

    impl Buffer {
        fn new() -> Self {
            let ring = Ring { slots: [[0; RECORD_BYTES]; CAPACITY], head: 0, len: 0 };
            Buffer {
                empty: shm::Semaphore::new(CAPACITY),
                full: shm::Semaphore::new(0),
                ring: shm::Mutex::new(ring),
            }
        }

        fn put(&self, record: &Record) {
            // P(empty) before the mutex, never after: a sender that slept on `empty` while
            // holding the mutex would keep out the receiver, the only one who can wake it.
            p(&self.empty, "a free slot");
            self.ring.lock().push(record);
            self.full.add_permits(1); // V(full): one more record to take
        }

        fn take(&self) -> Record {
            p(&self.full, "a record");
            let record = self.ring.lock().pop();
            self.empty.add_permits(1); // V(empty): one more slot to fill
            record
        }
    }

    /// P: takes a permit and keeps it (its V comes from the other process). Bounded by
    /// [`PEER_TIMEOUT`], so that a dead peer ends in a message instead of a hang.
    fn p(semaphore: &shm::Semaphore, what: &str) {
        match semaphore.acquire_timeout(PEER_TIMEOUT) {
            Some(permit) => permit.forget(),
            None => panic!("waited {PEER_TIMEOUT:?} for {what}: the other process is gone or stuck"),
        }
    }

    turnstile::shm_struct! {
        /// What the region holds: one buffer each way.
        struct Channel {
            to_child: Buffer,
            to_parent: Buffer,
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Side {
        Parent,
        Child,
    }

    impl Side {
        fn peer(self) -> Side {
            match self {
                Side::Parent => Side::Child,
                Side::Child => Side::Parent,
            }
        }

        /// (outgoing, incoming)
        fn buffers(self, channel: &Channel) -> (&Buffer, &Buffer) {
            match self {
                Side::Parent => (&channel.to_child, &channel.to_parent),
                Side::Child => (&channel.to_parent, &channel.to_child),
            }
        }

        /// Eight bytes that say who sent a record.
        fn tag(self) -> u64 {
            u64::from_le_bytes(match self {
                Side::Parent => *b"parent\0\0",
                Side::Child => *b"child\0\0\0",
            })
        }
    }

    impl fmt::Display for Side {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // `pad`, not `write_str`, so that `{:>6}` lines the two sides' output up.
            f.pad(match self {
                Side::Parent => "parent",
                Side::Child => "child",
            })
        }
    }

    /// Record `seq` from `sender`: the sequence number, the sender's tag, then six words mixed
    /// from both (SplitMix64), so that a stale, torn or misdirected slot changes the checksum.
    /// Both processes compute the same records: that is how each knows what to expect.
    fn record(sender: Side, seq: u64) -> Record {
        let mut record = [0; RECORD_BYTES];
        let mut x = seq ^ sender.tag();
        for (word, bytes) in record.chunks_exact_mut(8).enumerate() {
            let value = match word {
                0 => seq,
                1 => sender.tag(),
                _ => splitmix64(&mut x),
            };
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        record
    }

    fn splitmix64(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn sequence_number(record: &Record) -> u64 {
        u64::from_le_bytes(record[..8].try_into().expect("8 bytes"))
    }

    /// A checksum of a stream of records: FNV-1a (64-bit) over all their bytes, in order.
    struct Checksum(u64);

    impl Checksum {
        fn new() -> Self {
            Checksum(0xcbf2_9ce4_8422_2325)
        }

        fn add(&mut self, record: &Record) {
            for &byte in record {
                self.0 = (self.0 ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }

    /// What one side received, next to what it expected.
    struct Received {
        count: u64,
        checksum: u64,
        expected_checksum: u64,
    }

    /// The checksum of the stream `sender` sends, computed without any communication.
    fn expected_checksum(sender: Side) -> u64 {
        let mut checksum = Checksum::new();
        (0..RECORDS).for_each(|seq| checksum.add(&record(sender, seq)));
        checksum.0
    }

    /// One side's work, the same in both processes: send record `seq`, receive record `seq`.
    fn exchange(channel: &Channel, me: Side) -> Received {
        let (outgoing, incoming) = me.buffers(channel);
        let (mut count, mut checksum) = (0, Checksum::new());
        for seq in 0..RECORDS {
            outgoing.put(&record(me, seq));
            let got = incoming.take();
            let got_seq = sequence_number(&got);
            assert_eq!(got_seq, seq, "{me}: expected record {seq} from the {}, got {got_seq}", me.peer());
            checksum.add(&got);
            count += 1;
        }
        let received =
            Received { count, checksum: checksum.0, expected_checksum: expected_checksum(me.peer()) };
        assert_eq!(received.count, RECORDS, "{me}: record count");
        assert_eq!(received.checksum, received.expected_checksum, "{me}: checksum of the received stream");
        received
    }

    fn report(me: Side, received: &Received) {
        println!(
            "{me:>6}: received {} records from the {} in order, checksum {:#018x} (expected {:#018x})",
            received.count,
            me.peer(),
            received.checksum,
            received.expected_checksum
        );
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().collect();
        match args.get(1).map(String::as_str) {
            None => parent(),
            Some("child") if args.len() == 3 => child(&args[2]),
            _ => {
                eprintln!("usage: shared_memory_ipc (the child is started by the parent as: child <region>)");
                process::exit(2);
            }
        }
    }

    fn child(name: &str) {
        // The parent made the region before starting us, but `open` waits anyway: in general
        // an opener can come first, and must not read the value before the creator wrote it.
        let channel = Region::<Channel>::open(name, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("child: cannot open the region: {e}"));
        let received = exchange(&channel, Side::Child);
        report(Side::Child, &received);
    }

    fn parent() {
        let name = format!("turnstile-example-ipc-{}", process::id());
        let channel = Region::create(&name, Channel { to_child: Buffer::new(), to_parent: Buffer::new() })
            .unwrap_or_else(|e| panic!("parent: cannot create the region {name:?}: {e}"));
        // From here on the name is unlinked however the parent ends, also by a panic: a shared
        // memory object outlives every process that uses it, until it is unlinked.
        let unlink = UnlinkOnDrop(Some(name.clone()));
        println!(
            "{:>6}: created region {name:?}: two buffers of {CAPACITY} slots of {RECORD_BYTES} bytes \
             ({} bytes)",
            Side::Parent,
            std::mem::size_of::<Channel>()
        );

        let start = Instant::now();
        let exe = std::env::current_exe().expect("the path of this program");
        let child = Command::new(exe).arg("child").arg(&name).spawn().expect("start the child");
        let mut child = KillOnDrop(child);
        println!("{:>6}: started the child, pid {}", Side::Parent, child.0.id());

        let received = exchange(&channel, Side::Parent);
        let status = child.wait_at_most(CHILD_TIMEOUT);
        let elapsed = start.elapsed();
        report(Side::Parent, &received);
        assert!(status.success(), "the child failed: {status}");

        // Every record put was taken: each buffer is back to all-free.
        for buffer in [&channel.to_child, &channel.to_parent] {
            let permits = (buffer.empty.available_permits(), buffer.full.available_permits());
            assert_eq!(permits, (CAPACITY, 0), "a buffer was left with records in it");
            assert_eq!(buffer.ring.lock().len, 0);
        }
        drop(channel);
        unlink.now();

        let megabytes = (2 * RECORDS * RECORD_BYTES as u64) as f64 / 1e6;
        println!("{:>6}: child {status}; both buffers drained; region unlinked", Side::Parent);
        println!(
            "{RECORDS} records each way ({megabytes:.1} MB in all) in {:.3} s: {:.0} records/s",
            elapsed.as_secs_f64(),
            (2 * RECORDS) as f64 / elapsed.as_secs_f64()
        );
    }

    /// Unlinks the region's name when dropped (unless [`now`](Self::now) already did).
    struct UnlinkOnDrop(Option<String>);

    impl UnlinkOnDrop {
        /// Unlinks now, and fails loudly if that fails.
        fn now(mut self) {
            let name = self.0.take().expect("not yet unlinked");
            Region::<Channel>::unlink(&name).unwrap_or_else(|e| panic!("unlink {name:?}: {e}"));
        }
    }

    impl Drop for UnlinkOnDrop {
        fn drop(&mut self) {
            if let Some(name) = self.0.take() {
                if let Err(e) = Region::<Channel>::unlink(&name) {
                    eprintln!("parent: unlink {name:?}: {e}");
                }
            }
        }
    }

    /// The child process, killed if the parent leaves (by a panic) before it has exited, so
    /// that it is not left asleep on a semaphore nobody will raise.
    struct KillOnDrop(Child);

    impl KillOnDrop {
        /// Waits for the child to exit, polling, for at most `limit`; kills it and panics after.
        fn wait_at_most(&mut self, limit: Duration) -> ExitStatus {
            let deadline = Instant::now() + limit;
            loop {
                if let Some(status) = self.0.try_wait().expect("wait for the child") {
                    return status;
                }
                if Instant::now() >= deadline {
                    panic!("the child did not exit within {limit:?}; killing it");
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // `try_wait` after a successful wait returns the saved status, so this kills only
            // a child that is still running.
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
}
