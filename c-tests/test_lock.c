/*
 * test_lock.c: pc_lock_* and pc_rlock_new (include/processing.h): Lock and RLock in one
 * process, in several threads and across processes; timeouts; any process may release a
 * Lock, only the holding thread an RLock; a holder that dies (killed, crashed or exited)
 * hands the lock over with PC_ERR_OWNER_DEAD, also to a waiter blocked before it died;
 * exact counts under contention; pc_interrupt(); NaN timeouts, NULL, wrong-typed and freed
 * handles; nothing left behind (fd, /dev/shm, mapping, child).
 *
 * Semaphores are in test_semaphore.c, conditions in test_condition_*.c, events and
 * barriers in test_event_barrier.c.
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
#include <sys/resource.h>
#include <unistd.h>

/* ---- helpers ---- */

static void no_core_files(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
}

/* ---- child targets (no CHECK in them: they report through exit codes) ---- */

enum holder_end { END_KILLED, END_EXIT, END_CRASH };

struct holder {
    pc_lock *l;
    int depth;            /* acquires (an RLock may take several) */
    enum holder_end end;  /* how the holder ends while holding the lock */
    atomic_int *held;     /* set once it holds the lock */
};

/* Takes the lock `depth` times, says so, then dies holding it. */
static int target_hold(void *arg)
{
    const struct holder *h = arg;
    for (int i = 0; i < h->depth; i++) {
        if (pc_lock_acquire(h->l, 10.0) != PC_OK)
            return 10 + i;
    }
    atomic_store(h->held, 1);
    switch (h->end) {
    case END_EXIT:
        return 0;
    case END_CRASH:
        no_core_files();
        raise(SIGSEGV);
        return 1;
    case END_KILLED:
        break;
    }
    sleep_s(20.0); /* until killed */
    return 2;
}

/* ---- Lock in one process ---- */

static pc_status lock_acquire(void *l, double timeout)
{
    return pc_lock_acquire(l, timeout);
}

static void test_lock_basics(void)
{
    pc_lock *l = NULL;
    CHECK_OK(pc_lock_new(&l));
    CHECK(l != NULL);

    CHECK_OK(pc_lock_acquire(l, PC_FOREVER));
    /* Not recursive: acquire(0) on a held lock fails at once, even by its holder; a tiny
     * positive timeout still waits that long. */
    check_timeouts(lock_acquire, l, "pc_lock_acquire");

    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_lock_release");
    CHECK_ERRMSG("unlocked");

    /* Every kind of timeout acquires a free lock. */
    const double timeouts[] = {0, 0.5, -1.0, -7.5, PC_FOREVER, INFINITY, -INFINITY, 1e300};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        CHECK_OK(pc_lock_acquire(l, timeouts[i]));
        CHECK_OK(pc_lock_release(l));
    }
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    pc_lock_free(l);
}

struct thread_lock_op {
    pc_lock *l;
    int op; /* 0: release, 1: acquire(timeout) */
    double timeout;
    int status;
};

static void *thread_lock_op_main(void *arg)
{
    struct thread_lock_op *op = arg;
    op->status = op->op == 0 ? pc_lock_release(op->l) : pc_lock_acquire(op->l, op->timeout);
    return NULL;
}

/* Runs one lock operation in a new thread and returns its status. */
static int in_thread(pc_lock *l, int op, double timeout)
{
    struct thread_lock_op t = {.l = l, .op = op, .timeout = timeout, .status = 12345};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_lock_op_main, &t) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    return t.status;
}

static void test_lock_threads(void)
{
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    /* Any thread may release a Lock. */
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_STATUS(in_thread(l, 1, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(in_thread(l, 1, 0.05), PC_ERR_TIMEOUT);
    CHECK_OK(in_thread(l, 0, 0));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    /* Acquired in a thread (which then ends), released here. */
    CHECK_OK(in_thread(l, 1, 0));
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(in_thread(l, 0, 0), PC_ERR_NOT_OWNER);
    pc_lock_free(l);
}

/* ---- RLock ---- */

static void test_rlock(void)
{
    pc_lock *r;
    CHECK_OK(pc_rlock_new(&r));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);
    CHECK_ERRMSG("pc_lock_release");

    /* Recursive in its thread: 4 levels, with every kind of timeout. */
    CHECK_OK(pc_lock_acquire(r, PC_FOREVER));
    CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_OK(pc_lock_acquire(r, 0.5));
    double t0 = now();
    CHECK_OK(pc_lock_acquire(r, 0.2)); /* at once: it is ours */
    CHECK(now() - t0 < 0.1);

    /* Another thread can neither take nor release it. */
    t0 = now();
    CHECK_STATUS(in_thread(r, 1, 0), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.5);
    t0 = now();
    CHECK_STATUS(in_thread(r, 1, 0.2), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.19);
    CHECK_STATUS(in_thread(r, 0, 0), PC_ERR_NOT_OWNER);

    /* Released as many times as acquired; held until the last one. */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_lock_release(r));
        CHECK_STATUS(in_thread(r, 1, 0), PC_ERR_TIMEOUT);
    }
    CHECK_OK(pc_lock_release(r));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);

    /* Free now: another thread takes it (and leaves it held as it ends), so this thread
     * does not hold it and may not release it. */
    CHECK_OK(in_thread(r, 1, 0));
    CHECK_STATUS(pc_lock_acquire(r, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);
    pc_lock_free(r);
}

/* ---- across processes ---- */

struct xproc {
    atomic_int held;     /* child: holds the lock */
    atomic_int go;       /* parent: child may go on */
    atomic_int step;     /* child: progress */
    atomic_int results[8];
    double t_acquired;   /* child: when its blocked acquire returned */
};

struct xproc_arg {
    pc_lock *l;
    struct xproc *sh;
};

/* Acquires, holds until the parent released it for us, then checks it is free. */
static int target_acquire_parent_releases(void *arg)
{
    const struct xproc_arg *a = arg;
    if (pc_lock_acquire(a->l, 10.0) != PC_OK)
        return 1;
    atomic_store(&a->sh->held, 1);
    if (!wait_flag(&a->sh->go, 1, 10.0))
        return 2;
    /* The parent released it: free now, and ours to take again. */
    if (pc_lock_acquire(a->l, 0) != PC_OK)
        return 3;
    if (pc_lock_release(a->l) != PC_OK)
        return 4;
    if (pc_lock_release(a->l) != PC_ERR_NOT_OWNER)
        return 5;
    return 0;
}

/* Blocks in acquire until the parent releases; records when it got it. */
static int target_blocked_acquire(void *arg)
{
    const struct xproc_arg *a = arg;
    atomic_store(&a->sh->step, 1);
    int st = pc_lock_acquire(a->l, 10.0);
    a->sh->t_acquired = now();
    atomic_store(&a->sh->results[0], st);
    if (st != PC_OK)
        return 1;
    return pc_lock_release(a->l) == PC_OK ? 0 : 2;
}

/* The parent holds the lock: releasing it from here is allowed (a Lock) or refused (an
 * RLock); either way acquire(0) fails here. */
static int target_release_parents(void *arg)
{
    const struct xproc_arg *a = arg;
    atomic_store(&a->sh->results[0], pc_lock_acquire(a->l, 0));
    atomic_store(&a->sh->results[1], pc_lock_acquire(a->l, 0.05));
    atomic_store(&a->sh->results[2], pc_lock_release(a->l));
    return 0;
}

/* Starts target_blocked_acquire (with a->sh cleared) and returns once it sleeps in
 * acquire. */
static pc_process *start_blocked_acquire(struct xproc_arg *a)
{
    memset(a->sh, 0, sizeof *a->sh);
    pc_process *p = start(target_blocked_acquire, a);
    CHECK(wait_flag(&a->sh->step, 1, 5.0));
    sleep_s(0.2);
    return p;
}

/* Runs target_release_parents (with a->sh cleared) while this process holds a->l: the
 * child's acquires time out, its release returns `release`. */
static void check_child_release_parents(struct xproc_arg *a, pc_status release)
{
    memset(a->sh, 0, sizeof *a->sh);
    CHECK(finish(start(target_release_parents, a), 10.0) == 0);
    CHECK_STATUS(atomic_load(&a->sh->results[0]), PC_ERR_TIMEOUT);
    CHECK_STATUS(atomic_load(&a->sh->results[1]), PC_ERR_TIMEOUT);
    CHECK_STATUS(atomic_load(&a->sh->results[2]), release);
}

static void test_lock_across_processes(void)
{
    struct xproc *sh = shared_new(sizeof *sh);
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    struct xproc_arg a = {l, sh};

    /* A Lock acquired by a child is released by the parent. */
    pc_process *p = start(target_acquire_parent_releases, &a);
    CHECK(wait_flag(&sh->held, 1, 5.0));
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT);
    double t0 = now();
    CHECK_STATUS(pc_lock_acquire(l, 0.2), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0)
        FAIL("acquire(0.2) of a child's Lock returned after %.3f s", took);
    CHECK_OK(pc_lock_release(l));
    atomic_store(&sh->go, 1);
    CHECK(finish(p, 10.0) == 0);
    /* The child's last acquire was released: free and clean (no OWNER_DEAD). */
    CHECK_OK(pc_lock_acquire(l, 0));

    /* A child blocked in acquire gets the lock when the parent releases it. */
    p = start_blocked_acquire(&a);
    CHECK(pc_process_is_alive(p));
    double released = now();
    CHECK_OK(pc_lock_release(l));
    CHECK(finish(p, 10.0) == 0);
    CHECK_STATUS(atomic_load(&sh->results[0]), PC_OK);
    if (sh->t_acquired - released > 1.0)
        FAIL("the blocked child got the lock %.3f s after the release", sh->t_acquired - released);
    CHECK_OK(pc_lock_acquire(l, 0));

    /* The parent holds it: a child cannot take it, but may release it (any process). */
    check_child_release_parents(&a, PC_OK);
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER); /* the child released it */
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));

    /* A child that acquired and released cleanly, then exited: no OWNER_DEAD. A Lock
     * released by someone else after its last acquirer died is no OWNER_DEAD either. */
    memset(sh, 0, sizeof *sh);
    struct holder h = {l, 1, END_EXIT, &sh->held};
    p = start(target_hold, &h);
    CHECK(finish(p, 10.0) == 0);
    CHECK_OK(pc_lock_release(l)); /* released by the parent after the holder exited */
    CHECK_OK(pc_lock_acquire(l, 1.0));
    CHECK_OK(pc_lock_release(l));

    pc_lock_free(l);

    /* An RLock the parent holds: the child (forked from this very thread) neither holds it
     * nor may release it. */
    pc_lock *r;
    CHECK_OK(pc_rlock_new(&r));
    CHECK_OK(pc_lock_acquire(r, 0));
    struct xproc_arg ra = {r, sh};
    check_child_release_parents(&ra, PC_ERR_NOT_OWNER);
    /* Still ours, once. */
    CHECK_OK(pc_lock_release(r));
    CHECK_STATUS(pc_lock_release(r), PC_ERR_NOT_OWNER);

    /* A child blocked on the RLock gets it when the parent releases its last level. */
    CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_OK(pc_lock_acquire(r, 0));
    p = start_blocked_acquire(&ra);
    CHECK_OK(pc_lock_release(r));
    sleep_s(0.2);
    CHECK(pc_process_is_alive(p)); /* one level left */
    CHECK_OK(pc_lock_release(r));
    CHECK(finish(p, 10.0) == 0);
    CHECK_STATUS(atomic_load(&sh->results[0]), PC_OK);
    pc_lock_free(r);
    shared_free(sh, sizeof *sh);
}

/* ---- owner death ---- */

static const char *end_name(enum holder_end end)
{
    return end == END_KILLED ? "killed" : end == END_EXIT ? "exited" : "crashed";
}

/* A child takes the lock (`depth` times) and ends while holding it; the parent then gets
 * it with PC_ERR_OWNER_DEAD within 1 s, holds it once, and the lock works normally. */
static void owner_death(bool recursive, enum holder_end end, int depth)
{
    fprintf(stderr, "   %s, holder %s at depth %d\n", recursive ? "RLock" : "Lock", end_name(end),
            depth);
    atomic_int *held = shared_new(sizeof *held);
    pc_lock *l;
    CHECK_OK(recursive ? pc_rlock_new(&l) : pc_lock_new(&l));
    struct holder h = {l, depth, end, held};
    pc_process *p = start(target_hold, &h);
    CHECK(wait_flag(held, 1, 5.0));
    pid_t pid = pc_process_pid(p);

    if (end == END_KILLED)
        CHECK_OK(pc_process_kill(p));
    else
        CHECK_OK(pc_process_join(p, 10.0)); /* it ended by itself, holding the lock */
    double t0 = now();
    CHECK_STATUS(pc_lock_acquire(l, 5.0), PC_ERR_OWNER_DEAD);
    double took = now() - t0;
    if (took > 1.0)
        FAIL("OWNER_DEAD after %.3f s, expected within 1 s", took);
    char dead_pid[32];
    snprintf(dead_pid, sizeof dead_pid, "pid %d", (int)pid);
    CHECK_ERRMSG(dead_pid);
    CHECK_ERRMSG("pc_lock_acquire");
    CHECK_ERRMSG("died");

    /* Held by us now: another thread cannot take it. */
    CHECK_STATUS(in_thread(l, 1, 0), PC_ERR_TIMEOUT);
    /* Held once (an RLock's count restarts at 1): one release frees it. */
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    /* And it works normally again. */
    CHECK_OK(pc_lock_acquire(l, 0));
    if (recursive) {
        CHECK_OK(pc_lock_acquire(l, 0));
        CHECK_OK(pc_lock_release(l));
    } else {
        CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT);
    }
    CHECK_OK(pc_lock_release(l));
    CHECK_OK(pc_lock_acquire(l, 1.0));
    CHECK_OK(pc_lock_release(l));
    CHECK_OK(in_thread(l, 1, 0)); /* clean: no second OWNER_DEAD */
    if (!recursive)
        CHECK_OK(pc_lock_release(l));

    int code = finish(p, 10.0);
    int want = end == END_KILLED ? -SIGKILL : end == END_CRASH ? -SIGSEGV : 0;
    if (code != want)
        FAIL("the holder's exit code is %d, expected %d", code, want);
    pc_lock_free(l);
    shared_free(held, sizeof *held);
}

static void test_owner_death(void)
{
    owner_death(false, END_KILLED, 1);
    owner_death(false, END_EXIT, 1);
    owner_death(false, END_CRASH, 1);
    owner_death(true, END_KILLED, 1);
    owner_death(true, END_KILLED, 3);
    owner_death(true, END_EXIT, 2);
    owner_death(true, END_CRASH, 2);
}

/* Also through pc_condition_acquire: the same lock, the same rule. */
static void test_owner_death_through_condition(void)
{
    atomic_int *held = shared_new(sizeof *held);
    pc_lock *l;
    CHECK_OK(pc_rlock_new(&l));
    pc_condition *c;
    CHECK_OK(pc_condition_new(l, &c));
    struct holder h = {l, 2, END_KILLED, held};
    pc_process *p = start(target_hold, &h);
    CHECK(wait_flag(held, 1, 5.0));
    CHECK_OK(pc_process_kill(p));
    double t0 = now();
    CHECK_STATUS(pc_condition_acquire(c, 5.0), PC_ERR_OWNER_DEAD);
    CHECK(now() - t0 < 1.0);
    CHECK_ERRMSG("pc_condition_acquire");
    CHECK_OK(pc_condition_notify_all(c)); /* held: notify is allowed */
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    CHECK(finish(p, 10.0) == -SIGKILL);
    pc_condition_free(c);
    pc_lock_free(l);
    shared_free(held, sizeof *held);
}

/* An acquirer that polls (acquire(0), or timeouts shorter than the library's check period)
 * is an acquirer too: the lock is taken over within about 100 ms and PC_ERR_OWNER_DEAD
 * says so (include/processing.h: pc_lock_acquire), as pthread_mutex_trylock on a robust
 * mutex returns EOWNERDEAD. */
static void owner_death_polling(double timeout)
{
    fprintf(stderr, "   polling with acquire(%g)\n", timeout);
    atomic_int *held = shared_new(sizeof *held);
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    struct holder h = {l, 1, END_EXIT, held};
    pc_process *p = start(target_hold, &h);
    CHECK(finish(p, 10.0) == 0); /* ended holding the lock */
    double t0 = now();
    int st;
    while ((st = pc_lock_acquire(l, timeout)) == PC_ERR_TIMEOUT && now() - t0 < 3.0)
        sleep_s(0.01);
    if (st != PC_ERR_OWNER_DEAD || now() - t0 > 1.0)
        FAIL("polling acquire(%g) on a dead holder's lock: %s after %.2f s, expected "
             "PC_ERR_OWNER_DEAD within 1 s", timeout, pc_status_str(st), now() - t0);
    CHECK_OK(pc_lock_release(l));
    pc_lock_free(l);
    shared_free(held, sizeof *held);
}

static void test_owner_death_polling(void)
{
    owner_death_polling(0.03);
    owner_death_polling(0);
}

/* A waiter already blocked when the holder dies: of the survivors (that waiter and the
 * parent, which acquires after the death), exactly one gets OWNER_DEAD, the other PC_OK. */
struct blocked_waiter {
    atomic_int held;
    atomic_int waiting;
    atomic_int status;
};

struct blocked_waiter_arg {
    pc_lock *l;
    struct blocked_waiter *sh;
};

static int target_waiter_then_release(void *arg)
{
    const struct blocked_waiter_arg *a = arg;
    atomic_store(&a->sh->waiting, 1);
    int st = pc_lock_acquire(a->l, 10.0);
    atomic_store(&a->sh->status, st);
    if (st != PC_OK && st != PC_ERR_OWNER_DEAD)
        return 1;
    sleep_s(0.1);
    return pc_lock_release(a->l) == PC_OK ? 0 : 2;
}

static void owner_death_with_blocked_waiter(bool recursive)
{
    fprintf(stderr, "   %s\n", recursive ? "RLock" : "Lock");
    struct blocked_waiter *sh = shared_new(sizeof *sh);
    atomic_store(&sh->status, 12345);
    pc_lock *l;
    CHECK_OK(recursive ? pc_rlock_new(&l) : pc_lock_new(&l));
    struct holder h = {l, 1, END_KILLED, &sh->held};
    pc_process *holder = start(target_hold, &h);
    CHECK(wait_flag(&sh->held, 1, 5.0));
    struct blocked_waiter_arg a = {l, sh};
    pc_process *waiter = start(target_waiter_then_release, &a);
    CHECK(wait_flag(&sh->waiting, 1, 5.0));
    sleep_s(0.2); /* the waiter sleeps in acquire now */
    CHECK(pc_process_is_alive(waiter));

    CHECK_OK(pc_process_kill(holder));
    double t0 = now();
    int mine = pc_lock_acquire(l, 5.0);
    double took = now() - t0;
    if (mine != PC_OK && mine != PC_ERR_OWNER_DEAD)
        FAIL("the parent's acquire returned %d (%s)", mine, pc_status_str(mine));
    /* 1 s to detect the death, plus the waiter's 0.1 s hold if it came first. */
    if (took > 2.0)
        FAIL("the parent got the lock %.3f s after the holder's death", took);
    sleep_s(0.05);
    CHECK_OK(pc_lock_release(l));
    CHECK(finish(waiter, 10.0) == 0);
    int theirs = atomic_load(&sh->status);
    if (!((mine == PC_ERR_OWNER_DEAD && theirs == PC_OK) ||
          (mine == PC_OK && theirs == PC_ERR_OWNER_DEAD)))
        FAIL("parent got %s and the blocked waiter %s: expected one OWNER_DEAD and one OK",
             pc_status_str(mine), pc_status_str(theirs));
    CHECK(finish(holder, 10.0) == -SIGKILL);
    /* Free and clean afterwards. */
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    pc_lock_free(l);
    shared_free(sh, sizeof *sh);
}

static void test_owner_death_with_blocked_waiter(void)
{
    owner_death_with_blocked_waiter(false);
    owner_death_with_blocked_waiter(true);
}

/* ---- contention: exact counts ---- */

#define WORKERS 4
#define INCREMENTS 20000

struct counting {
    pc_lock *l;
    volatile int *counter;
    int n;
};

static int target_count(void *arg)
{
    const struct counting *c = arg;
    for (int i = 0; i < c->n; i++) {
        if (pc_lock_acquire(c->l, 30.0) != PC_OK)
            return 1;
        int v = *c->counter; /* a deliberately non-atomic read-modify-write */
        *c->counter = v + 1;
        if (pc_lock_release(c->l) != PC_OK)
            return 2;
    }
    return 0;
}

static void *thread_count(void *arg)
{
    return (void *)(intptr_t)target_count(arg);
}

static void contention(bool recursive)
{
    fprintf(stderr, "   %s\n", recursive ? "RLock" : "Lock");
    pc_lock *l;
    CHECK_OK(recursive ? pc_rlock_new(&l) : pc_lock_new(&l));
    int zero = 0;
    pc_value *v;
    CHECK_OK(pc_raw_value_new('i', &zero, &v));
    volatile int *counter = pc_value_ptr(v);
    CHECK(counter != NULL);

    /* Processes. */
    struct counting c = {l, counter, INCREMENTS};
    pc_process *ps[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        ps[i] = start(target_count, &c);
    for (int i = 0; i < WORKERS; i++) {
        int code = finish(ps[i], 60.0);
        if (code != 0)
            FAIL("worker %d failed at step %d", i, code);
    }
    if (*counter != WORKERS * INCREMENTS)
        FAIL("counter is %d after %d x %d locked increments", *counter, WORKERS, INCREMENTS);

    /* Threads of this process. */
    *counter = 0;
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, thread_count, &c) == 0);
    for (int i = 0; i < WORKERS; i++) {
        void *ret;
        CHECK(pthread_join(t[i], &ret) == 0);
        CHECK(ret == NULL);
    }
    CHECK(*counter == WORKERS * INCREMENTS);

    /* Both at once: 2 processes and 2 threads. */
    *counter = 0;
    ps[0] = start(target_count, &c);
    ps[1] = start(target_count, &c);
    CHECK(pthread_create(&t[0], NULL, thread_count, &c) == 0);
    CHECK(pthread_create(&t[1], NULL, thread_count, &c) == 0);
    for (int i = 0; i < 2; i++) {
        void *ret;
        CHECK(pthread_join(t[i], &ret) == 0);
        CHECK(ret == NULL);
        CHECK(finish(ps[i], 60.0) == 0);
    }
    CHECK(*counter == WORKERS * INCREMENTS);

    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    pc_value_free(v);
    pc_lock_free(l);
}

static void test_contention(void)
{
    contention(false);
    contention(true);
}

/* ---- pc_interrupt() ---- */

struct holder_thread {
    pc_lock *l;
    pthread_t thread;
    atomic_int held;
    atomic_int release;
    int release_status;
};

static void *holder_thread_main(void *arg)
{
    struct holder_thread *h = arg;
    if (pc_lock_acquire(h->l, 10.0) != PC_OK)
        return (void *)1;
    atomic_store(&h->held, 1);
    wait_flag(&h->release, 1, 20.0);
    h->release_status = pc_lock_release(h->l);
    return NULL;
}

/* A blocked acquire in the main thread returns PC_ERR_INTERRUPTED within 1 s of
 * pc_interrupt() from another thread, and acquires nothing. */
static void interrupted_acquire(bool recursive, double timeout)
{
    fprintf(stderr, "   %s, timeout %g\n", recursive ? "RLock" : "Lock", timeout);
    pc_lock *l;
    CHECK_OK(recursive ? pc_rlock_new(&l) : pc_lock_new(&l));
    struct holder_thread h = {.l = l, .release_status = 12345};
    atomic_init(&h.held, 0);
    atomic_init(&h.release, 0);
    CHECK(pthread_create(&h.thread, NULL, holder_thread_main, &h) == 0);
    CHECK(wait_flag(&h.held, 1, 5.0));

    check_interrupted(lock_acquire, l, timeout, "pc_lock_acquire");

    /* Nothing acquired: the holder still holds it, releases it, and it is free. */
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT);
    atomic_store(&h.release, 1);
    CHECK(pthread_join(h.thread, NULL) == 0);
    CHECK_STATUS(h.release_status, PC_OK);
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    pc_lock_free(l);
}

/* The same with the lock held by another process. */
static void test_interrupt_lock(void)
{
    interrupted_acquire(false, PC_FOREVER);
    interrupted_acquire(false, 5.0);
    interrupted_acquire(true, PC_FOREVER);

    atomic_int *held = shared_new(sizeof *held);
    pc_lock *l;
    CHECK_OK(pc_lock_new(&l));
    struct holder h = {l, 1, END_KILLED, held};
    pc_process *p = start(target_hold, &h);
    CHECK(wait_flag(held, 1, 5.0));
    struct interrupter it;
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_lock_acquire(l, PC_FOREVER), PC_ERR_INTERRUPTED);
    CHECK(now() - it.at < 1.0);
    interrupter_join(&it);
    CHECK_OK(pc_process_kill(p));
    CHECK(finish(p, 10.0) == -SIGKILL);
    /* The holder is dead: the next acquire takes it over (the interrupt was consumed). */
    CHECK_STATUS(pc_lock_acquire(l, 5.0), PC_ERR_OWNER_DEAD);
    CHECK_OK(pc_lock_release(l));

    /* An interrupt left pending before the call: a call that does not block keeps it
     * pending, the next one that blocks consumes it at once. */
    pc_interrupt();
    CHECK_OK(pc_lock_acquire(l, PC_FOREVER)); /* free: no blocking */
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT); /* 0 never blocks */
    double t0 = now();
    CHECK_STATUS(pc_lock_acquire(l, 5.0), PC_ERR_INTERRUPTED);
    CHECK(now() - t0 < 0.5);
    /* Consumed: the next timed acquire times out normally. */
    t0 = now();
    CHECK_STATUS(pc_lock_acquire(l, 0.1), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.095);
    CHECK_OK(pc_lock_release(l));
    pc_lock_free(l);
    shared_free(held, sizeof *held);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    /* NULL out-pointers. */
    CHECK_STATUS(pc_lock_new(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_rlock_new(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_rlock_new");
    CHECK_ERRMSG("out is NULL");

    /* NULL handles. */
    CHECK_STATUS(pc_lock_acquire(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_acquire");
    CHECK_ERRMSG("l is NULL");
    CHECK_STATUS(pc_lock_acquire(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_lock_acquire(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_lock_release(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_release");
    CHECK_ERRMSG("l is NULL");
    pc_lock_free(NULL); /* a no-op */

    /* NaN timeouts: refused, and nothing acquired. */
    pc_lock *l, *r;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_rlock_new(&r));
    pc_lock *both[2] = {l, r};
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(pc_lock_acquire(both[i], NAN), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_lock_acquire");
        CHECK_ERRMSG("timeout");
        CHECK_ERRMSG("NaN");
        CHECK_STATUS(pc_lock_acquire(both[i], -NAN), PC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(pc_lock_release(both[i]), PC_ERR_NOT_OWNER);
        /* Also when held (the fast path must not skip the check). */
        CHECK_OK(pc_lock_acquire(both[i], 0));
        CHECK_STATUS(pc_lock_acquire(both[i], NAN), PC_ERR_INVALID_ARGUMENT);
        CHECK_OK(pc_lock_release(both[i]));
        CHECK_STATUS(pc_lock_release(both[i]), PC_ERR_NOT_OWNER);
    }

    /* Wrong-typed handles. */
    pc_event *e;
    pc_semaphore *s;
    CHECK_OK(pc_event_new(&e));
    CHECK_OK(pc_semaphore_new(1, &s));
    CHECK_STATUS(pc_lock_acquire((pc_lock *)e, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_acquire");
    CHECK_ERRMSG("is not a pc_lock");
    CHECK_STATUS(pc_lock_release((pc_lock *)s), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    pc_lock_free((pc_lock *)e); /* refused, reported, nothing freed */
    CHECK_ERRMSG("pc_lock_free");
    CHECK_ERRMSG("is not a pc_lock");
    CHECK(!pc_event_is_set(e));
    CHECK_OK(pc_event_set(e)); /* the event is intact */
    CHECK(pc_event_is_set(e));
    pc_condition *bad_c = NULL;
    CHECK_STATUS(pc_condition_new((pc_lock *)e, &bad_c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK(bad_c == NULL);
    pc_value *bad_v = NULL;
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, (pc_lock *)s, &bad_v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK(bad_v == NULL);
    pc_event_free(e);
    pc_semaphore_free(s);

    /* A handle freed while the library still holds its object (a condition made on the
     * lock): the condition keeps working, and a second free of the handle is refused. */
    pc_condition *c;
    CHECK_OK(pc_condition_new(l, &c));
    pc_lock_free(l);
    CHECK_OK(pc_condition_acquire(c, 0));
    CHECK_OK(pc_condition_notify(c, 1));
    CHECK_STATUS(pc_condition_wait(c, 0.01), PC_ERR_TIMEOUT);
    CHECK_OK(pc_condition_release(c));
    CHECK_STATUS(pc_condition_release(c), PC_ERR_NOT_OWNER);
    pc_lock_free(l); /* a second free is reported, not a crash */
    CHECK_ERRMSG("pc_lock_free");
    CHECK_ERRMSG("already freed");
    CHECK_OK(pc_condition_acquire(c, 0)); /* and it changed nothing */
    CHECK_OK(pc_condition_release(c));
    pc_condition_free(c); /* the lock goes with it */

    /* An RLock kept alive by a Value made with it: after its creator freed the handle, the
     * lock stays usable through pc_value_lock (a handle the value lends, valid until the
     * value is freed), while the freed handle and a second free of it are refused. */
    pc_value *v;
    int seven = 7, got = 0;
    CHECK_OK(pc_value_new_with_lock('i', &seven, r, &v));
    pc_lock *vr = pc_value_lock(v);
    CHECK(vr != NULL && vr != r);
    CHECK_OK(pc_lock_acquire(r, 0)); /* the same RLock through both handles */
    CHECK_OK(pc_lock_release(vr));
    pc_lock_free(r);
    CHECK(pc_value_lock(v) == vr);
    CHECK_OK(pc_lock_acquire(vr, 0));
    CHECK_OK(pc_value_get(v, &got)); /* recursive: the value takes its lock again */
    CHECK(got == 7);
    CHECK_OK(pc_lock_release(vr));
    CHECK_STATUS(pc_lock_acquire(r, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    pc_lock_free(r);
    CHECK_ERRMSG("pc_lock_free");
    CHECK_ERRMSG("already freed");
    CHECK_OK(pc_lock_acquire(vr, 0));
    CHECK_OK(pc_lock_release(vr));
    pc_value_free(v);
    CHECK_STATUS(pc_lock_acquire(vr, 0), PC_ERR_INVALID_ARGUMENT); /* gone with the value */
    CHECK_ERRMSG("already freed");

    /* A borrowed lock (a Value's own RLock) is not the caller's to free: refused. */
    CHECK_OK(pc_value_new('i', &seven, &v));
    pc_lock *own = pc_value_lock(v);
    CHECK(own != NULL);
    pc_lock_free(own);
    CHECK_ERRMSG("pc_lock_free");
    CHECK_ERRMSG("is lent");
    CHECK_OK(pc_lock_acquire(own, 0));
    CHECK_OK(pc_value_get(v, &got));
    CHECK(got == 7);
    CHECK_OK(pc_lock_release(own));
    pc_value_free(v);
}

/* ---- nothing left behind ---- */

#define MANY 10000

static void test_nothing_left(void)
{
    /* Warm up (the library's lazily made state, and its handle table, which keeps its
     * high-water mark: the 1000 handles alive at once below), then count. */
    static pc_lock *alive[1000];
    for (int i = 0; i < 1000; i++)
        CHECK_OK(pc_lock_new(&alive[i]));
    CHECK_OK(pc_lock_acquire(alive[0], 0));
    CHECK_OK(pc_lock_release(alive[0]));
    for (int i = 0; i < 1000; i++)
        pc_lock_free(alive[i]);

    struct tu_resources before;
    resources_before(&before);
    for (int i = 0; i < MANY; i++) {
        pc_lock *l;
        int st = (i & 1) ? pc_rlock_new(&l) : pc_lock_new(&l);
        if (st == PC_OK && (st = pc_lock_acquire(l, 0)) == PC_OK)
            st = pc_lock_release(l);
        if (st != PC_OK)
            FAIL("lock %d: %s", i, pc_status_str(st));
        if (i % 1000 == 0 && count_open_fds() != before.fds)
            FAIL("%d fds after making %d locks, %d before", count_open_fds(), i + 1, before.fds);
        pc_lock_free(l);
    }
    tu_checks++;
    /* Many alive at once, freed afterwards. */
    for (int i = 0; i < 1000; i++)
        CHECK_OK(pc_lock_new(&alive[i]));
    CHECK(count_open_fds() == before.fds);
    for (int i = 0; i < 1000; i++)
        pc_lock_free(alive[i]);

    check_resources_after(&before, MANY, "locks");
    CHECK(wait_no_children(2.0));
}

int main(void)
{
    tu_init("test_lock", 100);
    RUN(test_lock_basics);
    RUN(test_lock_threads);
    RUN(test_rlock);
    RUN(test_lock_across_processes);
    RUN(test_owner_death);
    RUN(test_owner_death_through_condition);
    RUN(test_owner_death_with_blocked_waiter);
    RUN(test_owner_death_polling);
    RUN(test_contention);
    RUN(test_interrupt_lock);
    RUN(test_bad_arguments);
    RUN(test_nothing_left);
    return tu_done();
}
