/* condition_common.c: the helpers declared in condition_common.h. */
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

void *try_acquire_main(void *arg)
{
    struct try_acquire *t = arg;
    t->status = pc_lock_acquire(t->l, 0);
    if (t->status == PC_OK || t->status == PC_ERR_OWNER_DEAD)
        pc_lock_release(t->l);
    return NULL;
}

bool free_for_another_thread(pc_lock *l)
{
    struct try_acquire t = {l, 12345};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, try_acquire_main, &t) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    return t.status == PC_OK;
}

int target_waiter(void *arg)
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

void acquire_when_waiting(pc_condition *c, struct cshm *sh, int n)
{
    CHECK(wait_flag(&sh->waiting, n, 10.0));
    CHECK_OK(pc_condition_acquire(c, 10.0));
}

void *rlock_holder_main(void *arg)
{
    struct rlock_holder *h = arg;
    if (pc_condition_acquire(h->c, 5.0) != PC_OK)
        return (void *)1;
    atomic_store(&h->held, 1);
    wait_flag(&h->release, 1, 20.0);
    return pc_condition_release(h->c) == PC_OK ? NULL : (void *)2;
}

void on_both_kinds(void (*body)(pc_condition *c, void *ctx), void *ctx)
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

bool pred_flag(void *ctx)
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
