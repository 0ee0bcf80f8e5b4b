/*
 * test_pool_callbacks.c: callbacks and threads on a pool (include/processing.h:
 * pc_pool_apply_async, pc_pool_map_async and their callbacks): exactly once, on one
 * library thread of the parent, with their status and results; the callback has run once
 * get/wait return (as in Python); a callback that submits more work; several threads on
 * one pool, one result and one iterator.
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c; the rest of the
 * Pool API in the other test_pool_*.c.
 *
 * `test_pool_callbacks NAME…` runs only the named subtests.
 *
 * Tasks run in the workers: they never use CHECK, they report through their return code
 * and their output.
 *
 * ctest-timeout: 20
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

/* ---- 4. callbacks ---- */
static void test_callbacks(void)
{
    pc_pool *p = new_pool(2);
    pid_t me = getpid();

    /* apply_async: once, on a library thread of this process, with the result. */
    struct cb_rec rec = {0};
    pc_async_result *r;
    int64_t x = 12;
    CHECK_OK(pc_pool_apply_async(p, task_square, &x, sizeof x, cb_record, &rec, &r));
    pc_bytes res;
    CHECK_OK(pc_async_result_get(r, 10.0, &res, 1));
    CHECK(bytes_i64(&res) == 144);
    pc_bytes_free(&res);
    cb_wait_once(&rec, "apply_async");
    CHECK(rec.status == PC_OK);
    CHECK(rec.count == 1);
    CHECK(rec.pid == me);
    CHECK(!pthread_equal(rec.thread, pthread_self()));
    CHECK(bytes_i64(&rec.copies[0]) == 144);
    pthread_t cb_thread = rec.thread;
    cb_rec_free(&rec);
    /* get still works after the callback. */
    CHECK_OK(pc_async_result_get(r, 0, &res, 1));
    CHECK(bytes_i64(&res) == 144);
    pc_bytes_free(&res);
    pc_async_result_free(r);

    /* A failing apply_async: the callback gets PC_ERR_TASK_FAILED, the message on its
     * thread, and an empty result. */
    int code = 9;
    CHECK_OK(pc_pool_apply_async(p, task_fail, &code, sizeof code, cb_record, &rec, &r));
    CHECK_STATUS(pc_async_result_get(r, 10.0, &res, 1), PC_ERR_TASK_FAILED);
    cb_wait_once(&rec, "failing apply_async");
    CHECK(rec.status == PC_ERR_TASK_FAILED);
    CHECK(rec.count == 1);
    CHECK(rec.copies[0].len == 0);
    CHECK(tu_contains(rec.err, "boom-9"));
    CHECK(pthread_equal(rec.thread, cb_thread)); /* one library thread */
    cb_rec_free(&rec);
    pc_async_result_free(r);

    /* map_async: once, with every result in order. */
    enum { N = 300 };
    int64_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i + 20;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    CHECK_OK(pc_pool_map_async(p, task_square, items, N, 0, cb_record, &rec, &r));
    CHECK_OK(pc_async_result_wait(r, 30.0));
    cb_wait_once(&rec, "map_async");
    CHECK(rec.status == PC_OK);
    CHECK(rec.count == N);
    CHECK(pthread_equal(rec.thread, cb_thread));
    for (int i = 0; i < N; i++)
        CHECK(bytes_i64(&rec.copies[i]) == (int64_t)(i + 20) * (i + 20));
    cb_rec_free(&rec);
    pc_async_result_free(r);

    /* A failing map_async (item 13 fails): PC_ERR_TASK_FAILED, the others' results
     * there, the failed one empty. */
    for (int i = 0; i < N; i++)
        xs[i] = i;
    CHECK_OK(pc_pool_map_async(p, task_square, items, N, 1, cb_record, &rec, &r));
    pc_bytes *results = calloc(N, sizeof(pc_bytes));
    CHECK_STATUS(pc_async_result_get(r, 30.0, results, N), PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("unlucky 13");
    for (int i = 0; i < N; i++)
        CHECK(results[i].data == NULL); /* untouched */
    free(results);
    cb_wait_once(&rec, "failing map_async");
    CHECK(rec.status == PC_ERR_TASK_FAILED);
    CHECK(rec.count == N);
    CHECK(tu_contains(rec.err, "unlucky 13"));
    for (int i = 0; i < N; i++) {
        if (i == 13)
            CHECK(rec.copies[i].len == 0);
        else
            CHECK(bytes_i64(&rec.copies[i]) == (int64_t)i * i);
    }
    cb_rec_free(&rec);
    bool ok = true;
    CHECK_OK(pc_async_result_successful(r, &ok));
    CHECK(!ok);
    pc_async_result_free(r);

    /* Many results with callbacks: each called exactly once. */
    enum { K = 40 };
    static struct cb_rec recs[K];
    pc_async_result *rs[K];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < K; i++) {
        x = i + 100; /* not 13 */
        if (i % 2)
            CHECK_OK(pc_pool_apply_async(p, task_square, &x, sizeof x,
                                          cb_record, &recs[i], &rs[i]));
        else
            CHECK_OK(pc_pool_map_async(p, task_square, items, 5, 2, cb_record, &recs[i], &rs[i]));
    }
    /* Half of them freed at once: their callbacks still come. */
    for (int i = 0; i < K; i += 3)
        pc_async_result_free(rs[i]);
    for (int i = 0; i < K; i++) {
        if (!wait_flag(&recs[i].calls, 1, 20.0))
            FAIL("callback %d did not come", i);
    }
    sleep_s(0.1);
    for (int i = 0; i < K; i++) {
        CHECK(atomic_load(&recs[i].calls) == 1);
        CHECK(pthread_equal(recs[i].thread, cb_thread));
        CHECK(recs[i].status == PC_OK);
        CHECK(recs[i].count == (i % 2 ? 1u : 5u));
        if (i % 2)
            CHECK(bytes_i64(&recs[i].copies[0]) == (int64_t)(i + 100) * (i + 100));
        else
            for (int j = 0; j < 5; j++)
                CHECK(bytes_i64(&recs[i].copies[j]) == (int64_t)j * j);
        cb_rec_free(&recs[i]);
        if (i % 3)
            pc_async_result_free(rs[i]);
    }
    pc_pool_free(p);
}

/* As in Python, a callback runs before the waiters of its result are woken: once get or
 * wait returned (or ready is true), the callback has run. */
static atomic_int slow_cb_calls;

static void cb_slow(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    (void)ctx;
    (void)status;
    (void)results;
    (void)count;
    sleep_s(0.1);
    atomic_fetch_add(&slow_cb_calls, 1);
}

static void test_callback_before_waiters(void)
{
    pc_pool *p = new_pool(2);
    for (int i = 0; i < 5; i++) {
        atomic_store(&slow_cb_calls, 0);
        pc_async_result *r;
        pc_bytes res;
        CHECK_OK(pc_pool_apply_async(p, task_echo, "cb", 2, cb_slow, NULL, &r));
        switch (i % 3) {
        case 0:
            CHECK_OK(pc_async_result_get(r, 10.0, &res, 1));
            pc_bytes_free(&res);
            break;
        case 1:
            CHECK_OK(pc_async_result_wait(r, 10.0));
            break;
        default: {
            double deadline = now() + 10.0;
            while (!pc_async_result_ready(r) && now() < deadline)
                sleep_s(0.001);
            break;
        }
        }
        int calls = atomic_load(&slow_cb_calls);
        if (calls != 1)
            FAIL("after %s returned, the result's callback had run %d times (Python runs it "
                 "before the waiters are woken)",
                 i % 3 == 0 ? "get" : i % 3 == 1 ? "wait" : "ready", calls);
        tu_checks++;
        pc_async_result_free(r);
    }
    pc_pool_free(p);
}

/* A callback may submit more work (it must not wait for it: it runs on the thread that
 * files the results). */
struct chain {
    pc_pool *p;
    atomic_int depth;
    pc_async_result *next[8];
    struct cb_rec last;
};

static void cb_chain(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    struct chain *c = ctx;
    int d = atomic_load(&c->depth);
    if (status != PC_OK || count != 1 || d >= 7) {
        cb_record(&c->last, status, results, count);
        return;
    }
    int64_t x;
    memcpy(&x, results[0].data, sizeof x);
    if (pc_pool_apply_async(c->p, task_square, &x, sizeof x, cb_chain, c, &c->next[d]) != PC_OK) {
        cb_record(&c->last, PC_ERR_PANIC, results, count);
        return;
    }
    atomic_store(&c->depth, d + 1);
}

static void test_callback_submits(void)
{
    static struct chain c;
    memset(&c, 0, sizeof c);
    c.p = new_pool(2);
    pc_async_result *r;
    int64_t x = 1; /* 1 squared stays 1: the chain ends at depth 7 with 1 */
    CHECK_OK(pc_pool_apply_async(c.p, task_square, &x, sizeof x, cb_chain, &c, &r));
    cb_wait_once(&c.last, "a chain of callbacks");
    CHECK(c.last.status == PC_OK);
    CHECK(atomic_load(&c.depth) == 7);
    CHECK(bytes_i64(&c.last.copies[0]) == 1);
    cb_rec_free(&c.last);
    pc_async_result_free(r);
    for (int i = 0; i < 7; i++)
        pc_async_result_free(c.next[i]);
    pc_pool_free(c.p);
}

/* ---- several threads on one pool, one result, one iterator ---- */
struct thread_work {
    pc_pool *p;
    pc_async_result *r;
    pc_iter *it;
    int id;
    int errors;
    int got;          /* iterator items taken */
    char seen[256];   /* iterator items seen (index) */
};

static void *thread_apply(void *arg)
{
    struct thread_work *w = arg;
    for (int i = 0; i < 50; i++) {
        int64_t x = w->id * 1000 + i;
        pc_bytes res;
        if (pc_pool_apply(w->p, task_square, &x, sizeof x, &res) != PC_OK) {
            w->errors++;
            continue;
        }
        int64_t y;
        if (res.len != 8 || (memcpy(&y, res.data, 8), y != x * x))
            w->errors++;
        pc_bytes_free(&res);
    }
    return NULL;
}

static void *thread_get(void *arg)
{
    struct thread_work *w = arg;
    pc_bytes res;
    if (pc_async_result_get(w->r, 20.0, &res, 1) != PC_OK)
        w->errors++;
    else {
        if (res.len != 4 || memcmp(res.data, "\x2a\0\0\0", 4) != 0)
            w->errors++;
        pc_bytes_free(&res);
    }
    return NULL;
}

static void *thread_next(void *arg)
{
    struct thread_work *w = arg;
    for (;;) {
        pc_bytes b;
        pc_status st = pc_iter_next(w->it, 20.0, &b);
        if (st == PC_ERR_STOP)
            break;
        if (st != PC_OK || b.len != 8) {
            w->errors++;
            break;
        }
        int64_t y;
        memcpy(&y, b.data, 8);
        pc_bytes_free(&b);
        int64_t i = 0;
        while (i * i < y)
            i++;
        if (i * i != y || i >= 256)
            w->errors++;
        else
            w->seen[i]++;
        w->got++;
    }
    return NULL;
}

static void test_threads(void)
{
    enum { T = 4 };
    pc_pool *p = new_pool(2);
    struct thread_work w[T];
    pthread_t th[T];

    /* pc_pool_apply from 4 threads at once. */
    memset(w, 0, sizeof w);
    for (int i = 0; i < T; i++) {
        w[i].p = p;
        w[i].id = i + 1;
        CHECK(pthread_create(&th[i], NULL, thread_apply, &w[i]) == 0);
    }
    for (int i = 0; i < T; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(w[i].errors == 0);
    }

    /* One result waited for by 4 threads. */
    struct sleep_arg a = sleep_arg(0.2, -1, 42);
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    memset(w, 0, sizeof w);
    for (int i = 0; i < T; i++) {
        w[i].r = r;
        CHECK(pthread_create(&th[i], NULL, thread_get, &w[i]) == 0);
    }
    for (int i = 0; i < T; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(w[i].errors == 0);
    }
    pc_async_result_free(r);

    /* One iterator drained by 4 threads: each item once. */
    enum { N = 200 };
    int64_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i == 13 ? 0 : i; /* 13 would fail: 0 comes twice instead */
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    for (int u = 0; u < 2; u++) {
        pc_iter *it;
        CHECK_OK((u ? pc_pool_imap_unordered : pc_pool_imap)(p, task_square, items, N, 1, &it));
        memset(w, 0, sizeof w);
        for (int i = 0; i < T; i++) {
            w[i].it = it;
            CHECK(pthread_create(&th[i], NULL, thread_next, &w[i]) == 0);
        }
        int total = 0, seen[256] = {0};
        for (int i = 0; i < T; i++) {
            CHECK(pthread_join(th[i], NULL) == 0);
            CHECK(w[i].errors == 0);
            total += w[i].got;
            for (int k = 0; k < 256; k++)
                seen[k] += w[i].seen[k];
        }
        CHECK(total == N);
        for (int k = 0; k < N; k++)
            CHECK(seen[k] == (k == 13 ? 0 : k == 0 ? 2 : 1));
        pc_iter_free(it);
    }
    pc_pool_free(p);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool_callbacks", 15);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_callbacks);
    RUN(test_callback_before_waiters);
    RUN(test_callback_submits);
    RUN(test_threads);

    shared_free(S, sizeof *S);
    return tu_done();
}
