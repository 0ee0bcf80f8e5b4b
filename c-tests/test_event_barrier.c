/*
 * test_event_barrier.c: pc_event_* and pc_barrier_* (include/processing.h).
 *
 * Event: the flag, wait bounds, one set releasing waiters in threads and in 5 processes,
 * a waiter killed while waiting blocks nobody. Barrier (Python 3's): indexes exactly
 * 0..parties-1 in each of several rounds of processes and threads, nobody passes before
 * all arrived, a wait that times out breaks it for the others until reset, abort, reset
 * while waiting, the getters. For both: pc_interrupt(), NaN timeouts, NULL and
 * wrong-typed handles, and nothing left behind.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Children report a pc_status as exit code -status (0 for PC_OK). */
#define CODE(status) (-(int)(status))

/* =============================== Event =============================== */

static pc_status event_wait(void *e, double timeout)
{
    return pc_event_wait(e, timeout);
}

static void test_event_basics(void)
{
    pc_event *e = NULL;
    CHECK_OK(pc_event_new(&e));
    CHECK(e != NULL);
    CHECK(!pc_event_is_set(e));
    check_timeouts(event_wait, e, "pc_event_wait");

    CHECK_OK(pc_event_set(e));
    CHECK(pc_event_is_set(e));
    CHECK_OK(pc_event_set(e)); /* twice is fine */
    CHECK(pc_event_is_set(e));
    const double timeouts[] = {0, 0.5, PC_FOREVER, -2.0, INFINITY};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        double t0 = now();
        CHECK_OK(pc_event_wait(e, timeouts[i]));
        CHECK(now() - t0 < 0.1);
    }
    CHECK(pc_event_is_set(e)); /* waiting does not clear it */

    CHECK_OK(pc_event_clear(e));
    CHECK(!pc_event_is_set(e));
    CHECK_OK(pc_event_clear(e));
    CHECK(!pc_event_is_set(e));
    CHECK_STATUS(pc_event_wait(e, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_event_wait(e, 0.05), PC_ERR_TIMEOUT);
    pc_event_free(e);
}

struct event_waiter {
    pc_event *e;
    double timeout;
    atomic_int *started;
    atomic_int *done;
    int status;
    double returned;
    pthread_t thread;
};

static void *event_waiter_main(void *arg)
{
    struct event_waiter *w = arg;
    atomic_fetch_add(w->started, 1);
    w->status = pc_event_wait(w->e, w->timeout);
    w->returned = now();
    atomic_fetch_add(w->done, 1);
    return NULL;
}

static void test_event_threads(void)
{
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    atomic_int started = 0, done = 0;
    struct event_waiter w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct event_waiter){e, 10.0, &started, &done, 12345, 0, 0};
        CHECK(pthread_create(&w[i].thread, NULL, event_waiter_main, &w[i]) == 0);
    }
    CHECK(wait_flag(&started, 4, 5.0));
    sleep_s(0.2);
    CHECK(atomic_load(&done) == 0);
    double t0 = now();
    CHECK_OK(pc_event_set(e));
    CHECK(now() - t0 < 0.1);
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(w[i].thread, NULL) == 0);
        CHECK_STATUS(w[i].status, PC_OK);
        CHECK(w[i].returned - t0 < 1.0);
    }
    pc_event_free(e);
}

/* ---- across processes ---- */

#define EVENT_CHILDREN 5

struct eshm {
    atomic_int started;
    atomic_int done;
    atomic_int statuses[EVENT_CHILDREN + 2];
    double returned[EVENT_CHILDREN + 2];
    double started_at[EVENT_CHILDREN + 2];
};

struct ewait_arg {
    pc_event *e;
    struct eshm *sh;
    int index;
    double timeout;
};

static int target_event_wait(void *arg)
{
    const struct ewait_arg *a = arg;
    a->sh->started_at[a->index] = now();
    atomic_fetch_add(&a->sh->started, 1);
    int st = pc_event_wait(a->e, a->timeout);
    a->sh->returned[a->index] = now();
    atomic_store(&a->sh->statuses[a->index], st);
    atomic_fetch_add(&a->sh->done, 1);
    return CODE(st);
}

static int target_event_set_later(void *arg)
{
    const struct ewait_arg *a = arg;
    sleep_s(0.2);
    a->sh->returned[a->index] = now();
    return CODE(pc_event_set(a->e));
}

static void test_event_across_processes(void)
{
    struct eshm *sh = shared_new(sizeof *sh);
    pc_event *e;
    CHECK_OK(pc_event_new(&e));

    /* 5 waiting processes, released by one set. */
    struct ewait_arg args[EVENT_CHILDREN];
    pc_process *ps[EVENT_CHILDREN];
    for (int i = 0; i < EVENT_CHILDREN; i++) {
        args[i] = (struct ewait_arg){e, sh, i, 20.0};
        ps[i] = start(target_event_wait, &args[i]);
    }
    CHECK(wait_flag(&sh->started, EVENT_CHILDREN, 5.0));
    sleep_s(0.3);
    CHECK(count_alive(ps, EVENT_CHILDREN) == EVENT_CHILDREN);
    CHECK(atomic_load(&sh->done) == 0);
    double t0 = now();
    CHECK_OK(pc_event_set(e));
    CHECK(now() - t0 < 0.1);
    for (int i = 0; i < EVENT_CHILDREN; i++) {
        CHECK(finish(ps[i], 10.0) == 0);
        CHECK(sh->returned[i] - t0 < 1.0);
    }

    /* Set: a child's wait returns at once; cleared: a child's timed wait times out. */
    memset(sh, 0, sizeof *sh);
    args[0].timeout = 0;
    CHECK(finish(start(target_event_wait, &args[0]), 10.0) == 0);
    CHECK_OK(pc_event_clear(e));
    args[0].timeout = 0;
    CHECK(finish(start(target_event_wait, &args[0]), 10.0) == CODE(PC_ERR_TIMEOUT));
    args[0].timeout = 0.2;
    CHECK(finish(start(target_event_wait, &args[0]), 10.0) == CODE(PC_ERR_TIMEOUT));
    double took = sh->returned[0] - sh->started_at[0];
    if (took < 0.19 || took > 1.0)
        FAIL("a child's wait(0.2) returned after %.3f s, expected [0.19, 1.0]", took);

    /* A child sets it: the parent's wait returns. */
    struct ewait_arg setter = {e, sh, 1, 0};
    pc_process *p = start(target_event_set_later, &setter);
    CHECK_OK(pc_event_wait(e, 10.0));
    CHECK(now() - sh->returned[1] < 1.0);
    CHECK(pc_event_is_set(e));
    CHECK(finish(p, 10.0) == 0);
    /* And the child's clear is seen here. */
    CHECK_OK(pc_event_clear(e));
    CHECK(!pc_event_is_set(e));

    pc_event_free(e);
    shared_free(sh, sizeof *sh);
}

/* A waiter killed while waiting blocks nobody. */
static void test_event_killed_waiter(void)
{
    struct eshm *sh = shared_new(sizeof *sh);
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    struct ewait_arg ka = {e, sh, 0, 20.0}, la = {e, sh, 1, 20.0};
    pc_process *killed = start(target_event_wait, &ka);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.1);
    pc_process *live = start(target_event_wait, &la);
    CHECK(wait_flag(&sh->started, 2, 5.0));
    sleep_s(0.2);
    CHECK_OK(pc_process_kill(killed)); /* not joined: maybe still a zombie */
    double t0 = now();
    CHECK_OK(pc_event_set(e));
    CHECK(now() - t0 < 0.1);
    CHECK(finish(live, 10.0) == 0);
    CHECK(sh->returned[1] - t0 < 1.0);
    CHECK(finish(killed, 10.0) == -SIGKILL);

    /* Again after clear, the killed one joined this time, with threads waiting too. */
    CHECK_OK(pc_event_clear(e));
    memset(sh, 0, sizeof *sh);
    killed = start(target_event_wait, &ka);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.1);
    CHECK_OK(pc_process_kill(killed));
    CHECK(finish(killed, 10.0) == -SIGKILL);
    atomic_int started = 0, done = 0;
    struct event_waiter w = {e, 10.0, &started, &done, 12345, 0, 0};
    CHECK(pthread_create(&w.thread, NULL, event_waiter_main, &w) == 0);
    live = start(target_event_wait, &la);
    CHECK(wait_flag(&sh->started, 2, 5.0));
    CHECK(wait_flag(&started, 1, 5.0));
    sleep_s(0.1);
    t0 = now();
    CHECK_OK(pc_event_set(e));
    CHECK(now() - t0 < 0.1);
    CHECK(finish(live, 10.0) == 0);
    CHECK(pthread_join(w.thread, NULL) == 0);
    CHECK_STATUS(w.status, PC_OK);
    CHECK(w.returned - t0 < 1.0);
    pc_event_free(e);
    shared_free(sh, sizeof *sh);
}

static void test_interrupt_event(void)
{
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    const double timeouts[] = {PC_FOREVER, 5.0};
    for (int i = 0; i < 2; i++) {
        check_interrupted(event_wait, e, timeouts[i], "pc_event_wait");
        CHECK(!pc_event_is_set(e));
    }
    /* Pending: a wait on a set event returns PC_OK and leaves it pending; the next wait
     * that blocks consumes it at once. */
    pc_interrupt();
    CHECK_OK(pc_event_set(e));
    CHECK_OK(pc_event_wait(e, PC_FOREVER));
    CHECK_OK(pc_event_clear(e));
    CHECK_STATUS(pc_event_wait(e, 0), PC_ERR_TIMEOUT);
    double t0 = now();
    CHECK_STATUS(pc_event_wait(e, 5.0), PC_ERR_INTERRUPTED);
    CHECK(now() - t0 < 0.5);
    t0 = now();
    CHECK_STATUS(pc_event_wait(e, 0.1), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.095);
    pc_event_free(e);
}

static void test_event_bad_arguments(void)
{
    CHECK_STATUS(pc_event_new(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_event_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_event_set(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_event_set");
    CHECK_ERRMSG("e is NULL");
    CHECK_STATUS(pc_event_clear(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_event_clear");
    CHECK_ERRMSG("e is NULL");
    CHECK(!pc_event_is_set(NULL));
    CHECK_ERRMSG("pc_event_is_set");
    CHECK_ERRMSG("e is NULL");
    CHECK_STATUS(pc_event_wait(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_event_wait");
    CHECK_ERRMSG("e is NULL");
    CHECK_STATUS(pc_event_wait(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_event_wait(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    pc_event_free(NULL); /* a no-op */

    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    CHECK_STATUS(pc_event_wait(e, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_event_wait");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_event_wait(e, -NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_OK(pc_event_set(e));
    CHECK_STATUS(pc_event_wait(e, NAN), PC_ERR_INVALID_ARGUMENT); /* even when set */
    CHECK_OK(pc_event_clear(e));

    /* Wrong-typed handles. */
    pc_lock *l;
    pc_barrier *b;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_barrier_new(2, &b));
    pc_event *bad = (pc_event *)l;
    CHECK_STATUS(pc_event_set(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    CHECK_STATUS(pc_event_clear(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    CHECK(!pc_event_is_set(bad));
    CHECK_ERRMSG("pc_event_is_set");
    CHECK_ERRMSG("is not a pc_event");
    CHECK_STATUS(pc_event_wait((pc_event *)b, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    pc_event_free(bad);
    CHECK_ERRMSG("pc_event_free");
    CHECK_ERRMSG("is not a pc_event");
    CHECK_OK(pc_lock_acquire(l, 0)); /* intact */
    CHECK_OK(pc_lock_release(l));
    CHECK(pc_barrier_parties(b) == 2);
    pc_lock_free(l);
    pc_barrier_free(b);
    pc_event_free(e);
}

/* =============================== Barrier =============================== */

static void test_barrier_basics(void)
{
    pc_barrier *b = NULL;
    CHECK_STATUS(pc_barrier_new(0, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_new");
    CHECK_ERRMSG("parties");
    CHECK(b == NULL);
    CHECK_STATUS(pc_barrier_new(PC_BARRIER_MAX_PARTIES + 1, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("parties");
    CHECK_STATUS(pc_barrier_new(SIZE_MAX, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK(b == NULL);
    CHECK_OK(pc_barrier_new(PC_BARRIER_MAX_PARTIES, &b));
    CHECK(pc_barrier_parties(b) == PC_BARRIER_MAX_PARTIES);
    pc_barrier_free(b);

    /* One party: every wait passes at once, with index 0. */
    CHECK_OK(pc_barrier_new(1, &b));
    CHECK(pc_barrier_parties(b) == 1);
    CHECK(pc_barrier_n_waiting(b) == 0);
    CHECK(!pc_barrier_broken(b));
    for (int i = 0; i < 3; i++) {
        size_t index = 99;
        double t0 = now();
        CHECK_OK(pc_barrier_wait(b, i == 0 ? 0 : PC_FOREVER, &index));
        CHECK(now() - t0 < 0.1);
        CHECK(index == 0);
    }
    CHECK_OK(pc_barrier_wait(b, 1.0, NULL)); /* index may be NULL */
    CHECK(pc_barrier_n_waiting(b) == 0);
    CHECK(!pc_barrier_broken(b));
    pc_barrier_free(b);

    /* Abort and reset without waiters. */
    CHECK_OK(pc_barrier_new(2, &b));
    CHECK_OK(pc_barrier_abort(b));
    CHECK(pc_barrier_broken(b));
    size_t index = 99;
    double t0 = now();
    CHECK_STATUS(pc_barrier_wait(b, 5.0, &index), PC_ERR_BROKEN);
    CHECK(now() - t0 < 0.1);
    CHECK_ERRMSG("pc_barrier_wait");
    CHECK_ERRMSG("broken");
    CHECK(index == 99); /* written on success only */
    CHECK_OK(pc_barrier_abort(b)); /* again: fine */
    CHECK_OK(pc_barrier_reset(b));
    CHECK(!pc_barrier_broken(b));
    CHECK_OK(pc_barrier_reset(b));
    /* A lone waiter of 2 times out (and breaks it). */
    t0 = now();
    CHECK_STATUS(pc_barrier_wait(b, 0.2, &index), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0)
        FAIL("wait(0.2) on a barrier of 2 returned after %.3f s", took);
    CHECK(index == 99);
    CHECK(pc_barrier_broken(b));
    CHECK(pc_barrier_n_waiting(b) == 0);
    CHECK_OK(pc_barrier_reset(b));
    t0 = now();
    CHECK_STATUS(pc_barrier_wait(b, 0, &index), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.1);
    CHECK(pc_barrier_broken(b));
    pc_barrier_free(b);
}

/* ---- rounds of processes ---- */

#define PARTIES 4
#define ROUNDS 3

struct bshm {
    atomic_int arrivals;        /* waits started, all rounds */
    atomic_int statuses[8];
    atomic_int started;
    double returned[8];
};

struct bwait_arg {
    pc_barrier *b;
    struct bshm *sh;
    int index;
    double timeout;
    int rounds;
    int fd; /* where to report indexes, or -1 */
};

/* Waits `rounds` times; reports each index as one byte (round << 4 | index). Nobody may
 * pass round r before PARTIES * (r + 1) waits started. */
static int target_barrier(void *arg)
{
    const struct bwait_arg *a = arg;
    atomic_fetch_add(&a->sh->started, 1);
    for (int r = 0; r < a->rounds; r++) {
        atomic_fetch_add(&a->sh->arrivals, 1);
        size_t index = 99;
        int st = pc_barrier_wait(a->b, a->timeout, &index);
        a->sh->returned[a->index] = now();
        atomic_store(&a->sh->statuses[a->index], st);
        if (st != PC_OK)
            return CODE(st);
        if (atomic_load(&a->sh->arrivals) < (int)pc_barrier_parties(a->b) * (r + 1))
            return 100; /* passed before everybody arrived */
        if (index >= pc_barrier_parties(a->b))
            return 101;
        unsigned char byte = (unsigned char)(r << 4 | (int)index);
        if (a->fd >= 0 && !write_all(a->fd, &byte, 1))
            return 102;
    }
    return 0;
}

static void test_barrier_processes(void)
{
    struct bshm *sh = shared_new(sizeof *sh);
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(PARTIES, &b));
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct bwait_arg args[PARTIES];
    pc_process *ps[PARTIES];
    for (int i = 0; i < PARTIES; i++) {
        args[i] = (struct bwait_arg){b, sh, i, 20.0, ROUNDS, fds[1]};
        ps[i] = start(target_barrier, &args[i]);
    }
    close(fds[1]);
    for (int i = 0; i < PARTIES; i++) {
        int code = finish(ps[i], 20.0);
        if (code != 0)
            FAIL("barrier child %d exited with %d", i, code);
    }
    unsigned char got[PARTIES * ROUNDS + 1];
    CHECK(read_exact(fds[0], got, PARTIES * ROUNDS, 5.0));
    char rest[8];
    CHECK(read_until_eof(fds[0], rest, sizeof rest, 1.0) == 0); /* nothing more */
    close(fds[0]);
    int seen[ROUNDS] = {0};
    for (int k = 0; k < PARTIES * ROUNDS; k++) {
        int r = got[k] >> 4, index = got[k] & 15;
        CHECK(r < ROUNDS && index < PARTIES);
        if (seen[r] & (1 << index))
            FAIL("index %d given twice in round %d", index, r);
        seen[r] |= 1 << index;
    }
    for (int r = 0; r < ROUNDS; r++)
        CHECK(seen[r] == (1 << PARTIES) - 1); /* exactly {0, 1, 2, 3} */
    CHECK(pc_barrier_n_waiting(b) == 0);
    CHECK(!pc_barrier_broken(b));

    /* The parent as the last party: the others wait (n_waiting counts them) until it
     * arrives, and it gets the last index. */
    memset(sh, 0, sizeof *sh);
    for (int i = 0; i < PARTIES - 1; i++) {
        args[i] = (struct bwait_arg){b, sh, i, 20.0, 1, -1};
        ps[i] = start(target_barrier, &args[i]);
    }
    double deadline = now() + 5.0;
    while (pc_barrier_n_waiting(b) < PARTIES - 1 && now() < deadline)
        sleep_s(0.005);
    CHECK(pc_barrier_n_waiting(b) == PARTIES - 1);
    sleep_s(0.2);
    CHECK(count_alive(ps, PARTIES - 1) == PARTIES - 1);
    CHECK(pc_barrier_n_waiting(b) == PARTIES - 1);
    CHECK(!pc_barrier_broken(b));
    size_t index = 99;
    atomic_fetch_add(&sh->arrivals, 1);
    CHECK_OK(pc_barrier_wait(b, 5.0, &index));
    CHECK(index == PARTIES - 1);
    for (int i = 0; i < PARTIES - 1; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    CHECK(pc_barrier_n_waiting(b) == 0);
    pc_barrier_free(b);
    shared_free(sh, sizeof *sh);
}

/* ---- rounds of threads ---- */

#define THREAD_ROUNDS 200

struct bthread {
    pc_barrier *b;
    atomic_int *masks; /* per round: the indexes given */
    pthread_t thread;
    int failed;
};

static void *barrier_thread_main(void *arg)
{
    struct bthread *t = arg;
    for (int r = 0; r < THREAD_ROUNDS; r++) {
        size_t index = 99;
        int st = pc_barrier_wait(t->b, 20.0, &index);
        if (st != PC_OK || index >= PARTIES) {
            t->failed = st != PC_OK ? st : 1000;
            return NULL;
        }
        atomic_fetch_or(&t->masks[r], 1 << index);
    }
    return NULL;
}

static void test_barrier_threads(void)
{
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(PARTIES, &b));
    static atomic_int masks[THREAD_ROUNDS];
    struct bthread t[PARTIES];
    for (int i = 0; i < PARTIES; i++) {
        t[i] = (struct bthread){b, masks, 0, 0};
        CHECK(pthread_create(&t[i].thread, NULL, barrier_thread_main, &t[i]) == 0);
    }
    for (int i = 0; i < PARTIES; i++) {
        CHECK(pthread_join(t[i].thread, NULL) == 0);
        if (t[i].failed)
            FAIL("thread %d: barrier wait failed with %d", i, t[i].failed);
    }
    for (int r = 0; r < THREAD_ROUNDS; r++)
        if (atomic_load(&masks[r]) != (1 << PARTIES) - 1)
            FAIL("round %d gave the indexes 0x%x", r, atomic_load(&masks[r]));
    tu_checks++;
    pc_barrier_free(b);
}

/* A full round of `parties` processes on `b`: all PC_OK. */
static void full_round(pc_barrier *b, struct bshm *sh)
{
    int n = (int)pc_barrier_parties(b);
    memset(sh, 0, sizeof *sh);
    struct bwait_arg args[8];
    pc_process *ps[8];
    for (int i = 0; i < n; i++) {
        args[i] = (struct bwait_arg){b, sh, i, 20.0, 1, -1};
        ps[i] = start(target_barrier, &args[i]);
    }
    for (int i = 0; i < n; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    CHECK(!pc_barrier_broken(b));
    CHECK(pc_barrier_n_waiting(b) == 0);
}

/* Starts `n` waiting children (timeout 20 s) and waits until they all wait. */
static void start_waiters(pc_barrier *b, struct bshm *sh, struct bwait_arg *args,
                          pc_process **ps, int n)
{
    memset(sh, 0, sizeof *sh);
    for (int i = 0; i < n; i++) {
        args[i] = (struct bwait_arg){b, sh, i, 20.0, 1, -1};
        ps[i] = start(target_barrier, &args[i]);
    }
    double deadline = now() + 5.0;
    while (pc_barrier_n_waiting(b) < (size_t)n && now() < deadline)
        sleep_s(0.005);
    CHECK(pc_barrier_n_waiting(b) == (size_t)n);
}

/* ---- timeout, abort, reset ---- */

static void test_barrier_timeout(void)
{
    struct bshm *sh = shared_new(sizeof *sh);
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(3, &b));
    struct bwait_arg args[2];
    pc_process *ps[2];
    start_waiters(b, sh, args, ps, 1);

    /* Our wait times out: PC_ERR_TIMEOUT for us, PC_ERR_BROKEN for the other waiter. */
    double t0 = now();
    CHECK_STATUS(pc_barrier_wait(b, 0.2, NULL), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0)
        FAIL("wait(0.2) returned after %.3f s, expected [0.19, 1.0]", took);
    CHECK_ERRMSG("pc_barrier_wait");
    double timed_out = now();
    CHECK(finish(ps[0], 10.0) == CODE(PC_ERR_BROKEN));
    CHECK(sh->returned[0] - timed_out < 1.0);
    CHECK(pc_barrier_broken(b));
    CHECK(pc_barrier_n_waiting(b) == 0);

    /* Later waits: BROKEN at once, whatever the timeout, until reset. */
    const double timeouts[] = {0, 5.0, PC_FOREVER};
    for (int i = 0; i < 3; i++) {
        t0 = now();
        CHECK_STATUS(pc_barrier_wait(b, timeouts[i], NULL), PC_ERR_BROKEN);
        CHECK(now() - t0 < 0.1);
    }
    memset(sh, 0, sizeof *sh);
    args[0] = (struct bwait_arg){b, sh, 0, 20.0, 1, -1};
    CHECK(finish(start(target_barrier, &args[0]), 10.0) == CODE(PC_ERR_BROKEN));
    CHECK_OK(pc_barrier_reset(b));
    CHECK(!pc_barrier_broken(b));
    full_round(b, sh);
    full_round(b, sh);
    pc_barrier_free(b);
    shared_free(sh, sizeof *sh);
}

/* Starts 2 waiters on `b` (a barrier of 3), breaks their round with `breaker` (abort or
 * reset): both get BROKEN within 1 s. */
static void break_two_waiters(pc_barrier *b, struct bshm *sh, pc_status (*breaker)(pc_barrier *))
{
    struct bwait_arg args[2];
    pc_process *ps[2];
    start_waiters(b, sh, args, ps, 2);
    double t0 = now();
    CHECK_OK(breaker(b));
    for (int i = 0; i < 2; i++) {
        CHECK(finish(ps[i], 10.0) == CODE(PC_ERR_BROKEN));
        CHECK(sh->returned[i] - t0 < 1.0);
    }
}

static void test_barrier_abort_and_reset(void)
{
    struct bshm *sh = shared_new(sizeof *sh);
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(3, &b));

    /* Abort: the waiters get BROKEN, and so does every later wait until reset. */
    break_two_waiters(b, sh, pc_barrier_abort);
    CHECK(pc_barrier_broken(b));
    CHECK_STATUS(pc_barrier_wait(b, 1.0, NULL), PC_ERR_BROKEN);
    CHECK(pc_barrier_broken(b));
    CHECK_OK(pc_barrier_reset(b));
    CHECK(!pc_barrier_broken(b));
    full_round(b, sh);

    /* Reset while 2 wait: they get BROKEN; the barrier is usable afterwards. */
    break_two_waiters(b, sh, pc_barrier_reset);
    CHECK(!pc_barrier_broken(b));
    CHECK(pc_barrier_n_waiting(b) == 0);
    full_round(b, sh);
    pc_barrier_free(b);
    shared_free(sh, sizeof *sh);
}

/* pc_barrier_wait on `b` as a tu_wait_fn; `index` gets what it returns there. */
struct barrier_wait {
    pc_barrier *b;
    size_t index;
};

static pc_status barrier_wait(void *arg, double timeout)
{
    struct barrier_wait *w = arg;
    return pc_barrier_wait(w->b, timeout, &w->index);
}

static void test_interrupt_barrier(void)
{
    struct bshm *sh = shared_new(sizeof *sh);
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(2, &b));
    const double timeouts[] = {PC_FOREVER, 5.0};
    for (int i = 0; i < 2; i++) {
        struct barrier_wait w = {b, 99};
        check_interrupted(barrier_wait, &w, timeouts[i], "pc_barrier_wait");
        CHECK(w.index == 99);
        /* It breaks the barrier (the others must not wait for us). */
        CHECK(pc_barrier_broken(b));
        CHECK(pc_barrier_n_waiting(b) == 0);
        CHECK_OK(pc_barrier_reset(b));
    }

    /* Interrupted while a child waits with us (a barrier of 3): the child gets BROKEN. */
    pc_barrier_free(b);
    CHECK_OK(pc_barrier_new(3, &b));
    struct bwait_arg args[1];
    pc_process *ps[1];
    start_waiters(b, sh, args, ps, 1);
    struct interrupter it;
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_barrier_wait(b, PC_FOREVER, NULL), PC_ERR_INTERRUPTED);
    interrupter_join(&it);
    CHECK(finish(ps[0], 10.0) == CODE(PC_ERR_BROKEN));
    CHECK(sh->returned[0] - it.at < 1.0);
    CHECK(pc_barrier_broken(b));
    CHECK_OK(pc_barrier_reset(b));
    full_round(b, sh);
    pc_barrier_free(b);
    shared_free(sh, sizeof *sh);
}

/* A waiter killed while waiting on a barrier still counts as arrived (as in Python: the
 * header says that round cannot complete). What must hold: later timed waits end within
 * their timeout (a positive timeout waits at most that long: PC_FOREVER in
 * include/processing.h), with TIMEOUT or BROKEN, never a hang. The waits run in children,
 * so a wait that ignored its timeout could not hang the test. */
static void test_barrier_killed_waiter(void)
{
    struct bshm *sh = shared_new(sizeof *sh);
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(3, &b));
    struct bwait_arg args[3];
    pc_process *ps[3];
    start_waiters(b, sh, args, ps, 1);
    CHECK_OK(pc_process_kill(ps[0]));
    CHECK(finish(ps[0], 10.0) == -SIGKILL);
    CHECK_OK(pc_barrier_reset(b));

    memset(sh, 0, sizeof *sh);
    double t0 = now();
    for (int i = 0; i < 3; i++) {
        args[i] = (struct bwait_arg){b, sh, i, 1.0, 1, -1};
        ps[i] = start(target_barrier, &args[i]);
    }
    for (int i = 0; i < 3; i++) {
        int st = pc_process_join(ps[i], 5.0 - (now() - t0));
        if (st == PC_ERR_TIMEOUT)
            FAIL("after a waiter was killed, pc_barrier_wait(b, 1.0) still blocks after 5 s "
                 "(n_waiting %zu, broken %d)",
                 pc_barrier_n_waiting(b), (int)pc_barrier_broken(b));
        CHECK_OK(st);
        int code = -1000;
        CHECK_OK(pc_process_exitcode(ps[i], &code));
        pc_process_free(ps[i]);
        if (code != CODE(PC_ERR_TIMEOUT) && code != CODE(PC_ERR_BROKEN) && code != 0)
            FAIL("after a waiter was killed, a timed wait: child %d exited with %d (%s)", i,
                 code, pc_status_str(-code));
    }
    pc_barrier_free(b);
    shared_free(sh, sizeof *sh);
}

/* A barrier of PC_BARRIER_MAX_PARTIES parties works (threads, one process). */
#define BIG PC_BARRIER_MAX_PARTIES

struct big_waiter {
    pc_barrier *b;
    pthread_t thread;
    int status;
    size_t index;
};

static void *big_waiter_main(void *arg)
{
    struct big_waiter *w = arg;
    w->status = pc_barrier_wait(w->b, 20.0, &w->index);
    return NULL;
}

static void test_big_barrier(void)
{
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(BIG, &b));
    static struct big_waiter w[BIG];
    pthread_attr_t attr;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, 512 * 1024) == 0);
    for (int i = 0; i < BIG; i++) {
        w[i] = (struct big_waiter){b, 0, 12345, 99999};
        CHECK(pthread_create(&w[i].thread, &attr, big_waiter_main, &w[i]) == 0);
    }
    pthread_attr_destroy(&attr);
    static bool seen[BIG];
    int failed = 0, by_status[64] = {0};
    for (int i = 0; i < BIG; i++) {
        CHECK(pthread_join(w[i].thread, NULL) == 0);
        if (w[i].status != PC_OK) {
            failed++;
            by_status[-w[i].status & 63]++;
            continue;
        }
        CHECK(w[i].index < BIG && !seen[w[i].index]);
        seen[w[i].index] = true;
    }
    if (failed) {
        char what[512] = "";
        for (int st = 1; st < 64; st++) {
            if (by_status[st])
                snprintf(what + strlen(what), sizeof what - strlen(what), " %d x %s;",
                         by_status[st], pc_status_str(-st));
        }
        FAIL("%d of %d waiters on a barrier of %d failed:%s", failed, BIG, BIG, what);
    }
    pc_barrier_free(b);
}

static void test_barrier_bad_arguments(void)
{
    CHECK_STATUS(pc_barrier_new(2, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_barrier_new(0, NULL), PC_ERR_INVALID_ARGUMENT);
    size_t index = 99;
    CHECK_STATUS(pc_barrier_wait(NULL, 0, &index), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_wait");
    CHECK_ERRMSG("b is NULL");
    CHECK_STATUS(pc_barrier_wait(NULL, PC_FOREVER, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_barrier_wait(NULL, NAN, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(index == 99);
    CHECK_STATUS(pc_barrier_abort(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_abort");
    CHECK_ERRMSG("b is NULL");
    CHECK_STATUS(pc_barrier_reset(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_reset");
    CHECK_ERRMSG("b is NULL");
    CHECK(pc_barrier_parties(NULL) == 0);
    CHECK_ERRMSG("pc_barrier_parties");
    CHECK_ERRMSG("b is NULL");
    CHECK(pc_barrier_n_waiting(NULL) == 0);
    CHECK_ERRMSG("pc_barrier_n_waiting");
    CHECK(!pc_barrier_broken(NULL));
    CHECK_ERRMSG("pc_barrier_broken");
    pc_barrier_free(NULL); /* a no-op */

    /* NaN: refused before anything happens (not counted, not broken). */
    pc_barrier *b;
    CHECK_OK(pc_barrier_new(2, &b));
    CHECK_STATUS(pc_barrier_wait(b, NAN, &index), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_wait");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_barrier_wait(b, -NAN, &index), PC_ERR_INVALID_ARGUMENT);
    CHECK(index == 99);
    CHECK(pc_barrier_n_waiting(b) == 0);
    CHECK(!pc_barrier_broken(b));

    /* Wrong-typed handles. */
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    pc_barrier *bad = (pc_barrier *)e;
    CHECK_STATUS(pc_barrier_wait(bad, 0, &index), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK_STATUS(pc_barrier_abort(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK_STATUS(pc_barrier_reset(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK(pc_barrier_parties(bad) == 0);
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK(pc_barrier_n_waiting(bad) == 0);
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK(!pc_barrier_broken(bad));
    CHECK_ERRMSG("is not a pc_barrier");
    pc_barrier_free(bad);
    CHECK_ERRMSG("pc_barrier_free");
    CHECK_ERRMSG("is not a pc_barrier");
    CHECK_STATUS(pc_event_set((pc_event *)b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    CHECK_OK(pc_event_set(e)); /* intact */
    CHECK(pc_event_is_set(e));
    CHECK(pc_barrier_parties(b) == 2);
    pc_event_free(e);
    pc_barrier_free(b);
}

/* ---- nothing left behind ---- */

#define MANY 10000

static void test_nothing_left(void)
{
    pc_event *we;
    pc_barrier *wb;
    CHECK_OK(pc_event_new(&we));
    CHECK_OK(pc_barrier_new(1, &wb));
    pc_event_free(we);
    pc_barrier_free(wb);

    struct tu_resources before;
    resources_before(&before);
    for (int i = 0; i < MANY; i++) {
        pc_event *e;
        pc_barrier *b;
        int st = pc_event_new(&e);
        if (st == PC_OK && (st = pc_event_set(e)) == PC_OK)
            st = pc_event_wait(e, 0);
        if (st == PC_OK)
            st = pc_barrier_new(1, &b);
        if (st == PC_OK) {
            st = pc_barrier_wait(b, 0, NULL);
            pc_barrier_free(b);
        }
        if (st != PC_OK)
            FAIL("event/barrier %d: %s", i, pc_status_str(st));
        if (i % 1000 == 0 && count_open_fds() != before.fds)
            FAIL("%d fds after making %d events and barriers, %d before", count_open_fds(),
                 i + 1, before.fds);
        pc_event_free(e);
    }
    tu_checks++;
    check_resources_after(&before, MANY, "events and barriers");
    CHECK(wait_no_children(2.0));
}

int main(void)
{
    tu_init("test_event_barrier", 100);
    RUN(test_event_basics);
    RUN(test_event_threads);
    RUN(test_event_across_processes);
    RUN(test_event_killed_waiter);
    RUN(test_interrupt_event);
    RUN(test_event_bad_arguments);
    RUN(test_barrier_basics);
    RUN(test_barrier_processes);
    RUN(test_barrier_threads);
    RUN(test_barrier_timeout);
    RUN(test_barrier_abort_and_reset);
    RUN(test_interrupt_barrier);
    RUN(test_barrier_bad_arguments);
    RUN(test_nothing_left);
    /* Last: it fails today (see the test), and a failure ends the program. */
    RUN(test_barrier_killed_waiter);
    RUN(test_big_barrier);
    return tu_done();
}
