/* pool_common.c: the helpers declared in pool_common.h. */
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

struct shared *S;

struct array_ctx array_ctx = {2.0, 0.5};

int task_echo(const void *arg, size_t len, pc_buffer *result)
{
    return pc_buffer_write(result, arg, len) == PC_OK ? 0 : 100;
}

int task_square(const void *arg, size_t len, pc_buffer *result)
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

int task_sleep(const void *arg, size_t len, pc_buffer *result)
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

int task_fail(const void *arg, size_t len, pc_buffer *result)
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

int elem_double(const void *in, void *out, const void *ctx)
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

pc_pool *new_pool(size_t processes)
{
    pc_pool_options o = {.processes = processes};
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    CHECK(p != NULL);
    return p;
}

struct sleep_arg sleep_arg(double seconds, int slot, int32_t value)
{
    struct sleep_arg a;
    memset(&a, 0, sizeof a);
    a.seconds = seconds;
    a.slot = slot;
    a.value = value;
    return a;
}

void check_apply(pc_pool *p)
{
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
}

int32_t bytes_i32(const pc_bytes *b)
{
    CHECK(b->len == sizeof(int32_t));
    int32_t v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

int64_t bytes_i64(const pc_bytes *b)
{
    CHECK(b->len == sizeof(int64_t));
    int64_t v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

void free_results(pc_bytes *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pc_bytes_free(&res[i]);
}

void cb_record(void *ctx, pc_status status, const pc_bytes *results, size_t count)
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

void cb_rec_free(struct cb_rec *r)
{
    for (size_t i = 0; i < r->count && r->copies; i++)
        free(r->copies[i].data);
    free(r->copies);
    memset(r, 0, sizeof *r); /* ready for another result */
}

void cb_wait_once(struct cb_rec *r, const char *what)
{
    if (!wait_flag(&r->calls, 1, 10.0))
        FAIL("%s: its callback did not come within 10 s", what);
    sleep_s(0.05);
    int calls = atomic_load(&r->calls);
    if (calls != 1)
        FAIL("%s: its callback ran %d times", what, calls);
    tu_checks++;
}
