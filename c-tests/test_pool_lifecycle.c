/*
 * test_pool_lifecycle.c: a pool's life (include/processing.h: pc_pool_close,
 * pc_pool_join, pc_pool_terminate, pc_pool_free): close/join/terminate/free and their
 * states, timeouts under CPU load, pc_interrupt() breaking blocked waits, nothing left
 * behind (also by a fresh process's one-worker pool), a pool used from a forked process
 * or made in a daemonic worker (PC_ERR_WRONG_STATE).
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c; the rest of the
 * Pool API in the other test_pool_*.c.
 *
 * `test_pool_lifecycle NAME…` runs only the named subtests.
 *
 * Tasks run in the workers: they never use CHECK, they report through their return code
 * and their output.
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
#include <sys/resource.h>
#include <unistd.h>
#include "pool_common.h"

/* ---- 9. close, join, terminate, free ---- */
static void test_close_join(void)
{
    pc_pool *p = new_pool(2);
    pc_bytes res;

    CHECK_STATUS(pc_pool_join(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_pool_join");

    /* Tasks submitted before close still complete. */
    struct sleep_arg a = sleep_arg(0.3, -1, 31);
    pc_async_result *r;
    struct cb_rec rec = {0};
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, cb_record, &rec, &r));
    enum { N = 30 };
    int64_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i + 20;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_async_result *rm;
    CHECK_OK(pc_pool_map_async(p, task_square, items, N, 1, NULL, NULL, &rm));
    pc_iter *it;
    CHECK_OK(pc_pool_imap(p, task_square, items, N, 1, &it));
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_close(p)); /* harmless */

    /* Submissions after close: PC_ERR_CLOSED. */
    pc_async_result *r2 = NULL;
    pc_iter *it2 = NULL;
    pc_bytes res2[2];
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_pool_apply");
    CHECK_STATUS(pc_pool_apply_async(p, task_echo, "x", 1, NULL, NULL, &r2), PC_ERR_CLOSED);
    CHECK(r2 == NULL);
    CHECK_STATUS(pc_pool_map(p, task_square, items, 2, 0, res2), PC_ERR_CLOSED);
    CHECK_STATUS(pc_pool_map_async(p, task_square, items, 2, 0, NULL, NULL, &r2), PC_ERR_CLOSED);
    CHECK(r2 == NULL);
    CHECK_STATUS(pc_pool_imap(p, task_square, items, 2, 0, &it2), PC_ERR_CLOSED);
    CHECK_STATUS(pc_pool_imap_unordered(p, task_square, items, 2, 0, &it2), PC_ERR_CLOSED);
    CHECK(it2 == NULL);
    double d = 1, o = 0;
    CHECK_STATUS(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, &d, 8, &o, 8, 1, 0),
        PC_ERR_CLOSED);

    double t0 = now();
    CHECK_OK(pc_pool_join(p));
    CHECK(now() - t0 < 10.0);
    CHECK(pc_async_result_ready(r));
    CHECK_OK(pc_async_result_get(r, 0, &res, 1));
    CHECK(bytes_i32(&res) == 31);
    pc_bytes_free(&res);
    cb_wait_once(&rec, "apply_async before close");
    CHECK(rec.status == PC_OK);
    cb_rec_free(&rec);
    pc_bytes resm[N];
    CHECK_OK(pc_async_result_get(rm, 0, resm, N));
    for (int i = 0; i < N; i++)
        CHECK(bytes_i64(&resm[i]) == (int64_t)(i + 20) * (i + 20));
    free_results(resm, N);
    for (int i = 0; i < N; i++) {
        pc_bytes b;
        CHECK_OK(pc_iter_next(it, 0, &b));
        CHECK(bytes_i64(&b) == (int64_t)(i + 20) * (i + 20));
        pc_bytes_free(&b);
    }
    pc_iter_free(it);
    pc_async_result_free(r);
    pc_async_result_free(rm);
    /* The workers ended. */
    CHECK(wait_no_children(5.0));
    CHECK_OK(pc_pool_join(p)); /* again: harmless */
    CHECK_OK(pc_pool_close(p));
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_CLOSED);
    CHECK_OK(pc_pool_terminate(p)); /* after close and join: harmless */
    pc_pool_free(p);

    /* close then terminate, join. */
    p = new_pool(1);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_terminate(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

static void test_terminate(void)
{
    pc_pool *p = new_pool(2);
    enum { K = 4 };
    pc_async_result *rs[K];
    static struct cb_rec recs[K];
    memset(recs, 0, sizeof recs);
    struct sleep_arg a = sleep_arg(10.0, -1, 1);
    atomic_store(&S->started, 0);
    for (int i = 0; i < K; i++)
        CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, cb_record, &recs[i], &rs[i]));
    pc_slice items[3] = {{&a, sizeof a}, {&a, sizeof a}, {&a, sizeof a}};
    pc_async_result *rm;
    CHECK_OK(pc_pool_map_async(p, task_sleep, items, 3, 1, NULL, NULL, &rm));
    pc_iter *it;
    CHECK_OK(pc_pool_imap(p, task_sleep, items, 3, 1, &it));
    CHECK(wait_flag(&S->started, 2, 10.0)); /* two of them run */

    double t0 = now();
    CHECK_OK(pc_pool_terminate(p));
    double took = now() - t0;
    if (took > 2.5)
        FAIL("pc_pool_terminate with 2 tasks sleeping 10 s took %.3f s", took);
    CHECK(wait_no_children(2.0));

    /* The unfinished results fail with PC_ERR_CLOSED, at once; their callbacks too. */
    for (int i = 0; i < K; i++) {
        pc_bytes res = {NULL, 0};
        t0 = now();
        CHECK_STATUS(pc_async_result_get(rs[i], 5.0, &res, 1), PC_ERR_CLOSED);
        CHECK(now() - t0 < 1.0);
        CHECK_ERRMSG("pc_async_result_get");
        CHECK(res.data == NULL);
        CHECK(pc_async_result_ready(rs[i]));
        bool ok = true;
        CHECK_OK(pc_async_result_successful(rs[i], &ok));
        CHECK(!ok);
        cb_wait_once(&recs[i], "a result unfinished at terminate");
        CHECK(recs[i].status == PC_ERR_CLOSED);
        CHECK(recs[i].count == 1);
        cb_rec_free(&recs[i]);
        pc_async_result_free(rs[i]);
    }
    pc_bytes res3[3];
    CHECK_STATUS(pc_async_result_get(rm, 5.0, res3, 3), PC_ERR_CLOSED);
    pc_async_result_free(rm);
    pc_bytes b;
    CHECK_STATUS(pc_iter_next(it, 5.0, &b), PC_ERR_CLOSED);
    pc_iter_free(it);

    /* After terminate: submissions refused, join fine, terminate and close harmless. */
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &b), PC_ERR_CLOSED);
    pc_async_result *r2 = NULL;
    CHECK_STATUS(pc_pool_apply_async(p, task_echo, "x", 1, NULL, NULL, &r2), PC_ERR_CLOSED);
    CHECK(r2 == NULL);
    CHECK_OK(pc_pool_join(p));
    CHECK_OK(pc_pool_terminate(p));
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);

    /* An idle pool terminated. */
    p = new_pool(2);
    CHECK_OK(pc_pool_terminate(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    CHECK(wait_no_children(2.0));
}

static void test_free_running(void)
{
    /* Freeing a running pool with pending tasks terminates it, promptly; the results
     * stay valid and say PC_ERR_CLOSED. */
    pc_pool *p = new_pool(2);
    struct sleep_arg a = sleep_arg(10.0, -1, 1);
    enum { K = 5 };
    pc_async_result *rs[K];
    static struct cb_rec recs[K];
    memset(recs, 0, sizeof recs);
    atomic_store(&S->started, 0);
    for (int i = 0; i < K; i++)
        CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, cb_record, &recs[i], &rs[i]));
    pc_iter *it;
    pc_slice items[2] = {{&a, sizeof a}, {&a, sizeof a}};
    CHECK_OK(pc_pool_imap_unordered(p, task_sleep, items, 2, 1, &it));
    CHECK(wait_flag(&S->started, 2, 10.0));
    double t0 = now();
    pc_pool_free(p);
    double took = now() - t0;
    if (took > 2.5)
        FAIL("pc_pool_free of a running pool took %.3f s", took);
    CHECK(wait_no_children(2.0));
    for (int i = 0; i < K; i++) {
        pc_bytes res;
        CHECK_STATUS(pc_async_result_get(rs[i], 5.0, &res, 1), PC_ERR_CLOSED);
        cb_wait_once(&recs[i], "a result of a freed pool");
        CHECK(recs[i].status == PC_ERR_CLOSED);
        cb_rec_free(&recs[i]);
        pc_async_result_free(rs[i]);
    }
    pc_bytes b;
    CHECK_STATUS(pc_iter_next(it, 5.0, &b), PC_ERR_CLOSED);
    pc_iter_free(it);

    /* A pool freed right after it was made, and one freed busy with a big map. */
    p = new_pool(3);
    pc_pool_free(p);
    p = new_pool(2);
    enum { N = 2000 };
    int64_t xs[N];
    pc_slice many[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i + 20;
        many[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_async_result *r;
    CHECK_OK(pc_pool_map_async(p, task_square, many, N, 1, NULL, NULL, &r));
    t0 = now();
    pc_pool_free(p);
    CHECK(now() - t0 < 5.0);
    pc_bytes *res = calloc(N, sizeof(pc_bytes));
    pc_status st = pc_async_result_get(r, 5.0, res, N);
    CHECK(st == PC_ERR_CLOSED || st == PC_OK);
    if (st == PC_OK)
        free_results(res, N);
    free(res);
    pc_async_result_free(r);
    CHECK(wait_no_children(2.0));
}

/* ---- 10. pc_interrupt() ---- */
static void check_interrupt_late(struct interrupter *it, const char *what)
{
    double late = now() - it->at;
    interrupter_join(it);
    if (late > 1.0)
        FAIL("%s returned %.3f s after pc_interrupt()", what, late);
    CHECK(late >= 0);
    CHECK_ERRMSG("interrupt");
}

/* Timeouts hold when the machine is busy: a waiter that gives the CPU away before it
 * sleeps (where fifty yields can last a quarter of a second) must still wake at its
 * deadline, not when the 0.15 s task is done. */
static void test_timeouts_under_load(void)
{
    pc_pool *p = new_pool(2);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    tu_cpu_load_start(cpus > 0 && cpus < 16 ? (int)cpus * 4 : 64);

    struct sleep_arg a = sleep_arg(0.15, -1, 5);
    pc_async_result *r = NULL;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    pc_bytes b = {NULL, 0};
    CHECK_STATUS(pc_async_result_get(r, 0.02, &b, 1), PC_ERR_TIMEOUT);

    pc_slice two[2] = {{&a, sizeof a}, {&a, sizeof a}};
    pc_iter *it = NULL;
    CHECK_OK(pc_pool_imap(p, task_sleep, two, 2, 1, &it));
    CHECK_STATUS(pc_iter_next(it, 0.02, &b), PC_ERR_TIMEOUT);

    tu_cpu_load_stop();
    CHECK_OK(pc_async_result_get(r, 10.0, &b, 1));
    CHECK(bytes_i32(&b) == 5);
    pc_bytes_free(&b);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(pc_iter_next(it, 10.0, &b));
        pc_bytes_free(&b);
    }
    pc_iter_free(it);
    pc_async_result_free(r);
    pc_pool_free(p);
}

static void test_interrupt(void)
{
    pc_pool *p = new_pool(2);
    struct sleep_arg a = sleep_arg(20.0, -1, 1);
    struct interrupter it;

    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    pc_bytes res = {NULL, 0};
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_async_result_get(r, PC_FOREVER, &res, 1), PC_ERR_INTERRUPTED);
    CHECK_ERRMSG("pc_async_result_get");
    check_interrupt_late(&it, "pc_async_result_get");
    CHECK(res.data == NULL);
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_async_result_wait(r, 30.0), PC_ERR_INTERRUPTED);
    check_interrupt_late(&it, "pc_async_result_wait");
    CHECK(!pc_async_result_ready(r)); /* nothing lost: still pending */

    pc_slice item = {&a, sizeof a};
    pc_iter *iter;
    CHECK_OK(pc_pool_imap(p, task_sleep, &item, 1, 0, &iter));
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_iter_next(iter, PC_FOREVER, &res), PC_ERR_INTERRUPTED);
    CHECK_ERRMSG("pc_iter_next");
    check_interrupt_late(&it, "pc_iter_next");
    /* The iterator did not move: the item is still to come. */
    CHECK_STATUS(pc_iter_next(iter, 0.01, &res), PC_ERR_TIMEOUT);
    pc_iter_free(iter);

    /* Both workers are busy now: apply waits, until interrupted. */
    interrupter_start(&it, 0.2);
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_INTERRUPTED);
    CHECK_ERRMSG("pc_pool_apply");
    check_interrupt_late(&it, "pc_pool_apply");
    CHECK(res.data == NULL);

    /* A pending interrupt breaks the next blocking wait at once. */
    pc_interrupt();
    double t0 = now();
    CHECK_STATUS(pc_async_result_get(r, 10.0, &res, 1), PC_ERR_INTERRUPTED);
    CHECK(now() - t0 < 1.0);
    /* … and only one. */
    t0 = now();
    CHECK_STATUS(pc_async_result_get(r, 0.05, &res, 1), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.0495);

    pc_async_result_free(r);
    pc_pool_free(p);

    /* An interrupted apply: the pool still works afterwards. */
    p = new_pool(1);
    pc_async_result *slow;
    a.seconds = 0.5;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &slow));
    interrupter_start(&it, 0.1);
    CHECK_STATUS(pc_pool_apply(p, task_echo, "y", 1, &res), PC_ERR_INTERRUPTED);
    check_interrupt_late(&it, "pc_pool_apply");
    CHECK_OK(pc_async_result_get(slow, 10.0, &res, 1));
    pc_bytes_free(&res);
    CHECK_OK(pc_pool_apply(p, task_echo, "z", 1, &res));
    CHECK(res.len == 1 && res.data[0] == 'z');
    pc_bytes_free(&res);
    pc_async_result_free(slow);
    pc_pool_free(p);
}

/* ---- 11. nothing left behind ---- */
static void use_pool(pc_pool *p)
{
    pc_bytes res;
    CHECK_OK(pc_pool_apply(p, task_echo, "abc", 3, &res));
    pc_bytes_free(&res);
    int64_t xs[100];
    pc_slice items[100];
    for (int i = 0; i < 100; i++) {
        xs[i] = i + 20;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes results[100];
    CHECK_OK(pc_pool_map(p, task_square, items, 100, 0, results));
    free_results(results, 100);
    pc_iter *it;
    CHECK_OK(pc_pool_imap(p, task_square, items, 10, 0, &it));
    for (int i = 0; i < 10; i++) {
        CHECK_OK(pc_iter_next(it, 10.0, &res));
        pc_bytes_free(&res);
    }
    pc_iter_free(it);
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_echo, "q", 1, NULL, NULL, &r));
    CHECK_OK(pc_async_result_wait(r, 10.0));
    pc_async_result_free(r);
    static double in[10000], out[10000];
    CHECK_OK(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in, 8, out, 8, 10000, 0));
}

/* Fails when the open fds differ from `before` (listing both) for 2 s: a library thread
 * may close a reaped worker's pidfd a moment after the pool's call returned, but with no
 * further library call. */
static void check_fds(const char *before, int before_count, const char *when)
{
    tu_checks++;
    double deadline = now() + 2.0;
    while (count_open_fds() != before_count && now() < deadline)
        sleep_s(0.01);
    if (count_open_fds() != before_count) {
        char *after = fd_listing();
        FAIL("%s: %d fds open, %d before\n    before:\n%s    after:\n%s", when, count_open_fds(),
             before_count, before, after);
    }
}

/* Polls until no pidfd is open, at most `timeout` seconds; true if none is. */
static bool wait_no_pidfds(double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        char *fds = fd_listing();
        bool any = tu_contains(fds, "[pidfd]");
        free(fds);
        if (!any || now() >= deadline)
            return !any;
        sleep_s(0.01);
    }
}

static void test_nothing_left(void)
{
    /* Warm up: whatever the library sets up once (its reaper thread, which starts once
     * several children run, …) is made now. */
    pc_pool *p = new_pool(2);
    use_pool(p);
    pc_pool_free(p);
    p = new_pool(1);
    use_pool(p);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
    /* Nor a reaped worker's pidfd, which a library thread closes a moment after the reap:
     * counted in the baseline, it would be missing from every count after. */
    CHECK(wait_no_pidfds(2.0));

    struct tu_resources before;
    resources_before(&before);
    char *fds_before = fd_listing();
    enum { ROUNDS = 6 };
    for (int i = 0; i < ROUNDS; i++) {
        p = new_pool(1 + (size_t)(i % 3));
        use_pool(p);
        const char *how;
        switch (i % 3) {
        case 0:
            how = "pc_pool_free (running)";
            pc_pool_free(p);
            break;
        case 1:
            how = "pc_pool_close, pc_pool_join, pc_pool_free";
            CHECK_OK(pc_pool_close(p));
            CHECK_OK(pc_pool_join(p));
            pc_pool_free(p);
            break;
        default:
            how = "pc_pool_terminate, pc_pool_join, pc_pool_free";
            CHECK_OK(pc_pool_terminate(p));
            CHECK_OK(pc_pool_join(p));
            pc_pool_free(p);
            break;
        }
        CHECK(wait_no_children(5.0));
        char when[160];
        snprintf(when, sizeof when, "after a pool of %d worker(s) was ended by %s", 1 + i % 3, how);
        check_fds(fds_before, before.fds, when);
    }
    /* Several pools at once. */
    pc_pool *ps[3];
    for (int i = 0; i < 3; i++)
        ps[i] = new_pool(2);
    for (int i = 0; i < 3; i++)
        use_pool(ps[i]);
    for (int i = 0; i < 3; i++)
        pc_pool_free(ps[i]);
    CHECK(wait_no_children(5.0));
    check_fds(fds_before, before.fds, "after 3 pools at once");
    free(fds_before);
    check_resources_after(&before, ROUNDS + 3, "pools");
}

/* The same in a process where the library has started no reaper thread yet (a fresh
 * fork): a pool of one worker, closed and joined, then freed, leaves no fd behind (the
 * worker's pidfd included), without waiting for another library call. */
static int sub_fresh_close_join(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        int fds = count_open_fds();
        char *fds_before = fd_listing();
        pc_pool *p = new_pool(1);
        pc_bytes res;
        CHECK_OK(pc_pool_apply(p, task_echo, "abc", 3, &res));
        pc_bytes_free(&res);
        switch (round) {
        case 0:
            CHECK_OK(pc_pool_close(p));
            break;
        case 1:
            CHECK_OK(pc_pool_terminate(p));
            break;
        default:
            break;
        }
        if (round < 2)
            CHECK_OK(pc_pool_join(p));
        pc_pool_free(p);
        CHECK(wait_no_children(5.0));
        check_fds(fds_before, fds,
                  round == 0   ? "2 s after a one-worker pool was closed, joined and freed"
                  : round == 1 ? "2 s after a one-worker pool was terminated, joined and freed"
                               : "2 s after a running one-worker pool was freed");
        free(fds_before);
    }
    return 0;
}

static void test_nothing_left_fresh_process(void)
{
    pid_t sub = fork_sub(sub_fresh_close_join, NULL);
    check_sub_ok(sub, 30.0, "pools in a fresh process");
}

/* ---- 12. a pool used from another process ---- */
static pc_pool *fork_pool;

static pc_async_result *fork_result;

static int sub_use_parents_pool(void *arg)
{
    (void)arg;
    pc_pool *p = fork_pool;
    pc_bytes res = {NULL, 0};
    pc_async_result *r = NULL;
    pc_iter *it = NULL;
    int64_t x = 3;
    pc_slice item = {&x, sizeof x};
    double d = 1, o = 0;
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_pool_apply");
    CHECK(res.data == NULL);
    CHECK_STATUS(pc_pool_apply_async(p, task_echo, "x", 1, NULL, NULL, &r), PC_ERR_WRONG_STATE);
    CHECK(r == NULL);
    CHECK_STATUS(pc_pool_map(p, task_square, &item, 1, 0, &res), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_pool_map_async(p, task_square, &item, 1, 0, NULL, NULL, &r),
                 PC_ERR_WRONG_STATE);
    CHECK(r == NULL);
    CHECK_STATUS(pc_pool_imap(p, task_square, &item, 1, 0, &it), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_pool_imap_unordered(p, task_square, &item, 1, 0, &it), PC_ERR_WRONG_STATE);
    CHECK(it == NULL);
    CHECK_STATUS(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, &d, 8, &o, 8, 1, 0),
        PC_ERR_WRONG_STATE);
    CHECK(o == 0);
    CHECK_STATUS(pc_pool_close(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_pool_close");
    CHECK_STATUS(pc_pool_terminate(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_pool_terminate");
    CHECK_STATUS(pc_pool_join(p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_pool_join");
    /* The copy of a ready result still reads. */
    CHECK_OK(pc_async_result_get(fork_result, 0, &res, 1));
    CHECK(res.len == 2 && memcmp(res.data, "ok", 2) == 0);
    pc_bytes_free(&res);
    /* Freeing the copy of the handle does not terminate the parent's pool. */
    pc_pool_free(p);

    /* A pool of its own works in the forked process. */
    pc_pool *own = new_pool(1);
    CHECK_OK(pc_pool_apply(own, task_square, &x, sizeof x, &res));
    CHECK(bytes_i64(&res) == 9);
    pc_bytes_free(&res);
    pc_pool_free(own);
    return 0;
}

static void test_other_process(void)
{
    fork_pool = new_pool(2);
    CHECK_OK(pc_pool_apply_async(fork_pool, task_echo, "ok", 2, NULL, NULL, &fork_result));
    CHECK_OK(pc_async_result_wait(fork_result, 10.0));
    pid_t sub = fork_sub(sub_use_parents_pool, NULL);
    check_sub_ok(sub, 20.0, "the forked process using the parent's pool");
    /* The parent's pool is intact. */
    pc_bytes res;
    int64_t x = 5;
    CHECK_OK(pc_pool_apply(fork_pool, task_square, &x, sizeof x, &res));
    CHECK(bytes_i64(&res) == 25);
    pc_bytes_free(&res);
    size_t count = 0;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 2);
    pc_async_result_free(fork_result);
    CHECK_OK(pc_pool_close(fork_pool));
    CHECK_OK(pc_pool_join(fork_pool));
    pc_pool_free(fork_pool);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool_lifecycle", 25);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_close_join);
    RUN(test_terminate);
    RUN(test_free_running);
    RUN(test_timeouts_under_load);
    RUN(test_interrupt);
    RUN(test_nothing_left);
    RUN(test_other_process);
    /* Last, as it failed when written (a failed check ends the program): a one-worker
     * pool closed and joined left its worker's pidfd open. */
    RUN(test_nothing_left_fresh_process);

    shared_free(S, sizeof *S);
    return tu_done();
}
