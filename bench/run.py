#!/usr/bin/env python3
"""Runs every benchmark workload for libprocessing, Python's multiprocessing and the raw
floor, and prints one markdown table with the ratios (targets: PERFORMANCE.md; results: BENCHMARKS.md).

Build and run, from the repository root:

    cmake --preset release && cmake --build --preset release --target bench && python3 bench/run.py

Options:
    --build-dir DIR  where the bench programs are (default build/release/bench)
    --only NAME      run one workload, or every workload whose name starts with NAME_
                     (--only manager: the manager rows); repeatable
    --reps R         timed repetitions per program (default 5; quote medians of >= 5)
    --rounds K       run every program K times, interleaved (lib, floor, Python, lib, ...),
                     pooling the repetitions: the machine drifts over minutes (default 3)
    --scale F        multiply every iteration count by F (e.g. 0.1 for a quick look)
    --write          also write this run into the generated part of BENCHMARKS.md: the
                     table of this machine's CPU model (one table per model; the others
                     are kept) is replaced by this run, or, with --only, gets this run's
                     rows (replacing the same rows), marked with a note saying when
                     and on which commit they ran
    --plot           write bench/plots/<area>.svg (process, connection, sync, queue, pool,
                     manager) from the latest run in BENCHMARKS.md's generated part
                     (bench/plotting.py; needs matplotlib): alone, it runs nothing; with
                     --write, it plots once this run is written
    --plot-dir DIR   where --plot writes (default bench/plots, which is checked in)
    --list           list the workloads and exit

Each program (bench/<prog>.c, or bench/peers.py for Python) takes
`<workload> --reps R --iters N` and prints `<workload> <metric>=<v1>,...,<vR>`, one value
per repetition; metric is ns_per_op (lower is better) or ops_per_s (higher is better).

Adding a workload: one mode in a C program using the library (bench_<area>.c), one in a
raw-floor C program (raw_<area>.c, libc/pthread only), one @peer function in peers.py,
and one Workload(...) line in WORKLOADS below. New C files also go in
bench/CMakeLists.txt's program lists. A workload whose libprocessing side is a C server
timed by a Python client names the server as `lib` and the peers.py mode that times it as
`lib_peer` (run as `peers.py <lib_peer> --server <build dir>/<lib>`). A workload may have
several floors; a floor runs
the workload's mode unless its entry names another one (a variant in the same program),
for the "raw" iteration count unless the workload's iters name its label. A floor whose
program is in OPTIONAL_PROGRAMS (built only where its library was found) and was not built
is shown as "not built" instead of stopping the run.

A workload with `link` runs its programs across a network link that run.py makes for it
(NetworkLink: two network namespaces joined by a veth pair, and `link` ms added to every
round trip); it needs root and ip (iproute2), and is skipped with a note without them.

Ratios are ratios of cost (time per operation; 1/throughput for throughput workloads),
whatever the workload's unit: "lib/raw" > 1 means libprocessing is that many times slower
than the floor, "Python/lib" > 1 means libprocessing is that many times faster than Python.
Targets are checked in the workload's own unit, as PERFORMANCE.md words them.
"""

import argparse
import contextlib
import datetime
import os
import platform
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEERS = BENCH_DIR / "peers.py"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
PLOTS_DIR = BENCH_DIR / "plots"
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
    "µs/set+get": (NS_PER_OP, 1e-3),
    "µs/put+get": (NS_PER_OP, 1e-3),
    "ms/op": (NS_PER_OP, 1e-6),
    "M msg/s": (OPS_PER_S, 1e-6),
    "k tasks/s": (OPS_PER_S, 1e-3),
    "M tasks/s": (OPS_PER_S, 1e-6),
    "M elements/s": (OPS_PER_S, 1e-6),
    "k set+get/s": (OPS_PER_S, 1e-3),
    "round trips/s": (OPS_PER_S, 1.0),
    "k items/s": (OPS_PER_S, 1e-3),
    "GB/s": (OPS_PER_S, 1e-9),  # ops are bytes
}


@dataclass
class Target:
    """lib must be at most (lower is better) or at least (higher is better) `factor` times
    the reference: "raw" (the first floor), "python", a floor's label, "abs" (then
    `factor` is an absolute value in the workload's display unit), or "row:<workload>"
    (libprocessing's result in another row of the same run, shown as `name`).
    `speedup`: the reference's cost must be at least `factor` times lib's, whatever the
    unit (shown as "Python/lib ≥ 3×"). `strict`: < or > instead of ≤ or ≥."""

    ref: str
    factor: float
    speedup: bool = False
    strict: bool = False
    name: str = ""

    def text(self, lower_is_better, unit=""):
        if self.speedup:
            return f"{'Python' if self.ref == 'python' else self.ref}/lib " \
                   f"{'>' if self.strict else '≥'} {self.factor:g}×"
        rel = ("<" if self.strict else "≤") if lower_is_better else (
            ">" if self.strict else "≥")
        if self.ref == "abs":
            return f"{rel} {self.factor:g} {unit}".rstrip()
        ref = self.name or ("Python" if self.ref == "python" else self.ref)
        return f"{rel} {self.factor:g}× {ref}"

    def met(self, lib, ref, lower_is_better):
        """Whether lib (a median) meets the target against ref (a median; 1 for "abs")."""
        if self.speedup:  # ref's cost over lib's
            ratio = ref / lib if lower_is_better else lib / ref
            return ratio > self.factor if self.strict else ratio >= self.factor
        if lower_is_better:
            return lib < self.factor * ref if self.strict else lib <= self.factor * ref
        return lib > self.factor * ref if self.strict else lib >= self.factor * ref


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
    lib_peer: str = ""  # libprocessing's side is `lib`, a C server timed by this peers.py mode
    mpi: bool = False  # lib, the MPI floors and Python run by `mpiexec -n 3` (MPI_LAUNCH)
    link: float = None  # run across a NetworkLink with this many ms added per round trip

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
    "raw_mpi": "an MPI (libopenmpi-dev) when CMake configured the build",
}

# The MPI rows' launcher: rank 0 and two worker ranks (a pool of 2, as the other pool
# rows), on the machine's cores whatever their number (Open MPI's oversubscribe and
# run-as-root switches are set in the environment: other MPIs ignore them). Floors that
# are MPI programs run under it too; Python's peer runs as mpi4py.futures' main script.
MPI_LAUNCH = ["mpiexec", "-n", "3"]
MPI_PROGRAMS = {"raw_mpi"}
MPI_ENVIRONMENT = {"OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
                   "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}

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
             targets=[Target("abs", 10), Target("raw", 0.6), Target("python", 40),
                      Target("Boost message_queue (depth 256)", 1.5)]),
    Workload("queue_1to1_64b_spread",
             "Queue 1 producer → 1 consumer, 64 B messages, each pinned to a CPU of its own",
             "M msg/s", lib="bench_queue",
             raw=[("shm ring + futex", "raw_queue"),
                  ("Boost message_queue (depth 256)", "boost_queue",
                   "queue_1to1_64b_boost_spread")],
             iters={"lib": 3_000_000, "raw": 3_000_000, "python": 200_000,
                    "Boost message_queue (depth 256)": 2_000_000},
             targets=[Target("raw", 0.6), Target("python", 40),
                      Target("Boost message_queue (depth 256)", 1.5)]),
    Workload("queue_1to1_64b_batch",
             "Queue 1 producer → 1 consumer, 64 B messages, put_many/get_many of 64 "
             "(Python: put/get)", "M msg/s", lib="bench_queue",
             raw=[("shm ring + futex", "raw_queue", "queue_1to1_64b")],
             iters={"lib": 3_000_000, "raw": 3_000_000, "python": 200_000}),
    Workload("queue_2to2_64b", "Queue 2 producers → 2 consumers, 64 B messages", "M msg/s",
             lib="bench_queue", raw=[("pipe", "raw_queue")],
             iters={"lib": 2_000_000, "raw": 1_000_000, "python": 200_000},
             targets=[Target("python", 25)]),
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
    Workload("process_start_join_spawn", "Process start + join, empty target, spawn",
             "µs/op", lib="bench_process",
             raw=[("posix_spawn of the program+waitpid", "raw_process")],
             iters={"lib": 500, "raw": 500, "python": 20},
             targets=[Target("python", 5, speedup=True)]),
    Workload("process_start_join_forkserver",
             "Process start + join, empty target, forkserver", "µs/op", lib="bench_process",
             raw=[("fork+_exit+waitpid", "raw_process", "process_start_join")],
             iters={"lib": 1000, "raw": 2000, "python": 100},
             targets=[Target("python", 5, speedup=True)]),
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
    # Pools by start method: bench_pool.c; the floor of the map row is the fork pool's.
    Workload("pool_map_10k_chunk1_spawn",
             "Pool map, 10k trivial tasks, chunksize 1, workers started by spawn",
             "k tasks/s", lib="bench_pool", raw=[("2 workers, pipes, no serialization",
                                                   "raw_pool", "pool_map_10k_chunk1")],
             iters={"lib": 200_000, "raw": 200_000, "python": 10_000},
             targets=[Target("python", 10)]),
] + [
    Workload(f"pool_lifecycle_{method}",
             f"Pool of 2 by {method}: made, 100 tasks mapped, closed, joined", "µs/op",
             lib="bench_pool", raw=[], iters={"lib": iters, "python": peer_iters},
             targets=[Target("python", 5, speedup=True)] if method != "fork" else [])
    for method, iters, peer_iters in (("fork", 200, 20), ("spawn", 100, 5),
                                      ("forkserver", 200, 20))
] + [
    # Thread pools: bench_pool.c's thread pool of 2 threads (pc_pool_options.threads), and
    # Python's multiprocessing.pool.ThreadPool(2). No floor of their own.
    Workload("thread_pool_map_100k_default",
             "Thread pool map, 100k trivial tasks, default chunksize", "M tasks/s",
             lib="bench_pool", raw=[], iters={"lib": 2_000_000, "python": 500_000}),
    Workload("thread_pool_map_10k_chunk1", "Thread pool map, 10k trivial tasks, chunksize 1",
             "k tasks/s", lib="bench_pool", raw=[],
             iters={"lib": 200_000, "python": 10_000}),
    Workload("thread_pool_apply_async_rtt", "Thread pool apply_async + get, one at a time",
             "µs/round trip", lib="bench_pool", raw=[],
             iters={"lib": 10_000, "python": 1_000}),
] + [
    # Pools over MPI: bench_pool.c's pool of every worker rank (PC_POOL_MPI), raw_mpi.c
    # (plain MPI_Send/MPI_Recv of the 8 bytes), Python's mpi4py.futures.MPIPoolExecutor;
    # all by `mpiexec -n 3`. The fork back end's own row is shown beside each, as a floor.
    Workload("pool_map_10k_chunk1_mpi",
             "Pool map over MPI, 10k trivial tasks, chunksize 1, 2 worker ranks", "k tasks/s",
             lib="bench_pool",
             raw=[("MPI send/recv, one task in flight per rank", "raw_mpi"),
                  ("the fork back end", "bench_pool", "pool_map_10k_chunk1")],
             iters={"lib": 100_000, "raw": 200_000, "python": 10_000,
                    "the fork back end": 200_000},
             targets=[Target("python", 10, speedup=True)], mpi=True),
    Workload("pool_map_100k_default_mpi",
             "Pool map over MPI, 100k trivial tasks, default chunksize, 2 worker ranks",
             "M tasks/s", lib="bench_pool",
             raw=[("the fork back end", "bench_pool", "pool_map_100k_default")],
             iters={"lib": 2_000_000, "raw": 2_000_000, "python": 500_000}, mpi=True),
    Workload("pool_apply_async_rtt_mpi", "Pool apply_async + get over MPI, one at a time",
             "µs/round trip", lib="bench_pool",
             raw=[("MPI send/recv ping-pong", "raw_mpi"),
                  ("the fork back end", "bench_pool", "pool_apply_async_rtt")],
             iters={"lib": 5_000, "raw": 10_000, "python": 500, "the fork back end": 10_000},
             mpi=True),
    Workload("pool_map_array_cpu_mpi",
             "Pool map_array over MPI, CPU-bound element function, 2 worker ranks",
             "M elements/s", lib="bench_pool",
             raw=[MAP_ARRAY_FLOORS[0],
                  ("the fork back end", "bench_pool", "pool_map_array_cpu")],
             iters={"lib": 2_000_000, "raw": 1_000_000, "the fork back end": 2_000_000},
             peer=False, mpi=True),
] + [
    # Managers: bench_manager.c (one manager per program, started untimed, as the Python
    # peers' SyncManager().start()), raw_manager.c (a key-value server in a forked child on
    # a socketpair: one framed request and reply per operation), bench_manager_server.c
    # (the C server a Python client of peers.py times).
    Workload(f"manager_dict_rtt{suffix}", "Manager dict set + get round trip",
             "µs/set+get", lib="bench_manager",
             raw=[("key-value server on a socketpair", "raw_manager")],
             iters={"lib": 20_000, "raw": 20_000, "python": 2_000},
             targets=[Target("raw", 1.3), Target("python", 3, speedup=True)] if pin else
             [Target("python", 3, speedup=True)],
             pin=pin, mode="manager_dict_rtt")
    for suffix, pin in (("_1cpu", True), ("", False))
] + [
    Workload(f"manager_queue_rtt{suffix}", "Manager queue put + get of 64 B, one process",
             "µs/put+get", lib="bench_manager", raw=[],
             iters={"lib": 20_000, "python": 2_000},
             targets=[Target("python", 3, speedup=True)], pin=pin, mode="manager_queue_rtt")
    for suffix, pin in (("_1cpu", True), ("", False))
] + [
    # Throughput is to grow past one client (PERFORMANCE.md: "8 clients on one managed dict").
    Workload(f"manager_dict_clients_{n}",
             f"Clients on one managed dict, set + get on keys of their own: "
             f"{n} client{'s' if n > 1 else ''}",
             "k set+get/s", lib="bench_manager", raw=[],
             iters={"lib": 20_000, "python": 4_000},
             targets=[Target("row:manager_dict_clients_1", 1, strict=True, name="1 client")]
             if n > 1 else [])
    for n in (1, 2, 4, 8)
] + [
    # libprocessing's column: the Python client against bench_manager_server (the C
    # server); Python's: the same client against a Python SyncManager server. Both on tcp.
    Workload(f"manager_py_client_rtt{suffix}",
             "A Python client's dict round trip (d[k] = i; d[k]): C server vs Python server",
             "µs/set+get", lib="bench_manager_server", raw=[],
             iters={"lib": 2_000, "python": 2_000},
             targets=[Target("python", 1, speedup=True, strict=True)], pin=pin,
             mode="manager_py_client_rtt", lib_peer="manager_py_client_rtt_c_server")
    for suffix, pin in (("_1cpu", True), ("", False))
] + [
    # Managers across hosts: the server in one network namespace, its client in another,
    # joined by a veth pair (NetworkLink); _1ms adds 1 ms to every round trip.
    # bench_manager.c, raw_manager.c (its key-value server on TCP across the same link)
    # and peers.py each start their server on one side and time a client on the other.
    Workload(f"manager_link_dict_rtt{suffix}",
             f"Manager dict set + get across a veth link between two network namespaces"
             f"{latency}", "round trips/s", lib="bench_manager",
             raw=[("key-value server on TCP, same link", "raw_manager")],
             iters={"lib": n, "raw": n, "python": n_python}, link=delay)
    for suffix, latency, delay, n, n_python in (
        ("", "", 0.0, 5_000, 1_000),
        ("_1ms", ", 1 ms added per round trip", 1.0, 200, 200))
] + [
    # Batching over that 1 ms link: the same values, 100 per call or one per call.
    Workload("manager_link_update_1ms",
             "100 values per pc_dict_update (Python: d.update) across the veth link, 1 ms "
             "added per round trip", "k items/s", lib="bench_manager", raw=[],
             iters={"lib": 20_000, "python": 20_000}, link=1.0),
    Workload("manager_link_set_1ms",
             "The same values, one pc_dict_set each (Python: d[k] = v), across the veth "
             "link, 1 ms added per round trip", "k items/s", lib="bench_manager", raw=[],
             iters={"lib": 500, "python": 500}, link=1.0),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the network link of Workload(link=…) (bench_common.h: what the programs read) ------

LINK_ADDRESS = {"SERVER": "10.243.118.1", "CLIENT": "10.243.118.2"}  # a /30: nothing else
LINK_DEVICE = {"SERVER": "pcbench-s", "CLIENT": "pcbench-c"}
LINK_PORT = 50000  # the server's: nothing else listens in these namespaces
RELAY_PORT = 50001


def link_unavailable():
    """Why this machine cannot make a NetworkLink; None when it can."""
    if os.geteuid() != 0:
        return "needs root (it makes network namespaces)"
    if not shutil.which("ip"):
        return "needs ip (iproute2)"
    return None


class DelayRelay:
    """A TCP relay for a kernel without netem: it accepts on `listen` (in the namespace of
    the file `netns`) and connects each client on to `target`, passing on what the client
    sends at once and what the server sends `delay` s after it was read. Its threads run
    in run.py."""

    def __init__(self, netns, listen, target, delay):
        from peers import enter_netns  # bench/peers.py, beside this script

        self.listener = None
        started = threading.Event()

        def serve():
            try:
                enter_netns(netns)  # this thread's, and the threads' it starts
                self.listener = socket.create_server(listen)
            finally:
                started.set()
            while True:
                try:
                    client, _ = self.listener.accept()
                except OSError:
                    return  # closed
                try:
                    server = socket.create_connection(target, timeout=10)
                except OSError:  # no server (any more): the client sees its end
                    client.close()
                    continue
                server.settimeout(None)
                for sock in (client, server):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for src, dst, wait in ((client, server, 0.0), (server, client, delay)):
                    threading.Thread(target=self.pump, args=(src, dst, wait), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        if not started.wait(10) or self.listener is None:
            raise RuntimeError(f"the delay relay could not listen on {listen}")

    @staticmethod
    def pump(src, dst, delay):
        """src to dst, each chunk `delay` s after it was read; the end is passed on too."""
        chunks = queue.SimpleQueue()

        def send():
            while (chunk := chunks.get()) is not None:
                due, data = chunk
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                try:
                    dst.sendall(data)
                except OSError:
                    break
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=send, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                chunks.put((time.monotonic() + delay, data))
        chunks.put(None)

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self.listener.close()


class NetworkLink:
    """Two network namespaces joined by a veth pair, for the programs of one workload: the
    server's (10.243.118.1/30) and the clients' (.2/30), each with its loopback and its end
    of the pair and nothing else, so no route leads out. With `delay_ms`, every round trip
    gets that much more: `tc qdisc … netem delay` on the server's end (its replies), or,
    where the kernel has no netem, a DelayRelay in the clients' namespace that holds what
    the server sends as long (the clients then connect to the relay). Made with
    `ip netns add` under names with run.py's pid, and deleted (the veth pair with them)
    when the `with` block ends, however it ends (main turns SIGTERM into an exit)."""

    def __init__(self, delay_ms):
        self.delay_ms = delay_ms
        self.names = {side: f"pcbench{os.getpid()}-{side.lower()}" for side in LINK_ADDRESS}
        self.made = []
        self.relay = None
        self.env = None
        self.how = "no latency added"

    @staticmethod
    def ip(*args, check=True):
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                              timeout=30)

    def __enter__(self):
        try:
            self.make()
        except BaseException:
            self.__exit__()
            raise
        return self

    def make(self):
        for side in LINK_ADDRESS:
            self.ip("netns", "add", self.names[side])
            self.made.append(self.names[side])
        self.ip("link", "add", LINK_DEVICE["SERVER"], "netns", self.names["SERVER"], "type",
                "veth", "peer", "name", LINK_DEVICE["CLIENT"], "netns", self.names["CLIENT"])
        for side, ns in self.names.items():
            self.ip("-n", ns, "addr", "add", f"{LINK_ADDRESS[side]}/30", "dev",
                    LINK_DEVICE[side])
            self.ip("-n", ns, "link", "set", LINK_DEVICE[side], "up")
            self.ip("-n", ns, "link", "set", "lo", "up")
        paths = {side: f"/run/netns/{ns}" for side, ns in self.names.items()}
        server = (LINK_ADDRESS["SERVER"], LINK_PORT)
        client = server
        if self.delay_ms:
            netem = subprocess.run(
                ["tc", "-n", self.names["SERVER"], "qdisc", "add", "dev", LINK_DEVICE["SERVER"],
                 "root", "netem", "delay", f"{self.delay_ms:g}ms"],
                capture_output=True, text=True, timeout=30) if shutil.which("tc") else None
            if netem and netem.returncode == 0:
                self.how = f"tc netem delay {self.delay_ms:g} ms on the server's end"
            else:
                client = (LINK_ADDRESS["CLIENT"], RELAY_PORT)
                self.relay = DelayRelay(paths["CLIENT"], client, server, self.delay_ms / 1e3)
                why = netem.stderr.strip() if netem else "no tc"
                self.how = (f"a relay holding the server's replies {self.delay_ms:g} ms (no "
                            f"netem: {why})")
        self.env = {**os.environ,
                    "PC_BENCH_NETNS_SERVER": paths["SERVER"],
                    "PC_BENCH_NETNS_CLIENT": paths["CLIENT"],
                    "PC_BENCH_LINK_SERVER": "%s:%d" % server,
                    "PC_BENCH_LINK_CLIENT": "%s:%d" % client}

    def __exit__(self, *exc):
        if self.relay:
            self.relay.close()
        for name in reversed(self.made):
            self.ip("netns", "delete", name, check=False)
        self.made = []


def source_dir(build_dir):
    """The source tree the bench programs in `build_dir` were built from (CMake's cache
    says), else this checkout: a build of another tree reports that tree's revision."""
    try:
        for line in (build_dir.parent / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return Path(line.split("=", 1)[1])
    except OSError:
        pass
    return REPO


def library_revision(source):
    """The short hash of `source`'s HEAD, marked when the library's own sources differ
    from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        rev = git("rev-parse", "--short", "HEAD")
        if git("status", "--porcelain", "--", "src", "include", "Cargo.toml", "Cargo.lock",
               "build.rs"):
            rev += " + uncommitted library changes"
        return rev
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"


def machine_line(build_dir):
    """The line naming the machine (and the library's revision), and its CPU model."""
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
    rev = library_revision(source_dir(build_dir))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {cpus}, {model}, {uname.system} {uname.release} {uname.machine}; "
            f"Python {platform.python_version()}; libprocessing {rev}; {date}"), model


LINE = re.compile(r"^(\S+) (ns_per_op|ops_per_s)=([-+0-9.eE,]+)$")


def run_program(cmd, mode, workload, env=None):
    """Runs one program for `mode` (with `env`, else run.py's environment), returns its
    per-repetition values in the workload's metric."""
    log("  $ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
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
    mpi = MPI_LAUNCH if w.mpi else []
    if w.lib_peer:
        out = [("lib", "libprocessing", w.lib_peer,
                pin + [sys.executable, str(PEERS)] + args("lib", w.lib_peer)
                + ["--server", str(build_dir / w.lib)])]
    else:
        out = [("lib", "libprocessing", mode,
                pin + mpi + [str(build_dir / w.lib)] + args("lib"))]
    for label, prog, raw_mode in w.floors():
        if built(build_dir, prog):
            launch = mpi if prog in MPI_PROGRAMS else []
            out.append(("raw", label, raw_mode,
                        pin + launch + [str(build_dir / prog)] + args(label, raw_mode)))
    if w.peer:
        futures = ["-m", "mpi4py.futures"] if w.mpi else []
        out.append(("python", "Python", mode,
                    pin + mpi + [sys.executable] + futures + [str(PEERS)] + args("python")))
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
    with NetworkLink(w.link) if w.link is not None else contextlib.nullcontext() as link:
        if link:
            log(f"{w.name}: across a veth link, {link.how}")
        for r in range(rounds):
            log(f"{w.name}: round {r + 1}/{rounds}")
            for _, label, mode, cmd in cmds:
                values[label] += run_program(cmd, mode, w, link.env if link else None)
    factor = UNITS[w.unit][1]
    return cmds, {label: stats(v, factor) for label, v in values.items()}


def row(w, cmds, results, earlier):
    """The table row of workload w; `earlier`: libprocessing's Stats of the rows run
    before it in this run, by workload name (for "row:" targets)."""
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

    refs = {"python": python, **{label: s for label, s in floors},
            **{f"row:{name}": s for name, s in earlier.items()}}
    if first in ran:
        refs["raw"] = results[first]
    checks = []
    for t in w.targets:
        ref = 1.0 if t.ref == "abs" else (refs[t.ref].median if refs.get(t.ref) else None)
        if ref is None:
            checks.append(f"{t.text(w.lower_is_better, unit)} ?")
            continue
        ok = t.met(lib.median, ref, w.lower_is_better)
        checks.append(f"{t.text(w.lower_is_better, unit)} {'✓' if ok else '✗'}")
    target = ", ".join(checks) or "—"
    return [w.label(), cell(lib, unit), cell(python, unit), raw_cell, lib_raw, py_lib, target]


HEADER = ["workload", "libprocessing (median, min–max)", "Python mp", "raw floor",
          "lib/raw", "Python/lib", "target"]


def table_lines(lines):
    """The table: its header, then `lines` (rows already written as markdown)."""
    return "\n".join(["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER), *lines])


def table(rows):
    return table_lines(["| " + " | ".join(r) + " |" for r in rows])


BEGIN = "<!-- bench/run.py: generated from here -->"
END = "<!-- bench/run.py: generated up to here -->"


MARKS = "¹²³⁴⁵⁶⁷⁸⁹"
MACHINE_MODEL = re.compile(r"^Machine: \d+ CPUs(?: \([^)]*\))?, (.+), \S+ \S+ \S+; Python ")


@dataclass
class Section:
    """One CPU model's part of the generated block: its machine line, notes on rows run on
    their own later (each starting with its mark), the table's rows and the footer."""

    machine: str
    notes: list
    rows: list  # table lines, without the header
    footer: list

    @property
    def model(self):
        m = MACHINE_MODEL.match(self.machine)
        return m.group(1) if m else None

    def text(self):
        return "\n".join([self.machine, *self.notes, "", table_lines(self.rows), "",
                          *self.footer])


def parse_sections(block):
    """The sections of a generated block: each starts with a "Machine:" line."""
    sections = []
    for line in block.splitlines():
        if line.startswith("Machine:"):
            sections.append(Section(line, [], [], []))
        elif not sections or not line.strip():
            continue
        elif line[0] in MARKS:
            sections[-1].notes.append(line)
        elif line.startswith("|"):
            sections[-1].rows.append(line)
        else:
            sections[-1].footer.append(line)
    for sec in sections:
        sec.rows = sec.rows[2:]  # the header and its rule
    return sections


def row_label(line):
    """A table line's workload, without the mark of a row run on its own."""
    return re.sub(f"\\s*[{MARKS}]+$", "", line.split("|")[1].strip())


def merge_rows(sec, rows, note_for):
    """Puts this run's rows into `sec`, replacing the rows of the same workloads, marked
    with a new mark whose note (note_for(mark)) says when they ran; drops notes no row
    is marked with any more. Rows follow WORKLOADS' order."""
    used = {n[0] for n in sec.notes}
    mark = next((m for m in MARKS if m not in used), None)
    if mark is None:
        raise SystemExit("BENCHMARKS.md: this table has too many rows run on their own; "
                         "run every workload once (without --only) to start it again")
    new = {r[0]: "| " + " | ".join([f"{r[0]} {mark}", *r[1:]]) + " |" for r in rows}
    kept = [line for line in sec.rows if row_label(line) not in new]
    order = {w.label(): i for i, w in enumerate(WORKLOADS)}
    sec.rows = sorted(kept + list(new.values()),
                      key=lambda line: order.get(row_label(line), len(order)))
    marks_in_rows = {c for line in sec.rows for c in line.split("|")[1] if c in MARKS}
    sec.notes = [n for n in sec.notes if n[0] in marks_in_rows] + [note_for(mark)]


def write_benchmarks_md(machine, model, rows, footer, partial):
    """Writes this run into the generated part of BENCHMARKS.md: a whole run replaces its
    CPU model's section (or adds one); a partial run (--only) merges its rows into that
    section (see merge_rows), or adds a section of its own when the model has none yet."""
    if not BENCHMARKS_MD.exists():
        BENCHMARKS_MD.write_text(f"# Benchmarks\n\nRun: `{COMMAND}`\n\n{BEGIN}\n{END}\n")
    text = BENCHMARKS_MD.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{BENCHMARKS_MD} has no generated-part markers; add\n{BEGIN}\n{END}")
    head, rest = text.split(BEGIN, 1)
    block, tail = rest.split(END, 1)
    sections = parse_sections(block)
    this = Section(machine, [], ["| " + " | ".join(r) + " |" for r in rows], footer)
    at = next((i for i, sec in enumerate(sections) if sec.model == model), None)
    if at is None:
        sections.append(this)
    elif not partial:
        sections[at] = this
    else:
        reps = re.match(r"Medians of (\d+) repetitions", footer[0])
        merge_rows(sections[at], rows, lambda mark: (
            f"{mark} Run on its own (`bench/run.py --only`), medians of {reps.group(1)} "
            f"repetitions: {machine.removeprefix('Machine: ')}"))
    block = "\n\n".join(sec.text() for sec in sections)
    BENCHMARKS_MD.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


def write_plots(out_dir):
    """bench/plots/<area>.svg from the latest run in BENCHMARKS.md (see bench/plotting.py)."""
    import plotting  # bench/plotting.py, beside this script

    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else ""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{BENCHMARKS_MD} has no generated part to plot; run with --write")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    for path in plotting.plot(parse_sections(block), WORKLOADS, row_label,
                              lambda sec: sec.model or "unknown CPU", out_dir):
        log(f"wrote {path}")


def mpi_unavailable(build_dir):
    """Why the MPI rows cannot run here, or None: they need mpiexec, the library's MPI
    back end (its plugin, built where CMake found an MPI: raw_mpi is built then too) and
    mpi4py for Python's peer."""
    if not shutil.which(MPI_LAUNCH[0]):
        return f"no {MPI_LAUNCH[0]} (apt-get install -y openmpi-bin libopenmpi-dev)"
    if not built(build_dir, "raw_mpi"):
        return "the build found no MPI (reconfigure once libopenmpi-dev is installed)"
    probe = subprocess.run([sys.executable, "-c", "import mpi4py"], capture_output=True)
    if probe.returncode != 0:
        return "no mpi4py for Python's peer (python3 -m pip install mpi4py)"
    return None


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
    ap.add_argument("--plot", action="store_true")
    ap.add_argument("--plot-dir", type=Path, default=PLOTS_DIR)
    args = ap.parse_args()

    if args.list:
        for w in WORKLOADS:
            print(f"{w.name}\t{w.label()}")
        return
    if args.plot and not args.write:
        write_plots(args.plot_dir)
        return

    def chosen(w, name):
        return w.name == name or w.name.startswith(name + "_")

    names = {w.name for w in WORKLOADS}
    for name in args.only or []:
        if not any(chosen(w, name) for w in WORKLOADS):
            ap.error(f"unknown workload {name!r}; known: {', '.join(sorted(names))}")
    selected = [w for w in WORKLOADS
                if not args.only or any(chosen(w, name) for name in args.only)]
    if args.reps < 5:
        log(f"note: --reps {args.reps} < 5; PERFORMANCE.md asks for medians of at least 5")
    if args.rounds < 1 or args.scale <= 0:
        ap.error("--rounds must be >= 1 and --scale > 0")

    build_dir = args.build_dir.resolve()
    mpi_missing = mpi_unavailable(build_dir) if any(w.mpi for w in selected) else None
    if mpi_missing:
        log(f"note: the MPI rows are left out: {mpi_missing}")
        selected = [w for w in selected if not w.mpi]
    if any(w.mpi for w in selected):
        for name, value in MPI_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    missing = sorted({p for w in selected for p in [w.lib] + [f[1] for f in w.raw]
                      if not built(build_dir, p) and p not in OPTIONAL_PROGRAMS})
    if missing:
        raise SystemExit(f"not built in {build_dir}: {', '.join(missing)}\n"
                         f"build them with: {COMMAND.split(' && python3')[0]}")
    for p in sorted({f[1] for w in selected for f in w.raw} & OPTIONAL_PROGRAMS.keys()):
        if not built(build_dir, p):
            log(f"note: {p} is not built (it needs {OPTIONAL_PROGRAMS[p]}): shown as such")
    why = link_unavailable() if any(w.link is not None for w in selected) else None
    if why:
        for w in selected:
            if w.link is not None:
                log(f"{w.name}: skipped: {why}")
        selected = [w for w in selected if w.link is None]
        if not selected:
            return
    if any(w.link is not None for w in selected):  # a NetworkLink is removed on SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if any(w.pin for w in selected) and not shutil.which("taskset"):
        raise SystemExit("taskset (util-linux) is needed for the one-CPU workloads")

    machine, model = machine_line(build_dir)
    rows, lib_results = [], {}
    for w in selected:
        cmds, results = run_workload(w, build_dir, args.reps, args.rounds, args.scale)
        rows.append(row(w, cmds, results, lib_results))
        lib_results[w.name] = results["libprocessing"]

    n = args.reps * args.rounds
    footer = [
        f"Medians of {n} repetitions (min–max in brackets). lib/raw and Python/lib are"
        " ratios of cost (time per operation, or 1/throughput): lib/raw > 1 means"
        " libprocessing is slower than the floor, Python/lib > 1 that it is faster than"
        " Python. Targets are from PERFORMANCE.md (✓ met, ✗ missed, in this run).",
    ]
    print("\n".join([machine, "", table(rows), "", *footer]))
    if args.write:
        write_benchmarks_md(machine, model, rows, footer, partial=bool(args.only))
        log(f"wrote {BENCHMARKS_MD}")
        if args.plot:
            write_plots(args.plot_dir)


if __name__ == "__main__":
    main()
