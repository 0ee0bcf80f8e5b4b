/*
 * bench_pool_tasks.h: the work of the Pool workloads, shared by bench_pool.c
 * (libprocessing) and raw_pool.c (the floors), so that both run exactly the same tasks
 * and element function and check them the same way. libc (and libm) only.
 *
 * - The trivial task: an 8-byte integer x in, x + 1 out (8 bytes).
 * - The CPU-bound element function of map_array: one double in, one double out, after
 *   POOL_ELEM_ROUNDS dependent rounds of two multiplies, two adds and a division (320
 *   flops, about 0.35 µs), in the pc_elem_fn shape so that the library and the
 *   single-process loop call the very same function.
 * - pool_array_run: the driver of the map_array workload, around a `map` callback (the
 *   pool, or the single-process loop): only the callback is timed; inputs are made and
 *   every output is checked outside the clock.
 */
#ifndef BENCH_POOL_TASKS_H
#define BENCH_POOL_TASKS_H

#include <math.h>
#include <stdint.h>

#include "bench_messages.h" /* put_i64, get_i64, bench_common.h */

/* The workers of every pool (and of the floor's forked pool). */
#define POOL_WORKERS 2
/* Items per map: the rows' "100k trivial tasks" and "10k tasks". */
#define POOL_MAP_DEFAULT_TASKS 100000
#define POOL_MAP_CHUNK1_TASKS 10000
/* Elements per map_array call (800 KB in, 800 KB out). */
#define POOL_ARRAY_N 100000
/* Rounds of the element function. */
#define POOL_ELEM_ROUNDS 64

/* The trivial task. */
static inline int64_t pool_task(int64_t x)
{
    return x + 1;
}

/* How many maps of `size` items make `iters` items (at least one: a short warm-up still
 * runs whole maps). */
static inline long pool_maps(long iters, long size)
{
    return iters / size > 0 ? iters / size : 1;
}

/* The element's arithmetic: a dependent chain the compiler cannot shorten. */
static inline double pool_elem_value(double x)
{
    for (int k = 0; k < POOL_ELEM_ROUNDS; k++)
        x = 0.75 * x + 1.0 / (1.0 + x * x);
    return x;
}

/* The element function (a pc_elem_fn), never inlined: the pool's workers call it through
 * a pointer, one element at a time, and the floor's loop calls the same machine code
 * (inlined into a loop, the compiler computes two elements per instruction: raw_pool.c's
 * pool_map_array_cpu_inlined shows that). Unused by raw_mpi.c. */
__attribute__((noinline, unused)) static int pool_elem(const void *input, void *output,
                                                       const void *ctx)
{
    (void)ctx;
    *(double *)output = pool_elem_value(*(const double *)input);
    return 0;
}

/* Elements per second of `iters` elements, as maps over POOL_ARRAY_N elements done by
 * map(in, out, n): out[i] = pool_elem(in[i]) for every i. Each map gets new inputs and an
 * output filled with NaN, and every output is checked against pool_elem computed here
 * (the same code: equal to the bit); all of that outside the clock. */
static inline double pool_array_run(long iters, void (*map)(const double *in, double *out,
                                                             size_t n))
{
    long maps = pool_maps(iters, POOL_ARRAY_N);
    double *in = malloc(POOL_ARRAY_N * sizeof *in);
    double *out = malloc(POOL_ARRAY_N * sizeof *out);
    BENCH_CHECK(in != NULL && out != NULL, "out of memory");
    uint64_t ns = 0;
    for (long m = 0; m < maps; m++) {
        for (size_t i = 0; i < POOL_ARRAY_N; i++) {
            in[i] = (double)(m * POOL_ARRAY_N + (long)i) * 1e-5 - 1.0;
            out[i] = NAN;
        }
        uint64_t t0 = bench_now_ns();
        map(in, out, POOL_ARRAY_N);
        ns += bench_now_ns() - t0;
        for (size_t i = 0; i < POOL_ARRAY_N; i++) {
            double want = pool_elem_value(in[i]);
            BENCH_CHECK(memcmp(&out[i], &want, sizeof want) == 0,
                        "map %ld, element %zu: %.17g, expected %.17g", m, i, out[i], want);
        }
    }
    free(in);
    free(out);
    return (double)(maps * POOL_ARRAY_N) / ((double)ns * 1e-9);
}

#endif /* BENCH_POOL_TASKS_H */
