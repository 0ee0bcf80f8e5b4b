/*
 * test_process_lifecycle.c: a process's life (include/processing.h: pc_process_new,
 * pc_process_start, pc_process_join, pc_process_is_alive, pc_process_sentinel, …):
 * lifecycle and state errors, exit codes, join timeouts, is_alive, sentinel, daemon, run,
 * a stopped child, children reaped by the calls that look at them.
 *
 * The exit rules (atexit, parent death) and stdio across fork are in test_process_exit.c;
 * the rest of the process API in the other test_process_*.c.
 *
 * `test_process_lifecycle NAME…` runs only the named subtests.
 *
 * ctest-timeout: 40
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

/* ---- targets (they run in the child: no CHECK here, report through the exit code) ---- */
static int target_segv(void *arg)
{
    (void)arg;
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* no core file, and no slow core handler */
    signal(SIGSEGV, SIG_DFL);      /* a sanitizer's handler would turn it into exit(1) */
    raise(SIGSEGV);
    return 0;
}

static int target_exit3(void *arg)
{
    (void)arg;
    _exit(3);
}

/* ---- lifecycle and state errors ---- */
static void test_lifecycle_and_state_errors(void)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK(p != NULL);

    int code = 12345;
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("not started");
    CHECK(code == 12345); /* written on success only */
    CHECK_STATUS(pc_process_join(p, PC_FOREVER), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_process_join");
    CHECK_ERRMSG("started");
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_terminate(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("not started");
    CHECK_STATUS(pc_process_kill(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("not started");
    CHECK(!pc_process_is_alive(p));
    CHECK(pc_process_pid(p) == 0);
    CHECK(pc_process_sentinel(p) == -1);

    CHECK_OK(pc_process_start(p));
    CHECK_STATUS(pc_process_start(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("twice");
    CHECK_STATUS(pc_process_set_daemon(p, true), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("before start");
    CHECK(!pc_process_daemon(p));
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("still running");
    CHECK(code == 12345);
    CHECK(pc_process_is_alive(p));
    CHECK(pc_process_pid(p) > 0);

    CHECK_OK(pc_process_join(p, 5.0));
    CHECK(!pc_process_is_alive(p));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    /* Start after the end is still "twice". */
    CHECK_STATUS(pc_process_start(p), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_set_daemon(p, false), PC_ERR_WRONG_STATE);
    /* terminate/kill on an ended child are not errors. */
    CHECK_OK(pc_process_terminate(p));
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);
    CHECK(wait_pid_gone(pid, 2.0));
}

/* ---- exit codes ---- */
static int start_join_code(pc_target_fn target, void *arg)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target, arg, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code = -12345;
    CHECK_OK(pc_process_exitcode(p, &code));
    int again = -12345;
    CHECK_OK(pc_process_exitcode(p, &again));
    CHECK(again == code);
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);
    CHECK(wait_pid_gone(pid, 2.0));
    return code;
}

static void test_exit_codes(void)
{
    CHECK(start_join_code(target_return, (void *)(intptr_t)0) == 0);
    CHECK(start_join_code(target_return, (void *)(intptr_t)7) == 7);
    CHECK(start_join_code(target_return, (void *)(intptr_t)255) == 255);
    CHECK(start_join_code(target_return, (void *)(intptr_t)(256 + 5)) == 5);
    CHECK(start_join_code(target_return, (void *)(intptr_t)-1) == 255);
    CHECK(start_join_code(target_segv, NULL) == -SIGSEGV);
    CHECK(start_join_code(target_exit3, NULL) == 3);
    CHECK(start_join_code(NULL, NULL) == 0);

    /* kill -> -9, terminate -> -15 */
    pc_process *k, *t;
    CHECK_OK(pc_process_new(target_sleep, NULL, &k));
    CHECK_OK(pc_process_new(target_sleep, NULL, &t));
    CHECK_OK(pc_process_start(k));
    CHECK_OK(pc_process_start(t));
    CHECK_OK(pc_process_kill(k));
    CHECK_OK(pc_process_terminate(t));
    CHECK_OK(pc_process_join(k, 5.0));
    CHECK_OK(pc_process_join(t, 5.0));
    int code;
    CHECK_OK(pc_process_exitcode(k, &code));
    CHECK(code == -SIGKILL);
    CHECK_OK(pc_process_exitcode(t, &code));
    CHECK(code == -SIGTERM);
    pc_process_free(k);
    pc_process_free(t);
}

/* ---- join timeouts ---- */
static void test_join_timeouts(void)
{
    double one_second = 1.0;
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &one_second, &p));
    CHECK_OK(pc_process_start(p));

    double t0 = now();
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.1);
    CHECK_ERRMSG("timed out");

    t0 = now();
    CHECK_STATUS(pc_process_join(p, 0.2), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0)
        FAIL("join(0.2) returned after %.3f s, expected within [0.19, 1.0]", took);
    CHECK(pc_process_is_alive(p));

    /* A tiny positive timeout still waits (never earlier than asked). */
    t0 = now();
    CHECK_STATUS(pc_process_join(p, 0.01), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.0095);

    CHECK_STATUS(pc_process_join(p, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_process_join(p, -NAN), PC_ERR_INVALID_ARGUMENT);

    /* Forever (any negative value) returns once the child ended. */
    t0 = now();
    CHECK_OK(pc_process_join(p, -7.5));
    CHECK(now() - t0 < 5.0);
    CHECK(!pc_process_is_alive(p));
    /* Again, with every kind of timeout, on an ended child: PC_OK at once. */
    CHECK_OK(pc_process_join(p, PC_FOREVER));
    CHECK_OK(pc_process_join(p, 0));
    CHECK_OK(pc_process_join(p, 0.5));
    CHECK_OK(pc_process_join(p, INFINITY));
    CHECK_OK(pc_process_join(p, -INFINITY));
    CHECK_STATUS(pc_process_join(p, NAN), PC_ERR_INVALID_ARGUMENT);
    pc_process_free(p);

    /* Huge and infinite timeouts wait (they do not overflow into "at once"). */
    double tenth = 0.1;
    CHECK_OK(pc_process_new(target_sleep, &tenth, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 1e300));
    pc_process_free(p);
    CHECK_OK(pc_process_new(target_sleep, &tenth, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, INFINITY));
    pc_process_free(p);
}

/* ---- is_alive ---- */
static void test_is_alive(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(pc_process_is_alive((pc_process *)main_p));

    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK(!pc_process_is_alive(p));
    CHECK_OK(pc_process_start(p));
    CHECK(pc_process_is_alive(p));
    /* is_alive turns false by itself once the child ends (no join needed). */
    double deadline = now() + 5.0;
    while (pc_process_is_alive(p) && now() < deadline)
        sleep_s(0.01);
    CHECK(!pc_process_is_alive(p));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    CHECK_OK(pc_process_join(p, 0));
    CHECK(!pc_process_is_alive(p));
    pc_process_free(p);
}

static void test_sentinel(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(pc_process_sentinel(main_p) == -1);

    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK(pc_process_sentinel(p) == -1);
    double t0 = now();
    CHECK_OK(pc_process_start(p));
    int fd = pc_process_sentinel(p);
    CHECK(fd >= 0);
    CHECK(pc_process_sentinel(p) == fd);
    int flags = fcntl(fd, F_GETFD);
    CHECK(flags != -1 && (flags & FD_CLOEXEC));
    CHECK(!(poll_revents(fd, 0) & POLLIN));
    /* Readable once the child exits, without any join. */
    CHECK(poll_revents(fd, 5000) & POLLIN);
    CHECK(now() - t0 >= short_sleep - 0.01);
    CHECK_OK(pc_process_join(p, 5.0));
    CHECK(pc_process_sentinel(p) == fd);
    CHECK(poll_revents(fd, 0) & POLLIN);
    CHECK(poll_revents(fd, 0) & POLLIN); /* level-triggered: still readable */
    pc_process_free(p);
}

/* ---- daemon ---- */

/* In a daemonic child: it is daemonic, and may not start children. */
static int target_daemonic_tries_to_start(void *arg)
{
    (void)arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 60;
    if (!pc_process_daemon(me))
        return 61;
    pc_process *g;
    if (pc_process_new(NULL, NULL, &g) != PC_OK)
        return 62;
    if (!pc_process_daemon(g)) /* new objects take the creator's daemon flag */
        return 63;
    pc_status s = pc_process_start(g);
    if (s != PC_ERR_WRONG_STATE)
        return 64;
    if (!tu_contains(pc_last_error(), "daemonic"))
        return 65;
    if (pc_process_pid(g) != 0 || pc_process_is_alive(g))
        return 66;
    pc_process_free(g);
    return 0;
}

static void test_daemon(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(!pc_process_daemon(main_p));
    CHECK_STATUS(pc_process_set_daemon((pc_process *)main_p, true), PC_ERR_WRONG_STATE);
    CHECK(!pc_process_daemon(main_p));

    pc_process *p;
    CHECK_OK(pc_process_new(target_daemonic_tries_to_start, NULL, &p));
    CHECK(!pc_process_daemon(p));
    CHECK_OK(pc_process_set_daemon(p, true));
    CHECK(pc_process_daemon(p));
    CHECK_OK(pc_process_set_daemon(p, false));
    CHECK(!pc_process_daemon(p));
    CHECK_OK(pc_process_set_daemon(p, true));
    CHECK_OK(pc_process_start(p));
    CHECK(pc_process_daemon(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    if (code != 0)
        FAIL("daemonic child reported %d (see target_daemonic_tries_to_start)", code);
    pc_process_free(p);

    /* A new process in the main process is still not daemonic. */
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK(!pc_process_daemon(p));
    pc_process_free(p);
}

/* ---- run ---- */
static int run_counter = 0;

static int target_count(void *arg)
{
    run_counter++;
    return (int)(intptr_t)arg;
}

static void test_run(void)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target_count, (void *)(intptr_t)42, &p));
    int ret = -1;
    CHECK_OK(pc_process_run(p, &ret));
    CHECK(ret == 42);
    CHECK(run_counter == 1); /* ran here, in this process */
    CHECK_OK(pc_process_run(p, NULL));
    CHECK(run_counter == 2);
    /* run does not start anything */
    CHECK(pc_process_pid(p) == 0);
    CHECK(!pc_process_is_alive(p));
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_WRONG_STATE);
    /* and it can still be started afterwards; the child's increment is its own */
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 42);
    CHECK(run_counter == 2);
    /* run after start is allowed too (Python's run() is a plain method) */
    CHECK_OK(pc_process_run(p, &ret));
    CHECK(ret == 42 && run_counter == 3);
    pc_process_free(p);

    /* A NULL target: run gives 0, and started it exits with 0. */
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    ret = -1;
    CHECK_OK(pc_process_run(p, &ret));
    CHECK(ret == 0);
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);

    /* run on the current process runs nothing and returns 0 */
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    ret = -1;
    CHECK_OK(pc_process_run((pc_process *)main_p, &ret));
    CHECK(ret == 0);
}

/* ---- a stopped child is still alive ---- */
static void test_stopped_child(void)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &short_sleep, &p));
    CHECK_OK(pc_process_start(p));
    pid_t pid = pc_process_pid(p);
    CHECK(kill(pid, SIGSTOP) == 0);
    double deadline = now() + 2.0;
    while (pid_state(pid, NULL) != 'T' && now() < deadline)
        sleep_s(0.005);
    CHECK(pid_state(pid, NULL) == 'T');
    /* Stopped is not ended: no exit code, join times out, still alive. */
    CHECK(pc_process_is_alive(p));
    CHECK_STATUS(pc_process_join(p, 0.1), PC_ERR_TIMEOUT);
    int code;
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_WRONG_STATE);
    CHECK(kill(pid, SIGCONT) == 0);
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);
}

/* ---- reaping: by the calls that look, and in the background once freed ---- */
enum reaper_call { BY_JOIN, BY_IS_ALIVE, BY_EXITCODE, BY_NEW, BY_START, BY_ACTIVE_CHILDREN };

static const char *const reaper_call_names[] = {
    "pc_process_join", "pc_process_is_alive", "pc_process_exitcode",
    "pc_process_new",  "pc_process_start",    "pc_active_children",
};

/* In a fresh sub-process (no reaper thread yet): a lone child that ended is reaped by
 * each of the calls the header names, at the latest. */
static int sub_reaped_by_next_call(void *arg)
{
    (void)arg;
    for (int call = BY_JOIN; call <= BY_ACTIVE_CHILDREN; call++) {
        pc_process *p;
        CHECK_OK(pc_process_new(NULL, NULL, &p));
        CHECK_OK(pc_process_start(p));
        pid_t pid = pc_process_pid(p);
        CHECK(poll_revents(pc_process_sentinel(p), 5000) & POLLIN); /* it ended */
        pc_process *other = NULL;
        int code;
        size_t count;
        switch (call) {
        case BY_JOIN:
            CHECK_OK(pc_process_join(p, 0));
            break;
        case BY_IS_ALIVE:
            CHECK(!pc_process_is_alive(p));
            break;
        case BY_EXITCODE:
            CHECK_OK(pc_process_exitcode(p, &code));
            CHECK(code == 0);
            break;
        case BY_NEW:
            CHECK_OK(pc_process_new(NULL, NULL, &other));
            break;
        case BY_START:
            CHECK_OK(pc_process_new(target_sleep, &short_sleep, &other));
            /* the reaping may happen in pc_process_new already: fine too */
            CHECK_OK(pc_process_start(other));
            break;
        case BY_ACTIVE_CHILDREN:
            CHECK_OK(pc_active_children(NULL, 0, &count));
            CHECK(count == 0);
            break;
        }
        if (!pid_gone(pid))
            FAIL("a lone ended child (pid %d) is still a zombie (state %c) after %s",
                 (int)pid, pid_state(pid, NULL), reaper_call_names[call]);
        if (other) {
            if (pc_process_pid(other) > 0)
                CHECK_OK(pc_process_join(other, 10.0));
            pc_process_free(other);
        }
        CHECK_OK(pc_process_exitcode(p, &code));
        CHECK(code == 0);
        pc_process_free(p);
    }
    return 0;
}

static void test_reaped_by_the_calls_that_look(void)
{
    pid_t sub = fork_sub(sub_reaped_by_next_call, NULL);
    check_sub_ok(sub, 20.0, "reaping sub-process");
}

int main(int argc, char **argv)
{
    tu_init("test_process_lifecycle", 35);
    tu_select(argc, argv);
    RUN(test_lifecycle_and_state_errors);
    RUN(test_exit_codes);
    RUN(test_join_timeouts);
    RUN(test_is_alive);
    RUN(test_sentinel);
    RUN(test_daemon);
    RUN(test_run);
    RUN(test_reaped_by_the_calls_that_look);
    RUN(test_stopped_child);
    return tu_done();
}
