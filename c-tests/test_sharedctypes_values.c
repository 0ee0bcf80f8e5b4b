/*
 * test_sharedctypes_values.c: shared values (include/processing.h: pc_value_*,
 * pc_array_new, pc_raw_array_new): every typecode's size and a round trip through a
 * child (values and arrays), unknown typecodes, zero-initialised values, pc_value_add
 * (wrapping, atomic under the lock across processes and threads), the value's lock and
 * pointer.
 *
 * Children report through their exit code (no CHECK in a child): 0 is success, any
 * other number names the step that failed.
 *
 * `test_sharedctypes_values NAME…` runs only the named subtests.
 *
 * ctest-timeout: 30
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include "testutil.h"

#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>
#include "sharedctypes_common.h"

static bool same(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

static pc_value *new_value_guarded(char code, const void *init, enum guard g, pc_lock **lock)
{
    pc_value *v = NULL;
    *lock = NULL;
    switch (g) {
    case OWN:
        CHECK_OK(pc_value_new(code, init, &v));
        CHECK(pc_value_lock(v) != NULL);
        break;
    case WITH_LOCK:
    case WITH_RLOCK:
        *lock = new_given_lock(g);
        CHECK_OK(pc_value_new_with_lock(code, init, *lock, &v));
        check_same_lock(*lock, pc_value_lock(v));
        break;
    default:
        CHECK_OK(pc_raw_value_new(code, init, &v));
        CHECK(pc_value_lock(v) == NULL);
        break;
    }
    CHECK(v != NULL);
    return v;
}

static void test_typecode_sizes(void)
{
    CHECK(NCASES == strlen(all_codes));
    for (size_t k = 0; k < NCASES; k++) {
        const struct tcase *tc = &cases[k];
        CHECK(tc->code == all_codes[k]);
        for (int g = OWN; g < GUARDS; g++) {
            pc_lock *lock;
            pc_array *a = new_array_guarded(tc->code, 3, NULL, (enum guard)g, &lock);
            if (pc_array_elem_size(a) != tc->size)
                FAIL("typecode '%c': elem_size %zu, sizeof(%s) is %zu", tc->code,
                     pc_array_elem_size(a), tc->ctype, tc->size);
            CHECK(pc_array_len(a) == 3);
            CHECK(pc_array_typecode(a) == tc->code);
            /* NULL init: zeros. */
            unsigned char buf[3 * 16];
            memset(buf, 0xaa, sizeof buf);
            CHECK_OK(pc_array_read(a, 0, 3, buf));
            for (size_t i = 0; i < 3 * tc->size; i++)
                CHECK(buf[i] == 0);
            CHECK(buf[3 * tc->size] == 0xaa); /* nothing written past the slice */
            pc_array_free(a);
            pc_lock_free(lock);
        }
    }
    /* The C types' sizes on this platform, as the seed's ctypes would have them. */
    CHECK(sizeof(long) == 8 && sizeof(wchar_t) == 4); /* LP64 Linux: the cases above */
}

static void test_value_null_init_is_zero(void)
{
    for (size_t k = 0; k < NCASES; k++) {
        for (int g = OWN; g < GUARDS; g++) {
            pc_lock *lock;
            pc_value *v = new_value_guarded(cases[k].code, NULL, (enum guard)g, &lock);
            any_t got;
            memset(&got, 0xaa, sizeof got);
            CHECK_OK(pc_value_get(v, &got));
            for (size_t i = 0; i < cases[k].size; i++)
                CHECK(got.bytes[i] == 0);
            CHECK(got.bytes[cases[k].size] == 0xaa); /* exactly one element written */
            /* pc_value_ptr sees the same bytes. */
            CHECK(same(pc_value_ptr(v), &got, cases[k].size));
            pc_value_free(v);
            pc_lock_free(lock);
        }
    }
}

struct rt_arg {
    const struct tcase *tc;
    pc_value *v;
    pc_array *a;
};

static int child_value_round_trip(void *arg)
{
    const struct rt_arg *r = arg;
    any_t got;
    memset(&got, 0, sizeof got);
    if (pc_value_get(r->v, &got) != PC_OK)
        return 1;
    if (!same(&got, &r->tc->init, r->tc->size))
        return 2;
    if (pc_value_set(r->v, &r->tc->next) != PC_OK)
        return 3;
    return 0;
}

static void test_value_round_trip_every_typecode(void)
{
    for (size_t k = 0; k < NCASES; k++) {
        const struct tcase *tc = &cases[k];
        pc_lock *lock;
        pc_value *v = new_value_guarded(tc->code, &tc->init, (enum guard)(k % GUARDS), &lock);
        any_t got;
        memset(&got, 0, sizeof got);
        CHECK_OK(pc_value_get(v, &got));
        CHECK(same(&got, &tc->init, tc->size));
        struct rt_arg r = {tc, v, NULL};
        int code = finish(start(child_value_round_trip, &r), 30.0);
        if (code != 0)
            FAIL("typecode '%c': the child's round trip failed at step %d", tc->code, code);
        memset(&got, 0, sizeof got);
        CHECK_OK(pc_value_get(v, &got));
        if (!same(&got, &tc->next, tc->size))
            FAIL("typecode '%c': the parent does not see the child's value", tc->code);
        pc_value_free(v);
        pc_lock_free(lock);
    }

    /* The extremes, read as their C types. */
    pc_value *v;
    long long q = LLONG_MIN;
    CHECK_OK(pc_value_new('q', &q, &v));
    long long q2 = 0;
    CHECK_OK(pc_value_get(v, &q2));
    CHECK(q2 == LLONG_MIN);
    pc_value_free(v);
    unsigned long long Q = ULLONG_MAX, Q2 = 0;
    CHECK_OK(pc_raw_value_new('Q', &Q, &v));
    CHECK_OK(pc_value_get(v, &Q2));
    CHECK(Q2 == ULLONG_MAX);
    pc_value_free(v);
    double d = -0.0, d2 = 1.0;
    CHECK_OK(pc_value_new('d', &d, &v));
    CHECK_OK(pc_value_get(v, &d2));
    CHECK(d2 == 0.0 && signbit(d2));
    d = NAN;
    CHECK_OK(pc_value_set(v, &d));
    CHECK_OK(pc_value_get(v, &d2));
    CHECK(isnan(d2));
    pc_value_free(v);
    float f = -0.0f, f2 = 1.0f;
    CHECK_OK(pc_value_new('f', &f, &v));
    CHECK_OK(pc_value_get(v, &f2));
    CHECK(f2 == 0.0f && signbit(f2));
    pc_value_free(v);
    _Bool t = true, t2 = false;
    CHECK_OK(pc_value_new('?', &t, &v));
    CHECK_OK(pc_value_get(v, &t2));
    CHECK(t2 == true);
    /* ctypes stores a bool as 0 or 1: a set of any non-zero byte reads back as 1. */
    unsigned char two = 2, byte = 0;
    CHECK_OK(pc_value_set(v, &two));
    CHECK_OK(pc_value_get(v, &byte));
    CHECK(byte == 1);
    pc_value_free(v);
    wchar_t u = (wchar_t)0x10FFFF, u2 = 0;
    CHECK_OK(pc_value_new('u', &u, &v));
    CHECK_OK(pc_value_get(v, &u2));
    CHECK(u2 == (wchar_t)0x10FFFF);
    pc_value_free(v);
}

static int child_array_reverse(void *arg)
{
    const struct rt_arg *r = arg;
    const size_t size = r->tc->size;
    if (pc_array_len(r->a) != 5 || pc_array_elem_size(r->a) != size ||
        pc_array_typecode(r->a) != r->tc->code)
        return 1;
    for (size_t k = 0; k < 5; k++) {
        any_t got;
        memset(&got, 0, sizeof got);
        if (pc_array_get(r->a, k, &got) != PC_OK)
            return 2;
        if (!same(&got, &r->tc->elems[k], size))
            return 3;
    }
    unsigned char buf[5 * 16], rev[5 * 16];
    if (pc_array_read(r->a, 0, 5, buf) != PC_OK)
        return 4;
    for (size_t k = 0; k < 5; k++)
        memcpy(rev + k * size, buf + (4 - k) * size, size);
    /* Half through a slice write, half element by element. */
    if (pc_array_write(r->a, 0, 3, rev) != PC_OK)
        return 5;
    for (size_t k = 3; k < 5; k++)
        if (pc_array_set(r->a, k, rev + k * size) != PC_OK)
            return 6;
    return 0;
}

static void test_array_round_trip_every_typecode(void)
{
    for (size_t k = 0; k < NCASES; k++) {
        const struct tcase *tc = &cases[k];
        unsigned char init[5 * 16];
        for (size_t e = 0; e < 5; e++)
            memcpy(init + e * tc->size, &tc->elems[e], tc->size);
        pc_lock *lock;
        pc_array *a = new_array_guarded(tc->code, 5, init, (enum guard)(k % GUARDS), &lock);
        unsigned char buf[5 * 16];
        CHECK_OK(pc_array_read(a, 0, 5, buf));
        CHECK(same(buf, init, 5 * tc->size));
        CHECK(same(pc_array_ptr(a), init, 5 * tc->size));
        struct rt_arg r = {tc, NULL, a};
        int code = finish(start(child_array_reverse, &r), 30.0);
        if (code != 0)
            FAIL("typecode '%c': the child's reversal failed at step %d", tc->code, code);
        memset(buf, 0, sizeof buf);
        CHECK_OK(pc_array_read(a, 0, 5, buf));
        for (size_t e = 0; e < 5; e++)
            if (!same(buf + e * tc->size, &tc->elems[4 - e], tc->size))
                FAIL("typecode '%c': element %zu is not the reversed one", tc->code, e);
        pc_array_free(a);
        pc_lock_free(lock);
    }
}

/* ---- unknown typecodes ---- */
static void test_unknown_typecodes(void)
{
    const char bad[] = {'x', 'z', 0, 'D', 'C', 'U', 'g', ' ', (char)0xe9};
    for (size_t k = 0; k < sizeof bad; k++) {
        char tc = bad[k];
        char quoted[8];
        snprintf(quoted, sizeof quoted, "'%c'", tc);
        pc_value *v = (pc_value *)&v;
        pc_array *a = (pc_array *)&a;
        pc_lock *lock;
        CHECK_OK(pc_lock_new(&lock));

        CHECK_STATUS(pc_value_new(tc, NULL, &v), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        if (tc >= 'A' && tc <= 'z')
            CHECK_ERRMSG(quoted);
        CHECK(v == (pc_value *)&v); /* out written on success only */
        int init = 5;
        CHECK_STATUS(pc_value_new(tc, &init, &v), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        CHECK_STATUS(pc_value_new_with_lock(tc, NULL, lock, &v), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        CHECK_STATUS(pc_raw_value_new(tc, NULL, &v), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        if (tc >= 'A' && tc <= 'z')
            CHECK_ERRMSG(quoted);
        CHECK(v == (pc_value *)&v);

        CHECK_STATUS(pc_array_new(tc, 4, NULL, &a), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        if (tc >= 'A' && tc <= 'z')
            CHECK_ERRMSG(quoted);
        CHECK_STATUS(pc_array_new(tc, 0, NULL, &a), PC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(pc_array_new_with_lock(tc, 4, NULL, lock, &a), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        CHECK_STATUS(pc_raw_array_new(tc, 4, NULL, &a), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("typecode");
        CHECK(a == (pc_array *)&a);
        pc_lock_free(lock);
    }
    /* NUL is named too (as '\0'). */
    pc_value *v;
    CHECK_STATUS(pc_value_new(0, NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("\\0");
}

/* ---- pc_value_add ---- */

/* pc_value_add on a value of `code` (a RawValue when `raw`) made from `init`: after each
 * step's delta the value holds that step's `want`. */
struct add_case {
    char code;
    bool raw;
    any_t init;
    int steps;
    struct {
        double delta;
        any_t want;
    } step[2];
};

static const struct add_case add_cases[] = {
    /* Integers wrap as in C. */
    {'B', false, {.B = 250}, 2, {{10, {.B = 4}}, {-5, {.B = 255}}}},
    {'b', false, {.b = SCHAR_MAX}, 1, {{1, {.b = SCHAR_MIN}}}},
    {'h', true, {.h = SHRT_MIN}, 1, {{-1, {.h = SHRT_MAX}}}},
    {'H', false, {.H = 0}, 1, {{65537, {.H = 1}}}},
    {'I', false, {.I = 0}, 1, {{-1, {.I = UINT_MAX}}}},
    {'l', false, {.l = LONG_MIN}, 1, {{-1, {.l = LONG_MAX}}}},
    {'L', false, {.L = ULONG_MAX}, 1, {{3, {.L = 2}}}},
    {'q', false, {.q = -5}, 2, {{-10, {.q = -15}}, {1e15, {.q = 1000000000000000LL - 15}}}},
    {'Q', false, {.Q = ULLONG_MAX}, 1, {{1, {.Q = 0}}}},
    /* Floats add, fractions included. */
    {'f', false, {.f = 1.0f}, 2, {{0.5, {.f = 1.5f}}, {-2.25, {.f = -0.75f}}}},
    {'d', true, {.d = 0.25}, 2, {{0.5, {.d = 0.75}}, {INFINITY, {.d = INFINITY}}}},
};

/* sizeof the C type of typecode `code`. */
static size_t size_of(char code)
{
    for (size_t k = 0; k < NCASES; k++)
        if (cases[k].code == code)
            return cases[k].size;
    FAIL("no typecode '%c'", code);
}

static void test_value_add(void)
{
    for (size_t k = 0; k < sizeof add_cases / sizeof add_cases[0]; k++) {
        const struct add_case *ac = &add_cases[k];
        pc_value *v;
        if (ac->raw)
            CHECK_OK(pc_raw_value_new(ac->code, &ac->init, &v));
        else
            CHECK_OK(pc_value_new(ac->code, &ac->init, &v));
        for (int n = 0; n < ac->steps; n++) {
            any_t got;
            memset(&got, 0, sizeof got);
            CHECK_OK(pc_value_add(v, ac->step[n].delta));
            CHECK_OK(pc_value_get(v, &got));
            tu_checks++;
            if (!same(&got, &ac->step[n].want, size_of(ac->code)))
                FAIL("'%c': pc_value_add(%g) (step %d) did not give the expected value",
                     ac->code, ac->step[n].delta, n + 1);
        }
        pc_value_free(v);
    }

    pc_value *v;
    int i = INT_MAX;
    CHECK_OK(pc_value_new('i', &i, &v));
    CHECK_OK(pc_value_add(v, 1));
    CHECK_OK(pc_value_get(v, &i));
    CHECK(i == INT_MIN);
    CHECK_OK(pc_value_add(v, -1));
    CHECK_OK(pc_value_get(v, &i));
    CHECK(i == INT_MAX);
    CHECK_OK(pc_value_add(v, -0.0)); /* a whole number, if negative zero */
    CHECK_OK(pc_value_add(v, 0));
    CHECK_OK(pc_value_get(v, &i));
    CHECK(i == INT_MAX);
    /* Fractional or non-finite deltas on integers: refused, nothing changed. */
    CHECK_STATUS(pc_value_add(v, 0.5), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_add");
    CHECK_ERRMSG("whole");
    CHECK_STATUS(pc_value_add(v, -1.25), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_value_add(v, 1e-300), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_value_add(v, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_value_add(v, INFINITY), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_value_add(v, -INFINITY), PC_ERR_INVALID_ARGUMENT);
    CHECK_OK(pc_value_get(v, &i));
    CHECK(i == INT_MAX);
    pc_value_free(v);

    /* Not numbers: 'c', '?', 'u'; nothing changed. */
    const char *nonnum = "c?u";
    for (const char *c = nonnum; *c; c++) {
        for (int g = OWN; g < GUARDS; g++) {
            pc_lock *lock;
            pc_value *w = new_value_guarded(*c, NULL, (enum guard)g, &lock);
            CHECK_STATUS(pc_value_add(w, 1), PC_ERR_INVALID_ARGUMENT);
            CHECK_ERRMSG("pc_value_add");
            CHECK_ERRMSG("not a number");
            CHECK_STATUS(pc_value_add(w, 0.5), PC_ERR_INVALID_ARGUMENT);
            any_t got;
            memset(&got, 0xaa, sizeof got);
            CHECK_OK(pc_value_get(w, &got));
            size_t size = *c == 'u' ? sizeof(wchar_t) : 1;
            for (size_t k = 0; k < size; k++)
                CHECK(got.bytes[k] == 0);
            pc_value_free(w);
            pc_lock_free(lock);
        }
    }
}

/* 4 processes x 10000 adds. */
#define ADDERS 4

#define ADDS 10000

static int child_adds(void *arg)
{
    pc_value *v = arg;
    for (int k = 0; k < ADDS; k++)
        if (pc_value_add(v, 1) != PC_OK)
            return 1;
    return 0;
}

static void adds_from_processes(pc_value *v)
{
    pc_process *p[ADDERS];
    for (int k = 0; k < ADDERS; k++)
        p[k] = start(child_adds, v);
    for (int k = 0; k < ADDERS; k++)
        CHECK(finish(p[k], 30.0) == 0);
}

static void *thread_adds(void *arg)
{
    return (void *)(intptr_t)child_adds(arg);
}

static void test_value_add_is_atomic(void)
{
    /* Its own RLock. */
    pc_value *v;
    int zero = 0, total = -1;
    CHECK_OK(pc_value_new('i', &zero, &v));
    adds_from_processes(v);
    CHECK_OK(pc_value_get(v, &total));
    if (total != ADDERS * ADDS)
        FAIL("4 processes x 10000 pc_value_add under the value's lock gave %d", total);
    pc_value_free(v);

    /* A given Lock (not recursive), on a 'q' this time. */
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    long long q = 1LL << 40, qt = 0;
    CHECK_OK(pc_value_new_with_lock('q', &q, lock, &v));
    adds_from_processes(v);
    CHECK_OK(pc_value_get(v, &qt));
    CHECK(qt == (1LL << 40) + ADDERS * ADDS);
    pc_value_free(v);
    pc_lock_free(lock);

    /* Threads of one process, on a double. */
    double d = 0, dt = -1;
    CHECK_OK(pc_value_new('d', &d, &v));
    pthread_t t[ADDERS];
    for (int k = 0; k < ADDERS; k++)
        CHECK(pthread_create(&t[k], NULL, thread_adds, v) == 0);
    for (int k = 0; k < ADDERS; k++) {
        void *ret;
        CHECK(pthread_join(t[k], &ret) == 0);
        CHECK(ret == NULL);
    }
    CHECK_OK(pc_value_get(v, &dt));
    CHECK(dt == (double)(ADDERS * ADDS));
    pc_value_free(v);

    /* A raw value: the adds work, but nothing makes them atomic (updates may be lost),
     * so only the bounds are checked, not the total. */
    CHECK_OK(pc_raw_value_new('i', &zero, &v));
    adds_from_processes(v);
    CHECK_OK(pc_value_get(v, &total));
    CHECK(total >= 1 && total <= ADDERS * ADDS);
    pc_value_free(v);
}

/* ---- locks and pointers ---- */
static int child_ptr(void *arg)
{
    pc_value *v = arg;
    double got = 0;
    if (pc_value_get(v, &got) != PC_OK)
        return 1;
    if (got != 2.5)
        return 2;
    double *p = pc_value_ptr(v);
    if (p == NULL)
        return 3;
    pc_lock *l = pc_value_lock(v);
    if (l && pc_lock_acquire(l, 5.0) != PC_OK)
        return 4;
    *p = -7.125;
    if (l && pc_lock_release(l) != PC_OK)
        return 5;
    return 0;
}

static void test_value_lock_and_ptr(void)
{
    /* pc_value_new: an RLock of its own, one per value. */
    pc_value *v, *w;
    CHECK_OK(pc_value_new('i', NULL, &v));
    CHECK_OK(pc_value_new('i', NULL, &w));
    pc_lock *l = pc_value_lock(v);
    CHECK(l != NULL);
    CHECK(pc_value_lock(v) == l); /* the same lock every time */
    CHECK(pc_value_lock(w) != NULL && pc_value_lock(w) != l);
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_acquire(l, 0)); /* recursive */
    /* The holder may use the value (synchronized with an RLock). */
    int x = 11, y = 0;
    CHECK_OK(pc_value_set(v, &x));
    CHECK_OK(pc_value_get(v, &y));
    CHECK(y == 11);
    CHECK_OK(pc_value_add(v, 1));
    CHECK_OK(pc_lock_release(l));
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
    CHECK_OK(pc_value_get(v, &y));
    CHECK(y == 12);

    /* pc_value_ptr: the same bytes as get/set. */
    int *p = pc_value_ptr(v);
    CHECK(p != NULL);
    CHECK(pc_value_ptr(v) == p);
    CHECK(*p == 12);
    *p = -99;
    CHECK_OK(pc_value_get(v, &y));
    CHECK(y == -99);
    x = 123456;
    CHECK_OK(pc_value_set(v, &x));
    CHECK(*p == 123456);
    pc_value_free(v);
    pc_value_free(w);

    /* _with_lock: exactly the given lock, a Lock or an RLock; one lock for two values.
     * (Each value lends a handle of its own to it.) */
    pc_lock *lock, *rlock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_OK(pc_rlock_new(&rlock));
    CHECK_OK(pc_value_new_with_lock('h', NULL, lock, &v));
    CHECK_OK(pc_value_new_with_lock('d', NULL, lock, &w));
    check_same_lock(lock, pc_value_lock(v));
    check_same_lock(lock, pc_value_lock(w));
    check_same_lock(pc_value_lock(v), pc_value_lock(w));
    pc_value_free(w);
    CHECK_OK(pc_value_new_with_lock('d', NULL, rlock, &w));
    check_same_lock(rlock, pc_value_lock(w));
    CHECK_OK(pc_lock_acquire(rlock, 0)); /* held by us: our own get/set go through */
    double d = 2.5;
    CHECK_OK(pc_value_set(w, &d));
    CHECK_OK(pc_lock_release(rlock));
    /* The child sees the value, writes through the pointer; the parent sees it. */
    CHECK_CHILD(child_ptr, w);
    CHECK_OK(pc_value_get(w, &d));
    CHECK(d == -7.125);
    CHECK(*(double *)pc_value_ptr(w) == -7.125);
    pc_value_free(v);
    pc_value_free(w);
    pc_lock_free(lock);
    pc_lock_free(rlock);

    /* Raw: no lock (and that is not an error). */
    CHECK_OK(pc_raw_value_new('d', NULL, &v));
    CHECK(pc_value_lock(v) == NULL);
    *(double *)pc_value_ptr(v) = 2.5; /* written through the pointer before the fork */
    CHECK_CHILD(child_ptr, v);
    CHECK_OK(pc_value_get(v, &d));
    CHECK(d == -7.125);
    pc_value_free(v);

    /* A NULL lock for _with_lock is refused. */
    v = (pc_value *)&v;
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock is NULL");
    CHECK(v == (pc_value *)&v);
    pc_array *a = (pc_array *)&a;
    CHECK_STATUS(pc_array_new_with_lock('i', 3, NULL, NULL, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock is NULL");
    CHECK(a == (pc_array *)&a);
}

int main(int argc, char **argv)
{
    tu_init("test_sharedctypes_values", 25);
    tu_select(argc, argv);

    RUN(test_typecode_sizes);
    RUN(test_value_null_init_is_zero);
    RUN(test_value_round_trip_every_typecode);
    RUN(test_array_round_trip_every_typecode);
    RUN(test_unknown_typecodes);
    RUN(test_value_add);
    RUN(test_value_add_is_atomic);
    RUN(test_value_lock_and_ptr);
    return tu_done();
}
