/*
 * test_dummy_process.c: dummy processes (include/processing.h: pc_dummy_process_new,
 * Python's multiprocessing.dummy.Process): the lifecycle on a thread (start, is_alive,
 * join with a timeout, exitcode, name, pid, daemon flag, sentinel), pc_current_process on
 * the thread, pc_active_children, terminate and kill refused, bad input, queues, locks and
 * events between dummy processes, a process started from a dummy's thread, and the exit
 * rules (non-daemonic ones joined, daemonic ones not). No fork happens for them.
 *
 * `test_dummy_process NAME…` runs only the named subtests.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a target saw on its own thread. */
struct seen {
    atomic_int ran;
    const pc_process *me;
    char name[64];
    bool alive;
    int join_self;   /* pc_process_join on itself */
    int pid;
    pthread_t thread;
    double sleep;    /* then sleeps this long */
    int ret;         /* and returns this */
};

static int target_look(void *arg)
{
    struct seen *s = arg;
    const pc_process *me = NULL;
    if (pc_current_process(&me) == PC_OK) {
        s->me = me;
        snprintf(s->name, sizeof s->name, "%s", pc_process_name(me));
        s->alive = pc_process_is_alive((pc_process *)me);
        s->join_self = pc_process_join((pc_process *)me, 0);
    }
    s->pid = (int)getpid();
    s->thread = pthread_self();
    atomic_store(&s->ran, 1);
    sleep_s(s->sleep);
    return s->ret;
}

static void test_lifecycle(void)
{
    struct seen s = {.sleep = 0.3, .ret = 123456};
    pc_process *p = NULL;
    CHECK_OK(pc_dummy_process_new(target_look, &s, &p));
    const char *name = pc_process_name(p);
    CHECK(name && strncmp(name, "Dummy-", 6) == 0);
    CHECK(!pc_process_daemon(p));
    CHECK(!pc_process_is_alive(p));
    CHECK(pc_process_pid(p) == 0);
    CHECK(pc_process_sentinel(p) == -1);
    int code = -99;
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("not started");
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_WRONG_STATE);

    /* The daemon flag: settable before start only. */
    CHECK_OK(pc_process_set_daemon(p, true));
    CHECK(pc_process_daemon(p));
    CHECK_OK(pc_process_set_daemon(p, false));

    CHECK_OK(pc_process_start(p));
    CHECK(wait_flag(&s.ran, 1, 10.0));
    CHECK(!pthread_equal(s.thread, pthread_self()));
    CHECK(s.pid == getpid()); /* no fork: the same process */
    CHECK(list_children(NULL, 0) == 0);
    CHECK(pc_process_is_alive(p));
    CHECK(pc_process_pid(p) == getpid());
    CHECK_STATUS(pc_process_set_daemon(p, true), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_start(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("twice");
    CHECK_STATUS(pc_process_exitcode(p, &code), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("still running");
    CHECK(code == -99);

    /* On its thread, the current process is the dummy process: its own handle. */
    CHECK(s.me == p);
    CHECK(strcmp(s.name, name) == 0);
    CHECK(s.alive);
    CHECK(s.join_self == PC_ERR_WRONG_STATE);
    /* Here it is still MainProcess. */
    const pc_process *main_p = NULL;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(main_p != p && strcmp(pc_process_name(main_p), "MainProcess") == 0);

    /* The sentinel: not readable while the target runs, readable after. */
    int fd = pc_process_sentinel(p);
    CHECK(fd >= 0);
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, 0) == 0);

    /* join with a timeout never returns early, then waits for the end. */
    double t0 = now();
    CHECK_STATUS(pc_process_join(p, 0.05), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.0495 || took > 1.0)
        FAIL("join(0.05) on a running dummy process returned after %.3f s", took);
    CHECK_ERRMSG("pc_process_join");
    pc_waitable w = {NULL, fd, false};
    CHECK_OK(pc_wait_any(&w, 1, 10.0));
    CHECK(w.ready);
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK(!pc_process_is_alive(p));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 123456); /* the target's return value, whole */
    CHECK_OK(pc_process_join(p, 0)); /* again */
    CHECK(poll(&pfd, 1, 0) == 1);
    CHECK(pc_process_sentinel(p) == fd);
    CHECK(pc_process_pid(p) == getpid());
    pc_process_free(p);

    /* A negative return value, and a NULL target (runs nothing, ends with 0). */
    s = (struct seen){.ret = -5};
    CHECK_OK(pc_dummy_process_new(target_look, &s, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == -5);
    pc_process_free(p);
    CHECK_OK(pc_dummy_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);

    /* pc_process_run runs the target here, on this thread. */
    s = (struct seen){.ret = 8};
    CHECK_OK(pc_dummy_process_new(target_look, &s, &p));
    int ret = 0;
    CHECK_OK(pc_process_run(p, &ret));
    CHECK(ret == 8 && pthread_equal(s.thread, pthread_self()));
    CHECK(!pc_process_is_alive(p));
    pc_process_free(p);
}

/* Names count up; a new one's number follows the last one's. */
static void test_names(void)
{
    pc_process *a, *b, *c;
    CHECK_OK(pc_dummy_process_new(NULL, NULL, &a));
    CHECK_OK(pc_process_new(NULL, NULL, &b));
    CHECK_OK(pc_dummy_process_new(NULL, NULL, &c));
    int na = -1, nc = -1;
    CHECK(sscanf(pc_process_name(a), "Dummy-%d", &na) == 1);
    CHECK(sscanf(pc_process_name(c), "Dummy-%d", &nc) == 1);
    CHECK(nc == na + 1); /* processes are counted apart */
    CHECK(strncmp(pc_process_name(b), "Process-", 8) == 0);
    CHECK_OK(pc_process_set_name(c, "worker-c"));
    CHECK(strcmp(pc_process_name(c), "worker-c") == 0);
    pc_process_free(a);
    pc_process_free(b);
    pc_process_free(c);
}

static void test_not_supported(void)
{
    double long_nap = 0.3;
    pc_process *p;
    CHECK_OK(pc_dummy_process_new(target_sleep, &long_nap, &p));
    /* Always: before start, while running and after the end. */
    for (int phase = 0; phase < 3; phase++) {
        if (phase == 1)
            CHECK_OK(pc_process_start(p));
        if (phase == 2)
            CHECK_OK(pc_process_join(p, 10.0));
        CHECK_STATUS(pc_process_terminate(p), PC_ERR_NOT_SUPPORTED);
        CHECK_ERRMSG("pc_process_terminate");
        CHECK_ERRMSG("thread");
        CHECK_STATUS(pc_process_kill(p), PC_ERR_NOT_SUPPORTED);
        CHECK_ERRMSG("pc_process_kill");
        CHECK_ERRMSG("cannot kill");
    }
    int code = -1;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);
}

static void test_bad_input(void)
{
    CHECK_STATUS(pc_dummy_process_new(target_return, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_dummy_process_new");
    CHECK_ERRMSG("out");
    /* A freed dummy process's handle is refused like any other. */
    pc_process *p;
    CHECK_OK(pc_dummy_process_new(NULL, NULL, &p));
    pc_process_free(p);
    CHECK_STATUS(pc_process_start(p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    /* A handle of another kind. */
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    CHECK_STATUS(pc_process_start((pc_process *)l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("not a pc_process");
    pc_lock_free(l);
}

/* pc_active_children lists running dummy processes, not ended ones. */
static void test_active_children(void)
{
    size_t before = 99;
    CHECK_OK(pc_active_children(NULL, 0, &before));
    double nap = 0.3;
    pc_process *p;
    CHECK_OK(pc_dummy_process_new(target_sleep, &nap, &p));
    CHECK_OK(pc_process_start(p));
    pc_process *kids[8];
    size_t count = 0;
    CHECK_OK(pc_active_children(kids, 8, &count));
    CHECK(count == before + 1);
    bool listed = false;
    for (size_t i = 0; i < count && i < 8; i++)
        listed = listed || kids[i] == p;
    CHECK(listed);
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == before);
    pc_process_free(p);
}

/* The creator frees its handle while the thread runs: the thread's pc_current_process
 * still works (a lent handle, with the same name). */
struct freed_seen {
    atomic_int freed;
    atomic_int done;
    char name[64];
    int status;
};

static int target_after_free(void *arg)
{
    struct freed_seen *s = arg;
    if (!wait_flag(&s->freed, 1, 10.0))
        return 1;
    const pc_process *me = NULL;
    s->status = pc_current_process(&me);
    snprintf(s->name, sizeof s->name, "%s", me ? pc_process_name(me) : "(none)");
    atomic_store(&s->done, 1);
    return 0;
}

static void test_current_after_free(void)
{
    struct freed_seen s = {0};
    pc_process *p;
    CHECK_OK(pc_dummy_process_new(target_after_free, &s, &p));
    CHECK_OK(pc_process_set_name(p, "freed-dummy"));
    CHECK_OK(pc_process_start(p));
    pc_process_free(p);
    atomic_store(&s.freed, 1);
    CHECK(wait_flag(&s.done, 1, 10.0));
    CHECK_OK(s.status);
    CHECK(strcmp(s.name, "freed-dummy") == 0);
}

/* ---- queues, locks and events between dummy processes ---- */
enum { PRODUCERS = 3, PER_PRODUCER = 2000, INCREMENTERS = 4, INCREMENTS = 20000 };

struct shared_objs {
    pc_queue *q;
    pc_lock *lock;
    pc_event *go;
    long counter; /* guarded by lock (plain memory: the threads share it) */
    int id;       /* producer number, per copy */
};

static int target_produce(void *arg)
{
    struct shared_objs *o = arg;
    if (pc_event_wait(o->go, 10.0) != PC_OK)
        return 1;
    for (int32_t i = 0; i < PER_PRODUCER; i++) {
        int32_t msg[2] = {o->id, i};
        if (pc_queue_put(o->q, msg, sizeof msg, 10.0) != PC_OK)
            return 2;
    }
    return 0;
}

static int target_consume(void *arg)
{
    struct shared_objs *o = arg;
    int32_t next[PRODUCERS] = {0};
    for (int n = 0; n < PRODUCERS * PER_PRODUCER; n++) {
        int32_t msg[2];
        size_t len = 0;
        if (pc_queue_get_into(o->q, msg, sizeof msg, &len, 10.0) != PC_OK || len != sizeof msg)
            return 3;
        if (msg[0] < 0 || msg[0] >= PRODUCERS || msg[1] != next[msg[0]])
            return 4; /* each producer's messages arrive in order */
        next[msg[0]]++;
    }
    return 0;
}

static int target_increment(void *arg)
{
    struct shared_objs *o = arg;
    if (pc_event_wait(o->go, 10.0) != PC_OK)
        return 1;
    for (int i = 0; i < INCREMENTS; i++) {
        if (pc_lock_acquire(o->lock, 10.0) != PC_OK)
            return 2;
        long v = o->counter;
        if (i % 512 == 0)
            sched_yield(); /* a lost update would show */
        o->counter = v + 1;
        if (pc_lock_release(o->lock) != PC_OK)
            return 3;
    }
    return 0;
}

static void test_shared_objects(void)
{
    struct shared_objs o = {0};
    CHECK_OK(pc_queue_new(64, &o.q)); /* small: producers wait for the consumer */
    CHECK_OK(pc_lock_new(&o.lock));
    CHECK_OK(pc_event_new(&o.go));
    struct shared_objs copies[PRODUCERS];
    pc_process *ps[PRODUCERS + 1 + INCREMENTERS];
    int n = 0;
    CHECK_OK(pc_dummy_process_new(target_consume, &o, &ps[n++]));
    for (int i = 0; i < PRODUCERS; i++) {
        copies[i] = o;
        copies[i].id = i;
        CHECK_OK(pc_dummy_process_new(target_produce, &copies[i], &ps[n++]));
    }
    for (int i = 0; i < INCREMENTERS; i++)
        CHECK_OK(pc_dummy_process_new(target_increment, &o, &ps[n++]));
    for (int i = 0; i < n; i++)
        CHECK_OK(pc_process_start(ps[i]));
    sleep_s(0.05);
    CHECK(count_alive(ps, n) == n); /* all wait for the event */
    CHECK_OK(pc_event_set(o.go));
    for (int i = 0; i < n; i++) {
        CHECK_OK(pc_process_join(ps[i], 30.0));
        int code = -1;
        CHECK_OK(pc_process_exitcode(ps[i], &code));
        if (code != 0)
            FAIL("%s ended with %d", pc_process_name(ps[i]), code);
        pc_process_free(ps[i]);
    }
    CHECK(o.counter == (long)INCREMENTERS * INCREMENTS);
    CHECK(queue_qsize(o.q) == 0);
    pc_queue_free(o.q);
    pc_lock_free(o.lock);
    pc_event_free(o.go);
}

/* ---- a process started from a dummy's thread ---- */

/* In the forked child: 10 if its current process is the started Process-N. */
static int target_child_whoami(void *arg)
{
    (void)arg;
    const pc_process *me = NULL;
    if (pc_current_process(&me) != PC_OK)
        return 1;
    return strncmp(pc_process_name(me), "Process-", 8) == 0 ? 10 : 2;
}

static int target_start_child(void *arg)
{
    (void)arg;
    pc_process *c;
    if (pc_process_new(target_child_whoami, NULL, &c) != PC_OK)
        return 100;
    int code = -1;
    if (pc_process_start(c) != PC_OK || pc_process_join(c, 10.0) != PC_OK ||
        pc_process_exitcode(c, &code) != PC_OK)
        code = 101;
    pc_process_free(c);
    return code;
}

static void test_process_from_thread(void)
{
    pc_process *p;
    CHECK_OK(pc_dummy_process_new(target_start_child, NULL, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 20.0));
    int code = -1;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 10);
    pc_process_free(p);
}

/* ---- the exit rules ---- */
static int exit_pipe[2];

/* Sleeps, then writes "late" to the pipe. */
static int target_late_write(void *arg)
{
    sleep_s(*(double *)arg);
    write_str(exit_pipe[1], "late");
    return 0;
}

/* A sub-process (plain fork) that starts a non-daemonic dummy process writing after
 * 0.3 s, and a daemonic one that would write after 20 s, then returns from its "main":
 * exit joins the first (its write arrives) and not the second (the exit is prompt). */
static int sub_exit_with_threads(void *arg)
{
    (void)arg;
    static double short_nap = 0.3, long_nap = 20.0;
    pc_process *joined, *daemonic;
    if (pc_dummy_process_new(target_late_write, &short_nap, &joined) != PC_OK ||
        pc_dummy_process_new(target_late_write, &long_nap, &daemonic) != PC_OK ||
        pc_process_set_daemon(daemonic, true) != PC_OK || pc_process_start(joined) != PC_OK ||
        pc_process_start(daemonic) != PC_OK)
        return 1;
    pc_process_free(joined); /* freed or not, it is joined */
    return 0;
}

static void test_exit_joins_non_daemonic(void)
{
    CHECK(pipe(exit_pipe) == 0);
    double t0 = now();
    pid_t pid = fork_sub(sub_exit_with_threads, NULL);
    close(exit_pipe[1]);
    int status = wait_sub(pid, 10.0);
    double took = now() - t0;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (took < 0.29 || took > 10.0)
        FAIL("the exit took %.3f s: it must join the 0.3 s thread only", took);
    char buf[64];
    read_until_eof(exit_pipe[0], buf, sizeof buf, 5.0);
    CHECK(strcmp(buf, "late") == 0); /* the non-daemonic one wrote, the daemonic never */
    close(exit_pipe[0]);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_dummy_process", 50);

    RUN(test_lifecycle);
    RUN(test_names);
    RUN(test_not_supported);
    RUN(test_bad_input);
    RUN(test_active_children);
    RUN(test_current_after_free);
    RUN(test_shared_objects);
    RUN(test_process_from_thread);
    RUN(test_exit_joins_non_daemonic);

    return tu_done();
}
