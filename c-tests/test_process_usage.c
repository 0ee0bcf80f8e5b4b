/*
 * test_process_usage.c: how process handles may be used (include/processing.h:
 * pc_process_*): the creator rule, bad arguments for every function, freed handles,
 * threads, fds closed on exec, many children, and no zombie / fd / child left behind.
 *
 * The exit rules (atexit, parent death) and stdio across fork are in test_process_exit.c;
 * the rest of the process API in the other test_process_*.c.
 *
 * `test_process_usage NAME…` runs only the named subtests.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "process_common.h"

/* ---- many children, no zombie, no leaked fd ---- */
#define MANY 100

/* Brings up what the library creates lazily and keeps: two children at once, one handle
 * freed while its child runs (so it must be reaped in the background). */
static void warm_up_library(void)
{
    double tenth = 0.1;
    pc_process *a, *b;
    CHECK_OK(pc_process_new(target_sleep, &tenth, &a));
    CHECK_OK(pc_process_new(target_sleep, &tenth, &b));
    CHECK_OK(pc_process_start(a));
    CHECK_OK(pc_process_start(b));
    pid_t pid_b = pc_process_pid(b);
    pc_process_free(b);
    CHECK_OK(pc_process_join(a, 10.0));
    pc_process_free(a);
    CHECK(wait_pid_gone(pid_b, 2.0));
}

static void test_many_children(void)
{
    /* The library may keep fds of its own once it has children (its background reaper's):
     * warm up with what brings all of them up, several children at once and a handle
     * freed while its child runs, before counting. */
    warm_up_library();
    /* The reaper thread closes the fd of the child freed while running a moment after
     * it reaped it: count once the number has held for 50 ms (2 s at most). */
    int fds_before = count_open_fds();
    double settled = now(), settle_by = now() + 2.0;
    while (now() - settled < 0.05 && now() < settle_by) {
        sleep_s(0.01);
        int fds = count_open_fds();
        if (fds != fds_before) {
            fds_before = fds;
            settled = now();
        }
    }
    CHECK(fds_before > 0);

    static pc_process *ps[MANY];
    static pid_t pids[MANY];
    for (int i = 0; i < MANY; i++) {
        CHECK_OK(pc_process_new(target_return, (void *)(intptr_t)(i + 1), &ps[i]));
        CHECK_OK(pc_process_start(ps[i]));
        pids[i] = pc_process_pid(ps[i]);
        CHECK(pids[i] > 0);
    }
    for (int i = 0; i < MANY; i++) {
        CHECK_OK(pc_process_join(ps[i], 10.0));
        int code;
        CHECK_OK(pc_process_exitcode(ps[i], &code));
        if (code != i + 1)
            FAIL("child %d: exit code %d, expected %d", i, code, i + 1);
        pc_process_free(ps[i]);
    }
    for (int i = 0; i < MANY; i++)
        if (!wait_pid_gone(pids[i], 2.0))
            FAIL("child %d (pid %d) left behind, state %c", i, (int)pids[i], pid_state(pids[i], NULL));

    /* Terminated right after start: they sleep, so -15 is expected. */
    double long_sleep = 20.0;
    for (int i = 0; i < MANY; i++) {
        CHECK_OK(pc_process_new(target_sleep, &long_sleep, &ps[i]));
        CHECK_OK(pc_process_start(ps[i]));
        pids[i] = pc_process_pid(ps[i]);
        CHECK_OK(pc_process_terminate(ps[i]));
    }
    for (int i = 0; i < MANY; i++) {
        CHECK_OK(pc_process_join(ps[i], 10.0));
        int code;
        CHECK_OK(pc_process_exitcode(ps[i], &code));
        if (code != -SIGTERM)
            FAIL("terminated child %d: exit code %d, expected -15", i, code);
        pc_process_free(ps[i]);
    }
    for (int i = 0; i < MANY; i++)
        if (!wait_pid_gone(pids[i], 2.0))
            FAIL("terminated child %d (pid %d) left behind, state %c", i, (int)pids[i],
                 pid_state(pids[i], NULL));

    /* Children nobody joined: ended, they are reaped at the latest by the next library
     * call (here pc_active_children), and their fds closed once the handle is freed. */
    for (int i = 0; i < 10; i++) {
        CHECK_OK(pc_process_new(NULL, NULL, &ps[i]));
        CHECK_OK(pc_process_start(ps[i]));
        pids[i] = pc_process_pid(ps[i]);
    }
    for (int i = 0; i < 10; i++) {
        struct pollfd pfd = {.fd = pc_process_sentinel(ps[i]), .events = POLLIN};
        CHECK(poll(&pfd, 1, 5000) == 1);
    }
    size_t live = 99;
    CHECK_OK(pc_active_children(NULL, 0, &live));
    CHECK(live == 0);
    for (int i = 0; i < 10; i++)
        if (!wait_pid_gone(pids[i], 2.0))
            FAIL("unjoined child %d (pid %d) not reaped, state %c", i, (int)pids[i],
                 pid_state(pids[i], NULL));
    for (int i = 0; i < 10; i++)
        pc_process_free(ps[i]);

    /* Freed while running, never joined: reaped when it ends, fd closed then. */
    double tenth = 0.1;
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &tenth, &p));
    CHECK_OK(pc_process_start(p));
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);
    CHECK(wait_pid_gone(pid, 2.0));

    CHECK(wait_no_children(2.0));
    /* The fd of a reaped, freed child may be closed by the reaper thread a moment later. */
    double deadline = now() + 2.0;
    while (count_open_fds() != fds_before && now() < deadline)
        sleep_s(0.01);
    int fds_after = count_open_fds();
    if (fds_after != fds_before)
        FAIL("open fds: %d before, %d after", fds_before, fds_after);
}

/* ---- only the creator may start, join or query ---- */
struct sibling {
    pc_process *running;   /* started by the parent */
    pc_process *unstarted; /* created by the parent, not started */
};

/* In a child: handles created by the parent (siblings) may not be started, joined or
 * queried here. Returns 0 when every call was refused. */
static int target_use_sibling(void *arg)
{
    const struct sibling *sb = arg;
    int code;
    if (pc_process_join(sb->running, 0) != PC_ERR_WRONG_STATE)
        return 70;
    if (!tu_contains(pc_last_error(), "only the process that created"))
        return 71;
    if (pc_process_join(sb->running, PC_FOREVER) != PC_ERR_WRONG_STATE)
        return 72;
    if (pc_process_start(sb->unstarted) != PC_ERR_WRONG_STATE)
        return 73;
    if (pc_process_exitcode(sb->running, &code) != PC_ERR_WRONG_STATE)
        return 74;
    if (pc_process_terminate(sb->running) != PC_ERR_WRONG_STATE)
        return 75;
    if (pc_process_kill(sb->running) != PC_ERR_WRONG_STATE)
        return 76;
    if (pc_process_is_alive(sb->running))
        return 77;
    if (pc_process_join(sb->unstarted, 0) != PC_ERR_WRONG_STATE)
        return 78;
    /* Its own object: the current process cannot be started or joined either. */
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 79;
    if (pc_process_join((pc_process *)me, 0) != PC_ERR_WRONG_STATE)
        return 80;
    if (pc_process_start((pc_process *)me) != PC_ERR_WRONG_STATE)
        return 81;
    if (!pc_process_is_alive((pc_process *)me))
        return 82;
    /* The child has no children of its own. */
    size_t count = 99;
    if (pc_active_children(NULL, 0, &count) != PC_OK || count != 0)
        return 83;
    return 0;
}

static void test_only_the_creator(void)
{
    static struct sibling sb;
    double long_sleep = 20.0;
    CHECK_OK(pc_process_new(target_sleep, &long_sleep, &sb.running));
    CHECK_OK(pc_process_new(NULL, NULL, &sb.unstarted));
    CHECK_OK(pc_process_start(sb.running));
    pc_process *c;
    CHECK_OK(pc_process_new(target_use_sibling, &sb, &c));
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    if (code != 0)
        FAIL("child using its siblings reported %d (see target_use_sibling)", code);
    /* Nothing the child did changed the siblings. */
    CHECK(pc_process_is_alive(sb.running));
    CHECK(pc_process_pid(sb.unstarted) == 0);
    CHECK_OK(pc_process_terminate(sb.running));
    CHECK_OK(pc_process_join(sb.running, 5.0));
    CHECK_OK(pc_process_exitcode(sb.running, &code));
    CHECK(code == -SIGTERM);
    pc_process_free(c);
    pc_process_free(sb.running);
    pc_process_free(sb.unstarted);
}

/* ---- NULL and bad arguments, for every pc_process_* function ---- */
static void test_null_arguments(void)
{
    int code = 0;
    const uint8_t *key;
    size_t len;

    CHECK_STATUS(pc_process_new(NULL, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_new");
    CHECK_ERRMSG("out");
    CHECK_STATUS(pc_process_new(target_return, NULL, NULL), PC_ERR_INVALID_ARGUMENT);

    CHECK_STATUS(pc_process_set_name(NULL, "x"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_set_name");
    CHECK_ERRMSG("p is NULL");
    CHECK(pc_process_name(NULL) == NULL);
    CHECK_ERRMSG("pc_process_name");
    CHECK_STATUS(pc_process_set_daemon(NULL, true), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_set_daemon");
    CHECK(!pc_process_daemon(NULL));
    CHECK_ERRMSG("pc_process_daemon");
    CHECK_STATUS(pc_process_start(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_start");
    CHECK_STATUS(pc_process_run(NULL, &code), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_run");
    CHECK_STATUS(pc_process_run(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_join(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_join");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_process_join(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_join(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK(!pc_process_is_alive(NULL));
    CHECK_ERRMSG("pc_process_is_alive");
    CHECK(pc_process_pid(NULL) == 0);
    CHECK_ERRMSG("pc_process_pid");
    CHECK_STATUS(pc_process_exitcode(NULL, &code), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_exitcode");
    CHECK_STATUS(pc_process_exitcode(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_terminate(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_terminate");
    CHECK_STATUS(pc_process_kill(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_kill");
    CHECK(pc_process_sentinel(NULL) == -1);
    CHECK_ERRMSG("pc_process_sentinel");
    CHECK_STATUS(pc_process_authkey(NULL, &key, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_authkey");
    CHECK_STATUS(pc_process_set_authkey(NULL, "k", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_set_authkey");
    CHECK_STATUS(pc_current_process(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_current_process");
    CHECK_ERRMSG("out");
    pc_process_free(NULL); /* a no-op */

    /* NULL out-parameters and strings on a valid handle. */
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    const char *name_before = pc_process_name(p);
    char saved[64];
    snprintf(saved, sizeof saved, "%s", name_before);
    CHECK_STATUS(pc_process_set_name(p, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_process_set_name(p, "bad \xff\xfe utf-8"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("UTF-8");
    CHECK_STATUS(pc_process_set_name(p, "\xc3"), PC_ERR_INVALID_ARGUMENT); /* cut sequence */
    CHECK(strcmp(pc_process_name(p), saved) == 0); /* unchanged */
    CHECK_STATUS(pc_process_authkey(p, NULL, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("key");
    CHECK_STATUS(pc_process_authkey(p, &key, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("len");
    CHECK_STATUS(pc_process_set_authkey(p, NULL, 5), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_set_authkey(p, NULL, SIZE_MAX), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_set_authkey(p, "x", SIZE_MAX), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("too large");
    CHECK_OK(pc_process_start(p));
    CHECK_STATUS(pc_process_exitcode(p, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_STATUS(pc_process_exitcode(p, NULL), PC_ERR_INVALID_ARGUMENT);
    pc_process_free(p);

    /* The current process: not a child, so no start/join/exitcode/signal on it. */
    const pc_process *me;
    CHECK_OK(pc_current_process(&me));
    pc_process *mep = (pc_process *)me;
    CHECK_STATUS(pc_process_start(mep), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("current process");
    CHECK_STATUS(pc_process_join(mep, 0), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_join(mep, PC_FOREVER), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_exitcode(mep, &code), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_terminate(mep), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_kill(mep), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_set_daemon(mep, false), PC_ERR_WRONG_STATE);

    /* pc_process_free on the current process is refused, and it stays usable. */
    pc_process_free(mep);
    CHECK_ERRMSG("current process");
    const pc_process *me2;
    CHECK_OK(pc_current_process(&me2));
    CHECK(me2 == me);
    CHECK(strcmp(pc_process_name(me), "MainProcess") == 0);
    CHECK(pc_process_pid(me) == getpid());
    CHECK_OK(pc_process_authkey(me, &key, &len));
    /* Children can still be made and named after it. */
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK(name_number(pc_process_name(p)) > 0);
    pc_process_free(p);
}

/* ---- a freed handle used again ---- */
static void test_freed_handle(void)
{
    /* The memory stays alive while the child runs (the library still has to reap it),
     * so the use of a freed handle is detectable then. */
    double long_sleep = 20.0;
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &long_sleep, &p));
    CHECK_OK(pc_process_start(p));
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);
    CHECK(pid_running(pid));

    int code;
    const uint8_t *key;
    size_t len;
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK_ERRMSG("pc_process_join");
    CHECK_STATUS(pc_process_join(p, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_process_start(p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_process_set_name(p, "x"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK(pc_process_name(p) == NULL);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_process_set_daemon(p, true), PC_ERR_INVALID_ARGUMENT);
    CHECK(!pc_process_daemon(p));
    CHECK_STATUS(pc_process_run(p, &code), PC_ERR_INVALID_ARGUMENT);
    CHECK(!pc_process_is_alive(p));
    CHECK_ERRMSG("already freed");
    CHECK(pc_process_pid(p) == 0);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_terminate(p), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_kill(p), PC_ERR_INVALID_ARGUMENT);
    CHECK(pc_process_sentinel(p) == -1);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_process_authkey(p, &key, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_set_authkey(p, "k", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    /* A second free is reported, not a crash. */
    pc_process_free(p);
    CHECK_ERRMSG("already freed");
    CHECK_ERRMSG("pc_process_free");

    /* The refused calls did not touch the child: it still runs; end it by pid. */
    CHECK(pid_running(pid));
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(wait_pid_gone(pid, 2.0));
}

/* ---- several threads at once ---- */
#define THREADS 4

#define PER_THREAD 25

static void *thread_start_join(void *arg)
{
    intptr_t base = (intptr_t)arg;
    for (intptr_t i = 0; i < PER_THREAD; i++) {
        pc_process *p;
        if (pc_process_new(target_return, (void *)(base + i), &p) != PC_OK)
            return (void *)1;
        if (pc_process_start(p) != PC_OK)
            return (void *)2;
        if (pc_process_join(p, 10.0) != PC_OK)
            return (void *)3;
        int code;
        if (pc_process_exitcode(p, &code) != PC_OK || code != (int)(base + i))
            return (void *)4;
        pc_process_free(p);
    }
    return NULL;
}

struct shared_child {
    pc_process *p;
    int status;
};

static void *thread_join_shared(void *arg)
{
    struct shared_child *sc = arg;
    sc->status = pc_process_join(sc->p, 10.0);
    return NULL;
}

static void test_threads(void)
{
    /* Threads starting and joining their own children at the same time. */
    pthread_t t[THREADS];
    if (TU_ASAN_FORK_UNSAFE) {
        fprintf(stderr, "   skipped: threads forking at once (ASan's allocator is not fork-safe)\n");
    } else {
        for (intptr_t i = 0; i < THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, thread_start_join, (void *)(1 + i * PER_THREAD)) ==
                  0);
        for (int i = 0; i < THREADS; i++) {
            void *ret;
            CHECK(pthread_join(t[i], &ret) == 0);
            if (ret != NULL)
                FAIL("thread %d failed at step %d", i, (int)(intptr_t)ret);
        }
    }

    /* Several threads joining the same child. */
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK_OK(pc_process_start(p));
    struct shared_child sc[THREADS];
    for (int i = 0; i < THREADS; i++) {
        sc[i].p = p;
        sc[i].status = 999;
        CHECK(pthread_create(&t[i], NULL, thread_join_shared, &sc[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK_STATUS(sc[i].status, PC_OK);
    }
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);
    CHECK(wait_no_children(2.0));
}

/* ---- the library's fds are close-on-exec ---- */
static void test_fds_close_on_exec(void)
{
    /* With children running (their pidfds, maybe a reaper's fds open), and none of our
     * own fds open: every fd that was not inherited at the start is the library's. */
    pc_process *p, *q;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &q));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_start(q));
    int checked = 0;
    for (int fd = 3; fd < 1024; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags == -1 || fd_open_at_start(fd))
            continue;
        char path[64], target[256] = "";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0)
            target[n] = '\0';
        if (!(flags & FD_CLOEXEC))
            FAIL("fd %d (%s) is not close-on-exec", fd, target);
        checked++;
    }
    CHECK(checked >= 2); /* at least the two pidfds */
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_process_join(q, 10.0));
    pc_process_free(p);
    pc_process_free(q);
}

/* ---- nothing left at the end ---- */
static void test_nothing_left(void)
{
    size_t count = 99;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_init("test_process_usage", 55);
    tu_select(argc, argv);
    RUN(test_only_the_creator);
    RUN(test_null_arguments);
    RUN(test_freed_handle);
    RUN(test_threads);
    RUN(test_fds_close_on_exec);
    RUN(test_many_children);
    RUN(test_nothing_left);
    return tu_done();
}
