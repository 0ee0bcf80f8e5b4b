#!/usr/bin/env python3
"""The Python peers of the benchmarks: each workload written with `multiprocessing` the way
a user would write it (fork context, libprocessing's default start method, but where a
workload names another method).

    python3 bench/peers.py <workload> [--reps R] [--iters N] [--server PATH]

(--server: the C manager server that manager_py_client_rtt_c_server's Python client
talks to, bench_manager_server) prints the same line as the C programs (see bench_common.h):

    <workload> <metric>=<v1>,<v2>,...,<vR>

To add a workload: write a function taking the iteration count and returning one
repetition's result, decorated with @peer("<workload>", NS_PER_OP or OPS_PER_S, iters).
"""

import argparse
import atexit
import multiprocessing
import os
import re
import signal
import struct
import subprocess
import sys
import time
from multiprocessing.managers import SyncManager
from multiprocessing.pool import ThreadPool

NS_PER_OP = "ns_per_op"  # lower is better
OPS_PER_S = "ops_per_s"  # higher is better

CTX = multiprocessing.get_context("fork")

# Nothing may hang (as bench_common.h): SIGALRM ends a repetition that takes longer, and a
# child that may block arms its own alarm (alarms are not inherited by fork).
ALARM_SECONDS = 120


def _child_setup():
    signal.alarm(ALARM_SECONDS)

PEERS = {}


def peer(name, metric, default_iters):
    def register(fn):
        PEERS[name] = (fn, metric, default_iters)
        return fn

    return register


def _empty():
    pass


@peer("process_start_join", NS_PER_OP, 300)
def process_start_join(iters):
    return _start_join(iters, CTX)


# ---- synchronization (bench_sync.c; floors in raw_sync.c) ----------------------------


def _start_join(iters, ctx):
    t0 = time.perf_counter_ns()
    for _ in range(iters):
        p = ctx.Process(target=_empty)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"child exit code {p.exitcode}")
    return (time.perf_counter_ns() - t0) / iters


@peer("process_start_join_spawn", NS_PER_OP, 20)
def process_start_join_spawn(iters):
    return _start_join(iters, multiprocessing.get_context("spawn"))


@peer("process_start_join_forkserver", NS_PER_OP, 100)
def process_start_join_forkserver(iters):
    return _start_join(iters, multiprocessing.get_context("forkserver"))


@peer("lock_uncontended", NS_PER_OP, 1_000_000)
def lock_uncontended(iters):
    lock = CTX.Lock()
    t0 = time.perf_counter_ns()
    for _ in range(iters):
        lock.acquire()
        lock.release()
    ns = (time.perf_counter_ns() - t0) / iters
    if not lock.acquire(False):
        raise SystemExit("lock left held")
    lock.release()
    return ns


def _increment_worker(n, lock, counter, ready, go, ends, me):
    _child_setup()
    ready.release()
    go.wait()
    for _ in range(n):
        with lock:
            counter.value += 1
    ends[me] = time.perf_counter_ns()  # CLOCK_MONOTONIC, as the parent's


@peer("lock_increment", NS_PER_OP, 50_000)
def lock_increment(iters):
    """Two processes each add 1 to a RawValue('i') `iters` times under one Lock; time from
    "go" until the last one finishes, per increment."""
    lock, counter = CTX.Lock(), CTX.RawValue("i", 0)
    ready, go, ends = CTX.Semaphore(0), CTX.Event(), CTX.RawArray("q", 2)
    workers = [CTX.Process(target=_increment_worker,
                           args=(iters, lock, counter, ready, go, ends, i), daemon=True)
               for i in range(2)]
    for w in workers:
        w.start()
    for _ in workers:
        ready.acquire()
    t0 = time.perf_counter_ns()
    go.set()
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"worker exit code {w.exitcode}")
    if counter.value != 2 * iters:
        raise SystemExit(f"counter {counter.value}, expected {2 * iters}")
    return (max(ends) - t0) / (2 * iters)


def _check(cond, what):
    if not cond:
        raise SystemExit(what)


def _event_b(rounds, ping, pong, seq):
    _child_setup()
    for i in range(rounds + 1):
        ping.wait()
        ping.clear()
        _check(seq[0] == i, f"B: round {i} saw A's {seq[0]}")
        seq[1] = i
        pong.set()


def _pingpong(iters, b_target, b_args, a_round):
    """Starts B, runs A's first round trip untimed (B is running), then times `iters`."""
    b = CTX.Process(target=b_target, args=(iters, *b_args), daemon=True)
    b.start()
    a_round(0)
    t0 = time.perf_counter_ns()
    for i in range(1, iters + 1):
        a_round(i)
    ns = (time.perf_counter_ns() - t0) / iters
    b.join()
    _check(b.exitcode == 0, f"B exit code {b.exitcode}")
    return ns


@peer("event_pingpong", NS_PER_OP, 5_000)
def event_pingpong(iters):
    ping, pong, seq = CTX.Event(), CTX.Event(), CTX.RawArray("q", [-1, -1])

    def a_round(i):
        seq[0] = i
        ping.set()
        pong.wait()
        pong.clear()
        _check(seq[1] == i, f"A: round {i} saw B's {seq[1]}")

    return _pingpong(iters, _event_b, (ping, pong, seq), a_round)


def _semaphore_b(rounds, ping, pong, seq):
    _child_setup()
    for i in range(rounds + 1):
        ping.acquire()
        _check(seq[0] == i, f"B: round {i} saw A's {seq[0]}")
        seq[1] = i
        pong.release()


@peer("semaphore_pingpong", NS_PER_OP, 5_000)
def semaphore_pingpong(iters):
    ping, pong, seq = CTX.Semaphore(0), CTX.Semaphore(0), CTX.RawArray("q", [-1, -1])

    def a_round(i):
        seq[0] = i
        ping.release()
        pong.acquire()
        _check(seq[1] == i, f"A: round {i} saw B's {seq[1]}")

    ns = _pingpong(iters, _semaphore_b, (ping, pong, seq), a_round)
    _check(ping.get_value() == 0 and pong.get_value() == 0, "semaphores not back at 0")
    return ns


def _take_turn(cond, turn, want):
    """Under the lock, waits until the turn number is `want`, advances it and notifies."""
    with cond:
        cond.wait_for(lambda: turn.value == want)
        turn.value = want + 1
        cond.notify()


def _condition_b(rounds, cond, turn):
    _child_setup()
    for i in range(rounds + 1):
        _take_turn(cond, turn, 2 * i + 1)


@peer("condition_pingpong", NS_PER_OP, 5_000)
def condition_pingpong(iters):
    """Two processes take turns on one Condition() (on its own RLock) with a RawValue turn
    number: A moves it from even to odd, B from odd to even. Per round trip."""
    cond, turn = CTX.Condition(), CTX.RawValue("q", 0)
    b = CTX.Process(target=_condition_b, args=(iters, cond, turn), daemon=True)
    b.start()
    _take_turn(cond, turn, 0)
    _take_turn(cond, turn, 2)  # B took its first turn: it runs. Start the clock.
    t0 = time.perf_counter_ns()
    for i in range(2, iters + 2):
        _take_turn(cond, turn, 2 * i)
    ns = (time.perf_counter_ns() - t0) / iters
    b.join()
    _check(b.exitcode == 0, f"B exit code {b.exitcode}")
    _check(turn.value == 2 * iters + 3, f"turn {turn.value}, expected {2 * iters + 3}")
    return ns


# ---- pipes (bench_connection.c; floors in raw_connection.c) ---------------------------

PINGPONG_SIZE = 64
THROUGHPUT_SIZE = 1024 * 1024
STAMP_EVERY = 64 * 1024
_I64 = struct.Struct("<q")


def _pipe_echo(conn, other, rounds):
    _child_setup()
    other.close()
    for i in range(rounds + 1):
        m = conn.recv_bytes()
        _check(len(m) == PINGPONG_SIZE and _I64.unpack_from(m)[0] == i,
               f"B: round {i} got {len(m)} bytes")
        conn.send_bytes(m)


@peer("pipe_pingpong", NS_PER_OP, 5_000)
def pipe_pingpong(iters):
    """A duplex Pipe: A sends a 64-byte message with send_bytes and waits for its echo
    with recv_bytes; B echoes it. Per round trip."""
    a, b = CTX.Pipe()
    p = CTX.Process(target=_pipe_echo, args=(b, a, iters), daemon=True)
    p.start()
    b.close()
    msg = bytearray((k * 7 + 1) & 0xFF for k in range(PINGPONG_SIZE))

    def a_round(i):
        _I64.pack_into(msg, 0, i)
        a.send_bytes(msg)
        echo = a.recv_bytes()
        _check(echo == msg, f"A: round {i}: a wrong echo ({len(echo)} bytes)")

    a_round(0)  # B is running: start the clock
    t0 = time.perf_counter_ns()
    for i in range(1, iters + 1):
        a_round(i)
    ns = (time.perf_counter_ns() - t0) / iters
    p.join()
    _check(p.exitcode == 0, f"B exit code {p.exitcode}")
    a.close()
    return ns


def _stamp_offsets():
    return list(range(0, THROUGHPUT_SIZE, STAMP_EVERY)) + [THROUGHPUT_SIZE - 8]


def _pipe_sender(conn, other, n):
    _child_setup()
    other.close()
    buf = bytearray((k * 7 + 1) & 0xFF for k in range(THROUGHPUT_SIZE))
    offsets = _stamp_offsets()
    conn.recv_bytes()  # go
    for i in range(n):
        for at in offsets:
            _I64.pack_into(buf, at, i)
        conn.send_bytes(buf)


@peer("pipe_throughput", OPS_PER_S, 200)
def pipe_throughput(iters):
    """A child sends `iters` messages of 1 MiB through a Pipe (send_bytes); the parent
    receives them with recv_bytes. Bytes per second from "go" to the last message."""
    a, b = CTX.Pipe()
    p = CTX.Process(target=_pipe_sender, args=(b, a, iters), daemon=True)
    p.start()
    b.close()
    offsets = _stamp_offsets()
    t0 = time.perf_counter_ns()
    a.send_bytes(b"go")
    for i in range(iters):
        m = a.recv_bytes()
        _check(len(m) == THROUGHPUT_SIZE, f"message {i}: {len(m)} bytes")
        for at in offsets:
            _check(_I64.unpack_from(m, at)[0] == i, f"message {i}: byte {at} is wrong")
    s = (time.perf_counter_ns() - t0) * 1e-9
    p.join()
    _check(p.exitcode == 0, f"sender exit code {p.exitcode}")
    a.close()
    return iters * THROUGHPUT_SIZE / s


# ---- queues (bench_queue.c; floors in raw_queue.c) -------------------------------------

QUEUE_SMALL = 64
QUEUE_LARGE = 64 * 1024
QUEUE_PAIRS = 2  # producers and consumers of the 2 -> 2 workload


def _queue_maker(size):
    """A function making the messages of bench_queue_messages.h, each a fresh bytes
    object: seq and producer, the pattern, seq again."""
    head = struct.Struct("<qq")
    body = bytes((k * 7 + 1) & 0xFF for k in range(16, size - 8))
    return lambda producer, seq: head.pack(seq, producer) + body + _I64.pack(seq)


def _queue_parse(m, size):
    """(producer, seq) of a received message; raises on a malformed one."""
    _check(len(m) == size, f"a message of {len(m)} bytes")
    seq, producer = struct.unpack_from("<qq", m)
    _check(_I64.unpack_from(m, size - 8)[0] == seq, f"message {seq}: wrong tail")
    return producer, seq


def _pin_if(spread, k):
    """Pins this process to the k-th CPU it may use (the spread rows)."""
    if spread:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[k % len(cpus)]})


def _queue_producer(q, ready, go, size, me, n, stop, spread=False):
    _child_setup()
    _pin_if(spread, 1)
    make = _queue_maker(size)
    ready.release()
    go.wait()
    for i in range(n):
        q.put(make(me, i))
    if stop:
        q.put(None)


def _queue_start(workers, ready, go):
    """Starts the workers, waits until each is ready, starts the clock and says go."""
    for w in workers:
        w.start()
    for _ in workers:
        ready.acquire()
    t0 = time.perf_counter_ns()
    go.set()
    return t0


def _queue_join(workers):
    for w in workers:
        w.join()
        _check(w.exitcode == 0, f"worker exit code {w.exitcode}")


def _queue_1to1(iters, size, spread=False):
    """A child puts `iters` messages of `size` bytes into a Queue; the parent gets them.
    Messages per second from "go" to the last one. `spread`: the two pinned to CPUs of
    their own."""
    q, ready, go = CTX.Queue(), CTX.Semaphore(0), CTX.Event()
    p = CTX.Process(target=_queue_producer,
                    args=(q, ready, go, size, 0, iters, False, spread), daemon=True)
    _pin_if(spread, 0)
    t0 = _queue_start([p], ready, go)
    for i in range(iters):
        producer, seq = _queue_parse(q.get(), size)
        _check(producer == 0 and seq == i, f"message {i}: got {seq} of producer {producer}")
    s = (time.perf_counter_ns() - t0) * 1e-9
    _queue_join([p])
    return iters / s


@peer("queue_1to1_64b", OPS_PER_S, 200_000)
def queue_1to1_64b(iters):
    return _queue_1to1(iters, QUEUE_SMALL)


@peer("queue_1to1_64b_spread", OPS_PER_S, 200_000)
def queue_1to1_64b_spread(iters):
    return _queue_1to1(iters, QUEUE_SMALL, spread=True)


@peer("queue_1to1_64b_batch", OPS_PER_S, 200_000)
def queue_1to1_64b_batch(iters):
    """Python's Queue has no batch calls (putMany was dropped): one put and get each."""
    return _queue_1to1(iters, QUEUE_SMALL)


@peer("queue_1to1_64k", OPS_PER_S, 5_000)
def queue_1to1_64k(iters):
    """Bytes per second."""
    return _queue_1to1(iters, QUEUE_LARGE) * QUEUE_LARGE


def _queue_consumer(q, ready, go, me, results):
    """Gets messages until None; writes [count, sum of seqs, end time] to results."""
    _child_setup()
    last, count, total = [-1] * QUEUE_PAIRS, 0, 0
    ready.release()
    go.wait()
    while (m := q.get()) is not None:
        producer, seq = _queue_parse(m, QUEUE_SMALL)
        _check(seq > last[producer], f"consumer {me}: {seq} of {producer} out of order")
        last[producer] = seq
        count += 1
        total += seq
    results[3 * me:3 * me + 3] = [count, total, time.perf_counter_ns()]  # CLOCK_MONOTONIC


@peer("queue_2to2_64b", OPS_PER_S, 200_000)
def queue_2to2_64b(iters):
    """Two producers each put iters/2 messages of 64 B, then None; two consumers get until
    None. Messages per second from "go" until both consumers stopped."""
    per = (iters + 1) // 2
    q, ready, go = CTX.Queue(), CTX.Semaphore(0), CTX.Event()
    results = CTX.RawArray("q", 3 * QUEUE_PAIRS)
    workers = [CTX.Process(target=_queue_consumer, args=(q, ready, go, i, results),
                           daemon=True) for i in range(QUEUE_PAIRS)]
    workers += [CTX.Process(target=_queue_producer,
                            args=(q, ready, go, QUEUE_SMALL, i, per, True), daemon=True)
                for i in range(QUEUE_PAIRS)]
    t0 = _queue_start(workers, ready, go)
    _queue_join(workers)
    counts, sums, ends = results[0::3], results[1::3], results[2::3]
    _check(sum(counts) == QUEUE_PAIRS * per and sum(sums) == QUEUE_PAIRS * per * (per - 1) // 2,
           f"consumers took {counts} messages (sums {sums})")
    return QUEUE_PAIRS * per / ((max(ends) - t0) * 1e-9)


# ---- pools (bench_pool.c; floors in raw_pool.c) ----------------------------------------

POOL_WORKERS = 2
_POOL = []


def _pool():
    """The Pool of every pool peer, as bench_pool.c's: made by the first (untimed warm-up)
    run, so no repetition pays for starting workers; closed and joined at exit."""
    if not _POOL:
        pool = CTX.Pool(POOL_WORKERS)
        _POOL.append(pool)

        def close():
            pool.close()
            pool.join()

        atexit.register(close)
    return _POOL[0]


def _increment(x):
    return x + 1


def _pool_map(iters, size, chunksize=None, pool=None):
    """`iters` tasks as pool.map calls of `size` items (new inputs each) on `pool` (None:
    the process pool); tasks per second, timing each map call and the release of the
    previous results (as bench_pool.c frees its), not the check."""
    pool, maps, ns = pool or _pool(), max(1, iters // size), 0
    for m in range(maps):
        items = range(m * size, (m + 1) * size)
        t0 = time.perf_counter_ns()
        got = pool.map(_increment, items, chunksize)
        ns += time.perf_counter_ns() - t0
        _check(got == [x + 1 for x in items], f"map {m}: wrong results")
    return maps * size / (ns * 1e-9)


@peer("pool_map_100k_default", OPS_PER_S, 500_000)
def pool_map_100k_default(iters):
    return _pool_map(iters, 100_000)


@peer("pool_map_10k_chunk1", OPS_PER_S, 10_000)
def pool_map_10k_chunk1(iters):
    return _pool_map(iters, 10_000, 1)


@peer("pool_apply_async_rtt", NS_PER_OP, 1_000)
def pool_apply_async_rtt(iters):
    return _apply_async_rtt(iters, _pool())


def _apply_async_rtt(iters, pool):
    """apply_async(f, (x,)).get() on `pool`, one at a time; per round trip."""
    t0 = time.perf_counter_ns()
    for i in range(iters):
        got = pool.apply_async(_increment, (i,)).get()
        _check(got == i + 1, f"task {i}: got {got}")
    return (time.perf_counter_ns() - t0) / iters


# ---- thread pools (bench_pool.c's thread_pool_* workloads) ---------------------------

_THREAD_POOL = []


def _thread_pool():
    """The ThreadPool of every thread pool peer, made and closed as _pool's."""
    if not _THREAD_POOL:
        pool = ThreadPool(POOL_WORKERS)
        _THREAD_POOL.append(pool)

        def close():
            pool.close()
            pool.join()

        atexit.register(close)
    return _THREAD_POOL[0]


@peer("thread_pool_map_100k_default", OPS_PER_S, 500_000)
def thread_pool_map_100k_default(iters):
    return _pool_map(iters, 100_000, pool=_thread_pool())


@peer("thread_pool_map_10k_chunk1", OPS_PER_S, 10_000)
def thread_pool_map_10k_chunk1(iters):
    return _pool_map(iters, 10_000, 1, pool=_thread_pool())


@peer("thread_pool_apply_async_rtt", NS_PER_OP, 1_000)
def thread_pool_apply_async_rtt(iters):
    return _apply_async_rtt(iters, _thread_pool())


# ---- pools by start method (bench_pool.c's pool_map_10k_chunk1_spawn, pool_lifecycle_*) --

_SPAWN_POOL = []


@peer("pool_map_10k_chunk1_spawn", OPS_PER_S, 10_000)
def pool_map_10k_chunk1_spawn(iters):
    if not _SPAWN_POOL:
        pool = multiprocessing.get_context("spawn").Pool(POOL_WORKERS)
        _SPAWN_POOL.append(pool)
        atexit.register(lambda: (pool.close(), pool.join()))
    return _pool_map(iters, 10_000, 1, pool=_SPAWN_POOL[0])


def _pool_lifecycle(iters, method):
    """A pool of POOL_WORKERS made by `method`, 100 tasks mapped, closed and joined."""
    ctx = multiprocessing.get_context(method)
    t0 = time.perf_counter_ns()
    for _ in range(iters):
        pool = ctx.Pool(POOL_WORKERS)
        got = pool.map(_increment, range(100), 1)
        _check(got == list(range(1, 101)), "wrong results")
        pool.close()
        pool.join()
    return (time.perf_counter_ns() - t0) / iters


@peer("pool_lifecycle_fork", NS_PER_OP, 20)
def pool_lifecycle_fork(iters):
    return _pool_lifecycle(iters, "fork")


@peer("pool_lifecycle_spawn", NS_PER_OP, 5)
def pool_lifecycle_spawn(iters):
    return _pool_lifecycle(iters, "spawn")


@peer("pool_lifecycle_forkserver", NS_PER_OP, 20)
def pool_lifecycle_forkserver(iters):
    return _pool_lifecycle(iters, "forkserver")


# ---- pools over MPI (bench_pool.c's *_mpi) ---------------------------------------------
# Run by `mpiexec -n 3 python3 -m mpi4py.futures peers.py ...` (bench/run.py does): rank 0
# runs this script, the other ranks are mpi4py.futures' workers. mpi4py comes from PyPI
# (`pip install mpi4py`, built against the MPI that mpiexec belongs to).

class _ExecutorPool:
    """An MPIPoolExecutor with the two Pool calls the pool peers make."""

    def __init__(self, executor):
        self.executor = executor

    def map(self, fn, items, chunksize=None):
        # Python's Pool rule for the default, as bench_pool.c's maps use it
        # (MPIPoolExecutor's own default is 1).
        chunksize = chunksize or -(-len(items) // (4 * POOL_WORKERS))
        return list(self.executor.map(fn, items, chunksize=chunksize))

    def apply_async(self, fn, args):
        future = self.executor.submit(fn, *args)

        class Result:
            get = future.result

        return Result()


def _mpi_pool():
    """The MPIPoolExecutor of every MPI peer, made by the untimed warm-up as _pool's."""
    def make():
        from mpi4py.futures import MPIPoolExecutor
        executor = MPIPoolExecutor()
        _check(executor.num_workers == POOL_WORKERS,
               f"{executor.num_workers} workers: run by mpiexec -n {POOL_WORKERS + 1}")
        return _ExecutorPool(executor)

    return _once("mpi_pool", make, lambda p: p.executor.shutdown())


@peer("pool_map_10k_chunk1_mpi", OPS_PER_S, 10_000)
def pool_map_10k_chunk1_mpi(iters):
    return _pool_map(iters, 10_000, 1, pool=_mpi_pool())


@peer("pool_map_100k_default_mpi", OPS_PER_S, 500_000)
def pool_map_100k_default_mpi(iters):
    return _pool_map(iters, 100_000, pool=_mpi_pool())


@peer("pool_apply_async_rtt_mpi", NS_PER_OP, 1_000)
def pool_apply_async_rtt_mpi(iters):
    return _apply_async_rtt(iters, _mpi_pool())


# pool_map_array_cpu has no peer: Python has no map over a C array with a C element
# function, and pool.map of a Python function over floats would time the interpreter's
# arithmetic (tens of times slower than C), not the pool.


# ---- managers (bench_manager.c and bench_manager_server.c; floor in raw_manager.c) -----

MANAGER_KEYS = 64
MANAGER_MSG = 64
MANAGER_AUTHKEY = b"bench-manager"
_MANAGER = {}

# The C manager server of manager_py_client_rtt_c_server (bench_manager_server), given
# by run.py with --server.
C_SERVER = None


def _once(name, make, close=None):
    """What `make()` returns, made by the first (untimed warm-up) run of the program and
    closed with `close(it)` at exit, as bench_manager.c's manager: no repetition pays for
    starting a server or making its objects."""
    if name not in _MANAGER:
        it = _MANAGER[name] = make()
        if close:
            atexit.register(close, it)
    return _MANAGER[name]


def _sync_manager():
    """SyncManager().start(), as users start one (a private unix socket, the process's
    authkey)."""
    def make():
        m = SyncManager(ctx=CTX)
        m.start()
        return m

    return _once("manager", make, lambda m: m.shutdown())


def _managed(name, make):
    """One object of the manager (m.dict(), m.Queue()), made once."""
    return _once(name, lambda: make(_sync_manager()))


def _keys(prefix):
    return [f"{prefix}key-{k:02d}" for k in range(MANAGER_KEYS)]


def _set_get(d, keys, n):
    """n times d[k] = i; d[k] (keys in turn), checking each value got back."""
    for i in range(n):
        k = keys[i % MANAGER_KEYS]
        d[k] = i
        got = d[k]
        _check(got == i, f"{k}: set {i}, got {got!r}")


def _timed_set_get(d, iters):
    keys = _keys("")
    t0 = time.perf_counter_ns()
    _set_get(d, keys, iters)
    return (time.perf_counter_ns() - t0) / iters


@peer("manager_dict_rtt", NS_PER_OP, 2_000)
def manager_dict_rtt(iters):
    """d = SyncManager().dict(); d[k] = i; d[k], with 64 str keys in turn. Per set + get."""
    return _timed_set_get(_managed("dict", lambda m: m.dict()), iters)


@peer("manager_queue_rtt", NS_PER_OP, 2_000)
def manager_queue_rtt(iters):
    """q = SyncManager().Queue(); q.put(64 bytes); q.get(), in one process. Per put + get."""
    q = _managed("queue", lambda m: m.Queue())
    body = bytes((k * 7 + 1) & 0xFF for k in range(8, MANAGER_MSG))
    t0 = time.perf_counter_ns()
    for i in range(iters):
        msg = _I64.pack(i) + body
        q.put(msg)
        got = q.get()
        _check(got == msg, f"message {i}: {len(got)} bytes, not the ones put")
    return (time.perf_counter_ns() - t0) / iters


def _dict_client(d, me, n, ready, go, ends):
    _child_setup()
    keys = _keys(f"c{me}-")
    _set_get(d, keys, 1)  # the first call connects this process and takes its reference
    ready.release()
    go.wait()
    _set_get(d, keys, n)
    ends[me] = time.perf_counter_ns()  # CLOCK_MONOTONIC, as the parent's


def _dict_clients(iters, clients):
    """`clients` processes on the one managed dict, each making iters/clients set + get
    pairs on keys of its own. Pairs per second, from "go" until the last client ended."""
    d = _managed("dict", lambda m: m.dict())
    per = -(-iters // clients)
    ready, go, ends = CTX.Semaphore(0), CTX.Event(), CTX.RawArray("q", clients)
    workers = [CTX.Process(target=_dict_client, args=(d, i, per, ready, go, ends), daemon=True)
               for i in range(clients)]
    t0 = _queue_start(workers, ready, go)
    _queue_join(workers)
    _check(min(ends) > t0, "a client did not report its end")
    return clients * per / ((max(ends) - t0) * 1e-9)


for _n in (1, 2, 4, 8):
    peer(f"manager_dict_clients_{_n}", OPS_PER_S, 2_000)(
        lambda iters, n=_n: _dict_clients(iters, n))


def _client_dict(address):
    """A Python client of the server at `address`: SyncManager(address, authkey).connect(),
    then m.dict()."""
    m = SyncManager(address=address, authkey=MANAGER_AUTHKEY)
    m.connect()
    return m.dict()


@peer("manager_py_client_rtt", NS_PER_OP, 2_000)
def manager_py_client_rtt(iters):
    """A Python client's d[k] = i; d[k] against a Python SyncManager server on
    tcp 127.0.0.1 (started by this process). Per set + get."""
    def make():
        server = SyncManager(address=("127.0.0.1", 0), authkey=MANAGER_AUTHKEY, ctx=CTX)
        server.start()
        return server

    server = _once("py_server", make, lambda s: s.shutdown())
    return _timed_set_get(_once("py_server_dict", lambda: _client_dict(server.address)), iters)


@peer("manager_py_client_rtt_c_server", NS_PER_OP, 2_000)
def manager_py_client_rtt_c_server(iters):
    """The same client against libprocessing's server: bench_manager_server (--server),
    which serves on tcp 127.0.0.1 and prints its address. Per set + get."""
    def make():
        _check(C_SERVER, "manager_py_client_rtt_c_server needs --server PATH")
        proc = subprocess.Popen([C_SERVER, MANAGER_AUTHKEY.decode()], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"tcp://([0-9.]+):([0-9]+)", line)
        _check(m, f"bench_manager_server printed {line!r}")
        return proc, (m.group(1), int(m.group(2)))

    def close(server):
        proc = server[0]
        proc.stdin.close()  # the server shuts down at the end of its input
        _check(proc.wait(timeout=30) == 0, f"bench_manager_server exited with {proc.returncode}")

    _, address = _once("c_server", make, close)
    return _timed_set_get(_once("c_server_dict", lambda: _client_dict(address)), iters)


# ---- over a network link (bench/run.py makes it; bench_common.h names the variables) ---

CLONE_NEWNET = 0x40000000
LINK_BATCH = 100
_ITEM_KEYS = [f"item-{k:03d}" for k in range(LINK_BATCH)]


def enter_netns(path):
    """Moves the calling thread (and the processes and threads it starts after) into the
    network namespace of the file `path` (os.setns is Python 3.12's; this is libc's)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)


def _link_address(side):
    host, port = os.environ[f"PC_BENCH_LINK_{side}"].rsplit(":", 1)
    return host, int(port)


def _link_dict():
    """A dict of a SyncManager server started in the server's namespace on the link's
    address, used from the clients' namespace by SyncManager(address, authkey).connect()."""
    def make():
        enter_netns(os.environ["PC_BENCH_NETNS_SERVER"])
        server = SyncManager(address=_link_address("SERVER"), authkey=MANAGER_AUTHKEY, ctx=CTX)
        server.start()
        enter_netns(os.environ["PC_BENCH_NETNS_CLIENT"])
        return server

    _once("link_server", make, lambda s: s.shutdown())
    return _once("link_dict", lambda: _client_dict(_link_address("CLIENT")))


def _link_dict_rtt(iters):
    """manager_dict_rtt's loop over the link. Round trips per second (set and get: two)."""
    d = _link_dict()
    keys = _keys("")
    t0 = time.perf_counter_ns()
    _set_get(d, keys, iters)
    return 2 * iters / ((time.perf_counter_ns() - t0) * 1e-9)


for _name, _iters in (("manager_link_dict_rtt", 1_000), ("manager_link_dict_rtt_1ms", 200)):
    peer(_name, OPS_PER_S, _iters)(_link_dict_rtt)


def _items_per_second(d, n, t0):
    rate = n / ((time.perf_counter_ns() - t0) * 1e-9)
    got = d[_ITEM_KEYS[(n - 1) % LINK_BATCH]]
    _check(got == n - 1, f"the last value moved is {got!r}, not {n - 1}")
    return rate


@peer("manager_link_update_1ms", OPS_PER_S, 20_000)
def manager_link_update_1ms(iters):
    """Over the 1 ms link, 100 values per d.update(). Items per second."""
    d = _link_dict()
    calls = -(-iters // LINK_BATCH)
    t0 = time.perf_counter_ns()
    for c in range(calls):
        d.update({k: c * LINK_BATCH + j for j, k in enumerate(_ITEM_KEYS)})
    return _items_per_second(d, calls * LINK_BATCH, t0)


@peer("manager_link_set_1ms", OPS_PER_S, 500)
def manager_link_set_1ms(iters):
    """The same values, one d[k] = v each. Items per second."""
    d = _link_dict()
    t0 = time.perf_counter_ns()
    for i in range(iters):
        d[_ITEM_KEYS[i % LINK_BATCH]] = i
    return _items_per_second(d, iters, t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=sorted(PEERS))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int)
    ap.add_argument("--server", metavar="PATH",
                    help="the C manager server (manager_py_client_rtt_c_server)")
    args = ap.parse_args(argv)
    global C_SERVER
    C_SERVER = args.server
    fn, metric, default_iters = PEERS[args.workload]
    iters = args.iters or default_iters
    if args.reps < 1 or iters < 1:
        ap.error("--reps and --iters must be at least 1")
    signal.alarm(ALARM_SECONDS)
    fn(max(1, iters // 10))  # warm-up, untimed, as the C programs do
    values = []
    for _ in range(args.reps):
        signal.alarm(ALARM_SECONDS)
        values.append(fn(iters))
    signal.alarm(0)
    print(f"{args.workload} {metric}=" + ",".join(f"{v:.6g}" for v in values))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
