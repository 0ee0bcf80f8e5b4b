/*
 * raw_process.c: the floor for the process workloads, in plain libc.
 *
 * process_start_join: fork, the child _exits at once, the parent waitpids it; what
 * bench_process.c's process_start_join does with libprocessing.
 *
 * process_start_join_spawn: posix_spawn of this program, which exits at once (with
 * EXIT_AT_ONCE as its first argument), and waitpid: the least a spawn start costs.
 */
#include <spawn.h>
#include <string.h>
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

#define EXIT_AT_ONCE "--exit-at-once"

extern char **environ;

static double process_start_join_spawn(long iters)
{
    char *argv[] = {"raw_process", EXIT_AT_ONCE, NULL};
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pid_t pid = 0;
        int err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
        BENCH_CHECK(err == 0, "posix_spawn failed: %d", err);
        int status = 0;
        BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
        BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static const bench_mode modes[] = {
    {"process_start_join", BENCH_NS_PER_OP, process_start_join, 2000},
    {"process_start_join_spawn", BENCH_NS_PER_OP, process_start_join_spawn, 500},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], EXIT_AT_ONCE) == 0)
        _exit(0);
    return BENCH_MAIN(argc, argv, modes);
}
