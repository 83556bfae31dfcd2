#!/usr/bin/env python3
"""The README's mutex benchmark tables and chart, from several runs of the two mutex benchmarks.

Usage:
    python3 benches/report.py [--readme README.md] [--svg benches/mutex.svg] run1.txt run2.txt ...

Each run file is the whole console output (stdout and stderr) of `cargo bench --bench mutex`
followed by `cargo bench --bench mutex_fairness`. Every figure is the median over the runs that
have it: criterion's estimate of each id (ns per element), and each `fairness`/`latency` figure of
the fairness harness (for `worst run`, the lowest of all runs).

--readme FILE  replace what is between the markers `<!-- mutex-bench:begin -->` and
               `<!-- mutex-bench:end -->` in FILE with the Markdown; without the markers, or
               without this option, the Markdown goes to stdout instead.
--svg FILE     also draw ns/op against threads for the contended families (log scale), and link
               it from the Markdown.

Families, thread counts or locks missing from the runs (a smoke run of a few of them) leave out
their rows, columns, tables or chart lines. Criterion output is parsed by `medians.py`.
"""
import argparse
import datetime
import math
import os
import re
import statistics
import sys

# Importing medians.py must not leave a __pycache__ directory among the benchmarks.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import medians  # noqa: E402

BEGIN, END = "<!-- mutex-bench:begin -->", "<!-- mutex-bench:end -->"

LATENCY = re.compile(
    r"^latency (\S+): p50 = ([0-9.]+) ns, p99 = ([0-9.]+) ns, p999 = ([0-9.]+) ns, "
    r"ns/op = ([0-9.]+), vcsw/op = (\S+), ivcsw/op = (\S+)"
)
LATENCY_FIELDS = ("p50", "p99", "p999", "ns_op", "vcsw", "ivcsw")
OUTSIDE = re.compile(r"^outside work: ([0-9.]+) ns per call")

# (id in the benchmarks, as the tables name it), in the tables' column order.
LOCKS = [
    ("turnstile_mutex", "`Mutex`"),
    ("std_mutex", "std"),
    ("parking_lot", "parking_lot"),
    ("parking_lot_again", "parking_lot again"),
    ("turnstile_spinlock", "`SpinLock`"),
    ("turnstile_peterson", "`Peterson`"),
]
NAME = dict(LOCKS)
PEERS = ("std_mutex", "parking_lot")  # what `Mutex` is measured against

FAMILIES = {
    "contended": "one increment inside the lock, one pause (~24 ns) outside: mostly the cost of "
    "handing the lock over.",
    "short_outside": "one increment inside, about {outside} of plain arithmetic outside: the releasing "
    "thread is back for the lock almost at once, so barging against handing over decides.",
    "contended_long_cs": "20 pauses (~0.5 µs) inside, one outside: waiters outlast their spinning and "
    "sleep, so this measures the spin-then-sleep policy and the wake path.",
    "with_poller": "the `short_outside` lockers plus one more thread looping `try_lock_for(1 µs)`; "
    "ns per locker operation (the poller's do not count): what timed-out waiters cost later unlocks.",
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


def parse_fairness_harness(path):
    """One run's latency figures ({id: {field: value}}) and its outside-work calibration (ns)."""
    latency, outside = {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LATENCY.match(line)
        if m:
            latency[m.group(1)] = dict(zip(LATENCY_FIELDS, map(float, m.groups()[1:])))
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


def fmt_ratio(r):
    """Two decimals, or two significant figures for a ratio below 0.1 (not a bare 0.00)."""
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
    ]:
        value = get(name)
        if value is None:
            continue
        cell = "1.00" if name == "floor" else ratio(value, base, base_label, bold) if base_label else ""
        rows.append([label, fmt_ns(value), cell])
    return table(["uncontended (1 thread)", "ns/op", "ratio"], "lrr", rows) if rows else None


def contended_table(family, figures):
    """Table (b): rows = thread count, a column per lock present, `Mutex` over the best peer and the
    control's spread."""
    threads = sorted({t for _, t in figures})
    locks = [lock for lock, _ in LOCKS if any((lock, t) in figures for t in threads)]
    peers = [p for p in PEERS if p in locks]
    header = [f"{family}, threads"] + [NAME[lock] for lock in locks]
    has_ratio = "turnstile_mutex" in locks and peers
    if has_ratio:
        header.append("`Mutex` ÷ " + ("best peer" if len(peers) > 1 else NAME[peers[0]]))
    has_spread = "parking_lot" in locks and "parking_lot_again" in locks
    if has_spread:
        header.append("control spread")
    rows = []
    for t in threads:
        row = [str(t)] + [fmt_ns(figures.get((lock, t))) for lock in locks]
        if has_ratio:
            mutex = figures.get(("turnstile_mutex", t))
            best = min((figures[p, t] for p in peers if (p, t) in figures), default=None)
            row.append(f"**{fmt_ratio(mutex / best)}**" if mutex and best else "")
        if has_spread:
            a, b = figures.get(("parking_lot", t)), figures.get(("parking_lot_again", t))
            row.append(f"{abs(a - b) / min(a, b) * 100:.0f}%" if a and b else "")
        rows.append(row)
    return table(header, "l" + "r" * (len(header) - 1), rows)


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
                    fmt_rate(lat.get("vcsw", nan)) if lat else "",
                    fmt_rate(lat.get("ivcsw", nan)) if lat else "",
                ]
            )
            first = False
    header = [f"{workload}, threads", "lock", "min/max (worst)", "p50", "p99", "p99.9", "ns/op", "vcsw/op", "ivcsw/op"]
    return table(header, "llrrrrrrr", rows) if rows else None


def markdown(paths, times, fairs, latencies, outside, svg_link):
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
        "python3 benches/report.py --readme README.md --svg benches/mutex.svg mutex1.txt mutex2.txt mutex3.txt",
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
            "Contended, nanoseconds per operation of all threads together. `Mutex` ÷ best peer divides by "
            "the faster of std and parking_lot. `parking_lot again` is the control, the same benchmark on "
            "a fresh lock: its spread from `parking_lot` is the noise, and a gap between locks smaller "
            "than it means nothing.",
        ]
        if svg_link:
            out += ["", f"![ns per operation against threads, per contended family]({svg_link})"]
    for family in present:
        description = FAMILIES[family].format(outside=outside_text)
        out += ["", f"**{family}**: {description}", "", contended_table(family, contended[family])]

    fair_by, lat_by = by_family(fairs), by_family(latencies)
    workloads = [w for w in WORKLOADS if w in fair_by or w in lat_by]
    if workloads:
        out += [
            "",
            "Fairness and latency (`mutex_fairness`: fixed windows, every acquisition timed). min/max is the "
            "fewest acquisitions of any thread over the most (1.00 = equal shares), median over rounds, "
            "with the worst round; p50/p99/p99.9 are the time from calling `lock()` to holding the lock, "
            "two clock reads included (the lowest figures, ~30 ns on a 2-core EPYC, are acquisitions "
            "that did not wait); vcsw/ivcsw are voluntary (blocked) and involuntary "
            "(preempted) context switches per operation. Timing every acquisition slows the loop, so "
            "ns/op here is for comparing locks with each other, not with the tables above.",
        ]
    for workload in workloads:
        t = fairness_table(workload, fair_by.get(workload, {}), lat_by.get(workload, {}))
        if t:
            out += ["", t]
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
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", help="Markdown file with the mutex-bench markers to rewrite")
    ap.add_argument("--svg", help="where to write the chart")
    ap.add_argument("runs", nargs="+", help="console output of one run of both benchmarks, per file")
    args = ap.parse_args()

    times, fairs, latencies, outside = gather(args.runs)
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
            base = os.path.dirname(os.path.abspath(args.readme)) if args.readme else os.getcwd()
            svg_link = os.path.relpath(os.path.abspath(args.svg), base).replace(os.sep, "/")
    md = markdown(args.runs, times, fairs, latencies, outside, svg_link)

    if args.readme:
        text = open(args.readme, encoding="utf-8").read()
        start, end = text.find(BEGIN), text.find(END)
        if start != -1 and end > start:
            # Blank lines around the Markdown, so that the markers are not read as part of a table.
            text = text[: start + len(BEGIN)] + "\n\n" + md + "\n" + text[end:]
            with open(args.readme, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"report.py: wrote the tables into {args.readme}", file=sys.stderr)
            return
        print(f"report.py: no {BEGIN} ... {END} markers in {args.readme}; the Markdown follows on stdout",
              file=sys.stderr)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
