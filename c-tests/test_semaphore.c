/*
 * test_semaphore.c: pc_semaphore_* and pc_bounded_semaphore_new (include/processing.h): counting in
 * one process, in threads and across processes; timeouts; a release wakes exactly one
 * blocked waiter, also in another process, also after another waiter was killed; a
 * BoundedSemaphore refuses to go above its initial value; Semaphore(3) lets at most 3 of
 * 10 processes into a section; pc_interrupt(); NaN timeouts, NULL and wrong-typed handles;
 * nothing left behind.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <limits.h>
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

static int32_t value_of(pc_semaphore *s)
{
    int32_t v = -12345;
    CHECK_OK(pc_semaphore_value(s, &v));
    return v;
}

/* ---- in one process ---- */

static pc_status semaphore_acquire(void *s, double timeout)
{
    return pc_semaphore_acquire(s, timeout);
}

static void test_semaphore_basics(void)
{
    pc_semaphore *s = NULL;
    CHECK_OK(pc_semaphore_new(2, &s));
    CHECK(s != NULL);
    CHECK(value_of(s) == 2);
    CHECK_OK(pc_semaphore_acquire(s, PC_FOREVER));
    CHECK(value_of(s) == 1);
    CHECK_OK(pc_semaphore_acquire(s, 0));
    CHECK(value_of(s) == 0);

    check_timeouts(semaphore_acquire, s, "pc_semaphore_acquire"); /* at 0 */
    CHECK(value_of(s) == 0);

    /* No owner: released as often as anyone likes (it is not bounded). */
    for (int i = 0; i < 5; i++)
        CHECK_OK(pc_semaphore_release(s));
    CHECK(value_of(s) == 5);
    const double timeouts[] = {0, 0.5, PC_FOREVER, -3.0, INFINITY};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
        CHECK_OK(pc_semaphore_acquire(s, timeouts[i]));
    CHECK(value_of(s) == 0);
    pc_semaphore_free(s);

    /* Created at 0. */
    CHECK_OK(pc_semaphore_new(0, &s));
    CHECK(value_of(s) == 0);
    CHECK_STATUS(pc_semaphore_acquire(s, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_semaphore_acquire(s, 0.05), PC_ERR_TIMEOUT);
    CHECK_OK(pc_semaphore_release(s));
    CHECK(value_of(s) == 1);
    CHECK_OK(pc_semaphore_acquire(s, 0));
    CHECK(value_of(s) == 0);
    pc_semaphore_free(s);
}

static void test_bounded(void)
{
    pc_semaphore *b;
    CHECK_OK(pc_bounded_semaphore_new(2, &b));
    CHECK(value_of(b) == 2);
    CHECK_STATUS(pc_semaphore_release(b), PC_ERR_VALUE);
    CHECK_ERRMSG("pc_semaphore_release");
    CHECK_ERRMSG("BoundedSemaphore");
    CHECK(value_of(b) == 2); /* unchanged */
    CHECK_OK(pc_semaphore_acquire(b, 0));
    CHECK_OK(pc_semaphore_acquire(b, 0));
    CHECK_STATUS(pc_semaphore_acquire(b, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_semaphore_release(b));
    CHECK_OK(pc_semaphore_release(b));
    CHECK_STATUS(pc_semaphore_release(b), PC_ERR_VALUE);
    CHECK_STATUS(pc_semaphore_release(b), PC_ERR_VALUE);
    CHECK(value_of(b) == 2);
    CHECK_OK(pc_semaphore_acquire(b, 0));
    CHECK_OK(pc_semaphore_release(b));
    pc_semaphore_free(b);

    /* Bounded at 0: never released above 0, never acquired. */
    CHECK_OK(pc_bounded_semaphore_new(0, &b));
    CHECK(value_of(b) == 0);
    CHECK_STATUS(pc_semaphore_release(b), PC_ERR_VALUE);
    CHECK(value_of(b) == 0);
    CHECK_STATUS(pc_semaphore_acquire(b, 0.02), PC_ERR_TIMEOUT);
    pc_semaphore_free(b);

    /* Bounded at 1 is a lock without owner: anyone may release it once. */
    CHECK_OK(pc_bounded_semaphore_new(1, &b));
    CHECK_OK(pc_semaphore_acquire(b, 0));
    CHECK_OK(pc_semaphore_release(b));
    CHECK_STATUS(pc_semaphore_release(b), PC_ERR_VALUE);
    CHECK(value_of(b) == 1);
    pc_semaphore_free(b);
}

static void test_value_limits(void)
{
    const unsigned max = 2147483647u; /* SEM_VALUE_MAX */
    pc_semaphore *s = NULL;
    CHECK_OK(pc_semaphore_new(max, &s));
    CHECK(value_of(s) == INT32_MAX);
    CHECK_STATUS(pc_semaphore_release(s), PC_ERR_VALUE);
    CHECK_ERRMSG("overflow");
    CHECK(value_of(s) == INT32_MAX);
    CHECK_OK(pc_semaphore_acquire(s, 0));
    CHECK(value_of(s) == INT32_MAX - 1);
    CHECK_OK(pc_semaphore_release(s));
    pc_semaphore_free(s);
    CHECK_OK(pc_bounded_semaphore_new(max, &s));
    CHECK_STATUS(pc_semaphore_release(s), PC_ERR_VALUE);
    pc_semaphore_free(s);

    const unsigned too_large[] = {max + 1u, UINT_MAX};
    for (int i = 0; i < 2; i++) {
        s = NULL;
        CHECK_STATUS(pc_semaphore_new(too_large[i], &s), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_semaphore_new");
        CHECK_ERRMSG("value");
        CHECK(s == NULL);
        CHECK_STATUS(pc_bounded_semaphore_new(too_large[i], &s), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_bounded_semaphore_new");
        CHECK(s == NULL);
    }
}

struct thread_acquire {
    pc_semaphore *s;
    double timeout;
    int status;
    double returned;
};

static void *thread_acquire_main(void *arg)
{
    struct thread_acquire *t = arg;
    t->status = pc_semaphore_acquire(t->s, t->timeout);
    t->returned = now();
    return NULL;
}

static void test_semaphore_threads(void)
{
    pc_semaphore *s;
    CHECK_OK(pc_semaphore_new(0, &s));
    struct thread_acquire t = {s, 10.0, 12345, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_acquire_main, &t) == 0);
    sleep_s(0.2);
    double released = now();
    CHECK_OK(pc_semaphore_release(s));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(t.status, PC_OK);
    CHECK(t.returned - released < 1.0);
    CHECK(value_of(s) == 0);
    pc_semaphore_free(s);
}

/* ---- across processes ---- */

struct xsem {
    atomic_int started;
    atomic_int done;
    atomic_int statuses[16];
    double returned[16];
};

struct xsem_arg {
    pc_semaphore *s;
    struct xsem *sh;
    int index;
    double timeout;
};

/* acquire(timeout) once; reports the status and when it returned. */
static int target_acquire(void *arg)
{
    const struct xsem_arg *a = arg;
    atomic_fetch_add(&a->sh->started, 1);
    int st = pc_semaphore_acquire(a->s, a->timeout);
    a->sh->returned[a->index] = now();
    atomic_store(&a->sh->statuses[a->index], st);
    atomic_fetch_add(&a->sh->done, 1);
    return st == PC_OK ? 0 : 1;
}

static void test_semaphore_across_processes(void)
{
    struct xsem *sh = shared_new(sizeof *sh);
    pc_semaphore *s;
    CHECK_OK(pc_semaphore_new(2, &s));

    /* A child's acquires are seen by the parent, and the parent's by the child. */
    struct xsem_arg a = {s, sh, 0, 0};
    pc_process *p = start(target_acquire, &a);
    CHECK(finish(p, 10.0) == 0);
    CHECK(value_of(s) == 1);
    CHECK_OK(pc_semaphore_acquire(s, 0));
    memset(sh, 0, sizeof *sh);
    a.timeout = 0;
    p = start(target_acquire, &a);
    CHECK(finish(p, 10.0) == 1);
    CHECK_STATUS(atomic_load(&sh->statuses[0]), PC_ERR_TIMEOUT);

    /* A timed acquire in a child: not earlier than the timeout. */
    memset(sh, 0, sizeof *sh);
    a.timeout = 0.2;
    double t0 = now();
    p = start(target_acquire, &a);
    CHECK(finish(p, 10.0) == 1);
    CHECK_STATUS(atomic_load(&sh->statuses[0]), PC_ERR_TIMEOUT);
    CHECK(sh->returned[0] - t0 >= 0.19);

    /* A release wakes a waiter blocked in another process. */
    memset(sh, 0, sizeof *sh);
    a.timeout = 10.0;
    p = start(target_acquire, &a);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.2);
    CHECK(pc_process_is_alive(p));
    double released = now();
    CHECK_OK(pc_semaphore_release(s));
    CHECK(finish(p, 10.0) == 0);
    CHECK_STATUS(atomic_load(&sh->statuses[0]), PC_OK);
    CHECK(sh->returned[0] - released < 1.0);
    CHECK(value_of(s) == 0);

    /* Exactly one waiter per release: 3 blocked children, one release, one wakes. */
    memset(sh, 0, sizeof *sh);
    struct xsem_arg args[3];
    pc_process *ps[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct xsem_arg){s, sh, i, 10.0};
        ps[i] = start(target_acquire, &args[i]);
    }
    CHECK(wait_flag(&sh->started, 3, 5.0));
    sleep_s(0.3);
    CHECK(count_alive(ps, 3) == 3);
    CHECK_OK(pc_semaphore_release(s));
    CHECK(wait_flag(&sh->done, 1, 1.0));
    sleep_s(0.3); /* settle: nobody else may get through */
    CHECK(atomic_load(&sh->done) == 1);
    CHECK(value_of(s) == 0);
    CHECK_OK(pc_semaphore_release(s));
    CHECK_OK(pc_semaphore_release(s));
    for (int i = 0; i < 3; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    CHECK(atomic_load(&sh->done) == 3);
    CHECK(value_of(s) == 0);

    /* A waiter killed while blocked takes nothing: the release goes to a live waiter. */
    memset(sh, 0, sizeof *sh);
    args[0] = (struct xsem_arg){s, sh, 0, 20.0};
    args[1] = (struct xsem_arg){s, sh, 1, 10.0};
    pc_process *killed = start(target_acquire, &args[0]);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.1);
    pc_process *live = start(target_acquire, &args[1]);
    CHECK(wait_flag(&sh->started, 2, 5.0));
    sleep_s(0.2);
    CHECK_OK(pc_process_kill(killed));
    CHECK(finish(killed, 10.0) == -SIGKILL);
    released = now();
    CHECK_OK(pc_semaphore_release(s));
    CHECK(now() - released < 0.1); /* never blocks */
    CHECK(finish(live, 10.0) == 0);
    CHECK(sh->returned[1] - released < 1.0);
    CHECK(value_of(s) == 0);

    pc_semaphore_free(s);
    shared_free(sh, sizeof *sh);
}

/* Semaphore(3) lets at most 3 of 10 processes into a section at once. */
#define SECTION_WORKERS 10

struct section {
    atomic_int inside;
    atomic_int max_inside;
    atomic_int entered;
};

struct section_arg {
    pc_semaphore *s;
    struct section *sh;
    int index;
};

static int target_section(void *arg)
{
    const struct section_arg *a = arg;
    for (int round = 0; round < 3; round++) {
        if (pc_semaphore_acquire(a->s, 30.0) != PC_OK)
            return 1;
        int in = atomic_fetch_add(&a->sh->inside, 1) + 1;
        int max = atomic_load(&a->sh->max_inside);
        while (in > max && !atomic_compare_exchange_weak(&a->sh->max_inside, &max, in)) {
        }
        atomic_fetch_add(&a->sh->entered, 1);
        sleep_s(0.01 + 0.005 * (a->index % 4));
        atomic_fetch_sub(&a->sh->inside, 1);
        if (pc_semaphore_release(a->s) != PC_OK)
            return 2;
    }
    return 0;
}

static void test_semaphore_limits_a_section(void)
{
    struct section *sh = shared_new(sizeof *sh);
    pc_semaphore *s;
    CHECK_OK(pc_semaphore_new(3, &s));
    struct section_arg args[SECTION_WORKERS];
    pc_process *ps[SECTION_WORKERS];
    for (int i = 0; i < SECTION_WORKERS; i++) {
        args[i] = (struct section_arg){s, sh, i};
        ps[i] = start(target_section, &args[i]);
    }
    for (int i = 0; i < SECTION_WORKERS; i++) {
        int code = finish(ps[i], 30.0);
        if (code != 0)
            FAIL("worker %d failed at step %d", i, code);
    }
    int max = atomic_load(&sh->max_inside);
    fprintf(stderr, "   at most %d inside at once\n", max);
    if (max < 1 || max > 3)
        FAIL("%d processes were inside at once, expected 1 to 3", max);
    CHECK(atomic_load(&sh->entered) == 3 * SECTION_WORKERS);
    CHECK(atomic_load(&sh->inside) == 0);
    CHECK(value_of(s) == 3);
    pc_semaphore_free(s);
    shared_free(sh, sizeof *sh);
}

/* ---- pc_interrupt() ---- */

static void interrupted_acquire(bool bounded, double timeout)
{
    fprintf(stderr, "   %s, timeout %g\n", bounded ? "BoundedSemaphore" : "Semaphore", timeout);
    pc_semaphore *s;
    CHECK_OK(bounded ? pc_bounded_semaphore_new(0, &s) : pc_semaphore_new(0, &s));
    check_interrupted(semaphore_acquire, s, timeout, "pc_semaphore_acquire");
    /* Nothing taken, nothing lost. */
    CHECK(value_of(s) == 0);
    if (!bounded) {
        CHECK_OK(pc_semaphore_release(s));
        CHECK(value_of(s) == 1);
        CHECK_OK(pc_semaphore_acquire(s, 0));
    }
    CHECK_STATUS(pc_semaphore_acquire(s, 0.05), PC_ERR_TIMEOUT); /* consumed */
    pc_semaphore_free(s);
}

static void test_interrupt_semaphore(void)
{
    interrupted_acquire(false, PC_FOREVER);
    interrupted_acquire(false, 5.0);
    interrupted_acquire(true, PC_FOREVER);

    /* An interrupt left pending: an acquire that need not block succeeds and leaves it
     * pending; the next one that blocks consumes it at once. */
    pc_semaphore *s;
    CHECK_OK(pc_semaphore_new(1, &s));
    pc_interrupt();
    CHECK_OK(pc_semaphore_acquire(s, PC_FOREVER));
    CHECK(value_of(s) == 0);
    CHECK_STATUS(pc_semaphore_acquire(s, 0), PC_ERR_TIMEOUT);
    double t0 = now();
    CHECK_STATUS(pc_semaphore_acquire(s, 5.0), PC_ERR_INTERRUPTED);
    CHECK(now() - t0 < 0.5);
    CHECK(value_of(s) == 0);
    t0 = now();
    CHECK_STATUS(pc_semaphore_acquire(s, 0.1), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.095);
    pc_semaphore_free(s);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    CHECK_STATUS(pc_semaphore_new(1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_bounded_semaphore_new(1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_bounded_semaphore_new");
    CHECK_ERRMSG("out is NULL");

    int32_t v = 12345;
    CHECK_STATUS(pc_semaphore_acquire(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_acquire");
    CHECK_ERRMSG("s is NULL");
    CHECK_STATUS(pc_semaphore_acquire(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_semaphore_acquire(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_semaphore_release(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_release");
    CHECK_ERRMSG("s is NULL");
    CHECK_STATUS(pc_semaphore_value(NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_value");
    CHECK_ERRMSG("s is NULL");
    CHECK(v == 12345); /* written on success only */
    CHECK_STATUS(pc_semaphore_value(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    pc_semaphore_free(NULL); /* a no-op */

    pc_semaphore *s;
    CHECK_OK(pc_semaphore_new(1, &s));
    CHECK_STATUS(pc_semaphore_value(s, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");

    /* NaN: refused, nothing taken (also when the value is positive). */
    CHECK_STATUS(pc_semaphore_acquire(s, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_acquire");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_semaphore_acquire(s, -NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK(value_of(s) == 1);
    CHECK_OK(pc_semaphore_acquire(s, 0));
    CHECK_STATUS(pc_semaphore_acquire(s, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK(value_of(s) == 0);

    /* Wrong-typed handles: refused, nothing changed. */
    pc_lock *l;
    pc_event *e;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_event_new(&e));
    CHECK_STATUS(pc_semaphore_acquire((pc_semaphore *)l, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_semaphore");
    CHECK_STATUS(pc_semaphore_release((pc_semaphore *)e), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_semaphore_release");
    CHECK_ERRMSG("is not a pc_semaphore");
    v = 12345;
    CHECK_STATUS(pc_semaphore_value((pc_semaphore *)l, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_semaphore");
    CHECK(v == 12345);
    pc_semaphore_free((pc_semaphore *)l); /* refused and reported */
    CHECK_ERRMSG("pc_semaphore_free");
    CHECK_ERRMSG("is not a pc_semaphore");
    CHECK_OK(pc_lock_acquire(l, 0)); /* intact */
    CHECK_OK(pc_lock_release(l));
    /* And the other way round. */
    CHECK_STATUS(pc_lock_acquire((pc_lock *)s, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK_STATUS(pc_event_set((pc_event *)s), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    CHECK(value_of(s) == 0);
    pc_lock_free(l);
    pc_event_free(e);
    pc_semaphore_free(s);
}

/* ---- nothing left behind ---- */

#define MANY 10000

static void test_nothing_left(void)
{
    pc_semaphore *w;
    CHECK_OK(pc_semaphore_new(1, &w));
    pc_semaphore_free(w);

    struct tu_resources before;
    resources_before(&before);
    for (int i = 0; i < MANY; i++) {
        pc_semaphore *s;
        int st = (i & 1) ? pc_bounded_semaphore_new(1, &s) : pc_semaphore_new(1, &s);
        if (st == PC_OK && (st = pc_semaphore_acquire(s, 0)) == PC_OK)
            st = pc_semaphore_release(s);
        if (st != PC_OK)
            FAIL("semaphore %d: %s", i, pc_status_str(st));
        if (i % 1000 == 0 && count_open_fds() != before.fds)
            FAIL("%d fds after making %d semaphores, %d before", count_open_fds(),
                 i + 1, before.fds);
        pc_semaphore_free(s);
    }
    tu_checks++;
    check_resources_after(&before, MANY, "semaphores");
    CHECK(wait_no_children(2.0));
}

int main(void)
{
    tu_init("test_semaphore", 100);
    RUN(test_semaphore_basics);
    RUN(test_bounded);
    RUN(test_value_limits);
    RUN(test_semaphore_threads);
    RUN(test_semaphore_across_processes);
    RUN(test_semaphore_limits_a_section);
    RUN(test_interrupt_semaphore);
    RUN(test_bad_arguments);
    RUN(test_nothing_left);
    return tu_done();
}
