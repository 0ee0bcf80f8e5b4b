/* condition_common.h: waiters, predicates and lock helpers of the test_condition_*.c tests. */
#ifndef CONDITION_COMMON_H
#define CONDITION_COMMON_H

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

void *try_acquire_main(void *arg);

/* Whether another thread of this process could take `l` now (it releases it at once). */
bool free_for_another_thread(pc_lock *l);

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
int target_waiter(void *arg);

/* Polls until `n` waiters entered wait, then takes the lock: since each counted itself
 * under the lock before waiting, holding the lock now means all n are inside wait. */
void acquire_when_waiting(pc_condition *c, struct cshm *sh, int n);

/* An RLock held by another thread is not held by this one: wait and notify refuse. */
struct rlock_holder {
    pc_condition *c;
    atomic_int held;
    atomic_int release;
};

void *rlock_holder_main(void *arg);

/* Runs body(c, ctx) on a condition on its own RLock, then on one on a Lock, each acquired
 * once by this thread; body leaves it released, and it is freed afterwards. */
void on_both_kinds(void (*body)(pc_condition *c, void *ctx), void *ctx);

/* ---- wait_for ---- */
struct pred_ctx {
    pc_condition *c;
    atomic_int *flag;
    int calls;
    int not_held; /* calls made without this thread holding the (recursive) lock */
};

bool pred_flag(void *ctx);

struct notifier_arg {
    pc_condition *c;
    struct cshm *sh;
};

#endif
