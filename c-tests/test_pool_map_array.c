/*
 * test_pool_map_array.c: pc_pool_map_array (include/processing.h) over a million doubles
 * and over structs, a failing element; its context copied for each call (set or changed
 * after the pool was made, on the stack or malloc'ed, workers replaced mid-call, too
 * large).
 *
 * Workers' deaths (killed, crashed, _exit) are in test_pool_faults.c; the rest of the
 * Pool API in the other test_pool_*.c.
 *
 * `test_pool_map_array NAME…` runs only the named subtests.
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
    tu_init("test_pool_map_array", 15);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    S = shared_new(sizeof *S);

    RUN(test_map_array);
    /* Last, as they failed when written (a failed check ends the program): map_array's
     * context was read as it was when the workers were forked. */
    RUN(test_map_array_context_changed);
    RUN(test_map_array_context_replaced_workers);
    RUN(test_map_array_context_malloc);
    RUN(test_map_array_context_too_large);

    shared_free(S, sizeof *S);
    return tu_done();
}
