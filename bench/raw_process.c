/*
 * raw_process.c: the floor for the process workloads, in plain libc.
 *
 * process_start_join: fork, the child _exits at once, the parent waitpids it; what
 * bench_process.c's process_start_join does with libprocessing.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

static double process_start_join(long iters)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pid_t pid = fork();
        BENCH_CHECK(pid >= 0, "fork failed");
        if (pid == 0)
            _exit(0);
        int status = 0;
        BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
        BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
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
