/*
 * test_pool.c: the Pool API (API.md §8, processing-api.md §1.10): pc_pool_*,
 * pc_async_result_*, pc_iter_*, pc_buffer_write.
 *
 * Covered: bad arguments of every function (NULL, wrong-typed and freed handles, NaN
 * timeouts, count mismatches, too many processes); apply and apply_async with get, wait,
 * ready and successful, timeouts that never end early; map / map_async / imap /
 * imap_unordered over 1000 items of varying sizes with chunksizes 1, 7 and the default,
 * empty inputs; callbacks (exactly once, on one library thread of the parent, with their
 * status and results); failing tasks (code and output in pc_last_error, no fail-fast,
 * imap goes on); initializer once per worker; max_tasks_per_child; map_array over a
 * million doubles and over structs; close/join/terminate/free and their states;
 * pc_interrupt() breaking blocked waits; nothing left behind; a pool used from a forked
 * process or made in a daemonic worker (PC_ERR_WRONG_STATE); several threads on one pool,
 * one result and one iterator; a callback that submits more work; the callback has run
 * once get/wait return (as in Python); the workers' signal mask; map_array's context
 * copied for each call (set or changed after the pool was made, on the stack or
 * malloc'ed, workers replaced mid-call, too large).
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c.
 *
 * `test_pool NAME…` runs only the named subtests.
 *
 * Tasks run in the workers: they never use CHECK, they report through their return code
 * and their output.
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- memory shared with the workers (made before any pool) ---- */

#define PID_SLOTS 64

struct shared {
    atomic_int init_calls;       /* initializer runs */
    atomic_int ran;              /* side effects of tasks */
    atomic_int started;          /* tasks that started */
    atomic_int pids[PID_SLOTS];  /* pids noted by tasks */
};

static struct shared *S;

/* Set by the initializer in each worker; read by tasks. */
static int init_global = 0;
static int init_magic = 4242; /* the initializer's argument: a global, valid in workers */

/* The ctx of elem_double (map_array copies it for each call). */
struct array_ctx {
    double factor;
    double offset;
};
static struct array_ctx array_ctx = {2.0, 0.5};

/* ---- tasks (run in the workers: no CHECK) ---- */

/* Writes its argument back. */
static int task_echo(const void *arg, size_t len, pc_buffer *result)
{
    return pc_buffer_write(result, arg, len) == PC_OK ? 0 : 100;
}

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

/* Argument: an int64; result: its square. 13 fails with code 13 after writing
 * "unlucky 13"; every other item counts itself in S->ran. */
static int task_square(const void *arg, size_t len, pc_buffer *result)
{
    if (len != sizeof(int64_t))
        return 200;
    int64_t x;
    memcpy(&x, arg, sizeof x);
    if (x == 13) {
        pc_buffer_write(result, "unlucky 13", 10);
        return 13;
    }
    atomic_fetch_add(&S->ran, 1);
    int64_t y = x * x;
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 201;
}

struct sleep_arg {
    double seconds;
    int slot;    /* S->pids slot for its pid, or -1 */
    int32_t value;
};

/* Notes its pid, sleeps, then writes its value. */
static int task_sleep(const void *arg, size_t len, pc_buffer *result)
{
    struct sleep_arg a;
    if (len != sizeof a)
        return 300;
    memcpy(&a, arg, sizeof a);
    atomic_fetch_add(&S->started, 1);
    if (a.slot >= 0 && a.slot < PID_SLOTS)
        atomic_store(&S->pids[a.slot], (int)getpid());
    sleep_s(a.seconds);
    return pc_buffer_write(result, &a.value, sizeof a.value) == PC_OK ? 0 : 301;
}

/* Fails with the code in its argument after writing "boom-<code>". */
static int task_fail(const void *arg, size_t len, pc_buffer *result)
{
    int code;
    if (len != sizeof code)
        return 400;
    memcpy(&code, arg, sizeof code);
    char msg[32];
    int n = snprintf(msg, sizeof msg, "boom-%d", code);
    pc_buffer_write(result, msg, (size_t)n);
    return code;
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

/* ---- map_array element functions ---- */

static int elem_double(const void *in, void *out, const void *ctx)
{
    const struct array_ctx *c = ctx;
    double x;
    memcpy(&x, in, sizeof x);
    if (x < 0) /* the failing element */
        return 77;
    double y = x * c->factor + c->offset;
    memcpy(out, &y, sizeof y);
    return 0;
}

struct rec_in {
    int32_t a;
    int32_t b;
    double c;
    char tag[8];
}; /* 24 bytes */

struct rec_out {
    int64_t sum;
    char tag[4];
    uint32_t check;
}; /* 16 bytes */

static int elem_rec(const void *in, void *out, const void *ctx)
{
    (void)ctx;
    struct rec_in r;
    memcpy(&r, in, sizeof r);
    struct rec_out o;
    memset(&o, 0, sizeof o);
    o.sum = (int64_t)r.a + (int64_t)r.b + (int64_t)r.c;
    memcpy(o.tag, r.tag, 4);
    o.check = (uint32_t)r.a ^ 0xabcdu;
    memcpy(out, &o, sizeof o);
    return 0;
}

/* ---- helpers ---- */

static pc_pool *new_pool(size_t processes)
{
    pc_pool_options o = {.processes = processes};
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    CHECK(p != NULL);
    return p;
}

static struct sleep_arg sleep_arg(double seconds, int slot, int32_t value)
{
    struct sleep_arg a;
    memset(&a, 0, sizeof a);
    a.seconds = seconds;
    a.slot = slot;
    a.value = value;
    return a;
}

static int32_t bytes_i32(const pc_bytes *b)
{
    CHECK(b->len == sizeof(int32_t));
    int32_t v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

static int64_t bytes_i64(const pc_bytes *b)
{
    CHECK(b->len == sizeof(int64_t));
    int64_t v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

/* Items of the map tests: every fifth one empty, the others hold their index and a
 * pattern, of varying sizes (up to ~600 bytes). */
struct items {
    size_t n;
    pc_slice *s;
    uint8_t **buf;
};

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

static void free_results(pc_bytes *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pc_bytes_free(&res[i]);
}

/* Records what a callback got: calls, thread, pid, status, a copy of its results and
 * pc_last_error() on that thread. */
struct cb_rec {
    atomic_int calls;
    pthread_t thread;
    pid_t pid;
    int status;
    size_t count;
    pc_bytes *copies;
    char err[512];
};

static void cb_record(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    struct cb_rec *r = ctx;
    r->thread = pthread_self();
    r->pid = getpid();
    r->status = status;
    r->count = count;
    snprintf(r->err, sizeof r->err, "%s", status != PC_OK ? pc_last_error() : "");
    r->copies = count ? calloc(count, sizeof(pc_bytes)) : NULL;
    for (size_t i = 0; i < count && r->copies; i++) {
        r->copies[i].len = results[i].len;
        if (results[i].len) {
            r->copies[i].data = malloc(results[i].len);
            memcpy(r->copies[i].data, results[i].data, results[i].len);
        }
    }
    atomic_fetch_add(&r->calls, 1);
}

static void cb_rec_free(struct cb_rec *r)
{
    for (size_t i = 0; i < r->count && r->copies; i++)
        free(r->copies[i].data);
    free(r->copies);
    memset(r, 0, sizeof *r); /* ready for another result */
}

/* Waits for exactly one call (and checks that no second one comes soon after). */
static void cb_wait_once(struct cb_rec *r, const char *what)
{
    if (!wait_flag(&r->calls, 1, 10.0))
        FAIL("%s: its callback did not come within 10 s", what);
    sleep_s(0.05);
    int calls = atomic_load(&r->calls);
    if (calls != 1)
        FAIL("%s: its callback ran %d times", what, calls);
    tu_checks++;
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
 * the freed handle is detectable (API.md §1 "bad input"), and must be refused. */
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

/* ---- 2. apply and apply_async ---- */

static void test_apply(void)
{
    pc_pool *p = new_pool(2);
    pc_bytes res = {NULL, 0};

    CHECK_OK(pc_pool_apply(p, task_echo, "hello", 5, &res));
    CHECK(res.len == 5 && memcmp(res.data, "hello", 5) == 0);
    pc_bytes_free(&res);
    CHECK(res.data == NULL && res.len == 0);

    /* A large argument and result. */
    size_t big = 3u << 20;
    uint8_t *buf = malloc(big);
    CHECK(buf);
    fill_pattern(buf, big, 99);
    CHECK_OK(pc_pool_apply(p, task_echo, buf, big, &res));
    CHECK(res.len == big);
    CHECK(pattern_mismatch(res.data, big, 99) == big);
    pc_bytes_free(&res);
    free(buf);

    int64_t seven = 7;
    CHECK_OK(pc_pool_apply(p, task_square, &seven, sizeof seven, &res));
    CHECK(bytes_i64(&res) == 49);
    pc_bytes_free(&res);

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

/* ---- 8. map_array ---- */

static void test_map_array(void)
{
    pc_pool *p = new_pool(2);
    enum { N = 1000000 };
    double *in = malloc(N * sizeof(double)), *out = malloc(N * sizeof(double));
    CHECK(in && out);
    for (long i = 0; i < N; i++)
        in[i] = (double)i;
    size_t chunks[] = {0, 1000, 77777};
    for (size_t c = 0; c < 3; c++) {
        for (long i = 0; i < N; i++)
            out[i] = -1;
        CHECK_OK(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in,
                                   sizeof(double), out, sizeof(double), N, chunks[c]));
        for (long i = 0; i < N; i++) {
            if (out[i] != (double)i * 2.0 + 0.5)
                FAIL("map_array chunksize %zu: out[%ld] is %g", chunks[c], i, out[i]);
        }
        tu_checks++;
    }

    /* A struct element type, in_size (24) != out_size (16). */
    enum { M = 50000 };
    struct rec_in *ri = calloc(M, sizeof *ri);
    struct rec_out *ro = calloc(M, sizeof *ro);
    CHECK(ri && ro);
    for (int i = 0; i < M; i++) {
        ri[i].a = i;
        ri[i].b = -3 * i;
        ri[i].c = 1000.0 + i;
        snprintf(ri[i].tag, sizeof ri[i].tag, "%04d", i % 10000);
    }
    CHECK_OK(pc_pool_map_array(p, elem_rec, NULL, 0, ri, sizeof *ri, ro, sizeof *ro, M, 0));
    for (int i = 0; i < M; i++) {
        char tag[5];
        snprintf(tag, sizeof tag, "%04d", i % 10000);
        if (ro[i].sum != (int64_t)i - 3 * (int64_t)i + 1000 + i ||
            memcmp(ro[i].tag, tag, 4) != 0 || ro[i].check != ((uint32_t)i ^ 0xabcdu))
            FAIL("map_array of structs: element %d is wrong", i);
    }
    tu_checks++;
    /* out_size larger than in_size as well. */
    CHECK_OK(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in, sizeof(double),
                               ri, sizeof *ri, 1000, 7));
    for (int i = 0; i < 1000; i++) {
        double y;
        memcpy(&y, &ri[i], sizeof y);
        CHECK(y == (double)i * 2.0 + 0.5);
    }
    free(ri);
    free(ro);

    /* A failing element: PC_ERR_TASK_FAILED naming it, out untouched. */
    in[777777] = -1;
    for (long i = 0; i < N; i++)
        out[i] = -1;
    CHECK_STATUS(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in,
                                   sizeof(double), out, sizeof(double), N, 0),
                 PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("pc_pool_map_array");
    CHECK_ERRMSG("777777");
    CHECK_ERRMSG("77");
    for (long i = 0; i < N; i++) {
        if (out[i] != -1)
            FAIL("a failed map_array wrote out[%ld] (%g)", i, out[i]);
    }
    tu_checks++;
    in[777777] = 777777;
    /* The pool goes on. */
    CHECK_OK(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in, sizeof(double),
                               out, sizeof(double), 1000, 0));
    CHECK(out[999] == 999 * 2.0 + 0.5);
    free(in);
    free(out);
    pc_pool_free(p);
}

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

/* ---- map_array's context: the workers were forked before the call, so it is copied
 * for each call ---- */

/* The context of elem_times. */
struct factor_ctx {
    int factor;
};

/* out = in * ctx->factor, over int32s. */
static int elem_times(const void *in, void *out, const void *ctx)
{
    const struct factor_ctx *c = ctx;
    int32_t x;
    memcpy(&x, in, sizeof x);
    int32_t y = x * c->factor;
    memcpy(out, &y, sizeof y);
    return 0;
}

/* map_array of elem_times over 0..n-1 (n <= 64) with `ctx`, `chunksize` elements per task;
 * fails unless every output is i * ctx->factor. */
static void check_times(pc_pool *p, const struct factor_ctx *ctx, int n, size_t chunksize)
{
    int32_t in[64], out[64];
    CHECK(n <= 64);
    for (int i = 0; i < n; i++)
        in[i] = i, out[i] = -1;
    CHECK_OK(pc_pool_map_array(p, elem_times, ctx, sizeof *ctx, in, sizeof *in, out, sizeof *out,
                               (size_t)n, chunksize));
    for (int i = 0; i < n; i++) {
        if (out[i] != i * ctx->factor)
            FAIL("factor %d: out[%d] is %d, expected %d", ctx->factor, i, out[i],
                 i * ctx->factor);
    }
    tu_checks++;
}

/* A context on the stack, set after the pool was made and changed between calls. */
static void test_map_array_context_changed(void)
{
    pc_pool *p = new_pool(2);
    struct factor_ctx ctx = {3};
    check_times(p, &ctx, 64, 0);
    ctx.factor = 10;
    check_times(p, &ctx, 64, 0);
    pc_pool_free(p);
}

/* Workers replaced after every task (max_tasks_per_child 1, one element per task): the
 * elements of one call run in workers forked at different times, all with its context. */
static void test_map_array_context_replaced_workers(void)
{
    pc_pool_options o = {.processes = 2, .max_tasks_per_child = 1};
    pc_pool *p;
    CHECK_OK(pc_pool_new(&o, &p));
    const int factors[] = {2, 10, -7, 1000};
    for (int f = 0; f < 4; f++) {
        struct factor_ctx ctx = {factors[f]};
        check_times(p, &ctx, 8, 1);
    }
    pc_pool_free(p);
}

/* A context malloc'ed after the pool was made: the workers' copy of the heap has other
 * bytes there, or none. */
static void test_map_array_context_malloc(void)
{
    pc_pool *p = new_pool(2);
    struct factor_ctx *ctx = malloc(sizeof *ctx);
    CHECK(ctx != NULL);
    ctx->factor = 7;
    check_times(p, ctx, 64, 0);
    free(ctx);
    pc_pool_free(p);
}

/* A context beyond the pool's shared memory (64 GiB): PC_ERR_TOO_LARGE, the context never
 * read. It is a readable, never-committed 65 GiB mapping. */
static void test_map_array_context_too_large(void)
{
    size_t big = (size_t)65 << 30;
    void *ctx = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ctx == MAP_FAILED) {
        fprintf(stderr, "   (no 65 GiB of address space: skipped)\n");
        return;
    }
    pc_pool *p = new_pool(1);
    int32_t in = 1, out = -1;
    CHECK_STATUS(
        pc_pool_map_array(p, elem_times, ctx, big, &in, sizeof in, &out, sizeof out, 1, 0),
        PC_ERR_TOO_LARGE);
    CHECK_ERRMSG("pc_pool_map_array");
    CHECK_ERRMSG("bytes of context");
    CHECK(out == -1);
    /* The pool goes on. */
    struct factor_ctx ctx4 = {4};
    check_times(p, &ctx4, 64, 0);
    pc_pool_free(p);
    CHECK(munmap(ctx, big) == 0);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool", 110);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_bad_arguments);
    RUN(test_apply);
    RUN(test_workers);
    RUN(test_map);
    RUN(test_callbacks);
    RUN(test_callback_before_waiters);
    RUN(test_callback_submits);
    RUN(test_threads);
    RUN(test_failures);
    RUN(test_initializer);
    RUN(test_max_tasks_per_child);
    RUN(test_map_array);
    RUN(test_close_join);
    RUN(test_terminate);
    RUN(test_free_running);
    RUN(test_timeouts_under_load);
    RUN(test_interrupt);
    RUN(test_nothing_left);
    RUN(test_other_process);
    /* Last, as they failed when written (a failed check ends the program): a freed,
     * still pending result was used without error; a one-worker pool closed and joined
     * left its worker's pidfd open; the workers ran with every signal blocked; map_array's
     * context was read as it was when the workers were forked. */
    RUN(test_freed_result);
    RUN(test_nothing_left_fresh_process);
    RUN(test_worker_signal_mask);
    RUN(test_map_array_context_changed);
    RUN(test_map_array_context_replaced_workers);
    RUN(test_map_array_context_malloc);
    RUN(test_map_array_context_too_large);

    shared_free(S, sizeof *S);
    return tu_done();
}
