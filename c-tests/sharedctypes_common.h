/* sharedctypes_common.h: typecode cases and guarded constructors of test_sharedctypes_*.c. */
#ifndef SHAREDCTYPES_COMMON_H
#define SHAREDCTYPES_COMMON_H

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

/* How a case's value or array is guarded: cycles over the three constructors. */
enum guard { OWN, WITH_LOCK, WITH_RLOCK, RAW, GUARDS };

/* The lock given to a WITH_LOCK or WITH_RLOCK constructor. */
pc_lock *new_given_lock(enum guard g);
/* Checks that the handles `a` and `b` name one lock (pc_value_lock and pc_array_lock lend
 * a handle of their own, another than the one given to _with_lock): held through `a`, it
 * is released through `b`. Leaves it free. */
void check_same_lock(pc_lock *a, pc_lock *b);

pc_array *new_array_guarded(char code, size_t len, const void *init, enum guard g,
                                   pc_lock **lock);

#endif
