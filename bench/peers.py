#!/usr/bin/env python3
"""The Python peers of the benchmarks: each workload written with `multiprocessing` the way
a user would write it (fork context, as libprocessing starts children with fork).

    python3 bench/peers.py <workload> [--reps R] [--iters N]

prints the same line as the C programs (see bench_common.h):

    <workload> <metric>=<v1>,<v2>,...,<vR>

To add a workload: write a function taking the iteration count and returning one
repetition's result, decorated with @peer("<workload>", NS_PER_OP or OPS_PER_S, iters).
"""

import argparse
import multiprocessing
import sys
import time

NS_PER_OP = "ns_per_op"  # lower is better
OPS_PER_S = "ops_per_s"  # higher is better

CTX = multiprocessing.get_context("fork")

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
    t0 = time.perf_counter_ns()
    for _ in range(iters):
        p = CTX.Process(target=_empty)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"child exit code {p.exitcode}")
    return (time.perf_counter_ns() - t0) / iters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=sorted(PEERS))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int)
    args = ap.parse_args(argv)
    fn, metric, default_iters = PEERS[args.workload]
    iters = args.iters or default_iters
    if args.reps < 1 or iters < 1:
        ap.error("--reps and --iters must be at least 1")
    fn(max(1, iters // 10))  # warm-up, untimed, as the C programs do
    values = [fn(iters) for _ in range(args.reps)]
    print(f"{args.workload} {metric}=" + ",".join(f"{v:.6g}" for v in values))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
