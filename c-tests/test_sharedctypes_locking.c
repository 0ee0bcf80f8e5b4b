/*
 * test_sharedctypes_locking.c: the locks that synchronize shared values and arrays
 * (include/processing.h: pc_value_*, pc_array_*, their lock argument): the lock is used,
 * gets and sets wait for the lock a child holds, a lock held across fork, a holder that
 * dies, pc_interrupt() breaking a wait for the lock.
 *
 * Children report through their exit code (no CHECK in a child): 0 is success, any
 * other number names the step that failed.
 *
 * `test_sharedctypes_locking NAME…` runs only the named subtests.
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

static void make_pipe(int fds[2])
{
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
}

static void close_pipe(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
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

int main(int argc, char **argv)
{
    tu_init("test_sharedctypes_locking", 25);
    tu_select(argc, argv);

    RUN(test_with_lock_is_used);
    RUN(test_get_set_wait_for_the_lock);
    RUN(test_lock_held_across_fork);
    RUN(test_holder_died);
    RUN(test_interrupt_breaks_the_wait);
    return tu_done();
}
