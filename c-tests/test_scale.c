/*
 * test_scale.c: many shared objects in one process. Objects live in the lineage's shared
 * heap, not in a mapping each, so a million of them stay far from vm.max_map_count
 * (65,530 mappings), and the process can still map memory (a large malloc, a thread's
 * stack) afterwards. One function per kind of object; each makes its objects, checks
 * the process's mappings before and after, uses a few of them (also from a child forked
 * after they were made), and frees them all, within a bounded time.
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

int main(int argc, char **argv)
{
    tu_init("test_scale", 170);
    tu_select(argc, argv);
    RUN(test_locks_and_values);
    return tu_done();
}
