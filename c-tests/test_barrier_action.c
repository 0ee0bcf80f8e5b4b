/*
 * test_barrier_action.c: pc_barrier_new_with and pc_barrier_wait_default
 * (include/processing.h), Python 3's Barrier(parties, action, timeout): the action runs
 * once per round, in one of the waiting processes, before any waiter is released; a
 * failing action breaks the barrier (PC_ERR_TASK_FAILED for its runner, PC_ERR_BROKEN for
 * the others); the default timeout bounds pc_barrier_wait_default only; bad arguments.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define N 4
#define ROUNDS 3

/* What the processes share: the action's count, who ran it in each round, and what it
 * returns. */
struct shared {
    atomic_int runs;
    atomic_int runner[ROUNDS];
    atomic_int fail_with;
};

static struct shared *sh;
static pc_barrier *barrier;

/* The action: counts itself, records its process, returns what the test asks. */
static int action(void *ctx)
{
    struct shared *s = ctx;
    int round = atomic_fetch_add(&s->runs, 1);
    if (round < ROUNDS)
        atomic_store(&s->runner[round], (int)getpid());
    return atomic_load(&s->fail_with);
}

/* A waiter of ROUNDS rounds: once released from round r, the action ran exactly r times
 * (it runs before the release, and round r+1 needs this waiter too). */
static int waiter(void *arg)
{
    (void)arg;
    for (int round = 1; round <= ROUNDS; round++) {
        if (pc_barrier_wait(barrier, 10.0, NULL) != PC_OK)
            return 10 + round;
        if (atomic_load(&sh->runs) != round)
            return 20 + round;
    }
    return 0;
}

/* CPython: test_action */
static void test_action(void)
{
    sh = shared_new(sizeof *sh);
    CHECK_OK(pc_barrier_new_with(N, action, sh, PC_FOREVER, &barrier));
    CHECK(pc_barrier_parties(barrier) == N);
    pid_t pids[N];
    pc_process *ps[N - 1];
    for (int i = 0; i < N - 1; i++) {
        ps[i] = start(waiter, NULL);
        pids[i] = pc_process_pid(ps[i]);
    }
    pids[N - 1] = getpid();
    CHECK(waiter(NULL) == 0);
    for (int i = 0; i < N - 1; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    CHECK(atomic_load(&sh->runs) == ROUNDS);
    for (int round = 0; round < ROUNDS; round++) {
        bool a_waiter = false;
        for (int i = 0; i < N; i++)
            a_waiter |= atomic_load(&sh->runner[round]) == pids[i];
        CHECK(a_waiter);
    }
    CHECK(!pc_barrier_broken(barrier));
    pc_barrier_free(barrier);
    shared_free(sh, sizeof *sh);
}

/* A waiter of one round; its exit code says what the wait returned. */
static int wait_once(void *arg)
{
    (void)arg;
    switch (pc_barrier_wait(barrier, 10.0, NULL)) {
    case PC_OK:
        return 0;
    case PC_ERR_BROKEN:
        return 1;
    case PC_ERR_TASK_FAILED:
        return 2;
    default:
        return 3;
    }
}

/* An action that fails breaks the barrier: its runner gets PC_ERR_TASK_FAILED, the others
 * PC_ERR_BROKEN; after a reset, a good round passes. */
static void test_failing_action(void)
{
    sh = shared_new(sizeof *sh);
    atomic_store(&sh->fail_with, 7);
    CHECK_OK(pc_barrier_new_with(N, action, sh, 5.0, &barrier));
    pc_process *ps[N];
    for (int i = 0; i < N; i++)
        ps[i] = start(wait_once, NULL);
    int codes[4] = {0, 0, 0, 0};
    for (int i = 0; i < N; i++) {
        int code = finish(ps[i], 10.0);
        CHECK(code >= 0 && code <= 3);
        codes[code]++;
    }
    CHECK(codes[2] == 1);     /* one ran the action */
    CHECK(codes[1] == N - 1); /* the others were broken */
    CHECK(atomic_load(&sh->runs) == 1);
    CHECK(pc_barrier_broken(barrier));
    CHECK_STATUS(pc_barrier_wait(barrier, 1.0, NULL), PC_ERR_BROKEN);

    /* In this process: the runner's message names the value. */
    pc_barrier *one;
    CHECK_OK(pc_barrier_new_with(1, action, sh, PC_FOREVER, &one));
    CHECK_STATUS(pc_barrier_wait(one, 1.0, NULL), PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("pc_barrier_wait");
    CHECK_ERRMSG("action returned 7");
    CHECK(pc_barrier_broken(one));
    atomic_store(&sh->fail_with, 0);
    CHECK_OK(pc_barrier_reset(one));
    size_t index = 99;
    CHECK_OK(pc_barrier_wait_default(one, &index));
    CHECK(index == 0);
    CHECK(atomic_load(&sh->runs) == 3);
    pc_barrier_free(one);

    /* Reset, the shared barrier works again. */
    CHECK_OK(pc_barrier_reset(barrier));
    for (int i = 0; i < N; i++)
        ps[i] = start(wait_once, NULL);
    for (int i = 0; i < N; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    CHECK(atomic_load(&sh->runs) == 4);
    pc_barrier_free(barrier);
    shared_free(sh, sizeof *sh);
}

/* CPython's _test_default_timeout_f: a first round (with a timeout of its own), after which
 * waiter 0 sleeps past the default timeout; in the second round the others wait with the
 * default timeout. Exit code: 0 when the second wait timed out, 1 when it was broken, more
 * on other results. */
static int late_waiter(void *arg)
{
    (void)arg;
    size_t index = 99;
    if (pc_barrier_wait(barrier, 10.0, &index) != PC_OK)
        return 10;
    if (index == 0)
        sleep_s(1.0);
    switch (pc_barrier_wait_default(barrier, NULL)) {
    case PC_ERR_TIMEOUT:
        return 0;
    case PC_ERR_BROKEN:
        return 1;
    default:
        return 11;
    }
}

/* CPython: test_default_timeout */
static void test_default_timeout(void)
{
    CHECK_OK(pc_barrier_new_with(3, NULL, NULL, 0.2, &barrier));
    pc_process *ps[3];
    for (int i = 0; i < 3; i++)
        ps[i] = start(late_waiter, NULL);
    int timed_out = 0, broken = 0;
    for (int i = 0; i < 3; i++) {
        int code = finish(ps[i], 10.0);
        CHECK(code == 0 || code == 1);
        timed_out += code == 0;
        broken += code == 1;
    }
    /* Every second wait failed: at least one by the default timeout, and the late one
     * (it came after the barrier broke) broken. */
    CHECK(timed_out >= 1 && broken >= 1 && timed_out + broken == 3);
    CHECK(pc_barrier_broken(barrier));
    CHECK_OK(pc_barrier_reset(barrier));
    /* The default bounds pc_barrier_wait_default; pc_barrier_wait keeps its own. */
    double t0 = now();
    CHECK_STATUS(pc_barrier_wait_default(barrier, NULL), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 2.0 * TU_SLOWDOWN)
        FAIL("a default timeout of 0.2 s returned after %.3f s", took);
    CHECK_OK(pc_barrier_reset(barrier));
    t0 = now();
    CHECK_STATUS(pc_barrier_wait(barrier, 0.05, NULL), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.19);
    pc_barrier_free(barrier);

    /* No default: pc_barrier_wait_default waits without limit (here: released). */
    pc_barrier *lone;
    CHECK_OK(pc_barrier_new_with(1, NULL, NULL, PC_FOREVER, &lone));
    CHECK_OK(pc_barrier_wait_default(lone, NULL));
    pc_barrier_free(lone);
    CHECK_OK(pc_barrier_new(1, &lone));
    CHECK_OK(pc_barrier_wait_default(lone, NULL));
    pc_barrier_free(lone);
}

static void test_bad_arguments(void)
{
    int fds = count_open_fds();
    pc_barrier *b = NULL;
    CHECK_STATUS(pc_barrier_new_with(2, NULL, NULL, 1.0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_new_with");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_barrier_new_with(0, NULL, NULL, 1.0, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("parties");
    CHECK_STATUS(pc_barrier_new_with(PC_BARRIER_MAX_PARTIES + 1, NULL, NULL, 1.0, &b),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("parties");
    CHECK_STATUS(pc_barrier_new_with(2, NULL, NULL, NAN, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout is NaN");
    CHECK(b == NULL);
    CHECK_STATUS(pc_barrier_wait_default(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_barrier_wait_default: b is NULL");
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_STATUS(pc_barrier_wait_default((pc_barrier *)lock, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_barrier");
    pc_lock_free(lock);
    CHECK_OK(pc_barrier_new_with(2, NULL, NULL, 1.0, &b));
    pc_barrier_free(b);
    CHECK_STATUS(pc_barrier_wait_default(b, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK(count_open_fds() == fds);
}

int main(int argc, char **argv)
{
    tu_init("test_barrier_action", 60);
    tu_select(argc, argv);
    RUN(test_action);
    RUN(test_failing_action);
    RUN(test_default_timeout);
    RUN(test_bad_arguments);
    return tu_done();
}
