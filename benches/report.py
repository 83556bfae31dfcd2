#!/usr/bin/env python3
"""BENCHMARKS.md's tables (and the mutex chart), and the README's summary of them, from three
runs of each benchmark.

Regenerate them (each family's runs take the time shown; nothing else should run):

    # mutex: about 3 minutes a run (mutex ~140 s, mutex_fairness ~35 s)
    for i in 1 2 3; do
        { cargo bench --bench mutex; cargo bench --bench mutex_fairness; } > mutex$i.txt 2>&1
    done
    python3 benches/report.py --into BENCHMARKS.md --summary README.md --svg benches/mutex.svg mutex1.txt mutex2.txt mutex3.txt

    # condvar: about 50 s a run
    for i in 1 2 3; do cargo bench --bench condvar > cv$i.txt 2>&1; done
    python3 benches/report.py --family condvar --into BENCHMARKS.md --summary README.md cv1.txt cv2.txt cv3.txt

    # readers-writer locks: about 3 minutes a run
    for i in 1 2 3; do cargo bench --bench rwlock > rw$i.txt 2>&1; done
    python3 benches/report.py --family rwlock --into BENCHMARKS.md --summary README.md rw1.txt rw2.txt rw3.txt

    # semaphore (its tables have futex/op and cs/op once it prints `counts` lines)
    for i in 1 2 3; do cargo bench --bench semaphore > sem$i.txt 2>&1; done
    python3 benches/report.py --family semaphore --into BENCHMARKS.md --summary README.md sem1.txt sem2.txt sem3.txt

Each run file is the whole console output (stdout and stderr) of the benchmark(s). Every figure
is the median over the runs that have it: criterion's estimate of each id (ns per element); the
`counts` line each contended id prints after criterion's figures (futex calls and context
switches per operation, counted by every thread of the benchmark around its own measured loop,
over all of the id's samples: see `benches/common/mod.rs`, module `counts`); each
`fairness`/`latency` figure of `mutex_fairness` (for `worst run`, the lowest of all runs); each
figure of the rwlock family's `waits` lines (the longest and the p99.9 sampled wait of each lock
in each workload, and the throughput of the windows they were sampled in: see the module docs
of `benches/rwlock.rs`). A figure that could not be counted (no perf counter: `n/a` in the
output) is left out of the median, and shows as `n/a` when no run has it.

Contended tables have a row per thread count and lock: ns/op; that over the best peer in the
same runs (the faster of std and parking_lot, bold for turnstile's locks); futex/op and that over
parking_lot's; cs/op (voluntary + involuntary context switches per operation). The control row,
`parking_lot again` (the same benchmark as parking_lot on a fresh lock), shows the noise: a gap
between locks smaller than its gap to parking_lot means nothing. The rwlock family also gets a
table of waits: a row per workload and lock, max and p99.9 (medians over the runs), with the
control row there too.

--family NAME  mutex (default), condvar, rwlock or semaphore: which runs these are, and which
               part of BENCHMARKS.md they replace: the text between `<!-- NAME-bench:begin -->` and
               `<!-- NAME-bench:end -->`. BENCHMARKS.md has a pair for each family.
--into FILE    replace what is between the family's markers in FILE (BENCHMARKS.md) with the
               Markdown; without the markers, or without this option, the Markdown goes to stdout.
               Each family's part begins with a hidden `<!-- summary {...} -->` line: its headline
               ratios, for --summary.
--summary FILE rewrite the summary table between `<!-- summary-bench:begin -->` and
               `<!-- summary-bench:end -->` in FILE (README.md) from the summary lines of every
               family in the --into file (so one family's new runs update its rows, and the others
               keep theirs): a row per primitive and workload, the ratio to the faster of std and
               parking_lot uncontended and at each thread count, with each family's control row.
--svg FILE     (mutex) also draw ns/op against threads for the contended families (log scale),
               and link it from the Markdown.

Families, thread counts or locks missing from the runs (a smoke run of a few of them) leave out
their rows, columns, tables or chart lines. Criterion output is parsed by `medians.py`.
"""
import argparse
import datetime
import json
import math
import os
import re
import statistics
import sys

# Importing medians.py must not leave a __pycache__ directory among the benchmarks.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import medians  # noqa: E402

def markers(family):
    """The markers around a family's tables (in BENCHMARKS.md) or the summary (in README.md)."""
    return f"<!-- {family}-bench:begin -->", f"<!-- {family}-bench:end -->"


LATENCY = re.compile(
    r"^latency (\S+): p50 = ([0-9.]+) ns, p99 = ([0-9.]+) ns, p999 = ([0-9.]+) ns, "
    r"ns/op = ([0-9.]+), vcsw/op = ([^,\s]+), ivcsw/op = ([^,\s]+)"
    r"(?:, futex/op = ([^,\s]+), cs/op = ([^,\s]+))?"
)
LATENCY_FIELDS = ("p50", "p99", "p999", "ns_op", "vcsw", "ivcsw", "futex", "cs")
# The `counts <id>: futex/op = X, cs/op = Y (...)` lines after criterion's figures: `medians.collect_counts`.
# The rwlock family's `waits <family>/<workload>/<lock>/<threads>: max = X us, p99.9 = Y us (N sampled of
# M ops, ...; ..., ns/op = Z)` lines.
WAITS = re.compile(
    r"^waits (\S+): max = ([0-9.]+|n/a)(?: us)?, p99\.9 = ([0-9.]+|n/a)(?: us)?"
    r"(?:; writes max = ([0-9.]+|n/a)(?: us)?, p99\.9 = ([0-9.]+|n/a)(?: us)?)? "
    r"\((\d+) sampled of (\d+) ops[^)]*?(?:ns/op = ([0-9.]+))?\)"
)
WAITS_FIELDS = ("max", "p999", "wmax", "wp999", "sampled", "ops", "ns_op")
OUTSIDE = re.compile(r"^outside work: ([0-9.]+) ns per call")

# (id in the benchmarks, as the tables name it), in the tables' column order.
LOCKS = [
    ("turnstile_mutex", "`Mutex`"),
    ("std_mutex", "std"),
    ("parking_lot", "parking_lot"),
    ("parking_lot_again", "parking_lot again"),
    ("turnstile_spinlock", "`SpinLock`"),
    ("turnstile_peterson", "`Peterson`"),
    ("turnstile_fair_mutex", "`FairMutex`"),
    ("parking_lot_fair_mutex", "parking_lot `FairMutex`"),
    ("parking_lot_fair_mutex_again", "parking_lot `FairMutex` again"),
    ("turnstile_reentrant", "`ReentrantMutex`"),
    ("parking_lot_reentrant", "parking_lot `ReentrantMutex`"),
    ("parking_lot_reentrant_again", "parking_lot `ReentrantMutex` again"),
]
NAME = dict(LOCKS)
PEERS = ("std_mutex", "parking_lot")  # what `Mutex` is measured against
# The families of another kind of mutex: {family: (its peers, turnstile's lock)}; the rest use PEERS.
FAMILY_PEERS = {
    "fair_mutex": (("parking_lot_fair_mutex",), ("turnstile_fair_mutex",)),
    "reentrant": (("parking_lot_reentrant",), ("turnstile_reentrant",)),
}

# The other families: {family: (locks as (id, name), peers, turnstile's, {criterion group: description}, intro)}.
OTHER = {
    "condvar": (
        [("turnstile", "turnstile"), ("std", "std"), ("parking_lot", "parking_lot"),
         ("parking_lot_again", "parking_lot again")],
        ("std", "parking_lot"),
        ("turnstile",),
        {
            "ping_pong": "threads pass a turn around a ring through one mutex, each waiting on a condvar "
            "of its own; ns per turn (one `notify_one` hand-off).",
            "notify_all": "waiters relock the mutex after each `notify_all` and count themselves; "
            "ns per broadcast round, until every waiter has seen it (threads = waiters).",
        },
        "`cargo bench --bench condvar`: `Mutex` + `Condvar` of each crate",
    ),
    "rwlock": (
        [("turnstile_reader_pref", "`ReaderPref`"), ("turnstile_writer_pref", "`WriterPref`"),
         ("turnstile_fair", "`Fair`"), ("std", "std"), ("parking_lot", "parking_lot"),
         ("parking_lot_again", "parking_lot again")],
        ("std", "parking_lot"),
        ("turnstile_reader_pref", "turnstile_writer_pref", "turnstile_fair"),
        {
            "read_heavy": "95% reads of a `[u64; 4]`, about 50 ns of work outside between operations.",
            "read_heavy_short": "95% reads, about 10 ns of arithmetic outside: a thread is back for the "
            "lock almost at once, so readers' holds overlap more and the lock is free less often for a "
            "writer.",
            "mixed": "50% reads, about 50 ns outside: the lock changes hands between readers and writers.",
            "mixed_short": "50% reads, about 10 ns outside: the hand-overs of `mixed`, back to back.",
            "write_heavy": "90% writes, about 50 ns outside: a mutex, mostly, with a reader now and then.",
        },
        "`cargo bench --bench rwlock`: each crate's readers-writer lock",
    ),
    # Read with the `counts` lines once `benches/semaphore.rs` prints them (see `common::counts`).
    "semaphore": (
        [("turnstile", "turnstile"), ("turnstile_fair", "turnstile fair"), ("std", "std-built"),
         ("parking_lot", "parking_lot-built"), ("parking_lot_again", "parking_lot-built again")],
        ("std", "parking_lot"),
        ("turnstile", "turnstile_fair"),
        {
            "contended": "threads share a semaphore of 2 permits: acquire, 4 pauses holding it, release, "
            "1 pause outside.",
            "contended_one_permit": "2 threads over 1 permit: the semaphore as a lock.",
        },
        "`cargo bench --bench semaphore`: turnstile's `Semaphore` and the mutex-and-condvar ones",
    ),
}

FAMILIES = {
    "contended": "one increment inside the lock, one pause (~24 ns) outside: mostly the cost of "
    "handing the lock over.",
    "short_outside": "one increment inside, about {outside} of plain arithmetic outside: the releasing "
    "thread is back for the lock almost at once, so barging against handing over decides.",
    "contended_long_cs": "20 pauses (~0.5 µs) inside, one outside: waiters outlast their spinning and "
    "sleep, so this measures the spin-then-sleep policy and the wake path.",
    "with_poller": "the `short_outside` lockers plus one more thread looping `try_lock_for(1 µs)`; "
    "ns per locker operation (the poller's do not count): what timed-out waiters cost later unlocks.",
    "fair_mutex": "the `contended` workload for `FairMutex` against parking_lot's `FairMutex` (÷ divides "
    "by it): every release hands the lock to the oldest waiter, in both.",
    "reentrant": "the `contended` workload for `ReentrantMutex` (the count in a `Cell`) against parking_lot's "
    "`ReentrantMutex` (÷ divides by it).",
}
WORKLOADS = ("short_outside", "contended_long_cs")  # of the fairness harness
CHART_FAMILIES = ("contended", "short_outside", "contended_long_cs")
# (lock, label, colour, dash pattern): Okabe-Ito colours, distinct dashes for greyscale readers.
CHART_SERIES = [
    ("turnstile_mutex", "Mutex", "#0072B2", ""),
    ("turnstile_spinlock", "SpinLock", "#009E73", "2 3"),
    ("std_mutex", "std", "#D55E00", "8 4"),
    ("parking_lot", "parking_lot", "#CC79A7", "8 3 2 3"),
]


# The README's summary, per family: (primitive, uncontended group or None, contended group, lock),
# each row the lock's time over the faster peer's (std, parking_lot) in the same runs. The last row
# of each family is its control: parking_lot measured twice.
SUMMARY = {
    "mutex": [
        ("`Mutex`", "uncontended", "contended", "turnstile_mutex"),
        ("`Mutex`", None, "short_outside", "turnstile_mutex"),
        ("`Mutex`", None, "contended_long_cs", "turnstile_mutex"),
        ("`SpinLock`", "uncontended", "contended", "turnstile_spinlock"),
        ("`FairMutex` (÷ parking_lot's)", "uncontended", "fair_mutex", "turnstile_fair_mutex"),
        ("`ReentrantMutex` (÷ parking_lot's)", "uncontended", "reentrant", "turnstile_reentrant"),
        ("control: parking_lot again", None, "contended", "parking_lot_again"),
    ],
    "semaphore": [
        ("`Semaphore`", "uncontended", "contended", "turnstile"),
        ("`Semaphore::new_fair`", "uncontended", "contended", "turnstile_fair"),
        ("control: parking_lot-built again", None, "contended", "parking_lot_again"),
    ],
    "condvar": [
        ("`Condvar`", None, "ping_pong", "turnstile"),
        ("`Condvar`", None, "notify_all", "turnstile"),
        ("control: parking_lot again", None, "ping_pong", "parking_lot_again"),
    ],
    "rwlock": [
        ("`RwLock` (`WriterPrefRwLock`)", "uncontended_read", "read_heavy", "turnstile_writer_pref"),
        ("`RwLock` (`WriterPrefRwLock`)", None, "mixed", "turnstile_writer_pref"),
        ("`RwLock` (`WriterPrefRwLock`)", "uncontended_write", "write_heavy", "turnstile_writer_pref"),
        ("`ReaderPrefRwLock`", "uncontended_read", "read_heavy", "turnstile_reader_pref"),
        ("`FairRwLock`", None, "mixed", "turnstile_fair"),
        ("`FairRwLock`", None, "write_heavy", "turnstile_fair"),
        ("control: parking_lot again", None, "mixed", "parking_lot_again"),
    ],
}
SUMMARY_THREADS = (2, 4, 8, 16)
SUMMARY_LINE = re.compile(r"^<!-- summary (\{.*\}) -->$", re.M)


def summary_line(family, paths, times):
    """The hidden line at the head of a family's part of BENCHMARKS.md: its headline ratios, as JSON."""
    rows = []
    for label, uncontended, group, lock in SUMMARY[family]:
        peers = PEERS if family == "mutex" else OTHER[family][1]
        if family == "mutex" and group in FAMILY_PEERS:
            peers = FAMILY_PEERS[group][0]
        def over(key_of):
            value = times.get(key_of(lock))
            best = min((times[key_of(p)] for p in peers if key_of(p) in times), default=None)
            return None if value is None or not best else round(value / best, 4)
        row = {"primitive": label, "workload": group,
               "uncontended": over(lambda l: f"{uncontended}/{l}") if uncontended else None,
               "threads": {str(t): over(lambda l, t=t: f"{group}/{l}/{t}") for t in SUMMARY_THREADS}}
        if row["uncontended"] is not None or any(v is not None for v in row["threads"].values()):
            rows.append(row)
    newest = datetime.date.fromtimestamp(max(os.path.getmtime(p) for p in paths)).isoformat()
    return "<!-- summary " + json.dumps({"family": family, "runs": len(paths), "date": newest, "rows": rows}) + " -->"


def summary_markdown(benchmarks):
    """The README's summary table, from the summary lines of every family in `benchmarks`."""
    found = [json.loads(m.group(1)) for m in SUMMARY_LINE.finditer(open(benchmarks, encoding="utf-8").read())]
    order = list(SUMMARY)
    found.sort(key=lambda f: order.index(f["family"]) if f["family"] in order else len(order))
    rows = []
    for family in found:
        for row in family["rows"]:
            cells = [row["uncontended"]] + [row["threads"].get(str(t)) for t in SUMMARY_THREADS]
            text = ["" if c is None else fmt_ratio(c) for c in cells]
            if not row["primitive"].startswith("control"):
                text = [f"**{c}**" if c else c for c in text]
            rows.append([row["primitive"], f"`{row['workload']}`"] + text)
    dates = sorted({f["date"] for f in found})
    runs = sorted({f["runs"] for f in found})
    header = ["primitive", "workload", "uncontended"] + [f"{t} threads" for t in SUMMARY_THREADS]
    link = os.path.basename(benchmarks)
    return (
        f"Time per operation over the faster of std and parking_lot in the same run (below 1.00 is "
        f"faster), medians of {' or '.join(map(str, runs))} runs dated {' to '.join([dates[0], dates[-1]] if len(dates) > 1 else dates)} "
        f"on a 2-core machine; the threads go up to 8 times the cores. Each family's control row is "
        f"parking_lot measured twice: a gap smaller than its own means nothing. Every table, the "
        f"workloads, the futex calls and context switches per operation, fairness and waits, and the "
        f"commands: [{link}]({link}).\n\n" + table(header, "llrrrrr", rows) + "\n"
    )

def number(text):
    """A figure as printed: a decimal, or `n/a`/`nan` (not counted) as nan."""
    if text is None or text in ("n/a", "nan"):
        return math.nan
    return float(text)


def parse_fairness_harness(path):
    """One run's latency figures ({id: {field: value}}) and its outside-work calibration (ns)."""
    latency, outside = {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LATENCY.match(line)
        if m:
            latency[m.group(1)] = dict(zip(LATENCY_FIELDS, map(number, m.groups()[1:])))
            continue
        m = OUTSIDE.match(line)
        if m and outside is None:
            outside = float(m.group(1))
    return latency, outside


def median_of(values):
    """Median of the values that are numbers (a `nan` from a platform without counts is left out)."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def gather(paths):
    """Medians over the runs: criterion times, fairness (median share, worst run), latencies,
    outside-work ns."""
    times, fairs = medians.collect(paths)
    times = {k: statistics.median(v) for k, v in times.items()}
    fairs = {k: (statistics.median(s for s, _ in v), min(w for _, w in v)) for k, v in fairs.items()}
    latencies, outsides = {}, []
    for path in paths:
        latency, outside = parse_fairness_harness(path)
        for k, figures in latency.items():
            latencies.setdefault(k, []).append(figures)
        if outside is not None:
            outsides.append(outside)
    latencies = {
        k: {f: median_of(run[f] for run in runs) for f in LATENCY_FIELDS} for k, runs in latencies.items()
    }
    return times, fairs, latencies, (statistics.median(outsides) if outsides else None)


def gather_waits(paths):
    """Medians over the runs of each `waits` line: {id: {field: value}}, ids in order of first
    appearance; max and p99.9 in ns."""
    runs = {}
    for path in paths:
        for line in open(path, encoding="utf-8", errors="replace"):
            m = WAITS.match(line)
            if m:
                key, fields = m.group(1), [number(g) for g in m.groups()[1:]]
                for i in range(4):
                    fields[i] *= 1000  # µs to ns (nan stays nan)
                runs.setdefault(key, []).append(dict(zip(WAITS_FIELDS, fields)))
    return {k: {f: median_of(run[f] for run in v) for f in WAITS_FIELDS} for k, v in runs.items()}


def waits_table(family, waits, locks, workloads):
    """A row per workload, thread count and lock of the family's `waits` lines: max, p99.9,
    sampled, ns/op of the windows. None when there are none."""
    found = {}
    for key, figures in waits.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == family and parts[3].isdigit():
            found.setdefault(parts[1], {})[parts[2], int(parts[3])] = figures
    order = [w for w in workloads if w in found] + sorted(set(found) - set(workloads))
    known = [lock for lock, _ in locks]
    label = dict(locks)
    rows = []
    for workload in order:
        rows_of = found[workload]
        extra = sorted({lock for lock, _ in rows_of} - set(known))
        for t in sorted({t for _, t in rows_of}):
            first = True
            for lock in known + extra:
                figures = rows_of.get((lock, t))
                if figures is None:
                    continue
                rows.append(
                    [
                        f"{workload}, {t}" if first else "",
                        label.get(lock, f"`{lock}`"),
                        fmt_wait(figures["max"]),
                        fmt_wait(figures["p999"]),
                        fmt_wait(figures["wmax"]),
                        fmt_wait(figures["wp999"]),
                        f"{figures['sampled']:,.0f}",
                        fmt_ns(figures["ns_op"]),
                    ]
                )
                first = False
    if not rows:
        return None
    header = ["workload, threads", "lock", "max", "p99.9", "writes: max", "writes: p99.9", "sampled", "ns/op (windows)"]
    return table(header, "llrrrrrr", rows)


def split_id(key):
    """`family/lock/threads` as (family, lock, threads), or None for other ids."""
    parts = key.split("/")
    if len(parts) == 3 and parts[2].isdigit():
        return parts[0], parts[1], int(parts[2])
    return None


def by_family(figures):
    """{family: {(lock, threads): figure}} from {`family/lock/threads`: figure}."""
    out = {}
    for key, value in figures.items():
        parts = split_id(key)
        if parts:
            family, lock, threads = parts
            out.setdefault(family, {})[lock, threads] = value
    return out


def fmt_ns(ns):
    """Nanoseconds to three significant figures, whole numbers from 100 up (with separators)."""
    if ns is None or math.isnan(ns):
        return ""
    if ns < 10:
        return f"{ns:.2f}"
    if ns < 100:
        return f"{ns:.1f}"
    return f"{ns:,.0f}"


def fmt_latency(ns):
    """A latency with its unit: ns below 1000 ns, µs from there."""
    if math.isnan(ns):
        return ""
    if ns < 1000:
        return f"{ns:.0f} ns"
    us = ns / 1000
    return f"{us:.1f} µs" if us < 10 else f"{us:,.0f} µs"


def fmt_wait(ns):
    """A wait with its unit: as `fmt_latency` below a millisecond, three significant figures in ms
    from there (a preempted waiter's milliseconds read better as `14.6 ms` than as µs)."""
    if math.isnan(ns) or ns < 1e6:
        return fmt_latency(ns)
    ms = ns / 1e6
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


def fmt_ratio(r):
    """Two decimals; whole numbers from 10 up; two significant figures below 0.1 (not a bare 0.00)."""
    if r >= 10:
        return f"{r:,.0f}"
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def fmt_rate(x):
    """A small per-operation rate to two significant figures, in plain decimals."""
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def table(header, align, rows):
    """A Markdown table; `align` is one of 'l'/'r' per column."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def uncontended_table(times):
    """Table (a): one thread, against the floor and the best peer, as the README always had it."""
    get = lambda name: times.get(f"uncontended/{name}")  # noqa: E731
    floor, best = get("floor"), min((v for v in (get("std_mutex"), get("parking_lot")) if v), default=None)
    best_once = min((v for v in (get("std_once"), get("parking_lot_once")) if v), default=None)

    def ratio(value, base, label, bold):
        if value is None or base is None:
            return ""
        r = f"{value / base:.2f}"
        return f"{'**' + r + '**' if bold else r} × {label}"

    rows = []
    for name, label, base, base_label, bold in [
        ("floor", "floor: bare `swap(1)` + `store(0)`", floor, None, False),
        ("turnstile_spinlock", "turnstile `SpinLock`", floor, "floor", True),
        ("turnstile_peterson", "turnstile `Peterson` (one party)", floor, "floor", False),
        ("turnstile_mutex", "turnstile `Mutex`", best, "best peer", True),
        ("std_mutex", "`std::sync::Mutex`", None, None, False),
        ("parking_lot", "`parking_lot::Mutex`", None, None, False),
        ("turnstile_fair_mutex", "turnstile `FairMutex`", get("parking_lot_fair_mutex"), "parking_lot's", True),
        ("parking_lot_fair_mutex", "`parking_lot::FairMutex`", None, None, False),
        ("turnstile_reentrant", "turnstile `ReentrantMutex`", get("parking_lot_reentrant"), "parking_lot's", True),
        ("parking_lot_reentrant", "`parking_lot::ReentrantMutex`", None, None, False),
        ("turnstile_once", "turnstile `Once::call_once`, done", best_once, "best peer", True),
        ("std_once", "`std::sync::Once`, done", None, None, False),
        ("parking_lot_once", "`parking_lot::Once`, done", None, None, False),
    ]:
        value = get(name)
        if value is None:
            continue
        cell = "1.00" if name == "floor" else ratio(value, base, base_label, bold) if base_label else ""
        rows.append([label, fmt_ns(value), cell])
    return table(["uncontended (1 thread)", "ns/op", "ratio"], "lrr", rows) if rows else None


def fmt_over(value, base):
    """`value / base` for a ratio column; empty when either is missing, `—` when base is 0."""
    if value is None or base is None or math.isnan(value) or math.isnan(base):
        return ""
    if base == 0:
        return "1.00" if value == 0 else "—"
    return fmt_ratio(value / base)


def contended_table(family, figures, counts, locks=LOCKS, peers=PEERS, subjects=("turnstile_mutex",)):
    """Table (b): a row per thread count and lock present: ns/op, over the best peer, futex/op,
    over parking_lot's, cs/op. `figures` is {(lock, threads): ns}, `counts` {(lock, threads):
    {"futex", "cs"}}."""
    threads = sorted({t for _, t in list(figures) + list(counts)})
    present = [(lock, label) for lock, label in locks if any((lock, t) in figures for t in threads)]
    # Locks the runs have and the list does not (a peer added later): after the others, by id.
    known = {lock for lock, _ in locks}
    present += [(lock, f"`{lock}`") for lock in sorted({lock for lock, _ in figures} - known)]
    peers = [p for p in peers if any((p, t) in figures for t in threads)]
    best_label = "best peer" if len(peers) > 1 else dict(locks)[peers[0]] if peers else None
    rows = []
    for t in threads:
        best = min((figures[p, t] for p in peers if (p, t) in figures), default=None)
        # futex calls over parking_lot's lock of the same kind: the last peer.
        pl = peers[-1] if peers else "parking_lot"
        pl_futex = counts.get((pl, t), {}).get("futex")
        first = True
        for lock, label in present:
            if (lock, t) not in figures and (lock, t) not in counts:
                continue
            ns = figures.get((lock, t))
            kernel = counts.get((lock, t), {})
            over = fmt_over(ns, best)
            if over and lock in subjects:
                over = f"**{over}**"
            futex_over = fmt_over(kernel.get("futex"), pl_futex) if lock != pl else ""
            rows.append(
                [
                    str(t) if first else "",
                    label,
                    fmt_ns(ns),
                    over if best_label else "",
                    fmt_rate(kernel.get("futex", math.nan)) if kernel else "",
                    futex_over,
                    fmt_rate(kernel.get("cs", math.nan)) if kernel else "",
                ]
            )
            first = False
    header = [f"{family}, threads", "lock", "ns/op", f"÷ {best_label}" if best_label else "",
              "futex/op", "futex ÷ parking_lot", "cs/op"]
    return table(header, "llrrrrr", rows)


def fairness_table(workload, fairs, latencies):
    """Table (c) for one workload: a row per thread count and lock."""
    keys = {(lock, t) for lock, t in list(fairs) + list(latencies)}
    rows = []
    for t in sorted({t for _, t in keys}):
        first = True
        for lock, label in LOCKS:
            if (lock, t) not in keys:
                continue
            share = fairs.get((lock, t))
            lat = latencies.get((lock, t), {})
            nan = math.nan
            rows.append(
                [
                    str(t) if first else "",
                    label,
                    f"{share[0]:.2f} ({share[1]:.2f})" if share else "",
                    fmt_latency(lat.get("p50", nan)),
                    fmt_latency(lat.get("p99", nan)),
                    fmt_latency(lat.get("p999", nan)),
                    fmt_ns(lat.get("ns_op", nan)),
                    fmt_rate(lat.get("futex", nan)) if lat else "",
                    fmt_rate(lat.get("cs", nan)) if lat else "",
                    fmt_rate(lat.get("vcsw", nan)) if lat else "",
                ]
            )
            first = False
    header = [f"{workload}, threads", "lock", "min/max (worst)", "p50", "p99", "p99.9", "ns/op", "futex/op",
              "cs/op", "of which voluntary"]
    return table(header, "llrrrrrrrr", rows) if rows else None


def markdown(paths, times, fairs, latencies, counts, outside, svg_link):
    newest = datetime.date.fromtimestamp(max(os.path.getmtime(p) for p in paths))
    outside_text = f"{outside:.1f} ns" if outside else "10 ns"
    out = [
        f"Medians of {len(paths)} run{'s' if len(paths) != 1 else ''} of `cargo bench --bench mutex` and "
        f"`cargo bench --bench mutex_fairness`, every lock in the same process; the newest run is "
        f"dated {newest.isoformat()}. Regenerate with:",
        "",
        "```sh",
        "for i in 1 2 3; do",
        "    { cargo bench --bench mutex; cargo bench --bench mutex_fairness; } > mutex$i.txt 2>&1",
        "done",
        "python3 benches/report.py --into BENCHMARKS.md --summary README.md --svg benches/mutex.svg mutex1.txt mutex2.txt mutex3.txt",
        "```",
    ]
    uncontended = uncontended_table(times)
    if uncontended:
        out += ["", "Lock, add 1 to a `u64`, unlock; nanoseconds per operation, lower is better.", "", uncontended]

    contended = by_family(times)
    present = [f for f in FAMILIES if f in contended]
    if present:
        out += [
            "",
            "Contended, nanoseconds per operation of all threads together; ÷ best peer divides by the "
            "faster of std and parking_lot at the same thread count. futex/op and cs/op are the futex "
            "system calls and context switches (voluntary and involuntary) per operation, every thread "
            "counting its own around its measured loop (`counts` lines of the bench output); futex ÷ "
            "parking_lot divides by parking_lot's. `parking_lot again` is the control, the same benchmark "
            "on a fresh lock: its gap to `parking_lot` is the noise, and a gap between locks smaller than "
            "it means nothing.",
        ]
        if svg_link:
            out += ["", f"![ns per operation against threads, per contended family]({svg_link})"]
    counted = by_family(counts)
    for family in present:
        description = FAMILIES[family].format(outside=outside_text)
        peers, subjects = FAMILY_PEERS.get(family, (PEERS, ("turnstile_mutex",)))
        table_ = contended_table(family, contended[family], counted.get(family, {}), peers=peers, subjects=subjects)
        out += ["", f"**{family}**: {description}", "", table_]

    fair_by, lat_by = by_family(fairs), by_family(latencies)
    workloads = [w for w in WORKLOADS if w in fair_by or w in lat_by]
    if workloads:
        out += [
            "",
            "Fairness and latency (`mutex_fairness`: fixed windows, every acquisition timed). min/max is the "
            "fewest acquisitions of any thread over the most (1.00 = equal shares), median over rounds, "
            "with the worst round; p50/p99/p99.9 are the time from calling `lock()` to holding the lock, "
            "two clock reads included (the lowest figures, ~30 ns on a 2-core EPYC, are acquisitions "
            "that did not wait); futex/op is futex system calls per operation and cs/op context switches "
            "per operation, of which voluntary (blocked) the last column, the rest involuntary "
            "(preempted), each thread counting its own window. Timing every acquisition slows the loop, "
            "so ns/op here is for comparing locks with each other, not with the tables above.",
        ]
    for workload in workloads:
        t = fairness_table(workload, fair_by.get(workload, {}), lat_by.get(workload, {}))
        if t:
            out += ["", t]
    return "\n".join(out) + "\n"


def other_markdown(name, paths, times, fairs, counts):
    """The tables of the condvar or rwlock family: uncontended (if any), then one long table per
    contended group, then the fairness lines (if any)."""
    locks, peers, subjects, groups, intro = OTHER[name]
    label = dict(locks)
    newest = datetime.date.fromtimestamp(max(os.path.getmtime(p) for p in paths))
    n = len(paths)
    out = [
        f"Medians of {n} run{'s' if n != 1 else ''} of {intro}, every lock in the same process; the newest run "
        f"is dated {newest.isoformat()}. Regenerate with:",
        "",
        "```sh",
        f"for i in 1 2 3; do cargo bench --bench {name} > {name}$i.txt 2>&1; done",
        f"python3 benches/report.py --family {name} --into BENCHMARKS.md --summary README.md {name}1.txt {name}2.txt {name}3.txt",
        "```",
    ]
    # Uncontended groups: ids `group/lock` with no thread count.
    uncontended = {}
    for key, ns in times.items():
        parts = key.split("/")
        if len(parts) == 2 and parts[0].startswith("uncontended"):
            uncontended.setdefault(parts[0], {})[parts[1]] = ns
    if uncontended:
        columns = [lock for lock, _ in locks if any(lock in g for g in uncontended.values())]
        columns += sorted({lock for g in uncontended.values() for lock in g} - set(columns))
        rows = [[g] + [fmt_ns(v.get(lock)) for lock in columns] for g, v in uncontended.items()]
        out += ["", "Uncontended, one thread; ns per operation.", "",
                table(["uncontended"] + [label.get(lock, lock) for lock in columns], "l" + "r" * len(columns), rows)]
    contended, counted = by_family(times), by_family(counts)
    present = [g for g in groups if g in contended]
    if present:
        out += [
            "",
            "Contended: a row per thread count and lock; ÷ best peer divides by the faster of std and "
            "parking_lot at the same thread count. futex/op and cs/op are futex system calls and context "
            "switches (voluntary and involuntary) per operation, every thread counting its own around its "
            "measured loop; futex ÷ parking_lot divides by parking_lot's. `parking_lot again` is the "
            "control: its gap to `parking_lot` is the noise.",
        ]
    for group in present:
        t = contended_table(group, contended[group], counted.get(group, {}), locks, peers, subjects)
        out += ["", f"**{group}**: {groups[group]}", "", t]
    fair_rows = []
    for key, (share, worst) in fairs.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == name:
            fair_rows.append([f"{parts[1]}, {parts[3]} threads", label.get(parts[2], parts[2]), f"{share:.2f} ({worst:.2f})"])
    if fair_rows:
        out += ["", "Fairness: the fewest operations any thread completed over the most (1.00 = equal shares), "
                "median of the runs, with the worst window.", "",
                table(["workload", "lock", "min/max (worst)"], "llr", fair_rows)]
    waits = waits_table(name, gather_waits(paths), locks, list(groups))
    if waits:
        out += [
            "",
            "Waits: the time from calling `read()`/`write()` to holding the guard, in fixed windows after "
            "the criterion groups (not criterion samples), each thread timing one operation in 64. max is "
            "the longest sampled wait, p99.9 the 99.9th percentile of the sampled waits (and the same over the "
            "writes alone), each the median "
            "of the runs; sampled is how many waits each run timed (median). With more threads than cores "
            "a wait includes time the waiter or the holder spent preempted, so a max of milliseconds can be "
            "a scheduler time slice for any lock; p99.9 is steadier. ns/op is the throughput in the same "
            "windows, to read beside the waits. `parking_lot again` is the control.",
            "",
            waits,
        ]
    return "\n".join(out) + "\n"


def log_ticks(lo, hi):
    """Tick values for a log axis over [lo, hi]: 1-2-5 per decade, or a finer series when the
    range is too narrow for that to give three ticks."""
    for multiples in ((1, 2, 5), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [
            m * 10**e
            for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            for m in multiples
            if lo <= m * 10**e <= hi
        ]
        if len(ticks) >= 3:
            return ticks
    return ticks


def tick_label(v):
    return f"{v:,.0f}" if v >= 1 else f"{v:g}"


def svg(times, n_runs):
    """A hand-written SVG: one log-scale panel per contended family, one line per lock. None when
    no family has data."""
    data = by_family(times)
    charted = {s[0] for s in CHART_SERIES}
    panels = [f for f in CHART_FAMILIES if any(lock in charted for lock, _ in data.get(f, {}))]
    if not panels:
        return None
    width, height = 900, 400
    left, right, gap, top, bottom = 64, 16, 56, 112, 54
    pw = (width - left - right - gap * (len(panels) - 1)) / len(panels)
    ph = height - top - bottom
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")  # noqa: E731
    el = []
    el.append(f'<rect width="{width}" height="{height}" fill="#ffffff"/>')
    el.append(
        f'<text x="{width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">'
        f"Contended lock/increment/unlock: ns per operation (log scale, lower is better)</text>"
    )
    el.append(
        f'<text x="{width / 2}" y="46" text-anchor="middle" font-size="12" fill="#555">'
        f"all threads together; medians of {n_runs} run{'s' if n_runs != 1 else ''} of "
        f"cargo bench --bench mutex</text>"
    )
    # Legend: the series that appear in any panel.
    shown = [s for s in CHART_SERIES if any(lock == s[0] for f in panels for lock, _ in data[f])]
    lx = width / 2 - len(shown) * 115 / 2
    for lock, label, colour, dash in shown:
        el.append(
            f'<line x1="{lx:.1f}" y1="70" x2="{lx + 30:.1f}" y2="70" stroke="{colour}" stroke-width="2.5" '
            f'stroke-dasharray="{dash}"/><circle cx="{lx + 15:.1f}" cy="70" r="3.5" fill="{colour}"/>'
            f'<text x="{lx + 36:.1f}" y="74" font-size="13">{esc(label)}</text>'
        )
        lx += 115
    for i, family in enumerate(panels):
        x0 = left + i * (pw + gap)
        points = {s[0]: sorted((t, v) for (lock, t), v in data[family].items() if lock == s[0]) for s in shown}
        values = [v for pts in points.values() for _, v in pts]
        threads = sorted({t for pts in points.values() for t, _ in pts})
        lo, hi = min(values), max(values)
        lo, hi = lo / 1.2, hi * 1.2
        if hi / lo < 3:  # a narrow range: widen it around its middle so the ticks have room
            mid = math.sqrt(lo * hi)
            lo, hi = mid / math.sqrt(3), mid * math.sqrt(3)
        y = lambda v: top + ph * (1 - (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)))  # noqa: E731
        t_lo, t_hi = math.log2(threads[0]), math.log2(threads[-1])
        if t_hi == t_lo:
            x = lambda t: x0 + pw / 2  # noqa: E731
        else:
            x = lambda t: x0 + 18 + (pw - 36) * (math.log2(t) - t_lo) / (t_hi - t_lo)  # noqa: E731
        el.append(f'<text x="{x0 + pw / 2:.1f}" y="{top - 12}" text-anchor="middle" font-size="14" '
                  f'font-weight="bold">{esc(family)}</text>')
        for tick in log_ticks(lo, hi):
            ty = y(tick)
            el.append(f'<line x1="{x0:.1f}" y1="{ty:.1f}" x2="{x0 + pw:.1f}" y2="{ty:.1f}" stroke="#e4e4e4"/>')
            el.append(f'<text x="{x0 - 6:.1f}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" '
                      f'fill="#333">{tick_label(tick)}</text>')
        el.append(f'<rect x="{x0:.1f}" y="{top}" width="{pw:.1f}" height="{ph}" fill="none" stroke="#888"/>')
        for t in threads:
            el.append(f'<line x1="{x(t):.1f}" y1="{top + ph}" x2="{x(t):.1f}" y2="{top + ph + 5}" stroke="#888"/>')
            el.append(f'<text x="{x(t):.1f}" y="{top + ph + 19}" text-anchor="middle" font-size="12">{t}</text>')
        el.append(f'<text x="{x0 + pw / 2:.1f}" y="{top + ph + 40}" text-anchor="middle" font-size="12">'
                  f"threads</text>")
        cy = top + ph / 2
        el.append(f'<text x="{x0 - 44:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="12" '
                  f'transform="rotate(-90 {x0 - 44:.1f} {cy:.1f})">ns/op</text>')
        for lock, label, colour, dash in shown:
            pts = points[lock]
            if not pts:
                continue
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            el.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
                      f'stroke-dasharray="{dash}"/>')
            for t, v in pts:
                el.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                          f"<title>{esc(label)}, {t} threads: {fmt_ns(v)} ns/op</title></circle>")
    body = "\n".join(el)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">\n{body}\n</svg>\n'
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="mutex", choices=["mutex"] + list(OTHER),
                    help="which benchmark's runs these are (default: mutex)")
    ap.add_argument("--into", help="Markdown file with the family's markers to rewrite (BENCHMARKS.md)")
    ap.add_argument("--summary", help="Markdown file whose summary table to rewrite from the --into file (README.md)")
    ap.add_argument("--svg", help="(mutex) where to write the chart")
    ap.add_argument("runs", nargs="+", help="console output of one run of the family's benchmark(s), per file")
    args = ap.parse_args()

    times, fairs, latencies, outside = gather(args.runs)
    counts = medians.collect_counts(args.runs)
    if args.family != "mutex":
        if not times and not fairs:
            sys.exit(f"report.py: no {args.family} benchmark figures in " + ", ".join(args.runs) + "; nothing written")
        md = other_markdown(args.family, args.runs, times, fairs, counts)
        write(args.into, args.family, summary_line(args.family, args.runs, times) + "\n\n" + md)
        summarize(args)
        return
    if not (by_family(times) or by_family(fairs) or by_family(latencies) or uncontended_table(times)):
        sys.exit("report.py: no mutex benchmark figures in " + ", ".join(args.runs) + "; nothing written")
    svg_link = None
    if args.svg:
        chart = svg(times, len(args.runs))
        if chart is None:
            print(f"report.py: no contended family in the runs; {args.svg} not written", file=sys.stderr)
        else:
            with open(args.svg, "w", encoding="utf-8") as f:
                f.write(chart)
            base = os.path.dirname(os.path.abspath(args.into)) if args.into else os.getcwd()
            svg_link = os.path.relpath(os.path.abspath(args.svg), base).replace(os.sep, "/")
    md = markdown(args.runs, times, fairs, latencies, counts, outside, svg_link)
    write(args.into, "mutex", summary_line("mutex", args.runs, times) + "\n\n" + md)
    summarize(args)


def summarize(args):
    """With --summary: the summary table, from every family's summary line in the --into file."""
    if not args.summary:
        return
    if not args.into:
        sys.exit("report.py: --summary reads the families' summary lines from the --into file; give both")
    write(args.summary, "summary", summary_markdown(args.into), what="table")


def write(readme, family, md, what="tables"):
    """The Markdown between the family's markers in `readme`, or on stdout."""
    begin, end_marker = markers(family)
    if readme:
        text = open(readme, encoding="utf-8").read()
        start, end = text.find(begin), text.find(end_marker)
        if start != -1 and end > start:
            # Blank lines around the Markdown, so that the markers are not read as part of a table.
            text = text[: start + len(begin)] + "\n\n" + md + "\n" + text[end:]
            with open(readme, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"report.py: wrote the {family} {what} into {readme}", file=sys.stderr)
            return
        print(f"report.py: no {begin} ... {end_marker} markers in {readme}; the Markdown follows on stdout",
              file=sys.stderr)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
