/*
 * test_thread_pool.c: thread pools (include/processing.h: pc_pool_options.threads,
 * Python's multiprocessing.pool.ThreadPool): every pool call on worker threads (apply,
 * apply_async, map, map_async, imap, imap_unordered, map_array, callbacks, failing
 * tasks), the workers (threads of this process, no fork, PoolWorker-N dummy processes),
 * the initializer once per thread, max_tasks_per_child, concurrent tasks' results kept
 * apart, close/join, terminate while tasks run (the running ones finish, the others fail
 * with PC_ERR_CLOSED), a thread pool in a daemonic process, nested thread pools, and bad
 * input.
 *
 * `test_thread_pool NAME…` runs only the named subtests.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pool_common.h"

static pc_pool *new_thread_pool(size_t threads, size_t max_tasks, pc_init_fn init, void *arg)
{
    pc_pool_options o = {.processes = threads,
                         .threads = true,
                         .max_tasks_per_child = max_tasks,
                         .initializer = init,
                         .initarg = arg};
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    CHECK(p != NULL);
    CHECK(list_children(NULL, 0) == 0); /* no fork */
    return p;
}

/* Set by the initializer on each worker thread; read by tasks on that thread. */
static _Thread_local int init_value;
static _Thread_local int tasks_on_thread;
static atomic_int init_calls;

static void initializer(void *arg)
{
    atomic_fetch_add(&init_calls, 1);
    init_value = *(const int *)arg;
}

/* Writes what the initializer left on its thread and how many tasks this thread ran. */
static int task_thread_state(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    int32_t out[2] = {init_value, ++tasks_on_thread};
    return pc_buffer_write(result, out, sizeof out) == PC_OK ? 0 : 1;
}

/* What a worker is: "<pid> <daemon 0/1> <same handle as listed 0/1> <name>". */
static pc_process *listed[16];
static size_t n_listed;

static int task_whoami(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    const pc_process *me = NULL;
    if (pc_current_process(&me) != PC_OK)
        return 1;
    bool known = false;
    for (size_t i = 0; i < n_listed; i++)
        known = known || listed[i] == me;
    char buf[200];
    int n = snprintf(buf, sizeof buf, "%d %d %d %s", (int)getpid(), pc_process_daemon(me),
                     known, pc_process_name(me));
    return pc_buffer_write(result, buf, (size_t)n) == PC_OK ? 0 : 2;
}

/* Writes its item back in many small pieces, yielding between them: tasks running at
 * once on other threads must not mix their results. */
static int task_pieces(const void *arg, size_t len, pc_buffer *result)
{
    const uint8_t *in = arg;
    for (size_t i = 0; i < len; i++) {
        if (pc_buffer_write(result, &in[i], 1) != PC_OK)
            return 1;
        if (i % 16 == 0)
            sched_yield();
    }
    return 0;
}

/* Keeps its pc_buffer past its end (to check it is then refused). */
static pc_buffer *kept_buffer;

static int task_keep_buffer(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    kept_buffer = result;
    return pc_buffer_write(result, "k", 1) == PC_OK ? 0 : 1;
}

static void test_apply_and_results(void)
{
    pc_pool *p = new_thread_pool(3, 0, NULL, NULL);
    pc_bytes res = {NULL, 0};
    check_apply(p);

    /* apply_async on a slow task: get times out (never early), then comes. */
    struct sleep_arg a = sleep_arg(0.3, -1, 1234);
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    CHECK(!pc_async_result_ready(r));
    bool ok = false;
    CHECK_STATUS(pc_async_result_successful(r, &ok), PC_ERR_WRONG_STATE);
    double t0 = now();
    CHECK_STATUS(pc_async_result_get(r, 0.05, &res, 1), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.0495 || took > 1.0)
        FAIL("get(0.05) on a 0.3 s task returned after %.3f s", took);
    CHECK_OK(pc_async_result_wait(r, 10.0));
    CHECK(pc_async_result_ready(r));
    CHECK_OK(pc_async_result_successful(r, &ok));
    CHECK(ok);
    CHECK_OK(pc_async_result_get(r, 0, &res, 1));
    CHECK(bytes_i32(&res) == 1234);
    pc_bytes_free(&res);
    pc_async_result_free(r);

    /* A failing task: its code and output in pc_last_error, result untouched. */
    int code = 42;
    pc_bytes untouched = {(uint8_t *)"s", 1};
    CHECK_STATUS(pc_pool_apply(p, task_fail, &code, sizeof code, &untouched),
                 PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("boom-42");
    CHECK(untouched.len == 1);

    /* Many in flight at once, and concurrent tasks' results kept apart. */
    enum { K = 64 };
    pc_async_result *rs[K];
    uint8_t items[K][300];
    for (int i = 0; i < K; i++) {
        fill_pattern(items[i], sizeof items[i], (unsigned)i);
        CHECK_OK(pc_pool_apply_async(p, task_pieces, items[i], sizeof items[i], NULL, NULL,
                                     &rs[i]));
    }
    for (int i = 0; i < K; i++) {
        CHECK_OK(pc_async_result_get(rs[i], 10.0, &res, 1));
        CHECK(res.len == sizeof items[i]);
        CHECK(pattern_mismatch(res.data, res.len, (unsigned)i) == res.len);
        pc_bytes_free(&res);
        pc_async_result_free(rs[i]);
    }

    /* A task's pc_buffer is refused after the task. */
    CHECK_OK(pc_pool_apply(p, task_keep_buffer, NULL, 0, &res));
    CHECK(res.len == 1);
    pc_bytes_free(&res);
    CHECK_STATUS(pc_buffer_write(kept_buffer, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_buffer_write");

    CHECK_OK(pc_pool_close(p));
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_CLOSED);
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

static void test_maps(void)
{
    pc_pool *p = new_thread_pool(3, 0, NULL, NULL);
    enum { N = 500 };
    int64_t xs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i + 20; /* never 13: every item succeeds */
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    pc_bytes *res = calloc(N, sizeof(pc_bytes));
    CHECK(res);
    size_t chunks[] = {1, 7, 0};
    for (size_t c = 0; c < 3; c++) {
        CHECK_OK(pc_pool_map(p, task_square, items, N, chunks[c], res));
        for (int i = 0; i < N; i++)
            CHECK(bytes_i64(&res[i]) == xs[i] * xs[i]);
        free_results(res, N);

        struct cb_rec rec = {0};
        pc_async_result *r;
        CHECK_OK(pc_pool_map_async(p, task_square, items, N, chunks[c], cb_record, &rec, &r));
        CHECK_OK(pc_async_result_get(r, 30.0, res, N));
        for (int i = 0; i < N; i++)
            CHECK(bytes_i64(&res[i]) == xs[i] * xs[i]);
        free_results(res, N);
        cb_wait_once(&rec, "map_async");
        CHECK(rec.status == PC_OK && rec.count == N);
        CHECK(bytes_i64(&rec.copies[N - 1]) == xs[N - 1] * xs[N - 1]);
        CHECK(!pthread_equal(rec.thread, pthread_self())); /* on the result thread */
        CHECK(rec.pid == getpid());
        cb_rec_free(&rec);
        pc_async_result_free(r);

        pc_iter *it;
        CHECK_OK(pc_pool_imap(p, task_square, items, N, chunks[c], &it));
        for (int i = 0; i < N; i++) {
            pc_bytes b;
            CHECK_OK(pc_iter_next(it, 30.0, &b));
            CHECK(bytes_i64(&b) == xs[i] * xs[i]);
            pc_bytes_free(&b);
        }
        pc_bytes b;
        CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
        pc_iter_free(it);

        CHECK_OK(pc_pool_imap_unordered(p, task_square, items, N, chunks[c], &it));
        int64_t sum = 0, want = 0;
        for (int i = 0; i < N; i++) {
            CHECK_OK(pc_iter_next(it, 30.0, &b));
            sum += bytes_i64(&b);
            want += xs[i] * xs[i];
            pc_bytes_free(&b);
        }
        CHECK(sum == want);
        CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
        pc_iter_free(it);
    }

    /* One failing item (13): the map fails once every item ran; the callback says so. */
    xs[100] = 13;
    atomic_store(&S->ran, 0);
    CHECK_STATUS(pc_pool_map(p, task_square, items, N, 7, res), PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("unlucky 13");
    CHECK(atomic_load(&S->ran) == N - 1);
    struct cb_rec rec = {0};
    pc_async_result *r;
    CHECK_OK(pc_pool_map_async(p, task_square, items, N, 0, cb_record, &rec, &r));
    CHECK_STATUS(pc_async_result_get(r, 30.0, res, N), PC_ERR_TASK_FAILED);
    cb_wait_once(&rec, "failing map_async");
    CHECK(rec.status == PC_ERR_TASK_FAILED);
    CHECK(tu_contains(rec.err, "unlucky 13"));
    cb_rec_free(&rec);
    pc_async_result_free(r);

    /* map_array: the context, the inputs and the outputs. */
    enum { M = 10000 };
    double *in = malloc(M * sizeof *in), *out = malloc(M * sizeof *out);
    CHECK(in && out);
    for (int i = 0; i < M; i++)
        in[i] = i;
    CHECK_OK(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in, sizeof *in,
                               out, sizeof *out, M, 0));
    for (int i = 0; i < M; i++)
        CHECK(out[i] == i * array_ctx.factor + array_ctx.offset);
    in[M / 2] = -1; /* the failing element */
    CHECK_STATUS(pc_pool_map_array(p, elem_double, &array_ctx, sizeof array_ctx, in,
                                   sizeof *in, out, sizeof *out, M, 100),
                 PC_ERR_TASK_FAILED);
    CHECK_ERRMSG("77");
    free(in);
    free(out);
    free(res);
    pc_pool_free(p);
}

static void test_workers(void)
{
    size_t before = 99;
    CHECK_OK(pc_active_children(NULL, 0, &before));
    pc_pool *p = new_thread_pool(3, 0, NULL, NULL);
    size_t count = 0;
    pc_process *kids[16];
    CHECK_OK(pc_active_children(kids, 16, &count));
    CHECK(count == before + 3 && count <= 16);
    n_listed = 0;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(pc_process_name(kids[i]), "PoolWorker-", 11) == 0) {
            CHECK(pc_process_daemon(kids[i]));
            CHECK(pc_process_pid(kids[i]) == getpid());
            CHECK(pc_process_is_alive(kids[i]));
            /* A worker thread cannot be killed. */
            CHECK_STATUS(pc_process_kill(kids[i]), PC_ERR_NOT_SUPPORTED);
            listed[n_listed++] = kids[i];
        }
    }
    CHECK(n_listed == 3);
    /* Inside a task: the worker's own dummy process, the handle pc_active_children lent. */
    pc_slice items[12];
    for (int i = 0; i < 12; i++)
        items[i] = (pc_slice){NULL, 0};
    pc_bytes res[12];
    CHECK_OK(pc_pool_map(p, task_whoami, items, 12, 1, res));
    for (int i = 0; i < 12; i++) {
        char s[256], name[200] = "";
        snprintf(s, sizeof s, "%.*s", (int)res[i].len, (const char *)res[i].data);
        int pid = 0, daemon = -1, known = -1;
        if (sscanf(s, "%d %d %d %199s", &pid, &daemon, &known, name) != 4 || pid != getpid() ||
            daemon != 1 || known != 1 || strncmp(name, "PoolWorker-", 11) != 0)
            FAIL("a task runs in \"%s\"", s);
        tu_checks++;
    }
    free_results(res, 12);
    pc_pool_free(p);
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == before);

    /* opts->processes 0: one thread per CPU. */
    p = new_thread_pool(0, 0, NULL, NULL);
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == before + (size_t)pc_cpu_count());
    pc_pool_free(p);
}

static void test_initializer_and_max_tasks(void)
{
    static int magic = 4242;
    atomic_store(&init_calls, 0);
    pc_pool *p = new_thread_pool(3, 0, initializer, &magic);
    CHECK(wait_flag(&init_calls, 3, 10.0));
    enum { N = 60 };
    pc_slice items[N];
    for (int i = 0; i < N; i++)
        items[i] = (pc_slice){NULL, 0};
    pc_bytes res[N];
    CHECK_OK(pc_pool_map(p, task_thread_state, items, N, 1, res));
    for (int i = 0; i < N; i++) {
        CHECK(res[i].len == 8);
        int32_t got[2];
        memcpy(got, res[i].data, sizeof got);
        CHECK(got[0] == 4242);
    }
    free_results(res, N);
    CHECK(atomic_load(&init_calls) == 3); /* once per thread, not per task */
    CHECK(init_value == 0);               /* never on this thread */
    pc_pool_free(p);

    /* max_tasks_per_child 2: no thread runs a third task; replacements run the
     * initializer too. */
    atomic_store(&init_calls, 0);
    p = new_thread_pool(2, 2, initializer, &magic);
    for (int i = 0; i < N / 3; i++) {
        pc_bytes r;
        CHECK_OK(pc_pool_apply(p, task_thread_state, NULL, 0, &r));
        int32_t got[2];
        CHECK(r.len == sizeof got);
        memcpy(got, r.data, sizeof got);
        if (got[0] != 4242 || got[1] < 1 || got[1] > 2)
            FAIL("task %d: initializer value %d, task %d on its thread", i, got[0], got[1]);
        tu_checks++;
        pc_bytes_free(&r);
    }
    CHECK(atomic_load(&init_calls) >= N / 3 / 2);
    CHECK(list_children(NULL, 0) == 0);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

/* terminate while tasks run: the 2 running ones finish (terminate waits for them), the 4
 * queued ones never start; every unfinished result fails with PC_ERR_CLOSED. */
static void test_terminate_while_running(void)
{
    pc_pool *p = new_thread_pool(2, 0, NULL, NULL);
    atomic_store(&S->started, 0);
    enum { K = 6 };
    struct sleep_arg a = sleep_arg(0.4, -1, 5);
    pc_async_result *rs[K];
    struct cb_rec recs[K];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < K; i++)
        CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, cb_record, &recs[i], &rs[i]));
    CHECK(wait_flag(&S->started, 2, 10.0));
    double t0 = now();
    CHECK_OK(pc_pool_terminate(p));
    double took = now() - t0;
    if (took < 0.2 || took > 5.0)
        FAIL("terminate took %.3f s: it must wait for the two 0.4 s tasks running", took);
    CHECK(atomic_load(&S->started) == 2);
    for (int i = 0; i < K; i++) {
        pc_bytes res;
        CHECK_STATUS(pc_async_result_get(rs[i], 5.0, &res, 1), PC_ERR_CLOSED);
        cb_wait_once(&recs[i], "a terminated task");
        CHECK(recs[i].status == PC_ERR_CLOSED);
        cb_rec_free(&recs[i]);
        pc_async_result_free(rs[i]);
    }
    sleep_s(0.1);
    CHECK(atomic_load(&S->started) == 2); /* the queued ones never started */
    pc_bytes res;
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, &res), PC_ERR_CLOSED);
    CHECK_OK(pc_pool_join(p));
    CHECK_OK(pc_pool_terminate(p)); /* again: harmless */
    size_t count = 99;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);
    pc_pool_free(p);

    /* pc_pool_free of a busy thread pool waits for its running task as well. */
    p = new_thread_pool(1, 0, NULL, NULL);
    atomic_store(&S->started, 0);
    a.seconds = 0.3;
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_sleep, &a, sizeof a, NULL, NULL, &r));
    CHECK(wait_flag(&S->started, 1, 10.0));
    t0 = now();
    pc_pool_free(p);
    CHECK(now() - t0 >= 0.1);
    CHECK_STATUS(pc_async_result_get(r, 5.0, &res, 1), PC_ERR_CLOSED);
    pc_async_result_free(r);
}

/* A daemonic process may make a thread pool (not a process pool): in a process pool's
 * worker, writes "<thread pool status> <process pool status> <apply's result>". */
static int task_pools_in_worker(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    pc_pool_options o = {.processes = 2, .threads = true};
    pc_pool *tp = NULL, *pp = NULL;
    int st_t = pc_pool_new(&o, &tp);
    o.threads = false;
    int st_p = pc_pool_new(&o, &pp);
    pc_bytes r = {NULL, 0};
    int st_a = tp ? pc_pool_apply(tp, task_echo, "ok", 2, &r) : -1;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%d %d %d %.*s", st_t, st_p, st_a, (int)r.len,
                     r.data ? (const char *)r.data : "");
    pc_bytes_free(&r);
    pc_pool_free(tp);
    pc_pool_free(pp);
    return pc_buffer_write(result, buf, (size_t)n) == PC_OK ? 0 : 1;
}

static void test_in_daemonic_process(void)
{
    pc_pool *p = new_pool(1);
    pc_bytes res;
    CHECK_OK(pc_pool_apply(p, task_pools_in_worker, NULL, 0, &res));
    char s[64], want[64];
    snprintf(s, sizeof s, "%.*s", (int)res.len, (const char *)res.data);
    snprintf(want, sizeof want, "%d %d %d ok", PC_OK, PC_ERR_WRONG_STATE, PC_OK);
    if (strcmp(s, want) != 0)
        FAIL("in a worker process: \"%s\", expected \"%s\"", s, want);
    tu_checks++;
    pc_bytes_free(&res);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

/* A task that uses another thread pool, then writes its own result: both run in worker
 * slot 0 of their pools, and each result stays its own. */
static pc_pool *inner_pool;

static int task_nested(const void *arg, size_t len, pc_buffer *result)
{
    pc_bytes inner = {NULL, 0};
    if (pc_pool_apply(inner_pool, task_echo, arg, len, &inner) != PC_OK)
        return 1;
    int rc = pc_buffer_write(result, "outer:", 6) == PC_OK &&
                     pc_buffer_write(result, inner.data, inner.len) == PC_OK
                 ? 0
                 : 2;
    pc_bytes_free(&inner);
    return rc;
}

static void test_nested(void)
{
    inner_pool = new_thread_pool(1, 0, NULL, NULL);
    pc_pool *p = new_thread_pool(1, 0, NULL, NULL);
    for (int i = 0; i < 20; i++) {
        pc_bytes res;
        CHECK_OK(pc_pool_apply(p, task_nested, "in", 2, &res));
        CHECK(res.len == 8 && memcmp(res.data, "outer:in", 8) == 0);
        pc_bytes_free(&res);
    }
    pc_pool_free(p);
    pc_pool_free(inner_pool);
}

static void test_bad_input(void)
{
    pc_pool_options o = {.processes = PC_POOL_MAX_PROCESSES + 1, .threads = true};
    pc_pool *p = (pc_pool *)0x1;
    CHECK_STATUS(pc_pool_new(&o, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pool_new");
    CHECK(p == (pc_pool *)0x1);
    o.processes = 1;
    CHECK_STATUS(pc_pool_new(&o, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    p = new_thread_pool(1, 0, NULL, NULL);
    pc_bytes res;
    CHECK_STATUS(pc_pool_apply(p, NULL, "x", 1, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fn");
    CHECK_STATUS(pc_pool_apply(p, task_echo, NULL, 1, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("arg");
    CHECK_STATUS(pc_pool_map(p, task_echo, NULL, 2, 0, &res), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_pool_apply(p, task_echo, "x", 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("result");
    pc_pool_free(p);
    CHECK_STATUS(pc_pool_close(p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("already freed");
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_thread_pool", 50);
    S = shared_new(sizeof *S);

    RUN(test_apply_and_results);
    RUN(test_maps);
    RUN(test_workers);
    RUN(test_initializer_and_max_tasks);
    RUN(test_terminate_while_running);
    RUN(test_in_daemonic_process);
    RUN(test_nested);
    RUN(test_bad_input);

    shared_free(S, sizeof *S);
    return tu_done();
}
