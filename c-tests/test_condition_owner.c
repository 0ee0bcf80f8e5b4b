/*
 * test_condition_owner.c: who may use a condition (include/processing.h:
 * pc_condition_*): the lock rule (wait and notify without the lock are
 * PC_ERR_NOT_OWNER; holding the underlying pc_lock counts), waiters killed while waiting
 * (they neither block notify nor absorb its wake-ups), a notifier that dies holding the
 * lock (PC_ERR_OWNER_DEAD), NaN timeouts, NULL and wrong-typed handles, and nothing left
 * behind.
 *
 * Waits, wake counts and wait_for are in test_condition_wait.c.
 *
 * `test_condition_owner NAME…` runs only the named subtests.
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

/* ---- the lock rule ---- */
static bool pred_true(void *ctx)
{
    (void)ctx;
    return true;
}

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

int main(int argc, char **argv)
{
    tu_init("test_condition_owner", 50);
    tu_select(argc, argv);
    RUN(test_not_owner);
    RUN(test_not_owner_other_thread);
    RUN(test_killed_waiter);
    RUN(test_owner_dead_in_wait);
    RUN(test_bad_arguments);
    RUN(test_nothing_left);
    /* Last: it fails today (see the test), and a failure ends the program. */
    RUN(test_killed_waiter_zombie);
    return tu_done();
}
