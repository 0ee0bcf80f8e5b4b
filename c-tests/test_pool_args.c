/*
 * test_pool_args.c: bad arguments to the Pool API (include/processing.h: pc_pool_*,
 * pc_async_result_*, pc_iter_*, pc_buffer_write): NULL, wrong-typed and freed handles,
 * NaN timeouts, count mismatches, too many processes; a freed, still pending result is
 * refused.
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c; the rest of the
 * Pool API in the other test_pool_*.c.
 *
 * `test_pool_args NAME…` runs only the named subtests.
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

/* pc_buffer_write's checks inside a task: writes "ok" and returns 0 when all hold,
 * otherwise a code and what went wrong. */
static int task_buffer_checks(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    char why[300];
    if (pc_buffer_write(result, NULL, 5) != PC_ERR_INVALID_ARGUMENT) {
        pc_buffer_write(result, "NULL data accepted", 18);
        return 1;
    }
    if (!tu_contains(pc_last_error(), "pc_buffer_write") || !tu_contains(pc_last_error(), "data")) {
        int n = snprintf(why, sizeof why, "NULL data: message \"%s\"", pc_last_error());
        pc_buffer_write(result, why, (size_t)n);
        return 2;
    }
    if (pc_buffer_write(result, NULL, 0) != PC_OK) {
        pc_buffer_write(result, "(NULL, 0) refused", 17);
        return 3;
    }
    uint64_t bogus[8] = {0};
    if (pc_buffer_write((pc_buffer *)bogus, "x", 1) != PC_ERR_INVALID_ARGUMENT) {
        pc_buffer_write(result, "bogus b accepted", 16);
        return 4;
    }
    if (pc_buffer_write(result, "o", 1) != PC_OK || pc_buffer_write(result, "k", 1) != PC_OK)
        return 5;
    return 0;
}

/* ---- 1. bad arguments ---- */
static void test_bad_arguments(void)
{
    pc_pool *p = new_pool(2);
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    pc_pool *wrong_pool = (pc_pool *)lock;
    pc_bytes res = {(uint8_t *)"sentinel", 8};
    pc_async_result *r = NULL;
    pc_iter *it = NULL;
    pc_slice items[3] = {{"a", 1}, {NULL, 3}, {"c", 1}};
    pc_bytes results[3];
    bool ok = false;
    double d[4] = {1, 2, 3, 4}, o4[4];

    /* pc_pool_new */
    CHECK_STATUS(pc_pool_new(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_new");
    CHECK_ERRMSG("out");
    pc_pool *q = NULL;
    pc_pool_options big = {.processes = PC_POOL_MAX_PROCESSES + 1};
    CHECK_STATUS(pc_pool_new(&big, &q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_new");
    CHECK_ERRMSG("processes");
    CHECK(q == NULL);
    big.processes = SIZE_MAX;
    CHECK_STATUS(pc_pool_new(&big, &q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("processes");
    CHECK(q == NULL);

    /* pc_pool_apply */
    CHECK_STATUS(pc_pool_apply(NULL, task_echo, "x", 1, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_apply");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_apply(wrong_pool, task_echo, "x", 1, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_apply(p, NULL, "x", 1, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(pc_pool_apply(p, task_echo, NULL, 5, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("arg");
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("result");
    CHECK(res.len == 8 && memcmp(res.data, "sentinel", 8) == 0); /* untouched */
    /* (NULL, 0) is the empty argument. */
    CHECK_OK(pc_pool_apply(p, task_echo, NULL, 0, &res));
    CHECK(res.len == 0);
    pc_bytes_free(&res);

    /* pc_pool_apply_async */
    CHECK_STATUS(pc_pool_apply_async(NULL, task_echo, "x", 1, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_apply_async");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_apply_async(wrong_pool, task_echo, "x", 1, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_apply_async(p, NULL, "x", 1, NULL, NULL, &r), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(pc_pool_apply_async(p, task_echo, NULL, 2, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("arg");
    CHECK_STATUS(pc_pool_apply_async(p, task_echo, "x", 1, NULL, NULL, NULL),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    CHECK(r == NULL);

    /* pc_pool_map */
    CHECK_STATUS(pc_pool_map(NULL, task_echo, items, 1, 0, results), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_map");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_map(wrong_pool, task_echo, items, 1, 0, results), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_map(p, NULL, items, 1, 0, results), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(pc_pool_map(p, task_echo, NULL, 2, 0, results), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items");
    CHECK_STATUS(pc_pool_map(p, task_echo, items, 1, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("results");
    CHECK_STATUS(pc_pool_map(p, task_echo, items, 3, 0, results), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items"); /* items[1] is (NULL, 3) */
    CHECK_OK(pc_pool_map(p, task_echo, NULL, 0, 0, NULL));
    CHECK_OK(pc_pool_map(p, task_echo, NULL, 0, 5, NULL));

    /* pc_pool_map_async */
    CHECK_STATUS(pc_pool_map_async(NULL, task_echo, items, 1, 0, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_map_async");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_map_async(wrong_pool, task_echo, items, 1, 0, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_map_async(p, NULL, items, 1, 0, NULL, NULL, &r), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(pc_pool_map_async(p, task_echo, NULL, 1, 0, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items");
    CHECK_STATUS(pc_pool_map_async(p, task_echo, items, 3, 0, NULL, NULL, &r),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items");
    CHECK_STATUS(pc_pool_map_async(p, task_echo, items, 1, 0, NULL, NULL, NULL),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    CHECK(r == NULL);

    /* pc_pool_imap, pc_pool_imap_unordered */
    for (int unordered = 0; unordered < 2; unordered++) {
        pc_status (*imap)(pc_pool *, pc_task_fn, const pc_slice *, size_t, size_t, pc_iter **) =
            unordered ? pc_pool_imap_unordered : pc_pool_imap;
        const char *name = unordered ? "pc_pool_imap_unordered" : "pc_pool_imap";
        CHECK_STATUS(imap(NULL, task_echo, items, 1, 0, &it), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG(name);
        CHECK_ERRMSG("p is NULL");
        CHECK_STATUS(imap(wrong_pool, task_echo, items, 1, 0, &it), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("is not a pc_pool");
        CHECK_STATUS(imap(p, NULL, items, 1, 0, &it), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("fn");
        CHECK_STATUS(imap(p, task_echo, NULL, 1, 0, &it), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("items");
        CHECK_STATUS(imap(p, task_echo, items, 3, 0, &it), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("items");
        CHECK_STATUS(imap(p, task_echo, items, 1, 0, NULL), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("out");
        CHECK(it == NULL);
    }

    /* pc_pool_map_array */
    CHECK_STATUS(
        pc_pool_map_array(NULL, elem_double, &array_ctx, sizeof array_ctx, d, 8, o4, 8, 4, 0),
        PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_map_array");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_map_array(wrong_pool, elem_double, &array_ctx, sizeof array_ctx, d, 8,
                                   o4, 8, 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_map_array(p, NULL, &array_ctx, sizeof array_ctx, d, 8, o4, 8, 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, NULL, 8, o4, 8, 4, 0),
        PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("in is NULL");
    CHECK_STATUS(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, d, 8, NULL, 8, 4, 0),
        PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, d, 8, o4, 8,
                                   SIZE_MAX / 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("overflow");
    CHECK_STATUS(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, d, 1, o4,
                                   SIZE_MAX / 2, 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("overflow");
    CHECK_OK(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, NULL, 8, NULL, 8, 0, 0));
    /* The context is copied for the call: a NULL one has no bytes, and a non-NULL one
     * needs its size (a caller of the old signature, which took the pointer alone, gets an
     * error instead of a stale context). */
    CHECK_STATUS(pc_pool_map_array(p, elem_double, NULL, sizeof array_ctx, d, 8, o4, 8, 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("ctx is NULL");
    CHECK_STATUS(pc_pool_map_array(p, elem_double, &array_ctx, 0, d, 8, o4, 8, 4, 0),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("ctx_len is 0");
    CHECK_ERRMSG("copied");

    /* pc_pool_close, _terminate, _join, _free */
    CHECK_STATUS(pc_pool_close(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_close");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_close(wrong_pool), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_terminate(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_terminate");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_terminate(wrong_pool), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_STATUS(pc_pool_join(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_join");
    CHECK_ERRMSG("p is NULL");
    CHECK_STATUS(pc_pool_join(wrong_pool), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_pool");
    pc_pool_free(NULL); /* a no-op */
    pc_pool_free(wrong_pool); /* refused, reported, nothing freed */
    CHECK_ERRMSG("pc_pool_free");
    CHECK_ERRMSG("is not a pc_pool");
    CHECK_OK(pc_lock_acquire(lock, 0)); /* the lock is intact */
    CHECK_OK(pc_lock_release(lock));

    /* pc_buffer_write outside a task: NULL and a bogus pointer. */
    CHECK_STATUS(pc_buffer_write(NULL, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_buffer_write");
    CHECK_ERRMSG("b");
    uint64_t bogus[8] = {0};
    CHECK_STATUS(pc_buffer_write((pc_buffer *)bogus, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_buffer_write");
    CHECK_STATUS(pc_buffer_write((pc_buffer *)lock, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_buffer_write");
    CHECK_OK(pc_lock_acquire(lock, 0));
    CHECK_OK(pc_lock_release(lock));
    /* … and inside a task: NULL data with a length, (NULL, 0), a bogus buffer. */
    CHECK_OK(pc_pool_apply(p, task_buffer_checks, NULL, 0, &res));
    CHECK(res.len == 2 && memcmp(res.data, "ok", 2) == 0);
    pc_bytes_free(&res);

    /* Async results and iterators. */
    struct sleep_arg slow = sleep_arg(5.0, -1, 1);
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &slow, sizeof slow, NULL, NULL, &r));
    CHECK(r != NULL);
    CHECK_OK(pc_pool_imap(p, task_echo, items, 1, 0, &it));
    CHECK(it != NULL);
    pc_async_result *wrong_r = (pc_async_result *)lock;
    pc_iter *wrong_it = (pc_iter *)r;

    CHECK_STATUS(pc_async_result_get(NULL, 0, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_async_result_get");
    CHECK_ERRMSG("r is NULL");
    CHECK_STATUS(pc_async_result_get(wrong_r, 0, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_async_result");
    CHECK_STATUS(pc_async_result_get((pc_async_result *)p, 0, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_async_result");
    CHECK_STATUS(pc_async_result_get((pc_async_result *)it, 0, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_async_result");
    CHECK_STATUS(pc_async_result_get(r, NAN, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    CHECK_STATUS(pc_async_result_get(r, 0, &res, 2), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count");
    CHECK_STATUS(pc_async_result_get(r, 0, results, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count");
    CHECK_STATUS(pc_async_result_get(r, 0, NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("results");

    CHECK_STATUS(pc_async_result_wait(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_async_result_wait");
    CHECK_ERRMSG("r is NULL");
    CHECK_STATUS(pc_async_result_wait(wrong_r, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_async_result");
    CHECK_STATUS(pc_async_result_wait(r, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");

    CHECK(!pc_async_result_ready(NULL));
    CHECK_ERRMSG("pc_async_result_ready");
    CHECK_ERRMSG("r is NULL");
    CHECK(!pc_async_result_ready(wrong_r));
    CHECK_ERRMSG("is not a pc_async_result");

    CHECK_STATUS(pc_async_result_successful(NULL, &ok), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_async_result_successful");
    CHECK_ERRMSG("r is NULL");
    CHECK_STATUS(pc_async_result_successful(wrong_r, &ok), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_async_result");
    CHECK_STATUS(pc_async_result_successful(r, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");

    CHECK_STATUS(pc_iter_next(NULL, 0, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_iter_next");
    CHECK_ERRMSG("it is NULL");
    CHECK_STATUS(pc_iter_next(wrong_it, 0, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_iter");
    CHECK_STATUS(pc_iter_next((pc_iter *)lock, 0, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_iter");
    CHECK_STATUS(pc_iter_next(it, NAN, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    CHECK_STATUS(pc_iter_next(it, 1.0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    /* The refused calls moved nothing: the one item is still there, then the end. */
    CHECK_OK(pc_iter_next(it, 10.0, &res));
    CHECK(res.len == 1 && res.data[0] == 'a');
    pc_bytes_free(&res);
    CHECK_STATUS(pc_iter_next(it, 10.0, &res), PC_ERR_STOP);

    /* Wrong-typed frees are refused and free nothing. */
    pc_async_result_free(NULL);
    pc_iter_free(NULL);
    pc_async_result_free((pc_async_result *)it);
    CHECK_ERRMSG("pc_async_result_free");
    CHECK_ERRMSG("is not a pc_async_result");
    pc_iter_free((pc_iter *)r);
    CHECK_ERRMSG("pc_iter_free");
    CHECK_ERRMSG("is not a pc_iter");
    CHECK_STATUS(pc_iter_next(it, 0, &res), PC_ERR_STOP); /* it is intact */
    CHECK(!pc_async_result_ready(r));                     /* r too (still running) */
    CHECK_STATUS(pc_async_result_wait(r, 0), PC_ERR_TIMEOUT);
    pc_iter_free(it);

    pc_async_result_free(r);
    pc_pool_free(p); /* terminates the pool, with the slow task running */
    pc_lock_free(lock);
}

/* A freed result whose task still runs: its memory is still the pool's, so a use of
 * the freed handle is detectable (include/processing.h: PC_ERR_INVALID_ARGUMENT), and must
 * be refused. */
static void test_freed_result(void)
{
    pc_pool *p = new_pool(1);
    struct sleep_arg slow = sleep_arg(5.0, -1, 1);
    pc_async_result *r;
    pc_bytes res = {NULL, 0};
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &slow, sizeof slow, NULL, NULL, &r));
    /* A freed result whose task still runs: its memory is still the pool's, so using it
     * again is detectable, and refused. */
    pc_async_result_free(r);
    CHECK(!pc_async_result_ready(r));
    CHECK_ERRMSG("pc_async_result_ready");
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_async_result_wait(r, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    CHECK_STATUS(pc_async_result_get(r, 0, &res, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
    pc_async_result_free(r); /* a second free is reported, not a crash */
    CHECK_ERRMSG("pc_async_result_free");
    CHECK_ERRMSG("already freed");

    pc_pool_free(p);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool_args", 15);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_bad_arguments);
    /* Last, as it failed when written (a failed check ends the program): a freed, still
     * pending result was used without error. */
    RUN(test_freed_result);

    shared_free(S, sizeof *S);
    return tu_done();
}
