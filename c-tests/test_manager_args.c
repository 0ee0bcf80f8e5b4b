/*
 * test_manager_args.c: bad input for every manager function (include/processing.h:
 * pc_manager_*, pc_dict_*, pc_list_*, pc_namespace_*, pc_proxy_*, pc_item_*): NULL,
 * wrong-typed and freed handles, NULL out-pointers, invalid items, malformed addresses,
 * each with its pc_last_error().
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_args NAME…` runs only the named subtests.
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

/* (1, 'a') with a FRAME that announces 10 bytes where 9 follow: CPython refuses it
 * ("pickle data was truncated"). */
static const uint8_t P_BAD_FRAME[] = {0x80, 0x04, 0x95, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x4b, 0x01, 0x8c, 0x01, 0x61, 0x94, 0x86, 0x94, 0x2e};

/* P_TUPLE without its STOP. */
#define P_TRUNCATED_LEN (sizeof P_TUPLE - 1)

/* ---- bad arguments ---- */

/* Invalid items, each with what pc_last_error() says about it. */
struct bad_item {
    pc_item item;
    const char *problem;
};

static const uint8_t bad_utf8[] = {'o', 'k', 0xff, 0xfe};

static int bad_items(struct bad_item *out)
{
    int n = 0;
    out[n++] = (struct bad_item){item_raw(99, NULL, 0), "unknown kind 99"};
    out[n++] = (struct bad_item){item_raw(-1, NULL, 0), "unknown kind -1"};
    out[n++] = (struct bad_item){item_raw(PC_KIND_STR, NULL, 3), "is NULL but its length is 3"};
    out[n++] = (struct bad_item){item_raw(PC_KIND_BYTES, NULL, 5), "is NULL but its length is 5"};
    out[n++] = (struct bad_item){pc_item_str(NULL), "NULL"};
    out[n++] = (struct bad_item){item_strn((const char *)bad_utf8, sizeof bad_utf8), "UTF-8"};
    out[n++] = (struct bad_item){item_pickle(P_GARBAGE, strlen(P_GARBAGE)), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_TUPLE, P_TRUNCATED_LEN), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_TUPLE, 0), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_BAD_FRAME, sizeof P_BAD_FRAME), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_FIVE, 1), "pickle"}; /* PROTO alone */
    out[n++] = (struct bad_item){item_raw(PC_KIND_PICKLE, NULL, 4), "is NULL but its length is 4"};
    return n;
}

static void check_null_handles(void)
{
    pc_item out = sentinel();
    bool flag = true;
    size_t n = 7;
    pc_item *keys = (pc_item *)&n, *vals = (pc_item *)&n;
    const pc_item one = pc_item_int(1);
#define NULL_HANDLE(call, fn, param)                                                         \
    do {                                                                                     \
        CHECK_STATUS(call, PC_ERR_INVALID_ARGUMENT);                                         \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(param " is NULL");                                                      \
    } while (0)
    NULL_HANDLE(pc_manager_register(NULL, "t", NULL), "pc_manager_register", "m");
    NULL_HANDLE(pc_manager_expose(NULL, "t", "dict", "n"), "pc_manager_expose", "m");
    NULL_HANDLE(pc_manager_start(NULL), "pc_manager_start", "m");
    NULL_HANDLE(pc_manager_connect(NULL), "pc_manager_connect", "m");
    NULL_HANDLE(pc_manager_serve_forever(NULL), "pc_manager_serve_forever", "m");
    NULL_HANDLE(pc_manager_shutdown(NULL), "pc_manager_shutdown", "m");
    NULL_HANDLE(pc_manager_number_of_objects(NULL, &n), "pc_manager_number_of_objects", "m");
    CHECK(pc_manager_address(NULL) == NULL);
    CHECK_ERRMSG("pc_manager_address");
    CHECK_ERRMSG("m is NULL");
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    NULL_HANDLE(pc_manager_dict(NULL, NULL, &d), "pc_manager_dict", "m");
    NULL_HANDLE(pc_manager_list(NULL, NULL, &l), "pc_manager_list", "m");
    NULL_HANDLE(pc_manager_namespace(NULL, NULL, &ns), "pc_manager_namespace", "m");
    NULL_HANDLE(pc_manager_create(NULL, "dict", NULL, NULL, 0, &p), "pc_manager_create", "m");
    CHECK(d == NULL && l == NULL && ns == NULL && p == NULL);

    NULL_HANDLE(pc_dict_set(NULL, one, one), "pc_dict_set", "d");
    NULL_HANDLE(pc_dict_get(NULL, one, &out), "pc_dict_get", "d");
    NULL_HANDLE(pc_dict_del(NULL, one), "pc_dict_del", "d");
    NULL_HANDLE(pc_dict_pop(NULL, one, &out), "pc_dict_pop", "d");
    NULL_HANDLE(pc_dict_contains(NULL, one, &flag), "pc_dict_contains", "d");
    NULL_HANDLE(pc_dict_len(NULL, &n), "pc_dict_len", "d");
    NULL_HANDLE(pc_dict_items(NULL, &keys, &vals, &n), "pc_dict_items", "d");
    NULL_HANDLE(pc_dict_update(NULL, &one, &one, 1), "pc_dict_update", "d");
    NULL_HANDLE(pc_dict_clear(NULL), "pc_dict_clear", "d");
    NULL_HANDLE(pc_list_append(NULL, one), "pc_list_append", "l");
    NULL_HANDLE(pc_list_insert(NULL, 0, one), "pc_list_insert", "l");
    NULL_HANDLE(pc_list_set(NULL, 0, one), "pc_list_set", "l");
    NULL_HANDLE(pc_list_extend(NULL, &one, 1), "pc_list_extend", "l");
    NULL_HANDLE(pc_list_get(NULL, 0, &out), "pc_list_get", "l");
    NULL_HANDLE(pc_list_pop(NULL, -1, &out), "pc_list_pop", "l");
    NULL_HANDLE(pc_list_len(NULL, &n), "pc_list_len", "l");
    NULL_HANDLE(pc_list_clear(NULL), "pc_list_clear", "l");
    NULL_HANDLE(pc_list_items(NULL, &keys, &n), "pc_list_items", "l");
    NULL_HANDLE(pc_namespace_set(NULL, "a", one), "pc_namespace_set", "ns");
    NULL_HANDLE(pc_namespace_get(NULL, "a", &out), "pc_namespace_get", "ns");
    NULL_HANDLE(pc_namespace_del(NULL, "a"), "pc_namespace_del", "ns");
    NULL_HANDLE(pc_proxy_call(NULL, "f", NULL, 0, &out), "pc_proxy_call", "p");
    NULL_HANDLE(pc_item_builder_set(NULL, one), "pc_item_builder_set", "b");
    NULL_HANDLE(pc_item_builder_fail(NULL, "boom"), "pc_item_builder_fail", "b");
#undef NULL_HANDLE
    /* Nothing was written. */
    CHECK_UNTOUCHED(out);
    CHECK(flag == true && n == 7 && keys == (pc_item *)&n && vals == (pc_item *)&n);
    /* The frees accept NULL. */
    pc_manager_free(NULL);
    pc_dict_free(NULL);
    pc_list_free(NULL);
    pc_namespace_free(NULL);
    pc_proxy_free(NULL);
    pc_item_release(NULL);
    pc_items_release(NULL, 5);

    /* A builder that is none (a zeroed buffer), outside any call. */
    _Alignas(16) unsigned char fake[256] = {0};
    CHECK_STATUS(pc_item_builder_set((pc_item_builder *)(void *)fake, one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_item_builder_set");
    CHECK_ERRMSG("not a pc_item_builder");
    CHECK_STATUS(pc_item_builder_fail((pc_item_builder *)(void *)fake, "x"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("not a pc_item_builder");
}

static void check_manager_arguments(void)
{
    pc_manager *m = (pc_manager *)&m;
    CHECK_STATUS(pc_manager_new(NULL, KEY, KEYLEN, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_new");
    CHECK_ERRMSG("out is NULL");
    char long_name[300];
    snprintf(long_name, sizeof long_name, "unix:@%0200d", 7);
    char long_path[300];
    snprintf(long_path, sizeof long_path, "unix:/tmp/%0200d", 7);
    const char *malformed[] = {"", "bogus", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:99999",
                               "tcp://127.0.0.1:port", "tcp://:80", "unix:", "unix:@",
                               long_name, long_path, "http://127.0.0.1:80", "\xff\xfe"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        m = (pc_manager *)&m;
        int st = pc_manager_new(malformed[i], KEY, KEYLEN, &m);
        if (st != PC_ERR_INVALID_ARGUMENT)
            FAIL("pc_manager_new(\"%s\") returned %d (%s)", malformed[i], st, pc_status_str(st));
        CHECK_ERRMSG("pc_manager_new");
        CHECK_ERRMSG("address");
        CHECK(m == (pc_manager *)&m);
    }
    /* A NULL key with a length means the process key; an empty key is a key. */
    CHECK_OK(pc_manager_new(NULL, NULL, 99, &m));
    pc_manager_free(m);
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", "", 0, &m));
    pc_manager_free(m);

    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &m));
    pc_type_vtable good = {dummy_create, dummy_call, NULL, dummy_exposed, NULL};
    pc_type_vtable no_create = {NULL, dummy_call, NULL, dummy_exposed, NULL};
    pc_type_vtable no_call = {dummy_create, NULL, NULL, dummy_exposed, NULL};
    static const char *const bad_names[] = {"ok", "\xff", NULL};
    pc_type_vtable bad_exposed = {dummy_create, dummy_call, NULL, bad_names, NULL};
    CHECK_STATUS(pc_manager_register(m, NULL, &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_register");
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_register(m, "T", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vt is NULL");
    CHECK_STATUS(pc_manager_register(m, "T", &no_create), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("create");
    CHECK_STATUS(pc_manager_register(m, "T", &no_call), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("call");
    CHECK_STATUS(pc_manager_register(m, "T", &bad_exposed), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("exposed");
    CHECK_STATUS(pc_manager_register(m, "", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_register(m, "#RETURN", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_register(m, "\xff", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");

    CHECK_STATUS(pc_manager_expose(m, NULL, "dict", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_expose");
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", NULL, "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", "dict", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", "NoSuchType", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NoSuchType");
    CHECK_STATUS(pc_manager_expose(m, "", "dict", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_expose(m, "get", "dict", "\xff"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");

    start_server(m);
    size_t n = 7;
    CHECK_STATUS(pc_manager_number_of_objects(m, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_dict(m, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_dict");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_list(m, "x", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_namespace(m, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_create(m, "dict", NULL, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    CHECK_STATUS(pc_manager_dict(m, "\xff", &d), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_list(m, "\xff", &l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_namespace(m, "\xff", &ns), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_create(m, NULL, NULL, NULL, 0, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_create(m, "dict", "\xff", NULL, 0, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_create(m, "list", NULL, NULL, 2, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("args is NULL");
    CHECK(d == NULL && l == NULL && ns == NULL && p == NULL);
    /* Nothing was made by all that. */
    CHECK(objects(m) == 0);
    (void)n;
    pc_manager_free(m);
}

/* Every function of a live dict, list, namespace and proxy with NULL out-pointers, NULL
 * arrays and invalid items: refused, nothing changed. */
static void check_container_arguments(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    DSET(d, pc_item_str("kept"), pc_item_int(1));
    CHECK_OK(pc_list_append(l, pc_item_int(1)));
    CHECK_OK(pc_namespace_set(ns, "kept", pc_item_int(1)));
    const pc_item one = pc_item_int(1);
    size_t n = 7;
    pc_item *keys = NULL, *vals = NULL;

    /* NULL outputs and arrays. */
    CHECK_STATUS(pc_dict_get(d, one, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_dict_get");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("kept"), NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_contains(d, one, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_len(d, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_items(d, NULL, &vals, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("keys is NULL");
    CHECK_STATUS(pc_dict_items(d, &keys, NULL, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vals is NULL");
    CHECK_STATUS(pc_dict_items(d, &keys, &vals, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count is NULL");
    CHECK_STATUS(pc_dict_update(d, NULL, &one, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_dict_update");
    CHECK_ERRMSG("keys is NULL");
    CHECK_STATUS(pc_dict_update(d, &one, NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vals is NULL");
    CHECK_OK(pc_dict_update(d, NULL, NULL, 0));
    CHECK_STATUS(pc_list_get(l, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_pop(l, -1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_len(l, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_items(l, NULL, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items is NULL");
    CHECK_STATUS(pc_list_items(l, &keys, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count is NULL");
    CHECK_STATUS(pc_list_extend(l, NULL, 2), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_list_extend");
    CHECK_ERRMSG("items is NULL");
    CHECK_OK(pc_list_extend(l, NULL, 0));
    CHECK_STATUS(pc_namespace_set(ns, NULL, one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr is NULL");
    CHECK_STATUS(pc_namespace_get(ns, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_namespace_get(ns, "kept", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_namespace_del(ns, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr is NULL");
    CHECK_STATUS(pc_namespace_set(ns, "\xff", one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr");
    CHECK_ERRMSG("UTF-8");
    CHECK_STATUS(pc_proxy_call(p, NULL, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("method is NULL");
    CHECK_STATUS(pc_proxy_call(p, "__len__", NULL, 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("args is NULL");
    CHECK(keys == NULL && vals == NULL && n == 7);

    /* Invalid items in every position. */
    struct bad_item bad[16];
    int nbad = bad_items(bad);
    for (int i = 0; i < nbad; i++) {
        pc_item b = bad[i].item;
        const char *why = bad[i].problem;
        pc_item out = sentinel();
        bool flag = true;
#define REFUSED(call, fn, param)                                                             \
    do {                                                                                     \
        int st_ = (call);                                                                    \
        if (st_ != PC_ERR_INVALID_ARGUMENT)                                                  \
            FAIL("%s with the invalid item %d (%s) returned %d (%s)", #call, i, why, st_,    \
                 pc_status_str(st_));                                                        \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(why);                                                                   \
        if (strstr(why, "pickle") == NULL)                                                   \
            CHECK_ERRMSG(param);                                                             \
    } while (0)
        REFUSED(pc_dict_set(d, b, one), "pc_dict_set", "key");
        REFUSED(pc_dict_set(d, one, b), "pc_dict_set", "val");
        REFUSED(pc_dict_get(d, b, &out), "pc_dict_get", "key");
        REFUSED(pc_dict_del(d, b), "pc_dict_del", "key");
        REFUSED(pc_dict_pop(d, b, &out), "pc_dict_pop", "key");
        REFUSED(pc_dict_contains(d, b, &flag), "pc_dict_contains", "key");
        pc_item ks[3] = {pc_item_str("x"), b, pc_item_str("z")};
        pc_item vs[3] = {one, one, one};
        REFUSED(pc_dict_update(d, ks, vs, 3), "pc_dict_update", "keys[1]");
        ks[1] = pc_item_str("y");
        vs[2] = b;
        REFUSED(pc_dict_update(d, ks, vs, 3), "pc_dict_update", "vals[2]");
        REFUSED(pc_list_append(l, b), "pc_list_append", "val");
        REFUSED(pc_list_insert(l, 0, b), "pc_list_insert", "val");
        REFUSED(pc_list_set(l, 0, b), "pc_list_set", "val");
        pc_item items[3] = {one, one, b};
        REFUSED(pc_list_extend(l, items, 3), "pc_list_extend", "items[2]");
        REFUSED(pc_namespace_set(ns, "a", b), "pc_namespace_set", "val");
        pc_proxy *q = NULL;
        pc_item args[2] = {one, b};
        REFUSED(pc_manager_create(m, "list", NULL, &args[1], 1, &q), "pc_manager_create", "args[0]");
        CHECK(q == NULL);
        REFUSED(pc_proxy_call(p, "get", args, 2, &out), "pc_proxy_call", "args[1]");
#undef REFUSED
        CHECK_UNTOUCHED(out);
        CHECK(flag == true);
    }
    /* Nothing changed. */
    CHECK(dict_len(d) == 1);
    DGET_IS(d, pc_item_str("kept"), pc_item_int(1));
    CHECK(list_len(l) == 1);
    LGET_IS(l, 0, pc_item_int(1));
    NGET_IS(ns, "kept", pc_item_int(1));
    pc_item got = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "a", &got), PC_ERR_KEY);
    CALL_IS(p, "__len__", NULL, 0, pc_item_int(0));
    CHECK(objects(m) == 4);

    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Handles of one type passed as another: refused with the parameter and the type named;
 * a refused free frees nothing. */
static void check_wrong_handles(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    pc_queue *q = NULL;
    CHECK_OK(pc_queue_new(0, &q));
    const pc_item one = pc_item_int(1);
    pc_item out = sentinel();
    size_t n = 7;
    bool flag = true;
    pc_item *keys = NULL, *vals = NULL;

    pc_dict *wd = (pc_dict *)q;
#define WRONG_TYPE(call, fn, what)                                                           \
    do {                                                                                     \
        CHECK_STATUS(call, PC_ERR_INVALID_ARGUMENT);                                         \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(what);                                                                  \
    } while (0)
    WRONG_TYPE(pc_dict_set(wd, one, one), "pc_dict_set", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_get(wd, one, &out), "pc_dict_get", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_del(wd, one), "pc_dict_del", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_pop(wd, one, &out), "pc_dict_pop", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_contains(wd, one, &flag), "pc_dict_contains", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_len(wd, &n), "pc_dict_len", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_items(wd, &keys, &vals, &n), "pc_dict_items", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_update(wd, &one, &one, 1), "pc_dict_update", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_clear(wd), "pc_dict_clear", "d is not a pc_dict");
    pc_dict_free(wd);
    CHECK_ERRMSG("pc_dict_free");
    CHECK_ERRMSG("d is not a pc_dict");

    pc_list *wl = (pc_list *)d;
    WRONG_TYPE(pc_list_append(wl, one), "pc_list_append", "l is not a pc_list");
    WRONG_TYPE(pc_list_insert(wl, 0, one), "pc_list_insert", "l is not a pc_list");
    WRONG_TYPE(pc_list_set(wl, 0, one), "pc_list_set", "l is not a pc_list");
    WRONG_TYPE(pc_list_extend(wl, &one, 1), "pc_list_extend", "l is not a pc_list");
    WRONG_TYPE(pc_list_get(wl, 0, &out), "pc_list_get", "l is not a pc_list");
    WRONG_TYPE(pc_list_pop(wl, 0, &out), "pc_list_pop", "l is not a pc_list");
    WRONG_TYPE(pc_list_len(wl, &n), "pc_list_len", "l is not a pc_list");
    WRONG_TYPE(pc_list_clear(wl), "pc_list_clear", "l is not a pc_list");
    WRONG_TYPE(pc_list_items(wl, &keys, &n), "pc_list_items", "l is not a pc_list");
    pc_list_free(wl);
    CHECK_ERRMSG("l is not a pc_list");

    pc_namespace *wn = (pc_namespace *)l;
    WRONG_TYPE(pc_namespace_set(wn, "a", one), "pc_namespace_set", "ns is not a pc_namespace");
    WRONG_TYPE(pc_namespace_get(wn, "a", &out), "pc_namespace_get", "ns is not a pc_namespace");
    WRONG_TYPE(pc_namespace_del(wn, "a"), "pc_namespace_del", "ns is not a pc_namespace");
    pc_namespace_free(wn);
    CHECK_ERRMSG("ns is not a pc_namespace");

    pc_proxy *wp = (pc_proxy *)ns;
    WRONG_TYPE(pc_proxy_call(wp, "__len__", NULL, 0, &out), "pc_proxy_call", "p is not a pc_proxy");
    pc_proxy_free(wp);
    CHECK_ERRMSG("p is not a pc_proxy");

    pc_manager *wm = (pc_manager *)p;
    pc_dict *none = NULL;
    WRONG_TYPE(pc_manager_start(wm), "pc_manager_start", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_connect(wm), "pc_manager_connect", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_shutdown(wm), "pc_manager_shutdown", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_number_of_objects(wm, &n), "pc_manager_number_of_objects",
               "m is not a pc_manager");
    WRONG_TYPE(pc_manager_dict(wm, NULL, &none), "pc_manager_dict", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_register(wm, "T", NULL), "pc_manager_register", "m is not a pc_manager");
    CHECK(pc_manager_address(wm) == NULL);
    CHECK_ERRMSG("m is not a pc_manager");
    pc_manager_free(wm);
    CHECK_ERRMSG("m is not a pc_manager");
    /* And the other way round: a manager as a dict, a dict as a queue. */
    WRONG_TYPE(pc_dict_len((pc_dict *)m, &n), "pc_dict_len", "d is not a pc_dict");
    WRONG_TYPE(pc_queue_put((pc_queue *)d, "x", 1, 0), "pc_queue_put", "q is not a pc_queue");
#undef WRONG_TYPE
    CHECK_UNTOUCHED(out);
    CHECK(n == 7 && flag && keys == NULL && vals == NULL && none == NULL);

    /* All intact. */
    CHECK_OK(pc_queue_put(q, "x", 1, 0));
    CHECK(queue_qsize(q) == 1);
    DSET(d, one, one);
    CHECK_OK(pc_list_append(l, one));
    CHECK_OK(pc_namespace_set(ns, "a", one));
    CALL_IS(p, "__len__", NULL, 0, pc_item_int(0));
    CHECK(objects(m) == 4);
    pc_queue_free(q);
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Handles used after their free: refused ("already freed"), in a sub-process so that a
 * crash shows as one. A second free is refused too. */
static int sub_freed_handles(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(NULL, KEY, KEYLEN, &m) != PC_OK || pc_manager_start(m) != PC_OK)
        return 1;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    if (pc_manager_dict(m, NULL, &d) != PC_OK || pc_manager_list(m, NULL, &l) != PC_OK ||
        pc_manager_namespace(m, NULL, &ns) != PC_OK ||
        pc_manager_create(m, "dict", NULL, NULL, 0, &p) != PC_OK)
        return 2;
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    const pc_item one = pc_item_int(1);
    pc_item out = sentinel();
    size_t n = 7;
    bool flag = true;
    pc_item *keys = NULL, *vals = NULL;
    int calls[] = {
        pc_dict_set(d, one, one), pc_dict_get(d, one, &out), pc_dict_del(d, one),
        pc_dict_pop(d, one, &out), pc_dict_contains(d, one, &flag), pc_dict_len(d, &n),
        pc_dict_items(d, &keys, &vals, &n), pc_dict_update(d, &one, &one, 1), pc_dict_clear(d),
        pc_list_append(l, one), pc_list_insert(l, 0, one), pc_list_set(l, 0, one),
        pc_list_extend(l, &one, 1), pc_list_get(l, 0, &out), pc_list_pop(l, 0, &out),
        pc_list_len(l, &n), pc_list_clear(l), pc_list_items(l, &keys, &n),
        pc_namespace_set(ns, "a", one), pc_namespace_get(ns, "a", &out),
        pc_namespace_del(ns, "a"), pc_proxy_call(p, "__len__", NULL, 0, &out),
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (calls[i] != PC_ERR_INVALID_ARGUMENT) {
            fprintf(stderr, "   call %zu on a freed handle returned %d (%s)\n", i, calls[i],
                    pc_status_str(calls[i]));
            return 10 + (int)i;
        }
    }
    if (!tu_contains(pc_last_error(), "already freed"))
        return 40;
    if (out.kind != PC_KIND_INT || out.i != -777 || n != 7 || !flag || keys || vals)
        return 41;
    pc_dict_free(d);
    if (!tu_contains(pc_last_error(), "pc_dict_free") || !tu_contains(pc_last_error(), "already freed"))
        return 42;
    pc_proxy_free(p);
    if (!tu_contains(pc_last_error(), "already freed"))
        return 43;
    /* Nothing else was freed: the server holds nothing and still serves. */
    size_t objs = 7;
    if (pc_manager_number_of_objects(m, &objs) != PC_OK || objs != 0)
        return 44;
    pc_manager_free(m);
    if (pc_manager_start(m) != PC_ERR_INVALID_ARGUMENT || !tu_contains(pc_last_error(), "already freed"))
        return 45;
    if (pc_manager_address(m) != NULL)
        return 46;
    pc_manager_free(m);
    if (!tu_contains(pc_last_error(), "pc_manager_free") || !tu_contains(pc_last_error(), "already freed"))
        return 47;
    return 0;
}

static void test_bad_arguments(void)
{
    check_null_handles();
    check_manager_arguments();
    check_container_arguments();
    check_wrong_handles();
    check_sub_ok(fork_sub(sub_freed_handles, NULL), 20.0, "handles used after their free");
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_init("test_manager_args", 10);
    tu_select(argc, argv);
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_bad_arguments);
    fprintf(stderr, "test_manager_args: %.1f s\n", now() - t0);
    return tu_done();
}
