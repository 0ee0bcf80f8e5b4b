/*
 * test_pool_api.c: the Pool API at work (include/processing.h: pc_pool_apply*,
 * pc_pool_map*, pc_pool_imap*, pc_async_result_*, pc_iter_*): apply and apply_async with
 * get, wait, ready and successful, timeouts that never end early; the workers; map /
 * map_async / imap / imap_unordered over 1000 items of varying sizes with chunksizes 1, 7
 * and the default, empty inputs; failing tasks (code and output in pc_last_error, no
 * fail-fast, imap goes on); the initializer once per worker; max_tasks_per_child; the
 * workers' signal mask.
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c; the rest of the
 * Pool API in the other test_pool_*.c.
 *
 * `test_pool_api NAME…` runs only the named subtests.
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

/* Set by the initializer in each worker; read by tasks. */
static int init_global = 0;

static int init_magic = 4242; /* the initializer's argument: a global, valid in workers */

/* The transformation the map tests check: the bytes reversed and xor 0x5a, then the
 * length as a uint32 (written in two pieces: results append). */
static void xform(const uint8_t *in, size_t len, uint8_t *out)
{
    for (size_t j = 0; j < len; j++)
        out[j] = in[len - 1 - j] ^ 0x5a;
    uint32_t l = (uint32_t)len;
    memcpy(out + len, &l, 4);
}

static int task_xform(const void *arg, size_t len, pc_buffer *result)
{
    uint8_t *out = malloc(len + 4);
    if (!out)
        return 101;
    xform(arg, len, out);
    int rc = 0;
    if (pc_buffer_write(result, out, len) != PC_OK)
        rc = 102;
    else if (pc_buffer_write(result, out + len, 4) != PC_OK)
        rc = 103;
    free(out);
    return rc;
}

static int task_getpid(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    int32_t pid = (int32_t)getpid();
    return pc_buffer_write(result, &pid, sizeof pid) == PC_OK ? 0 : 500;
}

/* What a worker is: "<pid> <daemon 0/1> <name>". */
static int task_whoami(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    const pc_process *me = NULL;
    if (pc_current_process(&me) != PC_OK || !me)
        return 600;
    const char *name = pc_process_name(me);
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%d %d %s", (int)getpid(), pc_process_daemon(me) ? 1 : 0,
                     name ? name : "(null)");
    return pc_buffer_write(result, buf, (size_t)n) == PC_OK ? 0 : 601;
}

/* Returns what the initializer left in init_global. */
static int task_read_init(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    return pc_buffer_write(result, &init_global, sizeof init_global) == PC_OK ? 0 : 700;
}

static void initializer(void *initarg)
{
    atomic_fetch_add(&S->init_calls, 1);
    init_global = *(const int *)initarg;
}

/* Makes a pool in a worker (a daemonic process): writes the status as an int. */
static int task_pool_in_worker(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    pc_pool_options o = {.processes = 1};
    pc_pool *q = NULL;
    int st = pc_pool_new(&o, &q);
    pc_pool_free(q);
    char buf[300];
    int n = snprintf(buf, sizeof buf, "%d %s", st, pc_last_error());
    pc_buffer_write(result, buf, (size_t)n);
    return 0;
}

static struct items make_items(size_t n)
{
    struct items it = {n, calloc(n, sizeof(pc_slice)), calloc(n, sizeof(uint8_t *))};
    CHECK(it.s && it.buf);
    for (size_t i = 0; i < n; i++) {
        size_t len = (i % 5 == 0) ? 0 : 4 + (i * 37) % 600;
        if (len) {
            it.buf[i] = malloc(len);
            CHECK(it.buf[i]);
            uint32_t idx = (uint32_t)i;
            fill_pattern(it.buf[i], len, (unsigned)i);
            memcpy(it.buf[i], &idx, 4);
        }
        it.s[i].data = it.buf[i];
        it.s[i].len = len;
    }
    return it;
}

static void free_items(struct items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->buf[i]);
    free(it->buf);
    free(it->s);
}

/* Whether `got` is xform(item). */
static bool xform_matches(const pc_bytes *got, const pc_slice *item)
{
    if (got->len != item->len + 4)
        return false;
    uint8_t *want = malloc(item->len + 4);
    CHECK(want);
    xform(item->data, item->len, want);
    bool same = memcmp(got->data, want, item->len + 4) == 0;
    free(want);
    return same;
}

static void check_xform_results(pc_bytes *res, const struct items *it, const char *what)
{
    for (size_t i = 0; i < it->n; i++) {
        tu_checks++;
        if (!xform_matches(&res[i], &it->s[i]))
            FAIL("%s: result %zu is %zu bytes, not xform of its %zu-byte item", what, i,
                 res[i].len, it->s[i].len);
    }
}

/* ---- 2. apply and apply_async ---- */
static void test_apply(void)
{
    pc_pool *p = new_pool(2);
    pc_bytes res = {NULL, 0};
    check_apply(p);

    /* apply_async: get, wait, ready, successful on a slow task (0.3 s). */
    struct sleep_arg a = sleep_arg(0.3, -1, 1234);
    pc_async_result *r;
    double t0 = now();
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    a.value = -1; /* the argument was copied: changing it now changes nothing */
    CHECK(!pc_async_result_ready(r));
    bool ok = true;
    CHECK_STATUS(pc_async_result_successful(r, &ok), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_async_result_successful");
    CHECK(ok == true); /* untouched */
    double t1 = now();
    CHECK_STATUS(pc_async_result_get(r, 0.05, &res, 1), PC_ERR_TIMEOUT);
    double took = now() - t1;
    if (took < 0.0495 || took > 1.0)
        FAIL("get(0.05) on a 0.3 s task returned after %.3f s", took);
    CHECK_ERRMSG("pc_async_result_get");
    CHECK(res.data == NULL); /* untouched */
    t1 = now();
    CHECK_STATUS(pc_async_result_get(r, 0, &res, 1), PC_ERR_TIMEOUT);
    CHECK(now() - t1 < 0.5);
    t1 = now();
    CHECK_STATUS(pc_async_result_wait(r, 0.02), PC_ERR_TIMEOUT);
    CHECK(now() - t1 >= 0.0195);
    CHECK_ERRMSG("pc_async_result_wait");
    CHECK_OK(pc_async_result_wait(r, 10.0));
    CHECK(now() - t0 >= 0.29); /* not before the task could end */
    CHECK(pc_async_result_ready(r));
    CHECK_OK(pc_async_result_successful(r, &ok));
    CHECK(ok);
    CHECK_OK(pc_async_result_get(r, 0, &res, 1));
    CHECK(bytes_i32(&res) == 1234);
    pc_bytes_free(&res);
    /* get again: the same result, copied again. */
    CHECK_OK(pc_async_result_get(r, PC_FOREVER, &res, 1));
    CHECK(bytes_i32(&res) == 1234);
    pc_bytes res2 = {NULL, 0};
    CHECK_OK(pc_async_result_get(r, 1.0, &res2, 1));
    CHECK(bytes_i32(&res2) == 1234);
    CHECK(res2.data != res.data);
    pc_bytes_free(&res);
    pc_bytes_free(&res2);
    CHECK_OK(pc_async_result_wait(r, 0));
    pc_async_result_free(r);

    /* A failing apply_async: successful is false, get returns the failure (repeatedly). */
    int code = 42;
    CHECK_OK(pc_pool_apply_async(p, task_fail, &code, sizeof code, NULL, NULL, &r));
    CHECK_OK(pc_async_result_wait(r, 10.0));
    CHECK(pc_async_result_ready(r));
    CHECK_OK(pc_async_result_successful(r, &ok));
    CHECK(!ok);
    for (int i = 0; i < 2; i++) {
        res.data = NULL;
        res.len = 77;
        CHECK_STATUS(pc_async_result_get(r, 0, &res, 1), PC_ERR_TASK_FAILED);
        CHECK_ERRMSG("42");
        CHECK_ERRMSG("boom-42");
        CHECK(res.data == NULL && res.len == 77); /* untouched */
    }
    pc_async_result_free(r);

    /* Many in flight at once, each with its own result. */
    enum { K = 50 };
    pc_async_result *rs[K];
    for (int i = 0; i < K; i++) {
        int64_t x = i + 100;
        CHECK_OK(pc_pool_apply_async(p, task_square, &x, sizeof x, NULL, NULL, &rs[i]));
    }
    for (int i = 0; i < K; i++) {
        CHECK_OK(pc_async_result_get(rs[i], 10.0, &res, 1));
        CHECK(bytes_i64(&res) == (int64_t)(i + 100) * (i + 100));
        pc_bytes_free(&res);
        pc_async_result_free(rs[i]);
    }

    /* A result freed before it is ready, and one freed after its pool. */
    a = sleep_arg(0.2, -1, 5);
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    pc_async_result_free(r);
    CHECK_OK(pc_pool_apply_async(p, task_echo, "late", 4, NULL, NULL, &r));
    CHECK_OK(pc_async_result_wait(r, 10.0));
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    CHECK_OK(pc_async_result_get(r, 0, &res, 1));
    CHECK(res.len == 4 && memcmp(res.data, "late", 4) == 0);
    pc_bytes_free(&res);
    pc_async_result_free(r);
}

/* ---- the workers ---- */
static void test_workers(void)
{
    /* Workers are daemonic children named PoolWorker-N; pc_active_children lists them. */
    size_t before = 99;
    CHECK_OK(pc_active_children(NULL, 0, &before));
    pc_pool *p = new_pool(3);
    size_t count = 0;
    pc_process *kids[16];
    CHECK_OK(pc_active_children(kids, 16, &count));
    CHECK(count == before + 3);
    pid_t worker_pids[3];
    int found = 0;
    for (size_t i = 0; i < count && i < 16; i++) {
        const char *name = pc_process_name(kids[i]);
        CHECK(name != NULL);
        if (strncmp(name, "PoolWorker-", 11) == 0) {
            CHECK(pc_process_daemon(kids[i]));
            CHECK(found < 3);
            worker_pids[found++] = pc_process_pid(kids[i]);
        }
    }
    CHECK(found == 3);

    /* Inside a task: the worker's own process object. */
    pc_slice items[12];
    for (int i = 0; i < 12; i++)
        items[i] = (pc_slice){NULL, 0};
    pc_bytes res[12];
    CHECK_OK(pc_pool_map(p, task_whoami, items, 12, 1, res));
    for (int i = 0; i < 12; i++) {
        char s[300];
        snprintf(s, sizeof s, "%.*s", (int)res[i].len, (const char *)res[i].data);
        int pid = 0, daemon = -1, n = 0;
        char name[200] = "";
        if (sscanf(s, "%d %d %199s%n", &pid, &daemon, name, &n) != 3)
            FAIL("task_whoami returned \"%s\"", s);
        if (strncmp(name, "PoolWorker-", 11) != 0 || daemon != 1)
            FAIL("a task runs in \"%s\"", s);
        bool known = false;
        for (int w = 0; w < 3; w++)
            known = known || worker_pids[w] == pid;
        if (!known)
            FAIL("a task ran in pid %d, not one of the 3 workers pc_active_children lists", pid);
        CHECK(pid != getpid());
    }
    free_results(res, 12);

    /* A worker is daemonic: it cannot make a pool of its own. */
    pc_bytes out;
    CHECK_OK(pc_pool_apply(p, task_pool_in_worker, NULL, 0, &out));
    char s[400];
    snprintf(s, sizeof s, "%.*s", (int)out.len, (const char *)out.data);
    pc_bytes_free(&out);
    int st = 0;
    CHECK(sscanf(s, "%d", &st) == 1);
    if (st != PC_ERR_WRONG_STATE)
        FAIL("pc_pool_new in a worker returned \"%s\", expected %d (PC_ERR_WRONG_STATE)", s,
             PC_ERR_WRONG_STATE);
    CHECK(tu_contains(s, "pc_pool_new"));
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));

    /* opts NULL (and processes 0): one worker per CPU. */
    int cpus = pc_cpu_count();
    CHECK(cpus >= 1);
    for (int k = 0; k < 2; k++) {
        pc_pool_options zero = {0};
        CHECK_OK(pc_pool_new(k ? &zero : NULL, &p));
        CHECK_OK(pc_active_children(NULL, 0, &count));
        if (count != before + (size_t)cpus)
            FAIL("a default pool has %zu workers, pc_cpu_count() is %d", count - before, cpus);
        pc_bytes r1;
        CHECK_OK(pc_pool_apply(p, task_echo, "d", 1, &r1));
        pc_bytes_free(&r1);
        pc_pool_free(p);
    }
    CHECK(wait_no_children(5.0));
}

/* ---- 3. map, map_async, imap, imap_unordered ---- */
static int cmp_bytes(const void *a, const void *b)
{
    const pc_bytes *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static void test_map(void)
{
    pc_pool *p = new_pool(3);
    enum { N = 1000 };
    struct items it = make_items(N);
    pc_bytes *res = calloc(N, sizeof(pc_bytes));
    CHECK(res);
    char what[64];

    /* map with chunksizes 1, 7, 0 (default), and one larger than n. */
    size_t chunks[] = {1, 7, 0, 5000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        CHECK_OK(pc_pool_map(p, task_xform, it.s, N, chunks[c], res));
        snprintf(what, sizeof what, "map chunksize %zu", chunks[c]);
        check_xform_results(res, &it, what);
        free_results(res, N);
    }

    /* map_async (items copied before it returns). */
    for (size_t c = 0; c < 3; c++) {
        struct items copy = make_items(N);
        pc_async_result *r;
        CHECK_OK(pc_pool_map_async(p, task_xform, copy.s, N, chunks[c], NULL, NULL, &r));
        free_items(&copy); /* the items were copied */
        CHECK_STATUS(pc_async_result_get(r, 30.0, res, N - 1), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("count");
        CHECK_OK(pc_async_result_get(r, 30.0, res, N));
        snprintf(what, sizeof what, "map_async chunksize %zu", chunks[c]);
        check_xform_results(res, &it, what);
        free_results(res, N);
        bool ok = false;
        CHECK_OK(pc_async_result_successful(r, &ok));
        CHECK(ok);
        pc_async_result_free(r);
    }

    /* imap: in order, with chunksizes 1 (0 is 1), 7. */
    for (size_t c = 0; c < 3; c++) {
        pc_iter *iter;
        CHECK_OK(pc_pool_imap(p, task_xform, it.s, N, chunks[c], &iter));
        for (size_t i = 0; i < N; i++) {
            pc_bytes b = {NULL, 0};
            CHECK_OK(pc_iter_next(iter, 30.0, &b));
            tu_checks++;
            if (!xform_matches(&b, &it.s[i]))
                FAIL("imap chunksize %zu: result %zu is not its item's", chunks[c], i);
            pc_bytes_free(&b);
        }
        pc_bytes b = {(uint8_t *)"x", 1};
        CHECK_STATUS(pc_iter_next(iter, 30.0, &b), PC_ERR_STOP);
        CHECK_ERRMSG("pc_iter_next");
        CHECK(b.len == 1); /* untouched */
        CHECK_STATUS(pc_iter_next(iter, 0, &b), PC_ERR_STOP); /* and stays so */
        pc_iter_free(iter);
    }

    /* imap_unordered: the same multiset of results. */
    for (size_t c = 0; c < 2; c++) {
        pc_iter *iter;
        CHECK_OK(pc_pool_imap_unordered(p, task_xform, it.s, N, chunks[c], &iter));
        for (size_t i = 0; i < N; i++)
            CHECK_OK(pc_iter_next(iter, 30.0, &res[i]));
        pc_bytes b;
        CHECK_STATUS(pc_iter_next(iter, 30.0, &b), PC_ERR_STOP);
        pc_iter_free(iter);
        pc_bytes *want = calloc(N, sizeof(pc_bytes));
        CHECK(want);
        for (size_t i = 0; i < N; i++) {
            want[i].len = it.s[i].len + 4;
            want[i].data = malloc(want[i].len);
            xform(it.s[i].data, it.s[i].len, want[i].data);
        }
        qsort(res, N, sizeof(pc_bytes), cmp_bytes);
        qsort(want, N, sizeof(pc_bytes), cmp_bytes);
        for (size_t i = 0; i < N; i++) {
            tu_checks++;
            if (cmp_bytes(&res[i], &want[i]) != 0)
                FAIL("imap_unordered chunksize %zu: the results are not those of the items",
                     chunks[c]);
        }
        for (size_t i = 0; i < N; i++)
            free(want[i].data);
        free(want);
        free_results(res, N);
    }

    /* An iterator's timeout on a slow item never ends early; then the item comes. */
    struct sleep_arg a = sleep_arg(0.3, -1, 9);
    pc_slice slow = {&a, sizeof a};
    pc_iter *iter;
    CHECK_OK(pc_pool_imap(p, task_sleep, &slow, 1, 0, &iter));
    double t0 = now();
    pc_bytes b = {NULL, 0};
    CHECK_STATUS(pc_iter_next(iter, 0.05, &b), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.0495 || took > 1.0)
        FAIL("pc_iter_next(0.05) on a 0.3 s task returned after %.3f s", took);
    CHECK_ERRMSG("pc_iter_next");
    CHECK(b.data == NULL);
    CHECK_STATUS(pc_iter_next(iter, 0, &b), PC_ERR_TIMEOUT);
    CHECK_OK(pc_iter_next(iter, 10.0, &b)); /* the timeouts did not skip it */
    CHECK(bytes_i32(&b) == 9);
    pc_bytes_free(&b);
    CHECK_STATUS(pc_iter_next(iter, 10.0, &b), PC_ERR_STOP);
    pc_iter_free(iter);

    /* An iterator freed before its results came: its tasks still run. */
    atomic_store(&S->started, 0);
    pc_slice two[2] = {{&a, sizeof a}, {&a, sizeof a}};
    a.seconds = 0.05;
    CHECK_OK(pc_pool_imap(p, task_sleep, two, 2, 1, &iter));
    pc_iter_free(iter);
    CHECK(wait_flag(&S->started, 2, 10.0));

    /* Empty inputs. */
    CHECK_OK(pc_pool_map(p, task_xform, it.s, 0, 0, res));
    CHECK_OK(pc_pool_map(p, task_xform, NULL, 0, 3, NULL));
    struct cb_rec rec = {0};
    pc_async_result *r;
    CHECK_OK(pc_pool_map_async(p, task_xform, NULL, 0, 0, cb_record, &rec, &r));
    CHECK_OK(pc_async_result_wait(r, 10.0));
    CHECK(pc_async_result_ready(r));
    CHECK_OK(pc_async_result_get(r, 0, NULL, 0));
    bool ok = false;
    CHECK_OK(pc_async_result_successful(r, &ok));
    CHECK(ok);
    cb_wait_once(&rec, "empty map_async");
    CHECK(rec.status == PC_OK);
    CHECK(rec.count == 0);
    CHECK(!pthread_equal(rec.thread, pthread_self()));
    cb_rec_free(&rec);
    pc_async_result_free(r);
    /* … with an explicit chunksize too (processing 0.52 never made that ready). */
    struct cb_rec rec2 = {0};
    CHECK_OK(pc_pool_map_async(p, task_xform, NULL, 0, 4, cb_record, &rec2, &r));
    CHECK_OK(pc_async_result_get(r, 10.0, NULL, 0));
    cb_wait_once(&rec2, "empty map_async, chunksize 4");
    CHECK(rec2.count == 0 && rec2.status == PC_OK);
    pc_async_result_free(r);
    for (int u = 0; u < 2; u++) {
        CHECK_OK((u ? pc_pool_imap_unordered : pc_pool_imap)(p, task_xform, NULL, 0, 0, &iter));
        t0 = now();
        CHECK_STATUS(pc_iter_next(iter, 10.0, &b), PC_ERR_STOP);
        CHECK(now() - t0 < 5.0);
        CHECK_STATUS(pc_iter_next(iter, PC_FOREVER, &b), PC_ERR_STOP);
        pc_iter_free(iter);
    }
    CHECK_OK(
        pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, NULL, 8, NULL, 8, 0, 0));
    double din = 1, dout = -7;
    CHECK_OK(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, &din, 8, &dout, 8,
                               0, 0));
    CHECK(dout == -7);

    free(res);
    free_items(&it);
    pc_pool_free(p);
}

/* ---- 5. failing tasks ---- */
static void test_failures(void)
{
    pc_pool *p = new_pool(2);

    /* apply: the code and what the task wrote are in pc_last_error; result untouched. */
    int codes[] = {1, 42, -3, 255, 1000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pc_bytes res = {(uint8_t *)"sentinel", 8};
        CHECK_STATUS(pc_pool_apply(p, task_fail, &codes[i], sizeof codes[i], &res),
                     PC_ERR_TASK_FAILED);
        char want[32];
        snprintf(want, sizeof want, "boom-%d", codes[i]);
        CHECK_ERRMSG(want);
        snprintf(want, sizeof want, "%d", codes[i]);
        CHECK_ERRMSG(want);
        CHECK_ERRMSG("pc_pool_apply");
        CHECK(res.len == 8 && memcmp(res.data, "sentinel", 8) == 0);
    }
    /* The pool goes on. */
    pc_bytes res;
    CHECK_OK(pc_pool_apply(p, task_echo, "on", 2, &res));
    CHECK(res.len == 2);
    pc_bytes_free(&res);

    /* map with one failing item (13 of 0..499): PC_ERR_TASK_FAILED once every task
     * ended (no fail-fast: the 499 others all ran), results untouched. */
    enum { N = 500 };
    int64_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes *results = calloc(N, sizeof(pc_bytes));
    size_t chunks[] = {1, 7, 0};
    for (size_t c = 0; c < 3; c++) {
        atomic_store(&S->ran, 0);
        for (int i = 0; i < N; i++)
            results[i] = (pc_bytes){(uint8_t *)"s", 1};
        CHECK_STATUS(pc_pool_map(p, task_square, items, N, chunks[c], results), PC_ERR_TASK_FAILED);
        CHECK_ERRMSG("pc_pool_map");
        CHECK_ERRMSG("unlucky 13");
        CHECK_ERRMSG("13");
        int ran = atomic_load(&S->ran);
        if (ran != N - 1)
            FAIL("map chunksize %zu failed after %d of the %d other items ran", chunks[c], ran,
                 N - 1);
        for (int i = 0; i < N; i++)
            CHECK(results[i].len == 1 && results[i].data[0] == 's');
    }
    free(results);

    /* imap: the failing item is its error, and the iterator goes on. */
    for (size_t c = 0; c < 3; c++) {
        pc_iter *it;
        CHECK_OK(pc_pool_imap(p, task_square, items, 40, chunks[c], &it));
        for (int i = 0; i < 40; i++) {
            pc_bytes b = {NULL, 0};
            if (i == 13) {
                CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_TASK_FAILED);
                CHECK_ERRMSG("pc_iter_next");
                CHECK_ERRMSG("unlucky 13");
                CHECK(b.data == NULL);
            } else {
                CHECK_OK(pc_iter_next(it, 10.0, &b));
                CHECK(bytes_i64(&b) == (int64_t)i * i);
                pc_bytes_free(&b);
            }
        }
        pc_bytes b;
        CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
        pc_iter_free(it);
    }
    /* imap_unordered: one failure among the 40. */
    pc_iter *it;
    CHECK_OK(pc_pool_imap_unordered(p, task_square, items, 40, 1, &it));
    int failures = 0, oks = 0;
    int64_t sum = 0;
    for (int i = 0; i < 40; i++) {
        pc_bytes b = {NULL, 0};
        pc_status st = pc_iter_next(it, 10.0, &b);
        if (st == PC_ERR_TASK_FAILED) {
            failures++;
            CHECK_ERRMSG("unlucky 13");
        } else {
            CHECK_OK(st);
            sum += bytes_i64(&b);
            oks++;
            pc_bytes_free(&b);
        }
    }
    CHECK(failures == 1 && oks == 39);
    int64_t want = 0;
    for (int i = 0; i < 40; i++)
        want += i == 13 ? 0 : (int64_t)i * i;
    CHECK(sum == want);
    pc_bytes b;
    CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
    pc_iter_free(it);
    pc_pool_free(p);
}

/* ---- 6. initializer ---- */
static void test_initializer(void)
{
    atomic_store(&S->init_calls, 0);
    CHECK(init_global == 0); /* in this process, the initializer never runs */
    pc_pool_options o = {.processes = 3, .initializer = initializer, .initarg = &init_magic};
    pc_pool *p;
    CHECK_OK(pc_pool_new(&o, &p));
    CHECK(wait_flag(&S->init_calls, 3, 10.0));

    enum { N = 60 };
    pc_slice items[N];
    for (int i = 0; i < N; i++)
        items[i] = (pc_slice){NULL, 0};
    pc_bytes res[N];
    CHECK_OK(pc_pool_map(p, task_read_init, items, N, 1, res));
    for (int i = 0; i < N; i++)
        CHECK(bytes_i32(&res[i]) == 4242);
    free_results(res, N);
    sleep_s(0.1);
    CHECK(atomic_load(&S->init_calls) == 3); /* once per worker, not per task */
    CHECK(init_global == 0);
    pc_pool_free(p);
}

/* ---- 7. max_tasks_per_child ---- */
static void test_max_tasks_per_child(void)
{
    atomic_store(&S->init_calls, 0);
    pc_pool_options o = {.processes = 2,
                         .max_tasks_per_child = 2,
                         .initializer = initializer,
                         .initarg = &init_magic};
    pc_pool *p;
    CHECK_OK(pc_pool_new(&o, &p));
    enum { N = 20 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pc_bytes res;
        CHECK_OK(pc_pool_apply(p, task_getpid, NULL, 0, &res));
        pids[i] = bytes_i32(&res);
        pc_bytes_free(&res);
        CHECK(pids[i] > 0 && pids[i] != getpid());
    }
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int same = 0;
        bool first = true;
        for (int j = 0; j < N; j++) {
            same += pids[j] == pids[i];
            if (j < i && pids[j] == pids[i])
                first = false;
        }
        if (same > 2)
            FAIL("worker %d ran %d tasks; max_tasks_per_child is 2", (int)pids[i], same);
        distinct += first;
    }
    if (distinct <= 2)
        FAIL("20 tasks ran in %d workers only, with max_tasks_per_child 2", distinct);
    CHECK(distinct >= N / 2);
    /* Every worker ran the initializer, the replacements too. */
    CHECK(atomic_load(&S->init_calls) >= distinct);
    /* A map's chunks count as tasks too, and the results are right. */
    int64_t xs[30];
    pc_slice items[30];
    for (int i = 0; i < 30; i++) {
        xs[i] = i + 14;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes res[30];
    CHECK_OK(pc_pool_map(p, task_square, items, 30, 1, res));
    for (int i = 0; i < 30; i++)
        CHECK(bytes_i64(&res[i]) == (int64_t)(i + 14) * (i + 14));
    free_results(res, 30);
    /* The pool keeps its 2 workers. */
    size_t count = 0;
    double deadline = now() + 5.0;
    do {
        CHECK_OK(pc_active_children(NULL, 0, &count));
        if (count == 2)
            break;
        sleep_s(0.01);
    } while (now() < deadline);
    CHECK(count == 2);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

/* ---- the workers' signal mask ---- */

/* Writes the names of the usual signals blocked in this worker ("" when none). */
static int task_blocked_signals(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    static const struct {
        int sig;
        const char *name;
    } sigs[] = {{SIGTERM, "SIGTERM "}, {SIGINT, "SIGINT "},   {SIGHUP, "SIGHUP "},
                {SIGALRM, "SIGALRM "}, {SIGUSR1, "SIGUSR1 "}, {SIGCHLD, "SIGCHLD "},
                {SIGPIPE, "SIGPIPE "}, {SIGQUIT, "SIGQUIT "}};
    sigset_t set;
    sigemptyset(&set);
    if (pthread_sigmask(SIG_BLOCK, NULL, &set) != 0)
        return 1;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigismember(&set, sigs[i].sig) == 1)
            pc_buffer_write(result, sigs[i].name, strlen(sigs[i].name));
    return 0;
}

/* A task runs with the signal mask of the thread that made the pool (here: nothing
 * blocked), as a pc_process child does: not with the full mask of the library's own
 * threads. Otherwise SIGTERM (pc_process_terminate, the exit handler's end of daemonic
 * children) cannot end a worker, and a task's own signals (alarm, SIGUSR1…) never come. */
static void test_worker_signal_mask(void)
{
    sigset_t none;
    sigemptyset(&none);
    CHECK(pthread_sigmask(SIG_SETMASK, &none, NULL) == 0);
    pc_pool *p = new_pool(1);
    pc_bytes res;
    CHECK_OK(pc_pool_apply(p, task_blocked_signals, NULL, 0, &res));
    if (res.len != 0)
        FAIL("a pool task runs with %.*s blocked; the program that made the pool blocks none",
             (int)res.len, (const char *)res.data);
    tu_checks++;
    pc_bytes_free(&res);
    pc_pool_free(p);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool_api", 25);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_apply);
    RUN(test_workers);
    RUN(test_map);
    RUN(test_failures);
    RUN(test_initializer);
    RUN(test_max_tasks_per_child);
    /* Last, as it failed when written (a failed check ends the program): the workers ran
     * with every signal blocked. */
    RUN(test_worker_signal_mask);

    shared_free(S, sizeof *S);
    return tu_done();
}
