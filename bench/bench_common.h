/*
 * bench_common.h: the little every benchmark program shares (libc only, so the raw-floor
 * programs can use it too): a monotonic clock, the command line, warm-up, repetitions
 * and the one result line the runner (bench/run.py) parses.
 *
 * A program lists its workloads ("modes") in a table and calls bench_main:
 *
 *     static double process_start_join(long iters) { ...timed loop...; return ns / iters; }
 *     static const bench_mode modes[] = {
 *         {"process_start_join", BENCH_NS_PER_OP, process_start_join, 2000},
 *     };
 *     int main(int argc, char **argv) { return BENCH_MAIN(argc, argv, modes); }
 *
 * Command line (the same as bench/peers.py):
 *
 *     prog <workload> [--reps R] [--iters N]
 *
 * It runs the workload once untimed (a tenth of the iterations: first-use costs such as
 * the library's reaper thread are not what we measure), then R timed repetitions of N
 * iterations, and prints one line:
 *
 *     <workload> <metric>=<v1>,<v2>,...,<vR>
 *
 * where <metric> is "ns_per_op" (lower is better) or "ops_per_s" (higher is better) and
 * each value is one repetition's result. Errors go to stderr with exit status 1; a
 * benchmark that measured something broken must not print a number.
 *
 * Nothing may hang: bench_main arms alarm(BENCH_ALARM_SECONDS) around the warm-up and each
 * repetition (SIGALRM kills the program, and the runner reports the failure). Alarms are
 * not inherited by fork, so a child that may block calls bench_child_setup() first.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

/* What a mode's function returns, per repetition. */
typedef enum {
    BENCH_NS_PER_OP, /* nanoseconds per operation: lower is better */
    BENCH_OPS_PER_S, /* operations (messages, bytes, tasks) per second: higher is better */
} bench_metric;

typedef struct {
    const char *name;     /* workload name, as in bench/run.py's table */
    bench_metric metric;  /* what `run` returns */
    double (*run)(long iters);
    long default_iters;
} bench_mode;

#define BENCH_DEFAULT_REPS 5

/* The longest one repetition (or the warm-up) may take before SIGALRM ends the program. */
#define BENCH_ALARM_SECONDS 120

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prints a failure and exits: for checks inside timed loops. */
#define BENCH_CHECK(cond, ...)                                                     \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

/* As BENCH_CHECK, for a forked child: _exit, so nothing of the parent's (atexit handlers,
 * stdio buffers) runs twice. The parent sees the non-zero exit status. */
#define BENCH_CHILD_CHECK(cond, ...)                                               \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed in child: %s: ", __FILE__, __LINE__, \
                    #cond);                                                        \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            _exit(1);                                                              \
        }                                                                          \
    } while (0)

#if defined(__linux__) && defined(_GNU_SOURCE)
#include <errno.h>
#include <sched.h>

/* Pins the calling thread to the k-th CPU it may use (round robin): the "one per CPU"
 * rows, since this kernel packs busy processes onto as few vCPUs as it can. Returns 0 or
 * an errno value. */
static inline int bench_pin_cpu(int k)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return errno;
    int cpu = -1;
    for (int n = k % CPU_COUNT(&allowed); n >= 0; n--)
        while (!CPU_ISSET(++cpu, &allowed))
            ;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) != 0 ? errno : 0;
}

/* The rows over a network link (bench/run.py's Workload.link): run.py makes two network
 * namespaces joined by a veth pair and names them in the environment of the programs:
 * PC_BENCH_NETNS_SERVER and PC_BENCH_NETNS_CLIENT (the files to setns(2) to),
 * PC_BENCH_LINK_SERVER (the HOST:PORT a server listens on, in the server's namespace) and
 * PC_BENCH_LINK_CLIENT (the HOST:PORT its clients connect to, in theirs: the server's, or a
 * relay that delays every reply). */
#include <fcntl.h>
#include <string.h>

/* The value of `name`; ends the program when run.py did not set it. */
static inline const char *bench_link_env(const char *name)
{
    const char *v = getenv(name);
    BENCH_CHECK(v && *v, "%s is not set: bench/run.py makes the link of this workload", name);
    return v;
}

/* Moves the calling thread (and the processes it forks after) into the server's namespace
 * (`side` "SERVER") or the clients' ("CLIENT"). */
static inline void bench_link_enter(const char *side)
{
    char name[64];
    snprintf(name, sizeof name, "PC_BENCH_NETNS_%s", side);
    int fd = open(bench_link_env(name), O_RDONLY | O_CLOEXEC);
    BENCH_CHECK(fd >= 0 && setns(fd, CLONE_NEWNET) == 0, "entering %s: %s", name,
                strerror(errno));
    close(fd);
}
#endif

/* First thing in a forked child that may block: its own alarm, and (Linux) SIGKILL when
 * the parent dies, so a child whose partner is gone cannot wait forever. */
static inline void bench_child_setup(void)
{
    alarm(BENCH_ALARM_SECONDS);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
}

static inline const char *bench_metric_name(bench_metric m)
{
    return m == BENCH_OPS_PER_S ? "ops_per_s" : "ns_per_op";
}

static inline int bench_usage(const char *prog, const bench_mode *modes, size_t n)
{
    fprintf(stderr, "usage: %s <workload> [--reps R] [--iters N]\nworkloads:", prog);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s", modes[i].name);
    fputc('\n', stderr);
    return 2;
}

static inline int bench_main(int argc, char **argv, const bench_mode *modes, size_t n)
{
    if (argc < 2)
        return bench_usage(argv[0], modes, n);
    const bench_mode *mode = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], modes[i].name) == 0)
            mode = &modes[i];
    if (!mode)
        return bench_usage(argv[0], modes, n);

    long reps = BENCH_DEFAULT_REPS, iters = mode->default_iters;
    for (int i = 2; i < argc; i++) {
        char *end = NULL;
        if (i + 1 < argc && strcmp(argv[i], "--reps") == 0)
            reps = strtol(argv[++i], &end, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--iters") == 0)
            iters = strtol(argv[++i], &end, 10);
        else
            return bench_usage(argv[0], modes, n);
        if (!end || *end != '\0' || reps < 1 || iters < 1)
            return bench_usage(argv[0], modes, n);
    }

    double *values = calloc((size_t)reps, sizeof *values);
    BENCH_CHECK(values != NULL, "out of memory");
    alarm(BENCH_ALARM_SECONDS);
    mode->run(iters / 10 > 0 ? iters / 10 : 1); /* warm-up, untimed */
    for (long r = 0; r < reps; r++) {
        alarm(BENCH_ALARM_SECONDS);
        values[r] = mode->run(iters);
    }
    alarm(0);

    printf("%s %s=", mode->name, bench_metric_name(mode->metric));
    for (long r = 0; r < reps; r++)
        printf("%s%.6g", r ? "," : "", values[r]);
    printf("\n");
    fflush(stdout);
    free(values);
    return 0;
}

#define BENCH_MAIN(argc, argv, modes) \
    bench_main((argc), (argv), (modes), sizeof(modes) / sizeof((modes)[0]))

#endif /* BENCH_COMMON_H */
