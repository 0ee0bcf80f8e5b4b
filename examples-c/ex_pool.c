/*
 * ex_pool.c: a pool of worker processes, the C version of the seed's ex_pool.py, which
 * exercises every Pool method:
 *
 *     pool = Pool(4)
 *     results = [pool.applyAsync(calculate, t) for t in TASKS]    # then r.get() in order
 *     pool.imap(calculatestar, TASKS), pool.imapUnordered(...), pool.map(...)
 *     map(pow3, range(N)) vs pool.map(pow3, ...) vs pool.imap(pow3, ..., chunksize=N/8)
 *     f(x) = 1.0/(x-5.0): the error comes out of apply, map, list(imap) and imap's next()
 *     res.get(0.02), it.next(0.02) in loops that catch TimeoutError
 *     applyAsync(mul, (7, 8), callback=A.append); mapAsync(pow3, range(10), callback=A.extend)
 *     close() + join() waits for a pending task; terminate() with long tasks pending;
 *     deleting a pool with pending tasks
 *
 * How Python's pool maps to C:
 *
 *   - A task is a C function over bytes, `int task(const void *arg, size_t len,
 *     pc_buffer *result)`: it reads its argument's bytes, appends its result with
 *     pc_buffer_write, and returns 0. Any other return value fails the task: the caller
 *     gets PC_ERR_TASK_FAILED, with the code and what the task wrote in pc_last_error()
 *     (Python re-raises the task's exception). Arguments here are small structs or
 *     integers sent as their bytes; results are read back the same way.
 *   - The workers are forks of this program, made when the pool is: a task may call any
 *     function of the program and read any data made before the pool (the initializer's
 *     argument below is a plain global). pc_pool_map_array copies its ctx for each call,
 *     so that one may be made or changed at any time.
 *   - A callback gets its status and every result, and runs on one library thread of
 *     this process (the pool's result thread), for failures and terminate too. Whatever
 *     it shares with the main thread needs a mutex.
 *   - pc_pool_map_array is a map over C arrays (out[i] = fn(in[i])) that copies the
 *     inputs into shared memory once and the outputs out of it once, without a message
 *     per item: the replacement for the seed's map over a million items.
 *
 * Every result is checked; any mismatch makes the example exit 1. Each wait has a
 * timeout, so a bug cannot hang the example; real programs may pass PC_FOREVER. The
 * times printed are for show: nothing depends on them except the check that terminate
 * and pc_pool_free do not wait for the tasks they stop.
 *
 * Build: cc ex_pool.c -lprocessing
 */
#include <processing.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROCESSES 4
#define NTASKS 20       /* mul(i, 7) for i in 0..9, then plus(i, 8) for i in 0..9 */
#define N 100000        /* the pow3 benchmark */
#define M 1000000       /* the map_array benchmark */
#define WAIT 10.0       /* the longest any single wait may take here */

/* ---- helpers ---- */

/* Prints the failing call with the library's explanation; returns 1 (an exit code). */
static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; on failure, reports it and returns 1. */
#define TRY(call)                                                                            \
    do {                                                                                     \
        pc_status try_status_ = (call);                                                      \
        if (try_status_ != PC_OK)                                                            \
            return fail(#call, try_status_);                                                 \
    } while (0)

/* Runs a call that must return `want` (an error on purpose); returns 1 otherwise. */
#define EXPECT(call, want)                                                                   \
    do {                                                                                     \
        pc_status expect_status_ = (call);                                                   \
        if (expect_status_ != (want)) {                                                      \
            fprintf(stderr, "%s: %s, expected %s (%s)\n", #call,                             \
                    pc_status_str(expect_status_), pc_status_str(want), pc_last_error());    \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

/* Checks a result; on a mismatch, says what and returns 1. */
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "line %d: %s is false: ", __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The int64 a task wrote (most tasks here answer with one). */
static int read_i64(const pc_bytes *b, int64_t *out)
{
    if (b->len != sizeof *out)
        return -1;
    memcpy(out, b->data, sizeof *out);
    return 0;
}

/* The live children of this process (the pool's workers are ours). */
static size_t children(void)
{
    size_t n = 0;
    return pc_active_children(NULL, 0, &n) == PC_OK ? n : (size_t)-1;
}

/* ---- the initializer: runs once in each worker before its first task ---- */

/* Its argument: a global, so the workers (forks made with the pool) see it. */
static unsigned base_seed;
/* Set in each worker by the initializer: every worker sleeps its own random times. */
static unsigned worker_seed;

static void init_worker(void *initarg)
{
    worker_seed = *(const unsigned *)initarg ^ (unsigned)getpid();
}

/* ---- the tasks: they run in the workers ---- */

enum func { MUL, PLUS };
static const char *const func_names[] = {"mul", "plus"};

/* calculate's argument, sent as its bytes. */
struct task {
    int32_t id; /* its place in TASKS: lets imap_unordered's results be matched */
    int32_t func;
    int32_t a, b;
};

/* calculate's result: this header, then the text, e.g.
 * "PoolWorker-2 says that mul(3, 7) = 21". */
struct answer {
    int32_t id;
    int32_t value;
};

static int describe(char *buf, size_t cap, const char *who, const struct task *t,
                    int32_t value)
{
    return snprintf(buf, cap, "%s says that %s(%d, %d) = %d", who, func_names[t->func],
                    (int)t->a, (int)t->b, (int)value);
}

/* The seed's calculate(func, args): mul or plus after a short random nap (the seed naps
 * up to 0.5 s; 20 ms keeps the example quick and still shuffles the order of completion),
 * and says which worker did it. */
static int task_calculate(const void *arg, size_t len, pc_buffer *result)
{
    struct task t;
    if (len != sizeof t || worker_seed == 0) /* worker_seed 0: the initializer did not run */
        return 2;
    memcpy(&t, arg, sizeof t);
    sleep_s(0.02 * (double)rand_r(&worker_seed) / RAND_MAX);

    struct answer a = {t.id, t.func == MUL ? t.a * t.b : t.a + t.b};
    const pc_process *me;
    pc_current_process(&me);
    char text[128];
    int n = describe(text, sizeof text, pc_process_name(me), &t, a.value);
    /* A result may be written in pieces: they are appended. */
    if (pc_buffer_write(result, &a, sizeof a) != PC_OK ||
        pc_buffer_write(result, text, (size_t)n) != PC_OK)
        return 3;
    return 0;
}

/* mul(a, b) over two int64s. */
static int task_mul(const void *arg, size_t len, pc_buffer *result)
{
    int64_t ab[2];
    if (len != sizeof ab)
        return 2;
    memcpy(ab, arg, sizeof ab);
    int64_t p = ab[0] * ab[1];
    return pc_buffer_write(result, &p, sizeof p) == PC_OK ? 0 : 3;
}

static int64_t pow3(int64_t x)
{
    return x * x * x;
}

/* pow3(x) over an int64. */
static int task_pow3(const void *arg, size_t len, pc_buffer *result)
{
    int64_t x;
    if (len != sizeof x)
        return 2;
    memcpy(&x, arg, sizeof x);
    int64_t y = pow3(x);
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 3;
}

/* The seed's f(x) = 1.0 / (x - 5.0): at x == 5 it fails, as Python's raises
 * ZeroDivisionError. What a failing task wrote travels with its error. */
static int task_f(const void *arg, size_t len, pc_buffer *result)
{
    int64_t x;
    if (len != sizeof x)
        return 2;
    memcpy(&x, arg, sizeof x);
    if (x == 5) {
        static const char why[] = "ZeroDivisionError: float division by zero";
        pc_buffer_write(result, why, sizeof why - 1);
        return 1; /* non-zero: the task failed */
    }
    double y = 1.0 / ((double)x - 5.0);
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 3;
}

/* Sleeps, then answers with a value: the seed's time.sleep tasks. */
struct nap {
    double seconds;
    int64_t value;
};

static int task_sleep(const void *arg, size_t len, pc_buffer *result)
{
    struct nap n;
    if (len != sizeof n)
        return 2;
    memcpy(&n, arg, sizeof n);
    sleep_s(n.seconds);
    return pc_buffer_write(result, &n.value, sizeof n.value) == PC_OK ? 0 : 3;
}

/* ---- element functions for pc_pool_map_array: one element in, one out ---- */

/* Its ctx: pc_pool_map_array copies it for the call, so it may live anywhere (here on
 * the stack of benchmarks()). Pointers inside it would not be followed: they would have to
 * point to memory the workers see. */
struct cube_ctx {
    double scale;
};

static int elem_cube(const void *in, void *out, const void *ctx)
{
    const struct cube_ctx *c = ctx;
    double x = *(const double *)in;
    *(double *)out = c->scale * x * x * x;
    return 0;
}

/* f(x) over doubles: fails at 5. */
static int elem_f(const void *in, void *out, const void *ctx)
{
    (void)ctx;
    double x = *(const double *)in;
    if (x == 5.0)
        return 1;
    *(double *)out = 1.0 / (x - 5.0);
    return 0;
}

/* ---- callbacks: they run on the pool's result thread, in this process ---- */

/* What the callbacks fill: the seed's list A, behind a mutex, with a condition variable
 * to wait for a callback to have run (pc_async_result_wait says that the results are in;
 * the callback comes on the pool's thread, perhaps a moment later). */
struct collector {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    int64_t values[32];
    size_t n;
    int calls;
    pc_status last_status;
};

static struct collector A = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0,
                             PC_OK};

/* A.extend(results): for apply_async count is 1 (A.append), for map_async n. The results
 * are valid during the call only: copy what you keep. */
static void extend(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    struct collector *c = ctx;
    pthread_mutex_lock(&c->mutex);
    if (status == PC_OK)
        for (size_t i = 0; i < count && c->n < sizeof c->values / sizeof c->values[0]; i++)
            if (read_i64(&results[i], &c->values[c->n]) == 0)
                c->n++;
    c->last_status = status; /* PC_ERR_TASK_FAILED, PC_ERR_CLOSED, ... come here too */
    c->calls++;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->mutex);
}

/* Waits (at most WAIT seconds) until the collector's callbacks ran `calls` times. */
static int wait_calls(struct collector *c, int calls)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)WAIT;
    int ok = 1;
    pthread_mutex_lock(&c->mutex);
    while (c->calls < calls && ok)
        ok = pthread_cond_timedwait(&c->changed, &c->mutex, &until) == 0 || c->calls >= calls;
    pthread_mutex_unlock(&c->mutex);
    return ok ? 0 : -1;
}

/* ---- the parts of the example ---- */

static struct task TASKS[NTASKS];
static pc_slice task_items[NTASKS]; /* pc_slice: a borrowed input, one per item */

/* Checks one of calculate's results against TASKS[want_id] (want_id -1: any task not
 * seen yet, for imap_unordered) and prints it. */
static int check_answer(const pc_bytes *b, int want_id, int seen[NTASKS])
{
    struct answer a;
    CHECK(b->len > sizeof a, "a result of %zu bytes", b->len);
    memcpy(&a, b->data, sizeof a);
    const char *text = (const char *)b->data + sizeof a;
    int text_len = (int)(b->len - sizeof a);
    printf("\t%.*s\n", text_len, text);

    CHECK(a.id >= 0 && a.id < NTASKS && (want_id < 0 || a.id == want_id),
          "got task %d, expected %d", (int)a.id, want_id);
    CHECK(seen[a.id]++ == 0, "task %d answered twice", (int)a.id);
    const struct task *t = &TASKS[a.id];
    int32_t want = t->func == MUL ? t->a * t->b : t->a + t->b;
    CHECK(a.value == want, "%d instead of %d", (int)a.value, (int)want);
    /* The text: "PoolWorker-<n>" (the workers' names), then the sum. */
    char expected[128];
    int n = describe(expected, sizeof expected, "", t, want);
    const char *says = memchr(text, ' ', (size_t)text_len);
    CHECK(text_len > 11 && memcmp(text, "PoolWorker-", 11) == 0 && says &&
              (int)(text + text_len - says) == n && memcmp(says, expected, (size_t)n) == 0,
          "\"%.*s\"", text_len, text);
    return 0;
}

/* applyAsync, imap, imapUnordered and map over TASKS, each result checked. */
static int ordered_and_unordered(pc_pool *pool)
{
    for (int i = 0; i < NTASKS; i++) {
        TASKS[i] = i < 10 ? (struct task){i, MUL, i, 7} : (struct task){i, PLUS, i - 10, 8};
        task_items[i] = (pc_slice){&TASKS[i], sizeof TASKS[i]};
    }

    /* All three are submitted at once, as in the seed: they run concurrently. Each
     * copies its arguments before it returns. */
    pc_async_result *results[NTASKS] = {NULL};
    for (int i = 0; i < NTASKS; i++)
        TRY(pc_pool_apply_async(pool, task_calculate, &TASKS[i], sizeof TASKS[i], NULL, NULL,
                                &results[i]));
    pc_iter *imap_it = NULL, *imap_unordered_it = NULL;
    TRY(pc_pool_imap(pool, task_calculate, task_items, NTASKS, 1, &imap_it));
    TRY(pc_pool_imap_unordered(pool, task_calculate, task_items, NTASKS, 1,
                               &imap_unordered_it));

    int seen[NTASKS] = {0};
    printf("Ordered results using pc_pool_apply_async():\n");
    for (int i = 0; i < NTASKS; i++) {
        pc_bytes b = {0};
        /* count 1: an apply_async result has one result. */
        TRY(pc_async_result_get(results[i], WAIT, &b, 1));
        int bad = check_answer(&b, i, seen);
        pc_bytes_free(&b);
        pc_async_result_free(results[i]);
        if (bad)
            return 1;
    }
    printf("\n");

    printf("Ordered results using pc_pool_imap():\n");
    memset(seen, 0, sizeof seen);
    int i = 0;
    for (;; i++) {
        pc_bytes b = {0};
        pc_status s = pc_iter_next(imap_it, WAIT, &b);
        if (s == PC_ERR_STOP) /* Python's StopIteration */
            break;
        TRY(s);
        int bad = check_answer(&b, i, seen);
        pc_bytes_free(&b);
        if (bad)
            return 1;
    }
    CHECK(i == NTASKS, "%d results", i);
    pc_iter_free(imap_it);
    printf("\n");

    printf("Unordered results using pc_pool_imap_unordered():\n");
    memset(seen, 0, sizeof seen);
    for (i = 0;; i++) {
        pc_bytes b = {0};
        pc_status s = pc_iter_next(imap_unordered_it, WAIT, &b);
        if (s == PC_ERR_STOP)
            break;
        TRY(s);
        int bad = check_answer(&b, -1, seen); /* any order; each task once */
        pc_bytes_free(&b);
        if (bad)
            return 1;
    }
    CHECK(i == NTASKS, "%d results", i);
    pc_iter_free(imap_unordered_it);
    printf("\n");

    printf("Ordered results using pc_pool_map() --- will block till complete:\n");
    memset(seen, 0, sizeof seen);
    pc_bytes mapped[NTASKS] = {{0}};
    /* chunksize 0: Python's default, about four chunks per worker. */
    TRY(pc_pool_map(pool, task_calculate, task_items, NTASKS, 0, mapped));
    int bad = 0;
    for (i = 0; i < NTASKS; i++) {
        if (!bad)
            bad = check_answer(&mapped[i], i, seen);
        pc_bytes_free(&mapped[i]);
    }
    printf("\n");
    return bad;
}

/* The seed's simple benchmarks: a serial loop, pool.map and pool.imap(chunksize=N/8) for
 * pow3; then pc_pool_map_array over a million doubles. Times are printed, not checked. */
static int64_t xs[N], serial[N];
static pc_slice x_items[N];
static pc_bytes pooled[N];

static int benchmarks(pc_pool *pool)
{
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        x_items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    }
    printf("int64_t pow3(int64_t x) { return x * x * x; }\n");

    double t = now();
    for (int i = 0; i < N; i++)
        serial[i] = pow3(xs[i]);
    printf("\tserial loop over %d ints:\n\t\t%.6f seconds\n", N, now() - t);

    t = now();
    TRY(pc_pool_map(pool, task_pow3, x_items, N, 0, pooled));
    printf("\tpc_pool_map(pool, task_pow3, %d ints, chunksize 0):\n\t\t%.6f seconds\n", N,
           now() - t);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int64_t y;
        if (!bad && (read_i64(&pooled[i], &y) != 0 || y != serial[i])) {
            fprintf(stderr, "pc_pool_map: pow3(%d) wrong\n", i);
            bad = 1;
        }
        pc_bytes_free(&pooled[i]);
    }
    if (bad)
        return 1;

    t = now();
    pc_iter *it = NULL;
    TRY(pc_pool_imap(pool, task_pow3, x_items, N, N / 8, &it));
    int count = 0;
    for (;; count++) {
        pc_bytes b = {0};
        pc_status s = pc_iter_next(it, WAIT, &b);
        if (s == PC_ERR_STOP)
            break;
        int64_t y = 0;
        if (s != PC_OK || read_i64(&b, &y) != 0 || count >= N || y != serial[count]) {
            fprintf(stderr, "pc_pool_imap: item %d: %s\n", count, pc_status_str(s));
            pc_bytes_free(&b);
            pc_iter_free(it);
            return 1;
        }
        pc_bytes_free(&b);
    }
    printf("\tpc_pool_imap(pool, task_pow3, %d ints, chunksize %d) to the end:\n"
           "\t\t%.6f seconds\n",
           N, N / 8, now() - t);
    pc_iter_free(it);
    CHECK(count == N, "%d results", count);
    printf("\n");

    /* A map over C arrays: the library copies the million inputs into shared memory once
     * and the outputs back once; the workers call elem_cube on their chunks in place. */
    double *in = malloc(M * sizeof *in), *out = malloc(M * sizeof *out),
           *want = malloc(M * sizeof *want);
    if (!in || !out || !want) {
        free(in), free(out), free(want);
        return fail("malloc", PC_ERR_NO_MEMORY);
    }
    for (int i = 0; i < M; i++)
        in[i] = (double)i / M;
    printf("double cube(double x) { return ctx->scale * x * x * x; } over %d doubles\n", M);

    struct cube_ctx cube_ctx = {0.5};
    t = now();
    for (int i = 0; i < M; i++)
        elem_cube(&in[i], &want[i], &cube_ctx);
    printf("\tserial loop:\n\t\t%.6f seconds\n", now() - t);

    t = now();
    pc_status s = pc_pool_map_array(pool, elem_cube, &cube_ctx, sizeof cube_ctx, in,
                                    sizeof *in, out, sizeof *out, M, 0);
    printf("\tpc_pool_map_array(pool, elem_cube, &ctx, sizeof ctx, in, 8, out, 8, %d, 0):\n"
           "\t\t%.6f seconds\n\n",
           M, now() - t);
    /* Same function, same inputs: the very same doubles. */
    bad = s != PC_OK ? fail("pc_pool_map_array", s) : memcmp(out, want, M * sizeof *out) != 0;
    if (s == PC_OK && bad)
        fprintf(stderr, "pc_pool_map_array: wrong results\n");
    free(in), free(out), free(want);
    return bad;
}

/* The seed's error handling: f(5) fails, and so do the calls that ran it. */
static int errors(pc_pool *pool)
{
    printf("Testing error handling:\n");
    int64_t five = 5;
    pc_bytes b = {0};
    EXPECT(pc_pool_apply(pool, task_f, &five, sizeof five, &b), PC_ERR_TASK_FAILED);
    /* The code the task returned and what it wrote: */
    CHECK(strstr(pc_last_error(), "ZeroDivisionError") != NULL, "\"%s\"", pc_last_error());
    CHECK(b.data == NULL, "a result for a failed apply");
    printf("\tGot PC_ERR_TASK_FAILED as expected from pc_pool_apply():\n\t\t%s\n",
           pc_last_error());

    /* map: the failure of item 5 fails the call (the other items still ran); the
     * results are left untouched. */
    pc_slice items[10];
    for (int i = 0; i < 10; i++)
        items[i] = (pc_slice){&xs[i], sizeof xs[i]}; /* xs[i] == i */
    pc_bytes results[10] = {{0}};
    EXPECT(pc_pool_map(pool, task_f, items, 10, 0, results), PC_ERR_TASK_FAILED);
    for (int i = 0; i < 10; i++)
        CHECK(results[i].data == NULL, "map filled result %d", i);
    printf("\tGot PC_ERR_TASK_FAILED as expected from pc_pool_map()\n");

    /* list(pool.imap(f, range(10))): collecting stops at the first error, item 5. */
    pc_iter *it = NULL;
    TRY(pc_pool_imap(pool, task_f, items, 10, 1, &it));
    int got = 0;
    pc_status s;
    while ((s = pc_iter_next(it, WAIT, &b)) == PC_OK) {
        pc_bytes_free(&b);
        got++;
    }
    pc_iter_free(it);
    EXPECT(s, PC_ERR_TASK_FAILED);
    CHECK(got == 5, "the error came after %d results", got);
    printf("\tGot PC_ERR_TASK_FAILED as expected from collecting pc_pool_imap()\n");

    /* imap's next(): item 5 is the error, and the iteration goes on after it. */
    TRY(pc_pool_imap(pool, task_f, items, 10, 1, &it));
    int i = 0;
    for (;; i++) {
        s = pc_iter_next(it, WAIT, &b);
        if (s == PC_ERR_STOP)
            break;
        double y = 0;
        int ok = i == 5 ? s == PC_ERR_TASK_FAILED
                        : s == PC_OK && b.len == sizeof y &&
                              (memcpy(&y, b.data, sizeof y), y == 1.0 / ((double)i - 5.0));
        pc_bytes_free(&b);
        if (!ok) {
            pc_iter_free(it);
            return fail("pc_iter_next (item 5 alone should fail)", s);
        }
    }
    pc_iter_free(it);
    CHECK(i == 10, "%d items", i);
    printf("\tGot PC_ERR_TASK_FAILED as expected from pc_iter_next() at item 5 only\n");

    /* map_array: the failing element fails the call, and `out` is not written. */
    double in[10], out[10];
    for (i = 0; i < 10; i++)
        in[i] = i, out[i] = -1.0;
    EXPECT(pc_pool_map_array(pool, elem_f, NULL, 0, in, sizeof *in, out, sizeof *out, 10, 3),
           PC_ERR_TASK_FAILED);
    for (i = 0; i < 10; i++)
        CHECK(out[i] == -1.0, "out[%d] written", i);
    printf("\tGot PC_ERR_TASK_FAILED as expected from pc_pool_map_array():\n\t\t%s\n\n",
           pc_last_error());
    return 0;
}

/* The seed's timeouts: get(0.02) and next(0.02) in loops until the results come. */
static int timeouts(pc_pool *pool)
{
    printf("Testing pc_async_result_get() with timeout:");
    struct nap nap = {0.2, 42};
    pc_async_result *r = NULL;
    TRY(pc_pool_apply_async(pool, task_sleep, &nap, sizeof nap, NULL, NULL, &r));
    bool ok = true;
    EXPECT(pc_async_result_successful(r, &ok), PC_ERR_WRONG_STATE); /* not ready yet */
    int timeouts = 0;
    pc_bytes b = {0};
    for (;;) {
        pc_status s = pc_async_result_get(r, 0.02, &b, 1);
        if (s == PC_OK)
            break;
        if (s != PC_ERR_TIMEOUT || ++timeouts > 500) {
            pc_async_result_free(r);
            return fail("pc_async_result_get(r, 0.02)", s);
        }
        printf(" TIMEOUT"); /* the seed prints '.' */
        fflush(stdout);
    }
    int64_t v = 0;
    int bad = read_i64(&b, &v) != 0 || v != 42;
    printf("\n\t%lld\n\n", (long long)v);
    pc_bytes_free(&b);
    bool ready = pc_async_result_ready(r);
    pc_status s = pc_async_result_successful(r, &ok); /* ready now: PC_OK */
    pc_async_result_free(r);
    TRY(s);
    CHECK(!bad && ready && ok && timeouts >= 1, "value %lld after %d timeouts",
          (long long)v, timeouts);

    printf("Testing pc_iter_next() with timeout:");
    struct nap naps[5];
    pc_slice items[5];
    for (int i = 0; i < 5; i++) {
        naps[i] = (struct nap){0.1, 100 + i};
        items[i] = (pc_slice){&naps[i], sizeof naps[i]};
    }
    pc_iter *it = NULL;
    TRY(pc_pool_imap(pool, task_sleep, items, 5, 1, &it));
    int got = 0;
    timeouts = 0;
    for (;;) {
        pc_status s = pc_iter_next(it, 0.02, &b);
        if (s == PC_ERR_STOP)
            break;
        if (s == PC_ERR_TIMEOUT && ++timeouts <= 500) {
            printf(" TIMEOUT");
        } else if (s == PC_OK && read_i64(&b, &v) == 0 && v == 100 + got) {
            printf("\n\t%lld", (long long)v);
            got++;
        } else {
            pc_bytes_free(&b);
            pc_iter_free(it);
            return fail("pc_iter_next(it, 0.02)", s);
        }
        fflush(stdout);
        pc_bytes_free(&b);
    }
    pc_iter_free(it);
    printf("\n\n");
    CHECK(got == 5 && timeouts >= 1, "%d results after %d timeouts", got, timeouts);
    return 0;
}

/* The seed's callbacks: applyAsync(mul, (7, 8), callback=A.append), then
 * mapAsync(pow3, range(10), callback=A.extend). */
static int callbacks(pc_pool *pool)
{
    printf("Testing callback:\n");
    int64_t ab[2] = {7, 8};
    pc_async_result *r = NULL;
    TRY(pc_pool_apply_async(pool, task_mul, ab, sizeof ab, extend, &A, &r));
    pc_status s = pc_async_result_wait(r, WAIT);
    pc_async_result_free(r); /* freeing a result never cancels its callback */
    TRY(s);
    /* The results are in; the callback runs on the pool's thread: wait for it. */
    CHECK(wait_calls(&A, 1) == 0, "no callback");

    TRY(pc_pool_map_async(pool, task_pow3, x_items, 10, 0, extend, &A, &r));
    s = pc_async_result_wait(r, WAIT);
    pc_async_result_free(r);
    TRY(s);
    CHECK(wait_calls(&A, 2) == 0, "no second callback");

    static const int64_t B[] = {56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729};
    pthread_mutex_lock(&A.mutex);
    int same = A.n == sizeof B / sizeof B[0] && memcmp(A.values, B, sizeof B) == 0 &&
               A.calls == 2 && A.last_status == PC_OK;
    printf("\tA = [");
    for (size_t i = 0; i < A.n; i++)
        printf("%s%lld", i ? ", " : "", (long long)A.values[i]);
    printf("]\n");
    pthread_mutex_unlock(&A.mutex);
    CHECK(same, "callbacks failed");
    printf("\tcallbacks succeeded\n\n");
    return 0;
}

/* close() + join(): the pool finishes what it has, then its workers end. */
static int closing(pc_pool *pool)
{
    printf("Testing close():\n");
    CHECK(children() == PROCESSES, "%zu live children", children());
    EXPECT(pc_pool_join(pool), PC_ERR_WRONG_STATE); /* join needs close or terminate */

    struct nap nap = {0.3, 7};
    pc_async_result *r = NULL;
    double t = now();
    TRY(pc_pool_apply_async(pool, task_sleep, &nap, sizeof nap, NULL, NULL, &r));
    TRY(pc_pool_close(pool));
    pc_bytes b = {0};
    EXPECT(pc_pool_apply(pool, task_pow3, &xs[2], sizeof xs[2], &b), PC_ERR_CLOSED);
    TRY(pc_pool_join(pool)); /* waits for the 0.3 s task */
    double took = now() - t;
    int ready = pc_async_result_ready(r);
    pc_status s = pc_async_result_get(r, 0, &b, 1);
    pc_async_result_free(r);
    TRY(s);
    int64_t v = 0;
    int bad = read_i64(&b, &v) != 0 || v != 7;
    pc_bytes_free(&b);
    CHECK(ready && !bad && took >= 0.29, "ready %d, value %lld, %.3f s", ready, (long long)v,
          took);
    CHECK(children() == 0, "%zu workers still alive", children());
    printf("\tclose() + join() waited %.3f s for the pending task: succeeded\n\n", took);
    return 0;
}

/* Starts a pool of 2, checks it works, and gives it `n` tasks of 10 s. */
static int busy_pool(pc_pool **pool, pc_async_result **rs, int n, struct collector *c)
{
    pc_pool_options opts = {.processes = 2};
    TRY(pc_pool_new(&opts, pool));
    pc_bytes b = {0};
    TRY(pc_pool_apply(*pool, task_pow3, &xs[2], sizeof xs[2], &b));
    int64_t v = 0;
    int bad = read_i64(&b, &v) != 0 || v != 8;
    pc_bytes_free(&b);
    CHECK(!bad, "pow3(2) = %lld", (long long)v);
    struct nap nap = {10.0, 0};
    for (int i = 0; i < n; i++)
        TRY(pc_pool_apply_async(*pool, task_sleep, &nap, sizeof nap, i == 0 ? extend : NULL,
                                c, &rs[i]));
    sleep_s(0.1); /* the workers are now in the middle of their first tasks */
    return 0;
}

/* Every result of a stopped pool: PC_ERR_CLOSED. */
static int all_closed(pc_async_result **rs, int n)
{
    for (int i = 0; i < n; i++) {
        pc_bytes b = {0};
        EXPECT(pc_async_result_get(rs[i], 0, &b, 1), PC_ERR_CLOSED);
        bool ok = true;
        TRY(pc_async_result_successful(rs[i], &ok));
        CHECK(!ok, "result %d successful", i);
    }
    return 0;
}

#define LONG_TASKS 6
static pc_async_result *long_results[LONG_TASKS];

static void free_long_results(void)
{
    for (int i = 0; i < LONG_TASKS; i++) {
        pc_async_result_free(long_results[i]);
        long_results[i] = NULL;
    }
}

/* terminate(): the workers are killed at once, however long their tasks. */
static int terminating(pc_pool **pool)
{
    printf("Testing terminate():\n");
    static struct collector T = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0,
                                 0, PC_OK};
    if (busy_pool(pool, long_results, LONG_TASKS, &T) != 0)
        return 1;
    double t = now();
    TRY(pc_pool_terminate(*pool));
    TRY(pc_pool_join(*pool));
    double took = now() - t;
    CHECK(took < 3.0, "terminate + join took %.3f s", took);
    CHECK(children() == 0, "%zu workers still alive", children());
    if (all_closed(long_results, LONG_TASKS) != 0)
        return 1;
    /* The callback of an unfinished task still runs, with the pool's verdict. */
    CHECK(wait_calls(&T, 1) == 0 && T.last_status == PC_ERR_CLOSED, "callback status %s",
          pc_status_str(T.last_status));
    printf("\tterminate() + join() with %d tasks of 10 s pending took %.3f s: succeeded\n\n",
           LONG_TASKS, took);
    free_long_results();
    pc_pool_free(*pool);
    *pool = NULL;
    return 0;
}

/* pc_pool_free() of a running pool terminates it (Python's garbage collection of a pool);
 * its results stay valid. */
static int freeing(pc_pool **pool)
{
    printf("Testing pc_pool_free() of a pool with pending tasks:\n");
    static struct collector F = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0,
                                 0, PC_OK};
    if (busy_pool(pool, long_results, LONG_TASKS, &F) != 0)
        return 1;
    double t = now();
    pc_pool_free(*pool);
    *pool = NULL;
    double took = now() - t;
    CHECK(took < 3.0, "pc_pool_free took %.3f s", took);
    CHECK(children() == 0, "%zu workers still alive", children());
    if (all_closed(long_results, LONG_TASKS) != 0)
        return 1;
    CHECK(wait_calls(&F, 1) == 0 && F.last_status == PC_ERR_CLOSED, "callback status %s",
          pc_status_str(F.last_status));
    printf("\tpc_pool_free() took %.3f s: succeeded\n\n", took);
    free_long_results();
    return 0;
}

/* The body of the example; main() cleans up after it whatever it returns. */
static int run(pc_pool **pool)
{
    printf("pc_cpu_count() = %d\n\n", pc_cpu_count());

    /* Pool(processes=4, initializer=init_worker, initargs=(base_seed,)). The workers are
     * forks of this process, made now (and again for any worker that has to be
     * replaced); the library flushes C stdio before each fork. */
    base_seed = (unsigned)time(NULL) | 1;
    pc_pool_options opts = {
        .processes = PROCESSES,      /* 0: pc_cpu_count() */
        .initializer = init_worker,  /* runs in each worker before its first task */
        .initarg = &base_seed,       /* a global: valid in the workers */
        .max_tasks_per_child = 0,    /* 0: workers live as long as the pool */
    };
    printf("Creating pool with %d processes\n\n", PROCESSES);
    TRY(pc_pool_new(&opts, pool));

    if (ordered_and_unordered(*pool) || benchmarks(*pool) || errors(*pool) ||
        timeouts(*pool) || callbacks(*pool) || closing(*pool))
        return 1;
    pc_pool_free(*pool);
    *pool = NULL;

    return terminating(pool) || freeing(pool);
}

int main(void)
{
    pc_pool *pool = NULL;
    int failed = run(&pool);
    /* After a failure: a pool still running is terminated by pc_pool_free, so no worker
     * is left behind. */
    pc_pool_free(pool);
    free_long_results();
    if (!failed)
        printf("every result checked\n");
    return failed;
}
