/*
 * test_sharedctypes_errors.c: shared memory's bad arguments and leftovers
 * (include/processing.h: pc_value_*, pc_array_*): bad arguments for every function,
 * nothing left behind (fds, mappings, /dev/shm, children), error messages that name the
 * constructor and the parameter, a given lock that outlives its handle, bool
 * initialisers normalised.
 *
 * Children report through their exit code (no CHECK in a child): 0 is success, any
 * other number names the step that failed. The last few tests (RUN_ISOLATED) each run in
 * a plain sub-process, so that one failing does not hide the others' results; the
 * program fails at the end if any of them did.
 *
 * `test_sharedctypes_errors NAME…` runs only the named subtests.
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
    pc_lock *al = pc_array_lock(a); /* another handle (each lends its own), the same lock */
    CHECK(al != NULL);
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_TIMEOUT); /* a Lock: not recursive */
    CHECK_STATUS(pc_lock_acquire(al, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_lock_release(al));
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

#define RUN_ISOLATED(test)                                                                   \
    do {                                                                                     \
        if (tu_selected(#test))                                                              \
            run_isolated(#test, test);                                                       \
    } while (0)

int main(int argc, char **argv)
{
    tu_init("test_sharedctypes_errors", 25);
    tu_select(argc, argv);
    isolated_checks = shared_new(sizeof(int));

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
