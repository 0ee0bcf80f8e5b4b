/*
 * test_pool_mpi.c: pools whose workers are MPI ranks (pc_pool_options.backend =
 * PC_POOL_MPI).
 *
 * Run by ctest three ways: by mpiexec with 3 ranks (test_pool_mpi_ranks: rank 0 runs
 * these tests, ranks 1 and 2 serve its pools from pc_freeze_support); by mpiexec with
 * --enable-recovery and the one subtest that kills ranks (test_pool_mpi_rank_dies); and
 * alone (test_pool_mpi), where it checks that an MPI pool outside an MPI job is a clear
 * error. PC_HAVE_MPI says whether the build has the MPI back end.
 *
 * ctest-timeout: 120
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- run in the worker ranks ---- */

static int32_t added; /* set by the initializer, in each rank */

static void init_add(void *arg)
{
    memcpy(&added, arg, sizeof added);
}

static int task_square_add(const void *arg, size_t len, pc_buffer *result)
{
    int32_t x;
    if (len != sizeof x)
        return 1;
    memcpy(&x, arg, sizeof x);
    if (x == 13)
        return pc_buffer_write(result, "unlucky", 7) == PC_OK ? 13 : 1;
    x = x * x + added;
    return pc_buffer_write(result, &x, sizeof x) != PC_OK;
}

static int task_pid(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    int32_t pid = (int32_t)getpid();
    return pc_buffer_write(result, &pid, sizeof pid) != PC_OK;
}

/* Sleeps the milliseconds in its argument. */
static int task_nap(const void *arg, size_t len, pc_buffer *result)
{
    (void)result;
    int32_t ms = 0;
    if (len == sizeof ms)
        memcpy(&ms, arg, sizeof ms);
    usleep((useconds_t)ms * 1000);
    return 0;
}

static int task_kill_rank(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    (void)result;
    raise(SIGKILL);
    return 1;
}

/* Kills its rank for the argument "kill"; otherwise writes its argument's length. */
static int task_kill_or_len(const void *arg, size_t len, pc_buffer *result)
{
    if (len == 4 && memcmp(arg, "kill", 4) == 0)
        raise(SIGKILL);
    uint64_t n = len;
    return pc_buffer_write(result, &n, sizeof n) != PC_OK;
}

/* output = input * context + added (doubles); element 17 fails with 5 without context. */
static int elem_scale(const void *in, void *out, const void *ctx)
{
    double x = *(const double *)in;
    if (ctx == NULL)
        return x == 17 ? 5 : 1;
    *(double *)out = x * *(const double *)ctx + added;
    return 0;
}

/* ---- helpers ---- */

static pc_pool *mpi_pool(size_t processes, int32_t add)
{
    static int32_t arg;
    arg = add;
    pc_pool_options o = {0};
    o.backend = PC_POOL_MPI;
    o.processes = processes;
    o.initializer = init_add;
    o.initarg = &arg;
    o.initarg_len = sizeof arg;
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    CHECK(p != NULL);
    return p;
}

static void close_and_free(pc_pool *p)
{
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

static int32_t as_int(pc_bytes b)
{
    int32_t v = -1;
    CHECK(b.len == sizeof v);
    memcpy(&v, b.data, sizeof v);
    return v;
}

static bool in_mpi_job(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL;
}

/* ---- in an MPI job of 3 ranks ---- */

static int calls;
static pc_status call_status = PC_ERR_OS;

static void on_ready(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    (void)ctx;
    call_status = status;
    if (count == 1 && results[0].len == 4)
        __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
}

static void test_every_pool_function_over_ranks(void)
{
    size_t ranks = 0;
    CHECK_OK(pc_mpi_worker_ranks(&ranks));
    CHECK(ranks == 2);
    pc_pool *p = mpi_pool(0, 7);
    enum { N = 200 };
    int32_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i == 13 ? 12 : i;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes results[N];
    size_t chunks[] = {1, 7, 0};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        CHECK_OK(pc_pool_map(p, task_square_add, items, N, chunks[c], results));
        for (int i = 0; i < N; i++) {
            CHECK(as_int(results[i]) == xs[i] * xs[i] + 7);
            pc_bytes_free(&results[i]);
        }
    }
    int32_t nine = 9;
    pc_bytes one = {0};
    CHECK_OK(pc_pool_apply(p, task_square_add, &nine, sizeof nine, &one));
    CHECK(as_int(one) == 88);
    pc_bytes_free(&one);

    /* The tasks run in other processes. */
    CHECK_OK(pc_pool_apply(p, task_pid, NULL, 0, &one));
    CHECK(as_int(one) != (int32_t)getpid());
    pc_bytes_free(&one);

    /* apply_async with a callback, imap in order and in arrival order. */
    pc_async_result *r = NULL;
    CHECK_OK(pc_pool_apply_async(p, task_square_add, &nine, sizeof nine, on_ready, NULL, &r));
    CHECK_OK(pc_async_result_get(r, 10, &one, 1));
    CHECK(as_int(one) == 88 && calls == 1 && call_status == PC_OK);
    pc_bytes_free(&one);
    pc_async_result_free(r);
    for (int ordered = 0; ordered < 2; ordered++) {
        pc_iter *it = NULL;
        if (ordered)
            CHECK_OK(pc_pool_imap(p, task_square_add, items, 20, 1, &it));
        else
            CHECK_OK(pc_pool_imap_unordered(p, task_square_add, items, 20, 3, &it));
        int64_t sum = 0;
        for (int i = 0; i < 20; i++) {
            CHECK_OK(pc_iter_next(it, 10, &one));
            if (ordered)
                CHECK(as_int(one) == xs[i] * xs[i] + 7);
            sum += as_int(one);
            pc_bytes_free(&one);
        }
        CHECK_STATUS(pc_iter_next(it, 10, &one), PC_ERR_STOP);
        int64_t want = 0;
        for (int i = 0; i < 20; i++)
            want += xs[i] * xs[i] + 7;
        CHECK(sum == want);
        pc_iter_free(it);
    }

    /* map_array: elements and the context cross in the messages, chunk by chunk. */
    enum { M = 100000 };
    double *in = malloc(M * sizeof *in), *out = malloc(M * sizeof *out);
    CHECK(in && out);
    for (int i = 0; i < M; i++) {
        in[i] = i;
        out[i] = -1;
    }
    double factor = 3;
    CHECK_OK(pc_pool_map_array(p, elem_scale, &factor, sizeof factor, in, sizeof *in, out,
                               sizeof *out, M, 0));
    for (int i = 0; i < M; i++)
        CHECK(out[i] == 3.0 * i + 7);
    factor = 0.5;
    CHECK_OK(pc_pool_map_array(p, elem_scale, &factor, sizeof factor, in, sizeof *in, out,
                               sizeof *out, M, 1000));
    for (int i = 0; i < M; i++)
        CHECK(out[i] == 0.5 * i + 7);
    free(in);
    free(out);
    close_and_free(p);
}

static void test_failures_come_back(void)
{
    pc_pool *p = mpi_pool(2, 0);
    int32_t thirteen = 13;
    pc_bytes one = {0};
    CHECK_STATUS(pc_pool_apply(p, task_square_add, &thirteen, sizeof thirteen, &one),
                 PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("code 13");
    CHECK_ERRMSG("unlucky");
    int32_t xs[30];
    pc_slice items[30];
    for (int i = 0; i < 30; i++) {
        xs[i] = i;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes results[30];
    CHECK_STATUS(pc_pool_map(p, task_square_add, items, 30, 4, results), PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("task 13 failed with code 13");
    /* The outputs of a failed map_array are left as they were. */
    double in[40], out[40];
    for (int i = 0; i < 40; i++) {
        in[i] = i;
        out[i] = -1;
    }
    CHECK_STATUS(pc_pool_map_array(p, elem_scale, NULL, 0, in, sizeof *in, out, sizeof *out,
                                   40, 5),
                 PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("element 0 returned 1");
    for (int i = 0; i < 40; i++)
        CHECK(out[i] == -1);
    close_and_free(p);
}

static void test_a_task_in_a_library_loaded_later(void)
{
    pc_pool *p = mpi_pool(0, 0);
    void *lib = dlopen(PC_START_TARGET, RTLD_NOW);
    CHECK(lib != NULL);
    void *sym = dlsym(lib, "start_task_in_library");
    CHECK(sym != NULL);
    pc_task_fn fn = NULL;
    memcpy(&fn, &sym, sizeof fn);
    /* Each rank loads the library when the first task names it. */
    pc_slice items[4] = {{"a", 1}, {"bc", 2}, {"def", 3}, {"", 0}};
    pc_bytes got[4];
    CHECK_OK(pc_pool_map(p, fn, items, 4, 1, got));
    CHECK(got[2].len == 7 && memcmp(got[2].data, "lib:def", 7) == 0);
    CHECK(got[3].len == 4 && memcmp(got[3].data, "lib:", 4) == 0);
    for (int i = 0; i < 4; i++)
        pc_bytes_free(&got[i]);
    close_and_free(p);
}

static void test_one_pool_at_a_time_and_terminate(void)
{
    pc_pool *p = mpi_pool(1, 1);
    pc_pool *q = NULL;
    pc_pool_options o = {0};
    o.backend = PC_POOL_MPI;
    CHECK_STATUS(pc_pool_new(&o, &q), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("serve another pool");
    CHECK(q == NULL);

    /* terminate does not wait for a task a rank runs: the rank finishes it later. */
    int32_t ms = 1500;
    pc_async_result *r = NULL;
    CHECK_OK(pc_pool_apply_async(p, task_nap, &ms, sizeof ms, NULL, NULL, &r));
    sleep_s(0.2);
    double t0 = now();
    CHECK_OK(pc_pool_terminate(p));
    CHECK(now() - t0 < 1.0);
    pc_bytes one = {0};
    CHECK_STATUS(pc_async_result_get(r, 5, &one, 1), PC_ERR_CLOSED);
    pc_async_result_free(r);
    pc_pool_free(p);

    /* A new pool has the ranks, with its own initializer; the late reply to the
     * terminated pool's task is not taken for this pool's. */
    p = mpi_pool(0, 100);
    int32_t two = 2;
    for (int i = 0; i < 10; i++) {
        CHECK_OK(pc_pool_apply(p, task_square_add, &two, sizeof two, &one));
        CHECK(as_int(one) == 104);
        pc_bytes_free(&one);
    }
    close_and_free(p);
}

static void test_bad_options(void)
{
    static int32_t seven = 7;
    pc_pool *p = NULL;
    pc_pool_options o = {0};
    o.backend = PC_POOL_MPI;
    o.processes = 3;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("more than the MPI job's 2 worker ranks");
    o.processes = 0;
    o.threads = true;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("threads");
    o.threads = false;
    o.backend = 7;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("backend 7");
    o.backend = PC_POOL_MPI;
    o.max_tasks_per_child = 1;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("max_tasks_per_child");
    o.max_tasks_per_child = 0;
    o.initializer = init_add;
    o.initarg = &seven;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("give its length");
    CHECK(p == NULL);
    CHECK_STATUS(pc_mpi_worker_ranks(NULL), PC_ERR_INVALID_ARGUMENT);
    /* None of these kept the ranks. */
    p = mpi_pool(0, 0);
    close_and_free(p);
}

/* Only by name, under mpiexec --enable-recovery: a killed rank ends the whole job
 * otherwise. */
static void test_a_dead_rank_fails_its_task(void)
{
    pc_pool *p = mpi_pool(0, 1);
    pc_bytes one = {0};
    double t0 = now();
    CHECK_STATUS(pc_pool_apply(p, task_kill_rank, NULL, 0, &one), PC_ERR_WORKER_DIED);
    CHECK_ERRMSG("MPI rank");
    CHECK_ERRMSG("ended");
    CHECK(now() - t0 < 10);
    /* The pool goes on with the other rank. */
    int32_t two = 2;
    int32_t xs[20];
    pc_slice items[20];
    for (int i = 0; i < 20; i++) {
        xs[i] = 20 + i;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes results[20];
    CHECK_OK(pc_pool_map(p, task_square_add, items, 20, 1, results));
    for (int i = 0; i < 20; i++) {
        CHECK(as_int(results[i]) == xs[i] * xs[i] + 1);
        pc_bytes_free(&results[i]);
    }
    /* The last rank dies while a second, larger task waits to go to it (its bridge
     * took it while the first was out): both fail, in bounded time. */
    static char big[2048];
    pc_slice two_items[2] = {{"kill", 4}, {big, sizeof big}};
    pc_bytes two_results[2];
    t0 = now();
    CHECK_STATUS(pc_pool_map(p, task_kill_or_len, two_items, 2, 1, two_results),
                 PC_ERR_WORKER_DIED);
    CHECK(now() - t0 < 10);
    /* Every task fails from then on, in bounded time. */
    t0 = now();
    CHECK_STATUS(pc_pool_apply(p, task_square_add, &two, sizeof two, &one),
                 PC_ERR_WORKER_DIED);
    CHECK_ERRMSG("every MPI worker rank ended");
    CHECK(now() - t0 < 5);
    close_and_free(p);
}

/* ---- alone ---- */

static void test_outside_an_mpi_job(void)
{
    pc_pool_options o = {0};
    o.backend = PC_POOL_MPI;
    pc_pool *p = NULL;
    size_t ranks = 0;
#if PC_HAVE_MPI
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("mpiexec -n N");
    CHECK_STATUS(pc_mpi_worker_ranks(&ranks), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("not started by mpiexec");
#else
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("built without MPI");
    CHECK_STATUS(pc_mpi_worker_ranks(&ranks), PC_ERR_NOT_SUPPORTED);
#endif
    CHECK(p == NULL && ranks == 0);
    /* The plugin named by PC_MPI_PLUGIN, which does not exist. */
    setenv("PC_MPI_PLUGIN", "/nonexistent/libprocessing-mpi.so", 1);
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("/nonexistent/libprocessing-mpi.so");
    unsetenv("PC_MPI_PLUGIN");
    /* The other backends are unchanged. */
    o.backend = PC_POOL_LOCAL;
    o.processes = 1;
    CHECK_OK(pc_pool_new(&o, &p));
    int32_t two = 2;
    pc_bytes one = {0};
    CHECK_OK(pc_pool_apply(p, task_square_add, &two, sizeof two, &one));
    CHECK(as_int(one) == 4);
    pc_bytes_free(&one);
    close_and_free(p);
}

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    tu_init(argv[0], 110);
    tu_select(argc, argv);
    if (!in_mpi_job()) {
        RUN(test_outside_an_mpi_job);
        return tu_done();
    }
    RUN(test_every_pool_function_over_ranks);
    RUN(test_failures_come_back);
    RUN(test_a_task_in_a_library_loaded_later);
    RUN(test_one_pool_at_a_time_and_terminate);
    RUN(test_bad_options);
    if (argc > 1)
        RUN(test_a_dead_rank_fails_its_task);
    return tu_done();
}
