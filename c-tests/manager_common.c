/* manager_common.c: the helpers declared in manager_common.h. */
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

uint8_t big[MIB];          /* fill_pattern(…, 7): made before any server forks */

pc_item item_raw(int kind, const void *data, size_t len)
{
    pc_item it = pc_item_none();
    it.kind = kind;
    it.data = data;
    it.len = len;
    return it;
}

pc_item item_pickle(const void *data, size_t len)
{
    return item_raw(PC_KIND_PICKLE, data, len);
}

pc_item item_strn(const char *s, size_t len)
{
    return item_raw(PC_KIND_STR, s, len);
}

pc_item sentinel(void)
{
    return pc_item_int(-777);
}

size_t dict_len(pc_dict *d)
{
    size_t n = 7777;
    CHECK_OK(pc_dict_len(d, &n));
    return n;
}

size_t list_len(pc_list *l)
{
    size_t n = 7777;
    CHECK_OK(pc_list_len(l, &n));
    return n;
}

size_t objects(pc_manager *m)
{
    size_t n = 7777;
    CHECK_OK(pc_manager_number_of_objects(m, &n));
    return n;
}

size_t wait_objects(pc_manager *m, size_t want, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        size_t n = objects(m);
        if (n == want || now() >= deadline)
            return n;
        sleep_s(0.02);
    }
}

int manager_pids(pid_t *out, int cap)
{
    pc_process *ps[128];
    size_t n = 0;
    CHECK_OK(pc_active_children(ps, 128, &n));
    int k = 0;
    for (size_t i = 0; i < n && i < 128; i++) {
        const char *name = pc_process_name(ps[i]);
        if (name && strncmp(name, "SyncManager", 11) == 0) {
            if (k < cap)
                out[k] = (pid_t)pc_process_pid(ps[i]);
            k++;
        }
    }
    return k;
}

pid_t start_server(pc_manager *m)
{
    pid_t before[64], after[64];
    int nb = manager_pids(before, 64);
    CHECK_OK(pc_manager_start(m));
    int na = manager_pids(after, 64);
    CHECK(na == nb + 1);
    for (int i = 0; i < na && i < 64; i++) {
        bool old = false;
        for (int j = 0; j < nb && j < 64; j++)
            old = old || after[i] == before[j];
        if (!old) {
            CHECK(pid_running(after[i]));
            return after[i];
        }
    }
    FAIL("no new SyncManager child after pc_manager_start");
}

pc_manager *started(const char *address, pid_t *pid)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK(m != NULL);
    pid_t p = start_server(m);
    if (pid)
        *pid = p;
    return m;
}

pc_manager *connected(const char *address)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_connect(m));
    return m;
}

bool server_gone_within(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    while (pid_running(pid)) {
        if (now() >= deadline)
            return false;
        sleep_s(0.01);
    }
    return true;
}

pc_dict *new_dict(pc_manager *m, const char *name)
{
    pc_dict *d = NULL;
    CHECK_OK(pc_manager_dict(m, name, &d));
    CHECK(d != NULL);
    return d;
}

pc_list *new_list(pc_manager *m, const char *name)
{
    pc_list *l = NULL;
    CHECK_OK(pc_manager_list(m, name, &l));
    CHECK(l != NULL);
    return l;
}

pc_namespace *new_namespace(pc_manager *m, const char *name)
{
    pc_namespace *ns = NULL;
    CHECK_OK(pc_manager_namespace(m, name, &ns));
    CHECK(ns != NULL);
    return ns;
}

pc_dict *child_dict;

int target_set_in_child(void *arg)
{
    const char *key = arg;
    return pc_dict_set(child_dict, pc_item_str(key), pc_item_int(getpid())) == PC_OK ? 0 : 1;
}

void *dummy_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args;
    (void)nargs;
    (void)ctx;
    static int object;
    return &object;
}

int dummy_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx)
{
    (void)obj;
    (void)method;
    (void)args;
    (void)nargs;
    (void)b;
    (void)ctx;
    return 0;
}

int all_items(pc_item *out)
{
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    static const char with_nul[] = {'a', '\0', 'b'};
    int n = 0;
    out[n++] = pc_item_none();
    out[n++] = pc_item_bool(true);
    out[n++] = pc_item_bool(false);
    out[n++] = pc_item_int(0);
    out[n++] = pc_item_int(-1);
    out[n++] = pc_item_int(255);
    out[n++] = pc_item_int(65536);
    out[n++] = pc_item_int(-2147483648LL - 1);
    out[n++] = pc_item_int(INT64_MIN);
    out[n++] = pc_item_int(INT64_MAX);
    out[n++] = pc_item_float(0.5);
    out[n++] = pc_item_float(-0.0);
    out[n++] = pc_item_float(INFINITY);
    out[n++] = pc_item_float(-INFINITY);
    out[n++] = pc_item_float(NAN);
    out[n++] = pc_item_float(1e-310); /* subnormal */
    out[n++] = pc_item_float(1.7976931348623157e308);
    out[n++] = pc_item_bytes(NULL, 0);
    out[n++] = pc_item_bytes(with_nul, sizeof with_nul);
    out[n++] = pc_item_bytes(big, 300);
    out[n++] = pc_item_bytes(big, MIB);
    out[n++] = pc_item_str("");
    out[n++] = pc_item_str(utf8);
    out[n++] = item_strn(with_nul, sizeof with_nul);
    out[n++] = item_strn((const char *)big, 0);
    return n;
}

void *thread_writer(void *p)
{
    struct thread_arg *a = p;
    for (int j = 0; j < THREAD_OPS; j++) {
        char key[32];
        snprintf(key, sizeof key, "t%d-%d-%d", (int)getpid(), a->t, j);
        pc_item got = pc_item_none();
        if (pc_dict_set(a->d, pc_item_str(key), pc_item_int(j)) != PC_OK ||
            pc_dict_get(a->d, pc_item_str(key), &got) != PC_OK || got.kind != PC_KIND_INT ||
            got.i != j) {
            fprintf(stderr, "   thread %d at %d: %s\n", a->t, j, pc_last_error());
            a->failures++;
            return NULL;
        }
    }
    return NULL;
}

int use_from_threads(pc_dict *d)
{
    pthread_t th[THREADS];
    struct thread_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct thread_arg){d, t, 0};
        if (pthread_create(&th[t], NULL, thread_writer, &args[t]) != 0)
            return 100;
    }
    int failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        failures += args[t].failures;
    }
    return failures;
}

int target_use_forked(void *arg)
{
    pc_dict *d = arg;
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("parent"), &got) != PC_OK || got.kind != PC_KIND_STR)
        return 1;
    pc_item_release(&got);
    if (pc_dict_set(d, pc_item_str("child"), pc_item_int(getpid())) != PC_OK)
        return 2;
    if (use_from_threads(d) != 0)
        return 3;
    return 0;
}
