/*
 * test_handles.c: what a handle is once it is stale or was never one
 * (include/processing.h, "NULL and invalid handles"): a freed handle is refused with
 * PC_ERR_INVALID_ARGUMENT whatever became of its object; a lock whose own handle was
 * freed while a value, an array or a condition kept it alive, once that owner is freed
 * too; the lock pc_value_lock/pc_array_lock lent, once its value or array is freed; a
 * handle freed and a new object of the same kind made at once (the stale handle must not
 * reach the new object); garbage pointers; the handles a forked child inherits (library
 * and plain fork); a task's pc_buffer and a custom call's pc_item_builder kept past their
 * call. Also pc_listener_new's backlog (at least 1).
 *
 * Every subtest also runs cleanly under valgrind (no read of freed memory):
 * `valgrind --error-exitcode=1 ./test_handles`.
 *
 * `test_handles NAME…` runs only the named subtests.
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every use of a lock handle that must be refused as freed: nothing is built on it, no
 * out-parameter is written. */
static void check_lock_refused(pc_lock *l)
{
    CHECK_STATUS(pc_lock_acquire(l, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_acquire: l was already freed");
    CHECK_STATUS(pc_lock_acquire(l, 0.01), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_lock_release(l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_lock_release: l was already freed");
    pc_condition *c = (pc_condition *)&c;
    CHECK_STATUS(pc_condition_new(l, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock was already freed");
    CHECK(c == (pc_condition *)&c);
    pc_value *v = (pc_value *)&v;
    CHECK_STATUS(pc_value_new_with_lock('i', NULL, l, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock was already freed");
    CHECK(v == (pc_value *)&v);
    pc_array *a = (pc_array *)&a;
    CHECK_STATUS(pc_array_new_with_lock('i', 4, NULL, l, &a), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("lock was already freed");
    CHECK(a == (pc_array *)&a);
    pc_lock_free(l); /* refused, reported */
    CHECK_ERRMSG("pc_lock_free: l was already freed");
}

/* Makes and frees a few objects of every size the library allocates for handles, so
 * that memory a stale handle pointed at (before the handle table) is reused. */
static void churn(void)
{
    for (int i = 0; i < 8; i++) {
        pc_lock *l;
        pc_value *v;
        pc_condition *c;
        CHECK_OK(pc_lock_new(&l));
        CHECK_OK(pc_value_new('d', NULL, &v));
        CHECK_OK(pc_condition_new(NULL, &c));
        pc_condition_free(c);
        pc_value_free(v);
        pc_lock_free(l);
    }
}

/* ---- a lock whose handle outlives the lock ---- */

static void test_lock_outlives_value(void)
{
    pc_lock *l;
    pc_value *v;
    int seven = 7, got = 0;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_value_new_with_lock('i', &seven, l, &v));
    pc_lock_free(l); /* the value keeps the lock alive... */
    CHECK_OK(pc_value_get(v, &got));
    CHECK(got == 7);
    /* ...but this handle is gone at once, while the lock lives... */
    check_lock_refused(l);
    pc_value_free(v); /* ...and after the lock went with the value. */
    churn();
    check_lock_refused(l);
}

static void test_lock_outlives_array(void)
{
    pc_lock *l;
    pc_array *a;
    CHECK_OK(pc_rlock_new(&l));
    CHECK_OK(pc_array_new_with_lock('d', 16, NULL, l, &a));
    pc_lock_free(l);
    check_lock_refused(l);
    double x = 2.5;
    CHECK_OK(pc_array_set(a, 3, &x));
    pc_array_free(a);
    churn();
    check_lock_refused(l);
}

static void test_lock_outlives_condition(void)
{
    pc_lock *l;
    pc_condition *c;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_condition_new(l, &c));
    pc_lock_free(l);
    CHECK_OK(pc_condition_acquire(c, 0));
    check_lock_refused(l); /* not even a release of the lock the condition holds */
    CHECK_OK(pc_condition_release(c));
    pc_condition_free(c);
    churn();
    check_lock_refused(l);
}

/* Several owners: the lock lives until the last goes; the freed handle never comes back. */
static void test_lock_outlives_several_owners(void)
{
    pc_lock *l;
    pc_value *v;
    pc_array *a;
    pc_condition *c;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_value_new_with_lock('i', NULL, l, &v));
    CHECK_OK(pc_array_new_with_lock('i', 2, NULL, l, &a));
    CHECK_OK(pc_condition_new(l, &c));
    pc_lock_free(l);
    pc_value_free(v);
    check_lock_refused(l);
    /* The condition and the array still share the one lock. */
    CHECK_OK(pc_condition_acquire(c, 0));
    pc_lock *al = pc_array_lock(a);
    CHECK(al != NULL);
    CHECK_STATUS(pc_lock_acquire(al, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_condition_release(c));
    CHECK_OK(pc_lock_acquire(al, 0));
    CHECK_OK(pc_lock_release(al));
    pc_condition_free(c);
    pc_array_free(a);
    churn();
    check_lock_refused(l);
    check_lock_refused(al);
}

/* ---- the locks pc_value_lock and pc_array_lock lend ---- */

static void test_lent_lock_after_owner_freed(void)
{
    /* A value's own lock. */
    pc_value *v;
    CHECK_OK(pc_value_new('i', NULL, &v));
    pc_lock *vl = pc_value_lock(v);
    CHECK(vl != NULL);
    CHECK(pc_value_lock(v) == vl); /* the same handle each time */
    CHECK_OK(pc_lock_acquire(vl, 0));
    CHECK_OK(pc_lock_release(vl));
    pc_value_free(v);
    churn();
    check_lock_refused(vl);

    /* An array's own lock. */
    pc_array *a;
    CHECK_OK(pc_array_new('i', 3, NULL, &a));
    pc_lock *al = pc_array_lock(a);
    CHECK(al != NULL);
    CHECK_OK(pc_lock_acquire(al, 0));
    CHECK_OK(pc_lock_release(al));
    pc_array_free(a);
    churn();
    check_lock_refused(al);

    /* A given lock: the handle the value lends dies with the value, the caller's own
     * handle lives on, and both name one lock while both live. */
    pc_lock *r;
    CHECK_OK(pc_rlock_new(&r));
    CHECK_OK(pc_value_new_with_lock('i', NULL, r, &v));
    CHECK_OK(pc_array_new_with_lock('i', 3, NULL, r, &a));
    vl = pc_value_lock(v);
    al = pc_array_lock(a);
    CHECK(vl != NULL && al != NULL);
    CHECK_OK(pc_lock_acquire(vl, 0));
    CHECK_OK(pc_lock_acquire(al, 0)); /* an RLock: this thread holds it, depth 2 */
    CHECK_OK(pc_lock_release(r));
    CHECK_OK(pc_lock_release(r));
    CHECK_STATUS(pc_lock_release(al), PC_ERR_NOT_OWNER);
    pc_value_free(v);
    check_lock_refused(vl);
    CHECK_OK(pc_lock_acquire(al, 0));
    CHECK_OK(pc_lock_release(r));
    pc_array_free(a);
    check_lock_refused(al);
    CHECK_OK(pc_lock_acquire(r, 0));
    CHECK_OK(pc_lock_release(r));
    pc_lock_free(r);
    check_lock_refused(r);

    /* A raw value lends no lock. */
    CHECK_OK(pc_raw_value_new('i', NULL, &v));
    CHECK(pc_value_lock(v) == NULL);
    pc_value_free(v);
}

/* A lent handle is not the caller's to free: refused, and it still works. */
static void test_lent_lock_is_not_freed(void)
{
    pc_value *v;
    CHECK_OK(pc_value_new('i', NULL, &v));
    pc_lock *vl = pc_value_lock(v);
    pc_lock_free(vl);
    CHECK_ERRMSG("pc_lock_free");
    CHECK_ERRMSG("is lent");
    CHECK_OK(pc_lock_acquire(vl, 0));
    CHECK_OK(pc_lock_release(vl));
    pc_value_free(v);
    check_lock_refused(vl);

    /* Nor is the current process's handle. */
    const pc_process *me;
    const pc_process *again;
    CHECK_OK(pc_current_process(&me));
    CHECK_OK(pc_current_process(&again));
    CHECK(me == again);
    pc_process_free((pc_process *)me);
    CHECK_ERRMSG("current process");
    CHECK(pc_process_pid(me) == getpid());
}

/* ---- a freed handle and a new object made at once ---- */

static void test_freed_then_reused(void)
{
    for (int round = 0; round < 20; round++) {
        pc_queue *old, *q;
        CHECK_OK(pc_queue_new(0, &old));
        pc_queue_free(old);
        CHECK_OK(pc_queue_new(0, &q));
        CHECK_STATUS(pc_queue_put(old, "stale", 5, 0), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_queue_put: q was already freed");
        CHECK(pc_queue_empty(old)); /* the fallback for an invalid handle */
        CHECK_ERRMSG("q was already freed");
        pc_queue_free(old); /* a second free: refused, and q is not touched */
        CHECK_ERRMSG("pc_queue_free: q was already freed");
        CHECK(pc_queue_empty(q));
        pc_bytes b = {0};
        CHECK_STATUS(pc_queue_get(q, 0, &b), PC_ERR_EMPTY); /* nothing landed in it */
        CHECK_OK(pc_queue_put(q, "fresh", 5, 0));
        CHECK_OK(pc_queue_get(q, 1.0, &b));
        CHECK(b.len == 5 && memcmp(b.data, "fresh", 5) == 0);
        pc_bytes_free(&b);
        pc_queue_free(q);
    }

    /* The same with locks and another kind in between. */
    for (int round = 0; round < 20; round++) {
        pc_lock *old, *l;
        pc_event *e;
        CHECK_OK(pc_lock_new(&old));
        pc_lock_free(old);
        CHECK_OK(pc_event_new(&e));
        CHECK_OK(pc_lock_new(&l));
        check_lock_refused(old);
        CHECK_OK(pc_lock_acquire(l, 0)); /* untouched by the refused acquire */
        CHECK_OK(pc_lock_release(l));
        pc_lock_free(l);
        CHECK(!pc_event_is_set(e));
        pc_event_free(e);
    }
}

/* A handle of another kind, live or freed, is still "not a" one. */
static void test_wrong_kind(void)
{
    pc_event *e;
    CHECK_OK(pc_event_new(&e));
    CHECK_STATUS(pc_lock_acquire((pc_lock *)e, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("l is not a pc_lock");
    pc_lock_free((pc_lock *)e);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK_OK(pc_event_set(e));
    CHECK(pc_event_is_set(e));
    pc_event_free(e);
    CHECK_STATUS(pc_event_set(e), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("e was already freed");
}

/* ---- pointers that never were handles ---- */

static void test_garbage_pointers(void)
{
    int local = 0x12345678;
    uint64_t *heap = malloc(64);
    CHECK(heap != NULL);
    memset(heap, 0xab, 64);
    void *garbage[] = {&local, heap, (void *)(uintptr_t)1, (void *)(uintptr_t)0x1000,
                       (void *)UINTPTR_MAX, (void *)(uintptr_t)&test_garbage_pointers};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        CHECK_STATUS(pc_lock_acquire(garbage[i], 0), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("l is not a pc_lock");
        CHECK_STATUS(pc_queue_put(garbage[i], "x", 1, 0), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("q is not a pc_queue");
        CHECK(pc_value_lock(garbage[i]) == NULL);
        CHECK_ERRMSG("v is not a pc_value");
        CHECK(pc_process_pid(garbage[i]) == 0);
        CHECK_ERRMSG("p is not a pc_process");
        pc_lock_free(garbage[i]); /* refused, nothing written */
        CHECK_ERRMSG("pc_lock_free: l is not a pc_lock");
    }
    CHECK(local == 0x12345678);
    for (int i = 0; i < 8; i++)
        CHECK(heap[i] == 0xababababababababULL);
    free(heap);
}

/* ---- handles lent for one call: a task's pc_buffer, a custom call's pc_item_builder ---- */

static pc_buffer *kept_buffer; /* in the worker: the buffer of the task before */

/* Writes "ok" through its own buffer; through the one kept from the task before (which
 * must be refused: its task ended), "stale accepted". Keeps its own for the next. */
static int task_keeps_buffer(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    if (kept_buffer) {
        if (pc_buffer_write(kept_buffer, "stale accepted", 14) != PC_ERR_INVALID_ARGUMENT)
            return 1;
        if (!tu_contains(pc_last_error(), "b is not the running task's pc_buffer"))
            return 2;
    }
    kept_buffer = result;
    return pc_buffer_write(result, "ok", 2) == PC_OK ? 0 : 3;
}

static void test_stale_task_buffer(void)
{
    pc_pool_options opts = {.processes = 1};
    pc_pool *p;
    CHECK_OK(pc_pool_new(&opts, &p));
    for (int i = 0; i < 3; i++) {
        pc_bytes res = {0};
        CHECK_OK(pc_pool_apply(p, task_keeps_buffer, NULL, 0, &res));
        CHECK(res.len == 2 && memcmp(res.data, "ok", 2) == 0);
        pc_bytes_free(&res);
    }
    /* Outside any task, and a handle of another kind. */
    CHECK_STATUS(pc_buffer_write((pc_buffer *)p, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_buffer_write: b is not the running task's pc_buffer");
    CHECK_OK(pc_pool_close(p));
    CHECK_OK(pc_pool_join(p));
    pc_pool_free(p);
}

static pc_item_builder *kept_builder; /* in the manager's server */

static void *keeper_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args;
    (void)nargs;
    (void)ctx;
    static int object;
    return &object;
}

/* "keep": keeps its builder. "stale": sets its result to whether the kept builder (of a
 * call that returned) is refused. */
static int keeper_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                       pc_item_builder *b, void *ctx)
{
    (void)obj;
    (void)args;
    (void)nargs;
    (void)ctx;
    if (strcmp(method, "keep") == 0) {
        kept_builder = b;
        return 0;
    }
    bool refused = pc_item_builder_set(kept_builder, pc_item_int(1)) == PC_ERR_INVALID_ARGUMENT &&
                   tu_contains(pc_last_error(), "not a pc_item_builder of a running call") &&
                   pc_item_builder_fail(kept_builder, "x") == PC_ERR_INVALID_ARGUMENT;
    return pc_item_builder_set(b, pc_item_bool(refused)) == PC_OK ? 0 : 1;
}

static void test_stale_item_builder(void)
{
    static const char *const exposed[] = {"keep", "stale", NULL};
    pc_type_vtable vt = {keeper_create, keeper_call, NULL, exposed, NULL};
    pc_manager *m;
    CHECK_OK(pc_manager_new(NULL, NULL, 0, &m));
    CHECK_OK(pc_manager_register(m, "Keeper", &vt));
    CHECK_OK(pc_manager_start(m));
    pc_proxy *k;
    CHECK_OK(pc_manager_create(m, "Keeper", NULL, NULL, 0, &k));
    pc_item got;
    CHECK_OK(pc_proxy_call(k, "keep", NULL, 0, &got));
    CHECK(got.kind == PC_KIND_NONE);
    pc_item_release(&got);
    CHECK_OK(pc_proxy_call(k, "stale", NULL, 0, &got));
    CHECK(got.kind == PC_KIND_BOOL && got.i == 1);
    pc_item_release(&got);
    pc_proxy_free(k);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);
}

/* ---- pc_listener_new's backlog ---- */

static void test_listener_backlog(void)
{
    const int refused[] = {0, -3, -1000000};
    for (int i = 0; i < 3; i++) {
        pc_listener *l = (pc_listener *)&l;
        CHECK_STATUS(pc_listener_new(NULL, refused[i], NULL, 0, &l), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_listener_new: backlog");
        CHECK_ERRMSG("at least 1");
        CHECK(l == (pc_listener *)&l);
    }
    pc_listener *l;
    CHECK_OK(pc_listener_new(NULL, 1, NULL, 0, &l));
    pc_listener_free(l);
}

/* ---- handles in a forked child ---- */

struct inherited {
    pc_process *self; /* the child's own handle, written before the start */
    pc_lock *lock;
    pc_queue *queue;
    pc_value *value;
    pc_lock *value_lock; /* lent by value */
    pc_lock *stale;      /* freed before the fork */
};

static int use_inherited(struct inherited *h)
{
    if (pc_lock_acquire(h->lock, 5.0) != PC_OK || pc_lock_release(h->lock) != PC_OK)
        return 10;
    if (pc_queue_put(h->queue, "child", 5, 5.0) != PC_OK)
        return 11;
    int x = 42;
    if (pc_value_set(h->value, &x) != PC_OK)
        return 12;
    if (pc_value_lock(h->value) != h->value_lock)
        return 13;
    if (pc_lock_acquire(h->value_lock, 5.0) != PC_OK || pc_lock_release(h->value_lock) != PC_OK)
        return 14;
    if (pc_lock_acquire(h->stale, 0) != PC_ERR_INVALID_ARGUMENT ||
        !tu_contains(pc_last_error(), "already freed"))
        return 15;
    /* A handle made and freed in the child is the child's own. */
    pc_lock *mine;
    if (pc_lock_new(&mine) != PC_OK)
        return 16;
    pc_lock_free(mine);
    if (pc_lock_acquire(mine, 0) != PC_ERR_INVALID_ARGUMENT)
        return 17;
    /* Freeing an inherited handle in the child is the child's affair only. */
    pc_lock_free(h->lock);
    if (pc_lock_acquire(h->lock, 0) != PC_ERR_INVALID_ARGUMENT)
        return 18;
    return 0;
}

static int child_library(void *arg)
{
    struct inherited *h = arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK || me != h->self)
        return 20;
    return use_inherited(h);
}

static int child_plain(void *arg)
{
    return use_inherited(arg);
}

static void test_handles_in_forked_child(void)
{
    struct inherited h;
    CHECK_OK(pc_lock_new(&h.lock));
    CHECK_OK(pc_queue_new(0, &h.queue));
    CHECK_OK(pc_value_new('i', NULL, &h.value));
    h.value_lock = pc_value_lock(h.value);
    CHECK(h.value_lock != NULL);
    CHECK_OK(pc_lock_new(&h.stale));
    pc_lock_free(h.stale);

    CHECK_OK(pc_process_new(child_library, &h, &h.self));
    CHECK_OK(pc_process_start(h.self));
    CHECK_OK(pc_process_join(h.self, 30.0));
    int code = -1;
    CHECK_OK(pc_process_exitcode(h.self, &code));
    if (code != 0)
        FAIL("the library child failed with exit code %d", code);
    pc_process_free(h.self);

    h.self = NULL;
    check_sub_ok(fork_sub(child_plain, &h), 30.0, "the plain fork's child");

    /* The parent's handles are untouched by the children's frees. */
    for (int i = 0; i < 2; i++) {
        pc_bytes b = {0};
        CHECK_OK(pc_queue_get(h.queue, 5.0, &b));
        CHECK(b.len == 5 && memcmp(b.data, "child", 5) == 0);
        pc_bytes_free(&b);
    }
    int x = 0;
    CHECK_OK(pc_value_get(h.value, &x));
    CHECK(x == 42);
    CHECK_OK(pc_lock_acquire(h.lock, 0));
    CHECK_OK(pc_lock_release(h.lock));
    CHECK_OK(pc_lock_acquire(h.value_lock, 0));
    CHECK_OK(pc_lock_release(h.value_lock));
    check_lock_refused(h.stale);
    pc_lock_free(h.lock);
    pc_queue_free(h.queue);
    pc_value_free(h.value);
    check_lock_refused(h.value_lock);
}

int main(int argc, char **argv)
{
    tu_init("test_handles", 50);
    tu_select(argc, argv);
    RUN(test_listener_backlog);
    RUN(test_wrong_kind);
    RUN(test_garbage_pointers);
    RUN(test_freed_then_reused);
    RUN(test_lent_lock_is_not_freed);
    RUN(test_lent_lock_after_owner_freed);
    RUN(test_handles_in_forked_child);
    RUN(test_stale_task_buffer);
    RUN(test_stale_item_builder);
    RUN(test_lock_outlives_value);
    RUN(test_lock_outlives_array);
    RUN(test_lock_outlives_condition);
    RUN(test_lock_outlives_several_owners);
    return tu_done();
}
