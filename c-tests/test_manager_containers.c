/*
 * test_manager_containers.c: the managed dict, list and Namespace (include/processing.h:
 * pc_dict_*, pc_list_*, pc_namespace_*) and pc_item values: every item kind (INT64
 * limits, inf/nan, empty and 1 MiB bytes, UTF-8, pickles kept intact), Python's equality
 * of keys (1 == 1.0 == True, tuples by value, exact int/float comparison), unhashable
 * keys (PC_ERR_TYPE), missing keys and indices; dict, list and Namespace operations, with
 * Python's order and index rules; named objects shared between handles, a connected
 * handle in a forked child and an unrelated program (this binary run again with
 * --named-client), a name taken by another type.
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_containers NAME…` runs only the named subtests.
 *
 * ctest-timeout: 20
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

/* (1, 'a') again, protocol 2: BININT1, BINUNICODE, TUPLE2, BINPUT. */
static const uint8_t P_TUPLE2[] = {0x80, 0x02, 0x4b, 0x01, 0x58, 0x01, 0x00, 0x00, 0x00,
                                   0x61, 0x86, 0x71, 0x00, 0x2e};

/* {}: a dict (unhashable). */
static const uint8_t P_DICT[] = {0x80, 0x04, 0x7d, 0x94, 0x2e};

/* set(): a set (unhashable). */
static const uint8_t P_SET[] = {0x80, 0x04, 0x8f, 0x94, 0x2e};

/* 2**64 (LONG1): beyond int64_t. */
static const uint8_t P_2_64[] = {0x80, 0x02, 0x8a, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x01, 0x2e};

#define DGET_FAILS(d, k, status)                                                             \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_STATUS(pc_dict_get((d), (k), &got_), (status));                                \
        CHECK_UNTOUCHED(got_);                                                               \
    } while (0)

static char self_exe[PATH_MAX];

static void test_dict_values(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_item items[MAX_ITEMS];
    int n = all_items(items);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "v%d", i);
        DSET(d, pc_item_str(key), items[i]);
        DGET_IS(d, pc_item_str(key), items[i]);
    }
    CHECK(dict_len(d) == (size_t)n);
    /* All at once, in order. */
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == (size_t)n);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "v%d", i);
        CHECK_ITEM(keys[i], pc_item_str(key));
        CHECK_ITEM(vals[i], items[i]);
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);

    /* A pickle comes back a pickle; stored again, it reads back identical. */
    DSET(d, pc_item_str("tuple"), item_pickle(P_TUPLE, sizeof P_TUPLE));
    pc_item t = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("tuple"), &t));
    CHECK(t.kind == PC_KIND_PICKLE && t.len > 0 && t.data != NULL);
    DSET(d, pc_item_str("tuple copy"), t);
    DGET_IS(d, pc_item_str("tuple copy"), t);
    /* The same value pickled another way reads back as the same bytes. */
    DSET(d, pc_item_str("tuple protocol 2"), item_pickle(P_TUPLE2, sizeof P_TUPLE2));
    DGET_IS(d, pc_item_str("tuple protocol 2"), t);
    pc_item_release(&t);
    CHECK(t.kind == PC_KIND_NONE); /* release makes it None */
    pc_item_release(&t);           /* and twice is harmless */
    /* A pickle of a value C reads comes back as that kind. */
    DSET(d, pc_item_str("five"), item_pickle(P_FIVE, sizeof P_FIVE));
    DGET_IS(d, pc_item_str("five"), pc_item_int(5));
    /* Beyond int64_t: a pickle, kept. */
    DSET(d, pc_item_str("2**64"), item_pickle(P_2_64, sizeof P_2_64));
    pc_item b64 = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("2**64"), &b64));
    CHECK(b64.kind == PC_KIND_PICKLE);
    DSET(d, pc_item_str("2**64 copy"), b64);
    DGET_IS(d, pc_item_str("2**64 copy"), b64);
    /* Unhashable values are fine as values. */
    DSET(d, pc_item_str("list"), item_pickle(P_LIST, sizeof P_LIST));
    pc_item lv = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("list"), &lv));
    CHECK(lv.kind == PC_KIND_PICKLE);
    pc_item_release(&lv);

    /* Keys of every hashable kind, all distinct in Python. */
    pc_dict *k = new_dict(m, NULL);
    pc_item hk[] = {pc_item_none(), pc_item_int(7), pc_item_float(2.5), pc_item_bytes("b", 1),
                    pc_item_str("b"), item_pickle(P_TUPLE, sizeof P_TUPLE), pc_item_int(INT64_MIN),
                    pc_item_int(INT64_MAX), pc_item_str("\xc3\xa9"), pc_item_bytes(NULL, 0),
                    pc_item_str(""), b64, pc_item_bytes(big, MIB)};
    int nk = (int)(sizeof hk / sizeof hk[0]);
    for (int i = 0; i < nk; i++)
        DSET(k, hk[i], pc_item_int(i));
    CHECK(dict_len(k) == (size_t)nk);
    for (int i = 0; i < nk; i++)
        DGET_IS(k, hk[i], pc_item_int(i));
    CHECK_OK(pc_dict_items(k, &keys, &vals, &count));
    CHECK(count == (size_t)nk);
    for (int i = 0; i < nk; i++) {
        if (hk[i].kind == PC_KIND_PICKLE)
            CHECK(keys[i].kind == PC_KIND_PICKLE);
        else
            CHECK_ITEM(keys[i], hk[i]);
        CHECK_ITEM(vals[i], pc_item_int(i));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    /* A tuple key found through another pickle of the same tuple. */
    DGET_IS(k, item_pickle(P_TUPLE2, sizeof P_TUPLE2), pc_item_int(5));
    pc_item_release(&b64);
    pc_dict_free(k);
    pc_dict_free(d);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Keys compare as Python's do. */
static void test_dict_keys(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_int(1), pc_item_str("one"));
    DGET_IS(d, pc_item_float(1.0), pc_item_str("one"));
    DGET_IS(d, pc_item_bool(true), pc_item_str("one"));
    bool in = false;
    CHECK_OK(pc_dict_contains(d, pc_item_float(1.0), &in));
    CHECK(in);
    DSET(d, pc_item_bool(true), pc_item_str("uno")); /* the same key */
    CHECK(dict_len(d) == 1);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == 1);
    CHECK_ITEM(keys[0], pc_item_int(1)); /* the first key object stays */
    CHECK_ITEM(vals[0], pc_item_str("uno"));
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    DGET_FAILS(d, pc_item_str("1"), PC_ERR_KEY);
    DGET_FAILS(d, pc_item_bytes("1", 1), PC_ERR_KEY);
    DSET(d, pc_item_bool(false), pc_item_str("zero"));
    DGET_IS(d, pc_item_int(0), pc_item_str("zero"));
    DGET_IS(d, pc_item_float(-0.0), pc_item_str("zero"));
    DSET(d, pc_item_float(2.0), pc_item_str("two"));
    DGET_IS(d, pc_item_int(2), pc_item_str("two"));
    /* Exact: 2**63 - 1 is not the float 2**63; 2**64 is. */
    DSET(d, pc_item_int(INT64_MAX), pc_item_str("max"));
    DGET_FAILS(d, pc_item_float(9223372036854775807.0), PC_ERR_KEY);
    DSET(d, item_pickle(P_2_64, sizeof P_2_64), pc_item_str("2**64"));
    DGET_IS(d, pc_item_float(18446744073709551616.0), pc_item_str("2**64"));
    DSET(d, pc_item_float(9007199254740993.0), pc_item_str("float"));
    DGET_FAILS(d, pc_item_int(9007199254740993LL), PC_ERR_KEY); /* the float is 2**53 */
    DGET_IS(d, pc_item_int(9007199254740992LL), pc_item_str("float"));

    /* Missing keys: PC_ERR_KEY naming the key; the output untouched. */
    DGET_FAILS(d, pc_item_str("missing-key"), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_get");
    CHECK_ERRMSG("missing-key");
    DGET_FAILS(d, pc_item_int(12345), PC_ERR_KEY);
    CHECK_ERRMSG("12345");
    CHECK_STATUS(pc_dict_del(d, pc_item_str("missing-del")), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_del");
    CHECK_ERRMSG("missing-del");
    pc_item out = sentinel();
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("missing-pop"), &out), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_pop");
    CHECK_ERRMSG("missing-pop");
    CHECK_UNTOUCHED(out);

    /* Unhashable keys: PC_ERR_TYPE, nothing changed. */
    size_t before = dict_len(d);
    const uint8_t *unhashable[] = {P_LIST, P_DICT, P_SET};
    size_t lens[] = {sizeof P_LIST, sizeof P_DICT, sizeof P_SET};
    for (int i = 0; i < 3; i++) {
        pc_item key = item_pickle(unhashable[i], lens[i]);
        CHECK_STATUS(pc_dict_set(d, key, pc_item_int(1)), PC_ERR_TYPE);
        CHECK_ERRMSG("pc_dict_set");
        CHECK_ERRMSG("unhashable");
        DGET_FAILS(d, key, PC_ERR_TYPE);
        in = true;
        CHECK_STATUS(pc_dict_contains(d, key, &in), PC_ERR_TYPE);
        CHECK(in == true);
        CHECK_STATUS(pc_dict_del(d, key), PC_ERR_TYPE);
        CHECK_STATUS(pc_dict_pop(d, key, &out), PC_ERR_TYPE);
        pc_item v = pc_item_int(1);
        CHECK_STATUS(pc_dict_update(d, &key, &v, 1), PC_ERR_TYPE);
    }
    CHECK_UNTOUCHED(out);
    CHECK(dict_len(d) == before);
    pc_dict_free(d);
    pc_manager_free(m);
}

static void check_dict_items(pc_dict *d, const char *const *want_keys, const int64_t *want_vals, size_t n)
{
    pc_item *keys = (pc_item *)&keys, *vals = (pc_item *)&vals;
    size_t count = 7777;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    if (count != n)
        FAIL("the dict has %zu items, expected %zu", count, n);
    if (n == 0) {
        CHECK(keys == NULL && vals == NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK_ITEM(keys[i], pc_item_str(want_keys[i]));
        CHECK_ITEM(vals[i], pc_item_int(want_vals[i]));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
}

static void test_dict_operations(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    CHECK(dict_len(d) == 0);
    check_dict_items(d, NULL, NULL, 0);
    DSET(d, pc_item_str("a"), pc_item_int(1));
    DSET(d, pc_item_str("b"), pc_item_int(2));
    DSET(d, pc_item_str("c"), pc_item_int(3));
    CHECK(dict_len(d) == 3);
    bool in = false;
    CHECK_OK(pc_dict_contains(d, pc_item_str("a"), &in));
    CHECK(in);
    CHECK_OK(pc_dict_contains(d, pc_item_str("z"), &in));
    CHECK(!in);
    check_dict_items(d, (const char *[]){"a", "b", "c"}, (const int64_t[]){1, 2, 3}, 3);

    CHECK_OK(pc_dict_del(d, pc_item_str("b")));
    CHECK_STATUS(pc_dict_del(d, pc_item_str("b")), PC_ERR_KEY);
    CHECK_OK(pc_dict_contains(d, pc_item_str("b"), &in));
    CHECK(!in);
    DSET(d, pc_item_str("b"), pc_item_int(20));                 /* goes last */
    DSET(d, pc_item_str("a"), pc_item_int(10));                 /* keeps its place */
    check_dict_items(d, (const char *[]){"a", "c", "b"}, (const int64_t[]){10, 3, 20}, 3);

    pc_item out = sentinel();
    CHECK_OK(pc_dict_pop(d, pc_item_str("c"), &out));
    CHECK_ITEM(out, pc_item_int(3));
    out = sentinel();
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("c"), &out), PC_ERR_KEY);
    CHECK_UNTOUCHED(out);
    CHECK(dict_len(d) == 2);

    /* update: one round trip, existing keys keep their place. */
    pc_item ks[3] = {pc_item_str("x"), pc_item_str("a"), pc_item_str("y")};
    pc_item vs[3] = {pc_item_int(100), pc_item_int(11), pc_item_int(200)};
    CHECK_OK(pc_dict_update(d, ks, vs, 3));
    check_dict_items(d, (const char *[]){"a", "b", "x", "y"}, (const int64_t[]){11, 20, 100, 200}, 4);
    CHECK_OK(pc_dict_update(d, NULL, NULL, 0));
    /* An update with an invalid item changes nothing. */
    vs[2] = item_raw(99, NULL, 0);
    CHECK_STATUS(pc_dict_update(d, ks, vs, 3), PC_ERR_INVALID_ARGUMENT);
    check_dict_items(d, (const char *[]){"a", "b", "x", "y"}, (const int64_t[]){11, 20, 100, 200}, 4);
    /* The same key twice in one update: the last value wins. */
    pc_item k2[2] = {pc_item_str("dup"), pc_item_str("dup")};
    pc_item v2[2] = {pc_item_int(1), pc_item_int(2)};
    CHECK_OK(pc_dict_update(d, k2, v2, 2));
    DGET_IS(d, pc_item_str("dup"), pc_item_int(2));

    CHECK_OK(pc_dict_clear(d));
    CHECK(dict_len(d) == 0);
    check_dict_items(d, NULL, NULL, 0);
    CHECK_OK(pc_dict_clear(d));

    /* Many in one update, in order. */
    enum { MANY = 1000 };
    static pc_item mk[MANY], mv[MANY];
    static char names[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "k%04d", MANY - i);
        mk[i] = pc_item_str(names[i]);
        mv[i] = pc_item_int(i);
    }
    CHECK_OK(pc_dict_update(d, mk, mv, MANY));
    CHECK(dict_len(d) == MANY);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == MANY);
    for (int i = 0; i < MANY; i++) {
        CHECK_ITEM(keys[i], mk[i]);
        CHECK_ITEM(vals[i], mv[i]);
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    pc_dict_free(d);
    pc_manager_free(m);
}

static void check_list(pc_list *l, const pc_item *want, size_t n)
{
    pc_item *items = (pc_item *)&items;
    size_t count = 7777;
    CHECK_OK(pc_list_items(l, &items, &count));
    if (count != n)
        FAIL("the list has %zu items, expected %zu", count, n);
    if (n == 0) {
        CHECK(items == NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        CHECK_ITEM(items[i], want[i]);
    pc_items_release(items, count);
    CHECK(list_len(l) == n);
}

static void test_list_operations(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_list *l = new_list(m, NULL);
    pc_item out = sentinel();
    CHECK(list_len(l) == 0);
    check_list(l, NULL, 0);
    CHECK_STATUS(pc_list_pop(l, -1, &out), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_pop");
    CHECK_STATUS(pc_list_get(l, 0, &out), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_get");
    CHECK_ERRMSG("index");
    CHECK_UNTOUCHED(out);

    CHECK_OK(pc_list_append(l, pc_item_int(0)));
    CHECK_OK(pc_list_append(l, pc_item_str("one")));
    CHECK_OK(pc_list_append(l, pc_item_float(2.0)));
    CHECK(list_len(l) == 3);
    LGET_IS(l, 0, pc_item_int(0));
    LGET_IS(l, 1, pc_item_str("one"));
    LGET_IS(l, -1, pc_item_float(2.0));
    LGET_IS(l, -3, pc_item_int(0));
    CHECK_STATUS(pc_list_get(l, 3, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, -4, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, PTRDIFF_MAX, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, PTRDIFF_MIN, &out), PC_ERR_INDEX);
    CHECK_UNTOUCHED(out);

    CHECK_OK(pc_list_set(l, 1, pc_item_str("uno")));
    CHECK_OK(pc_list_set(l, -1, pc_item_bool(true)));
    CHECK_STATUS(pc_list_set(l, 3, pc_item_none()), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_set");
    CHECK_STATUS(pc_list_set(l, -4, pc_item_none()), PC_ERR_INDEX);
    check_list(l, (pc_item[]){pc_item_int(0), pc_item_str("uno"), pc_item_bool(true)}, 3);

    /* insert: Python's rules (negative from the end, beyond either end: at that end). */
    CHECK_OK(pc_list_insert(l, 0, pc_item_str("first")));
    CHECK_OK(pc_list_insert(l, -1, pc_item_str("before last")));
    CHECK_OK(pc_list_insert(l, 100, pc_item_str("end")));
    CHECK_OK(pc_list_insert(l, -100, pc_item_str("start")));
    CHECK_OK(pc_list_insert(l, PTRDIFF_MIN, pc_item_str("very start")));
    CHECK_OK(pc_list_insert(l, PTRDIFF_MAX, pc_item_str("very end")));
    pc_item want[] = {pc_item_str("very start"), pc_item_str("start"), pc_item_str("first"),
                      pc_item_int(0), pc_item_str("uno"), pc_item_str("before last"),
                      pc_item_bool(true), pc_item_str("end"), pc_item_str("very end")};
    check_list(l, want, 9);

    pc_item more[3] = {pc_item_none(), pc_item_bytes("\x00\x01", 2), item_pickle(P_TUPLE, sizeof P_TUPLE)};
    CHECK_OK(pc_list_extend(l, more, 3));
    CHECK_OK(pc_list_extend(l, NULL, 0));
    CHECK(list_len(l) == 12);
    LGET_IS(l, 9, pc_item_none());
    LGET_IS(l, -2, pc_item_bytes("\x00\x01", 2));
    /* An extend with an invalid item changes nothing. */
    more[1] = item_raw(99, NULL, 0);
    CHECK_STATUS(pc_list_extend(l, more, 3), PC_ERR_INVALID_ARGUMENT);
    CHECK(list_len(l) == 12);

    CHECK_OK(pc_list_pop(l, -1, &out));
    CHECK(out.kind == PC_KIND_PICKLE);
    pc_item_release(&out);
    CHECK_OK(pc_list_pop(l, 0, &out));
    CHECK_ITEM(out, pc_item_str("very start"));
    pc_item_release(&out);
    CHECK_OK(pc_list_pop(l, 2, &out));
    CHECK_ITEM(out, pc_item_int(0));
    out = sentinel();
    CHECK_STATUS(pc_list_pop(l, 100, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_pop(l, -100, &out), PC_ERR_INDEX);
    CHECK_UNTOUCHED(out);
    CHECK(list_len(l) == 9);

    CHECK_OK(pc_list_clear(l));
    CHECK(list_len(l) == 0);
    check_list(l, NULL, 0);
    CHECK_OK(pc_list_clear(l));

    /* Many in one extend; every kind appended. */
    enum { MANY = 1000 };
    static pc_item many[MANY];
    for (int i = 0; i < MANY; i++)
        many[i] = pc_item_int(i * 3);
    CHECK_OK(pc_list_extend(l, many, MANY));
    check_list(l, many, MANY);
    CHECK_OK(pc_list_clear(l));
    pc_item items[MAX_ITEMS];
    int n = all_items(items);
    for (int i = 0; i < n; i++)
        CHECK_OK(pc_list_append(l, items[i]));
    check_list(l, items, (size_t)n);
    for (int i = 0; i < n; i++)
        LGET_IS(l, i - n, items[i]);
    pc_list_free(l);
    pc_manager_free(m);
}

static void test_namespace(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_item out = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "x", &out), PC_ERR_KEY);
    CHECK_ERRMSG("pc_namespace_get");
    CHECK_ERRMSG("x");
    CHECK_UNTOUCHED(out);
    CHECK_OK(pc_namespace_set(ns, "x", pc_item_int(1)));
    NGET_IS(ns, "x", pc_item_int(1));
    CHECK_OK(pc_namespace_set(ns, "x", pc_item_str("two")));
    NGET_IS(ns, "x", pc_item_str("two"));
    CHECK_OK(pc_namespace_set(ns, "y", item_pickle(P_TUPLE, sizeof P_TUPLE)));
    CHECK_OK(pc_namespace_get(ns, "y", &out));
    CHECK(out.kind == PC_KIND_PICKLE);
    pc_item_release(&out);
    CHECK_OK(pc_namespace_set(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB)));
    NGET_IS(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB));
    out = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "missing_attribute", &out), PC_ERR_KEY);
    CHECK_ERRMSG("missing_attribute");
    CHECK_OK(pc_namespace_del(ns, "x"));
    CHECK_STATUS(pc_namespace_get(ns, "x", &out), PC_ERR_KEY);
    CHECK_STATUS(pc_namespace_del(ns, "x"), PC_ERR_KEY);
    CHECK_ERRMSG("pc_namespace_del");
    CHECK_UNTOUCHED(out);
    NGET_IS(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB));

    /* A named one through two handles. */
    pc_namespace *a = new_namespace(m, "ns");
    pc_namespace *b = new_namespace(m, "ns");
    CHECK_OK(pc_namespace_set(a, "shared", pc_item_float(1.5)));
    NGET_IS(b, "shared", pc_item_float(1.5));
    pc_namespace_free(a);
    pc_namespace_free(b);
    pc_namespace_free(ns);
    CHECK(objects(m) == 1); /* the named one lives on */
    pc_manager_free(m);
}

/* ---- named objects across processes ---- */

/* This binary run again: `test_manager --named-client ADDRESS` connects with KEY, reads
 * what the test put in the named objects and adds its own. Exit status 0: all fine. */
static int named_client(const char *address)
{
    pc_manager *m = NULL;
    if (pc_manager_new(address, KEY, KEYLEN, &m) != PC_OK)
        return 2;
    if (pc_manager_connect(m) != PC_OK) {
        fprintf(stderr, "named client: connect: %s\n", pc_last_error());
        return 3;
    }
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    if (pc_manager_dict(m, "shared", &d) != PC_OK || pc_manager_list(m, "shared list", &l) != PC_OK ||
        pc_manager_namespace(m, "shared ns", &ns) != PC_OK) {
        fprintf(stderr, "named client: %s\n", pc_last_error());
        return 4;
    }
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("from parent"), &got) != PC_OK || got.kind != PC_KIND_STR ||
        got.len != 5 || memcmp(got.data, "hello", 5) != 0)
        return 5;
    pc_item_release(&got);
    /* The same name for another type is refused here too. */
    pc_list *wrong = NULL;
    if (pc_manager_list(m, "shared", &wrong) != PC_ERR_INVALID_ARGUMENT || wrong != NULL)
        return 6;
    if (pc_dict_set(d, pc_item_str("from exec"), pc_item_int(getpid())) != PC_OK ||
        pc_list_append(l, pc_item_str("exec")) != PC_OK ||
        pc_namespace_set(ns, "exec", pc_item_bool(true)) != PC_OK)
        return 7;
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_manager_free(m);
    return 0;
}

static int exec_named_client(void *arg)
{
    char *argv[] = {self_exe, "--named-client", arg, NULL};
    execv(self_exe, argv);
    return 127;
}

static void test_named_objects(void)
{
    pc_manager *m1 = started("tcp://127.0.0.1:0", NULL);
    const char *address = pc_manager_address(m1);
    pc_manager *m2 = connected(address);
    size_t base = objects(m1);
    CHECK(base == 0);

    pc_dict *a = new_dict(m1, "shared");
    pc_dict *b = new_dict(m1, "shared");
    pc_dict *c = new_dict(m2, "shared");
    CHECK(objects(m1) == 1);
    DSET(a, pc_item_str("from parent"), pc_item_str("hello"));
    DGET_IS(b, pc_item_str("from parent"), pc_item_str("hello"));
    DGET_IS(c, pc_item_str("from parent"), pc_item_str("hello"));
    pc_list *l = new_list(m1, "shared list");
    pc_namespace *ns = new_namespace(m2, "shared ns");
    CHECK(objects(m1) == 3);

    /* The name is taken by a dict. */
    pc_list *wl = NULL;
    pc_namespace *wn = NULL;
    pc_proxy *wp = NULL;
    CHECK_STATUS(pc_manager_list(m1, "shared", &wl), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_list");
    CHECK_ERRMSG("shared");
    CHECK_STATUS(pc_manager_namespace(m2, "shared", &wn), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("shared");
    CHECK_STATUS(pc_manager_create(m1, "list", "shared", NULL, 0, &wp), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_manager_dict(m1, "shared list", &(pc_dict *){NULL}), PC_ERR_INVALID_ARGUMENT);
    CHECK(wl == NULL && wn == NULL && wp == NULL);
    /* The generic form of the same typeid finds the same dict. */
    CHECK_OK(pc_manager_create(m2, "dict", "shared", NULL, 0, &wp));
    pc_item key = pc_item_str("from parent");
    CALL_IS(wp, "__getitem__", &key, 1, pc_item_str("hello"));
    pc_proxy_free(wp);

    /* A library child using the connected handle made before it started. */
    child_dict = c;
    pc_process *p = start(target_set_in_child, (void *)"lib child");
    pid_t lib_pid = (pid_t)pc_process_pid(p);
    CHECK(finish(p, 20.0) == 0);
    DGET_IS(a, pc_item_str("lib child"), pc_item_int(lib_pid));

    /* An unrelated program that only knows the address and the key. */
    pid_t ex = fork_sub(exec_named_client, (void *)address);
    check_sub_ok(ex, 30.0, "this test run again as --named-client");
    DGET_IS(a, pc_item_str("from exec"), pc_item_int(ex));
    check_list(l, (pc_item[]){pc_item_str("exec")}, 1);
    NGET_IS(ns, "exec", pc_item_bool(true));

    /* Named objects outlive all their handles. */
    pc_dict_free(a);
    pc_dict_free(b);
    pc_dict_free(c);
    pc_list_free(l);
    pc_namespace_free(ns);
    CHECK(objects(m1) == 3);
    pc_dict *again = new_dict(m2, "shared");
    CHECK(dict_len(again) == 3);
    DGET_IS(again, pc_item_str("from parent"), pc_item_str("hello"));
    pc_dict_free(again);
    /* An anonymous one is another object. */
    pc_dict *anon = new_dict(m1, NULL);
    CHECK(dict_len(anon) == 0);
    CHECK(objects(m1) == 4);
    pc_dict_free(anon);
    CHECK(objects(m1) == 3);
    pc_manager_free(m2);
    pc_manager_free(m1);
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--named-client") == 0)
        return named_client(argv[2]);
    tu_init("test_manager_containers", 15);
    tu_select(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    CHECK(n > 0);
    self_exe[n] = '\0';
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_dict_values);
    RUN(test_dict_keys);
    RUN(test_dict_operations);
    RUN(test_list_operations);
    RUN(test_namespace);
    RUN(test_named_objects);
    fprintf(stderr, "test_manager_containers: %.1f s\n", now() - t0);
    return tu_done();
}
