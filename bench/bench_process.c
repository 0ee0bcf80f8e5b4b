/*
 * bench_process.c: libprocessing's process workloads (see bench/run.py for the table).
 *
 * process_start_join: a Process with an empty target, started and joined, N times:
 * what a program pays to run a function in a child. The floor is raw_process.c
 * (fork + _exit + waitpid); the Python peer is peers.py's process_start_join.
 *
 * process_start_join_spawn, process_start_join_forkserver: the same under the spawn and
 * forkserver start methods (the forkserver started by the untimed warm-up, as Python's
 * is by its first start). Floors: posix_spawn of this program, which exits at once, and
 * fork + _exit + waitpid (the forkserver's own fork).
 */
#include "bench_lib.h"

static int empty_target(void *arg)
{
    (void)arg;
    return 0;
}

/* One iteration is everything a user writes to run a function in a child and wait for it:
 * new, start, join, free. The exit code is checked so a failing child cannot look fast. */
static double start_join(long iters, const char *method)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pc_process *p = NULL;
        PC_CHECK(pc_process_new(empty_target, NULL, &p));
        PC_CHECK(pc_process_set_start_method(p, method));
        PC_CHECK(pc_process_start(p));
        PC_CHECK(pc_process_join(p, PC_FOREVER));
        int code = -1;
        PC_CHECK(pc_process_exitcode(p, &code));
        BENCH_CHECK(code == 0, "child exit code %d", code);
        pc_process_free(p);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static double process_start_join(long iters)
{
    return start_join(iters, "fork");
}

static double process_start_join_spawn(long iters)
{
    return start_join(iters, "spawn");
}

static double process_start_join_forkserver(long iters)
{
    return start_join(iters, "forkserver");
}

static const bench_mode modes[] = {
    {"process_start_join", BENCH_NS_PER_OP, process_start_join, 2000},
    {"process_start_join_spawn", BENCH_NS_PER_OP, process_start_join_spawn, 500},
    {"process_start_join_forkserver", BENCH_NS_PER_OP, process_start_join_forkserver, 1000},
};

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    return BENCH_MAIN(argc, argv, modes);
}
