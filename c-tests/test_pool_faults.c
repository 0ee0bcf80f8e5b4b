/*
 * test_pool_faults.c: pool workers that die (include/processing.h: PC_ERR_WORKER_DIED,
 * pc_pool_new): a worker that dies mid-task (crash, kill -9) fails that task with
 * PC_ERR_WORKER_DIED, is replaced, and the pool goes on: tasks it had not started yet
 * still run, and no call ever hangs on a dead worker; and the workers, daemonic children,
 * end with the process that made the pool, however it ends.
 *
 * Covered: a task that SIGKILLs itself, segfaults or calls _exit(0) (apply, apply_async
 * with its callback, map, map_async, imap, imap_unordered); the parent SIGKILLs a busy
 * worker, or an idle one; many deaths in a row mixed with normal tasks; a process that
 * made a pool is SIGKILLed, _exit()s or exits: its workers go too.
 *
 * Every wait is bounded; no speed is asserted beyond "within a few seconds".
 * `test_pool_faults NAME…` runs only the named subtests.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- memory shared with the workers (made before any pool) ---- */

#define SLOTS 64

struct shared {
    atomic_int ran;             /* normal items that ran */
    atomic_int pids[SLOTS];     /* pids noted by tasks */
    atomic_int rendezvous[SLOTS];
};

static struct shared *S;

/* ---- tasks (run in the workers: no CHECK) ---- */

enum death { DIE_SIGKILL, DIE_SEGV, DIE_EXIT0, DIE_COUNT };
static const char *const death_names[DIE_COUNT] = {"raise(SIGKILL)", "a segfault", "_exit(0)"};

static void die(enum death how)
{
    switch (how) {
    case DIE_SIGKILL:
        raise(SIGKILL);
        break;
    case DIE_SEGV: {
        /* A real invalid write (not NULL: UBSan would report it and exit instead). */
        volatile uintptr_t addr = 16;
        *(volatile int *)addr = 1;
        raise(SIGSEGV);
        break;
    }
    case DIE_EXIT0:
    default:
        break;
    }
    _exit(0);
}

/* An item: what to do. */
struct job {
    int32_t kind;  /* 0: compute, 1: die, 2: sleep then compute */
    int32_t death; /* enum death, for kind 1 */
    int32_t slot;  /* S->pids slot for its pid, or -1 */
    int32_t value;
    double seconds; /* kind 2 */
};

static struct job compute(int32_t value)
{
    struct job j = {0, 0, -1, value, 0};
    return j;
}

static struct job killer(enum death how, int32_t slot)
{
    struct job j = {1, (int32_t)how, slot, 0, 0};
    return j;
}

static struct job sleeper(double seconds, int32_t slot, int32_t value)
{
    struct job j = {2, 0, slot, value, seconds};
    return j;
}

/* The result of a computed item: value * 3 + 1, as an int64. */
static int64_t computed(int32_t value)
{
    return (int64_t)value * 3 + 1;
}

static int task_job(const void *arg, size_t len, pc_buffer *result)
{
    struct job j;
    if (len != sizeof j)
        return 100;
    memcpy(&j, arg, sizeof j);
    if (j.slot >= 0 && j.slot < SLOTS)
        atomic_store(&S->pids[j.slot], (int)getpid());
    switch (j.kind) {
    case 1:
        die((enum death)j.death);
        return 101;
    case 2:
        sleep_s(j.seconds);
        break;
    default:
        break;
    }
    atomic_fetch_add(&S->ran, 1);
    int64_t y = computed(j.value);
    return pc_buffer_write(result, &y, sizeof y) == PC_OK ? 0 : 102;
}

/* Waits (at most 10 s) until `target` tasks met at rendezvous `slot`, then writes its
 * pid: proves that many workers run at once. */
static int task_rendezvous(const void *arg, size_t len, pc_buffer *result)
{
    int32_t a[2];
    if (len != sizeof a)
        return 200;
    memcpy(a, arg, sizeof a);
    atomic_fetch_add(&S->rendezvous[a[0]], 1);
    double deadline = now() + 10.0;
    while (atomic_load(&S->rendezvous[a[0]]) < a[1]) {
        if (now() > deadline)
            return 201;
        sleep_s(0.001);
    }
    int32_t pid = (int32_t)getpid();
    return pc_buffer_write(result, &pid, sizeof pid) == PC_OK ? 0 : 202;
}

/* ---- helpers ---- */

static pc_pool *new_pool(size_t processes)
{
    pc_pool_options o = {.processes = processes};
    pc_pool *p = NULL;
    CHECK_OK(pc_pool_new(&o, &p));
    return p;
}

static int64_t bytes_i64(const pc_bytes *b)
{
    CHECK(b->len == sizeof(int64_t));
    int64_t v;
    memcpy(&v, b->data, sizeof v);
    return v;
}

static void reset_pids(void)
{
    for (int i = 0; i < SLOTS; i++)
        atomic_store(&S->pids[i], 0);
}

/* The pids of the live workers (pc_active_children), polling up to 5 s until there are
 * `want` of them, none in `dead` (n_dead pids). Fails otherwise. */
static void expect_workers(size_t want, const pid_t *dead, int n_dead, pid_t *out)
{
    double deadline = now() + 5.0;
    size_t count = 0;
    pc_process *kids[32];
    for (;;) {
        CHECK_OK(pc_active_children(kids, 32, &count));
        bool fresh = count == want;
        for (size_t i = 0; fresh && i < count && i < 32; i++) {
            for (int d = 0; d < n_dead; d++)
                fresh = fresh && pc_process_pid(kids[i]) != dead[d];
            fresh = fresh && pc_process_is_alive(kids[i]);
        }
        if (fresh)
            break;
        if (now() >= deadline)
            FAIL("the pool has %zu live workers 5 s after a death, expected %zu fresh ones", count,
                 want);
        sleep_s(0.01);
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = pc_process_name(kids[i]);
        CHECK(name && strncmp(name, "PoolWorker-", 11) == 0);
        CHECK(pc_process_daemon(kids[i]));
        if (out)
            out[i] = pc_process_pid(kids[i]);
    }
}

static int next_rendezvous = 0;

/* Runs `n` rendezvous tasks at once: they end only if `n` workers run them together.
 * Returns (in `pids`) the pids that ran them, all different. */
static void rendezvous(pc_pool *p, int n, pid_t *pids)
{
    CHECK(next_rendezvous < SLOTS);
    int32_t a[2] = {next_rendezvous++, n};
    pc_async_result *rs[16];
    CHECK(n <= 16);
    for (int i = 0; i < n; i++)
        CHECK_OK(pc_pool_apply_async(p, task_rendezvous, a, sizeof a, NULL, NULL, &rs[i]));
    for (int i = 0; i < n; i++) {
        pc_bytes res;
        pc_status st = pc_async_result_get(rs[i], 15.0, &res, 1);
        if (st != PC_OK)
            FAIL("rendezvous of %d tasks: task %d: %s (%s): fewer than %d workers run?", n, i,
                 pc_status_str(st), pc_last_error(), n);
        CHECK(res.len == 4);
        int32_t pid;
        memcpy(&pid, res.data, 4);
        pids[i] = pid;
        pc_bytes_free(&res);
        pc_async_result_free(rs[i]);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            CHECK(pids[i] != pids[j]);
}

static bool in_list(pid_t pid, const pid_t *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == pid)
            return true;
    return false;
}

struct cb_rec {
    atomic_int calls;
    int status;
    size_t count;
    int64_t *values;  /* computed results (INT64_MIN for an empty one) */
};

static void cb_record(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    struct cb_rec *r = ctx;
    r->status = status;
    r->count = count;
    r->values = calloc(count ? count : 1, sizeof(int64_t));
    for (size_t i = 0; i < count; i++) {
        if (results[i].len == sizeof(int64_t))
            memcpy(&r->values[i], results[i].data, sizeof(int64_t));
        else
            r->values[i] = results[i].len == 0 ? INT64_MIN : INT64_MIN + 1;
    }
    atomic_fetch_add(&r->calls, 1);
}

static void cb_wait_once(struct cb_rec *r, const char *what)
{
    if (!wait_flag(&r->calls, 1, 10.0))
        FAIL("%s: its callback did not come within 10 s", what);
    sleep_s(0.05);
    if (atomic_load(&r->calls) != 1)
        FAIL("%s: its callback ran %d times", what, atomic_load(&r->calls));
    tu_checks++;
}

/* ---- 1. a task kills its worker ---- */

static void test_task_kills_worker(void)
{
    for (int how = 0; how < DIE_COUNT; how++) {
        const char *name = death_names[how];
        fprintf(stderr, "   %s\n", name);
        reset_pids();
        pc_pool *p = new_pool(2);
        pid_t before[2];
        expect_workers(2, NULL, 0, before);

        /* apply: PC_ERR_WORKER_DIED, within 5 s, the message names the worker. */
        struct job k = killer((enum death)how, 0);
        pc_bytes res = {NULL, 0};
        double t0 = now();
        CHECK_STATUS(pc_pool_apply(p, task_job, &k, sizeof k, &res), PC_ERR_WORKER_DIED);
        double took = now() - t0;
        if (took > 5.0)
            FAIL("apply of a task ending in %s returned after %.3f s", name, took);
        CHECK_ERRMSG("pc_pool_apply");
        CHECK_ERRMSG("worker");
        CHECK(res.data == NULL);
        pid_t dead[8];
        int n_dead = 0;
        dead[n_dead++] = atomic_load(&S->pids[0]);
        CHECK(in_list(dead[0], before, 2));
        CHECK(wait_pid_gone(dead[0], 5.0));

        /* The next apply works. */
        struct job c = compute(7);
        CHECK_OK(pc_pool_apply(p, task_job, &c, sizeof c, &res));
        CHECK(bytes_i64(&res) == computed(7));
        pc_bytes_free(&res);

        /* apply_async: get and the callback say PC_ERR_WORKER_DIED. */
        struct cb_rec rec = {0};
        pc_async_result *r;
        k.slot = 1;
        CHECK_OK(pc_pool_apply_async(p, task_job, &k, sizeof k, cb_record, &rec, &r));
        t0 = now();
        CHECK_STATUS(pc_async_result_get(r, 10.0, &res, 1), PC_ERR_WORKER_DIED);
        CHECK(now() - t0 < 5.0);
        CHECK_ERRMSG("worker");
        CHECK(pc_async_result_ready(r));
        bool ok = true;
        CHECK_OK(pc_async_result_successful(r, &ok));
        CHECK(!ok);
        CHECK_STATUS(pc_async_result_get(r, 0, &res, 1), PC_ERR_WORKER_DIED); /* again */
        cb_wait_once(&rec, "a killer's apply_async");
        CHECK(rec.status == PC_ERR_WORKER_DIED);
        CHECK(rec.count == 1 && rec.values[0] == INT64_MIN);
        free(rec.values);
        pc_async_result_free(r);
        dead[n_dead++] = atomic_load(&S->pids[1]);

        /* The pool has its two workers again, fresh ones, both running tasks at once. */
        pid_t now_pids[2], ran[2];
        expect_workers(2, dead, n_dead, now_pids);
        rendezvous(p, 2, ran);
        CHECK(in_list(ran[0], now_pids, 2) && in_list(ran[1], now_pids, 2));

        /* One worker: the tasks queued behind the killer still run, on its successor. */
        pc_pool_free(p);
        p = new_pool(1);
        enum { Q = 6 };
        pc_async_result *rs[Q];
        k.slot = 2;
        CHECK_OK(pc_pool_apply_async(p, task_job, &k, sizeof k, NULL, NULL, &rs[0]));
        for (int i = 1; i < Q; i++) {
            c = compute(100 + i);
            CHECK_OK(pc_pool_apply_async(p, task_job, &c, sizeof c, NULL, NULL, &rs[i]));
        }
        CHECK_STATUS(pc_async_result_get(rs[0], 10.0, &res, 1), PC_ERR_WORKER_DIED);
        for (int i = 1; i < Q; i++) {
            CHECK_OK(pc_async_result_get(rs[i], 10.0, &res, 1));
            CHECK(bytes_i64(&res) == computed(100 + i));
            pc_bytes_free(&res);
        }
        for (int i = 0; i < Q; i++)
            pc_async_result_free(rs[i]);
        CHECK_OK(pc_pool_close(p));
        CHECK_OK(pc_pool_join(p));
        pc_pool_free(p);
        CHECK(wait_no_children(5.0));
    }
}

/* ---- 2. one item of a map kills its worker ---- */

enum { MAP_N = 200, MAP_KILLER = 57 };

static void make_map_items(struct job *jobs, pc_slice *items, enum death how)
{
    for (int i = 0; i < MAP_N; i++) {
        jobs[i] = i == MAP_KILLER ? killer(how, 3) : compute(i);
        items[i] = (pc_slice){&jobs[i], sizeof jobs[i]};
    }
}

static void test_map_item_kills_worker(void)
{
    static struct job jobs[MAP_N];
    static pc_slice items[MAP_N];
    pc_bytes *results = calloc(MAP_N, sizeof(pc_bytes));
    CHECK(results);
    pc_pool *p = new_pool(2);

    for (int how = 0; how < DIE_COUNT; how++) {
        make_map_items(jobs, items, (enum death)how);

        /* map, chunksize 1 and the default: PC_ERR_WORKER_DIED, results untouched; with
         * chunksize 1 every other item ran. */
        size_t chunks[] = {1, 0, 9};
        for (size_t c = 0; c < 3; c++) {
            atomic_store(&S->ran, 0);
            for (int i = 0; i < MAP_N; i++)
                results[i] = (pc_bytes){NULL, 99};
            double t0 = now();
            CHECK_STATUS(pc_pool_map(p, task_job, items, MAP_N, chunks[c], results),
                         PC_ERR_WORKER_DIED);
            CHECK(now() - t0 < 20.0);
            CHECK_ERRMSG("pc_pool_map");
            CHECK_ERRMSG("worker");
            for (int i = 0; i < MAP_N; i++)
                CHECK(results[i].data == NULL && results[i].len == 99);
            if (chunks[c] == 1 && atomic_load(&S->ran) != MAP_N - 1)
                FAIL("map with item %d ending in %s: %d of the %d other items ran", MAP_KILLER,
                     death_names[how], atomic_load(&S->ran), MAP_N - 1);
        }

        /* map_async, chunksize 1: the callback has the 199 other results, right. */
        struct cb_rec rec = {0};
        pc_async_result *r;
        CHECK_OK(pc_pool_map_async(p, task_job, items, MAP_N, 1, cb_record, &rec, &r));
        CHECK_STATUS(pc_async_result_get(r, 20.0, results, MAP_N), PC_ERR_WORKER_DIED);
        CHECK_ERRMSG("worker");
        cb_wait_once(&rec, "map_async with a killer item");
        CHECK(rec.status == PC_ERR_WORKER_DIED);
        CHECK(rec.count == MAP_N);
        for (int i = 0; i < MAP_N; i++) {
            if (i == MAP_KILLER)
                CHECK(rec.values[i] == INT64_MIN);
            else if (rec.values[i] != computed(i))
                FAIL("map_async with a killer item: result %d is wrong", i);
        }
        tu_checks++;
        free(rec.values);
        pc_async_result_free(r);

        /* imap: every other item is a success, and right. */
        pc_iter *it;
        CHECK_OK(pc_pool_imap(p, task_job, items, MAP_N, 1, &it));
        for (int i = 0; i < MAP_N; i++) {
            pc_bytes b = {NULL, 0};
            pc_status st = pc_iter_next(it, 10.0, &b);
            if (i == MAP_KILLER) {
                CHECK_STATUS(st, PC_ERR_WORKER_DIED);
                CHECK_ERRMSG("pc_iter_next");
                CHECK_ERRMSG("worker");
            } else {
                if (st != PC_OK)
                    FAIL("imap with item %d ending in %s: item %d: %s (%s)", MAP_KILLER,
                         death_names[how], i, pc_status_str(st), pc_last_error());
                CHECK(bytes_i64(&b) == computed(i));
                pc_bytes_free(&b);
            }
        }
        pc_bytes b;
        CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
        pc_iter_free(it);

        /* imap_unordered: 199 successes (the right multiset) and one death. */
        CHECK_OK(pc_pool_imap_unordered(p, task_job, items, MAP_N, 1, &it));
        int died = 0;
        int64_t sum = 0, all = 0;
        for (int i = 0; i < MAP_N; i++) {
            all += i == MAP_KILLER ? 0 : computed(i);
            pc_status st = pc_iter_next(it, 10.0, &b);
            if (st == PC_ERR_WORKER_DIED) {
                died++;
                continue;
            }
            CHECK_OK(st);
            sum += bytes_i64(&b);
            pc_bytes_free(&b);
        }
        CHECK(died == 1);
        CHECK(sum == all);
        CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
        pc_iter_free(it);
    }
    free(results);
    pid_t pids[2];
    rendezvous(p, 2, pids);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

/* ---- 3. the parent kills a worker ---- */

static void test_parent_kills_worker(void)
{
    reset_pids();
    pc_pool *p = new_pool(2);

    /* A busy worker: its task fails, the other one's concurrent task is intact. */
    struct job longj = sleeper(20.0, 0, 1);
    struct job medium = sleeper(0.5, 1, 5);
    pc_async_result *rl, *rm;
    struct cb_rec rec = {0};
    CHECK_OK(pc_pool_apply_async(p, task_job, &longj, sizeof longj, cb_record, &rec, &rl));
    CHECK_OK(pc_pool_apply_async(p, task_job, &medium, sizeof medium, NULL, NULL, &rm));
    CHECK(wait_flag(&S->pids[0], 1, 10.0));
    CHECK(wait_flag(&S->pids[1], 1, 10.0));
    pid_t victim = atomic_load(&S->pids[0]);
    CHECK(victim != atomic_load(&S->pids[1]));
    CHECK(kill(victim, SIGKILL) == 0);
    double t0 = now();
    pc_bytes res = {NULL, 0};
    CHECK_STATUS(pc_async_result_get(rl, 10.0, &res, 1), PC_ERR_WORKER_DIED);
    double took = now() - t0;
    if (took > 5.0)
        FAIL("the task of a killed worker failed %.3f s after the kill", took);
    CHECK_ERRMSG("worker");
    cb_wait_once(&rec, "the killed worker's task");
    CHECK(rec.status == PC_ERR_WORKER_DIED);
    free(rec.values);
    CHECK_OK(pc_async_result_get(rm, 10.0, &res, 1));
    CHECK(bytes_i64(&res) == computed(5));
    pc_bytes_free(&res);
    pc_async_result_free(rl);
    pc_async_result_free(rm);
    pid_t pids[2], dead[2] = {victim, 0};
    expect_workers(2, dead, 1, pids);
    rendezvous(p, 2, pids);

    /* An idle worker: no task fails, it is replaced. */
    pid_t idle[2];
    expect_workers(2, NULL, 0, idle);
    CHECK(kill(idle[0], SIGKILL) == 0);
    dead[1] = idle[0];
    expect_workers(2, dead, 2, pids);
    enum { N = 40 };
    static struct job jobs[N];
    pc_slice items[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = compute(i);
        items[i] = (pc_slice){&jobs[i], sizeof jobs[i]};
    }
    pc_bytes results[N];
    CHECK_OK(pc_pool_map(p, task_job, items, N, 1, results));
    for (int i = 0; i < N; i++) {
        CHECK(bytes_i64(&results[i]) == computed(i));
        pc_bytes_free(&results[i]);
    }

    /* A worker killed during a map of short tasks (chunksize 1): at most the one item it
     * ran fails, every other is right. */
    for (int i = 0; i < N; i++)
        jobs[i] = sleeper(0.02, 4 + (i % 2), i);
    pc_iter *it;
    atomic_store(&S->pids[4], 0);
    CHECK_OK(pc_pool_imap(p, task_job, items, N, 1, &it));
    CHECK(wait_flag(&S->pids[4], 1, 10.0));
    CHECK(kill(atomic_load(&S->pids[4]), SIGKILL) == 0);
    int died = 0;
    for (int i = 0; i < N; i++) {
        pc_bytes b;
        pc_status st = pc_iter_next(it, 10.0, &b);
        if (st == PC_ERR_WORKER_DIED) {
            died++;
            continue;
        }
        CHECK_OK(st);
        CHECK(bytes_i64(&b) == computed(i));
        pc_bytes_free(&b);
    }
    CHECK(died <= 1);
    pc_bytes b;
    CHECK_STATUS(pc_iter_next(it, 10.0, &b), PC_ERR_STOP);
    pc_iter_free(it);
    rendezvous(p, 2, pids);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

/* ---- 4. many deaths in a row ---- */

static void test_many_kills(void)
{
    pc_pool *p = new_pool(2);
    double t0 = now();

    /* 30 apply_async, every third a killer (each way of dying in turn). */
    enum { N = 30 };
    pc_async_result *rs[N];
    for (int i = 0; i < N; i++) {
        struct job j = i % 3 == 0 ? killer((enum death)((i / 3) % DIE_COUNT), -1) : compute(i);
        CHECK_OK(pc_pool_apply_async(p, task_job, &j, sizeof j, NULL, NULL, &rs[i]));
    }
    for (int i = 0; i < N; i++) {
        pc_bytes res = {NULL, 0};
        pc_status st = pc_async_result_get(rs[i], 15.0, &res, 1);
        if (i % 3 == 0) {
            if (st != PC_ERR_WORKER_DIED)
                FAIL("killer %d: %s (%s), expected PC_ERR_WORKER_DIED", i, pc_status_str(st),
                     pc_last_error());
        } else {
            if (st != PC_OK)
                FAIL("normal task %d among killers: %s (%s)", i, pc_status_str(st),
                     pc_last_error());
            CHECK(bytes_i64(&res) == computed(i));
            pc_bytes_free(&res);
        }
        tu_checks++;
        pc_async_result_free(rs[i]);
    }

    /* imap of 60 items, every sixth a killer. */
    enum { M = 60 };
    static struct job jobs[M];
    pc_slice items[M];
    for (int i = 0; i < M; i++) {
        jobs[i] = i % 6 == 5 ? killer((enum death)(i % DIE_COUNT), -1) : compute(i);
        items[i] = (pc_slice){&jobs[i], sizeof jobs[i]};
    }
    pc_iter *it;
    CHECK_OK(pc_pool_imap(p, task_job, items, M, 1, &it));
    for (int i = 0; i < M; i++) {
        pc_bytes b;
        pc_status st = pc_iter_next(it, 15.0, &b);
        if (i % 6 == 5) {
            CHECK_STATUS(st, PC_ERR_WORKER_DIED);
        } else {
            if (st != PC_OK)
                FAIL("imap item %d among killers: %s (%s)", i, pc_status_str(st), pc_last_error());
            CHECK(bytes_i64(&b) == computed(i));
            pc_bytes_free(&b);
        }
    }
    pc_bytes b;
    CHECK_STATUS(pc_iter_next(it, 15.0, &b), PC_ERR_STOP);
    pc_iter_free(it);

    /* Two killers at once (both workers die together), then normal work. */
    for (int round = 0; round < 3; round++) {
        pc_async_result *k1, *k2;
        struct job k = killer(DIE_SIGKILL, -1);
        CHECK_OK(pc_pool_apply_async(p, task_job, &k, sizeof k, NULL, NULL, &k1));
        CHECK_OK(pc_pool_apply_async(p, task_job, &k, sizeof k, NULL, NULL, &k2));
        struct job c = compute(round);
        pc_bytes res;
        CHECK_OK(pc_pool_apply(p, task_job, &c, sizeof c, &res));
        CHECK(bytes_i64(&res) == computed(round));
        pc_bytes_free(&res);
        CHECK_STATUS(pc_async_result_get(k1, 15.0, &res, 1), PC_ERR_WORKER_DIED);
        CHECK_STATUS(pc_async_result_get(k2, 15.0, &res, 1), PC_ERR_WORKER_DIED);
        pc_async_result_free(k1);
        pc_async_result_free(k2);
    }

    pid_t pids[2];
    expect_workers(2, NULL, 0, pids);
    rendezvous(p, 2, pids);
    double took = now() - t0;
    if (took > 60.0)
        FAIL("the deaths took %.1f s in all", took);
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

/* A worker that dies after close: its successor still finishes the queued tasks, and
 * join returns. */
static void test_death_after_close(void)
{
    pc_pool *p = new_pool(2);
    struct job k = killer(DIE_SIGKILL, -1);
    pc_async_result *rk, *rs[10];
    CHECK_OK(pc_pool_apply_async(p, task_job, &k, sizeof k, NULL, NULL, &rk));
    for (int i = 0; i < 10; i++) {
        struct job c = sleeper(0.02, -1, i);
        CHECK_OK(pc_pool_apply_async(p, task_job, &c, sizeof c, NULL, NULL, &rs[i]));
    }
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_bytes res;
    CHECK_STATUS(pc_async_result_get(rk, 0, &res, 1), PC_ERR_WORKER_DIED);
    for (int i = 0; i < 10; i++) {
        CHECK_OK(pc_async_result_get(rs[i], 0, &res, 1));
        CHECK(bytes_i64(&res) == computed(i));
        pc_bytes_free(&res);
        pc_async_result_free(rs[i]);
    }
    pc_async_result_free(rk);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

/* ---- 5. the process that made a pool dies: its workers go too ---- */

static int report_fd = -1;

enum sub_end { END_SIGKILL, END_UNDERSCORE_EXIT, END_EXIT, END_COUNT };
static const char *const end_names[END_COUNT] = {"SIGKILLed", "_exit(0)", "exit(0)"};
static enum sub_end sub_end;

static int sub_make_pool(void *arg)
{
    (void)arg;
    pc_pool *p = new_pool(2);
    /* One worker busy with a long task, the other idle. */
    struct job longj = sleeper(20.0, -1, 0);
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_job, &longj, sizeof longj, NULL, NULL, &r));
    pc_process *kids[4];
    size_t count = 0;
    CHECK_OK(pc_active_children(kids, 4, &count));
    CHECK(count == 2);
    char line[64];
    for (size_t i = 0; i < count; i++) {
        snprintf(line, sizeof line, "%d\n", pc_process_pid(kids[i]));
        CHECK(write_str(report_fd, line));
    }
    close(report_fd);
    sleep_s(0.2);
    switch (sub_end) {
    case END_SIGKILL:
        sleep_s(20.0); /* until killed */
        return 1;
    case END_UNDERSCORE_EXIT:
        _exit(0);
    case END_EXIT:
    default:
        return 0; /* exit(0) with the pool still running */
    }
}

/* Waits for `pid`, an orphan that became our child (we are a subreaper), or gone. */
static bool wait_orphan(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno == ECHILD && pid_gone(pid))
            return true;
        if (now() >= deadline)
            return false;
        sleep_s(0.005);
    }
}

static void creator_ends(int from, int to)
{
    for (int end = from; end < to; end++) {
        fprintf(stderr, "   the pool's process %s\n", end_names[end]);
        sub_end = (enum sub_end)end;
        int fds[2];
        CHECK(pipe(fds) == 0);
        report_fd = fds[1];
        pid_t sub = fork_sub(sub_make_pool, NULL);
        close(fds[1]);
        /* Two lines: not until EOF, as the workers inherited the write end too. */
        char buf[128] = "";
        size_t got = 0;
        double deadline = now() + 10.0;
        while (count_occurrences(buf, "\n") < 2 && got + 1 < sizeof buf && now() < deadline) {
            if (!read_exact(fds[0], buf + got, 1, deadline - now()))
                break;
            buf[++got] = '\0';
        }
        close(fds[0]);
        pid_t workers[2] = {0, 0};
        if (sscanf(buf, "%d %d", &workers[0], &workers[1]) != 2)
            FAIL("the sub-process reported \"%s\", expected two worker pids", buf);
        CHECK(pid_running(workers[0]) && pid_running(workers[1]));
        if (end == END_SIGKILL)
            CHECK(kill(sub, SIGKILL) == 0);
        int st = wait_sub(sub, 10.0);
        if (end == END_SIGKILL)
            CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        else if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAIL("the sub-process that %s: %s", end_names[end], status_text(st));
        for (int i = 0; i < 2; i++) {
            if (!wait_orphan(workers[i], 5.0))
                FAIL("worker %d still %s 5 s after the process that made its pool %s",
                     (int)workers[i], pid_running(workers[i]) ? "runs" : "is a zombie",
                     end_names[end]);
            tu_checks++;
        }
    }
}

/* Killed or _exit(): the workers die with it (their parent-death signal). */
static void test_creator_dies(void)
{
    creator_ends(END_SIGKILL, END_EXIT);
}

/* A normal exit with the pool still running: the exit handler ends the daemonic workers
 * (SIGTERM, as Python's) and the exit completes. */
static void test_creator_exits(void)
{
    creator_ends(END_EXIT, END_COUNT);
}

/* pc_process_terminate (SIGTERM, Python's Process.terminate(), what Pool.terminate()
 * does to its workers) on a worker that pc_active_children lists: it ends, its task
 * fails with PC_ERR_WORKER_DIED, and it is replaced. */
static void test_parent_terminates_worker(void)
{
    reset_pids();
    pc_pool *p = new_pool(2);
    struct job longj = sleeper(20.0, 0, 1);
    pc_async_result *r;
    CHECK_OK(pc_pool_apply_async(p, task_job, &longj, sizeof longj, NULL, NULL, &r));
    CHECK(wait_flag(&S->pids[0], 1, 10.0));
    pid_t victim = atomic_load(&S->pids[0]);
    pc_process *kids[4];
    size_t count = 0;
    CHECK_OK(pc_active_children(kids, 4, &count));
    CHECK(count == 2);
    pc_process *worker = pc_process_pid(kids[0]) == victim ? kids[0] : kids[1];
    CHECK(pc_process_pid(worker) == victim);
    CHECK_OK(pc_process_terminate(worker));
    if (!wait_pid_gone(victim, 5.0))
        FAIL("a pool worker (pid %d, running a task) still runs 5 s after pc_process_terminate "
             "(SIGTERM): state %c, SigBlk of the worker blocks SIGTERM?",
             (int)victim, pid_state(victim, NULL));
    tu_checks++;
    pc_bytes res;
    CHECK_STATUS(pc_async_result_get(r, 10.0, &res, 1), PC_ERR_WORKER_DIED);
    CHECK_ERRMSG("worker");
    pc_async_result_free(r);
    pid_t pids[2];
    expect_workers(2, &victim, 1, pids);
    rendezvous(p, 2, pids);
    pc_pool_free(p);
    CHECK(wait_no_children(5.0));
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_pool_faults", 110);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the segfaulting workers */
    /* Orphaned workers of a killed sub-process become our children: we reap them. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    S = shared_new(sizeof *S);

    RUN(test_task_kills_worker);
    RUN(test_map_item_kills_worker);
    RUN(test_parent_kills_worker);
    RUN(test_many_kills);
    RUN(test_death_after_close);
    RUN(test_creator_dies);
    /* Last, as they failed when written (a failed check ends the program): the workers
     * ran with every signal blocked, so SIGTERM neither ended a worker nor, at a normal
     * exit, the daemonic workers of a running pool (the exit hung joining them). */
    RUN(test_parent_terminates_worker);
    RUN(test_creator_exits);

    shared_free(S, sizeof *S);
    return tu_done();
}
