/*
 * test_sharedctypes.c: shared memory (API.md §6): pc_value_* (Value, RawValue),
 * pc_array_* (Array, RawArray, arrays of a C struct), pc_array_copy (sharedctypes.copy)
 * and the locks that synchronize them (synchronized): every typecode's size and a
 * round trip through a child, pc_value_add (wrapping, atomic under the lock across
 * processes and threads), index and slice checks, 'c' arrays as strings, gets and sets
 * that wait for the lock a child holds, a lock held across fork, a holder that dies,
 * pc_interrupt() breaking a wait for the lock, a large array, bad arguments for every
 * function, and nothing left behind (fds, mappings, /dev/shm, children).
 *
 * Children report through their exit code (no CHECK in a child): 0 is success, any
 * other number names the step that failed. The last few tests (RUN_ISOLATED) each run in
 * a plain sub-process, so that one failing does not hide the others' results; the
 * program fails at the end if any of them did.
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

/* ---- helpers ---- */

#define CHECK_CHILD(target, arg)                                                             \
    do {                                                                                     \
        int code_ = finish(start((target), (arg)), 30.0);                                    \
        tu_checks++;                                                                         \
        if (code_ != 0)                                                                      \
            FAIL("child %s failed with exit code %d", #target, code_);                     \
    } while (0)

static void make_pipe(int fds[2])
{
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
}

static void close_pipe(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* ---- every typecode ---- */

/* One element of any typecode. */
typedef union {
    char c;
    signed char b;
    unsigned char B;
    short h;
    unsigned short H;
    int i;
    unsigned int I;
    long l;
    unsigned long L;
    long long q;
    unsigned long long Q;
    float f;
    double d;
    _Bool t; /* '?' */
    wchar_t u;
    unsigned char bytes[16];
} any_t;

struct tcase {
    char code;
    size_t size;       /* sizeof the C type */
    const char *ctype; /* for messages */
    any_t init;        /* a distinctive first value */
    any_t next;        /* what the child writes */
    any_t elems[5];    /* an array's initial contents, all different where possible */
};

static const struct tcase cases[] = {
    {'c', sizeof(char), "char", {.c = 'A'}, {.c = '\xff'},
     {{.c = 'a'}, {.c = '\0'}, {.c = 'z'}, {.c = '\x80'}, {.c = '\x7f'}}},
    {'b', sizeof(signed char), "signed char", {.b = SCHAR_MIN}, {.b = SCHAR_MAX},
     {{.b = SCHAR_MIN}, {.b = -1}, {.b = 0}, {.b = 1}, {.b = SCHAR_MAX}}},
    {'B', sizeof(unsigned char), "unsigned char", {.B = UCHAR_MAX}, {.B = 0x5a},
     {{.B = 0}, {.B = 1}, {.B = 0x80}, {.B = 0xfe}, {.B = UCHAR_MAX}}},
    {'h', sizeof(short), "short", {.h = SHRT_MIN}, {.h = SHRT_MAX},
     {{.h = SHRT_MIN}, {.h = -2}, {.h = 0}, {.h = 300}, {.h = SHRT_MAX}}},
    {'H', sizeof(unsigned short), "unsigned short", {.H = USHRT_MAX}, {.H = 0x1234},
     {{.H = 0}, {.H = 1}, {.H = 0x8000}, {.H = 0xfffe}, {.H = USHRT_MAX}}},
    {'i', sizeof(int), "int", {.i = INT_MIN}, {.i = INT_MAX},
     {{.i = INT_MIN}, {.i = -1}, {.i = 0}, {.i = 1729}, {.i = INT_MAX}}},
    {'I', sizeof(unsigned int), "unsigned int", {.I = UINT_MAX}, {.I = 0xdeadbeefu},
     {{.I = 0}, {.I = 1}, {.I = 0x80000000u}, {.I = 0xfffffffeu}, {.I = UINT_MAX}}},
    {'l', sizeof(long), "long", {.l = LONG_MIN}, {.l = LONG_MAX},
     {{.l = LONG_MIN}, {.l = -1}, {.l = 0}, {.l = 1L << 40}, {.l = LONG_MAX}}},
    {'L', sizeof(unsigned long), "unsigned long", {.L = ULONG_MAX}, {.L = 0x0123456789abcdefUL},
     {{.L = 0}, {.L = 1}, {.L = 1UL << 63}, {.L = ULONG_MAX - 1}, {.L = ULONG_MAX}}},
    {'q', sizeof(long long), "long long", {.q = LLONG_MIN}, {.q = LLONG_MAX},
     {{.q = LLONG_MIN}, {.q = -1}, {.q = 0}, {.q = 1LL << 62}, {.q = LLONG_MAX}}},
    {'Q', sizeof(unsigned long long), "unsigned long long", {.Q = ULLONG_MAX},
     {.Q = 0xfedcba9876543210ULL},
     {{.Q = 0}, {.Q = 1}, {.Q = 1ULL << 63}, {.Q = ULLONG_MAX - 1}, {.Q = ULLONG_MAX}}},
    {'f', sizeof(float), "float", {.f = -0.0f}, {.f = NAN},
     {{.f = -0.0f}, {.f = FLT_MIN}, {.f = 1.5f}, {.f = -INFINITY}, {.f = FLT_MAX}}},
    {'d', sizeof(double), "double", {.d = NAN}, {.d = -0.0},
     {{.d = -0.0}, {.d = DBL_MIN}, {.d = 1.0 / 3.0}, {.d = INFINITY}, {.d = -DBL_MAX}}},
    {'?', sizeof(_Bool), "_Bool", {.t = 1}, {.t = 0},
     {{.t = 1}, {.t = 0}, {.t = 1}, {.t = 1}, {.t = 0}}},
    {'u', sizeof(wchar_t), "wchar_t", {.u = L'\xe9'}, {.u = (wchar_t)0x1F600},
     {{.u = L'a'}, {.u = 0}, {.u = L'\xe9'}, {.u = (wchar_t)0x1F600}, {.u = WCHAR_MAX}}},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char all_codes[] = "cbBhHiIlLqQfd?u";

static bool same(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* How a case's value or array is guarded: cycles over the three constructors. */
enum guard { OWN, WITH_LOCK, WITH_RLOCK, RAW, GUARDS };

/* The lock given to a WITH_LOCK or WITH_RLOCK constructor. */
static pc_lock *new_given_lock(enum guard g)
{
    pc_lock *lock = NULL;
    if (g == WITH_LOCK)
        CHECK_OK(pc_lock_new(&lock));
    else
        CHECK_OK(pc_rlock_new(&lock));
    return lock;
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
        CHECK(pc_value_lock(v) == *lock);
        break;
    default:
        CHECK_OK(pc_raw_value_new(code, init, &v));
        CHECK(pc_value_lock(v) == NULL);
        break;
    }
    CHECK(v != NULL);
    return v;
}

static pc_array *new_array_guarded(char code, size_t len, const void *init, enum guard g,
                                   pc_lock **lock)
{
    pc_array *a = NULL;
    *lock = NULL;
    switch (g) {
    case OWN:
        CHECK_OK(pc_array_new(code, len, init, &a));
        CHECK(pc_array_lock(a) != NULL);
        break;
    case WITH_LOCK:
    case WITH_RLOCK:
        *lock = new_given_lock(g);
        CHECK_OK(pc_array_new_with_lock(code, len, init, *lock, &a));
        CHECK(pc_array_lock(a) == *lock);
        break;
    default:
        CHECK_OK(pc_raw_array_new(code, len, init, &a));
        CHECK(pc_array_lock(a) == NULL);
        break;
    }
    CHECK(a != NULL);
    return a;
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

    /* _with_lock: exactly the given lock, a Lock or an RLock; one lock for two values. */
    pc_lock *lock, *rlock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_OK(pc_rlock_new(&rlock));
    CHECK_OK(pc_value_new_with_lock('h', NULL, lock, &v));
    CHECK_OK(pc_value_new_with_lock('d', NULL, lock, &w));
    CHECK(pc_value_lock(v) == lock);
    CHECK(pc_value_lock(w) == lock);
    pc_value_free(w);
    CHECK_OK(pc_value_new_with_lock('d', NULL, rlock, &w));
    CHECK(pc_value_lock(w) == rlock);
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

/* Thread that gets the value while the main thread holds its Lock. */
struct getter {
    pc_value *v;
    volatile int done;
    int status;
    int got;
};

static void *thread_get(void *arg)
{
    struct getter *g = arg;
    g->status = pc_value_get(g->v, &g->got);
    __atomic_store_n(&g->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_with_lock_is_used(void)
{
    /* Holding the given (non-recursive) Lock keeps another thread's get waiting. */
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    int x = 5;
    pc_value *v;
    CHECK_OK(pc_value_new_with_lock('i', &x, lock, &v));
    CHECK_OK(pc_lock_acquire(lock, 0));
    *(int *)pc_value_ptr(v) = 6;
    struct getter g = {v, 0, -1, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_get, &g) == 0);
    sleep_s(0.2);
    CHECK(__atomic_load_n(&g.done, __ATOMIC_SEQ_CST) == 0);
    *(int *)pc_value_ptr(v) = 7;
    CHECK_OK(pc_lock_release(lock));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(g.status, PC_OK);
    CHECK(g.got == 7);
    pc_value_free(v);
    pc_lock_free(lock);
}

/* ---- get/set wait for the lock a child holds ---- */

struct holder {
    pc_lock *lock;
    void *ptr;       /* written while held, just before the release */
    size_t nbytes;
    unsigned char pattern;
    double hold;     /* seconds */
    int ready_w;     /* gets the time the lock was taken (a double) */
    int go_r;        /* if >= 0: hold until a byte arrives here, not for `hold` */
    bool no_release; /* exit holding it */
};

static int child_hold_lock(void *arg)
{
    const struct holder *h = arg;
    if (pc_lock_acquire(h->lock, 10.0) != PC_OK)
        return 1;
    double taken = now();
    if (!write_all(h->ready_w, &taken, sizeof taken))
        return 2;
    if (h->go_r >= 0) {
        char c;
        if (!read_exact(h->go_r, &c, 1, 20.0))
            return 3;
    } else {
        sleep_s(h->hold);
    }
    if (h->ptr)
        memset(h->ptr, h->pattern, h->nbytes);
    if (h->no_release)
        return 0;
    if (pc_lock_release(h->lock) != PC_OK)
        return 4;
    return 0;
}

enum op { OP_GET, OP_SET, OP_READ, OP_WRITE, OP_COPY, OP_GET_STRING, OP_VALUE_GET,
          OP_VALUE_SET, OP_VALUE_ADD, OPS };
static const char *const op_names[] = {"pc_array_get", "pc_array_set", "pc_array_read",
                                       "pc_array_write", "pc_array_copy",
                                       "pc_array_get_string", "pc_value_get",
                                       "pc_value_set", "pc_value_add"};

static void test_get_set_wait_for_the_lock(void)
{
    for (int op = 0; op < OPS; op++) {
        bool on_value = op >= OP_VALUE_GET;
        pc_array *a = NULL;
        pc_value *v = NULL;
        pc_lock *lock;
        if (op == OP_GET_STRING) {
            CHECK_OK(pc_array_new('c', 8, "initial", &a));
        } else if (on_value) {
            int zero = 0;
            CHECK_OK(pc_value_new('i', &zero, &v));
        } else {
            CHECK_OK(pc_array_new('i', 4, NULL, &a));
        }
        lock = on_value ? pc_value_lock(v) : pc_array_lock(a);
        CHECK(lock != NULL);
        int ready[2];
        make_pipe(ready);
        struct holder h = {
            .lock = lock,
            .ptr = on_value ? pc_value_ptr(v) : pc_array_ptr(a),
            .nbytes = on_value ? sizeof(int) : (op == OP_GET_STRING ? 3 : 4 * sizeof(int)),
            .pattern = op == OP_GET_STRING ? 'x' : 0x11,
            .hold = 0.3,
            .ready_w = ready[1],
            .go_r = -1,
        };
        pc_process *p = start(child_hold_lock, &h);
        double taken = 0;
        CHECK(read_exact(ready[0], &taken, sizeof taken, 10.0));

        int x = 0x7777, buf[4] = {0};
        pc_array *copy = NULL;
        pc_bytes str = {NULL, 0};
        switch (op) {
        case OP_GET: CHECK_OK(pc_array_get(a, 2, &x)); break;
        case OP_SET: CHECK_OK(pc_array_set(a, 2, &x)); break;
        case OP_READ: CHECK_OK(pc_array_read(a, 1, 3, buf)); break;
        case OP_WRITE: CHECK_OK(pc_array_write(a, 1, 2, (int[]){0x7777, 0x7777})); break;
        case OP_COPY: CHECK_OK(pc_array_copy(a, &copy)); break;
        case OP_GET_STRING: CHECK_OK(pc_array_get_string(a, &str)); break;
        case OP_VALUE_GET: CHECK_OK(pc_value_get(v, &x)); break;
        case OP_VALUE_SET: CHECK_OK(pc_value_set(v, &x)); break;
        case OP_VALUE_ADD: CHECK_OK(pc_value_add(v, 1)); break;
        }
        double waited = now() - taken;
        if (waited < 0.25)
            FAIL("%s returned %.3f s after the child took the lock it holds for 0.3 s",
                 op_names[op], waited);

        /* What each saw or left: the child's bytes were written before its release. */
        const int child = 0x11111111;
        int after[4] = {0};
        switch (op) {
        case OP_GET: CHECK(x == child); break;
        case OP_SET:
            CHECK_OK(pc_array_read(a, 0, 4, after));
            CHECK(after[0] == child && after[1] == child && after[2] == 0x7777 &&
                  after[3] == child);
            break;
        case OP_READ: CHECK(buf[0] == child && buf[1] == child && buf[2] == child); break;
        case OP_WRITE:
            CHECK_OK(pc_array_read(a, 0, 4, after));
            CHECK(after[0] == child && after[1] == 0x7777 && after[2] == 0x7777 &&
                  after[3] == child);
            break;
        case OP_COPY:
            CHECK_OK(pc_array_read(copy, 0, 4, after));
            for (int k = 0; k < 4; k++)
                CHECK(after[k] == child);
            pc_array_free(copy);
            break;
        case OP_GET_STRING:
            CHECK(str.len == 7 && memcmp(str.data, "xxxtial", 7) == 0);
            pc_bytes_free(&str);
            break;
        case OP_VALUE_GET: CHECK(x == child); break;
        case OP_VALUE_SET:
            CHECK_OK(pc_value_get(v, &x));
            CHECK(x == 0x7777);
            break;
        case OP_VALUE_ADD:
            CHECK_OK(pc_value_get(v, &x));
            CHECK(x == child + 1);
            break;
        }
        CHECK(finish(p, 10.0) == 0);
        close_pipe(ready);
        pc_array_free(a);
        pc_value_free(v);
    }
}

/* The parent holds the value's RLock when it forks: the child is another process, so its
 * get waits until the parent releases. */
struct fork_get {
    pc_value *v;
    int result_w;
};

struct fork_get_result {
    int status;
    int value;
    double returned;
};

static int child_get_and_report(void *arg)
{
    const struct fork_get *f = arg;
    struct fork_get_result r = {-1, 0, 0};
    r.status = pc_value_get(f->v, &r.value);
    r.returned = now();
    return write_all(f->result_w, &r, sizeof r) ? 0 : 1;
}

static void test_lock_held_across_fork(void)
{
    for (int raw_rlock = 0; raw_rlock < 2; raw_rlock++) {
        pc_value *v;
        pc_lock *given = NULL;
        if (raw_rlock) {
            CHECK_OK(pc_rlock_new(&given));
            CHECK_OK(pc_value_new_with_lock('i', NULL, given, &v));
        } else {
            CHECK_OK(pc_value_new('i', NULL, &v));
        }
        pc_lock *l = pc_value_lock(v);
        CHECK_OK(pc_lock_acquire(l, 0));
        int result[2];
        make_pipe(result);
        struct fork_get f = {v, result[1]};
        pc_process *p = start(child_get_and_report, &f);
        sleep_s(0.3);
        int x = 77;
        CHECK_OK(pc_value_set(v, &x)); /* we hold the RLock: fine for us */
        double released = now();
        CHECK_OK(pc_lock_release(l));
        struct fork_get_result r;
        CHECK(read_exact(result[0], &r, sizeof r, 10.0));
        CHECK_STATUS(r.status, PC_OK);
        if (r.value != 77 || r.returned < released)
            FAIL("the child's get returned %.3f s before the parent released the lock it "
                 "held at fork, with %d", released - r.returned, r.value);
        CHECK_OK(pc_process_join(p, 10.0));
        pc_process_free(p);
        close_pipe(result);
        pc_value_free(v);
        pc_lock_free(given);
    }
}

/* A child that dies holding the lock does not block the value for ever. */
static void test_holder_died(void)
{
    pc_value *v;
    int x = 1;
    CHECK_OK(pc_value_new('i', &x, &v));
    int ready[2];
    make_pipe(ready);
    struct holder h = {.lock = pc_value_lock(v), .ptr = pc_value_ptr(v), .nbytes = sizeof(int),
                       .pattern = 0x22, .hold = 0, .ready_w = ready[1], .go_r = -1,
                       .no_release = true};
    CHECK_CHILD(child_hold_lock, &h);
    double t0 = now();
    CHECK_OK(pc_value_get(v, &x));
    CHECK(now() - t0 < 2.0);
    CHECK(x == 0x22222222);
    x = 3;
    CHECK_OK(pc_value_set(v, &x));
    CHECK_OK(pc_value_get(v, &x));
    CHECK(x == 3);
    CHECK_OK(pc_lock_acquire(pc_value_lock(v), 0)); /* free again */
    CHECK_OK(pc_lock_release(pc_value_lock(v)));
    close_pipe(ready);
    pc_value_free(v);
}

/* ---- pc_interrupt ---- */

static void test_interrupt_breaks_the_wait(void)
{
    pc_value *v;
    int x = 5;
    CHECK_OK(pc_value_new('i', &x, &v));
    pc_array *a;
    CHECK_OK(pc_array_new('i', 3, NULL, &a));
    int ready[2], go[2];
    make_pipe(ready);
    make_pipe(go);

    for (int on_array = 0; on_array < 2; on_array++) {
        pc_lock *l = on_array ? pc_array_lock(a) : pc_value_lock(v);
        struct holder h = {.lock = l, .ready_w = ready[1], .go_r = go[0]};
        pc_process *p = start(child_hold_lock, &h);
        double taken;
        CHECK(read_exact(ready[0], &taken, sizeof taken, 10.0));

        struct interrupter it;
        interrupter_start(&it, 0.3);
        double t0 = now();
        int got = -1;
        pc_status s = on_array ? pc_array_get(a, 1, &got) : pc_value_get(v, &got);
        double returned = now();
        interrupter_join(&it);
        CHECK_STATUS(s, PC_ERR_INTERRUPTED);
        CHECK_ERRMSG(on_array ? "pc_array_get" : "pc_value_get");
        CHECK(got == -1);                /* nothing read */
        CHECK(returned - t0 >= 0.25);    /* it did wait */
        CHECK(returned >= it.at);
        if (returned - it.at > 1.0)
            FAIL("the get returned %.3f s after pc_interrupt()", returned - it.at);
        /* Nothing acquired: we do not hold the lock. */
        CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);
        /* The interrupt was consumed: a set now waits for the child, which we let go. */
        CHECK(write_all(go[1], "g", 1));
        int y = 9;
        CHECK_OK(on_array ? pc_array_set(a, 1, &y) : pc_value_set(v, &y));
        CHECK_OK(on_array ? pc_array_get(a, 1, &got) : pc_value_get(v, &got));
        CHECK(got == 9);
        CHECK(finish(p, 10.0) == 0);
    }
    close_pipe(ready);
    close_pipe(go);
    pc_value_free(v);
    pc_array_free(a);
}

/* ---- arrays: getters, indexes, slices ---- */

static void test_array_indexes_and_slices(void)
{
    int init[6] = {10, 11, 12, 13, 14, 15};
    for (int g = OWN; g < GUARDS; g++) {
        pc_lock *lock;
        pc_array *a = new_array_guarded('i', 6, init, (enum guard)g, &lock);
        CHECK(pc_array_len(a) == 6);
        CHECK(pc_array_elem_size(a) == sizeof(int));
        CHECK(pc_array_typecode(a) == 'i');
        CHECK(pc_array_ptr(a) != NULL && pc_array_ptr(a) == pc_array_ptr(a));

        int x = -1, y = 100;
        CHECK_OK(pc_array_get(a, 0, &x));
        CHECK(x == 10);
        CHECK_OK(pc_array_get(a, 5, &x));
        CHECK(x == 15);
        x = -1;
        CHECK_STATUS(pc_array_get(a, 6, &x), PC_ERR_INDEX);
        CHECK_ERRMSG("pc_array_get");
        CHECK(x == -1);
        CHECK_STATUS(pc_array_get(a, SIZE_MAX, &x), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_get(a, SIZE_MAX / 2, &x), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_set(a, 6, &y), PC_ERR_INDEX);
        CHECK_ERRMSG("pc_array_set");
        CHECK_STATUS(pc_array_set(a, SIZE_MAX, &y), PC_ERR_INDEX);
        CHECK_OK(pc_array_set(a, 3, &y));
        CHECK_OK(pc_array_get(a, 3, &x));
        CHECK(x == 100);
        CHECK(((int *)pc_array_ptr(a))[3] == 100);
        ((int *)pc_array_ptr(a))[4] = 400; /* through the pointer */
        CHECK_OK(pc_array_get(a, 4, &x));
        CHECK(x == 400);

        /* Slices: full, partial, empty, out of range. */
        int buf[8];
        memset(buf, 0x55, sizeof buf);
        CHECK_OK(pc_array_read(a, 0, 6, buf));
        CHECK(buf[0] == 10 && buf[3] == 100 && buf[4] == 400 && buf[5] == 15);
        CHECK(buf[6] == 0x55555555); /* nothing past the slice */
        memset(buf, 0x55, sizeof buf);
        CHECK_OK(pc_array_read(a, 2, 3, buf));
        CHECK(buf[0] == 12 && buf[1] == 100 && buf[2] == 400 && buf[3] == 0x55555555);
        CHECK_OK(pc_array_read(a, 0, 0, NULL));
        CHECK_OK(pc_array_read(a, 3, 0, NULL));
        CHECK_OK(pc_array_read(a, 6, 0, NULL)); /* a[6:6] */
        CHECK_OK(pc_array_read(a, 6, 0, buf));
        CHECK_OK(pc_array_write(a, 6, 0, NULL));
        CHECK_OK(pc_array_write(a, 0, 0, NULL));
        CHECK_STATUS(pc_array_read(a, 7, 0, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 4, 3, buf), PC_ERR_INDEX);
        CHECK_ERRMSG("pc_array_read");
        CHECK_STATUS(pc_array_read(a, 0, 7, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 6, 1, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, SIZE_MAX, 1, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 1, SIZE_MAX, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, SIZE_MAX, SIZE_MAX, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, SIZE_MAX, 0, buf), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 2, SIZE_MAX / sizeof(int) + 1, buf), PC_ERR_INDEX);
        int w[3] = {-1, -2, -3};
        CHECK_STATUS(pc_array_write(a, 4, 3, w), PC_ERR_INDEX);
        CHECK_ERRMSG("pc_array_write");
        CHECK_STATUS(pc_array_write(a, SIZE_MAX, 1, w), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_write(a, 1, SIZE_MAX, w), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_write(a, SIZE_MAX - 1, 2, w), PC_ERR_INDEX);
        /* The refused writes changed nothing. */
        CHECK_OK(pc_array_read(a, 0, 6, buf));
        CHECK(buf[0] == 10 && buf[1] == 11 && buf[2] == 12 && buf[3] == 100 &&
              buf[4] == 400 && buf[5] == 15);
        CHECK_OK(pc_array_write(a, 3, 3, w));
        CHECK_OK(pc_array_read(a, 0, 6, buf));
        CHECK(buf[2] == 12 && buf[3] == -1 && buf[4] == -2 && buf[5] == -3);
        CHECK_OK(pc_array_write(a, 0, 6, init));
        CHECK_OK(pc_array_read(a, 0, 6, buf));
        CHECK(memcmp(buf, init, sizeof init) == 0);
        pc_array_free(a);
        pc_lock_free(lock);
    }
}

static void test_zero_length_arrays(void)
{
    for (int g = OWN; g < GUARDS; g++) {
        pc_lock *lock;
        int dummy = 42;
        pc_array *a = new_array_guarded('d', 0, NULL, (enum guard)g, &lock);
        CHECK(pc_array_len(a) == 0);
        CHECK(pc_array_elem_size(a) == sizeof(double));
        CHECK(pc_array_typecode(a) == 'd');
        CHECK(pc_array_ptr(a) != NULL); /* points to no element, but is not an error */
        CHECK_OK(pc_array_read(a, 0, 0, NULL));
        CHECK_OK(pc_array_write(a, 0, 0, NULL));
        CHECK_OK(pc_array_read(a, 0, 0, &dummy));
        double d = 1.5;
        CHECK_STATUS(pc_array_get(a, 0, &d), PC_ERR_INDEX);
        CHECK(d == 1.5);
        CHECK_STATUS(pc_array_set(a, 0, &d), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 0, 1, &d), PC_ERR_INDEX);
        CHECK_STATUS(pc_array_read(a, 1, 0, &d), PC_ERR_INDEX);
        pc_array *c;
        CHECK_OK(pc_array_copy(a, &c));
        CHECK(pc_array_len(c) == 0 && pc_array_typecode(c) == 'd' && pc_array_lock(c) == NULL);
        pc_array_free(c);
        pc_array_free(a);
        pc_lock_free(lock);
        /* With an init pointer (nothing is read from it). */
        a = new_array_guarded('i', 0, &dummy, (enum guard)g, &lock);
        CHECK(pc_array_len(a) == 0);
        pc_array_free(a);
        pc_lock_free(lock);
    }
    /* 'c' of length 0: the empty string. */
    pc_array *s;
    CHECK_OK(pc_array_new('c', 0, NULL, &s));
    pc_bytes b = {(uint8_t *)&b, 99};
    CHECK_OK(pc_array_get_string(s, &b));
    CHECK(b.len == 0);
    pc_bytes_free(&b);
    CHECK(b.data == NULL && b.len == 0);
    CHECK_OK(pc_array_set_string(s, ""));
    CHECK_STATUS(pc_array_set_string(s, "a"), PC_ERR_VALUE);
    pc_array_free(s);
    /* Sized, of length 0. */
    CHECK_OK(pc_raw_array_new_sized(24, 0, &s));
    CHECK(pc_array_len(s) == 0 && pc_array_elem_size(s) == 24 && pc_array_typecode(s) == 0);
    CHECK_OK(pc_array_read(s, 0, 0, NULL));
    pc_array_free(s);
}

/* ---- an array of a C struct (the seed's Point example) ---- */

struct point {
    double x, y;
};

struct seed_objects {
    pc_value *n;     /* Value('i', 7) */
    pc_value *x;     /* Value(c_double, 1.0/3.0, lock=False) */
    pc_array *s;     /* Array('c', 'hello world', lock=lock) */
    pc_array *A;     /* Array(Point, [...], lock=lock), here a RawArray of struct point */
    pc_lock *lock;
};

static int child_modify(void *arg)
{
    const struct seed_objects *o = arg;
    /* n.value **= 2 */
    int n;
    if (pc_value_get(o->n, &n) != PC_OK)
        return 1;
    n *= n;
    if (pc_value_set(o->n, &n) != PC_OK)
        return 2;
    /* x.value **= 2 */
    double *x = pc_value_ptr(o->x);
    *x = *x * *x;
    /* s.value = s.value.upper() */
    pc_bytes b;
    if (pc_array_get_string(o->s, &b) != PC_OK)
        return 3;
    char up[32];
    size_t len = b.len < sizeof up - 1 ? b.len : sizeof up - 1;
    for (size_t k = 0; k < len; k++)
        up[k] = (char)(b.data[k] >= 'a' && b.data[k] <= 'z' ? b.data[k] - 32 : b.data[k]);
    up[len] = '\0';
    pc_bytes_free(&b);
    if (pc_array_set_string(o->s, up) != PC_OK)
        return 4;
    /* for p in A: p.x **= 2; p.y **= 2 (through the pointer, under the lock) */
    if (pc_lock_acquire(o->lock, 5.0) != PC_OK)
        return 5;
    struct point *pts = pc_array_ptr(o->A);
    size_t count = pc_array_len(o->A);
    if (pts == NULL || count != 3 || pc_array_elem_size(o->A) != sizeof(struct point))
        return 6;
    for (size_t k = 0; k < count; k++) {
        pts[k].x *= pts[k].x;
        pts[k].y *= pts[k].y;
    }
    if (pc_lock_release(o->lock) != PC_OK)
        return 7;
    return 0;
}

static void test_struct_array_seed_example(void)
{
    struct seed_objects o;
    int seven = 7;
    double third = 1.0 / 3.0;
    CHECK_OK(pc_lock_new(&o.lock));
    CHECK_OK(pc_value_new('i', &seven, &o.n));
    CHECK_OK(pc_raw_value_new('d', &third, &o.x));
    CHECK_OK(pc_array_new_with_lock('c', 11, "hello world", o.lock, &o.s));
    CHECK_OK(pc_raw_array_new_sized(sizeof(struct point), 3, &o.A));
    CHECK(pc_array_typecode(o.A) == 0);
    CHECK(pc_array_elem_size(o.A) == sizeof(struct point));
    CHECK(pc_array_len(o.A) == 3);
    CHECK(pc_array_lock(o.A) == NULL);
    /* Zeroed. */
    struct point pts[3] = {{1, 1}, {1, 1}, {1, 1}};
    CHECK_OK(pc_array_read(o.A, 0, 3, pts));
    CHECK(pts[0].x == 0 && pts[1].y == 0 && pts[2].x == 0 && pts[2].y == 0);
    const struct point init[3] = {{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}};
    CHECK_OK(pc_array_write(o.A, 0, 3, init));
    struct point one;
    CHECK_OK(pc_array_get(o.A, 1, &one));
    CHECK(one.x == -5.75 && one.y == 2.0);
    CHECK_STATUS(pc_array_get(o.A, 3, &one), PC_ERR_INDEX);

    CHECK_CHILD(child_modify, &o);

    int n;
    double x;
    CHECK_OK(pc_value_get(o.n, &n));
    CHECK(n == 49);
    CHECK_OK(pc_value_get(o.x, &x));
    CHECK(x == third * third);
    pc_bytes b;
    CHECK_OK(pc_array_get_string(o.s, &b));
    CHECK(b.len == 11 && memcmp(b.data, "HELLO WORLD", 11) == 0);
    pc_bytes_free(&b);
    CHECK_OK(pc_array_read(o.A, 0, 3, pts));
    CHECK(pts[0].x == 3.515625 && pts[0].y == 39.0625);
    CHECK(pts[1].x == 33.0625 && pts[1].y == 4.0);
    CHECK(pts[2].x == 5.640625 && pts[2].y == 90.25);
    struct point set = {0.5, -0.5};
    CHECK_OK(pc_array_set(o.A, 2, &set));
    CHECK(((struct point *)pc_array_ptr(o.A))[2].y == -0.5);

    pc_value_free(o.n);
    pc_value_free(o.x);
    pc_array_free(o.s);
    pc_array_free(o.A);
    pc_lock_free(o.lock);

    /* Odd sizes, and strings refused on sized arrays. */
    size_t sizes[] = {1, 3, 13, 4096, 4097};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        pc_array *a;
        CHECK_OK(pc_raw_array_new_sized(sizes[k], 5, &a));
        CHECK(pc_array_elem_size(a) == sizes[k] && pc_array_len(a) == 5);
        CHECK(pc_array_typecode(a) == 0);
        unsigned char *p = pc_array_ptr(a);
        memset(p, 0xab, sizes[k] * 5); /* the whole array is there */
        unsigned char *elem = malloc(sizes[k]);
        CHECK(elem != NULL);
        CHECK_OK(pc_array_get(a, 4, elem));
        CHECK(elem[0] == 0xab && elem[sizes[k] - 1] == 0xab);
        free(elem);
        pc_bytes s;
        CHECK_STATUS(pc_array_get_string(a, &s), PC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(pc_array_set_string(a, ""), PC_ERR_INVALID_ARGUMENT);
        pc_array_free(a);
    }
    pc_array *a = (pc_array *)&a;
    CHECK_STATUS(pc_raw_array_new_sized(0, 5, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("elem_size");
    CHECK_STATUS(pc_raw_array_new_sized(0, 0, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK(a == (pc_array *)&a);
}

/* ---- 'c' arrays as strings ---- */

static void test_char_array_strings(void)
{
    for (int g = OWN; g < GUARDS; g++) {
        pc_lock *lock;
        pc_array *a = new_array_guarded('c', 5, NULL, (enum guard)g, &lock);
        pc_bytes b = {NULL, 0};
        CHECK_OK(pc_array_get_string(a, &b)); /* zeros: the empty string */
        CHECK(b.len == 0);
        pc_bytes_free(&b);

        /* Shorter: NUL-terminated. */
        CHECK_OK(pc_array_set_string(a, "hey"));
        CHECK_OK(pc_array_get_string(a, &b));
        CHECK(b.len == 3 && b.data != NULL && memcmp(b.data, "hey", 3) == 0);
        pc_bytes_free(&b);
        CHECK(b.data == NULL && b.len == 0);
        pc_bytes_free(&b); /* idempotent */
        CHECK(b.data == NULL && b.len == 0);
        char raw[5];
        CHECK_OK(pc_array_read(a, 0, 5, raw));
        CHECK(memcmp(raw, "hey\0", 4) == 0);

        /* Exactly the length: no NUL, get_string returns all of it. */
        CHECK_OK(pc_array_set_string(a, "hello"));
        CHECK_OK(pc_array_read(a, 0, 5, raw));
        CHECK(memcmp(raw, "hello", 5) == 0);
        CHECK_OK(pc_array_get_string(a, &b));
        CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
        pc_bytes_free(&b);

        /* Shorter again: a NUL after it, the rest stays (as ctypes). */
        CHECK_OK(pc_array_set_string(a, "hi"));
        CHECK_OK(pc_array_read(a, 0, 5, raw));
        CHECK(memcmp(raw, "hi\0lo", 5) == 0);
        CHECK_OK(pc_array_get_string(a, &b));
        CHECK(b.len == 2 && memcmp(b.data, "hi", 2) == 0);
        pc_bytes_free(&b);

        /* Longer: PC_ERR_VALUE, nothing changed. */
        CHECK_STATUS(pc_array_set_string(a, "hello!"), PC_ERR_VALUE);
        CHECK_ERRMSG("pc_array_set_string");
        CHECK_ERRMSG("too long");
        CHECK_STATUS(pc_array_set_string(a, "a much longer string than five"), PC_ERR_VALUE);
        CHECK_OK(pc_array_read(a, 0, 5, raw));
        CHECK(memcmp(raw, "hi\0lo", 5) == 0);

        /* The empty string: a NUL at 0. */
        CHECK_OK(pc_array_set_string(a, ""));
        CHECK_OK(pc_array_get_string(a, &b));
        CHECK(b.len == 0);
        pc_bytes_free(&b);
        CHECK_OK(pc_array_read(a, 0, 5, raw));
        CHECK(memcmp(raw, "\0i\0lo", 5) == 0);

        /* Bytes above 127 are bytes. */
        CHECK_OK(pc_array_set_string(a, "\xff\x80z"));
        CHECK_OK(pc_array_get_string(a, &b));
        CHECK(b.len == 3 && b.data[0] == 0xff && b.data[1] == 0x80 && b.data[2] == 'z');
        pc_bytes_free(&b);

        /* NULL string. */
        CHECK_STATUS(pc_array_set_string(a, NULL), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_array_set_string");
        CHECK_ERRMSG("s is NULL");
        pc_array_free(a);
        pc_lock_free(lock);
    }

    /* Other typecodes: string calls are INVALID_ARGUMENT. */
    for (size_t k = 0; k < NCASES; k++) {
        if (cases[k].code == 'c')
            continue;
        pc_array *a;
        CHECK_OK(pc_array_new(cases[k].code, 4, NULL, &a));
        pc_bytes b = {(uint8_t *)&b, 77};
        CHECK_STATUS(pc_array_get_string(a, &b), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_array_get_string");
        CHECK_ERRMSG("'c'");
        CHECK(b.data == (uint8_t *)&b && b.len == 77); /* untouched */
        CHECK_STATUS(pc_array_set_string(a, "x"), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_array_set_string");
        CHECK_ERRMSG("'c'");
        pc_array_free(a);
    }

    /* pc_bytes_free: NULL and an empty pc_bytes are fine. */
    pc_bytes_free(NULL);
    pc_bytes empty = {NULL, 0};
    pc_bytes_free(&empty);
    CHECK(empty.data == NULL && empty.len == 0);
}

/* ---- pc_array_copy ---- */

static int child_modify_copy(void *arg)
{
    pc_array *c = arg;
    short x = -4321;
    return pc_array_set(c, 0, &x) == PC_OK ? 0 : 1;
}

static void test_array_copy(void)
{
    short init[4] = {1, -2, SHRT_MAX, SHRT_MIN};
    for (int g = OWN; g < GUARDS; g++) {
        pc_lock *lock;
        pc_array *a = new_array_guarded('h', 4, init, (enum guard)g, &lock);
        pc_array *c = NULL;
        CHECK_OK(pc_array_copy(a, &c));
        CHECK(c != NULL && c != a);
        CHECK(pc_array_len(c) == 4);
        CHECK(pc_array_typecode(c) == 'h');
        CHECK(pc_array_elem_size(c) == sizeof(short));
        CHECK(pc_array_lock(c) == NULL); /* a raw copy */
        CHECK(pc_array_ptr(c) != pc_array_ptr(a));
        short buf[4];
        CHECK_OK(pc_array_read(c, 0, 4, buf));
        CHECK(memcmp(buf, init, sizeof init) == 0);
        /* Independent: changing the copy leaves the original. */
        short x = 999;
        CHECK_OK(pc_array_set(c, 1, &x));
        CHECK_OK(pc_array_read(a, 0, 4, buf));
        CHECK(memcmp(buf, init, sizeof init) == 0);
        /* ... and the other way round. */
        CHECK_OK(pc_array_set(a, 2, &x));
        CHECK_OK(pc_array_get(c, 2, &x));
        CHECK(x == SHRT_MAX);
        /* The copy is shared memory too. */
        CHECK_CHILD(child_modify_copy, c);
        CHECK_OK(pc_array_get(c, 0, &x));
        CHECK(x == -4321);
        CHECK_OK(pc_array_get(a, 0, &x));
        CHECK(x == 1);
        /* A copy of the copy; the copy outlives the original. */
        pc_array *cc;
        CHECK_OK(pc_array_copy(c, &cc));
        pc_array_free(a);
        pc_lock_free(lock);
        pc_array_free(c);
        CHECK_OK(pc_array_read(cc, 0, 4, buf));
        CHECK(buf[0] == -4321 && buf[1] == 999 && buf[2] == SHRT_MAX && buf[3] == SHRT_MIN);
        pc_array_free(cc);
    }
    /* Sized arrays copy as sized ones; 'c' arrays keep their string. */
    pc_array *a, *c;
    CHECK_OK(pc_raw_array_new_sized(sizeof(struct point), 2, &a));
    struct point p = {1.5, 2.5}, q;
    CHECK_OK(pc_array_set(a, 1, &p));
    CHECK_OK(pc_array_copy(a, &c));
    CHECK(pc_array_typecode(c) == 0 && pc_array_elem_size(c) == sizeof(struct point));
    CHECK(pc_array_len(c) == 2);
    CHECK_OK(pc_array_get(c, 1, &q));
    CHECK(q.x == 1.5 && q.y == 2.5);
    pc_array_free(a);
    pc_array_free(c);
    CHECK_OK(pc_array_new('c', 6, "shared", &a));
    CHECK_OK(pc_array_copy(a, &c));
    pc_bytes b;
    CHECK_OK(pc_array_get_string(c, &b));
    CHECK(b.len == 6 && memcmp(b.data, "shared", 6) == 0);
    pc_bytes_free(&b);
    pc_array_free(a);
    pc_array_free(c);
}

/* ---- a large array ---- */

#define BIG 1000000

static int child_fill_big(void *arg)
{
    pc_array *a = arg;
    if (pc_array_len(a) != BIG)
        return 1;
    pc_lock *l = pc_array_lock(a);
    if (pc_lock_acquire(l, 5.0) != PC_OK)
        return 2;
    double *p = pc_array_ptr(a);
    for (size_t k = 0; k < BIG / 2; k++)
        p[k] = (double)k * 0.5;
    if (pc_lock_release(l) != PC_OK)
        return 3;
    /* The second half through slice writes. */
    double chunk[1000];
    for (size_t start = BIG / 2; start < BIG; start += 1000) {
        for (size_t k = 0; k < 1000; k++)
            chunk[k] = (double)(start + k) * 0.5;
        if (pc_array_write(a, start, 1000, chunk) != PC_OK)
            return 4;
    }
    return 0;
}

static void test_large_array(void)
{
    pc_array *a;
    CHECK_OK(pc_array_new('d', BIG, NULL, &a));
    CHECK(pc_array_len(a) == BIG);
    CHECK_CHILD(child_fill_big, a);
    double *buf = malloc(BIG * sizeof(double));
    CHECK(buf != NULL);
    CHECK_OK(pc_array_read(a, 0, BIG, buf));
    double sum = 0, sum_ptr = 0;
    const double *p = pc_array_ptr(a);
    for (size_t k = 0; k < BIG; k++) {
        sum += buf[k];
        sum_ptr += p[k];
    }
    /* 0.5 * (0 + 1 + ... + 999999): exact in doubles. */
    const double want = 0.5 * ((double)BIG * (BIG - 1) / 2);
    if (sum != want || sum_ptr != want)
        FAIL("checksum %.1f (%.1f through the pointer), expected %.1f", sum, sum_ptr, want);
    double last;
    CHECK_OK(pc_array_get(a, BIG - 1, &last));
    CHECK(last == (BIG - 1) * 0.5);
    CHECK(buf[BIG / 2] == (BIG / 2) * 0.5);
    free(buf);
    pc_array *c;
    CHECK_OK(pc_array_copy(a, &c));
    CHECK(memcmp(pc_array_ptr(c), pc_array_ptr(a), BIG * sizeof(double)) == 0);
    pc_array_free(c);
    pc_array_free(a);
}

/* ---- huge sizes ---- */

static void check_refused_size(pc_status s, const char *what)
{
    tu_checks++;
    if (s != PC_ERR_TOO_LARGE && s != PC_ERR_INVALID_ARGUMENT && s != PC_ERR_NO_MEMORY)
        FAIL("%s returned %d (%s), expected TOO_LARGE, INVALID_ARGUMENT or NO_MEMORY", what,
             (int)s, pc_status_str(s));
    tu_checks++;
    if (pc_last_error() == NULL || pc_last_error()[0] == '\0')
        FAIL("%s: pc_last_error() is empty", what);
}

static void test_huge_sizes(void)
{
    pc_array *a = (pc_array *)&a;
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    double small[2] = {1, 2};
    const size_t huge = SIZE_MAX / 2;

    check_refused_size(pc_array_new('d', huge, NULL, &a), "pc_array_new('d', SIZE_MAX/2)");
    check_refused_size(pc_array_new('d', huge, small, &a), "pc_array_new('d', SIZE_MAX/2, init)");
    check_refused_size(pc_array_new_with_lock('q', huge, NULL, lock, &a),
                       "pc_array_new_with_lock('q', SIZE_MAX/2)");
    check_refused_size(pc_raw_array_new('Q', huge, NULL, &a), "pc_raw_array_new('Q', SIZE_MAX/2)");
    check_refused_size(pc_raw_array_new('Q', huge, small, &a),
                       "pc_raw_array_new('Q', SIZE_MAX/2, init)");
    check_refused_size(pc_raw_array_new_sized(8, huge, &a), "pc_raw_array_new_sized(8, SIZE_MAX/2)");
    check_refused_size(pc_array_new('d', SIZE_MAX, NULL, &a), "pc_array_new('d', SIZE_MAX)");
    check_refused_size(pc_array_new('B', SIZE_MAX, NULL, &a), "pc_array_new('B', SIZE_MAX)");
    check_refused_size(pc_array_new('B', SIZE_MAX, small, &a), "pc_array_new('B', SIZE_MAX, init)");
    check_refused_size(pc_array_new('i', SIZE_MAX / 4 + 1, NULL, &a),
                       "pc_array_new('i', SIZE_MAX/4+1)");
    check_refused_size(pc_raw_array_new_sized(SIZE_MAX, 2, &a), "pc_raw_array_new_sized(SIZE_MAX, 2)");
    check_refused_size(pc_raw_array_new_sized(1, SIZE_MAX, &a), "pc_raw_array_new_sized(1, SIZE_MAX)");
    check_refused_size(pc_raw_array_new_sized(SIZE_MAX, SIZE_MAX, &a),
                       "pc_raw_array_new_sized(SIZE_MAX, SIZE_MAX)");
    check_refused_size(pc_raw_array_new_sized((size_t)1 << 32, (size_t)1 << 32, &a),
                       "pc_raw_array_new_sized(2^32, 2^32)");
    CHECK(a == (pc_array *)&a); /* never written */

    /* Representable but more than the machine has: refused without a crash, or mapped
     * when the kernel overcommits (then it is freed at once, untouched). */
    pc_status s = pc_raw_array_new_sized(1, (size_t)1 << 46, &a);
    tu_checks++;
    if (s == PC_OK)
        pc_array_free(a);
    else if (s != PC_ERR_NO_MEMORY && s != PC_ERR_OS && s != PC_ERR_TOO_LARGE)
        FAIL("a 64 TiB array returned %d (%s)", (int)s, pc_status_str(s));
    pc_lock_free(lock);
}

/* ---- NULL and invalid arguments ---- */

static void test_null_arguments(void)
{
    int x = 1;
    pc_value *v;
    pc_array *a;
    pc_bytes b = {NULL, 0};
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));

    /* NULL out-pointers of the constructors. */
    CHECK_STATUS(pc_value_new('i', NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_value_new('i', &x, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, lock, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_raw_value_new('i', NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_array_new('i', 3, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_array_new_with_lock('i', 3, NULL, lock, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_raw_array_new('i', 3, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_raw_array_new_sized(4, 3, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, NULL, NULL), PC_ERR_INVALID_ARGUMENT);

    /* NULL handles: INVALID_ARGUMENT naming the function and the parameter. */
    CHECK_STATUS(pc_value_get(NULL, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_get");
    CHECK_ERRMSG("v is NULL");
    CHECK_STATUS(pc_value_get(NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_value_set(NULL, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_set");
    CHECK_ERRMSG("v is NULL");
    CHECK_STATUS(pc_value_add(NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_add");
    CHECK_ERRMSG("v is NULL");
    CHECK(pc_value_ptr(NULL) == NULL);
    CHECK_ERRMSG("pc_value_ptr");
    CHECK_ERRMSG("v is NULL");
    CHECK(pc_value_lock(NULL) == NULL);
    CHECK_ERRMSG("pc_value_lock");
    CHECK_ERRMSG("v is NULL");
    pc_value_free(NULL);

    CHECK(pc_array_len(NULL) == 0);
    CHECK_ERRMSG("pc_array_len");
    CHECK_ERRMSG("a is NULL");
    CHECK(pc_array_elem_size(NULL) == 0);
    CHECK_ERRMSG("pc_array_elem_size");
    CHECK(pc_array_typecode(NULL) == 0);
    CHECK_ERRMSG("pc_array_typecode");
    CHECK_STATUS(pc_array_get(NULL, 0, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_get");
    CHECK_ERRMSG("a is NULL");
    CHECK_STATUS(pc_array_set(NULL, 0, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_set");
    CHECK_ERRMSG("a is NULL");
    CHECK_STATUS(pc_array_read(NULL, 0, 1, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_read");
    CHECK_ERRMSG("a is NULL");
    CHECK_STATUS(pc_array_read(NULL, 0, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_array_write(NULL, 0, 1, &x), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_write");
    CHECK_ERRMSG("a is NULL");
    CHECK_STATUS(pc_array_write(NULL, 0, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_array_get_string(NULL, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_get_string");
    CHECK_ERRMSG("a is NULL");
    CHECK_STATUS(pc_array_set_string(NULL, "x"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_set_string");
    CHECK_ERRMSG("a is NULL");
    pc_array *c = (pc_array *)&c;
    CHECK_STATUS(pc_array_copy(NULL, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_copy");
    CHECK_ERRMSG("a is NULL");
    CHECK(c == (pc_array *)&c);
    CHECK(pc_array_ptr(NULL) == NULL);
    CHECK_ERRMSG("pc_array_ptr");
    CHECK(pc_array_lock(NULL) == NULL);
    CHECK_ERRMSG("pc_array_lock");
    pc_array_free(NULL);
    pc_bytes_free(NULL);

    /* NULL buffers on valid handles. */
    CHECK_OK(pc_value_new('i', &x, &v));
    CHECK_OK(pc_array_new('c', 4, "abc", &a));
    CHECK_STATUS(pc_value_get(v, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_get");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_value_set(v, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_set");
    CHECK_ERRMSG("in is NULL");
    CHECK_STATUS(pc_array_get(a, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_get");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_array_set(a, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_set");
    CHECK_ERRMSG("in is NULL");
    CHECK_STATUS(pc_array_read(a, 0, 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_read");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_array_write(a, 0, 2, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_write");
    CHECK_ERRMSG("in is NULL");
    CHECK_STATUS(pc_array_get_string(a, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_get_string");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_array_set_string(a, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("s is NULL");
    CHECK_STATUS(pc_array_copy(a, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_copy");
    CHECK_ERRMSG("out is NULL");
    /* None of it changed anything. */
    int y = 0;
    CHECK_OK(pc_value_get(v, &y));
    CHECK(y == 1);
    CHECK_OK(pc_array_get_string(a, &b));
    CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    pc_bytes_free(&b);

    /* Wrong-typed handles: a value as an array and the other way round, a lock as
     * either, and a pointer to plain zeroed memory. */
    pc_array *va = (pc_array *)v;
    pc_value *av = (pc_value *)a;
    uint64_t zeros[4] = {0, 0, 0, 0};
    pc_value *zv = (pc_value *)zeros;
    pc_array *za = (pc_array *)zeros;
    pc_array *wrong_arrays[] = {va, (pc_array *)lock, za};
    pc_value *wrong_values[] = {av, (pc_value *)lock, zv};
    for (int k = 0; k < 3; k++) {
        pc_array *wa = wrong_arrays[k];
        pc_value *wv = wrong_values[k];
        CHECK_STATUS(pc_array_get(wa, 0, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_set(wa, 0, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_read(wa, 0, 1, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_write(wa, 0, 1, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_get_string(wa, &b), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_set_string(wa, "x"), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK_STATUS(pc_array_copy(wa, &c), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK(pc_array_len(wa) == 0);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK(pc_array_elem_size(wa) == 0);
        CHECK(pc_array_typecode(wa) == 0);
        CHECK(pc_array_ptr(wa) == NULL);
        CHECK_ERRMSG("a is not a pc_array");
        CHECK(pc_array_lock(wa) == NULL);
        CHECK_ERRMSG("pc_array_lock");
        pc_array_free(wa); /* refused, reported */
        CHECK_ERRMSG("pc_array_free");
        CHECK_ERRMSG("a is not a pc_array");

        CHECK_STATUS(pc_value_get(wv, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("v is not a pc_value");
        CHECK_STATUS(pc_value_set(wv, &y), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("v is not a pc_value");
        CHECK_STATUS(pc_value_add(wv, 1), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("v is not a pc_value");
        CHECK(pc_value_ptr(wv) == NULL);
        CHECK_ERRMSG("v is not a pc_value");
        CHECK(pc_value_lock(wv) == NULL);
        CHECK_ERRMSG("v is not a pc_value");
        pc_value_free(wv);
        CHECK_ERRMSG("pc_value_free");
        CHECK_ERRMSG("v is not a pc_value");
    }
    CHECK(zeros[0] == 0 && zeros[1] == 0); /* nothing written there */
    /* A value or an array as the lock of _with_lock. */
    pc_value *v2 = (pc_value *)&v2;
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, (pc_lock *)v, &v2), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock is not a pc_lock");
    CHECK_STATUS(pc_array_new_with_lock('i', 2, NULL, (pc_lock *)a, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock is not a pc_lock");
    CHECK(v2 == (pc_value *)&v2);
    /* The refused frees freed nothing: both still work. */
    CHECK_OK(pc_value_get(v, &y));
    CHECK(y == 1);
    CHECK_OK(pc_array_get_string(a, &b));
    CHECK(b.len == 3);
    pc_bytes_free(&b);
    CHECK_OK(pc_lock_acquire(lock, 0));
    CHECK_OK(pc_lock_release(lock));
    pc_value_free(v);
    pc_array_free(a);
    pc_lock_free(lock);
}

/* ---- nothing left behind ---- */

static void test_nothing_left_behind(void)
{
    CHECK(access("/dev/shm", R_OK | X_OK) == 0); /* so that its listings mean something */
    struct tu_resources before;
    resources_before(&before);
    int shared_maps = count_maps(" rw-s ");

    pc_lock *lock;
    CHECK_OK(pc_rlock_new(&lock));
    for (int k = 0; k < 10000; k++) {
        pc_value *v;
        pc_array *a, *c;
        int x = k;
        char code = all_codes[k % NCASES];
        switch (k % 4) {
        case 0: CHECK_OK(pc_value_new(code, NULL, &v)); break;
        case 1: CHECK_OK(pc_value_new_with_lock(code, NULL, lock, &v)); break;
        default: CHECK_OK(pc_raw_value_new(code, NULL, &v)); break;
        }
        if (code == 'i')
            CHECK_OK(pc_value_set(v, &x));
        pc_value_free(v);
        switch (k % 4) {
        case 0: CHECK_OK(pc_array_new(code, (size_t)(k % 7), NULL, &a)); break;
        case 1: CHECK_OK(pc_array_new_with_lock(code, 3, NULL, lock, &a)); break;
        case 2: CHECK_OK(pc_raw_array_new(code, 5000, NULL, &a)); break; /* > 1 page */
        default: CHECK_OK(pc_raw_array_new_sized(24, 2, &a)); break;
        }
        if (k % 10 == 0) {
            CHECK_OK(pc_array_copy(a, &c));
            pc_array_free(c);
        }
        if (pc_array_typecode(a) == 'c' && pc_array_len(a) > 0) {
            pc_bytes b;
            CHECK_OK(pc_array_set_string(a, ""));
            CHECK_OK(pc_array_get_string(a, &b));
            pc_bytes_free(&b);
        }
        pc_array_free(a);
    }
    pc_lock_free(lock);

    check_resources_after(&before, 10000, "values and arrays");
    int shared_after = count_maps(" rw-s ");
    if (shared_after != shared_maps)
        FAIL("%d shared mappings before 10000 values and arrays, %d after", shared_maps,
             shared_after);
    CHECK(count_maps("/dev/shm") == 0);
    CHECK(wait_no_children(2.0));
}

/* ---- checks of behaviour that may not hold yet: each runs in a sub-process, so one
 * failure does not hide the others' results ---- */

/* pc_last_error names the exported function that failed, constructors included. */
static void test_errmsg_names_constructors(void)
{
    pc_value *v;
    pc_array *a;
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_STATUS(pc_value_new('x', NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_new");
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_value_new_with_lock");
    CHECK_STATUS(pc_raw_value_new('x', NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_raw_value_new");
    CHECK_STATUS(pc_array_new('x', 1, NULL, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_new");
    CHECK_STATUS(pc_array_new_with_lock('i', 1, NULL, NULL, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_array_new_with_lock");
    CHECK_STATUS(pc_raw_array_new('x', 1, NULL, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_raw_array_new");
    CHECK_STATUS(pc_raw_array_new_sized(0, 1, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_raw_array_new_sized");
    pc_lock_free(lock);
}

/* The parameter `in` is named "in" (not as the Rust source spells it). */
static void test_errmsg_in_parameter(void)
{
    pc_value *v;
    pc_array *a;
    CHECK_OK(pc_value_new('i', NULL, &v));
    CHECK_OK(pc_array_new('i', 2, NULL, &a));
    CHECK_STATUS(pc_value_set(v, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(!tu_contains(pc_last_error(), "r#"));
    CHECK_STATUS(pc_array_set(a, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(!tu_contains(pc_last_error(), "r#"));
    CHECK_STATUS(pc_array_write(a, 0, 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(!tu_contains(pc_last_error(), "r#"));
    pc_value_free(v);
    pc_array_free(a);
}

/* pc_value_lock/pc_array_lock stay valid while the value lives ("kept alive"), also after
 * the caller freed its own handle of the lock given to _with_lock. */
static int child_lock_via_value(void *arg)
{
    pc_value *v = arg;
    pc_lock *l = pc_value_lock(v);
    if (!l || pc_lock_acquire(l, 5.0) != PC_OK)
        return 1;
    (*(int *)pc_value_ptr(v))++;
    return pc_lock_release(l) == PC_OK ? 0 : 2;
}

static void test_given_lock_outlives_its_handle(void)
{
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    pc_value *v;
    pc_array *a;
    CHECK_OK(pc_value_new_with_lock('i', NULL, lock, &v));
    CHECK_OK(pc_array_new_with_lock('i', 2, NULL, lock, &a));
    pc_lock_free(lock); /* the value and the array keep it alive */
    int x = 3;
    CHECK_OK(pc_value_set(v, &x));
    CHECK_OK(pc_array_set(a, 1, &x));
    pc_lock *l = pc_value_lock(v);
    CHECK(l != NULL);
    CHECK(pc_array_lock(a) == l);
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT); /* a Lock: not recursive */
    CHECK_OK(pc_lock_release(l));
    CHECK_CHILD(child_lock_via_value, v);
    CHECK_OK(pc_value_get(v, &x));
    CHECK(x == 4);
    pc_value_free(v);
    pc_array_free(a);
}

/* '?' stores 0 or 1 (as ctypes, and as pc_value_set/pc_array_set do), from init too. */
static void test_bool_init_is_normalised(void)
{
    unsigned char two = 2, byte = 9;
    pc_value *v;
    CHECK_OK(pc_value_new('?', &two, &v));
    CHECK_OK(pc_value_get(v, &byte));
    CHECK(byte == 1);
    pc_value_free(v);
    CHECK_OK(pc_raw_value_new('?', &two, &v));
    CHECK_OK(pc_value_get(v, &byte));
    CHECK(byte == 1);
    pc_value_free(v);
    unsigned char init[4] = {0, 2, 255, 1}, out[4];
    pc_array *a;
    CHECK_OK(pc_array_new('?', 4, init, &a));
    CHECK_OK(pc_array_read(a, 0, 4, out));
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 1 && out[3] == 1);
    pc_array_free(a);
    /* set and write already normalise. */
    CHECK_OK(pc_raw_array_new('?', 4, NULL, &a));
    CHECK_OK(pc_array_write(a, 0, 4, init));
    CHECK_OK(pc_array_read(a, 0, 4, out));
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 1 && out[3] == 1);
    pc_array_free(a);
}

struct isolated {
    void (*fn)(void);
};

static int *isolated_checks; /* shared with the sub-processes */
static int isolated_failures;
static char failed_names[512];

static int isolated_main(void *arg)
{
    const struct isolated *is = arg;
    tu_checks = 0;
    is->fn();
    __atomic_add_fetch(isolated_checks, tu_checks, __ATOMIC_SEQ_CST);
    return 0;
}

static void run_isolated(const char *name, void (*fn)(void))
{
    fprintf(stderr, "-- %s (in a sub-process)\n", name);
    struct isolated is = {fn};
    pid_t pid = fork_sub(isolated_main, &is);
    int st = wait_sub(pid, 60.0);
    tu_checks++;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "   %s FAILED (%s)\n", name, status_text(st));
        isolated_failures++;
        size_t used = strlen(failed_names);
        snprintf(failed_names + used, sizeof failed_names - used, "%s%s", used ? ", " : "",
                 name);
    }
}

#define RUN_ISOLATED(test) run_isolated(#test, test)

int main(void)
{
    tu_init("test_sharedctypes", 100);
    isolated_checks = shared_new(sizeof(int));

    RUN(test_typecode_sizes);
    RUN(test_value_null_init_is_zero);
    RUN(test_value_round_trip_every_typecode);
    RUN(test_array_round_trip_every_typecode);
    RUN(test_unknown_typecodes);
    RUN(test_value_add);
    RUN(test_value_add_is_atomic);
    RUN(test_value_lock_and_ptr);
    RUN(test_with_lock_is_used);
    RUN(test_get_set_wait_for_the_lock);
    RUN(test_lock_held_across_fork);
    RUN(test_holder_died);
    RUN(test_interrupt_breaks_the_wait);
    RUN(test_array_indexes_and_slices);
    RUN(test_zero_length_arrays);
    RUN(test_struct_array_seed_example);
    RUN(test_char_array_strings);
    RUN(test_array_copy);
    RUN(test_large_array);
    RUN(test_huge_sizes);
    RUN(test_null_arguments);
    RUN(test_nothing_left_behind);

    RUN_ISOLATED(test_errmsg_names_constructors);
    RUN_ISOLATED(test_errmsg_in_parameter);
    RUN_ISOLATED(test_given_lock_outlives_its_handle);
    RUN_ISOLATED(test_bool_init_is_normalised);
    tu_checks += *isolated_checks;
    if (isolated_failures)
        FAIL("%d sub-process test(s) failed: %s", isolated_failures, failed_names);
    shared_free(isolated_checks, sizeof(int));
    return tu_done();
}
