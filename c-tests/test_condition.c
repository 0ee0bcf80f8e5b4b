/*
 * test_condition.c: pc_condition_* (API.md §5): the lock rule (wait and notify without
 * the lock are PC_ERR_NOT_OWNER; holding the underlying pc_lock counts), timed waits that
 * return with the lock held again, exact wake counts in arrival order (processes and
 * threads), wait_for, a recursively held RLock released fully and restored, waiters killed
 * while waiting (they neither block notify nor absorb its wake-ups), a notifier that dies
 * holding the lock (PC_ERR_OWNER_DEAD), the 255-waiter limit, pc_interrupt(), NaN
 * timeouts, NULL and wrong-typed handles, and nothing left behind.
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
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

struct try_acquire {
    pc_lock *l;
    int status;
};

static void *try_acquire_main(void *arg)
{
    struct try_acquire *t = arg;
    t->status = pc_lock_acquire(t->l, 0);
    if (t->status == PC_OK || t->status == PC_ERR_OWNER_DEAD)
        pc_lock_release(t->l);
    return NULL;
}

/* Whether another thread of this process could take `l` now (it releases it at once). */
static bool free_for_another_thread(pc_lock *l)
{
    struct try_acquire t = {l, 12345};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, try_acquire_main, &t) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    return t.status == PC_OK;
}

/* ---- shared state of the waiters ---- */

#define MAX_CHILDREN 8

struct cshm {
    atomic_int waiting;               /* waiters that entered wait (counted under the lock) */
    atomic_int order[MAX_CHILDREN];   /* order[k]: the index of the k-th waiter */
    atomic_int woken;                 /* waiters that returned from wait */
    atomic_int statuses[MAX_CHILDREN];
    atomic_int flag;                  /* what the predicates look at */
    atomic_int step;
    double returned[MAX_CHILDREN];
};

struct cwait_arg {
    pc_condition *c;
    struct cshm *sh;
    int index;
    double timeout;
};

/* Takes the lock, counts itself, waits; reports the status and that it had the lock back. */
static int target_waiter(void *arg)
{
    const struct cwait_arg *a = arg;
    if (pc_condition_acquire(a->c, 10.0) != PC_OK)
        return 10;
    int pos = atomic_fetch_add(&a->sh->waiting, 1);
    if (pos < MAX_CHILDREN)
        atomic_store(&a->sh->order[pos], a->index);
    int st = pc_condition_wait(a->c, a->timeout);
    a->sh->returned[a->index] = now();
    atomic_store(&a->sh->statuses[a->index], st);
    atomic_fetch_add(&a->sh->woken, 1);
    if (pc_condition_release(a->c) != PC_OK) /* held again, whatever the status */
        return 11;
    return st == PC_OK ? 0 : 1;
}

/* Polls until `n` waiters entered wait, then takes the lock: since each counted itself
 * under the lock before waiting, holding the lock now means all n are inside wait. */
static void acquire_when_waiting(pc_condition *c, struct cshm *sh, int n)
{
    CHECK(wait_flag(&sh->waiting, n, 10.0));
    CHECK_OK(pc_condition_acquire(c, 10.0));
}

/* ---- the lock rule ---- */

static bool pred_true(void *ctx)
{
    (void)ctx;
    return true;
}

static bool pred_flag(void *ctx);

static void test_not_owner(void)
{
    /* A condition on its own RLock. */
    pc_condition *c = NULL;
    CHECK_OK(pc_condition_new(NULL, &c));
    CHECK(c != NULL);
    atomic_int flag = 0;
    CHECK_STATUS(pc_condition_wait(c, 0.1), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_condition_wait");
    CHECK_ERRMSG("lock");
    CHECK_STATUS(pc_condition_wait(c, PC_FOREVER), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_wait_for(c, pred_flag, &flag, 0.1), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_condition_wait_for");
    CHECK_STATUS(pc_condition_notify(c, 1), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_condition_notify");
    CHECK_STATUS(pc_condition_notify(c, 0), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_notify_all(c), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_condition_notify_all");
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_condition_release");
    /* Held: all allowed. */
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_notify(c, 0));
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_STATUS(pc_condition_wait(c, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_condition_release(c));
    pc_condition_free(c);

    /* On a Lock and on an RLock of the caller's: holding the pc_lock itself counts. */
    pc_lock *locks[2];
    CHECK_OK(pc_lock_new(&locks[0]));
    CHECK_OK(pc_rlock_new(&locks[1]));
    for (int i = 0; i < 2; i++) {
        pc_lock *l = locks[i];
        CHECK_OK(pc_condition_new(l, &c));
        CHECK_STATUS(pc_condition_notify(c, 1), PC_ERR_NOT_OWNER);
        CHECK_STATUS(pc_condition_wait(c, 0.05), PC_ERR_NOT_OWNER);
        CHECK_OK(pc_lock_acquire(l, 0));
        CHECK_OK(pc_condition_notify(c, 1));
        CHECK_OK(pc_condition_notify_all(c));
        CHECK_STATUS(pc_condition_wait(c, 0.05), PC_ERR_TIMEOUT);
        CHECK_OK(pc_condition_wait_for(c, pred_true, NULL, 0));
        CHECK_OK(pc_lock_release(l)); /* held again after the wait */
        CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
        /* And the other way round: taken through the condition, released as the lock. */
        CHECK_OK(pc_condition_acquire(c, 0));
        CHECK(!free_for_another_thread(l));
        CHECK_OK(pc_lock_release(l));
        CHECK(free_for_another_thread(l));
        CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
        pc_condition_free(c);
    }
    pc_lock_free(locks[0]);
    pc_lock_free(locks[1]);
}

/* An RLock held by another thread is not held by this one: wait and notify refuse. */
struct rlock_holder {
    pc_condition *c;
    atomic_int held;
    atomic_int release;
};

static void *rlock_holder_main(void *arg)
{
    struct rlock_holder *h = arg;
    if (pc_condition_acquire(h->c, 5.0) != PC_OK)
        return (void *)1;
    atomic_store(&h->held, 1);
    wait_flag(&h->release, 1, 20.0);
    return pc_condition_release(h->c) == PC_OK ? NULL : (void *)2;
}

static void test_not_owner_other_thread(void)
{
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));
    struct rlock_holder h = {.c = c};
    atomic_init(&h.held, 0);
    atomic_init(&h.release, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, rlock_holder_main, &h) == 0);
    CHECK(wait_flag(&h.held, 1, 5.0));
    CHECK_STATUS(pc_condition_notify(c, 1), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_notify_all(c), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_wait(c, 0.05), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    CHECK_STATUS(pc_condition_acquire(c, 0), PC_ERR_TIMEOUT);
    atomic_store(&h.release, 1);
    void *ret;
    CHECK(pthread_join(th, &ret) == 0);
    CHECK(ret == NULL);
    pc_condition_free(c);
}

/* Runs body(c, ctx) on a condition on its own RLock, then on one on a Lock, each acquired
 * once by this thread; body leaves it released, and it is freed afterwards. */
static void on_both_kinds(void (*body)(pc_condition *c, void *ctx), void *ctx)
{
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    pc_condition *conds[2];
    CHECK_OK(pc_condition_new(NULL, &conds[0]));
    CHECK_OK(pc_condition_new(l, &conds[1]));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(pc_condition_acquire(conds[i], 0));
        body(conds[i], ctx);
        pc_condition_free(conds[i]);
    }
    pc_lock_free(l);
}

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

/* ---- wait_for ---- */

struct pred_ctx {
    pc_condition *c;
    atomic_int *flag;
    int calls;
    int not_held; /* calls made without this thread holding the (recursive) lock */
};

static bool pred_flag(void *ctx)
{
    struct pred_ctx *p = ctx;
    p->calls++;
    /* Under the lock: an RLock held by this thread is taken again at once. */
    if (p->c) {
        if (pc_condition_acquire(p->c, 0) != PC_OK)
            p->not_held++;
        else
            pc_condition_release(p->c);
    }
    return atomic_load(p->flag) != 0;
}

struct notifier_arg {
    pc_condition *c;
    struct cshm *sh;
};

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

/* ---- killed waiters ---- */

/* A killed waiter (the older one) does not absorb a notify meant for a live one. */
static void test_killed_waiter(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));

    struct cwait_arg ka = {c, sh, 0, 20.0};
    pc_process *killed = start(target_waiter, &ka);
    acquire_when_waiting(c, sh, 1);
    CHECK_OK(pc_condition_release(c));
    CHECK_OK(pc_process_kill(killed));
    CHECK(finish(killed, 10.0) == -SIGKILL);

    /* A notify with only the dead waiter there wakes nobody, and is not kept for later. */
    CHECK_OK(pc_condition_acquire(c, 5.0));
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    struct cwait_arg late = {c, sh, 2, 0.3};
    pc_process *later = start(target_waiter, &late);
    CHECK(finish(later, 10.0) == 1);
    CHECK_STATUS(atomic_load(&sh->statuses[2]), PC_ERR_TIMEOUT);

    struct cwait_arg la = {c, sh, 1, 20.0};
    pc_process *live = start(target_waiter, &la);
    acquire_when_waiting(c, sh, 3);
    double t0 = now();
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK(now() - t0 < 0.1);
    CHECK_OK(pc_condition_release(c));
    CHECK(finish(live, 10.0) == 0);
    CHECK(sh->returned[1] - t0 < 1.0);

    /* Several killed (not even joined yet): notify and notify_all never block. */
    memset(sh, 0, sizeof *sh);
    struct cwait_arg args[4];
    pc_process *ps[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct cwait_arg){c, sh, i, 20.0};
        ps[i] = start(target_waiter, &args[i]);
    }
    acquire_when_waiting(c, sh, 4);
    CHECK_OK(pc_condition_release(c));
    for (int i = 0; i < 3; i++)
        CHECK_OK(pc_process_kill(ps[i]));
    sleep_s(0.1);
    CHECK_OK(pc_condition_acquire(c, 5.0));
    t0 = now();
    CHECK_OK(pc_condition_notify(c, 2));
    CHECK_OK(pc_condition_notify_all(c));
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK(now() - t0 < 0.1);
    CHECK_OK(pc_condition_release(c));
    CHECK(finish(ps[3], 10.0) == 0); /* the live one woke */
    for (int i = 0; i < 3; i++)
        CHECK(finish(ps[i], 10.0) == -SIGKILL);
    /* The condition works normally afterwards. */
    memset(sh, 0, sizeof *sh);
    pc_process *again = start(target_waiter, &la);
    acquire_when_waiting(c, sh, 1);
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    CHECK(finish(again, 10.0) == 0);

    pc_condition_free(c);
    shared_free(sh, sizeof *sh);
}

/* The same when the killed waiter is still a zombie: its parent (here a plain fork()ed
 * sub-process of the test, which the library never reaps) has not waited for it yet. It
 * is dead all the same: its wake-up must not be lost. */
static int sub_waiter(void *arg)
{
    return target_waiter(arg);
}

static void test_killed_waiter_zombie(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    pc_condition *c;
    CHECK_OK(pc_condition_new(NULL, &c));
    struct cwait_arg ka = {c, sh, 0, 20.0};
    pid_t zombie = fork_sub(sub_waiter, &ka);
    acquire_when_waiting(c, sh, 1);
    CHECK_OK(pc_condition_release(c));
    CHECK(kill(zombie, SIGKILL) == 0);
    double deadline = now() + 5.0;
    while (pid_state(zombie, NULL) != 'Z' && now() < deadline)
        sleep_s(0.005);
    CHECK(pid_state(zombie, NULL) == 'Z');

    struct cwait_arg la = {c, sh, 1, 5.0};
    pc_process *live = start(target_waiter, &la);
    acquire_when_waiting(c, sh, 2);
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    int woke = wait_flag(&sh->woken, 1, 2.0);
    int st = wait_sub(zombie, 5.0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int code = finish(live, 10.0);
    if (!woke || code != 0)
        FAIL("notify(1) went to a killed (zombie) waiter: the live waiter got %s",
             pc_status_str(atomic_load(&sh->statuses[1])));
    pc_condition_free(c);
    shared_free(sh, sizeof *sh);
}

/* ---- a notifier that dies holding the lock ---- */

static int target_notify_and_exit_holding(void *arg)
{
    const struct notifier_arg *a = arg;
    if (pc_condition_acquire(a->c, 10.0) != PC_OK)
        return 1;
    if (pc_condition_notify(a->c, 1) != PC_OK)
        return 2;
    return 0; /* exits holding the lock */
}

static void owner_dead_in_wait(pc_condition *c, void *sh)
{
    struct notifier_arg na = {c, sh};
    pc_process *p = start(target_notify_and_exit_holding, &na);
    pid_t pid = pc_process_pid(p);
    CHECK_STATUS(pc_condition_wait(c, 10.0), PC_ERR_OWNER_DEAD);
    CHECK_ERRMSG("pc_condition_wait");
    char dead[32];
    snprintf(dead, sizeof dead, "pid %d", (int)pid);
    CHECK_ERRMSG(dead);
    CHECK(finish(p, 10.0) == 0);
    /* Held (once) by us now. */
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_OK(pc_condition_release(c));
}

static void test_owner_dead_in_wait(void)
{
    struct cshm *sh = shared_new(sizeof *sh);
    on_both_kinds(owner_dead_in_wait, sh);
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

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    atomic_int flag = 0;
    struct pred_ctx ctx = {NULL, &flag, 0, 0};
    CHECK_STATUS(pc_condition_new(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_new");
    CHECK_ERRMSG("out is NULL");
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    CHECK_STATUS(pc_condition_new(l, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");

    CHECK_STATUS(pc_condition_acquire(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_acquire");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_condition_acquire(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_condition_release(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_release");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_condition_wait(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_wait");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_condition_wait(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_condition_wait_for(NULL, pred_flag, &ctx, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_wait_for");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_condition_wait_for(NULL, NULL, NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_condition_notify(NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_notify");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_condition_notify_all(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_notify_all");
    CHECK_ERRMSG("c is NULL");
    pc_condition_free(NULL); /* a no-op */
    CHECK(ctx.calls == 0);

    pc_condition *c;
    CHECK_OK(pc_condition_new(l, &c));
    /* NULL predicate, held or not. */
    CHECK_STATUS(pc_condition_wait_for(c, NULL, &ctx, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_wait_for");
    CHECK_ERRMSG("pred is NULL");
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_STATUS(pc_condition_wait_for(c, NULL, &ctx, 1.0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pred is NULL");

    /* NaN timeouts: refused; the lock stays held, nothing else happens. */
    CHECK_STATUS(pc_condition_wait(c, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_wait");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK(!free_for_another_thread(l));
    CHECK_STATUS(pc_condition_wait_for(c, pred_flag, &ctx, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_wait_for");
    CHECK_ERRMSG("NaN");
    CHECK(ctx.calls == 0);
    CHECK_STATUS(pc_condition_acquire(c, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_acquire");
    CHECK_ERRMSG("NaN");
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_acquire(c, -NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK(free_for_another_thread(l)); /* not acquired */

    /* Wrong-typed handles. */
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    pc_condition *bad = (pc_condition *)l;
    CHECK_STATUS(pc_condition_acquire(bad, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_release(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_wait((pc_condition *)e, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_wait_for((pc_condition *)e, pred_flag, &ctx, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_notify(bad, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_notify_all(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_condition");
    pc_condition_free(bad); /* refused, reported */
    CHECK_ERRMSG("pc_condition_free");
    CHECK_ERRMSG("is not a pc_condition");
    CHECK_STATUS(pc_condition_new((pc_lock *)e, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_condition_new");
    CHECK_ERRMSG("is not a pc_lock");
    CHECK_STATUS(pc_lock_acquire((pc_lock *)c, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK(ctx.calls == 0);
    CHECK(free_for_another_thread(l)); /* intact */
    pc_event_free(e);

    /* Freeing the condition leaves the caller's lock usable. */
    pc_condition_free(c);
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    pc_lock_free(l);
}

/* ---- nothing left behind ---- */

#define MANY 10000

static void test_nothing_left(void)
{
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    pc_condition *w;
    CHECK_OK(pc_condition_new(NULL, &w));
    pc_condition_free(w);

    struct tu_resources before;
    resources_before(&before);
    for (int i = 0; i < MANY; i++) {
        pc_condition *c;
        int st = pc_condition_new((i & 1) ? l : NULL, &c);
        if (st == PC_OK && (st = pc_condition_acquire(c, 0)) == PC_OK) {
            st = pc_condition_notify_all(c);
            int st2 = pc_condition_release(c);
            if (st == PC_OK)
                st = st2;
        }
        if (st != PC_OK)
            FAIL("condition %d: %s", i, pc_status_str(st));
        if (i % 1000 == 0 && count_open_fds() != before.fds)
            FAIL("%d fds after making %d conditions, %d before", count_open_fds(),
                 i + 1, before.fds);
        pc_condition_free(c);
    }
    tu_checks++;
    check_resources_after(&before, MANY, "conditions");
    /* The lock shared by 5000 freed conditions still works. */
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    pc_lock_free(l);
    CHECK(wait_no_children(2.0));
}

int main(void)
{
    tu_init("test_condition", 100);
    RUN(test_not_owner);
    RUN(test_not_owner_other_thread);
    RUN(test_timed_wait);
    RUN(test_wake_counts);
    RUN(test_wake_counts_threads);
    RUN(test_wait_for);
    RUN(test_rlock_depth);
    RUN(test_killed_waiter);
    RUN(test_owner_dead_in_wait);
    RUN(test_waiter_limit);
    RUN(test_interrupt_condition);
    RUN(test_bad_arguments);
    RUN(test_nothing_left);
    /* Last: it fails today (see the test), and a failure ends the program. */
    RUN(test_killed_waiter_zombie);
    return tu_done();
}
