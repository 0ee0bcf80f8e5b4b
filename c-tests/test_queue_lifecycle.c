/*
 * test_queue_lifecycle.c: a queue's life (include/processing.h: pc_queue_close,
 * pc_queue_free, pc_joinable_queue_new, pc_queue_task_done, pc_queue_join): close (per
 * process, not inherited); JoinableQueue across processes; a handle freed while other
 * processes use the queue; nothing left behind.
 *
 * The rest of the contract is in the other test_queue_*.c; killed producers and
 * consumers, and many processes at once, are in test_queue_faults_*.c.
 *
 * `test_queue_lifecycle NAME…` runs only the named subtests.
 *
 * ctest-timeout: 30
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "queue_common.h"

/* ---- close ---- */
struct close_child {
    pc_queue *q;
    bool close_first;
};

/* Checks that the queue is open here (not inherited), puts "from the child", then
 * optionally closes its own side and checks that. */
static int target_after_close(void *arg)
{
    const struct close_child *a = arg;
    if (pc_queue_join_thread(a->q) != PC_ERR_WRONG_STATE)
        return 1;
    if (pc_queue_put(a->q, "from the child", 14, 5.0) != PC_OK)
        return 2;
    if (a->close_first) {
        if (pc_queue_close(a->q) != PC_OK)
            return 3;
        if (pc_queue_put(a->q, "no", 2, 0) != PC_ERR_CLOSED)
            return 4;
        if (pc_queue_join_thread(a->q) != PC_OK)
            return 5;
    }
    return 0;
}

static int sub_after_close(void *arg)
{
    return target_after_close(arg);
}

struct thread_put {
    pc_queue *q;
    int status;
};

static void *thread_put_main(void *arg)
{
    struct thread_put *t = arg;
    t->status = pc_queue_put(t->q, "thread", 6, 0);
    return NULL;
}

static void test_close(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(2, &q));
    put_str(q, "before");
    CHECK_STATUS(pc_queue_join_thread(q), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_queue_join_thread");
    CHECK_ERRMSG("close");
    CHECK_OK(pc_queue_cancel_join_thread(q));
    CHECK_OK(pc_queue_close(q));
    CHECK_OK(pc_queue_close(q)); /* twice is harmless */
    CHECK_OK(pc_queue_join_thread(q));
    CHECK_OK(pc_queue_cancel_join_thread(q));

    CHECK_STATUS(pc_queue_put(q, "after", 5, 0), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("closed");
    CHECK_STATUS(pc_queue_put(q, NULL, 0, PC_FOREVER), PC_ERR_CLOSED);
    check_queue_counts(q, 1, false); /* nothing put */
    /* Per process: another thread of this process is closed too. */
    struct thread_put t = {q, -100};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_put_main, &t) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(t.status, PC_ERR_CLOSED);

    /* A full closed queue: CLOSED at once, even when asked to wait. */
    pc_queue *full;
    CHECK_OK(pc_queue_new(1, &full));
    put_str(full, "f");
    CHECK_OK(pc_queue_close(full));
    double t0 = now();
    CHECK_STATUS(pc_queue_put(full, "g", 1, PC_FOREVER), PC_ERR_CLOSED);
    CHECK(elapsed_since(t0) < 1.0);
    get_str(full, "f");
    pc_queue_free(full);

    /* Getting still works. */
    get_str(q, "before");
    CHECK_STATUS(pc_queue_get(q, 0.01, &(pc_bytes){NULL, 0}), PC_ERR_EMPTY);

    /* Children forked after the close may put (library child, then a plain fork). */
    struct close_child c = {q, false};
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    get_str(q, "from the child");
    c.close_first = true;
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    get_str(q, "from the child");
    pid_t pid = fork_sub(sub_after_close, &c);
    check_sub_ok(pid, 10.0, "a plain child of a closed queue's process");
    get_str(q, "from the child");
    check_queue_counts(q, 0, false);
    /* The parent stays closed. */
    CHECK_STATUS(pc_queue_put(q, "x", 1, 0), PC_ERR_CLOSED);
    pc_queue_free(q);

    /* A child closing its side leaves the parent's open. */
    CHECK_OK(pc_queue_new(0, &q));
    c = (struct close_child){q, true};
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    CHECK_STATUS(pc_queue_join_thread(q), PC_ERR_WRONG_STATE);
    put_str(q, "parent");
    get_str(q, "from the child");
    get_str(q, "parent");
    pc_queue_free(q);
}

/* ---- JoinableQueue ---- */
struct worker {
    pc_queue *q;
    atomic_int *done; /* shared: tasks done by all */
    atomic_int *mine; /* shared: tasks done by this one */
    double delay;     /* per task */
};

/* Gets tasks until the queue stays empty for 0.5 s; task_done after each. */
static int target_worker(void *arg)
{
    const struct worker *w = arg;
    for (;;) {
        pc_bytes m = {NULL, 0};
        int st = pc_queue_get(w->q, 0.5, &m);
        if (st == PC_ERR_EMPTY)
            return 0;
        if (st != PC_OK)
            return 1;
        int task = -1;
        if (m.len == sizeof task)
            memcpy(&task, m.data, sizeof task);
        pc_bytes_free(&m);
        if (task < 0)
            return 2;
        sleep_s(w->delay);
        atomic_fetch_add(w->done, 1);
        atomic_fetch_add(w->mine, 1);
        if (pc_queue_task_done(w->q) != PC_OK)
            return 3;
    }
}

struct late_task_done {
    pc_queue *q;
    double delay;
    double *at;
};

static int target_late_task_done(void *arg)
{
    const struct late_task_done *a = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(a->q, 5.0, &m) != PC_OK)
        return 1;
    pc_bytes_free(&m);
    sleep_s(a->delay);
    *a->at = now();
    return pc_queue_task_done(a->q) == PC_OK ? 0 : 2;
}

static void test_joinable(void)
{
    struct shared {
        atomic_int done;
        atomic_int mine[2];
        double at;
    } *sh = shared_new(sizeof *sh);
    pc_queue *q;
    CHECK_OK(pc_joinable_queue_new(0, &q));

    /* Nothing put: join returns at once; task_done is one too many. */
    CHECK_OK(pc_queue_join(q, 0));
    CHECK_OK(pc_queue_join(q, PC_FOREVER));
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE);
    CHECK_ERRMSG("pc_queue_task_done");

    enum { N = 40 };
    for (int i = 0; i < N; i++)
        CHECK_OK(pc_queue_put(q, &i, sizeof i, 0));
    double t0 = now();
    CHECK_STATUS(pc_queue_join(q, 0), PC_ERR_TIMEOUT);
    CHECK(elapsed_since(t0) < 0.5); /* at once (generous for a loaded machine) */
    CHECK_ERRMSG("pc_queue_join");
    t0 = now();
    CHECK_STATUS(pc_queue_join(q, 0.2), PC_ERR_TIMEOUT);
    check_waited(t0, 0.2, "pc_queue_join");

    struct worker w[2] = {{q, &sh->done, &sh->mine[0], 0.002},
                          {q, &sh->done, &sh->mine[1], 0.002}};
    pc_process *ps[2] = {start(target_worker, &w[0]), start(target_worker, &w[1])};
    t0 = now();
    CHECK_OK(pc_queue_join(q, 10.0));
    CHECK(elapsed_since(t0) < 10.0);
    CHECK(atomic_load(&sh->done) == N); /* every task_done came after its work */
    check_queue_counts(q, 0, false);
    for (int i = 0; i < 2; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    fprintf(stderr, "   the workers did %d and %d tasks\n", atomic_load(&sh->mine[0]),
            atomic_load(&sh->mine[1]));
    CHECK(atomic_load(&sh->mine[0]) + atomic_load(&sh->mine[1]) == N);
    CHECK_OK(pc_queue_join(q, 0));
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE); /* one too many */
    CHECK_ERRMSG("pc_queue_task_done");
    CHECK_OK(pc_queue_join(q, 0)); /* and it changed nothing */

    /* A join blocked in the parent ends with the child's task_done, not earlier. */
    put_str(q, "task");
    struct late_task_done l = {q, 0.3, &sh->at};
    t0 = now();
    pc_process *p = start(target_late_task_done, &l);
    CHECK_OK(pc_queue_join(q, 10.0));
    double joined = now();
    CHECK(finish(p, 10.0) == 0);
    CHECK(joined - t0 >= 0.3 - 0.0005);
    CHECK(joined >= sh->at && joined - sh->at < 2.0);

    /* As in Python, task_done counts against puts, not gets: a message put and marked
     * done may still be in the queue. */
    put_str(q, "undone");
    CHECK_STATUS(pc_queue_join(q, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_queue_task_done(q));
    CHECK_OK(pc_queue_join(q, 0));
    check_queue_counts(q, 1, false);
    get_str(q, "undone");
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE);

    /* Bounded joinable. */
    pc_queue *b;
    CHECK_OK(pc_joinable_queue_new(2, &b));
    put_str(b, "1");
    put_str(b, "2");
    check_queue_counts(b, 2, true);
    get_str(b, "1");
    CHECK_OK(pc_queue_task_done(b));
    CHECK_STATUS(pc_queue_join(b, 0.05), PC_ERR_TIMEOUT);
    get_str(b, "2");
    CHECK_OK(pc_queue_task_done(b));
    CHECK_OK(pc_queue_join(b, 0));
    pc_queue_free(b);

    /* A plain queue. */
    pc_queue *plain;
    CHECK_OK(pc_queue_new(0, &plain));
    put_str(plain, "p");
    CHECK_STATUS(pc_queue_task_done(plain), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("joinable");
    CHECK_STATUS(pc_queue_join(plain, 1.0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("joinable");
    check_queue_counts(plain, 1, false);
    pc_queue_free(plain);

    pc_queue_free(q);
    shared_free(sh, sizeof *sh);
}

/* ---- a handle freed while others use the queue ---- */

/* Puts 1 MiB of pattern 60, frees its handle, then makes sure the queue still works for
 * the others by returning. */
static int target_put_and_free(void *arg)
{
    pc_queue *q = arg;
    uint8_t *buf = malloc(MIB);
    if (!buf)
        return 1;
    fill_pattern(buf, MIB, 60);
    int st = pc_queue_put(q, buf, MIB, 5.0);
    free(buf);
    pc_queue_free(q);
    return st == PC_OK ? 0 : 2;
}

static void test_free_while_used(void)
{
    struct shared {
        atomic_int started;
        double at;
    } *sh = shared_new(sizeof *sh);
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    /* A child blocked in get; the parent puts and frees its handle at once. */
    struct child_get g = {q, 0, 10.0, "parting gift", &sh->started, &sh->at};
    pc_process *p = start(target_get_one, &g);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.1);
    put_str(q, "parting gift");
    double t0 = now();
    pc_queue_free(q); /* never waits */
    CHECK(elapsed_since(t0) < 0.5);
    CHECK(finish(p, 10.0) == 0);

    /* A child frees its copy: the parent's is unaffected. */
    CHECK_OK(pc_queue_new(1, &q));
    p = start(target_put_and_free, q);
    CHECK(finish(p, 10.0) == 0);
    get_pattern(q, MIB, 60, 0);
    put_str(q, "still here");
    check_queue_counts(q, 1, true);
    get_str(q, "still here");
    pc_queue_free(q);
    shared_free(sh, sizeof *sh);
}

/* ---- nothing left behind ---- */
static int target_use_queue(void *arg)
{
    pc_queue *q = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(q, 5.0, &m) != PC_OK)
        return 1;
    int st = pc_queue_put(q, m.data, m.len, 5.0);
    pc_bytes_free(&m);
    pc_queue *mine;
    if (st != PC_OK || pc_queue_new(0, &mine) != PC_OK)
        return 2;
    st = pc_queue_put(mine, "child's own", 11, 0);
    pc_queue_free(mine); /* with a message left in it */
    pc_queue_free(q);
    return st == PC_OK ? 0 : 3;
}

static int sub_use_queue(void *arg)
{
    return target_use_queue(arg);
}

static void test_nothing_left(void)
{
    pc_queue *warm;
    CHECK_OK(pc_queue_new(0, &warm));
    put_str(warm, "warm");
    get_str(warm, "warm");
    pc_queue_free(warm);
    pc_process *wp = start(NULL, NULL);
    CHECK(finish(wp, 10.0) == 0);

    struct tu_resources before;
    resources_before(&before);
    int fds = count_open_fds();

    /* Many, one after the other, used and freed (some with messages left in them). */
    for (int i = 0; i < 1000; i++) {
        pc_queue *q;
        int st = (i & 1) ? pc_joinable_queue_new((size_t)(i % 5), &q) : pc_queue_new(0, &q);
        if (st != PC_OK)
            FAIL("queue %d: %s", i, pc_status_str(st));
        CHECK_OK(pc_queue_put(q, &i, sizeof i, 0));
        if (i % 3 != 0) {
            int v = -1;
            size_t n = 0;
            CHECK_OK(pc_queue_get_into(q, &v, sizeof v, &n, 0));
            CHECK(v == i);
        }
        if (i % 100 == 0)
            put_pattern(q, 300 * KIB, (unsigned)i, 0); /* spilled */
        pc_queue_free(q);
    }
    /* Many alive at once. */
    enum { ALIVE = 64 };
    pc_queue *qs[ALIVE];
    for (int i = 0; i < ALIVE; i++) {
        CHECK_OK(pc_queue_new(0, &qs[i]));
        put_pattern(qs[i], (i % 4 == 0) ? 300 * KIB : 100, (unsigned)i, 0);
    }
    for (int i = 0; i < ALIVE; i++)
        pc_queue_free(qs[i]);
    /* Used by children (library and plain), which free their copies and exit. */
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    for (int i = 0; i < 5; i++) {
        put_str(q, "round trip");
        CHECK(finish(start(target_use_queue, q), 10.0) == 0);
        get_str(q, "round trip");
    }
    put_str(q, "round trip");
    check_sub_ok(fork_sub(sub_use_queue, q), 10.0, "a plain child using a queue");
    get_str(q, "round trip");
    pc_queue_free(q);

    if (count_open_fds() != fds)
        FAIL("%d fds open after the queues, %d before", count_open_fds(), fds);
    check_resources_after(&before, 1000 + ALIVE + 1, "queues");
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_queue_lifecycle", 25);
    RUN(test_close);
    RUN(test_joinable);
    RUN(test_free_while_used);
    RUN(test_nothing_left);
    return tu_done();
}
