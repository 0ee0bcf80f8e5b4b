/*
 * test_manager_custom.c: custom C types in a manager (include/processing.h:
 * pc_type_vtable, pc_item_builder_*, pc_manager_create, pc_proxy_*): exposed and hidden
 * methods, failing calls and constructors, destroy (seen through shared memory: the
 * server is a forked child of this test), every item kind through a C call, one call at
 * a time per object, exposed typeids (the same object each time).
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_custom NAME…` runs only the named subtests.
 *
 * ctest-timeout: 15
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "manager_common.h"

struct thing {
    int64_t value;
    int64_t counter;
};

static const char *const thing_exposed[] = {"f", "g", NULL};

static bool arg_is(const pc_item *a, const char *s)
{
    return a->kind == PC_KIND_STR && a->len == strlen(s) && memcmp(a->data, s, a->len) == 0;
}

static void *thing_create(const pc_item *args, size_t nargs, void *ctx)
{
    struct counters *c = ctx;
    if (nargs >= 1 && arg_is(&args[0], "null"))
        return NULL;
    struct thing *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (nargs >= 1 && args[0].kind == PC_KIND_INT)
        t->value = args[0].i;
    atomic_fetch_add(&c->created, 1);
    return t;
}

static int thing_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx)
{
    struct thing *t = obj;
    struct counters *c = ctx;
    if (strcmp(method, "h") == 0) {
        atomic_fetch_add(&c->hidden_ran, 1);
        return 0;
    }
    if (strcmp(method, "f") == 0) { /* f(x) -> x; f() -> None; f(a, b, ...) -> nargs */
        if (nargs == 0)
            return 0;
        if (nargs == 1)
            return pc_item_builder_set(b, args[0]) == PC_OK ? 0 : 90;
        return pc_item_builder_set(b, pc_item_int((int64_t)nargs)) == PC_OK ? 0 : 91;
    }
    if (strcmp(method, "g") != 0 || nargs == 0)
        return 99;
    const pc_item *cmd = &args[0];
    if (arg_is(cmd, "fail")) {
        pc_item_builder_fail(b, "boom");
        return 42;
    }
    if (arg_is(cmd, "fail quietly"))
        return 7;
    if (arg_is(cmd, "value"))
        return pc_item_builder_set(b, pc_item_int(t->value)) == PC_OK ? 0 : 92;
    if (arg_is(cmd, "inc")) { /* not thread-safe on purpose: calls must come one at a time */
        if (atomic_fetch_add(&c->in_call, 1) != 0)
            atomic_fetch_add(&c->overlaps, 1);
        int64_t v = t->counter;
        usleep(200);
        t->counter = v + 1;
        atomic_fetch_sub(&c->in_call, 1);
        return pc_item_builder_set(b, pc_item_int(t->counter)) == PC_OK ? 0 : 93;
    }
    if (arg_is(cmd, "check")) { /* g("check", every item of all_items) -> True */
        pc_item want[MAX_ITEMS];
        int n = all_items(want);
        bool same = nargs == (size_t)n + 1;
        for (int i = 0; same && i < n; i++)
            same = tu_item_equal(&args[i + 1], &want[i]);
        return pc_item_builder_set(b, pc_item_bool(same)) == PC_OK ? 0 : 94;
    }
    if (arg_is(cmd, "misuse")) { /* the builder refuses bad input; the result stays None */
        atomic_store(&c->builder_status[0], pc_item_builder_set(b, item_raw(99, NULL, 0)));
        atomic_store(&c->builder_status[1], pc_item_builder_set(b, item_pickle(P_GARBAGE, 5)));
        atomic_store(&c->builder_status[2], pc_item_builder_fail(b, NULL));
        atomic_store(&c->builder_status[3], pc_item_builder_set(NULL, pc_item_none()));
        return 0;
    }
    if (arg_is(cmd, "set twice")) {
        pc_item_builder_set(b, pc_item_int(1));
        return pc_item_builder_set(b, pc_item_int(2)) == PC_OK ? 0 : 95;
    }
    if (arg_is(cmd, "big"))
        return pc_item_builder_set(b, pc_item_bytes(big, MIB)) == PC_OK ? 0 : 96;
    if (arg_is(cmd, "pickle"))
        return pc_item_builder_set(b, item_pickle(P_TUPLE, sizeof P_TUPLE)) == PC_OK ? 0 : 97;
    return 98;
}

static void thing_destroy(void *obj, void *ctx)
{
    struct counters *c = ctx;
    free(obj);
    atomic_fetch_add(&c->destroyed, 1);
}

static bool wait_count(atomic_int *n, int want, double timeout)
{
    double deadline = now() + timeout;
    while (atomic_load(n) != want) {
        if (now() >= deadline)
            return false;
        sleep_s(0.005);
    }
    return true;
}

struct inc_arg {
    pc_proxy *p;
    int failures;
};

static void *thread_inc(void *arg)
{
    struct inc_arg *a = arg;
    pc_item cmd = pc_item_str("inc");
    for (int i = 0; i < 50; i++) {
        if (pc_proxy_call(a->p, "g", &cmd, 1, NULL) != PC_OK) {
            a->failures++;
            fprintf(stderr, "   inc: %s\n", pc_last_error());
            return NULL;
        }
    }
    return NULL;
}

static int target_call_custom(void *arg)
{
    pc_proxy *p = arg;
    pc_item cmd = pc_item_str("inc");
    pc_item got = pc_item_none();
    if (pc_proxy_call(p, "g", &cmd, 1, &got) != PC_OK || got.kind != PC_KIND_INT)
        return 1;
    return 0;
}

static void test_custom_types(void)
{
    struct counters *c = shared_new(sizeof *c);
    pc_type_vtable thing = {thing_create, thing_call, thing_destroy, thing_exposed, c};
    pc_type_vtable minimal = {dummy_create, dummy_call, NULL, NULL, NULL};
    static const char *const only_m[] = {"m", NULL};
    static const char *const only_z[] = {"z", NULL};
    pc_type_vtable first = {dummy_create, dummy_call, NULL, only_m, NULL};
    pc_type_vtable second = {dummy_create, dummy_call, NULL, only_z, NULL};
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_register(m, "Thing", &thing));
    CHECK_OK(pc_manager_register(m, "Minimal", &minimal));
    CHECK_OK(pc_manager_register(m, "Replaced", &first));
    CHECK_OK(pc_manager_register(m, "Replaced", &second));
    CHECK_OK(pc_manager_expose(m, "get_thing", "Thing", "the thing"));
    CHECK_OK(pc_manager_expose(m, "get_dict", "dict", "jobs"));
    /* The vtable was copied: changing ours afterwards changes nothing. */
    thing.call = NULL;
    pid_t server = start_server(m);
    size_t base = objects(m);

    pc_proxy *p = NULL;
    pc_item five = pc_item_int(5);
    CHECK_OK(pc_manager_create(m, "Thing", NULL, &five, 1, &p));
    CHECK(atomic_load(&c->created) == 1);
    CHECK(objects(m) == base + 1);
    pc_item cmd = pc_item_str("value");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(5));

    /* Every kind through a C call, one at a time and all at once. */
    pc_item items[MAX_ITEMS + 1];
    int n = all_items(items + 1);
    for (int i = 1; i <= n; i++)
        CALL_IS(p, "f", &items[i], 1, items[i]);
    CALL_IS(p, "f", NULL, 0, pc_item_none());
    CALL_IS(p, "f", items + 1, 3, pc_item_int(3));
    items[0] = pc_item_str("check");
    CALL_IS(p, "g", items, (size_t)n + 1, pc_item_bool(true));
    pc_item pk = item_pickle(P_TUPLE, sizeof P_TUPLE);
    pc_item got = sentinel();
    CHECK_OK(pc_proxy_call(p, "f", &pk, 1, &got));
    CHECK(got.kind == PC_KIND_PICKLE);
    pc_item_release(&got);
    cmd = pc_item_str("pickle");
    CHECK_OK(pc_proxy_call(p, "g", &cmd, 1, &got));
    CHECK(got.kind == PC_KIND_PICKLE);
    pc_item_release(&got);
    cmd = pc_item_str("big");
    CALL_IS(p, "g", &cmd, 1, pc_item_bytes(big, MIB));
    cmd = pc_item_str("set twice");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(2));
    cmd = pc_item_str("value");
    CHECK_OK(pc_proxy_call(p, "g", &cmd, 1, NULL)); /* result not wanted */

    /* The builder refuses bad input. */
    cmd = pc_item_str("misuse");
    CALL_IS(p, "g", &cmd, 1, pc_item_none());
    for (int i = 0; i < 4; i++)
        if (atomic_load(&c->builder_status[i]) != PC_ERR_INVALID_ARGUMENT)
            FAIL("builder misuse %d gave %d", i, atomic_load(&c->builder_status[i]));

    /* Methods not exposed: refused, never run. */
    got = sentinel();
    CHECK_STATUS(pc_proxy_call(p, "h", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("pc_proxy_call");
    CHECK_ERRMSG("\"h\"");
    CHECK_STATUS(pc_proxy_call(p, "__getitem__", &five, 1, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_STATUS(pc_proxy_call(p, "", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_STATUS(pc_proxy_call(p, "#GETVALUE", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_UNTOUCHED(got);
    CHECK(atomic_load(&c->hidden_ran) == 0);

    /* Failing calls: PC_ERR_REMOTE with the code and the message. */
    cmd = pc_item_str("fail");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("pc_proxy_call");
    CHECK_ERRMSG("boom");
    CHECK_ERRMSG("42");
    cmd = pc_item_str("fail quietly");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("7");
    cmd = pc_item_str("no such command");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("98");
    CHECK_UNTOUCHED(got);
    cmd = pc_item_str("value");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(5)); /* the object is fine */

    /* Failing constructors: PC_ERR_REMOTE, nothing made. */
    pc_proxy *q = NULL;
    pc_item null = pc_item_str("null");
    CHECK_STATUS(pc_manager_create(m, "Thing", NULL, &null, 1, &q), PC_ERR_REMOTE);
    CHECK_ERRMSG("pc_manager_create");
    CHECK_ERRMSG("NULL");
    CHECK_STATUS(pc_manager_create(m, "NoSuchType", NULL, NULL, 0, &q), PC_ERR_REMOTE);
    CHECK_ERRMSG("NoSuchType");
    CHECK(q == NULL);
    CHECK(atomic_load(&c->created) == 1);
    CHECK(objects(m) == base + 1);

    /* One call at a time per object, from 4 threads. */
    pc_proxy *counter = NULL;
    CHECK_OK(pc_manager_create(m, "Thing", NULL, NULL, 0, &counter));
    pthread_t th[4];
    struct inc_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct inc_arg){counter, 0};
        CHECK(pthread_create(&th[i], NULL, thread_inc, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(args[i].failures == 0);
    }
    cmd = pc_item_str("inc");
    CALL_IS(counter, "g", &cmd, 1, pc_item_int(201));
    CHECK(atomic_load(&c->overlaps) == 0);
    /* And from a child (its own reference). */
    CHECK(finish(start(target_call_custom, counter), 20.0) == 0);
    CALL_IS(counter, "g", &cmd, 1, pc_item_int(203));

    /* destroy runs when the last handle goes. */
    int destroyed = atomic_load(&c->destroyed);
    pc_proxy_free(counter);
    CHECK(wait_count(&c->destroyed, destroyed + 1, 2.0));
    pc_proxy_free(p);
    CHECK(wait_count(&c->destroyed, destroyed + 2, 2.0));
    CHECK(objects(m) == base);

    /* Types without methods, and a registration that replaced another. */
    CHECK_OK(pc_manager_create(m, "Minimal", NULL, NULL, 0, &q));
    CHECK_STATUS(pc_proxy_call(q, "m", NULL, 0, NULL), PC_ERR_NOT_SUPPORTED);
    pc_proxy_free(q);
    CHECK_OK(pc_manager_create(m, "Replaced", NULL, NULL, 0, &q));
    CHECK_STATUS(pc_proxy_call(q, "m", NULL, 0, NULL), PC_ERR_NOT_SUPPORTED);
    CHECK_OK(pc_proxy_call(q, "z", NULL, 0, NULL));
    pc_proxy_free(q);

    /* An exposed typeid gives the same object every time; so does a name. */
    int created = atomic_load(&c->created);
    pc_proxy *t1 = NULL, *t2 = NULL, *t3 = NULL;
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t1));
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t2));
    CHECK_OK(pc_manager_create(m, "Thing", "the thing", NULL, 0, &t3));
    CHECK(atomic_load(&c->created) == created + 1);
    CALL_IS(t1, "g", &cmd, 1, pc_item_int(1));
    CALL_IS(t2, "g", &cmd, 1, pc_item_int(2));
    CALL_IS(t3, "g", &cmd, 1, pc_item_int(3));
    pc_proxy_free(t1);
    pc_proxy_free(t2);
    pc_proxy_free(t3);
    CHECK(atomic_load(&c->destroyed) == destroyed + 2); /* named: kept */
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t1));
    CALL_IS(t1, "g", &cmd, 1, pc_item_int(4));
    pc_proxy_free(t1);

    /* pc_manager_expose(m, "get_dict", "dict", "jobs"): one dict, through every door. */
    pc_proxy *j1 = NULL, *j2 = NULL;
    CHECK_OK(pc_manager_create(m, "get_dict", NULL, NULL, 0, &j1));
    CHECK_OK(pc_manager_create(m, "get_dict", NULL, NULL, 0, &j2));
    pc_item kv[2] = {pc_item_str("k"), pc_item_int(1)};
    CHECK_OK(pc_proxy_call(j1, "__setitem__", kv, 2, NULL));
    CALL_IS(j2, "__getitem__", kv, 1, pc_item_int(1));
    CALL_IS(j2, "get", kv, 1, pc_item_int(1));
    CALL_IS(j1, "__len__", NULL, 0, pc_item_int(1));
    pc_item missing = pc_item_str("missing");
    CHECK_STATUS(pc_proxy_call(j2, "__getitem__", &missing, 1, &got), PC_ERR_KEY);
    CHECK_ERRMSG("missing");
    CHECK_STATUS(pc_proxy_call(j1, "no_such_method", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    pc_dict *jobs = new_dict(m, "jobs");
    DGET_IS(jobs, pc_item_str("k"), pc_item_int(1));
    pc_proxy_free(j1);
    pc_proxy_free(j2);
    pc_dict_free(jobs);
    /* SyncManager's typeids through the generic call, with constructor arguments. */
    pc_item init = item_pickle(P_LIST, sizeof P_LIST); /* list([1]) */
    CHECK_OK(pc_manager_create(m, "list", NULL, &init, 1, &q));
    CALL_IS(q, "__len__", NULL, 0, pc_item_int(1));
    pc_item zero = pc_item_int(0);
    CALL_IS(q, "__getitem__", &zero, 1, pc_item_int(1));
    pc_proxy_free(q);

    /* At shutdown the server destroys what it still holds (the named thing). */
    CHECK_OK(pc_manager_shutdown(m));
    CHECK(server_gone_within(server, 2.0));
    CHECK(atomic_load(&c->destroyed) == atomic_load(&c->created));
    pc_manager_free(m);
    shared_free(c, sizeof *c);
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_init("test_manager_custom", 10);
    tu_select(argc, argv);
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_custom_types);
    fprintf(stderr, "test_manager_custom: %.1f s\n", now() - t0);
    return tu_done();
}
