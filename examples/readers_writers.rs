//! The readers-writers problem three ways, as the textbook gives it: readers first, writers first,
//! and fair (a FIFO service queue). Each is one lock here, `ReaderPrefRwLock`, `WriterPrefRwLock`
//! and `FairRwLock`, and this program runs the same scripts of arriving readers and writers
//! through all three and prints the order in which they were served.
//!
//! Readers may share the data; a writer needs it alone. When both kinds wait, somebody has to go
//! first, and that choice is the policy (Courtois, Heymans and Parnas, 1971):
//!
//! * **Readers first** (the first readers-writers problem): a reader enters whenever no writer
//!   *holds* the lock, even while writers wait, and a writer's release lets the waiting readers
//!   in before any writer. A steady stream of readers can starve the writers.
//! * **Writers first** (the second problem): once a writer waits, readers that arrive after it
//!   wait behind it, and a writer's release hands the lock to a waiting writer before any reader.
//!   A steady stream of writers can starve the readers.
//! * **Fair**: one queue in arrival order. Readers that arrive one after another enter together;
//!   a reader that arrives after a queued writer enters only once that writer has left. Nobody
//!   starves.
//!
//! Neither preference lock orders writers among themselves, so for those two the program accepts
//! the writers of a run in any order.
//!
//! # The scripts
//!
//! The main thread takes the lock first (to write, or in the last script to read). Then readers
//! `R1, R2, ...` and writers `W1, W2, ...` arrive one at a time in the script's order, so that
//! their arrival order is certain. Main releases its lock, and the program records who is served
//! in what order, and which readers are inside together. Each policy's promise fixes the whole
//! order for these scripts (up to the order of writers among themselves where the policy leaves it
//! open), and the program checks exactly that, as well as that a writer is never inside with
//! anyone else. A broken promise panics and the program exits non-zero.
//!
//! # Making thread scheduling irrelevant
//!
//! Sleeps would make the demonstration depend on the machine's load. Instead the program watches
//! the threads:
//!
//! * **A thread arrives only once the one before it waits.** Right before it calls `read` or
//!   `write`, a thread sends main the path of its `/proc/thread-self` entry; main polls that
//!   thread's `stat` until the state field (the first character after the last `)`) is `S`: the
//!   thread is asleep in the lock's futex, the only place it can sleep before it gets in. (A
//!   waiter spins a hundred pauses or so before it sleeps; polling for `S` waits that out.) A
//!   thread the lock lets in at once, such as a reader beside a reader, marks itself inside
//!   instead.
//! * **Whoever gets in stays in until everybody else has settled.** Each thread, once in, marks
//!   itself inside, writes its name in a shared log, and waits for main to let it go. Main lets
//!   go only once every thread still to be served is either inside or asleep again: nothing more
//!   can happen until somebody releases the lock, so the threads inside at that moment are
//!   exactly the group the lock let in together. Main releases that group, joins its threads (so
//!   their release, and the futex wakes it makes, are done) and waits for the next settled state.
//!   A thread that a wake picks is runnable (`R`) before the waker's system call returns, so it
//!   cannot pass for settled until it has looked at the lock and got in or gone back to sleep.
//!
//! Off Linux there is no `/proc/thread-self`; the program then sleeps a fixed 50 ms wherever it
//! would have watched (a few seconds in all), which makes the results very likely rather than
//! certain.
//!
//! Run with `cargo run --release --example readers_writers`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use turnstile::rwlock::{Policy, RwLock};
use turnstile::{FairRwLock, Mutex, ReaderPrefRwLock, WriterPrefRwLock};

/// How long a thread may take to get in or fall asleep before the lock counts as stuck.
const PATIENCE: Duration = Duration::from_secs(5);
/// Off Linux: how long to give threads to get in or fall asleep, with no way to watch them.
const BLIND_SETTLE: Duration = Duration::from_millis(50);

/// How main holds the lock while the script's threads arrive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    Read,
    Write,
}

/// Who arrives, and what each policy must make of it.
struct Script {
    main: Hold,
    /// Names in arrival order: `R…` read, `W…` write.
    arrivals: &'static [&'static str],
    /// Reader-preferring, writer-preferring, fair: the order the policy promises, one name or one
    /// `[group]` of threads inside together per step, and why.
    expected: [(&'static str, &'static str); 3],
}

const SCRIPTS: [Script; 3] = [
    Script {
        main: Hold::Write,
        arrivals: &["R1", "W1", "R2", "W2", "R3"],
        expected: [
            (
                "main [R1 R2 R3] W1 W2",
                "main's release lets the waiting readers in first; writers wait for them",
            ),
            (
                "main W1 W2 [R1 R2 R3]",
                "a writer's release goes to a waiting writer; R2, R3 came after one too",
            ),
            ("main R1 W1 R2 W2 R3", "arrival order: each reader waits for the writers that came before it"),
        ],
    },
    Script {
        main: Hold::Write,
        arrivals: &["W1", "R1", "R2", "W2", "R3", "R4"],
        expected: [
            ("main [R1 R2 R3 R4] W1 W2", "all four readers go in together at main's release"),
            ("main W1 W2 [R1 R2 R3 R4]", "every reader came after a waiting writer: both writers first"),
            ("main W1 [R1 R2] W2 [R3 R4]", "arrival order; the readers between two writers go in together"),
        ],
    },
    Script {
        main: Hold::Read,
        arrivals: &["W1", "R1", "R2"],
        expected: [
            ("[main R1 R2] W1", "R1, R2 join main's read while W1 waits: only a writer inside stops them"),
            ("main W1 [R1 R2]", "R1, R2 came after the waiting W1, so they wait behind it"),
            ("main W1 [R1 R2]", "R1, R2 queued behind W1, so they wait until it has left"),
        ],
    },
];

const POLICIES: [&str; 3] = ["reader-preferring", "writer-preferring", "fair (FIFO)"];
/// Whether the policy orders writers among themselves (the preference locks do not).
const WRITERS_ORDERED: [bool; 3] = [false, false, true];

fn is_writer(name: &str) -> bool {
    name.starts_with('W')
}

/// What one run of a script shared between main and its threads.
struct Stage {
    arrivals: &'static [&'static str],
    /// Set by each thread as soon as the lock has let it in.
    entered: Vec<AtomicBool>,
    readers_inside: AtomicUsize,
    writers_inside: AtomicUsize,
    most_readers: AtomicUsize,
    /// The names in the order the threads got in.
    log: Mutex<Vec<String>>,
}

impl Stage {
    fn new(arrivals: &'static [&'static str]) -> Self {
        Stage {
            arrivals,
            entered: arrivals.iter().map(|_| AtomicBool::new(false)).collect(),
            readers_inside: AtomicUsize::new(0),
            writers_inside: AtomicUsize::new(0),
            most_readers: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Counts `name` in, checking that a writer is alone. Each side counts itself before it
    /// looks at the other (SeqCst), so of a reader and a writer inside together at least one
    /// sees the other.
    fn count_in(&self, name: &str, writes: bool) {
        if writes {
            let writers = self.writers_inside.fetch_add(1, SeqCst);
            assert_eq!(writers, 0, "{name} got the write lock while another writer held it");
            let readers = self.readers_inside.load(SeqCst);
            assert_eq!(readers, 0, "{name} got the write lock while {readers} readers held it");
        } else {
            let readers = self.readers_inside.fetch_add(1, SeqCst) + 1;
            self.most_readers.fetch_max(readers, SeqCst);
            assert_eq!(self.writers_inside.load(SeqCst), 0, "{name} got a read lock while a writer held it");
        }
    }

    fn count_out(&self, writes: bool) {
        let inside = if writes { &self.writers_inside } else { &self.readers_inside };
        inside.fetch_sub(1, SeqCst);
    }

    /// Thread `i`, just let in: counted, marked inside (before the log, whose mutex it may sleep
    /// on), logged.
    fn enter(&self, i: usize) {
        let name = self.arrivals[i];
        self.count_in(name, is_writer(name));
        self.entered[i].store(true, SeqCst);
        self.log.lock().push(name.to_string());
    }

    fn entered(&self, i: usize) -> bool {
        self.entered[i].load(SeqCst)
    }

    /// Waits until each of `pending` is inside the lock or asleep in it. `watch[i]` is thread
    /// `i`'s `/proc` stat file, if it has one.
    fn settle(&self, watch: &[Option<PathBuf>], pending: &[usize]) {
        if pending.iter().any(|&i| watch[i].is_none()) {
            thread::sleep(BLIND_SETTLE);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let unsettled: Vec<&str> = pending
                .iter()
                .filter(|&&i| {
                    let sleeping = match &watch[i] {
                        Some(stat) => asleep(stat),
                        None => true, // unwatchable: the blind sleep above stands in
                    };
                    !self.entered(i) && !sleeping
                })
                .map(|&i| self.arrivals[i])
                .collect();
            if unsettled.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{unsettled:?} neither got into the lock nor fell asleep in it within {PATIENCE:?}"
            );
            thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Whether the thread whose `/proc/.../stat` is at `stat` is asleep (state `S`: interruptible
/// sleep, here the futex wait).
fn asleep(stat: &Path) -> bool {
    // The state follows the command name, which is in parentheses and may itself contain ')'.
    let state = |text: &str| text.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    fs::read_to_string(stat).is_ok_and(|text| state(&text) == Some('S'))
}

/// One script thread: says where to watch it, takes its lock, and holds it until main says go.
fn arrive<P: Policy>(
    lock: &RwLock<u32, P>,
    stage: &Stage,
    i: usize,
    ready: mpsc::Sender<Option<PathBuf>>,
    leave: mpsc::Receiver<()>,
) {
    let name = stage.arrivals[i];
    let stat =
        fs::read_link("/proc/thread-self").ok().map(|thread| Path::new("/proc").join(thread).join("stat"));
    ready.send(stat).expect("main is waiting for this thread");
    if is_writer(name) {
        let mut version = lock.write();
        stage.enter(i);
        *version += 1;
        leave.recv().expect("main lets every thread go");
        stage.count_out(true);
    } else {
        let _reading = lock.read();
        stage.enter(i);
        leave.recv().expect("main lets every thread go");
        stage.count_out(false);
    }
}

/// What one policy made of one script.
struct Served {
    /// Who was served, step by step; each step is the group that was inside together, in
    /// script order (within a group the threads entered at once).
    groups: Vec<Vec<&'static str>>,
    most_readers: usize,
}

/// Runs `script` through `lock`: main takes it, the threads arrive one by one, main lets go and
/// watches who gets in.
fn serve<P: Policy>(lock: RwLock<u32, P>, script: &Script) -> Served {
    let stage = Stage::new(script.arrivals);
    let n = script.arrivals.len();
    let mut groups: Vec<Vec<&'static str>> = Vec::new();

    let main_writes = script.main == Hold::Write;

    thread::scope(|s| {
        let main_read = (!main_writes).then(|| lock.read());
        let main_write = main_writes.then(|| {
            let mut version = lock.write();
            *version += 1;
            version
        });
        stage.count_in("main", main_writes);

        let (ready_tx, ready_rx) = mpsc::channel();
        let mut watch = Vec::with_capacity(n);
        let mut leave = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for (i, name) in script.arrivals.iter().enumerate() {
            let (leave_tx, leave_rx) = mpsc::channel();
            let (lock, stage, ready) = (&lock, &stage, ready_tx.clone());
            let thread = thread::Builder::new()
                .name(name.to_string())
                .spawn_scoped(s, move || arrive(lock, stage, i, ready, leave_rx))
                .expect("spawn a script thread");
            threads.push(Some(thread));
            leave.push(leave_tx);
            watch.push(ready_rx.recv().expect("a script thread says where to watch it"));
            stage.settle(&watch, &[i]);
        }

        // Main's group: main, and whoever the lock let in beside it.
        let mut with_main = vec!["main"];
        with_main.extend((0..n).filter(|&i| stage.entered(i)).map(|i| script.arrivals[i]));
        groups.push(with_main);
        stage.count_out(main_writes);
        drop(main_read);
        drop(main_write);

        let mut released = vec![false; n];
        loop {
            let pending: Vec<usize> = (0..n).filter(|&i| !released[i]).collect();
            if pending.is_empty() {
                break;
            }
            stage.settle(&watch, &pending);
            let inside: Vec<usize> = pending.iter().copied().filter(|&i| stage.entered(i)).collect();
            let waiting: Vec<&str> = pending.iter().map(|&i| script.arrivals[i]).collect();
            assert!(
                !inside.is_empty(),
                "nobody holds the lock, yet {waiting:?} all sleep in it: a lost wake-up"
            );

            let last = groups.last_mut().expect("main's group comes first");
            let newcomers: Vec<&str> =
                inside.iter().map(|&i| script.arrivals[i]).filter(|name| !last.contains(name)).collect();
            if newcomers.len() < inside.len() {
                // Some of the last group are still inside: whoever joined them was inside with them.
                last.extend(newcomers);
            } else {
                groups.push(newcomers);
            }

            for &i in &inside {
                leave[i].send(()).expect("a thread inside waits to be let go");
                released[i] = true;
            }
            for &i in &inside {
                // Joined, its release (and the wakes that makes) is over before we look again.
                threads[i]
                    .take()
                    .expect("each thread is let go once")
                    .join()
                    .expect("a script thread panicked");
            }
        }
    });

    for group in &mut groups {
        // "main" has no position, and `None` sorts first.
        group.sort_by_key(|name| script.arrivals.iter().position(|a| a == name));
    }
    // The log has each group's names together, the groups in order (within one, any order).
    let mut logged = stage.log.lock().clone();
    let mut from = 0;
    for group in &groups {
        let mut names: Vec<&str> = group.iter().copied().filter(|&name| name != "main").collect();
        let segment = &mut logged[from..from + names.len()];
        segment.sort();
        names.sort();
        assert_eq!(segment, names.as_slice(), "the log shows the groups main saw, in the same order");
        from += names.len();
    }
    assert_eq!(from, logged.len(), "everyone in the log was in a group");

    let writers = script.arrivals.iter().filter(|name| is_writer(name)).count();
    let version = lock.into_inner();
    assert_eq!(version as usize, writers + usize::from(main_writes), "every writer wrote once");
    assert_eq!(stage.readers_inside.load(SeqCst) + stage.writers_inside.load(SeqCst), 0, "everyone left");

    Served { groups, most_readers: stage.most_readers.load(SeqCst) }
}

/// `"main [R1 R2] W1"` as groups.
fn parse(order: &'static str) -> Vec<Vec<&'static str>> {
    let mut groups = Vec::new();
    let mut open: Option<Vec<&'static str>> = None;
    for token in order.split_whitespace() {
        if token.starts_with('[') {
            open = Some(Vec::new());
        }
        let name = token.trim_matches(|c| c == '[' || c == ']');
        match open.as_mut() {
            Some(group) => group.push(name),
            None => groups.push(vec![name]),
        }
        if token.ends_with(']') {
            groups.push(open.take().expect("a ']' closes a '['"));
        }
    }
    groups
}

/// Groups as `parse` reads them.
fn show(groups: &[Vec<&str>]) -> String {
    let step = |group: &Vec<&str>| match group.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(" ")),
    };
    groups.iter().map(step).collect::<Vec<_>>().join(" ")
}

fn lone_writer(group: &[&str]) -> bool {
    matches!(group, [name] if is_writer(name))
}

/// `groups` with each run of writers served one after another put in name order, for a policy
/// that does not order writers among themselves.
fn writers_sorted<'a>(groups: &[Vec<&'a str>]) -> Vec<Vec<&'a str>> {
    let mut groups = groups.to_vec();
    let mut start = 1; // main's group stays first
    while start < groups.len() {
        let run = groups[start..].iter().take_while(|group| lone_writer(group)).count();
        groups[start..start + run].sort();
        start += run.max(1);
    }
    groups
}

/// The most readers the promised order has inside at once (main counts when it reads).
fn most_readers(expected: &[Vec<&str>], main: Hold) -> usize {
    let readers = |group: &Vec<&str>| {
        group
            .iter()
            .filter(|&&name| if name == "main" { main == Hold::Read } else { !is_writer(name) })
            .count()
    };
    expected.iter().map(readers).max().unwrap_or(0)
}

fn main() {
    // A broken promise ends the program at once: other threads may sleep in a lock for ever.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));

    println!("Readers and writers arrive one at a time, each once the one before it waits in the lock (or");
    println!("is inside). The orders show who was served; [..] is a group that was inside together.");
    for script in &SCRIPTS {
        let held = if script.main == Hold::Write { "the write lock" } else { "a read lock" };
        println!();
        println!("main holds {held}; {} arrive in that order:", script.arrivals.join(" "));
        let served = [
            serve(ReaderPrefRwLock::new(0), script),
            serve(WriterPrefRwLock::new(0), script),
            serve(FairRwLock::new(0), script),
        ];
        let width = served.iter().map(|s| show(&s.groups).len()).max().unwrap_or(0);
        for (p, served) in served.iter().enumerate() {
            let (order, why) = script.expected[p];
            let observed = show(&served.groups);
            let readers = served.most_readers;
            println!(
                "  {:<19} {observed:<width$}  ({readers} reading at once)  {why}",
                format!("{}:", POLICIES[p])
            );

            let expected = parse(order);
            let comparable =
                if WRITERS_ORDERED[p] { served.groups.clone() } else { writers_sorted(&served.groups) };
            let note = if WRITERS_ORDERED[p] { "" } else { " (writers in any order among themselves)" };
            assert_eq!(show(&comparable), show(&expected), "{}: the promised order{note}", POLICIES[p]);
            assert_eq!(
                readers,
                most_readers(&expected, script.main),
                "{}: readers inside at once",
                POLICIES[p]
            );
        }
    }
    println!();
    println!("Every lock kept its promise: writers alone, readers together, in each policy's order.");
}
