/*
 * test_process.c: pc_process_* and the process-level functions (API.md §2): lifecycle
 * and state errors, exit codes, join timeouts, many children, names, pid, is_alive,
 * sentinel, authkey, daemon, run, active_children, cpu_count, the creator rule, bad
 * arguments for every function, freed handles, and no zombie / fd / child left behind.
 *
 * The exit rules (atexit, parent death) and stdio across fork are in test_process_exit.c.
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

static double short_sleep = 0.3;

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

/* The number in "Process-N" (the last number for "Process-N:M"), -1 if not that form. */
static long name_number(const char *name)
{
    if (!name || strncmp(name, "Process-", 8) != 0)
        return -1;
    const char *last = strrchr(name, ':');
    const char *digits = last ? last + 1 : name + 8;
    char *end;
    long n = strtol(digits, &end, 10);
    return (*digits && *end == '\0') ? n : -1;
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

/* ---- names ---- */

struct name_check {
    char expected[64];
};

/* In the child: the current process's name must be the expected one. */
static int target_check_name(void *arg)
{
    const struct name_check *nc = arg;
    const pc_process *me = NULL;
    if (pc_current_process(&me) != PC_OK || me == NULL)
        return 10;
    const char *name = pc_process_name(me);
    if (!name)
        return 11;
    return strcmp(name, nc->expected) == 0 ? 0 : 12;
}

static void test_names(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(main_p != NULL);
    CHECK(strcmp(pc_process_name(main_p), "MainProcess") == 0);

    pc_process *a, *b;
    CHECK_OK(pc_process_new(NULL, NULL, &a));
    CHECK_OK(pc_process_new(NULL, NULL, &b));
    long na = name_number(pc_process_name(a));
    long nb = name_number(pc_process_name(b));
    CHECK(na >= 1);
    CHECK(nb == na + 1);
    CHECK(strchr(pc_process_name(a), ':') == NULL);
    /* The getter's pointer is stable while the name does not change. */
    CHECK(pc_process_name(a) == pc_process_name(a));

    CHECK_OK(pc_process_set_name(a, "worker"));
    CHECK(strcmp(pc_process_name(a), "worker") == 0);
    CHECK_OK(pc_process_set_name(a, "w\xc3\xb6rker \xe2\x9c\x93")); /* UTF-8 */
    CHECK(strcmp(pc_process_name(a), "w\xc3\xb6rker \xe2\x9c\x93") == 0);
    CHECK_OK(pc_process_set_name(a, ""));
    CHECK(strcmp(pc_process_name(a), "") == 0);
    pc_process_free(a);
    pc_process_free(b);

    /* The default name, seen by the child itself. */
    static struct name_check nc1, nc2;
    pc_process *c;
    CHECK_OK(pc_process_new(target_check_name, &nc1, &c));
    snprintf(nc1.expected, sizeof nc1.expected, "%s", pc_process_name(c));
    CHECK(name_number(nc1.expected) == nb + 1);
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    pc_process_free(c);

    /* A name set before start is what the child sees. */
    CHECK_OK(pc_process_new(target_check_name, &nc2, &c));
    CHECK_OK(pc_process_set_name(c, "custom-name"));
    snprintf(nc2.expected, sizeof nc2.expected, "custom-name");
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    /* Renaming after start is allowed (the parent's object only). */
    CHECK_OK(pc_process_set_name(c, "renamed"));
    CHECK(strcmp(pc_process_name(c), "renamed") == 0);
    pc_process_free(c);

    /* Still MainProcess here. */
    CHECK(strcmp(pc_process_name(main_p), "MainProcess") == 0);
}

/* ---- nested children: "Process-N:M" ---- */

struct nested {
    int wfd;
};

static int target_report_own_name(void *arg)
{
    const struct nested *n = arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 20;
    char line[128];
    snprintf(line, sizeof line, "grandchild:%s\n", pc_process_name(me));
    return write_str(n->wfd, line) ? 0 : 21;
}

/* A child that starts two grandchildren and reports their names (as its handles and as
 * they see themselves). */
static int target_start_grandchildren(void *arg)
{
    const struct nested *n = arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 30;
    char line[256];
    snprintf(line, sizeof line, "child:%s\n", pc_process_name(me));
    write_str(n->wfd, line);
    for (int i = 0; i < 2; i++) {
        pc_process *g;
        if (pc_process_new(target_report_own_name, arg, &g) != PC_OK)
            return 31;
        snprintf(line, sizeof line, "handle:%s\n", pc_process_name(g));
        write_str(n->wfd, line);
        if (pc_process_start(g) != PC_OK)
            return 32;
        if (pc_process_join(g, 10.0) != PC_OK)
            return 33;
        int code;
        if (pc_process_exitcode(g, &code) != PC_OK || code != 0)
            return 34;
        pc_process_free(g);
    }
    return 0;
}

static void test_nested_names(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    static struct nested n;
    n.wfd = fds[1];
    pc_process *c;
    CHECK_OK(pc_process_new(target_start_grandchildren, &n, &c));
    char child_name[64];
    snprintf(child_name, sizeof child_name, "%s", pc_process_name(c));
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    close(fds[1]);
    char out[2048];
    read_until_eof(fds[0], out, sizeof out, 5.0);
    close(fds[0]);
    pc_process_free(c);

    char want[1024];
    snprintf(want, sizeof want,
             "child:%s\n"
             "handle:%s:1\ngrandchild:%s:1\n"
             "handle:%s:2\ngrandchild:%s:2\n",
             child_name, child_name, child_name, child_name, child_name);
    if (strcmp(out, want) != 0)
        FAIL("nested names:\n--- got\n%s--- expected\n%s", out, want);
}

/* ---- pid ---- */

struct pid_report {
    int wfd;
};

static int target_report_pid(void *arg)
{
    const struct pid_report *r = arg;
    pid_t pid = getpid();
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK || pc_process_pid(me) != pid)
        return 40;
    return write_all(r->wfd, &pid, sizeof pid) ? 0 : 41;
}

static void test_pid(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(pc_process_pid(main_p) == getpid());

    int fds[2];
    CHECK(pipe(fds) == 0);
    static struct pid_report r;
    r.wfd = fds[1];
    pc_process *p;
    CHECK_OK(pc_process_new(target_report_pid, &r, &p));
    CHECK(pc_process_pid(p) == 0);
    CHECK_OK(pc_process_start(p));
    pid_t seen = 0;
    CHECK(read_exact(fds[0], &seen, sizeof seen, 5.0));
    CHECK(seen > 0);
    CHECK(seen != getpid());
    CHECK(pc_process_pid(p) == seen);
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    /* The pid stays known after the end. */
    CHECK(pc_process_pid(p) == seen);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
    CHECK(wait_pid_gone(seen, 2.0));
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

/* ---- sentinel ---- */

static short poll_revents(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    CHECK(r >= 0);
    return r == 0 ? 0 : pfd.revents;
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

/* ---- authkey ---- */

struct key_check {
    uint8_t key[64];
    size_t len;
};

/* In the child: its authkey must be the expected bytes. */
static int target_check_authkey(void *arg)
{
    const struct key_check *kc = arg;
    const pc_process *me;
    const uint8_t *key = NULL;
    size_t len = 9999;
    if (pc_current_process(&me) != PC_OK)
        return 50;
    if (pc_process_authkey(me, &key, &len) != PC_OK)
        return 51;
    if (len != kc->len)
        return 52;
    if (len > 0 && (key == NULL || memcmp(key, kc->key, len) != 0))
        return 53;
    return 0;
}

static int run_key_child(pc_process *p)
{
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    pc_process_free(p);
    return code;
}

static void test_authkey(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    const uint8_t *key = NULL;
    size_t len = 0;
    CHECK_OK(pc_process_authkey(main_p, &key, &len));
    CHECK(len == 32);
    CHECK(key != NULL);
    uint8_t zeros[32] = {0};
    CHECK(memcmp(key, zeros, 32) != 0);
    /* Same bytes each time. */
    const uint8_t *key2;
    size_t len2;
    CHECK_OK(pc_process_authkey(main_p, &key2, &len2));
    CHECK(len2 == 32 && memcmp(key, key2, 32) == 0);
    uint8_t main_key[32];
    memcpy(main_key, key, 32);

    /* A new process object carries the creator's key, and the child sees it. */
    static struct key_check kc;
    pc_process *p;
    CHECK_OK(pc_process_new(target_check_authkey, &kc, &p));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 32 && memcmp(key, main_key, 32) == 0);
    memcpy(kc.key, main_key, 32);
    kc.len = 32;
    CHECK(run_key_child(p) == 0);

    /* A key set before start is what the child sees. */
    static struct key_check kc2;
    CHECK_OK(pc_process_new(target_check_authkey, &kc2, &p));
    CHECK_OK(pc_process_set_authkey(p, "secret", 6));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 6 && memcmp(key, "secret", 6) == 0);
    memcpy(kc2.key, "secret", 6);
    kc2.len = 6;
    CHECK(run_key_child(p) == 0);

    /* (NULL, 0) sets an empty key; (NULL, 5) is refused and changes nothing. */
    static struct key_check kc3;
    CHECK_OK(pc_process_new(target_check_authkey, &kc3, &p));
    CHECK_OK(pc_process_set_authkey(p, NULL, 0));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 0);
    CHECK_STATUS(pc_process_set_authkey(p, NULL, 5), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("key");
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 0);
    kc3.len = 0;
    CHECK(run_key_child(p) == 0);

    /* The outputs are written on success only. */
    key = (const uint8_t *)"untouched";
    len = 77;
    CHECK_STATUS(pc_process_authkey(NULL, &key, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK(len == 77 && strcmp((const char *)key, "untouched") == 0);

    /* The main process's key can be changed: later processes inherit the new one. */
    CHECK_OK(pc_process_set_authkey((pc_process *)main_p, "main-key", 8));
    static struct key_check kc4;
    CHECK_OK(pc_process_new(target_check_authkey, &kc4, &p));
    memcpy(kc4.key, "main-key", 8);
    kc4.len = 8;
    CHECK(run_key_child(p) == 0);
    CHECK_OK(pc_process_set_authkey((pc_process *)main_p, main_key, 32));
    CHECK_OK(pc_process_authkey(main_p, &key, &len));
    CHECK(len == 32 && memcmp(key, main_key, 32) == 0);
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

/* ---- active_children ---- */

static bool listed(pc_process **list, size_t n, const pc_process *p)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == p)
            return true;
    return false;
}

static void test_active_children(void)
{
    size_t count = 999;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);

    double long_sleep = 20.0, tiny = 0.05;
    pc_process *s[3], *quick, *unstarted;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_process_new(target_sleep, &long_sleep, &s[i]));
        CHECK_OK(pc_process_start(s[i]));
    }
    CHECK_OK(pc_process_new(target_sleep, &tiny, &quick));
    CHECK_OK(pc_process_new(NULL, NULL, &unstarted));
    CHECK_OK(pc_process_start(quick));
    pid_t quick_pid = pc_process_pid(quick);
    /* Wait for the quick one to end, without joining it. */
    CHECK(poll_revents(pc_process_sentinel(quick), 5000) & POLLIN);

    count = 999;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 3);
    CHECK(wait_pid_gone(quick_pid, 2.0)); /* reaped (by that call at the latest) */

    pc_process *list[8];
    for (int i = 0; i < 8; i++)
        list[i] = (pc_process *)(intptr_t)-1;
    count = 0;
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 3);
    for (int i = 0; i < 3; i++)
        CHECK(listed(list, 3, s[i]));
    CHECK(!listed(list, 3, quick));
    CHECK(!listed(list, 3, unstarted));
    CHECK(list[3] == (pc_process *)(intptr_t)-1);
    /* The listed pointers are the handles themselves: usable as such. */
    CHECK(pc_process_is_alive(list[0]));

    /* cap smaller than the count: only cap entries written, count is all of them */
    for (int i = 0; i < 8; i++)
        list[i] = (pc_process *)(intptr_t)-1;
    CHECK_OK(pc_active_children(list, 2, &count));
    CHECK(count == 3);
    CHECK(listed(list, 2, s[0]) + listed(list, 2, s[1]) + listed(list, 2, s[2]) == 2);
    CHECK(list[2] == (pc_process *)(intptr_t)-1);

    /* Bad arguments */
    CHECK_STATUS(pc_active_children(list, 8, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count");
    CHECK_STATUS(pc_active_children(NULL, 1, &count), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    CHECK_STATUS(pc_active_children(NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);

    /* A freed handle is not listed, though its child still runs. */
    pid_t freed_pid = pc_process_pid(s[2]);
    pc_process_free(s[2]);
    CHECK(pid_running(freed_pid));
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 2);
    CHECK(listed(list, 2, s[0]) && listed(list, 2, s[1]));

    /* An ended child disappears without a join. */
    CHECK_OK(pc_process_kill(s[1]));
    CHECK(poll_revents(pc_process_sentinel(s[1]), 5000) & POLLIN);
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 1);
    CHECK(list[0] == s[0]);

    /* Clean up: s[0] terminated and joined, the freed one killed by pid. */
    CHECK_OK(pc_process_terminate(s[0]));
    CHECK_OK(pc_process_join(s[0], 5.0));
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);
    CHECK(kill(freed_pid, SIGKILL) == 0);
    CHECK(wait_pid_gone(freed_pid, 2.0));
    CHECK_OK(pc_process_join(quick, 0));
    CHECK_OK(pc_process_join(s[1], 0));
    int code;
    CHECK_OK(pc_process_exitcode(s[1], &code));
    CHECK(code == -SIGKILL);
    pc_process_free(s[0]);
    pc_process_free(s[1]);
    pc_process_free(quick);
    pc_process_free(unstarted);
}

/* ---- cpu_count, freeze_support ---- */

static void test_cpu_count_and_freeze_support(void)
{
    int n = pc_cpu_count();
    CHECK(n >= 1);
    CHECK(n == (int)sysconf(_SC_NPROCESSORS_ONLN));
    pc_freeze_support(0, NULL);
    char *argv[] = {"prog", NULL};
    pc_freeze_support(1, argv);
    pc_freeze_support(-1, NULL);
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

/* ---- NULL and bad arguments, for every function of §2 ---- */

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
    if (TU_ASAN) {
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

int main(void)
{
    tu_init("test_process", 60);
    RUN(test_lifecycle_and_state_errors);
    RUN(test_exit_codes);
    RUN(test_join_timeouts);
    RUN(test_names);
    RUN(test_nested_names);
    RUN(test_pid);
    RUN(test_is_alive);
    RUN(test_sentinel);
    RUN(test_authkey);
    RUN(test_daemon);
    RUN(test_run);
    RUN(test_active_children);
    RUN(test_cpu_count_and_freeze_support);
    RUN(test_only_the_creator);
    RUN(test_null_arguments);
    RUN(test_freed_handle);
    RUN(test_reaped_by_the_calls_that_look);
    RUN(test_threads);
    RUN(test_fds_close_on_exec);
    RUN(test_stopped_child);
    RUN(test_many_children);
    RUN(test_nothing_left);
    return tu_done();
}
