#!/usr/bin/env python3
"""Runs every benchmark workload for libprocessing, Python's multiprocessing and the raw
floor, and prints one markdown table with the ratios (targets: PERFORMANCE.md; results: BENCHMARKS.md).

Build and run, from the repository root:

    cmake --preset release && cmake --build --preset release --target bench && python3 bench/run.py

Options:
    --build-dir DIR  where the bench programs are (default build/release/bench)
    --only NAME      run one workload (repeatable)
    --reps R         timed repetitions per program (default 5; quote medians of >= 5)
    --rounds K       run every program K times, interleaved (lib, floor, Python, lib, ...),
                     pooling the repetitions: the machine drifts over minutes (default 3)
    --scale F        multiply every iteration count by F (e.g. 0.1 for a quick look)
    --write          also rewrite the generated part of BENCHMARKS.md with this run
    --list           list the workloads and exit

Each program (bench/<prog>.c, or bench/peers.py for Python) takes
`<workload> --reps R --iters N` and prints `<workload> <metric>=<v1>,...,<vR>`, one value
per repetition; metric is ns_per_op (lower is better) or ops_per_s (higher is better).

Adding a workload: one mode in a C program using the library (bench_<area>.c), one in a
raw-floor C program (raw_<area>.c, libc/pthread only), one @peer function in peers.py,
and one Workload(...) line in WORKLOADS below. New C files also go in
bench/CMakeLists.txt's program lists. A workload may have several floors; a floor runs
the workload's mode unless its entry names another one (a variant in the same program),
for the "raw" iteration count unless the workload's iters name its label. A floor whose
program is in OPTIONAL_PROGRAMS (built only where its library was found) and was not built
is shown as "not built" instead of stopping the run.

Ratios are ratios of cost (time per operation; 1/throughput for throughput workloads),
whatever the workload's unit: "lib/raw" > 1 means libprocessing is that many times slower
than the floor, "Python/lib" > 1 means libprocessing is that many times faster than Python.
Targets are checked in the workload's own unit, as PERFORMANCE.md words them.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEERS = BENCH_DIR / "peers.py"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
COMMAND = (
    "cmake --preset release && cmake --build --preset release --target bench"
    " && python3 bench/run.py"
)

NS_PER_OP = "ns_per_op"  # lower is better
OPS_PER_S = "ops_per_s"  # higher is better

# Display units: name -> (metric the programs print, factor from metric to display).
UNITS = {
    "ns/op": (NS_PER_OP, 1.0),
    "ns/increment": (NS_PER_OP, 1.0),
    "µs/op": (NS_PER_OP, 1e-3),
    "µs/round trip": (NS_PER_OP, 1e-3),
    "ms/op": (NS_PER_OP, 1e-6),
    "M msg/s": (OPS_PER_S, 1e-6),
    "k tasks/s": (OPS_PER_S, 1e-3),
    "M tasks/s": (OPS_PER_S, 1e-6),
    "M elements/s": (OPS_PER_S, 1e-6),
    "GB/s": (OPS_PER_S, 1e-9),  # ops are bytes
}


@dataclass
class Target:
    """lib must be at most (lower is better) or at least (higher is better) `factor` times
    the reference: "raw" (the first floor), "python", a floor's label, or "abs" (then
    `factor` is an absolute value in the workload's display unit)."""

    ref: str
    factor: float

    def text(self, lower_is_better, unit=""):
        rel = "≤" if lower_is_better else "≥"
        if self.ref == "abs":
            return f"{rel} {self.factor:g} {unit}".rstrip()
        return f"{rel} {self.factor:g}× {'Python' if self.ref == 'python' else self.ref}"


@dataclass
class Workload:
    name: str  # the row's id, and the mode passed to the programs unless `mode` is set
    title: str
    unit: str  # a key of UNITS
    lib: str  # C program (in the build dir) using libprocessing
    raw: list  # [(label, C program[, mode])]; the first is the floor used for lib/raw
    iters: dict  # default iterations per implementation: {"lib": N, "raw": N, "python": N},
    #              and optionally per floor label (a slower floor runs fewer)
    targets: list = field(default_factory=list)
    peer: bool = True  # peers.py has this workload
    pin: bool = False  # run under `taskset -c 0` (one CPU)
    mode: str = ""

    @property
    def metric(self):
        return UNITS[self.unit][0]

    @property
    def lower_is_better(self):
        return self.metric == NS_PER_OP

    def label(self):
        return f"{self.title} ({'one CPU, taskset -c 0' if self.pin else 'unpinned'})"

    def floors(self):
        """[(label, program, mode)]: a floor's own mode when given, else the workload's."""
        return [(f[0], f[1], f[2] if len(f) > 2 else (self.mode or self.name))
                for f in self.raw]


# Floor programs that are built only where their library was found at configure time:
# program -> what it needs. A missing one is shown as "not built" in its rows.
OPTIONAL_PROGRAMS = {
    "boost_queue": "Boost.Interprocess headers (libboost-dev) when CMake configured bench/",
}

# The floors of the map_array rows: the loop calling the same element function as the
# workers (the target's), and the loop the compiler vectorizes once it inlines the arithmetic.
MAP_ARRAY_FLOORS = [("single-process loop", "raw_pool", "pool_map_array_cpu"),
                    ("single-process loop, inlined and vectorized", "raw_pool",
                     "pool_map_array_cpu_inlined")]

# The workload table: one line per row of BENCHMARKS.md, in PERFORMANCE.md's order.
WORKLOADS = [
    # Pipes: bench_connection.c, raw_connection.c (a socketpair with the same framing).
    Workload("pipe_pingpong", "Pipe round trip, 64 B (send_bytes/recv_bytes ping-pong)",
             "µs/round trip", lib="bench_connection", raw=[("socketpair", "raw_connection")],
             iters={"lib": 50_000, "raw": 50_000, "python": 5_000},
             targets=[Target("raw", 1.1)], pin=True),
    Workload("pipe_throughput", "Pipe throughput, 1 MiB messages, one direction", "GB/s",
             lib="bench_connection", raw=[("socketpair", "raw_connection")],
             iters={"lib": 2000, "raw": 2000, "python": 200},
             targets=[Target("raw", 0.9)]),
    # Queues: bench_queue.c, raw_queue.c (a shared-memory ring, POSIX mq, a pipe, a
    # socketpair) and boost_queue (raw_queue.c with boost_queue.cpp's message_queue).
    Workload("queue_1to1_64b", "Queue 1 producer → 1 consumer, 64 B messages", "M msg/s",
             lib="bench_queue",
             raw=[("shm ring + futex", "raw_queue"),
                  ("Boost message_queue (depth 256)", "boost_queue", "queue_1to1_64b_boost"),
                  ("POSIX mq", "raw_queue", "queue_1to1_64b_mq")],
             iters={"lib": 3_000_000, "raw": 3_000_000, "python": 200_000,
                    "Boost message_queue (depth 256)": 2_000_000, "POSIX mq": 500_000},
             targets=[Target("abs", 10), Target("python", 40),
                      Target("Boost message_queue (depth 256)", 1.5)]),
    Workload("queue_2to2_64b", "Queue 2 producers → 2 consumers, 64 B messages", "M msg/s",
             lib="bench_queue", raw=[("pipe", "raw_queue")],
             iters={"lib": 2_000_000, "raw": 1_000_000, "python": 200_000},
             targets=[Target("python", 20)]),
    Workload("queue_1to1_64k", "Queue 1 producer → 1 consumer, 64 KiB messages", "GB/s",
             lib="bench_queue",
             raw=[("socketpair", "raw_queue"),
                  ("shm ring + futex", "raw_queue", "queue_1to1_64k_ring")],
             iters={"lib": 20_000, "raw": 20_000, "python": 5_000},
             targets=[Target("raw", 0.8)]),
    Workload("process_start_join", "Process start + join, empty target", "µs/op",
             lib="bench_process", raw=[("fork+_exit+waitpid", "raw_process")],
             iters={"lib": 2000, "raw": 2000, "python": 300},
             targets=[Target("raw", 1.3)]),
    # Synchronization: bench_sync.c, raw_sync.c. The lib's Lock takes over from a dead
    # holder, so its floor is a robust mutex; the plain one is shown beside it.
    Workload("lock_uncontended", "Lock acquire + release, uncontended, one process", "ns/op",
             lib="bench_sync",
             raw=[("robust pshared mutex", "raw_sync"),
                  ("pshared mutex", "raw_sync", "lock_uncontended_plain")],
             iters={"lib": 20_000_000, "raw": 20_000_000, "python": 1_000_000},
             targets=[Target("abs", 12)]),
    Workload("lock_increment", "2 processes increment a shared int under one Lock",
             "ns/increment", lib="bench_sync",
             raw=[("robust pshared mutex", "raw_sync"),
                  ("pshared mutex", "raw_sync", "lock_increment_plain")],
             iters={"lib": 1_000_000, "raw": 1_000_000, "python": 50_000},
             targets=[Target("robust pshared mutex", 1.5)]),
    Workload("event_pingpong", "Event set/wait ping-pong", "µs/round trip",
             lib="bench_sync", raw=[("futex", "raw_sync")],
             iters={"lib": 50_000, "raw": 50_000, "python": 5_000},
             targets=[Target("raw", 1.3)], pin=True),
    Workload("semaphore_pingpong", "Semaphore release/acquire ping-pong", "µs/round trip",
             lib="bench_sync", raw=[("pshared sem_t", "raw_sync")],
             iters={"lib": 50_000, "raw": 50_000, "python": 5_000}, pin=True),
    Workload("condition_pingpong", "Condition wait_for/notify turns", "µs/round trip",
             lib="bench_sync", raw=[("pshared pthread_cond + mutex", "raw_sync")],
             iters={"lib": 50_000, "raw": 50_000, "python": 5_000}, pin=True),
    # Pools: bench_pool.c (one pool of 2 workers per program, made untimed), raw_pool.c
    # (forked workers on a shared task pipe and result pipe, ints as their 8 bytes; the
    # single-process loop for map_array). map_array has no Python peer (peers.py says why).
    Workload("pool_map_100k_default", "Pool map, 100k trivial tasks, default chunksize",
             "M tasks/s", lib="bench_pool", raw=[],
             iters={"lib": 2_000_000, "python": 500_000},
             targets=[Target("python", 2)]),
    Workload("pool_map_10k_chunk1", "Pool map, 10k trivial tasks, chunksize 1", "k tasks/s",
             lib="bench_pool", raw=[("2 workers, pipes, no serialization", "raw_pool")],
             iters={"lib": 200_000, "raw": 200_000, "python": 10_000},
             targets=[Target("python", 10)]),
    Workload("pool_apply_async_rtt", "Pool apply_async + get, one at a time",
             "µs/round trip", lib="bench_pool", raw=[("pipe round trip, 1 worker", "raw_pool")],
             iters={"lib": 10_000, "raw": 10_000, "python": 1_000},
             targets=[Target("raw", 1.3)]),
    Workload("pool_apply_async_rtt_1cpu", "Pool apply_async + get, one at a time",
             "µs/round trip", lib="bench_pool", raw=[("pipe round trip, 1 worker", "raw_pool")],
             iters={"lib": 20_000, "raw": 20_000, "python": 2_000},
             targets=[Target("raw", 1.3)], pin=True, mode="pool_apply_async_rtt"),
    Workload("pool_map_array_cpu", "Pool map_array, CPU-bound element function, 2 workers",
             "M elements/s", lib="bench_pool", raw=MAP_ARRAY_FLOORS,
             iters={"lib": 2_000_000, "raw": 1_000_000},
             targets=[Target("single-process loop", 1.8)], peer=False),
    # The same with each worker pinned to its own CPU by its initializer: this kernel packs
    # busy tasks onto as few vCPUs as it can (sched_vcpu_pack), often both workers on one.
    # For reading beside the row above (no target of its own).
    Workload("pool_map_array_cpu_spread",
             "Pool map_array, CPU-bound element function, 2 workers bound one per CPU",
             "M elements/s", lib="bench_pool", raw=MAP_ARRAY_FLOORS,
             iters={"lib": 2_000_000, "raw": 1_000_000}, targets=[], peer=False),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def library_revision():
    """HEAD's short hash, marked when the library's own sources differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        rev = git("rev-parse", "--short", "HEAD")
        if git("status", "--porcelain", "--", "src", "include", "Cargo.toml", "Cargo.lock",
               "build.rs"):
            rev += " + uncommitted library changes"
        return rev
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"


def machine_line():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    online = os.cpu_count()
    usable = len(os.sched_getaffinity(0))
    cpus = f"{online} CPUs" if usable == online else f"{online} CPUs ({usable} usable)"
    uname = platform.uname()
    rev = library_revision()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {cpus}, {model}, {uname.system} {uname.release} {uname.machine}; "
            f"Python {platform.python_version()}; libprocessing {rev}; {date}")


LINE = re.compile(r"^(\S+) (ns_per_op|ops_per_s)=([-+0-9.eE,]+)$")


def run_program(cmd, mode, workload):
    """Runs one program for `mode`, returns its per-repetition values in the workload's
    metric."""
    log("  $ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    for line in proc.stdout.splitlines():
        m = LINE.match(line.strip())
        if m and m.group(1) == mode:
            if m.group(2) != workload.metric:
                raise RuntimeError(f"{cmd[0]} printed {m.group(2)}, expected {workload.metric}")
            return [float(v) for v in m.group(3).split(",")]
    raise RuntimeError(f"{cmd[0]} printed no result line: {proc.stdout!r}")


def built(build_dir, prog):
    return (build_dir / prog).is_file()


def commands(w, build_dir, reps, scale):
    """[(column, label, mode, cmd)] for the workload: lib, the floors (but optional ones
    not built), Python."""
    mode = w.mode or w.name

    def args(kind, mode=mode):
        iters = max(1, round((w.iters[kind] if kind in w.iters else w.iters["raw"]) * scale))
        return [mode, "--reps", str(reps), "--iters", str(iters)]

    pin = ["taskset", "-c", "0"] if w.pin else []
    out = [("lib", "libprocessing", mode, pin + [str(build_dir / w.lib)] + args("lib"))]
    for label, prog, raw_mode in w.floors():
        if built(build_dir, prog):
            out.append(("raw", label, raw_mode,
                        pin + [str(build_dir / prog)] + args(label, raw_mode)))
    if w.peer:
        out.append(("python", "Python", mode,
                    pin + [sys.executable, str(PEERS)] + args("python")))
    return out


@dataclass
class Stats:
    median: float
    lo: float
    hi: float
    n: int


def stats(values, factor):
    v = [x * factor for x in values]
    return Stats(statistics.median(v), min(v), max(v), len(v))


def fmt(x):
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell(s, unit, spread=True):
    if s is None:
        return "—"
    if spread:
        return f"{fmt(s.median)} {unit} ({fmt(s.lo)}–{fmt(s.hi)})"
    return f"{fmt(s.median)} {unit}"


def run_workload(w, build_dir, reps, rounds, scale):
    """Runs every implementation `rounds` times, interleaved; returns {label: Stats}."""
    cmds = commands(w, build_dir, reps, scale)
    values = {label: [] for _, label, _, _ in cmds}
    for r in range(rounds):
        log(f"{w.name}: round {r + 1}/{rounds}")
        for _, label, mode, cmd in cmds:
            values[label] += run_program(cmd, mode, w)
    factor = UNITS[w.unit][1]
    return cmds, {label: stats(v, factor) for label, v in values.items()}


def row(w, cmds, results):
    unit = w.unit
    lib = results["libprocessing"]
    floors = [(label, results[label]) for col, label, _, _ in cmds if col == "raw"]
    python = results.get("Python")

    def cost(s):
        return s.median if w.lower_is_better else 1.0 / s.median

    ran = {label for _, label, _, _ in cmds}
    raw_cell = "; ".join(f"{cell(results[label], unit)} [{label}]" if label in ran
                         else f"— [{label}: not built]" for label, _, _ in w.floors()) or "—"
    first = w.floors()[0][0] if w.floors() else None
    lib_raw = f"{cost(lib) / cost(results[first]):.2f}×" if first in ran else "—"
    py_lib = f"{cost(python) / cost(lib):.1f}×" if python else "—"

    refs = {"python": python, **{label: s for label, s in floors}}
    if first in ran:
        refs["raw"] = results[first]
    checks = []
    for t in w.targets:
        ref = 1.0 if t.ref == "abs" else (refs[t.ref].median if refs.get(t.ref) else None)
        if ref is None:
            checks.append(f"{t.text(w.lower_is_better, unit)} ?")
            continue
        ok = lib.median <= t.factor * ref if w.lower_is_better else lib.median >= t.factor * ref
        checks.append(f"{t.text(w.lower_is_better, unit)} {'✓' if ok else '✗'}")
    target = ", ".join(checks) or "—"
    return [w.label(), cell(lib, unit), cell(python, unit), raw_cell, lib_raw, py_lib, target]


HEADER = ["workload", "libprocessing (median, min–max)", "Python mp", "raw floor",
          "lib/raw", "Python/lib", "target"]


def table(rows):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


BEGIN = "<!-- bench/run.py: generated from here -->"
END = "<!-- bench/run.py: generated up to here -->"


def write_benchmarks_md(report):
    block = f"{BEGIN}\n{report}\n{END}"
    if BENCHMARKS_MD.exists():
        text = BENCHMARKS_MD.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            BENCHMARKS_MD.write_text(head + block + tail)
            return
        raise SystemExit(f"{BENCHMARKS_MD} has no generated-part markers; add\n{BEGIN}\n{END}")
    BENCHMARKS_MD.write_text(f"# Benchmarks\n\nRun: `{COMMAND}`\n\n{block}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, default=REPO / "build" / "release" / "bench")
    ap.add_argument("--only", action="append", metavar="NAME")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()

    if args.list:
        for w in WORKLOADS:
            print(f"{w.name}\t{w.label()}")
        return
    names = {w.name for w in WORKLOADS}
    for name in args.only or []:
        if name not in names:
            ap.error(f"unknown workload {name!r}; known: {', '.join(sorted(names))}")
    selected = [w for w in WORKLOADS if not args.only or w.name in args.only]
    if args.reps < 5:
        log(f"note: --reps {args.reps} < 5; PERFORMANCE.md asks for medians of at least 5")
    if args.rounds < 1 or args.scale <= 0:
        ap.error("--rounds must be >= 1 and --scale > 0")

    build_dir = args.build_dir.resolve()
    missing = sorted({p for w in selected for p in [w.lib] + [f[1] for f in w.raw]
                      if not built(build_dir, p) and p not in OPTIONAL_PROGRAMS})
    if missing:
        raise SystemExit(f"not built in {build_dir}: {', '.join(missing)}\n"
                         f"build them with: {COMMAND.split(' && python3')[0]}")
    for p in sorted({f[1] for w in selected for f in w.raw} & OPTIONAL_PROGRAMS.keys()):
        if not built(build_dir, p):
            log(f"note: {p} is not built (it needs {OPTIONAL_PROGRAMS[p]}): shown as such")
    if any(w.pin for w in selected) and not shutil.which("taskset"):
        raise SystemExit("taskset (util-linux) is needed for the one-CPU workloads")

    machine = machine_line()
    rows = []
    for w in selected:
        cmds, results = run_workload(w, build_dir, args.reps, args.rounds, args.scale)
        rows.append(row(w, cmds, results))

    n = args.reps * args.rounds
    report = "\n".join([
        machine,
        "",
        table(rows),
        "",
        f"Medians of {n} repetitions (min–max in brackets). lib/raw and Python/lib are"
        " ratios of cost (time per operation, or 1/throughput): lib/raw > 1 means"
        " libprocessing is slower than the floor, Python/lib > 1 that it is faster than"
        " Python. Targets are from PERFORMANCE.md (✓ met, ✗ missed, in this run).",
    ])
    print(report)
    if args.write:
        write_benchmarks_md(report)
        log(f"wrote {BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
