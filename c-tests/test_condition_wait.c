/*
 * test_condition_wait.c: waiting on a condition (include/processing.h: pc_condition_wait,
 * pc_condition_wait_for, pc_condition_notify, pc_condition_notify_all): timed waits that
 * return with the lock held again, exact wake counts in arrival order (processes and
 * threads), wait_for, a recursively held RLock released fully and restored, the
 * 255-waiter limit, pc_interrupt().
 *
 * The lock rule and waiters or owners that die are in test_condition_owner.c.
 *
 * `test_condition_wait NAME…` runs only the named subtests.
 *
 * ctest-timeout: 60
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
#include <sys/wait.h>
#include <unistd.h>
#include "condition_common.h"

/* ---- timed waits ---- */
static pc_status condition_wait(void *c, double timeout)
{
    return pc_condition_wait(c, timeout);
}

static void timed_wait(pc_condition *c, void *ctx)
{
    (void)ctx;
    check_timeouts(condition_wait, c, "pc_condition_wait");
    /* Held again: released once, then not held. */
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
}

static void test_timed_wait(void)
{
    on_both_kinds(timed_wait, NULL);
}

/* ---- exact wake counts ---- */
#define WAITERS 5

static void wake_counts(bool own_rlock)
{
    fprintf(stderr, "   on %s\n", own_rlock ? "its own RLock" : "a Lock");
    struct cshm *sh = shared_new(sizeof *sh);
    pc_lock *l = NULL;
    if (!own_rlock)
        CHECK_OK(pc_lock_new(&l));
    pc_condition *c;
    CHECK_OK(pc_condition_new(l, &c));

    /* One at a time, so that their arrival order is known: 0, 1, 2, 3, 4. */
    struct cwait_arg args[WAITERS];
    pc_process *ps[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        args[i] = (struct cwait_arg){c, sh, i, 20.0};
        ps[i] = start(target_waiter, &args[i]);
        acquire_when_waiting(c, sh, i + 1);
        CHECK_OK(pc_condition_release(c));
    }
    for (int i = 0; i < WAITERS; i++)
        CHECK(atomic_load(&sh->order[i]) == i);

    /* notify(0) wakes nobody. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify(c, 0));
    CHECK_OK(pc_condition_release(c));
    sleep_s(0.3);
    CHECK(count_alive(ps, WAITERS) == WAITERS);
    CHECK(atomic_load(&sh->woken) == 0);

    /* notify(2) wakes exactly the 2 oldest. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify(c, 2));
    CHECK_OK(pc_condition_release(c));
    CHECK(wait_flag(&sh->woken, 2, 2.0));
    sleep_s(0.3);
    CHECK(atomic_load(&sh->woken) == 2);
    CHECK(finish(ps[0], 5.0) == 0);
    CHECK(finish(ps[1], 5.0) == 0);
    CHECK(count_alive(ps + 2, WAITERS - 2) == WAITERS - 2);

    /* notify(1): the next oldest. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    CHECK(wait_flag(&sh->woken, 3, 2.0));
    sleep_s(0.3);
    CHECK(atomic_load(&sh->woken) == 3);
    CHECK(finish(ps[2], 5.0) == 0);
    CHECK(count_alive(ps + 3, WAITERS - 3) == WAITERS - 3);

    /* notify_all: the rest. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    double t0 = now();
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_OK(pc_condition_release(c));
    for (int i = 3; i < WAITERS; i++) {
        CHECK(finish(ps[i], 5.0) == 0);
        CHECK(sh->returned[i] - t0 < 1.0);
    }
    for (int i = 0; i < WAITERS; i++)
        CHECK_STATUS(atomic_load(&sh->statuses[i]), PC_OK);

    /* notify(n) with fewer than n waiting wakes those there are. */
    memset(sh, 0, sizeof *sh);
    for (int i = 0; i < 3; i++) {
        args[i] = (struct cwait_arg){c, sh, i, 20.0};
        ps[i] = start(target_waiter, &args[i]);
    }
    acquire_when_waiting(c, sh, 3);
    CHECK_OK(pc_condition_notify(c, 100));
    CHECK_OK(pc_condition_release(c));
    for (int i = 0; i < 3; i++)
        CHECK(finish(ps[i], 5.0) == 0);
    /* Nobody waits now: a notify is not kept for a later waiter. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify(c, 5));
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_STATUS(pc_condition_wait(c, 0.1), PC_ERR_TIMEOUT);
    CHECK_OK(pc_condition_release(c));

    pc_condition_free(c);
    pc_lock_free(l);
    shared_free(sh, sizeof *sh);
}

static void test_wake_counts(void)
{
    wake_counts(true);
    wake_counts(false);
}

/* The same between threads of one process. */
struct thread_waiter {
    pc_condition *c;
    struct cshm *sh;
    int index;
    pthread_t thread;
};

static void *thread_waiter_main(void *arg)
{
    struct thread_waiter *w = arg;
    struct cwait_arg a = {w->c, w->sh, w->index, 20.0};
    return (void *)(intptr_t)target_waiter(&a);
}

static void test_wake_counts_threads(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));
    struct thread_waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct thread_waiter){c, sh, i, 0};
        CHECK(pthread_create(&w[i].thread, NULL, thread_waiter_main, &w[i]) == 0);
    }
    acquire_when_waiting(c, sh, 3);
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    CHECK(wait_flag(&sh->woken, 1, 2.0));
    sleep_s(0.3);
    CHECK(atomic_load(&sh->woken) == 1);
    /* The oldest one woke. */
    int first = atomic_load(&sh->order[0]);
    void *ret;
    CHECK(pthread_join(w[first].thread, &ret) == 0);
    CHECK(ret == NULL);
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_OK(pc_condition_release(c));
    for (int i = 0; i < 3; i++) {
        if (i == first)
            continue;
        CHECK(pthread_join(w[i].thread, &ret) == 0);
        CHECK(ret == NULL);
    }
    CHECK(atomic_load(&sh->woken) == 3);
    pc_condition_free(c);
    shared_free(sh, sizeof *sh);
}

/* A notify with the predicate still false, then the flag set and a notify. */
static int target_set_flag_and_notify(void *arg)
{
    const struct notifier_arg *a = arg;
    if (pc_condition_acquire(a->c, 10.0) != PC_OK)
        return 1;
    if (pc_condition_notify_all(a->c) != PC_OK)
        return 2;
    pc_condition_release(a->c);
    sleep_s(0.1);
    if (pc_condition_acquire(a->c, 10.0) != PC_OK)
        return 3;
    atomic_store(&a->sh->flag, 1);
    if (pc_condition_notify_all(a->c) != PC_OK)
        return 4;
    return pc_condition_release(a->c) == PC_OK ? 0 : 5;
}

static void test_wait_for(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));
    struct pred_ctx ctx = {c, &sh->flag, 0, 0};

    /* True at once: PC_OK without waiting, also with a zero timeout. */
    atomic_store(&sh->flag, 1);
    CHECK_OK(pc_condition_acquire(c, 0));
    double t0 = now();
    CHECK_OK(pc_condition_wait_for(c, pred_flag, &ctx, 5.0));
    CHECK(now() - t0 < 0.1);
    CHECK(ctx.calls == 1);
    CHECK_OK(pc_condition_wait_for(c, pred_flag, &ctx, 0));
    CHECK_OK(pc_condition_wait_for(c, pred_flag, &ctx, PC_FOREVER));
    CHECK(ctx.calls == 3);
    CHECK(ctx.not_held == 0);

    /* Stays false: PC_ERR_TIMEOUT, not early, with the lock held again. */
    atomic_store(&sh->flag, 0);
    t0 = now();
    CHECK_STATUS(pc_condition_wait_for(c, pred_flag, &ctx, 0), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.1);
    t0 = now();
    CHECK_STATUS(pc_condition_wait_for(c, pred_flag, &ctx, 0.2), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0)
        FAIL("wait_for(false, 0.2) returned after %.3f s, expected [0.19, 1.0]", took);
    CHECK_ERRMSG("pc_condition_wait_for");
    CHECK(ctx.not_held == 0);
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);

    /* Becomes true after a notify from another process (a first notify leaves it false). */
    CHECK_OK(pc_condition_acquire(c, 0));
    ctx.calls = 0;
    struct notifier_arg na = {c, sh};
    pc_process *p = start(target_set_flag_and_notify, &na);
    t0 = now();
    CHECK_OK(pc_condition_wait_for(c, pred_flag, &ctx, 10.0));
    took = now() - t0;
    CHECK(took >= 0.09 && took < 5.0);
    CHECK(ctx.calls >= 2);
    CHECK(ctx.not_held == 0);
    CHECK(atomic_load(&sh->flag) == 1);
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    CHECK(finish(p, 10.0) == 0);

    /* On a plain Lock too. */
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    pc_condition *cl;
    CHECK_OK(pc_condition_new(l, &cl));
    struct pred_ctx lctx = {NULL, &sh->flag, 0, 0};
    atomic_store(&sh->flag, 0);
    CHECK_OK(pc_lock_acquire(l, 0));
    na.c = cl;
    p = start(target_set_flag_and_notify, &na);
    CHECK_OK(pc_condition_wait_for(cl, pred_flag, &lctx, 10.0));
    CHECK_OK(pc_lock_release(l));
    CHECK(finish(p, 10.0) == 0);
    pc_condition_free(cl);
    pc_lock_free(l);

    pc_condition_free(c);
    shared_free(sh, sizeof *sh);
}

/* ---- an RLock held recursively ---- */

/* Gets the lock (only possible once the waiter released every level), notifies. */
static int target_acquire_notify(void *arg)
{
    const struct notifier_arg *a = arg;
    atomic_store(&a->sh->step, 1);
    if (pc_condition_acquire(a->c, 10.0) != PC_OK)
        return 1;
    if (pc_condition_notify(a->c, 1) != PC_OK)
        return 2;
    return pc_condition_release(a->c) == PC_OK ? 0 : 3;
}

static void test_rlock_depth(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_lock *r;
    CHECK_OK(pc_rlock_new(&r));
    pc_condition *c;
    CHECK_OK(pc_condition_new(r, &c));

    /* Depth 2, notified by another process, which needs the lock to notify. */
    CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_OK(pc_condition_acquire(c, 0));
    struct notifier_arg na = {c, sh};
    pc_process *p = start(target_acquire_notify, &na);
    CHECK_OK(pc_condition_wait(c, 10.0));
    CHECK(finish(p, 10.0) == 0);
    /* Restored to depth 2: two releases, the third refused. */
    CHECK(!free_for_another_thread(r));
    CHECK_OK(pc_lock_release(r));
    CHECK(!free_for_another_thread(r));
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);
    CHECK(free_for_another_thread(r));

    /* Depth 3, timed out: restored as well. */
    for (int i = 0; i < 3; i++)
        CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_STATUS(pc_condition_wait(c, 0.1), PC_ERR_TIMEOUT);
    for (int i = 0; i < 3; i++)
        CHECK_OK(pc_lock_release(r));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);

    /* Depth 2 with wait_for. */
    CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_OK(pc_lock_acquire(r, 0));
    atomic_store(&sh->flag, 0);
    struct pred_ctx ctx = {c, &sh->flag, 0, 0};
    p = start(target_set_flag_and_notify, &na);
    CHECK_OK(pc_condition_wait_for(c, pred_flag, &ctx, 10.0));
    CHECK(ctx.not_held == 0);
    CHECK_OK(pc_lock_release(r));
    CHECK_OK(pc_lock_release(r));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);
    CHECK(finish(p, 10.0) == 0);

    pc_condition_free(c);
    pc_lock_free(r);
    shared_free(sh, sizeof *sh);
}

/* ---- at most 255 waiters ---- */
#define FULL 255

static void test_waiter_limit(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));
    static struct thread_waiter w[FULL];
    pthread_attr_t attr;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, 512 * 1024) == 0);
    for (int i = 0; i < FULL; i++) {
        w[i] = (struct thread_waiter){c, sh, MAX_CHILDREN - 1, 0};
        CHECK(pthread_create(&w[i].thread, &attr, thread_waiter_main, &w[i]) == 0);
    }
    pthread_attr_destroy(&attr);
    acquire_when_waiting(c, sh, FULL);
    /* The 256th: refused, with the lock still held. */
    CHECK_STATUS(pc_condition_wait(c, 1.0), PC_ERR_TOO_LARGE);
    CHECK_ERRMSG("pc_condition_wait");
    CHECK_ERRMSG("255");
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_OK(pc_condition_release(c));
    for (int i = 0; i < FULL; i++) {
        void *ret;
        CHECK(pthread_join(w[i].thread, &ret) == 0);
        if (ret != NULL)
            FAIL("waiter thread %d returned %d", i, (int)(intptr_t)ret);
    }
    CHECK(atomic_load(&sh->woken) == FULL);
    /* Room again. */
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_STATUS(pc_condition_wait(c, 0.01), PC_ERR_TIMEOUT);
    CHECK_OK(pc_condition_release(c));
    pc_condition_free(c);
    shared_free(sh, sizeof *sh);
}

/* ---- pc_interrupt() ---- */

/* Takes the lock while the main thread waits, interrupts it, holds on a while. */
struct interrupt_while_holding {
    pc_condition *c;
    double released;
    int status;
};

static void *interrupt_while_holding_main(void *arg)
{
    struct interrupt_while_holding *iw = arg;
    iw->status = pc_condition_acquire(iw->c, 5.0);
    if (iw->status != PC_OK)
        return NULL;
    pc_interrupt();
    sleep_s(0.3);
    iw->released = now();
    pc_condition_release(iw->c);
    return NULL;
}

static void test_interrupt_condition(void)
{
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));

    /* wait(FOREVER) at depth 2: interrupted, the lock held again at depth 2. */
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_OK(pc_condition_acquire(c, 0));
    check_interrupted(condition_wait, c, PC_FOREVER, "pc_condition_wait");
    CHECK_OK(pc_condition_release(c));
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);

    /* A timed wait and wait_for too. */
    CHECK_OK(pc_condition_acquire(c, 0));
    struct interrupter it;
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_condition_wait(c, 5.0), PC_ERR_INTERRUPTED);
    CHECK(now() - it.at < 1.0);
    interrupter_join(&it);
    atomic_int flag = 0;
    struct pred_ctx ctx = {c, &flag, 0, 0};
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_condition_wait_for(c, pred_flag, &ctx, PC_FOREVER), PC_ERR_INTERRUPTED);
    CHECK(now() - it.at < 1.0);
    interrupter_join(&it);
    CHECK(ctx.not_held == 0);
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);

    /* Interrupted while another thread holds the lock: the wait returns only once it has
     * the lock back. */
    struct interrupt_while_holding iw = {c, 0, 12345};
    CHECK_OK(pc_condition_acquire(c, 0));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, interrupt_while_holding_main, &iw) == 0);
    CHECK_STATUS(pc_condition_wait(c, PC_FOREVER), PC_ERR_INTERRUPTED);
    double returned = now();
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(iw.status, PC_OK);
    CHECK(returned >= iw.released);
    CHECK(returned - iw.released < 1.0);
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);

    /* acquire blocked by another thread's hold: interrupted, nothing acquired. */
    struct rlock_holder h = {.c = c};
    atomic_init(&h.held, 0);
    atomic_init(&h.release, 0);
    CHECK(pthread_create(&th, NULL, rlock_holder_main, &h) == 0);
    CHECK(wait_flag(&h.held, 1, 5.0));
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_condition_acquire(c, PC_FOREVER), PC_ERR_INTERRUPTED);
    CHECK(now() - it.at < 1.0);
    interrupter_join(&it);
    CHECK_ERRMSG("pc_condition_acquire");
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    atomic_store(&h.release, 1);
    void *ret;
    CHECK(pthread_join(th, &ret) == 0);
    CHECK(ret == NULL);
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_OK(pc_condition_release(c));
    pc_condition_free(c);
}

int main(int argc, char **argv)
{
    tu_init("test_condition_wait", 50);
    tu_select(argc, argv);
    RUN(test_timed_wait);
    RUN(test_wake_counts);
    RUN(test_wake_counts_threads);
    RUN(test_wait_for);
    RUN(test_rlock_depth);
    RUN(test_waiter_limit);
    RUN(test_interrupt_condition);
    return tu_done();
}
