#!/usr/bin/env python3
"""Medians of several runs of a criterion benchmark, from its console output.

Usage: python3 benches/medians.py run1.txt run2.txt run3.txt
where each file is the whole output of one `cargo bench --bench NAME` (stdout and stderr).
Prints one line per benchmark id: the median estimate in ns, then each run's; then, for the
benchmarks that print `fairness ...` lines, the median min/max share and the worst single run;
then, for the ids that print `counts ...` lines (futex calls and context switches per operation,
see `benches/common/mod.rs`), their medians (`n/a` figures, not counted, are left out).
The README's tables are these medians; `benches/report.py` renders them as tables.

`benches/report.py` imports `parse`, `collect` and `collect_counts` from here.
"""
import re, sys, statistics, collections

UNIT = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}

def parse(path):
    """One run's figures: ({criterion id: ns}, {fairness id: (min/max, worst run)})."""
    res, fair, name = {}, {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^fairness (\S+): min/max = ([0-9.]+) \(worst run ([0-9.]+)", line)
        if m:
            fair[m.group(1)] = (float(m.group(2)), float(m.group(3)))
            continue
        m = re.match(r"^(\S+/\S+)\s*(time:.*)?$", line.rstrip())
        if m and not line.startswith(" "):
            name = m.group(1)
            rest = m.group(2)
        else:
            rest = line.strip() if line.strip().startswith("time:") else None
        if rest and name and name not in res:
            t = re.match(r"time:\s+\[\S+ \S+ ([0-9.]+) (\S+) ", rest)
            if t:
                res[name] = float(t.group(1)) * UNIT[t.group(2)]
    return res, fair

def collect(paths):
    """Every run's figures side by side: ({id: [ns per run]}, {id: [(min/max, worst) per run]}),
    ids in order of first appearance; a run that lacks an id simply adds nothing to its list."""
    times = collections.defaultdict(list)
    fairs = collections.defaultdict(list)
    for res, fair in map(parse, paths):
        for k, v in res.items():
            times[k].append(v)
        for k, v in fair.items():
            fairs[k].append(v)
    return times, fairs

COUNTS = re.compile(r"^counts (\S+): futex/op = (\S+), cs/op = ([^\s,]+)")

def number(text):
    """A printed figure; `n/a`/`nan` (could not be counted) as nan."""
    return float("nan") if text in ("n/a", "nan") else float(text)

def parse_counts(path):
    """One run's `counts` lines: {id: {"futex": per op, "cs": per op}}."""
    out = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        m = COUNTS.match(line)
        if m:
            out[m.group(1)] = {"futex": number(m.group(2)), "cs": number(m.group(3))}
    return out

def median_or_nan(values):
    values = [v for v in values if v == v]  # nan != nan: not counted in that run
    return statistics.median(values) if values else float("nan")

def collect_counts(paths):
    """Medians over the runs of each id's counts: {id: {"futex": x, "cs": y}}, ids in order."""
    runs = collections.defaultdict(list)
    for path in paths:
        for k, v in parse_counts(path).items():
            runs[k].append(v)
    return {k: {f: median_or_nan(r[f] for r in v) for f in ("futex", "cs")} for k, v in runs.items()}

def main(paths):
    times, fairs = collect(paths)
    for k in times:
        vals = times[k]
        print(f"{k}\t{statistics.median(vals):.2f}\t" + " ".join(f"{v:.2f}" for v in vals))
    for k in fairs:
        vals = fairs[k]
        print(f"fair {k}\t{statistics.median(v[0] for v in vals):.2f}\tworst {min(v[1] for v in vals):.2f}")
    for k, v in collect_counts(paths).items():
        print(f"counts {k}\tfutex/op {v['futex']:.3g}\tcs/op {v['cs']:.3g}")

if __name__ == "__main__":
    main(sys.argv[1:])
