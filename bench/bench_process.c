/*
 * bench_process.c: libprocessing's process workloads (see bench/run.py for the table).
 *
 * process_start_join: a Process with an empty target, started and joined, N times:
 * what a program pays to run a function in a child. The floor is raw_process.c
 * (fork + _exit + waitpid); the Python peer is peers.py's process_start_join.
 */
#include "bench_lib.h"

static int empty_target(void *arg)
{
    (void)arg;
    return 0;
}

/* One iteration is everything a user writes to run a function in a child and wait for it:
 * new, start, join, free. The exit code is checked so a failing child cannot look fast. */
static double process_start_join(long iters)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pc_process *p = NULL;
        PC_CHECK(pc_process_new(empty_target, NULL, &p));
        PC_CHECK(pc_process_start(p));
        PC_CHECK(pc_process_join(p, PC_FOREVER));
        int code = -1;
        PC_CHECK(pc_process_exitcode(p, &code));
        BENCH_CHECK(code == 0, "child exit code %d", code);
        pc_process_free(p);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static const bench_mode modes[] = {
    {"process_start_join", BENCH_NS_PER_OP, process_start_join, 2000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
