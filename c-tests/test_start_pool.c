/*
 * test_start_pool.c: pools whose workers start by spawn or forkserver (and fork, the
 * same checks), with initializers whose argument crosses as bytes, task functions in
 * the program and in a library loaded at run time, worker deaths and replacements.
 *
 * Each case runs in a sub-process of its own for each method (start_common.h).
 *
 * ctest-timeout: 120
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "start_common.h"
#include "testutil.h"

/* ---- run in the workers ---- */

static int32_t added; /* set by the initializer, in each worker */

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

static int task_die(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    (void)result;
    _exit(3);
}

static int elem_triple(const void *in, void *out, const void *ctx)
{
    (void)ctx;
    *(double *)out = *(const double *)in * 3;
    return 0;
}

/* ---- helpers ---- */

static pc_pool *pool_by(const char *method, size_t processes, size_t max_tasks)
{
    static int32_t seven = 7;
    pc_pool_options o = {0};
    o.processes = processes;
    o.initializer = init_add;
    o.initarg = &seven;
    o.initarg_len = sizeof seven;
    o.max_tasks_per_child = max_tasks;
    o.start_method = method;
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    return p;
}

static void close_and_free(pc_pool *p)
{
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

/* ---- tests ---- */

static int map_by(void *method)
{
    pc_pool *p = pool_by(method, 2, 0);
    int32_t xs[50];
    pc_slice items[50];
    for (int i = 0; i < 50; i++) {
        xs[i] = i;
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes results[50];
    CHECK_OK(pc_pool_map(p, task_square_add, items, 50, 3, results));
    for (int i = 0; i < 50; i++) {
        int32_t v = 0;
        CHECK(results[i].len == sizeof v);
        memcpy(&v, results[i].data, sizeof v);
        CHECK(v == i * i + 7);
        pc_bytes_free(&results[i]);
    }
    pc_bytes one = {0};
    int32_t nine = 9;
    CHECK_OK(pc_pool_apply(p, task_square_add, &nine, sizeof nine, &one));
    CHECK(one.len == 4 && *(int32_t *)one.data == 88);
    pc_bytes_free(&one);
    double in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = i;
    CHECK_OK(pc_pool_map_array(p, elem_triple, NULL, 0, in, sizeof *in, out, sizeof *out, 1000, 0));
    for (int i = 0; i < 1000; i++)
        CHECK(out[i] == 3.0 * i);
    /* The workers are processes of their own. */
    CHECK_OK(pc_pool_apply(p, task_pid, NULL, 0, &one));
    CHECK(*(int32_t *)one.data != getpid());
    pc_bytes_free(&one);
    close_and_free(p);
    return 0;
}

static void test_map_apply_and_arrays_by_every_method(void)
{
    by_methods(map_by, ALL_METHODS);
}

static int library_task_by(void *method)
{
    pc_pool *p = pool_by(method, 1, 0);
    void *lib = dlopen(PC_START_TARGET, RTLD_NOW);
    CHECK(lib != NULL);
    void *sym = dlsym(lib, "start_task_in_library");
    CHECK(sym != NULL);
    pc_task_fn fn = NULL;
    memcpy(&fn, &sym, sizeof fn);
    /* The library was loaded after the workers started: they load it themselves. */
    pc_bytes got = {0};
    CHECK_OK(pc_pool_apply(p, fn, "abc", 3, &got));
    CHECK(got.len == 7 && memcmp(got.data, "lib:abc", 7) == 0);
    pc_bytes_free(&got);
    close_and_free(p);
    return 0;
}

/* (Not under fork: a worker forked before the library was loaded does not have it.) */
static void test_a_task_in_a_library_loaded_later(void)
{
    by_methods(library_task_by, EXEC_METHODS);
}

static int deaths_by(void *method)
{
    pc_pool *p = pool_by(method, 2, 0);
    pc_bytes got = {0};
    CHECK_STATUS(pc_pool_apply(p, task_die, NULL, 0, &got), PC_ERR_WORKER_DIED);
    /* A replacement started: the pool goes on, with its initializer run there too. */
    int32_t three = 3;
    for (int i = 0; i < 4; i++) {
        CHECK_OK(pc_pool_apply(p, task_square_add, &three, sizeof three, &got));
        CHECK(got.len == 4 && *(int32_t *)got.data == 16);
        pc_bytes_free(&got);
    }
    CHECK_OK(pc_pool_terminate(p));
    pc_pool_free(p);
    return 0;
}

static void test_a_dead_worker_is_replaced(void)
{
    by_methods(deaths_by, ALL_METHODS);
}

static int short_lived_by(void *method)
{
    pc_pool *p = pool_by(method, 2, 1);
    int32_t pids[8];
    for (int i = 0; i < 8; i++) {
        pc_bytes got = {0};
        CHECK_OK(pc_pool_apply(p, task_pid, NULL, 0, &got));
        memcpy(&pids[i], got.data, sizeof pids[i]);
        pc_bytes_free(&got);
    }
    /* One task per worker: eight different processes. */
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < i; j++)
            CHECK(pids[i] != pids[j]);
    close_and_free(p);
    return 0;
}

static void test_max_tasks_per_child_replaces_workers(void)
{
    by_methods(short_lived_by, ALL_METHODS);
}

static void test_bad_options(void)
{
    static int32_t seven = 7;
    pc_pool_options o = {0};
    o.processes = 1;
    o.start_method = "vfork";
    pc_pool *p = NULL;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("\"vfork\" is not a start method");
    /* A pointer argument does not cross to a spawned worker. */
    o.start_method = "spawn";
    o.initializer = init_add;
    o.initarg = &seven;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("give its length");
    o.initarg = NULL;
    o.initarg_len = 4;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("initarg");
    CHECK(p == NULL);
    CHECK(wait_no_children(2));
}

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    tu_init(argv[0], 110);
    tu_select(argc, argv);
    RUN(test_map_apply_and_arrays_by_every_method);
    RUN(test_a_task_in_a_library_loaded_later);
    RUN(test_a_dead_worker_is_replaced);
    RUN(test_max_tasks_per_child_replaces_workers);
    RUN(test_bad_options);
    return tu_done();
}
