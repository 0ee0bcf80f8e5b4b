/*
 * test_logging_threads.c: logging at DEBUG while the library works from several threads,
 * and a log handler that calls back into the library.
 *
 * The library logs its own events (a child started, a child ended) at DEBUG. Neither
 * using a handle from several threads at once nor a handler that
 * asks the library something (Python's logging handlers may call anything) may
 * deadlock. Each scenario runs in a sub-process with a watchdog: a deadlock is reported,
 * killed, and does not stop the other scenario. All results are printed, then the
 * program fails if any scenario did.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, … */
#endif
#include "testutil.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300

/* A handler that takes a little time, as writing to a file or a terminal does. */
static void slow_handler(void *ctx, int level, const char *name, const char *line)
{
    (void)ctx, (void)level, (void)name, (void)line;
    sleep_s(0.0001);
}

static void *start_and_join(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_process *p;
        if (pc_process_new(NULL, NULL, &p) != PC_OK || pc_process_start(p) != PC_OK ||
            pc_process_join(p, 10.0) != PC_OK)
            return (void *)1;
        pc_process_free(p);
    }
    return NULL;
}

#define THREADS 3

static int threads_start_children(int level)
{
    if (pc_enable_logging(level, slow_handler, NULL, NULL) != PC_OK)
        return 10;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, start_and_join, NULL);
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        failed += ret != NULL;
    }
    return failed ? 11 : 0;
}

/* Threads start and join children while logging is enabled at DEBUG. */
static int sub_threads_at_debug(void *arg)
{
    (void)arg;
    return threads_start_children(PC_LOG_DEBUG);
}

/* The same at INFO: the control case. */
static int sub_threads_at_info(void *arg)
{
    (void)arg;
    return threads_start_children(PC_LOG_INFO);
}

static size_t seen_children = 0;

/* A handler that asks the library how many children run. */
static void counting_handler(void *ctx, int level, const char *name, const char *line)
{
    (void)ctx, (void)level, (void)name, (void)line;
    size_t n = 0;
    if (pc_active_children(NULL, 0, &n) == PC_OK && n > seen_children)
        seen_children = n;
}

/* The library logs at DEBUG when it starts a child, when join reaps one, and when its
 * background reaper reaps a freed one: the handler asks the library each time. */
static int sub_reentrant_handler(void *arg)
{
    (void)arg;
    if (pc_enable_logging(PC_LOG_DEBUG, counting_handler, NULL, NULL) != PC_OK)
        return 10;
    pc_process *p;
    if (pc_process_new(NULL, NULL, &p) != PC_OK || pc_process_start(p) != PC_OK ||
        pc_process_join(p, 10.0) != PC_OK)
        return 11;
    pc_process_free(p);
    /* Freed while running: reaped in the background, which logs from a library thread. */
    double tenth = 0.1;
    if (pc_process_new(target_sleep, &tenth, &p) != PC_OK || pc_process_start(p) != PC_OK)
        return 12;
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);
    if (!wait_pid_gone(pid, 3.0))
        return 13;
    size_t n;
    if (pc_active_children(NULL, 0, &n) != PC_OK || n != 0) /* the registry still works */
        return 14;
    return 0;
}

static int run_scenario(const char *what, int (*fn)(void *), double timeout)
{
    double t0 = now();
    timeout *= TU_SLOWDOWN;
    pid_t sub = fork_sub(fn, NULL);
    int st = wait_sub(sub, timeout);
    bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (st == -1)
        fprintf(stderr, "   FAIL %s: not finished after %.0f s (deadlock), killed\n", what, timeout);
    else if (!ok)
        fprintf(stderr, "   FAIL %s: %s\n", what, status_text(st));
    else
        fprintf(stderr, "   ok   %s (%.2f s)\n", what, now() - t0);
    return ok ? 0 : 1;
}

int main(void)
{
    tu_init("test_logging_threads", 60);
    /* The children of a killed scenario become ours: reaped below. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    int failed = 0;
    if (TU_ASAN_FORK_UNSAFE) {
        /* A child forked while another thread is inside ASan's malloc hangs (gcc 12's
         * libsanitizer has no fork handler for its allocator): not the library's doing. */
        fprintf(stderr, "-- test_threads_start_children_*: skipped (a fork-unsafe ASan)\n");
        goto handler;
    }
    fprintf(stderr, "-- test_threads_start_children_at_info (control)\n");
    failed += run_scenario("3 threads start and join 300 children each, logging at INFO",
                           sub_threads_at_info, 5.0);
    fprintf(stderr, "-- test_threads_start_children_at_debug\n");
    /* A race: up to 3 tries to see it (each takes well under a second when sound). */
    for (int i = 0; i < 3; i++)
        if (run_scenario("3 threads start and join 300 children each, logging at DEBUG",
                         sub_threads_at_debug, 5.0)) {
            failed++;
            break;
        }
handler:
    fprintf(stderr, "-- test_handler_calls_the_library\n");
    failed += run_scenario("a log handler calling pc_active_children (start, join, reaper)",
                           sub_reentrant_handler, 5.0);
    CHECK(reap_orphans(5.0));
    if (failed)
        FAIL("%d scenario(s) deadlocked or failed (see above)", failed);
    return tu_done();
}
