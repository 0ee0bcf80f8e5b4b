/*
 * test_sharedctypes_arrays.c: shared arrays (include/processing.h: pc_array_*,
 * pc_array_copy): index and slice checks, zero-length arrays, arrays of a C struct (the
 * seed's example), 'c' arrays as strings, pc_array_copy (sharedctypes.copy), a large
 * array, sizes too large to make.
 *
 * Children report through their exit code (no CHECK in a child): 0 is success, any
 * other number names the step that failed.
 *
 * `test_sharedctypes_arrays NAME…` runs only the named subtests.
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

int main(int argc, char **argv)
{
    tu_init("test_sharedctypes_arrays", 25);
    tu_select(argc, argv);

    RUN(test_array_indexes_and_slices);
    RUN(test_zero_length_arrays);
    RUN(test_struct_array_seed_example);
    RUN(test_char_array_strings);
    RUN(test_array_copy);
    RUN(test_large_array);
    RUN(test_huge_sizes);
    return tu_done();
}
