/*
 * test_process_close.c: pc_process_close (include/processing.h), Python 3.7's
 * Process.close(): refused while the child runs, then the sentinel is closed, the child
 * leaves pc_active_children, and every later call on the handle fails cleanly with a
 * message naming the closed process (pc_process_free still works); closing before start
 * and twice; a dummy process; the current process; bad arguments.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pc_event *go;

/* Waits (bounded) until the test sets `go`, then ends with 0. */
static int wait_for_go(void *arg)
{
    (void)arg;
    return pc_event_wait(go, 10.0) == PC_OK ? 0 : 1;
}

/* Every call that needs the child fails, naming the process; the rest still work.
 * `signal_status`: what terminate and kill return (a dummy process's are never supported). */
static void check_closed(pc_process *p, const char *name, pc_status signal_status)
{
    CHECK(!pc_process_is_alive(p));
    CHECK_ERRMSG("pc_process_is_alive");
    CHECK_ERRMSG(name);
    CHECK_ERRMSG("is closed");
    CHECK_STATUS(pc_process_join(p, 1.0), PC_ERR_CLOSED);
    CHECK_ERRMSG(name);
    CHECK_STATUS(pc_process_terminate(p), signal_status);
    CHECK_ERRMSG("pc_process_terminate");
    CHECK_STATUS(pc_process_kill(p), signal_status);
    int code = 1234;
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_CLOSED);
    CHECK_ERRMSG("is closed");
    CHECK(code == 1234);
    CHECK(pc_process_pid(p) == 0);
    CHECK_ERRMSG("pc_process_pid");
    CHECK(pc_process_sentinel(p) == -1);
    CHECK_ERRMSG("pc_process_sentinel");
    CHECK_STATUS(pc_process_start(p), PC_ERR_CLOSED);
    CHECK_ERRMSG(name);
    CHECK(strcmp(pc_process_name(p), name) == 0);
}

/* CPython: test_close */
static void test_close(void)
{
    int fds = count_open_fds();
    CHECK_OK(pc_event_new(&go));
    pc_process *p;
    CHECK_OK(pc_process_new(wait_for_go, NULL, &p));
    CHECK_OK(pc_process_set_daemon(p, true));
    CHECK_OK(pc_process_start(p));
    CHECK(pc_process_is_alive(p));
    /* The child is still alive: it cannot be closed. */
    CHECK_STATUS(pc_process_close(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_process_close");
    CHECK_ERRMSG("still running");
    CHECK(pc_process_is_alive(p)); /* nothing happened to it */
    int sentinel = pc_process_sentinel(p);
    CHECK(sentinel >= 0);

    CHECK_OK(pc_event_set(go));
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK(!pc_process_is_alive(p));
    int code = -1;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    char name[64];
    snprintf(name, sizeof name, "%s", pc_process_name(p));
    CHECK_OK(pc_process_close(p));
    /* Its sentinel is closed now, with the handle still held. */
    CHECK(fcntl(sentinel, F_GETFD) == -1);
    check_closed(p, name, PC_ERR_CLOSED);
    CHECK_OK(pc_process_close(p)); /* again: fine */
    pc_process_free(p);
    pc_event_free(go);
    CHECK(count_open_fds() == fds);
}

/* A child that ended without a join is reaped by close; closed before start. */
static void test_close_unjoined_and_unstarted(void)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target_return, (void *)(intptr_t)3, &p));
    CHECK_OK(pc_process_start(p));
    pid_t pid = pc_process_pid(p);
    /* Ended but not joined: close reaps it (it may take a moment to end). */
    double t0 = now();
    pc_status st;
    while ((st = pc_process_close(p)) == PC_ERR_WRONG_STATE && now() - t0 < 10.0)
        sleep_s(0.01);
    CHECK_OK(st);
    CHECK(wait_pid_gone(pid, 5.0));
    size_t count = 99;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);
    pc_process_free(p);

    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_close(p));
    check_closed(p, pc_process_name(p), PC_ERR_CLOSED);
    pc_process_free(p);
}

/* A dummy process: its thread must have ended; its eventfd is closed. */
static void test_close_dummy(void)
{
    int fds = count_open_fds();
    CHECK_OK(pc_event_new(&go));
    pc_process *d;
    CHECK_OK(pc_dummy_process_new(wait_for_go, NULL, &d));
    CHECK_OK(pc_process_start(d));
    CHECK_STATUS(pc_process_close(d), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("still running");
    CHECK_OK(pc_event_set(go));
    CHECK_OK(pc_process_join(d, 10.0));
    CHECK_OK(pc_process_close(d));
    check_closed(d, pc_process_name(d), PC_ERR_NOT_SUPPORTED);
    pc_process_free(d);
    pc_event_free(go);
    /* The thread lets go of its eventfd a moment after its target returned. */
    double t0 = now();
    while (count_open_fds() != fds && now() - t0 < 5.0)
        sleep_s(0.01);
    CHECK(count_open_fds() == fds);
}

static void test_bad_arguments(void)
{
    CHECK_STATUS(pc_process_close(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_process_close: p is NULL");
    const pc_process *me;
    CHECK_OK(pc_current_process(&me));
    CHECK_STATUS(pc_process_close((pc_process *)me), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("current process");
    CHECK(pc_process_is_alive((pc_process *)me)); /* untouched */
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_STATUS(pc_process_close((pc_process *)lock), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_process");
    pc_lock_free(lock);
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    pc_process_free(p);
    CHECK_STATUS(pc_process_close(p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
}

int main(int argc, char **argv)
{
    tu_init("test_process_close", 60);
    tu_select(argc, argv);
    RUN(test_close);
    RUN(test_close_unjoined_and_unstarted);
    RUN(test_close_dummy);
    RUN(test_bad_arguments);
    return tu_done();
}
