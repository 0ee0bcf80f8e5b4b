/*
 * test_scale.c: many shared objects in one process. Objects live in the lineage's shared
 * heap, not in a mapping each, so a million of them stay far from vm.max_map_count
 * (65,530 mappings), and the process can still map memory (a large malloc, a thread's
 * stack) afterwards. One function per kind of object; each makes its objects, checks
 * the process's mappings before and after, uses a few of them (also from a child forked
 * after they were made), and frees them all, within a bounded time. Queues: 100,000 of
 * them, each costing little resident memory; pools: no address space of their own.
 *
 * ctest-timeout: 180
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Objects per test: half locks, half values in test_locks_and_values. */
#define OBJECTS 1000000
/* How many mappings a test's objects may add: the heap, and what malloc maps for the
 * handles. */
#define MAX_NEW_MAPPINGS 300

/* ---- helpers ---- */

/* What a child checks and changes in a value made before the fork. */
struct change {
    pc_value *value;
    int expect;
    int set;
};

/* Child target: the value holds `expect`; set it to `set`. */
static int target_change(void *arg)
{
    const struct change *c = arg;
    int seen = 0;
    if (pc_value_get(c->value, &seen) != PC_OK)
        return 10;
    if (seen != c->expect)
        return 11;
    return pc_value_set(c->value, &c->set) == PC_OK ? 0 : 12;
}

static void *thread_noop(void *arg)
{
    return arg;
}

/* The process can still map memory: a large malloc (mmap'ed by the C library) and a
 * thread (its stack). */
static void check_can_still_map(void)
{
    char *big = malloc((size_t)64 << 20);
    CHECK(big != NULL);
    memset(big, 1, (size_t)64 << 20);
    free(big);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_noop, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

/* Fails if the mappings grew by more than MAX_NEW_MAPPINGS since `before`. */
static void check_mappings(int before, const char *what)
{
    int after = count_maps("");
    fprintf(stderr, "   %s: %d mappings before, %d after\n", what, before, after);
    if (after < 0 || after - before > MAX_NEW_MAPPINGS)
        FAIL("%s: %d mappings before, %d after", what, before, after);
}

/* ---- locks and values ---- */

static void test_locks_and_values(void)
{
    enum { HALF = OBJECTS / 2 };
    pc_lock **locks = calloc(HALF, sizeof *locks);
    pc_value **values = calloc(HALF, sizeof *values);
    CHECK(locks && values);
    int maps = count_maps("");
    double t0 = now();
    for (int i = 0; i < HALF; i++) {
        CHECK_OK(pc_lock_new(&locks[i]));
        CHECK_OK(pc_value_new('i', &i, &values[i]));
    }
    double made = now() - t0;
    check_mappings(maps, "500000 locks and 500000 values");

    /* A few of them work, the first and last made among them. */
    int picks[] = {0, 1, HALF / 2, HALF - 1};
    for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
        int i = picks[k], got = -1;
        CHECK_OK(pc_lock_acquire(locks[i], 0));
        CHECK_STATUS(pc_lock_acquire(locks[i], 0), PC_ERR_TIMEOUT);
        CHECK_OK(pc_lock_release(locks[i]));
        CHECK_OK(pc_value_get(values[i], &got));
        CHECK(got == i);
        CHECK_OK(pc_value_add(values[i], 1));
        CHECK_OK(pc_value_get(values[i], &got));
        CHECK(got == i + 1);
    }

    /* A child forked now sees and changes a value made before the fork. */
    double t1 = now();
    struct change c = {values[HALF - 1], HALF, -7};
    CHECK(finish(start(target_change, &c), 60.0) == 0);
    double forked = now() - t1;
    int got = 0;
    CHECK_OK(pc_value_get(values[HALF - 1], &got));
    CHECK(got == -7);

    check_can_still_map();

    double t2 = now();
    for (int i = 0; i < HALF; i++) {
        pc_lock_free(locks[i]);
        pc_value_free(values[i]);
    }
    double freed = now() - t2;
    free(locks);
    free(values);
    check_mappings(maps, "after freeing them");
    fprintf(stderr, "   made in %.2f s, a child started and joined in %.2f s, freed in %.2f s\n",
            made, forked, freed);
    CHECK(made + forked + freed < 120.0);
}

/* ---- queues and pools ---- */

/* The process's VmSize or VmRSS (kB) from /proc/self/status; -1 if unreadable. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* Child target: takes the message the parent put into a queue made before the fork,
 * and puts it back doubled. */
static int target_echo_twice(void *arg)
{
    pc_queue *q = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(q, 30.0, &m) != PC_OK)
        return 10;
    int st = pc_queue_put(q, m.data, m.len, 0) | pc_queue_put(q, m.data, m.len, 0);
    pc_bytes_free(&m);
    return st == PC_OK ? 0 : 11;
}

static void test_queues(void)
{
    enum { QUEUES = 100000, USED_EVERY = 1000 };
    pc_queue **qs = calloc(QUEUES, sizeof *qs);
    CHECK(qs != NULL);
    int maps = count_maps("");
    long rss = status_kb("VmRSS"), vm = status_kb("VmSize");
    double t0 = now();
    for (int i = 0; i < QUEUES; i++) {
        pc_status st = (i % 2) ? pc_joinable_queue_new((size_t)(i % 7), &qs[i])
                               : pc_queue_new(0, &qs[i]);
        if (st != PC_OK)
            FAIL("queue %d: %s: %s", i, pc_status_str(st), pc_last_error());
    }
    double made = now() - t0;
    long rss_per = (status_kb("VmRSS") - rss) * 1024 / QUEUES;
    long vm_grew = status_kb("VmSize") - vm;
    fprintf(stderr, "   %d queues made in %.2f s: %ld bytes resident each, VmSize +%ld kB\n",
            QUEUES, made, rss_per, vm_grew);
    CHECK(rss_per <= 64 * 1024);
    check_mappings(maps, "100000 queues");
    check_can_still_map();

    /* Some of them carry messages: in this process, and through a child forked now. */
    for (int i = 0; i < QUEUES; i += USED_EVERY) {
        CHECK_OK(pc_queue_put(qs[i], &i, sizeof i, 0));
        int got = -1;
        size_t len = 0;
        CHECK_OK(pc_queue_get_into(qs[i], &got, sizeof got, &len, 0));
        CHECK(len == sizeof got && got == i);
    }
    pc_queue *last = qs[QUEUES - 2]; /* unbounded */
    CHECK_OK(pc_queue_put(last, "hello", 5, 0));
    CHECK(finish(start(target_echo_twice, last), 60.0) == 0);
    for (int k = 0; k < 2; k++) {
        pc_bytes m = {NULL, 0};
        CHECK_OK(pc_queue_get(last, 10.0, &m));
        CHECK(m.len == 5 && memcmp(m.data, "hello", 5) == 0);
        pc_bytes_free(&m);
    }

    /* A message far larger than the small ring, and a queue freed with messages left
     * in its spill (their memory goes back with it). */
    size_t big = (size_t)256 << 20;
    uint8_t *buf = malloc(big);
    CHECK(buf != NULL);
    fill_pattern(buf, big, 7);
    CHECK_OK(pc_queue_put(qs[0], buf, big, 0));
    CHECK_OK(pc_queue_put(qs[2], buf, big, 0));
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(qs[0], 10.0, &m));
    CHECK(m.len == big && pattern_mismatch(m.data, big, 7) == big);
    pc_bytes_free(&m);
    free(buf);

    t0 = now();
    for (int i = 0; i < QUEUES; i++)
        pc_queue_free(qs[i]);
    double freed = now() - t0;
    free(qs);
    fprintf(stderr, "   freed in %.2f s\n", freed);
    check_mappings(maps, "after freeing them");
    check_can_still_map();
    CHECK(made + freed < 120.0);
}

/* The trivial task: its 8 bytes back. */
static int task_echo(const void *arg, size_t len, pc_buffer *out)
{
    return pc_buffer_write(out, arg, len) == PC_OK ? 0 : 1;
}

static void test_pools(void)
{
    enum { POOLS = 8 };
    pc_pool *pools[POOLS];
    long vm = status_kb("VmSize");
    int maps = count_maps("");
    pc_pool_options opts = {.processes = 1};
    for (int i = 0; i < POOLS; i++)
        CHECK_OK(pc_pool_new(&opts, &pools[i]));
    long vm_per = (status_kb("VmSize") - vm) / POOLS;
    fprintf(stderr, "   %d pools: VmSize +%ld kB each\n", POOLS, vm_per);
    /* A pool's own address space is its result thread's: its stack, and the C library's
     * malloc arena for a new thread (64 MiB, for the first few threads only). A pool
     * reserved 64 GiB before. */
    CHECK(vm_per < 128 * 1024);
    check_mappings(maps, "8 pools");
    for (int i = 0; i < POOLS; i++) {
        int64_t x = i;
        pc_bytes r = {NULL, 0};
        CHECK_OK(pc_pool_apply(pools[i], task_echo, &x, sizeof x, &r));
        CHECK(r.len == sizeof x && memcmp(r.data, &x, sizeof x) == 0);
        pc_bytes_free(&r);
    }
    for (int i = 0; i < POOLS; i++)
        pc_pool_free(pools[i]);
    check_can_still_map();
}

int main(int argc, char **argv)
{
    tu_init("test_scale", 170);
    tu_select(argc, argv);
    RUN(test_locks_and_values);
    RUN(test_queues);
    RUN(test_pools);
    return tu_done();
}
